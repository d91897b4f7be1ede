//! Storage: the one place that speaks SQL.
//!
//! [`Store`] has one method per question the collector asks of its database. Two backends
//! implement it, [`SqliteStore`] (the default, one file on one machine) and [`PostgresStore`]
//! (for teams that outgrow one machine); [`connect`] picks one by the URL's scheme and runs that
//! backend's migrations. Times are milliseconds since the Unix epoch on both backends.

mod postgres;
mod sqlite;
mod webhooks;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use webhooks::{
    AfterAttempt, AnswerContext, Attempt, DeliveryRecord, HeldDelivery, JourneyStep,
    LeasedDelivery, MAX_JOURNEY_STEPS, NewDelivery, Webhook, WebhookStore,
};

use crate::api_key::{KeyHash, KeyScope};
use crate::site::{Origin, Site};
use async_trait::async_trait;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use touchstone_shared::survey::SiteSurveys;
use touchstone_shared::wire::{DeviceClass, Event, Timestamp, Utm, VisitorId};
use touchstone_shared::{
    CampaignTag, Comment, Currency, CustomerId, Language, PageUrl, Score, SiteKey, SurveyId, Tally,
    TraitName,
};

/// The width of a touchpoint rollup row.
pub const HOUR_MILLIS: i64 = 3_600_000;

/// The width of an answer rollup row. Every time zone in use is a whole number of quarter hours
/// from UTC (+05:30 India, +05:45 Nepal, +12:45 Chatham), so a day, week or month in any zone
/// starts on one and its buckets are read from the rollups alone, never from the raw answers.
pub const QUARTER_HOUR_MILLIS: i64 = 900_000;

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

/// The edges of consecutive buckets of time for a report cut into buckets: at least two
/// strictly increasing instants in milliseconds since the Unix epoch, so that bucket `i` is
/// `edges[i] <= t < edges[i + 1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEdges(Vec<i64>);

impl BucketEdges {
    /// The edges, or `None` unless there are at least two and each is later than the one before.
    pub fn new(edges: Vec<i64>) -> Option<Self> {
        let increasing = edges.windows(2).all(|pair| pair[0] < pair[1]);
        (edges.len() >= 2 && increasing).then_some(BucketEdges(edges))
    }

    /// How many buckets the edges make (one fewer than the edges).
    pub fn buckets(&self) -> usize {
        self.0.len() - 1
    }

    /// Each bucket as a range, in order.
    pub fn ranges(&self) -> impl Iterator<Item = TimeRange> + '_ {
        self.0.windows(2).map(|pair| TimeRange {
            from: pair[0],
            to: pair[1],
        })
    }
}

/// A batch the collect endpoint accepted, on its way to the database.
#[derive(Debug, Clone)]
pub struct IncomingBatch {
    /// The site's database id.
    pub site_id: i64,
    /// The anonymous visitor who sent it.
    pub visitor: VisitorId,
    /// The events, in the order sent.
    pub events: Vec<Event>,
    /// When the collector received it, in milliseconds since the epoch.
    pub received_at: i64,
    /// Whether the site has webhook subscriptions: then its new answers also go to the webhook
    /// inbox, in the same transaction.
    pub watched: bool,
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBatch {
    /// Events stored for the first time.
    pub new: u64,
    /// Events already stored before (a replay), left as they were.
    pub duplicates: u64,
    /// New answers put in the webhook inbox (those of a watched batch), for the dispatcher.
    pub inboxed: u64,
}

/// How often a touchpoint was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchpointCount {
    /// The touchpoint's name.
    pub name: String,
    /// How many times it was recorded.
    pub count: u64,
}

/// Whose answers a report counts: all of a site's, or those of one of its surveys.
#[derive(Debug, Clone, Copy)]
pub struct AnswerScope<'a> {
    /// The site.
    pub site: &'a Site,
    /// One survey, or every survey of the site.
    pub survey: Option<&'a SurveyId>,
}

impl<'a> AnswerScope<'a> {
    /// Every answer of the site, whichever survey.
    pub fn site(site: &'a Site) -> Self {
        AnswerScope { site, survey: None }
    }

    /// The survey to bind to a query's "one survey or any" parameter.
    fn survey(&self) -> Option<&'a str> {
        self.survey.map(SurveyId::as_str)
    }
}

/// An answer of a respondent whose latest `identify` named their business account: what the
/// account report rolls up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountAnswer {
    /// The value of the account trait.
    pub account: String,
    /// The value of the weight trait (e.g. seats) as given, if asked for and present.
    pub weight: Option<String>,
    /// The customer id the respondent was identified as.
    pub customer: String,
    /// The score, 0 to 10.
    pub score: i64,
    /// When it was given, in milliseconds since the epoch.
    pub at: i64,
}

/// A period's answers, and for each touchpoint the answers of the respondents who reached it
/// shortly before answering: what the journey drivers compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyReach {
    /// Every answer of the period.
    pub answers: Tally,
    /// By touchpoint name (in name order): the answers of respondents who reached it.
    pub reached: Vec<(String, Tally)>,
}

/// Which answers a responses listing shows, newest first.
#[derive(Debug, Clone)]
pub struct ResponseQuery<'a> {
    /// The site, and one survey or all.
    pub scope: AnswerScope<'a>,
    /// When they were given.
    pub range: TimeRange,
    /// The lowest and highest score shown.
    pub scores: (Score, Score),
    /// Only answers whose comment contains this text (case-insensitively).
    pub contains: Option<&'a str>,
    /// Only answers older than this one: where the previous page ended.
    pub before: Option<ResponseCursor>,
    /// The most answers returned.
    pub limit: u32,
}

/// Where a page of answers ended: the last answer's time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCursor {
    /// The answer's time, in milliseconds since the epoch.
    pub at: i64,
    /// The answer's event id.
    pub id: uuid::Uuid,
}

/// One answer as a listing shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ListedResponse {
    /// The answer's event id.
    pub id: uuid::Uuid,
    /// The visitor who gave it.
    pub visitor: uuid::Uuid,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// 0 to 10.
    pub score: i64,
    /// The answer to the follow-up question.
    pub comment: Option<String>,
    /// The survey answered.
    pub survey: Option<String>,
    /// The language it was given in.
    pub language: Option<String>,
    /// The device class it was given on.
    pub device: Option<String>,
    /// The customer the visitor was last identified as.
    pub customer: Option<String>,
}

/// A touchpoint a visitor reached, for the journeys beside listed answers.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VisitedTouchpoint {
    /// The visitor.
    pub visitor: uuid::Uuid,
    /// The touchpoint's name.
    pub name: String,
    /// When, in milliseconds since the epoch.
    pub at: i64,
}

/// A customer's revenue to store: one payment (or, negative, a refund) in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueEntry {
    /// Its id: the same row posted twice has the same id and is stored once.
    pub id: uuid::Uuid,
    /// The client's own id for the row (an invoice number), if it gave one.
    pub reference: Option<String>,
    /// Whose revenue: the site's customer id, as `identify` gives it.
    pub customer: CustomerId,
    /// The currency.
    pub currency: Currency,
    /// In whole minor units of the currency (cents); negative for a refund.
    pub amount: i64,
    /// When it was earned, in milliseconds since the epoch.
    pub at: i64,
}

/// What storing revenue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredRevenue {
    /// Rows stored for the first time.
    pub new: u64,
    /// Rows already stored (the same id), left as they were.
    pub duplicates: u64,
}

/// A revenue row, as a privacy export shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HeldRevenue {
    /// The row's id.
    pub id: uuid::Uuid,
    /// The client's own id for the row, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The customer id.
    pub customer: String,
    /// ISO 4217 code.
    pub currency: String,
    /// In major units, with the currency's decimals, e.g. `"12.50"`.
    pub amount: String,
    /// When it was earned, in milliseconds since the epoch.
    pub at: i64,
    /// When it was stored.
    pub received_at: i64,
}

/// A revenue row as both backends return it.
#[derive(Debug, sqlx::FromRow)]
struct RevenueRow {
    entry_id: uuid::Uuid,
    reference: Option<String>,
    customer_id: String,
    currency: String,
    amount: i64,
    occurred_at: i64,
    received_at: i64,
}

impl RevenueRow {
    fn into_held(self) -> Result<HeldRevenue, StoreError> {
        let currency = Currency::parse(&self.currency).map_err(|error| {
            StoreError::Database(sqlx::Error::Protocol(format!(
                "a stored currency is invalid: {error}"
            )))
        })?;
        Ok(HeldRevenue {
            id: self.entry_id,
            reference: self.reference,
            customer: self.customer_id,
            currency: self.currency,
            amount: currency.format(i128::from(self.amount)),
            at: self.occurred_at,
            received_at: self.received_at,
        })
    }
}

/// Revenue rows sorted by id, the order both backends write them in (so concurrent imports
/// lock rows in one order), each id once: a repeat in one request is a duplicate, not an error.
fn revenue_rows(entries: &[RevenueEntry]) -> Vec<&RevenueEntry> {
    let mut rows: Vec<&RevenueEntry> = entries.iter().collect();
    rows.sort_by_key(|entry| entry.id);
    rows.dedup_by_key(|entry| entry.id);
    rows
}

/// The query behind [`Store::customer_revenue`]: `(score, net revenue)`, one row per customer
/// who answered within the period. Parameters: 1 the site, 2 and 3 the period, 4 the survey or
/// null, 5 the currency or null (every customer's revenue is then 0).
///
/// A visitor's answers belong to the customer of the visitor's latest `identify` (as in the
/// responses listing); a customer's answer that counts is their latest within the period;
/// their revenue is what is dated within the same period, in that currency.
fn customer_revenue_sql(dialect: &Dialect) -> String {
    let p = dialect.placeholder;
    let (site, from, to) = (p(1), p(2), p(3));
    let (survey, currency) = ((dialect.text_placeholder)(4), (dialect.text_placeholder)(5));
    format!(
        "WITH identified AS ( \
           SELECT visitor_id, customer_id FROM ( \
             SELECT visitor_id, customer_id, ROW_NUMBER() OVER ( \
               PARTITION BY visitor_id ORDER BY occurred_at DESC, event_id DESC) AS position \
             FROM events WHERE site_id = {site} AND kind = 'identify') AS ranked \
           WHERE position = 1), \
         latest AS ( \
           SELECT customer_id, score FROM ( \
             SELECT identified.customer_id, CAST(answer.score AS BIGINT) AS score, ROW_NUMBER() OVER ( \
               PARTITION BY identified.customer_id \
               ORDER BY answer.occurred_at DESC, answer.event_id DESC) AS position \
             FROM events AS answer JOIN identified ON identified.visitor_id = answer.visitor_id \
             WHERE answer.site_id = {site} AND answer.kind = 'response' \
               AND answer.occurred_at >= {from} AND answer.occurred_at < {to} \
               AND ({survey} IS NULL OR answer.survey = {survey})) AS ranked \
           WHERE position = 1), \
         earned AS ( \
           SELECT customer_id, CAST(SUM(amount) AS BIGINT) AS amount FROM revenue \
           WHERE site_id = {site} AND currency = {currency} \
             AND occurred_at >= {from} AND occurred_at < {to} \
           GROUP BY customer_id) \
         SELECT latest.score, COALESCE(earned.amount, 0) FROM latest \
         LEFT JOIN earned ON earned.customer_id = latest.customer_id"
    )
}

/// A read API key to add to a site; the key itself is never stored, only its hash.
#[derive(Debug, Clone, Copy)]
pub struct NewApiKey<'a> {
    /// The SHA-256 of the key.
    pub hash: &'a KeyHash,
    /// Its first characters, to recognise it in listings.
    pub prefix: &'a str,
    /// What the key is for, in the operator's words ("Grafana", "Anna's laptop").
    pub label: Option<&'a str>,
    /// What the key may do.
    pub scope: KeyScope,
}

/// An API key as a listing shows it: never the key, only what identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// The key's id, for `touchstone key revoke`.
    pub id: i64,
    /// The key's first characters.
    pub prefix: String,
    /// The operator's label, if any.
    pub label: Option<String>,
    /// `read` or `admin`.
    pub scope: &'static str,
    /// When it was made, in milliseconds since the epoch.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// Which key to revoke: by the id a listing shows, or by the key itself (a leaked key can be
/// revoked without looking it up).
#[derive(Debug, Clone)]
pub enum KeyToRevoke {
    /// The id from `touchstone key list`.
    Id(i64),
    /// The hash of the full key.
    Hash(KeyHash),
}

/// A site whose API key a request presented, and what that key may do.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The site the key belongs to.
    pub site: Site,
    /// The key's scope.
    pub scope: KeyScope,
}

/// The SQL condition on `events` that selects what is held about a subject, with parameters 1
/// (the site id), 2 (the visitor id, or null) and 3 (the customer id, or null), in the
/// placeholder style `placeholder` writes (`?1` for SQLite, `$1` for PostgreSQL). Both
/// parameters are always bound so one statement serves either kind of subject; the unused one
/// is null and tested as such.
fn subject_condition(subject: &Subject, dialect: &Dialect) -> String {
    let placeholder = dialect.placeholder;
    let (site, visitor, customer) = (placeholder(1), placeholder(2), placeholder(3));
    match subject {
        Subject::Visitor(_) => {
            format!("site_id = {site} AND visitor_id = {visitor} AND {customer} IS NULL")
        }
        Subject::Customer(_) => format!(
            "site_id = {site} AND {visitor} IS NULL \
             AND visitor_id IN (SELECT visitor_id FROM events WHERE site_id = {site} AND customer_id = {customer}) \
             AND (customer_id IS NULL OR customer_id = {customer})"
        ),
    }
}

/// What differs between the backends in the statements written once, here, for both.
struct Dialect {
    /// The `n`th bound parameter: `?n` or `$n`.
    placeholder: fn(u8) -> String,
    /// The score column as a 64-bit integer (PostgreSQL stores a `SMALLINT`).
    score: &'static str,
    /// The `n`th bound parameter where it may be a null text (PostgreSQL must be told its type).
    text_placeholder: fn(u8) -> String,
    /// Case-insensitive `LIKE` (SQLite's `LIKE` folds ASCII letters only; PostgreSQL's `ILIKE`
    /// folds all).
    like: &'static str,
    /// A trait's text value from the `traits` JSON column of `table`, the name bound at `n`.
    trait_value: fn(&str, u8) -> String,
}

/// SQLite's way of writing the shared statements.
const SQLITE: Dialect = Dialect {
    placeholder: |n| format!("?{n}"),
    score: "score",
    text_placeholder: |n| format!("?{n}"),
    like: "LIKE",
    trait_value: |table, n| format!("json_extract({table}.traits, '$.\"' || ?{n} || '\"')"),
};

/// PostgreSQL's way of writing the shared statements.
const POSTGRES: Dialect = Dialect {
    placeholder: |n| format!("${n}"),
    score: "score::BIGINT AS score",
    text_placeholder: |n| format!("${n}::TEXT"),
    like: "ILIKE",
    trait_value: |table, n| format!("{table}.traits ->> ${n}::TEXT"),
};

/// The query behind [`Store::held_events`]; bind the site and [`subject_parameters`].
fn held_events_sql(subject: &Subject, dialect: &Dialect) -> String {
    format!(
        "SELECT event_id AS id, visitor_id AS visitor, kind, occurred_at AS at, received_at, \
         name, url, {}, comment, customer_id AS customer, traits, survey, referrer, \
         utm_source, utm_medium, utm_campaign, utm_term, utm_content, language, device \
         FROM events WHERE {} \
         ORDER BY occurred_at, event_id",
        dialect.score,
        subject_condition(subject, dialect)
    )
}

/// The statement behind [`Store::erase`]: it deletes what [`held_events_sql`] selects and returns
/// what the rollups must lose.
fn erase_sql(subject: &Subject, dialect: &Dialect) -> String {
    format!(
        "DELETE FROM events WHERE {} RETURNING visitor_id, kind, occurred_at, {}, name, survey",
        subject_condition(subject, dialect),
        dialect.score
    )
}

/// The query behind [`Store::journey_reach`], as `(touchpoint name, score, answers)` rows; the
/// rows with a null name count every answer. Parameters: 1 the site id, 2 and 3 the period's
/// bounds, 4 the survey or null, 5 the window in milliseconds. A respondent counts once per
/// touchpoint however often they reached it; `page_view` is left out (everyone has one; pages
/// are a segment, not a moment).
fn journey_reach_sql(dialect: &Dialect) -> String {
    let p = dialect.placeholder;
    let (site, from, to, window) = (p(1), p(2), p(3), p(5));
    let survey = (dialect.text_placeholder)(4);
    format!(
        "WITH answers AS ( \
           SELECT event_id, visitor_id, occurred_at, {score} FROM events \
           WHERE site_id = {site} AND kind = 'response' AND occurred_at >= {from} AND occurred_at < {to} \
             AND ({survey} IS NULL OR survey = {survey})), \
         reached AS ( \
           SELECT DISTINCT answers.event_id, moment.name, answers.score FROM answers \
           JOIN events AS moment ON moment.site_id = {site} AND moment.visitor_id = answers.visitor_id \
             AND moment.kind = 'touchpoint' AND moment.name <> 'page_view' \
             AND moment.occurred_at <= answers.occurred_at \
             AND moment.occurred_at >= answers.occurred_at - {window}) \
         SELECT CAST(NULL AS TEXT), score, COUNT(*) FROM answers GROUP BY score \
         UNION ALL \
         SELECT name, score, COUNT(*) FROM reached GROUP BY name, score",
        score = dialect.score,
    )
}

/// The query behind [`Store::responses`]. Parameters: 1 the site id, 2 and 3 the period, 4 the
/// survey or null, 5 and 6 the lowest and highest score, 7 a `LIKE` pattern for the comment or
/// null, 8 and 9 the cursor (answers strictly older than that time and id), 10 the limit.
fn responses_sql(dialect: &Dialect) -> String {
    let p = dialect.placeholder;
    let text = dialect.text_placeholder;
    format!(
        "SELECT event_id AS id, visitor_id AS visitor, occurred_at AS at, {score}, comment, survey, \
                language, device, \
                (SELECT who.customer_id FROM events AS who WHERE who.site_id = events.site_id \
                   AND who.visitor_id = events.visitor_id AND who.kind = 'identify' \
                   ORDER BY who.occurred_at DESC LIMIT 1) AS customer \
         FROM events \
         WHERE site_id = {site} AND kind = 'response' AND occurred_at >= {from} AND occurred_at < {to} \
           AND ({survey} IS NULL OR survey = {survey}) AND score BETWEEN {low} AND {high} \
           AND ({contains} IS NULL OR comment {like} {contains} ESCAPE '\\') \
           AND (occurred_at < {before_at} OR (occurred_at = {before_at} AND event_id < {before_id})) \
         ORDER BY occurred_at DESC, event_id DESC LIMIT {limit}",
        score = dialect.score,
        site = p(1),
        from = p(2),
        to = p(3),
        survey = text(4),
        low = p(5),
        high = p(6),
        contains = text(7),
        like = dialect.like,
        before_at = p(8),
        before_id = p(9),
        limit = p(10),
    )
}

/// What a segments report groups answers by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// The survey answered.
    Survey,
    /// The language of the answer.
    Language,
    /// The device class of the answer.
    Device,
    /// The page the respondent last viewed before answering.
    Page,
    /// The referrer of the respondent's last session that had one (last non-direct touch).
    Referrer,
    /// A `utm_*` tag (`source`, `medium` or `campaign`) of the last session that had a referrer
    /// or tags.
    Utm(UtmTag),
    /// A customer trait given with `identify` (the visitor's latest identify).
    Trait(touchstone_shared::TraitName),
}

/// The campaign tags a segments report can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtmTag {
    /// `utm_source`.
    Source,
    /// `utm_medium`.
    Medium,
    /// `utm_campaign`.
    Campaign,
}

/// The query behind [`Store::segments`], as `(segment value or null, score, answers)` rows.
/// Parameters: 1 the site, 2 and 3 the period, 4 the survey or null, 5 the window in
/// milliseconds, and for a trait segment 6 the trait's name.
fn segments_sql(dialect: &Dialect, segment: &Segment) -> String {
    let p = dialect.placeholder;
    let (site, from, to, window) = (p(1), p(2), p(3), p(5));
    let survey = (dialect.text_placeholder)(4);
    // The respondent's own earlier touchpoints within the window, latest first.
    let earlier = |column: &str, condition: &str| {
        format!(
            "(SELECT moment.{column} FROM events AS moment WHERE moment.site_id = answer.site_id \
               AND moment.visitor_id = answer.visitor_id AND moment.kind = 'touchpoint' \
               AND moment.occurred_at <= answer.occurred_at \
               AND moment.occurred_at >= answer.occurred_at - {window} AND {condition} \
             ORDER BY moment.occurred_at DESC LIMIT 1)"
        )
    };
    let arrived = "(moment.referrer IS NOT NULL OR moment.utm_source IS NOT NULL \
                   OR moment.utm_medium IS NOT NULL OR moment.utm_campaign IS NOT NULL)";
    let value = match segment {
        Segment::Survey => "answer.survey".to_owned(),
        Segment::Language => "answer.language".to_owned(),
        Segment::Device => "answer.device".to_owned(),
        Segment::Page => earlier("url", "moment.name = 'page_view'"),
        Segment::Referrer => earlier("referrer", arrived),
        Segment::Utm(UtmTag::Source) => earlier("utm_source", arrived),
        Segment::Utm(UtmTag::Medium) => earlier("utm_medium", arrived),
        Segment::Utm(UtmTag::Campaign) => earlier("utm_campaign", arrived),
        Segment::Trait(_) => format!(
            "(SELECT {} FROM events AS who WHERE who.site_id = answer.site_id \
               AND who.visitor_id = answer.visitor_id AND who.kind = 'identify' \
             ORDER BY who.occurred_at DESC LIMIT 1)",
            (dialect.trait_value)("who", 6)
        ),
    };
    format!(
        "SELECT segment, score, COUNT(*) FROM ( \
           SELECT {value} AS segment, answer.{score} FROM events AS answer \
           WHERE answer.site_id = {site} AND answer.kind = 'response' \
             AND answer.occurred_at >= {from} AND answer.occurred_at < {to} \
             AND ({survey} IS NULL OR answer.survey = {survey})) AS answered \
         GROUP BY segment, score",
        score = dialect.score,
    )
}

/// The query behind [`Store::account_answers`]. Parameters: 1 the site id, 2 and 3 the period's
/// bounds, 4 the survey or null, 5 the account trait's name, 6 the weight trait's name or null.
fn account_answers_sql(dialect: &Dialect) -> String {
    let p = dialect.placeholder;
    let (site, from, to) = (p(1), p(2), p(3));
    let survey = (dialect.text_placeholder)(4);
    // The respondent's latest identify, one column of it at a time.
    let latest = |column: String| {
        format!(
            "(SELECT {column} FROM events AS who WHERE who.site_id = answer.site_id \
               AND who.visitor_id = answer.visitor_id AND who.kind = 'identify' \
             ORDER BY who.occurred_at DESC LIMIT 1)"
        )
    };
    format!(
        "SELECT account, weight, customer, score, at FROM ( \
           SELECT {account} AS account, {weight} AS weight, {customer} AS customer, \
                  answer.{score}, answer.occurred_at AS at FROM events AS answer \
           WHERE answer.site_id = {site} AND answer.kind = 'response' \
             AND answer.occurred_at >= {from} AND answer.occurred_at < {to} \
             AND ({survey} IS NULL OR answer.survey = {survey})) AS answered \
         WHERE account IS NOT NULL AND customer IS NOT NULL",
        account = latest((dialect.trait_value)("who", 5)),
        weight = latest((dialect.trait_value)("who", 6)),
        customer = latest("who.customer_id".to_owned()),
        score = dialect.score,
    )
}

/// Folds the rows of [`segments_sql`] into one tally per segment value (`None`: the answers
/// without one), most answers first.
fn segment_tallies(
    rows: Vec<(Option<String>, i64, i64)>,
) -> Result<Vec<(Option<String>, Tally)>, StoreError> {
    let mut groups: BTreeMap<Option<String>, Vec<(i64, i64)>> = BTreeMap::new();
    for (segment, score, count) in rows {
        groups.entry(segment).or_default().push((score, count));
    }
    let mut tallies = groups
        .into_iter()
        .map(|(segment, rows)| Ok((segment, tally_scores(rows)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    tallies.sort_by(|a, b| {
        b.1.responses()
            .cmp(&a.1.responses())
            .then_with(|| a.0.cmp(&b.0))
    });
    Ok(tallies)
}

/// `text` as a `LIKE` pattern that matches it anywhere, its own `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The query behind [`Store::journey_steps`]: `(answer id, score, touchpoint name)` rows, every
/// named touchpoint (not `page_view`) the respondent reached within the window before each answer,
/// in order. Parameters as for [`journey_reach_sql`], and 6 the most rows returned.
fn journey_steps_sql(dialect: &Dialect) -> String {
    let p = dialect.placeholder;
    let (site, from, to, window, limit) = (p(1), p(2), p(3), p(5), p(6));
    let survey = (dialect.text_placeholder)(4);
    format!(
        "SELECT answer.event_id, answer.{score}, moment.name FROM events AS answer \
         JOIN events AS moment ON moment.site_id = answer.site_id AND moment.visitor_id = answer.visitor_id \
           AND moment.kind = 'touchpoint' AND moment.name <> 'page_view' \
           AND moment.occurred_at <= answer.occurred_at AND moment.occurred_at >= answer.occurred_at - {window} \
         WHERE answer.site_id = {site} AND answer.kind = 'response' \
           AND answer.occurred_at >= {from} AND answer.occurred_at < {to} \
           AND ({survey} IS NULL OR answer.survey = {survey}) \
         ORDER BY answer.event_id, moment.occurred_at, moment.event_id LIMIT {limit}",
        score = dialect.score,
    )
}

/// Folds the rows of [`journey_reach_sql`] into what [`Store::journey_reach`] returns.
fn journey_reach(rows: Vec<(Option<String>, i64, i64)>) -> Result<JourneyReach, StoreError> {
    let mut answers = Vec::new();
    let mut reached: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (name, score, count) in rows {
        match name {
            None => answers.push((score, count)),
            Some(name) => reached.entry(name).or_default().push((score, count)),
        }
    }
    Ok(JourneyReach {
        answers: tally_scores(answers)?,
        reached: reached
            .into_iter()
            .map(|(name, rows)| Ok((name, tally_scores(rows)?)))
            .collect::<Result<_, StoreError>>()?,
    })
}

/// The visitor and customer ids to bind as parameters 2 and 3 of [`subject_condition`].
fn subject_parameters(subject: &Subject) -> (Option<uuid::Uuid>, Option<&str>) {
    match subject {
        Subject::Visitor(visitor) => (Some(visitor.0), None),
        Subject::Customer(customer) => (None, Some(customer.as_str())),
    }
}

/// Whose data a privacy request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One anonymous visitor, by the id their browser made.
    Visitor(VisitorId),
    /// A customer, by the owner's id given with `identify`: every visitor that was identified as
    /// this customer.
    Customer(CustomerId),
}

/// One stored event, as a privacy export shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HeldEvent {
    /// The browser-made event id.
    pub id: uuid::Uuid,
    /// The visitor who sent it.
    pub visitor: uuid::Uuid,
    /// `touchpoint`, `response`, `shown`, `dismissal` or `identify`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, in milliseconds since the epoch.
    pub at: i64,
    /// When the collector received it.
    pub received_at: i64,
    /// A touchpoint's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A touchpoint's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A response's score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// A response's comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// An identify's customer id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// An identify's traits, as the JSON object it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(json(nullable))]
    pub traits: Option<serde_json::Value>,
    /// The survey a response, showing or dismissal belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<String>,
    /// The page that sent the visitor to a session's first touchpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// A session's `utm_source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    /// A session's `utm_medium`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    /// A session's `utm_campaign`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    /// A session's `utm_term`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    /// A session's `utm_content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    /// The language a response was given in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The device class a response was given on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// Visitors whose events were erased.
    pub visitors: u64,
    /// Events erased, of every kind.
    pub events: u64,
    /// Of those, survey answers (also taken out of the NPS rollups).
    pub responses: u64,
    /// Revenue rows of the customer (none for a visitor: revenue belongs to customer ids).
    pub revenue: u64,
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
    /// `revoke_api_key` named no key of that site.
    #[error("the site {0} has no such API key")]
    UnknownApiKey(SiteKey),
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
                sqlite
                    .code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .is_some_and(is_transient_sqlite_code)
            } else {
                database
                    .code()
                    .is_some_and(|code| is_transient_sqlstate(&code))
            }
        }
        _ => false,
    }
}

/// SQLite (extended) result codes whose primary code means "not now": BUSY, LOCKED, IOERR,
/// FULL, CANTOPEN, READONLY.
fn is_transient_sqlite_code(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

/// PostgreSQL SQLSTATEs that mean "not now": the classes connection exception (`08`),
/// insufficient resources (`53`) and operator intervention (`57`: a shutdown, a terminated
/// session, a statement cancelled by an operator or by `statement_timeout`); a lock not
/// available within `lock_timeout` (`55P03`); a read-only transaction (`25006`, a standby after
/// a failover); serialization failure and deadlock (`40001`, `40P01`), which a retry resolves.
fn is_transient_sqlstate(code: &str) -> bool {
    ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "55P03" | "25006" | "40001" | "40P01")
}

/// The questions the collector asks of its database (those about webhooks are in
/// [`WebhookStore`]).
#[async_trait]
pub trait Store: WebhookStore + Send + Sync + 'static {
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

    /// The site with this public key, or [`StoreError::UnknownSite`].
    async fn existing_site(&self, key: &SiteKey) -> Result<Site, StoreError> {
        self.site(key)
            .await?
            .ok_or_else(|| StoreError::UnknownSite(key.clone()))
    }

    /// Adds another API key to a site; returns its id.
    async fn add_api_key(&self, site: &SiteKey, key: NewApiKey<'_>) -> Result<i64, StoreError>;

    /// A site's API keys, revoked ones included, oldest first.
    async fn api_keys(&self, site: &SiteKey) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes one of a site's keys from now on. Returns `false` when it was already revoked.
    async fn revoke_api_key(&self, site: &SiteKey, key: &KeyToRevoke) -> Result<bool, StoreError>;

    /// The site and the key's scope, if `key_hash` belongs to an unrevoked API key of exactly
    /// that site.
    async fn authorized_site(
        &self,
        site: &SiteKey,
        key_hash: &KeyHash,
    ) -> Result<Option<Authorized>, StoreError>;

    /// The site and scope of the unrevoked API key whose hash is `key_hash`, if any: a key
    /// belongs to exactly one site, so the key alone names it (`GET /v1/whoami`).
    async fn key_holder(&self, key_hash: &KeyHash) -> Result<Option<Authorized>, StoreError>;

    /// Every event held about `subject`, oldest first: all of the visitor's events, or all
    /// events of every visitor identified as the customer — except identify events naming
    /// other customers (a shared browser), which are theirs, not this customer's.
    async fn held_events(
        &self,
        site: &Site,
        subject: &Subject,
    ) -> Result<Vec<HeldEvent>, StoreError>;

    /// Deletes exactly what [`Store::held_events`] returns and takes it out of the rollups, in
    /// one transaction (the customer's visitors are looked up inside it too).
    async fn erase(&self, site: &Site, subject: &Subject) -> Result<Erased, StoreError>;

    /// The revenue rows of a customer, oldest first.
    async fn held_revenue(
        &self,
        site: &Site,
        customer: &CustomerId,
    ) -> Result<Vec<HeldRevenue>, StoreError>;

    /// Stores revenue rows in one transaction, each (site, id) once: all of them, or none.
    async fn store_revenue(
        &self,
        site: &Site,
        entries: &[RevenueEntry],
    ) -> Result<StoredRevenue, StoreError>;

    /// The currencies the site has revenue in, in code order.
    async fn revenue_currencies(&self, site: &Site) -> Result<Vec<Currency>, StoreError>;

    /// For each customer who answered within `range`: the score of their latest answer there
    /// and their net revenue in `currency` dated within `range` (0 without any, or without a
    /// currency), in minor units.
    async fn customer_revenue(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        currency: Option<Currency>,
    ) -> Result<Vec<(Score, i64)>, StoreError>;

    /// Stores several batches in one transaction, each (site, event id) once, and adds the new
    /// events to the rollups in the same transaction, and the new answers of watched batches to
    /// the webhook inbox. Returns, in order, what happened to each batch, only after the
    /// transaction has committed.
    async fn store_batches(
        &self,
        batches: &[IncomingBatch],
    ) -> Result<Vec<StoredBatch>, StoreError>;

    /// The site's survey configuration, if its owner has stored one.
    async fn site_surveys(&self, site: &Site) -> Result<Option<SiteSurveys>, StoreError>;

    /// Replaces the site's survey configuration; collectors serve it from the next request on.
    async fn set_site_surveys(&self, site: &Site, surveys: &SiteSurveys) -> Result<(), StoreError>;

    /// The promoters, passives and detractors who answered within `range`.
    async fn tally(&self, scope: AnswerScope<'_>, range: TimeRange) -> Result<Tally, StoreError>;

    /// The promoters, passives and detractors who answered in each bucket, in order.
    ///
    /// Answers in whole quarter hours come from the answer rollups, all in one query
    /// ([`Store::rollup_tallies`]); those in the partial quarter hours at the ends of a period
    /// given to the minute or second come from the raw events, in one more
    /// ([`Store::raw_tallies`]). The assignment to buckets is the same for every backend, so it
    /// is written here once.
    async fn tally_buckets(
        &self,
        scope: AnswerScope<'_>,
        buckets: &BucketEdges,
    ) -> Result<Vec<Tally>, StoreError> {
        let plan = BucketPlan::new(buckets);
        let rolled_up = match plan.slots {
            Some(slots) => self.rollup_tallies(scope, slots).await?,
            None => Vec::new(),
        };
        let mut tallies = plan.tally_rollups(rolled_up);
        let partial: Vec<TimeRange> = plan.edges.iter().map(|(_, range)| *range).collect();
        for (index, tally) in self.raw_tallies(scope, &partial).await? {
            let bucket = plan.edges.get(index).map(|(bucket, _)| *bucket);
            match bucket.and_then(|bucket| tallies.get_mut(bucket)) {
                Some(bucket) => *bucket += tally,
                None => return Err(not_asked_for(index)),
            }
        }
        Ok(tallies)
    }

    /// The site's answer rollup rows within `slots` (both ends on whole quarter hours), as
    /// `(quarter hour, tally)` in any order (a quarter hour may come once per survey): the first
    /// half of [`Store::tally_buckets`].
    async fn rollup_tallies(
        &self,
        scope: AnswerScope<'_>,
        slots: TimeRange,
    ) -> Result<Vec<(i64, Tally)>, StoreError>;

    /// The site's answers within each of `ranges`, counted from the raw events, as
    /// `(index into ranges, tally)`; ranges without answers may be left out. The second half
    /// of [`Store::tally_buckets`].
    async fn raw_tallies(
        &self,
        scope: AnswerScope<'_>,
        ranges: &[TimeRange],
    ) -> Result<Vec<(usize, Tally)>, StoreError>;

    /// The answers within `range` and, for every touchpoint but `page_view`, the answers of
    /// respondents who reached it within `window_millis` before answering.
    async fn journey_reach(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        window_millis: i64,
    ) -> Result<JourneyReach, StoreError>;

    /// The answers within `range` of respondents whose latest `identify` gave the trait
    /// `account`, with that identify's customer id and `weight` trait, in no particular order.
    async fn account_answers(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        account: &TraitName,
        weight: Option<&TraitName>,
    ) -> Result<Vec<AccountAnswer>, StoreError>;

    /// The answers within `range`, grouped by `segment`: one tally per value (`None` for answers
    /// without one), most answers first. `window_millis` bounds how far back the journey-based
    /// segments (page, referrer, campaign tags) look.
    async fn segments(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        segment: &Segment,
        window_millis: i64,
    ) -> Result<Vec<(Option<String>, Tally)>, StoreError>;

    /// For each answer within `range` whose respondent reached named touchpoints within
    /// `window_millis` before it: `(answer id, score, touchpoint)` in journey order, grouped by
    /// answer; at most `limit` rows.
    async fn journey_steps(
        &self,
        scope: AnswerScope<'_>,
        range: TimeRange,
        window_millis: i64,
        limit: i64,
    ) -> Result<Vec<(uuid::Uuid, i64, String)>, StoreError>;

    /// A page of answers, newest first.
    async fn responses(&self, query: &ResponseQuery<'_>)
    -> Result<Vec<ListedResponse>, StoreError>;

    /// The touchpoints `visitors` reached within `range` (both ends included), oldest first.
    async fn touchpoints_of(
        &self,
        site: &Site,
        visitors: &[uuid::Uuid],
        range: TimeRange,
    ) -> Result<Vec<VisitedTouchpoint>, StoreError>;

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
    site_id: i64,
    visitor_id: uuid::Uuid,
    received_at: i64,
    event_id: uuid::Uuid,
    kind: &'static str,
    occurred_at: i64,
    name: Option<&'a str>,
    url: Option<&'a str>,
    score: Option<i16>,
    comment: Option<&'a str>,
    customer_id: Option<&'a str>,
    /// Traits as a JSON object.
    traits: Option<String>,
    survey: Option<&'a str>,
    referrer: Option<&'a str>,
    utm: Option<&'a Utm>,
    language: Option<&'a str>,
    device: Option<&'static str>,
}

impl<'a> EventRow<'a> {
    fn new(batch: &IncomingBatch, event: &'a Event) -> Self {
        let mut row = EventRow {
            site_id: batch.site_id,
            visitor_id: batch.visitor.0,
            received_at: batch.received_at,
            event_id: event.id().0,
            kind: "",
            occurred_at: event.at().millis(),
            name: None,
            url: None,
            score: None,
            comment: None,
            customer_id: None,
            traits: None,
            survey: None,
            referrer: None,
            utm: None,
            language: None,
            device: None,
        };
        match event {
            Event::Touchpoint {
                name,
                url,
                referrer,
                utm,
                ..
            } => {
                row.kind = "touchpoint";
                row.name = Some(name.as_str());
                row.url = Some(url.as_str());
                row.referrer = referrer.as_ref().map(PageUrl::as_str);
                row.utm = utm.as_ref();
            }
            Event::Response {
                score,
                comment,
                survey,
                language,
                device,
                ..
            } => {
                row.kind = "response";
                row.score = Some(i16::from(score.value()));
                row.comment = comment.as_ref().map(Comment::as_str);
                row.survey = Some(survey.as_str());
                row.language = language.as_ref().map(Language::as_str);
                row.device = device.map(DeviceClass::as_str);
            }
            Event::Shown { survey, .. } => {
                row.kind = "shown";
                row.survey = Some(survey.as_str());
            }
            Event::Dismissal { survey, .. } => {
                row.kind = "dismissal";
                row.survey = Some(survey.as_str());
            }
            Event::Identify {
                customer, traits, ..
            } => {
                row.kind = "identify";
                row.customer_id = Some(customer.as_str());
                row.traits = Some(traits_json(traits));
            }
        }
        row
    }

    /// One of the `utm_*` columns.
    fn utm(&self, tag: fn(&Utm) -> &Option<CampaignTag>) -> Option<&'a str> {
        self.utm
            .and_then(|utm| tag(utm).as_ref())
            .map(CampaignTag::as_str)
    }
}

/// Traits as the JSON object both backends store: names to text values, in name order.
fn traits_json(traits: &touchstone_shared::wire::Traits) -> String {
    let object: serde_json::Map<String, serde_json::Value> = traits
        .iter()
        .map(|(name, value)| (name.to_string(), value.as_str().into()))
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// Every event of `batches` as table rows, sorted by (site, event id) so that concurrent writers
/// (several collectors on one PostgreSQL) take row locks in one order and cannot deadlock.
fn event_rows(batches: &[IncomingBatch]) -> Vec<EventRow<'_>> {
    let mut rows: Vec<EventRow<'_>> = batches
        .iter()
        .flat_map(|batch| {
            batch
                .events
                .iter()
                .map(move |event| EventRow::new(batch, event))
        })
        .collect();
    rows.sort_by_key(|row| (row.site_id, row.event_id));
    rows
}

/// What a committed group adds to the rollups, keyed and sorted so upserts lock in one order.
#[derive(Debug, Default, PartialEq)]
struct RollupDeltas {
    /// `(site id, survey, quarter hour)` → answers.
    nps: BTreeMap<(i64, String, i64), Tally>,
    /// `(site id, touchpoint name, hour)` → count.
    touchpoints: BTreeMap<(i64, String, i64), i64>,
}

/// What a group's new events add: to the rollups, and to the webhook inbox.
#[derive(Debug, Default, PartialEq)]
struct Settled {
    /// How each batch fared, in order.
    outcomes: Vec<StoredBatch>,
    /// What the new events add to the rollups.
    deltas: RollupDeltas,
    /// The new answers of watched batches, as `(site id, event id)`.
    inbox: Vec<(i64, uuid::Uuid)>,
}

/// Works out, from the `(site id, event id)` pairs the insert reported as new, how each batch
/// fared, what the new events add to the rollups, and which new answers the webhook inbox
/// takes. An event id that appears twice (in one batch, or in two batches of the group) is new
/// only the first time.
fn settle(batches: &[IncomingBatch], mut inserted: HashSet<(i64, uuid::Uuid)>) -> Settled {
    let mut deltas = RollupDeltas::default();
    let mut inbox = Vec::new();
    let outcomes = batches
        .iter()
        .map(|batch| {
            let mut new = 0;
            let mut inboxed = 0;
            for event in &batch.events {
                if !inserted.remove(&(batch.site_id, event.id().0)) {
                    continue;
                }
                new += 1;
                let at = event.at().millis();
                match event {
                    Event::Response { score, survey, .. } => {
                        deltas
                            .nps
                            .entry((
                                batch.site_id,
                                survey.to_string(),
                                slot_of(at, QUARTER_HOUR_MILLIS),
                            ))
                            .or_default()
                            .record(score.category());
                        if batch.watched {
                            inbox.push((batch.site_id, event.id().0));
                            inboxed += 1;
                        }
                    }
                    Event::Touchpoint { name, .. } => {
                        *deltas
                            .touchpoints
                            .entry((batch.site_id, name.to_string(), slot_of(at, HOUR_MILLIS)))
                            .or_default() += 1;
                    }
                    // Identities, showings and dismissals are not counted in any rollup.
                    Event::Identify { .. } | Event::Shown { .. } | Event::Dismissal { .. } => {}
                }
            }
            StoredBatch {
                new,
                duplicates: batch.events.len() as u64 - new,
                inboxed,
            }
        })
        .collect();
    // Sorted, so concurrent collectors insert inbox rows in one order.
    inbox.sort_unstable();
    Settled {
        outcomes,
        deltas,
        inbox,
    }
}

/// A row an erasure deleted, as both backends return it.
#[derive(Debug, sqlx::FromRow)]
struct ErasedRow {
    visitor_id: uuid::Uuid,
    kind: String,
    occurred_at: i64,
    score: Option<i64>,
    name: Option<String>,
    survey: Option<String>,
}

/// What deleted rows took out of the rollups, and the counts an erasure reports.
fn erased_deltas(site_id: i64, rows: &[ErasedRow]) -> Result<(RollupDeltas, Erased), StoreError> {
    let mut deltas = RollupDeltas::default();
    let mut erased = Erased {
        events: rows.len() as u64,
        ..Erased::default()
    };
    for row in rows {
        match (row.kind.as_str(), row.score, &row.name) {
            ("response", Some(score), _) => {
                erased.responses += 1;
                let survey = row
                    .survey
                    .clone()
                    .unwrap_or_else(|| SurveyId::DEFAULT.into());
                deltas
                    .nps
                    .entry((
                        site_id,
                        survey,
                        slot_of(row.occurred_at, QUARTER_HOUR_MILLIS),
                    ))
                    .or_default()
                    .record(stored_score(score)?.category());
            }
            ("touchpoint", _, Some(name)) => {
                *deltas
                    .touchpoints
                    .entry((site_id, name.clone(), slot_of(row.occurred_at, HOUR_MILLIS)))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    erased.visitors = rows
        .iter()
        .map(|row| row.visitor_id)
        .collect::<HashSet<_>>()
        .len() as u64;
    Ok((deltas, erased))
}

/// Whether rollup deltas are added (new events) or taken away (erased events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Add,
    Subtract,
}

impl Direction {
    /// `count` with this direction's sign.
    fn signed(self, count: impl TryInto<i64>) -> i64 {
        let count = count.try_into().unwrap_or(i64::MAX);
        match self {
            Direction::Add => count,
            Direction::Subtract => -count,
        }
    }
}

/// The first millisecond of the rollup slot of `width` that `at` falls in.
fn slot_of(at: i64, width: i64) -> i64 {
    at.div_euclid(width) * width
}

/// A report's range cut into the whole rollup slots the rollups answer and the ragged edges that
/// only the raw events can answer exactly.
#[derive(Debug, PartialEq, Eq)]
struct SlotSplit {
    /// Whole slots, both ends on a slot boundary.
    whole: Option<TimeRange>,
    /// At most two partial slots, before and after.
    edges: Vec<TimeRange>,
}

/// Cuts `range` (clipped to the valid timestamps) into whole slots of `width` and ragged edges.
fn split_by_slot(range: TimeRange, width: i64) -> SlotSplit {
    let from = range.from.max(0);
    let to = range.to.min(Timestamp::MAX_MILLIS + 1);
    if from >= to {
        return SlotSplit {
            whole: None,
            edges: Vec::new(),
        };
    }
    let first_whole = slot_of(from, width) + if from % width == 0 { 0 } else { width };
    let last_whole = slot_of(to, width);
    if first_whole >= last_whole {
        return SlotSplit {
            whole: None,
            edges: vec![TimeRange { from, to }],
        };
    }
    let edges = [
        TimeRange {
            from,
            to: first_whole,
        },
        TimeRange {
            from: last_whole,
            to,
        },
    ]
    .into_iter()
    .filter(|edge| edge.from < edge.to)
    .collect();
    SlotSplit {
        whole: Some(TimeRange {
            from: first_whole,
            to: last_whole,
        }),
        edges,
    }
}

/// How a bucketed report reads the database: every bucket split by [`split_by_slot`] into the
/// whole quarter hours the answer rollups hold and the partial ones only the raw events can
/// answer (only at a period's ends given to the minute or second: bucket edges in any time zone
/// fall on quarter hours).
#[derive(Debug, PartialEq, Eq)]
struct BucketPlan {
    /// The whole quarter hours of every bucket together, for one rollup query. A quarter hour
    /// cut by a bucket edge lies inside it but belongs to no bucket's whole slots, so its rollup
    /// row is skipped: the raw events of its parts count instead.
    slots: Option<TimeRange>,
    /// Where each bucket starts.
    starts: Vec<i64>,
    /// Each bucket's own whole quarter hours.
    bucket_slots: Vec<Option<TimeRange>>,
    /// The partial quarter hours, each with the index of the one bucket it lies in.
    edges: Vec<(usize, TimeRange)>,
}

impl BucketPlan {
    fn new(buckets: &BucketEdges) -> Self {
        let mut plan = BucketPlan {
            slots: None,
            starts: buckets.ranges().map(|bucket| bucket.from).collect(),
            bucket_slots: Vec::with_capacity(buckets.buckets()),
            edges: Vec::new(),
        };
        for (index, bucket) in buckets.ranges().enumerate() {
            let split = split_by_slot(bucket, QUARTER_HOUR_MILLIS);
            if let Some(whole) = split.whole {
                let from = plan.slots.map_or(whole.from, |all| all.from);
                plan.slots = Some(TimeRange { from, to: whole.to });
            }
            plan.bucket_slots.push(split.whole);
            plan.edges
                .extend(split.edges.into_iter().map(|edge| (index, edge)));
        }
        plan
    }

    /// One tally per bucket from the rollup rows `(slot, tally)` of [`Self::slots`]; a row
    /// counts in the bucket whose whole slots hold its slot, or nowhere.
    fn tally_rollups(&self, rows: impl IntoIterator<Item = (i64, Tally)>) -> Vec<Tally> {
        let mut tallies = vec![Tally::default(); self.bucket_slots.len()];
        for (slot, tally) in rows {
            let Some(index) = self
                .starts
                .partition_point(|start| *start <= slot)
                .checked_sub(1)
            else {
                continue;
            };
            if self.bucket_slots[index].is_some_and(|whole| whole.from <= slot && slot < whole.to) {
                tallies[index] += tally;
            }
        }
        tallies
    }
}

/// A rollup row's counts as a tally (they are never negative; a broken row counts nothing).
fn rollup_tally(promoters: i64, passives: i64, detractors: i64) -> Tally {
    let count = |value: i64| u64::try_from(value).unwrap_or_default();
    Tally::new(count(promoters), count(passives), count(detractors))
}

/// Folds `(index, score, how many)` rows into one tally per index, letting `shared` decide each
/// score's category; an index of `count` or more is an error.
fn tallies_by_index(
    count: usize,
    rows: impl IntoIterator<Item = (i64, i64, i64)>,
) -> Result<Vec<(usize, Tally)>, StoreError> {
    let mut tallies: BTreeMap<usize, Tally> = BTreeMap::new();
    for (index, score, answers) in rows {
        let index = usize::try_from(index)
            .ok()
            .filter(|index| *index < count)
            .ok_or_else(|| not_asked_for(index))?;
        *tallies.entry(index).or_default() += tally_scores([(score, answers)])?;
    }
    Ok(tallies.into_iter().collect())
}

/// The database answered for a range nobody asked about.
fn not_asked_for(index: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!(
        "the database returned a range that was not asked for: {index}"
    )))
}

/// Adds touchpoint counts from several sources and orders them most frequent first.
fn merge_touchpoint_counts(rows: impl IntoIterator<Item = (String, i64)>) -> Vec<TouchpointCount> {
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for (name, count) in rows {
        *totals.entry(name).or_default() += count;
    }
    let mut counts: Vec<TouchpointCount> = totals
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| TouchpointCount {
            name,
            count: count.try_into().unwrap_or_default(),
        })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    counts
}

/// A survey configuration as both backends store it: the JSON the widget reads.
fn surveys_json(surveys: &SiteSurveys) -> String {
    serde_json::to_string(surveys).unwrap_or_else(|_| unreachable!("plain data serializes"))
}

/// A stored survey configuration. It was checked when it was stored, so failing here means the
/// database was changed behind the collector's back (or by a newer version).
fn stored_surveys(json: &str) -> Result<SiteSurveys, StoreError> {
    serde_json::from_str(json)
        .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))
}

/// Folds `(score, how many)` rows into a tally, letting `shared` decide each score's category.
fn tally_scores(rows: impl IntoIterator<Item = (i64, i64)>) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    for (score, count) in rows {
        let count = u64::try_from(count).unwrap_or_default();
        tally.record_many(stored_score(score)?.category(), count);
    }
    Ok(tally)
}

/// Reads a stored score back; they were checked on the way in.
fn stored_score(score: i64) -> Result<Score, StoreError> {
    u8::try_from(score)
        .ok()
        .and_then(|value| Score::try_from(value).ok())
        .ok_or_else(|| {
            StoreError::Database(sqlx::Error::Protocol(format!(
                "a stored score is out of range: {score}"
            )))
        })
}

/// Reads stored currency codes back; they were checked on the way in.
fn stored_currencies(codes: Vec<String>) -> Result<Vec<Currency>, StoreError> {
    codes
        .iter()
        .map(|code| {
            Currency::parse(code).map_err(|error| {
                StoreError::Database(sqlx::Error::Protocol(format!(
                    "a stored currency is invalid: {error}"
                )))
            })
        })
        .collect()
}

/// Reads `(score, revenue)` rows back, letting `shared` check each score.
fn scored_revenue(rows: Vec<(i64, i64)>) -> Result<Vec<(Score, i64)>, StoreError> {
    rows.into_iter()
        .map(|(score, revenue)| Ok((stored_score(score)?, revenue)))
        .collect()
}

/// Reads a stored key scope back.
fn stored_scope(scope: &str) -> Result<KeyScope, StoreError> {
    KeyScope::parse(scope).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Protocol(format!(
            "a stored key scope is invalid: {scope}"
        )))
    })
}

/// An API key row as both backends return it.
#[derive(Debug, sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    key_prefix: String,
    label: Option<String>,
    scope: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn into_record(self) -> Result<ApiKeyRecord, StoreError> {
        Ok(ApiKeyRecord {
            id: self.id,
            prefix: self.key_prefix,
            label: self.label,
            scope: stored_scope(&self.scope)?.as_str(),
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use touchstone_shared::wire::EventId;

    fn response(id: u128, at: i64, score: u8) -> Event {
        answer_to("nps", id, at, score)
    }

    fn answer_to(survey: &str, id: u128, at: i64, score: u8) -> Event {
        Event::Response {
            id: EventId(uuid::Uuid::from_u128(id)),
            at: Timestamp::try_from(at).unwrap(),
            score: Score::try_from(score).unwrap(),
            comment: None,
            survey: SurveyId::parse(survey).unwrap(),
            language: None,
            device: None,
        }
    }

    #[test]
    fn each_survey_has_its_own_rollup() {
        let batch = incoming(
            1,
            vec![
                answer_to("nps", 1, 0, 10),
                answer_to("checkout", 2, 5, 0),
                answer_to("checkout", 3, 6, 9),
            ],
        );
        let inserted = (1..=3).map(|id| (1, uuid::Uuid::from_u128(id))).collect();
        let deltas = settle(&[batch], inserted).deltas;
        assert_eq!(deltas.nps[&(1, "nps".to_owned(), 0)], Tally::new(1, 0, 0));
        assert_eq!(
            deltas.nps[&(1, "checkout".to_owned(), 0)],
            Tally::new(1, 0, 1)
        );
    }

    fn incoming(site_id: i64, events: Vec<Event>) -> IncomingBatch {
        IncomingBatch {
            site_id,
            visitor: VisitorId(uuid::Uuid::nil()),
            events,
            received_at: 0,
            watched: false,
        }
    }

    #[test]
    fn an_event_id_seen_twice_in_a_group_is_new_only_once() {
        let batches = [
            incoming(1, vec![response(1, 0, 10), response(1, 0, 10)]),
            incoming(1, vec![response(1, 0, 10), response(2, HOUR_MILLIS + 5, 0)]),
            incoming(2, vec![response(1, 0, 7)]),
        ];
        let inserted = HashSet::from([
            (1, uuid::Uuid::from_u128(1)),
            (1, uuid::Uuid::from_u128(2)),
            (2, uuid::Uuid::from_u128(1)),
        ]);
        let Settled {
            outcomes,
            deltas,
            inbox,
        } = settle(&batches, inserted);
        assert!(inbox.is_empty(), "no batch is watched");
        assert_eq!(
            outcomes,
            [
                StoredBatch {
                    new: 1,
                    duplicates: 1,
                    inboxed: 0
                },
                StoredBatch {
                    new: 1,
                    duplicates: 1,
                    inboxed: 0
                },
                StoredBatch {
                    new: 1,
                    duplicates: 0,
                    inboxed: 0
                }
            ]
        );
        let nps = |site, hour| (site, SurveyId::DEFAULT.to_owned(), hour);
        assert_eq!(deltas.nps[&nps(1, 0)], Tally::new(1, 0, 0));
        assert_eq!(deltas.nps[&nps(1, HOUR_MILLIS)], Tally::new(0, 0, 1));
        assert_eq!(deltas.nps[&nps(2, 0)], Tally::new(0, 1, 0));
    }

    #[test]
    fn rows_the_database_already_had_add_nothing_to_the_rollups() {
        let Settled {
            outcomes, deltas, ..
        } = settle(&[incoming(1, vec![response(1, 0, 10)])], HashSet::new());
        assert_eq!(
            outcomes,
            [StoredBatch {
                new: 0,
                duplicates: 1,
                inboxed: 0
            }]
        );
        assert_eq!(deltas, RollupDeltas::default());
    }

    #[test]
    fn only_new_answers_of_watched_batches_enter_the_webhook_inbox() {
        let touchpoint = Event::Touchpoint {
            id: EventId(uuid::Uuid::from_u128(3)),
            at: Timestamp::try_from(0).unwrap(),
            name: touchstone_shared::TouchpointName::page_view(),
            url: PageUrl::parse("https://a.example/").unwrap(),
            referrer: None,
            utm: None,
        };
        let mut watched = incoming(1, vec![response(2, 0, 3), response(1, 0, 0), touchpoint]);
        watched.watched = true;
        let unwatched = incoming(2, vec![response(4, 0, 3)]);
        let inserted = HashSet::from([
            (1, uuid::Uuid::from_u128(1)),
            (1, uuid::Uuid::from_u128(3)),
            (2, uuid::Uuid::from_u128(4)),
        ]);
        // Answer 2 was stored before (a replay): it was routed then, not again. The new
        // touchpoint gives the dispatcher no work, so only the watched batch counts one.
        let settled = settle(&[watched, unwatched], inserted);
        assert_eq!(settled.inbox, [(1, uuid::Uuid::from_u128(1))]);
        let inboxed: Vec<u64> = settled.outcomes.iter().map(|o| o.inboxed).collect();
        assert_eq!(inboxed, [1, 0]);
    }

    #[test]
    fn lost_connections_and_timeouts_are_transient() {
        use std::io::{Error, ErrorKind};
        for error in [
            sqlx::Error::Io(Error::from(ErrorKind::ConnectionRefused)),
            sqlx::Error::Io(Error::from(ErrorKind::ConnectionReset)),
            sqlx::Error::Io(Error::new(ErrorKind::UnexpectedEof, "0 bytes at EOF")),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ] {
            assert!(
                matches!(StoreError::from(error), StoreError::Unavailable(_)),
                "should be transient"
            );
        }
        for error in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("garbage".into()),
        ] {
            assert!(matches!(StoreError::from(error), StoreError::Database(_)));
        }
    }

    #[test]
    fn postgresql_states_that_pass_are_transient() {
        for code in [
            "08000", "08006", "08P01", // connection exception
            "53300", "53100", // too many connections, disk full
            "57014", // query_canceled: an operator, or statement_timeout
            "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
            "55P03", // lock_not_available: lock_timeout
            "25006", // read-only transaction: a standby after a failover
            "40001", "40P01", // serialization failure, deadlock
        ] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in [
            "23505", // unique violation
            "23514", // check violation
            "42P01", // undefined table
            "22P02", // invalid text representation
            "XX000", // internal error
        ] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn sqlite_codes_that_pass_are_transient() {
        // Extended codes as SQLite reports them: IOERR_WRITE (a file that refuses writes),
        // IOERR_FSYNC, READONLY_DBMOVED, FULL, BUSY_SNAPSHOT, CANTOPEN.
        for code in [778, 1034, 1032, 13, 517, 14, 8] {
            assert!(is_transient_sqlite_code(code), "{code}");
        }
        // CONSTRAINT_PRIMARYKEY, CORRUPT, MISMATCH, ERROR.
        for code in [1555, 11, 20, 1] {
            assert!(!is_transient_sqlite_code(code), "{code}");
        }
    }

    #[tokio::test]
    async fn a_read_only_sqlite_database_is_transient() {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let mut connection = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite::memory:")
            .unwrap()
            .read_only(true)
            .connect()
            .await
            .unwrap();
        let error = sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut connection)
            .await
            .unwrap_err();
        assert!(
            matches!(StoreError::from(error), StoreError::Unavailable(_)),
            "SQLITE_READONLY is transient"
        );
    }

    #[test]
    fn an_aligned_range_is_all_whole_slots() {
        let split = split_by_slot(
            TimeRange {
                from: 2 * HOUR_MILLIS,
                to: 5 * HOUR_MILLIS,
            },
            HOUR_MILLIS,
        );
        assert_eq!(
            split,
            SlotSplit {
                whole: Some(TimeRange {
                    from: 2 * HOUR_MILLIS,
                    to: 5 * HOUR_MILLIS
                }),
                edges: vec![]
            }
        );
    }

    #[test]
    fn a_range_within_one_slot_is_all_edge() {
        let range = TimeRange {
            from: QUARTER_HOUR_MILLIS + 1,
            to: 2 * QUARTER_HOUR_MILLIS - 1,
        };
        assert_eq!(
            split_by_slot(range, QUARTER_HOUR_MILLIS),
            SlotSplit {
                whole: None,
                edges: vec![range]
            }
        );
    }

    #[test]
    fn open_ranges_are_clipped_to_the_valid_timestamps() {
        let split = split_by_slot(
            TimeRange {
                from: i64::MIN,
                to: i64::MAX,
            },
            QUARTER_HOUR_MILLIS,
        );
        let whole = split.whole.unwrap();
        assert_eq!(whole.from, 0);
        // The end of year 9999 falls on a quarter hour: no ragged edge.
        assert_eq!(whole.to, Timestamp::MAX_MILLIS + 1);
        assert!(split.edges.is_empty());
        assert_eq!(
            split_by_slot(TimeRange { from: 5, to: 5 }, QUARTER_HOUR_MILLIS),
            SlotSplit {
                whole: None,
                edges: vec![]
            }
        );
    }

    fn plan(edges: &[i64]) -> BucketPlan {
        BucketPlan::new(&BucketEdges::new(edges.to_vec()).unwrap())
    }

    #[test]
    fn bucket_edges_must_increase() {
        assert!(BucketEdges::new(vec![1]).is_none());
        assert!(BucketEdges::new(vec![1, 1]).is_none());
        assert!(BucketEdges::new(vec![2, 1]).is_none());
        assert_eq!(BucketEdges::new(vec![1, 2, 3]).unwrap().buckets(), 2);
    }

    #[test]
    fn days_on_whole_hours_read_only_the_rollups() {
        let day = 24 * HOUR_MILLIS;
        let plan = plan(&[0, day, 2 * day]);
        assert_eq!(
            plan.slots,
            Some(TimeRange {
                from: 0,
                to: 2 * day
            })
        );
        assert!(plan.edges.is_empty());
        let one = Tally::new(1, 0, 0);
        let tallies = plan.tally_rollups([(0, one), (day - QUARTER_HOUR_MILLIS, one), (day, one)]);
        assert_eq!(tallies, [Tally::new(2, 0, 0), Tally::new(1, 0, 0)]);
    }

    #[test]
    fn days_in_half_and_quarter_hour_zones_read_only_the_rollups() {
        let day = 24 * HOUR_MILLIS;
        // Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45): midnight at :30 and :15 past in UTC.
        for offset in [HOUR_MILLIS / 2, HOUR_MILLIS / 4] {
            let plan = plan(&[offset, day + offset, 2 * day + offset]);
            assert!(plan.edges.is_empty(), "offset {offset}");
            let one = Tally::new(0, 0, 1);
            let tallies = plan.tally_rollups([
                (offset - QUARTER_HOUR_MILLIS, one),
                (offset, one),
                (day + offset - QUARTER_HOUR_MILLIS, one),
                (day + offset, one),
            ]);
            assert_eq!(tallies, [Tally::new(0, 0, 2), one], "offset {offset}");
        }
    }

    #[test]
    fn a_quarter_hour_cut_by_a_bucket_edge_is_read_from_the_raw_events() {
        // A period given to the minute: it starts and ends ten minutes into a quarter hour.
        let ten = 10 * 60_000;
        let day = 24 * HOUR_MILLIS;
        let plan = plan(&[ten, day, day + ten]);
        assert_eq!(
            plan.edges,
            [
                (
                    0,
                    TimeRange {
                        from: ten,
                        to: QUARTER_HOUR_MILLIS
                    }
                ),
                (
                    1,
                    TimeRange {
                        from: day,
                        to: day + ten
                    }
                ),
            ]
        );
        let one = Tally::new(0, 0, 1);
        // The rollups of the quarter hours the edges cut count nowhere: the events count instead.
        let tallies = plan.tally_rollups([(0, one), (QUARTER_HOUR_MILLIS, one), (day, one)]);
        assert_eq!(tallies, [one, Tally::default()]);
    }

    proptest! {
        #[test]
        fn every_instant_of_a_bucketed_period_is_read_once_into_its_own_bucket(
            cuts in proptest::collection::btree_set(0..50 * HOUR_MILLIS, 2..12),
            probes in proptest::collection::vec(0..50 * HOUR_MILLIS, 1..50),
        ) {
            let edges: Vec<i64> = cuts.into_iter().collect();
            let plan = plan(&edges);
            for t in probes {
                let Some(expected) = edges.windows(2).position(|pair| pair[0] <= t && t < pair[1]) else {
                    continue;
                };
                let slot = slot_of(t, QUARTER_HOUR_MILLIS);
                let mut readers = Vec::new();
                if plan.slots.is_some_and(|slots| slots.from <= slot && slot < slots.to) {
                    let tallies = plan.tally_rollups([(slot, Tally::new(1, 0, 0))]);
                    readers.extend(tallies.iter().position(|tally| tally.responses() == 1));
                }
                readers.extend(
                    plan.edges
                        .iter()
                        .filter(|(_, edge)| edge.from <= t && t < edge.to)
                        .map(|(index, _)| *index),
                );
                prop_assert_eq!(readers, vec![expected], "instant {}", t);
            }
        }

        #[test]
        fn a_split_covers_the_range_exactly_once(
            a in 0..Timestamp::MAX_MILLIS,
            b in 0..Timestamp::MAX_MILLIS,
            width in prop_oneof![Just(QUARTER_HOUR_MILLIS), Just(HOUR_MILLIS)],
        ) {
            let (from, to) = (a.min(b), a.max(b));
            let split = split_by_slot(TimeRange { from, to }, width);
            let mut pieces: Vec<TimeRange> = split.edges.clone();
            if let Some(whole) = split.whole {
                prop_assert_eq!(whole.from % width, 0);
                prop_assert_eq!(whole.to % width, 0);
                pieces.push(whole);
            }
            for edge in &split.edges {
                prop_assert!(edge.to - edge.from < width);
            }
            pieces.sort_by_key(|piece| piece.from);
            let covered: i64 = pieces.iter().map(|piece| piece.to - piece.from).sum();
            prop_assert_eq!(covered, to - from);
            if let (Some(first), Some(last)) = (pieces.first(), pieces.last()) {
                prop_assert_eq!(first.from, from);
                prop_assert_eq!(last.to, to);
            }
            for pair in pieces.windows(2) {
                prop_assert_eq!(pair[0].to, pair[1].from);
            }
        }
    }
}
