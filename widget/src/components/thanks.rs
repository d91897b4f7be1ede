//! The message shown once the collector has stored the visitor's answer.

use yew::prelude::*;

/// "Thank you!", shown in place of the question after a stored answer.
#[function_component]
pub fn Thanks() -> Html {
    html! {
        <div class="thanks">
            <h2 class="title">{ "Thank you!" }</h2>
            <p>{ "Your answer helps us improve." }</p>
        </div>
    }
}
