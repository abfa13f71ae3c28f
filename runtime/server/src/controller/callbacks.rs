//! Placing callbacks (SPEC 5.5). Callbacks live in the embedded store, so a
//! restart loses none; when one is due it is claimed (once) and waits in the
//! ACD like a call, in its queue (a personal callback reserved for its
//! agent). When the ACD offers it, the agent is rung first; once the agent
//! answers, the customer is called through the trunk, and the two are
//! bridged. A failed attempt goes back to the store for a later retry.

use super::{Core, MediaCommand, PlacedLeg, fields};
use dialect_acd::{Preferred, Request};
use dialect_sip::message::Message;
use dialect_store::{Callback, CallbackRequest, Context, Kind, QueueAccess, validate};
use jiff::{SignedDuration, Timestamp};
use std::time::{Duration, Instant};

/// Callbacks claimed from the store at once.
const CLAIM: usize = 64;

/// How long after a failed attempt a callback is tried again.
const RETRY_AFTER: SignedDuration = SignedDuration::from_mins(10);

/// How long the customer's phone rings.
const CUSTOMER_RING: Duration = Duration::from_secs(30);

/// How long a personal callback waits for its agent only.
const PERSONAL_MS: u64 = 24 * 3_600_000;

/// Which leg of a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The agent, rung first.
    Agent,
    /// The customer, called once the agent answered.
    Customer,
}

/// A callback being placed.
pub(crate) struct CallbackCall {
    /// What the store holds.
    pub callback: Callback,
    /// The agent's leg.
    pub agent: Option<PlacedLeg>,
    /// The customer's leg.
    pub customer: Option<PlacedLeg>,
    /// The agent, once they answered.
    pub answered_by: Option<String>,
    /// Agent and customer are talking.
    pub connected: bool,
}

impl Core {
    /// A wall-clock time as an instant of the server's monotonic clock.
    fn instant_of(&self, at: Timestamp, now: Instant) -> Instant {
        let ahead = at.duration_since(self.clock.at(now));
        match Duration::try_from(ahead) {
            Ok(ahead) => now + ahead,
            Err(_) => now,
        }
    }

    /// When the next stored callback is due.
    pub(super) fn callback_deadline(&self) -> Option<Instant> {
        self.callback_due
    }

    /// Reads when the next callback is due, after any change to the store.
    pub(super) fn refresh_callback_due(&mut self, now: Instant) {
        let next = self
            .store
            .as_ref()
            .and_then(|s| s.next_due().ok().flatten());
        self.callback_due = next.map(|at| self.instant_of(at, now));
    }

    /// Due callbacks are claimed and queued.
    pub(super) async fn on_callback_timeout(&mut self, now: Instant) {
        if self.callback_due.is_none_or(|at| at > now) {
            return;
        }
        let claimed = match &self.store {
            Some(store) => store.claim_due(self.clock.at(now), CLAIM),
            None => return,
        };
        match claimed {
            Ok(callbacks) => {
                for callback in callbacks {
                    self.place_callback(callback, now);
                }
            }
            Err(error) => {
                self.log.record(
                    self.clock.at(now),
                    "",
                    "callback_store_failed",
                    fields([("error", error.to_string().into())]),
                );
            }
        }
        self.refresh_callback_due(now);
        self.pump(now).await;
    }

    /// Why a due callback must not be placed: its number is blacklisted,
    /// or a recall is past its last moment.
    fn not_to_place(&self, callback: &Callback, now: Instant) -> Option<String> {
        let store = self.store.as_ref()?;
        match store.blacklisted(&callback.number) {
            Ok(true) => return Some("not placed: the number is on the blacklist".into()),
            Ok(false) => {}
            Err(error) => {
                return Some(format!("not placed: the blacklist cannot be read: {error}"));
            }
        }
        match callback.end {
            Some(end) if callback.kind == Kind::Recall && self.clock.at(now) >= end => {
                Some(format!("not placed: its last moment, {end}, has passed"))
            }
            _ => None,
        }
    }

    /// When a failed attempt of `callback` is tried again: after
    /// `RETRY_AFTER`, and for a recall, inside its campaign's recall
    /// windows.
    fn retry_time(&self, callback: &Callback, at: Timestamp) -> Timestamp {
        let retry = at.saturating_add(RETRY_AFTER).unwrap_or(at);
        let info = callback
            .campaign
            .as_ref()
            .and_then(|c| self.switch.directory().campaigns.get(c));
        match info {
            Some(info) if callback.kind == Kind::Recall => {
                dialect_switch::wrapup::next_window(info, retry).unwrap_or(retry)
            }
            _ => retry,
        }
    }

    /// A due callback waits in its queue for an agent.
    fn place_callback(&mut self, callback: Callback, now: Instant) {
        if let Some(why) = self.not_to_place(&callback, now) {
            if let Some(store) = &self.store {
                let result = store.finish(callback.id, &why);
                self.stored(
                    &format!("callback-{}", callback.id),
                    "finish a callback",
                    result,
                );
            }
            self.log.record(
                self.clock.at(now),
                &format!("callback-{}", callback.id),
                "callback_dropped",
                fields([
                    ("callback", callback.id.into()),
                    ("kind", callback.kind.as_str().into()),
                    ("reason", why.into()),
                ]),
            );
            return;
        }
        let key = self.next_key;
        self.next_key += 1;
        let ms = self.acd_ms(now);
        let Some(queue) = self.switch.directory().queue_named(&callback.queue) else {
            if let Some(store) = &self.store {
                let result =
                    store.finish(callback.id, "failed: its queue is no longer in the flows");
                self.stored(
                    &format!("callback-{}", callback.id),
                    "finish a callback",
                    result,
                );
            }
            return;
        };
        let priority = self
            .switch
            .directory()
            .queues
            .get(&queue)
            .map_or(0, |q| q.priority);
        let preferred = callback.assignee.clone().map(|agent| Preferred {
            agent,
            until: ms + PERSONAL_MS,
        });
        // A courtesy callback keeps the caller's place: it waits as if it
        // had joined the queue when the caller did.
        let since = if callback.kind == Kind::Courtesy {
            let waited = self.clock.at(now).duration_since(callback.start);
            let waited = u64::try_from(waited.as_millis()).unwrap_or(0);
            ms.saturating_sub(waited)
        } else {
            ms
        };
        // A recall is the campaign's outbound call: it wraps up by the
        // campaign's rules, and waits, ages and is served by its outbound
        // channel's (priority, lane); other callbacks by the queue's and
        // the ACD's.
        let campaign = callback
            .campaign
            .as_ref()
            .and_then(|c| Some((c, self.switch.directory().campaigns.get(c)?)));
        let wrap_up = campaign.map(|(_, c)| (c.rules.wrap_up_ms, c.rules.extra_wrap_up_ms));
        let ageing = campaign
            .map(|(_, c)| c.outbound.ageing.clone())
            .filter(|a| !a.is_empty());
        let priority = priority + campaign.map_or(0, |(_, c)| c.outbound.priority);
        let lane = campaign.map_or_else(
            || queue.clone(),
            |(name, _)| self.switch.directory().outbound_lane(name, &queue),
        );
        let request = Request {
            queue: lane.clone(),
            priority,
            preferred,
            wrap_up,
            ageing,
        };
        let mut logged = fields([
            ("callback", callback.id.into()),
            ("kind", callback.kind.as_str().into()),
            ("queue", queue.clone().into()),
            ("priority", priority.into()),
            ("acd_call", key.into()),
        ]);
        if lane != queue {
            logged.insert("lane".into(), lane.into());
        }
        self.log.record(
            self.clock.at(now),
            &format!("callback-{}", callback.id),
            "callback_due",
            logged,
        );
        let id = callback.id;
        self.callback_calls.insert(
            key,
            CallbackCall {
                callback,
                agent: None,
                customer: None,
                answered_by: None,
                connected: false,
            },
        );
        let (since, at) = (self.switch.time_of(since), self.clock.at(now));
        if self.switch.enqueue_entry(key, request, since, at).is_err() {
            self.callback_calls.remove(&key);
            if let Some(store) = &self.store {
                let result = store.retry(
                    id,
                    self.clock
                        .at(now)
                        .saturating_add(RETRY_AFTER)
                        .unwrap_or(self.clock.at(now)),
                );
                self.stored(&format!("callback-{id}"), "retry a callback", result);
            }
        }
    }

    /// The `callback` block, or a courtesy callback requested while
    /// waiting: stored, and placed when due.
    pub(super) fn courtesy_callback(
        &mut self,
        call_key: u64,
        number: String,
        queue: Option<String>,
        delay_ms: u64,
        reason: Option<String>,
        now: Instant,
    ) {
        let queued = self.calls.get(&call_key).and_then(|c| c.queued.clone());
        let queue = queue.or_else(|| queued.as_ref().map(|(q, _)| q.clone()));
        let Some(queue) = queue else {
            self.record(
                call_key,
                "callback_refused",
                fields([("error", "the callback block names no queue".into())]),
            );
            return;
        };
        // The caller's place: when they joined this queue; a delayed
        // callback starts after its delay.
        let at = self.clock.at(now);
        let start = match (&queued, delay_ms) {
            (Some((q, since)), 0) if *q == queue => self.clock.at(*since),
            _ => at
                .saturating_add(SignedDuration::from_millis(
                    i64::try_from(delay_ms).unwrap_or(i64::MAX),
                ))
                .unwrap_or(at),
        };
        let request = CallbackRequest {
            kind: Kind::Courtesy,
            number: number.clone(),
            name: String::new(),
            start: if start > at {
                String::new()
            } else {
                start.to_string()
            },
            end: None,
            zone: "UTC".into(),
            queue: queue.clone(),
            reason,
            assignee: None,
        };
        let known: Vec<String> = self.switch.directory().queues.keys().cloned().collect();
        let context = Context::new("ivr", move |q: &str| {
            if known.iter().any(|k| k == q) {
                QueueAccess::Allowed
            } else {
                QueueAccess::Unknown
            }
        });
        let created = match validate(&request, at, &context) {
            Ok(valid) => match &self.store {
                // A block's delay: validated as a request for now, due later.
                Some(store) if start > at => store
                    .create(&valid.delayed_until(start), "ivr", at)
                    .map_err(|e| e.to_string()),
                Some(store) => store.create(&valid, "ivr", at).map_err(|e| e.to_string()),
                None => Err("callbacks are not available".into()),
            },
            Err(refusals) => Err(refusals
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")),
        };
        match created {
            Ok(created) => {
                let mut extra = fields([
                    ("callback", created.callback.id.into()),
                    ("number", number.into()),
                    ("queue", queue.into()),
                    ("duplicate", created.duplicate.into()),
                ]);
                extra.insert("delay_ms".into(), delay_ms.into());
                self.record(call_key, "callback", extra);
                self.refresh_callback_due(now);
            }
            Err(error) => {
                self.record(
                    call_key,
                    "callback_refused",
                    fields([("error", error.into())]),
                );
            }
        }
    }

    /// Rings the agent the ACD chose for a callback.
    pub(super) async fn ring_for_callback(
        &mut self,
        key: u64,
        agent: String,
        to: std::net::SocketAddr,
        uri: String,
        now: Instant,
    ) -> bool {
        if self
            .callback_calls
            .get(&key)
            .is_none_or(|c| c.agent.is_some())
        {
            return false;
        }
        let Some(mut leg) = self
            .new_leg(agent, to, uri, (false, false), None, now)
            .await
        else {
            return false;
        };
        leg.acd_call = key;
        self.cb_legs.insert(leg.tx.clone(), (key, Side::Agent));
        if let Some(cb) = self.callback_calls.get_mut(&key) {
            cb.agent = Some(leg);
        }
        true
    }

    fn leg_mut(&mut self, key: u64, side: Side) -> Option<&mut Option<PlacedLeg>> {
        let cb = self.callback_calls.get_mut(&key)?;
        Some(match side {
            Side::Agent => &mut cb.agent,
            Side::Customer => &mut cb.customer,
        })
    }

    /// A response to a callback leg's INVITE.
    pub(super) async fn on_callback_response(
        &mut self,
        key: u64,
        side: Side,
        response: Message,
        now: Instant,
    ) {
        let status = response.status().unwrap_or(0);
        if status < 200 {
            return;
        }
        if status >= 300 {
            if let Some(Some(leg)) = self.leg_mut(key, side) {
                leg.socket = None;
            }
            if status != 487 {
                self.callback_leg_failed(key, side, &format!("status {status}"), now);
                self.pump(now).await;
            }
            return;
        }
        let Some(mut leg) = self.leg_mut(key, side).and_then(Option::take) else {
            return;
        };
        let fresh = leg.dialog.is_none();
        let started = self.answer_leg(key, &mut leg, &response, now);
        if let Some(id) = &leg.dialog {
            self.cb_dialogs.insert(id.clone(), (key, side));
        }
        let name = leg.name.clone();
        match self.leg_mut(key, side) {
            Some(slot) => *slot = Some(leg),
            None => return self.end_leg(leg, now),
        }
        if !(fresh && started) {
            return;
        }
        match side {
            Side::Agent => {
                self.switch.agent_answered(key, self.clock.at(now));
                if let Some(cb) = self.callback_calls.get_mut(&key) {
                    cb.answered_by = Some(name.clone());
                }
                self.callback_record(
                    key,
                    "callback_agent_answered",
                    fields([("agent", name.into())]),
                );
                self.call_customer(key, now).await;
            }
            Side::Customer => {
                let Some(cb) = self.callback_calls.get_mut(&key) else {
                    return;
                };
                cb.connected = true;
                let agent = cb
                    .agent
                    .as_ref()
                    .and_then(|l| Some((l.media.clone()?, l.inbound.clone()?)));
                let customer = cb
                    .customer
                    .as_ref()
                    .and_then(|l| Some((l.media.clone()?, l.inbound.clone()?)));
                if let (Some((agent_media, agent_in)), Some((customer_media, customer_in))) =
                    (agent, customer)
                {
                    super::to_leg(
                        &agent_media,
                        MediaCommand::Bridge { peer: customer_in },
                        &self.media_stats,
                    );
                    super::to_leg(
                        &customer_media,
                        MediaCommand::Bridge { peer: agent_in },
                        &self.media_stats,
                    );
                }
                let id = cb.callback.id;
                let agent = cb.answered_by.clone().unwrap_or_default();
                if let Some(store) = &self.store {
                    let result = store.finish(id, &format!("connected with {agent}"));
                    self.stored(&format!("callback-{id}"), "finish a callback", result);
                }
                self.callback_record(key, "callback_connected", fields([("agent", agent.into())]));
            }
        }
    }

    /// The agent answered: now the customer's phone rings.
    async fn call_customer(&mut self, key: u64, now: Instant) {
        let Some(number) = self
            .callback_calls
            .get(&key)
            .map(|c| c.callback.number.clone())
        else {
            return;
        };
        let Some((to, uri)) = self.trunk_target(&number, "") else {
            return self.callback_failed(key, "no trunk is configured to call the customer", now);
        };
        let Some(leg) = self
            .new_leg(number.clone(), to, uri, (true, false), None, now)
            .await
        else {
            return self.callback_failed(key, "no media port to call the customer", now);
        };
        self.cb_legs.insert(leg.tx.clone(), (key, Side::Customer));
        if let Some(cb) = self.callback_calls.get_mut(&key) {
            cb.customer = Some(leg);
        }
        self.timer_seq += 1;
        self.ring_deadlines
            .insert((now + CUSTOMER_RING, self.timer_seq), key);
        self.callback_record(
            key,
            "callback_dialling",
            fields([("number", number.into())]),
        );
    }

    /// The customer's phone rang out.
    pub(super) fn callback_ring_deadline(&mut self, key: u64, now: Instant) {
        let ringing = self
            .callback_calls
            .get(&key)
            .and_then(|c| c.customer.as_ref())
            .is_some_and(|l| l.dialog.is_none() && l.socket.is_some());
        if ringing {
            self.callback_failed(key, "the customer did not answer", now);
        }
    }

    /// A leg failed before it answered.
    pub(super) fn callback_leg_failed(&mut self, key: u64, side: Side, why: &str, now: Instant) {
        match side {
            Side::Agent => {
                let agent = self
                    .callback_calls
                    .get(&key)
                    .and_then(|c| c.agent.as_ref())
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                self.callback_record(
                    key,
                    "agent_failed",
                    fields([("agent", agent.into()), ("status", why.into())]),
                );
                // RONA: the callback keeps its place for the next agent.
                self.switch.agent_declined(key, self.clock.at(now));
            }
            Side::Customer => {
                self.callback_failed(key, &format!("the customer's phone answered {why}"), now);
            }
        }
    }

    /// Takes one leg of a callback down (RONA of its agent, or cleanup).
    pub(super) fn end_callback_leg(&mut self, key: u64, side: Side, now: Instant) {
        if let Some(leg) = self.leg_mut(key, side).and_then(Option::take) {
            self.end_leg(leg, now);
        }
    }

    /// The attempt failed: both legs down, the agent wraps up (or is free
    /// again), and the callback goes back to the store for later.
    pub(super) fn callback_failed(&mut self, key: u64, why: &str, now: Instant) {
        let Some(cb) = self.callback_calls.remove(&key) else {
            return;
        };
        let id = cb.callback.id;
        let at = self.clock.at(now);
        let retry = self.retry_time(&cb.callback, at);
        self.callback_ends(key, cb, now);
        let outcome = match &self.store {
            Some(store) => match store.retry(id, retry) {
                Ok(callback) => callback.status.as_str().to_string(),
                Err(error) => error.to_string(),
            },
            None => "lost".into(),
        };
        self.log.record(
            at,
            &format!("callback-{id}"),
            "callback_failed",
            fields([
                ("callback", id.into()),
                ("reason", why.into()),
                ("retry_at", retry.to_string().into()),
                ("now", outcome.into()),
            ]),
        );
        self.refresh_callback_due(now);
    }

    /// Releases a callback's legs and tells the ACD.
    fn callback_ends(&mut self, key: u64, mut cb: CallbackCall, now: Instant) {
        for leg in [cb.agent.take(), cb.customer.take()].into_iter().flatten() {
            self.end_leg(leg, now);
        }
        if let Some(agent) = &cb.answered_by {
            self.switch.agent_ended(key, self.clock.at(now));
            self.wrap_up_started(&agent.clone(), key, now);
        } else {
            self.switch.remove(key, self.clock.at(now));
        }
    }

    /// One side hung up (BYE): the other side is hung up too.
    pub(super) fn callback_hung_up(&mut self, key: u64, side: Side, now: Instant) {
        // The BYE ended that dialog: nothing to send back on it.
        if let Some(Some(leg)) = self.leg_mut(key, side).map(|slot| slot.as_mut())
            && let Some(id) = leg.dialog.take()
        {
            if let Some(media) = leg.media.take() {
                super::to_leg(&media, MediaCommand::Close, &self.media_stats);
            }
            self.cb_dialogs.remove(&id);
            self.dialogs.remove(&id);
        }
        let Some(cb) = self.callback_calls.get(&key) else {
            return;
        };
        if !cb.connected {
            let why = match side {
                Side::Agent => "the agent hung up before the customer answered",
                Side::Customer => "the customer hung up at once",
            };
            return self.callback_failed(key, why, now);
        }
        let Some(cb) = self.callback_calls.remove(&key) else {
            return;
        };
        let id = cb.callback.id;
        self.callback_ends(key, cb, now);
        self.log.record(
            self.clock.at(now),
            &format!("callback-{id}"),
            "callback_ended",
            fields([(
                "by",
                match side {
                    Side::Agent => "agent",
                    Side::Customer => "customer",
                }
                .into(),
            )]),
        );
    }

    fn callback_record(
        &self,
        key: u64,
        event: &str,
        mut extra: serde_json::Map<String, serde_json::Value>,
    ) {
        let Some(cb) = self.callback_calls.get(&key) else {
            return;
        };
        extra.insert("callback".into(), cb.callback.id.into());
        self.log.record(
            self.wall(),
            &format!("callback-{}", cb.callback.id),
            event,
            extra,
        );
    }
}
