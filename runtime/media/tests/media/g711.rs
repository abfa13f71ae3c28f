//! G.711 against the ITU tables, and the properties that make it G.711.

use dialect_media::{FRAME_SAMPLES, Law};

#[test]
fn known_values() {
    // Decoding, from the ITU-T G.711 tables (as 16-bit linear values).
    let ulaw = [
        (0x00, -32124),
        (0x0F, -16764),
        (0x7E, -8),
        (0x7F, 0),
        (0x80, 32124),
        (0x8F, 16764),
        (0x90, 15996),
        (0xF0, 120),
        (0xFE, 8),
        (0xFF, 0),
    ];
    for (byte, linear) in ulaw {
        assert_eq!(Law::Ulaw.decode(byte), linear, "µ-law {byte:#04x}");
    }
    let alaw = [
        (0x00, -5504),
        (0x01, -5248),
        (0x2A, -32256),
        (0x55, -8),
        (0x80, 5504),
        (0xAA, 32256),
        (0xD5, 8),
        (0xD4, 24),
    ];
    for (byte, linear) in alaw {
        assert_eq!(Law::Alaw.decode(byte), linear, "A-law {byte:#04x}");
    }
    // Encoding.
    let encoded = [
        (0, 0xFF, 0xD5),
        (-1, 0x7F, 0x55),
        (8, 0xFE, 0xD5),
        (1000, 0xCE, 0xFA),
        (-1000, 0x4E, 0x7A),
        (i16::MAX, 0x80, 0xAA),
        (i16::MIN, 0x00, 0x2A),
    ];
    for (linear, u, a) in encoded {
        assert_eq!(Law::Ulaw.encode(linear), u, "µ-law of {linear}");
        assert_eq!(Law::Alaw.encode(linear), a, "A-law of {linear}");
    }
}

#[test]
fn every_byte_decodes_and_reencodes_to_itself() {
    for byte in 0..=255u8 {
        let linear = Law::Alaw.decode(byte);
        assert_eq!(
            Law::Alaw.encode(linear),
            byte,
            "A-law {byte:#04x} ({linear})"
        );
        let linear = Law::Ulaw.decode(byte);
        if byte == 0x7F {
            // µ-law has two zeros; "negative zero" encodes as positive zero.
            assert_eq!((linear, Law::Ulaw.encode(linear)), (0, 0xFF));
        } else {
            assert_eq!(
                Law::Ulaw.encode(linear),
                byte,
                "µ-law {byte:#04x} ({linear})"
            );
        }
    }
}

#[test]
fn round_trip_error_is_within_half_a_step() {
    for x in i16::MIN..=i16::MAX {
        let magnitude = i32::from(x).abs();
        let u_error = (i32::from(Law::Ulaw.decode(Law::Ulaw.encode(x))) - i32::from(x)).abs();
        let a_error = (i32::from(Law::Alaw.decode(Law::Alaw.encode(x))) - i32::from(x)).abs();
        if magnitude <= 32124 {
            // µ-law steps are 8 << segment, with |x| + 132 in [128, 256) << segment.
            assert!(
                u_error <= (magnitude + 132) / 32 + 1,
                "µ-law {x}: error {u_error}"
            );
        } else {
            assert!(u_error <= 32768 - 32124, "µ-law {x}: error {u_error}");
        }
        // A-law steps are 16 in the first two segments, then |x| / 32 at most.
        assert!(
            a_error <= (magnitude / 32).max(16),
            "A-law {x}: error {a_error}"
        );
    }
}

#[test]
fn decoding_an_encoding_is_monotonic() {
    for law in Law::ALL {
        let mut last = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let y = law.decode(law.encode(x));
            assert!(y >= last, "{law:?} at {x}: {y} after {last}");
            last = y;
        }
    }
}

#[test]
fn a_law_and_mu_law_differ_as_they_should() {
    // Silence: µ-law has a (double) zero, A-law none; its silence is +8.
    assert_eq!((Law::Ulaw.silence(), Law::Alaw.silence()), (0xFF, 0xD5));
    assert_eq!(Law::Ulaw.decode(Law::Ulaw.silence()), 0);
    assert_eq!(Law::Alaw.decode(Law::Alaw.silence()), 8);
    let zeros = |law: Law| (0..=255u8).filter(|&b| law.decode(b) == 0).count();
    assert_eq!((zeros(Law::Ulaw), zeros(Law::Alaw)), (2, 0));
    // Range: A-law reaches further (13 bits against µ-law's 14 minus bias).
    let peak = |law: Law| (0..=255u8).map(|b| law.decode(b)).max().unwrap();
    assert_eq!((peak(Law::Ulaw), peak(Law::Alaw)), (32124, 32256));
    // Small signals: µ-law's finest step is 8, A-law's 16.
    let finest = |law: Law| {
        let mut values: Vec<i16> = (0..=255u8).map(|b| law.decode(b)).collect();
        values.sort_unstable();
        values.dedup();
        values.windows(2).map(|w| w[1] - w[0]).min().unwrap()
    };
    assert_eq!((finest(Law::Ulaw), finest(Law::Alaw)), (8, 16));
    // Transmission: µ-law inverts every bit, A-law every other one (0x55),
    // so the same value is a different byte on the wire.
    assert_eq!(Law::Ulaw.encode(1000) ^ 0xFF, 0x31);
    assert_eq!(Law::Alaw.encode(1000) ^ 0x55, 0xAF);
    // And decoding with the wrong law is far off (440 for 1000).
    let wrong = Law::Alaw.decode(Law::Ulaw.encode(1000));
    assert!((i32::from(wrong) - 1000).abs() > 250, "{wrong}");
}

#[test]
fn frames_match_samples() {
    let samples: [i16; FRAME_SAMPLES] =
        std::array::from_fn(|i| ((i as f64 / 7.0).sin() * 20_000.0) as i16);
    for law in Law::ALL {
        let mut bytes = [0u8; FRAME_SAMPLES];
        law.encode_frame(&samples, &mut bytes);
        let mut decoded = [0i16; FRAME_SAMPLES];
        law.decode_frame(&bytes, &mut decoded);
        for i in 0..FRAME_SAMPLES {
            assert_eq!(bytes[i], law.encode(samples[i]));
            assert_eq!(decoded[i], law.decode(bytes[i]));
        }
        // Slices of other lengths: the shorter side wins.
        let mut short = [0u8; 10];
        assert_eq!(law.encode_into(&samples, &mut short), 10);
        assert_eq!(short[..], bytes[..10]);
    }
}

#[test]
fn payload_types_and_names() {
    assert_eq!(
        (Law::Ulaw.payload_type(), Law::Ulaw.encoding_name()),
        (0, "PCMU")
    );
    assert_eq!(
        (Law::Alaw.payload_type(), Law::Alaw.encoding_name()),
        (8, "PCMA")
    );
    assert_eq!(Law::from_payload_type(8), Some(Law::Alaw));
    assert_eq!(Law::from_payload_type(18), None);
}
