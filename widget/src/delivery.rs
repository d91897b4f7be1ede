//! Delivery that loses nothing: this tab's [`Queue`] of events, kept in `localStorage` (when
//! the visitor's privacy choices allow) until the collector acknowledges them, sent in batches,
//! retried with backoff, and handed to `sendBeacon` when the page goes away.
//!
//! The scheduling (timers, the fetch) is the app's; this module holds the state and the rules
//! for one attempt at a time: [`Outbox::begin`] picks the next batch, [`Outbox::finish`] applies
//! the collector's answer and says when to try next.

use crate::queue::{self, Entry, Queue};
use crate::transport::Outcome;
use web_sys::Storage;

/// One request in flight: its body and the ids it carries.
#[derive(Debug)]
pub struct Job {
    /// The collect request body.
    pub body: String,
    /// The ids of its events.
    pub ids: Vec<String>,
}

/// This tab's outbox.
pub struct Outbox {
    site: String,
    queue: Queue,
    /// Where the queue is kept, and under which key; `None` keeps it in memory only.
    kept: Option<(Storage, String)>,
    failures: u32,
    not_before: f64,
    in_flight: bool,
    /// Events dropped because the queue was full, reported once.
    pub dropped: usize,
}

impl Outbox {
    /// An empty outbox for `site`, kept under `tab`'s key in `storage` when there is one.
    pub fn new(site: &str, kept: Option<(Storage, &str)>) -> Self {
        Outbox {
            site: site.to_owned(),
            queue: Queue::default(),
            kept: kept.map(|(storage, tab)| (storage, queue::key_for(tab))),
            failures: 0,
            not_before: 0.0,
            in_flight: false,
            dropped: 0,
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether a request is on its way.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Queues an event and keeps the queue.
    pub fn push(&mut self, entry: Entry, now: f64) {
        self.dropped += self.queue.push(entry);
        self.keep(now as i64);
    }

    /// Writes the queue (or removes its key when empty) with `heartbeat` as its last sign of
    /// life. A full storage only costs persistence: the events stay in memory for this page.
    pub fn keep(&self, heartbeat: i64) {
        if let Some((storage, key)) = &self.kept {
            let _ = if self.queue.is_empty() {
                storage.remove_item(key)
            } else {
                storage.set_item(key, &self.queue.encode(heartbeat))
            };
        }
    }

    /// Takes over the queues of tabs that are gone; returns whether any were found.
    pub fn adopt(&mut self, now: f64) -> bool {
        let Some((storage, own)) = &self.kept else {
            return false;
        };
        let length = storage.length().unwrap_or(0);
        let keys: Vec<String> = (0..length)
            .filter_map(|index| storage.key(index).ok().flatten())
            .filter(|key| key.starts_with(queue::KEY_PREFIX) && key != own)
            .collect();
        let mut found = false;
        for key in keys {
            let Some(text) = storage.get_item(&key).ok().flatten() else {
                continue;
            };
            let (heartbeat, orphan) = Queue::decode(&text);
            if queue::is_orphan(heartbeat, now as i64) {
                // Ours first, theirs removed second: a crash in between duplicates, never loses.
                self.dropped += self.queue.merge(orphan);
                self.keep(now as i64);
                let _ = storage.remove_item(&key);
                found = true;
            }
        }
        found
    }

    /// The next batch to post, unless one is in flight, nothing waits, or a backoff is running.
    pub fn begin(&mut self, now: f64) -> Option<Job> {
        if self.in_flight || now < self.not_before {
            return None;
        }
        let (visitor, events) = self.queue.next_batch()?;
        let job = Job {
            body: queue::body(&self.site, visitor, &events),
            ids: events.iter().map(|entry| entry.id.clone()).collect(),
        };
        self.in_flight = true;
        Some(job)
    }

    /// Applies the collector's answer to `job`; returns in how many milliseconds to try again
    /// (`None`: nothing left to send).
    pub fn finish(&mut self, job: Job, outcome: Outcome, now: f64, random: f64) -> Option<f64> {
        self.in_flight = false;
        match outcome {
            Outcome::Stored | Outcome::Refused => {
                self.queue.remove(&job.ids);
                self.failures = 0;
                self.not_before = 0.0;
                self.keep(now as i64);
                (!self.queue.is_empty()).then_some(0.0)
            }
            Outcome::Later(retry_after) => {
                self.failures = self.failures.saturating_add(1);
                let wait = queue::backoff_millis(self.failures, random, retry_after) as f64;
                self.not_before = now + wait;
                self.keep(now as i64);
                Some(wait)
            }
        }
    }

    /// How long until a backoff ends (0 when none runs).
    pub fn wait(&self, now: f64) -> f64 {
        (self.not_before - now).max(0.0)
    }

    /// Every batch waiting, as beacon bodies (the events stay queued until acknowledged).
    pub fn bodies(&self) -> Vec<String> {
        let mut rest = self.queue.clone();
        let mut bodies = Vec::new();
        while let Some((visitor, events)) = rest.next_batch() {
            bodies.push(queue::body(&self.site, visitor, &events));
            let ids: Vec<String> = events.iter().map(|entry| entry.id.clone()).collect();
            rest.remove(&ids);
        }
        bodies
    }

    /// Forgets everything, stored copy included (consent withdrawn).
    pub fn clear(&mut self) {
        self.queue = Queue::default();
        self.keep(0);
    }

    /// Stops keeping the queue on the device (the memory copy stays for this page).
    pub fn forget_storage(&mut self) {
        self.kept = None;
    }
}
