//! What a caller waiting in a queue hears and may do (SPEC 5.4): the
//! queue's music (again each time a prompt ends), position and
//! estimated-wait announcements every `announce_every`, and, where the
//! queue offers it, a courtesy callback instead of waiting (key 1): the
//! caller keeps their place, hears a goodbye and is let go, and is called
//! back later. The switch decides all of it; the world plays what it is
//! told and words the announcement.

use crate::{Action, CallKey, Switch, fields};
use dialect_acd::{Place, State};
use dialect_bytecode::Prompt;
use jiff::{SignedDuration, Timestamp};

/// Assumed handling time before a queue has any finished call.
pub const DEFAULT_HANDLE_MS: u64 = 120_000;

impl Switch {
    /// The call waits in `queue` now (entered or overflowed): its music
    /// starts unless something plays, and its announcements are scheduled.
    pub(crate) fn waiting(&mut self, key: CallKey, queue: String, now: Timestamp) {
        let music = self.music_for(key, &queue);
        let Some(call) = self.calls.get_mut(&key) else {
            // An ACD entry without a flow (a callback being placed).
            return;
        };
        call.queue = Some(queue.clone());
        call.last_queue = Some(queue.clone());
        if call.waiting_since.is_none() {
            call.waiting_since = Some(now);
        }
        let playing = call.playing;
        self.actions.push_back(Action::Waiting {
            call: key,
            queue: queue.clone(),
        });
        if !playing && let Some(prompt) = music {
            self.play_music(key, prompt);
        }
        self.schedule_announcement(key, &queue, now);
    }

    /// The music of a queue (else its campaign's queue music).
    fn music_for(&self, key: CallKey, queue: &str) -> Option<Prompt> {
        let campaign = self.calls.get(&key).map(|c| c.campaign.as_str())?;
        self.directory
            .queues
            .get(queue)
            .and_then(|q| q.music.clone())
            .or_else(|| {
                self.directory
                    .campaigns
                    .get(campaign)
                    .and_then(|c| c.queue_music.clone())
            })
    }

    fn play_music(&mut self, key: CallKey, prompt: Prompt) {
        if let Some(call) = self.calls.get_mut(&key) {
            call.playing = true;
        }
        self.actions.push_back(Action::Music { call: key, prompt });
    }

    /// Whether the call waits (not offered, not talking, not leaving).
    fn is_waiting(&self, key: CallKey) -> bool {
        let leaving = self.calls.get(&key).is_none_or(|c| c.leaving);
        !leaving && matches!(self.acd.place(key), Some(Place::Waiting { .. }))
    }

    fn schedule_announcement(&mut self, key: CallKey, queue: &str, now: Timestamp) {
        // The block's `announce_every`, else the queue's.
        let Some(every) = self
            .calls
            .get(&key)
            .and_then(|c| c.announce_every)
            .or_else(|| {
                self.directory
                    .queues
                    .get(queue)
                    .and_then(|q| q.announce_every_ms)
            })
        else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(old) = call.announce_at.take() {
            self.announcements.remove(&(old, key));
        }
        let ms = i64::try_from(every).unwrap_or(i64::MAX);
        let at = now
            .checked_add(SignedDuration::from_millis(ms))
            .unwrap_or(now);
        call.announce_at = Some(at);
        self.announcements.insert((at, key));
    }

    /// The announcements due by `now`.
    pub(crate) fn announce_due(&mut self, now: Timestamp) {
        while let Some(&(at, key)) = self.announcements.first() {
            if at > now {
                break;
            }
            self.announcements.remove(&(at, key));
            if let Some(call) = self.calls.get_mut(&key) {
                call.announce_at = None;
            }
            if !self.is_waiting(key) {
                continue;
            }
            let Some(queue) = self.calls.get(&key).and_then(|c| c.queue.clone()) else {
                continue;
            };
            self.announce(key, &queue, at);
            self.schedule_announcement(key, &queue, at);
        }
    }

    /// "You are number N in the queue. The estimated wait is about M
    /// minutes." (and the courtesy callback offer): the position in the
    /// ACD; the wait from the queue's average handling time over the
    /// agents on duty for it.
    fn announce(&mut self, key: CallKey, queue: &str, now: Timestamp) {
        let ms = self.acd_ms(now);
        let Some(position) = self.acd.position(key, ms) else {
            return;
        };
        let agents = self
            .directory
            .agents
            .iter()
            .filter(|(name, (queues, _))| {
                queues.iter().any(|q| q == queue)
                    && !matches!(self.acd.state(name), Some(State::LoggedOut) | None)
            })
            .count()
            .max(1);
        let handle = self
            .handle_times
            .get(queue)
            .filter(|(_, n)| *n > 0)
            .map_or(DEFAULT_HANDLE_MS, |(sum, n)| sum / n);
        let ahead = u64::try_from(position).unwrap_or(u64::MAX);
        let wait_ms = ahead.saturating_mul(handle) / u64::try_from(agents).unwrap_or(1);
        let minutes = wait_ms.div_ceil(60_000).max(1);
        let courtesy = self.directory.queues.get(queue).is_some_and(|q| q.courtesy);
        if let Some(call) = self.calls.get_mut(&key) {
            call.playing = true;
        }
        self.log(
            key,
            "announced",
            fields([
                ("position", position.into()),
                ("minutes", minutes.into()),
                ("courtesy", courtesy.into()),
            ]),
        );
        self.actions.push_back(Action::Announcement {
            call: key,
            position,
            minutes,
            courtesy,
        });
    }

    /// A key while waiting: `1` takes the courtesy callback where the
    /// queue offers it (the caller keeps their place, hears a goodbye and
    /// is let go). Returns whether the key was used.
    pub(crate) fn courtesy_key(&mut self, key: CallKey, digit: char, now: Timestamp) -> bool {
        if digit != '1' || !self.is_waiting(key) {
            return false;
        }
        let Some(call) = self.calls.get(&key) else {
            return false;
        };
        let Some(queue) = call.queue.clone() else {
            return false;
        };
        if !self
            .directory
            .queues
            .get(&queue)
            .is_some_and(|q| q.courtesy)
        {
            return false;
        }
        let (number, since) = (call.caller.clone(), call.waiting_since.unwrap_or(now));
        self.log(
            key,
            "courtesy_callback",
            fields([("queue", queue.clone().into())]),
        );
        self.actions.push_back(Action::CourtesyCallback {
            call: key,
            number,
            queue,
            since,
        });
        self.leave_acd(key, now);
        if let Some(call) = self.calls.get_mut(&key) {
            call.leaving = true;
            call.playing = true;
        }
        self.actions.push_back(Action::Farewell { call: key });
        true
    }

    /// A prompt (or music, an announcement, the farewell) ended: a caller
    /// who took a courtesy callback is let go; a waiting caller's music
    /// goes on. Returns whether the event is the switch's alone (the
    /// engine does not hear of it).
    pub(crate) fn prompt_ended(&mut self, key: CallKey) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        call.playing = false;
        if call.leaving {
            self.actions.push_back(Action::LetGo {
                call: key,
                reason: "courtesy callback".into(),
            });
            return true;
        }
        if self.is_waiting(key)
            && let Some(queue) = self.calls.get(&key).and_then(|c| c.queue.clone())
            && let Some(music) = self.music_for(key, &queue)
        {
            self.play_music(key, music);
        }
        false
    }

    /// Counts a finished conversation's length towards its queue's
    /// average handling time (for estimated waits).
    pub(crate) fn count_handle_time(&mut self, key: CallKey, now: Timestamp) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let (Some(since), Some(queue)) = (call.talking_since.take(), call.queue.clone()) else {
            return;
        };
        let talked = u64::try_from(now.duration_since(since).as_millis()).unwrap_or(0);
        let entry = self.handle_times.entry(queue).or_insert((0, 0));
        entry.0 = entry.0.saturating_add(talked);
        entry.1 += 1;
    }
}
