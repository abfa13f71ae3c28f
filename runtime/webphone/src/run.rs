//! The session's task: it owns the socket and the [`Rtc`], and follows
//! str0m's run loop: after every input (a datagram, a timeout, a frame to
//! send) drain `poll_output` to its `Timeout`, then wait for the next input.
//!
//! It ends when the browser disconnects (ICE consent lost, DTLS closed),
//! after [`IDLE_TIMEOUT`] without a datagram that str0m accepts, on
//! [`Session::close`] (and drop), or on an error from str0m; then the state
//! is [`PhoneState::Closed`] and both frame channels close.
//!
//! **Invariant:** only datagrams [`Rtc::accepts`] are handed to str0m: its
//! `handle_input` decrypts DTLS, RTP and RTCP from any source address, and
//! `accepts` is where the source is checked (STUN must carry our ICE
//! credentials; anything else must come from an address whose checks
//! succeeded).
//!
//! [`Session::close`]: crate::Session::close

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{debug, info, warn};

use crate::chunk::Chunker;
use crate::negotiate::Negotiated;
use crate::{FRAME_BYTES, Frame, IDLE_TIMEOUT, PhoneState};

/// Larger than any datagram a browser sends (its MTU is about 1200 bytes).
const RECEIVE_BUFFER: usize = 2048;

/// Receive errors in a row after which the socket is given up.
const MAX_RECEIVE_ERRORS: u32 = 100;

/// Everything the task owns.
pub(crate) struct Task {
    pub(crate) negotiated: Box<Negotiated>,
    pub(crate) socket: UdpSocket,
    pub(crate) local: SocketAddr,
    pub(crate) microphone: mpsc::Sender<Frame>,
    pub(crate) speaker: mpsc::Receiver<Frame>,
    pub(crate) state: watch::Sender<PhoneState>,
    pub(crate) close: Arc<Notify>,
}

/// Why the task ended.
#[derive(Debug)]
enum End {
    Closed,
    Disconnected,
    Idle,
    Failed(String),
}

/// What the drain loop found out.
#[derive(Default)]
struct Drained {
    connected: bool,
    end: Option<End>,
}

impl Task {
    pub(crate) async fn run(self) {
        let Task {
            negotiated,
            socket,
            local,
            microphone,
            mut speaker,
            state,
            close,
        } = self;
        let Negotiated {
            mut rtc,
            mid,
            pt,
            transmits,
            ..
        } = *negotiated;
        let mut shell = Shell {
            socket,
            local,
            mid,
            pt,
            microphone,
            chunker: Chunker::new(),
            dropped_microphone: 0,
            rtp_time: 0,
            sent_any: false,
        };
        for t in &transmits {
            shell.send(t).await;
        }

        let end = shell.drive(&mut rtc, &mut speaker, &state, &close).await;
        match &end {
            End::Failed(why) => warn!(local = %shell.local, why, "webphone: session failed"),
            other => info!(local = %shell.local, end = ?other, "webphone: session ended"),
        }
        if shell.dropped_microphone > 0 {
            debug!(
                local = %shell.local,
                frames = shell.dropped_microphone,
                "webphone: microphone frames dropped (channel full)"
            );
        }
        // Tell the browser, unless it is the one that left.
        if matches!(end, End::Closed | End::Idle) && rtc.is_alive() {
            if let Err(e) = rtc.close() {
                debug!(error = %e, "webphone: closing");
            }
            shell.drain(&mut rtc).await;
        }
        state.send_replace(PhoneState::Closed);
    }
}

/// The task's I/O side, apart from the [`Rtc`] so both can be borrowed.
struct Shell {
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    pt: Pt,
    microphone: mpsc::Sender<Frame>,
    chunker: Chunker,
    dropped_microphone: u64,
    rtp_time: u64,
    sent_any: bool,
}

impl Shell {
    async fn drive(
        &mut self,
        rtc: &mut Rtc,
        speaker: &mut mpsc::Receiver<Frame>,
        state: &watch::Sender<PhoneState>,
        close: &Notify,
    ) -> End {
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        let mut last_datagram = Instant::now();
        let mut connected = false;
        let mut speaker_open = true;
        let mut receive_errors = 0u32;
        loop {
            let (deadline, drained) = self.drain(rtc).await;
            if drained.connected && !connected {
                connected = true;
                state.send_replace(PhoneState::Connected);
                info!(local = %self.local, "webphone: connected");
            }
            if let Some(end) = drained.end {
                return end;
            }
            if !rtc.is_alive() {
                return End::Disconnected;
            }
            let idle_deadline = last_datagram + IDLE_TIMEOUT;
            let wake = deadline.map_or(idle_deadline, |d| d.min(idle_deadline));

            // Not `biased`: a flood of datagrams must not starve the
            // speaker or the timers (str0m also advances its time on every
            // datagram it is given).
            tokio::select! {
                () = close.notified() => return End::Closed,
                received = self.socket.recv_from(&mut buf) => {
                    let now = Instant::now();
                    let (n, source) = match received {
                        Ok(v) => {
                            receive_errors = 0;
                            v
                        }
                        Err(e) => {
                            // ICMP errors (port unreachable) surface here on
                            // some systems; they are not the end of the call,
                            // but a socket that only fails is.
                            debug!(error = %e, "webphone: receiving");
                            receive_errors += 1;
                            if receive_errors >= MAX_RECEIVE_ERRORS {
                                return End::Failed(format!("receiving: {e}"));
                            }
                            continue;
                        }
                    };
                    let Some(datagram) = buf.get(..n) else { continue };
                    let Ok(contents) = datagram.try_into() else {
                        debug!(%source, len = n, "webphone: not STUN, DTLS, RTP or RTCP");
                        continue;
                    };
                    let input = Input::Receive(
                        now,
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    );
                    // See the invariant in the module doc.
                    if !rtc.accepts(&input) {
                        debug!(%source, "webphone: datagram from an unvalidated address");
                        continue;
                    }
                    // Only the browser keeps the session alive, not a sprayer.
                    last_datagram = now;
                    if let Err(e) = rtc.handle_input(input) {
                        // A bad datagram (from anyone) must not end the call;
                        // str0m disconnects itself when it is fatal.
                        debug!(%source, error = %e, "webphone: datagram refused");
                    }
                }
                frame = speaker.recv(), if speaker_open => match frame {
                    Some(frame) if connected => self.write(rtc, &frame),
                    Some(_) => {}
                    None => speaker_open = false,
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= idle_deadline {
                        return End::Idle;
                    }
                    if let Err(e) = rtc.handle_input(Input::Timeout(now)) {
                        return End::Failed(e.to_string());
                    }
                }
            }
        }
    }

    /// Drains `poll_output`: sends its datagrams, hands its media to the
    /// microphone; returns its deadline (`None` once the [`Rtc`] is dead).
    async fn drain(&mut self, rtc: &mut Rtc) -> (Option<Instant>, Drained) {
        let mut drained = Drained::default();
        loop {
            let output = match rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    drained.end = Some(End::Failed(e.to_string()));
                    return (None, drained);
                }
            };
            match output {
                Output::Timeout(t) => return (rtc.is_alive().then_some(t), drained),
                Output::Transmit(t) => self.send(&t).await,
                Output::Event(e) => self.event(e, &mut drained),
            }
        }
    }

    fn event(&mut self, event: Event, drained: &mut Drained) {
        match event {
            Event::Connected => drained.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                drained.end.get_or_insert(End::Disconnected);
            }
            Event::IceConnectionStateChange(s) => debug!(state = ?s, "webphone: ICE"),
            Event::Closed => {
                drained.end.get_or_insert(End::Disconnected);
            }
            Event::MediaData(data) if data.mid == self.mid && data.pt == self.pt => {
                let microphone = &self.microphone;
                let dropped = &mut self.dropped_microphone;
                self.chunker.push(&data.data, |frame| {
                    if let Err(TrySendError::Full(_)) = microphone.try_send(frame) {
                        *dropped += 1;
                    }
                });
            }
            _ => {}
        }
    }

    /// Sends one frame to the browser, 160 RTP ticks after the previous.
    fn write(&mut self, rtc: &mut Rtc, frame: &Frame) {
        let Some(writer) = rtc.writer(self.mid) else {
            return;
        };
        let time = MediaTime::new(self.rtp_time, Frequency::EIGHT_KHZ);
        let result = writer.start_of_talkspurt(!self.sent_any).write(
            self.pt,
            Instant::now(),
            time,
            &frame[..],
        );
        match result {
            Ok(()) => {
                self.sent_any = true;
                self.rtp_time += FRAME_BYTES as u64;
            }
            Err(e) => debug!(error = %e, "webphone: frame not sent"),
        }
    }

    async fn send(&self, t: &Transmit) {
        if let Err(e) = self.socket.send_to(&t.contents, t.destination).await {
            debug!(destination = %t.destination, error = %e, "webphone: sending");
        }
    }
}
