//! The ACD end to end (issue 5): SIPp callers queue on `dialect serve`,
//! SIPp agents answer, refuse, hold, transfer and hang up, and the agent API
//! (HTTP) drives agent states, wrap-up, call data and callbacks. The event
//! log proves each rule.

use crate::sip::{
    SWITCH_EVENTS, Served, count, finish, free_udp_port, names, simulate, uas, wait_for,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

const CLOCK: &str = "2026-11-23T10:00:00[Europe/Warsaw]";
const NUMBER: &str = "+48221008888";

/// Basic credentials of `agent` (password `pw-<agent>`), base64.
pub(crate) fn basic(agent: &str) -> String {
    base64(format!("{agent}:pw-{agent}").as_bytes())
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One HTTP/1.1 request to `addr`: `head` is the request line and any
/// headers of the caller's; `Host`, `Content-Type: application/json`,
/// `Content-Length` and `Connection: close` are added. Returns the status,
/// the response's head and its body.
pub(crate) fn exchange(
    addr: &str,
    head: &str,
    body: &str,
    wait: Duration,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("the API accepts connections");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let request = format!(
        "{head}\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_string(), body.to_string())
}

/// One HTTP/1.1 request to the agent API as `agent` (password `pw-<agent>`).
pub(crate) fn http(
    api: &str,
    method: &str,
    path: &str,
    agent: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let auth = base64(format!("{agent}:pw-{agent}").as_bytes());
    let (status, _, body) = exchange(
        api,
        &format!("{method} {path} HTTP/1.1\r\nAuthorization: Basic {auth}"),
        body.unwrap_or(""),
        Duration::from_secs(10),
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Each of the callbacks `ids` fired exactly once and bridged agent and
/// customer, as `events` (an event log) tell.
pub(crate) fn fired_once(events: &[Value], ids: &[i64]) {
    for id in ids {
        let due = events
            .iter()
            .filter(|e| e["event"] == "callback_due" && e["callback"] == *id)
            .count();
        assert_eq!(due, 1, "callback {id} fired {due} times: {events:#?}");
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "callback_connected" && e["callback"] == *id),
            "callback {id} bridged agent and customer: {events:#?}"
        );
    }
}

pub(crate) fn agent_config(name: &str, port: u16, ready: bool) -> String {
    format!(
        "[[agent]]\nname = \"{name}\"\nuri = \"sip:{name}@127.0.0.1:{port}\"\npassword = \"pw-{name}\"\nready = {ready}\n"
    )
}

fn ts(event: &Value) -> jiff::Timestamp {
    event["ts"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("every event has a time")
}

#[test]
fn twenty_callers_three_agents_priority_order_rona_wrap_up_hold_and_transfer() {
    let (ann, ben, cid, dan) = (
        free_udp_port(),
        free_udp_port(),
        free_udp_port(),
        free_udp_port(),
    );
    let config = [
        agent_config("ann", ann, false),
        agent_config("ben", ben, false),
        agent_config("cid", cid, false),
        agent_config("dan", dan, false),
    ]
    .concat();
    let served = Served::start_flows("acd-twenty", CLOCK, 21_000, &config, "tests/acd-flows/");
    let quiet = ["-timeout", "150s", "-nostdin", "-trace_err"];
    // The agents' phones take any number of calls; they are stopped at the
    // end (how many calls each gets depends on timing).
    let mut phones = [
        uas(
            "agent_holds.xml",
            ann,
            &[&["-mp", "22000"][..], &quiet].concat(),
        ),
        uas(
            "agent_transfers.xml",
            ben,
            &[
                &[
                    "-mp",
                    "22200",
                    "-key",
                    "target_queue",
                    "escalation",
                    "-au",
                    "ben",
                    "-ap",
                    "pw-ben",
                ][..],
                &quiet,
            ]
            .concat(),
        ),
        uas(
            "agent_hangs_up.xml",
            cid,
            &[&["-mp", "22400"][..], &quiet].concat(),
        ),
    ];
    let dan_sipp = uas(
        "agent_never_answers.xml",
        dan,
        &[&["-mp", "22600", "-m", "1"][..], &quiet].concat(),
    );

    // Twenty callers, every other one a VIP (+4860099...), all queued
    // while no agent is ready.
    let inject = served.dir.join("callers.csv");
    let mut rows = String::from("SEQUENTIAL\n");
    for i in 0..20 {
        if i % 2 == 1 {
            rows.push_str(&format!("+486009900{i:02};\n"));
        } else {
            rows.push_str(&format!("+486001000{i:02};\n"));
        }
    }
    std::fs::write(&inject, rows).expect("injection file");
    let callers = served
        .caller("caller_waits.xml", NUMBER, 23_000)
        .arg("-inf")
        .arg(&inject)
        .args([
            "-m",
            "20",
            "-r",
            "20",
            "-l",
            "20",
            "-timeout",
            "180s",
            "-nostdin",
            "-trace_err",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the callers' SIPp starts");
    wait_for(&served, "20 queued calls", |e| count(e, "queued") == 20);

    // Agents log in and go ready through the API: dan first (he will not
    // answer), then ann and ben, then cid for the escalations.
    for agent in ["dan", "ann", "ben", "cid"] {
        let (status, body) = http(
            &served.api,
            "POST",
            &format!("/api/agents/{agent}/ready"),
            agent,
            None,
        );
        // Agents start logged out: ready is refused until they log in.
        assert_eq!(status, 409, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("log in"),
            "{body}"
        );
        let (status, body) = http(
            &served.api,
            "POST",
            &format!("/api/agents/{agent}/login"),
            agent,
            None,
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = http(
            &served.api,
            "POST",
            &format!("/api/agents/{agent}/ready"),
            agent,
            None,
        );
        assert_eq!(status, 200, "{body}");
        if agent == "dan" {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    // Someone else's state is not dan's business.
    let (status, _) = http(
        &served.api,
        "POST",
        "/api/agents/ann/not-ready",
        "dan",
        Some(r#"{"reason":"break"}"#),
    );
    assert_eq!(status, 403);

    let out = callers.wait_with_output().expect("the callers' SIPp ends");
    assert!(
        out.status.success(),
        "callers failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    finish(dan_sipp, "dan");
    let events = wait_for(&served, "20 hang-ups", |e| count(e, "hangup") == 20);
    for phone in &mut phones {
        let _ = phone.kill();
        let _ = phone.wait();
    }

    // Every caller was served by an agent.
    let connected: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "connected")
        .collect();
    let served_calls: std::collections::BTreeSet<&str> = connected
        .iter()
        .filter_map(|e| e["call"].as_str())
        .collect();
    assert_eq!(served_calls.len(), 20, "{events:#?}");

    // Priority order: the support queue's first offers go to every VIP
    // before any other caller, each group in arrival order.
    let mut priority: HashMap<&str, i64> = HashMap::new();
    let mut arrival: HashMap<&str, usize> = HashMap::new();
    for (i, e) in events.iter().filter(|e| e["event"] == "queued").enumerate() {
        let call = e["call"].as_str().unwrap_or_default();
        if e["queue"] == "support" {
            priority.insert(call, e["priority"].as_i64().unwrap_or_default());
            arrival.insert(call, i);
        }
    }
    let mut first_offers: Vec<&str> = Vec::new();
    for e in events.iter().filter(|e| e["event"] == "agent_rung") {
        let call = e["call"].as_str().unwrap_or_default();
        if e["agent"] != "cid" && !first_offers.contains(&call) {
            first_offers.push(call);
        }
    }
    assert_eq!(first_offers.len(), 20, "{first_offers:?}");
    let order: Vec<(i64, usize)> = first_offers
        .iter()
        .map(|c| (-priority[c], arrival[c]))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "offers not in priority then arrival order");
    assert_eq!(priority[first_offers[0]], priority[first_offers[9]]);
    assert!(priority[first_offers[9]] > priority[first_offers[10]]);

    // RONA: dan's phone rang out; the call went back to its place and the
    // next agent took it; dan is idle with the reason RONA.
    let rona = events
        .iter()
        .find(|e| e["event"] == "rona")
        .expect("a RONA event");
    assert_eq!(rona["agent"], "dan");
    let rona_call = rona["call"].as_str().unwrap_or_default();
    assert!(
        connected
            .iter()
            .any(|e| e["call"] == rona_call && e["agent"] != "dan"),
        "the RONA call was served by another agent"
    );
    let (status, dan_state) = http(&served.api, "GET", "/api/agents/dan", "dan", None);
    assert_eq!(status, 200);
    assert_eq!(dan_state["state"], "idle", "{dan_state}");
    assert_eq!(dan_state["reason"], "RONA", "{dan_state}");

    // Wrap-up (2 s) respected: no agent is rung within 2 s of the end of
    // their previous conversation.
    let mut last_end: HashMap<String, jiff::Timestamp> = HashMap::new();
    let mut checked = 0;
    for e in &events {
        let agent = e["agent"].as_str().unwrap_or_default().to_string();
        match e["event"].as_str() {
            Some("wrap_up_started") => {
                last_end.insert(agent, ts(e));
            }
            Some("agent_rung") => {
                if let Some(end) = last_end.get(&agent) {
                    let gap = ts(e).duration_since(*end);
                    assert!(
                        gap >= jiff::SignedDuration::from_millis(1_950),
                        "{agent} was rung {gap:?} after a call ended"
                    );
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert!(checked >= 10, "only {checked} offers after a wrap-up");

    // Hold and resume by re-INVITE on ann's calls; blind transfer by REFER
    // on ben's, each ending with cid in the escalation queue.
    let holds = count(&events, "hold");
    assert!(
        holds >= 1 && holds == count(&events, "resume"),
        "{holds} holds"
    );
    let transfers: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "transferred")
        .collect();
    assert!(!transfers.is_empty());
    for t in &transfers {
        assert_eq!(t["agent"], "ben");
        assert_eq!(t["kind"], "queue");
        let call = t["call"].as_str().unwrap_or_default();
        assert!(
            connected
                .iter()
                .any(|e| e["call"] == call && e["agent"] == "cid"),
            "transferred {call} reached cid"
        );
    }
    let by_agent: BTreeMap<String, usize> = connected.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["agent"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
        m
    });
    assert_eq!(by_agent.get("cid"), Some(&transfers.len()), "{by_agent:?}");
    assert!(names(&events).contains(&"ready".to_string()));
}

#[test]
fn the_agent_api_wraps_up_with_required_fields_and_guards_call_data() {
    let ann = free_udp_port();
    let config = agent_config("ann", ann, true);
    let served = Served::start_flows("acd-api", CLOCK, 24_000, &config, "tests/acd-flows/");
    let agent = uas(
        "agent_answers.xml",
        ann,
        &["-mp", "24400", "-m", "1", "-timeout", "60s", "-nostdin"],
    );
    let caller = served
        .caller("caller_talks.xml", NUMBER, 24_600)
        .args(["-m", "1", "-d", "5000", "-timeout", "60s", "-nostdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the caller's SIPp starts");
    let events = wait_for(&served, "the agent connected", |e| {
        count(e, "connected") == 1
    });
    let call: u64 = events
        .iter()
        .find(|e| e["event"] == "connected")
        .and_then(|e| e["call"].as_str())
        .and_then(|c| c.trim_start_matches("call-").parse().ok())
        .expect("a call id");
    let data = format!("/api/calls/{call}/data");

    // Call-associated data: the secure PIN is masked; edits name the
    // version they read; the first of two concurrent edits wins.
    let (status, body) = http(&served.api, "GET", &data, "ann", None);
    assert_eq!(status, 200, "{body}");
    let vars = body["variables"].as_array().expect("variables");
    let pin = vars.iter().find(|v| v["name"] == "pin").expect("pin");
    assert_eq!(pin["value"], "••••", "{pin}");
    let note = vars
        .iter()
        .find(|v| v["name"] == "agent_note")
        .expect("note");
    assert_eq!(note["version"], 1);
    let edit = |value: &str, version: u64| {
        http(
            &served.api,
            "PUT",
            &format!("{data}/agent_note"),
            "ann",
            Some(&format!(r#"{{"value": "{value}", "version": {version}}}"#)),
        )
    };
    let (status, body) = edit("wants an invoice", 1);
    assert_eq!((status, body["version"].as_u64()), (200, Some(2)), "{body}");
    let (status, body) = edit("second editor", 1);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("changed by ann"),
        "{body}"
    );
    let (status, body) = edit(&"x".repeat(257), 2);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("256"),
        "{body}"
    );
    let (status, body) = http(
        &served.api,
        "PUT",
        &format!("{data}/pin"),
        "ann",
        Some(r#"{"value": "9999", "version": 1}"#),
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("read-only"),
        "{body}"
    );

    // No wrap-up while the conversation goes on.
    let wrap = |body: &str| {
        http(
            &served.api,
            "POST",
            "/api/agents/ann/wrap-up",
            "ann",
            Some(body),
        )
    };
    let (status, body) = wrap(r#"{"classifier": "resolved", "fields": {"customer_number": "1"}}"#);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("still going on"),
        "{body}"
    );

    finish(caller, "the caller");
    finish(agent, "ann");
    wait_for(&served, "the wrap-up", |e| count(e, "wrap_up_started") == 1);
    let (status, body) = wrap(r#"{"classifier": "solved", "fields": {"customer_number": "1"}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no classifier `solved`"),
        "{body}"
    );
    assert!(
        body["details"]["classifiers"]
            .as_array()
            .is_some_and(|c| c.len() == 2),
        "{body}"
    );
    let (status, body) = wrap(r#"{"classifier": "resolved", "fields": {"note": "called"}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("customer_number"),
        "{body}"
    );
    let (status, body) =
        wrap(r#"{"classifier": "resolved", "fields": {"customer_number": "7", "pesel": "1"}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("pesel"),
        "{body}"
    );
    let (status, body) = wrap(r#"{"classifier": "keep", "fields": {"customer_number": "7"}}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "available", "{body}");
    let (status, body) = wrap(r#"{"classifier": "keep", "fields": {"customer_number": "7"}}"#);
    assert_eq!(status, 409, "wrapped up twice: {body}");

    let events = served.events();
    let wrap_up = events
        .iter()
        .find(|e| e["event"] == "wrap_up")
        .expect("wrap_up logged");
    assert_eq!(wrap_up["classifier"], "keep");
    assert_eq!(wrap_up["private_to"], "ann");
    assert_eq!(wrap_up["fields"]["customer_number"], "7");
    let edited = events
        .iter()
        .find(|e| e["event"] == "data_edited")
        .expect("edit logged");
    assert_eq!(edited["value"], "wants an invoice");
    // The call's detail record: who talked, which queue, how long it waited.
    let dir = served.dir.clone();
    drop(served);
    let store = dialect_store::SqliteStore::open(dir.join("dialect.sqlite")).expect("the database");
    let calls = dialect_store::RecordStore::calls(&store).expect("call records");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].agent.as_deref(), Some("ann"));
    assert_eq!(calls[0].queue.as_deref(), Some("support"));
    assert_eq!(calls[0].caller, "+48600100200");
    assert!(calls[0].version.starts_with("sha256:"), "{:?}", calls[0]);
}

/// A scheduled callback body, `minutes` after the test clock.
fn scheduled(number: &str, minutes: i64) -> String {
    let start = CLOCK
        .parse::<jiff::Zoned>()
        .expect("clock")
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .expect("start")
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    format!(
        r#"{{"kind": "scheduled", "number": "{number}", "name": "Jan Kowalski", "start": "{start}", "zone": "Europe/Warsaw", "queue": "support", "reason": "invoice"}}"#
    )
}

#[test]
fn callbacks_are_validated_survive_kill_9_and_fire_once_bridging_agent_and_customer() {
    let dir = crate::build::scratch("sip-acd-callbacks");
    let ann = free_udp_port();
    let trunk = free_udp_port();
    let config = format!(
        "{}[trunk]\nuri = \"sip:127.0.0.1:{trunk}\"\n",
        agent_config("ann", ann, true)
    );
    let first = Served::start_in(dir.clone(), CLOCK, 25_000, &config, "tests/acd-flows/");
    let create = |body: &str| http(&first.api, "POST", "/api/callbacks", "ann", Some(body));

    // Every validation rule of SPEC 5.5, refused with its own message.
    let refusals: [(&str, &str, &str); 9] = [
        (r#""number": "12-34""#, "number", "7 to 15 digits"),
        (
            r#""number": "+48 600 abc""#,
            "number",
            "may only contain digits",
        ),
        (r#""name": "Jo""#, "name", "at least 3"),
        (
            r#""start": "2026-11-23T10:20""#,
            "start",
            "at least 30 minutes",
        ),
        (r#""start": "2026-12-25T10:00""#, "start", "at most 31 days"),
        (
            r#""zone": "Europe/Atlantis""#,
            "zone",
            "not a known time zone",
        ),
        (r#""queue": "escalation""#, "queue", "not an agent of queue"),
        (r#""queue": "billing""#, "queue", "unknown queue"),
        (r#""reason": "RRRR""#, "reason", "at most 250"),
    ];
    for (field_json, field, phrase) in refusals {
        let mut body: Value = serde_json::from_str(&scheduled("+48600100300", 45)).expect("json");
        let patch: Value = serde_json::from_str(&format!("{{{field_json}}}")).expect("patch");
        for (k, v) in patch.as_object().expect("object") {
            let v = if v == "RRRR" {
                Value::from("r".repeat(251))
            } else {
                v.clone()
            };
            body[k] = v;
        }
        let (status, reply) = create(&body.to_string());
        assert_eq!(status, 422, "{field}: {reply}");
        let details = reply["details"].as_array().expect("details");
        assert!(
            details.iter().any(|d| d["field"] == field
                && d["message"].as_str().unwrap_or_default().contains(phrase)),
            "{field} refusal should say `{phrase}`: {reply}"
        );
        assert!(
            reply["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("the callback was refused")
        );
    }
    // A personal callback for someone outside the agent's teams.
    let mut body: Value = serde_json::from_str(&scheduled("+48600100300", 45)).expect("json");
    body["kind"] = "personal".into();
    body["assignee"] = "mallory".into();
    let (status, reply) = create(&body.to_string());
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["details"][0]["field"], "assignee", "{reply}");

    // Three valid callbacks, due 31 minutes after the clock's start; the
    // same number twice is a duplicate.
    let mut ids = Vec::new();
    for number in ["+48600100301", "+48600100302", "+48600100303"] {
        let (status, reply) = create(&scheduled(number, 31));
        assert_eq!(status, 201, "{reply}");
        ids.push(reply["callback"]["id"].as_i64().expect("id"));
    }
    let (status, reply) = create(&scheduled("+48 600-100.301", 40));
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already has callback"),
        "{reply}"
    );
    // One more, cancelled: it must never fire.
    let (_, reply) = create(&scheduled("+48600100399", 50));
    let cancelled = reply["callback"]["id"].as_i64().expect("id");
    let (status, reply) = http(
        &first.api,
        "DELETE",
        &format!("/api/callbacks/{cancelled}"),
        "ann",
        None,
    );
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = http(&first.api, "GET", "/api/callbacks", "ann", None);
    assert_eq!(status, 200);
    assert_eq!(
        reply["callbacks"].as_array().map(Vec::len),
        Some(4),
        "{reply}"
    );

    // kill -9, then start again 31 minutes later (less 3 seconds).
    let mut first = first;
    first.child.kill().expect("kill -9");
    let _ = first.child.wait();
    std::mem::forget(first);
    let agent = uas(
        "agent_hangs_up.xml",
        ann,
        &[
            "-mp",
            "25400",
            "-m",
            "3",
            "-timeout",
            "90s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let customer = uas(
        "agent_answers.xml",
        trunk,
        &[
            "-mp",
            "25600",
            "-m",
            "3",
            "-timeout",
            "90s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let later = "2026-11-23T10:30:57[Europe/Warsaw]";
    let second = Served::start_in(dir, later, 26_000, &config, "tests/acd-flows/");
    finish(agent, "ann");
    finish(customer, "the customers");
    let events = wait_for(&second, "three callbacks", |e| {
        count(e, "callback_ended") == 3
    });
    fired_once(&events, &ids);
    assert!(
        !events
            .iter()
            .any(|e| e["callback"] == cancelled && e["event"] == "callback_due")
    );
    // The agent was rung before the customer was dialled, each time.
    let order: Vec<&str> = events
        .iter()
        .filter_map(|e| match e["event"].as_str() {
            Some("callback_agent_answered") => Some("agent"),
            Some("callback_dialling") => Some("customer"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["agent", "customer"].repeat(3));
    let (status, reply) = http(&second.api, "GET", "/api/callbacks", "ann", None);
    assert_eq!(status, 200);
    let done = reply["callbacks"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["status"] == "done")
        .count();
    assert_eq!(done, 3, "{reply}");
}

#[test]
fn a_waiting_caller_hears_the_position_takes_a_courtesy_callback_and_keeps_the_place() {
    let ann = free_udp_port();
    let trunk = free_udp_port();
    let config = format!(
        "{}[trunk]\nuri = \"sip:127.0.0.1:{trunk}\"\n",
        agent_config("ann", ann, false)
    );
    let served = Served::start_flows("acd-courtesy", CLOCK, 27_000, &config, "tests/acd-flows/");
    let caller = served
        .caller("caller_takes_callback.xml", NUMBER, 27_400)
        .args(["-m", "1", "-timeout", "60s", "-nostdin", "-trace_err"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the caller's SIPp starts");
    finish(caller, "the caller");
    let events = wait_for(&served, "the courtesy callback", |e| {
        count(e, "hangup") == 1 && count(e, "callback_due") == 1
    });
    let announced = events
        .iter()
        .find(|e| e["event"] == "announced")
        .expect("a position announcement");
    assert_eq!(announced["position"], 1, "{announced}");
    assert_eq!(announced["courtesy"], true, "{announced}");
    let callback = events
        .iter()
        .find(|e| e["event"] == "callback")
        .expect("the callback registered");
    assert_eq!(callback["number"], "+48600555001");
    let hangup = events
        .iter()
        .find(|e| e["event"] == "hangup")
        .expect("hangup");
    assert_eq!(hangup["reason"], "courtesy callback");
    let due = events
        .iter()
        .find(|e| e["event"] == "callback_due")
        .expect("due");
    assert_eq!(due["kind"], "courtesy");
    assert_eq!(due["queue"], "sales");
    // One call layer: the same caller, key and times through `dialect
    // test` give the switch the same inputs, and the switch logs the same
    // events for the call as it did under `dialect serve`.
    let call = announced["call"].as_str().expect("the call's id");
    let served_trace: Vec<&str> = events
        .iter()
        .filter(|e| e["call"] == call)
        .filter_map(|e| e["event"].as_str())
        .filter(|e| SWITCH_EVENTS.contains(e))
        .collect();
    let simulated = simulate(
        "tests/acd-flows",
        &format!(
            r#"dialled = "{NUMBER}"
caller = "+48600555001"
start = "{CLOCK}"
keys = [{{ at = "12s", key = "1" }}]
[scenario.expect]
callback = true
ended = "caller""#
        ),
    );
    assert!(simulated.passed(), "{:?}", simulated.failures);
    let simulated_trace: Vec<&str> = simulated.events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        served_trace,
        ["queued", "announced", "courtesy_callback", "dequeued"],
        "{events:#?}"
    );
    assert_eq!(served_trace, simulated_trace);

    // ann logs in: the callback (which kept the caller's place) rings her,
    // then the customer, and bridges them.
    let agent = uas(
        "agent_hangs_up.xml",
        ann,
        &[
            "-mp",
            "27600",
            "-m",
            "1",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let customer = uas(
        "agent_answers.xml",
        trunk,
        &[
            "-mp",
            "27800",
            "-m",
            "1",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    for action in ["login", "ready"] {
        let (status, body) = http(
            &served.api,
            "POST",
            &format!("/api/agents/ann/{action}"),
            "ann",
            None,
        );
        assert_eq!(status, 200, "{body}");
    }
    finish(agent, "ann");
    finish(customer, "the customer");
    let events = wait_for(&served, "the callback to end", |e| {
        count(e, "callback_ended") == 1
    });
    assert_eq!(count(&events, "callback_connected"), 1, "{events:#?}");
}

/// The caller reaches ann (a scripted phone), who consults cid: returns
/// the server, ann's phone, the caller's and cid's SIPp, the call's key,
/// and ann's two dialogs (the call's INVITE and the consultation's 200).
fn consulting(
    name: &str,
    media_base: u16,
) -> (
    Served,
    crate::ua::Phone,
    Child,
    Child,
    u64,
    crate::ua::Msg,
    crate::ua::Msg,
) {
    use crate::ua::Phone;
    let phone_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ann = phone_socket.local_addr().expect("addr").port();
    let cid = free_udp_port();
    let config = [
        agent_config("ann", ann, true),
        agent_config("cid", cid, true),
    ]
    .concat();
    let served = Served::start_flows(name, CLOCK, media_base, &config, "tests/acd-flows/");
    let mut phone = Phone::new(phone_socket, served.port, "ann");
    let cid_sipp = uas(
        "agent_answers.xml",
        cid,
        &[
            "-mp",
            &(media_base + 400).to_string(),
            "-m",
            "1",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let caller = served
        .caller("caller_talks.xml", NUMBER, media_base + 600)
        .args([
            "-m",
            "1",
            "-d",
            "8000",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the caller's SIPp starts");

    // ann's phone rings and answers.
    let invite = phone.expect("the call's INVITE", |m| m.is_request("INVITE"));
    phone.reply(&invite, "200 OK", Some("ann1"), Some(media_base + 800));
    phone.expect("the ACK", |m| m.is_request("ACK"));
    let events = wait_for(&served, "ann connected", |e| count(e, "connected") == 1);
    let call: u64 = events
        .iter()
        .find(|e| e["event"] == "connected")
        .and_then(|e| e["call"].as_str())
        .and_then(|c| c.trim_start_matches("call-").parse().ok())
        .expect("the call's id");

    // ann consults cid: a second call from the same phone.
    let server = format!("sip:cid@127.0.0.1:{}", served.port);
    let local = format!("<sip:ann@127.0.0.1:{ann}>;tag=c1");
    phone.request(
        "INVITE",
        &server,
        "consult-1",
        &local,
        &format!("<{server}>"),
        "",
        Some(crate::ua::Phone::sdp(media_base + 802)),
    );
    // Calls placed through us are challenged: ann proves her password.
    let challenge = phone.expect("the challenge", |m| {
        m.status() == Some(407) && m.header("Call-ID") == "consult-1"
    });
    phone.ack_failure(&challenge, &server);
    phone.request(
        "INVITE",
        &server,
        "consult-1",
        &local,
        &format!("<{server}>"),
        &crate::ua::digest(&challenge, "INVITE", &server, "ann", "pw-ann", 1),
        Some(crate::ua::Phone::sdp(media_base + 802)),
    );
    let answer = phone.expect("the consultation answered", |m| {
        m.status() == Some(200) && m.header("Call-ID") == "consult-1"
    });
    let remote = answer.header("To");
    phone.request("ACK", &server, "consult-1", &local, &remote, "", None);
    wait_for(&served, "cid connected", |e| {
        e.iter()
            .any(|e| e["event"] == "connected" && e["agent"] == "cid")
    });
    (served, phone, caller, cid_sipp, call, invite, answer)
}

#[test]
fn an_agent_consults_a_colleague_and_transfers_attended_with_replaces() {
    let (served, mut phone, caller, cid_sipp, call, invite, answer) =
        consulting("acd-attended", 28_000);
    // REFER on the call's dialog, replacing the consultation.
    let to_tag = answer.tag("To");
    let refer_to = format!(
        "Refer-To: <sip:cid@127.0.0.1?Replaces=consult-1%3Bto-tag%3D{to_tag}%3Bfrom-tag%3Dc1>\r\n"
    );
    let ours = format!("{};tag=ann1", invite.header("To"));
    let uri = invite
        .header("Contact")
        .trim_matches(['<', '>'])
        .to_string();
    phone.request(
        "REFER",
        &uri,
        &invite.header("Call-ID"),
        &ours,
        &invite.header("From"),
        &refer_to,
        None,
    );
    // A transfer places the caller through us: ann proves her password.
    let challenge = phone.expect("the challenge", |m| m.status() == Some(407));
    phone.request(
        "REFER",
        &uri,
        &invite.header("Call-ID"),
        &ours,
        &invite.header("From"),
        &format!(
            "{refer_to}{}",
            crate::ua::digest(&challenge, "REFER", &uri, "ann", "pw-ann", 1)
        ),
        None,
    );
    let accepted = phone.expect("202 Accepted", |m| m.status().is_some_and(|s| s >= 200));
    assert_eq!(accepted.status(), Some(202), "{}", accepted.text);
    let notify = phone.expect("the NOTIFY", |m| m.is_request("NOTIFY"));
    assert!(notify.text.contains("SIP/2.0 200 OK"), "{}", notify.text);
    phone.reply(&notify, "200 OK", None, None);
    // Both of ann's dialogs end.
    for dialog in [invite.header("Call-ID"), "consult-1".to_string()] {
        let bye = phone.expect("a BYE", |m| {
            m.is_request("BYE") && m.header("Call-ID") == dialog
        });
        phone.reply(&bye, "200 OK", None, None);
    }
    // The caller now talks with cid, and hangs up: cid gets the BYE.
    finish(caller, "the caller");
    finish(cid_sipp, "cid");
    let events = wait_for(&served, "cid's wrap-up", |e| {
        e.iter()
            .any(|e| e["event"] == "wrap_up_started" && e["agent"] == "cid")
    });
    let transfer = events
        .iter()
        .find(|e| e["event"] == "transferred")
        .expect("the transfer is logged");
    assert_eq!(transfer["kind"], "attended");
    assert_eq!(transfer["agent"], "ann");
    assert_eq!(transfer["target"], "cid");
    assert_eq!(transfer["call"], format!("call-{call}"));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "consult" && e["agent"] == "ann")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "wrap_up_started" && e["agent"] == "ann")
    );
    let hangup = events
        .iter()
        .find(|e| e["event"] == "hangup" && e["call"] == format!("call-{call}"))
        .expect("the call ended");
    assert_eq!(hangup["reason"], "caller hung up");
}

#[test]
fn a_consulted_colleague_joins_a_conference_and_the_call_goes_on_when_the_agent_leaves() {
    let (served, mut phone, caller, cid_sipp, call, invite, _answer) =
        consulting("acd-conference", 29_000);
    let consult: u64 = served
        .events()
        .iter()
        .find(|e| e["event"] == "consult")
        .and_then(|e| e["call"].as_str())
        .and_then(|c| c.trim_start_matches("call-").parse().ok())
        .expect("the consultation's id");
    // Someone else's consultation, or none, is refused.
    let (status, body) = http(
        &served.api,
        "POST",
        &format!("/api/calls/{call}/conference"),
        "ann",
        Some(&format!(r#"{{"consult": {call}}}"#)),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(
        &served.api,
        "POST",
        &format!("/api/calls/{call}/conference"),
        "cid",
        Some(&format!(r#"{{"consult": {consult}}}"#)),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(
        &served.api,
        "POST",
        &format!("/api/calls/{call}/conference"),
        "ann",
        Some(&format!(r#"{{"consult": {consult}}}"#)),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["participants"], 3, "{body}");
    // The consultation dialog ends; ann leaves the conference with a BYE.
    let bye = phone.expect("the consultation's BYE", |m| {
        m.is_request("BYE") && m.header("Call-ID") == "consult-1"
    });
    phone.reply(&bye, "200 OK", None, None);
    std::thread::sleep(Duration::from_millis(500));
    let ours = format!("{};tag=ann1", invite.header("To"));
    let uri = invite
        .header("Contact")
        .trim_matches(['<', '>'])
        .to_string();
    phone.request(
        "BYE",
        &uri,
        &invite.header("Call-ID"),
        &ours,
        &invite.header("From"),
        "",
        None,
    );
    let ok = phone.expect("the answer to the BYE", |m| {
        m.status().is_some_and(|s| s >= 200) && m.header("CSeq").ends_with("BYE")
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.text);
    // The caller and cid talk on; the caller hangs up; cid is hung up and
    // wraps up.
    finish(caller, "the caller");
    finish(cid_sipp, "cid");
    let events = wait_for(&served, "cid's wrap-up", |e| {
        e.iter()
            .any(|e| e["event"] == "wrap_up_started" && e["agent"] == "cid")
    });
    let conference = events
        .iter()
        .find(|e| e["event"] == "conference")
        .expect("the conference is logged");
    assert_eq!(conference["joined"], "cid");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "conference_left" && e["who"] == "ann")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "wrap_up_started" && e["agent"] == "ann")
    );
    assert!(
        !events.iter().any(|e| e["event"] == "conference_ended"),
        "the caller was not alone"
    );
}

#[test]
fn a_blind_transfer_to_an_entry_point_starts_that_campaigns_flow() {
    let ben = free_udp_port();
    let served = Served::start_flows(
        "acd-entry",
        CLOCK,
        30_000,
        &agent_config("ben", ben, true),
        "tests/acd-flows/",
    );
    let agent = uas(
        "agent_transfers.xml",
        ben,
        &[
            "-mp",
            "30400",
            "-m",
            "1",
            "-key",
            "target_queue",
            "48221007777",
            "-au",
            "ben",
            "-ap",
            "pw-ben",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let inject = served.dir.join("caller.csv");
    std::fs::write(&inject, "SEQUENTIAL\n+48600100001;\n").expect("injection file");
    let caller = served
        .caller("caller_waits.xml", NUMBER, 30_600)
        .arg("-inf")
        .arg(&inject)
        .args(["-m", "1", "-timeout", "60s", "-nostdin", "-trace_err"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the caller's SIPp starts");
    finish(agent, "ben");
    finish(caller, "the caller");
    let events = wait_for(&served, "the hang-up", |e| count(e, "hangup") == 1);
    let transfer = events
        .iter()
        .find(|e| e["event"] == "transferred")
        .expect("the transfer");
    assert_eq!(transfer["kind"], "entry_point", "{transfer}");
    assert_eq!(transfer["target"], "+48221007777");
    let prompt = events
        .iter()
        .find(|e| e["event"] == "prompt" && e["campaign"] == "info")
        .expect("the information desk's prompt");
    assert!(
        prompt["prompt"]
            .as_str()
            .unwrap_or_default()
            .contains("information desk")
    );
    let hangup = events
        .iter()
        .find(|e| e["event"] == "hangup")
        .expect("hangup");
    assert_eq!(hangup["campaign"], "info");
    assert_eq!(hangup["reason"], "hangup");
}
