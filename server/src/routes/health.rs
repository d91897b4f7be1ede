//! `GET /healthz` (the process answers) and `GET /readyz` (and its database does too), for load
//! balancers and orchestrators.

use crate::error::ApiError;
use crate::store::Store;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Registers the health checks.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/healthz",
        web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
    )
    .route("/readyz", web::get().to(ready));
}

async fn ready(store: web::Data<dyn Store>) -> Result<HttpResponse, ApiError> {
    store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
