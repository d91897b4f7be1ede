//! `GET /v1/sites/{site}/nps`: the Net Promoter Score of a period, with its 95% confidence
//! interval, for holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::Store;
use actix_web::{HttpRequest, web};
use serde::Serialize;
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, Tally};
use utoipa::ToSchema;

/// Registers the NPS report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/nps", web::get().to(nps));
}

/// The NPS of a period.
#[derive(Debug, Serialize, ToSchema)]
struct NpsReport {
    /// The site's public key.
    site: String,
    #[serde(flatten)]
    period: Period,
    /// The counts, the NPS and its interval.
    #[serde(flatten)]
    summary: NpsSummary,
    /// Always 0.95.
    confidence_level: f64,
}

impl NpsReport {
    fn new(site: String, period: Period, tally: Tally) -> Self {
        NpsReport {
            site,
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
    params(SitePath, PeriodParams),
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
    params: web::Query<PeriodParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<NpsReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params)?;
    let tally = store.tally(&site, period.range()).await?;
    Ok(web::Json(NpsReport::new(
        site.key.to_string(),
        period,
        tally,
    )))
}
