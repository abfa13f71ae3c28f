// The records stores' cases (surveys, call records, conversations,
// tickets), run against every backend: included by `tests/records.rs`
// (SQLite in memory) and `tests/records_postgres.rs` (a PostgreSQL
// database the tests start), each of which defines `Store` and `store()`.

use dialect_store::{
    CallRecord, CallRecording, NewTicket, RecordStore, SurveyAnswer, SurveyStore, StoreError,
    TicketStore,
};
use jiff::Timestamp;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn record(call: &str) -> CallRecord {
    CallRecord {
        call: call.into(),
        campaign: "helpline".into(),
        version: "sha256:ab".into(),
        caller: "+48600100200".into(),
        dialled: "+48221000000".into(),
        started: at("2026-11-23T09:00:00Z"),
        ended: at("2026-11-23T09:03:00Z"),
        outcome: "caller hung up".into(),
        agent: Some("alice".into()),
        queue: Some("helpdesk".into()),
        wait_ms: Some(4_000),
    }
}

fn recording(call: &str, campaign: &str, started_ms: i64) -> CallRecording {
    CallRecording {
        id: 0,
        call: call.into(),
        campaign: campaign.into(),
        caller: "+48600100200".into(),
        agent: "alice".into(),
        path: format!("data/recordings/{call}.wav"),
        channels: 2,
        started_ms,
        duration_ms: 61_000,
    }
}

fn new_ticket(campaign: &str, customer: &str) -> NewTicket {
    NewTicket {
        channel: "chat".into(),
        campaign: campaign.into(),
        customer: customer.into(),
        reason: "phrase \"refund\"".into(),
        transcript: vec!["customer: refund please".into(), "bot: ...".into()],
        team: Some("common/agents.first_line".into()),
        owner: Some("alice".into()),
    }
}

// ---- surveys ----------------------------------------------------------------

#[test]
fn answers_are_kept_per_call() {
    let store = store();
    for (call, question, answer) in [
        ("call-1", "score", Some("5")),
        ("call-2", "score", None),
        ("call-1", "comment", Some("recorded")),
    ] {
        store
            .record_answer(&SurveyAnswer {
                campaign: "helpline".into(),
                survey: "std/survey.csat".into(),
                call: call.into(),
                number: "+48600100200".into(),
                question: question.into(),
                answer: answer.map(str::to_string),
                at: at("2026-11-23T09:00:00Z"),
            })
            .unwrap();
    }
    let one = store.answers(Some("call-1")).unwrap();
    assert_eq!(one.len(), 2);
    assert_eq!(one[0].answer.as_deref(), Some("5"));
    assert_eq!(one[1].question, "comment");
    assert_eq!(one[0].at, at("2026-11-23T09:00:00Z"));
    assert_eq!(store.answers(None).unwrap().len(), 3);
    assert_eq!(store.answers(Some("call-2")).unwrap()[0].answer, None);
    assert!(store.answers(Some("call-3")).unwrap().is_empty());
}

#[test]
fn a_scheduled_survey_is_claimed_once_when_due_and_recovered_after_a_crash() {
    let store = store();
    let id = store
        .schedule_survey(
            "helpline",
            "std/survey.nps",
            "+48600100200",
            at("2026-11-23T10:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        store.next_survey_due().unwrap(),
        Some(at("2026-11-23T10:00:00Z"))
    );
    assert!(
        store
            .claim_due_surveys(at("2026-11-23T09:59:59Z"), 10)
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_due_surveys(at("2026-11-23T10:00:00Z"), 10)
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].attempts), (id, 1));
    assert_eq!(due[0].status, "placing");
    assert!(
        store
            .claim_due_surveys(at("2026-11-23T11:00:00Z"), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_survey_due().unwrap(), None);
    assert_eq!(store.recover_surveys().unwrap(), 1);
    let again = store
        .claim_due_surveys(at("2026-11-23T11:00:00Z"), 10)
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    store.finish_survey(id, true, "answered").unwrap();
    assert_eq!(store.scheduled_surveys().unwrap()[0].status, "done");
    assert!(store.finish_survey(99, true, "x").is_err());
}

#[test]
fn due_surveys_are_claimed_by_due_time_up_to_the_limit() {
    let store = store();
    let late = store
        .schedule_survey("helpline", "std/survey.nps", "+48600100201", at("2026-11-23T10:30:00Z"))
        .unwrap();
    let early = store
        .schedule_survey("helpline", "std/survey.nps", "+48600100202", at("2026-11-23T10:00:00Z"))
        .unwrap();
    let also_early = store
        .schedule_survey("helpline", "std/survey.nps", "+48600100203", at("2026-11-23T10:00:00Z"))
        .unwrap();
    let future = store
        .schedule_survey("sales", "std/survey.csat", "+48600100204", at("2026-11-24T10:00:00Z"))
        .unwrap();
    let listed: Vec<i64> = store
        .scheduled_surveys()
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [early, also_early, late, future]);
    assert!(
        store
            .claim_due_surveys(at("2026-11-23T12:00:00Z"), 0)
            .unwrap()
            .is_empty()
    );
    let first = store
        .claim_due_surveys(at("2026-11-23T12:00:00Z"), 2)
        .unwrap();
    assert_eq!(first.iter().map(|s| s.id).collect::<Vec<_>>(), [early, also_early]);
    assert_eq!(first[0].number, "+48600100202");
    assert_eq!(first[0].campaign, "helpline");
    assert_eq!(first[0].survey, "std/survey.nps");
    assert_eq!(first[0].due, at("2026-11-23T10:00:00Z"));
    assert_eq!(
        store.next_survey_due().unwrap(),
        Some(at("2026-11-23T10:30:00Z"))
    );
    let rest = store
        .claim_due_surveys(at("2026-11-23T12:00:00Z"), 10)
        .unwrap();
    assert_eq!(rest.iter().map(|s| s.id).collect::<Vec<_>>(), [late]);
    assert_eq!(
        store.next_survey_due().unwrap(),
        Some(at("2026-11-24T10:00:00Z"))
    );
    store.finish_survey(early, false, "no answer").unwrap();
    let statuses: Vec<(i64, String)> = store
        .scheduled_surveys()
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (early, "failed".to_owned()),
            (also_early, "placing".to_owned()),
            (late, "placing".to_owned()),
            (future, "pending".to_owned()),
        ]
    );
    // Only the calls being placed go back; finished ones stay finished.
    assert_eq!(store.recover_surveys().unwrap(), 2);
    assert_eq!(store.recover_surveys().unwrap(), 0);
}

#[test]
fn finishing_an_unknown_survey_call_says_so() {
    let err = store().finish_survey(99, true, "x").unwrap_err();
    assert!(matches!(err, StoreError::Unreadable(_)), "{err:?}");
    assert!(err.to_string().contains("there is no survey call 99"), "{err}");
}

// ---- call records, wrap-ups, voicemails ---------------------------------------

#[test]
fn call_records_wrap_ups_and_voicemails_are_kept() {
    let store = store();
    let record = record("call-1");
    store.record_call(&record).unwrap();
    assert_eq!(store.calls().unwrap(), std::slice::from_ref(&record));
    // A batch is kept in its order, after what was there.
    let batch: Vec<CallRecord> = (2..5)
        .map(|n| CallRecord {
            call: format!("call-{n}"),
            ..record.clone()
        })
        .collect();
    store.record_calls(&batch).unwrap();
    let calls: Vec<String> = store.calls().unwrap().into_iter().map(|c| c.call).collect();
    assert_eq!(calls, ["call-1", "call-2", "call-3", "call-4"]);
    store.record_calls(&[]).unwrap();
    assert_eq!(store.calls().unwrap().len(), 4);
    store
        .record_wrap_up(
            "call-1",
            "helpline",
            "alice",
            "+48600100200",
            "resolved",
            "{}",
            at("2026-11-23T09:03:10Z"),
        )
        .unwrap();
    store
        .record_voicemail(
            "call-2",
            "helpline",
            "+48600100201",
            "data/voicemail/x.wav",
            at("2026-11-23T09:05:00Z"),
        )
        .unwrap();
    assert_eq!(store.voicemails().unwrap()[0].3, "data/voicemail/x.wav");
}

#[test]
fn a_call_record_without_agent_queue_or_wait_reads_back_as_such() {
    let store = store();
    let record = CallRecord {
        agent: None,
        queue: None,
        wait_ms: None,
        ..record("call-9")
    };
    store.record_calls(&[record.clone(), self::record("call-10")]).unwrap();
    let calls = store.calls().unwrap();
    assert_eq!(calls[0], record);
    assert_eq!(calls[1].wait_ms, Some(4_000));
}

#[test]
fn voicemails_are_listed_oldest_first() {
    let store = store();
    for n in 1..=3 {
        store
            .record_voicemail(
                &format!("call-{n}"),
                "helpline",
                &format!("+4860010020{n}"),
                &format!("data/voicemail/{n}.wav"),
                at("2026-11-23T09:05:00Z"),
            )
            .unwrap();
    }
    assert_eq!(
        store.voicemails().unwrap(),
        (1..=3)
            .map(|n| (
                format!("call-{n}"),
                "helpline".to_owned(),
                format!("+4860010020{n}"),
                format!("data/voicemail/{n}.wav"),
            ))
            .collect::<Vec<_>>()
    );
}

// ---- recorded conversations ---------------------------------------------------

#[test]
fn conversations_are_listed_newest_first_by_campaign_and_limit() {
    let store = store();
    let mut ids = Vec::new();
    for (n, campaign) in ["helpline", "sales", "helpline", "support"].iter().enumerate() {
        let n = i64::try_from(n).unwrap();
        ids.push(
            store
                .record_conversation(&recording(&format!("call-{n}"), campaign, 1_000 + n))
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all: Vec<i64> = store
        .conversations(None, 10)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, [ids[3], ids[2], ids[1], ids[0]]);
    let two: Vec<i64> = store
        .conversations(None, 2)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(two, [ids[3], ids[2]]);
    let helpline = store
        .conversations(Some(&["helpline".to_owned()]), 10)
        .unwrap();
    assert_eq!(
        helpline.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[2], ids[0]]
    );
    let some = store
        .conversations(Some(&["sales".to_owned(), "support".to_owned()]), 1)
        .unwrap();
    assert_eq!(some.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[3]]);
    assert!(store.conversations(Some(&[]), 10).unwrap().is_empty());
    assert!(store.conversations(None, 0).unwrap().is_empty());
}

#[test]
fn a_conversation_reads_back_whole() {
    let store = store();
    let mut r = recording("call-1", "helpline", 1_763_888_400_000);
    r.channels = 1;
    let id = store.record_conversation(&r).unwrap();
    r.id = id;
    assert_eq!(store.conversation(id).unwrap(), Some(r.clone()));
    assert_eq!(store.conversation(id + 100).unwrap(), None);
    assert_eq!(store.conversations(None, 10).unwrap(), [r]);
}

#[test]
fn expired_conversations_are_removed_and_returned_once() {
    let store = store();
    let old = store
        .record_conversation(&recording("call-1", "helpline", 1_000))
        .unwrap();
    let older = store
        .record_conversation(&recording("call-2", "sales", 500))
        .unwrap();
    let recent = store
        .record_conversation(&recording("call-3", "helpline", 3_000))
        .unwrap();
    let edge = store
        .record_conversation(&recording("call-4", "helpline", 2_000))
        .unwrap();
    let expired = store
        .expire_conversations(Timestamp::from_millisecond(2_000).unwrap())
        .unwrap();
    let mut ids: Vec<i64> = expired.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [old, older]);
    let older = expired.iter().find(|r| r.id == older).unwrap();
    assert_eq!(older.path, "data/recordings/call-2.wav");
    assert_eq!(older.campaign, "sales");
    assert!(
        store
            .expire_conversations(Timestamp::from_millisecond(2_000).unwrap())
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.conversation(old).unwrap(), None);
    assert_eq!(
        store
            .conversations(None, 10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [edge, recent]
    );
}

// ---- tickets ----------------------------------------------------------------

#[test]
fn tickets_open_and_close() {
    let store = store();
    let ticket = store
        .open_ticket(&new_ticket("web", "Jan"), at("2026-11-23T09:00:00Z"))
        .unwrap();
    assert_eq!(ticket.status, "open");
    assert_eq!(ticket.transcript.len(), 2);
    assert_eq!(store.close_ticket(ticket.id).unwrap().status, "closed");
    assert_eq!(store.tickets().unwrap().len(), 1);
    assert!(matches!(
        store.close_ticket(42),
        Err(StoreError::NotFound { id: 42 })
    ));
}

#[test]
fn a_ticket_keeps_every_field() {
    let store = store();
    let new = new_ticket("web", "Jan");
    let ticket = store
        .open_ticket(&new, at("2026-11-23T09:00:00Z"))
        .unwrap();
    assert_eq!(ticket.channel, "chat");
    assert_eq!(ticket.campaign, "web");
    assert_eq!(ticket.customer, "Jan");
    assert_eq!(ticket.reason, "phrase \"refund\"");
    assert_eq!(ticket.transcript, new.transcript);
    assert_eq!(ticket.team.as_deref(), Some("common/agents.first_line"));
    assert_eq!(ticket.owner.as_deref(), Some("alice"));
    assert_eq!(ticket.created, at("2026-11-23T09:00:00Z"));
    assert_eq!(store.ticket(ticket.id).unwrap(), Some(ticket.clone()));
    assert_eq!(store.ticket(ticket.id + 1).unwrap(), None);
    let bare = store
        .open_ticket(
            &NewTicket {
                team: None,
                owner: None,
                transcript: Vec::new(),
                ..new_ticket("web", "Ola")
            },
            at("2026-11-23T09:01:00Z"),
        )
        .unwrap();
    assert_eq!((bare.team, bare.owner), (None, None));
    assert!(bare.transcript.is_empty());
    assert!(bare.id > ticket.id);
}

#[test]
fn open_tickets_are_those_of_the_campaign_oldest_first() {
    let store = store();
    let now = at("2026-11-23T09:00:00Z");
    let a = store.open_ticket(&new_ticket("web", "Jan"), now).unwrap();
    let b = store.open_ticket(&new_ticket("shop", "Ola"), now).unwrap();
    let c = store.open_ticket(&new_ticket("web", "Ewa"), now).unwrap();
    let d = store.open_ticket(&new_ticket("web", "Adam"), now).unwrap();
    store.close_ticket(c.id).unwrap();
    let open: Vec<i64> = store
        .open_tickets("web")
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(open, [a.id, d.id]);
    assert_eq!(store.open_tickets("shop").unwrap(), std::slice::from_ref(&b));
    assert!(store.open_tickets("nowhere").unwrap().is_empty());
    let all: Vec<i64> = store.tickets().unwrap().iter().map(|t| t.id).collect();
    assert_eq!(all, [a.id, b.id, c.id, d.id]);
}

#[test]
fn a_ticket_brought_in_keeps_its_id_and_later_ones_follow_it() {
    let store = store();
    let now = at("2026-11-23T09:00:00Z");
    let first = store.open_ticket(&new_ticket("web", "Jan"), now).unwrap();
    let kept = store
        .insert_ticket(Some(first.id + 40), &new_ticket("web", "Ola"), now)
        .unwrap();
    assert_eq!(kept.id, first.id + 40);
    assert_eq!(kept.customer, "Ola");
    let next = store.open_ticket(&new_ticket("web", "Ewa"), now).unwrap();
    assert!(next.id > kept.id, "{} after {}", next.id, kept.id);
    // An id below the largest does not move the numbering back.
    let low = store
        .insert_ticket(Some(first.id + 20), &new_ticket("web", "Adam"), now)
        .unwrap();
    assert_eq!(low.id, first.id + 20);
    let last = store.open_ticket(&new_ticket("web", "Iga"), now).unwrap();
    assert!(last.id > next.id, "{} after {}", last.id, next.id);
    assert!(store.insert_ticket(Some(kept.id), &new_ticket("web", "Bis"), now).is_err());
    assert_eq!(store.tickets().unwrap().len(), 5);
}
