//! Reading the site's survey configuration (`GET /v1/sites/{site}/surveys`) into
//! [`SiteSurveys`] without `serde_json`'s deserializer in the wasm.
//!
//! Measured with `cargo xtask build-widget`: `serde_json::from_str::<SiteSurveys>` cost about
//! 90 KB of raw wasm (every field's visitor, plus the float formatting serde's error messages
//! reach), more than the rest of the journey code together. Here the browser's `JSON.parse`
//! does the parsing and each field goes through the same rule-carrying constructors the serde
//! path uses (`SurveyId::parse`, `Colour::parse`, `Percent::try_from`, `SiteSurveys::new`…), so
//! nothing unchecked gets in. The collector only serves configurations it validated; what does
//! not read here (a future field, a survey this widget does not understand) is left out rather
//! than failing the whole configuration.

use js_sys::{Array, JSON, Object, Reflect};
use std::collections::BTreeMap;
use touchstone_shared::eligibility::{PagePattern, Percent, Targeting, Trigger};
use touchstone_shared::survey::{Colour, Position, SiteSurveys, Survey, Texts, Theme};
use touchstone_shared::{Language, SurveyId, SurveyText, TouchpointName};
use wasm_bindgen::{JsCast, JsValue};

/// The configuration in `text`, or `None` when it is not JSON of that shape.
pub fn read(text: &str) -> Option<SiteSurveys> {
    let root = JSON::parse(text).ok()?;
    let surveys = array(get(&root, "surveys"))?
        .iter()
        .filter_map(|survey| read_survey(&survey))
        .collect();
    let theme = read_theme(&get(&root, "theme"));
    SiteSurveys::new(surveys, theme).ok()
}

fn read_survey(survey: &JsValue) -> Option<Survey> {
    let id = SurveyId::parse(&get(survey, "id").as_string()?).ok()?;
    let targeting = read_targeting(&get(survey, "targeting"))?;
    let mut texts = BTreeMap::new();
    let by_language = get(survey, "texts");
    if by_language.is_object() {
        for language in Object::keys(by_language.unchecked_ref::<Object>()).iter() {
            let Some(tag) = language.as_string() else {
                continue;
            };
            if let Ok(language) = Language::parse(&tag) {
                texts.insert(language, read_texts(&get(&by_language, &tag)));
            }
        }
    }
    Some(Survey {
        id,
        targeting,
        texts,
    })
}

fn read_targeting(targeting: &JsValue) -> Option<Targeting> {
    let trigger = get(targeting, "trigger");
    let trigger = match get(&trigger, "type").as_string()?.as_str() {
        "page_views" => Trigger::PageViews {
            count: whole(&get(&trigger, "count"))?,
        },
        "touchpoint" => Trigger::Touchpoint {
            name: TouchpointName::parse(&get(&trigger, "name").as_string()?).ok()?,
        },
        "time_on_page" => Trigger::TimeOnPage {
            seconds: whole(&get(&trigger, "seconds"))?,
        },
        "manual" => Trigger::Manual,
        _ => return None,
    };
    let mut read = Targeting::new(trigger);
    if let Some(sample) = whole(&get(targeting, "sample")) {
        read.sample = Percent::try_from(u8::try_from(sample).ok()?).ok()?;
    }
    if let Some(pages) = array(get(targeting, "pages")) {
        read.pages = pages
            .iter()
            .filter_map(|page| page.as_string())
            .map(PagePattern::new)
            .collect();
    }
    if let Some(days) = whole(&get(targeting, "recontact_days_after_answer")) {
        read.recontact_days_after_answer = u16::try_from(days).ok()?;
    }
    if let Some(days) = whole(&get(targeting, "recontact_days_after_dismissal")) {
        read.recontact_days_after_dismissal = u16::try_from(days).ok()?;
    }
    Some(read)
}

fn read_texts(texts: &JsValue) -> Texts {
    let text = |key: &str| survey_text(texts, key);
    Texts {
        question: text("question"),
        low_label: text("low_label"),
        high_label: text("high_label"),
        follow_up_promoter: text("follow_up_promoter"),
        follow_up_passive: text("follow_up_passive"),
        follow_up_detractor: text("follow_up_detractor"),
        thanks: text("thanks"),
    }
}

fn read_theme(theme: &JsValue) -> Theme {
    let mut read = Theme::default();
    let colour = |key: &str| colour(theme, key);
    if let Some(accent) = colour("accent") {
        read.accent = accent;
    }
    read.background = colour("background");
    read.text = colour("text");
    if let Some(radius) = whole(&get(theme, "radius")).and_then(|r| u8::try_from(r).ok()) {
        read.radius = radius.min(Theme::MAX_RADIUS);
    }
    read.position = match get(theme, "position").as_string().as_deref() {
        Some("bottom-left") => Position::BottomLeft,
        Some("center") => Position::Center,
        _ => Position::BottomRight,
    };
    read
}

/// `object[key]` as a [`SurveyText`], when it is one. A function of its own, kept out of line:
/// inlined into each of the seven texts' reads, it would be seven copies in the wasm.
#[inline(never)]
fn survey_text(object: &JsValue, key: &str) -> Option<SurveyText> {
    SurveyText::parse(&get(object, key).as_string()?).ok()
}

/// `object[key]` as a [`Colour`], when it is one (out of line, as [`survey_text`]).
#[inline(never)]
fn colour(object: &JsValue, key: &str) -> Option<Colour> {
    Colour::parse(&get(object, key).as_string()?).ok()
}

/// `object[key]`, or `undefined` (also when `object` is not an object).
fn get(object: &JsValue, key: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A whole, non-negative number that fits in `u32`.
fn whole(value: &JsValue) -> Option<u32> {
    let number = value.as_f64()?;
    (number >= 0.0 && number <= f64::from(u32::MAX) && number.fract() == 0.0)
        .then_some(number as u32)
}

/// `value` if it is an array.
fn array(value: JsValue) -> Option<Array> {
    value.dyn_into().ok()
}
