//! The ACD core (SPEC 5.3, 5.4): which agent gets which call, and when.
//!
//! Like the engine, it performs no I/O and reads no clock: inputs are
//! `handle_*`/`set_*` calls with the current time in milliseconds (any
//! monotonic origin: the server's `Instant`, the simulator's virtual clock),
//! outputs are [`Action`]s drained with [`Acd::poll_action`], and
//! [`Acd::poll_timeout`] says when to call [`Acd::handle_timeout`].
//!
//! Rules implemented here:
//! - calls wait in order of effective priority (their priority times the
//!   ageing factor for how long they have waited), then of arrival;
//! - a call is offered to the longest-idle available agent that has the
//!   required skill and room under their maximum load;
//! - an offer not answered within the ring time is withdrawn (RONA): the
//!   call goes back to its place (its arrival time is kept) and the agent
//!   becomes Idle with the reason `RONA`;
//! - after a call an agent is in wrap-up (wrap-up time plus extra time) and
//!   is offered nothing until it ends.

use std::collections::{BTreeMap, VecDeque};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// Added to priorities before ageing multiplies them, so that a negative or
/// zero priority also gains from waiting (priorities are around -100..100,
/// plus campaign, channel and record weights).
pub const PRIORITY_SHIFT: i64 = 1_000;

/// A call's id, as the caller of the ACD knows it.
pub type CallId = u64;

/// An agent's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Ready for calls since this time (for longest-idle order).
    Available {
        /// Since when.
        since: Millis,
    },
    /// Not ready, with a reason (`break`, `RONA`, ...).
    Idle {
        /// Why.
        reason: String,
    },
    /// Being offered a call until the ring time ends.
    Ringing {
        /// The call.
        call: CallId,
        /// When the offer is withdrawn.
        until: Millis,
    },
    /// On a call.
    Busy {
        /// The call.
        call: CallId,
    },
    /// Wrapping up until this time.
    WrapUp {
        /// When wrap-up ends.
        until: Millis,
    },
}

/// What the ACD asks of its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ring this agent for this call.
    Offer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: String,
    },
    /// Stop ringing: the agent did not answer in time (RONA); the call is
    /// waiting again.
    Withdraw {
        /// The call.
        call: CallId,
        /// The agent.
        agent: String,
    },
}

/// Timing rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// How long an offer rings before RONA.
    pub ring_ms: Millis,
    /// Wrap-up after each call.
    pub wrap_up_ms: Millis,
    /// Extra wrap-up time.
    pub extra_wrap_up_ms: Millis,
    /// Ageing: after waiting this long, multiply the priority by this factor
    /// (the highest level reached applies).
    pub ageing: Vec<(Millis, i64)>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            ring_ms: 20_000,
            wrap_up_ms: 0,
            extra_wrap_up_ms: 0,
            ageing: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
struct Agent {
    skills: Vec<String>,
    state: State,
}

#[derive(Clone, Debug)]
struct Waiting {
    call: CallId,
    skill: Option<String>,
    priority: i64,
    since: Millis,
}

/// The ACD.
#[derive(Clone, Debug, Default)]
pub struct Acd {
    rules: Rules,
    agents: BTreeMap<String, Agent>,
    waiting: Vec<Waiting>,
    ringing: BTreeMap<CallId, Waiting>,
    actions: VecDeque<Action>,
}

impl Acd {
    /// An ACD with these rules and no agents.
    pub fn new(rules: Rules) -> Acd {
        Acd {
            rules,
            ..Acd::default()
        }
    }

    /// Adds an agent, not ready until [`Acd::set_ready`].
    pub fn add_agent(&mut self, name: &str, skills: &[&str]) {
        let agent = Agent {
            skills: skills.iter().map(|s| (*s).to_string()).collect(),
            state: State::Idle {
                reason: "logged in".into(),
            },
        };
        self.agents.insert(name.to_string(), agent);
    }

    /// The agent is ready for calls (from Idle; ignored otherwise).
    pub fn set_ready(&mut self, name: &str, now: Millis) {
        if let Some(agent) = self.agents.get_mut(name)
            && matches!(agent.state, State::Idle { .. })
        {
            agent.state = State::Available { since: now };
        }
        self.assign(now);
    }

    /// The agent is not ready (only from Available).
    pub fn set_not_ready(&mut self, name: &str, reason: &str) {
        if let Some(agent) = self.agents.get_mut(name)
            && matches!(agent.state, State::Available { .. })
        {
            agent.state = State::Idle {
                reason: reason.to_string(),
            };
        }
    }

    /// A call starts waiting; `skill` is the skill its queue requires.
    pub fn enqueue(&mut self, call: CallId, skill: Option<&str>, priority: i64, now: Millis) {
        self.waiting.push(Waiting {
            call,
            skill: skill.map(str::to_string),
            priority,
            since: now,
        });
        self.assign(now);
    }

    /// A waiting or ringing call is gone (the caller hung up, or its queue
    /// timed out). A ringing agent becomes available again.
    pub fn remove(&mut self, call: CallId, now: Millis) {
        self.waiting.retain(|w| w.call != call);
        if self.ringing.remove(&call).is_some() {
            for agent in self.agents.values_mut() {
                if matches!(agent.state, State::Ringing { call: c, .. } if c == call) {
                    agent.state = State::Available { since: now };
                }
            }
        }
        self.assign(now);
    }

    /// The offered agent answered.
    pub fn answered(&mut self, call: CallId) {
        if self.ringing.remove(&call).is_none() {
            return;
        }
        for agent in self.agents.values_mut() {
            if matches!(agent.state, State::Ringing { call: c, .. } if c == call) {
                agent.state = State::Busy { call };
            }
        }
    }

    /// A conversation ended: its agent wraps up.
    pub fn ended(&mut self, call: CallId, now: Millis) {
        let until = now + self.rules.wrap_up_ms + self.rules.extra_wrap_up_ms;
        for agent in self.agents.values_mut() {
            if agent.state == (State::Busy { call }) {
                agent.state = if until > now {
                    State::WrapUp { until }
                } else {
                    State::Available { since: now }
                };
            }
        }
        self.assign(now);
    }

    /// Time passed: RONA for offers past their ring time, wrap-ups ended.
    pub fn handle_timeout(&mut self, now: Millis) {
        let mut withdrawn = Vec::new();
        for (name, agent) in &mut self.agents {
            match agent.state {
                State::Ringing { call, until } if until <= now => {
                    agent.state = State::Idle {
                        reason: "RONA".into(),
                    };
                    withdrawn.push((call, name.clone()));
                }
                State::WrapUp { until } if until <= now => {
                    agent.state = State::Available { since: now }
                }
                _ => {}
            }
        }
        for (call, agent) in withdrawn {
            // Back to its place: its arrival time is kept.
            if let Some(waiting) = self.ringing.remove(&call) {
                self.waiting.push(waiting);
            }
            self.actions.push_back(Action::Withdraw { call, agent });
        }
        self.assign(now);
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Acd::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.agents
            .values()
            .filter_map(|a| match a.state {
                State::Ringing { until, .. } | State::WrapUp { until } => Some(until),
                _ => None,
            })
            .min()
    }

    /// An agent's state.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.agents.get(name).map(|a| &a.state)
    }

    /// Calls waiting (not ringing), in the order they would be served.
    pub fn queue(&self, now: Millis) -> Vec<CallId> {
        let mut order: Vec<&Waiting> = self.waiting.iter().collect();
        order.sort_by_key(|w| (std::cmp::Reverse(self.effective(w, now)), w.since, w.call));
        order.into_iter().map(|w| w.call).collect()
    }

    /// The priority a call is served by: its priority, shifted to be
    /// positive (so that a factor always raises it), times the ageing factor
    /// of the highest level its wait has reached.
    fn effective(&self, waiting: &Waiting, now: Millis) -> i64 {
        let waited = now.saturating_sub(waiting.since);
        let factor = self
            .rules
            .ageing
            .iter()
            .filter(|(after, _)| waited >= *after)
            .map(|(_, f)| *f)
            .max()
            .unwrap_or(1)
            .max(1);
        waiting
            .priority
            .saturating_add(PRIORITY_SHIFT)
            .max(1)
            .saturating_mul(factor)
    }

    /// Offers waiting calls, best first, to the longest-idle suitable agent.
    fn assign(&mut self, now: Millis) {
        for call in self.queue(now) {
            let Some(position) = self.waiting.iter().position(|w| w.call == call) else {
                continue;
            };
            let skill = self.waiting.get(position).and_then(|w| w.skill.clone());
            let agent = self
                .agents
                .iter()
                .filter_map(|(name, a)| match a.state {
                    State::Available { since }
                        if skill.as_ref().is_none_or(|s| a.skills.contains(s)) =>
                    {
                        Some((since, name.clone()))
                    }
                    _ => None,
                })
                .min();
            let Some((_, name)) = agent else { continue };
            let waiting = self.waiting.remove(position);
            if let Some(agent) = self.agents.get_mut(&name) {
                agent.state = State::Ringing {
                    call,
                    until: now + self.rules.ring_ms,
                };
            }
            self.ringing.insert(call, waiting);
            self.actions.push_back(Action::Offer { call, agent: name });
        }
    }
}
