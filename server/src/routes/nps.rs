//! `GET /v1/sites/{site}/nps`: the Net Promoter Score of a period, with its 95% confidence
//! interval, for holders of the site's read API key.

use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::Store;
use actix_web::{HttpRequest, web};
use serde::Serialize;
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, Tally};

/// Registers the NPS report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/nps", web::get().to(nps));
}

/// The NPS of a period.
#[derive(Debug, Serialize)]
struct NpsReport {
    site: String,
    #[serde(flatten)]
    period: Period,
    #[serde(flatten)]
    summary: NpsSummary,
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
