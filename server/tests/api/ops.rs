//! Health checks, metrics, and the JSON answers for paths nothing serves.

use crate::helpers::*;
use crate::on_every_backend;
use crate::process::Collector;
use serde_json::{Value, json};
use touchstone_server::api_key::KeyScope;

on_every_backend!(
    health_and_readiness_answer,
    unknown_paths_get_a_json_404,
    metrics_count_what_the_collector_did
);

async fn health_and_readiness_answer(app: TestApp) {
    assert_eq!(app.get_as("/healthz", None).await.status(), 200);
    assert_eq!(app.get_as("/readyz", None).await.status(), 200);
}

async fn unknown_paths_get_a_json_404(app: TestApp) {
    for path in [
        "/v1/nothing",
        "/no/such/page.html",
        "/../Cargo.toml",
        "/loader.js",
        "/widget/0000/touchstone_widget.js",
    ] {
        assert_eq!(
            error_code(app.get_as(path, None).await, 404).await,
            "not_found",
            "{path}"
        );
    }
    let post_to_a_report = app
        .client
        .post(format!("{}/v1/sites/demo/nps", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(post_to_a_report, 405).await,
        "method_not_allowed"
    );
    // Without a built widget the loader says how to build it.
    assert_eq!(
        error_code(app.get_as("/touchstone.js", None).await, 503).await,
        "widget_not_built"
    );
}

async fn metrics_count_what_the_collector_did(app: TestApp) {
    assert_eq!(
        app.collect(&batch(vec![response(9, noon()), response(3, noon())]))
            .await
            .status(),
        200
    );
    assert_eq!(app.post_collect("{", "text/plain").await.status(), 400);
    let response = app.get_as("/metrics", None).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for expected in [
        "touchstone_events_stored_total ",
        "touchstone_events_duplicate_total ",
        "touchstone_events_from_bots_total ",
        "touchstone_collect_rejected_total{reason=\"malformed_json\"} ",
        "touchstone_commit_events_bucket",
        "touchstone_commit_seconds_bucket",
        "touchstone_queue_depth ",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // Counters are per process, shared by the tests running in it: at least this test's events.
    let stored: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("touchstone_events_stored_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(stored >= 2.0);
}

/// Runs the collector with every log target at `debug`, in JSON, through everything that
/// carries a respondent's data or a secret, and reads its log: nothing of it may be there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_hold_no_comment_customer_visitor_address_or_key() {
    let database = TestDatabase::sqlite();
    let log_file = database.folder().join("collector.log");
    let mut collector = Collector::start_logging(&database.url, "debug", &log_file);
    let read_key = collector.create_site("demo", SHOP_ORIGIN);
    let admin_key = create_key(&database.url, "demo", KeyScope::Admin).await;

    let comment = "the courier xyzzy-comment was rude";
    let customer = "private.person@example.com";
    let address = "203.0.113.77";
    let visitor = event_id();
    let answer = json!({ "type": "response", "id": event_id(), "at": noon(), "score": 2,
                         "comment": comment });
    let identify = json!({ "type": "identify", "id": event_id(), "at": noon(),
                           "customer": customer, "traits": { "plan": "xyzzy-plan" } });
    let client = crate::helpers::http_client();
    let post = |body: Value| {
        client
            .post(format!("{}/v1/collect", collector.address))
            .header("content-type", "text/plain")
            .header("origin", SHOP_ORIGIN)
            .header("x-forwarded-for", address)
            .body(body.to_string())
            .send()
    };
    let stored = post(json!({ "site": "demo", "visitor": visitor, "events": [answer, identify] }));
    assert_eq!(stored.await.unwrap().status(), 200);
    // Refused batches log their reasons: still nothing of the respondent.
    let mut too_high = answer.clone();
    too_high["score"] = 11.into();
    let refused = post(json!({ "site": "demo", "visitor": visitor, "events": [too_high] }));
    assert_eq!(refused.await.unwrap().status(), 400);
    let keyed = |path: &str, key: &str| {
        client
            .post(format!(
                "{}/v1/sites/demo/privacy/{path}",
                collector.address
            ))
            .bearer_auth(key)
            .json(&json!({ "customer": customer }))
            .send()
    };
    assert_eq!(keyed("export", &read_key).await.unwrap().status(), 403);
    assert_eq!(keyed("export", &admin_key).await.unwrap().status(), 200);
    assert_eq!(keyed("erase", &read_key).await.unwrap().status(), 403);
    assert_eq!(keyed("erase", &admin_key).await.unwrap().status(), 200);
    let report = client
        .get(format!("{}/v1/sites/demo/nps", collector.address))
        .bearer_auth(&read_key)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    assert!(collector.terminate().success());

    let log = std::fs::read_to_string(&log_file).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.len() >= 10,
        "the debug log should say something: {log}"
    );
    for line in &lines {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
    }
    for secret in [
        comment, "xyzzy", customer, address, &visitor, &read_key, &admin_key,
    ] {
        assert!(
            !log.contains(secret),
            "the log holds {secret:?}:\n{}",
            lines
                .iter()
                .filter(|line| line.contains(secret))
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
