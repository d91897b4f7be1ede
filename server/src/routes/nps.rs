//! `GET /v1/sites/{site}/nps`: the Net Promoter Score of a period, with its 95% confidence
//! interval, and `GET /v1/sites/{site}/nps/compare`: whether it changed from a baseline period,
//! for holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{AnswerScope, Store};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use touchstone_shared::compare::{self, Comparison};
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, SurveyId, Tally};
use utoipa::ToSchema;

/// Registers the NPS report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/nps", web::get().to(nps))
        .route("/v1/sites/{site}/nps/compare", web::get().to(compare));
}

/// The query string: the period, and optionally one survey.
#[derive(Debug, Deserialize)]
struct NpsParams {
    #[serde(flatten)]
    period: PeriodParams,
    /// One survey's answers only; all of the site's by default.
    survey: Option<String>,
}

/// The NPS of a period.
#[derive(Debug, Serialize, ToSchema)]
struct NpsReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    #[serde(flatten)]
    period: Period,
    /// The counts, the NPS and its interval.
    #[serde(flatten)]
    summary: NpsSummary,
    /// Always 0.95.
    confidence_level: f64,
}

impl NpsReport {
    fn new(site: String, survey: Option<SurveyId>, period: Period, tally: Tally) -> Self {
        NpsReport {
            site,
            survey,
            period,
            summary: NpsSummary::from(tally),
            confidence_level: CONFIDENCE_LEVEL,
        }
    }
}

/// The NPS of a period
///
/// With its 95% confidence interval (normal approximation of the NPS's variance).
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/nps",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("survey" = Option<String>, Query, description = "One survey's answers, e.g. `nps`; every survey of the site by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = NpsReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "nps", skip_all)]
async fn nps(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<NpsParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<NpsReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let tally = store.tally(scope, period.range()).await?;
    Ok(web::Json(NpsReport::new(
        site.key.to_string(),
        survey,
        period,
        tally,
    )))
}

/// The query string of a comparison: the period, the baseline it is compared with, and
/// optionally one survey.
#[derive(Debug, Deserialize)]
struct CompareParams {
    #[serde(flatten)]
    period: PeriodParams,
    /// The baseline's start, as `from`.
    baseline_from: Option<String>,
    /// The baseline's end, as `to`.
    baseline_to: Option<String>,
    /// One survey's answers only; all of the site's by default.
    survey: Option<String>,
}

/// A period's NPS against a baseline's.
#[derive(Debug, Serialize, ToSchema)]
struct CompareReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    /// How the difference, its interval and the p-value are computed.
    method: &'static str,
    /// Always 0.95.
    confidence_level: f64,
    /// The period, with its NPS.
    period: PeriodSummary,
    /// The baseline, with its NPS.
    baseline: PeriodSummary,
    /// The period's NPS minus the baseline's, its 95% interval, the p-value of "no change".
    #[serde(flatten)]
    change: Comparison,
}

/// A period and the NPS of its answers.
#[derive(Debug, Serialize, ToSchema)]
struct PeriodSummary {
    #[serde(flatten)]
    period: Period,
    #[serde(flatten)]
    summary: NpsSummary,
}

/// Did the NPS change?
///
/// The NPS of a period against a baseline period (the previous month, the same month last year,
/// before and after a redesign): the difference with its 95% interval and a two-sided p-value,
/// from a two-sample z-test on the difference of two NPS (unpooled variances). `small_sample`
/// flags fewer than 30 answers in either period.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/nps/compare",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("baseline_from" = Option<String>, Query, description = "The baseline's start, as `from`."),
        ("baseline_to" = Option<String>, Query, description = "The baseline's end, as `to`."),
        ("survey" = Option<String>, Query, description = "One survey's answers, e.g. `nps`; every survey of the site by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The comparison.", body = CompareReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "nps_compare", skip_all)]
async fn compare(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<CompareParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<CompareReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let baseline = Period::parse(&PeriodParams {
        from: params.baseline_from.clone(),
        to: params.baseline_to.clone(),
    })
    .map_err(|error| ApiError::InvalidParameter(format!("the baseline: {error}")))?;
    let survey = survey_param(params.survey.as_deref())?;
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let now = store.tally(scope, period.range()).await?;
    let before = store.tally(scope, baseline.range()).await?;
    Ok(web::Json(CompareReport {
        site: site.key.to_string(),
        survey,
        method: compare::METHOD,
        confidence_level: CONFIDENCE_LEVEL,
        period: PeriodSummary {
            period,
            summary: NpsSummary::from(now),
        },
        baseline: PeriodSummary {
            period: baseline,
            summary: NpsSummary::from(before),
        },
        change: Comparison::between(before, now),
    }))
}
