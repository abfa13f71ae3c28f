//! The call layer without I/O, shared by `dialect serve` and `dialect test`.
//!
//! A [`Switch`] owns what decides a call's course above the SIP and media
//! mechanics: the [`Engine`] (the flows), the engine's timers, the ACD and
//! the directory it is built from, the customer-agent conversations, handoff
//! routing and the call table that ties them together. It is sans-IO in the
//! style of `dialect-sip` and `dialect-acd`:
//!
//! - **Inputs** are method calls that carry the time: [`Switch::arrive`],
//!   [`Switch::event`] (keys, prompt ends, speech, hang-up, dial results,
//!   ...), the agents' side ([`Switch::login`], [`Switch::set_ready`],
//!   [`Switch::agent_answered`], [`Switch::agent_declined`],
//!   [`Switch::agent_ended`], ...), answers of outside services
//!   ([`Switch::bot_answered`]) and [`Switch::handle_timeout`].
//! - **Outputs** are [`Action`]s drained with [`Switch::poll_action`] after
//!   every input, in the order they were decided, and the next deadline
//!   from [`Switch::poll_timeout`].
//! - **The store** (relationships for the sticky agent and private records,
//!   tickets) is a trait object passed in with the inputs that may need it
//!   ([`Store`]); a failed read or write becomes a logged action, never a
//!   silent default.
//!
//! The switch reads no clock, no file and no socket. The world around it
//! (the SIP adapter of `dialect serve`, the scripted world of `dialect
//! test`) carries out the actions and reports back: what it rings, plays
//! and dials is its business, what happens to the call is the switch's.
//!
//! # Invariants
//!
//! - One deadline contract: every time is a [`Timestamp`]; the ACD's
//!   milliseconds count from the switch's origin, and [`Switch::poll_timeout`]
//!   is the earliest of the engine timers and the ACD's deadlines.
//! - The engine owns its timers (`Engine::poll_timeout`/`fire_next`): a
//!   call has at most one, a cancelled, replaced or fired timer is gone from
//!   its index (O(log n) per change), and the switch fires them in order.
//! - A call's key is its id in the ACD: one entry per key (entering a queue
//!   again leaves the old place first).
//! - Every engine command comes out as [`Action::Command`], in order; those
//!   the switch carries out itself (timers, queueing, bot turns) are marked
//!   by [`Switch::carries_out`].

mod bots;
mod customer;
pub mod monitor;
mod queueing;
mod unhandled;
mod waiting;
pub mod wrapup;

pub use bots::{Bots, BrokenKnowledge};
pub use dialect_engine::{BotReply, Command, Event, Outcome};
pub use unhandled::BLOCKED;

use dialect_acd::directory::Directory;
use dialect_acd::{Acd, Millis, Rules};
use dialect_bot::{Channel, Conversation, Router};
use dialect_bytecode::{NodeId, Prompt};
use dialect_engine::{CallId, Engine, Flow};
use dialect_store::{CustomerStore, RelationshipStore, TicketStore};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// A call's key: chosen by the adapter, unique among its calls and ACD
/// entries (a callback being placed is an ACD entry without a flow).
pub type CallKey = u64;

/// The store the switch reads and writes: relationships (who last spoke
/// with a number, who owns a private record), tickets and customer records.
pub trait Store: RelationshipStore + TicketStore + CustomerStore {}
impl<T: RelationshipStore + TicketStore + CustomerStore + ?Sized> Store for T {}

/// Fields of a log line.
pub type Fields = Map<String, Value>;

/// Builds log fields.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// What the switch asks of the world, in the order it decided it.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The engine took an exit (for traces and coverage).
    Step {
        /// The call.
        call: CallKey,
        /// The node left.
        node: NodeId,
        /// The exit's index.
        exit: u32,
    },
    /// A command of the engine. Those [`Switch::carries_out`] the switch
    /// has carried out already (they come out for traces); the others are
    /// the world's to carry out and answer with [`Switch::event`].
    Command {
        /// The call.
        call: CallKey,
        /// The node that issued it.
        node: NodeId,
        /// What to do.
        command: Command,
    },
    /// Ring `agent` for `call` (the ACD's offer); answer with
    /// [`Switch::agent_answered`] or [`Switch::agent_declined`].
    Ring {
        /// The call (ACD entry).
        call: CallKey,
        /// The agent's short name.
        agent: String,
    },
    /// Stop ringing `agent` (RONA): the call keeps its place.
    StopRinging {
        /// The call.
        call: CallKey,
        /// The agent.
        agent: String,
    },
    /// The call waits in `queue` now (entered or overflowed).
    Waiting {
        /// The call.
        call: CallKey,
        /// The queue.
        queue: String,
    },
    /// Play the queue's music to a waiting caller (once: the switch asks
    /// again when it ends); report its end as [`Event::PromptFinished`].
    Music {
        /// The call.
        call: CallKey,
        /// The music.
        prompt: Prompt,
    },
    /// Tell a waiting caller their place and the estimated wait (and offer
    /// the courtesy callback); report its end as [`Event::PromptFinished`].
    Announcement {
        /// The call.
        call: CallKey,
        /// 1 = next.
        position: usize,
        /// The estimated wait, in whole minutes (at least 1).
        minutes: u64,
        /// Whether to offer the courtesy callback (key 1).
        courtesy: bool,
    },
    /// The waiting caller took the courtesy callback (key 1): store a
    /// callback to `number` on `queue` that keeps the caller's place
    /// (`since`).
    CourtesyCallback {
        /// The call.
        call: CallKey,
        /// The caller's number.
        number: String,
        /// The queue.
        queue: String,
        /// When the caller joined the queue.
        since: Timestamp,
    },
    /// Say goodbye to a caller who took the courtesy callback; report its
    /// end (or at once, if there is nothing to say) as
    /// [`Event::PromptFinished`].
    Farewell {
        /// The call.
        call: CallKey,
    },
    /// Hang up on the caller (who took a courtesy callback) and report it
    /// as [`Event::HangUp`].
    LetGo {
        /// The call.
        call: CallKey,
        /// Why, for the log.
        reason: String,
    },
    /// The call waited its queue's maximum and left the ACD; a call with a
    /// flow takes its flow's timeout, a callback goes back to the store.
    QueueTimedOut {
        /// The call.
        call: CallKey,
        /// The queue.
        queue: String,
    },
    /// Start hearing the caller for the customer agent (speech-to-text).
    Listen {
        /// The call.
        call: CallKey,
    },
    /// Stop hearing the caller.
    StopListening {
        /// The call.
        call: CallKey,
    },
    /// Send this turn to the external bot at `endpoint`, waiting at most
    /// `timeout_ms`; answer with [`Switch::bot_answered`].
    AskBot {
        /// The call.
        call: CallKey,
        /// The bot's URL.
        endpoint: String,
        /// The request.
        request: dialect_bot::BotRequest,
        /// The bot's time limit.
        timeout_ms: u64,
    },
    /// An event the switch gave the engine itself (a customer agent's
    /// reply, a full queue), for traces.
    Decided {
        /// The call.
        call: CallKey,
        /// The event.
        event: Event,
    },
    /// An engine timer of the call fired (for traces).
    TimerFired {
        /// The call.
        call: CallKey,
    },
    /// A customer agent handed the call off (the handoff exit follows).
    Handoff {
        /// The call.
        call: CallKey,
        /// Why.
        reason: dialect_bot::Reason,
        /// The handoff's mode.
        mode: dialect_bot::Mode,
        /// Where it was routed, whether anyone is available, the ticket and
        /// the message.
        decided: dialect_bot::Handoff,
    },
    /// Play this to the caller now (a handoff's message), outside the flow.
    Announce {
        /// The call.
        call: CallKey,
        /// The prompt.
        prompt: Prompt,
    },
    /// A ticket was opened.
    TicketOpened {
        /// The call.
        call: CallKey,
        /// The ticket.
        ticket: dialect_store::Ticket,
    },
    /// Send this to a chat's customer: what the customer agent said.
    ChatMessage {
        /// The chat.
        chat: CallKey,
        /// The text.
        text: String,
    },
    /// A chat's customer agent handed off (or cannot take the chat): the
    /// world gives the chat to people, or to a ticket.
    ChatHandoff {
        /// The chat.
        chat: CallKey,
        /// The trigger's code (what routing rules read as `reason`).
        code: String,
        /// The trigger in words.
        reason: String,
    },
    /// A chat's conversation is over (the customer agent is done).
    ChatDone {
        /// The chat.
        chat: CallKey,
    },
    /// A monitoring alert was raised or cleared (see [`monitor`]): the
    /// adapters log it and tell the campaign's supervisors.
    Alert {
        /// The campaign whose `alert` it is.
        campaign: String,
        /// Its kind (`talk_time`, `avg_wait`, ...).
        alert: String,
        /// The agent, the ticket id, or empty for the campaign.
        subject: String,
        /// What was measured when it was raised.
        value: Value,
        /// Raised (true) or cleared.
        raised: bool,
    },
    /// A line for the call's event log.
    Log {
        /// The call.
        call: CallKey,
        /// The event's name.
        event: &'static str,
        /// Its fields.
        fields: Fields,
    },
}

/// What the switch knows of one call.
struct Call {
    /// The engine's call, while a flow runs.
    engine: Option<CallId>,
    /// The flow's campaign.
    campaign: String,
    /// The caller's number (or the customer's, for a call we placed).
    caller: String,
    /// Voice, or a chat.
    channel: Channel,
    /// The queue the call waits in (or was offered or bridged from).
    queue: Option<String>,
    /// The customer agent's conversation, while a `bot` block runs.
    conversation: Option<Conversation>,
    /// The `bot` node of the last turn.
    bot_node: Option<NodeId>,
    /// The language the customer agent last spoke.
    bot_language: Option<String>,
    /// Requests sent to an external bot so far; an answer to an older one
    /// is dropped.
    bot_requests: u64,
    /// Since when the call waits in its queue.
    waiting_since: Option<Timestamp>,
    /// Its next announcement.
    announce_at: Option<Timestamp>,
    /// Something plays to the caller (a prompt, music, an announcement).
    playing: bool,
    /// It took a courtesy callback and is let go after its goodbye.
    leaving: bool,
    /// Since when it talks with an agent (for handling times).
    talking_since: Option<Timestamp>,
    /// An `extension` transfer waits in the ACD until then.
    transfer_until: Option<(Timestamp, String)>,
    /// The `queue` block's `announce_every`, over its queue's.
    announce_every: Option<u64>,
    /// The last queue it waited in.
    last_queue: Option<String>,
    /// An agent took it at some point.
    connected: bool,
    /// A callback was registered for it.
    callback: bool,
}

/// Why [`Switch::arrive`] refused a call.
pub type Refused = dialect_engine::Refused;

/// One version of the flows, prepared for the switch.
#[derive(Clone)]
pub struct Version {
    /// The flows, each verified and prepared once.
    pub flows: Vec<Arc<Flow>>,
    /// Each campaign's provenance, for the admin status: the compiler that
    /// built it and the key that signed it (if one was checked).
    pub provenance: BTreeMap<String, Provenance>,
    /// Queues, agents, campaign settings.
    pub directory: Directory,
    /// The customer agents.
    pub bots: Bots,
}

/// Where a campaign's artifact came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The compiler version in its header.
    pub compiler: String,
    /// The public key (hex) whose signature was checked, if any.
    pub signer: Option<String>,
}

/// Why a version cannot be served. The same policy holds at startup
/// (`dialect serve` does not start), on reload (refused, the running
/// version keeps serving) and in `dialect test` (the suite does not run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unservable {
    /// A flow cannot be prepared (an expression that does not compile, a
    /// schedule's zone): a compiler bug, since the artifact verified.
    Flow {
        /// The campaign.
        campaign: String,
        /// Why.
        error: String,
    },
    /// A customer agent's knowledge base does not load.
    Knowledge(BrokenKnowledge),
}

impl std::fmt::Display for Unservable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unservable::Flow { campaign, error } => {
                write!(f, "campaign `{campaign}` cannot run: {error}")
            }
            Unservable::Knowledge(b) => write!(
                f,
                "campaign `{}`: the knowledge base of bot `{}` does not load: {}",
                b.campaign, b.bot, b.why
            ),
        }
    }
}

impl std::error::Error for Unservable {}

impl Version {
    /// Prepares verified artifacts for serving: each flow once (its
    /// expressions compiled, its schedules read), the directory of queues
    /// and agents, the customer agents with their knowledge bases (`read`
    /// loads one; `endpoints` overrides external bots' URLs). One policy
    /// for every adapter: a flow that cannot be prepared or a knowledge
    /// base that does not load makes the version unservable.
    pub fn prepare(
        artifacts: Vec<dialect_bytecode::Loaded>,
        read: &dyn Fn(
            &dialect_bytecode::Program,
            &str,
        ) -> Result<dialect_bot::KnowledgeBase, String>,
        endpoints: &BTreeMap<String, String>,
    ) -> Result<Version, Unservable> {
        let mut flows = Vec::with_capacity(artifacts.len());
        let mut provenance = BTreeMap::new();
        for loaded in artifacts {
            let campaign = loaded.program.name.clone();
            provenance.insert(
                campaign.clone(),
                Provenance {
                    compiler: loaded.header.compiler_version.clone(),
                    signer: loaded.signer.clone(),
                },
            );
            let flow = Flow::new(loaded).map_err(|e| Unservable::Flow {
                campaign,
                error: e.to_string(),
            })?;
            flows.push(Arc::new(flow));
        }
        let directory = Directory::new(flows.iter().map(|f| &f.program));
        let bots = Bots::new(flows.iter().map(|f| &f.program), read, endpoints);
        if let Some(broken) = bots.broken().first() {
            return Err(Unservable::Knowledge(broken.clone()));
        }
        Ok(Version {
            flows,
            provenance,
            directory,
            bots,
        })
    }
}

/// The call layer. See the crate's documentation for the contract.
pub struct Switch {
    engine: Engine,
    acd: Acd,
    directory: Directory,
    bots: Bots,
    router: Router,
    /// The ACD's time origin.
    origin: Timestamp,
    calls: HashMap<CallKey, Call>,
    by_engine: HashMap<CallId, CallKey>,
    /// Events for the engine decided inside the switch (a bot's reply, a
    /// full queue), delivered before the input returns.
    feedback: VecDeque<(CallKey, Event)>,
    /// Calls whose agent's conversation goes on in another call (a
    /// consultation handed over by a transfer or conference): releasing
    /// them does not end it.
    handed_over: std::collections::HashSet<CallKey>,
    actions: VecDeque<Action>,
    /// Bot turns are the world's to answer (scripted replies in a
    /// scenario), not the customer agents'.
    scripted_bots: bool,
    /// Waiting callers' next announcements.
    announcements: BTreeSet<(Timestamp, CallKey)>,
    /// Extension transfers waiting in the ACD, by deadline.
    transfers: BTreeSet<(Timestamp, CallKey)>,
    /// Per agent, the calls they still owe a wrap-up (a classifier) for,
    /// with their campaigns: their unhandled records, oldest first.
    unhandled: HashMap<String, VecDeque<(CallKey, String)>>,
    /// Agents a campaign's `max_unhandled_per_agent` blocks, with that
    /// campaign.
    blocked: HashMap<String, String>,
    /// Talk time per queue (sum in ms, count), for estimated waits.
    handle_times: HashMap<String, (u64, u64)>,
    /// Monitoring alerts.
    monitor: monitor::Monitor,
    /// The time of the latest input.
    now: Timestamp,
    /// The most calls admitted at once.
    max_calls: usize,
    /// Dialled numbers as they reach us (E.164 digits, or national
    /// without the campaign's country code) to the campaigns' numbers.
    routes: HashMap<String, String>,
}

/// Where an agent's transfer (or consultation) goes: what the user part of
/// its target names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A queue (qualified name).
    Queue(String),
    /// An agent (short name).
    Agent(String),
    /// A number, through the trunk.
    Number(String),
    /// A campaign's number: the caller starts that campaign's flow.
    EntryPoint(String),
}

/// The switch is full: the call is refused (SIP 503).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit;

impl Switch {
    /// A switch serving `version`, whose ACD counts time from `origin`
    /// with `rules` (wrap-up, ageing; `None`: the directory's).
    pub fn new(version: Version, origin: Timestamp, rules: Option<Rules>) -> Switch {
        let rules = rules.unwrap_or_else(|| version.directory.rules.clone());
        let mut switch = Switch {
            engine: Engine::new(),
            acd: Acd::new(rules),
            directory: Directory::default(),
            bots: Bots::default(),
            router: Router::new(),
            origin,
            calls: HashMap::new(),
            by_engine: HashMap::new(),
            feedback: VecDeque::new(),
            handed_over: std::collections::HashSet::new(),
            actions: VecDeque::new(),
            scripted_bots: false,
            announcements: BTreeSet::new(),
            transfers: BTreeSet::new(),
            unhandled: HashMap::new(),
            blocked: HashMap::new(),
            handle_times: HashMap::new(),
            monitor: monitor::Monitor::default(),
            now: origin,
            max_calls: usize::MAX,
            routes: HashMap::new(),
        };
        switch.install(version);
        switch
    }

    /// Makes `version` the one new calls get: the engine's routes, the
    /// ACD's queues and agents, the directory, the customer agents. Calls
    /// in progress keep their flow. Operators' paused bots stay paused.
    pub fn install(&mut self, version: Version) {
        // Exactly the new set answers: campaigns and numbers it leaves out
        // stop taking new calls (calls in progress keep their flow).
        self.engine.install_exactly(version.flows.iter().cloned());
        self.routes.clear();
        for flow in &version.flows {
            add_routes(&mut self.routes, &flow.program);
        }
        for rules in &version.directory.queue_rules {
            self.acd.add_queue(rules.clone());
        }
        // A queue the new version drops keeps its rules, and the agents who
        // served it keep serving it, for the calls of older versions that
        // wait in it (they keep their place) or still enter it; no call of
        // the new version can. Every agent's other queues and maximum load
        // are the new version's; an agent it no longer declares serves only
        // such dropped queues.
        let declared = |queue: &str| {
            version
                .directory
                .queue_rules
                .iter()
                .any(|rules| rules.name == queue)
        };
        let mut agents: BTreeMap<String, (Vec<String>, u32)> = version.directory.agents.clone();
        for (name, (queues, load)) in &self.directory.agents {
            let dropped = queues.iter().filter(|q| !declared(q)).cloned();
            agents
                .entry(name.clone())
                .or_insert_with(|| (Vec::new(), *load))
                .0
                .extend(dropped);
        }
        for (name, (queues, load)) in &agents {
            let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
            self.acd.add_agent(name, &queues, *load);
        }
        self.directory = version.directory;
        let paused = std::mem::take(&mut self.bots.paused);
        self.bots = version.bots;
        self.bots.paused = paused;
    }

    /// The campaign number a dialled number (a Request-URI's user part:
    /// E.164 with or without `+` or `00`, or national) reaches, if any.
    /// A campaign the installed version leaves out is not reachable.
    pub fn route(&self, user: &str) -> Option<&str> {
        self.routes.get(&digits_of(user)).map(String::as_str)
    }

    /// What a transfer's target names (`user`: the user part of its URI):
    /// a queue, an agent, a campaign's number (its entry point), or
    /// another number (3 to 15 digits) for the trunk.
    pub fn transfer_target(&self, user: &str) -> Option<Target> {
        if user.is_empty() {
            return None;
        }
        if let Some(queue) = self.directory.queue_named(user) {
            return Some(Target::Queue(queue));
        }
        let agent = dialect_acd::directory::short(user);
        if self.directory.agents.contains_key(agent) {
            return Some(Target::Agent(agent.to_string()));
        }
        if let Some(dialled) = self.route(user) {
            return Some(Target::EntryPoint(dialled.to_string()));
        }
        let digits: String = user.chars().filter(char::is_ascii_digit).collect();
        let plausible = user
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | ' '));
        if plausible && (3..=15).contains(&digits.len()) {
            let number = if user.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            };
            return Some(Target::Number(number));
        }
        None
    }

    /// Admits at most `max` calls at once (`[runtime] max_calls`).
    pub fn set_max_calls(&mut self, max: usize) {
        self.max_calls = max;
    }

    /// Whether one more call would be admitted.
    pub fn can_admit(&self) -> bool {
        self.calls.len() < self.max_calls
    }

    /// Admits an inbound call of `campaign` from `caller` into the call
    /// table before its flow starts ([`Switch::arrive`] follows, at once or
    /// after the ringing the campaign asks for), or refuses it when the
    /// table holds `max_calls` already. Calls the world placed itself
    /// (surveys) are not refused: they were admitted when they were
    /// scheduled.
    pub fn admit(&mut self, key: CallKey, campaign: &str, caller: &str) -> Result<(), OverLimit> {
        if !self.calls.contains_key(&key) && !self.can_admit() {
            return Err(OverLimit);
        }
        self.open(key, campaign.to_string(), caller);
        Ok(())
    }

    /// Leaves bot turns to the world ([`Command::BotTurn`] is then the
    /// world's to answer with [`Event::BotReply`]): a scenario's scripted
    /// replies.
    pub fn script_bots(&mut self, on: bool) {
        self.scripted_bots = on;
    }

    /// Whether the switch carries out `command` itself (engine timers,
    /// queueing, customer-agent turns): the world only traces those.
    pub fn carries_out(&self, command: &Command) -> bool {
        match command {
            Command::StartTimer { .. }
            | Command::CancelTimer { .. }
            | Command::Enqueue { .. }
            | Command::Dequeue { .. }
            | Command::Identify { .. }
            | Command::LookupTicket { .. }
            | Command::Transfer { .. } => true,
            // An internal source is the store's records; an external one is
            // the world's (HTTP).
            Command::Authorise { source, .. } => source != "external",
            Command::BotTurn { .. } => !self.scripted_bots,
            _ => false,
        }
    }

    /// Records every engine transition as [`Action::Step`] (off by default).
    pub fn set_tracing(&mut self, on: bool) {
        self.engine.set_tracing(on);
    }

    /// The engine, to read calls' state.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The ACD, to read agents' and queues' state.
    pub fn acd(&self) -> &Acd {
        &self.acd
    }

    /// The directory of the installed version.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The customer agents of the installed version.
    pub fn bots(&self) -> &Bots {
        &self.bots
    }

    /// The customer agents, to pause and resume them.
    pub fn bots_mut(&mut self) -> &mut Bots {
        &mut self.bots
    }

    /// The ACD's clock at `now`.
    pub fn acd_ms(&self, now: Timestamp) -> Millis {
        let ms = now.duration_since(self.origin).as_millis();
        u64::try_from(ms).unwrap_or(0)
    }

    /// The time of an ACD instant.
    pub fn time_of(&self, ms: Millis) -> Timestamp {
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self.origin
            .saturating_add(SignedDuration::from_millis(ms))
            .unwrap_or(self.origin)
    }

    /// The engine call of a key, while its flow runs.
    pub fn engine_call(&self, call: CallKey) -> Option<CallId> {
        self.calls.get(&call).and_then(|c| c.engine)
    }

    /// Whether the switch knows the call.
    pub fn has_call(&self, call: CallKey) -> bool {
        self.calls.contains_key(&call)
    }

    /// The language the customer agent last spoke on the call.
    pub fn bot_language(&self, call: CallKey) -> Option<&str> {
        self.calls.get(&call)?.bot_language.as_deref()
    }

    /// Whether the call's customer agent is listening (a conversation is
    /// open and not over).
    pub fn is_listening(&self, call: CallKey) -> bool {
        self.calls
            .get(&call)
            .and_then(|c| c.conversation.as_ref())
            .is_some_and(|c| !c.is_over())
    }

    /// The number of calls the switch knows (with a flow, queued, or
    /// both).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The number of live engine timers.
    pub fn timers(&self) -> usize {
        self.engine.timers()
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Switch::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [self.calls_deadline(), self.monitor_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next deadline of the calls (engine timers, the ACD's,
    /// announcements, extension transfers), the alerts' apart.
    fn calls_deadline(&self) -> Option<Timestamp> {
        let timer = self.engine.poll_timeout();
        let acd = self.acd.poll_timeout().map(|ms| self.time_of(ms));
        let announcement = self.announcements.first().map(|(at, _)| *at);
        let transfer = self.transfers.first().map(|(at, _)| *at);
        [timer, acd, announcement, transfer]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time passed: engine timers due fire (before the ACD's deadlines of
    /// the same instant), then the ACD's.
    pub fn handle_timeout(&mut self, now: Timestamp, store: &dyn Store) {
        self.now = self.now.max(now);
        while let Some(at) = self.engine.poll_timeout().filter(|at| *at <= now) {
            let call = self
                .engine
                .fire_next(at)
                .and_then(|id| self.by_engine.get(&id));
            if let Some(&call) = call {
                // Before what the timer caused: that is still in the
                // engine's queue until the drain.
                self.actions.push_back(Action::TimerFired { call });
            }
            self.drain(at, store);
        }
        let ms = self.acd_ms(now);
        if self.acd.poll_timeout().is_some_and(|at| at <= ms) {
            self.acd.handle_timeout(ms);
        }
        self.transfers_due(now);
        self.drain(now, store);
        self.announce_due(now);
        self.monitor_due(now, store);
    }

    /// A call arrives for `dialled` from `caller` on `channel` (voice, or
    /// a chat's text): its flow starts. The key
    /// is the adapter's (a new one, or that of a call whose flow ended and
    /// that starts another campaign's flow).
    pub fn arrive(
        &mut self,
        key: CallKey,
        caller: &str,
        dialled: &str,
        channel: Channel,
        now: Timestamp,
        store: &dyn Store,
    ) -> Result<(), Refused> {
        // Refused before the call is opened: no campaign, or one that is
        // disabled or outside its life.
        let campaign = self.engine.admission(dialled, now)?.program.name.clone();
        self.now = self.now.max(now);
        self.open(key, campaign, caller);
        if let Some(call) = self.calls.get_mut(&key) {
            call.channel = channel;
        }
        let id = self.engine.handle_call(caller, dialled, now)?;
        self.started(key, id, now, store);
        Ok(())
    }

    /// A survey call the world placed for the campaign `campaign` (name or
    /// number) and the customer answered.
    pub fn arrive_survey(
        &mut self,
        key: CallKey,
        campaign: &str,
        survey: &str,
        customer: &str,
        now: Timestamp,
        store: &dyn Store,
    ) -> Result<(), Refused> {
        let name = self
            .engine
            .route(campaign)
            .map_or_else(|| campaign.to_string(), |f| f.program.name.clone());
        self.open(key, name, customer);
        match self.engine.handle_survey(campaign, survey, customer, now) {
            Ok(id) => {
                self.started(key, id, now, store);
                Ok(())
            }
            Err(refused) => {
                self.calls.remove(&key);
                Err(refused)
            }
        }
    }

    pub(crate) fn open(&mut self, key: CallKey, campaign: String, caller: &str) {
        let call = self.calls.entry(key).or_insert_with(|| Call {
            engine: None,
            campaign: String::new(),
            caller: String::new(),
            channel: Channel::Voice,
            queue: None,
            conversation: None,
            bot_node: None,
            bot_language: None,
            bot_requests: 0,
            waiting_since: None,
            announce_at: None,
            playing: false,
            leaving: false,
            talking_since: None,
            transfer_until: None,
            announce_every: None,
            last_queue: None,
            connected: false,
            callback: false,
        });
        call.campaign = campaign;
        call.caller = caller.to_string();
    }

    fn started(&mut self, key: CallKey, id: CallId, now: Timestamp, store: &dyn Store) {
        if let Some(call) = self.calls.get_mut(&key) {
            call.engine = Some(id);
        }
        self.by_engine.insert(id, key);
        self.drain(now, store);
        // A call that ended at once (closed, refused) has been released by
        // the drain; its key is the world's to forget.
    }

    /// Something happened to a call (a key, a prompt's end, speech, a dial
    /// result, the caller's hang-up, ...). Ignored for a call whose flow is
    /// over.
    pub fn event(&mut self, call: CallKey, event: Event, now: Timestamp, store: &dyn Store) {
        self.now = self.now.max(now);
        if matches!(event, Event::HangUp) {
            // A caller who hangs up while waiting abandoned the queue (the
            // flow's Dequeue that follows is not a second exit).
            self.left_queue(call, now, crate::monitor::Left::Abandoned);
            if let Some(c) = self.calls.get_mut(&call) {
                c.waiting_since = None;
            }
        }
        let own = match &event {
            Event::Digit(digit) => self.courtesy_key(call, *digit, now),
            Event::PromptFinished => self.prompt_ended(call),
            _ => false,
        };
        if !own {
            self.deliver(call, event, now);
        }
        self.drain(now, store);
    }

    fn deliver(&mut self, key: CallKey, event: Event, now: Timestamp) {
        let Some(id) = self.engine_call(key) else {
            return;
        };
        // A call whose flow already ended is refused by the engine: nothing
        // changes, which is what a late event means.
        if self.engine.handle_event(id, event, now).is_err() {
            self.detach(key);
        }
    }

    /// The call is gone from the world (hung up and cleaned up): it leaves
    /// the ACD (an agent talking with it starts wrap-up) and is forgotten.
    pub fn release(&mut self, call: CallKey, now: Timestamp) {
        self.left_queue(call, now, crate::monitor::Left::Abandoned);
        let ms = self.acd_ms(now);
        if !self.handed_over.remove(&call) {
            self.acd.ended(call, ms);
        }
        self.detach(call);
        if let Some(at) = self.calls.remove(&call).and_then(|c| c.announce_at) {
            self.announcements.remove(&(at, call));
        }
        self.feedback.retain(|(k, _)| *k != call);
        self.drive_acd();
        self.monitor_now(now);
    }

    /// The agent talking on `call` goes on talking in another call (a
    /// consultation taken over by an attended transfer or a conference):
    /// releasing `call` leaves them busy in the ACD, under its id, until
    /// [`Switch::agent_ended`] says that conversation is over.
    pub fn hand_over(&mut self, call: CallKey) {
        if self.acd.place(call).is_some() {
            self.handed_over.insert(call);
        }
    }

    /// Forgets the engine side of a call: its timer, its conversation.
    fn detach(&mut self, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(id) = call.engine.take() {
            self.by_engine.remove(&id);
        }
        if call.conversation.take().is_some() {
            self.actions.push_back(Action::StopListening { call: key });
        }
    }

    /// Carries out what the engine and the ACD decided until nothing is
    /// left: steps and commands out, the switch's own answers back in.
    pub(crate) fn drain(&mut self, now: Timestamp, store: &dyn Store) {
        loop {
            while let Some(step) = self.engine.poll_step() {
                if let Some(&call) = self.by_engine.get(&step.call) {
                    self.actions.push_back(Action::Step {
                        call,
                        node: step.node,
                        exit: step.exit,
                    });
                }
            }
            while let Some(emitted) = self.engine.poll_command() {
                let Some(&key) = self.by_engine.get(&emitted.call) else {
                    continue;
                };
                self.command(key, emitted.node, emitted.command, now, store);
            }
            self.drive_acd();
            let Some((key, event)) = self.feedback.pop_front() else {
                break;
            };
            self.deliver(key, event, now);
        }
    }

    /// One engine command: carried out here, or passed to the world.
    fn command(
        &mut self,
        key: CallKey,
        node: NodeId,
        command: Command,
        now: Timestamp,
        store: &dyn Store,
    ) {
        // Leaving the customer agent's block: stop listening to the caller.
        if !matches!(
            command,
            Command::BotTurn { .. }
                | Command::Play { .. }
                | Command::StopPlayback
                | Command::StartTimer { .. }
                | Command::CancelTimer { .. }
        ) && let Some(call) = self.calls.get_mut(&key)
            && call.conversation.take().is_some()
        {
            self.actions.push_back(Action::StopListening { call: key });
        }
        if !self.callback_policy(key, node, &command) {
            return;
        }
        self.actions.push_back(Action::Command {
            call: key,
            node,
            command: command.clone(),
        });
        match command {
            Command::Enqueue {
                queue,
                priority,
                announce_every_ms,
            } => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.announce_every = announce_every_ms;
                }
                self.enqueue(key, queue, priority, now, store);
            }
            Command::Identify { number } => self.identify(key, &number, store),
            Command::Authorise { source, digits, .. } if source != "external" => {
                self.authorise(key, digits.as_deref(), store);
            }
            Command::LookupTicket { id } => self.lookup_ticket(key, &id, store),
            Command::Transfer { extension } => self.transfer(key, &extension, now),
            Command::Dequeue { queue } => {
                self.log(key, "dequeued", fields([("queue", queue.into())]));
                self.leave_acd(key, now);
            }
            Command::BotTurn { bot, utterance } if !self.scripted_bots => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.bot_node = Some(node);
                }
                self.bot_turn(key, &bot, utterance, store, now);
            }
            Command::Ended(_) => self.detach(key),
            Command::Play { .. } => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.playing = true;
                }
            }
            Command::StopPlayback => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.playing = false;
                }
            }
            _ => {}
        }
    }

    /// A line for a call's event log.
    /// The campaign's `callback_unconnected` (SPEC 3.2): `never` refuses
    /// the `callback` block's registration (returns false: the command is
    /// not the world's to carry out); `always` registers one for a caller
    /// who waited in a queue and was never connected, when the call ends
    /// without one; `per_block` leaves it to the blocks.
    fn callback_policy(&mut self, key: CallKey, node: NodeId, command: &Command) -> bool {
        let Some(call) = self.calls.get(&key) else {
            return true;
        };
        let policy = self
            .directory
            .campaigns
            .get(&call.campaign)
            .map_or("per_block", |c| c.callback_unconnected.as_str());
        match (command, policy) {
            (Command::RegisterCallback { .. }, "never") => {
                self.log(
                    key,
                    "callback_refused",
                    fields([(
                        "reason",
                        "the campaign's callback_unconnected is never".into(),
                    )]),
                );
                false
            }
            (Command::RegisterCallback { .. }, _) => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.callback = true;
                }
                true
            }
            (Command::Ended(_), "always") if !call.connected && !call.callback => {
                if let Some(queue) = call.last_queue.clone() {
                    let number = call.caller.clone();
                    self.log(
                        key,
                        "callback_unconnected",
                        fields([("queue", queue.as_str().into())]),
                    );
                    self.actions.push_back(Action::Command {
                        call: key,
                        node,
                        command: Command::RegisterCallback {
                            number,
                            queue: Some(queue),
                            delay_ms: 0,
                            reason: Some("never connected".into()),
                        },
                    });
                }
                true
            }
            _ => true,
        }
    }

    /// `route_identified`: the customer records of the call's campaign
    /// that have the caller's number; with one, its fields go to the flow
    /// (`record`). A store that cannot be read counts as none, logged.
    fn identify(&mut self, key: CallKey, number: &str, store: &dyn Store) {
        let campaign = self
            .calls
            .get(&key)
            .map(|c| c.campaign.clone())
            .unwrap_or_default();
        let records = self.read_records(key, &campaign, number, store);
        let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let mut logged = fields([("records", count.into())]);
        let record = match records.into_iter().next() {
            Some(record) if count == 1 => {
                logged.insert("record".into(), record.id.into());
                // Beside its fields, the flow sees the record's state: its
                // last classifier, whether it is closed, and whether its
                // number is on the blacklist.
                let blacklisted = store.blacklisted(number).unwrap_or(false);
                let mut seen: Vec<(String, String)> = record.fields.into_iter().collect();
                for (name, value) in [
                    ("blacklisted", blacklisted.to_string()),
                    ("closed", record.closed.to_string()),
                    ("classifier", record.classifier.unwrap_or_default()),
                ] {
                    if !seen.iter().any(|(n, _)| n == name) {
                        seen.push((name.to_string(), value));
                    }
                }
                seen
            }
            _ => Vec::new(),
        };
        self.log(key, "identified", logged);
        let event = Event::Identified {
            records: count,
            record,
        };
        self.actions.push_back(Action::Decided {
            call: key,
            event: event.clone(),
        });
        self.feedback.push_back((key, event));
    }

    /// `authorise` from the campaign's records: the caller's number must
    /// have a record, and what they keyed (if they were asked) must be one
    /// of its field values (a customer number, a PESEL, a PIN).
    fn authorise(&mut self, key: CallKey, digits: Option<&str>, store: &dyn Store) {
        let (campaign, caller) = self
            .calls
            .get(&key)
            .map(|c| (c.campaign.clone(), c.caller.clone()))
            .unwrap_or_default();
        let records = self.read_records(key, &campaign, &caller, store);
        let plain = |v: &str| -> String { v.chars().filter(|c| !matches!(c, ' ' | '-')).collect() };
        let ok = match digits {
            Some(typed) => {
                let typed = plain(typed);
                !typed.is_empty()
                    && records
                        .iter()
                        .any(|r| r.fields.values().any(|v| plain(v) == typed))
            }
            None => records.len() == 1,
        };
        self.log(key, "authorised", fields([("ok", ok.into())]));
        self.verified(key, ok);
    }

    /// `ticket`: whether a ticket with the keyed id exists.
    fn lookup_ticket(&mut self, key: CallKey, id: &str, store: &dyn Store) {
        let found = match id.trim().parse::<i64>() {
            Ok(number) => match store.ticket(number) {
                Ok(ticket) => ticket.is_some(),
                Err(error) => {
                    self.log(
                        key,
                        "store_failed",
                        fields([
                            ("reading", "tickets".into()),
                            ("error", error.to_string().into()),
                        ]),
                    );
                    false
                }
            },
            Err(_) => false,
        };
        self.log(
            key,
            "ticket_checked",
            fields([("ticket", id.into()), ("ok", found.into())]),
        );
        self.verified(key, found);
    }

    fn verified(&mut self, key: CallKey, ok: bool) {
        let event = Event::Verified { ok };
        self.actions.push_back(Action::Decided {
            call: key,
            event: event.clone(),
        });
        self.feedback.push_back((key, event));
    }

    /// The customer records of `campaign` with `number`; a store that
    /// cannot be read is logged and counts as none.
    fn read_records(
        &mut self,
        key: CallKey,
        campaign: &str,
        number: &str,
        store: &dyn Store,
    ) -> Vec<dialect_store::CustomerRecord> {
        match store.records_of(campaign, number) {
            Ok(records) => records,
            Err(error) => {
                self.log(
                    key,
                    "store_failed",
                    fields([
                        ("reading", "customer records".into()),
                        ("error", error.to_string().into()),
                    ]),
                );
                Vec::new()
            }
        }
    }

    fn log(&mut self, call: CallKey, event: &'static str, fields: Fields) {
        self.actions.push_back(Action::Log {
            call,
            event,
            fields,
        });
    }
}

/// A world without a store: nothing is remembered (no last agent, no
/// owner) and tickets cannot be opened (each attempt is logged).
pub struct NoStore;

impl RelationshipStore for NoStore {
    fn set_last_agent(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Timestamp,
    ) -> Result<(), dialect_store::StoreError> {
        Ok(())
    }

    fn last_agent(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<(String, Timestamp)>, dialect_store::StoreError> {
        Ok(None)
    }

    fn set_owner(&self, _: &str, _: &str, _: &str) -> Result<(), dialect_store::StoreError> {
        Ok(())
    }

    fn clear_owner(&self, _: &str, _: &str) -> Result<(), dialect_store::StoreError> {
        Ok(())
    }

    fn owner(&self, _: &str, _: &str) -> Result<Option<String>, dialect_store::StoreError> {
        Ok(None)
    }
}

impl TicketStore for NoStore {
    fn open_ticket(
        &self,
        _: &dialect_store::NewTicket,
        _: Timestamp,
    ) -> Result<dialect_store::Ticket, dialect_store::StoreError> {
        Err(dialect_store::StoreError::Unavailable(
            "tickets cannot be opened".into(),
        ))
    }

    fn tickets(&self) -> Result<Vec<dialect_store::Ticket>, dialect_store::StoreError> {
        Ok(Vec::new())
    }

    fn close_ticket(&self, id: i64) -> Result<dialect_store::Ticket, dialect_store::StoreError> {
        Err(dialect_store::StoreError::NotFound { id })
    }
}

impl CustomerStore for NoStore {
    fn import_records(
        &self,
        _: &str,
        _: &[dialect_store::NewRecord],
        _: Timestamp,
    ) -> Result<Vec<i64>, dialect_store::StoreError> {
        Err(dialect_store::StoreError::Unavailable(
            "records cannot be stored".into(),
        ))
    }

    fn records_of(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Vec<dialect_store::CustomerRecord>, dialect_store::StoreError> {
        Ok(Vec::new())
    }

    fn all_records(
        &self,
        _: &str,
    ) -> Result<Vec<dialect_store::CustomerRecord>, dialect_store::StoreError> {
        Ok(Vec::new())
    }

    fn record(
        &self,
        _: i64,
    ) -> Result<Option<dialect_store::CustomerRecord>, dialect_store::StoreError> {
        Ok(None)
    }

    fn edit_record(
        &self,
        id: i64,
        _: &std::collections::BTreeMap<String, String>,
        _: u32,
        _: Timestamp,
    ) -> Result<dialect_store::CustomerRecord, dialect_store::StoreError> {
        Err(dialect_store::StoreError::NoRecord { id })
    }

    fn classify_record(
        &self,
        id: i64,
        _: &dialect_store::Classification,
        _: Timestamp,
    ) -> Result<dialect_store::CustomerRecord, dialect_store::StoreError> {
        Err(dialect_store::StoreError::NoRecord { id })
    }

    fn move_record(&self, id: i64, _: &str) -> Result<(), dialect_store::StoreError> {
        Err(dialect_store::StoreError::NoRecord { id })
    }

    fn blacklist(&self, _: &str, _: &str, _: Timestamp) -> Result<(), dialect_store::StoreError> {
        Err(dialect_store::StoreError::Unavailable(
            "the blacklist cannot be stored".into(),
        ))
    }

    fn blacklisted(&self, _: &str) -> Result<bool, dialect_store::StoreError> {
        Ok(false)
    }
}

/// The digits a dialled number is routed by: without `+` or `00`.
fn digits_of(user: &str) -> String {
    user.trim_start_matches('+')
        .trim_start_matches("00")
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// A campaign's numbers as they may reach us: E.164 digits, and national
/// (without the campaign's `country_code`, 48 by default).
fn add_routes(routes: &mut HashMap<String, String>, program: &dialect_bytecode::Program) {
    let cc = match program.settings.get("country_code") {
        Some(dialect_bytecode::Value::Phone(cc)) => cc.trim_start_matches('+').to_string(),
        _ => "48".to_string(),
    };
    for number in &program.numbers {
        let digits = number.trim_start_matches('+').to_string();
        if let Some(national) = digits.strip_prefix(&cc) {
            routes.insert(national.to_string(), number.clone());
        }
        routes.insert(digits, number.clone());
    }
}
