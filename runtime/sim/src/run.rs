//! The virtual-clock runner: one scenario around a fresh
//! [`Switch`](dialect_switch::Switch), the call layer `dialect serve` runs.
//!
//! The runner is the world around the switch. A queue of pending inputs
//! ordered by virtual time (ties in insertion order) holds the caller's
//! keys, words and hang-up, the ends of prompts, agents coming on duty,
//! answering and hanging up, and the answers of HTTP, the external bot,
//! dials and look-ups. Each input goes into the switch; the switch's own
//! deadlines (engine timers, the ACD's ring times, wrap-ups, overflows,
//! announcements) are taken after the inputs of the same instant, so an
//! agent who answers exactly at the end of the ring time still answers.
//! The switch's actions are answered by scheduling further inputs and
//! traced. Nothing here reads a clock or a file, so a scenario runs in
//! microseconds and always the same way.
//!
//! The switch decides what `dialect serve` decides: queueing with the
//! campaign's priorities and reserved agents (the scenario's `last_agent`
//! and `record_owner` are the store), offers, RONA, wrap-up, queue music
//! and announcements, the courtesy callback, the customer agent's turns
//! and handoffs (with tickets kept in memory). The world's part is
//! scripted: prompts last `prompt_length`, agents answer after
//! `answer_after` and talk for `talk`, an external bot's replies are the
//! scenario's `bot_http` (read by [`parse_response`], so garbage is refused
//! as in production), or the bot's replies are scripted outright (`bot`).
//! The expectations are checked by the `expect` module.

use crate::expect::{check, list};
use crate::scenario::{BotHttp, Scenario};
pub use crate::suite::{FlowFile, Place, Suite, SuiteError};
use dialect_acd::directory::short;
use dialect_bot::{BotRequest, BotResponse, Channel, Mode, ProtocolError, Reason, parse_response};
use dialect_bytecode::{NodeId, Op, Prompt};
use dialect_engine::{BotReply, CallId, Command, DialOutcome, Engine, Event, Flow, Outcome};
use dialect_store::{CustomerStore, NewRecord, NewTicket, RelationshipStore, SqliteStore};
use dialect_switch::{Action, CallKey, NoStore, Switch, Version};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// Most inputs one scenario may process before it is stopped.
pub const MAX_INPUTS: usize = 10_000;

/// Longest virtual time a scenario may run (ms): 24 hours.
pub const MAX_TIME_MS: i64 = 24 * 3_600_000;

/// How long a dialled number or a transferred extension talks (ms).
pub const BRIDGE_MS: i64 = 60_000;

/// How long a voicemail recording takes (ms).
pub const RECORDING_MS: i64 = 5_000;

/// One line of a call's trace: a command the engine issued (with the node
/// that issued it) or, in parentheses, something that happened to the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// Offset from the scenario's start, ms.
    pub at: i64,
    /// What happened.
    pub text: String,
    /// The node, for commands.
    pub place: Option<Place>,
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = offset(self.at);
        match &self.place {
            Some(place) => write!(f, "{at:>10}  {:<44} {place}", self.text),
            None => write!(f, "{at:>10}  {}", self.text),
        }
    }
}

/// An offset in ms as `+6.000s`.
pub fn offset(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}s", abs / 1000, abs % 1000)
}

/// An expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The expectation (`prompts`, `ended`, ...).
    pub expectation: String,
    /// What the scenario expected.
    pub expected: String,
    /// What happened.
    pub actual: String,
    /// What to say at `at`.
    pub label: String,
    /// The node where the call first went another way than expected.
    pub at: Option<Place>,
}

/// What happened to a scenario's call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The campaign that answered, if one did.
    pub campaign: Option<String>,
    /// Every command and input of the call, in order.
    pub trace: Vec<TraceLine>,
    /// The expectations that did not hold; empty if the scenario passed.
    pub failures: Vec<Failure>,
    /// The exits the call took: (node, exit index). A `hangup` node, which
    /// has no exits, counts as exit 0 when the call ended there.
    pub taken: Vec<(NodeId, u32)>,
    /// The call's events as the switch logged them (`queued`, `announced`,
    /// `rona`, `bot_said`, ...), in order: the same lines `dialect serve`
    /// writes to its event log for the same call.
    pub events: Vec<(i64, String)>,
}

impl Run {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one scenario against a fresh engine holding every campaign of the
/// suite, and checks its expectations.
pub fn run(suite: &Suite, scenario: &Scenario) -> Run {
    let mut sim = Sim::new(suite, scenario);
    let stop = sim.simulate();
    sim.finish(stop)
}

/// Something scheduled to happen.
#[derive(Clone, Debug)]
enum Input {
    /// A call arrives.
    Arrive(usize),
    /// An event for a call.
    Event(usize, Event),
    /// An agent logs in and is ready for calls.
    AgentOn(usize),
    /// An agent picks up the call their phone rings for.
    AgentAnswers {
        /// The agent (index in the scenario).
        agent: usize,
        /// The call's line.
        call: usize,
    },
    /// An agent ends the conversation.
    AgentHangsUp {
        /// The scenario's agent (index).
        agent: usize,
        /// The call's line.
        call: usize,
    },
    /// The external bot answers a request (or the request fails).
    BotAnswer {
        /// The call's line.
        call: usize,
        /// The request's number on its line.
        request: u64,
        /// The conversation's turn the request was for.
        turn: u32,
        /// The answer, read as the server reads it.
        result: Result<BotResponse, ProtocolError>,
        /// The answer for the trace.
        shown: String,
    },
}

impl Input {
    fn call(&self) -> Option<usize> {
        match self {
            Input::Arrive(c)
            | Input::Event(c, _)
            | Input::AgentAnswers { call: c, .. }
            | Input::AgentHangsUp { call: c, .. }
            | Input::BotAnswer { call: c, .. } => Some(*c),
            Input::AgentOn(_) => None,
        }
    }
}

/// The simulated time the ACD's clock starts at (ms): the others arrive
/// 1 ms before the scenario's call, and the ACD counts from 0.
const ACD_ORIGIN: i64 = -1;

type Key = (i64, u64);

/// One simulated call: the scenario's own (index 0) or one of the others.
/// Its key in the switch is its index.
#[derive(Default)]
struct Line {
    id: Option<CallId>,
    flow: Option<Arc<Flow>>,
    alive: bool,
    prompt: Option<Key>,
    bot_turns: usize,
    /// The `bot` node of the last bot turn.
    bot_node: Option<NodeId>,
    /// The record `route_identified` found for the call.
    record: Option<i64>,
    /// The last queue the call entered.
    queue: Option<String>,
}

/// Why the simulation stopped.
enum Stop {
    Ended,
    NoCampaign(String),
    /// The campaign took no call (disabled, outside its life).
    Refused(String),
    /// The engine refused the survey call.
    NoSurvey(String),
    Stuck,
    TooManyInputs,
    TooLong,
}

/// What was observed of the scenario's call.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) prompts: Vec<(String, Option<Place>)>,
    pub(crate) queues: Vec<(String, Option<Place>)>,
    pub(crate) connected: Option<Option<Place>>,
    pub(crate) connected_at: Option<i64>,
    pub(crate) agent: Option<String>,
    pub(crate) dials: Vec<(String, Option<Place>)>,
    pub(crate) transfers: Vec<(String, Option<Place>)>,
    pub(crate) record: Option<Option<Place>>,
    pub(crate) callback: Option<Option<Place>>,
    pub(crate) no_survey: Option<Option<Place>>,
    /// The survey that ran, and where the call was when it started.
    pub(crate) survey: Option<(String, Option<Place>)>,
    /// Its answers: question, answer (`None`: unanswered), where.
    pub(crate) answers: Vec<(String, Option<String>, Option<Place>)>,
    /// The outbound survey scheduled at the end: its delay, where.
    pub(crate) scheduled: Option<(u64, Option<Place>)>,
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) ended: Option<(Outcome, i64, Option<Place>)>,
    pub(crate) last: Option<Place>,
    /// What the customer agent said, where.
    pub(crate) bot_said: Vec<(String, Option<Place>)>,
    /// The first handoff, where.
    pub(crate) handoff: Option<(Handoff, Option<Place>)>,
    /// Where the first ticket was opened.
    pub(crate) ticket: Option<Option<Place>>,
    /// The agent's wrap-up: the classifier, the recall in words, whether
    /// the number was blacklisted (or why the wrap-up was refused).
    pub(crate) wrap_up: Option<Result<(String, String, bool), String>>,
    /// Monitoring alerts raised and cleared, in order, as the scenario's
    /// `alerts` names them.
    pub(crate) alerts: Vec<String>,
}

/// A handoff of the scenario's call.
#[derive(Clone, Debug, Default)]
pub(crate) struct Handoff {
    /// Why; `None` for a scripted `handoff` reply.
    pub(crate) reason: Option<Reason>,
    /// Where the router sent it.
    pub(crate) team: Option<String>,
    pub(crate) users: Vec<String>,
    pub(crate) owner: Option<String>,
}

/// The scenario's store: an embedded database (the one `dialect serve`
/// uses, in memory) holding what the scenario seeds: customer records,
/// tickets, the caller's last agent and the owner of their private record.
/// What went wrong seeding it is a failure of the scenario.
fn seeded_store(scenario: &Scenario, campaign: Option<&str>) -> (Option<SqliteStore>, Vec<String>) {
    let mut problems = Vec::new();
    let store = match SqliteStore::in_memory() {
        Ok(store) => store,
        Err(error) => {
            problems.push(format!("the in-memory store cannot be opened: {error}"));
            return (None, problems);
        }
    };
    let start = scenario.start.timestamp();
    let campaign = campaign.unwrap_or_default();
    let records: Vec<NewRecord> = scenario
        .records
        .iter()
        .map(|r| NewRecord {
            numbers: r.numbers.clone(),
            fields: r.fields.clone(),
        })
        .collect();
    if let Err(error) = store.import_records(campaign, &records, start) {
        problems.push(format!("the records cannot be stored: {error}"));
    }
    for id in &scenario.tickets {
        let ticket = NewTicket {
            channel: "voice".into(),
            campaign: campaign.to_string(),
            customer: scenario.caller.clone(),
            reason: "an earlier ticket".into(),
            transcript: Vec::new(),
            team: None,
            owner: None,
        };
        if let Err(error) = store.insert_ticket(Some(*id), &ticket, start) {
            problems.push(format!("ticket {id} cannot be stored: {error}"));
        }
    }
    if let Some(agent) = &scenario.last_agent
        && let Err(error) = store.set_last_agent(campaign, &scenario.caller, short(agent), start)
    {
        problems.push(format!("the last agent cannot be stored: {error}"));
    }
    if let Some(owner) = &scenario.record_owner
        && let Err(error) = store.set_owner(campaign, &scenario.caller, short(owner))
    {
        problems.push(format!("the record's owner cannot be stored: {error}"));
    }
    (Some(store), problems)
}

/// The store the switch reads: the scenario's, or none if it could not be
/// opened (a failure of the scenario already).
fn db(store: &Option<SqliteStore>) -> &dyn dialect_switch::Store {
    match store {
        Some(store) => store,
        None => &NoStore,
    }
}

struct Sim<'a> {
    suite: &'a Suite,
    scenario: &'a Scenario,
    /// The call layer `dialect serve` runs, with the scenario as its world.
    switch: Switch,
    store: Option<SqliteStore>,
    /// What went wrong seeding the store.
    seeding: Vec<String>,
    start: Timestamp,
    now: i64,
    seq: u64,
    pending: BTreeMap<Key, Input>,
    lines: Vec<Line>,
    /// The scenario's agents by their ACD name.
    agent_ids: HashMap<String, usize>,
    /// The pending answer of each ringing offer, by line.
    answers: HashMap<usize, Key>,
    trace: Vec<TraceLine>,
    taken: Vec<(NodeId, u32)>,
    seen: Seen,
    /// The switch's log lines for the scenario's call.
    events: Vec<(i64, String)>,
}

/// The scenario's own call; the others follow it.
const SUBJECT: usize = 0;

/// A line's key in the switch.
fn key(call: usize) -> CallKey {
    u64::try_from(call).unwrap_or(u64::MAX)
}

/// The line of a key in the switch.
fn line(key: CallKey) -> usize {
    usize::try_from(key).unwrap_or(usize::MAX)
}

impl<'a> Sim<'a> {
    fn new(suite: &'a Suite, scenario: &'a Scenario) -> Sim<'a> {
        let start = scenario.start.timestamp();
        let (switch, agent_ids) = new_switch(suite, scenario, start);
        let campaign = switch
            .engine()
            .route(&scenario.dialled)
            .map(|f| f.program.name.clone());
        let (store, seeding) = seeded_store(scenario, campaign.as_deref());
        let mut sim = Sim {
            suite,
            scenario,
            switch,
            store,
            seeding,
            start,
            // The others arrive before the start; the first input sets the clock.
            now: i64::MIN,
            seq: 0,
            pending: BTreeMap::new(),
            lines: Vec::new(),
            agent_ids,
            answers: HashMap::new(),
            trace: Vec::new(),
            taken: Vec::new(),
            seen: Seen::default(),
            events: Vec::new(),
        };
        for (i, agent) in scenario.agents.iter().enumerate() {
            sim.schedule(ms(agent.from), Input::AgentOn(i));
        }
        sim.lines.push(Line::default());
        let others_at = scenario.others_at.map_or(-1, ms);
        for _ in 0..scenario.others {
            let other = sim.lines.len();
            sim.lines.push(Line::default());
            sim.schedule(others_at, Input::Arrive(other));
            for (at, text) in &scenario.others_say {
                sim.schedule(ms(*at), Input::Event(other, Event::Utterance(text.clone())));
            }
        }
        sim.schedule(0, Input::Arrive(SUBJECT));
        for (at, key) in &scenario.keys {
            sim.schedule(ms(*at), Input::Event(SUBJECT, Event::Digit(*key)));
        }
        for (at, text) in &scenario.say {
            sim.schedule(
                ms(*at),
                Input::Event(SUBJECT, Event::Utterance(text.clone())),
            );
        }
        if let Some(at) = scenario.hangup {
            sim.schedule(ms(at), Input::Event(SUBJECT, Event::HangUp));
        }
        sim
    }

    fn schedule(&mut self, at: i64, input: Input) -> Key {
        self.seq += 1;
        let key = (at, self.seq);
        self.pending.insert(key, input);
        key
    }

    fn timestamp(&self, at: i64) -> Timestamp {
        self.start
            .checked_add(SignedDuration::from_millis(at))
            .unwrap_or(self.start)
    }

    /// The simulated time of a timestamp.
    fn at_of(&self, time: Timestamp) -> i64 {
        i64::try_from(time.duration_since(self.start).as_millis()).unwrap_or(i64::MAX)
    }

    fn simulate(&mut self) -> Stop {
        let mut inputs = 0;
        loop {
            let next = self.pending.first_key_value().map(|(key, _)| key.0);
            // The switch's next deadline (engine timers, the ACD's), taken
            // after the inputs of its instant.
            let deadline = self.switch.poll_timeout().map(|at| self.at_of(at));
            let input = match (next, deadline) {
                (Some(at), Some(deadline)) if deadline < at => None,
                (None, Some(_)) => None,
                (Some(_), _) => self.pending.pop_first(),
                (None, None) => return Stop::Stuck,
            };
            let at = match &input {
                Some((key, _)) => key.0,
                None => deadline.unwrap_or(self.now),
            };
            if at > MAX_TIME_MS {
                return Stop::TooLong;
            }
            // The alerts' once-a-second evaluation is time passing, not
            // an input: a call waiting for hours stops at MAX_TIME_MS.
            if input.is_some() || !self.switch.next_is_monitor() {
                inputs += 1;
            }
            if inputs > MAX_INPUTS {
                return Stop::TooManyInputs;
            }
            self.now = self.now.max(at);
            match input {
                Some((_, input)) => {
                    if let Some(stop) = self.process(input) {
                        return stop;
                    }
                }
                None => {
                    let now = self.timestamp(self.now);
                    self.switch.handle_timeout(now, db(&self.store));
                }
            }
            self.act();
            self.observe();
            if self.seen.ended.is_some() {
                return Stop::Ended;
            }
        }
    }

    fn note(&mut self, call: usize, text: String) {
        if call == SUBJECT {
            self.trace.push(TraceLine {
                at: self.now,
                text: format!("({text})"),
                place: None,
            });
        }
    }

    fn process(&mut self, input: Input) -> Option<Stop> {
        let now = self.timestamp(self.now);
        match input {
            Input::Arrive(call) => {
                let caller = if call == SUBJECT {
                    &self.scenario.caller
                } else {
                    &self.scenario.others_caller
                };
                let dialled = &self.scenario.dialled;
                // The flow the call will run, read before the call starts: a
                // call that ends at once (closed, hung up) is gone afterwards.
                let flow = self.switch.engine().route(dialled).cloned();
                if call == SUBJECT
                    && let Some(flow) = &flow
                {
                    self.seen.last = self.suite.place(&flow.program, flow.program.entry);
                }
                if let Some(line) = self.lines.get_mut(call) {
                    line.flow = flow;
                    line.alive = true;
                }
                let survey = self
                    .scenario
                    .survey_call
                    .as_ref()
                    .filter(|_| call == SUBJECT);
                let started = match survey {
                    Some(survey) => {
                        self.note(
                            call,
                            format!("survey call {survey} to {caller}, answered, for the campaign of {dialled}"),
                        );
                        self.switch.arrive_survey(
                            key(call),
                            dialled,
                            survey,
                            caller,
                            now,
                            db(&self.store),
                        )
                    }
                    None => {
                        self.note(call, format!("call from {caller} to {dialled}"));
                        let channel = if call == SUBJECT {
                            self.scenario.channel
                        } else {
                            Channel::Voice
                        };
                        self.switch.arrive(
                            key(call),
                            caller,
                            dialled,
                            channel,
                            now,
                            db(&self.store),
                        )
                    }
                };
                let id = self.switch.engine_call(key(call));
                if let Some(line) = self.lines.get_mut(call) {
                    line.id = id;
                }
                match started {
                    Ok(()) => {}
                    Err(dialect_engine::Refused::UnknownSurvey { campaign, survey })
                        if call == SUBJECT =>
                    {
                        return Some(Stop::NoSurvey(format!(
                            "campaign `{campaign}` has no survey `{survey}`"
                        )));
                    }
                    Err(
                        refused @ (dialect_engine::Refused::Disabled(_)
                        | dialect_engine::Refused::NotRunning { .. }),
                    ) if call == SUBJECT => {
                        self.note(call, format!("refused: {refused}"));
                        return Some(Stop::Refused(refused.to_string()));
                    }
                    Err(_) if call == SUBJECT => {
                        return Some(Stop::NoCampaign(dialled.clone()));
                    }
                    Err(_) => {
                        if let Some(line) = self.lines.get_mut(call) {
                            line.alive = false;
                        }
                    }
                }
            }
            Input::Event(call, event) => self.deliver(call, event),
            Input::AgentOn(agent) => {
                let name = self.agent_name(agent)?;
                self.switch.login(&name, now);
                self.switch.set_ready(&name, now);
            }
            Input::AgentAnswers { agent, call } => {
                self.answers.remove(&call);
                if self.switch.agent_answered(key(call), now) {
                    let talk = self.scenario.agents.get(agent).map_or(0, |a| ms(a.talk));
                    self.schedule(
                        self.now.saturating_add(talk),
                        Input::AgentHangsUp { agent, call },
                    );
                    let name = self.agent_name(agent).unwrap_or_default();
                    if call == SUBJECT {
                        // Where the call waited: its queue block, or the
                        // extension it was transferred to.
                        let queued = self
                            .seen
                            .queues
                            .last()
                            .or(self.seen.transfers.last())
                            .and_then(|q| q.1.clone());
                        self.seen.connected.get_or_insert(queued);
                        self.seen.connected_at.get_or_insert(self.now);
                        self.seen.agent.get_or_insert(name.clone());
                    }
                    self.deliver(call, Event::AgentConnected { agent: name });
                }
            }
            Input::AgentHangsUp { agent, call } => {
                // Wrap-up starts; the agent may be offered the next call
                // once it is over (at once without wrap-up time).
                self.switch.agent_ended(key(call), now);
                self.deliver(call, Event::BridgeEnded);
                self.wrap_up(agent, call, now);
            }
            Input::BotAnswer {
                call,
                request,
                turn,
                result,
                shown,
            } => {
                if self.switch.awaits_bot_answer(key(call), request, turn) {
                    self.note(call, format!("the bot answers: {shown}"));
                } else {
                    self.note(call, format!("the bot's late answer is dropped: {shown}"));
                }
                self.switch
                    .bot_answered(key(call), request, turn, result, now, db(&self.store));
            }
        }
        None
    }

    fn deliver(&mut self, call: usize, event: Event) {
        let Some(line) = self.lines.get_mut(call) else {
            return;
        };
        if !line.alive || line.id.is_none() {
            return;
        }
        if event == Event::PromptFinished {
            line.prompt = None;
        }
        let text = describe_event(&event);
        self.note(call, text);
        let now = self.timestamp(self.now);
        self.switch.event(key(call), event, now, db(&self.store));
    }

    /// Carries out the switch's actions: the scenario's call's steps and
    /// commands are traced, the world's commands answered by scheduling
    /// inputs, agents rung, the customer agent's requests answered from
    /// the scenario.
    fn act(&mut self) {
        while let Some(action) = self.switch.poll_action() {
            match action {
                Action::Step { call, node, exit } => {
                    if line(call) == SUBJECT {
                        self.step(node, exit);
                    }
                }
                Action::Command {
                    call,
                    node,
                    command,
                } => {
                    let call = line(call);
                    if call == SUBJECT {
                        self.record(node, &command);
                    }
                    if let Command::BotTurn { .. } = &command
                        && let Some(line) = self.lines.get_mut(call)
                    {
                        line.bot_node = Some(node);
                    }
                    if !self.switch.carries_out(&command) {
                        self.carry_out(call, command);
                    }
                }
                Action::TimerFired { call } => self.note(line(call), "timer fired".into()),
                Action::Alert {
                    alert,
                    subject,
                    raised,
                    ..
                } => {
                    let change = if raised { "raised" } else { "cleared" };
                    let named = if subject.is_empty() {
                        format!("{alert} {change}")
                    } else {
                        format!("{alert} {subject} {change}")
                    };
                    self.note(crate::run::SUBJECT, format!("alert: {named}"));
                    self.seen.alerts.push(named);
                }
                Action::Decided { call, event } => {
                    self.note(line(call), describe_event(&event));
                }
                Action::Ring { call, agent } => self.ring(line(call), agent),
                Action::StopRinging { call, agent } => {
                    let call = line(call);
                    if let Some(key) = self.answers.remove(&call) {
                        self.pending.remove(&key);
                    }
                    self.note(
                        call,
                        format!("RONA: agent {agent} did not answer within the ring time; the call keeps its place"),
                    );
                }
                // The simulator has no chats (a scenario's `channel = "chat"`
                // is a call on the chat channel, with a flow).
                Action::ChatMessage { .. }
                | Action::ChatHandoff { .. }
                | Action::ChatDone { .. } => {}
                Action::Waiting { .. }
                | Action::Music { .. }
                | Action::Listen { .. }
                | Action::StopListening { .. } => {}
                Action::Announcement {
                    call,
                    position,
                    minutes,
                    courtesy,
                } => {
                    let call = line(call);
                    let unit = if minutes == 1 { "minute" } else { "minutes" };
                    let offer = if courtesy {
                        "; press 1 to be called back"
                    } else {
                        ""
                    };
                    self.note(
                        call,
                        format!("announcement: number {position} in the queue, about {minutes} {unit}{offer}"),
                    );
                    self.play_for(call);
                }
                Action::CourtesyCallback { call, queue, .. } => {
                    let call = line(call);
                    self.note(
                        call,
                        format!("courtesy callback: the caller keeps their place in {queue}"),
                    );
                    if call == SUBJECT {
                        let last = self.seen.last.clone();
                        self.seen.callback.get_or_insert(last);
                    }
                }
                Action::Farewell { call } => {
                    let call = line(call);
                    self.note(call, "goodbye: we will call you back".into());
                    self.play_for(call);
                }
                Action::LetGo { call, reason } => {
                    let call = line(call);
                    self.note(call, format!("the caller is let go ({reason})"));
                    let at = self.now;
                    self.schedule(at, Input::Event(call, Event::HangUp));
                }
                Action::QueueTimedOut { call, queue } => self.note(
                    line(call),
                    format!("max wait of {queue} over: out of the ACD, the flow's timer decides"),
                ),
                Action::AskBot {
                    call,
                    endpoint,
                    request,
                    timeout_ms,
                } => self.answer_bot(line(call), &endpoint, &request, timeout_ms),
                Action::Handoff {
                    call,
                    reason,
                    mode,
                    decided,
                } => self.handed_off(line(call), reason, mode, decided),
                Action::Announce { call, prompt } => {
                    let call = line(call);
                    self.note(call, format!("handoff message {}", quoted_prompt(&prompt)));
                    if call == SUBJECT {
                        let place = self.bot_place(call);
                        self.seen.prompts.push((prompt_name(&prompt), place));
                    }
                }
                Action::TicketOpened { call, ticket } => {
                    let call = line(call);
                    let routed = routed(ticket.team.as_ref(), &[], ticket.owner.as_ref());
                    self.note(call, format!("ticket opened: {routed}"));
                    if call == SUBJECT {
                        let place = self.bot_place(call);
                        self.seen.ticket.get_or_insert(place);
                    }
                }
                Action::Log {
                    call,
                    event,
                    fields,
                } => self.log(line(call), event, &fields),
            }
        }
    }

    /// What the switch logged, as the trace words it.
    fn log(&mut self, call: usize, event: &str, fields: &dialect_switch::Fields) {
        if call == SUBJECT {
            self.events.push((self.now, event.to_string()));
        }
        let text = |name: &str| fields.get(name).and_then(|v| v.as_str()).unwrap_or("");
        if let Some(l) = self.lines.get_mut(call) {
            match event {
                "identified" => l.record = fields.get("record").and_then(|v| v.as_i64()),
                "queued" => l.queue = Some(text("queue").to_string()),
                _ => {}
            }
        }
        match event {
            "reserved" => {
                let agent = text("agent").to_string();
                let window = fields.get("for_ms").and_then(|v| v.as_u64()).unwrap_or(0);
                self.note(
                    call,
                    format!(
                        "reserved for agent {agent} for {}",
                        dialect_compiler::diagnostic::human_ms(window)
                    ),
                );
            }
            "queue_full" => {
                let why = text("reason").to_string();
                self.note(call, format!("the ACD refuses the call: {why}"));
            }
            "overflowed" => {
                let (from, to) = (text("from").to_string(), text("to").to_string());
                self.note(call, format!("max wait of {from} over: overflows to {to}"));
            }
            "bot_unavailable" => {
                let why = text("why").to_string();
                self.note(
                    call,
                    format!("the customer agent cannot take the call: {why}"),
                );
            }
            "bot_said" if call == SUBJECT => {
                let said = text("text").to_string();
                let place = self.bot_place(call);
                self.seen.bot_said.push((said, place));
            }
            "bot_asked" => {
                let (endpoint, turn) = (text("endpoint").to_string(), text("turn").to_string());
                self.note(call, format!("request to the bot at {endpoint}: {turn}"));
            }
            "handoff_rule_failed" => {
                let warning = text("warning").to_string();
                self.note(call, format!("handoff rule failed: {warning}"));
            }
            "ticket_failed" | "store_failed" => {
                let error = text("error").to_string();
                self.note(call, format!("{event}: {error}"));
            }
            "extension" => {
                let (ext, to) = (text("extension").to_string(), text("to").to_string());
                self.note(call, format!("extension {ext} is {to}"));
            }
            "extension_failed" => {
                let (ext, why) = (text("extension").to_string(), text("reason").to_string());
                self.note(call, format!("extension {ext}: {why}"));
            }
            _ => {}
        }
    }

    /// A step of the scenario's call, for coverage and its last place.
    fn step(&mut self, node: NodeId, exit: u32) {
        self.taken.push((node, exit));
        let Some(flow) = self.lines.first().and_then(|l| l.flow.clone()) else {
            return;
        };
        if let Some(node_at) = flow.program.nodes.get(node as usize) {
            if matches!(node_at.op, Op::NoSurvey) && self.seen.no_survey.is_none() {
                self.seen.no_survey = Some(self.suite.place(&flow.program, node));
            }
            if let Some((_, target)) = node_at.exits.get(exit as usize) {
                self.seen.last = self.suite.place(&flow.program, *target);
            }
        }
    }

    /// Reads what can only be read while the call is alive.
    fn observe(&mut self) {
        let Some(id) = self.lines.first().filter(|l| l.alive).and_then(|l| l.id) else {
            return;
        };
        let engine = self.switch.engine();
        if let Some((true, _)) = engine.flags_of(id) {
            let last = self.seen.last.clone();
            self.seen.no_survey.get_or_insert(last);
        }
        if self.seen.survey.is_none()
            && let Some(survey) = engine.survey_of(id)
        {
            self.seen.survey = Some((survey.to_string(), self.seen.last.clone()));
        }
        for name in self.scenario.expect.vars.keys() {
            if let Some(value) = engine.var_of(id, name) {
                self.seen.vars.insert(name.clone(), value);
            }
        }
    }

    fn record(&mut self, node: NodeId, command: &Command) {
        let place = self
            .lines
            .first()
            .and_then(|l| l.flow.as_ref())
            .and_then(|f| self.suite.place(&f.program, node));
        let seen = &mut self.seen;
        let text = match command {
            Command::Answer => "answer".to_string(),
            Command::Play { prompt, .. } => {
                let name = prompt_name(prompt);
                seen.prompts.push((name.clone(), place.clone()));
                format!("play {}", quoted_prompt(prompt))
            }
            Command::StopPlayback => "stop playback".into(),
            Command::StartTimer { at, .. } => {
                let ms = at.duration_since(self.start).as_millis();
                let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                format!(
                    "timer {}",
                    dialect_compiler::diagnostic::human_ms(
                        u64::try_from(ms - self.now).unwrap_or(0)
                    )
                )
            }
            Command::CancelTimer { .. } => "cancel timer".into(),
            Command::Enqueue {
                queue, priority, ..
            } => {
                seen.queues.push((queue.clone(), place.clone()));
                if *priority == 0 {
                    format!("enqueue {queue}")
                } else {
                    format!("enqueue {queue} priority {priority}")
                }
            }
            Command::Dequeue { queue } => format!("dequeue {queue}"),
            Command::Transfer { extension } => {
                seen.transfers.push((extension.clone(), place.clone()));
                format!("transfer {extension}")
            }
            Command::Dial {
                number, timeout_ms, ..
            } => {
                seen.dials.push((number.clone(), place.clone()));
                format!(
                    "dial {number} (ring {})",
                    dialect_compiler::diagnostic::human_ms(*timeout_ms)
                )
            }
            Command::Record { max_length_ms, .. } => {
                // A survey's comment is recorded too; only `voicemail`
                // blocks leave messages.
                if place.as_ref().is_some_and(|p| p.block == "voicemail") {
                    seen.record.get_or_insert(place.clone());
                }
                format!(
                    "record (at most {})",
                    dialect_compiler::diagnostic::human_ms(*max_length_ms)
                )
            }
            Command::RegisterCallback {
                number, delay_ms, ..
            } => {
                seen.callback.get_or_insert(place.clone());
                format!(
                    "callback {number} in {}",
                    dialect_compiler::diagnostic::human_ms(*delay_ms)
                )
            }
            Command::Identify { number } => format!("identify {number}"),
            Command::Authorise { source, .. } => format!("authorise {source}"),
            Command::LookupTicket { id } => format!("look up ticket {id}"),
            Command::Http { method, url, .. } => format!("http {method} {url}"),
            Command::BotTurn { bot, utterance } => match utterance {
                Some(u) => format!("bot {bot} turn {u:?}"),
                None => format!("bot {bot} first turn"),
            },
            Command::SurveyAnswer {
                survey,
                question,
                answer,
            } => {
                seen.answers
                    .push((question.clone(), answer.clone(), place.clone()));
                seen.survey
                    .get_or_insert_with(|| (survey.clone(), place.clone()));
                match answer {
                    Some(answer) => format!("survey {survey} {question}: {answer}"),
                    None => format!("survey {survey} {question}: unanswered"),
                }
            }
            Command::SurveyDone { survey } => format!("survey {survey} done"),
            Command::ScheduleSurvey {
                survey,
                number,
                delay_ms,
                ..
            } => {
                seen.scheduled = Some((*delay_ms, place.clone()));
                format!(
                    "schedule survey {survey}: call {number} in {}",
                    dialect_compiler::diagnostic::human_ms(*delay_ms)
                )
            }
            Command::Hangup => "hangup".into(),
            Command::Ended(outcome) => {
                seen.ended = Some((outcome.clone(), self.now, place.clone()));
                if let Some(p) = &place {
                    seen.last = Some(p.clone());
                }
                let is_hangup_node = place.as_ref().is_some_and(|p| p.block == "hangup");
                if matches!(outcome, Outcome::HungUp { .. }) && is_hangup_node {
                    self.taken.push((node, 0));
                }
                match outcome {
                    Outcome::HungUp { reason: Some(r) } => format!("ended: the flow hung up ({r})"),
                    Outcome::HungUp { reason: None } => "ended: the flow hung up".into(),
                    Outcome::CallerHungUp => "ended: the caller hung up".into(),
                    Outcome::Failed { error } => format!("ended: failed: {error}"),
                }
            }
        };
        self.trace.push(TraceLine {
            at: self.now,
            text,
            place,
        });
    }

    /// The world's part of a command: prompts end after the scenario's
    /// prompt length, dials and transfers go as the scenario says, look-ups
    /// and HTTP answer from the scenario, scripted bot replies.
    fn carry_out(&mut self, call: usize, command: Command) {
        let now = self.now;
        match command {
            Command::Play { .. } => {
                self.cancel_prompt(call);
                let at = now + ms(self.scenario.prompt_length);
                let key = self.schedule(at, Input::Event(call, Event::PromptFinished));
                if let Some(line) = self.lines.get_mut(call) {
                    line.prompt = Some(key);
                }
            }
            Command::StopPlayback => self.cancel_prompt(call),
            Command::Dial { timeout_ms, .. } => {
                let outcome = self.scenario.dial;
                let at = if outcome == DialOutcome::NoAnswer {
                    now + ms(timeout_ms)
                } else {
                    now
                };
                self.schedule(at, Input::Event(call, Event::DialResult(outcome)));
                if outcome == DialOutcome::Connected {
                    if call == SUBJECT {
                        let last = self.seen.dials.last().and_then(|d| d.1.clone());
                        self.seen.connected.get_or_insert(last);
                        self.seen.connected_at.get_or_insert(now);
                    }
                    self.schedule(now + BRIDGE_MS, Input::Event(call, Event::BridgeEnded));
                }
            }
            Command::Record { .. } => {
                self.schedule(
                    now + RECORDING_MS,
                    Input::Event(call, Event::RecordingFinished),
                );
            }
            // An external source: the scenario's HTTP answer to the POST,
            // 2xx is `ok`; without one the block's timer takes `failed`.
            // (The switch decides the internal source and tickets.)
            Command::Authorise { url, .. } => {
                if let Some(answer) = self.http_answer(&url.unwrap_or_default()) {
                    let ok = (200..300).contains(&answer.status);
                    self.schedule(
                        now + ms(answer.after),
                        Input::Event(call, Event::Verified { ok }),
                    );
                }
            }
            Command::Http { request, url, .. } => {
                if let Some(answer) = self.http_answer(&url) {
                    let event = Event::HttpResult {
                        request,
                        status: answer.status,
                        body: answer.body,
                    };
                    self.schedule(now + ms(answer.after), Input::Event(call, event));
                }
            }
            Command::BotTurn { .. } => {
                let reply = self.scripted_turn(call);
                self.schedule(now, Input::Event(call, Event::BotReply(reply)));
            }
            Command::Ended(_) => self.hang_up(call),
            // Noted for the expectations by `record`; nothing to answer.
            _ => {}
        }
    }

    /// Something the switch plays to a waiting caller (an announcement, a
    /// goodbye) ends after the scenario's prompt length.
    fn play_for(&mut self, call: usize) {
        self.cancel_prompt(call);
        let at = self.now + ms(self.scenario.prompt_length);
        let key = self.schedule(at, Input::Event(call, Event::PromptFinished));
        if let Some(line) = self.lines.get_mut(call) {
            line.prompt = Some(key);
        }
    }

    /// The ACD offers a call to an agent: their phone rings, and they
    /// answer after `answer_after` if they answer.
    fn ring(&mut self, call: usize, agent: String) {
        self.note(call, format!("agent {agent} is ringing"));
        let Some(&index) = self.agent_ids.get(&agent) else {
            return;
        };
        let Some(a) = self.scenario.agents.get(index) else {
            return;
        };
        if a.answers {
            let at = self.now.saturating_add(ms(a.answer_after));
            let key = self.schedule(at, Input::AgentAnswers { agent: index, call });
            self.answers.insert(call, key);
        }
    }
    fn scripted_turn(&mut self, call: usize) -> BotReply {
        let turn = self.lines.get(call).map_or(0, |l| l.bot_turns);
        let reply = self
            .scenario
            .bot
            .get(turn)
            .cloned()
            .unwrap_or(BotReply::Done);
        if let Some(line) = self.lines.get_mut(call) {
            line.bot_turns += 1;
        }
        if call == SUBJECT {
            let place = self.bot_place(call);
            match &reply {
                BotReply::Say(text) => self.seen.bot_said.push((text.clone(), place)),
                BotReply::Handoff => {
                    self.seen.handoff.get_or_insert((Handoff::default(), place));
                }
                _ => {}
            }
        }
        reply
    }

    /// Answers a request to the external bot: its answer is the scenario's
    /// next `bot_http`, read by `parse_response` as the server reads an
    /// HTTP reply; a reply slower than the bot's `timeout`, or a
    /// `timeout`, is a timeout at the bot's `timeout`; no answer left is an
    /// unreachable bot.
    fn answer_bot(&mut self, call: usize, _endpoint: &str, request: &BotRequest, timeout: u64) {
        let number = self.switch.bot_requests(key(call));
        // Each call reads `bot_http` from its start.
        let index = usize::try_from(number.saturating_sub(1)).unwrap_or(usize::MAX);
        let timed_out = || {
            (
                timeout,
                Err(ProtocolError::Timeout(timeout)),
                format!(
                    "no reply within its timeout of {}",
                    dialect_compiler::diagnostic::human_ms(timeout)
                ),
            )
        };
        let (after, result, shown) = match self.scenario.bot_http.get(index) {
            Some(BotHttp::Reply { after, .. }) if *after > timeout => timed_out(),
            Some(BotHttp::Reply {
                status,
                body,
                after,
            }) => (
                *after,
                parse_response(*status, body),
                format!("HTTP {status} {}", clip(body)),
            ),
            Some(BotHttp::Timeout) => timed_out(),
            Some(BotHttp::Unreachable) => (
                0,
                Err(ProtocolError::Unreachable("connection refused".into())),
                "connection refused".to_string(),
            ),
            None => {
                let why = format!("the scenario's `bot_http` has no answer for request {number}");
                (0, Err(ProtocolError::Unreachable(why.clone())), why)
            }
        };
        let at = self.now.saturating_add(ms(after));
        self.schedule(
            at,
            Input::BotAnswer {
                call,
                request: number,
                turn: request.turn,
                result,
                shown,
            },
        );
    }

    /// A handoff the switch decided, for the trace and the expectations.
    fn handed_off(
        &mut self,
        call: usize,
        reason: Reason,
        mode: Mode,
        decided: dialect_bot::Handoff,
    ) {
        let assignment = decided.assignment;
        let mode = match mode {
            Mode::Live => "live",
            Mode::Async => "async",
            Mode::None => "none",
        };
        let routed = routed(
            assignment.team.as_ref(),
            &assignment.users,
            assignment.owner.as_ref(),
        );
        let availability = if decided.available {
            "an agent is available"
        } else {
            "nobody is available"
        };
        self.note(
            call,
            format!(
                "handoff ({}): {reason}; mode {mode}; {routed}; {availability}",
                reason.code(),
            ),
        );
        if call == SUBJECT {
            let place = self.bot_place(call);
            let seen = Handoff {
                reason: Some(reason),
                team: assignment.team,
                users: assignment.users,
                owner: assignment.owner,
            };
            self.seen.handoff.get_or_insert((seen, place));
        }
    }

    /// The place of the `bot` block a line's last bot turn came from.
    fn bot_place(&self, call: usize) -> Option<Place> {
        let line = self.lines.get(call)?;
        self.suite
            .place(&line.flow.as_ref()?.program, line.bot_node?)
    }

    fn cancel_prompt(&mut self, call: usize) {
        if let Some(key) = self.lines.get_mut(call).and_then(|l| l.prompt.take()) {
            self.pending.remove(&key);
        }
    }

    /// A call is over: forget everything pending for it, and release it
    /// in the switch (an agent talking to it starts wrap-up).
    fn hang_up(&mut self, call: usize) {
        if let Some(line) = self.lines.get_mut(call) {
            line.alive = false;
            line.prompt = None;
        }
        self.pending.retain(|_, input| input.call() != Some(call));
        self.answers.remove(&call);
        let now = self.timestamp(self.now);
        self.switch.release(key(call), now);
    }

    /// The scenario agent's name in the ACD: a declared agent's last name
    /// part.
    /// The agent's wrap-up when the call ends, with the scenario's
    /// classifier, as through the agent API: the switch applies it to the
    /// record and decides the recall (which the simulator notes; `dialect
    /// serve` places it).
    fn wrap_up(&mut self, agent: usize, call: usize, now: Timestamp) {
        let Some(classifier) = self
            .scenario
            .agents
            .get(agent)
            .and_then(|a| a.classifier.clone())
        else {
            return;
        };
        let name = self.agent_name(agent).unwrap_or_default();
        let Some(line) = self.lines.get(call) else {
            return;
        };
        let campaign = line
            .flow
            .as_ref()
            .map(|f| f.program.name.clone())
            .unwrap_or_default();
        let (record, queue) = (line.record, line.queue.clone());
        let number = if call == SUBJECT {
            self.scenario.caller.clone()
        } else {
            self.scenario.others_caller.clone()
        };
        let wrap = dialect_switch::wrapup::WrapUp {
            campaign: &campaign,
            number: &number,
            record,
            result: "answered",
            agent: &name,
            classifier: &classifier,
            queue: queue.as_deref(),
        };
        let decided = self.switch.wrap_up(key(call), &wrap, now, db(&self.store));
        self.switch.end_wrap_up(&name, now);

        let zone = self
            .switch
            .directory()
            .campaigns
            .get(&campaign)
            .map(|c| c.zone.clone())
            .unwrap_or_default();
        let outcome = match decided {
            Ok(decision) => {
                let recall = match &decision.recall {
                    dialect_switch::wrapup::Recall::None => "none".to_string(),
                    dialect_switch::wrapup::Recall::Skipped(_) => "skipped".to_string(),
                    dialect_switch::wrapup::Recall::At { start, .. } => {
                        match jiff::tz::TimeZone::get(&zone) {
                            Ok(tz) => start.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string(),
                            Err(_) => start.to_string(),
                        }
                    }
                };
                self.note(
                    call,
                    format!("{name} wraps up: {classifier}, recall {recall}"),
                );
                Ok((classifier, recall, decision.blacklisted))
            }
            Err(refused) => {
                let why = format!("{name}'s wrap-up with {classifier} is refused: {refused}");
                self.note(call, why.clone());
                Err(why)
            }
        };
        if call == SUBJECT {
            self.seen.wrap_up.get_or_insert(outcome);
        }
    }

    /// The scenario's answer to a request for `url`: the first `http`
    /// entry whose URL prefixes it.
    fn http_answer(&self, url: &str) -> Option<crate::scenario::HttpAnswer> {
        self.scenario
            .http
            .iter()
            .find(|h| url.starts_with(&h.url))
            .cloned()
    }

    fn agent_name(&self, agent: usize) -> Option<String> {
        self.scenario
            .agents
            .get(agent)
            .map(|a| short(&a.name).to_string())
    }

    fn finish(self, stop: Stop) -> Run {
        let campaign = self
            .lines
            .first()
            .and_then(|l| l.flow.as_ref())
            .map(|f| f.program.name.clone());
        let mut failures: Vec<Failure> = self
            .seeding
            .iter()
            .map(|problem| Failure {
                expectation: "store".into(),
                expected: "the scenario's records, tickets and relationships stored".into(),
                actual: problem.clone(),
                label: String::new(),
                at: None,
            })
            .collect();
        let directory = &self.suite.directory;
        let unknown_queues: BTreeSet<String> = self
            .scenario
            .agents
            .iter()
            .filter_map(|a| a.queue.clone())
            .chain(self.scenario.queue_full.iter().cloned())
            .filter(|q| !directory.has_queue(q))
            .collect();
        let queues: BTreeSet<&String> = directory.queues.keys().collect();
        for queue in unknown_queues {
            failures.push(Failure {
                expectation: "queue names".into(),
                expected: format!(
                    "a queue declared by a campaign, named as in the dump ({})",
                    list(queues.iter().copied())
                ),
                actual: format!("`{queue}`"),
                label: String::new(),
                at: None,
            });
        }
        for agent in &self.scenario.agents {
            if agent.queue.is_none() && !directory.agents.contains_key(short(&agent.name)) {
                failures.push(Failure {
                    expectation: "agent names".into(),
                    expected: format!(
                        "an agent declared by a campaign ({}), or a `queue` for an agent the flows do not declare",
                        list(directory.agents.keys())
                    ),
                    actual: format!("`{}` with no `queue`", agent.name),
                    label: String::new(),
                    at: None,
                });
            }
        }
        let on_duty: BTreeSet<&str> = self
            .scenario
            .agents
            .iter()
            .map(|a| short(&a.name))
            .collect();
        let preferred = [
            ("last_agent", &self.scenario.last_agent),
            ("record_owner", &self.scenario.record_owner),
        ];
        for (field, agent) in preferred {
            if let Some(agent) = agent
                && !on_duty.contains(short(agent))
            {
                failures.push(Failure {
                    expectation: field.into(),
                    expected: format!(
                        "an agent of the scenario's `agents` ({})",
                        list(self.scenario.agents.iter().map(|a| &a.name))
                    ),
                    actual: format!("`{agent}`"),
                    label: String::new(),
                    at: None,
                });
            }
        }
        let stopped = match stop {
            Stop::Ended => None,
            Stop::NoCampaign(number) => Some(format!("no campaign answers {number}")),
            Stop::Refused(_) if self.scenario.expect.ended == crate::scenario::Ended::Refused => None,
            Stop::Refused(why) => Some(format!("refused: {why}")),
            Stop::NoSurvey(why) => Some(format!("the survey call was refused: {why}")),
            Stop::Stuck => Some("the call did not end: it waits, and nothing more will happen (no timer, no key, no agent)".to_string()),
            Stop::TooManyInputs => Some(format!("the call did not end within {MAX_INPUTS} inputs")),
            Stop::TooLong => Some("the call did not end within 24 hours of virtual time".to_string()),
        };
        if let Some(actual) = stopped {
            failures.push(Failure {
                expectation: "ended".into(),
                expected: self.scenario.expect.ended.word().into(),
                actual,
                label: "the call was here when the simulation stopped".into(),
                at: self.seen.last.clone(),
            });
        } else {
            check(self.scenario, &self.seen, &mut failures);
        }
        Run {
            campaign,
            trace: self.trace,
            failures,
            taken: self.taken,
            events: self.events,
        }
    }
}

/// Who a handoff or ticket went to, in words.
fn routed(team: Option<&String>, users: &[String], owner: Option<&String>) -> String {
    let mut routed = Vec::new();
    if let Some(team) = team {
        routed.push(format!("team {team}"));
    }
    if !users.is_empty() {
        routed.push(format!("users {}", users.join(", ")));
    }
    if let Some(owner) = owner {
        routed.push(format!("owner {owner}"));
    }
    if routed.is_empty() {
        routed.push("nobody assigned".into());
    }
    routed.join(", ")
}

/// The switch of one scenario, as `dialect serve` sets it up: every
/// declared queue (those the scenario says are full take no call); the
/// scenario's agents, logged out until they come on duty, serving the
/// queues their declarations give them plus the scenario's `queue`, with
/// their declared maximum load (1 for an agent the flows do not declare);
/// the wrap-up and ageing rules of the campaign that answers the
/// scenario's number. Returns it with the scenario's agents by ACD name.
fn new_switch(
    suite: &Suite,
    scenario: &Scenario,
    start: Timestamp,
) -> (Switch, HashMap<String, usize>) {
    let mut directory = suite.directory.clone();
    for rules in &mut directory.queue_rules {
        // A full queue is full in every campaign's lane of it too.
        let queue = dialect_acd::directory::Directory::base_queue(&rules.name);
        if scenario.queue_full.iter().any(|q| q == queue) {
            rules.max_size = Some(0);
        }
    }
    let mut routes = Engine::new();
    for flow in &suite.flows {
        routes.install(flow.clone());
    }
    let rules = routes
        .route(&scenario.dialled)
        .and_then(|f| directory.campaigns.get(&f.program.name))
        .map(|c| c.rules.clone())
        .unwrap_or_default();
    let version = Version {
        flows: suite.flows.clone(),
        provenance: Default::default(),
        directory,
        bots: suite.bots.clone(),
    };
    let origin = start
        .checked_add(SignedDuration::from_millis(ACD_ORIGIN))
        .unwrap_or(start);
    let mut switch = Switch::new(version, origin, Some(rules));
    switch.set_tracing(true);
    switch.script_bots(!scenario.bot.is_empty());
    if scenario.bot_paused {
        let names: Vec<String> = suite.bots.names().map(|n| short(n).to_string()).collect();
        switch.bots_mut().paused.extend(names);
    }
    let mut ids = HashMap::new();
    for (i, agent) in scenario.agents.iter().enumerate() {
        let name = short(&agent.name);
        let (mut queues, load) = suite
            .directory
            .agents
            .get(name)
            .cloned()
            .unwrap_or_else(|| (Vec::new(), 1));
        if let Some(queue) = &agent.queue
            && !queues.contains(queue)
        {
            // The scenario's word wins: the agent serves this queue too.
            queues.push(queue.clone());
        }
        let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
        switch.add_agent(name, &queues, load);
        ids.insert(name.to_string(), i);
    }
    (switch, ids)
}

/// A body for the trace: its first 120 characters, on one line.
fn clip(body: &str) -> String {
    let line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    if body.chars().count() > 120 {
        format!("{line}...")
    } else {
        line
    }
}

pub(crate) fn ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A prompt as scenarios name it: the path, or `say:TEXT`.
pub fn prompt_name(prompt: &Prompt) -> String {
    match prompt {
        Prompt::Play { path } => path.clone(),
        Prompt::Say { text, .. } => format!("say:{text}"),
    }
}

fn quoted_prompt(prompt: &Prompt) -> String {
    match prompt {
        Prompt::Play { path } => path.clone(),
        Prompt::Say { text, .. } => format!("say:{text:?}"),
    }
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::Digit(key) => format!("key {key}"),
        Event::PromptFinished => "prompt finished".into(),
        Event::Timer(_) => "timer fired".into(),
        Event::AgentConnected { agent } => format!("agent {agent} answers"),
        Event::BridgeEnded => "the other party hangs up".into(),
        Event::QueueFull => "queue full".into(),
        Event::TransferFailed => "the extension cannot take the call".into(),
        Event::DialResult(outcome) => format!(
            "dial result: {}",
            match outcome {
                DialOutcome::Connected => "connected",
                DialOutcome::Busy => "busy",
                DialOutcome::NoAnswer => "no answer",
                DialOutcome::Failed => "failed",
            }
        ),
        Event::HttpResult { status, .. } => format!("http answer {status}"),
        Event::Identified { records, .. } => format!("identified: {records} record(s)"),
        Event::Verified { ok } => format!("verified: {}", if *ok { "yes" } else { "no" }),
        Event::BotReply(reply) => match reply {
            BotReply::Say(text) => format!("bot says {text:?}"),
            BotReply::Play(prompt) => format!("bot plays {prompt:?}"),
            BotReply::Listen => "bot listens".into(),
            BotReply::Handoff => "bot hands off".into(),
            BotReply::CannotAnswer => "bot cannot answer".into(),
            BotReply::Done => "bot is done".into(),
        },
        Event::Utterance(text) => format!("caller says {text:?}"),
        Event::RecordingFinished => "recording finished".into(),
        Event::HangUp => "caller hangs up".into(),
    }
}
