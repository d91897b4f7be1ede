//! The collect request: what the widget posts to `POST /v1/collect`.
//!
//! This is a public contract between widgets already running on visitors' browsers and the
//! collector; change it on purpose, additively, and keep old widgets working. A request that
//! deserializes is valid: every field is a checked type, so the collector re-checks nothing.
//!
//! ```json
//! {"site": "demo", "visitor": "0b7c…", "events": [
//!   {"type": "touchpoint", "id": "5f0e…", "at": 1763900000000, "name": "page_view", "url": "https://shop.example/",
//!    "referrer": "https://news.example/", "utm": {"source": "newsletter", "campaign": "spring"}},
//!   {"type": "shown", "id": "77aa…", "at": 1763900003000, "survey": "nps"},
//!   {"type": "response", "id": "9a41…", "at": 1763900004000, "score": 9, "comment": "Quick delivery",
//!    "survey": "nps", "language": "en", "device": "mobile"},
//!   {"type": "identify", "id": "c3d2…", "at": 1763900005000, "customer": "cus_42", "traits": {"plan": "pro"}}
//! ]}
//! ```
//!
//! Fields added after the first widgets shipped are optional, and an answer without `survey`
//! belongs to the default survey, `nps`:
//!
//! ```text
//! touchpoint: referrer, utm (first touchpoint of a session)   response: survey, language, device
//! shown, dismissal: the survey was shown, or closed without an answer
//! ```

use crate::score::Score;
use crate::text::{
    CampaignTag, Comment, CustomerId, Language, PageUrl, SiteKey, SurveyId, TouchpointName,
    TraitName, TraitValue,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The largest collect request body the collector reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A batch of events from one visitor of one site.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectRequest {
    /// The site's public key, from the script tag.
    pub site: SiteKey,
    /// The anonymous visitor, a random id the widget made.
    pub visitor: VisitorId,
    /// The events, oldest first.
    pub events: EventBatch,
}

/// An anonymous visitor: a random UUID made in the browser, never derived from anything personal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VisitorId(pub Uuid);

/// The id a browser gave an event when it made it. The collector stores each (site, id) once, so
/// a batch sent again after a lost acknowledgement changes nothing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

/// When something happened, in milliseconds since the Unix epoch (UTC), by the browser's clock.
///
/// Only 1970 to the end of 9999 is accepted; how far from the collector's own clock a time may
/// stray is the collector's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Timestamp(i64);

/// Why a number is not a [`Timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a timestamp is milliseconds since 1970-01-01 up to the end of year 9999, not {0}")]
pub struct TimestampError(pub i64);

impl Timestamp {
    /// 9999-12-31T23:59:59.999Z.
    pub const MAX_MILLIS: i64 = 253_402_300_799_999;

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Timestamp {
    type Error = TimestampError;

    fn try_from(millis: i64) -> Result<Self, Self::Error> {
        if (0..=Self::MAX_MILLIS).contains(&millis) {
            Ok(Timestamp(millis))
        } else {
            Err(TimestampError(millis))
        }
    }
}

impl From<Timestamp> for i64 {
    fn from(timestamp: Timestamp) -> i64 {
        timestamp.0
    }
}

/// One thing that happened during a visit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The visitor reached a moment of the journey: a page, or a named moment.
    Touchpoint {
        /// The browser-made id of this event.
        id: EventId,
        /// When it happened.
        at: Timestamp,
        /// Which moment, e.g. `page_view` or `pricing_viewed`.
        name: TouchpointName,
        /// The page it happened on.
        url: PageUrl,
        /// The page that sent the visitor here, on the first touchpoint of a session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        referrer: Option<PageUrl>,
        /// The landing page's campaign parameters, on the first touchpoint of a session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        utm: Option<Utm>,
    },
    /// The visitor answered the survey.
    Response {
        /// The browser-made id of this event.
        id: EventId,
        /// When the visitor answered.
        at: Timestamp,
        /// The 0–10 answer.
        score: Score,
        /// The answer to the follow-up question, if any; blank text counts as none.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "blank_comment_is_none"
        )]
        comment: Option<Comment>,
        /// Which survey was answered; [`SurveyId::DEFAULT`] when a widget does not say.
        #[serde(default)]
        survey: SurveyId,
        /// The language the survey was shown in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<Language>,
        /// The kind of device the visitor answered on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceClass>,
    },
    /// A survey appeared in front of the visitor (so reports can tell the response rate).
    Shown {
        /// The browser-made id of this event.
        id: EventId,
        /// When it appeared.
        at: Timestamp,
        /// Which survey.
        survey: SurveyId,
    },
    /// The visitor closed a survey without answering it.
    Dismissal {
        /// The browser-made id of this event.
        id: EventId,
        /// When the visitor closed it.
        at: Timestamp,
        /// Which survey.
        survey: SurveyId,
    },
    /// The website owner told the widget who the visitor is (`touchstone('identify', …)`), so
    /// this visitor's answers can be joined with the owner's customer data.
    Identify {
        /// The browser-made id of this event.
        id: EventId,
        /// When the page identified the visitor.
        at: Timestamp,
        /// The owner's id for the customer.
        customer: CustomerId,
        /// What the owner says about the customer (plan, account, …).
        #[serde(default, skip_serializing_if = "Traits::is_empty")]
        traits: Traits,
    },
}

impl Event {
    /// The browser-made id of the event.
    pub fn id(&self) -> EventId {
        match self {
            Event::Touchpoint { id, .. }
            | Event::Response { id, .. }
            | Event::Shown { id, .. }
            | Event::Dismissal { id, .. }
            | Event::Identify { id, .. } => *id,
        }
    }

    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Touchpoint { at, .. }
            | Event::Response { at, .. }
            | Event::Shown { at, .. }
            | Event::Dismissal { at, .. }
            | Event::Identify { at, .. } => *at,
        }
    }

    /// When the event happened, to correct (the collector does not trust a wrong clock).
    pub fn at_mut(&mut self) -> &mut Timestamp {
        match self {
            Event::Touchpoint { at, .. }
            | Event::Response { at, .. }
            | Event::Shown { at, .. }
            | Event::Dismissal { at, .. }
            | Event::Identify { at, .. } => at,
        }
    }
}

/// The kind of device, from the screen and the browser's own hints; never a fingerprint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A desktop or laptop computer.
    Desktop,
}

impl DeviceClass {
    /// The name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Desktop => "desktop",
        }
    }
}

/// The `utm_*` parameters of the page a session landed on; at least one is present.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utm {
    /// `utm_source`: where the visitor came from (`newsletter`, `google`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CampaignTag>,
    /// `utm_medium`: the kind of channel (`email`, `cpc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<CampaignTag>,
    /// `utm_campaign`: the campaign's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignTag>,
    /// `utm_term`: the paid search term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<CampaignTag>,
    /// `utm_content`: which link or ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<CampaignTag>,
}

impl Utm {
    /// Whether no parameter is present.
    pub fn is_empty(&self) -> bool {
        self == &Utm::default()
    }
}

fn blank_comment_is_none<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Comment>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => Comment::parse_optional(&text).map_err(serde::de::Error::custom),
    }
}

/// A customer's traits: at most [`Traits::MAX_ENTRIES`] names with text values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<TraitName, TraitValue>")]
pub struct Traits(BTreeMap<TraitName, TraitValue>);

/// Why a map is not [`Traits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a customer has at most {max} traits, not {0}", max = Traits::MAX_ENTRIES)]
pub struct TraitCountError(pub usize);

impl Traits {
    /// The most traits one `identify` may carry.
    pub const MAX_ENTRIES: usize = 32;

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The traits, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&TraitName, &TraitValue)> {
        self.0.iter()
    }
}

impl TryFrom<BTreeMap<TraitName, TraitValue>> for Traits {
    type Error = TraitCountError;

    fn try_from(traits: BTreeMap<TraitName, TraitValue>) -> Result<Self, Self::Error> {
        if traits.len() <= Self::MAX_ENTRIES {
            Ok(Traits(traits))
        } else {
            Err(TraitCountError(traits.len()))
        }
    }
}

impl From<Traits> for BTreeMap<TraitName, TraitValue> {
    fn from(traits: Traits) -> Self {
        traits.0
    }
}

/// Written as the map it holds, by reference: `#[serde(into = …)]` would clone the map first,
/// and that clone is code in the widget's wasm.
impl Serialize for Traits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The events of one request: at least one, at most [`EventBatch::MAX_EVENTS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<Event>")]
pub struct EventBatch(Vec<Event>);

/// Why a list of events is not an [`EventBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a batch holds 1 to {max} events, not {0}", max = EventBatch::MAX_EVENTS)]
pub struct BatchSizeError(pub usize);

impl EventBatch {
    /// The most events one request may carry.
    pub const MAX_EVENTS: usize = 100;

    /// The events, in the order the browser sent them.
    pub fn events(&self) -> &[Event] {
        &self.0
    }
}

impl TryFrom<Vec<Event>> for EventBatch {
    type Error = BatchSizeError;

    fn try_from(events: Vec<Event>) -> Result<Self, Self::Error> {
        if (1..=Self::MAX_EVENTS).contains(&events.len()) {
            Ok(EventBatch(events))
        } else {
            Err(BatchSizeError(events.len()))
        }
    }
}

impl From<EventBatch> for Vec<Event> {
    fn from(batch: EventBatch) -> Vec<Event> {
        batch.0
    }
}

/// Written as the list it holds, by reference: `#[serde(into = …)]` would clone every event
/// first, and that clone is code in the widget's wasm.
impl Serialize for EventBatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VISITOR: &str = "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6a";
    const EVENT: &str = "5f0e2b1c-3d4e-4f5a-8b6c-7d8e9f0a1b2c";

    fn request(events: &str) -> String {
        format!(r#"{{"site":"demo","visitor":"{VISITOR}","events":[{events}]}}"#)
    }

    #[test]
    fn an_identify_carries_a_customer_and_traits() {
        let json = request(&format!(
            r#"{{"type":"identify","id":"{EVENT}","at":1763900000000,"customer":" cus_42 ","traits":{{"plan":"pro","seats":"25"}}}}"#
        ));
        let parsed: CollectRequest = serde_json::from_str(&json).unwrap();
        let Event::Identify {
            customer, traits, ..
        } = &parsed.events.events()[0]
        else {
            panic!("not an identify: {parsed:?}");
        };
        assert_eq!(customer.as_str(), "cus_42");
        let traits: Vec<(&str, &str)> = traits
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(traits, [("plan", "pro"), ("seats", "25")]);
        // Without traits, and round-tripped.
        let bare = request(&format!(
            r#"{{"type":"identify","id":"{EVENT}","at":1,"customer":"c"}}"#
        ));
        let parsed: CollectRequest = serde_json::from_str(&bare).unwrap();
        let again: CollectRequest =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
    }

    #[test]
    fn an_identify_refuses_bad_customers_and_traits() {
        let too_many: String = (0..=Traits::MAX_ENTRIES)
            .map(|i| format!(r#""t{i}":"v""#))
            .collect::<Vec<_>>()
            .join(",");
        for (customer, traits) in [
            (r#""""#, "{}"),
            (r#""a\nb""#, "{}"),
            ("42", "{}"),
            (r#""c""#, r#"{"Plan":"pro"}"#),
            (r#""c""#, r#"{"plan":""}"#),
            (r#""c""#, r#"{"seats":25}"#),
            (r#""c""#, &format!("{{{too_many}}}")),
        ] {
            let json = request(&format!(
                r#"{{"type":"identify","id":"{EVENT}","at":1,"customer":{customer},"traits":{traits}}}"#
            ));
            assert!(
                serde_json::from_str::<CollectRequest>(&json).is_err(),
                "{customer} {traits}"
            );
        }
    }

    #[test]
    fn a_touchpoint_and_a_response_parse() {
        let json = request(&format!(
            r#"{{"type":"touchpoint","id":"{EVENT}","at":1763900000000,"name":"page_view","url":"https://shop.example/?q=1"}},
               {{"type":"response","id":"{EVENT}","at":1763900004000,"score":9,"comment":" Quick "}}"#
        ));
        let parsed: CollectRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.site.as_str(), "demo");
        let events = parsed.events.events();
        assert_eq!(events.len(), 2);
        match &events[0] {
            Event::Touchpoint { name, url, .. } => {
                assert_eq!(name.as_str(), "page_view");
                assert_eq!(url.as_str(), "https://shop.example/");
            }
            other => panic!("expected a touchpoint, got {other:?}"),
        }
        match &events[1] {
            Event::Response {
                score, comment, at, ..
            } => {
                assert_eq!(score.value(), 9);
                assert_eq!(comment.as_ref().unwrap().as_str(), "Quick");
                assert_eq!(at.millis(), 1_763_900_004_000);
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[test]
    fn an_answer_without_a_survey_belongs_to_the_default_survey() {
        let json = request(&format!(
            r#"{{"type":"response","id":"{EVENT}","at":1,"score":9}}"#
        ));
        let parsed: CollectRequest = serde_json::from_str(&json).unwrap();
        let Event::Response {
            survey,
            language,
            device,
            ..
        } = &parsed.events.events()[0]
        else {
            panic!("not a response: {parsed:?}");
        };
        assert_eq!(survey.as_str(), "nps");
        assert_eq!((language, device), (&None, &None));
    }

    #[test]
    fn sessions_carry_their_source_and_answers_their_context() {
        let json = request(&format!(
            r#"{{"type":"touchpoint","id":"{EVENT}","at":1,"name":"page_view","url":"https://shop.example/",
                 "referrer":"https://news.example/story?utm=x","utm":{{"source":"newsletter","campaign":" spring "}}}},
               {{"type":"shown","id":"{EVENT}","at":2,"survey":"checkout"}},
               {{"type":"dismissal","id":"{EVENT}","at":3,"survey":"checkout"}},
               {{"type":"response","id":"{EVENT}","at":4,"score":3,"survey":"checkout","language":"fr-CA","device":"tablet"}}"#
        ));
        let parsed: CollectRequest = serde_json::from_str(&json).unwrap();
        let events = parsed.events.events();
        let Event::Touchpoint { referrer, utm, .. } = &events[0] else {
            panic!("not a touchpoint: {:?}", events[0]);
        };
        assert_eq!(
            referrer.as_ref().unwrap().as_str(),
            "https://news.example/story"
        );
        let utm = utm.as_ref().unwrap();
        assert_eq!(utm.source.as_ref().unwrap().as_str(), "newsletter");
        assert_eq!(utm.campaign.as_ref().unwrap().as_str(), "spring");
        assert_eq!(utm.medium, None);
        assert!(matches!(&events[1], Event::Shown { survey, .. } if survey.as_str() == "checkout"));
        assert!(
            matches!(&events[2], Event::Dismissal { survey, .. } if survey.as_str() == "checkout")
        );
        let Event::Response {
            language, device, ..
        } = &events[3]
        else {
            panic!("not a response: {:?}", events[3]);
        };
        assert_eq!(language.as_ref().unwrap().as_str(), "fr");
        assert_eq!(*device, Some(DeviceClass::Tablet));
    }

    #[test]
    fn bad_context_is_refused() {
        for event in [
            r#""type":"touchpoint","name":"page_view","url":"https://a.example/","referrer":"android-app://x""#,
            r#""type":"touchpoint","name":"page_view","url":"https://a.example/","utm":{"source":""}"#,
            r#""type":"touchpoint","name":"page_view","url":"https://a.example/","utm":{"gclid":"x"}"#,
            r#""type":"response","score":1,"survey":"Bad Survey""#,
            r#""type":"response","score":1,"device":"fridge""#,
            r#""type":"response","score":1,"language":"english""#,
            r#""type":"shown""#,
            r#""type":"dismissal","survey":"""#,
        ] {
            let json = request(&format!(r#"{{"id":"{EVENT}","at":1,{event}}}"#));
            assert!(
                serde_json::from_str::<CollectRequest>(&json).is_err(),
                "{event}"
            );
        }
    }

    #[test]
    fn blank_or_missing_comments_are_none() {
        for comment in [r#","comment":"   ""#, r#","comment":null"#, ""] {
            let json = request(&format!(
                r#"{{"type":"response","id":"{EVENT}","at":1,"score":0{comment}}}"#
            ));
            let parsed: CollectRequest = serde_json::from_str(&json).unwrap();
            assert!(matches!(
                &parsed.events.events()[0],
                Event::Response { comment: None, .. }
            ));
        }
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let cases = [
            (request(""), "a batch holds 1 to 100 events, not 0"),
            (
                request(&format!(
                    r#"{{"type":"response","id":"{EVENT}","at":1,"score":11}}"#
                )),
                "a score is a whole number from 0 to 10, not 11",
            ),
            (
                request(&format!(
                    r#"{{"type":"response","id":"{EVENT}","at":-5,"score":1}}"#
                )),
                "a timestamp is milliseconds",
            ),
            (
                request(&format!(r#"{{"type":"click","id":"{EVENT}","at":1}}"#)),
                "unknown variant `click`",
            ),
            (
                request(&format!(
                    r#"{{"type":"touchpoint","id":"{EVENT}","at":1,"name":"Bad Name","url":"https://a.example/"}}"#
                )),
                "a touchpoint name must start with a lower-case letter",
            ),
            (
                request(r#"{"type":"response","id":"not-a-uuid","at":1,"score":1}"#),
                "UUID",
            ),
            (
                format!(r#"{{"site":"de mo","visitor":"{VISITOR}","events":[]}}"#),
                "a site key may contain only",
            ),
        ];
        for (json, expected) in cases {
            let error = serde_json::from_str::<CollectRequest>(&json)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn a_batch_of_more_than_a_hundred_events_is_refused() {
        let event = format!(r#"{{"type":"response","id":"{EVENT}","at":1,"score":1}}"#);
        let hundred = vec![event.as_str(); 100].join(",");
        assert!(serde_json::from_str::<CollectRequest>(&request(&hundred)).is_ok());
        let hundred_and_one = vec![event.as_str(); 101].join(",");
        let error = serde_json::from_str::<CollectRequest>(&request(&hundred_and_one)).unwrap_err();
        assert!(error.to_string().contains("not 101"), "{error}");
    }

    #[test]
    fn timestamps_cover_1970_to_9999() {
        assert!(Timestamp::try_from(0).is_ok());
        assert!(Timestamp::try_from(Timestamp::MAX_MILLIS).is_ok());
        assert!(Timestamp::try_from(Timestamp::MAX_MILLIS + 1).is_err());
        assert!(Timestamp::try_from(-1).is_err());
    }

    fn events() -> impl Strategy<Value = Event> {
        let id = any::<u128>().prop_map(|n| EventId(Uuid::from_u128(n)));
        let at = (0..=Timestamp::MAX_MILLIS).prop_map(|ms| Timestamp::try_from(ms).unwrap());
        let survey = "[a-z][a-z0-9_]{0,10}".prop_map(|id| SurveyId::parse(&id).unwrap());
        let tag = proptest::option::of("[a-z][a-z -]{0,10}")
            .prop_map(|tag| tag.map(|tag| CampaignTag::parse(&tag).unwrap()));
        let touchpoint = (
            id.clone(),
            at.clone(),
            "[a-z][a-z0-9_]{0,20}",
            "[a-z/]{0,30}",
            proptest::option::of("[a-z/]{0,10}"),
            proptest::option::of((tag.clone(), tag.clone(), tag)),
        )
            .prop_map(|(id, at, name, path, referrer, utm)| Event::Touchpoint {
                id,
                at,
                name: TouchpointName::parse(&name).unwrap(),
                url: PageUrl::parse(&format!("https://shop.example/{path}")).unwrap(),
                referrer: referrer
                    .map(|path| PageUrl::parse(&format!("https://news.example/{path}")).unwrap()),
                utm: utm.map(|(source, medium, campaign)| Utm {
                    source,
                    medium,
                    campaign,
                    ..Utm::default()
                }),
            });
        let device = prop_oneof![
            Just(None),
            Just(Some(DeviceClass::Mobile)),
            Just(Some(DeviceClass::Desktop))
        ];
        let response = (
            id.clone(),
            at.clone(),
            0u8..=10,
            proptest::option::of("[^\0]{0,40}"),
            survey.clone(),
            proptest::option::of("[a-z]{2,3}"),
            device,
        )
            .prop_map(|(id, at, score, comment, survey, language, device)| {
                Event::Response {
                    id,
                    at,
                    score: Score::try_from(score).unwrap(),
                    comment: comment.and_then(|text| Comment::parse_optional(&text).unwrap()),
                    survey,
                    language: language.map(|code| Language::parse(&code).unwrap()),
                    device,
                }
            });
        let shown = (id.clone(), at.clone(), survey.clone())
            .prop_map(|(id, at, survey)| Event::Shown { id, at, survey });
        let dismissal =
            (id, at, survey).prop_map(|(id, at, survey)| Event::Dismissal { id, at, survey });
        prop_oneof![touchpoint, response, shown, dismissal]
    }

    proptest! {
        #[test]
        fn requests_round_trip_through_json(list in proptest::collection::vec(events(), 1..20), visitor in any::<u128>()) {
            let request = CollectRequest {
                site: SiteKey::parse("demo").unwrap(),
                visitor: VisitorId(Uuid::from_u128(visitor)),
                events: EventBatch::try_from(list).unwrap(),
            };
            let json = serde_json::to_string(&request).unwrap();
            prop_assert_eq!(serde_json::from_str::<CollectRequest>(&json).unwrap(), request);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = serde_json::from_slice::<CollectRequest>(&bytes);
        }
    }
}
