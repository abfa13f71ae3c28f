//! The embedded bot's knowledge base: parsing and scoring on the real
//! `flows/kb/faq.toml`.

use crate::{FAQ, faq};
use dialect_bot::{DEFAULT_THRESHOLD, KbError, KnowledgeBase};

fn languages() -> Vec<String> {
    vec!["pl".into(), "en".into()]
}

/// The confidence of the best answer (0 when nothing matched).
fn confidence(text: &str) -> f64 {
    faq().best(text, &languages()).map_or(0.0, |m| m.confidence)
}

/// Asserts that `text` finds the entry whose question is `question`, in
/// `lang`, with at least `min` confidence.
fn finds(text: &str, question: &str, lang: &str, min: f64) {
    let found = faq()
        .best(text, &languages())
        .unwrap_or_else(|| panic!("{text:?} found nothing"));
    assert_eq!(found.question, question, "{text:?}");
    assert_eq!(found.language, lang, "{text:?}");
    assert!(
        found.confidence >= min,
        "{text:?}: confidence {} < {min}",
        found.confidence
    );
}

#[test]
fn the_real_file_parses() {
    let kb = faq();
    assert_eq!(kb.entries().len(), 12);
    assert_eq!(kb.languages(), ["pl", "en"]);
}

#[test]
fn every_question_finds_its_own_answer() {
    let kb = faq();
    for (i, entry) in kb.entries().iter().enumerate() {
        for question in &entry.questions {
            let variants = [
                question.clone(),
                question.to_uppercase(),
                question.to_lowercase(),
                dialect_bot::normalize(question),
                format!("{question}!!!"),
                reversed(question),
            ];
            for text in variants {
                let found = kb.best(&text, &languages()).expect("a match");
                assert_eq!(found.entry, i, "{text:?}");
                assert_eq!(found.answer, entry.answer, "{text:?}");
                assert_eq!(found.language, entry.lang, "{text:?}");
                assert!(found.confidence >= 0.8, "{text:?}: {}", found.confidence);
            }
        }
    }
}

/// The words of `text` in reverse order.
fn reversed(text: &str) -> String {
    text.split_whitespace().rev().collect::<Vec<_>>().join(" ")
}

#[test]
fn paraphrases_find_their_answers() {
    for (text, question, lang) in [
        (
            "infolinia pracuje w jakich godzinach",
            "W jakich godzinach pracuje infolinia?",
            "pl",
        ),
        (
            "w jakich godzinach pracuje infolinia",
            "W jakich godzinach pracuje infolinia?",
            "pl",
        ),
        (
            "Kiedy pracuje infolinia?",
            "W jakich godzinach pracuje infolinia?",
            "pl",
        ),
        (
            "jak moge zaplacic fakture",
            "Jak mogę zapłacić fakturę?",
            "pl",
        ),
        ("JAK ZAPŁACIĆ FAKTURĘ", "Jak mogę zapłacić fakturę?", "pl"),
        ("chcę zapłacić fakturę", "Jak mogę zapłacić fakturę?", "pl"),
        ("nie mam prądu", "Nie mam prądu, co robić?", "pl"),
        (
            "co mam zrobic, nie mam pradu",
            "Nie mam prądu, co robić?",
            "pl",
        ),
        (
            "jak podać odczyt licznika",
            "Jak podać odczyt licznika?",
            "pl",
        ),
        ("chcę złożyć reklamację", "Jak złożyć reklamację?", "pl"),
        (
            "zmiana danych na umowie",
            "Jak zmienić dane na umowie?",
            "pl",
        ),
        (
            "what are the opening hours",
            "What are your opening hours?",
            "en",
        ),
        ("YOUR OPENING HOURS?", "What are your opening hours?", "en"),
        ("how do I pay an invoice", "How can I pay my invoice?", "en"),
        ("paying invoices", "How can I pay my invoice?", "en"),
        (
            "I want to submit my meter reading",
            "How do I submit a meter reading?",
            "en",
        ),
        (
            "there is no power, what do I do",
            "I have no power, what should I do?",
            "en",
        ),
        (
            "I want to file a complaint",
            "How do I file a complaint?",
            "en",
        ),
        (
            "change contract details",
            "How do I change my contract details?",
            "en",
        ),
    ] {
        finds(text, question, lang, DEFAULT_THRESHOLD);
    }
}

#[test]
fn unrelated_utterances_fall_below_the_threshold() {
    for text in [
        "what is the weather on Mars",
        "ile kosztuje bilet do kina",
        "Jaka będzie jutro pogoda?",
        "Tell me a joke",
        "Lubię placki ziemniaczane",
        "How can I pay for a cinema ticket with a credit card",
        "jak zmienić hasło",
        "change my password",
        "reading a book",
        "",
        "?!",
        "jak",
    ] {
        let c = confidence(text);
        assert!(c < DEFAULT_THRESHOLD, "{text:?}: {c}");
    }
    for text in ["what is the weather on Mars", "ile kosztuje bilet do kina"] {
        assert!(confidence(text) < 0.1, "{text:?}");
    }
}

#[test]
fn languages_restrict_the_entries() {
    let kb = faq();
    let polish = kb
        .best("What are your opening hours?", &["pl".to_string()])
        .map_or(0.0, |m| m.confidence);
    assert!(polish < DEFAULT_THRESHOLD);
    let found = kb
        .best("What are your opening hours?", &["en-GB".to_string()])
        .expect("an answer");
    assert_eq!(found.language, "en");
    assert!(kb.serves(&["pl".to_string()]));
    assert!(!kb.serves(&["de".to_string()]));
    assert!(kb.serves(&[]));
}

#[test]
fn more_questions_and_keywords() {
    let kb = KnowledgeBase::parse(
        r#"
[[entry]]
question = "Jak mogę zapłacić fakturę?"
questions = ["Gdzie zapłacę rachunek?", "Numer konta do przelewu"]
keywords = ["płatność", "przelew"]
answer = "Przelewem."
lang = "pl"

[[entry]]
questions = ["Jak zgłosić awarię?"]
answer = "Zadzwoń na pogotowie."
lang = "PL"
"#,
    )
    .expect("parses");
    let langs: Vec<String> = Vec::new();
    for text in [
        "gdzie zapłacę rachunek",
        "numer konta",
        "płatność przelewem",
    ] {
        let found = kb.best(text, &langs).expect("a match");
        assert_eq!(found.answer, "Przelewem.", "{text:?}");
        assert!(
            found.confidence >= DEFAULT_THRESHOLD,
            "{text:?}: {}",
            found.confidence
        );
    }
    assert_eq!(kb.entries().get(1).map(|e| e.lang.as_str()), Some("pl"));
    let found = kb.best("awaria", &langs).expect("a match");
    assert_eq!(found.answer, "Zadzwoń na pogotowie.");
}

/// What a refused knowledge base must be refused for.
type Check = Box<dyn Fn(&KbError) -> bool>;

#[test]
fn parse_errors_name_the_entry_and_the_field() {
    let field = |entry: usize, field: &'static str| move |e: &KbError| matches!(e, KbError::Entry { entry: n, field: f, .. } if *n == entry && f == field);
    let ok = "[[entry]]\nquestion = \"Jak zapłacić?\"\nanswer = \"Tak.\"\nlang = \"pl\"\n";
    let cases: Vec<(String, Check)> = vec![
        (
            "[[entry]\n".into(),
            Box::new(|e| matches!(e, KbError::Syntax(_))),
        ),
        ("".into(), Box::new(|e| *e == KbError::NoEntries)),
        ("entry = []".into(), Box::new(|e| *e == KbError::NoEntries)),
        ("entry = 3".into(), Box::new(|e| *e == KbError::NotEntries)),
        (
            format!("title = \"faq\"\n{ok}"),
            Box::new(|e| *e == KbError::UnknownKey("title".into())),
        ),
        (
            format!("{ok}[[entry]]\nanswer = \"a\"\nlang = \"pl\"\n"),
            Box::new(field(2, "question")),
        ),
        (
            format!("{ok}[[entry]]\nqestion = \"a\"\nanswer = \"a\"\nlang = \"pl\"\n"),
            Box::new(field(2, "qestion")),
        ),
        (
            "[[entry]]\nquestion = \"Jak?\"\nanswer = \"a\"\nlang = \"pl\"\n".into(),
            Box::new(field(1, "question")),
        ),
        (
            "[[entry]]\nquestion = 5\nanswer = \"a\"\nlang = \"pl\"\n".into(),
            Box::new(field(1, "question")),
        ),
        (
            "[[entry]]\nquestions = [\"ok question\", \"\"]\nanswer = \"a\"\nlang = \"en\"\n"
                .into(),
            Box::new(field(1, "questions")),
        ),
        (
            "[[entry]]\nquestion = \"Faktura\"\nlang = \"pl\"\n".into(),
            Box::new(field(1, "answer")),
        ),
        (
            "[[entry]]\nquestion = \"Faktura\"\nanswer = \"  \"\nlang = \"pl\"\n".into(),
            Box::new(field(1, "answer")),
        ),
        (
            format!(
                "[[entry]]\nquestion = \"Faktura\"\nanswer = \"{}\"\nlang = \"pl\"\n",
                "a".repeat(2001)
            ),
            Box::new(field(1, "answer")),
        ),
        (
            "[[entry]]\nquestion = \"Faktura\"\nanswer = \"a\"\n".into(),
            Box::new(field(1, "lang")),
        ),
        (
            "[[entry]]\nquestion = \"Faktura\"\nanswer = \"a\"\nlang = \"polish!\"\n".into(),
            Box::new(field(1, "lang")),
        ),
        (
            "[[entry]]\nquestion = \"Faktura\"\nanswer = \"a\"\nlang = \"pl\"\nkeywords = \"a\"\n"
                .into(),
            Box::new(field(1, "keywords")),
        ),
        ("entry = [1]".into(), Box::new(field(1, "entry"))),
    ];
    for (text, expected) in cases {
        let error = KnowledgeBase::parse(&text).expect_err(&text);
        assert!(expected(&error), "{text:?}: {error:?}");
        // Every message is a sentence a person can act on.
        assert!(!error.to_string().is_empty());
    }
    let error = KnowledgeBase::parse(&format!(
        "{ok}[[entry]]\nquestion = \"x y\"\nlang = \"pl\"\n"
    ))
    .expect_err("no answer");
    assert_eq!(
        error.to_string(),
        "entry 2, `answer`: missing: what the bot says"
    );
    assert!(KnowledgeBase::parse(FAQ).is_ok());
}
