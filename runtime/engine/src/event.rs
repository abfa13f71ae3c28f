//! What goes into the engine ([`Event`]) and what comes out ([`Command`]).
//! Adapters (the SIP/RTP runtime, the simulator) turn the outside world into
//! events and carry out commands; the engine itself never touches either.

use dialect_bytecode::{NodeId, Prompt};
use jiff::Timestamp;
use std::fmt;

/// Identifies one call inside one engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// Identifies one timer of one call; a timer that is no longer current is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u32);

/// Something that happened to a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The caller pressed a DTMF key (`0-9`, `*`, `#`).
    Digit(char),
    /// The prompt being played has finished.
    PromptFinished,
    /// A timer started by [`Command::StartTimer`] fired.
    Timer(TimerId),
    /// A queued call was answered by an agent and bridged.
    AgentConnected {
        /// The agent's name.
        agent: String,
    },
    /// The other party of a bridge (agent, dialled number, extension) hung
    /// up; the caller is still on the line.
    BridgeEnded,
    /// The queue refused the call: it is full.
    QueueFull,
    /// A [`Command::Transfer`] found no agent or queue with the extension,
    /// or the one it found could not take the call.
    TransferFailed,
    /// The outcome of [`Command::Dial`].
    DialResult(DialOutcome),
    /// The answer to [`Command::Http`]. A status of 0 means the request failed
    /// before any answer (connection refused, DNS, TLS).
    HttpResult {
        /// The request's id.
        request: u32,
        /// HTTP status.
        status: u16,
        /// The response body (JSON for API blocks).
        body: String,
    },
    /// The answer to [`Command::Identify`]: how many records the number has.
    Identified {
        /// The number of records.
        records: u32,
        /// The fields of the record, when there is exactly one: the flow's
        /// expressions see them as `record`.
        record: Vec<(String, String)>,
    },
    /// The answer to [`Command::Authorise`] or [`Command::LookupTicket`].
    Verified {
        /// Whether the record or ticket was found.
        ok: bool,
    },
    /// The customer agent's answer to [`Command::BotTurn`].
    BotReply(BotReply),
    /// The caller said something (from speech-to-text) or typed it (chat).
    Utterance(String),
    /// A recording started by [`Command::Record`] has finished.
    RecordingFinished,
    /// The caller hung up.
    HangUp,
}

/// How a dial attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialOutcome {
    /// Answered and bridged; [`Event::BridgeEnded`] follows.
    Connected,
    /// Busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The call could not be placed.
    Failed,
}

/// What the customer agent answered.
#[derive(Clone, Debug, PartialEq)]
pub enum BotReply {
    /// Say this to the caller and wait for their next utterance.
    Say(String),
    /// Play this prompt (a recorded greeting or answer), then listen.
    Play(Prompt),
    /// Nothing to say: listen for the caller.
    Listen,
    /// A handoff to a human was requested (or a trigger fired).
    Handoff,
    /// The bot cannot answer.
    CannotAnswer,
    /// The conversation is over.
    Done,
}

/// What an HTTP request of a flow carries to prove who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpAuth {
    /// Nothing.
    None,
    /// An `api_login`: the runtime posts `{"user": ..., "password": ...}`
    /// with the named secret from its configuration, and answers with the
    /// token (cached until it expires).
    Login {
        /// The user name.
        user: Option<String>,
        /// The secret's name in the runtime configuration.
        secret: Option<String>,
    },
    /// The token an earlier `api_login` of the call obtained, sent as
    /// `Authorization: Bearer`.
    Bearer(String),
}

/// Something an adapter must do for a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Answer the call (SIP 200 OK).
    Answer,
    /// Play a prompt; [`Event::PromptFinished`] is expected when it ends.
    Play {
        /// The prompt's index in the call's program.
        index: u32,
        /// The prompt.
        prompt: Prompt,
        /// Whether a DTMF key may interrupt it.
        barge_in: bool,
    },
    /// Stop the prompt being played (the caller pressed a key).
    StopPlayback,
    /// Fire [`Event::Timer`] at `at`.
    StartTimer {
        /// The timer.
        timer: TimerId,
        /// When.
        at: Timestamp,
    },
    /// The timer is no longer needed.
    CancelTimer {
        /// The timer.
        timer: TimerId,
    },
    /// Put the call in a queue; expect [`Event::AgentConnected`] then
    /// [`Event::BridgeEnded`], or [`Event::QueueFull`].
    Enqueue {
        /// The queue's qualified name.
        queue: String,
        /// The call's priority.
        priority: i32,
        /// The block's `announce_every`, if it overrides the queue's.
        announce_every_ms: Option<u64>,
    },
    /// Take the call out of its queue (timeout or hang-up).
    Dequeue {
        /// The queue.
        queue: String,
    },
    /// Route the call to an internal extension; expect [`Event::BridgeEnded`]
    /// (after an [`Event::AgentConnected`]) or [`Event::TransferFailed`].
    Transfer {
        /// The extension the caller typed.
        extension: String,
    },
    /// Forward the call to an external number; expect [`Event::DialResult`].
    Dial {
        /// E.164.
        number: String,
        /// Ring time.
        timeout_ms: u64,
        /// Shown to the called party.
        caller_id: Option<String>,
    },
    /// Record the caller (voicemail); expect [`Event::RecordingFinished`].
    Record {
        /// Longest recording.
        max_length_ms: u64,
        /// Where to e-mail it.
        email: Option<String>,
    },
    /// Register a callback to the caller.
    RegisterCallback {
        /// The number to call back.
        number: String,
        /// The queue that places it.
        queue: Option<String>,
        /// How long after now.
        delay_ms: u64,
        /// Why.
        reason: Option<String>,
    },
    /// Look up the records of a number; expect [`Event::Identified`].
    Identify {
        /// The caller number.
        number: String,
    },
    /// Identify the caller's record; expect [`Event::Verified`].
    Authorise {
        /// `internal` or `external`.
        source: String,
        /// The external source.
        url: Option<String>,
        /// What the caller typed, if asked.
        digits: Option<String>,
    },
    /// Look up a ticket by id; expect [`Event::Verified`].
    LookupTicket {
        /// The id the caller typed.
        id: String,
    },
    /// An HTTP request; expect [`Event::HttpResult`] (or the call's timer fires first).
    Http {
        /// Correlates the answer.
        request: u32,
        /// Lower-case method.
        method: String,
        /// URL.
        url: String,
        /// Body, for API requests with one.
        body: Option<String>,
        /// The credentials it carries.
        auth: HttpAuth,
        /// The block's time limit (its `timeout` exit fires then; the
        /// request is abandoned).
        timeout_ms: u64,
    },
    /// Ask the customer agent for its next turn; expect [`Event::BotReply`].
    BotTurn {
        /// The bot's qualified name.
        bot: String,
        /// What the caller said, `None` for the first turn.
        utterance: Option<String>,
    },
    /// One answer of a survey, to be stored and emitted as an event (SPEC
    /// 5.7); needs no reply. Unanswered questions are reported too.
    SurveyAnswer {
        /// The survey's qualified name (`std/survey.csat`).
        survey: String,
        /// The question's name within the survey (`score`).
        question: String,
        /// `"1"`-`"5"` (csat), `"0"`-`"10"` (nps), `"yes"`/`"no"` (yes_no),
        /// `"recorded"` (comment: the recording of the [`Command::Record`]
        /// before it); `None` when the question went unanswered.
        answer: Option<String>,
    },
    /// Every question of the survey was asked; needs no reply. The flow
    /// goes on (after-call) or the survey call ends (outbound).
    SurveyDone {
        /// The survey's qualified name.
        survey: String,
    },
    /// Call the customer back for a survey later: after `delay_ms`, place a
    /// call to `number` and, once it is answered, start it with
    /// [`crate::Engine::handle_survey`]`(campaign, survey, number, now)`.
    /// Issued just before [`Command::Ended`]; needs no reply.
    ScheduleSurvey {
        /// The campaign's name (the flow to run the survey with).
        campaign: String,
        /// The survey's qualified name.
        survey: String,
        /// The customer's number (the caller of the call that ends).
        number: String,
        /// How long after the end of this call.
        delay_ms: u64,
    },
    /// Hang up the call.
    Hangup,
    /// The call is over: release everything that belongs to it.
    Ended(Outcome),
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The flow hung up (a `hangup` block or the end of the IVR).
    HungUp {
        /// The reason recorded by the block, if any.
        reason: Option<String>,
    },
    /// The caller hung up.
    CallerHungUp,
    /// The flow failed: an expression error, or the step budget was exhausted.
    Failed {
        /// What went wrong, for the operator.
        error: String,
    },
}

/// A command with the call it is for and the node that issued it (for
/// traces and for pointing at the flow's source).
#[derive(Clone, Debug, PartialEq)]
pub struct Emitted {
    /// The call.
    pub call: CallId,
    /// The node the call was at.
    pub node: NodeId,
    /// What to do.
    pub command: Command,
}

/// One transition of a call through the graph, for traces and coverage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The call.
    pub call: CallId,
    /// The node left.
    pub node: NodeId,
    /// The index of the exit taken, in the node's exits.
    pub exit: u32,
}
