//! `GET /v1/openapi.json`: the OpenAPI document of the HTTP API, generated from the code.
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, parameters, body, every
//! response) beside it, and each route module derives `ToSchema` for its DTOs; the wire types
//! come from `touchstone-shared` with its `openapi` feature. This module gathers them into one
//! document, adds what they share (the bearer API keys, the common error responses) and serves
//! it. Documenting a new route is one `#[utoipa::path]` on its handler and one line in
//! [`ApiDoc`]'s `paths`. The API tests (`tests/api/openapi.rs`) hold the document to their list
//! of served routes and request every operation it documents.

use super::{
    accounts, assets, collect, imports, journey, nps, ops, privacy, responses, revenue, segments,
    surveys, trend, webhooks, whoami,
};
use crate::error::ErrorBody;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use std::sync::LazyLock;
use touchstone_shared::SiteKey;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToResponse};

/// The document: every route, and the components they share.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Touchstone",
        description = "Net Promoter Score and customer journeys: the collector's HTTP API.\n\n\
            Widgets read their site's survey configuration from `/v1/sites/{site}/surveys` and \
            post events to `/v1/collect`; holders of a site's API key read its reports, change \
            its surveys, import past answers and revenue, manage its webhooks and handle privacy \
            requests under `/v1/sites/{site}`. Every error is JSON \
            `{\"code\", \"message\"}` with a stable `code`.",
    ),
    paths(
        collect::collect,
        collect::preflight,
        nps::nps,
        nps::compare,
        accounts::accounts,
        trend::trend,
        journey::touchpoints,
        journey::drivers,
        journey::paths,
        responses::responses,
        responses::responses_csv,
        segments::segments,
        revenue::revenue_report,
        imports::import_responses,
        revenue::import_revenue,
        whoami::whoami,
        privacy::export,
        privacy::erase,
        surveys::surveys,
        surveys::replace,
        webhooks::create,
        webhooks::list,
        webhooks::show,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::send_test,
        webhooks::deliveries,
        ops::healthz,
        ops::ready,
        ops::prometheus,
        assets::loader,
        assets::widget_file,
        openapi_json,
    ),
    components(responses(InvalidPeriod, Unauthorized, RateLimited, Unavailable, Internal)),
    modifiers(&ApiKeys),
    tags(
        (name = "collect", description = "Where widgets deliver touchpoints and answers."),
        (name = "reports", description = "NPS and journeys, for holders of a site's API key."),
        (name = "imports", description = "Past answers and revenue per customer, from other tools."),
        (name = "privacy", description = "Export or erase what is held about a respondent."),
        (name = "surveys", description = "Which surveys a site runs, when, in which words and looks."),
        (name = "webhooks", description = "Answers delivered to other systems as they arrive, signed as Standard Webhooks prescribe."),
        (name = "operations", description = "Health checks, metrics and this document."),
        (name = "assets", description = "The loader script and the widget."),
    ),
)]
pub struct ApiDoc;

/// Adds the bearer scheme the API keys use, named `api_key` in the operations' `security`.
struct ApiKeys;

impl Modify for ApiKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A site's API key (`tsk_…`, made with `touchstone key create`), valid for that \
                 site only. A key has a scope: `read` reads reports; `admin` may also export and \
                 erase what is held about a respondent, change the surveys, import past answers \
                 and revenue and manage webhooks. Operations list the scope they need.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The `{site}` of the report and privacy paths.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SitePath {
    /// The site's public key.
    pub site: SiteKey,
}

/// `400 invalid_parameter`: `from` or `to` is not a date or an RFC 3339 instant, or `from` is
/// not before `to`.
#[derive(ToResponse)]
pub struct InvalidPeriod(pub ErrorBody<'static>);

/// `401 unauthorized`: no API key, or not a valid key for this site. An unknown site answers the
/// same, so the answer reveals nothing about which sites exist.
#[derive(ToResponse)]
pub struct Unauthorized(pub ErrorBody<'static>);

/// `429 rate_limited`: the site or this client sent too many requests; retry after
/// `Retry-After` seconds.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying.")))]
pub struct RateLimited(pub ErrorBody<'static>);

/// `503 storage_unavailable` (the database cannot take the request now) or, from
/// `/v1/collect`, `overloaded` (the write queue is full). Nothing was stored; retry after
/// `Retry-After` seconds.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying.")))]
pub struct Unavailable(pub ErrorBody<'static>);

/// `500 internal`: a bug or a broken database. The details are in the collector's log.
#[derive(ToResponse)]
pub struct Internal(pub ErrorBody<'static>);

/// The errors of every operation that takes a site's API key.
#[derive(IntoResponses)]
pub enum KeyedErrors {
    /// No valid key for the site.
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    /// The database cannot take the request now.
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
    /// A bug or a broken database.
    #[response(status = 500)]
    Internal(#[ref_response] Internal),
}

/// The document as JSON, made once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// Registers `GET /v1/openapi.json`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/openapi.json", web::get().to(openapi_json));
}

/// This document
///
/// The OpenAPI description of every route the collector serves.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "An OpenAPI 3.1 document.", body = Object)),
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(DOCUMENT.as_str())
}
