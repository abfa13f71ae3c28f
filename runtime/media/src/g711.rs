//! G.711 (ITU-T): the two companding laws of the telephone network, µ-law
//! (North America, Japan; RTP payload type 0, `PCMU`) and A-law (elsewhere;
//! payload type 8, `PCMA`).
//!
//! Decoding is a lookup in a 256-entry table built at compile time. Encoding
//! uses the standard segment algorithm: the segment (exponent) is the
//! position of the highest set bit of the biased magnitude, found with one
//! `leading_zeros` instruction instead of a search, and the four bits below
//! it are the mantissa. Samples are 16-bit linear PCM, so µ-law works on the
//! top 14 bits and A-law on the top 13, as in the ITU reference code.

use crate::FRAME_SAMPLES;

/// A G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Law {
    /// µ-law: RTP payload type 0, SDP encoding name `PCMU`.
    Ulaw,
    /// A-law: RTP payload type 8, SDP encoding name `PCMA`.
    Alaw,
}

impl Law {
    /// Both laws, µ-law first.
    pub const ALL: [Law; 2] = [Law::Ulaw, Law::Alaw];

    /// The static RTP payload type (RFC 3551): 0 for µ-law, 8 for A-law.
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The law of a static RTP payload type, if it is one of G.711's.
    pub const fn from_payload_type(payload_type: u8) -> Option<Law> {
        match payload_type {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The SDP encoding name: `PCMU` or `PCMA`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }

    /// The byte that encodes a zero sample: 0xFF in µ-law, 0xD5 in A-law.
    pub const fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// Encodes one 16-bit linear sample.
    #[inline]
    pub const fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Ulaw => ulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }

    /// Decodes one byte to a 16-bit linear sample.
    #[inline]
    pub fn decode(self, byte: u8) -> i16 {
        self.table().get(usize::from(byte)).copied().unwrap_or(0)
    }

    /// Encodes one 20 ms frame. Allocates nothing.
    #[inline]
    pub fn encode_frame(self, samples: &[i16; FRAME_SAMPLES], out: &mut [u8; FRAME_SAMPLES]) {
        self.encode_into(samples, out);
    }

    /// Decodes one 20 ms frame. Allocates nothing.
    #[inline]
    pub fn decode_frame(self, bytes: &[u8; FRAME_SAMPLES], out: &mut [i16; FRAME_SAMPLES]) {
        self.decode_into(bytes, out);
    }

    /// Encodes as many samples as both slices hold (the shorter length);
    /// returns that count. For payloads of other sizes than 20 ms.
    pub fn encode_into(self, samples: &[i16], out: &mut [u8]) -> usize {
        // One `match` per call rather than per sample keeps the inner loops
        // free of the law test, so the compiler can unroll them.
        match self {
            Law::Ulaw => out
                .iter_mut()
                .zip(samples)
                .for_each(|(o, &s)| *o = ulaw_encode(s)),
            Law::Alaw => out
                .iter_mut()
                .zip(samples)
                .for_each(|(o, &s)| *o = alaw_encode(s)),
        }
        out.len().min(samples.len())
    }

    /// Decodes as many bytes as both slices hold (the shorter length);
    /// returns that count.
    pub fn decode_into(self, bytes: &[u8], out: &mut [i16]) -> usize {
        let table = self.table();
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = table.get(usize::from(b)).copied().unwrap_or(0);
        }
        out.len().min(bytes.len())
    }

    /// The decoding table of this law: entry `b` is the linear value of byte `b`.
    pub const fn table(self) -> &'static [i16; 256] {
        match self {
            Law::Ulaw => &ULAW_TO_LINEAR,
            Law::Alaw => &ALAW_TO_LINEAR,
        }
    }
}

/// µ-law decoding table, built at compile time.
pub static ULAW_TO_LINEAR: [i16; 256] = build_table(Law::Ulaw);

/// A-law decoding table, built at compile time.
pub static ALAW_TO_LINEAR: [i16; 256] = build_table(Law::Alaw);

/// Encodes a 16-bit sample in µ-law.
///
/// The magnitude is clipped to 32635 and biased by 0x84 (132), which puts
/// its highest set bit between bit 7 and bit 14: that position minus 7 is
/// the segment, and the four bits below it the mantissa. The result is
/// inverted, as G.711 transmits µ-law bytes.
pub const fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let linear = sample as i32;
    let sign: i32 = if linear < 0 { 0x80 } else { 0 };
    let mut magnitude = if linear < 0 { -linear } else { linear };
    if magnitude > CLIP {
        magnitude = CLIP;
    }
    magnitude += BIAS;
    // 132 <= magnitude <= 32767: the highest set bit is bit 7..=14.
    let segment = (31 - magnitude.leading_zeros() as i32) - 7;
    let mantissa = (magnitude >> (segment + 3)) & 0x0F;
    !((sign | (segment << 4) | mantissa) as u8)
}

/// Decodes a µ-law byte. 0x7F and 0xFF both decode to 0 ("negative zero").
pub const fn ulaw_decode(byte: u8) -> i16 {
    let byte = !byte;
    let segment = ((byte >> 4) & 0x07) as i32;
    let mantissa = (byte & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << segment) - 0x84;
    if byte & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes a 16-bit sample in A-law.
///
/// Works on the top 13 bits; negative values are mapped to their one's
/// complement magnitude so that the code is symmetric, the segment is the
/// position of the highest set bit above bit 4, and every other bit is
/// inverted (XOR 0x55), as G.711 transmits A-law bytes.
pub const fn alaw_encode(sample: i16) -> u8 {
    let linear = (sample as i32) >> 3;
    let (magnitude, mask) = if linear >= 0 {
        (linear, 0xD5)
    } else {
        (-linear - 1, 0x55)
    };
    // 0 <= magnitude <= 4095, so the segment is at most 7.
    let segment = if magnitude < 0x20 {
        0
    } else {
        (31 - magnitude.leading_zeros() as i32) - 4
    };
    let mantissa = if segment < 2 {
        (magnitude >> 1) & 0x0F
    } else {
        (magnitude >> segment) & 0x0F
    };
    ((segment << 4) | mantissa) as u8 ^ mask
}

/// Decodes an A-law byte.
pub const fn alaw_decode(byte: u8) -> i16 {
    let byte = byte ^ 0x55;
    let segment = ((byte & 0x70) >> 4) as i32;
    let mut magnitude = ((byte & 0x0F) as i32) << 4;
    magnitude += match segment {
        0 => 8,
        _ => 0x108,
    };
    if segment > 1 {
        magnitude <<= segment - 1;
    }
    if byte & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

// Evaluated at compile time only, with `i` bounded by the loop: an index out
// of range would be a compile error, never a panic at run time.
#[allow(clippy::indexing_slicing)]
const fn build_table(law: Law) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match law {
            Law::Ulaw => ulaw_decode(i as u8),
            Law::Alaw => alaw_decode(i as u8),
        };
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_decoders() {
        for b in 0..=255u8 {
            assert_eq!(Law::Ulaw.decode(b), ulaw_decode(b));
            assert_eq!(Law::Alaw.decode(b), alaw_decode(b));
        }
    }

    #[test]
    fn payload_types() {
        for law in Law::ALL {
            assert_eq!(Law::from_payload_type(law.payload_type()), Some(law));
        }
        assert_eq!(Law::from_payload_type(101), None);
    }
}
