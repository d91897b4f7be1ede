//! Building the survey widget for browsers, measuring what it costs each visitor, and running
//! its browser tests in headless Chromium.
//!
//! The build is `cargo build --profile widget-release` for wasm32, then `wasm-bindgen --target web`, then
//! `wasm-opt -Oz`. The collector serves the result from `<target dir>/widget/`, so the two file
//! names written there are a contract with the server.

use crate::process::{cargo, run, step, workspace_root};
use crate::tools::{Browser, ensure_wasm_tools, target_dir};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The crate's package name.
const PACKAGE: &str = "touchstone-widget";
/// The base name of the generated files: `<OUT_NAME>.js` and `<OUT_NAME>_bg.wasm`.
const OUT_NAME: &str = "touchstone_widget";
/// The glue the loader imports.
pub const GLUE_FILE: &str = "touchstone_widget.js";
/// The module the glue instantiates.
pub const WASM_FILE: &str = "touchstone_widget_bg.wasm";

/// The WebAssembly features rustc 1.95 enables for wasm32-unknown-unknown by default (LLVM's
/// "generic" CPU); wasm-opt must accept them all or it refuses the module.
const WASM_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-call-indirect-overlong",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
];

/// A finished widget build.
#[derive(Debug, Clone)]
pub struct WidgetBuild {
    /// The folder holding [`GLUE_FILE`] and [`WASM_FILE`].
    pub dir: PathBuf,
}

/// Builds the widget into `<target dir>/widget/`.
pub fn build() -> Result<WidgetBuild> {
    let tools = ensure_wasm_tools()?;
    let target = target_dir();
    step("building the widget for wasm32 (profile `widget-release`: opt-level z, LTO)");
    run(cargo().args([
        "build",
        "-p",
        PACKAGE,
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "widget-release",
    ]))?;
    let compiled = target
        .join("wasm32-unknown-unknown/widget-release")
        .join(format!("{OUT_NAME}.wasm"));

    let dir = target.join("widget");
    let staging = target.join("widget-bindgen");
    for folder in [&dir, &staging] {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    step("generating the JavaScript glue with wasm-bindgen");
    run(std::process::Command::new(&tools.wasm_bindgen)
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            OUT_NAME,
            "--out-dir",
        ])
        .arg(&staging)
        .arg(&compiled))?;

    step("shrinking the module with wasm-opt -Oz");
    run(tools
        .wasm_opt()
        .args([
            "-Oz",
            "--strip-debug",
            "--strip-producers",
            "--strip-target-features",
        ])
        .args(WASM_FEATURES)
        .arg(staging.join(WASM_FILE))
        .arg("-o")
        .arg(dir.join(WASM_FILE)))?;
    let glue = dir.join(GLUE_FILE);
    std::fs::copy(staging.join(GLUE_FILE), &glue)
        .with_context(|| format!("writing {}", glue.display()))?;
    Ok(WidgetBuild { dir })
}

impl WidgetBuild {
    /// Prints what each visitor downloads: loader, glue and module, raw and compressed.
    pub fn print_sizes(&self) {
        let files = [
            ("loader", workspace_root().join("www/loader.js")),
            ("glue", self.dir.join(GLUE_FILE)),
            ("wasm", self.dir.join(WASM_FILE)),
        ];
        println!(
            "{:<8} {:>10} {:>10} {:>10}",
            "file", "raw", "gzip -9", "brotli 11"
        );
        let mut total = [0usize; 3];
        for (name, path) in &files {
            match sizes(path) {
                Ok(row) => {
                    println!(
                        "{name:<8} {:>10} {:>10} {:>10}",
                        kb(row[0]),
                        kb(row[1]),
                        kb(row[2])
                    );
                    for (sum, size) in total.iter_mut().zip(row) {
                        *sum += size;
                    }
                }
                Err(error) => println!("{name:<8} {error:#}"),
            }
        }
        println!(
            "{:<8} {:>10} {:>10} {:>10}",
            "total",
            kb(total[0]),
            kb(total[1]),
            kb(total[2])
        );
        println!("(widget files in {})", self.dir.display());
    }
}

/// Raw, gzip (level 9) and brotli (quality 11) sizes of the file at `path`, in bytes.
fn sizes(path: &Path) -> Result<[usize; 3]> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&bytes).context("gzip")?;
    let gzip = gzip.finish().context("gzip")?.len();
    let mut brotli = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut bytes.as_slice(), &mut brotli, &params).context("brotli")?;
    Ok([bytes.len(), gzip, brotli.len()])
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// Runs the widget's `wasm-bindgen-test` tests in headless Chromium.
pub fn browser_tests(browser: &Browser) -> Result<()> {
    let tools = ensure_wasm_tools()?;
    let work = target_dir().join("widget-tests");
    let profile = work.join("chromium-profile");
    // A fresh profile each run, so no state leaks from one run into the next.
    if profile.exists() {
        std::fs::remove_dir_all(&profile)
            .with_context(|| format!("clearing {}", profile.display()))?;
    }
    std::fs::create_dir_all(&profile).with_context(|| format!("creating {}", profile.display()))?;

    // wasm-bindgen-test-runner adds `headless`, `no-sandbox` and `disable-dev-shm-usage` itself and
    // merges these capabilities in; the flags keep Chromium off the network it cannot reach here.
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": browser.chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let webdriver_json = work.join("webdriver.json");
    std::fs::write(&webdriver_json, capabilities.to_string())
        .with_context(|| format!("writing {}", webdriver_json.display()))?;

    step("running the widget's browser tests in headless Chromium");
    run(cargo()
        .args(["test", "-p", PACKAGE, "--target", "wasm32-unknown-unknown"])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            &tools.test_runner,
        )
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver_json)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "60"))
    .context("the widget's browser tests failed")
}
