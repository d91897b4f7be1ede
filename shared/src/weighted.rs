//! The NPS when voices weigh differently: business accounts weighted by their seats, customers by
//! the revenue they bring. And how several people of one account make one voice.

use crate::score::{Category, Score};
use crate::tally::{Interval, SMALL_SAMPLE_BELOW, Z_95};

/// Why a weight cannot be counted.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("a weight is a finite number of at least zero, not {0}")]
pub struct WeightError(pub f64);

/// Weighted promoters, passives and detractors.
///
/// Each voice scores +1 (promoter), 0 (passive) or −1 (detractor); the weighted NPS is their
/// weighted mean, `Σ wᵢxᵢ / Σ wᵢ`, in points. Its interval treats it as a ratio estimator with
/// the weights fixed: `Var = Σ wᵢ² (xᵢ − m)² / (Σ wᵢ)²`, which with equal weights is exactly
/// [`crate::Tally::margin_of_error`]'s variance. A few heavy voices make a small sample however
/// many voices there are, so the small-sample flag uses Kish's effective number of voices,
/// `(Σ wᵢ)² / Σ wᵢ²`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeightedTally {
    /// Per category (promoters, passives, detractors): the sum of the weights.
    weights: [f64; 3],
    /// Per category: the sum of the squared weights.
    squares: [f64; 3],
    /// Voices counted, whatever their weight.
    voices: u64,
}

/// Where each category's sums live, and the value a voice of it scores.
fn slot(category: Category) -> (usize, f64) {
    match category {
        Category::Promoter => (0, 1.0),
        Category::Passive => (1, 0.0),
        Category::Detractor => (2, -1.0),
    }
}

impl WeightedTally {
    /// Counts one voice of `category` with `weight`; a weight that is negative, infinite or not
    /// a number is refused and nothing is counted.
    pub fn record(&mut self, category: Category, weight: f64) -> Result<(), WeightError> {
        if !weight.is_finite() || weight < 0.0 {
            return Err(WeightError(weight));
        }
        let (index, _) = slot(category);
        self.weights[index] += weight;
        self.squares[index] += weight * weight;
        self.voices += 1;
        Ok(())
    }

    /// The voices counted, whatever their weight.
    pub fn voices(&self) -> u64 {
        self.voices
    }

    /// The sum of the weights of `category`.
    pub fn weight_of(&self, category: Category) -> f64 {
        self.weights[slot(category).0]
    }

    /// The sum of every weight.
    pub fn total_weight(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// The weighted NPS, −100..=100; `None` while the weights add up to nothing.
    pub fn nps(&self) -> Option<f64> {
        let total = self.total_weight();
        // Divide first (w / w is exactly 1) and clip: rounding must not leave the scale.
        (total > 0.0)
            .then(|| (100.0 * ((self.weights[0] - self.weights[2]) / total)).clamp(-100.0, 100.0))
    }

    /// Half the width of the 95% interval, in NPS points; `None` while the weights add up to
    /// nothing.
    pub fn margin_of_error(&self) -> Option<f64> {
        let total = self.total_weight();
        let mean = self.nps()? / 100.0;
        let spread: f64 = [Category::Promoter, Category::Passive, Category::Detractor]
            .into_iter()
            .map(|category| {
                let (index, value) = slot(category);
                self.squares[index] * (value - mean).powi(2)
            })
            .sum();
        let variance = spread / (total * total);
        Some(100.0 * Z_95 * variance.max(0.0).sqrt())
    }

    /// The 95% interval, clipped to −100..=100.
    pub fn interval(&self) -> Option<Interval> {
        let nps = self.nps()?;
        let margin = self.margin_of_error()?;
        Some(Interval {
            low: (nps - margin).max(-100.0),
            high: (nps + margin).min(100.0),
        })
    }

    /// Kish's effective number of voices, `(Σ w)² / Σ w²`: as many equal voices as would make
    /// the interval as wide. Zero while the weights add up to nothing.
    pub fn effective_voices(&self) -> f64 {
        let squares: f64 = self.squares.iter().sum();
        if squares > 0.0 {
            self.total_weight().powi(2) / squares
        } else {
            0.0
        }
    }

    /// Whether the interval rests on fewer effective voices than [`SMALL_SAMPLE_BELOW`]. (Thirty
    /// equal weights make 29.999999999999996 effective voices in floating point: the comparison
    /// allows for that rounding.)
    pub fn is_small_sample(&self) -> bool {
        self.effective_voices() * (1.0 + 1e-9) < SMALL_SAMPLE_BELOW as f64
    }
}

/// One voice from the latest scores of an account's respondents: their mean, and the category
/// the mean falls in (9 or more promoter, 7 or more passive, else detractor: the bands of a
/// single score, applied to the mean, so 8.5 is passive and 6.5 a detractor). `None` without
/// scores.
pub fn account_voice(scores: impl IntoIterator<Item = Score>) -> Option<(f64, Category)> {
    let (sum, count) = scores
        .into_iter()
        .fold((0u64, 0u64), |(sum, count), score| {
            (sum + u64::from(score.value()), count + 1)
        });
    if count == 0 {
        return None;
    }
    let mean = sum as f64 / count as f64;
    let category = if mean >= 9.0 {
        Category::Promoter
    } else if mean >= 7.0 {
        Category::Passive
    } else {
        Category::Detractor
    };
    Some((mean, category))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tally;
    use proptest::prelude::*;

    fn weighted(voices: &[(Category, f64)]) -> WeightedTally {
        let mut tally = WeightedTally::default();
        for (category, weight) in voices {
            tally.record(*category, *weight).unwrap();
        }
        tally
    }

    #[test]
    fn a_worked_example_by_hand() {
        // Weights 100 and 50 promote, 30 is passive, 20 detracts: Σw = 200.
        // NPS = (150 − 20) / 200 = 65.
        // Σ w²(x − 0.65)² = 10000·0.35² + 2500·0.35² + 900·0.65² + 400·1.65² = 3000.5;
        // Var = 3000.5 / 200² = 0.0750125; margin = 100 · 1.959964 · √Var = 53.6803.
        // Effective voices = 200² / (10000 + 2500 + 900 + 400) = 2.8986.
        let tally = weighted(&[
            (Category::Promoter, 100.0),
            (Category::Promoter, 50.0),
            (Category::Passive, 30.0),
            (Category::Detractor, 20.0),
        ]);
        assert_eq!(tally.voices(), 4);
        assert!((tally.nps().unwrap() - 65.0).abs() < 1e-12);
        assert!((tally.margin_of_error().unwrap() - 53.680_297_110_515).abs() < 1e-9);
        assert!((tally.effective_voices() - 2.898_550_724_637_681).abs() < 1e-12);
        assert!(tally.is_small_sample());
        let interval = tally.interval().unwrap();
        assert!((interval.low - 11.319_702_889_485).abs() < 1e-9);
        assert_eq!(interval.high, 100.0, "clipped to the scale");
    }

    #[test]
    fn no_weight_no_score() {
        let mut tally = WeightedTally::default();
        assert_eq!(tally.nps(), None);
        assert_eq!(tally.interval(), None);
        tally.record(Category::Promoter, 0.0).unwrap();
        assert_eq!(tally.voices(), 1);
        assert_eq!(
            tally.nps(),
            None,
            "a voice that weighs nothing says nothing"
        );
        assert!(tally.is_small_sample());
    }

    #[test]
    fn bad_weights_are_refused_and_count_nothing() {
        let mut tally = WeightedTally::default();
        for weight in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(tally.record(Category::Promoter, weight).is_err());
        }
        assert_eq!(tally, WeightedTally::default());
    }

    #[test]
    fn an_accounts_voice_is_its_mean_in_the_single_score_bands() {
        let voice = |scores: &[u8]| {
            account_voice(scores.iter().map(|score| Score::try_from(*score).unwrap()))
        };
        assert_eq!(voice(&[]), None);
        assert_eq!(voice(&[10, 8]), Some((9.0, Category::Promoter)));
        assert_eq!(voice(&[9, 8]), Some((8.5, Category::Passive)));
        assert_eq!(voice(&[7, 7, 7]), Some((7.0, Category::Passive)));
        assert_eq!(voice(&[10, 3]), Some((6.5, Category::Detractor)));
        assert_eq!(voice(&[0]), Some((0.0, Category::Detractor)));
    }

    fn category() -> impl Strategy<Value = Category> {
        prop_oneof![
            Just(Category::Promoter),
            Just(Category::Passive),
            Just(Category::Detractor)
        ]
    }

    proptest! {
        #[test]
        fn equal_weights_give_the_plain_nps_and_interval(
            voices in proptest::collection::vec(category(), 1..300),
            weight in 0.001f64..1e6,
        ) {
            let mut plain = Tally::default();
            let mut tally = WeightedTally::default();
            for voice in &voices {
                plain.record(*voice);
                tally.record(*voice, weight).unwrap();
            }
            prop_assert!((tally.nps().unwrap() - plain.nps().unwrap()).abs() < 1e-9);
            prop_assert!((tally.margin_of_error().unwrap() - plain.margin_of_error().unwrap()).abs() < 1e-6);
            prop_assert!((tally.effective_voices() - voices.len() as f64).abs() < 1e-6);
            prop_assert_eq!(tally.is_small_sample(), plain.is_small_sample());
        }

        #[test]
        fn the_score_stays_on_the_scale_and_ignores_the_unit(
            voices in proptest::collection::vec((category(), 0.0f64..1e9), 1..100),
            scale in 0.001f64..1000.0,
        ) {
            let tally = weighted(&voices);
            let scaled: Vec<_> = voices.iter().map(|(c, w)| (*c, w * scale)).collect();
            let scaled = weighted(&scaled);
            match (tally.nps(), scaled.nps()) {
                (Some(nps), Some(scaled_nps)) => {
                    prop_assert!((-100.0..=100.0).contains(&nps));
                    prop_assert!((nps - scaled_nps).abs() < 1e-6, "euros or cents: same score");
                    let interval = tally.interval().unwrap();
                    prop_assert!(interval.low <= nps + 1e-9 && nps <= interval.high + 1e-9);
                    prop_assert!(interval.low >= -100.0 && interval.high <= 100.0);
                }
                (None, None) => prop_assert!(tally.total_weight() == 0.0),
                _ => prop_assert!(false, "scaling changed whether there is a score"),
            }
        }

        #[test]
        fn swapping_promoters_and_detractors_negates_the_score(
            voices in proptest::collection::vec((category(), 0.001f64..1e6), 1..100),
        ) {
            let mirror = |category: Category| match category {
                Category::Promoter => Category::Detractor,
                Category::Detractor => Category::Promoter,
                Category::Passive => Category::Passive,
            };
            let tally = weighted(&voices);
            let mirrored: Vec<_> = voices.iter().map(|(c, w)| (mirror(*c), *w)).collect();
            let mirrored = weighted(&mirrored);
            prop_assert!((tally.nps().unwrap() + mirrored.nps().unwrap()).abs() < 1e-9);
            prop_assert!((tally.margin_of_error().unwrap() - mirrored.margin_of_error().unwrap()).abs() < 1e-9);
        }

        #[test]
        fn more_of_the_same_voices_narrow_the_interval(
            voices in proptest::collection::vec((category(), 0.001f64..1e6), 2..50),
        ) {
            let once = weighted(&voices);
            let twice: Vec<_> = voices.iter().chain(voices.iter()).copied().collect();
            let twice = weighted(&twice);
            prop_assert!(twice.margin_of_error().unwrap() <= once.margin_of_error().unwrap() + 1e-9);
            prop_assert!((twice.effective_voices() - 2.0 * once.effective_voices()).abs() < 1e-6 * once.effective_voices().max(1.0));
        }
    }
}
