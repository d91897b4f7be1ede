//! The widget's one footprint on the host page: a `<div id="touchstone-widget">` at the end of
//! `<body>` with an open shadow root, where the widget's styles and markup live.
//!
//! The styles go in through a constructed stylesheet (`adoptedStyleSheets`), never a `<style>`
//! element or a `style` attribute, so pages with a strict `style-src` policy still show the widget,
//! and the shadow boundary keeps the page's CSS and the widget's CSS out of each other's way.

use wasm_bindgen::JsCast;
use web_sys::{CssStyleSheet, Document, Element, ShadowRoot, ShadowRootInit, ShadowRootMode};

/// The id of the host element the widget adds to the page.
pub const HOST_ID: &str = "touchstone-widget";

/// The widget's styles: `survey.css` without its comments and extra white space (`build.rs`).
pub const STYLES: &str = include_str!(concat!(env!("OUT_DIR"), "/survey.css"));

/// Why the widget could not be placed on the page.
///
/// Not a `thiserror` error: a `Display` impl would pull formatting code into the wasm, while
/// [`HostError::message`] is a constant string (see the size rules in the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// No `document` or no `<body>` yet.
    NoBody,
    /// The widget is already on this page (the script tag appears twice).
    AlreadyMounted,
    /// The browser refused a DOM operation (e.g. no shadow DOM or constructable stylesheets);
    /// the text says which, e.g. "the browser refused to attach a shadow root".
    Refused(&'static str),
}

impl HostError {
    /// What went wrong, for the console.
    pub fn message(self) -> &'static str {
        match self {
            HostError::NoBody => "the page has no document body",
            HostError::AlreadyMounted => "the widget is already on this page",
            HostError::Refused(what) => what,
        }
    }
}

/// Adds the host element to `document.body` and returns the element to mount the app in.
pub fn mount(styles: &str) -> Result<Element, HostError> {
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or(HostError::NoBody)?;
    if document.get_element_by_id(HOST_ID).is_some() {
        return Err(HostError::AlreadyMounted);
    }
    let body = document.body().ok_or(HostError::NoBody)?;
    let host = create(&document, "div")?;
    host.set_id(HOST_ID);
    let root = attach(&document, &host, styles)?;
    // Appending last means a failure above leaves the page untouched.
    body.append_child(&host)
        .map_err(|_| HostError::Refused("the browser refused to add the host element"))?;
    Ok(root)
}

/// Gives `host` an open shadow root styled with `styles`, and returns a fresh element inside it.
pub fn attach(document: &Document, host: &Element, styles: &str) -> Result<Element, HostError> {
    let shadow: ShadowRoot = host
        .attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))
        .map_err(|_| HostError::Refused("the browser refused to attach a shadow root"))?;
    let sheet = stylesheet(styles)?;
    shadow.set_adopted_style_sheets(&js_sys::Array::of1(sheet.unchecked_ref()));
    let root = create(document, "div")?;
    shadow
        .append_child(&root)
        .map_err(|_| HostError::Refused("the browser refused to fill the shadow root"))?;
    Ok(root)
}

/// A constructed stylesheet holding `css`, for a shadow root's `adoptedStyleSheets`.
pub fn stylesheet(css: &str) -> Result<CssStyleSheet, HostError> {
    let sheet = CssStyleSheet::new()
        .map_err(|_| HostError::Refused("the browser refused to construct a stylesheet"))?;
    sheet
        .replace_sync(css)
        .map_err(|_| HostError::Refused("the browser refused to parse the stylesheet"))?;
    Ok(sheet)
}

fn create(document: &Document, tag: &str) -> Result<Element, HostError> {
    document
        .create_element(tag)
        .map_err(|_| HostError::Refused("the browser refused to create an element"))
}
