//! What a collector stored, read straight from its database: the fault, replay and scale-out
//! tests check the rows themselves, not only the reports built from them.
//!
//! The expected rollups are counted here from the raw `events` rows, with the score bands of
//! `touchstone_shared` (the same function the collector uses), and compared hour by hour.

use crate::helpers::event_ids;
use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use touchstone_shared::{Score, Tally};
use uuid::Uuid;

/// What collectors answered a load, kept by the tasks that sent it.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The event ids of every batch answered with a `2xx` (an id twice if acknowledged twice).
    pub acknowledged: Vec<Uuid>,
    /// How many answers had each status.
    pub statuses: BTreeMap<u16, u64>,
    /// The events the `2xx` receipts called new (`accepted - duplicates`), summed.
    pub new: u64,
    /// Requests that got no answer (the connection failed).
    pub unanswered: u64,
}

impl Ledger {
    /// Reads `answer` to `request` and notes it in `ledger`; `false` when no answer came.
    pub async fn record(
        ledger: &Mutex<Ledger>,
        request: &Value,
        answer: reqwest::Result<reqwest::Response>,
    ) -> bool {
        let Ok(answer) = answer else {
            ledger.lock().unwrap().unanswered += 1;
            return false;
        };
        let status = answer.status();
        // A status was sent only after the commit: the body may still be cut off by a kill.
        let receipt: Option<Value> = answer.json().await.ok();
        let mut ledger = ledger.lock().unwrap();
        *ledger.statuses.entry(status.as_u16()).or_default() += 1;
        if status.is_success() {
            ledger.acknowledged.extend(event_ids(request));
            if let Some(receipt) = receipt {
                let count = |field: &str| receipt[field].as_u64().unwrap();
                ledger.new += count("accepted") - count("duplicates");
            }
        }
        true
    }

    /// Asserts that every answer was a `200`.
    pub fn assert_all_ok(&self, what: &str) {
        assert!(
            self.statuses.keys().all(|&status| status == 200),
            "{what}: every batch should be stored, but the answers were {:?}",
            self.statuses
        );
    }

    /// How many answers came.
    pub fn answers(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// A connection to a test's database, of either backend.
pub enum StoredRows {
    /// A SQLite file.
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

/// `(site id, hour, score, how many)`, counted from the raw events.
type ScoreRow = (i64, i64, i64, i64);
/// `(site id, touchpoint name, hour, how many)`, from the raw events or the rollup.
type TouchpointRow = (i64, String, i64, i64);

impl StoredRows {
    /// Opens the database at `url` (which must exist) for reading.
    pub async fn open(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            let pool = SqlitePool::connect(url).await;
            StoredRows::Sqlite(pool.unwrap_or_else(|error| panic!("auditing {url}: {error}")))
        } else {
            let pool = PgPool::connect(url).await;
            StoredRows::Postgres(pool.unwrap_or_else(|error| panic!("auditing {url}: {error}")))
        }
    }

    async fn rows<T>(&self, sql: &'static str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let rows = match self {
            StoredRows::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            StoredRows::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        };
        rows.unwrap_or_else(|error| panic!("auditing with {sql:?}: {error}"))
    }

    /// How many `events` rows each stored event id has.
    pub async fn rows_per_event_id(&self) -> HashMap<Uuid, i64> {
        self.rows::<(Uuid, i64)>("SELECT event_id, COUNT(*) FROM events GROUP BY event_id")
            .await
            .into_iter()
            .collect()
    }

    /// Asserts that every id in `acknowledged` has exactly one row, and returns how many rows
    /// each stored id has, for further checks.
    pub async fn assert_stored_once(&self, acknowledged: &[Uuid]) -> HashMap<Uuid, i64> {
        let stored = self.rows_per_event_id().await;
        let missing = acknowledged
            .iter()
            .filter(|id| !stored.contains_key(id))
            .count();
        assert_eq!(
            missing,
            0,
            "{missing} of {} acknowledged events are not stored",
            acknowledged.len()
        );
        let repeated: Vec<_> = acknowledged
            .iter()
            .filter(|id| stored[id] != 1)
            .map(|id| (id, stored[id]))
            .collect();
        assert!(
            repeated.is_empty(),
            "events stored more than once: {repeated:?}"
        );
        stored
    }

    /// Asserts that `nps_rollup` (by quarter hour) and `touchpoint_rollup` (by hour) hold
    /// exactly what the raw `events` rows add up to.
    pub async fn assert_rollups_equal_raw_rows(&self) {
        let mut counted: BTreeMap<(i64, i64), Tally> = BTreeMap::new();
        let scores: Vec<ScoreRow> = self
            .rows(
                "SELECT site_id, (occurred_at / 900000) * 900000, CAST(score AS BIGINT), COUNT(*) \
                 FROM events WHERE kind = 'response' GROUP BY 1, 2, 3",
            )
            .await;
        for (site, quarter_hour, score, count) in scores {
            let score = Score::try_from(u8::try_from(score).unwrap()).unwrap();
            counted
                .entry((site, quarter_hour))
                .or_default()
                .record_many(score.category(), count as u64);
        }
        let rolled_up: BTreeMap<(i64, i64), Tally> = self
            .rows::<(i64, i64, i64, i64, i64)>(
                "SELECT site_id, quarter_hour, promoters, passives, detractors FROM nps_rollup",
            )
            .await
            .into_iter()
            .map(|(site, quarter_hour, promoters, passives, detractors)| {
                let tally = Tally::new(promoters as u64, passives as u64, detractors as u64);
                ((site, quarter_hour), tally)
            })
            .collect();
        assert_eq!(rolled_up, counted, "nps_rollup differs from the raw events");

        let touchpoints = |rows: Vec<TouchpointRow>| -> BTreeMap<(i64, String, i64), i64> {
            rows.into_iter()
                .map(|(site, name, hour, count)| ((site, name, hour), count))
                .collect()
        };
        let counted = touchpoints(
            self.rows(
                "SELECT site_id, name, (occurred_at / 3600000) * 3600000, COUNT(*) \
                 FROM events WHERE kind = 'touchpoint' GROUP BY 1, 2, 3",
            )
            .await,
        );
        let rolled_up = touchpoints(
            self.rows("SELECT site_id, name, hour, count FROM touchpoint_rollup")
                .await,
        );
        assert_eq!(
            rolled_up, counted,
            "touchpoint_rollup differs from the raw events"
        );
    }

    /// SQLite's `PRAGMA integrity_check`: `ok` for a sound file.
    pub async fn integrity_check(&self) -> String {
        let StoredRows::Sqlite(pool) = self else {
            panic!("integrity_check is a SQLite pragma")
        };
        let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(pool)
            .await
            .expect("running PRAGMA integrity_check");
        verdict
    }
}
