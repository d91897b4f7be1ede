//! The webhook tables: subscriptions, the inbox of answers waiting to be matched, the outbox of
//! deliveries and the log of attempts.
//!
//! The statements are the same on both backends but for the placeholder style and one row
//! lock, so they are written once, with `$n` placeholders, and [`webhook_store!`] implements
//! [`WebhookStore`] for each backend from them. Writes go through the backend's writer (SQLite's
//! one writing connection); reads through its pool.
//!
//! Invariants the dispatcher builds on:
//! - An answer enters the inbox in the transaction that stores it, and leaves it in the
//!   transaction that creates its deliveries ([`WebhookStore::enqueue_deliveries`] deletes the
//!   inbox rows first and creates deliveries only for the rows it deleted, so two collectors
//!   routing the same answer create its deliveries once, and an erasure that removed the inbox
//!   row first leaves nothing to deliver).
//! - (subscription, event) is unique in the outbox: a replayed answer never makes a second
//!   delivery.
//! - A delivery is sent only under a lease (`lease_until`, `lease_token`); only the holder of
//!   the current token records its outcome, and a lease that ran out (a collector that died
//!   mid-send) makes the delivery due again.

use super::{Dialect, Subject, subject_condition};
use crate::webhooks::{
    Filters, Format, InvalidWebhook, ReceiverUrl, TraitMatch, WebhookSecret, WebhookSettings,
    WebhookState,
};
use serde::Serialize;
use std::collections::BTreeMap;
use touchstone_shared::{Category, Score, TouchpointName, TraitName, TraitValue};
use utoipa::ToSchema;

use super::StoreError;
use crate::site::Site;
use async_trait::async_trait;

/// A subscription as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id, unique across sites.
    pub id: i64,
    /// The site it belongs to.
    pub site_id: i64,
    /// Where, how and what it delivers.
    pub settings: WebhookSettings,
    /// Whether it delivers now.
    pub state: WebhookState,
    /// When it was made, in milliseconds since the epoch.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// A touchpoint before an answer, for filters and payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyStep {
    /// The touchpoint's name.
    pub name: String,
    /// The page it happened on.
    pub url: Option<String>,
    /// When, in milliseconds since the epoch.
    pub at: i64,
}

/// An answer with everything webhooks filter on and deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerContext {
    /// The site's public key.
    pub site_key: String,
    /// The answer's event id.
    pub event_id: uuid::Uuid,
    /// The visitor who gave it.
    pub visitor: uuid::Uuid,
    /// When it was given, in milliseconds since the epoch.
    pub at: i64,
    /// When the collector received it.
    pub received_at: i64,
    /// The score.
    pub score: Score,
    /// The answer to the follow-up question.
    pub comment: Option<String>,
    /// The survey answered.
    pub survey: String,
    /// The language it was given in.
    pub language: Option<String>,
    /// The device class it was given on.
    pub device: Option<String>,
    /// The customer the visitor was last identified as.
    pub customer: Option<String>,
    /// That identify's traits.
    pub traits: BTreeMap<String, String>,
    /// The visitor's touchpoints within the window asked for before the answer, oldest first
    /// (at most [`MAX_JOURNEY_STEPS`], the latest).
    pub journey: Vec<JourneyStep>,
}

/// The most touchpoints read before one answer.
pub const MAX_JOURNEY_STEPS: i64 = 500;

/// A delivery to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The subscription it is for.
    pub subscription_id: i64,
    /// The site.
    pub site_id: i64,
    /// The answer, or a test delivery's own random id.
    pub event_id: uuid::Uuid,
    /// `nps.answer` or `webhook.test`.
    pub event_type: &'static str,
    /// The `webhook-id` every attempt sends.
    pub message_id: String,
    /// The body every attempt sends.
    pub payload: String,
    /// When it was made (and is first due), in milliseconds since the epoch.
    pub created_at: i64,
}

/// A delivery a collector holds the lease of, with what sending it takes.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    /// The delivery's id.
    pub id: i64,
    /// Its subscription.
    pub subscription_id: i64,
    /// The `webhook-id`.
    pub message_id: String,
    /// The body.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When it was made.
    pub created_at: i64,
    /// Where it goes.
    pub url: String,
    /// The secrets to sign with: the current one, and the previous one while a rotation's
    /// overlap lasts.
    pub secrets: Vec<WebhookSecret>,
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, in milliseconds since the epoch.
    pub at: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed without an answer (a timeout, a refused connection…).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The start of the receiver's answer (at most 256 bytes), if any.
    pub response_excerpt: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// A `2xx`: done.
    Delivered,
    /// Failed; try again at this time (milliseconds since the epoch).
    RetryAt(i64),
    /// Failed too often or for too long: given up.
    GiveUp,
    /// `410 Gone`: given up, and the subscription is disabled.
    Gone,
}

/// A delivery as its subscription's log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryRecord {
    /// The delivery's id.
    pub id: i64,
    /// The answer's id (the `id` of `GET /v1/sites/{site}/responses`), or a test delivery's
    /// own.
    pub event_id: uuid::Uuid,
    /// `nps.answer` or `webhook.test`.
    pub event_type: String,
    /// The `webhook-id` header every attempt sent.
    pub message_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<i64>,
    /// When it was made, in milliseconds since the epoch.
    pub created_at: i64,
    /// When it was delivered or given up.
    pub finished_at: Option<i64>,
    /// Every attempt, oldest first.
    pub log: Vec<Attempt>,
}

/// A delivery that carried a respondent's answer, as a privacy export shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeldDelivery {
    /// The subscription that received (or was to receive) it.
    pub subscription: i64,
    /// The answer it carried.
    pub event_id: uuid::Uuid,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// When it was made, in milliseconds since the epoch.
    pub created_at: i64,
    /// The body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// The webhook questions the collector asks of its database.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds a subscription to `site`, active, signing with `secret`.
    async fn create_webhook(
        &self,
        site: &Site,
        settings: &WebhookSettings,
        secret: &WebhookSecret,
    ) -> Result<Webhook, StoreError>;

    /// The site's subscriptions, oldest first.
    async fn webhooks(&self, site: &Site) -> Result<Vec<Webhook>, StoreError>;

    /// One of the site's subscriptions.
    async fn webhook(&self, site: &Site, id: i64) -> Result<Option<Webhook>, StoreError>;

    /// Replaces a subscription's settings and state; `None` if the site has no such one.
    async fn update_webhook(
        &self,
        site: &Site,
        id: i64,
        settings: &WebhookSettings,
        state: WebhookState,
    ) -> Result<Option<Webhook>, StoreError>;

    /// Makes `secret` the subscription's signing secret; the old one keeps signing beside it
    /// until `previous_until`. `false` if the site has no such subscription.
    async fn rotate_webhook_secret(
        &self,
        site: &Site,
        id: i64,
        secret: &WebhookSecret,
        previous_until: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes a subscription with its deliveries and their log. `false` if there was none.
    async fn delete_webhook(&self, site: &Site, id: i64) -> Result<bool, StoreError>;

    /// The ids of the sites with at least one active subscription.
    async fn watched_sites(&self) -> Result<Vec<i64>, StoreError>;

    /// A site's active subscriptions.
    async fn active_webhooks(&self, site_id: i64) -> Result<Vec<Webhook>, StoreError>;

    /// Up to `limit` answers waiting in the inbox, oldest first, as `(site id, event id)`.
    async fn inbox(&self, limit: i64) -> Result<Vec<(i64, uuid::Uuid)>, StoreError>;

    /// An answer with its respondent's latest identify and their touchpoints within
    /// `window_millis` before it; `None` if it is not stored (erased).
    async fn answer_context(
        &self,
        site_id: i64,
        event_id: uuid::Uuid,
        window_millis: i64,
    ) -> Result<Option<AnswerContext>, StoreError>;

    /// In one transaction: takes the `claimed` answers out of the inbox and puts into the
    /// outbox those of `deliveries` whose answer this call took out (another collector, or an
    /// erasure, may have taken it first) and whose subscription is still active. Returns how
    /// many deliveries it made.
    async fn enqueue_deliveries(
        &self,
        claimed: &[(i64, uuid::Uuid)],
        deliveries: &[NewDelivery],
    ) -> Result<u64, StoreError>;

    /// Puts a test delivery in the outbox; returns its id.
    async fn add_delivery(&self, delivery: &NewDelivery) -> Result<i64, StoreError>;

    /// Whether a delivery of an active subscription is due at `now` and not leased.
    async fn has_due_deliveries(&self, now: i64) -> Result<bool, StoreError>;

    /// Leases up to `limit` due deliveries until `lease_until` under `token`; several collectors
    /// never lease the same delivery at once.
    async fn lease_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        token: i64,
        limit: i64,
    ) -> Result<Vec<LeasedDelivery>, StoreError>;

    /// Records an attempt at a leased delivery and what follows from it, if the lease `token` is
    /// still the delivery's; returns whether it was.
    async fn finish_attempt(
        &self,
        delivery_id: i64,
        token: i64,
        attempt: &Attempt,
        after: AfterAttempt,
    ) -> Result<bool, StoreError>;

    /// A subscription's deliveries, newest first, with their attempts: those older than
    /// `before` (a delivery id), of one `status` if given, at most `limit`.
    async fn webhook_deliveries(
        &self,
        site: &Site,
        webhook_id: i64,
        status: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Deletes the deliveries (and their log) finished before `finished_before`; returns how many.
    async fn prune_deliveries(&self, finished_before: i64) -> Result<u64, StoreError>;

    /// The deliveries that carried answers of `subject`, for a privacy export.
    async fn held_deliveries(
        &self,
        site: &Site,
        subject: &Subject,
    ) -> Result<Vec<HeldDelivery>, StoreError>;
}

/// The statements an erasure runs before it deletes the events: the subject's answers leave
/// the inbox, and their deliveries (pending or not, with their log and payloads) are deleted.
/// Parameters as for [`subject_condition`]. The inbox goes first: a collector routing one of
/// those answers holds its inbox row until it commits, so the erasure then sees (and deletes)
/// the deliveries it made.
pub(super) fn erase_webhooks_sql(subject: &Subject, dialect: &Dialect) -> [String; 2] {
    let site = (dialect.placeholder)(1);
    let answers = format!(
        "SELECT event_id FROM events WHERE {} AND kind = 'response'",
        subject_condition(subject, dialect)
    );
    [
        format!("DELETE FROM webhook_inbox WHERE site_id = {site} AND event_id IN ({answers})"),
        format!(
            "DELETE FROM webhook_deliveries WHERE site_id = {site} AND event_id IN ({answers})"
        ),
    ]
}

/// The query behind [`WebhookStore::held_deliveries`]; parameters as for [`subject_condition`].
pub(super) fn held_deliveries_sql(subject: &Subject, dialect: &Dialect) -> String {
    format!(
        "SELECT subscription_id, event_id, status, created_at, payload FROM webhook_deliveries \
         WHERE site_id = {} AND event_id IN (SELECT event_id FROM events WHERE {}) ORDER BY id",
        (dialect.placeholder)(1),
        subject_condition(subject, dialect)
    )
}

/// `sql` with each `$n` written the way `dialect` numbers its parameters.
pub(super) fn numbered(sql: &str, dialect: &Dialect) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut number = 0u8;
            while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                number = number * 10 + digit as u8;
                chars.next();
            }
            out.push_str(&(dialect.placeholder)(number));
        } else {
            out.push(c);
        }
    }
    out
}

/// The columns every subscription query reads.
pub(super) const WEBHOOK_COLUMNS: &str = "id, site_id, url, format, description, category, \
    max_score, touchpoint, trait_name, trait_value, window_days, state, created_at, updated_at";

/// A subscription row as both backends return it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct WebhookRow {
    id: i64,
    site_id: i64,
    url: String,
    format: String,
    description: Option<String>,
    category: Option<String>,
    max_score: Option<i64>,
    touchpoint: Option<String>,
    trait_name: Option<String>,
    trait_value: Option<String>,
    window_days: i64,
    state: String,
    created_at: i64,
    updated_at: i64,
}

impl WebhookRow {
    /// Reads the row back through the same rules it was checked with on the way in.
    pub(super) fn into_webhook(self) -> Result<Webhook, StoreError> {
        let broken = |what: &str| {
            StoreError::Database(sqlx::Error::Protocol(format!(
                "a stored webhook has an invalid {what}"
            )))
        };
        let invalid = |error: InvalidWebhook| broken(&error.0);
        let category = self
            .category
            .as_deref()
            .map(|name| Category::parse(name).ok_or_else(|| broken("category")))
            .transpose()?;
        let max_score = self
            .max_score
            .map(|score| {
                u8::try_from(score)
                    .ok()
                    .and_then(|score| Score::try_from(score).ok())
                    .ok_or_else(|| broken("score"))
            })
            .transpose()?;
        let touchpoint = self
            .touchpoint
            .map(|name| TouchpointName::parse(&name).map_err(|_| broken("touchpoint")))
            .transpose()?;
        let customer_trait = match (self.trait_name, self.trait_value) {
            (Some(name), Some(value)) => Some(TraitMatch {
                name: TraitName::parse(&name).map_err(|_| broken("trait"))?,
                value: TraitValue::parse(&value).map_err(|_| broken("trait"))?,
            }),
            _ => None,
        };
        let window_days = u16::try_from(self.window_days).map_err(|_| broken("window"))?;
        Ok(Webhook {
            id: self.id,
            site_id: self.site_id,
            settings: WebhookSettings {
                url: ReceiverUrl::parse(&self.url).map_err(invalid)?,
                format: Format::parse(&self.format).ok_or_else(|| broken("format"))?,
                description: self.description,
                filters: Filters::new(
                    category,
                    max_score,
                    touchpoint,
                    customer_trait,
                    Some(window_days),
                )
                .map_err(invalid)?,
            },
            state: WebhookState::parse(&self.state).ok_or_else(|| broken("state"))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A subscription's settings as column values, in the order of the statements' parameters.
pub(super) struct SettingsColumns<'a> {
    pub url: &'a str,
    pub format: &'static str,
    pub description: Option<&'a str>,
    pub category: Option<&'static str>,
    pub max_score: Option<i64>,
    pub touchpoint: Option<&'a str>,
    pub trait_name: Option<&'a str>,
    pub trait_value: Option<&'a str>,
    pub window_days: i64,
}

impl<'a> SettingsColumns<'a> {
    pub(super) fn of(settings: &'a WebhookSettings) -> Self {
        let filters = &settings.filters;
        let customer_trait = filters.customer_trait();
        SettingsColumns {
            url: settings.url.as_str(),
            format: settings.format.as_str(),
            description: settings.description.as_deref(),
            category: filters.category().map(Category::as_str),
            max_score: filters.max_score().map(|score| i64::from(score.value())),
            touchpoint: filters.touchpoint().map(TouchpointName::as_str),
            trait_name: customer_trait.map(|wanted| wanted.name.as_str()),
            trait_value: customer_trait.map(|wanted| wanted.value.as_str()),
            window_days: i64::from(filters.window().days()),
        }
    }
}

/// An answer row, for [`WebhookStore::answer_context`].
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AnswerRow {
    pub site_key: String,
    pub visitor_id: uuid::Uuid,
    pub occurred_at: i64,
    pub received_at: i64,
    pub score: i64,
    pub comment: Option<String>,
    pub survey: Option<String>,
    pub language: Option<String>,
    pub device: Option<String>,
}

/// A leased delivery row with its subscription's address and secrets.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct LeasedRow {
    pub id: i64,
    pub subscription_id: i64,
    pub message_id: String,
    pub payload: String,
    pub attempts: i64,
    pub created_at: i64,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
}

impl LeasedRow {
    pub(super) fn into_leased(self, now: i64) -> Result<LeasedDelivery, StoreError> {
        let secret = |text: &str| {
            WebhookSecret::parse(text).map_err(|error| {
                StoreError::Database(sqlx::Error::Protocol(format!(
                    "a stored webhook secret: {error}"
                )))
            })
        };
        let mut secrets = vec![secret(&self.secret)?];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && until > now
        {
            secrets.push(secret(previous)?);
        }
        Ok(LeasedDelivery {
            id: self.id,
            subscription_id: self.subscription_id,
            message_id: self.message_id,
            payload: self.payload,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: self.created_at,
            url: self.url,
            secrets,
        })
    }
}

/// A delivery row of a subscription's log.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeliveryRow {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// An attempt row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AttemptRow {
    pub delivery_id: i64,
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub response_excerpt: Option<String>,
}

/// Puts the attempts under their deliveries.
pub(super) fn delivery_records(
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
) -> Vec<DeliveryRecord> {
    let mut logs: BTreeMap<i64, Vec<Attempt>> = BTreeMap::new();
    for row in attempts {
        logs.entry(row.delivery_id).or_default().push(Attempt {
            attempt: u32::try_from(row.attempt).unwrap_or_default(),
            at: row.at,
            status_code: row.status_code.and_then(|code| u16::try_from(code).ok()),
            error: row.error,
            duration_ms: row.duration_ms,
            response_excerpt: row.response_excerpt,
        });
    }
    deliveries
        .into_iter()
        .map(|row| DeliveryRecord {
            log: logs.remove(&row.id).unwrap_or_default(),
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            message_id: row.message_id,
            status: row.status,
            attempts: u32::try_from(row.attempts).unwrap_or_default(),
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
        .collect()
}

/// A privacy export's delivery row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct HeldRow {
    pub subscription_id: i64,
    pub event_id: uuid::Uuid,
    pub status: String,
    pub created_at: i64,
    pub payload: String,
}

impl HeldRow {
    pub(super) fn into_held(self) -> HeldDelivery {
        HeldDelivery {
            subscription: self.subscription_id,
            event_id: self.event_id,
            status: self.status,
            created_at: self.created_at,
            payload: serde_json::from_str(&self.payload)
                .unwrap_or(serde_json::Value::String(self.payload)),
        }
    }
}

/// The status and times a delivery takes after an attempt: `(status, next attempt, finished)`.
pub(super) fn after_columns(
    after: AfterAttempt,
    now: i64,
) -> (&'static str, Option<i64>, Option<i64>) {
    match after {
        AfterAttempt::Delivered => ("delivered", None, Some(now)),
        AfterAttempt::RetryAt(at) => ("pending", Some(at), None),
        AfterAttempt::GiveUp | AfterAttempt::Gone => ("failed", None, Some(now)),
    }
}

/// Implements [`WebhookStore`] for a backend: `$store`'s field `$reader` is the pool to read
/// with and `$writer` the one to write with; `$dialect` numbers the placeholders; `$lock` is
/// what the lease's inner query appends to lock the rows it picks (`FOR UPDATE … SKIP LOCKED` on
/// PostgreSQL, nothing on SQLite, which has one writer).
macro_rules! webhook_store {
    ($store:ty, $dialect:expr, reader: $reader:ident, writer: $writer:ident, lock: $lock:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::webhooks::WebhookStore for $store {
            async fn create_webhook(
                &self,
                site: &$crate::site::Site,
                settings: &$crate::webhooks::WebhookSettings,
                secret: &$crate::webhooks::WebhookSecret,
            ) -> Result<$crate::store::webhooks::Webhook, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let columns = SettingsColumns::of(settings);
                let sql = numbered(
                    &format!(
                        "INSERT INTO webhook_subscriptions (site_id, url, format, description, \
                         category, max_score, touchpoint, trait_name, trait_value, window_days, \
                         secret, state, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $12) \
                         RETURNING {WEBHOOK_COLUMNS}"
                    ),
                    &$dialect,
                );
                let row: WebhookRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(site.id)
                    .bind(columns.url)
                    .bind(columns.format)
                    .bind(columns.description)
                    .bind(columns.category)
                    .bind(columns.max_score)
                    .bind(columns.touchpoint)
                    .bind(columns.trait_name)
                    .bind(columns.trait_value)
                    .bind(columns.window_days)
                    .bind(secret.reveal())
                    .bind($crate::store::now_millis())
                    .fetch_one(&self.$writer)
                    .await?;
                row.into_webhook()
            }

            async fn webhooks(
                &self,
                site: &$crate::site::Site,
            ) -> Result<Vec<$crate::store::webhooks::Webhook>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(
                    &format!(
                        "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions WHERE site_id = $1 ORDER BY id"
                    ),
                    &$dialect,
                );
                let rows: Vec<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(site.id)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.into_iter().map(WebhookRow::into_webhook).collect()
            }

            async fn webhook(
                &self,
                site: &$crate::site::Site,
                id: i64,
            ) -> Result<Option<$crate::store::webhooks::Webhook>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(
                    &format!(
                        "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions WHERE site_id = $1 AND id = $2"
                    ),
                    &$dialect,
                );
                let row: Option<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(site.id)
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.map(WebhookRow::into_webhook).transpose()
            }

            async fn update_webhook(
                &self,
                site: &$crate::site::Site,
                id: i64,
                settings: &$crate::webhooks::WebhookSettings,
                state: $crate::webhooks::WebhookState,
            ) -> Result<Option<$crate::store::webhooks::Webhook>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let columns = SettingsColumns::of(settings);
                let sql = numbered(
                    &format!(
                        "UPDATE webhook_subscriptions SET url = $3, format = $4, description = $5, \
                         category = $6, max_score = $7, touchpoint = $8, trait_name = $9, \
                         trait_value = $10, window_days = $11, state = $12, updated_at = $13 \
                         WHERE site_id = $1 AND id = $2 RETURNING {WEBHOOK_COLUMNS}"
                    ),
                    &$dialect,
                );
                let row: Option<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(site.id)
                    .bind(id)
                    .bind(columns.url)
                    .bind(columns.format)
                    .bind(columns.description)
                    .bind(columns.category)
                    .bind(columns.max_score)
                    .bind(columns.touchpoint)
                    .bind(columns.trait_name)
                    .bind(columns.trait_value)
                    .bind(columns.window_days)
                    .bind(state.as_str())
                    .bind($crate::store::now_millis())
                    .fetch_optional(&self.$writer)
                    .await?;
                row.map(WebhookRow::into_webhook).transpose()
            }

            async fn rotate_webhook_secret(
                &self,
                site: &$crate::site::Site,
                id: i64,
                secret: &$crate::webhooks::WebhookSecret,
                previous_until: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                // The right-hand sides read the row as it was: the old secret becomes the previous.
                let sql = numbered(
                    "UPDATE webhook_subscriptions SET previous_secret = secret, \
                     previous_secret_until = $3, secret = $4, updated_at = $5 \
                     WHERE site_id = $1 AND id = $2",
                    &$dialect,
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.id)
                    .bind(id)
                    .bind(previous_until)
                    .bind(secret.reveal())
                    .bind($crate::store::now_millis())
                    .execute(&self.$writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_webhook(
                &self,
                site: &$crate::site::Site,
                id: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(
                    "DELETE FROM webhook_subscriptions WHERE site_id = $1 AND id = $2",
                    &$dialect,
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.id)
                    .bind(id)
                    .execute(&self.$writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn watched_sites(&self) -> Result<Vec<i64>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT DISTINCT site_id FROM webhook_subscriptions WHERE state = 'active'",
                )
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn active_webhooks(
                &self,
                site_id: i64,
            ) -> Result<Vec<$crate::store::webhooks::Webhook>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(
                    &format!(
                        "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions \
                         WHERE site_id = $1 AND state = 'active' ORDER BY id"
                    ),
                    &$dialect,
                );
                let rows: Vec<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(site_id)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.into_iter().map(WebhookRow::into_webhook).collect()
            }

            async fn inbox(
                &self,
                limit: i64,
            ) -> Result<Vec<(i64, uuid::Uuid)>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(
                    "SELECT site_id, event_id FROM webhook_inbox ORDER BY queued_at, event_id LIMIT $1",
                    &$dialect,
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .fetch_all(&self.$reader)
                    .await?)
            }

            async fn answer_context(
                &self,
                site_id: i64,
                event_id: uuid::Uuid,
                window_millis: i64,
            ) -> Result<Option<$crate::store::webhooks::AnswerContext>, $crate::store::StoreError>
            {
                use $crate::store::webhooks::*;
                let answer = numbered(
                    "SELECT sites.key AS site_key, events.visitor_id, events.occurred_at, \
                     events.received_at, CAST(events.score AS BIGINT) AS score, events.comment, \
                     events.survey, events.language, events.device \
                     FROM events JOIN sites ON sites.id = events.site_id \
                     WHERE events.site_id = $1 AND events.event_id = $2 AND events.kind = 'response'",
                    &$dialect,
                );
                let Some(row): Option<AnswerRow> = sqlx::query_as(sqlx::AssertSqlSafe(answer))
                    .bind(site_id)
                    .bind(event_id)
                    .fetch_optional(&self.$reader)
                    .await?
                else {
                    return Ok(None);
                };
                let identity = numbered(
                    "SELECT customer_id, CAST(traits AS TEXT) FROM events \
                     WHERE site_id = $1 AND visitor_id = $2 AND kind = 'identify' \
                     ORDER BY occurred_at DESC, event_id DESC LIMIT 1",
                    &$dialect,
                );
                let identity: Option<(Option<String>, Option<String>)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(identity))
                        .bind(site_id)
                        .bind(row.visitor_id)
                        .fetch_optional(&self.$reader)
                        .await?;
                let (customer, traits) = identity.unwrap_or_default();
                let traits: std::collections::BTreeMap<String, String> = traits
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default();
                let steps = numbered(
                    "SELECT name, url, occurred_at FROM events \
                     WHERE site_id = $1 AND visitor_id = $2 AND kind = 'touchpoint' \
                       AND occurred_at <= $3 AND occurred_at >= $4 \
                     ORDER BY occurred_at DESC, event_id DESC LIMIT $5",
                    &$dialect,
                );
                let mut journey: Vec<(String, Option<String>, i64)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(steps))
                        .bind(site_id)
                        .bind(row.visitor_id)
                        .bind(row.occurred_at)
                        .bind(row.occurred_at.saturating_sub(window_millis))
                        .bind(MAX_JOURNEY_STEPS)
                        .fetch_all(&self.$reader)
                        .await?;
                journey.reverse();
                Ok(Some(AnswerContext {
                    site_key: row.site_key,
                    event_id,
                    visitor: row.visitor_id,
                    at: row.occurred_at,
                    received_at: row.received_at,
                    score: $crate::store::stored_score(row.score)?,
                    comment: row.comment,
                    survey: row.survey.unwrap_or_else(|| touchstone_shared::SurveyId::DEFAULT.into()),
                    language: row.language,
                    device: row.device,
                    customer,
                    traits,
                    journey: journey
                        .into_iter()
                        .map(|(name, url, at)| JourneyStep { name, url, at })
                        .collect(),
                }))
            }

            async fn enqueue_deliveries(
                &self,
                claimed: &[(i64, uuid::Uuid)],
                deliveries: &[$crate::store::webhooks::NewDelivery],
            ) -> Result<u64, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let take = numbered(
                    "DELETE FROM webhook_inbox WHERE site_id = $1 AND event_id = $2",
                    &$dialect,
                );
                let insert = numbered(INSERT_DELIVERY_IF_ACTIVE, &$dialect);
                let mut tx = self.$writer.begin().await?;
                let mut taken = std::collections::HashSet::new();
                for (site_id, event_id) in claimed {
                    let done = sqlx::query(sqlx::AssertSqlSafe(take.as_str()))
                        .bind(site_id)
                        .bind(event_id)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() > 0 {
                        taken.insert((*site_id, *event_id));
                    }
                }
                let mut made = 0;
                for delivery in deliveries {
                    if !taken.contains(&(delivery.site_id, delivery.event_id)) {
                        continue;
                    }
                    made += bind_delivery(sqlx::query(sqlx::AssertSqlSafe(insert.as_str())), delivery)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(made)
            }

            async fn add_delivery(
                &self,
                delivery: &$crate::store::webhooks::NewDelivery,
            ) -> Result<i64, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let insert = numbered(&format!("{INSERT_DELIVERY} RETURNING id"), &$dialect);
                let row = bind_delivery(sqlx::query(sqlx::AssertSqlSafe(insert)), delivery)
                    .fetch_one(&self.$writer)
                    .await?;
                Ok(sqlx::Row::get(&row, 0))
            }

            async fn has_due_deliveries(&self, now: i64) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(&format!("SELECT due.id {DUE} LIMIT 1"), &$dialect);
                let due: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .fetch_optional(&self.$reader)
                    .await?;
                Ok(due.is_some())
            }

            async fn lease_deliveries(
                &self,
                now: i64,
                lease_until: i64,
                token: i64,
                limit: i64,
            ) -> Result<Vec<$crate::store::webhooks::LeasedDelivery>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let lease = numbered(
                    &format!(
                        "UPDATE webhook_deliveries SET lease_until = $2, lease_token = $3 \
                         WHERE id IN (SELECT due.id {DUE} ORDER BY due.next_attempt_at, due.id LIMIT $4 {})",
                        $lock
                    ),
                    &$dialect,
                );
                let leased = sqlx::query(sqlx::AssertSqlSafe(lease))
                    .bind(now)
                    .bind(lease_until)
                    .bind(token)
                    .bind(limit)
                    .execute(&self.$writer)
                    .await?;
                if leased.rows_affected() == 0 {
                    return Ok(Vec::new());
                }
                let details = numbered(
                    "SELECT delivery.id, delivery.subscription_id, delivery.message_id, delivery.payload, \
                     delivery.attempts, delivery.created_at, subscription.url, subscription.secret, \
                     subscription.previous_secret, subscription.previous_secret_until \
                     FROM webhook_deliveries AS delivery \
                     JOIN webhook_subscriptions AS subscription ON subscription.id = delivery.subscription_id \
                     WHERE delivery.lease_token = $1 AND delivery.status = 'pending' ORDER BY delivery.id",
                    &$dialect,
                );
                let rows: Vec<LeasedRow> = sqlx::query_as(sqlx::AssertSqlSafe(details))
                    .bind(token)
                    .fetch_all(&self.$writer)
                    .await?;
                rows.into_iter().map(|row| row.into_leased(now)).collect()
            }

            async fn finish_attempt(
                &self,
                delivery_id: i64,
                token: i64,
                attempt: &$crate::store::webhooks::Attempt,
                after: $crate::store::webhooks::AfterAttempt,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let now = $crate::store::now_millis();
                let (status, next, finished) = after_columns(after, now);
                let settle = numbered(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $3, \
                     next_attempt_at = $4, finished_at = $5, lease_until = NULL, lease_token = NULL \
                     WHERE id = $1 AND lease_token = $2 RETURNING attempts, subscription_id",
                    &$dialect,
                );
                let log = numbered(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, \
                     duration_ms, response_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (delivery_id, attempt) DO NOTHING",
                    &$dialect,
                );
                let disable = numbered(
                    "UPDATE webhook_subscriptions SET state = 'disabled', updated_at = $2 \
                     WHERE id = $1 AND state = 'active'",
                    &$dialect,
                );
                let mut tx = self.$writer.begin().await?;
                let settled: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(settle))
                    .bind(delivery_id)
                    .bind(token)
                    .bind(status)
                    .bind(next)
                    .bind(finished)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((number, subscription_id)) = settled else {
                    return Ok(false);
                };
                sqlx::query(sqlx::AssertSqlSafe(log))
                    .bind(delivery_id)
                    .bind(number)
                    .bind(attempt.at)
                    .bind(attempt.status_code.map(i64::from))
                    .bind(attempt.error.as_deref())
                    .bind(attempt.duration_ms)
                    .bind(attempt.response_excerpt.as_deref())
                    .execute(&mut *tx)
                    .await?;
                if after == AfterAttempt::Gone {
                    sqlx::query(sqlx::AssertSqlSafe(disable))
                        .bind(subscription_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn webhook_deliveries(
                &self,
                site: &$crate::site::Site,
                webhook_id: i64,
                status: Option<&str>,
                before: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::store::webhooks::DeliveryRecord>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let list = numbered(
                    "SELECT id, event_id, event_type, message_id, status, attempts, next_attempt_at, \
                     created_at, finished_at FROM webhook_deliveries \
                     WHERE subscription_id = $1 AND site_id = $2 AND id < $3 \
                       AND (CAST($4 AS TEXT) IS NULL OR status = CAST($4 AS TEXT)) \
                     ORDER BY id DESC LIMIT $5",
                    &$dialect,
                );
                let deliveries: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(list))
                    .bind(webhook_id)
                    .bind(site.id)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&self.$reader)
                    .await?;
                let (Some(newest), Some(oldest)) = (deliveries.first(), deliveries.last()) else {
                    return Ok(Vec::new());
                };
                // The page's deliveries are the subscription's within this id range (of that
                // status): one query for all their attempts.
                let log = numbered(
                    "SELECT attempt.delivery_id, attempt.attempt, attempt.at, attempt.status_code, \
                     attempt.error, attempt.duration_ms, attempt.response_excerpt \
                     FROM webhook_attempts AS attempt \
                     JOIN webhook_deliveries AS delivery ON delivery.id = attempt.delivery_id \
                     WHERE delivery.subscription_id = $1 AND attempt.delivery_id BETWEEN $2 AND $3 \
                     ORDER BY attempt.delivery_id, attempt.attempt",
                    &$dialect,
                );
                let attempts: Vec<AttemptRow> = sqlx::query_as(sqlx::AssertSqlSafe(log))
                    .bind(webhook_id)
                    .bind(oldest.id)
                    .bind(newest.id)
                    .fetch_all(&self.$reader)
                    .await?;
                Ok(delivery_records(deliveries, attempts))
            }

            async fn prune_deliveries(
                &self,
                finished_before: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let sql = numbered(
                    "DELETE FROM webhook_deliveries WHERE finished_at < $1",
                    &$dialect,
                );
                Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(finished_before)
                    .execute(&self.$writer)
                    .await?
                    .rows_affected())
            }

            async fn held_deliveries(
                &self,
                site: &$crate::site::Site,
                subject: &$crate::store::Subject,
            ) -> Result<Vec<$crate::store::webhooks::HeldDelivery>, $crate::store::StoreError> {
                use $crate::store::webhooks::*;
                let (visitor, customer) = $crate::store::subject_parameters(subject);
                let rows: Vec<HeldRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(held_deliveries_sql(subject, &$dialect)))
                        .bind(site.id)
                        .bind(visitor)
                        .bind(customer)
                        .fetch_all(&self.$reader)
                        .await?;
                Ok(rows.into_iter().map(HeldRow::into_held).collect())
            }
        }
    };
}

pub(super) use webhook_store;

/// Inserts a pending delivery, due at once; parameters as [`bind_delivery`] binds them.
pub(super) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (subscription_id, site_id, \
    event_id, event_type, message_id, payload, status, attempts, next_attempt_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)";

/// [`INSERT_DELIVERY`], only while the subscription is active, and once per (subscription,
/// event). (SQLite needs the `WHERE` to read `ON CONFLICT` as the upsert clause.)
pub(super) const INSERT_DELIVERY_IF_ACTIVE: &str = "INSERT INTO webhook_deliveries (subscription_id, \
    site_id, event_id, event_type, message_id, payload, status, attempts, next_attempt_at, created_at) \
    SELECT $1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7 \
    WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE id = $1 AND state = 'active') \
    ON CONFLICT (subscription_id, event_id) DO NOTHING";

/// The `FROM … WHERE` of the deliveries due at `$1`: pending, due, not leased (or leased by a
/// collector whose lease ran out), of an active subscription.
pub(super) const DUE: &str = "FROM webhook_deliveries AS due \
    JOIN webhook_subscriptions AS subscription ON subscription.id = due.subscription_id \
    WHERE due.status = 'pending' AND due.next_attempt_at <= $1 \
      AND (due.lease_until IS NULL OR due.lease_until <= $1) AND subscription.state = 'active'";

/// Binds a delivery's values to [`INSERT_DELIVERY`] or [`INSERT_DELIVERY_IF_ACTIVE`].
pub(super) fn bind_delivery<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    delivery: &NewDelivery,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    for<'e> i64: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> uuid::Uuid: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> String: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    query
        .bind(delivery.subscription_id)
        .bind(delivery.site_id)
        .bind(delivery.event_id)
        .bind(delivery.event_type.to_owned())
        .bind(delivery.message_id.clone())
        .bind(delivery.payload.clone())
        .bind(delivery.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_each_backend() {
        let sql = "SELECT $1, '$x', $12 WHERE a = $2";
        assert_eq!(
            numbered(sql, &super::super::SQLITE),
            "SELECT ?1, '$x', ?12 WHERE a = ?2"
        );
        assert_eq!(numbered(sql, &super::super::POSTGRES), sql);
    }
}
