//! A customer agent's configuration, read from a compiled program's `bot`
//! and `handoff` declarations.

use crate::text::{self, Phrase};
use dialect_bytecode::{Program, Prompt, Section, Value};

/// The confidence threshold when a bot declares none.
pub const DEFAULT_THRESHOLD: f64 = 0.45;
/// The longest wait for an external bot's reply when a bot declares none.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// One customer agent: the `bot` declaration with its handoff rules.
#[derive(Clone, Debug, PartialEq)]
pub struct BotConfig {
    /// The declaration's qualified name (as in `Op::Bot { bot }`).
    pub name: String,
    /// The knowledge base file, as written (relative to the flows
    /// directory; the adapter reads it).
    pub knowledge: Option<String>,
    /// The URL of an external bot. When set, the bot is external and
    /// `knowledge` is not used.
    pub endpoint: Option<String>,
    /// Below this confidence the bot cannot answer, 0..=1.
    pub threshold: f64,
    /// The languages it converses in (`pl`, `en`), in order of preference;
    /// empty: any.
    pub languages: Vec<String>,
    /// The longest wait for an external bot's reply, ms.
    pub timeout_ms: u64,
    /// What it says first.
    pub greeting: Option<Prompt>,
    /// Its handoff rules (the defaults when it names none).
    pub handoff: HandoffRules,
}

/// A `handoff` declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct HandoffRules {
    /// The declaration's qualified name; `None` for the defaults.
    pub name: Option<String>,
    /// Whether the default triggers apply: the bot cannot answer, the
    /// caller asks for a human, the bot is paused.
    pub default_triggers: bool,
    /// Custom trigger words or phrases, in order.
    pub triggers: Vec<Phrase>,
    /// What a handoff does.
    pub mode: Mode,
    /// Teams every handoff goes to (qualified names), when no rule chose.
    pub teams: Vec<String>,
    /// Users (agents' qualified names) every handoff goes to.
    pub users: Vec<String>,
    /// Workflow rules: (rhai expression source, team), first match wins.
    pub rules: Vec<(String, String)>,
    /// Whether the ticket owner rotates among the team by source channel.
    pub rotate_by_channel: bool,
    /// Said when a team is available.
    pub message_available: Option<Prompt>,
    /// Said when no team is available.
    pub message_unavailable: Option<Prompt>,
    /// Said when the workflow assigned nobody.
    pub message_unassigned: Option<Prompt>,
    /// What happens to a live chat handoff nobody was assigned.
    pub unassigned: Unassigned,
}

/// The handoff process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// To the next available agent, now.
    Live,
    /// Assigned to a human to continue later.
    Async,
    /// Never handed off: the bot keeps answering.
    None,
}

/// A live handoff that stayed unassigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unassigned {
    /// The chat stays open, in the unassigned view.
    KeepOpen,
    /// The chat is closed.
    Close,
}

impl Default for HandoffRules {
    fn default() -> HandoffRules {
        HandoffRules {
            name: None,
            default_triggers: true,
            triggers: Vec::new(),
            mode: Mode::Live,
            teams: Vec::new(),
            users: Vec::new(),
            rules: Vec::new(),
            rotate_by_channel: false,
            message_available: None,
            message_unavailable: None,
            message_unassigned: None,
            unassigned: Unassigned::KeepOpen,
        }
    }
}

impl BotConfig {
    /// A bot with the defaults and nothing else (neither a knowledge base
    /// nor an endpoint), for building configurations in code.
    pub fn new(name: impl Into<String>) -> BotConfig {
        BotConfig {
            name: name.into(),
            knowledge: None,
            endpoint: None,
            threshold: DEFAULT_THRESHOLD,
            languages: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            greeting: None,
            handoff: HandoffRules::default(),
        }
    }

    /// Reads the `bot` declaration named `bot` (qualified, as in
    /// `Op::Bot { bot }`) and the `handoff` declaration it refers to.
    /// `None` when the program has no such bot. A handoff reference the
    /// program does not hold (a verified program always does) gives the
    /// default rules.
    pub fn from_program(program: &Program, bot: &str) -> Option<BotConfig> {
        let decl = find(program, "bot", bot)?;
        let settings = &decl.settings;
        let mut config = BotConfig::new(bot);
        config.knowledge = settings.get("knowledge").and_then(as_text);
        config.endpoint = settings.get("endpoint").and_then(as_text);
        if let Some(t) = settings.get("threshold").and_then(as_decimal) {
            config.threshold = t.clamp(0.0, 1.0);
        }
        if let Some(Value::List(items)) = settings.get("languages") {
            config.languages = items.iter().filter_map(as_text).collect();
        }
        if let Some(Value::Duration(ms)) = settings.get("timeout") {
            config.timeout_ms = *ms;
        }
        config.greeting = settings.get("greeting").and_then(|v| prompt(program, v));
        if let Some(Value::Ref(_, name)) = settings.get("handoff")
            && let Some(handoff) = find(program, "handoff", name)
        {
            config.handoff = HandoffRules::from_section(program, handoff);
        }
        Some(config)
    }

    /// Whether the bot is external (an endpoint) rather than embedded.
    pub fn is_external(&self) -> bool {
        self.endpoint.is_some()
    }
}

impl HandoffRules {
    /// Reads a `handoff` declaration of `program`.
    pub fn from_section(program: &Program, section: &Section) -> HandoffRules {
        let settings = &section.settings;
        let mut rules = HandoffRules {
            name: Some(section.name.clone()),
            ..HandoffRules::default()
        };
        if let Some(Value::Bool(b)) = settings.get("default_triggers") {
            rules.default_triggers = *b;
        }
        if let Some(Value::List(items)) = settings.get("triggers") {
            let sources: Vec<String> = items.iter().filter_map(as_text).collect();
            rules.triggers = text::phrases(&sources);
        }
        rules.mode = match settings.get("mode").and_then(as_text).as_deref() {
            Some("async") => Mode::Async,
            Some("none") => Mode::None,
            _ => Mode::Live,
        };
        rules.teams = refs(settings.get("teams"));
        rules.users = refs(settings.get("users"));
        // A repeated setting is a list of its uses, each a list of arguments.
        if let Some(Value::List(uses)) = settings.get("rule") {
            for one in uses {
                if let Value::List(args) = one
                    && let [Value::Expr(e), Value::Ref(_, team)] = args.as_slice()
                    && let Some(source) =
                        usize::try_from(*e).ok().and_then(|e| program.exprs.get(e))
                {
                    rules.rules.push((source.clone(), team.clone()));
                }
            }
        }
        if let Some(Value::Bool(b)) = settings.get("rotate_by_channel") {
            rules.rotate_by_channel = *b;
        }
        rules.message_available = settings
            .get("message_available")
            .and_then(|v| prompt(program, v));
        rules.message_unavailable = settings
            .get("message_unavailable")
            .and_then(|v| prompt(program, v));
        rules.message_unassigned = settings
            .get("message_unassigned")
            .and_then(|v| prompt(program, v));
        rules.unassigned = match settings.get("unassigned").and_then(as_text).as_deref() {
            Some("close") => Unassigned::Close,
            _ => Unassigned::KeepOpen,
        };
        rules
    }
}

fn find<'p>(program: &'p Program, kind: &str, name: &str) -> Option<&'p Section> {
    program
        .decls
        .iter()
        .find(|d| d.kind == kind && d.name == name)
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Text(s) | Value::Word(s) => Some(s.clone()),
        _ => None,
    }
}

fn as_decimal(value: &Value) -> Option<f64> {
    match value {
        Value::Decimal(s) => s.parse().ok().filter(|v: &f64| v.is_finite()),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn refs(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Ref(_, name) => Some(name.clone()),
                _ => None,
            })
            .collect(),
        Some(Value::Ref(_, name)) => vec![name.clone()],
        _ => Vec::new(),
    }
}

fn prompt(program: &Program, value: &Value) -> Option<Prompt> {
    match value {
        Value::Prompt(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| program.prompts.get(i))
            .cloned(),
        _ => None,
    }
}
