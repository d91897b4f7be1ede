//! The `touchstone` command line: setting up sites and keys, and what it says when input is bad.

use crate::helpers::TestDatabase;
use serde_json::Value;
use std::process::{Command, Output};

fn touchstone(database: &TestDatabase, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_touchstone"))
        .args(args)
        .env("TOUCHSTONE_DATABASE_URL", &database.url)
        .env("TOUCHSTONE_LOG", "warn")
        .output()
        .expect("running touchstone")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the output is JSON")
}

#[test]
fn site_create_prints_a_public_key_and_a_secret_api_key() {
    let database = TestDatabase::sqlite();
    let created = json_of(&touchstone(
        &database,
        &[
            "site",
            "create",
            "--name",
            "Acme",
            "--origin",
            "https://Shop.Acme.example/",
            "--origin",
            "http://localhost:3000",
            "--json",
        ],
    ));
    let key = created["site"]["key"].as_str().unwrap();
    assert_eq!(key.len(), 16, "a random 64-bit hex key: {key}");
    assert!(created["api_key"].as_str().unwrap().starts_with("tsk_"));
    assert_eq!(
        created["site"]["origins"],
        serde_json::json!(["http://localhost:3000", "https://shop.acme.example"])
    );

    let listed = json_of(&touchstone(&database, &["site", "list", "--json"]));
    assert_eq!(listed[0]["key"], key);
    assert_eq!(listed[0]["name"], "Acme");

    let another = json_of(&touchstone(
        &database,
        &["key", "create", "--site", key, "--json"],
    ));
    assert_ne!(another["api_key"], created["api_key"]);
}

#[test]
fn the_human_output_shows_the_script_tag_to_paste() {
    let database = TestDatabase::sqlite();
    let output = touchstone(
        &database,
        &[
            "site",
            "create",
            "--name",
            "Demo",
            "--origin",
            "https://a.example",
            "--key",
            "demo",
        ],
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains(r#"data-site="demo""#), "{text}");
    assert!(text.contains("tsk_"), "{text}");
}

#[test]
fn bad_input_to_the_cli_fails_with_a_reason() {
    let database = TestDatabase::sqlite();
    let cases: &[(&[&str], &str)] = &[
        (
            &["site", "create", "--name", "A", "--origin", "shop.example"],
            "is not an origin",
        ),
        (
            &[
                "site",
                "create",
                "--name",
                "A",
                "--origin",
                "https://a.example",
                "--key",
                "bad key",
            ],
            "site key may contain only",
        ),
        (&["site", "create", "--name", "A"], "--origin"),
        (
            &["key", "create", "--site", "nobody"],
            "no site has the key nobody",
        ),
    ];
    for (args, expected) in cases {
        let output = touchstone(&database, args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_site_key_can_be_taken_only_once() {
    let database = TestDatabase::sqlite();
    let args = [
        "site",
        "create",
        "--name",
        "A",
        "--origin",
        "https://a.example",
        "--key",
        "shop",
    ];
    assert!(touchstone(&database, &args).status.success());
    let again = touchstone(&database, &args);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("a site with the key shop already exists")
    );
}

#[test]
fn an_unsupported_database_url_is_named_as_such() {
    let mut database = TestDatabase::sqlite();
    database.url = "mysql://localhost/touchstone".into();
    let output = touchstone(&database, &["site", "list"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported database URL"));
}
