//! `GET /v1/sites/{site}/touchpoints`: how often each moment of the journey was reached in a
//! period, and `GET /v1/sites/{site}/drivers`: which moments go with higher or lower scores, for
//! holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{JourneyWindow, Period, PeriodParams};
use crate::store::{AnswerScope, Store, TouchpointCount};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use touchstone_shared::compare::{self, Comparison};
use touchstone_shared::{
    CONFIDENCE_LEVEL, Category, NpsSummary, SMALL_SAMPLE_BELOW, Score, SurveyId, Tally,
};
use utoipa::ToSchema;

/// Registers the journey reports.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/touchpoints", web::get().to(touchpoints))
        .route("/v1/sites/{site}/drivers", web::get().to(drivers))
        .route("/v1/sites/{site}/paths", web::get().to(paths));
}

/// Touchpoint counts for a period.
#[derive(Debug, Serialize, ToSchema)]
struct TouchpointReport {
    /// The site's public key.
    site: String,
    #[serde(flatten)]
    period: Period,
    /// Most frequent first.
    touchpoints: Vec<TouchpointRow>,
}

/// How often one touchpoint was reached.
#[derive(Debug, Serialize, ToSchema)]
struct TouchpointRow {
    /// The touchpoint's name.
    name: String,
    /// Times it was recorded in the period.
    count: u64,
}

impl From<TouchpointCount> for TouchpointRow {
    fn from(count: TouchpointCount) -> Self {
        TouchpointRow {
            name: count.name,
            count: count.count,
        }
    }
}

/// Touchpoint counts of a period
///
/// How often each moment of the journey was reached, most frequent first.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/touchpoints",
    tag = "reports",
    params(SitePath, PeriodParams),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = TouchpointReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "touchpoints", skip_all)]
async fn touchpoints(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<PeriodParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<TouchpointReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params)?;
    let counts = store.touchpoint_counts(&site, period.range()).await?;
    Ok(web::Json(TouchpointReport {
        site: site.key.to_string(),
        period,
        touchpoints: counts.into_iter().map(TouchpointRow::from).collect(),
    }))
}

/// The query string of the drivers report.
#[derive(Debug, Deserialize)]
struct DriversParams {
    #[serde(flatten)]
    period: PeriodParams,
    /// One survey's answers only; all of the site's by default.
    survey: Option<String>,
    /// How far before an answer a touchpoint counts as part of its journey, in days (default 30).
    window_days: Option<u16>,
    /// The fewest answers each group needs for a touchpoint to be ranked (default 30).
    min_answers: Option<u64>,
}

/// What in the journey goes with higher or lower scores.
#[derive(Debug, Serialize, ToSchema)]
struct DriversReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    #[serde(flatten)]
    period: Period,
    /// How far before an answer a touchpoint counts, in days.
    window_days: u16,
    /// The fewest answers each group needs to be ranked.
    min_answers: u64,
    /// How differences, intervals and p-values are computed.
    method: &'static str,
    /// Always 0.95.
    confidence_level: f64,
    /// Every answer of the period.
    answers: NpsSummary,
    /// Ranked touchpoints first (both groups with at least `min_answers`), highest difference
    /// first; then the rest, by name, with `ranked: false`.
    drivers: Vec<Driver>,
}

/// One touchpoint: the NPS of respondents whose journey included it against those whose did not.
#[derive(Debug, Serialize, ToSchema)]
struct Driver {
    /// The touchpoint's name.
    touchpoint: String,
    /// Respondents who reached it within the window before answering.
    with: NpsSummary,
    /// Respondents who did not.
    without: NpsSummary,
    /// `with` minus `without`: its difference, interval and p-value.
    #[serde(flatten)]
    change: Comparison,
    /// Whether both groups have at least `min_answers` answers.
    ranked: bool,
}

/// What in the journey drives the NPS
///
/// For every named touchpoint (`page_view` aside), the NPS of respondents whose journey included
/// it within `window_days` before their answer, against the NPS of those whose journey did not,
/// with the difference's 95% interval and p-value. "Visitors who contacted support score 30
/// points lower" is a row here. Differences show association, not cause.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/drivers",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("survey" = Option<String>, Query, description = "One survey's answers, e.g. `nps`; every survey of the site by default."),
        ("window_days" = Option<u16>, Query, description = "How far before an answer a touchpoint counts, 1 to 365 days; 30 by default."),
        ("min_answers" = Option<u64>, Query, description = "The fewest answers each group needs to be ranked; 30 by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = DriversReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "drivers", skip_all)]
async fn drivers(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<DriversParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<DriversReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let window = JourneyWindow::parse(params.window_days)?;
    let min_answers = params.min_answers.unwrap_or(SMALL_SAMPLE_BELOW);
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let reach = store
        .journey_reach(scope, period.range(), window.millis())
        .await?;
    let mut drivers: Vec<Driver> = reach
        .reached
        .into_iter()
        .map(|(touchpoint, with)| {
            let without = Tally::new(
                reach.answers.promoters.saturating_sub(with.promoters),
                reach.answers.passives.saturating_sub(with.passives),
                reach.answers.detractors.saturating_sub(with.detractors),
            );
            Driver {
                touchpoint,
                ranked: with.responses() >= min_answers && without.responses() >= min_answers,
                change: Comparison::between(without, with),
                with: NpsSummary::from(with),
                without: NpsSummary::from(without),
            }
        })
        .collect();
    // Ranked first, highest difference first; the rest keep their name order (the sort is stable).
    drivers.sort_by(|a, b| {
        b.ranked.cmp(&a.ranked).then_with(|| {
            let difference = |driver: &Driver| driver.change.difference.filter(|_| driver.ranked);
            difference(b)
                .unwrap_or(0.0)
                .total_cmp(&difference(a).unwrap_or(0.0))
        })
    });
    Ok(web::Json(DriversReport {
        site: site.key.to_string(),
        survey,
        period,
        window_days: window.days(),
        min_answers,
        method: compare::METHOD,
        confidence_level: CONFIDENCE_LEVEL,
        answers: NpsSummary::from(reach.answers),
        drivers,
    }))
}

/// The most journey steps a paths report reads; beyond it the report says it is partial.
const MAX_STEP_ROWS: i64 = 1_000_000;

/// The query string of the paths report.
#[derive(Debug, Deserialize)]
struct PathsParams {
    #[serde(flatten)]
    period: PeriodParams,
    survey: Option<String>,
    window_days: Option<u16>,
    /// How many of the last touchpoints before an answer make its path (1 to 5, default 3).
    length: Option<usize>,
    /// How many paths per category (1 to 50, default 10).
    top: Option<usize>,
}

/// The commonest journeys to each kind of answer.
#[derive(Debug, Serialize, ToSchema)]
struct PathsReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    #[serde(flatten)]
    period: Period,
    /// How far before an answer touchpoints count, in days.
    window_days: u16,
    /// How many of the last touchpoints make a path.
    length: usize,
    /// Whether the period held more journey steps than one report reads (1,000,000): then the
    /// paths describe the answers read first, not all of them.
    partial: bool,
    /// The commonest paths to a promoter's answer.
    promoter: Vec<PathRow>,
    /// The commonest paths to a passive's answer.
    passive: Vec<PathRow>,
    /// The commonest paths to a detractor's answer.
    detractor: Vec<PathRow>,
}

/// One path and how many answers of the category it led to.
#[derive(Debug, Serialize, ToSchema)]
struct PathRow {
    /// The last named touchpoints before the answer, oldest first, repeats in a row merged;
    /// empty for answers reached without any.
    steps: Vec<String>,
    /// Answers of the category after this path.
    answers: u64,
    /// Their share of the category's answers, 0 to 1.
    share: f64,
}

/// The journeys that lead to promoters and to detractors
///
/// For each category, the commonest paths: the last `length` named touchpoints (`page_view`
/// aside) each respondent reached within `window_days` before answering, oldest first, with
/// repeats in a row merged. Answers reached without a named touchpoint have the empty path.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/paths",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("survey" = Option<String>, Query, description = "One survey's answers; every survey of the site by default."),
        ("window_days" = Option<u16>, Query, description = "How far before an answer touchpoints count: 1 to 365 days, 30 by default."),
        ("length" = Option<usize>, Query, description = "How many of the last touchpoints make a path: 1 to 5, 3 by default."),
        ("top" = Option<usize>, Query, description = "Paths per category: 1 to 50, 10 by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = PathsReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "paths", skip_all)]
async fn paths(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<PathsParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<PathsReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let window = JourneyWindow::parse(params.window_days)?;
    let length = params.length.unwrap_or(3);
    let top = params.top.unwrap_or(10);
    for (name, value, range) in [("length", length, 1..=5), ("top", top, 1..=50)] {
        if !range.contains(&value) {
            return Err(ApiError::InvalidParameter(format!(
                "`{name}` is {} to {}, not {value}",
                range.start(),
                range.end()
            )));
        }
    }
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let totals = store.tally(scope, period.range()).await?;
    let steps = store
        .journey_steps(scope, period.range(), window.millis(), MAX_STEP_ROWS)
        .await?;
    let partial = steps.len() as i64 >= MAX_STEP_ROWS;
    let mut counted: HashMap<(Category, Vec<String>), u64> = HashMap::new();
    let mut with_journey = Tally::default();
    for (category, path) in last_steps(steps, length)? {
        with_journey.record(category);
        *counted.entry((category, path)).or_default() += 1;
    }
    // Answers with no named touchpoint in their window have the empty path.
    for (category, total, seen) in [
        (Category::Promoter, totals.promoters, with_journey.promoters),
        (Category::Passive, totals.passives, with_journey.passives),
        (
            Category::Detractor,
            totals.detractors,
            with_journey.detractors,
        ),
    ] {
        if total > seen && !partial {
            counted.insert((category, Vec::new()), total - seen);
        }
    }
    let rows = |category: Category, total: u64| {
        let mut rows: Vec<PathRow> = counted
            .iter()
            .filter(|((of, _), _)| *of == category)
            .map(|((_, steps), answers)| PathRow {
                steps: steps.clone(),
                answers: *answers,
                share: *answers as f64 / total.max(1) as f64,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.answers
                .cmp(&a.answers)
                .then_with(|| a.steps.cmp(&b.steps))
        });
        rows.truncate(top);
        rows
    };
    Ok(web::Json(PathsReport {
        site: site.key.to_string(),
        survey,
        period,
        window_days: window.days(),
        length,
        partial,
        promoter: rows(Category::Promoter, totals.promoters),
        passive: rows(Category::Passive, totals.passives),
        detractor: rows(Category::Detractor, totals.detractors),
    }))
}

/// Each answer's category and path: its last `length` touchpoints, repeats in a row merged,
/// from `(answer, score, touchpoint)` rows grouped by answer in journey order.
fn last_steps(
    rows: Vec<(uuid::Uuid, i64, String)>,
    length: usize,
) -> Result<Vec<(Category, Vec<String>)>, ApiError> {
    let mut paths = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while let Some((answer, score, first)) = rows.next() {
        let mut steps = vec![first];
        while let Some((_, _, name)) = rows.next_if(|(next, _, _)| *next == answer) {
            if steps.last() != Some(&name) {
                steps.push(name);
            }
        }
        let score = u8::try_from(score)
            .ok()
            .and_then(|score| Score::try_from(score).ok())
            .ok_or_else(|| ApiError::Internal("a stored score outside 0 to 10".into()))?;
        let path = steps.split_off(steps.len().saturating_sub(length));
        paths.push((score.category(), path));
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_the_last_steps_with_repeats_merged() {
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let row = |answer, score, name: &str| (answer, score, name.to_owned());
        let paths = last_steps(
            vec![
                row(a, 10, "pricing_viewed"),
                row(a, 10, "pricing_viewed"),
                row(a, 10, "add_to_cart"),
                row(a, 10, "pricing_viewed"),
                row(a, 10, "checkout_completed"),
                row(b, 3, "support_contact"),
            ],
            3,
        )
        .unwrap();
        assert_eq!(
            paths,
            [
                (
                    Category::Promoter,
                    vec![
                        "add_to_cart".to_owned(),
                        "pricing_viewed".to_owned(),
                        "checkout_completed".to_owned()
                    ]
                ),
                (Category::Detractor, vec!["support_contact".to_owned()]),
            ]
        );
    }
}
