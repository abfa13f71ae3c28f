//! Property tests: nothing a caller says or a bot replies can panic the
//! crate, and normalisation is a fixed point.

use crate::{embedded, faq};
use dialect_bot::{Mode, Phrase, normalize, parse_response, text};
use proptest::prelude::*;

/// Text biased towards the interesting parts: Polish letters, combining
/// marks, punctuation, stars and whitespace, with any Unicode besides.
fn utterance() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-ZąćęłńóśźżĄĆĘŁŃÓŚŹŻ \\-*!?.,'\u{301}\u{307}İẞß\t\n]{0,40}",
    ]
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(text in utterance()) {
        let once = normalize(&text);
        prop_assert_eq!(normalize(&once), once.clone());
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
        prop_assert!(!once.contains("  "));
    }

    #[test]
    fn matching_never_panics(phrase in utterance(), text in utterance()) {
        if let Some(p) = Phrase::new(&phrase) {
            let _ = p.matches_text(&text);
            // A phrase always matches its own normalised words.
            if !phrase.contains('*') {
                prop_assert!(p.matches_text(&phrase));
            }
        }
        let _ = text::words(&text);
    }

    #[test]
    fn scoring_never_panics_and_stays_in_range(text in utterance()) {
        let langs = vec!["pl".to_string(), "en".to_string()];
        if let Some(m) = faq().best(&text, &langs) {
            prop_assert!((0.0..=1.0).contains(&m.confidence));
        }
    }

    #[test]
    fn conversations_never_panic(texts in proptest::collection::vec(utterance(), 0..6), paused: bool) {
        for mode in [Mode::Live, Mode::Async, Mode::None] {
            let mut conversation = embedded(mode, true, &["zwrot pieniędzy", "refund*"]);
            let _ = conversation.first_turn();
            for text in &texts {
                let _ = conversation.on_utterance(text, paused);
            }
        }
    }

    #[test]
    fn any_reply_body_is_parsed_or_refused(status in 0u16..600, body in utterance()) {
        let _ = parse_response(status, &body);
        let _ = parse_response(200, &format!("{{\"type\":\"say\",\"text\":{body:?}}}"));
    }

    #[test]
    fn any_knowledge_base_text_is_parsed_or_refused(text in utterance()) {
        let _ = dialect_bot::KnowledgeBase::parse(&text);
        let _ = dialect_bot::KnowledgeBase::parse(&format!(
            "[[entry]]\nquestion = {text:?}\nanswer = \"a\"\nlang = \"pl\"\n"
        ));
    }
}
