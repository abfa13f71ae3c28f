//! RTP packets from literal bytes, the writer, the sender, and garbage.

use crate::hex;
use dialect_media::rtp::{HEADER_LEN, PACKET_LEN, write_header};
use dialect_media::{Packet, RtpError, RtpSender};
use proptest::prelude::*;

/// The first packet of SIPp's `dtmf_2833_1.pcap`: marker, type 101.
const SIPP_DTMF: &str = "80e5 1f30 000033e0 0e05384e 010a0000";

#[test]
fn parses_a_literal_packet() {
    let bytes = hex(SIPP_DTMF);
    let packet = Packet::parse(&bytes).unwrap();
    assert_eq!(
        packet,
        Packet {
            payload_type: 101,
            marker: true,
            seq: 7984,
            timestamp: 13280,
            ssrc: 0x0e05_384e,
            payload: &[0x01, 0x0a, 0x00, 0x00],
        }
    );
}

#[test]
fn parses_a_pcmu_frame() {
    let mut bytes = hex("8000 0001 000000a0 deadbeef");
    bytes.extend([0xFF; 160]);
    let packet = Packet::parse(&bytes).unwrap();
    assert_eq!(
        (packet.payload_type, packet.marker, packet.seq),
        (0, false, 1)
    );
    assert_eq!((packet.timestamp, packet.ssrc), (160, 0xdead_beef));
    assert_eq!(packet.payload, &[0xFF; 160][..]);
}

#[test]
fn skips_csrcs_extension_and_padding() {
    // Two CSRCs.
    let bytes = hex("8208 0002 00000140 00000001 11111111 22222222 d5d5");
    let packet = Packet::parse(&bytes).unwrap();
    assert_eq!(
        (packet.payload_type, packet.payload),
        (8, &[0xd5, 0xd5][..])
    );
    // A one-byte-header extension (RFC 8285) of one word.
    let bytes = hex("9000 0003 00000000 00000001 bede0001 10ff0000 aabb");
    assert_eq!(Packet::parse(&bytes).unwrap().payload, &[0xaa, 0xbb]);
    // Three bytes of padding, the last one counting them.
    let bytes = hex("a000 0004 00000000 00000001 aabbcc 000003");
    assert_eq!(Packet::parse(&bytes).unwrap().payload, &[0xaa, 0xbb, 0xcc]);
    // All three at once.
    let bytes = hex("b100 0005 00000000 00000001 33333333 bede0000 aabb 0002");
    assert_eq!(Packet::parse(&bytes).unwrap().payload, &[0xaa, 0xbb]);
    // Padding that is the whole payload.
    let bytes = hex("a000 0006 00000000 00000001 0000 0004");
    assert_eq!(Packet::parse(&bytes).unwrap().payload, &[] as &[u8]);
    // A bare header: an empty payload is valid.
    let bytes = hex("8000 0007 00000000 00000001");
    assert!(Packet::parse(&bytes).unwrap().is_empty());
}

#[test]
fn refuses_what_is_not_rtp() {
    let cases: &[(&str, RtpError)] = &[
        ("", RtpError::TooShort { len: 0 }),
        ("8000 0001 00000000 000000", RtpError::TooShort { len: 11 }),
        // A STUN binding request starts with two zero bits: version 0.
        ("0001 0000 2112a442 00000000", RtpError::Version(0)),
        ("4000 0001 00000000 00000001", RtpError::Version(1)),
        ("c000 0001 00000000 00000001", RtpError::Version(3)),
        (
            "8f00 0001 00000000 00000001 aabbccdd",
            RtpError::Csrc { count: 15, len: 16 },
        ),
        ("9000 0001 00000000 00000001 bede", RtpError::Extension),
        (
            "9000 0001 00000000 00000001 bede0002 00000000",
            RtpError::Extension,
        ),
        (
            "a000 0001 00000000 00000001",
            RtpError::Padding {
                count: 0,
                available: 0,
            },
        ),
        (
            "a000 0001 00000000 00000001 aa00",
            RtpError::Padding {
                count: 0,
                available: 2,
            },
        ),
        (
            "a000 0001 00000000 00000001 aa05",
            RtpError::Padding {
                count: 5,
                available: 2,
            },
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(Packet::parse(&hex(bytes)), Err(*error), "{bytes}");
    }
    assert_eq!(
        RtpError::TooShort { len: 3 }.to_string(),
        "3 bytes are too short for an RTP header (12 bytes)"
    );
}

#[test]
fn writes_what_it_parses() {
    let bytes = hex(SIPP_DTMF);
    let packet = Packet::parse(&bytes).unwrap();
    let mut out = [0u8; 64];
    let len = packet.write(&mut out).unwrap();
    assert_eq!(&out[..len], &bytes[..]);
    assert_eq!(
        packet.write(&mut [0u8; 15]),
        Err(RtpError::BufferTooSmall {
            needed: 16,
            len: 15
        })
    );
    let mut header = [0u8; HEADER_LEN];
    write_header(&mut header, 0x80 | 8, false, 0xabcd, 0x0102_0304, 7);
    assert_eq!(
        header[..],
        hex("8008 abcd 01020304 00000007")[..],
        "type masked to 7 bits"
    );
}

#[test]
fn the_sender_numbers_and_marks_its_packets() {
    let mut sender = RtpSender::new(0x1234_5678, 65_534, u32::MAX - 159, 0);
    let first = *sender.frame(&[0xFF; 160]);
    assert_eq!(first.len(), PACKET_LEN);
    assert_eq!(first[..HEADER_LEN], hex("8080 fffe ffffff60 12345678")[..]);
    assert_eq!(first[HEADER_LEN..], [0xFF; 160]);
    // Both counters wrap; the marker was for the first packet only.
    let second = Packet::parse(sender.frame(&[0x7F; 160])).unwrap();
    assert_eq!(
        (second.marker, second.seq, second.timestamp),
        (false, 65_535, 0)
    );
    let third = Packet::parse(sender.frame(&[0x7F; 160])).unwrap();
    assert_eq!((third.seq, third.timestamp), (0, 160));
    // Two silent ticks: the clock runs on, the numbers do not, and the next
    // talkspurt starts with the marker.
    sender.skip();
    sender.skip();
    let after = Packet::parse(sender.frame(&[0x7F; 160])).unwrap();
    assert_eq!((after.marker, after.seq, after.timestamp), (true, 1, 640));
    // An event packet takes the next number and its own timestamp.
    let mut out = [0u8; 32];
    let len = sender
        .write(101, true, 640, &[1, 10, 0, 0], &mut out)
        .unwrap();
    let event = Packet::parse(&out[..len]).unwrap();
    assert_eq!(
        (event.payload_type, event.marker, event.seq, event.timestamp),
        (101, true, 2, 640)
    );
    assert_eq!(event.ssrc, 0x1234_5678);
    assert_eq!((sender.seq(), sender.timestamp()), (3, 800));
}

/// A valid packet with arbitrary header fields and options.
fn packet_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<[u8; 12]>(),
        0..4usize,
        proptest::option::of(0..3u16),
        proptest::collection::vec(any::<u8>(), 0..200),
        0..5u8,
    )
        .prop_map(|(mut header, csrcs, extension, payload, padding)| {
            header[0] = 0x80 | csrcs as u8;
            let mut bytes = header.to_vec();
            bytes.extend(std::iter::repeat_n(0xAB, csrcs * 4));
            if let Some(words) = extension {
                bytes[0] |= 0x10;
                bytes.extend([0xBE, 0xDE]);
                bytes.extend(words.to_be_bytes());
                bytes.extend(std::iter::repeat_n(0xEE, usize::from(words) * 4));
            }
            bytes.extend(&payload);
            if padding > 0 {
                bytes[0] |= 0x20;
                bytes.extend(std::iter::repeat_n(0, usize::from(padding) - 1));
                bytes.push(padding);
            }
            bytes
        })
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(packet) = Packet::parse(&bytes) {
            prop_assert!(packet.len() <= bytes.len());
        }
    }

    #[test]
    fn version_2_garbage_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 12..100)) {
        bytes[0] = 0x80 | (bytes[0] & 0x3F);
        let _ = Packet::parse(&bytes);
    }

    #[test]
    fn valid_packets_parse_and_mutations_do_not_panic(
        bytes in packet_bytes(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let packet = Packet::parse(&bytes).unwrap();
        prop_assert!(packet.payload.len() <= bytes.len() - HEADER_LEN);
        let _ = Packet::parse(&bytes[..cut.index(bytes.len())]);
        let mut flipped = bytes.clone();
        let at = flip.index(flipped.len());
        flipped[at] ^= 0xFF;
        let _ = Packet::parse(&flipped);
    }

    #[test]
    fn writing_then_parsing_is_the_identity(
        payload_type in 0..128u8,
        marker: bool,
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let packet = Packet { payload_type, marker, seq, timestamp, ssrc, payload: &payload };
        let mut out = [0u8; 256];
        let len = packet.write(&mut out).unwrap();
        prop_assert_eq!(Packet::parse(&out[..len]), Ok(packet));
    }
}
