//! An agent's browser as a phone: the server side of one WebRTC peer
//! connection that carries a call's audio, G.711 end to end so nothing is
//! transcoded.
//!
//! The protocols (SDP offer/answer, ICE, DTLS-SRTP, RTP/RTCP) are
//! [`str0m`]'s, a sans-IO state machine; this crate is its shell: one UDP
//! socket and one tokio task per [`Session`], moving datagrams and time into
//! the machine and frames out of it.
//!
//! | module | owns |
//! |---|---|
//! | `lib.rs` | the public API: [`Session`], [`Frame`], [`Law`], [`PhoneState`], [`Error`] |
//! | `negotiate.rs` | the answer to a browser's offer: ICE-lite, one host candidate, one G.711 law (PCMU preferred) |
//! | `run.rs` | the session's task: socket, timers, the frame channels, the end of the session |
//! | `chunk.rs` | [`Frame`]s cut from the payloads the browser sends, whatever its packet time |
//!
//! The negotiation rules:
//! - we are ICE-lite with one host candidate, the socket's address; the
//!   browser (ICE-controlling) checks it and we learn its address from its
//!   binding requests, peer-reflexive when its own candidates are mDNS names;
//! - we take the DTLS `passive` role (the browser offers `actpass`);
//! - the first audio m-line that offers PCMU (payload type 0) is answered
//!   with PCMU alone; failing that, one that offers PCMA (8) with PCMA alone;
//!   an answer names exactly one codec so the browser cannot switch laws;
//! - an offer with video (`m=video`) is refused: the agent's page offers
//!   audio alone.
//!
//! **Invariant:** every channel is bounded; a full channel drops the frame
//! (the browser's audio is live, an old frame is worth nothing).
//!
//! **Invariant:** the task ends, and [`Session::state`] reaches
//! [`PhoneState::Closed`], when the browser disconnects (ICE consent lost,
//! DTLS closed), when nothing came from it for [`IDLE_TIMEOUT`], on
//! [`Session::close`] and when the [`Session`] is dropped.
//!
//! **Invariant:** str0m is given only the datagrams it
//! [`accepts`](str0m::Rtc::accepts): STUN with our ICE credentials, and
//! anything else only from an address whose ICE checks succeeded (its
//! `handle_input` would decrypt and play SRTP from any source).
//!
//! **Invariant:** per packet we allocate nothing beyond what str0m requires
//! (it takes outgoing payloads as `Arc<[u8]>`); the receive buffer is one per
//! session and frames are moved by value.

mod chunk;
mod negotiate;
mod run;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, watch};

/// One 20 ms G.711 frame: 160 samples at 8 kHz, one byte each.
pub type Frame = [u8; FRAME_BYTES];

/// Bytes (and samples) in one [`Frame`].
pub const FRAME_BYTES: usize = 160;

/// How long a session lives without receiving a datagram from the browser
/// (a STUN check with its credentials, or anything from the address ICE
/// validated; datagrams from elsewhere do not count).
///
/// A connected browser sends ICE consent checks every few seconds and, while
/// its microphone is on, 50 RTP packets a second, so silence this long means
/// it is gone (or never came).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Frames the microphone channel holds (one second): a reader that falls
/// further behind loses the newest frames.
pub const MICROPHONE_FRAMES: usize = 50;

/// Frames the speaker channel holds (200 ms): the task empties it as frames
/// arrive, so a full channel means the task is stalled.
pub const SPEAKER_FRAMES: usize = 10;

/// A G.711 companding law, as negotiated with the browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law: RTP payload type 0, SDP encoding name `PCMU`.
    Ulaw,
    /// A-law: RTP payload type 8, SDP encoding name `PCMA`.
    Alaw,
}

impl Law {
    /// The static RTP payload type (RFC 3551): 0 for µ-law, 8 for A-law.
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The SDP encoding name: `PCMU` or `PCMA`.
    pub const fn name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }
}

/// Where a [`Session`] is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhoneState {
    /// Answered; waiting for the browser's ICE checks and DTLS handshake.
    Connecting,
    /// ICE and DTLS-SRTP are up: audio flows both ways.
    Connected,
    /// The session's task has ended; it does not come back.
    Closed,
}

/// Why a browser's offer could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address to advertise is `0.0.0.0` or `::`.
    #[error(
        "cannot advertise the unspecified address {0} to a browser: give the address of this host that browsers reach"
    )]
    UnspecifiedAddress(IpAddr),
    /// The UDP socket could not be bound.
    #[error("binding a UDP socket on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: IpAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The offer is not SDP.
    #[error("the offer is not valid SDP: {0}")]
    Sdp(String),
    /// The offer is SDP but cannot be answered (video, no ICE credentials or
    /// DTLS fingerprint, inconsistent BUNDLE, an ICE-lite browser, ...).
    #[error("the offer cannot be answered: {0}")]
    Offer(String),
    /// The offer has no audio m-line.
    #[error("the offer has no audio m-line (m=audio)")]
    NoAudio,
    /// No audio m-line of the offer has PCMU or PCMA.
    #[error(
        "the offer's audio has neither PCMU (payload type 0) nor PCMA (payload type 8); it offers: {offered}"
    )]
    NoG711 {
        /// The encoding names the offer's `a=rtpmap` lines list, comma separated.
        offered: String,
    },
}

/// One browser's peer connection, running on its own tokio task.
///
/// Made by [`Session::accept`]; it ends on [`Session::close`], when dropped,
/// or when the browser goes away ([`Session::state`] says when).
#[derive(Debug)]
pub struct Session {
    law: Law,
    local: SocketAddr,
    microphone: Option<mpsc::Receiver<Frame>>,
    speaker: mpsc::Sender<Frame>,
    state: watch::Receiver<PhoneState>,
    close: Arc<Notify>,
}

impl Session {
    /// Binds a UDP socket on `address` (any port), answers the browser's SDP
    /// offer (the text of `RTCSessionDescription.sdp`) and starts the
    /// session's task; returns the session and the SDP answer to give back
    /// to the browser.
    ///
    /// We are ICE-lite with one host candidate, the socket's address, so
    /// `address` must be one the browser can reach (`127.0.0.1` for a
    /// browser on this host, with Chromium's
    /// `--allow-loopback-in-peer-connection`); the unspecified address is
    /// refused. Only PCMU (payload type 0) or PCMA (8) is accepted, PCMU
    /// preferred.
    ///
    /// Must be called within a tokio runtime (the task is spawned on it).
    pub async fn accept(offer: &str, address: IpAddr) -> Result<(Session, String), Error> {
        if address.is_unspecified() {
            return Err(Error::UnspecifiedAddress(address));
        }
        let bind = |source| Error::Bind { address, source };
        let socket = UdpSocket::bind(SocketAddr::new(address, 0))
            .await
            .map_err(bind)?;
        let local = socket.local_addr().map_err(bind)?;
        let mut negotiated = negotiate::negotiate(offer, local, Instant::now())?;
        let law = negotiated.law;
        let answer = std::mem::take(&mut negotiated.answer);

        let (microphone_tx, microphone) = mpsc::channel(MICROPHONE_FRAMES);
        let (speaker, speaker_rx) = mpsc::channel(SPEAKER_FRAMES);
        let (state_tx, state) = watch::channel(PhoneState::Connecting);
        let close = Arc::new(Notify::new());
        let task = run::Task {
            negotiated,
            socket,
            local,
            microphone: microphone_tx,
            speaker: speaker_rx,
            state: state_tx,
            close: Arc::clone(&close),
        };
        tokio::spawn(task.run());
        tracing::info!(%local, law = law.name(), "webphone: answered a browser's offer");

        let session = Session {
            law,
            local,
            microphone: Some(microphone),
            speaker,
            state,
            close,
        };
        Ok((session, answer))
    }

    /// The law negotiated: the bytes of every [`Frame`] in both directions
    /// are in it.
    pub fn law(&self) -> Law {
        self.law
    }

    /// The address of the session's socket, which the answer advertises.
    pub fn local_address(&self) -> SocketAddr {
        self.local
    }

    /// Frames from the browser's microphone, in arrival order, 160 bytes
    /// each whatever packet time the browser uses; `None` once taken.
    ///
    /// The channel holds [`MICROPHONE_FRAMES`]; when full, new frames are
    /// dropped. It closes when the session ends.
    pub fn take_microphone(&mut self) -> Option<mpsc::Receiver<Frame>> {
        self.microphone.take()
    }

    /// Where to send frames for the browser's speaker, one per 20 ms (the
    /// caller paces them); each is sent at once as one RTP packet, its RTP
    /// time 160 after the previous one's.
    ///
    /// The channel holds [`SPEAKER_FRAMES`]: use `try_send` and drop the
    /// frame when it is full. Frames sent before [`PhoneState::Connected`]
    /// are discarded.
    pub fn speaker(&self) -> mpsc::Sender<Frame> {
        self.speaker.clone()
    }

    /// The session's state: [`PhoneState::Connecting`], then
    /// [`PhoneState::Connected`] once ICE and DTLS are up, and
    /// [`PhoneState::Closed`] when the task has ended.
    pub fn state(&self) -> watch::Receiver<PhoneState> {
        self.state.clone()
    }

    /// Ends the session: the task tells the browser (RTCP BYE, DTLS
    /// close_notify) and stops. Also done on drop; calling it again does
    /// nothing more.
    pub fn close(&self) {
        self.close.notify_one();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}
