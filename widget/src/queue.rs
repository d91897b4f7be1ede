//! The outbox: events waiting for the collector's acknowledgement, and when to try again.
//!
//! Each tab keeps its own queue under its own `localStorage` key ([`key_for`]), so tabs never
//! overwrite each other's writes (storage has no cross-tab transactions): what one tab records
//! cannot be lost by another tab's read-modify-write. A queue whose tab is gone (its heartbeat
//! is old, or it said goodbye on `pagehide`) is adopted by the next tab that looks, merged by
//! event id. Two tabs may then briefly send the same event; the collector stores each event id
//! once, so that costs a duplicate count, never a loss.
//!
//! The queue is bounded by [`MAX_EVENTS`] and [`MAX_BYTES`]. When full, the oldest event that
//! is not an answer goes first; answers go only when nothing else is left to drop.
//!
//! Pure code: the browser side lives in `delivery`; these rules are tested natively.

use crate::session::{parse_int, push_int};

/// The most events one tab's queue keeps.
pub const MAX_EVENTS: usize = 500;
/// The most bytes of event JSON one tab's queue keeps (`localStorage` is the host page's too).
pub const MAX_BYTES: usize = 128 * 1024;
/// The most bytes of events in one request, below the collector's 64 KB and `sendBeacon`'s
/// 64 KB in-flight allowance, leaving room for the envelope.
pub const MAX_BATCH_BYTES: usize = 48 * 1024;
/// The most events in one request (the collector's limit).
pub const MAX_BATCH_EVENTS: usize = 100;
/// The prefix of every tab's queue key.
pub const KEY_PREFIX: &str = "touchstone.q.";
/// A queue whose tab has not written for this long is another tab's to adopt. Long enough that
/// a background tab (whose timers the browser slows to once a minute) keeps its own.
pub const STALE_MILLIS: i64 = 3 * 60 * 1000;

/// The storage key of the tab `tab`'s queue.
pub fn key_for(tab: &str) -> String {
    [KEY_PREFIX, tab].concat()
}

/// One queued event: its JSON as it will be sent, with what the queue needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Whether it is an answer (kept longest when the queue is full).
    pub answer: bool,
    /// The visitor it belongs to (36-character UUID text).
    pub visitor: String,
    /// The event's id (36-character UUID text), to merge adopted queues.
    pub id: String,
    /// The event, as JSON.
    pub json: String,
}

const UUID_LEN: usize = 36;

/// One tab's queue, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    entries: Vec<Entry>,
    bytes: usize,
}

impl Queue {
    /// The queued events, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an event with this id waits.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|entry| entry.id == id)
    }

    /// Queues `entry` at the end, then drops what the bounds require; returns how many were
    /// dropped.
    pub fn push(&mut self, entry: Entry) -> usize {
        self.bytes += entry.json.len();
        self.entries.push(entry);
        let mut dropped = 0;
        while self.entries.len() > MAX_EVENTS || self.bytes > MAX_BYTES {
            let victim = self
                .entries
                .iter()
                .position(|entry| !entry.answer)
                .unwrap_or(0);
            let gone = self.entries.remove(victim);
            self.bytes -= gone.json.len();
            dropped += 1;
        }
        dropped
    }

    /// Adds the events of `other` this queue does not hold, keeping time order roughly (adopted
    /// events are older than most of ours, but order does not matter to the collector).
    pub fn merge(&mut self, other: Queue) -> usize {
        let mut dropped = 0;
        for entry in other.entries {
            if !self.contains(&entry.id) {
                dropped += self.push(entry);
            }
        }
        dropped
    }

    /// The next request's events: the oldest events of the oldest entry's visitor, at most
    /// [`MAX_BATCH_EVENTS`] and [`MAX_BATCH_BYTES`] (one event is always taken).
    pub fn next_batch(&self) -> Option<(&str, Vec<&Entry>)> {
        let visitor = self.entries.first()?.visitor.as_str();
        let mut bytes = 0;
        let mut batch = Vec::new();
        for entry in self.entries.iter().filter(|entry| entry.visitor == visitor) {
            if batch.len() == MAX_BATCH_EVENTS
                || (!batch.is_empty() && bytes + entry.json.len() + 1 > MAX_BATCH_BYTES)
            {
                break;
            }
            bytes += entry.json.len() + 1;
            batch.push(entry);
        }
        Some((visitor, batch))
    }

    /// Forgets the events with these ids (acknowledged, or refused for good).
    pub fn remove(&mut self, ids: &[String]) {
        self.entries.retain(|entry| !ids.contains(&entry.id));
        self.bytes = self.entries.iter().map(|entry| entry.json.len()).sum();
    }

    /// The stored form: a heartbeat line (the tab's last write, 0 once it has gone), then one
    /// line per event: `a` or `e`, visitor, id, JSON (serialized JSON holds no raw newline).
    pub fn encode(&self, heartbeat: i64) -> String {
        let mut text = String::with_capacity(self.bytes + 80 * self.entries.len() + 16);
        push_int(&mut text, heartbeat);
        for entry in &self.entries {
            text.push('\n');
            text.push(if entry.answer { 'a' } else { 'e' });
            text.push_str(&entry.visitor);
            text.push_str(&entry.id);
            text.push_str(&entry.json);
        }
        text
    }

    /// Reads [`Queue::encode`]'s form: the heartbeat and the queue; lines that do not read are
    /// skipped.
    pub fn decode(text: &str) -> (i64, Queue) {
        let mut lines = text.split('\n');
        let heartbeat = lines.next().and_then(parse_int).unwrap_or(0);
        let mut queue = Queue::default();
        for line in lines {
            let answer = match line.as_bytes().first() {
                Some(b'a') => true,
                Some(b'e') => false,
                _ => continue,
            };
            let (Some(visitor), Some(id), Some(json)) = (
                line.get(1..1 + UUID_LEN),
                line.get(1 + UUID_LEN..1 + 2 * UUID_LEN),
                line.get(1 + 2 * UUID_LEN..),
            ) else {
                continue;
            };
            if json.starts_with('{') {
                queue.push(Entry {
                    answer,
                    visitor: visitor.to_owned(),
                    id: id.to_owned(),
                    json: json.to_owned(),
                });
            }
        }
        (heartbeat, queue)
    }
}

/// Whether another tab's queue, last written at `heartbeat`, is free to adopt at `now`.
pub fn is_orphan(heartbeat: i64, now: i64) -> bool {
    heartbeat == 0 || now - heartbeat > STALE_MILLIS || heartbeat > now + STALE_MILLIS
}

/// The collect request body for `visitor`'s `events`: the envelope around the events' JSON,
/// joined as text so queued events are never parsed again. `site` and `visitor` hold only
/// characters JSON needs no escape for (their own rules).
pub fn body(site: &str, visitor: &str, events: &[&Entry]) -> String {
    let size = events
        .iter()
        .map(|entry| entry.json.len() + 1)
        .sum::<usize>();
    let mut text = String::with_capacity(size + 96);
    text.push_str("{\"site\":\"");
    text.push_str(site);
    text.push_str("\",\"visitor\":\"");
    text.push_str(visitor);
    text.push_str("\",\"events\":[");
    for (index, entry) in events.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&entry.json);
    }
    text.push_str("]}");
    text
}

/// When to try again after `failures` failed attempts in a row (1 for the first): exponential
/// from 1 s, at most 5 minutes, with "equal jitter" from `random` in 0..1 (so tabs and
/// visitors that failed together do not retry together), and never before the collector's
/// `Retry-After` in milliseconds.
pub fn backoff_millis(failures: u32, random: f64, retry_after: Option<i64>) -> i64 {
    const BASE: i64 = 1_000;
    const CAP: i64 = 5 * 60 * 1_000;
    let ceiling = BASE
        .saturating_mul(1i64 << failures.saturating_sub(1).min(20))
        .min(CAP);
    let jittered = ceiling / 2 + (random.clamp(0.0, 1.0) * (ceiling / 2) as f64) as i64;
    // A Retry-After is honoured as given but bounded, so a bad header cannot park the queue.
    jittered.max(retry_after.unwrap_or(0).clamp(0, 60 * 60 * 1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISITOR: &str = "0b7c5a3e-8f3e-4c1e-9d7a-1f2e3d4c5b6a";
    const OTHER: &str = "11111111-8f3e-4c1e-9d7a-1f2e3d4c5b6a";

    fn entry(number: usize, answer: bool) -> Entry {
        Entry {
            answer,
            visitor: VISITOR.to_owned(),
            id: ["00000000-0000-4000-8000-", &format!("{number:012}")].concat(),
            json: format!(r#"{{"n":{number}}}"#),
        }
    }

    fn numbers(queue: &Queue) -> Vec<usize> {
        queue
            .entries()
            .iter()
            .map(|entry| entry.id[24..].parse().unwrap())
            .collect()
    }

    #[test]
    fn a_full_queue_drops_the_oldest_non_answers_first() {
        let mut queue = Queue::default();
        queue.push(entry(0, true));
        for number in 1..MAX_EVENTS {
            queue.push(entry(number, false));
        }
        assert_eq!(queue.push(entry(MAX_EVENTS, false)), 1);
        assert_eq!(queue.entries().len(), MAX_EVENTS);
        assert_eq!(
            numbers(&queue)[..3],
            [0, 2, 3],
            "the answer stays, event 1 goes"
        );
        assert_eq!(*numbers(&queue).last().unwrap(), MAX_EVENTS);
    }

    #[test]
    fn a_queue_of_answers_drops_a_new_non_answer_then_the_oldest_answer() {
        let mut queue = Queue::default();
        for number in 0..MAX_EVENTS {
            queue.push(entry(number, true));
        }
        queue.push(entry(9_999, false));
        assert!(!queue.contains(&entry(9_999, false).id));
        queue.push(entry(10_000, true));
        assert_eq!(numbers(&queue)[0], 1);
        assert_eq!(queue.entries().len(), MAX_EVENTS);
    }

    #[test]
    fn the_queue_is_bounded_by_bytes() {
        let mut queue = Queue::default();
        let big = |number| Entry {
            json: ["{\"pad\":\"", &"x".repeat(10_000), "\"}"].concat(),
            ..entry(number, false)
        };
        for number in 0..20 {
            queue.push(big(number));
        }
        assert!(queue.entries().len() < 20);
        assert!(queue.entries().iter().map(|e| e.json.len()).sum::<usize>() <= MAX_BYTES);
        assert_eq!(*numbers(&queue).last().unwrap(), 19, "the newest stays");
    }

    #[test]
    fn batches_are_oldest_first_one_visitor_and_bounded() {
        let mut queue = Queue::default();
        for number in 0..150 {
            queue.push(entry(number, false));
        }
        queue.push(Entry {
            visitor: OTHER.to_owned(),
            ..entry(150, true)
        });
        let (visitor, batch) = queue.next_batch().unwrap();
        assert_eq!(visitor, VISITOR);
        assert_eq!(batch.len(), MAX_BATCH_EVENTS);
        let sent: Vec<String> = batch.iter().map(|entry| entry.id.clone()).collect();
        queue.remove(&sent);
        let (_, batch) = queue.next_batch().unwrap();
        assert_eq!(batch.len(), 50);
        assert_eq!(numbers(&queue)[0], 100);
        let sent: Vec<String> = batch.iter().map(|entry| entry.id.clone()).collect();
        queue.remove(&sent);
        let (visitor, batch) = queue.next_batch().unwrap();
        assert_eq!((visitor, batch.len()), (OTHER, 1));
    }

    #[test]
    fn a_batch_body_is_a_collect_request() {
        let events = [entry(1, false), entry(2, true)];
        let text = body("demo", VISITOR, &events.iter().collect::<Vec<_>>());
        assert_eq!(
            text,
            format!(r#"{{"site":"demo","visitor":"{VISITOR}","events":[{{"n":1}},{{"n":2}}]}}"#)
        );
    }

    #[test]
    fn a_queue_reads_back_and_merges_by_id() {
        let mut queue = Queue::default();
        queue.push(entry(1, false));
        queue.push(entry(2, true));
        let text = queue.encode(1_763_900_000_000);
        let (heartbeat, read) = Queue::decode(&text);
        assert_eq!((heartbeat, &read), (1_763_900_000_000, &queue));
        let (_, garbled) = Queue::decode("x\nzzz\ne123\n");
        assert!(garbled.is_empty());

        let mut other = Queue::default();
        other.push(entry(2, true));
        other.push(entry(3, false));
        queue.merge(other);
        assert_eq!(numbers(&queue), [1, 2, 3]);
    }

    #[test]
    fn queues_are_orphans_once_stale_or_closed() {
        let now = 1_763_900_000_000;
        assert!(is_orphan(0, now));
        assert!(!is_orphan(now - 1_000, now));
        assert!(is_orphan(now - STALE_MILLIS - 1, now));
    }

    #[test]
    fn backoff_grows_with_jitter_to_a_cap_and_respects_retry_after() {
        assert_eq!(backoff_millis(1, 0.0, None), 500);
        assert_eq!(backoff_millis(1, 1.0, None), 1_000);
        assert_eq!(backoff_millis(4, 1.0, None), 8_000);
        assert!((4_000..=8_000).contains(&backoff_millis(4, 0.3, None)));
        assert_eq!(backoff_millis(40, 1.0, None), 300_000);
        assert_eq!(backoff_millis(1, 0.5, Some(30_000)), 30_000);
        assert_eq!(backoff_millis(10, 1.0, Some(1_000)), 300_000);
        assert_eq!(backoff_millis(1, 0.0, Some(i64::MAX)), 3_600_000);
    }
}
