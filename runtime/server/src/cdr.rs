//! Call detail records written behind the controller (group commit).
//!
//! A call's record used to be inserted, and the file synced, on the
//! controller's thread when the call was released: one `fsync` per call,
//! during which no packet was handled. Now the controller hands the
//! records of each turn to a writer thread, which commits everything
//! queued in one transaction (one sync for the lot) and says how far it got.
//!
//! The guarantee is the one the synchronous write gave: nothing the world
//! can see of a call's end gets out before its record is durable. Every SIP
//! message that tells a peer a call ended (a BYE, the answer to a BYE, a
//! CANCEL, a failure answer to an INVITE: `Transmit::ends`) is held, in
//! order, while records queued before it are uncommitted, until the writer
//! has committed them ([`Cdrs::must_wait`]); so a caller that got its BYE
//! (or the 200 for its own BYE) has a record on disk, whenever the process
//! is killed. Everything else (a new call's 100 and 200, a refusal, an ACK)
//! tells nothing of any call's end and goes out at once. The cost is
//! latency at a call's end, not throughput: under load its last message
//! waits for the writer's linger (20 ms) and one commit, and the controller
//! never waits for the disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use dialect_store::CallRecord;

use crate::database::Store;

use crate::eventlog::EventLog;

/// Batches the writer may have queued before the controller waits for it
/// (backpressure from a disk slower than the call rate: records are never
/// dropped).
const BATCHES: usize = 1_024;

/// A commit this recent means the writer is busy...
const BUSY: Duration = Duration::from_millis(50);
/// ...and then it gathers records this long before the next one: at 2,000
/// calls a second one commit (and one sync) takes about 40 calls. A call's
/// last message waits at most this and one commit, unnoticed at a hang-up.
const LINGER: Duration = Duration::from_millis(20);

/// What the writer and the controller share.
struct Shared {
    /// The number of the last record committed (or given up on).
    committed: Mutex<u64>,
    /// Signalled after each commit, for threads that block on it.
    changed: Condvar,
    /// Woken after each commit, for the controller's loop.
    notify: tokio::sync::Notify,
    /// Records that could not be written (each logged as `cdr_failed`).
    failed: AtomicU64,
}

/// The controller's end of the writer.
pub struct Cdrs {
    sender: Option<SyncSender<(u64, Vec<CallRecord>)>>,
    /// This turn's records, not handed over yet.
    pending: Vec<CallRecord>,
    /// The number of the last record queued (handed over or pending).
    queued: u64,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The writer's queue was full (logged once until it takes again).
    behind: bool,
}

impl Cdrs {
    /// Starts the writer on its own connection to the store's file.
    pub fn start(store: Box<dyn Store>, log: EventLog) -> Cdrs {
        let (sender, receiver) = sync_channel(BATCHES);
        let shared = Arc::new(Shared {
            committed: Mutex::new(0),
            changed: Condvar::new(),
            notify: tokio::sync::Notify::new(),
            failed: AtomicU64::new(0),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("dialect-cdr".into())
            .spawn(move || write(store.as_ref(), &receiver, &writer, &log))
            .ok();
        Cdrs {
            sender: thread.is_some().then_some(sender),
            pending: Vec::new(),
            queued: 0,
            shared,
            thread,
            behind: false,
        }
    }

    /// Queues a record; it is handed to the writer at the end of the turn
    /// ([`Cdrs::hand_over`]).
    pub fn push(&mut self, record: CallRecord) {
        self.pending.push(record);
        self.queued += 1;
    }

    /// Hands this turn's records to the writer. When the writer is a
    /// thousand batches behind, this waits for it rather than drop a record.
    pub fn hand_over(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = (self.queued, std::mem::take(&mut self.pending));
        let Some(sender) = &self.sender else {
            return self.give_up(batch.0, batch.1.len());
        };
        let batch = match sender.try_send(batch) {
            Ok(()) => {
                self.behind = false;
                return;
            }
            Err(TrySendError::Full(batch)) => batch,
            Err(TrySendError::Disconnected(batch)) => {
                return self.give_up(batch.0, batch.1.len());
            }
        };
        if !self.behind {
            self.behind = true;
            tracing::warn!("the call record writer is behind: the controller waits for the disk");
        }
        if let Err(error) = sender.send(batch) {
            let (last, records) = error.0;
            self.give_up(last, records.len());
        }
    }

    /// Records that can no longer be written (the writer is gone): counted
    /// as failed, and nothing waits for them.
    fn give_up(&self, last: u64, records: usize) {
        self.shared
            .failed
            .fetch_add(records as u64, Ordering::Relaxed);
        advance(&self.shared, last);
    }

    /// The number of the last record queued; a message produced now must
    /// wait until this one is committed.
    pub fn must_wait(&self) -> u64 {
        self.queued
    }

    /// The number of the last record committed.
    pub fn committed(&self) -> u64 {
        *self
            .shared
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that could not be written.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Completes after a commit (at once if one happened since the last
    /// wait).
    pub async fn committed_more(&self) {
        self.shared.notify.notified().await;
    }

    /// Blocks until record `seq` is committed, at most `timeout` (the
    /// in-memory harness and shutdown). Hands this turn's records over
    /// first. Returns whether it was committed.
    pub fn wait(&mut self, seq: u64, timeout: Duration) -> bool {
        self.hand_over();
        let guard = self
            .shared
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |committed| *committed < seq)
            .unwrap_or_else(PoisonError::into_inner);
        *guard >= seq
    }
}

impl Drop for Cdrs {
    /// Hands over what is left and lets the writer finish it.
    fn drop(&mut self) {
        self.hand_over();
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The number of the last record settled moves to `last` (never back).
fn advance(shared: &Shared, last: u64) {
    {
        let mut committed = shared
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *committed = (*committed).max(last);
    }
    shared.changed.notify_all();
    shared.notify.notify_one();
}

/// The writer's loop: everything queued, in one transaction per round.
fn write(
    store: &dyn Store,
    receiver: &Receiver<(u64, Vec<CallRecord>)>,
    shared: &Shared,
    log: &EventLog,
) {
    let mut records = Vec::new();
    let mut last_commit: Option<std::time::Instant> = None;
    while let Ok((mut last, first)) = receiver.recv() {
        // Under load (the last commit was moments ago) the writer lingers
        // a little, so that one commit, and one sync, takes more calls.
        if last_commit.is_some_and(|at| at.elapsed() < BUSY) {
            std::thread::sleep(LINGER);
        }
        records.clear();
        records.extend(first);
        while let Ok((more_last, more)) = receiver.try_recv() {
            last = more_last;
            records.extend(more);
        }
        if let Err(error) = store.record_calls(&records) {
            shared
                .failed
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            tracing::error!(%error, records = records.len(), "call records were not written");
            for record in &records {
                log.record(
                    jiff::Timestamp::now(),
                    &record.call,
                    "cdr_failed",
                    crate::eventlog::fields([("error", error.to_string().into())]),
                );
            }
        }
        last_commit = Some(std::time::Instant::now());
        advance(shared, last);
    }
}
