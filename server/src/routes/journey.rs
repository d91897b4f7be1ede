//! `GET /v1/sites/{site}/touchpoints`: how often each moment of the journey was reached in a
//! period, and `GET /v1/sites/{site}/drivers`: which moments go with higher or lower scores, for
//! holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{AnswerScope, Store, TouchpointCount};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use touchstone_shared::compare::{self, Comparison};
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, SMALL_SAMPLE_BELOW, SurveyId, Tally};
use utoipa::ToSchema;

/// The longest journey window a drivers report looks back over, in days.
const MAX_WINDOW_DAYS: u16 = 365;

/// Registers the journey reports.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/touchpoints", web::get().to(touchpoints))
        .route("/v1/sites/{site}/drivers", web::get().to(drivers));
}

/// Touchpoint counts for a period.
#[derive(Debug, Serialize, ToSchema)]
struct TouchpointReport {
    /// The site's public key.
    site: String,
    #[serde(flatten)]
    period: Period,
    /// Most frequent first.
    touchpoints: Vec<TouchpointRow>,
}

/// How often one touchpoint was reached.
#[derive(Debug, Serialize, ToSchema)]
struct TouchpointRow {
    /// The touchpoint's name.
    name: String,
    /// Times it was recorded in the period.
    count: u64,
}

impl From<TouchpointCount> for TouchpointRow {
    fn from(count: TouchpointCount) -> Self {
        TouchpointRow {
            name: count.name,
            count: count.count,
        }
    }
}

/// Touchpoint counts of a period
///
/// How often each moment of the journey was reached, most frequent first.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/touchpoints",
    tag = "reports",
    params(SitePath, PeriodParams),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = TouchpointReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "touchpoints", skip_all)]
async fn touchpoints(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<PeriodParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<TouchpointReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params)?;
    let counts = store.touchpoint_counts(&site, period.range()).await?;
    Ok(web::Json(TouchpointReport {
        site: site.key.to_string(),
        period,
        touchpoints: counts.into_iter().map(TouchpointRow::from).collect(),
    }))
}

/// The query string of the drivers report.
#[derive(Debug, Deserialize)]
struct DriversParams {
    #[serde(flatten)]
    period: PeriodParams,
    /// One survey's answers only; all of the site's by default.
    survey: Option<String>,
    /// How far before an answer a touchpoint counts as part of its journey, in days (default 30).
    window_days: Option<u16>,
    /// The fewest answers each group needs for a touchpoint to be ranked (default 30).
    min_answers: Option<u64>,
}

/// What in the journey goes with higher or lower scores.
#[derive(Debug, Serialize, ToSchema)]
struct DriversReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    #[serde(flatten)]
    period: Period,
    /// How far before an answer a touchpoint counts, in days.
    window_days: u16,
    /// The fewest answers each group needs to be ranked.
    min_answers: u64,
    /// How differences, intervals and p-values are computed.
    method: &'static str,
    /// Always 0.95.
    confidence_level: f64,
    /// Every answer of the period.
    answers: NpsSummary,
    /// Ranked touchpoints first (both groups with at least `min_answers`), highest difference
    /// first; then the rest, by name, with `ranked: false`.
    drivers: Vec<Driver>,
}

/// One touchpoint: the NPS of respondents whose journey included it against those whose did not.
#[derive(Debug, Serialize, ToSchema)]
struct Driver {
    /// The touchpoint's name.
    touchpoint: String,
    /// Respondents who reached it within the window before answering.
    with: NpsSummary,
    /// Respondents who did not.
    without: NpsSummary,
    /// `with` minus `without`: its difference, interval and p-value.
    #[serde(flatten)]
    change: Comparison,
    /// Whether both groups have at least `min_answers` answers.
    ranked: bool,
}

/// What in the journey drives the NPS
///
/// For every named touchpoint (`page_view` aside), the NPS of respondents whose journey included
/// it within `window_days` before their answer, against the NPS of those whose journey did not,
/// with the difference's 95% interval and p-value. "Visitors who contacted support score 30
/// points lower" is a row here. Differences show association, not cause.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/drivers",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("survey" = Option<String>, Query, description = "One survey's answers, e.g. `nps`; every survey of the site by default."),
        ("window_days" = Option<u16>, Query, description = "How far before an answer a touchpoint counts, 1 to 365 days; 30 by default."),
        ("min_answers" = Option<u64>, Query, description = "The fewest answers each group needs to be ranked; 30 by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = DriversReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "drivers", skip_all)]
async fn drivers(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<DriversParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<DriversReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let window_days = params.window_days.unwrap_or(30);
    if !(1..=MAX_WINDOW_DAYS).contains(&window_days) {
        return Err(ApiError::InvalidParameter(format!(
            "`window_days` is 1 to {MAX_WINDOW_DAYS}, not {window_days}"
        )));
    }
    let min_answers = params.min_answers.unwrap_or(SMALL_SAMPLE_BELOW);
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let reach = store
        .journey_reach(scope, period.range(), i64::from(window_days) * 86_400_000)
        .await?;
    let mut drivers: Vec<Driver> = reach
        .reached
        .into_iter()
        .map(|(touchpoint, with)| {
            let without = Tally::new(
                reach.answers.promoters.saturating_sub(with.promoters),
                reach.answers.passives.saturating_sub(with.passives),
                reach.answers.detractors.saturating_sub(with.detractors),
            );
            Driver {
                touchpoint,
                ranked: with.responses() >= min_answers && without.responses() >= min_answers,
                change: Comparison::between(without, with),
                with: NpsSummary::from(with),
                without: NpsSummary::from(without),
            }
        })
        .collect();
    // Ranked first, highest difference first; the rest keep their name order (the sort is stable).
    drivers.sort_by(|a, b| {
        b.ranked.cmp(&a.ranked).then_with(|| {
            let difference = |driver: &Driver| driver.change.difference.filter(|_| driver.ranked);
            difference(b)
                .unwrap_or(0.0)
                .total_cmp(&difference(a).unwrap_or(0.0))
        })
    });
    Ok(web::Json(DriversReport {
        site: site.key.to_string(),
        survey,
        period,
        window_days,
        min_answers,
        method: compare::METHOD,
        confidence_level: CONFIDENCE_LEVEL,
        answers: NpsSummary::from(reach.answers),
        drivers,
    }))
}
