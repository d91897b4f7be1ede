//! The survey's steps as a state machine: asking → sending → thanks, or a failed send that the
//! visitor can retry, and a dismissal that ends it all.
//!
//! The transitions are a pure function ([`Step::next`]) so they can be tested without a browser;
//! [`SurveyState`] wraps them in Yew's [`Reducible`]. The machine never talks to the network:
//! the survey component watches for [`Step::Sending`] and starts the send itself.

use std::rc::Rc;
use touchstone_shared::Score;
use yew::Reducible;

/// Where the visitor is in the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The question is shown and no answer has been chosen yet.
    Asking,
    /// The visitor chose this score and it is on its way to the collector.
    Sending(Score),
    /// The collector stored the answer.
    Thanks(Score),
    /// The send failed; the visitor may retry or choose again.
    Failed(Score),
    /// The visitor closed the survey.
    Dismissed,
}

/// What can happen to the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The visitor chose a score.
    Choose(Score),
    /// The collector acknowledged the answer.
    Stored,
    /// The answer could not be delivered.
    SendFailed,
    /// The visitor asked to send the failed answer again.
    Retry,
    /// The visitor closed the survey.
    Dismiss,
}

impl Step {
    /// The step after `action`. Actions that make no sense in a step leave it as it is, so a late
    /// acknowledgement or a second click can never skip or repeat a step.
    pub fn next(self, action: Action) -> Step {
        match (self, action) {
            (_, Action::Dismiss) => Step::Dismissed,
            (Step::Asking | Step::Failed(_), Action::Choose(score)) => Step::Sending(score),
            (Step::Failed(score), Action::Retry) => Step::Sending(score),
            (Step::Sending(score), Action::Stored) => Step::Thanks(score),
            (Step::Sending(score), Action::SendFailed) => Step::Failed(score),
            (step, _) => step,
        }
    }

    /// The score the visitor chose, once there is one.
    pub fn score(self) -> Option<Score> {
        match self {
            Step::Sending(score) | Step::Thanks(score) | Step::Failed(score) => Some(score),
            Step::Asking | Step::Dismissed => None,
        }
    }

    /// The step's name as the `data-touchstone-state` test hook shows it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Asking => "asking",
            Step::Sending(_) => "sending",
            Step::Thanks(_) => "thanks",
            Step::Failed(_) => "error",
            Step::Dismissed => "dismissed",
        }
    }
}

/// The survey's state for [`yew::use_reducer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyState {
    /// The current step.
    pub step: Step,
}

impl Default for SurveyState {
    fn default() -> Self {
        SurveyState { step: Step::Asking }
    }
}

impl Reducible for SurveyState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let step = self.step.next(action);
        if step == self.step {
            // The same allocation tells Yew nothing changed, so nothing re-renders.
            self
        } else {
            Rc::new(SurveyState { step })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(value: u8) -> Score {
        Score::try_from(value).unwrap()
    }

    #[test]
    fn choosing_a_score_sends_it_and_an_acknowledgement_thanks() {
        let step = Step::Asking.next(Action::Choose(score(9)));
        assert_eq!(step, Step::Sending(score(9)));
        assert_eq!(step.next(Action::Stored), Step::Thanks(score(9)));
    }

    #[test]
    fn a_failed_send_can_be_retried_with_the_same_score() {
        let failed = Step::Sending(score(3)).next(Action::SendFailed);
        assert_eq!(failed, Step::Failed(score(3)));
        assert_eq!(failed.next(Action::Retry), Step::Sending(score(3)));
        assert_eq!(
            failed.next(Action::Choose(score(4))),
            Step::Sending(score(4))
        );
    }

    #[test]
    fn a_second_click_while_sending_changes_nothing() {
        let sending = Step::Sending(score(7));
        assert_eq!(sending.next(Action::Choose(score(1))), sending);
        assert_eq!(sending.next(Action::Retry), sending);
    }

    #[test]
    fn late_acknowledgements_are_ignored() {
        for step in [
            Step::Asking,
            Step::Thanks(score(1)),
            Step::Failed(score(1)),
            Step::Dismissed,
        ] {
            assert_eq!(step.next(Action::Stored), step, "{step:?}");
            assert_eq!(step.next(Action::SendFailed), step, "{step:?}");
        }
    }

    #[test]
    fn the_survey_can_be_dismissed_from_any_step() {
        for step in [
            Step::Asking,
            Step::Sending(score(0)),
            Step::Thanks(score(10)),
            Step::Failed(score(5)),
        ] {
            assert_eq!(step.next(Action::Dismiss), Step::Dismissed);
        }
        assert_eq!(
            Step::Dismissed.next(Action::Choose(score(2))),
            Step::Dismissed
        );
    }

    #[test]
    fn unchanged_state_keeps_its_allocation() {
        let state = Rc::new(SurveyState::default());
        let same = Rc::clone(&state).reduce(Action::Stored);
        assert!(Rc::ptr_eq(&state, &same));
        let changed = state.reduce(Action::Choose(score(6)));
        assert_eq!(changed.step, Step::Sending(score(6)));
    }

    #[test]
    fn step_names_match_the_test_hooks() {
        let names: Vec<&str> = [
            Step::Asking,
            Step::Sending(score(1)),
            Step::Thanks(score(1)),
            Step::Failed(score(1)),
        ]
        .into_iter()
        .map(Step::name)
        .collect();
        assert_eq!(names, ["asking", "sending", "thanks", "error"]);
    }
}
