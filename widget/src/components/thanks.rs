//! The message shown once the visitor's answer is stored.

use yew::prelude::*;

/// Props of [`Thanks`].
#[derive(Debug, Properties, PartialEq)]
pub struct ThanksProps {
    /// The thank-you, e.g. "Thank you!".
    pub title: AttrValue,
    /// The line under it.
    pub detail: AttrValue,
}

/// The thank-you, shown in place of the question after a stored answer.
#[function_component]
pub fn Thanks(props: &ThanksProps) -> Html {
    html! {
        <div class="thanks">
            <h2 class="title">{ props.title.clone() }</h2>
            <p>{ props.detail.clone() }</p>
        </div>
    }
}
