//! The customer agent on calls (SPEC 5.6), the SIP side. The switch holds
//! the conversations and decides every turn and handoff (see
//! `dialect_switch`); here the caller is heard through the speech-to-text
//! service (voice activity detection in the leg, one request per
//! utterance), replies are spoken through text-to-speech or espeak-ng,
//! external bots are asked over HTTP, and a handoff's message is played.

use super::{Core, MediaCommand, fields};
use crate::services::ServiceResult;
use dialect_bot::{KnowledgeBase, parse_response};
use dialect_bytecode::{Program, Prompt};
use dialect_engine::Event;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Reads knowledge bases relative to the flows' directory `root`.
pub(crate) fn read_knowledge(
    root: &Path,
) -> impl Fn(&Program, &str) -> Result<KnowledgeBase, String> + use<> {
    let root: PathBuf = root.to_path_buf();
    move |program: &Program, file: &str| {
        // A built campaign's knowledge base is one of its assets.
        let path = match dialect_bytecode::assets::stored(program, file) {
            Some(stored) => root.join(stored),
            None => root.join(file),
        };
        std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| KnowledgeBase::parse(&text).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Core {
    /// Plays a prompt to the caller now, outside the flow (a handoff's
    /// message, a waiting caller's music).
    pub(super) fn play_prompt(&mut self, call_key: u64, prompt: &Prompt) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        if let Some(frames) = self.prompts.get(prompt, &self.media_root, call.law) {
            super::to_leg(
                &call.media,
                MediaCommand::Play { frames },
                &self.media_stats,
            );
            call.playing = true;
            let name = match prompt {
                Prompt::Say { text, .. } => format!("say:{text}"),
                Prompt::Play { path } => path.clone(),
            };
            // Music plays again each time it ends: logged once, when it
            // starts (or changes).
            if call.heard.as_deref() != Some(name.as_str()) {
                call.heard = Some(name.clone());
                self.record(call_key, "prompt", super::fields([("prompt", name.into())]));
            }
        }
    }

    /// The leg heard an utterance: to speech-to-text.
    pub(super) fn heard_speech(&mut self, call_key: u64, samples: Vec<i16>) {
        if !self.switch.is_listening(call_key) {
            return;
        }
        let language = self.switch.bot_language(call_key).map(str::to_string);
        self.services
            .hear(call_key, samples, format!("call-{call_key}"), language);
    }

    /// A service answered.
    pub(super) async fn on_service(&mut self, result: ServiceResult, now: Instant) {
        self.now = now;
        match result {
            ServiceResult::Heard { call, result } => match result {
                Ok(text) if !text.trim().is_empty() => {
                    self.record(call, "heard", fields([("text", text.clone().into())]));
                    self.pending.push_back((call, Event::Utterance(text)));
                }
                Ok(_) => {}
                Err(error) => self.record(call, "stt_failed", fields([("error", error.into())])),
            },
            ServiceResult::Spoken { call, result } => match result {
                Ok(frames) => {
                    if let Some(c) = self.calls.get_mut(&call) {
                        super::to_leg(&c.media, MediaCommand::Play { frames }, &self.media_stats);
                        c.playing = true;
                    }
                }
                Err(error) => {
                    self.record(call, "tts_failed", fields([("error", error.into())]));
                    self.pending.push_back((call, Event::PromptFinished));
                }
            },
            ServiceResult::Http {
                call,
                purpose,
                result,
            } => self.http_answered(call, purpose, result),
            ServiceResult::Bot {
                call,
                tag: (request, turn),
                result,
            } => {
                let response = match result {
                    Ok((status, body)) => parse_response(status, &body),
                    Err(why) => Err(dialect_bot::ProtocolError::Unreachable(why)),
                };
                let at = self.clock.at(now);
                self.switch.bot_answered(
                    call,
                    request,
                    turn,
                    response,
                    at,
                    super::store_of(&self.store),
                );
            }
        }
        self.pump(now).await;
    }
}
