//! `GET /v1/whoami`: which site an API key belongs to, and what it may do there. A client that
//! holds only a key — the dashboard, a script — learns the site to put in the report paths here,
//! so nobody has to paste the site's key beside the API key.

use super::openapi::KeyedErrors;
use crate::auth::key_holder;
use crate::error::ApiError;
use crate::store::Store;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

/// Registers the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/whoami", web::get().to(whoami));
}

/// The site a key belongs to, and the key's scope.
#[derive(Debug, Serialize, ToSchema)]
struct KeyHolder {
    /// The site's public key, for the `{site}` of the report paths.
    site: String,
    /// The site's name, as its operator gave it.
    name: String,
    /// `read` (reports) or `admin` (reports, survey changes, privacy requests).
    scope: &'static str,
}

/// Whose key this is
///
/// The site the presented API key belongs to (every key belongs to exactly one) and the key's
/// scope. A missing, wrong or revoked key is `401`, like every keyed route.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "reports",
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The key's site and scope.", body = KeyHolder),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "whoami", skip_all)]
async fn whoami(
    request: HttpRequest,
    store: web::Data<dyn Store>,
) -> Result<HttpResponse, ApiError> {
    let holder = key_holder(&request, store.get_ref()).await?;
    Ok(HttpResponse::Ok()
        // The answer depends on the Authorization header; no shared cache may keep it.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(KeyHolder {
            site: holder.site.key.to_string(),
            name: holder.site.name,
            scope: holder.scope.as_str(),
        }))
}
