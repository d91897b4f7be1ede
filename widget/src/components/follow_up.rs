//! The follow-up question after a score: a labelled text box, Send and Skip.

use touchstone_shared::Comment;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// The id of the text box, unique within the widget's shadow root.
const COMMENT_ID: &str = "touchstone-comment";

/// Props of [`FollowUp`].
#[derive(Debug, Properties, PartialEq)]
pub struct FollowUpProps {
    /// The question, which depends on the score's category.
    pub question: AttrValue,
    /// The Send button's text.
    pub send: AttrValue,
    /// The Skip button's text.
    pub skip: AttrValue,
    /// True once the answer has left: the text can no longer change.
    #[prop_or_default]
    pub busy: bool,
    /// False hides Send and Skip (after a failed send, when Retry takes their place).
    #[prop_or(true)]
    pub actions: bool,
    /// Called with what the visitor wrote (`None` when blank or skipped).
    pub on_send: Callback<Option<Comment>>,
}

/// The follow-up question and its answer box.
#[function_component]
pub fn FollowUp(props: &FollowUpProps) -> Html {
    let text = use_node_ref();
    let on_send = {
        let text = text.clone();
        let callback = props.on_send.clone();
        let busy = props.busy;
        Callback::from(move |_: MouseEvent| {
            if busy {
                return;
            }
            let written = text
                .cast::<HtmlTextAreaElement>()
                .map(|area| area.value())
                .unwrap_or_default();
            callback.emit(comment(&written));
        })
    };
    let on_skip = {
        let callback = props.on_send.clone();
        let busy = props.busy;
        Callback::from(move |_: MouseEvent| {
            if !busy {
                callback.emit(None);
            }
        })
    };
    let disabled = props.busy.then_some("true");
    let actions = if props.actions {
        html! {
            <div class="actions">
                <button type="button" class="send" aria-disabled={disabled} onclick={on_send}>
                    { props.send.clone() }
                </button>
                <button type="button" class="skip" aria-disabled={disabled} onclick={on_skip}>
                    { props.skip.clone() }
                </button>
            </div>
        }
    } else {
        Html::default()
    };
    html! {
        <div class="follow-up">
            <label class="title" for={COMMENT_ID}>{ props.question.clone() }</label>
            <textarea
                id={COMMENT_ID}
                class="comment"
                ref={text}
                rows="3"
                maxlength="2000"
                readonly={props.busy}
            />
            { actions }
        </div>
    }
}

/// What the visitor wrote as a [`Comment`]: blank text is no comment. `maxlength` counts UTF-16
/// units, never fewer than characters, so the text is within the limit; a NUL (which a paste
/// could bring) is the one character left that a comment refuses, so it is dropped.
fn comment(written: &str) -> Option<Comment> {
    Comment::parse_optional(&written.replace('\0', ""))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::comment;

    #[test]
    fn blank_text_is_no_comment_and_text_is_trimmed() {
        assert_eq!(comment("  \n "), None);
        assert_eq!(comment(" Great!\n").unwrap().as_str(), "Great!");
        assert_eq!(comment("a\0b").unwrap().as_str(), "ab");
    }
}
