//! Trigger phrases: the matching table, the built-in "asks for a human"
//! phrases, the paused flag, and their order.

use crate::embedded;
use dialect_bot::{Mode, Phrase, Reason, Step, normalize};

/// (phrase, utterance, matches?)
const TABLE: &[(&str, &str, bool)] = &[
    // Case, diacritics and punctuation do not matter.
    ("zwrot pieniędzy", "ZWROT PIENIEDZY!", true),
    ("zwrot pieniędzy", "chcę zwrot pieniędzy", true),
    ("zwrot pieniędzy", "Chcę ZWROT pieniędzy, proszę.", true),
    ("zwrot pieniedzy", "zwrot pieniędzy", true),
    ("Reklamacja", "reklamacja.", true),
    ("reklamacja", "REKLAMACJA", true),
    ("człowiek", "CZŁOWIEK", true),
    ("człowiek", "czlowiek", true),
    ("rezygnacja", "Rezygnacja z usługi", true),
    ("cancel", "I want to cancel.", true),
    ("cancel", "cancel-my-order", true),
    ("e-mail", "send an email", false),
    ("e-mail", "send an e mail", true),
    // Whole words only.
    ("refund", "refund please", true),
    ("refund", "I was refunded", false),
    ("refund", "refunds", false),
    ("cancel", "cancellation", false),
    ("konsultant", "konsultanta", false),
    ("zwrot", "zwroty", false),
    ("human", "inhuman", false),
    // A trailing star matches any ending.
    ("refund*", "I was refunded", true),
    ("refund*", "two refunds", true),
    ("refund*", "refund", true),
    ("refund*", "a prerefund", false),
    ("konsultant*", "połącz z konsultantem", true),
    ("zwrot* pieniędzy", "zwroty pieniędzy", true),
    ("zwrot* pieniędzy*", "zwrotu pieniądze", false),
    ("zwrot* pieni*", "zwrotu pieniądze", true),
    // Multi-word phrases are consecutive words.
    ("zwrot pieniędzy", "zwrot moich pieniędzy", false),
    ("zwrot pieniędzy", "pieniędzy zwrot", false),
    ("real person", "a real person please", true),
    ("real person", "a real, person", true),
    ("real person", "real nice person", false),
    // Empty utterances match nothing.
    ("refund", "", false),
    ("refund", "?!", false),
];

#[test]
fn the_matching_table() {
    let mut failures = Vec::new();
    for (phrase, text, expected) in TABLE {
        let p = Phrase::new(phrase).expect("a phrase");
        if p.matches_text(text) != *expected {
            failures.push(format!("{phrase:?} in {text:?}: expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn normalisation() {
    for (text, normal) in [
        ("Zażółć gęślą jaźń", "zazolc gesla jazn"),
        ("ŁÓDŹ", "lodz"),
        ("  many   spaces\n\tand\r\nlines ", "many spaces and lines"),
        ("Hello, World!", "hello world"),
        ("it's", "its"),
        ("Ærøskøbing", "aeroskobing"),
        ("Čeština", "cestina"),
        ("naïve café", "naive cafe"),
        ("8:00-16:00", "8 00 16 00"),
        ("", ""),
    ] {
        assert_eq!(normalize(text), normal, "{text:?}");
    }
}

#[test]
fn an_empty_phrase_is_refused() {
    for empty in ["", "   ", "*", "?!", "- * -"] {
        assert!(Phrase::new(empty).is_none(), "{empty:?}");
    }
}

/// Utterances that ask for a human, in Polish and English.
const ASKS_FOR_HUMAN: &[&str] = &[
    "Chcę rozmawiać z konsultantem",
    "połącz mnie z konsultantką",
    "poproszę konsultanta",
    "KONSULTANT",
    "z człowiekiem proszę",
    "Czy mogę porozmawiać z człowiekiem?",
    "chce z czlowiekiem",
    "operator",
    "połącz z operatorem",
    "chcę rozmawiać z żywą osobą",
    "z prawdziwą osobą",
    "chciałbym rozmawiać z doradcą",
    "I want to talk to a human",
    "Human, please!",
    "can I speak to a person",
    "get me a real person",
    "agent",
    "connect me to an agent",
    "a representative please",
    "operator please",
    "let me talk to someone",
];

#[test]
fn the_caller_asks_for_a_human() {
    for text in ASKS_FOR_HUMAN {
        let mut conversation = embedded(Mode::Live, true, &[]);
        match conversation.on_utterance(text, false) {
            Step::Handoff {
                reason: Reason::AsksForHuman(_),
            } => {}
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn not_asking_for_a_human() {
    for text in [
        "W jakich godzinach pracuje infolinia?",
        "How can I pay my invoice?",
        "humanitarian aid",
        "konsultacja",
        "personal details",
    ] {
        let mut conversation = embedded(Mode::Live, true, &[]);
        let step = conversation.on_utterance(text, false);
        assert!(
            !matches!(
                step,
                Step::Handoff {
                    reason: Reason::AsksForHuman(_)
                }
            ),
            "{text:?}: {step:?}"
        );
    }
}

#[test]
fn asking_for_a_human_is_a_default_trigger() {
    let mut conversation = embedded(Mode::Live, false, &[]);
    // Without default triggers the bot answers what it can...
    let step = conversation.on_utterance("konsultant: jak zapłacić fakturę?", false);
    assert!(matches!(step, Step::Say { .. }), "{step:?}");
}

#[test]
fn custom_phrases_come_first() {
    let mut conversation = embedded(Mode::Live, true, &["zwrot pieniędzy", "konsultant"]);
    assert_eq!(
        conversation.on_utterance("Konsultant! Chcę zwrot pieniędzy", false),
        Step::Handoff {
            reason: Reason::Phrase("zwrot pieniędzy".into())
        }
    );
    // A custom phrase matches whole words only; the built-in `konsultant*`
    // catches the inflected form.
    let mut conversation = embedded(Mode::Live, true, &["konsultant"]);
    assert_eq!(
        conversation.on_utterance("z konsultantem", false),
        Step::Handoff {
            reason: Reason::AsksForHuman("konsultant*".into())
        }
    );
    // The custom phrase wins over the built-in one and the pause.
    let mut conversation = embedded(Mode::Live, true, &["konsultant"]);
    assert_eq!(
        conversation.on_utterance("konsultant", true),
        Step::Handoff {
            reason: Reason::Phrase("konsultant".into())
        }
    );
}

#[test]
fn custom_phrases_fire_without_default_triggers() {
    let mut conversation = embedded(Mode::Async, false, &["refund*"]);
    assert_eq!(
        conversation.on_utterance("Has my order been refunded?", false),
        Step::Handoff {
            reason: Reason::Phrase("refund*".into())
        }
    );
}

#[test]
fn a_paused_bot_hands_off() {
    let mut conversation = embedded(Mode::Live, true, &[]);
    assert_eq!(
        conversation.on_utterance("How can I pay my invoice?", true),
        Step::Handoff {
            reason: Reason::Paused
        }
    );
    // Asking for a human is checked before the pause.
    let mut conversation = embedded(Mode::Live, true, &[]);
    assert!(matches!(
        conversation.on_utterance("a human please", true),
        Step::Handoff {
            reason: Reason::AsksForHuman(_)
        }
    ));
    // Even silence hands off when paused.
    let mut conversation = embedded(Mode::Live, true, &[]);
    assert_eq!(
        conversation.on_utterance("", true),
        Step::Handoff {
            reason: Reason::Paused
        }
    );
    // The pause is a default trigger.
    let mut conversation = embedded(Mode::Live, false, &[]);
    assert!(matches!(
        conversation.on_utterance("How can I pay my invoice?", true),
        Step::Say { .. }
    ));
}

#[test]
fn with_mode_none_no_trigger_hands_off() {
    let mut conversation = embedded(Mode::None, true, &["faktur*"]);
    // A custom phrase, the pause: the bot answers anyway.
    let step = conversation.on_utterance("Jak mogę zapłacić fakturę?", true);
    let Step::Say { text, language } = step else {
        panic!("{step:?}");
    };
    assert!(text.starts_with("Fakturę zapłacisz"), "{text}");
    assert_eq!(language.as_deref(), Some("pl"));
    // Asking for a human: the bot cannot answer that, politely.
    assert_eq!(
        conversation.on_utterance("Chcę rozmawiać z konsultantem", false),
        Step::Say {
            text: "Przepraszam, nie znam odpowiedzi na to pytanie.".into(),
            language: Some("pl".into())
        }
    );
    assert!(!conversation.is_over());
}
