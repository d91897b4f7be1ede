//! The collector's API tests: the real application on a free port, a fresh database per test,
//! plain HTTP. Every test that touches storage runs against SQLite and, when
//! `TOUCHSTONE_TEST_POSTGRES_URL` is set, against PostgreSQL too.
//!
//! `browser` drives the whole loop in headless Chromium: it needs the built widget and
//! chromedriver, which `cargo xtask test` provides. `faults` (SIGKILL, a lost or read-only
//! database) and `scale_out` (two collectors on one PostgreSQL) start `touchstone serve`
//! processes too; the read-only SQLite test needs root, `chattr` and ext4.

mod assets;
mod audit;
mod helpers;
mod process;

mod browser;
mod browser_journey;
mod cli;
mod collect;
mod dashboard;
mod demo;
mod faults;
mod imports;
mod migrations;
mod openapi;
mod ops;
mod privacy;
mod reports;
mod revenue;
mod scale_out;
mod surveys;
mod webhooks;
