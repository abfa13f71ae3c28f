//! One test per validation rule (SPEC 5.5), with the accepted boundaries.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_store::{
    CallbackRequest, Context, Kind, QueueAccess, Refusal, Valid, normalize_number, validate,
};
use jiff::{SignedDuration, Timestamp};

/// 2025-06-02 08:00 UTC, 10:00 in Paris.
fn now() -> Timestamp {
    "2025-06-02T08:00:00Z".parse().unwrap()
}

/// alice is an agent of `sales`; `support` exists; bob is in her team.
fn ctx() -> Context<'static> {
    Context::with_queues("alice", &["sales", "support"], &["sales"]).with_assignees(["bob"])
}

fn scheduled() -> CallbackRequest {
    CallbackRequest {
        kind: Kind::Scheduled,
        number: "+33 1 23 45 67 89".to_owned(),
        name: "Jeanne Martin".to_owned(),
        start: "2025-06-02T12:00".to_owned(),
        end: None,
        zone: "Europe/Paris".to_owned(),
        queue: "sales".to_owned(),
        reason: None,
        assignee: None,
    }
}

fn web() -> CallbackRequest {
    CallbackRequest {
        kind: Kind::Web,
        start: String::new(),
        zone: String::new(),
        ..scheduled()
    }
}

fn ok(req: &CallbackRequest) -> Valid {
    match validate(req, now(), &ctx()) {
        Ok(valid) => valid,
        Err(refusals) => panic!("refused: {refusals:?}"),
    }
}

/// The single refusal of `req`, which must be on `field` and contain `phrase`.
fn refused(req: &CallbackRequest, field: &str, phrase: &str) -> Refusal {
    refused_in(req, &ctx(), field, phrase)
}

fn refused_in(req: &CallbackRequest, ctx: &Context<'_>, field: &str, phrase: &str) -> Refusal {
    let refusals = validate(req, now(), ctx).expect_err("the request should be refused");
    assert_eq!(refusals.len(), 1, "one refusal expected: {refusals:?}");
    let refusal = refusals.into_iter().next().unwrap();
    assert_eq!(refusal.field, field, "{refusal:?}");
    assert!(
        refusal.message.contains(phrase),
        "message {:?} lacks {phrase:?}",
        refusal.message
    );
    refusal
}

fn at(offset: SignedDuration) -> String {
    now().checked_add(offset).unwrap().to_string()
}

// ---- the accepted request -------------------------------------------------

#[test]
fn valid_scheduled_request_is_normalised() {
    let valid = ok(&scheduled());
    assert_eq!(valid.kind(), Kind::Scheduled);
    assert_eq!(valid.number(), "+33123456789");
    assert_eq!(valid.name(), "Jeanne Martin");
    // 12:00 in Paris (summer time) is 10:00 UTC.
    assert_eq!(
        valid.start(),
        "2025-06-02T10:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(valid.end(), None);
    assert_eq!(valid.zone(), "Europe/Paris");
    assert_eq!(valid.queue(), "sales");
    assert_eq!(valid.reason(), None);
    assert_eq!(valid.assignee(), None);
}

#[test]
fn start_may_be_an_rfc3339_timestamp() {
    let req = CallbackRequest {
        start: "2025-06-02T14:30:00+02:00".to_owned(),
        ..scheduled()
    };
    assert_eq!(
        ok(&req).start(),
        "2025-06-02T12:30:00Z".parse::<Timestamp>().unwrap()
    );
}

#[test]
fn every_violation_is_reported() {
    let req = CallbackRequest {
        number: "12ab".to_owned(),
        name: "Al".to_owned(),
        zone: "Mars/Olympus".to_owned(),
        queue: "nowhere".to_owned(),
        reason: Some("x".repeat(251)),
        assignee: Some("bob".to_owned()),
        ..scheduled()
    };
    let refusals = validate(&req, now(), &ctx()).unwrap_err();
    let fields: Vec<&str> = refusals.iter().map(|r| r.field).collect();
    assert_eq!(
        fields,
        ["number", "name", "zone", "queue", "reason", "assignee"],
        "{refusals:?}"
    );
}

// ---- number ---------------------------------------------------------------

#[test]
fn number_with_7_digits_is_accepted() {
    let req = CallbackRequest {
        number: "123 45 67".to_owned(),
        ..scheduled()
    };
    assert_eq!(ok(&req).number(), "1234567");
}

#[test]
fn number_with_15_digits_is_accepted() {
    let req = CallbackRequest {
        number: "+123 456 789 012 345".to_owned(),
        ..scheduled()
    };
    assert_eq!(ok(&req).number(), "+123456789012345");
}

#[test]
fn number_with_6_digits_is_refused() {
    let req = CallbackRequest {
        number: "12-34-56".to_owned(),
        ..scheduled()
    };
    let r = refused(&req, "number", "7 to 15 digits");
    assert!(r.message.contains("this one has 6"), "{r:?}");
}

#[test]
fn number_with_16_digits_is_refused() {
    let req = CallbackRequest {
        number: "+1234567890123456".to_owned(),
        ..scheduled()
    };
    let r = refused(&req, "number", "7 to 15 digits");
    assert!(r.message.contains("this one has 16"), "{r:?}");
}

#[test]
fn number_separators_are_allowed_and_removed() {
    let req = CallbackRequest {
        number: " 01.23,45-67 89 ".to_owned(),
        ..scheduled()
    };
    assert_eq!(ok(&req).number(), "0123456789");
}

#[test]
fn number_with_letters_or_other_symbols_is_refused() {
    let req = CallbackRequest {
        number: "(01) 23 45 67 8x".to_owned(),
        ..scheduled()
    };
    let r = refused(
        &req,
        "number",
        "may only contain digits, a leading + for the country code",
    );
    assert!(r.message.contains("'('"), "{r:?}");
    assert!(r.message.contains("'x'"), "{r:?}");
}

#[test]
fn number_with_plus_inside_is_refused() {
    let req = CallbackRequest {
        number: "0033+123456789".to_owned(),
        ..scheduled()
    };
    refused(&req, "number", "only allowed at the start");
}

#[test]
fn number_is_required() {
    let req = CallbackRequest {
        number: "   ".to_owned(),
        ..scheduled()
    };
    refused(&req, "number", "phone number is required");
}

#[test]
fn normalize_number_is_public() {
    assert_eq!(
        normalize_number("+44 20 7946 0958").as_deref(),
        Some("+442079460958")
    );
    assert_eq!(normalize_number("call me"), None);
}

// ---- name -----------------------------------------------------------------

#[test]
fn name_of_3_characters_is_accepted() {
    let req = CallbackRequest {
        name: "  Zoé  ".to_owned(),
        ..scheduled()
    };
    assert_eq!(ok(&req).name(), "Zoé");
}

#[test]
fn name_of_250_characters_is_accepted_counting_characters_not_bytes() {
    let name = "é".repeat(250); // 500 bytes
    let req = CallbackRequest {
        name: name.clone(),
        ..scheduled()
    };
    assert_eq!(ok(&req).name(), name);
}

#[test]
fn name_of_2_characters_is_refused() {
    let req = CallbackRequest {
        name: " Al ".to_owned(),
        ..scheduled()
    };
    let r = refused(&req, "name", "at least 3 characters");
    assert!(r.message.contains("it has 2"), "{r:?}");
}

#[test]
fn name_of_251_characters_is_refused() {
    let req = CallbackRequest {
        name: "é".repeat(251),
        ..scheduled()
    };
    let r = refused(&req, "name", "at most 250 characters");
    assert!(r.message.contains("it has 251"), "{r:?}");
}

#[test]
fn name_is_required() {
    let req = CallbackRequest {
        name: String::new(),
        ..scheduled()
    };
    refused(&req, "name", "name is required");
}

// ---- start and end --------------------------------------------------------

#[test]
fn start_exactly_30_minutes_ahead_is_accepted() {
    let req = CallbackRequest {
        start: at(SignedDuration::from_mins(30)),
        ..scheduled()
    };
    assert_eq!(
        ok(&req).start(),
        now().checked_add(SignedDuration::from_mins(30)).unwrap()
    );
}

#[test]
fn start_less_than_30_minutes_ahead_is_refused() {
    let req = CallbackRequest {
        start: at(SignedDuration::from_secs(29 * 60 + 59)),
        ..scheduled()
    };
    let r = refused(&req, "start", "at least 30 minutes from now");
    assert!(r.message.contains("too soon"), "{r:?}");
    // The earliest allowed time is given in the customer's zone.
    assert!(
        r.message.contains("2025-06-02 10:30 (Europe/Paris)"),
        "{r:?}"
    );
}

#[test]
fn start_in_the_past_is_refused() {
    let req = CallbackRequest {
        start: "2025-06-01T12:00".to_owned(),
        ..scheduled()
    };
    refused(&req, "start", "at least 30 minutes from now");
}

#[test]
fn start_exactly_31_days_ahead_is_accepted() {
    let req = CallbackRequest {
        start: at(SignedDuration::from_hours(31 * 24)),
        ..scheduled()
    };
    assert_eq!(
        ok(&req).start(),
        "2025-07-03T08:00:00Z".parse::<Timestamp>().unwrap()
    );
}

#[test]
fn start_more_than_31_days_ahead_is_refused() {
    let req = CallbackRequest {
        start: at(SignedDuration::from_hours(31 * 24) + SignedDuration::from_secs(1)),
        ..scheduled()
    };
    let r = refused(&req, "start", "at most 31 days from now");
    assert!(r.message.contains("too late"), "{r:?}");
}

#[test]
fn start_is_required() {
    let req = CallbackRequest {
        start: String::new(),
        ..scheduled()
    };
    refused(&req, "start", "start date and time is required");
}

#[test]
fn start_must_be_a_date_and_time() {
    let req = CallbackRequest {
        start: "tomorrow at noon".to_owned(),
        ..scheduled()
    };
    refused(
        &req,
        "start",
        "is not a date and time; write the start as YYYY-MM-DDTHH:MM",
    );
}

#[test]
fn start_skipped_by_the_clocks_is_refused() {
    // 2025-03-30 02:30 does not exist in Paris (02:00 -> 03:00).
    let now: Timestamp = "2025-03-20T08:00:00Z".parse().unwrap();
    let req = CallbackRequest {
        start: "2025-03-30T02:30".to_owned(),
        ..scheduled()
    };
    let refusals = validate(&req, now, &ctx()).unwrap_err();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].field, "start");
    assert!(
        refusals[0]
            .message
            .contains("does not exist in Europe/Paris")
    );
}

#[test]
fn end_after_start_is_accepted() {
    let req = CallbackRequest {
        end: Some("2025-06-02T12:30".to_owned()),
        ..scheduled()
    };
    assert_eq!(
        ok(&req).end(),
        Some("2025-06-02T10:30:00Z".parse::<Timestamp>().unwrap())
    );
}

#[test]
fn end_at_or_before_start_is_refused() {
    for end in ["2025-06-02T12:00", "2025-06-02T11:00"] {
        let req = CallbackRequest {
            end: Some(end.to_owned()),
            ..scheduled()
        };
        refused(&req, "end", "must be after its start");
    }
}

#[test]
fn end_must_be_a_date_and_time() {
    let req = CallbackRequest {
        end: Some("later".to_owned()),
        ..scheduled()
    };
    refused(&req, "end", "write the end as YYYY-MM-DDTHH:MM");
}

// ---- zone -----------------------------------------------------------------

#[test]
fn zone_must_be_an_iana_name() {
    let req = CallbackRequest {
        zone: "Mars/Olympus".to_owned(),
        ..scheduled()
    };
    refused(&req, "zone", "'Mars/Olympus' is not a known time zone");
}

#[test]
fn zone_is_required() {
    let req = CallbackRequest {
        zone: String::new(),
        ..scheduled()
    };
    refused(&req, "zone", "time zone is required");
}

#[test]
fn zone_is_checked_even_with_an_rfc3339_start() {
    let req = CallbackRequest {
        zone: "CET+1".to_owned(),
        start: "2025-06-02T12:00:00Z".to_owned(),
        ..scheduled()
    };
    refused(&req, "zone", "not a known time zone");
}

// ---- queue ----------------------------------------------------------------

#[test]
fn queue_must_exist() {
    let req = CallbackRequest {
        queue: "billing".to_owned(),
        ..scheduled()
    };
    refused(&req, "queue", "unknown queue 'billing'");
}

#[test]
fn queue_must_be_one_of_the_agents() {
    let req = CallbackRequest {
        queue: "support".to_owned(),
        ..scheduled()
    };
    refused(&req, "queue", "you are not an agent of queue 'support'");
}

#[test]
fn queue_must_be_active() {
    let ctx = Context::new("alice", |_: &str| QueueAccess::Inactive);
    refused_in(&scheduled(), &ctx, "queue", "queue 'sales' is not active");
}

#[test]
fn queue_must_take_voice_calls() {
    let ctx = Context::new("alice", |_: &str| QueueAccess::NotVoice);
    refused_in(
        &scheduled(),
        &ctx,
        "queue",
        "queue 'sales' is not a voice queue",
    );
}

#[test]
fn queue_is_required() {
    let req = CallbackRequest {
        queue: " ".to_owned(),
        ..scheduled()
    };
    refused(&req, "queue", "queue is required");
}

// ---- reason ---------------------------------------------------------------

#[test]
fn reason_of_250_characters_is_accepted() {
    let reason = "ü".repeat(250);
    let req = CallbackRequest {
        reason: Some(reason.clone()),
        ..scheduled()
    };
    assert_eq!(ok(&req).reason(), Some(reason.as_str()));
}

#[test]
fn reason_of_251_characters_is_refused() {
    let req = CallbackRequest {
        reason: Some("ü".repeat(251)),
        ..scheduled()
    };
    refused(&req, "reason", "at most 250 characters");
}

#[test]
fn empty_reason_is_absent() {
    let req = CallbackRequest {
        reason: Some("  ".to_owned()),
        ..scheduled()
    };
    assert_eq!(ok(&req).reason(), None);
}

// ---- personal -------------------------------------------------------------

#[test]
fn personal_callback_defaults_to_the_creating_agent() {
    let req = CallbackRequest {
        kind: Kind::Personal,
        ..scheduled()
    };
    assert_eq!(ok(&req).assignee(), Some("alice"));
}

#[test]
fn personal_callback_may_go_to_a_team_member() {
    let req = CallbackRequest {
        kind: Kind::Personal,
        assignee: Some("bob".to_owned()),
        ..scheduled()
    };
    assert_eq!(ok(&req).assignee(), Some("bob"));
}

#[test]
fn personal_callback_for_someone_outside_the_teams_is_refused() {
    let req = CallbackRequest {
        kind: Kind::Personal,
        assignee: Some("mallory".to_owned()),
        ..scheduled()
    };
    refused(&req, "assignee", "'mallory' is neither");
}

#[test]
fn only_personal_callbacks_have_an_assignee() {
    let req = CallbackRequest {
        assignee: Some("alice".to_owned()),
        ..scheduled()
    };
    refused(&req, "assignee", "only personal callbacks are assigned");
}

// ---- web and courtesy -----------------------------------------------------

#[test]
fn web_callback_starts_now_in_utc() {
    let valid = ok(&web());
    assert_eq!(valid.kind(), Kind::Web);
    assert_eq!(valid.start(), now());
    assert_eq!(valid.zone(), "UTC");
}

#[test]
fn web_callback_needs_only_an_existing_queue() {
    let req = CallbackRequest {
        queue: "support".to_owned(),
        ..web()
    };
    assert_eq!(ok(&req).queue(), "support");
    let req = CallbackRequest {
        queue: "billing".to_owned(),
        ..web()
    };
    refused(&req, "queue", "unknown queue 'billing'");
}

#[test]
fn web_callback_checks_name_and_number() {
    let req = CallbackRequest {
        name: "Jo".to_owned(),
        number: "12345".to_owned(),
        ..web()
    };
    let refusals = validate(&req, now(), &ctx()).unwrap_err();
    let fields: Vec<&str> = refusals.iter().map(|r| r.field).collect();
    assert_eq!(fields, ["number", "name"]);
}

#[test]
fn web_callback_has_no_start_or_end() {
    let req = CallbackRequest {
        start: "2025-06-02T12:00".to_owned(),
        ..web()
    };
    refused(&req, "start", "placed as soon as possible");
    let req = CallbackRequest {
        end: Some("2025-06-02T12:00".to_owned()),
        ..web()
    };
    refused(&req, "end", "has no time window");
}

#[test]
fn courtesy_callback_keeps_the_callers_place() {
    let req = CallbackRequest {
        kind: Kind::Courtesy,
        name: String::new(),
        start: "2025-06-02T07:55:00Z".to_owned(),
        zone: String::new(),
        ..scheduled()
    };
    let valid = ok(&req);
    assert_eq!(valid.name(), "");
    assert_eq!(
        valid.start(),
        "2025-06-02T07:55:00Z".parse::<Timestamp>().unwrap()
    );
    let req = CallbackRequest {
        start: "2025-06-02T08:05:00Z".to_owned(),
        ..req
    };
    refused(&req, "start", "cannot be in the future");
}

// ---- JSON -----------------------------------------------------------------

#[test]
fn request_deserialises_from_json() {
    let req: CallbackRequest = serde_json::from_str(
        r#"{"kind": "personal", "number": "+33 1 23 45 67 89", "name": "Jeanne Martin",
            "start": "2025-06-02T12:00", "end": "2025-06-02T12:30", "zone": "Europe/Paris",
            "queue": "sales", "reason": "invoice", "assignee": "bob"}"#,
    )
    .unwrap();
    assert_eq!(req.kind, Kind::Personal);
    assert_eq!(ok(&req).assignee(), Some("bob"));

    let req: CallbackRequest = serde_json::from_str(
        r#"{"kind": "web", "number": "0123456789", "name": "Jeanne", "queue": "sales"}"#,
    )
    .unwrap();
    assert_eq!(ok(&req).start(), now());

    assert!(
        serde_json::from_str::<CallbackRequest>(
            r#"{"kind": "Scheduled", "number": "1", "queue": "q"}"#
        )
        .is_err()
    );
}
