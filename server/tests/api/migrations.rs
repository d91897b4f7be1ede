//! Databases an older collector left behind, opened by this one: the migrations carry their data
//! forward. (The surveys migration has its test in `surveys.rs`.)

use crate::audit::StoredRows;
use crate::helpers::*;
use crate::on_every_backend;
use touchstone_server::store::{self, AnswerScope, BucketEdges};
use touchstone_shared::{SiteKey, SurveyId, Tally};

on_every_backend!(spawn = crate::migrations::unmigrated; hourly_answer_rollups_become_quarter_hour_rollups);

/// The database as it comes, for a test that migrates it itself.
pub async fn unmigrated(database: TestDatabase) -> TestDatabase {
    database
}

const QUARTER: i64 = 15 * 60_000;

/// Migration 7 rebuilds the answer rollups by quarter hour from the answers themselves: after
/// it, each quarter hour of an hour that held four answers reports its own.
async fn hourly_answer_rollups_become_quarter_hour_rollups(database: TestDatabase) {
    let hour = noon_days_ago(3);
    let answer = |n: u128, minute: i64, score: u8, survey: &str| {
        format!(
            "INSERT INTO events (site_id, event_id, visitor_id, kind, occurred_at, received_at, score, survey) \
             VALUES (1, {}, {}, 'response', {}, 0, {score}, '{survey}')",
            database.uuid_literal(n),
            database.uuid_literal(100 + n),
            hour + minute * 60_000,
        )
    };
    let statements = [
        // The site gets id 1 as the first row of a fresh table on both backends.
        "INSERT INTO sites (key, name, created_at) VALUES ('demo', 'Demo', 0)".to_owned(),
        answer(1, 5, 10, "nps"),
        answer(2, 20, 8, "nps"),
        answer(3, 35, 0, "checkout"),
        answer(4, 50, 3, "nps"),
        // What the hourly rollups of migrations 2 to 6 held for them.
        format!(
            "INSERT INTO nps_rollup (site_id, survey, hour, promoters, passives, detractors) \
             VALUES (1, 'nps', {hour}, 1, 1, 1), (1, 'checkout', {hour}, 0, 0, 1)"
        ),
    ];
    database.migrate_before("0007", &statements).await;

    let store = store::connect(&database.url)
        .await
        .expect("migrating to quarter-hour rollups");
    StoredRows::open(&database.url)
        .await
        .assert_rollups_equal_raw_rows()
        .await;
    let site = store
        .site(&SiteKey::parse("demo").unwrap())
        .await
        .unwrap()
        .unwrap();
    let quarters = BucketEdges::new((0..=4).map(|n| hour + n * QUARTER).collect()).unwrap();
    let every_survey = AnswerScope {
        site: &site,
        survey: None,
    };
    assert_eq!(
        store.tally_buckets(every_survey, &quarters).await.unwrap(),
        [
            Tally::new(1, 0, 0),
            Tally::new(0, 1, 0),
            Tally::new(0, 0, 1),
            Tally::new(0, 0, 1)
        ]
    );
    let checkout = SurveyId::parse("checkout").unwrap();
    let one_survey = AnswerScope {
        site: &site,
        survey: Some(&checkout),
    };
    assert_eq!(
        store.tally_buckets(one_survey, &quarters).await.unwrap(),
        [
            Tally::default(),
            Tally::default(),
            Tally::new(0, 0, 1),
            Tally::default()
        ]
    );
}
