//! `GET /v1/sites/{site}/segments`: the NPS of each segment of a site's respondents (by survey,
//! language, device, page, named touchpoint, traffic source, campaign tag or customer trait), for
//! holders of the site's read API key.

use super::openapi::{InvalidPeriod, KeyedErrors, SitePath};
use crate::auth::authorize;
use crate::error::ApiError;
use crate::period::{JourneyWindow, Period, PeriodParams};
use crate::store::{AnswerScope, Segment, Store, UtmTag};
use crate::survey::survey_param;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use touchstone_shared::{CONFIDENCE_LEVEL, NpsSummary, SurveyId, Tally, TraitName};
use utoipa::ToSchema;

/// Registers the segments report.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/sites/{site}/segments", web::get().to(segments));
}

/// The query string: what to group by, the period, one survey or all, the journey window.
#[derive(Debug, Deserialize)]
struct SegmentParams {
    #[serde(flatten)]
    period: PeriodParams,
    by: Option<String>,
    survey: Option<String>,
    window_days: Option<u16>,
}

/// The NPS of each segment.
#[derive(Debug, Serialize, ToSchema)]
struct SegmentsReport {
    /// The site's public key.
    site: String,
    /// The survey counted, or null for every survey of the site.
    #[schema(value_type = Option<String>)]
    survey: Option<SurveyId>,
    #[serde(flatten)]
    period: Period,
    /// What the answers are grouped by, as asked.
    by: String,
    /// Always 0.95.
    confidence_level: f64,
    /// Most answers first; `value` is null for answers without one (no trait, a direct visit…).
    /// By `touchpoint` the segments overlap (a respondent counts in each one they reached) and
    /// answers that reached none are not listed.
    segments: Vec<SegmentRow>,
}

/// One segment and its NPS.
#[derive(Debug, Serialize, ToSchema)]
struct SegmentRow {
    /// The segment's value, e.g. `mobile`, `fr`, `newsletter` or `pro`.
    value: Option<String>,
    #[serde(flatten)]
    summary: NpsSummary,
}

/// NPS by segment
///
/// `by`: `survey`, `language`, `device`, `page` (the last page viewed before answering),
/// `touchpoint` (each named touchpoint the respondent reached within `window_days` before
/// answering: overlapping segments; `/drivers` compares each with the answers that did not reach
/// it), `referrer`, `utm_source`, `utm_medium`, `utm_campaign` (of the respondent's last visit
/// that arrived with a referrer or campaign tags within `window_days`: last non-direct touch), or
/// `trait.NAME` for a customer trait given with `identify` (the visitor's latest). Each segment
/// has its 95% interval and the small-sample flag.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/segments",
    tag = "reports",
    params(
        SitePath,
        PeriodParams,
        ("by" = String, Query, description = "`survey`, `language`, `device`, `page`, `touchpoint`, `referrer`, `utm_source`, `utm_medium`, `utm_campaign` or `trait.NAME` (e.g. `trait.plan`)."),
        ("survey" = Option<String>, Query, description = "One survey's answers; every survey of the site by default."),
        ("window_days" = Option<u16>, Query, description = "How far before an answer the page, referrer and tags are looked for: 1 to 365 days, 30 by default."),
    ),
    security(("api_key" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = SegmentsReport),
        (status = 400, response = InvalidPeriod),
        KeyedErrors,
    ),
)]
#[tracing::instrument(name = "segments", skip_all)]
async fn segments(
    request: HttpRequest,
    site: web::Path<String>,
    params: web::Query<SegmentParams>,
    store: web::Data<dyn Store>,
) -> Result<web::Json<SegmentsReport>, ApiError> {
    let site = authorize(&request, store.get_ref(), &site).await?;
    let period = Period::parse(&params.period)?;
    let survey = survey_param(params.survey.as_deref())?;
    let by = params.by.as_deref().ok_or_else(|| {
        ApiError::InvalidParameter("say what to group by with `by`, e.g. by=device".into())
    })?;
    let window = JourneyWindow::parse(params.window_days)?;
    let scope = AnswerScope {
        site: &site,
        survey: survey.as_ref(),
    };
    let tallies = if by == "touchpoint" {
        let reach = store
            .journey_reach(scope, period.range(), window.millis())
            .await?;
        most_answers_first(
            reach
                .reached
                .into_iter()
                .map(|(name, tally)| (Some(name), tally)),
        )
    } else {
        let segment = parse_segment(by)?;
        store
            .segments(scope, period.range(), &segment, window.millis())
            .await?
    };
    Ok(web::Json(SegmentsReport {
        site: site.key.to_string(),
        survey,
        period,
        by: by.to_owned(),
        confidence_level: CONFIDENCE_LEVEL,
        segments: tallies
            .into_iter()
            .map(|(value, tally)| SegmentRow {
                value,
                summary: NpsSummary::from(tally),
            })
            .collect(),
    }))
}

/// `segments` ordered as every segments report is: most answers first, then by value.
fn most_answers_first(
    segments: impl IntoIterator<Item = (Option<String>, Tally)>,
) -> Vec<(Option<String>, Tally)> {
    let mut segments: Vec<_> = segments.into_iter().collect();
    segments.sort_by(|a, b| {
        b.1.responses()
            .cmp(&a.1.responses())
            .then_with(|| a.0.cmp(&b.0))
    });
    segments
}

fn parse_segment(by: &str) -> Result<Segment, ApiError> {
    Ok(match by {
        "survey" => Segment::Survey,
        "language" => Segment::Language,
        "device" => Segment::Device,
        "page" => Segment::Page,
        "referrer" => Segment::Referrer,
        "utm_source" => Segment::Utm(UtmTag::Source),
        "utm_medium" => Segment::Utm(UtmTag::Medium),
        "utm_campaign" => Segment::Utm(UtmTag::Campaign),
        other => match other.strip_prefix("trait.") {
            Some(name) => Segment::Trait(
                TraitName::parse(name)
                    .map_err(|error| ApiError::InvalidParameter(format!("`by`: {error}")))?,
            ),
            None => {
                return Err(ApiError::InvalidParameter(format!(
                    "`by` is survey, language, device, page, touchpoint, referrer, utm_source, \
                     utm_medium, utm_campaign or trait.NAME, not {other:?}"
                )));
            }
        },
    })
}
