//! Queueing: a `queue` block's call goes into the ACD with its priority and
//! its reserved agent; the ACD's decisions come out as actions; the agents'
//! side goes in. Every ACD input takes the time and is followed by the
//! ACD's decisions.

use crate::{Action, CallKey, Store, Switch, fields};
use dialect_acd::directory::{Extension, short};
use dialect_acd::{Preferred, Refused, Request, State};
use dialect_engine::Event;
use jiff::Timestamp;

/// How long an agent's extension is tried (rung, and rung again after
/// RONA) before the caller hears `invalid`'s path.
pub(crate) const AGENT_EXTENSION_MS: u64 = 60_000;

impl Switch {
    /// The `extension` block's transfer: the agent or queue with the typed
    /// extension takes the call through the ACD, as a transfer would (an
    /// agent in the first queue they serve, reserved for them; a queue
    /// with its music and announcements), for at most a minute (an agent)
    /// or the queue's `max_wait`. An unknown extension, an agent who is
    /// logged out or serves no queue, a full queue, and a wait that runs
    /// out answer [`Event::TransferFailed`].
    pub(crate) fn transfer(&mut self, key: CallKey, extension: &str, now: Timestamp) {
        let ms = self.acd_ms(now);
        let (queue, preferred, wait_ms, to) = match self.directory.extensions.get(extension) {
            None => {
                return self.transfer_failed(key, extension, "no agent or queue has it");
            }
            Some(Extension::Agent(agent)) => {
                let agent = agent.clone();
                let queue = self
                    .directory
                    .agents
                    .get(&agent)
                    .and_then(|(queues, _)| queues.first().cloned());
                let Some(queue) = queue else {
                    return self.transfer_failed(key, extension, "its agent serves no queue");
                };
                if matches!(self.acd.state(&agent), None | Some(State::LoggedOut)) {
                    return self.transfer_failed(key, extension, "its agent is not logged in");
                }
                let preferred = Preferred {
                    agent: agent.clone(),
                    until: ms.saturating_add(AGENT_EXTENSION_MS),
                };
                (queue, Some(preferred), AGENT_EXTENSION_MS, agent)
            }
            Some(Extension::Queue(queue, max_wait)) => {
                (queue.clone(), None, *max_wait, queue.clone())
            }
        };
        self.leave_acd(key, now);
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let flow = call
            .engine
            .and_then(|id| self.engine.priority_of(id))
            .unwrap_or(0);
        let total = self.priority_in(&call.campaign, flow, &queue);
        self.log(
            key,
            "extension",
            fields([
                ("extension", extension.into()),
                ("to", to.into()),
                ("queue", queue.clone().into()),
            ]),
        );
        let request = Request {
            queue: queue.clone(),
            priority: total,
            preferred,
            wrap_up: self.wrap_up_of(key),
            ageing: self.ageing_of(key),
        };
        match self.acd.enqueue(key, request, ms) {
            Ok(()) => {
                let until = now
                    .checked_add(jiff::SignedDuration::from_millis(
                        i64::try_from(wait_ms).unwrap_or(i64::MAX),
                    ))
                    .unwrap_or(now);
                if let Some(call) = self.calls.get_mut(&key) {
                    call.transfer_until = Some((until, extension.to_string()));
                }
                self.transfers.insert((until, key));
                self.waiting(key, queue, now);
            }
            Err(refused) => self.transfer_failed(key, extension, &refused.to_string()),
        }
        self.drive_acd();
    }

    fn transfer_failed(&mut self, key: CallKey, extension: &str, why: &str) {
        self.log(
            key,
            "extension_failed",
            fields([("extension", extension.into()), ("reason", why.into())]),
        );
        if let Some(call) = self.calls.get_mut(&key) {
            call.transfer_until = None;
        }
        self.actions.push_back(Action::Decided {
            call: key,
            event: Event::TransferFailed,
        });
        self.feedback.push_back((key, Event::TransferFailed));
    }

    /// Extension transfers whose wait ran out leave the ACD: `invalid`.
    pub(crate) fn transfers_due(&mut self, now: Timestamp) {
        while let Some(&(at, key)) = self.transfers.first() {
            if at > now {
                break;
            }
            self.transfers.pop_first();
            let extension = self
                .calls
                .get(&key)
                .and_then(|c| c.transfer_until.clone())
                .filter(|(until, _)| *until == at)
                .map(|(_, extension)| extension);
            if let Some(extension) = extension {
                self.leave_acd(key, now);
                self.transfer_failed(key, &extension, "nobody answered there in time");
            }
        }
    }

    /// A `queue` block: the call waits in the ACD with its priority (the
    /// flow's, plus the campaign's and the queue's), reserved first for the
    /// owner of the caller's private record, else the caller's last agent,
    /// when the campaign says so. A call already in the ACD leaves its old
    /// place first. A queue the ACD refuses (its maximum size, an unknown
    /// queue) answers [`Event::QueueFull`].
    pub(crate) fn enqueue(
        &mut self,
        key: CallKey,
        queue: String,
        priority: i32,
        now: Timestamp,
        store: &dyn Store,
    ) {
        self.leave_acd(key, now);
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let (campaign, caller) = (call.campaign.clone(), call.caller.clone());
        let total = self.priority_in(&campaign, priority, &queue);
        let preferred = self.preferred(key, &campaign, &caller, now, store);
        let ms = self.acd_ms(now);
        if let Some(p) = &preferred {
            self.log(
                key,
                "reserved",
                fields([
                    ("agent", p.agent.clone().into()),
                    ("for_ms", p.until.saturating_sub(ms).into()),
                ]),
            );
        }
        // A campaign that restricts its agents or bounds its wait waits in
        // its own lane of the queue.
        let lane = self.directory.lane(&campaign, &queue).to_string();
        let mut logged = fields([("queue", queue.clone().into()), ("priority", total.into())]);
        if lane != queue {
            logged.insert("lane".into(), lane.clone().into());
        }
        self.log(key, "queued", logged);
        let queue = lane;
        let request = Request {
            queue: queue.clone(),
            priority: total,
            preferred,
            wrap_up: self.wrap_up_of(key),
            ageing: self.ageing_of(key),
        };
        match self.acd.enqueue(key, request, ms) {
            Ok(()) => self.waiting(key, queue, now),
            Err(refused) => {
                self.log(
                    key,
                    "queue_full",
                    fields([("reason", refused.to_string().into())]),
                );
                self.actions.push_back(crate::Action::Decided {
                    call: key,
                    event: Event::QueueFull,
                });
                self.feedback.push_back((key, Event::QueueFull));
            }
        }
        self.drive_acd();
    }

    /// A call's priority in `queue`: the flow's, plus its campaign's (with
    /// the inbound channel's) and the queue's.
    fn priority_in(&self, campaign: &str, flow: i32, queue: &str) -> i64 {
        i64::from(flow)
            + self
                .directory
                .campaigns
                .get(campaign)
                .map_or(0, |c| c.priority)
            + self.directory.queues.get(queue).map_or(0, |q| q.priority)
    }

    /// Sticky agent and private record (SPEC 5.4): the owner of a private
    /// record first, else the last agent who spoke with this number, each
    /// for the campaign's window. A store that cannot answer is logged and
    /// the call is not reserved.
    fn preferred(
        &mut self,
        key: CallKey,
        campaign: &str,
        number: &str,
        now: Timestamp,
        store: &dyn Store,
    ) -> Option<Preferred> {
        let info = self.directory.campaigns.get(campaign)?;
        let (private, sticky) = (info.private_ms, info.sticky_ms);
        let ms = self.acd_ms(now);
        // The owner of a private record first, else the last agent; each
        // only if the ACD knows them.
        for (window, reading) in [(private, "record owner"), (sticky, "last agent")] {
            let Some(window) = window else {
                continue;
            };
            let found = if reading == "record owner" {
                store.owner(campaign, number)
            } else {
                store
                    .last_agent(campaign, number)
                    .map(|found| found.map(|(agent, _)| agent))
            };
            match found {
                Ok(Some(agent)) if self.acd.state(short(&agent)).is_some() => {
                    return Some(Preferred {
                        agent: short(&agent).to_string(),
                        until: ms.saturating_add(window),
                    });
                }
                Ok(_) => {}
                Err(error) => self.log(
                    key,
                    "store_failed",
                    fields([
                        ("reading", reading.into()),
                        ("error", error.to_string().into()),
                    ]),
                ),
            }
        }
        None
    }

    /// The call leaves the ACD (the flow's timeout, hang-up, a new
    /// `Enqueue`): an agent ringing for it is free again.
    pub(crate) fn leave_acd(&mut self, key: CallKey, now: Timestamp) {
        self.left_queue(key, now, crate::monitor::Left::SentOn);
        if let Some(call) = self.calls.get_mut(&key) {
            call.queue = None;
            call.waiting_since = None;
        }
        let ms = self.acd_ms(now);
        if self.acd.remove(key, ms) {
            self.drive_acd();
        }
    }

    /// The ACD's decisions, as actions.
    pub(crate) fn drive_acd(&mut self) {
        while let Some(action) = self.acd.poll_action() {
            match action {
                dialect_acd::Action::Offer { call, agent } => {
                    self.actions.push_back(Action::Ring { call, agent });
                }
                dialect_acd::Action::Withdraw { call, agent } => {
                    self.log(call, "rona", fields([("agent", agent.clone().into())]));
                    self.actions.push_back(Action::StopRinging { call, agent });
                }
                dialect_acd::Action::Overflowed { call, from, to } => {
                    self.log(
                        call,
                        "overflowed",
                        fields([("from", from.into()), ("to", to.clone().into())]),
                    );
                    self.waiting(call, to, self.now);
                }
                dialect_acd::Action::TimedOut { call, queue } => {
                    self.log(
                        call,
                        "queue_timeout",
                        fields([("queue", queue.clone().into())]),
                    );
                    self.left_queue(call, self.now, crate::monitor::Left::SentOn);
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.queue = None;
                        c.waiting_since = None;
                    }
                    self.actions
                        .push_back(Action::QueueTimedOut { call, queue });
                }
            }
        }
    }

    /// An ACD entry without a flow (a callback being placed), ordered as if
    /// it had arrived at `since`.
    pub fn enqueue_entry(
        &mut self,
        call: CallKey,
        request: Request,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<(), Refused> {
        let ms = self.acd_ms(now);
        let result = self
            .acd
            .enqueue_since(call, request, self.acd_ms(since), ms);
        self.drive_acd();
        result
    }

    /// Adds an agent (or changes the queues they serve).
    pub fn add_agent(&mut self, name: &str, queues: &[&str], max_load: u32) {
        self.acd.add_agent(name, queues, max_load);
        self.drive_acd();
    }

    /// The agent logs in.
    pub fn login(&mut self, name: &str, now: Timestamp) -> bool {
        self.break_ended(name);
        let done = self.acd.login(name, self.acd_ms(now));
        self.drive_acd();
        done
    }

    /// The agent logs out.
    pub fn logout(&mut self, name: &str, now: Timestamp) -> bool {
        self.break_ended(name);
        let done = self.acd.logout(name, self.acd_ms(now));
        self.drive_acd();
        done
    }

    /// The agent is ready for calls (not while a campaign's
    /// `max_unhandled_per_agent` blocks them: see [`Switch::blocked`]).
    pub fn set_ready(&mut self, name: &str, now: Timestamp) -> bool {
        if self.blocked.contains_key(name) {
            return false;
        }
        let done = self.acd.set_ready(name, self.acd_ms(now));
        if done {
            self.break_ended(name);
        }
        self.drive_acd();
        done
    }

    /// The agent takes a break (`reason`).
    pub fn set_not_ready(&mut self, name: &str, reason: &str, now: Timestamp) -> bool {
        let done = self.acd.set_not_ready(name, reason, self.acd_ms(now));
        if done && !self.monitor_on_break(name) {
            self.break_started(name, now);
        }
        self.drive_acd();
        done
    }

    /// The wrap-up and extra wrap-up after `call`: its campaign's, as
    /// the version installed now has them (`None` for an entry without a
    /// campaign: the ACD's default rules).
    fn wrap_up_of(&self, call: CallKey) -> Option<(dialect_acd::Millis, dialect_acd::Millis)> {
        let campaign = &self.calls.get(&call)?.campaign;
        let rules = &self.directory.campaigns.get(campaign)?.rules;
        Some((rules.wrap_up_ms, rules.extra_wrap_up_ms))
    }

    /// The ageing levels of `call`'s campaign (its inbound channel's `age`),
    /// as the version installed now has them; `None` without any.
    fn ageing_of(&self, call: CallKey) -> Option<Vec<(dialect_acd::Millis, i64)>> {
        let campaign = &self.calls.get(&call)?.campaign;
        let ageing = &self.directory.campaigns.get(campaign)?.rules.ageing;
        (!ageing.is_empty()).then(|| ageing.clone())
    }

    /// The agent asks for their extra wrap-up time (the campaign's
    /// `extra_wrap_up`, once per wrap-up).
    pub fn extra_wrap_up(&mut self, name: &str, now: Timestamp) -> bool {
        let done = self.acd.extra_wrap_up(name, self.acd_ms(now));
        self.drive_acd();
        done
    }

    /// The agent ends their wrap-up.
    pub fn end_wrap_up(&mut self, name: &str, now: Timestamp) -> bool {
        let done = self.acd.end_wrap_up(name, self.acd_ms(now));
        self.drive_acd();
        done
    }

    /// The agent rung for `call` answered: the offer becomes a conversation.
    pub fn agent_answered(&mut self, call: CallKey, now: Timestamp) -> bool {
        self.now = self.now.max(now);
        let done = self.acd.answered(call, self.acd_ms(now));
        if done {
            self.left_queue(call, now, crate::monitor::Left::Answered);
        }
        if done && let Some(c) = self.calls.get_mut(&call) {
            c.talking_since = Some(now);
            c.waiting_since = None;
            c.transfer_until = None;
            c.connected = true;
        }
        self.drive_acd();
        done
    }

    /// The agent's phone refused or failed: RONA now.
    pub fn agent_declined(&mut self, call: CallKey, now: Timestamp) -> bool {
        let done = self.acd.declined(call, self.acd_ms(now));
        self.drive_acd();
        done
    }

    /// The agent's conversation about `call` is over: wrap-up starts (a
    /// call still waiting or ringing leaves the ACD).
    pub fn agent_ended(&mut self, call: CallKey, now: Timestamp) -> bool {
        self.now = self.now.max(now);
        self.count_handle_time(call, now);
        let agent = match self.acd.place(call) {
            Some(dialect_acd::Place::Busy { agent }) => Some(agent.to_string()),
            _ => None,
        };
        let done = self.acd.ended(call, self.acd_ms(now));
        let campaign = self.calls.get(&call).map(|c| c.campaign.clone());
        if done && let (Some(agent), Some(campaign)) = (agent, campaign) {
            self.owe_wrap_up(&agent, call, campaign, now);
        }
        self.drive_acd();
        self.monitor_now(now);
        done
    }

    /// The entry leaves the ACD (waiting or ringing; see
    /// [`Switch::agent_ended`] for a conversation).
    pub fn remove(&mut self, call: CallKey, now: Timestamp) -> bool {
        if let Some(c) = self.calls.get_mut(&call) {
            c.queue = None;
        }
        let done = self.acd.remove(call, self.acd_ms(now));
        self.drive_acd();
        done
    }

    /// The queue the call waits in (or was offered from), as the switch
    /// knows it.
    pub fn queue_of(&self, call: CallKey) -> Option<&str> {
        self.calls.get(&call)?.queue.as_deref()
    }
}

impl Switch {
    /// Puts a call into `queue` outside its flow (an agent transferred it,
    /// or it is an agent's consultation call, which has no flow): as a
    /// `queue` block would, with `priority` on top of the campaign's and
    /// the queue's. A call the switch does not know yet is opened with its
    /// `campaign` and `caller`.
    #[allow(clippy::too_many_arguments)]
    pub fn requeue(
        &mut self,
        key: CallKey,
        campaign: &str,
        caller: &str,
        queue: String,
        priority: i32,
        now: Timestamp,
        store: &dyn Store,
    ) {
        if !self.calls.contains_key(&key) {
            self.open(key, campaign.to_string(), caller);
        }
        self.enqueue(key, queue, priority, now, store);
        self.drain(now, store);
    }

    /// Queues a call for one agent: in `queue`, reserved for `agent` for
    /// `for_ms` (then anyone of that queue may take it), with `priority`
    /// as given. Returns whether the ACD took it.
    pub fn enqueue_reserved(
        &mut self,
        key: CallKey,
        queue: &str,
        priority: i64,
        agent: &str,
        for_ms: u64,
        now: Timestamp,
    ) -> bool {
        self.leave_acd(key, now);
        let ms = self.acd_ms(now);
        let request = Request {
            queue: queue.to_string(),
            priority,
            preferred: Some(Preferred {
                agent: agent.to_string(),
                until: ms.saturating_add(for_ms),
            }),
            wrap_up: self.wrap_up_of(key),
            ageing: self.ageing_of(key),
        };
        let taken = self.acd.enqueue(key, request, ms).is_ok();
        if taken && let Some(call) = self.calls.get_mut(&key) {
            call.queue = Some(queue.to_string());
        }
        self.drive_acd();
        taken
    }
}
