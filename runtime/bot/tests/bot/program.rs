//! Bot configurations read from programs compiled from `flows/`.

use crate::program;
use dialect_bot::{BotConfig, Mode, Unassigned};
use dialect_bytecode::Prompt;

fn say(text: &str) -> Option<Prompt> {
    Some(Prompt::Say {
        text: text.into(),
        language: None,
    })
}

#[test]
fn scheme7s_assistant() {
    let program = program("scheme7");
    let config = BotConfig::from_program(program, "assistant").expect("the bot");
    assert_eq!(config.name, "assistant");
    assert_eq!(config.knowledge.as_deref(), Some("kb/faq.toml"));
    assert_eq!(config.endpoint, None);
    assert!(!config.is_external());
    assert!((config.threshold - 0.45).abs() < 1e-9);
    assert_eq!(config.languages, ["pl", "en"]);
    assert_eq!(config.timeout_ms, 5_000);
    assert_eq!(
        config.greeting,
        say("Dzień dobry, jestem wirtualnym asystentem. W czym mogę pomóc?")
    );
    let handoff = &config.handoff;
    assert_eq!(handoff.name.as_deref(), Some("to_people"));
    assert!(handoff.default_triggers);
    let triggers: Vec<&str> = handoff.triggers.iter().map(|p| p.source.as_str()).collect();
    assert_eq!(
        triggers,
        [
            "konsultant",
            "człowiek",
            "reklamacja",
            "zwrot pieniędzy",
            "rezygnacja",
            "consultant",
            "human",
            "complaint",
            "refund",
            "cancel"
        ]
    );
    assert_eq!(handoff.mode, Mode::Live);
    assert_eq!(handoff.teams, ["common/agents.first_line"]);
    assert!(handoff.users.is_empty());
    assert!(handoff.rules.is_empty());
    assert!(!handoff.rotate_by_channel);
    assert_eq!(
        handoff.message_available,
        say("Łączę z konsultantem, proszę czekać.")
    );
    assert_eq!(
        handoff.message_unavailable,
        say("Wszyscy konsultanci są teraz zajęci.")
    );
    assert_eq!(
        handoff.message_unassigned,
        say("Nie udało się przydzielić konsultanta.")
    );
    assert_eq!(handoff.unassigned, Unassigned::KeepOpen);
}

#[test]
fn the_bot_block_names_a_bot_the_program_declares() {
    for program in crate::programs() {
        for node in &program.nodes {
            if let dialect_bytecode::Op::Bot { bot, .. } = &node.op {
                assert!(
                    BotConfig::from_program(program, bot).is_some(),
                    "{}: bot {bot}",
                    program.name
                );
            }
        }
    }
    assert!(BotConfig::from_program(program("scheme7"), "nobody").is_none());
    assert!(BotConfig::from_program(program("scheme1"), "assistant").is_none());
}

#[test]
fn the_helpline_bot_of_complete_flow() {
    let config = BotConfig::from_program(program("helpline"), "helpline_bot").expect("the bot");
    assert!((config.threshold - 0.5).abs() < 1e-9);
    assert_eq!(config.timeout_ms, 4_000);
    let handoff = &config.handoff;
    assert!(handoff.rotate_by_channel);
    assert_eq!(handoff.unassigned, Unassigned::Close);
    assert_eq!(
        handoff.rules,
        [
            (
                "!caller.starts_with(\"+48\")".to_string(),
                "common/agents.second_line".to_string()
            ),
            (
                "channel == \"chat\" && language == \"en\"".to_string(),
                "common/agents.second_line".to_string()
            ),
            (
                "\"nip\" in record && record.nip != \"\"".to_string(),
                "common/agents.second_line".to_string()
            ),
            ("true".to_string(), "common/agents.first_line".to_string()),
        ]
    );
}

#[test]
fn a_scheme7_conversation_end_to_end() {
    use dialect_bot::{Channel, Conversation, Reason, Step};
    use std::sync::Arc;
    let config = Arc::new(BotConfig::from_program(program("scheme7"), "assistant").expect("bot"));
    let kb = crate::faq();
    let start = || Conversation::new(config.clone(), Some(kb.clone()), Channel::Voice);
    let mut conversation = start();
    assert!(matches!(conversation.first_turn(), Step::Say { .. }));
    assert!(matches!(
        conversation.on_utterance("Nie mam prądu!", false),
        Step::Say { .. }
    ));
    // Custom triggers of `to_people`.
    assert_eq!(
        conversation.on_utterance("Chcę ZWROT PIENIĘDZY", false),
        Step::Handoff {
            reason: Reason::Phrase("zwrot pieniędzy".into())
        }
    );
    let mut conversation = start();
    assert_eq!(
        conversation.on_utterance("I want to cancel my contract", false),
        Step::Handoff {
            reason: Reason::Phrase("cancel".into())
        }
    );
    let mut conversation = start();
    assert_eq!(
        conversation.on_utterance("Jaka będzie jutro pogoda?", false),
        Step::Handoff {
            reason: Reason::CannotAnswer
        }
    );
}
