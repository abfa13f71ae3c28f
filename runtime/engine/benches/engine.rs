//! Engine throughput and memory per call, on one thread, against scheme 3
//! (`flows/scheme3.flow`): registered callers, office hours, a menu, a queue
//! or voicemail.
//!
//! `cargo bench -p dialect-engine --bench engine` measures:
//! (a) whole calls driven one after another, in calls/s and engine events/s;
//! (b) engine events/s in a steady state of 10,000 concurrent calls, events
//!     sent round-robin, each finished call replaced by a new one;
//! (c) memory per call with 100,000 calls waiting in the queue: the engine's
//!     own `call_footprint`, and the growth of the resident set.
//!
//! An event is any input to the engine: `handle_call` or `handle_event`.
//! The driver plays the adapter: it drains every command and answers the
//! last one that waits (prompts finish, key 1 or 3 after the menu, an agent
//! answers and hangs up, the voicemail is recorded). Without `--bench` (as
//! `cargo test --benches` runs it) every figure is taken on a few calls only.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_engine::{CallId, Command, Engine, Event, Flow};
use jiff::{SignedDuration, Timestamp};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const SCHEME3: &str = "+48221000003";
const EVENTS_TARGET: f64 = 1_000_000.0;
const BYTES_TARGET: f64 = 2_048.0;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = |n: usize| if full { n } else { n / 1_000 };
    let flows = compile();
    check_paths(&flows);
    // Memory first, while the heap holds nothing freed by other figures.
    let memory = memory(&flows, scale(100_000));
    let sequential = sequential(&flows, scale(200_000));
    let steady = steady(&flows, scale(10_000), scale(5_000_000));
    report(&sequential, &steady, &memory);
    if !full {
        println!("(a smoke run on 1/1000 of the calls: the figures mean nothing; use cargo bench)");
    }
}

/// Every campaign of `flows/`, compiled and loaded as the runtime would.
fn compile() -> Vec<Arc<Flow>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let world =
        dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &root.join("flows"));
    let compilation = dialect_compiler::compile(&world, &[root.join("flows")]);
    assert!(!compilation.has_errors(), "flows/ does not compile");
    compilation
        .programs
        .iter()
        .map(|program| {
            let loaded = dialect_bytecode::load(&dialect_bytecode::encode(program)).unwrap();
            Arc::new(Flow::new(loaded).unwrap())
        })
        .collect()
}

fn engine(flows: &[Arc<Flow>]) -> Engine {
    let mut engine = Engine::new();
    for flow in flows {
        engine.install(flow.clone());
    }
    engine
}

/// Callers that scheme 3's `route_caller` lets in: its two mobiles and
/// numbers of the business park's PBX (`+4822700*`).
fn callers() -> Vec<String> {
    let mut callers = vec!["+48601234567".to_string(), "+48602345678".to_string()];
    callers.extend((0..254).map(|n| format!("+4822700{n:04}")));
    callers
}

/// Monday 23 November 2026, 09:00 in Warsaw, plus up to two hours: the
/// office is open.
fn office_hours(n: usize) -> Timestamp {
    static START: OnceLock<Timestamp> = OnceLock::new();
    let start = START.get_or_init(|| "2026-11-23T09:00:00+01:00".parse().unwrap());
    let seconds = i64::try_from(n % 7_200).unwrap();
    start
        .checked_add(SignedDuration::from_secs(seconds))
        .unwrap()
}

/// What the driver sends a call next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    PromptFinished,
    Key(char),
    AgentConnected,
    BridgeEnded,
    RecordingFinished,
    /// The call has ended.
    Nothing,
}

/// The adapter's side of one call of scheme 3.
#[derive(Clone, Copy, Debug)]
struct Driver {
    call: CallId,
    key: char,
    bridged: bool,
    next: Next,
}

impl Driver {
    fn new(call: CallId, key: char) -> Driver {
        Driver {
            call,
            key,
            bridged: false,
            next: Next::Nothing,
        }
    }

    /// Drains the commands of the input just given and decides the answer
    /// to the last one that waits. All commands belong to this call: the
    /// engine only ever moves the call it was given an input for.
    fn observe(&mut self, engine: &mut Engine, mut log: impl FnMut(&Command)) {
        let (mut play, mut timer, mut enqueue, mut record, mut ended) =
            (false, false, false, false, false);
        while let Some(emitted) = engine.poll_command() {
            let emitted = black_box(emitted);
            log(&emitted.command);
            match emitted.command {
                Command::Play { .. } => play = true,
                Command::StartTimer { .. } => timer = true,
                Command::Enqueue { .. } => enqueue = true,
                Command::Record { .. } => record = true,
                Command::Ended(_) => ended = true,
                _ => {}
            }
        }
        self.next = if ended {
            Next::Nothing
        } else if self.bridged {
            Next::BridgeEnded
        } else if enqueue {
            Next::AgentConnected
        } else if record {
            Next::RecordingFinished
        } else if play {
            Next::PromptFinished
        } else if timer {
            Next::Key(self.key)
        } else {
            panic!("{} waits for nothing the driver knows", self.call)
        };
    }

    /// Sends the next event; returns false once the call has ended.
    fn step(&mut self, engine: &mut Engine, now: Timestamp) -> bool {
        self.step_logged(engine, now, |_| {})
    }

    fn step_logged(
        &mut self,
        engine: &mut Engine,
        now: Timestamp,
        log: impl FnMut(&Command),
    ) -> bool {
        let event = match self.next {
            Next::Nothing => return false,
            Next::PromptFinished => Event::PromptFinished,
            Next::Key(key) => Event::Digit(key),
            Next::AgentConnected => {
                self.bridged = true;
                Event::AgentConnected {
                    agent: "carol".into(),
                }
            }
            Next::BridgeEnded => {
                self.bridged = false;
                Event::BridgeEnded
            }
            Next::RecordingFinished => Event::RecordingFinished,
        };
        engine.handle_event(self.call, event, now).unwrap();
        self.observe(engine, log);
        true
    }
}

/// A new call to scheme 3; `n` picks its caller, menu key and start time.
fn call(engine: &mut Engine, callers: &[String], n: usize) -> (Driver, Timestamp) {
    let now = office_hours(n);
    let caller = &callers[n % callers.len()];
    let key = match n % 2 {
        0 => '1',
        _ => '3',
    };
    let call = engine.handle_call(caller, SCHEME3, now).unwrap();
    let mut driver = Driver::new(call, key);
    driver.observe(engine, |_| {});
    (driver, now)
}

struct Throughput {
    /// Calls in progress at once.
    concurrent: usize,
    /// Calls completed.
    calls: usize,
    events: usize,
    elapsed: Duration,
}

impl Throughput {
    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// (a) `calls` calls, each from its first event to `Ended`; the median of
/// five runs.
fn sequential(flows: &[Arc<Flow>], calls: usize) -> Throughput {
    let callers = callers();
    let mut engine = engine(flows);
    let run = |engine: &mut Engine, calls: usize| {
        let start = Instant::now();
        let mut events = 0;
        for n in 0..calls {
            let (mut driver, now) = call(engine, &callers, n);
            events += 1;
            while driver.step(engine, now) {
                events += 1;
            }
        }
        Throughput {
            concurrent: 1,
            calls,
            events,
            elapsed: start.elapsed(),
        }
    };
    run(&mut engine, calls / 10);
    let mut runs: Vec<Throughput> = (0..5).map(|_| run(&mut engine, calls)).collect();
    assert_eq!(engine.active_calls(), 0);
    runs.sort_by_key(|r| r.elapsed);
    runs.swap_remove(2)
}

/// Both paths of scheme 3, once, command by command: the driver must take
/// each call through the menu to an agent or to voicemail, not to an early
/// hang-up (closed, unknown caller), or the figures measure the wrong thing.
fn check_paths(flows: &[Arc<Flow>]) {
    let callers = callers();
    for (n, expected) in [(0, "Enqueue"), (1, "Record")] {
        let mut engine = engine(flows);
        let now = office_hours(n);
        let call = engine.handle_call(&callers[n], SCHEME3, now).unwrap();
        let mut log = Vec::new();
        let mut driver = Driver::new(call, if n == 0 { '1' } else { '3' });
        driver.observe(&mut engine, |c| log.push(format!("{c:?}")));
        while driver.step_logged(&mut engine, now, |c| log.push(format!("{c:?}"))) {}
        let text = log.join("\n");
        assert!(
            text.contains(expected) && text.contains("Ended(HungUp"),
            "scheme 3 did not reach {expected}:\n{text}"
        );
    }
}

/// (b) `concurrent` calls at once, `events` events sent round-robin; a call
/// that ends is replaced by a new one (its `handle_call` counts).
fn steady(flows: &[Arc<Flow>], concurrent: usize, events: usize) -> Throughput {
    let callers = callers();
    let mut engine = engine(flows);
    let mut lines: Vec<(Driver, Timestamp)> = (0..concurrent)
        .map(|n| call(&mut engine, &callers, n))
        .collect();
    let mut started = concurrent;
    let mut run = |engine: &mut Engine, events: usize| {
        let mut sent = 0;
        let mut ended = 0;
        while sent < events {
            for line in lines.iter_mut() {
                let (driver, now) = line;
                if !driver.step(engine, *now) {
                    *line = call(engine, &callers, started);
                    started += 1;
                    ended += 1;
                }
                sent += 1;
            }
        }
        (sent, ended)
    };
    run(&mut engine, events / 10);
    let start = Instant::now();
    let (sent, ended) = run(&mut engine, events);
    let elapsed = start.elapsed();
    assert_eq!(engine.active_calls(), concurrent);
    Throughput {
        concurrent,
        calls: ended,
        events: sent,
        elapsed,
    }
}

struct Memory {
    calls: usize,
    footprint: f64,
    resident: f64,
}

/// (c) `calls` calls driven into scheme 3's sales queue and left there.
fn memory(flows: &[Arc<Flow>], calls: usize) -> Memory {
    let callers = callers();
    let mut engine = engine(flows);
    // One call through the queue first, so that the code is paged in.
    let (mut driver, now) = call(&mut engine, &callers, 0);
    while driver.step(&mut engine, now) {}
    let before = resident_bytes();
    let mut ids = Vec::with_capacity(calls);
    let ids_bytes = ids.capacity() * std::mem::size_of::<CallId>();
    for n in 0..calls {
        // Even calls press 1: the sales queue.
        let (mut driver, now) = call(&mut engine, &callers, 2 * n);
        while driver.next != Next::AgentConnected {
            assert!(driver.step(&mut engine, now));
        }
        ids.push(driver.call);
    }
    let after = resident_bytes();
    assert_eq!(engine.active_calls(), calls);
    let footprint: usize = ids
        .iter()
        .map(|&id| engine.call_footprint(id).unwrap())
        .sum();
    let calls_f = calls.max(1) as f64;
    Memory {
        calls,
        footprint: footprint as f64 / calls_f,
        // The benchmark's own list of ids is not the engine's.
        resident: after.saturating_sub(before).saturating_sub(ids_bytes) as f64 / calls_f,
    }
}

/// The resident set, from `/proc/self/statm` (in pages).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

/// The page size, from the auxiliary vector (`AT_PAGESZ`); 4 KiB if unknown.
fn page_size() -> usize {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
    let words: Vec<u64> = auxv
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    words
        .chunks_exact(2)
        .find(|pair| pair[0] == AT_PAGESZ)
        .and_then(|pair| usize::try_from(pair[1]).ok())
        .unwrap_or(4_096)
}

fn report(sequential: &Throughput, steady: &Throughput, memory: &Memory) {
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let rule = "-".repeat(104);
    println!("dialect-engine, one thread, scheme 3 ({SCHEME3})");
    println!("{rule}");
    println!(
        "{:<60} {:>16}  {:>12}  verdict",
        "measurement", "value", "target"
    );
    println!("{rule}");
    println!(
        "{:<60} {:>16}",
        format!(
            "(a) sequential: {} calls, {} events, {:.2} s",
            sequential.calls,
            sequential.events,
            sequential.elapsed.as_secs_f64()
        ),
        format!("{:.0} calls/s", sequential.calls_per_second())
    );
    println!(
        "{:<60} {:>16}  {:>12}  {}",
        "    engine events/s",
        format!("{:.0}", sequential.events_per_second()),
        ">= 1000000",
        verdict(sequential.events_per_second() >= EVENTS_TARGET)
    );
    println!(
        "{:<60} {:>16}  {:>12}  {}",
        format!(
            "(b) steady state: {} concurrent calls, {} events",
            steady.concurrent, steady.events
        ),
        format!("{:.0}", steady.events_per_second()),
        ">= 1000000",
        verdict(steady.events_per_second() >= EVENTS_TARGET)
    );
    println!(
        "{:<60} {:>16}",
        "    calls completed/s",
        format!("{:.0}", steady.calls_per_second())
    );
    println!(
        "{:<60} {:>16}  {:>12}  {}",
        format!("(c) {} calls queued: mean call_footprint", memory.calls),
        format!("{:.0} B", memory.footprint),
        "<= 2048 B",
        verdict(memory.footprint <= BYTES_TARGET)
    );
    println!(
        "{:<60} {:>16}  {:>12}  {}",
        "    resident-set growth / calls (statm)",
        format!("{:.0} B", memory.resident),
        "<= 2048 B",
        verdict(memory.resident <= BYTES_TARGET)
    );
    println!("{rule}");
}
