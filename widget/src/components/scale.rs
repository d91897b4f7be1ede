//! The 0–10 answer scale: a radio group of eleven buttons with the scale's end labels.
//!
//! Choosing a score is one click (or Enter / Space); the arrow keys, Home and End move the focus
//! between the choices without choosing, and only one choice is a Tab stop (a roving tab index),
//! so the keyboard reaches the whole group with one Tab. In a right-to-left language the scale
//! is mirrored (0 on the right), and so are the left and right arrows.

use touchstone_shared::Score;
use web_sys::{Element, HtmlElement};
use yew::prelude::*;

/// Each score as text, for its button and its `data-score`: a table rather than `to_string()`,
/// which would bring integer formatting into the wasm for eleven fixed strings.
const SCORE_TEXT: [&str; Score::MAX as usize + 1] =
    ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];

/// Props of [`Scale`].
#[derive(Debug, Properties, PartialEq)]
pub struct ScaleProps {
    /// The id of the element that labels the group (the question).
    pub labelled_by: AttrValue,
    /// The label under 0, e.g. "Not at all likely".
    pub low: AttrValue,
    /// The label under 10, e.g. "Extremely likely".
    pub high: AttrValue,
    /// True in right-to-left languages: the arrows follow the mirrored layout.
    #[prop_or_default]
    pub rtl: bool,
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
        let rtl = props.rtl;
        Callback::from(move |event: KeyboardEvent| {
            let Some(current) = event
                .target_dyn_into::<Element>()
                .and_then(|target| score_of(&target))
            else {
                return;
            };
            let Some(next) = step(current, &event.key(), rtl) else {
                return;
            };
            event.prevent_default();
            if let Some(button) = refs[usize::from(next)].cast::<HtmlElement>() {
                let _ = button.focus();
            }
        })
    };

    // The end choices' accessible names carry the end labels, which are hidden from screen
    // readers because they would be read out of context.
    let low_choice = AttrValue::from(["0, ", &props.low].concat());
    let high_choice = AttrValue::from(["10, ", &props.high].concat());
    let choices = Score::all().map(|score| {
        let value = score.value();
        let checked = props.selected == Some(score);
        let label = match value {
            0 => Some(low_choice.clone()),
            Score::MAX => Some(high_choice.clone()),
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
                <span>{ props.low.clone() }</span>
                <span>{ props.high.clone() }</span>
            </div>
        </div>
    }
}

/// The score a choice button stands for.
fn score_of(element: &Element) -> Option<u8> {
    element.get_attribute("data-score")?.parse().ok()
}

/// Where a key moves the focus from the choice `current`, wrapping around at the ends. Right
/// means "higher" on a left-to-right scale and "lower" on a mirrored one; Down and Up always mean
/// next and previous, as in any radio group.
fn step(current: u8, key: &str, rtl: bool) -> Option<u8> {
    let last = Score::MAX;
    let up = Some(if current >= last { 0 } else { current + 1 });
    let down = Some(if current == 0 { last } else { current - 1 });
    match key {
        "ArrowRight" if rtl => down,
        "ArrowLeft" if rtl => up,
        "ArrowRight" | "ArrowDown" => up,
        "ArrowLeft" | "ArrowUp" => down,
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
        assert_eq!(step(4, "ArrowRight", false), Some(5));
        assert_eq!(step(4, "ArrowUp", false), Some(3));
        assert_eq!(step(10, "ArrowDown", false), Some(0));
        assert_eq!(step(0, "ArrowLeft", false), Some(10));
    }

    #[test]
    fn on_a_mirrored_scale_left_and_right_follow_the_layout() {
        assert_eq!(step(4, "ArrowRight", true), Some(3));
        assert_eq!(step(4, "ArrowLeft", true), Some(5));
        assert_eq!(step(0, "ArrowRight", true), Some(10));
        assert_eq!(step(4, "ArrowDown", true), Some(5));
        assert_eq!(step(4, "ArrowUp", true), Some(3));
    }

    #[test]
    fn home_and_end_jump_to_the_ends_and_other_keys_do_nothing() {
        for rtl in [false, true] {
            assert_eq!(step(6, "Home", rtl), Some(0));
            assert_eq!(step(6, "End", rtl), Some(10));
            assert_eq!(step(6, "Enter", rtl), None);
            assert_eq!(step(6, "a", rtl), None);
        }
    }
}
