//! The webhook delivery worker against a local HTTP receiver: headers and
//! body as sent, retries with backoff, dead letters (logged, the call's
//! next event goes on), order per call.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dialect_server::eventlog::EventLog;
use dialect_server::webhook_delivery::{Settings, Worker};
use dialect_store::{NewEvent, OutboxStatus, OutboxStore, SqliteStore};
use serde_json::{Value, json};

/// What the receiver got: (Idempotency-Key, X-Dialect-Event,
/// X-Dialect-Attempt, body, the status it answered).
type Got = Arc<Mutex<Vec<(String, String, u32, Value, u16)>>>;

/// A receiver that refuses (500) every event of `refused_call` and takes
/// the others.
async fn receiver(refused_call: &'static str) -> (String, Got) {
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hooks",
            post(
                move |State(got): State<Got>, headers: HeaderMap, body: String| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    assert_eq!(header("content-type"), "application/json");
                    let body: Value = serde_json::from_str(&body).unwrap();
                    let refused = body["call"] == refused_call && body["seq"] == 1;
                    let status = if refused { 500 } else { 200 };
                    got.lock().unwrap().push((
                        header("idempotency-key"),
                        header("x-dialect-event"),
                        header("x-dialect-attempt").parse().unwrap_or(0),
                        body,
                        status,
                    ));
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("webhooks-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("dialect.sqlite")
}

fn event(call: &str, name: &str, url: &str) -> NewEvent {
    NewEvent {
        campaign: "helpline".into(),
        call: call.into(),
        event: name.into(),
        url: url.into(),
        at: "2026-11-23T09:00:00Z".parse().unwrap(),
        data: json!({ "n": name }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_retried_then_dead_and_the_call_goes_on() {
    let (url, got) = receiver("a@run").await;
    let db = temp_db("dead");
    let store = SqliteStore::open(&db).unwrap();
    let settings = Settings {
        max_attempts: 3,
        timeout: Duration::from_secs(2),
        concurrency: 4,
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        keep_delivered: Duration::from_secs(3_600),
    };
    let lines = Lines::default();
    let worker = Worker::new(
        Box::new(SqliteStore::open(&db).unwrap()),
        settings,
        EventLog::new(Box::new(lines.clone())),
    );
    let notify = worker.notifier();
    let stats = worker.stats();
    let task = tokio::spawn(worker.run());

    store
        .enqueue(
            &[
                event("a@run", "call_answered", &url),
                event("b@run", "call_answered", &url),
                event("a@run", "call_ended", &url),
                event("b@run", "call_ended", &url),
            ],
            jiff::Timestamp::now(),
        )
        .unwrap();
    notify.notify_one();

    let deadline = Instant::now() + Duration::from_secs(10);
    while store.backlog().unwrap() > 0 {
        assert!(Instant::now() < deadline, "{:#?}", got.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();

    let got = got.lock().unwrap().clone();
    // a's first event: three attempts (backoff 50 ms, 100 ms), then dead;
    // a's second only after that.
    let a: Vec<(u64, u32, u16)> = got
        .iter()
        .filter(|g| g.3["call"] == "a@run")
        .map(|g| (g.3["seq"].as_u64().unwrap(), g.2, g.4))
        .collect();
    assert_eq!(a, [(1, 1, 500), (1, 2, 500), (1, 3, 500), (2, 1, 200)]);
    let b: Vec<(u64, u16)> = got
        .iter()
        .filter(|g| g.3["call"] == "b@run")
        .map(|g| (g.3["seq"].as_u64().unwrap(), g.4))
        .collect();
    assert_eq!(b, [(1, 200), (2, 200)]);
    for (key, name, _, body, _) in &got {
        assert_eq!(name, &body["event"]);
        assert_eq!(
            key,
            &format!(
                "{}-{}-{}",
                body["call"].as_str().unwrap(),
                body["seq"],
                name
            )
        );
        assert_eq!(body["campaign"], "helpline");
        assert_eq!(body["at"], "2026-11-23T09:00:00Z");
        assert_eq!(body["data"]["n"], *name);
    }

    let dead = store.list_events(Some(OutboxStatus::Dead)).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "a@run-1-call_answered");
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].last_error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(
        store
            .list_events(Some(OutboxStatus::Delivered))
            .unwrap()
            .len(),
        3
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        (
            stats.delivered.load(Relaxed),
            stats.retried.load(Relaxed),
            stats.dead.load(Relaxed)
        ),
        (3, 2, 1)
    );

    // The log names the dead letter and the failed attempts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let log: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dead: Vec<&Value> = log
        .iter()
        .filter(|l| l["event"] == "webhook_dead")
        .collect();
    assert_eq!(dead.len(), 1, "{log:#?}");
    assert_eq!(dead[0]["call"], "a");
    assert_eq!(dead[0]["key"], "a@run-1-call_answered");
    assert_eq!(dead[0]["attempts"], 3);
    let retries: Vec<u64> = log
        .iter()
        .filter(|l| l["event"] == "webhook_failed")
        .map(|l| l["retry_in_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(retries, [50, 100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_retried_and_events_left_sending_are_sent_after_a_restart() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let db = temp_db("unreachable");
    let store = SqliteStore::open(&db).unwrap();
    store
        .enqueue(
            &[event("c@run", "call_ended", &url)],
            jiff::Timestamp::now(),
        )
        .unwrap();
    // A worker that died while sending: the event is `sending`.
    assert_eq!(
        store.claim_ready(jiff::Timestamp::now(), 10).unwrap().len(),
        1
    );
    let settings = Settings {
        max_attempts: 2,
        timeout: Duration::from_secs(1),
        concurrency: 1,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(20),
        keep_delivered: Duration::from_secs(3_600),
    };
    let worker = Worker::new(
        Box::new(SqliteStore::open(&db).unwrap()),
        settings,
        EventLog::discard(),
    );
    let task = tokio::spawn(worker.run());
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.backlog().unwrap() > 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let dead = store.list_events(Some(OutboxStatus::Dead)).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    let error = dead[0].last_error.clone().unwrap();
    assert!(error.contains("error sending request"), "{error}");
}
