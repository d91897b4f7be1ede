//! `GET /v1/sites/{site}/nps`: the Net Promoter Score of a period, with its 95% confidence
//! interval, for holders of the site's read API key.

use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::Store;
use actix_web::{HttpRequest, web};
use serde::Serialize;
use touchstone_shared::{Interval, Tally};

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
    responses: u64,
    promoters: u64,
    passives: u64,
    detractors: u64,
    /// −100..=100, or null without answers.
    nps: Option<f64>,
    /// Half the width of the interval, in NPS points.
    margin_of_error: Option<f64>,
    confidence_interval: Option<Interval>,
    confidence_level: f64,
}

impl NpsReport {
    fn new(site: String, period: Period, tally: Tally) -> Self {
        NpsReport {
            site,
            period,
            responses: tally.responses(),
            promoters: tally.promoters,
            passives: tally.passives,
            detractors: tally.detractors,
            nps: tally.nps(),
            margin_of_error: tally.margin_of_error(),
            confidence_interval: tally.interval(),
            confidence_level: 0.95,
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
