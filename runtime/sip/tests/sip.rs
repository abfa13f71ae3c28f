//! The SIP core in memory: text literal packets and simulated time (every
//! `Instant` is `t0` plus a duration we choose), in the style of
//! quinn-proto's tests.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dialect_sip::auth::{self, Credentials, Digest, Verdict};
use dialect_sip::dialog::{Dialog, Dialogs, InDialogError, Local, Match};
use dialect_sip::ids::Ids;
use dialect_sip::message::{
    self, FrameError, Message, Method, ParseError, RequestParts, TcpFramer, Transport,
};
use dialect_sip::sdp::{self, Codec, Direction, LocalMedia};
use dialect_sip::transaction::{Config, Counts, Incoming, State, Timer, Transactions, TuEvent};

const PEER: &str = "192.0.2.10:5060";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

/// A packet written with `\n` line ends, sent with CRLF.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn msg(text: &str) -> Message {
    message::parse(&crlf(text)).unwrap()
}

fn invite(branch: &str) -> Message {
    msg(&format!(
        "INVITE sip:+4930123456@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport
Max-Forwards: 70
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>
Call-ID: call-1@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.10:5060>
Record-Route: <sip:proxy1.example.com;lr>, <sip:proxy2.example.com;lr>
Content-Length: 0

"
    ))
}

fn ack_2xx(branch: &str) -> Message {
    msg(&format!(
        "ACK sip:ivr@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}
Max-Forwards: 70
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>;tag=ours
Call-ID: call-1@192.0.2.10
CSeq: 1 ACK
Content-Length: 0

"
    ))
}

fn ack_failure(branch: &str) -> Message {
    msg(&format!(
        "ACK sip:+4930123456@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport
Max-Forwards: 70
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>;tag=ours
Call-ID: call-1@192.0.2.10
CSeq: 1 ACK
Content-Length: 0

"
    ))
}

fn drain(txs: &mut Transactions) -> Vec<Message> {
    std::iter::from_fn(|| txs.poll_transmit())
        .map(|t| message::parse(&t.bytes).unwrap())
        .collect()
}

/// Runs the clock from `from` to `to` in 10 ms steps, as an adapter would
/// at each `poll_timeout`, and returns when (relative to `t0`) each
/// transmission went out.
fn run(
    txs: &mut Transactions,
    t0: Instant,
    from: Duration,
    to: Duration,
) -> Vec<(Duration, Message)> {
    let mut sent = Vec::new();
    let mut now = from;
    while now <= to {
        txs.handle_timeout(t0 + now);
        for m in drain(txs) {
            sent.push((now, m));
        }
        now += Duration::from_millis(10);
    }
    sent
}

fn gaps(times: &[Duration]) -> Vec<u64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect()
}

// ---------------------------------------------------------------- parsing

#[test]
fn compact_forms_expand() {
    let m = msg("INVITE sip:100@example.com SIP/2.0
v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc1
f: <sip:a@example.com>;tag=1
t: sip:100@example.com
i: compact@192.0.2.1
CSeq: 1 INVITE
m: <sip:a@192.0.2.1>
c: application/sdp
s: hello
k: timer
e: identity
o: dialog
r: <sip:transfer@example.com>
b: <sip:a@example.com>
x: 1800
u: talk
l: 4

v=0
");
    assert_eq!(m.call_id(), Some("compact@192.0.2.1"));
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKc1"));
    assert_eq!(m.from_tag().as_deref(), Some("1"));
    assert_eq!(m.to().unwrap().uri, "sip:100@example.com");
    assert_eq!(m.contact_uri().as_deref(), Some("sip:a@192.0.2.1"));
    assert_eq!(m.content_type(), Some("application/sdp"));
    for (name, value) in [
        ("Subject", "hello"),
        ("Supported", "timer"),
        ("Content-Encoding", "identity"),
        ("Event", "dialog"),
        ("Refer-To", "<sip:transfer@example.com>"),
        ("Referred-By", "<sip:a@example.com>"),
        ("Session-Expires", "1800"),
        ("Allow-Events", "talk"),
    ] {
        assert_eq!(m.header(name), Some(value), "{name}");
    }
    assert_eq!(m.body(), b"v=0\r");
    // Written back in long form.
    let text = String::from_utf8(message::serialize(&m)).unwrap();
    assert!(text.contains("\r\nCall-ID: compact@192.0.2.1\r\n"));
    assert!(text.contains("\r\nSession-Expires: 1800\r\n"));
    assert!(text.ends_with("Content-Length: 4\r\n\r\nv=0\r"));
}

#[test]
fn folding_lf_only_and_keep_alives() {
    // LF-only line ends, folded headers, CRLF keep-alives before and after.
    let text = "\r\n\r\nOPTIONS sip:ivr@example.com SIP/2.0\nVia: SIP/2.0/UDP\n  192.0.2.1:5070\n ;branch=z9hG4bKfold\nFrom: <sip:a@example.com>\n\t;tag=77\nTo: <sip:ivr@example.com>\nCall-ID: fold\nCSeq: 9\n OPTIONS\nSubject: one\n two\nContent-Length: 0\n\n\r\n\r\n";
    let m = message::parse(text.as_bytes()).unwrap();
    let via = m.top_via().unwrap();
    assert_eq!(via.sent_by(), "192.0.2.1:5070");
    assert_eq!(via.branch(), Some("z9hG4bKfold"));
    assert_eq!(m.from_tag().as_deref(), Some("77"));
    assert_eq!(m.cseq().unwrap().seq, 9);
    assert_eq!(m.header("subject"), Some("one two"));
    assert_eq!(m.body(), b"");
}

#[test]
fn content_length_is_checked() {
    let base = "MESSAGE sip:ivr@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcl
From: <sip:a@example.com>;tag=1
To: <sip:ivr@example.com>
Call-ID: cl
CSeq: 1 MESSAGE
Content-Type: text/plain
";
    let short = crlf(&format!("{base}Content-Length: 10\n\nhello"));
    assert_eq!(
        message::parse(&short),
        Err(ParseError::BodyTooShort {
            declared: 10,
            actual: 5
        })
    );
    for bad in ["-1", "five", "", "99999999999999999999999"] {
        let m = crlf(&format!("{base}Content-Length: {bad}\n\nhello"));
        assert_eq!(message::parse(&m), Err(ParseError::ContentLength), "{bad}");
    }
    // Extra bytes after the declared body are discarded (RFC 3261 18.3).
    let long = crlf(&format!("{base}Content-Length: 3\n\nhello"));
    assert_eq!(message::parse(&long).unwrap().body(), b"hel");
    // Without Content-Length the datagram's rest is the body.
    let none = crlf(&format!("{base}\nhello"));
    assert_eq!(message::parse(&none).unwrap().body(), b"hello");
}

#[test]
fn refusals_carry_the_status_to_answer() {
    let cases = [
        ("INVITE sip:a@b SIP/3.0", 505),
        ("FOO sip:a@b SIP/2.0", 501),
        ("invite sip:a@b SIP/2.0", 501),
        ("OPTIONS tel:+4930123 SIP/2.0", 416),
        ("OPTIONS <sip:a@b> SIP/2.0", 400),
    ];
    for (start, status) in cases {
        let text = crlf(&format!(
            "{start}\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: r\nCSeq: 1 OPTIONS\n\n"
        ));
        let err = message::parse(&text).unwrap_err();
        assert_eq!(err.status().0, status, "{start}: {err}");
        let answer = message::error_response(&text, &err).unwrap();
        let answer = message::parse(&answer).unwrap();
        assert_eq!(answer.status(), Some(status));
        assert_eq!(answer.call_id(), Some("r"));
        assert_eq!(answer.top_via().unwrap().branch(), Some("z9hG4bKr"));
    }
    assert_eq!(message::parse(b"\r\n\r\n"), Err(ParseError::Empty));
}

#[test]
fn every_method_is_read_and_written_by_its_token() {
    for method in Method::all() {
        let token = message::method_name(method);
        assert_eq!(token, method.to_string());
        let text = crlf(&format!(
            "{token} sip:a@b SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKm\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: m\nCSeq: 1 {token}\n\n"
        ));
        let parsed = message::parse(&text).unwrap();
        assert_eq!(parsed.method(), Some(method));
        let written = message::serialize(&parsed);
        assert!(written.starts_with(format!("{token} sip:a@b SIP/2.0\r\n").as_bytes()));
    }
}

#[test]
fn accessors_and_response_for() {
    let m = invite("z9hG4bKacc");
    assert_eq!(m.method(), Some(Method::Invite));
    assert_eq!(
        m.request_uri().as_deref(),
        Some("sip:+4930123456@198.51.100.1")
    );
    assert_eq!(m.request_uri_user().as_deref(), Some("+4930123456"));
    assert_eq!(m.call_id(), Some("call-1@192.0.2.10"));
    assert_eq!(m.from_tag().as_deref(), Some("a1"));
    assert_eq!(m.to_tag(), None);
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method.as_str()), (1, "INVITE"));
    let via = m.top_via().unwrap();
    assert_eq!(
        (via.branch(), via.sent_by()),
        (Some("z9hG4bKacc"), "192.0.2.10:5060".to_owned())
    );
    assert_eq!(
        m.contact_uri().as_deref(),
        Some("sip:alice@192.0.2.10:5060")
    );
    assert_eq!(m.max_forwards(), Some(70));
    assert_eq!(m.name_addrs("Record-Route").len(), 2);

    let r = message::response_for(&m, 486, "Busy Here").with_to_tag("ours");
    let text = String::from_utf8(message::serialize(&r)).unwrap();
    assert!(text.starts_with("SIP/2.0 486 Busy Here\r\n"), "{text}");
    let r = message::parse(text.as_bytes()).unwrap();
    assert_eq!(r.status(), Some(486));
    assert_eq!(r.reason().as_deref(), Some("Busy Here"));
    assert_eq!(r.to_tag().as_deref(), Some("ours"));
    assert_eq!(r.from_tag().as_deref(), Some("a1"));
    assert_eq!(r.top_via(), m.top_via());
    assert_eq!(r.cseq(), m.cseq());
    assert_eq!(r.header("Record-Route"), None);
    // A response that sets up the dialog carries the request's
    // Record-Route, in order (RFC 3261 12.1.1); a 100 or a failure does not.
    for status in [180, 200] {
        let ok = message::response_for(&m, status, "OK").with_to_tag("ours");
        let ok = message::parse(&message::serialize(&ok)).unwrap();
        assert_eq!(ok.name_addrs("Record-Route"), m.name_addrs("Record-Route"));
    }
    let trying = message::response_for(&m, 100, "Trying");
    assert!(trying.name_addrs("Record-Route").is_empty());
    // A tag in the request's To stays.
    let again = message::response_for(&r, 200, "OK").with_to_tag("other");
    assert_eq!(again.to_tag().as_deref(), Some("ours"));
}

#[test]
fn request_builders() {
    let routes = vec!["<sip:proxy.example.com;lr>".to_owned()];
    let parts = RequestParts {
        method: Method::Invite,
        uri: "sip:agent7@10.0.0.7:5062;transport=udp",
        transport: Transport::Udp,
        sent_by: "10.0.0.1:5060",
        branch: "z9hG4bKb1",
        from: "\"Dialect\" <sip:ivr@10.0.0.1>",
        from_tag: "f1",
        to: "sip:agent7@example.com",
        to_tag: None,
        call_id: "out-1@10.0.0.1",
        cseq: 1,
        contact: Some("sip:ivr@10.0.0.1:5060"),
        route: &routes,
        max_forwards: 70,
    };
    let invite = message::request(&parts)
        .unwrap()
        .with_body("application/sdp", b"v=0\r\n".to_vec());
    let text = String::from_utf8(message::serialize(&invite)).unwrap();
    assert!(
        text.starts_with("INVITE sip:agent7@10.0.0.7:5062;transport=udp SIP/2.0\r\n"),
        "{text}"
    );
    let back = message::parse(text.as_bytes()).unwrap();
    assert_eq!(back.top_via().unwrap().branch(), Some("z9hG4bKb1"));
    assert_eq!(back.from().unwrap().display.as_deref(), Some("Dialect"));
    assert_eq!(back.header("Route"), Some("<sip:proxy.example.com;lr>"));
    assert_eq!(back.body(), b"v=0\r\n");

    let cancel = message::cancel_for(&back).unwrap();
    assert_eq!(cancel.method(), Some(Method::Cancel));
    assert_eq!(cancel.request_uri(), back.request_uri());
    assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bKb1"));
    assert_eq!(cancel.cseq().unwrap().method, "CANCEL");
    assert_eq!(cancel.header("Route"), back.header("Route"));

    for method in [Method::Options, Method::Register, Method::Bye] {
        let cseq = format!("{method}");
        let m = message::request(&RequestParts {
            method,
            ..parts.clone()
        })
        .unwrap();
        assert_eq!(
            message::parse(&message::serialize(&m))
                .unwrap()
                .cseq()
                .unwrap()
                .method,
            cseq
        );
    }
    // URIs rsip cannot hold faithfully are still written as given.
    let v6 = message::request(&RequestParts {
        uri: "sip:agent@[2001:db8::7]:5062",
        ..parts.clone()
    })
    .unwrap();
    assert!(
        message::serialize(&v6).starts_with(b"INVITE sip:agent@[2001:db8::7]:5062 SIP/2.0\r\n")
    );
    assert!(
        message::request(&RequestParts {
            uri: "tel:+4930",
            ..parts
        })
        .is_err()
    );
}

// ------------------------------------------------------------ TCP framing

#[test]
fn framer_splits_reads_and_joins_messages() {
    let one = message::serialize(&invite("z9hG4bKf1"));
    let two = message::serialize(&invite("z9hG4bKf2").with_body("text/plain", b"body".to_vec()));
    // Byte by byte.
    let mut f = TcpFramer::new();
    let mut got = Vec::new();
    for b in &one {
        f.push(std::slice::from_ref(b)).unwrap();
        while let Some(m) = f.poll_message().unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].top_via().unwrap().branch(), Some("z9hG4bKf1"));
    // Two messages and keep-alives in one read.
    let mut read = b"\r\n\r\n".to_vec();
    read.extend_from_slice(&one);
    read.extend_from_slice(b"\r\n\r\n");
    read.extend_from_slice(&two);
    f.push(&read).unwrap();
    let a = f.poll_message().unwrap().unwrap();
    let b = f.poll_message().unwrap().unwrap();
    assert_eq!(f.poll_message().unwrap(), None);
    assert_eq!(a.top_via().unwrap().branch(), Some("z9hG4bKf1"));
    assert_eq!(b.body(), b"body");
    assert_eq!(f.buffered(), 0);
}

#[test]
fn framer_bounds_its_buffer() {
    let mut f = TcpFramer::new();
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\n").unwrap();
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    for _ in 0..70 {
        f.push(filler.as_bytes()).unwrap();
    }
    assert_eq!(f.poll_message(), Err(FrameError::HeaderTooLarge));

    let mut f = TcpFramer::new();
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2000000\r\n\r\n")
        .unwrap();
    assert_eq!(f.poll_message(), Err(FrameError::BodyTooLarge));

    let mut f = TcpFramer::new();
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n")
        .unwrap();
    let err = f.poll_message().unwrap_err();
    assert!(err.is_fatal());

    // A well-framed but invalid message is reported and the stream goes on.
    let mut f = TcpFramer::new();
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n").unwrap();
    f.push(&message::serialize(&invite("z9hG4bKok"))).unwrap();
    let err = f.poll_message().unwrap_err();
    assert!(matches!(
        &err,
        FrameError::Message {
            error: ParseError::MissingHeader(_),
            ..
        }
    ));
    assert!(!err.is_fatal());
    assert!(f.poll_message().unwrap().is_some());
}

// ----------------------------------------------------------- transactions

#[test]
fn an_invite_the_tu_answers_at_once_gets_no_100_trying() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKnt1"), peer(), t0)
    else {
        panic!("expected a new request")
    };
    let ok = message::response_for(&request, 200, "OK").with_to_tag("ours");
    txs.send_response(&key, ok, t0).unwrap();
    let sent = drain(&mut txs);
    assert_eq!(
        sent.iter().map(Message::status).collect::<Vec<_>>(),
        [Some(200)]
    );
    // A retransmission of the INVITE gets the 200 again, never a 100.
    txs.handle_incoming(invite("z9hG4bKnt1"), peer(), t0 + Duration::from_millis(10));
    assert_eq!(drain(&mut txs)[0].status(), Some(200));
    // A second INVITE left waiting by the TU gets its 100 at the drain.
    let Incoming::NewRequest { .. } = txs.handle_incoming(invite("z9hG4bKnt2"), peer(), t0) else {
        panic!("expected a new request")
    };
    let retransmitted = txs.handle_incoming(invite("z9hG4bKnt2"), peer(), t0);
    assert_eq!(retransmitted, Incoming::Retransmission);
    let sent = drain(&mut txs);
    assert_eq!(
        sent.iter().map(Message::status).collect::<Vec<_>>(),
        [Some(100)]
    );
}

#[test]
fn server_invite_retransmits_final_response_until_timer_h() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKsi1"), peer(), t0)
    else {
        panic!("expected a new request")
    };
    assert_eq!(txs.counts().server_invite, 1);
    // The TU did not answer before the transmits were drained: 100 Trying
    // goes out, without a To tag.
    let trying = drain(&mut txs);
    assert_eq!(trying.len(), 1);
    assert_eq!((trying[0].status(), trying[0].to_tag()), (Some(100), None));
    txs.send_response(
        &key,
        message::response_for(&request, 180, "Ringing").with_to_tag("ours"),
        t0,
    )
    .unwrap();
    assert_eq!(drain(&mut txs)[0].status(), Some(180));
    // A retransmitted INVITE is absorbed and answered with the last response.
    let again = txs.handle_incoming(
        invite("z9hG4bKsi1"),
        peer(),
        t0 + Duration::from_millis(500),
    );
    assert_eq!(again, Incoming::Retransmission);
    assert_eq!(drain(&mut txs)[0].status(), Some(180));

    let busy = message::response_for(&request, 486, "Busy Here").with_to_tag("ours");
    txs.send_response(&key, busy, t0).unwrap();
    assert_eq!(drain(&mut txs)[0].status(), Some(486));
    assert_eq!(txs.state(&key), Some(State::Completed));
    // Timer G: 0.5, 1, 2, 4 s, then every T2 = 4 s (the last at 31.5 s);
    // timer H at 64*T1 = 32 s.
    let sent = run(&mut txs, t0, Duration::ZERO, Duration::from_secs(40));
    let mut times = vec![Duration::ZERO];
    times.extend(sent.iter().map(|(t, m)| {
        assert_eq!(m.status(), Some(486));
        *t
    }));
    assert_eq!(
        gaps(&times),
        [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]
    );
    assert_eq!(times.last(), Some(&Duration::from_millis(31_500)));
    assert_eq!(
        txs.poll_event(),
        Some(TuEvent::Timeout {
            key: key.clone(),
            timer: Timer::H
        })
    );
    assert_eq!(txs.counts().total(), 0);
    assert_eq!(txs.poll_timeout(), None);
}

#[test]
fn server_invite_absorbs_the_ack_for_a_failure() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKsi2"), peer(), t0)
    else {
        panic!()
    };
    txs.send_response(
        &key,
        message::response_for(&request, 486, "Busy Here").with_to_tag("ours"),
        t0,
    )
    .unwrap();
    drain(&mut txs);
    let ms = |n| t0 + Duration::from_millis(n);
    // The ACK (same branch) confirms; its retransmission is absorbed too.
    assert_eq!(
        txs.handle_incoming(ack_failure("z9hG4bKsi2"), peer(), ms(700)),
        Incoming::Retransmission
    );
    assert_eq!(txs.state(&key), Some(State::Confirmed));
    assert_eq!(
        txs.handle_incoming(ack_failure("z9hG4bKsi2"), peer(), ms(800)),
        Incoming::Retransmission
    );
    // No more retransmissions; timer I (T4) ends it quietly.
    assert!(run(&mut txs, t0, ms(700) - t0, Duration::from_secs(10)).is_empty());
    assert_eq!(txs.poll_event(), None);
    assert_eq!(txs.counts().total(), 0);
}

#[test]
fn server_invite_retransmits_2xx_until_ack() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKsi3"), peer(), t0)
    else {
        panic!()
    };
    let ok = message::response_for(&request, 200, "OK").with_to_tag("ours");
    txs.send_response(&key, ok, t0).unwrap();
    drain(&mut txs);
    let sent = run(&mut txs, t0, Duration::ZERO, Duration::from_millis(4000));
    let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_millis() as u64).collect();
    assert_eq!(times, [500, 1500, 3500]);
    // The retransmitted INVITE gets the 2xx again; it never reaches the TU.
    assert_eq!(
        txs.handle_incoming(
            invite("z9hG4bKsi3"),
            peer(),
            t0 + Duration::from_millis(4100)
        ),
        Incoming::Retransmission
    );
    assert_eq!(drain(&mut txs)[0].status(), Some(200));
    // The ACK has a branch of its own and goes to the TU once.
    let ack = txs.handle_incoming(
        ack_2xx("z9hG4bKack"),
        peer(),
        t0 + Duration::from_millis(4200),
    );
    assert!(matches!(ack, Incoming::Ack(ref m) if m.method() == Some(Method::Ack)));
    assert_eq!(
        txs.handle_incoming(
            ack_2xx("z9hG4bKack"),
            peer(),
            t0 + Duration::from_millis(4300)
        ),
        Incoming::Retransmission
    );
    assert!(
        run(
            &mut txs,
            t0,
            Duration::from_millis(4200),
            Duration::from_secs(40)
        )
        .is_empty()
    );
    assert_eq!(txs.poll_event(), None);
    assert_eq!(txs.counts().total(), 0);
}

#[test]
fn an_acked_invite_transaction_absorbs_retransmissions_for_t4_then_ends() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKt4"), peer(), t0)
    else {
        panic!()
    };
    let ok = message::response_for(&request, 200, "OK").with_to_tag("ours");
    txs.send_response(&key, ok, t0).unwrap();
    drain(&mut txs);
    let acked = t0 + Duration::from_millis(10);
    assert!(matches!(
        txs.handle_incoming(ack_2xx("z9hG4bKackt4"), peer(), acked),
        Incoming::Ack(_)
    ));
    // A copy of the INVITE still in the network within T4 is absorbed
    // (answered with the 2xx), never a new call.
    let late = acked + Duration::from_millis(4_900);
    txs.handle_timeout(late);
    assert_eq!(
        txs.handle_incoming(invite("z9hG4bKt4"), peer(), late),
        Incoming::Retransmission
    );
    assert_eq!(drain(&mut txs)[0].status(), Some(200));
    // T4 after the ACK the transaction is gone, long before timer L.
    txs.handle_timeout(acked + Duration::from_secs(5));
    assert_eq!(txs.counts().total(), 0);
    assert_eq!(txs.poll_event(), None);
}

#[test]
fn server_invite_2xx_without_ack_times_out() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKsi4"), peer(), t0)
    else {
        panic!()
    };
    txs.send_response(
        &key,
        message::response_for(&request, 200, "OK").with_to_tag("ours"),
        t0,
    )
    .unwrap();
    drain(&mut txs);
    let sent = run(&mut txs, t0, Duration::ZERO, Duration::from_secs(33));
    assert_eq!(sent.len(), 10);
    assert_eq!(
        txs.poll_event(),
        Some(TuEvent::Timeout {
            key,
            timer: Timer::L
        })
    );
    assert_eq!(txs.counts().total(), 0);
}

/// What tells a peer that a call ended is marked, so that the server can
/// hold it until the call's record is durable; nothing else is.
#[test]
fn only_what_tells_of_a_calls_end_is_marked_as_ending_it() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let ends = |txs: &mut Transactions| -> Vec<(String, bool)> {
        std::iter::from_fn(|| txs.poll_transmit())
            .map(|t| {
                let m = message::parse(&t.bytes).unwrap();
                let what = match m.status() {
                    Some(code) => format!("{code} {}", m.cseq().unwrap().method),
                    None => message::method_name(m.method().unwrap()).to_string(),
                };
                (what, t.ends)
            })
            .collect()
    };
    // A new call answered: its 200 ends nothing.
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKend1"), peer(), t0)
    else {
        panic!()
    };
    let ok = message::response_for(&request, 200, "OK").with_to_tag("ours");
    txs.send_response(&key, ok, t0).unwrap();
    assert_eq!(ends(&mut txs), [("200 INVITE".to_string(), false)]);
    // A call refused: its failure answer ends it, and so does a
    // retransmission of that answer.
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKend2"), peer(), t0)
    else {
        panic!()
    };
    let busy = message::response_for(&request, 486, "Busy Here").with_to_tag("ours");
    txs.send_response(&key, busy, t0).unwrap();
    assert_eq!(ends(&mut txs), [("486 INVITE".to_string(), true)]);
    txs.handle_incoming(invite("z9hG4bKend2"), peer(), t0);
    assert_eq!(ends(&mut txs), [("486 INVITE".to_string(), true)]);
    // Our BYE ends a call.
    let bye = message::request(&RequestParts {
        method: Method::Bye,
        uri: "sip:alice@192.0.2.10",
        transport: Transport::Udp,
        sent_by: "198.51.100.1:5060",
        branch: "z9hG4bKend3",
        from: "<sip:ivr@198.51.100.1>",
        from_tag: "ours",
        to: "<sip:alice@192.0.2.10>",
        to_tag: Some("a1"),
        call_id: "end-3",
        cseq: 2,
        contact: None,
        route: &[],
        max_forwards: 70,
    })
    .unwrap();
    txs.send_request(bye, peer(), Transport::Udp, t0).unwrap();
    assert_eq!(ends(&mut txs), [("BYE".to_string(), true)]);
    // At T1 everything unacknowledged is sent again, each marked as before.
    txs.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(
        ends(&mut txs),
        [
            ("200 INVITE".to_string(), false),
            ("486 INVITE".to_string(), true),
            ("BYE".to_string(), true)
        ]
    );
    // The answer to the caller's BYE ends the call; the stateless answers
    // (an ACK, a refusal) end nothing.
    let Incoming::NewRequest { key, request } = txs.handle_incoming(
        msg("BYE sip:ivr@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKend4
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>;tag=ours
Call-ID: end-4
CSeq: 2 BYE
Content-Length: 0

"),
        peer(),
        t0,
    ) else {
        panic!()
    };
    txs.send_response(&key, message::response_for(&request, 200, "OK"), t0)
        .unwrap();
    assert_eq!(ends(&mut txs), [("200 BYE".to_string(), true)]);
    txs.send_stateless(
        &message::response_for(&request, 503, "Service Unavailable"),
        peer(),
        Transport::Udp,
    );
    assert_eq!(ends(&mut txs), [("503 BYE".to_string(), false)]);
}

#[test]
fn server_non_invite_answers_a_retransmitted_bye() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let bye = || {
        msg("BYE sip:ivr@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye1
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>;tag=ours
Call-ID: call-1@192.0.2.10
CSeq: 2 BYE
Content-Length: 0

")
    };
    let Incoming::NewRequest { key, request } = txs.handle_incoming(bye(), peer(), t0) else {
        panic!()
    };
    assert_eq!(txs.state(&key), Some(State::Trying));
    // Retransmitted while Trying: absorbed, nothing to send yet.
    assert_eq!(
        txs.handle_incoming(bye(), peer(), t0),
        Incoming::Retransmission
    );
    assert!(drain(&mut txs).is_empty());
    txs.send_response(&key, message::response_for(&request, 200, "OK"), t0)
        .unwrap();
    let first = txs.poll_transmit().unwrap();
    assert_eq!(txs.state(&key), Some(State::Completed));
    // From Completed, the retransmitted BYE gets the same 200 again.
    assert_eq!(
        txs.handle_incoming(bye(), peer(), t0 + Duration::from_secs(1)),
        Incoming::Retransmission
    );
    let again = txs.poll_transmit().unwrap();
    assert_eq!(again, first);
    assert_eq!(again.to, peer());
    // Timer J = 64*T1 on UDP.
    txs.handle_timeout(t0 + Duration::from_millis(31_900));
    assert_eq!(txs.counts().server_non_invite, 1);
    txs.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(txs.counts().total(), 0);
    assert_eq!(txs.poll_event(), None);
}

#[test]
fn server_non_invite_over_tcp_ends_at_the_final_response() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let options = msg("OPTIONS sip:ivr@198.51.100.1 SIP/2.0
Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKtcp1
From: <sip:alice@example.com>;tag=a1
To: <sip:ivr@198.51.100.1>
Call-ID: tcp-1
CSeq: 1 OPTIONS
Content-Length: 0

");
    let Incoming::NewRequest { key, request } = txs.handle_incoming(options, peer(), t0) else {
        panic!()
    };
    txs.send_response(&key, message::response_for(&request, 200, "OK"), t0)
        .unwrap();
    assert_eq!(txs.poll_transmit().unwrap().transport, Transport::Tcp);
    assert_eq!(txs.counts().total(), 0);
}

fn client_invite(branch: &str) -> Message {
    msg(&format!(
        "INVITE sip:agent7@10.0.0.7:5062 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch};rport
Max-Forwards: 70
From: <sip:ivr@10.0.0.1>;tag=ivr1
To: <sip:agent7@example.com>
Call-ID: out-1@10.0.0.1
CSeq: 7 INVITE
Contact: <sip:ivr@10.0.0.1:5060>
Content-Length: 0

"
    ))
}

fn agent_response(branch: &str, status: &str) -> Message {
    msg(&format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch};rport=5060;received=10.0.0.1
From: <sip:ivr@10.0.0.1>;tag=ivr1
To: <sip:agent7@example.com>;tag=agent-tag
Call-ID: out-1@10.0.0.1
CSeq: 7 INVITE
Contact: <sip:agent7@10.0.0.7:5062>
Content-Length: 0

"
    ))
}

fn agent() -> SocketAddr {
    "10.0.0.7:5062".parse().unwrap()
}

#[test]
fn client_invite_retransmits_on_timer_a_until_timer_b() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let key = txs
        .send_request(client_invite("z9hG4bKca1"), agent(), Transport::Udp, t0)
        .unwrap();
    assert_eq!(drain(&mut txs).len(), 1);
    assert_eq!(txs.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    let sent = run(&mut txs, t0, Duration::ZERO, Duration::from_secs(40));
    let mut times = vec![Duration::ZERO];
    times.extend(sent.iter().map(|(t, m)| {
        assert_eq!(m.method(), Some(Method::Invite));
        *t
    }));
    // Timer A doubles without the T2 cap: 0.5, 1, 2, 4, 8, 16 s; B at 32 s.
    assert_eq!(gaps(&times), [500, 1000, 2000, 4000, 8000, 16000]);
    assert_eq!(
        txs.poll_event(),
        Some(TuEvent::Timeout {
            key,
            timer: Timer::B
        })
    );
    assert_eq!(txs.counts().total(), 0);
}

#[test]
fn client_invite_acks_a_failure_itself() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let key = txs
        .send_request(client_invite("z9hG4bKca2"), agent(), Transport::Udp, t0)
        .unwrap();
    drain(&mut txs);
    let ms = |n| t0 + Duration::from_millis(n);
    let ringing = txs.handle_incoming(
        agent_response("z9hG4bKca2", "180 Ringing"),
        agent(),
        ms(100),
    );
    assert!(
        matches!(ringing, Incoming::Response { ref response, .. } if response.status() == Some(180))
    );
    assert_eq!(txs.state(&key), Some(State::Proceeding));
    // In Proceeding, nothing is retransmitted and timer B no longer runs.
    assert!(
        run(
            &mut txs,
            t0,
            Duration::from_millis(100),
            Duration::from_secs(60)
        )
        .is_empty()
    );
    let busy = txs.handle_incoming(
        agent_response("z9hG4bKca2", "486 Busy Here"),
        agent(),
        ms(60_000),
    );
    assert!(
        matches!(busy, Incoming::Response { ref response, .. } if response.status() == Some(486))
    );
    let ack = drain(&mut txs);
    assert_eq!(ack.len(), 1);
    let ack = &ack[0];
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(
        ack.request_uri().as_deref(),
        Some("sip:agent7@10.0.0.7:5062")
    );
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKca2"));
    let cseq = ack.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method.as_str()), (7, "ACK"));
    assert_eq!(ack.to_tag().as_deref(), Some("agent-tag"));
    assert_eq!(ack.from_tag().as_deref(), Some("ivr1"));
    // The 486 retransmitted: absorbed, answered with the same ACK.
    let again = txs.handle_incoming(
        agent_response("z9hG4bKca2", "486 Busy Here"),
        agent(),
        ms(60_500),
    );
    assert_eq!(again, Incoming::Retransmission);
    assert_eq!(drain(&mut txs)[0], *ack);
    // Timer D (32 s on UDP) ends it.
    txs.handle_timeout(ms(92_100));
    assert_eq!(txs.counts().total(), 0);
    assert_eq!(txs.poll_event(), None);
}

#[test]
fn client_invite_passes_every_2xx_to_the_tu() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let key = txs
        .send_request(client_invite("z9hG4bKca3"), agent(), Transport::Udp, t0)
        .unwrap();
    drain(&mut txs);
    for _ in 0..2 {
        let ok = txs.handle_incoming(agent_response("z9hG4bKca3", "200 OK"), agent(), t0);
        assert!(matches!(ok, Incoming::Response { key: ref k, .. } if *k == key));
    }
    assert!(drain(&mut txs).is_empty(), "the ACK for a 2xx is the TU's");
    txs.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(txs.counts().total(), 0);
    let late = txs.handle_incoming(
        agent_response("z9hG4bKca3", "200 OK"),
        agent(),
        t0 + Duration::from_secs(33),
    );
    assert!(matches!(late, Incoming::Stray(_)));
}

#[test]
fn client_non_invite_timers_e_and_f() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let mut options = client_invite("z9hG4bKcn1");
    options = message::request(&RequestParts {
        method: Method::Options,
        uri: "sip:agent7@10.0.0.7:5062",
        transport: Transport::Udp,
        sent_by: "10.0.0.1:5060",
        branch: "z9hG4bKcn1",
        from: "sip:ivr@10.0.0.1",
        from_tag: "x",
        to: "sip:agent7@10.0.0.7",
        to_tag: None,
        call_id: options.call_id().unwrap(),
        cseq: 1,
        contact: None,
        route: &[],
        max_forwards: 70,
    })
    .unwrap();
    let key = txs
        .send_request(options, agent(), Transport::Udp, t0)
        .unwrap();
    drain(&mut txs);
    let sent = run(&mut txs, t0, Duration::ZERO, Duration::from_secs(40));
    let mut times = vec![Duration::ZERO];
    times.extend(sent.iter().map(|(t, _)| *t));
    assert_eq!(
        gaps(&times),
        [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]
    );
    assert_eq!(
        txs.poll_event(),
        Some(TuEvent::Timeout {
            key,
            timer: Timer::F
        })
    );
}

#[test]
fn transport_errors_end_the_peers_transactions() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let key = txs
        .send_request(client_invite("z9hG4bKte1"), agent(), Transport::Tcp, t0)
        .unwrap();
    assert_eq!(
        txs.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "no timer A on TCP"
    );
    txs.handle_transport_error(agent(), t0);
    assert_eq!(txs.poll_event(), Some(TuEvent::TransportError { key }));
    assert_eq!(txs.counts().total(), 0);
}

#[test]
fn cancel_finds_its_invite() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest {
        key: invite_key, ..
    } = txs.handle_incoming(invite("z9hG4bKcx"), peer(), t0)
    else {
        panic!()
    };
    let cancel = msg("CANCEL sip:+4930123456@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcx;rport
Max-Forwards: 70
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>
Call-ID: call-1@192.0.2.10
CSeq: 1 CANCEL
Content-Length: 0

");
    let Incoming::NewRequest { key, .. } = txs.handle_incoming(cancel, peer(), t0) else {
        panic!()
    };
    assert_ne!(key, invite_key);
    assert_eq!(key.cancelled_invite(), invite_key);
    assert_eq!(txs.state(&invite_key), Some(State::Proceeding));
}

#[test]
fn forged_response_from_another_address_is_dropped() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let agent: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let forger: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    let key = txs
        .send_request(client_invite("z9hG4bKfo1"), agent, Transport::Udp, t0)
        .unwrap();
    drain(&mut txs);
    // The right branch and CSeq, from elsewhere.
    let forged = txs.handle_incoming(agent_response("z9hG4bKfo1", "200 OK"), forger, t0);
    assert!(
        matches!(forged, Incoming::Foreign { from, ref response } if from == forger && response.status() == Some(200))
    );
    assert_eq!(txs.state(&key), Some(State::Calling));
    assert_eq!(txs.foreign(), 1);
    assert_eq!(txs.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    assert!(drain(&mut txs).is_empty());
    // A 486 from elsewhere is not acknowledged either.
    let forged = txs.handle_incoming(agent_response("z9hG4bKfo1", "486 Busy Here"), forger, t0);
    assert!(matches!(forged, Incoming::Foreign { .. }));
    assert!(drain(&mut txs).is_empty());
    assert_eq!(txs.foreign(), 2);
    // The same 200 from the agent.
    let ok = txs.handle_incoming(agent_response("z9hG4bKfo1", "200 OK"), agent, t0);
    assert!(matches!(ok, Incoming::Response { key: ref k, .. } if *k == key));
    assert_eq!(txs.state(&key), Some(State::Accepted));
    assert_eq!(txs.foreign(), 2);
}

#[test]
fn response_through_a_dual_stack_socket_comes_from_its_peer() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let agent: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let key = txs
        .send_request(client_invite("z9hG4bKds1"), agent, Transport::Udp, t0)
        .unwrap();
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:5070".parse().unwrap();
    let ringing = txs.handle_incoming(agent_response("z9hG4bKds1", "180 Ringing"), mapped, t0);
    assert!(matches!(ringing, Incoming::Response { .. }));
    assert_eq!(txs.state(&key), Some(State::Proceeding));
    assert_eq!(txs.foreign(), 0);
}

#[test]
fn ack_from_outside_the_dialog_does_not_stop_the_2xx() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut txs = Transactions::new(Config::default());
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKfa1"), peer(), t0)
    else {
        panic!()
    };
    let ok = message::response_for(&request, 200, "OK").with_to_tag("ours");
    txs.send_response(&key, ok, t0).unwrap();
    drain(&mut txs);
    // Call-ID, CSeq and From tag right, but not our To tag (or none): it
    // matches no transaction and goes to the TU, whose dialogs refuse it.
    for to in [
        "<sip:+4930123456@198.51.100.1>;tag=guessed",
        "<sip:+4930123456@198.51.100.1>",
    ] {
        let mut forged = ack_2xx("z9hG4bKfa2");
        forged.set_header("To", to);
        let outcome = txs.handle_incoming(forged, peer(), ms(100));
        assert!(matches!(outcome, Incoming::Ack(ref a) if a.header("To") == Some(to)));
    }
    // The 2xx is still retransmitted, and the real ACK still arrives.
    txs.handle_timeout(ms(500));
    assert_eq!(drain(&mut txs)[0].status(), Some(200));
    let ack = txs.handle_incoming(ack_2xx("z9hG4bKfa3"), peer(), ms(600));
    assert!(matches!(ack, Incoming::Ack(ref a) if a.to_tag().as_deref() == Some("ours")));
    assert_eq!(
        txs.handle_incoming(ack_2xx("z9hG4bKfa3"), peer(), ms(700)),
        Incoming::Retransmission
    );
    txs.handle_timeout(ms(40_000));
    assert_eq!(txs.poll_event(), None, "acknowledged: no timer L");
    assert_eq!(txs.counts().total(), 0);
}

fn options(branch: &str) -> Message {
    msg(&format!(
        "OPTIONS sip:ivr@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}
From: <sip:alice@example.com>;tag=a1
To: <sip:ivr@198.51.100.1>
Call-ID: {branch}@192.0.2.10
CSeq: 1 OPTIONS
Content-Length: 0

"
    ))
}

#[test]
fn request_flood_beyond_the_cap_is_overloaded() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config {
        max_transactions: 2,
        ..Config::default()
    });
    let mut keys = Vec::new();
    for branch in ["z9hG4bKfl1", "z9hG4bKfl2"] {
        let Incoming::NewRequest { key, .. } = txs.handle_incoming(options(branch), peer(), t0)
        else {
            panic!()
        };
        keys.push(key);
    }
    let third = txs.handle_incoming(options("z9hG4bKfl3"), peer(), t0);
    assert!(
        matches!(third, Incoming::Overloaded(ref m) if m.top_via().unwrap().branch() == Some("z9hG4bKfl3"))
    );
    let invite = txs.handle_incoming(invite("z9hG4bKfl4"), peer(), t0);
    assert!(matches!(invite, Incoming::Overloaded(_)));
    assert!(drain(&mut txs).is_empty(), "not even 100 Trying");
    assert_eq!(txs.counts().server(), 2);
    // Retransmissions of what is in, ACKs and our own requests still pass.
    assert_eq!(
        txs.handle_incoming(options("z9hG4bKfl1"), peer(), t0),
        Incoming::Retransmission
    );
    assert!(matches!(
        txs.handle_incoming(ack_2xx("z9hG4bKfl5"), peer(), t0),
        Incoming::Ack(_)
    ));
    txs.send_request(client_invite("z9hG4bKfl6"), agent(), Transport::Udp, t0)
        .unwrap();
    assert_eq!(txs.counts().client_invite, 1);
    // Once one has ended (timer J), a new request gets a transaction.
    txs.send_response(
        &keys[0],
        message::response_for(&options("z9hG4bKfl1"), 200, "OK"),
        t0,
    )
    .unwrap();
    assert!(matches!(
        txs.handle_incoming(options("z9hG4bKfl3"), peer(), t0),
        Incoming::Overloaded(_)
    ));
    txs.handle_timeout(t0 + Duration::from_secs(32));
    assert!(matches!(
        txs.handle_incoming(options("z9hG4bKfl3"), peer(), t0 + Duration::from_secs(32)),
        Incoming::NewRequest { .. }
    ));
}

#[test]
fn timers_fire_in_deadline_order_across_transactions() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(Config::default());
    let request = |branch: &str| {
        message::request(&RequestParts {
            method: Method::Options,
            uri: "sip:agent7@10.0.0.7:5062",
            transport: Transport::Udp,
            sent_by: "10.0.0.1:5060",
            branch,
            from: "sip:ivr@10.0.0.1",
            from_tag: "x",
            to: "sip:agent7@10.0.0.7",
            to_tag: None,
            call_id: branch,
            cseq: 1,
            contact: None,
            route: &[],
            max_forwards: 70,
        })
        .unwrap()
    };
    txs.send_request(request("z9hG4bKA"), agent(), Transport::Udp, t0)
        .unwrap();
    txs.send_request(
        request("z9hG4bKB"),
        agent(),
        Transport::Udp,
        t0 + Duration::from_millis(300),
    )
    .unwrap();
    drain(&mut txs);
    // One late call: A is due at 0.5 and 1.5 s, B at 0.8 and 1.8 s.
    txs.handle_timeout(t0 + Duration::from_secs(2));
    let branches: Vec<String> = drain(&mut txs)
        .iter()
        .map(|m| m.top_via().unwrap().branch().unwrap().to_owned())
        .collect();
    assert_eq!(branches, ["z9hG4bKA", "z9hG4bKB", "z9hG4bKA", "z9hG4bKB"]);
    assert_eq!(txs.poll_timeout(), Some(t0 + Duration::from_millis(3500)));
    assert_eq!(txs.timer_entries(), 2);
}

#[test]
fn timer_index_empties_when_every_transaction_ends() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut txs = Transactions::new(Config::default());
    // A server INVITE refused and never acknowledged (timer H)...
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(invite("z9hG4bKie1"), peer(), t0)
    else {
        panic!()
    };
    txs.send_response(&key, message::response_for(&request, 486, "Busy"), t0)
        .unwrap();
    // ...one accepted and acknowledged (timer L)...
    let mut accepted = invite("z9hG4bKie2");
    accepted.set_header("CSeq", "2 INVITE");
    let Incoming::NewRequest { key, request } = txs.handle_incoming(accepted, peer(), t0) else {
        panic!()
    };
    let ok = message::response_for(&request, 200, "OK").with_to_tag("ours");
    txs.send_response(&key, ok, t0).unwrap();
    let mut ack = ack_2xx("z9hG4bKie3");
    ack.set_header("CSeq", "2 ACK");
    assert!(matches!(
        txs.handle_incoming(ack, peer(), ms(10)),
        Incoming::Ack(_)
    ));
    // ...an answered OPTIONS (timer J), an unanswered client INVITE (timer
    // B) and one refused (timer D).
    let Incoming::NewRequest { key, request } =
        txs.handle_incoming(options("z9hG4bKie4"), peer(), t0)
    else {
        panic!()
    };
    txs.send_response(&key, message::response_for(&request, 200, "OK"), t0)
        .unwrap();
    txs.send_request(client_invite("z9hG4bKie5"), agent(), Transport::Udp, t0)
        .unwrap();
    txs.send_request(client_invite("z9hG4bKie6"), agent(), Transport::Udp, t0)
        .unwrap();
    txs.handle_incoming(agent_response("z9hG4bKie6", "603 Decline"), agent(), ms(20));
    assert_eq!(txs.counts().total(), 5);
    assert_eq!(txs.timer_entries(), 5);
    let mut now = t0;
    while let Some(next) = txs.poll_timeout() {
        assert!(next >= now, "deadlines never go back");
        now = next;
        txs.handle_timeout(now);
        assert!(txs.timer_entries() <= txs.counts().total());
    }
    assert_eq!(txs.timer_entries(), 0);
    assert_eq!(txs.counts(), Counts::default());
    let mut timers: Vec<Timer> = std::iter::from_fn(|| txs.poll_event())
        .map(|e| match e {
            TuEvent::Timeout { timer, .. } => timer,
            other => panic!("{other:?}"),
        })
        .collect();
    timers.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(timers, [Timer::B, Timer::H]);
}

// ---------------------------------------------------------------- dialogs

fn local() -> Local {
    Local {
        contact: "sip:ivr@198.51.100.1:5060".to_owned(),
        sent_by: "198.51.100.1:5060".to_owned(),
        transport: Transport::Udp,
    }
}

#[test]
fn uas_dialog_matches_and_builds_requests() {
    let inv = invite("z9hG4bKd1");
    let mut dialogs = Dialogs::new();
    assert_eq!(dialogs.match_request(&inv), Match::OutOfDialog);
    let dialog = Dialog::uas(&inv, "ours", local()).unwrap();
    let id = dialog.id().clone();
    dialogs.insert(dialog);

    let bye = |to_tag: &str, cseq: u32| {
        msg(&format!(
            "BYE sip:ivr@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye{cseq}
From: <sip:alice@example.com>;tag=a1
To: <sip:+4930123456@198.51.100.1>;tag={to_tag}
Call-ID: call-1@192.0.2.10
CSeq: {cseq} BYE
Content-Length: 0

"
        ))
    };
    assert_eq!(
        dialogs.match_request(&bye("ours", 2)),
        Match::Dialog(id.clone())
    );
    // A To tag no dialog has: 481.
    assert_eq!(dialogs.match_request(&bye("gone", 2)), Match::Unknown);
    let d = dialogs.get_mut(&id).unwrap();
    d.handle_request(&bye("ours", 2)).unwrap();
    assert_eq!(
        d.handle_request(&bye("ours", 1)),
        Err(InDialogError::OutOfOrder { got: 1, last: 2 })
    );

    // Our BYE: to the caller's Contact, through the Record-Route (loose).
    let ours = d.request(Method::Bye, "z9hG4bKours").unwrap();
    assert_eq!(
        ours.request_uri().as_deref(),
        Some("sip:alice@192.0.2.10:5060")
    );
    assert_eq!(ours.from_tag().as_deref(), Some("ours"));
    assert_eq!(ours.to_tag().as_deref(), Some("a1"));
    assert_eq!(ours.cseq().unwrap().seq, 1);
    let routes: Vec<String> = ours
        .name_addrs("Route")
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(
        routes,
        ["sip:proxy1.example.com;lr", "sip:proxy2.example.com;lr"]
    );
    assert_eq!(d.next_hop(), "sip:proxy1.example.com;lr");
    assert_eq!(
        d.request(Method::Invite, "z9hG4bKre")
            .unwrap()
            .cseq()
            .unwrap()
            .seq,
        2
    );
    let text = message::serialize(&ours);
    assert!(message::parse(&text).is_ok());
    dialogs.remove(&id);
    assert!(dialogs.is_empty());
}

#[test]
fn uac_dialog_from_our_invite_and_the_2xx() {
    let inv = client_invite("z9hG4bKu1");
    let ok = msg("SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKu1
Record-Route: <sip:p1.example.com;lr>
Record-Route: <sip:p2.example.com;lr>
From: <sip:ivr@10.0.0.1>;tag=ivr1
To: <sip:agent7@example.com>;tag=agent-tag
Call-ID: out-1@10.0.0.1
CSeq: 7 INVITE
Contact: <sip:agent7@10.0.0.7:5062;transport=udp>
Content-Length: 0

");
    let mut d = Dialog::uac(&inv, &ok, local()).unwrap();
    assert!(d.is_confirmed());
    assert_eq!(
        d.route_set(),
        ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    );
    let ack = d.ack(7, "z9hG4bKack7").unwrap();
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, 7);
    assert_eq!(
        ack.request_uri().as_deref(),
        Some("sip:agent7@10.0.0.7:5062;transport=udp")
    );
    assert_eq!(ack.to_tag().as_deref(), Some("agent-tag"));
    let bye = d.request(Method::Bye, "z9hG4bKbye8").unwrap();
    assert_eq!(bye.cseq().unwrap().seq, 8);
    let mut dialogs = Dialogs::new();
    dialogs.insert(d);
    let bye_ok = message::response_for(&bye, 200, "OK");
    assert!(dialogs.match_response(&bye_ok).is_some());
    // A re-INVITE from the agent refreshes the target.
    let reinvite = msg("INVITE sip:ivr@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKre1
From: <sip:agent7@example.com>;tag=agent-tag
To: <sip:ivr@10.0.0.1>;tag=ivr1
Call-ID: out-1@10.0.0.1
CSeq: 100 INVITE
Contact: <sip:agent7@10.0.0.8:5062>
Content-Length: 0

");
    let Match::Dialog(id) = dialogs.match_request(&reinvite) else {
        panic!()
    };
    let d = dialogs.get_mut(&id).unwrap();
    d.handle_request(&reinvite).unwrap();
    assert_eq!(d.remote_target(), "sip:agent7@10.0.0.8:5062");
}

// -------------------------------------------------------------------- SDP

fn offer(media: &str) -> sdp::SessionDescription {
    let text = format!("v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\n{media}");
    sdp::parse(text.as_bytes()).unwrap()
}

fn ours() -> LocalMedia {
    LocalMedia {
        address: "198.51.100.1".parse().unwrap(),
        port: 40000,
        session_id: 42,
        version: 1,
    }
}

#[test]
fn sdp_answer_picks_in_the_offerers_order() {
    let (n, text) = sdp::answer(
        &offer("m=audio 30000 RTP/AVP 8\na=rtpmap:8 PCMA/8000\n"),
        &ours(),
    )
    .unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert_eq!(n.remote, Some("192.0.2.10:30000".parse().unwrap()));
    assert!(
        text.contains("m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"),
        "{text}"
    );
    assert!(text.contains("c=IN IP4 198.51.100.1\r\n"));
    assert!(text.contains("a=ptime:20\r\n"));

    let (n, _) = sdp::answer(&offer("m=audio 30000 RTP/AVP 18 8 0\n"), &ours()).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    let (n, _) = sdp::answer(&offer("m=audio 30000 RTP/AVP 0 8\n"), &ours()).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    // No common codec: 488.
    assert!(
        sdp::answer(
            &offer("m=audio 30000 RTP/AVP 18 9\na=rtpmap:18 G729/8000\n"),
            &ours()
        )
        .is_none()
    );
    // SRTP is not answered in the clear: 488.
    assert!(
        sdp::answer(
            &offer(
                "m=audio 30000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
"
            ),
            &ours()
        )
        .is_none()
    );
    // A video stream is refused with port 0, in its place.
    let (_, text) = sdp::answer(
        &offer("m=video 30002 RTP/AVP 31\nm=audio 30000 RTP/AVP 0\n"),
        &ours(),
    )
    .unwrap();
    let video = text.find("m=video 0 RTP/AVP 31").unwrap();
    assert!(video < text.find("m=audio 40000").unwrap());
}

#[test]
fn sdp_answers_srtp_with_sdes_only_when_given_a_key() {
    let offered = offer(
        "m=audio 30000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5|2^20|1:4\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31\n",
    );
    // Without a key of ours (plain signalling): refused.
    assert!(sdp::answer(&offered, &ours()).is_none());
    let (n, text, theirs) = sdp::answer_with(
        &offered,
        &ours(),
        Some("b3Vya2V5b3Vya2V5b3Vya2V5b3Vya2V5b3Vya2V5"),
    )
    .unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    // The first key without an MKI, under its tag.
    assert_eq!(
        theirs.as_deref(),
        Some("WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz")
    );
    assert!(text.contains("m=audio 40000 RTP/SAVP 0\r\n"), "{text}");
    assert!(
        text.contains(
            "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:b3Vya2V5b3Vya2V5b3Vya2V5b3Vya2V5b3Vya2V5\r\n"
        ),
        "{text}"
    );
    // Plain RTP is answered in the clear, with or without a key.
    let (_, text, theirs) =
        sdp::answer_with(&offer("m=audio 30000 RTP/AVP 0\n"), &ours(), Some("x")).unwrap();
    assert!(theirs.is_none() && !text.contains("crypto") && text.contains("RTP/AVP"));
    // An unknown suite only: refused.
    assert!(
        sdp::answer_with(
            &offer("m=audio 30000 RTP/SAVP 0\na=crypto:1 AEAD_AES_256_GCM inline:abc\n"),
            &ours(),
            Some("x")
        )
        .is_none()
    );
}

#[test]
fn sdp_echoes_telephone_event() {
    let (n, text) = sdp::answer(
        &offer("m=audio 30000 RTP/AVP 0 96\na=rtpmap:0 PCMU/8000\na=rtpmap:96 telephone-event/8000\na=fmtp:96 0-15\na=ptime:30\n"),
        &ours(),
    )
    .unwrap();
    assert_eq!(n.telephone_event, Some(96));
    assert_eq!(n.ptime, 30);
    assert!(text.contains("m=audio 40000 RTP/AVP 0 96\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:96 telephone-event/8000\r\n"));
    let (n, text) = sdp::answer(&offer("m=audio 30000 RTP/AVP 0\n"), &ours()).unwrap();
    assert_eq!(n.telephone_event, None);
    assert!(!text.contains("telephone-event"));
}

#[test]
fn sdp_detects_hold() {
    let (n, text) = sdp::answer(&offer("m=audio 30000 RTP/AVP 0\na=sendonly\n"), &ours()).unwrap();
    assert!(n.on_hold);
    assert_eq!(n.remote_direction, Direction::SendOnly);
    assert!(text.contains("a=recvonly\r\n"));
    let (n, _) = sdp::answer(&offer("m=audio 30000 RTP/AVP 0\na=inactive\n"), &ours()).unwrap();
    assert!(n.on_hold);
    let held = sdp::parse(b"v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n").unwrap();
    let (n, _) = sdp::answer(&held, &ours()).unwrap();
    assert!(n.on_hold);
    assert_eq!(n.remote, None);
    let (n, _) = sdp::answer(&offer("m=audio 30000 RTP/AVP 0\na=sendrecv\n"), &ours()).unwrap();
    assert!(!n.on_hold);
}

#[test]
fn sdp_offer_round_trip() {
    let text = sdp::offer(&ours());
    let parsed = sdp::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.media[0].formats, ["0", "8", "101"]);
    // An agent answering PCMA with our telephone-event.
    let answer = sdp::parse(b"v=0\no=- 5 5 IN IP4 10.0.0.7\ns=-\nc=IN IP4 10.0.0.7\nt=0 0\nm=audio 20000 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\n").unwrap();
    let n = sdp::negotiated(&answer).unwrap();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, Some(101)));
    assert_eq!(n.remote, Some("10.0.0.7:20000".parse().unwrap()));
    assert!(sdp::parse(b"no sdp here").is_err());
}

// -------------------------------------------------------------------- ids

/// SplitMix64's output function (the generator `Ids` was): invertible, so
/// one output gives away the state.
fn splitmix_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn splitmix_unmix(y: u64) -> u64 {
    // The inverse of an odd number modulo 2^64, by Newton's iteration.
    let inverse = |a: u64| {
        let mut x = a;
        for _ in 0..5 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    };
    let unshift = |y: u64, s: u32| {
        let mut z = y;
        for _ in 0..64 / s + 1 {
            z = y ^ (z >> s);
        }
        z
    };
    let mut z = unshift(y, 31);
    z = unshift(z.wrapping_mul(inverse(0x94D0_49BB_1331_11EB)), 27);
    unshift(z.wrapping_mul(inverse(0xBF58_476D_1CE4_E5B9)), 30)
}

const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[test]
fn next_tag_cannot_be_computed_from_the_last_one() {
    // The attack on a SplitMix64 generator: unmix an observed output to the
    // state, step the state, mix again.
    let predict = |tag: &str| {
        let output = u64::from_str_radix(&tag[..16], 16).unwrap();
        format!(
            "{:016x}",
            splitmix_mix(splitmix_unmix(output).wrapping_add(SPLITMIX_GAMMA))
        )
    };
    // It works on SplitMix64...
    let mut state = 0x0123_4567_89ab_cdef_u64;
    let mut splitmix = || {
        state = state.wrapping_add(SPLITMIX_GAMMA);
        format!("{:016x}", splitmix_mix(state))
    };
    let seen = splitmix();
    assert_eq!(predict(&seen), splitmix());
    // ...and not on `Ids`, seeded or not.
    for mut ids in [Ids::seeded(0x0123_4567_89ab_cdef), Ids::from_os()] {
        let seen = ids.tag();
        let next = ids.tag();
        assert!(
            !next.starts_with(&predict(&seen)),
            "{seen} gave away {next}"
        );
    }
}

#[test]
fn ids_from_the_os_differ() {
    let (mut a, mut b) = (Ids::from_os(), Ids::from_os());
    assert_ne!(a.tag(), b.tag());
    assert_ne!(a.branch(), b.branch());
    assert_ne!(a.call_id("h"), b.call_id("h"));
    assert_ne!(a.token(16), b.token(16));
}

#[test]
fn seeded_ids_are_reproducible() {
    let take = |seed| {
        let mut ids = Ids::seeded(seed);
        (ids.branch(), ids.tag(), ids.call_id("h"), ids.next_u64())
    };
    assert_eq!(take(7), take(7));
    assert_ne!(take(7), take(8));
}

#[test]
fn ids_carry_96_bits_and_call_ids_128() {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let mut ids = Ids::from_os();
    let branch = ids.branch();
    assert!(hex(branch.strip_prefix("z9hG4bK").unwrap(), 24), "{branch}");
    assert!(hex(&ids.tag(), 24));
    let call_id = ids.call_id("198.51.100.1");
    let (random, host) = call_id.split_once('@').unwrap();
    assert!(hex(random, 32), "{call_id}");
    assert_eq!(host, "198.51.100.1");
    assert!(hex(&ids.token(32), 64));
    assert_eq!(ids.token(0), "");
}

// ------------------------------------------------------------------- auth

#[test]
fn digest_rfc_2617_example() {
    // RFC 2617 section 3.5, with the password "Circle Of Life".
    let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let creds = Credentials::parse(&header.replace('\n', " ")).unwrap();
    assert_eq!(creds.username, "Mufasa");
    assert_eq!(creds.cnonce.as_deref(), Some("0a4f113b"));
    assert_eq!(
        auth::expected_response(&creds, "GET", "Circle Of Life").as_deref(),
        Some("6629fae49393a05397450978507c4ef1")
    );
    assert!(auth::response_matches(&creds, "GET", "Circle Of Life"));
    assert!(!auth::response_matches(&creds, "GET", "circle of life"));
}

const KEY: [u8; 32] = [7; 32];

/// The nonce of a challenge.
fn nonce_of(challenge: &str) -> String {
    challenge.split('"').nth(3).unwrap().to_owned()
}

/// What a phone answers to `nonce` for `method` with `password`, as its
/// `nc`-th request with that nonce.
fn answer(nonce: &str, nc: u32, method: &str, password: &str) -> Credentials {
    let mut creds = Credentials {
        username: "agent7".into(),
        realm: "dialect".into(),
        nonce: nonce.to_owned(),
        uri: "sip:dialect.example.com".into(),
        response: String::new(),
        algorithm: Some("MD5".into()),
        qop: Some("auth".into()),
        nc: Some(format!("{nc:08x}")),
        cnonce: Some("c0ffee".into()),
        opaque: None,
    };
    creds.response = auth::expected_response(&creds, method, password).unwrap();
    creds
}

#[test]
fn digest_challenge_verify_and_stale() {
    let t0 = Instant::now();
    let mut digest = Digest::with_key("dialect", KEY, t0);
    let challenge = digest.challenge(t0 + Duration::from_secs(10), false);
    assert!(challenge.starts_with("Digest realm=\"dialect\", nonce=\""));
    assert!(challenge.contains("qop=\"auth\""));
    let nonce = nonce_of(&challenge);
    assert_eq!(nonce.len(), 64);
    // What a phone sends back.
    let creds = answer(&nonce, 1, "REGISTER", "s3cret");
    let header = format!(
        "Digest username=\"agent7\", realm=\"dialect\", nonce=\"{}\", uri=\"sip:dialect.example.com\", response=\"{}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"",
        creds.nonce, creds.response
    );
    let parsed = Credentials::parse(&header).unwrap();
    assert_eq!(parsed, creds);
    let at = |s| t0 + Duration::from_secs(s);
    assert_eq!(
        digest.verify(&parsed, "REGISTER", "wrong", at(20)),
        Verdict::Invalid
    );
    assert_eq!(
        digest.verify(&parsed, "INVITE", "s3cret", at(20)),
        Verdict::Invalid
    );
    assert_eq!(
        digest.verify(&parsed, "REGISTER", "s3cret", at(20)),
        Verdict::Ok
    );
    // Five minutes after it was issued the nonce is stale.
    assert_eq!(
        digest.verify(
            &answer(&nonce, 2, "REGISTER", "s3cret"),
            "REGISTER",
            "s3cret",
            at(311)
        ),
        Verdict::Stale
    );
    assert!(digest.challenge(at(400), true).ends_with(", stale=true"));
    // The same key makes the same nonces; another key, others.
    let mut again = Digest::with_key("dialect", KEY, t0);
    assert_eq!(nonce_of(&again.challenge(at(10), false)), nonce);
    let mut other = Digest::with_key("dialect", [8; 32], t0);
    assert_ne!(nonce_of(&other.challenge(at(10), false)), nonce);
}

#[test]
fn replayed_register_is_refused() {
    let t0 = Instant::now();
    let mut digest = Digest::with_key("dialect", KEY, t0);
    let nonce = nonce_of(&digest.challenge(t0, false));
    let first = answer(&nonce, 1, "REGISTER", "s3cret");
    assert_eq!(digest.verify(&first, "REGISTER", "s3cret", t0), Verdict::Ok);
    // The captured request, sent again.
    assert_eq!(
        digest.verify(&first, "REGISTER", "s3cret", t0),
        Verdict::Replay
    );
    // The phone's next request with the same nonce counts up.
    let second = answer(&nonce, 2, "REGISTER", "s3cret");
    assert_eq!(
        digest.verify(&second, "REGISTER", "s3cret", t0),
        Verdict::Ok
    );
    assert_eq!(
        digest.verify(&second, "REGISTER", "s3cret", t0),
        Verdict::Replay
    );
    assert_eq!(
        digest.verify(&first, "REGISTER", "s3cret", t0),
        Verdict::Replay
    );
    assert_eq!(digest.remembered(), 1);
}

#[test]
fn forged_nonce_is_invalid() {
    let t0 = Instant::now();
    let mut digest = Digest::with_key("dialect", KEY, t0);
    let nonce = nonce_of(&digest.challenge(t0, false));
    // Our nonce's time and salt with another MAC, a shorter one, junk.
    let mut forged = nonce[..32].to_owned();
    forged.push_str(&"0".repeat(32));
    for nonce in [forged.as_str(), &nonce[..48], "", "zz", "é"] {
        let creds = answer(nonce, 1, "REGISTER", "guess");
        assert_eq!(
            digest.verify(&creds, "REGISTER", "s3cret", t0),
            Verdict::Invalid,
            "{nonce}"
        );
    }
    assert_eq!(digest.remembered(), 0);
}

#[test]
fn foreign_nonce_answered_with_the_right_password_is_stale() {
    // A nonce from before a restart (another key): the client knows the
    // password, so it is challenged again with stale=true, not refused.
    let t0 = Instant::now();
    let mut before = Digest::with_key("dialect", [1; 32], t0);
    let mut after = Digest::with_key("dialect", [2; 32], t0);
    let nonce = nonce_of(&before.challenge(t0, false));
    let creds = answer(&nonce, 1, "REGISTER", "s3cret");
    assert_eq!(
        after.verify(&creds, "REGISTER", "s3cret", t0),
        Verdict::Stale
    );
    assert_eq!(
        after.verify(&creds, "REGISTER", "wrong", t0),
        Verdict::Invalid
    );
    assert_eq!(after.remembered(), 0);
}

#[test]
fn digest_without_qop_or_in_another_realm_is_invalid() {
    let t0 = Instant::now();
    let mut digest = Digest::with_key("dialect", KEY, t0);
    let nonce = nonce_of(&digest.challenge(t0, false));
    // RFC 2069 style: no qop, nc or cnonce, so no replay could be detected.
    let mut bare = answer(&nonce, 1, "REGISTER", "s3cret");
    (bare.qop, bare.nc, bare.cnonce) = (None, None, None);
    bare.response = auth::expected_response(&bare, "REGISTER", "s3cret").unwrap();
    assert!(auth::response_matches(&bare, "REGISTER", "s3cret"));
    assert_eq!(
        digest.verify(&bare, "REGISTER", "s3cret", t0),
        Verdict::Invalid
    );
    // Another realm.
    let mut elsewhere = answer(&nonce, 1, "REGISTER", "s3cret");
    elsewhere.realm = "elsewhere".into();
    elsewhere.response = auth::expected_response(&elsewhere, "REGISTER", "s3cret").unwrap();
    assert_eq!(
        digest.verify(&elsewhere, "REGISTER", "s3cret", t0),
        Verdict::Invalid
    );
    // qop=auth-int, a non-hex nc, another algorithm.
    let mut odd = answer(&nonce, 1, "REGISTER", "s3cret");
    odd.qop = Some("auth-int".into());
    assert_eq!(
        digest.verify(&odd, "REGISTER", "s3cret", t0),
        Verdict::Invalid
    );
    let mut odd = answer(&nonce, 1, "REGISTER", "s3cret");
    odd.nc = Some("+0000001".into());
    assert_eq!(
        digest.verify(&odd, "REGISTER", "s3cret", t0),
        Verdict::Invalid
    );
    let mut odd = answer(&nonce, 1, "REGISTER", "s3cret");
    odd.algorithm = Some("SHA-256".into());
    assert_eq!(
        digest.verify(&odd, "REGISTER", "s3cret", t0),
        Verdict::Invalid
    );
    assert_eq!(digest.remembered(), 0);
}

#[test]
fn digest_verifies_any_method_with_the_digest_uri_as_given() {
    // A 407 to an INVITE or a REFER carries the same challenge; the
    // credentials are checked against the request's method and the
    // digest-uri the client hashed.
    let t0 = Instant::now();
    let mut digest = Digest::with_key("dialect", KEY, t0);
    let nonce = nonce_of(&digest.challenge(t0, false));
    for (nc, method) in [(1, "INVITE"), (2, "REFER"), (3, "BYE")] {
        let mut creds = answer(&nonce, nc, method, "s3cret");
        creds.uri = "sip:+4930123456@dialect.example.com;user=phone".into();
        creds.response = auth::expected_response(&creds, method, "s3cret").unwrap();
        assert_eq!(
            digest.verify(&creds, "REGISTER", "s3cret", t0),
            Verdict::Invalid
        );
        assert_eq!(digest.verify(&creds, method, "s3cret", t0), Verdict::Ok);
    }
}

#[test]
fn nonce_counts_are_bounded_and_forgotten_when_expired() {
    let t0 = Instant::now();
    let at = |s| t0 + Duration::from_secs(s);
    let mut digest = Digest::with_key("dialect", KEY, t0)
        .with_nonce_lifetime(Duration::from_secs(60))
        .with_max_nonces(3);
    let nonces: Vec<String> = (0..4)
        .map(|i| nonce_of(&digest.challenge(at(i), false)))
        .collect();
    for (i, nonce) in nonces.iter().enumerate() {
        let creds = answer(nonce, 1, "REGISTER", "s3cret");
        assert_eq!(
            digest.verify(&creds, "REGISTER", "s3cret", at(10)),
            Verdict::Ok,
            "{i}"
        );
        assert!(digest.remembered() <= 3);
    }
    assert_eq!(digest.remembered(), 3);
    // The oldest was forgotten to make room: its next answer is stale (a
    // replay of its first answer too), so the client re-authenticates.
    for nc in [1, 2] {
        assert_eq!(
            digest.verify(
                &answer(&nonces[0], nc, "REGISTER", "s3cret"),
                "REGISTER",
                "s3cret",
                at(10)
            ),
            Verdict::Stale
        );
    }
    // The newest is remembered still.
    assert_eq!(
        digest.verify(
            &answer(&nonces[3], 1, "REGISTER", "s3cret"),
            "REGISTER",
            "s3cret",
            at(10)
        ),
        Verdict::Replay
    );
    // Once they expire, their counts go.
    digest.challenge(at(62), false);
    assert_eq!(digest.remembered(), 2);
    digest.challenge(at(64), false);
    assert_eq!(digest.remembered(), 0);
}

#[test]
fn a_header_is_found_in_the_text_as_parse_reads_it() {
    let text = b"\r\nINVITE sip:i:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                 I :  abc\r\n  def \r\nCall-ID: second\r\n\r\nCall-ID: in-the-body";
    assert_eq!(
        message::header_in(text, "Call-ID").as_deref(),
        Some("abc def")
    );
    assert_eq!(
        message::header_in(b"BYE sip:x@h SIP/2.0\r\ncall-id:q\r\n\r\n", "Call-ID").as_deref(),
        Some("q")
    );
    assert_eq!(
        message::header_in(b"BYE sip:x@h SIP/2.0\r\nTo: a\r\n\r\nCall-ID: b", "Call-ID"),
        None
    );
    assert_eq!(message::header_in(b"\xff\xfe: x\r\n\r\n", "Call-ID"), None);
}

#[test]
fn a_new_offer_in_the_session_is_answered_with_the_mirrored_direction() {
    let (_, first) = sdp::answer(&offer("m=audio 30000 RTP/AVP 0\n"), &ours()).unwrap();
    assert!(first.contains("a=sendrecv\r\n"), "{first}");
    let version = |sdp: &str| -> u64 {
        sdp.lines()
            .find_map(|l| l.strip_prefix("o="))
            .and_then(|o| o.split(' ').nth(2))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    // The caller holds: recvonly, a new version.
    let held = sdp::reanswer(&first, &offer("m=audio 30000 RTP/AVP 0\na=sendonly\n"));
    assert!(
        held.contains("a=recvonly\r\n") && !held.contains("a=sendrecv"),
        "{held}"
    );
    assert_eq!(version(&held), version(&first) + 1);
    // Held the same way again: the same answer, the same version.
    let again = sdp::reanswer(&held, &offer("m=audio 30000 RTP/AVP 0\na=sendonly\n"));
    assert_eq!(again, held);
    // Inactive, at session level: inactive.
    let inactive = sdp::reanswer(&held, &offer("a=inactive\nm=audio 30000 RTP/AVP 0\n"));
    assert!(inactive.contains("a=inactive\r\n"), "{inactive}");
    assert_eq!(version(&inactive), version(&first) + 2);
    // Resumed: sendrecv again.
    let resumed = sdp::reanswer(&inactive, &offer("m=audio 30000 RTP/AVP 0\n"));
    assert!(resumed.contains("a=sendrecv\r\n"), "{resumed}");
    assert_eq!(version(&resumed), version(&first) + 3);
    // The caller only receives: we only send.
    let listening = sdp::reanswer(&first, &offer("m=audio 30000 RTP/AVP 0\na=recvonly\n"));
    assert!(listening.contains("a=sendonly\r\n"), "{listening}");
    // Everything but the direction and the version is as it was.
    assert_eq!(
        held.replace("a=recvonly", "a=sendrecv")
            .lines()
            .filter(|l| !l.starts_with("o="))
            .collect::<Vec<_>>(),
        first
            .lines()
            .filter(|l| !l.starts_with("o="))
            .collect::<Vec<_>>()
    );
}
