//! RFC 4733 telephone-events: literal payloads, SIPp's packets, each key
//! reported once, and the test caller's sender.

use crate::hex;
use dialect_media::dtmf::{self, DtmfError, Event};
use dialect_media::{DtmfReceiver, DtmfSender, Packet, RtpSender};
use std::time::Duration;

/// SIPp's `pcap/dtmf_2833_1.pcap`, RTP only: key 1, an update every 20 ms,
/// the end packet three times with one sequence number.
const SIPP_1: [&str; 10] = [
    "80e5 1f30 000033e0 0e05384e 010a0000",
    "8065 1f31 000033e0 0e05384e 010a0140",
    "8065 1f32 000033e0 0e05384e 010a0280",
    "8065 1f33 000033e0 0e05384e 010a03c0",
    "8065 1f34 000033e0 0e05384e 010a0500",
    "8065 1f35 000033e0 0e05384e 010a0640",
    "8065 1f36 000033e0 0e05384e 010a0780",
    "8065 1f37 000033e0 0e05384e 018a08c0",
    "8065 1f37 000033e0 0e05384e 018a08c0",
    "8065 1f37 000033e0 0e05384e 018a08c0",
];

/// SIPp's `pcap/dtmf_2833_0.pcap`: key 0, with a *later* timestamp (17632)
/// than key 1's (13280).
const SIPP_0: [&str; 10] = [
    "80e5 2f30 000044e0 0e05384e 000a0000",
    "8065 2f31 000044e0 0e05384e 000a0140",
    "8065 2f32 000044e0 0e05384e 000a0280",
    "8065 2f33 000044e0 0e05384e 000a03c0",
    "8065 2f34 000044e0 0e05384e 000a0500",
    "8065 2f35 000044e0 0e05384e 000a0640",
    "8065 2f36 000044e0 0e05384e 000a0780",
    "8065 2f37 000044e0 0e05384e 008a08c0",
    "8065 2f37 000044e0 0e05384e 008a08c0",
    "8065 2f37 000044e0 0e05384e 008a08c0",
];

/// Feeds packets to a receiver and collects the keys it reports.
fn keys(receiver: &mut DtmfReceiver, packets: &[&str]) -> String {
    packets
        .iter()
        .filter_map(|text| {
            let bytes = hex(text);
            receiver.receive(&Packet::parse(&bytes).unwrap()).unwrap()
        })
        .collect()
}

/// A packet of an event: SSRC 1, telephone-event type 101.
fn event(timestamp: u32, marker: bool, payload: &str) -> String {
    let flags = if marker { "e5" } else { "65" };
    format!("80{flags} 0000 {timestamp:08x} 00000001 {payload}")
}

#[test]
fn parses_literal_payloads() {
    let start = Event::parse(&hex("010a0000")).unwrap();
    assert_eq!(
        start,
        Event {
            code: 1,
            end: false,
            volume: 10,
            duration: 0
        }
    );
    assert_eq!(start.key(), Some('1'));
    let end = Event::parse(&hex("0b8a08c0")).unwrap();
    assert_eq!(
        end,
        Event {
            code: 11,
            end: true,
            volume: 10,
            duration: 2240
        }
    );
    assert_eq!(end.key(), Some('#'));
    // The reserved bit is ignored; volume takes six bits.
    let reserved = Event::parse(&hex("0a7fffff")).unwrap();
    assert_eq!(
        (
            reserved.key(),
            reserved.end,
            reserved.volume,
            reserved.duration
        ),
        (Some('*'), false, 63, 65535)
    );
    // A flash (16) is an event but not a key.
    assert_eq!(Event::parse(&hex("10000190")).unwrap().key(), None);
    assert_eq!(Event::parse(&hex("0100")), Err(DtmfError::Short { len: 2 }));
    assert_eq!(Event::parse(&[]), Err(DtmfError::Short { len: 0 }));
    // Round trip.
    assert_eq!(end.to_bytes(), [0x0b, 0x8a, 0x08, 0xc0]);
}

#[test]
fn keys_and_codes() {
    let all: String = (0..16).map(|code| dtmf::key(code).unwrap()).collect();
    assert_eq!(all, "0123456789*#ABCD");
    assert_eq!(dtmf::key(16), None);
    for (i, key) in all.chars().enumerate() {
        assert_eq!(dtmf::code(key), Some(i as u8));
    }
    assert_eq!(dtmf::code('d'), Some(15));
    assert_eq!(dtmf::code('E'), None);
}

#[test]
fn a_sipp_digit_is_reported_once() {
    let mut receiver = DtmfReceiver::new();
    assert_eq!(keys(&mut receiver, &SIPP_1), "1");
    // As soon as its first packet arrives.
    let mut receiver = DtmfReceiver::new();
    assert_eq!(keys(&mut receiver, &SIPP_1[..1]), "1");
    assert_eq!(keys(&mut receiver, &SIPP_1[1..]), "");
}

#[test]
fn sipp_pcaps_in_any_order_each_count() {
    // 1, 0, 1: the timestamps go 13280, 17632, 13280.
    let mut receiver = DtmfReceiver::new();
    let mut all = Vec::new();
    all.extend(SIPP_1);
    all.extend(SIPP_0);
    all.extend(SIPP_1);
    assert_eq!(keys(&mut receiver, &all), "101");
}

#[test]
fn the_same_key_twice_is_two_presses() {
    let mut receiver = DtmfReceiver::new();
    let packets = [
        event(1000, true, "050a0000"),
        event(1000, false, "058a0320"),
        event(1000, false, "058a0320"),
        event(1000, false, "058a0320"),
        event(3000, true, "050a0000"),
        event(3000, false, "058a0320"),
    ];
    let packets: Vec<&str> = packets.iter().map(String::as_str).collect();
    assert_eq!(keys(&mut receiver, &packets), "55");
}

#[test]
fn a_press_whose_start_was_lost_is_reported_from_its_end() {
    let mut receiver = DtmfReceiver::new();
    let packets = [
        event(1000, false, "098a0640"),
        event(1000, false, "098a0640"),
        event(1000, false, "098a0640"),
    ];
    let packets: Vec<&str> = packets.iter().map(String::as_str).collect();
    assert_eq!(keys(&mut receiver, &packets), "9");
}

#[test]
fn a_long_press_continues_in_segments() {
    // Over 8.19 s the duration overflows: a new segment, new timestamp,
    // no marker (RFC 4733 §2.5.1.3). Then a real second press, marked.
    let mut receiver = DtmfReceiver::new();
    let packets = [
        event(0, true, "030a0000"),
        event(0, false, "030affff"),
        event(65535, false, "030a0190"),
        event(65535, false, "038a0320"),
        event(70000, true, "030a0000"),
    ];
    let packets: Vec<&str> = packets.iter().map(String::as_str).collect();
    assert_eq!(keys(&mut receiver, &packets), "33");
}

#[test]
fn play_dtmf_actions_differ_by_ssrc() {
    // SIPp's play_dtmf restarts the timestamps at each action but takes a
    // new SSRC: the same key in two actions is two presses.
    let mut receiver = DtmfReceiver::new();
    let first = hex("80e0 0001 00005dc0 00000007 040a0000");
    let second = hex("80e0 0010 00005dc0 00000008 040a0000");
    assert_eq!(
        receiver.receive(&Packet::parse(&first).unwrap()),
        Ok(Some('4'))
    );
    assert_eq!(
        receiver.receive(&Packet::parse(&second).unwrap()),
        Ok(Some('4'))
    );
}

#[test]
fn other_events_are_not_keys() {
    let mut receiver = DtmfReceiver::new();
    let packets = [event(100, true, "10000000"), event(100, false, "10800190")];
    let packets: Vec<&str> = packets.iter().map(String::as_str).collect();
    assert_eq!(keys(&mut receiver, &packets), "");
    let short = hex(&event(200, true, "0100"));
    assert_eq!(
        receiver.receive(&Packet::parse(&short).unwrap()),
        Err(DtmfError::Short { len: 2 })
    );
}

#[test]
fn the_sender_produces_one_key_press() {
    let packets: Vec<_> = DtmfSender::new('#', 8000, Duration::from_millis(120))
        .unwrap()
        .collect();
    let expected = [
        (0, true, "0b0a0000"),
        (50, false, "0b0a0190"),
        (100, false, "0b0a0320"),
        (120, false, "0b8a03c0"),
        (170, false, "0b8a03c0"),
        (220, false, "0b8a03c0"),
    ];
    assert_eq!(packets.len(), expected.len());
    for (packet, (at, marker, payload)) in packets.iter().zip(expected) {
        assert_eq!(packet.at, Duration::from_millis(at));
        assert_eq!(packet.marker, marker);
        assert_eq!(packet.timestamp, 8000);
        assert_eq!(packet.payload.to_vec(), hex(payload), "at {at} ms");
    }
}

#[test]
fn sent_keys_are_received_once_each() {
    let mut sender = RtpSender::new(42, 100, 1600, 0);
    let mut receiver = DtmfReceiver::new();
    let mut heard = String::new();
    let mut out = [0u8; 32];
    for key in "0123456789*#ABCD11".chars() {
        let press = DtmfSender::new(key, sender.timestamp(), Duration::from_millis(100)).unwrap();
        for packet in press {
            let len = sender
                .write(
                    101,
                    packet.marker,
                    packet.timestamp,
                    &packet.payload,
                    &mut out,
                )
                .unwrap();
            heard.extend(
                receiver
                    .receive(&Packet::parse(&out[..len]).unwrap())
                    .unwrap(),
            );
        }
        // The key was held for 100 ms, then 100 ms of pause: ten ticks.
        for _ in 0..10 {
            sender.skip();
        }
    }
    assert_eq!(heard, "0123456789*#ABCD11");
}

#[test]
fn the_sender_refuses_what_it_cannot_send() {
    assert_eq!(
        DtmfSender::new('x', 0, Duration::from_millis(100)).unwrap_err(),
        DtmfError::UnknownKey('x')
    );
    for duration in [
        Duration::ZERO,
        Duration::from_millis(10),
        Duration::from_secs(9),
    ] {
        assert_eq!(
            DtmfSender::new('1', 0, duration).unwrap_err(),
            DtmfError::Duration(duration)
        );
    }
    let longest = DtmfSender::new('1', 0, dtmf::MAX_DURATION).unwrap();
    let last = longest.last().unwrap();
    assert_eq!(Event::parse(&last.payload).unwrap().duration, 65528);
    let quiet = DtmfSender::new('1', 0, Duration::from_millis(40))
        .unwrap()
        .with_volume(99);
    assert_eq!(quiet.packet_count(), 4);
    assert_eq!(quiet.last().unwrap().payload, [1, 0x80 | 63, 0x01, 0x40]);
}
