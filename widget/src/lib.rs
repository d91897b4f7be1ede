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
use touchstone_shared::SiteKey;
use touchstone_shared::survey::SiteSurveys;
use transport::Api;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn warn(message: &str);
}

/// Logs a problem for the site's developer without disturbing the page.
pub fn report(problem: &dyn std::fmt::Display) {
    warn(&format!("touchstone: {problem}"));
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
    let journey = Rc::new(Journey::begin(SiteKey::parse(site)?)?);
    let api = Rc::new(Api::new(api));
    let root = host::mount(host::STYLES)?;
    replay(&queue);

    let page_view = journey.page_view();
    let page_api = Rc::clone(&api);
    wasm_bindgen_futures::spawn_local(async move {
        let sent = match page_view {
            Ok(request) => page_api
                .send(&request)
                .await
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(problem) = sent {
            report(&format_args!("the page view was not recorded: {problem}"));
        }
    });

    // Until the site's configuration is fetched, the survey a new site runs.
    let config = SiteSurveys::default_for_new_sites();
    let survey = Rc::new(config.surveys()[0].clone());
    let theme = Rc::new(config.theme().clone());
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
                Ok(request) => api.send(&request).await.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            sent.map_err(|problem| report(&format_args!("the answer was not sent: {problem}")))
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
        report(&format_args!(
            "unknown command {:?}",
            name.unwrap_or_default()
        ));
    }
}
