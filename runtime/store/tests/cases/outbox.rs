// The webhook outbox's cases, run against every backend: included by
// `tests/outbox.rs` (SQLite in memory; the file-based cases are there) and
// `tests/outbox_postgres.rs`, each of which defines `Store` and `store()`.

use common::{later, now};
use dialect_store::{NewEvent, OutboxStatus, OutboxStore, Settled, StoreError};
use jiff::{SignedDuration, Timestamp};

fn event(call: &str, name: &str) -> NewEvent {
    NewEvent {
        campaign: "helpline".into(),
        call: call.into(),
        event: name.into(),
        url: "http://127.0.0.1:9/hooks".into(),
        at: now(),
        data: serde_json::json!({ "n": name }),
    }
}

fn secs(n: i64) -> Timestamp {
    now().checked_add(SignedDuration::from_secs(n)).unwrap()
}

/// (call, seq, event) of claimed events, in claim order.
fn claimed(events: &[dialect_store::OutboxEvent]) -> Vec<(String, u32, String)> {
    events
        .iter()
        .map(|e| (e.call.clone(), e.seq, e.event.clone()))
        .collect()
}







#[test]
fn events_are_numbered_per_call_with_their_body_and_key() {
    let store = store();
    let ids = store
        .enqueue(
            &[
                event("call-1@a", "call_answered"),
                event("call-2@a", "call_answered"),
                event("call-1@a", "call_ended"),
            ],
            now(),
        )
        .unwrap();
    assert_eq!(ids.len(), 3);
    store
        .enqueue(&[event("call-1@a", "wrap_up")], now())
        .unwrap();
    let all = store.list_events(None).unwrap();
    let seqs: Vec<(&str, u32)> = all.iter().map(|e| (e.call.as_str(), e.seq)).collect();
    assert_eq!(
        seqs,
        [
            ("call-1@a", 1),
            ("call-2@a", 1),
            ("call-1@a", 2),
            ("call-1@a", 3)
        ]
    );
    assert_eq!(all[2].key, "call-1@a-2-call_ended");
    assert_eq!(all[2].status, OutboxStatus::Pending);
    assert_eq!(
        (all[2].attempts, all[2].next, all[2].created),
        (0, now(), now())
    );
    let body: serde_json::Value = serde_json::from_str(&all[2].body).unwrap();
    assert_eq!(body["event"], "call_ended");
    assert_eq!(body["call"], "call-1@a");
    assert_eq!(body["seq"], 2);
    assert_eq!(body["campaign"], "helpline");
    assert_eq!(body["data"]["n"], "call_ended");
    assert_eq!(store.backlog().unwrap(), 4);
    assert!(store.enqueue(&[], now()).unwrap().is_empty());
}

#[test]
fn only_the_oldest_open_event_of_each_call_is_claimed() {
    let store = store();
    store
        .enqueue(
            &[
                event("a", "call_answered"),
                event("a", "call_routed"),
                event("b", "call_answered"),
                event("a", "call_ended"),
            ],
            now(),
        )
        .unwrap();
    let first = store.claim_ready(now(), 10).unwrap();
    assert_eq!(
        claimed(&first),
        [
            ("a".into(), 1, "call_answered".into()),
            ("b".into(), 1, "call_answered".into())
        ]
    );
    assert!(first.iter().all(|e| e.status == OutboxStatus::Sending));
    // Both heads are being sent: nothing else may go.
    assert!(store.claim_ready(now(), 10).unwrap().is_empty());
    assert_eq!(store.next_ready().unwrap(), None);

    // a's head fails: a waits for its retry, its later events with it.
    store.failed(first[0].id, "503", secs(4)).unwrap();
    store.delivered(first[1].id).unwrap();
    assert!(store.claim_ready(secs(3), 10).unwrap().is_empty());
    assert_eq!(store.next_ready().unwrap(), Some(secs(4)));
    let retry = store.claim_ready(secs(4), 10).unwrap();
    assert_eq!(claimed(&retry), [("a".into(), 1, "call_answered".into())]);
    assert_eq!(retry[0].attempts, 1);
    assert_eq!(retry[0].last_error.as_deref(), Some("503"));
    store.delivered(retry[0].id).unwrap();

    // Then the rest of a, one at a time.
    let next = store.claim_ready(secs(4), 10).unwrap();
    assert_eq!(claimed(&next), [("a".into(), 2, "call_routed".into())]);
    store.delivered(next[0].id).unwrap();
    let last = store.claim_ready(secs(4), 10).unwrap();
    assert_eq!(claimed(&last), [("a".into(), 3, "call_ended".into())]);
    store.delivered(last[0].id).unwrap();
    assert!(store.claim_ready(secs(100), 10).unwrap().is_empty());
    assert_eq!(store.backlog().unwrap(), 0);
    let delivered = store.list_events(Some(OutboxStatus::Delivered)).unwrap();
    assert_eq!(delivered.len(), 4);
    assert_eq!(delivered[0].attempts, 2);
}

#[test]
fn a_call_whose_head_is_not_ready_is_skipped_and_others_go_on() {
    let store = store();
    store
        .enqueue(
            &[event("a", "call_answered"), event("a", "call_ended")],
            now(),
        )
        .unwrap();
    let a = store.claim_ready(now(), 10).unwrap();
    store.failed(a[0].id, "timeout", secs(60)).unwrap();
    store
        .enqueue(
            &[event("b", "call_answered"), event("b", "call_ended")],
            secs(1),
        )
        .unwrap();
    // b's events are ready, a's later event is not: a's head holds it back.
    let b = store.claim_ready(secs(1), 10).unwrap();
    assert_eq!(claimed(&b), [("b".into(), 1, "call_answered".into())]);
    store.delivered(b[0].id).unwrap();
    let b = store.claim_ready(secs(2), 10).unwrap();
    assert_eq!(claimed(&b), [("b".into(), 2, "call_ended".into())]);
    store.delivered(b[0].id).unwrap();
    assert!(store.claim_ready(secs(59), 10).unwrap().is_empty());
    assert_eq!(store.next_ready().unwrap(), Some(secs(60)));
    assert_eq!(store.backlog().unwrap(), 2);
}

#[test]
fn the_limit_bounds_a_claim_and_the_oldest_go_first() {
    let store = store();
    let events: Vec<NewEvent> = (0..10)
        .map(|n| event(&format!("call-{n}"), "call_ended"))
        .collect();
    store.enqueue(&events, now()).unwrap();
    let first = store.claim_ready(now(), 4).unwrap();
    let calls: Vec<&str> = first.iter().map(|e| e.call.as_str()).collect();
    assert_eq!(calls, ["call-0", "call-1", "call-2", "call-3"]);
    assert_eq!(store.claim_ready(now(), 100).unwrap().len(), 6);
    assert!(store.claim_ready(now(), 0).unwrap().is_empty());
}

#[test]
fn a_dead_event_lets_the_calls_next_event_go_and_is_kept() {
    let store = store();
    store
        .enqueue(
            &[event("a", "call_answered"), event("a", "call_ended")],
            now(),
        )
        .unwrap();
    let head = store.claim_ready(now(), 10).unwrap();
    store.failed(head[0].id, "HTTP 500", secs(1)).unwrap();
    let head = store.claim_ready(secs(1), 10).unwrap();
    store.dead(head[0].id, "HTTP 500 (gave up)").unwrap();
    let next = store.claim_ready(secs(1), 10).unwrap();
    assert_eq!(claimed(&next), [("a".into(), 2, "call_ended".into())]);
    let dead = store.list_events(Some(OutboxStatus::Dead)).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 500 (gave up)"));
    // Dead events are not pruned; delivered ones are, but for the call's
    // last, which keeps its numbering going.
    store.delivered(next[0].id).unwrap();
    store.enqueue(&[event("a", "wrap_up")], now()).unwrap();
    let last = store.claim_ready(now(), 10).unwrap();
    store.delivered(last[0].id).unwrap();
    assert_eq!(store.prune_delivered(now()).unwrap(), 0);
    assert_eq!(store.prune_delivered(later(1)).unwrap(), 1);
    let left: Vec<(u32, OutboxStatus)> = store
        .list_events(None)
        .unwrap()
        .iter()
        .map(|e| (e.seq, e.status))
        .collect();
    assert_eq!(
        left,
        [(1, OutboxStatus::Dead), (3, OutboxStatus::Delivered)]
    );
    store
        .enqueue(&[event("a", "record_edited")], now())
        .unwrap();
    assert_eq!(store.list_events(None).unwrap().last().unwrap().seq, 4);
}

#[test]
fn unknown_ids_are_named() {
    let store = store();
    for result in [
        store.delivered(42),
        store.failed(42, "x", now()),
        store.dead(42, "x"),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::NoEvent { id: 42 }), "{err:?}");
        assert!(err.to_string().contains("webhook event 42"), "{err}");
    }
}

#[test]
fn settle_records_a_batch_in_one_transaction() {
    let store = store();
    store
        .enqueue(
            &[
                event("a", "call_answered"),
                event("a", "call_ended"),
                event("b", "call_ended"),
            ],
            now(),
        )
        .unwrap();
    let heads = store.claim_ready(now(), 10).unwrap();
    assert_eq!(heads.len(), 2);
    store
        .settle(&[
            (heads[0].id, Settled::Delivered),
            (
                heads[1].id,
                Settled::Failed {
                    error: "HTTP 502".into(),
                    next_at: secs(5),
                },
            ),
        ])
        .unwrap();
    let next = store.claim_ready(now(), 10).unwrap();
    assert_eq!(claimed(&next), [("a".into(), 2, "call_ended".into())]);
    // An unknown id fails the whole batch: nothing of it is recorded.
    let err = store
        .settle(&[(next[0].id, Settled::Delivered), (999, Settled::Delivered)])
        .unwrap_err();
    assert!(matches!(err, StoreError::NoEvent { id: 999 }), "{err:?}");
    let a2 = store.list_events(Some(OutboxStatus::Sending)).unwrap();
    assert_eq!(a2.len(), 1);
    store
        .settle(&[(
            next[0].id,
            Settled::Dead {
                error: "gave up".into(),
            },
        )])
        .unwrap();
    assert_eq!(store.backlog().unwrap(), 1);
    assert!(store.settle(&[]).is_ok());
}

#[test]
fn a_long_backlog_behind_failing_heads_costs_a_claim_nothing() {
    let store = store();
    let events: Vec<NewEvent> = (0..20_000)
        .map(|n| event(&format!("call-{}", n % 200), "call_ended"))
        .collect();
    store.enqueue(&events, now()).unwrap();
    let heads = store.claim_ready(now(), 1_000).unwrap();
    assert_eq!(heads.len(), 200);
    let failed: Vec<(i64, Settled)> = heads
        .iter()
        .map(|e| {
            (
                e.id,
                Settled::Failed {
                    error: "down".into(),
                    next_at: secs(60),
                },
            )
        })
        .collect();
    store.settle(&failed).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..100 {
        assert!(store.claim_ready(secs(1), 64).unwrap().is_empty());
        assert_eq!(store.next_ready().unwrap(), Some(secs(60)));
    }
    // 19,800 events wait behind the heads; a claim looks at 200 heads.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

