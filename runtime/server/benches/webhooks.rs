//! Webhook throughput: events enqueued as the controller does (one
//! transaction per event), then delivered by the worker to a local HTTP
//! receiver that answers 200 at once. Prints events per second.
//!
//! `cargo bench -p dialect-server --bench webhooks` (environment:
//! `DIALECT_BENCH_EVENTS`, default 10000; `DIALECT_BENCH_CALLS`, default
//! 1000: events are spread over that many calls, in order within each).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use dialect_server::eventlog::EventLog;
use dialect_server::webhook_delivery::{Settings, Worker};
use dialect_store::{NewEvent, OutboxStore, SqliteStore};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let events = env("DIALECT_BENCH_EVENTS", 10_000);
    let calls = env("DIALECT_BENCH_CALLS", 1_000).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let received = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .route(
                "/hooks",
                post(
                    |State(n): State<Arc<AtomicU64>>, _body: String| async move {
                        n.fetch_add(1, Ordering::Relaxed);
                        "ok"
                    },
                ),
            )
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        for concurrency in [8, 32] {
            let dir = std::env::temp_dir().join(format!(
                "dialect-bench-webhooks-{}-{concurrency}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let db = dir.join("dialect.sqlite");
            let store = SqliteStore::open(&db).unwrap();

            let start = Instant::now();
            for n in 0..events {
                let event = NewEvent {
                    campaign: "bench".into(),
                    call: format!("call-{}@bench", n % calls),
                    event: "call_ended".into(),
                    url: url.clone(),
                    at: jiff::Timestamp::now(),
                    data: serde_json::json!({ "reason": "hangup", "duration_ms": n }),
                };
                store.enqueue(&[event], jiff::Timestamp::now()).unwrap();
            }
            let enqueue = start.elapsed();

            let before = received.load(Ordering::Relaxed);
            let settings = Settings {
                concurrency,
                ..Settings::from_config(&dialect_server::config::Webhooks::default())
            };
            let worker = Worker::new(
                Box::new(SqliteStore::open(&db).unwrap()),
                settings,
                EventLog::discard(),
            );
            let stats = worker.stats();
            let start = Instant::now();
            let task = tokio::spawn(worker.run());
            while stats.delivered.load(Ordering::Relaxed) < events as u64 {
                assert!(start.elapsed() < Duration::from_secs(600), "too slow");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let deliver = start.elapsed();
            task.abort();
            assert_eq!(store.backlog().unwrap(), 0);
            assert_eq!(received.load(Ordering::Relaxed) - before, events as u64);
            println!(
                "webhooks: {events} events over {calls} calls; enqueue {:.0} events/s \
                 ({:.1} µs each); delivery at concurrency {concurrency}: {:.0} events/s ({:.2} s)",
                events as f64 / enqueue.as_secs_f64(),
                enqueue.as_secs_f64() * 1e6 / events as f64,
                events as f64 / deliver.as_secs_f64(),
                deliver.as_secs_f64(),
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    });
}
