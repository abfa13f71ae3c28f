//! The event log: one JSON object per line for every call event (call
//! started, prompt, digit, queued, agent rung, connected, transfer,
//! voicemail, hang-up with its reason and the artifact's hash). Lines are
//! handed to a writer thread through a bounded queue, so a slow disk never
//! stalls a call; if the queue is ever full the line is counted as dropped.
//!
//! The same events feed the agent desktop and the wallboard live
//! ([`EventLog::subscribe`]): a bounded broadcast that a slow watcher lags
//! behind on (it is told how many it missed) without holding up a call.

use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Lines the queue holds before new ones are dropped.
pub const QUEUE: usize = 65_536;

/// A handle to the event log; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    sender: Option<SyncSender<String>>,
    /// Lines kept in memory instead (the in-memory harness).
    memory: Option<Arc<Mutex<Vec<Value>>>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    /// Lines handed to the writer thread.
    queued: Arc<AtomicU64>,
    /// The live feed: each event, to whoever subscribed.
    feed: tokio::sync::broadcast::Sender<Arc<Value>>,
}

/// How long the writer rests after writing what was queued.
const REST: std::time::Duration = std::time::Duration::from_millis(5);

/// Events the live feed holds for a watcher that has not read them yet.
pub const FEED: usize = 1_024;

impl EventLog {
    /// A log that writes to `out` on its own thread.
    pub fn new(out: Box<dyn Write + Send>) -> EventLog {
        let (sender, receiver) = sync_channel::<String>(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let count = written.clone();
        std::thread::spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
            // Write what is queued, then flush once the queue is empty, so a
            // reader sees lines promptly without a syscall per line under
            // load. After a flush the writer rests a moment before it looks
            // again: under load the lines of those milliseconds go out in
            // one write, instead of the controller waking this thread for
            // every line.
            while let Ok(first) = receiver.recv() {
                let mut next = Some(first);
                let mut lines = 0;
                while let Some(line) = next {
                    let _ = out
                        .write_all(line.as_bytes())
                        .and_then(|()| out.write_all(b"\n"));
                    lines += 1;
                    next = receiver.try_recv().ok();
                }
                let _ = out.flush();
                // Counted once out of the buffer: `written` lines are readable.
                count.fetch_add(lines, Ordering::Relaxed);
                std::thread::sleep(REST);
            }
            let _ = out.flush();
        });
        EventLog {
            sender: Some(sender),
            memory: None,
            dropped: Arc::new(AtomicU64::new(0)),
            written,
            queued: Arc::new(AtomicU64::new(0)),
            feed: tokio::sync::broadcast::channel(FEED).0,
        }
    }

    /// A log that discards everything (for benchmarks).
    pub fn discard() -> EventLog {
        EventLog {
            sender: None,
            memory: None,
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
            queued: Arc::new(AtomicU64::new(0)),
            feed: tokio::sync::broadcast::channel(FEED).0,
        }
    }

    /// A log that keeps its lines in memory, at most [`QUEUE`] of them
    /// (more are counted as dropped), for [`EventLog::lines`].
    pub fn in_memory() -> EventLog {
        EventLog {
            sender: None,
            memory: Some(Arc::new(Mutex::new(Vec::new()))),
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
            queued: Arc::new(AtomicU64::new(0)),
            feed: tokio::sync::broadcast::channel(FEED).0,
        }
    }

    /// The lines an in-memory log holds (none for the others).
    pub fn lines(&self) -> Vec<Value> {
        self.memory
            .as_ref()
            .map(|m| m.lock().map(|lines| lines.clone()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Records one event: `event` names it, `fields` add to it.
    pub fn record(&self, ts: jiff::Timestamp, call: &str, event: &str, fields: Map<String, Value>) {
        let watched = self.feed.receiver_count() > 0;
        if self.sender.is_none() && self.memory.is_none() && !watched {
            return;
        }
        let mut line = Map::new();
        line.insert("ts".into(), Value::String(ts.to_string()));
        line.insert("call".into(), Value::String(call.to_string()));
        line.insert("event".into(), Value::String(event.to_string()));
        line.extend(fields);
        if watched {
            let _ = self.feed.send(Arc::new(Value::Object(line.clone())));
        }
        if let Some(memory) = &self.memory {
            match memory.lock() {
                Ok(mut lines) if lines.len() < QUEUE => {
                    lines.push(Value::Object(line));
                    self.written.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
        let Some(sender) = &self.sender else { return };
        match sender.try_send(Value::Object(line).to_string()) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The live feed of events from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Value>> {
        self.feed.subscribe()
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until every line handed to the writer is
    /// written out, for a clean exit: the writer buffers and rests between
    /// drains, so the last lines may still be on their way.
    pub fn drain(&self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.written() < self.queued.load(Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// `{"k": v, ...}` from pairs, for [`EventLog::record`].
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn drain_waits_for_the_last_lines() {
        let out = Shared::default();
        let log = EventLog::new(Box::new(out.clone()));
        for n in 0..100 {
            log.record(
                jiff::Timestamp::UNIX_EPOCH,
                &format!("call-{n}"),
                "hangup",
                Map::new(),
            );
        }
        log.drain(std::time::Duration::from_secs(5));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 100);
    }

    #[test]
    fn one_json_object_per_line() {
        let out = Shared::default();
        let log = EventLog::new(Box::new(out.clone()));
        let ts = jiff::Timestamp::UNIX_EPOCH;
        log.record(
            ts,
            "call-1",
            "call_started",
            fields([("campaign", "scheme1".into())]),
        );
        log.record(
            ts,
            "call-1",
            "hangup",
            fields([("reason", "end of IVR".into())]),
        );
        for _ in 0..100 {
            if log.written() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "call_started");
        assert_eq!(lines[0]["campaign"], "scheme1");
        assert_eq!(lines[1]["reason"], "end of IVR");
        assert_eq!(log.dropped(), 0);
    }
}
