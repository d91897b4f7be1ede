//! Strings that carry a rule: site keys, touchpoint, trait and survey names, page URLs,
//! comments, customer ids, campaign tags, languages and the texts owners give their surveys.
//!
//! Each type can only be made by parsing, so anything holding one has already passed the rule.
//! All of them refuse the NUL character, which PostgreSQL cannot store in text.

use serde::{Deserialize, Serialize};

/// Why a string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but white space, or nothing at all.
    #[error("{what} is empty")]
    Empty {
        /// What was being parsed, e.g. "a touchpoint name".
        what: &'static str,
    },
    /// Longer than the limit, counted in characters.
    #[error("{what} is longer than {max} characters")]
    TooLong {
        /// What was being parsed.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// Breaks the type's rule about which characters may appear where.
    #[error("{what} {rule}")]
    Invalid {
        /// What was being parsed.
        what: &'static str,
        /// The rule, phrased to follow `what`.
        rule: &'static str,
    },
}

/// Defines the conversions every rule-carrying string shares; `parse` holds the rule itself.
macro_rules! text_type {
    ($name:ident) => {
        impl $name {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The public key of a site, as written in the script tag's `data-site`.
///
/// 1 to 64 characters of `A–Z`, `a–z`, `0–9`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteKey(String);
text_type!(SiteKey);

impl SiteKey {
    /// The longest site key, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Checks `text` against the site key rule.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        const WHAT: &str = "a site key";
        check_length(WHAT, text, Self::MAX_CHARS)?;
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(TextError::Invalid {
                what: WHAT,
                rule: "may contain only letters, digits, '_' and '-'",
            });
        }
        Ok(SiteKey(text.to_owned()))
    }
}

/// The name of a moment in a visitor's journey, such as `page_view` or `pricing_viewed`.
///
/// 1 to 64 characters: a lower-case letter, then lower-case letters, digits, `_`, `.` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TouchpointName(String);
text_type!(TouchpointName);

impl TouchpointName {
    /// The longest touchpoint name, in characters.
    pub const MAX_CHARS: usize = 64;
    /// The touchpoint the widget records for every page a visitor sees.
    pub const PAGE_VIEW: &'static str = "page_view";

    /// Checks `text` against the touchpoint name rule.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        check_name("a touchpoint name", text)?;
        Ok(TouchpointName(text.to_owned()))
    }

    /// The built-in `page_view` touchpoint.
    pub fn page_view() -> Self {
        TouchpointName(Self::PAGE_VIEW.to_owned())
    }
}

/// The address of a page a visitor saw: an `http` or `https` URL without its query string or
/// fragment.
///
/// Parsing drops everything from the first `?` or `#`: query strings carry e-mail addresses,
/// tokens and session ids, which have no place in a feedback store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PageUrl(String);
text_type!(PageUrl);

impl PageUrl {
    /// The longest URL kept, in characters (after the query and fragment are dropped).
    pub const MAX_CHARS: usize = 2048;

    /// Checks `text` and keeps its scheme, host and path.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        const WHAT: &str = "a page URL";
        let without_query = text.split(['?', '#']).next().unwrap_or_default();
        check_length(WHAT, without_query, Self::MAX_CHARS)?;
        let lower = without_query
            .get(..8)
            .unwrap_or(without_query)
            .to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(TextError::Invalid {
                what: WHAT,
                rule: "must start with http:// or https://",
            });
        }
        if without_query
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(TextError::Invalid {
                what: WHAT,
                rule: "may not contain white space or control characters",
            });
        }
        Ok(PageUrl(without_query.to_owned()))
    }
}

/// What a respondent wrote in answer to the follow-up question, trimmed, 1 to 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Comment(String);
text_type!(Comment);

impl Comment {
    /// The longest comment, in characters.
    pub const MAX_CHARS: usize = 2000;

    /// Trims `text` and checks its length and characters.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        const WHAT: &str = "a comment";
        let trimmed = text.trim();
        check_length(WHAT, trimmed, Self::MAX_CHARS)?;
        if trimmed.contains('\0') {
            return Err(TextError::Invalid {
                what: WHAT,
                rule: "may not contain the NUL character",
            });
        }
        Ok(Comment(trimmed.to_owned()))
    }

    /// Like [`Comment::parse`], but an empty or blank text means "no comment" rather than an
    /// error: a respondent who typed only spaces still gave a score worth keeping.
    pub fn parse_optional(text: &str) -> Result<Option<Self>, TextError> {
        match Self::parse(text) {
            Ok(comment) => Ok(Some(comment)),
            Err(TextError::Empty { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// The website owner's own id for a customer, given with `identify` so answers can be joined
/// with revenue and traits: trimmed, 1 to 128 characters, no control characters.
///
/// It is the owner's key, not ours: Touchstone never derives one from anything it sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);
text_type!(CustomerId);

impl CustomerId {
    /// The longest customer id, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Trims `text` and checks its length and characters.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        let trimmed = text.trim();
        check_plain_text("a customer id", trimmed, Self::MAX_CHARS)?;
        Ok(CustomerId(trimmed.to_owned()))
    }
}

/// The name of a customer trait given with `identify`, such as `plan`, `account` or `seats`.
///
/// The same rule as touchpoint names: a lower-case letter, then `a-z 0-9 _ . -`, 1 to 64.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraitName(String);
text_type!(TraitName);

impl TraitName {
    /// Checks `text` against the trait name rule.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        check_name("a trait name", text)?;
        Ok(TraitName(text.to_owned()))
    }
}

/// The value of a customer trait: trimmed, 1 to 256 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraitValue(String);
text_type!(TraitValue);

impl TraitValue {
    /// The longest trait value, in characters.
    pub const MAX_CHARS: usize = 256;

    /// Trims `text` and checks its length and characters.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        let trimmed = text.trim();
        check_plain_text("a trait value", trimmed, Self::MAX_CHARS)?;
        Ok(TraitValue(trimmed.to_owned()))
    }
}

/// Which survey an answer, a showing or a dismissal belongs to, such as `nps` or
/// `checkout_nps`: the touchpoint name rule, 1 to 64 characters.
///
/// Answers from widgets that predate surveys belong to [`SurveyId::DEFAULT`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SurveyId(String);
text_type!(SurveyId);

impl SurveyId {
    /// The survey every site has until its owner configures others.
    pub const DEFAULT: &'static str = "nps";

    /// Checks `text` against the survey id rule.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        check_name("a survey id", text)?;
        Ok(SurveyId(text.to_owned()))
    }
}

impl Default for SurveyId {
    fn default() -> Self {
        SurveyId(Self::DEFAULT.to_owned())
    }
}

/// A campaign tag from a landing page's `utm_*` parameters (`newsletter`, `spring-sale`):
/// trimmed, 1 to 128 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CampaignTag(String);
text_type!(CampaignTag);

impl CampaignTag {
    /// The longest tag kept, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Trims `text` and checks its length and characters.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        let trimmed = text.trim();
        check_plain_text("a campaign tag", trimmed, Self::MAX_CHARS)?;
        Ok(CampaignTag(trimmed.to_owned()))
    }
}

/// A language, as the primary subtag of a BCP 47 tag in lower case: `fr` for `fr-CA`, `ar` for
/// `ar-EG`. Reports segment by language, not by region, so the region is dropped at parse time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);
text_type!(Language);

impl Language {
    /// Reads a BCP 47 tag (`de`, `pt-BR`, `zh-Hant-TW`) and keeps its primary language.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        const WHAT: &str = "a language";
        let primary = text.trim().split(['-', '_']).next().unwrap_or_default();
        check_length(WHAT, primary, 3)?;
        if primary.len() < 2 || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(TextError::Invalid {
                what: WHAT,
                rule: "must start with a language code of two or three letters, like en or pt-BR",
            });
        }
        Ok(Language(primary.to_ascii_lowercase()))
    }
}

/// Words the site owner gives a survey (a question, a label, a thank-you): trimmed, 1 to 500
/// characters, no control characters. Always shown as text, never as HTML.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SurveyText(String);
text_type!(SurveyText);

impl SurveyText {
    /// The longest text, in characters.
    pub const MAX_CHARS: usize = 500;

    /// Trims `text` and checks its length and characters.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        let trimmed = text.trim();
        check_plain_text("a survey text", trimmed, Self::MAX_CHARS)?;
        Ok(SurveyText(trimmed.to_owned()))
    }
}

/// The rule every name in the journey follows (touchpoints, traits, surveys): 1 to 64
/// characters, a lower-case letter, then lower-case letters, digits, `_`, `.` or `-`.
fn check_name(what: &'static str, text: &str) -> Result<(), TextError> {
    check_length(what, text, TouchpointName::MAX_CHARS)?;
    let mut bytes = text.bytes();
    let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_allowed = bytes
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    if starts_with_letter && rest_allowed {
        Ok(())
    } else {
        Err(TextError::Invalid {
            what,
            rule: "must start with a lower-case letter and contain only a-z, 0-9, '_', '.' and '-'",
        })
    }
}

/// Checks a length and refuses control characters (NUL, line breaks, escapes): ids and
/// labels are one line of text.
fn check_plain_text(what: &'static str, text: &str, max: usize) -> Result<(), TextError> {
    check_length(what, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(TextError::Invalid {
            what,
            rule: "may not contain control characters",
        });
    }
    Ok(())
}

fn check_length(what: &'static str, text: &str, max: usize) -> Result<(), TextError> {
    if text.is_empty() {
        return Err(TextError::Empty { what });
    }
    // Counting stops just past the limit, so a hostile megabyte costs no more than a short text.
    if text.chars().nth(max).is_some() {
        return Err(TextError::TooLong { what, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn site_keys_allow_letters_digits_dash_and_underscore() {
        assert!(SiteKey::parse("demo").is_ok());
        assert!(SiteKey::parse("Shop_2-eu").is_ok());
        assert!(matches!(SiteKey::parse(""), Err(TextError::Empty { .. })));
        assert!(matches!(
            SiteKey::parse("a b"),
            Err(TextError::Invalid { .. })
        ));
        assert!(matches!(
            SiteKey::parse("ü"),
            Err(TextError::Invalid { .. })
        ));
        assert!(matches!(
            SiteKey::parse(&"k".repeat(65)),
            Err(TextError::TooLong { max: 64, .. })
        ));
        assert!(SiteKey::parse(&"k".repeat(64)).is_ok());
    }

    #[test]
    fn customer_ids_are_trimmed_single_lines() {
        assert_eq!(CustomerId::parse("  cus_42 ").unwrap().as_str(), "cus_42");
        assert_eq!(
            CustomerId::parse("anna@example.com").unwrap().as_str(),
            "anna@example.com"
        );
        assert!(matches!(
            CustomerId::parse(" "),
            Err(TextError::Empty { .. })
        ));
        assert!(matches!(
            CustomerId::parse("a\nb"),
            Err(TextError::Invalid { .. })
        ));
        assert!(matches!(
            CustomerId::parse("a\0b"),
            Err(TextError::Invalid { .. })
        ));
        assert!(CustomerId::parse(&"c".repeat(128)).is_ok());
        assert!(matches!(
            CustomerId::parse(&"c".repeat(129)),
            Err(TextError::TooLong { max: 128, .. })
        ));
    }

    #[test]
    fn trait_names_follow_the_touchpoint_rule_and_say_what_they_are() {
        assert!(TraitName::parse("plan").is_ok());
        assert_eq!(
            TraitName::parse("Plan").unwrap_err().to_string(),
            "a trait name must start with a lower-case letter and contain only a-z, 0-9, '_', '.' and '-'"
        );
        assert!(TraitValue::parse(" pro ").is_ok_and(|value| value.as_str() == "pro"));
        assert!(TraitValue::parse(&"v".repeat(257)).is_err());
    }

    #[test]
    fn touchpoint_names_start_with_a_letter() {
        for good in ["page_view", "pricing_viewed", "checkout.step-2", "a"] {
            assert!(TouchpointName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1st",
            "_x",
            "Pricing",
            "has space",
            "emoji😀",
            "semi;colon",
        ] {
            assert!(TouchpointName::parse(bad).is_err(), "{bad}");
        }
        assert!(TouchpointName::parse(&"a".repeat(65)).is_err());
        assert_eq!(TouchpointName::page_view().as_str(), "page_view");
    }

    #[test]
    fn page_urls_lose_their_query_and_fragment() {
        let url = PageUrl::parse("https://shop.example/cart?email=a@b.example#top").unwrap();
        assert_eq!(url.as_str(), "https://shop.example/cart");
        assert_eq!(
            PageUrl::parse("HTTP://Shop.example/").unwrap().as_str(),
            "HTTP://Shop.example/"
        );
    }

    #[test]
    fn page_urls_must_be_web_addresses() {
        for bad in [
            "",
            "javascript:alert(1)",
            "ftp://x",
            "https://a b",
            "https://a\u{0}",
            "?x=1",
        ] {
            assert!(PageUrl::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("https://a.example/{}", "p".repeat(2048));
        assert!(matches!(
            PageUrl::parse(&long),
            Err(TextError::TooLong { .. })
        ));
    }

    #[test]
    fn comments_are_trimmed_and_bounded() {
        assert_eq!(
            Comment::parse("  Fast delivery \n").unwrap().as_str(),
            "Fast delivery"
        );
        assert!(matches!(
            Comment::parse("   "),
            Err(TextError::Empty { .. })
        ));
        assert_eq!(Comment::parse_optional("  ").unwrap(), None);
        assert!(Comment::parse("nul\0byte").is_err());
        assert!(Comment::parse(&"é".repeat(2000)).is_ok());
        assert!(Comment::parse(&"é".repeat(2001)).is_err());
        assert!(
            Comment::parse("<script>alert(1)</script>").is_ok(),
            "kept as text, rendered as text"
        );
    }

    #[test]
    fn errors_read_as_sentences() {
        let error = TouchpointName::parse("").unwrap_err();
        assert_eq!(error.to_string(), "a touchpoint name is empty");
        let error = Comment::parse(&"x".repeat(3000)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a comment is longer than 2000 characters"
        );
    }

    #[test]
    fn survey_ids_follow_the_name_rule_and_default_to_nps() {
        assert_eq!(SurveyId::default().as_str(), "nps");
        assert!(SurveyId::parse("checkout_nps").is_ok());
        assert_eq!(
            SurveyId::parse("NPS").unwrap_err().to_string(),
            "a survey id must start with a lower-case letter and contain only a-z, 0-9, '_', '.' and '-'"
        );
        assert!(SurveyId::parse(&"s".repeat(65)).is_err());
    }

    #[test]
    fn languages_keep_the_primary_subtag_in_lower_case() {
        for (tag, language) in [
            ("en", "en"),
            ("fr-CA", "fr"),
            ("pt_BR", "pt"),
            ("AR", "ar"),
            ("zh-Hant-TW", "zh"),
            ("fil", "fil"),
        ] {
            assert_eq!(Language::parse(tag).unwrap().as_str(), language, "{tag}");
        }
        for bad in ["", "e", "engl", "e1", "-en", "ع"] {
            assert!(Language::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn campaign_tags_and_survey_texts_are_single_trimmed_lines() {
        assert_eq!(
            CampaignTag::parse(" spring sale ").unwrap().as_str(),
            "spring sale"
        );
        assert!(CampaignTag::parse("a\nb").is_err());
        assert!(CampaignTag::parse(&"t".repeat(129)).is_err());
        assert_eq!(
            SurveyText::parse(" <b>How likely</b>? ").unwrap().as_str(),
            "<b>How likely</b>?"
        );
        assert!(SurveyText::parse("").is_err());
        assert!(SurveyText::parse(&"x".repeat(501)).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in any::<String>()) {
            let _ = SiteKey::parse(&text);
            let _ = TouchpointName::parse(&text);
            let _ = PageUrl::parse(&text);
            let _ = Comment::parse_optional(&text);
            let _ = Language::parse(&text);
            let _ = CampaignTag::parse(&text);
            let _ = SurveyText::parse(&text);
        }

        #[test]
        fn valid_touchpoint_names_round_trip(text in "[a-z][a-z0-9_.-]{0,63}") {
            let name = TouchpointName::parse(&text).unwrap();
            prop_assert_eq!(name.as_str(), text.as_str());
        }

        #[test]
        fn parsed_urls_never_keep_a_query(path in "[a-z/]{0,20}", query in "[a-z=&@.]{0,20}") {
            let url = PageUrl::parse(&format!("https://a.example/{path}?{query}")).unwrap();
            prop_assert!(!url.as_str().contains('?'));
        }

        #[test]
        fn a_parsed_comment_is_never_blank(text in any::<String>()) {
            if let Ok(Some(comment)) = Comment::parse_optional(&text) {
                prop_assert!(!comment.as_str().trim().is_empty());
                prop_assert!(comment.as_str().chars().count() <= Comment::MAX_CHARS);
            }
        }
    }
}
