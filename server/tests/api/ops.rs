//! Health checks, metrics, and the JSON answers for paths nothing serves.

use crate::helpers::*;
use crate::on_every_backend;

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
