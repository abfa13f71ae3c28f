//! The engine: calls executing flow graphs. Inputs are `handle_*(…, now)`,
//! outputs are drained with `poll_*()`; time is always passed in, so the same
//! engine runs under the SIP adapter and under the simulator's virtual clock.

use crate::event::{
    BotReply, CallId, Command, DialOutcome, Emitted, Event, HttpAuth, Outcome, Step, TimerId,
};
use crate::flow::Flow;
use dialect_bytecode::{NodeId, Op, Prompt};
use interview::{Interview, Phase, Then};
use jiff::{SignedDuration, Timestamp};
use rhai::Dynamic;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

mod interview;

/// Most graph steps one event may cause before the call is stopped. The
/// compiler refuses loops that do not wait; this is the runtime's own guard.
pub const STEP_BUDGET: u32 = 1_000;

/// How long the customer agent may take to answer a turn; past it the turn
/// counts as "cannot answer" (a bot that is down or slow never holds a call).
pub const BOT_REPLY_TIMEOUT_MS: u64 = 5_000;

/// Longest token an API login may return as bare text.
pub const MAX_TOKEN: usize = 4_096;

/// A prompt index for speech that is not in the program (bot replies,
/// the voicemail announcement).
pub const DYNAMIC_PROMPT: u32 = u32::MAX;

/// The system announcement played before a `voicemail` block's greeting,
/// unless the block's `without_announcement` or the campaign's
/// `voicemail_without_announcement` says not to: (language, text), in the
/// language of the campaign's `country_code` (+48 Polish, the default;
/// +47 Norwegian; +359 Bulgarian; English otherwise).
pub const VOICEMAIL_ANNOUNCEMENTS: &[(&str, &str)] = &[
    ("pl", "Proszę zostawić wiadomość."),
    ("nb", "Legg igjen en beskjed."),
    ("bg", "Моля, оставете съобщение."),
    ("en", "Please leave a message."),
];

/// The voicemail announcement for a campaign's country code (digits).
pub fn voicemail_announcement(country_code: &str) -> (&'static str, &'static str) {
    let language = match country_code {
        "48" => "pl",
        "47" => "nb",
        "359" => "bg",
        _ => "en",
    };
    VOICEMAIL_ANNOUNCEMENTS
        .iter()
        .find(|(l, _)| *l == language)
        .copied()
        .unwrap_or(("en", "Please leave a message."))
}

/// Why an input was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// No flow answers the dialled number.
    #[error("no campaign answers {0}")]
    NoCampaign(String),
    /// The campaign is switched off (`enabled false`).
    #[error("campaign `{0}` is disabled (`enabled false`)")]
    Disabled(String),
    /// The campaign is outside its life (`starts`, `ends`).
    #[error("campaign `{campaign}` is not running: {why}")]
    NotRunning {
        /// The campaign.
        campaign: String,
        /// Why, with the day.
        why: String,
    },
    /// The call does not exist (any more).
    #[error("{0} is not an active call")]
    UnknownCall(CallId),
    /// The campaign declares no such survey.
    #[error("campaign `{campaign}` has no survey `{survey}`")]
    UnknownSurvey {
        /// The campaign.
        campaign: String,
        /// The survey asked for.
        survey: String,
    },
}

/// Executes calls. One engine serves many calls and many flows.
pub struct Engine {
    flows: HashMap<String, Arc<Flow>>,
    /// The flows by campaign name, for survey calls.
    campaigns: HashMap<String, Arc<Flow>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    script: rhai::Engine,
    overflow: HashMap<(String, NodeId), u32>,
    commands: VecDeque<Emitted>,
    steps: VecDeque<Step>,
    trace: bool,
    active: usize,
    /// Every call's live timer, by when it fires (whole milliseconds,
    /// rounded up: never early), then call and timer: a min-heap with lazy
    /// deletion. Cancelling only clears the call's timer (O(1)); an entry
    /// whose call no longer holds that timer is stale, dropped when it
    /// reaches the top (`settle`) or when stale entries outnumber live
    /// ones (`compact`, O(n), so O(1) amortised). The top is always live.
    deadlines: BinaryHeap<Reverse<(i64, u64, u32)>>,
    /// Live timers (one per call at most).
    live_timers: usize,
}

struct Slot {
    generation: u32,
    call: Option<Call>,
}

/// The state of one call.
struct Call {
    flow: Arc<Flow>,
    caller: String,
    dialled: String,
    node: NodeId,
    wait: Wait,
    timers: u32,
    /// The live timer and its key in the deadline index.
    timer: Option<(TimerId, i64)>,
    attempts: u32,
    digits: String,
    vars: Vec<(String, Dynamic)>,
    priority: i32,
    no_survey: bool,
    no_record_window: bool,
    held: Vec<NodeId>,
    turns: u32,
    requests: u32,
    /// Bridged to an agent from a queue (not a dial or a transfer).
    agent: bool,
    /// Was connected to an agent at some point (for outbound surveys).
    served: bool,
    /// A survey ran (or this is a survey call): it runs at most once.
    surveyed: bool,
    /// The survey being run.
    interview: Option<Interview>,
}

impl Call {
    fn new(flow: Arc<Flow>, caller: &str, dialled: &str) -> Call {
        let node = flow.program.entry;
        Call {
            flow,
            caller: caller.to_string(),
            dialled: dialled.to_string(),
            node,
            wait: Wait::Running,
            timers: 0,
            timer: None,
            attempts: 0,
            digits: String::new(),
            vars: Vec::new(),
            priority: 0,
            no_survey: false,
            no_record_window: false,
            held: Vec::new(),
            turns: 0,
            requests: 0,
            agent: false,
            served: false,
            surveyed: false,
            interview: None,
        }
    }
}

/// What a call is waiting for.
#[derive(Clone, Debug, PartialEq)]
enum Wait {
    /// Nothing: it is running.
    Running,
    /// A prompt to finish, then the `next` exit.
    Prompt,
    /// A menu prompt to finish (a key may interrupt it).
    MenuPrompt,
    /// An invalid/no-input notice to finish, then the menu prompt again.
    MenuNotice,
    /// A menu key, until the timer.
    MenuKey,
    /// A prompt before collecting digits.
    CollectPrompt,
    /// Digits, until `#`, the maximum, or the timer.
    Collect,
    /// The other party of a bridge to hang up, then this exit.
    Bridge(&'static str),
    /// An agent, in this queue.
    Queue(String),
    /// A dial outcome.
    Dial,
    /// An HTTP answer to this request.
    Http(u32),
    /// An identification result.
    Identify,
    /// An authorisation or ticket result.
    Verify,
    /// The system announcement before a voicemail's greeting.
    Announcement,
    /// A greeting before a recording.
    Greeting,
    /// A recording.
    Recording,
    /// A bot reply.
    BotReply,
    /// A bot's words to finish, then the caller's.
    BotSpeaking,
    /// The caller's utterance, until the timer.
    BotListening,
    /// A survey, at this phase.
    Survey(Phase),
}

/// Where an exit leads, or why execution stops.
enum Flowing {
    Continue,
    Wait,
    End(Outcome),
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// An engine with no flows.
    pub fn new() -> Engine {
        Engine {
            flows: HashMap::new(),
            campaigns: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            script: crate::script::engine(),
            overflow: HashMap::new(),
            commands: VecDeque::new(),
            steps: VecDeque::new(),
            trace: false,
            active: 0,
            deadlines: BinaryHeap::new(),
            live_timers: 0,
        }
    }

    /// When [`Engine::handle_timeout`] must next be called: the earliest
    /// live timer of any call.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let Reverse((ms, _, _)) = self.deadlines.peek()?;
        Timestamp::from_millisecond(*ms).ok()
    }

    /// Time passed: every timer due by `now` fires, in order of when it
    /// was due (each at its own time).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while self.fire_next(now).is_some() {}
    }

    /// Fires the earliest timer due by `now`, at its own time; returns its
    /// call, or `None` when no timer is due.
    pub fn fire_next(&mut self, now: Timestamp) -> Option<CallId> {
        let &Reverse((ms, id, timer)) = self.deadlines.peek()?;
        let at = Timestamp::from_millisecond(ms).ok()?;
        if at > now {
            return None;
        }
        // The top is live (settled), so its call exists and holds it; the
        // timer leaves the heap before it fires.
        self.deadlines.pop();
        let _known = self.handle_event(CallId(id), Event::Timer(TimerId(timer)), at);
        self.settle();
        Some(CallId(id))
    }

    /// The number of live timers.
    pub fn timers(&self) -> usize {
        self.live_timers
    }

    /// Whether a heap entry is a call's live timer.
    fn is_live(&self, (ms, id, timer): (i64, u64, u32)) -> bool {
        self.call(CallId(id))
            .is_some_and(|c| c.timer == Some((TimerId(timer), ms)))
    }

    /// Drops stale entries from the top, so that it is live.
    fn settle(&mut self) {
        while let Some(&Reverse(top)) = self.deadlines.peek() {
            if self.is_live(top) {
                break;
            }
            self.deadlines.pop();
        }
    }

    /// Drops every stale entry once they outnumber the live ones.
    fn compact(&mut self) {
        if self.deadlines.len() > 2 * self.live_timers + 64 {
            let mut heap = std::mem::take(&mut self.deadlines).into_vec();
            heap.retain(|Reverse(entry)| self.is_live(*entry));
            self.deadlines = BinaryHeap::from(heap);
        }
    }

    /// Records every graph transition for [`Engine::poll_step`] (for traces
    /// and coverage); off by default.
    pub fn set_tracing(&mut self, on: bool) {
        self.trace = on;
    }

    /// Makes a flow answer its numbers, and survey calls for its campaign
    /// ([`Engine::handle_survey`]). Calls in progress keep the flow they
    /// started with; new calls get this one. Returns the flows it replaced.
    pub fn install(&mut self, flow: Arc<Flow>) -> Vec<Arc<Flow>> {
        let mut replaced = Vec::new();
        self.campaigns
            .insert(flow.program.name.clone(), flow.clone());
        for number in &flow.program.numbers {
            if let Some(old) = self.flows.insert(number.clone(), flow.clone())
                && !Arc::ptr_eq(&old, &flow)
                && !replaced.iter().any(|r| Arc::ptr_eq(r, &old))
            {
                replaced.push(old);
            }
        }
        replaced
    }

    /// Makes exactly `flows` answer: each its numbers and survey calls, and
    /// no other campaign or number (a campaign left out stops taking new
    /// calls). Calls in progress keep the flow they started with.
    pub fn install_exactly(&mut self, flows: impl IntoIterator<Item = Arc<Flow>>) {
        self.flows.clear();
        self.campaigns.clear();
        for flow in flows {
            self.install(flow);
        }
    }

    /// The flow that answers a dialled number (E.164, with or without `+`).
    pub fn route(&self, dialled: &str) -> Option<&Arc<Flow>> {
        let trimmed: String = dialled.chars().filter(|c| !c.is_whitespace()).collect();
        self.flows
            .get(&trimmed)
            .or_else(|| self.flows.get(&format!("+{trimmed}")))
    }

    /// The number of calls in progress.
    pub fn active_calls(&self) -> usize {
        self.active
    }

    /// A new call from `caller` to `dialled`; runs it until it waits.
    pub fn handle_call(
        &mut self,
        caller: &str,
        dialled: &str,
        now: Timestamp,
    ) -> Result<CallId, Refused> {
        let flow = self.admission(dialled, now)?;
        let call = Call::new(flow, caller, dialled);
        let id = self.insert(call);
        self.active += 1;
        self.run(id, now);
        Ok(id)
    }

    /// The flow a call to `dialled` at `now` would run, or why there is
    /// none: no campaign answers the number, or it is disabled or outside
    /// its life ([`Flow::admits`]).
    pub fn admission(&self, dialled: &str, now: Timestamp) -> Result<Arc<Flow>, Refused> {
        let flow = self
            .route(dialled)
            .cloned()
            .ok_or_else(|| Refused::NoCampaign(dialled.to_string()))?;
        flow.admits(now)?;
        Ok(flow)
    }

    /// A survey call: the adapter placed the call that a
    /// [`Command::ScheduleSurvey`] asked for and the customer answered.
    /// `campaign` is the campaign's name (or a number it answers), `survey`
    /// the survey's qualified name, `customer` the number called. The call
    /// is already answered (no [`Command::Answer`]): the engine plays the
    /// intro, asks the questions, plays the outro and ends the call with
    /// [`Outcome::HungUp`] `("survey done")`. It runs on the campaign's
    /// flow as installed now.
    pub fn handle_survey(
        &mut self,
        campaign: &str,
        survey: &str,
        customer: &str,
        now: Timestamp,
    ) -> Result<CallId, Refused> {
        let flow = self
            .campaigns
            .get(campaign)
            .or_else(|| self.route(campaign))
            .cloned()
            .ok_or_else(|| Refused::NoCampaign(campaign.to_string()))?;
        let Some(index) = flow.surveys.iter().position(|s| s.name == survey) else {
            return Err(Refused::UnknownSurvey {
                campaign: flow.program.name.clone(),
                survey: survey.to_string(),
            });
        };
        let call = Call::new(flow, customer, campaign);
        let id = self.insert(call);
        self.active += 1;
        match self.start_interview(id, index, Then::HangUp) {
            Flowing::Continue => self.run(id, now),
            Flowing::Wait => {}
            Flowing::End(outcome) => self.end(id, outcome),
        }
        Ok(id)
    }

    /// Something happened to a call.
    pub fn handle_event(
        &mut self,
        id: CallId,
        event: Event,
        now: Timestamp,
    ) -> Result<(), Refused> {
        let flowing = {
            let Some(call) = self.call_mut(id) else {
                return Err(Refused::UnknownCall(id));
            };
            if let Event::Digit(key) = event {
                // Only DTMF keys exist; anything else from an adapter is noise.
                if !matches!(key, '0'..='9' | '*' | '#') {
                    return Ok(());
                }
            }
            if event == Event::HangUp {
                if let Wait::Queue(queue) = &call.wait {
                    let queue = queue.clone();
                    let node = call.node;
                    self.commands.push_back(Emitted {
                        call: id,
                        node,
                        command: Command::Dequeue { queue },
                    });
                }
                self.cancel_timer(id);
                Flowing::End(Outcome::CallerHungUp)
            } else {
                self.react(id, event, now)
            }
        };
        match flowing {
            Flowing::Continue => self.run(id, now),
            Flowing::Wait => {}
            Flowing::End(outcome) => self.end(id, outcome),
        }
        Ok(())
    }

    /// The next command for an adapter, in order, with the call and the node
    /// that issued it.
    pub fn poll_command(&mut self) -> Option<Emitted> {
        self.commands.pop_front()
    }

    /// The next recorded transition (with tracing on).
    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    /// The flow a call runs.
    pub fn flow_of(&self, id: CallId) -> Option<&Arc<Flow>> {
        self.call(id).map(|c| &c.flow)
    }

    /// The node a call is at.
    pub fn node_of(&self, id: CallId) -> Option<NodeId> {
        self.call(id).map(|c| c.node)
    }

    /// A call's flags: (no survey, no record window).
    pub fn flags_of(&self, id: CallId) -> Option<(bool, bool)> {
        self.call(id).map(|c| (c.no_survey, c.no_record_window))
    }

    /// The survey a call is running (its qualified name), if any.
    pub fn survey_of(&self, id: CallId) -> Option<&str> {
        self.call(id).and_then(|c| c.survey_running())
    }

    /// A call's priority.
    pub fn priority_of(&self, id: CallId) -> Option<i32> {
        self.call(id).map(|c| c.priority)
    }

    /// A call variable, as text (set by `set`, API blocks, `digits`, `token`).
    pub fn var_of(&self, id: CallId, name: &str) -> Option<String> {
        let call = self.call(id)?;
        call.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
    }

    /// Bytes of engine state one call holds, not counting the shared flow
    /// (for the memory-per-call figure).
    pub fn call_footprint(&self, id: CallId) -> Option<usize> {
        let call = self.call(id)?;
        let vars: usize = call
            .vars
            .iter()
            .map(|(n, _)| n.capacity() + std::mem::size_of::<(String, Dynamic)>())
            .sum();
        Some(
            std::mem::size_of::<Slot>()
                + call.caller.capacity()
                + call.dialled.capacity()
                + call.digits.capacity()
                + vars
                + call.held.capacity() * std::mem::size_of::<NodeId>()
                + match &call.wait {
                    Wait::Queue(q) => q.capacity(),
                    _ => 0,
                },
        )
    }

    fn insert(&mut self, call: Call) -> CallId {
        if let Some(index) = self.free.pop()
            && let Some(slot) = self.slots.get_mut(index as usize)
        {
            slot.generation = slot.generation.wrapping_add(1);
            slot.call = Some(call);
            return CallId((u64::from(slot.generation) << 32) | u64::from(index));
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            call: Some(call),
        });
        CallId(u64::from(index))
    }

    fn slot(id: CallId) -> (usize, u32) {
        ((id.0 & 0xFFFF_FFFF) as usize, (id.0 >> 32) as u32)
    }

    fn call(&self, id: CallId) -> Option<&Call> {
        let (index, generation) = Engine::slot(id);
        self.slots
            .get(index)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.call.as_ref())
    }

    fn call_mut(&mut self, id: CallId) -> Option<&mut Call> {
        let (index, generation) = Engine::slot(id);
        self.slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.call.as_mut())
    }

    fn emit(&mut self, id: CallId, command: Command) {
        let node = self.call(id).map(|c| c.node).unwrap_or_default();
        self.commands.push_back(Emitted {
            call: id,
            node,
            command,
        });
    }

    fn start_timer(&mut self, id: CallId, now: Timestamp, ms: u64) {
        self.cancel_timer(id);
        let Some(call) = self.call_mut(id) else {
            return;
        };
        call.timers = call.timers.wrapping_add(1);
        let timer = TimerId(call.timers);
        let at = now
            .saturating_add(SignedDuration::from_millis(
                i64::try_from(ms).unwrap_or(i64::MAX),
            ))
            .unwrap_or(now);
        let key = deadline(at, id, timer);
        call.timer = Some((timer, key.0));
        self.deadlines.push(Reverse(key));
        self.live_timers += 1;
        self.compact();
        self.emit(id, Command::StartTimer { timer, at });
    }

    fn cancel_timer(&mut self, id: CallId) {
        let Some(call) = self.call_mut(id) else {
            return;
        };
        if let Some((timer, _)) = call.timer.take() {
            self.live_timers = self.live_timers.saturating_sub(1);
            self.settle();
            self.emit(id, Command::CancelTimer { timer });
        }
    }

    /// Whether `event` is the call's current timer (clearing it if so).
    fn is_current_timer(&mut self, id: CallId, event: &Event) -> bool {
        let Event::Timer(timer) = event else {
            return false;
        };
        match self.call_mut(id) {
            Some(call) if call.timer.is_some_and(|(t, _)| t == *timer) => {
                if call.timer.take().is_some() {
                    self.live_timers = self.live_timers.saturating_sub(1);
                }
                self.settle();
                true
            }
            _ => false,
        }
    }

    fn play(&mut self, id: CallId, index: u32, barge_in: bool) {
        let Some(prompt) = self
            .call(id)
            .and_then(|c| c.flow.program.prompts.get(index as usize).cloned())
        else {
            return;
        };
        self.emit(
            id,
            Command::Play {
                index,
                prompt,
                barge_in,
            },
        );
    }

    /// Moves a call along the exit named `exit` of its node.
    fn take(&mut self, id: CallId, exit: &str) -> Flowing {
        let Some(call) = self.call_mut(id) else {
            return Flowing::Wait;
        };
        let node = call.node;
        let found = call.flow.program.nodes.get(node as usize).and_then(|n| {
            n.exits
                .iter()
                .enumerate()
                .find(|(_, (name, _))| name == exit)
                .map(|(i, (_, t))| (i, *t))
        });
        let Some((index, target)) = found else {
            return Flowing::End(Outcome::Failed {
                error: format!("node {node} has no exit `{exit}`"),
            });
        };
        call.node = target;
        call.wait = Wait::Running;
        call.attempts = 0;
        if self.trace {
            self.steps.push_back(Step {
                call: id,
                node,
                exit: u32::try_from(index).unwrap_or(u32::MAX),
            });
        }
        Flowing::Continue
    }

    fn run(&mut self, id: CallId, now: Timestamp) {
        for _ in 0..STEP_BUDGET {
            match self.enter(id, now) {
                Flowing::Continue => continue,
                Flowing::Wait => return,
                Flowing::End(outcome) => return self.end(id, outcome),
            }
        }
        let node = self.call(id).map(|c| c.node).unwrap_or_default();
        self.end(
            id,
            Outcome::Failed {
                error: format!(
                    "step budget of {STEP_BUDGET} exhausted at node {node}: a loop that never waits"
                ),
            },
        );
    }

    fn end(&mut self, id: CallId, outcome: Outcome) {
        let node = self.call(id).map(|c| c.node).unwrap_or_default();
        if matches!(outcome, Outcome::HungUp { .. } | Outcome::Failed { .. }) {
            self.emit(id, Command::Hangup);
        }
        self.cancel_timer(id);
        let (index, _) = Engine::slot(id);
        let Some(call) = self.slots.get_mut(index).and_then(|s| s.call.take()) else {
            return;
        };
        for node in &call.held {
            if let Some(count) = self.overflow.get_mut(&(call.flow.hash.clone(), *node)) {
                *count = count.saturating_sub(1);
            }
        }
        self.free.push(u32::try_from(index).unwrap_or(u32::MAX));
        self.active = self.active.saturating_sub(1);
        if let Some(command) = outbound_survey(&call) {
            self.commands.push_back(Emitted {
                call: id,
                node,
                command,
            });
        }
        self.commands.push_back(Emitted {
            call: id,
            node,
            command: Command::Ended(outcome),
        });
    }

    /// Executes the call's current node.
    fn enter(&mut self, id: CallId, now: Timestamp) -> Flowing {
        let Some(call) = self.call(id) else {
            return Flowing::Wait;
        };
        let flow = call.flow.clone();
        let at = call.node;
        let Some(node) = flow.program.nodes.get(at as usize) else {
            return Flowing::End(Outcome::Failed {
                error: format!("node {at} does not exist"),
            });
        };
        match &node.op {
            Op::Answer => {
                self.emit(id, Command::Answer);
                self.take(id, "next")
            }
            Op::Play { prompt } => {
                self.play(id, *prompt, false);
                self.wait(id, Wait::Prompt)
            }
            Op::Menu {
                prompt, timeout_ms, ..
            } => self.menu_prompt(id, *prompt, *timeout_ms, now),
            Op::Extension {
                prompt, timeout_ms, ..
            }
            | Op::Ticket {
                prompt, timeout_ms, ..
            } => {
                if let Some(call) = self.call_mut(id) {
                    call.digits.clear();
                }
                match prompt {
                    Some(p) => {
                        self.play(id, *p, true);
                        self.wait(id, Wait::CollectPrompt)
                    }
                    None => {
                        self.start_timer(id, now, *timeout_ms);
                        self.wait(id, Wait::Collect)
                    }
                }
            }
            Op::Hours { schedule } => {
                let open = flow
                    .hours
                    .get(*schedule as usize)
                    .is_some_and(|h| h.is_open(now));
                self.take(id, if open { "open" } else { "closed" })
            }
            Op::RouteCaller { patterns } => {
                let hit = self
                    .call(id)
                    .is_some_and(|c| matches_any(patterns, &c.caller));
                self.take(id, if hit { "match" } else { "no_match" })
            }
            Op::RouteDialled { patterns } => {
                let hit = self
                    .call(id)
                    .is_some_and(|c| matches_any(patterns, &c.dialled));
                self.take(id, if hit { "match" } else { "no_match" })
            }
            Op::RouteIdentified => {
                let number = self.call(id).map(|c| c.caller.clone()).unwrap_or_default();
                self.emit(id, Command::Identify { number });
                self.wait(id, Wait::Identify)
            }
            Op::Authorise {
                prompt: Some(p), ..
            } => {
                // Ask for the identifier first; `collected` sends it.
                if let Some(call) = self.call_mut(id) {
                    call.digits.clear();
                }
                self.play(id, *p, true);
                self.wait(id, Wait::CollectPrompt)
            }
            Op::Authorise {
                source,
                url,
                timeout_ms,
                ..
            } => {
                let command = Command::Authorise {
                    source: source.clone(),
                    url: url.clone(),
                    digits: None,
                };
                self.emit(id, command);
                self.start_timer(id, now, *timeout_ms);
                self.wait(id, Wait::Verify)
            }
            Op::ApiLogin {
                url,
                user,
                secret,
                timeout_ms,
            } => {
                let auth = HttpAuth::Login {
                    user: user.clone(),
                    secret: secret.clone(),
                };
                self.http(id, "post".into(), url.clone(), None, auth, *timeout_ms, now)
            }
            Op::ApiRequest {
                url,
                method,
                body,
                timeout_ms,
                ..
            } => {
                let body = match body {
                    Some(expr) => match self.eval(id, *expr, now) {
                        Ok(value) => Some(crate::script::body_text(&value)),
                        Err(error) => return Flowing::End(Outcome::Failed { error }),
                    },
                    None => None,
                };
                // The token of the call's `api_login`, if it logged in.
                let auth = self
                    .call(id)
                    .and_then(|c| c.vars.iter().find(|(n, _)| n == "token"))
                    .and_then(|(_, token)| token.clone().into_string().ok())
                    .map_or(HttpAuth::None, HttpAuth::Bearer);
                self.http(
                    id,
                    method.clone(),
                    url.clone(),
                    body,
                    auth,
                    *timeout_ms,
                    now,
                )
            }
            Op::Condition { expr } => match self.eval(id, *expr, now) {
                Ok(value) => match value.as_bool() {
                    Ok(b) => self.take(id, if b { "true" } else { "false" }),
                    Err(found) => Flowing::End(Outcome::Failed {
                        error: format!("condition #{expr} returned {found}, not a bool"),
                    }),
                },
                Err(error) => Flowing::End(Outcome::Failed { error }),
            },
            Op::Switch { expr } => match self.eval(id, *expr, now) {
                Ok(value) => {
                    let key = value.to_string();
                    let has = node
                        .exits
                        .iter()
                        .any(|(name, _)| *name == key && name != "else");
                    self.take(id, if has { &key } else { "else" })
                }
                Err(error) => Flowing::End(Outcome::Failed { error }),
            },
            Op::Set { var, expr } => match self.eval(id, *expr, now) {
                Ok(value) => {
                    self.set_var(id, var, value);
                    self.take(id, "next")
                }
                Err(error) => Flowing::End(Outcome::Failed { error }),
            },
            Op::Queue {
                queue,
                max_wait_ms,
                entry_prompt,
                announce_every_ms,
            } => {
                if let Some(p) = entry_prompt {
                    self.play(id, *p, false);
                }
                let priority = self.call(id).map(|c| c.priority).unwrap_or_default();
                self.emit(
                    id,
                    Command::Enqueue {
                        queue: queue.clone(),
                        priority,
                        announce_every_ms: *announce_every_ms,
                    },
                );
                self.start_timer(id, now, *max_wait_ms);
                self.wait(id, Wait::Queue(queue.clone()))
            }
            Op::Priority { delta } => {
                if let Some(call) = self.call_mut(id) {
                    call.priority = call.priority.saturating_add(*delta);
                }
                self.take(id, "next")
            }
            Op::Overflow { limit } => {
                let count = self.overflow.entry((flow.hash.clone(), at)).or_insert(0);
                if *count < *limit {
                    *count += 1;
                    if let Some(call) = self.call_mut(id) {
                        call.held.push(at);
                    }
                    self.take(id, "within")
                } else {
                    self.take(id, "overflow")
                }
            }
            Op::Dial {
                number,
                timeout_ms,
                caller_id,
            } => {
                let command = Command::Dial {
                    number: number.clone(),
                    timeout_ms: *timeout_ms,
                    caller_id: caller_id.clone(),
                };
                self.emit(id, command);
                self.wait(id, Wait::Dial)
            }
            Op::Voicemail {
                without_announcement,
                ..
            } => {
                let campaign_skips = self.call(id).is_some_and(|c| {
                    matches!(
                        c.flow
                            .program
                            .settings
                            .get("voicemail_without_announcement"),
                        Some(dialect_bytecode::Value::Bool(true))
                    )
                });
                if *without_announcement || campaign_skips {
                    return self.greet(id, node.op.clone());
                }
                let country =
                    self.call(id)
                        .and_then(|c| match c.flow.program.settings.get("country_code") {
                            Some(dialect_bytecode::Value::Phone(cc)) => {
                                Some(cc.trim_start_matches('+').to_string())
                            }
                            _ => None,
                        });
                let (language, text) = voicemail_announcement(country.as_deref().unwrap_or("48"));
                let play = Command::Play {
                    index: DYNAMIC_PROMPT,
                    prompt: Prompt::Say {
                        text: text.to_string(),
                        language: Some(language.to_string()),
                    },
                    barge_in: false,
                };
                self.emit(id, play);
                self.wait(id, Wait::Announcement)
            }
            Op::Callback {
                queue,
                delay_ms,
                reason,
                ..
            } => {
                let command = Command::RegisterCallback {
                    number: self.call(id).map(|c| c.caller.clone()).unwrap_or_default(),
                    queue: queue.clone(),
                    delay_ms: *delay_ms,
                    reason: reason.clone(),
                };
                self.emit(id, command);
                if let Op::Callback {
                    prompt: Some(p), ..
                } = &node.op
                {
                    self.play(id, *p, false);
                    return self.wait(id, Wait::Prompt);
                }
                self.take(id, "next")
            }
            Op::NoRecordWindow => {
                if let Some(call) = self.call_mut(id) {
                    call.no_record_window = true;
                }
                self.take(id, "next")
            }
            Op::NoSurvey => {
                if let Some(call) = self.call_mut(id) {
                    call.no_survey = true;
                }
                self.take(id, "next")
            }
            Op::Bot { bot, .. } => {
                if let Some(call) = self.call_mut(id) {
                    call.turns = 0;
                }
                self.emit(
                    id,
                    Command::BotTurn {
                        bot: bot.clone(),
                        utterance: None,
                    },
                );
                self.start_timer(id, now, BOT_REPLY_TIMEOUT_MS);
                self.wait(id, Wait::BotReply)
            }
            Op::Jump => self.take(id, "next"),
            Op::Hangup { reason } => Flowing::End(Outcome::HungUp {
                reason: reason.clone(),
            }),
        }
    }

    fn wait(&mut self, id: CallId, wait: Wait) -> Flowing {
        if let Some(call) = self.call_mut(id) {
            call.wait = wait;
        }
        Flowing::Wait
    }

    #[allow(clippy::too_many_arguments)]
    fn http(
        &mut self,
        id: CallId,
        method: String,
        url: String,
        body: Option<String>,
        auth: HttpAuth,
        timeout_ms: u64,
        now: Timestamp,
    ) -> Flowing {
        let Some(call) = self.call_mut(id) else {
            return Flowing::Wait;
        };
        call.requests = call.requests.wrapping_add(1);
        let request = call.requests;
        self.emit(
            id,
            Command::Http {
                request,
                method,
                url,
                body,
                auth,
                timeout_ms,
            },
        );
        self.start_timer(id, now, timeout_ms);
        self.wait(id, Wait::Http(request))
    }

    /// A voicemail's greeting, if it has one, then its recording.
    fn greet(&mut self, id: CallId, op: Op) -> Flowing {
        match op {
            Op::Voicemail {
                greeting: Some(p), ..
            } => {
                self.play(id, p, false);
                self.wait(id, Wait::Greeting)
            }
            op => self.record(id, op),
        }
    }

    fn record(&mut self, id: CallId, op: Op) -> Flowing {
        if let Op::Voicemail {
            max_length_ms,
            email,
            ..
        } = op
        {
            // The block's address, else the campaign's `voicemail_email`.
            let email = email.or_else(|| {
                let flow = &self.call(id)?.flow;
                match flow.program.settings.get("voicemail_email") {
                    Some(dialect_bytecode::Value::Text(address)) => Some(address.clone()),
                    _ => None,
                }
            });
            self.emit(
                id,
                Command::Record {
                    max_length_ms,
                    email,
                },
            );
        }
        self.wait(id, Wait::Recording)
    }

    fn menu_prompt(
        &mut self,
        id: CallId,
        prompt: Option<u32>,
        timeout_ms: u64,
        now: Timestamp,
    ) -> Flowing {
        match prompt {
            Some(p) => {
                self.play(id, p, true);
                self.wait(id, Wait::MenuPrompt)
            }
            None => {
                self.start_timer(id, now, timeout_ms);
                self.wait(id, Wait::MenuKey)
            }
        }
    }

    /// A menu got no key or a wrong one: re-prompt, or leave by `exit`.
    fn menu_retry(&mut self, id: CallId, exit: &'static str, now: Timestamp) -> Flowing {
        let Some(call) = self.call_mut(id) else {
            return Flowing::Wait;
        };
        call.attempts += 1;
        let attempts = call.attempts;
        let flow = call.flow.clone();
        let Some(Op::Menu {
            prompt,
            timeout_ms,
            retries,
            invalid_prompt,
            no_input_prompt,
        }) = flow.program.nodes.get(call.node as usize).map(|n| &n.op)
        else {
            return Flowing::Wait;
        };
        if attempts > *retries {
            return self.take(id, exit);
        }
        let notice = if exit == "invalid" {
            invalid_prompt
        } else {
            no_input_prompt
        };
        match notice {
            Some(p) => {
                self.play(id, *p, true);
                self.wait(id, Wait::MenuNotice)
            }
            None => self.menu_prompt(id, *prompt, *timeout_ms, now),
        }
    }

    /// Digit collection is over: route the extension, or look up the ticket.
    fn collected(&mut self, id: CallId, now: Timestamp) -> Flowing {
        let Some(call) = self.call_mut(id) else {
            return Flowing::Wait;
        };
        let digits = std::mem::take(&mut call.digits);
        let flow = call.flow.clone();
        let op = flow.program.nodes.get(call.node as usize).map(|n| &n.op);
        self.set_var(id, "digits", Dynamic::from(digits.clone()));
        match op {
            Some(Op::Ticket { .. }) => {
                if digits.is_empty() {
                    return self.take(id, "failed");
                }
                self.emit(id, Command::LookupTicket { id: digits });
                if let Some(Op::Ticket { timeout_ms, .. }) = op {
                    let timeout_ms = *timeout_ms;
                    self.start_timer(id, now, timeout_ms);
                }
                self.wait(id, Wait::Verify)
            }
            Some(Op::Authorise {
                source,
                url,
                timeout_ms,
                ..
            }) => {
                if digits.is_empty() {
                    return self.take(id, "failed");
                }
                let command = Command::Authorise {
                    source: source.clone(),
                    url: url.clone(),
                    digits: Some(digits),
                };
                self.emit(id, command);
                self.start_timer(id, now, *timeout_ms);
                self.wait(id, Wait::Verify)
            }
            Some(Op::Extension {
                prompt,
                timeout_ms,
                retries,
                ..
            }) => {
                let valid = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
                if valid {
                    self.emit(id, Command::Transfer { extension: digits });
                    return self.wait(id, Wait::Bridge("found"));
                }
                let exit = if digits.is_empty() {
                    "no_input"
                } else {
                    "invalid"
                };
                let Some(call) = self.call_mut(id) else {
                    return Flowing::Wait;
                };
                call.attempts += 1;
                if call.attempts > *retries {
                    return self.take(id, exit);
                }
                match prompt {
                    Some(p) => {
                        self.play(id, *p, true);
                        self.wait(id, Wait::CollectPrompt)
                    }
                    None => {
                        self.start_timer(id, now, *timeout_ms);
                        self.wait(id, Wait::Collect)
                    }
                }
            }
            _ => Flowing::Wait,
        }
    }

    /// The limits of the node that collects digits: (max digits, timeout).
    fn collect_limits(&self, id: CallId) -> (usize, u64) {
        match self
            .call(id)
            .and_then(|c| c.flow.program.nodes.get(c.node as usize))
            .map(|n| &n.op)
        {
            Some(
                Op::Extension {
                    digits, timeout_ms, ..
                }
                | Op::Ticket {
                    digits, timeout_ms, ..
                },
            ) => (*digits as usize, *timeout_ms),
            // A customer or PESEL number, ended by `#`.
            Some(Op::Authorise { timeout_ms, .. }) => (16, *timeout_ms),
            _ => (1, 5_000),
        }
    }

    /// An event for a call that is waiting.
    fn react(&mut self, id: CallId, event: Event, now: Timestamp) -> Flowing {
        let Some(call) = self.call(id) else {
            return Flowing::Wait;
        };
        let wait = call.wait.clone();
        let flow = call.flow.clone();
        // Borrowed from this call's own handle on the flow: no copy of the
        // node per event.
        let op = flow.program.nodes.get(call.node as usize).map(|n| &n.op);
        let timer = self.is_current_timer(id, &event);
        match (wait, event) {
            (Wait::Prompt, Event::PromptFinished) => self.take(id, "next"),
            (Wait::MenuPrompt, Event::PromptFinished) => {
                if let Some(Op::Menu { timeout_ms, .. }) = op {
                    self.start_timer(id, now, *timeout_ms);
                }
                self.wait(id, Wait::MenuKey)
            }
            (Wait::MenuNotice, Event::PromptFinished) => match op {
                Some(Op::Menu {
                    prompt, timeout_ms, ..
                }) => self.menu_prompt(id, *prompt, *timeout_ms, now),
                _ => Flowing::Wait,
            },
            (Wait::MenuPrompt | Wait::MenuNotice | Wait::MenuKey, Event::Digit(key)) => {
                if self.call(id).is_some_and(|c| c.wait != Wait::MenuKey) {
                    self.emit(id, Command::StopPlayback);
                }
                self.cancel_timer(id);
                self.set_var(id, "digits", Dynamic::from(key.to_string()));
                let key = key.to_string();
                let known = flow
                    .program
                    .nodes
                    .get(self.call(id).map(|c| c.node).unwrap_or_default() as usize)
                    .is_some_and(|n| n.exits.iter().any(|(name, _)| *name == key));
                if known {
                    self.take(id, &key)
                } else {
                    self.menu_retry(id, "invalid", now)
                }
            }
            (Wait::MenuKey, Event::Timer(_)) if timer => self.menu_retry(id, "no_input", now),
            (Wait::CollectPrompt, Event::PromptFinished) => {
                let (_, timeout) = self.collect_limits(id);
                self.start_timer(id, now, timeout);
                self.wait(id, Wait::Collect)
            }
            (Wait::CollectPrompt | Wait::Collect, Event::Digit(key)) => {
                if self.call(id).is_some_and(|c| c.wait == Wait::CollectPrompt) {
                    self.emit(id, Command::StopPlayback);
                }
                let (max, timeout) = self.collect_limits(id);
                if key == '#' {
                    self.cancel_timer(id);
                    return self.collected(id, now);
                }
                let full = match self.call_mut(id) {
                    Some(call) => {
                        call.digits.push(key);
                        call.digits.len() >= max
                    }
                    None => return Flowing::Wait,
                };
                if full {
                    self.cancel_timer(id);
                    self.collected(id, now)
                } else {
                    self.start_timer(id, now, timeout);
                    self.wait(id, Wait::Collect)
                }
            }
            (Wait::Collect, Event::Timer(_)) if timer => self.collected(id, now),
            // Only an `extension` waits for its bridge as `found`.
            (Wait::Bridge("found"), Event::TransferFailed) => self.take(id, "invalid"),
            (Wait::Bridge(exit), Event::BridgeEnded) => match self.after_call_survey(id) {
                // The agent hung up first and the caller is still on the line.
                Some(survey) => self.start_interview(id, survey, Then::Continue(exit)),
                None => self.take(id, exit),
            },
            (Wait::Queue(_), Event::AgentConnected { .. }) => {
                // The entry prompt or queue music must not play over the agent.
                self.emit(id, Command::StopPlayback);
                self.cancel_timer(id);
                if let Some(call) = self.call_mut(id) {
                    call.agent = true;
                    call.served = true;
                }
                self.wait(id, Wait::Bridge("connected"))
            }
            (Wait::Survey(phase), event) => self.interview_event(id, phase, event, timer, now),
            (Wait::Queue(queue), Event::Timer(_)) if timer => {
                self.emit(id, Command::Dequeue { queue });
                self.take(id, "timeout")
            }
            (Wait::Queue(_), Event::QueueFull) => {
                self.cancel_timer(id);
                self.take(id, "full")
            }
            (Wait::Dial, Event::DialResult(outcome)) => match outcome {
                DialOutcome::Connected => self.wait(id, Wait::Bridge("connected")),
                DialOutcome::Busy => self.take(id, "busy"),
                DialOutcome::NoAnswer => self.take(id, "no_answer"),
                DialOutcome::Failed => self.take(id, "failed"),
            },
            (
                Wait::Http(request),
                Event::HttpResult {
                    request: answered,
                    status,
                    body,
                },
            ) if request == answered => {
                self.cancel_timer(id);
                self.http_result(id, op.cloned(), status, body)
            }
            (Wait::Http(_), Event::Timer(_)) if timer => match op {
                Some(Op::ApiRequest { .. }) => self.take(id, "timeout"),
                _ => self.take(id, "error"),
            },
            (Wait::Identify, Event::Identified { records, record }) => {
                if records == 1 && !record.is_empty() {
                    let fields: rhai::Map = record
                        .into_iter()
                        .map(|(name, value)| (name.into(), Dynamic::from(value)))
                        .collect();
                    self.set_var(id, "record", Dynamic::from(fields));
                }
                self.take(
                    id,
                    match records {
                        0 => "none",
                        1 => "one",
                        _ => "many",
                    },
                )
            }
            (Wait::Verify, Event::Verified { ok }) => {
                self.cancel_timer(id);
                self.take(id, if ok { "ok" } else { "failed" })
            }
            (Wait::Verify, Event::Timer(_)) if timer => self.take(id, "failed"),
            (Wait::Announcement, Event::PromptFinished) => match op {
                Some(op) => self.greet(id, op.clone()),
                None => Flowing::Wait,
            },
            (Wait::Greeting, Event::PromptFinished) => match op {
                Some(op) => self.record(id, op.clone()),
                None => Flowing::Wait,
            },
            (Wait::Recording, Event::RecordingFinished) => self.take(id, "next"),
            (Wait::BotReply, Event::Timer(_)) if timer => self.take(id, "cannot_answer"),
            (Wait::BotReply, Event::BotReply(BotReply::Listen)) => {
                // Nothing to say: listen for the caller, as after speaking.
                self.cancel_timer(id);
                if let Some(Op::Bot { timeout_ms, .. }) = op {
                    self.start_timer(id, now, *timeout_ms);
                }
                self.wait(id, Wait::BotListening)
            }
            (Wait::BotReply, Event::BotReply(reply)) => {
                self.cancel_timer(id);
                self.bot_reply(id, reply)
            }
            (Wait::BotSpeaking, Event::PromptFinished) => {
                if let Some(Op::Bot { timeout_ms, .. }) = op {
                    self.start_timer(id, now, *timeout_ms);
                }
                self.wait(id, Wait::BotListening)
            }
            (Wait::BotSpeaking | Wait::BotListening, Event::Utterance(text)) => {
                // The caller may talk over the bot: stop it and pass the words on.
                if self.call(id).is_some_and(|c| c.wait == Wait::BotSpeaking) {
                    self.emit(id, Command::StopPlayback);
                }
                self.cancel_timer(id);
                let Some(Op::Bot { bot, max_turns, .. }) = op else {
                    return Flowing::Wait;
                };
                let turns = match self.call_mut(id) {
                    Some(call) => {
                        call.turns += 1;
                        call.turns
                    }
                    None => return Flowing::Wait,
                };
                if turns >= *max_turns {
                    return self.take(id, "done");
                }
                self.emit(
                    id,
                    Command::BotTurn {
                        bot: bot.clone(),
                        utterance: Some(text),
                    },
                );
                self.start_timer(id, now, BOT_REPLY_TIMEOUT_MS);
                self.wait(id, Wait::BotReply)
            }
            (Wait::BotListening, Event::Timer(_)) if timer => self.take(id, "done"),
            // Anything else (a key while queued, a stale timer, a late answer) changes nothing.
            _ => Flowing::Wait,
        }
    }

    /// The customer agent answered a turn.
    fn bot_reply(&mut self, id: CallId, reply: BotReply) -> Flowing {
        match reply {
            BotReply::Say(text) => self.bot_reply(
                id,
                BotReply::Play(Prompt::Say {
                    text,
                    language: None,
                }),
            ),
            BotReply::Play(prompt) => {
                let play = Command::Play {
                    index: DYNAMIC_PROMPT,
                    prompt,
                    barge_in: true,
                };
                self.emit(id, play);
                self.wait(id, Wait::BotSpeaking)
            }
            // Handled where the timer is at hand; here only for completeness.
            BotReply::Listen => self.wait(id, Wait::BotListening),
            BotReply::Handoff => self.take(id, "handoff"),
            BotReply::CannotAnswer => self.take(id, "cannot_answer"),
            BotReply::Done => self.take(id, "done"),
        }
    }

    /// An HTTP answer for an API block. Bodies are parsed as JSON data only;
    /// a 2xx answer whose body is not what the block needs takes `error`, so
    /// a broken service never lets bad data into the flow.
    fn http_result(&mut self, id: CallId, op: Option<Op>, status: u16, body: String) -> Flowing {
        let ok = (200..300).contains(&status);
        let parsed = crate::script::from_json(&body);
        match op {
            Some(Op::ApiLogin { .. }) => {
                let token = match &parsed {
                    Some(value) => value
                        .read_lock::<rhai::Map>()
                        .and_then(|map| map.get("token").map(|t| t.to_string()))
                        .or_else(|| {
                            value
                                .read_lock::<rhai::ImmutableString>()
                                .map(|s| s.to_string())
                        }),
                    // A bare token: one short line of text.
                    None => Some(body.trim().to_string()).filter(|t| {
                        !t.is_empty() && t.len() <= MAX_TOKEN && !t.contains(char::is_whitespace)
                    }),
                };
                match token {
                    Some(token) if ok => {
                        self.set_var(id, "token", Dynamic::from(token));
                        self.take(id, "ok")
                    }
                    _ => self.take(id, "error"),
                }
            }
            Some(Op::ApiRequest { into, .. }) => match parsed {
                Some(value) => {
                    self.set_var(id, &into, value);
                    self.take(id, if ok { "ok" } else { "error" })
                }
                None => {
                    self.set_var(id, &into, Dynamic::from(body));
                    self.take(id, "error")
                }
            },
            _ => Flowing::Wait,
        }
    }

    fn set_var(&mut self, id: CallId, name: &str, value: Dynamic) {
        let Some(call) = self.call_mut(id) else {
            return;
        };
        match call.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => call.vars.push((name.to_string(), value)),
        }
    }

    /// Evaluates expression `expr` of the call's flow with the call's variables.
    fn eval(&mut self, id: CallId, expr: u32, now: Timestamp) -> Result<Dynamic, String> {
        let Some(call) = self.call(id) else {
            return Err("the call is gone".into());
        };
        let Some(ast) = call.flow.exprs.get(expr as usize) else {
            return Err(format!("expression #{expr} does not exist"));
        };
        let mut scope = rhai::Scope::new();
        let local = now.to_zoned(call.flow.zone.clone());
        scope.push("caller", call.caller.clone());
        scope.push("dialled", call.dialled.clone());
        scope.push("campaign", call.flow.program.name.clone());
        scope.push("now", local.strftime("%Y-%m-%dT%H:%M").to_string());
        scope.push("date", local.strftime("%Y-%m-%d").to_string());
        scope.push("hour", i64::from(local.hour()));
        scope.push("minute", i64::from(local.minute()));
        scope.push("weekday", i64::from(local.weekday().to_monday_one_offset()));
        scope.push("priority", i64::from(call.priority));
        for name in ["record", "cad", "api"] {
            scope.push(name, rhai::Map::new());
        }
        scope.push("token", String::new());
        scope.push("digits", String::new());
        for (name, value) in &call.vars {
            scope.set_or_push(name.as_str(), value.clone());
        }
        self.script
            .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            .map_err(|e| {
                format!(
                    "expression #{expr} `{}` failed: {e}",
                    call.flow
                        .program
                        .exprs
                        .get(expr as usize)
                        .map(String::as_str)
                        .unwrap_or("")
                )
            })
    }
}

/// The [`Command::ScheduleSurvey`] for a call that ends: its campaign's
/// survey is outbound, an agent took the call, and it passed no `no_survey`.
fn outbound_survey(call: &Call) -> Option<Command> {
    let survey = call.flow.survey()?;
    let due = survey.mode == crate::survey::SurveyMode::Outbound
        && call.served
        && !call.no_survey
        && !call.surveyed;
    due.then(|| Command::ScheduleSurvey {
        campaign: call.flow.program.name.clone(),
        survey: survey.name.clone(),
        number: call.caller.clone(),
        delay_ms: survey.delay_ms,
    })
}

/// Whether `number` matches any pattern: exact, or a prefix ending in `*`.
pub fn matches_any(patterns: &[String], number: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => number.starts_with(prefix),
        None => p == number,
    })
}

/// A timer's key in the deadline index: its time in whole milliseconds,
/// rounded up, then its call and number.
fn deadline(at: Timestamp, id: CallId, timer: TimerId) -> (i64, u64, u32) {
    let ms = at.as_millisecond();
    let rounded = if at.subsec_nanosecond().rem_euclid(1_000_000) == 0 {
        ms
    } else {
        ms.saturating_add(1)
    };
    (rounded, id.0, timer.0)
}
