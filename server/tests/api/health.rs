//! Health checks and the JSON answers for paths nothing serves.

use crate::helpers::*;
use crate::on_every_backend;

on_every_backend!(health_and_readiness_answer, unknown_paths_get_a_json_404);

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
