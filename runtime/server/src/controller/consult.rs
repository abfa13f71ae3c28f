//! Consultation, attended transfer and conference (SPEC 5.3).
//!
//! An agent on a call puts the caller on hold and calls us from the same
//! phone: an INVITE whose user part names a colleague, a queue or a number
//! (not a campaign's number) is a *consultation call*, bridged to its target
//! like a queued call (a colleague is offered it through the ACD, reserved
//! for them). Then either
//! - the phone sends REFER with `Replaces` (attended transfer): the
//!   consulted party takes the agent's place with the caller, and both of
//!   the agent's dialogs end; or
//! - the agent asks the API for a conference: the consulted party joins the
//!   call, whose legs are then mixed (at most 8 participants). A participant
//!   who leaves wraps up; when only the caller is left, the flow goes on;
//!   when the caller leaves, every agent wraps up.

use super::directory::short;
use super::phone::Target;
use super::{Core, MediaCommand, PlacedLeg, fields};
use crate::api::ApiReply;
use crate::mixer::{self, MAX_PARTICIPANTS, MixCommand};
use dialect_sip::message::Message;
use dialect_sip::transaction::TxKey;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::mpsc;

/// How long a consulted colleague is rung before the consultation fails.
const CONSULT_RING_MS: u64 = 30_000;

/// A call's conference: its mixer and the participants beyond the caller
/// and the call's agent leg.
pub(crate) struct Conference {
    /// The mixer task's commands.
    pub mixer: mpsc::Sender<MixCommand>,
    /// Joined participants: their mixer id and their leg.
    pub extra: Vec<(u32, PlacedLeg)>,
    /// The main agent leg's mixer id (it may leave).
    pub agent_id: Option<u32>,
    /// The next participant id.
    pub next_id: u32,
}

impl Core {
    /// The agent an INVITE claims to come from: its From user is an agent
    /// of the flows. The claim is proved by `authorise_agent`.
    pub(super) fn calling_agent(&self, request: &Message) -> Option<String> {
        let user = super::caller_user(request);
        let name = short(&user).to_string();
        self.switch
            .directory()
            .agents
            .contains_key(&name)
            .then_some(name)
    }

    /// A consultation call from an agent's phone: answered, then connected
    /// to the colleague, queue or number it names.
    pub(super) async fn consult(
        &mut self,
        key: TxKey,
        request: Message,
        from: SocketAddr,
        agent: String,
        target: String,
        now: Instant,
    ) {
        let Some(target) = self.transfer_target(&format!("sip:{target}@consult")) else {
            return self.respond(&key, &request, 404, "Not Found", now);
        };
        let original = self.desks.get(&agent).map(|d| d.call);
        let (campaign, hash) = original
            .and_then(|c| self.calls.get(&c))
            .map(|c| (c.campaign.clone(), c.hash.clone()))
            .unwrap_or_default();
        let Some(call_key) = self
            .accept_inbound(&key, &request, from, campaign, hash, now)
            .await
        else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.consult_of = original;
            call.number = agent.clone();
        }
        self.answer(call_key, now);
        self.record(
            call_key,
            "consult",
            fields([
                ("agent", agent.clone().into()),
                ("target", format!("{target:?}").into()),
                (
                    "for_call",
                    original
                        .map(|c| format!("call-{c}"))
                        .unwrap_or_default()
                        .into(),
                ),
            ]),
        );
        match target {
            Target::Queue(queue) => self.requeue(call_key, queue, 0, now).await,
            Target::Agent(colleague) => {
                let priority = i64::from(i16::MAX);
                if !self
                    .enqueue_for(call_key, colleague, priority, CONSULT_RING_MS, now)
                    .await
                {
                    self.hang_up(call_key, now);
                    return self
                        .release(call_key, "the consulted agent cannot be offered it")
                        .await;
                }
            }
            Target::Number(number) => {
                self.dial(call_key, number, CONSULT_RING_MS, None, now)
                    .await
            }
            Target::EntryPoint(_) => {
                // Campaign numbers are routed before consultations.
                self.hang_up(call_key, now);
                self.release(call_key, "not a consultation target").await;
            }
        }
    }

    /// The consultation call with this SIP Call-ID, made for `call`.
    fn consult_by_call_id(&self, call: u64, call_id: &str) -> Option<u64> {
        self.calls
            .iter()
            .find(|(_, c)| c.consult_of == Some(call) && c.invite.call_id() == Some(call_id))
            .map(|(k, _)| *k)
    }

    /// Takes the connected second leg out of a consultation call, for a
    /// transfer or a conference, and ends the consultation (BYE to the
    /// agent's phone on it).
    async fn take_consulted(&mut self, consult: u64, into: u64, now: Instant) -> Option<PlacedLeg> {
        let leg = self.calls.get_mut(&consult)?.agent.take()?;
        if leg.media.is_none() {
            // Not answered yet: put it back.
            if let Some(call) = self.calls.get_mut(&consult) {
                call.agent = Some(leg);
            }
            return None;
        }
        if let Some(call) = self.calls.get(&consult) {
            super::to_leg(&call.media, MediaCommand::Unbridge, &self.media_stats);
        }
        self.by_agent_tx.remove(&leg.tx);
        if let Some(id) = &leg.dialog {
            self.agent_dialogs.insert(id.clone(), into);
        }
        if !leg.trunk
            && let Some(desk) = self.desks.get_mut(&leg.name)
        {
            desk.call = into;
        }
        // The consulted agent talks on in `into`: busy, not wrapping up.
        if !leg.trunk {
            self.switch.hand_over(consult);
        }
        self.hang_up(consult, now);
        self.release(consult, "consultation ended by a transfer or conference")
            .await;
        Some(leg)
    }

    /// REFER with `Replaces`: the consulted party takes the referring
    /// agent's place with the caller.
    pub(super) async fn attended_transfer(
        &mut self,
        key: TxKey,
        request: Message,
        call_key: u64,
        replaces: &str,
        now: Instant,
    ) {
        let call_id = replaces.split(';').next().unwrap_or_default().to_string();
        let Some(consult) = self.consult_by_call_id(call_key, &call_id) else {
            return self.respond(&key, &request, 481, "Replaced Dialog Does Not Exist", now);
        };
        let answered = self
            .calls
            .get(&consult)
            .and_then(|c| c.agent.as_ref())
            .is_some_and(|l| l.media.is_some());
        if !answered {
            return self.respond(&key, &request, 409, "Consultation Not Answered", now);
        }
        self.respond(&key, &request, 202, "Accepted", now);
        self.notify_refer(call_key, now);
        let referrer = self.agent_name(call_key);
        // The referring agent leaves (and wraps up) ...
        self.drop_agent(call_key, now);
        // ... and the consulted party takes over.
        let Some(leg) = self.take_consulted(consult, call_key, now).await else {
            return self.transfer_failed(call_key, now).await;
        };
        let target = leg.name.clone();
        let Some(call) = self.calls.get_mut(&call_key) else {
            return self.end_leg(leg, now);
        };
        call.held = false;
        let (caller_media, caller_inbound) = (call.media.clone(), call.inbound.clone());
        if let (Some(media), Some(inbound)) = (&leg.media, &leg.inbound) {
            super::to_leg(
                &caller_media,
                MediaCommand::Bridge {
                    peer: inbound.clone(),
                },
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
        let tapped = leg.media.clone();
        call.agent = Some(leg);
        // A recorded call goes on being recorded with the new party.
        if let Some(media) = tapped {
            self.record_party(call_key, &media, &target);
        }
        self.webhook(
            call_key,
            "call_transferred",
            serde_json::json!({ "from_agent": referrer, "target": target, "kind": "attended" }),
        );
        self.record(
            call_key,
            "transferred",
            fields([
                ("agent", referrer.into()),
                ("target", target.into()),
                ("kind", "attended".into()),
            ]),
        );
    }

    /// The agent API's conference request: the party of the agent's
    /// consultation call joins the call.
    pub(super) async fn conference(
        &mut self,
        agent: &str,
        call_key: u64,
        consult: u64,
        now: Instant,
    ) -> ApiReply {
        let Some(call) = self.calls.get(&call_key) else {
            return ApiReply::error(404, format!("call {call_key} is not in progress"));
        };
        let on_call = call.agent.as_ref().is_some_and(|l| l.name == agent)
            || call
                .conference
                .as_ref()
                .is_some_and(|c| c.extra.iter().any(|(_, l)| l.name == agent));
        if !on_call {
            return ApiReply::error(403, format!("{agent} is not on call {call_key}"));
        }
        if self.calls.get(&consult).and_then(|c| c.consult_of) != Some(call_key) {
            return ApiReply::error(
                404,
                format!("call {consult} is not a consultation for call {call_key}"),
            );
        }
        let count = 2 + call.conference.as_ref().map_or(0, |c| c.extra.len());
        if count >= MAX_PARTICIPANTS {
            return ApiReply::error(
                409,
                format!("a conference has at most {MAX_PARTICIPANTS} participants"),
            );
        }
        if call.conference.is_none() && !self.start_conference(call_key) {
            return ApiReply::error(409, format!("call {call_key} has no agent to confer with"));
        }
        let Some(mut leg) = self.take_consulted(consult, call_key, now).await else {
            return ApiReply::error(409, format!("call {consult} is not answered yet"));
        };
        let Some(conference) = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.conference.as_mut())
        else {
            self.end_leg(leg, now);
            return ApiReply::error(404, format!("call {call_key} is not in progress"));
        };
        let id = conference.next_id;
        conference.next_id += 1;
        join(&conference.mixer, id, &mut leg, &self.media_stats);
        let name = leg.name.clone();
        let tapped = leg.media.clone();
        conference.extra.push((id, leg));
        let participants = 2 + conference.extra.len() - usize::from(conference.agent_id.is_none());
        if let Some(media) = tapped {
            self.record_party(call_key, &media, &name);
        }
        self.record(
            call_key,
            "conference",
            fields([
                ("agent", agent.into()),
                ("joined", name.into()),
                ("participants", participants.into()),
            ]),
        );
        ApiReply::ok(json!({ "call": call_key, "participants": participants }))
    }

    /// Turns a two-party call into a conference: a mixer, with the caller
    /// and the agent leg in it. Returns whether it could.
    fn start_conference(&mut self, call_key: u64) -> bool {
        let tick = self.tick.clone();
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        let Some(leg) = call.agent.as_mut() else {
            return false;
        };
        if leg.media.is_none() {
            return false;
        }
        let (mixer, commands) = mpsc::channel(16);
        tokio::spawn(mixer::run(tick, commands));
        let (mouth, from) = mixer::voice_channel();
        super::to_leg(
            &call.media,
            MediaCommand::Bridge { peer: mouth },
            &self.media_stats,
        );
        let _ = mixer.try_send(MixCommand::Join {
            id: 0,
            law: call.law,
            to: call.inbound.clone(),
            from,
        });
        join(&mixer, 1, leg, &self.media_stats);
        call.held = false;
        call.conference = Some(Conference {
            mixer,
            extra: Vec::new(),
            agent_id: Some(1),
            next_id: 2,
        });
        true
    }

    /// A BYE from a conference participant other than the caller. Returns
    /// whether the dialog was one of the conference's.
    pub(super) async fn conference_leave(
        &mut self,
        call_key: u64,
        dialog: &dialect_sip::dialog::DialogId,
        now: Instant,
    ) -> bool {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        let Some(conference) = call.conference.as_mut() else {
            return false;
        };
        let main = call.agent.as_ref().and_then(|l| l.dialog.as_ref()) == Some(dialog);
        let leg = if main {
            let _ = conference.mixer.try_send(MixCommand::Leave {
                id: conference.agent_id.unwrap_or(1),
            });
            conference.agent_id = None;
            call.agent.take()
        } else {
            let Some(at) = conference
                .extra
                .iter()
                .position(|(_, l)| l.dialog.as_ref() == Some(dialog))
            else {
                return false;
            };
            let (id, leg) = conference.extra.remove(at);
            let _ = conference.mixer.try_send(MixCommand::Leave { id });
            Some(leg)
        };
        let remaining = usize::from(call.agent.is_some()) + conference.extra.len();
        if let Some(mut leg) = leg {
            // Their BYE ended their dialog: nothing more to send them.
            if let Some(id) = leg.dialog.take() {
                self.agent_dialogs.remove(&id);
                self.dialogs.remove(&id);
            }
            let (name, acd_call) = (leg.name.clone(), leg.acd_call);
            let trunk = leg.trunk;
            self.record(
                call_key,
                "conference_left",
                fields([("who", name.clone().into())]),
            );
            self.end_leg(leg, now);
            if !trunk {
                self.switch.agent_ended(acd_call, self.clock.at(now));
                self.wrap_up_started(&name, acd_call, now);
            }
        }
        if remaining == 0 {
            // Only the caller is left: the conference is over and the flow
            // goes on, as when an agent hangs up a two-party call.
            if let Some(call) = self.calls.get_mut(&call_key) {
                call.conference = None;
                super::to_leg(&call.media, MediaCommand::Unbridge, &self.media_stats);
            }
            self.record(call_key, "conference_ended", serde_json::Map::new());
            self.deliver(call_key, dialect_engine::Event::BridgeEnded, now)
                .await;
        }
        self.pump(now).await;
        true
    }

    /// The caller left a conference: every participant is hung up and
    /// wraps up.
    pub(super) fn end_conference(&mut self, call_key: u64, now: Instant) {
        let Some(conference) = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.conference.take())
        else {
            return;
        };
        for (_, leg) in conference.extra {
            let (name, acd_call, trunk) = (leg.name.clone(), leg.acd_call, leg.trunk);
            self.end_leg(leg, now);
            if !trunk {
                self.switch.agent_ended(acd_call, self.clock.at(now));
                self.wrap_up_started(&name, acd_call, now);
            }
        }
    }
}

/// Puts a leg into the mixer: its voice to the mixer, the mix to its leg.
fn join(
    mixer: &mpsc::Sender<MixCommand>,
    id: u32,
    leg: &mut PlacedLeg,
    stats: &crate::leg::MediaStats,
) {
    let (Some(media), Some(inbound)) = (&leg.media, &leg.inbound) else {
        return;
    };
    let (mouth, from) = mixer::voice_channel();
    super::to_leg(media, MediaCommand::Bridge { peer: mouth }, stats);
    let _ = mixer.try_send(MixCommand::Join {
        id,
        law: leg.law,
        to: inbound.clone(),
        from,
    });
}

/// The `Replaces` of a `Refer-To` URI (RFC 3891), percent-decoded:
/// `call-id;to-tag=...;from-tag=...`.
pub(super) fn replaces(refer_to: &str) -> Option<String> {
    let query = refer_to.split_once('?')?.1;
    let query = query.split('>').next()?;
    let value = query.split('&').find_map(|p| {
        p.strip_prefix("Replaces=")
            .or_else(|| p.strip_prefix("replaces="))
    })?;
    Some(percent_decode(value))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replaces_is_read_from_the_refer_to_uri() {
        let refer_to = "<sip:bob@10.0.0.1?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>";
        assert_eq!(
            replaces(refer_to).unwrap(),
            "abc@host;to-tag=t1;from-tag=f1"
        );
        assert_eq!(replaces("<sip:bob@10.0.0.1>"), None);
    }
}
