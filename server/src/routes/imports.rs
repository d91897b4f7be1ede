//! `POST /v1/sites/{site}/imports/responses`: past answers from a CSV file another NPS tool
//! exported, stored all or nothing, for holders of the site's `admin` key. The reading and
//! storing is `crate::import::responses`, which the CLI's `touchstone import responses` shares.

use super::openapi::{KeyedErrors, SitePath};
use crate::api_key::KeyScope;
use crate::auth::authorize_for;
use crate::error::{ApiError, ErrorBody};
use crate::import::responses::{self, AnswerImport, AnswerImportReceipt, ColumnMap};
use crate::import::{DateRules, MAX_IMPORT_BYTES};
use crate::store::Store;
use crate::survey::survey_param;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};

/// The media types a CSV upload may be sent as (browsers send Excel's for `.csv` files).
pub const CSV_TYPES: &[&str] = &[
    "text/csv",
    "application/csv",
    "text/plain",
    "application/vnd.ms-excel",
];

/// Registers the import route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/sites/{site}/imports/responses")
            .route(web::post().to(import_responses))
            .default_service(super::method_not_allowed()),
    );
}

/// The query string of an import of answers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AnswerImportParams {
    /// The survey the answers belong to: `nps` by default.
    survey: Option<String>,
    /// The IANA time zone of dates written without an offset (`Europe/Paris`): UTC by default.
    tz: Option<String>,
    /// The header of the score's column, when it is not found by its name.
    score: Option<String>,
    /// The header of the date's column.
    date: Option<String>,
    /// The header of the customer id's (or e-mail address's) column.
    customer: Option<String>,
    /// The header of the comment's column.
    comment: Option<String>,
    /// `trait.NAME=COLUMN`: columns holding customer traits; any other parameter is refused.
    #[serde(flatten)]
    #[param(ignore)]
    others: std::collections::BTreeMap<String, String>,
}

impl AnswerImportParams {
    /// The columns named in the query string.
    fn columns(&self) -> Result<ColumnMap, ApiError> {
        let mut columns = ColumnMap {
            score: self.score.clone(),
            date: self.date.clone(),
            customer: self.customer.clone(),
            comment: self.comment.clone(),
            traits: Vec::new(),
        };
        for (name, column) in &self.others {
            if !name.starts_with("trait.") {
                return Err(ApiError::InvalidParameter(format!(
                    "unknown parameter `{}`: the parameters are survey, tz, score, date, customer, comment and trait.NAME",
                    name.chars().take(40).collect::<String>()
                )));
            }
            columns
                .set(&format!("{name}={column}"))
                .map_err(ApiError::InvalidParameter)?;
        }
        Ok(columns)
    }
}

/// What an import can fail with, beyond a bad key.
#[derive(IntoResponses)]
pub enum ImportErrors {
    /// `invalid_import`: rows or columns of the file are wrong, listed in `problems` with their
    /// line, row and column; nothing was stored. `invalid_parameter`: a bad `survey` or `tz`.
    /// `malformed_json`: a JSON body that is not JSON.
    #[response(status = 400)]
    Invalid(ErrorBody<'static>),
    /// `forbidden`: a valid key without the `admin` scope.
    #[response(status = 403)]
    Forbidden(ErrorBody<'static>),
    /// `payload_too_large`: the body is over 20 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody<'static>),
    /// `unsupported_media_type`: the body is not sent as a type the route takes.
    #[response(status = 415)]
    WrongType(ErrorBody<'static>),
}

/// Import past answers
///
/// A CSV file (UTF-8, a header row; `,`, `;` or tab separated) with a customer id or e-mail
/// address, a score (0–10), a date and optionally a comment on each row, as Delighted,
/// SurveyMonkey, Typeform or Qualtrics export them: the columns are found by their usual names
/// (`Email`, `Customer ID`, `User ID`; `Score`, "How likely are you to recommend…"; `Created
/// At`, `Date Submitted`, `Submitted At`; `Comment`, "Why…"), or named with `score`, `date`,
/// `customer` and `comment`; `trait.NAME=COLUMN` takes a customer trait (`trait.account=Company`)
/// from a column, for segments and account reports. Dates are RFC 3339, `2026-11-01 09:30:00` or `2026-11-01` (in
/// `tz`, UTC by default). Every row is checked first: one bad row and nothing is stored. The
/// answers feed every report like the widget's; each customer's are linked to them through an
/// `identify`, for the revenue report and privacy requests. Importing the same rows again
/// stores nothing: ids are derived from the site, customer, date, score and comment. Needs an
/// `admin` key.
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/imports/responses",
    tag = "imports",
    params(
        SitePath,
        AnswerImportParams,
        ("trait.NAME" = Option<String>, Query, description = "The header of a column holding the customer trait NAME, e.g. `trait.account=Company`; repeat for several traits."),
    ),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, at most 20 MiB."),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Stored (or already there); what the file held.", body = AnswerImportReceipt),
        ImportErrors,
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "import_responses", skip_all)]
async fn import_responses(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<AnswerImportParams>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
) -> Result<web::Json<AnswerImportReceipt>, ApiError> {
    let site = authorize_for(&request, store.get_ref(), &site, KeyScope::Admin).await?;
    let settings = AnswerImport {
        survey: survey_param(params.survey.as_deref())?.unwrap_or_default(),
        columns: params.columns()?,
        dates: DateRules::in_zone(params.tz.as_deref()).map_err(ApiError::InvalidParameter)?,
    };
    if !media_type_is(&request, CSV_TYPES) {
        return Err(ApiError::UnsupportedMediaType("text/csv"));
    }
    let body = read_body(&request, payload, MAX_IMPORT_BYTES).await?;
    Ok(web::Json(
        responses::import(store.get_ref(), &site, &body, &settings).await?,
    ))
}

/// Whether the request's `Content-Type` (without its parameters) is one of `types`.
pub fn media_type_is(request: &HttpRequest, types: &[&str]) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            types
                .iter()
                .any(|known| essence.trim().eq_ignore_ascii_case(known))
        })
}

/// The request body, refused with `413 payload_too_large` beyond `limit` bytes: at once when
/// `Content-Length` says so, or as soon as the bytes received pass it.
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::with_capacity(announced.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::InvalidRequest(format!("the body could not be read: {error}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
