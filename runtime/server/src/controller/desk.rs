//! What the agent desktop and the supervisor's wallboard ask of the
//! controller (the HTTP side is `crate::api::desk`): call control from the
//! desktop (hold, resume, hang up, blind transfer; the same code as the
//! agent's SIP phone's re-INVITE, BYE and REFER), the wallboard's view of
//! queues, agents, alerts and the day's calls, and a supervisor setting an
//! agent not ready or logging them out.

use super::agent_api::state_name;
use super::{Core, fields};
use crate::api::{ApiReply, CallAction};
use dialect_acd::State;
use serde_json::{Value, json};
use std::time::Instant;

/// Quarter hours in a day: the wallboard's chart of the day's calls.
pub(super) const QUARTERS: usize = 96;

/// The day's calls per quarter hour (UTC).
#[derive(Debug, Clone)]
pub(super) struct Chart {
    date: Option<jiff::civil::Date>,
    quarters: [u32; QUARTERS],
}

impl Default for Chart {
    fn default() -> Self {
        Chart {
            date: None,
            quarters: [0; QUARTERS],
        }
    }
}

impl Chart {
    /// A call started at `at`.
    pub(super) fn count(&mut self, at: jiff::Timestamp) {
        let zoned = at.to_zoned(jiff::tz::TimeZone::UTC);
        let date = zoned.date();
        if self.date != Some(date) {
            *self = Chart {
                date: Some(date),
                quarters: [0; QUARTERS],
            };
        }
        let quarter = usize::try_from(i32::from(zoned.hour()) * 4 + i32::from(zoned.minute()) / 15)
            .unwrap_or(0);
        if let Some(n) = self.quarters.get_mut(quarter) {
            *n = n.saturating_add(1);
        }
    }

    /// The day's counts, as of `now` (a new day starts empty).
    fn json(&self, now: jiff::Timestamp) -> Value {
        let date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let quarters: Vec<u32> = if self.date == Some(date) {
            self.quarters.to_vec()
        } else {
            vec![0; QUARTERS]
        };
        json!({ "date": date.to_string(), "quarters": quarters })
    }
}

impl Core {
    /// The agent's call now: the one they talk on, or hold.
    fn talking_call(&self, agent: &str) -> Option<u64> {
        let desk = self.desks.get(agent).filter(|d| d.talking.is_some())?;
        let call = self.calls.get(&desk.call)?;
        call.agent
            .as_ref()
            .filter(|leg| leg.name == agent && leg.media.is_some())
            .map(|_| desk.call)
    }

    /// Call control from the desktop.
    pub(super) async fn call_control(
        &mut self,
        agent: &str,
        action: CallAction,
        now: Instant,
    ) -> ApiReply {
        let Some(call_key) = self.talking_call(agent) else {
            return ApiReply::error(409, format!("{agent} is not on a call"));
        };
        match action {
            CallAction::Hold | CallAction::Resume => {
                let hold = action == CallAction::Hold;
                let held = self.calls.get(&call_key).is_some_and(|c| c.held);
                if held == hold {
                    let already = if hold { "on hold" } else { "not on hold" };
                    return ApiReply::error(409, format!("the call is already {already}"));
                }
                self.set_held(call_key, hold);
                ApiReply::ok(json!({ "call": call_key, "held": hold }))
            }
            CallAction::HangUp => {
                // In a conference the agent leaves it (the others talk on);
                // their phone gets a BYE either way.
                let conference = self
                    .calls
                    .get(&call_key)
                    .filter(|c| c.conference.is_some())
                    .and_then(|c| c.agent.as_ref())
                    .and_then(|leg| leg.dialog.clone().map(|id| (id, leg.to)));
                if let Some((id, to)) = conference {
                    let branch = self.ids.branch();
                    let bye = self
                        .dialogs
                        .get_mut(&id)
                        .and_then(|d| d.request(dialect_sip::message::Method::Bye, &branch).ok());
                    if let Some(bye) = bye {
                        let sent = self.tx.send_request(
                            bye,
                            to,
                            dialect_sip::message::Transport::Udp,
                            now,
                        );
                        self.sip_sent(sent);
                    }
                    if self.conference_leave(call_key, &id, now).await {
                        return ApiReply::ok(json!({ "call": call_key, "left_conference": true }));
                    }
                }
                self.agent_leaves(call_key, now).await;
                ApiReply::ok(json!({ "call": call_key, "hung_up": true }))
            }
            CallAction::Transfer(target) => {
                let Some(to) = self.switch.transfer_target(&target) else {
                    self.record(
                        call_key,
                        "transfer_refused",
                        fields([("target", target.clone().into())]),
                    );
                    return ApiReply::error(
                        404,
                        format!("no queue, agent, entry point or number `{target}` to transfer to"),
                    );
                };
                self.blind_transfer(call_key, to, now).await;
                ApiReply::ok(json!({ "call": call_key, "transferred": target }))
            }
        }
    }

    /// A supervisor sets an agent not ready, or logs them out.
    pub(super) fn supervise(
        &mut self,
        supervisor: &str,
        agent: &str,
        logout: bool,
        now: Instant,
    ) -> ApiReply {
        if !self.is_supervisor(supervisor) {
            return ApiReply::error(
                403,
                format!("{supervisor} is not a supervisor: only supervisors act on other agents"),
            );
        }
        if self.switch.acd().state(agent).is_none() {
            return ApiReply::error(404, format!("no agent {agent} in the flows"));
        }
        let at = self.clock.at(now);
        let done = if logout {
            self.switch.logout(agent, at)
        } else {
            self.switch.set_not_ready(agent, "supervisor", at)
        };
        if !done {
            let state = self.switch.acd().state(agent);
            let what = if logout { "log out" } else { "go not ready" };
            return ApiReply::error(
                409,
                format!("{agent} cannot {what} while {}", state_name(state.as_ref())),
            );
        }
        let event = if logout { "logged_out" } else { "not_ready" };
        let mut extra = fields([("by", supervisor.into())]);
        if !logout {
            extra.insert("reason".into(), "supervisor".into());
        }
        self.log_agent(agent, event, extra);
        ApiReply::ok(json!({ "agent": agent, "state": if logout { "logged_out" } else { "idle" } }))
    }

    /// The wallboard: per queue its waiting calls, longest wait, service
    /// level and the day's answered and abandoned calls; per agent their
    /// state and time in it; the alerts raised; the day's calls per quarter
    /// hour. Supervisors only.
    pub(super) fn wallboard(&self, agent: &str) -> ApiReply {
        if !self.is_supervisor(agent) {
            return ApiReply::error(
                403,
                format!("{agent} is not a supervisor: the wallboard is for supervisors"),
            );
        }
        let ms = self.acd_ms(self.now);
        let levels = self.switch.service_levels();
        let directory = self.switch.directory();
        let queues: Vec<Value> = directory
            .queues
            .keys()
            .filter(|q| !q.contains('@'))
            .map(|queue| {
                // A queue's lanes (QUEUE@CAMPAIGN) wait for it too.
                let lanes = directory.queues.keys().filter(|l| {
                    *l == queue || dialect_acd::directory::Directory::base_queue(l) == queue
                });
                let (mut waiting, mut longest) = (0usize, None::<u64>);
                for lane in lanes {
                    waiting += self.switch.acd().queue(lane, ms).len();
                    if let Some(w) = self.switch.acd().oldest_wait(lane, ms) {
                        longest = Some(longest.map_or(w, |l| l.max(w)));
                    }
                }
                let (answered, abandoned) = self.switch.queue_today(queue);
                let level = levels.get(queue);
                let target = directory.queues.get(queue).and_then(|q| q.service);
                json!({
                    "queue": queue,
                    "waiting": waiting,
                    "longest_wait_ms": longest,
                    "service_level_percent": level.map(|(l, _)| f64::from(*l) / 100.0),
                    "service_target_percent": target.map(|(t, _)| f64::from(t) / 100.0),
                    "service_time_ms": target.map(|(_, time)| time),
                    "answered_today": answered,
                    "abandoned_today": abandoned,
                })
            })
            .collect();
        let agents: Vec<Value> = self
            .switch
            .acd()
            .agents()
            .map(|(name, state)| {
                let since = self.switch.acd().state_since(name).unwrap_or(ms);
                let reason = match &state {
                    State::Idle { reason } => Some(reason.clone()),
                    _ => None,
                };
                json!({
                    "agent": name,
                    "state": super::agent_api::state_key(&state),
                    "reason": reason,
                    "in_state_ms": ms.saturating_sub(since),
                })
            })
            .collect();
        let alerts: Vec<Value> = self
            .switch
            .alerts()
            .iter()
            .map(|a| {
                json!({
                    "campaign": a.campaign,
                    "alert": a.alert,
                    "subject": a.subject,
                    "value": a.value,
                })
            })
            .collect();
        ApiReply::ok(json!({
            "queues": queues,
            "agents": agents,
            "alerts": alerts,
            "chart": self.chart.json(self.wall()),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_chart_counts_calls_per_quarter_hour_of_the_day() {
        let mut chart = Chart::default();
        let at = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
        chart.count(at("2026-12-06T00:00:00Z"));
        chart.count(at("2026-12-06T09:14:59Z"));
        chart.count(at("2026-12-06T09:15:00Z"));
        chart.count(at("2026-12-06T23:59:59Z"));
        let day = chart.json(at("2026-12-06T23:59:59Z"));
        let quarters = day["quarters"].as_array().unwrap();
        assert_eq!(quarters.len(), QUARTERS);
        assert_eq!(day["date"], "2026-12-06");
        assert_eq!(quarters[0], 1);
        assert_eq!(quarters[36], 1, "09:00-09:15");
        assert_eq!(quarters[37], 1, "09:15-09:30");
        assert_eq!(quarters[95], 1);
        // A new day starts empty, whether or not a call came yet.
        let next = chart.json(at("2026-12-07T08:00:00Z"));
        assert!(next["quarters"].as_array().unwrap().iter().all(|n| n == 0));
        chart.count(at("2026-12-07T08:00:00Z"));
        let next = chart.json(at("2026-12-07T08:00:00Z"));
        assert_eq!(next["quarters"][32], 1);
        assert_eq!(next["quarters"][36], 0, "yesterday's calls are gone");
    }
}
