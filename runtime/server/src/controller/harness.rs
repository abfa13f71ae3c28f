//! The in-memory SIP harness, in the style of quinn-proto's test `Pair`:
//! the controller of `dialect serve`, whole, driven by SIP text in and SIP
//! text out on simulated time. No socket carries a message and no RTP task
//! runs: the harness plays the media world (a prompt ends when its length
//! has passed; keys are pressed by the test) and hands every SIP message the
//! controller sends to the test, which answers as the caller, an agent's
//! phone or the trunk would.
//!
//! It exists so that one scenario's inputs can be fed to the switch through
//! the simulator (`dialect test`) and through the server's adapters, and the
//! two event traces compared, in milliseconds and without a network.
//!
//! What it does not play: recordings (a `Record` command is noted, nothing
//! is written and no `RecordingFinished` comes; a recorded conversation,
//! whose recorder runs on the real tick, stays empty), speech (`Listen` is noted),
//! and the services and webhooks that run as tasks of their own.

use super::{Core, MediaCommand, MediaEvent, Options, ServeError, Server, Wire};
use crate::eventlog::EventLog;
use dialect_sip::message::Transport;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long [`Harness::start`] waits for the announcement phrases.
const PHRASES_WITHIN: Duration = Duration::from_secs(60);

/// One SIP message the controller sent.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When (simulated time).
    pub at: Instant,
    /// Where to.
    pub to: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The message as it went on the wire.
    pub text: String,
}

/// A media leg the controller started, as the harness plays it.
struct Leg {
    call: u64,
    commands: mpsc::Receiver<MediaCommand>,
    /// When the prompt playing ends.
    prompt_ends: Option<Instant>,
    listening: bool,
    bridged: bool,
    closed: bool,
}

/// The controller on simulated time, with SIP text in and out.
pub struct Harness {
    server: Server,
    now: Instant,
    sent: Vec<Sent>,
    legs: Vec<Leg>,
    prompt_length: Option<Duration>,
    log: EventLog,
}

impl Harness {
    /// Prepares the server as `dialect serve` would (the same
    /// [`Server::bind`]; its sockets are bound on loopback but never read;
    /// the agent and admin APIs and SIP over TLS are off) and starts
    /// the simulated clock at the switch's origin (`options.clock`'s
    /// start, and the time bind took). Every prompt plays
    /// `prompt_length`, or its real length when `None`. The event log is
    /// kept in memory ([`Harness::events`]); `options.log` is replaced.
    pub async fn start(
        mut options: Options,
        prompt_length: Option<Duration>,
    ) -> Result<Harness, ServeError> {
        let log = EventLog::in_memory();
        options.log = log.clone();
        // No network: the APIs and SIP over TLS stay off; SIP and RTP
        // sockets are bound on loopback (any free port) and never used.
        options.config.api.listen = None;
        options.config.admin.listen = None;
        options.config.tls = None;
        options.config.sip.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = Server::bind(options).await?;
        // Simulated time starts at the switch's origin (read as the server
        // binds), so that the ACD's milliseconds fall on whole simulated
        // milliseconds.
        let now = server.core.clock.instant(server.core.switch.time_of(0));
        // `dialect serve` skips announcements until their phrases are
        // synthesised (in the background); the harness waits for them, so
        // that what it plays does not depend on how fast espeak-ng was.
        if server.core.announces() {
            let mut waited = Duration::ZERO;
            while let Some(phrase) = super::waiting::missing_phrase(&server.core.prompts) {
                if waited > PHRASES_WITHIN {
                    return Err(ServeError::Prompt {
                        name: "queue announcements".into(),
                        prompt: format!("{phrase:?}"),
                        error:
                            "not synthesised: is espeak-ng installed (Debian package `espeak-ng`)?"
                                .into(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                waited += Duration::from_millis(20);
            }
        }
        let core = &mut server.core;
        core.scripted_media = Some(Vec::new());
        core.switch_trace = Some(Vec::new());
        core.now = now;
        core.startup(now);
        core.refresh_callback_due(now);
        core.refresh_survey_due(now);
        let mut harness = Harness {
            server,
            now,
            sent: Vec::new(),
            legs: Vec::new(),
            prompt_length,
            log,
        };
        harness.settle().await;
        Ok(harness)
    }

    fn core(&mut self) -> &mut Core {
        &mut self.server.core
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The address the controller's SIP messages say they come from.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.core.local
    }

    /// A SIP message arrives over UDP from `from`.
    pub async fn receive(&mut self, from: SocketAddr, text: &str) {
        let now = self.now;
        self.core()
            .on_datagram(
                text.as_bytes(),
                from,
                std::time::Duration::ZERO,
                now,
                super::load::ReadBy::Controller,
            )
            .await;
        self.settle().await;
    }

    /// The caller of `call` presses `key` (an RFC 4733 event).
    pub async fn press(&mut self, call: u64, key: char) {
        let now = self.now;
        self.core()
            .on_media(call, MediaEvent::Digit(key), now)
            .await;
        self.settle().await;
    }

    /// The SIP messages sent since the last call, in order.
    pub fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    /// Lets `by` pass: prompts end and the controller's deadlines (engine
    /// and ACD timers, SIP retransmissions and timeouts, ringing) fire in
    /// time order, each at its instant.
    pub async fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            let prompt = self
                .legs
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.closed)
                .filter_map(|(i, l)| l.prompt_ends.map(|at| (at, i)))
                .min();
            let deadline = self.server.core.next_deadline();
            match (prompt, deadline) {
                (Some((at, i)), d) if at <= until && d.is_none_or(|d| at <= d) => {
                    self.now = self.now.max(at);
                    let call = match self.legs.get_mut(i) {
                        Some(leg) => {
                            leg.prompt_ends = None;
                            leg.call
                        }
                        None => continue,
                    };
                    let now = self.now;
                    self.core()
                        .on_media(call, MediaEvent::PromptFinished, now)
                        .await;
                }
                (_, Some(d)) if d <= until => {
                    self.now = self.now.max(d);
                    let now = self.now;
                    self.core().on_timeout(now).await;
                }
                _ => break,
            }
            self.settle().await;
        }
        self.now = until;
    }

    /// The calls whose caller leg has media and is still open (the
    /// controller's call keys, for [`Harness::press`]).
    pub fn calls(&self) -> Vec<u64> {
        let mut calls: Vec<u64> = self
            .legs
            .iter()
            .filter(|l| !l.closed)
            .map(|l| l.call)
            .collect();
        calls.dedup();
        calls
    }

    /// Whether some open leg of `call` is bridged to another.
    pub fn bridged(&self, call: u64) -> bool {
        self.legs
            .iter()
            .any(|l| l.call == call && !l.closed && l.bridged)
    }

    /// Whether some open leg of `call` listens for speech.
    pub fn listening(&self, call: u64) -> bool {
        self.legs
            .iter()
            .any(|l| l.call == call && !l.closed && l.listening)
    }

    /// An agent API request, as the API task hands it to the controller.
    pub async fn api(&mut self, request: crate::api::ApiRequest) -> crate::api::ApiReply {
        let now = self.now;
        let reply = self.core().on_api(request, now).await;
        self.core().pump(now).await;
        self.settle().await;
        reply
    }

    /// Serves a new version (`flows`), as a reload does once its load is
    /// done: prepared by the same [`dialect_switch::Version::prepare`],
    /// swapped in or refused. Returns the refusal's reason, if refused.
    pub async fn reload(&mut self, flows: Vec<dialect_bytecode::Loaded>) -> Result<(), String> {
        let core = &mut self.server.core;
        let result = dialect_switch::Version::prepare(
            flows,
            &super::bots::read_knowledge(&core.media_root),
            &core.config.services.bots,
        )
        .map_err(|e| e.to_string());
        let refused = result.as_ref().err().cloned();
        let now = self.now;
        core.reloaded(
            super::reload::Loaded {
                result,
                trigger: "harness",
            },
            now,
        );
        core.pump(now).await;
        self.settle().await;
        refused.map_or(Ok(()), Err)
    }

    /// Every event the switch logged for `call`, in order, with the time
    /// since `since`, in milliseconds: the trace the simulator keeps
    /// (`dialect_sim::Run::events`).
    pub fn switch_events(&self, call: u64, since: Instant) -> Vec<(i64, String)> {
        self.server
            .core
            .switch_trace
            .iter()
            .flatten()
            .filter(|(_, c, _)| *c == call)
            .map(|(at, _, event)| {
                let ms = at.saturating_duration_since(since).as_millis();
                (i64::try_from(ms).unwrap_or(i64::MAX), (*event).to_string())
            })
            .collect()
    }

    /// Every line of the event log so far.
    pub fn events(&self) -> Vec<Value> {
        self.log.lines()
    }

    /// The server's status, as `OPTIONS sip:status` reports it.
    pub fn status(&self) -> Value {
        super::status(&self.server.core)
    }

    /// Hands what the controller sent to the test and plays the media
    /// commands it gave, at the current time.
    async fn settle(&mut self) {
        let mut sent = Vec::new();
        self.server.core.flush(&mut Wire::Memory(&mut sent)).await;
        let at = self.now;
        self.sent
            .extend(sent.into_iter().map(|(to, transport, bytes)| Sent {
                at,
                to,
                transport,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            }));
        if let Some(started) = self.server.core.scripted_media.as_mut() {
            for (call, commands) in started.drain(..) {
                self.legs.push(Leg {
                    call,
                    commands,
                    prompt_ends: None,
                    listening: false,
                    bridged: false,
                    closed: false,
                });
            }
        }
        for leg in self.legs.iter_mut().filter(|l| !l.closed) {
            loop {
                match leg.commands.try_recv() {
                    Ok(MediaCommand::Play { frames }) => {
                        let length = self.prompt_length.unwrap_or_else(|| frames.duration());
                        leg.prompt_ends = Some(self.now + length);
                    }
                    Ok(MediaCommand::Stop) => leg.prompt_ends = None,
                    Ok(MediaCommand::Bridge { .. }) => {
                        leg.prompt_ends = None;
                        leg.bridged = true;
                    }
                    Ok(MediaCommand::Unbridge) => leg.bridged = false,
                    Ok(MediaCommand::Listen) => leg.listening = true,
                    Ok(MediaCommand::StopListening) => leg.listening = false,
                    Ok(
                        MediaCommand::Record { .. }
                        | MediaCommand::Remote(_)
                        | MediaCommand::Tap { .. },
                    ) => {}
                    Ok(MediaCommand::Close) => {
                        leg.closed = true;
                        break;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        leg.closed = true;
                        break;
                    }
                }
            }
        }
        self.legs.retain(|l| !l.closed);
    }
}
