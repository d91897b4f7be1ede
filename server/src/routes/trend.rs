//! `GET /v1/sites/{site}/nps/trend`: the Net Promoter Score of each day, ISO week or month of a
//! period in a time zone, each with its 95% interval, for holders of the site's read API key.
//!
//! Every bucket of the period is a point, empty ones too (with a `null` score), so a chart's
//! x-axis is the answer's `points` as they come.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{AnswerScope, BucketEdges, Store};
use crate::survey::survey_param;
use crate::trend::{Bucket, bucket_edges, rfc3339, time_zone};
use actix_web::{HttpRequest, web};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, SurveyId};
use utoipa::ToSchema;

/// Registers the NPS trend.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/nps/trend", web::get().to(trend));
}

/// The query string: the period as for every report, the bucket and the time zone.
#[derive(Debug, Deserialize)]
struct TrendParams {
    #[serde(flatten)]
    period: PeriodParams,
    /// `day` (the default), `week` or `month`.
    bucket: Option<String>,
    /// An IANA time zone; `UTC` by default.
    tz: Option<String>,
    /// One survey's answers only; all of the site's by default.
    survey: Option<String>,
}

/// The NPS of each bucket of a period.
#[derive(Debug, Serialize, ToSchema)]
struct TrendReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    /// The start of the first bucket, RFC 3339 with the zone's offset.
    from: String,
    /// The end of the last bucket (exclusive).
    to: String,
    /// `day`, `week` or `month`.
    bucket: Bucket,
    /// The IANA time zone the buckets follow.
    time_zone: String,
    /// Always 0.95.
    confidence_level: f64,
    /// One point per bucket, oldest first, empty buckets included.
    points: Vec<TrendPoint>,
}

/// One bucket: its bounds, local to the report's time zone, and its NPS.
#[derive(Debug, Serialize, ToSchema)]
struct TrendPoint {
    /// The bucket's first instant, RFC 3339 with the zone's offset.
    start: String,
    /// The next bucket's first instant.
    end: String,
    /// The counts, the NPS, its interval and the small-sample flag.
    #[serde(flatten)]
    summary: NpsSummary,
}

/// The NPS of each day, ISO week or month of a period
///
/// Served from the quarter-hour rollups; exact at every bucket edge, in any time zone.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/nps/trend",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("bucket" = Option<String>, Query, description = "`day` (the default), `week` (ISO, from Monday) or `month`."),
        ("tz" = Option<String>, Query, description = "An IANA time zone such as `Europe/Paris`; `UTC` by default."),
        ("survey" = Option<String>, Query, description = "One survey's answers, e.g. `nps`; every survey of the site by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "One point per bucket.", body = TrendReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "nps_trend", skip_all)]
async fn trend(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<TrendParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<TrendReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let bucket = params
        .bucket
        .as_deref()
        .map_or(Ok(Bucket::Day), Bucket::parse)?;
    let survey = survey_param(params.survey.as_deref())?;
    let zone_name = params.tz.as_deref().unwrap_or("UTC");
    let zone = time_zone(zone_name)?;
    let period = Period::parse_in(&params.period, &zone)?;
    let from = period.from.ok_or_else(|| {
        ApiError::InvalidParameter("a trend needs `from`, e.g. from=2026-11-01".into())
    })?;
    let to = period.to.unwrap_or_else(|| {
        // Now, to the millisecond, as stored times are.
        let now = Timestamp::now();
        Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
    });
    let edges = bucket_edges(from, to, bucket, &zone)?;
    let millis = edges
        .iter()
        .map(|edge| edge.timestamp().as_millisecond())
        .collect();
    let buckets = BucketEdges::new(millis).ok_or_else(|| {
        ApiError::InvalidParameter("the period must be at least a millisecond long".into())
    })?;
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let tallies = store.tally_buckets(scope, &buckets).await?;
    let points = edges
        .windows(2)
        .zip(tallies)
        .map(|(pair, tally)| TrendPoint {
            start: rfc3339(&pair[0]),
            end: rfc3339(&pair[1]),
            summary: NpsSummary::from(tally),
        })
        .collect();
    Ok(web::Json(TrendReport {
        site: site.key.to_string(),
        survey,
        from: rfc3339(&edges[0]),
        to: rfc3339(&edges[edges.len() - 1]),
        bucket,
        time_zone: zone.iana_name().unwrap_or(zone_name).to_owned(),
        confidence_level: CONFIDENCE_LEVEL,
        points,
    }))
}
