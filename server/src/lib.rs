//! The Touchstone collector: it stores the touchpoints and survey answers widgets send, and
//! answers marketers' questions about them over an HTTP API.
//!
//! `main.rs` only parses the command line; everything else lives here so the tests can start
//! the real application in-process.

pub mod api_key;
pub mod auth;
pub mod bots;
pub mod demo;
pub mod encoded;
pub mod error;
pub mod import;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod period;
pub mod privacy;
pub mod routes;
pub mod site;
pub mod site_cache;
pub mod startup;
pub mod store;
pub mod survey;
pub mod trend;
pub mod webhooks;
