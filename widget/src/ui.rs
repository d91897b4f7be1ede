//! The seam between the widget's journey and scheduling code and the survey's components:
//! [`show`] mounts a survey in the visitor's language and reports back an [`Answer`] (through
//! the `submit` it is given) and how it [`Closed`].
//!
//! The app decides *whether* a survey appears; the components only know how to ask it. Nothing
//! here touches the network: `submit` queues the answer in the app's outbox.

pub use crate::components::{Answer, Closed};
use crate::components::{Submit, Survey as SurveyView, SurveyProps};
use crate::i18n::{self, Lang};
use std::future::Future;
use std::rc::Rc;
use touchstone_shared::survey::{Survey, Theme};
use web_sys::Element;
use yew::Callback;

/// The language the survey is shown in: the site's `data-lang` override when it is a built-in
/// language, else the page's and the browser's (see [`i18n::choose`]).
pub fn language(override_tag: Option<&str>) -> Lang {
    i18n::choose(override_tag)
}

/// Renders `survey` into `root` in `lang`. `submit` queues an answer and resolves to whether it
/// was safely queued; `on_close` hears how the survey ended, once.
pub fn show<F, Fut>(
    root: Element,
    survey: Rc<Survey>,
    theme: Rc<Theme>,
    lang: Lang,
    submit: F,
    on_close: Callback<Closed>,
) where
    F: Fn(Answer) -> Fut + 'static,
    Fut: Future<Output = bool> + 'static,
{
    let props = SurveyProps {
        survey,
        theme,
        lang,
        submit: Submit::new(submit),
        on_close,
    };
    yew::Renderer::<SurveyView>::with_root_and_props(root, props).render();
}
