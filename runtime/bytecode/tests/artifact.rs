//! The artifact format end to end: encoding, every way loading refuses a
//! file, graph verification and the text dump.

// Tests build their inputs and may index and unwrap them: a panic here is a
// test failure, not a crash of the runtime.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_bytecode::{
    ContentHash, Exception, FORMAT_VERSION, Header, Invalid, LoadError, MAGIC, Node, NodeId, Op,
    Origin, Place, Program, Prompt, Schedule, Section, Table, Value, compiler_version,
    content_hash, dump, encode, load, verify,
};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------
// The sample program
// ---------------------------------------------------------------------------

/// A small but realistic campaign, as the compiler would lower this source
/// (`scheme2.flow`):
///
/// ```text
/// campaign scheme2 {
///   ...
///   ivr {
///     answer
///     hours office {
///       on open {
///         say "Dzień dobry, tu Example Bank."
///         main: menu say "Sprzedaż: 1, obsługa: 2, konsultant: 0" {
///           timeout 5s; retries 2; invalid_prompt say "Nie rozpoznano wyboru."
///           on 1 { queue sales { ... on timeout { goto busy } on full { goto busy } } }
///           on 2 { queue support { ... } }
///           on 0 { queue support { ... } }
///           on no_input { queue support { ... } }
///           on invalid { hangup }
///         }
///       }
///       on closed { say "Zapraszamy w dni robocze od 8 do 16." }
///     }
///   }
/// }
/// ```
fn sample() -> Program {
    let settings = |pairs: Vec<(&str, Value)>| -> BTreeMap<String, Value> {
        pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    };
    let section = |kind: &str, name: &str, pairs| Section {
        kind: kind.to_owned(),
        name: name.to_owned(),
        settings: settings(pairs),
    };
    let node = |op, exits: &[(&str, NodeId)], line, label: Option<&str>| Node {
        op,
        exits: exits
            .iter()
            .map(|(name, target)| ((*name).to_owned(), *target))
            .collect(),
        origin: Origin {
            file: 0,
            start: line * 40,
            end: line * 40 + 12,
            line,
            label: label.map(str::to_owned),
        },
    };
    let queue = |name: &str, max_wait_ms, entry_prompt, announce_every_ms| Op::Queue {
        queue: name.to_owned(),
        max_wait_ms,
        entry_prompt,
        announce_every_ms,
    };
    let queue_exits = [("connected", 8), ("timeout", 6), ("full", 6)];
    Program {
        name: "scheme2".to_owned(),
        settings: settings(vec![
            ("country_code", Value::Phone("+48".to_owned())),
            ("id", Value::Text("S2".to_owned())),
            (
                "name",
                Value::Text("Scheme 2: hours, a menu and two queues".to_owned()),
            ),
            ("priority", Value::Int(10)),
            ("service_level", Value::Percent(8050)),
        ]),
        numbers: vec!["+48221000002".to_owned(), "+48221000003".to_owned()],
        sections: vec![
            section(
                "field",
                "pesel",
                vec![
                    ("required", Value::Bool(true)),
                    ("type", Value::Word("pesel".to_owned())),
                ],
            ),
            section(
                "channel",
                "inbound",
                vec![
                    (
                        "age",
                        Value::List(vec![Value::Duration(120_000), Value::Int(100)]),
                    ),
                    ("max_wait", Value::Duration(300_000)),
                    ("priority", Value::Int(50)),
                ],
            ),
            section(
                "variable",
                "vip",
                vec![
                    ("default", Value::Expr(0)),
                    ("threshold", Value::Decimal("0.35".to_owned())),
                ],
            ),
        ],
        decls: vec![
            section(
                "queue",
                "sales",
                vec![
                    ("max_wait", Value::Duration(600_000)),
                    ("music", Value::Prompt(3)),
                    ("skill", Value::Ref("skill".to_owned(), "sales".to_owned())),
                ],
            ),
            section(
                "queue",
                "support",
                vec![
                    ("hours", Value::TimeRange(480, 1440)),
                    ("days", Value::Days(0b001_1111)),
                    (
                        "holidays",
                        Value::DateRange("2026-12-24".to_owned(), "2026-12-26".to_owned()),
                    ),
                ],
            ),
        ],
        schedules: vec![Schedule {
            name: "office".to_owned(),
            zone: "Europe/Warsaw".to_owned(),
            weekly: vec![(0b001_1111, 480, 960), (0b010_0000, 540, 780)],
            exceptions: vec![
                Exception::Closed {
                    from: "2026-12-24".to_owned(),
                    to: "2026-12-26".to_owned(),
                    reason: Some("Christmas".to_owned()),
                },
                Exception::Open {
                    date: "2026-12-27".to_owned(),
                    start: 600,
                    end: 840,
                    reason: Some("Stocktaking Sunday".to_owned()),
                },
            ],
        }],
        prompts: vec![
            Prompt::Say {
                text: "Dzień dobry, tu Example Bank.".to_owned(),
                language: Some("pl".to_owned()),
            },
            Prompt::Say {
                text: "Sprzedaż: 1, obsługa: 2, konsultant: 0".to_owned(),
                language: None,
            },
            Prompt::Say {
                text: "Nie rozpoznano wyboru.".to_owned(),
                language: None,
            },
            Prompt::Play {
                path: "prompts/moh.wav".to_owned(),
            },
            Prompt::Say {
                text: "Wszyscy konsultanci są zajęci.".to_owned(),
                language: None,
            },
            Prompt::Say {
                text: "Zapraszamy w dni robocze od 8 do 16.".to_owned(),
                language: None,
            },
        ],
        exprs: vec!["caller.starts_with(\"+4850\")".to_owned()],
        sources: vec!["scheme2.flow".to_owned()],
        nodes: vec![
            node(Op::Answer, &[("next", 1)], 14, None),
            node(
                Op::Hours { schedule: 0 },
                &[("open", 2), ("closed", 7)],
                15,
                None,
            ),
            node(Op::Play { prompt: 0 }, &[("next", 3)], 17, None),
            node(
                Op::Menu {
                    prompt: Some(1),
                    timeout_ms: 5_000,
                    retries: 2,
                    invalid_prompt: Some(2),
                    no_input_prompt: None,
                },
                &[
                    ("1", 4),
                    ("2", 5),
                    ("0", 5),
                    ("no_input", 5),
                    ("invalid", 8),
                ],
                18,
                Some("main"),
            ),
            node(
                queue("sales", 600_000, Some(3), Some(60_000)),
                &queue_exits,
                21,
                None,
            ),
            node(
                queue("support", 1_800_000, Some(3), None),
                &queue_exits,
                22,
                None,
            ),
            node(Op::Play { prompt: 4 }, &[("next", 8)], 26, Some("busy")),
            node(Op::Play { prompt: 5 }, &[("next", 8)], 30, None),
            node(Op::Hangup { reason: None }, &[], 33, None),
        ],
        entry: 0,
        assets: Vec::new(),
    }
}

/// Writes an artifact around any payload, following the documented layout
/// independently of `encode`, so that tests can hash payloads that `encode`
/// would never produce.
fn artifact(payload: &[u8]) -> Vec<u8> {
    let version = compiler_version().as_bytes();
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&u16::try_from(version.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(version);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&content_hash(payload).0);
    bytes.extend_from_slice(payload);
    bytes
}

/// The offset of the payload in an artifact written by this compiler.
fn payload_offset() -> usize {
    8 + 2 + 2 + compiler_version().len() + 8 + 32
}

/// Encodes a program without verifying it, the way a faulty compiler would.
fn encode_unverified(program: &Program) -> Vec<u8> {
    artifact(&postcard::to_stdvec(program).unwrap())
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

#[test]
fn sample_is_valid() {
    assert_eq!(verify(&sample()), Ok(()));
}

#[test]
fn round_trip_gives_the_same_program() {
    let program = sample();
    let loaded = load(&encode(&program)).unwrap();
    assert_eq!(loaded.program, program);
    assert_eq!(loaded.header.format_version, FORMAT_VERSION);
    assert_eq!(loaded.header.compiler_version, compiler_version());
}

#[test]
fn encoding_is_deterministic() {
    let program = sample();
    assert_eq!(encode(&program), encode(&program));
    assert_eq!(encode(&program), encode(&program.clone()));
}

#[test]
fn encoding_follows_the_documented_layout() {
    let program = sample();
    let payload = postcard::to_stdvec(&program).unwrap();
    assert_eq!(encode(&program), artifact(&payload));
}

#[test]
fn header_names_the_payload_hash() {
    let program = sample();
    let bytes = encode(&program);
    let header = load(&bytes).unwrap().header;
    let hash = content_hash(&bytes[payload_offset()..]);
    assert_eq!(header.content_hash(), hash);
    assert_eq!(header.payload_len, (bytes.len() - payload_offset()) as u64);
    assert_eq!(header.hash_hex().len(), 64);
    assert!(
        header
            .hash_hex()
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    );
    assert_eq!(
        header.hash.to_string(),
        format!("sha256:{}", header.hash_hex())
    );
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

#[test]
fn flipped_payload_byte_is_a_hash_mismatch() {
    let mut bytes = encode(&sample());
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    assert!(matches!(load(&bytes), Err(LoadError::HashMismatch { .. })));
}

#[test]
fn flipped_magic_byte_is_bad_magic() {
    let mut bytes = encode(&sample());
    bytes[3] ^= 0x20;
    assert_eq!(load(&bytes), Err(LoadError::BadMagic));
    assert_eq!(load(b"campaign scheme1 {}\n"), Err(LoadError::BadMagic));
}

#[test]
fn file_cut_in_half_is_truncated() {
    let bytes = encode(&sample());
    let half = &bytes[..bytes.len() / 2];
    assert_eq!(
        load(half),
        Err(LoadError::Truncated {
            needed: bytes.len() as u64,
            got: half.len() as u64
        })
    );
}

#[test]
fn every_prefix_is_truncated() {
    let bytes = encode(&sample());
    for len in 0..bytes.len() {
        let result = load(&bytes[..len]);
        assert!(
            matches!(result, Err(LoadError::Truncated { .. })),
            "prefix {len}: {result:?}"
        );
    }
}

#[test]
fn other_format_version_is_unsupported() {
    // An artifact of the format before assets, and one from the future.
    for found in [1u16, FORMAT_VERSION + 1] {
        let mut bytes = encode(&sample());
        bytes[8..10].copy_from_slice(&found.to_le_bytes());
        assert_eq!(
            load(&bytes),
            Err(LoadError::UnsupportedVersion {
                found,
                supported: FORMAT_VERSION
            })
        );
    }
}

#[test]
fn extra_bytes_are_trailing() {
    let mut bytes = encode(&sample());
    let len = bytes.len() as u64;
    bytes.extend_from_slice(b"\n\n\n");
    assert_eq!(
        load(&bytes),
        Err(LoadError::TrailingBytes {
            expected: len,
            got: len + 3
        })
    );
}

#[test]
fn unprintable_compiler_version_is_refused() {
    let mut bytes = encode(&sample());
    bytes[12] = b'\n';
    assert_eq!(load(&bytes), Err(LoadError::BadCompilerVersion));
}

#[test]
fn garbage_payload_with_right_hash_does_not_decode() {
    let result = load(&artifact(&[0xff; 40]));
    assert!(matches!(result, Err(LoadError::Decode(_))), "{result:?}");
}

#[test]
fn left_over_payload_bytes_do_not_decode() {
    let mut payload = postcard::to_stdvec(&sample()).unwrap();
    payload.push(0);
    let result = load(&artifact(&payload));
    assert_eq!(
        result,
        Err(LoadError::Decode(
            "1 byte left over after the program".into()
        ))
    );
}

#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    // A program named `x` whose first setting `k` is a list of a list of ...
    // a million levels deep, hashed correctly.
    let list_of_one = postcard::to_stdvec(&Value::List(vec![Value::Bool(true)])).unwrap();
    let open_list = &list_of_one[..2];
    let mut payload = vec![1, b'x', 1, 1, b'k'];
    for _ in 0..1_000_000 {
        payload.extend_from_slice(open_list);
    }
    let result = load(&artifact(&payload));
    assert_eq!(
        result,
        Err(LoadError::Decode(
            "values are nested more than 64 levels deep".into()
        ))
    );
}

#[test]
fn exit_out_of_range_is_invalid() {
    let mut program = sample();
    program.nodes[3].exits[0].1 = 99;
    assert_eq!(
        load(&encode_unverified(&program)),
        Err(LoadError::Invalid(Invalid::ExitOutOfRange {
            node: 3,
            exit: "1".into(),
            target: 99,
            nodes: 9
        }))
    );
}

#[test]
fn missing_exit_is_invalid() {
    let mut program = sample();
    program.nodes[1].exits.retain(|(name, _)| name != "closed");
    assert_eq!(
        load(&encode_unverified(&program)),
        Err(LoadError::Invalid(Invalid::MissingExit {
            node: 1,
            keyword: "hours",
            exit: "closed"
        }))
    );
}

/// Flips every bit of every byte, one position at a time, and then each
/// single bit: no flip may panic, and none may load, except a flip inside the
/// compiler version label that leaves it printable, which the hash does not
/// cover and which changes nothing but the label.
#[test]
fn no_single_byte_corruption_loads() {
    let program = sample();
    let bytes = encode(&program);
    let label = 12..12 + compiler_version().len();
    for position in 0..bytes.len() {
        for mask in [0xff, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80] {
            let mut corrupt = bytes.clone();
            corrupt[position] ^= mask;
            match load(&corrupt) {
                Err(_) => {}
                Ok(loaded) if label.contains(&position) && mask != 0xff => {
                    assert_eq!(loaded.program, program);
                    assert_ne!(loaded.header.compiler_version, compiler_version());
                }
                Ok(_) => panic!("byte {position} flipped with {mask:#04x} loaded"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Each broken invariant, made by one change to the sample, and the error
/// `verify` must give for it.
#[test]
fn broken_invariants_are_reported() {
    type Break = fn(&mut Program);
    let cases: Vec<(&str, Break, Invalid)> = vec![
        (
            "entry past the end",
            |p| p.entry = 9,
            Invalid::EntryOutOfRange { entry: 9, nodes: 9 },
        ),
        (
            "menu exit that is not a key",
            |p| p.nodes[3].exits[0].0 = "10".into(),
            Invalid::UnexpectedExit {
                node: 3,
                keyword: "menu",
                exit: "10".into(),
            },
        ),
        (
            "two exits for one key",
            |p| p.nodes[3].exits[1].0 = "1".into(),
            Invalid::DuplicateExit {
                node: 3,
                exit: "1".into(),
            },
        ),
        (
            "menu without invalid",
            |p| {
                p.nodes[3].exits.pop();
            },
            Invalid::MissingExit {
                node: 3,
                keyword: "menu",
                exit: "invalid",
            },
        ),
        (
            "hangup with an exit",
            |p| p.nodes[8].exits.push(("next".into(), 0)),
            Invalid::UnexpectedExit {
                node: 8,
                keyword: "hangup",
                exit: "next".into(),
            },
        ),
        (
            "goto without next",
            |p| {
                p.nodes[7] = Node {
                    op: Op::Jump,
                    exits: vec![],
                    origin: p.nodes[7].origin.clone(),
                }
            },
            Invalid::MissingExit {
                node: 7,
                keyword: "goto",
                exit: "next",
            },
        ),
        (
            "switch without else",
            |p| {
                p.nodes[7].op = Op::Switch { expr: 0 };
                p.nodes[7].exits = vec![("gold".into(), 8)];
            },
            Invalid::MissingExit {
                node: 7,
                keyword: "switch",
                exit: "else",
            },
        ),
        (
            "prompt index past the end",
            |p| p.nodes[2].op = Op::Play { prompt: 6 },
            Invalid::IndexOutOfRange {
                place: Place::Node(2),
                table: Table::Prompts,
                index: 6,
                len: 6,
            },
        ),
        (
            "schedule index past the end",
            |p| p.nodes[1].op = Op::Hours { schedule: 1 },
            Invalid::IndexOutOfRange {
                place: Place::Node(1),
                table: Table::Schedules,
                index: 1,
                len: 1,
            },
        ),
        (
            "expression index in a section",
            |p| {
                p.sections[2]
                    .settings
                    .insert("x".into(), Value::List(vec![Value::Expr(1)]));
            },
            Invalid::IndexOutOfRange {
                place: Place::Section {
                    kind: "variable".into(),
                    name: "vip".into(),
                },
                table: Table::Exprs,
                index: 1,
                len: 1,
            },
        ),
        (
            "prompt index in a declaration",
            |p| {
                p.decls[0]
                    .settings
                    .insert("music".into(), Value::Prompt(60));
            },
            Invalid::IndexOutOfRange {
                place: Place::Section {
                    kind: "queue".into(),
                    name: "sales".into(),
                },
                table: Table::Prompts,
                index: 60,
                len: 6,
            },
        ),
        (
            "source index past the end",
            |p| p.nodes[0].origin.file = 1,
            Invalid::IndexOutOfRange {
                place: Place::Origin(0),
                table: Table::Sources,
                index: 1,
                len: 1,
            },
        ),
        (
            "queue that is not declared",
            |p| {
                p.nodes[5].op = Op::Queue {
                    queue: "billing".into(),
                    max_wait_ms: 1,
                    entry_prompt: None,
                    announce_every_ms: None,
                }
            },
            Invalid::UnknownQueue {
                node: 5,
                queue: "billing".into(),
            },
        ),
        (
            "priority beyond 100",
            |p| {
                p.nodes[7].op = Op::Priority { delta: -101 };
            },
            Invalid::PriorityOutOfRange {
                node: 7,
                delta: -101,
            },
        ),
        (
            "schedule without a zone",
            |p| p.schedules[0].zone.clear(),
            Invalid::EmptyZone {
                schedule: "office".into(),
            },
        ),
        (
            "hours past midnight",
            |p| p.schedules[0].weekly[1].2 = 1441,
            Invalid::BadHours {
                schedule: "office".into(),
                start: 540,
                end: 1441,
            },
        ),
        (
            "exception hours that end before they start",
            |p| {
                if let Exception::Open { start, .. } = &mut p.schedules[0].exceptions[1] {
                    *start = 840;
                }
            },
            Invalid::BadHours {
                schedule: "office".into(),
                start: 840,
                end: 840,
            },
        ),
        (
            "absolute source path",
            |p| p.sources[0] = "/home/ci/flows/scheme2.flow".into(),
            Invalid::AbsolutePath {
                path: "/home/ci/flows/scheme2.flow".into(),
            },
        ),
        (
            "absolute audio path",
            |p| {
                p.prompts[3] = Prompt::Play {
                    path: "C:\\prompts\\moh.wav".into(),
                }
            },
            Invalid::AbsolutePath {
                path: "C:\\prompts\\moh.wav".into(),
            },
        ),
    ];
    for (name, break_it, expected) in cases {
        let mut program = sample();
        break_it(&mut program);
        assert_eq!(verify(&program), Err(expected), "{name}");
    }
}

#[test]
fn every_exit_shape_is_accepted() {
    let cases: Vec<(Op, &[&str])> = vec![
        (Op::Answer, &["next"]),
        (
            Op::Menu {
                prompt: None,
                timeout_ms: 1,
                retries: 0,
                invalid_prompt: None,
                no_input_prompt: None,
            },
            &[
                "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "no_input", "invalid",
            ],
        ),
        (
            Op::Extension {
                prompt: None,
                digits: 4,
                timeout_ms: 1,
                retries: 0,
            },
            &["found", "no_input", "invalid"],
        ),
        (
            Op::RouteCaller {
                patterns: vec!["+4850*".into()],
            },
            &["match", "no_match"],
        ),
        (
            Op::RouteDialled { patterns: vec![] },
            &["no_match", "match"],
        ),
        (Op::RouteIdentified, &["one", "many", "none"]),
        (
            Op::Authorise {
                source: "internal".into(),
                url: None,
                prompt: None,
                timeout_ms: 1,
            },
            &["ok", "failed"],
        ),
        (
            Op::Ticket {
                prompt: None,
                digits: 6,
                timeout_ms: 1,
            },
            &["ok", "failed"],
        ),
        (
            Op::ApiLogin {
                url: "https://crm.example".into(),
                user: None,
                secret: None,
                timeout_ms: 1,
            },
            &["ok", "error"],
        ),
        (
            Op::ApiRequest {
                url: "https://crm.example".into(),
                method: "get".into(),
                body: None,
                into: "r".into(),
                timeout_ms: 1,
            },
            &["ok", "error", "timeout"],
        ),
        (Op::Condition { expr: 0 }, &["true", "false"]),
        (Op::Switch { expr: 0 }, &["gold", "3", "else"]),
        (Op::Switch { expr: 0 }, &["else"]),
        (
            Op::Set {
                var: "x".into(),
                expr: 0,
            },
            &["next"],
        ),
        (Op::Priority { delta: 100 }, &["next"]),
        (Op::Overflow { limit: 3 }, &["within", "overflow"]),
        (
            Op::Dial {
                number: "+48221000999".into(),
                timeout_ms: 1,
                caller_id: None,
            },
            &["connected", "busy", "no_answer", "failed"],
        ),
        (
            Op::Voicemail {
                greeting: None,
                without_announcement: false,
                email: None,
                max_length_ms: 1,
            },
            &["next"],
        ),
        (
            Op::Callback {
                queue: None,
                prompt: None,
                delay_ms: 0,
                reason: None,
            },
            &["next"],
        ),
        (Op::NoRecordWindow, &["next"]),
        (Op::NoSurvey, &["next"]),
        (
            Op::Bot {
                bot: "assistant".into(),
                max_turns: 5,
                timeout_ms: 1,
            },
            &["done", "handoff", "cannot_answer"],
        ),
        (Op::Jump, &["next"]),
    ];
    for (op, exits) in cases {
        let mut program = sample();
        let keyword = op.keyword();
        program.nodes[7] = Node {
            op,
            exits: exits.iter().map(|exit| ((*exit).to_owned(), 8)).collect(),
            origin: program.nodes[7].origin.clone(),
        };
        assert_eq!(verify(&program), Ok(()), "{keyword} with {exits:?}");
    }
}

// ---------------------------------------------------------------------------
// Dump
// ---------------------------------------------------------------------------

#[test]
fn dump_of_the_sample() {
    let loaded = load(&encode(&sample())).unwrap();
    // The compiler version is replaced so that a release does not change
    // the golden file; the hash stays, so an encoding change does.
    let header = Header {
        compiler_version: "test".into(),
        ..loaded.header
    };
    insta::assert_snapshot!(dump(&header, &loaded.program));
}

#[test]
fn dump_is_deterministic() {
    let loaded = load(&encode(&sample())).unwrap();
    assert_eq!(
        dump(&loaded.header, &loaded.program),
        dump(&loaded.header, &sample())
    );
}

#[test]
fn dump_shows_every_op() {
    let header = Header {
        format_version: FORMAT_VERSION,
        compiler_version: "test".into(),
        payload_len: 0,
        hash: ContentHash([0; 32]),
    };
    let origin = Origin {
        file: 7,
        start: 0,
        end: 0,
        line: 1,
        label: None,
    };
    let ops = vec![
        Op::Extension {
            prompt: Some(0),
            digits: 4,
            timeout_ms: 1_500,
            retries: 1,
        },
        Op::RouteCaller {
            patterns: vec!["+4850*".into(), "+48221000001".into()],
        },
        Op::RouteDialled { patterns: vec![] },
        Op::RouteIdentified,
        Op::Authorise {
            source: "external".into(),
            url: Some("https://auth.example/check".into()),
            prompt: None,
            timeout_ms: 10_000,
        },
        Op::Ticket {
            prompt: None,
            digits: 8,
            timeout_ms: 20_000,
        },
        Op::ApiLogin {
            url: "https://crm.example/login".into(),
            user: Some("ivr".into()),
            secret: Some("crm_password".into()),
            timeout_ms: 5_000,
        },
        Op::ApiRequest {
            url: "https://crm.example/orders".into(),
            method: "post".into(),
            body: Some(0),
            into: "order".into(),
            timeout_ms: 5_000,
        },
        Op::Condition { expr: 0 },
        Op::Switch { expr: 1 },
        Op::Set {
            var: "tier".into(),
            expr: 2,
        },
        Op::Priority { delta: -5 },
        Op::Overflow { limit: 20 },
        Op::Dial {
            number: "+48221000999".into(),
            timeout_ms: 30_000,
            caller_id: Some("+48221000002".into()),
        },
        Op::Voicemail {
            greeting: Some(1),
            without_announcement: true,
            email: Some("team@example.com".into()),
            max_length_ms: 120_000,
        },
        Op::Callback {
            queue: Some("sales".into()),
            prompt: None,
            delay_ms: 5_400_000,
            reason: Some("after hours".into()),
        },
        Op::NoRecordWindow,
        Op::NoSurvey,
        Op::Bot {
            bot: "assistant".into(),
            max_turns: 10,
            timeout_ms: 90_061_250,
        },
        Op::Jump,
        Op::Hangup {
            reason: Some("done\n".into()),
        },
    ];
    let program = Program {
        name: "ops".into(),
        settings: BTreeMap::new(),
        numbers: vec![],
        sections: vec![],
        decls: vec![],
        schedules: vec![],
        prompts: vec![],
        exprs: vec![],
        sources: vec![],
        nodes: ops
            .into_iter()
            .map(|op| Node {
                op,
                exits: vec![],
                origin: origin.clone(),
            })
            .collect(),
        entry: 0,
        assets: Vec::new(),
    };
    insta::assert_snapshot!(dump(&header, &program));
}

#[test]
fn load_error_messages() {
    let bytes = encode(&sample());
    let mut corrupt = bytes.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    let errors = [
        load(b"RIFF....WAVEfmt ").unwrap_err(),
        load(&bytes[..100]).unwrap_err(),
        load(&[bytes.as_slice(), b"xx"].concat()).unwrap_err(),
        LoadError::UnsupportedVersion {
            found: 2,
            supported: 1,
        },
        LoadError::BadCompilerVersion,
        load(&corrupt).unwrap_err(),
        load(&artifact(&[0xff; 4])).unwrap_err(),
        LoadError::Invalid(Invalid::IndexOutOfRange {
            place: Place::Section {
                kind: "queue".into(),
                name: "sales".into(),
            },
            table: Table::Prompts,
            index: 60,
            len: 6,
        }),
    ];
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n\n"));
}

/// Issue 16: a built artifact names its files by content; they are checked
/// against their hashes in the build's `assets/` before it is served, and
/// then played from there.
#[test]
fn assets_are_checked_against_their_hashes_and_played_from_the_store() {
    use dialect_bytecode::assets::{self, AssetError};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("assets");
    let _ = std::fs::remove_dir_all(&dir);
    let mut program = sample();
    let played: Vec<String> = program
        .prompts
        .iter()
        .filter_map(|p| match p {
            Prompt::Play { path } => Some(path.clone()),
            Prompt::Say { .. } => None,
        })
        .collect();
    assert!(!played.is_empty());
    program.assets = played
        .iter()
        .map(|path| assets::store(&dir, path, path.as_bytes()).unwrap())
        .collect();
    program.assets.sort_by(|a, b| a.path.cmp(&b.path));
    let bytes = encode(&program);
    let mut loaded = load(&bytes).unwrap();
    assets::resolve(&mut loaded.program, &dir).unwrap();
    for prompt in &loaded.program.prompts {
        if let Prompt::Play { path } = prompt {
            assert!(path.starts_with("assets/"), "{path}");
            assert_eq!(std::fs::read(dir.join(path)).unwrap(), {
                let original = path.splitn(3, '/').nth(2).unwrap();
                original.as_bytes().to_vec()
            });
        }
    }
    // Another recording under the same name: refused as altered.
    let first = &program.assets[0];
    let stored = dir.join(assets::stored_path(first));
    std::fs::write(&stored, b"another recording").unwrap();
    let mut loaded = load(&bytes).unwrap();
    let err = assets::resolve(&mut loaded.program, &dir).unwrap_err();
    assert!(matches!(err, AssetError::Altered { .. }), "{err}");
    assert!(err.to_string().contains(&first.path), "{err}");
    // Gone: refused as missing.
    std::fs::remove_file(&stored).unwrap();
    let err = assets::resolve(&mut loaded.program, &dir).unwrap_err();
    assert!(matches!(err, AssetError::Missing { .. }), "{err}");
    // The hash of the artifact covers its assets' hashes.
    let mut other = program.clone();
    other.assets[0].sha256[0] ^= 1;
    assert_ne!(
        load(&encode(&other)).unwrap().header.hash,
        load(&bytes).unwrap().header.hash
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_asset_outside_the_build_or_listed_twice_is_refused() {
    let asset = |path: &str| dialect_bytecode::Asset {
        path: path.to_string(),
        sha256: [7; 32],
    };
    for (assets, want) in [
        (vec![asset("../secrets.wav")], "not a plain relative path"),
        (
            vec![asset("prompts/../../x.wav")],
            "not a plain relative path",
        ),
        (vec![asset("")], "not a plain relative path"),
        (vec![asset("/etc/passwd")], "absolute path"),
        (vec![asset("b.wav"), asset("a.wav")], "out of order"),
        (vec![asset("a.wav"), asset("a.wav")], "listed twice"),
    ] {
        let mut program = sample();
        program.assets = assets;
        let err = load(&encode(&program)).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
}
