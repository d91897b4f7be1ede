//! Did it change? The difference between two Net Promoter Scores, with its 95% interval and a
//! two-sided p-value: two periods, or respondents whose journey included a touchpoint against
//! those whose journey did not.
//!
//! Method: a two-sample Wald z-test on the difference of two independent NPS estimates. Each
//! NPS is the mean of answers scored +1, 0, −1 with variance `(p_pro + p_det − (p_pro − p_det)²)
//! / n` (see [`Tally::margin_of_error`]); the difference's standard error is the root of the two
//! variances' sum (unpooled: the groups may differ in spread), its interval ±1.96 standard
//! errors, and the p-value `2·(1 − Φ(|z|))` with `z` the difference over its standard error.
//! Like the interval of one score, it leans on the normal approximation: below
//! [`crate::SMALL_SAMPLE_BELOW`] answers in either group the comparison is flagged, and a zero standard
//! error (both groups unanimous) gives no p-value rather than a false certainty.

use crate::tally::{Interval, Tally};
use serde::{Deserialize, Serialize};

/// The two-sided 95% quantile of the standard normal distribution.
const Z_95: f64 = 1.959_963_984_540_054;

/// The name of the method, as reports state it.
pub const METHOD: &str = "two-sample z-test on the difference of NPS (Wald, unpooled variances)";

/// How a second group's NPS differs from a first's.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The second NPS minus the first, in NPS points (−200..=200); `None` when either group has
    /// no answers.
    pub difference: Option<f64>,
    /// The 95% interval of the difference.
    pub confidence_interval: Option<Interval>,
    /// The two-sided p-value of "no difference"; `None` without answers or when the standard
    /// error is zero.
    pub p_value: Option<f64>,
    /// Fewer than [`crate::SMALL_SAMPLE_BELOW`] answers in either group: the interval and p-value are
    /// optimistic.
    pub small_sample: bool,
}

impl Comparison {
    /// Compares `second` against `first`.
    pub fn between(first: Tally, second: Tally) -> Self {
        let small_sample = first.is_small_sample() || second.is_small_sample();
        let (Some(a), Some(b)) = (first.nps(), second.nps()) else {
            return Comparison {
                difference: None,
                confidence_interval: None,
                p_value: None,
                small_sample,
            };
        };
        let difference = b - a;
        let standard_error = (variance(&first) + variance(&second)).sqrt() * 100.0;
        let margin = Z_95 * standard_error;
        let p_value = (standard_error > 0.0)
            .then(|| libm::erfc((difference / standard_error).abs() / std::f64::consts::SQRT_2));
        Comparison {
            difference: Some(difference),
            confidence_interval: Some(Interval {
                low: (difference - margin).max(-200.0),
                high: (difference + margin).min(200.0),
            }),
            p_value,
            small_sample,
        }
    }
}

/// The variance of a tally's NPS as a share (−1..1), or 0 without answers.
fn variance(tally: &Tally) -> f64 {
    let n = tally.responses();
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let (promoters, detractors) = (tally.promoters as f64 / n, tally.detractors as f64 / n);
    ((promoters + detractors - (promoters - detractors).powi(2)) / n).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() < tolerance
    }

    #[test]
    fn the_worked_example_by_hand() {
        // A: 50/30/20 of 100, NPS 30, Var 0.0061. B: 60/25/15 of 100, NPS 45,
        // Var = (0.75 − 0.45²)/100 = 0.005475. SE = √0.011575 = 0.107587 → 10.7587 points;
        // difference 15, interval 15 ± 1.959964 × 10.7587 = −6.0867..36.0867;
        // z = 1.394218, p = erfc(z/√2) = 0.163252.
        let comparison = Comparison::between(Tally::new(50, 30, 20), Tally::new(60, 25, 15));
        assert!(close(comparison.difference.unwrap(), 15.0, 1e-9));
        let interval = comparison.confidence_interval.unwrap();
        assert!(close(interval.low, -6.086_699, 1e-5), "{interval:?}");
        assert!(close(interval.high, 36.086_699, 1e-5), "{interval:?}");
        assert!(
            close(comparison.p_value.unwrap(), 0.163_252, 1e-5),
            "{comparison:?}"
        );
        assert!(!comparison.small_sample);
    }

    #[test]
    fn a_small_opposite_pair_is_flagged() {
        // 3/1/1 against 1/1/3 (n = 5 each): difference −80, SE 50.596, z −1.581139, p 0.113846.
        let comparison = Comparison::between(Tally::new(3, 1, 1), Tally::new(1, 1, 3));
        assert!(close(comparison.difference.unwrap(), -80.0, 1e-9));
        assert!(close(comparison.p_value.unwrap(), 0.113_846, 1e-5));
        assert!(comparison.small_sample);
    }

    #[test]
    fn empty_and_unanimous_groups_claim_nothing() {
        let empty = Comparison::between(Tally::default(), Tally::new(5, 0, 0));
        assert_eq!((empty.difference, empty.p_value), (None, None));
        let unanimous = Comparison::between(Tally::new(40, 0, 0), Tally::new(0, 0, 40));
        assert_eq!(unanimous.difference, Some(-200.0));
        assert_eq!(unanimous.p_value, None, "no spread, no p-value");
    }

    fn tallies() -> impl Strategy<Value = Tally> {
        (0u64..500, 0u64..500, 0u64..500).prop_map(|(p, s, d)| Tally::new(p, s, d))
    }

    proptest! {
        #[test]
        fn the_interval_holds_the_difference_and_p_is_a_probability(a in tallies(), b in tallies()) {
            let comparison = Comparison::between(a, b);
            if let (Some(difference), Some(interval)) = (comparison.difference, comparison.confidence_interval) {
                prop_assert!(interval.low <= difference + 1e-9 && difference <= interval.high + 1e-9);
                prop_assert!(-200.0 <= interval.low && interval.high <= 200.0);
            }
            if let Some(p) = comparison.p_value {
                prop_assert!((0.0..=1.0).contains(&p));
            }
        }

        #[test]
        fn swapping_the_groups_mirrors_the_result(a in tallies(), b in tallies()) {
            let forth = Comparison::between(a, b);
            let back = Comparison::between(b, a);
            prop_assert_eq!(forth.difference.map(|d| -d), back.difference);
            prop_assert_eq!(forth.p_value, back.p_value);
        }

        #[test]
        fn more_answers_of_the_same_mix_narrow_the_interval(p in 1u64..50, s in 1u64..50, d in 1u64..50, k in 2u64..10) {
            // Both groups k times larger: the same shares, so the standard error shrinks by √k.
            let width = |scale: u64| {
                let interval = Comparison::between(
                    Tally::new(p * scale, s * scale, d * scale),
                    Tally::new(d * scale, s * scale, p * scale),
                )
                .confidence_interval
                .unwrap();
                interval.high - interval.low
            };
            prop_assert!(width(k) < width(1));
        }

        #[test]
        fn identical_groups_never_look_different(p in 0u64..200, s in 0u64..200, d in 0u64..200) {
            let tally = Tally::new(p, s, d);
            let comparison = Comparison::between(tally, tally);
            if let Some(difference) = comparison.difference {
                prop_assert_eq!(difference, 0.0);
            }
            if let Some(p_value) = comparison.p_value {
                prop_assert!((p_value - 1.0).abs() < 1e-12);
            }
        }
    }
}
