//! `GET /v1/sites/{site}/nps`: the Net Promoter Score of a period, with its 95% confidence
//! interval, for holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{AnswerScope, Store};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, SurveyId, Tally};
use utoipa::ToSchema;

/// Registers the NPS report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/nps", web::get().to(nps));
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
