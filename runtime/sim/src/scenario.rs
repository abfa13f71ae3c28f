//! The scenario format: `*.test.toml` files beside the flows, each holding
//! `[[scenario]]` tables (who calls, when, which keys, which agents, what
//! the outside world answers) with a `[scenario.expect]` table (what must
//! happen). `docs/testing.md` documents every field.
//!
//! Reading happens in two steps: serde reads the TOML into raw tables
//! (unknown fields are refused there), then every value is converted to its
//! type with the field's full path at hand, so an error names the file, the
//! scenario, the field and the line. [`load`] (scenario files) and
//! [`read_knowledge_base`] (the embedded customer agent's knowledge bases,
//! read once when a [`Suite`](crate::Suite) is set up) are the only
//! functions of this crate that touch the file system.

use dialect_bot::{Channel, KnowledgeBase};
use dialect_engine::{BotReply, DialOutcome};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

mod convert;
use convert::{Convert, RawFile};

/// The caller number used when a scenario names none.
pub const DEFAULT_CALLER: &str = "+48600000000";

/// How long a prompt plays when a scenario does not say (ms).
pub const DEFAULT_PROMPT_LENGTH_MS: u64 = 3_000;

/// The most `others` a scenario may ask for: enough for any overflow or
/// queue-position test, few enough that their inputs stay well inside the
/// runner's bound of inputs per scenario.
pub const MAX_OTHERS: u32 = 100;

/// One scenario file, parsed and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioFile {
    /// The path as found (for messages and reports).
    pub path: String,
    /// The scenarios, in file order.
    pub scenarios: Vec<Scenario>,
}

/// One simulated call and what must happen to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The scenario's name, unique in its file.
    pub name: String,
    /// The 1-based line of the scenario's `name`.
    pub line: usize,
    /// The number called (chooses the campaign).
    pub dialled: String,
    /// The caller's number.
    pub caller: String,
    /// When the call arrives, in a time zone.
    pub start: jiff::Zoned,
    /// DTMF keys: (offset from the start in ms, key).
    pub keys: Vec<(u64, char)>,
    /// What the caller says: (offset in ms, text).
    pub say: Vec<(u64, String)>,
    /// When the caller hangs up (offset in ms), if they do.
    pub hangup: Option<u64>,
    /// How long every prompt plays (ms).
    pub prompt_length: u64,
    /// The agents on duty.
    pub agents: Vec<Agent>,
    /// Queues that refuse every call as full.
    pub queue_full: Vec<String>,
    /// Answers to HTTP requests, first match by URL prefix.
    pub http: Vec<HttpAnswer>,
    /// The customer agent's replies to successive turns, scripted. Empty:
    /// the real customer agent (`dialect-bot`) answers.
    pub bot: Vec<BotReply>,
    /// The external bot's HTTP answers to successive requests (the real
    /// customer agent with an `endpoint`).
    pub bot_http: Vec<BotHttp>,
    /// Whether the customer agent is paused (a default handoff trigger).
    pub bot_paused: bool,
    /// Where the scenario's conversation takes place: what the customer
    /// agent and the handoff's routing rules are told (the flow runs the
    /// same). The others are always voice calls.
    pub channel: Channel,
    /// Customer records in the store when the call arrives (in the
    /// campaign `dialled` reaches): `route_identified`, `authorise`
    /// (internal) and the agent's record are decided from them, as under
    /// `dialect serve`.
    pub records: Vec<SeedRecord>,
    /// Ids of tickets in the store (the helpdesk's earlier tickets, opened
    /// for the caller): what the `ticket` block looks up.
    pub tickets: Vec<i64>,
    /// The answer to a dial.
    pub dial: DialOutcome,
    /// Other calls to the same number, arriving 1 ms before this one
    /// unless `others_at` says when.
    pub others: u32,
    /// When the other calls arrive (offset in ms); `None`: 1 ms before
    /// this call.
    pub others_at: Option<u64>,
    /// The other calls' caller number (default: `caller`).
    pub others_caller: String,
    /// What each of the other calls says: (offset in ms, text).
    pub others_say: Vec<(u64, String)>,
    /// The agent who last spoke with this caller (sticky agent), if any.
    pub last_agent: Option<String>,
    /// The agent who owns this caller's private record, if any.
    pub record_owner: Option<String>,
    /// A survey call instead of an inbound one: the qualified name of the
    /// survey (`std/survey.nps`) of the campaign that answers `dialled`,
    /// asked of `caller` as the outbound call a `ScheduleSurvey` places.
    pub survey_call: Option<String>,
    /// What must happen.
    pub expect: Expect,
}

/// A customer record the scenario puts in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedRecord {
    /// Its phone numbers (E.164); the caller's number when none are given.
    pub numbers: Vec<String>,
    /// Its fields by name.
    pub fields: BTreeMap<String, String>,
}

/// An agent on duty: logged in to the ACD and ready from `from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// The name reported in `AgentConnected` and matched by `expect.agent`:
    /// a declared agent's last name part (`alice` for
    /// `common/agents.alice`), or any name for an agent the flows do not
    /// declare.
    pub name: String,
    /// A queue's qualified name, as in the dump (`common/queues.sales`),
    /// served in addition to the queues of the agent's declaration.
    pub queue: Option<String>,
    /// From when the agent is ready for calls (offset in ms).
    pub from: u64,
    /// How long after an offer the agent answers (ms); longer than the
    /// queue's ring time means the offer is withdrawn first (RONA).
    pub answer_after: u64,
    /// How long the conversation lasts before the agent hangs up (ms).
    pub talk: u64,
    /// Whether the agent answers at all; one who does not lets every offer
    /// ring out (RONA) and stays Idle afterwards.
    pub answers: bool,
    /// The classifier the agent wraps the call up with when it ends, as
    /// through the agent API.
    pub classifier: Option<String>,
}

/// A scripted answer of an external bot to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotHttp {
    /// An HTTP reply, read with `dialect_bot::parse_response`.
    Reply {
        /// The status.
        status: u16,
        /// The body.
        body: String,
        /// How long the reply takes (ms); longer than the bot's `timeout`
        /// is a timeout.
        after: u64,
    },
    /// No reply within the bot's `timeout`.
    Timeout,
    /// The bot cannot be reached (connection refused), at once.
    Unreachable,
}

/// The handoff a scenario expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandoffExpect {
    /// The customer agent handed nothing off.
    None,
    /// A handoff for this reason.
    Reason {
        /// The reason's code (`dialect_bot::Reason::code`): `phrase`,
        /// `asks_for_human`, `paused`, `cannot_answer`, `bot_requested`.
        code: String,
        /// The detail, when given: the trigger phrase as written in the
        /// handoff (`phrase`), the built-in phrase that matched
        /// (`asks_for_human`), or the bot's reason (`bot_requested`).
        detail: Option<String>,
    },
}

/// The reasons `expect.handoff` may name, and whether each has a detail.
pub const HANDOFF_REASONS: &[(&str, bool)] = &[
    ("phrase", true),
    ("asks_for_human", true),
    ("paused", false),
    ("cannot_answer", false),
    ("bot_requested", true),
];

impl fmt::Display for HandoffExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffExpect::None => f.write_str("none"),
            HandoffExpect::Reason { code, detail: None } => f.write_str(code),
            HandoffExpect::Reason {
                code,
                detail: Some(d),
            } => write!(f, "{code}:{d}"),
        }
    }
}

/// A canned HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Matches requests whose URL starts with this.
    pub url: String,
    /// The status; 0 is a connection failure.
    pub status: u16,
    /// The body.
    pub body: String,
    /// How long the answer takes (ms).
    pub after: u64,
}

/// Whether the call was bridged to someone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// An agent answered, a dialled number answered, or a transfer happened.
    Connected,
    /// None of those.
    None,
}

/// How the call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The flow hung up (a `hangup` block or the end of the IVR).
    Hangup,
    /// The caller hung up.
    Caller,
    /// The flow failed.
    Failed,
    /// The campaign took no call: it is disabled (`enabled false`) or
    /// outside its life (`starts`, `ends`).
    Refused,
}

impl Ended {
    /// The word used in scenario files.
    pub fn word(self) -> &'static str {
        match self {
            Ended::Hangup => "hangup",
            Ended::Caller => "caller",
            Ended::Failed => "failed",
            Ended::Refused => "refused",
        }
    }
}

impl Route {
    /// The word used in scenario files.
    pub fn word(self) -> &'static str {
        match self {
            Route::Connected => "connected",
            Route::None => "none",
        }
    }
}

/// What a scenario expects of the survey of its call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SurveyExpect {
    /// Whether a survey ran at all.
    Ran(bool),
    /// A survey ran, and these are its answers by question (`""` for a
    /// question left unanswered; a question not named must not have been
    /// answered).
    Answers(BTreeMap<String, String>),
}

/// What a scenario expects of an outbound survey scheduled at the call's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduled {
    /// None was scheduled.
    No,
    /// One was, whatever its delay.
    Yes,
    /// One was, this long after the call (ms).
    After(u64),
}

/// What must happen to the call; every field but `ended` is optional.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// Every prompt played, in order, exactly (`say:TEXT` for speech).
    pub prompts: Option<Vec<String>>,
    /// Prompts that must appear in this relative order.
    pub prompts_include: Option<Vec<String>>,
    /// The queues the call entered, in order.
    pub queues: Option<Vec<String>>,
    /// Whether the call was bridged.
    pub route: Option<Route>,
    /// The agent who took the call.
    pub agent: Option<String>,
    /// The number of the first dial.
    pub dialled_out: Option<String>,
    /// The extension of the first transfer.
    pub transfer: Option<String>,
    /// Whether a recording was made.
    pub voicemail: Option<bool>,
    /// Whether a callback was registered.
    pub callback: Option<bool>,
    /// Whether the call is marked for no survey.
    pub no_survey: Option<bool>,
    /// The survey that ran during the call and its answers.
    pub survey: Option<SurveyExpect>,
    /// The outbound survey scheduled when the call ended.
    pub survey_scheduled: Option<Scheduled>,
    /// Variables and their values (as text) at the end.
    pub vars: BTreeMap<String, String>,
    /// How the call ended.
    pub ended: Ended,
    /// When it ended (offset in ms).
    pub ended_at: Option<u64>,
    /// When it was connected (offset in ms): an agent answered, a dialled
    /// number answered, or the transfer happened.
    pub connected_at: Option<u64>,
    /// The first handoff of the customer agent: its reason, or none.
    pub handoff: Option<HandoffExpect>,
    /// The team the first handoff was routed to (qualified name), or
    /// `none`.
    pub handoff_team: Option<String>,
    /// The owner the first handoff's ticket got (an agent's last name
    /// part), or `none`.
    pub handoff_owner: Option<String>,
    /// The users the first handoff was assigned to (agents' last name
    /// parts), in order.
    pub handoff_users: Option<Vec<String>>,
    /// Whether a handoff opened a ticket (an asynchronous handoff, or one
    /// nobody was assigned).
    pub ticket: Option<bool>,
    /// The classifier the agent's wrap-up applied to the call.
    pub classified: Option<String>,
    /// The recall it scheduled: the local time in the campaign's zone
    /// (`2026-11-23 12:00`), `none` (the classifier asks for none) or
    /// `skipped` (no moment allowed it).
    pub recall: Option<String>,
    /// Whether the wrap-up put the caller's number on the blacklist.
    pub blacklisted: Option<bool>,
    /// The monitoring alerts raised and cleared while the call ran, in
    /// order: `KIND [SUBJECT] raised|cleared` (`talk_time ann raised`,
    /// `avg_wait cleared`).
    pub alerts: Option<Vec<String>>,
    /// Substrings of what the customer agent said, in this order.
    pub bot_said: Option<Vec<String>>,
}

/// A scenario file that cannot be used: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The scenario's name (or `#N`), when the problem is inside one.
    pub scenario: Option<String>,
    /// The field's path (`keys[1].at`), when the problem is a field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": ")?;
        if let Some(scenario) = &self.scenario {
            write!(f, "scenario \"{scenario}\": ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// Finds every `*.test.toml` file under `paths` (files are taken as they
/// are, directories searched recursively, results sorted per path) and
/// parses them. Returns the files that parse and every problem found. This
/// is the simulator's only file-system access.
pub fn load(paths: &[PathBuf]) -> (Vec<ScenarioFile>, Vec<LoadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for path in paths {
        let mut found = Vec::new();
        if path.is_dir() {
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(err) => {
                        errors.push(io_error(&dir, &err));
                        continue;
                    }
                };
                for entry in entries.flatten() {
                    let entry = entry.path();
                    if entry.is_dir() {
                        stack.push(entry);
                    } else if is_scenario_file(&entry) {
                        found.push(entry);
                    }
                }
            }
            found.sort();
        } else if path.is_file() {
            if is_scenario_file(path) {
                found.push(path.clone());
            }
        } else {
            errors.push(io_error(path, &"no such file or directory"));
        }
        for file in found {
            if !seen.insert(file.clone()) {
                continue;
            }
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => match parse(&name, &text) {
                    Ok(parsed) => files.push(parsed),
                    Err(mut problems) => errors.append(&mut problems),
                },
                Err(err) => errors.push(io_error(&file, &err)),
            }
        }
    }
    (files, errors)
}

/// Reads the knowledge base of an embedded customer agent from `path`.
/// With [`load`], the simulator's only file-system access; the suite reads
/// every knowledge base its bots name once, when it is set up. The error
/// says what is wrong (the file cannot be read, or which entry and field
/// is broken); the caller names the file and the bot.
pub fn read_knowledge_base(path: &Path) -> Result<KnowledgeBase, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    KnowledgeBase::parse(&text).map_err(|e| format!("is not a valid knowledge base: {e}"))
}

/// Whether a path names a scenario file (`*.test.toml`).
pub fn is_scenario_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.toml"))
}

/// Parses the text of a scenario file named `file`. Returns every problem
/// found (one per scenario at most for structural ones, every bad value
/// otherwise).
pub fn parse(file: &str, text: &str) -> Result<ScenarioFile, Vec<LoadError>> {
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(err) => return Err(vec![structural(file, text, &err)]),
    };
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    let mut names = BTreeSet::new();
    if raw.scenario.is_empty() {
        errors.push(LoadError {
            file: file.to_string(),
            position: None,
            scenario: None,
            field: None,
            message: "no `[[scenario]]` in the file".into(),
        });
    }
    for (index, raw) in raw.scenario.into_iter().enumerate() {
        let mut cx = Convert {
            file,
            text,
            scenario: if raw.name.get_ref().trim().is_empty() {
                format!("#{}", index + 1)
            } else {
                raw.name.get_ref().clone()
            },
            errors: Vec::new(),
        };
        if raw.name.get_ref().trim().is_empty() {
            cx.error(&raw.name, "name", "a scenario needs a name".into());
        } else if !names.insert(raw.name.get_ref().clone()) {
            cx.error(
                &raw.name,
                "name",
                "another scenario of this file has the same name".into(),
            );
        }
        let scenario = cx.scenario(raw);
        if cx.errors.is_empty() {
            scenarios.extend(scenario);
        } else {
            errors.append(&mut cx.errors);
        }
    }
    if errors.is_empty() {
        Ok(ScenarioFile {
            path: file.to_string(),
            scenarios,
        })
    } else {
        Err(errors)
    }
}

fn io_error(path: &Path, err: &dyn fmt::Display) -> LoadError {
    LoadError {
        file: path.display().to_string(),
        position: None,
        scenario: None,
        field: None,
        message: err.to_string(),
    }
}

/// A TOML syntax error, an unknown field, a missing field or a value of the
/// wrong type: placed by its span, and attributed to the scenario whose
/// `[[scenario]]` header precedes it.
fn structural(file: &str, text: &str, err: &toml::de::Error) -> LoadError {
    let span = err.span();
    let offset = span.as_ref().map_or(0, |s| s.start);
    let position = span.map(|s| dialect_compiler::diagnostic::line_col(text, s.start));
    let (scenario, field) = match text.parse::<toml::Table>() {
        // The text is valid TOML, so the problem is in a scenario's fields.
        Ok(table) => (scenario_at(text, &table, offset), key_before(text, offset)),
        Err(_) => (None, None),
    };
    LoadError {
        file: file.to_string(),
        position,
        scenario,
        field,
        message: err.message().trim().to_string(),
    }
}

/// The name of the scenario an offset falls in (by the `[[scenario]]`
/// headers before it), or `#N` if it has no name.
fn scenario_at(text: &str, table: &toml::Table, offset: usize) -> Option<String> {
    // The line holding the offset counts too: a missing field is reported
    // at its table's header.
    let end = text
        .get(offset..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |n| offset + n);
    let headers = text
        .get(..end)?
        .lines()
        .filter(|l| {
            let squashed: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            squashed.starts_with("[[scenario]]")
        })
        .count();
    let index = headers.checked_sub(1)?;
    let name = table
        .get("scenario")
        .and_then(|s| s.as_array())
        .and_then(|a| a.get(index))
        .and_then(|s| s.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string);
    Some(name.unwrap_or_else(|| format!("#{}", index + 1)))
}

/// The key whose value starts at `offset` (`at` in `{ at = 6 }`), if the
/// text before it on its line ends in `KEY =`.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line = before.rsplit('\n').next()?;
    let rest = line.trim_end().strip_suffix('=')?.trim_end();
    let key: String = rest
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const GOOD: &str = r#"
[[scenario]]
name = "first"
dialled = "+48221000002"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
keys = [{ at = "6s", key = "1" }]
[scenario.expect]
ended = "hangup"
"#;

    fn errors(text: &str) -> Vec<String> {
        parse("x.test.toml", text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn with(extra: &str, expect: &str) -> String {
        format!(
            "[[scenario]]\nname = \"first\"\ndialled = \"+48221000002\"\nstart = \"2026-11-23T09:00:00[Europe/Warsaw]\"\n{extra}\n[scenario.expect]\n{expect}\n"
        )
    }

    #[test]
    fn a_good_file_parses_with_defaults() {
        let file = parse("x.test.toml", GOOD).unwrap();
        let s = &file.scenarios[0];
        assert_eq!(s.name, "first");
        assert_eq!(s.line, 3);
        assert_eq!(s.caller, DEFAULT_CALLER);
        assert_eq!(s.keys, vec![(6_000, '1')]);
        assert_eq!(s.prompt_length, DEFAULT_PROMPT_LENGTH_MS);
        assert_eq!(s.dial, DialOutcome::Connected);
        assert_eq!(s.expect.ended, Ended::Hangup);
        assert_eq!(s.start.time_zone().iana_name(), Some("Europe/Warsaw"));
    }

    #[test]
    fn every_field_of_the_documented_example_is_read() {
        let text = with(
            r#"caller = "+48600100200"
say = [{ at = "8s", text = "chcę zwrot pieniędzy" }]
hangup = "30s"
prompt_length = "2s500ms"
agents = [{ name = "carol", queue = "common/queues.sales", answer_after = "5s", talk = "1m", from = "10s" }, { name = "dave", queue = "q", answers = false }]
queue_full = ["common/queues.tiny"]
http = [{ url = "https://api.example.com/customer", status = 200, body = '{"vip": true}', after = "1s" }, { url = "https://down", status = 0 }]
bot = ["say:Dzień dobry", "handoff", "cannot_answer", "done"]
records = [{ fields = { customer = "1001" } }, { numbers = ["+48600100201"] }]
tickets = [12345678]
dial = "no_answer"
others = 20
others_at = "1m"
others_caller = "+48600999001"
last_agent = "carol"
record_owner = "dave""#,
            r#"prompts = ["prompts/main_menu.wav", "say:Zamknięte"]
prompts_include = ["prompts/closed.wav"]
queues = ["common/queues.sales"]
route = "connected"
agent = "carol"
dialled_out = "+48225550123"
transfer = "1234"
voicemail = true
callback = false
no_survey = true
vars = { vip = "true", count = 3, ok = true }
ended = "caller"
ended_at = "45s"
connected_at = "12s""#,
        );
        let s = parse("x.test.toml", &text).unwrap().scenarios.remove(0);
        assert_eq!(s.prompt_length, 2_500);
        assert_eq!(s.agents[0].from, 10_000);
        assert_eq!(s.agents[0].talk, 60_000);
        assert!(!s.agents[1].answers);
        assert_eq!(s.agents[1].talk, 60_000);
        assert_eq!(s.http[1].status, 0);
        assert_eq!(s.http[1].body, "");
        assert_eq!(s.bot[0], BotReply::Say("Dzień dobry".into()));
        assert_eq!(s.dial, DialOutcome::NoAnswer);
        assert_eq!(s.others, 20);
        assert_eq!(s.others_at, Some(60_000));
        assert_eq!(s.others_caller, "+48600999001");
        assert_eq!(s.last_agent.as_deref(), Some("carol"));
        assert_eq!(s.record_owner.as_deref(), Some("dave"));
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[0].numbers, ["+48600100200"]);
        assert_eq!(s.records[0].fields["customer"], "1001");
        assert_eq!(s.records[1].numbers, ["+48600100201"]);
        assert_eq!(s.tickets, [12345678]);
        assert_eq!(s.agents[0].queue.as_deref(), Some("common/queues.sales"));
        assert_eq!(s.expect.connected_at, Some(12_000));
        assert_eq!(s.expect.vars["count"], "3");
        assert_eq!(s.expect.vars["ok"], "true");
        assert_eq!(s.expect.ended, Ended::Caller);
        assert_eq!(s.expect.ended_at, Some(45_000));
        assert_eq!(s.expect.route, Some(Route::Connected));
    }

    #[test]
    fn an_unknown_field_names_the_scenario_and_the_line() {
        let text = format!(
            "{GOOD}\n[[scenario]]\nname = \"second\"\ndialled = \"1\"\nstart = \"2026-11-23T09:00:00[UTC]\"\nkyes = []\n[scenario.expect]\nended = \"hangup\"\n"
        );
        let e = errors(&text);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("x.test.toml:14:1: scenario \"second\": unknown field `kyes`"),
            "{e:?}"
        );
    }

    #[test]
    fn an_unknown_field_inside_an_inline_table_is_refused() {
        let e = errors(&with(
            r#"keys = [{ at = "6s", ky = "1" }]"#,
            "ended = \"hangup\"",
        ));
        assert!(
            e[0].contains("scenario \"first\"") && e[0].contains("unknown field `ky`"),
            "{e:?}"
        );
        let e = errors(&with("", "ended = \"hangup\"\nprompt = []"));
        assert!(e[0].contains("unknown field `prompt`"), "{e:?}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let e = errors(&with(
            r#"keys = [{ at = 6, key = "1" }]"#,
            "ended = \"hangup\"",
        ));
        assert!(
            e[0].starts_with(
                "x.test.toml:5:16: scenario \"first\": `at`: invalid type: integer `6`"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn bad_durations_keys_and_times_are_refused_with_their_field() {
        let text = r#"
[[scenario]]
name = "bad"
dialled = "+48221000002"
start = "2026-11-23 09:00"
keys = [{ at = "6s", key = "1" }, { at = "6x", key = "12" }]
hangup = "soon"
[scenario.expect]
ended = "hangup"
ended_at = "-1s"
"#;
        let e = errors(text);
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(
            e[0].starts_with("x.test.toml:5:9: scenario \"bad\": `start`: `2026-11-23 09:00` is not a time in a zone"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with(
                "x.test.toml:6:42: scenario \"bad\": `keys[1].at`: `6x` is not a duration"
            ),
            "{e:?}"
        );
        assert!(
            e[2].starts_with(
                "x.test.toml:6:54: scenario \"bad\": `keys[1].key`: `12` is not a DTMF key"
            ),
            "{e:?}"
        );
        assert!(e[3].contains("`hangup`: `soon` is not a duration"), "{e:?}");
        assert!(e[4].contains("`expect.ended_at`: `-1s`"), "{e:?}");
    }

    #[test]
    fn ended_is_required_and_checked() {
        let e = errors(&with("", "route = \"connected\""));
        assert!(
            e[0].contains("scenario \"first\": `expect.ended`: missing"),
            "{e:?}"
        );
        let e = errors(&with("", "ended = \"agent\""));
        assert!(
            e[0].contains("`expect.ended`: `agent` is not an ending"),
            "{e:?}"
        );
        let e = errors(&with("", "").replace("[scenario.expect]", ""));
        assert!(
            e[0].contains("`expect`: missing `[scenario.expect]`"),
            "{e:?}"
        );
    }

    #[test]
    fn words_are_checked() {
        let e = errors(&with(
            "dial = \"engaged\"\nbot = [\"hello\"]",
            "ended = \"hangup\"\nroute = \"queued\"",
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].contains("`bot[0]`: `hello` is not a bot reply"),
            "{e:?}"
        );
        assert!(
            e[1].contains("`dial`: `engaged` is not a dial outcome"),
            "{e:?}"
        );
        assert!(
            e[2].contains("`expect.route`: `queued` is not a route"),
            "{e:?}"
        );
    }

    #[test]
    fn missing_required_fields_and_duplicate_names_are_refused() {
        let e = errors("[[scenario]]\nname = \"a\"\n[scenario.expect]\nended = \"hangup\"\n");
        assert!(
            e[0].contains("scenario \"a\"") && e[0].contains("missing field `dialled`"),
            "{e:?}"
        );
        let twice = format!("{GOOD}{GOOD}");
        let e = errors(&twice);
        assert!(
            e[0].contains("`name`: another scenario of this file has the same name"),
            "{e:?}"
        );
        let e = errors("# nothing\n");
        assert!(e[0].contains("no `[[scenario]]`"), "{e:?}");
    }

    #[test]
    fn syntax_errors_are_placed() {
        let e = errors("[[scenario]]\nname = \"a\n");
        assert!(e[0].starts_with("x.test.toml:2:"), "{e:?}");
    }

    #[test]
    fn agents_need_no_queue_but_a_unique_name() {
        let s = parse(
            "x.test.toml",
            &with(r#"agents = [{ name = "alice" }]"#, "ended = \"hangup\""),
        )
        .unwrap()
        .scenarios
        .remove(0);
        assert_eq!(s.agents[0].queue, None);
        assert_eq!(s.others_caller, DEFAULT_CALLER);
        assert_eq!(s.others_at, None);
        let e = errors(&with(
            r#"agents = [{ name = "alice" }, { name = "alice", queue = " " }]"#,
            "ended = \"hangup\"",
        ));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].contains("`agents[1].name`: another agent of this scenario is named `alice`"),
            "{e:?}"
        );
        assert!(
            e[1].contains("`agents[1].queue`: empty queue name"),
            "{e:?}"
        );
    }

    #[test]
    fn the_acd_fields_are_checked() {
        let e = errors(&with(
            "others_at = \"later\"\nothers_caller = \"\"\nlast_agent = \" \"",
            "ended = \"hangup\"\nconnected_at = \"soon\"",
        ));
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].contains("`others_at`: `later` is not a duration"),
            "{e:?}"
        );
        assert!(
            e[1].contains("`others_caller`: the other calls' caller number is empty"),
            "{e:?}"
        );
        assert!(e[2].contains("`last_agent`: empty agent name"), "{e:?}");
        assert!(
            e[3].contains("`expect.connected_at`: `soon` is not a duration"),
            "{e:?}"
        );
    }

    #[test]
    fn survey_fields_are_read() {
        let s = parse(
            "x.test.toml",
            &with(
                "survey_call = \"std/survey.nps\"",
                "ended = \"hangup\"\nsurvey = { recommend = \"10\", comment = \"\" }\nsurvey_scheduled = \"1h\"",
            ),
        )
        .unwrap()
        .scenarios
        .remove(0);
        assert_eq!(s.survey_call.as_deref(), Some("std/survey.nps"));
        assert_eq!(
            s.expect.survey,
            Some(SurveyExpect::Answers(BTreeMap::from([
                ("comment".to_string(), String::new()),
                ("recommend".to_string(), "10".to_string()),
            ])))
        );
        assert_eq!(s.expect.survey_scheduled, Some(Scheduled::After(3_600_000)));
        for (text, survey, scheduled) in [
            (
                "survey = false\nsurvey_scheduled = false",
                SurveyExpect::Ran(false),
                Scheduled::No,
            ),
            (
                "survey = true\nsurvey_scheduled = true",
                SurveyExpect::Ran(true),
                Scheduled::Yes,
            ),
        ] {
            let s = parse(
                "x.test.toml",
                &with("", &format!("ended = \"hangup\"\n{text}")),
            )
            .unwrap()
            .scenarios
            .remove(0);
            assert_eq!(s.survey_call, None);
            assert_eq!(s.expect.survey, Some(survey));
            assert_eq!(s.expect.survey_scheduled, Some(scheduled));
        }
    }

    #[test]
    fn bad_survey_fields_are_refused() {
        let e = errors(&with(
            "survey_call = \" \"",
            "ended = \"hangup\"\nsurvey = \"5\"\nsurvey_scheduled = \"soon\"",
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("`survey_call`: empty survey name"), "{e:?}");
        assert!(e[1].contains("`expect.survey`: give `false`"), "{e:?}");
        assert!(
            e[2].contains("`expect.survey_scheduled`: `soon` is not a duration"),
            "{e:?}"
        );
        let e = errors(&with("", "ended = \"hangup\"\nsurvey = { score = 5.5 }"));
        assert!(
            e[0].contains("`expect.survey.score`: an answer is text"),
            "{e:?}"
        );
        let e = errors(&with("", "ended = \"hangup\"\nsurvey_scheduled = 3"));
        assert!(
            e[0].contains("`expect.survey_scheduled`: give `false`"),
            "{e:?}"
        );
    }

    #[test]
    fn the_customer_agent_fields_are_read() {
        let s = parse(
            "x.test.toml",
            &with(
                r#"bot_paused = true
channel = "chat"
others = 1
others_say = [{ at = "4s", text = "agent please" }]
bot_http = [
  { status = 200, body = '{"type": "say", "text": "Hi"}', after = "1s" },
  { body = "garbage" },
  { fail = "timeout" },
  { fail = "unreachable" },
]"#,
                r#"ended = "hangup"
handoff = "phrase:zwrot pieniędzy"
handoff_team = "common/agents.second_line"
handoff_owner = "bob"
handoff_users = ["cleo", "dan"]
ticket = true
bot_said = ["Dzień dobry", "fakturę"]"#,
            ),
        )
        .unwrap()
        .scenarios
        .remove(0);
        assert!(s.bot_paused);
        assert_eq!(s.channel, Channel::Chat);
        assert_eq!(s.others_say, vec![(4_000, "agent please".to_string())]);
        assert_eq!(
            s.bot_http,
            vec![
                BotHttp::Reply {
                    status: 200,
                    body: r#"{"type": "say", "text": "Hi"}"#.into(),
                    after: 1_000
                },
                BotHttp::Reply {
                    status: 200,
                    body: "garbage".into(),
                    after: 0
                },
                BotHttp::Timeout,
                BotHttp::Unreachable,
            ]
        );
        let e = &s.expect;
        assert_eq!(
            e.handoff,
            Some(HandoffExpect::Reason {
                code: "phrase".into(),
                detail: Some("zwrot pieniędzy".into())
            })
        );
        assert_eq!(
            e.handoff.as_ref().unwrap().to_string(),
            "phrase:zwrot pieniędzy"
        );
        assert_eq!(e.handoff_team.as_deref(), Some("common/agents.second_line"));
        assert_eq!(e.handoff_owner.as_deref(), Some("bob"));
        assert_eq!(
            e.handoff_users,
            Some(vec!["cleo".to_string(), "dan".to_string()])
        );
        assert_eq!(e.ticket, Some(true));
        assert_eq!(
            e.bot_said,
            Some(vec!["Dzień dobry".to_string(), "fakturę".to_string()])
        );
        // The defaults: the real bot, on the phone, not paused.
        let s = parse("x.test.toml", GOOD).unwrap().scenarios.remove(0);
        assert!(s.bot.is_empty() && s.bot_http.is_empty() && !s.bot_paused);
        assert_eq!(s.channel, Channel::Voice);
        assert_eq!(s.expect.handoff, None);
        for (text, want) in [
            ("none", HandoffExpect::None),
            (
                "asks_for_human",
                HandoffExpect::Reason {
                    code: "asks_for_human".into(),
                    detail: None,
                },
            ),
            (
                "bot_requested:billing dispute",
                HandoffExpect::Reason {
                    code: "bot_requested".into(),
                    detail: Some("billing dispute".into()),
                },
            ),
        ] {
            let s = parse(
                "x.test.toml",
                &with("", &format!("ended = \"hangup\"\nhandoff = \"{text}\"")),
            )
            .unwrap()
            .scenarios
            .remove(0);
            assert_eq!(s.expect.handoff, Some(want));
        }
    }

    #[test]
    fn bad_customer_agent_fields_are_refused() {
        let e = errors(&with(
            r#"channel = "sms"
bot = ["done"]
bot_http = [{ status = 700 }, { fail = "slow" }, { fail = "timeout", body = "x" }]"#,
            r#"ended = "hangup"
handoff = "trigger:refund"
handoff_owner = " ""#,
        ));
        assert_eq!(e.len(), 7, "{e:?}");
        assert!(
            e[0].contains("`bot_http[0].status`: 700 is not an HTTP status"),
            "{e:?}"
        );
        assert!(
            e[1].contains("`bot_http[1].fail`: `slow` is not a failure"),
            "{e:?}"
        );
        assert!(
            e[2].contains("`bot_http[2].fail`: a failed request has no `status` or `body`"),
            "{e:?}"
        );
        assert!(e[3].contains("`bot`: a scenario either scripts"), "{e:?}");
        assert!(e[4].contains("`channel`: `sms` is not a channel"), "{e:?}");
        assert!(
            e[5].contains("`expect.handoff`: `trigger` is not a handoff reason"),
            "{e:?}"
        );
        assert!(e[6].contains("`expect.handoff_owner`: empty"), "{e:?}");
        for (text, problem) in [
            ("paused:now", "`paused` has no detail"),
            ("phrase:", "empty detail after `phrase:`"),
        ] {
            let e = errors(&with(
                "",
                &format!("ended = \"hangup\"\nhandoff = \"{text}\""),
            ));
            assert!(e[0].contains(problem), "{e:?}");
        }
    }

    #[test]
    fn a_knowledge_base_that_is_missing_or_broken_says_why() {
        let dir = std::env::temp_dir().join(format!("dialect-sim-kb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = read_knowledge_base(&dir.join("none.toml")).unwrap_err();
        assert!(missing.starts_with("cannot be read: "), "{missing}");
        let broken = dir.join("broken.toml");
        std::fs::write(&broken, "[[entry]]\nquestion = \"Q?\"\nlang = \"pl\"\n").unwrap();
        let why = read_knowledge_base(&broken).unwrap_err();
        assert!(
            why.starts_with("is not a valid knowledge base: entry 1, `answer`"),
            "{why}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn others_are_bounded() {
        let e = errors(&with("others = 5000", "ended = \"hangup\""));
        assert!(e[0].contains("`others`: at most 100 other calls"), "{e:?}");
    }
}
