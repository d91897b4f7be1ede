//! The marketers' dashboard: `GET /v1/whoami` (whose key this is), the page's files and their
//! Content-Security-Policy, and — in headless Chromium — the page itself against the demo data,
//! every number it shows compared with the JSON the API gives the test for the same query.
//!
//! The browser test's name says `browser`, so `--skip browser` leaves it out with the other one;
//! it needs chromedriver (`CHROMEDRIVER`, default `/usr/bin/chromedriver`) but not the widget.

use crate::browser::{ChromeDriver, press, save_screenshot};
use crate::helpers::*;
use crate::on_every_backend;
use crate::process::Collector;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};
use touchstone_server::api_key::{ApiKey, KeyScope};
use touchstone_server::store::{self, KeyToRevoke};

on_every_backend!(
    whoami_names_the_site_and_the_scope_of_a_key,
    whoami_refuses_missing_wrong_revoked_and_hostile_keys,
);

async fn whoami(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    app.get_as("/v1/whoami", key).await
}

async fn whoami_names_the_site_and_the_scope_of_a_key(app: TestApp) {
    let response = whoami(&app, Some(&app.api_key)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "site": "demo", "name": "Test site demo", "scope": "read" })
    );

    let admin = app.create_key(KeyScope::Admin).await;
    let body: Value = whoami(&app, Some(&admin)).await.json().await.unwrap();
    assert_eq!(
        (&body["site"], &body["scope"]),
        (&json!("demo"), &json!("admin"))
    );

    // Another site's key names that site, not this one.
    let (_, other_key) = app.create_site("other").await;
    let body: Value = whoami(&app, Some(&other_key)).await.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "site": "other", "name": "Test site other", "scope": "read" })
    );
}

async fn whoami_refuses_missing_wrong_revoked_and_hostile_keys(app: TestApp) {
    assert_eq!(
        error_code(whoami(&app, None).await, 401).await,
        "unauthorized"
    );
    let long_key = format!("tsk_{}", "a".repeat(8_000));
    let headers: Vec<HeaderValue> = vec![
        HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Bearer "),
        HeaderValue::from_static("Bearer    "),
        HeaderValue::from_static("bearer tsk_0000000000000000000000000000000000000000"),
        HeaderValue::from_static("Bearer tsk_wrong"),
        HeaderValue::from_static("Bearer ' OR 1=1 --"),
        HeaderValue::from_static("Bearer %00%27"),
        HeaderValue::from_str(&format!("Bearer {long_key}")).unwrap(),
        // Bytes that are not UTF-8 (obs-text is allowed in a header value).
        HeaderValue::from_bytes(b"Bearer tsk_\xff\xfe").unwrap(),
        // The key's hash itself is not the key.
        HeaderValue::from_str(&format!(
            "Bearer {}",
            ApiKey::presented(&app.api_key).hash().as_str()
        ))
        .unwrap(),
    ];
    for header in headers {
        let response = app
            .client
            .get(format!("{}/v1/whoami", app.address))
            .header(AUTHORIZATION, header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response, 401).await,
            "unauthorized",
            "{header:?}"
        );
    }

    // Two Authorization headers: neither is taken, whichever comes first.
    let wrong = HeaderValue::from_static("Bearer tsk_wrong");
    let right = HeaderValue::from_str(&format!("Bearer {}", app.api_key)).unwrap();
    for pair in [[&wrong, &right], [&right, &wrong], [&right, &right]] {
        let response = app
            .client
            .get(format!("{}/v1/whoami", app.address))
            .header(AUTHORIZATION, pair[0].clone())
            .header(AUTHORIZATION, pair[1].clone())
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response, 401).await, "unauthorized");
    }

    // A revoked key is refused at once.
    let store = store::connect(&app.database.url).await.unwrap();
    let key = app.create_key(KeyScope::Read).await;
    assert_eq!(whoami(&app, Some(&key)).await.status(), 200);
    assert!(
        store
            .revoke_api_key(
                &app.site,
                &KeyToRevoke::Hash(ApiKey::presented(&key).hash())
            )
            .await
            .unwrap()
    );
    assert_eq!(
        error_code(whoami(&app, Some(&key)).await, 401).await,
        "unauthorized"
    );
    // Another method is not the route.
    let posted = app
        .client
        .post(format!("{}/v1/whoami", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(posted, 405).await, "method_not_allowed");
}

#[tokio::test]
async fn the_dashboard_is_served_under_a_strict_content_security_policy() {
    let app = TestApp::spawn(TestDatabase::sqlite()).await;
    crate::helpers::install_tls_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{}{path}", app.address)).send();

    // Without the slash: sent to the folder, so the page's relative links resolve.
    let redirect = get("/dashboard").await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()[LOCATION], "dashboard/");

    for (path, content_type) in [
        ("/dashboard/", "text/html"),
        ("/dashboard/dashboard.js", "javascript"),
        ("/dashboard/dashboard.css", "text/css"),
    ] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let served_as = headers[CONTENT_TYPE].to_str().unwrap();
        assert!(served_as.contains(content_type), "{path}: {served_as}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    let missing = get("/dashboard/nothing-here.js").await.unwrap();
    assert_eq!(error_code(missing, 404).await, "not_found");
    // Out of the folder: never the loader template or anything above www/dashboard.
    for sneaky in [
        "/dashboard/../loader.js",
        "/dashboard/%2e%2e/loader.js",
        "/dashboard/..%2floader.js",
        "/dashboard/%2e%2e%2f%2e%2e%2fCargo.toml",
    ] {
        let response = get(sneaky).await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            !status.is_success() || !text.contains("__TOUCHSTONE_WIDGET_BASE__"),
            "{sneaky}: {status}"
        );
        assert!(!text.contains("[workspace]"), "{sneaky}: {status}");
    }
    // The rest of www/ is served as before, without the dashboard's policy.
    let shop = get("/shop/").await.unwrap();
    assert_eq!(shop.status(), 200);
}

/// Nothing in the dashboard names another origin, runs inline script or sets inline style: the
/// files say so themselves, whatever the policy header says. Prints the folder's size.
#[test]
fn the_dashboard_fetches_nothing_from_another_origin() {
    let folder = workspace_root().join("www/dashboard");
    let url = regex::Regex::new(r#"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}"#).unwrap();
    let scripts = regex::Regex::new(r"<script\b[^>]*>").unwrap();
    let mut total = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        total += text.len();
        for found in url.find_iter(&text) {
            // The SVG namespace is a name, never fetched.
            assert_eq!(
                found.as_str(),
                "http://www.w3.org",
                "{} names another origin",
                path.display()
            );
        }
        for inline in [
            "style=",
            "<style",
            "javascript:",
            "innerHTML",
            "eval(",
            "@import",
        ] {
            assert!(!text.contains(inline), "{} uses {inline}", path.display());
        }
        if path
            .extension()
            .is_some_and(|extension| extension == "html")
        {
            for script in scripts.find_iter(&text) {
                assert!(
                    script.as_str().contains(" src="),
                    "inline script: {}",
                    script.as_str()
                );
            }
        }
    }
    eprintln!("www/dashboard: {total} bytes");
}

/// The page in headless Chromium, on each backend: signed in with a read key, every number it
/// shows compared with the API's answer to the same query. On SQLite also the controls, the
/// keyboard, signing out, a lost network and the screenshots.
#[tokio::test]
async fn the_dashboard_shows_the_api_numbers_in_a_browser() {
    let driver = ChromeDriver::start();
    let browser = driver.connect().await;
    let mut databases = vec![TestDatabase::sqlite()];
    databases.extend(TestDatabase::postgres().await);
    for database in &databases {
        dashboard_on(&browser, &driver, database).await;
    }
    browser.close().await.expect("closing the browser");
}

/// A zone whose midnight is not on a whole UTC hour, so the page's days must come from the
/// collector's midnights there, not from UTC.
const TIME_ZONE: &str = "Asia/Kolkata";

async fn dashboard_on(browser: &Client, driver: &ChromeDriver, database: &TestDatabase) {
    let mut collector = Collector::start(&database.url, &no_widget_dir());
    let api_key = collector.create_site("demo", &collector.address);
    seed_demo(&database.url);
    let hostile = "<img src=x onerror=\"document.title='pwned'\"> & <b>bold</b>";
    answer_with_a_journey(&collector, hostile).await;

    driver
        .cdp(
            browser,
            "Emulation.setTimezoneOverride",
            json!({ "timezoneId": TIME_ZONE }),
        )
        .await;
    driver
        .cdp(
            browser,
            "Emulation.setLocaleOverride",
            json!({ "locale": "en-US" }),
        )
        .await;
    browser
        .goto(&format!("{}/dashboard", collector.address))
        .await
        .expect("opening the dashboard");
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/dashboard/")
    );
    // A fresh tab holds no key from an earlier backend's run.
    browser
        .execute("sessionStorage.clear(); location.reload();", vec![])
        .await
        .unwrap();
    wait_for_state(browser, "signed-out").await;

    if database.backend == "sqlite" {
        sign_in(browser, "tsk_wrong").await;
        wait_for_state(browser, "signed-out").await;
        let error = text_of(browser, "#sign-in-error").await;
        assert!(error.contains("refused"), "{error}");
    }
    sign_in(browser, &api_key).await;
    wait_for_state(browser, "ready").await;
    let stored = browser
        .execute(
            "return [sessionStorage.getItem('touchstone.dashboard.key'), location.href, document.cookie];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(stored[0], json!(api_key), "the key is kept for the tab");
    assert!(
        !stored[1].as_str().unwrap().contains(&api_key),
        "never in the URL"
    );
    assert_eq!(stored[2], json!(""), "no cookie");

    let page = read_page(browser).await;
    let zone = page["tz"].as_str().unwrap().to_owned();
    assert!(
        ["Asia/Kolkata", "Asia/Calcutta"].contains(&zone.as_str()),
        "the time zone defaults to the browser's: {zone}"
    );
    let api = Reports {
        client: crate::helpers::http_client(),
        address: collector.address.clone(),
        key: api_key.clone(),
    };
    let expected = api.expected(&zone, 30, "day", None).await;
    check_page(&page, &expected, hostile);

    if database.backend != "sqlite" {
        return;
    }
    screenshots(browser, driver).await;
    keyboard_reaches_every_control(browser).await;

    // One survey of the two: the hostile answer was the only one to `checkout`, a sample of
    // one, which the page flags.
    select(browser, "#survey", "checkout").await;
    let expected = api.expected(&zone, 30, "day", Some("checkout")).await;
    let page = wait_for_page(browser, |page| page["nps"] == "\u{2212}100").await;
    assert_eq!(page["small_sample"], true);
    check_page(&page, &expected, hostile);
    select(browser, "#survey", "").await;
    wait_for_page(browser, |page| page["nps"] != "\u{2212}100").await;

    // Another period and bucket: the trend follows, still equal to the API's.
    select(browser, "#period", "90").await;
    select(browser, "#bucket", "week").await;
    let expected = api.expected(&zone, 90, "week", None).await;
    let weeks = expected.trend["points"].as_array().unwrap().len();
    let page = wait_for_page(browser, |page| {
        page["trend_rows"].as_array().map(Vec::len) == Some(weeks)
    })
    .await;
    check_page(&page, &expected, hostile);

    // A reload keeps the tab signed in; signing out forgets the key.
    browser.refresh().await.unwrap();
    wait_for_state(browser, "ready").await;
    browser
        .find(Locator::Css("#sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_state(browser, "signed-out").await;
    let kept = browser
        .execute(
            "return sessionStorage.getItem('touchstone.dashboard.key');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, Value::Null, "signing out forgets the key");

    // The collector goes away: the page says the network failed, not a blank page.
    sign_in(browser, &api_key).await;
    wait_for_state(browser, "ready").await;
    collector.kill();
    select(browser, "#period", "365").await;
    wait_for_state(browser, "error").await;
    let notice = text_of(browser, "#notice-text").await;
    assert!(notice.contains("network error"), "{notice}");
    browser
        .execute("sessionStorage.clear();", vec![])
        .await
        .unwrap();
}

/// `touchstone demo seed` into the collector's database, as `cargo xtask run` does.
fn seed_demo(database_url: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_touchstone"))
        .args([
            "demo",
            "seed",
            "--site",
            "demo",
            "--visitors",
            "2500",
            "--days",
            "90",
        ])
        .env("TOUCHSTONE_DATABASE_URL", database_url)
        .env("TOUCHSTONE_LOG", "warn")
        .output()
        .expect("running touchstone demo seed");
    assert!(
        output.status.success(),
        "demo seed failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One more detractor, now, after pricing and a support contact, with a comment that would be
/// markup if the page treated it as such.
async fn answer_with_a_journey(collector: &Collector, comment: &str) {
    let now = jiff::Timestamp::now().as_millisecond();
    let page = |name: &str, at: i64| {
        json!({ "type": "touchpoint", "id": event_id(), "at": at, "name": name,
                "url": format!("{}/shop/pricing.html", collector.address) })
    };
    let request = json!({ "site": "demo", "visitor": event_id(), "events": [
        page("page_view", now - 60_000),
        page("pricing_viewed", now - 59_000),
        page("pricing_viewed", now - 50_000),
        page("page_view", now - 40_000),
        page("support_contact", now - 30_000),
        { "type": "response", "id": event_id(), "at": now - 1_000, "score": 2,
          "comment": comment, "device": "desktop", "survey": "checkout" },
    ]});
    let response = crate::helpers::http_client()
        .post(format!("{}/v1/collect", collector.address))
        .header(CONTENT_TYPE, "text/plain;charset=UTF-8")
        .header("Origin", &collector.address)
        .body(request.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Chooses the option `value` of the `<select>` at `selector`, as a click would.
async fn select(browser: &Client, selector: &str, value: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn sign_in(browser: &Client, key: &str) {
    let input = browser.find(Locator::Css("#key")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(key).await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
}

async fn text_of(browser: &Client, selector: &str) -> String {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the page's `data-state` is `state` (`signed-out`, `loading`, `ready`, `error`).
async fn wait_for_state(browser: &Client, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let current = browser
            .execute("return document.body.dataset.state;", vec![])
            .await
            .expect("reading the page's state");
        if current == json!(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never reached {state:?}; it is {current}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything the page shows that the test checks, as text.
const READ_PAGE: &str = r#"
const text = (selector) => document.querySelector(selector)?.textContent ?? null;
const rows = (selector) => [...document.querySelectorAll(selector + ' tbody tr')]
  .map((row) => [...row.children].map((cell) => cell.textContent));
const paths = (category) => [...document.querySelectorAll(`#paths [data-category=${category}] li`)]
  .map((item) => [item.querySelector('.steps').textContent, item.querySelector('.count').textContent]);
return {
  state: document.body.dataset.state,
  tz: document.getElementById('tz').value,
  title: document.title,
  nps: text('#overview [data-field=nps]'),
  interval: text('#overview [data-field=interval]'),
  small_sample: document.querySelector('#overview [data-field=small-sample]') !== null,
  responses: text('#overview [data-field=responses]'),
  split: [...document.querySelectorAll('#overview .legend li')].map((item) => item.textContent),
  split_bars: document.querySelectorAll('#overview svg.split rect').length,
  change: text('#comparison [data-field=change]'),
  comparison: text('#comparison .body'),
  change_dots: document.querySelectorAll('#comparison svg circle').length,
  trend_rows: rows('#trend'),
  trend_dots: document.querySelectorAll('#trend svg circle').length,
  drivers_rows: rows('#drivers'),
  driver_marks: document.querySelectorAll('#drivers svg g.driver').length,
  promoter_paths: paths('promoters'),
  detractor_paths: paths('detractors'),
  revenue: text('#revenue .body'),
  revenue_values: [...document.querySelectorAll('#revenue svg text.value')].map((node) => node.textContent),
  revenue_figures: Object.fromEntries([...document.querySelectorAll('#revenue [data-field]')]
    .map((node) => [node.dataset.field, node.textContent])),
  comments: [...document.querySelectorAll('#comments li')].map((item) => [
    item.querySelector('blockquote').textContent, item.querySelector('.journey').textContent,
    item.querySelector('.badge').textContent]),
  markup_in_comments: document.querySelectorAll('#comments img, #comments blockquote b').length,
  images: [...document.querySelectorAll('svg[role=img]')].map((svg) =>
    svg.getAttribute('aria-labelledby').split(' ').map((id) => document.getElementById(id)?.textContent ?? '')),
  sections: [...document.querySelectorAll('main section')].map((section) =>
    [section.id, section.querySelector('.body').textContent.trim().length]),
};
"#;

async fn read_page(browser: &Client) -> Value {
    browser
        .execute(READ_PAGE, vec![])
        .await
        .expect("reading the page")
}

/// Reads the page until `ready` holds for it (and the page is ready), or fails after 20 s.
async fn wait_for_page(browser: &Client, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = read_page(browser).await;
        if page["state"] == "ready" && ready(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never showed what was expected: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API, asked by the test itself.
struct Reports {
    client: reqwest::Client,
    address: String,
    key: String,
}

/// What the API says for one setting of the controls.
struct Expected {
    trend: Value,
    comparison: Value,
    drivers: Value,
    paths: Value,
    revenue: Option<Value>,
    responses: Value,
}

impl Reports {
    async fn get(&self, path: &str, query: &[(&str, String)]) -> reqwest::Response {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/v1/sites/demo/{path}", self.address),
            query,
        )
        .unwrap();
        self.client
            .get(url)
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("querying the collector")
    }

    async fn json(&self, path: &str, query: &[(&str, String)]) -> Value {
        let response = self.get(path, query).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// The reports for the last `days` whole days in `zone` (today included), of one survey or
    /// all, as the page is meant to ask for them — worked out here independently of its code.
    async fn expected(
        &self,
        zone: &str,
        days: i64,
        bucket: &str,
        survey: Option<&str>,
    ) -> Expected {
        let today = jiff::Timestamp::now().in_tz(zone).unwrap().date();
        let date = |offset: i64| {
            today
                .checked_add(jiff::Span::new().days(offset))
                .unwrap()
                .to_string()
        };
        let scoped = |query: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
            let mut query = query.to_vec();
            query.extend(survey.map(|survey| ("survey", survey.to_owned())));
            query
        };
        let trend = self
            .json(
                "nps/trend",
                &scoped(&[
                    ("from", date(1 - days)),
                    ("to", date(0)),
                    ("bucket", bucket.to_owned()),
                    ("tz", zone.to_owned()),
                ]),
            )
            .await;
        let before = self
            .json(
                "nps/trend",
                &scoped(&[
                    ("from", date(1 - 2 * days)),
                    ("to", date(-days)),
                    ("bucket", "month".to_owned()),
                    ("tz", zone.to_owned()),
                ]),
            )
            .await;
        let start = trend["from"].as_str().unwrap().to_owned();
        let end = trend["to"].as_str().unwrap().to_owned();
        // The collector's midnights in the zone: Kolkata is 5:30 ahead of UTC.
        assert!(start.ends_with("T00:00:00+05:30"), "{start}");
        let period = [("from", start), ("to", end)];
        let with_period = |more: &[(&'static str, String)]| {
            let mut query = period.to_vec();
            query.extend_from_slice(more);
            scoped(&query)
        };
        let comparison = self
            .json(
                "nps/compare",
                &with_period(&[
                    ("baseline_from", before["from"].as_str().unwrap().to_owned()),
                    ("baseline_to", before["to"].as_str().unwrap().to_owned()),
                ]),
            )
            .await;
        let drivers = self.json("drivers", &with_period(&[])).await;
        let paths = self
            .json("paths", &with_period(&[("top", "5".to_owned())]))
            .await;
        let responses = self
            .json("responses", &with_period(&[("limit", "200".to_owned())]))
            .await;
        let revenue = self.get("nps/revenue", &with_period(&[])).await;
        let revenue = match revenue.status().as_u16() {
            404 => None,
            200 => Some(revenue.json().await.unwrap()),
            status => panic!("the revenue report answered {status}"),
        };
        Expected {
            trend,
            comparison,
            drivers,
            paths,
            revenue,
            responses,
        }
    }
}

/// The page's numbers against the API's, formatted as the page formats them for `en-US`.
fn check_page(page: &Value, expected: &Expected, hostile: &str) {
    let period = &expected.comparison["period"];
    assert_eq!(page["nps"], json!(score(&period["nps"])), "{page}");
    assert_eq!(
        page["interval"],
        json!(format!(
            "95% CI {} to {}",
            score(&period["confidence_interval"]["low"]),
            score(&period["confidence_interval"]["high"])
        ))
    );
    let responses = period["responses"].as_u64().unwrap();
    assert_eq!(page["small_sample"], period["small_sample"]);
    assert!(
        page["responses"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}, ", answers(responses))),
        "{}",
        page["responses"]
    );
    let split: Vec<String> = [
        ("Promoters (9–10)", "promoters"),
        ("Passives (7–8)", "passives"),
        ("Detractors (0–6)", "detractors"),
    ]
    .iter()
    .map(|(name, field)| {
        let n = period[field].as_u64().unwrap();
        format!(
            "{name}: {} · {}",
            count(n),
            percent(n as f64 / responses as f64)
        )
    })
    .collect();
    assert_eq!(page["split"], json!(split));
    assert_eq!(page["split_bars"], 3);
    assert!(
        page["title"]
            .as_str()
            .unwrap()
            .starts_with(&format!("NPS {} · ", score(&period["nps"]))),
        "{}",
        page["title"]
    );

    // "NPS rose 6 points (95% CI −2 to 14); this could be chance (p = 0.14).", or no
    // comparison when the days before hold no answers (the demo's 90 days, before them).
    check_change(page, &expected.comparison);

    // The trend: one row per point, each with the API's numbers.
    let points = expected.trend["points"].as_array().unwrap();
    let rows = page["trend_rows"].as_array().unwrap();
    assert_eq!(rows.len(), points.len());
    for (row, point) in rows.iter().zip(points) {
        let answers = point["responses"].as_u64().unwrap();
        let small = match (answers, point["small_sample"].as_bool().unwrap()) {
            (0, _) => "",
            (_, true) => "yes",
            (_, false) => "no",
        };
        assert_eq!(
            row.as_array().unwrap()[1..],
            [
                json!(count(answers)),
                json!(score(&point["nps"])),
                json!(score(&point["confidence_interval"]["low"])),
                json!(score(&point["confidence_interval"]["high"])),
                json!(small),
            ],
            "{point}"
        );
    }
    let filled = points
        .iter()
        .filter(|point| !point["nps"].is_null())
        .count();
    assert_eq!(page["trend_dots"], filled);

    // The drivers, in the API's order.
    let drivers = expected.drivers["drivers"].as_array().unwrap();
    let rows = page["drivers_rows"].as_array().unwrap();
    assert!(!drivers.is_empty());
    assert_eq!(rows.len(), drivers.len());
    for (row, driver) in rows.iter().zip(drivers) {
        let row: Vec<&str> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|cell| cell.as_str().unwrap())
            .collect();
        assert_eq!(
            row[..8],
            [
                driver["touchpoint"].as_str().unwrap(),
                &score(&driver["with"]["nps"]),
                &count(driver["with"]["responses"].as_u64().unwrap()),
                &score(&driver["without"]["nps"]),
                &count(driver["without"]["responses"].as_u64().unwrap()),
                &signed(&driver["difference"]),
                &score(&driver["confidence_interval"]["low"]),
                &score(&driver["confidence_interval"]["high"]),
            ],
            "{driver}"
        );
        match driver["p_value"].as_f64() {
            Some(p) => check_p_value(row[8].strip_prefix("p ").unwrap(), p),
            None => assert_eq!(row[8], "–"),
        }
        let ranked = if driver["ranked"] == true {
            "yes"
        } else {
            "no"
        };
        assert_eq!(row[9], ranked);
    }
    let with_difference = drivers
        .iter()
        .filter(|driver| !driver["difference"].is_null())
        .count();
    assert_eq!(page["driver_marks"], with_difference);

    // The paths to promoters and to detractors.
    for (shown, category) in [
        (&page["promoter_paths"], "promoter"),
        (&page["detractor_paths"], "detractor"),
    ] {
        let rows: Vec<Value> = expected.paths[category]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let steps: Vec<&str> = row["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|step| step.as_str().unwrap())
                    .collect();
                let steps = if steps.is_empty() {
                    "(no named touchpoint)".to_owned()
                } else {
                    steps.join(" → ")
                };
                json!([
                    steps,
                    format!(
                        "{} · {}",
                        answers(row["answers"].as_u64().unwrap()),
                        percent(row["share"].as_f64().unwrap())
                    )
                ])
            })
            .collect();
        assert_eq!(shown, &json!(rows), "{category}");
    }

    // Revenue: the API's amounts, or the plain statement that there are none.
    match &expected.revenue {
        Some(report)
            if report["revenue"]["total"]
                .as_str()
                .is_some_and(|total| total.parse::<f64>().is_ok_and(|total| total > 0.0)) =>
        {
            let digits = |text: &str| -> String {
                text.chars()
                    .filter(|c| c.is_ascii_digit() || *c == '.')
                    .collect()
            };
            let shown: Vec<String> = page["revenue_values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|value| digits(value.as_str().unwrap()))
                .collect();
            let amounts: Vec<String> = ["promoters", "passives", "detractors"]
                .iter()
                .map(|field| digits(report["revenue"][field].as_str().unwrap()))
                .collect();
            assert_eq!(shown, amounts);
            let figures = &page["revenue_figures"];
            assert_eq!(
                figures["revenue-weighted-nps"],
                json!(score(&report["revenue_weighted_nps"]))
            );
            let interval = &report["revenue_weighted_confidence_interval"];
            let shown = figures["revenue-weighted-interval"].as_str().unwrap();
            assert!(
                shown.starts_with(&format!(
                    "{} to {}",
                    score(&interval["low"]),
                    score(&interval["high"])
                )),
                "{shown} for {interval}"
            );
            assert_eq!(
                shown.contains("read it as optimistic"),
                report["revenue_weighted_small_sample"] == true,
                "{shown}"
            );
            assert_eq!(
                digits(figures["revenue-at-risk"].as_str().unwrap()),
                digits(report["revenue_at_risk"].as_str().unwrap())
            );
        }
        _ => assert!(
            page["revenue"]
                .as_str()
                .unwrap()
                .starts_with("No revenue imported yet."),
            "{}",
            page["revenue"]
        ),
    }

    // The latest comments, with their journeys; the hostile one as plain text, first.
    let commented: Vec<Value> = expected.responses["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|answer| answer["comment"].is_string())
        .take(8)
        .map(|answer| {
            json!([
                answer["comment"],
                format!("Journey: {}", journey(&answer["touchpoints"])),
                format!(
                    "{} · {}",
                    answer["score"],
                    answer["category"].as_str().unwrap()
                ),
            ])
        })
        .collect();
    assert_eq!(page["comments"], json!(commented));
    assert_eq!(page["comments"][0][0], hostile);
    assert_eq!(
        page["comments"][0][1],
        "Journey: 2 page views · pricing_viewed → support_contact"
    );
    assert_eq!(page["markup_in_comments"], 0);
    assert_ne!(page["title"], "pwned");

    // Every chart is named and described, with numbers, by its own title and description.
    let images = page["images"].as_array().unwrap();
    assert!(images.len() >= 3, "{images:?}");
    for image in images {
        let [title, description] = [&image[0], &image[1]].map(|text| text.as_str().unwrap());
        assert!(!title.is_empty(), "{image}");
        assert!(description.chars().any(|c| c.is_ascii_digit()), "{image}");
    }
    for section in page["sections"].as_array().unwrap() {
        assert!(section[1].as_u64().unwrap() > 0, "{section} is blank");
    }
}

/// The comparison's sentence against the API's difference, interval and p-value.
fn check_change(page: &Value, change: &Value) {
    if change["difference"].is_null() {
        assert_eq!(page["change"], Value::Null);
        assert!(
            page["comparison"]
                .as_str()
                .unwrap()
                .starts_with("No comparison: one of the two periods has no answers."),
            "{}",
            page["comparison"]
        );
        return;
    }
    let size = score(&json!(change["difference"].as_f64().unwrap().abs()));
    let what = match size.as_str() {
        "0" => "NPS held steady (less than half a point)".to_owned(),
        "1" => format!("NPS {} 1 point", rose_or_fell(change)),
        _ => format!("NPS {} {size} points", rose_or_fell(change)),
    };
    let interval = format!(
        "{what} (95% CI {} to {}); ",
        score(&change["confidence_interval"]["low"]),
        score(&change["confidence_interval"]["high"])
    );
    let sentence = page["change"].as_str().unwrap();
    match change["p_value"].as_f64() {
        None => assert_eq!(
            sentence,
            format!("{interval}there is no p-value: both periods are unanimous.")
        ),
        Some(p) => {
            let chance = if p < 0.05 {
                "this is unlikely to be chance"
            } else {
                "this could be chance"
            };
            let prefix = format!("{interval}{chance} (p ");
            let shown_p = sentence
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(")."))
                .unwrap_or_else(|| panic!("{sentence:?} does not start with {prefix:?}"));
            check_p_value(shown_p, p);
        }
    }
    assert_eq!(page["change_dots"], 1);
}

fn rose_or_fell(change: &Value) -> &'static str {
    if change["difference"].as_f64().unwrap() > 0.0 {
        "rose"
    } else {
        "fell"
    }
}

/// A score as the page shows it: whole points (halves away from zero, as `Intl` rounds), a true
/// minus sign, a dash for none.
fn score(value: &Value) -> String {
    match value.as_f64() {
        None => "–".to_owned(),
        Some(value) => {
            let rounded = value.round() as i64;
            if rounded < 0 {
                format!("\u{2212}{}", -rounded)
            } else {
                rounded.to_string()
            }
        }
    }
}

/// A difference with its sign: "+6", "−12", "0".
fn signed(value: &Value) -> String {
    let shown = score(value);
    match value.as_f64() {
        Some(value) if value.round() > 0.0 => format!("+{shown}"),
        _ => shown,
    }
}

/// A count with thousands separators, as `en-US` writes it.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// "1 answer", "1,234 answers".
fn answers(n: u64) -> String {
    format!("{} {}", count(n), if n == 1 { "answer" } else { "answers" })
}

/// A share from 0 to 1 as a whole percentage.
fn percent(part: f64) -> String {
    format!("{}%", (part * 100.0).round())
}

/// A journey as the page writes it: page views counted, the named touchpoints in order with
/// repeats in a row merged.
fn journey(touchpoints: &Value) -> String {
    let steps = touchpoints.as_array().unwrap();
    let pages = steps
        .iter()
        .filter(|step| step["name"] == "page_view")
        .count();
    let mut moments: Vec<&str> = Vec::new();
    for step in steps {
        let name = step["name"].as_str().unwrap();
        if name != "page_view" && moments.last() != Some(&name) {
            moments.push(name);
        }
    }
    let views = format!("{pages} page {}", if pages == 1 { "view" } else { "views" });
    if moments.is_empty() {
        views
    } else {
        format!("{views} · {}", moments.join(" → "))
    }
}

/// `shown` is "= 0.14" or "< 0.001": the p-value to two significant digits.
fn check_p_value(shown: &str, p: f64) {
    if let Some(bound) = shown.strip_prefix("< ") {
        assert_eq!(bound, "0.001");
        assert!(p < 0.001, "{shown} for {p}");
        return;
    }
    let value: f64 = shown
        .strip_prefix("= ")
        .unwrap_or_else(|| panic!("{shown:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{shown:?}"));
    let number = shown.trim_start_matches("= ");
    let significant = number.replace('.', "");
    assert_eq!(
        significant.trim_start_matches('0').len(),
        2,
        "two significant digits: {shown}"
    );
    // Within half a unit of the last digit shown.
    let unit = 10f64.powi(p.log10().floor() as i32 - 1);
    assert!(
        (value - p).abs() <= unit / 2.0 * (1.0 + 1e-9),
        "{shown} for {p}"
    );
}

/// Full-page screenshots: desktop (1280 px) light and dark, and a 375-pixel phone, where
/// nothing may be wider than the screen.
async fn screenshots(browser: &Client, driver: &ChromeDriver) {
    let shoot = |name: &'static str, width: u32, mobile: bool| async move {
        let metrics = |height: u64| json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile });
        driver
            .cdp(browser, "Emulation.setDeviceMetricsOverride", metrics(800))
            .await;
        // Drawn again at the new width; then the whole page's height.
        tokio::time::sleep(Duration::from_millis(400)).await;
        wait_for_state(browser, "ready").await;
        let height = browser
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        driver
            .cdp(
                browser,
                "Emulation.setDeviceMetricsOverride",
                metrics(height),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let overflow = browser
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{name}: the page is {overflow} px wider than the screen"
        );
        let png = browser.screenshot().await.expect("taking a screenshot");
        save_screenshot(name, &png);
    };
    shoot("dashboard-desktop.png", 1280, false).await;
    shoot("dashboard-phone.png", 375, true).await;
    let dark = json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] });
    driver
        .cdp(browser, "Emulation.setEmulatedMedia", dark)
        .await;
    shoot("dashboard-dark.png", 1280, false).await;
    driver
        .cdp(
            browser,
            "Emulation.setEmulatedMedia",
            json!({ "features": [] }),
        )
        .await;
    driver
        .cdp(browser, "Emulation.clearDeviceMetricsOverride", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Tab from the top of the page reaches sign-out and every control, in order.
async fn keyboard_reaches_every_control(browser: &Client) {
    // Focus (and so the sequential navigation's starting point) at the top of the page.
    browser
        .execute(
            "const top = document.querySelector('h1'); top.tabIndex = -1; top.focus(); \
             window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .unwrap();
    let mut reached = Vec::new();
    for _ in 0..6 {
        press(browser, &[Key::Tab.into()]).await;
        let id = browser
            .execute("return document.activeElement?.id ?? null;", vec![])
            .await
            .unwrap();
        reached.push(id.as_str().unwrap_or_default().to_owned());
    }
    let controls: Vec<&str> = reached
        .iter()
        .map(String::as_str)
        .filter(|id| !id.is_empty())
        .collect();
    assert!(
        controls.starts_with(&["sign-out", "period", "bucket", "survey", "tz"]),
        "{reached:?}"
    );
}
