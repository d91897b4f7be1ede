//! The whole loop in a real browser: the `touchstone serve` binary on a fresh database, the demo
//! shop in headless Chromium, a visitor answering 9 and a comment with the keyboard alone (real
//! key presses, which the component tests cannot make), and the read API reporting it. Runs on
//! SQLite and, when configured, PostgreSQL, in one Chromium, followed by the journey scenarios of
//! `browser_journey.rs` in the same browser.
//!
//! On SQLite it also takes the screenshots a person should look at after changing the survey's
//! looks, into `target/screenshots/`: light, dark, phone width, right to left, and the follow-up.
//! Dark mode, the phone and the Arabic page are made with the Chrome DevTools Protocol through
//! ChromeDriver (`/session/{id}/goog/cdp/execute`): `Emulation.setEmulatedMedia` for
//! `prefers-color-scheme: dark`, `Emulation.setDeviceMetricsOverride` for a 375-pixel phone, and
//! `Page.addScriptToEvaluateOnNewDocument` to give the shop `<html lang="ar" dir="rtl">`.
//!
//! Needs the built widget (`TOUCHSTONE_WIDGET_DIR`, default `target/widget`) and chromedriver
//! (`CHROMEDRIVER`, default `/usr/bin/chromedriver`): `cargo xtask test` provides both.

use crate::helpers::{TestDatabase, workspace_root};
use crate::process::{Collector, free_port};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder};
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
        answer_the_survey_in_the_demo_shop(&browser, &driver, database, &widget_dir).await;
        crate::browser_journey::scenarios(&browser, database, &widget_dir).await;
    }
    browser.close().await.expect("closing the browser");
}

async fn answer_the_survey_in_the_demo_shop(
    browser: &Client,
    driver: &ChromeDriver,
    database: &TestDatabase,
    widget_dir: &Path,
) {
    let collector = Collector::start(&database.url, widget_dir);
    // The demo shop is served by the collector itself, so its pages are on the collector's origin.
    let api_key = collector.create_site("demo", &collector.address);
    if database.backend == "sqlite" {
        screenshots_of_the_survey(browser, driver, &collector).await;
    }

    open_the_survey(browser, &collector).await;
    wait_for_animations(browser).await;
    let screenshot = browser.screenshot().await.expect("taking a screenshot");
    save_screenshot(&format!("survey-{}.png", database.backend), &screenshot);

    // Focus moved into the survey when it opened, onto the scale's one Tab stop.
    assert_eq!(focused_in_survey(browser).await, json!("choice:0"));
    press(browser, &[Key::End.into(), Key::Left.into()]).await;
    assert_eq!(focused_in_survey(browser).await, json!("choice:9"));
    press(browser, &[Key::Space.into()]).await;
    wait_for_survey_state(browser, "follow-up").await;
    assert_eq!(focused_in_survey(browser).await, json!("comment:"));
    if database.backend == "sqlite" {
        let screenshot = browser.screenshot().await.expect("taking a screenshot");
        save_screenshot("survey-follow-up.png", &screenshot);
    }
    let typed: Vec<char> = "Great <b>shop</b>".chars().collect();
    press(browser, &typed).await;
    press(browser, &[Key::Tab.into()]).await;
    assert_eq!(focused_in_survey(browser).await, json!("send:"));
    press(browser, &[Key::Enter.into()]).await;
    wait_for_survey_state(browser, "thanks").await;

    let client = crate::helpers::http_client();
    let report = poll_report(&client, &collector, &api_key, "nps", |report| {
        report["responses"] == 1
    })
    .await;
    assert_eq!(report["promoters"], 1, "{}: {report}", database.backend);
    assert_eq!(report["nps"], 100.0, "{}: {report}", database.backend);
    // The score and the comment travel together, with the survey and the language.
    let answers = poll_report(&client, &collector, &api_key, "responses", |report| {
        report["responses"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
    })
    .await;
    let answer = &answers["responses"][0];
    assert_eq!(answer["score"], 9, "{answers}");
    assert_eq!(answer["comment"], "Great <b>shop</b>", "{answers}");
    assert_eq!(answer["survey"], "nps", "{answers}");
    assert_eq!(answer["language"], "en", "{answers}");
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

/// The screenshots for a person to look at: the survey in the light and dark schemes, on a
/// phone, and in Arabic (right to left). Each scenario changes one thing through the DevTools
/// Protocol and puts it back.
async fn screenshots_of_the_survey(browser: &Client, driver: &ChromeDriver, collector: &Collector) {
    let show = |name: &'static str| async move {
        open_the_survey(browser, collector).await;
        wait_for_animations(browser).await;
        let screenshot = browser.screenshot().await.expect("taking a screenshot");
        save_screenshot(name, &screenshot);
    };

    show("survey-light.png").await;

    let dark = json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] });
    driver
        .cdp(browser, "Emulation.setEmulatedMedia", dark)
        .await;
    show("survey-dark.png").await;
    let background = browser
        .execute(
            &survey_script("getComputedStyle(card).backgroundColor"),
            vec![],
        )
        .await
        .expect("reading the survey's background");
    assert_eq!(
        background,
        json!("rgb(28, 33, 40)"),
        "the dark scheme is honoured"
    );
    driver
        .cdp(
            browser,
            "Emulation.setEmulatedMedia",
            json!({ "features": [] }),
        )
        .await;

    let phone = json!({ "width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": true });
    driver
        .cdp(browser, "Emulation.setDeviceMetricsOverride", phone)
        .await;
    show("survey-mobile.png").await;
    let smallest = browser
        .execute(
            &survey_script(
                "Math.min(...[...card.querySelectorAll('button')].flatMap(b => { \
                 const r = b.getBoundingClientRect(); return [r.width, r.height]; }))",
            ),
            vec![],
        )
        .await
        .expect("measuring the survey's buttons");
    assert!(
        smallest.as_f64().unwrap() >= 44.0,
        "every button is a 44-pixel target on a phone, the smallest side is {smallest}"
    );
    driver
        .cdp(browser, "Emulation.clearDeviceMetricsOverride", json!({}))
        .await;

    let arabic = "document.addEventListener('DOMContentLoaded', () => { \
        document.documentElement.lang = 'ar'; document.documentElement.dir = 'rtl'; });";
    let script = driver
        .cdp(
            browser,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": arabic }),
        )
        .await;
    show("survey-rtl.png").await;
    let direction = browser
        .execute(
            &survey_script("card.getAttribute('dir') + ' ' + card.lang"),
            vec![],
        )
        .await
        .expect("reading the survey's direction");
    assert_eq!(direction, json!("rtl ar"));
    driver
        .cdp(
            browser,
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({ "identifier": script["identifier"] }),
        )
        .await;
}

/// A script that evaluates `expression` with `card` bound to the survey's outer element.
fn survey_script(expression: &str) -> String {
    format!(
        "const card = document.getElementById('touchstone-widget').shadowRoot \
         .querySelector('[data-touchstone-state]'); return {expression};"
    )
}

/// Presses each key in turn, as a keyboard does, on whatever has focus.
pub(crate) async fn press(browser: &Client, keys: &[char]) {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for &key in keys {
        actions = actions
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
    }
    browser
        .perform_actions(actions)
        .await
        .expect("pressing keys");
}

/// What has focus inside the survey, as `class:score` (e.g. `choice:9`, `send:`), or null when
/// focus is not in the survey.
async fn focused_in_survey(browser: &Client) -> Value {
    const FOCUSED: &str = "const host = document.getElementById('touchstone-widget'); \
        if (document.activeElement !== host) return null; \
        const node = host.shadowRoot.activeElement; \
        return node ? node.className + ':' + (node.getAttribute('data-score') || '') : null;";
    browser
        .execute(FOCUSED, vec![])
        .await
        .expect("reading the focus")
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

/// Makes the demo shop ask: a new site's survey appears from the second page view of a session,
/// at most once a session, so a fresh session (the site's storage cleared) and two pages. The
/// first page view must be counted (the widget loads when the page is idle) before moving on.
async fn open_the_survey(browser: &Client, collector: &Collector) {
    // The front page has no widget that could write while the storage is cleared.
    browser
        .goto(&format!("{}/", collector.address))
        .await
        .expect("opening the collector's front page");
    browser
        .execute("localStorage.clear();", vec![])
        .await
        .expect("clearing localStorage");
    for page in ["/shop/", "/shop/pricing.html"] {
        browser
            .goto(&format!("{}{page}", collector.address))
            .await
            .expect("opening the demo shop");
        wait_for_session(browser).await;
    }
    wait_for_survey_state(browser, "asking").await;
}

/// Waits until the widget has started on the page and kept the visitor's session.
pub(crate) async fn wait_for_session(browser: &Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser
        .execute("return localStorage.getItem('touchstone.session');", vec![])
        .await
        .expect("reading localStorage")
        .is_null()
    {
        assert!(Instant::now() < deadline, "the widget never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the survey inside the widget's shadow root reports `state`.
pub(crate) async fn wait_for_survey_state(browser: &Client, state: &str) {
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

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

pub(crate) fn save_screenshot(name: &str, png: &[u8]) {
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
pub(crate) struct ChromeDriver {
    process: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl ChromeDriver {
    pub(crate) fn start() -> Self {
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

    pub(crate) async fn connect(&self) -> Client {
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

impl ChromeDriver {
    /// Sends a Chrome DevTools Protocol command to `browser`'s page through ChromeDriver, and
    /// returns its result.
    pub(crate) async fn cdp(&self, browser: &Client, command: &str, params: Value) -> Value {
        let session = browser
            .session_id()
            .await
            .expect("reading the session id")
            .expect("a WebDriver session");
        let answer: Value = crate::helpers::http_client()
            .post(format!(
                "http://127.0.0.1:{}/session/{session}/goog/cdp/execute",
                self.port
            ))
            .json(&json!({ "cmd": command, "params": params }))
            .send()
            .await
            .expect("sending a DevTools command")
            .json()
            .await
            .expect("a DevTools answer");
        assert!(
            answer["value"].get("error").is_none(),
            "{command}: {answer}"
        );
        answer["value"].clone()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
