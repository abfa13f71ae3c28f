//! Property tests of the engine over every campaign in `flows/` and
//! `tests/survey-scenarios/` (surveys after calls and outbound): random
//! events at random times never panic, an ended call refuses everything,
//! every call ends (hung up, transferred or handed over) once an adapter
//! answers what it waits for, and nothing is left behind.
//!
//! The tests play the adapter. [`Adapter`] keeps what a real adapter knows
//! about one call from the commands it was given (a prompt playing, a live
//! timer, the queue the call is in, a request outstanding, ...), so that the
//! finishing driver can answer whatever the call waits for, and so that each
//! command is checked against the ones before it (a `Dequeue` names the queue
//! the call is in, a `CancelTimer` the live timer, nothing follows `Ended`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_bytecode::Op;
use dialect_engine::{
    BotReply, CallId, Command, DialOutcome, Engine, Event, Flow, Outcome, Refused, SurveyMode,
    TimerId,
};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Most events the finishing driver may send one call before it must have ended.
const DRIVER_BUDGET: usize = 500;

proptest! {
    #![proptest_config(config(1000))]

    /// Random events, then a driver that answers what the call waits for:
    /// nothing panics, an ended call refuses events, every call ends exactly
    /// once, and nothing is left behind.
    #[test]
    fn every_call_ends(case in case(1..=1)) {
        run(&case);
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// Random events, then the caller hangs up: the call ends as
    /// `CallerHungUp`, leaving its queue and cancelling its timer (checked
    /// at every hang-up, also those among the random events).
    #[test]
    fn caller_hang_up_ends_the_call(
        case in case(1..=1).prop_map(|c| Case { finish: Finish::HangUp, ..c })
    ) {
        run(&case);
    }
}

proptest! {
    #![proptest_config(config(100))]

    /// Many calls on one engine, events interleaved: each call sees only its
    /// own commands, `overflow` admits exactly `limit` calls at a time and
    /// frees a place when a call ends, and every call still ends.
    #[test]
    fn calls_do_not_interfere(case in case(2..=30)) {
        run(&case);
    }
}

fn config(cases: u32) -> Config {
    Config {
        // A failure is printed with its minimal case; nothing is written
        // beside the sources.
        failure_persistence: None,
        ..Config::with_cases(cases)
    }
}

/// Every campaign, compiled once for all tests of this binary.
struct Campaigns {
    flows: Vec<Arc<Flow>>,
    /// Every number a campaign answers, with its flow.
    numbers: Vec<(Arc<Flow>, String)>,
    /// The numbers whose flow has an `overflow` block (indices into `numbers`).
    overflows: Vec<usize>,
    /// Caller numbers that match the flows' `route_caller` and
    /// `route_dialled` patterns (prefixes completed with digits).
    callers: Vec<String>,
}

fn campaigns() -> &'static Campaigns {
    static CAMPAIGNS: OnceLock<Campaigns> = OnceLock::new();
    CAMPAIGNS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut programs = Vec::new();
        for dir in ["flows", "tests/survey-scenarios"] {
            let world =
                dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &root.join(dir));
            let compilation = dialect_compiler::compile(&world, &[root.join(dir)]);
            assert!(!compilation.has_errors(), "{dir}");
            programs.extend(compilation.programs);
        }
        let mut flows = Vec::new();
        let mut numbers = Vec::new();
        let mut callers = Vec::new();
        for program in programs {
            let loaded = dialect_bytecode::load(&dialect_bytecode::encode(&program)).unwrap();
            let flow = Arc::new(Flow::new(loaded).unwrap());
            for number in &flow.program.numbers {
                numbers.push((flow.clone(), number.clone()));
            }
            for node in &flow.program.nodes {
                if let Op::RouteCaller { patterns } | Op::RouteDialled { patterns } = &node.op {
                    callers.extend(patterns.iter().map(|p| match p.strip_suffix('*') {
                        Some(prefix) => format!("{prefix}4711"),
                        None => p.clone(),
                    }));
                }
            }
            flows.push(flow);
        }
        assert!(numbers.len() >= 8, "every campaign of flows/");
        let overflows = (0..numbers.len())
            .filter(|&i| {
                let (flow, _): &(Arc<Flow>, String) = &numbers[i];
                flow.program
                    .nodes
                    .iter()
                    .any(|n| matches!(n.op, Op::Overflow { .. }))
            })
            .collect();
        Campaigns {
            flows,
            numbers,
            overflows,
            callers,
        }
    })
}

/// An event as generated, before it is bound to the ids the engine issued.
#[derive(Clone, Debug)]
enum Spec {
    Digit(char),
    PromptFinished,
    /// The most recent timer the engine started for the call, or `stale`.
    Timer {
        current: bool,
        stale: u32,
    },
    AgentConnected,
    BridgeEnded,
    QueueFull,
    Dial(DialOutcome),
    /// An answer to the call's most recent request, or to `stale`.
    Http {
        current: bool,
        stale: u32,
        status: u16,
        body: String,
    },
    Identified(u32),
    Verified(bool),
    Bot(BotReply),
    Utterance(String),
    RecordingFinished,
    HangUp,
    /// A valid answer to what the call waits for, picked with this seed.
    /// Without it, random events rarely get a call past its first menu.
    Answer(u64),
}

/// How the finishing driver answers: yes to everything, no to everything,
/// or a random valid answer each time (keys included).
#[derive(Clone, Copy, Debug)]
enum Flavour {
    Positive,
    Negative,
    Random(u64),
}

/// What happens after the random events.
#[derive(Clone, Copy, Debug)]
enum Finish {
    /// The driver answers until every call ends.
    Drive(Flavour),
    /// Every caller still on the line hangs up.
    HangUp,
}

/// One input of a case: a new call (the index of the number it dials, its
/// caller, and whether it is instead a survey call to that caller for the
/// campaign's survey), or an event for the live call picked by the index.
#[derive(Clone, Debug)]
enum Action {
    Call(usize, String, bool),
    Event(usize, Spec),
}

#[derive(Clone, Debug)]
struct Case {
    start: Timestamp,
    /// Each action after this many seconds.
    actions: Vec<(u32, Action)>,
    finish: Finish,
}

fn digit() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'x', 'A', 'ł', ' ',
    ])
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"token": "abc123", "tier": "gold"}"#.to_string()),
        Just(r#"{"tier": "business", "nested": {"a": [1, 2.5, null, true]}}"#.to_string()),
        Just(r#"{"tier": 7}"#.to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("null".to_string()),
        Just(String::new()),
        Just(r#"{"token": "#.to_string()),
        Just(r#"{"tier": "gold""#.to_string()),
        // Not JSON, but rhai: the engine's JSON reader evaluates it.
        Just(r#"{"tier": "x".pad(100000, "y")}"#.to_string()),
        Just(r#"{"tier": [1, 2, 3].map(|x| x * 2)}"#.to_string()),
        ".{0,40}",
        (1usize..20_000).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        (1usize..20_000).prop_map(|depth| format!(
            "{}1{}",
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        )),
        (1usize..20_000).prop_map(|depth| "{".repeat(depth)),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        6 => digit().prop_map(Spec::Digit),
        6 => Just(Spec::PromptFinished),
        4 => (prop::bool::weighted(0.8), any::<u32>())
            .prop_map(|(current, stale)| Spec::Timer { current, stale }),
        2 => Just(Spec::AgentConnected),
        2 => Just(Spec::BridgeEnded),
        1 => Just(Spec::QueueFull),
        2 => prop::sample::select(vec![
            DialOutcome::Connected,
            DialOutcome::Busy,
            DialOutcome::NoAnswer,
            DialOutcome::Failed,
        ])
        .prop_map(Spec::Dial),
        3 => (
            prop::bool::weighted(0.8),
            any::<u32>(),
            prop_oneof![Just(0u16), Just(200), Just(201), Just(404), Just(500), any::<u16>()],
            body(),
        )
            .prop_map(|(current, stale, status, body)| Spec::Http {
                current,
                stale,
                status,
                body,
            }),
        1 => prop_oneof![Just(0u32), Just(1), Just(2), any::<u32>()].prop_map(Spec::Identified),
        1 => any::<bool>().prop_map(Spec::Verified),
        2 => prop_oneof![
            ".{0,20}".prop_map(BotReply::Say),
            Just(BotReply::Handoff),
            Just(BotReply::Listen),
            Just(BotReply::CannotAnswer),
            Just(BotReply::Done),
        ]
        .prop_map(Spec::Bot),
        1 => ".{0,20}".prop_map(Spec::Utterance),
        1 => Just(Spec::RecordingFinished),
        1 => Just(Spec::HangUp),
        16 => any::<u64>().prop_map(|seed| Spec::Answer(seed | 1)),
    ]
}

/// Any instant of 2026-2027, or one in office hours (Monday to Friday,
/// 08:00-16:00 in Warsaw) so that the open branches are well visited. A
/// case lasts a few hours at most, and the helpline ends on 2027-12-31 in
/// Warsaw: cases start by 2027-12-30 00:00 UTC, or their later calls would
/// be refused as after the campaign's end.
fn instant() -> impl Strategy<Value = Timestamp> {
    let any = (1_767_225_600i64..1_830_124_800).prop_map(|s| Timestamp::from_second(s).unwrap());
    let office = (0i64..104, 0i64..5, 8 * 60i64..16 * 60).prop_map(|(week, day, minute)| {
        jiff::civil::date(2026, 1, 5)
            .checked_add(jiff::Span::new().days(week * 7 + day))
            .unwrap()
            .at(0, 0, 0, 0)
            .checked_add(jiff::Span::new().minutes(minute))
            .unwrap()
            .in_tz("Europe/Warsaw")
            .unwrap()
            .timestamp()
    });
    prop_oneof![any, office]
}

/// A new call: a number (bigger campaigns more often, one ticket per ten
/// nodes) and a caller (often one the flows route specially).
fn call() -> impl Strategy<Value = Action> {
    let campaigns = campaigns();
    let tickets: Vec<usize> = campaigns
        .numbers
        .iter()
        .enumerate()
        .flat_map(|(index, (flow, _))| {
            std::iter::repeat_n(index, 1 + flow.program.nodes.len() / 10)
        })
        .collect();
    let caller = prop_oneof![
        2 => prop::sample::select(campaigns.callers.clone()),
        1 => "\\+48[0-9]{9}",
        1 => "[0-9+*a-z ]{0,14}",
    ];
    (
        prop::sample::select(tickets),
        caller,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(number, caller, survey)| Action::Call(number, caller, survey))
}

/// Which numbers the calls of a case dial.
#[derive(Clone, Copy, Debug)]
enum Crowd {
    /// Each its own.
    Mixed,
    /// All the first call's.
    Same,
    /// All one number whose flow has an `overflow` block (picked by the
    /// index), so that calls meet there in numbers.
    Overflow(usize),
}

/// `calls` calls with up to 60 random events each, interleaved; the first
/// action is a call. With `burst`, every call starts before any event.
fn case(calls: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Case> {
    calls
        .prop_flat_map(|n| {
            // Time passes about as fast for each call however many there are.
            let delay = 120 / u32::try_from(n).unwrap();
            (
                instant(),
                prop::collection::vec(call(), n),
                prop_oneof![
                    Just(Crowd::Mixed),
                    Just(Crowd::Same),
                    any::<usize>().prop_map(Crowd::Overflow),
                ],
                any::<bool>(),
                prop::collection::vec((0..=delay, any::<usize>(), spec()), 0..=60 * n),
                prop_oneof![
                    2 => Just(Finish::Drive(Flavour::Positive)),
                    1 => Just(Finish::Drive(Flavour::Negative)),
                    2 => any::<u64>().prop_map(|seed| Finish::Drive(Flavour::Random(seed | 1))),
                    1 => Just(Finish::HangUp),
                ],
            )
        })
        .prop_flat_map(|(start, mut calls, crowd, burst, events, finish)| {
            let overflows = &campaigns().overflows;
            let number = match (crowd, calls.first()) {
                (Crowd::Same, Some(Action::Call(number, _, _))) => Some(*number),
                (Crowd::Overflow(pick), _) => Some(overflows[pick % overflows.len()]),
                _ => None,
            };
            if let Some(number) = number {
                for call in &mut calls {
                    if let Action::Call(n, _, _) = call {
                        *n = number;
                    }
                }
            }
            let first = calls.remove(0);
            let events: Vec<(u32, Action)> = events
                .into_iter()
                .map(|(delay, pick, spec)| (delay, Action::Event(pick, spec)))
                .collect();
            let calls: Vec<(u32, Action)> = calls.into_iter().map(|c| (0, c)).collect();
            let actions = if burst {
                Just(calls.into_iter().chain(events).collect::<Vec<_>>()).boxed()
            } else {
                Just(calls.into_iter().chain(events).collect::<Vec<_>>())
                    .prop_shuffle()
                    .boxed()
            };
            (Just((start, first, finish)), actions)
        })
        .prop_map(|((start, first, finish), mut actions)| {
            actions.insert(0, (0, first));
            Case {
                start,
                actions,
                finish,
            }
        })
}

/// What an adapter knows about its call, from the commands it received and
/// the answers it gave.
#[derive(Debug, Default)]
struct Adapter {
    /// A prompt is playing.
    playing: bool,
    /// The prompt playing (or last played) may be interrupted by a key.
    barge_in: bool,
    /// The live timer and when it fires.
    timer: Option<(TimerId, Timestamp)>,
    /// The most recent timer started, live or not.
    last_timer: Option<TimerId>,
    /// The queue the call waits in.
    queue: Option<String>,
    /// Bridged to an agent, an extension or a dialled number.
    bridged: bool,
    /// The bridge is an `extension`'s transfer, which may still fail.
    extension: bool,
    dialing: bool,
    /// The outstanding request.
    http: Option<u32>,
    last_request: Option<u32>,
    identify: bool,
    verify: bool,
    recording: bool,
    bot: bool,
    /// An agent took the call (from a queue).
    served: bool,
    /// The call passed a `no_survey` block.
    no_survey: bool,
    /// A survey call (`handle_survey`), not an inbound one.
    survey_call: bool,
    /// The answers of a survey, and whether it was done.
    answers: usize,
    survey_done: bool,
    /// A `ScheduleSurvey` was seen.
    scheduled: bool,
    /// How the call ended, and how many `Ended` were seen.
    outcome: Option<Outcome>,
    ended: usize,
}

impl Adapter {
    /// A command arrived; it must make sense after the ones before it.
    fn observe(&mut self, command: &Command) {
        assert!(
            self.outcome.is_none(),
            "{command:?} after the call ended ({:?})",
            self.outcome
        );
        match command {
            Command::Play { barge_in, .. } => {
                self.playing = true;
                self.barge_in = *barge_in;
            }
            Command::StopPlayback => self.playing = false,
            Command::StartTimer { timer, at } => {
                assert_eq!(self.timer, None, "a timer started over a live one");
                self.timer = Some((*timer, *at));
                self.last_timer = Some(*timer);
            }
            Command::CancelTimer { timer } => {
                assert_eq!(
                    self.timer.map(|(t, _)| t),
                    Some(*timer),
                    "CancelTimer of a timer that is not live"
                );
                self.timer = None;
            }
            Command::Enqueue { queue, .. } => {
                assert_eq!(self.queue, None, "enqueued twice");
                self.queue = Some(queue.clone());
            }
            Command::Dequeue { queue } => {
                assert_eq!(self.queue.as_ref(), Some(queue), "Dequeue of another queue");
                self.queue = None;
            }
            Command::Transfer { .. } => {
                self.bridged = true;
                self.extension = true;
            }
            Command::Dial { .. } => self.dialing = true,
            Command::Http { request, .. } => {
                self.http = Some(*request);
                self.last_request = Some(*request);
            }
            Command::Identify { .. } => self.identify = true,
            Command::Authorise { .. } | Command::LookupTicket { .. } => self.verify = true,
            Command::Record { .. } => self.recording = true,
            Command::BotTurn { .. } => self.bot = true,
            Command::Answer => assert!(!self.survey_call, "a survey call is answered already"),
            Command::SurveyAnswer { .. } => {
                assert!(!self.survey_done, "an answer after the survey was done");
                self.answers += 1;
            }
            Command::SurveyDone { .. } => {
                assert!(!self.survey_done, "a survey done twice");
                self.survey_done = true;
            }
            Command::ScheduleSurvey { .. } => {
                assert!(!self.scheduled, "a survey scheduled twice");
                self.scheduled = true;
            }
            Command::RegisterCallback { .. } | Command::Hangup => {}
            Command::Ended(outcome) => {
                self.ended += 1;
                self.outcome = Some(outcome.clone());
            }
        }
    }

    /// An event was sent; what it certainly answered is no longer outstanding.
    fn sent(&mut self, event: &Event) {
        match event {
            Event::PromptFinished => self.playing = false,
            Event::Timer(timer) => {
                if self.timer.map(|(t, _)| t) == Some(*timer) {
                    self.timer = None;
                    // The timer of a request or an authorisation gives up on it.
                    self.http = None;
                    self.verify = false;
                }
            }
            Event::AgentConnected { .. } => {
                if self.queue.take().is_some() {
                    self.bridged = true;
                    self.served = true;
                }
            }
            Event::QueueFull => self.queue = None,
            Event::BridgeEnded => {
                self.bridged = false;
                self.extension = false;
            }
            Event::TransferFailed => {
                if std::mem::take(&mut self.extension) {
                    self.bridged = false;
                }
            }
            Event::DialResult(outcome) => {
                if std::mem::take(&mut self.dialing) && *outcome == DialOutcome::Connected {
                    self.bridged = true;
                }
            }
            Event::HttpResult { request, .. } => {
                if self.http == Some(*request) {
                    self.http = None;
                }
            }
            Event::Identified { .. } => self.identify = false,
            Event::Verified { .. } => self.verify = false,
            Event::BotReply(_) => self.bot = false,
            Event::RecordingFinished => self.recording = false,
            Event::Digit(_) | Event::Utterance(_) | Event::HangUp => {}
        }
    }

    /// Whether the call may react to `event`: it answers something
    /// outstanding, or it is a key, words or a hang-up (which depend on
    /// what the flow is doing). Anything else must change nothing.
    fn expects(&self, event: &Event) -> bool {
        match event {
            Event::PromptFinished => self.playing,
            Event::Timer(timer) => self.timer.map(|(t, _)| t) == Some(*timer),
            Event::AgentConnected { .. } | Event::QueueFull => self.queue.is_some(),
            Event::BridgeEnded => self.bridged,
            Event::TransferFailed => self.extension,
            Event::DialResult(_) => self.dialing,
            Event::HttpResult { request, .. } => self.http == Some(*request),
            Event::Identified { .. } => self.identify,
            Event::Verified { .. } => self.verify,
            Event::BotReply(_) => self.bot,
            Event::RecordingFinished => self.recording,
            Event::Digit(_) | Event::Utterance(_) | Event::HangUp => true,
        }
    }

    /// The event that moves the call on, if it waits for anything.
    fn answer(&self, flavour: &mut Flavour) -> Option<Event> {
        if let Flavour::Random(seed) = flavour {
            return self.random_answer(seed);
        }
        let yes = matches!(flavour, Flavour::Positive);
        let event = if self.playing {
            Event::PromptFinished
        } else if self.bridged {
            Event::BridgeEnded
        } else if self.queue.is_some() {
            if yes {
                Event::AgentConnected {
                    agent: "alice".into(),
                }
            } else {
                Event::QueueFull
            }
        } else if self.dialing {
            Event::DialResult(if yes {
                DialOutcome::Connected
            } else {
                DialOutcome::Busy
            })
        } else if let Some(request) = self.http {
            Event::HttpResult {
                request,
                status: if yes { 200 } else { 503 },
                body: r#"{"token": "t", "tier": "gold"}"#.into(),
            }
        } else if self.identify {
            Event::Identified {
                records: u32::from(yes),
                record: Vec::new(),
            }
        } else if self.verify {
            Event::Verified { ok: yes }
        } else if self.recording {
            Event::RecordingFinished
        } else if self.bot {
            Event::BotReply(if yes {
                BotReply::Done
            } else {
                BotReply::CannotAnswer
            })
        } else if let Some((timer, _)) = self.timer {
            Event::Timer(timer)
        } else {
            return None;
        };
        Some(event)
    }

    /// A random valid answer: any of the answers to what is outstanding, or
    /// a key when a key is welcome.
    fn random_answer(&self, seed: &mut u64) -> Option<Event> {
        let mut choices: Vec<Event> = Vec::new();
        if self.playing {
            choices.push(Event::PromptFinished);
        }
        if self.bridged {
            choices.push(Event::BridgeEnded);
        }
        if self.extension {
            choices.push(Event::TransferFailed);
        }
        if self.queue.is_some() {
            choices.push(Event::AgentConnected {
                agent: "bob".into(),
            });
            choices.push(Event::QueueFull);
        }
        if self.dialing {
            choices.extend(
                [
                    DialOutcome::Connected,
                    DialOutcome::Busy,
                    DialOutcome::NoAnswer,
                    DialOutcome::Failed,
                ]
                .map(Event::DialResult),
            );
        }
        if let Some(request) = self.http {
            for (status, body) in [
                (200, r#"{"tier": "business"}"#),
                (200, r#"{"token": "t"}"#),
                (0, ""),
                (500, "{"),
            ] {
                choices.push(Event::HttpResult {
                    request,
                    status,
                    body: body.into(),
                });
            }
        }
        if self.identify {
            choices.extend([0, 1, 2].map(|records| Event::Identified {
                records,
                record: Vec::new(),
            }));
        }
        if self.verify {
            choices.extend([true, false].map(|ok| Event::Verified { ok }));
        }
        if self.recording {
            choices.push(Event::RecordingFinished);
        }
        if self.bot {
            choices.extend([
                Event::BotReply(BotReply::Say("Proszę bardzo.".into())),
                Event::BotReply(BotReply::Handoff),
                Event::BotReply(BotReply::CannotAnswer),
                Event::BotReply(BotReply::Done),
            ]);
        }
        let waiting = choices.is_empty();
        if let Some((timer, _)) = self.timer {
            choices.push(Event::Timer(timer));
            if waiting {
                // A menu key, digit collection or a bot listening.
                choices.push(Event::Utterance("konsultant".into()));
            }
        }
        if (self.playing && self.barge_in) || (waiting && self.timer.is_some()) {
            choices.extend(['0', '1', '2', '3', '4', '5', '9', '#'].map(Event::Digit));
        }
        if choices.is_empty() {
            return None;
        }
        // xorshift64: the seed comes from proptest, so a failure replays.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let pick = usize::try_from(*seed % choices.len() as u64).unwrap();
        Some(choices.swap_remove(pick))
    }

    /// Whether the call's end must schedule an outbound survey: the
    /// campaign's survey is outbound, an agent took the call, and it passed
    /// no `no_survey`.
    fn schedules(&self, flow: &Flow) -> bool {
        flow.survey()
            .is_some_and(|s| s.mode == SurveyMode::Outbound)
            && self.served
            && !self.no_survey
            && !self.survey_call
    }

    /// Nothing an adapter holds for the call is left over.
    fn assert_released(&self) {
        assert_eq!(self.ended, 1, "Ended exactly once");
        assert_eq!(self.timer, None, "a timer outlived the call");
        assert_eq!(self.queue, None, "the call ended while still in a queue");
    }
}

/// One call of a case.
struct Line {
    id: CallId,
    flow: Arc<Flow>,
    adapter: Adapter,
    /// The `overflow` nodes the call was admitted through.
    holds: Vec<u32>,
}

impl Line {
    fn alive(&self) -> bool {
        self.adapter.outcome.is_none()
    }
}

/// An engine with every campaign, the calls it runs, and the clock.
struct Harness {
    engine: Engine,
    now: Timestamp,
    lines: Vec<Line>,
    /// Calls admitted through each `overflow` node (flow, node).
    held: HashMap<(String, u32), u32>,
}

impl Harness {
    fn new(start: Timestamp) -> Harness {
        let mut engine = Engine::new();
        for flow in &campaigns().flows {
            engine.install(flow.clone());
        }
        engine.set_tracing(true);
        Harness {
            engine,
            now: start,
            lines: Vec::new(),
            held: HashMap::new(),
        }
    }

    fn live(&self) -> usize {
        self.lines.iter().filter(|l| l.alive()).count()
    }

    fn line(&mut self, id: CallId) -> &mut Line {
        self.lines.iter_mut().find(|l| l.id == id).unwrap()
    }

    /// A new call; with `survey`, a survey call for the campaign's survey
    /// instead (an inbound call when the campaign has none).
    fn call(&mut self, number: usize, caller: &str, survey: bool) -> CallId {
        let (flow, dialled) = &campaigns().numbers[number];
        let survey = flow.survey().filter(|_| survey).map(|s| s.name.clone());
        let id = match &survey {
            Some(survey) => self
                .engine
                .handle_survey(flow.name(), survey, caller, self.now)
                .unwrap(),
            None => self.engine.handle_call(caller, dialled, self.now).unwrap(),
        };
        assert!(self.lines.iter().all(|l| l.id != id), "{id} issued twice");
        self.lines.push(Line {
            id,
            flow: flow.clone(),
            adapter: Adapter {
                survey_call: survey.is_some(),
                ..Adapter::default()
            },
            holds: Vec::new(),
        });
        self.drain(id);
        id
    }

    /// Takes every transition and command out of the engine, checking each;
    /// all of them must be `id`'s, the call that was just given an input.
    fn drain(&mut self, id: CallId) -> Vec<Command> {
        while let Some(step) = self.engine.poll_step() {
            assert_eq!(step.call, id, "a transition of another call");
            assert!(!self.line(id).adapter.survey_call, "a survey call moved");
            self.overflow(id, step.node, step.exit);
            let line = self.line(id);
            if matches!(line.flow.program.nodes[step.node as usize].op, Op::NoSurvey) {
                line.adapter.no_survey = true;
            }
        }
        let mut commands = Vec::new();
        while let Some(emitted) = self.engine.poll_command() {
            assert_eq!(emitted.call, id, "a command for another call");
            self.line(id).adapter.observe(&emitted.command);
            commands.push(emitted.command);
        }
        if let Some(at) = commands.iter().position(|c| matches!(c, Command::Ended(_))) {
            assert_eq!(at + 1, commands.len(), "Ended is the call's last command");
            let line = self.line(id);
            let due = line.adapter.schedules(&line.flow);
            assert_eq!(line.adapter.scheduled, due, "ScheduleSurvey iff due");
            if due {
                assert!(
                    matches!(commands[at - 1], Command::ScheduleSurvey { .. }),
                    "ScheduleSurvey just before Ended: {commands:?}"
                );
            }
            if line.adapter.survey_call {
                let survey = line.flow.survey().unwrap();
                if line.adapter.outcome
                    == Some(Outcome::HungUp {
                        reason: Some("survey done".into()),
                    })
                {
                    assert!(line.adapter.survey_done, "a survey call ends when done");
                    assert_eq!(line.adapter.answers, survey.questions.len());
                } else {
                    assert!(!line.adapter.survey_done);
                }
            }
            for node in std::mem::take(&mut self.line(id).holds) {
                let name = self.line(id).flow.name().to_string();
                *self.held.get_mut(&(name, node)).unwrap() -= 1;
            }
        }
        assert_eq!(self.engine.active_calls(), self.live());
        let alive = self.line(id).alive();
        assert_eq!(self.engine.node_of(id).is_some(), alive);
        commands
    }

    /// A transition: through an `overflow` node it must be `within` while
    /// fewer than `limit` calls hold the node, `overflow` after.
    fn overflow(&mut self, id: CallId, node: u32, exit: u32) {
        let line = self.line(id);
        let graph = &line.flow.program.nodes[node as usize];
        let Op::Overflow { limit } = graph.op else {
            return;
        };
        let exit = graph.exits[exit as usize].0.clone();
        let name = line.flow.name().to_string();
        let held = self.held.entry((name, node)).or_insert(0);
        let expected = if *held < limit { "within" } else { "overflow" };
        assert_eq!(exit, expected, "overflow {limit} with {held} calls inside");
        if exit == "within" {
            *held += 1;
            self.line(id).holds.push(node);
        }
    }

    fn bind(&self, line: usize, spec: &Spec) -> Event {
        let adapter = &self.lines[line].adapter;
        match spec.clone() {
            Spec::Digit(key) => Event::Digit(key),
            Spec::PromptFinished => Event::PromptFinished,
            Spec::Timer { current, stale } => Event::Timer(match adapter.last_timer {
                Some(timer) if current => timer,
                _ => TimerId(stale),
            }),
            Spec::AgentConnected => Event::AgentConnected {
                agent: "carol".into(),
            },
            Spec::BridgeEnded => Event::BridgeEnded,
            Spec::QueueFull => Event::QueueFull,
            Spec::Dial(outcome) => Event::DialResult(outcome),
            Spec::Http {
                current,
                stale,
                status,
                body,
            } => Event::HttpResult {
                request: match adapter.last_request {
                    Some(request) if current => request,
                    _ => stale,
                },
                status,
                body,
            },
            Spec::Identified(records) => Event::Identified {
                records,
                record: Vec::new(),
            },
            Spec::Verified(ok) => Event::Verified { ok },
            Spec::Bot(reply) => Event::BotReply(reply),
            Spec::Utterance(text) => Event::Utterance(text),
            Spec::RecordingFinished => Event::RecordingFinished,
            Spec::HangUp => Event::HangUp,
            Spec::Answer(mut seed) => adapter
                .random_answer(&mut seed)
                .unwrap_or(Event::PromptFinished),
        }
    }

    /// Sends an event to a call, checking what the engine must do with it.
    fn send(&mut self, line: usize, event: Event) {
        let id = self.lines[line].id;
        if !self.lines[line].alive() {
            return self.refused(id, event);
        }
        // What a hang-up must release, known before it is sent.
        let adapter = &self.lines[line].adapter;
        let mut expected = Vec::new();
        if let Some(queue) = &adapter.queue {
            expected.push(Command::Dequeue {
                queue: queue.clone(),
            });
        }
        if let Some((timer, _)) = adapter.timer {
            expected.push(Command::CancelTimer { timer });
        }
        if adapter.schedules(&self.lines[line].flow) {
            let flow = &self.lines[line].flow;
            let survey = flow.survey().unwrap();
            expected.push(Command::ScheduleSurvey {
                campaign: flow.name().to_string(),
                survey: survey.name.clone(),
                number: String::new(),
                delay_ms: survey.delay_ms,
            });
        }
        expected.push(Command::Ended(Outcome::CallerHungUp));
        let hang_up = event == Event::HangUp;
        let expected_event = adapter.expects(&event);
        let live_timer = matches!(event, Event::Timer(_)) && expected_event;
        let node = self.engine.node_of(id);
        self.engine
            .handle_event(id, event.clone(), self.now)
            .unwrap();
        self.lines[line].adapter.sent(&event);
        let commands = self.drain(id);
        if hang_up {
            // The caller's number is the line's; compare without it.
            let commands: Vec<Command> = commands
                .iter()
                .cloned()
                .map(|c| match c {
                    Command::ScheduleSurvey {
                        campaign,
                        survey,
                        delay_ms,
                        ..
                    } => Command::ScheduleSurvey {
                        campaign,
                        survey,
                        number: String::new(),
                        delay_ms,
                    },
                    other => other,
                })
                .collect();
            assert_eq!(commands, expected, "what a hang-up emits");
        }
        if !expected_event {
            assert_eq!(commands, [], "{event:?} answers nothing outstanding");
            assert_eq!(self.engine.node_of(id), node, "{event:?} moved the call");
        }
        // A live timer belongs to what the call waits for, so it always
        // has an effect; one left running past its state would be ignored.
        if live_timer {
            assert!(
                !commands.is_empty() || self.engine.node_of(id) != node,
                "the live timer fired and nothing happened"
            );
        }
    }

    /// An event for a call that has ended is refused and changes nothing.
    fn refused(&mut self, id: CallId, event: Event) {
        let active = self.engine.active_calls();
        let nodes: Vec<_> = self
            .lines
            .iter()
            .map(|l| self.engine.node_of(l.id))
            .collect();
        assert_eq!(
            self.engine.handle_event(id, event, self.now),
            Err(Refused::UnknownCall(id))
        );
        assert!(
            self.engine.poll_command().is_none(),
            "an ended call emitted"
        );
        assert!(self.engine.poll_step().is_none(), "an ended call moved");
        assert_eq!(self.engine.active_calls(), active);
        let after: Vec<_> = self
            .lines
            .iter()
            .map(|l| self.engine.node_of(l.id))
            .collect();
        assert_eq!(nodes, after);
    }

    /// Answers whatever a call waits for until it ends.
    fn finish(&mut self, line: usize, mut flavour: Flavour) {
        for _ in 0..DRIVER_BUDGET {
            let adapter = &self.lines[line].adapter;
            if adapter.outcome.is_some() {
                return;
            }
            let Some(event) = adapter.answer(&mut flavour) else {
                panic!(
                    "{} waits for nothing an adapter could answer: {adapter:?}",
                    self.lines[line].id
                );
            };
            self.now = match (&event, adapter.timer) {
                (Event::Timer(_), Some((_, at))) => self.now.max(at),
                _ => self.now.checked_add(SignedDuration::from_secs(3)).unwrap(),
            };
            self.send(line, event);
        }
        panic!(
            "{} did not end after {DRIVER_BUDGET} answers: {:?}",
            self.lines[line].id, self.lines[line].adapter
        );
    }
}

fn run(case: &Case) {
    let mut harness = Harness::new(case.start);
    for (delay, action) in &case.actions {
        harness.now = harness
            .now
            .checked_add(SignedDuration::from_secs(i64::from(*delay)))
            .unwrap();
        match action {
            Action::Call(number, caller, survey) => {
                harness.call(*number, caller, *survey);
            }
            Action::Event(pick, spec) => {
                // Mostly live calls; sometimes one that has ended.
                let live: Vec<usize> = (0..harness.lines.len())
                    .filter(|&i| harness.lines[i].alive())
                    .collect();
                let line = match live.len() {
                    0 => pick % harness.lines.len(),
                    n if pick % 8 != 0 => live[pick / 8 % n],
                    _ => pick / 8 % harness.lines.len(),
                };
                let event = harness.bind(line, spec);
                harness.send(line, event);
            }
        }
    }
    for line in 0..harness.lines.len() {
        match case.finish {
            Finish::Drive(flavour) => harness.finish(line, flavour),
            Finish::HangUp => {
                if harness.lines[line].alive() {
                    harness.send(line, Event::HangUp);
                    assert_eq!(
                        harness.lines[line].adapter.outcome,
                        Some(Outcome::CallerHungUp)
                    );
                }
            }
        }
    }
    for line in &harness.lines {
        assert!(!line.alive());
        line.adapter.assert_released();
    }
    assert_eq!(harness.engine.active_calls(), 0, "a call leaked");
    assert!(harness.held.values().all(|&n| n == 0));

    // The slots are reused by the next calls; the old ids must not reach them.
    let Some(Action::Call(number, caller, survey)) = case.actions.first().map(|(_, a)| a) else {
        unreachable!("a case starts with a call");
    };
    let next = harness.call(*number, caller, *survey);
    let old: Vec<CallId> = harness.lines.iter().map(|l| l.id).collect();
    for (i, id) in old.into_iter().enumerate().filter(|(_, id)| *id != next) {
        let spec = match &case.actions[i % case.actions.len()].1 {
            Action::Event(_, spec) => spec.clone(),
            Action::Call(..) => Spec::HangUp,
        };
        let event = harness.bind(i, &spec);
        harness.refused(id, event);
    }
    // An id the engine never issued.
    let unknown = CallId(u64::from(u32::MAX));
    harness.refused(unknown, Event::PromptFinished);
}
