//! The read API: who may read a site's reports, and what the NPS and touchpoint reports say.

use crate::helpers::*;
use crate::on_every_backend;
use serde_json::{Value, json};
use touchstone_shared::Tally;

on_every_backend!(
    reports_need_a_valid_key_for_that_very_site,
    the_nps_of_a_site_without_answers_is_null,
    the_nps_counts_each_category_and_gives_its_95_percent_interval,
    the_nps_covers_only_the_period_asked_for,
    a_malformed_period_is_refused,
    the_touchpoint_report_counts_each_moment,
);

async fn reports_need_a_valid_key_for_that_very_site(app: TestApp) {
    let path = format!("/v1/sites/{}/nps", app.site);
    assert_eq!(
        error_code(app.get_as(&path, None).await, 401).await,
        "unauthorized"
    );
    assert_eq!(
        error_code(app.get_as(&path, Some("tsk_wrong")).await, 401).await,
        "unauthorized"
    );
    let (other_site, other_key) = app.create_site("other").await;
    assert_eq!(
        error_code(app.get_as(&path, Some(&other_key)).await, 401).await,
        "unauthorized"
    );
    let other_path = format!("/v1/sites/{other_site}/touchpoints");
    assert_eq!(
        error_code(app.get_as(&other_path, Some(&app.api_key)).await, 401).await,
        "unauthorized"
    );
    // A site that does not exist answers exactly like one the key does not open.
    let missing = app.get_as("/v1/sites/nobody/nps", Some(&app.api_key)).await;
    assert_eq!(error_code(missing, 401).await, "unauthorized");
    assert_eq!(
        app.get_as(&other_path, Some(&other_key)).await.status(),
        200
    );
}

async fn the_nps_of_a_site_without_answers_is_null(app: TestApp) {
    let report = app.nps("").await;
    assert_eq!(report["responses"], 0);
    assert_eq!(report["nps"], Value::Null);
    assert_eq!(report["confidence_interval"], Value::Null);
}

async fn the_nps_counts_each_category_and_gives_its_95_percent_interval(app: TestApp) {
    // 5 promoters (9, 10), 3 passives (7, 8), 2 detractors (0, 6): NPS = 50% − 20% = 30.
    let scores = [9, 10, 9, 10, 10, 7, 8, 8, 0, 6];
    let events = scores
        .iter()
        .map(|&score| response(score, noon()))
        .collect();
    assert_eq!(app.collect(&batch(events)).await.status(), 200);

    let report = app.nps("").await;
    assert_eq!(
        (
            report["promoters"].clone(),
            report["passives"].clone(),
            report["detractors"].clone()
        ),
        (json!(5), json!(3), json!(2))
    );
    assert_eq!(report["responses"], 10);
    assert!((report["nps"].as_f64().unwrap() - 30.0).abs() < 1e-9);
    // Var = (0.5 + 0.2 − 0.3²) / 10 = 0.061; margin = 1.96 × √0.061 × 100 ≈ 48.41 points.
    let margin = report["margin_of_error"].as_f64().unwrap();
    assert!((margin - 48.407).abs() < 0.01, "{margin}");
    assert_eq!(margin, Tally::new(5, 3, 2).margin_of_error().unwrap());
    assert!(
        (report["confidence_interval"]["low"].as_f64().unwrap() - (30.0 - margin)).abs() < 1e-9
    );
    assert!(
        (report["confidence_interval"]["high"].as_f64().unwrap() - (30.0 + margin)).abs() < 1e-9
    );
    assert_eq!(report["confidence_level"], 0.95);
}

async fn the_nps_covers_only_the_period_asked_for(app: TestApp) {
    let (before, day, after) = (noon_days_ago(3), noon_days_ago(2), noon_days_ago(1));
    let events = vec![response(10, before), response(0, day), response(0, after)];
    assert_eq!(app.collect(&batch(events)).await.status(), 200);

    let date = date_of(day);
    let that_day = app.nps(&format!("?from={date}&to={date}")).await;
    assert_eq!(that_day["responses"], 1);
    assert_eq!(that_day["from"], format!("{date}T00:00:00Z"));
    assert_eq!(that_day["to"], format!("{}T00:00:00Z", date_of(after)));
    assert_eq!(
        app.nps(&format!("?to={date}T12:00:00Z")).await["promoters"],
        1,
        "`to` instants are exclusive"
    );
    assert_eq!(app.nps(&format!("?from={date}")).await["detractors"], 2);
    // Bounds inside an hour are answered exactly, from the raw events at the edges.
    assert_eq!(
        app.nps(&format!(
            "?from={date}T11:59:59.999Z&to={date}T12:00:00.001Z"
        ))
        .await["responses"],
        1
    );
    assert_eq!(
        app.nps(&format!("?from={date}T12:00:00.001Z&to={date}T13:00:00Z"))
            .await["responses"],
        0
    );
    assert_eq!(app.nps("").await["responses"], 3);
}

async fn a_malformed_period_is_refused(app: TestApp) {
    for query in [
        "?from=last-week",
        "?to=2025-02-30",
        "?from=2025-11-21&to=2025-11-20",
    ] {
        let response = app
            .get_with_key(&format!("/v1/sites/{}/nps{query}", app.site))
            .await;
        assert_eq!(
            error_code(response, 400).await,
            "invalid_parameter",
            "{query}"
        );
    }
}

async fn the_touchpoint_report_counts_each_moment(app: TestApp) {
    let events = vec![
        touchpoint("page_view", noon()),
        touchpoint("page_view", noon()),
        touchpoint("pricing_viewed", noon()),
        response(8, noon()),
    ];
    assert_eq!(app.collect(&batch(events)).await.status(), 200);
    let response = app
        .get_with_key(&format!("/v1/sites/{}/touchpoints", app.site))
        .await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(
        report["touchpoints"],
        json!([{"name": "page_view", "count": 2}, {"name": "pricing_viewed", "count": 1}])
    );
}
