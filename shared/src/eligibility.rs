//! When to ask: whether a visitor should see a survey right now.
//!
//! The widget calls [`decide`] each time something happens (a page view, a touchpoint, a second
//! on the page, `touchstone('show')`); the collector calls the same function to explain a site's
//! survey configuration. A decision is never "maybe": it is [`Decision::Ask`] or
//! [`Decision::NotNow`] with the [`Reason`], so the widget can stay quiet and a person can be
//! told why.
//!
//! The rules, in the order they are checked:
//! 1. never twice in one session;
//! 2. not within the recontact period after an answer (default 90 days) or a dismissal
//!    (default 30 days) of *this* survey — each survey keeps its own clock;
//! 3. only the sampled share of visitors (drawn once per visitor, so a visitor is in or out for
//!    good, not re-drawn on every page);
//! 4. only on the targeted pages (none listed: every page);
//! 5. only once the trigger is met. `touchstone('show')` meets any trigger, but not rules 1–4:
//!    a site owner can choose the moment, not make Touchstone impolite.

use crate::text::{PageUrl, TouchpointName};
use crate::wire::{Timestamp, VisitorId};
use serde::{Deserialize, Serialize};

/// One day in milliseconds.
const DAY_MILLIS: i64 = 86_400_000;

/// What makes a survey appear, once the other rules allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// After the visitor has seen this many pages in the session (1: on the first page).
    PageViews {
        /// Pages seen, this one included.
        count: u32,
    },
    /// Once the visitor has reached this touchpoint in the session, e.g. `checkout_completed`.
    Touchpoint {
        /// The touchpoint.
        name: TouchpointName,
    },
    /// After this many seconds on one page.
    TimeOnPage {
        /// Seconds since the page (or the single-page app's view) was shown.
        seconds: u32,
    },
    /// Only when the page calls `touchstone('show')`.
    Manual,
}

/// A share of visitors, 0 to 100 percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Percent(u8);

/// Why a number is not a [`Percent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a percentage is a whole number from 0 to 100, not {0}")]
pub struct PercentError(pub u8);

impl Percent {
    /// Everyone.
    pub const ALL: Percent = Percent(100);

    /// The percentage.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Percent {
    type Error = PercentError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        if value <= 100 {
            Ok(Percent(value))
        } else {
            Err(PercentError(value))
        }
    }
}

impl From<Percent> for u8 {
    fn from(percent: Percent) -> u8 {
        percent.0
    }
}

/// A page pattern: `*` stands for any run of characters. A pattern starting with `/` is matched
/// against the page's path (`/pricing`, `/blog/*`), any other against the whole URL
/// (`https://shop.example/checkout/*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PagePattern(String);

impl PagePattern {
    /// A pattern as written.
    pub fn new(pattern: impl Into<String>) -> Self {
        PagePattern(pattern.into())
    }

    /// Whether the page at `url` matches.
    pub fn matches(&self, url: &PageUrl) -> bool {
        let url = url.as_str();
        let subject = if self.0.starts_with('/') {
            path_of(url)
        } else {
            url
        };
        glob_matches(self.0.as_bytes(), subject.as_bytes())
    }
}

/// The path of an `http(s)://host/path` URL, `/` when it has none.
///
/// Byte positions and `get` rather than a string pattern and slicing: this runs in the widget,
/// where a `&str` searcher and a slicing panic's message cost kilobytes of wasm.
fn path_of(url: &str) -> &str {
    let bytes = url.as_bytes();
    let host = bytes
        .windows(3)
        .position(|window| window == b"://")
        .map_or(0, |scheme_end| scheme_end + 3);
    bytes
        .iter()
        .skip(host)
        .position(|&byte| byte == b'/')
        .and_then(|slash| url.get(host + slash..))
        .unwrap_or("/")
}

/// Whether `text` matches `pattern`, where `*` matches any run of bytes (even none). Linear
/// backtracking: a `*` only ever resumes from the latest star, so hostile patterns stay cheap.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            resume = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = resume {
            p = star + 1;
            t = matched + 1;
            resume = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// How one survey picks its moment and its visitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// The share of visitors who may ever be asked.
    #[serde(default = "all_visitors")]
    pub sample: Percent,
    /// What makes the survey appear.
    pub trigger: Trigger,
    /// The pages it may appear on; none listed: every page.
    #[serde(default)]
    pub pages: Vec<PagePattern>,
    /// Days before a visitor who answered is asked again.
    #[serde(default = "default_days_after_answer")]
    pub recontact_days_after_answer: u16,
    /// Days before a visitor who dismissed the survey is asked again.
    #[serde(default = "default_days_after_dismissal")]
    pub recontact_days_after_dismissal: u16,
}

impl Targeting {
    /// Every visitor, on every page, once `trigger` happens, with the default recontact periods.
    pub fn new(trigger: Trigger) -> Self {
        Targeting {
            sample: Percent::ALL,
            trigger,
            pages: Vec::new(),
            recontact_days_after_answer: default_days_after_answer(),
            recontact_days_after_dismissal: default_days_after_dismissal(),
        }
    }
}

fn all_visitors() -> Percent {
    Percent::ALL
}

fn default_days_after_answer() -> u16 {
    90
}

fn default_days_after_dismissal() -> u16 {
    30
}

/// What the widget knows about this visitor and this survey at the moment of deciding.
#[derive(Debug, Clone, Copy)]
pub struct Moment<'a> {
    /// Now, by the browser's clock.
    pub now: Timestamp,
    /// The page the visitor is on.
    pub url: &'a PageUrl,
    /// The visitor, whose id decides once and for all whether they are in the sample.
    pub visitor: VisitorId,
    /// When the visitor last answered this survey.
    pub last_answered: Option<Timestamp>,
    /// When the visitor last dismissed this survey.
    pub last_dismissed: Option<Timestamp>,
    /// Whether any survey was shown in this session already.
    pub shown_this_session: bool,
    /// Pages seen in this session, this one included.
    pub page_views: u32,
    /// Touchpoints reached in this session.
    pub touchpoints: &'a [TouchpointName],
    /// Seconds on this page.
    pub seconds_on_page: u32,
    /// Whether the page called `touchstone('show')`.
    pub show_requested: bool,
}

/// Whether to show the survey now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Show it.
    Ask,
    /// Stay quiet, for this reason.
    NotNow(Reason),
}

/// Why a survey stays quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// A survey was already shown in this session.
    ShownThisSession,
    /// The visitor answered this survey recently.
    AnsweredRecently {
        /// From when they may be asked again.
        until: Timestamp,
    },
    /// The visitor dismissed this survey recently.
    DismissedRecently {
        /// From when they may be asked again.
        until: Timestamp,
    },
    /// The visitor is outside the survey's sample.
    NotSampled,
    /// This page is not one the survey targets.
    PageNotTargeted,
    /// The trigger has not happened yet.
    TriggerNotMet,
}

/// The visitor's place in every sample, 0 to 99, fixed by their random id: in a 10% sample are
/// the visitors whose draw is below 10, whichever page they are on.
pub fn sample_draw(visitor: VisitorId) -> u8 {
    // The last bytes of a version-4 UUID are random. The id modulo 100, from its two 64-bit
    // halves (2^64 ≡ 16 mod 100): a `u128` remainder would bring 128-bit division into the wasm.
    let (high, low) = visitor.0.as_u64_pair();
    ((high % 100 * 16 + low % 100) % 100) as u8
}

/// Decides whether `targeting` lets the survey appear at `moment`.
pub fn decide(targeting: &Targeting, moment: &Moment<'_>) -> Decision {
    match first_reason_not_to_ask(targeting, moment) {
        Some(reason) => Decision::NotNow(reason),
        None => Decision::Ask,
    }
}

fn first_reason_not_to_ask(targeting: &Targeting, moment: &Moment<'_>) -> Option<Reason> {
    if moment.shown_this_session {
        return Some(Reason::ShownThisSession);
    }
    if let Some(until) = still_resting(
        moment.last_answered,
        targeting.recontact_days_after_answer,
        moment.now,
    ) {
        return Some(Reason::AnsweredRecently { until });
    }
    if let Some(until) = still_resting(
        moment.last_dismissed,
        targeting.recontact_days_after_dismissal,
        moment.now,
    ) {
        return Some(Reason::DismissedRecently { until });
    }
    if sample_draw(moment.visitor) >= targeting.sample.value() {
        return Some(Reason::NotSampled);
    }
    if !targeting.pages.is_empty()
        && !targeting
            .pages
            .iter()
            .any(|pattern| pattern.matches(moment.url))
    {
        return Some(Reason::PageNotTargeted);
    }
    if !(moment.show_requested || trigger_met(&targeting.trigger, moment)) {
        return Some(Reason::TriggerNotMet);
    }
    None
}

/// The end of a recontact period that began at `since` and has not passed by `now`.
fn still_resting(since: Option<Timestamp>, days: u16, now: Timestamp) -> Option<Timestamp> {
    let until = since?.millis().saturating_add(i64::from(days) * DAY_MILLIS);
    (now.millis() < until).then(|| Timestamp::try_from(until).unwrap_or(now))
}

fn trigger_met(trigger: &Trigger, moment: &Moment<'_>) -> bool {
    match trigger {
        Trigger::PageViews { count } => moment.page_views >= *count,
        Trigger::Touchpoint { name } => moment.touchpoints.contains(name),
        Trigger::TimeOnPage { seconds } => moment.seconds_on_page >= *seconds,
        Trigger::Manual => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_763_900_000_000;

    /// A visitor whose sample draw is `draw`.
    fn visitor(draw: u8) -> VisitorId {
        VisitorId(uuid::Uuid::from_u128(u128::from(draw) + 100 * 12_345))
    }

    fn at(millis: i64) -> Timestamp {
        Timestamp::try_from(millis).unwrap()
    }

    fn on_page_views(count: u32) -> Targeting {
        Targeting {
            sample: Percent::ALL,
            trigger: Trigger::PageViews { count },
            pages: Vec::new(),
            recontact_days_after_answer: 90,
            recontact_days_after_dismissal: 30,
        }
    }

    fn moment(url: &PageUrl) -> Moment<'_> {
        Moment {
            now: at(NOW),
            url,
            visitor: visitor(0),
            last_answered: None,
            last_dismissed: None,
            shown_this_session: false,
            page_views: 1,
            touchpoints: &[],
            seconds_on_page: 0,
            show_requested: false,
        }
    }

    fn page(url: &str) -> PageUrl {
        PageUrl::parse(url).unwrap()
    }

    #[test]
    fn the_table_of_rules() {
        let url = page("https://shop.example/pricing");
        let support = [TouchpointName::parse("support_contact").unwrap()];
        let ask = Decision::Ask;
        let not_now = Decision::NotNow;
        let cases: Vec<(&str, Targeting, Moment<'_>, Decision)> = vec![
            (
                "the first page, trigger 1",
                on_page_views(1),
                moment(&url),
                ask,
            ),
            (
                "one page short",
                on_page_views(3),
                Moment {
                    page_views: 2,
                    ..moment(&url)
                },
                not_now(Reason::TriggerNotMet),
            ),
            (
                "third page of three",
                on_page_views(3),
                Moment {
                    page_views: 3,
                    ..moment(&url)
                },
                ask,
            ),
            (
                "shown this session",
                on_page_views(1),
                Moment {
                    shown_this_session: true,
                    show_requested: true,
                    ..moment(&url)
                },
                not_now(Reason::ShownThisSession),
            ),
            (
                "answered 89 days ago",
                on_page_views(1),
                Moment {
                    last_answered: Some(at(NOW - 89 * DAY_MILLIS)),
                    ..moment(&url)
                },
                not_now(Reason::AnsweredRecently {
                    until: at(NOW + DAY_MILLIS),
                }),
            ),
            (
                "answered 90 days ago",
                on_page_views(1),
                Moment {
                    last_answered: Some(at(NOW - 90 * DAY_MILLIS)),
                    ..moment(&url)
                },
                ask,
            ),
            (
                "dismissed 29 days ago",
                on_page_views(1),
                Moment {
                    last_dismissed: Some(at(NOW - 29 * DAY_MILLIS)),
                    ..moment(&url)
                },
                not_now(Reason::DismissedRecently {
                    until: at(NOW + DAY_MILLIS),
                }),
            ),
            (
                "dismissed 30 days ago",
                on_page_views(1),
                Moment {
                    last_dismissed: Some(at(NOW - 30 * DAY_MILLIS)),
                    ..moment(&url)
                },
                ask,
            ),
            (
                "outside a 10% sample",
                Targeting {
                    sample: Percent::try_from(10).unwrap(),
                    ..on_page_views(1)
                },
                Moment {
                    visitor: visitor(10),
                    ..moment(&url)
                },
                not_now(Reason::NotSampled),
            ),
            (
                "inside a 10% sample",
                Targeting {
                    sample: Percent::try_from(10).unwrap(),
                    ..on_page_views(1)
                },
                Moment {
                    visitor: visitor(9),
                    ..moment(&url)
                },
                ask,
            ),
            (
                "a page not targeted",
                Targeting {
                    pages: vec![PagePattern::new("/checkout/*")],
                    ..on_page_views(1)
                },
                moment(&url),
                not_now(Reason::PageNotTargeted),
            ),
            (
                "a targeted page",
                Targeting {
                    pages: vec![PagePattern::new("/checkout/*"), PagePattern::new("/pri*")],
                    ..on_page_views(1)
                },
                moment(&url),
                ask,
            ),
            (
                "after a touchpoint not yet reached",
                Targeting {
                    trigger: Trigger::Touchpoint {
                        name: support[0].clone(),
                    },
                    ..on_page_views(1)
                },
                moment(&url),
                not_now(Reason::TriggerNotMet),
            ),
            (
                "after a touchpoint reached",
                Targeting {
                    trigger: Trigger::Touchpoint {
                        name: support[0].clone(),
                    },
                    ..on_page_views(1)
                },
                Moment {
                    touchpoints: &support,
                    ..moment(&url)
                },
                ask,
            ),
            (
                "after 20 s on the page, at 19 s",
                Targeting {
                    trigger: Trigger::TimeOnPage { seconds: 20 },
                    ..on_page_views(1)
                },
                Moment {
                    seconds_on_page: 19,
                    ..moment(&url)
                },
                not_now(Reason::TriggerNotMet),
            ),
            (
                "manual, not requested",
                Targeting {
                    trigger: Trigger::Manual,
                    ..on_page_views(1)
                },
                moment(&url),
                not_now(Reason::TriggerNotMet),
            ),
            (
                "manual, requested",
                Targeting {
                    trigger: Trigger::Manual,
                    ..on_page_views(1)
                },
                Moment {
                    show_requested: true,
                    ..moment(&url)
                },
                ask,
            ),
            (
                "show requested does not override the recontact period",
                on_page_views(5),
                Moment {
                    show_requested: true,
                    last_answered: Some(at(NOW - DAY_MILLIS)),
                    ..moment(&url)
                },
                not_now(Reason::AnsweredRecently {
                    until: at(NOW + 89 * DAY_MILLIS),
                }),
            ),
        ];
        for (name, targeting, moment, expected) in cases {
            assert_eq!(decide(&targeting, &moment), expected, "{name}");
        }
    }

    #[test]
    fn patterns_match_paths_or_whole_urls() {
        let url = page("https://shop.example/blog/2026/launch");
        for (pattern, expected) in [
            ("/blog/*", true),
            ("/blog", false),
            ("/*/launch", true),
            ("*", true),
            ("https://shop.example/blog/*", true),
            ("https://other.example/*", false),
            ("/blog/*/launch", true),
            ("/b*g/*h", true),
        ] {
            assert_eq!(
                PagePattern::new(pattern).matches(&url),
                expected,
                "{pattern}"
            );
        }
        assert!(PagePattern::new("/").matches(&page("https://shop.example")));
    }

    #[test]
    fn a_targeting_reads_from_json_with_defaults() {
        let targeting: Targeting =
            serde_json::from_str(r#"{"trigger": {"type": "page_views", "count": 2}}"#).unwrap();
        assert_eq!(targeting, on_page_views(2));
        for bad in [
            r#"{"trigger": {"type": "page_views", "count": 2}, "sample": 101}"#,
            r#"{"trigger": {"type": "touchpoint", "name": "Bad Name"}}"#,
            r#"{"trigger": {"type": "sometimes"}}"#,
            r#"{"trigger": {"type": "manual"}, "colour": "red"}"#,
        ] {
            assert!(serde_json::from_str::<Targeting>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_path_of_a_url_is_what_follows_its_host() {
        assert_eq!(path_of("https://shop.example/cart/items"), "/cart/items");
        assert_eq!(path_of("http://shop.example"), "/");
        assert_eq!(path_of("https://shop.example/"), "/");
        assert_eq!(path_of("https://shop.example:8443/a://b"), "/a://b");
        assert_eq!(path_of("https://é.example/ü"), "/ü");
    }

    fn any_moment() -> impl Strategy<Value = (u32, u32, bool, bool, u128, Option<i64>, Option<i64>)>
    {
        (
            0..10u32,
            0..120u32,
            any::<bool>(),
            any::<bool>(),
            any::<u128>(),
            proptest::option::of(0..200 * DAY_MILLIS),
            proptest::option::of(0..200 * DAY_MILLIS),
        )
    }

    proptest! {
        #[test]
        fn an_ask_respects_every_rule(
            (page_views, seconds, shown, requested, id, answered_ago, dismissed_ago) in any_moment(),
            sample in 0..=100u8,
            needed in 0..10u32,
        ) {
            let url = page("https://shop.example/");
            let targeting = Targeting {
                sample: Percent::try_from(sample).unwrap(),
                ..on_page_views(needed)
            };
            let moment = Moment {
                visitor: VisitorId(uuid::Uuid::from_u128(id)),
                page_views,
                seconds_on_page: seconds,
                shown_this_session: shown,
                show_requested: requested,
                last_answered: answered_ago.map(|ago| at(NOW - ago)),
                last_dismissed: dismissed_ago.map(|ago| at(NOW - ago)),
                ..moment(&url)
            };
            if decide(&targeting, &moment) == Decision::Ask {
                prop_assert!(!shown);
                prop_assert!(answered_ago.is_none_or(|ago| ago >= 90 * DAY_MILLIS));
                prop_assert!(dismissed_ago.is_none_or(|ago| ago >= 30 * DAY_MILLIS));
                prop_assert!(sample_draw(moment.visitor) < sample);
                prop_assert!(requested || page_views >= needed);
            }
            // More pages never take an ask back.
            if decide(&targeting, &moment) == Decision::Ask {
                let later = Moment { page_views: page_views + 1, ..moment };
                prop_assert_eq!(decide(&targeting, &later), Decision::Ask);
            }
        }

        #[test]
        fn a_sample_holds_its_share_of_visitors(sample in 0..=100u8) {
            let percent = Percent::try_from(sample).unwrap();
            let inside = (0..10_000u128)
                .filter(|id| sample_draw(VisitorId(uuid::Uuid::from_u128(id * 7_919))) < percent.value())
                .count();
            prop_assert_eq!(inside, usize::from(sample) * 100);
        }

        #[test]
        fn the_draw_is_the_id_modulo_one_hundred(id in any::<u128>()) {
            prop_assert_eq!(u128::from(sample_draw(VisitorId(uuid::Uuid::from_u128(id)))), id % 100);
        }

        #[test]
        fn a_star_pattern_matches_everything_and_a_literal_only_itself(path in "/[a-z/]{0,20}") {
            let url = page(&format!("https://shop.example{path}"));
            prop_assert!(PagePattern::new("*").matches(&url));
            let prefix = PagePattern::new(format!("{path}*"));
            prop_assert!(prefix.matches(&url));
            prop_assert!(glob_matches(path.as_bytes(), path.as_bytes()));
            let longer = format!("{path}x");
            prop_assert!(!glob_matches(longer.as_bytes(), path.as_bytes()));
        }
    }
}
