//! Unhandled records (SPEC 3.2, seed 004 step 1): a call an agent talked
//! on is an unhandled record of theirs until they wrap it up with a
//! classifier. A campaign's `max_unhandled_per_agent` stops offering calls
//! to an agent who owes that many wrap-ups of its calls (they become idle,
//! `unhandled records`, and cannot make themselves ready), until wrapping
//! up brings the count down to `unblock_at` (0: all handled). Both
//! adapters run this: the agent API's wrap-up and a scenario agent's
//! `classifier`.

use crate::{CallKey, Switch, fields};
use jiff::Timestamp;

/// The reason a blocked agent is idle with.
pub const BLOCKED: &str = "unhandled records";

/// The most calls remembered per agent (the oldest are forgotten).
const MAX_OWED: usize = 1_000;

impl Switch {
    /// The agent's conversation about `call` (of `campaign`) ended: they
    /// owe its wrap-up, and may now reach their campaign's limit.
    pub(crate) fn owe_wrap_up(
        &mut self,
        agent: &str,
        call: CallKey,
        campaign: String,
        now: Timestamp,
    ) {
        let owed = self.unhandled.entry(agent.to_string()).or_default();
        if owed.len() >= MAX_OWED {
            owed.pop_front();
        }
        owed.push_back((call, campaign.clone()));
        let count = owed.iter().filter(|(_, c)| *c == campaign).count();
        let Some(max) = self
            .directory
            .campaigns
            .get(&campaign)
            .and_then(|c| c.max_unhandled)
        else {
            return;
        };
        if count < usize::try_from(max).unwrap_or(usize::MAX) || self.blocked.contains_key(agent) {
            return;
        }
        self.blocked.insert(agent.to_string(), campaign.clone());
        let ms = self.acd_ms(now);
        self.acd.set_not_ready(agent, BLOCKED, ms);
        self.log(
            call,
            "agent_blocked",
            fields([
                ("agent", agent.into()),
                ("campaign", campaign.into()),
                ("unhandled", count.into()),
                ("max", max.into()),
            ]),
        );
    }

    /// The agent wrapped `call` up: one unhandled record fewer; at the
    /// blocking campaign's `unblock_at` the agent is ready again.
    pub(crate) fn handled(&mut self, agent: &str, call: CallKey, now: Timestamp) {
        if let Some(owed) = self.unhandled.get_mut(agent) {
            owed.retain(|(c, _)| *c != call);
        }
        let Some(campaign) = self.blocked.get(agent).cloned() else {
            return;
        };
        let count = self.unhandled_of(agent, &campaign);
        let unblock_at = self
            .directory
            .campaigns
            .get(&campaign)
            .map_or(0, |c| c.unblock_at);
        if count > usize::try_from(unblock_at).unwrap_or(usize::MAX) {
            return;
        }
        self.blocked.remove(agent);
        let ms = self.acd_ms(now);
        self.acd.set_ready(agent, ms);
        self.log(
            call,
            "agent_unblocked",
            fields([
                ("agent", agent.into()),
                ("campaign", campaign.into()),
                ("unhandled", count.into()),
            ]),
        );
        self.drive_acd();
    }

    /// How many calls of `campaign` the agent owes a wrap-up for.
    pub fn unhandled_of(&self, agent: &str, campaign: &str) -> usize {
        self.unhandled
            .get(agent)
            .map_or(0, |owed| owed.iter().filter(|(_, c)| c == campaign).count())
    }

    /// The calls the agent owes a wrap-up for, oldest first.
    pub fn owed_by(&self, agent: &str) -> Vec<CallKey> {
        self.unhandled
            .get(agent)
            .map(|owed| owed.iter().map(|(c, _)| *c).collect())
            .unwrap_or_default()
    }

    /// Why the agent may not be ready, if a campaign's limit blocks them.
    pub fn blocked(&self, agent: &str) -> Option<String> {
        let campaign = self.blocked.get(agent)?;
        let info = self.directory.campaigns.get(campaign);
        Some(format!(
            "{agent} owes {} wrap-ups of campaign {campaign} (its max_unhandled_per_agent is {}); \
             ready again at {}",
            self.unhandled_of(agent, campaign),
            info.and_then(|c| c.max_unhandled).unwrap_or(0),
            info.map_or(0, |c| c.unblock_at),
        ))
    }
}
