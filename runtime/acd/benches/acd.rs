//! ACD throughput with many calls waiting, on one thread.
//!
//! `cargo bench -p dialect-acd --bench acd` builds 1,000 agents over 10
//! queues (each agent serves 3 of them, ageing on) with every agent busy and
//! 10,000 calls waiting, then measures:
//! (a) enqueue: new calls joining the queues (and, apart, their removal);
//! (b) assign: agents ending a call, each freed agent being offered the best
//!     waiting call across their queues;
//! (c) a full cycle per agent: wrap-up end (the best call is offered),
//!     answer, end (wrap-up starts), and a new call to keep 10,000 waiting.
//!
//! The clock advances 1 ms per operation, so calls cross ageing levels as
//! they wait. Without `--bench` (as `cargo test --benches` runs it) the
//! figures are taken on 20 agents and 200 calls only, and every index is
//! audited.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_acd::{Acd, Action, CallId, Millis, QueueRules, Request, Rules};
use std::hint::black_box;
use std::time::{Duration, Instant};

const QUEUES: usize = 10;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full {
        Size {
            agents: 1_000,
            waiting: 10_000,
            ops: 200_000,
        }
    } else {
        Size {
            agents: 20,
            waiting: 200,
            ops: 2_000,
        }
    };
    let context = format!("{} waiting, {} agents", size.waiting, size.agents);
    let (enqueue, remove) = enqueue(&size, full);
    println!("enqueue: {} ({context})", rate(enqueue, "ops/s"));
    println!("remove: {} ({context})", rate(remove, "ops/s"));
    let assign = assign(&size, full);
    println!(
        "assign: {} ({context}, 3 queues per agent)",
        rate(assign, "ops/s")
    );
    let cycle = cycle(&size, full);
    println!(
        "cycle: {} (wrap-up end + offer, answer, end, enqueue; {context})",
        rate(cycle, "cycles/s")
    );
    if !full {
        println!("(a smoke run on a few calls: the figures mean nothing; use cargo bench)");
    }
}

struct Size {
    agents: usize,
    waiting: usize,
    ops: usize,
}

fn rate(per_second: f64, unit: &str) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M {unit}", per_second / 1e6)
    } else {
        format!("{:.1} k {unit}", per_second / 1e3)
    }
}

fn per_second(ops: usize, time: Duration) -> f64 {
    ops as f64 / time.as_secs_f64().max(1e-9)
}

/// The driver's side: the clock, call ids, and the call each agent holds.
struct Bench {
    acd: Acd,
    now: Millis,
    next: CallId,
    held: Vec<CallId>,
    seed: u64,
}

impl Bench {
    /// Every agent busy on one call, `waiting` calls waiting.
    fn new(size: &Size, wrap_up_ms: Millis) -> Bench {
        let mut acd = Acd::new(Rules {
            wrap_up_ms,
            extra_wrap_up_ms: 0,
            ageing: vec![(30_000, 2), (120_000, 5), (600_000, 20)],
        });
        for q in 0..QUEUES {
            acd.add_queue(QueueRules {
                max_wait_ms: Some(3_600_000),
                ..QueueRules::new(&queue(q))
            });
        }
        let mut bench = Bench {
            acd,
            now: 0,
            next: 1,
            held: vec![0; size.agents],
            seed: 0x2545_f491_4f6c_dd1d,
        };
        for i in 0..size.agents {
            let name = agent(i);
            let queues = [queue(i), queue(i + 1), queue(i + 3)];
            let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
            bench.acd.add_agent(&name, &queues, 1);
            bench.acd.login(&name, 0);
            bench.acd.set_ready(&name, i as Millis);
        }
        let mut busy = 0;
        while busy < size.agents {
            bench.enqueue();
            busy += bench.answer_offers();
        }
        while bench.acd.waiting() < size.waiting {
            bench.enqueue();
        }
        assert_eq!(bench.acd.waiting(), size.waiting);
        bench
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn request(&mut self) -> Request {
        let r = self.random();
        Request {
            priority: (r % 11) as i64 - 5,
            ..Request::new(&queue((r >> 8) as usize))
        }
    }

    fn enqueue(&mut self) -> CallId {
        let call = self.next;
        self.next += 1;
        self.now += 1;
        let request = self.request();
        self.acd.enqueue(call, request, self.now).unwrap();
        call
    }

    /// Answers every offer made, noting who holds which call.
    fn answer_offers(&mut self) -> usize {
        let mut answered = 0;
        while let Some(action) = self.acd.poll_action() {
            let Action::Offer { call, agent } = action else {
                panic!("unexpected {action:?}");
            };
            self.acd.answered(call, self.now);
            self.held[agent_index(&agent)] = call;
            answered += 1;
        }
        answered
    }

    fn audit(&self, full: bool) {
        if !full {
            self.acd.audit().unwrap();
        }
    }
}

fn queue(n: usize) -> String {
    format!("q{}", n % QUEUES)
}

fn agent(i: usize) -> String {
    format!("agent{i:05}")
}

fn agent_index(name: &str) -> usize {
    name["agent".len()..].parse().unwrap()
}

/// (a) Enqueues in batches of 1,000 with every agent busy, each batch then
/// removed (timed apart).
fn enqueue(size: &Size, full: bool) -> (f64, f64) {
    let mut bench = Bench::new(size, 0);
    let batch = 1_000.min(size.waiting);
    let (mut enqueued, mut removed) = (Duration::ZERO, Duration::ZERO);
    let mut calls = Vec::with_capacity(batch);
    let mut done = 0;
    while done < size.ops {
        let requests: Vec<Request> = (0..batch).map(|_| bench.request()).collect();
        let start = Instant::now();
        for request in requests {
            let call = bench.next;
            bench.next += 1;
            bench.now += 1;
            black_box(bench.acd.enqueue(call, request, bench.now)).unwrap();
            calls.push(call);
        }
        enqueued += start.elapsed();
        assert_eq!(bench.acd.waiting(), size.waiting + batch);
        let start = Instant::now();
        for call in calls.drain(..) {
            black_box(bench.acd.remove(call, bench.now));
        }
        removed += start.elapsed();
        done += batch;
    }
    assert!(bench.acd.poll_action().is_none(), "every agent is busy");
    bench.audit(full);
    (per_second(done, enqueued), per_second(done, removed))
}

/// (b) Every agent in turn ends their call and is offered the best waiting
/// call; between rounds (not timed) the offers are answered and as many
/// calls enqueued.
fn assign(size: &Size, full: bool) -> f64 {
    let mut bench = Bench::new(size, 0);
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < size.ops {
        let held = bench.held.clone();
        let start = Instant::now();
        for call in held {
            bench.now += 1;
            black_box(bench.acd.ended(call, bench.now));
        }
        timed += start.elapsed();
        assert_eq!(bench.answer_offers(), size.agents, "every agent re-offered");
        for _ in 0..size.agents {
            bench.enqueue();
        }
        assert_eq!(bench.acd.waiting(), size.waiting);
        done += size.agents;
    }
    bench.audit(full);
    per_second(done, timed)
}

/// (c) With wrap-up: each agent ends wrap-up (offered the best call),
/// answers it, ends it (wrap-up again), and a new call arrives.
fn cycle(size: &Size, full: bool) -> f64 {
    let mut bench = Bench::new(size, 5_000);
    let names: Vec<String> = (0..size.agents).map(agent).collect();
    for (i, call) in bench.held.clone().into_iter().enumerate() {
        bench.acd.ended(call, bench.now);
        bench.held[i] = 0;
    }
    let mut done = 0;
    let start = Instant::now();
    while done < size.ops {
        for (i, name) in names.iter().enumerate() {
            bench.now += 1;
            let now = bench.now;
            bench.acd.end_wrap_up(name, now);
            let Some(Action::Offer { call, .. }) = bench.acd.poll_action() else {
                panic!("no offer");
            };
            bench.acd.answered(call, now);
            bench.acd.ended(call, now);
            bench.held[i] = call;
            bench.enqueue();
        }
        done += size.agents;
    }
    let timed = start.elapsed();
    assert_eq!(bench.acd.waiting(), size.waiting);
    bench.audit(full);
    per_second(done, timed)
}
