//! Webhooks: the closed loop. A site's owner subscribes a URL to its answers — all of them, or
//! those a filter picks (a category, a score at most N, a touchpoint reached shortly before
//! answering, a customer trait) — and the collector delivers each matching answer there once,
//! signed the Standard Webhooks way, retrying with backoff from a durable outbox.
//!
//! - This module: what a subscription is ([`WebhookSettings`], [`Filters`], [`ReceiverUrl`]),
//!   checked at the boundary so the HTTP routes and the CLI accept the same things.
//! - [`signature`]: the signing secret and the `webhook-signature` header.
//! - [`payload`]: the JSON bodies, in the Standard Webhooks shape or as a Slack message.
//! - [`schedule`]: when a failed delivery is tried again.
//! - [`dispatcher`]: the background task that turns answers into deliveries and sends them.

pub mod dispatcher;
pub mod payload;
pub mod schedule;
pub mod signature;

pub use signature::WebhookSecret;

use crate::period::JourneyWindow;
use crate::store::AnswerContext;
use serde::{Deserialize, Serialize};
use std::fmt;
use touchstone_shared::{Category, Score, TouchpointName, TraitName, TraitValue};
use utoipa::ToSchema;

/// The most subscriptions one site may have: each answer is matched against all of them.
pub const MAX_PER_SITE: usize = 50;
/// How long the previous secret keeps signing after a rotation, so receivers can switch.
pub const ROTATION_OVERLAP_MILLIS: i64 = 24 * 3_600_000;

/// Why settings for a subscription were refused; the message says which rule they break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidWebhook(pub String);

/// Where deliveries go: an absolute `http` or `https` URL with a host, at most
/// [`ReceiverUrl::MAX_CHARS`] characters, without a fragment.
///
/// Private and loopback addresses are allowed on purpose: a self-hosted collector's receivers
/// are often internal (see the README on what that means). Its `Debug` shows only the scheme
/// and host, because the path of some receivers (Slack's incoming webhooks) is itself a secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReceiverUrl(url::Url);

impl ReceiverUrl {
    /// The longest URL taken, in characters.
    pub const MAX_CHARS: usize = 2048;

    /// Checks `text`.
    pub fn parse(text: &str) -> Result<Self, InvalidWebhook> {
        let invalid = |why: &str| InvalidWebhook(format!("`url` {why}"));
        let text = text.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(invalid(&format!(
                "is longer than {} characters",
                Self::MAX_CHARS
            )));
        }
        let url = url::Url::parse(text)
            .map_err(|error| invalid(&format!("must be an absolute http(s) URL ({error})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(&format!(
                "must be http or https, not {}",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("must name a host"));
        }
        if url.fragment().is_some() {
            return Err(invalid(
                "must not have a fragment (`#…`): receivers never see it",
            ));
        }
        Ok(ReceiverUrl(url))
    }

    /// The URL as given (normalised by the URL parser).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for ReceiverUrl {
    type Error = InvalidWebhook;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ReceiverUrl> for String {
    fn from(url: ReceiverUrl) -> String {
        url.0.into()
    }
}

impl fmt::Debug for ReceiverUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ReceiverUrl({}://{}/…)",
            self.0.scheme(),
            self.0.host_str().unwrap_or_default()
        )
    }
}

/// How a delivery's body is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"type", "timestamp", "data"}`, as Standard Webhooks recommends.
    #[default]
    Standard,
    /// `{"text", "blocks"}`, which a Slack incoming webhook posts as a message.
    Slack,
}

impl Format {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
        }
    }

    /// The format named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "standard" => Some(Format::Standard),
            "slack" => Some(Format::Slack),
            _ => None,
        }
    }
}

/// Whether a subscription gets deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookState {
    /// Matching answers are delivered.
    Active,
    /// Paused by its owner: no new deliveries; pending ones wait until it is resumed.
    Paused,
    /// The receiver answered `410 Gone`, so the collector stopped; resuming turns it back on.
    Disabled,
}

impl WebhookState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Active => "active",
            WebhookState::Paused => "paused",
            WebhookState::Disabled => "disabled",
        }
    }

    /// The state named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(WebhookState::Active),
            "paused" => Some(WebhookState::Paused),
            "disabled" => Some(WebhookState::Disabled),
            _ => None,
        }
    }
}

/// A customer trait an answer's respondent must have: the visitor's latest `identify` gave
/// `name` exactly this `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraitMatch {
    /// The trait's name, e.g. `plan`.
    pub name: TraitName,
    /// The value it must have, e.g. `enterprise`.
    pub value: TraitValue,
}

impl TraitMatch {
    /// `NAME=VALUE`, as the CLI takes it.
    pub fn parse_pair(text: &str) -> Result<Self, InvalidWebhook> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| InvalidWebhook(format!("a trait is NAME=VALUE, not {text:?}")))?;
        Ok(TraitMatch {
            name: TraitName::parse(name).map_err(|error| InvalidWebhook(error.to_string()))?,
            value: TraitValue::parse(value).map_err(|error| InvalidWebhook(error.to_string()))?,
        })
    }
}

/// Which answers a subscription wants: every filter given must hold (AND); none given, every
/// answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "FilterFields")]
pub struct Filters {
    /// Only answers in this category: `promoter`, `passive` or `detractor`.
    #[schema(value_type = Option<String>, pattern = "^(promoter|passive|detractor)$")]
    category: Option<Category>,
    /// Only answers with at most this score.
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 10)]
    max_score: Option<Score>,
    /// Only answers whose respondent reached this touchpoint (e.g. `support_contact`) within
    /// `window_days` before answering.
    touchpoint: Option<TouchpointName>,
    /// Only answers whose respondent was identified with this trait.
    #[serde(rename = "trait")]
    customer_trait: Option<TraitMatch>,
    /// How far before an answer the touchpoint filter, and the journey in the payload, look:
    /// 1 to 365 days.
    #[schema(minimum = 1, maximum = 365)]
    window_days: u16,
}

/// Filters as clients write them; every field optional, nothing else allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterFields {
    category: Option<Category>,
    max_score: Option<Score>,
    touchpoint: Option<TouchpointName>,
    #[serde(rename = "trait")]
    customer_trait: Option<TraitMatch>,
    window_days: Option<u16>,
}

impl TryFrom<FilterFields> for Filters {
    type Error = InvalidWebhook;

    fn try_from(fields: FilterFields) -> Result<Self, Self::Error> {
        Filters::new(
            fields.category,
            fields.max_score,
            fields.touchpoint,
            fields.customer_trait,
            fields.window_days,
        )
    }
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            category: None,
            max_score: None,
            touchpoint: None,
            customer_trait: None,
            window_days: JourneyWindow::DEFAULT_DAYS,
        }
    }
}

impl Filters {
    /// Checks a set of filters; `window_days` defaults to 30.
    pub fn new(
        category: Option<Category>,
        max_score: Option<Score>,
        touchpoint: Option<TouchpointName>,
        customer_trait: Option<TraitMatch>,
        window_days: Option<u16>,
    ) -> Result<Self, InvalidWebhook> {
        let window =
            JourneyWindow::parse(window_days).map_err(|error| InvalidWebhook(error.to_string()))?;
        if let (Some(category), Some(max)) = (category, max_score)
            && category.scores().0 > max
        {
            return Err(InvalidWebhook(format!(
                "no answer can be a {} with a score of at most {}: drop one of the filters",
                category.as_str(),
                max.value()
            )));
        }
        Ok(Filters {
            category,
            max_score,
            touchpoint,
            customer_trait,
            window_days: window.days(),
        })
    }

    /// The category filter.
    pub fn category(&self) -> Option<Category> {
        self.category
    }

    /// The highest score that passes.
    pub fn max_score(&self) -> Option<Score> {
        self.max_score
    }

    /// The touchpoint the respondent must have reached.
    pub fn touchpoint(&self) -> Option<&TouchpointName> {
        self.touchpoint.as_ref()
    }

    /// The trait the respondent must have.
    pub fn customer_trait(&self) -> Option<&TraitMatch> {
        self.customer_trait.as_ref()
    }

    /// How far back the touchpoint filter and the payload's journey look.
    pub fn window(&self) -> JourneyWindow {
        JourneyWindow::parse(Some(self.window_days))
            .unwrap_or_else(|_| unreachable!("checked when made"))
    }

    /// Whether `answer` passes every filter.
    pub fn matches(&self, answer: &AnswerContext) -> bool {
        let category = self
            .category
            .is_none_or(|category| answer.score.category() == category);
        let score = self.max_score.is_none_or(|max| answer.score <= max);
        let since = answer.at - self.window().millis();
        let touchpoint = self.touchpoint.as_ref().is_none_or(|wanted| {
            answer
                .journey
                .iter()
                .any(|step| step.name == wanted.as_str() && step.at >= since)
        });
        let customer_trait = self.customer_trait.as_ref().is_none_or(|wanted| {
            answer.traits.get(wanted.name.as_str()) == Some(&wanted.value.as_str().to_owned())
        });
        category && score && touchpoint && customer_trait
    }
}

/// Everything a subscription is, but its secret and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where deliveries go.
    pub url: ReceiverUrl,
    /// How their bodies are laid out.
    pub format: Format,
    /// The owner's note ("Support team's Slack").
    pub description: Option<String>,
    /// Which answers it wants.
    pub filters: Filters,
}

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// Checks a description: trimmed, one line, at most [`MAX_DESCRIPTION_CHARS`]; blank is none.
pub fn description(text: Option<&str>) -> Result<Option<String>, InvalidWebhook> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(InvalidWebhook(format!(
            "`description` is at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(InvalidWebhook(
            "`description` is one line without control characters".into(),
        ));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JourneyStep;
    use std::collections::BTreeMap;

    const DAY: i64 = 86_400_000;

    fn answer(score: u8, journey: &[(&str, i64)], traits: &[(&str, &str)]) -> AnswerContext {
        AnswerContext {
            site_key: "demo".into(),
            event_id: uuid::Uuid::nil(),
            visitor: uuid::Uuid::nil(),
            at: 100 * DAY,
            received_at: 100 * DAY,
            score: Score::try_from(score).unwrap(),
            comment: None,
            survey: "nps".into(),
            language: None,
            device: None,
            customer: None,
            traits: traits
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect::<BTreeMap<_, _>>(),
            journey: journey
                .iter()
                .map(|(name, at)| JourneyStep {
                    name: name.to_string(),
                    url: None,
                    at: *at,
                })
                .collect(),
        }
    }

    fn filters(json: serde_json::Value) -> Filters {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn no_filter_passes_every_answer() {
        let all = filters(serde_json::json!({}));
        for score in 0..=10 {
            assert!(all.matches(&answer(score, &[], &[])));
        }
    }

    #[test]
    fn category_and_score_filters_combine_with_and() {
        let unhappy = filters(serde_json::json!({ "category": "detractor", "max_score": 3 }));
        assert!(unhappy.matches(&answer(0, &[], &[])));
        assert!(unhappy.matches(&answer(3, &[], &[])));
        assert!(!unhappy.matches(&answer(4, &[], &[])));
        assert!(!unhappy.matches(&answer(9, &[], &[])));
    }

    #[test]
    fn the_touchpoint_must_come_within_the_window_before_the_answer() {
        let support =
            filters(serde_json::json!({ "touchpoint": "support_contact", "window_days": 7 }));
        let at = 100 * DAY;
        assert!(support.matches(&answer(5, &[("support_contact", at - DAY)], &[])));
        assert!(support.matches(&answer(5, &[("support_contact", at - 7 * DAY)], &[])));
        assert!(!support.matches(&answer(5, &[("support_contact", at - 8 * DAY)], &[])));
        assert!(!support.matches(&answer(5, &[("pricing_viewed", at - DAY)], &[])));
    }

    #[test]
    fn the_trait_must_have_exactly_that_value() {
        let pro = filters(serde_json::json!({ "trait": { "name": "plan", "value": "pro" } }));
        assert!(pro.matches(&answer(5, &[], &[("plan", "pro")])));
        assert!(!pro.matches(&answer(5, &[], &[("plan", "free")])));
        assert!(!pro.matches(&answer(5, &[], &[])));
    }

    #[test]
    fn bad_filters_are_refused_with_the_reason() {
        for bad in [
            serde_json::json!({ "category": "angry" }),
            serde_json::json!({ "max_score": 11 }),
            serde_json::json!({ "max_score": -1 }),
            serde_json::json!({ "touchpoint": "Support Contact" }),
            serde_json::json!({ "window_days": 0 }),
            serde_json::json!({ "window_days": 366 }),
            serde_json::json!({ "trait": { "name": "plan" } }),
            serde_json::json!({ "trait": { "name": "plan", "value": "pro", "extra": 1 } }),
            serde_json::json!({ "colour": "red" }),
            serde_json::json!({ "category": "promoter", "max_score": 6 }),
        ] {
            assert!(
                serde_json::from_value::<Filters>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_serialize_as_they_are_read() {
        let given = serde_json::json!({
            "category": "detractor", "max_score": 4, "touchpoint": "complaint",
            "trait": { "name": "plan", "value": "pro" }, "window_days": 14
        });
        assert_eq!(serde_json::to_value(filters(given.clone())).unwrap(), given);
    }

    #[test]
    fn receiver_urls_must_be_http_with_a_host() {
        for good in [
            "https://hooks.slack.com/services/T0/B0/X",
            "http://10.0.0.5:8080/touchstone",
            "http://localhost/hook",
        ] {
            assert!(ReceiverUrl::parse(good).is_ok(), "{good}");
        }
        let long = format!("https://a.example/{}", "x".repeat(2048));
        for bad in [
            "",
            "not a url",
            "/relative/path",
            "ftp://files.example/",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://a.example/hook#part",
            "http://",
            long.as_str(),
        ] {
            assert!(ReceiverUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_receivers_path() {
        let url = ReceiverUrl::parse("https://hooks.slack.com/services/T0/B0/SECRET").unwrap();
        let debug = format!("{url:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("hooks.slack.com"), "{debug}");
    }

    #[test]
    fn trait_pairs_read_name_equals_value() {
        let pair = TraitMatch::parse_pair("plan=pro plus").unwrap();
        assert_eq!(
            (pair.name.as_str(), pair.value.as_str()),
            ("plan", "pro plus")
        );
        assert!(TraitMatch::parse_pair("plan").is_err());
        assert!(TraitMatch::parse_pair("Plan=pro").is_err());
        assert!(TraitMatch::parse_pair("plan=").is_err());
    }

    #[test]
    fn descriptions_are_one_short_line() {
        assert_eq!(
            description(Some("  Support  ")).unwrap().as_deref(),
            Some("Support")
        );
        assert_eq!(description(Some("   ")).unwrap(), None);
        assert!(description(Some("two\nlines")).is_err());
        assert!(description(Some(&"x".repeat(201))).is_err());
    }
}
