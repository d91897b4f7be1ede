//! `GET /v1/sites/{site}/touchpoints`: how often each moment of the journey was reached in a
//! period, for holders of the site's read API key.

use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{Store, TouchpointCount};
use actix_web::{HttpRequest, web};
use serde::Serialize;

/// Registers the journey reports.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/touchpoints", web::get().to(touchpoints));
}

/// Touchpoint counts for a period, most frequent first.
#[derive(Debug, Serialize)]
struct TouchpointReport {
    site: String,
    #[serde(flatten)]
    period: Period,
    touchpoints: Vec<TouchpointRow>,
}

#[derive(Debug, Serialize)]
struct TouchpointRow {
    name: String,
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
