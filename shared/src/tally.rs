//! Counting answers and turning the counts into a Net Promoter Score with an honest 95% interval.

use crate::score::Category;
use serde::{Deserialize, Serialize};

/// The confidence level of [`Tally::interval`].
pub const CONFIDENCE_LEVEL: f64 = 0.95;

/// The two-sided 95% quantile of the standard normal distribution.
pub(crate) const Z_95: f64 = 1.959_963_984_540_054;

/// Below this many answers a score is flagged as a small sample.
///
/// The NPS is the mean of `n` answers scored +1 (promoter), 0 (passive) or −1 (detractor), and
/// its interval treats that mean as normally distributed. With fewer than about 30 answers that
/// is wishful: the exact coverage of the "95%" interval for a 50/30/20 mix is 90% at n = 10 and
/// 84% at n = 5, and worse for lopsided mixes (a unanimous handful gives a zero-width interval).
/// From 30 answers on it stays within a few points of 95% (93.5% for that mix); the tests below
/// compute these coverages exactly.
pub const SMALL_SAMPLE_BELOW: u64 = 30;

/// How many promoters, passives and detractors answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Respondents who chose 9 or 10.
    pub promoters: u64,
    /// Respondents who chose 7 or 8.
    pub passives: u64,
    /// Respondents who chose 0 to 6.
    pub detractors: u64,
}

/// A closed interval of NPS points, `low <= high`, both within −100..=100.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
}

impl Tally {
    /// A tally of the given counts.
    pub fn new(promoters: u64, passives: u64, detractors: u64) -> Self {
        Tally {
            promoters,
            passives,
            detractors,
        }
    }

    /// Counts one more answer in `category`.
    pub fn record(&mut self, category: Category) {
        self.record_many(category, 1);
    }

    /// Counts `count` more answers in `category`.
    pub fn record_many(&mut self, category: Category, count: u64) {
        match category {
            Category::Promoter => self.promoters += count,
            Category::Passive => self.passives += count,
            Category::Detractor => self.detractors += count,
        }
    }

    /// All answers counted.
    pub fn responses(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    /// The Net Promoter Score: the percentage of promoters minus the percentage of detractors,
    /// from −100 to 100. `None` when nobody has answered.
    pub fn nps(&self) -> Option<f64> {
        let (promoters, detractors) = self.shares()?;
        Some(100.0 * (promoters - detractors))
    }

    /// Half the width of the 95% confidence interval of the NPS, in NPS points.
    ///
    /// Uses the standard variance of a difference of two shares of one multinomial sample:
    /// `Var = (p_pro + p_det − (p_pro − p_det)²) / n`, and the normal approximation. With few
    /// answers the approximation is optimistic; callers should say so.
    pub fn margin_of_error(&self) -> Option<f64> {
        let (promoters, detractors) = self.shares()?;
        let n = self.responses() as f64;
        let variance = (promoters + detractors - (promoters - detractors).powi(2)) / n;
        // Rounding can push a zero variance a hair below zero.
        Some(100.0 * Z_95 * variance.max(0.0).sqrt())
    }

    /// The 95% confidence interval of the NPS, clipped to the scale's −100..=100.
    pub fn interval(&self) -> Option<Interval> {
        let nps = self.nps()?;
        let margin = self.margin_of_error()?;
        Some(Interval {
            low: (nps - margin).max(-100.0),
            high: (nps + margin).min(100.0),
        })
    }

    /// Whether there are too few answers for the interval to be trusted (see
    /// [`SMALL_SAMPLE_BELOW`]). An empty tally is a small sample too.
    pub fn is_small_sample(&self) -> bool {
        self.responses() < SMALL_SAMPLE_BELOW
    }

    /// The shares of promoters and detractors, or `None` without answers.
    fn shares(&self) -> Option<(f64, f64)> {
        let n = self.responses();
        (n > 0).then(|| {
            (
                self.promoters as f64 / n as f64,
                self.detractors as f64 / n as f64,
            )
        })
    }
}

/// A tally with the statistics every report shows beside it: what the NPS and trend reports
/// send for a period or a point, so the collector and any client compute them one way.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NpsSummary {
    /// All answers counted.
    pub responses: u64,
    /// Respondents who chose 9 or 10.
    pub promoters: u64,
    /// Respondents who chose 7 or 8.
    pub passives: u64,
    /// Respondents who chose 0 to 6.
    pub detractors: u64,
    /// −100..=100, or `None` without answers.
    pub nps: Option<f64>,
    /// Half the width of the 95% interval, in NPS points; `None` without answers.
    pub margin_of_error: Option<f64>,
    /// The 95% interval; `None` without answers.
    pub confidence_interval: Option<Interval>,
    /// Fewer answers than [`SMALL_SAMPLE_BELOW`]: read the interval as optimistic.
    pub small_sample: bool,
}

impl From<Tally> for NpsSummary {
    fn from(tally: Tally) -> Self {
        NpsSummary {
            responses: tally.responses(),
            promoters: tally.promoters,
            passives: tally.passives,
            detractors: tally.detractors,
            nps: tally.nps(),
            margin_of_error: tally.margin_of_error(),
            confidence_interval: tally.interval(),
            small_sample: tally.is_small_sample(),
        }
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.promoters += other.promoters;
        self.passives += other.passives;
        self.detractors += other.detractors;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn an_empty_tally_has_no_score() {
        let tally = Tally::default();
        assert_eq!(tally.nps(), None);
        assert_eq!(tally.margin_of_error(), None);
        assert_eq!(tally.interval(), None);
    }

    #[test]
    fn nps_is_promoter_share_minus_detractor_share() {
        // 50 promoters, 30 passives, 20 detractors: 50% − 20% = 30.
        assert!(close(Tally::new(50, 30, 20).nps().unwrap(), 30.0));
        assert!(close(Tally::new(1, 0, 0).nps().unwrap(), 100.0));
        assert!(close(Tally::new(0, 0, 3).nps().unwrap(), -100.0));
        assert!(close(Tally::new(0, 7, 0).nps().unwrap(), 0.0));
    }

    #[test]
    fn margin_of_error_matches_the_formula_worked_by_hand() {
        // n = 100, p_pro = 0.5, p_det = 0.2:
        // Var = (0.5 + 0.2 − 0.3²) / 100 = 0.61 / 100 = 0.0061; SE = 0.078102…;
        // margin = 1.959964 × 0.078102 × 100 = 15.3077… NPS points.
        let margin = Tally::new(50, 30, 20).margin_of_error().unwrap();
        assert!((margin - 15.3077).abs() < 1e-3, "{margin}");
        let interval = Tally::new(50, 30, 20).interval().unwrap();
        assert!((interval.low - 14.6923).abs() < 1e-3 && (interval.high - 45.3077).abs() < 1e-3);
    }

    #[test]
    fn unanimous_answers_have_no_sampling_spread() {
        assert!(close(Tally::new(10, 0, 0).margin_of_error().unwrap(), 0.0));
        assert!(close(Tally::new(0, 4, 0).margin_of_error().unwrap(), 0.0));
    }

    #[test]
    fn recording_counts_into_the_right_group() {
        let mut tally = Tally::default();
        tally.record(Category::Promoter);
        tally.record(Category::Passive);
        tally.record(Category::Detractor);
        tally.record(Category::Detractor);
        assert_eq!(tally, Tally::new(1, 1, 2));
        assert_eq!(tally.responses(), 4);
    }

    /// The exact probability that the 95% interval of `n` answers drawn from the mix
    /// `(promoters, passives, detractors)` (shares summing to 1) contains the true NPS.
    fn exact_coverage(n: u64, mix: (f64, f64, f64)) -> f64 {
        let true_nps = 100.0 * (mix.0 - mix.2);
        let ln_factorial = |k: u64| (1..=k).map(|i| (i as f64).ln()).sum::<f64>();
        let mut covered = 0.0;
        for promoters in 0..=n {
            for detractors in 0..=n - promoters {
                let passives = n - promoters - detractors;
                let ln_probability = ln_factorial(n)
                    - ln_factorial(promoters)
                    - ln_factorial(passives)
                    - ln_factorial(detractors)
                    + promoters as f64 * mix.0.ln()
                    + passives as f64 * mix.1.ln()
                    + detractors as f64 * mix.2.ln();
                let interval = Tally::new(promoters, passives, detractors)
                    .interval()
                    .unwrap();
                if interval.low <= true_nps && true_nps <= interval.high {
                    covered += ln_probability.exp();
                }
            }
        }
        covered
    }

    #[test]
    fn the_interval_is_trustworthy_only_from_the_small_sample_threshold_up() {
        // The figures quoted on SMALL_SAMPLE_BELOW.
        let mix = (0.5, 0.3, 0.2);
        assert!((exact_coverage(5, mix) - 0.840).abs() < 0.005);
        assert!((exact_coverage(10, mix) - 0.896).abs() < 0.005);
        assert!((exact_coverage(SMALL_SAMPLE_BELOW, mix) - 0.935).abs() < 0.005);
        for mix in [(0.5, 0.3, 0.2), (0.7, 0.2, 0.1), (0.8, 0.15, 0.05)] {
            assert!(exact_coverage(SMALL_SAMPLE_BELOW, mix) > 0.91, "{mix:?}");
            assert!(exact_coverage(10, mix) < 0.9, "{mix:?}");
        }
    }

    #[test]
    fn a_summary_flags_small_samples_and_carries_the_tallys_statistics() {
        let empty = NpsSummary::from(Tally::default());
        assert!(empty.small_sample);
        assert_eq!(
            (empty.responses, empty.nps, empty.confidence_interval),
            (0, None, None)
        );
        assert!(NpsSummary::from(Tally::new(10, 10, 9)).small_sample);
        let enough = NpsSummary::from(Tally::new(10, 10, 10));
        assert!(!enough.small_sample);
        assert_eq!(enough.nps, Some(0.0));
        assert_eq!(
            enough.margin_of_error,
            Tally::new(10, 10, 10).margin_of_error()
        );
    }

    fn tallies() -> impl Strategy<Value = Tally> {
        (0u64..5_000, 0u64..5_000, 0u64..5_000).prop_map(|(p, n, d)| Tally::new(p, n, d))
    }

    proptest! {
        #[test]
        fn nps_stays_within_the_scale(tally in tallies()) {
            if let Some(nps) = tally.nps() {
                prop_assert!((-100.0..=100.0).contains(&nps));
                let interval = tally.interval().unwrap();
                prop_assert!(interval.low <= nps && nps <= interval.high);
                prop_assert!(interval.low >= -100.0 && interval.high <= 100.0);
            }
        }

        #[test]
        fn swapping_promoters_and_detractors_negates_the_score(tally in tallies()) {
            let mirrored = Tally::new(tally.detractors, tally.passives, tally.promoters);
            prop_assert_eq!(tally.nps().map(|v| -v), mirrored.nps());
            prop_assert_eq!(tally.margin_of_error(), mirrored.margin_of_error());
        }

        #[test]
        fn the_interval_narrows_as_the_same_mix_grows(tally in tallies(), factor in 2u64..50) {
            prop_assume!(tally.responses() > 0);
            let bigger = Tally::new(tally.promoters * factor, tally.passives * factor, tally.detractors * factor);
            prop_assert!(close(bigger.nps().unwrap(), tally.nps().unwrap()));
            prop_assert!(bigger.margin_of_error().unwrap() <= tally.margin_of_error().unwrap() + 1e-9);
        }

        #[test]
        fn a_summary_agrees_with_its_tally(tally in tallies()) {
            let summary = NpsSummary::from(tally);
            prop_assert_eq!(summary.responses, tally.responses());
            prop_assert_eq!(summary.nps, tally.nps());
            prop_assert_eq!(summary.confidence_interval, tally.interval());
            prop_assert_eq!(summary.small_sample, tally.responses() < SMALL_SAMPLE_BELOW);
            prop_assert_eq!(summary.nps.is_none(), tally.responses() == 0);
        }

        #[test]
        fn merging_tallies_adds_their_counts(a in tallies(), b in tallies()) {
            let mut merged = a;
            merged += b;
            prop_assert_eq!(merged.responses(), a.responses() + b.responses());
        }
    }
}
