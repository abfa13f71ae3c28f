//! How long after an edit the diagnostics of a 10,000-line flow file arrive,
//! measured the way an editor sees it: the real `dialect lsp` process over
//! stdio, a `didChange` written to its stdin, the clock stopped when its
//! `publishDiagnostics` for the file has been read from its stdout.
//!
//! `cargo bench --bench lsp` (release build). Edits are 50 ms apart, as
//! fast typing sends them (`DIALECT_BENCH_PACE_MS=0`: back to back). Four series of edits: typing
//! into a `goto` (`_x` after the label: one diagnostic; deleting it: none)
//! as an editor sends it, a range; the same with the whole text sent each
//! time; a comment line typed at the end; every `goto` broken at once and
//! fixed. Each prints min, median, 95th percentile and max over the runs, and
//! the server's CPU time per edit (from /proc, all its work included).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../compiler/benches/gen.rs"]
#[allow(dead_code)]
mod generator;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// A language server process and its pipes.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start() -> Server {
        // `DIALECT_BIN` measures another build (to compare two versions).
        let bin =
            std::env::var("DIALECT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_dialect").into());
        let mut child = Command::new(bin)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dialect lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// Reads until the diagnostics of `uri` arrive; their count.
    fn diagnostics(&mut self, uri: &str) -> usize {
        loop {
            let m = self.receive();
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri {
                return m["params"]["diagnostics"].as_array().map_or(0, Vec::len);
            }
        }
    }
}

/// The CPU time the server has used so far (user + system), from
/// `/proc/PID/stat` (Linux; zero elsewhere): a figure that other load on
/// the machine does not inflate, unlike the latencies.
fn cpu(server: &Server) -> Duration {
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).unwrap_or_default();
    // The fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; counted from the
    // state (field 3), they are at 11 and 12.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// The server's minor page faults so far (field 10 of `/proc/PID/stat`).
fn faults(server: &Server) -> u64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<44} min {:>6.2} ms  median {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms  ({} runs)",
        times[0].as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}

fn main() {
    // One file of about 10,000 lines from the benchmark generator.
    let (mut text, mut blocks) = generator::flow_file(0, 3000, 7);
    let mut target = 3000;
    while text.lines().count() < 10_000 {
        target += 300;
        (text, blocks) = generator::flow_file(0, target, 7);
    }
    let lines = text.lines().count();
    // Kept after the run, for profiling (`dialect check target/lsp-bench/`).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lsp-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.flow");
    std::fs::write(&path, &text).unwrap();
    let uri = format!("file://{}", path.display());
    println!(
        "file: {lines} lines, {blocks} blocks, {} KB",
        text.len() / 1024
    );

    let mut server = Server::start();
    server.send(
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": null, "capabilities": {},
            "rootUri": format!("file://{}", dir.display()),
        }}),
    );
    let init = server.receive();
    assert!(init["result"]["capabilities"].is_object(), "{init}");
    server.send(&json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));

    let started = Instant::now();
    server.send(
        &json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": { "uri": uri, "languageId": "dialect", "version": 1, "text": text },
        }}),
    );
    let found = server.diagnostics(&uri);
    println!(
        "open: {found} diagnostics in {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(found, 0, "the generated file is clean");

    // A `goto` to a label that exists, broken and fixed in turn.
    let goto = text.find("goto ").expect("the generated flow has gotos") + 5;
    let end = goto
        + text[goto..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap();
    let label = text[goto..end].to_string();
    let broken = format!("{}{label}_x{}", &text[..goto], &text[end..]);
    let line = text[..end].matches('\n').count();
    let column = end - text[..end].rfind('\n').map_or(0, |i| i + 1);
    let mut version = 1;
    // `DIALECT_BENCH_PACE_MS` (default 50): the pause before each edit.
    let pace = Duration::from_millis(
        std::env::var("DIALECT_BENCH_PACE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    let mut change = |server: &mut Server, changes: Value| -> (Duration, usize) {
        version += 1;
        // Edits 50 ms apart, as fast typing sends them (the server frees
        // the previous analysis after it has answered; back to back, the
        // next edit would wait for that too — the CPU figure counts it).
        std::thread::sleep(pace);
        let started = Instant::now();
        server.send(
            &json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": changes,
            }}),
        );
        let n = server.diagnostics(&uri);
        (started.elapsed(), n)
    };
    let runs = 40;
    let mut before = (cpu(&server), faults(&server));
    let mut per_edit = |server: &Server, runs: usize| {
        let now = (cpu(server), faults(server));
        let used = now.0.saturating_sub(before.0);
        let faulted = now.1.saturating_sub(before.1);
        before = now;
        println!(
            "{:<44} server CPU {:.1} ms, {} page faults per edit",
            "",
            used.as_secs_f64() * 1e3 / runs as f64,
            faulted / runs as u64
        );
    };
    // What an editor sends: the range typed into (`_x` after the label, then
    // deleted again).
    let mut edits = Vec::new();
    for i in 0..runs {
        let (changes, expected) = if i % 2 == 0 {
            let at = json!({ "line": line, "character": column });
            (
                json!([{ "range": { "start": at, "end": at }, "text": "_x" }]),
                1,
            )
        } else {
            let from = json!({ "line": line, "character": column });
            let to = json!({ "line": line, "character": column + 2 });
            (
                json!([{ "range": { "start": from, "end": to }, "text": "" }]),
                0,
            )
        };
        let (took, n) = change(&mut server, changes);
        assert_eq!(n, expected, "edit {i}");
        edits.push(took);
    }
    summary("typed into a goto (breaks/fixes it)", edits);
    per_edit(&server, runs);

    // The whole text each time (a client without incremental changes).
    let mut full = Vec::new();
    for i in 0..runs {
        let (body, expected) = if i % 2 == 0 { (&broken, 1) } else { (&text, 0) };
        let (took, n) = change(&mut server, json!([{ "text": body }]));
        assert_eq!(n, expected, "full edit {i}");
        full.push(took);
    }
    summary("whole text sent (breaks/fixes a goto)", full);
    per_edit(&server, runs);

    // A comment line typed at the end, one line at a time.
    let lines_now = text.matches('\n').count();
    let mut typing = Vec::new();
    for i in 0..runs {
        let at = json!({ "line": lines_now + i, "character": 0 });
        let (took, n) = change(
            &mut server,
            json!([{ "range": { "start": at, "end": at }, "text": format!("// note {i}\n") }]),
        );
        assert_eq!(n, 0);
        typing.push(took);
    }
    summary("a comment line typed", typing);
    per_edit(&server, runs);

    // Every `goto` broken at once (hundreds of diagnostics), then fixed.
    let all_broken = text.replace("goto ", "goto nowhere_");
    let gotos = text.matches("goto ").count();
    let mut many = Vec::new();
    for i in 0..10 {
        let (body, expected) = if i % 2 == 0 {
            (&all_broken, gotos)
        } else {
            (&text, 0)
        };
        let (took, n) = change(&mut server, json!([{ "text": body }]));
        assert_eq!(n, expected, "many {i}");
        many.push(took);
    }
    summary(
        &format!("every goto broken ({gotos} diagnostics) / fixed"),
        many,
    );

    server.send(&json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null }));
    let _ = server.receive();
    server.send(&json!({ "jsonrpc": "2.0", "method": "exit", "params": null }));
    let status = server.child.wait().unwrap();
    assert!(status.success());
}
