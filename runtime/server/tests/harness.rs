//! One call layer, proven in memory: a scenario's inputs go to the switch
//! through the simulator (`dialect test`) and through the server's
//! controller in the in-memory SIP harness (SIP text in, SIP text out,
//! simulated time), and the switch logs the same events at the same
//! instants in both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use dialect_server::harness::{Harness, Sent};
use dialect_server::{Options, clock, config::Config, eventlog::EventLog};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CLOCK: &str = "2026-11-23T10:00:00[Europe/Warsaw]";
const NUMBER: &str = "+48221008888";
const FLOWS: &str = "tests/acd-flows";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The campaigns of `dir`, compiled (and the compilation, for the sim).
fn compile(dir: &str) -> dialect_compiler::Compilation {
    let flows = root().join(dir);
    let world = dialect_compiler::world::FsWorld::new(Some(root().join("stdlib")), &flows);
    let compilation = dialect_compiler::compile(&world, std::slice::from_ref(&flows));
    assert!(!compilation.has_errors(), "{dir} compiles");
    compilation
}

/// One scenario (the body of a `[[scenario]]` table) under the simulator.
fn simulate(compilation: &dialect_compiler::Compilation, body: &str) -> dialect_sim::Run {
    let suite =
        dialect_sim::Suite::new(&compilation.programs, &compilation.sources).expect("the suite");
    let text = format!("[[scenario]]\nname = \"harness\"\n{body}\n");
    let file = dialect_sim::scenario::parse("harness.test.toml", &text).expect("the scenario");
    let run = dialect_sim::run(&suite, &file.scenarios[0]);
    assert!(run.passed(), "{:?}", run.failures);
    run
}

/// Every scenario of `file` (under the root) on `compilation`, in the
/// simulator: each must pass. Returns them, for the expectations the
/// harness then checks under serve.
fn scenarios_pass(
    compilation: &dialect_compiler::Compilation,
    file: &str,
) -> Vec<dialect_sim::scenario::Scenario> {
    let text = std::fs::read_to_string(root().join(file)).expect("the scenarios");
    let parsed = dialect_sim::scenario::parse(file, &text).expect("the scenarios parse");
    let suite =
        dialect_sim::Suite::new(&compilation.programs, &compilation.sources).expect("the suite");
    for scenario in &parsed.scenarios {
        let run = dialect_sim::run(&suite, scenario);
        assert!(run.passed(), "{}: {:?}", scenario.name, run.failures);
    }
    parsed.scenarios
}

/// The server's controller for the same campaigns, in the harness, every
/// prompt playing `prompt_ms`.
async fn harness(
    name: &str,
    compilation: &dialect_compiler::Compilation,
    extra: &str,
    prompt_ms: u64,
) -> Harness {
    harness_in(FLOWS, name, compilation, extra, prompt_ms).await
}

/// [`harness`] for the flows of `dir` (their prompts and speech).
async fn harness_in(
    dir: &str,
    name: &str,
    compilation: &dialect_compiler::Compilation,
    extra: &str,
    prompt_ms: u64,
) -> Harness {
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("harness-{name}"));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let text = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n[runtime]\ndata = \"{}\"\n{extra}",
        data.display()
    );
    let config = Config::parse(&text, Path::new("harness.toml")).expect("the configuration");
    let flows = loaded(compilation);
    let options = Options {
        config,
        flows,
        media_root: root().join(dir),
        clock: clock::Clock::starting_at(clock::parse(CLOCK).unwrap()),
        log: EventLog::discard(),
        loader: None,
        watch: None,
    };
    Harness::start(options, Some(Duration::from_millis(prompt_ms)))
        .await
        .expect("the harness starts")
}

/// The compiled campaigns as verified artifacts.
fn loaded(compilation: &dialect_compiler::Compilation) -> Vec<dialect_bytecode::Loaded> {
    compilation
        .programs
        .iter()
        .map(|p| dialect_bytecode::load(&dialect_bytecode::encode(p)).expect("loads"))
        .collect()
}

/// A caller's phone: builds its requests and answers the server's.
struct Phone {
    at: SocketAddr,
    server: SocketAddr,
    number: String,
    call_id: String,
}

impl Phone {
    fn new(port: u16, server: SocketAddr, number: &str, call_id: &str) -> Phone {
        Phone {
            at: SocketAddr::from(([127, 0, 0, 1], port)),
            server,
            number: number.to_string(),
            call_id: call_id.to_string(),
        }
    }

    fn invite(&self, dialled: &str) -> String {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        format!(
            "INVITE sip:{dialled}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {at};branch=z9hG4bK-{id}-1\r\nFrom: <sip:{number}@{at}>;tag=caller\r\nTo: <sip:{dialled}@{server}>\r\nCall-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{number}@{at}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            server = self.server,
            at = self.at,
            id = self.call_id,
            number = self.number,
        )
    }

    /// The ACK of the 2xx that answered the INVITE (whose To tag it keeps).
    fn ack(&self, ok: &Sent) -> String {
        let to = header(&ok.text, "To");
        format!(
            "ACK sip:dialect@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {at};branch=z9hG4bK-{id}-ack\r\nFrom: <sip:{number}@{at}>;tag=caller\r\nTo: {to}\r\nCall-ID: {id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            at = self.at,
            id = self.call_id,
            number = self.number,
        )
    }

    /// The caller hangs up: a BYE in the dialog the 2xx `ok` set up.
    fn bye(&self, ok: &Sent) -> String {
        let to = header(&ok.text, "To");
        format!(
            "BYE sip:dialect@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {at};branch=z9hG4bK-{id}-bye\r\nFrom: <sip:{number}@{at}>;tag=caller\r\nTo: {to}\r\nCall-ID: {id}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            server = self.server,
            at = self.at,
            id = self.call_id,
            number = self.number,
        )
    }
}

/// The phone calls `dialled`; the call is answered (its 200 OK goes back
/// where the INVITE came from) and ACKed. Returns its call key.
async fn answered(h: &mut Harness, phone: &Phone, dialled: &str) -> u64 {
    h.receive(phone.at, &phone.invite(dialled)).await;
    let sent = h.take_sent();
    let ok = sent_starting(&sent, "SIP/2.0 200");
    assert_eq!(ok.to, phone.at, "answers go where the request came from");
    let ack = phone.ack(ok);
    h.receive(phone.at, &ack).await;
    let [call] = h.calls()[..] else {
        panic!("one call with media: {:?}", h.calls());
    };
    call
}

/// A front-desk record for `number` (named `name`, if given), written to
/// the database of the harness called `harness` (as `dialect records
/// import` would, while the server runs); its id.
fn front_desk_record(harness: &str, number: &str, name: Option<&str>) -> i64 {
    use dialect_store::CustomerStore;
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("harness-{harness}"));
    let store = dialect_store::SqliteStore::open(data.join("dialect.sqlite")).unwrap();
    let record = dialect_store::NewRecord {
        numbers: vec![number.into()],
        fields: name
            .map(|n| ("name".to_string(), n.to_string()))
            .into_iter()
            .collect(),
    };
    store
        .import_records("front_desk", &[record], jiff::Timestamp::UNIX_EPOCH)
        .unwrap()[0]
}

/// A 200 OK to a request the server sent.
fn ok_to(request: &Sent) -> String {
    let mut lines = vec!["SIP/2.0 200 OK".to_string()];
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        lines.push(format!("{name}: {}", header(&request.text, name)));
    }
    lines.push("Content-Length: 0\r\n".into());
    lines.join("\r\n") + "\r\n"
}

/// A header's value in a message (the first of its name).
fn header<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// The first message sent that starts with `start` (a method and a space,
/// or `SIP/2.0 200`).
fn sent_starting<'a>(sent: &'a [Sent], start: &str) -> &'a Sent {
    sent.iter()
        .find(|s| s.text.starts_with(start))
        .unwrap_or_else(|| {
            panic!(
                "nothing sent starts with {start:?}: {:?}",
                first_lines(sent)
            )
        })
}

/// The first line of each message (request line or status line).
fn first_lines(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .map(|s| s.text.lines().next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_courtesy_callback_gives_the_same_switch_trace_in_the_harness_and_the_simulator() {
    let compilation = compile(FLOWS);
    // dialect test: the caller waits in sales, hears the position, and
    // takes the courtesy callback (key 1) 12 s into the call.
    let simulated = simulate(
        &compilation,
        &format!(
            r#"dialled = "{NUMBER}"
caller = "+48600555001"
start = "{CLOCK}"
prompt_length = "3s"
keys = [{{ at = "12s", key = "1" }}]
[scenario.expect]
callback = true
ended = "caller""#
        ),
    );

    // dialect serve's controller: the same call as SIP text.
    let mut h = harness(
        "courtesy",
        &compilation,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5070\"\nready = false\n[trunk]\nuri = \"sip:127.0.0.1:5080\"\n",
        3_000,
    )
    .await;
    let start = h.now();
    let phone = Phone::new(5999, h.local_addr(), "+48600555001", "harness-courtesy");
    let call = answered(&mut h, &phone, NUMBER).await;
    h.advance(Duration::from_secs(12)).await;
    assert!(
        h.take_sent().is_empty(),
        "nothing is sent while the caller waits"
    );
    h.press(call, '1').await;
    h.advance(Duration::from_secs(10)).await;
    // The courtesy callback is registered and the caller let go: a BYE.
    let sent = h.take_sent();
    let bye = sent_starting(&sent, "BYE ");
    assert_eq!(bye.to, phone.at);
    h.receive(phone.at, &ok_to(bye)).await;
    h.advance(Duration::from_secs(40)).await;

    let served = h.switch_events(call, start);
    let names: Vec<&str> = served.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        names,
        ["queued", "announced", "courtesy_callback", "dequeued"],
        "{served:?}"
    );
    assert_eq!(
        served, simulated.events,
        "the same events at the same instants"
    );
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "hangup" && e["reason"] == "courtesy callback"),
        "{events:#?}"
    );
    let status = h.status();
    for counter in ["calls", "engine_calls", "switch_calls", "dialogs", "timers"] {
        assert_eq!(status[counter], 0, "{counter} leaked: {status}");
    }
}

/// An agent's phone as the scenario scripts it: it rings, and answers
/// `answer_after` after the offer (or never), then hangs up after `talk`.
struct AgentPhone {
    at: SocketAddr,
    answers: Option<(Duration, Duration)>,
}

/// A message the peers send at a given (simulated) time.
struct Due {
    at: std::time::Instant,
    from: SocketAddr,
    text: String,
}

/// The peers of one call (the caller, the agents' phones) answering what
/// the controller sends, each at its scripted time, until `until`.
struct Peers {
    agents: Vec<AgentPhone>,
    due: Vec<Due>,
    /// Every request the controller sent, for the test to look at.
    requests: Vec<Sent>,
}

impl Peers {
    async fn run(&mut self, h: &mut Harness, until: std::time::Instant) {
        while h.now() < until {
            for sent in h.take_sent() {
                self.answer(sent);
            }
            self.due.sort_by_key(|d| d.at);
            let next = self
                .due
                .first()
                .map_or(until, |d| d.at.max(h.now()))
                .min(until)
                .min(h.now() + Duration::from_millis(100));
            h.advance(next - h.now()).await;
            while let Some(due) = self.due.first().filter(|d| d.at <= h.now()) {
                let (from, text) = (due.from, due.text.clone());
                self.due.remove(0);
                h.receive(from, &text).await;
            }
        }
    }

    fn answer(&mut self, sent: Sent) {
        let method = sent.text.split(' ').next().unwrap_or_default().to_string();
        if method == "SIP/2.0" || method == "ACK" {
            return;
        }
        self.requests.push(sent.clone());
        let now = sent.at;
        let from = sent.to;
        let reply = |due: &mut Vec<Due>, at, text| due.push(Due { at, from, text });
        match method.as_str() {
            "INVITE" => {
                let agent = self.agents.iter().find(|a| a.at == sent.to);
                let Some(agent) = agent else {
                    panic!("an INVITE to nobody: {}", sent.text);
                };
                reply(&mut self.due, now, respond(&sent, "180 Ringing", ""));
                if let Some((after, talk)) = agent.answers {
                    let sdp = format!(
                        "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
                        40_002 + from.port()
                    );
                    reply(&mut self.due, now + after, respond(&sent, "200 OK", &sdp));
                    reply(&mut self.due, now + after + talk, bye_for(&sent));
                }
            }
            "CANCEL" => {
                // The offer was withdrawn: the CANCEL is taken and the
                // INVITE ends with 487.
                self.due.retain(|d| !(d.from == from && d.at > now));
                reply(&mut self.due, now, respond(&sent, "200 OK", ""));
                let invite = self
                    .requests
                    .iter()
                    .rev()
                    .find(|r| r.to == from && r.text.starts_with("INVITE "))
                    .cloned()
                    .expect("the cancelled INVITE");
                reply(
                    &mut self.due,
                    now,
                    respond(&invite, "487 Request Terminated", ""),
                );
            }
            "BYE" => {
                // Whoever hangs up first: the other side's pending BYE goes.
                self.due
                    .retain(|d| !(d.from == from && d.text.starts_with("BYE ")));
                reply(&mut self.due, now, respond(&sent, "200 OK", ""));
            }
            other => panic!("the peers did not expect {other}: {}", sent.text),
        }
    }
}

/// A response to a request the controller sent, with a To tag of the
/// peer's (the same for every response to it).
fn respond(request: &Sent, status: &str, sdp: &str) -> String {
    let mut lines = vec![format!("SIP/2.0 {status}")];
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        lines.push(format!("{name}: {}", header(&request.text, name)));
    }
    let to = header(&request.text, "To");
    if to.contains(";tag=") {
        lines.push(format!("To: {to}"));
    } else {
        lines.push(format!("To: {to};tag=peer-{}", request.to.port()));
    }
    lines.push(format!("Contact: <sip:peer@{}>", request.to));
    if sdp.is_empty() {
        lines.push("Content-Length: 0\r\n".into());
        lines.join("\r\n") + "\r\n"
    } else {
        lines.push("Content-Type: application/sdp".into());
        lines.push(format!("Content-Length: {}\r\n", sdp.len()));
        lines.join("\r\n") + "\r\n" + sdp
    }
}

/// The BYE an agent's phone sends to end the dialog its INVITE made.
fn bye_for(invite: &Sent) -> String {
    let from = header(&invite.text, "From");
    let to = header(&invite.text, "To");
    let contact = header(&invite.text, "Contact");
    let target = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or(contact);
    format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {at};branch=z9hG4bK-bye-{port}\r\nFrom: {to};tag=peer-{port}\r\nTo: {from}\r\nCall-ID: {id}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        at = invite.to,
        port = invite.to.port(),
        id = header(&invite.text, "Call-ID"),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn rona_then_an_answer_gives_the_same_switch_trace_in_the_harness_and_the_simulator() {
    let compilation = compile(FLOWS);
    // dialect test: ann (first in the queue's list) lets the offer ring
    // out (RONA after the queue's 5 s); dan answers 2 s into his and talks
    // for 20 s.
    let simulated = simulate(
        &compilation,
        &format!(
            r#"dialled = "{NUMBER}"
caller = "+48600100200"
start = "{CLOCK}"
prompt_length = "3s"
agents = [{{ name = "ann", answers = false }}, {{ name = "dan", answer_after = "2s", talk = "20s" }}]
[scenario.expect]
agent = "dan"
ended = "hangup""#
        ),
    );

    let (dan, ann) = (5071, 5070);
    let mut h = harness(
        "rona",
        &compilation,
        &format!(
            "[[agent]]\nname = \"dan\"\nuri = \"sip:dan@127.0.0.1:{dan}\"\nready = true\n[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:{ann}\"\nready = true\n"
        ),
        3_000,
    )
    .await;
    let start = h.now();
    let phone = Phone::new(5998, h.local_addr(), "+48600100200", "harness-rona");
    let call = answered(&mut h, &phone, NUMBER).await;
    let mut peers = Peers {
        agents: vec![
            AgentPhone {
                at: SocketAddr::from(([127, 0, 0, 1], ann)),
                answers: None,
            },
            AgentPhone {
                at: SocketAddr::from(([127, 0, 0, 1], dan)),
                answers: Some((Duration::from_secs(2), Duration::from_secs(20))),
            },
        ],
        due: Vec::new(),
        requests: Vec::new(),
    };
    peers.run(&mut h, start + Duration::from_secs(15)).await;
    assert!(h.bridged(call), "the caller talks with dan");
    peers.run(&mut h, start + Duration::from_secs(90)).await;

    // What went on the wire: ann rung and cancelled, dan rung, then the
    // caller let go after dan hung up.
    let lines: Vec<String> = peers
        .requests
        .iter()
        .map(|r| {
            let method = r.text.split(' ').next().unwrap_or_default();
            let who = if r.to == phone.at {
                "caller"
            } else if r.to.port() == dan {
                "dan"
            } else {
                "ann"
            };
            format!("{method} {who}")
        })
        .collect();
    assert_eq!(
        lines,
        ["INVITE ann", "CANCEL ann", "INVITE dan", "BYE caller"],
        "{lines:?}\nserved: {:?}\nsimulated: {:?}",
        h.switch_events(call, start),
        simulated.events
    );
    let served = h.switch_events(call, start);
    assert_eq!(
        served, simulated.events,
        "the same events at the same instants"
    );
    assert!(
        served.iter().any(|(_, e)| e == "rona"),
        "ann's offer rang out: {served:?}"
    );
    // dan answered 2 s into his offer, which came with the RONA.
    let events = h.events();
    let connected = events
        .iter()
        .find(|e| e["event"] == "connected")
        .unwrap_or_else(|| panic!("connected: {events:#?}"));
    assert_eq!(connected["agent"], "dan");
    let at: jiff::Timestamp = connected["ts"].as_str().unwrap().parse().unwrap();
    let queued: jiff::Timestamp = events
        .iter()
        .find(|e| e["event"] == "queued")
        .and_then(|e| e["ts"].as_str())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(at.duration_since(queued).as_millis(), 7_000);
    let status = h.status();
    for counter in ["calls", "engine_calls", "switch_calls", "dialogs", "timers"] {
        assert_eq!(status[counter], 0, "{counter} leaked: {status}");
    }
}

/// An agent configured on duty whom the first version's flows do not name
/// is logged in when a reloaded version names them, and takes its calls.
#[tokio::test(flavor = "current_thread")]
async fn an_agent_on_duty_named_only_by_a_reloaded_version_takes_its_calls() {
    let first = compile("tests/identify-flows");
    let second = compile("tests/reload-exact/v2");
    let bob = SocketAddr::from(([127, 0, 0, 1], 5072));
    let mut h = harness(
        "ready-later",
        &first,
        "[[agent]]\nname = \"bob\"\nuri = \"sip:bob@127.0.0.1:5072\"\nready = true\n",
        3_000,
    )
    .await;
    h.reload(loaded(&second))
        .await
        .expect("the new version is served");
    // A caller of the desk (billing: bob's skill in the new version).
    let phone = Phone::new(5997, h.local_addr(), "+48600100200", "harness-ready-later");
    answered(&mut h, &phone, "+48221006000").await;
    h.advance(Duration::from_secs(1)).await;
    let sent = h.take_sent();
    assert!(
        sent.iter()
            .any(|s| s.to == bob && s.text.starts_with("INVITE ")),
        "bob is rung: {:?}",
        first_lines(&sent)
    );
}

/// Issue 17: the agent who takes an identified caller's call sees the
/// customer record with the call's data (the agent API's call data).
#[tokio::test(flavor = "current_thread")]
async fn the_agent_sees_the_identified_callers_record_with_the_call() {
    let flows = compile("tests/identify-flows");
    let ann = SocketAddr::from(([127, 0, 0, 1], 5073));
    let mut h = harness(
        "record",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5073\"\nready = true\n",
        3_000,
    )
    .await;
    // The caller's record, written to the server's database meanwhile (as
    // `dialect records import` would).
    let ids = [front_desk_record("record", "+48600100200", Some("Jan"))];
    let phone = Phone::new(5996, h.local_addr(), "+48600100200", "harness-record");
    let call = answered(&mut h, &phone, "+48221009002").await;
    let start = h.now();
    let mut peers = Peers {
        agents: vec![AgentPhone {
            at: ann,
            answers: Some((Duration::from_secs(1), Duration::from_secs(60))),
        }],
        due: Vec::new(),
        requests: Vec::new(),
    };
    peers.run(&mut h, start + Duration::from_secs(5)).await;
    assert!(h.bridged(call), "ann talks with the caller");
    let reply = h
        .api(dialect_server::api::ApiRequest::CallData {
            agent: "ann".into(),
            call,
        })
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["record"]["id"], ids[0], "{}", reply.body);
    assert_eq!(reply.body["record"]["fields"]["name"], "Jan");
    // `sensitive_data`: the caller's and the record's numbers are masked.
    assert_eq!(reply.body["record"]["numbers"][0], "•••••••0200");
    assert_eq!(reply.body["caller"], "•••••••0200", "{}", reply.body);
}

/// Issue 17: the `extension` block under serve. Staff type carol's
/// extension (123, in flows/common/agents.flow); her phone rings through
/// the ACD, she answers and talks; the switch logs the same events at the
/// same instants as `dialect test`. Then 999, which nobody has: the
/// `invalid` path, and no phone rings.
#[tokio::test(flavor = "current_thread")]
async fn an_extension_rings_its_agent_under_serve_as_in_the_simulator() {
    let flows = compile("flows");
    let simulated = simulate(
        &flows,
        &format!(
            r#"dialled = "+48221000000"
caller = "+48225550123"
start = "{CLOCK}"
prompt_length = "3s"
keys = [{{ at = "7s", key = "1" }}, {{ at = "7500ms", key = "2" }}, {{ at = "8s", key = "3" }}]
agents = [{{ name = "carol", answer_after = "2s", talk = "1m" }}]
[scenario.expect]
transfer = "123"
agent = "carol"
ended = "hangup""#
        ),
    );
    let carol = SocketAddr::from(([127, 0, 0, 1], 5075));
    let mut h = harness_in(
        "flows",
        "extension",
        &flows,
        "[[agent]]\nname = \"carol\"\nuri = \"sip:carol@127.0.0.1:5075\"\nready = true\n",
        3_000,
    )
    .await;
    let start = h.now();
    let phone = Phone::new(5995, h.local_addr(), "+48225550123", "harness-extension");
    let call = answered(&mut h, &phone, "+48221000000").await;
    let mut peers = Peers {
        agents: vec![AgentPhone {
            at: carol,
            answers: Some((Duration::from_secs(2), Duration::from_secs(60))),
        }],
        due: Vec::new(),
        requests: Vec::new(),
    };
    peers.run(&mut h, start + Duration::from_secs(7)).await;
    h.press(call, '1').await;
    peers
        .run(&mut h, start + Duration::from_millis(7_500))
        .await;
    h.press(call, '2').await;
    peers.run(&mut h, start + Duration::from_secs(8)).await;
    h.press(call, '3').await;
    peers.run(&mut h, start + Duration::from_secs(12)).await;
    assert!(h.bridged(call), "the caller talks with carol");
    peers.run(&mut h, start + Duration::from_secs(90)).await;
    let served = h.switch_events(call, start);
    assert!(served.iter().any(|(_, e)| e == "extension"), "{served:?}");
    assert_eq!(
        served, simulated.events,
        "the same events at the same instants"
    );
    let invites = peers
        .requests
        .iter()
        .filter(|r| r.to == carol && r.text.starts_with("INVITE "))
        .count();
    assert_eq!(invites, 1);
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "hangup" && e["reason"] == "staff: extension call ended"),
        "{events:#?}"
    );

    // 999: nobody's. The message, then the flow hangs up; nobody is rung.
    let phone = Phone::new(5994, h.local_addr(), "+48225550124", "harness-extension-2");
    h.receive(phone.at, &phone.invite("+48221000000")).await;
    let sent = h.take_sent();
    let ok = sent_starting(&sent, "SIP/2.0 200");
    h.receive(phone.at, &phone.ack(ok)).await;
    let second = *h.calls().iter().max().expect("the second call");
    let begin = h.now();
    peers.run(&mut h, begin + Duration::from_secs(7)).await;
    for key in ['9', '9', '9'] {
        h.press(second, key).await;
    }
    peers.run(&mut h, begin + Duration::from_secs(20)).await;
    let served = h.switch_events(second, begin);
    let names: Vec<&str> = served.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(names, ["extension_failed"], "{served:?}");
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "hangup" && e["reason"] == "staff: unknown extension"),
        "{events:#?}"
    );
    assert_eq!(
        peers.requests.iter().filter(|r| r.to == carol).count(),
        1,
        "carol's INVITE of the first call only (she hung up herself)"
    );
}

/// Issue 18: a campaign switched off (`enabled false`) takes no call: the
/// simulator says `refused`, and serve answers the INVITE with 480 and
/// logs why; nothing else is left behind.
#[tokio::test(flavor = "current_thread")]
async fn a_disabled_campaign_refuses_calls_in_serve_and_in_the_simulator() {
    let flows = compile("tests/identify-flows");
    simulate(
        &flows,
        &format!(
            r#"dialled = "+48221009007"
caller = "+48600100200"
start = "{CLOCK}"
[scenario.expect]
ended = "refused""#
        ),
    );
    let mut h = harness("disabled", &flows, "", 3_000).await;
    let phone = Phone::new(5993, h.local_addr(), "+48600100200", "harness-disabled");
    h.receive(phone.at, &phone.invite("+48221009007")).await;
    let sent = h.take_sent();
    assert!(
        sent.iter()
            .any(|s| s.to == phone.at && s.text.starts_with("SIP/2.0 480 Campaign Disabled")),
        "{:?}",
        first_lines(&sent)
    );
    let events = h.events();
    let refused = events
        .iter()
        .find(|e| e["event"] == "campaign_refused")
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("`winter_promo` is disabled"),
        "{refused}"
    );
    let status = h.status();
    for counter in ["calls", "engine_calls", "switch_calls", "dialogs"] {
        assert_eq!(status[counter], 0, "{counter} leaked: {status}");
    }
}

/// Issue 18: `dial … caller_id` is the identity the called party sees:
/// the outage hotline's caller waits out the technical queue (nobody on
/// duty) and the engineer on call is dialled from the hotline's number.
#[tokio::test(flavor = "current_thread")]
async fn a_dial_shows_its_caller_id_to_the_called_party() {
    let flows = compile("flows");
    let mut h = harness_in(
        "flows",
        "caller-id",
        &flows,
        "[trunk]\nuri = \"sip:127.0.0.1:5081\"\n",
        3_000,
    )
    .await;
    let phone = Phone::new(5992, h.local_addr(), "+48600100200", "harness-caller-id");
    answered(&mut h, &phone, "+48221000099").await;
    let mut sent = Vec::new();
    for _ in 0..60 {
        h.advance(Duration::from_secs(5)).await;
        sent.extend(h.take_sent());
        if sent.iter().any(|s| s.text.starts_with("INVITE ")) {
            break;
        }
    }
    let invite = sent_starting(&sent, "INVITE ");
    assert_eq!(invite.to, SocketAddr::from(([127, 0, 0, 1], 5081)));
    let from = header(&invite.text, "From");
    assert!(from.contains("sip:+48221000099@"), "{from}");
}

/// Issue 18: the front desk's `alert talk_time { threshold 2m }` is raised
/// once when ann has talked for more than two minutes, and cleared once
/// when the conversation ends (it was never raised before: the threshold
/// the compiler lowers as a duration is read).
#[tokio::test(flavor = "current_thread")]
async fn a_talk_time_alert_is_raised_once_and_cleared_once() {
    let flows = compile("tests/identify-flows");
    let ann = SocketAddr::from(([127, 0, 0, 1], 5076));
    let mut h = harness(
        "alert",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5076\"\nready = true\n",
        3_000,
    )
    .await;
    front_desk_record("alert", "+48600100201", Some("Ola"));
    let phone = Phone::new(5991, h.local_addr(), "+48600100201", "harness-alert");
    let call = answered(&mut h, &phone, "+48221009002").await;
    let start = h.now();
    let mut peers = Peers {
        agents: vec![AgentPhone {
            at: ann,
            answers: Some((Duration::from_secs(1), Duration::from_secs(180))),
        }],
        due: Vec::new(),
        requests: Vec::new(),
    };
    peers.run(&mut h, start + Duration::from_secs(5)).await;
    assert!(h.bridged(call), "ann talks with the caller");
    let alerts = |h: &Harness, name: &str| {
        h.events()
            .into_iter()
            .filter(|e| e["event"] == name && e["alert"] == "talk_time")
            .count()
    };
    peers.run(&mut h, start + Duration::from_secs(110)).await;
    assert_eq!(alerts(&h, "alert"), 0, "not before two minutes");
    peers.run(&mut h, start + Duration::from_secs(150)).await;
    assert_eq!(alerts(&h, "alert"), 1, "raised: {:#?}", h.events());
    peers.run(&mut h, start + Duration::from_secs(200)).await;
    assert_eq!(alerts(&h, "alert"), 1, "raised once");
    assert_eq!(alerts(&h, "alert_cleared"), 1, "cleared when ann hung up");
}

/// Issue 18: a campaign's `supervisors` are supervisors: ann (the front
/// desk's) may pause customer agents; zed, an agent without the role, may
/// not.
#[tokio::test(flavor = "current_thread")]
async fn a_campaigns_supervisors_have_the_supervisor_role() {
    use dialect_server::api::ApiRequest;
    let flows = compile("tests/identify-flows");
    let mut h = harness(
        "supervisors",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5077\"\n[[agent]]\nname = \"zed\"\nuri = \"sip:zed@127.0.0.1:5078\"\n",
        3_000,
    )
    .await;
    let pause = |agent: &str| ApiRequest::PauseBot {
        agent: agent.into(),
        bot: "helper".into(),
        paused: true,
    };
    let zed = h.api(pause("zed")).await;
    assert_eq!(zed.status, 403, "{:?}", zed.body);
    // ann passes the role check: the bot is what is missing.
    let ann = h.api(pause("ann")).await;
    assert_eq!(ann.status, 404, "{:?}", ann.body);
}

/// Issue 18: a `callback` block under serve stores its callback in its
/// `queue`, with its `reason`, due after its `delay` (45 minutes), and the
/// agents of that queue see it.
#[tokio::test(flavor = "current_thread")]
async fn a_callback_block_stores_its_queue_reason_and_delay() {
    use dialect_server::api::ApiRequest;
    let flows = compile("tests/identify-flows");
    let mut h = harness(
        "callback-block",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5079\"\n",
        3_000,
    )
    .await;
    let phone = Phone::new(5990, h.local_addr(), "+48600100202", "harness-callback");
    // The flow registers the callback and hangs up at once.
    h.receive(phone.at, &phone.invite("+48221009008")).await;
    let sent = h.take_sent();
    let ok = sent_starting(&sent, "SIP/2.0 200");
    h.receive(phone.at, &phone.ack(ok)).await;
    h.advance(Duration::from_secs(2)).await;
    let reply = h
        .api(ApiRequest::ListCallbacks {
            agent: "ann".into(),
        })
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let callbacks = reply.body["callbacks"].as_array().expect("a list");
    assert_eq!(callbacks.len(), 1, "{:?}", reply.body);
    let callback = &callbacks[0];
    assert_eq!(callback["queue"], "front");
    assert_eq!(callback["reason"], "asked in the IVR");
    assert_eq!(callback["number"], "+48600100202");
    let start: jiff::Timestamp = callback["start"].as_str().unwrap().parse().unwrap();
    let created: jiff::Timestamp = callback["created"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        start.duration_since(created).as_secs(),
        45 * 60,
        "due 45 minutes later: {callback}"
    );
}

/// Issue 18: a queue's own `entry_prompt` is played to a call that enters
/// it through a `queue` block without one (the simulator, from the same
/// compiled graph serve runs).
#[test]
fn a_queues_own_entry_prompt_is_played_when_the_block_has_none() {
    let flows = compile("tests/wrapup-flows/v1");
    simulate(
        &flows,
        &format!(
            r#"dialled = "+48221007000"
caller = "+48600100200"
start = "{CLOCK}"
hangup = "10s"
[scenario.expect]
prompts = ["say:Proszę czekać."]
queues = ["shared"]
ended = "caller""#
        ),
    );
}

/// Issue 18: a `queue` block's `announce_every` is the call's, over its
/// queue's: sales callers hear their place every 20 s, service callers in
/// the same queue (which announces nothing) never.
#[test]
fn a_queue_blocks_announce_every_is_the_calls() {
    let flows = compile("tests/wrapup-flows/v1");
    let announced = |dialled: &str| -> Vec<i64> {
        simulate(
            &flows,
            &format!(
                r#"dialled = "{dialled}"
caller = "+48600100200"
start = "{CLOCK}"
hangup = "50s"
[scenario.expect]
ended = "caller""#
            ),
        )
        .events
        .iter()
        .filter(|(_, e)| e == "announced")
        .map(|(at, _)| *at)
        .collect()
    };
    assert_eq!(announced("+48221007000"), [20_000, 40_000]);
    assert!(announced("+48221007001").is_empty());
}

/// The INVITE that rings ann for a call from `caller` to identify.flow's
/// +48221009002 under `config` (ann's front-desk record is made first).
async fn ann_rung(name: &str, config: &str, caller: &str, port: u16) -> (SocketAddr, String) {
    let flows = compile("tests/identify-flows");
    let mut h = harness(name, &flows, config, 3_000).await;
    front_desk_record(name, caller, None);
    let phone = Phone::new(port, h.local_addr(), caller, &format!("harness-{name}"));
    answered(&mut h, &phone, "+48221009002").await;
    h.advance(Duration::from_secs(1)).await;
    let sent = h.take_sent();
    let invite = sent_starting(&sent, "INVITE ");
    let line = invite.text.lines().next().unwrap_or_default().to_string();
    (invite.to, line)
}

/// Issue 18: an agent the configuration gives no URI, who has not
/// registered, is rung at the flows' `uri` (identify.flow: ann at
/// sip:ann@127.0.0.1, port 5060).
#[tokio::test(flavor = "current_thread")]
async fn an_agent_without_a_configured_uri_is_rung_at_the_flows_uri() {
    let (to, line) = ann_rung(
        "flow-uri",
        "[[agent]]\nname = \"ann\"\npassword = \"pw-ann\"\nready = true\n",
        "+48600100203",
        5989,
    )
    .await;
    assert_eq!(to, SocketAddr::from(([127, 0, 0, 1], 5060)));
    assert_eq!(line, "INVITE sip:ann@127.0.0.1 SIP/2.0");
}

/// Issue 19: an agent whose `phone` is a number is rung at that number
/// through the trunk.
#[tokio::test(flavor = "current_thread")]
async fn an_agent_whose_phone_is_a_number_is_rung_through_the_trunk() {
    let (to, line) = ann_rung(
        "phone-number",
        "[[agent]]\nname = \"ann\"\npassword = \"pw-ann\"\nphone = \"+48600900900\"\nready = true\n\
         [trunk]\nuri = \"sip:127.0.0.1:5999\"\n",
        "+48600100204",
        5988,
    )
    .await;
    assert_eq!(to, SocketAddr::from(([127, 0, 0, 1], 5999)));
    assert_eq!(line, "INVITE sip:+48600900900@127.0.0.1:5999 SIP/2.0");
}

/// Issue 18: recorded conversations are kept `keep_recordings_days`:
/// the hourly sweep removes an older one from the index and deletes its
/// file, and keeps a newer one.
#[tokio::test(flavor = "current_thread")]
async fn recordings_past_the_retention_period_are_deleted() {
    use dialect_store::RecordStore;
    let flows = compile("tests/recording-flows");
    let mut h = harness("retention", &flows, "keep_recordings_days = 30\n", 3_000).await;
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("harness-retention");
    let store = dialect_store::SqliteStore::open(data.join("dialect.sqlite")).unwrap();
    let now = clock::parse(CLOCK).unwrap();
    let mut ids = Vec::new();
    for (name, days) in [("old", 31), ("new", 29)] {
        let path = data.join(format!("{name}.wav"));
        std::fs::write(&path, b"RIFF").unwrap();
        let started = now - jiff::SignedDuration::from_hours(24 * days);
        let row = dialect_store::CallRecording {
            id: 0,
            call: format!("call-{name}"),
            campaign: "recorded".into(),
            caller: "+48600100200".into(),
            agent: "ann".into(),
            path: path.display().to_string(),
            channels: 2,
            started_ms: started.as_millisecond(),
            duration_ms: 1_000,
        };
        ids.push(store.record_conversation(&row).unwrap());
    }
    h.advance(Duration::from_secs(3_601)).await;
    let expired: Vec<serde_json::Value> = h
        .events()
        .into_iter()
        .filter(|e| e["event"] == "recording_expired")
        .collect();
    assert_eq!(expired.len(), 1, "{expired:#?}");
    assert_eq!(expired[0]["recording"], ids[0]);
    let left = store.conversations(None, 10).unwrap();
    assert_eq!(left.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[1]]);
    // The file goes off the runtime's threads.
    for _ in 0..100 {
        if !data.join("old.wav").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!data.join("old.wav").exists());
    assert!(data.join("new.wav").exists());
}

/// The alerts raised and cleared in the harness's event log, named as a
/// scenario's `alerts` names them.
fn alert_changes(h: &Harness) -> Vec<String> {
    h.events()
        .into_iter()
        .filter(|e| e["event"] == "alert" || e["event"] == "alert_cleared")
        .map(|e| {
            let change = if e["event"] == "alert" {
                "raised"
            } else {
                "cleared"
            };
            let subject = e["subject"].as_str().unwrap_or_default();
            let kind = e["alert"].as_str().unwrap_or_default();
            if subject.is_empty() {
                format!("{kind} {change}")
            } else {
                format!("{kind} {subject} {change}")
            }
        })
        .collect()
}

/// Issue 18: all eight alerts of SPEC 3.2 under serve. The call of
/// tests/alert-flows/alerts.test.toml raises and clears the same alerts,
/// in the same order, as the simulator; then breaks, the record pool and
/// a ticket's SLA raise and clear theirs. Each change is logged once and
/// e-mailed to the campaign's supervisor, through the outbox.
#[tokio::test(flavor = "current_thread")]
async fn every_alert_kind_is_raised_and_cleared_once_and_mailed_to_the_supervisors() {
    use dialect_server::api::ApiRequest;
    use dialect_store::{CustomerStore, OutboxStore};
    let flows = compile("tests/alert-flows");
    // The simulator's side: the scenario passes, and says what to expect.
    let scenarios = scenarios_pass(&flows, "tests/alert-flows/alerts.test.toml");
    let expected = scenarios[0].expect.alerts.clone().expect("alerts");

    let ann = SocketAddr::from(([127, 0, 0, 1], 5071));
    let mut h = harness(
        "alerts",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5071\"\npassword = \"pw\"\nready = false\n\
         [[agent]]\nname = \"bob\"\nuri = \"sip:bob@127.0.0.1:5072\"\npassword = \"pw\"\nready = false\n\
         [[agent]]\nname = \"sue\"\npassword = \"pw\"\nready = false\nemail = \"sue@example.com\"\n\
         [notify.smtp]\nhost = \"127.0.0.1\"\nport = 2525\nfrom = \"dialect@example.com\"\nsecurity = \"none\"\n",
        3_000,
    )
    .await;
    let began = h.now();
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("harness-alerts");
    let store = dialect_store::SqliteStore::open(data.join("dialect.sqlite")).unwrap();
    let record = |n: &str| dialect_store::NewRecord {
        numbers: vec![n.into()],
        fields: Default::default(),
    };
    store
        .import_records(
            "watched",
            &[record("+48600100200")],
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap();

    // The call: 90 s waiting, then ann talks 6 minutes.
    let phone = Phone::new(5970, h.local_addr(), "+48600100200", "harness-alerts");
    answered(&mut h, &phone, "+48221006666").await;
    let start = h.now();
    let mut peers = Peers {
        agents: vec![AgentPhone {
            at: ann,
            answers: Some((Duration::from_millis(10), Duration::from_secs(360))),
        }],
        due: Vec::new(),
        requests: Vec::new(),
    };
    peers.run(&mut h, start + Duration::from_secs(90)).await;
    for request in [
        ApiRequest::Login {
            agent: "ann".into(),
        },
        ApiRequest::Ready {
            agent: "ann".into(),
        },
    ] {
        let reply = h.api(request).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    peers.run(&mut h, start + Duration::from_secs(470)).await;
    assert_eq!(
        alert_changes(&h),
        expected,
        "serve raises what the simulator raises"
    );

    // The wrap-up clears max_unclosed; two more open records clear the
    // pool (the store is read every 30 s).
    let reply = h
        .api(ApiRequest::WrapUp {
            agent: "ann".into(),
            classifier: "done".into(),
            fields: Default::default(),
            call: None,
        })
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    store
        .import_records(
            "watched",
            &[record("+48600100201"), record("+48600100202")],
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap();
    h.advance(Duration::from_secs(31)).await;
    // sue serves none of the campaign's queues: her break counts for
    // neither breaks alert.
    for request in [
        ApiRequest::Login {
            agent: "sue".into(),
        },
        ApiRequest::Ready {
            agent: "sue".into(),
        },
        ApiRequest::NotReady {
            agent: "sue".into(),
            reason: "meeting".into(),
        },
        ApiRequest::NotReady {
            agent: "ann".into(),
            reason: "lunch".into(),
        },
    ] {
        let reply = h.api(request).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    h.advance(Duration::from_secs(2)).await;
    assert!(
        !alert_changes(&h)
            .iter()
            .any(|c| c.starts_with("breaks_started")),
        "one break of the campaign's agents so far"
    );
    // Two breaks within 5 minutes, each over 2 minutes.
    for request in [
        ApiRequest::Login {
            agent: "bob".into(),
        },
        ApiRequest::Ready {
            agent: "bob".into(),
        },
        ApiRequest::NotReady {
            agent: "bob".into(),
            reason: "coffee".into(),
        },
    ] {
        let reply = h.api(request).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    h.advance(Duration::from_secs(125)).await;
    for agent in ["ann", "bob"] {
        let reply = h
            .api(ApiRequest::Ready {
                agent: agent.into(),
            })
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    h.advance(Duration::from_secs(300)).await;
    // A ticket opened 1 h 45 min ago, due in 15 minutes: warned, then
    // exceeded by more than 10 minutes, then closed by its owner.
    let elapsed = jiff::SignedDuration::try_from(h.now() - began).unwrap();
    let opened = clock::parse(CLOCK).unwrap() + elapsed - jiff::SignedDuration::from_mins(105);
    let ticket = store
        .insert_ticket(
            None,
            &dialect_store::NewTicket {
                channel: "voice".into(),
                campaign: "watched".into(),
                customer: "+48600100200".into(),
                reason: "refund".into(),
                transcript: Vec::new(),
                team: None,
                owner: Some("bob".into()),
            },
            opened,
        )
        .unwrap();
    h.advance(Duration::from_secs(31)).await;
    h.advance(Duration::from_secs(27 * 60)).await;
    let reply = h
        .api(ApiRequest::CloseTicket {
            agent: "ann".into(),
            id: ticket.id,
        })
        .await;
    assert_eq!(
        reply.status, 403,
        "only its owner or a supervisor: {:?}",
        reply.body
    );
    let reply = h
        .api(ApiRequest::CloseTicket {
            agent: "bob".into(),
            id: ticket.id,
        })
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    h.advance(Duration::from_secs(2)).await;

    let changes = alert_changes(&h);
    let after: Vec<&str> = changes[expected.len()..]
        .iter()
        .map(String::as_str)
        .collect();
    let t = ticket.id.to_string();
    assert_eq!(
        after,
        [
            "max_unclosed ann cleared".to_string(),
            "pool_low cleared".into(),
            "breaks_started raised".into(),
            "break_over ann raised".into(),
            "break_over bob raised".into(),
            "break_over ann cleared".into(),
            "break_over bob cleared".into(),
            "breaks_started cleared".into(),
            format!("sla_warning {t} raised"),
            format!("sla_warning {t} cleared"),
            format!("sla_exceeded {t} raised"),
            format!("sla_exceeded {t} cleared"),
        ],
        "{changes:#?}"
    );
    // Every change went to sue by e-mail, once.
    let mails: Vec<String> = store
        .list_events(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.url == "mailto:sue@example.com")
        .map(|e| e.body)
        .collect();
    assert_eq!(mails.len(), changes.len(), "{mails:#?}");
    assert!(
        mails
            .iter()
            .any(|m| m.contains("[watched] alert talk_time (ann) raised")),
        "{mails:#?}"
    );
}

/// Issue 18: `required_skill`, a campaign's `agents` and `teams`, and
/// its inbound channel's `max_wait` and `overflow_queue`
/// (tests/lane-flows): every scenario there passes in the simulator, and
/// under serve the Polish line's call waits while bob and cid are free,
/// and rings ann as soon as she is ready.
#[tokio::test(flavor = "current_thread")]
async fn a_campaign_reaches_only_the_agents_it_allows() {
    use dialect_server::api::ApiRequest;
    let flows = compile("tests/lane-flows");
    scenarios_pass(&flows, "tests/lane-flows/lanes.test.toml");
    let mut h = harness(
        "lanes",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5061\"\npassword = \"pw\"\nready = false\n\
         [[agent]]\nname = \"bob\"\nuri = \"sip:bob@127.0.0.1:5062\"\n\
         [[agent]]\nname = \"cid\"\nuri = \"sip:cid@127.0.0.1:5063\"\n",
        3_000,
    )
    .await;
    let phone = Phone::new(5969, h.local_addr(), "+48600100200", "harness-lanes");
    answered(&mut h, &phone, "+48221004401").await;
    h.advance(Duration::from_secs(20)).await;
    let sent = h.take_sent();
    assert!(
        !sent.iter().any(|s| s.text.starts_with("INVITE ")),
        "nobody without the skill is rung: {:?}",
        first_lines(&sent)
    );
    let queued = h
        .events()
        .into_iter()
        .find(|e| e["event"] == "queued")
        .expect("queued");
    assert_eq!(queued["queue"], "desk", "{queued}");
    assert_eq!(queued["lane"], "desk@polish_line", "{queued}");
    for request in [
        ApiRequest::Login {
            agent: "ann".into(),
        },
        ApiRequest::Ready {
            agent: "ann".into(),
        },
    ] {
        let reply = h.api(request).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    h.advance(Duration::from_millis(100)).await;
    let sent = h.take_sent();
    let invite = sent_starting(&sent, "INVITE ");
    assert!(
        invite.text.starts_with("INVITE sip:ann@"),
        "{}",
        invite.text
    );
}

/// Issue 18: a queue's own `music` plays to its waiting callers, the
/// campaign's `queue_music` to those of a queue without; and the queues'
/// `priority` scenarios (tests/queue-flows) pass in the simulator.
#[tokio::test(flavor = "current_thread")]
async fn a_queues_music_and_priority_are_its_own() {
    let flows = compile("tests/queue-flows");
    scenarios_pass(&flows, "tests/queue-flows/queues.test.toml");
    let mut h = harness_in("tests/queue-flows", "queue-music", &flows, "", 3_000).await;
    for (port, caller) in [(5968, "+48600111000"), (5967, "+48600222000")] {
        let phone = Phone::new(
            port,
            h.local_addr(),
            caller,
            &format!("harness-music-{port}"),
        );
        h.receive(phone.at, &phone.invite("+48221004501")).await;
        let sent = h.take_sent();
        let ok = sent_starting(&sent, "SIP/2.0 200");
        h.receive(phone.at, &phone.ack(ok)).await;
    }
    h.advance(Duration::from_secs(2)).await;
    let heard: Vec<(String, String)> = h
        .events()
        .into_iter()
        .filter(|e| e["event"] == "prompt")
        .map(|e| {
            (
                e["call"].as_str().unwrap_or_default().to_string(),
                e["prompt"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        heard,
        [
            ("call-1".to_string(), "prompts/first_music.wav".to_string()),
            (
                "call-2".to_string(),
                "prompts/campaign_music.wav".to_string()
            ),
        ],
        "{heard:?}"
    );
}

/// Issue 18: a campaign's `handling`. `phone`: ann's phone rings as
/// usual; `automatic`: the INVITE asks it to answer by itself; `web_panel`:
/// nothing rings until ann accepts in the agent API (which shows the
/// offer, the caller masked for `sensitive_data`); declining sends the
/// call back to its place and ann to RONA.
#[tokio::test(flavor = "current_thread")]
async fn a_campaigns_handling_decides_how_ann_takes_its_calls() {
    use dialect_server::api::ApiRequest;
    let flows = compile("tests/handling-flows");
    let mut h = harness(
        "handling",
        &flows,
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:5066\"\npassword = \"pw\"\n",
        3_000,
    )
    .await;
    let auto_answer = |s: &Sent| s.text.contains("answer-after=0");
    let mut invites = Vec::new();
    // ann's phone never answers: the INVITEs of the first two calls are
    // sent again (and cancelled); a new INVITE has a new Call-ID.
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut new_invites = move |sent: &[Sent]| -> Vec<Sent> {
        sent.iter()
            .filter(|s| s.text.starts_with("INVITE sip:ann@"))
            .filter(|s| seen.insert(header(&s.text, "Call-ID").to_string()))
            .cloned()
            .collect()
    };
    for (port, number) in [(5966, "+48221004601"), (5965, "+48221004602")] {
        let phone = Phone::new(
            port,
            h.local_addr(),
            "+48600100200",
            &format!("harness-handling-{port}"),
        );
        h.receive(phone.at, &phone.invite(number)).await;
        let mut sent = h.take_sent();
        let ok = sent_starting(&sent, "SIP/2.0 200").clone();
        h.receive(phone.at, &phone.ack(&ok)).await;
        h.advance(Duration::from_millis(100)).await;
        sent.extend(h.take_sent());
        let [invite] = &new_invites(&sent)[..] else {
            panic!("ann is rung once: {:?}", first_lines(&sent));
        };
        invites.push(auto_answer(invite));
        // The caller leaves: ann is free for the next.
        h.receive(phone.at, &phone.bye(&ok)).await;
        h.advance(Duration::from_secs(1)).await;
        h.take_sent();
    }
    assert_eq!(
        invites,
        [false, true],
        "phone rings, automatic answers by itself"
    );

    let phone = Phone::new(
        5964,
        h.local_addr(),
        "+48600100200",
        "harness-handling-panel",
    );
    answered(&mut h, &phone, "+48221004603").await;
    h.advance(Duration::from_secs(2)).await;
    let sent = h.take_sent();
    assert!(
        new_invites(&sent).is_empty(),
        "nothing rings before ann accepts: {:?}",
        first_lines(&sent)
    );
    let view = h
        .api(ApiRequest::Agent {
            agent: "ann".into(),
        })
        .await;
    assert_eq!(view.body["state"], "ringing", "{:?}", view.body);
    let offer = &view.body["offer"];
    assert_eq!(offer["campaign"], "panel", "{offer}");
    assert_eq!(offer["caller"], "•••••••0200", "{offer}");
    assert_eq!(offer["queue"], "desk", "{offer}");
    let reply = h
        .api(ApiRequest::AnswerOffer {
            agent: "ann".into(),
            accept: false,
        })
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let view = h
        .api(ApiRequest::Agent {
            agent: "ann".into(),
        })
        .await;
    assert_eq!(view.body["state"], "idle", "declined: {:?}", view.body);
    let reply = h
        .api(ApiRequest::AnswerOffer {
            agent: "ann".into(),
            accept: true,
        })
        .await;
    assert_eq!(reply.status, 409, "nothing to accept now: {:?}", reply.body);
    let reply = h
        .api(ApiRequest::Ready {
            agent: "ann".into(),
        })
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    h.advance(Duration::from_millis(100)).await;
    assert!(new_invites(&h.take_sent()).is_empty());
    let reply = h
        .api(ApiRequest::AnswerOffer {
            agent: "ann".into(),
            accept: true,
        })
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    h.advance(Duration::from_millis(100)).await;
    let sent = h.take_sent();
    let [invite] = &new_invites(&sent)[..] else {
        panic!(
            "accepted: ann's phone is called once: {:?}",
            first_lines(&sent)
        );
    };
    assert!(auto_answer(invite), "{}", invite.text);
}
