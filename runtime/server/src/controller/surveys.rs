//! Surveys over SIP (SPEC 5.7). The engine runs them (questions, keys,
//! re-prompts); here their answers are stored and logged, and surveys in
//! `outbound` mode are scheduled in the embedded database and placed at
//! their time: a call through the trunk to the customer, which once
//! answered runs the survey (`Engine::handle_survey`).

use super::{Core, PlacedLeg, fields};
use dialect_sip::message::Message;
use dialect_store::{ScheduledSurvey, SurveyAnswer};
use jiff::SignedDuration;
use std::time::{Duration, Instant};

/// Survey calls claimed at once.
const CLAIM: usize = 16;

/// How long the customer's phone rings for a survey.
const SURVEY_RING: Duration = Duration::from_secs(30);

/// A survey call being placed.
pub(crate) struct PendingSurvey {
    /// What the store holds.
    pub scheduled: ScheduledSurvey,
    /// The leg to the customer.
    pub leg: Option<PlacedLeg>,
}

impl Core {
    /// An answer to a survey question: stored and logged.
    pub(super) fn survey_answer(
        &mut self,
        call_key: u64,
        survey: String,
        question: String,
        answer: Option<String>,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let record = SurveyAnswer {
            campaign: call.campaign.clone(),
            survey: survey.clone(),
            call: format!("call-{call_key}"),
            number: call.number.clone(),
            question: question.clone(),
            answer: answer.clone(),
            at: self.wall(),
        };
        if let Some(store) = &self.store
            && let Err(error) = store.record_answer(&record)
        {
            self.record(
                call_key,
                "survey_store_failed",
                fields([("error", error.to_string().into())]),
            );
        }
        self.record(
            call_key,
            "survey_answer",
            fields([
                ("survey", survey.into()),
                ("question", question.into()),
                ("answer", answer.map_or(serde_json::Value::Null, Into::into)),
            ]),
        );
    }

    /// A survey in `outbound` mode: the call to place later.
    pub(super) fn schedule_survey(
        &mut self,
        call_key: u64,
        campaign: String,
        survey: String,
        number: String,
        delay_ms: u64,
        now: Instant,
    ) {
        let at = self.clock.at(now);
        let due = at
            .saturating_add(SignedDuration::from_millis(
                i64::try_from(delay_ms).unwrap_or(i64::MAX),
            ))
            .unwrap_or(at);
        let result = match &self.store {
            Some(store) => store
                .schedule_survey(&campaign, &survey, &number, due)
                .map_err(|e| e.to_string()),
            None => Err("no database".into()),
        };
        match result {
            Ok(id) => self.record(
                call_key,
                "survey_scheduled",
                fields([
                    ("survey", survey.into()),
                    ("scheduled", id.into()),
                    ("due", due.to_string().into()),
                ]),
            ),
            Err(error) => self.record(
                call_key,
                "survey_store_failed",
                fields([("error", error.into())]),
            ),
        }
        self.refresh_survey_due(now);
    }

    /// When the next survey call is due.
    pub(super) fn refresh_survey_due(&mut self, now: Instant) {
        let next = self
            .store
            .as_ref()
            .and_then(|s| s.next_survey_due().ok().flatten());
        self.survey_due = next.map(|at| {
            let ahead = at.duration_since(self.clock.at(now));
            now + Duration::try_from(ahead).unwrap_or(Duration::ZERO)
        });
    }

    /// Places the survey calls that are due.
    pub(super) async fn on_survey_timeout(&mut self, now: Instant) {
        if self.survey_due.is_none_or(|at| at > now) {
            return;
        }
        let claimed = match &self.store {
            Some(store) => store.claim_due_surveys(self.clock.at(now), CLAIM),
            None => return,
        };
        for scheduled in claimed.unwrap_or_default() {
            self.place_survey(scheduled, now).await;
        }
        self.refresh_survey_due(now);
    }

    async fn place_survey(&mut self, scheduled: ScheduledSurvey, now: Instant) {
        let id = scheduled.id;
        // A blacklisted number is never called (nor when the blacklist
        // cannot be read).
        if let Some(store) = &self.store {
            match store.blacklisted(&scheduled.number) {
                Ok(false) => {}
                Ok(true) => {
                    return self.survey_failed(id, "not placed: the number is on the blacklist");
                }
                Err(error) => {
                    let why = format!("not placed: the blacklist cannot be read: {error}");
                    return self.survey_failed(id, &why);
                }
            }
        }
        let Some((to, uri)) = self.trunk_target(&scheduled.number, "") else {
            return self.survey_failed(id, "no trunk is configured to call the customer");
        };
        let Some(leg) = self
            .new_leg(scheduled.number.clone(), to, uri, (true, false), None, now)
            .await
        else {
            return self.survey_failed(id, "no media port for the survey call");
        };
        let key = self.next_key;
        self.next_key += 1;
        self.survey_legs.insert(leg.tx.clone(), key);
        self.log.record(
            self.clock.at(now),
            &format!("survey-{id}"),
            "survey_dialling",
            fields([
                ("survey", scheduled.survey.clone().into()),
                ("number", scheduled.number.clone().into()),
            ]),
        );
        self.pending_surveys.insert(
            key,
            PendingSurvey {
                scheduled,
                leg: Some(leg),
            },
        );
        self.timer_seq += 1;
        self.ring_deadlines
            .insert((now + SURVEY_RING, self.timer_seq), key);
    }

    fn survey_failed(&mut self, id: i64, why: &str) {
        if let Some(store) = &self.store {
            let result = store.finish_survey(id, false, why);
            self.stored(&format!("survey-{id}"), "finish a survey call", result);
        }
        self.log.record(
            self.wall(),
            &format!("survey-{id}"),
            "survey_failed",
            fields([("reason", why.into())]),
        );
    }

    /// The customer's phone rang out.
    pub(super) fn survey_ring_deadline(&mut self, key: u64, now: Instant) {
        let ringing = self
            .pending_surveys
            .get(&key)
            .and_then(|p| p.leg.as_ref())
            .is_some_and(|l| l.dialog.is_none());
        if !ringing {
            return;
        }
        if let Some(mut pending) = self.pending_surveys.remove(&key) {
            if let Some(leg) = pending.leg.take() {
                self.survey_legs.remove(&leg.tx);
                self.end_leg(leg, now);
            }
            self.survey_failed(pending.scheduled.id, "the customer did not answer");
        }
    }

    /// A response to a survey call's INVITE: answered, the call runs the
    /// survey; refused, the survey call failed.
    pub(super) async fn on_survey_response(&mut self, key: u64, response: Message, now: Instant) {
        let status = response.status().unwrap_or(0);
        if status < 200 {
            return;
        }
        let Some(mut pending) = self.pending_surveys.remove(&key) else {
            return;
        };
        let Some(mut leg) = pending.leg.take() else {
            return;
        };
        self.survey_legs.remove(&leg.tx);
        if status >= 300 {
            leg.socket = None;
            self.end_leg(leg, now);
            return self.survey_failed(
                pending.scheduled.id,
                &format!("the customer's phone answered {status}"),
            );
        }
        if !self.answer_leg(key, &mut leg, &response, now) {
            self.end_leg(leg, now);
            return self.survey_failed(pending.scheduled.id, "the answer had no usable media");
        }
        let scheduled = pending.scheduled;
        let started = self.switch.arrive_survey(
            key,
            &scheduled.campaign,
            &scheduled.survey,
            &scheduled.number,
            self.clock.at(now),
            super::store_of(&self.store),
        );
        if let Err(error) = started {
            self.end_leg(leg, now);
            return self.survey_failed(scheduled.id, &error.to_string());
        }
        let hash = self
            .switch
            .engine_call(key)
            .and_then(|id| self.switch.engine().flow_of(id))
            .map(|f| f.hash.clone())
            .unwrap_or_default();
        self.outbound_call(
            key,
            leg,
            scheduled.campaign.clone(),
            hash,
            scheduled.number.clone(),
        );
        if let Some(call) = self.calls.get_mut(&key) {
            call.flowed = true;
            call.survey_call = Some(scheduled.id);
        }
        self.hooks.track(key, now);
        self.webhook(
            key,
            "call_answered",
            serde_json::json!({ "by": "customer", "survey": scheduled.survey }),
        );
        self.record(
            key,
            "survey_call_answered",
            fields([
                ("survey", scheduled.survey.into()),
                ("scheduled", scheduled.id.into()),
            ]),
        );
        self.pump(now).await;
    }

    /// A survey call ended: done in the store.
    pub(super) fn survey_call_ended(&mut self, id: i64, reason: &str) {
        if let Some(store) = &self.store {
            let result = store.finish_survey(id, true, reason);
            self.stored(&format!("survey-{id}"), "finish a survey call", result);
        }
    }
}
