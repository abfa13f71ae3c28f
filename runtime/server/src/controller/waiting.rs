//! What a caller hears while waiting in a queue (SPEC 5.4), the media
//! side: the switch decides when the music plays, when an announcement is
//! due and what it says (position, estimated wait, the courtesy callback
//! offer), and when a caller who took a courtesy callback is let go (see
//! `dialect_switch`); here those become audio.
//!
//! Announcements are made of phrases synthesised once at start-up (in the
//! background); until they are ready, announcements are skipped.

use super::{Core, MediaCommand};
use dialect_bytecode::Prompt;
use dialect_engine::Event;
use dialect_media::{Frames, Law, PromptCache};
use std::path::Path;
use std::sync::Arc;

/// Numbers spoken as phrases; longer queues and waits say "more than".
const MAX_SPOKEN: usize = 20;

const YOU_ARE: &str = "You are number";
const IN_QUEUE: &str = "in the queue.";
const MANY_AHEAD: &str = "More than twenty callers are waiting ahead of you.";
const WAIT_ABOUT: &str = "The estimated wait is about";
const MINUTES: &str = "minutes.";
const MINUTE: &str = "minute.";
const LONG_WAIT: &str = "The estimated wait is more than twenty minutes.";
const PRESS_ONE: &str = "To be called back instead of waiting, press 1.";
const CALLING_BACK: &str =
    "Thank you. We will call you back, and you keep your place in the queue. Goodbye.";

fn say(text: &str) -> Prompt {
    Prompt::Say {
        text: text.to_string(),
        language: None,
    }
}

/// Every phrase announcements use.
fn phrases() -> Vec<Prompt> {
    let mut all: Vec<Prompt> = [
        YOU_ARE,
        IN_QUEUE,
        MANY_AHEAD,
        WAIT_ABOUT,
        MINUTES,
        MINUTE,
        LONG_WAIT,
        PRESS_ONE,
        CALLING_BACK,
    ]
    .iter()
    .map(|t| say(t))
    .collect();
    all.extend(
        dialect_engine::VOICEMAIL_ANNOUNCEMENTS
            .iter()
            .map(|(language, text)| Prompt::Say {
                text: (*text).to_string(),
                language: Some((*language).to_string()),
            }),
    );
    all.extend((1..=MAX_SPOKEN).map(|n| say(&n.to_string())));
    all
}

/// Synthesises the phrases into the cache on a thread of its own, so that
/// neither start-up nor calls wait for espeak-ng.
pub(super) fn prepare(cache: Arc<PromptCache>) {
    std::thread::spawn(move || {
        for phrase in phrases() {
            for law in [Law::Ulaw, Law::Alaw] {
                // A missing espeak-ng only means no announcements.
                let _ = cache.load(&phrase, Path::new("."), law);
            }
        }
    });
}

/// The first phrase announcements need that is not synthesised (yet), if
/// any.
pub(super) fn missing_phrase(cache: &PromptCache) -> Option<Prompt> {
    phrases().into_iter().find(|phrase| {
        [Law::Ulaw, Law::Alaw]
            .iter()
            .any(|law| cache.get(phrase, Path::new("."), *law).is_none())
    })
}

impl Core {
    /// Whether some queue makes announcements or offers the courtesy
    /// callback (and so needs the phrases).
    pub(super) fn announces(&self) -> bool {
        self.switch
            .directory()
            .queues
            .values()
            .any(|q| q.announce_every_ms.is_some() || q.courtesy)
    }

    fn phrase(&self, text: &str, law: Law) -> Option<Arc<Frames>> {
        self.prompts.get(&say(text), Path::new("."), law)
    }

    /// "You are number N in the queue. The estimated wait is about M
    /// minutes." (and the courtesy callback offer), in phrases synthesised
    /// once; skipped until they are ready (`announcement_skipped`; the
    /// switch logged the announcement it decided as `announced`).
    pub(super) fn announce(
        &mut self,
        call_key: u64,
        position: usize,
        minutes: u64,
        courtesy: bool,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let law = call.law;
        let minutes = usize::try_from(minutes).unwrap_or(usize::MAX);
        let mut parts: Vec<Arc<Frames>> = Vec::new();
        let mut say = |text: &str| -> bool {
            match self.phrase(text, law) {
                Some(frames) => {
                    parts.push(frames);
                    true
                }
                None => false,
            }
        };
        let mut complete = if position <= MAX_SPOKEN {
            say(YOU_ARE) && say(&position.to_string()) && say(IN_QUEUE)
        } else {
            say(MANY_AHEAD)
        };
        complete &= if minutes <= MAX_SPOKEN {
            say(WAIT_ABOUT)
                && say(&minutes.to_string())
                && say(if minutes == 1 { MINUTE } else { MINUTES })
        } else {
            say(LONG_WAIT)
        };
        if courtesy {
            complete &= say(PRESS_ONE);
        }
        if !complete {
            // The phrases are not synthesised (yet, or espeak-ng is
            // missing): the music goes on.
            self.record(call_key, "announcement_skipped", serde_json::Map::new());
            return;
        }
        let refs: Vec<&Frames> = parts.iter().map(|f| f.as_ref()).collect();
        let frames = Arc::new(Frames::concat(&refs));
        if let Some(call) = self.calls.get_mut(&call_key) {
            super::to_leg(
                &call.media,
                MediaCommand::Play { frames },
                &self.media_stats,
            );
            call.playing = true;
        }
    }

    /// The caller took the courtesy callback: thanked, then let go when
    /// the goodbye ends (at once when there is nothing to say).
    pub(super) fn farewell(&mut self, call_key: u64) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let goodbye = self.phrase(CALLING_BACK, call.law);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.queued = None;
            match goodbye {
                Some(frames) => {
                    super::to_leg(
                        &call.media,
                        MediaCommand::Play { frames },
                        &self.media_stats,
                    );
                    call.playing = true;
                }
                None => self.pending.push_back((call_key, Event::PromptFinished)),
            }
        }
    }
}
