//! Webhook delivery (SPEC 5.9): a worker task that POSTs the events waiting
//! in the embedded database's outbox (`dialect_store::OutboxStore`) to
//! the URLs the campaigns subscribe them to.
//!
//! The controller only enqueues (one SQLite transaction per event, then a
//! [`Notify`]); everything slow happens here, off the call path. The worker
//! claims ready events (at most one per call at a time: a call's events go
//! out strictly in order), POSTs up to `concurrency` of them at once (each
//! of a different call) with an `Idempotency-Key`, and records the outcome:
//! 2xx is delivered; anything else is retried with exponential backoff
//! ([`backoff`]) until the last allowed attempt, after which the event is
//! dead (kept in the outbox, logged as `webhook_dead`) and the call's next
//! event may go. Events being sent when the process died are sent again
//! after a restart (at least once; the key is the same).
//!
//! The worker has its own connection to the database file (WAL allows one
//! writer and many readers; every store call runs on a blocking thread), so
//! it never holds the controller up.

use crate::clock::Clock;
use crate::eventlog::{EventLog, fields};
use dialect_store::{OutboxEvent, Settled, StoreError};

use crate::database::Store;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Events claimed from the outbox at most per round (further bounded by
/// the free delivery slots).
pub const CLAIM: usize = 64;

/// The most of a receiver's answer that is read (then dropped).
const ANSWER_LIMIT: usize = 64 * 1024;

/// The longest sleep without a look at the outbox (another process may
/// share the file).
const IDLE: Duration = Duration::from_secs(30);

/// How often delivered events older than the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// The wait after `failures` failed attempts (1 or more): `first`, doubled
/// after each further failure, never more than `max` (1 s, 2 s, 4 s, ...,
/// 5 min with the defaults).
pub fn backoff(failures: u32, first: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    first.saturating_mul(1u32 << doublings).min(max)
}

/// Counters of the worker, for status and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events delivered (2xx).
    pub delivered: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Events given up.
    pub dead: AtomicU64,
}

/// How the worker delivers (from `[webhooks]` in the configuration).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Attempts at one event before it is dead.
    pub max_attempts: u32,
    /// The longest wait for a receiver's answer.
    pub timeout: Duration,
    /// Deliveries at once.
    pub concurrency: usize,
    /// The wait after the first failure.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long delivered events stay in the outbox.
    pub keep_delivered: Duration,
}

impl Settings {
    /// The settings of a configuration's `[webhooks]` table.
    pub fn from_config(config: &crate::config::Webhooks) -> Settings {
        Settings {
            max_attempts: config.max_attempts.max(1),
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            concurrency: config.concurrency.max(1),
            first_backoff: Duration::from_millis(config.backoff_ms.max(1)),
            max_backoff: Duration::from_millis(config.max_backoff_ms.max(config.backoff_ms)),
            keep_delivered: Duration::from_secs(config.keep_delivered_hours.saturating_mul(3_600)),
        }
    }
}

/// The delivery worker: build it with [`Worker::new`], hand its
/// [`Worker::notifier`] to whoever enqueues, then [`Worker::run`] it.
pub struct Worker {
    store: Arc<dyn Store>,
    settings: Settings,
    log: EventLog,
    notify: Arc<Notify>,
    client: reqwest::Client,
    stats: Arc<Stats>,
    clock: Clock,
    /// Sends the outbox's e-mails and SMS (`mailto:`, `sms:`).
    notifier: Option<Arc<crate::notify::Notifier>>,
}

/// What one attempt came to: the receiver's status, or why there was none.
type Attempt = Result<u16, String>;

impl Worker {
    /// A worker on its own store handle (a second connection to the
    /// database file is fine: WAL, IMMEDIATE transactions).
    pub fn new(store: Box<dyn Store>, settings: Settings, log: EventLog) -> Worker {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("dialect/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Worker {
            store: Arc::from(store),
            settings,
            log,
            notify: Arc::new(Notify::new()),
            client,
            stats: Arc::new(Stats::default()),
            clock: Clock::system(),
            notifier: None,
        }
    }

    /// Sends e-mails and SMS from the outbox through `notifier`.
    pub fn with_notifier(mut self, notifier: crate::notify::Notifier) -> Worker {
        self.notifier = Some(Arc::new(notifier));
        self
    }

    /// Times the event log's lines with `clock` (the flows' clock, so that
    /// they sort with the calls' lines); scheduling keeps the real time.
    pub fn with_clock(mut self, clock: Clock) -> Worker {
        self.clock = clock;
        self
    }

    /// Wakes the worker: call `notify_one` after enqueueing.
    pub fn notifier(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// The worker's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Delivers forever: abort the task to stop it (events being sent are
    /// sent again after the next start).
    pub async fn run(self) {
        match self.store_call(|s| s.recover_outbox()).await {
            Ok(n) if n > 0 => self.note("webhooks_recovered", fields([("count", n.into())])),
            Ok(_) => {}
            Err(error) => self.note("webhook_store_failed", fields([("error", error.into())])),
        }
        let mut inflight: JoinSet<(OutboxEvent, Attempt)> = JoinSet::new();
        let mut next_prune = Instant::now();
        loop {
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                self.prune().await;
            }
            let mut wake = Instant::now() + IDLE;
            let free = self.settings.concurrency.saturating_sub(inflight.len());
            if free > 0 {
                match self.claim(free.min(CLAIM)).await {
                    Ok(events) => {
                        let claimed = events.len();
                        for event in events {
                            inflight.spawn(deliver(
                                self.client.clone(),
                                self.notifier.clone(),
                                event,
                            ));
                        }
                        if claimed < free.min(CLAIM) {
                            // Everything ready is on its way: sleep until the
                            // next event is due (or a delivery ends).
                            match self.store_call(|s| s.next_ready()).await {
                                Ok(Some(at)) => wake = wake.min(instant_of(at)),
                                Ok(None) => {}
                                Err(error) => self.store_failed(error, &mut wake),
                            }
                        } else {
                            wake = Instant::now();
                        }
                    }
                    Err(error) => self.store_failed(error, &mut wake),
                }
            }
            // Never spin: at least a millisecond between two rounds.
            let wake = wake.max(Instant::now() + Duration::from_millis(1));
            tokio::select! {
                Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                    // Every delivery that has ended, recorded at once. (A
                    // delivery task cannot panic short of a bug; its event
                    // would stay `sending` until the next start.)
                    let mut finished: Vec<_> = done.into_iter().collect();
                    while let Some(more) = inflight.try_join_next() {
                        finished.extend(more);
                    }
                    self.settle(finished).await;
                }
                () = self.notify.notified() => {}
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    async fn claim(&self, limit: usize) -> Result<Vec<OutboxEvent>, String> {
        let now = Timestamp::now();
        self.store_call(move |s| s.claim_ready(now, limit)).await
    }

    /// Records finished attempts (one store transaction for all):
    /// delivered, retried later, or dead; failures are logged.
    async fn settle(&self, finished: Vec<(OutboxEvent, Attempt)>) {
        let mut outcomes = Vec::with_capacity(finished.len());
        let mut lines = Vec::new();
        for (event, attempt) in finished {
            let attempts = event.attempts.saturating_add(1);
            let error = match attempt {
                Ok(status) if (200..300).contains(&status) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    outcomes.push((event.id, Settled::Delivered));
                    continue;
                }
                Ok(status) => format!("the receiver answered HTTP {status}"),
                Err(error) => error,
            };
            let mut extra = fields([
                ("webhook", event.event.clone().into()),
                ("url", event.url.clone().into()),
                ("key", event.key.clone().into()),
                ("attempts", attempts.into()),
                ("error", error.clone().into()),
            ]);
            let call = event.call.split('@').next().unwrap_or_default().to_string();
            if attempts >= self.settings.max_attempts {
                self.stats.dead.fetch_add(1, Ordering::Relaxed);
                outcomes.push((event.id, Settled::Dead { error }));
                lines.push((call, "webhook_dead", extra));
                continue;
            }
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            let wait = backoff(
                attempts,
                self.settings.first_backoff,
                self.settings.max_backoff,
            );
            let next_at = Timestamp::now()
                .saturating_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX))
                .unwrap_or(Timestamp::MAX);
            let retry_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            extra.insert("retry_in_ms".into(), retry_ms.into());
            outcomes.push((event.id, Settled::Failed { error, next_at }));
            lines.push((call, "webhook_failed", extra));
        }
        let outcomes = Arc::new(outcomes);
        let batch = outcomes.clone();
        if let Err(error) = self.store_call(move |s| s.settle(&batch)).await {
            // One bad row (deleted meanwhile?) fails the batch: record the
            // others one by one.
            self.note("webhook_store_failed", fields([("error", error.into())]));
            let batch = outcomes.clone();
            let _ = self
                .store_call(move |s| {
                    for outcome in batch.iter() {
                        let _ = s.settle(std::slice::from_ref(outcome));
                    }
                    Ok(())
                })
                .await;
        }
        for (call, event, extra) in lines {
            self.log.record(self.clock.now(), &call, event, extra);
        }
    }

    async fn prune(&self) {
        let keep =
            SignedDuration::try_from(self.settings.keep_delivered).unwrap_or(SignedDuration::MAX);
        let before = Timestamp::now()
            .saturating_sub(keep)
            .unwrap_or(Timestamp::MIN);
        match self.store_call(move |s| s.prune_delivered(before)).await {
            Ok(n) if n > 0 => self.note("webhooks_pruned", fields([("count", n.into())])),
            Ok(_) => {}
            Err(error) => self.note("webhook_store_failed", fields([("error", error.into())])),
        }
    }

    fn store_failed(&self, error: String, wake: &mut Instant) {
        self.note("webhook_store_failed", fields([("error", error.into())]));
        *wake = (*wake).min(Instant::now() + Duration::from_secs(1));
    }

    fn note(&self, event: &str, extra: serde_json::Map<String, serde_json::Value>) {
        self.log.record(self.clock.now(), "", event, extra);
    }

    /// Runs a store operation on a blocking thread (SQLite waits for the
    /// disk); its error as text.
    async fn store_call<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the store task failed: {e}")),
        }
    }
}

/// The monotonic instant of a store time (now when it has passed).
fn instant_of(at: Timestamp) -> Instant {
    let ahead = at.duration_since(Timestamp::now());
    Instant::now() + Duration::try_from(ahead).unwrap_or(Duration::ZERO)
}

/// One attempt: POST the body with its headers (or, for a `mailto:` or
/// `sms:` destination, send the notification); the status, or the error.
async fn deliver(
    client: reqwest::Client,
    notifier: Option<Arc<crate::notify::Notifier>>,
    event: OutboxEvent,
) -> (OutboxEvent, Attempt) {
    if event.url.starts_with("mailto:") || event.url.starts_with("sms:") {
        let result = match notifier {
            Some(notifier) => notifier.send(&client, &event.url, &event.body).await,
            None => Err("notifications are not configured ([notify])".into()),
        };
        return (event, result);
    }
    let attempt = event.attempts.saturating_add(1);
    let sent = client
        .post(&event.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &event.key)
        .header("X-Dialect-Event", &event.event)
        .header("X-Dialect-Attempt", attempt.to_string())
        .body(event.body.clone())
        .send()
        .await;
    let result = match sent {
        Ok(mut response) => {
            let status = response.status().as_u16();
            // Read (a bounded part of) the answer so the connection can be
            // reused.
            let mut read = 0usize;
            while read < ANSWER_LIMIT {
                match response.chunk().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    _ => break,
                }
            }
            Ok(status)
        }
        Err(error) => Err(describe(&error)),
    };
    (event, result)
}

/// A reqwest error with its causes ("error sending request: connection
/// refused").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer within the time limit".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=12).map(|n| backoff(n, first, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(0, first, max), first);
        assert_eq!(backoff(u32::MAX, first, max), max);
        let short = backoff(5, Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(short, Duration::from_millis(500));
    }

    #[test]
    fn settings_come_from_the_configuration() {
        let settings = Settings::from_config(&crate::config::Webhooks::default());
        assert_eq!(settings.max_attempts, 10);
        assert_eq!(settings.timeout, Duration::from_secs(5));
        assert_eq!(settings.concurrency, 8);
        assert_eq!(settings.first_backoff, Duration::from_secs(1));
        assert_eq!(settings.max_backoff, Duration::from_secs(300));
        // Ten attempts at the defaults span 1+2+...+256 s: about 8.5 minutes.
        let total: Duration = (1..10)
            .map(|n| backoff(n, settings.first_backoff, settings.max_backoff))
            .sum();
        assert_eq!(total.as_secs(), 511);
    }
}
