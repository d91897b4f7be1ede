//! The survey module's side of the seam between the two WebAssembly modules: [`mount`] puts a
//! survey on the page, in the visitor's language, and reports back through two plain JavaScript
//! functions the loader hands it.
//!
//! The core module (`app`) decides *whether* a survey appears; this module only knows how to ask
//! it. It is fetched by the loader when the core first asks for a survey (see `www/loader.js`),
//! so the core knows nothing of Yew, and the survey's components nothing of the network: an
//! answer goes back to the core, which queues it in its outbox.

use crate::components::{Answer, Closed, Submit, Survey as SurveyView, SurveyProps};
use crate::{host, i18n};
use std::rc::Rc;
use touchstone_shared::survey::Survey;
use wasm_bindgen::prelude::*;

/// Shows the survey `survey_id` of the site's configuration `config` (the collector's
/// `/api/v1/sites/{site}/surveys` text, as the core read it) in `lang` (`data-lang`; empty: the
/// page's and the browser's language, see [`i18n::choose`]).
///
/// `submit(score, comment, language)` queues an answer in the core and returns whether it was
/// safely queued (`comment` is `undefined` when there is none; `language` is the code of the
/// language the survey was shown in); `dismissed()` is called when the visitor closes the
/// survey without choosing a score. Errors come back as a rejected call for the loader to
/// report.
#[wasm_bindgen]
pub fn mount(
    config: &str,
    survey_id: &str,
    lang: &str,
    submit: js_sys::Function,
    dismissed: js_sys::Function,
) -> Result<(), JsError> {
    yew::set_custom_panic_hook(Box::new(|_| {
        crate::report(&["the survey stopped after an internal error"]);
    }));
    let survey = crate::config::read(config)
        .and_then(|surveys| {
            let (surveys, theme) = surveys.into_parts();
            let survey = surveys
                .into_iter()
                .find(|survey| survey.id.as_str() == survey_id)?;
            Some((survey, theme))
        })
        .ok_or_else(|| JsError::new("the survey is not in the configuration"))?;
    let root = host::mount(host::STYLES).map_err(|error| JsError::new(error.message()))?;
    show(
        root,
        Rc::new(survey.0),
        Rc::new(survey.1),
        i18n::choose((!lang.is_empty()).then_some(lang)),
        submit,
        dismissed,
    );
    Ok(())
}

/// Renders `survey` into `root`, wiring its answer and its dismissal to the core's functions.
fn show(
    root: web_sys::Element,
    survey: Rc<Survey>,
    theme: Rc<touchstone_shared::survey::Theme>,
    lang: i18n::Lang,
    submit: js_sys::Function,
    dismissed: js_sys::Function,
) {
    let submit = Submit::new(move |answer: Answer| {
        let comment = answer
            .comment
            .as_ref()
            .map_or(JsValue::UNDEFINED, |comment| comment.as_str().into());
        let queued = submit
            .call3(
                &JsValue::NULL,
                &answer.score.value().into(),
                &comment,
                &lang.code().into(),
            )
            .is_ok_and(|queued| queued.is_truthy());
        async move { queued }
    });
    let on_close = yew::Callback::from(move |closed| {
        if closed == Closed::Dismissed {
            let _ = dismissed.call0(&JsValue::NULL);
        }
    });
    let props = SurveyProps {
        survey,
        theme,
        lang,
        submit,
        on_close,
    };
    yew::Renderer::<SurveyView>::with_root_and_props(root, props).render();
}
