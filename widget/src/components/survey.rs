//! The survey card: the question, the scale, the sending and failure notes, the thanks, and the
//! close button, driven by the [`SurveyState`] machine.
//!
//! The card does not know how answers travel: it is given a [`Submit`] and calls it whenever the
//! machine enters [`Step::Sending`], then feeds the outcome back into the machine.

use crate::components::{Scale, Thanks};
use crate::state::{Action, Step, SurveyState};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use touchstone_shared::Score;
use yew::platform::spawn_local;
use yew::prelude::*;

/// The question the survey asks.
pub const QUESTION: &str = "How likely are you to recommend us to a friend or colleague?";

/// The id of the question heading, unique within the widget's shadow root.
const QUESTION_ID: &str = "touchstone-question";

type SubmitFn = dyn Fn(Score) -> Pin<Box<dyn Future<Output = bool>>>;

/// Delivers an answer: resolves to `true` once the collector has stored it.
#[derive(Clone)]
pub struct Submit(Rc<SubmitFn>);

impl Submit {
    /// Wraps an async function from a score to "was it stored?".
    pub fn new<F, Fut>(submit: F) -> Self
    where
        F: Fn(Score) -> Fut + 'static,
        Fut: Future<Output = bool> + 'static,
    {
        Submit(Rc::new(move |score| Box::pin(submit(score))))
    }

    /// Starts delivering `score`.
    pub fn call(&self, score: Score) -> impl Future<Output = bool> + use<> {
        (self.0)(score)
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
#[derive(Debug, Properties, PartialEq)]
pub struct SurveyProps {
    /// How answers reach the collector.
    pub submit: Submit,
}

/// The whole survey card.
#[function_component]
pub fn Survey(props: &SurveyProps) -> Html {
    let state = use_reducer(SurveyState::default);
    let step = state.step;

    {
        let dispatcher = state.dispatcher();
        let submit = props.submit.clone();
        use_effect_with(step, move |step| {
            if let Step::Sending(score) = *step {
                spawn_local(async move {
                    let stored = submit.call(score).await;
                    dispatcher.dispatch(if stored {
                        Action::Stored
                    } else {
                        Action::SendFailed
                    });
                });
            }
        });
    }

    if step == Step::Dismissed {
        return Html::default();
    }

    let on = |action: Action| {
        let dispatcher = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatcher.dispatch(action))
    };
    let on_choose = {
        let dispatcher = state.dispatcher();
        Callback::from(move |score| dispatcher.dispatch(Action::Choose(score)))
    };

    let question = match step {
        Step::Thanks(_) => Html::default(),
        _ => html! {
            <>
                <h2 class="question" id={QUESTION_ID}>{ QUESTION }</h2>
                <Scale
                    labelled_by={QUESTION_ID}
                    selected={step.score()}
                    busy={matches!(step, Step::Sending(_))}
                    {on_choose}
                />
            </>
        },
    };
    // One live region that stays in place, so screen readers announce each change in it.
    let status = match step {
        Step::Sending(_) => html! { <p class="note">{ "Sending…" }</p> },
        Step::Failed(_) => html! {
            <p class="note error">{ "Sorry, your answer could not be sent." }</p>
        },
        Step::Thanks(_) => html! { <Thanks /> },
        Step::Asking | Step::Dismissed => Html::default(),
    };
    let retry = match step {
        Step::Failed(_) => html! {
            <button type="button" class="retry" onclick={on(Action::Retry)}>{ "Try again" }</button>
        },
        _ => Html::default(),
    };

    html! {
        <aside class="card" aria-label="Feedback survey" data-touchstone-state={step.name()}>
            <button type="button" class="close" aria-label="Close the survey" onclick={on(Action::Dismiss)}>
                { "×" }
            </button>
            { question }
            <div class="status" role="status">{ status }</div>
            { retry }
        </aside>
    }
}
