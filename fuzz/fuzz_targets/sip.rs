//! The SIP/RTP front end on arbitrary datagrams, the way the server meets
//! them (`runtime/server/src/server.rs`, `on_datagram` and the TCP reader):
//!
//! - parsing, and answering a request that does not parse;
//! - whatever parses serialises and parses again;
//! - the transaction layer: the message goes through
//!   `Transactions::handle_incoming` twice (the second time is a
//!   retransmission, which must be absorbed), then `handle_timeout` at later
//!   times; everything it asks to send must parse;
//! - digest credentials: `Credentials::parse` on every `Authorization` and
//!   `Proxy-Authorization` value, and on the whole input as text;
//! - SDP: the body is parsed and answered (`sdp::answer`); the answer must
//!   parse and negotiate the same codec and payload types;
//! - the same bytes as a TCP stream cut into pieces, the framed messages
//!   going through the same transaction table;
//! - the bytes as an RTP/RFC 4733 packet.
//!
//! Nothing may panic. The peer's address comes from the first six bytes of
//! the input (IPv4 address and port); time starts at one fixed `Instant`.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dialect_sip::auth::Credentials;
use dialect_sip::message::{self, FrameError, TcpFramer};
use dialect_sip::sdp::{self, LocalMedia};
use dialect_sip::transaction::{Config, Incoming, Transactions};
use dialect_sip::{Message, Method};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let from = peer(data);
    let t0 = base();
    let mut txs = Transactions::new(Config::default());

    match dialect_sip::parse(data) {
        Ok(message) => {
            let bytes = dialect_sip::serialize(&message);
            assert!(dialect_sip::parse(&bytes).is_ok(), "a serialised message parses again");
            credentials(&message);
            session(message.body());
            transactions(&mut txs, message, from, t0);
        }
        Err(error) => {
            let _ = message::error_response(data, &error);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Credentials::parse(text);
    }

    let mut framer = TcpFramer::new();
    let mut now = t0 + Duration::from_secs(1);
    'stream: for chunk in data.chunks(7) {
        if framer.push(chunk).is_err() {
            break;
        }
        loop {
            match framer.poll_message() {
                Ok(Some(message)) => {
                    now += Duration::from_millis(1);
                    let _ = txs.handle_incoming(message, from, now);
                }
                Ok(None) => break,
                Err(FrameError::Message { error, bytes }) => {
                    let _ = message::error_response(&bytes, &error);
                }
                Err(_) => break 'stream,
            }
        }
    }
    drain(&mut txs, from);

    if let Ok(packet) = dialect_media::rtp::Packet::parse(data) {
        let mut receiver = dialect_media::DtmfReceiver::new();
        let _ = receiver.receive(&packet);
    }
});

/// The one `Instant` every run starts from.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// The peer: an IPv4 address and port from the first six bytes.
fn peer(data: &[u8]) -> SocketAddr {
    let mut b = [0u8; 6];
    for (slot, byte) in b.iter_mut().zip(data) {
        *slot = *byte;
    }
    let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    SocketAddr::V4(SocketAddrV4::new(ip, u16::from_le_bytes([b[4], b[5]])))
}

/// The message through the transaction layer: first arrival, a
/// retransmission, then the timers.
fn transactions(txs: &mut Transactions, message: Message, from: SocketAddr, t0: Instant) {
    let is_request = message.is_request();
    let is_ack = message.method() == Some(Method::Ack);
    let first = txs.handle_incoming(message.clone(), from, t0);
    if let Incoming::NewRequest { request, .. } = &first {
        assert_eq!(request, &message, "the new request is the message received");
    }
    if !is_request {
        assert!(
            !matches!(first, Incoming::NewRequest { .. } | Incoming::Ack(_)),
            "a response is not a request"
        );
    }
    drain(txs, from);
    let second = txs.handle_incoming(message, from, t0 + Duration::from_millis(10));
    if matches!(first, Incoming::NewRequest { .. }) && !is_ack {
        assert!(
            matches!(second, Incoming::Retransmission),
            "a retransmitted request is absorbed, not {second:?}"
        );
    }
    drain(txs, from);
    // Past every retransmission and wait timer (64*T1 = 32 s, T4 = 5 s).
    for seconds in [1, 33, 40, 3600] {
        txs.handle_timeout(t0 + Duration::from_secs(seconds));
        drain(txs, from);
    }
}

/// Empties the output queues; every message the transactions send must
/// parse, and goes back to the peer it came from.
fn drain(txs: &mut Transactions, from: SocketAddr) {
    while let Some(transmit) = txs.poll_transmit() {
        assert_eq!(transmit.to, from, "an answer goes to where the request came from");
        if let Err(error) = dialect_sip::parse(&transmit.bytes) {
            panic!(
                "the transaction layer sent a message that does not parse ({error:?}):\n{}",
                String::from_utf8_lossy(&transmit.bytes)
            );
        }
    }
    while txs.poll_event().is_some() {}
}

/// The digest credentials, as `register` in the server reads them.
fn credentials(message: &Message) {
    for name in ["Authorization", "Proxy-Authorization"] {
        for value in message.header_values(name) {
            if let Some(c) = Credentials::parse(value) {
                assert!(!c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty());
            }
        }
    }
}

/// The SDP offer/answer path of an INVITE or re-INVITE.
fn session(body: &[u8]) {
    let Ok(offer) = sdp::parse(body) else {
        return;
    };
    let _ = sdp::negotiated(&offer);
    let local = LocalMedia {
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 40000,
        session_id: 1,
        version: 1,
    };
    let Some((ours, answer)) = sdp::answer(&offer, &local) else {
        return;
    };
    let parsed = sdp::parse(answer.as_bytes())
        .unwrap_or_else(|e| panic!("our answer does not parse ({e}):\n{answer}"));
    let theirs = sdp::negotiated(&parsed)
        .unwrap_or_else(|| panic!("our answer negotiates nothing:\n{answer}"));
    assert_eq!(
        (theirs.codec, theirs.payload_type, theirs.telephone_event),
        (ours.codec, ours.payload_type, ours.telephone_event),
        "the answer says another codec than the one we use:\n{answer}"
    );
}
