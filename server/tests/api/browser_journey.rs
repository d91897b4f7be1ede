//! The journey, delivery and "when to ask" in a real browser: scenarios run by `browser.rs` in
//! its one Chromium, each against a collector of its own (so each has its own origin and so
//! its own `localStorage`), on every backend.
//!
//! Besides checking, they measure and print: the long tasks (> 50 ms) the widget adds to a page
//! and the time from `touchstone('show')` to the survey on screen.

use crate::browser::wait_for_survey_state;
use crate::helpers::TestDatabase;
use crate::process::Collector;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use touchstone_server::api_key::KeyScope;

/// A collector with the demo site and the keys the scenarios need.
struct Shop {
    collector: Collector,
    database_url: String,
    admin_key: String,
    http: reqwest::Client,
}

impl Shop {
    /// A collector on a fresh database like `like`'s, whose demo site runs `surveys`.
    async fn open(like: &TestDatabase, widget_dir: &Path, surveys: Value) -> (TestDatabase, Self) {
        let database = match like.backend {
            "sqlite" => TestDatabase::sqlite(),
            _ => TestDatabase::postgres()
                .await
                .expect("PostgreSQL, as for the first database"),
        };
        let collector = Collector::start(&database.url, widget_dir);
        collector.create_site("demo", &collector.address);
        let admin_key = crate::helpers::create_key(&database.url, "demo", KeyScope::Admin).await;
        let shop = Shop {
            collector,
            database_url: database.url.clone(),
            admin_key,
            http: reqwest::Client::new(),
        };
        shop.set_surveys(surveys).await;
        (database, shop)
    }

    fn url(&self, path: &str) -> String {
        [self.collector.address.as_str(), path].concat()
    }

    /// Replaces the site's survey configuration.
    async fn set_surveys(&self, surveys: Value) {
        let response = self
            .http
            .put(self.url("/v1/sites/demo/surveys"))
            .bearer_auth(&self.admin_key)
            .json(&surveys)
            .send()
            .await
            .expect("putting the survey configuration");
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }

    /// Everything the collector holds about `visitor`, oldest first.
    async fn events_of(&self, visitor: &str) -> Vec<Value> {
        let export: Value = self
            .http
            .post(self.url("/v1/sites/demo/privacy/export"))
            .bearer_auth(&self.admin_key)
            .json(&json!({ "visitor": visitor }))
            .send()
            .await
            .expect("exporting a visitor")
            .json()
            .await
            .expect("an export");
        export["events"].as_array().cloned().unwrap_or_default()
    }

    /// The visitor's events once `ready` holds for them, or a failure after 20 s.
    async fn wait_for_events(&self, visitor: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.events_of(visitor).await;
            if ready(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the collector never held the expected events: {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Opens `path` on a browser with none of this site's storage.
    async fn visit_afresh(&self, browser: &Client, path: &str) {
        browser
            .goto(&self.url("/"))
            .await
            .expect("opening the collector");
        browser
            .execute("localStorage.clear();", vec![])
            .await
            .expect("clearing localStorage");
        browser.goto(&self.url(path)).await.expect("opening a page");
    }
}

/// Every journey scenario in `browser`, on fresh databases of `like`'s backend (the demo site
/// there belongs to another collector's origin). Browsers cache a site's survey configuration
/// for five minutes, so each configuration gets a collector (an origin) of its own.
pub async fn scenarios(browser: &Client, like: &TestDatabase, widget_dir: &Path) {
    let backend = like.backend;
    let (database, mut shop) = Shop::open(like, widget_dir, manual_surveys()).await;
    a_single_page_app_reports_each_navigation_and_markup_touchpoints(browser, &shop).await;
    eprintln!("{backend}: single-page app journey ok");
    events_recorded_offline_arrive_once_the_collector_is_back(browser, &mut shop, widget_dir).await;
    eprintln!("{backend}: offline then online ok");
    the_survey_works_under_a_strict_csp_and_shows_quickly(browser, &shop).await;
    eprintln!("{backend}: strict CSP ok");
    drop((shop, database));

    let (database, shop) = Shop::open(like, widget_dir, first_page_surveys()).await;
    a_visitor_who_answered_is_not_asked_again(browser, &shop).await;
    eprintln!("{backend}: throttling ok");
    for signal in ["gpc", "dnt"] {
        a_privacy_signal_sends_nothing_identifying(browser, &shop, signal).await;
        eprintln!("{backend}: privacy signal {signal} ok");
    }
    consent_mode_records_only_between_consent_and_its_withdrawal(browser, &shop).await;
    eprintln!("{backend}: consent mode ok");
    drop((shop, database));

    a_survey_module_that_fails_to_load_breaks_nothing(browser, like, widget_dir).await;
    eprintln!("{backend}: broken survey module ok");
}

/// Only `touchstone('show')` shows a survey.
fn manual_surveys() -> Value {
    json!({ "surveys": [{ "id": "nps", "targeting": { "trigger": { "type": "manual" } } }] })
}

/// The survey from the first page of a session.
fn first_page_surveys() -> Value {
    json!({ "surveys": [{ "id": "nps", "targeting": { "trigger": { "type": "page_views", "count": 1 } } }] })
}

/// The visitor id the widget keeps, once it has started.
async fn visitor(browser: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let id = browser
            .execute("return localStorage.getItem('touchstone.visitor');", vec![])
            .await
            .expect("reading localStorage");
        if let Some(id) = id.as_str() {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "the widget never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, vec![])
        .await
        .unwrap_or_else(|error| panic!("running {script}: {error}"))
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["name"] == name)
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["type"] == kind)
        .collect()
}

async fn a_single_page_app_reports_each_navigation_and_markup_touchpoints(
    browser: &Client,
    shop: &Shop,
) {
    shop.visit_afresh(
        browser,
        "/test/app.html?utm_source=newsletter&utm_campaign=spring&email=a@b.example",
    )
    .await;
    let visitor = visitor(browser).await;
    // One navigation at a time, a little apart, so their times order them.
    for step in [
        "history.pushState({}, '', '/test/app/pricing?plan=pro');",
        "history.replaceState({ same: true }, '', location.href);",
        "history.pushState({}, '', '/test/app/cart');",
        "history.back();",
    ] {
        run(browser, step).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // The markup touchpoint: a click inside the element that names it.
    click(browser, "#support span").await;
    run(
        browser,
        "touchstone('touch', 'pricing_viewed', { plan: 'pro' }); \
         touchstone('identify', 'cus_42', { plan: 'pro', seats: 3 });",
    )
    .await;

    let events = shop
        .wait_for_events(&visitor, |events| events.len() >= 7)
        .await;
    let pages: Vec<&str> = named(&events, "page_view")
        .iter()
        .map(|event| event["url"].as_str().unwrap())
        .collect();
    let address = &shop.collector.address;
    assert_eq!(
        pages,
        [
            format!("{address}/test/app.html"),
            format!("{address}/test/app/pricing"),
            format!("{address}/test/app/cart"),
            format!("{address}/test/app/pricing"),
        ],
        "one page view per new address, none for a replaceState to the same one: {events:#?}"
    );
    let first = &events[0];
    assert_eq!(first["utm_source"], "newsletter", "{first}");
    assert_eq!(first["utm_campaign"], "spring", "{first}");
    assert!(
        events[1..]
            .iter()
            .all(|event| event["utm_source"].is_null()),
        "UTM tags only on the session's first touchpoint: {events:#?}"
    );
    assert_eq!(named(&events, "support_contact").len(), 1, "{events:#?}");
    assert_eq!(named(&events, "pricing_viewed").len(), 1, "{events:#?}");
    let identify = of_type(&events, "identify");
    assert_eq!(identify.len(), 1, "{events:#?}");
    assert_eq!(identify[0]["customer"], "cus_42");
    assert_eq!(
        identify[0]["traits"],
        json!({ "plan": "pro", "seats": "3" })
    );
    assert_eq!(events.len(), 7, "nothing else: {events:#?}");
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("a@b.example"),
        "no query string is stored"
    );

    // No survey was due on these pages, so the survey module (Yew) was never downloaded: only
    // the loader's core. Then `touchstone('show')` fetches it and the survey appears.
    let loaded = |file: &'static str| {
        format!(
            "return performance.getEntriesByType('resource')\
             .some(function (entry) {{ return entry.name.endsWith('/{file}'); }});"
        )
    };
    assert_eq!(
        run(browser, &loaded("touchstone_widget_bg.wasm")).await,
        true
    );
    assert_eq!(
        run(browser, &loaded("touchstone_survey.js")).await,
        false,
        "the survey module is fetched only when a survey is shown"
    );
    run(browser, "touchstone('show');").await;
    wait_for_survey_state(browser, "asking").await;
    assert_eq!(
        run(browser, &loaded("touchstone_survey_bg.wasm")).await,
        true
    );
    the_widget_arrives_compressed(browser).await;
}

/// Every file of the widget reached the browser compressed (its body on the wire is smaller
/// than the file), and what a first visit and the survey module cost on the wire is printed.
async fn the_widget_arrives_compressed(browser: &Client) {
    let entries = run(
        browser,
        "return performance.getEntriesByType('resource') \
           .filter(function (e) { return /\\/touchstone\\.js|\\/widget\\//.test(e.name); }) \
           .map(function (e) { return [e.name.split('?')[0].split('/').pop(), e.encodedBodySize, e.decodedBodySize]; });",
    )
    .await;
    let sizes: Vec<(String, u64, u64)> = serde_json::from_value(entries).unwrap();
    let size = |file: &str| {
        let found = sizes.iter().find(|(name, _, _)| name == file);
        let &(_, encoded, decoded) = found.unwrap_or_else(|| panic!("{file} in {sizes:?}"));
        assert!(
            encoded > 0 && encoded < decoded,
            "{file} arrived uncompressed: {encoded} bytes for {decoded}"
        );
        encoded
    };
    let first_visit: u64 = [
        "touchstone.js",
        "touchstone_widget.js",
        "touchstone_widget_bg.wasm",
    ]
    .into_iter()
    .map(size)
    .sum();
    let survey: u64 = ["touchstone_survey.js", "touchstone_survey_bg.wasm"]
        .into_iter()
        .map(size)
        .sum();
    let encoding = run(
        browser,
        "return fetch('/touchstone.js', { cache: 'no-store' }).then(function (r) { return r.headers.get('content-encoding'); });",
    )
    .await;
    eprintln!(
        "measured (Chromium over http; the loader came {encoding}-encoded): a first visit \
         downloads {:.1} KB of widget (target ≤ 45), the survey module {:.1} KB more",
        first_visit as f64 / 1024.0,
        survey as f64 / 1024.0
    );
    assert!(
        first_visit < 80 * 1024,
        "{first_visit} bytes on a first visit"
    );
}

async fn events_recorded_offline_arrive_once_the_collector_is_back(
    browser: &Client,
    shop: &mut Shop,
    widget_dir: &Path,
) {
    shop.visit_afresh(browser, "/test/app.html").await;
    let visitor = visitor(browser).await;
    shop.wait_for_events(&visitor, |events| events.len() == 1)
        .await;

    let address = shop.collector.address.clone();
    shop.collector.terminate();
    run(
        browser,
        "history.pushState({}, '', '/test/app/offline-1'); \
         touchstone('touch', 'pricing_viewed'); \
         history.pushState({}, '', '/test/app/offline-2');",
    )
    .await;
    // Delivery fails a few times meanwhile; the events wait in this tab's queue on the device.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let queued = run(
        browser,
        "return Object.keys(localStorage).filter(k => k.startsWith('touchstone.q.')) \
           .map(k => localStorage.getItem(k).split('\\n').length - 1) \
           .reduce((a, b) => a + b, 0);",
    )
    .await;
    assert_eq!(
        queued,
        json!(3),
        "the three events are kept on the device while offline"
    );

    shop.collector = Collector::start_at(&shop.database_url, widget_dir, &address);
    let events = shop
        .wait_for_events(&visitor, |events| events.len() >= 4)
        .await;
    // Give any duplicate a chance to show up, then count again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let events_later = shop.events_of(&visitor).await;
    assert_eq!(events, events_later);
    let mut ids: Vec<&str> = events
        .iter()
        .map(|event| event["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every event exactly once: {events:#?}");
    assert_eq!(named(&events, "page_view").len(), 3, "{events:#?}");
    assert_eq!(named(&events, "pricing_viewed").len(), 1, "{events:#?}");
    let queued = run(
        browser,
        "return Object.keys(localStorage).filter(k => k.startsWith('touchstone.q.')).length;",
    )
    .await;
    assert_eq!(
        queued,
        json!(0),
        "an acknowledged queue is removed from the device"
    );
}

async fn a_visitor_who_answered_is_not_asked_again(browser: &Client, shop: &Shop) {
    shop.visit_afresh(browser, "/shop/").await;
    let visitor = visitor(browser).await;
    wait_for_survey_state(browser, "asking").await;
    answer(browser, "9").await;
    wait_for_survey_state(browser, "thanks").await;

    // The next page of the session, then a visit after the session ended.
    for (page, new_visit) in [("/shop/pricing.html", false), ("/shop/product.html", true)] {
        if new_visit {
            run(browser, "localStorage.removeItem('touchstone.session');").await;
        }
        browser.goto(&shop.url(page)).await.expect("opening a page");
        let url = shop.url(page);
        shop.wait_for_events(&visitor, |events| {
            events.iter().any(|event| event["url"] == url.as_str())
        })
        .await;
        // The configuration is read and the decision taken right after the page view.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let state = run(browser, READ_STATE).await;
        assert_eq!(state, Value::Null, "asked again on {page}");
    }
    let events = shop.events_of(&visitor).await;
    let shown = of_type(&events, "shown");
    assert_eq!(shown.len(), 1, "{events:#?}");
    assert_eq!(shown[0]["survey"], "nps");
    let responses = of_type(&events, "response");
    assert_eq!(responses.len(), 1, "{events:#?}");
    assert_eq!(responses[0]["score"], 9);
    assert_eq!(responses[0]["survey"], "nps");
    assert_eq!(responses[0]["language"], "en");
    assert_eq!(responses[0]["device"], "desktop");
}

async fn the_survey_works_under_a_strict_csp_and_shows_quickly(browser: &Client, shop: &Shop) {
    shop.visit_afresh(browser, "/test/csp.html").await;
    let visitor = visitor(browser).await;
    // Let the widget read the configuration, as it would have long before a visitor acts.
    shop.wait_for_events(&visitor, |events| events.len() == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let elapsed = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const start = performance.now(); \
             touchstone('show'); \
             (function check() { \
               const host = document.getElementById('touchstone-widget'); \
               const card = host && host.shadowRoot && host.shadowRoot.querySelector('[data-touchstone-state]'); \
               if (card && card.getBoundingClientRect().height > 0) return done(performance.now() - start); \
               if (performance.now() - start > 5000) return done(null); \
               requestAnimationFrame(check); \
             })();",
            vec![],
        )
        .await
        .expect("timing touchstone('show')");
    let elapsed = elapsed
        .as_f64()
        .expect("the survey appeared within 5 s of touchstone('show')");
    let position = run(
        browser,
        "const card = document.getElementById('touchstone-widget').shadowRoot.querySelector('.card'); \
         return getComputedStyle(card).position;",
    )
    .await;
    assert_eq!(
        position, "fixed",
        "the widget's styles apply under style-src 'self'"
    );
    answer(browser, "7").await;
    wait_for_survey_state(browser, "thanks").await;
    let events = shop
        .wait_for_events(&visitor, |events| !of_type(events, "response").is_empty())
        .await;
    assert_eq!(of_type(&events, "response")[0]["score"], 7);

    let long_tasks = run(browser, "return window.__longtasks;").await;
    let durations: Vec<f64> = long_tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["duration"].as_f64().unwrap())
        .collect();
    eprintln!(
        "measured (strict CSP page): touchstone('show') to survey visible {elapsed:.1} ms (target ≤ 100); \
         long tasks (> 50 ms) on the page: {} (total {:.0} ms, longest {:.0} ms)",
        durations.len(),
        durations
            .iter()
            .fold(0.0, |total, duration| total + duration),
        durations.iter().cloned().fold(0.0, f64::max),
    );
    assert!(elapsed < 1_000.0, "touchstone('show') took {elapsed} ms");
}

/// Global Privacy Control (`gpc`) or Do Not Track (`dnt`): nothing is stored on the device and
/// nothing identifying is sent; an explicit `touchstone('show')` still asks, anonymously.
async fn a_privacy_signal_sends_nothing_identifying(browser: &Client, shop: &Shop, signal: &str) {
    // The configuration asks at once, if the visitor could be recorded.
    shop.visit_afresh(browser, &format!("/test/gpc.html?signal={signal}"))
        .await;
    click(browser, "#support").await;
    run(
        browser,
        "touchstone('identify', 'cus_gpc', { plan: 'pro' }); touchstone('touch', 'pricing_viewed');",
    )
    .await;
    // Long enough for the widget to load, read the configuration and (not) decide.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        run(browser, READ_STATE).await,
        Value::Null,
        "no survey by itself"
    );

    run(browser, "touchstone('show');").await;
    wait_for_survey_state(browser, "asking").await;
    answer(browser, "10").await;
    wait_for_survey_state(browser, "thanks").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let bodies = loop {
        let sent = run(
            browser,
            "return window.__sent.filter(b => b.includes('\"events\"'));",
        )
        .await;
        let bodies: Vec<Value> = sent
            .as_array()
            .unwrap()
            .iter()
            .map(|body| serde_json::from_str(body.as_str().unwrap()).unwrap())
            .collect();
        if bodies
            .iter()
            .any(|body| body.to_string().contains("\"response\""))
        {
            break bodies;
        }
        assert!(
            Instant::now() < deadline,
            "the answer was never sent: {bodies:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stored = run(
        browser,
        "return Object.keys(localStorage).filter(k => k.startsWith('touchstone'));",
    )
    .await;
    assert_eq!(stored, json!([]), "nothing is stored on the device");
    let text = serde_json::to_string(&bodies).unwrap();
    for identifying in ["cus_gpc", "touchpoint", "identify", "\"url\"", "referrer"] {
        assert!(
            !text.contains(identifying),
            "{identifying} was sent: {text}"
        );
    }
    let visitor = bodies[0]["visitor"].as_str().unwrap().to_owned();
    assert!(
        bodies
            .iter()
            .all(|body| body["visitor"] == visitor.as_str())
    );
    let events = shop
        .wait_for_events(&visitor, |events| !of_type(events, "response").is_empty())
        .await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["shown", "response"], "{events:#?}");
}

/// A survey module that fails to load (here a corrupt wasm file) breaks nothing: no error reaches
/// the page, nothing is recorded as shown, the journey goes on, and once the module loads again
/// the next page of the session asks (the failed attempt did not use up the session's survey).
async fn a_survey_module_that_fails_to_load_breaks_nothing(
    browser: &Client,
    like: &TestDatabase,
    widget_dir: &Path,
) {
    let broken = tempfile::tempdir().expect("making a temporary folder");
    for entry in std::fs::read_dir(widget_dir).expect("reading the widget folder") {
        let path = entry.expect("a widget file").path();
        if path.is_file() {
            std::fs::copy(&path, broken.path().join(path.file_name().unwrap()))
                .expect("copying a widget file");
        }
    }
    std::fs::write(
        broken.path().join("touchstone_survey_bg.wasm"),
        b"\0asm, but not really",
    )
    .expect("breaking the survey module");
    for compressed in [
        "touchstone_survey_bg.wasm.br",
        "touchstone_survey_bg.wasm.gz",
    ] {
        std::fs::remove_file(broken.path().join(compressed)).expect("removing a compressed file");
    }
    let (_database, mut shop) = Shop::open(like, broken.path(), manual_surveys()).await;

    shop.visit_afresh(browser, "/test/app.html").await;
    let visitor = visitor(browser).await;
    shop.wait_for_events(&visitor, |events| events.len() == 1)
        .await;
    run(
        browser,
        "window.__errors = []; window.__warnings = []; \
         addEventListener('error', function (e) { __errors.push(String(e.message)); }); \
         addEventListener('unhandledrejection', function (e) { __errors.push(String(e.reason)); }); \
         var warn = console.warn; \
         console.warn = function () { __warnings.push([].join.call(arguments, ' ')); warn.apply(console, arguments); }; \
         touchstone('show');",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let warnings = loop {
        let warnings = run(browser, "return window.__warnings;").await;
        if warnings.as_array().is_some_and(|list| !list.is_empty()) {
            break warnings;
        }
        assert!(Instant::now() < deadline, "the failure was never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("touchstone: the survey could not be shown"),
        "{warnings}"
    );
    assert_eq!(run(browser, READ_STATE).await, Value::Null);
    run(browser, "touchstone('touch', 'pricing_viewed');").await;
    let events = shop
        .wait_for_events(&visitor, |events| {
            !named(events, "pricing_viewed").is_empty()
        })
        .await;
    assert!(of_type(&events, "shown").is_empty(), "{events:#?}");
    assert_eq!(
        run(browser, "return window.__errors;").await,
        json!([]),
        "nothing is thrown into the page"
    );

    // The collector comes back with a working widget; the next page of the session asks.
    let address = shop.collector.address.clone();
    shop.collector.terminate();
    shop.collector = Collector::start_at(&shop.database_url, widget_dir, &address);
    browser
        .goto(&shop.url("/test/after-restart.html"))
        .await
        .expect("opening a page");
    assert_eq!(self::visitor(browser).await, visitor, "the same visitor");
    shop.wait_for_events(&visitor, |events| named(events, "page_view").len() == 2)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    run(browser, "touchstone('show');").await;
    wait_for_survey_state(browser, "asking").await;
    let events = shop
        .wait_for_events(&visitor, |events| !of_type(events, "shown").is_empty())
        .await;
    assert_eq!(of_type(&events, "shown").len(), 1, "{events:#?}");
}

/// With `data-consent="required"`: nothing is stored or sent, and no survey asks by itself,
/// until `touchstone('consent', true)`; then the visitor is recorded from that page on;
/// `touchstone('consent', false)` deletes everything the widget stored and stops recording,
/// on this page and the next.
async fn consent_mode_records_only_between_consent_and_its_withdrawal(
    browser: &Client,
    shop: &Shop,
) {
    const STORED: &str =
        "return Object.keys(localStorage).filter(k => k.startsWith('touchstone')).sort();";
    const SENT: &str = "return window.__sent.filter(b => b.includes('\"events\"'));";
    shop.visit_afresh(browser, "/test/consent.html").await;
    click(browser, "#support").await;
    run(browser, "touchstone('touch', 'pricing_viewed');").await;
    // Long enough for the widget to load, read the configuration and (not) decide.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(run(browser, STORED).await, json!([]), "nothing stored");
    assert_eq!(run(browser, SENT).await, json!([]), "nothing sent");
    assert_eq!(run(browser, READ_STATE).await, Value::Null, "no survey");

    run(browser, "touchstone('consent', true);").await;
    // The survey of the first page asks now: the page counts from the moment of consent.
    wait_for_survey_state(browser, "asking").await;
    let visitor = visitor(browser).await;
    let events = shop
        .wait_for_events(&visitor, |events| !of_type(events, "shown").is_empty())
        .await;
    assert_eq!(named(&events, "page_view").len(), 1, "{events:#?}");
    assert!(
        named(&events, "support_contact").is_empty() && named(&events, "pricing_viewed").is_empty(),
        "nothing from before consent: {events:#?}"
    );
    let stored = run(browser, STORED).await;
    assert!(
        stored
            .as_array()
            .unwrap()
            .contains(&json!("touchstone.consent")),
        "{stored}"
    );

    run(
        browser,
        "touchstone('consent', false); touchstone('touch', 'after_withdrawal');",
    )
    .await;
    assert_eq!(run(browser, STORED).await, json!([]), "everything deleted");
    browser
        .goto(&shop.url("/test/consent.html"))
        .await
        .expect("opening the next page");
    run(browser, "touchstone('touch', 'on_the_next_page');").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        run(browser, STORED).await,
        json!([]),
        "nothing stored again"
    );
    assert_eq!(run(browser, SENT).await, json!([]), "nothing sent again");
    let events = shop.events_of(&visitor).await;
    for name in ["after_withdrawal", "on_the_next_page"] {
        assert!(named(&events, name).is_empty(), "{events:#?}");
    }
}

/// Clicks the element `selector` finds (the support button, in these pages).
async fn click(browser: &Client, selector: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("finding {selector}: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("clicking {selector}: {error}"));
}

const READ_STATE: &str = "const host = document.getElementById('touchstone-widget'); \
    const node = host && host.shadowRoot && host.shadowRoot.querySelector('[data-touchstone-state]'); \
    return node ? node.getAttribute('data-touchstone-state') : null;";

/// Answers the survey with `score` and no comment: clicks the score, then Skip on the
/// follow-up question.
async fn answer(browser: &Client, score: &str) {
    let host = browser
        .find(Locator::Css("#touchstone-widget"))
        .await
        .expect("the widget's host element");
    let shadow = host.shadow_root().await.expect("the widget's shadow root");
    shadow
        .find(Locator::Css(&format!(r#"[data-score="{score}"]"#)))
        .await
        .expect("a score button")
        .click()
        .await
        .expect("clicking a score");
    wait_for_survey_state(browser, "follow-up").await;
    shadow
        .find(Locator::Css(".skip"))
        .await
        .expect("the follow-up's Skip button")
        .click()
        .await
        .expect("clicking Skip");
}
