//! Installing the tools the build and the tests need, each only when it is missing: the wasm32
//! target, wasm-bindgen-cli (at exactly the version in Cargo.lock), wasm-opt, terser, and
//! Chromium with its ChromeDriver.
//!
//! Tools the project installs itself live in one folder per tool version under
//! `$TOUCHSTONE_TOOLS_DIR` (default `~/.cache/touchstone/tools`), so every clone and every CI run
//! on a machine shares one 3.5-minute wasm-bindgen-cli build instead of repeating it; a fresh
//! machine installs them on first use. Nothing else outside the workspace is touched (apart from
//! apt packages).

use crate::process::{cargo, output, run, step, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm-opt release known to read what the current rustc emits (Debian's is too old).
const BINARYEN_PACKAGE: &str = "binaryen@132";
/// The JavaScript minifier for the wasm-bindgen glue: pure JavaScript, so npm installs it
/// anywhere Node.js runs, with no platform binary to fetch.
const TERSER_PACKAGE: &str = "terser@5.51.2";

/// Where Debian's packages put the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless-capable Chromium and the ChromeDriver that matches it.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The browser binary.
    pub chromium: PathBuf,
    /// The WebDriver server for it.
    pub chromedriver: PathBuf,
}

/// The WebAssembly tool chain.
#[derive(Debug, Clone)]
pub struct WasmTools {
    /// `wasm-bindgen`, at the version of the `wasm-bindgen` crate in Cargo.lock.
    pub wasm_bindgen: PathBuf,
    /// `wasm-bindgen-test-runner`, installed alongside it.
    pub test_runner: PathBuf,
    /// binaryen's `wasm-opt`, a Node.js script: run it as `node <wasm_opt> …` (see [`Self::wasm_opt`]).
    pub wasm_opt: PathBuf,
    /// `terser`, a Node.js script that minifies the glue (see [`Self::terser`]).
    pub terser: PathBuf,
}

impl WasmTools {
    /// A `wasm-opt` command ready for its arguments.
    pub fn wasm_opt(&self) -> Command {
        let mut command = Command::new("node");
        command.arg(&self.wasm_opt);
        command
    }

    /// A `terser` command ready for its arguments.
    pub fn terser(&self) -> Command {
        let mut command = Command::new("node");
        command.arg(&self.terser);
        command
    }
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` when set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Chromium and ChromeDriver, installed from Debian's packages when either is missing.
pub fn ensure_browser() -> Result<Browser> {
    let browser = Browser {
        chromium: CHROMIUM.into(),
        chromedriver: CHROMEDRIVER.into(),
    };
    if browser.chromium.exists() && browser.chromedriver.exists() {
        return Ok(browser);
    }
    step("installing Chromium and ChromeDriver from Debian packages (about 40 s)");
    apt_get(&["update"])?;
    apt_get(&["install", "-y", "chromium", "chromium-driver"])?;
    for path in [&browser.chromium, &browser.chromedriver] {
        if !path.exists() {
            bail!(
                "{} is still missing after installing chromium and chromium-driver",
                path.display()
            );
        }
    }
    Ok(browser)
}

/// Runs `apt-get` with `args`, without questions.
pub fn apt_get(args: &[&str]) -> Result<()> {
    run(Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("running apt-get (it needs root; on other systems install the package yourself)")
}

/// The folder shared by every clone on this machine for the tools the project installs.
fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOUCHSTONE_TOOLS_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(target_dir);
    cache.join("touchstone/tools")
}

/// The wasm32 target, wasm-bindgen-cli, wasm-opt and terser, each installed when missing.
pub fn ensure_wasm_tools() -> Result<WasmTools> {
    ensure_wasm_target()?;
    let version = locked_version("wasm-bindgen")?;
    // One folder per version, so clones pinned to different versions do not fight over it.
    let root = tools_dir().join(format!("wasm-bindgen-{version}"));
    let bin = root.join("bin");
    let binaryen = tools_dir().join(BINARYEN_PACKAGE.replace('@', "-"));
    let terser = tools_dir().join(TERSER_PACKAGE.replace('@', "-"));
    let tools = WasmTools {
        wasm_bindgen: bin.join("wasm-bindgen"),
        test_runner: bin.join("wasm-bindgen-test-runner"),
        wasm_opt: binaryen.join("node_modules/binaryen/bin/wasm-opt"),
        terser: terser.join("node_modules/terser/bin/terser"),
    };

    if installed_version(&tools.wasm_bindgen).as_deref() != Some(version.as_str())
        || !tools.test_runner.exists()
    {
        step(&format!(
            "installing wasm-bindgen-cli {version} into {} (about 3.5 minutes)",
            root.display()
        ));
        // No --locked: the registry index here can lag the CLI's own lock file by a patch version.
        run(cargo().args(["install", "--root"]).arg(&root).args([
            "wasm-bindgen-cli",
            "--version",
            &version,
        ]))
        .context("installing wasm-bindgen-cli")?;
    }

    if !tools.wasm_opt.exists() {
        npm_install("wasm-opt", BINARYEN_PACKAGE, &binaryen)?;
    }
    if !tools.terser.exists() {
        npm_install("terser", TERSER_PACKAGE, &terser)?;
    }
    Ok(tools)
}

/// Installs the npm `package` (`name@version`) into its own folder `dir`.
fn npm_install(tool: &str, package: &str, dir: &Path) -> Result<()> {
    step(&format!(
        "installing {tool} ({package} from npm) into {}",
        dir.display()
    ));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .arg(package))
    .with_context(|| format!("installing {package} with npm (Node.js and npm must be installed)"))
}

fn ensure_wasm_target() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("asking rustup which targets are installed")?;
    if !installed
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        step("adding the wasm32-unknown-unknown target");
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

/// The version of `package` that Cargo.lock pins.
pub fn locked_version(package: &str) -> Result<String> {
    let path = workspace_root().join("Cargo.lock");
    let lock =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == name_line
            && let Some(version) = lines
                .next()
                .and_then(|next| next.strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    bail!(
        "{package} is not in {}; build the widget once to add it",
        path.display()
    )
}

/// What `<binary> --version` reports, e.g. `0.2.130` for `wasm-bindgen 0.2.130`.
fn installed_version(binary: &Path) -> Option<String> {
    if !binary.exists() {
        return None;
    }
    let text = output(Command::new(binary).arg("--version")).ok()?;
    text.split_whitespace().nth(1).map(str::to_owned)
}
