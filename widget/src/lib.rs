//! The Touchstone survey widget: a Yew app, compiled to WebAssembly, that the loader script
//! (`www/loader.js`) starts on a customer's page through [`start`] and drives through
//! [`command`] (`touchstone('touch', …)` and friends).
//!
//! It records the visitor's journey (page views, single-page-app navigation, named touchpoints,
//! `identify`), delivers it to the collector without losing events, and shows a survey when the
//! site's configuration says so. It runs on other people's pages, so it keeps to its own shadow
//! root, reports trouble with a `touchstone:` console warning instead of an exception, and
//! stays small: every byte ships to every visitor.
//!
//! Module map: [`app`] is the running widget and its privacy rules; [`config`] reads the
//! site's surveys; [`session`] the session
//! window and recontact clocks; [`queue`] and [`delivery`] the outbox; [`transport`] is the
//! only module that speaks to the network; [`journey`] makes ids and reads the page; [`ui`]
//! is the seam to the survey's [`components`] and [`state`]; [`host`] places the shadow root.
//!
//! Size rules (the wasm is measured by `cargo xtask build-widget`): no `format!`, `Display` or
//! `Debug` formatting outside tests, and errors as plain messages rather than `Display` impls. Each
//! formatted call site costs code and pulls in more of `core::fmt`; a message joined with
//! [`report`] costs almost nothing.

pub mod app;
pub mod components;
pub mod config;
pub mod delivery;
pub mod host;
pub mod i18n;
pub mod journey;
pub mod json;
pub mod queue;
pub mod session;
pub mod state;
pub mod theme;
pub mod transport;
pub mod ui;

use touchstone_shared::{SiteKey, TextError};
use transport::Api;
use wasm_bindgen::prelude::*;

/// Talc instead of Rust's default dlmalloc: the same job in fewer bytes of wasm (measured with
/// `cargo xtask build-widget`). The widget allocates little, and only in short bursts.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn warn(message: &str);
}

/// Logs a problem for the site's developer without disturbing the page: `parts` are joined
/// after the `touchstone: ` prefix (joined rather than formatted, see the size rules above).
pub fn report(parts: &[&str]) {
    let mut message = String::from("touchstone: ");
    for part in parts {
        message.push_str(part);
    }
    warn(&message);
}

/// Starts the widget for `site`, talking to the collector at the `api` origin, on the page the
/// loader saw at `href`. `lang` is `data-lang` (empty: the browser's), `consent_required` is
/// `data-consent="required"`, `debug` is `data-debug`. Errors come back as a rejected call for
/// the loader to report.
#[wasm_bindgen]
pub fn start(
    site: &str,
    api: &str,
    href: &str,
    lang: &str,
    consent_required: bool,
    debug: bool,
) -> Result<(), JsError> {
    yew::set_custom_panic_hook(Box::new(|_| {
        warn("touchstone: the widget stopped after an internal error");
    }));
    let site = SiteKey::parse(site).map_err(|error| JsError::new(&text_error(&error)))?;
    let settings = app::Settings {
        site,
        api: Api::new(api),
        lang: (!lang.is_empty()).then(|| lang.to_owned()),
        consent_required,
        debug,
    };
    app::start(settings, href).map_err(|error| JsError::new(&error.message()))
}

/// Runs one `touchstone(...)` call: an array whose first item names the command.
#[wasm_bindgen]
pub fn command(call: js_sys::Array) {
    let name = call.get(0).as_string().unwrap_or_default();
    app::command(&name, &call);
}

/// A refused text as a sentence, e.g. "a site key may contain only letters, …", joined from the
/// error's parts instead of through its `Display` impl (see the size rules above).
pub fn text_error(error: &TextError) -> String {
    match error {
        TextError::Empty { what } => [what, " is empty"].concat(),
        TextError::TooLong { what, .. } => [what, " is too long"].concat(),
        TextError::Invalid { what, rule } => [what, " ", rule].concat(),
    }
}
