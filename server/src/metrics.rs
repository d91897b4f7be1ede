//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! One registry per process: counters only ever grow, and several applications in one process
//! (as in the tests) add to the same counters. No metric carries a site, visitor or address label.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

/// The label of a rejected collect request: the error's stable code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// e.g. `malformed_json`, `unknown_site`, `overloaded`.
    pub reason: &'static str,
}

/// The collector's metrics.
pub struct Metrics {
    registry: Registry,
    /// Events stored for the first time.
    pub events_stored: Counter,
    /// Events received again (a replay) and left as they were.
    pub events_duplicate: Counter,
    /// Events from known bots, answered but not stored.
    pub events_from_bots: Counter,
    /// Collect requests refused, by reason.
    pub collect_rejected: Family<Reason, Counter>,
    /// Events per commit.
    pub commit_events: Histogram,
    /// Seconds per commit, from the writer's call to the database's answer.
    pub commit_seconds: Histogram,
    /// Batches waiting for the writer, as of the last scrape.
    pub queue_depth: Gauge,
    /// Webhook deliveries put in the outbox.
    pub webhook_queued: Counter,
    /// Webhook deliveries a receiver accepted (`2xx`).
    pub webhook_delivered: Counter,
    /// Webhook attempts that failed and will be tried again.
    pub webhook_retried: Counter,
    /// Webhook deliveries given up (too many attempts, too old, or `410 Gone`).
    pub webhook_failed: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("touchstone");
    let metrics = Metrics {
        events_stored: Counter::default(),
        events_duplicate: Counter::default(),
        events_from_bots: Counter::default(),
        collect_rejected: Family::default(),
        commit_events: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
        commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        queue_depth: Gauge::default(),
        webhook_queued: Counter::default(),
        webhook_delivered: Counter::default(),
        webhook_retried: Counter::default(),
        webhook_failed: Counter::default(),
        registry: Registry::default(),
    };
    registry.register(
        "events_stored",
        "Events stored for the first time",
        metrics.events_stored.clone(),
    );
    registry.register(
        "events_duplicate",
        "Events received again and left as they were",
        metrics.events_duplicate.clone(),
    );
    registry.register(
        "events_from_bots",
        "Events from known bots, answered but not stored",
        metrics.events_from_bots.clone(),
    );
    registry.register(
        "collect_rejected",
        "Collect requests refused, by reason",
        metrics.collect_rejected.clone(),
    );
    registry.register(
        "commit_events",
        "Events per database commit",
        metrics.commit_events.clone(),
    );
    registry.register(
        "commit_seconds",
        "Duration of a database commit",
        metrics.commit_seconds.clone(),
    );
    registry.register(
        "queue_depth",
        "Batches waiting for the writer",
        metrics.queue_depth.clone(),
    );
    registry.register(
        "webhook_queued",
        "Webhook deliveries put in the outbox",
        metrics.webhook_queued.clone(),
    );
    registry.register(
        "webhook_delivered",
        "Webhook deliveries a receiver accepted",
        metrics.webhook_delivered.clone(),
    );
    registry.register(
        "webhook_retried",
        "Webhook attempts that failed and will be tried again",
        metrics.webhook_retried.clone(),
    );
    registry.register(
        "webhook_failed",
        "Webhook deliveries given up",
        metrics.webhook_failed.clone(),
    );
    Metrics {
        registry,
        ..metrics
    }
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// Everything in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
