//! The engine against the real flows, driven by hand (the simulator drives it
//! by scenarios; these tests pin the engine's own contract).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_engine::{Command, Engine, Event, Flow, Outcome};
use jiff::Timestamp;
use std::path::PathBuf;
use std::sync::Arc;

fn engine() -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let world =
        dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &root.join("flows"));
    let compilation = dialect_compiler::compile(&world, &[root.join("flows")]);
    assert!(!compilation.has_errors());
    let mut engine = Engine::new();
    for program in compilation.programs {
        let loaded = dialect_bytecode::load(&dialect_bytecode::encode(&program)).unwrap();
        engine.install(Arc::new(Flow::new(loaded).unwrap()));
    }
    engine
}

fn at(text: &str) -> Timestamp {
    text.parse::<jiff::Zoned>().unwrap().timestamp()
}

fn drain(engine: &mut Engine) -> Vec<Command> {
    std::iter::from_fn(|| engine.poll_command())
        .map(|e| e.command)
        .collect()
}

#[test]
fn scheme1_closed_on_saturday_hangs_up() {
    let mut engine = engine();
    let now = at("2026-11-21T10:00:00[Europe/Warsaw]");
    let call = engine
        .handle_call("+48600000001", "+48221000001", now)
        .unwrap();
    let commands = drain(&mut engine);
    assert_eq!(commands.first(), Some(&Command::Answer));
    assert!(
        matches!(
            commands.last(),
            Some(Command::Ended(Outcome::HungUp { .. }))
        ),
        "{commands:?}"
    );
    assert_eq!(engine.active_calls(), 0);
    assert!(
        engine
            .handle_event(call, Event::PromptFinished, now)
            .is_err()
    );
}

#[test]
fn scheme2_menu_timeout_returns_to_the_menu() {
    let mut engine = engine();
    let now = at("2026-11-23T09:00:00[Europe/Warsaw]");
    let call = engine
        .handle_call("+48600000001", "48221000002", now)
        .unwrap();
    let first = drain(&mut engine);
    assert!(
        first
            .iter()
            .any(|c| matches!(c, Command::Play { barge_in: true, .. })),
        "{first:?}"
    );
    engine.handle_event(call, Event::Digit('1'), now).unwrap();
    let queued = drain(&mut engine);
    let timer = queued.iter().find_map(|c| match c {
        Command::StartTimer { timer, .. } => Some(*timer),
        _ => None,
    });
    assert!(
        queued.iter().any(|c| matches!(c, Command::Enqueue { .. })),
        "{queued:?}"
    );
    engine
        .handle_event(call, Event::Timer(timer.unwrap()), now)
        .unwrap();
    let back = drain(&mut engine);
    assert!(
        matches!(back.first(), Some(Command::Dequeue { .. })),
        "{back:?}"
    );
    assert!(
        back.iter()
            .any(|c| matches!(c, Command::Play { barge_in: true, .. })),
        "back at the menu: {back:?}"
    );
}

#[test]
fn a_bot_that_does_not_answer_counts_as_cannot_answer() {
    let mut engine = engine();
    let now = at("2026-11-23T09:00:00[Europe/Warsaw]");
    let call = engine
        .handle_call("+48600000001", "+48221000007", now)
        .unwrap();
    let first = drain(&mut engine);
    assert!(
        first.iter().any(|c| matches!(
            c,
            Command::BotTurn {
                utterance: None,
                ..
            }
        )),
        "{first:?}"
    );
    let timer = first
        .iter()
        .rev()
        .find_map(|c| match c {
            Command::StartTimer { timer, .. } => Some(*timer),
            _ => None,
        })
        .unwrap();
    engine.handle_event(call, Event::Timer(timer), now).unwrap();
    let after = drain(&mut engine);
    assert!(
        after
            .iter()
            .any(|c| matches!(c, Command::Enqueue { queue, .. } if queue.ends_with("experts"))),
        "cannot_answer leads to the experts queue: {after:?}"
    );
}

/// Drives the helpline (complete.flow) to its CRM look-up and answers it with `body`.
fn helpline_lookup(body: &str) -> (Vec<Command>, Vec<Command>) {
    let mut engine = engine();
    let now = at("2026-11-23T09:00:00[Europe/Warsaw]");
    let call = engine
        .handle_call("+48600000001", "+48221000000", now)
        .unwrap();
    drain(&mut engine);
    engine
        .handle_event(call, Event::PromptFinished, now)
        .unwrap();
    drain(&mut engine);
    engine
        .handle_event(
            call,
            Event::Identified {
                records: 0,
                record: Vec::new(),
            },
            now,
        )
        .unwrap();
    drain(&mut engine);
    let login = Event::HttpResult {
        request: 1,
        status: 200,
        body: r#"{"token": "t"}"#.into(),
    };
    engine.handle_event(call, login, now).unwrap();
    let request = drain(&mut engine);
    let answer = Event::HttpResult {
        request: 2,
        status: 200,
        body: body.into(),
    };
    engine.handle_event(call, answer, now).unwrap();
    (request, drain(&mut engine))
}

#[test]
fn api_request_bodies_are_json_and_answers_are_data_not_code() {
    let (request, _) = helpline_lookup("{}");
    let body = request
        .iter()
        .find_map(|c| match c {
            Command::Http {
                request: 2,
                body: Some(body),
                ..
            } => Some(body.clone()),
            _ => None,
        })
        .expect("the look-up request has a body");
    let json: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    assert_eq!(json["phone"], "+48600000001");

    // rhai syntax in a response is not JSON: the `error` exit, never a failed call.
    for body in [
        "{\"tier\": `gold`, \"n\": [1,2].map(|x| x * 2)}",
        "not json",
    ] {
        let (_, after) = helpline_lookup(body);
        assert!(
            !after
                .iter()
                .any(|c| matches!(c, Command::Ended(Outcome::Failed { .. }))),
            "{body}: {after:?}"
        );
    }
}

#[test]
fn the_engine_keeps_its_timers_and_fires_them_when_time_passes() {
    let mut engine = engine();
    let now = at("2026-11-23T09:00:00[Europe/Warsaw]");
    assert_eq!(engine.poll_timeout(), None);
    let call = engine
        .handle_call("+48600000001", "48221000002", now)
        .unwrap();
    drain(&mut engine);
    engine.handle_event(call, Event::Digit('1'), now).unwrap();
    let queued = drain(&mut engine);
    let due = queued
        .iter()
        .find_map(|c| match c {
            Command::StartTimer { at, .. } => Some(*at),
            _ => None,
        })
        .unwrap();
    assert_eq!(engine.poll_timeout(), Some(due));
    assert_eq!(engine.timers(), 1);
    // Not yet: nothing fires.
    engine.handle_timeout(now);
    assert!(drain(&mut engine).is_empty());
    // Due: the queue's wait is over, the call is back at the menu, whose
    // own timer runs once its prompt has played.
    assert_eq!(engine.fire_next(due), Some(call));
    let back = drain(&mut engine);
    assert!(
        matches!(back.first(), Some(Command::Dequeue { .. })),
        "{back:?}"
    );
    assert_eq!(engine.timers(), 0);
    assert_eq!(engine.fire_next(due), None);
    engine
        .handle_event(call, Event::PromptFinished, due)
        .unwrap();
    drain(&mut engine);
    assert_eq!(engine.timers(), 1);
    assert!(engine.poll_timeout().is_some_and(|next| next > due));
    // The caller hangs up: the call's timer goes with it.
    engine.handle_event(call, Event::HangUp, due).unwrap();
    drain(&mut engine);
    assert_eq!(engine.timers(), 0);
    assert_eq!(engine.poll_timeout(), None);
}

/// An engine with the flows of `dir` (written by the test), compiled with
/// the repository's standard library.
fn engine_for(dir: &std::path::Path) -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let world = dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), dir);
    let compilation = dialect_compiler::compile(&world, &[dir.to_path_buf()]);
    assert!(!compilation.has_errors());
    let mut engine = Engine::new();
    for program in compilation.programs {
        let loaded = dialect_bytecode::load(&dialect_bytecode::encode(&program)).unwrap();
        engine.install(Arc::new(Flow::new(loaded).unwrap()));
    }
    engine
}

/// A `voicemail` block's own `email` wins over the campaign's
/// `voicemail_email`, which is used without one (issue 18). Before the
/// recording, the system announcement plays in the campaign's language,
/// unless the campaign's `voicemail_without_announcement` (or the block's
/// `without_announcement`) says not to.
#[test]
fn a_voicemail_is_emailed_to_the_blocks_address_else_the_campaigns() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("engine-voicemail");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mail.flow"),
        r#"campaign own {
  name "Own"
  id "OWN"
  numbers [+48221009801]
  voicemail_email "office@example.com"
  ivr { answer; voicemail { email "desk@example.com" }; hangup }
}

campaign inherited {
  name "Inherited"
  id "INHERITED"
  numbers [+48221009802]
  voicemail_email "office@example.com"
  voicemail_without_announcement true
  ivr { answer; voicemail { max_length 10s }; hangup }
}

campaign quiet_block {
  name "Quiet block"
  id "QUIET"
  numbers [+4721009803]
  country_code +47
  ivr { answer; voicemail { without_announcement true }; hangup }
}

campaign norwegian {
  name "Norwegian"
  id "NORWEGIAN"
  numbers [+4721009804]
  country_code +47
  ivr { answer; voicemail { max_length 10s }; hangup }
}
"#,
    )
    .unwrap();
    let mut engine = engine_for(&dir);
    let now = at("2026-11-23T10:00:00[Europe/Warsaw]");
    // What the caller hears before the recording, and where it is e-mailed.
    let voicemail = |engine: &mut Engine, dialled: &str| {
        let id = engine.handle_call("+48600000001", dialled, now).unwrap();
        let mut heard = Vec::new();
        for _ in 0..3 {
            for command in drain(engine) {
                match command {
                    Command::Play {
                        prompt: dialect_bytecode::Prompt::Say { text, language },
                        ..
                    } => heard.push(format!("{}:{text}", language.unwrap_or_default())),
                    Command::Record { email, .. } => return (heard, email),
                    _ => {}
                }
            }
            engine.handle_event(id, Event::PromptFinished, now).unwrap();
        }
        panic!("no recording: {heard:?}");
    };
    assert_eq!(
        voicemail(&mut engine, "+48221009801"),
        (
            vec!["pl:Proszę zostawić wiadomość.".to_string()],
            Some("desk@example.com".to_string())
        )
    );
    assert_eq!(
        voicemail(&mut engine, "+48221009802"),
        (Vec::new(), Some("office@example.com".to_string()))
    );
    assert_eq!(voicemail(&mut engine, "+4721009803"), (Vec::new(), None));
    assert_eq!(
        voicemail(&mut engine, "+4721009804"),
        (vec!["nb:Legg igjen en beskjed.".to_string()], None)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 18: a `say` block's `voice` reaches the synthesiser as espeak-ng's
/// variant of its language (`pl+f3`; English without a language).
#[test]
fn a_says_voice_is_its_languages_variant() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("engine-voice");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("voice.flow"),
        r#"campaign voices {
  name "Voices"
  id "VOICES"
  numbers [+48221009811]
  ivr {
    answer
    say "Dzień dobry" { language "pl"; voice "f3" }
    say "Hello" { voice "m2" }
    say "Cześć" { language "pl" }
    hangup
  }
}
"#,
    )
    .unwrap();
    let mut engine = engine_for(&dir);
    let now = at("2026-11-23T10:00:00[Europe/Warsaw]");
    let id = engine
        .handle_call("+48600000001", "+48221009811", now)
        .unwrap();
    let mut voices = Vec::new();
    for _ in 0..4 {
        for command in drain(&mut engine) {
            if let Command::Play {
                prompt: dialect_bytecode::Prompt::Say { language, .. },
                ..
            } = command
            {
                voices.push(language.unwrap_or_default());
            }
        }
        let _ = engine.handle_event(id, Event::PromptFinished, now);
    }
    assert_eq!(voices, ["pl+f3", "en+m2", "pl"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
