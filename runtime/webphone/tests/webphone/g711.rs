//! µ-law (G.711) for the tests: a tone to send and a level to measure.

use std::f64::consts::PI;

use dialect_webphone::Frame;

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// Encodes one linear 16-bit sample.
pub fn encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    while exponent > 0 && s & (0x80 << exponent) == 0 {
        exponent -= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes one byte to a linear sample.
pub fn decode(byte: u8) -> i16 {
    let u = i32::from(!byte);
    let exponent = (u >> 4) & 0x07;
    let mantissa = u & 0x0f;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// Frame `n` of a continuous 1 kHz tone at about -12 dBFS.
pub fn tone(n: u32) -> Frame {
    let mut frame = [0u8; 160];
    for (i, byte) in frame.iter_mut().enumerate() {
        let t = f64::from(n) * 160.0 + i as f64;
        let sample = 8000.0 * (2.0 * PI * 1000.0 * t / 8000.0).sin();
        *byte = encode(sample as i16);
    }
    frame
}

/// The mean absolute amplitude of a frame (silence is 0; the tone about 5100).
pub fn level(frame: &Frame) -> f64 {
    frame
        .iter()
        .map(|b| f64::from(decode(*b)).abs())
        .sum::<f64>()
        / frame.len() as f64
}

#[test]
fn the_codec_round_trips_within_its_step() {
    for s in [-32000i16, -8000, -100, 0, 1, 100, 8000, 32000] {
        let back = decode(encode(s));
        assert!(
            (i32::from(back) - i32::from(s)).abs() <= i32::from(s).abs() / 16 + 8,
            "{s} -> {back}"
        );
    }
    assert_eq!(level(&[0xff; 160]), 0.0);
    assert!(level(&tone(0)) > 4000.0);
}
