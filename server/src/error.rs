//! The one error type at the HTTP edge. Every error reaches the client as JSON with a stable
//! machine-readable `code` and a human `message`; causes of server-side failures go to the log,
//! never to the client.

use crate::api_key::KeyScope;
use crate::import::{ImportError, MAX_PROBLEMS, Problem, Problems};
use crate::ingest::IngestError;
use crate::store::StoreError;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::borrow::Cow;
use touchstone_shared::SiteKey;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};

/// Seconds a client should wait before retrying after a `503`.
const RETRY_AFTER_SECONDS: u32 = 5;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_encoding`: the body is not UTF-8.
    #[error("the request body is not valid UTF-8")]
    InvalidEncoding,
    /// 400 `malformed_json`: the body is not JSON, or is cut short.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 400 `invalid_request`: well-formed JSON that breaks a rule (a score of 11, a bad name…).
    #[error("{0}")]
    InvalidRequest(String),
    /// 400 `invalid_parameter`: a query-string parameter is wrong.
    #[error("{0}")]
    InvalidParameter(String),
    /// 400 `invalid_import`: rows of an imported file are wrong; nothing was stored. The body
    /// lists the first problems with their line (or index) and column.
    #[error("{0}")]
    InvalidImport(Problems),
    /// 400 `currency_required`: the site has revenue in several currencies, and the report
    /// must be told which one (they are never added up).
    #[error(
        "this site has revenue in several currencies ({}): choose one with `currency`",
        .0.join(", ")
    )]
    CurrencyRequired(Vec<String>),
    /// 401 `unauthorized`: no API key, or not a valid key for this site.
    #[error("a valid API key for this site is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// 403 `forbidden`: the key is valid for this site but its scope does not allow this.
    #[error(
        "this API key may not do that: it needs a key with the {} scope (`touchstone key create --scope {}`)",
        .0.as_str(), .0.as_str()
    )]
    Forbidden(KeyScope),
    /// 403 `origin_not_allowed`: a browser on an origin the site did not register posted.
    #[error(
        "pages on {0} may not send answers for this site; register the origin for the site first"
    )]
    OriginNotAllowed(String),
    /// 404 `unknown_site`: the collect request names no registered site.
    #[error("no site has the key {0}")]
    UnknownSite(SiteKey),
    /// 404 `not_found`: nothing lives at this path.
    #[error("there is nothing at this path")]
    NotFound,
    /// 404 `unknown_webhook`: the site has no webhook subscription with this id.
    #[error("this site has no webhook {0}")]
    UnknownWebhook(i64),
    /// 405 `method_not_allowed`: the path exists, the method does not.
    #[error("this path does not take that method")]
    MethodNotAllowed,
    /// 413 `payload_too_large`: the body is over the limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415 `unsupported_media_type`: the body's `Content-Type` is not one the route takes
    /// (named in the message).
    #[error("send the body as {0}")]
    UnsupportedMediaType(&'static str),
    /// 429 `rate_limited`, with `Retry-After`: the site or this client sent too many requests.
    #[error("too many requests; try again in {} s", retry_after_seconds(*.0))]
    RateLimited(std::time::Duration),
    /// 503 `overloaded`, with `Retry-After`: the write queue is full; nothing was stored.
    #[error("the collector is overloaded, nothing was stored; try again shortly")]
    Overloaded,
    /// 503 `storage_unavailable`, with `Retry-After`: the database cannot take the request now;
    /// nothing was stored.
    #[error("storage is unavailable, nothing was stored; try again shortly")]
    StorageUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503 `widget_not_built`: the collector was started without a built widget.
    #[error("the widget has not been built: run `cargo xtask build-widget` and restart")]
    WidgetNotBuilt,
    /// 500 `internal`: a bug or a broken database. Details are logged, not sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A JSON request body actix could not read, as one of our errors: `limit` is the largest body
/// the route takes, `expected` tells the client what to send instead.
pub fn json_body_error(
    error: actix_web::error::JsonPayloadError,
    limit: usize,
    expected: &str,
) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType("application/json"),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge(limit)
        }
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::InvalidRequest(format!("{error}; {expected}"))
        }
        other => ApiError::MalformedJson(other.to_string()),
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::StorageUnavailable(Box::new(error)),
            StoreError::UnknownSite(site) => ApiError::UnknownSite(site),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Invalid(problems) => ApiError::InvalidImport(problems),
            ImportError::MalformedJson(message) => ApiError::MalformedJson(message),
            ImportError::Store(error) => error.into(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Overloaded => ApiError::Overloaded,
            IngestError::Unavailable | IngestError::ShuttingDown => {
                ApiError::StorageUnavailable(Box::new(error))
            }
            IngestError::Failed => ApiError::Internal(Box::new(error)),
        }
    }
}

impl ApiError {
    /// Every stable code, in the order of the variants; the API document lists them.
    pub const ALL_CODES: &[&str] = &[
        "invalid_encoding",
        "malformed_json",
        "invalid_request",
        "invalid_parameter",
        "invalid_import",
        "currency_required",
        "unauthorized",
        "forbidden",
        "origin_not_allowed",
        "unknown_site",
        "not_found",
        "unknown_webhook",
        "method_not_allowed",
        "payload_too_large",
        "unsupported_media_type",
        "rate_limited",
        "overloaded",
        "storage_unavailable",
        "widget_not_built",
        "internal",
    ];

    /// The stable machine-readable code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidEncoding => "invalid_encoding",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidParameter(_) => "invalid_parameter",
            ApiError::InvalidImport(_) => "invalid_import",
            ApiError::CurrencyRequired(_) => "currency_required",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::OriginNotAllowed(_) => "origin_not_allowed",
            ApiError::UnknownSite(_) => "unknown_site",
            ApiError::NotFound => "not_found",
            ApiError::UnknownWebhook(_) => "unknown_webhook",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Overloaded => "overloaded",
            ApiError::StorageUnavailable(_) => "storage_unavailable",
            ApiError::WidgetNotBuilt => "widget_not_built",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The JSON body of every error response.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    /// With `invalid_import`: the first problems found.
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<&'a [Problem]>,
    /// With `invalid_import`: how many problems were found in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem_count: Option<usize>,
    /// With `currency_required`: the currencies to choose from.
    #[serde(skip_serializing_if = "Option::is_none")]
    currencies: Option<&'a [String]>,
}

/// Written by hand so that `code` enumerates [`ApiError::ALL_CODES`].
impl utoipa::PartialSchema for ErrorBody<'_> {
    fn schema() -> RefOr<Schema> {
        let code = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ApiError::ALL_CODES.iter().copied()))
            .description(Some(
                "Stable and machine-readable: match on it. (A request actix-web refuses before \
                 routing, such as a malformed request line, gets its status's reason phrase in \
                 snake_case, e.g. `bad_request`.)",
            ));
        let message = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "For people: what went wrong and what to do; may change.",
            ));
        let problems = ArrayBuilder::new()
            .items(<Problem as utoipa::PartialSchema>::schema())
            .description(Some(format!(
                "Only with `invalid_import`: the first problems found (at most {MAX_PROBLEMS}), \
                 in the order of the file."
            )));
        let problem_count = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .description(Some(
                "Only with `invalid_import`: how many problems were found in all.",
            ));
        ObjectBuilder::new()
            .property("code", code)
            .required("code")
            .property("message", message)
            .required("message")
            .property("problems", problems)
            .property("problem_count", problem_count)
            .property(
                "currencies",
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(
                        "Only with `currency_required`: the site's currencies, ISO 4217 codes.",
                    )),
            )
            .description(Some("The body of every error response."))
            .into()
    }
}

impl utoipa::ToSchema for ErrorBody<'_> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Error")
    }
}

/// Gives a JSON body to the error responses actix-web makes by itself (a `405` for a route that
/// takes only `GET`, a `400` for a malformed request line…), so clients meet one error format.
pub fn json_error_bodies<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(
                response.map_into_left_body(),
            ));
        }
        let status = response.status();
        let (request, _) = response.into_parts();
        let body = match status {
            StatusCode::NOT_FOUND => ApiError::NotFound.error_response(),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.error_response(),
            _ => {
                let reason = status.canonical_reason().unwrap_or("error");
                let code = reason.to_ascii_lowercase().replace([' ', '-'], "_");
                HttpResponse::build(status).json(ErrorBody {
                    code: &code,
                    message: reason,
                    problems: None,
                    problem_count: None,
                    currencies: None,
                })
            }
        };
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(request, body).map_into_right_body(),
        ))
    })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidEncoding
            | ApiError::MalformedJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::InvalidParameter(_)
            | ApiError::InvalidImport(_)
            | ApiError::CurrencyRequired(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownSite(_) | ApiError::NotFound | ApiError::UnknownWebhook(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded | ApiError::StorageUnavailable(_) | ApiError::WidgetNotBuilt => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause_chain(cause.as_ref()), "request failed")
            }
            ApiError::StorageUnavailable(cause) => {
                tracing::warn!(error = %cause_chain(cause.as_ref()), "storage unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited(wait) => {
                response.insert_header((
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_seconds(*wait)),
                ));
            }
            _ if self.status_code() == StatusCode::SERVICE_UNAVAILABLE => {
                response
                    .insert_header((header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
            }
            _ => {}
        }
        let problems = match self {
            ApiError::InvalidImport(problems) => Some(problems),
            _ => None,
        };
        response.json(ErrorBody {
            code: self.code(),
            message: &self.to_string(),
            problems: problems.map(Problems::listed),
            problem_count: problems.map(Problems::count),
            currencies: match self {
                ApiError::CurrencyRequired(currencies) => Some(currencies),
                _ => None,
            },
        })
    }
}

/// Whole seconds to wait, at least one: `Retry-After` takes no fractions.
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// The error and its causes, one per line, for the log.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind, in the order of the variants.
    fn one_of_each() -> Vec<ApiError> {
        vec![
            ApiError::InvalidEncoding,
            ApiError::MalformedJson(String::new()),
            ApiError::InvalidRequest(String::new()),
            ApiError::InvalidParameter(String::new()),
            ApiError::InvalidImport(Problems::default()),
            ApiError::CurrencyRequired(Vec::new()),
            ApiError::Unauthorized,
            ApiError::Forbidden(KeyScope::Admin),
            ApiError::OriginNotAllowed(String::new()),
            ApiError::UnknownSite(SiteKey::parse("demo").unwrap()),
            ApiError::NotFound,
            ApiError::UnknownWebhook(1),
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge(1),
            ApiError::UnsupportedMediaType("text/csv"),
            ApiError::RateLimited(std::time::Duration::ZERO),
            ApiError::Overloaded,
            ApiError::StorageUnavailable("down".into()),
            ApiError::WidgetNotBuilt,
            ApiError::Internal("bug".into()),
        ]
    }

    /// Stops compiling when a variant is added, so that it is added to `one_of_each` too.
    fn declaration_order(error: &ApiError) -> usize {
        match error {
            ApiError::InvalidEncoding => 0,
            ApiError::MalformedJson(_) => 1,
            ApiError::InvalidRequest(_) => 2,
            ApiError::InvalidParameter(_) => 3,
            ApiError::InvalidImport(_) => 4,
            ApiError::CurrencyRequired(_) => 5,
            ApiError::Unauthorized => 6,
            ApiError::Forbidden(_) => 7,
            ApiError::OriginNotAllowed(_) => 8,
            ApiError::UnknownSite(_) => 9,
            ApiError::NotFound => 10,
            ApiError::UnknownWebhook(_) => 11,
            ApiError::MethodNotAllowed => 12,
            ApiError::PayloadTooLarge(_) => 13,
            ApiError::UnsupportedMediaType(_) => 14,
            ApiError::RateLimited(_) => 15,
            ApiError::Overloaded => 16,
            ApiError::StorageUnavailable(_) => 17,
            ApiError::WidgetNotBuilt => 18,
            ApiError::Internal(_) => 19,
        }
    }

    #[test]
    fn all_codes_holds_the_code_of_every_variant_in_order() {
        let errors = one_of_each();
        let order: Vec<usize> = errors.iter().map(declaration_order).collect();
        assert_eq!(order, (0..errors.len()).collect::<Vec<_>>());
        let codes: Vec<&str> = errors.iter().map(ApiError::code).collect();
        assert_eq!(codes, ApiError::ALL_CODES);
    }
}
