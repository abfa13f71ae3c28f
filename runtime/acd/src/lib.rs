//! The ACD core (SPEC 5.3, 5.4): which agent gets which call, and when.
//!
//! Like the engine, it performs no I/O and reads no clock: every input
//! carries the current time in milliseconds (any monotonic origin: the
//! server's `Instant`, the simulator's virtual clock), outputs are
//! [`Action`]s drained with [`Acd::poll_action`], and [`Acd::poll_timeout`]
//! says when to call [`Acd::handle_timeout`].
//!
//! Rules implemented here:
//! 1. a call is offered to the longest-idle agent of its queue: among the
//!    agents that serve the queue and are Available, the one Available the
//!    longest (ties: the first name);
//! 2. calls wait in order of effective priority, then of arrival, then of
//!    call id; the effective priority is the priority plus
//!    [`PRIORITY_SHIFT`] (at least 1) times the ageing factor of the highest
//!    level of [`Rules::ageing`] the call's wait has reached, so that a call
//!    that waited long enough overtakes newer ones of higher priority;
//!    decisions always use the levels of the current time;
//! 3. an agent who serves several queues takes the best call across them,
//!    by the same order;
//! 4. an agent holds up to `max_load` calls (ringing or talking) at once
//!    and is offered more while below it, unless idle or in wrap-up (an
//!    agent with room counts as available since their last offer, so that
//!    the longer idle go first); the state reported is Ringing if an offer
//!    rings, else Busy if the agent talks;
//! 5. an offer not answered within the queue's ring time, or declined, is
//!    withdrawn (RONA): the agent becomes Idle with the reason `RONA`, the
//!    call goes back to its place (its arrival time is kept) and is offered
//!    at once to the next agent, if any;
//! 6. after each call the agent wraps up for the wrap-up time plus the extra
//!    time and is offered nothing until it ends (or the agent ends it);
//! 7. a call with a preferred agent (sticky agent, private record) is
//!    reserved for that agent until the given time, if the agent is logged
//!    in when the call arrives: only they are offered it (in the normal
//!    order among the calls they may take), other calls go on to other
//!    agents; the reservation ends at that time, when the preferred agent
//!    logs out or once the call was offered to them;
//! 8. a call that has waited its queue's maximum wait moves to the overflow
//!    queue (keeping its arrival and priority; the new queue's wait starts
//!    then), or leaves the ACD if there is none; a ringing call is checked
//!    again when it comes back; a queue with a maximum size refuses new
//!    calls when that many are waiting (calls overflowing into it are
//!    always taken).
//!
//! Every operation costs O(log n) in the number of waiting calls and of
//! agents, times small factors (the queues an agent serves, the ageing
//! levels, an agent's maximum load): waiting calls are kept in ordered sets
//! per queue (per agent for reserved calls) and per ageing level, free
//! agents in an ordered set per queue, and every deadline (ring time,
//! wrap-up, maximum wait, next ageing level, end of a reservation) in an
//! ordered set of timers.

pub mod directory;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// Added to priorities before ageing multiplies them, so that a negative or
/// zero priority also gains from waiting (priorities are around -100..100,
/// plus campaign, channel and record weights).
pub const PRIORITY_SHIFT: i64 = 1_000;

/// A call's id, as the caller of the ACD knows it.
pub type CallId = u64;

/// The reason of the Idle state an agent is in after logging in.
pub const LOGGED_IN: &str = "logged in";

/// The reason of the Idle state an agent is in after an offer they did not
/// answer (ring time over, or declined).
pub const RONA: &str = "RONA";

/// An agent's state, as reported: Ringing if any offer rings, else Busy if
/// the agent talks, else what the agent chose or the ACD imposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Ready for calls since this time (for longest-idle order).
    Available {
        /// Since when.
        since: Millis,
    },
    /// Logged in but not ready, with a reason (`logged in`, `break`,
    /// `RONA`, ...).
    Idle {
        /// Why.
        reason: String,
    },
    /// Being offered a call until the ring time ends.
    Ringing {
        /// The call.
        call: CallId,
        /// When the offer is withdrawn.
        until: Millis,
    },
    /// On a call.
    Busy {
        /// The call.
        call: CallId,
    },
    /// Wrapping up until this time.
    WrapUp {
        /// When wrap-up ends.
        until: Millis,
    },
    /// Not logged in: offered nothing.
    LoggedOut,
}

/// What the ACD asks of its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ring this agent for this call.
    Offer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: String,
    },
    /// Stop ringing (RONA: the ring time is over, or the agent's phone
    /// declined): the call is back at its place, the agent is Idle with the
    /// reason `RONA`.
    Withdraw {
        /// The call.
        call: CallId,
        /// The agent.
        agent: String,
    },
    /// The call waited the maximum wait of `from` and now waits in `to`,
    /// keeping its arrival time and priority.
    Overflowed {
        /// The call.
        call: CallId,
        /// The queue it left.
        from: String,
        /// The queue it waits in now.
        to: String,
    },
    /// The call waited the maximum wait of its queue, which overflows
    /// nowhere: it left the ACD (the caller takes the flow's timeout exit).
    TimedOut {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: String,
    },
}

/// Why [`Acd::enqueue`] refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No queue of that name was added.
    UnknownQueue,
    /// The queue already holds its maximum size of waiting calls.
    Full,
    /// The call is already in the ACD (waiting, ringing or talking).
    AlreadyQueued,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::UnknownQueue => "unknown queue",
            Refused::Full => "the queue is full",
            Refused::AlreadyQueued => "the call is already queued",
        })
    }
}

impl std::error::Error for Refused {}

/// Rules common to all queues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Wrap-up after each call.
    pub wrap_up_ms: Millis,
    /// Extra wrap-up time an agent may ask for once per wrap-up
    /// ([`Acd::extra_wrap_up`]).
    pub extra_wrap_up_ms: Millis,
    /// Ageing: after waiting at least this long (since arrival), the
    /// priority (plus [`PRIORITY_SHIFT`]) is multiplied by this factor; the
    /// highest level reached applies (a factor below a lower level's does
    /// not lower it; factors below 1 count as 1).
    pub ageing: Vec<(Millis, i64)>,
}

/// One queue's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRules {
    /// The queue's name, as requests and agents name it.
    pub name: String,
    /// How long an offer rings before RONA.
    pub ring_ms: Millis,
    /// How long a call may wait in this queue (at least 1 ms when set).
    pub max_wait_ms: Option<Millis>,
    /// Where a call goes at its maximum wait (even if that queue is at its
    /// maximum size); without it (or if no such queue was added) the call
    /// times out.
    pub overflow: Option<String>,
    /// At most this many waiting calls; more are refused.
    pub max_size: Option<usize>,
    /// An agent takes a call from this queue only while holding fewer than
    /// this many calls (a campaign's channel `max_load`, through its lane),
    /// whatever their own maximum load.
    pub max_load: Option<u32>,
}

impl QueueRules {
    /// A queue with a ring time of 20 s, no maximum wait and no maximum
    /// size.
    pub fn new(name: &str) -> QueueRules {
        QueueRules {
            name: name.to_string(),
            ring_ms: 20_000,
            max_wait_ms: None,
            overflow: None,
            max_size: None,
            max_load: None,
        }
    }
}

/// The agent a call should go to first (sticky agent, private record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preferred {
    /// The agent's name.
    pub agent: String,
    /// Until when only this agent may be offered the call.
    pub until: Millis,
}

/// What a call asks of the ACD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The queue to wait in.
    pub queue: String,
    /// Its priority (higher first).
    pub priority: i64,
    /// The agent it is reserved for, for a while.
    pub preferred: Option<Preferred>,
    /// The wrap-up after this call, and the extra time its agent may ask
    /// for ([`Acd::extra_wrap_up`]); `None`: the ACD's [`Rules`] (its
    /// campaign's rules, in the switch).
    pub wrap_up: Option<(Millis, Millis)>,
    /// Its campaign's ageing levels (after this wait, this factor), over
    /// the ACD's [`Rules`]; `None`: the ACD's.
    pub ageing: Option<Vec<(Millis, i64)>>,
}

impl Request {
    /// A request for this queue with priority 0 and no preferred agent.
    pub fn new(queue: &str) -> Request {
        Request {
            queue: queue.to_string(),
            priority: 0,
            preferred: None,
            wrap_up: None,
            ageing: None,
        }
    }
}

/// Where a call is, for [`Acd::place`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place<'a> {
    /// Waiting in this queue.
    Waiting {
        /// The queue.
        queue: &'a str,
    },
    /// Offered to this agent.
    Ringing {
        /// The agent.
        agent: &'a str,
        /// When the offer is withdrawn.
        until: Millis,
    },
    /// Talking to this agent.
    Busy {
        /// The agent.
        agent: &'a str,
    },
}

type AgentId = usize;
type QueueId = usize;

/// A waiting call's place in its set: effective priority (highest first),
/// arrival, call id.
type Key = (Reverse<i64>, Millis, CallId);

/// Deadlines that cause actions: processed by [`Acd::handle_timeout`] only,
/// in time order (at the same time: wrap-ups end first, so that a freed
/// agent may take a call before it times out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Loud {
    WrapUp(AgentId),
    Ring(CallId),
    MaxWait(QueueId),
}

/// Deadlines that change a call's standing: processed before any input, so
/// that every decision sees the current ageing levels and reservations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Silent {
    Age(CallId),
    Reserve(CallId),
}

/// Which set a waiting call is in: its queue's, or its preferred agent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Queue(QueueId),
    Agent(AgentId),
}

/// What the agent chose or the ACD imposed, apart from the calls held.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    Available { since: Millis },
    Idle { reason: String },
    WrapUp { until: Millis },
    LoggedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting { level: usize },
    Ringing { agent: AgentId, until: Millis },
    Busy { agent: AgentId },
}

#[derive(Clone, Debug)]
struct Call {
    queue: QueueId,
    priority: i64,
    /// Arrival, for the order and ageing.
    since: Millis,
    /// When it entered its current queue, for the maximum wait.
    entered: Millis,
    /// Reserved for this agent until then.
    preferred: Option<(AgentId, Millis)>,
    /// Wrap-up and extra wrap-up after it.
    wrap_up: (Millis, Millis),
    /// Its own ageing levels (its campaign's), over the ACD's.
    levels: Option<Arc<[(Millis, i64)]>>,
    status: Status,
}

#[derive(Clone, Debug)]
struct Queue {
    name: String,
    /// `None` while the queue is only named by agents.
    rules: Option<QueueRules>,
    /// Waiting calls not reserved, per ageing level.
    open: Vec<BTreeSet<Key>>,
    /// All waiting calls (reserved or not) by arrival.
    by_since: BTreeSet<(Millis, CallId)>,
    /// All waiting calls by entry into this queue.
    by_entered: BTreeSet<(Millis, CallId)>,
    /// Agents serving this queue who may be offered a call, by the time
    /// they became available, then name.
    free: BTreeSet<(Millis, Arc<str>, AgentId)>,
    /// The time of this queue's maximum-wait timer, if set.
    armed: Option<Millis>,
}

#[derive(Clone, Debug)]
struct Agent {
    name: Arc<str>,
    queues: Vec<QueueId>,
    max_load: u32,
    mode: Mode,
    /// Calls held: ringing until, or talking (`None`).
    held: BTreeMap<CallId, Option<Millis>>,
    /// The key under which the agent is in its queues' free sets.
    listed: Option<Millis>,
    /// Waiting calls reserved for this agent, per ageing level.
    reserved: Vec<BTreeSet<Key>>,
    /// The extra wrap-up time the agent may still ask for in this wrap-up.
    extra: Millis,
    /// The kind of state last reported ([`Agent::kind`]) and since when:
    /// the agent's time in state.
    shown: (u8, Millis),
}

impl Agent {
    /// Whether the agent may be offered a call now.
    fn eligible(&self) -> bool {
        matches!(self.mode, Mode::Available { .. })
            && self.held.len() < usize::try_from(self.max_load).unwrap_or(usize::MAX)
    }

    fn ringing(&self) -> impl Iterator<Item = (CallId, Millis)> + '_ {
        self.held
            .iter()
            .filter_map(|(call, until)| until.map(|until| (*call, until)))
    }

    /// The kind of [`Agent::report`]'s state, without its details (and
    /// without allocating): Ringing, Busy, or the mode's.
    fn kind(&self) -> u8 {
        if self.ringing().next().is_some() {
            return 0;
        }
        if !self.held.is_empty() {
            return 1;
        }
        match self.mode {
            Mode::Available { .. } => 2,
            Mode::Idle { .. } => 3,
            Mode::WrapUp { .. } => 4,
            Mode::LoggedOut => 5,
        }
    }

    fn report(&self) -> State {
        if let Some((call, until)) = self.ringing().next() {
            return State::Ringing { call, until };
        }
        if let Some(call) = self.held.keys().next() {
            return State::Busy { call: *call };
        }
        match &self.mode {
            Mode::Available { since } => State::Available { since: *since },
            Mode::Idle { reason } => State::Idle {
                reason: reason.clone(),
            },
            Mode::WrapUp { until } => State::WrapUp { until: *until },
            Mode::LoggedOut => State::LoggedOut,
        }
    }
}

/// The ACD.
#[derive(Clone, Debug)]
pub struct Acd {
    rules: Rules,
    /// Ageing levels: from this wait on, this factor; the first is (0, _).
    levels: Vec<(Millis, i64)>,
    queues: Vec<Queue>,
    queue_ids: HashMap<String, QueueId>,
    agents: Vec<Agent>,
    agent_ids: BTreeMap<Arc<str>, AgentId>,
    calls: HashMap<CallId, Call>,
    loud: BTreeSet<(Millis, Loud)>,
    silent: BTreeSet<(Millis, Silent)>,
    actions: VecDeque<Action>,
    /// The latest time given, for inputs that carry none.
    now: Millis,
}

impl Acd {
    /// An ACD with these rules, no queues and no agents.
    pub fn new(rules: Rules) -> Acd {
        let levels = levels_of(&rules.ageing);
        Acd {
            rules,
            levels,
            queues: Vec::new(),
            queue_ids: HashMap::new(),
            agents: Vec::new(),
            agent_ids: BTreeMap::new(),
            calls: HashMap::new(),
            loud: BTreeSet::new(),
            silent: BTreeSet::new(),
            actions: VecDeque::new(),
            now: 0,
        }
    }

    /// The rules given to [`Acd::new`].
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Adds a queue, or replaces the rules of the queue of that name (a new
    /// maximum wait applies to the calls already waiting; a new ring time to
    /// the next offers).
    pub fn add_queue(&mut self, queue: QueueRules) {
        let id = self.queue_id(&queue.name);
        if let Some(q) = self.queues.get_mut(id) {
            q.rules = Some(queue);
        }
        self.rearm(id);
    }

    /// Adds an agent, logged out until [`Acd::login`], who serves these
    /// queues (queues not added yet count once added) and holds at most
    /// `max_load` calls at once. Adding an agent again updates their queues
    /// and maximum load; they are then offered what they may take (at the
    /// latest time given).
    pub fn add_agent(&mut self, name: &str, queues: &[&str], max_load: u32) {
        let mut ids: Vec<QueueId> = Vec::with_capacity(queues.len());
        for queue in queues {
            let id = self.queue_id(queue);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if let Some(&id) = self.agent_ids.get(name) {
            self.list(id, None);
            if let Some(agent) = self.agents.get_mut(id) {
                agent.queues = ids;
                agent.max_load = max_load;
            }
            self.relist(id);
            self.serve_agent(id, self.now);
            return;
        }
        let name: Arc<str> = Arc::from(name);
        let id = self.agents.len();
        self.agents.push(Agent {
            name: name.clone(),
            queues: ids,
            max_load,
            mode: Mode::LoggedOut,
            held: BTreeMap::new(),
            listed: None,
            reserved: vec![BTreeSet::new(); self.levels.len()],
            extra: 0,
            shown: (5, self.now),
        });
        self.agent_ids.insert(name, id);
    }

    /// The agent logs in: LoggedOut -> Idle (`logged in`). False if unknown
    /// or already logged in.
    pub fn login(&mut self, name: &str, now: Millis) -> bool {
        self.advance(now);
        let Some(id) = self.agent_id(name) else {
            return false;
        };
        if !self.mode_is(id, |m| matches!(m, Mode::LoggedOut)) {
            return false;
        }
        self.set_mode(
            id,
            Mode::Idle {
                reason: LOGGED_IN.into(),
            },
        );
        true
    }

    /// The agent logs out, unless they hold a call (Ringing or Busy): calls
    /// reserved for them are open to every agent of their queue from now.
    pub fn logout(&mut self, name: &str, now: Millis) -> bool {
        self.advance(now);
        let Some(id) = self.agent_id(name) else {
            return false;
        };
        match self.agents.get(id) {
            Some(agent) if agent.held.is_empty() && agent.mode != Mode::LoggedOut => {}
            _ => return false,
        }
        self.set_mode(id, Mode::LoggedOut);
        let mut reserved = Vec::new();
        if let Some(agent) = self.agents.get_mut(id) {
            for (level, set) in agent.reserved.iter_mut().enumerate() {
                reserved.extend(std::mem::take(set).into_iter().map(|key| (level, key)));
            }
        }
        let mut queues = Vec::new();
        for (level, key) in reserved {
            let call = key.2;
            let Some(c) = self.calls.get_mut(&call) else {
                continue;
            };
            if let Some((_, until)) = c.preferred.take() {
                self.silent.remove(&(until, Silent::Reserve(call)));
            }
            let queue = c.queue;
            if let Some(set) = self.bucket(Owner::Queue(queue), level) {
                set.insert(key);
            }
            queues.push(queue);
        }
        self.serve_queues(queues, now);
        true
    }

    /// The agent is ready for calls: Idle -> Available (not from wrap-up,
    /// see [`Acd::end_wrap_up`]). They are offered the best call they may
    /// take at once.
    pub fn set_ready(&mut self, name: &str, now: Millis) -> bool {
        self.advance(now);
        let Some(id) = self.agent_id(name) else {
            return false;
        };
        if !self.mode_is(id, |m| matches!(m, Mode::Idle { .. })) {
            return false;
        }
        self.set_mode(id, Mode::Available { since: now });
        self.serve_agent(id, now);
        true
    }

    /// The agent is not ready, for this reason: Available -> Idle, and
    /// WrapUp -> Idle (a break after wrap-up). An agent with a maximum load
    /// above 1 may also go Idle while talking, if below that load; not while
    /// an offer rings.
    pub fn set_not_ready(&mut self, name: &str, reason: &str, now: Millis) -> bool {
        self.advance(now);
        let Some(id) = self.agent_id(name) else {
            return false;
        };
        let allowed = self.agents.get(id).is_some_and(|agent| {
            agent.ringing().next().is_none()
                && match agent.mode {
                    Mode::Available { .. } => agent.held.is_empty() || agent.eligible(),
                    Mode::WrapUp { .. } => true,
                    Mode::Idle { .. } | Mode::LoggedOut => false,
                }
        });
        if allowed {
            self.set_mode(
                id,
                Mode::Idle {
                    reason: reason.to_string(),
                },
            );
        }
        allowed
    }

    /// The agent asks for the extra wrap-up time of their last call: their
    /// wrap-up ends that much later (once per wrap-up). False when they
    /// are not wrapping up or have no extra time left.
    pub fn extra_wrap_up(&mut self, name: &str, now: Millis) -> bool {
        self.advance(now);
        let Some(id) = self.agent_id(name) else {
            return false;
        };
        let Some(agent) = self.agents.get_mut(id) else {
            return false;
        };
        let (Mode::WrapUp { until }, extra) = (&agent.mode, agent.extra) else {
            return false;
        };
        let until = *until;
        if extra == 0 {
            return false;
        }
        agent.extra = 0;
        self.set_mode(
            id,
            Mode::WrapUp {
                until: until.saturating_add(extra),
            },
        );
        true
    }

    /// The agent ends wrap-up early (submitted it): WrapUp -> Available.
    pub fn end_wrap_up(&mut self, name: &str, now: Millis) -> bool {
        self.advance(now);
        let Some(id) = self.agent_id(name) else {
            return false;
        };
        if !self.mode_is(id, |m| matches!(m, Mode::WrapUp { .. })) {
            return false;
        }
        self.set_mode(id, Mode::Available { since: now });
        self.serve_agent(id, now);
        true
    }

    /// A call starts waiting, arriving now.
    pub fn enqueue(&mut self, call: CallId, request: Request, now: Millis) -> Result<(), Refused> {
        self.enqueue_since(call, request, now, now)
    }

    /// A call starts waiting, ordered as if it had arrived at `since` (not
    /// after now): a courtesy callback keeps the caller's place and ageing.
    /// Its maximum wait counts from now.
    pub fn enqueue_since(
        &mut self,
        call: CallId,
        request: Request,
        since: Millis,
        now: Millis,
    ) -> Result<(), Refused> {
        self.advance(now);
        let Some(queue) = self
            .queue_ids
            .get(&request.queue)
            .copied()
            .filter(|q| self.queues.get(*q).is_some_and(|q| q.rules.is_some()))
        else {
            return Err(Refused::UnknownQueue);
        };
        if self.calls.contains_key(&call) {
            return Err(Refused::AlreadyQueued);
        }
        if let Some(q) = self.queues.get(queue)
            && let Some(max) = q.rules.as_ref().and_then(|r| r.max_size)
            && q.by_since.len() >= max
        {
            return Err(Refused::Full);
        }
        let preferred = request.preferred.and_then(|p| {
            let id = self.agent_id(&p.agent)?;
            let logged_in = !self.mode_is(id, |m| matches!(m, Mode::LoggedOut));
            (logged_in && p.until > now).then_some((id, p.until))
        });
        self.calls.insert(
            call,
            Call {
                queue,
                priority: request.priority,
                since: since.min(now),
                entered: now,
                preferred,
                wrap_up: request
                    .wrap_up
                    .unwrap_or((self.rules.wrap_up_ms, self.rules.extra_wrap_up_ms)),
                levels: request
                    .ageing
                    .as_deref()
                    .map(|ageing| Arc::from(levels_of(ageing))),
                status: Status::Waiting { level: 0 },
            },
        );
        self.insert_waiting(call, now);
        self.serve_call(call, now);
        Ok(())
    }

    /// The caller is gone (hung up, or the flow timed the wait out): a
    /// waiting or ringing call leaves; a ringing agent is available again
    /// (since now). False if the call is unknown or talking (see
    /// [`Acd::ended`]).
    pub fn remove(&mut self, call: CallId, now: Millis) -> bool {
        self.advance(now);
        let Some(status) = self.calls.get(&call).map(|c| c.status) else {
            return false;
        };
        match status {
            Status::Waiting { .. } => {
                self.remove_waiting(call);
                self.calls.remove(&call);
                true
            }
            Status::Ringing { agent, until } => {
                self.loud.remove(&(until, Loud::Ring(call)));
                self.calls.remove(&call);
                if let Some(a) = self.agents.get_mut(agent) {
                    a.held.remove(&call);
                    if let Mode::Available { since } = &mut a.mode {
                        *since = now;
                    }
                }
                self.relist(agent);
                self.serve_agent(agent, now);
                true
            }
            Status::Busy { .. } => false,
        }
    }

    /// The offered agent answered: the offer becomes a conversation.
    pub fn answered(&mut self, call: CallId, now: Millis) -> bool {
        self.advance(now);
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let Status::Ringing { agent, until } = c.status else {
            return false;
        };
        c.status = Status::Busy { agent };
        self.loud.remove(&(until, Loud::Ring(call)));
        if let Some(a) = self.agents.get_mut(agent) {
            a.held.insert(call, None);
        }
        self.stamp(agent);
        true
    }

    /// The offered agent's phone refused or failed before the ring time
    /// ended: RONA now (see [`Action::Withdraw`]).
    pub fn declined(&mut self, call: CallId, now: Millis) -> bool {
        self.advance(now);
        self.rona(call, now)
    }

    /// The conversation is over: the agent wraps up (wrap-up plus extra
    /// time), or is available at once without wrap-up time; an agent who
    /// went Idle meanwhile stays Idle. The call is forgotten. For a call
    /// still waiting or ringing this is [`Acd::remove`].
    pub fn ended(&mut self, call: CallId, now: Millis) -> bool {
        self.advance(now);
        let Some((Status::Busy { agent }, (wrap_up, extra))) =
            self.calls.get(&call).map(|c| (c.status, c.wrap_up))
        else {
            return self.remove(call, now);
        };
        self.calls.remove(&call);
        let Some(a) = self.agents.get_mut(agent) else {
            return true;
        };
        a.held.remove(&call);
        a.extra = extra;
        let mode = match a.mode {
            Mode::Available { .. } | Mode::WrapUp { .. } if wrap_up > 0 => {
                let mut until = now.saturating_add(wrap_up);
                if let Mode::WrapUp { until: earlier } = a.mode {
                    until = until.max(earlier);
                }
                Some(Mode::WrapUp { until })
            }
            Mode::Available { .. } => Some(Mode::Available { since: now }),
            _ => None,
        };
        match mode {
            Some(mode) => self.set_mode(agent, mode),
            None => self.relist(agent),
        }
        self.serve_agent(agent, now);
        true
    }

    /// Time passed: offers past their ring time are withdrawn (RONA),
    /// wrap-ups end, calls past their maximum wait overflow or time out,
    /// reservations end; freed agents and calls are matched.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.advance(now);
        while let Some(&(at, timer)) = self.loud.first() {
            if at > now {
                break;
            }
            self.loud.remove(&(at, timer));
            match timer {
                Loud::WrapUp(agent) => {
                    // Available since the wrap-up ended, for the longest-idle
                    // order, even if this timeout comes late.
                    if let Some(a) = self.agents.get_mut(agent)
                        && a.mode == (Mode::WrapUp { until: at })
                    {
                        a.mode = Mode::Available { since: at };
                    }
                    self.relist(agent);
                    self.serve_agent(agent, now);
                }
                Loud::Ring(call) => {
                    self.rona(call, now);
                }
                Loud::MaxWait(queue) => self.max_wait(queue, now),
            }
        }
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Acd::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let loud = self.loud.first().map(|t| t.0);
        let silent = self.silent.first().map(|t| t.0);
        match (loud, silent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// An agent's state.
    pub fn state(&self, name: &str) -> Option<State> {
        let id = self.agent_id(name)?;
        self.agents.get(id).map(Agent::report)
    }

    /// The calls an agent holds (ringing or talking), by id.
    pub fn calls_of(&self, name: &str) -> Vec<CallId> {
        self.agent_id(name)
            .and_then(|id| self.agents.get(id))
            .map(|a| a.held.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Where a call is, if in the ACD.
    pub fn place(&self, call: CallId) -> Option<Place<'_>> {
        let c = self.calls.get(&call)?;
        let agent_name = |id: AgentId| self.agents.get(id).map(|a| &*a.name);
        Some(match c.status {
            Status::Waiting { .. } => Place::Waiting {
                queue: self.queues.get(c.queue).map(|q| q.name.as_str())?,
            },
            Status::Ringing { agent, until } => Place::Ringing {
                agent: agent_name(agent)?,
                until,
            },
            Status::Busy { agent } => Place::Busy {
                agent: agent_name(agent)?,
            },
        })
    }

    /// The calls waiting (not ringing) in a queue, in the order they would
    /// be served at `now` (reserved calls included). O(n log n): for tests
    /// and announcements.
    pub fn queue(&self, name: &str, now: Millis) -> Vec<CallId> {
        let Some(q) = self.queue_ids.get(name).and_then(|id| self.queues.get(*id)) else {
            return Vec::new();
        };
        let mut keys: Vec<Key> = q
            .by_since
            .iter()
            .filter_map(|(_, call)| self.key_at(*call, now))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|k| k.2).collect()
    }

    /// A waiting call's position (1 = next) in its queue at `now`. O(n).
    pub fn position(&self, call: CallId, now: Millis) -> Option<usize> {
        let c = self.calls.get(&call)?;
        if !matches!(c.status, Status::Waiting { .. }) {
            return None;
        }
        let key = self.key_at(call, now)?;
        let q = self.queues.get(c.queue)?;
        let ahead = q
            .by_since
            .iter()
            .filter_map(|(_, other)| self.key_at(*other, now))
            .filter(|other| *other < key)
            .count();
        Some(ahead + 1)
    }

    /// How many calls wait (not ringing), in all queues.
    pub fn waiting(&self) -> usize {
        self.queues.iter().map(|q| q.by_since.len()).sum()
    }

    /// Every agent with their state, by name.
    pub fn agents(&self) -> impl Iterator<Item = (&str, State)> {
        self.agent_ids
            .iter()
            .filter_map(|(name, id)| self.agents.get(*id).map(|a| (&**name, a.report())))
    }

    /// How long the longest-waiting call of a queue has waited since its
    /// arrival, at `now` (for alerts). O(log n).
    pub fn oldest_wait(&self, queue: &str, now: Millis) -> Option<Millis> {
        let q = self.queues.get(*self.queue_ids.get(queue)?)?;
        q.by_since
            .first()
            .map(|(since, _)| now.saturating_sub(*since))
    }

    /// Checks every internal index against the calls and agents (O(n log n),
    /// for tests): an error names the first inconsistency found.
    pub fn audit(&self) -> Result<(), String> {
        let mut silent = 0;
        let mut loud = 0;
        let mut waiting = 0;
        for (&call, c) in &self.calls {
            let q = self.queues.get(c.queue).ok_or("call in no queue")?;
            match c.status {
                Status::Waiting { level } => {
                    waiting += 1;
                    if level != self.level_at(c, self.now) {
                        return Err(format!("call {call} at a stale ageing level"));
                    }
                    let key = self.key(call, c, level);
                    let owner = match c.preferred {
                        Some((agent, _)) => self.agents.get(agent).map(|a| &a.reserved),
                        None => Some(&q.open),
                    };
                    if !owner
                        .and_then(|sets| sets.get(level))
                        .is_some_and(|s| s.contains(&key))
                    {
                        return Err(format!("call {call} not in its set"));
                    }
                    if !q.by_since.contains(&(c.since, call))
                        || !q.by_entered.contains(&(c.entered, call))
                    {
                        return Err(format!("call {call} not in its queue's lists"));
                    }
                    if let Some(at) = self.next_level_at(c, level) {
                        silent += 1;
                        if !self.silent.contains(&(at, Silent::Age(call))) {
                            return Err(format!("call {call} without its ageing timer"));
                        }
                    }
                    if let Some((_, until)) = c.preferred {
                        silent += 1;
                        if until <= self.now
                            || !self.silent.contains(&(until, Silent::Reserve(call)))
                        {
                            return Err(format!("call {call} with a stale reservation"));
                        }
                    }
                }
                Status::Ringing { agent, until } => {
                    loud += 1;
                    let held = self.agents.get(agent).and_then(|a| a.held.get(&call));
                    if held != Some(&Some(until)) || !self.loud.contains(&(until, Loud::Ring(call)))
                    {
                        return Err(format!("ringing call {call} not held or without timer"));
                    }
                }
                Status::Busy { agent } => {
                    let held = self.agents.get(agent).and_then(|a| a.held.get(&call));
                    if held != Some(&None) {
                        return Err(format!("busy call {call} not held"));
                    }
                }
            }
        }
        let sets: usize = self
            .queues
            .iter()
            .flat_map(|q| q.open.iter())
            .chain(self.agents.iter().flat_map(|a| a.reserved.iter()))
            .map(BTreeSet::len)
            .sum();
        let listed: usize = self.queues.iter().map(|q| q.by_since.len()).sum();
        let entered: usize = self.queues.iter().map(|q| q.by_entered.len()).sum();
        if sets != waiting || listed != waiting || entered != waiting {
            return Err("waiting calls and sets differ in number".into());
        }
        let mut free = 0;
        for (id, agent) in self.agents.iter().enumerate() {
            let name = &agent.name;
            if agent.held.len() > usize::try_from(agent.max_load).unwrap_or(usize::MAX) {
                return Err(format!("{name} above their maximum load"));
            }
            for (&call, until) in &agent.held {
                let status = self.calls.get(&call).map(|c| c.status);
                let expected = match until {
                    Some(until) => Status::Ringing {
                        agent: id,
                        until: *until,
                    },
                    None => Status::Busy { agent: id },
                };
                if status != Some(expected) {
                    return Err(format!("{name} holds call {call} that is not theirs"));
                }
            }
            match agent.mode {
                Mode::Idle { .. } | Mode::LoggedOut if agent.ringing().next().is_some() => {
                    return Err(format!("{name} is idle or logged out with an offer"));
                }
                Mode::LoggedOut if !agent.held.is_empty() => {
                    return Err(format!("{name} is logged out with calls"));
                }
                Mode::WrapUp { until } => {
                    loud += 1;
                    if !self.loud.contains(&(until, Loud::WrapUp(id))) {
                        return Err(format!("{name} in wrap-up without timer"));
                    }
                }
                _ => {}
            }
            let want = match agent.mode {
                Mode::Available { since } if agent.eligible() => Some(since),
                _ => None,
            };
            if agent.listed != want {
                return Err(format!("{name} listed as free wrongly"));
            }
            if let Some(since) = want {
                free += agent.queues.len();
                for q in &agent.queues {
                    let entry = (since, agent.name.clone(), id);
                    if !self.queues.get(*q).is_some_and(|q| q.free.contains(&entry)) {
                        return Err(format!("{name} missing from a free list"));
                    }
                }
                if let Some(call) = self.best_for(id) {
                    return Err(format!("{name} is free but call {call} waits for them"));
                }
            }
        }
        if free != self.queues.iter().map(|q| q.free.len()).sum::<usize>() {
            return Err("free lists hold agents that are not free".into());
        }
        for (id, q) in self.queues.iter().enumerate() {
            let due = q
                .rules
                .as_ref()
                .and_then(|r| r.max_wait_ms)
                .and_then(|max| {
                    q.by_entered
                        .first()
                        .map(|(entered, _)| entered.saturating_add(max.max(1)))
                });
            if due != q.armed {
                return Err(format!("queue {} timer not armed right", q.name));
            }
            if let Some(at) = due {
                loud += 1;
                if !self.loud.contains(&(at, Loud::MaxWait(id))) {
                    return Err(format!("queue {} without its timer", q.name));
                }
            }
        }
        if loud != self.loud.len() || silent != self.silent.len() {
            return Err("stray timers".into());
        }
        Ok(())
    }

    // ---- lookups -------------------------------------------------------

    fn agent_id(&self, name: &str) -> Option<AgentId> {
        self.agent_ids.get(name).copied()
    }

    fn mode_is(&self, id: AgentId, test: impl Fn(&Mode) -> bool) -> bool {
        self.agents.get(id).is_some_and(|a| test(&a.mode))
    }

    /// The queue of that name, created (without rules) if new.
    fn queue_id(&mut self, name: &str) -> QueueId {
        if let Some(&id) = self.queue_ids.get(name) {
            return id;
        }
        let id = self.queues.len();
        self.queues.push(Queue {
            name: name.to_string(),
            rules: None,
            open: vec![BTreeSet::new(); self.levels.len()],
            by_since: BTreeSet::new(),
            by_entered: BTreeSet::new(),
            free: BTreeSet::new(),
            armed: None,
        });
        self.queue_ids.insert(name.to_string(), id);
        id
    }

    // ---- ageing --------------------------------------------------------

    /// A call's ageing levels: its own (its campaign's), else the ACD's.
    fn levels_for<'a>(&'a self, call: &'a Call) -> &'a [(Millis, i64)] {
        call.levels.as_deref().unwrap_or(&self.levels)
    }

    /// The ageing level of a call at `now`.
    fn level_at(&self, call: &Call, now: Millis) -> usize {
        let waited = now.saturating_sub(call.since);
        self.levels_for(call)
            .partition_point(|(after, _)| *after <= waited)
            .saturating_sub(1)
    }

    /// When a call leaves this level, if ever.
    fn next_level_at(&self, call: &Call, level: usize) -> Option<Millis> {
        self.levels_for(call)
            .get(level + 1)
            .map(|(after, _)| call.since.saturating_add(*after))
    }

    /// The priority a call is served by at this ageing level: its priority,
    /// shifted to be positive (so that a factor always raises it), times the
    /// level's factor.
    fn effective(&self, call: &Call, level: usize) -> i64 {
        let factor = self.levels_for(call).get(level).map_or(1, |l| l.1).max(1);
        call.priority
            .saturating_add(PRIORITY_SHIFT)
            .max(1)
            .saturating_mul(factor)
    }

    fn key(&self, id: CallId, call: &Call, level: usize) -> Key {
        (Reverse(self.effective(call, level)), call.since, id)
    }

    /// A call's key at `now`, computed afresh.
    fn key_at(&self, id: CallId, now: Millis) -> Option<Key> {
        let call = self.calls.get(&id)?;
        Some(self.key(id, call, self.level_at(call, now)))
    }

    // ---- sets of waiting calls -------------------------------------------

    fn owner(call: &Call) -> Owner {
        match call.preferred {
            Some((agent, _)) => Owner::Agent(agent),
            None => Owner::Queue(call.queue),
        }
    }

    fn bucket(&mut self, owner: Owner, level: usize) -> Option<&mut BTreeSet<Key>> {
        let sets = match owner {
            Owner::Queue(q) => &mut self.queues.get_mut(q)?.open,
            Owner::Agent(a) => &mut self.agents.get_mut(a)?.reserved,
        };
        // A campaign's own levels may be more than the ACD's.
        if sets.len() <= level {
            sets.resize(level + 1, BTreeSet::new());
        }
        sets.get_mut(level)
    }

    /// Puts a known call into the waiting sets of its queue at the ageing
    /// level of `now`, with its timers.
    fn insert_waiting(&mut self, id: CallId, now: Millis) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let level = self.level_at(call, now);
        let key = self.key(id, call, level);
        let next = self.next_level_at(call, level);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.status = Status::Waiting { level };
        if call.preferred.is_some_and(|(_, until)| until <= now) {
            call.preferred = None;
        }
        let (queue, since, entered, preferred) =
            (call.queue, call.since, call.entered, call.preferred);
        let owner = Self::owner(call);
        if let Some(set) = self.bucket(owner, level) {
            set.insert(key);
        }
        if let Some(q) = self.queues.get_mut(queue) {
            q.by_since.insert((since, id));
            q.by_entered.insert((entered, id));
        }
        if let Some(at) = next {
            self.silent.insert((at, Silent::Age(id)));
        }
        if let Some((_, until)) = preferred {
            self.silent.insert((until, Silent::Reserve(id)));
        }
        self.rearm(queue);
    }

    /// Takes a waiting call out of every waiting set and drops its timers;
    /// false if it was not waiting.
    fn remove_waiting(&mut self, id: CallId) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let Status::Waiting { level } = call.status else {
            return false;
        };
        let key = self.key(id, call, level);
        let next = self.next_level_at(call, level);
        let (queue, since, entered, preferred) =
            (call.queue, call.since, call.entered, call.preferred);
        let owner = Self::owner(call);
        if let Some(set) = self.bucket(owner, level) {
            set.remove(&key);
        }
        if let Some(q) = self.queues.get_mut(queue) {
            q.by_since.remove(&(since, id));
            q.by_entered.remove(&(entered, id));
        }
        if let Some(at) = next {
            self.silent.remove(&(at, Silent::Age(id)));
        }
        if let Some((_, until)) = preferred {
            self.silent.remove(&(until, Silent::Reserve(id)));
        }
        self.rearm(queue);
        true
    }

    /// Sets the queue's maximum-wait timer for its longest-waiting call.
    fn rearm(&mut self, id: QueueId) {
        let Some(q) = self.queues.get_mut(id) else {
            return;
        };
        let due = q
            .rules
            .as_ref()
            .and_then(|r| r.max_wait_ms)
            .and_then(|max| {
                q.by_entered
                    .first()
                    .map(|(entered, _)| entered.saturating_add(max.max(1)))
            });
        if due != q.armed {
            if let Some(old) = q.armed {
                self.loud.remove(&(old, Loud::MaxWait(id)));
            }
            if let Some(new) = due {
                self.loud.insert((new, Loud::MaxWait(id)));
            }
            q.armed = due;
        }
    }

    // ---- free agents -----------------------------------------------------

    /// Puts the agent in (or takes them out of) their queues' free sets.
    fn list(&mut self, id: AgentId, want: Option<Millis>) {
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        if agent.listed == want {
            return;
        }
        for q in &agent.queues {
            if let Some(queue) = self.queues.get_mut(*q) {
                if let Some(old) = agent.listed {
                    queue.free.remove(&(old, agent.name.clone(), id));
                }
                if let Some(new) = want {
                    queue.free.insert((new, agent.name.clone(), id));
                }
            }
        }
        agent.listed = want;
    }

    /// Lists the agent as free if they may be offered a call.
    fn relist(&mut self, id: AgentId) {
        self.stamp(id);
        let want = self.agents.get(id).and_then(|a| match a.mode {
            Mode::Available { since } if a.eligible() => Some(since),
            _ => None,
        });
        self.list(id, want);
    }

    /// Changes an agent's mode with its wrap-up timer and free listing.
    fn set_mode(&mut self, id: AgentId, mode: Mode) {
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        if let Mode::WrapUp { until } = agent.mode {
            self.loud.remove(&(until, Loud::WrapUp(id)));
        }
        if let Mode::WrapUp { until } = mode {
            self.loud.insert((until, Loud::WrapUp(id)));
        }
        let changed = agent.mode != mode;
        agent.mode = mode;
        if changed {
            agent.shown = (agent.kind(), self.now);
        }
        self.relist(id);
    }

    /// Restarts an agent's time in state if the kind of state they show
    /// changed.
    fn stamp(&mut self, id: AgentId) {
        let now = self.now;
        if let Some(a) = self.agents.get_mut(id) {
            let kind = a.kind();
            if kind != a.shown.0 {
                a.shown = (kind, now);
            }
        }
    }

    /// Since when an agent has been in their present state (a new
    /// not-ready reason counts as a new state).
    pub fn state_since(&self, name: &str) -> Option<Millis> {
        let id = self.agent_id(name)?;
        self.agents.get(id).map(|a| a.shown.1)
    }

    // ---- matching --------------------------------------------------------

    /// The best call an agent may take: the first of their reserved calls
    /// and of their queues' open calls, over every ageing level.
    fn best_for(&self, id: AgentId) -> Option<CallId> {
        let agent = self.agents.get(id)?;
        let load = agent.held.len();
        let queues = agent
            .queues
            .iter()
            .filter_map(|q| self.queues.get(*q))
            .filter(|q| Self::fits(q, load))
            .flat_map(|q| q.open.iter())
            .filter_map(BTreeSet::first);
        // A reserved call of a queue the agent's load keeps them from is
        // passed over (reserved sets are small: the agent's own callers).
        let reserved = agent.reserved.iter().filter_map(|set| {
            set.iter().find(|key| {
                self.calls
                    .get(&key.2)
                    .and_then(|c| self.queues.get(c.queue))
                    .is_none_or(|q| Self::fits(q, load))
            })
        });
        reserved.chain(queues).min().map(|key| key.2)
    }

    /// Whether an agent holding `load` calls may take one from `queue`
    /// (its `max_load`).
    fn fits(queue: &Queue, load: usize) -> bool {
        queue
            .rules
            .as_ref()
            .and_then(|r| r.max_load)
            .is_none_or(|max| load < usize::try_from(max).unwrap_or(usize::MAX))
    }

    /// The longest-idle free agent of `queue` whose load lets them take a
    /// call from it.
    fn first_free(&self, queue: QueueId) -> Option<AgentId> {
        let q = self.queues.get(queue)?;
        q.free.iter().map(|entry| entry.2).find(|a| {
            self.agents
                .get(*a)
                .is_some_and(|agent| Self::fits(q, agent.held.len()))
        })
    }

    /// Offers the agent the best calls they may take, while they may.
    fn serve_agent(&mut self, id: AgentId, now: Millis) {
        while self.agents.get(id).is_some_and(Agent::eligible) {
            let Some(call) = self.best_for(id) else {
                return;
            };
            if !self.offer(call, id, now) {
                return;
            }
        }
    }

    /// Offers a call that just started waiting to its preferred agent, or
    /// to the longest-idle free agent of its queue. A free agent has no
    /// other call to take (or they would have taken it), so this call is
    /// their best.
    fn serve_call(&mut self, id: CallId, now: Millis) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if !matches!(call.status, Status::Waiting { .. }) {
            return;
        }
        let fits = |a: &Agent| {
            self.queues
                .get(call.queue)
                .is_none_or(|q| Self::fits(q, a.held.len()))
        };
        let agent = match call.preferred {
            Some((agent, _)) => self
                .agents
                .get(agent)
                .is_some_and(|a| a.eligible() && fits(a))
                .then_some(agent),
            None => self.first_free(call.queue),
        };
        if let Some(agent) = agent {
            self.offer(id, agent, now);
        }
    }

    /// After several calls started waiting in these queues at once: free
    /// agents take the best of them, longest-idle first.
    fn serve_queues(&mut self, mut queues: Vec<QueueId>, now: Millis) {
        queues.sort_unstable();
        queues.dedup();
        for q in queues {
            // The first free agent of the queue may take its open calls; if
            // they take none, the queue has none left.
            while let Some(agent) = self.first_free(q) {
                if self.best_for(agent).is_none() {
                    break;
                }
                self.serve_agent(agent, now);
            }
        }
    }

    /// Rings the agent for a waiting call.
    fn offer(&mut self, id: CallId, agent: AgentId, now: Millis) -> bool {
        if !self.remove_waiting(id) {
            return false;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let ring = self
            .queues
            .get(call.queue)
            .and_then(|q| q.rules.as_ref())
            .map_or(20_000, |r| r.ring_ms);
        let until = now.saturating_add(ring);
        // Offered to the preferred agent, or to anyone once it expired: the
        // reservation is over either way.
        call.preferred = None;
        call.status = Status::Ringing { agent, until };
        self.loud.insert((until, Loud::Ring(id)));
        let Some(a) = self.agents.get_mut(agent) else {
            return false;
        };
        a.held.insert(id, Some(until));
        if let Mode::Available { since } = &mut a.mode {
            // An agent with room for more calls goes behind the others.
            *since = now;
        }
        let name = a.name.to_string();
        self.relist(agent);
        self.actions.push_back(Action::Offer {
            call: id,
            agent: name,
        });
        true
    }

    /// Withdraws a ringing call: the agent goes Idle (`RONA`) and their
    /// other offers are withdrawn too; the calls go back to their places.
    fn rona(&mut self, id: CallId, now: Millis) -> bool {
        let Some(Status::Ringing { agent, .. }) = self.calls.get(&id).map(|c| c.status) else {
            return false;
        };
        let Some(a) = self.agents.get(agent) else {
            return false;
        };
        let name = a.name.to_string();
        let mut withdrawn = vec![id];
        withdrawn.extend(a.ringing().map(|(call, _)| call).filter(|c| *c != id));
        for &call in &withdrawn {
            let Some(c) = self.calls.get(&call) else {
                continue;
            };
            if let Status::Ringing { until, .. } = c.status {
                self.loud.remove(&(until, Loud::Ring(call)));
            }
            if let Some(a) = self.agents.get_mut(agent) {
                a.held.remove(&call);
            }
            self.actions.push_back(Action::Withdraw {
                call,
                agent: name.clone(),
            });
        }
        if !self.mode_is(agent, |m| matches!(m, Mode::LoggedOut)) {
            self.set_mode(
                agent,
                Mode::Idle {
                    reason: RONA.into(),
                },
            );
        }
        for call in withdrawn {
            self.requeue(call, now);
        }
        true
    }

    /// A withdrawn call comes back: it times out or overflows if it reached
    /// its maximum wait while ringing, else it waits at its place and is
    /// offered to the next agent.
    fn requeue(&mut self, id: CallId, now: Millis) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let max_wait = self
            .queues
            .get(call.queue)
            .and_then(|q| q.rules.as_ref())
            .and_then(|r| r.max_wait_ms);
        if max_wait.is_some_and(|max| call.entered.saturating_add(max.max(1)) <= now) {
            self.expire(id, now);
        } else {
            self.insert_waiting(id, now);
            self.serve_call(id, now);
        }
    }

    /// Overflows or times out the calls of a queue past their maximum wait.
    fn max_wait(&mut self, id: QueueId, now: Millis) {
        if let Some(q) = self.queues.get_mut(id) {
            // Its timer was just taken from the set.
            q.armed = None;
        }
        loop {
            let Some(q) = self.queues.get(id) else {
                return;
            };
            let Some(max) = q.rules.as_ref().and_then(|r| r.max_wait_ms) else {
                break;
            };
            let Some(&(entered, call)) = q.by_entered.first() else {
                break;
            };
            if entered.saturating_add(max.max(1)) > now {
                break;
            }
            self.remove_waiting(call);
            self.expire(call, now);
        }
        self.rearm(id);
    }

    /// A call at its maximum wait, out of every waiting set: it moves to the
    /// overflow queue, or leaves.
    fn expire(&mut self, id: CallId, now: Millis) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Some(from) = self.queues.get(call.queue) else {
            return;
        };
        let to = from
            .rules
            .as_ref()
            .and_then(|r| r.overflow.as_ref())
            .and_then(|name| self.queue_ids.get(name))
            .copied()
            .filter(|q| self.queues.get(*q).is_some_and(|q| q.rules.is_some()));
        let from_name = from.name.clone();
        match (to, self.calls.get_mut(&id)) {
            (Some(to), Some(call)) => {
                call.queue = to;
                call.entered = now;
                let to_name = self
                    .queues
                    .get(to)
                    .map(|q| q.name.clone())
                    .unwrap_or_default();
                self.actions.push_back(Action::Overflowed {
                    call: id,
                    from: from_name,
                    to: to_name,
                });
                self.insert_waiting(id, now);
                self.serve_call(id, now);
            }
            _ => {
                self.calls.remove(&id);
                self.actions.push_back(Action::TimedOut {
                    call: id,
                    queue: from_name,
                });
            }
        }
    }

    /// Applies the deadlines that change calls' standing up to `now`: ageing
    /// levels and the end of reservations.
    fn advance(&mut self, now: Millis) {
        self.now = self.now.max(now);
        let mut released = Vec::new();
        while let Some(&(at, timer)) = self.silent.first() {
            if at > now {
                break;
            }
            self.silent.remove(&(at, timer));
            match timer {
                Silent::Age(id) => self.age(id, now),
                Silent::Reserve(id) => released.extend(self.release(id)),
            }
        }
        if !released.is_empty() {
            self.serve_queues(released, now);
        }
    }

    /// Moves a waiting call to its ageing level at `now` (its timer was
    /// just taken from the set).
    fn age(&mut self, id: CallId, now: Millis) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Status::Waiting { level } = call.status else {
            return;
        };
        let new = self.level_at(call, now);
        let (old_key, new_key) = (self.key(id, call, level), self.key(id, call, new));
        let next = self.next_level_at(call, new);
        let owner = Self::owner(call);
        if let Some(set) = self.bucket(owner, level) {
            set.remove(&old_key);
        }
        if let Some(set) = self.bucket(owner, new) {
            set.insert(new_key);
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.status = Status::Waiting { level: new };
        }
        if let Some(at) = next {
            self.silent.insert((at, Silent::Age(id)));
        }
    }

    /// Ends a waiting call's reservation (its timer was just taken from the
    /// set): it moves to its queue's open calls. Returns the queue.
    fn release(&mut self, id: CallId) -> Option<QueueId> {
        let call = self.calls.get(&id)?;
        let Status::Waiting { level } = call.status else {
            return None;
        };
        let (agent, _) = call.preferred?;
        let key = self.key(id, call, level);
        let queue = call.queue;
        if let Some(set) = self.bucket(Owner::Agent(agent), level) {
            set.remove(&key);
        }
        if let Some(set) = self.bucket(Owner::Queue(queue), level) {
            set.insert(key);
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.preferred = None;
        }
        Some(queue)
    }
}

/// Ageing levels from `(after, factor)` pairs: sorted, starting with
/// `(0, 1)`, each factor at least the one before (a longer wait never
/// lowers a call's standing), one level per distinct time.
fn levels_of(ageing: &[(Millis, i64)]) -> Vec<(Millis, i64)> {
    let mut ageing = ageing.to_vec();
    ageing.sort_unstable();
    let mut levels: Vec<(Millis, i64)> = vec![(0, 1)];
    for (after, factor) in ageing {
        let highest = levels.last().map_or(1, |l| l.1).max(factor);
        match levels.last_mut() {
            Some(last) if last.0 == after => last.1 = highest,
            _ => levels.push((after, highest)),
        }
    }
    levels
}
