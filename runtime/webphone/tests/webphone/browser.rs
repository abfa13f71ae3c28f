//! A browser stand-in made of str0m itself: a full (not lite),
//! ICE-controlling peer with an audio m-line (PCMU, sendrecv) and its own UDP
//! socket on 127.0.0.1, as Chromium is to a `Session`.
//!
//! Once connected it sends a frame every 20 ms (what [`Browser::spawn`]'s
//! `frame` says, from the socket it says) and reports what it receives.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use dialect_webphone::Frame;

/// A received payload and its RTP time.
#[derive(Debug)]
pub struct Heard {
    pub payload: Vec<u8>,
    pub rtp_time: u64,
}

/// Where a sent frame goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The socket ICE validated.
    Validated,
    /// A second socket, never in ICE: a hijacker holding the SRTP keys.
    Other,
}

/// What the stand-in sends as frame `n` (from 0), and from where; `None`
/// sends nothing for that tick.
pub type Script = Box<dyn FnMut(u32) -> Option<(Frame, Via)> + Send>;

/// What the running stand-in reports through.
struct Signals {
    connected: watch::Sender<bool>,
    closed: watch::Sender<bool>,
    heard: mpsc::Sender<Heard>,
    other_sent: Arc<AtomicUsize>,
}

pub struct Browser {
    rtc: Rtc,
    socket: UdpSocket,
    other: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
}

/// A running stand-in.
pub struct Running {
    /// True once ICE and DTLS are up on the stand-in's side.
    pub connected: watch::Receiver<bool>,
    /// True once the session has closed the connection (DTLS close_notify).
    pub closed: watch::Receiver<bool>,
    /// What the stand-in hears from the session.
    pub heard: mpsc::Receiver<Heard>,
    /// Ends the stand-in; `true` closes politely (DTLS close_notify), `false`
    /// just goes silent (a crashed tab).
    pub stop: oneshot::Sender<bool>,
    /// Datagrams sent from the other socket ([`Via::Other`]).
    pub other_sent: Arc<AtomicUsize>,
}

impl Browser {
    /// A stand-in and its offer (`with_candidates` false strips the
    /// `a=candidate` lines, as when Chromium's are mDNS names the server
    /// cannot resolve: the session then learns the address from the checks).
    pub async fn offer(with_candidates: bool) -> (Browser, String) {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let other = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(str0m::Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let mut offer = offer.to_sdp_string();
        if !with_candidates {
            offer = offer
                .split_inclusive('\n')
                .filter(|l| !l.starts_with("a=candidate:"))
                .collect();
        }
        let browser = Browser {
            rtc,
            socket,
            other,
            local,
            mid,
            pending: Some(pending),
        };
        (browser, offer)
    }

    /// Applies the session's answer (which carries its candidate).
    pub fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        let pending = self.pending.take().unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    /// Runs the stand-in on its own task.
    pub fn spawn(self, script: Script) -> Running {
        let (connected_tx, connected) = watch::channel(false);
        let (closed_tx, closed) = watch::channel(false);
        let (heard_tx, heard) = mpsc::channel(1000);
        let (stop, stop_rx) = oneshot::channel();
        let other_sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&other_sent);
        let signals = Signals {
            connected: connected_tx,
            closed: closed_tx,
            heard: heard_tx,
            other_sent: counter,
        };
        tokio::spawn(self.run(script, signals, stop_rx));
        Running {
            connected,
            closed,
            heard,
            stop,
            other_sent,
        }
    }

    async fn run(
        mut self,
        mut script: Script,
        signals: Signals,
        mut stop: oneshot::Receiver<bool>,
    ) {
        let Signals {
            connected,
            closed,
            heard,
            other_sent,
        } = signals;
        let mut buf = vec![0u8; 2048];
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n = 0u32;
        // Where each written frame goes out: str0m's pacer sends a frame's
        // RTP packet some time after the write, one packet per frame.
        let mut vias: VecDeque<Via> = VecDeque::new();
        loop {
            let deadline = loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let via = if is_rtp(&t.contents) {
                            vias.pop_front().unwrap_or(Via::Validated)
                        } else {
                            Via::Validated
                        };
                        let socket = match via {
                            Via::Validated => &self.socket,
                            Via::Other => {
                                other_sent.fetch_add(1, Ordering::Relaxed);
                                &self.other
                            }
                        };
                        socket.send_to(&t.contents, t.destination).await.unwrap();
                    }
                    Output::Event(Event::Connected) => {
                        connected.send_replace(true);
                    }
                    Output::Event(Event::Closed) => {
                        closed.send_replace(true);
                    }
                    Output::Event(Event::MediaData(d)) => {
                        let _ = heard.try_send(Heard {
                            payload: d.data.to_vec(),
                            rtp_time: d.time.numer(),
                        });
                    }
                    Output::Event(_) => {}
                }
            };
            let wake = deadline.min(Instant::now() + Duration::from_millis(100));
            tokio::select! {
                polite = &mut stop => {
                    if polite.unwrap_or(false) {
                        self.rtc.close().unwrap();
                        while let Output::Transmit(t) = self.rtc.poll_output().unwrap() {
                            self.socket.send_to(&t.contents, t.destination).await.unwrap();
                        }
                    }
                    return;
                }
                r = self.socket.recv_from(&mut buf) => {
                    let (len, source) = r.unwrap();
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents: buf[..len].try_into().unwrap(),
                        },
                    );
                    self.rtc.handle_input(input).unwrap();
                }
                _ = tick.tick() => {
                    if !*connected.borrow() {
                        self.rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
                        continue;
                    }
                    if let Some((frame, how)) = script(n) {
                        let pt = Pt::from(0);
                        let time = MediaTime::new(u64::from(n) * 160, Frequency::EIGHT_KHZ);
                        let writer = self.rtc.writer(self.mid).unwrap();
                        writer.write(pt, Instant::now(), time, &frame[..]).unwrap();
                        vias.push_back(how);
                    }
                    n += 1;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
                }
            }
        }
    }
}

/// RTP (RFC 5761: version 2, payload type outside RTCP's 64..=95 range).
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [b0, b1, ..] if b0 >> 6 == 2 && !(64..=95).contains(&(b1 & 0x7f)))
}
