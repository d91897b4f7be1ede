//! The survey's steps as a state machine: asking → follow-up → sending → thanks, or a failed send
//! that the visitor can retry, and closing, which ends it all from any step.
//!
//! The transitions are a pure function ([`Step::next`]) so they can be tested without a browser;
//! [`SurveyState`] wraps them in Yew's [`Reducible`]. The machine never talks to the network:
//! the survey component watches for [`Step::Sending`] and starts the send itself, and for
//! [`Step::Closed`], whose answer (if any) it hands over without waiting.

use std::rc::Rc;
use touchstone_shared::{Comment, Score};
use yew::Reducible;

/// What the visitor answered: the score, and what they wrote in the follow-up, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The 0–10 answer.
    pub score: Score,
    /// The answer to the follow-up question; `None` when skipped or left blank.
    pub comment: Option<Comment>,
}

/// How the survey ended, as reported to whoever placed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The visitor closed it before choosing a score (×, Escape, or the backdrop): a dismissal,
    /// which the recontact rules count.
    Dismissed,
    /// The visitor chose a score, and then finished or closed it: an answer, not a dismissal.
    Finished,
}

/// Where the visitor is in the survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The question is shown and no score has been chosen yet.
    Asking,
    /// The visitor chose this score; the follow-up question is shown.
    FollowUp(Score),
    /// The answer is on its way.
    Sending(Answer),
    /// The answer is safely stored (or queued).
    Thanks,
    /// The send failed; the visitor may retry.
    Failed(Answer),
    /// The survey is closed. The answer, when there is one, still has to be sent: the visitor
    /// chose a score and closed the follow-up without sending it.
    Closed(Closed, Option<Answer>),
}

/// What can happen to the survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The visitor chose a score.
    Choose(Score),
    /// The visitor sent (or, with `None`, skipped) the follow-up.
    Send(Option<Comment>),
    /// The answer was stored.
    Stored,
    /// The answer could not be delivered.
    SendFailed,
    /// The visitor asked to send the failed answer again.
    Retry,
    /// The visitor closed the survey (×, Escape, the backdrop, or the close button at the end).
    Close,
}

impl Step {
    /// The step after `action`. Actions that make no sense in a step leave it as it is, so a late
    /// acknowledgement or a second click can never skip or repeat a step, and nothing follows
    /// [`Step::Closed`].
    pub fn next(&self, action: Action) -> Step {
        match (self, action) {
            (Step::Closed(..), _) => self.clone(),
            (Step::Asking, Action::Close) => Step::Closed(Closed::Dismissed, None),
            // The visitor did answer: their score is kept, without a comment.
            (Step::FollowUp(score), Action::Close) => Step::Closed(
                Closed::Finished,
                Some(Answer {
                    score: *score,
                    comment: None,
                }),
            ),
            // Sending: the answer is already on its way. Failed: the visitor saw the failure and
            // the retry, and chose to leave; a second silent attempt would surprise nobody but
            // could not be reported either.
            (_, Action::Close) => Step::Closed(Closed::Finished, None),
            (Step::Asking | Step::FollowUp(_), Action::Choose(score)) => Step::FollowUp(score),
            (Step::FollowUp(score), Action::Send(comment)) => Step::Sending(Answer {
                score: *score,
                comment,
            }),
            (Step::Failed(answer), Action::Retry) => Step::Sending(answer.clone()),
            (Step::Sending(_), Action::Stored) => Step::Thanks,
            (Step::Sending(answer), Action::SendFailed) => Step::Failed(answer.clone()),
            (step, _) => step.clone(),
        }
    }

    /// The score the visitor chose, once there is one.
    pub fn score(&self) -> Option<Score> {
        match self {
            Step::FollowUp(score) => Some(*score),
            Step::Sending(answer) | Step::Failed(answer) => Some(answer.score),
            Step::Asking | Step::Thanks | Step::Closed(..) => None,
        }
    }

    /// The step's name as the `data-touchstone-state` test hook shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Asking => "asking",
            Step::FollowUp(_) => "follow-up",
            Step::Sending(_) => "sending",
            Step::Thanks => "thanks",
            Step::Failed(_) => "error",
            Step::Closed(..) => "closed",
        }
    }
}

/// The survey's state for [`yew::use_reducer`].
#[derive(Debug, Clone, PartialEq, Eq)]
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

    fn answer(value: u8, comment: Option<&str>) -> Answer {
        Answer {
            score: score(value),
            comment: comment.map(|text| Comment::parse(text).unwrap()),
        }
    }

    #[test]
    fn a_score_leads_to_the_follow_up_and_sending_it_to_the_thanks() {
        let step = Step::Asking.next(Action::Choose(score(9)));
        assert_eq!(step, Step::FollowUp(score(9)));
        let comment = Comment::parse("Fast delivery").unwrap();
        let step = step.next(Action::Send(Some(comment)));
        assert_eq!(step, Step::Sending(answer(9, Some("Fast delivery"))));
        assert_eq!(step.next(Action::Stored), Step::Thanks);
    }

    #[test]
    fn skipping_the_follow_up_sends_the_score_alone() {
        let step = Step::FollowUp(score(3)).next(Action::Send(None));
        assert_eq!(step, Step::Sending(answer(3, None)));
    }

    #[test]
    fn the_score_can_change_until_the_follow_up_is_sent() {
        let step = Step::FollowUp(score(3)).next(Action::Choose(score(8)));
        assert_eq!(step, Step::FollowUp(score(8)));
        let sending = step.next(Action::Send(None));
        assert_eq!(sending.next(Action::Choose(score(1))), sending);
    }

    #[test]
    fn a_failed_send_can_be_retried_with_the_same_answer() {
        let failed = Step::Sending(answer(3, Some("slow"))).next(Action::SendFailed);
        assert_eq!(failed, Step::Failed(answer(3, Some("slow"))));
        assert_eq!(
            failed.next(Action::Retry),
            Step::Sending(answer(3, Some("slow")))
        );
        assert_eq!(failed.next(Action::Choose(score(4))), failed);
    }

    #[test]
    fn a_second_click_while_sending_changes_nothing() {
        let sending = Step::Sending(answer(7, None));
        assert_eq!(sending.next(Action::Choose(score(1))), sending);
        assert_eq!(sending.next(Action::Retry), sending);
        assert_eq!(sending.next(Action::Send(None)), sending);
    }

    #[test]
    fn late_acknowledgements_are_ignored() {
        for step in [
            Step::Asking,
            Step::FollowUp(score(2)),
            Step::Thanks,
            Step::Failed(answer(1, None)),
            Step::Closed(Closed::Finished, None),
        ] {
            assert_eq!(step.next(Action::Stored), step, "{step:?}");
            assert_eq!(step.next(Action::SendFailed), step, "{step:?}");
        }
    }

    #[test]
    fn closing_before_a_score_is_a_dismissal() {
        assert_eq!(
            Step::Asking.next(Action::Close),
            Step::Closed(Closed::Dismissed, None)
        );
    }

    #[test]
    fn closing_at_the_follow_up_keeps_the_score_and_is_no_dismissal() {
        assert_eq!(
            Step::FollowUp(score(6)).next(Action::Close),
            Step::Closed(Closed::Finished, Some(answer(6, None)))
        );
    }

    #[test]
    fn closing_after_the_answer_left_sends_nothing_more() {
        for step in [
            Step::Sending(answer(0, None)),
            Step::Thanks,
            Step::Failed(answer(5, None)),
        ] {
            assert_eq!(
                step.next(Action::Close),
                Step::Closed(Closed::Finished, None),
                "{step:?}"
            );
        }
    }

    #[test]
    fn nothing_follows_closing() {
        let closed = Step::Closed(Closed::Dismissed, None);
        for action in [
            Action::Choose(score(2)),
            Action::Send(None),
            Action::Retry,
            Action::Close,
        ] {
            assert_eq!(closed.next(action), closed);
        }
    }

    #[test]
    fn unchanged_state_keeps_its_allocation() {
        let state = Rc::new(SurveyState::default());
        let same = Rc::clone(&state).reduce(Action::Stored);
        assert!(Rc::ptr_eq(&state, &same));
        let changed = state.reduce(Action::Choose(score(6)));
        assert_eq!(changed.step, Step::FollowUp(score(6)));
    }

    #[test]
    fn step_names_match_the_test_hooks() {
        let names: Vec<&str> = [
            Step::Asking,
            Step::FollowUp(score(1)),
            Step::Sending(answer(1, None)),
            Step::Thanks,
            Step::Failed(answer(1, None)),
        ]
        .iter()
        .map(Step::name)
        .collect();
        assert_eq!(names, ["asking", "follow-up", "sending", "thanks", "error"]);
    }
}
