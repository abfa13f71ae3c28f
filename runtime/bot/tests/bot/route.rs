//! Routing handed-off tickets: workflow rules, fixed teams and users, and
//! the owner rotating by source channel.

use crate::program;
use dialect_bot::{BotConfig, HandoffRules, Router, TicketFacts};

fn members(team: &str) -> Vec<String> {
    match team {
        "first" => vec!["alice".into(), "bob".into()],
        "second" => vec!["grace".into(), "heidi".into(), "ivy".into()],
        _ => Vec::new(),
    }
}

fn ticket(channel: &str, caller: &str) -> TicketFacts {
    TicketFacts {
        channel: channel.into(),
        language: Some("pl".into()),
        caller: caller.into(),
        reason: "cannot_answer".into(),
        text: "chcę zwrot pieniędzy".into(),
        ..TicketFacts::default()
    }
}

fn rules(rules: &[(&str, &str)]) -> HandoffRules {
    HandoffRules {
        teams: vec!["first".into()],
        users: vec!["zoe".into()],
        rules: rules
            .iter()
            .map(|(e, t)| ((*e).to_string(), (*t).to_string()))
            .collect(),
        ..HandoffRules::default()
    }
}

#[test]
fn the_first_rule_that_holds_chooses_the_team() {
    let mut router = Router::new();
    let handoff = rules(&[
        (r#"channel == "mail""#, "mail_team"),
        (
            r#"language == "en" || !caller.starts_with("+48")"#,
            "second",
        ),
        (
            r#"reason == "cannot_answer" && text.contains("zwrot")"#,
            "first",
        ),
        ("true", "never"),
    ]);
    let assignment = router.route(&handoff, &ticket("chat", "+4860000"), &members);
    assert_eq!(assignment.team.as_deref(), Some("first"));
    assert!(assignment.users.is_empty());
    assert_eq!(assignment.owner, None);
    assert!(assignment.warnings.is_empty());
    let assignment = router.route(&handoff, &ticket("chat", "+4420000"), &members);
    assert_eq!(assignment.team.as_deref(), Some("second"));
    let assignment = router.route(&handoff, &ticket("mail", "+4420000"), &members);
    assert_eq!(assignment.team.as_deref(), Some("mail_team"));
    let mut english = ticket("voice", "+4860000");
    english.language = Some("en".into());
    assert_eq!(
        router.route(&handoff, &english, &members).team.as_deref(),
        Some("second")
    );
}

#[test]
fn without_a_matching_rule_the_handoffs_teams_and_users() {
    let mut router = Router::new();
    let handoff = rules(&[(r#"channel == "mail""#, "mail_team")]);
    let assignment = router.route(&handoff, &ticket("chat", "+48"), &members);
    assert_eq!(assignment.team.as_deref(), Some("first"));
    assert_eq!(assignment.users, ["zoe"]);
    assert!(!assignment.is_unassigned());
    let nobody = HandoffRules::default();
    let assignment = router.route(&nobody, &ticket("chat", "+48"), &members);
    assert!(assignment.is_unassigned());
}

#[test]
fn a_failing_rule_counts_as_false_and_is_reported() {
    let mut router = Router::new();
    let handoff = rules(&[
        ("no_such_variable == 1", "second"),
        ("channel ==", "second"),
        (r#""a string""#, "second"),
        (r#"record.tier == "gold""#, "second"),
        ("true", "first"),
    ]);
    let assignment = router.route(&handoff, &ticket("chat", "+48"), &members);
    assert_eq!(assignment.team.as_deref(), Some("first"));
    assert_eq!(assignment.warnings.len(), 3, "{:#?}", assignment.warnings);
    assert!(assignment.warnings.iter().any(|w| w.starts_with("rule 1 ")));
    assert!(assignment.warnings.iter().any(|w| w.starts_with("rule 2 ")));
    assert!(
        assignment
            .warnings
            .iter()
            .any(|w| w.starts_with("rule 3 ") && w.contains("not true or false"))
    );
    // The record's fields are there when given.
    let mut gold = ticket("chat", "+48");
    gold.record.insert("tier".into(), "gold".into());
    let assignment = router.route(&handoff, &gold, &members);
    assert_eq!(assignment.team.as_deref(), Some("second"));
    // Compiled once: routing again gives the same warnings.
    let again = router.route(&handoff, &ticket("chat", "+48"), &members);
    assert_eq!(again.warnings.len(), 3);
}

#[test]
fn a_runaway_rule_is_stopped() {
    let mut router = Router::new();
    let handoff = rules(&[("{ let x = 0; loop { x += 1; } }", "second")]);
    let assignment = router.route(&handoff, &ticket("chat", "+48"), &members);
    assert_eq!(assignment.team.as_deref(), Some("first"));
    assert_eq!(assignment.warnings.len(), 1);
}

#[test]
fn the_owner_rotates_per_team_and_channel() {
    let mut router = Router::new();
    let mut handoff = rules(&[(r#"channel == "mail""#, "second")]);
    handoff.rotate_by_channel = true;
    let mut owners = |channel: &str| {
        router
            .route(&handoff, &ticket(channel, "+48"), &members)
            .owner
            .unwrap_or_default()
    };
    let seen: Vec<String> = [
        "chat", "chat", "voice", "chat", "voice", "mail", "mail", "mail", "mail",
    ]
    .iter()
    .map(|c| owners(c))
    .collect();
    assert_eq!(
        seen,
        [
            "alice", "bob", "alice", "alice", "bob", "grace", "heidi", "ivy", "grace"
        ]
    );
}

#[test]
fn rotation_without_a_team_uses_the_users_and_an_empty_team_warns() {
    let mut router = Router::new();
    let handoff = HandoffRules {
        users: vec!["u1".into(), "u2".into()],
        rotate_by_channel: true,
        ..HandoffRules::default()
    };
    let owners: Vec<Option<String>> = (0..3)
        .map(|_| {
            router
                .route(&handoff, &ticket("chat", "+48"), &members)
                .owner
        })
        .collect();
    assert_eq!(
        owners,
        [Some("u1".into()), Some("u2".into()), Some("u1".into())]
    );
    let empty = HandoffRules {
        teams: vec!["ghosts".into()],
        rotate_by_channel: true,
        ..HandoffRules::default()
    };
    let assignment = router.route(&empty, &ticket("chat", "+48"), &members);
    assert_eq!(assignment.owner, None);
    assert_eq!(assignment.warnings.len(), 1);
}

#[test]
fn the_helpline_workflow_from_complete_flow() {
    let program = program("helpline");
    let config = BotConfig::from_program(program, "helpline_bot").expect("the bot");
    let team_members = |team: &str| -> Vec<String> {
        program
            .decls
            .iter()
            .find(|d| d.kind == "team" && d.name == team)
            .and_then(|d| match d.settings.get("members") {
                Some(dialect_bytecode::Value::List(items)) => Some(
                    items
                        .iter()
                        .filter_map(|v| match v {
                            dialect_bytecode::Value::Ref(_, n) => Some(n.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default()
    };
    let mut router = Router::new();
    // A foreign caller: the second line.
    let assignment = router.route(&config.handoff, &ticket("chat", "+4420000"), &team_members);
    assert_eq!(
        assignment.team.as_deref(),
        Some("common/agents.second_line")
    );
    assert_eq!(assignment.owner.as_deref(), Some("common/agents.grace"));
    // A business customer (a NIP in the record): the second line.
    let mut business = ticket("chat", "+48221000001");
    business.record.insert("nip".into(), "5260001246".into());
    let assignment = router.route(&config.handoff, &business, &team_members);
    assert_eq!(
        assignment.team.as_deref(),
        Some("common/agents.second_line")
    );
    assert_eq!(assignment.owner.as_deref(), Some("common/agents.heidi"));
    // Everyone else: the first line, owners rotating by channel.
    let owners: Vec<String> = ["chat", "chat", "voice"]
        .iter()
        .map(|c| {
            let a = router.route(&config.handoff, &ticket(c, "+48221000001"), &team_members);
            assert!(a.warnings.is_empty(), "{:?}", a.warnings);
            assert_eq!(a.team.as_deref(), Some("common/agents.first_line"));
            a.owner.unwrap_or_default()
        })
        .collect();
    assert_eq!(
        owners,
        [
            "common/agents.alice",
            "common/agents.bob",
            "common/agents.alice"
        ]
    );
}

#[test]
fn a_calls_handoff_chooses_its_message_and_whether_it_is_a_ticket() {
    use dialect_bot::Mode;
    use dialect_bytecode::Prompt;
    let say = |text: &str| Prompt::Say {
        text: text.into(),
        language: None,
    };
    let mut live = rules(&[]);
    live.mode = Mode::Live;
    live.message_available = Some(say("connecting"));
    live.message_unavailable = Some(say("everyone is busy"));
    live.message_unassigned = Some(say("saved for later"));
    let mut router = Router::new();
    let facts = ticket("voice", "+48600");

    // Someone of the team is available: connected.
    let bob_free = |agent: &str| agent == "bob";
    let h = router.handoff(&live, &facts, &members, &bob_free);
    assert!(h.available && !h.ticket);
    assert_eq!(h.message, Some(say("connecting")));
    // A user of the handoff counts too, by the name it is written with.
    let zoe_free = |agent: &str| agent == "zoe";
    assert!(router.handoff(&live, &facts, &members, &zoe_free).available);
    // Nobody available: told so, no ticket.
    let h = router.handoff(&live, &facts, &members, &|_| false);
    assert!(!h.available && !h.ticket);
    assert_eq!(h.message, Some(say("everyone is busy")));
    // Asynchronous: a ticket, with the unassigned message.
    let mut later = live.clone();
    later.mode = Mode::Async;
    let h = router.handoff(&later, &facts, &members, &bob_free);
    assert!(h.ticket);
    assert_eq!(h.message, Some(say("saved for later")));
    // Nobody assigned: a ticket; without an unassigned message, the
    // unavailable one.
    let mut nobody = HandoffRules {
        mode: Mode::Live,
        message_unavailable: Some(say("everyone is busy")),
        ..HandoffRules::default()
    };
    let h = router.handoff(&nobody, &facts, &members, &bob_free);
    assert!(h.ticket && h.assignment.is_unassigned());
    assert_eq!(h.message, Some(say("everyone is busy")));
    nobody.message_unavailable = None;
    assert_eq!(
        router.handoff(&nobody, &facts, &members, &bob_free).message,
        None
    );
}
