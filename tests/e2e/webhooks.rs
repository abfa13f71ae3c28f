//! Webhooks end to end (issue 7): SIPp callers reach an agent on `dialect
//! serve`; the campaign's events go to a local HTTP receiver that is down
//! for the first `OUTAGE`, then up. Every event arrives, in order per call,
//! duplicates only under the same Idempotency-Key; then the server is
//! killed (-9) with events pending (the receiver down again) and started
//! again: none is lost.

use crate::sip::{Served, finish, free_udp_port, root, uas};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the receiver is down at first: the acceptance figure.
const OUTAGE: Duration = Duration::from_secs(30);

const CLOCK: &str = "2026-11-23T10:00:00[Europe/Warsaw]";
const SERVICE: &str = "48221007777";
const FLOWS: &str = "tests/webhook-flows/";

/// The events each call sends, in order: answered by the flow, routed to
/// Wendy, answered by her, ended.
const EXPECTED: [&str; 4] = [
    "call_answered",
    "call_routed",
    "call_answered",
    "call_ended",
];

/// One POST the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) key: String,
    pub(crate) event: String,
    attempt: u32,
    pub(crate) body: Value,
    /// Whether it answered 200 (else 503).
    pub(crate) accepted: bool,
}

/// An HTTP receiver that answers 503 while down and 200 while up, and keeps
/// every request.
pub(crate) struct Receiver {
    pub(crate) port: u16,
    up: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (up2, hits2) = (up.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (up, hits) = (up2.clone(), hits2.clone());
                std::thread::spawn(move || serve_connection(stream, &up, &hits));
            }
        });
        Receiver { port, up, hits }
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    /// Distinct keys accepted so far.
    fn accepted(&self) -> BTreeSet<String> {
        self.hits()
            .into_iter()
            .filter(|h| h.accepted)
            .map(|h| h.key)
            .collect()
    }

    fn wait_accepted(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.accepted().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} events were delivered: {:#?}",
                self.accepted().len(),
                self.hits()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// HTTP/1.1 with keep-alive: requests one after another on a connection.
fn serve_connection(stream: TcpStream, up: &AtomicBool, hits: &Mutex<Vec<Hit>>) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let accepted = up.load(Ordering::SeqCst);
        assert!(line.starts_with("POST /hooks "), "{line}");
        assert_eq!(
            headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        hits.lock().expect("hits").push(Hit {
            key: headers.get("idempotency-key").cloned().unwrap_or_default(),
            event: headers.get("x-dialect-event").cloned().unwrap_or_default(),
            attempt: headers
                .get("x-dialect-attempt")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
            body: serde_json::from_slice(&body).expect("the body is JSON"),
            accepted,
        });
        let answer = if accepted {
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        } else {
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
        };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn config(agent_port: u16, receiver: u16) -> String {
    format!(
        "[[agent]]\nname = \"wendy\"\nuri = \"sip:wendy@127.0.0.1:{agent_port}\"\npassword = \"pw-wendy\"\n\
         [webhooks]\nurl = \"http://127.0.0.1:{receiver}/hooks\"\nmax_attempts = 1000\n\
         backoff_ms = 250\nmax_backoff_ms = 2000\n"
    )
}

/// Wendy's phone for `calls` calls: answers, talks a second, hangs up.
fn wendy(port: u16, media: u16, calls: usize) -> Child {
    uas(
        "agent_hangs_up.xml",
        port,
        &[
            "-mp",
            &media.to_string(),
            "-m",
            &calls.to_string(),
            "-timeout",
            "120s",
            "-nostdin",
            "-trace_err",
        ],
    )
}

/// One caller: dials, is answered, talks to Wendy, hears the thanks, and
/// the flow hangs up.
fn call(served: &Served, media: u16) {
    let out = served.sipp(
        "caller_bye_from_server.xml",
        SERVICE,
        free_udp_port(),
        media,
    );
    assert!(
        out.status.success(),
        "the caller failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Accepted hits, first of each key, in arrival order.
fn delivered(hits: &[Hit]) -> Vec<Hit> {
    let mut seen = BTreeSet::new();
    hits.iter()
        .filter(|h| h.accepted && seen.insert(h.key.clone()))
        .cloned()
        .collect()
}

/// Every hit is well formed; per call, attempts never go back to an
/// earlier event, and deliveries are numbered 1, 2, 3, ... in arrival
/// order; a key delivered twice carries the same body.
fn check_order(hits: &[Hit]) {
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let mut bodies: BTreeMap<String, Value> = BTreeMap::new();
    for hit in hits {
        let call = hit.body["call"].as_str().expect("a call").to_string();
        let seq = hit.body["seq"].as_u64().expect("a seq");
        let event = hit.body["event"].as_str().expect("an event");
        assert_eq!(hit.event, event, "{hit:?}");
        assert_eq!(hit.key, format!("{call}-{seq}-{event}"), "{hit:?}");
        assert_eq!(hit.body["campaign"], "hooks");
        assert!(hit.attempt >= 1, "{hit:?}");
        assert!(hit.body["at"].is_string() && hit.body["data"].is_object());
        let last = last_seq.entry(call.clone()).or_insert(0);
        assert!(
            seq >= *last,
            "event {seq} of {call} was sent after event {last}"
        );
        *last = seq;
        if hit.accepted
            && let Some(before) = bodies.insert(hit.key.clone(), hit.body.clone())
        {
            assert_eq!(before, hit.body, "a duplicate with another body");
        }
    }
    let mut per_call: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for hit in delivered(hits) {
        per_call
            .entry(hit.body["call"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(hit.body["seq"].as_u64().unwrap_or_default());
    }
    for (call, seqs) in per_call {
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "deliveries of {call} out of order");
    }
}

/// Each call's events, delivered, by call.
fn by_call(hits: &[Hit]) -> BTreeMap<String, Vec<Value>> {
    let mut calls: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for hit in delivered(hits) {
        calls
            .entry(hit.body["call"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(hit.body);
    }
    calls
}

fn check_calls(hits: &[Hit], n: usize) {
    let calls = by_call(hits);
    assert_eq!(calls.len(), n, "{calls:#?}");
    for (call, events) in &calls {
        let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(names, EXPECTED, "{call}: {events:#?}");
        assert_eq!(events[0]["data"], serde_json::json!({ "by": "customer" }));
        assert_eq!(events[1]["data"], serde_json::json!({ "agent": "wendy" }));
        assert_eq!(
            events[2]["data"],
            serde_json::json!({ "by": "agent", "agent": "wendy" })
        );
        assert_eq!(events[3]["data"]["reason"], "hangup");
        assert!(events[3]["data"]["duration_ms"].as_u64().unwrap_or(0) > 1_000);
    }
}

#[test]
fn webhooks_survive_an_outage_and_a_kill_9_in_order_and_without_loss() {
    let started = Instant::now();
    let receiver = Receiver::start();
    let agent_port = free_udp_port();
    let config = config(agent_port, receiver.port);
    let dir = crate::build::scratch("webhooks");
    assert!(root().join(FLOWS).is_dir());

    // The receiver is down: three calls, each with four events.
    let served = Served::start_in(dir.clone(), CLOCK, 38_000, &config, FLOWS);
    let phone = wendy(agent_port, 38_400, 3);
    for i in 0..3 {
        call(&served, 38_600 + i * 20);
    }
    finish(phone, "a caller");
    crate::sip::assert_clean(&served);
    let during = receiver.hits();
    assert!(!during.is_empty(), "nothing was tried during the outage");
    assert!(during.iter().all(|h| !h.accepted));
    // Each call's first event blocks the rest of that call.
    assert!(
        during.iter().all(|h| h.body["seq"] == 1),
        "a later event was tried before the first was delivered: {during:#?}"
    );
    assert!(
        during.iter().any(|h| h.attempt > 1),
        "no retry: {during:#?}"
    );

    // The receiver comes up after the outage: everything arrives.
    let remaining = OUTAGE.saturating_sub(started.elapsed());
    std::thread::sleep(remaining);
    receiver.set_up(true);
    let up_at = Instant::now();
    receiver.wait_accepted(12, Duration::from_secs(20));
    eprintln!(
        "12 events delivered {:?} after the receiver came up",
        up_at.elapsed()
    );
    check_order(&receiver.hits());
    check_calls(&receiver.hits(), 3);

    // Down again; two more calls; kill -9 while their events are pending.
    receiver.set_up(false);
    let phone = wendy(agent_port, 38_500, 2);
    for i in 0..2 {
        call(&served, 38_800 + i * 20);
    }
    finish(phone, "a caller");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.accepted().len(), 12);
    let mut served = served;
    served.child.kill().expect("kill -9");
    let _ = served.child.wait();
    std::mem::forget(served);

    // Started again on the same database, receiver up: none is lost.
    let again = Served::start_in(dir, CLOCK, 40_000, &config, FLOWS);
    receiver.set_up(true);
    receiver.wait_accepted(20, Duration::from_secs(20));
    check_order(&receiver.hits());
    check_calls(&receiver.hits(), 5);

    // A call of the new run: call numbers start again at 1, the run tells
    // its events apart from the first call-1's.
    let phone = wendy(agent_port, 40_400, 1);
    call(&again, 40_600);
    finish(phone, "a caller");
    receiver.wait_accepted(24, Duration::from_secs(20));
    let hits = receiver.hits();
    check_order(&hits);
    check_calls(&hits, 6);
    let runs: BTreeSet<&str> = hits
        .iter()
        .filter_map(|h| h.body["call"].as_str()?.split('@').nth(1))
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let firsts: Vec<&str> = hits
        .iter()
        .filter_map(|h| h.body["call"].as_str())
        .filter(|c| c.starts_with("call-1@"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(firsts.len(), 2, "each run has its call-1: {firsts:?}");
    let log = again.events();
    assert!(
        !log.iter().any(|e| e["event"] == "webhook_dead"),
        "no event is dead"
    );
    assert!(
        !hits.iter().any(|h| h.event == "missed_call"),
        "every call was answered by Wendy"
    );
    eprintln!(
        "{} requests for 24 events, {} duplicates; the test took {:?}",
        hits.len(),
        hits.iter().filter(|h| h.accepted).count() - 24,
        started.elapsed()
    );
}

/// A caller from the SIPp scenario `scenario` (`-d` milliseconds of talk),
/// started in the background.
fn caller(served: &Served, scenario: &str, service: &str, media: u16, talk_ms: u64) -> Child {
    served
        .caller(scenario, service, media)
        .args(["-m", "1", "-d", &talk_ms.to_string()])
        .args(["-timeout", "60s", "-nostdin", "-trace_err"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the caller's SIPp starts")
}

fn wait_log(served: &Served, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = served.events();
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_missed_call_an_edit_and_a_wrap_up_are_sent_in_order() {
    use crate::acd::http;
    const SERVICE_DESK: &str = "48221007778";
    let receiver = Receiver::start();
    receiver.set_up(true);
    let vic = free_udp_port();
    let config = format!(
        "[[agent]]\nname = \"vic\"\nuri = \"sip:vic@127.0.0.1:{vic}\"\npassword = \"pw-vic\"\n\
         ready = false\n[webhooks]\nurl = \"http://127.0.0.1:{}/hooks\"\n",
        receiver.port
    );
    let served = Served::start_flows("webhooks-agent", CLOCK, 50_000, &config, FLOWS);

    // Nobody is ready: the caller waits, then hangs up. A missed call.
    let missed = caller(&served, "caller_hangs_up.xml", SERVICE_DESK, 50_400, 0);
    finish(missed, "a caller");
    receiver.wait_accepted(2, Duration::from_secs(10));

    // Vic takes the next call, notes something while talking, and wraps
    // it up after the caller hangs up.
    for step in ["login", "ready"] {
        let (status, body) = http(
            &served.api,
            "POST",
            &format!("/api/agents/vic/{step}"),
            "vic",
            None,
        );
        assert_eq!(status, 200, "{step}: {body}");
    }
    let phone = uas(
        "agent_answers.xml",
        vic,
        &["-mp", "50500", "-m", "1", "-timeout", "60s", "-nostdin"],
    );
    let talker = caller(&served, "caller_talks.xml", SERVICE_DESK, 50_600, 4_000);
    let events = wait_log(&served, "Vic connected", |e| {
        e.iter().any(|e| e["event"] == "connected")
    });
    let call = events
        .iter()
        .find(|e| e["event"] == "connected")
        .and_then(|e| e["call"].as_str())
        .and_then(|c| c.trim_start_matches("call-").parse::<u64>().ok())
        .expect("a call");
    let (status, body) = http(
        &served.api,
        "PUT",
        &format!("/api/calls/{call}/data/agent_note"),
        "vic",
        Some(r#"{"value": "wants an invoice", "version": 1}"#),
    );
    assert_eq!(status, 200, "{body}");
    finish(talker, "a caller");
    finish(phone, "a caller");
    wait_log(&served, "the wrap-up", |e| {
        e.iter().any(|e| e["event"] == "wrap_up_started")
    });
    let (status, body) = http(
        &served.api,
        "POST",
        "/api/agents/vic/wrap-up",
        "vic",
        Some(r#"{"classifier": "resolved", "fields": {"customer_number": "7"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    receiver.wait_accepted(5, Duration::from_secs(10));

    let hits = receiver.hits();
    assert!(hits.iter().all(|h| h.accepted), "{hits:#?}");
    let calls = by_call(&hits);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let mut calls = calls.into_values();
    let first = calls.next().expect("the missed call");
    let second = calls.next().expect("Vic's call");
    let names = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["event"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names(&first), ["missed_call", "call_ended"], "{first:#?}");
    assert_eq!(first[0]["data"]["queue"], "front");
    assert_eq!(first[0]["data"]["reason"], "caller hung up");
    assert_eq!(first[1]["data"]["reason"], "caller hung up");
    assert_eq!(
        names(&second),
        ["record_edited", "call_ended", "wrap_up"],
        "{second:#?}"
    );
    assert_eq!(
        second[0]["data"],
        serde_json::json!({ "agent": "vic", "variable": "agent_note", "version": 2 })
    );
    assert_eq!(
        second[2]["data"],
        serde_json::json!({
            "agent": "vic",
            "classifier": "resolved",
            "fields": { "customer_number": "7" },
        })
    );
    for events in [&first, &second] {
        let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
        let expected: Vec<u64> = (1..=events.len() as u64).collect();
        assert_eq!(seqs, expected);
        assert!(events.iter().all(|e| e["campaign"] == "service"));
    }
}

/// Issue 17: records imported with `dialect records import` are announced
/// to the campaign's `record_added` subscribers through the outbox; the
/// server delivers them.
#[test]
fn imported_records_are_announced_as_record_added() {
    let receiver = Receiver::start();
    receiver.set_up(true);
    let dir = crate::build::scratch("webhooks-records");
    let data = dir.join("data");
    let hooks = format!(
        "[webhooks]\nurl = \"http://127.0.0.1:{}/hooks\"\n",
        receiver.port
    );
    let config = dir.join("import.toml");
    std::fs::write(&config, &hooks).expect("config");
    let csv = dir.join("customers.csv");
    std::fs::write(
        &csv,
        "phone,customer_number\n600700300,C-30\n600700301,C-31\n",
    )
    .expect("csv");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(crate::sip::root())
        .args(["records", "import", "helpline"])
        .arg(&csv)
        .args(["flows/", "--data"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("dialect runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("queued 2 record_added event(s)"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = format!(
        "{hooks}[[agent]]\nname = \"ivy\"\npassword = \"pw-ivy\"\n\
         [[agent]]\nname = \"carol\"\npassword = \"pw-carol\"\n"
    );
    let served = Served::start_in(
        data,
        "2026-11-23T10:00:00[Europe/Warsaw]",
        38_200,
        &config,
        "flows/",
    );
    receiver.wait_accepted(2, Duration::from_secs(30));
    let hits = delivered(&receiver.hits());
    // Each record is its own stream: they may arrive in either order.
    let mut added: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| {
            (
                h.body["event"].as_str().unwrap_or_default(),
                h.body["data"]["fields"]["customer_number"]
                    .as_str()
                    .unwrap_or_default(),
            )
        })
        .collect();
    added.sort_unstable();
    assert_eq!(
        added,
        [("record_added", "C-30"), ("record_added", "C-31")],
        "{hits:#?}"
    );
    let first = hits
        .iter()
        .find(|h| h.body["data"]["fields"]["customer_number"] == "C-30")
        .expect("C-30's event");
    assert_eq!(first.body["data"]["numbers"][0], "+48600700300");
    assert_eq!(first.body["campaign"], "helpline");

    // An agent edits a record outside any call: "record edited without
    // interaction". Every value is checked, the version guards the edit.
    let http = |method: &str, path: &str, body: Option<&str>| {
        crate::acd::http(&served.api, method, path, "ivy", body)
    };
    // Browsing customer data needs a supervisor (ivy is the helpline's):
    // carol, an agent on no call with these records, is refused.
    let carol = |method: &str, path: &str, body: Option<&str>| {
        crate::acd::http(&served.api, method, path, "carol", body)
    };
    let (status, _) = carol("GET", "/api/campaigns/helpline/records", None);
    assert_eq!(status, 403);
    let (status, page) = http("GET", "/api/campaigns/helpline/records?limit=1", None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["records"].as_array().map(Vec::len), Some(1), "{page}");
    let record = &page["records"][0];
    assert_eq!(record["fields"]["customer_number"], "C-30", "{page}");
    assert_eq!(record["version"], 1, "{page}");
    let id = record["id"].as_i64().expect("id");
    let (status, rest) = http(
        "GET",
        &format!(
            "/api/campaigns/helpline/records?after={}",
            page["next_after"]
        ),
        None,
    );
    assert_eq!(status, 200, "{rest}");
    assert_eq!(
        rest["records"][0]["fields"]["customer_number"], "C-31",
        "{rest}"
    );
    let path = format!("/api/records/{id}");
    assert_eq!(carol("GET", &path, None).0, 403);
    assert_eq!(
        carol(
            "PUT",
            &path,
            Some(r#"{"version": 1, "fields": {"email": "x@example.pl"}}"#)
        )
        .0,
        403
    );
    let (status, refused) = http(
        "PUT",
        &path,
        Some(
            r#"{"version": 1, "fields": {"pesel": "44051401358", "customer_number": "X", "shoe_size": "44"}}"#,
        ),
    );
    assert_eq!(status, 422, "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    for phrase in [
        "wrong check digit",
        "`customer_number` is not editable",
        "no record field `shoe_size`",
    ] {
        assert!(error.contains(phrase), "{phrase}: {refused}");
    }
    let (status, edited) = http(
        "PUT",
        &path,
        Some(r#"{"version": 1, "fields": {"pesel": "44051401359", "email": "jan@example.pl"}}"#),
    );
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["record"]["version"], 2, "{edited}");
    assert_eq!(
        edited["record"]["fields"]["pesel"], "44051401359",
        "{edited}"
    );
    let (status, stale) = http(
        "PUT",
        &path,
        Some(r#"{"version": 1, "fields": {"pesel": "02070803628"}}"#),
    );
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["details"]["version"], 2, "{stale}");
    receiver.wait_accepted(3, Duration::from_secs(30));
    let hits = delivered(&receiver.hits());
    let edit = hits
        .iter()
        .find(|h| h.body["event"] == "record_edited")
        .expect("the record_edited event");
    assert_eq!(edit.body["data"]["record"], id, "{edit:#?}");
    assert_eq!(
        edit.body["data"]["fields"]["email"], "jan@example.pl",
        "{edit:#?}"
    );
    assert_eq!(edit.body["data"]["agent"], "ivy", "{edit:#?}");
    assert_eq!(
        hits.iter()
            .filter(|h| h.body["event"] == "record_edited")
            .count(),
        1,
        "the refused and stale edits send nothing: {hits:#?}"
    );
}
