//! Webhook events of calls (SPEC 5.9): each campaign's `webhook EVENT URL`
//! settings, read once per campaign (again at a reload), and
//! [`Core::webhook`], which puts one event per subscribed URL into the
//! outbox of the embedded database and wakes the delivery worker
//! (`crate::webhook_delivery`). A campaign that subscribes to nothing costs a map
//! lookup.
//!
//! Events and where they come from: `call_answered` (the flow answers: by
//! the customer's side; an agent connects: by the agent), `call_routed` (an
//! agent is rung), `call_transferred` (REFER, blind or attended),
//! `wrap_up` (the agent API's wrap-up), `ticket_changed` (a handoff opens
//! a ticket), `call_ended` (the call is released), `missed_call` (a call
//! that was queued ends before any agent answered it), `record_edited`
//! (call-associated data edited through the agent API). `record_added` and
//! `sms_received` are accepted in flows but have no source in this runtime
//! yet: they are never sent.
//!
//! Call numbers (`call-7`) start again at 1 with each start of the server,
//! so a webhook's call is `call-7@<run>`, `<run>` naming the server's run;
//! events are numbered and ordered per such call.

use super::Core;
use crate::webhook_delivery::{Stats, Worker};
use dialect_bytecode::{Program, Value as BValue};
use dialect_store::NewEvent;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// The `webhook` settings of a program: (event, URL) pairs in source order.
pub(crate) fn subscriptions(program: &Program) -> Vec<(String, String)> {
    let Some(BValue::List(items)) = program.settings.get("webhook") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            BValue::List(pair) => match pair.as_slice() {
                [BValue::Word(event), BValue::Text(url)] => Some((event.clone(), url.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// What the emitter remembers of a call, for `call_ended` and
/// `missed_call`.
#[derive(Debug)]
struct Tracked {
    /// When the call arrived (or was answered, for calls we placed).
    started: Instant,
    /// The queue it last waited in, if it ever did.
    queue: Option<String>,
    /// Whether an agent ever answered it.
    agent_answered: bool,
}

/// The campaigns' subscriptions and the per-call facts events need.
pub(crate) struct Hooks {
    /// Campaign → event → URLs.
    campaigns: HashMap<String, HashMap<String, Vec<String>>>,
    /// Replaces every URL when set (`[webhooks] url`, a staging aid).
    url: Option<String>,
    /// Names this run of the server in webhook call ids.
    pub(super) run: String,
    /// Wakes the delivery worker.
    notify: Arc<Notify>,
    /// The delivery worker's counters.
    stats: Arc<Stats>,
    /// Calls in progress.
    calls: HashMap<u64, Tracked>,
}

impl Hooks {
    /// The subscriptions of `programs`; `url` replaces every URL.
    pub(crate) fn new<'a>(
        programs: impl IntoIterator<Item = &'a Program>,
        url: Option<String>,
        worker: &Worker,
    ) -> Hooks {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut hooks = Hooks {
            campaigns: HashMap::new(),
            url,
            run: base36(millis),
            notify: worker.notifier(),
            stats: worker.stats(),
            calls: HashMap::new(),
        };
        hooks.set_programs(programs);
        hooks
    }

    /// Reads the subscriptions of `programs`, replacing those of the same
    /// campaigns (a reload adds or replaces campaigns; the others keep
    /// theirs).
    pub(crate) fn set_programs<'a>(&mut self, programs: impl IntoIterator<Item = &'a Program>) {
        for program in programs {
            let mut events: HashMap<String, Vec<String>> = HashMap::new();
            for (event, url) in subscriptions(program) {
                let url = self.url.clone().unwrap_or(url);
                let urls = events.entry(event).or_default();
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
            if events.is_empty() {
                self.campaigns.remove(&program.name);
            } else {
                self.campaigns.insert(program.name.clone(), events);
            }
        }
    }

    /// The delivery worker's counters.
    pub(crate) fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The URLs `campaign` sends `event` to.
    fn urls(&self, campaign: &str, event: &str) -> &[String] {
        self.campaigns
            .get(campaign)
            .and_then(|events| events.get(event))
            .map_or(&[], Vec::as_slice)
    }

    /// A call arrived (or a call we placed was answered).
    pub(crate) fn track(&mut self, call_key: u64, now: Instant) {
        self.calls.insert(
            call_key,
            Tracked {
                started: now,
                queue: None,
                agent_answered: false,
            },
        );
    }

    /// A call waits in `queue` (enqueued, overflowed, transferred).
    pub(crate) fn queued(&mut self, call_key: u64, queue: &str) {
        if let Some(tracked) = self.calls.get_mut(&call_key) {
            tracked.queue = Some(queue.to_string());
        }
    }
}

/// `n` in base 36 (lower case).
fn base36(mut n: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS.get((n % 36) as usize).copied().unwrap_or(b'0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl Core {
    /// Emits `event` about call `call_key` to every URL its campaign
    /// subscribes to it (nothing for consultation calls, which are an
    /// agent's, not a customer's).
    pub(super) fn webhook(&self, call_key: u64, event: &str, data: Value) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if call.consult_of.is_some() || self.hooks.urls(&call.campaign, event).is_empty() {
            return;
        }
        self.webhook_for(&call.campaign, &format!("call-{call_key}"), event, data);
    }

    /// Emits `event` about `call` (`call-7`, `chat-3`) of `campaign`: one
    /// outbox row per subscribed URL, in one transaction, then the worker
    /// is woken.
    /// A classifier's `email` or `sms` action, as the switch decided it.
    pub(super) fn on_notification(&mut self, call: u64, fields: &serde_json::Map<String, Value>) {
        let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or_default();
        let (campaign, to, body) = (
            text("campaign").to_string(),
            text("to").to_string(),
            text("text").to_string(),
        );
        let subject_of = format!("call-{call}@{}", self.hooks.run);
        match text("channel") {
            "email" => {
                let subject = format!("{campaign}: {}", text("classifier"));
                self.notify_mail(&campaign, &subject_of, &to, &subject, &body, None);
            }
            "sms" => self.notify_sms(&campaign, &subject_of, &to, &body),
            _ => {}
        }
    }

    /// An e-mail to `to` through the outbox (its own stream, so that a mail
    /// server that is down holds up none of the call's webhooks); only
    /// logged when no SMTP server is configured.
    pub(super) fn notify_mail(
        &mut self,
        campaign: &str,
        subject_of: &str,
        to: &str,
        subject: &str,
        text: &str,
        attachment: Option<&std::path::Path>,
    ) {
        let mut data = serde_json::Map::new();
        data.insert("to".into(), to.into());
        data.insert("subject".into(), subject.into());
        data.insert("text".into(), text.into());
        if let Some(path) = attachment {
            data.insert("attachment".into(), path.display().to_string().into());
        }
        let data = Value::Object(data);
        self.notification(
            campaign,
            subject_of,
            "email",
            &crate::notify::mail_url(to),
            data,
        );
    }

    /// An SMS to `number` through the outbox; only logged without a gateway.
    pub(super) fn notify_sms(
        &mut self,
        campaign: &str,
        subject_of: &str,
        number: &str,
        text: &str,
    ) {
        let data = serde_json::json!({ "to": number, "text": text });
        self.notification(
            campaign,
            subject_of,
            "sms",
            &crate::notify::sms_url(number),
            data,
        );
    }

    fn notification(
        &mut self,
        campaign: &str,
        subject_of: &str,
        kind: &str,
        url: &str,
        data: Value,
    ) {
        let at = self.wall();
        let to = data.get("to").cloned().unwrap_or_default();
        let configured = match kind {
            "email" => self.notifier_mails,
            _ => self.notifier_texts,
        };
        let Some(store) = self.store.as_ref().filter(|_| configured) else {
            self.log.record(
                at,
                subject_of,
                "notification_not_sent",
                super::fields([
                    ("kind", kind.into()),
                    ("to", to.clone()),
                    (
                        "reason",
                        format!("no {kind} service is configured ([notify])").into(),
                    ),
                ]),
            );
            return;
        };
        // A stream of its own: unique per notification.
        let stream = format!("{kind}-{subject_of}-{}@{}", self.ids.tag(), self.hooks.run);
        let event = NewEvent {
            campaign: campaign.to_string(),
            call: stream,
            event: kind.to_string(),
            url: url.to_string(),
            at,
            data: data.clone(),
        };
        match store.enqueue(&[event], jiff::Timestamp::now()) {
            Ok(_) => {
                self.hooks.notify.notify_one();
                self.log.record(
                    at,
                    subject_of,
                    "notification_queued",
                    super::fields([("kind", kind.into()), ("to", to)]),
                );
            }
            Err(error) => self.log.record(
                at,
                subject_of,
                "notification_enqueue_failed",
                super::fields([("kind", kind.into()), ("error", error.to_string().into())]),
            ),
        }
    }

    pub(super) fn webhook_for(&self, campaign: &str, call: &str, event: &str, data: Value) {
        let urls = self.hooks.urls(campaign, event);
        if urls.is_empty() {
            return;
        }
        let Some(store) = &self.store else {
            return;
        };
        let id = format!("{call}@{}", self.hooks.run);
        let at = self.wall();
        let events: Vec<NewEvent> = urls
            .iter()
            .map(|url| NewEvent {
                campaign: campaign.to_string(),
                call: id.clone(),
                event: event.to_string(),
                url: url.clone(),
                at,
                data: data.clone(),
            })
            .collect();
        match store.enqueue(&events, jiff::Timestamp::now()) {
            Ok(_) => self.hooks.notify.notify_one(),
            Err(error) => self.log.record(
                at,
                call,
                "webhook_enqueue_failed",
                super::fields([
                    ("webhook", event.into()),
                    ("error", error.to_string().into()),
                ]),
            ),
        }
    }

    /// An agent answered a call: `call_answered` by the agent.
    pub(super) fn hook_agent_answered(&mut self, call_key: u64, agent: &str) {
        if let Some(tracked) = self.hooks.calls.get_mut(&call_key) {
            tracked.agent_answered = true;
        }
        self.webhook(
            call_key,
            "call_answered",
            json!({ "by": "agent", "agent": agent }),
        );
    }

    /// A call is released: `missed_call` when it waited in a queue and no
    /// agent ever answered it, then `call_ended`.
    pub(super) fn hook_call_ended(&mut self, call_key: u64, reason: &str) {
        let tracked = self.hooks.calls.remove(&call_key);
        let duration_ms = tracked.as_ref().map_or(0, |t| {
            u64::try_from(t.started.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        if let Some(Tracked {
            queue: Some(queue),
            agent_answered: false,
            ..
        }) = tracked
        {
            self.webhook(
                call_key,
                "missed_call",
                json!({ "queue": queue, "reason": reason }),
            );
        }
        self.webhook(
            call_key,
            "call_ended",
            json!({ "reason": reason, "duration_ms": duration_ms }),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn worker() -> Worker {
        Worker::new(
            Box::new(dialect_store::SqliteStore::in_memory().unwrap()),
            crate::webhook_delivery::Settings::from_config(&crate::config::Webhooks::default()),
            crate::eventlog::EventLog::discard(),
        )
    }

    fn program(settings: &[(&str, &str)]) -> Program {
        let mut program = Program {
            name: "helpline".into(),
            settings: Default::default(),
            numbers: Vec::new(),
            sections: Vec::new(),
            decls: Vec::new(),
            schedules: Vec::new(),
            prompts: Vec::new(),
            exprs: Vec::new(),
            sources: Vec::new(),
            nodes: Vec::new(),
            entry: 0,
            assets: Vec::new(),
        };
        program.settings.insert(
            "webhook".into(),
            BValue::List(
                settings
                    .iter()
                    .map(|(e, u)| {
                        BValue::List(vec![BValue::Word((*e).into()), BValue::Text((*u).into())])
                    })
                    .collect(),
            ),
        );
        program
    }

    #[test]
    fn subscriptions_are_read_per_campaign_and_event() {
        let p = program(&[
            ("call_ended", "https://a.example/ended"),
            ("call_ended", "https://b.example/ended"),
            ("call_answered", "https://a.example/answered"),
        ]);
        let hooks = Hooks::new([&p], None, &worker());
        assert_eq!(
            hooks.urls("helpline", "call_ended"),
            ["https://a.example/ended", "https://b.example/ended"]
        );
        assert_eq!(
            hooks.urls("helpline", "call_answered"),
            ["https://a.example/answered"]
        );
        assert!(hooks.urls("helpline", "wrap_up").is_empty());
        assert!(hooks.urls("other", "call_ended").is_empty());
    }

    #[test]
    fn a_reload_replaces_the_campaigns_it_brings() {
        let first = program(&[("call_ended", "https://a.example/ended")]);
        let mut hooks = Hooks::new([&first], None, &worker());
        let mut other = program(&[("wrap_up", "https://b.example/wrap")]);
        other.name = "sales".into();
        let second = program(&[("call_answered", "https://a.example/answered")]);
        hooks.set_programs([&second, &other]);
        assert!(hooks.urls("helpline", "call_ended").is_empty());
        assert_eq!(
            hooks.urls("helpline", "call_answered"),
            ["https://a.example/answered"]
        );
        assert_eq!(hooks.urls("sales", "wrap_up"), ["https://b.example/wrap"]);
        // A campaign that no longer subscribes to anything sends nothing.
        let mut quiet = program(&[]);
        quiet.name = "sales".into();
        hooks.set_programs([&quiet]);
        assert!(hooks.urls("sales", "wrap_up").is_empty());
        assert_eq!(
            hooks.urls("helpline", "call_answered"),
            ["https://a.example/answered"]
        );
    }

    #[test]
    fn the_override_replaces_every_url_once() {
        let p = program(&[
            ("call_ended", "https://a.example/ended"),
            ("call_ended", "https://b.example/ended"),
        ]);
        let hooks = Hooks::new([&p], Some("http://127.0.0.1:9/hooks".into()), &worker());
        assert_eq!(
            hooks.urls("helpline", "call_ended"),
            ["http://127.0.0.1:9/hooks"]
        );
    }

    #[test]
    fn runs_are_named_in_base_36() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36 * 36 + 1), "101");
    }
}
