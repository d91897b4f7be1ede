//! The Touchstone survey widget: a Yew app, compiled to WebAssembly, that the loader script
//! (`www/loader.js`) starts on a customer's page through [`start`].
//!
//! On start it places its host element (see [`host`]), reports the visit as a `page_view`
//! touchpoint, and asks the Net Promoter question. It runs on other people's pages, so it keeps
//! to its own shadow root, reports trouble with a `touchstone:` console warning instead of an
//! exception, and stays small: every byte ships to every visitor.
//!
//! Module map: [`state`] is the survey's state machine, [`components`] its views, [`i18n`] its
//! languages, [`theme`] the site's look as CSS, [`journey`]
//! makes the events, and [`transport`] is the only module that speaks to the network.
//!
//! Size rules (the wasm is measured by `cargo xtask build-widget`): no `format!`, `Display` or
//! `Debug` formatting outside tests, and errors as plain messages rather than `Display` impls. Each
//! formatted call site costs code and pulls in more of `core::fmt`; a message joined with
//! [`report`] costs almost nothing.

pub mod components;
pub mod host;
pub mod i18n;
pub mod journey;
pub mod state;
pub mod theme;
pub mod transport;

use components::{Answer, Submit, Survey, SurveyProps};
use journey::Journey;
use std::rc::Rc;
use touchstone_shared::survey::SiteSurveys;
use touchstone_shared::{SiteKey, TextError};
use transport::Api;
use wasm_bindgen::prelude::*;

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

/// Starts the widget for `site`, talking to the collector at the `api` origin.
///
/// `queue` holds the `window.touchstone(...)` calls made before the widget was ready, each an
/// array whose first item names the command. Errors come back as a rejected call for the
/// loader to report; nothing is left on the page when starting fails.
#[wasm_bindgen]
pub fn start(site: &str, api: &str, queue: JsValue) -> Result<(), JsError> {
    yew::set_custom_panic_hook(Box::new(|_| {
        warn("touchstone: the widget stopped after an internal error");
    }));
    let site = SiteKey::parse(site).map_err(|error| JsError::new(&text_error(&error)))?;
    let journey = Rc::new(Journey::begin(site).map_err(|error| JsError::new(&error.message()))?);
    let api = Rc::new(Api::new(api));
    let root = host::mount(host::STYLES).map_err(|error| JsError::new(error.message()))?;
    replay(&queue);

    let page_view = journey.page_view();
    let page_api = Rc::clone(&api);
    wasm_bindgen_futures::spawn_local(async move {
        let sent = match page_view {
            Ok(request) => page_api
                .send(&request)
                .await
                .map_err(|error| error.message()),
            Err(error) => Err(error.message()),
        };
        if let Err(problem) = sent {
            report(&["the page view was not recorded: ", &problem]);
        }
    });

    // Until the site's configuration is fetched, the survey a new site runs.
    let (surveys, theme) = SiteSurveys::default_for_new_sites().into_parts();
    let Some(survey) = surveys.into_iter().next() else {
        return Ok(());
    };
    let survey = Rc::new(survey);
    let theme = Rc::new(theme);
    let lang = i18n::choose(None);
    let survey_id = survey.id.clone();
    let submit = Submit::new(move |answer: Answer| {
        let journey = Rc::clone(&journey);
        let api = Rc::clone(&api);
        let request = journey.response(
            answer.score,
            answer.comment,
            survey_id.clone(),
            lang.language(),
        );
        async move {
            let sent = match request {
                Ok(request) => api.send(&request).await.map_err(|error| error.message()),
                Err(error) => Err(error.message()),
            };
            sent.map_err(|problem| report(&["the answer was not sent: ", &problem]))
                .is_ok()
        }
    });
    let props = SurveyProps {
        survey,
        theme,
        lang,
        submit,
        // The survey hides itself when it closes; recording a dismissal comes with the journey.
        on_close: yew::Callback::noop(),
    };
    yew::Renderer::<Survey>::with_root_and_props(root, props).render();
    Ok(())
}

/// Handles the calls queued before the widget was ready. This version knows no commands yet,
/// so each one is reported rather than silently dropped.
fn replay(queue: &JsValue) {
    let Some(queue) = queue.dyn_ref::<js_sys::Array>() else {
        return;
    };
    for call in queue.iter() {
        let name = js_sys::Reflect::get_u32(&call, 0)
            .ok()
            .and_then(|name| name.as_string());
        report(&["unknown command \"", &name.unwrap_or_default(), "\""]);
    }
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
