//! The bot protocol and the types of the speech services. What follows is
//! `PROTOCOL.md`, the specification for bot authors.
//!
//! [`parse_response`] reads a bot's reply; every [`ProtocolError`] (and a
//! timeout or an unreachable bot, which the adapter reports as
//! [`ProtocolError::Timeout`] and [`ProtocolError::Unreachable`]) means
//! the same to a [`Conversation`](crate::Conversation): the customer agent
//! cannot take the call.
//!
#![doc = include_str!("../PROTOCOL.md")]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol version the runtime speaks, sent in every request.
pub const VERSION: u32 = 1;
/// The longest `text` a bot may say, in characters.
pub const MAX_TEXT: usize = 2000;
/// The longest response body the runtime reads, in bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest handoff reason kept, in characters (longer ones are cut).
pub const MAX_REASON: usize = 200;
/// Request header naming the conversation (speech services).
pub const HEADER_CONVERSATION: &str = "X-Dialect-Conversation";
/// Request header with the expected language (speech-to-text).
pub const HEADER_LANGUAGE: &str = "X-Dialect-Language";

/// Where the conversation takes place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A phone call: the caller's speech goes through speech-to-text, the
    /// bot's text through text-to-speech.
    Voice,
    /// A chat: text both ways.
    Chat,
}

impl Channel {
    /// `voice` or `chat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One turn sent to an external bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotRequest {
    /// The protocol version, [`VERSION`].
    pub version: u32,
    /// The conversation's id, the same for every turn of one call or chat.
    pub conversation: String,
    /// The turn: 0 for the opening turn (no utterance), then 1, 2, ... for
    /// each thing the caller said or typed.
    pub turn: u32,
    /// Voice or chat.
    pub channel: Channel,
    /// The conversation's language as far as it is known (`pl`).
    pub language: Option<String>,
    /// What the caller said or typed; `None` on the opening turn and when
    /// the caller pressed keys.
    pub utterance: Option<String>,
    /// Keys the caller pressed (DTMF), if that is what this turn is.
    pub keys: Option<String>,
    /// Who is calling, where.
    pub context: RequestContext,
}

/// What the bot knows about the call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// The campaign's identifier.
    pub campaign: String,
    /// The caller: an E.164 number on the phone, a visitor id in a chat.
    pub caller: String,
    /// The call's flow variables, as text.
    pub variables: BTreeMap<String, String>,
}

/// A bot's answer to one turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BotResponse {
    /// Say this (speech on the phone, text in a chat) and listen.
    Say {
        /// What to say, at most [`MAX_TEXT`] characters.
        text: String,
        /// Its language, if the bot knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        /// How sure the bot is, 0..=1; below the bot's threshold the
        /// answer counts as "cannot answer".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confidence: Option<f64>,
    },
    /// Play an audio file of the flows (a path relative to the build root).
    Prompt {
        /// The path, such as `prompts/hours.wav`.
        prompt: String,
    },
    /// The bot has no answer to what was asked.
    CannotAnswer,
    /// The bot wants a human to take over.
    Handoff {
        /// Why, for the ticket and the event log.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The conversation is over.
    Done,
}

/// Why a bot's reply was refused, or why no reply came. Every one of them
/// means the same to the conversation: the customer agent cannot take the
/// call.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The HTTP status was not 2xx.
    #[error("the bot answered with HTTP status {0}")]
    Status(u16),
    /// The body was too large.
    #[error("the bot's reply is {0} bytes, more than {MAX_BODY}")]
    TooLarge(usize),
    /// The body was not JSON.
    #[error("the bot's reply is not JSON: {0}")]
    Json(String),
    /// The body was JSON but not an object.
    #[error("the bot's reply is not a JSON object")]
    NotAnObject,
    /// No `type`.
    #[error("the bot's reply has no \"type\"")]
    MissingType,
    /// A `type` this runtime does not know.
    #[error(
        "the bot's reply has an unknown type {0:?} (expected say, prompt, cannot_answer, handoff or done)"
    )]
    UnknownType(String),
    /// A required field is missing.
    #[error("the bot's {kind:?} reply has no {field:?}")]
    Missing {
        /// The reply's type.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("the bot's reply has {field:?} that is not {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `text` is empty.
    #[error("the bot's reply has an empty \"text\"")]
    EmptyText,
    /// `text` is too long.
    #[error("the bot's text is {0} characters, more than {MAX_TEXT}")]
    TextTooLong(usize),
    /// `confidence` is outside 0..=1.
    #[error("the bot's confidence {0} is outside 0..1")]
    Confidence(f64),
    /// `prompt` is not a safe relative path.
    #[error("the bot's prompt {0:?} is not a relative path inside the flows")]
    BadPrompt(String),
    /// No reply in time (set by the adapter).
    #[error("the bot did not answer within {0} ms")]
    Timeout(u64),
    /// The bot could not be reached (set by the adapter).
    #[error("the bot could not be reached: {0}")]
    Unreachable(String),
}

/// Reads a bot's HTTP reply. Unknown fields are ignored (a newer bot may
/// send more); everything the runtime uses is checked.
pub fn parse_response(status: u16, body: &str) -> Result<BotResponse, ProtocolError> {
    if !(200..300).contains(&status) {
        return Err(ProtocolError::Status(status));
    }
    if body.len() > MAX_BODY {
        return Err(ProtocolError::TooLarge(body.len()));
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ProtocolError::Json(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ProtocolError::NotAnObject);
    };
    let kind = match map.get("type") {
        None | Some(serde_json::Value::Null) => return Err(ProtocolError::MissingType),
        Some(serde_json::Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(ProtocolError::WrongType {
                field: "type",
                expected: "a string",
            });
        }
    };
    match kind {
        "say" => {
            let text = string(&map, "text")?.ok_or(ProtocolError::Missing {
                kind: "say",
                field: "text",
            })?;
            if text.trim().is_empty() {
                return Err(ProtocolError::EmptyText);
            }
            let chars = text.chars().count();
            if chars > MAX_TEXT {
                return Err(ProtocolError::TextTooLong(chars));
            }
            let language = string(&map, "language")?
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty());
            let confidence = match map.get("confidence") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Number(n)) => {
                    let c = n.as_f64().ok_or(ProtocolError::WrongType {
                        field: "confidence",
                        expected: "a number",
                    })?;
                    if !(0.0..=1.0).contains(&c) {
                        return Err(ProtocolError::Confidence(c));
                    }
                    Some(c)
                }
                Some(_) => {
                    return Err(ProtocolError::WrongType {
                        field: "confidence",
                        expected: "a number",
                    });
                }
            };
            Ok(BotResponse::Say {
                text,
                language,
                confidence,
            })
        }
        "prompt" => {
            let prompt = string(&map, "prompt")?.ok_or(ProtocolError::Missing {
                kind: "prompt",
                field: "prompt",
            })?;
            if !is_relative_path(&prompt) {
                return Err(ProtocolError::BadPrompt(prompt));
            }
            Ok(BotResponse::Prompt { prompt })
        }
        "cannot_answer" => Ok(BotResponse::CannotAnswer),
        "handoff" => {
            let reason = string(&map, "reason")?
                .map(|r| r.trim().chars().take(MAX_REASON).collect::<String>())
                .filter(|r| !r.is_empty());
            Ok(BotResponse::Handoff { reason })
        }
        "done" => Ok(BotResponse::Done),
        other => Err(ProtocolError::UnknownType(other.chars().take(40).collect())),
    }
}

/// An optional string field (`null` counts as absent).
fn string(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<Option<String>, ProtocolError> {
    match map.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ProtocolError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// A path the runtime may open below the flows: relative, `/`-separated,
/// no `..`, no empty segment, no backslash or control character.
fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 512
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(':'))
}

/// The reply of a speech-to-text service: what the caller said in one
/// utterance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SttResult {
    /// The transcript; empty when nothing intelligible was said.
    pub text: String,
    /// The language recognised, if the service knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// How sure the service is, 0..=1, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// The request to a text-to-speech service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtsRequest {
    /// What to say.
    pub text: String,
    /// Its language (`pl`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}
