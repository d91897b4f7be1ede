//! The HTTP routes, one module per group; each owns its DTOs and handlers and registers itself
//! through a `configure` function.

pub mod accounts;
pub mod assets;
pub mod collect;
pub mod imports;
pub mod journey;
pub mod nps;
pub mod openapi;
pub mod ops;
pub mod privacy;
pub mod responses;
pub mod revenue;
pub mod segments;
pub mod surveys;
pub mod trend;
pub mod webhooks;
pub mod whoami;

use crate::error::ApiError;
use actix_web::{ResponseError, web};

/// Registers every route. The static pages come last: they answer every path no route took.
pub fn configure(cfg: &mut web::ServiceConfig, assets: &assets::Assets) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|error, _| ApiError::InvalidParameter(error.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|error, _| ApiError::InvalidParameter(error.to_string()).into()),
    );
    collect::configure(cfg);
    nps::configure(cfg);
    accounts::configure(cfg);
    trend::configure(cfg);
    journey::configure(cfg);
    ops::configure(cfg);
    privacy::configure(cfg);
    imports::configure(cfg);
    revenue::configure(cfg);
    responses::configure(cfg);
    segments::configure(cfg);
    surveys::configure(cfg);
    webhooks::configure(cfg);
    whoami::configure(cfg);
    openapi::configure(cfg);
    assets::configure(cfg, assets);
}

/// The route for the methods a resource does not serve: `405 method_not_allowed`. Every resource
/// names it as its default service; without it, a `GET` to a `POST`-only path would fall
/// through to the static pages and read as `404`.
pub fn method_not_allowed() -> actix_web::Route {
    web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed) })
}

/// The answer for a path nothing serves.
pub async fn not_found() -> actix_web::HttpResponse {
    ApiError::NotFound.error_response()
}
