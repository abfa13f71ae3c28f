//! The ACD over SIP. The switch decides who gets which queued call (see
//! `dialect_switch`); here its decisions become SIP: an offer rings the
//! agent (INVITE), RONA cancels it, a waiting call hears music and
//! announcements. Agent answers, refusals and hang-ups go back in.
//!
//! ACD call ids are the server's call keys: a caller's call, or a callback
//! being placed (see `callbacks.rs`).

use super::directory::short;
use super::{Core, fields};
use crate::api::ApiReply;
use dialect_acd::Millis;
use std::time::Instant;

impl Core {
    /// The ACD's clock at `now`.
    pub(super) fn acd_ms(&self, now: Instant) -> Millis {
        self.switch.acd_ms(self.clock.at(now))
    }

    /// When the switch next needs [`Core::on_switch_timeout`]: engine
    /// timers, RONA, wrap-ups ending, overflows.
    pub(super) fn switch_deadline(&self) -> Option<Instant> {
        self.switch.poll_timeout().map(|at| self.clock.instant(at))
    }

    /// Time passed for the switch.
    pub(super) async fn on_switch_timeout(&mut self, now: Instant) {
        let at = self.clock.at(now);
        if self.switch.poll_timeout().is_some_and(|due| due <= at) {
            self.switch.handle_timeout(at, super::store_of(&self.store));
            self.pump(now).await;
        }
    }

    /// The call waits in `queue` now: it entered it or overflowed into it
    /// (what it hears is the switch's to say: [`Action::Music`],
    /// [`Action::Announcement`]).
    ///
    /// [`Action::Music`]: dialect_switch::Action::Music
    /// [`Action::Announcement`]: dialect_switch::Action::Announcement
    pub(super) fn waiting(&mut self, call_key: u64, queue: String, now: Instant) {
        if !self.calls.contains_key(&call_key) {
            return;
        }
        // Webhooks name the queue, not the campaign's lane of it.
        self.hooks.queued(
            call_key,
            dialect_acd::directory::Directory::base_queue(&queue),
        );
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        match call.queued.as_mut() {
            Some((waits_in, _)) => *waits_in = queue,
            None => call.queued = Some((queue, now)),
        }
    }

    /// The campaign's `handling` of a call (`phone` for callbacks and
    /// calls without a campaign).
    fn handling_of(&self, call: u64) -> String {
        if self.callback_calls.contains_key(&call) {
            return "phone".into();
        }
        self.calls
            .get(&call)
            .and_then(|c| self.switch.directory().campaigns.get(&c.campaign))
            .map_or_else(|| "phone".into(), |c| c.handling.clone())
    }

    /// The ACD offers `call` to `agent`: their phone rings (`handling
    /// phone`), answers by itself (`automatic`), or the offer waits in the
    /// agent API for them to accept or decline (`web_panel`), for the
    /// queue's ring time like a ringing phone.
    pub(super) async fn offer(&mut self, call: u64, agent: String, now: Instant) {
        let handling = self.handling_of(call);
        if handling == "web_panel" {
            self.panel_offers.insert(agent.clone(), call);
            self.webhook(call, "call_routed", serde_json::json!({ "agent": agent }));
            self.record(call, "offered_in_panel", fields([("agent", agent.into())]));
            return;
        }
        self.ring_agent(call, agent, handling == "automatic", now)
            .await;
    }

    /// An agent accepted a call offered in the panel, or declined it.
    pub(super) async fn panel_answer(
        &mut self,
        agent: &str,
        accept: bool,
        now: Instant,
    ) -> ApiReply {
        let Some(call) = self.panel_offers.get(agent).copied() else {
            return ApiReply::error(409, format!("no call is offered to {agent}"));
        };
        let ringing = matches!(
            self.switch.acd().place(call),
            Some(dialect_acd::Place::Ringing { agent: a, .. }) if a == agent
        );
        self.panel_offers.remove(agent);
        if !ringing {
            return ApiReply::error(409, format!("the call offered to {agent} is gone"));
        }
        if accept {
            self.record(call, "accepted", fields([("agent", agent.into())]));
            self.ring_agent(call, agent.to_string(), true, now).await;
        } else {
            self.record(call, "declined", fields([("agent", agent.into())]));
            self.switch.agent_declined(call, self.clock.at(now));
            self.pump(now).await;
        }
        ApiReply::ok(serde_json::json!({ "call": call, "accepted": accept }))
    }

    /// Calls the agent's phone for `call` (asking it to answer by itself
    /// when `auto_answer`).
    async fn ring_agent(&mut self, call: u64, agent: String, auto_answer: bool, now: Instant) {
        // Where the agent registered or the configuration puts them, else
        // the flows' `uri` (an address literal; a name cannot be resolved
        // here).
        let target = self.agents.get(&agent).cloned().or_else(|| {
            let uri = self.switch.directory().agent_uris.get(&agent)?.clone();
            Some((super::uri_address(&uri)?, uri))
        });
        let Some((to, uri)) = target else {
            self.log_agent(
                &agent,
                "agent_unreachable",
                fields([("call", format!("call-{call}").into())]),
            );
            self.switch.agent_declined(call, self.clock.at(now));
            return;
        };
        let rung = if self.callback_calls.contains_key(&call) {
            self.ring_for_callback(call, agent.clone(), to, uri, now)
                .await
        } else {
            let identity = self.caller_identity(call, to);
            self.offer_leg(
                call,
                agent.clone(),
                to,
                uri,
                false,
                identity.as_ref(),
                auto_answer,
                now,
            )
            .await
        };
        if rung {
            self.webhook(call, "call_routed", serde_json::json!({ "agent": agent }));
            self.record(call, "agent_rung", fields([("agent", agent.into())]));
        } else {
            self.log_agent(
                &agent,
                "agent_unreachable",
                fields([("call", format!("call-{call}").into())]),
            );
            self.switch.agent_declined(call, self.clock.at(now));
        }
    }

    /// Who the agent's phone is told is calling: the caller's number, with
    /// the campaign's name or the queue's as the display name (`[sip]
    /// agent_display`), asserted (`P-Asserted-Identity`) unless the agent
    /// is rung through the trunk.
    fn caller_identity(&self, call: u64, to: std::net::SocketAddr) -> Option<super::Identity> {
        let c = self.calls.get(&call)?;
        if c.number.is_empty() {
            return None;
        }
        let display = match self.config.sip.agent_display.as_str() {
            "queue" => c
                .queued
                .as_ref()
                .map(|(q, _)| dialect_acd::directory::Directory::base_queue(q).to_string()),
            "none" => None,
            _ => self
                .versions
                .current
                .flows
                .iter()
                .find(|f| f.program.name == c.campaign)
                .and_then(|f| match f.program.settings.get("name") {
                    Some(dialect_bytecode::Value::Text(name)) => Some(name.clone()),
                    _ => None,
                })
                .or_else(|| (!c.campaign.is_empty()).then(|| c.campaign.clone())),
        };
        let trunk = self
            .config
            .trunk
            .as_ref()
            .and_then(|t| super::uri_address(&t.uri));
        // Only the number's characters go in the URI's user part.
        let user: String = c
            .number
            .chars()
            .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '+')
            .collect();
        Some(super::Identity {
            user,
            display,
            asserted: trunk != Some(to),
        })
    }

    /// Writes an event about an agent (not tied to one call) to the log.
    pub(super) fn log_agent(
        &self,
        agent: &str,
        event: &str,
        mut extra: serde_json::Map<String, serde_json::Value>,
    ) {
        extra.insert("agent".into(), short(agent).into());
        self.log.record(self.wall(), "", event, extra);
    }
}
