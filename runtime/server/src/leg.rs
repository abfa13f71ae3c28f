//! The media of one call leg: its RTP socket, what it plays and what it
//! hears. One task per leg, paced by the server's shared 20 ms tick; the task
//! owns its buffers, so the media path allocates nothing per packet.

use crate::rtp_ports::MediaSocket;
use crate::voice::{VoiceReceiver, VoiceSender};
use dialect_media::{DtmfReceiver, Frames, Law, Packet, Playout, Recorder, RtpSender, prompt};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What the call's controller tells its media.
#[derive(Debug)]
pub enum MediaCommand {
    /// Play a prompt once; [`MediaEvent::PromptFinished`] follows (unless stopped).
    Play {
        /// The frames.
        frames: Arc<Frames>,
    },
    /// Stop the prompt (barge-in); no `PromptFinished` is sent for it.
    Stop,
    /// Record what the caller says into a WAV file, at most `max` long.
    Record {
        /// The file.
        path: PathBuf,
        /// Longest recording.
        max: Duration,
    },
    /// The peer's media address changed (re-INVITE).
    Remote(SocketAddr),
    /// Bridge to another leg (B2BUA): what this leg hears goes to `peer`;
    /// what arrives on this leg's inbound channel is sent instead of prompts.
    Bridge {
        /// The other leg's inbound channel.
        peer: VoiceSender,
    },
    /// End the bridge.
    Unbridge,
    /// Copy what this leg hears from its party to a call recording (see
    /// `conversation`), besides any bridge; replaces an earlier tap.
    Tap {
        /// The recording's channel for this party.
        to: VoiceSender,
    },
    /// Listen for what the caller says: each utterance (speech, then
    /// [`SILENCE_ENDS_UTTERANCE`] of silence, or [`MAX_UTTERANCE`]) is
    /// reported as [`MediaEvent::Speech`], until [`MediaCommand::StopListening`].
    Listen,
    /// Stop listening.
    StopListening,
    /// End the leg.
    Close,
}

/// One 20 ms frame of voice from a bridged leg, in that leg's law.
pub type Voice = (Law, [u8; dialect_media::FRAME_SAMPLES]);

/// Frames a bridged leg may hold before it drops the oldest (a small jitter
/// allowance: 3 frames, 60 ms).
pub const BRIDGE_FRAMES: usize = 3;

/// What a leg reports to its controller.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// An RFC 4733 key, once per key press.
    Digit(char),
    /// The prompt ended.
    PromptFinished,
    /// A recording ended (its file, or why it failed).
    RecordingFinished(Result<PathBuf, String>),
    /// The caller said something: 8 kHz linear samples of one utterance.
    Speech(Vec<i16>),
    /// A call's recorded conversation is finished and durable (its file
    /// and length), or why it failed.
    ConversationRecorded(Result<(PathBuf, Duration), String>),
}

/// Silence that ends an utterance.
pub const SILENCE_ENDS_UTTERANCE: Duration = Duration::from_millis(600);

/// The longest utterance; longer speech is cut here.
pub const MAX_UTTERANCE: Duration = Duration::from_secs(15);

/// A frame whose mean absolute sample is above this is speech (about
/// -36 dBFS: quiet speech is above it, line noise below).
const SPEECH_LEVEL: u32 = 500;

/// Voice activity detection for one utterance at a time. The buffer is
/// allocated once per utterance, never per packet.
struct Listener {
    samples: Vec<i16>,
    speaking: bool,
    silent_frames: u32,
    /// Ticks since the last audio packet: a caller who stops sending (or
    /// mutes) ends the utterance too.
    quiet_ticks: u32,
}

impl Listener {
    const SILENT_FRAMES: u32 = (SILENCE_ENDS_UTTERANCE.as_millis() / 20) as u32;
    const MAX_SAMPLES: usize = (MAX_UTTERANCE.as_millis() as usize) * 8;

    fn new() -> Listener {
        Listener {
            samples: Vec::new(),
            speaking: false,
            silent_frames: 0,
            quiet_ticks: 0,
        }
    }

    /// A 20 ms tick: an utterance whose audio stopped arriving ends after
    /// the same silence as a quiet one.
    fn tick(&mut self) -> Option<Vec<i16>> {
        self.quiet_ticks = self.quiet_ticks.saturating_add(1);
        if self.speaking && self.quiet_ticks >= Self::SILENT_FRAMES {
            self.speaking = false;
            self.silent_frames = 0;
            return Some(std::mem::take(&mut self.samples));
        }
        None
    }

    /// Takes one frame; returns a finished utterance.
    fn frame(&mut self, law: Law, payload: &[u8]) -> Option<Vec<i16>> {
        self.quiet_ticks = 0;
        let mut linear = [0i16; dialect_media::FRAME_SAMPLES];
        let n = law.decode_into(payload, &mut linear);
        let frame = linear.get(..n).unwrap_or_default();
        let level = if frame.is_empty() {
            0
        } else {
            frame
                .iter()
                .map(|s| u32::from(s.unsigned_abs()))
                .sum::<u32>()
                / u32::try_from(frame.len()).unwrap_or(1)
        };
        let speech = level > SPEECH_LEVEL;
        if !self.speaking {
            if !speech {
                return None;
            }
            self.speaking = true;
            self.samples = Vec::with_capacity(Self::MAX_SAMPLES);
        }
        self.samples.extend_from_slice(frame);
        self.silent_frames = if speech { 0 } else { self.silent_frames + 1 };
        if self.silent_frames >= Self::SILENT_FRAMES || self.samples.len() >= Self::MAX_SAMPLES {
            self.speaking = false;
            self.silent_frames = 0;
            return Some(std::mem::take(&mut self.samples));
        }
        None
    }
}

/// Counters shared by every leg, for the server's status.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets sent.
    pub sent: AtomicU64,
    /// RTP packets received and understood.
    pub received: AtomicU64,
    /// Datagrams that were not RTP for this leg (ignored).
    pub garbage: AtomicU64,
    /// RTP packets that never arrived (gaps in sequence numbers).
    pub lost: AtomicU64,
    /// Datagrams from an address that is not the leg's peer (dropped).
    pub foreign: AtomicU64,
    /// SRTP packets refused: forged, corrupted or replayed (dropped).
    pub srtp_refused: AtomicU64,
    /// Legs running now.
    pub legs: AtomicU64,
    /// Commands the controller could not hand to a leg (its queue full, or
    /// the leg gone).
    pub commands_dropped: AtomicU64,
    /// RTCP reports sent (RTP port + 1).
    pub rtcp_sent: AtomicU64,
    /// RTCP reports received from peers.
    pub rtcp_received: AtomicU64,
    /// Our RTP packets the peers reported lost (their RTCP reception
    /// reports on our streams).
    pub lost_by_peers: AtomicU64,
    /// Peers' reports that name our last sender report (so ours reach
    /// them).
    pub rtcp_echoed: AtomicU64,
}

/// How often a leg sends its RTCP report, in 20 ms ticks (5 s, RFC 3550's
/// minimum interval).
const RTCP_TICKS: u64 = 250;

/// What a leg keeps for RTCP: the stream it receives, what it has sent,
/// what the peer last said it lost of ours.
struct RtcpState {
    reception: dialect_media::rtcp::Reception,
    started: Instant,
    packets: u32,
    ticks: u64,
    peer_lost: i32,
}

impl RtcpState {
    fn new() -> RtcpState {
        RtcpState {
            reception: dialect_media::rtcp::Reception::default(),
            started: Instant::now(),
            packets: 0,
            ticks: 0,
            peer_lost: 0,
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// An RTP packet arrived: for the reception report.
    fn received(&mut self, packet: &Packet<'_>) {
        let arrival = (self.elapsed_ms().wrapping_mul(8)) as u32;
        self.reception
            .packet(packet.ssrc, packet.seq, packet.timestamp, arrival);
    }

    /// A tick (an RTP packet sent): every [`RTCP_TICKS`], the report goes
    /// to the RTP port + 1 of `remote` (without waiting: a full socket
    /// skips one).
    fn tick(
        &mut self,
        socket: &MediaSocket,
        remote: SocketAddr,
        sender: &RtpSender,
        stats: &MediaStats,
    ) {
        self.packets = self.packets.wrapping_add(1);
        self.ticks += 1;
        let Some(rtcp) = socket.rtcp() else { return };
        if !self.ticks.is_multiple_of(RTCP_TICKS) {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let sent = dialect_media::rtcp::Sent {
            ssrc: sender.ssrc(),
            ntp: dialect_media::rtcp::ntp(now.as_secs(), now.subsec_nanos()),
            rtp_timestamp: sender.timestamp(),
            packets: self.packets,
            octets: self
                .packets
                .wrapping_mul(dialect_media::FRAME_SAMPLES as u32),
        };
        let block = self.reception.block(self.elapsed_ms());
        let mut out = [0u8; 128];
        let len = dialect_media::rtcp::write_report(&mut out, &sent, block.as_ref(), "dialect");
        let to = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
        if let Some(report) = out.get(..len)
            && rtcp.try_send_to(report, to).is_ok()
        {
            stats.rtcp_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads what waits on the RTCP socket: reports from the peer's
    /// addresses only; what the peer says it lost of ours counts.
    fn read(&mut self, setup: &LegSetup, remote: SocketAddr, ours: u32) {
        let (socket, stats) = (&setup.socket, &setup.stats);
        let Some(rtcp) = socket.rtcp() else { return };
        let mut buf = [0u8; 1500];
        for _ in 0..16 {
            let Ok((len, from)) = rtcp.try_recv_from(&mut buf) else {
                return;
            };
            // From the peer's media address, or its signalling's (a peer
            // behind NAT, as RTP latches).
            if from.ip() != remote.ip() && Some(from.ip()) != setup.signalling {
                stats.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Ok(heard) = dialect_media::rtcp::read(buf.get(..len).unwrap_or_default(), ours)
            else {
                stats.garbage.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            stats.rtcp_received.fetch_add(1, Ordering::Relaxed);
            if let Some(ntp) = heard.sender_ntp {
                self.reception.sender_report(ntp, self.elapsed_ms());
            }
            if let Some(report) = heard.about_us {
                if report.last_sr != 0 {
                    stats.rtcp_echoed.fetch_add(1, Ordering::Relaxed);
                }
                let more = report.cumulative_lost.saturating_sub(self.peer_lost);
                if more > 0 {
                    stats
                        .lost_by_peers
                        .fetch_add(u64::from(more.unsigned_abs()), Ordering::Relaxed);
                }
                self.peer_lost = self.peer_lost.max(report.cumulative_lost);
            }
        }
    }
}

/// Waits until RTCP's socket has something to read (never, without one).
async fn rtcp_readable(socket: Option<&tokio::net::UdpSocket>) -> std::io::Result<()> {
    match socket {
        Some(socket) => socket.readable().await,
        None => std::future::pending().await,
    }
}

/// Everything a leg needs to run.
pub struct LegSetup {
    /// The call's key in the controller.
    pub call: u64,
    /// The bound RTP socket (back to the pool when the leg ends).
    pub socket: MediaSocket,
    /// Where to send RTP (from the peer's SDP), and the only address media
    /// is taken from, unless the leg latches (see [`LATCH_WINDOW`]).
    pub remote: SocketAddr,
    /// The IP address the peer's signalling came from: media from it may be
    /// latched onto (a peer behind NAT), like media from the SDP's IP.
    pub signalling: Option<std::net::IpAddr>,
    /// Random bits from the CSPRNG for the RTP stream's SSRC, first
    /// sequence number and first timestamp.
    pub random: u64,
    /// SRTP keys, when the peer offered SRTP over TLS signalling (boxed: the
    /// key schedules are 1.8 kB, which a plain RTP leg should not carry).
    pub srtp: Option<Box<Srtp>>,
    /// The negotiated law.
    pub law: Law,
    /// The peer's telephone-event payload type, if any.
    pub telephone_event: Option<u8>,
    /// The shared 20 ms tick.
    pub tick: watch::Receiver<u64>,
    /// Commands from the controller.
    pub commands: mpsc::Receiver<MediaCommand>,
    /// Events to the controller.
    pub events: mpsc::Sender<(u64, MediaEvent)>,
    /// Shared counters.
    pub stats: Arc<MediaStats>,
    /// Voice from a bridged peer.
    pub inbound: VoiceReceiver,
}

/// How long after the leg starts (or its peer's address changes) media
/// may come from another port of the SDP's or the signalling's IP address,
/// when nothing came from the SDP address yet: the leg then latches onto
/// that source (symmetric RTP behind NAT) and takes media from it alone.
pub const LATCH_WINDOW: Duration = Duration::from_secs(2);

/// Where a leg takes media from: its peer's address, or the one it latched
/// onto. Everything else is dropped, so nobody else can press keys in the
/// caller's menu or talk into their voicemail.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    remote: SocketAddr,
    signalling: Option<std::net::IpAddr>,
    since: Instant,
    heard: bool,
}

impl Source {
    /// Media expected from `remote` (from the SDP) from `now` on.
    pub fn new(remote: SocketAddr, signalling: Option<std::net::IpAddr>, now: Instant) -> Source {
        Source {
            remote,
            signalling,
            since: now,
            heard: false,
        }
    }

    /// Where to send.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Whether a datagram from `from` is the peer's; may latch onto it.
    pub fn accept(&mut self, from: SocketAddr, now: Instant) -> bool {
        if from == self.remote {
            self.heard = true;
            return true;
        }
        let latchable = !self.heard
            && now.saturating_duration_since(self.since) < LATCH_WINDOW
            && (from.ip() == self.remote.ip() || Some(from.ip()) == self.signalling);
        if latchable {
            self.remote = from;
            self.heard = true;
        }
        latchable
    }
}

/// The SRTP contexts of a leg: ours for what we send, the peer's for what
/// we receive.
#[derive(Debug)]
pub struct Srtp {
    /// Protects what we send (our key).
    pub send: dialect_media::srtp::Context,
    /// Checks and decrypts what we receive (the peer's key).
    pub receive: dialect_media::srtp::Context,
}

struct Recording {
    recorder: Recorder,
    path: PathBuf,
    until: Instant,
}

/// Runs a leg until it is closed (or its controller goes away).
pub async fn run(mut setup: LegSetup) {
    setup.stats.legs.fetch_add(1, Ordering::Relaxed);
    let mut sender = RtpSender::from_random(setup.random, setup.law.payload_type());
    let silence = Arc::new(prompt::silence(setup.law, dialect_media::FRAME));
    let mut playout: Option<Playout> = None;
    let mut dtmf = DtmfReceiver::new();
    // Keys as tones in the audio: the last resort, for a call that agreed
    // no telephone-event, while the flow (not an agent) listens.
    let mut tones = dialect_media::ToneDetector::new();
    // RTCP: not with SRTP (that would need SRTCP).
    let mut rtcp = setup.srtp.is_none().then(RtcpState::new);
    let mut recording: Option<Recording> = None;
    let mut source = Source::new(setup.remote, setup.signalling, Instant::now());
    let mut srtp = setup.srtp.take();
    let mut protected = [0u8; dialect_media::rtp::PACKET_LEN + dialect_media::srtp::TAG];
    let mut peer: Option<VoiceSender> = None;
    let mut tap: Option<VoiceSender> = None;
    let mut bridged = false;
    let mut listener: Option<Listener> = None;
    let mut last_seq: Option<u16> = None;
    // An Ethernet MTU: G.711 packets are 172 bytes (182 with SRTP).
    let mut buf = [0u8; 1500];
    loop {
        tokio::select! {
            changed = setup.tick.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some(heard) = listener.as_mut().and_then(Listener::tick) {
                    let _ = setup.events.try_send((setup.call, MediaEvent::Speech(heard)));
                }
                // Bridged: the peer's voice, converted to our law if need be.
                let mut voice = None;
                while let Ok(frame) = setup.inbound.try_recv() {
                    voice = Some(frame);
                    if setup.inbound.len() < BRIDGE_FRAMES {
                        break;
                    }
                }
                let frame = match (bridged, voice) {
                    (true, Some((law, frame))) => transcode(law, setup.law, frame),
                    (true, None) => silence.get(0).copied().unwrap_or([setup.law.silence(); dialect_media::FRAME_SAMPLES]),
                    (false, _) => match playout.as_mut().map(Playout::next_frame) {
                    Some(Some(frame)) => *frame,
                    Some(None) => {
                        playout = None;
                        let _ = setup.events.try_send((setup.call, MediaEvent::PromptFinished));
                        silence.get(0).copied().unwrap_or([0xFF; dialect_media::FRAME_SAMPLES])
                    }
                    None => silence.get(0).copied().unwrap_or([0xFF; dialect_media::FRAME_SAMPLES]),
                    },
                };
                let packet = sender.frame(&frame);
                let out: &[u8] = match srtp.as_mut() {
                    Some(keys) => {
                        if let Some(room) = protected.get_mut(..packet.len()) {
                            room.copy_from_slice(packet);
                        }
                        match keys.send.protect(&mut protected, packet.len()) {
                            Some(len) => protected.get(..len).unwrap_or_default(),
                            None => continue,
                        }
                    }
                    None => packet,
                };
                if setup.socket.send_to(out, source.remote()).await.is_ok() {
                    setup.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(rtcp) = rtcp.as_mut() {
                    rtcp.tick(&setup.socket, source.remote(), &sender, &setup.stats);
                }
                if recording.as_ref().is_some_and(|r| Instant::now() >= r.until || r.recorder.is_full()) {
                    finish(recording.take(), &setup);
                }
            }
            received = setup.socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                if !source.accept(from, Instant::now()) {
                    setup.stats.foreign.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let len = match srtp.as_mut().map(|keys| keys.receive.unprotect(&mut buf, len)) {
                    None => len,
                    Some(Ok(len)) => len,
                    Some(Err(_)) => {
                        setup.stats.srtp_refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let Some(bytes) = buf.get(..len) else { continue };
                let Ok(packet) = Packet::parse(bytes) else {
                    setup.stats.garbage.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                setup.stats.received.fetch_add(1, Ordering::Relaxed);
                if let Some(rtcp) = rtcp.as_mut() {
                    rtcp.received(&packet);
                }
                // Gaps in sequence numbers are lost packets; a jump of more
                // than a few seconds is a new stream, not a loss.
                if let Some(last) = last_seq {
                    let gap = packet.seq.wrapping_sub(last);
                    if (2..500).contains(&gap) {
                        setup.stats.lost.fetch_add(u64::from(gap - 1), Ordering::Relaxed);
                    }
                }
                last_seq = Some(packet.seq);
                if Some(packet.payload_type) == setup.telephone_event {
                    if let Ok(Some(key)) = dtmf.receive(&packet) {
                        let _ = setup.events.try_send((setup.call, MediaEvent::Digit(key)));
                    }
                } else if packet.payload_type == setup.law.payload_type() {
                    if let Some(r) = recording.as_mut() {
                        let _ = r.recorder.push(packet.payload);
                    }
                    if let Some(heard) = listener.as_mut().and_then(|l| l.frame(setup.law, packet.payload)) {
                        let _ = setup.events.try_send((setup.call, MediaEvent::Speech(heard)));
                    }
                    if let Ok(frame) = <[u8; dialect_media::FRAME_SAMPLES]>::try_from(packet.payload) {
                        if setup.telephone_event.is_none()
                            && !bridged
                            && let Some(key) = tones.coded_frame(setup.law, &frame)
                        {
                            let _ = setup.events.try_send((setup.call, MediaEvent::Digit(key)));
                        }
                        if let Some(peer) = &peer {
                            let _ = peer.try_send((setup.law, frame));
                        }
                        if let Some(tap) = &tap {
                            let _ = tap.try_send((setup.law, frame));
                        }
                    }
                }
            }
            readable = rtcp_readable(setup.socket.rtcp().filter(|_| rtcp.is_some())) => {
                if readable.is_ok() && let Some(state) = rtcp.as_mut() {
                    state.read(&setup, source.remote(), sender.ssrc());
                }
            }
            command = setup.commands.recv() => match command {
                Some(MediaCommand::Play { frames }) => playout = Some(Playout::once(frames)),
                Some(MediaCommand::Stop) => playout = None,
                Some(MediaCommand::Record { path, max }) => {
                    match Recorder::create(&path, setup.law, max) {
                        Ok(recorder) => recording = Some(Recording { recorder, path, until: Instant::now() + max }),
                        Err(e) => {
                            let _ = setup.events.try_send((setup.call, MediaEvent::RecordingFinished(Err(e.to_string()))));
                        }
                    }
                }
                Some(MediaCommand::Remote(addr)) => {
                    source = Source::new(addr, setup.signalling, Instant::now());
                }
                Some(MediaCommand::Bridge { peer: to }) => {
                    playout = None;
                    peer = Some(to);
                    bridged = true;
                }
                Some(MediaCommand::Listen) => {
                    if listener.is_none() {
                        listener = Some(Listener::new());
                    }
                }
                Some(MediaCommand::StopListening) => listener = None,
                Some(MediaCommand::Tap { to }) => tap = Some(to),
                Some(MediaCommand::Unbridge) => {
                    peer = None;
                    bridged = false;
                }
                Some(MediaCommand::Close) | None => break,
            },
        }
    }
    // A recording still running when the leg ends (the caller hung up
    // during voicemail) is finished and reported like any other, so that
    // it is indexed.
    finish(recording.take(), &setup);
    setup.stats.legs.fetch_sub(1, Ordering::Relaxed);
}

/// Finishes a recording off the media path (closing and fsyncing the file
/// blocks), then reports it; the report waits for room in the controller's
/// channel rather than being lost.
fn finish(recording: Option<Recording>, setup: &LegSetup) {
    let Some(r) = recording else { return };
    let (events, call) = (setup.events.clone(), setup.call);
    tokio::task::spawn_blocking(move || {
        let result = r
            .recorder
            .finish()
            .map(|_| r.path)
            .map_err(|e| e.to_string());
        let _ = events.blocking_send((call, MediaEvent::RecordingFinished(result)));
    });
}

/// A frame in `from`'s law, in `to`'s law (a copy when they are the same).
fn transcode(
    from: Law,
    to: Law,
    frame: [u8; dialect_media::FRAME_SAMPLES],
) -> [u8; dialect_media::FRAME_SAMPLES] {
    if from == to {
        return frame;
    }
    let mut linear = [0i16; dialect_media::FRAME_SAMPLES];
    from.decode_frame(&frame, &mut linear);
    let mut out = [0u8; dialect_media::FRAME_SAMPLES];
    to.encode_frame(&linear, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn frame(level: i16) -> [u8; dialect_media::FRAME_SAMPLES] {
        // A square wave of this amplitude: its mean absolute value is `level`.
        let samples: Vec<i16> = (0..dialect_media::FRAME_SAMPLES)
            .map(|i| if i % 2 == 0 { level } else { -level })
            .collect();
        let mut out = [0u8; dialect_media::FRAME_SAMPLES];
        Law::Ulaw.encode_into(&samples, &mut out);
        out
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn media_from_a_third_party_is_dropped() {
        let t0 = Instant::now();
        let mut source = Source::new(
            addr("192.0.2.10:4000"),
            Some(addr("192.0.2.10:5060").ip()),
            t0,
        );
        assert!(source.accept(addr("192.0.2.10:4000"), t0));
        // Once the peer was heard, another port of the same host is not.
        assert!(!source.accept(addr("192.0.2.10:4002"), t0));
        assert!(!source.accept(addr("198.51.100.1:4000"), t0));
        assert_eq!(source.remote(), addr("192.0.2.10:4000"));
    }

    #[test]
    fn a_peer_behind_nat_is_latched_within_the_window_only() {
        let t0 = Instant::now();
        // The SDP names a private address; media and signalling come from
        // the NAT's public one.
        let sdp = addr("10.0.0.5:4000");
        let public = addr("203.0.113.9:5060").ip();
        let mut source = Source::new(sdp, Some(public), t0);
        assert!(!source.accept(addr("198.51.100.1:4000"), t0), "a stranger");
        assert!(source.accept(addr("203.0.113.9:61000"), t0 + Duration::from_millis(300)));
        assert_eq!(source.remote(), addr("203.0.113.9:61000"), "latched");
        assert!(
            !source.accept(addr("203.0.113.9:61002"), t0),
            "latched once"
        );
        let mut late = Source::new(sdp, Some(public), t0);
        assert!(!late.accept(addr("203.0.113.9:61000"), t0 + LATCH_WINDOW));
    }

    #[test]
    fn speech_then_silence_is_one_utterance() {
        let mut listener = Listener::new();
        for _ in 0..10 {
            assert!(
                listener.frame(Law::Ulaw, &frame(100)).is_none(),
                "noise is not speech"
            );
        }
        for _ in 0..50 {
            assert!(listener.frame(Law::Ulaw, &frame(4000)).is_none());
        }
        let mut heard = None;
        for _ in 0..Listener::SILENT_FRAMES {
            heard = heard.or(listener.frame(Law::Ulaw, &frame(0)));
        }
        let heard = heard.expect("the silence ended the utterance");
        // The speech and the silence that ended it, not the noise before.
        assert_eq!(heard.len(), (50 + Listener::SILENT_FRAMES as usize) * 160);
        assert!(listener.frame(Law::Ulaw, &frame(0)).is_none());
    }

    #[test]
    fn speech_whose_packets_stop_ends_after_the_silence_time() {
        let mut listener = Listener::new();
        for _ in 0..20 {
            listener.frame(Law::Ulaw, &frame(4000));
            assert!(listener.tick().is_none());
        }
        let mut heard = None;
        for _ in 0..Listener::SILENT_FRAMES {
            heard = heard.or(listener.tick());
        }
        assert_eq!(heard.map(|h| h.len()), Some(20 * 160));
        // Nothing more without new speech.
        for _ in 0..100 {
            assert!(listener.tick().is_none());
        }
    }

    #[test]
    fn an_utterance_is_cut_at_the_longest_length() {
        let mut listener = Listener::new();
        let frames = Listener::MAX_SAMPLES / 160;
        let mut heard = None;
        for _ in 0..frames {
            heard = heard.or(listener.frame(Law::Ulaw, &frame(4000)));
        }
        assert_eq!(heard.map(|h| h.len()), Some(Listener::MAX_SAMPLES));
    }
}
#[cfg(test)]
mod size {
    #![allow(clippy::unwrap_used)]

    /// Every call has a leg, and the leg's task is allocated whole: 8,000
    /// calls at 9 kB each was most of the memory per call before the SRTP
    /// keys were boxed and the receive buffer cut to an MTU.
    #[tokio::test]
    async fn a_legs_task_stays_small() {
        let socket = crate::rtp_ports::MediaSocket::unpooled(
            tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        );
        let (_commands_tx, commands) = tokio::sync::mpsc::channel(1);
        let (events, _events_rx) = tokio::sync::mpsc::channel(1);
        let (_inbound_tx, inbound) = crate::voice::pipe(1);
        let (_tick_tx, tick) = tokio::sync::watch::channel(0u64);
        let setup = super::LegSetup {
            call: 1,
            socket,
            remote: "127.0.0.1:9".parse().unwrap(),
            signalling: None,
            random: 1,
            srtp: None,
            law: dialect_media::Law::Ulaw,
            telephone_event: None,
            tick,
            commands,
            events,
            stats: Default::default(),
            inbound,
        };
        assert!(std::mem::size_of::<super::LegSetup>() <= 256);
        let task = super::run(setup);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 3_500, "a leg's task takes {size} bytes");
    }
}
