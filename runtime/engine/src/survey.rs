//! Post-call surveys (SPEC 5.7) as a program declares them, read once per
//! flow load, and what a key means for a question. The engine runs them
//! (`engine/interview.rs`); `docs/surveys.md` describes the behaviour.
//!
//! A program carries a survey as a declaration of kind `survey` (`mode`,
//! `delay`, `intro`, `outro`) and its questions as declarations of kind
//! `question` named `<survey>/<question>` (`type`, `prompt`, `retries`);
//! the campaign's `survey` setting refers to the survey by name.

use crate::flow::FlowError;
use dialect_bytecode::{Program, Value};

/// How long after a call an outbound survey is placed when the survey does
/// not say (ms): one hour.
pub const DEFAULT_DELAY_MS: u64 = 3_600_000;

/// How many times a question is asked again after no key or an invalid
/// answer, when the question does not say.
pub const DEFAULT_RETRIES: u32 = 2;

/// How long the caller has to press the first key after a question's
/// prompt ends (ms).
pub const ANSWER_TIMEOUT_MS: u64 = 5_000;

/// How long an NPS answer waits for its second key (ms); after it the
/// digit typed is the answer.
pub const NPS_DIGIT_TIMEOUT_MS: u64 = 3_000;

/// The longest spoken comment (ms).
pub const COMMENT_MAX_MS: u64 = 60_000;

/// The answer emitted for a comment that was recorded.
pub const RECORDED: &str = "recorded";

/// A survey of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survey {
    /// Its qualified name, as in the dump (`std/survey.csat`).
    pub name: String,
    /// When it runs.
    pub mode: SurveyMode,
    /// For [`SurveyMode::Outbound`]: how long after the call (ms).
    pub delay_ms: u64,
    /// Played before the first question (an index into the program's prompts).
    pub intro: Option<u32>,
    /// Played after the last answer.
    pub outro: Option<u32>,
    /// The questions, in the order they are asked.
    pub questions: Vec<Question>,
}

/// When a campaign's survey runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurveyMode {
    /// Right after the agent hangs up, while the caller stays on the line.
    AfterCall,
    /// As a call to the customer, `delay_ms` after the conversation.
    Outbound,
}

/// One question of a survey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Its name within the survey (`score`).
    pub name: String,
    /// How it is answered.
    pub kind: QuestionKind,
    /// The question (an index into the program's prompts).
    pub prompt: u32,
    /// How many times it is asked again after no key or an invalid answer.
    pub retries: u32,
}

/// How a question is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuestionKind {
    /// One key, 1 to 5.
    Csat,
    /// 0 to 10: one or two keys, ended by `#` or a pause.
    Nps,
    /// One key: 1 yes, 2 no.
    YesNo,
    /// A recorded message.
    Comment,
}

/// What the keys typed so far make of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A valid answer, as emitted (`"5"`, `"10"`, `"yes"`).
    Valid(String),
    /// Not complete yet: wait for another key or the pause that ends it.
    More,
    /// Not an answer to this question: ask again.
    Invalid,
}

impl QuestionKind {
    /// The word of the `type` setting.
    pub fn word(self) -> &'static str {
        match self {
            QuestionKind::Csat => "csat",
            QuestionKind::Nps => "nps",
            QuestionKind::YesNo => "yes_no",
            QuestionKind::Comment => "comment",
        }
    }

    /// What `key` makes of an answer of which `typed` was typed before.
    /// Comments take no keys (the engine ignores keys while one is asked);
    /// here every key is invalid for them.
    pub fn key(self, typed: &str, key: char) -> Answer {
        match (self, key) {
            (QuestionKind::Csat, '1'..='5') => Answer::Valid(key.to_string()),
            (QuestionKind::YesNo, '1') => Answer::Valid("yes".into()),
            (QuestionKind::YesNo, '2') => Answer::Valid("no".into()),
            (QuestionKind::Nps, '#') => self.complete(typed),
            (QuestionKind::Nps, '0'..='9') => {
                let mut typed = typed.to_string();
                typed.push(key);
                if typed.len() >= 2 {
                    self.complete(&typed)
                } else {
                    Answer::More
                }
            }
            _ => Answer::Invalid,
        }
    }

    /// The answer made of `typed` when no more keys come (`#` or a pause).
    pub fn complete(self, typed: &str) -> Answer {
        match self {
            QuestionKind::Nps => match typed.parse::<u8>() {
                Ok(n) if n <= 10 && !typed.is_empty() => Answer::Valid(n.to_string()),
                _ => Answer::Invalid,
            },
            _ => Answer::Invalid,
        }
    }
}

/// Reads every survey a program declares, and which one is the campaign's
/// (its index in the list). Questions are asked in source order: the
/// compiler lowers a survey's questions in source order and numbers prompts
/// by first use, so the order of their prompts is the order they were
/// written in.
pub(crate) fn read(program: &Program) -> Result<(Vec<Survey>, Option<usize>), FlowError> {
    let mut surveys = Vec::new();
    for decl in program.decls.iter().filter(|d| d.kind == "survey") {
        let error = |message: String| FlowError::Survey {
            survey: decl.name.clone(),
            message,
        };
        let mode = match decl.settings.get("mode") {
            None => SurveyMode::AfterCall,
            Some(Value::Word(w)) if w == "after_call" => SurveyMode::AfterCall,
            Some(Value::Word(w)) if w == "outbound" => SurveyMode::Outbound,
            Some(other) => return Err(error(format!("`mode` is {other:?}"))),
        };
        let delay_ms = match decl.settings.get("delay") {
            None => DEFAULT_DELAY_MS,
            Some(Value::Duration(ms)) => *ms,
            Some(other) => return Err(error(format!("`delay` is {other:?}"))),
        };
        let prompt = |name: &str| match decl.settings.get(name) {
            None => Ok(None),
            Some(Value::Prompt(p)) => Ok(Some(*p)),
            Some(other) => Err(error(format!("`{name}` is {other:?}"))),
        };
        let (intro, outro) = (prompt("intro")?, prompt("outro")?);
        let prefix = format!("{}/", decl.name);
        let mut questions = Vec::new();
        for q in program.decls.iter().filter(|d| d.kind == "question") {
            let Some(name) = q.name.strip_prefix(&prefix).filter(|n| !n.contains('/')) else {
                continue;
            };
            questions.push(question(name, &q.settings).map_err(&error)?);
        }
        if questions.is_empty() {
            return Err(error("it has no question".into()));
        }
        questions.sort_by_key(|q| q.prompt);
        surveys.push(Survey {
            name: decl.name.clone(),
            mode,
            delay_ms,
            intro,
            outro,
            questions,
        });
    }
    let chosen = match program.settings.get("survey") {
        None => None,
        Some(Value::Ref(_, name)) => match surveys.iter().position(|s| s.name == *name) {
            Some(i) => Some(i),
            None => {
                return Err(FlowError::Survey {
                    survey: name.clone(),
                    message: "the campaign's `survey` names no survey of the program".into(),
                });
            }
        },
        Some(other) => {
            return Err(FlowError::Survey {
                survey: String::new(),
                message: format!("the campaign's `survey` is {other:?}"),
            });
        }
    };
    Ok((surveys, chosen))
}

fn question(name: &str, settings: &dialect_bytecode::Settings) -> Result<Question, String> {
    let kind = match settings.get("type") {
        Some(Value::Word(w)) => match w.as_str() {
            "csat" => QuestionKind::Csat,
            "nps" => QuestionKind::Nps,
            "yes_no" => QuestionKind::YesNo,
            "comment" => QuestionKind::Comment,
            other => return Err(format!("question `{name}` has the unknown type `{other}`")),
        },
        other => return Err(format!("question `{name}` has the type {other:?}")),
    };
    let prompt = match settings.get("prompt") {
        Some(Value::Prompt(p)) => *p,
        other => return Err(format!("question `{name}` has the prompt {other:?}")),
    };
    let retries = match settings.get("retries") {
        None => DEFAULT_RETRIES,
        Some(Value::Int(n)) => {
            u32::try_from(*n).map_err(|_| format!("question `{name}` has {n} retries"))?
        }
        Some(other) => return Err(format!("question `{name}` has the retries {other:?}")),
    };
    Ok(Question {
        name: name.to_string(),
        kind,
        prompt,
        retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(kind: QuestionKind, keys: &str) -> Answer {
        let mut typed = String::new();
        let mut last = Answer::More;
        for key in keys.chars() {
            last = kind.key(&typed, key);
            if last != Answer::More {
                return last;
            }
            typed.push(key);
        }
        match last {
            Answer::More => kind.complete(&typed),
            other => other,
        }
    }

    #[test]
    fn csat_takes_one_key_from_1_to_5() {
        for key in '1'..='5' {
            assert_eq!(
                answers(QuestionKind::Csat, &key.to_string()),
                Answer::Valid(key.into())
            );
        }
        for key in ['0', '6', '9', '*', '#'] {
            assert_eq!(
                answers(QuestionKind::Csat, &key.to_string()),
                Answer::Invalid
            );
        }
    }

    #[test]
    fn yes_no_is_1_or_2() {
        assert_eq!(
            answers(QuestionKind::YesNo, "1"),
            Answer::Valid("yes".into())
        );
        assert_eq!(
            answers(QuestionKind::YesNo, "2"),
            Answer::Valid("no".into())
        );
        assert_eq!(answers(QuestionKind::YesNo, "3"), Answer::Invalid);
    }

    #[test]
    fn nps_is_one_or_two_keys_up_to_10() {
        let nps = QuestionKind::Nps;
        assert_eq!(nps.key("", '1'), Answer::More);
        assert_eq!(answers(nps, "1"), Answer::Valid("1".into()));
        assert_eq!(answers(nps, "10"), Answer::Valid("10".into()));
        assert_eq!(answers(nps, "0"), Answer::Valid("0".into()));
        assert_eq!(answers(nps, "7#"), Answer::Valid("7".into()));
        assert_eq!(answers(nps, "05"), Answer::Valid("5".into()));
        assert_eq!(answers(nps, "11"), Answer::Invalid);
        assert_eq!(answers(nps, "99"), Answer::Invalid);
        assert_eq!(answers(nps, "#"), Answer::Invalid);
        assert_eq!(answers(nps, "*"), Answer::Invalid);
        assert_eq!(nps.complete(""), Answer::Invalid);
    }

    #[test]
    fn comments_take_no_keys() {
        assert_eq!(QuestionKind::Comment.key("", '1'), Answer::Invalid);
    }
}
