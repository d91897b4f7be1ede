//! The Touchstone widget, built as two WebAssembly modules from this one crate (its `core` and
//! `survey` features; `cargo xtask build-widget` builds each with one feature, tests use both).
//!
//! The **core** is what the loader script (`www/loader.js`) fetches on every page, when it is
//! idle: it starts through [`start`] and is driven through [`command`] (`touchstone('touch', …)`
//! and friends). It records the visitor's journey (page views, single-page-app navigation,
//! named touchpoints, `identify`), delivers it to the collector without losing events, and
//! decides with `touchstone_shared::eligibility` when a survey is due. It has no Yew in it.
//!
//! The **survey** module is the Yew survey UI: the loader fetches it only when the core asks for
//! a survey (a due survey, or `touchstone('show')`), and calls its `ui::mount`. So most first
//! visits (the default survey asks from the second page view) never download Yew. The answer
//! and the dismissal come back to the core through two internal commands (see `app::command`).
//!
//! Both run on other people's pages, so they keep to their own shadow root, report trouble with
//! a `touchstone:` console warning instead of an exception, and stay small: the core's bytes
//! ship to every visitor.
//!
//! Module map: core: [`app`] is the running widget and its privacy rules; [`session`] the
//! session window and recontact clocks; [`queue`] and [`delivery`] the outbox; [`transport`] is
//! the only module that speaks to the network; [`journey`] makes ids and reads the page. Both:
//! [`config`] reads the site's surveys. Survey: `ui` is the survey module's entry point to the
//! survey's `components` and `state`; `host` places the shadow root.
//!
//! Size rules (the wasm is measured by `cargo xtask build-widget`): no `format!`, `Display` or
//! `Debug` formatting outside tests, and errors as plain messages rather than `Display` impls. Each
//! formatted call site costs code and pulls in more of `core::fmt`; a message joined with
//! [`report`] costs almost nothing.

#[cfg(feature = "core")]
pub mod app;
#[cfg(feature = "survey")]
pub mod components;
pub mod config;
pub mod delivery;
#[cfg(feature = "survey")]
pub mod host;
#[cfg(feature = "survey")]
pub mod i18n;
pub mod journey;
pub mod json;
pub mod queue;
pub mod session;
#[cfg(feature = "survey")]
pub mod state;
#[cfg(feature = "survey")]
pub mod theme;
pub mod transport;
#[cfg(feature = "survey")]
pub mod ui;

use touchstone_shared::TextError;
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

/// Starts the core for `site`, talking to the collector at the `api` origin, on the page the
/// loader saw at `href`. `consent_required` is `data-consent="required"`, `debug` is
/// `data-debug`. `show_survey(surveyId, config)` is the loader's function that fetches the
/// survey module (once) and mounts the survey `surveyId` of the configuration text `config`; it
/// never throws. Errors come back as a rejected call for the loader to report.
#[cfg(feature = "core")]
#[wasm_bindgen]
pub fn start(
    site: &str,
    api: &str,
    href: &str,
    consent_required: bool,
    debug: bool,
    show_survey: js_sys::Function,
) -> Result<(), JsError> {
    std::panic::set_hook(Box::new(|_| {
        warn("touchstone: the widget stopped after an internal error");
    }));
    let site = touchstone_shared::SiteKey::parse(site)
        .map_err(|error| JsError::new(&text_error(&error)))?;
    let settings = app::Settings {
        site,
        api: transport::Api::new(api),
        consent_required,
        debug,
        show_survey,
    };
    app::start(settings, href).map_err(|error| JsError::new(&error.message()))
}

/// Runs one `touchstone(...)` call: an array whose first item names the command. Returns what
/// the internal `_answer` command returns (whether the answer is queued); `false` otherwise.
#[cfg(feature = "core")]
#[wasm_bindgen]
pub fn command(call: js_sys::Array) -> bool {
    let name = call.get(0).as_string().unwrap_or_default();
    app::command(&name, &call)
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
