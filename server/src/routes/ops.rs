//! Operations: `GET /healthz` (the process answers), `GET /readyz` (and its database does too),
//! for load balancers and orchestrators; `GET /metrics` for Prometheus.

use super::openapi::{Internal, Unavailable};
use crate::error::ApiError;
use crate::ingest::Ingest;
use crate::metrics::metrics;
use crate::store::Store;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

/// Registers the health checks and the metrics.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(ready))
        .route("/metrics", web::get().to(prometheus));
}

/// A health check's answer.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    status: &'static str,
}

/// Whether the process answers
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Health)),
)]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Whether the process and its database answer
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Health),
        (status = 503, response = Unavailable),
        (status = 500, response = Internal),
    ),
)]
async fn ready(store: web::Data<dyn Store>) -> Result<web::Json<Health>, ApiError> {
    tokio::time::timeout(READY_WITHIN, store.ping())
        .await
        .map_err(|elapsed| ApiError::StorageUnavailable(Box::new(elapsed)))??;
    Ok(web::Json(Health { status: "ready" }))
}

/// How long readiness waits for the database. Load balancers give a health check a few seconds;
/// without this limit an unreachable PostgreSQL would hold `/readyz` for the pool's whole
/// acquire timeout, and the balancer would see a time-out instead of a clear `503`.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Prometheus metrics
///
/// Counters of stored, duplicate, bot and rejected events (by `reason`), histograms of each
/// group commit, and the write queue's depth. No metric carries a site, visitor or address.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "The Prometheus text exposition format.",
        body = String,
        content_type = "text/plain; version=0.0.4",
    )),
)]
async fn prometheus(ingest: web::Data<Ingest>) -> HttpResponse {
    let metrics = metrics();
    metrics.queue_depth.set(ingest.queue_depth() as i64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.encode())
}
