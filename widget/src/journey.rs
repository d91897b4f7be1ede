//! The visitor's journey: who the (anonymous) visitor is, which page they are on, and the events
//! the widget reports about them.
//!
//! The visitor id is a random UUID kept in `localStorage` under [`VISITOR_KEY`] so one visitor's
//! visits link up; where storage is blocked (privacy modes, sandboxed frames) a fresh id serves
//! for this page only. Nothing is derived from anything personal, and the page address loses its
//! query and fragment in [`PageUrl::parse`] before it is kept, so no query string leaves the page.

use crate::text_error;
use touchstone_shared::wire::{
    BatchSizeError, CollectRequest, Event, EventBatch, EventId, Timestamp, VisitorId,
};
use touchstone_shared::{
    Comment, Language, PageUrl, Score, SiteKey, SurveyId, TextError, TouchpointName,
};
use uuid::Uuid;
use wasm_bindgen::prelude::*;

/// The `localStorage` key that holds the visitor id.
pub const VISITOR_KEY: &str = "touchstone.visitor";

#[wasm_bindgen]
extern "C" {
    // Bound here rather than through web-sys so a missing function (randomUUID only exists in
    // secure contexts) is a caught error instead of an exception through the widget.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid_text() -> Result<String, JsValue>;

    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(bytes: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Why the journey could not be recorded.
///
/// Not a `thiserror` error: its `Display` impl would pull formatting code into the wasm;
/// [`JourneyError::message`] joins plain strings instead (see the size rules in the crate docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JourneyError {
    /// The browser offers no source of random ids.
    NoRandomness,
    /// The page's address is not one the collector accepts (e.g. a `file:` page).
    PageUrl(TextError),
    /// The browser's clock reads before 1970 or after 9999.
    Clock,
    /// Cannot happen for the one-event batches made here; kept so nothing panics.
    Batch(BatchSizeError),
}

impl JourneyError {
    /// What went wrong, for the console.
    pub fn message(&self) -> String {
        match self {
            JourneyError::NoRandomness => {
                "the browser offers no crypto.randomUUID or crypto.getRandomValues".into()
            }
            JourneyError::PageUrl(error) => [
                "this page's address cannot be recorded: ",
                &text_error(error),
            ]
            .concat(),
            JourneyError::Clock => "the browser's clock is out of range".into(),
            JourneyError::Batch(_) => "a request must hold 1 to 100 events".into(),
        }
    }
}

impl From<BatchSizeError> for JourneyError {
    fn from(error: BatchSizeError) -> Self {
        JourneyError::Batch(error)
    }
}

/// One visit to one page of one site: everything an event needs besides its own facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    site: SiteKey,
    visitor: VisitorId,
    url: PageUrl,
}

impl Journey {
    /// A journey for `site` on the page at `href` by `visitor`.
    pub fn new(site: SiteKey, visitor: VisitorId, href: &str) -> Result<Self, JourneyError> {
        let url = PageUrl::parse(href).map_err(JourneyError::PageUrl)?;
        Ok(Journey { site, visitor, url })
    }

    /// The journey of the visitor of the current page, remembering the visitor when possible.
    pub fn begin(site: SiteKey) -> Result<Self, JourneyError> {
        let href = web_sys::window()
            .and_then(|window| window.location().href().ok())
            .unwrap_or_default();
        Journey::new(site, visitor_id()?, &href)
    }

    /// The page, without query or fragment.
    pub fn url(&self) -> &PageUrl {
        &self.url
    }

    /// The request that reports reaching this page.
    pub fn page_view(&self) -> Result<CollectRequest, JourneyError> {
        let event = Event::Touchpoint {
            id: event_id()?,
            at: now()?,
            name: TouchpointName::page_view(),
            url: self.url.clone(),
            referrer: None,
            utm: None,
        };
        self.request(event)
    }

    /// The request that carries the visitor's answer to `survey`, asked in `language`.
    pub fn response(
        &self,
        score: Score,
        comment: Option<Comment>,
        survey: SurveyId,
        language: Language,
    ) -> Result<CollectRequest, JourneyError> {
        let event = Event::Response {
            id: event_id()?,
            at: now()?,
            score,
            comment,
            survey,
            language: Some(language),
            device: None,
        };
        self.request(event)
    }

    fn request(&self, event: Event) -> Result<CollectRequest, JourneyError> {
        Ok(CollectRequest {
            site: self.site.clone(),
            visitor: self.visitor,
            events: EventBatch::try_from(vec![event])?,
        })
    }
}

/// The remembered visitor id, or a new one (remembered when storage allows).
pub fn visitor_id() -> Result<VisitorId, JourneyError> {
    let storage = web_sys::window().and_then(|window| window.local_storage().ok().flatten());
    let Some(storage) = storage else {
        return random_uuid().map(VisitorId);
    };
    let kept = storage.get_item(VISITOR_KEY).ok().flatten();
    if let Some(id) = kept.and_then(|text| Uuid::try_parse(&text).ok()) {
        return Ok(VisitorId(id));
    }
    let id = random_uuid()?;
    // A full or read-only storage only costs the link between visits. The id is written with
    // uuid's own encoder rather than `to_string()`, which goes through `core::fmt`.
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let _ = storage.set_item(VISITOR_KEY, id.hyphenated().encode_lower(&mut text));
    Ok(VisitorId(id))
}

/// A fresh id for an event.
pub fn event_id() -> Result<EventId, JourneyError> {
    random_uuid().map(EventId)
}

/// The browser's clock, as a wire timestamp.
pub fn now() -> Result<Timestamp, JourneyError> {
    Timestamp::try_from(js_sys::Date::now() as i64).map_err(|_| JourneyError::Clock)
}

/// A random (version 4) UUID from `crypto.randomUUID()`, or from `crypto.getRandomValues()` on
/// pages that are not a secure context, where `randomUUID` does not exist.
fn random_uuid() -> Result<Uuid, JourneyError> {
    if let Some(id) = random_uuid_text()
        .ok()
        .and_then(|text| Uuid::try_parse(&text).ok())
    {
        return Ok(id);
    }
    let mut bytes = [0u8; 16];
    get_random_values(&mut bytes).map_err(|_| JourneyError::NoRandomness)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_address_loses_its_query_and_fragment() {
        let site = SiteKey::parse("demo").unwrap();
        let journey = Journey::new(
            site,
            VisitorId(Uuid::nil()),
            "https://shop.example/cart?email=a@b#x",
        )
        .unwrap();
        assert_eq!(journey.url().as_str(), "https://shop.example/cart");
    }

    #[test]
    fn pages_the_collector_cannot_record_are_refused() {
        let site = SiteKey::parse("demo").unwrap();
        let error =
            Journey::new(site, VisitorId(Uuid::nil()), "file:///home/me/shop.html").unwrap_err();
        assert!(
            matches!(error, JourneyError::PageUrl(_)),
            "{}",
            error.message()
        );
    }
}
