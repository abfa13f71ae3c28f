//! The compiled flow graph: what the engine executes.
//!
//! A [`Program`] is one campaign: its settings, the declarations it uses, and
//! its IVR as a graph of [`Node`]s whose exits point at other nodes by index.
//! Everything is ordered (vectors, `BTreeMap`) so that encoding is
//! deterministic.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Index of a node in [`Program::nodes`].
pub type NodeId = u32;

/// One compiled campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The campaign's name in the source (`campaign scheme1 { ... }`).
    pub name: String,
    /// Campaign-level settings, by setting name (`id`, `priority`, ...).
    pub settings: Settings,
    /// Normalised E.164 numbers that reach the campaign.
    pub numbers: Vec<String>,
    /// Named sections of the campaign (fields, classifiers, alerts, channels,
    /// variables), each with its own settings.
    pub sections: Vec<Section>,
    /// The declarations the campaign refers to (queues, agents, surveys, ...).
    pub decls: Vec<Section>,
    /// Business-hours schedules, referred to by index from [`Op::Hours`].
    pub schedules: Vec<Schedule>,
    /// Prompts, referred to by index.
    pub prompts: Vec<Prompt>,
    /// rhai expression sources, referred to by index; compiled once at load.
    pub exprs: Vec<String>,
    /// Source files, referred to by [`Origin::file`]: paths relative to the
    /// build root, never absolute.
    pub sources: Vec<String>,
    /// The IVR graph.
    pub nodes: Vec<Node>,
    /// The first node (the `answer` block).
    pub entry: NodeId,
    /// The files the campaign plays or reads (prompts, knowledge bases),
    /// by the path it names them with, each with the SHA-256 of its content
    /// as built (`dialect build` writes them to `assets/`; see
    /// [`crate::assets`]). Empty for flows compiled where they are served
    /// (`dialect serve flows/`, `dialect test`), which read the files
    /// beside the sources. Sorted by path.
    pub assets: Vec<Asset>,
}

/// A file a built campaign carries: the path its flows name it by, and the
/// SHA-256 of its content as stored in the build's `assets/` directory. The
/// artifact's hash covers these hashes, so a changed recording is a changed
/// artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// The path, relative to the flows (`prompts/welcome.wav`).
    pub path: String,
    /// The SHA-256 of the stored content.
    pub sha256: [u8; 32],
}

/// Settings by name. Ordered, so that encoding is deterministic.
pub type Settings = BTreeMap<String, Value>;

/// A named group of settings: a queue, an agent, a record field, ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// What it is: `queue`, `agent`, `field`, `classifier`, ...
    pub kind: String,
    /// Its name (qualified by import alias where imported: `std_hours.office`).
    pub name: String,
    /// Its settings.
    pub settings: Settings,
}

/// A typed setting value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// `true`/`false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A decimal number, kept as written so the artifact holds no float.
    Decimal(String),
    /// Free text, a URL, an e-mail address, a file path.
    Text(String),
    /// A word from a fixed set.
    Word(String),
    /// Milliseconds.
    Duration(u64),
    /// Minutes after midnight.
    TimeRange(u32, u32),
    /// Bit set of weekdays, bit 0 = Monday.
    Days(u8),
    /// `YYYY-MM-DD`.
    Date(String),
    /// First and last day, `YYYY-MM-DD`.
    DateRange(String, String),
    /// Hundredths of a percent.
    Percent(u32),
    /// An E.164 number, or a prefix pattern ending in `*`.
    Phone(String),
    /// An index into [`Program::prompts`].
    Prompt(u32),
    /// An index into [`Program::exprs`].
    Expr(u32),
    /// The name of a declaration of the given kind.
    Ref(String, String),
    /// Several values.
    List(Vec<Value>),
}

/// Something the caller hears.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Prompt {
    /// Synthesised from text.
    Say {
        /// The text.
        text: String,
        /// Language tag, if given.
        language: Option<String>,
    },
    /// An audio file, relative to the build root.
    Play {
        /// The path.
        path: String,
    },
}

/// Business hours in a time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The declaration's qualified name.
    pub name: String,
    /// IANA zone name.
    pub zone: String,
    /// Weekly hours: (weekday bit set, start minute, end minute).
    pub weekly: Vec<(u8, u32, u32)>,
    /// Dated exceptions, in source order.
    pub exceptions: Vec<Exception>,
}

/// A dated exception to weekly hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exception {
    /// Closed from the first to the last day, inclusive (`YYYY-MM-DD`).
    Closed {
        /// First day.
        from: String,
        /// Last day.
        to: String,
        /// Why, for logs.
        reason: Option<String>,
    },
    /// Open on a day at these hours only.
    Open {
        /// The day.
        date: String,
        /// Start minute.
        start: u32,
        /// End minute.
        end: u32,
        /// Why, for logs.
        reason: Option<String>,
    },
}

/// One block of the IVR graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// What the block does.
    pub op: Op,
    /// Where each exit leads, in the order the block defines them.
    pub exits: Vec<(String, NodeId)>,
    /// Where the block came from.
    pub origin: Origin,
}

/// Source location of a node, for logs, traces and test failures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Index into [`Program::sources`].
    pub file: u32,
    /// Byte offsets of the block's head in that file.
    pub start: u32,
    /// End of the head.
    pub end: u32,
    /// 1-based line.
    pub line: u32,
    /// The block's label, if it has one.
    pub label: Option<String>,
}

/// The operation of a node, with its typed parameters. Exits are in [`Node::exits`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Answer the call. Exit: `next`.
    Answer,
    /// Play a prompt. Exit: `next`.
    Play {
        /// Index into [`Program::prompts`].
        prompt: u32,
    },
    /// Read one key. Exits: one per key (`"1"`, `"*"`), `no_input`, `invalid`.
    Menu {
        /// The prompt, if any.
        prompt: Option<u32>,
        /// Wait for a key, ms.
        timeout_ms: u64,
        /// Re-prompts.
        retries: u32,
        /// After an invalid key.
        invalid_prompt: Option<u32>,
        /// After no key.
        no_input_prompt: Option<u32>,
    },
    /// Read an extension. Exits: `found`, `no_input`, `invalid`.
    Extension {
        /// The prompt, if any.
        prompt: Option<u32>,
        /// Longest extension.
        digits: u32,
        /// Wait, ms.
        timeout_ms: u64,
        /// Re-prompts.
        retries: u32,
    },
    /// Business hours. Exits: `open`, `closed`.
    Hours {
        /// Index into [`Program::schedules`].
        schedule: u32,
    },
    /// ANI match. Exits: `match`, `no_match`.
    RouteCaller {
        /// E.164 numbers or prefixes ending in `*`.
        patterns: Vec<String>,
    },
    /// DNIS match. Exits: `match`, `no_match`.
    RouteDialled {
        /// E.164 numbers or prefixes ending in `*`.
        patterns: Vec<String>,
    },
    /// Identification result. Exits: `one`, `many`, `none`.
    RouteIdentified,
    /// Authorisation. Exits: `ok`, `failed`.
    Authorise {
        /// `internal` or `external`.
        source: String,
        /// External source.
        url: Option<String>,
        /// Prompt.
        prompt: Option<u32>,
        /// Wait, ms.
        timeout_ms: u64,
    },
    /// Authorisation by ticket id. Exits: `ok`, `failed`.
    Ticket {
        /// Prompt.
        prompt: Option<u32>,
        /// Longest id.
        digits: u32,
        /// Wait, ms.
        timeout_ms: u64,
    },
    /// API login. Exits: `ok`, `error`.
    ApiLogin {
        /// Endpoint.
        url: String,
        /// User name.
        user: Option<String>,
        /// Name of the secret in the runtime configuration.
        secret: Option<String>,
        /// Wait, ms.
        timeout_ms: u64,
    },
    /// API request. Exits: `ok`, `error`, `timeout`.
    ApiRequest {
        /// Endpoint.
        url: String,
        /// Lower-case HTTP method.
        method: String,
        /// Body expression.
        body: Option<u32>,
        /// Result variable.
        into: String,
        /// Wait, ms.
        timeout_ms: u64,
    },
    /// Condition. Exits: `true`, `false`.
    Condition {
        /// Index into [`Program::exprs`].
        expr: u32,
    },
    /// Switch on a value. Exits: one per case (the case's literal as text), `else`.
    Switch {
        /// Index into [`Program::exprs`].
        expr: u32,
    },
    /// Set a variable. Exit: `next`.
    Set {
        /// Variable name.
        var: String,
        /// Index into [`Program::exprs`].
        expr: u32,
    },
    /// Queue for an agent. Exits: `connected`, `timeout`, `full`.
    Queue {
        /// The queue's qualified name (a [`Program::decls`] entry).
        queue: String,
        /// Max wait, ms (block override or the queue's, default 30 min).
        max_wait_ms: u64,
        /// Entry prompt.
        entry_prompt: Option<u32>,
        /// Announcement interval, ms.
        announce_every_ms: Option<u64>,
    },
    /// Change priority. Exit: `next`.
    Priority {
        /// -100..100.
        delta: i32,
    },
    /// Concurrency limit of a path. Exits: `within`, `overflow`.
    Overflow {
        /// Calls allowed inside at once.
        limit: u32,
    },
    /// Dial an external number. Exits: `connected`, `busy`, `no_answer`, `failed`.
    Dial {
        /// E.164.
        number: String,
        /// Ring time, ms.
        timeout_ms: u64,
        /// Shown to the called party.
        caller_id: Option<String>,
    },
    /// Record a voice message. Exit: `next`.
    Voicemail {
        /// Greeting.
        greeting: Option<u32>,
        /// Skip the system announcement.
        without_announcement: bool,
        /// Where to e-mail it.
        email: Option<String>,
        /// Longest message, ms.
        max_length_ms: u64,
    },
    /// Register a callback request. Exit: `next`.
    Callback {
        /// The queue placing it.
        queue: Option<String>,
        /// Confirmation prompt.
        prompt: Option<u32>,
        /// Delay, ms (0: as soon as an agent is free).
        delay_ms: u64,
        /// Why.
        reason: Option<String>,
    },
    /// Mark for the small record pop-up. Exit: `next`.
    NoRecordWindow,
    /// Disable the automatic survey. Exit: `next`.
    NoSurvey,
    /// Converse with a customer agent. Exits: `done`, `handoff`, `cannot_answer`.
    Bot {
        /// The bot's qualified name.
        bot: String,
        /// Turn limit.
        max_turns: u32,
        /// Wait for the caller, ms.
        timeout_ms: u64,
    },
    /// Continue elsewhere (a `goto`, kept as a node so traces show it). Exit: `next`.
    Jump,
    /// End the call. No exits.
    Hangup {
        /// Reason recorded in the call detail record.
        reason: Option<String>,
    },
}

impl Op {
    /// The block keyword this op comes from.
    pub fn keyword(&self) -> &'static str {
        match self {
            Op::Answer => "answer",
            Op::Play { .. } => "play",
            Op::Menu { .. } => "menu",
            Op::Extension { .. } => "extension",
            Op::Hours { .. } => "hours",
            Op::RouteCaller { .. } => "route_caller",
            Op::RouteDialled { .. } => "route_dialled",
            Op::RouteIdentified => "route_identified",
            Op::Authorise { .. } => "authorise",
            Op::Ticket { .. } => "ticket",
            Op::ApiLogin { .. } => "api_login",
            Op::ApiRequest { .. } => "api_request",
            Op::Condition { .. } => "condition",
            Op::Switch { .. } => "switch",
            Op::Set { .. } => "set",
            Op::Queue { .. } => "queue",
            Op::Priority { .. } => "priority",
            Op::Overflow { .. } => "overflow",
            Op::Dial { .. } => "dial",
            Op::Voicemail { .. } => "voicemail",
            Op::Callback { .. } => "callback",
            Op::NoRecordWindow => "no_record_window",
            Op::NoSurvey => "no_survey",
            Op::Bot { .. } => "bot",
            Op::Jump => "goto",
            Op::Hangup { .. } => "hangup",
        }
    }
}
