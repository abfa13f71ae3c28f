//! The webhook outbox: order per call, readiness, durability, dead letters,
//! unique keys.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::TempDir;
use dialect_store::SqliteStore;

type Store = SqliteStore;

fn store() -> Store {
    Store::in_memory().unwrap()
}

include!("cases/outbox.rs");

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
