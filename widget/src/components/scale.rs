//! The 0–10 answer scale: a radio group of eleven buttons with the scale's end labels.
//!
//! Choosing a score is one click (or Enter / Space); the arrow keys, Home and End move the focus
//! between the choices without choosing, and only one choice is a Tab stop (a roving tab index),
//! so the keyboard reaches the whole group with one Tab.

use touchstone_shared::Score;
use web_sys::{Element, HtmlElement};
use yew::prelude::*;

/// The label under the lowest score.
pub const LOW_LABEL: &str = "Not at all likely";
/// The label under the highest score.
pub const HIGH_LABEL: &str = "Extremely likely";

/// Each score as text, for its button and its `data-score`: a table rather than `to_string()`,
/// which would bring integer formatting into the wasm for eleven fixed strings.
const SCORE_TEXT: [&str; Score::MAX as usize + 1] =
    ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];

/// The accessible names of the end choices, which carry the end labels' meaning.
const LOW_CHOICE_LABEL: &str = "0, not at all likely";
const HIGH_CHOICE_LABEL: &str = "10, extremely likely";

/// Props of [`Scale`].
#[derive(Debug, Properties, PartialEq)]
pub struct ScaleProps {
    /// The id of the element that labels the group (the question).
    pub labelled_by: AttrValue,
    /// The score shown as chosen, if any.
    #[prop_or_default]
    pub selected: Option<Score>,
    /// True while an answer is being sent: choices are shown but marked unavailable.
    #[prop_or_default]
    pub busy: bool,
    /// Called with the score the visitor chose.
    pub on_choose: Callback<Score>,
}

/// The eleven score choices, 0 to 10, as a labelled radio group.
#[function_component]
pub fn Scale(props: &ScaleProps) -> Html {
    let refs = use_memo((), |_| {
        Score::all().map(|_| NodeRef::default()).collect::<Vec<_>>()
    });
    let tab_stop = props.selected.map_or(0, Score::value);

    let onkeydown = {
        let refs = refs.clone();
        Callback::from(move |event: KeyboardEvent| {
            let Some(current) = event
                .target_dyn_into::<Element>()
                .and_then(|target| score_of(&target))
            else {
                return;
            };
            let Some(next) = step(current, &event.key()) else {
                return;
            };
            event.prevent_default();
            if let Some(button) = refs[usize::from(next)].cast::<HtmlElement>() {
                let _ = button.focus();
            }
        })
    };

    let choices = Score::all().map(|score| {
        let value = score.value();
        let checked = props.selected == Some(score);
        let label = match value {
            0 => Some(LOW_CHOICE_LABEL),
            Score::MAX => Some(HIGH_CHOICE_LABEL),
            _ => None,
        };
        let onclick = props.on_choose.reform(move |_: MouseEvent| score);
        html! {
            <button
                type="button"
                role="radio"
                class="choice"
                ref={refs[usize::from(value)].clone()}
                data-score={SCORE_TEXT[usize::from(value)]}
                aria-checked={if checked { "true" } else { "false" }}
                aria-disabled={props.busy.then_some("true")}
                aria-label={label}
                tabindex={if value == tab_stop { "0" } else { "-1" }}
                {onclick}
            >
                { SCORE_TEXT[usize::from(value)] }
            </button>
        }
    });

    html! {
        <div class="scale">
            <div class="choices" role="radiogroup" aria-labelledby={props.labelled_by.clone()} {onkeydown}>
                { for choices }
            </div>
            <div class="ends" aria-hidden="true">
                <span>{ LOW_LABEL }</span>
                <span>{ HIGH_LABEL }</span>
            </div>
        </div>
    }
}

/// The score a choice button stands for.
fn score_of(element: &Element) -> Option<u8> {
    element.get_attribute("data-score")?.parse().ok()
}

/// Where a key moves the focus from the choice `current`, wrapping around at the ends.
fn step(current: u8, key: &str) -> Option<u8> {
    let last = Score::MAX;
    match key {
        "ArrowRight" | "ArrowDown" => Some(if current >= last { 0 } else { current + 1 }),
        "ArrowLeft" | "ArrowUp" => Some(if current == 0 { last } else { current - 1 }),
        "Home" => Some(0),
        "End" => Some(last),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{SCORE_TEXT, step};
    use touchstone_shared::Score;

    #[test]
    fn every_score_has_its_text() {
        for score in Score::all() {
            assert_eq!(
                SCORE_TEXT[usize::from(score.value())],
                score.value().to_string()
            );
        }
    }

    #[test]
    fn arrows_move_one_choice_and_wrap_around() {
        assert_eq!(step(4, "ArrowRight"), Some(5));
        assert_eq!(step(4, "ArrowUp"), Some(3));
        assert_eq!(step(10, "ArrowDown"), Some(0));
        assert_eq!(step(0, "ArrowLeft"), Some(10));
    }

    #[test]
    fn home_and_end_jump_to_the_ends_and_other_keys_do_nothing() {
        assert_eq!(step(6, "Home"), Some(0));
        assert_eq!(step(6, "End"), Some(10));
        assert_eq!(step(6, "Enter"), None);
        assert_eq!(step(6, "a"), None);
    }
}
