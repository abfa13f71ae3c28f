//! Customer records through the agent API (issue 17): a campaign's records
//! page by page, one record, and edits. An edit names the version it read
//! (a stale one is refused with the current version) and every value is
//! checked like an import's: the field must be the campaign's and
//! editable, PESEL, NIP and REGON with their check digits, `email` as an
//! address. An edit of a record that is not the agent's current call's is
//! "record edited without interaction" (SPEC 5.9): the `record_edited`
//! webhook.

use super::{Core, fields};
use crate::api::ApiReply;
use dialect_acd::directory::CampaignInfo;
use dialect_store::fields::{self as types, FieldType};
use dialect_store::{CustomerRecord, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// Record fields as an agent gives them (an edit, or a wrap-up's form):
/// each a field of the campaign (or the system field `email`), editable
/// when `editing`, of its type (PESEL, NIP, REGON check digits; an e-mail
/// address), a `required` one not emptied; normalised. Every problem is
/// listed (`422`).
pub(super) fn check_fields(
    info: &CampaignInfo,
    changes: &BTreeMap<String, String>,
    editing: bool,
) -> Result<BTreeMap<String, String>, ApiReply> {
    let mut checked = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in changes {
        let value = value.trim();
        let result = match (name.as_str(), info.field_specs.get(name)) {
            ("email", _) if value.is_empty() => Ok(String::new()),
            ("email", _) => types::email(value).map_err(|e| e.0),
            (_, None) => Err(format!(
                "the campaign has no record field `{name}` (it has: {})",
                info.fields.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            (_, Some((_, false))) if editing => Err(format!("`{name}` is not editable")),
            (_, Some(_)) if value.is_empty() => {
                if info.required.iter().any(|r| r == name) {
                    Err(format!("`{name}` is required"))
                } else {
                    Ok(String::new())
                }
            }
            (_, Some((kind, _))) => {
                types::check(FieldType::from_flow(kind), value, &info.country_code).map_err(|e| e.0)
            }
        };
        match result {
            Ok(value) => {
                checked.insert(name.clone(), value);
            }
            Err(message) => problems.push(json!({ "field": name, "message": message })),
        }
    }
    if problems.is_empty() {
        return Ok(checked);
    }
    let words: Vec<String> = problems
        .iter()
        .filter_map(|p| p["message"].as_str().map(str::to_string))
        .collect();
    Err(ApiReply::refused(
        422,
        format!("the fields were refused: {}", words.join("; ")),
        json!(problems),
    ))
}

/// A record as the agent API shows it.
pub(super) fn record_json(r: &CustomerRecord) -> Value {
    json!({
        "id": r.id,
        "campaign": r.campaign,
        "numbers": r.numbers,
        "fields": r.fields,
        "version": r.version,
        "classifier": r.classifier,
        "closed": r.closed,
        "success": r.success,
    })
}

impl Core {
    /// A record as an agent sees it: with `sensitive_data`, its numbers
    /// show their last four digits only.
    fn shown(&self, record: &CustomerRecord) -> Value {
        let sensitive = self
            .switch
            .directory()
            .campaigns
            .get(&record.campaign)
            .is_some_and(|c| c.sensitive);
        if !sensitive {
            return record_json(record);
        }
        let mut masked = record.clone();
        for number in &mut masked.numbers {
            *number = super::agent_api::masked(number, true);
        }
        record_json(&masked)
    }

    /// Whether `agent` may read and edit record `id`: a supervisor any; an
    /// agent the record of their current call or of one they owe a
    /// wrap-up for (customer data is not every agent's to browse).
    fn may_touch(&self, agent: &str, id: i64) -> bool {
        self.is_supervisor(agent)
            || self.desks.get(agent).is_some_and(|d| d.record == Some(id))
            || self
                .owed
                .get(agent)
                .is_some_and(|o| o.iter().any(|d| d.record == Some(id)))
    }

    fn not_yours(agent: &str, id: i64) -> ApiReply {
        ApiReply::error(
            403,
            format!(
                "{agent} may not see record {id}: it is not the record of their call, and they \
                 are not a supervisor"
            ),
        )
    }

    pub(super) fn list_records(
        &self,
        agent: &str,
        campaign: &str,
        after: i64,
        limit: usize,
    ) -> ApiReply {
        if !self.is_supervisor(agent) {
            return ApiReply::error(
                403,
                format!("{agent} may not list records: that needs a supervisor"),
            );
        }
        if !self.switch.directory().campaigns.contains_key(campaign) {
            return ApiReply::error(404, format!("no campaign {campaign} is loaded"));
        }
        let Some(store) = &self.store else {
            return ApiReply::error(503, "records are not available: the server has no store");
        };
        match store.records_page(campaign, after, limit) {
            Ok(page) => {
                let next = (page.len() == limit).then(|| page.last().map(|r| r.id));
                let records: Vec<Value> = page.iter().map(|r| self.shown(r)).collect();
                ApiReply::ok(json!({ "records": records, "next_after": next.flatten() }))
            }
            Err(error) => ApiReply::error(500, format!("the records cannot be read: {error}")),
        }
    }

    pub(super) fn get_record(&self, agent: &str, id: i64) -> ApiReply {
        if !self.may_touch(agent, id) {
            return Self::not_yours(agent, id);
        }
        let Some(store) = &self.store else {
            return ApiReply::error(503, "records are not available: the server has no store");
        };
        match store.record(id) {
            Ok(Some(record)) => ApiReply::ok(json!({ "record": self.shown(&record) })),
            Ok(None) => ApiReply::error(404, format!("there is no record {id}")),
            Err(error) => ApiReply::error(500, format!("the record cannot be read: {error}")),
        }
    }

    pub(super) fn edit_customer_record(
        &mut self,
        agent: &str,
        id: i64,
        version: u64,
        changes: BTreeMap<String, String>,
        now: Instant,
    ) -> ApiReply {
        if !self.may_touch(agent, id) {
            return Self::not_yours(agent, id);
        }
        let Some(store) = &self.store else {
            return ApiReply::error(503, "records are not available: the server has no store");
        };
        let record = match store.record(id) {
            Ok(Some(record)) => record,
            Ok(None) => return ApiReply::error(404, format!("there is no record {id}")),
            Err(error) => {
                return ApiReply::error(500, format!("the record cannot be read: {error}"));
            }
        };
        let Some(info) = self.switch.directory().campaigns.get(&record.campaign) else {
            return ApiReply::error(
                409,
                format!("record {id}'s campaign {} is not loaded", record.campaign),
            );
        };
        if changes.is_empty() {
            return ApiReply::error(422, "the edit changes no field");
        }
        let checked = match check_fields(info, &changes, true) {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        let edited = match store.edit_record(id, &checked, version, self.clock.at(now)) {
            Ok(edited) => edited,
            Err(StoreError::Stale { current, .. }) => {
                return ApiReply::refused(
                    409,
                    format!(
                        "record {id} was changed meanwhile (now version {current}); reload it and edit again"
                    ),
                    json!({ "version": current }),
                );
            }
            Err(error) => {
                return ApiReply::error(500, format!("the record cannot be stored: {error}"));
            }
        };
        // On the agent's current call, the edit is part of the contact.
        let interaction = self.desks.get(agent).is_some_and(|d| d.record == Some(id));
        let names: Vec<&String> = checked.keys().collect();
        let campaign = edited.campaign.clone();
        self.log.record(
            self.clock.at(now),
            &format!("record-{id}"),
            "record_edited",
            fields([
                ("agent", agent.into()),
                ("record", id.into()),
                ("fields", json!(names)),
                ("version", edited.version.into()),
                ("interaction", interaction.into()),
            ]),
        );
        if !interaction {
            self.webhook_for(
                &campaign,
                &format!("record-{id}-v{}", edited.version),
                "record_edited",
                json!({
                    "agent": agent,
                    "record": id,
                    "fields": checked,
                    "version": edited.version,
                }),
            );
        }
        ApiReply::ok(json!({ "record": self.shown(&edited) }))
    }
}
