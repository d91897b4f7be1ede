//! Operations: `GET /healthz` (the process answers), `GET /readyz` (and its database does too),
//! for load balancers and orchestrators; `GET /metrics` for Prometheus.

use crate::error::ApiError;
use crate::ingest::Ingest;
use crate::metrics::metrics;
use crate::store::Store;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Registers the health checks and the metrics.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/healthz",
        web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
    )
    .route("/readyz", web::get().to(ready))
    .route("/metrics", web::get().to(prometheus));
}

async fn ready(store: web::Data<dyn Store>) -> Result<HttpResponse, ApiError> {
    store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}

async fn prometheus(ingest: web::Data<Ingest>) -> HttpResponse {
    let metrics = metrics();
    metrics.queue_depth.set(ingest.queue_depth() as i64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.encode())
}
