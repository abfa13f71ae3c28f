//! Conversations: the embedded bot, the external bot's turns, and the two
//! outcomes that must not be confused (a handoff versus "cannot take the
//! call").

use crate::{embedded, faq};
use dialect_bot::{
    BotConfig, BotResponse, Channel, Conversation, HandoffRules, Mode, ProtocolError, Reason,
    RequestContext, Speaker, Step,
};
use dialect_bytecode::Prompt;
use std::sync::Arc;

fn external(mode: Mode, greeting: Option<Prompt>) -> Conversation {
    let mut config = BotConfig::new("remote");
    config.endpoint = Some("https://bot.example.com/turn".into());
    config.threshold = 0.6;
    config.languages = vec!["pl".into(), "en".into()];
    config.greeting = greeting;
    config.handoff = HandoffRules {
        mode,
        ..HandoffRules::default()
    };
    Conversation::new(Arc::new(config), None, Channel::Chat).with_context(
        "conv-7",
        RequestContext {
            campaign: "S7".into(),
            caller: "+48600100200".into(),
            variables: Default::default(),
        },
    )
}

fn say(text: &str, language: &str) -> Step {
    Step::Say {
        text: text.into(),
        language: Some(language.into()),
    }
}

#[test]
fn the_embedded_bot_greets_and_answers() {
    let mut config = BotConfig::new("assistant");
    config.languages = vec!["pl".into(), "en".into()];
    config.greeting = Some(Prompt::Say {
        text: "Dzień dobry, w czym mogę pomóc?".into(),
        language: None,
    });
    let mut conversation = Conversation::new(Arc::new(config), Some(faq()), Channel::Voice);
    assert_eq!(
        conversation.first_turn(),
        say("Dzień dobry, w czym mogę pomóc?", "pl")
    );
    let Step::Say { text, language } = conversation.on_utterance("jak zapłacić fakturę", false)
    else {
        panic!("an answer");
    };
    assert!(text.starts_with("Fakturę zapłacisz"));
    assert_eq!(language.as_deref(), Some("pl"));
    // The caller switches language; so does the bot.
    let Step::Say { text, language } =
        conversation.on_utterance("What are your opening hours?", false)
    else {
        panic!("an answer");
    };
    assert!(text.starts_with("Our consultants are available"));
    assert_eq!(language.as_deref(), Some("en"));
    assert_eq!(conversation.language(), Some("en"));
    assert_eq!(conversation.turn(), 2);
    let speakers: Vec<Speaker> = conversation.transcript().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        speakers,
        [
            Speaker::Bot,
            Speaker::Caller,
            Speaker::Bot,
            Speaker::Caller,
            Speaker::Bot
        ]
    );
    assert!(!conversation.is_over());
}

#[test]
fn a_played_greeting_and_no_greeting() {
    let mut config = BotConfig::new("b");
    config.greeting = Some(Prompt::Play {
        path: "prompts/hello.wav".into(),
    });
    let mut conversation = Conversation::new(Arc::new(config), Some(faq()), Channel::Voice);
    assert_eq!(
        conversation.first_turn(),
        Step::Play(Prompt::Play {
            path: "prompts/hello.wav".into()
        })
    );
    let mut conversation = embedded(Mode::Live, true, &[]);
    assert_eq!(conversation.first_turn(), Step::Listen);
    assert_eq!(conversation.on_utterance("   ", false), Step::Listen);
    assert_eq!(conversation.turn(), 0);
}

#[test]
fn cannot_answer_is_a_handoff_not_the_cannot_answer_exit() {
    let mut conversation = embedded(Mode::Live, true, &[]);
    assert_eq!(
        conversation.on_utterance("ile kosztuje bilet do kina", false),
        Step::Handoff {
            reason: Reason::CannotAnswer
        }
    );
    assert!(conversation.is_over());
    // Once over, nothing more happens.
    assert_eq!(
        conversation.on_utterance("jak zapłacić fakturę", false),
        Step::Done
    );
    let mut conversation = embedded(Mode::Async, true, &[]);
    assert_eq!(
        conversation.on_utterance("what is the weather on Mars", false),
        Step::Handoff {
            reason: Reason::CannotAnswer
        }
    );
}

#[test]
fn mode_none_answers_politely_in_the_callers_language() {
    let mut conversation = embedded(Mode::None, true, &[]);
    assert_eq!(
        conversation.on_utterance("ile kosztuje bilet do kina", false),
        say("Przepraszam, nie znam odpowiedzi na to pytanie.", "pl")
    );
    assert_eq!(
        conversation.on_utterance("what is the weather on Mars", false),
        say("Sorry, I don't know the answer to that.", "en")
    );
    // The conversation goes on.
    let Step::Say { text, .. } = conversation.on_utterance("How can I pay my invoice?", false)
    else {
        panic!("an answer");
    };
    assert!(text.starts_with("You can pay by bank transfer"));
    assert!(!conversation.is_over());
}

#[test]
fn without_default_triggers_cannot_answer_gets_the_fallback() {
    let mut conversation = embedded(Mode::Live, false, &[]);
    assert_eq!(
        conversation.on_utterance("what is the weather on Mars", false),
        say("Sorry, I don't know the answer to that.", "en")
    );
}

#[test]
fn without_a_knowledge_base_the_bot_cannot_take_the_call() {
    let mut config = BotConfig::new("empty");
    config.greeting = Some(Prompt::Say {
        text: "Hello".into(),
        language: None,
    });
    let mut conversation = Conversation::new(Arc::new(config.clone()), None, Channel::Voice);
    assert!(matches!(
        conversation.first_turn(),
        Step::CannotTakeCall { .. }
    ));
    assert!(conversation.is_over());
    // Without first_turn, the first utterance finds out.
    let mut conversation = Conversation::new(Arc::new(config.clone()), None, Channel::Chat);
    assert!(matches!(
        conversation.on_utterance("hello", false),
        Step::CannotTakeCall { .. }
    ));
    // A knowledge base without the bot's languages is as good as none.
    config.languages = vec!["de".into()];
    let mut conversation = Conversation::new(Arc::new(config), Some(faq()), Channel::Voice);
    let Step::CannotTakeCall { why } = conversation.first_turn() else {
        panic!("cannot take the call");
    };
    assert!(why.contains("de"), "{why}");
}

#[test]
fn the_external_bot_takes_turns() {
    let mut conversation = external(Mode::Live, None);
    // No greeting: the bot's opening turn.
    let Step::AskBot(request) = conversation.first_turn() else {
        panic!("a request");
    };
    assert_eq!(request.version, 1);
    assert_eq!(request.conversation, "conv-7");
    assert_eq!(request.turn, 0);
    assert_eq!(request.channel, Channel::Chat);
    assert_eq!(request.utterance, None);
    assert_eq!(request.language.as_deref(), Some("pl"));
    assert_eq!(request.context.campaign, "S7");
    assert_eq!(conversation.awaiting(), Some(0));
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Say {
            text: "Hello!".into(),
            language: Some("en".into()),
            confidence: None,
        })),
        say("Hello!", "en")
    );
    assert_eq!(conversation.awaiting(), None);
    let Step::AskBot(request) = conversation.on_utterance("Where is my parcel?", false) else {
        panic!("a request");
    };
    assert_eq!(request.turn, 1);
    assert_eq!(request.utterance.as_deref(), Some("Where is my parcel?"));
    assert_eq!(request.language.as_deref(), Some("en"));
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Prompt {
            prompt: "prompts/parcel.wav".into()
        })),
        Step::Play(Prompt::Play {
            path: "prompts/parcel.wav".into()
        })
    );
    let Step::AskBot(request) = conversation.on_keys("12", false) else {
        panic!("a request");
    };
    assert_eq!((request.turn, request.keys.as_deref()), (2, Some("12")));
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Done)),
        Step::Done
    );
    assert!(conversation.is_over());
    assert_eq!(
        conversation.transcript(),
        [
            (Speaker::Bot, "Hello!".to_string()),
            (Speaker::Caller, "Where is my parcel?".to_string()),
            (Speaker::Bot, "[prompts/parcel.wav]".to_string()),
            (Speaker::Caller, "[keys 12]".to_string()),
        ]
    );
}

#[test]
fn any_failure_of_the_external_bot_means_it_cannot_take_the_call() {
    for error in [
        ProtocolError::Timeout(5000),
        ProtocolError::Unreachable("connection refused".into()),
        ProtocolError::Status(503),
        ProtocolError::Json("expected value".into()),
        ProtocolError::UnknownType("sing".into()),
    ] {
        let mut conversation = external(Mode::Live, None);
        let _ = conversation.first_turn();
        let step = conversation.on_bot_response(Err(error.clone()));
        assert_eq!(
            step,
            Step::CannotTakeCall {
                why: error.to_string()
            }
        );
        assert!(conversation.is_over());
    }
    // Mode none does not change that: the bot is not there to answer.
    let mut conversation = external(Mode::None, None);
    let _ = conversation.on_utterance("hi", false);
    assert!(matches!(
        conversation.on_bot_response(Err(ProtocolError::Timeout(1))),
        Step::CannotTakeCall { .. }
    ));
}

#[test]
fn the_external_bot_cannot_answer_or_asks_for_a_handoff() {
    let greeting = Some(Prompt::Say {
        text: "Cześć".into(),
        language: Some("pl".into()),
    });
    let mut conversation = external(Mode::Live, greeting.clone());
    assert_eq!(conversation.first_turn(), say("Cześć", "pl"));
    let _ = conversation.on_utterance("a question", false);
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::CannotAnswer)),
        Step::Handoff {
            reason: Reason::CannotAnswer
        }
    );
    // A confidence below the bot's threshold (0.6) is "cannot answer" too.
    let mut conversation = external(Mode::Live, greeting.clone());
    let _ = conversation.on_utterance("a question", false);
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Say {
            text: "maybe".into(),
            language: None,
            confidence: Some(0.3),
        })),
        Step::Handoff {
            reason: Reason::CannotAnswer
        }
    );
    let mut conversation = external(Mode::Live, greeting.clone());
    let _ = conversation.on_utterance("a question", false);
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Handoff {
            reason: Some("billing".into())
        })),
        Step::Handoff {
            reason: Reason::BotRequested(Some("billing".into()))
        }
    );
    // Mode none: neither hands off; the conversation goes on.
    let mut conversation = external(Mode::None, greeting);
    let _ = conversation.on_utterance("a question", false);
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::CannotAnswer)),
        say("Przepraszam, nie znam odpowiedzi na to pytanie.", "pl")
    );
    let _ = conversation.on_utterance("another", false);
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Handoff { reason: None })),
        say("Przepraszam, nie znam odpowiedzi na to pytanie.", "pl")
    );
    assert!(!conversation.is_over());
}

#[test]
fn triggers_fire_before_the_external_bot_is_asked() {
    let mut conversation = external(Mode::Live, None);
    assert_eq!(
        conversation.on_utterance("I want a real person", false),
        Step::Handoff {
            reason: Reason::AsksForHuman("real person".into())
        }
    );
    let mut conversation = external(Mode::Live, None);
    assert_eq!(
        conversation.on_utterance("hello", true),
        Step::Handoff {
            reason: Reason::Paused
        }
    );
    assert_eq!(conversation.awaiting(), None);
}

#[test]
fn a_reply_nobody_waits_for_changes_nothing() {
    let mut conversation = external(Mode::Live, None);
    assert_eq!(
        conversation.on_bot_response(Ok(BotResponse::Done)),
        Step::Listen
    );
    assert!(!conversation.is_over());
    // A newer utterance supersedes the request in flight.
    let Step::AskBot(first) = conversation.on_utterance("one", false) else {
        panic!("a request");
    };
    let Step::AskBot(second) = conversation.on_utterance("two", false) else {
        panic!("a request");
    };
    assert_eq!((first.turn, second.turn), (1, 2));
    assert_eq!(conversation.awaiting(), Some(2));
}

#[test]
fn reasons_for_event_logs() {
    for (reason, text, code) in [
        (
            Reason::Phrase("zwrot pieniędzy".into()),
            "trigger phrase \"zwrot pieniędzy\"",
            "phrase",
        ),
        (
            Reason::AsksForHuman("konsultant*".into()),
            "the caller asked for a human (\"konsultant*\")",
            "asks_for_human",
        ),
        (Reason::Paused, "the customer agent is paused", "paused"),
        (
            Reason::CannotAnswer,
            "the customer agent cannot answer",
            "cannot_answer",
        ),
        (
            Reason::BotRequested(Some("billing".into())),
            "the bot asked for a handoff: billing",
            "bot_requested",
        ),
        (
            Reason::BotRequested(None),
            "the bot asked for a handoff",
            "bot_requested",
        ),
    ] {
        assert_eq!(reason.to_string(), text);
        assert_eq!(reason.code(), code);
    }
}

#[test]
fn a_chatter_cannot_grow_the_transcript_without_bound() {
    let mut config = BotConfig::new("assistant");
    config.languages = vec!["pl".into(), "en".into()];
    let mut conversation = Conversation::new(Arc::new(config), Some(faq()), Channel::Chat);
    let _ = conversation.first_turn();
    // Questions the knowledge base answers, so the conversation goes on.
    let long = format!("jak zapłacić fakturę {}", "proszę ".repeat(20_000));
    for n in 0..2_000 {
        let text = if n % 100 == 0 {
            long.clone()
        } else {
            format!("jak zapłacić fakturę {n}")
        };
        let step = conversation.on_utterance(&text, false);
        assert!(!conversation.is_over(), "turn {n}: {step:?}");
    }
    let lines = conversation.transcript();
    assert!(
        lines.len() <= dialect_bot::TRANSCRIPT_LINES + dialect_bot::TRANSCRIPT_LINES / 4,
        "{} lines kept",
        lines.len()
    );
    assert!(conversation.omitted() > 1_000, "{}", conversation.omitted());
    assert!(
        lines
            .iter()
            .all(|(_, t)| t.len() <= dialect_bot::TRANSCRIPT_LINE_BYTES + '…'.len_utf8())
    );
    // The latest lines are the ones kept.
    assert!(
        lines.iter().any(|(_, t)| t == "jak zapłacić fakturę 1999"),
        "{lines:?}"
    );
}
