//! The PostgreSQL backend: for teams whose collectors outgrow one machine, or that run several
//! collectors against one shared database.
//!
//! PostgreSQL commits durably by default (`synchronous_commit = on`), so an acknowledged answer
//! is on disk. Connection failures surface as [`StoreError::Unavailable`], which the HTTP edge
//! turns into `503` with `Retry-After`.

use super::{
    EventRow, NewSite, Store, StoreError, StoredBatch, TimeRange, TouchpointCount, attach_origins,
    now_millis, stored_site_key, tally_scores,
};
use crate::api_key::KeyHash;
use crate::site::Site;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use std::time::Duration;
use touchstone_shared::wire::{Event, VisitorId};
use touchstone_shared::{SiteKey, Tally};

/// A [`Store`] in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

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

    async fn add_api_key(
        &self,
        site: &SiteKey,
        key_hash: &KeyHash,
        key_prefix: &str,
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO api_keys (site_id, key_hash, key_prefix, created_at) \
             SELECT id, $1, $2, $3 FROM sites WHERE key = $4",
        )
        .bind(key_hash.as_str())
        .bind(key_prefix)
        .bind(now_millis())
        .bind(site.as_str())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::UnknownSite(site.clone()));
        }
        Ok(())
    }

    async fn authorized_site(
        &self,
        site: &SiteKey,
        key_hash: &KeyHash,
    ) -> Result<Option<Site>, StoreError> {
        let row = sqlx::query(
            "SELECT sites.id, sites.key, sites.name FROM sites \
             JOIN api_keys ON api_keys.site_id = sites.id \
             WHERE sites.key = $1 AND api_keys.key_hash = $2 AND api_keys.revoked_at IS NULL",
        )
        .bind(site.as_str())
        .bind(key_hash.as_str())
        .fetch_optional(&self.pool)
        .await?;
        self.site_where(row).await
    }

    async fn store_events(
        &self,
        site: &Site,
        visitor: VisitorId,
        events: &[Event],
        received_at: i64,
    ) -> Result<StoredBatch, StoreError> {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO events (site_id, event_id, visitor_id, kind, occurred_at, received_at, name, url, score, comment) ",
        );
        insert.push_values(events.iter().map(EventRow::from), |mut values, row| {
            values
                .push_bind(site.id)
                .push_bind(row.event_id)
                .push_bind(visitor.0)
                .push_bind(row.kind)
                .push_bind(row.occurred_at)
                .push_bind(received_at)
                .push_bind(row.name.map(str::to_owned))
                .push_bind(row.url.map(str::to_owned))
                .push_bind(row.score)
                .push_bind(row.comment.map(str::to_owned));
        });
        insert.push(" ON CONFLICT (site_id, event_id) DO NOTHING");
        let mut tx = self.pool.begin().await?;
        let new = insert.build().execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(StoredBatch {
            new,
            duplicates: events.len() as u64 - new,
        })
    }

    async fn tally(&self, site: &Site, range: TimeRange) -> Result<Tally, StoreError> {
        let rows = sqlx::query(
            "SELECT score, COUNT(*) FROM events \
             WHERE site_id = $1 AND kind = 'response' AND occurred_at >= $2 AND occurred_at < $3 \
             GROUP BY score",
        )
        .bind(site.id)
        .bind(range.from)
        .bind(range.to)
        .fetch_all(&self.pool)
        .await?;
        tally_scores(
            rows.iter()
                .map(|row| (i64::from(row.get::<i16, _>(0)), row.get::<i64, _>(1))),
        )
    }

    async fn touchpoint_counts(
        &self,
        site: &Site,
        range: TimeRange,
    ) -> Result<Vec<TouchpointCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, COUNT(*) AS count FROM events \
             WHERE site_id = $1 AND kind = 'touchpoint' AND occurred_at >= $2 AND occurred_at < $3 \
             GROUP BY name ORDER BY count DESC, name",
        )
        .bind(site.id)
        .bind(range.from)
        .bind(range.to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| TouchpointCount {
                name: row.get(0),
                count: row.get::<i64, _>(1).try_into().unwrap_or_default(),
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
