//! The customer agent and surveys over SIP (issue 6): a caller converses
//! with the embedded customer agent (utterances through a scripted
//! speech-to-text service speaking the documented interface), a trigger
//! hands the call to an agent, the caller answers the survey with RFC 4733
//! keys; delayed survey calls are placed at their time.

use crate::sip::{Served, count, finish, free_udp_port, uas, wait_for};
use crate::ua::{Msg, Phone, Rtp, stt_service};
use dialect_store::{SqliteStore, SurveyStore};
use serde_json::Value;
use std::net::UdpSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn has(events: &[Value], name: &str) -> bool {
    count(events, name) > 0
}

/// The server's RTP address from its SDP.
fn media_of(answer: &Msg) -> std::net::SocketAddr {
    let port = answer
        .text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("an audio port in the SDP");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn agent_config(name: &str, port: u16) -> String {
    format!(
        "[[agent]]\nname = \"{name}\"\nuri = \"sip:{name}@127.0.0.1:{port}\"\npassword = \"pw-{name}\"\n"
    )
}

/// Places a call from `caller` to `number` with the scripted phone; returns
/// the phone, the answer and the RTP sender.
fn call(served: &Served, caller: &str, number: &str, media: u16) -> (Phone, Msg, Rtp, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let mut phone = Phone::new(socket, served.port, "caller");
    let uri = format!("sip:{number}@127.0.0.1:{}", served.port);
    let local = format!("<sip:{caller}@127.0.0.1:{port}>;tag=cust1");
    phone.request(
        "INVITE",
        &uri,
        "customer-1",
        &local,
        &format!("<{uri}>"),
        "",
        Some(Phone::sdp(media)),
    );
    let ok = phone.expect("the answer", |m| m.status() == Some(200));
    phone.request(
        "ACK",
        &uri,
        "customer-1",
        &local,
        &ok.header("To"),
        "",
        None,
    );
    let rtp = Rtp::new(
        UdpSocket::bind(("127.0.0.1", media)).expect("bind RTP"),
        media_of(&ok),
    );
    (phone, ok, rtp, local)
}

#[test]
fn a_delayed_survey_call_is_placed_at_its_time_and_none_after_no_survey() {
    let dir = crate::build::scratch("sip-survey-outbound");
    let ann = free_udp_port();
    let trunk = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let trunk_port = trunk.local_addr().expect("addr").port();
    let config = format!(
        "{}[trunk]\nuri = \"sip:127.0.0.1:{trunk_port}\"\n",
        agent_config("ann", ann)
    );
    let clock = "2026-11-23T10:00:00[Europe/Warsaw]";
    let first = Served::start_in(
        dir.clone(),
        clock,
        31_000,
        &config,
        "tests/survey-scenarios/",
    );
    let agent = uas(
        "agent_hangs_up.xml",
        ann,
        &[
            "-mp",
            "31400",
            "-m",
            "2",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    // Two callers: one served normally, one through `no_survey`.
    for (number, media) in [("+48600100200", 31_600), ("+48225550001", 31_700)] {
        let inject = dir.join(format!("{media}.csv"));
        std::fs::write(&inject, format!("SEQUENTIAL\n{number};\n")).expect("injection file");
        let caller = first
            .caller("caller_waits.xml", "+48221008000", media)
            .arg("-inf")
            .arg(&inject)
            .args(["-m", "1", "-timeout", "60s", "-nostdin", "-trace_err"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the caller's SIPp starts");
        finish(caller, number);
    }
    finish(agent, "ann");
    let events = wait_for(&first, "two calls over", |e| {
        e.iter().filter(|e| e["event"] == "hangup").count() == 2
    });
    let scheduled: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "survey_scheduled")
        .collect();
    assert_eq!(
        scheduled.len(),
        1,
        "only the call without no_survey: {events:#?}"
    );
    assert_eq!(scheduled[0]["survey"], "std/survey.nps");
    // Stopped, and started again an hour later (less two seconds).
    drop(first);
    let later = "2026-11-23T10:59:58[Europe/Warsaw]";
    let second = Served::start_in(
        dir.clone(),
        later,
        32_000,
        &config,
        "tests/survey-scenarios/",
    );
    // The trunk (our phone) is called back; it answers and presses 1, 0.
    let mut customer = Phone::new(trunk, second.port, "customer");
    let invite = customer.expect("the survey call", |m| m.is_request("INVITE"));
    assert!(
        invite.first_line().contains("48600100200"),
        "{}",
        invite.first_line()
    );
    customer.reply(&invite, "200 OK", Some("cust9"), Some(32_900));
    customer.expect("the ACK", |m| m.is_request("ACK"));
    let mut rtp = Rtp::new(
        UdpSocket::bind("127.0.0.1:32900").expect("bind RTP"),
        media_of(&invite),
    );
    wait_for(&second, "the NPS question", |e| {
        e.iter().any(|e| {
            e["event"] == "prompt"
                && e["prompt"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("polecisz")
        })
    });
    rtp.key('1');
    rtp.key('0');
    let events = wait_for(&second, "the NPS answer", |e| has(e, "survey_answer"));
    let answer = events
        .iter()
        .find(|e| e["event"] == "survey_answer")
        .expect("answer");
    assert_eq!(answer["question"], "recommend");
    assert_eq!(answer["answer"], "10");
    // The customer hangs up during the comment.
    let ours = format!("{};tag=cust9", invite.header("To"));
    let uri = invite
        .header("Contact")
        .trim_matches(['<', '>'])
        .to_string();
    customer.request(
        "BYE",
        &uri,
        &invite.header("Call-ID"),
        &ours,
        &invite.header("From"),
        "",
        None,
    );
    customer.expect("the BYE's answer", |m| m.status().is_some_and(|s| s >= 200));
    wait_for(&second, "the survey call's end", |e| has(e, "hangup"));
    drop(second);
    let store = SqliteStore::open(dir.join("dialect.sqlite")).expect("the database");
    let answers = store.answers(None).expect("answers");
    assert!(
        answers
            .iter()
            .any(|a| a.question == "recommend" && a.answer.as_deref() == Some("10")),
        "{answers:?}"
    );
    let calls = store.scheduled_surveys().expect("scheduled");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, "done");
}

#[test]
fn an_external_bot_that_is_down_slow_or_talks_garbage_cannot_take_the_call() {
    let bot = crate::ua::http_service(
        vec![
            (500, "{\"error\": \"overloaded\"}".to_string()),
            (200, "<html>not json</html>".to_string()),
            (0, String::new()),
            (200, "{\"type\": \"dance\"}".to_string()),
        ],
        (200, "{\"type\": \"done\"}".to_string()),
        "bot",
    );
    let config = format!("[services.bots]\nremote = \"{bot}\"\n");
    let served = Served::start_flows(
        "external-bot",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        33_200,
        &config,
        "tests/customer-flows/",
    );
    for (i, media) in ["33400", "33500", "33600", "33700"].iter().enumerate() {
        let started = Instant::now();
        let out = served.sipp(
            "caller_bye_from_server.xml",
            "+48221006000",
            free_udp_port(),
            media.parse().unwrap(),
        );
        assert!(
            out.status.success(),
            "call {i}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // The slow one is given up after the bot's 2 s timeout.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "call {i} took {:?}",
            started.elapsed()
        );
    }
    let events = wait_for(&served, "four calls over", |e| {
        e.iter().filter(|e| e["event"] == "hangup").count() == 4
    });
    let why: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "bot_unavailable")
        .map(|e| e["why"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(why.len(), 4, "{events:#?}");
    assert!(why[0].contains("500"), "{why:?}");
    assert!(
        why[2].contains("time") || why[2].contains("answer"),
        "{why:?}"
    );
    for hangup in events.iter().filter(|e| e["event"] == "hangup") {
        assert_eq!(hangup["reason"], "bot down", "{hangup}");
    }
    crate::sip::assert_clean(&served);
}

#[test]
fn scheme7_converses_hands_off_on_a_phrase_and_the_caller_answers_the_survey() {
    // The scripted speech-to-text service hears a question, then a request
    // for a consultant.
    let stt = stt_service(vec![
        "Jak mogę zapłacić fakturę?",
        "Chcę rozmawiać z konsultantem",
    ]);
    let alice = free_udp_port();
    let config = format!(
        "{}[services]\nstt = \"{stt}\"\n",
        agent_config("alice", alice)
    );
    // Monday 10:00: the office is open.
    let served = Served::start_flows(
        "scheme7-voice",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        34_000,
        &config,
        "flows/",
    );
    let agent = uas(
        "agent_hangs_up.xml",
        alice,
        &[
            "-mp",
            "34400",
            "-m",
            "1",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let (mut phone, ok, mut rtp, local) = call(&served, "+48600100200", "+48221000007", 34_600);
    wait_for(&served, "the customer agent", |e| has(e, "bot_started"));
    // The question: the customer agent answers from its knowledge base.
    rtp.speech(1_200);
    rtp.silence(1_000);
    let events = wait_for(&served, "the answer", |e| {
        e.iter().any(|e| {
            e["event"] == "bot_said" && e["text"].as_str().unwrap_or_default().contains("przelewem")
        })
    });
    assert!(has(&events, "heard"));
    // The request for a person: a handoff to the first line's queue.
    rtp.speech(1_200);
    rtp.silence(1_000);
    let events = wait_for(&served, "the handoff", |e| has(e, "connected"));
    let handoff = events
        .iter()
        .find(|e| e["event"] == "handoff")
        .expect("handoff");
    assert!(
        handoff["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("human"),
        "{handoff}"
    );
    // alice talks, hangs up first; the caller stays for the survey.
    finish(agent, "alice");
    wait_for(&served, "the survey question", |e| {
        e.iter().any(|e| {
            e["event"] == "prompt"
                && e["prompt"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("oceniasz")
        })
    });
    rtp.key('5');
    let events = wait_for(&served, "the survey's end", |e| has(e, "survey_done"));
    let answer = events
        .iter()
        .find(|e| e["event"] == "survey_answer")
        .expect("answer");
    assert_eq!(answer["answer"], "5", "{answer}");
    // The flow ends: the runtime hangs up.
    let bye = phone.expect("the BYE", |m| m.is_request("BYE"));
    phone.reply(&bye, "200 OK", None, None);
    let _ = (ok, local);
    wait_for(&served, "the hang-up", |e| has(e, "hangup"));
    let heard: Vec<&Value> = events.iter().filter(|e| e["event"] == "heard").collect();
    assert_eq!(heard.len(), 2, "{events:#?}");
    // One call layer: the same words, in the same order, through `dialect
    // test` give the same events of the switch (the greeting, the answer,
    // the handoff and the queue).
    let events = served.events();
    let call = handoff["call"].as_str().expect("the call's id");
    let served_trace: Vec<&str> = events
        .iter()
        .filter(|e| e["call"] == call)
        .filter_map(|e| e["event"].as_str())
        .filter(|e| crate::sip::SWITCH_EVENTS.contains(e))
        .collect();
    let simulated = crate::sip::simulate(
        "flows",
        r#"dialled = "+48221000007"
caller = "+48600100200"
start = "2026-11-23T10:00:00[Europe/Warsaw]"
say = [{ at = "4s", text = "Jak mogę zapłacić fakturę?" }, { at = "12s", text = "Chcę rozmawiać z konsultantem" }]
agents = [{ name = "alice", answer_after = "1s", talk = "5s" }]
keys = [{ at = "40s", key = "5" }]
[scenario.expect]
handoff = "asks_for_human"
ended = "hangup""#,
    );
    assert!(
        simulated.passed(),
        "{:?}\n{:#?}",
        simulated.failures,
        simulated.trace
    );
    let simulated_trace: Vec<&str> = simulated.events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        served_trace,
        ["bot_started", "bot_said", "bot_said", "handoff", "queued"],
        "{events:#?}"
    );
    assert_eq!(served_trace, simulated_trace, "{:#?}", simulated.trace);
    let dir = served.dir.clone();
    drop(served);
    let store = SqliteStore::open(dir.join("dialect.sqlite")).expect("the database");
    let answers = store.answers(None).expect("answers");
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].answer.as_deref(), Some("5"));
    assert_eq!(answers[0].campaign, "scheme7");
}

pub(crate) type Socket =
    tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A WebSocket to the server's API address (`path`), with Basic credentials
/// for `agent` when given.
pub(crate) fn socket(served: &Served, path: &str, agent: Option<&str>) -> Socket {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}{path}", served.api)
        .into_client_request()
        .expect("request");
    if let Some(agent) = agent {
        let token = crate::acd::basic(agent);
        request.headers_mut().insert(
            "Authorization",
            format!("Basic {token}").parse().expect("header"),
        );
    }
    let (socket, _) = tungstenite::connect(request).expect("the WebSocket opens");
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
    }
    socket
}

/// The next JSON message whose `type` is `kind`.
pub(crate) fn next(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = socket
            .read()
            .unwrap_or_else(|e| panic!("waiting for {kind}: {e}"));
        if let tungstenite::Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).expect("JSON");
            if value["type"] == kind {
                return value;
            }
        }
    }
}

fn send(socket: &mut Socket, value: Value) {
    socket
        .send(tungstenite::Message::Text(value.to_string().into()))
        .expect("send");
}

#[test]
fn the_chat_channel_hands_off_live_to_an_agent_and_async_to_a_ticket() {
    let config = "[[agent]]\nname = \"ann\"\npassword = \"pw-ann\"\nrole = \"supervisor\"\n";
    let served = Served::start_flows(
        "chat",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        35_000,
        config,
        "tests/customer-flows/",
    );
    // ann opens her chat desk.
    let mut ann = socket(&served, "/api/agents/ann/chat", Some("ann"));
    std::thread::sleep(Duration::from_millis(200));
    // A customer chats with the live bot: a question, then a trigger.
    let mut jan = socket(&served, "/chat/web_live?name=Jan", None);
    let greeting = next(&mut jan, "message");
    assert_eq!(greeting["from"], "bot");
    assert!(
        greeting["text"]
            .as_str()
            .unwrap_or_default()
            .contains("help"),
        "{greeting}"
    );
    send(
        &mut jan,
        serde_json::json!({ "type": "message", "text": "How can I pay my invoice?" }),
    );
    let answer = next(&mut jan, "message");
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("bank transfer"),
        "{answer}"
    );
    send(
        &mut jan,
        serde_json::json!({ "type": "message", "text": "I want my REFUNDS now" }),
    );
    let connecting = next(&mut jan, "message");
    assert!(
        connecting["text"]
            .as_str()
            .unwrap_or_default()
            .contains("person"),
        "{connecting}"
    );
    let handoff = next(&mut jan, "handoff");
    assert_eq!(handoff["agent"], "ann");
    let assigned = next(&mut ann, "assigned");
    assert_eq!(assigned["customer"], "Jan");
    assert!(
        assigned["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("refund"),
        "{assigned}"
    );
    assert_eq!(
        assigned["transcript"].as_array().map(Vec::len),
        Some(4),
        "{assigned}"
    );
    let chat = assigned["chat"].as_u64().expect("chat id");
    // They talk; ann closes the chat.
    send(
        &mut ann,
        serde_json::json!({ "type": "message", "chat": chat, "text": "Hi Jan, I am Ann." }),
    );
    let from_ann = next(&mut jan, "message");
    assert_eq!(
        (from_ann["from"].as_str(), from_ann["text"].as_str()),
        (Some("agent"), Some("Hi Jan, I am Ann."))
    );
    send(
        &mut jan,
        serde_json::json!({ "type": "message", "text": "Thanks!" }),
    );
    let from_jan = next(&mut ann, "message");
    assert_eq!(from_jan["text"], "Thanks!");
    send(
        &mut ann,
        serde_json::json!({ "type": "close", "chat": chat }),
    );
    let closed = next(&mut jan, "closed");
    assert!(
        closed["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("agent"),
        "{closed}"
    );

    // Another customer, the asynchronous bot: asking for a human opens a
    // ticket for later.
    let mut eva = socket(&served, "/chat/web_async?name=Eva", None);
    next(&mut eva, "message");
    send(
        &mut eva,
        serde_json::json!({ "type": "message", "text": "Can I talk to a real person?" }),
    );
    let later = next(&mut eva, "message");
    assert!(
        later["text"]
            .as_str()
            .unwrap_or_default()
            .contains("get back"),
        "{later}"
    );
    let ticket = next(&mut eva, "ticket");
    let id = ticket["id"].as_i64().expect("ticket id");
    next(&mut eva, "closed");
    // A supervisor pauses the live bot: every chat goes to people.
    let (status, body) =
        crate::acd::http(&served.api, "POST", "/api/bots/web_live/pause", "ann", None);
    assert_eq!(status, 200, "{body}");
    let mut ola = socket(&served, "/chat/web_live?name=Ola", None);
    next(&mut ola, "message");
    send(
        &mut ola,
        serde_json::json!({ "type": "message", "text": "How can I pay my invoice?" }),
    );
    let assigned = next(&mut ann, "assigned");
    assert_eq!(assigned["customer"], "Ola");
    assert!(
        assigned["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("paused"),
        "{assigned}"
    );
    assert!(
        served
            .events()
            .iter()
            .any(|e| e["event"] == "bot_paused" && e["bot"] == "web_live")
    );
    let events = served.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "chat_assigned" && e["agent"] == "ann")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "ticket_opened" && e["ticket"] == id)
    );
    // Nobody at a desk: the live handoff stays unassigned, and the
    // handoff's `unassigned keep_open` keeps the chat open (its message, a
    // ticket, then waiting) until ann opens her desk again and takes it.
    drop(ann);
    std::thread::sleep(Duration::from_millis(300));
    let mut pia = socket(&served, "/chat/web_live?name=Pia", None);
    next(&mut pia, "message");
    send(
        &mut pia,
        serde_json::json!({ "type": "message", "text": "Hello?" }),
    );
    let unassigned = next(&mut pia, "message");
    assert!(
        unassigned["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Nobody is free"),
        "{unassigned}"
    );
    next(&mut pia, "ticket");
    next(&mut pia, "waiting");
    // ann gets back Ola, whom she had when she left, and Pia.
    let mut ann = socket(&served, "/api/agents/ann/chat", Some("ann"));
    let assigned = next(&mut ann, "assigned");
    assert_eq!(assigned["customer"], "Ola", "{assigned}");
    let assigned = next(&mut ann, "assigned");
    assert_eq!(assigned["customer"], "Pia", "{assigned}");
    let handoff = next(&mut pia, "handoff");
    assert_eq!(handoff["agent"], "ann");
    let dir = served.dir.clone();
    drop(served);
    let store = SqliteStore::open(dir.join("dialect.sqlite")).expect("the database");
    let tickets = dialect_store::TicketStore::tickets(&store).expect("tickets");
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    assert_eq!(tickets[0].channel, "chat");
    assert_eq!(tickets[0].customer, "Eva");
    assert_eq!(tickets[0].team.as_deref(), Some("web_team"));
    assert!(
        tickets[0]
            .transcript
            .iter()
            .any(|l| l.contains("real person")),
        "{:?}",
        tickets[0].transcript
    );
    assert_eq!(tickets[1].customer, "Pia");
}
