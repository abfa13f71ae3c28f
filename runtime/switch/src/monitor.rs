//! Monitoring alerts (SPEC 3.2, seed 004 step 6): each campaign's `alert`
//! sections, evaluated once a second on the switch's clock, so that
//! `dialect serve` and `dialect test` raise the same alerts at the same
//! times. An alert is raised once when its condition starts to hold for a
//! subject (an agent, a ticket, or the campaign itself) and cleared once
//! when it stops: [`Action::Alert`] both times; the adapters log it and
//! tell the campaign's supervisors.
//!
//! | kind | subject | holds while |
//! |---|---|---|
//! | `talk_time` | agent | a call of the campaign has been talking longer than X |
//! | `max_unclosed` | agent | they owe X or more wrap-ups of the campaign's calls |
//! | `break_over` | agent | they (an agent of the campaign's queues) have been on a break (not ready) longer than X |
//! | `breaks_started` | campaign | its queues' agents started X or more breaks in the last 5 minutes |
//! | `avg_wait` | campaign | the mean wait of its calls, over those that left a queue in the last 5 minutes and those waiting now, exceeds X |
//! | `pool_low` | campaign | X or fewer of its records are still open |
//! | `sla_warning` | ticket | an open ticket's SLA (`ticket_sla`) ends within X |
//! | `sla_exceeded` | ticket | an open ticket is past its SLA by more than X |
//!
//! The same queue exits give each queue's service level over the last 15
//! minutes ([`Switch::service_levels`], against `service_level` and
//! `service_time`).
//!
//! Everything kept is bounded: the breaks and queue exits of the last
//! window only (at most [`MAX_KEPT`] each), one row per raised alert.

use crate::{Action, CallKey, Store, Switch};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How often alerts are evaluated.
pub const EVERY: SignedDuration = SignedDuration::from_secs(1);

/// The window of `breaks_started` and `avg_wait`.
pub const WINDOW: SignedDuration = SignedDuration::from_secs(300);

/// The window of queues' service levels.
pub const SERVICE_WINDOW: SignedDuration = SignedDuration::from_secs(900);

/// How often the store is asked for open records and tickets.
const STORE_EVERY: SignedDuration = SignedDuration::from_secs(30);

/// The most breaks and queue exits remembered.
pub const MAX_KEPT: usize = 10_000;

/// A call leaving a queue: answered by an agent or not.
#[derive(Clone, Debug)]
pub(crate) struct Exit {
    at: Timestamp,
    campaign: String,
    queue: String,
    wait_ms: u64,
    answered: bool,
}

/// What the store said of a campaign, and when: its open records and
/// its open tickets (id, opened).
type StoreView = (Timestamp, u64, Vec<(i64, Timestamp)>);

/// A campaign's alerts (kind, threshold) and its `ticket_sla`.
type CampaignAlerts = (String, Vec<(String, u64)>, Option<u64>);

/// The alerts' state.
#[derive(Debug, Default)]
pub(crate) struct Monitor {
    /// The next evaluation.
    next: Option<Timestamp>,
    /// Raised alerts: (campaign, kind, subject) to the value that raised it.
    raised: BTreeMap<(String, String, String), Value>,
    /// Breaks started, oldest first.
    breaks: VecDeque<(Timestamp, String)>,
    /// Since when each agent on a break has been on it.
    on_break: HashMap<String, Timestamp>,
    /// Calls that left a queue, oldest first.
    exits: VecDeque<Exit>,
    /// Per campaign, its open records and open tickets (id, created), as
    /// the store said when.
    store: HashMap<String, StoreView>,
    /// Evaluate even when the switch is idle.
    always: bool,
    /// Per queue, the calls answered and abandoned on one day (UTC).
    today: HashMap<String, Day>,
}

/// A queue's calls of one day (UTC): answered by an agent, abandoned (the
/// caller hung up while waiting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// The day.
    pub date: jiff::civil::Date,
    /// Calls agents answered.
    pub answered: u32,
    /// Callers who hung up while waiting.
    pub abandoned: u32,
}

/// How a call left its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    /// An agent answered.
    Answered,
    /// The caller hung up while waiting.
    Abandoned,
    /// Timed out, overflowed, taken out by its flow.
    SentOn,
}

impl Monitor {
    /// The raised alerts: (campaign, kind, subject) and the value.
    pub(crate) fn raised(&self) -> impl Iterator<Item = (&(String, String, String), &Value)> {
        self.raised.iter()
    }
}

/// A raised alert as the admin API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RaisedAlert {
    /// The campaign.
    pub campaign: String,
    /// The kind (`talk_time`, ...).
    pub alert: String,
    /// The agent, the ticket, or empty for the campaign.
    pub subject: String,
    /// What raised it.
    pub value: Value,
}

impl Switch {
    /// The alerts raised now.
    pub fn alerts(&self) -> Vec<RaisedAlert> {
        self.monitor
            .raised()
            .map(|((campaign, alert, subject), value)| RaisedAlert {
                campaign: campaign.clone(),
                alert: alert.clone(),
                subject: subject.clone(),
                value: value.clone(),
            })
            .collect()
    }

    /// When alerts are next evaluated: once a second while any campaign
    /// has alerts and something could raise or clear one (calls, breaks,
    /// owed wrap-ups, recent queue exits, raised alerts), or always when
    /// [`Switch::monitor_always`] says so (the server: records and tickets
    /// change without calls). A simulation stops ticking when its world
    /// is still.
    pub(crate) fn monitor_deadline(&self) -> Option<Timestamp> {
        if self
            .directory
            .campaigns
            .values()
            .all(|c| c.alerts.is_empty())
        {
            return None;
        }
        let m = &self.monitor;
        let active = m.always
            || !self.calls.is_empty()
            || !m.raised.is_empty()
            || !m.on_break.is_empty()
            || !m.breaks.is_empty()
            || !m.exits.is_empty()
            || self.unhandled.values().any(|owed| !owed.is_empty());
        active.then(|| m.next.unwrap_or(self.now))
    }

    /// Whether the switch's next deadline is only the alerts' evaluation
    /// (a simulation does not count it as an input of the world).
    pub fn next_is_monitor(&self) -> bool {
        let Some(monitor) = self.monitor_deadline() else {
            return false;
        };
        self.calls_deadline().is_none_or(|at| at > monitor)
    }

    /// Evaluate alerts every second even when nothing happens (the
    /// server: `pool_low` and ticket SLAs change with the store).
    pub fn monitor_always(&mut self, on: bool) {
        self.monitor.always = on;
    }

    /// An agent started a break.
    pub(crate) fn break_started(&mut self, agent: &str, now: Timestamp) {
        self.monitor.on_break.insert(agent.to_string(), now);
        if self.monitor.breaks.len() >= MAX_KEPT {
            self.monitor.breaks.pop_front();
        }
        self.monitor.breaks.push_back((now, agent.to_string()));
    }

    /// Whether the agent is on a break already (a new reason is not a
    /// new break).
    pub(crate) fn monitor_on_break(&self, agent: &str) -> bool {
        self.monitor.on_break.contains_key(agent)
    }

    /// An agent's break is over (ready, logged out, back to work).
    pub(crate) fn break_ended(&mut self, agent: &str) {
        self.monitor.on_break.remove(agent);
    }

    /// `call` leaves its queue (`answered` by an agent, or timed out,
    /// abandoned, sent on by its flow): its wait counts towards `avg_wait`
    /// and its queue's service level.
    pub(crate) fn left_queue(&mut self, key: CallKey, now: Timestamp, left: Left) {
        let answered = left == Left::Answered;
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(since) = call.waiting_since else {
            return;
        };
        if let Some(queue) = call.queue.as_deref() {
            let date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
            let queue = dialect_acd::directory::Directory::base_queue(queue);
            let day = self.monitor.today.entry(queue.to_string()).or_insert(Day {
                date,
                answered: 0,
                abandoned: 0,
            });
            if day.date != date {
                *day = Day {
                    date,
                    answered: 0,
                    abandoned: 0,
                };
            }
            match left {
                Left::Answered => day.answered = day.answered.saturating_add(1),
                Left::Abandoned => day.abandoned = day.abandoned.saturating_add(1),
                Left::SentOn => {}
            }
        }
        let wait_ms = u64::try_from(now.duration_since(since).as_millis()).unwrap_or(0);
        if self.monitor.exits.len() >= MAX_KEPT {
            self.monitor.exits.pop_front();
        }
        self.monitor.exits.push_back(Exit {
            at: now,
            campaign: call.campaign.clone(),
            // A campaign's lane counts for the queue it is a lane of.
            queue: call
                .queue
                .as_deref()
                .map(|q| dialect_acd::directory::Directory::base_queue(q).to_string())
                .unwrap_or_default(),
            wait_ms,
            answered,
        });
    }

    /// A queue's calls answered and abandoned today (UTC, on the switch's
    /// clock): zero for a queue without calls today.
    pub fn queue_today(&self, queue: &str) -> (u32, u32) {
        let date = self.now.to_zoned(jiff::tz::TimeZone::UTC).date();
        self.monitor
            .today
            .get(queue)
            .filter(|d| d.date == date)
            .map_or((0, 0), |d| (d.answered, d.abandoned))
    }

    /// Each queue's service level over the last 15 minutes: the share of
    /// the calls that left it (answered, abandoned or sent on) answered
    /// within its `service_time`, in hundredths of a percent, with its
    /// target (`service_level`, 80 % by default); `None` for a queue
    /// without `service_time` or without calls in the window.
    pub fn service_levels(&self) -> BTreeMap<String, (u32, u32)> {
        let since = self.now - SERVICE_WINDOW;
        let mut out = BTreeMap::new();
        // Lanes are measured with their queues (their exits carry the
        // queue's name).
        let queues = self
            .directory
            .queues
            .iter()
            .filter(|(n, _)| !n.contains('@'));
        for (name, queue) in queues {
            let Some((target, time)) = queue.service else {
                continue;
            };
            let (mut within, mut all) = (0u64, 0u64);
            for exit in self
                .monitor
                .exits
                .iter()
                .filter(|e| e.queue == *name && e.at >= since)
            {
                all += 1;
                if exit.answered && exit.wait_ms <= time {
                    within += 1;
                }
            }
            if let Some(level) = (within * 10_000).checked_div(all) {
                let level = u32::try_from(level).unwrap_or(10_000);
                out.insert(name.clone(), (level, target));
            }
        }
        out
    }

    /// Evaluates every campaign's alerts if they are due.
    pub(crate) fn monitor_due(&mut self, now: Timestamp, store: &dyn Store) {
        let Some(due) = self.monitor_deadline() else {
            return;
        };
        if due > now {
            return;
        }
        self.monitor.next = Some(now + EVERY);
        self.evaluate(now, Some(store));
    }

    /// Evaluates at once, from what the store said last: a talk or a call
    /// just ended, so its alerts clear now rather than up to a second
    /// later (when a simulation may be over).
    pub(crate) fn monitor_now(&mut self, now: Timestamp) {
        if self
            .directory
            .campaigns
            .values()
            .any(|c| !c.alerts.is_empty())
        {
            self.evaluate(now, None);
        }
    }

    /// Raises what holds now and was not raised, clears what was raised
    /// and no longer holds.
    fn evaluate(&mut self, now: Timestamp, store: Option<&dyn Store>) {
        let window = now - WINDOW;
        while self
            .monitor
            .breaks
            .front()
            .is_some_and(|(t, _)| *t < window)
        {
            self.monitor.breaks.pop_front();
        }
        let kept = now - SERVICE_WINDOW;
        while self.monitor.exits.front().is_some_and(|e| e.at < kept) {
            self.monitor.exits.pop_front();
        }
        let campaigns: Vec<CampaignAlerts> = self
            .directory
            .campaigns
            .iter()
            .filter(|(_, c)| !c.alerts.is_empty())
            .map(|(name, c)| (name.clone(), c.alerts.clone(), c.ticket_sla_ms))
            .collect();
        let mut holding: BTreeMap<(String, String, String), Value> = BTreeMap::new();
        for (campaign, alerts, sla) in campaigns {
            let needs_store = alerts
                .iter()
                .any(|(k, _)| matches!(k.as_str(), "pool_low" | "sla_warning" | "sla_exceeded"));
            if let (true, Some(store)) = (needs_store, store) {
                self.refresh_store(&campaign, now, store);
            }
            for (kind, threshold) in alerts {
                for (subject, value) in self.holds(&campaign, &kind, threshold, sla, now) {
                    holding.insert((campaign.clone(), kind.clone(), subject), value);
                }
            }
        }
        let raised = std::mem::take(&mut self.monitor.raised);
        for (key, value) in &raised {
            if !holding.contains_key(key) {
                self.actions.push_back(alert(key, value.clone(), false));
            }
        }
        for (key, value) in &holding {
            if !raised.contains_key(key) {
                self.actions.push_back(alert(key, value.clone(), true));
            }
        }
        // A raised alert keeps the value that raised it.
        self.monitor.raised = holding
            .into_iter()
            .map(|(key, value)| {
                let kept = raised.get(&key).cloned().unwrap_or(value);
                (key, kept)
            })
            .collect();
    }

    /// The subjects for which `kind` holds in `campaign`, with the value
    /// measured.
    fn holds(
        &self,
        campaign: &str,
        kind: &str,
        threshold: u64,
        sla: Option<u64>,
        now: Timestamp,
    ) -> Vec<(String, Value)> {
        let ms =
            |since: Timestamp| u64::try_from(now.duration_since(since).as_millis()).unwrap_or(0);
        // Breaks count for a campaign when taken by an agent of its queues.
        let staffed = |agent: &str| {
            self.directory
                .campaigns
                .get(campaign)
                .is_some_and(|c| c.staffed_by.contains(agent))
        };
        let mut out = Vec::new();
        match kind {
            "talk_time" => {
                for (key, call) in &self.calls {
                    if call.campaign != campaign {
                        continue;
                    }
                    if let (Some(since), Some(dialect_acd::Place::Busy { agent })) =
                        (call.talking_since, self.acd.place(*key))
                        && ms(since) > threshold
                    {
                        out.push((agent.to_string(), json!(ms(since))));
                    }
                }
            }
            "max_unclosed" => {
                for (agent, owed) in &self.unhandled {
                    let count = owed.iter().filter(|(_, c)| c == campaign).count() as u64;
                    if count >= threshold {
                        out.push((agent.clone(), json!(count)));
                    }
                }
            }
            "break_over" => {
                for (agent, since) in &self.monitor.on_break {
                    if staffed(agent) && ms(*since) > threshold {
                        out.push((agent.clone(), json!(ms(*since))));
                    }
                }
            }
            "breaks_started" => {
                let count = self
                    .monitor
                    .breaks
                    .iter()
                    .filter(|(_, agent)| staffed(agent))
                    .count() as u64;
                if threshold > 0 && count >= threshold {
                    out.push((String::new(), json!(count)));
                }
            }
            "avg_wait" => {
                let window = now - WINDOW;
                let done = self
                    .monitor
                    .exits
                    .iter()
                    .filter(|e| e.campaign == campaign && e.at >= window)
                    .map(|e| e.wait_ms);
                let waiting = self
                    .calls
                    .values()
                    .filter(|c| c.campaign == campaign)
                    .filter_map(|c| c.waiting_since.map(ms));
                let (sum, n) = done
                    .chain(waiting)
                    .fold((0u64, 0u64), |(s, n), w| (s.saturating_add(w), n + 1));
                if n > 0 && sum / n > threshold {
                    out.push((String::new(), json!(sum / n)));
                }
            }
            "pool_low" => {
                if let Some((_, open, _)) = self.monitor.store.get(campaign)
                    && *open <= threshold
                {
                    out.push((String::new(), json!(open)));
                }
            }
            "sla_warning" | "sla_exceeded" => {
                let (Some(sla), Some((_, _, tickets))) = (sla, self.monitor.store.get(campaign))
                else {
                    return out;
                };
                for (id, created) in tickets {
                    let due = *created
                        + SignedDuration::from_millis(i64::try_from(sla).unwrap_or(i64::MAX));
                    let late = now.duration_since(due).as_millis();
                    let holds = if kind == "sla_warning" {
                        late < 0 && late.unsigned_abs() < u128::from(threshold)
                    } else {
                        late >= 0 && late.unsigned_abs() > u128::from(threshold)
                    };
                    if holds {
                        out.push((id.to_string(), json!({ "due": due.to_string() })));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// The campaign's open records and open tickets, from the store at
    /// most every 30 s.
    fn refresh_store(&mut self, campaign: &str, now: Timestamp, store: &dyn Store) {
        if self
            .monitor
            .store
            .get(campaign)
            .is_some_and(|(at, _, _)| now.duration_since(*at) < STORE_EVERY)
        {
            return;
        }
        let open = store.open_records(campaign).unwrap_or(u64::MAX);
        let tickets = store
            .open_tickets(campaign)
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.id, t.created))
            .collect();
        self.monitor
            .store
            .insert(campaign.to_string(), (now, open, tickets));
    }

    /// A ticket was closed: its SLA alerts clear at the next evaluation.
    pub fn ticket_closed(&mut self, campaign: &str, id: i64) {
        if let Some((_, _, tickets)) = self.monitor.store.get_mut(campaign) {
            tickets.retain(|(t, _)| *t != id);
        }
    }
}

fn alert(key: &(String, String, String), value: Value, raised: bool) -> Action {
    let (campaign, kind, subject) = key.clone();
    Action::Alert {
        campaign,
        alert: kind,
        subject,
        value,
        raised,
    }
}
