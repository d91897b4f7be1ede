//! `cargo xtask run`: the demo. Builds the widget and the collector, makes sure the demo site
//! exists with a fresh read API key (seeding a new one with made-up visitors), prints where to
//! look (the demo shop, the dashboard, the key), and serves until Ctrl-C.

use crate::process::{cargo, output, run as run_command, step};
use crate::{tools, widget};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const DEFAULT_BIND: &str = "127.0.0.1:8080";
const DEMO_SITE: &str = "demo";
/// How many made-up visitors a new demo database starts with, and over how many days.
const DEMO_VISITORS: u32 = 4_000;
const DEMO_DAYS: u32 = 90;

/// Runs the demo; `--bind ADDRESS` picks another address than 127.0.0.1:8080.
pub fn run(args: &[String]) -> Result<()> {
    let bind = match args {
        [] => DEFAULT_BIND.to_owned(),
        [flag, address] if flag == "--bind" => address.clone(),
        _ => bail!("usage: cargo xtask run [--bind 127.0.0.1:8080]"),
    };
    let widget = widget::build()?;
    widget.print_sizes()?;

    step("building the collector");
    run_command(cargo().args([
        "build",
        "--package",
        "touchstone-server",
        "--bin",
        "touchstone",
    ]))?;
    let target = tools::target_dir();
    let touchstone = target.join("debug/touchstone");
    let demo_dir = target.join("demo");
    std::fs::create_dir_all(&demo_dir).context("making target/demo")?;
    let database_url = format!("sqlite://{}", demo_dir.join("touchstone.db").display());

    step("preparing the demo site");
    let api_key = demo_api_key(&touchstone, &database_url, &bind)?;
    let origin = format!("http://{bind}");
    println!();
    println!("  Demo shop:     {origin}/shop/");
    println!("  Dashboard:     {origin}/dashboard/   (paste the read API key)");
    println!("  Read API key:  {api_key}");
    println!(
        "  NPS report:    curl -H 'Authorization: Bearer {api_key}' {origin}/v1/sites/{DEMO_SITE}/nps"
    );
    println!("  Database:      {database_url}");
    println!();
    step("serving; press Ctrl-C to stop");
    run_command(
        Command::new(&touchstone)
            .args(["serve", "--bind", &bind])
            .env("TOUCHSTONE_DATABASE_URL", &database_url)
            .env(
                "TOUCHSTONE_WWW_DIR",
                crate::process::workspace_root().join("www"),
            )
            .env("TOUCHSTONE_WIDGET_DIR", &widget.dir),
    )
}

/// Creates the demo site on first run, or a new key for it later (keys are stored only as hashes,
/// so an old one cannot be shown again). Returns the key.
fn demo_api_key(touchstone: &Path, database_url: &str, bind: &str) -> Result<String> {
    let cli = |args: &[&str]| -> Result<Value> {
        let text = output(
            Command::new(touchstone)
                .args(args)
                .env("TOUCHSTONE_DATABASE_URL", database_url),
        )?;
        serde_json::from_str(&text).context("reading touchstone's JSON output")
    };
    let sites = cli(&["site", "list", "--json"])?;
    let exists = sites
        .as_array()
        .is_some_and(|sites| sites.iter().any(|site| site["key"] == DEMO_SITE));
    let created = if exists {
        cli(&["key", "create", "--site", DEMO_SITE, "--json"])?
    } else {
        let port = bind.rsplit(':').next().unwrap_or("8080");
        let created = cli(&[
            "site",
            "create",
            "--key",
            DEMO_SITE,
            "--name",
            "Demo shop",
            "--origin",
            &format!("http://{bind}"),
            "--origin",
            &format!("http://localhost:{port}"),
            "--json",
        ])?;
        // A new demo database shows real numbers from the first run.
        step(&format!(
            "seeding the demo site with {DEMO_VISITORS} made-up visitors over the last {DEMO_DAYS} days"
        ));
        run_command(
            Command::new(touchstone)
                .args(["demo", "seed", "--site", DEMO_SITE, "--visitors"])
                .arg(DEMO_VISITORS.to_string())
                .arg("--days")
                .arg(DEMO_DAYS.to_string())
                .env("TOUCHSTONE_DATABASE_URL", database_url),
        )?;
        created
    };
    created["api_key"]
        .as_str()
        .map(str::to_owned)
        .context("touchstone printed no api_key")
}
