//! The whole loop in a real browser: the `touchstone serve` binary on a fresh database, the demo
//! shop in headless Chromium, a visitor clicking 9, and the read API reporting it. Runs on SQLite
//! and, when configured, PostgreSQL, in one Chromium.
//!
//! Needs the built widget (`TOUCHSTONE_WIDGET_DIR`, default `target/widget`) and chromedriver
//! (`CHROMEDRIVER`, default `/usr/bin/chromedriver`): `cargo xtask test` provides both.

use crate::helpers::{TestDatabase, workspace_root};
use crate::process::{Collector, free_port};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VISITOR_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const HOW_TO_GET_IT: &str =
    "run the tests with `cargo xtask test`, which builds the widget and installs Chromium";

#[tokio::test]
async fn a_visitor_answers_the_survey_and_the_api_reports_it() {
    let widget_dir = built_widget_dir();
    let driver = ChromeDriver::start();
    let browser = driver.connect().await;

    let mut databases = vec![TestDatabase::sqlite()];
    databases.extend(TestDatabase::postgres().await);
    for database in &databases {
        answer_the_survey_in_the_demo_shop(&browser, database, &widget_dir).await;
    }
    browser.close().await.expect("closing the browser");
}

async fn answer_the_survey_in_the_demo_shop(
    browser: &Client,
    database: &TestDatabase,
    widget_dir: &Path,
) {
    let collector = Collector::start(&database.url, widget_dir);
    // The demo shop is served by the collector itself, so its pages are on the collector's origin.
    let api_key = collector.create_site("demo", &collector.address);

    browser
        .goto(&format!("{}/shop/", collector.address))
        .await
        .expect("opening the demo shop");
    wait_for_survey_state(browser, "asking").await;
    wait_for_animations(browser).await;
    let screenshot = browser.screenshot().await.expect("taking a screenshot");
    save_screenshot(&format!("survey-{}.png", database.backend), &screenshot);

    let host = browser
        .find(Locator::Css("#touchstone-widget"))
        .await
        .expect("the widget's host element");
    let shadow = host.shadow_root().await.expect("the widget's shadow root");
    shadow
        .find(Locator::Css(r#"[data-score="9"]"#))
        .await
        .expect("the 9 button")
        .click()
        .await
        .expect("clicking 9");
    wait_for_survey_state(browser, "thanks").await;

    let client = reqwest::Client::new();
    let report = poll_report(&client, &collector, &api_key, "nps", |report| {
        report["responses"] == 1
    })
    .await;
    assert_eq!(report["promoters"], 1, "{}: {report}", database.backend);
    assert_eq!(report["nps"], 100.0, "{}: {report}", database.backend);
    let journey = poll_report(&client, &collector, &api_key, "touchpoints", |report| {
        report["touchpoints"]
            .as_array()
            .is_some_and(|rows| rows.iter().any(|row| row["name"] == "page_view"))
    })
    .await;
    assert!(
        journey["touchpoints"][0]["count"].as_u64().unwrap() >= 1,
        "{journey}"
    );
}

/// The report at `/v1/sites/demo/{report}` once `ready` holds, or a failure after ten seconds.
async fn poll_report(
    client: &reqwest::Client,
    collector: &Collector,
    api_key: &str,
    report: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = client
            .get(format!("{}/v1/sites/demo/{report}", collector.address))
            .bearer_auth(api_key)
            .send()
            .await
            .expect("querying the collector")
            .json()
            .await
            .expect("a JSON report");
        if ready(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the {report} report never showed the answer: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the survey inside the widget's shadow root reports `state`.
async fn wait_for_survey_state(browser: &Client, state: &str) {
    const READ_STATE: &str = "const host = document.getElementById('touchstone-widget'); \
        const node = host && host.shadowRoot && host.shadowRoot.querySelector('[data-touchstone-state]'); \
        return node ? node.getAttribute('data-touchstone-state') : null;";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let current = browser
            .execute(READ_STATE, vec![])
            .await
            .expect("reading the survey state");
        if current == json!(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the survey never reached {state:?}; it is {current}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the widget's entrance animation has played, so the screenshot shows the survey
/// as a visitor sees it.
async fn wait_for_animations(browser: &Client) {
    const RUNNING: &str = "const host = document.getElementById('touchstone-widget'); \
        return host.shadowRoot.getAnimations().filter(a => a.playState === 'running').length;";
    let deadline = Instant::now() + Duration::from_secs(5);
    while browser
        .execute(RUNNING, vec![])
        .await
        .expect("reading the animations")
        != json!(0)
    {
        assert!(
            Instant::now() < deadline,
            "the widget's animations never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

fn save_screenshot(name: &str, png: &[u8]) {
    let folder = target_dir().join("screenshots");
    std::fs::create_dir_all(&folder).expect("making target/screenshots");
    std::fs::write(folder.join(name), png).expect("saving a screenshot");
    eprintln!("screenshot: {}", folder.join(name).display());
}

fn built_widget_dir() -> PathBuf {
    let dir = std::env::var_os("TOUCHSTONE_WIDGET_DIR")
        .map_or_else(|| target_dir().join("widget"), PathBuf::from);
    assert!(
        dir.join("touchstone_widget_bg.wasm").is_file(),
        "no built widget in {}: {HOW_TO_GET_IT}",
        dir.display()
    );
    dir
}

/// A chromedriver process on a free port; killed when dropped.
struct ChromeDriver {
    process: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl ChromeDriver {
    fn start() -> Self {
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            Path::new(&binary).is_file(),
            "chromedriver not found at {binary}: {HOW_TO_GET_IT}"
        );
        let port = free_port();
        let process = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ChromeDriver {
            process,
            port,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    async fn connect(&self) -> Client {
        let chromium = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,800", format!("--user-data-dir={}", self.profile.path().display()),
                    // Headless Chromium announces itself as HeadlessChrome, which the collector
                    // rightly ignores as a crawler; this test plays a visitor's ordinary browser.
                    format!("--user-agent={VISITOR_USER_AGENT}"),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("starting Chromium through chromedriver")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
