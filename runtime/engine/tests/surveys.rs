//! Post-call surveys (SPEC 5.7), driven by hand: after the agent hangs up
//! first (not after `no_survey`, a caller's hang-up or a dial), the answers
//! of each question type, retries, comments, outbound scheduling, and the
//! survey calls of [`Engine::handle_survey`]. The flows are written here;
//! `std/` imports come from the real standard library.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_compiler::world::World;
use dialect_engine::{Command, DialOutcome, Engine, Event, Flow, Outcome, Refused, TimerId};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FLOWS: &str = r#"
import "std/survey.flow"

agent ann { name "Ann" }
queue support { agents [ann] }

// Every question type, written in an order that is not alphabetical.
survey every_kind {
  intro say "Intro."
  question solved { type yes_no; prompt say "Solved?" }
  question score { type csat; prompt say "Score?" }
  question recommend { type nps; prompt say "Recommend?"; retries 1 }
  question comment { type comment; prompt say "Comment?" }
  outro say "Thanks."
}

survey score_only {
  question score { type csat; prompt say "Score?" }
}

survey nps_only {
  question recommend { type nps; prompt say "Recommend?"; retries 1 }
}

// After the call. Callers from +4822555... pass `no_survey`; callers from
// +4822666... are put through to a number instead of the queue.
campaign after {
  name "after"
  id "AFTER"
  numbers [+48221009001]
  survey every_kind
  ivr {
    answer
    route_caller ["+4822555*"] {
      on match { no_survey }
      on no_match {}
    }
    route_caller ["+4822666*"] {
      on match {
        dial +48225550100 { on else { hangup } }
        hangup { reason "dialled" }
      }
      on no_match {}
    }
    queue support {
      on timeout { hangup }
      on full { hangup { reason "full" } }
    }
    say "Bye."
    hangup { reason "served" }
  }
}

// The std NPS survey, an hour after the call.
campaign later {
  name "later"
  id "LATER"
  numbers [+48221009002]
  survey survey.nps
  ivr {
    answer
    route_caller ["+4822555*"] {
      on match { no_survey }
      on no_match {}
    }
    queue support {
      on timeout { hangup }
      on full { hangup { reason "full" } }
    }
    hangup { reason "served" }
  }
}

campaign score_call {
  name "score_call"
  id "SCORE"
  numbers [+48221009003]
  survey score_only
  ivr { answer; hangup }
}

campaign nps_call {
  name "nps_call"
  id "NPS"
  numbers [+48221009004]
  survey nps_only
  ivr { answer; hangup }
}
"#;

const CALLER: &str = "+48600100200";
const PBX: &str = "+48225550123";
const TRUNK: &str = "+48226660001";

/// The flows above in memory; everything else from the file system.
struct Memory {
    files: BTreeMap<PathBuf, String>,
    stdlib: PathBuf,
}

impl World for Memory {
    fn read(&self, path: &Path) -> io::Result<String> {
        match self.files.get(path) {
            Some(text) => Ok(text.clone()),
            None => std::fs::read_to_string(path),
        }
    }
    fn head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        Ok(self.read(path)?.into_bytes().into_iter().take(n).collect())
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path) || path.is_file()
    }
    fn is_dir(&self, path: &Path) -> bool {
        path == Path::new("/memory") || path.is_dir()
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        if dir == Path::new("/memory") {
            return Ok(self.files.keys().cloned().collect());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        Ok(entries)
    }
    fn stdlib(&self) -> Option<PathBuf> {
        Some(self.stdlib.clone())
    }
}

fn engine() -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let world = Memory {
        files: [(PathBuf::from("/memory/surveys.flow"), FLOWS.to_string())].into(),
        stdlib: root.join("stdlib"),
    };
    let compilation = dialect_compiler::compile(&world, &[PathBuf::from("/memory")]);
    assert!(
        !compilation.has_errors(),
        "{:?}",
        compilation.reports.iter().collect::<Vec<_>>()
    );
    let mut engine = Engine::new();
    for program in compilation.programs {
        let loaded = dialect_bytecode::load(&dialect_bytecode::encode(&program)).unwrap();
        engine.install(Arc::new(Flow::new(loaded).unwrap()));
    }
    engine
}

/// One call, driven by hand, with its clock.
struct Call {
    engine: Engine,
    id: dialect_engine::CallId,
    now: Timestamp,
    timer: Option<TimerId>,
}

impl Call {
    /// An inbound call from `caller` to `dialled`, with what it issued.
    fn inbound(caller: &str, dialled: &str) -> (Call, Vec<Command>) {
        let mut engine = engine();
        let now = "2026-11-23T09:00:00[Europe/Warsaw]"
            .parse::<jiff::Zoned>()
            .unwrap()
            .timestamp();
        let id = engine.handle_call(caller, dialled, now).unwrap();
        let mut call = Call {
            engine,
            id,
            now,
            timer: None,
        };
        let commands = call.drain();
        (call, commands)
    }

    /// A survey call for `survey` of `campaign`, with what it issued.
    fn survey(campaign: &str, survey: &str) -> (Call, Vec<Command>) {
        let mut engine = engine();
        let now = "2026-11-23T10:00:00[Europe/Warsaw]"
            .parse::<jiff::Zoned>()
            .unwrap()
            .timestamp();
        let id = engine.handle_survey(campaign, survey, CALLER, now).unwrap();
        let mut call = Call {
            engine,
            id,
            now,
            timer: None,
        };
        let commands = call.drain();
        (call, commands)
    }

    fn drain(&mut self) -> Vec<Command> {
        let commands: Vec<Command> = std::iter::from_fn(|| self.engine.poll_command())
            .map(|e| {
                assert_eq!(e.call, self.id);
                e.command
            })
            .collect();
        for command in &commands {
            match command {
                Command::StartTimer { timer, .. } => self.timer = Some(*timer),
                Command::CancelTimer { .. } => self.timer = None,
                _ => {}
            }
        }
        commands
    }

    /// Sends an event one second later; returns what it caused.
    fn send(&mut self, event: Event) -> Vec<Command> {
        self.now = self.now.checked_add(SignedDuration::from_secs(1)).unwrap();
        self.engine.handle_event(self.id, event, self.now).unwrap();
        self.drain()
    }

    fn key(&mut self, key: char) -> Vec<Command> {
        self.send(Event::Digit(key))
    }

    /// The live timer fires.
    fn timeout(&mut self) -> Vec<Command> {
        let timer = self.timer.take().expect("a live timer");
        self.send(Event::Timer(timer))
    }

    /// Queued, ann answers and hangs up first.
    fn agent_hangs_up(&mut self) -> Vec<Command> {
        self.send(Event::AgentConnected {
            agent: "ann".into(),
        });
        self.send(Event::BridgeEnded)
    }
}

/// The text of the prompts played.
fn played(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Play {
                prompt: dialect_bytecode::Prompt::Say { text, .. },
                ..
            } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn answer(survey: &str, question: &str, answer: Option<&str>) -> Command {
    Command::SurveyAnswer {
        survey: survey.into(),
        question: question.into(),
        answer: answer.map(Into::into),
    }
}

fn surveyed(commands: &[Command]) -> bool {
    commands.iter().any(|c| {
        matches!(
            c,
            Command::SurveyAnswer { .. }
                | Command::SurveyDone { .. }
                | Command::ScheduleSurvey { .. }
        )
    })
}

/// Answers whatever the call waits for, with no key, until it ends;
/// returns everything it issued.
fn finish(call: &mut Call) -> Vec<Command> {
    let mut all = Vec::new();
    for _ in 0..50 {
        if matches!(all.last(), Some(Command::Ended(_))) {
            return all;
        }
        let next = if call.timer.is_some() {
            call.timeout()
        } else {
            call.send(Event::PromptFinished)
        };
        all.extend(next);
    }
    panic!("the call did not end: {all:?}");
}

#[test]
fn after_call_runs_when_the_agent_hangs_up_first_then_the_flow_goes_on() {
    let (mut call, first) = Call::inbound(CALLER, "+48221009001");
    assert!(first.iter().any(|c| matches!(c, Command::Enqueue { .. })));
    let start = call.agent_hangs_up();
    // The caller's leg is kept: no hang-up, the intro plays.
    assert_eq!(played(&start), ["Intro."]);
    assert!(!start.iter().any(|c| matches!(c, Command::Hangup)));
    assert!(matches!(
        start[0],
        Command::Play {
            barge_in: false,
            ..
        }
    ));

    // Questions in the order written: solved, score, recommend, comment.
    let q = call.send(Event::PromptFinished);
    assert_eq!(played(&q), ["Solved?"]);
    assert!(matches!(q[0], Command::Play { barge_in: true, .. }));
    // Key 1 during the question: it stops, "yes".
    let a = call.key('1');
    assert_eq!(a[0], Command::StopPlayback);
    assert_eq!(a[1], answer("every_kind", "solved", Some("yes")));
    assert_eq!(played(&a), ["Score?"]);
    // After the prompt, 5 s for a key.
    let wait = call.send(Event::PromptFinished);
    assert!(
        matches!(wait[..], [Command::StartTimer { at, .. }] if at == call.now.checked_add(SignedDuration::from_secs(5)).unwrap()),
        "{wait:?}"
    );
    let a = call.key('5');
    assert!(matches!(a[0], Command::CancelTimer { .. }));
    assert_eq!(a[1], answer("every_kind", "score", Some("5")));
    assert_eq!(played(&a), ["Recommend?"]);
    call.send(Event::PromptFinished);
    // NPS: 1 then 0 is 10, complete at the second key.
    let more = call.key('1');
    assert!(
        matches!(more[..], [Command::CancelTimer { .. }, Command::StartTimer { at, .. }] if at == call.now.checked_add(SignedDuration::from_secs(3)).unwrap()),
        "{more:?}"
    );
    let a = call.key('0');
    assert_eq!(a[1], answer("every_kind", "recommend", Some("10")));
    assert_eq!(played(&a), ["Comment?"]);
    assert!(matches!(
        a.last(),
        Some(Command::Play {
            barge_in: false,
            ..
        })
    ));
    // A comment: recorded after its prompt, a minute at most.
    let record = call.send(Event::PromptFinished);
    assert_eq!(
        record,
        [Command::Record {
            max_length_ms: 60_000,
            email: None
        }]
    );
    let a = call.send(Event::RecordingFinished);
    assert_eq!(a[0], answer("every_kind", "comment", Some("recorded")));
    assert_eq!(played(&a), ["Thanks."]);
    // Then SurveyDone, and the flow continues after the queue block.
    let done = call.send(Event::PromptFinished);
    assert_eq!(
        done[0],
        Command::SurveyDone {
            survey: "every_kind".into()
        }
    );
    assert_eq!(played(&done), ["Bye."]);
    let end = call.send(Event::PromptFinished);
    assert_eq!(
        end,
        [
            Command::Hangup,
            Command::Ended(Outcome::HungUp {
                reason: Some("served".into())
            })
        ]
    );
}

#[test]
fn no_survey_after_a_no_survey_block() {
    let (mut call, _) = Call::inbound(PBX, "+48221009001");
    assert_eq!(call.engine.flags_of(call.id), Some((true, false)));
    let after = call.agent_hangs_up();
    assert_eq!(played(&after), ["Bye."]);
    let rest = finish(&mut call);
    assert!(!surveyed(&after) && !surveyed(&rest), "{rest:?}");
}

#[test]
fn no_survey_when_the_caller_hangs_up_first() {
    let (mut call, _) = Call::inbound(CALLER, "+48221009001");
    call.send(Event::AgentConnected {
        agent: "ann".into(),
    });
    let end = call.send(Event::HangUp);
    assert_eq!(end, [Command::Ended(Outcome::CallerHungUp)]);
}

#[test]
fn no_survey_after_a_dialled_number_hangs_up() {
    let (mut call, first) = Call::inbound(TRUNK, "+48221009001");
    assert!(first.iter().any(|c| matches!(c, Command::Dial { .. })));
    call.send(Event::DialResult(DialOutcome::Connected));
    let end = call.send(Event::BridgeEnded);
    assert_eq!(
        end,
        [
            Command::Hangup,
            Command::Ended(Outcome::HungUp {
                reason: Some("dialled".into())
            })
        ]
    );
}

#[test]
fn the_caller_may_hang_up_during_the_survey() {
    let (mut call, _) = Call::inbound(CALLER, "+48221009001");
    call.agent_hangs_up();
    call.send(Event::PromptFinished);
    call.key('2');
    let end = call.send(Event::HangUp);
    assert_eq!(end, [Command::Ended(Outcome::CallerHungUp)]);
}

#[test]
fn unexpected_events_during_a_survey_change_nothing() {
    let (mut call, _) = Call::inbound(CALLER, "+48221009001");
    call.agent_hangs_up();
    // The intro takes no keys; nothing else is awaited.
    for event in [
        Event::Digit('5'),
        Event::Timer(TimerId(999)),
        Event::RecordingFinished,
        Event::BridgeEnded,
        Event::AgentConnected {
            agent: "bob".into(),
        },
        Event::Utterance("pięć".into()),
        Event::Digit('x'),
    ] {
        let node = call.engine.node_of(call.id);
        assert_eq!(call.send(event.clone()), [], "{event:?}");
        assert_eq!(call.engine.node_of(call.id), node);
    }
    assert_eq!(call.engine.survey_of(call.id), Some("every_kind"));
}

#[test]
fn csat_retries_then_unanswered() {
    // score_only: a csat question with the default 2 retries, no intro or outro.
    let (mut call, first) = Call::survey("score_call", "score_only");
    assert!(!first.iter().any(|c| matches!(c, Command::Answer)));
    assert_eq!(played(&first), ["Score?"]);
    call.send(Event::PromptFinished);
    // No key in 5 s: asked again.
    assert_eq!(played(&call.timeout()), ["Score?"]);
    call.send(Event::PromptFinished);
    // 6 is not 1-5: asked again (the last time).
    let again = call.key('6');
    assert_eq!(played(&again), ["Score?"]);
    assert!(!surveyed(&again));
    call.send(Event::PromptFinished);
    let end = call.timeout();
    assert_eq!(
        end,
        [
            answer("score_only", "score", None),
            Command::SurveyDone {
                survey: "score_only".into()
            },
            Command::Hangup,
            Command::Ended(Outcome::HungUp {
                reason: Some("survey done".into())
            }),
        ]
    );
}

#[test]
fn csat_invalid_then_valid() {
    let (mut call, _) = Call::survey("score_call", "score_only");
    call.send(Event::PromptFinished);
    let again = call.key('0');
    assert!(matches!(again[0], Command::CancelTimer { .. }));
    assert_eq!(played(&again), ["Score?"]);
    assert!(!surveyed(&again));
    // A key during the question asked again interrupts it.
    let a = call.key('4');
    assert_eq!(a[0], Command::StopPlayback);
    assert_eq!(a[1], answer("score_only", "score", Some("4")));
}

#[test]
fn nps_one_key_then_a_pause_or_hash() {
    let (mut call, _) = Call::survey("nps_call", "nps_only");
    call.send(Event::PromptFinished);
    assert!(
        call.key('1')
            .iter()
            .all(|c| !surveyed(std::slice::from_ref(c)))
    );
    // 3 s without a second key: the answer is 1.
    let end = call.timeout();
    assert_eq!(end[0], answer("nps_only", "recommend", Some("1")));

    let (mut call, _) = Call::survey("nps_call", "nps_only");
    call.key('7'); // during the prompt: it stops
    let end = call.key('#');
    assert!(matches!(end[0], Command::CancelTimer { .. }));
    assert_eq!(end[1], answer("nps_only", "recommend", Some("7")));

    let (mut call, _) = Call::survey("nps_call", "nps_only");
    call.send(Event::PromptFinished);
    call.key('0');
    assert_eq!(call.key('0')[1], answer("nps_only", "recommend", Some("0")));
}

#[test]
fn nps_above_10_or_hash_alone_is_asked_again_then_unanswered() {
    let (mut call, _) = Call::survey("nps_call", "nps_only");
    call.send(Event::PromptFinished);
    call.key('1');
    let again = call.key('1');
    assert_eq!(played(&again), ["Recommend?"]);
    call.send(Event::PromptFinished);
    // `#` alone is no answer; retries 1 is used up.
    let end = call.key('#');
    assert_eq!(end[1], answer("nps_only", "recommend", None));
    assert!(matches!(end.last(), Some(Command::Ended(_))));
}

#[test]
fn yes_no_answers() {
    for (key, expected) in [('1', Some("yes")), ('2', Some("no"))] {
        let (mut call, _) = Call::inbound(CALLER, "+48221009001");
        call.agent_hangs_up();
        call.send(Event::PromptFinished);
        let a = call.key(key);
        assert_eq!(a[1], answer("every_kind", "solved", expected));
    }
    let (mut call, _) = Call::inbound(CALLER, "+48221009001");
    call.agent_hangs_up();
    call.send(Event::PromptFinished);
    assert_eq!(played(&call.key('3')), ["Solved?"]);
}

#[test]
fn outbound_is_scheduled_just_before_ended() {
    let (mut call, _) = Call::inbound(CALLER, "+48221009002");
    let end = call.agent_hangs_up();
    assert_eq!(
        end,
        [
            Command::Hangup,
            Command::ScheduleSurvey {
                campaign: "later".into(),
                survey: "std/survey.nps".into(),
                number: CALLER.into(),
                delay_ms: 3_600_000,
            },
            Command::Ended(Outcome::HungUp {
                reason: Some("served".into())
            }),
        ]
    );
    // Whatever the outcome: the caller hangs up while talking.
    let (mut call, _) = Call::inbound(CALLER, "+48221009002");
    call.send(Event::AgentConnected {
        agent: "ann".into(),
    });
    let end = call.send(Event::HangUp);
    assert!(
        matches!(
            end[..],
            [
                Command::ScheduleSurvey { .. },
                Command::Ended(Outcome::CallerHungUp)
            ]
        ),
        "{end:?}"
    );
}

#[test]
fn outbound_is_not_scheduled_after_no_survey_or_without_an_agent() {
    let (mut call, _) = Call::inbound(PBX, "+48221009002");
    let end = call.agent_hangs_up();
    assert!(!surveyed(&end), "{end:?}");
    assert!(matches!(end.last(), Some(Command::Ended(_))));

    let (mut call, _) = Call::inbound(CALLER, "+48221009002");
    let end = call.send(Event::QueueFull);
    assert!(!surveyed(&end), "{end:?}");
    assert!(matches!(end.last(), Some(Command::Ended(_))));

    let (mut call, _) = Call::inbound(CALLER, "+48221009002");
    let end = call.send(Event::HangUp);
    assert!(!surveyed(&end), "{end:?}");
}

#[test]
fn handle_survey_runs_a_survey_only_call() {
    // As a stored ScheduleSurvey asks: the std NPS survey of `later`.
    let (mut call, first) = Call::survey("later", "std/survey.nps");
    assert!(!first.iter().any(|c| matches!(c, Command::Answer)));
    assert_eq!(
        played(&first),
        ["Dzień dobry, dzwonimy w sprawie Twojej niedawnej rozmowy z naszym konsultantem."]
    );
    assert_eq!(call.engine.survey_of(call.id), Some("std/survey.nps"));
    call.send(Event::PromptFinished);
    call.send(Event::PromptFinished);
    call.key('1');
    let a = call.key('0');
    assert_eq!(a[1], answer("std/survey.nps", "recommend", Some("10")));
    call.send(Event::PromptFinished);
    let a = call.send(Event::RecordingFinished);
    assert_eq!(a[0], answer("std/survey.nps", "comment", Some("recorded")));
    let end = call.send(Event::PromptFinished);
    assert_eq!(
        end,
        [
            Command::SurveyDone {
                survey: "std/survey.nps".into()
            },
            Command::Hangup,
            Command::Ended(Outcome::HungUp {
                reason: Some("survey done".into())
            }),
        ]
    );
    assert_eq!(call.engine.active_calls(), 0);
}

#[test]
fn handle_survey_finds_the_campaign_by_name_or_number_and_refuses_the_rest() {
    let mut engine = engine();
    let now = Timestamp::UNIX_EPOCH;
    assert!(
        engine
            .handle_survey("+48221009002", "std/survey.nps", CALLER, now)
            .is_ok()
    );
    assert_eq!(
        engine.handle_survey("later", "std/survey.csat", CALLER, now),
        Err(Refused::UnknownSurvey {
            campaign: "later".into(),
            survey: "std/survey.csat".into()
        })
    );
    assert_eq!(
        engine.handle_survey("nowhere", "std/survey.nps", CALLER, now),
        Err(Refused::NoCampaign("nowhere".into()))
    );
}

#[test]
fn the_helpline_runs_its_csat_survey() {
    // The real flows: complete.flow's helpline has `survey surveys.csat`.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let world =
        dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &root.join("flows"));
    let compilation = dialect_compiler::compile(&world, &[root.join("flows")]);
    let helpline = compilation
        .programs
        .into_iter()
        .find(|p| p.name == "helpline")
        .unwrap();
    let loaded = dialect_bytecode::load(&dialect_bytecode::encode(&helpline)).unwrap();
    let flow = Flow::new(loaded).unwrap();
    let survey = flow.survey().unwrap();
    assert_eq!(survey.name, "std/survey.csat");
    assert_eq!(survey.mode, dialect_engine::SurveyMode::AfterCall);
    assert_eq!(survey.questions.len(), 1);
    assert_eq!(survey.questions[0].name, "score");
    assert_eq!(survey.questions[0].retries, 2);
}
