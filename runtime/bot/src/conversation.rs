//! One conversation between a caller and a customer agent: the handoff
//! triggers, the embedded bot's answers, and the turns of an external bot.
//!
//! # Triggers
//!
//! On every utterance, in this order:
//!
//! 1. the handoff's custom phrases ([`Reason::Phrase`]);
//! 2. when `default_triggers` is on (the default): the caller asks for a
//!    human ([`text::ASKS_FOR_HUMAN`], [`Reason::AsksForHuman`]), the bot is
//!    paused ([`Reason::Paused`]), and, after asking the bot, the bot cannot
//!    answer: a confidence below the threshold or its own `cannot_answer`
//!    ([`Reason::CannotAnswer`]);
//! 3. the bot asks for a handoff itself ([`Reason::BotRequested`]).
//!
//! A trigger ends the conversation with [`Step::Handoff`] (the `bot`
//! block's `handoff` exit). That is not [`Step::CannotTakeCall`] (its
//! `cannot_answer` exit), which means the customer agent cannot take the
//! call at all: an external bot that fails, is too slow or answers garbage,
//! or an embedded bot without a knowledge base.
//!
//! With mode `none` nothing hands off, not even a bot's own request: the
//! phrases and the paused flag are ignored, the bot keeps answering, and a
//! question it cannot answer (or a handoff it asks for) gets a polite
//! [`fallback`] in the conversation's language. The same fallback
//! answers a question the bot cannot answer when `default_triggers` is off.
//!
//! # Language
//!
//! The conversation's language starts as the greeting's language, else the
//! bot's first language. An answer from the knowledge base sets it to the
//! entry's language; an utterance the bot cannot answer sets it to the
//! [detected](crate::lang::detect) language when that is one the bot speaks;
//! an external bot's `say` sets it to the language it gives.

use crate::config::{BotConfig, Mode};
use crate::kb::{self, KnowledgeBase};
use crate::lang;
use crate::protocol::{BotRequest, BotResponse, Channel, ProtocolError, RequestContext, VERSION};
use crate::text::{self, Phrase};
use dialect_bytecode::Prompt;
use std::sync::{Arc, LazyLock};

/// What the adapter does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Say this (synthesised on the phone, a message in a chat), then
    /// listen.
    Say {
        /// The text.
        text: String,
        /// Its language, if known.
        language: Option<String>,
    },
    /// Play this prompt, then listen.
    Play(Prompt),
    /// Send this request to the external bot and give its reply (or the
    /// failure) to [`Conversation::on_bot_response`].
    AskBot(BotRequest),
    /// Nothing to say: wait for the caller.
    Listen,
    /// A trigger fired: hand off to a human (the `handoff` exit).
    Handoff {
        /// Which trigger.
        reason: Reason,
    },
    /// The customer agent cannot take the call (the `cannot_answer` exit).
    CannotTakeCall {
        /// Why, for the event log.
        why: String,
    },
    /// The conversation is over (the `done` exit).
    Done,
}

/// Why a handoff happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A custom trigger phrase (as written in the handoff).
    Phrase(String),
    /// The caller asked for a human (the built-in phrase that matched).
    AsksForHuman(String),
    /// The customer agent is paused.
    Paused,
    /// The bot could not answer the question.
    CannotAnswer,
    /// The bot asked for the handoff, with its reason if it gave one.
    BotRequested(Option<String>),
}

impl Reason {
    /// A stable code: `phrase`, `asks_for_human`, `paused`,
    /// `cannot_answer` or `bot_requested` (ticket fields, routing rules).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Phrase(_) => "phrase",
            Reason::AsksForHuman(_) => "asks_for_human",
            Reason::Paused => "paused",
            Reason::CannotAnswer => "cannot_answer",
            Reason::BotRequested(_) => "bot_requested",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Phrase(p) => write!(f, "trigger phrase {p:?}"),
            Reason::AsksForHuman(p) => write!(f, "the caller asked for a human ({p:?})"),
            Reason::Paused => f.write_str("the customer agent is paused"),
            Reason::CannotAnswer => f.write_str("the customer agent cannot answer"),
            Reason::BotRequested(Some(r)) => write!(f, "the bot asked for a handoff: {r}"),
            Reason::BotRequested(None) => f.write_str("the bot asked for a handoff"),
        }
    }
}

/// Who said a line of the transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// The caller (or chat visitor).
    Caller,
    /// The customer agent.
    Bot,
}

/// The fallback answer to a question the bot cannot answer when nothing
/// hands off, by language: Polish for `pl`, English for anything else.
pub fn fallback(language: Option<&str>) -> (&'static str, &'static str) {
    match language.map(lang::base) {
        Some("pl") => ("Przepraszam, nie znam odpowiedzi na to pytanie.", "pl"),
        _ => ("Sorry, I don't know the answer to that.", "en"),
    }
}

/// The built-in "asks for a human" phrases, prepared once.
static ASKS_FOR_HUMAN: LazyLock<Vec<Phrase>> =
    LazyLock::new(|| text::phrases(text::ASKS_FOR_HUMAN));

/// Transcript lines kept (the last ones), at most.
pub const TRANSCRIPT_LINES: usize = 200;

/// The longest transcript line, in bytes; longer ones are cut.
pub const TRANSCRIPT_LINE_BYTES: usize = 4_096;

/// One conversation (one call or one chat). Deterministic: the same inputs
/// give the same steps.
#[derive(Clone, Debug)]
pub struct Conversation {
    config: Arc<BotConfig>,
    kb: Option<Arc<KnowledgeBase>>,
    channel: Channel,
    id: String,
    context: RequestContext,
    turn: u32,
    language: Option<String>,
    transcript: Vec<(Speaker, String)>,
    /// Lines dropped from the start of the transcript.
    omitted: usize,
    /// The turn of the request the external bot has yet to answer.
    pending: Option<u32>,
    over: bool,
}

impl Conversation {
    /// A conversation with the bot `config`, answering from `kb` when the
    /// bot is embedded.
    pub fn new(
        config: Arc<BotConfig>,
        kb: Option<Arc<KnowledgeBase>>,
        channel: Channel,
    ) -> Conversation {
        let language = match &config.greeting {
            Some(Prompt::Say {
                language: Some(l), ..
            }) => Some(l.clone()),
            _ => config.languages.first().cloned(),
        };
        Conversation {
            config,
            kb,
            channel,
            id: String::new(),
            context: RequestContext::default(),
            turn: 0,
            language,
            transcript: Vec::new(),
            omitted: 0,
            pending: None,
            over: false,
        }
    }

    /// Sets the conversation id and the context sent to an external bot.
    pub fn with_context(mut self, id: impl Into<String>, context: RequestContext) -> Conversation {
        self.id = id.into();
        self.context = context;
        self
    }

    /// The opening turn: the greeting; without one, the external bot's
    /// opening turn (a request with no utterance), or, for the embedded bot,
    /// [`Step::Listen`]. An embedded bot without a knowledge base (or with
    /// none of its languages) cannot take the call.
    pub fn first_turn(&mut self) -> Step {
        if self.over {
            return Step::Done;
        }
        if let Some(why) = self.unavailable() {
            return self.end(Step::CannotTakeCall { why });
        }
        match self.config.greeting.clone() {
            Some(Prompt::Say { text, language }) => {
                self.note((Speaker::Bot, text.clone()));
                Step::Say {
                    text,
                    language: language.or_else(|| self.language.clone()),
                }
            }
            Some(Prompt::Play { path }) => {
                self.note((Speaker::Bot, format!("[{path}]")));
                Step::Play(Prompt::Play { path })
            }
            None if self.config.is_external() => self.ask(None, None),
            None => Step::Listen,
        }
    }

    /// The caller said (or typed) `text`; `paused` is whether the customer
    /// agent is paused now. An utterance with no words is silence:
    /// [`Step::Listen`] (unless paused). An utterance while an external
    /// bot's reply is awaited supersedes that request: the adapter should
    /// drop the older reply.
    pub fn on_utterance(&mut self, text: &str, paused: bool) -> Step {
        if self.over {
            return Step::Done;
        }
        if let Some(why) = self.unavailable() {
            return self.end(Step::CannotTakeCall { why });
        }
        let words = text::words(text);
        if words.is_empty() {
            return if paused && self.hands_off_by_default() {
                self.hand_off(Reason::Paused)
            } else {
                Step::Listen
            };
        }
        self.turn = self.turn.saturating_add(1);
        self.note((Speaker::Caller, text.to_owned()));
        if let Some(reason) = self.trigger(&words, paused) {
            return self.hand_off(reason);
        }
        if self.config.is_external() {
            return self.ask(Some(text.to_owned()), None);
        }
        self.answer(text)
    }

    /// The caller pressed `keys`. An external bot gets them as a turn; the
    /// embedded bot ignores them ([`Step::Listen`]). The paused trigger
    /// applies as for an utterance.
    pub fn on_keys(&mut self, keys: &str, paused: bool) -> Step {
        if self.over {
            return Step::Done;
        }
        if let Some(why) = self.unavailable() {
            return self.end(Step::CannotTakeCall { why });
        }
        if paused && self.hands_off_by_default() {
            return self.hand_off(Reason::Paused);
        }
        if !self.config.is_external() || keys.is_empty() {
            return Step::Listen;
        }
        self.turn = self.turn.saturating_add(1);
        self.note((Speaker::Caller, format!("[keys {keys}]")));
        self.ask(None, Some(keys.to_owned()))
    }

    /// The external bot's reply to the last [`Step::AskBot`], or why there
    /// is none (an error, a timeout, an unreachable service: all mean the
    /// customer agent cannot take the call). A reply when none is awaited
    /// changes nothing ([`Step::Listen`]).
    pub fn on_bot_response(&mut self, response: Result<BotResponse, ProtocolError>) -> Step {
        if self.over {
            return Step::Done;
        }
        if self.pending.take().is_none() {
            return Step::Listen;
        }
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                return self.end(Step::CannotTakeCall {
                    why: error.to_string(),
                });
            }
        };
        match response {
            BotResponse::Say {
                text,
                language,
                confidence,
            } => {
                if confidence.is_some_and(|c| c < self.config.threshold) {
                    return self.cannot_answer();
                }
                if language.is_some() {
                    self.language.clone_from(&language);
                }
                self.note((Speaker::Bot, text.clone()));
                Step::Say {
                    text,
                    language: language.or_else(|| self.language.clone()),
                }
            }
            BotResponse::Prompt { prompt } => {
                self.note((Speaker::Bot, format!("[{prompt}]")));
                Step::Play(Prompt::Play { path: prompt })
            }
            BotResponse::CannotAnswer => self.cannot_answer(),
            BotResponse::Handoff { reason } => self.hand_off(Reason::BotRequested(reason)),
            BotResponse::Done => self.end(Step::Done),
        }
    }

    /// Every line said so far, in order: the caller's utterances (keys as
    /// `[keys 12]`) and the bot's answers (prompts as `[path]`), for tickets.
    pub fn transcript(&self) -> &[(Speaker, String)] {
        &self.transcript
    }

    /// Lines dropped from the start of the transcript to keep it bounded.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// Adds a line to the transcript, which keeps the last
    /// [`TRANSCRIPT_LINES`] lines of at most [`TRANSCRIPT_LINE_BYTES`] each
    /// (older lines are dropped in batches, so the cost stays linear).
    fn note(&mut self, (speaker, mut text): (Speaker, String)) {
        if text.len() > TRANSCRIPT_LINE_BYTES {
            let mut cut = TRANSCRIPT_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        self.transcript.push((speaker, text));
        if self.transcript.len() > TRANSCRIPT_LINES + TRANSCRIPT_LINES / 4 {
            let excess = self.transcript.len() - TRANSCRIPT_LINES;
            self.transcript.drain(..excess);
            self.omitted += excess;
        }
    }

    /// The conversation's language as far as it is known.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// The last turn: 0 before the caller said anything.
    pub fn turn(&self) -> u32 {
        self.turn
    }

    /// The turn of the request an external bot has yet to answer.
    pub fn awaiting(&self) -> Option<u32> {
        self.pending
    }

    /// Whether the conversation has ended (a handoff, the bot cannot take
    /// the call, or done); every later input gives [`Step::Done`].
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The bot's configuration.
    pub fn config(&self) -> &BotConfig {
        &self.config
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Why the bot cannot take the call, if it cannot.
    fn unavailable(&self) -> Option<String> {
        if self.config.is_external() {
            return None;
        }
        match &self.kb {
            None => Some(format!(
                "the bot {} has no knowledge base",
                self.config.name
            )),
            Some(kb) if !kb.serves(&self.config.languages) => Some(format!(
                "the knowledge base of the bot {} has no entry in {}",
                self.config.name,
                self.config.languages.join(", ")
            )),
            Some(_) => None,
        }
    }

    fn hands_off_by_default(&self) -> bool {
        self.config.handoff.default_triggers && self.config.handoff.mode != Mode::None
    }

    /// The trigger that fires before the bot is asked, if any.
    fn trigger(&self, words: &[String], paused: bool) -> Option<Reason> {
        let handoff = &self.config.handoff;
        if handoff.mode == Mode::None {
            return None;
        }
        if let Some(p) = text::find(&handoff.triggers, words) {
            return Some(Reason::Phrase(p.source.clone()));
        }
        if !handoff.default_triggers {
            return None;
        }
        if let Some(p) = text::find(&ASKS_FOR_HUMAN, words) {
            return Some(Reason::AsksForHuman(p.source.clone()));
        }
        paused.then_some(Reason::Paused)
    }

    /// The embedded bot answers from its knowledge base.
    fn answer(&mut self, text: &str) -> Step {
        let Some(kb) = self.kb.clone() else {
            return self.end(Step::CannotTakeCall {
                why: format!("the bot {} has no knowledge base", self.config.name),
            });
        };
        let found = kb.best(text, &self.config.languages);
        match found {
            Some(m) if m.confidence >= self.config.threshold => {
                self.language = Some(m.language.clone());
                self.note((Speaker::Bot, m.answer.clone()));
                Step::Say {
                    text: m.answer,
                    language: Some(m.language),
                }
            }
            weak => {
                let detected = lang::detect(text)
                    .filter(|l| kb::allowed(l, &self.config.languages))
                    .map(str::to_owned)
                    .or_else(|| weak.map(|m| m.language));
                if detected.is_some() {
                    self.language = detected;
                }
                self.cannot_answer()
            }
        }
    }

    /// The bot cannot answer this question: a handoff by default, else the
    /// fallback answer.
    fn cannot_answer(&mut self) -> Step {
        if self.hands_off_by_default() {
            self.hand_off(Reason::CannotAnswer)
        } else {
            self.fallback()
        }
    }

    fn hand_off(&mut self, reason: Reason) -> Step {
        if self.config.handoff.mode == Mode::None {
            return self.fallback();
        }
        self.end(Step::Handoff { reason })
    }

    fn fallback(&mut self) -> Step {
        let language = self
            .language
            .clone()
            .or_else(|| self.config.languages.first().cloned());
        let (text, language) = fallback(language.as_deref());
        self.language = Some(language.to_owned());
        self.note((Speaker::Bot, text.to_owned()));
        Step::Say {
            text: text.to_owned(),
            language: Some(language.to_owned()),
        }
    }

    fn ask(&mut self, utterance: Option<String>, keys: Option<String>) -> Step {
        self.pending = Some(self.turn);
        Step::AskBot(BotRequest {
            version: VERSION,
            conversation: self.id.clone(),
            turn: self.turn,
            channel: self.channel,
            language: self.language.clone(),
            utterance,
            keys,
            context: self.context.clone(),
        })
    }

    fn end(&mut self, step: Step) -> Step {
        self.over = true;
        self.pending = None;
        step
    }
}
