//! The customer agent (SPEC 5.6): a bot that converses with callers and
//! hands them off to humans.
//!
//! Like the engine, this crate performs no I/O and reads no clock: callers
//! pass file contents as strings and replies as values, and the same inputs
//! always give the same outputs, so `dialect serve` and the simulator behind
//! `dialect test` share it.
//!
//! - [`BotConfig::from_program`] reads a `bot` declaration and its
//!   `handoff` rules from a compiled program.
//! - [`KnowledgeBase::parse`] reads the embedded bot's knowledge base (a
//!   TOML file) and [`KnowledgeBase::best`] finds the answer (BM25, see
//!   [`kb`]).
//! - [`Conversation`] is one call or chat: [`Conversation::first_turn`],
//!   [`Conversation::on_utterance`] and, for an external bot,
//!   [`Conversation::on_bot_response`] return the next [`Step`]. The
//!   handoff triggers are evaluated here (see [`conversation`]).
//! - [`protocol`] is the external bot protocol (documented for bot authors
//!   in `PROTOCOL.md`) and the speech services' types.
//! - [`Router`] decides where a handed-off ticket goes.
//!
//! How an adapter maps steps onto the engine's `bot` block: [`Step::Say`]
//! and [`Step::Play`] are the bot's turn (`BotReply::Say`, then the caller's
//! next utterance); [`Step::Handoff`] is the `handoff` exit,
//! [`Step::CannotTakeCall`] the `cannot_answer` exit, [`Step::Done`] the
//! `done` exit; [`Step::AskBot`] is an HTTP request whose outcome goes to
//! [`Conversation::on_bot_response`], with the bot's `timeout`.

#![warn(missing_docs)]

pub mod config;
pub mod conversation;
pub mod kb;
pub mod lang;
pub mod protocol;
pub mod route;
pub mod text;

pub use config::{
    BotConfig, DEFAULT_THRESHOLD, DEFAULT_TIMEOUT_MS, HandoffRules, Mode, Unassigned,
};
pub use conversation::{
    Conversation, Reason, Speaker, Step, TRANSCRIPT_LINE_BYTES, TRANSCRIPT_LINES,
};
pub use kb::{Entry, KbError, KnowledgeBase, Match};
pub use protocol::{
    BotRequest, BotResponse, Channel, ProtocolError, RequestContext, SttResult, TtsRequest,
    parse_response,
};
pub use route::{Assignment, Handoff, Router, TicketFacts};
pub use text::{Phrase, normalize};
