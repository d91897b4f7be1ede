//! The events' JSON, written by hand: byte for byte what `serde_json` makes of the wire types'
//! own `Serialize` impls (the unit tests compare the two on every kind of event and on
//! arbitrary text), without serde's serializer in the wasm.
//!
//! `touchstone-shared` stays the one definition of the format: the tests fail the moment a
//! field is added to [`Event`] or renamed there and not here. Measured with
//! `cargo xtask build-widget`, `serde_json::to_string` for the events cost about 6 KB of raw
//! wasm (its serializer, the derived impls, and a copy of every text field made by
//! `#[serde(into = "String")]`); this writer is a few hundred bytes.

use crate::session::push_int;
#[cfg(doc)]
use touchstone_shared::wire::Traits;
use touchstone_shared::wire::{Event, EventId, Timestamp, Utm};
use touchstone_shared::{CustomerId, TraitName, TraitValue};

/// `event` as the JSON object the collector reads.
pub fn event(event: &Event) -> String {
    let mut json = Json(String::with_capacity(160));
    match event {
        Event::Touchpoint {
            id,
            at,
            name,
            url,
            referrer,
            utm,
        } => {
            json.head("touchpoint", *id, *at);
            json.text("name", name.as_str());
            json.text("url", url.as_str());
            if let Some(referrer) = referrer {
                json.text("referrer", referrer.as_str());
            }
            if let Some(utm) = utm {
                json.utm(utm);
            }
        }
        Event::Response {
            id,
            at,
            score,
            comment,
            survey,
            language,
            device,
        } => {
            json.head("response", *id, *at);
            json.key("score");
            push_int(&mut json.0, i64::from(score.value()));
            if let Some(comment) = comment {
                json.text("comment", comment.as_str());
            }
            json.text("survey", survey.as_str());
            if let Some(language) = language {
                json.text("language", language.as_str());
            }
            if let Some(device) = device {
                json.text("device", device.as_str());
            }
        }
        Event::Shown { id, at, survey } => {
            json.head("shown", *id, *at);
            json.text("survey", survey.as_str());
        }
        Event::Dismissal { id, at, survey } => {
            json.head("dismissal", *id, *at);
            json.text("survey", survey.as_str());
        }
        Event::Identify {
            id,
            at,
            customer,
            traits,
        } => {
            json.identify(*id, *at, customer, traits.iter());
        }
    }
    json.0.push('}');
    json.0
}

/// An `identify` event's JSON from its traits as a list (at most [`Traits::MAX_ENTRIES`], each
/// name once), the same object [`event`] writes for [`Event::Identify`] up to the order of the
/// traits: the widget reads them from a JavaScript object, whose keys are unique, and need not
/// build the map `Traits` holds (a B-tree's insertion code in the wasm for this alone).
pub fn identify(
    id: EventId,
    at: Timestamp,
    customer: &CustomerId,
    traits: &[(TraitName, TraitValue)],
) -> String {
    let mut json = Json(String::with_capacity(160));
    json.identify(
        id,
        at,
        customer,
        traits.iter().map(|(name, value)| (name, value)),
    );
    json.0.push('}');
    json.0
}

/// An object being written: `{` and its fields so far.
struct Json(String);

impl Json {
    /// The fields of an `identify` event; `traits` is left out when there are none.
    fn identify<'a>(
        &mut self,
        id: EventId,
        at: Timestamp,
        customer: &CustomerId,
        traits: impl Iterator<Item = (&'a TraitName, &'a TraitValue)>,
    ) {
        self.head("identify", id, at);
        self.text("customer", customer.as_str());
        let mut first = true;
        for (name, value) in traits {
            if first {
                self.key("traits");
            }
            self.0.push(if first { '{' } else { ',' });
            first = false;
            self.string(name.as_str());
            self.0.push(':');
            self.string(value.as_str());
        }
        if !first {
            self.0.push('}');
        }
    }

    /// Opens the object with the fields every event has.
    fn head(&mut self, kind: &str, id: EventId, at: Timestamp) {
        self.0.push_str("{\"type\":\"");
        self.0.push_str(kind);
        self.0.push_str("\",\"id\":\"");
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.0.push_str(id.0.hyphenated().encode_lower(&mut text));
        self.0.push_str("\",\"at\":");
        push_int(&mut self.0, at.millis());
    }

    /// `,"key":` (every field follows the head).
    fn key(&mut self, key: &str) {
        self.0.push_str(",\"");
        self.0.push_str(key);
        self.0.push_str("\":");
    }

    /// `,"key":"text"`.
    fn text(&mut self, key: &str, text: &str) {
        self.key(key);
        self.string(text);
    }

    /// The campaign tags that are present, as a nested object.
    fn utm(&mut self, utm: &Utm) {
        self.key("utm");
        let mut first = true;
        for (key, tag) in [
            ("source", &utm.source),
            ("medium", &utm.medium),
            ("campaign", &utm.campaign),
            ("term", &utm.term),
            ("content", &utm.content),
        ] {
            if let Some(tag) = tag {
                self.0.push_str(if first { "{\"" } else { ",\"" });
                first = false;
                self.0.push_str(key);
                self.0.push_str("\":");
                self.string(tag.as_str());
            }
        }
        self.0.push_str(if first { "{}" } else { "}" });
    }

    /// `text` as a JSON string, escaped as `serde_json` escapes: quote, backslash and the
    /// control characters below U+0020 (with the short forms JSON has for five of them).
    fn string(&mut self, text: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.push('"');
        for c in text.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                '\0'..='\u{1f}' => {
                    let byte = c as usize;
                    self.0.push_str("\\u00");
                    self.0.push(char::from(HEX[byte >> 4]));
                    self.0.push(char::from(HEX[byte & 15]));
                }
                _ => self.0.push(c),
            }
        }
        self.0.push('"');
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use touchstone_shared::wire::{DeviceClass, Traits};
    use touchstone_shared::{
        CampaignTag, Comment, Language, PageUrl, Score, SurveyId, TouchpointName,
    };
    use uuid::Uuid;

    const ID: EventId = EventId(Uuid::from_u128(0x0b7c5a3e_8f3e_4c1e_9d7a_1f2e3d4c5b6a));

    fn at() -> Timestamp {
        Timestamp::try_from(1_763_900_000_123).unwrap()
    }

    fn tag(text: &str) -> Option<CampaignTag> {
        Some(CampaignTag::parse(text).unwrap())
    }

    fn response(comment: Option<&str>, full: bool) -> Event {
        Event::Response {
            id: ID,
            at: at(),
            score: Score::try_from(9).unwrap(),
            comment: comment.map(|text| Comment::parse(text).unwrap()),
            survey: SurveyId::parse("checkout").unwrap(),
            language: full.then(|| Language::parse("fr").unwrap()),
            device: full.then_some(DeviceClass::Tablet),
        }
    }

    fn every_kind_of_event() -> Vec<Event> {
        let url = PageUrl::parse("https://shop.example/caf\u{e9}/cart").unwrap();
        let traits = BTreeMap::from([
            (
                TraitName::parse("plan").unwrap(),
                TraitValue::parse("pro \"max\"").unwrap(),
            ),
            (
                TraitName::parse("account").unwrap(),
                TraitValue::parse("acme\\eu").unwrap(),
            ),
        ]);
        vec![
            Event::Touchpoint {
                id: ID,
                at: at(),
                name: TouchpointName::page_view(),
                url: url.clone(),
                referrer: None,
                utm: None,
            },
            Event::Touchpoint {
                id: ID,
                at: at(),
                name: TouchpointName::parse("pricing_viewed").unwrap(),
                url: url.clone(),
                referrer: Some(PageUrl::parse("https://news.example/story").unwrap()),
                utm: Some(Utm {
                    source: tag("news letter"),
                    campaign: tag("spring \"sale\""),
                    content: tag("été"),
                    ..Utm::default()
                }),
            },
            Event::Touchpoint {
                id: ID,
                at: at(),
                name: TouchpointName::page_view(),
                url,
                referrer: None,
                utm: Some(Utm {
                    medium: tag("email"),
                    term: tag("t"),
                    ..Utm::default()
                }),
            },
            response(None, false),
            response(
                Some("Great <b>shop</b>\n\t\"quick\" \\ \u{1}\u{1f}\u{7f} 🎉"),
                true,
            ),
            Event::Shown {
                id: ID,
                at: at(),
                survey: SurveyId::default(),
            },
            Event::Dismissal {
                id: ID,
                at: at(),
                survey: SurveyId::default(),
            },
            Event::Identify {
                id: ID,
                at: at(),
                customer: CustomerId::parse("cus_42").unwrap(),
                traits: Traits::default(),
            },
            Event::Identify {
                id: ID,
                at: at(),
                customer: CustomerId::parse("cus_\"42\"").unwrap(),
                traits: Traits::try_from(traits).unwrap(),
            },
        ]
    }

    #[test]
    fn every_kind_of_event_is_written_as_serde_json_writes_it() {
        for written in every_kind_of_event() {
            assert_eq!(event(&written), serde_json::to_string(&written).unwrap());
        }
    }

    #[test]
    fn an_identify_from_a_list_of_traits_is_the_identify_event() {
        let customer = CustomerId::parse("cus_\"42\"").unwrap();
        let pairs = vec![
            (
                TraitName::parse("plan").unwrap(),
                TraitValue::parse("pro \"max\"").unwrap(),
            ),
            (
                TraitName::parse("account").unwrap(),
                TraitValue::parse("acme\\eu").unwrap(),
            ),
        ];
        let as_event = Event::Identify {
            id: ID,
            at: at(),
            customer: customer.clone(),
            traits: Traits::try_from(pairs.iter().cloned().collect::<BTreeMap<_, _>>()).unwrap(),
        };
        let written = identify(ID, at(), &customer, &pairs);
        let read: Event = serde_json::from_str(&written).unwrap();
        assert_eq!(read, as_event);
        let mut sorted = pairs.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            identify(ID, at(), &customer, &sorted),
            serde_json::to_string(&as_event).unwrap(),
            "in the map's order, byte for byte"
        );
        let bare = identify(ID, at(), &customer, &[]);
        assert_eq!(
            bare,
            serde_json::to_string(&Event::Identify {
                id: ID,
                at: at(),
                customer,
                traits: Traits::default(),
            })
            .unwrap()
        );
    }

    #[test]
    fn what_is_written_reads_back_as_the_same_event() {
        for written in every_kind_of_event() {
            let read: Event = serde_json::from_str(&event(&written)).unwrap();
            assert_eq!(read, written);
        }
    }

    proptest! {
        #[test]
        fn any_comment_is_escaped_as_serde_json_escapes_it(text in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            if let Ok(comment) = Comment::parse(&text) {
                let written = Event::Response {
                    id: ID,
                    at: at(),
                    score: Score::try_from(0).unwrap(),
                    comment: Some(comment),
                    survey: SurveyId::default(),
                    language: None,
                    device: None,
                };
                prop_assert_eq!(event(&written), serde_json::to_string(&written).unwrap());
            }
        }
    }
}
