//! The collector as a separate process: the real `touchstone serve` binary, for the tests that
//! need what only a process has — a browser at its address, a `kill -9`, or two collectors on
//! one database.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `touchstone serve` on a free port against `database_url`, with rate limits high enough that
/// load tests never meet them.
fn serve(database_url: &str, widget_dir: &Path) -> Command {
    serve_at(database_url, widget_dir, "127.0.0.1:0")
}

/// [`serve`] on the address `bind`.
fn serve_at(database_url: &str, widget_dir: &Path, bind: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_touchstone"));
    command
        .args(["serve", "--bind", bind])
        .args(["--site-rate", "1000000", "--client-rate", "1000000"])
        .env("TOUCHSTONE_DATABASE_URL", database_url)
        .env(
            "TOUCHSTONE_WWW_DIR",
            crate::helpers::workspace_root().join("www"),
        )
        .env("TOUCHSTONE_WIDGET_DIR", widget_dir);
    command
}

/// A `touchstone serve` process; killed when dropped.
pub struct Collector {
    process: Child,
    /// `http://127.0.0.1:PORT`
    pub address: String,
    database_url: String,
}

impl Collector {
    /// Starts `touchstone serve` on a free port against `database_url`, serving the widget in
    /// `widget_dir`, with rate limits high enough that load tests never meet them. Returns once
    /// it listens.
    pub fn start(database_url: &str, widget_dir: &Path) -> Self {
        // Most tests start without a widget on purpose; the warning about it would be noise.
        let log = if widget_dir.join("touchstone_widget_bg.wasm").is_file() {
            "warn"
        } else {
            "warn,touchstone_server::routes::assets=error"
        };
        let mut command = serve(database_url, widget_dir);
        command.env("TOUCHSTONE_LOG", log);
        Self::launch(command, database_url)
    }

    /// Like [`Collector::start`], listening on `address` (`http://127.0.0.1:PORT`): a collector
    /// that comes back where a stopped one was, for browsers that kept its pages open.
    pub fn start_at(database_url: &str, widget_dir: &Path, address: &str) -> Self {
        let bind = address.strip_prefix("http://").unwrap_or(address);
        let mut command = serve_at(database_url, widget_dir, bind);
        command.env("TOUCHSTONE_LOG", "warn");
        Self::launch(command, database_url)
    }

    /// Like [`Collector::start`] without a widget, with extra environment variables (the
    /// webhook dispatcher's settings, say).
    pub fn start_with_env(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = serve(database_url, &crate::helpers::no_widget_dir());
        command
            .env(
                "TOUCHSTONE_LOG",
                "warn,touchstone_server::routes::assets=error",
            )
            .envs(env.iter().copied());
        Self::launch(command, database_url)
    }

    /// Like [`Collector::start`], with every log line at `filter` (a `TOUCHSTONE_LOG` filter) in
    /// JSON, written to `log_file`, and `127.0.0.1` trusted as a proxy so tests can name the
    /// client's address in `X-Forwarded-For`.
    pub fn start_logging(database_url: &str, filter: &str, log_file: &Path) -> Self {
        let mut command = serve(database_url, &crate::helpers::no_widget_dir());
        command
            .args(["--log-format", "json", "--trusted-proxy", "127.0.0.1"])
            .env("TOUCHSTONE_LOG", filter)
            .stderr(std::fs::File::create(log_file).expect("creating the log file"));
        Self::launch(command, database_url)
    }

    /// Spawns `command` and waits for the line saying where it listens.
    fn launch(mut command: Command, database_url: &str) -> Self {
        let mut process = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting touchstone serve");
        let mut first_line = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut first_line)
            .expect("reading its output");
        let address = first_line
            .trim()
            .strip_prefix("touchstone: listening on ")
            .unwrap_or_else(|| {
                panic!("unexpected first line from touchstone serve: {first_line:?}")
            })
            .to_owned();
        Collector {
            process,
            address,
            database_url: database_url.to_owned(),
        }
    }

    /// Registers a site with `touchstone site create --key KEY --origin ORIGIN --json` on this
    /// collector's database; returns its read API key.
    pub fn create_site(&self, key: &str, origin: &str) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_touchstone"))
            .args(["site", "create", "--key", key, "--name", "Test shop"])
            .args(["--origin", origin, "--json"])
            .env("TOUCHSTONE_DATABASE_URL", &self.database_url)
            .env("TOUCHSTONE_LOG", "warn")
            .output()
            .expect("running touchstone site create");
        assert!(
            output.status.success(),
            "site create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: Value = serde_json::from_slice(&output.stdout).unwrap();
        created["api_key"].as_str().unwrap().to_owned()
    }

    /// Sends SIGTERM, as an orchestrator stopping the collector would, and waits (at most ten
    /// seconds) for the process to exit; returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = self.process.try_wait().expect("waiting for the collector") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the collector did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL and waits for the process to die: no draining, no last commit.
    pub fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}
