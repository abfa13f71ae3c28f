//! Wrap-up classifiers and their actions (SPEC 3.2, seed 004 step 5), one
//! rule for `dialect serve` (the agent API) and `dialect test` (a
//! scenario's agent): which classifier may close which contact, what it
//! does to the record (classifier, closed, success, moved, blacklisted,
//! private), when its recall is due (after `recall_after`, inside the
//! campaign's recall windows, before `max_recall` and `max_recall_date`),
//! and which notifications it asks for. Placing the recall is the world's
//! (the server's callback queue; the simulator notes it).

use crate::{CallKey, Store, Switch, fields};
use dialect_acd::directory::{CampaignInfo, Classifier};
use dialect_store::Classification;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::json;

/// The call an agent wraps up.
#[derive(Clone, Debug)]
pub struct WrapUp<'a> {
    /// The campaign the call belonged to.
    pub campaign: &'a str,
    /// The customer's number (E.164).
    pub number: &'a str,
    /// The record identified for the call, if one was.
    pub record: Option<i64>,
    /// The contact result (`answered`, `unanswered`, `busy`, ...).
    pub result: &'a str,
    /// The agent.
    pub agent: &'a str,
    /// The classifier chosen.
    pub classifier: &'a str,
    /// The queue the call came through (where its recall waits).
    pub queue: Option<&'a str>,
}

/// Why a wrap-up was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The campaign is not loaded.
    NoCampaign(String),
    /// The campaign has no such classifier; the ones it has.
    NoClassifier(Vec<String>),
    /// The classifier is not offered for this contact result; the results
    /// it is offered for.
    NotOffered(Vec<String>),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NoCampaign(name) => write!(f, "campaign {name} is not loaded"),
            Refused::NoClassifier(known) => write!(
                f,
                "the campaign has no such classifier; it has: {}",
                known.join(", ")
            ),
            Refused::NotOffered(results) => write!(
                f,
                "the classifier is offered only for {} contacts",
                results.join(", ")
            ),
        }
    }
}

/// When a classifier's recall is placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recall {
    /// The classifier asks for none.
    None,
    /// Due at `start`, and not to be placed after `end`.
    At {
        /// The first moment it may be placed.
        start: Timestamp,
        /// The last (the classifier's `max_recall`, the campaign's
        /// `max_recall_date`), if any.
        end: Option<Timestamp>,
    },
    /// Asked for, but no moment allows it (the reason).
    Skipped(String),
}

/// What a wrap-up decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The classifier's effect on the record.
    pub classification: Classification,
    /// Its recall.
    pub recall: Recall,
    /// The agent the record became private to.
    pub private_to: Option<String>,
    /// The campaign the record moved to.
    pub moved_to: Option<String>,
    /// The number went on the blacklist.
    pub blacklisted: bool,
    /// Notifications asked for: (`email`, address) or (`sms`, text).
    pub notify: Vec<(&'static str, String)>,
}

/// Checks that `classifier` may wrap up a contact with this result.
pub fn classifier<'i>(
    info: &'i CampaignInfo,
    name: &str,
    result: &str,
) -> Result<&'i Classifier, Refused> {
    let Some(c) = info.classifiers.get(name) else {
        return Err(Refused::NoClassifier(
            info.classifiers.keys().cloned().collect(),
        ));
    };
    if !c.offered_for.is_empty() && !c.offered_for.iter().any(|r| r == result) {
        return Err(Refused::NotOffered(c.offered_for.clone()));
    }
    Ok(c)
}

fn zone_of(info: &CampaignInfo) -> TimeZone {
    TimeZone::get(&info.zone).unwrap_or(TimeZone::UTC)
}

/// The first moment at or after `at` inside one of the campaign's recall
/// windows (`at` itself without windows), looking a fortnight ahead.
pub fn next_window(info: &CampaignInfo, at: Timestamp) -> Option<Timestamp> {
    if info.recall_windows.is_empty() {
        return Some(at);
    }
    let tz = zone_of(info);
    let local = at.to_zoned(tz.clone());
    let today = local.date();
    for offset in 0..15_i64 {
        let Ok(day) = today.checked_add(offset.days()) else {
            break;
        };
        let bit = 1u8 << day.weekday().to_monday_zero_offset();
        let mut best: Option<Timestamp> = None;
        for &(days, from, to) in &info.recall_windows {
            if days & bit == 0 {
                continue;
            }
            let (Some(open), Some(close)) = (at_minute(&tz, day, from), at_minute(&tz, day, to))
            else {
                continue;
            };
            if at >= close {
                continue;
            }
            let start = open.max(at);
            best = Some(best.map_or(start, |b| b.min(start)));
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

/// Minute `minute` of `day` in `tz` (24:00 is the next midnight).
fn at_minute(tz: &TimeZone, day: Date, minute: u32) -> Option<Timestamp> {
    let midnight = day.to_zoned(tz.clone()).ok()?;
    let after = SignedDuration::from_mins(i64::from(minute));
    midnight.timestamp().checked_add(after).ok()
}

/// `at`, rounded up to a whole second.
fn ceil_second(at: Timestamp) -> Timestamp {
    if at.subsec_nanosecond() == 0 {
        return at;
    }
    Timestamp::from_second(at.as_second().saturating_add(1)).unwrap_or(at)
}

/// When a recall of `c` wrapped up at `at` is due, if at all.
pub fn recall(info: &CampaignInfo, c: &Classifier, at: Timestamp) -> Recall {
    if !c.recall {
        return Recall::None;
    }
    let after = SignedDuration::from_millis(
        i64::try_from(c.recall_after_ms.unwrap_or(0)).unwrap_or(i64::MAX),
    );
    // Whole seconds, rounded up: the store keeps milliseconds, and a
    // recall is never placed before the moment it names.
    let due = ceil_second(at.saturating_add(after).unwrap_or(at));
    let mut end: Option<Timestamp> = c.max_recall_ms.and_then(|ms| {
        at.checked_add(SignedDuration::from_millis(i64::try_from(ms).ok()?))
            .ok()
    });
    if let Some(day) = &info.max_recall_date
        && let Ok(day) = day.parse::<Date>()
        && let Ok(next) = day.checked_add(1.day())
        && let Ok(last) = next.to_zoned(zone_of(info))
    {
        let last = last.timestamp();
        end = Some(end.map_or(last, |e| e.min(last)));
    }
    let Some(start) = next_window(info, due) else {
        return Recall::Skipped("no recall window opens within two weeks".into());
    };
    match end {
        Some(end) if start >= end => Recall::Skipped(format!(
            "the next moment a recall may be placed ({}) is past its last day",
            start.to_zoned(zone_of(info)).strftime("%Y-%m-%d %H:%M %Z")
        )),
        _ => Recall::At { start, end },
    }
}

impl Switch {
    /// An agent's wrap-up of a call: the classifier is checked against the
    /// campaign and the contact result, and its actions are applied to the
    /// record in `store` (classifier, closed and success; moved; the number
    /// blacklisted; private to an agent), each logged for the call. The
    /// recall and notifications are the world's to carry out.
    pub fn wrap_up(
        &mut self,
        call: CallKey,
        wrap: &WrapUp<'_>,
        at: Timestamp,
        store: &dyn Store,
    ) -> Result<Decision, Refused> {
        let Some(info) = self.directory.campaigns.get(wrap.campaign) else {
            return Err(Refused::NoCampaign(wrap.campaign.to_string()));
        };
        let c = classifier(info, wrap.classifier, wrap.result)?.clone();
        // A campaign may refuse records from another (`exclude_records_from`).
        let excluded = c.move_to.as_ref().is_some_and(|to| {
            self.directory.campaigns.get(to).is_some_and(|target| {
                target
                    .exclude_records_from
                    .iter()
                    .any(|f| f == wrap.campaign)
            })
        });
        let decision = Decision {
            classification: Classification {
                classifier: wrap.classifier.to_string(),
                closes: c.closes,
                success: c.success,
                keep_on_closed: info.keep_classifier_on_closed,
            },
            recall: recall(info, &c, at),
            private_to: c.private_to.clone(),
            moved_to: c
                .move_to
                .clone()
                .filter(|to| to != wrap.campaign && !excluded),
            blacklisted: c.blacklist,
            notify: c
                .email
                .iter()
                .map(|a| ("email", a.clone()))
                .chain(c.sms.iter().map(|t| ("sms", t.clone())))
                .collect(),
        };
        let mut logged = fields([
            ("agent", wrap.agent.into()),
            ("classifier", wrap.classifier.into()),
            ("closes", c.closes.into()),
            ("success", c.success.into()),
        ]);
        if let Some(record) = wrap.record {
            logged.insert("record".into(), record.into());
            if let Err(error) = store.classify_record(record, &decision.classification, at) {
                self.store_failed(call, "classify the record", &error);
            }
            if let Some(to) = &decision.moved_to {
                match store.move_record(record, to) {
                    Ok(()) => self.log(
                        call,
                        "record_moved",
                        fields([("record", record.into()), ("to", to.as_str().into())]),
                    ),
                    Err(error) => self.store_failed(call, "move the record", &error),
                }
            }
        }
        if excluded && let Some(to) = &c.move_to {
            self.log(
                call,
                "record_move_refused",
                fields([
                    ("to", to.as_str().into()),
                    (
                        "reason",
                        "the campaign excludes records from this one".into(),
                    ),
                ]),
            );
        }
        self.log(call, "classified", logged);
        if decision.blacklisted {
            match store.blacklist(wrap.number, wrap.campaign, at) {
                Ok(()) => self.log(
                    call,
                    "blacklisted",
                    fields([("number", wrap.number.into())]),
                ),
                Err(error) => self.store_failed(call, "blacklist the number", &error),
            }
        }
        if let Some(owner) = &decision.private_to {
            match store.set_owner(wrap.campaign, wrap.number, owner) {
                Ok(()) => self.log(
                    call,
                    "record_private",
                    fields([("owner", owner.as_str().into())]),
                ),
                Err(error) => self.store_failed(call, "make the record private", &error),
            }
        }
        for (channel, what) in &decision.notify {
            // An e-mail goes to the classifier's address and tells what
            // happened; an SMS goes to the customer with the classifier's
            // text.
            let (to, text) = if *channel == "email" {
                let record = wrap
                    .record
                    .map(|r| format!(", record {r}"))
                    .unwrap_or_default();
                (
                    what.clone(),
                    format!(
                        "{} wrapped up the call from {} (campaign {}{record}) with `{}`.",
                        wrap.agent, wrap.number, wrap.campaign, wrap.classifier
                    ),
                )
            } else {
                (wrap.number.to_string(), what.clone())
            };
            self.log(
                call,
                "notification",
                fields([
                    ("channel", (*channel).into()),
                    ("campaign", wrap.campaign.into()),
                    ("classifier", wrap.classifier.into()),
                    ("to", to.into()),
                    ("text", json!(text)),
                ]),
            );
        }
        self.handled(wrap.agent, call, at);
        match &decision.recall {
            Recall::None => {}
            Recall::At { start, end } => {
                let mut extra = fields([("at", start.to_string().into())]);
                if let Some(end) = end {
                    extra.insert("until".into(), end.to_string().into());
                }
                self.log(call, "recall_due", extra);
            }
            Recall::Skipped(why) => {
                self.log(
                    call,
                    "recall_skipped",
                    fields([("reason", why.as_str().into())]),
                );
            }
        }
        Ok(decision)
    }

    fn store_failed(&mut self, call: CallKey, what: &str, error: &dialect_store::StoreError) {
        self.log(
            call,
            "store_failed",
            fields([
                ("writing", what.into()),
                ("error", error.to_string().into()),
            ]),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn helpline() -> CampaignInfo {
        CampaignInfo {
            // Mon-Fri 09:00-20:00, Sat 10:00-14:00 in Warsaw.
            recall_windows: vec![(0b1_1111, 9 * 60, 20 * 60), (0b10_0000, 10 * 60, 14 * 60)],
            max_recall_date: Some("2027-12-15".into()),
            zone: "Europe/Warsaw".into(),
            ..CampaignInfo::default()
        }
    }

    fn call_back(after_ms: u64, max_ms: Option<u64>) -> Classifier {
        Classifier {
            recall: true,
            recall_after_ms: Some(after_ms),
            max_recall_ms: max_ms,
            ..Classifier::default()
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_recall_inside_a_window_is_due_after_its_delay() {
        let r = recall(
            &helpline(),
            &call_back(2 * 3_600_000, None),
            at("2026-11-23T09:00:00Z"),
        );
        assert_eq!(
            r,
            Recall::At {
                start: at("2026-11-23T11:00:00Z"),
                end: Some(at("2027-12-15T23:00:00Z")),
            }
        );
    }

    #[test]
    fn a_recall_outside_the_windows_waits_for_the_next_one() {
        // Friday 18:30 UTC = 19:30 Warsaw, +2 h = 21:30: Saturday's window
        // opens at 10:00 Warsaw (09:00 UTC).
        let r = recall(
            &helpline(),
            &call_back(2 * 3_600_000, None),
            at("2026-11-27T18:30:00Z"),
        );
        assert!(
            matches!(r, Recall::At { start, .. } if start == at("2026-11-28T09:00:00Z")),
            "{r:?}"
        );
        // Saturday 14:30 Warsaw: Monday 09:00 Warsaw (08:00 UTC).
        let r = recall(
            &helpline(),
            &call_back(60_000, None),
            at("2026-11-28T13:30:00Z"),
        );
        assert!(
            matches!(r, Recall::At { start, .. } if start == at("2026-11-30T08:00:00Z")),
            "{r:?}"
        );
    }

    #[test]
    fn max_recall_and_max_recall_date_bound_the_recall() {
        // Within a day at most, but the next window is two days away.
        let r = recall(
            &helpline(),
            &call_back(60_000, Some(86_400_000)),
            at("2026-11-28T13:30:00Z"),
        );
        assert!(matches!(r, Recall::Skipped(_)), "{r:?}");
        // After the campaign's last recall day.
        let r = recall(
            &helpline(),
            &call_back(60_000, None),
            at("2027-12-16T09:00:00Z"),
        );
        assert!(matches!(r, Recall::Skipped(_)), "{r:?}");
        // Without windows, at once after the delay.
        let plain = CampaignInfo::default();
        let r = recall(&plain, &call_back(60_000, None), at("2026-11-28T13:30:00Z"));
        assert_eq!(
            r,
            Recall::At {
                start: at("2026-11-28T13:31:00Z"),
                end: None
            }
        );
        assert_eq!(
            recall(&plain, &Classifier::default(), at("2026-11-28T13:30:00Z")),
            Recall::None
        );
    }

    #[test]
    fn a_classifier_is_offered_only_for_its_contact_results() {
        let mut info = CampaignInfo::default();
        info.classifiers.insert(
            "do_not_call".into(),
            Classifier {
                offered_for: vec!["answered".into(), "sms".into()],
                ..Classifier::default()
            },
        );
        assert!(classifier(&info, "do_not_call", "answered").is_ok());
        assert_eq!(
            classifier(&info, "do_not_call", "busy").unwrap_err(),
            Refused::NotOffered(vec!["answered".into(), "sms".into()])
        );
        assert_eq!(
            classifier(&info, "nope", "answered").unwrap_err(),
            Refused::NoClassifier(vec!["do_not_call".into()])
        );
    }
}
