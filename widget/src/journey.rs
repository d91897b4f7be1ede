//! The visitor's journey: who the (anonymous) visitor is, and the facts events are made of —
//! ids, times, the page, where the visitor came from and what kind of device they use.
//!
//! The visitor id is a random UUID kept in `localStorage` under [`VISITOR_KEY`] so one visitor's
//! visits link up. Nothing is derived from anything personal, and page addresses lose their
//! query and fragment in [`PageUrl::parse`] before they are kept, so no query string leaves the
//! page (the landing page's `utm_*` parameters are read out of it first, on purpose).

use touchstone_shared::wire::{DeviceClass, EventId, Timestamp, VisitorId};
use touchstone_shared::{PageUrl, TextError};
use uuid::Uuid;
use wasm_bindgen::prelude::*;
use web_sys::Storage;

/// The `localStorage` key that holds the visitor id.
pub const VISITOR_KEY: &str = "touchstone.visitor";

#[wasm_bindgen]
extern "C" {
    // Bound here rather than through web-sys so a missing function is a caught error instead
    // of an exception through the widget.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(bytes: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Why an event could not be made.
///
/// Not a `thiserror` error: a `Display` impl would pull formatting code into the wasm, while
/// [`JourneyError::message`] joins plain strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JourneyError {
    /// The browser offers no source of random ids.
    NoRandomness,
    /// The page's address is not one the collector accepts (e.g. a `file:` page).
    PageUrl(TextError),
    /// The browser's clock reads before 1970 or after 9999.
    Clock,
}

impl JourneyError {
    /// What went wrong, for the console.
    pub fn message(&self) -> String {
        match self {
            JourneyError::NoRandomness => "the browser offers no crypto.getRandomValues".into(),
            JourneyError::PageUrl(error) => [
                "this page's address cannot be recorded: ",
                &crate::text_error(error),
            ]
            .concat(),
            JourneyError::Clock => "the browser's clock is out of range".into(),
        }
    }
}

/// The remembered visitor id, or a new one, remembered in `storage`.
pub fn visitor_id(storage: &Storage) -> Result<VisitorId, JourneyError> {
    let kept = storage.get_item(VISITOR_KEY).ok().flatten();
    if let Some(id) = kept.as_deref().and_then(parse_uuid) {
        return Ok(VisitorId(id));
    }
    let id = random_uuid()?;
    // A full or read-only storage only costs the link between visits.
    let _ = storage.set_item(VISITOR_KEY, &uuid_text(id));
    Ok(VisitorId(id))
}

/// A visitor id for this page only, kept nowhere (privacy mode, storage blocked).
pub fn page_visitor() -> Result<VisitorId, JourneyError> {
    random_uuid().map(VisitorId)
}

/// A fresh id for an event.
pub fn event_id() -> Result<EventId, JourneyError> {
    random_uuid().map(EventId)
}

/// The browser's clock, as a wire timestamp.
pub fn now() -> Result<Timestamp, JourneyError> {
    Timestamp::try_from(js_sys::Date::now() as i64).map_err(|_| JourneyError::Clock)
}

/// A UUID as its 36-character lower-case text, without `core::fmt`.
pub fn uuid_text(id: Uuid) -> String {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

/// The page at `href`, without query or fragment.
pub fn page_url(href: &str) -> Result<PageUrl, JourneyError> {
    PageUrl::parse(href).map_err(JourneyError::PageUrl)
}

/// The referrer worth keeping: an http(s) page of another origin (a page of this site says
/// nothing about where the visitor came from), without its query.
pub fn referrer_of(referrer: &str, origin: &str) -> Option<PageUrl> {
    let same_site = referrer
        .strip_prefix(origin)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']));
    if referrer.is_empty() || same_site {
        return None;
    }
    PageUrl::parse(referrer).ok()
}

/// The kind of device: the browser's own `userAgentData.mobile` hint when it gives one, else
/// the screen's shorter side in CSS pixels and whether it takes touch. Coarse on purpose: three
/// classes, nothing that tells one visitor from another.
pub fn device_class(mobile_hint: Option<bool>, short_side: f64, touch: bool) -> DeviceClass {
    if mobile_hint == Some(true) || (short_side > 0.0 && short_side < 600.0) {
        DeviceClass::Mobile
    } else if touch && short_side < 1100.0 {
        // Chromium says `mobile: false` on tablets too; a touch screen this size is one.
        DeviceClass::Tablet
    } else {
        DeviceClass::Desktop
    }
}

/// This browser's [`device_class`].
pub fn this_device() -> DeviceClass {
    let Some(window) = web_sys::window() else {
        return DeviceClass::Desktop;
    };
    let navigator = window.navigator();
    let hint = js_sys::Reflect::get(&navigator, &"userAgentData".into())
        .ok()
        .filter(|data| data.is_object())
        .and_then(|data| js_sys::Reflect::get(&data, &"mobile".into()).ok())
        .and_then(|mobile| mobile.as_bool());
    let short_side = window
        .screen()
        .ok()
        .and_then(|screen| Some(screen.width().ok()?.min(screen.height().ok()?)))
        .map_or(0.0, f64::from);
    let touch = navigator.max_touch_points() > 0;
    device_class(hint, short_side, touch)
}

/// A random (version 4) UUID from `crypto.getRandomValues()`, which every browser has, in
/// secure contexts and others alike (`crypto.randomUUID()` only exists in secure ones, and
/// reading its text back would need a UUID parser for every format in the wasm).
fn random_uuid() -> Result<Uuid, JourneyError> {
    let mut bytes = [0u8; 16];
    get_random_values(&mut bytes).map_err(|_| JourneyError::NoRandomness)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// A UUID written as [`uuid_text`] writes it (36 characters, hyphenated, hex in either case);
/// `None` for anything else. Small on purpose: the uuid crate's parser reads every format.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    if bytes.len() != uuid::fmt::Hyphenated::LENGTH {
        return None;
    }
    let mut value = 0u128;
    for (index, &byte) in bytes.iter().enumerate() {
        if matches!(index, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
        } else {
            value = value << 4 | u128::from(char::from(byte).to_digit(16)?);
        }
    }
    Some(Uuid::from_u128(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_address_loses_its_query_and_fragment() {
        let url = page_url("https://shop.example/cart?email=a@b#x").unwrap();
        assert_eq!(url.as_str(), "https://shop.example/cart");
        assert!(matches!(
            page_url("file:///home/me/shop.html"),
            Err(JourneyError::PageUrl(_))
        ));
    }

    #[test]
    fn only_other_sites_http_referrers_are_kept() {
        let origin = "https://shop.example";
        let kept = referrer_of("https://news.example/story?id=7", origin).unwrap();
        assert_eq!(kept.as_str(), "https://news.example/story");
        for dropped in [
            "",
            "https://shop.example/",
            "https://shop.example",
            "android-app://com.example/",
        ] {
            assert_eq!(referrer_of(dropped, origin), None, "{dropped}");
        }
        assert!(referrer_of("https://shop.example.evil/", origin).is_some());
    }

    #[test]
    fn devices_are_classed_coarsely() {
        assert_eq!(device_class(Some(true), 800.0, true), DeviceClass::Mobile);
        assert_eq!(device_class(None, 390.0, true), DeviceClass::Mobile);
        assert_eq!(device_class(Some(false), 820.0, true), DeviceClass::Tablet);
        assert_eq!(device_class(None, 1080.0, false), DeviceClass::Desktop);
        assert_eq!(device_class(None, 1440.0, true), DeviceClass::Desktop);
        assert_eq!(device_class(None, 0.0, false), DeviceClass::Desktop);
    }

    #[test]
    fn uuids_are_written_as_hyphenated_lower_case_and_read_back() {
        let id = Uuid::from_u128(0x0b7c5a3e_8f3e_4c1e_9d7a_1f2e3d4c5b6a);
        assert_eq!(uuid_text(id), "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6a");
        assert_eq!(parse_uuid(&uuid_text(id)), Some(id));
        assert_eq!(
            parse_uuid("0B7C5A3E-8F3E-4C1E-9D7A-1F2E3D4C5B6A"),
            Some(id),
            "upper case reads too"
        );
        for bad in [
            "",
            "0b7c5a3e8f3e4c1e9d7a1f2e3d4c5b6a",
            "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6",
            "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6az",
            "0b7c5a3e_8f3e-4c1e-9d7a-1f2e3d4c5b6a",
            "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6g",
            "{b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6}",
            "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5bé",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
        let mut bits = 0x9e37_79b9_7f4a_7c15_u128;
        for _ in 0..100 {
            bits = bits
                .wrapping_mul(0x2545_f491_4f6c_dd1d)
                .wrapping_add(0x1405_7b7e_f767_814f)
                ^ (bits >> 61);
            let id = Uuid::from_u128(bits);
            assert_eq!(parse_uuid(&id.hyphenated().to_string()), Some(id));
            assert_eq!(Uuid::try_parse(&uuid_text(id)).ok(), Some(id));
        }
    }
}
