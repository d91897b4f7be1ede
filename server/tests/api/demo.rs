//! The demo generator against a real database: deterministic, and stored so that the rollups
//! equal the raw rows.

use crate::helpers::*;
use crate::on_every_backend;
use touchstone_server::demo::{self, DemoSettings};
use touchstone_server::store;

on_every_backend!(seeding_is_repeatable_and_keeps_the_rollups_equal_to_the_raw_rows);

/// Rows that differ between the rollups and the same counts taken from the raw events, in both
/// directions. The same SQL runs on both backends.
const ROLLUP_MISMATCHES: &str = "
SELECT
  (SELECT COUNT(*) FROM (
     SELECT site_id, quarter_hour, promoters, passives, detractors FROM nps_rollup
     EXCEPT
     SELECT site_id, occurred_at / 900000 * 900000,
            SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END),
            SUM(CASE WHEN score BETWEEN 7 AND 8 THEN 1 ELSE 0 END),
            SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END)
     FROM events WHERE kind = 'response' GROUP BY site_id, occurred_at / 900000 * 900000
   ) AS rollup_only)
+ (SELECT COUNT(*) FROM (
     SELECT site_id, occurred_at / 900000 * 900000,
            SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END),
            SUM(CASE WHEN score BETWEEN 7 AND 8 THEN 1 ELSE 0 END),
            SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END)
     FROM events WHERE kind = 'response' GROUP BY site_id, occurred_at / 900000 * 900000
     EXCEPT
     SELECT site_id, quarter_hour, promoters, passives, detractors FROM nps_rollup
   ) AS raw_only)
+ (SELECT COUNT(*) FROM (
     SELECT site_id, name, hour, count FROM touchpoint_rollup
     EXCEPT
     SELECT site_id, name, occurred_at / 3600000 * 3600000, COUNT(*)
     FROM events WHERE kind = 'touchpoint' GROUP BY site_id, name, occurred_at / 3600000 * 3600000
   ) AS touchpoint_rollup_only)
+ (SELECT COUNT(*) FROM (
     SELECT site_id, name, occurred_at / 3600000 * 3600000, COUNT(*)
     FROM events WHERE kind = 'touchpoint' GROUP BY site_id, name, occurred_at / 3600000 * 3600000
     EXCEPT
     SELECT site_id, name, hour, count FROM touchpoint_rollup
   ) AS touchpoint_raw_only)";

async fn rollup_mismatches(database: &TestDatabase) -> i64 {
    if database.backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
        sqlx::query_scalar(ROLLUP_MISMATCHES)
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
        sqlx::query_scalar(ROLLUP_MISMATCHES)
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

async fn seeding_is_repeatable_and_keeps_the_rollups_equal_to_the_raw_rows(app: TestApp) {
    let store = store::connect(&app.database.url).await.unwrap();
    let site = store.site(&app.site).await.unwrap().unwrap();
    let settings = DemoSettings {
        visitors: 400,
        days: 14,
        seed: 7,
        until: "2026-02-15T00:00:00Z".parse().unwrap(),
        answers_only: false,
    };
    let first = demo::seed(store.as_ref(), &site, &settings).await.unwrap();
    assert_eq!(first.visitors, 400);
    assert!(first.answers > 50 && first.stored > 1_000, "{first:?}");
    assert_eq!(first.already_stored, 0);
    assert_eq!(rollup_mismatches(&app.database).await, 0);

    // The same seed makes the same events: nothing new is stored.
    let again = demo::seed(store.as_ref(), &site, &settings).await.unwrap();
    assert_eq!((again.stored, again.already_stored), (0, first.stored));

    let report = app.nps("").await;
    assert_eq!(report["responses"], first.answers);
    let touchpoints: serde_json::Value = app
        .get_with_key(&format!("/v1/sites/{}/touchpoints", app.site))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = touchpoints["touchpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    for name in [
        "page_view",
        "pricing_viewed",
        "add_to_cart",
        "checkout_completed",
        "support_contact",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}
