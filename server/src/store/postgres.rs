//! The PostgreSQL backend: for teams whose collectors outgrow one machine, or that run several
//! collectors against one shared database.
//!
//! PostgreSQL commits durably by default (`synchronous_commit = on`), so an acknowledged answer
//! is on disk. Connection failures surface as [`StoreError::Unavailable`], which the HTTP edge
//! turns into `503` with `Retry-After`.

use super::{
    AccountAnswer, AnswerScope, ApiKeyRecord, ApiKeyRow, Authorized, Direction, Erased, ErasedRow,
    HOUR_MILLIS, HeldEvent, HeldRevenue, IncomingBatch, JourneyReach, KeyToRevoke, ListedResponse,
    NewApiKey, NewSite, POSTGRES, QUARTER_HOUR_MILLIS, ResponseCursor, ResponseQuery, RevenueEntry,
    RevenueRow, RollupDeltas, Segment, Settled, Store, StoreError, StoredBatch, StoredRevenue,
    Subject, TimeRange, TouchpointCount, VisitedTouchpoint, account_answers_sql, attach_origins,
    contains_pattern, customer_revenue_sql, erase_sql, erased_deltas, event_rows, held_events_sql,
    journey_reach, journey_reach_sql, journey_steps_sql, merge_touchpoint_counts, now_millis,
    responses_sql, revenue_rows, rollup_tally, scored_revenue, segment_tallies, segments_sql,
    settle, split_by_slot, stored_currencies, stored_scope, stored_site_key, stored_surveys,
    subject_parameters, surveys_json, tallies_by_index, tally_scores,
};
use crate::api_key::KeyHash;
use crate::site::Site;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};
use std::collections::HashSet;
use std::time::Duration;
use touchstone_shared::survey::SiteSurveys;
use touchstone_shared::wire::Utm;
use touchstone_shared::{CampaignTag, Currency, CustomerId, Score, SiteKey, Tally, TraitName};

/// A [`Store`] in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

// Several collectors may share the database: a lease locks the rows it picks and skips those
// another collector is leasing.
super::webhooks::webhook_store!(
    PostgresStore,
    POSTGRES,
    reader: pool,
    writer: pool,
    lock: "FOR UPDATE OF due SKIP LOCKED"
);

impl PostgresStore {
    /// Connects to the database at `url`, e.g. `postgres://touchstone@db.internal/touchstone`,
    /// and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    async fn origins(&self, site_id: Option<i64>) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT site_id, origin FROM site_origins WHERE $1::BIGINT IS NULL OR site_id = $1 ORDER BY origin",
        )
        .bind(site_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn site_where(&self, row: Option<PgRow>) -> Result<Option<Site>, StoreError> {
        let Some(row) = row else { return Ok(None) };
        let mut sites = vec![site_from_row(&row)?];
        let origins = self.origins(Some(sites[0].id)).await?;
        attach_origins(&mut sites, origins);
        Ok(sites.pop())
    }
}

fn site_from_row(row: &PgRow) -> Result<Site, StoreError> {
    Ok(Site {
        id: row.get("id"),
        key: stored_site_key(row.get("key"))?,
        name: row.get("name"),
        origins: Vec::new(),
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_site(
        &self,
        site: &NewSite,
        key_hash: &KeyHash,
        key_prefix: &str,
    ) -> Result<Site, StoreError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO sites (key, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
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
                "INSERT INTO site_origins (site_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(origin.as_str())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO api_keys (site_id, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4)")
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
        let row = sqlx::query("SELECT id, key, name FROM sites WHERE key = $1")
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await?;
        self.site_where(row).await
    }

    async fn add_api_key(&self, site: &SiteKey, key: NewApiKey<'_>) -> Result<i64, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO api_keys (site_id, key_hash, key_prefix, label, scope, created_at) \
             SELECT id, $1, $2, $3, $4, $5 FROM sites WHERE key = $6 RETURNING id",
        )
        .bind(key.hash.as_str())
        .bind(key.prefix)
        .bind(key.label)
        .bind(key.scope.as_str())
        .bind(now_millis())
        .bind(site.as_str())
        .fetch_optional(&self.pool)
        .await?;
        inserted
            .map(|row| row.get(0))
            .ok_or_else(|| StoreError::UnknownSite(site.clone()))
    }

    async fn api_keys(&self, site: &SiteKey) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let site = self.existing_site(site).await?;
        let rows: Vec<ApiKeyRow> = sqlx::query_as(
            "SELECT id, key_prefix, label, scope, created_at, revoked_at FROM api_keys \
             WHERE site_id = $1 ORDER BY id",
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
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE site_id = $2 AND (id = $3 OR key_hash = $4) \
             RETURNING revoked_at = $1",
        )
        .bind(now_millis())
        .bind(site_row.id)
        .bind(id)
        .bind(hash)
        .fetch_optional(&self.pool)
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
             WHERE sites.key = $1 AND api_keys.key_hash = $2 AND api_keys.revoked_at IS NULL",
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
             WHERE api_keys.key_hash = $1 AND api_keys.revoked_at IS NULL",
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
        let sql = held_events_sql(subject, &POSTGRES);
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(site.id)
            .bind(visitor)
            .bind(customer)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn erase(&self, site: &Site, subject: &Subject) -> Result<Erased, StoreError> {
        let (visitor, customer) = subject_parameters(subject);
        let sql = erase_sql(subject, &POSTGRES);
        let mut tx = self.pool.begin().await?;
        for webhooks in super::webhooks::erase_webhooks_sql(subject, &POSTGRES) {
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
                sqlx::query("DELETE FROM revenue WHERE site_id = $1 AND customer_id = $2")
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
             FROM revenue WHERE site_id = $1 AND customer_id = $2 ORDER BY occurred_at, entry_id",
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
        let rows = revenue_rows(entries);
        // One statement for the whole request: each column travels as an array.
        let ids: Vec<uuid::Uuid> = rows.iter().map(|entry| entry.id).collect();
        let references: Vec<Option<&str>> = rows
            .iter()
            .map(|entry| entry.reference.as_deref())
            .collect();
        let customers: Vec<&str> = rows.iter().map(|entry| entry.customer.as_str()).collect();
        let currencies: Vec<&str> = rows.iter().map(|entry| entry.currency.code()).collect();
        let amounts: Vec<i64> = rows.iter().map(|entry| entry.amount).collect();
        let dates: Vec<i64> = rows.iter().map(|entry| entry.at).collect();
        let mut tx = self.pool.begin().await?;
        let new = sqlx::query(
            "INSERT INTO revenue (site_id, entry_id, reference, customer_id, currency, amount, occurred_at, received_at) \
             SELECT $1, * , $8 FROM UNNEST($2::UUID[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[]) \
             ON CONFLICT (site_id, entry_id) DO NOTHING",
        )
        .bind(site.id)
        .bind(ids)
        .bind(references)
        .bind(customers)
        .bind(currencies)
        .bind(amounts)
        .bind(dates)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(StoredRevenue {
            new,
            duplicates: entries.len() as u64 - new,
        })
    }

    async fn revenue_currencies(&self, site: &Site) -> Result<Vec<Currency>, StoreError> {
        let codes: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT currency FROM revenue WHERE site_id = $1 ORDER BY currency",
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
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(customer_revenue_sql(&POSTGRES)))
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
        // One statement for the whole group, whatever its size: each column travels as an array.
        let site_ids: Vec<i64> = rows.iter().map(|row| row.site_id).collect();
        let occurred: Vec<i64> = rows.iter().map(|row| row.occurred_at).collect();
        let received: Vec<i64> = rows.iter().map(|row| row.received_at).collect();
        let event_ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.event_id).collect();
        let visitor_ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.visitor_id).collect();
        let kinds: Vec<&str> = rows.iter().map(|row| row.kind).collect();
        let names: Vec<Option<&str>> = rows.iter().map(|row| row.name).collect();
        let urls: Vec<Option<&str>> = rows.iter().map(|row| row.url).collect();
        let scores: Vec<Option<i16>> = rows.iter().map(|row| row.score).collect();
        let comments: Vec<Option<&str>> = rows.iter().map(|row| row.comment).collect();
        let customers: Vec<Option<&str>> = rows.iter().map(|row| row.customer_id).collect();
        let traits: Vec<Option<&str>> = rows.iter().map(|row| row.traits.as_deref()).collect();
        let surveys: Vec<Option<&str>> = rows.iter().map(|row| row.survey).collect();
        let referrers: Vec<Option<&str>> = rows.iter().map(|row| row.referrer).collect();
        let utm = |tag: fn(&Utm) -> &Option<CampaignTag>| -> Vec<Option<&str>> {
            rows.iter().map(|row| row.utm(tag)).collect()
        };
        let languages: Vec<Option<&str>> = rows.iter().map(|row| row.language).collect();
        let devices: Vec<Option<&str>> = rows.iter().map(|row| row.device).collect();

        let mut tx = self.pool.begin().await?;
        let returned = sqlx::query(
            "INSERT INTO events (site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment, \
                                 customer_id, traits, survey, referrer, utm_source, utm_medium, utm_campaign, \
                                 utm_term, utm_content, language, device) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::UUID[], $3::UUID[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[], \
                                  $7::TEXT[], $8::TEXT[], $9::SMALLINT[], $10::TEXT[], $11::TEXT[], $12::JSONB[], \
                                  $13::TEXT[], $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::TEXT[], $18::TEXT[], \
                                  $19::TEXT[], $20::TEXT[], $21::TEXT[]) \
             ON CONFLICT (site_id, event_id) DO NOTHING RETURNING site_id, event_id",
        )
        .bind(site_ids)
        .bind(event_ids)
        .bind(visitor_ids)
        .bind(kinds)
        .bind(occurred)
        .bind(received)
        .bind(names)
        .bind(urls)
        .bind(scores)
        .bind(comments)
        .bind(customers)
        .bind(traits)
        .bind(surveys)
        .bind(referrers)
        .bind(utm(|utm| &utm.source))
        .bind(utm(|utm| &utm.medium))
        .bind(utm(|utm| &utm.campaign))
        .bind(utm(|utm| &utm.term))
        .bind(utm(|utm| &utm.content))
        .bind(languages)
        .bind(devices)
        .fetch_all(&mut *tx)
        .await?;
        let inserted: HashSet<_> = returned
            .iter()
            .map(|row| (row.get::<i64, _>(0), row.get::<uuid::Uuid, _>(1)))
            .collect();
        let Settled {
            outcomes,
            deltas,
            inbox,
        } = settle(batches, inserted);
        apply_to_rollups(&mut tx, &deltas, Direction::Add).await?;
        if !inbox.is_empty() {
            let (sites, events): (Vec<i64>, Vec<uuid::Uuid>) = inbox.into_iter().unzip();
            sqlx::query(
                "INSERT INTO webhook_inbox (site_id, event_id, queued_at) \
                 SELECT site, event, $3 FROM UNNEST($1::BIGINT[], $2::UUID[]) AS answer (site, event) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(sites)
            .bind(events)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn site_surveys(&self, site: &Site) -> Result<Option<SiteSurveys>, StoreError> {
        let config: Option<String> =
            sqlx::query_scalar("SELECT config::TEXT FROM site_surveys WHERE site_id = $1")
                .bind(site.id)
                .fetch_optional(&self.pool)
                .await?;
        config.map(|json| stored_surveys(&json)).transpose()
    }

    async fn set_site_surveys(&self, site: &Site, surveys: &SiteSurveys) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO site_surveys (site_id, config, updated_at) VALUES ($1, $2::JSONB, $3) \
             ON CONFLICT (site_id) DO UPDATE SET config = EXCLUDED.config, updated_at = EXCLUDED.updated_at",
        )
        .bind(site.id)
        .bind(surveys_json(surveys))
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn tally(&self, scope: AnswerScope<'_>, range: TimeRange) -> Result<Tally, StoreError> {
        let split = split_by_slot(range, QUARTER_HOUR_MILLIS);
        let mut tally = Tally::default();
        if let Some(slots) = split.whole {
            let row = sqlx::query(
                "SELECT COALESCE(SUM(promoters), 0)::BIGINT, COALESCE(SUM(passives), 0)::BIGINT, \
                        COALESCE(SUM(detractors), 0)::BIGINT \
                 FROM nps_rollup WHERE site_id = $1 AND quarter_hour >= $2 AND quarter_hour < $3 \
                 AND ($4::TEXT IS NULL OR survey = $4)",
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
                 WHERE site_id = $1 AND kind = 'response' AND occurred_at >= $2 AND occurred_at < $3 \
                 AND ($4::TEXT IS NULL OR survey = $4) GROUP BY score",
            )
            .bind(scope.site.id)
            .bind(edge.from)
            .bind(edge.to)
            .bind(scope.survey())
            .fetch_all(&self.pool)
            .await?;
            tally += tally_scores(
                rows.iter()
                    .map(|row| (i64::from(row.get::<i16, _>(0)), row.get::<i64, _>(1))),
            )?;
        }
        Ok(tally)
    }

    async fn rollup_tallies(
        &self,
        scope: AnswerScope<'_>,
        slots: TimeRange,
    ) -> Result<Vec<(i64, Tally)>, StoreError> {
        // Four arrays in one row rather than a row per quarter hour: a year is 35,040 of them,
        // and decoding that many rows one by one cost several times the query itself.
        let (slots, promoters, passives, detractors): (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) =
            sqlx::query_as(
                "SELECT COALESCE(array_agg(quarter_hour), '{}'), COALESCE(array_agg(promoters), '{}'), \
                        COALESCE(array_agg(passives), '{}'), COALESCE(array_agg(detractors), '{}') \
                 FROM nps_rollup \
                 WHERE site_id = $1 AND quarter_hour >= $2 AND quarter_hour < $3 AND ($4::TEXT IS NULL OR survey = $4)",
            )
            .bind(scope.site.id)
            .bind(slots.from)
            .bind(slots.to)
            .bind(scope.survey())
            .fetch_one(&self.pool)
            .await?;
        Ok(slots
            .into_iter()
            .zip(promoters)
            .zip(passives)
            .zip(detractors)
            .map(|(((slot, promoters), passives), detractors)| {
                (slot, rollup_tally(promoters, passives, detractors))
            })
            .collect())
    }

    async fn raw_tallies(
        &self,
        scope: AnswerScope<'_>,
        ranges: &[TimeRange],
    ) -> Result<Vec<(usize, Tally)>, StoreError> {
        let numbers: Vec<i64> = (0..ranges.len() as i64).collect();
        let froms: Vec<i64> = ranges.iter().map(|range| range.from).collect();
        let tos: Vec<i64> = ranges.iter().map(|range| range.to).collect();
        // LATERAL makes each range its own index range scan, whatever the planner believes
        // about the table (right after a bulk load it may have no statistics, and a plain join
        // then scanned every answer of the site once per range).
        let rows = sqlx::query(
            "SELECT piece.number, counted.score, counted.answers \
             FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::BIGINT[]) AS piece (number, lo, hi) \
             CROSS JOIN LATERAL ( \
               SELECT score, COUNT(*) AS answers FROM events \
               WHERE site_id = $1 AND kind = 'response' \
                 AND occurred_at >= piece.lo AND occurred_at < piece.hi \
                 AND ($5::TEXT IS NULL OR survey = $5) \
               GROUP BY score) AS counted",
        )
        .bind(scope.site.id)
        .bind(numbers)
        .bind(froms)
        .bind(tos)
        .bind(scope.survey())
        .fetch_all(&self.pool)
        .await?;
        tallies_by_index(
            ranges.len(),
            rows.iter().map(|row| {
                let score = i64::from(row.get::<i16, _>(1));
                (row.get(0), score, row.get(2))
            }),
        )
    }

    async fn segments(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        segment: &Segment,
        window_millis: i64,
    ) -> Result<Vec<(Option<String>, Tally)>, StoreError> {
        let sql = segments_sql(&POSTGRES, segment);
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
            sqlx::query_as(sqlx::AssertSqlSafe(journey_steps_sql(&POSTGRES)))
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
            sqlx::query_as(sqlx::AssertSqlSafe(account_answers_sql(&POSTGRES)))
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
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(journey_reach_sql(&POSTGRES)))
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
        Ok(
            sqlx::query_as(sqlx::AssertSqlSafe(responses_sql(&POSTGRES)))
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
                .await?,
        )
    }

    async fn touchpoints_of(
        &self,
        site: &Site,
        visitors: &[uuid::Uuid],
        range: TimeRange,
    ) -> Result<Vec<VisitedTouchpoint>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT visitor_id AS visitor, name, occurred_at AS at FROM events \
             WHERE site_id = $1 AND kind = 'touchpoint' AND occurred_at >= $2 AND occurred_at <= $3 \
               AND visitor_id = ANY($4) ORDER BY occurred_at, event_id",
        )
        .bind(site.id)
        .bind(range.from)
        .bind(range.to)
        .bind(visitors)
        .fetch_all(&self.pool)
        .await?)
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
                "SELECT name, SUM(count)::BIGINT FROM touchpoint_rollup \
                 WHERE site_id = $1 AND hour >= $2 AND hour < $3 GROUP BY name",
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
                 WHERE site_id = $1 AND kind = 'touchpoint' AND occurred_at >= $2 AND occurred_at < $3 GROUP BY name",
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

/// Adds a group's new events to the rollups, or takes erased events out of them, inside
/// the transaction that inserts or deletes the rows. The keys arrive sorted, so concurrent
/// collectors lock rollup rows in the same order.
async fn apply_to_rollups(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    deltas: &RollupDeltas,
    direction: Direction,
) -> Result<(), StoreError> {
    if !deltas.nps.is_empty() {
        let (mut sites, mut surveys, mut slots) = (vec![], vec![], vec![]);
        let (mut promoters, mut passives, mut detractors) = (vec![], vec![], vec![]);
        for ((site_id, survey, slot), tally) in &deltas.nps {
            sites.push(*site_id);
            surveys.push(survey.as_str());
            slots.push(*slot);
            promoters.push(direction.signed(tally.promoters));
            passives.push(direction.signed(tally.passives));
            detractors.push(direction.signed(tally.detractors));
        }
        sqlx::query(
            "INSERT INTO nps_rollup (site_id, survey, quarter_hour, promoters, passives, detractors) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[]) \
             ON CONFLICT (site_id, survey, quarter_hour) DO UPDATE SET promoters = nps_rollup.promoters + EXCLUDED.promoters, \
             passives = nps_rollup.passives + EXCLUDED.passives, detractors = nps_rollup.detractors + EXCLUDED.detractors",
        )
        .bind(sites)
        .bind(surveys)
        .bind(slots)
        .bind(promoters)
        .bind(passives)
        .bind(detractors)
        .execute(&mut **tx)
        .await?;
    }
    if !deltas.touchpoints.is_empty() {
        let (mut sites, mut names, mut hours, mut counts) = (vec![], vec![], vec![], vec![]);
        for ((site_id, name, hour), count) in &deltas.touchpoints {
            sites.push(*site_id);
            names.push(name.as_str());
            hours.push(*hour);
            counts.push(direction.signed(*count));
        }
        sqlx::query(
            "INSERT INTO touchpoint_rollup (site_id, name, hour, count) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[]) \
             ON CONFLICT (site_id, name, hour) DO UPDATE SET count = touchpoint_rollup.count + EXCLUDED.count",
        )
        .bind(sites)
        .bind(names)
        .bind(hours)
        .bind(counts)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
