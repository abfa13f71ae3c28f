//! The second step of reading a scenario file: the raw tables serde reads
//! (unknown fields refused), and their conversion, value by value, into a
//! [`Scenario`] with the field's full path at hand, so every error names
//! the file, the scenario, the field and the line.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) scenario: Vec<RawScenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Spanned<String>,
    dialled: Spanned<String>,
    caller: Option<Spanned<String>>,
    start: Spanned<String>,
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    say: Vec<RawSay>,
    hangup: Option<Spanned<String>>,
    prompt_length: Option<Spanned<String>>,
    #[serde(default)]
    agents: Vec<RawAgent>,
    #[serde(default)]
    queue_full: Vec<String>,
    #[serde(default)]
    http: Vec<RawHttp>,
    #[serde(default)]
    bot: Vec<Spanned<String>>,
    #[serde(default)]
    bot_http: Vec<RawBotHttp>,
    #[serde(default)]
    bot_paused: bool,
    channel: Option<Spanned<String>>,
    records: Option<RawRecords>,
    #[serde(default)]
    tickets: Vec<i64>,
    dial: Option<Spanned<String>>,
    #[serde(default)]
    others: Option<Spanned<u32>>,
    others_at: Option<Spanned<String>>,
    others_caller: Option<Spanned<String>>,
    #[serde(default)]
    others_say: Vec<RawSay>,
    last_agent: Option<Spanned<String>>,
    record_owner: Option<Spanned<String>>,
    survey_call: Option<Spanned<String>>,
    expect: Option<RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    at: Spanned<String>,
    key: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSay {
    at: Spanned<String>,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    name: Spanned<String>,
    queue: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    answer_after: Option<Spanned<String>>,
    talk: Option<Spanned<String>>,
    #[serde(default = "yes")]
    answers: bool,
    classifier: Option<String>,
}

/// `records = 2` (that many records with the caller's number, no fields)
/// or `records = [{ numbers = [...], fields = {...} }, ...]`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawRecords {
    Count(u32),
    List(Vec<RawRecord>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecord {
    #[serde(default)]
    numbers: Vec<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    url: Spanned<String>,
    #[serde(default = "ok_status")]
    status: Spanned<u16>,
    #[serde(default)]
    body: String,
    after: Option<Spanned<String>>,
}

fn ok_status() -> Spanned<u16> {
    Spanned::new(0..0, 200)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBotHttp {
    status: Option<Spanned<u16>>,
    body: Option<String>,
    after: Option<Spanned<String>>,
    fail: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    prompts: Option<Vec<String>>,
    prompts_include: Option<Vec<String>>,
    queues: Option<Vec<String>>,
    route: Option<Spanned<String>>,
    agent: Option<String>,
    dialled_out: Option<String>,
    transfer: Option<String>,
    voicemail: Option<bool>,
    callback: Option<bool>,
    no_survey: Option<bool>,
    survey: Option<Spanned<toml::Value>>,
    survey_scheduled: Option<Spanned<toml::Value>>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<toml::Value>>,
    ended: Option<Spanned<String>>,
    ended_at: Option<Spanned<String>>,
    connected_at: Option<Spanned<String>>,
    handoff: Option<Spanned<String>>,
    handoff_team: Option<Spanned<String>>,
    handoff_owner: Option<Spanned<String>>,
    handoff_users: Option<Vec<String>>,
    ticket: Option<bool>,
    bot_said: Option<Vec<String>>,
    classified: Option<String>,
    recall: Option<String>,
    blacklisted: Option<bool>,
    alerts: Option<Vec<String>>,
}

/// Converts one raw scenario, collecting every problem.
pub(super) struct Convert<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) scenario: String,
    pub(super) errors: Vec<LoadError>,
}

impl Convert<'_> {
    pub(super) fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: String) {
        let span = at.span();
        let position =
            (span.end > 0).then(|| dialect_compiler::diagnostic::line_col(self.text, span.start));
        self.errors.push(LoadError {
            file: self.file.to_string(),
            position,
            scenario: Some(self.scenario.clone()),
            field: Some(field.to_string()),
            message,
        });
    }

    fn duration(&mut self, value: &Spanned<String>, field: &str) -> u64 {
        match dialect_compiler::parse::duration(value.get_ref().trim()) {
            Some(ms) if !value.get_ref().trim().is_empty() => ms,
            _ => {
                self.error(
                    value,
                    field,
                    format!(
                        "`{}` is not a duration: write it as in flows, e.g. `500ms`, `6s`, `1m30s`, `2h`",
                        value.get_ref()
                    ),
                );
                0
            }
        }
    }

    fn optional_duration(
        &mut self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: u64,
    ) -> u64 {
        match value {
            Some(v) => self.duration(v, field),
            None => default,
        }
    }

    pub(super) fn scenario(&mut self, raw: RawScenario) -> Option<Scenario> {
        let line = dialect_compiler::diagnostic::line_col(self.text, raw.name.span().start).0;
        let dialled = raw.dialled.get_ref().trim().to_string();
        if dialled.is_empty() {
            self.error(
                &raw.dialled,
                "dialled",
                "the dialled number is empty".into(),
            );
        }
        let caller = raw.caller.as_ref().map_or(DEFAULT_CALLER.to_string(), |c| {
            c.get_ref().trim().to_string()
        });
        let start = match raw.start.get_ref().parse::<jiff::Zoned>() {
            Ok(start) => Some(start),
            Err(err) => {
                self.error(
                    &raw.start,
                    "start",
                    format!(
                        "`{}` is not a time in a zone ({err}); write e.g. `2026-11-23T09:00:00[Europe/Warsaw]`",
                        raw.start.get_ref()
                    ),
                );
                None
            }
        };
        let mut keys = Vec::new();
        for (i, k) in raw.keys.iter().enumerate() {
            let at = self.duration(&k.at, &format!("keys[{i}].at"));
            let mut chars = k.key.get_ref().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => keys.push((at, c)),
                _ => self.error(
                    &k.key,
                    &format!("keys[{i}].key"),
                    format!(
                        "`{}` is not a DTMF key: one of 0-9, `*`, `#` (one key per entry)",
                        k.key.get_ref()
                    ),
                ),
            }
        }
        let say = self.says(&raw.say, "say");
        let others_say = self.says(&raw.others_say, "others_say");
        let hangup = raw.hangup.as_ref().map(|h| self.duration(h, "hangup"));
        let prompt_length = self.optional_duration(
            &raw.prompt_length,
            "prompt_length",
            DEFAULT_PROMPT_LENGTH_MS,
        );
        let agents = self.agents(&raw.agents);
        let http = self.http(&raw.http);
        let bot = raw
            .bot
            .iter()
            .enumerate()
            .filter_map(|(i, b)| self.bot_reply(b, i))
            .collect();
        let bot_http = self.bot_http(&raw.bot_http);
        if let (Some(first), false) = (raw.bot.first(), raw.bot_http.is_empty()) {
            self.error(
                first,
                "bot",
                "a scenario either scripts the customer agent's replies (`bot`) or the external bot's HTTP answers (`bot_http`), not both: scripted replies never ask the bot".into(),
            );
        }
        let channel = match &raw.channel {
            None => Channel::Voice,
            Some(c) => match c.get_ref().as_str() {
                "voice" => Channel::Voice,
                "chat" => Channel::Chat,
                other => {
                    self.error(
                        c,
                        "channel",
                        format!("`{other}` is not a channel: `voice` or `chat`"),
                    );
                    Channel::Voice
                }
            },
        };
        let dial = match &raw.dial {
            None => DialOutcome::Connected,
            Some(d) => match d.get_ref().as_str() {
                "connected" => DialOutcome::Connected,
                "busy" => DialOutcome::Busy,
                "no_answer" => DialOutcome::NoAnswer,
                "failed" => DialOutcome::Failed,
                other => {
                    self.error(
                        d,
                        "dial",
                        format!(
                            "`{other}` is not a dial outcome: connected, busy, no_answer or failed"
                        ),
                    );
                    DialOutcome::Connected
                }
            },
        };
        let others = match &raw.others {
            Some(o) if *o.get_ref() > MAX_OTHERS => {
                self.error(
                    o,
                    "others",
                    format!("at most {MAX_OTHERS} other calls, not {}", o.get_ref()),
                );
                0
            }
            Some(o) => *o.get_ref(),
            None => 0,
        };
        let others_at = raw
            .others_at
            .as_ref()
            .map(|at| self.duration(at, "others_at"));
        let others_caller = match &raw.others_caller {
            Some(c) if c.get_ref().trim().is_empty() => {
                self.error(
                    c,
                    "others_caller",
                    "the other calls' caller number is empty; leave the field out to use `caller`"
                        .into(),
                );
                caller.clone()
            }
            Some(c) => c.get_ref().trim().to_string(),
            None => caller.clone(),
        };
        let last_agent = self.agent_name(raw.last_agent.as_ref(), "last_agent");
        let record_owner = self.agent_name(raw.record_owner.as_ref(), "record_owner");
        let survey_call = match &raw.survey_call {
            Some(s) if s.get_ref().trim().is_empty() => {
                self.error(
                    s,
                    "survey_call",
                    "empty survey name; name a survey as in the dump, e.g. `std/survey.nps`".into(),
                );
                None
            }
            Some(s) => Some(s.get_ref().trim().to_string()),
            None => None,
        };
        let expect = match &raw.expect {
            Some(expect) => self.expect(expect, &raw.name),
            None => {
                self.error(
                    &raw.name,
                    "expect",
                    "missing `[scenario.expect]`: every scenario states at least how the call ends (`ended = \"hangup\"`, `\"caller\"`, `\"failed\"` or `\"refused\"`)".into(),
                );
                None
            }
        };
        let records = match raw.records {
            None => Vec::new(),
            Some(RawRecords::Count(n)) => (0..n)
                .map(|_| SeedRecord {
                    numbers: vec![caller.clone()],
                    fields: BTreeMap::new(),
                })
                .collect(),
            Some(RawRecords::List(list)) => list
                .into_iter()
                .map(|r| SeedRecord {
                    numbers: if r.numbers.is_empty() {
                        vec![caller.clone()]
                    } else {
                        r.numbers
                    },
                    fields: r.fields,
                })
                .collect(),
        };
        Some(Scenario {
            name: raw.name.get_ref().clone(),
            line,
            dialled,
            caller,
            start: start?,
            keys,
            say,
            hangup,
            prompt_length,
            agents,
            queue_full: raw.queue_full,
            http,
            bot,
            bot_http,
            bot_paused: raw.bot_paused,
            channel,
            records,
            tickets: raw.tickets,
            dial,
            others,
            others_at,
            others_caller,
            others_say,
            last_agent,
            record_owner,
            survey_call,
            expect: expect?,
        })
    }

    /// An agent named by a scenario-level field: not empty.
    fn agent_name(&mut self, raw: Option<&Spanned<String>>, field: &str) -> Option<String> {
        let raw = raw?;
        let name = raw.get_ref().trim();
        if name.is_empty() {
            self.error(
                raw,
                field,
                "empty agent name; name an agent of `agents`, e.g. `alice`".into(),
            );
            return None;
        }
        Some(name.to_string())
    }

    fn agents(&mut self, raw: &[RawAgent]) -> Vec<Agent> {
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        for (i, a) in raw.iter().enumerate() {
            let name = a.name.get_ref().trim();
            if name.is_empty() {
                self.error(&a.name, &format!("agents[{i}].name"), "empty name".into());
            } else if !names.insert(name.rsplit('.').next().unwrap_or(name).to_string()) {
                // The ACD knows an agent by the last part of the name.
                self.error(
                    &a.name,
                    &format!("agents[{i}].name"),
                    format!("another agent of this scenario is named `{name}`: each agent is on duty once"),
                );
            }
            if let Some(queue) = &a.queue
                && queue.get_ref().trim().is_empty()
            {
                self.error(
                    queue,
                    &format!("agents[{i}].queue"),
                    "empty queue name; use the qualified name of the dump, e.g. `common/queues.sales`, or leave the field out for a declared agent".into(),
                );
            }
            out.push(Agent {
                name: name.to_string(),
                queue: a.queue.as_ref().map(|q| q.get_ref().trim().to_string()),
                from: self.optional_duration(&a.from, &format!("agents[{i}].from"), 0),
                answer_after: self.optional_duration(
                    &a.answer_after,
                    &format!("agents[{i}].answer_after"),
                    0,
                ),
                talk: self.optional_duration(&a.talk, &format!("agents[{i}].talk"), 60_000),
                answers: a.answers,
                classifier: a.classifier.clone(),
            });
        }
        out
    }

    fn http(&mut self, raw: &[RawHttp]) -> Vec<HttpAnswer> {
        let mut out = Vec::new();
        for (i, h) in raw.iter().enumerate() {
            if h.url.get_ref().is_empty() {
                self.error(
                    &h.url,
                    &format!("http[{i}].url"),
                    "an empty URL would match every request".into(),
                );
            }
            if *h.status.get_ref() > 599 {
                self.error(
                    &h.status,
                    &format!("http[{i}].status"),
                    format!(
                        "{} is not an HTTP status (0 for a connection failure, else 100-599)",
                        h.status.get_ref()
                    ),
                );
            }
            out.push(HttpAnswer {
                url: h.url.get_ref().clone(),
                status: *h.status.get_ref(),
                body: h.body.clone(),
                after: self.optional_duration(&h.after, &format!("http[{i}].after"), 0),
            });
        }
        out
    }

    /// Utterances: `{ at = OFFSET, text = "..." }`.
    fn says(&mut self, raw: &[RawSay], field: &str) -> Vec<(u64, String)> {
        raw.iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    self.duration(&s.at, &format!("{field}[{i}].at")),
                    s.text.clone(),
                )
            })
            .collect()
    }

    /// The external bot's answers: `{ status, body, after }` or
    /// `{ fail = "timeout" | "unreachable" }`.
    fn bot_http(&mut self, raw: &[RawBotHttp]) -> Vec<BotHttp> {
        let mut out = Vec::new();
        for (i, h) in raw.iter().enumerate() {
            let field = |name: &str| format!("bot_http[{i}].{name}");
            let after = self.optional_duration(&h.after, &field("after"), 0);
            if let Some(fail) = &h.fail {
                if h.status.is_some() || h.body.is_some() {
                    self.error(
                        fail,
                        &field("fail"),
                        "a failed request has no `status` or `body`: give either `fail` or the reply".into(),
                    );
                }
                match fail.get_ref().as_str() {
                    "timeout" => out.push(BotHttp::Timeout),
                    "unreachable" => out.push(BotHttp::Unreachable),
                    other => self.error(
                        fail,
                        &field("fail"),
                        format!("`{other}` is not a failure: `timeout` (no reply within the bot's timeout) or `unreachable` (connection refused)"),
                    ),
                }
                continue;
            }
            let status = h.status.clone().unwrap_or_else(ok_status);
            if !(100..=599).contains(status.get_ref()) {
                self.error(
                    &status,
                    &field("status"),
                    format!(
                        "{} is not an HTTP status (100-599); a bot that cannot be reached is `fail = \"unreachable\"`",
                        status.get_ref()
                    ),
                );
            }
            out.push(BotHttp::Reply {
                status: *status.get_ref(),
                body: h.body.clone().unwrap_or_default(),
                after,
            });
        }
        out
    }

    fn bot_reply(&mut self, raw: &Spanned<String>, i: usize) -> Option<BotReply> {
        let text = raw.get_ref();
        match text.as_str() {
            "handoff" => Some(BotReply::Handoff),
            "cannot_answer" => Some(BotReply::CannotAnswer),
            "done" => Some(BotReply::Done),
            _ => match text.strip_prefix("say:") {
                Some(said) => Some(BotReply::Say(said.to_string())),
                None => {
                    self.error(
                        raw,
                        &format!("bot[{i}]"),
                        format!(
                            "`{text}` is not a bot reply: `say:TEXT`, `handoff`, `cannot_answer` or `done`"
                        ),
                    );
                    None
                }
            },
        }
    }

    /// `expect.survey`: `true`/`false`, or a table of answers by question.
    fn survey(&mut self, raw: &Spanned<toml::Value>) -> Option<SurveyExpect> {
        match raw.get_ref() {
            toml::Value::Boolean(b) => Some(SurveyExpect::Ran(*b)),
            toml::Value::Table(table) => {
                let mut answers = BTreeMap::new();
                for (question, answer) in table {
                    let text = match answer {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(n) => n.to_string(),
                        _ => {
                            self.error(
                                raw,
                                &format!("expect.survey.{question}"),
                                "an answer is text: `\"5\"`, `\"10\"`, `\"yes\"`, `\"recorded\"`, or `\"\"` for none".into(),
                            );
                            continue;
                        }
                    };
                    answers.insert(question.clone(), text);
                }
                Some(SurveyExpect::Answers(answers))
            }
            _ => {
                self.error(
                    raw,
                    "expect.survey",
                    "give `false` (no survey), `true` (a survey ran) or the answers by question, e.g. `{ score = \"5\" }`".into(),
                );
                None
            }
        }
    }

    /// `expect.survey_scheduled`: `false`, `true` or the delay.
    fn scheduled(&mut self, raw: &Spanned<toml::Value>) -> Option<Scheduled> {
        match raw.get_ref() {
            toml::Value::Boolean(false) => Some(Scheduled::No),
            toml::Value::Boolean(true) => Some(Scheduled::Yes),
            toml::Value::String(text) => {
                let spanned = Spanned::new(raw.span(), text.clone());
                Some(Scheduled::After(
                    self.duration(&spanned, "expect.survey_scheduled"),
                ))
            }
            _ => {
                self.error(
                    raw,
                    "expect.survey_scheduled",
                    "give `false` (none), `true` (one) or its delay, e.g. `\"1h\"`".into(),
                );
                None
            }
        }
    }

    fn expect(&mut self, raw: &RawExpect, name: &Spanned<String>) -> Option<Expect> {
        let route = raw.route.as_ref().and_then(|r| match r.get_ref().as_str() {
            "connected" => Some(Route::Connected),
            "none" => Some(Route::None),
            other => {
                self.error(
                    r,
                    "expect.route",
                    format!("`{other}` is not a route: `connected` or `none`"),
                );
                None
            }
        });
        let mut vars = BTreeMap::new();
        for (var, value) in &raw.vars {
            let text = match value.get_ref() {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(n) => Some(n.to_string()),
                toml::Value::Float(x) => Some(x.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            };
            match text {
                Some(text) => {
                    vars.insert(var.clone(), text);
                }
                None => self.error(
                    value,
                    &format!("expect.vars.{var}"),
                    "a variable is compared as text: give a string, number or boolean".into(),
                ),
            }
        }
        let ended = match &raw.ended {
            None => {
                self.error(
                    name,
                    "expect.ended",
                    "missing: every scenario states how the call ends: `hangup` (the flow hung up), `caller`, `failed` or `refused` (the campaign took no call)".into(),
                );
                None
            }
            Some(e) => {
                match e.get_ref().as_str() {
                    "hangup" => Some(Ended::Hangup),
                    "caller" => Some(Ended::Caller),
                    "failed" => Some(Ended::Failed),
                    "refused" => Some(Ended::Refused),
                    other => {
                        self.error(
                        e,
                        "expect.ended",
                        format!("`{other}` is not an ending: `hangup`, `caller`, `failed` or `refused`"),
                    );
                        None
                    }
                }
            }
        };
        let ended_at = raw
            .ended_at
            .as_ref()
            .map(|e| self.duration(e, "expect.ended_at"));
        let connected_at = raw
            .connected_at
            .as_ref()
            .map(|c| self.duration(c, "expect.connected_at"));
        let handoff = raw.handoff.as_ref().and_then(|h| self.handoff(h));
        let handoff_team = raw
            .handoff_team
            .as_ref()
            .and_then(|t| self.not_empty(t, "expect.handoff_team"));
        let handoff_owner = raw
            .handoff_owner
            .as_ref()
            .and_then(|o| self.not_empty(o, "expect.handoff_owner"));
        let survey = raw.survey.as_ref().and_then(|s| self.survey(s));
        let survey_scheduled = raw
            .survey_scheduled
            .as_ref()
            .and_then(|s| self.scheduled(s));
        Some(Expect {
            prompts: raw.prompts.clone(),
            prompts_include: raw.prompts_include.clone(),
            queues: raw.queues.clone(),
            route,
            agent: raw.agent.clone(),
            dialled_out: raw.dialled_out.clone(),
            transfer: raw.transfer.clone(),
            voicemail: raw.voicemail,
            callback: raw.callback,
            no_survey: raw.no_survey,
            survey,
            survey_scheduled,
            vars,
            ended: ended?,
            ended_at,
            connected_at,
            handoff,
            handoff_team,
            handoff_owner,
            handoff_users: raw.handoff_users.clone(),
            ticket: raw.ticket,
            bot_said: raw.bot_said.clone(),
            classified: raw.classified.clone(),
            recall: raw.recall.clone(),
            blacklisted: raw.blacklisted,
            alerts: raw.alerts.clone(),
        })
    }

    /// `expect.handoff`: `none`, a reason's code, or `code:detail`.
    fn handoff(&mut self, raw: &Spanned<String>) -> Option<HandoffExpect> {
        let text = raw.get_ref().trim();
        if text == "none" {
            return Some(HandoffExpect::None);
        }
        let (code, detail) = match text.split_once(':') {
            Some((code, detail)) => (code.trim(), Some(detail.trim().to_string())),
            None => (text, None),
        };
        let codes: Vec<&str> = HANDOFF_REASONS.iter().map(|(c, _)| *c).collect();
        match HANDOFF_REASONS.iter().find(|(c, _)| *c == code) {
            None => {
                self.error(
                    raw,
                    "expect.handoff",
                    format!(
                        "`{code}` is not a handoff reason: `none` or one of {}, optionally with a detail: `phrase:zwrot pieniędzy`",
                        codes.join(", ")
                    ),
                );
                None
            }
            Some((_, false)) if detail.is_some() => {
                self.error(
                    raw,
                    "expect.handoff",
                    format!("`{code}` has no detail: write `{code}` alone"),
                );
                None
            }
            Some(_) if detail.as_deref() == Some("") => {
                self.error(
                    raw,
                    "expect.handoff",
                    format!("empty detail after `{code}:`"),
                );
                None
            }
            Some(_) => Some(HandoffExpect::Reason {
                code: code.to_string(),
                detail,
            }),
        }
    }

    /// A name that must not be empty.
    fn not_empty(&mut self, raw: &Spanned<String>, field: &str) -> Option<String> {
        let text = raw.get_ref().trim();
        if text.is_empty() {
            self.error(raw, field, "empty; write `none` for nobody".into());
            return None;
        }
        Some(text.to_string())
    }
}
