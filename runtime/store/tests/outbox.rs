//! The webhook outbox: order per call, readiness, durability, dead letters,
//! unique keys.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{TempDir, later, now};
use dialect_store::{NewEvent, OutboxStatus, OutboxStore, Settled, SqliteStore, StoreError};
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
    let store = SqliteStore::in_memory().unwrap();
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
    let store = SqliteStore::in_memory().unwrap();
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
    let store = SqliteStore::in_memory().unwrap();
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
    let store = SqliteStore::in_memory().unwrap();
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
    let store = SqliteStore::in_memory().unwrap();
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
    let store = SqliteStore::in_memory().unwrap();
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
fn idempotency_keys_are_unique() {
    let dir = TempDir::new("outbox-keys");
    let store = SqliteStore::open(dir.db()).unwrap();
    store.enqueue(&[event("a", "call_ended")], now()).unwrap();
    // A second row with the same key is refused by the database.
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let err = conn
        .execute(
            "INSERT INTO outbox (campaign, call, seq, event, url, body, key, status, next_ms, \
             created_ms) VALUES ('c', 'z', 1, 'e', 'u', '{}', 'a-1-call_ended', 'pending', 0, 0)",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    // Numbering never repeats a key, even for the same event twice.
    store
        .enqueue(&[event("a", "call_ended"), event("a", "call_ended")], now())
        .unwrap();
    let keys: Vec<String> = store
        .list_events(None)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["a-1-call_ended", "a-2-call_ended", "a-3-call_ended"]);
}

#[test]
fn the_outbox_survives_reopening_and_interrupted_sends_are_pending_again() {
    let dir = TempDir::new("outbox-reopen");
    let store = SqliteStore::open(dir.db()).unwrap();
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
    let sending = store.claim_ready(now(), 10).unwrap();
    assert_eq!(sending.len(), 2);
    store.failed(sending[1].id, "refused", secs(30)).unwrap();
    // The process stops without finishing a's head.
    std::mem::forget(store);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.backlog().unwrap(), 3);
    assert_eq!(
        store
            .list_events(Some(OutboxStatus::Sending))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.recover_outbox().unwrap(), 1);
    let again = store.claim_ready(now(), 10).unwrap();
    assert_eq!(claimed(&again), [("a".into(), 1, "call_answered".into())]);
    assert_eq!(again[0].attempts, 0);
    // b keeps its retry time and error.
    let b = store
        .list_events(None)
        .unwrap()
        .into_iter()
        .find(|e| e.call == "b")
        .unwrap();
    assert_eq!((b.next, b.attempts), (secs(30), 1));
    // Numbering goes on after a restart.
    store.enqueue(&[event("a", "wrap_up")], now()).unwrap();
    assert_eq!(store.list_events(None).unwrap().last().unwrap().seq, 3);
}

#[test]
fn two_stores_on_one_file_claim_each_event_once() {
    let dir = TempDir::new("outbox-two");
    let first = SqliteStore::open(dir.db()).unwrap();
    let second = SqliteStore::open(dir.db()).unwrap();
    let events: Vec<NewEvent> = (0..8)
        .map(|n| event(&format!("call-{n}"), "call_ended"))
        .collect();
    first.enqueue(&events, now()).unwrap();
    let a = first.claim_ready(now(), 5).unwrap();
    let b = second.claim_ready(now(), 5).unwrap();
    assert_eq!(a.len() + b.len(), 8);
    assert!(a.iter().all(|x| b.iter().all(|y| x.id != y.id)));
}

/// Run as a child process by `the_outbox_survives_kill_9`: enqueues
/// events, claims some, reports, then waits to be killed.
#[test]
fn outbox_kill_child() {
    let Ok(path) = std::env::var("DIALECT_OUTBOX_KILL_DB") else {
        return;
    };
    let store = SqliteStore::open(path).unwrap();
    for n in 0..5 {
        store
            .enqueue(
                &[
                    event(&format!("call-{n}"), "call_answered"),
                    event(&format!("call-{n}"), "call_ended"),
                ],
                now(),
            )
            .unwrap();
    }
    assert_eq!(store.claim_ready(now(), 2).unwrap().len(), 2);
    println!("\nCHILD-READY");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn the_outbox_survives_kill_9() {
    let dir = TempDir::new("outbox-kill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "outbox_kill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DIALECT_OUTBOX_KILL_DB", dir.db())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("CHILD-READY"));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(ready, "the child process did not get ready");

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.backlog().unwrap(), 10);
    assert_eq!(store.recover_outbox().unwrap(), 2);
    // Every call's first event, then every call's second: none lost.
    let mut heads = store.claim_ready(now(), 100).unwrap();
    assert_eq!(heads.len(), 5);
    assert!(heads.iter().all(|e| e.seq == 1));
    for e in heads.drain(..) {
        store.delivered(e.id).unwrap();
    }
    let tails = store.claim_ready(now(), 100).unwrap();
    assert_eq!(tails.len(), 5);
    assert!(tails.iter().all(|e| e.seq == 2 && e.event == "call_ended"));
}

#[test]
fn a_version_2_database_is_upgraded_in_place() {
    let dir = TempDir::new("outbox-upgrade");
    drop(SqliteStore::open(dir.db()).unwrap());
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch(
            "DROP TABLE outbox; DROP TABLE record_numbers; DROP TABLE record_states; \
             DROP TABLE blacklist; DROP TABLE customer_records; \
             ALTER TABLE callbacks DROP COLUMN campaign; PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.db()).unwrap();
    store.enqueue(&[event("a", "call_ended")], now()).unwrap();
    // Version 4 added the customer records, 5 their states, the
    // blacklist and the campaign of a recall.
    assert!(
        dialect_store::CustomerStore::all_records(&store, "x")
            .unwrap()
            .is_empty()
    );
    assert!(!dialect_store::CustomerStore::blacklisted(&store, "+48600100200").unwrap());
    assert!(
        dialect_store::CallbackStore::list(&store, &Default::default())
            .unwrap()
            .is_empty()
    );
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 6);
    conn.prepare("SELECT id, path, channels FROM call_recordings")
        .unwrap();
    conn.prepare("SELECT campaign FROM callbacks").unwrap();
}

#[test]
fn settle_records_a_batch_in_one_transaction() {
    let store = SqliteStore::in_memory().unwrap();
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
fn recovery_repairs_which_event_heads_each_call() {
    let dir = TempDir::new("outbox-heads");
    let store = SqliteStore::open(dir.db()).unwrap();
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
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        // Heads lost (say, rows edited by hand), a second head on a.
        conn.execute_batch(
            "UPDATE outbox SET head = 0 WHERE seq = 1; UPDATE outbox SET head = 1 WHERE seq = 2;",
        )
        .unwrap();
    }
    assert_eq!(store.recover_outbox().unwrap(), 0);
    let heads = store.claim_ready(now(), 10).unwrap();
    assert_eq!(
        claimed(&heads),
        [
            ("a".into(), 1, "call_answered".into()),
            ("b".into(), 1, "call_ended".into())
        ]
    );
}

#[test]
fn a_long_backlog_behind_failing_heads_costs_a_claim_nothing() {
    let store = SqliteStore::in_memory().unwrap();
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
