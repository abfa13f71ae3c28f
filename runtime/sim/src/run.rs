//! The virtual-clock runner: one scenario against a fresh [`Engine`] and a
//! fresh [`Acd`].
//!
//! The runner plays the world around the engine. A queue of pending inputs
//! ordered by virtual time (ties in insertion order) holds the caller's keys,
//! words and hang-up, the ends of prompts, timers, agents coming on duty,
//! answering and hanging up, and the answers of HTTP, the bot, dials and
//! look-ups. Each input goes into the engine; the commands that come out are
//! carried out by scheduling further inputs. Nothing here reads a clock or a
//! file, so a scenario runs in microseconds and always the same way.
//!
//! Queued calls go into the real ACD core (`dialect-acd`), set up from the
//! declarations as `dialect serve` sets it up (see the `directory` module):
//! an `Enqueue` becomes [`Acd::enqueue`] with the engine's priority plus the
//! campaign's, the inbound channel's and the queue's; an [`Action::Offer`]
//! rings the scenario's agent, who answers after `answer_after`
//! ([`Acd::answered`], `AgentConnected` to the engine) and hangs up after
//! `talk` ([`Acd::ended`]: wrap-up; `BridgeEnded` to the engine); a
//! `Dequeue` or the caller's hang-up is [`Acd::remove`]; a withdrawn offer
//! (RONA) tells the engine nothing: the call waits on. The ACD's deadlines
//! (ring time, wrap-up, maximum wait, ageing, reservations) are inputs like
//! the others, taken after the inputs of the same instant, so an agent who
//! answers exactly at the end of the ring time still answers.
//!
//! Bot turns are answered by the real customer agent (`dialect-bot`), as
//! under `dialect serve`, unless the scenario scripts the replies (`bot`):
//! each call holds a [`Conversation`] with the bot of its campaign (the
//! knowledge bases were read when the [`Suite`] was set up), its steps
//! become the engine's [`BotReply`]s exactly as in the server, an external
//! bot's requests get the scenario's `bot_http` answers (through
//! [`parse_response`], so garbage is refused as in production), and a
//! handoff is routed by one [`Router`] per scenario (shared by its calls,
//! so the others' handoffs advance the owner rotation), with the handoff's
//! message and, for an asynchronous or unassigned handoff, a ticket.

use crate::scenario::{BotHttp, Ended, HandoffExpect, Route, Scenario, Scheduled, SurveyExpect};
use dialect_acd::directory::{Directory, short};
use dialect_acd::{Acd, Action, Millis, Preferred, Request, State};
use dialect_bot::{
    BotConfig, BotRequest, BotResponse, Channel, Conversation, KnowledgeBase, Mode, ProtocolError,
    Reason, RequestContext, Router, Step, TicketFacts, parse_response,
};
use dialect_bytecode::{NodeId, Op, Program, Prompt};
use dialect_compiler::source::Sources;
use dialect_engine::{
    BotReply, CallId, Command, DialOutcome, Emitted, Engine, Event, Flow, Outcome, TimerId,
};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Most inputs one scenario may process before it is stopped.
pub const MAX_INPUTS: usize = 10_000;

/// Longest virtual time a scenario may run (ms): 24 hours.
pub const MAX_TIME_MS: i64 = 24 * 3_600_000;

/// How long a dialled number or a transferred extension talks (ms).
pub const BRIDGE_MS: i64 = 60_000;

/// How long a voicemail recording takes (ms).
pub const RECORDING_MS: i64 = 5_000;

/// The compiled campaigns every scenario runs against, loaded the way the
/// runtime loads them, with the text of their source files for diagnostics.
#[derive(Debug)]
pub struct Suite {
    flows: Vec<Arc<Flow>>,
    files: BTreeMap<String, FlowFile>,
    directory: Directory,
    /// The customer agents by (campaign, bot's qualified name), with
    /// their knowledge bases.
    bots: HashMap<(String, String), CustomerAgent>,
}

/// A customer agent of a campaign: its configuration and the knowledge
/// base it answers from.
type CustomerAgent = (Arc<BotConfig>, Option<Arc<KnowledgeBase>>);

/// A flow source file: where it is and what it says.
#[derive(Clone, Debug)]
pub struct FlowFile {
    /// Its path, as given to the compiler.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// A compiled program that cannot be run: its artifact does not load, or
/// the engine refuses it. Either is a bug of the compiler, not of the flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteError {
    /// The campaign.
    pub campaign: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign `{}` cannot run: {}",
            self.campaign, self.message
        )
    }
}

impl std::error::Error for SuiteError {}

impl Suite {
    /// Encodes every program into an artifact, loads it back (hash and
    /// verification included) and prepares it for the engine, so scenarios
    /// exercise exactly what the runtime would execute. `sources` are the
    /// compilation's files, looked up by their stable names. Every bot's
    /// knowledge base is read here, relative to the flows' directory (the
    /// build root its stable name is relative to), through
    /// [`scenario::read_knowledge_base`](crate::scenario::read_knowledge_base);
    /// one that cannot be read or is broken is an error naming the file and
    /// the bot.
    pub fn new(programs: &[Program], sources: &Sources) -> Result<Suite, SuiteError> {
        let mut flows = Vec::new();
        for program in programs {
            let error = |message: String| SuiteError {
                campaign: program.name.clone(),
                message,
            };
            let bytes = dialect_bytecode::encode(program);
            let loaded = dialect_bytecode::load(&bytes)
                .map_err(|e| error(format!("its artifact does not load: {e}")))?;
            let flow = Flow::new(loaded).map_err(|e| error(e.to_string()))?;
            flows.push(Arc::new(flow));
        }
        let files = sources
            .files
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    FlowFile {
                        path: f.path.display().to_string(),
                        text: f.text.clone(),
                    },
                )
            })
            .collect();
        let directory = Directory::new(flows.iter().map(|f| &f.program));
        let mut bots = HashMap::new();
        // By path: two flow directories may each have their `kb/faq.toml`.
        let mut knowledge: HashMap<PathBuf, Arc<KnowledgeBase>> = HashMap::new();
        for flow in &flows {
            let program = &flow.program;
            for decl in program.decls.iter().filter(|d| d.kind == "bot") {
                let Some(config) = BotConfig::from_program(program, &decl.name) else {
                    continue;
                };
                let kb = match &config.knowledge {
                    None => None,
                    Some(file) => {
                        let error = |why: String| SuiteError {
                            campaign: program.name.clone(),
                            message: format!("the knowledge base of bot `{}` {why}", decl.name),
                        };
                        let path = knowledge_path(sources, program, file).ok_or_else(|| {
                            error(format!(
                                "(`{file}`) cannot be found: no source file of the campaign tells where the flows' directory is"
                            ))
                        })?;
                        let kb = match knowledge.get(&path) {
                            Some(kb) => kb.clone(),
                            None => {
                                let kb =
                                    crate::scenario::read_knowledge_base(&path).map_err(|why| {
                                        error(format!("(`{}`) {why}", path.display()))
                                    })?;
                                let kb = Arc::new(kb);
                                knowledge.insert(path, kb.clone());
                                kb
                            }
                        };
                        Some(kb)
                    }
                };
                bots.insert(
                    (program.name.clone(), decl.name.clone()),
                    (Arc::new(config), kb),
                );
            }
        }
        Ok(Suite {
            flows,
            files,
            directory,
            bots,
        })
    }

    /// A new conversation with the bot `bot` (qualified, as in the `bot`
    /// block) of `campaign`, with its knowledge base; `None` when the
    /// campaign has no such bot.
    pub fn conversation(
        &self,
        campaign: &str,
        bot: &str,
        channel: Channel,
    ) -> Option<Conversation> {
        let (config, kb) = self.bots.get(&(campaign.to_string(), bot.to_string()))?;
        Some(Conversation::new(config.clone(), kb.clone(), channel))
    }

    /// The campaigns, in compilation order.
    pub fn flows(&self) -> &[Arc<Flow>] {
        &self.flows
    }

    /// A source file by its stable name (`scheme1.flow`, `std/hours.flow`).
    pub fn file(&self, name: &str) -> Option<&FlowFile> {
        self.files.get(name)
    }

    /// The place of a node of a program, for traces and diagnostics.
    pub fn place(&self, program: &Program, node: NodeId) -> Option<Place> {
        let n = program.nodes.get(node as usize)?;
        let file = program.sources.get(n.origin.file as usize)?.clone();
        let path = self
            .files
            .get(&file)
            .map_or_else(|| file.clone(), |f| f.path.clone());
        Some(Place {
            campaign: program.name.clone(),
            node,
            block: n.op.keyword(),
            file,
            path,
            line: n.origin.line,
            start: n.origin.start,
            end: n.origin.end,
        })
    }
}

/// Where in a flow something happened: a node and its block's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The campaign.
    pub campaign: String,
    /// The node.
    pub node: NodeId,
    /// The block's keyword.
    pub block: &'static str,
    /// The file's stable name (`scheme2.flow`).
    pub file: String,
    /// The file's path as given to the compiler (`flows/scheme2.flow`).
    pub path: String,
    /// 1-based line of the block's head.
    pub line: u32,
    /// Byte offset of the block's head.
    pub start: u32,
    /// End of the head.
    pub end: u32,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} node {}", self.path, self.line, self.node)
    }
}

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
        /// The call's ACD id.
        acd: AcdCall,
    },
    /// An agent ends the conversation.
    AgentHangsUp {
        /// The call's line.
        call: usize,
        /// The call's ACD id.
        acd: AcdCall,
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

/// A call's id in the ACD: a new one for every `Enqueue`.
type AcdCall = dialect_acd::CallId;

/// The simulated time the ACD's clock starts at (ms): the others arrive
/// 1 ms before the scenario's call, and the ACD counts from 0.
const ACD_ORIGIN: i64 = -1;

type Key = (i64, u64);

/// One simulated call: the scenario's own (index 0) or one of the others.
#[derive(Default)]
struct Line {
    id: Option<CallId>,
    flow: Option<Arc<Flow>>,
    alive: bool,
    prompt: Option<Key>,
    timers: HashMap<TimerId, Key>,
    bot_turns: usize,
    /// The call's id in the ACD while it is queued, ringing or talking.
    acd: Option<AcdCall>,
    /// The conversation with the real customer agent (no scripted `bot`).
    conversation: Option<Conversation>,
    /// The `bot` node of the last bot turn.
    bot_node: Option<NodeId>,
    /// Requests sent to an external bot so far; an answer to an older one
    /// is dropped.
    bot_requests: u64,
}

/// Why the simulation stopped.
enum Stop {
    Ended,
    NoCampaign(String),
    /// The engine refused the survey call.
    NoSurvey(String),
    Stuck,
    TooManyInputs,
    TooLong,
}

/// What was observed of the scenario's call.
#[derive(Default)]
struct Seen {
    prompts: Vec<(String, Option<Place>)>,
    queues: Vec<(String, Option<Place>)>,
    connected: Option<Option<Place>>,
    connected_at: Option<i64>,
    agent: Option<String>,
    dials: Vec<(String, Option<Place>)>,
    transfers: Vec<(String, Option<Place>)>,
    record: Option<Option<Place>>,
    callback: Option<Option<Place>>,
    no_survey: Option<Option<Place>>,
    /// The survey that ran, and where the call was when it started.
    survey: Option<(String, Option<Place>)>,
    /// Its answers: question, answer (`None`: unanswered), where.
    answers: Vec<(String, Option<String>, Option<Place>)>,
    /// The outbound survey scheduled at the end: its delay, where.
    scheduled: Option<(u64, Option<Place>)>,
    vars: BTreeMap<String, String>,
    ended: Option<(Outcome, i64, Option<Place>)>,
    last: Option<Place>,
    /// What the customer agent said, where.
    bot_said: Vec<(String, Option<Place>)>,
    /// The first handoff, where.
    handoff: Option<(Handoff, Option<Place>)>,
    /// Where the first ticket was opened.
    ticket: Option<Option<Place>>,
}

/// A handoff of the scenario's call.
#[derive(Clone, Debug, Default)]
struct Handoff {
    /// Why; `None` for a scripted `handoff` reply.
    reason: Option<Reason>,
    /// Where the router sent it.
    team: Option<String>,
    users: Vec<String>,
    owner: Option<String>,
}

struct Sim<'a> {
    suite: &'a Suite,
    scenario: &'a Scenario,
    engine: Engine,
    start: Timestamp,
    now: i64,
    seq: u64,
    pending: BTreeMap<Key, Input>,
    lines: Vec<Line>,
    ids: HashMap<CallId, usize>,
    acd: Acd,
    /// ACD ids and their lines.
    acd_lines: HashMap<AcdCall, usize>,
    next_acd: AcdCall,
    /// The scenario's agents by their ACD name.
    agent_ids: HashMap<String, usize>,
    /// The pending answer of each ringing offer.
    answers: HashMap<AcdCall, Key>,
    trace: Vec<TraceLine>,
    taken: Vec<(NodeId, u32)>,
    seen: Seen,
    /// Routes the handoffs of every call of the scenario.
    router: Router,
}

/// The scenario's own call; the others follow it.
const SUBJECT: usize = 0;

impl<'a> Sim<'a> {
    fn new(suite: &'a Suite, scenario: &'a Scenario) -> Sim<'a> {
        let mut engine = Engine::new();
        engine.set_tracing(true);
        for flow in &suite.flows {
            engine.install(flow.clone());
        }
        let (acd, agent_ids) = new_acd(suite, scenario, &engine);
        let mut sim = Sim {
            suite,
            scenario,
            engine,
            start: scenario.start.timestamp(),
            // The others arrive before the start; the first input sets the clock.
            now: i64::MIN,
            seq: 0,
            pending: BTreeMap::new(),
            lines: Vec::new(),
            ids: HashMap::new(),
            acd,
            acd_lines: HashMap::new(),
            next_acd: 0,
            agent_ids,
            answers: HashMap::new(),
            trace: Vec::new(),
            taken: Vec::new(),
            seen: Seen::default(),
            router: Router::new(),
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

    /// The ACD's time for a simulated time.
    fn acd_ms(at: i64) -> Millis {
        u64::try_from(at.saturating_sub(ACD_ORIGIN)).unwrap_or(0)
    }

    /// The ACD's clock now.
    fn acd_now(&self) -> Millis {
        Self::acd_ms(self.now)
    }

    fn simulate(&mut self) -> Stop {
        let mut inputs = 0;
        loop {
            let next = self.pending.first_key_value().map(|(key, _)| key.0);
            // The ACD's next deadline, taken after the inputs of its instant.
            let deadline = self.acd.poll_timeout().map(|at| {
                i64::try_from(at)
                    .unwrap_or(i64::MAX)
                    .saturating_add(ACD_ORIGIN)
            });
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
            inputs += 1;
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
                    self.acd.handle_timeout(self.acd_now());
                    self.drive_acd();
                }
            }
            self.drain();
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
        match input {
            Input::Arrive(call) => {
                let now = self.timestamp(self.now);
                let caller = if call == SUBJECT {
                    &self.scenario.caller
                } else {
                    &self.scenario.others_caller
                };
                let dialled = &self.scenario.dialled;
                // The flow the call will run, read before the call starts: a
                // call that ends at once (closed, hung up) is gone afterwards.
                let flow = self.engine.route(dialled).cloned();
                if call == SUBJECT
                    && let Some(flow) = &flow
                {
                    self.seen.last = self.suite.place(&flow.program, flow.program.entry);
                }
                if let Some(line) = self.lines.get_mut(call) {
                    line.flow = flow;
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
                        self.engine.handle_survey(dialled, survey, caller, now)
                    }
                    None => {
                        self.note(call, format!("call from {caller} to {dialled}"));
                        self.engine.handle_call(caller, dialled, now)
                    }
                };
                match started {
                    Ok(id) => {
                        self.ids.insert(id, call);
                        if let Some(line) = self.lines.get_mut(call) {
                            line.id = Some(id);
                            line.alive = true;
                        }
                    }
                    Err(dialect_engine::Refused::UnknownSurvey { campaign, survey })
                        if call == SUBJECT =>
                    {
                        return Some(Stop::NoSurvey(format!(
                            "campaign `{campaign}` has no survey `{survey}`"
                        )));
                    }
                    Err(_) if call == SUBJECT => {
                        return Some(Stop::NoCampaign(dialled.clone()));
                    }
                    Err(_) => {}
                }
            }
            Input::Event(call, event) => self.deliver(call, event),
            Input::AgentOn(agent) => {
                let name = self.agent_name(agent)?;
                let now = self.acd_now();
                self.acd.login(&name, now);
                self.acd.set_ready(&name, now);
                self.drive_acd();
            }
            Input::AgentAnswers { agent, call, acd } => {
                self.answers.remove(&acd);
                if self.acd.answered(acd, self.acd_now()) {
                    let talk = self.scenario.agents.get(agent).map_or(0, |a| ms(a.talk));
                    self.schedule(
                        self.now.saturating_add(talk),
                        Input::AgentHangsUp { call, acd },
                    );
                    let name = self.agent_name(agent).unwrap_or_default();
                    if call == SUBJECT {
                        let queued = self.seen.queues.last().and_then(|q| q.1.clone());
                        self.seen.connected.get_or_insert(queued);
                        self.seen.connected_at.get_or_insert(self.now);
                        self.seen.agent.get_or_insert(name.clone());
                    }
                    self.deliver(call, Event::AgentConnected { agent: name });
                }
            }
            Input::AgentHangsUp { call, acd } => {
                if let Some(line) = self.lines.get_mut(call)
                    && line.acd == Some(acd)
                {
                    line.acd = None;
                }
                self.acd_lines.remove(&acd);
                // Wrap-up starts; the agent may be offered the next call
                // once it is over (at once without wrap-up time).
                self.acd.ended(acd, self.acd_now());
                self.drive_acd();
                self.deliver(call, Event::BridgeEnded);
            }
            Input::BotAnswer {
                call,
                request,
                turn,
                result,
                shown,
            } => self.bot_answer(call, request, turn, result, &shown),
        }
        None
    }

    fn deliver(&mut self, call: usize, event: Event) {
        let Some(line) = self.lines.get_mut(call) else {
            return;
        };
        let Some(id) = line.id.filter(|_| line.alive) else {
            return;
        };
        match &event {
            Event::PromptFinished => line.prompt = None,
            Event::Timer(timer) => {
                line.timers.remove(timer);
            }
            _ => {}
        }
        let text = describe_event(&event);
        self.note(call, text);
        let now = self.timestamp(self.now);
        // The call may have ended meanwhile; the engine says so and nothing changes.
        let _ = self.engine.handle_event(id, event, now);
    }

    /// Records the steps of the scenario's call, and carries out every
    /// command the engine issued. Steps first: they happened before the
    /// last command (a hang-up) was issued.
    fn drain(&mut self) {
        let subject = self.lines.first().and_then(|l| l.id);
        while let Some(step) = self.engine.poll_step() {
            if Some(step.call) != subject {
                continue;
            }
            self.taken.push((step.node, step.exit));
            let Some(flow) = self.lines.first().and_then(|l| l.flow.clone()) else {
                continue;
            };
            if let Some(node) = flow.program.nodes.get(step.node as usize) {
                if matches!(node.op, Op::NoSurvey) && self.seen.no_survey.is_none() {
                    self.seen.no_survey = Some(self.suite.place(&flow.program, step.node));
                }
                if let Some((_, target)) = node.exits.get(step.exit as usize) {
                    self.seen.last = self.suite.place(&flow.program, *target);
                }
            }
        }
        while let Some(emitted) = self.engine.poll_command() {
            let Some(&call) = self.ids.get(&emitted.call) else {
                continue;
            };
            if call == SUBJECT {
                self.record(&emitted);
            }
            self.carry_out(call, emitted.node, emitted.command);
        }
    }

    /// Reads what can only be read while the call is alive.
    fn observe(&mut self) {
        let Some(id) = self.lines.first().filter(|l| l.alive).and_then(|l| l.id) else {
            return;
        };
        if let Some((true, _)) = self.engine.flags_of(id) {
            let last = self.seen.last.clone();
            self.seen.no_survey.get_or_insert(last);
        }
        if self.seen.survey.is_none()
            && let Some(survey) = self.engine.survey_of(id)
        {
            self.seen.survey = Some((survey.to_string(), self.seen.last.clone()));
        }
        for name in self.scenario.expect.vars.keys() {
            if let Some(value) = self.engine.var_of(id, name) {
                self.seen.vars.insert(name.clone(), value);
            }
        }
    }

    /// Traces a command of the scenario's call and notes what it means for
    /// the expectations.
    fn record(&mut self, emitted: &Emitted) {
        let place = self
            .lines
            .first()
            .and_then(|l| l.flow.as_ref())
            .and_then(|f| self.suite.place(&f.program, emitted.node));
        let seen = &mut self.seen;
        let text = match &emitted.command {
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
            Command::Enqueue { queue, priority } => {
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
                seen.connected.get_or_insert(place.clone());
                seen.connected_at.get_or_insert(self.now);
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
                    self.taken.push((emitted.node, 0));
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

    fn carry_out(&mut self, call: usize, node: NodeId, command: Command) {
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
            Command::StartTimer { timer, at } => {
                let at =
                    i64::try_from(at.duration_since(self.start).as_millis()).unwrap_or(i64::MAX);
                let key = self.schedule(at, Input::Event(call, Event::Timer(timer)));
                if let Some(line) = self.lines.get_mut(call) {
                    line.timers.insert(timer, key);
                }
            }
            Command::CancelTimer { timer } => {
                if let Some(key) = self
                    .lines
                    .get_mut(call)
                    .and_then(|l| l.timers.remove(&timer))
                {
                    self.pending.remove(&key);
                }
            }
            Command::Enqueue { queue, priority } => {
                if self.scenario.queue_full.contains(&queue) {
                    self.schedule(now, Input::Event(call, Event::QueueFull));
                } else {
                    self.enqueue(call, queue, priority);
                }
            }
            Command::Dequeue { .. } => self.leave_acd(call),
            Command::Transfer { .. } => {
                self.schedule(now + BRIDGE_MS, Input::Event(call, Event::BridgeEnded));
            }
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
            Command::Identify { .. } => {
                let records = self.scenario.records;
                self.schedule(now, Input::Event(call, Event::Identified { records }));
            }
            Command::Authorise { .. } | Command::LookupTicket { .. } => {
                let ok = self.scenario.verified;
                self.schedule(now, Input::Event(call, Event::Verified { ok }));
            }
            Command::Http { request, url, .. } => {
                let answer = self
                    .scenario
                    .http
                    .iter()
                    .find(|h| url.starts_with(&h.url))
                    .cloned();
                if let Some(answer) = answer {
                    let event = Event::HttpResult {
                        request,
                        status: answer.status,
                        body: answer.body,
                    };
                    self.schedule(now + ms(answer.after), Input::Event(call, event));
                }
            }
            Command::BotTurn { bot, utterance } => {
                if let Some(line) = self.lines.get_mut(call) {
                    line.bot_node = Some(node);
                }
                let reply = if self.scenario.bot.is_empty() {
                    self.bot_turn(call, &bot, utterance)
                } else {
                    Some(self.scripted_turn(call))
                };
                if let Some(reply) = reply {
                    self.schedule(now, Input::Event(call, Event::BotReply(reply)));
                }
            }
            Command::Ended(_) => self.hang_up(call),
            // Noted for the expectations by `record`; nothing to answer.
            Command::Answer
            | Command::RegisterCallback { .. }
            | Command::SurveyAnswer { .. }
            | Command::SurveyDone { .. }
            | Command::ScheduleSurvey { .. }
            | Command::Hangup => {}
        }
    }

    /// The next scripted reply of `bot` (`done` once the list is used up).
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

    /// A bot turn answered by the real customer agent, as `dialect serve`
    /// answers it: the first turn starts a new conversation with the bot
    /// of the call's campaign, an utterance goes to the conversation.
    /// `None` when the answer comes later (an external bot's request).
    fn bot_turn(&mut self, call: usize, bot: &str, utterance: Option<String>) -> Option<BotReply> {
        let paused = self.scenario.bot_paused;
        let step = match utterance {
            None => {
                let campaign = self
                    .lines
                    .get(call)
                    .and_then(|l| l.flow.as_ref())
                    .map(|f| f.program.name.clone())
                    .unwrap_or_default();
                let channel = if call == SUBJECT {
                    self.scenario.channel
                } else {
                    Channel::Voice
                };
                let Some(conversation) = self.suite.conversation(&campaign, bot, channel) else {
                    self.note(
                        call,
                        format!("campaign {campaign} has no customer agent {bot}: it cannot take the call"),
                    );
                    return Some(BotReply::CannotAnswer);
                };
                let context = RequestContext {
                    campaign,
                    caller: self.caller_of(call).to_string(),
                    variables: BTreeMap::new(),
                };
                let mut conversation = conversation.with_context(format!("call-{call}"), context);
                let step = conversation.first_turn();
                if let Some(line) = self.lines.get_mut(call) {
                    line.conversation = Some(conversation);
                }
                step
            }
            Some(text) => {
                let Some(conversation) = self
                    .lines
                    .get_mut(call)
                    .and_then(|l| l.conversation.as_mut())
                else {
                    return Some(BotReply::CannotAnswer);
                };
                conversation.on_utterance(&text, paused)
            }
        };
        self.bot_step(call, step)
    }

    /// Carries out one step of a conversation, as the server's `bot_step`
    /// does; returns the reply for the engine, `None` for a request to an
    /// external bot (its answer comes later).
    fn bot_step(&mut self, call: usize, step: Step) -> Option<BotReply> {
        match step {
            Step::Say { text, .. } | Step::Play(Prompt::Say { text, .. }) => {
                if call == SUBJECT {
                    let place = self.bot_place(call);
                    self.seen.bot_said.push((text.clone(), place));
                }
                Some(BotReply::Say(text))
            }
            Step::Play(prompt) => Some(BotReply::Play(prompt)),
            Step::AskBot(request) => {
                self.ask_bot(call, &request);
                None
            }
            Step::Listen => Some(BotReply::Listen),
            Step::Handoff { reason } => {
                self.handoff(call, reason);
                Some(BotReply::Handoff)
            }
            Step::CannotTakeCall { why } => {
                self.note(
                    call,
                    format!("the customer agent cannot take the call: {why}"),
                );
                Some(BotReply::CannotAnswer)
            }
            Step::Done => Some(BotReply::Done),
        }
    }

    /// Sends a request to the external bot: its answer is the scenario's
    /// next `bot_http`, read by `parse_response` as the server reads an
    /// HTTP reply; a reply slower than the bot's `timeout`, or a
    /// `timeout`, is a timeout at the bot's `timeout`; no answer left is an
    /// unreachable bot.
    fn ask_bot(&mut self, call: usize, request: &BotRequest) {
        let Some(line) = self.lines.get_mut(call) else {
            return;
        };
        let (endpoint, timeout) = line.conversation.as_ref().map_or_else(
            || (String::new(), dialect_bot::DEFAULT_TIMEOUT_MS),
            |c| {
                (
                    c.config().endpoint.clone().unwrap_or_default(),
                    c.config().timeout_ms,
                )
            },
        );
        line.bot_requests += 1;
        let number = line.bot_requests;
        // Each call reads `bot_http` from its start.
        let index = usize::try_from(number - 1).unwrap_or(usize::MAX);
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
        let what = match (&request.utterance, &request.keys) {
            (Some(u), _) => format!("turn {} {u:?}", request.turn),
            (None, Some(k)) => format!("turn {} keys {k}", request.turn),
            (None, None) => format!("turn {} (opening)", request.turn),
        };
        self.note(call, format!("request to the bot at {endpoint}: {what}"));
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

    /// The external bot's answer: to the conversation, then its step to
    /// the engine. An answer to an older request, or one that comes when
    /// the call has left the bot (the engine gave up waiting), is dropped.
    fn bot_answer(
        &mut self,
        call: usize,
        request: u64,
        turn: u32,
        result: Result<BotResponse, ProtocolError>,
        shown: &str,
    ) {
        let Some(line) = self.lines.get(call) else {
            return;
        };
        let at_bot = line
            .id
            .filter(|_| line.alive)
            .and_then(|id| self.engine.node_of(id))
            .is_some_and(|node| Some(node) == line.bot_node);
        let awaited = line.bot_requests == request
            && line
                .conversation
                .as_ref()
                .is_some_and(|c| c.awaiting() == Some(turn));
        if !(at_bot && awaited) {
            self.note(call, format!("the bot's late answer is dropped: {shown}"));
            return;
        }
        self.note(call, format!("the bot answers: {shown}"));
        let Some(step) = self
            .lines
            .get_mut(call)
            .and_then(|l| l.conversation.as_mut())
            .map(|c| c.on_bot_response(result))
        else {
            return;
        };
        if let Some(reply) = self.bot_step(call, step) {
            self.deliver(call, Event::BotReply(reply));
        }
    }

    /// A handoff, as the server carries it out: routed by the handoff's
    /// rules (the ticket's facts: channel, language, caller, the reason's
    /// code, what the caller said last), the message for the caller (is
    /// anyone the handoff goes to available in the ACD?), and a ticket when
    /// the handoff is asynchronous or nobody was assigned.
    fn handoff(&mut self, call: usize, reason: Reason) {
        let Some(conversation) = self.lines.get(call).and_then(|l| l.conversation.as_ref()) else {
            return;
        };
        let rules = conversation.config().handoff.clone();
        let facts = TicketFacts::of(
            conversation,
            conversation.channel().as_str(),
            self.caller_of(call),
            reason.code(),
        );
        let directory = &self.suite.directory;
        let members =
            |team: &str| -> Vec<String> { directory.teams.get(team).cloned().unwrap_or_default() };
        let acd = &self.acd;
        let decided = self.router.handoff(&rules, &facts, &members, &|agent| {
            matches!(acd.state(short(agent)), Some(State::Available { .. }))
        });
        let (assignment, available, ticket, message) = (
            decided.assignment,
            decided.available,
            decided.ticket,
            decided.message,
        );
        let mode = match rules.mode {
            Mode::Live => "live",
            Mode::Async => "async",
            Mode::None => "none",
        };
        let mut routed = Vec::new();
        if let Some(team) = &assignment.team {
            routed.push(format!("team {team}"));
        }
        if !assignment.users.is_empty() {
            routed.push(format!("users {}", assignment.users.join(", ")));
        }
        if let Some(owner) = &assignment.owner {
            routed.push(format!("owner {owner}"));
        }
        if routed.is_empty() {
            routed.push("nobody assigned".into());
        }
        let availability = if available {
            "an agent is available"
        } else {
            "nobody is available"
        };
        self.note(
            call,
            format!(
                "handoff ({}): {reason}; mode {mode}; {}; {availability}",
                reason.code(),
                routed.join(", ")
            ),
        );
        for warning in &assignment.warnings {
            self.note(call, format!("handoff rule failed: {warning}"));
        }
        if ticket {
            self.note(call, format!("ticket opened: {}", routed.join(", ")));
        }
        let place = self.bot_place(call);
        if let Some(message) = &message {
            self.note(call, format!("handoff message {}", quoted_prompt(message)));
            if call == SUBJECT {
                self.seen
                    .prompts
                    .push((prompt_name(message), place.clone()));
            }
        }
        if call == SUBJECT {
            if ticket {
                self.seen.ticket.get_or_insert(place.clone());
            }
            let seen = Handoff {
                reason: Some(reason),
                team: assignment.team,
                users: assignment.users,
                owner: assignment.owner,
            };
            self.seen.handoff.get_or_insert((seen, place));
        }
    }

    /// The caller number of a line.
    fn caller_of(&self, call: usize) -> &str {
        if call == SUBJECT {
            &self.scenario.caller
        } else {
            &self.scenario.others_caller
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

    /// A call is over: forget everything pending for it, and take it out
    /// of the ACD (an agent talking to it starts wrap-up).
    fn hang_up(&mut self, call: usize) {
        if let Some(line) = self.lines.get_mut(call) {
            line.alive = false;
            line.prompt = None;
            line.timers.clear();
        }
        self.pending.retain(|_, input| input.call() != Some(call));
        if let Some(acd) = self.lines.get_mut(call).and_then(|l| l.acd.take()) {
            self.answers.remove(&acd);
            self.acd_lines.remove(&acd);
            self.acd.ended(acd, self.acd_now());
            self.drive_acd();
        }
    }

    /// The scenario agent's name in the ACD: a declared agent's last name
    /// part.
    fn agent_name(&self, agent: usize) -> Option<String> {
        self.scenario
            .agents
            .get(agent)
            .map(|a| short(&a.name).to_string())
    }

    /// A `queue` block: the call waits in the ACD with its priority (the
    /// flow's, plus the campaign's, the inbound channel's and the queue's),
    /// reserved first for the owner of the caller's private record or the
    /// caller's last agent when the campaign says so. A queue the ACD
    /// refuses (its maximum size) answers "full".
    fn enqueue(&mut self, call: usize, queue: String, priority: i32) {
        // A call is in the ACD once; a stale entry goes first.
        self.leave_acd(call);
        let campaign = self
            .lines
            .get(call)
            .and_then(|l| l.flow.as_ref())
            .and_then(|f| self.suite.directory.campaigns.get(&f.program.name));
        let total = i64::from(priority)
            + campaign.map_or(0, |c| c.priority)
            + self
                .suite
                .directory
                .queues
                .get(&queue)
                .map_or(0, |q| q.priority);
        let now = self.acd_now();
        let preferred = if call == SUBJECT {
            campaign.and_then(|c| {
                let owner = c
                    .private_ms
                    .zip(self.scenario.record_owner.as_ref())
                    .map(|(ms, agent)| (agent, ms));
                let last = c
                    .sticky_ms
                    .zip(self.scenario.last_agent.as_ref())
                    .map(|(ms, agent)| (agent, ms));
                owner.or(last).map(|(agent, window)| Preferred {
                    agent: short(agent).to_string(),
                    until: now.saturating_add(window),
                })
            })
        } else {
            None
        };
        if let Some(p) = &preferred {
            self.note(
                call,
                format!(
                    "reserved for agent {} for {}",
                    p.agent,
                    dialect_compiler::diagnostic::human_ms(p.until.saturating_sub(now))
                ),
            );
        }
        let id = self.next_acd;
        self.next_acd += 1;
        let request = Request {
            queue,
            priority: total,
            preferred,
        };
        match self.acd.enqueue(id, request, now) {
            Ok(()) => {
                self.acd_lines.insert(id, call);
                if let Some(line) = self.lines.get_mut(call) {
                    line.acd = Some(id);
                }
                self.drive_acd();
            }
            Err(refused) => {
                self.note(call, format!("the ACD refuses the call: {refused}"));
                self.schedule(self.now, Input::Event(call, Event::QueueFull));
            }
        }
    }

    /// The call leaves the ACD (the flow's timeout, or a new `Enqueue`): an
    /// agent ringing for it is free again.
    fn leave_acd(&mut self, call: usize) {
        let Some(acd) = self.lines.get_mut(call).and_then(|l| l.acd.take()) else {
            return;
        };
        if let Some(key) = self.answers.remove(&acd) {
            self.pending.remove(&key);
        }
        self.acd_lines.remove(&acd);
        self.acd.remove(acd, self.acd_now());
        self.drive_acd();
    }

    /// Carries out what the ACD decided: offers ring agents (who answer
    /// after `answer_after`, if they answer), withdrawn offers (RONA) stop
    /// ringing and leave the call waiting; overflows and time-outs are noted.
    fn drive_acd(&mut self) {
        while let Some(action) = self.acd.poll_action() {
            match action {
                Action::Offer { call: acd, agent } => {
                    let Some(&call) = self.acd_lines.get(&acd) else {
                        continue;
                    };
                    self.note(call, format!("agent {agent} is ringing"));
                    let Some(&index) = self.agent_ids.get(&agent) else {
                        continue;
                    };
                    let Some(a) = self.scenario.agents.get(index) else {
                        continue;
                    };
                    if a.answers {
                        let at = self.now.saturating_add(ms(a.answer_after));
                        let key = self.schedule(
                            at,
                            Input::AgentAnswers {
                                agent: index,
                                call,
                                acd,
                            },
                        );
                        self.answers.insert(acd, key);
                    }
                }
                Action::Withdraw { call: acd, agent } => {
                    if let Some(key) = self.answers.remove(&acd) {
                        self.pending.remove(&key);
                    }
                    if let Some(&call) = self.acd_lines.get(&acd) {
                        self.note(
                            call,
                            format!("RONA: agent {agent} did not answer within the ring time; the call keeps its place"),
                        );
                    }
                }
                Action::Overflowed {
                    call: acd,
                    from,
                    to,
                } => {
                    if let Some(&call) = self.acd_lines.get(&acd) {
                        self.note(call, format!("max wait of {from} over: overflows to {to}"));
                    }
                }
                Action::TimedOut { call: acd, queue } => {
                    if let Some(&call) = self.acd_lines.get(&acd) {
                        self.note(
                            call,
                            format!(
                                "max wait of {queue} over: out of the ACD, the flow's timer decides"
                            ),
                        );
                        if let Some(line) = self.lines.get_mut(call) {
                            line.acd = None;
                        }
                    }
                    self.acd_lines.remove(&acd);
                }
            }
        }
    }

    /// Checks the expectations against what happened.
    fn finish(self, stop: Stop) -> Run {
        let campaign = self
            .lines
            .first()
            .and_then(|l| l.flow.as_ref())
            .map(|f| f.program.name.clone());
        let mut failures = Vec::new();
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
        }
    }
}

/// The ACD of one scenario: every declared queue; the scenario's agents,
/// logged out until they come on duty, serving the queues their
/// declarations give them plus the scenario's `queue`, with their declared
/// maximum load (1 for an agent the flows do not declare); the wrap-up and
/// ageing rules of the campaign that answers the scenario's number. Returns
/// it with the scenario's agents by ACD name.
fn new_acd(suite: &Suite, scenario: &Scenario, engine: &Engine) -> (Acd, HashMap<String, usize>) {
    let rules = engine
        .route(&scenario.dialled)
        .and_then(|f| suite.directory.campaigns.get(&f.program.name))
        .map(|c| c.rules.clone())
        .unwrap_or_default();
    let mut acd = Acd::new(rules);
    for queue in &suite.directory.queue_rules {
        acd.add_queue(queue.clone());
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
        acd.add_agent(name, &queues, load);
        ids.insert(name.to_string(), i);
    }
    (acd, ids)
}

/// Where a data file named by a program (a stable name such as
/// `kb/faq.toml`, relative to the build root, or `std/...`, relative to the
/// standard library) is on disk: the path of one of the compilation's
/// source files without the parts of its stable name, joined with the
/// file's name. The campaign's own files are tried first.
fn knowledge_path(sources: &Sources, program: &Program, file: &str) -> Option<PathBuf> {
    let in_std = file.starts_with("std/");
    let own = program
        .sources
        .iter()
        .filter_map(|name| sources.files.iter().find(|f| &f.name == name));
    for source in own.chain(sources.files.iter()) {
        let name = &source.name;
        if name.starts_with("std/") != in_std || name.split('/').any(|p| p == "..") {
            continue;
        }
        // `flows/common/agents.flow` named `common/agents.flow`: `flows`;
        // `stdlib/hours.flow` named `std/hours.flow`: `stdlib`.
        let parts = name.split('/').count() - usize::from(in_std);
        let mut root = source.path.clone();
        if (0..parts).all(|_| root.pop()) {
            let relative = if in_std {
                file.strip_prefix("std/").unwrap_or(file)
            } else {
                file
            };
            return Some(root.join(relative));
        }
    }
    None
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

fn ms(ms: u64) -> i64 {
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
        Event::Identified { records } => format!("identified: {records} record(s)"),
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

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn show(items: &[String]) -> String {
    format!("{items:?}")
}

/// Compares the prompts (or queues) played with the expected ones, exactly.
fn exact(
    what: &str,
    expected: &[String],
    actual: &[(String, Option<Place>)],
    last: &Option<Place>,
) -> Option<Failure> {
    let names: Vec<String> = actual.iter().map(|(n, _)| n.clone()).collect();
    if names == expected {
        return None;
    }
    let i = names
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(names.len().min(expected.len()));
    let (label, at) = match (actual.get(i), expected.get(i)) {
        (Some((a, place)), Some(e)) => (
            format!("#{} is `{a}` here; expected `{e}`", i + 1),
            place.clone(),
        ),
        (Some((a, place)), None) => (
            format!("#{} `{a}` here was not expected", i + 1),
            place.clone(),
        ),
        (None, Some(e)) => (
            format!("the call ended here; #{} `{e}` never came", i + 1),
            last.clone(),
        ),
        (None, None) => (String::new(), last.clone()),
    };
    Some(Failure {
        expectation: what.into(),
        expected: show(expected),
        actual: show(&names),
        label,
        at,
    })
}

/// Checks that the expected prompts appear in this relative order.
fn subsequence(
    expected: &[String],
    actual: &[(String, Option<Place>)],
    last: &Option<Place>,
) -> Option<Failure> {
    let mut from = 0;
    for e in expected {
        match actual.iter().skip(from).position(|(a, _)| a == e) {
            Some(i) => from += i + 1,
            None => {
                let (label, at) = match actual.get(from) {
                    Some((a, place)) => (
                        format!("`{a}` here; expected `{e}` from here on"),
                        place.clone(),
                    ),
                    None => (format!("the call ended here without `{e}`"), last.clone()),
                };
                let names: Vec<String> = actual.iter().map(|(n, _)| n.clone()).collect();
                return Some(Failure {
                    expectation: "prompts_include".into(),
                    expected: show(expected),
                    actual: show(&names),
                    label,
                    at,
                });
            }
        }
    }
    None
}

fn first_or_none(items: &[(String, Option<Place>)]) -> String {
    items
        .first()
        .map_or_else(|| "none".to_string(), |(n, _)| n.clone())
}

fn yes_no(b: bool) -> String {
    b.to_string()
}

/// Every expectation of a scenario whose call ended.
fn check(scenario: &Scenario, seen: &Seen, failures: &mut Vec<Failure>) {
    let expect = &scenario.expect;
    let last = &seen.last;
    if let Some(expected) = &expect.prompts {
        failures.extend(exact("prompts", expected, &seen.prompts, last));
    }
    if let Some(expected) = &expect.prompts_include {
        failures.extend(subsequence(expected, &seen.prompts, last));
    }
    if let Some(expected) = &expect.queues {
        failures.extend(exact("queues", expected, &seen.queues, last));
    }
    if let Some(route) = expect.route {
        let actual = if seen.connected.is_some() {
            Route::Connected
        } else {
            Route::None
        };
        if actual != route {
            failures.push(Failure {
                expectation: "route".into(),
                expected: route.word().into(),
                actual: actual.word().into(),
                label: match &seen.connected {
                    Some(_) => "the call was connected here".into(),
                    None => "the call ended here without being connected".into(),
                },
                at: seen.connected.clone().flatten().or_else(|| last.clone()),
            });
        }
    }
    if let Some(agent) = &expect.agent
        && seen.agent.as_ref() != Some(agent)
    {
        failures.push(Failure {
            expectation: "agent".into(),
            expected: agent.clone(),
            actual: seen.agent.clone().unwrap_or_else(|| "none".into()),
            label: match &seen.agent {
                Some(a) => format!("{a} took the call here"),
                None => "the call ended here; no agent took it".into(),
            },
            at: seen.connected.clone().flatten().or_else(|| last.clone()),
        });
    }
    if let Some(expected) = expect.connected_at
        && seen.connected_at != Some(ms(expected))
    {
        failures.push(Failure {
            expectation: "connected_at".into(),
            expected: offset(ms(expected)),
            actual: seen
                .connected_at
                .map_or_else(|| "never connected".into(), offset),
            label: match seen.connected_at {
                Some(at) => format!("the call was connected here at {}", offset(at)),
                None => "the call ended here without being connected".into(),
            },
            at: seen.connected.clone().flatten().or_else(|| last.clone()),
        });
    }
    let firsts = [
        ("dialled_out", &expect.dialled_out, &seen.dials, "dialled"),
        (
            "transfer",
            &expect.transfer,
            &seen.transfers,
            "transferred to",
        ),
    ];
    for (what, expected, actual, verb) in firsts {
        if let Some(expected) = expected
            && actual.first().map(|(n, _)| n) != Some(expected)
        {
            failures.push(Failure {
                expectation: what.into(),
                expected: expected.clone(),
                actual: first_or_none(actual),
                label: match actual.first() {
                    Some((n, _)) => format!("{verb} {n} here"),
                    None => "the call ended here".into(),
                },
                at: actual
                    .first()
                    .and_then(|(_, p)| p.clone())
                    .or_else(|| last.clone()),
            });
        }
    }
    let flags = [
        (
            "voicemail",
            expect.voicemail,
            &seen.record,
            "recorded a message",
        ),
        (
            "callback",
            expect.callback,
            &seen.callback,
            "registered a callback",
        ),
        (
            "no_survey",
            expect.no_survey,
            &seen.no_survey,
            "marked no survey",
        ),
    ];
    for (what, expected, actual, verb) in flags {
        if let Some(expected) = expected
            && expected != actual.is_some()
        {
            failures.push(Failure {
                expectation: what.into(),
                expected: yes_no(expected),
                actual: yes_no(actual.is_some()),
                label: match actual {
                    Some(_) => format!("the call {verb} here"),
                    None => format!("the call ended here; it never {verb}"),
                },
                at: actual.clone().flatten().or_else(|| last.clone()),
            });
        }
    }
    if let Some(expected) = &expect.survey {
        failures.extend(check_survey(expected, seen));
    }
    check_handoff(scenario, seen, failures);
    if let Some(expected) = &expect.bot_said {
        failures.extend(check_bot_said(expected, seen));
    }
    if let Some(expected) = expect.survey_scheduled {
        failures.extend(check_scheduled(expected, seen));
    }
    for (name, expected) in &expect.vars {
        let actual = seen.vars.get(name);
        if actual != Some(expected) {
            failures.push(Failure {
                expectation: format!("vars.{name}"),
                expected: format!("{expected:?}"),
                actual: actual.map_or_else(|| "unset".into(), |a| format!("{a:?}")),
                label: format!(
                    "the call ended here with `{name}` {}",
                    actual.map_or("unset".to_string(), |a| format!("= {a}"))
                ),
                at: last.clone(),
            });
        }
    }
    if let Some((outcome, at, place)) = &seen.ended {
        let actual = match outcome {
            Outcome::HungUp { .. } => Ended::Hangup,
            Outcome::CallerHungUp => Ended::Caller,
            Outcome::Failed { .. } => Ended::Failed,
        };
        if actual != expect.ended {
            let why = match outcome {
                Outcome::Failed { error } => format!(" ({error})"),
                _ => String::new(),
            };
            failures.push(Failure {
                expectation: "ended".into(),
                expected: expect.ended.word().into(),
                actual: format!("{}{why}", actual.word()),
                label: format!("the call ended here: {}", actual.word()),
                at: place.clone(),
            });
        }
        if let Some(expected) = expect.ended_at
            && ms(expected) != *at
        {
            failures.push(Failure {
                expectation: "ended_at".into(),
                expected: offset(ms(expected)),
                actual: offset(*at),
                label: format!("the call ended here at {}", offset(*at)),
                at: place.clone(),
            });
        }
    }
}

/// The detail of a handoff reason, as `expect.handoff` writes it after
/// the code.
fn reason_detail(reason: &Reason) -> Option<&str> {
    match reason {
        Reason::Phrase(p) | Reason::AsksForHuman(p) => Some(p),
        Reason::BotRequested(r) => r.as_deref(),
        Reason::Paused | Reason::CannotAnswer => None,
    }
}

/// A handoff as `expect.handoff` writes it.
fn handoff_word(handoff: Option<&Handoff>) -> String {
    match handoff.map(|h| &h.reason) {
        None => "none".into(),
        Some(None) => "a scripted `handoff` reply (no trigger, no routing)".into(),
        Some(Some(reason)) => match reason_detail(reason) {
            Some(detail) => format!("{}:{detail}", reason.code()),
            None => reason.code().into(),
        },
    }
}

/// `expect.handoff`, `handoff_team`, `handoff_owner`, `handoff_users` and
/// `ticket`: the first handoff of the call and where it was routed.
fn check_handoff(scenario: &Scenario, seen: &Seen, failures: &mut Vec<Failure>) {
    let expect = &scenario.expect;
    let handoff = seen.handoff.as_ref().map(|(h, _)| h);
    let at = seen
        .handoff
        .as_ref()
        .and_then(|(_, p)| p.clone())
        .or_else(|| seen.last.clone());
    let label = |what: String| match handoff {
        Some(_) => format!("the customer agent handed off here: {what}"),
        None => "the call ended here; the customer agent handed nothing off".to_string(),
    };
    if let Some(expected) = &expect.handoff {
        let holds = match (expected, handoff.map(|h| &h.reason)) {
            (HandoffExpect::None, None) => true,
            (HandoffExpect::Reason { code, detail }, Some(Some(reason))) => {
                reason.code() == code
                    && detail
                        .as_deref()
                        .is_none_or(|d| reason_detail(reason) == Some(d))
            }
            _ => false,
        };
        if !holds {
            let actual = handoff_word(handoff);
            failures.push(Failure {
                expectation: "handoff".into(),
                expected: expected.to_string(),
                actual: actual.clone(),
                label: label(actual),
                at: at.clone(),
            });
        }
    }
    let none = || "none".to_string();
    let routed = |what: &str, value: String| match handoff {
        Some(_) => value,
        None => format!("{what} (no handoff)"),
    };
    if let Some(expected) = &expect.handoff_team {
        let actual = handoff.and_then(|h| h.team.clone()).unwrap_or_else(none);
        if handoff.is_none() || &actual != expected {
            failures.push(Failure {
                expectation: "handoff_team".into(),
                expected: expected.clone(),
                actual: routed("none", actual.clone()),
                label: label(format!("team {actual}")),
                at: at.clone(),
            });
        }
    }
    if let Some(expected) = &expect.handoff_owner {
        let actual = handoff
            .and_then(|h| h.owner.as_deref())
            .map_or_else(none, |o| short(o).to_string());
        if handoff.is_none() || actual != short(expected) {
            failures.push(Failure {
                expectation: "handoff_owner".into(),
                expected: expected.clone(),
                actual: routed("none", actual.clone()),
                label: label(format!("owner {actual}")),
                at: at.clone(),
            });
        }
    }
    if let Some(expected) = &expect.handoff_users {
        let actual: Vec<String> = handoff
            .map(|h| h.users.iter().map(|u| short(u).to_string()).collect())
            .unwrap_or_default();
        let wanted: Vec<String> = expected.iter().map(|u| short(u).to_string()).collect();
        if handoff.is_none() || actual != wanted {
            failures.push(Failure {
                expectation: "handoff_users".into(),
                expected: show(expected),
                actual: routed("[]", show(&actual)),
                label: label(format!("users {}", show(&actual))),
                at: at.clone(),
            });
        }
    }
    if let Some(expected) = expect.ticket
        && expected != seen.ticket.is_some()
    {
        failures.push(Failure {
            expectation: "ticket".into(),
            expected: yes_no(expected),
            actual: yes_no(seen.ticket.is_some()),
            label: match &seen.ticket {
                Some(_) => "a handoff opened a ticket here".into(),
                None => match handoff {
                    Some(_) => {
                        "the customer agent handed off here, live to a team or users: no ticket"
                            .into()
                    }
                    None => "the call ended here; no handoff opened a ticket".into(),
                },
            },
            at: seen.ticket.clone().flatten().or(at),
        });
    }
}

/// `expect.bot_said`: each text is part of something the customer agent
/// said, in this order.
fn check_bot_said(expected: &[String], seen: &Seen) -> Option<Failure> {
    let mut from = 0;
    for e in expected {
        match seen
            .bot_said
            .iter()
            .skip(from)
            .position(|(said, _)| said.contains(e.as_str()))
        {
            Some(i) => from += i + 1,
            None => {
                let (label, at) = match seen.bot_said.get(from) {
                    Some((said, place)) => (
                        format!("the bot said {said:?} here; expected {e:?} from here on"),
                        place.clone(),
                    ),
                    None => (
                        format!("the call ended here; the bot never said {e:?}"),
                        seen.last.clone(),
                    ),
                };
                let said: Vec<String> = seen.bot_said.iter().map(|(s, _)| s.clone()).collect();
                return Some(Failure {
                    expectation: "bot_said".into(),
                    expected: show(expected),
                    actual: show(&said),
                    label,
                    at,
                });
            }
        }
    }
    None
}

/// `expect.survey`: whether a survey ran, and its answers.
fn check_survey(expected: &SurveyExpect, seen: &Seen) -> Option<Failure> {
    let ran = seen.survey.is_some();
    let start = seen.survey.as_ref().and_then(|(_, p)| p.clone());
    // Unanswered questions compare as "", and "" as not named.
    let actual: BTreeMap<&str, &str> = seen
        .answers
        .iter()
        .filter_map(|(q, a, _)| a.as_deref().map(|a| (q.as_str(), a)))
        .collect();
    let shown = || {
        let all: Vec<String> = seen
            .answers
            .iter()
            .map(|(q, a, _)| format!("{q} = {:?}", a.as_deref().unwrap_or("")))
            .collect();
        match (ran, all.is_empty()) {
            (false, _) => "no survey".to_string(),
            (true, true) => "a survey started, no question was answered".to_string(),
            (true, false) => format!("{{ {} }}", all.join(", ")),
        }
    };
    match expected {
        SurveyExpect::Ran(want) if *want == ran => None,
        SurveyExpect::Ran(want) => Some(Failure {
            expectation: "survey".into(),
            expected: yes_no(*want),
            actual: shown(),
            label: if ran {
                "a survey started here".into()
            } else {
                "the call ended here without a survey".into()
            },
            at: if ran { start } else { seen.last.clone() },
        }),
        SurveyExpect::Answers(answers) => {
            let wanted: BTreeMap<&str, &str> = answers
                .iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(q, a)| (q.as_str(), a.as_str()))
                .collect();
            if ran && wanted == actual {
                return None;
            }
            let expected_text = format!(
                "{{ {} }}",
                answers
                    .iter()
                    .map(|(q, a)| format!("{q} = {a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            // The first answer that differs, or where the survey started.
            let differs = seen.answers.iter().find(|(q, a, _)| {
                wanted.get(q.as_str()).copied().unwrap_or("") != a.as_deref().unwrap_or("")
            });
            let (label, at) = match (ran, differs) {
                (false, _) => (
                    "the call ended here without a survey".to_string(),
                    seen.last.clone(),
                ),
                (true, Some((q, a, place))) => (
                    format!(
                        "`{q}` was answered {} here",
                        a.as_deref()
                            .map_or("nothing".to_string(), |a| format!("`{a}`"))
                    ),
                    place.clone(),
                ),
                (true, None) => (
                    "the survey ended here without every expected answer".to_string(),
                    seen.answers
                        .last()
                        .and_then(|(_, _, p)| p.clone())
                        .or_else(|| seen.last.clone()),
                ),
            };
            Some(Failure {
                expectation: "survey".into(),
                expected: expected_text,
                actual: shown(),
                label,
                at,
            })
        }
    }
}

/// `expect.survey_scheduled`: the outbound survey scheduled at the end.
fn check_scheduled(expected: Scheduled, seen: &Seen) -> Option<Failure> {
    let actual = seen.scheduled.as_ref().map(|(ms, _)| *ms);
    let holds = match expected {
        Scheduled::No => actual.is_none(),
        Scheduled::Yes => actual.is_some(),
        Scheduled::After(ms) => actual == Some(ms),
    };
    if holds {
        return None;
    }
    let word = |s: Option<u64>| {
        s.map_or_else(
            || "false".to_string(),
            |ms| format!("{:?}", dialect_compiler::diagnostic::human_ms(ms)),
        )
    };
    Some(Failure {
        expectation: "survey_scheduled".into(),
        expected: match expected {
            Scheduled::No => "false".into(),
            Scheduled::Yes => "true".into(),
            Scheduled::After(ms) => word(Some(ms)),
        },
        actual: word(actual),
        label: match actual {
            Some(ms) => format!(
                "a survey was scheduled here, {} after the call",
                dialect_compiler::diagnostic::human_ms(ms)
            ),
            None => "the call ended here; no survey was scheduled".into(),
        },
        at: seen
            .scheduled
            .as_ref()
            .and_then(|(_, p)| p.clone())
            .or_else(|| seen.last.clone()),
    })
}
