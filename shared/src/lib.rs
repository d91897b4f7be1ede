//! Touchstone's shared core: the domain types, the Net Promoter Score statistics and the wire
//! format that the browser widget and the collector both compile.
//!
//! This crate does no I/O and knows nothing of actix, sqlx, tokio or web-sys, so it builds for
//! native targets and for `wasm32-unknown-unknown` alike. Whenever the widget and the server must
//! agree on a decision (which category a score falls in, what a valid touchpoint name is), they
//! call the same function from here.

pub mod compare;
pub mod eligibility;
#[cfg(feature = "openapi")]
mod openapi;
pub mod score;
pub mod survey;
pub mod tally;
pub mod text;
pub mod weighted;
pub mod wire;

pub use score::{Category, Score, ScoreError};
pub use tally::{CONFIDENCE_LEVEL, Interval, NpsSummary, SMALL_SAMPLE_BELOW, Tally};
pub use text::{
    CampaignTag, Comment, CustomerId, Language, PageUrl, SiteKey, SurveyId, SurveyText, TextError,
    TouchpointName, TraitName, TraitValue,
};
