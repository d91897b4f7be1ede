//! `GET /v1/sites/{site}/surveys`: the site's survey configuration, which the widget reads on
//! every page it starts on — public (a site key is public anyway), cacheable, and revalidated
//! with an `ETag`. `PUT` replaces it with an `admin` key, as `touchstone survey set` does from
//! the command line; collectors serve the new configuration from the next request on.

use super::openapi::{KeyedErrors, SitePath};
use crate::api_key::KeyScope;
use crate::auth::authorize_for;
use crate::error::{ApiError, ErrorBody, json_body_error};
use crate::routes::collect::CollectGate;
use crate::store::Store;
use crate::survey::{MAX_CONFIG_BYTES, surveys_of};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use touchstone_shared::SiteKey;
use touchstone_shared::survey::SiteSurveys;
use utoipa::IntoResponses;

/// How long browsers and proxies may use a configuration before asking again: a change reaches
/// every visitor within five minutes, and a visitor's pages after the first cost no request.
const MAX_AGE_SECONDS: u32 = 300;

/// Registers the survey configuration routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/sites/{site}/surveys")
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_CONFIG_BYTES)
                    .error_handler(|error, _| {
                        json_body_error(
                            error,
                            MAX_CONFIG_BYTES,
                            "send the configuration `touchstone survey show --json` prints",
                        )
                        .into()
                    }),
            )
            .route(web::get().to(surveys))
            .route(web::put().to(replace))
            .default_service(super::method_not_allowed()),
    );
}

/// What reading a configuration can fail with.
#[derive(IntoResponses)]
pub enum ReadErrors {
    /// `unknown_site`: no site has this key.
    #[response(status = 404)]
    UnknownSite(ErrorBody<'static>),
    /// `storage_unavailable`: the database cannot answer now.
    #[response(status = 503)]
    Unavailable(ErrorBody<'static>),
}

/// What replacing a configuration can fail with, beyond a bad key.
#[derive(IntoResponses)]
pub enum ReplaceErrors {
    /// `malformed_json`, or `invalid_request` (the reason says which rule the configuration
    /// breaks).
    #[response(status = 400)]
    Invalid(ErrorBody<'static>),
    /// `forbidden`: a valid key without the `admin` scope.
    #[response(status = 403)]
    Forbidden(ErrorBody<'static>),
    /// `payload_too_large`: the body is over 64 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody<'static>),
    /// `unsupported_media_type`: the body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody<'static>),
}

/// A site's survey configuration
///
/// The surveys the widget may show, when, with which words, and how they look. A site whose
/// owner stored none runs the default: the `nps` survey from a visitor's second page view.
/// Public and cacheable for five minutes; send `If-None-Match` to revalidate.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/surveys",
    tag = "surveys",
    params(SitePath),
    responses(
        (status = 200, description = "The configuration.", body = SiteSurveys,
            headers(("ETag" = String, description = "Changes whenever the configuration does."))),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`."),
        ReadErrors,
    ),
)]
#[tracing::instrument(name = "surveys", skip_all)]
async fn surveys(
    request: HttpRequest,
    site: web::Path<String>,
    store: web::Data<dyn Store>,
    gate: web::Data<CollectGate>,
) -> Result<HttpResponse, ApiError> {
    let key = SiteKey::parse(&site).map_err(|_| ApiError::NotFound)?;
    // The collect path's memory of sites: the widget asks on every page it starts on.
    let site = gate
        .sites
        .site(store.get_ref(), &key)
        .await?
        .ok_or(ApiError::UnknownSite(key))?;
    let json = serde_json::to_string(&surveys_of(store.get_ref(), &site).await?)
        .map_err(|error| ApiError::Internal(Box::new(error)))?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&json)[..12]));
    let cache = format!("public, max-age={MAX_AGE_SECONDS}");
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        // The configuration is public and carries no credentials: any page may read it.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    Ok(if unchanged {
        response.finish()
    } else {
        response.content_type("application/json").body(json)
    })
}

/// Replace a site's survey configuration
///
/// Takes the whole configuration (the surveys, in order, and the theme) and stores it; every
/// collector serves it from the next request on, and browsers pick it up within five minutes.
/// Needs an `admin` key.
#[utoipa::path(
    put,
    path = "/v1/sites/{site}/surveys",
    tag = "surveys",
    params(SitePath),
    request_body = SiteSurveys,
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Stored; the configuration as it will be served.", body = SiteSurveys),
        ReplaceErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "surveys_replace", skip_all)]
async fn replace(
    request: HttpRequest,
    site: web::Path<String>,
    surveys: web::Json<SiteSurveys>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<SiteSurveys>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    store.set_site_surveys(&site, &surveys).await?;
    Ok(surveys)
}
