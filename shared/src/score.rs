//! The answer to "How likely are you to recommend us?": a [`Score`] from 0 to 10, and the
//! [`Category`] it puts the respondent in.

use serde::{Deserialize, Serialize};

/// An answer on the 0–10 Net Promoter scale. It can only hold 0..=10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Score(u8);

/// Why a number is not a [`Score`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a score is a whole number from 0 to 10, not {0}")]
pub struct ScoreError(pub u8);

impl Score {
    /// The highest score, 10.
    pub const MAX: u8 = 10;

    /// The number the respondent chose.
    pub fn value(self) -> u8 {
        self.0
    }

    /// The category this score puts a respondent in.
    pub fn category(self) -> Category {
        match self.0 {
            9..=10 => Category::Promoter,
            7..=8 => Category::Passive,
            _ => Category::Detractor,
        }
    }

    /// Every score from 0 to 10, in order: what the survey offers.
    pub fn all() -> impl DoubleEndedIterator<Item = Score> + ExactSizeIterator {
        (0..=Self::MAX).map(Score)
    }
}

impl TryFrom<u8> for Score {
    type Error = ScoreError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        if value <= Self::MAX {
            Ok(Score(value))
        } else {
            Err(ScoreError(value))
        }
    }
}

impl From<Score> for u8 {
    fn from(score: Score) -> u8 {
        score.0
    }
}

/// The three Net Promoter groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Scores 9 and 10: loyal enthusiasts who will recommend you.
    Promoter,
    /// Scores 7 and 8: satisfied but unenthusiastic.
    Passive,
    /// Scores 0 to 6: unhappy customers who may speak against you.
    Detractor,
}

impl Category {
    /// The lower-case name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Promoter => "promoter",
            Category::Passive => "passive",
            Category::Detractor => "detractor",
        }
    }

    /// The category named `name` as [`Category::as_str`] writes it, if it is one.
    pub fn parse(name: &str) -> Option<Category> {
        [Category::Promoter, Category::Passive, Category::Detractor]
            .into_iter()
            .find(|category| category.as_str() == name)
    }

    /// The lowest and highest score of the category.
    pub fn scores(self) -> (Score, Score) {
        match self {
            Category::Promoter => (Score(9), Score(10)),
            Category::Passive => (Score(7), Score(8)),
            Category::Detractor => (Score(0), Score(6)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn categories_parse_from_their_names_only() {
        for category in [Category::Promoter, Category::Passive, Category::Detractor] {
            assert_eq!(Category::parse(category.as_str()), Some(category));
        }
        for name in ["", "Promoter", "detractors", " passive"] {
            assert_eq!(Category::parse(name), None, "{name:?}");
        }
    }

    #[test]
    fn categories_follow_the_net_promoter_bands() {
        let expected = [
            (0, Category::Detractor),
            (6, Category::Detractor),
            (7, Category::Passive),
            (8, Category::Passive),
            (9, Category::Promoter),
            (10, Category::Promoter),
        ];
        for (value, category) in expected {
            assert_eq!(
                Score::try_from(value).unwrap().category(),
                category,
                "score {value}"
            );
        }
    }

    #[test]
    fn each_category_spans_exactly_its_scores() {
        for category in [Category::Promoter, Category::Passive, Category::Detractor] {
            let (low, high) = category.scores();
            let inside: Vec<u8> = Score::all()
                .filter(|score| score.category() == category)
                .map(Score::value)
                .collect();
            assert_eq!(inside, (low.value()..=high.value()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_score_above_ten_is_refused() {
        assert_eq!(Score::try_from(11), Err(ScoreError(11)));
        assert_eq!(Score::try_from(255), Err(ScoreError(255)));
    }

    #[test]
    fn scores_deserialize_only_within_the_scale() {
        assert_eq!(serde_json::from_str::<Score>("10").unwrap().value(), 10);
        assert!(serde_json::from_str::<Score>("11").is_err());
        assert!(serde_json::from_str::<Score>("-1").is_err());
        assert!(serde_json::from_str::<Score>("9.5").is_err());
        assert!(serde_json::from_str::<Score>("\"9\"").is_err());
    }

    #[test]
    fn all_offers_eleven_scores_in_order() {
        let values: Vec<u8> = Score::all().map(Score::value).collect();
        assert_eq!(values, (0..=10).collect::<Vec<_>>());
    }

    proptest! {
        #[test]
        fn try_from_accepts_exactly_zero_to_ten(value in any::<u8>()) {
            prop_assert_eq!(Score::try_from(value).is_ok(), value <= 10);
        }

        #[test]
        fn a_score_round_trips_through_json(value in 0u8..=10) {
            let score = Score::try_from(value).unwrap();
            let json = serde_json::to_string(&score).unwrap();
            prop_assert_eq!(serde_json::from_str::<Score>(&json).unwrap(), score);
        }
    }
}
