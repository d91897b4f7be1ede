//! `GET /v1/sites/{site}/touchpoints`: how often each moment of the journey was reached in a
//! period, for holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{Period, PeriodParams};
use crate::store::{Store, TouchpointCount};
use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::ToSchema;

/// Registers the journey reports.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/touchpoints", web::get().to(touchpoints));
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
