//! Running a survey with a caller: the intro, each question asked until it
//! is answered or its retries are used up, the outro. The survey's
//! declarations are read once per flow (`crate::survey`); this is the
//! per-call state machine. While a survey runs, the call stays at the node
//! it was at (the `queue` block of an after-call survey), so commands are
//! traced there.

use super::{Engine, Flowing, Wait};
use crate::event::{CallId, Command, Event, Outcome};
use crate::survey::{
    ANSWER_TIMEOUT_MS, Answer, NPS_DIGIT_TIMEOUT_MS, Question, QuestionKind, RECORDED, SurveyMode,
};
use jiff::Timestamp;

/// The survey a call is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Interview {
    /// The survey: an index into the flow's surveys.
    survey: usize,
    /// The question being asked (past the last one: the outro).
    question: usize,
    /// How many times the question went unanswered or was answered wrongly.
    attempts: u32,
    /// What happens after the survey.
    then: Then,
}

/// Where a call goes once its survey is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Then {
    /// On along this exit of the call's node (an after-call survey).
    Continue(&'static str),
    /// The call ends (a survey call).
    HangUp,
}

/// What a survey waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The intro to finish.
    Intro,
    /// The question's prompt to finish (a key may interrupt it).
    Question,
    /// A key, until the timer (the first key, or an NPS answer's second).
    Key,
    /// The comment being recorded.
    Comment,
    /// The outro to finish.
    Outro,
}

impl super::Call {
    /// The qualified name of the survey the call is running, if any.
    pub(super) fn survey_running(&self) -> Option<&str> {
        let interview = self.interview.as_ref()?;
        self.flow
            .surveys
            .get(interview.survey)
            .map(|s| s.name.as_str())
    }
}

impl Engine {
    /// The after-call survey due when a bridge ends: the bridge was to an
    /// agent, the campaign's survey runs after calls, no survey ran yet and
    /// the call passed no `no_survey`. Forgets the agent either way.
    pub(super) fn after_call_survey(&mut self, id: CallId) -> Option<usize> {
        let call = self.call_mut(id)?;
        let agent = std::mem::take(&mut call.agent);
        let index = call.flow.survey?;
        let after_call = call
            .flow
            .surveys
            .get(index)
            .is_some_and(|s| s.mode == SurveyMode::AfterCall);
        (agent && after_call && !call.no_survey && !call.surveyed).then_some(index)
    }

    /// Starts survey `survey` of the call's flow.
    pub(super) fn start_interview(&mut self, id: CallId, survey: usize, then: Then) -> Flowing {
        let Some(call) = self.call_mut(id) else {
            return Flowing::Wait;
        };
        call.surveyed = true;
        call.interview = Some(Interview {
            survey,
            question: 0,
            attempts: 0,
            then,
        });
        let intro = call.flow.surveys.get(survey).and_then(|s| s.intro);
        match intro {
            Some(prompt) => {
                self.play(id, prompt, false);
                self.wait(id, Wait::Survey(Phase::Intro))
            }
            None => self.ask(id),
        }
    }

    /// An event for a call running a survey.
    pub(super) fn interview_event(
        &mut self,
        id: CallId,
        phase: Phase,
        event: Event,
        timer: bool,
        now: Timestamp,
    ) -> Flowing {
        let Some(question) = self.question(id) else {
            // Past the last question only the outro plays.
            return match (phase, event) {
                (Phase::Outro, Event::PromptFinished) => self.survey_done(id),
                _ => Flowing::Wait,
            };
        };
        let keys = question.kind != QuestionKind::Comment;
        match (phase, event) {
            (Phase::Intro, Event::PromptFinished) => self.ask(id),
            (Phase::Question, Event::PromptFinished) if keys => {
                self.start_timer(id, now, ANSWER_TIMEOUT_MS);
                self.wait(id, Wait::Survey(Phase::Key))
            }
            (Phase::Question, Event::PromptFinished) => {
                self.emit(
                    id,
                    Command::Record {
                        max_length_ms: crate::survey::COMMENT_MAX_MS,
                        email: None,
                    },
                );
                self.wait(id, Wait::Survey(Phase::Comment))
            }
            (Phase::Question | Phase::Key, Event::Digit(key)) if keys => {
                if phase == Phase::Question {
                    self.emit(id, Command::StopPlayback);
                }
                self.cancel_timer(id);
                let typed = self.call(id).map(|c| c.digits.clone()).unwrap_or_default();
                match question.kind.key(&typed, key) {
                    Answer::Valid(answer) => self.answered(id, Some(answer)),
                    Answer::More => {
                        if let Some(call) = self.call_mut(id) {
                            call.digits.push(key);
                        }
                        self.start_timer(id, now, NPS_DIGIT_TIMEOUT_MS);
                        self.wait(id, Wait::Survey(Phase::Key))
                    }
                    Answer::Invalid => self.retry(id),
                }
            }
            (Phase::Key, Event::Timer(_)) if timer => {
                let typed = self
                    .call_mut(id)
                    .map(|c| std::mem::take(&mut c.digits))
                    .unwrap_or_default();
                match question.kind.complete(&typed) {
                    Answer::Valid(answer) => self.answered(id, Some(answer)),
                    // No key at all, or a pause after an invalid start.
                    Answer::More | Answer::Invalid => self.retry(id),
                }
            }
            (Phase::Comment, Event::RecordingFinished) => {
                self.answered(id, Some(RECORDED.to_string()))
            }
            // Keys during the intro, the outro or a comment, stale timers,
            // anything else: nothing changes.
            _ => Flowing::Wait,
        }
    }

    /// The question being asked, if the survey has not passed its last.
    fn question(&self, id: CallId) -> Option<Question> {
        let call = self.call(id)?;
        let interview = call.interview.as_ref()?;
        call.flow
            .surveys
            .get(interview.survey)?
            .questions
            .get(interview.question)
            .cloned()
    }

    /// Asks the current question (again), or ends the survey after the last.
    fn ask(&mut self, id: CallId) -> Flowing {
        let Some(question) = self.question(id) else {
            return self.outro(id);
        };
        if let Some(call) = self.call_mut(id) {
            call.digits.clear();
        }
        // A comment takes no keys, so nothing may interrupt its question.
        let barge_in = question.kind != QuestionKind::Comment;
        self.play(id, question.prompt, barge_in);
        self.wait(id, Wait::Survey(Phase::Question))
    }

    /// No key in time, or an invalid answer: ask again, or give up on the
    /// question once its retries are used.
    fn retry(&mut self, id: CallId) -> Flowing {
        let retries = self.question(id).map_or(0, |q| q.retries);
        let Some(interview) = self.call_mut(id).and_then(|c| c.interview.as_mut()) else {
            return Flowing::Wait;
        };
        interview.attempts += 1;
        if interview.attempts > retries {
            return self.answered(id, None);
        }
        self.ask(id)
    }

    /// Reports the answer to the current question and asks the next.
    fn answered(&mut self, id: CallId, answer: Option<String>) -> Flowing {
        let survey = self.survey_name(id);
        let question = self.question(id).map(|q| q.name).unwrap_or_default();
        self.emit(
            id,
            Command::SurveyAnswer {
                survey,
                question,
                answer,
            },
        );
        if let Some(interview) = self.call_mut(id).and_then(|c| c.interview.as_mut()) {
            interview.question += 1;
            interview.attempts = 0;
        }
        self.ask(id)
    }

    /// Plays the outro, if the survey has one, then finishes.
    fn outro(&mut self, id: CallId) -> Flowing {
        let outro = self.call(id).and_then(|c| {
            let interview = c.interview.as_ref()?;
            c.flow.surveys.get(interview.survey)?.outro
        });
        match outro {
            Some(prompt) => {
                self.play(id, prompt, false);
                self.wait(id, Wait::Survey(Phase::Outro))
            }
            None => self.survey_done(id),
        }
    }

    /// The survey is over: the flow goes on, or the survey call ends.
    fn survey_done(&mut self, id: CallId) -> Flowing {
        let survey = self.survey_name(id);
        self.emit(id, Command::SurveyDone { survey });
        let then = self
            .call_mut(id)
            .and_then(|c| c.interview.take())
            .map_or(Then::HangUp, |i| i.then);
        match then {
            Then::Continue(exit) => self.take(id, exit),
            Then::HangUp => Flowing::End(Outcome::HungUp {
                reason: Some("survey done".into()),
            }),
        }
    }

    fn survey_name(&self, id: CallId) -> String {
        self.call(id)
            .and_then(|c| c.survey_running())
            .unwrap_or_default()
            .to_string()
    }
}
