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
        (
            &["key", "list", "--site", "nobody"],
            "no site has the key nobody",
        ),
        (
            &["key", "create", "--site", "nobody", "--scope", "root"],
            "invalid value 'root'",
        ),
        (
            &["privacy", "export", "--site", "nobody", "--visitor", "x"],
            "invalid value 'x'",
        ),
        (
            &["privacy", "erase", "--site", "nobody"],
            "--visitor <VISITOR>|--customer <CUSTOMER>",
        ),
        (
            &[
                "privacy",
                "erase",
                "--site",
                "nobody",
                "--customer",
                "a",
                "--visitor",
                "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6a",
            ],
            "cannot be used with",
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

#[test]
fn keys_are_listed_without_their_secrets_and_revoked_by_id_or_by_key() {
    let database = TestDatabase::sqlite();
    let created = json_of(&touchstone(
        &database,
        &[
            "site",
            "create",
            "--name",
            "A",
            "--origin",
            "https://a.example",
            "--key",
            "shop",
            "--json",
        ],
    ));
    let first_key = created["api_key"].as_str().unwrap().to_owned();
    let admin = json_of(&touchstone(
        &database,
        &[
            "key",
            "create",
            "--site",
            "shop",
            "--scope",
            "admin",
            "--label",
            "Privacy desk",
            "--json",
        ],
    ));
    assert_eq!(admin["scope"], "admin");
    let admin_key = admin["api_key"].as_str().unwrap().to_owned();

    let listing = touchstone(&database, &["key", "list", "--site", "shop", "--json"]);
    let keys = json_of(&listing);
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        !text.contains(&first_key) && !text.contains(&admin_key),
        "{text}"
    );
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert_eq!(keys[0]["scope"], "read");
    assert_eq!(keys[1]["scope"], "admin");
    assert_eq!(keys[1]["label"], "Privacy desk");
    assert_eq!(keys[1]["id"], admin["id"]);
    assert!(first_key.starts_with(keys[0]["prefix"].as_str().unwrap()));
    assert!(keys[0]["revoked_at"].is_null());

    let admin_id = admin["id"].to_string();
    let revoked = touchstone(&database, &["key", "revoke", "--site", "shop", &admin_id]);
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("Revoked"));
    let again = touchstone(&database, &["key", "revoke", "--site", "shop", &admin_id]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already revoked"));
    let by_key = touchstone(&database, &["key", "revoke", "--site", "shop", &first_key]);
    assert!(String::from_utf8_lossy(&by_key.stdout).contains("Revoked"));
    let keys = json_of(&touchstone(
        &database,
        &["key", "list", "--site", "shop", "--json"],
    ));
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|key| key["revoked_at"].is_i64())
    );

    // A key of another site, or no key at all, cannot be revoked through this site.
    touchstone(
        &database,
        &[
            "site",
            "create",
            "--name",
            "B",
            "--origin",
            "https://b.example",
            "--key",
            "other",
        ],
    );
    for key in ["999", "tsk_unknown"] {
        let output = touchstone(&database, &["key", "revoke", "--site", "other", key]);
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("the site other has no such API key")
        );
    }
    let output = touchstone(&database, &["key", "revoke", "--site", "other", &admin_id]);
    assert!(!output.status.success(), "a key id of another site");

    let human = touchstone(&database, &["key", "list", "--site", "shop"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.starts_with("ID\tPREFIX\tSCOPE"), "{human}");
    assert!(human.contains("revoked 20"), "{human}");
}

#[tokio::test]
async fn the_privacy_commands_export_and_erase_a_customer() {
    use crate::helpers::*;
    let app = TestApp::spawn(TestDatabase::sqlite()).await;
    let visitor = event_id();
    let request = serde_json::json!({ "site": "demo", "visitor": visitor, "events": [
        { "type": "identify", "id": event_id(), "at": noon(), "customer": "anna@example.com" },
        response(4, noon()),
    ]});
    assert_eq!(app.collect(&request).await.status(), 200);

    let args = ["--site", "demo", "--customer", "anna@example.com"];
    let export = json_of(&touchstone(
        &app.database,
        &[&["privacy", "export"][..], &args].concat(),
    ));
    assert_eq!(export["visitors"], serde_json::json!([visitor]));
    assert_eq!(export["events"].as_array().unwrap().len(), 2);

    let erased = touchstone(&app.database, &[&["privacy", "erase"][..], &args].concat());
    assert!(erased.status.success());
    assert_eq!(
        String::from_utf8_lossy(&erased.stdout).trim(),
        "Erased 2 events (1 answers) of 1 visitors from demo."
    );
    assert_eq!(app.nps("").await["responses"], 0);
    let export = json_of(&touchstone(
        &app.database,
        &["privacy", "export", "--site", "demo", "--visitor", &visitor],
    ));
    assert_eq!(export["events"], serde_json::json!([]));
}

#[tokio::test]
async fn the_import_commands_store_answers_and_revenue_once() {
    use crate::helpers::*;
    let app = TestApp::spawn(TestDatabase::sqlite()).await;
    let folder = app.database.folder().to_path_buf();
    let file = |name: &str, text: &str| {
        let path = folder.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let answers = file(
        "delighted.csv",
        "Email,Score,Comment,Created At\n\
         anna@example.com,10,Great,2025-03-01 09:00:00\n\
         ben@example.com,4,,2025-03-02 09:00:00\n",
    );
    let args = ["import", "responses", &answers, "--site", "demo", "--json"];
    let first = json_of(&touchstone(&app.database, &args));
    assert_eq!((&first["rows"], &first["imported"]), (&2.into(), &2.into()));
    let again = json_of(&touchstone(&app.database, &args));
    assert_eq!(
        (&again["imported"], &again["already_present"]),
        (&0.into(), &2.into())
    );
    assert_eq!(
        app.nps("?from=2025-03-01&to=2025-03-02").await["responses"],
        2
    );

    // Columns named on the command line, dates in the owner's zone, another survey.
    let mapped = file(
        "other.csv",
        "Q,When,Who,Firm\n9,2025-03-03 01:30:00,cus_7,Initech\n",
    );
    let output = touchstone(
        &app.database,
        &[
            "import",
            "responses",
            &mapped,
            "--site",
            "demo",
            "--map",
            "score=Q",
            "--map",
            "date=When",
            "--map",
            "customer=Who",
            "--map",
            "trait.account=Firm",
            "--tz",
            "Europe/Paris",
            "--survey",
            "legacy",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Imported 1 answers of 1 customers into demo (legacy)")
            && text.contains("2025-03-03T00:30:00Z"),
        "{text}"
    );

    let accounts: serde_json::Value = app
        .get_with_key("/v1/sites/demo/segments?by=trait.account&survey=legacy")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["segments"][0]["value"], "Initech", "{accounts}");

    // A bad row: the command fails, names the line and column, and stores nothing.
    let bad = file(
        "bad.csv",
        "email,score,date\nzoe@example.com,9,2025-03-04\nyan@example.com,11,2025-03-04\n",
    );
    let output = touchstone(
        &app.database,
        &["import", "responses", &bad, "--site", "demo"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(stderr.contains("line 3, row 2, \"score\""), "{stderr}");
    assert_eq!(
        app.nps("?from=2025-03-04&to=2025-03-04").await["responses"],
        0
    );

    // Revenue, from CSV and from JSON, once.
    let csv = file(
        "revenue.csv",
        "customer,amount,currency,date\nanna@example.com,49.90,EUR,2025-03-05\n",
    );
    let json = file(
        "revenue.json",
        r#"[{"customer": "ben@example.com", "amount": "10.10", "currency": "EUR", "date": "2025-03-05"}]"#,
    );
    for path in [&csv, &json, &csv] {
        let output = touchstone(
            &app.database,
            &["import", "revenue", path, "--site", "demo"],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: serde_json::Value = app
        .get_with_key("/v1/sites/demo/nps/revenue")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        report["revenue"],
        serde_json::json!({ "promoters": "49.90", "passives": "0.00", "detractors": "10.10", "total": "60.00" })
    );
    let bad = file(
        "bad.json",
        r#"[{"customer": "x", "amount": "1.001", "currency": "EUR", "date": "2025-03-05"}]"#,
    );
    let output = touchstone(
        &app.database,
        &["import", "revenue", &bad, "--site", "demo"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("item 0, \"amount\": EUR has 2 decimals"),
        "{stderr}"
    );
}
