//! The SQLite backend: one file, on one machine, with nothing else to run.
//!
//! Durability settings, chosen on purpose:
//! - `journal_mode = WAL`: readers never block the writer, and a crash mid-write leaves the last
//!   committed state intact.
//! - `synchronous = FULL`: every commit is fsynced before it returns, so an answer the collector
//!   acknowledged survives a power failure, not just a crash of the process. (`NORMAL` would be
//!   faster but may lose the last commits on power loss.)
//! - `busy_timeout = 5 s`: a writer waits for another instead of failing at once.
//!
//! Speed, without giving any of that up (measured with `cargo xtask bench`):
//! - One connection does all the writing and keeps a large page cache; reads use a pool of
//!   others.
//! - `temp_store = MEMORY`: statement journals stay off the disk.
//! - A checkpoint every 40 MiB of WAL on the writer, instead of every 1,000 pages.
//! - 1 KiB pages in new databases: a commit writes whole pages, one or two per event.
//! - Events are inserted by multi-row statements of a few fixed sizes, prepared once, that
//!   count what they stored instead of returning it row by row.

use super::{
    AccountAnswer, AnswerScope, ApiKeyRecord, ApiKeyRow, Authorized, Direction, Erased, ErasedRow,
    EventRow, HOUR_MILLIS, HeldEvent, HeldRevenue, IncomingBatch, JourneyReach, KeyToRevoke,
    ListedResponse, NewApiKey, NewSite, QUARTER_HOUR_MILLIS, ResponseCursor, ResponseQuery,
    RevenueEntry, RevenueRow, RollupDeltas, SQLITE, Segment, Settled, Store, StoreError,
    StoredBatch, StoredRevenue, Subject, TimeRange, TouchpointCount, VisitedTouchpoint,
    account_answers_sql, attach_origins, contains_pattern, customer_revenue_sql, erase_sql,
    erased_deltas, event_rows, held_events_sql, journey_reach, journey_reach_sql,
    journey_steps_sql, merge_touchpoint_counts, now_millis, responses_sql, revenue_rows,
    rollup_tally, scored_revenue, segment_tallies, segments_sql, settle, split_by_slot,
    stored_currencies, stored_scope, stored_site_key, stored_surveys, subject_parameters,
    surveys_json, tallies_by_index, tally_scores,
};
use crate::api_key::KeyHash;
use crate::site::Site;
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, QueryBuilder, Row, Sqlite};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;
use touchstone_shared::survey::SiteSurveys;
use touchstone_shared::{Currency, CustomerId, Score, SiteKey, Tally, TraitName};

/// A [`Store`] in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connections for reading.
    pub(super) pool: SqlitePool,
    /// The one connection that writes. SQLite takes one writer at a time anyway; keeping it on
    /// one connection keeps that connection's page cache warm, where a write from another
    /// connection would make it start cold and re-read the index pages of every group.
    pub(super) writer: SqlitePool,
}

super::webhooks::webhook_store!(SqliteStore, SQLITE, reader: pool, writer: writer, lock: "");

/// The writer's page cache, in KiB: the hot part of the events' primary-key index (random
/// UUIDs touch pages all over it) stays in memory. Pages are only allocated as they are used.
const WRITER_CACHE_KIB: u32 = 32 * 1024;

/// WAL bytes written before the writer copies the pages back into the database file (SQLite's
/// default is 1,000 pages). A group of random-UUID inserts dirties a few pages per event, so the
/// default would checkpoint every few commits; a longer WAL lets the pages rewritten by many
/// commits reach the database file once. Every commit is still synced to the WAL first.
const WAL_CHECKPOINT_BYTES: i64 = 40 * 1024 * 1024;

/// The page size of new databases, in bytes (SQLite's default is 4,096). Each event lands on
/// a random leaf page of the primary-key index and of the visitor index, and every page a
/// commit touches is written whole to the WAL, synced, and later copied by the checkpoint: with
/// 1 KiB pages a commit writes about a third of the bytes it writes with 4 KiB pages
/// (3.5 KiB instead of 9.8 KiB an event), so commits take less time and the writer less CPU.
const PAGE_SIZE: u32 = 1024;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`, e.g. `sqlite://touchstone.db`, and
    /// migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Statement journals (a multi-row insert keeps one to undo itself on a failed
            // check) and sorts stay in memory instead of short-lived temporary files. They
            // never need to survive a crash: durability is the WAL's, synced at every commit.
            .pragma("temp_store", "memory")
            // Only a new database takes it; an existing one keeps the page size it was made with.
            .page_size(PAGE_SIZE);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            // In pages, so it depends on the page size of the database, new or old.
            .after_connect(|connection, _| {
                Box::pin(async move {
                    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
                        .fetch_one(&mut *connection)
                        .await?;
                    let pages = WAL_CHECKPOINT_BYTES / page_size.max(512);
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "PRAGMA wal_autocheckpoint = {pages}"
                    )))
                    .execute(&mut *connection)
                    .await?;
                    Ok(())
                })
            })
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{WRITER_CACHE_KIB}")),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool, writer })
    }

    async fn origins(&self, site_id: Option<i64>) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT site_id, origin FROM site_origins WHERE ?1 IS NULL OR site_id = ?1 ORDER BY origin")
            .bind(site_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn site_where(
        &self,
        row: Option<sqlx::sqlite::SqliteRow>,
    ) -> Result<Option<Site>, StoreError> {
        let Some(row) = row else { return Ok(None) };
        let mut sites = vec![site_from_row(&row)?];
        let origins = self.origins(Some(sites[0].id)).await?;
        attach_origins(&mut sites, origins);
        Ok(sites.pop())
    }
}

fn site_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Site, StoreError> {
    Ok(Site {
        id: row.get("id"),
        key: stored_site_key(row.get("key"))?,
        name: row.get("name"),
        origins: Vec::new(),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_site(
        &self,
        site: &NewSite,
        key_hash: &KeyHash,
        key_prefix: &str,
    ) -> Result<Site, StoreError> {
        let now = now_millis();
        let mut tx = self.writer.begin().await?;
        let inserted =
            sqlx::query("INSERT INTO sites (key, name, created_at) VALUES (?, ?, ?) RETURNING id")
                .bind(site.key().as_str())
                .bind(site.name())
                .bind(now)
                .fetch_one(&mut *tx)
                .await;
        let id: i64 = match inserted {
            Ok(row) => row.get(0),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(StoreError::SiteKeyTaken(site.key().clone()));
            }
            Err(error) => return Err(error.into()),
        };
        for origin in site.origins() {
            sqlx::query(
                "INSERT INTO site_origins (site_id, origin) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(origin.as_str())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO api_keys (site_id, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(key_hash.as_str())
        .bind(key_prefix)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Site {
            id,
            key: site.key().clone(),
            name: site.name().to_owned(),
            origins: site.origins().to_vec(),
        })
    }

    async fn sites(&self) -> Result<Vec<Site>, StoreError> {
        let rows = sqlx::query("SELECT id, key, name FROM sites ORDER BY key")
            .fetch_all(&self.pool)
            .await?;
        let mut sites = rows
            .iter()
            .map(site_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        attach_origins(&mut sites, self.origins(None).await?);
        Ok(sites)
    }

    async fn site(&self, key: &SiteKey) -> Result<Option<Site>, StoreError> {
        let row = sqlx::query("SELECT id, key, name FROM sites WHERE key = ?")
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await?;
        self.site_where(row).await
    }

    async fn add_api_key(&self, site: &SiteKey, key: NewApiKey<'_>) -> Result<i64, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO api_keys (site_id, key_hash, key_prefix, label, scope, created_at) \
             SELECT id, ?, ?, ?, ?, ? FROM sites WHERE key = ? RETURNING id",
        )
        .bind(key.hash.as_str())
        .bind(key.prefix)
        .bind(key.label)
        .bind(key.scope.as_str())
        .bind(now_millis())
        .bind(site.as_str())
        .fetch_optional(&self.writer)
        .await?;
        inserted
            .map(|row| row.get(0))
            .ok_or_else(|| StoreError::UnknownSite(site.clone()))
    }

    async fn api_keys(&self, site: &SiteKey) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let site = self.existing_site(site).await?;
        let rows: Vec<ApiKeyRow> = sqlx::query_as(
            "SELECT id, key_prefix, label, scope, created_at, revoked_at FROM api_keys \
             WHERE site_id = ? ORDER BY id",
        )
        .bind(site.id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ApiKeyRow::into_record).collect()
    }

    async fn revoke_api_key(&self, site: &SiteKey, key: &KeyToRevoke) -> Result<bool, StoreError> {
        let site_row = self.existing_site(site).await?;
        let (id, hash) = match key {
            KeyToRevoke::Id(id) => (Some(*id), None),
            KeyToRevoke::Hash(hash) => (None, Some(hash.as_str())),
        };
        let found = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) \
             WHERE site_id = ?2 AND (id = ?3 OR key_hash = ?4) \
             RETURNING revoked_at = ?1",
        )
        .bind(now_millis())
        .bind(site_row.id)
        .bind(id)
        .bind(hash)
        .fetch_optional(&self.writer)
        .await?;
        found
            .map(|row| row.get::<bool, _>(0))
            .ok_or_else(|| StoreError::UnknownApiKey(site.clone()))
    }

    async fn authorized_site(
        &self,
        site: &SiteKey,
        key_hash: &KeyHash,
    ) -> Result<Option<Authorized>, StoreError> {
        let row = sqlx::query(
            "SELECT sites.id, sites.key, sites.name, api_keys.scope FROM sites \
             JOIN api_keys ON api_keys.site_id = sites.id \
             WHERE sites.key = ? AND api_keys.key_hash = ? AND api_keys.revoked_at IS NULL",
        )
        .bind(site.as_str())
        .bind(key_hash.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let scope = stored_scope(row.get("scope"))?;
        Ok(self
            .site_where(Some(row))
            .await?
            .map(|site| Authorized { site, scope }))
    }

    async fn key_holder(&self, key_hash: &KeyHash) -> Result<Option<Authorized>, StoreError> {
        let row = sqlx::query(
            "SELECT sites.id, sites.key, sites.name, api_keys.scope FROM sites \
             JOIN api_keys ON api_keys.site_id = sites.id \
             WHERE api_keys.key_hash = ? AND api_keys.revoked_at IS NULL",
        )
        .bind(key_hash.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let scope = stored_scope(row.get("scope"))?;
        Ok(self
            .site_where(Some(row))
            .await?
            .map(|site| Authorized { site, scope }))
    }

    async fn held_events(
        &self,
        site: &Site,
        subject: &Subject,
    ) -> Result<Vec<HeldEvent>, StoreError> {
        let (visitor, customer) = subject_parameters(subject);
        let sql = held_events_sql(subject, &SQLITE);
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(site.id)
            .bind(visitor)
            .bind(customer)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn erase(&self, site: &Site, subject: &Subject) -> Result<Erased, StoreError> {
        let (visitor, customer) = subject_parameters(subject);
        let sql = erase_sql(subject, &SQLITE);
        let mut tx = self.writer.begin().await?;
        for webhooks in super::webhooks::erase_webhooks_sql(subject, &SQLITE) {
            sqlx::query(sqlx::AssertSqlSafe(webhooks))
                .bind(site.id)
                .bind(visitor)
                .bind(customer)
                .execute(&mut *tx)
                .await?;
        }
        // The rows this statement deletes are exactly the rows it returns, so the rollups lose
        // what the table loses even while collectors insert concurrently.
        let deleted: Vec<ErasedRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(site.id)
            .bind(visitor)
            .bind(customer)
            .fetch_all(&mut *tx)
            .await?;
        let (deltas, mut erased) = erased_deltas(site.id, &deleted)?;
        apply_to_rollups(&mut tx, &deltas, Direction::Subtract).await?;
        if let Subject::Customer(customer) = subject {
            erased.revenue =
                sqlx::query("DELETE FROM revenue WHERE site_id = ? AND customer_id = ?")
                    .bind(site.id)
                    .bind(customer.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        tx.commit().await?;
        Ok(erased)
    }

    async fn held_revenue(
        &self,
        site: &Site,
        customer: &CustomerId,
    ) -> Result<Vec<HeldRevenue>, StoreError> {
        let rows: Vec<RevenueRow> = sqlx::query_as(
            "SELECT entry_id, reference, customer_id, currency, amount, occurred_at, received_at \
             FROM revenue WHERE site_id = ? AND customer_id = ? ORDER BY occurred_at, entry_id",
        )
        .bind(site.id)
        .bind(customer.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(RevenueRow::into_held).collect()
    }

    async fn store_revenue(
        &self,
        site: &Site,
        entries: &[RevenueEntry],
    ) -> Result<StoredRevenue, StoreError> {
        // Eight bound parameters a row: well under SQLite's 32,766 per statement.
        const ROWS_PER_STATEMENT: usize = 1_000;
        let received_at = now_millis();
        let mut new = 0;
        let mut tx = self.writer.begin().await?;
        for chunk in revenue_rows(entries).chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO revenue (site_id, entry_id, reference, customer_id, currency, amount, occurred_at, received_at) ",
            );
            insert.push_values(chunk, |mut values, entry| {
                values
                    .push_bind(site.id)
                    .push_bind(entry.id)
                    .push_bind(entry.reference.as_deref())
                    .push_bind(entry.customer.as_str())
                    .push_bind(entry.currency.code())
                    .push_bind(entry.amount)
                    .push_bind(entry.at)
                    .push_bind(received_at);
            });
            insert.push(" ON CONFLICT (site_id, entry_id) DO NOTHING");
            new += insert.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(StoredRevenue {
            new,
            duplicates: entries.len() as u64 - new,
        })
    }

    async fn revenue_currencies(&self, site: &Site) -> Result<Vec<Currency>, StoreError> {
        let codes: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT currency FROM revenue WHERE site_id = ? ORDER BY currency",
        )
        .bind(site.id)
        .fetch_all(&self.pool)
        .await?;
        stored_currencies(codes)
    }

    async fn customer_revenue(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        currency: Option<Currency>,
    ) -> Result<Vec<(Score, i64)>, StoreError> {
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(customer_revenue_sql(&SQLITE)))
            .bind(scope.site.id)
            .bind(range.from)
            .bind(range.to)
            .bind(scope.survey())
            .bind(currency.map(Currency::code))
            .fetch_all(&self.pool)
            .await?;
        scored_revenue(rows)
    }

    async fn store_batches(
        &self,
        batches: &[IncomingBatch],
    ) -> Result<Vec<StoredBatch>, StoreError> {
        let rows = event_rows(batches);
        let mut tx = self.writer.begin().await?;
        let inserted = insert_events(&mut tx, &rows).await?;
        let Settled {
            outcomes,
            deltas,
            inbox,
        } = settle(batches, inserted);
        apply_to_rollups(&mut tx, &deltas, Direction::Add).await?;
        let queued_at = now_millis();
        for chunk in inbox.chunks(1000) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO webhook_inbox (site_id, event_id, queued_at) ",
            );
            insert.push_values(chunk, |mut values, (site_id, event_id)| {
                values
                    .push_bind(*site_id)
                    .push_bind(*event_id)
                    .push_bind(queued_at);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn site_surveys(&self, site: &Site) -> Result<Option<SiteSurveys>, StoreError> {
        let config: Option<String> =
            sqlx::query_scalar("SELECT config FROM site_surveys WHERE site_id = ?")
                .bind(site.id)
                .fetch_optional(&self.pool)
                .await?;
        config.map(|json| stored_surveys(&json)).transpose()
    }

    async fn set_site_surveys(&self, site: &Site, surveys: &SiteSurveys) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO site_surveys (site_id, config, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (site_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(site.id)
        .bind(surveys_json(surveys))
        .bind(now_millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn tally(&self, scope: AnswerScope<'_>, range: TimeRange) -> Result<Tally, StoreError> {
        let split = split_by_slot(range, QUARTER_HOUR_MILLIS);
        let mut tally = Tally::default();
        if let Some(slots) = split.whole {
            let row = sqlx::query(
                "SELECT COALESCE(SUM(promoters), 0), COALESCE(SUM(passives), 0), COALESCE(SUM(detractors), 0) \
                 FROM nps_rollup WHERE site_id = ?1 AND quarter_hour >= ?2 AND quarter_hour < ?3 AND (?4 IS NULL OR survey = ?4)",
            )
            .bind(scope.site.id)
            .bind(slots.from)
            .bind(slots.to)
            .bind(scope.survey())
            .fetch_one(&self.pool)
            .await?;
            let count = |index| u64::try_from(row.get::<i64, _>(index)).unwrap_or_default();
            tally += Tally::new(count(0), count(1), count(2));
        }
        for edge in split.edges {
            let rows = sqlx::query(
                "SELECT score, COUNT(*) FROM events \
                 WHERE site_id = ?1 AND kind = 'response' AND occurred_at >= ?2 AND occurred_at < ?3 \
                 AND (?4 IS NULL OR survey = ?4) GROUP BY score",
            )
            .bind(scope.site.id)
            .bind(edge.from)
            .bind(edge.to)
            .bind(scope.survey())
            .fetch_all(&self.pool)
            .await?;
            tally += tally_scores(
                rows.iter()
                    .map(|row| (row.get::<i64, _>(0), row.get::<i64, _>(1))),
            )?;
        }
        Ok(tally)
    }

    async fn rollup_tallies(
        &self,
        scope: AnswerScope<'_>,
        slots: TimeRange,
    ) -> Result<Vec<(i64, Tally)>, StoreError> {
        // The rows come packed into one JSON array: sqlx's SQLite driver hands each row over
        // from its worker thread separately, which for a year's 35,040 quarter hours cost more than the
        // query itself.
        let packed: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(quarter_hour, promoters, passives, detractors)) \
             FROM nps_rollup WHERE site_id = ?1 AND quarter_hour >= ?2 AND quarter_hour < ?3 AND (?4 IS NULL OR survey = ?4)",
        )
        .bind(scope.site.id)
        .bind(slots.from)
        .bind(slots.to)
        .bind(scope.survey())
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<(i64, i64, i64, i64)> = serde_json::from_str(&packed)
            .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))?;
        Ok(rows
            .into_iter()
            .map(|(slot, promoters, passives, detractors)| {
                (slot, rollup_tally(promoters, passives, detractors))
            })
            .collect())
    }

    async fn raw_tallies(
        &self,
        scope: AnswerScope<'_>,
        ranges: &[TimeRange],
    ) -> Result<Vec<(usize, Tally)>, StoreError> {
        // Three bound parameters per range: well under SQLite's 32,766 per statement.
        const RANGES_PER_STATEMENT: usize = 5_000;
        let mut rows = Vec::new();
        for (chunk, pieces) in ranges.chunks(RANGES_PER_STATEMENT).enumerate() {
            let mut query = QueryBuilder::<Sqlite>::new("WITH piece (number, lo, hi) AS (");
            query.push_values(pieces.iter().enumerate(), |mut values, (number, range)| {
                values
                    .push_bind((chunk * RANGES_PER_STATEMENT + number) as i64)
                    .push_bind(range.from)
                    .push_bind(range.to);
            });
            query
                .push(
                    ") SELECT piece.number, events.score, COUNT(*) FROM piece \
                     JOIN events ON events.site_id = ",
                )
                .push_bind(scope.site.id)
                .push(
                    " AND events.kind = 'response' \
                     AND events.occurred_at >= piece.lo AND events.occurred_at < piece.hi",
                );
            if let Some(survey) = scope.survey() {
                query.push(" AND events.survey = ").push_bind(survey);
            }
            query.push(" GROUP BY piece.number, events.score");
            let found = query.build().fetch_all(&self.pool).await?;
            rows.extend(found.iter().map(|row| (row.get(0), row.get(1), row.get(2))));
        }
        tallies_by_index(ranges.len(), rows)
    }

    async fn segments(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        segment: &Segment,
        window_millis: i64,
    ) -> Result<Vec<(Option<String>, Tally)>, StoreError> {
        let sql = segments_sql(&SQLITE, segment);
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(scope.site.id)
            .bind(range.from)
            .bind(range.to)
            .bind(scope.survey())
            .bind(window_millis);
        if let Segment::Trait(name) = segment {
            query = query.bind(name.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        segment_tallies(rows)
    }

    async fn journey_steps(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        window_millis: i64,
        limit: i64,
    ) -> Result<Vec<(uuid::Uuid, i64, String)>, StoreError> {
        Ok(
            sqlx::query_as(sqlx::AssertSqlSafe(journey_steps_sql(&SQLITE)))
                .bind(scope.site.id)
                .bind(range.from)
                .bind(range.to)
                .bind(scope.survey())
                .bind(window_millis)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn account_answers(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        account: &TraitName,
        weight: Option<&TraitName>,
    ) -> Result<Vec<AccountAnswer>, StoreError> {
        Ok(
            sqlx::query_as(sqlx::AssertSqlSafe(account_answers_sql(&SQLITE)))
                .bind(scope.site.id)
                .bind(range.from)
                .bind(range.to)
                .bind(scope.survey())
                .bind(account.as_str())
                .bind(weight.map(TraitName::as_str))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn journey_reach(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        window_millis: i64,
    ) -> Result<JourneyReach, StoreError> {
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(journey_reach_sql(&SQLITE)))
            .bind(scope.site.id)
            .bind(range.from)
            .bind(range.to)
            .bind(scope.survey())
            .bind(window_millis)
            .fetch_all(&self.pool)
            .await?;
        journey_reach(rows)
    }

    async fn responses(
        &self,
        query: &ResponseQuery<'_>,
    ) -> Result<Vec<ListedResponse>, StoreError> {
        let before = query.before.unwrap_or(ResponseCursor {
            at: i64::MAX,
            id: uuid::Uuid::max(),
        });
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(responses_sql(&SQLITE)))
            .bind(query.scope.site.id)
            .bind(query.range.from)
            .bind(query.range.to)
            .bind(query.scope.survey())
            .bind(i16::from(query.scores.0.value()))
            .bind(i16::from(query.scores.1.value()))
            .bind(query.contains.map(contains_pattern))
            .bind(before.at)
            .bind(before.id)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn touchpoints_of(
        &self,
        site: &Site,
        visitors: &[uuid::Uuid],
        range: TimeRange,
    ) -> Result<Vec<VisitedTouchpoint>, StoreError> {
        if visitors.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT visitor_id AS visitor, name, occurred_at AS at FROM events WHERE site_id = ",
        );
        query
            .push_bind(site.id)
            .push(" AND kind = 'touchpoint' AND occurred_at >= ")
            .push_bind(range.from)
            .push(" AND occurred_at <= ")
            .push_bind(range.to)
            .push(" AND visitor_id IN (");
        let mut list = query.separated(", ");
        for visitor in visitors {
            list.push_bind(*visitor);
        }
        query.push(") ORDER BY occurred_at, event_id");
        Ok(query.build_query_as().fetch_all(&self.pool).await?)
    }

    async fn touchpoint_counts(
        &self,
        site: &Site,
        range: TimeRange,
    ) -> Result<Vec<TouchpointCount>, StoreError> {
        let split = split_by_slot(range, HOUR_MILLIS);
        let mut rows = Vec::new();
        if let Some(hours) = split.whole {
            let found = sqlx::query(
                "SELECT name, SUM(count) FROM touchpoint_rollup \
                 WHERE site_id = ? AND hour >= ? AND hour < ? GROUP BY name",
            )
            .bind(site.id)
            .bind(hours.from)
            .bind(hours.to)
            .fetch_all(&self.pool)
            .await?;
            rows.extend(
                found
                    .iter()
                    .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1))),
            );
        }
        for edge in split.edges {
            let found = sqlx::query(
                "SELECT name, COUNT(*) FROM events \
                 WHERE site_id = ? AND kind = 'touchpoint' AND occurred_at >= ? AND occurred_at < ? GROUP BY name",
            )
            .bind(site.id)
            .bind(edge.from)
            .bind(edge.to)
            .fetch_all(&self.pool)
            .await?;
            rows.extend(
                found
                    .iter()
                    .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1))),
            );
        }
        Ok(merge_touchpoint_counts(rows))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The most rows one insert statement carries (12 bound parameters each, well under SQLite's
/// 32,766 per statement).
const MAX_ROWS_PER_INSERT: usize = 128;

/// The columns each event binds: 128 rows of them stay well under SQLite's 32,766 parameters.
const COLUMNS: usize = 21;

/// Inserts `rows`, leaving the events already stored as they are, and returns the
/// `(site id, event id)` of those it stored.
///
/// The statements only count what they insert: a statement with `RETURNING` buffers its rows
/// in a temporary table and sqlx hands each one over from its worker thread separately, which
/// cost more than the insert itself. Almost every statement stores all its rows (nothing is
/// replayed); when one stores fewer, its new rows are read back by rowid: SQLite gives the rows
/// one statement inserts consecutive rowids after the table's largest, and nothing else writes
/// while this transaction holds the write lock.
async fn insert_events(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    rows: &[EventRow<'_>],
) -> Result<HashSet<(i64, uuid::Uuid)>, StoreError> {
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in statement_chunks(rows) {
        let done = insert_statement(chunk)?.execute(&mut **tx).await?;
        let stored = done.rows_affected();
        if stored == chunk.len() as u64 {
            inserted.extend(chunk.iter().map(|row| (row.site_id, row.event_id)));
        } else if stored > 0 {
            let last = done.last_insert_rowid();
            let new = sqlx::query(
                "SELECT site_id, event_id FROM events WHERE rowid > ?1 - ?2 AND rowid <= ?1",
            )
            .bind(last)
            .bind(stored as i64)
            .fetch_all(&mut **tx)
            .await?;
            inserted.extend(
                new.iter()
                    .map(|row| (row.get::<i64, _>(0), row.get::<uuid::Uuid, _>(1))),
            );
        }
    }
    Ok(inserted)
}

/// `rows` cut into runs of [`MAX_ROWS_PER_INSERT`] and then of falling powers of two, so that
/// groups of any size use a handful of statement texts, each prepared once and then taken from
/// the connection's statement cache, instead of a new statement of a new length every time.
fn statement_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let size = if rows.len() >= MAX_ROWS_PER_INSERT {
            MAX_ROWS_PER_INSERT
        } else {
            1 << rows.len().ilog2()
        };
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// One multi-row insert of `rows` that skips events already stored. The statement's text
/// depends only on the number of rows (a power of two up to [`MAX_ROWS_PER_INSERT`]), and is
/// made once.
fn insert_statement(
    rows: &[EventRow<'_>],
) -> Result<sqlx::query::Query<'static, Sqlite, SqliteArguments>, StoreError> {
    const SIZES: usize = MAX_ROWS_PER_INSERT.ilog2() as usize + 1;
    static TEXTS: [OnceLock<String>; SIZES] = [const { OnceLock::new() }; SIZES];
    let text = TEXTS[rows.len().ilog2() as usize].get_or_init(|| {
        let mut text = String::from(
            "INSERT INTO events (site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment, \
             customer_id, traits, survey, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content, language, device) VALUES ",
        );
        for row in 0..rows.len() {
            if row > 0 {
                text.push_str(", ");
            }
            text.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
        text.push_str(" ON CONFLICT (site_id, event_id) DO NOTHING");
        text
    });
    let mut arguments = SqliteArguments::default();
    arguments.reserve(rows.len() * COLUMNS, 0);
    for row in rows {
        let bound = [
            Arguments::add(&mut arguments, row.site_id),
            Arguments::add(&mut arguments, row.event_id),
            Arguments::add(&mut arguments, row.visitor_id),
            Arguments::add(&mut arguments, row.kind),
            Arguments::add(&mut arguments, row.occurred_at),
            Arguments::add(&mut arguments, row.received_at),
            Arguments::add(&mut arguments, row.name),
            Arguments::add(&mut arguments, row.url),
            Arguments::add(&mut arguments, row.score),
            Arguments::add(&mut arguments, row.comment),
            Arguments::add(&mut arguments, row.customer_id),
            Arguments::add(&mut arguments, row.traits.as_deref()),
            Arguments::add(&mut arguments, row.survey),
            Arguments::add(&mut arguments, row.referrer),
            Arguments::add(&mut arguments, row.utm(|utm| &utm.source)),
            Arguments::add(&mut arguments, row.utm(|utm| &utm.medium)),
            Arguments::add(&mut arguments, row.utm(|utm| &utm.campaign)),
            Arguments::add(&mut arguments, row.utm(|utm| &utm.term)),
            Arguments::add(&mut arguments, row.utm(|utm| &utm.content)),
            Arguments::add(&mut arguments, row.language),
            Arguments::add(&mut arguments, row.device),
        ];
        for result in bound {
            result.map_err(|error| StoreError::Database(sqlx::Error::Encode(error)))?;
        }
    }
    Ok(sqlx::query_with(text.as_str(), arguments))
}

/// Adds a group's new events to the rollups, or takes erased events out of them, inside
/// the transaction that inserts or deletes the rows.
async fn apply_to_rollups(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    deltas: &RollupDeltas,
    direction: Direction,
) -> Result<(), StoreError> {
    let nps: Vec<_> = deltas.nps.iter().collect();
    for chunk in nps.chunks(1000) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO nps_rollup (site_id, survey, quarter_hour, promoters, passives, detractors) ",
        );
        upsert.push_values(chunk, |mut values, ((site_id, survey, slot), tally)| {
            values
                .push_bind(*site_id)
                .push_bind(survey.clone())
                .push_bind(*slot)
                .push_bind(direction.signed(tally.promoters))
                .push_bind(direction.signed(tally.passives))
                .push_bind(direction.signed(tally.detractors));
        });
        upsert.push(
            " ON CONFLICT (site_id, survey, quarter_hour) DO UPDATE SET promoters = promoters + excluded.promoters, \
             passives = passives + excluded.passives, detractors = detractors + excluded.detractors",
        );
        upsert.build().execute(&mut **tx).await?;
    }
    let touchpoints: Vec<_> = deltas.touchpoints.iter().collect();
    for chunk in touchpoints.chunks(1000) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO touchpoint_rollup (site_id, name, hour, count) ",
        );
        upsert.push_values(chunk, |mut values, ((site_id, name, hour), count)| {
            values
                .push_bind(*site_id)
                .push_bind(name.clone())
                .push_bind(*hour)
                .push_bind(direction.signed(**count));
        });
        upsert.push(
            " ON CONFLICT (site_id, name, hour) DO UPDATE SET count = count + excluded.count",
        );
        upsert.build().execute(&mut **tx).await?;
    }
    Ok(())
}
