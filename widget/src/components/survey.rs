//! The survey: the question and its scale, the follow-up, the sending and failure notes, the
//! thanks and the close button, driven by the [`SurveyState`] machine, in the site's theme and
//! the visitor's language.
//!
//! In a corner it is a non-modal region (a card that leaves the page usable); in the centre it is
//! a modal `<dialog>` opened with `showModal()`, so the browser keeps focus and screen readers
//! inside it and draws the backdrop. Either way focus moves into the survey when it opens and
//! back to where it was when it closes, and Escape closes it.
//!
//! The survey does not know how answers travel: it is given a [`Submit`] and calls it when the
//! machine enters [`Step::Sending`] (or closes with an answer still to send), and it reports how
//! it ended through `on_close`.

use crate::components::{FollowUp, Scale, Thanks};
use crate::i18n::{self, Lang, Text};
use crate::state::{Action, Answer, Closed, Step, SurveyState};
use crate::theme;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use touchstone_shared::survey::{Position, Survey as SurveyConfig, Theme};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlDialogElement, HtmlElement, Node, ShadowRoot};
use yew::platform::spawn_local;
use yew::prelude::*;

/// The id of the question heading, unique within the widget's shadow root.
const QUESTION_ID: &str = "touchstone-question";

type SubmitFn = dyn Fn(Answer) -> Pin<Box<dyn Future<Output = bool>>>;

/// Delivers an answer: resolves to `true` once it is safely stored or queued, `false` to offer
/// the visitor a retry.
#[derive(Clone)]
pub struct Submit(Rc<SubmitFn>);

impl Submit {
    /// Wraps an async function from an answer to "is it safe?".
    pub fn new<F, Fut>(submit: F) -> Self
    where
        F: Fn(Answer) -> Fut + 'static,
        Fut: Future<Output = bool> + 'static,
    {
        Submit(Rc::new(move |answer| Box::pin(submit(answer))))
    }

    /// Starts delivering `answer`.
    pub fn call(&self, answer: Answer) -> impl Future<Output = bool> + use<> {
        (self.0)(answer)
    }
}

impl PartialEq for Submit {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Submit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Submit")
    }
}

/// Props of [`Survey`].
#[derive(Debug, Properties)]
pub struct SurveyProps {
    /// The survey to ask: its texts by language.
    pub survey: Rc<SurveyConfig>,
    /// How it looks and where it appears.
    pub theme: Rc<Theme>,
    /// The visitor's language.
    pub lang: Lang,
    /// How answers are delivered.
    pub submit: Submit,
    /// Called once, when the survey closes, with how it ended.
    pub on_close: Callback<Closed>,
}

/// Props are the same when they share their configuration: comparing the `Rc`s rather than
/// the whole configuration keeps its comparison code out of the wasm.
impl PartialEq for SurveyProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.survey, &other.survey)
            && Rc::ptr_eq(&self.theme, &other.theme)
            && self.lang == other.lang
            && self.submit == other.submit
            && self.on_close == other.on_close
    }
}

/// What the survey remembers from when it opened.
#[derive(Default)]
struct Opened {
    /// The page's element that had focus, to give it back on close.
    focus: Option<HtmlElement>,
    /// The widget's host element in the page.
    host: Option<Element>,
}

/// The whole survey.
#[function_component]
pub fn Survey(props: &SurveyProps) -> Html {
    let state = use_reducer(SurveyState::default);
    let step = state.step.clone();
    let frame = use_node_ref();
    let opened = use_mut_ref(Opened::default);
    let modal = props.theme.position == Position::Center;

    // On opening: remember where focus was, open the dialog modally, and adopt the theme as a
    // stylesheet of its own, taken out again when the survey goes. This effect is declared
    // before the one that moves focus, so it sees the page's focus first. (One effect rather
    // than two: each distinct effect is its own code in the wasm.)
    {
        let frame = frame.clone();
        let opened = Rc::clone(&opened);
        use_effect_with(Rc::clone(&props.theme), move |theme| {
            let shadow = frame.get().and_then(|node| shadow_root(&node));
            {
                let mut opened = opened.borrow_mut();
                opened.focus = active_page_element();
                opened.host = shadow.as_ref().map(ShadowRoot::host);
            }
            if let Some(dialog) = frame.cast::<HtmlDialogElement>() {
                // Fails only when already open; nothing to do then.
                let _ = dialog.show_modal();
            }
            let sheet = shadow
                .as_ref()
                .and_then(|shadow| theme::apply(shadow, theme).ok());
            move || {
                if let (Some(shadow), Some(sheet)) = (shadow, sheet) {
                    theme::remove(&shadow, &sheet);
                }
            }
        });
    }

    // Each step's consequences: sending, closing, and where focus goes.
    {
        let dispatcher = state.dispatcher();
        let submit = props.submit.clone();
        let on_close = props.on_close.clone();
        let frame = frame.clone();
        let opened = Rc::clone(&opened);
        use_effect_with(step.clone(), move |step| match step {
            Step::Sending(answer) => {
                let answer = answer.clone();
                spawn_local(async move {
                    let stored = submit.call(answer).await;
                    dispatcher.dispatch(if stored {
                        Action::Stored
                    } else {
                        Action::SendFailed
                    });
                });
            }
            Step::Closed(how, unsent) => {
                if let Some(answer) = unsent.clone() {
                    // The visitor has gone; a failure could not be shown to anyone.
                    spawn_local(async move {
                        submit.call(answer).await;
                    });
                }
                let opened = opened.borrow();
                if focus_is_lost(opened.host.as_ref())
                    && let Some(element) = &opened.focus
                {
                    let _ = element.focus();
                }
                on_close.emit(*how);
            }
            _ => {
                let target = focus_target(step)
                    .zip(frame.cast::<Element>())
                    .and_then(|(selector, frame)| frame.query_selector(selector).ok().flatten())
                    .and_then(|element| element.dyn_into::<HtmlElement>().ok());
                if let Some(target) = target {
                    let _ = target.focus();
                }
            }
        });
    }

    if let Step::Closed(..) = step {
        return Html::default();
    }

    let lang = props.lang;
    let words = |text: Text| AttrValue::from(i18n::text(&props.survey, lang, text).to_owned());
    let dispatch = |action: Action| {
        let dispatcher = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatcher.dispatch(action.clone()))
    };

    let content = match &step {
        Step::Asking => {
            let on_choose = {
                let dispatcher = state.dispatcher();
                Callback::from(move |score| dispatcher.dispatch(Action::Choose(score)))
            };
            html! {
                <>
                    <h2 class="title" id={QUESTION_ID}>{ words(Text::Question) }</h2>
                    <Scale
                        labelled_by={QUESTION_ID}
                        low={words(Text::LowLabel)}
                        high={words(Text::HighLabel)}
                        rtl={lang.is_rtl()}
                        {on_choose}
                    />
                </>
            }
        }
        Step::FollowUp(_) | Step::Sending(_) | Step::Failed(_) => {
            let score = step.score().map(|score| score.category());
            let on_send = {
                let dispatcher = state.dispatcher();
                Callback::from(move |comment| dispatcher.dispatch(Action::Send(comment)))
            };
            html! {
                <FollowUp
                    question={words(score.map_or(Text::FollowUpPassive, i18n::follow_up))}
                    send={words(Text::Send)}
                    skip={words(Text::Skip)}
                    busy={!matches!(step, Step::FollowUp(_))}
                    actions={!matches!(step, Step::Failed(_))}
                    {on_send}
                />
            }
        }
        Step::Thanks | Step::Closed(..) => Html::default(),
    };
    // One live region that stays in place, so screen readers announce each change in it.
    let status = match &step {
        Step::Sending(_) => html! { <p class="note">{ words(Text::Sending) }</p> },
        Step::Failed(_) => html! { <p class="note error">{ words(Text::SendFailed) }</p> },
        Step::Thanks => html! {
            <Thanks title={words(Text::Thanks)} detail={words(Text::ThanksDetail)} />
        },
        _ => Html::default(),
    };
    let retry = match &step {
        Step::Failed(_) => html! {
            <button type="button" class="retry" onclick={dispatch(Action::Retry)}>
                { words(Text::Retry) }
            </button>
        },
        _ => Html::default(),
    };
    let card = html! {
        <>
            <button type="button" class="close" aria-label={words(Text::Close)} onclick={dispatch(Action::Close)}>
                { "×" }
            </button>
            { content }
            <div class="status" role="status">{ status }</div>
            { retry }
        </>
    };

    let onkeydown = {
        let dispatcher = state.dispatcher();
        Callback::from(move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                event.prevent_default();
                dispatcher.dispatch(Action::Close);
            }
        })
    };
    let dir = if lang.is_rtl() { "rtl" } else { "ltr" };
    let name = words(Text::SurveyName);
    if modal {
        // The browser's own Escape handling (`cancel`) closes through the machine too.
        let oncancel = {
            let dispatcher = state.dispatcher();
            Callback::from(move |event: Event| {
                event.prevent_default();
                dispatcher.dispatch(Action::Close);
            })
        };
        // A click whose target is the dialog itself landed on the backdrop: the card fills the
        // dialog, so every click inside it has a target within the card.
        let onclick = {
            let dispatcher = state.dispatcher();
            let frame = frame.clone();
            Callback::from(move |event: MouseEvent| {
                let target = event.target().map(wasm_bindgen::JsValue::from);
                let dialog = frame.get().map(wasm_bindgen::JsValue::from);
                if target.is_some() && target == dialog {
                    dispatcher.dispatch(Action::Close);
                }
            })
        };
        html! {
            <dialog
                class="dialog"
                ref={frame}
                aria-label={name}
                lang={lang.code()}
                {dir}
                data-touchstone-state={step.name()}
                {onkeydown}
                {oncancel}
                {onclick}
            >
                <div class="card">{ card }</div>
            </dialog>
        }
    } else {
        // A data attribute rather than a computed class: a dynamic `class` goes through Yew's
        // `Classes`, an index set whose code the widget does not otherwise need.
        let corner = match (props.theme.position, lang.is_rtl()) {
            (Position::BottomRight, false) | (Position::BottomLeft, true) => "right",
            _ => "left",
        };
        html! {
            <section
                class="card corner"
                data-corner={corner}
                ref={frame}
                aria-label={name}
                lang={lang.code()}
                {dir}
                data-touchstone-state={step.name()}
                {onkeydown}
            >
                { card }
            </section>
        }
    }
}

/// The element that gets focus when `step` appears: the scale's Tab stop, the follow-up's text
/// box, Retry, or, once the form is gone, the close button (the thanks is announced by the
/// live region it appears in).
fn focus_target(step: &Step) -> Option<&'static str> {
    match step {
        Step::Asking => Some(".choice[tabindex='0']"),
        Step::FollowUp(_) => Some("textarea"),
        Step::Failed(_) => Some(".retry"),
        Step::Thanks => Some(".close"),
        // While sending, focus stays on the Send or Skip button that was pressed.
        Step::Sending(_) | Step::Closed(..) => None,
    }
}

/// The page's focused element, if it is one focus can go back to.
fn active_page_element() -> Option<HtmlElement> {
    let document = web_sys::window()?.document()?;
    let active = document.active_element()?;
    if document.body().is_some_and(|body| *body == active) {
        return None;
    }
    active.dyn_into().ok()
}

/// True when focus is nowhere (the survey's focused element went with it) or still in the
/// widget; false when the visitor has moved on to something else in the page, which keeps it.
fn focus_is_lost(host: Option<&Element>) -> bool {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return false;
    };
    match document.active_element() {
        None => true,
        Some(active) => {
            document.body().is_some_and(|body| *body == active) || host == Some(&active)
        }
    }
}

/// The shadow root `node` lives in, if any.
fn shadow_root(node: &Node) -> Option<ShadowRoot> {
    node.get_root_node().dyn_into().ok()
}
