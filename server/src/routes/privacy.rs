//! Privacy requests over HTTP: `POST /v1/sites/{site}/privacy/export` returns everything held
//! about a visitor or customer (any key of the site), `POST /v1/sites/{site}/privacy/erase`
//! deletes it (an `admin` key).
//!
//! Both take the subject in a JSON body rather than the URL: customer ids are often e-mail
//! addresses, and URLs end up in access logs.

use crate::api_key::KeyScope;
use crate::auth::authorize_for;
use crate::error::ApiError;
use crate::privacy::{self, Export, SubjectRequest};
use crate::store::{Erased, Store};
use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, web};
use serde::Serialize;

/// The largest privacy request body: one id.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// Registers the privacy routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/sites/{site}/privacy")
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|error, _| json_error(error).into()),
            )
            .route("/export", web::post().to(export))
            .route("/erase", web::post().to(erase)),
    );
}

/// What an erasure removed.
#[derive(Debug, Serialize)]
struct ErasureReceipt {
    site: String,
    erased: Erased,
}

#[tracing::instrument(name = "privacy_export", skip_all)]
async fn export(
    request: HttpRequest,
    site: web::Path<String>,
    subject: web::Json<SubjectRequest>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<Export>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Read).await?;
    let subject = subject.into_inner().into();
    Ok(web::Json(
        privacy::export(store.get_ref(), &site, &subject).await?,
    ))
}

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

/// A JSON body actix could not read, as one of our errors.
fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge(MAX_BODY_BYTES)
        }
        JsonPayloadError::Deserialize(error) if error.is_data() => ApiError::InvalidRequest(
            format!("{error}; send {{\"visitor\": \"<uuid>\"}} or {{\"customer\": \"<id>\"}}"),
        ),
        other => ApiError::MalformedJson(other.to_string()),
    }
}
