//! The browser phone's gateway: agents whose `phone` is `"browser"` are
//! rung here, like any SIP phone, by the controller's own INVITE (so hold,
//! transfer, wrap-up and recording run the code every phone runs). The
//! gateway is a small SIP user agent on the media address: it rings the
//! agent's desktop (an event), answers when the agent accepts there, and
//! carries the call's RTP to and from the agent's browser over WebRTC
//! (`dialect_webphone`: ICE, DTLS-SRTP, G.711).
//!
//! One browser connection per agent lives as long as their desktop; each
//! call only points its audio at the controller's leg. A consultation is
//! what a SIP phone does: an INVITE from the agent to the controller naming
//! a colleague, a queue or a number (answering the controller's digest
//! challenge with the agent's password), then either a REFER with
//! `Replaces` (attended transfer), the agent API's conference, or a BYE
//! (back to the caller). While it lasts, the browser's audio goes to the
//! consultation. Everything is
//! bounded: one connection and one call per agent, only configured
//! browser agents, SIP only from the controller's own address.

use crate::eventlog::{EventLog, fields};
use dialect_media::{FRAME_SAMPLES, Law, Packet, RtpSender};
use dialect_sip::dialog::{Dialog, Local};
use dialect_sip::ids::Ids;
use dialect_sip::message::{self, Message, Method, Transport};
use dialect_sip::sdp::{self, Codec, LocalMedia};
use dialect_webphone::{PhoneState, Session};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

/// Commands the gateway takes at once; more wait (the API answers 503).
const COMMANDS: usize = 64;

/// What the desktop asks of the gateway.
#[derive(Debug)]
pub enum Command {
    /// The browser's SDP offer: the answer, or why not.
    Attach {
        /// The agent.
        agent: String,
        /// The browser's offer.
        offer: String,
        /// The answer for the browser.
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Answer (`true`) or decline the call ringing.
    Pick {
        /// The agent.
        agent: String,
        /// Answer, else decline.
        answer: bool,
        /// Whether a call was ringing.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Consult a colleague, a queue or a number (the call's caller waits
    /// on hold).
    Consult {
        /// The agent.
        agent: String,
        /// Whom.
        target: String,
        /// Whether the consultation call was placed.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Hand the caller to the consulted party (attended transfer), or end
    /// the consultation (`transfer` false: back to the caller).
    EndConsult {
        /// The agent.
        agent: String,
        /// Transfer, else hang the consultation up.
        transfer: bool,
        /// Whether there was a consultation to end.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The desktop closes its phone.
    Detach {
        /// The agent.
        agent: String,
    },
    /// A browser connection's state changed (from its watcher).
    State {
        /// The agent.
        agent: String,
        /// Which connection (a newer one replaces an older).
        generation: u64,
        /// Its state.
        state: PhoneState,
    },
}

/// What the agent's view shows of their browser phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneStatus {
    /// The browser's connection is up.
    pub connected: bool,
    /// A call rings.
    pub ringing: bool,
    /// A call is answered.
    pub in_call: bool,
    /// A consultation: whom, and whether they answered.
    pub consult: Option<(String, bool)>,
}

/// A handle on the gateway, for the API and the controller.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    status: Arc<Mutex<HashMap<String, PhoneStatus>>>,
    agents: Arc<HashSet<String>>,
    sip: SocketAddr,
}

impl Handle {
    /// Where the controller rings browser agents.
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip
    }

    /// The URI a browser agent is rung at.
    pub fn uri(&self, agent: &str) -> String {
        format!("sip:{agent}@{}", self.sip)
    }

    /// Whether `agent` uses the browser phone.
    pub fn serves(&self, agent: &str) -> bool {
        self.agents.contains(agent)
    }

    /// The agent's phone, as their view shows it.
    pub fn status(&self, agent: &str) -> PhoneStatus {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.get(agent).cloned())
            .unwrap_or_default()
    }

    /// Hands a command to the gateway; `false` when it is busy or gone.
    pub fn send(&self, command: Command) -> bool {
        self.commands.try_send(command).is_ok()
    }
}

struct Ringing {
    invite: Message,
    from: SocketAddr,
    tag: String,
}

/// An answered call: its dialog, the controller's SIP address, the leg's
/// RTP address, and a REFER waiting for its answer.
struct Active {
    dialog: Dialog,
    to: SocketAddr,
    media: Option<(SocketAddr, Law)>,
    refer: Option<Message>,
}

/// A consultation the agent placed.
struct Consult {
    target: String,
    /// The INVITE last sent (again with credentials after a challenge).
    invite: Message,
    challenged: bool,
    dialog: Option<Dialog>,
    media: Option<(SocketAddr, Law)>,
}

struct Phone {
    session: Session,
    generation: u64,
    /// The controller's RTP address for the call now (the media task
    /// sends the browser's voice there).
    remote: watch::Sender<Option<(SocketAddr, Law)>>,
    /// Our RTP port for calls.
    port: u16,
    ringing: Option<Ringing>,
    call: Option<Active>,
    consult: Option<Consult>,
}

impl Phone {
    /// Points the browser's audio at the consultation once it is answered,
    /// else at the call.
    fn route(&self) {
        let media = match &self.consult {
            Some(c) if c.dialog.is_some() => c.media,
            _ => self.call.as_ref().and_then(|c| c.media),
        };
        let _ = self.remote.send(media);
    }
}

/// The gateway: its SIP socket, the browser connections.
pub struct Gateway {
    socket: UdpSocket,
    media: IpAddr,
    commands: mpsc::Receiver<Command>,
    sender: mpsc::Sender<Command>,
    status: Arc<Mutex<HashMap<String, PhoneStatus>>>,
    agents: Arc<HashSet<String>>,
    phones: HashMap<String, Phone>,
    /// Where SIP is accepted from: the controller only.
    controller: IpAddr,
    /// The browser agents' passwords, for the controller's challenges.
    passwords: HashMap<String, String>,
    log: EventLog,
    /// The server's clock (`--clock`), for the events' times.
    clock: crate::clock::Clock,
    ids: Ids,
    generation: u64,
}

impl Gateway {
    /// Binds the gateway's SIP socket on the media address for these
    /// browser agents; SIP is taken from `controller`'s address only.
    pub async fn bind(
        media: IpAddr,
        controller: IpAddr,
        passwords: HashMap<String, String>,
        (log, clock): (EventLog, crate::clock::Clock),
    ) -> std::io::Result<(Gateway, Handle)> {
        let agents: HashSet<String> = passwords.keys().cloned().collect();
        let socket = UdpSocket::bind(SocketAddr::new(media, 0)).await?;
        let sip = socket.local_addr()?;
        let (sender, commands) = mpsc::channel(COMMANDS);
        let status = Arc::new(Mutex::new(HashMap::new()));
        let agents = Arc::new(agents);
        let handle = Handle {
            commands: sender.clone(),
            status: status.clone(),
            agents: agents.clone(),
            sip,
        };
        Ok((
            Gateway {
                socket,
                media,
                commands,
                sender,
                status,
                agents,
                phones: HashMap::new(),
                controller,
                passwords,
                log,
                clock,
                ids: Ids::from_os(),
                generation: 0,
            },
            handle,
        ))
    }

    /// Runs until the server stops.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; 65_536];
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let Ok((len, from)) = received else { continue };
                    if from.ip() != self.controller {
                        continue;
                    }
                    let Some(bytes) = buf.get(..len) else { continue };
                    match message::parse(bytes) {
                        Ok(message) if message.is_request() => self.on_request(message, from).await,
                        Ok(message) => self.on_response(message, from).await,
                        Err(_) => {}
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => break,
                },
            }
        }
    }

    fn publish(&self, agent: &str) {
        let status = self
            .phones
            .get(agent)
            .map(|p| PhoneStatus {
                connected: *p.session.state().borrow() == PhoneState::Connected,
                ringing: p.ringing.is_some(),
                in_call: p.call.is_some(),
                consult: p
                    .consult
                    .as_ref()
                    .map(|c| (c.target.clone(), c.dialog.is_some())),
            })
            .unwrap_or_default();
        if let Ok(mut table) = self.status.lock() {
            table.insert(agent.to_string(), status);
        }
    }

    fn event(&self, agent: &str, event: &str, extra: Value) {
        let mut map = fields([("agent", agent.into())]);
        if let Value::Object(more) = extra {
            map.extend(more);
        }
        self.log.record(self.clock.now(), "", event, map);
    }

    async fn send(&self, message: &Message, to: SocketAddr) {
        let _ = self.socket.send_to(&message::serialize(message), to).await;
    }

    fn contact(&self, agent: &str) -> String {
        let addr = self
            .socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        format!("<sip:{agent}@{addr}>")
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Attach {
                agent,
                offer,
                reply,
            } => {
                let _ = reply.send(self.attach(&agent, &offer).await);
            }
            Command::Pick {
                agent,
                answer,
                reply,
            } => {
                let _ = reply.send(self.pick(&agent, answer).await);
            }
            Command::Consult {
                agent,
                target,
                reply,
            } => {
                let _ = reply.send(self.consult(&agent, &target).await);
            }
            Command::EndConsult {
                agent,
                transfer,
                reply,
            } => {
                let _ = reply.send(self.end_consult(&agent, transfer).await);
            }
            Command::Detach { agent } => self.detach(&agent).await,
            Command::State {
                agent,
                generation,
                state,
            } => {
                let current = self
                    .phones
                    .get(&agent)
                    .is_some_and(|p| p.generation == generation);
                if !current {
                    return;
                }
                self.publish(&agent);
                let name = match state {
                    PhoneState::Connected => "phone_connected",
                    PhoneState::Closed => "phone_disconnected",
                    PhoneState::Connecting => return,
                };
                self.event(&agent, name, json!({}));
                if state == PhoneState::Closed {
                    self.detach(&agent).await;
                }
            }
        }
    }

    /// A browser connects its phone: a new connection replaces the old.
    async fn attach(&mut self, agent: &str, offer: &str) -> Result<String, String> {
        if !self.agents.contains(agent) {
            return Err(format!(
                "{agent}'s phone is not the browser: set phone = \"browser\" in the agent's configuration"
            ));
        }
        self.detach(agent).await;
        let (mut session, answer) = Session::accept(offer, self.media)
            .await
            .map_err(|e| e.to_string())?;
        let socket = UdpSocket::bind(SocketAddr::new(self.media, 0))
            .await
            .map_err(|e| format!("no RTP port for the browser phone: {e}"))?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let (remote, remote_rx) = watch::channel(None);
        let microphone = session
            .take_microphone()
            .ok_or("the browser's microphone is taken")?;
        let speaker = session.speaker();
        let law = match session.law() {
            dialect_webphone::Law::Ulaw => Law::Ulaw,
            dialect_webphone::Law::Alaw => Law::Alaw,
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        tokio::spawn(relay(
            socket,
            microphone,
            speaker,
            law,
            remote_rx,
            u64::from_le_bytes(random),
        ));
        self.generation += 1;
        let generation = self.generation;
        let mut state = session.state();
        let sender = self.sender.clone();
        let name = agent.to_string();
        tokio::spawn(async move {
            loop {
                let now = *state.borrow_and_update();
                if sender
                    .send(Command::State {
                        agent: name.clone(),
                        generation,
                        state: now,
                    })
                    .await
                    .is_err()
                    || now == PhoneState::Closed
                    || state.changed().await.is_err()
                {
                    break;
                }
            }
        });
        self.phones.insert(
            agent.to_string(),
            Phone {
                session,
                generation,
                remote,
                port,
                ringing: None,
                call: None,
                consult: None,
            },
        );
        self.publish(agent);
        Ok(answer)
    }

    /// The desktop closes the phone (or its connection died): a ringing
    /// call is refused, an answered one hung up.
    async fn detach(&mut self, agent: &str) {
        let Some(mut phone) = self.phones.remove(agent) else {
            return;
        };
        if let Some(ringing) = phone.ringing.take() {
            let response = message::response_for(&ringing.invite, 480, "Temporarily Unavailable")
                .with_to_tag(&ringing.tag);
            self.send(&response, ringing.from).await;
        }
        if let Some(mut consult) = phone.consult.take()
            && let Some(dialog) = consult.dialog.as_mut()
        {
            let branch = self.ids.branch();
            if let (Ok(bye), Some(to)) = (
                dialog.request(Method::Bye, &branch),
                phone.call.as_ref().map(|c| c.to),
            ) {
                self.send(&bye, to).await;
            }
        }
        if let Some(mut active) = phone.call.take() {
            let branch = self.ids.branch();
            if let Ok(bye) = active.dialog.request(Method::Bye, &branch) {
                self.send(&bye, active.to).await;
            }
        }
        phone.session.close();
        self.publish(agent);
    }

    async fn pick(&mut self, agent: &str, answer: bool) -> Result<(), String> {
        let local = self.local();
        let contact = self.contact(agent);
        let Some(phone) = self.phones.get_mut(agent) else {
            return Err(format!("{agent}'s browser phone is not connected"));
        };
        let Some(ringing) = phone.ringing.take() else {
            return Err(format!("no call rings for {agent}"));
        };
        if !answer {
            let response =
                message::response_for(&ringing.invite, 486, "Busy Here").with_to_tag(&ringing.tag);
            self.send(&response, ringing.from).await;
            self.publish(agent);
            return Ok(());
        }
        let offer = sdp::parse(ringing.invite.body()).map_err(|e| e.to_string())?;
        let media = LocalMedia {
            address: self.media,
            port: phone.port,
            session_id: u64::from(phone.port),
            version: 1,
        };
        let Some((negotiated, body)) = sdp::answer(&offer, &media) else {
            let response = message::response_for(&ringing.invite, 488, "Not Acceptable Here")
                .with_to_tag(&ringing.tag);
            self.send(&response, ringing.from).await;
            return Err("the call's media cannot be answered".into());
        };
        let law = match negotiated.codec {
            Codec::Pcmu => Law::Ulaw,
            Codec::Pcma => Law::Alaw,
        };
        let response = message::response_for(&ringing.invite, 200, "OK")
            .with_to_tag(&ringing.tag)
            .with_header("Contact", &contact)
            .with_body("application/sdp", body.into_bytes());
        if let Some(dialog) = Dialog::uas(&ringing.invite, &ringing.tag, local) {
            phone.call = Some(Active {
                dialog,
                to: ringing.from,
                media: negotiated.remote.map(|r| (r, law)),
                refer: None,
            });
        }
        phone.route();
        self.send(&response, ringing.from).await;
        self.publish(agent);
        self.event(agent, "phone_answered", json!({}));
        Ok(())
    }

    /// Places the consultation: an INVITE from the agent to the
    /// controller naming `target`, offering the browser phone's media.
    async fn consult(&mut self, agent: &str, target: &str) -> Result<(), String> {
        let target = target.trim();
        let valid = !target.is_empty()
            && target.len() <= 64
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '.'));
        if !valid {
            return Err(format!(
                "`{target}` is not a queue, an agent, an entry point or a number"
            ));
        }
        let (branch, tag) = (self.ids.branch(), self.ids.tag());
        let local = self.socket.local_addr().map_err(|e| e.to_string())?;
        let call_id = self.ids.call_id(&local.ip().to_string());
        let media = self.media;
        let Some(phone) = self.phones.get_mut(agent) else {
            return Err(format!("{agent}'s browser phone is not connected"));
        };
        let Some(active) = phone.call.as_ref() else {
            return Err(format!("{agent} is not on a call in the browser phone"));
        };
        if phone.consult.is_some() {
            return Err(format!("{agent} is consulting already"));
        }
        let to = active.to;
        let offer = sdp::offer(&LocalMedia {
            address: media,
            port: phone.port,
            session_id: u64::from(phone.port) + 1,
            version: 1,
        });
        let uri = format!("sip:{target}@{to}");
        let invite = message::invite(&uri, local, agent, (&branch, &tag, &call_id), offer)
            .map_err(|e| e.to_string())?;
        phone.consult = Some(Consult {
            target: target.to_string(),
            invite: invite.clone(),
            challenged: false,
            dialog: None,
            media: None,
        });
        self.send(&invite, to).await;
        self.publish(agent);
        self.event(agent, "phone_consulting", json!({ "target": target }));
        Ok(())
    }

    /// Attended transfer (REFER with `Replaces` in the caller's dialog), or
    /// the consultation hung up (BYE, or CANCEL while it rings).
    async fn end_consult(&mut self, agent: &str, transfer: bool) -> Result<(), String> {
        let branch = self.ids.branch();
        let Some(phone) = self.phones.get_mut(agent) else {
            return Err(format!("{agent}'s browser phone is not connected"));
        };
        let (Some(active), Some(consult)) = (phone.call.as_mut(), phone.consult.as_mut()) else {
            return Err(format!("{agent} is not consulting"));
        };
        let to = active.to;
        if transfer {
            let Some(dialog) = consult.dialog.as_ref() else {
                return Err(format!("{} has not answered yet", consult.target));
            };
            let id = dialog.id();
            let replaces = format!(
                "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
                id.call_id.replace('@', "%40"),
                id.remote_tag,
                id.local_tag
            );
            let refer_to = format!("<sip:{}@{to}?Replaces={replaces}>", consult.target);
            let refer = active
                .dialog
                .request(Method::Refer, &branch)
                .map_err(|e| e.to_string())?
                .with_header("Refer-To", &refer_to)
                .with_header("Referred-By", &format!("<sip:{agent}@{to}>"));
            active.refer = Some(refer.clone());
            self.send(&refer, to).await;
            self.event(agent, "phone_transferring", json!({}));
            return Ok(());
        }
        let Some(mut consult) = phone.consult.take() else {
            return Err(format!("{agent} is not consulting"));
        };
        let message = match consult.dialog.as_mut() {
            Some(dialog) => dialog.request(Method::Bye, &branch).ok(),
            None => message::cancel_for(&consult.invite),
        };
        phone.route();
        if let Some(message) = message {
            self.send(&message, to).await;
        }
        self.publish(agent);
        self.event(agent, "phone_consult_ended", json!({}));
        Ok(())
    }

    /// A response to the consultation's INVITE or to a REFER.
    async fn on_response(&mut self, response: Message, from: SocketAddr) {
        let Some(status) = response.status() else {
            return;
        };
        let call_id = response.call_id().map(str::to_string);
        let method = response.cseq().map(|c| c.method);
        let found = self.phones.iter().find_map(|(agent, p)| {
            let consult = p
                .consult
                .as_ref()
                .is_some_and(|c| c.invite.call_id() == call_id.as_deref());
            let refer = p.call.as_ref().is_some_and(|c| {
                c.refer.is_some() && Some(c.dialog.id().call_id.as_str()) == call_id.as_deref()
            });
            (consult || refer).then(|| (agent.clone(), consult))
        });
        let Some((agent, consult)) = found else {
            return;
        };
        let password = self.passwords.get(&agent).cloned().unwrap_or_default();
        let cnonce = self.ids.token(8);
        let branch = self.ids.branch();
        let local = self.local();
        if !consult {
            if method.as_deref() != Some("REFER") {
                return;
            }
            let Some(active) = self.phones.get_mut(&agent).and_then(|p| p.call.as_mut()) else {
                return;
            };
            let Some(refer) = active.refer.take() else {
                return;
            };
            if matches!(status, 401 | 407)
                && refer.header("Proxy-Authorization").is_none()
                && refer.header("Authorization").is_none()
            {
                // Again, in the dialog's next CSeq, with the agent's answer.
                let Ok(again) = active.dialog.request(Method::Refer, &branch) else {
                    return;
                };
                let mut again = again;
                for name in ["Refer-To", "Referred-By"] {
                    if let Some(value) = refer.header(name) {
                        again.set_header(name, value);
                    }
                }
                let Some((header, value)) =
                    answer_challenge(&response, &agent, &password, &again, &cnonce)
                else {
                    return;
                };
                let again = again.with_header(header, &value);
                active.refer = Some(again.clone());
                return self.send(&again, from).await;
            }
            if status >= 300 {
                self.event(&agent, "phone_transfer_failed", json!({ "status": status }));
            }
            return;
        }
        if status < 200 {
            return;
        }
        let Some(phone) = self.phones.get_mut(&agent) else {
            return;
        };
        let Some(c) = phone.consult.as_mut() else {
            return;
        };
        if status >= 300 {
            if let Some(ack) = message::ack_for_failure(&c.invite, &response) {
                let _ = self.socket.send_to(&message::serialize(&ack), from).await;
            }
            if matches!(status, 401 | 407) && !c.challenged {
                let mut again = c.invite.clone();
                let seq = again.cseq().map_or(1, |s| s.seq) + 1;
                again.set_header("CSeq", &format!("{seq} INVITE"));
                if let Some(via) = again.header("Via").map(str::to_string) {
                    let sent_by = via.split(';').next().unwrap_or(&via).to_string();
                    again.set_header("Via", &format!("{sent_by};branch={branch}"));
                }
                let Some((header, value)) =
                    answer_challenge(&response, &agent, &password, &again, &cnonce)
                else {
                    return;
                };
                let again = again.with_header(header, &value);
                c.invite = again.clone();
                c.challenged = true;
                return self.send(&again, from).await;
            }
            phone.consult = None;
            phone.route();
            self.publish(&agent);
            return self.event(&agent, "phone_consult_failed", json!({ "status": status }));
        }
        // 2xx: the consulted party answered (again, for a retransmission).
        if c.dialog.is_none() {
            c.dialog = Dialog::uac(&c.invite, &response, local);
            let law_media = sdp::parse(response.body())
                .ok()
                .and_then(|answer| sdp::negotiated(&answer))
                .and_then(|n| {
                    let law = match n.codec {
                        Codec::Pcmu => Law::Ulaw,
                        Codec::Pcma => Law::Alaw,
                    };
                    n.remote.map(|r| (r, law))
                });
            c.media = law_media;
        }
        let seq = c.invite.cseq().map_or(1, |s| s.seq);
        let ack = c.dialog.as_ref().and_then(|d| d.ack(seq, &branch).ok());
        phone.route();
        if let Some(ack) = ack {
            self.send(&ack, from).await;
        }
        self.publish(&agent);
        self.event(&agent, "phone_consult_answered", json!({}));
    }

    fn local(&self) -> Local {
        let addr = self
            .socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Local {
            contact: format!("sip:gateway@{addr}"),
            sent_by: addr,
            transport: Transport::Udp,
        }
    }

    async fn on_request(&mut self, request: Message, from: SocketAddr) {
        let agent = request.request_uri_user().unwrap_or_default();
        match request.method() {
            Some(Method::Invite) => self.invite(&agent, request, from).await,
            Some(Method::Ack) => {}
            Some(Method::Cancel) => {
                self.send(&message::response_for(&request, 200, "OK"), from)
                    .await;
                let Some(phone) = self.phones.get_mut(&agent) else {
                    return;
                };
                let cancelled = phone
                    .ringing
                    .as_ref()
                    .is_some_and(|r| r.invite.call_id() == request.call_id());
                if cancelled && let Some(ringing) = phone.ringing.take() {
                    let response =
                        message::response_for(&ringing.invite, 487, "Request Terminated")
                            .with_to_tag(&ringing.tag);
                    self.send(&response, ringing.from).await;
                    self.publish(&agent);
                    self.event(&agent, "phone_stopped", json!({}));
                }
            }
            Some(Method::Bye) => {
                self.send(&message::response_for(&request, 200, "OK"), from)
                    .await;
                let Some(phone) = self.phones.get_mut(&agent) else {
                    return;
                };
                let call_id = request.call_id();
                let of = |d: &Dialog| Some(d.id().call_id.as_str()) == call_id;
                let event = if phone
                    .consult
                    .as_ref()
                    .and_then(|c| c.dialog.as_ref())
                    .is_some_and(of)
                {
                    phone.consult = None;
                    "phone_consult_ended"
                } else if phone.call.as_ref().is_some_and(|c| of(&c.dialog)) {
                    phone.call = None;
                    "phone_hung_up"
                } else {
                    return;
                };
                phone.route();
                self.publish(&agent);
                self.event(&agent, event, json!({}));
            }
            Some(Method::Options) | Some(Method::Notify) | Some(Method::Info) => {
                self.send(&message::response_for(&request, 200, "OK"), from)
                    .await;
            }
            _ => {
                let response = message::response_for(&request, 405, "Method Not Allowed")
                    .with_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS");
                self.send(&response, from).await;
            }
        }
    }

    async fn invite(&mut self, agent: &str, request: Message, from: SocketAddr) {
        let tag = self.ids.tag();
        let contact = self.contact(agent);
        let Some(phone) = self.phones.get_mut(agent) else {
            let response =
                message::response_for(&request, 480, "Temporarily Unavailable").with_to_tag(&tag);
            return self.send(&response, from).await;
        };
        // A re-INVITE in the answered call: the same media again.
        if request.to_tag().is_some() {
            if let Some(active) = phone.call.as_mut()
                && Some(active.dialog.id().call_id.as_str()) == request.call_id()
                && let Ok(offer) = sdp::parse(request.body())
            {
                let media = LocalMedia {
                    address: self.media,
                    port: phone.port,
                    session_id: u64::from(phone.port),
                    version: 2,
                };
                if let Some((negotiated, body)) = sdp::answer(&offer, &media) {
                    let law = match negotiated.codec {
                        Codec::Pcmu => Law::Ulaw,
                        Codec::Pcma => Law::Alaw,
                    };
                    active.media = negotiated.remote.map(|r| (r, law));
                    phone.route();
                    let response = message::response_for(&request, 200, "OK")
                        .with_header("Contact", &contact)
                        .with_body("application/sdp", body.into_bytes());
                    return self.send(&response, from).await;
                }
            }
            let response = message::response_for(&request, 481, "Call/Transaction Does Not Exist");
            return self.send(&response, from).await;
        }
        // A retransmitted INVITE: ringing again.
        if let Some(ringing) = &phone.ringing
            && ringing.invite.call_id() == request.call_id()
        {
            let response = message::response_for(&request, 180, "Ringing")
                .with_to_tag(&ringing.tag)
                .with_header("Contact", &contact);
            return self.send(&response, from).await;
        }
        let connected = *phone.session.state().borrow() == PhoneState::Connected;
        if !connected || phone.ringing.is_some() || phone.call.is_some() {
            let response = message::response_for(&request, 486, "Busy Here").with_to_tag(&tag);
            return self.send(&response, from).await;
        }
        // The campaign's `handling automatic`: the phone answers by itself.
        let automatic = request
            .header_values("Call-Info")
            .any(|v| v.contains("answer-after=0"));
        let response = message::response_for(&request, 180, "Ringing")
            .with_to_tag(&tag)
            .with_header("Contact", &contact);
        phone.ringing = Some(Ringing {
            invite: request,
            from,
            tag,
        });
        self.send(&response, from).await;
        self.publish(agent);
        self.event(agent, "phone_ringing", json!({ "automatic": automatic }));
        if automatic {
            let _ = self.pick(agent, true).await;
        }
    }
}

/// One browser phone's audio: what the browser's microphone sends goes to
/// the call's leg at the controller as RTP, what the leg sends goes to the
/// browser's speaker; transcoded when the call's law is not the browser's.
/// Nothing is allocated per packet.
async fn relay(
    socket: UdpSocket,
    mut microphone: mpsc::Receiver<[u8; FRAME_SAMPLES]>,
    speaker: mpsc::Sender<[u8; FRAME_SAMPLES]>,
    browser: Law,
    mut remote: watch::Receiver<Option<(SocketAddr, Law)>>,
    random: u64,
) {
    let mut sender: Option<(RtpSender, Law)> = None;
    let mut buf = [0u8; 2048];
    loop {
        tokio::select! {
            frame = microphone.recv() => {
                let Some(frame) = frame else { break };
                let Some((to, law)) = *remote.borrow() else { continue };
                let rtp = match &mut sender {
                    Some((s, l)) if *l == law => s,
                    _ => &mut sender.insert((RtpSender::from_random(random, law.payload_type()), law)).0,
                };
                let packet = rtp.frame(&transcode(browser, law, frame));
                let _ = socket.send_to(packet, to).await;
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                let Some((to, law)) = *remote.borrow() else { continue };
                if from != to {
                    continue;
                }
                let Some(bytes) = buf.get(..len) else { continue };
                let Ok(packet) = Packet::parse(bytes) else { continue };
                if packet.payload_type != law.payload_type() {
                    continue;
                }
                if let Ok(frame) = <[u8; FRAME_SAMPLES]>::try_from(packet.payload) {
                    let _ = speaker.try_send(transcode(law, browser, frame));
                }
            }
            changed = remote.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
}

fn transcode(from: Law, to: Law, frame: [u8; FRAME_SAMPLES]) -> [u8; FRAME_SAMPLES] {
    if from == to {
        return frame;
    }
    let mut linear = [0i16; FRAME_SAMPLES];
    from.decode_frame(&frame, &mut linear);
    let mut out = [0u8; FRAME_SAMPLES];
    to.encode_frame(&linear, &mut out);
    out
}

/// The `Authorization` (401) or `Proxy-Authorization` (407) header that
/// answers `response`'s digest challenge for `request` as `agent`.
fn answer_challenge(
    response: &Message,
    agent: &str,
    password: &str,
    request: &Message,
    cnonce: &str,
) -> Option<(&'static str, String)> {
    let (challenge, header) = match response.status()? {
        407 => (
            response.header("Proxy-Authenticate")?,
            "Proxy-Authorization",
        ),
        401 => (response.header("WWW-Authenticate")?, "Authorization"),
        _ => return None,
    };
    let param = |name: &str| -> Option<String> {
        let rest = challenge.trim_start().get(6..)?;
        rest.split(',').find_map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    };
    let uri = request.request_uri()?;
    let method = request.cseq()?.method;
    let method = method.as_str();
    let qop = param("qop").filter(|q| q.split(',').any(|q| q.trim() == "auth"));
    let credentials = dialect_sip::auth::Credentials {
        username: agent.to_string(),
        realm: param("realm")?,
        nonce: param("nonce")?,
        uri: uri.clone(),
        response: String::new(),
        algorithm: Some("MD5".into()),
        qop: qop.as_ref().map(|_| "auth".to_string()),
        nc: Some("00000001".into()),
        cnonce: Some(cnonce.to_string()),
        opaque: param("opaque"),
    };
    let response = dialect_sip::auth::expected_response(&credentials, method, password)?;
    let mut value = format!(
        "Digest username=\"{agent}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5",
        credentials.realm, credentials.nonce
    );
    if qop.is_some() {
        value.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = &credentials.opaque {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    Some((header, value))
}
