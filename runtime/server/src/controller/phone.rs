//! What an agent does from the SIP phone during a call (SPEC 5.3): hold and
//! resume by re-INVITE, blind transfer by REFER to a queue, an agent or a
//! number, hang up by BYE.

use super::{Core, MediaCommand, fields};

use dialect_sip::message::{self, Message, Method, Transport};
use dialect_sip::sdp::{self, LocalMedia};
use dialect_sip::transaction::TxKey;
use std::time::Instant;

/// How long an agent named as a transfer target is tried before anyone of
/// their queue may take the call.
const AGENT_TRANSFER_MS: u64 = 60_000;

/// Where a REFER (or a consultation call) sends the caller: the switch's
/// reading of its target.
pub(super) use dialect_switch::Target;

impl Core {
    /// A request inside the dialog with an agent (or a dialled number).
    pub(super) async fn agent_request(
        &mut self,
        key: TxKey,
        request: Message,
        call_key: u64,
        from: std::net::SocketAddr,
        now: Instant,
    ) {
        match request.method() {
            Some(Method::Bye) => {
                self.respond(&key, &request, 200, "OK", now);
                let dialog = self.dialogs.match_request(&request);
                if let dialect_sip::dialog::Match::Dialog(id) = dialog
                    && self.conference_leave(call_key, &id, now).await
                {
                    return;
                }
                self.agent_hung_up(call_key, now).await;
            }
            Some(Method::Invite) => self.agent_reinvite(key, request, call_key, now),
            Some(Method::Refer) => {
                // A transfer places the caller somewhere through us: the
                // agent proves who they are (407), as for a consultation.
                if self.is_trunk(call_key) {
                    return self.respond(&key, &request, 403, "Only Agents Transfer", now);
                }
                let agent = self.agent_name(call_key);
                if self
                    .authorise_agent(&key, &request, &agent, from, now)
                    .is_ok()
                {
                    self.refer(key, request, call_key, now).await;
                }
            }
            Some(Method::Ack) => {}
            Some(Method::Options) | Some(Method::Notify) | Some(Method::Info) => {
                self.respond(&key, &request, 200, "OK", now)
            }
            _ => {
                let response = message::response_for(&request, 405, "Method Not Allowed")
                    .with_header("Allow", super::ALLOW);
                let sent = self.tx.send_response(&key, response, now);
                self.sip_sent(sent);
            }
        }
    }

    /// Hold (`sendonly`/`inactive`) or resume (`sendrecv`): we answer with
    /// the matching direction; the caller hears the campaign's music on hold
    /// while held.
    fn agent_reinvite(&mut self, key: TxKey, request: Message, call_key: u64, now: Instant) {
        let Ok(offer) = sdp::parse(request.body()) else {
            return self.respond(&key, &request, 488, "Not Acceptable Here", now);
        };
        let Some(port) = self
            .calls
            .get(&call_key)
            .and_then(|c| c.agent.as_ref())
            .map(|a| a.port)
        else {
            return self.respond(&key, &request, 481, "Call/Transaction Does Not Exist", now);
        };
        let local = LocalMedia {
            address: self.config.media.address,
            port,
            session_id: u64::from(port),
            version: self.ids.next_u64() >> 40,
        };
        let Some((negotiated, answer)) = sdp::answer(&offer, &local) else {
            return self.respond(&key, &request, 488, "Not Acceptable Here", now);
        };
        let response = message::response_for(&request, 200, "OK")
            .with_header("Contact", &format!("<{}>", self.local_contact()))
            .with_body("application/sdp", answer.into_bytes());
        let sent = self.tx.send_response(&key, response, now);
        self.sip_sent(sent);
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let Some(leg) = call.agent.as_ref() else {
            return;
        };
        if let (Some(media), Some(remote)) = (&leg.media, negotiated.remote) {
            super::to_leg(media, MediaCommand::Remote(remote), &self.media_stats);
        }
        let held = call.held;
        if negotiated.on_hold != held {
            self.set_held(call_key, negotiated.on_hold);
        }
    }

    /// Puts the caller on hold (music on hold; the agent hears nothing) or
    /// back in the conversation: the agent's phone's re-INVITE, or the
    /// desktop.
    pub(super) fn set_held(&mut self, call_key: u64, on_hold: bool) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let Some(leg) = call.agent.as_ref() else {
            return;
        };
        let name = leg.name.clone();
        let (caller_media, caller_inbound) = (call.media.clone(), call.inbound.clone());
        let (agent_media, agent_inbound) = (leg.media.clone(), leg.inbound.clone());
        let music = self
            .switch
            .directory()
            .campaigns
            .get(&call.campaign)
            .and_then(|c| c.music_on_hold.clone());
        let law = call.law;
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.held = on_hold;
        }
        if on_hold {
            super::to_leg(&caller_media, MediaCommand::Unbridge, &self.media_stats);
            if let Some(media) = &agent_media {
                super::to_leg(media, MediaCommand::Unbridge, &self.media_stats);
            }
            if let Some(frames) = music.and_then(|p| self.prompts.get(&p, &self.media_root, law)) {
                super::to_leg(
                    &caller_media,
                    MediaCommand::Play { frames },
                    &self.media_stats,
                );
            }
            self.record(call_key, "hold", fields([("agent", name.into())]));
        } else {
            super::to_leg(&caller_media, MediaCommand::Stop, &self.media_stats);
            if let (Some(media), Some(inbound)) = (&agent_media, agent_inbound) {
                super::to_leg(
                    &caller_media,
                    MediaCommand::Bridge { peer: inbound },
                    &self.media_stats,
                );
                super::to_leg(
                    media,
                    MediaCommand::Bridge {
                        peer: caller_inbound,
                    },
                    &self.media_stats,
                );
            }
            self.record(call_key, "resume", fields([("agent", name.into())]));
        }
    }

    /// Blind transfer: `202 Accepted`, a NOTIFY that it succeeded, BYE to
    /// the agent (who wraps up), and the caller goes to the target. The
    /// flow waits on: it goes on when the last bridge ends.
    async fn refer(&mut self, key: TxKey, request: Message, call_key: u64, now: Instant) {
        let refer_to = request
            .header("Refer-To")
            .or_else(|| request.header("r"))
            .map(str::to_string);
        let Some(refer_to) = refer_to else {
            return self.respond(&key, &request, 400, "Missing Refer-To", now);
        };
        if let Some(replaces) = super::consult::replaces(&refer_to) {
            return self
                .attended_transfer(key, request, call_key, &replaces, now)
                .await;
        }
        let Some(target) = self.transfer_target(&refer_to) else {
            self.record(
                call_key,
                "transfer_refused",
                fields([("target", refer_to.into())]),
            );
            return self.respond(&key, &request, 404, "Transfer Target Not Found", now);
        };
        if self.is_trunk(call_key) {
            return self.respond(&key, &request, 403, "Only Agents Transfer", now);
        }
        self.respond(&key, &request, 202, "Accepted", now);
        self.notify_refer(call_key, now);
        self.blind_transfer(call_key, target, now).await;
    }

    /// Blind transfer of the agent's caller: the agent leaves (and wraps
    /// up), the caller goes to `target`. The agent phone's REFER, or the
    /// desktop.
    pub(super) async fn blind_transfer(&mut self, call_key: u64, target: Target, now: Instant) {
        let agent = self.agent_name(call_key);
        let target_text = match &target {
            Target::Queue(q) | Target::Agent(q) | Target::Number(q) | Target::EntryPoint(q) => {
                q.clone()
            }
        };
        let kind = match target {
            Target::Queue(_) => "queue",
            Target::Agent(_) => "agent",
            Target::Number(_) => "number",
            Target::EntryPoint(_) => "entry_point",
        };
        self.webhook(
            call_key,
            "call_transferred",
            serde_json::json!({ "from_agent": agent, "target": target_text, "kind": kind }),
        );
        self.record(
            call_key,
            "transferred",
            fields([
                ("agent", agent.into()),
                ("target", target_text.into()),
                ("kind", kind.into()),
            ]),
        );
        self.drop_agent(call_key, now);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.transferring = true;
        }
        match target {
            Target::Queue(queue) => {
                let priority = self.flow_priority(call_key);
                self.requeue(call_key, queue, priority, now).await;
            }
            Target::Agent(agent) => {
                let priority = i64::from(self.flow_priority(call_key));
                if !self
                    .enqueue_for(call_key, agent, priority, AGENT_TRANSFER_MS, now)
                    .await
                {
                    return self.transfer_failed(call_key, now).await;
                }
            }
            Target::Number(number) => {
                self.dial(call_key, number, 30_000, None, now).await;
            }
            Target::EntryPoint(dialled) => return self.restart_flow(call_key, dialled, now).await,
        }
        self.hold_music(call_key);
    }

    /// A transfer to an entry point: the call's flow ends (as if the
    /// caller had hung up, but the call stays up) and the campaign of the
    /// dialled number starts for the same caller.
    async fn restart_flow(&mut self, call_key: u64, dialled: String, now: Instant) {
        let flow = self.switch.engine().route(&dialled).cloned();
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.transferring = false;
        call.restart = Some(dialled);
        if let Some(flow) = flow {
            call.campaign = flow.name().to_string();
            call.hash = flow.hash.clone();
        }
        if self.switch.engine_call(call_key).is_none() {
            return;
        }
        self.deliver(call_key, dialect_engine::Event::HangUp, now)
            .await;
    }

    /// Puts a call (transferred, or a consultation) into `queue` again,
    /// as a `queue` block would (see `dialect_switch`).
    pub(super) async fn requeue(
        &mut self,
        call_key: u64,
        queue: String,
        priority: i32,
        now: Instant,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let (campaign, caller) = (call.campaign.clone(), call.number.clone());
        let at = self.clock.at(now);
        self.switch.requeue(
            call_key,
            &campaign,
            &caller,
            queue,
            priority,
            at,
            super::store_of(&self.store),
        );
        self.pump(now).await;
    }

    /// Queues a call for one agent: in the first queue they serve, reserved
    /// for them for `for_ms` (then anyone of that queue may take it).
    /// Returns whether the ACD took it.
    pub(super) async fn enqueue_for(
        &mut self,
        call_key: u64,
        agent: String,
        priority: i64,
        for_ms: u64,
        now: Instant,
    ) -> bool {
        let Some(queue) = self
            .switch
            .directory()
            .agents
            .get(&agent)
            .and_then(|(queues, _)| queues.first().cloned())
        else {
            return false;
        };
        let at = self.clock.at(now);
        if !self
            .switch
            .enqueue_reserved(call_key, &queue, priority, &agent, for_ms, at)
        {
            return false;
        }
        self.hooks.queued(call_key, &queue);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.queued = Some((queue, now));
        }
        self.pump(now).await;
        true
    }

    /// The caller hears music while a transfer finds its target.
    fn hold_music(&mut self, call_key: u64) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if call.agent.as_ref().is_some_and(|a| a.media.is_some()) {
            return;
        }
        let music = self
            .switch
            .directory()
            .campaigns
            .get(&call.campaign)
            .and_then(|c| c.music_on_hold.clone());
        if let Some(frames) = music.and_then(|p| self.prompts.get(&p, &self.media_root, call.law)) {
            super::to_leg(
                &call.media,
                MediaCommand::Play { frames },
                &self.media_stats,
            );
        }
    }

    /// A transfer that cannot go on: the flow continues after its bridge.
    pub(super) async fn transfer_failed(&mut self, call_key: u64, now: Instant) {
        self.record(call_key, "transfer_failed", serde_json::Map::new());
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.transferring = false;
        }
        self.deliver(call_key, dialect_engine::Event::BridgeEnded, now)
            .await;
    }

    /// The priority the flow gave the call.
    fn flow_priority(&self, call_key: u64) -> i32 {
        self.switch
            .engine_call(call_key)
            .and_then(|id| self.switch.engine().priority_of(id))
            .unwrap_or(0)
    }

    /// NOTIFY the agent that the transfer went through (RFC 3515), ending
    /// the implicit subscription.
    pub(super) fn notify_refer(&mut self, call_key: u64, now: Instant) {
        let Some(leg) = self.calls.get(&call_key).and_then(|c| c.agent.as_ref()) else {
            return;
        };
        let (to, dialog) = (leg.to, leg.dialog.clone());
        let Some(id) = dialog else {
            return;
        };
        let branch = self.ids.branch();
        let Some(notify) = self
            .dialogs
            .get_mut(&id)
            .and_then(|d| d.request(Method::Notify, &branch).ok())
        else {
            return;
        };
        let notify = notify
            .with_header("Event", "refer")
            .with_header("Subscription-State", "terminated;reason=noresource")
            .with_body(
                "message/sipfrag;version=2.0",
                b"SIP/2.0 200 OK\r\n".to_vec(),
            );
        let sent = self.tx.send_request(notify, to, Transport::Udp, now);
        self.sip_sent(sent);
    }

    /// The target of a `Refer-To` (`sip:<queue>@…`, `sip:<agent>@…`,
    /// `sip:<number>@…` / `tel:<number>`): its user part, as the switch
    /// reads it.
    pub(super) fn transfer_target(&self, refer_to: &str) -> Option<Target> {
        let uri = refer_to
            .trim()
            .trim_start_matches('<')
            .split(['>', ';', '?'])
            .next()?;
        let user = uri
            .split_once(':')
            .map(|(_, rest)| rest)?
            .split('@')
            .next()?;
        self.switch.transfer_target(user)
    }
}
