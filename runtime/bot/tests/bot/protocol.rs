//! The bot protocol: every reply type, every refusal, and the JSON shapes.

use dialect_bot::protocol::{MAX_BODY, MAX_TEXT};
use dialect_bot::{
    BotRequest, BotResponse, Channel, ProtocolError, RequestContext, SttResult, TtsRequest,
    parse_response,
};
use serde_json::json;

#[test]
fn every_reply_type() {
    let cases = [
        (
            r#"{"type": "say", "text": "Dzień dobry", "language": "pl", "confidence": 0.82}"#,
            BotResponse::Say {
                text: "Dzień dobry".into(),
                language: Some("pl".into()),
                confidence: Some(0.82),
            },
        ),
        (
            r#"{"type": "say", "text": "Hi", "extra": [1, 2]}"#,
            BotResponse::Say {
                text: "Hi".into(),
                language: None,
                confidence: None,
            },
        ),
        (
            r#"{"type": "say", "text": "Hi", "language": null, "confidence": 1}"#,
            BotResponse::Say {
                text: "Hi".into(),
                language: None,
                confidence: Some(1.0),
            },
        ),
        (
            r#"{"type": "prompt", "prompt": "prompts/x.wav"}"#,
            BotResponse::Prompt {
                prompt: "prompts/x.wav".into(),
            },
        ),
        (r#"{"type": "cannot_answer"}"#, BotResponse::CannotAnswer),
        (
            r#"{"type": "handoff", "reason": "billing dispute"}"#,
            BotResponse::Handoff {
                reason: Some("billing dispute".into()),
            },
        ),
        (
            r#"{"type": "handoff"}"#,
            BotResponse::Handoff { reason: None },
        ),
        (r#"{"type": "done"}"#, BotResponse::Done),
    ];
    for (body, expected) in cases {
        assert_eq!(parse_response(200, body), Ok(expected), "{body}");
    }
    assert_eq!(
        parse_response(201, r#"{"type":"done"}"#),
        Ok(BotResponse::Done)
    );
}

#[test]
fn every_refusal() {
    let long = "x".repeat(MAX_TEXT + 1);
    let huge = format!(r#"{{"type":"say","text":"{}"}}"#, "x".repeat(MAX_BODY));
    let cases: Vec<(u16, String, ProtocolError)> = vec![
        (500, r#"{"type":"done"}"#.into(), ProtocolError::Status(500)),
        (404, String::new(), ProtocolError::Status(404)),
        (302, r#"{"type":"done"}"#.into(), ProtocolError::Status(302)),
        (199, r#"{"type":"done"}"#.into(), ProtocolError::Status(199)),
        (200, huge.clone(), ProtocolError::TooLarge(huge.len())),
        (200, "[1, 2]".into(), ProtocolError::NotAnObject),
        (200, "\"say\"".into(), ProtocolError::NotAnObject),
        (200, "{}".into(), ProtocolError::MissingType),
        (200, r#"{"type": null}"#.into(), ProtocolError::MissingType),
        (
            200,
            r#"{"type": 3}"#.into(),
            ProtocolError::WrongType {
                field: "type",
                expected: "a string",
            },
        ),
        (
            200,
            r#"{"type": "sing"}"#.into(),
            ProtocolError::UnknownType("sing".into()),
        ),
        (
            200,
            r#"{"type": "say"}"#.into(),
            ProtocolError::Missing {
                kind: "say",
                field: "text",
            },
        ),
        (
            200,
            r#"{"type": "say", "text": 5}"#.into(),
            ProtocolError::WrongType {
                field: "text",
                expected: "a string",
            },
        ),
        (
            200,
            r#"{"type": "say", "text": "  "}"#.into(),
            ProtocolError::EmptyText,
        ),
        (
            200,
            format!(r#"{{"type": "say", "text": "{long}"}}"#),
            ProtocolError::TextTooLong(MAX_TEXT + 1),
        ),
        (
            200,
            r#"{"type": "say", "text": "a", "confidence": 1.5}"#.into(),
            ProtocolError::Confidence(1.5),
        ),
        (
            200,
            r#"{"type": "say", "text": "a", "confidence": -0.1}"#.into(),
            ProtocolError::Confidence(-0.1),
        ),
        (
            200,
            r#"{"type": "say", "text": "a", "confidence": "high"}"#.into(),
            ProtocolError::WrongType {
                field: "confidence",
                expected: "a number",
            },
        ),
        (
            200,
            r#"{"type": "say", "text": "a", "language": 1}"#.into(),
            ProtocolError::WrongType {
                field: "language",
                expected: "a string",
            },
        ),
        (
            200,
            r#"{"type": "prompt"}"#.into(),
            ProtocolError::Missing {
                kind: "prompt",
                field: "prompt",
            },
        ),
        (
            200,
            r#"{"type": "prompt", "prompt": "../../etc/passwd"}"#.into(),
            ProtocolError::BadPrompt("../../etc/passwd".into()),
        ),
        (
            200,
            r#"{"type": "prompt", "prompt": "/etc/passwd"}"#.into(),
            ProtocolError::BadPrompt("/etc/passwd".into()),
        ),
        (
            200,
            r#"{"type": "prompt", "prompt": "C:\\x.wav"}"#.into(),
            ProtocolError::BadPrompt("C:\\x.wav".into()),
        ),
        (
            200,
            r#"{"type": "handoff", "reason": 7}"#.into(),
            ProtocolError::WrongType {
                field: "reason",
                expected: "a string",
            },
        ),
    ];
    for (status, body, expected) in cases {
        assert_eq!(
            parse_response(status, &body),
            Err(expected),
            "{status} {body:.80}"
        );
    }
    for body in ["", "not json", "{\"type\": \"say\",", "{'type': 'done'}"] {
        assert!(
            matches!(parse_response(200, body), Err(ProtocolError::Json(_))),
            "{body:?}"
        );
    }
}

#[test]
fn errors_read_as_sentences() {
    for (error, text) in [
        (
            ProtocolError::Status(503),
            "the bot answered with HTTP status 503",
        ),
        (
            ProtocolError::UnknownType("sing".into()),
            "the bot's reply has an unknown type \"sing\" (expected say, prompt, cannot_answer, handoff or done)",
        ),
        (
            ProtocolError::TextTooLong(2001),
            "the bot's text is 2001 characters, more than 2000",
        ),
        (
            ProtocolError::Timeout(5000),
            "the bot did not answer within 5000 ms",
        ),
        (
            ProtocolError::Confidence(1.5),
            "the bot's confidence 1.5 is outside 0..1",
        ),
    ] {
        assert_eq!(error.to_string(), text);
    }
}

#[test]
fn a_long_handoff_reason_is_cut() {
    let body = json!({"type": "handoff", "reason": "r".repeat(500)}).to_string();
    let Ok(BotResponse::Handoff {
        reason: Some(reason),
    }) = parse_response(200, &body)
    else {
        panic!("a handoff");
    };
    assert_eq!(reason.chars().count(), dialect_bot::protocol::MAX_REASON);
}

#[test]
fn the_request_as_json() {
    let request = BotRequest {
        version: 1,
        conversation: "c-1".into(),
        turn: 2,
        channel: Channel::Voice,
        language: Some("pl".into()),
        utterance: Some("Jak zapłacić fakturę?".into()),
        keys: None,
        context: RequestContext {
            campaign: "S7".into(),
            caller: "+48221000001".into(),
            variables: [("tier".to_string(), "gold".to_string())].into(),
        },
    };
    let value = serde_json::to_value(&request).expect("serialises");
    assert_eq!(
        value,
        json!({
            "version": 1,
            "conversation": "c-1",
            "turn": 2,
            "channel": "voice",
            "language": "pl",
            "utterance": "Jak zapłacić fakturę?",
            "keys": null,
            "context": {"campaign": "S7", "caller": "+48221000001", "variables": {"tier": "gold"}}
        })
    );
    let back: BotRequest = serde_json::from_value(value).expect("deserialises");
    assert_eq!(back, request);
}

#[test]
fn responses_serialise_in_the_documented_shape() {
    for (response, shape) in [
        (
            BotResponse::Say {
                text: "Hi".into(),
                language: Some("en".into()),
                confidence: Some(0.5),
            },
            json!({"type": "say", "text": "Hi", "language": "en", "confidence": 0.5}),
        ),
        (
            BotResponse::Prompt {
                prompt: "prompts/x.wav".into(),
            },
            json!({"type": "prompt", "prompt": "prompts/x.wav"}),
        ),
        (BotResponse::CannotAnswer, json!({"type": "cannot_answer"})),
        (
            BotResponse::Handoff {
                reason: Some("why".into()),
            },
            json!({"type": "handoff", "reason": "why"}),
        ),
        (BotResponse::Done, json!({"type": "done"})),
    ] {
        assert_eq!(serde_json::to_value(&response).expect("serialises"), shape);
        assert_eq!(parse_response(200, &shape.to_string()), Ok(response));
    }
}

#[test]
fn speech_service_types() {
    let stt: SttResult =
        serde_json::from_str(r#"{"text": "nie mam prądu", "language": "pl", "confidence": 0.9}"#)
            .expect("parses");
    assert_eq!(stt.text, "nie mam prądu");
    assert_eq!(stt.language.as_deref(), Some("pl"));
    assert_eq!(stt.confidence, Some(0.9));
    let bare: SttResult = serde_json::from_str(r#"{"text": ""}"#).expect("parses");
    assert_eq!(bare.language, None);
    let tts = TtsRequest {
        text: "Dzień dobry".into(),
        language: Some("pl".into()),
    };
    assert_eq!(
        serde_json::to_value(&tts).expect("serialises"),
        json!({"text": "Dzień dobry", "language": "pl"})
    );
}
