//! The agent API's answers (the HTTP layer is `crate::api`): agent state,
//! wrap-up with a classifier and record fields, call-associated data, and
//! callbacks. Also the agents' desks (their last call, for wrap-up) and the
//! monitoring alerts of SPEC 3.2.

use super::directory::short;
use super::{Core, fields, status};
use crate::api::{ApiReply, ApiRequest};
use dialect_acd::State;
use dialect_store::{CallbackRequest, Context, Filter, Kind, QueueAccess, StoreError, validate};
use dialect_switch::wrapup;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// The contact result of a call an agent talked on.
const ANSWERED: &str = "answered";

/// Longest value of a call-associated data variable (SPEC 5.3).
pub(crate) const MAX_DATUM: usize = 256;

/// One call-associated data variable's value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Datum {
    /// The value.
    pub value: String,
    /// Bumped by each edit; an edit names the version it read.
    pub version: u64,
    /// Who last edited it.
    pub editor: Option<String>,
}

/// An agent's current or last call.
#[derive(Clone, Debug)]
pub(crate) struct Desk {
    /// The call.
    pub call: u64,
    /// Its campaign.
    pub campaign: String,
    /// The caller's number.
    pub number: String,
    /// Talking since, while connected.
    pub talking: Option<Instant>,
    /// The call ended and awaits the agent's wrap-up.
    pub wrap_up: bool,
    /// The customer record identified for the call.
    pub record: Option<i64>,
    /// The queue the call came through.
    pub queue: Option<String>,
}

fn state_json(state: &State) -> Value {
    match state {
        State::Available { .. } => json!({"state": "available"}),
        State::Idle { reason } => json!({"state": "idle", "reason": reason}),
        State::Ringing { call, .. } => json!({"state": "ringing", "call": call}),
        State::Busy { call } => json!({"state": "busy", "call": call}),
        State::WrapUp { .. } => json!({"state": "wrap_up"}),
        State::LoggedOut => json!({"state": "logged_out"}),
    }
}

/// The state's name in the agent API.
pub(super) fn state_key(state: &State) -> &'static str {
    match state {
        State::Available { .. } => "available",
        State::Idle { .. } => "idle",
        State::Ringing { .. } => "ringing",
        State::Busy { .. } => "busy",
        State::WrapUp { .. } => "wrap_up",
        State::LoggedOut => "logged_out",
    }
}

pub(super) fn state_name(state: Option<&State>) -> &'static str {
    match state {
        Some(State::Available { .. }) => "available",
        Some(State::Idle { .. }) => "idle",
        Some(State::Ringing { .. }) => "ringing",
        Some(State::Busy { .. }) => "busy",
        Some(State::WrapUp { .. }) => "in wrap-up",
        Some(State::LoggedOut) => "logged out",
        None => "unknown",
    }
}

/// The caller's number as an agent may see it: the last four digits only
/// when the campaign protects sensitive data.
pub(super) fn masked(number: &str, sensitive: bool) -> String {
    if !sensitive {
        return number.to_string();
    }
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(4);
    let tail: String = digits.iter().skip(keep).collect();
    format!("{}{tail}", "•".repeat(keep))
}

pub(super) fn store_error(error: &StoreError) -> ApiReply {
    let status = match error {
        StoreError::NotFound { .. } => 404,
        StoreError::Duplicate { .. }
        | StoreError::Started { .. }
        | StoreError::NotPending { .. }
        | StoreError::NotPlacing { .. }
        | StoreError::KindChange { .. } => 409,
        _ => 500,
    };
    ApiReply::error(status, error.to_string())
}

impl Core {
    /// Things to do once the server is up: log recovered callbacks.
    pub(super) fn startup(&mut self, now: Instant) {
        self.now = now;
        let _ = now;
        if let Some(store) = &self.store
            && let Ok(n) = dialect_store::SurveyStore::recover_surveys(store.as_ref())
            && n > 0
        {
            self.log.record(
                self.wall(),
                "",
                "surveys_recovered",
                fields([("count", n.into())]),
            );
        }
        if self.recovered > 0 {
            self.log.record(
                self.wall(),
                "",
                "callbacks_recovered",
                fields([("count", self.recovered.into())]),
            );
        }
    }

    /// An agent answered a call: their desk, the caller's last agent.
    pub(super) fn agent_connected(&mut self, call_key: u64, agent: &str, now: Instant) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let waited = call.queued.take();
        let (record, queue) = (call.record, waited.as_ref().map(|(q, _)| q.clone()));
        call.last_agent = Some(agent.to_string());
        if let Some((q, since)) = waited {
            let ms =
                u64::try_from(now.saturating_duration_since(since).as_millis()).unwrap_or(u64::MAX);
            call.last_wait = Some((q, ms));
        }
        call.transferring = false;
        let (campaign, number) = (call.campaign.clone(), call.number.clone());
        if call.data.is_empty()
            && let Some(info) = self.switch.directory().campaigns.get(&campaign)
        {
            for variable in &info.variables {
                call.data.insert(
                    variable.name.clone(),
                    Datum {
                        value: variable.default.clone(),
                        version: 1,
                        editor: None,
                    },
                );
            }
        }
        if let Some(store) = &self.store {
            let result = store.set_last_agent(&campaign, &number, agent, self.clock.at(now));
            self.stored(
                &format!("call-{call_key}"),
                "remember the caller's last agent",
                result,
            );
        }
        self.hook_agent_answered(call_key, agent);
        self.desks.insert(
            agent.to_string(),
            Desk {
                call: call_key,
                campaign,
                number,
                talking: Some(now),
                wrap_up: false,
                record,
                queue,
            },
        );
    }

    /// A conversation ended: the agent owes a wrap-up.
    pub(super) fn wrap_up_started(&mut self, agent: &str, call_key: u64, now: Instant) {
        let _ = now;
        if let Some(desk) = self.desks.get_mut(agent) {
            desk.talking = None;
            desk.wrap_up = true;
            let owed = self.owed.entry(agent.to_string()).or_default();
            if owed.len() >= 1_000 {
                owed.pop_front();
            }
            owed.push_back(desk.clone());
        }
        let until = match self.switch.acd().state(agent) {
            Some(State::WrapUp { until }) => Some(until),
            _ => None,
        };
        let mut extra = fields([("call", format!("call-{call_key}").into())]);
        if let Some(until) = until {
            extra.insert(
                "for_ms".into(),
                until.saturating_sub(self.acd_ms(now)).into(),
            );
        }
        self.log_agent(agent, "wrap_up_started", extra);
    }

    /// Answers one agent API request.
    pub(super) async fn on_api(&mut self, request: ApiRequest, now: Instant) -> ApiReply {
        self.now = now;
        match request {
            ApiRequest::Agent { agent } => self.agent_view(&agent),
            ApiRequest::Login { agent } => {
                if !self.switch.directory().agents.contains_key(&agent) {
                    return ApiReply::error(404, format!("no agent {agent} in the flows"));
                }
                self.switch.login(&agent, self.clock.at(now));
                self.log_agent(&agent, "logged_in", serde_json::Map::new());
                self.agent_view(&agent)
            }
            ApiRequest::Logout { agent } => {
                if !self.switch.logout(&agent, self.clock.at(now)) {
                    let state = self.switch.acd().state(&agent);
                    return ApiReply::error(
                        409,
                        format!(
                            "{agent} cannot log out while {}",
                            state_name(state.as_ref())
                        ),
                    );
                }
                self.log_agent(&agent, "logged_out", serde_json::Map::new());
                self.agent_view(&agent)
            }
            ApiRequest::Ready { agent } => {
                if let Some(why) = self.switch.blocked(&agent) {
                    return ApiReply::error(
                        409,
                        format!("{agent} cannot become ready: {why}; send those wrap-ups first"),
                    );
                }
                if !self.switch.set_ready(&agent, self.clock.at(now)) {
                    let state = self.switch.acd().state(&agent);
                    let hint = match state {
                        Some(State::WrapUp { .. }) => "; send the wrap-up first",
                        Some(State::LoggedOut) => "; log in first",
                        _ => "",
                    };
                    return ApiReply::error(
                        409,
                        format!(
                            "{agent} cannot become ready while {}{hint}",
                            state_name(state.as_ref())
                        ),
                    );
                }
                self.log_agent(&agent, "ready", serde_json::Map::new());
                self.pump(now).await;
                self.agent_view(&agent)
            }
            ApiRequest::NotReady { agent, reason } => {
                if !self
                    .switch
                    .set_not_ready(&agent, &reason, self.clock.at(now))
                {
                    let state = self.switch.acd().state(&agent);
                    return ApiReply::error(
                        409,
                        format!(
                            "{agent} cannot go not ready while {}",
                            state_name(state.as_ref())
                        ),
                    );
                }
                self.log_agent(&agent, "not_ready", fields([("reason", reason.into())]));
                self.agent_view(&agent)
            }
            ApiRequest::ExtraWrapUp { agent } => {
                if !self.switch.extra_wrap_up(&agent, self.clock.at(now)) {
                    let state = self.switch.acd().state(&agent);
                    return ApiReply::error(
                        409,
                        format!(
                            "{agent} has no extra wrap-up time to take while {}: it is given once per wrap-up, when the campaign has `extra_wrap_up`",
                            state_name(state.as_ref())
                        ),
                    );
                }
                let until = match self.switch.acd().state(&agent) {
                    Some(State::WrapUp { until }) => until.saturating_sub(self.acd_ms(now)),
                    _ => 0,
                };
                self.log_agent(&agent, "extra_wrap_up", fields([("for_ms", until.into())]));
                self.agent_view(&agent)
            }
            ApiRequest::WrapUp {
                agent,
                classifier,
                fields: record,
                call,
            } => self.wrap_up(&agent, &classifier, record, call, now).await,
            ApiRequest::CallData { agent, call } => self.call_data(&agent, call),
            ApiRequest::EditCallData {
                agent,
                call,
                name,
                value,
                version,
            } => self.edit_call_data(&agent, call, &name, value, version),
            ApiRequest::Conference {
                agent,
                call,
                consult,
            } => {
                let reply = self.conference(&agent, call, consult, now).await;
                self.pump(now).await;
                reply
            }
            ApiRequest::PauseBot { agent, bot, paused } => {
                if !self.is_supervisor(&agent) {
                    return ApiReply::error(
                        403,
                        format!(
                            "{agent} may not pause or resume customer agents: that needs \
                             role = \"supervisor\" in the agent's configuration, or the agent \
                             among a campaign's `supervisors`"
                        ),
                    );
                }
                let Some((_, config)) = self.switch.bots().find(&bot) else {
                    return ApiReply::error(404, format!("there is no customer agent `{bot}`"));
                };
                let name = short(&config.name).to_string();
                if paused {
                    self.switch.bots_mut().paused.insert(name.clone());
                } else {
                    self.switch.bots_mut().paused.remove(&name);
                }
                self.log_agent(
                    &agent,
                    if paused { "bot_paused" } else { "bot_resumed" },
                    fields([("bot", name.clone().into())]),
                );
                ApiReply::ok(json!({ "bot": name, "paused": paused }))
            }
            ApiRequest::ListCallbacks { agent } => self.list_callbacks(&agent),
            ApiRequest::PauseRecording { agent, paused } => {
                self.pause_recording(&agent, paused, now)
            }
            ApiRequest::ListRecordings { agent, limit } => self.list_recordings(&agent, limit),
            ApiRequest::CloseTicket { agent, id } => self.close_ticket(&agent, id),
            ApiRequest::AnswerOffer { agent, accept } => {
                let reply = self.panel_answer(&agent, accept, now).await;
                self.pump(now).await;
                reply
            }
            ApiRequest::Recording { agent, id } => self.get_recording(&agent, id),
            ApiRequest::ListRecords {
                agent,
                campaign,
                after,
                limit,
            } => self.list_records(&agent, &campaign, after, limit),
            ApiRequest::Record { agent, id } => self.get_record(&agent, id),
            ApiRequest::EditRecord {
                agent,
                id,
                version,
                fields,
            } => self.edit_customer_record(&agent, id, version, fields, now),
            ApiRequest::CreateCallback { agent, body } => {
                self.save_callback(&agent, None, body, now)
            }
            ApiRequest::UpdateCallback { agent, id, body } => {
                if let Err(reply) = self.may_change_callback(&agent, id) {
                    return reply;
                }
                self.save_callback(&agent, Some(id), body, now)
            }
            ApiRequest::CancelCallback { agent, id } => {
                if let Err(reply) = self.may_change_callback(&agent, id) {
                    return reply;
                }
                let Some(store) = &self.store else {
                    return ApiReply::error(503, "callbacks are not available");
                };
                match store.cancel(id, &agent, self.clock.at(now)) {
                    Ok(callback) => {
                        self.log_agent(
                            &agent,
                            "callback_cancelled",
                            fields([("callback", id.into())]),
                        );
                        ApiReply::ok(json!({ "callback": callback }))
                    }
                    Err(error) => store_error(&error),
                }
            }
            ApiRequest::WebCallback { body } => self.save_callback("web", None, body, now),
            ApiRequest::Wallboard { agent } => self.wallboard(&agent),
            ApiRequest::Supervise {
                supervisor,
                agent,
                logout,
            } => self.supervise(&supervisor, &agent, logout, now),
            ApiRequest::CallControl { agent, action } => {
                let reply = self.call_control(&agent, action, now).await;
                self.pump(now).await;
                reply
            }
            ApiRequest::Status => {
                let agents: BTreeMap<String, Value> = self
                    .switch
                    .acd()
                    .agents()
                    .map(|(name, state)| (name.to_string(), state_json(&state)))
                    .collect();
                let mut body = status(self);
                if let Some(map) = body.as_object_mut() {
                    map.insert("waiting".into(), self.switch.acd().waiting().into());
                    map.insert("agents".into(), json!(agents));
                }
                ApiReply::ok(body)
            }
        }
    }

    /// A call offered or ringing, as the agent sees it: who (masked for
    /// `sensitive_data`), which campaign and queue, waiting how long.
    fn offer_json(&self, call: u64) -> Option<Value> {
        let c = self.calls.get(&call)?;
        let info = self.switch.directory().campaigns.get(&c.campaign);
        let sensitive = info.is_some_and(|i| i.sensitive);
        let waited = c
            .queued
            .as_ref()
            .map(|(_, since)| self.now.saturating_duration_since(*since).as_millis());
        // The customer's significant field, when the call's record has one.
        let significant = info
            .and_then(|i| i.significant.as_ref())
            .zip(c.record)
            .zip(self.store.as_ref())
            .and_then(|((field, id), store)| {
                let record = store.record(id).ok().flatten()?;
                record.fields.get(field).cloned()
            });
        Some(json!({
            "call": call,
            "caller": masked(&c.number, sensitive),
            "significant": significant,
            "campaign": c.campaign,
            "queue": c.queued.as_ref().map(|(q, _)| dialect_acd::directory::Directory::base_queue(q).to_string()),
            "waited_ms": waited.map(|w| u64::try_from(w).unwrap_or(u64::MAX)),
        }))
    }

    fn agent_view(&self, agent: &str) -> ApiReply {
        let Some(state) = self.switch.acd().state(agent) else {
            return ApiReply::error(404, format!("no agent {agent} in the flows"));
        };
        let mut body = state_json(&state);
        if let Some(map) = body.as_object_mut() {
            map.insert("agent".into(), agent.into());
            let ms = self.acd_ms(self.now);
            let since = self.switch.acd().state_since(agent).unwrap_or(ms);
            map.insert("in_state_ms".into(), ms.saturating_sub(since).into());
            if let State::WrapUp { until } = &state {
                map.insert("wrap_up_left_ms".into(), until.saturating_sub(ms).into());
            }
            map.insert("supervisor".into(), self.is_supervisor(agent).into());
            map.insert("reasons".into(), json!(self.config.api.not_ready_reasons));
            // The call the agent talks on (or holds): who, from where.
            if let Some(desk) = self.desks.get(agent).filter(|d| d.talking.is_some())
                && let Some(c) = self.calls.get(&desk.call)
            {
                let sensitive = self
                    .switch
                    .directory()
                    .campaigns
                    .get(&desk.campaign)
                    .is_some_and(|i| i.sensitive);
                let talking = desk
                    .talking
                    .map(|t| self.now.saturating_duration_since(t).as_millis());
                // The agent's consultation for this call, if any (from
                // their phone, or the browser phone).
                let consult = self
                    .calls
                    .iter()
                    .find(|(_, k)| k.consult_of == Some(desk.call) && k.number == agent)
                    .map(|(key, k)| {
                        json!({
                            "call": key,
                            "answered": k.agent.as_ref().is_some_and(|l| l.media.is_some()),
                            "with": k.agent.as_ref().map(|l| l.name.clone()),
                        })
                    });
                map.insert(
                    "call".into(),
                    json!({
                        "consult": consult,
                        "call": desk.call,
                        "caller": masked(&desk.number, sensitive),
                        "campaign": desk.campaign,
                        "queue": desk.queue.as_deref().map(dialect_acd::directory::Directory::base_queue),
                        "talking_ms": talking.map(|t| u64::try_from(t).unwrap_or(u64::MAX)),
                        "held": c.held,
                        "recording": self.recording_state(desk.call),
                    }),
                );
            }
            let queues = self
                .switch
                .directory()
                .agents
                .get(agent)
                .map(|(q, _)| q.clone())
                .unwrap_or_default();
            map.insert("queues".into(), json!(queues));
            // A call offered in the panel: who, from where, waiting how
            // long, to accept or decline.
            if let Some(offer) = self
                .panel_offers
                .get(agent)
                .and_then(|call| self.offer_json(*call))
            {
                map.insert("offer".into(), offer);
            }
            // A call ringing the agent, with the same facts.
            if let State::Ringing { call, .. } = &state
                && let Some(ringing) = self.offer_json(*call)
            {
                map.insert("ringing".into(), ringing);
            }
            let configured = self.config.agents.iter().find(|a| a.name == agent);
            let phone = match configured {
                Some(a) if a.browser_phone() => "browser",
                Some(a) if a.phone_number().is_some() => "number",
                _ => "sip",
            };
            map.insert("phone".into(), phone.into());
            if let Some(phones) = self.phones.as_ref().filter(|p| p.serves(agent)) {
                let status = phones.status(agent);
                map.insert(
                    "phone_status".into(),
                    json!({
                        "connected": status.connected,
                        "ringing": status.ringing,
                        "in_call": status.in_call,
                        "consult": status.consult.map(|(target, answered)| json!({
                            "target": target,
                            "answered": answered,
                        })),
                    }),
                );
            }
            if let Some(desk) = self.desks.get(agent) {
                map.insert("last_call".into(), desk.call.into());
                map.insert("wrap_up_pending".into(), desk.wrap_up.into());
                // The classifiers the last call may be wrapped up with, by
                // the names agents see (`label`).
                let offered: Vec<Value> = self
                    .switch
                    .directory()
                    .campaigns
                    .get(&desk.campaign)
                    .map(|c| {
                        c.classifiers
                            .iter()
                            .filter(|(name, _)| wrapup::classifier(c, name, ANSWERED).is_ok())
                            .map(|(name, k)| {
                                json!({ "name": name, "label": k.label.clone().unwrap_or_else(|| name.clone()) })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                map.insert("classifiers".into(), offered.into());
                // The record fields a wrap-up fills, required ones marked.
                let wrap_fields: Vec<Value> = self
                    .switch
                    .directory()
                    .campaigns
                    .get(&desk.campaign)
                    .map(|c| {
                        c.fields
                            .iter()
                            .map(|f| {
                                let (kind, editable) = c
                                    .field_specs
                                    .get(f)
                                    .cloned()
                                    .unwrap_or(("none".into(), true));
                                json!({
                                    "name": f,
                                    "required": c.required.contains(f),
                                    "type": kind,
                                    "editable": editable,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                map.insert("wrap_up_fields".into(), wrap_fields.into());
                map.insert("campaign".into(), desk.campaign.clone().into());
            }
            let owed: Vec<u64> = self
                .owed
                .get(agent)
                .map(|o| o.iter().map(|d| d.call).collect())
                .unwrap_or_default();
            map.insert("owed_wrap_ups".into(), json!(owed));
        }
        ApiReply::ok(body)
    }

    /// The agent's wrap-up: a classifier of the call's campaign and the
    /// record fields (every required one filled, no unknown one).
    async fn wrap_up(
        &mut self,
        agent: &str,
        classifier: &str,
        record: BTreeMap<String, String>,
        call: Option<u64>,
        now: Instant,
    ) -> ApiReply {
        let owed = |c: u64| {
            self.owed
                .get(agent)
                .and_then(|o| o.iter().find(|d| d.call == c))
                .cloned()
        };
        let desk = match call {
            Some(c) => match owed(c) {
                Some(desk) => desk,
                None => {
                    let owes: Vec<u64> = self
                        .owed
                        .get(agent)
                        .map(|o| o.iter().map(|d| d.call).collect())
                        .unwrap_or_default();
                    return ApiReply::refused(
                        409,
                        format!("{agent} owes no wrap-up for call {c}"),
                        json!({ "owed": owes }),
                    );
                }
            },
            None => match self.desks.get(agent).cloned() {
                Some(desk) => desk,
                None => return ApiReply::error(409, format!("{agent} has no call to wrap up")),
            },
        };
        let current = self.desks.get(agent).is_some_and(|d| d.call == desk.call);
        if current && !desk.wrap_up {
            let why = if desk.talking.is_some() {
                "the call is still going on"
            } else {
                "it was already wrapped up"
            };
            return ApiReply::error(
                409,
                format!("call {} cannot be wrapped up: {why}", desk.call),
            );
        }
        let Some(info) = self.switch.directory().campaigns.get(&desk.campaign) else {
            return ApiReply::error(409, format!("campaign {} is not loaded", desk.campaign));
        };
        match wrapup::classifier(info, classifier, ANSWERED) {
            Ok(_) => {}
            Err(wrapup::Refused::NotOffered(results)) => {
                return ApiReply::refused(
                    422,
                    format!(
                        "classifier `{classifier}` is not offered for {ANSWERED} calls, only for: {}",
                        results.join(", ")
                    ),
                    json!({ "offered_for": results }),
                );
            }
            Err(_) => {
                let known: Vec<&String> = info.classifiers.keys().collect();
                return ApiReply::refused(
                    422,
                    format!(
                        "campaign {} has no classifier `{classifier}`",
                        desk.campaign
                    ),
                    json!({ "classifiers": known }),
                );
            }
        }
        let missing: Vec<&String> = info
            .required
            .iter()
            .filter(|f| record.get(*f).is_none_or(|v| v.trim().is_empty()))
            .collect();
        let unknown: Vec<&String> = record
            .keys()
            .filter(|f| !info.fields.contains(*f))
            .collect();
        if !missing.is_empty() || !unknown.is_empty() {
            let list = |names: &[&String]| {
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!(
                    "required record fields are empty: {}",
                    list(&missing)
                ));
            }
            if !unknown.is_empty() {
                parts.push(format!(
                    "the campaign has no record fields {}",
                    list(&unknown)
                ));
            }
            return ApiReply::refused(
                422,
                format!("the wrap-up was refused: {}", parts.join("; ")),
                json!({ "missing": missing, "unknown": unknown }),
            );
        }
        // Each value of its type (PESEL, NIP, REGON, e-mail), as an edit's:
        // what goes into the record is checked and normalised.
        let record = match super::records_api::check_fields(info, &record, false) {
            Ok(record) => record,
            Err(refused) => return refused,
        };
        let at = self.clock.at(now);
        if let Some(store) = &self.store
            && let Err(error) = store.record_wrap_up(
                &format!("call-{}", desk.call),
                &desk.campaign,
                agent,
                &desk.number,
                classifier,
                &json!(record).to_string(),
                at,
            )
        {
            self.log_agent(
                agent,
                "wrap_up_store_failed",
                fields([("error", error.to_string().into())]),
            );
        }
        // The fields the agent filled go into the call's record.
        if let (Some(id), Some(store)) = (desk.record, &self.store)
            && !record.is_empty()
        {
            let result = store
                .record(id)
                .and_then(|r| r.ok_or(dialect_store::StoreError::NoRecord { id }))
                .and_then(|r| store.edit_record(id, &record, r.version, at));
            self.stored(
                &format!("call-{}", desk.call),
                "write the wrap-up's fields",
                result,
            );
        }
        let wrap = wrapup::WrapUp {
            campaign: &desk.campaign,
            number: &desk.number,
            record: desk.record,
            result: ANSWERED,
            agent,
            classifier,
            queue: desk.queue.as_deref(),
        };
        let decision = match self
            .switch
            .wrap_up(desk.call, &wrap, at, super::store_of(&self.store))
        {
            Ok(decision) => decision,
            Err(refused) => return ApiReply::error(409, refused.to_string()),
        };
        if let wrapup::Recall::At { start, end } = &decision.recall {
            self.schedule_recall(
                &desk,
                classifier,
                *start,
                *end,
                decision.private_to.clone(),
                now,
            );
        }
        let private_to = decision.private_to.clone();
        let late =
            !current || !matches!(self.switch.acd().state(agent), Some(State::WrapUp { .. }));
        if current {
            self.switch.end_wrap_up(agent, self.clock.at(now));
            if let Some(d) = self.desks.get_mut(agent) {
                d.wrap_up = false;
            }
        }
        if let Some(owed) = self.owed.get_mut(agent) {
            owed.retain(|d| d.call != desk.call);
        }
        let mut extra = fields([
            ("call", format!("call-{}", desk.call).into()),
            ("classifier", classifier.into()),
            ("fields", json!(record)),
            ("late", late.into()),
        ]);
        if let Some(owner) = private_to {
            extra.insert("private_to".into(), owner.into());
        }
        self.log_agent(agent, "wrap_up", extra);
        self.webhook_for(
            &desk.campaign,
            &format!("call-{}", desk.call),
            "wrap_up",
            json!({
                "agent": short(agent),
                "classifier": classifier,
                "fields": record,
            }),
        );
        self.pump(now).await;
        self.agent_view(agent)
    }

    /// A classifier's recall: stored as a callback of kind `recall` in the
    /// queue the call came through, placed when due like any callback
    /// (the private record's owner first), never after `end`.
    fn schedule_recall(
        &mut self,
        desk: &Desk,
        classifier: &str,
        start: jiff::Timestamp,
        end: Option<jiff::Timestamp>,
        owner: Option<String>,
        now: Instant,
    ) {
        let subject = format!("call-{}", desk.call);
        let Some(queue) = desk.queue.clone() else {
            self.log.record(
                self.clock.at(now),
                &subject,
                "recall_refused",
                fields([(
                    "error",
                    "the call came through no queue to recall it from".into(),
                )]),
            );
            return;
        };
        let reason = format!("recall: {classifier}");
        let created = dialect_store::Valid::recall(
            &desk.campaign,
            &desk.number,
            &queue,
            start,
            end,
            &reason,
            owner,
        )
        .map_err(|r| r.to_string())
        .and_then(|valid| match &self.store {
            Some(store) => store
                .create(&valid, "wrap-up", self.clock.at(now))
                .map_err(|e| e.to_string()),
            None => Err("callbacks are not available".into()),
        });
        match created {
            Ok(created) => {
                self.log.record(
                    self.clock.at(now),
                    &subject,
                    "recall_scheduled",
                    fields([
                        ("callback", created.callback.id.into()),
                        ("at", start.to_string().into()),
                        ("queue", queue.into()),
                    ]),
                );
                self.refresh_callback_due(now);
            }
            Err(error) => {
                self.log.record(
                    self.clock.at(now),
                    &subject,
                    "recall_refused",
                    fields([("error", error.into())]),
                );
            }
        }
    }

    /// The agent may see a call's data while on it or wrapping it up.
    fn agents_call(&self, agent: &str, call: u64) -> Result<(), ApiReply> {
        if !self.calls.contains_key(&call) {
            return Err(ApiReply::error(
                404,
                format!("call {call} is not in progress"),
            ));
        }
        if self.desks.get(agent).is_none_or(|d| d.call != call) {
            return Err(ApiReply::error(
                403,
                format!("call {call} is not {agent}'s call"),
            ));
        }
        Ok(())
    }

    fn call_data(&self, agent: &str, call_key: u64) -> ApiReply {
        if let Err(reply) = self.agents_call(agent, call_key) {
            return reply;
        }
        let Some(call) = self.calls.get(&call_key) else {
            return ApiReply::error(404, format!("call {call_key} is not in progress"));
        };
        let info = self.switch.directory().campaigns.get(&call.campaign);
        let sensitive = info.is_some_and(|c| c.sensitive);
        let variables: Vec<Value> = info
            .map(|c| c.variables.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|v| {
                let datum = call.data.get(&v.name).cloned().unwrap_or_default();
                let value = if v.secure {
                    "•".repeat(datum.value.chars().count().min(8))
                } else {
                    datum.value
                };
                json!({
                    "name": v.name,
                    "value": value,
                    "editable": v.editable,
                    "secure": v.secure,
                    "version": datum.version,
                    "edited_by": datum.editor,
                })
            })
            .collect();
        // The customer record identified for the call, with its fields.
        let record = match (call.record, &self.store) {
            (Some(id), Some(store)) => match store.record(id) {
                Ok(Some(mut record)) => {
                    // `sensitive_data`: the record's numbers are masked too.
                    for number in &mut record.numbers {
                        *number = masked(number, sensitive);
                    }
                    super::records_api::record_json(&record)
                }
                Ok(None) => Value::Null,
                Err(error) => {
                    self.stored::<(), _>(
                        &format!("call-{call_key}"),
                        "reading its record",
                        Err(error),
                    );
                    Value::Null
                }
            },
            _ => Value::Null,
        };
        ApiReply::ok(json!({
            "call": call_key,
            "campaign": call.campaign,
            "caller": masked(&call.number, sensitive),
            "variables": variables,
            "record": record,
        }))
    }

    /// An edit names the version it read: the first of two concurrent
    /// edits wins, the second is told who changed the value.
    fn edit_call_data(
        &mut self,
        agent: &str,
        call_key: u64,
        name: &str,
        value: String,
        version: u64,
    ) -> ApiReply {
        if let Err(reply) = self.agents_call(agent, call_key) {
            return reply;
        }
        let Some(call) = self.calls.get_mut(&call_key) else {
            return ApiReply::error(404, format!("call {call_key} is not in progress"));
        };
        let Some(variable) = self
            .switch
            .directory()
            .campaigns
            .get(&call.campaign)
            .and_then(|c| c.variables.iter().find(|v| v.name == name))
        else {
            return ApiReply::error(404, format!("call {call_key} has no variable `{name}`"));
        };
        if !variable.editable {
            return ApiReply::error(403, format!("`{name}` is read-only"));
        }
        let length = value.chars().count();
        if length > MAX_DATUM {
            return ApiReply::error(
                422,
                format!("`{name}` may hold at most {MAX_DATUM} characters; the value has {length}"),
            );
        }
        let secure = variable.secure;
        let datum = call.data.entry(name.to_string()).or_default();
        if datum.version != version {
            let by = datum.editor.clone().unwrap_or_else(|| "someone".into());
            return ApiReply::refused(
                409,
                format!(
                    "`{name}` was changed by {by} meanwhile (now version {}); reload it and edit again",
                    datum.version
                ),
                json!({ "version": datum.version, "edited_by": by }),
            );
        }
        datum.value = value.clone();
        datum.version += 1;
        datum.editor = Some(agent.to_string());
        let new_version = datum.version;
        let shown = if secure {
            Value::from("•••")
        } else {
            value.into()
        };
        self.record(
            call_key,
            "data_edited",
            fields([
                ("agent", agent.into()),
                ("variable", name.into()),
                ("value", shown),
                ("version", new_version.into()),
            ]),
        );
        self.webhook(
            call_key,
            "record_edited",
            json!({ "agent": agent, "variable": name, "version": new_version }),
        );
        ApiReply::ok(json!({ "name": name, "version": new_version }))
    }

    /// Whether the agent is a supervisor: `role = "supervisor"` in the
    /// configuration, or named in a campaign's `supervisors`.
    pub(super) fn is_supervisor(&self, agent: &str) -> bool {
        self.config
            .agents
            .iter()
            .any(|a| a.name == agent && a.supervisor())
            || self
                .switch
                .directory()
                .campaigns
                .values()
                .any(|c| c.supervisors.iter().any(|s| s == agent))
    }

    /// An agent changes only the callbacks they created or were given, or
    /// those of the queues they serve; a supervisor changes any.
    fn may_change_callback(&self, agent: &str, id: i64) -> Result<(), ApiReply> {
        let Some(store) = &self.store else {
            return Err(ApiReply::error(503, "callbacks are not available"));
        };
        let callback = store.get(id).map_err(|error| store_error(&error))?;
        if self.is_supervisor(agent) {
            return Ok(());
        }
        let serves = self
            .switch
            .directory()
            .agents
            .get(agent)
            .is_some_and(|(queues, _)| queues.contains(&callback.queue));
        if callback.created_by == agent || callback.assignee.as_deref() == Some(agent) || serves {
            return Ok(());
        }
        Err(ApiReply::error(
            403,
            format!(
                "callback {id} belongs to {} in queue {}: {agent} may change only their own \
                 callbacks and their queues'",
                callback.created_by, callback.queue
            ),
        ))
    }

    fn list_callbacks(&self, agent: &str) -> ApiReply {
        let Some(store) = &self.store else {
            return ApiReply::error(503, "callbacks are not available");
        };
        let queues = self
            .switch
            .directory()
            .agents
            .get(agent)
            .map(|(q, _)| q.clone())
            .unwrap_or_default();
        match store.list(&Filter::default()) {
            Ok(all) => {
                let mine: Vec<_> = all
                    .into_iter()
                    .filter(|c| {
                        c.created_by == agent
                            || c.assignee.as_deref() == Some(agent)
                            || queues.contains(&c.queue)
                    })
                    .collect();
                ApiReply::ok(json!({ "callbacks": mine }))
            }
            Err(error) => store_error(&error),
        }
    }

    /// Creates (or updates) a callback after every rule of SPEC 5.5.
    fn save_callback(
        &mut self,
        agent: &str,
        id: Option<i64>,
        body: Value,
        now: Instant,
    ) -> ApiReply {
        let request: CallbackRequest = match serde_json::from_value(body) {
            Ok(request) => request,
            Err(error) => {
                return ApiReply::error(400, format!("the callback request is malformed: {error}"));
            }
        };
        if agent == "web" && request.kind != Kind::Web {
            return ApiReply::error(400, "a website may only request `web` callbacks");
        }
        if agent != "web" && !request.kind.is_scheduled() {
            return ApiReply::error(
                400,
                "agents create `scheduled` or `personal` callbacks; `web` ones come from the website",
            );
        }
        let mut request = request;
        if let Some(queue) = self.switch.directory().queue_named(request.queue.trim()) {
            request.queue = queue;
        }
        let serves = self
            .switch
            .directory()
            .agents
            .get(agent)
            .map(|(q, _)| q.clone())
            .unwrap_or_default();
        let known: Vec<String> = self.switch.directory().queues.keys().cloned().collect();
        let web = agent == "web";
        let access = move |queue: &str| {
            if !known.iter().any(|q| q == queue) {
                QueueAccess::Unknown
            } else if web || serves.iter().any(|q| q == queue) {
                QueueAccess::Allowed
            } else {
                QueueAccess::NotMember
            }
        };
        // Team members: the agents who share a queue with this agent.
        let mates: Vec<String> = self
            .switch
            .directory()
            .agents
            .iter()
            .filter(|(name, (queues, _))| {
                name.as_str() != agent
                    && queues.iter().any(|q| {
                        self.switch
                            .directory()
                            .agents
                            .get(agent)
                            .is_some_and(|(mine, _)| mine.contains(q))
                    })
            })
            .map(|(name, _)| name.clone())
            .collect();
        let context = Context::new(agent, access).with_assignees(mates);
        let at = self.clock.at(now);
        let valid = match validate(&request, at, &context) {
            Ok(valid) => valid,
            Err(refusals) => {
                let first = refusals
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let more = refusals.len().saturating_sub(1);
                let message = if more > 0 {
                    format!("the callback was refused: {first} (and {more} more)")
                } else {
                    format!("the callback was refused: {first}")
                };
                return ApiReply::refused(422, message, json!(refusals));
            }
        };
        let Some(store) = &self.store else {
            return ApiReply::error(503, "callbacks are not available");
        };
        let result = match id {
            None => store
                .create(&valid, agent, at)
                .map(|c| (c.callback, c.duplicate)),
            Some(id) => store.update(id, &valid, agent, at).map(|c| (c, false)),
        };
        match result {
            Ok((callback, duplicate)) => {
                self.log.record(
                    at,
                    "",
                    if id.is_some() {
                        "callback_updated"
                    } else {
                        "callback_created"
                    },
                    fields([
                        ("callback", callback.id.into()),
                        ("kind", callback.kind.as_str().into()),
                        ("by", short(agent).into()),
                        ("queue", callback.queue.clone().into()),
                        ("due", callback.due.to_string().into()),
                        ("duplicate", duplicate.into()),
                    ]),
                );
                let status = if id.is_none() && !duplicate { 201 } else { 200 };
                ApiReply {
                    status,
                    body: json!({ "callback": callback, "duplicate": duplicate }),
                }
            }
            Err(error) => store_error(&error),
        }
    }

    /// `POST /api/tickets/{id}/close`: by its owner or a supervisor of its
    /// campaign.
    fn close_ticket(&mut self, agent: &str, id: i64) -> ApiReply {
        let Some(store) = &self.store else {
            return ApiReply::error(503, "tickets are not available");
        };
        let ticket = match store.ticket(id) {
            Ok(Some(ticket)) => ticket,
            Ok(None) => return ApiReply::error(404, format!("there is no ticket {id}")),
            Err(error) => return store_error(&error),
        };
        // Its owner, a configured supervisor, or a supervisor of its
        // campaign: not a supervisor of another campaign.
        let supervises = self
            .supervised(agent)
            .is_some_and(|c| c.is_none_or(|list| list.contains(&ticket.campaign)));
        if ticket.owner.as_deref() != Some(agent) && !supervises {
            return ApiReply::error(
                403,
                format!(
                    "{agent} may not close ticket {id}: it is its owner's or a supervisor's of campaign {}",
                    ticket.campaign
                ),
            );
        }
        if ticket.status == "closed" {
            return ApiReply::error(409, format!("ticket {id} is closed already"));
        }
        let ticket = match store.close_ticket(id) {
            Ok(ticket) => ticket,
            Err(error) => return store_error(&error),
        };
        self.switch.ticket_closed(&ticket.campaign, id);
        self.log_agent(
            agent,
            "ticket_closed",
            fields([
                ("ticket", id.into()),
                ("campaign", ticket.campaign.clone().into()),
            ]),
        );
        self.webhook_for(
            &ticket.campaign,
            &format!("ticket-{id}"),
            "ticket_changed",
            json!({ "ticket": id, "status": "closed", "team": ticket.team, "owner": ticket.owner }),
        );
        ApiReply::ok(json!({ "ticket": ticket }))
    }

    /// A monitoring alert the switch raised or cleared: logged (`alert`,
    /// `alert_cleared`), sent as the `alert` webhook, and e-mailed to the
    /// campaign's supervisors who have an `email` in the configuration.
    pub(super) fn on_alert(
        &mut self,
        campaign: &str,
        alert: &str,
        subject: &str,
        value: Value,
        raised: bool,
    ) {
        let event = if raised { "alert" } else { "alert_cleared" };
        self.log.record(
            self.wall(),
            "",
            event,
            fields([
                ("campaign", campaign.into()),
                ("alert", alert.into()),
                ("subject", subject.into()),
                ("value", value.clone()),
            ]),
        );
        let data = json!({
            "alert": alert,
            "subject": subject,
            "value": value,
            "raised": raised,
        });
        self.webhook_for(campaign, &format!("alert-{campaign}"), "alert", data);
        let supervisors: Vec<String> = self
            .switch
            .directory()
            .campaigns
            .get(campaign)
            .map(|c| c.supervisors.clone())
            .unwrap_or_default();
        let about = if subject.is_empty() {
            String::new()
        } else {
            format!(" ({subject})")
        };
        let title = format!(
            "[{campaign}] alert {alert}{about} {}",
            if raised { "raised" } else { "cleared" }
        );
        let text = if raised {
            format!(
                "Campaign {campaign}: the alert {alert}{about} was raised at {} (measured: {value}).",
                self.wall()
            )
        } else {
            format!(
                "Campaign {campaign}: the alert {alert}{about} was cleared at {}.",
                self.wall()
            )
        };
        let addresses: Vec<String> = self
            .config
            .agents
            .iter()
            .filter(|a| supervisors.contains(&a.name) || a.supervisor())
            .filter_map(|a| a.email.clone())
            .collect();
        for to in addresses {
            self.notify_mail(
                campaign,
                &format!("alert-{campaign}"),
                &to,
                &title,
                &text,
                None,
            );
        }
    }
}
