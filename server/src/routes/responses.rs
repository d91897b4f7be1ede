//! `GET /v1/sites/{site}/responses`: the answers themselves, newest first, a page at a time, each
//! with its comment, its customer and the journey before it; `GET /v1/sites/{site}/responses.csv`:
//! all of them as a CSV file, streamed page by page. For holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{JourneyWindow, Period, PeriodParams};
use crate::store::{
    AnswerScope, ListedResponse, ResponseCursor, ResponseQuery, Store, TimeRange, VisitedTouchpoint,
};
use crate::survey::survey_param;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use touchstone_shared::{Category, Score, SurveyId};
use utoipa::{IntoParams, ToSchema};

/// Answers a page holds unless the client asks for fewer.
const DEFAULT_LIMIT: u32 = 50;
/// The most answers one page holds.
const MAX_LIMIT: u32 = 500;
/// The longest `contains` text, in characters.
const MAX_CONTAINS_CHARS: usize = 200;

/// Registers the responses routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/responses", web::get().to(responses))
        .route(
            "/v1/sites/{site}/responses.csv",
            web::get().to(responses_csv),
        );
}

/// The filters both routes take.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FilterParams {
    #[serde(flatten)]
    #[param(ignore)]
    period: PeriodParams,
    /// One survey's answers only, e.g. `nps`.
    survey: Option<String>,
    /// `promoter`, `passive` or `detractor`.
    category: Option<String>,
    /// The lowest score, 0 by default.
    min_score: Option<u8>,
    /// The highest score, 10 by default.
    max_score: Option<u8>,
    /// Text the comment contains, case-insensitively (at most 200 characters).
    contains: Option<String>,
    /// How far before an answer its journey is shown: 1 to 365 days, 30 by default.
    window_days: Option<u16>,
}

/// The page of the listing: read from the same query string as the filters, as a separate
/// extractor (serde's nested `flatten` would read numbers in query strings as text).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Answers per page: 1 to 500, 50 by default.
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// The checked filters.
struct Filters {
    period: Period,
    survey: Option<SurveyId>,
    scores: (Score, Score),
    contains: Option<String>,
    window_millis: i64,
}

impl Filters {
    fn parse(params: &FilterParams) -> Result<Self, ApiError> {
        let invalid = |message: String| ApiError::InvalidParameter(message);
        let score = |name: &str, value: Option<u8>, default: u8| {
            Score::try_from(value.unwrap_or(default))
                .map_err(|error| invalid(format!("`{name}`: {error}")))
        };
        let (mut low, mut high) = (
            score("min_score", params.min_score, 0)?,
            score("max_score", params.max_score, 10)?,
        );
        if let Some(category) = params.category.as_deref() {
            let category = Category::parse(category).ok_or_else(|| {
                invalid(format!(
                    "`category` is promoter, passive or detractor, not {category:?}"
                ))
            })?;
            let (from, to) = category.scores();
            (low, high) = (low.max(from), high.min(to));
        }
        let window = JourneyWindow::parse(params.window_days)?;
        let contains = params
            .contains
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty());
        if contains.is_some_and(|text| text.chars().nth(MAX_CONTAINS_CHARS).is_some()) {
            return Err(invalid(format!(
                "`contains` is at most {MAX_CONTAINS_CHARS} characters"
            )));
        }
        Ok(Filters {
            period: Period::parse(&params.period)?,
            survey: survey_param(params.survey.as_deref())?,
            scores: (low, high),
            contains: contains.map(str::to_owned),
            window_millis: window.millis(),
        })
    }

    fn query<'a>(
        &'a self,
        site: &'a crate::site::Site,
        before: Option<ResponseCursor>,
        limit: u32,
    ) -> ResponseQuery<'a> {
        ResponseQuery {
            scope: AnswerScope {
                site,
                survey: self.survey.as_ref(),
            },
            range: self.period.range(),
            scores: self.scores,
            contains: self.contains.as_deref(),
            before,
            limit,
        }
    }
}

/// A page of answers.
#[derive(Debug, Serialize, ToSchema)]
struct ResponsesPage {
    /// The site's public key.
    site: String,
    #[serde(flatten)]
    period: Period,
    /// Newest first.
    responses: Vec<Response>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// One answer, with the journey before it.
#[derive(Debug, Serialize, ToSchema)]
struct Response {
    /// The answer's event id.
    id: uuid::Uuid,
    /// The anonymous visitor.
    visitor: uuid::Uuid,
    /// When it was given, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    at: jiff::Timestamp,
    /// 0 to 10.
    score: i64,
    /// `promoter`, `passive` or `detractor`.
    category: &'static str,
    /// The answer to the follow-up question.
    comment: Option<String>,
    /// The survey answered.
    survey: Option<String>,
    /// The language it was given in.
    language: Option<String>,
    /// `mobile`, `tablet` or `desktop`.
    device: Option<String>,
    /// The customer id the visitor was last identified as.
    customer: Option<String>,
    /// The touchpoints the visitor reached within the window before answering, oldest first.
    touchpoints: Vec<JourneyStep>,
}

/// A touchpoint of a journey.
#[derive(Debug, Serialize, ToSchema)]
struct JourneyStep {
    /// The touchpoint's name.
    name: String,
    /// When it was reached, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    at: jiff::Timestamp,
}

/// The answers of a period
///
/// Newest first, a page at a time (follow `next_cursor`), each with its score, category,
/// comment, customer id and the touchpoints before it. Filters: `survey`, `category`,
/// `min_score`/`max_score`, `contains` (in the comment, case-insensitively; SQLite folds only
/// ASCII letters).
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/responses",
    tag = "reports",
    params(SitePath, PeriodParams, FilterParams, PageParams),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "A page of answers.", body = ResponsesPage),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "responses", skip_all)]
async fn responses(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<FilterParams>,
    page: web::Query<PageParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<ResponsesPage>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let filters = Filters::parse(&params)?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidParameter(format!(
            "`limit` is 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    let before = page.cursor.as_deref().map(parse_cursor).transpose()?;
    // One more than asked tells whether another page follows.
    let mut listed = store
        .responses(&filters.query(&site, before, limit + 1))
        .await?;
    let more = listed.len() > limit as usize;
    listed.truncate(limit as usize);
    let next_cursor = more.then(|| listed.last().map(cursor_of)).flatten();
    let responses = with_journeys(store.get_ref(), &site, listed, filters.window_millis).await?;
    Ok(web::Json(ResponsesPage {
        site: site.key.to_string(),
        period: filters.period,
        responses,
        next_cursor,
    }))
}

/// All answers of a period, as CSV
///
/// The same answers and filters as `/responses`, every page, as `text/csv` (RFC 4180, UTF-8, a
/// header row), streamed. Columns: `id, answered_at, score, category, comment, survey, language,
/// device, customer, visitor, touchpoints` (names joined with ` > `). Cells a spreadsheet would
/// read as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) get a leading `'`.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/responses.csv",
    tag = "reports",
    params(SitePath, PeriodParams, FilterParams),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The answers.", content_type = "text/csv", body = String),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "responses_csv", skip_all)]
async fn responses_csv(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<FilterParams>,
    store: web::Data<dyn Store>,
) -> Result<HttpResponse, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let filters = Arc::new(Filters::parse(&params)?);
    let store: Arc<dyn Store> = store.into_inner();
    let site = Arc::new(site);
    let header_row = csv_records([vec![
        "id",
        "answered_at",
        "score",
        "category",
        "comment",
        "survey",
        "language",
        "device",
        "customer",
        "visitor",
        "touchpoints",
    ]]);
    // Each step fetches the next page after `before`; the first step sends the header row.
    let pages = stream::try_unfold(Some(None), move |state: Option<Option<ResponseCursor>>| {
        let (store, site, filters) = (Arc::clone(&store), Arc::clone(&site), Arc::clone(&filters));
        async move {
            let Some(before) = state else {
                return Ok::<_, ApiError>(None);
            };
            let listed = store
                .responses(&filters.query(&site, before, MAX_LIMIT))
                .await?;
            let next = (listed.len() == MAX_LIMIT as usize).then(|| listed.last().map(position_of));
            let rows = with_journeys(store.as_ref(), &site, listed, filters.window_millis).await?;
            let chunk = csv_records(rows.iter().map(csv_cells));
            Ok(Some((web::Bytes::from(chunk), next)))
        }
    });
    let body =
        stream::once(async move { Ok::<_, ApiError>(web::Bytes::from(header_row)) }).chain(pages);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"responses.csv\"",
        ))
        .streaming(body))
}

/// The listed answers with their categories and the journeys before them.
async fn with_journeys(
    store: &dyn Store,
    site: &crate::site::Site,
    listed: Vec<ListedResponse>,
    window_millis: i64,
) -> Result<Vec<Response>, ApiError> {
    let Some(range) = listed
        .iter()
        .map(|answer| answer.at)
        .fold(None, |span: Option<(i64, i64)>, at| {
            Some(span.map_or((at, at), |(low, high)| (low.min(at), high.max(at))))
        })
        .map(|(low, high)| TimeRange {
            from: low.saturating_sub(window_millis),
            to: high,
        })
    else {
        return Ok(Vec::new());
    };
    let mut visitors: Vec<uuid::Uuid> = listed.iter().map(|answer| answer.visitor).collect();
    visitors.sort_unstable();
    visitors.dedup();
    let reached = store.touchpoints_of(site, &visitors, range).await?;
    listed
        .into_iter()
        .map(|answer| {
            let score = Score::try_from(u8::try_from(answer.score).unwrap_or(u8::MAX))
                .map_err(|error| ApiError::Internal(Box::new(error)))?;
            let touchpoints = journey_before(&reached, &answer, window_millis);
            Ok(Response {
                id: answer.id,
                visitor: answer.visitor,
                at: timestamp(answer.at)?,
                score: answer.score,
                category: score.category().as_str(),
                comment: answer.comment,
                survey: answer.survey,
                language: answer.language,
                device: answer.device,
                customer: answer.customer,
                touchpoints: touchpoints
                    .into_iter()
                    .map(|step| {
                        Ok(JourneyStep {
                            name: step.name.clone(),
                            at: timestamp(step.at)?,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?,
            })
        })
        .collect()
}

/// The touchpoints of the answer's visitor within the window before it, oldest first.
fn journey_before<'a>(
    reached: &'a [VisitedTouchpoint],
    answer: &ListedResponse,
    window_millis: i64,
) -> Vec<&'a VisitedTouchpoint> {
    let since = answer.at.saturating_sub(window_millis);
    reached
        .iter()
        .filter(|step| step.visitor == answer.visitor && (since..=answer.at).contains(&step.at))
        .collect()
}

fn timestamp(millis: i64) -> Result<jiff::Timestamp, ApiError> {
    jiff::Timestamp::from_millisecond(millis).map_err(|error| ApiError::Internal(Box::new(error)))
}

/// Where a page ending with `answer` ends.
fn position_of(answer: &ListedResponse) -> ResponseCursor {
    ResponseCursor {
        at: answer.at,
        id: answer.id,
    }
}

/// The cursor after `answer`, as clients pass it back: its time and id.
fn cursor_of(answer: &ListedResponse) -> String {
    format!("{}.{}", answer.at, answer.id.simple())
}

fn parse_cursor(text: &str) -> Result<ResponseCursor, ApiError> {
    let invalid = || ApiError::InvalidParameter("`cursor` is not one this API gave".into());
    let (at, id) = text.split_once('.').ok_or_else(invalid)?;
    Ok(ResponseCursor {
        at: at.parse().map_err(|_| invalid())?,
        id: id.parse().map_err(|_| invalid())?,
    })
}

/// One answer's CSV cells.
fn csv_cells(row: &Response) -> Vec<String> {
    let journey: Vec<&str> = row
        .touchpoints
        .iter()
        .map(|step| step.name.as_str())
        .collect();
    vec![
        row.id.to_string(),
        row.at.to_string(),
        row.score.to_string(),
        row.category.to_owned(),
        row.comment.clone().unwrap_or_default(),
        row.survey.clone().unwrap_or_default(),
        row.language.clone().unwrap_or_default(),
        row.device.clone().unwrap_or_default(),
        row.customer.clone().unwrap_or_default(),
        row.visitor.to_string(),
        journey.join(" > "),
    ]
}

/// CSV records, quoted as RFC 4180 asks, cells that a spreadsheet would run as a formula
/// defused with a leading `'` (comments and customer ids come from the public).
fn csv_records<S: AsRef<str>>(records: impl IntoIterator<Item = Vec<S>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for cells in records {
        let defused = cells.iter().map(|cell| {
            let cell = cell.as_ref();
            if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{cell}")
            } else {
                cell.to_owned()
            }
        });
        // Writing to memory cannot fail.
        let _ = writer.write_record(defused);
    }
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let row = csv_records([vec![
            "a,b",
            "say \"hi\"",
            "=HYPERLINK(\"x\")",
            "-1",
            "line\nbreak",
            "plain",
        ]]);
        assert_eq!(
            String::from_utf8(row).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"x\"\")\",'-1,\"line\nbreak\",plain\n"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_nonsense() {
        let id = uuid::Uuid::from_u128(7);
        let cursor = parse_cursor(&format!("1763900000000.{}", id.simple())).unwrap();
        assert_eq!(
            cursor,
            ResponseCursor {
                at: 1_763_900_000_000,
                id
            }
        );
        for bad in [
            "",
            "x",
            "1.",
            ".abc",
            "1.not-a-uuid",
            "a.00000000000000000000000000000007",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
