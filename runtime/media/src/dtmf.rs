//! DTMF as RFC 4733 telephone-events: the 4-byte event payload
//! ([`Event`]), a receiver that reports each key press exactly once
//! ([`DtmfReceiver`]), and a sender that produces the packets of one key
//! press ([`DtmfSender`], for the test caller).
//!
//! One key press is one *event*: a run of packets that share the RTP
//! timestamp of the event's start. The first carries the marker bit, updates
//! follow while the key is held with a growing duration, and the final packet
//! (end bit set) is sent three times, since any packet may be lost. Senders
//! differ in the details: SIPp's `dtmf_2833_*.pcap` files send an update
//! every 20 ms and repeat the end packet with the *same* sequence number;
//! the receiver depends on neither.

use crate::SAMPLE_RATE;
use crate::rtp::Packet;
use std::time::Duration;

/// The length of one event payload.
pub const EVENT_LEN: usize = 4;

/// The keys of events 0 to 15, in event-code order.
pub const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// How often [`DtmfSender`] sends an update while a key is held.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(50);

/// How many times [`DtmfSender`] sends the final packet (RFC 4733 §2.5.1.4).
pub const END_PACKETS: u32 = 3;

/// The volume [`DtmfSender`] reports: -10 dBm0, a typical keypad level.
pub const DEFAULT_VOLUME: u8 = 10;

/// The longest key press one event can describe: the duration field counts
/// samples in 16 bits, 65535 / 8000 s.
pub const MAX_DURATION: Duration = Duration::from_millis(8_191);

/// The key of an event code: `0`-`9`, `*`, `#`, `A`-`D` for codes 0-15.
pub fn key(code: u8) -> Option<char> {
    KEYS.get(usize::from(code)).copied()
}

/// The event code of a key (`a`-`d` are accepted as `A`-`D`).
pub fn code(key: char) -> Option<u8> {
    let key = key.to_ascii_uppercase();
    KEYS.iter()
        .position(|&k| k == key)
        .and_then(|i| u8::try_from(i).ok())
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// The event code: 0-15 are the DTMF keys, higher codes other tones.
    pub code: u8,
    /// The end bit: this packet is the event's last (or a repetition of it).
    pub end: bool,
    /// The power level, as -dBm0 (0 to 63).
    pub volume: u8,
    /// The event's duration so far, in samples (timestamp units).
    pub duration: u16,
}

/// A payload that is not a telephone-event, or a key that has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// Shorter than the 4-byte event payload.
    #[error("a telephone-event payload has 4 bytes, this one {len}")]
    Short {
        /// The payload's length.
        len: usize,
    },
    /// Not one of `0-9 * # A-D`.
    #[error("`{0}` is not a DTMF key (0-9, *, #, A-D)")]
    UnknownKey(char),
    /// A key press longer than one event can describe, or shorter than one
    /// packet interval.
    #[error("a key press must last between 20 ms and 8.19 s, not {0:?}")]
    Duration(Duration),
}

impl Event {
    /// Parses the first event of a payload. A payload may carry more than
    /// one event (RFC 4733 §2.5.1.5); the current one comes first.
    pub fn parse(payload: &[u8]) -> Result<Event, DtmfError> {
        let &[code, flags, d0, d1] = payload
            .first_chunk::<EVENT_LEN>()
            .ok_or(DtmfError::Short { len: payload.len() })?;
        Ok(Event {
            code,
            end: flags & 0x80 != 0,
            // Bit 6 is reserved: ignored on receipt.
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The payload bytes of this event.
    pub fn to_bytes(self) -> [u8; EVENT_LEN] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = (self.volume & 0x3F) | if self.end { 0x80 } else { 0 };
        [self.code, flags, d0, d1]
    }

    /// The DTMF key, if the event is one.
    pub fn key(self) -> Option<char> {
        key(self.code)
    }
}

/// Turns incoming telephone-event packets into key presses, each reported
/// once.
///
/// **A key is reported on the first packet of its event that arrives**,
/// whichever it is: the marked start, an update, or (when everything before
/// was lost) an end packet. Reporting at the start rather than at the end
/// is what a caller expects: the prompt stops (barge-in) as the key goes
/// down, not after it is released, and a press whose end packets are all
/// lost is still heard. The cost is that the key's duration is not known
/// when it is reported, which no flow needs.
///
/// All packets of one event share its RTP timestamp, so the event is
/// identified by its (SSRC, timestamp): retransmitted end packets and updates
/// of the current event are ignored. Only the *last* event is remembered,
/// and a different timestamp is a new event even when it is older, because
/// SIPp replays its `dtmf_2833_N.pcap` files unchanged, each with its own
/// fixed timestamp (13280 for `1`, 17632 for `0`), so "1, 0, 1" arrives with
/// timestamps going down and up. The same file played twice in a row shares
/// its timestamp and counts once; real phones never do that. SIPp's
/// `play_dtmf` starts each action on a new SSRC with the same timestamps,
/// hence the SSRC in the identity.
///
/// One exception: a press longer than 8.19 s overflows the 16-bit duration
/// and continues as a new *segment* with a new timestamp and no marker
/// (RFC 4733 §2.5.1.3); an unmarked event of the same key on the same SSRC
/// while the previous one has not ended is taken as such a segment.
#[derive(Clone, Debug, Default)]
pub struct DtmfReceiver {
    last: Option<Last>,
}

#[derive(Clone, Copy, Debug)]
struct Last {
    ssrc: u32,
    timestamp: u32,
    code: u8,
    ended: bool,
}

impl DtmfReceiver {
    /// A receiver that has seen no event.
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Takes one packet of the telephone-event payload type (the caller
    /// dispatches on the negotiated type) and returns the key it starts, if
    /// any. Allocates nothing.
    pub fn receive(&mut self, packet: &Packet<'_>) -> Result<Option<char>, DtmfError> {
        let event = Event::parse(packet.payload)?;
        Ok(self.event(packet.ssrc, packet.timestamp, packet.marker, event))
    }

    /// [`DtmfReceiver::receive`] for an event already parsed.
    pub fn event(&mut self, ssrc: u32, timestamp: u32, marker: bool, event: Event) -> Option<char> {
        // Other tones (flash, fax, ...) are not keys; they leave the state
        // of the current key press alone.
        let key = event.key()?;
        if let Some(last) = &mut self.last {
            if last.ssrc == ssrc && last.timestamp == timestamp {
                last.ended |= event.end;
                return None;
            }
            let segment = last.ssrc == ssrc && last.code == event.code && !last.ended && !marker;
            if segment {
                last.timestamp = timestamp;
                last.ended = event.end;
                return None;
            }
        }
        self.last = Some(Last {
            ssrc,
            timestamp,
            code: event.code,
            ended: event.end,
        });
        Some(key)
    }
}

/// One packet of a key press, as [`DtmfSender`] produces it: the payload
/// and header fields to send with [`crate::RtpSender::write`], and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPacket {
    /// When to send it, from the start of the key press.
    pub at: Duration,
    /// The marker bit (set on the first packet only).
    pub marker: bool,
    /// The RTP timestamp: the event's start, the same for all its packets.
    pub timestamp: u32,
    /// The event payload.
    pub payload: [u8; EVENT_LEN],
}

/// The packets of one key press: the start with the marker bit and duration
/// 0, an update every 50 ms with the duration so far, and the final packet,
/// end bit set and the whole duration, three times 50 ms apart.
///
/// An iterator of [`EventPacket`]s; the caller sends each at its `at`, with
/// the audio stream's SSRC and sequence numbers ([`crate::RtpSender::write`]),
/// and skips audio ([`crate::RtpSender::skip`]) while the key is held.
#[derive(Clone, Debug)]
pub struct DtmfSender {
    code: u8,
    timestamp: u32,
    duration: Duration,
    samples: u16,
    volume: u8,
    updates: u32,
    next: u32,
}

impl DtmfSender {
    /// The packets of `key` held for `duration` (20 ms to 8.19 s), starting
    /// at RTP timestamp `timestamp` (the audio stream's current timestamp:
    /// [`crate::RtpSender::timestamp`]).
    pub fn new(key: char, timestamp: u32, duration: Duration) -> Result<DtmfSender, DtmfError> {
        let code = code(key).ok_or(DtmfError::UnknownKey(key))?;
        if duration < crate::FRAME || duration > MAX_DURATION {
            return Err(DtmfError::Duration(duration));
        }
        let samples = samples(duration);
        let per_update = samples_u32(UPDATE_INTERVAL);
        Ok(DtmfSender {
            code,
            timestamp,
            duration,
            samples,
            volume: DEFAULT_VOLUME,
            updates: u32::from(samples).div_ceil(per_update),
            next: 0,
        })
    }

    /// The same key press at another volume (-dBm0, 0 to 63).
    pub fn with_volume(mut self, volume: u8) -> DtmfSender {
        self.volume = volume.min(63);
        self
    }

    /// How many packets the key press takes in all.
    pub fn packet_count(&self) -> u32 {
        self.updates + END_PACKETS
    }
}

impl Iterator for DtmfSender {
    type Item = EventPacket;

    fn next(&mut self) -> Option<EventPacket> {
        let index = self.next;
        if index >= self.packet_count() {
            return None;
        }
        self.next += 1;
        let end = index >= self.updates;
        let (at, duration) = if end {
            (
                self.duration + UPDATE_INTERVAL * (index - self.updates),
                self.samples,
            )
        } else {
            let at = UPDATE_INTERVAL * index;
            (at, samples(at))
        };
        let event = Event {
            code: self.code,
            end,
            volume: self.volume,
            duration,
        };
        Some(EventPacket {
            at,
            marker: index == 0,
            timestamp: self.timestamp,
            payload: event.to_bytes(),
        })
    }
}

/// A duration in 8 kHz samples, saturating at the 16-bit field's maximum.
fn samples(duration: Duration) -> u16 {
    u16::try_from(samples_u32(duration)).unwrap_or(u16::MAX)
}

fn samples_u32(duration: Duration) -> u32 {
    let samples = duration.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000;
    u32::try_from(samples).unwrap_or(u32::MAX)
}
