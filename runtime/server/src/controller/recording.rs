//! Call recording (the campaign's `recording`, `recording_name`,
//! `recording_resume_after`): a call whose campaign records has its
//! conversation with agents recorded from the moment the first agent
//! answers until the call ends, through transfers (the new agent's leg is
//! tapped) and conferences (every participant's). `low` mixes both parties
//! into one 8 kHz channel, `high` keeps them apart: the caller left, the
//! agents right. The agent on the call pauses and resumes it through the
//! agent API; a pause ends by itself after `recording_resume_after`,
//! except during a consultation or a conference, when it ends once they
//! do. Each file is fsynced, then indexed (`call_recordings`); supervisors
//! list and fetch them; `[runtime] keep_recordings_days` deletes old ones.

use super::{Core, MediaCommand, fields};
use crate::api::ApiReply;
use crate::conversation::{self, RecorderCommand};
use dialect_media::Recorder;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A call's conversation being recorded.
pub(super) struct Conversation {
    /// The recorder's commands; `None` once the call ended (the file is
    /// being finished).
    commands: Option<mpsc::Sender<RecorderCommand>>,
    /// What its index row says.
    row: dialect_store::CallRecording,
    /// Paused (by an agent).
    paused: bool,
    /// When a pause ends by itself.
    resume_at: Option<Instant>,
    /// The campaign's `recording_resume_after`.
    resume_after: Option<Duration>,
}

/// How often old recordings are looked for.
const RETENTION_SWEEP: Duration = Duration::from_secs(3_600);

impl Core {
    /// Whether a call's conversation is being recorded (`recording`),
    /// paused (`paused`), or neither (`None`).
    pub(super) fn recording_state(&self, call_key: u64) -> Option<&'static str> {
        self.conversations
            .get(&call_key)
            .filter(|c| c.commands.is_some())
            .map(|c| if c.paused { "paused" } else { "recording" })
    }

    /// Records the conversation of `call_key`, if its campaign records:
    /// the first time, the recorder starts and taps the caller's leg; then
    /// `party`'s leg (an agent, a transferred-to or conferenced party) is
    /// tapped into the other side.
    pub(super) fn record_party(
        &mut self,
        call_key: u64,
        party: &mpsc::Sender<MediaCommand>,
        agent: &str,
    ) {
        if !self.conversations.contains_key(&call_key) && !self.start_recording(call_key, agent) {
            return;
        }
        let Some(commands) = self
            .conversations
            .get(&call_key)
            .and_then(|c| c.commands.clone())
        else {
            return;
        };
        let (to, from) = conversation::tap_channel();
        if commands
            .try_send(RecorderCommand::Join {
                caller: false,
                from,
            })
            .is_ok()
        {
            super::to_leg(party, MediaCommand::Tap { to }, &self.media_stats);
        }
    }

    /// Starts recording `call_key` (whose first agent is `agent`), when
    /// its campaign says so; whether it did.
    fn start_recording(&mut self, call_key: u64, agent: &str) -> bool {
        let Some(call) = self.calls.get(&call_key) else {
            return false;
        };
        let Some(info) = self.switch.directory().campaigns.get(&call.campaign) else {
            return false;
        };
        let Some(stereo) = info.recording else {
            return false;
        };
        let resume_after = info.recording_resume_after_ms.map(Duration::from_millis);
        let (campaign, number, caller_media) = (
            call.campaign.clone(),
            call.number.clone(),
            call.media.clone(),
        );
        let dir = self.config.runtime.data.join("recordings");
        if let Err(error) = std::fs::create_dir_all(&dir) {
            tracing::error!(dir = %dir.display(), "cannot create the recordings directory: {error}");
        }
        // `{agent}` in the name: the agent answering now.
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.last_agent = Some(agent.to_string());
        }
        let path: PathBuf = dir.join(self.recording_name(call_key));
        // The longest a WAV file can hold; the call ends long before.
        let recorder = match Recorder::conversation(&path, stereo, Duration::from_secs(24 * 3_600))
        {
            Ok(recorder) => recorder,
            Err(error) => {
                tracing::error!(file = %path.display(), "cannot record the call: {error}");
                self.record(
                    call_key,
                    "recording_failed",
                    fields([("error", error.to_string().into())]),
                );
                return false;
            }
        };
        let (commands, receiver) = mpsc::channel(16);
        tokio::spawn(conversation::run(
            call_key,
            recorder,
            self.tick.clone(),
            receiver,
            self.media_tx.clone(),
        ));
        let (to, from) = conversation::tap_channel();
        if commands
            .try_send(RecorderCommand::Join { caller: true, from })
            .is_ok()
        {
            super::to_leg(&caller_media, MediaCommand::Tap { to }, &self.media_stats);
        }
        let channels = if stereo { 2 } else { 1 };
        self.record(
            call_key,
            "recording_started",
            fields([
                ("file", path.display().to_string().into()),
                ("channels", channels.into()),
            ]),
        );
        let row = dialect_store::CallRecording {
            id: 0,
            call: format!("call-{call_key}@{}", self.hooks.run),
            campaign,
            caller: number,
            agent: agent.to_string(),
            path: path.display().to_string(),
            channels,
            started_ms: self.clock.at(self.now).as_millisecond(),
            duration_ms: 0,
        };
        self.conversations.insert(
            call_key,
            Conversation {
                commands: Some(commands),
                row,
                paused: false,
                resume_at: None,
                resume_after,
            },
        );
        true
    }

    /// The call ended: its recording is finished (the recorder writes what
    /// it has, fsyncs and reports).
    pub(super) fn stop_recording(&mut self, call_key: u64) {
        if let Some(conversation) = self.conversations.get_mut(&call_key) {
            conversation.commands = None;
            conversation.resume_at = None;
        }
    }

    /// A recording's file is durable (or failed): indexed, and logged.
    pub(super) fn conversation_recorded(
        &mut self,
        call_key: u64,
        result: Result<(PathBuf, Duration), String>,
    ) {
        let Some(conversation) = self.conversations.remove(&call_key) else {
            return;
        };
        let mut row = conversation.row;
        let at = self.wall();
        match result {
            Ok((_, duration)) => {
                row.duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
                let indexed = match &self.store {
                    Some(store) => store.record_conversation(&row).map_err(|e| e.to_string()),
                    None => Err("no store".to_string()),
                };
                let mut extra = fields([
                    ("campaign", row.campaign.clone().into()),
                    ("file", row.path.clone().into()),
                    ("channels", row.channels.into()),
                    ("duration_ms", row.duration_ms.into()),
                ]);
                match indexed {
                    Ok(id) => {
                        extra.insert("recording".into(), id.into());
                    }
                    Err(error) => {
                        tracing::error!(
                            file = row.path,
                            "the recording cannot be indexed: {error}"
                        );
                        extra.insert("index_error".into(), error.into());
                    }
                }
                self.log.record(at, &row.call, "call_recorded", extra);
            }
            Err(error) => {
                tracing::error!(file = row.path, "the recording failed: {error}");
                self.log.record(
                    at,
                    &row.call,
                    "recording_failed",
                    fields([
                        ("campaign", row.campaign.into()),
                        ("file", row.path.into()),
                        ("error", error.into()),
                    ]),
                );
            }
        }
    }

    /// The agent API's pause (`paused`) or resume of the recording of the
    /// agent's current call.
    pub(super) fn pause_recording(&mut self, agent: &str, paused: bool, now: Instant) -> ApiReply {
        let Some(call_key) = self
            .desks
            .get(agent)
            .filter(|d| d.talking.is_some())
            .map(|d| d.call)
        else {
            return ApiReply::error(409, format!("{agent} is not on a call"));
        };
        let Some(conversation) = self
            .conversations
            .get_mut(&call_key)
            .filter(|c| c.commands.is_some())
        else {
            return ApiReply::error(
                409,
                format!("{agent}'s call is not being recorded: its campaign has no `recording`"),
            );
        };
        if conversation.paused == paused {
            return ApiReply::error(
                409,
                format!(
                    "the recording is already {}",
                    if paused { "paused" } else { "running" }
                ),
            );
        }
        let command = if paused {
            RecorderCommand::Pause
        } else {
            RecorderCommand::Resume
        };
        if let Some(commands) = &conversation.commands
            && commands.try_send(command).is_err()
        {
            return ApiReply::error(503, "the recorder is busy: try again");
        }
        conversation.paused = paused;
        conversation.resume_at = if paused {
            conversation.resume_after.map(|after| now + after)
        } else {
            None
        };
        let resume_in = conversation.resume_at.map(|at| {
            u64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
        });
        let body = json!({
            "call": call_key,
            "recording": if paused { "paused" } else { "recording" },
            "resumes_in_ms": resume_in,
        });
        let mut extra = fields([("agent", agent.into())]);
        if let Some(ms) = resume_in {
            extra.insert("resumes_in_ms".into(), ms.into());
        }
        self.record(
            call_key,
            if paused {
                "recording_paused"
            } else {
                "recording_resumed"
            },
            extra,
        );
        ApiReply::ok(body)
    }

    /// When the next paused recording resumes by itself, or the next
    /// retention sweep is due.
    pub(super) fn recording_deadline(&self) -> Option<Instant> {
        let resume = self
            .conversations
            .values()
            .filter_map(|c| c.resume_at)
            .min();
        let sweep = (self.config.runtime.keep_recordings_days > 0).then_some(self.next_sweep);
        match (resume, sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Resumes paused recordings whose time is up (a call in a
    /// consultation or conference waits until it ends), and deletes
    /// recordings past the retention period.
    pub(super) fn on_recording_timeout(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .conversations
            .iter()
            .filter(|(_, c)| c.resume_at.is_some_and(|at| at <= now))
            .map(|(k, _)| *k)
            .collect();
        for call_key in due {
            let busy = self.in_consultation(call_key);
            let Some(conversation) = self.conversations.get_mut(&call_key) else {
                continue;
            };
            if busy {
                // Looked at again once a second until it is over.
                conversation.resume_at = Some(now + Duration::from_secs(1));
                continue;
            }
            conversation.resume_at = None;
            let resumed = conversation
                .commands
                .as_ref()
                .is_some_and(|c| c.try_send(RecorderCommand::Resume).is_ok());
            if resumed {
                conversation.paused = false;
                self.record(
                    call_key,
                    "recording_resumed",
                    fields([("by", "recording_resume_after".into())]),
                );
            }
        }
        if self.config.runtime.keep_recordings_days > 0 && self.next_sweep <= now {
            self.next_sweep = now + RETENTION_SWEEP;
            self.expire_recordings();
        }
    }

    /// Whether the agent on `call_key` is consulting someone or the call
    /// is a conference.
    fn in_consultation(&self, call_key: u64) -> bool {
        let conference = self
            .calls
            .get(&call_key)
            .is_some_and(|c| c.conference.is_some());
        conference || self.calls.values().any(|c| c.consult_of == Some(call_key))
    }

    /// Deletes the recordings older than `keep_recordings_days`: their
    /// index rows, then their files (off the runtime's threads).
    fn expire_recordings(&mut self) {
        let days = i64::from(self.config.runtime.keep_recordings_days);
        let Some(store) = &self.store else { return };
        let before = self.wall() - jiff::SignedDuration::from_hours(days * 24);
        let expired = match store.expire_conversations(before) {
            Ok(expired) => expired,
            Err(error) => {
                self.stored("recordings", "recording retention", Err::<(), _>(error));
                return;
            }
        };
        if expired.is_empty() {
            return;
        }
        for row in &expired {
            self.log.record(
                self.wall(),
                &row.call,
                "recording_expired",
                fields([
                    ("recording", row.id.into()),
                    ("campaign", row.campaign.clone().into()),
                    ("file", row.path.clone().into()),
                ]),
            );
        }
        tokio::task::spawn_blocking(move || {
            for row in expired {
                if let Err(error) = std::fs::remove_file(&row.path)
                    && error.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::error!(
                        file = row.path,
                        "cannot delete an expired recording: {error}"
                    );
                }
            }
        });
    }

    /// `GET /api/recordings`: the recorded conversations a supervisor may
    /// hear (all for a configured supervisor, their campaigns' for a
    /// campaign's `supervisors`), newest first.
    pub(super) fn list_recordings(&self, agent: &str, limit: usize) -> ApiReply {
        let Some(campaigns) = self.supervised(agent) else {
            return ApiReply::error(
                403,
                format!("{agent} may not list recordings: that needs a supervisor"),
            );
        };
        let Some(store) = &self.store else {
            return ApiReply::error(503, "recordings are not available");
        };
        match store.conversations(campaigns.as_deref(), limit) {
            Ok(rows) => {
                let rows: Vec<_> = rows.iter().map(recording_json).collect();
                ApiReply::ok(json!({ "recordings": rows }))
            }
            Err(error) => super::agent_api::store_error(&error),
        }
    }

    /// `GET /api/recordings/{id}`: a recording's index row and, for the
    /// API task to stream, its file (`path`, never shown to the client).
    pub(super) fn get_recording(&self, agent: &str, id: i64) -> ApiReply {
        let Some(campaigns) = self.supervised(agent) else {
            return ApiReply::error(
                403,
                format!("{agent} may not hear recordings: that needs a supervisor"),
            );
        };
        let Some(store) = &self.store else {
            return ApiReply::error(503, "recordings are not available");
        };
        match store.conversation(id) {
            Ok(Some(row)) if campaigns.as_ref().is_none_or(|c| c.contains(&row.campaign)) => {
                let mut body = recording_json(&row);
                if let Some(fields) = body.as_object_mut() {
                    fields.insert("path".into(), row.path.clone().into());
                }
                ApiReply::ok(body)
            }
            Ok(_) => ApiReply::error(404, format!("there is no recording {id}")),
            Err(error) => super::agent_api::store_error(&error),
        }
    }

    /// The campaigns whose recordings `agent` may hear: `Some(None)` for a
    /// configured supervisor (all), `Some(Some(list))` for a campaign's
    /// `supervisors`, `None` for anyone else.
    pub(super) fn supervised(&self, agent: &str) -> Option<Option<Vec<String>>> {
        if self
            .config
            .agents
            .iter()
            .any(|a| a.name == agent && a.supervisor())
        {
            return Some(None);
        }
        let campaigns: Vec<String> = self
            .switch
            .directory()
            .campaigns
            .iter()
            .filter(|(_, c)| c.supervisors.iter().any(|s| s == agent))
            .map(|(name, _)| name.clone())
            .collect();
        (!campaigns.is_empty()).then_some(Some(campaigns))
    }
}

/// A recording as the API shows it (without its file's path).
fn recording_json(row: &dialect_store::CallRecording) -> serde_json::Value {
    json!({
        "id": row.id,
        "call": row.call,
        "campaign": row.campaign,
        "caller": row.caller,
        "agent": row.agent,
        "channels": row.channels,
        "started": jiff::Timestamp::from_millisecond(row.started_ms)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        "duration_ms": row.duration_ms,
    })
}
