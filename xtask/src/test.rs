//! `cargo xtask test`: everything CI checks, in the order that fails fastest.
//!
//! Formatting, then clippy (native and wasm32), then the widget's release build (its sizes are
//! printed, and the run fails when a first visit would download more than
//! [`widget::LIMIT_BYTES`]), the widget's component tests in headless Chromium, and finally every native test:
//! unit and property tests, the API tests on SQLite (and PostgreSQL when
//! `TOUCHSTONE_TEST_POSTGRES_URL` is set), and the end-to-end browser test, which reuses the
//! widget built here and one Chromium.

use crate::process::{cargo, run, step};
use crate::{tools, widget};
use anyhow::{Result, bail};
use std::time::Instant;

/// Runs the whole suite.
pub fn test(args: &[String]) -> Result<()> {
    if let Some(unknown) = args.first() {
        bail!("`cargo xtask test` takes no arguments, got {unknown:?}");
    }
    let started = Instant::now();
    if std::env::var_os("TOUCHSTONE_TEST_POSTGRES_URL").is_none() {
        eprintln!(
            "note: TOUCHSTONE_TEST_POSTGRES_URL is not set, so the PostgreSQL tests will be skipped"
        );
    }

    step("checking formatting");
    run(cargo().args(["fmt", "--all", "--check"]))?;

    let browser = tools::ensure_browser()?;
    tools::ensure_wasm_tools()?;

    step("linting with clippy (native, then wasm32 for the widget)");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "--package",
        "touchstone-widget",
        "--target",
        "wasm32-unknown-unknown",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Each module alone, as `build-widget` builds it: a feature's code must not lean on the
    // other's.
    for feature in ["core", "survey"] {
        run(cargo().args([
            "clippy",
            "--package",
            "touchstone-widget",
            "--target",
            "wasm32-unknown-unknown",
            "--no-default-features",
            "--features",
            feature,
            "--",
            "-D",
            "warnings",
        ]))?;
    }

    let widget = widget::build()?;
    // Fail fast on size, before the slower tests; the sizes are printed again at the end.
    step("checking the widget's size");
    widget.check_sizes()?;

    step("running the widget's component tests in headless Chromium");
    widget::browser_tests(&browser)?;

    step("running unit, property, API and end-to-end tests");
    run(cargo()
        .args(["test", "--workspace"])
        .env("TOUCHSTONE_WIDGET_DIR", &widget.dir)
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("CHROME", &browser.chromium))?;

    step("widget sizes");
    widget.check_sizes()?;
    step(&format!("all checks passed in {:.0?}", started.elapsed()));
    Ok(())
}
