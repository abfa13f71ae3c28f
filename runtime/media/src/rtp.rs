//! RTP (RFC 3550): parsing a packet in place, writing one into a caller's
//! buffer, and [`RtpSender`], the state of one outgoing audio stream.
//!
//! The parser borrows the payload from the datagram and never allocates; it
//! skips CSRC identifiers and a header extension and strips padding, and any
//! input, however short or garbled, yields a [`Packet`] or an [`RtpError`]:
//! it is property-tested on arbitrary bytes.

use crate::FRAME_SAMPLES;

/// The length of the fixed RTP header (no CSRC, no extension).
pub const HEADER_LEN: usize = 12;

/// The length of one packet of 20 ms of G.711: header plus 160 bytes.
pub const PACKET_LEN: usize = HEADER_LEN + FRAME_SAMPLES;

/// The RTP version this module speaks.
pub const VERSION: u8 = 2;

/// The RTP timestamp advances by one per sample: 160 per 20 ms frame at 8 kHz.
pub const TIMESTAMP_PER_FRAME: u32 = FRAME_SAMPLES as u32;

/// A parsed RTP packet, borrowing its payload from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The payload type (7 bits): 0 PCMU, 8 PCMA, or a dynamic type such as
    /// the one negotiated for telephone-events.
    pub payload_type: u8,
    /// The marker bit: for audio, the first packet of a talkspurt; for
    /// telephone-events, the first packet of an event.
    pub marker: bool,
    /// The sequence number.
    pub seq: u16,
    /// The timestamp, in samples of the payload's clock (8 kHz for G.711).
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// The payload, without CSRC list, header extension or padding.
    pub payload: &'a [u8],
}

/// Why bytes are not an RTP packet, or a packet does not fit a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("{len} bytes are too short for an RTP header (12 bytes)")]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The version field is not 2 (STUN, RTCP-less garbage, an old RTP).
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The CSRC count says more identifiers than the packet holds.
    #[error("{count} CSRC identifiers do not fit in a {len}-byte packet")]
    Csrc {
        /// The CSRC count.
        count: usize,
        /// The datagram's length.
        len: usize,
    },
    /// The header extension runs past the end of the packet.
    #[error("the RTP header extension runs past the end of the packet")]
    Extension,
    /// The padding bit is set but the padding count is zero or longer than
    /// the payload.
    #[error("invalid RTP padding: {count} bytes of padding, {available} bytes after the header")]
    Padding {
        /// The padding count (the last byte).
        count: usize,
        /// Bytes after the header, padding included.
        available: usize,
    },
    /// The output buffer is too small for the packet.
    #[error("a {needed}-byte RTP packet does not fit in a {len}-byte buffer")]
    BufferTooSmall {
        /// The packet's length.
        needed: usize,
        /// The buffer's length.
        len: usize,
    },
}

impl<'a> Packet<'a> {
    /// Parses a datagram. Never panics and never allocates.
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, RtpError> {
        let (fixed, rest) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(RtpError::TooShort { len: bytes.len() })?;
        let [b0, b1, s0, s1, t0, t1, t2, t3, i0, i1, i2, i3] = *fixed;
        let version = b0 >> 6;
        if version != VERSION {
            return Err(RtpError::Version(version));
        }
        let padding = b0 & 0x20 != 0;
        let extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0F);
        let rest = rest.get(csrc_count * 4..).ok_or(RtpError::Csrc {
            count: csrc_count,
            len: bytes.len(),
        })?;
        let rest = if extension {
            // 16 bits defined by the profile, then the length in 32-bit
            // words, not counting this 4-byte preamble.
            let (&[_, _, l0, l1], rest) =
                rest.split_first_chunk::<4>().ok_or(RtpError::Extension)?;
            let words = usize::from(u16::from_be_bytes([l0, l1]));
            rest.get(words * 4..).ok_or(RtpError::Extension)?
        } else {
            rest
        };
        let payload = if padding {
            // The last byte counts the padding, itself included.
            let count = usize::from(rest.last().copied().unwrap_or(0));
            let invalid = RtpError::Padding {
                count,
                available: rest.len(),
            };
            if count == 0 {
                return Err(invalid);
            }
            rest.len()
                .checked_sub(count)
                .and_then(|end| rest.get(..end))
                .ok_or(invalid)?
        } else {
            rest
        };
        Ok(Packet {
            payload_type: b1 & 0x7F,
            marker: b1 & 0x80 != 0,
            seq: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([i0, i1, i2, i3]),
            payload,
        })
    }

    /// The length of the packet as [`Packet::write`] writes it.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Whether the payload is empty (the packet is a bare header).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Writes the packet (fixed header, no CSRC, no extension, no padding)
    /// into `out` and returns its length. Allocates nothing.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let needed = self.len();
        let too_small = RtpError::BufferTooSmall {
            needed,
            len: out.len(),
        };
        let (header, body) = out
            .get_mut(..needed)
            .and_then(|packet| packet.split_first_chunk_mut::<HEADER_LEN>())
            .ok_or(too_small)?;
        write_header(
            header,
            self.payload_type,
            self.marker,
            self.seq,
            self.timestamp,
            self.ssrc,
        );
        body.copy_from_slice(self.payload);
        Ok(needed)
    }
}

/// Writes a fixed 12-byte RTP header: version 2, no padding, no extension,
/// no CSRC. Only the low 7 bits of `payload_type` are used.
pub fn write_header(
    out: &mut [u8; HEADER_LEN],
    payload_type: u8,
    marker: bool,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
) {
    let [s0, s1] = seq.to_be_bytes();
    let [t0, t1, t2, t3] = timestamp.to_be_bytes();
    let [i0, i1, i2, i3] = ssrc.to_be_bytes();
    let b1 = (payload_type & 0x7F) | if marker { 0x80 } else { 0 };
    *out = [VERSION << 6, b1, s0, s1, t0, t1, t2, t3, i0, i1, i2, i3];
}

/// The sending side of one RTP audio stream: its SSRC, the next sequence
/// number and the timestamp of the next frame, and a reusable packet buffer.
///
/// Call [`RtpSender::frame`] on every 20 ms tick that has audio to send and
/// [`RtpSender::skip`] on every tick that has none: the timestamp follows the
/// sampling clock either way (RFC 3550 §5.1), and the first packet after a
/// gap carries the marker bit, as does the very first packet of the stream.
/// Telephone-events share the stream's SSRC and sequence numbers (RFC 4733
/// §2.1) and are written with [`RtpSender::write`].
#[derive(Clone, Debug)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    payload_type: u8,
    marker: bool,
    buffer: [u8; PACKET_LEN],
}

impl RtpSender {
    /// A stream with the given SSRC, first sequence number, first timestamp
    /// and audio payload type (0 or 8 for G.711).
    pub fn new(ssrc: u32, seq: u16, timestamp: u32, payload_type: u8) -> RtpSender {
        RtpSender {
            ssrc,
            seq,
            timestamp,
            payload_type: payload_type & 0x7F,
            marker: true,
            buffer: [0; PACKET_LEN],
        }
    }

    /// A stream whose SSRC, first sequence number and first timestamp are
    /// taken from `random`, which must come from a CSPRNG (RFC 3550 asks for
    /// random values; an SSRC nobody can guess also keeps strangers from
    /// passing for the stream). The timestamp's low 8 bits start at zero.
    pub fn from_random(random: u64, payload_type: u8) -> RtpSender {
        let [a, b, c, d, e, f, g, h] = random.to_le_bytes();
        RtpSender::new(
            u32::from_le_bytes([a, b, c, d]),
            u16::from_le_bytes([e, f]),
            u32::from_le_bytes([0, g, h, a ^ e]),
            payload_type,
        )
    }

    /// Writes the next audio packet (header and the 160-byte G.711 frame)
    /// into the sender's buffer and returns it; advances the sequence number
    /// by one and the timestamp by 160. Allocates nothing.
    pub fn frame(&mut self, payload: &[u8; FRAME_SAMPLES]) -> &[u8; PACKET_LEN] {
        let (header, body) = self.buffer.split_at_mut(HEADER_LEN);
        if let Ok(header) = <&mut [u8; HEADER_LEN]>::try_from(header) {
            write_header(
                header,
                self.payload_type,
                self.marker,
                self.seq,
                self.timestamp,
                self.ssrc,
            );
        }
        body.copy_from_slice(payload);
        self.marker = false;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(TIMESTAMP_PER_FRAME);
        &self.buffer
    }

    /// A 20 ms tick passes with no audio sent (silence suppression, a
    /// telephone-event being sent instead): the timestamp advances, the
    /// sequence number does not, and the next audio packet will carry the
    /// marker bit.
    pub fn skip(&mut self) {
        self.timestamp = self.timestamp.wrapping_add(TIMESTAMP_PER_FRAME);
        self.marker = true;
    }

    /// Writes another packet of this stream (a telephone-event) into `out`,
    /// with the stream's SSRC and the next sequence number, and returns its
    /// length. The audio timestamp is left alone: events carry their own.
    pub fn write(
        &mut self,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let len = Packet {
            payload_type: payload_type & 0x7F,
            marker,
            seq: self.seq,
            timestamp,
            ssrc: self.ssrc,
            payload,
        }
        .write(out)?;
        self.seq = self.seq.wrapping_add(1);
        Ok(len)
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number of the next packet.
    pub fn seq(&self) -> u16 {
        self.seq
    }

    /// The timestamp of the next audio frame (also the right start timestamp
    /// for a telephone-event beginning now).
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// The audio payload type.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn random_starts_differ() {
        let a = RtpSender::from_random(0x0123_4567_89ab_cdef, 0);
        let b = RtpSender::from_random(0xfedc_ba98_7654_3210, 0);
        assert_ne!(
            (a.ssrc(), a.seq(), a.timestamp()),
            (b.ssrc(), b.seq(), b.timestamp())
        );
    }

    #[test]
    fn skip_marks_the_next_frame() {
        let mut sender = RtpSender::new(1, 0, 0, 8);
        assert_eq!(sender.frame(&[0xD5; 160])[1], 0x80 | 8);
        assert_eq!(sender.frame(&[0xD5; 160])[1], 8);
        sender.skip();
        let packet = Packet::parse(sender.frame(&[0xD5; 160])).unwrap();
        assert!(packet.marker);
        assert_eq!((packet.seq, packet.timestamp), (2, 480));
    }
}
