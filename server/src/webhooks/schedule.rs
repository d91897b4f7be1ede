//! When a failed delivery is tried again: exponential backoff with jitter (30 s, 2 min, 8 min,
//! 32 min … each ±20%, at most 6 h apart by default), a receiver's `Retry-After` honoured up to
//! that cap, and giving up after 20 attempts or once the next one would come more than three
//! days after the answer.

use std::time::Duration;

/// How failed deliveries are retried. `touchstone serve` takes each as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; each later wait is four times the one before.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// How long after the delivery was made the last attempt may come.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            max_delay: Duration::from_secs(6 * 3600),
            max_attempts: 20,
            max_age: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

/// How much each wait is stretched or shrunk at random, so receivers that come back after an
/// outage are not hit by every collector's retries in the same second.
const JITTER: f64 = 0.2;

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1 for the first), before jitter:
    /// `base × 4^(attempt − 1)`, at most `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 4f64.powi(attempt.saturating_sub(1).min(64) as i32);
        let wait = self.base.as_secs_f64() * factor;
        Duration::from_secs_f64(wait.min(self.max_delay.as_secs_f64()))
    }

    /// [`Self::backoff`] stretched by a factor between 0.8 and 1.2 drawn from `random` (any
    /// uniformly random number), still at most `max_delay`.
    pub fn jittered(&self, attempt: u32, random: u64) -> Duration {
        let unit = (random >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit;
        self.backoff(attempt).mul_f64(factor).min(self.max_delay)
    }

    /// When to try again after failed attempt number `attempt` of a delivery made at
    /// `created_at`, failed at `now` (both milliseconds since the epoch), or `None` to give up.
    /// A receiver's `Retry-After` is honoured when it asks for longer than the backoff, up to
    /// `max_delay`.
    pub fn next_attempt(
        &self,
        attempt: u32,
        created_at: i64,
        now: i64,
        retry_after: Option<Duration>,
        random: u64,
    ) -> Option<i64> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = self
            .jittered(attempt, random)
            .max(retry_after.unwrap_or_default())
            .min(self.max_delay);
        let next = now.saturating_add(millis(wait));
        let deadline = created_at.saturating_add(millis(self.max_age));
        (next <= deadline).then_some(next)
    }
}

/// `duration` in whole milliseconds, as the store keeps times; an absurdly long one saturates.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A `Retry-After` header's wait: whole seconds, or an HTTP date (`Wed, 21 Oct 2015 07:28:00
/// GMT`) compared with `now` (milliseconds since the epoch). Nonsense gives `None`.
pub fn retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.as_millisecond().saturating_sub(now).max(0);
    Some(Duration::from_millis(wait as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn the_default_waits_grow_fourfold_from_thirty_seconds_to_six_hours() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=7).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [30, 120, 480, 1920, 7680, 21600, 21600]);
    }

    #[test]
    fn jitter_stays_within_a_fifth_either_way() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.jittered(1, 0), Duration::from_secs(24));
        let highest = policy.jittered(1, u64::MAX);
        assert!(highest <= Duration::from_secs(36) && highest > Duration::from_secs(35));
        assert_eq!(
            policy.jittered(1, u64::MAX / 2 + 1),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn a_delivery_is_given_up_after_its_attempts_or_its_age() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_attempt(20, 0, MINUTE, None, 0), None);
        assert!(policy.next_attempt(19, 0, MINUTE, None, 0).is_some());
        let three_days = 3 * 24 * 60 * MINUTE;
        assert_eq!(
            policy.next_attempt(10, 0, three_days - MINUTE, None, 0),
            None,
            "the next attempt would come after three days"
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_longest_wait() {
        let policy = RetryPolicy::default();
        let now = 10 * MINUTE;
        let asked = Some(Duration::from_secs(600));
        assert_eq!(
            policy.next_attempt(1, 0, now, asked, 0),
            Some(now + 10 * MINUTE)
        );
        let too_long = Some(Duration::from_secs(7 * 24 * 3600));
        assert_eq!(
            policy.next_attempt(1, 0, now, too_long, 0),
            Some(now + 6 * 60 * MINUTE)
        );
        // A shorter Retry-After than the backoff changes nothing.
        let short = Some(Duration::from_secs(1));
        assert_eq!(
            policy.next_attempt(1, 0, now, short, 0),
            policy.next_attempt(1, 0, now, None, 0)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("120", 0), Some(Duration::from_secs(120)));
        // 2015-10-21T07:28:00Z is 1445412480 s after the epoch.
        let now = 1_445_412_480_000 - 90_000;
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 10 * MINUTE),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        for nonsense in ["", "soon", "-5", "1.5"] {
            assert_eq!(retry_after(nonsense, 0), None, "{nonsense}");
        }
    }

    proptest! {
        #[test]
        fn waits_never_shrink_and_never_pass_the_cap(attempt in 1u32..100, random: u64) {
            let policy = RetryPolicy::default();
            prop_assert!(policy.backoff(attempt + 1) >= policy.backoff(attempt));
            prop_assert!(policy.jittered(attempt, random) <= policy.max_delay);
            let wait = policy.jittered(attempt, random).as_secs_f64();
            let plain = policy.backoff(attempt).as_secs_f64();
            prop_assert!(wait >= plain * 0.8 - 1e-6 && wait <= plain * 1.2 + 1e-6);
        }

        #[test]
        fn the_next_attempt_is_later_and_within_the_deadline(
            attempt in 1u32..30,
            created in 0i64..1_000_000_000_000,
            elapsed in 0i64..400_000_000,
            random: u64,
        ) {
            let policy = RetryPolicy::default();
            let now = created + elapsed;
            if let Some(next) = policy.next_attempt(attempt, created, now, None, random) {
                prop_assert!(next > now);
                prop_assert!(next <= created + 3 * 24 * 3_600_000);
                prop_assert!(attempt < policy.max_attempts);
            }
        }
    }
}
