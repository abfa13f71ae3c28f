//! The ACD over SIP: queued calls go into the I/O-free [`Acd`]; its offers
//! ring agents (INVITE), its withdrawals are RONA (CANCEL), its overflows and
//! timeouts are logged. Agent answers, refusals and hang-ups go back in.
//!
//! ACD call ids are the server's call keys: a caller's call, or a callback
//! being placed (see `callbacks.rs`).

use super::directory::short;
use super::{Core, fields};
use dialect_acd::{Action, Millis, Preferred, Refused, Request};
use dialect_engine::Event;
use std::time::{Duration, Instant};

impl Core {
    /// The ACD's clock: milliseconds since the server started.
    pub(super) fn acd_ms(&self, now: Instant) -> Millis {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// When the ACD next needs [`Core::on_acd_timeout`].
    pub(super) fn acd_deadline(&self) -> Option<Instant> {
        self.acd
            .poll_timeout()
            .map(|ms| self.origin + Duration::from_millis(ms))
    }

    /// Time passed for the ACD: RONA, wrap-ups ended, overflows.
    pub(super) async fn on_acd_timeout(&mut self, now: Instant) {
        let ms = self.acd_ms(now);
        if self.acd.poll_timeout().is_some_and(|at| at <= ms) {
            self.acd.handle_timeout(ms);
            self.drive_acd(now).await;
        }
    }

    /// A `queue` block: the call waits in the ACD with its priority (the
    /// flow's, plus campaign, channel and queue priority), reserved first
    /// for the record's owning agent or the caller's last agent.
    pub(super) async fn enqueue(
        &mut self,
        call_key: u64,
        queue: String,
        priority: i32,
        now: Instant,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let campaign = self.directory.campaigns.get(&call.campaign);
        let total = i64::from(priority)
            + campaign.map_or(0, |c| c.priority)
            + self.directory.queues.get(&queue).map_or(0, |q| q.priority);
        let preferred = self.preferred(&call.campaign.clone(), &call.number.clone(), now);
        if let Some(p) = &preferred {
            self.record(
                call_key,
                "reserved",
                fields([
                    ("agent", p.agent.clone().into()),
                    ("for_ms", p.until.saturating_sub(self.acd_ms(now)).into()),
                ]),
            );
        }
        self.record(
            call_key,
            "queued",
            fields([("queue", queue.clone().into()), ("priority", total.into())]),
        );
        let ms = self.acd_ms(now);
        let request = Request {
            queue: queue.clone(),
            priority: total,
            preferred,
        };
        match self.acd.enqueue(call_key, request, ms) {
            Ok(()) => {
                self.hooks.queued(call_key, &queue);
                let playing = match self.calls.get_mut(&call_key) {
                    Some(call) => {
                        call.queued = Some((queue, now));
                        call.playing
                    }
                    None => true,
                };
                if !playing {
                    self.start_music(call_key);
                }
                self.schedule_announcement(call_key, now);
            }
            Err(refused) => {
                let why = match refused {
                    Refused::Full => "full",
                    Refused::UnknownQueue => "unknown queue",
                    Refused::AlreadyQueued => "already queued",
                };
                self.record(call_key, "queue_full", fields([("reason", why.into())]));
                self.pending.push_back((call_key, Event::QueueFull));
            }
        }
        self.drive_acd(now).await;
    }

    /// Sticky agent and private record (SPEC 5.4): the owner of a private
    /// record first, else the last agent who spoke with this number, each
    /// for the campaign's configured time.
    fn preferred(&self, campaign: &str, number: &str, now: Instant) -> Option<Preferred> {
        let info = self.directory.campaigns.get(campaign)?;
        let store = self.store.as_ref()?;
        let ms = self.acd_ms(now);
        if let Some(window) = info.private_ms
            && let Ok(Some(owner)) = store.owner(campaign, number)
            && self.directory.agents.contains_key(&owner)
        {
            return Some(Preferred {
                agent: owner,
                until: ms + window,
            });
        }
        if let Some(window) = info.sticky_ms
            && let Ok(Some((agent, _))) = store.last_agent(campaign, number)
            && self.directory.agents.contains_key(&agent)
        {
            return Some(Preferred {
                agent,
                until: ms + window,
            });
        }
        None
    }

    /// Carries out what the ACD decided.
    pub(super) async fn drive_acd(&mut self, now: Instant) {
        while let Some(action) = self.acd.poll_action() {
            match action {
                Action::Offer { call, agent } => self.offer(call, agent, now).await,
                Action::Withdraw { call, agent } => {
                    self.record(call, "rona", fields([("agent", agent.clone().into())]));
                    if self.callback_calls.contains_key(&call) {
                        self.end_callback_leg(call, super::callbacks::Side::Agent, now);
                    } else {
                        self.end_agent_leg(call, now);
                    }
                }
                Action::Overflowed { call, from, to } => {
                    self.record(
                        call,
                        "overflowed",
                        fields([("from", from.into()), ("to", to.clone().into())]),
                    );
                    if let Some(c) = self.calls.get_mut(&call)
                        && let Some((queue, _)) = c.queued.as_mut()
                    {
                        self.hooks.queued(call, &to);
                        *queue = to;
                    }
                }
                Action::TimedOut { call, queue } => {
                    // The flow's own timer takes its timeout exit; a
                    // callback goes back to the store for a later attempt.
                    self.record(call, "queue_timeout", fields([("queue", queue.into())]));
                    if self.callback_calls.contains_key(&call) {
                        self.callback_failed(call, "no agent within the queue's max wait", now);
                    }
                }
            }
        }
    }

    /// Rings an agent for a call the ACD offered them.
    async fn offer(&mut self, call: u64, agent: String, now: Instant) {
        let ms = self.acd_ms(now);
        let Some((to, uri)) = self.agents.get(&agent).cloned() else {
            self.log_agent(
                &agent,
                "agent_unreachable",
                fields([("call", format!("call-{call}").into())]),
            );
            self.acd.declined(call, ms);
            return;
        };
        let rung = if self.callback_calls.contains_key(&call) {
            self.ring_for_callback(call, agent.clone(), to, uri, now)
                .await
        } else {
            self.offer_leg(call, agent.clone(), to, uri, false, now)
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
            self.acd.declined(call, ms);
        }
    }

    /// Writes an event about an agent (not tied to one call) to the log.
    pub(super) fn log_agent(
        &self,
        agent: &str,
        event: &str,
        mut extra: serde_json::Map<String, serde_json::Value>,
    ) {
        extra.insert("agent".into(), short(agent).into());
        self.log.record(self.clock.now(), "", event, extra);
    }
}
