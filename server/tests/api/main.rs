//! The collector's API tests: the real application on a free port, a fresh database per test,
//! plain HTTP. Every test that touches storage runs against SQLite and, when
//! `TOUCHSTONE_TEST_POSTGRES_URL` is set, against PostgreSQL too.
//!
//! `browser` drives the whole loop in headless Chromium: it needs the built widget and
//! chromedriver, which `cargo xtask test` provides.

mod helpers;

mod browser;
mod cli;
mod collect;
mod demo;
mod ops;
mod reports;
