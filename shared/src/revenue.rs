//! What the NPS is worth: customers and their revenue in each category, the revenue-weighted
//! NPS, the revenue at risk (held by detractors) and the share of revenue promoters bring.
//!
//! Revenue-weighted NPS counts each customer in proportion to their revenue instead of once:
//! `(Σ revenue of promoters − Σ revenue of detractors) / Σ revenue of all × 100`. A company
//! whose few large customers are detractors sees it here while its plain NPS looks fine.
//! Amounts are whole minor units of one currency (cents); sums are 128-bit, so nothing
//! overflows and nothing is rounded. The score and its interval are those of
//! [`WeightedTally`] with each customer's revenue as their weight.

use crate::score::Category;
use crate::tally::{Interval, Tally};
use crate::weighted::WeightedTally;

/// Customers and their revenue by NPS category, in minor units of one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RevenueTally {
    /// How many customers are in each category (each once, by the answer that counts).
    pub customers: Tally,
    /// The promoters' revenue.
    pub promoters: u128,
    /// The passives' revenue.
    pub passives: u128,
    /// The detractors' revenue.
    pub detractors: u128,
    /// The customers weighted by their revenue, for the score and its interval.
    weighted: WeightedTally,
}

impl RevenueTally {
    /// Counts one customer of `category` whose revenue (payments less refunds) is `net_minor`.
    /// A customer refunded more than they paid holds no revenue rather than a negative amount:
    /// a negative weight would let one refund push the weighted score outside −100..=100.
    pub fn record(&mut self, category: Category, net_minor: i64) {
        self.customers.record(category);
        let revenue = u128::try_from(net_minor).unwrap_or(0);
        self.weighted
            .record(category, revenue as f64)
            .expect("a revenue is a finite weight of at least zero");
        match category {
            Category::Promoter => self.promoters += revenue,
            Category::Passive => self.passives += revenue,
            Category::Detractor => self.detractors += revenue,
        }
    }

    /// The revenue of every customer counted.
    pub fn total(&self) -> u128 {
        self.promoters + self.passives + self.detractors
    }

    /// The revenue at risk: what the detractors bring.
    pub fn at_risk(&self) -> u128 {
        self.detractors
    }

    /// `(promoters' revenue − detractors' revenue) / all revenue × 100`, from −100 to 100;
    /// `None` when the customers counted have no revenue.
    pub fn weighted_nps(&self) -> Option<f64> {
        self.weighted.nps()
    }

    /// The 95% interval of [`Self::weighted_nps`] (see [`WeightedTally`]); `None` without
    /// revenue.
    pub fn weighted_interval(&self) -> Option<Interval> {
        self.weighted.interval()
    }

    /// Whether the revenue is held by too few customers for the interval to be trusted: fewer
    /// than 30 effective customers, however many answered (one whale is one voice).
    pub fn is_small_sample(&self) -> bool {
        self.weighted.is_small_sample()
    }

    /// The promoters' share of all revenue, from 0 to 1; `None` without revenue.
    pub fn promoter_share(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| (self.promoters as f64 / total as f64).clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Score;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn tally(customers: &[(u8, i64)]) -> RevenueTally {
        let mut tally = RevenueTally::default();
        for (score, revenue) in customers {
            tally.record(Score::try_from(*score).unwrap().category(), *revenue);
        }
        tally
    }

    #[test]
    fn the_contract_s_example_worked_by_hand() {
        // Promoters 12345.67, passives 2300.00, detractors 1800.50 EUR, in cents:
        // (1234567 − 180050) / 1644617 × 100 = 1054517 / 16446.17 = 64.1193…;
        // the promoters' share is 1234567 / 1644617 = 0.750671….
        let tally = tally(&[(10, 1_000_000), (9, 234_567), (8, 230_000), (3, 180_050)]);
        assert_eq!(tally.total(), 1_644_617);
        assert_eq!(tally.at_risk(), 180_050);
        assert!((tally.weighted_nps().unwrap() - 64.119_305_589).abs() < 1e-6);
        assert!((tally.promoter_share().unwrap() - 0.750_671_433).abs() < 1e-6);
        assert_eq!(tally.customers, Tally::new(2, 1, 1));
    }

    #[test]
    fn a_big_unhappy_customer_outweighs_many_small_happy_ones() {
        // Nine promoters paying 100 each and one detractor paying 2700: plain NPS 80, but
        // (900 − 2700) / 3600 × 100 = −50 weighted by revenue.
        let mut customers = vec![(10, 100); 9];
        customers.push((0, 2_700));
        let tally = tally(&customers);
        assert!(close(tally.customers.nps().unwrap(), 80.0));
        assert!(close(tally.weighted_nps().unwrap(), -50.0));
        assert!(close(tally.promoter_share().unwrap(), 0.25));
    }

    #[test]
    fn one_whale_makes_a_small_sample_however_many_answered() {
        // 99 promoters paying 1 each and a detractor paying 9,900: 100 customers, but the
        // revenue rests on about one (Kish: 9,999² / (99 + 9,900²) ≈ 1.02), and the weighted
        // score is (99 − 9,900) / 9,999 × 100 = −98.02.
        let mut customers = vec![(10, 1); 99];
        customers.push((0, 9_900));
        let tally = tally(&customers);
        assert!(!tally.customers.is_small_sample());
        assert!(tally.is_small_sample());
        let weighted = tally.weighted_nps().unwrap();
        assert!(close(weighted, (99.0 - 9_900.0) / 9_999.0 * 100.0));
        let interval = tally.weighted_interval().unwrap();
        assert!(interval.low <= weighted && weighted <= interval.high);
    }

    #[test]
    fn without_revenue_there_is_no_weighted_score() {
        let tally = tally(&[(10, 0), (2, 0)]);
        assert_eq!(tally.weighted_nps(), None);
        assert_eq!(tally.promoter_share(), None);
        assert_eq!(tally.customers.responses(), 2);
        assert_eq!(RevenueTally::default().weighted_nps(), None);
    }

    #[test]
    fn refunds_beyond_payments_count_as_no_revenue() {
        let tally = tally(&[(10, 500), (0, -10_000)]);
        assert_eq!(tally.detractors, 0);
        assert!(close(tally.weighted_nps().unwrap(), 100.0));
    }

    #[test]
    fn sums_do_not_overflow() {
        let customers = vec![(10, i64::MAX); 4];
        let tally = tally(&customers);
        assert_eq!(tally.promoters, 4 * i64::MAX as u128);
        assert!(close(tally.weighted_nps().unwrap(), 100.0));
    }

    fn customers() -> impl Strategy<Value = Vec<(u8, i64)>> {
        proptest::collection::vec((0u8..=10, 0i64..1_000_000_000), 1..60)
    }

    proptest! {
        #[test]
        fn the_weighted_score_stays_within_the_scale(customers in customers()) {
            let tally = tally(&customers);
            if let Some(nps) = tally.weighted_nps() {
                prop_assert!((-100.0..=100.0).contains(&nps));
                let share = tally.promoter_share().unwrap();
                prop_assert!((0.0..=1.0).contains(&share));
            } else {
                prop_assert_eq!(tally.total(), 0);
            }
        }

        #[test]
        fn equal_revenues_give_the_plain_nps(scores in proptest::collection::vec(0u8..=10, 1..80), revenue in 1i64..1_000_000) {
            let customers: Vec<(u8, i64)> = scores.iter().map(|score| (*score, revenue)).collect();
            let tally = tally(&customers);
            let plain = tally.customers.nps().unwrap();
            prop_assert!((tally.weighted_nps().unwrap() - plain).abs() < 1e-9);
        }

        #[test]
        fn scaling_every_revenue_changes_nothing(customers in customers(), factor in 1i64..1_000) {
            let scaled: Vec<(u8, i64)> = customers.iter().map(|(score, revenue)| (*score, revenue * factor)).collect();
            let (original, scaled) = (tally(&customers), tally(&scaled));
            match (original.weighted_nps(), scaled.weighted_nps()) {
                (Some(a), Some(b)) => {
                    prop_assert!((a - b).abs() < 1e-9);
                    prop_assert!((original.promoter_share().unwrap() - scaled.promoter_share().unwrap()).abs() < 1e-12);
                }
                (None, None) => {}
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn swapping_promoters_and_detractors_flips_the_sign(customers in customers()) {
            let swapped: Vec<(u8, i64)> = customers.iter().map(|(score, revenue)| {
                let flipped = match Score::try_from(*score).unwrap().category() {
                    Category::Promoter => 0,
                    Category::Detractor => 10,
                    Category::Passive => *score,
                };
                (flipped, *revenue)
            }).collect();
            if let (Some(a), Some(b)) = (tally(&customers).weighted_nps(), tally(&swapped).weighted_nps()) {
                prop_assert!((a + b).abs() < 1e-9);
            }
        }
    }
}
