//! The media path of Dialect: what a call hears and what it sends, without
//! sockets, threads or a clock. The server crate owns the UDP sockets and the
//! 20 ms tick; this crate turns bytes into samples and back.
//!
//! | module | owns |
//! |---|---|
//! | [`g711`] | µ-law and A-law ([`Law`]): table-driven decode, segment encode, whole frames |
//! | [`rtp`] | RFC 3550 packets: [`rtp::Packet::parse`] without allocation, a writer, [`RtpSender`] |
//! | [`dtmf`] | RFC 4733 telephone-events: [`dtmf::Event`], [`DtmfReceiver`] (each key once), [`DtmfSender`] |
//! | [`audio`] | WAV and MP3 files decoded to 8 kHz mono, with a windowed-sinc [`audio::Resampler`] |
//! | [`prompt`] | [`Frames`] (a prompt as G.711 frames) and [`PromptCache`] (each prompt converted once; `say` through espeak-ng); silence and tones |
//! | [`playout`] | [`Playout`]: a cursor over a prompt, with barge-in and looping (music on hold) |
//! | [`record`] | [`Recorder`]: G.711 frames streamed to an 8 kHz 16-bit WAV, bounded in length and memory |
//! | [`srtp`] | SRTP (`AES_CM_128_HMAC_SHA1_80`): [`srtp::Context`] protects and unprotects packets in place, with replay refusal and the rollover counter |
//!
//! **Invariant:** the per-packet functions ([`Law::encode_frame`],
//! [`Law::decode_frame`], [`rtp::Packet::parse`], [`RtpSender::frame`],
//! [`DtmfReceiver::receive`], [`Playout::next_frame`], [`Recorder::push`] once
//! its buffer is sized) allocate nothing; everything that allocates (file
//! decoding, resampling, speech synthesis) runs once, when a prompt is first
//! loaded.
//!
//! **Invariant:** nothing read from the network or a file can panic this
//! crate: no `unwrap` and no slice indexing outside tests, and the RTP parser
//! is property-tested on arbitrary bytes.

pub mod audio;
pub mod dtmf;
pub mod g711;
pub mod playout;
pub mod prompt;
pub mod record;
pub mod rtcp;
pub mod rtp;
pub mod srtp;
pub mod tones;

pub use audio::AudioError;
pub use dtmf::{DtmfReceiver, DtmfSender};
pub use g711::Law;
pub use playout::Playout;
pub use prompt::{Frames, PromptCache, PromptError};
pub use record::{RecordError, Recorder};
pub use rtp::{Packet, RtpError, RtpSender};
pub use tones::ToneDetector;

use std::time::Duration;

/// The sample rate of G.711 telephony, in Hz.
pub const SAMPLE_RATE: u32 = 8_000;

/// Samples (and, in G.711, bytes) in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;

/// The length of one frame: the packetisation interval (`ptime`) we send.
pub const FRAME: Duration = Duration::from_millis(20);

/// Frames in one second of audio.
pub const FRAMES_PER_SECOND: u32 = 50;
