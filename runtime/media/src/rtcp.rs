//! RTCP (RFC 3550 §6) for a call's audio: what we tell the peer of the
//! stream we send and the stream we receive (a sender report with one
//! reception report block and our CNAME), and what the peer tells us of
//! ours (its reception report about our SSRC: how many of our packets it
//! lost). Reports go on the RTP port + 1, every few seconds.
//!
//! Nothing here allocates: reports are written into the caller's buffer and
//! read from the datagram in place.

/// RTCP's payload types.
const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
/// A report block's length.
const BLOCK: usize = 24;
/// Seconds from 1900 (NTP's era) to 1970 (Unix's).
const NTP_UNIX: u64 = 2_208_988_800;
/// A sequence number jump larger than this starts a new count (RFC 3550
/// A.1's MAX_DROPOUT).
const MAX_DROPOUT: u16 = 3000;

/// What we know of the stream we receive, for our reception report.
#[derive(Debug, Clone, Default)]
pub struct Reception {
    /// The sender's SSRC (`None` before its first packet).
    ssrc: Option<u32>,
    base_seq: u16,
    max_seq: u16,
    cycles: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Interarrival jitter, in timestamp units, times 16 (A.8).
    jitter: u32,
    /// The last transit time (arrival minus RTP timestamp).
    transit: Option<i64>,
    /// The middle 32 bits of the NTP time of the peer's last sender report,
    /// and when (ms of our clock) it arrived.
    last_sr: Option<(u32, u64)>,
}

impl Reception {
    /// An RTP packet arrived at `arrival` (in timestamp units of our clock).
    pub fn packet(&mut self, ssrc: u32, seq: u16, timestamp: u32, arrival: u32) {
        if self.ssrc != Some(ssrc) {
            *self = Reception {
                ssrc: Some(ssrc),
                base_seq: seq,
                max_seq: seq,
                last_sr: self.last_sr,
                ..Reception::default()
            };
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        }
        self.received = self.received.wrapping_add(1);
        let transit = i64::from(arrival) - i64::from(timestamp);
        if let Some(last) = self.transit {
            let d = (transit - last).unsigned_abs().min(u64::from(u32::MAX)) as u32;
            // J += (|D| - J) / 16, kept times 16.
            self.jitter = self
                .jitter
                .wrapping_add(d)
                .wrapping_sub((self.jitter.wrapping_add(8)) >> 4);
        }
        self.transit = Some(transit);
    }

    /// The peer's sender report arrived (its NTP time) at `now_ms`.
    pub fn sender_report(&mut self, ntp: u64, now_ms: u64) {
        self.last_sr = Some(((ntp >> 16) as u32, now_ms));
    }

    /// The report block on the stream we receive, for a report sent at
    /// `now_ms`; `None` before its first packet. Counts the interval from
    /// the last block.
    pub fn block(&mut self, now_ms: u64) -> Option<[u8; BLOCK]> {
        let ssrc = self.ssrc?;
        let extended = self.cycles.wrapping_add(u32::from(self.max_seq));
        let expected = extended
            .wrapping_sub(u32::from(self.base_seq))
            .wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        // 24 bits, signed, clamped.
        let cumulative = lost.clamp(-0x80_0000, 0x7F_FFFF) as i32 as u32 & 0x00FF_FFFF;
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let delay = now_ms.saturating_sub(at).saturating_mul(65_536) / 1000;
                (lsr, u32::try_from(delay).unwrap_or(u32::MAX))
            }
            None => (0, 0),
        };
        let mut block = [0u8; BLOCK];
        let words = [
            ssrc,
            (u32::from(fraction) << 24) | cumulative,
            extended,
            self.jitter >> 4,
            lsr,
            dlsr,
        ];
        for (chunk, word) in block.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Some(block)
    }
}

/// The NTP timestamp of a wall-clock time given as seconds and nanoseconds
/// since 1970.
pub fn ntp(unix_secs: u64, nanos: u32) -> u64 {
    let fraction = (u64::from(nanos) << 32) / 1_000_000_000;
    ((unix_secs + NTP_UNIX) << 32) | fraction
}

/// What a sender reports of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Our SSRC.
    pub ssrc: u32,
    /// The NTP time of the report.
    pub ntp: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// Writes a compound report into `out`: a sender report (with `block`
/// when there is one), then SDES with our CNAME. Returns its length, or 0
/// when `out` is too small.
pub fn write_report(
    out: &mut [u8],
    sent: &Sent,
    block: Option<&[u8; BLOCK]>,
    cname: &str,
) -> usize {
    let count = usize::from(block.is_some());
    let sr_len = 28 + BLOCK * count;
    let cname = cname.as_bytes().get(..255).unwrap_or(cname.as_bytes());
    // SSRC, CNAME item (type, length, text), end, padded to 32 bits.
    let chunk = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let total = sr_len + 4 + chunk;
    let Some(out) = out.get_mut(..total) else {
        return 0;
    };
    out.fill(0);
    let mut at = Cursor { out, at: 0 };
    at.put(&[0x80 | count as u8, SR]);
    at.put(&((sr_len / 4 - 1) as u16).to_be_bytes());
    at.put(&sent.ssrc.to_be_bytes());
    at.put(&sent.ntp.to_be_bytes());
    at.put(&sent.rtp_timestamp.to_be_bytes());
    at.put(&sent.packets.to_be_bytes());
    at.put(&sent.octets.to_be_bytes());
    if let Some(block) = block {
        at.put(block);
    }
    at.put(&[0x81, SDES]);
    at.put(&(((4 + chunk) / 4 - 1) as u16).to_be_bytes());
    at.put(&sent.ssrc.to_be_bytes());
    at.put(&[1, cname.len() as u8]);
    at.put(cname);
    // The end item and the padding are the zeros already there.
    total
}

/// Writes bytes one after another into a slice sized for them.
struct Cursor<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(room) = self.out.get_mut(self.at..self.at + bytes.len()) {
            room.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

/// The big-endian word at `at`.
fn word(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// A reception report the peer sent about one of our streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The fraction of our packets lost since its last report, of 256.
    pub fraction_lost: u8,
    /// Our packets it lost in all.
    pub cumulative_lost: i32,
    /// Its interarrival jitter of our stream, in timestamp units.
    pub jitter: u32,
    /// The middle of the NTP time of our last sender report it received
    /// (0: none yet): proof that our reports reach it.
    pub last_sr: u32,
}

/// What a compound RTCP packet says: the sender's NTP time when it holds a
/// sender report, and its report about `ours` (our SSRC) when it holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heard {
    /// The NTP time of the peer's sender report.
    pub sender_ntp: Option<u64>,
    /// The peer's report about our stream.
    pub about_us: Option<Report>,
}

/// Why a datagram is not RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Shorter than its headers say, or not version 2.
    #[error("not an RTCP packet")]
    Malformed,
}

/// Reads a compound RTCP packet (every packet in it; those of types other
/// than SR and RR are skipped).
pub fn read(bytes: &[u8], ours: u32) -> Result<Heard, RtcpError> {
    let mut heard = Heard::default();
    let mut rest = bytes;
    if rest.len() < 8 {
        return Err(RtcpError::Malformed);
    }
    while !rest.is_empty() {
        let header = word(rest, 0).ok_or(RtcpError::Malformed)?;
        let [first, kind, _, _] = header.to_be_bytes();
        if first >> 6 != 2 {
            return Err(RtcpError::Malformed);
        }
        let count = usize::from(first & 0x1F);
        let len = ((header & 0xFFFF) as usize + 1) * 4;
        let packet = rest.get(..len).ok_or(RtcpError::Malformed)?;
        rest = rest.get(len..).unwrap_or_default();
        let blocks_at = match kind {
            SR => {
                let high = word(packet, 8).ok_or(RtcpError::Malformed)?;
                let low = word(packet, 12).ok_or(RtcpError::Malformed)?;
                heard.sender_ntp = Some((u64::from(high) << 32) | u64::from(low));
                28
            }
            RR => 8,
            _ => continue,
        };
        for n in 0..count {
            let at = blocks_at + n * BLOCK;
            let block = packet.get(at..at + BLOCK).ok_or(RtcpError::Malformed)?;
            let field = |i: usize| word(block, i * 4).ok_or(RtcpError::Malformed);
            if field(0)? != ours {
                continue;
            }
            let lost = field(1)?;
            // 24-bit signed cumulative count.
            let cumulative = ((lost << 8) as i32) >> 8;
            heard.about_us = Some(Report {
                fraction_lost: (lost >> 24) as u8,
                cumulative_lost: cumulative,
                jitter: field(3)?,
                last_sr: field(4)?,
            });
        }
    }
    Ok(heard)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_report_we_write_is_read_back_and_is_valid_rtcp() {
        let mut reception = Reception::default();
        // 100 packets with 10 lost (every tenth missing), 20 ms apart.
        for n in 0u16..100 {
            if n % 10 != 5 {
                reception.packet(0xABCD, 1000 + n, u32::from(n) * 160, u32::from(n) * 160 + 7);
            }
        }
        reception.sender_report(ntp(1_700_000_000, 500_000_000), 10_000);
        let block = reception.block(10_500).unwrap();
        let sent = Sent {
            ssrc: 0x1234,
            ntp: ntp(1_700_000_005, 0),
            rtp_timestamp: 40_000,
            packets: 250,
            octets: 40_000,
        };
        let mut out = [0u8; 128];
        let len = write_report(&mut out, &sent, Some(&block), "dialect@example");
        assert_eq!(len % 4, 0);
        // SR: version 2, one block, type 200, length in words.
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 200);
        assert_eq!(
            usize::from(u16::from_be_bytes([out[2], out[3]])),
            (28 + 24) / 4 - 1
        );
        // Then SDES with the CNAME.
        assert_eq!(out[52 + 1], 202);
        assert_eq!(&out[52 + 10..52 + 10 + 15], b"dialect@example");
        // The peer reads our report about its stream (SSRC 0xABCD).
        let heard = read(&out[..len], 0xABCD).unwrap();
        assert_eq!(heard.sender_ntp, Some(sent.ntp));
        let report = heard.about_us.unwrap();
        assert_eq!(report.cumulative_lost, 10);
        assert_eq!(report.fraction_lost, (10 * 256 / 100) as u8);
        assert_eq!(report.jitter, 0, "constant transit: no jitter");
        // Not about us: nothing.
        assert_eq!(read(&out[..len], 0x9999).unwrap().about_us, None);
        // LSR: the middle of the peer's NTP; DLSR: 0.5 s in 1/65536 s.
        assert_eq!(
            u32::from_be_bytes(block[16..20].try_into().unwrap()),
            (ntp(1_700_000_000, 500_000_000) >> 16) as u32
        );
        assert_eq!(
            u32::from_be_bytes(block[20..24].try_into().unwrap()),
            32_768
        );
        // The next interval lost nothing.
        for n in 100u16..150 {
            reception.packet(0xABCD, 1000 + n, u32::from(n) * 160, u32::from(n) * 160 + 7);
        }
        let next = reception.block(15_000).unwrap();
        assert_eq!(next[4], 0, "fraction lost of the interval");
        assert_eq!(u32::from_be_bytes([0, next[5], next[6], next[7]]), 10);
    }

    #[test]
    fn a_receiver_report_from_a_peer_is_read() {
        // An RR (as baresip sends between its SRs) with one block about us.
        let mut rr = vec![0x81, 201, 0, 7];
        rr.extend_from_slice(&0x5555u32.to_be_bytes());
        rr.extend_from_slice(&0x1234u32.to_be_bytes());
        rr.extend_from_slice(&[26, 0xFF, 0xFF, 0xFE]); // 10 %, -2 lost (duplicates)
        rr.extend_from_slice(&[0; 4]);
        rr.extend_from_slice(&80u32.to_be_bytes());
        rr.extend_from_slice(&[0; 8]);
        let heard = read(&rr, 0x1234).unwrap();
        assert_eq!(heard.sender_ntp, None);
        assert_eq!(
            heard.about_us,
            Some(Report {
                fraction_lost: 26,
                cumulative_lost: -2,
                jitter: 80,
                last_sr: 0
            })
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(read(b"", 1).is_err());
        assert!(
            read(&[0x80, 200, 0, 6, 0, 0, 0, 0], 1).is_err(),
            "shorter than it says"
        );
        assert!(
            read(&[0x40, 200, 0, 1, 0, 0, 0, 0], 1).is_err(),
            "version 1"
        );
        assert!(
            read(&[0x81, 201, 0, 1, 0, 0, 0, 1], 1).is_err(),
            "a block missing"
        );
        // A long sequence of RTP (not RTCP) is refused or says nothing.
        let rtp = [0x80u8, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        assert!(read(&rtp, 9).map_or(true, |h| h == Heard::default()));
    }
}
