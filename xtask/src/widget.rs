//! Building the survey widget for browsers, measuring what it costs each visitor, and running
//! its browser tests in headless Chromium.
//!
//! The widget is two WebAssembly modules from one crate: the core (feature `core`: journey,
//! delivery, eligibility, no Yew), which the loader fetches on every page, and the survey UI
//! (feature `survey`: Yew), which it fetches only when a survey is about to be shown. Each is
//! `cargo build --profile widget-release` for wasm32 with its one feature, then
//! `wasm-bindgen --target web`, then `wasm-opt -Oz`, which also shortens the names the module and
//! the glue know each other by, and `terser` for the glue. The collector serves the result from
//! `<target dir>/widget/`, so the four file names written there are a contract with the server,
//! as are the `.br` and `.gz` files written beside each, which it sends to browsers that accept
//! them.
//!
//! Every first visit downloads the loader, the core's glue and the core's module: [`TARGET_BYTES`]
//! is what we aim for, and `cargo xtask test` fails above [`LIMIT_BYTES`] (both brotli), as it
//! does for a loader above [`LOADER_LIMIT_BYTES`] and a survey module above
//! [`SURVEY_LIMIT_BYTES`]. The survey module is printed separately: only visits that show a
//! survey download it. Where the bytes go:
//! `twiggy top` on a module optimised with the names kept (`wasm-opt -Oz -g`), see
//! ARCHITECTURE.md.

use crate::process::{cargo, output, run, step, workspace_root};
use crate::tools::{Browser, WasmTools, ensure_wasm_tools, target_dir};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The crate's package name.
const PACKAGE: &str = "touchstone-widget";
/// The name of the wasm file cargo writes (the crate's name).
const COMPILED_NAME: &str = "touchstone_widget";

/// One of the widget's two modules: the crate built with one feature.
struct Module {
    /// The crate feature that selects it.
    feature: &'static str,
    /// The base name of its files: `<out_name>.js` (the glue) and `<out_name>_bg.wasm`.
    out_name: &'static str,
}

/// The core, loaded on every page: the glue the loader imports is `touchstone_widget.js`.
const CORE: Module = Module {
    feature: "core",
    out_name: "touchstone_widget",
};
/// The survey UI, loaded when a survey is about to be shown: `touchstone_survey.js`.
const SURVEY: Module = Module {
    feature: "survey",
    out_name: "touchstone_survey",
};

impl Module {
    fn glue_file(&self) -> String {
        [self.out_name, ".js"].concat()
    }

    fn wasm_file(&self) -> String {
        [self.out_name, "_bg.wasm"].concat()
    }
}

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

/// How much LLVM may inline in the widget's release build (its default at opt-level s is 75).
const INLINE_THRESHOLD: &str = "-Cllvm-args=-inline-threshold=5";

/// The size every first visit should stay within: loader + glue + wasm, brotli, in bytes.
pub const TARGET_BYTES: usize = 45 * 1024;
/// The size above which `cargo xtask test` fails: loader + glue + wasm, brotli, in bytes.
pub const LIMIT_BYTES: usize = 80 * 1024;
/// The most the loader may weigh, brotli, in bytes: it goes to every page view of every site.
pub const LOADER_LIMIT_BYTES: usize = 1024;
/// The size above which `cargo xtask test` fails for the survey module (glue + wasm, brotli):
/// a visitor who is asked downloads it on top of the first visit.
pub const SURVEY_LIMIT_BYTES: usize = 80 * 1024;

/// What the widget weighs, brotli, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    /// The loader, as the collector serves it.
    pub loader: usize,
    /// Loader, core glue and core wasm: what every first visit downloads.
    pub first_visit: usize,
    /// The survey module's glue and wasm, downloaded when a survey is shown.
    pub survey: usize,
}

/// A finished widget build.
#[derive(Debug, Clone)]
pub struct WidgetBuild {
    /// The folder holding both modules' glue and wasm.
    pub dir: PathBuf,
}

/// Builds both of the widget's modules into `<target dir>/widget/`.
pub fn build() -> Result<WidgetBuild> {
    let tools = ensure_wasm_tools()?;
    let dir = target_dir().join("widget");
    for module in [CORE, SURVEY] {
        build_module(&tools, &module, &dir)?;
    }
    step("compressing the widget's files (brotli -q 11, gzip -9) for the collector to send");
    for module in [CORE, SURVEY] {
        for file in [module.glue_file(), module.wasm_file()] {
            let path = dir.join(&file);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            for (extension, compressed) in
                [("br", brotli_best(&bytes)?), ("gz", gzip_best(&bytes)?)]
            {
                let path = dir.join(format!("{file}.{extension}"));
                std::fs::write(&path, compressed)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(WidgetBuild { dir })
}

/// Builds `module` (the crate with only its feature) into `dir`.
fn build_module(tools: &WasmTools, module: &Module, dir: &Path) -> Result<()> {
    let target = target_dir();
    step(&format!(
        "building the widget's {} module for wasm32 (profile `widget-release`: opt-level s and z, LTO)",
        module.feature
    ));
    // LLVM inlines less than its default for the size levels: inlining copies a function into
    // each caller, and wasm-opt inlines what pays off later anyway (measured: -0.7 KB brotli).
    // Only this profile's artifacts get the flag, so the other builds keep their caches.
    let rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    run(cargo()
        .args([
            "build",
            "-p",
            PACKAGE,
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "widget-release",
            "--no-default-features",
            "--features",
            module.feature,
        ])
        .env(
            "RUSTFLAGS",
            [rustflags.as_str(), INLINE_THRESHOLD].join(" ").trim(),
        ))?;
    let compiled = target
        .join("wasm32-unknown-unknown/widget-release")
        .join(format!("{COMPILED_NAME}.wasm"));

    let staging = target.join("widget-bindgen").join(module.out_name);
    for folder in [dir, &staging] {
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
            module.out_name,
            "--out-dir",
        ])
        .arg(&staging)
        .arg(&compiled))?;

    step("shrinking the module with wasm-opt -Oz");
    // `--converge` repeats -Oz while it still shrinks the module (measured: -0.2 KB brotli).
    // `--low-memory-unused` lets it fold constant offsets into addresses: Rust's wasm32 layout
    // puts the stack first, growing down from 1 MiB, so nothing lives below address 1024
    // (measured: -0.7 KB brotli).
    let optimized = staging.join("optimized.wasm");
    run(tools
        .wasm_opt()
        .args(["-Oz", "--converge", "--low-memory-unused"])
        .args(WASM_FEATURES)
        .arg(staging.join(module.wasm_file()))
        .arg("-o")
        .arg(&optimized))?;
    step("shortening the names the module and the glue share");
    // Every import, export and import module gets a one- or two-letter name, and wasm-opt prints
    // the renaming as JSON, which `rename_in_glue` applies to the glue: wasm-bindgen's names
    // carry 16-digit hashes that brotli cannot shrink, once in each file. A separate run,
    // because `--converge` would repeat the pass and print the renaming twice.
    let renaming = output(
        tools
            .wasm_opt()
            .args([
                "--minify-imports-and-exports-and-modules",
                "--strip-debug",
                "--strip-producers",
                "--strip-target-features",
            ])
            .args(WASM_FEATURES)
            .arg(&optimized)
            .arg("-o")
            .arg(dir.join(module.wasm_file())),
    )?;
    let glue_path = staging.join(module.glue_file());
    let glue = std::fs::read_to_string(&glue_path)
        .with_context(|| format!("reading {}", glue_path.display()))?;
    let renamed = rename_in_glue(&glue, &renaming).context(
        "applying wasm-opt's renaming to the glue (did wasm-bindgen change the glue's shape?)",
    )?;
    let renamed_glue = staging.join("renamed.js");
    std::fs::write(&renamed_glue, renamed)
        .with_context(|| format!("writing {}", renamed_glue.display()))?;

    step("minifying the glue with terser");
    run(tools
        .terser()
        .arg(&renamed_glue)
        .args(["--module", "--compress", "--mangle", "--output"])
        .arg(dir.join(module.glue_file())))?;
    Ok(())
}

/// The one import module binaryen's `--minify-imports-and-exports-and-modules` leaves.
const MINIFIED_MODULE: &str = "a";

/// Applies the renaming wasm-opt printed (`{"imports": [[module, name, new]…], "exports":
/// [[name, new]…]}`) to wasm-bindgen's glue: the import object's keys, its module name, and
/// every `wasm.<export>`.
///
/// Fails rather than guess when the glue does not look as expected: each import must be one key
/// of the import object, and no old name may remain, so a wasm-bindgen upgrade that changes the
/// glue's shape stops the build instead of shipping glue that cannot load the module.
fn rename_in_glue(glue: &str, renaming: &str) -> Result<String> {
    let renaming: serde_json::Value =
        serde_json::from_str(renaming).context("reading wasm-opt's renaming")?;
    let list = |key: &str| -> Result<Vec<Vec<String>>> {
        serde_json::from_value(renaming[key].clone())
            .with_context(|| format!("reading the {key} of wasm-opt's renaming"))
    };
    let imports = list("imports")?;
    let exports = list("exports")?;
    let mut glue = glue.to_owned();
    let mut modules = std::collections::BTreeSet::new();
    for import in &imports {
        let [module, name, new] = import.as_slice() else {
            bail!("an import renaming is not [module, name, new]: {import:?}");
        };
        modules.insert(module.as_str());
        let count = replace_word(&mut glue, &format!("{name}:"), &format!("{new}:"));
        if count != 1 {
            bail!("the import {name} is a key of the glue's import object {count} times, not once");
        }
    }
    // binaryen merges every import module into one named "a" (MinifyImportsAndExports.cpp,
    // SINGLETON_MODULE_NAME); wasm-bindgen's glue has exactly one import module to rename.
    let [module] = modules.into_iter().collect::<Vec<_>>()[..] else {
        bail!("the module imports from more than one JavaScript module");
    };
    let key = format!("{module:?}: ");
    if glue.matches(&key).count() != 1 {
        bail!("the glue names the import module {module:?} other than once");
    }
    glue = glue.replace(&key, &format!("{MINIFIED_MODULE:?}: "));
    for export in &exports {
        let [name, new] = export.as_slice() else {
            bail!("an export renaming is not [name, new]: {export:?}");
        };
        replace_word(&mut glue, &format!("wasm.{name}"), &format!("wasm.{new}"));
    }
    // The glue's own exports (`start`) keep their names; only its uses of the module change.
    for name in imports
        .iter()
        .map(|import| import[1].clone())
        .chain(exports.iter().map(|export| format!("wasm.{}", export[0])))
    {
        if replace_word(&mut glue.clone(), &name, "") != 0 {
            bail!("the glue still uses the old name {name}");
        }
    }
    Ok(glue)
}

/// Replaces each occurrence of `from` that is not part of a longer JavaScript identifier with
/// `to`, and says how many there were.
fn replace_word(text: &mut String, from: &str, to: &str) -> usize {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut result = String::with_capacity(text.len());
    let mut rest = text.as_str();
    let mut count = 0;
    while let Some(at) = rest.find(from) {
        let before = rest[..at]
            .chars()
            .next_back()
            .or_else(|| result.chars().next_back());
        let after = rest[at + from.len()..].chars().next();
        let first_is_ident = from.chars().next().is_some_and(is_ident);
        let last_is_ident = from.chars().next_back().is_some_and(is_ident);
        let inside_longer = (first_is_ident && before.is_some_and(is_ident))
            || (last_is_ident && after.is_some_and(is_ident));
        result.push_str(&rest[..at]);
        if !inside_longer {
            result.push_str(to);
            count += 1;
        } else {
            result.push_str(from);
        }
        rest = &rest[at + from.len()..];
    }
    result.push_str(rest);
    *text = result;
    count
}

impl WidgetBuild {
    /// Prints what each visitor downloads: on a first visit the loader, the core's glue and
    /// module; when a survey is shown, the survey module's glue and module too. Raw and
    /// compressed, and whether the first visit's brotli total meets [`TARGET_BYTES`] and stays
    /// within [`LIMIT_BYTES`]. Returns the brotli weights, or fails when a file cannot be read.
    pub fn print_sizes(&self) -> Result<Weights> {
        // The loader as the collector serves it, without its comment lines and indentation.
        let loader_path = workspace_root().join("www/loader.js");
        let loader = std::fs::read_to_string(&loader_path)
            .with_context(|| format!("reading {}", loader_path.display()))?;
        // A built file's sizes: its own and those of the compressed files `build` wrote beside
        // it, which are what the collector sends.
        let built = |name: String| -> Result<[usize; 3]> {
            let mut row = [0; 3];
            for (size, extension) in row.iter_mut().zip(["", ".gz", ".br"]) {
                let path = self.dir.join(format!("{name}{extension}"));
                *size = std::fs::metadata(&path)
                    .with_context(|| {
                        format!(
                            "reading {} (run `cargo xtask build-widget`)",
                            path.display()
                        )
                    })?
                    .len() as usize;
            }
            Ok(row)
        };
        let loader = sizes(served(&loader).as_bytes())?;
        let first_visit = [
            ("loader", loader),
            ("glue", built(CORE.glue_file())?),
            ("wasm", built(CORE.wasm_file())?),
        ];
        let survey = [
            ("glue", built(SURVEY.glue_file())?),
            ("wasm", built(SURVEY.wasm_file())?),
        ];
        println!(
            "{:<8} {:>10} {:>10} {:>10}",
            "file", "raw", "gzip -9", "brotli 11"
        );
        println!("first visit (every page: loader + core module)");
        let first_total = print_rows(&first_visit);
        println!("survey module (downloaded when a survey is shown)");
        let survey_total = print_rows(&survey);
        println!("(widget files in {})", self.dir.display());
        let brotli = first_total[2];
        let verdict = if brotli <= TARGET_BYTES {
            "MEETS"
        } else {
            "misses"
        };
        println!(
            "survey module {} brotli, downloaded when a survey is shown",
            kb(survey_total[2])
        );
        println!(
            "first visit {} brotli: {verdict} the {} target; the limit is {}",
            kb(brotli),
            kb(TARGET_BYTES),
            kb(LIMIT_BYTES)
        );
        if brotli <= TARGET_BYTES {
            println!(
                "*** the first visit meets the {} target ***",
                kb(TARGET_BYTES)
            );
        }
        Ok(Weights {
            loader: loader[2],
            first_visit: brotli,
            survey: survey_total[2],
        })
    }

    /// Fails when the first visit is above [`LIMIT_BYTES`], the loader above
    /// [`LOADER_LIMIT_BYTES`] or the survey module above [`SURVEY_LIMIT_BYTES`] (all brotli),
    /// after printing the sizes.
    pub fn check_sizes(&self) -> Result<()> {
        let weights = self.print_sizes()?;
        for (what, weight, limit) in [
            ("a first visit", weights.first_visit, LIMIT_BYTES),
            ("the loader", weights.loader, LOADER_LIMIT_BYTES),
            ("the survey module", weights.survey, SURVEY_LIMIT_BYTES),
        ] {
            if weight > limit {
                bail!(
                    "{what} weighs {weight} bytes brotli, above the {limit}-byte limit: \
                     `twiggy top` on a module shows where the bytes go (see ARCHITECTURE.md)"
                );
            }
        }
        Ok(())
    }
}

/// The loader as the collector serves it: its lines trimmed, without blank and comment lines
/// (`server/src/routes/assets.rs`, `compact`, does the same; the widget's content hash is
/// substituted there too, which changes its size by a few bytes).
fn served(loader: &str) -> String {
    loader
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints a row of sizes per file and their total; returns the totals (raw, gzip, brotli).
fn print_rows(files: &[(&str, [usize; 3])]) -> [usize; 3] {
    let mut total = [0usize; 3];
    for &(name, row) in files {
        println!(
            "  {name:<6} {:>10} {:>10} {:>10}",
            kb(row[0]),
            kb(row[1]),
            kb(row[2])
        );
        for (sum, size) in total.iter_mut().zip(row) {
            *sum += size;
        }
    }
    println!(
        "  {:<6} {:>10} {:>10} {:>10}",
        "total",
        kb(total[0]),
        kb(total[1]),
        kb(total[2])
    );
    total
}

/// Raw, gzip (level 9) and brotli (quality 11) sizes of `bytes`.
fn sizes(bytes: &[u8]) -> Result<[usize; 3]> {
    Ok([
        bytes.len(),
        gzip_best(bytes)?.len(),
        brotli_best(bytes)?.len(),
    ])
}

/// `bytes` compressed as `gzip -9` does: what the collector sends browsers without brotli.
fn gzip_best(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(bytes).context("gzip")?;
    gzip.finish().context("gzip")
}

/// `bytes` compressed as `brotli -q 11` does: what the collector sends most browsers.
fn brotli_best(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut brotli = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut brotli, &params).context("brotli")?;
    Ok(brotli)
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
        // Default features: both modules' code, so the survey's components are tested too.
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

#[cfg(test)]
mod tests {
    use super::*;

    const GLUE: &str = r#"export function start(a) { wasm.start(a); wasm.start_x(); }
function __wbg_get_imports() {
    const import0 = {
        __wbg_log_0123: function(arg0) { console.log(arg0); },
        __wbg_log_0123_more: function() {},
    };
    return { "./m_bg.js": import0 };
}
"#;

    #[test]
    fn the_renaming_reaches_keys_the_module_and_uses_of_exports_only() {
        let renaming = r#"{"imports": [["./m_bg.js", "__wbg_log_0123", "a"], ["./m_bg.js", "__wbg_log_0123_more", "b"]],
            "exports": [["start", "c"], ["start_x", "d"], ["unused", "e"]]}"#;
        let renamed = rename_in_glue(GLUE, renaming).unwrap();
        assert!(renamed.contains("export function start(a) { wasm.c(a); wasm.d(); }"));
        assert!(renamed.contains("        a: function(arg0)"));
        assert!(renamed.contains("        b: function()"));
        assert!(renamed.contains(r#"return { "a": import0 };"#));
    }

    #[test]
    fn a_glue_of_another_shape_stops_the_build() {
        let missing = r#"{"imports": [["./m_bg.js", "__wbg_gone_99", "a"]], "exports": []}"#;
        assert!(rename_in_glue(GLUE, missing).is_err());
        let two_modules = r#"{"imports": [["./m_bg.js", "__wbg_log_0123", "a"], ["./other.js", "__wbg_log_0123_more", "b"]], "exports": []}"#;
        assert!(rename_in_glue(GLUE, two_modules).is_err());
    }
}
