//! The widget's Yew components, one per file: the [`Survey`] card, its 0–10 [`Scale`] and the
//! [`Thanks`] that follows a stored answer.
//!
//! Components take props down and report up through callbacks; none of them touches the network
//! or anything outside the widget's shadow root.

mod scale;
mod survey;
mod thanks;

pub use scale::{Scale, ScaleProps};
pub use survey::{QUESTION, Submit, Survey, SurveyProps};
pub use thanks::Thanks;
