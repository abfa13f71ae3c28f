//! The store on a file: durability, claims across restarts, bad files.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{TempDir, later, now, scheduled, web};
use dialect_store::{CallbackStore, Filter, RelationshipStore, SqliteStore, Status, StoreError};

#[test]
fn callbacks_survive_dropping_the_store() {
    let dir = TempDir::new("drop");
    let store = SqliteStore::open(dir.db()).unwrap();
    let a = store
        .create(&scheduled("0100000001", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let b = store
        .create(&web("0100000002"), "website", now())
        .unwrap()
        .callback;
    store.set_owner("acme", "0100000001", "alice").unwrap();
    drop(store);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.list(&Filter::default()).unwrap(), [b, a]);
    assert_eq!(
        store.owner("acme", "0100000001").unwrap().as_deref(),
        Some("alice")
    );
}

#[test]
fn callbacks_survive_a_store_that_is_never_closed() {
    let dir = TempDir::new("forget");
    let store = SqliteStore::open(dir.db()).unwrap();
    let a = store
        .create(&scheduled("0100000001", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    // No destructor runs: the WAL is neither checkpointed nor closed.
    std::mem::forget(store);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.get(a.id).unwrap(), a);
}

/// Run as a child process by `callbacks_survive_kill_9`: creates callbacks,
/// claims some, reports, then waits to be killed. Does nothing otherwise.
#[test]
fn kill_child() {
    let Ok(path) = std::env::var("DIALECT_CALLBACKS_KILL_DB") else {
        return;
    };
    let store = SqliteStore::open(path).unwrap();
    for n in 1..=5 {
        store
            .create(&web(&format!("010000000{n}")), "website", now())
            .unwrap();
    }
    store
        .create(&scheduled("0200000000", "2025-06-02T12:00"), "alice", now())
        .unwrap();
    assert_eq!(store.claim_due(now(), 2).unwrap().len(), 2);
    println!("\nCHILD-READY");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn callbacks_survive_kill_9() {
    let dir = TempDir::new("kill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
        .env("DIALECT_CALLBACKS_KILL_DB", dir.db())
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
    let all = store.list(&Filter::default()).unwrap();
    assert_eq!(all.len(), 6);
    let placing: Vec<i64> = all
        .iter()
        .filter(|c| c.status == Status::Placing)
        .map(|c| c.id)
        .collect();
    assert_eq!(placing.len(), 2);

    // The two being placed when the process died are placed once more;
    // the pending ones once.
    let recovered: Vec<i64> = store.recover(now()).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(recovered, placing);
    assert_eq!(store.claim_due(now(), 10).unwrap().len(), 5);
    assert!(store.claim_due(now(), 10).unwrap().is_empty());
}

#[test]
fn claims_hold_after_reopening() {
    let dir = TempDir::new("reopen");
    let store = SqliteStore::open(dir.db()).unwrap();
    let a = store
        .create(&web("0100000001"), "website", now())
        .unwrap()
        .callback;
    let b = store
        .create(&scheduled("0100000002", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let claimed = store.claim_due(now(), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, a.id);
    drop(store);

    // Reopened without recovery: nothing is claimed twice.
    let store = SqliteStore::open(dir.db()).unwrap();
    assert!(store.claim_due(now(), 10).unwrap().is_empty());
    assert_eq!(store.get(a.id).unwrap().status, Status::Placing);
    store.finish(a.id, "answered").unwrap();
    drop(store);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert!(store.recover(later(120)).unwrap().is_empty());
    let claimed = store.claim_due(later(120), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, b.id);
    assert!(store.claim_due(later(120), 10).unwrap().is_empty());
    drop(store);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert!(store.claim_due(later(240), 10).unwrap().is_empty());
    assert_eq!(store.get(a.id).unwrap().status, Status::Done);
}

#[test]
fn two_stores_on_one_file_claim_each_callback_once() {
    let dir = TempDir::new("two");
    let first = SqliteStore::open(dir.db()).unwrap();
    let second = SqliteStore::open(dir.db()).unwrap();
    for n in 1..=6 {
        first
            .create(&web(&format!("010000000{n}")), "website", now())
            .unwrap();
    }
    let a = first.claim_due(now(), 4).unwrap();
    let b = second.claim_due(now(), 4).unwrap();
    assert_eq!(a.len() + b.len(), 6);
    assert!(a.iter().all(|x| b.iter().all(|y| x.id != y.id)));
}

#[test]
fn a_file_that_is_not_a_database_gives_an_error_naming_it() {
    let dir = TempDir::new("garbage");
    let path = dir.db();
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("cannot open the callback database"),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn a_missing_directory_gives_an_error_naming_the_path() {
    let dir = TempDir::new("missing");
    let path = dir.path().join("no/such/dir/callbacks.db");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[test]
fn a_foreign_database_is_refused() {
    let dir = TempDir::new("foreign");
    let path = dir.db();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE callbacks (id INTEGER PRIMARY KEY, who TEXT);")
            .unwrap();
    }
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Schema { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("is not a usable callback database")
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.db();
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        err.to_string().contains("written by a newer version"),
        "{err}"
    );
}
