//! Storage: the one place that speaks SQL.
//!
//! [`Store`] has one method per question the collector asks of its database. Two backends
//! implement it, [`SqliteStore`] (the default, one file on one machine) and [`PostgresStore`]
//! (for teams that outgrow one machine); [`connect`] picks one by the URL's scheme and runs that
//! backend's migrations. Times are milliseconds since the Unix epoch on both backends.

mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::api_key::KeyHash;
use crate::site::{Origin, Site};
use async_trait::async_trait;
use std::sync::Arc;
use touchstone_shared::wire::{Event, VisitorId};
use touchstone_shared::{Score, SiteKey, Tally};

/// What a new site is made of.
#[derive(Debug, Clone)]
pub struct NewSite {
    key: SiteKey,
    name: String,
    origins: Vec<Origin>,
}

impl NewSite {
    /// A site to create; its origins are kept sorted and without repeats, as stored.
    pub fn new(key: SiteKey, name: String, mut origins: Vec<Origin>) -> Self {
        origins.sort();
        origins.dedup();
        NewSite { key, name, origins }
    }

    /// Its public key.
    pub fn key(&self) -> &SiteKey {
        &self.key
    }

    /// Its human name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The browser origins that may post for it, sorted.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }
}

/// A half-open span of time, `from <= t < to`, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// The first millisecond included.
    pub from: i64,
    /// The first millisecond no longer included.
    pub to: i64,
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBatch {
    /// Events stored for the first time.
    pub new: u64,
    /// Events already stored before (a replay), left as they were.
    pub duplicates: u64,
}

/// How often a touchpoint was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchpointCount {
    /// The touchpoint's name.
    pub name: String,
    /// How many times it was recorded.
    pub count: u64,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend this collector has.
    #[error("unsupported database URL: expected sqlite:… or postgres://…")]
    UnsupportedUrl,
    /// `create_site` with a key another site has.
    #[error("a site with the key {0} already exists")]
    SiteKeyTaken(SiteKey),
    /// An operation named a site that does not exist.
    #[error("no site has the key {0}")]
    UnknownSite(SiteKey),
    /// The database cannot take the request now (unreachable, read-only, full, locked): the
    /// client may try again later.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The migrations failed at start-up.
    #[error("migrating the database schema")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure: a bug or a broken database.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_transient(&error) {
            StoreError::Unavailable(error)
        } else {
            StoreError::Database(error)
        }
    }
}

/// Whether `error` says "not now" rather than "never": the database is unreachable, read-only,
/// out of space or locked, so the same request can succeed later.
fn is_transient(error: &sqlx::Error) -> bool {
    use sqlx::Error;
    use sqlx::error::DatabaseError;
    match error {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(database) => {
            if let Some(sqlite) = database.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // Primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN, READONLY.
                let primary = sqlite
                    .code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .map(|code| code & 0xff);
                matches!(primary, Some(5 | 6 | 8 | 10 | 13 | 14))
            } else {
                // SQLSTATE classes: connection exception, insufficient resources, operator
                // intervention; plus a read-only transaction (a standby).
                database.code().is_some_and(|code| {
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57P")
                        || code == "25006"
                })
            }
        }
        _ => false,
    }
}

/// The questions the collector asks of its database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Registers a site with its origins and its first read API key.
    async fn create_site(
        &self,
        site: &NewSite,
        key_hash: &KeyHash,
        key_prefix: &str,
    ) -> Result<Site, StoreError>;

    /// Every site, ordered by key.
    async fn sites(&self) -> Result<Vec<Site>, StoreError>;

    /// The site with this public key, if any.
    async fn site(&self, key: &SiteKey) -> Result<Option<Site>, StoreError>;

    /// Adds another read API key to a site.
    async fn add_api_key(
        &self,
        site: &SiteKey,
        key_hash: &KeyHash,
        key_prefix: &str,
    ) -> Result<(), StoreError>;

    /// The site, if `key_hash` belongs to an unrevoked API key of exactly that site.
    async fn authorized_site(
        &self,
        site: &SiteKey,
        key_hash: &KeyHash,
    ) -> Result<Option<Site>, StoreError>;

    /// Stores a visitor's events, each (site, event id) once, all or nothing. Returns only after
    /// the transaction has committed.
    async fn store_events(
        &self,
        site: &Site,
        visitor: VisitorId,
        events: &[Event],
        received_at: i64,
    ) -> Result<StoredBatch, StoreError>;

    /// The promoters, passives and detractors who answered within `range`.
    async fn tally(&self, site: &Site, range: TimeRange) -> Result<Tally, StoreError>;

    /// How often each touchpoint was recorded within `range`, most frequent first.
    async fn touchpoint_counts(
        &self,
        site: &Site,
        range: TimeRange,
    ) -> Result<Vec<TouchpointCount>, StoreError>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens the database `url` names (`sqlite:…` or `postgres://…`) and brings its schema up to
/// date.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// An event laid out as the columns of the `events` table, which both backends share.
struct EventRow<'a> {
    event_id: uuid::Uuid,
    kind: &'static str,
    occurred_at: i64,
    name: Option<&'a str>,
    url: Option<&'a str>,
    score: Option<i16>,
    comment: Option<&'a str>,
}

impl<'a> From<&'a Event> for EventRow<'a> {
    fn from(event: &'a Event) -> Self {
        match event {
            Event::Touchpoint { id, at, name, url } => EventRow {
                event_id: id.0,
                kind: "touchpoint",
                occurred_at: at.millis(),
                name: Some(name.as_str()),
                url: Some(url.as_str()),
                score: None,
                comment: None,
            },
            Event::Response {
                id,
                at,
                score,
                comment,
            } => EventRow {
                event_id: id.0,
                kind: "response",
                occurred_at: at.millis(),
                name: None,
                url: None,
                score: Some(i16::from(score.value())),
                comment: comment.as_ref().map(|comment| comment.as_str()),
            },
        }
    }
}

/// Folds `(score, how many)` rows into a tally, letting `shared` decide each score's category.
fn tally_scores(rows: impl IntoIterator<Item = (i64, i64)>) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    for (score, count) in rows {
        let score = u8::try_from(score)
            .ok()
            .and_then(|value| Score::try_from(value).ok())
            .ok_or_else(|| {
                StoreError::Database(sqlx::Error::Protocol(format!(
                    "a stored score is out of range: {score}"
                )))
            })?;
        let count = u64::try_from(count).unwrap_or_default();
        tally.record_many(score.category(), count);
    }
    Ok(tally)
}

/// Groups `(site id, origin)` rows under their sites.
fn attach_origins(sites: &mut [Site], origins: Vec<(i64, String)>) {
    for (site_id, origin) in origins {
        if let (Some(site), Ok(origin)) = (
            sites.iter_mut().find(|site| site.id == site_id),
            Origin::parse(&origin),
        ) {
            site.origins.push(origin);
        }
    }
}

/// Reads a stored site key back; they were checked on the way in.
fn stored_site_key(text: String) -> Result<SiteKey, StoreError> {
    SiteKey::parse(&text).map_err(|error| {
        StoreError::Database(sqlx::Error::Protocol(format!(
            "a stored site key is invalid: {error}"
        )))
    })
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
