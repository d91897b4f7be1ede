//! The widget's Yew components, one per file: the [`Survey`] itself, its 0–10 [`Scale`], the
//! [`FollowUp`] question and the [`Thanks`] that follows a stored answer.
//!
//! Components take props down and report up through callbacks; none of them touches the network
//! or anything outside the widget's shadow root (but the focus they give back on closing).

mod follow_up;
mod scale;
mod survey;
mod thanks;

pub use crate::state::{Answer, Closed};
pub use follow_up::{FollowUp, FollowUpProps};
pub use scale::{Scale, ScaleProps};
pub use survey::{Submit, Survey, SurveyProps};
pub use thanks::{Thanks, ThanksProps};
