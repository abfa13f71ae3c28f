//! Helpers shared by the store tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use dialect_store::{CallbackRequest, Context, Kind, Valid, validate};
use jiff::{SignedDuration, Timestamp};

/// 2025-06-02 08:00 UTC.
pub fn now() -> Timestamp {
    "2025-06-02T08:00:00Z".parse().unwrap()
}

/// `now()` plus `mins` minutes.
pub fn later(mins: i64) -> Timestamp {
    now().checked_add(SignedDuration::from_mins(mins)).unwrap()
}

pub fn ctx() -> Context<'static> {
    Context::with_queues("alice", &["sales", "support"], &["sales", "support"])
        .with_assignees(["bob"])
}

pub fn request(kind: Kind, number: &str, start: &str) -> CallbackRequest {
    CallbackRequest {
        kind,
        number: number.to_owned(),
        name: "Jeanne Martin".to_owned(),
        start: start.to_owned(),
        end: None,
        zone: "Europe/Paris".to_owned(),
        queue: "sales".to_owned(),
        reason: Some("invoice".to_owned()),
        assignee: None,
    }
}

pub fn valid_req(req: &CallbackRequest) -> Valid {
    validate(req, now(), &ctx()).unwrap()
}

/// A scheduled callback for `number` at `start` (civil time in Paris).
pub fn scheduled(number: &str, start: &str) -> Valid {
    valid_req(&request(Kind::Scheduled, number, start))
}

/// A web callback for `number`, requested at `now()`.
pub fn web(number: &str) -> Valid {
    valid_req(&request(Kind::Web, number, ""))
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("store-{name}-{n}-{nanos}"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("callbacks.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub mod pg;
