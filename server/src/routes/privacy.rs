//! Privacy requests over HTTP: `POST /v1/sites/{site}/privacy/export` returns everything held
//! about a visitor or customer, `POST /v1/sites/{site}/privacy/erase` deletes it; both take an
//! `admin` key, since an export holds comments and customer ids that report readers never see.
//!
//! Both take the subject in a JSON body rather than the URL: customer ids are often e-mail
//! addresses, and URLs end up in access logs.

use super::openapi::{KeyedErrors, SitePath};
use crate::api_key::KeyScope;
use crate::auth::authorize_for;
use crate::error::{ApiError, ErrorBody, json_body_error};
use crate::privacy::{self, Export, SubjectRequest};
use crate::store::{Erased, Store};
use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// The largest privacy request body: one id.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// Registers the privacy routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/sites/{site}/privacy")
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|error, _| {
                        json_body_error(
                            error,
                            MAX_BODY_BYTES,
                            r#"send {"visitor": "<uuid>"} or {"customer": "<id>"}"#,
                        )
                        .into()
                    }),
            )
            .service(
                web::resource("/export")
                    .route(web::post().to(export))
                    .default_service(super::method_not_allowed()),
            )
            .service(
                web::resource("/erase")
                    .route(web::post().to(erase))
                    .default_service(super::method_not_allowed()),
            ),
    );
}

/// What both privacy requests answer to a body they cannot take.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// `malformed_json`, or `invalid_request`: the body is not `{"visitor": "<uuid>"}` or
    /// `{"customer": "<id>"}`.
    #[response(status = 400)]
    Invalid(ErrorBody<'static>),
    /// `payload_too_large`: the body is over 4 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody<'static>),
    /// `unsupported_media_type`: the body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody<'static>),
}

/// What an erasure removed.
#[derive(Debug, Serialize, ToSchema)]
struct ErasureReceipt {
    /// The site's public key.
    site: String,
    erased: Erased,
}

/// Export what is held about a respondent
///
/// Every stored event of the visitor, or of every visitor identified as the customer (less other
/// customers' identify events, on a shared browser). Takes an `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/privacy/export",
    tag = "privacy",
    params(SitePath),
    request_body = SubjectRequest,
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Everything held; empty lists when nothing is.", body = Export),
        BodyErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "privacy_export", skip_all)]
async fn export(
    request: HttpRequest,
    site: web::Path<String>,
    subject: web::Json<SubjectRequest>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<Export>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    let subject = subject.into_inner().into();
    Ok(web::Json(
        privacy::export(store.get_ref(), &site, &subject).await?,
    ))
}

/// Erase what is held about a respondent
///
/// Deletes every event of the visitor, or of every visitor identified as the customer (their
/// journeys and answers too), and takes them out of the reports. Needs an `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/privacy/erase",
    tag = "privacy",
    params(SitePath),
    request_body = SubjectRequest,
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Erased; zero counts when nothing was held.", body = ErasureReceipt),
        (status = 403, body = ErrorBody,
            description = "`forbidden`: a valid key without the `admin` scope."),
        BodyErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "privacy_erase", skip_all)]
async fn erase(
    request: HttpRequest,
    site: web::Path<String>,
    subject: web::Json<SubjectRequest>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<ErasureReceipt>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    let subject = subject.into_inner().into();
    let erased = privacy::erase(store.get_ref(), &site, &subject).await?;
    Ok(web::Json(ErasureReceipt {
        site: site.key.to_string(),
        erased,
    }))
}
