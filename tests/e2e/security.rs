//! The front end under attack (docs/security.md): each test does what an
//! attacker on the network would, with raw UDP, TCP and HTTP from another
//! port of 127.0.0.1 or from another loopback address, and names the attack.

use crate::sip::{Served, count, free_udp_port, wait_for};
use crate::ua::{Msg, Phone, Rtp, digest};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const OPEN: &str = "2026-11-23T09:00:00[Europe/Warsaw]";

/// A socket on `ip` (another loopback address is another host).
fn socket_on(ip: &str) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    socket
}

/// Datagrams `socket` receives within `wait`, as text.
fn receive(socket: &UdpSocket, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).to_string());
        }
    }
    got
}

/// A caller's phone in a call to `number`: the phone, the server's answer,
/// RTP from the phone's media socket (the SDP's address) to the server's.
struct Caller {
    phone: Phone,
    ok: Msg,
    rtp: Rtp,
    uri: String,
    local: String,
    call_id: String,
    server_media: SocketAddr,
}

fn call(served: &Served, number: &str, from: &str, call_id: &str) -> Caller {
    let media = socket_on("127.0.0.1");
    let media_port = media.local_addr().expect("addr").port();
    let socket = socket_on("127.0.0.1");
    let port = socket.local_addr().expect("addr").port();
    let mut phone = Phone::new(socket, served.port, "caller");
    let uri = format!("sip:{number}@127.0.0.1:{}", served.port);
    let local = format!("<sip:{from}@127.0.0.1:{port}>;tag={call_id}");
    phone.request(
        "INVITE",
        &uri,
        call_id,
        &local,
        &format!("<{uri}>"),
        "",
        Some(Phone::sdp(media_port)),
    );
    let ok = phone.expect("the answer", |m| m.status() == Some(200));
    phone.request("ACK", &uri, call_id, &local, &ok.header("To"), "", None);
    let server_port: u16 = ok
        .text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the answer's SDP names a media port");
    let server_media = SocketAddr::from(([127, 0, 0, 1], server_port));
    Caller {
        phone,
        ok,
        rtp: Rtp::new(media, server_media),
        uri,
        local,
        call_id: call_id.to_string(),
        server_media,
    }
}

impl Caller {
    fn hang_up(mut self) {
        let to = self.ok.header("To");
        self.phone
            .request("BYE", &self.uri, &self.call_id, &self.local, &to, "", None);
        self.phone.expect("200 to the BYE", |m| {
            m.status() == Some(200) && m.header("CSeq").contains("BYE")
        });
    }
}

/// A raw REGISTER for `user` from `port`, with `extra` header lines.
fn register(
    served: &Served,
    user: &str,
    port: u16,
    contact: &str,
    seq: u32,
    extra: &str,
) -> String {
    format!(
        "REGISTER sip:127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreg{user}{seq}{contact_len}\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{seq}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}-{port}\r\nCSeq: {seq} REGISTER\r\nContact: <{contact}>\r\nExpires: 600\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
        server = served.port,
        contact_len = contact.len(),
    )
}

/// Sends `text` from `socket` and returns the final answer.
fn exchange(socket: &UdpSocket, served: &Served, text: &str) -> Msg {
    socket
        .send_to(text.as_bytes(), ("127.0.0.1", served.port))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            let msg = Msg {
                text: String::from_utf8_lossy(&buf[..len]).to_string(),
            };
            if msg.status().is_some_and(|s| s >= 200) {
                return msg;
            }
        }
    }
    panic!("no final answer to:\n{text}");
}

#[test]
fn attack_rfc4733_keys_from_a_third_party_never_reach_the_callers_menu() {
    let served = Served::start("attack-rtp", OPEN, 45_000);
    let mut caller = call(&served, "+48221000002", "48600100200", "rtp-attack-1");
    // The caller's own media arrives first.
    caller.rtp.silence(200);
    // Another host, and another port of the caller's host, press 3.
    for ip in ["127.0.0.2", "127.0.0.1"] {
        let mut attacker = Rtp::new(socket_on(ip), caller.server_media);
        attacker.key('3');
    }
    std::thread::sleep(Duration::from_millis(800));
    let events = served.events();
    assert_eq!(
        count(&events, "digit"),
        0,
        "a stranger pressed a key: {events:#?}"
    );
    let status = served.status();
    assert!(
        status["rtp_foreign"].as_u64().unwrap_or(0) >= 16,
        "the strangers' packets are counted: {status}"
    );
    // The caller's own key still works.
    caller.rtp.key('2');
    let events = wait_for(&served, "the caller's key", |e| count(e, "digit") == 1);
    let digit = events
        .iter()
        .find(|e| e["event"] == "digit")
        .expect("digit");
    assert_eq!(digit["key"], "2");
    caller.hang_up();
}

#[test]
fn attack_a_forged_200_ok_from_another_address_does_not_take_the_agents_call() {
    let agent_socket = socket_on("127.0.0.1");
    let agent_port = agent_socket.local_addr().expect("addr").port();
    let served = Served::start_with(
        "attack-forged-200",
        OPEN,
        45_200,
        &format!("[[agent]]\nname = \"erin\"\nuri = \"sip:erin@127.0.0.1:{agent_port}\"\n"),
    );
    let mut agent = Phone::new(agent_socket, served.port, "erin");
    let mut caller = call(&served, "+48221000002", "48600100201", "forged-200-1");
    caller.rtp.silence(100);
    caller.rtp.key('2');
    let invite = agent.expect("the agent's INVITE", |m| m.is_request("INVITE"));
    // The attacker knows the branch (or guessed it) and answers first, from
    // another port, with its own media address.
    let attacker = socket_on("127.0.0.1");
    let attacker_port = attacker.local_addr().expect("addr").port();
    let body = Phone::sdp(attacker_port);
    let forged = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=forged\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:erin@127.0.0.1:{attacker_port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        invite.header("Via"),
        invite.header("From"),
        invite.header("To"),
        invite.header("Call-ID"),
        invite.header("CSeq"),
        body.len()
    );
    attacker
        .send_to(forged.as_bytes(), ("127.0.0.1", served.port))
        .expect("send");
    let heard = receive(&attacker, Duration::from_millis(1_500));
    assert!(
        heard.iter().all(|m| !m.starts_with("ACK")),
        "the forged answer was acknowledged: {heard:?}"
    );
    let events = served.events();
    assert_eq!(count(&events, "connected"), 0, "{events:#?}");
    let status = served.status();
    assert!(
        status["dropped"]["foreign_response"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
    // The real agent answers and gets the call.
    agent.reply(&invite, "200 OK", Some("erin1"), Some(45_390));
    agent.expect("the ACK", |m| m.is_request("ACK"));
    wait_for(&served, "the agent connected", |e| {
        count(e, "connected") == 1
    });
    caller.hang_up();
    let bye = agent.expect("the agent's BYE", |m| m.is_request("BYE"));
    agent.reply(&bye, "200 OK", None, None);
}

/// A server with a trunk (a socket that records what reaches it) and an
/// agent `alice` with a password, rung at `alice`'s socket.
fn with_trunk(name: &str, media_base: u16, extra: &str) -> (Served, UdpSocket, UdpSocket) {
    let trunk = socket_on("127.0.0.1");
    let alice = socket_on("127.0.0.1");
    let served = Served::start_flows(
        name,
        OPEN,
        media_base,
        &format!(
            "[trunk]\nuri = \"sip:127.0.0.1:{}\"\n[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:{}\"\npassword = \"pw-ann\"\n[[agent]]\nname = \"cid\"\nuri = \"sip:cid@127.0.0.1:{}\"\n{extra}",
            trunk.local_addr().expect("addr").port(),
            alice.local_addr().expect("addr").port(),
            free_udp_port(),
        ),
        "tests/acd-flows/",
    );
    (served, trunk, alice)
}

/// A consultation INVITE claiming to come from `agent`, to `target`.
fn consult_invite(
    served: &Served,
    port: u16,
    agent: &str,
    target: &str,
    n: u32,
    extra: &str,
) -> String {
    let sdp = Phone::sdp(port + 2);
    format!(
        "INVITE sip:{target}@127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKtoll{n}\r\nFrom: <sip:{agent}@127.0.0.1:{port}>;tag=toll{n}\r\nTo: <sip:{target}@127.0.0.1>\r\nCall-ID: toll-{port}\r\nCSeq: {n} INVITE\r\nContact: <sip:{agent}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        server = served.port,
    )
}

#[test]
fn attack_toll_fraud_an_invite_claiming_to_be_an_agent_places_no_call_through_the_trunk() {
    let (served, trunk, _alice) = with_trunk("attack-toll", 45_400, "");
    let attacker = socket_on("127.0.0.1");
    let port = attacker.local_addr().expect("addr").port();
    let uri = "sip:+48601999888@127.0.0.1";
    // Claiming to be ann (who has a password): challenged.
    let answer = exchange(
        &attacker,
        &served,
        &consult_invite(&served, port, "ann", "+48601999888", 1, ""),
    );
    assert_eq!(answer.status(), Some(407), "{}", answer.text);
    assert!(
        answer.header("Proxy-Authenticate").contains("Digest"),
        "{}",
        answer.text
    );
    // A guessed password is refused.
    let guess = digest(&answer, "INVITE", uri, "ann", "password1", 1);
    let answer = exchange(
        &attacker,
        &served,
        &consult_invite(&served, port, "ann", "+48601999888", 2, &guess),
    );
    assert_eq!(answer.status(), Some(403), "{}", answer.text);
    // Claiming to be cid (configured by uri alone) from an untrusted address.
    let answer = exchange(
        &attacker,
        &served,
        &consult_invite(&served, port, "cid", "+48601999888", 3, ""),
    );
    assert_eq!(answer.status(), Some(403), "{}", answer.text);
    // Nobody: the same challenge as for an agent (names are not told).
    let answer = exchange(
        &attacker,
        &served,
        &consult_invite(&served, port, "mallory", "+48601999888", 4, ""),
    );
    assert_eq!(answer.status(), Some(407), "{}", answer.text);
    let reached = receive(&trunk, Duration::from_millis(1_000));
    assert!(reached.is_empty(), "the trunk was dialled: {reached:?}");
    assert_eq!(served.status()["calls"], 0);
}

#[test]
fn an_authenticated_agent_consults_through_the_trunk_within_the_dial_plan_only() {
    let (served, trunk, _alice) = with_trunk("dial-plan", 45_600, "");
    let phone_socket = socket_on("127.0.0.1");
    let port = phone_socket.local_addr().expect("addr").port();
    let mut ann = Phone::new(phone_socket, served.port, "ann");
    let consult = |ann: &mut Phone, number: &str, call_id: &str| {
        let uri = format!("sip:{number}@127.0.0.1:{}", served.port);
        let local = format!("<sip:ann@127.0.0.1:{port}>;tag={call_id}");
        let to = format!("<{uri}>");
        ann.request(
            "INVITE",
            &uri,
            call_id,
            &local,
            &to,
            "",
            Some(Phone::sdp(port + 2)),
        );
        let challenge = ann.expect("the challenge", |m| m.status() == Some(407));
        ann.ack_failure(&challenge, &uri);
        let auth = digest(&challenge, "INVITE", &uri, "ann", "pw-ann", 1);
        ann.request(
            "INVITE",
            &uri,
            call_id,
            &local,
            &to,
            &auth,
            Some(Phone::sdp(port + 2)),
        );
    };
    // An international number is not in the dial plan: nothing is dialled.
    consult(&mut ann, "+441632960001", "intl-1");
    let events = wait_for(&served, "the refusal", |e| count(e, "dial_refused") == 1);
    let refused = events
        .iter()
        .find(|e| e["event"] == "dial_refused")
        .expect("refused");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("international"),
        "{refused}"
    );
    assert!(
        refused["call"]
            .as_str()
            .unwrap_or_default()
            .starts_with("call-"),
        "the refusal names the call: {refused}"
    );
    // A premium-rate number neither.
    consult(&mut ann, "+48700123456", "premium-1");
    wait_for(&served, "the second refusal", |e| {
        count(e, "dial_refused") == 2
    });
    let reached = receive(&trunk, Duration::from_millis(500));
    assert!(
        reached.iter().all(|m| !m.starts_with("INVITE")),
        "the trunk was dialled: {reached:?}"
    );
    // A national number is dialled.
    consult(&mut ann, "+48221234567", "national-1");
    let reached = receive(&trunk, Duration::from_millis(2_000));
    assert!(
        reached
            .iter()
            .any(|m| m.starts_with("INVITE sip:48221234567@")),
        "the trunk got no INVITE: {reached:?}"
    );
}

#[test]
fn attack_a_replayed_register_cannot_move_the_agents_calls() {
    let served = Served::start_with(
        "attack-replay",
        OPEN,
        45_800,
        "[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n",
    );
    let phone = socket_on("127.0.0.1");
    let port = phone.local_addr().expect("addr").port();
    let contact = format!("sip:erin@127.0.0.1:{port}");
    let challenge = exchange(
        &phone,
        &served,
        &register(&served, "erin", port, &contact, 1, ""),
    );
    assert_eq!(challenge.status(), Some(401), "{}", challenge.text);
    let auth = digest(
        &challenge,
        "REGISTER",
        &format!("sip:127.0.0.1:{}", served.port),
        "erin",
        "s3cret",
        1,
    );
    let ok = exchange(
        &phone,
        &served,
        &register(&served, "erin", port, &contact, 2, &auth),
    );
    assert_eq!(ok.status(), Some(200), "{}", ok.text);
    // The attacker captured that REGISTER and sends it again, from
    // elsewhere, with its own Contact.
    let attacker = socket_on("127.0.0.2");
    let evil = "sip:erin@127.0.0.2:5060";
    let replay = exchange(
        &attacker,
        &served,
        &register(&served, "erin", port, evil, 3, &auth),
    );
    assert_ne!(
        replay.status(),
        Some(200),
        "a replay was accepted: {}",
        replay.text
    );
    // A nonce of the attacker's own making is refused too.
    let forged = auth.replace("nonce=\"", "nonce=\"0000");
    let answer = exchange(
        &attacker,
        &served,
        &register(&served, "erin", port, evil, 4, &forged),
    );
    assert_eq!(answer.status(), Some(403), "{}", answer.text);
    let events = served.events();
    let registered: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "agent_registered")
        .collect();
    assert_eq!(registered.len(), 1, "{events:#?}");
    assert_eq!(registered[0]["contact"], contact.as_str());
}

#[test]
fn attack_registration_unknown_names_look_like_wrong_passwords_and_bindings_are_checked_and_expire()
{
    let trunk_port = free_udp_port();
    let served = Served::start_with(
        "attack-register",
        OPEN,
        46_000,
        &format!(
            "[sip]\nmin_expires = 2\nmax_expires = 3\n[trunk]\nuri = \"sip:127.0.0.1:{trunk_port}\"\n[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n"
        ),
    );
    let phone = socket_on("127.0.0.1");
    let port = phone.local_addr().expect("addr").port();
    let server_uri = format!("sip:127.0.0.1:{}", served.port);
    // An unknown name and a known one get the same answers.
    let mut answers = Vec::new();
    for (n, user) in ["erin", "mallory"].iter().enumerate() {
        let contact = format!("sip:{user}@127.0.0.1:{port}");
        let seq = n as u32 * 10;
        let challenge = exchange(
            &phone,
            &served,
            &register(&served, user, port, &contact, seq + 1, ""),
        );
        let auth = digest(&challenge, "REGISTER", &server_uri, user, "wrong", 1);
        let refusal = exchange(
            &phone,
            &served,
            &register(&served, user, port, &contact, seq + 2, &auth),
        );
        answers.push((
            challenge.first_line().to_string(),
            refusal.first_line().to_string(),
        ));
    }
    assert_eq!(answers[0], answers[1], "the answers tell which names exist");
    assert_eq!(answers[0].1, "SIP/2.0 403 Forbidden");
    // A Contact pointing at the trunk, or at the server itself, is refused.
    let mut seq = 100;
    let mut registered = |contact: &str, extra: &str| {
        seq += 2;
        let challenge = exchange(
            &phone,
            &served,
            &register(&served, "erin", port, contact, seq, extra),
        );
        let auth = digest(&challenge, "REGISTER", &server_uri, "erin", "s3cret", 1);
        exchange(
            &phone,
            &served,
            &register(
                &served,
                "erin",
                port,
                contact,
                seq + 1,
                &format!("{auth}{extra}"),
            ),
        )
    };
    for contact in [
        format!("sip:erin@127.0.0.1:{trunk_port}"),
        format!("sip:erin@127.0.0.1:{}", served.port),
        "sip:erin@224.0.0.1:5060".to_string(),
    ] {
        let answer = registered(&contact, "");
        assert_eq!(answer.status(), Some(403), "{contact}: {}", answer.text);
    }
    // A good one is granted at most max_expires, and expires.
    let good = format!("sip:erin@127.0.0.1:{port}");
    let answer = registered(&good, "");
    assert_eq!(answer.status(), Some(200), "{}", answer.text);
    assert_eq!(answer.header("Expires"), "3", "{}", answer.text);
    wait_for(&served, "the binding to expire", |e| {
        count(e, "agent_registration_expired") == 1
    });
    assert!(
        served
            .events()
            .iter()
            .any(|e| e["event"] == "agent_registration_expired" && e["agent"] == "erin")
    );
}

#[test]
fn attack_password_guessing_is_throttled_on_sip_and_on_the_agent_api() {
    let served = Served::start_with(
        "attack-guessing",
        OPEN,
        46_200,
        "[api]\nlogin_failures = 3\nlogin_lockout_s = 60\n[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n",
    );
    let phone = socket_on("127.0.0.1");
    let port = phone.local_addr().expect("addr").port();
    let server_uri = format!("sip:127.0.0.1:{}", served.port);
    let contact = format!("sip:erin@127.0.0.1:{port}");
    let mut last = String::new();
    for n in 0..4u32 {
        let challenge = exchange(
            &phone,
            &served,
            &register(&served, "erin", port, &contact, n * 2 + 1, ""),
        );
        if challenge.status() != Some(401) {
            last = challenge.text;
            break;
        }
        let auth = digest(
            &challenge,
            "REGISTER",
            &server_uri,
            "erin",
            &format!("guess{n}"),
            1,
        );
        let answer = exchange(
            &phone,
            &served,
            &register(&served, "erin", port, &contact, n * 2 + 2, &auth),
        );
        last = answer.text.clone();
    }
    let last = Msg { text: last };
    assert_eq!(last.status(), Some(503), "locked out: {}", last.text);
    assert!(!last.header("Retry-After").is_empty(), "{}", last.text);
    // The agent API: Basic guesses, then even the right password waits.
    let basic = |password: &str| {
        let auth = crate::acd::base64(format!("erin:{password}").as_bytes());
        let mut stream = TcpStream::connect(&served.api).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let request = format!(
            "GET /api/agents/erin HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.split(' ').nth(1).unwrap_or_default().to_string()
    };
    // (The SIP guesses already locked the name.)
    assert_eq!(basic("s3cret"), "429");
    let status = served.status();
    assert!(
        status["logins_failed"].as_u64().unwrap_or(0) >= 3,
        "{status}"
    );
    assert!(
        status["logins_throttled"].as_u64().unwrap_or(0) >= 2,
        "{status}"
    );
    let events = served.events();
    assert!(count(&events, "login_failed") >= 3, "{events:#?}");
}

#[test]
fn attack_a_request_flood_from_one_source_is_answered_503_then_dropped_while_others_are_served() {
    let served = Served::start_with(
        "attack-flood",
        OPEN,
        46_400,
        "[sip]\nrate_limit = 20\nrate_burst = 40\n",
    );
    let flood = socket_on("127.0.0.2");
    let started = Instant::now();
    for n in 0..1_000 {
        let options = format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKflood{n}\r\nFrom: <sip:a@127.0.0.2>;tag=f{n}\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: flood-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = flood.send_to(options.as_bytes(), ("127.0.0.1", served.port));
        // 10,000 a second: paced, so that the kernel's buffers keep them.
        std::thread::sleep(Duration::from_micros(100));
    }
    let seconds = started.elapsed().as_secs() as usize;
    let answers = receive(&flood, Duration::from_millis(1_500));
    let ok = answers
        .iter()
        .filter(|m| m.starts_with("SIP/2.0 200"))
        .count();
    let busy: Vec<&String> = answers
        .iter()
        .filter(|m| m.starts_with("SIP/2.0 503"))
        .collect();
    // The burst, then the rate: what passes is bounded by time, not by
    // what the flood sends.
    let passed = 40 + 20 * (seconds + 1);
    assert!(ok <= passed, "{ok} of the flood were served");
    // Refusals are answered once a second; the rest are dropped unanswered.
    assert!(
        !busy.is_empty() && busy.len() <= seconds + 2,
        "{} refusals in {seconds} s",
        busy.len()
    );
    assert!(busy[0].contains("Retry-After:"), "{}", busy[0]);
    // Another source is served meanwhile.
    let status = served.status();
    assert!(
        status["dropped"]["rate_limited"].as_u64().unwrap_or(0) >= 500,
        "{status}"
    );
    assert!(
        status["transactions"].as_u64().unwrap_or(u64::MAX) <= passed as u64 + 5,
        "{status}"
    );
}

#[test]
fn attack_transaction_exhaustion_is_capped_with_503() {
    let served = Served::start_with(
        "attack-transactions",
        OPEN,
        46_600,
        "[sip]\nmax_transactions = 100\ntrusted = [\"127.0.0.0/8\"]\n",
    );
    let flood = socket_on("127.0.0.3");
    for n in 0..300 {
        let options = format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5999;branch=z9hG4bKtx{n}\r\nFrom: <sip:a@127.0.0.3>;tag=t{n}\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: tx-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = flood.send_to(options.as_bytes(), ("127.0.0.1", served.port));
        std::thread::sleep(Duration::from_micros(200));
    }
    let answers = receive(&flood, Duration::from_millis(1_500));
    let busy = answers
        .iter()
        .filter(|m| m.starts_with("SIP/2.0 503"))
        .count();
    let status = served.status();
    // (Our socket's buffer may lose some answers: the server's count is
    // the proof, the answers show they are sent.)
    assert!(busy >= 50, "{busy} refusals of {}: {status}", answers.len());
    assert!(
        status["transactions"].as_u64().unwrap_or(u64::MAX) <= 100,
        "{status}"
    );
    assert!(
        status["dropped"]["transactions_full"].as_u64().unwrap_or(0) >= 150,
        "{status}"
    );
}

#[test]
fn attack_tcp_connections_are_capped_idle_ones_closed_and_the_server_keeps_accepting() {
    let served = Served::start_with(
        "attack-tcp",
        OPEN,
        46_800,
        "[sip]\nmax_connections = 4\nidle_timeout_s = 1\n",
    );
    let open = |n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|_| {
                let s = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(3)))
                    .expect("timeout");
                s
            })
            .collect()
    };
    let mut held = open(4);
    std::thread::sleep(Duration::from_millis(200));
    // A fifth is closed at once.
    let mut fifth = open(1).pop().expect("one");
    let mut buf = [0u8; 64];
    assert_eq!(
        fifth.read(&mut buf).unwrap_or(0),
        0,
        "the fifth connection stays open"
    );
    // Idle ones are closed after the timeout.
    let started = Instant::now();
    assert_eq!(held[0].read(&mut buf).unwrap_or(0), 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    held.clear();
    std::thread::sleep(Duration::from_millis(1_500));
    // The server still accepts and answers over TCP.
    let mut stream = open(1).pop().expect("one");
    let local = stream.local_addr().expect("addr");
    let options = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp1\r\nFrom: <sip:a@127.0.0.1>;tag=t\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: tcp-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(options.as_bytes()).expect("send");
    let mut answer = [0u8; 2048];
    let len = stream.read(&mut answer).expect("an answer");
    assert!(String::from_utf8_lossy(&answer[..len]).starts_with("SIP/2.0 200"));
    let status = served.status();
    assert!(
        status["dropped"]["tcp_full"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
}

/// SplitMix64's output function and its inverse: the generator the server
/// used to make its identifiers with, seeded from the clock and the pid.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unmix(mut z: u64) -> u64 {
    let unshift = |z: u64, s: u32| {
        let mut x = z;
        for _ in 0..64 / s + 1 {
            x = z ^ (x >> s);
        }
        x
    };
    let inverse = |a: u64| {
        let mut x = a;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    };
    z = unshift(z, 31);
    z = unshift(z.wrapping_mul(inverse(0x94D0_49BB_1331_11EB)), 27);
    unshift(z.wrapping_mul(inverse(0xBF58_476D_1CE4_E5B9)), 30)
}

#[test]
fn attack_the_next_branch_cannot_be_computed_from_an_observed_tag() {
    assert_eq!(unmix(mix(0x0123_4567_89ab_cdef)), 0x0123_4567_89ab_cdef);
    let agent_socket = socket_on("127.0.0.1");
    let agent_port = agent_socket.local_addr().expect("addr").port();
    let served = Served::start_with(
        "attack-predict",
        OPEN,
        47_000,
        &format!("[[agent]]\nname = \"erin\"\nuri = \"sip:erin@127.0.0.1:{agent_port}\"\n"),
    );
    let mut agent = Phone::new(agent_socket, served.port, "erin");
    let mut caller = call(&served, "+48221000002", "48600100202", "predict-1");
    // The attacker saw the To tag of the answer: with SplitMix64 that is
    // one output, so the generator's state, so every later identifier.
    let tag = caller.ok.tag("To");
    let predicted: Vec<String> = match u64::from_str_radix(&tag, 16) {
        Ok(output) if tag.len() == 16 => {
            let state = unmix(output);
            (1..200u64)
                .map(|k| {
                    format!(
                        "{:016x}",
                        mix(state.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
                    )
                })
                .collect()
        }
        _ => Vec::new(),
    };
    caller.rtp.silence(100);
    caller.rtp.key('2');
    let invite = agent.expect("the agent's INVITE", |m| m.is_request("INVITE"));
    let via = invite.header("Via");
    let branch = via
        .split("branch=z9hG4bK")
        .nth(1)
        .map(|b| b.split(';').next().unwrap_or_default().to_string())
        .expect("a branch");
    assert!(
        !predicted.contains(&branch),
        "the agent INVITE's branch {branch} was computed from the To tag {tag}"
    );
    assert!(
        branch.len() >= 24,
        "a branch of {} hex digits",
        branch.len()
    );
    agent.reply(&invite, "486 Busy Here", Some("busy"), None);
    caller.hang_up();
}

#[test]
fn attack_an_agent_cannot_change_anothers_callbacks_or_pause_a_bot() {
    let config = "[[agent]]\nname = \"ann\"\npassword = \"pw-ann\"\nready = false\n\
                  [[agent]]\nname = \"ben\"\npassword = \"pw-ben\"\nready = false\n\
                  [[agent]]\nname = \"cid\"\npassword = \"pw-cid\"\nready = false\n\
                  [[agent]]\nname = \"dan\"\npassword = \"pw-dan\"\nready = false\nrole = \"supervisor\"\n";
    let served = Served::start_flows(
        "attack-agent-api",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        47_200,
        config,
        "tests/acd-flows/",
    );
    let http = |method: &str, path: &str, agent: &str, body: Option<&str>| {
        crate::acd::http(&served.api, method, path, agent, body)
    };
    let body = r#"{"kind": "scheduled", "number": "+48600100300", "name": "Jan Kowalski", "start": "2026-11-23T11:00", "zone": "Europe/Warsaw", "queue": "support", "reason": "invoice"}"#;
    let (status, reply) = http("POST", "/api/callbacks", "ann", Some(body));
    assert_eq!(status, 201, "{reply}");
    let id = reply["callback"]["id"].as_i64().expect("id");
    let path = format!("/api/callbacks/{id}");
    // cid serves only escalation: neither ann's callback nor its queue.
    let moved = body.replace("11:00", "11:30");
    let (status, reply) = http("PUT", &path, "cid", Some(&moved));
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = http("DELETE", &path, "cid", None);
    assert_eq!(status, 403, "{reply}");
    // Pausing a bot needs a supervisor.
    let (status, reply) = http("POST", "/api/bots/anything/pause", "ben", None);
    assert_eq!(status, 403, "{reply}");
    // ben shares ann's queue: he may move it; dan, a supervisor, cancels it.
    let (status, reply) = http("PUT", &path, "ben", Some(&moved));
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = http("DELETE", &path, "dan", None);
    assert_eq!(status, 200, "{reply}");
}

/// Voicemail of scheme 3 (key 3) from a registered customer's number.
fn leave_voicemail(served: &Served, call_id: &str, hang_up_while_recording: bool) {
    let before = count(&served.events(), "prompt");
    let mut caller = call(served, "+48221000003", "+48601234567", call_id);
    caller.rtp.silence(200);
    // Two recorded prompts, then the menu's spoken one.
    wait_for(served, "the menu", |e| count(e, "prompt") >= before + 3);
    caller.rtp.key('3');
    std::thread::sleep(Duration::from_millis(3_500));
    caller.rtp.speech(1_000);
    if hang_up_while_recording {
        caller.hang_up();
    }
}

#[test]
fn a_voicemail_ended_by_the_callers_hang_up_is_indexed_and_a_restart_overwrites_nothing() {
    let dir = crate::build::scratch("sip-voicemail-durable");
    let mut files = Vec::new();
    for (run, base) in [(1, 47_400u16), (2, 47_600)] {
        let served = Served::start_in(dir.clone(), OPEN, base, "", "flows/");
        leave_voicemail(&served, &format!("vm-{run}"), true);
        // The event log is the data directory's, kept across the runs.
        let events = wait_for(&served, "the voicemail", |e| count(e, "voicemail") == run);
        let vm = events
            .iter()
            .rfind(|e| e["event"] == "voicemail")
            .expect("voicemail");
        let file = vm["file"].as_str().expect("a file").to_string();
        assert!(std::path::Path::new(&file).is_file(), "{file}");
        files.push(file);
        drop(served);
    }
    assert_ne!(files[0], files[1], "the second run reused the first's name");
    let store = dialect_store::SqliteStore::open(dir.join("dialect.sqlite")).expect("store");
    let index = dialect_store::RecordStore::voicemails(&store).expect("index");
    let paths: Vec<&str> = index.iter().map(|(_, _, _, p)| p.as_str()).collect();
    for file in &files {
        assert!(
            paths.contains(&file.as_str()),
            "{file} is not indexed: {index:?}"
        );
        let len = std::fs::metadata(file).expect("file").len();
        assert!(len > 44 + 8_000, "{file} holds {len} bytes");
    }
    let calls: Vec<&str> = index.iter().map(|(c, _, _, _)| c.as_str()).collect();
    assert_ne!(
        calls[0], calls[1],
        "index rows of two runs share a call id: {calls:?}"
    );
}

#[test]
fn baresip_registers_with_digest_and_answers_as_an_agent() {
    let served = Served::start_with(
        "baresip-agent",
        OPEN,
        47_800,
        "[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n",
    );
    // The agent's phone registers (digest, 10 minutes) and answers by itself.
    let profile = crate::sip::baresip_profile(
        &served,
        "47900-47999",
        &format!(
            "<sip:erin@127.0.0.1:{}>;auth_pass=s3cret;regint=600;answermode=auto;audio_codecs=PCMU",
            served.port
        ),
        "",
    );
    let log_path = profile.join("out.log");
    let log = std::fs::File::create(&log_path).expect("baresip log");
    let mut baresip = std::process::Command::new("baresip")
        .arg("-f")
        .arg(&profile)
        .args(["-t", "40"])
        .stdin(std::process::Stdio::piped())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("baresip starts");
    let said = || {
        format!(
            "baresip said:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    };
    let events = crate::sip::wait_for_explained(&served, "baresip's registration", said, |e| {
        count(e, "agent_registered") == 1
    });
    let registered = events
        .iter()
        .find(|e| e["event"] == "agent_registered")
        .expect("registered");
    assert_eq!(registered["agent"], "erin");
    assert_eq!(registered["expires"], 600);
    let mut caller = call(&served, "+48221000002", "48600100203", "baresip-agent-1");
    caller.rtp.silence(200);
    caller.rtp.key('2');
    let events = crate::sip::wait_for_explained(&served, "baresip to answer", said, |e| {
        count(e, "connected") == 1
    });
    let connected = events
        .iter()
        .find(|e| e["event"] == "connected")
        .expect("connected");
    assert_eq!(connected["agent"], "erin");
    // Talk a little, then the caller hangs up.
    caller.rtp.speech(1_000);
    caller.hang_up();
    wait_for(&served, "the agent's wrap-up", |e| {
        count(e, "wrap_up_started") == 1
    });
    if let Some(stdin) = baresip.stdin.as_mut() {
        let _ = stdin.write_all(b"q");
    }
    let _ = baresip.wait();
    crate::sip::assert_clean(&served);
}

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files in
/// `dir`; returns a TLS client configuration that trusts it.
fn self_signed(dir: &std::path::Path) -> (String, std::sync::Arc<rustls::ClientConfig>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).expect("trusted");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        format!(
            "[tls]\ncertificate = \"{}\"\nkey = \"{}\"\nsip_listen = \"127.0.0.1:0\"\n",
            cert.display(),
            key.display()
        ),
        std::sync::Arc::new(client),
    )
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(client: &std::sync::Arc<rustls::ClientConfig>, to: &str) -> TlsStream {
    let tcp = TcpStream::connect(to).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let connection = rustls::ClientConnection::new(client.clone(), name).expect("client");
    rustls::StreamOwned::new(connection, tcp)
}

/// Reads SIP messages off a stream until one whose first line starts with
/// `first`; returns it.
fn read_sip(stream: &mut impl Read, pending: &mut Vec<u8>, first: &str) -> Msg {
    loop {
        // Whole messages already read.
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if pending.len() < end + 4 + length {
                break;
            }
            let message: Vec<u8> = pending.drain(..end + 4 + length).collect();
            let msg = Msg {
                text: String::from_utf8_lossy(&message).to_string(),
            };
            if msg.first_line().starts_with(first) {
                return msg;
            }
        }
        let mut buf = [0u8; 8192];
        let n = stream.read(&mut buf).expect("the server answers over TLS");
        assert!(n > 0, "the TLS connection closed while waiting for {first}");
        pending.extend_from_slice(&buf[..n]);
    }
}

/// A caller over SIP over TLS, in a call to scheme 2.
struct TlsCaller {
    stream: TlsStream,
    pending: Vec<u8>,
    local: SocketAddr,
    uri: String,
    call_id: &'static str,
    to: String,
}

impl TlsCaller {
    /// Calls with the SDP `body`: INVITE, the 200 (returned), ACK.
    fn call(
        served: &Served,
        client: &std::sync::Arc<rustls::ClientConfig>,
        call_id: &'static str,
        body: &str,
    ) -> (TlsCaller, Msg) {
        let sips = served.tls.expect("SIP over TLS listens").to_string();
        let stream = tls_connect(client, &sips);
        let local = stream.sock.local_addr().expect("addr");
        let uri = format!("sips:48221000002@{sips}");
        let to = format!("<{uri}>");
        let mut caller = TlsCaller {
            stream,
            pending: Vec::new(),
            local,
            uri,
            call_id,
            to,
        };
        caller.send("INVITE", 1, body);
        let ok = read_sip(&mut caller.stream, &mut caller.pending, "SIP/2.0 200");
        caller.to = ok.header("To");
        caller.send("ACK", 1, "");
        (caller, ok)
    }

    fn send(&mut self, method: &str, seq: u32, body: &str) {
        let (uri, local, to, call_id) = (&self.uri, self.local, &self.to, self.call_id);
        let request = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK{call_id}{method}{seq}\r\nFrom: <sips:48600100200@{local}>;tag={call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\nContact: <sips:caller@{local};transport=tls>\r\nMax-Forwards: 70\r\n{}Content-Length: {}\r\n\r\n{body}",
            if body.is_empty() {
                ""
            } else {
                "Content-Type: application/sdp\r\n"
            },
            body.len()
        );
        self.stream.write_all(request.as_bytes()).expect("send");
    }

    /// BYE, and its 200.
    fn hang_up(mut self) {
        self.send("BYE", 2, "");
        let bye = read_sip(&mut self.stream, &mut self.pending, "SIP/2.0 200");
        assert!(bye.header("CSeq").contains("BYE"), "{}", bye.text);
    }
}

#[test]
fn sip_over_tls_and_the_apis_over_https_with_a_self_signed_certificate() {
    let dir = crate::build::scratch("tls-certificate");
    let (tls, client) = self_signed(&dir);
    let served = Served::start_with(
        "tls",
        OPEN,
        48_000,
        &format!("{tls}[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n"),
    );
    // The agent API over HTTPS.
    let mut https = tls_connect(&client, &served.api);
    let auth = crate::acd::base64(b"erin:s3cret");
    https
        .write_all(
            format!("GET /api/agents/erin HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("send");
    let mut answer = String::new();
    let _ = https.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Plain HTTP to the same port gets no answer.
    let mut plain = TcpStream::connect(&served.api).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(b"GET /api/agents/erin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A call over SIP over TLS: INVITE, 200, ACK, BYE.
    let media = socket_on("127.0.0.1");
    let body = Phone::sdp(media.local_addr().expect("addr").port());
    let (caller, _) = TlsCaller::call(&served, &client, "tls-call-1", &body);
    wait_for(&served, "the answer", |e| count(e, "answered") == 1);
    caller.hang_up();
    crate::sip::assert_clean(&served);
}

#[test]
fn attack_huge_chat_messages_and_chats_without_end_from_one_host_are_refused() {
    use crate::customer::{next, socket};
    let served = Served::start_flows(
        "attack-chat",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        48_200,
        "",
        "tests/customer-flows/",
    );
    // A 1 MiB message closes the socket before it is buffered whole.
    let mut big = socket(&served, "/chat/web_live?name=Big", None);
    next(&mut big, "message");
    let huge = format!(
        r#"{{"type": "message", "text": "{}"}}"#,
        "a".repeat(1 << 20)
    );
    let _ = big.send(tungstenite::Message::Text(huge.into()));
    let mut closed = false;
    for _ in 0..20 {
        match big.read() {
            Ok(tungstenite::Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "a 1 MiB chat message was taken");
    // One host opens chats until refused: at most 16 at once.
    let mut open = Vec::new();
    let refused = loop {
        use tungstenite::client::IntoClientRequest;
        let request = format!("ws://{}/chat/web_live?name=Flood", served.api)
            .into_client_request()
            .expect("request");
        match tungstenite::connect(request) {
            Ok((socket, _)) => open.push(socket),
            Err(tungstenite::Error::Http(response)) => break response.status().as_u16(),
            Err(other) => panic!("unexpected: {other}"),
        }
        assert!(open.len() <= 16, "{} chats open from one host", open.len());
    };
    assert_eq!(refused, 429);
    assert_eq!(open.len(), 16);
    // One ends; another may open.
    drop(open.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = socket(&served, "/chat/web_live?name=Again", None);
    next(&mut again, "message");
}

#[test]
fn attack_slowloris_headers_are_cut_off_and_api_connections_are_capped() {
    let served = Served::start_with(
        "attack-slowloris",
        OPEN,
        48_400,
        "[api]\nheader_timeout_s = 1\nmax_connections = 4\n",
    );
    let connect = || {
        let s = TcpStream::connect(&served.api).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    };
    // Headers trickled a line at a time are cut off after the timeout.
    let mut slow = connect();
    let started = Instant::now();
    slow.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    let mut cut = false;
    for n in 0..20 {
        std::thread::sleep(Duration::from_millis(300));
        if slow
            .write_all(format!("X-Slow-{n}: y\r\n").as_bytes())
            .is_err()
        {
            cut = true;
            break;
        }
        let mut probe = [0u8; 1];
        slow.set_nonblocking(true).expect("nonblocking");
        let read = slow.read(&mut probe);
        slow.set_nonblocking(false).expect("blocking");
        if matches!(read, Ok(0)) || read.as_ref().is_ok_and(|n| *n > 0) {
            cut = true;
            break;
        }
    }
    assert!(cut, "a client trickling headers is still connected");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Four idle connections fill the API; a fifth is closed at once.
    let _held: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = connect();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(fifth.read(&mut buf).unwrap_or(0), 0);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // Once they time out, the API serves again.
    std::thread::sleep(Duration::from_millis(1_500));
    let (status, body) = crate::acd::http(&served.api, "GET", "/api/status", "nobody", None);
    assert_eq!(status, 401, "{body}");
}

/// RFC 4733 packets for `key` (payload type 101), as a phone sends them.
fn key_packets(key: u8, first_seq: u16) -> Vec<Vec<u8>> {
    (0..8u16)
        .map(|i| {
            let end = i >= 5;
            let duration = 160 * (i.min(4) + 1);
            let mut p = vec![0x80, 101 | if i == 0 { 0x80 } else { 0 }];
            p.extend_from_slice(&(first_seq + i).to_be_bytes());
            p.extend_from_slice(&8_000u32.to_be_bytes());
            p.extend_from_slice(&0x5eed_5eedu32.to_be_bytes());
            p.extend_from_slice(&[key, if end { 0x8a } else { 0x0a }]);
            p.extend_from_slice(&duration.to_be_bytes());
            p
        })
        .collect()
}

#[test]
fn srtp_offered_over_tls_is_answered_with_srtp_and_plain_or_forged_media_is_refused() {
    use dialect_media::srtp::{Context, INLINE, inline, master_from_inline};
    let dir = crate::build::scratch("srtp-certificate");
    let (tls, client) = self_signed(&dir);
    let served = Served::start_with("srtp", OPEN, 48_600, &tls);
    let media = socket_on("127.0.0.1");
    let media_port = media.local_addr().expect("addr").port();
    let mut ours = [0u8; INLINE];
    for (i, b) in ours.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let body = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {media_port} RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\na=sendrecv\r\n",
        inline(&ours)
    );
    // Over plain UDP the keys would travel in the clear: refused.
    let udp = socket_on("127.0.0.1");
    let udp_port = udp.local_addr().expect("addr").port();
    let invite = format!(
        "INVITE sip:48221000002@127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{udp_port};branch=z9hG4bKsavp1\r\nFrom: <sip:48600100200@127.0.0.1:{udp_port}>;tag=savp\r\nTo: <sip:48221000002@127.0.0.1>\r\nCall-ID: savp-udp-1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{udp_port}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
        server = served.port
    );
    let answer = exchange(&udp, &served, &invite);
    assert_eq!(answer.status(), Some(488), "{}", answer.text);

    // Over TLS: answered with SRTP.
    let (caller, ok) = TlsCaller::call(&served, &client, "srtp-call-1", &body);
    assert!(ok.text.contains(" RTP/SAVP "), "{}", ok.text);
    let theirs = ok
        .text
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"))
        .and_then(|k| master_from_inline(k.trim()))
        .expect("the answer's key");
    assert_ne!(theirs, ours, "the server chose its own key");
    let server_media: u16 = ok
        .text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("a media port");
    // What the server sends authenticates and decrypts with its key.
    let mut rx = Context::new(&theirs);
    let mut buf = [0u8; 2048];
    let (len, _) = media.recv_from(&mut buf).expect("the server's media");
    let plain = rx.unprotect(&mut buf, len).expect("authentic SRTP");
    assert_eq!(plain, 172, "an RTP packet of 160 samples");
    assert_eq!(buf[1] & 0x7f, 0, "PCMU");
    // Plain RTP keys (a stranger without the key) are refused...
    let to_server = ("127.0.0.1", server_media);
    for packet in key_packets(3, 100) {
        media.send_to(&packet, to_server).expect("send");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&served.events(), "digit"), 0);
    assert!(served.status()["srtp_refused"].as_u64().unwrap_or(0) >= 8);
    // ...and protected ones are heard.
    let mut tx = Context::new(&ours);
    for packet in key_packets(2, 200) {
        let mut out = [0u8; 64];
        out[..packet.len()].copy_from_slice(&packet);
        let len = tx.protect(&mut out, packet.len()).expect("protected");
        media.send_to(&out[..len], to_server).expect("send");
        std::thread::sleep(Duration::from_millis(20));
    }
    let events = wait_for(&served, "the protected key", |e| count(e, "digit") == 1);
    let digit = events
        .iter()
        .find(|e| e["event"] == "digit")
        .expect("digit");
    assert_eq!(digit["key"], "2");
    caller.hang_up();
}

#[test]
fn attack_running_the_server_out_of_file_descriptors_does_not_stop_it_accepting() {
    // 96 descriptors: the flows' files, sockets and the database leave a
    // few dozen for SIP over TCP, fewer than the connection cap.
    let dir = crate::build::scratch("sip-attack-emfile");
    let served = Served::start_limited(dir, OPEN, 48_800, "", "flows/", Some(96));
    let mut held = Vec::new();
    for _ in 0..200 {
        match TcpStream::connect(("127.0.0.1", served.port)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    std::thread::sleep(Duration::from_millis(1_500));
    // Descriptors are free again: a new connection is accepted and served.
    let mut stream = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = stream.local_addr().expect("addr");
    let options = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKemfile\r\nFrom: <sip:a@127.0.0.1>;tag=t\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: emfile-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(options.as_bytes()).expect("send");
    let mut answer = [0u8; 2048];
    let len = stream.read(&mut answer).unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&answer[..len]).starts_with("SIP/2.0 200"),
        "the server stopped accepting: {:?}",
        String::from_utf8_lossy(&answer[..len])
    );
}
