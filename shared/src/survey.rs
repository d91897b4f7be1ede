//! A site's survey configuration: which surveys it runs, when each may appear (its
//! [`Targeting`]), the words it uses and how it looks.
//!
//! The site owner writes it as TOML and stores it with `touchstone survey set`; the collector
//! serves it as JSON at `GET /v1/sites/{site}/surveys` and the widget reads it there. Both sides
//! parse it into these types, so a configuration that is stored is one the widget can use.
//!
//! ```toml
//! [[surveys]]
//! id = "nps"
//!
//! [surveys.targeting]
//! sample = 25                       # percent of visitors
//! pages = ["/pricing", "/blog/*"]   # none: every page
//! trigger = { type = "page_views", count = 3 }
//! recontact_days_after_answer = 90
//! recontact_days_after_dismissal = 30
//!
//! [surveys.texts.en]                # any text, in any language; the rest are built in
//! question = "How likely are you to recommend Acme to a friend or colleague?"
//! follow_up_detractor = "We are sorry. What went wrong?"
//!
//! [theme]
//! accent = "#0b57d0"
//! radius = 12
//! position = "bottom-right"         # bottom-left, center
//! ```

use crate::eligibility::{Targeting, Trigger};
use crate::text::{Language, SurveyId, SurveyText};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything a site's widget needs to know about its surveys.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSiteSurveys")]
pub struct SiteSurveys {
    /// The surveys, in the order the widget considers them: when two could appear at the same
    /// moment, the first one does (and, once a session, only one ever does).
    surveys: Vec<Survey>,
    /// How every survey of the site looks.
    #[serde(default)]
    theme: Theme,
}

/// The shape of [`SiteSurveys`] before the rules that span surveys are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSiteSurveys {
    surveys: Vec<Survey>,
    #[serde(default)]
    theme: Theme,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurveysError {
    /// Two surveys share an id, so their answers could not be told apart.
    #[error("the survey id {0:?} is used twice")]
    DuplicateId(String),
    /// More surveys than a site may run.
    #[error("a site runs at most {max} surveys, not {0}", max = SiteSurveys::MAX_SURVEYS)]
    TooMany(usize),
}

impl TryFrom<RawSiteSurveys> for SiteSurveys {
    type Error = SurveysError;

    fn try_from(raw: RawSiteSurveys) -> Result<Self, Self::Error> {
        SiteSurveys::new(raw.surveys, raw.theme)
    }
}

impl SiteSurveys {
    /// The most surveys one site may run.
    pub const MAX_SURVEYS: usize = 20;

    /// Checks that the surveys' ids are distinct and few enough.
    pub fn new(surveys: Vec<Survey>, theme: Theme) -> Result<Self, SurveysError> {
        if surveys.len() > Self::MAX_SURVEYS {
            return Err(SurveysError::TooMany(surveys.len()));
        }
        for (index, survey) in surveys.iter().enumerate() {
            if surveys[..index].iter().any(|other| other.id == survey.id) {
                return Err(SurveysError::DuplicateId(survey.id.to_string()));
            }
        }
        Ok(SiteSurveys { surveys, theme })
    }

    /// What a site runs until its owner says otherwise: the `nps` survey for every visitor,
    /// from their second page view of a session (one page is too early to have an opinion
    /// worth asking for), with the default recontact periods, built-in texts and theme.
    pub fn default_for_new_sites() -> Self {
        SiteSurveys {
            surveys: vec![Survey {
                id: SurveyId::default(),
                targeting: Targeting::new(Trigger::PageViews { count: 2 }),
                texts: BTreeMap::new(),
            }],
            theme: Theme::default(),
        }
    }

    /// The surveys, in the order they are considered.
    pub fn surveys(&self) -> &[Survey] {
        &self.surveys
    }

    /// The look shared by the site's surveys.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// The surveys and the theme, taken apart without copying (the widget keeps each one
    /// behind its own `Rc`).
    pub fn into_parts(self) -> (Vec<Survey>, Theme) {
        (self.surveys, self.theme)
    }
}

/// One survey: the NPS question with its follow-up, and when to ask it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// The survey's id, stored with every answer, showing and dismissal.
    pub id: SurveyId,
    /// When it may appear.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub targeting: Targeting,
    /// The owner's words, by language; whatever is not given here is built in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Texts>))]
    pub texts: BTreeMap<Language, Texts>,
}

/// The words of a survey, each optional: the widget uses the built-in text of the visitor's
/// language for any that is missing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// The question, e.g. "How likely are you to recommend Acme to a friend or colleague?"
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<SurveyText>,
    /// The label under 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_label: Option<SurveyText>,
    /// The label under 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_label: Option<SurveyText>,
    /// The follow-up question after a 9 or 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_promoter: Option<SurveyText>,
    /// The follow-up question after a 7 or 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_passive: Option<SurveyText>,
    /// The follow-up question after 0 to 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_detractor: Option<SurveyText>,
    /// The thank-you at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanks: Option<SurveyText>,
}

/// How the survey looks on the site's pages.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// The colour of the selected score, buttons and focus rings.
    #[serde(default = "Colour::default_accent")]
    pub accent: Colour,
    /// The panel's background in the light scheme (the dark scheme keeps its own, so text
    /// stays readable for visitors who asked for dark pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Colour>,
    /// The text colour in the light scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Colour>,
    /// The corner radius in CSS pixels, 0 to [`Theme::MAX_RADIUS`].
    #[serde(default = "Theme::default_radius", deserialize_with = "radius")]
    pub radius: u8,
    /// Where the survey appears.
    #[serde(default)]
    pub position: Position,
}

impl Theme {
    /// The roundest corners allowed, in CSS pixels.
    pub const MAX_RADIUS: u8 = 32;

    fn default_radius() -> u8 {
        12
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            accent: Colour::default_accent(),
            background: None,
            text: None,
            radius: Theme::default_radius(),
            position: Position::default(),
        }
    }
}

fn radius<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let radius = u8::deserialize(deserializer)?;
    if radius <= Theme::MAX_RADIUS {
        Ok(radius)
    } else {
        Err(serde::de::Error::custom(format_args!(
            "a corner radius is 0 to {} pixels, not {radius}",
            Theme::MAX_RADIUS
        )))
    }
}

/// Where on the page the survey appears.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// A card in the bottom right corner (bottom left in right-to-left languages).
    #[default]
    BottomRight,
    /// A card in the bottom left corner (bottom right in right-to-left languages).
    BottomLeft,
    /// A dialog in the middle of the page, over a dimmed backdrop.
    Center,
}

/// A CSS colour written `#rgb` or `#rrggbb`. Nothing else is accepted, so a configuration
/// cannot smuggle other CSS into the widget's custom properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour(String);

/// Why a text is not a [`Colour`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a colour is written #rgb or #rrggbb, not {0:?}")]
pub struct ColourError(pub String);

impl Colour {
    /// Checks `text` and keeps it in lower case.
    pub fn parse(text: &str) -> Result<Self, ColourError> {
        let digits = text.strip_prefix('#').unwrap_or("");
        if matches!(digits.len(), 3 | 6) && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Colour(text.to_ascii_lowercase()))
        } else {
            Err(ColourError(text.chars().take(16).collect()))
        }
    }

    /// The colour as CSS.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn default_accent() -> Self {
        Colour("#2f5bea".to_owned())
    }
}

impl TryFrom<String> for Colour {
    type Error = ColourError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Colour::parse(&text)
    }
}

impl From<Colour> for String {
    fn from(colour: Colour) -> String {
        colour.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(json: &str) -> Result<SiteSurveys, String> {
        serde_json::from_str(json).map_err(|error| error.to_string())
    }

    #[test]
    fn a_full_configuration_parses() {
        let surveys = parse(
            r##"{"surveys":[{"id":"checkout","targeting":{"sample":25,"pages":["/checkout/*"],
                 "trigger":{"type":"touchpoint","name":"checkout_completed"}},
                 "texts":{"fr-CA":{"question":" Recommanderiez-vous Acme ? "}}},
               {"id":"nps","targeting":{"trigger":{"type":"manual"}}}],
               "theme":{"accent":"#0B57D0","radius":4,"position":"center"}}"##,
        )
        .unwrap();
        let [checkout, nps] = surveys.surveys() else {
            panic!("two surveys: {surveys:?}");
        };
        assert_eq!(checkout.id.as_str(), "checkout");
        assert_eq!(checkout.targeting.sample.value(), 25);
        assert_eq!(checkout.targeting.recontact_days_after_answer, 90);
        let french = &checkout.texts[&Language::parse("fr").unwrap()];
        assert_eq!(
            french.question.as_ref().unwrap().as_str(),
            "Recommanderiez-vous Acme ?"
        );
        assert_eq!(nps.targeting.trigger, Trigger::Manual);
        assert_eq!(surveys.theme().accent.as_str(), "#0b57d0");
        assert_eq!(surveys.theme().radius, 4);
        assert_eq!(surveys.theme().position, Position::Center);
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (json, expected) in [
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"}}},{"id":"a","targeting":{"trigger":{"type":"manual"}}}]}"#,
                "used twice",
            ),
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"}}}],"theme":{"accent":"red;background:url(x)"}}"#,
                "#rgb or #rrggbb",
            ),
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"}}}],"theme":{"radius":40}}"#,
                "0 to 32 pixels",
            ),
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"}}}],"theme":{"position":"top"}}"#,
                "unknown variant",
            ),
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"},"sample":101}}]}"#,
                "percentage",
            ),
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"}},"texts":{"en":{"question":""}}}]}"#,
                "empty",
            ),
            (
                r#"{"surveys":[{"id":"a","targeting":{"trigger":{"type":"manual"}},"texts":{"en":{"title":"x"}}}]}"#,
                "unknown field",
            ),
            (
                r#"{"surveys":[{"id":"A","targeting":{"trigger":{"type":"manual"}}}]}"#,
                "a survey id",
            ),
            (r#"{"surveys":[],"colour":"x"}"#, "unknown field"),
        ] {
            let error = parse(json).unwrap_err();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let many: Vec<String> = (0..=SiteSurveys::MAX_SURVEYS)
            .map(|i| format!(r#"{{"id":"s{i}","targeting":{{"trigger":{{"type":"manual"}}}}}}"#))
            .collect();
        let error = parse(&format!(r#"{{"surveys":[{}]}}"#, many.join(","))).unwrap_err();
        assert!(error.contains("at most 20 surveys"), "{error}");
    }

    #[test]
    fn a_new_site_asks_for_the_default_survey_from_the_second_page() {
        let defaults = SiteSurveys::default_for_new_sites();
        let [nps] = defaults.surveys() else {
            panic!("one survey");
        };
        assert_eq!(nps.id.as_str(), "nps");
        assert_eq!(nps.targeting.trigger, Trigger::PageViews { count: 2 });
        assert_eq!(defaults.theme(), &Theme::default());
        let (surveys, theme) = defaults.clone().into_parts();
        assert_eq!(
            (surveys.as_slice(), &theme),
            (defaults.surveys(), defaults.theme())
        );
        let json = serde_json::to_string(&defaults).unwrap();
        assert_eq!(parse(&json).unwrap(), defaults);
    }

    proptest! {
        #[test]
        fn only_hex_colours_pass(text in "#?[0-9a-zA-Z;:()# ]{0,8}") {
            let hex = text.len() == 4 || text.len() == 7;
            let valid = hex && text.starts_with('#') && text[1..].bytes().all(|b| b.is_ascii_hexdigit());
            prop_assert_eq!(Colour::parse(&text).is_ok(), valid);
        }

        #[test]
        fn arbitrary_json_never_panics_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = serde_json::from_slice::<SiteSurveys>(&bytes);
        }
    }
}
