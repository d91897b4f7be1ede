//! The visitor's session and survey history, as the widget keeps them in `localStorage`.
//!
//! A session is a run of activity with no gap longer than [`SESSION_GAP_MILLIS`] (30 minutes),
//! shared by every tab of the site (one storage key), so a visitor who opens a second tab is
//! still in the same session: the second tab counts its pages and does not ask again. The
//! first touchpoint of a session carries the referrer and the landing page's UTM parameters.
//!
//! Everything here is pure (no browser), so the window and the text formats are tested
//! natively. The formats are small line-based texts rather than JSON: they are read on every
//! page and need no JSON parser in the wasm. A value that does not read back is treated as
//! absent (a new session, no history), never as an error: the worst a garbled value can do is
//! make the widget ask a little early.

use touchstone_shared::wire::{Timestamp, Utm};
use touchstone_shared::{CampaignTag, SurveyId, TouchpointName};

/// Inactivity after which the next page starts a new session.
pub const SESSION_GAP_MILLIS: i64 = 30 * 60 * 1000;

/// Distinct touchpoints remembered per session (enough for any trigger; bounds the storage).
pub const MAX_SESSION_TOUCHPOINTS: usize = 64;

/// One session of one visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// When the session's last activity happened.
    pub last_active: i64,
    /// Pages seen in the session.
    pub page_views: u32,
    /// Whether a survey has been shown in the session (never twice).
    pub shown: bool,
    /// Named touchpoints reached in the session, each once.
    pub touchpoints: Vec<TouchpointName>,
}

impl Session {
    /// A session that starts at `now`.
    pub fn new(now: i64) -> Self {
        Session {
            last_active: now,
            page_views: 0,
            shown: false,
            touchpoints: Vec::new(),
        }
    }

    /// Continues `kept` if it was active within the window before `now`, or starts a new one.
    /// The flag says whether the session is new (its first touchpoint carries the referrer).
    pub fn resume(kept: Option<Session>, now: i64) -> (Session, bool) {
        match kept {
            Some(mut session)
                if now >= session.last_active
                    && now - session.last_active <= SESSION_GAP_MILLIS =>
            {
                session.last_active = now;
                (session, false)
            }
            // A clock that went backwards also starts afresh: the gap cannot be known.
            _ => (Session::new(now), true),
        }
    }

    /// Remembers that `name` was reached (page views are counted, not listed).
    pub fn reached(&mut self, name: &TouchpointName) {
        if name.as_str() == TouchpointName::PAGE_VIEW {
            self.page_views = self.page_views.saturating_add(1);
        } else if !self.touchpoints.contains(name)
            && self.touchpoints.len() < MAX_SESSION_TOUCHPOINTS
        {
            self.touchpoints.push(name.clone());
        }
    }

    /// The stored form: `last_active page_views shown name,name,…`.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        push_int(&mut text, self.last_active);
        text.push(' ');
        push_int(&mut text, i64::from(self.page_views));
        text.push_str(if self.shown { " 1 " } else { " 0 " });
        for (index, name) in self.touchpoints.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(name.as_str());
        }
        text
    }

    /// Reads [`Session::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Session> {
        let mut parts = text.splitn(4, ' ');
        let last_active = parse_int(parts.next()?)?;
        let page_views = u32::try_from(parse_int(parts.next()?)?).ok()?;
        let shown = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let touchpoints = parts
            .next()?
            .split(',')
            .filter(|name| !name.is_empty())
            .filter_map(|name| TouchpointName::parse(name).ok())
            .take(MAX_SESSION_TOUCHPOINTS)
            .collect();
        Some(Session {
            last_active,
            page_views,
            shown,
            touchpoints,
        })
    }
}

/// When the visitor last answered or dismissed each survey: the recontact clocks, kept per
/// survey so a new survey is not silenced by an answer to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    entries: Vec<(SurveyId, Option<Timestamp>, Option<Timestamp>)>,
}

impl History {
    /// The most surveys remembered (a site runs at most 20; old ids fall off first).
    pub const MAX_SURVEYS: usize = 32;

    /// When `survey` was last answered and dismissed.
    pub fn of(&self, survey: &SurveyId) -> (Option<Timestamp>, Option<Timestamp>) {
        self.entries
            .iter()
            .find(|(id, _, _)| id == survey)
            .map_or((None, None), |(_, answered, dismissed)| {
                (*answered, *dismissed)
            })
    }

    /// Records an answer to `survey` at `at`.
    pub fn answered(&mut self, survey: &SurveyId, at: Timestamp) {
        self.entry(survey).1 = Some(at);
    }

    /// Records a dismissal of `survey` at `at`.
    pub fn dismissed(&mut self, survey: &SurveyId, at: Timestamp) {
        self.entry(survey).2 = Some(at);
    }

    fn entry(
        &mut self,
        survey: &SurveyId,
    ) -> &mut (SurveyId, Option<Timestamp>, Option<Timestamp>) {
        let index = match self.entries.iter().position(|(id, _, _)| id == survey) {
            Some(index) => index,
            None => {
                if self.entries.len() >= Self::MAX_SURVEYS {
                    self.entries.remove(0);
                }
                self.entries.push((survey.clone(), None, None));
                self.entries.len() - 1
            }
        };
        &mut self.entries[index]
    }

    /// The stored form: one `survey answered dismissed` line per survey, `-` for never.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        for (survey, answered, dismissed) in &self.entries {
            text.push_str(survey.as_str());
            for at in [answered, dismissed] {
                text.push(' ');
                match at {
                    Some(at) => push_int(&mut text, at.millis()),
                    None => text.push('-'),
                }
            }
            text.push('\n');
        }
        text
    }

    /// Reads [`History::encode`]'s form, skipping lines that do not read.
    pub fn decode(text: &str) -> History {
        let time = |part: &str| match part {
            "-" => Some(None),
            millis => Some(Some(Timestamp::try_from(parse_int(millis)?).ok()?)),
        };
        let entries = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                let survey = SurveyId::parse(parts.next()?).ok()?;
                let answered = time(parts.next()?)?;
                let dismissed = time(parts.next()?)?;
                Some((survey, answered, dismissed))
            })
            .take(Self::MAX_SURVEYS)
            .collect();
        History { entries }
    }
}

/// The `utm_*` parameters of a URL's query, percent-decoded; `None` when it has none that read.
pub fn utm_of(href: &str) -> Option<Utm> {
    let query = href.split('#').next()?.split_once('?')?.1;
    let mut utm = Utm::default();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "utm_source" => &mut utm.source,
            "utm_medium" => &mut utm.medium,
            "utm_campaign" => &mut utm.campaign,
            "utm_term" => &mut utm.term,
            "utm_content" => &mut utm.content,
            _ => continue,
        };
        if slot.is_none() {
            *slot = CampaignTag::parse(&percent_decode(value)).ok();
        }
    }
    (!utm.is_empty()).then_some(utm)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; bad escapes stay
/// as written. Text that is not UTF-8 once decoded reads as empty, so its tag is left out
/// (rather than repaired with U+FFFD, whose code the wasm would carry for this alone).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match byte {
            b'+' => out.push(b' '),
            b'%' => match (hex(index + 1), hex(index + 2)) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    index += 2;
                }
                _ => out.push(byte),
            },
            _ => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A decimal integer: an optional `-`, then one or more ASCII digits, in range. One small
/// function for every integer the widget reads back, instead of `str::parse`'s code per type.
pub fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value = 0i64;
    for byte in digits.bytes() {
        let digit = char::from(byte).to_digit(10)?;
        value = value.checked_mul(10)?.checked_add(i64::from(digit))?;
    }
    Some(if negative { -value } else { value })
}

/// Appends `number` in decimal, without `core::fmt` (which would grow the wasm).
pub fn push_int(text: &mut String, number: i64) {
    if number < 0 {
        text.push('-');
    }
    let mut digits = [0u8; 20];
    let mut rest = number.unsigned_abs();
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for digit in &digits[start..] {
        text.push(char::from(*digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_763_900_000_000;

    fn name(text: &str) -> TouchpointName {
        TouchpointName::parse(text).unwrap()
    }

    #[test]
    fn a_session_continues_within_thirty_minutes_and_starts_afresh_after() {
        let (mut session, new) = Session::resume(None, T);
        assert!(new);
        session.reached(&TouchpointName::page_view());
        session.reached(&name("pricing_viewed"));
        session.shown = true;

        let (kept, new) = Session::resume(Some(session.clone()), T + SESSION_GAP_MILLIS);
        assert!(!new);
        assert_eq!(kept.page_views, 1);
        assert!(kept.shown);
        assert_eq!(kept.last_active, T + SESSION_GAP_MILLIS);

        let (fresh, new) = Session::resume(Some(session.clone()), T + SESSION_GAP_MILLIS + 1);
        assert!(new);
        assert_eq!(fresh, Session::new(T + SESSION_GAP_MILLIS + 1));

        let (backwards, new) = Session::resume(Some(session), T - 1);
        assert!(new, "a clock that went back cannot tell the gap");
        assert_eq!(backwards.page_views, 0);
    }

    #[test]
    fn touchpoints_are_listed_once_and_page_views_counted() {
        let mut session = Session::new(T);
        for _ in 0..3 {
            session.reached(&TouchpointName::page_view());
            session.reached(&name("support_contact"));
        }
        assert_eq!(session.page_views, 3);
        assert_eq!(session.touchpoints, [name("support_contact")]);
        for index in 0..100 {
            session.reached(&name(&["t", &index.to_string()].concat()));
        }
        assert_eq!(session.touchpoints.len(), MAX_SESSION_TOUCHPOINTS);
    }

    #[test]
    fn a_session_reads_back_and_garbage_reads_as_none() {
        let mut session = Session::new(T);
        session.reached(&TouchpointName::page_view());
        session.reached(&name("a"));
        session.reached(&name("checkout_completed"));
        session.shown = true;
        assert_eq!(Session::decode(&session.encode()), Some(session));
        let empty = Session::new(T);
        assert_eq!(Session::decode(&empty.encode()), Some(empty));
        for bad in ["", "x 1 0 ", "1 2 3 ", "1 2", "1 -2 0 "] {
            assert_eq!(Session::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recontact_clocks_are_per_survey_and_read_back() {
        let nps = SurveyId::default();
        let checkout = SurveyId::parse("checkout").unwrap();
        let mut history = History::default();
        history.answered(&nps, Timestamp::try_from(T).unwrap());
        history.dismissed(&checkout, Timestamp::try_from(T + 5).unwrap());
        history.dismissed(&nps, Timestamp::try_from(T + 9).unwrap());
        assert_eq!(
            history.of(&nps),
            (
                Some(Timestamp::try_from(T).unwrap()),
                Some(Timestamp::try_from(T + 9).unwrap())
            )
        );
        assert_eq!(history.of(&checkout).0, None);
        assert_eq!(History::decode(&history.encode()), history);
        assert_eq!(History::decode("nps x -\n\n"), History::default());
    }

    #[test]
    fn utm_parameters_come_from_the_query_decoded() {
        let utm = utm_of(
            "https://shop.example/?utm_source=news+letter&x=1&utm_campaign=spring%20sale&utm_medium=&utm_source=other#utm_term=no",
        )
        .unwrap();
        assert_eq!(utm.source.unwrap().as_str(), "news letter");
        assert_eq!(utm.campaign.unwrap().as_str(), "spring sale");
        assert_eq!(utm.medium, None, "an empty value is not a tag");
        assert_eq!(utm.term, None, "the fragment is not the query");
        assert_eq!(utm_of("https://shop.example/?q=1"), None);
        assert_eq!(utm_of("https://shop.example/"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9t%C3%A9"), "été");
        assert_eq!(percent_decode("%C3"), "", "not UTF-8 once decoded");
        assert_eq!(
            utm_of("https://shop.example/?utm_source=%FF&utm_medium=cpc")
                .map(|utm| (utm.source, utm.medium.unwrap().as_str().to_owned())),
            Some((None, "cpc".to_owned()))
        );
    }

    #[test]
    fn integers_are_read_as_str_parse_reads_them() {
        for number in [0, 7, 10, -3, 42_000, i64::MAX, i64::MIN + 1, T] {
            assert_eq!(parse_int(&number.to_string()), Some(number));
        }
        for bad in [
            "",
            "-",
            "+1",
            "1.5",
            " 1",
            "1 ",
            "x",
            "9223372036854775808",
            "٣",
        ] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for number in [0, 7, 10, -3, i64::MAX, i64::MIN, T] {
            let mut text = String::new();
            push_int(&mut text, number);
            assert_eq!(text, number.to_string());
        }
    }
}
