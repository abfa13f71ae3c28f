//! What a caller hears while waiting in a queue (SPEC 5.4): the queue's
//! music (looped), position and estimated-wait announcements every
//! `announce_every`, and, where the queue offers it, a courtesy callback
//! instead of waiting (key 1): the caller keeps their place, hangs up, and
//! is called back when an agent is about to be free.
//!
//! Announcements are made of phrases synthesised once at start-up (in the
//! background); until they are ready, announcements are skipped.

use super::{Core, MediaCommand, fields};
use dialect_bytecode::Prompt;
use dialect_media::{Frames, Law, PromptCache};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Numbers spoken as phrases; longer queues and waits say "more than".
const MAX_SPOKEN: usize = 20;

/// Assumed handling time before a queue has any finished call.
const DEFAULT_HANDLE_MS: u64 = 120_000;

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

impl Core {
    fn phrase(&self, text: &str, law: Law) -> Option<Arc<Frames>> {
        self.prompts.get(&say(text), Path::new("."), law)
    }

    /// Plays the queue's music to a waiting caller (once; it is started
    /// again each time it ends).
    pub(super) fn start_music(&mut self, call_key: u64) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let Some((queue, _)) = &call.queued else {
            return;
        };
        let music = self
            .switch
            .directory()
            .queues
            .get(queue)
            .and_then(|q| q.music.clone())
            .or_else(|| {
                self.switch
                    .directory()
                    .campaigns
                    .get(&call.campaign)
                    .and_then(|c| c.queue_music.clone())
            });
        let Some(frames) = music.and_then(|p| self.prompts.get(&p, &self.media_root, call.law))
        else {
            return;
        };
        let _ = call.media.try_send(MediaCommand::Play { frames });
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.playing = true;
        }
    }

    /// Schedules the call's next announcement, if its queue makes them.
    pub(super) fn schedule_announcement(&mut self, call_key: u64, now: Instant) {
        let every = self
            .calls
            .get(&call_key)
            .and_then(|c| c.queued.as_ref())
            .and_then(|(q, _)| self.switch.directory().queues.get(q))
            .and_then(|q| q.announce_every_ms);
        if let Some(every) = every {
            self.timer_seq += 1;
            self.announcements.insert(
                (now + Duration::from_millis(every), self.timer_seq),
                call_key,
            );
        }
    }

    /// When the next announcement is due.
    pub(super) fn announcement_deadline(&self) -> Option<Instant> {
        self.announcements.keys().next().map(|(at, _)| *at)
    }

    /// Makes the announcements that are due.
    pub(super) fn on_announcement_timeout(&mut self, now: Instant) {
        while let Some((&(at, seq), &call_key)) = self.announcements.iter().next() {
            if at > now {
                break;
            }
            self.announcements.remove(&(at, seq));
            let waiting = self
                .calls
                .get(&call_key)
                .is_some_and(|c| c.queued.is_some() && c.agent.is_none() && !c.held);
            if waiting {
                self.announce(call_key, now);
                self.schedule_announcement(call_key, now);
            }
        }
    }

    /// "You are number N in the queue. The estimated wait is about M
    /// minutes." (and the courtesy callback offer).
    fn announce(&mut self, call_key: u64, now: Instant) {
        let ms = self.acd_ms(now);
        let Some(position) = self.switch.acd().position(call_key, ms) else {
            return;
        };
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let Some((queue, _)) = call.queued.clone() else {
            return;
        };
        let law = call.law;
        let agents = self
            .switch
            .directory()
            .agents
            .iter()
            .filter(|(name, (queues, _))| {
                queues.contains(&queue)
                    && !matches!(
                        self.switch.acd().state(name),
                        Some(dialect_acd::State::LoggedOut) | None
                    )
            })
            .count()
            .max(1);
        let handle = self
            .handle_times
            .get(&queue)
            .filter(|(_, n)| *n > 0)
            .map_or(DEFAULT_HANDLE_MS, |(sum, n)| sum / n);
        let position_u64 = u64::try_from(position).unwrap_or(u64::MAX);
        let wait_ms = position_u64.saturating_mul(handle) / u64::try_from(agents).unwrap_or(1);
        let minutes = usize::try_from(wait_ms.div_ceil(60_000).max(1)).unwrap_or(usize::MAX);
        let courtesy = self
            .switch
            .directory()
            .queues
            .get(&queue)
            .is_some_and(|q| q.courtesy);
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
            // The phrases are not synthesised (yet, or espeak-ng is missing).
            return;
        }
        let refs: Vec<&Frames> = parts.iter().map(|f| f.as_ref()).collect();
        let frames = Arc::new(Frames::concat(&refs));
        if let Some(call) = self.calls.get_mut(&call_key) {
            let _ = call.media.try_send(MediaCommand::Play { frames });
            call.playing = true;
        }
        self.record(
            call_key,
            "announced",
            fields([
                ("position", position.into()),
                ("minutes", minutes.into()),
                ("courtesy", courtesy.into()),
            ]),
        );
    }

    /// A key pressed while waiting: `1` takes the courtesy callback where
    /// the queue offers it. Returns whether the key was used.
    pub(super) fn queued_digit(&mut self, call_key: u64, key: char, now: Instant) -> bool {
        let Some(call) = self.calls.get(&call_key) else {
            return false;
        };
        let Some((queue, _)) = call.queued.clone() else {
            return false;
        };
        let offered = self
            .switch
            .directory()
            .queues
            .get(&queue)
            .is_some_and(|q| q.courtesy);
        if key != '1' || !offered || call.agent.is_some() || call.leave_after_prompt {
            return false;
        }
        let (number, law) = (call.number.clone(), call.law);
        self.courtesy_callback(
            call_key,
            number,
            Some(queue),
            0,
            Some("courtesy callback while waiting".into()),
            now,
        );
        self.switch.remove(call_key, self.clock.at(now));
        let goodbye = self.phrase(CALLING_BACK, law);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.queued = None;
            call.leave_after_prompt = true;
            match goodbye {
                Some(frames) => {
                    let _ = call.media.try_send(MediaCommand::Play { frames });
                    call.playing = true;
                }
                None => {
                    // Nothing to say: the caller is let go at once.
                    self.pending_leave.push(call_key);
                }
            }
        }
        true
    }

    /// A prompt ended on a call: a waiting caller's music goes on; a caller
    /// who took a courtesy callback is hung up. Returns whether the call
    /// is leaving.
    pub(super) fn prompt_finished(&mut self, call_key: u64) -> bool {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        call.playing = false;
        if call.leave_after_prompt {
            return true;
        }
        if call.queued.is_some() && call.agent.is_none() && !call.held {
            self.start_music(call_key);
        }
        false
    }

    /// Counts a finished conversation's length towards its queue's
    /// average handling time (for estimated waits).
    pub(super) fn count_handle_time(&mut self, queue: &str, talked: Duration) {
        let entry = self.handle_times.entry(queue.to_string()).or_insert((0, 0));
        entry.0 = entry
            .0
            .saturating_add(u64::try_from(talked.as_millis()).unwrap_or(u64::MAX));
        entry.1 += 1;
    }
}
