//! What may stand where: the declarations, settings, IVR blocks and their exits
//! of the language, with their documentation. One source of truth for `check`,
//! `lower`, `dialect explain` and the language server's hover and completion.

/// The type of one argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    /// Free text: a string.
    Text,
    /// A whole number within bounds.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A decimal number within bounds.
    Decimal {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// `true` or `false`.
    Bool,
    /// A duration within bounds, in milliseconds.
    Duration {
        /// Shortest allowed.
        min_ms: u64,
        /// Longest allowed.
        max_ms: u64,
    },
    /// `08:00-16:00`, end after start.
    TimeRange,
    /// `mon-fri`, `sat`, `[mon, wed]`.
    Days,
    /// `2026-12-24`.
    Date,
    /// `2026-12-24` or `2026-12-21..2026-12-22`.
    DateOrRange,
    /// `80%`.
    Percent,
    /// A phone number: E.164 `+48221000001`, or a string read with the default country code.
    Phone,
    /// A phone number or a prefix pattern ending in `*`.
    PhonePattern,
    /// A country calling code: `+48`.
    CountryCode,
    /// An IANA time zone name: `"Europe/Warsaw"`.
    Zone,
    /// A prompt: `say "text"` (synthesised) or `play "file.wav"` (an audio file).
    Prompt,
    /// An audio file (wav or mp3) relative to the flow file.
    Audio,
    /// A data file relative to the flow file.
    DataFile,
    /// An e-mail address.
    Email,
    /// An `http://` or `https://` URL.
    Url,
    /// A rhai expression in parentheses.
    Expr,
    /// A variable name that a block assigns.
    Var,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// A reference to a declaration.
    Ref(Kind),
    /// A list of values of one type.
    List(&'static Ty),
}

/// The kinds of named things a flow can refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `campaign`
    Campaign,
    /// `schedule`
    Schedule,
    /// `queue`
    Queue,
    /// `skill`
    Skill,
    /// `team`
    Team,
    /// `agent`
    Agent,
    /// `survey`
    Survey,
    /// `bot`
    Bot,
    /// `handoff`
    Handoff,
    /// `flow` (a sub-flow)
    Flow,
    /// `classifier` (inside a campaign)
    Classifier,
    /// `field` (inside a campaign)
    Field,
    /// A block label (`main: menu ...`).
    Label,
}

impl Kind {
    /// The keyword that declares this kind.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Campaign => "campaign",
            Kind::Schedule => "schedule",
            Kind::Queue => "queue",
            Kind::Skill => "skill",
            Kind::Team => "team",
            Kind::Agent => "agent",
            Kind::Survey => "survey",
            Kind::Bot => "bot",
            Kind::Handoff => "handoff",
            Kind::Flow => "flow",
            Kind::Classifier => "classifier",
            Kind::Field => "field",
            Kind::Label => "label",
        }
    }

    /// The kind declared by a top-level keyword.
    pub fn from_keyword(word: &str) -> Option<Kind> {
        DECL_KINDS.iter().copied().find(|k| k.keyword() == word)
    }
}

/// The kinds declared at the top level of a file.
pub const DECL_KINDS: &[Kind] = &[
    Kind::Campaign,
    Kind::Schedule,
    Kind::Queue,
    Kind::Skill,
    Kind::Team,
    Kind::Agent,
    Kind::Survey,
    Kind::Bot,
    Kind::Handoff,
    Kind::Flow,
];

/// One argument position.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    /// What it takes.
    pub ty: Ty,
    /// Whether it may be left out (only trailing arguments).
    pub optional: bool,
}

/// A setting: `name arg...` inside a declaration or block.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The head word.
    pub name: &'static str,
    /// Its arguments.
    pub args: &'static [Arg],
    /// Whether it must be given.
    pub required: bool,
    /// Whether it may be given more than once.
    pub repeat: bool,
    /// One line of documentation.
    pub doc: &'static str,
}

/// One exit of a block.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    /// The exit's name, as written after `on`.
    pub name: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
}

/// How a block's exits are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitMode {
    /// The exits listed in `exits`.
    Fixed,
    /// DTMF keys `0-9 * #` as written in arms, plus the listed exits.
    Keys,
    /// Values of the expression as written in arms, plus `else`.
    Cases,
}

/// An IVR block.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    /// The head word.
    pub name: &'static str,
    /// Its arguments.
    pub args: &'static [Arg],
    /// Settings allowed in its body.
    pub settings: &'static [Setting],
    /// Exits that must be wired with `on EXIT { ... }` (or `on else`).
    pub exits: &'static [Exit],
    /// How further exits are named.
    pub mode: ExitMode,
    /// The exit that continues with the next statement, if any.
    pub next: Option<&'static str>,
    /// Whether the block waits for the caller, a timer, an agent or a service.
    /// A loop through no waiting block would spin.
    pub waits: bool,
    /// Documentation: what the block does (first line is the summary).
    pub doc: &'static str,
}

/// A declaration or a section inside one.
#[derive(Clone, Copy, Debug)]
pub struct Decl {
    /// The head word.
    pub name: &'static str,
    /// Whether a name follows the head word.
    pub named: bool,
    /// Settings allowed in its body.
    pub settings: &'static [Setting],
    /// Sections allowed in its body.
    pub sections: &'static [&'static str],
    /// Whether its body is a sequence of IVR blocks.
    pub blocks: bool,
    /// Whether it needs a body.
    pub body: bool,
    /// Documentation.
    pub doc: &'static str,
}

const fn req(ty: Ty) -> Arg {
    Arg {
        ty,
        optional: false,
    }
}

const fn opt(ty: Ty) -> Arg {
    Arg { ty, optional: true }
}

const fn set(name: &'static str, args: &'static [Arg], doc: &'static str) -> Setting {
    Setting {
        name,
        args,
        required: false,
        repeat: false,
        doc,
    }
}

const fn must(name: &'static str, args: &'static [Arg], doc: &'static str) -> Setting {
    Setting {
        name,
        args,
        required: true,
        repeat: false,
        doc,
    }
}

const fn many(name: &'static str, args: &'static [Arg], doc: &'static str) -> Setting {
    Setting {
        name,
        args,
        required: false,
        repeat: true,
        doc,
    }
}

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

const fn dur(min_ms: u64, max_ms: u64) -> Ty {
    Ty::Duration { min_ms, max_ms }
}

const fn int(min: i64, max: i64) -> Ty {
    Ty::Int { min, max }
}

const BOOL: &[Arg] = &[req(Ty::Bool)];
const TEXT: &[Arg] = &[req(Ty::Text)];
const PROMPT: &[Arg] = &[req(Ty::Prompt)];
const URL: &[Arg] = &[req(Ty::Url)];
const EMAIL: &[Arg] = &[req(Ty::Email)];

/// The events a campaign can send to webhooks (SPEC 5.9).
pub const WEBHOOK_EVENTS: &[&str] = &[
    "record_added",
    "call_answered",
    "wrap_up",
    "ticket_changed",
    "call_ended",
    "call_transferred",
    "call_routed",
    "record_edited",
    "sms_received",
    "missed_call",
    "alert",
];

/// Contact results for which a classifier is offered.
pub const CONTACT_RESULTS: &[&str] = &[
    "answered",
    "unanswered",
    "busy",
    "error",
    "mail",
    "sms",
    "fax",
    "chat",
];

/// Prompt timeouts and similar waits on the caller.
const CALLER_WAIT: Ty = dur(SECOND, 2 * MINUTE);
/// Waits on external services.
const SERVICE_WAIT: Ty = dur(100, MINUTE);
/// Agent-side times such as wrap-up.
const AGENT_TIME: Ty = dur(0, 2 * HOUR);

/// Every top-level declaration and every section.
pub const DECLS: &[Decl] = &[
    Decl {
        name: "campaign",
        named: true,
        settings: &[
            must("name", TEXT, "The campaign's display name."),
            must(
                "id",
                TEXT,
                "The campaign identifier; it goes into recording file names.",
            ),
            set(
                "enabled",
                BOOL,
                "Whether the campaign takes calls (default true).",
            ),
            must(
                "numbers",
                &[req(Ty::List(&Ty::Phone))],
                "The telephone numbers that reach the campaign.",
            ),
            set(
                "country_code",
                &[req(Ty::CountryCode)],
                "The default country code for numbers written without one (default +48).",
            ),
            set(
                "handling",
                &[req(Ty::Enum(&["automatic", "web_panel", "phone"]))],
                "How agents take the campaign's calls: `phone` (the default: their phone rings), `automatic` (their phone answers by itself: `Call-Info: answer-after=0`), `web_panel` (they accept or decline the offer in the agent API, then their phone answers by itself).",
            ),
            set(
                "priority",
                &[req(int(0, 100))],
                "Campaign priority: higher is served first.",
            ),
            set(
                "max_unhandled_per_agent",
                &[req(int(0, 1000))],
                "How many unhandled records an agent may hold before getting no new ones.",
            ),
            set(
                "unblock_at",
                &[req(int(0, 1000))],
                "At how many unhandled records the block is lifted (0: all handled).",
            ),
            set(
                "exclude_records_from",
                &[req(Ty::List(&Ty::Ref(Kind::Campaign)))],
                "Campaigns whose records must not be passed into this one.",
            ),
            set(
                "starts",
                &[req(Ty::Date)],
                "The first day of the campaign's life.",
            ),
            set(
                "ends",
                &[req(Ty::Date)],
                "The last day of the campaign's life.",
            ),
            set(
                "max_recall_date",
                &[req(Ty::Date)],
                "No recall is scheduled after this day.",
            ),
            many(
                "recall_window",
                &[req(Ty::Days), req(Ty::TimeRange)],
                "Days and hours in which recalls may be placed.",
            ),
            set(
                "recording",
                &[req(Ty::Enum(&["none", "low", "high"]))],
                "Record conversations with agents, through transfers and conferences: `low` mixes both parties in one 8 kHz channel, `high` keeps the caller left and the agent right.",
            ),
            set(
                "recording_name",
                TEXT,
                "File-name template of recordings: {campaign}, {date}, {time}, {caller}, {agent}, {field}.",
            ),
            set(
                "ticket_sla",
                &[req(dur(MINUTE, 31 * DAY))],
                "How long a ticket of the campaign may stay open: the SLA of the `sla_warning` and `sla_exceeded` alerts.",
            ),
            set(
                "recording_resume_after",
                &[req(dur(SECOND, HOUR))],
                "A recording the agent paused resumes by itself after this time (once a consultation or conference is over).",
            ),
            many(
                "webhook",
                &[req(Ty::Enum(WEBHOOK_EVENTS)), req(Ty::Url)],
                "Send this event to this URL.",
            ),
            set("wrap_up", &[req(AGENT_TIME)], "Wrap-up time after a call."),
            set(
                "extra_wrap_up",
                &[req(AGENT_TIME)],
                "Extra wrap-up time an agent may take.",
            ),
            set("music_on_hold", PROMPT, "What a held caller hears."),
            set("queue_music", PROMPT, "What a queued caller hears."),
            set("voicemail_email", EMAIL, "Where voicemails are e-mailed."),
            set(
                "voicemail_without_announcement",
                BOOL,
                "Voicemail without the system announcement (\"Proszę zostawić wiadomość.\", in the language of the campaign's country code) before each voicemail block's greeting.",
            ),
            set(
                "required_skill",
                &[req(Ty::Ref(Kind::Skill))],
                "Only agents with this skill take the campaign's calls (in every queue it uses).",
            ),
            set(
                "survey",
                &[req(Ty::Ref(Kind::Survey))],
                "The automatic survey after calls.",
            ),
            set(
                "sticky_agent",
                &[req(dur(SECOND, HOUR))],
                "Offer a returning caller to the last agent first, for at most this long.",
            ),
            set(
                "private_record",
                &[req(dur(SECOND, HOUR))],
                "Offer a private record's call to its owning agent first, for at most this long.",
            ),
            set(
                "keep_classifier_on_closed",
                BOOL,
                "Don't change the classifier of closed records.",
            ),
            set(
                "callback_unconnected",
                &[req(Ty::Enum(&["never", "always", "per_block"]))],
                "Callback for callers never connected: never, always, or per callback block.",
            ),
            set(
                "authorisation",
                &[req(Ty::Enum(&["internal", "external"]))],
                "Where authorisation blocks identify records.",
            ),
            set(
                "sensitive_data",
                BOOL,
                "Mask the caller number to its last four digits.",
            ),
            set(
                "supervisors",
                &[req(Ty::List(&Ty::Ref(Kind::Agent)))],
                "Supervisors.",
            ),
            set(
                "agents",
                &[req(Ty::List(&Ty::Ref(Kind::Agent)))],
                "Only these agents (and the members of `teams`) take the campaign's calls, in every queue it uses.",
            ),
            set(
                "teams",
                &[req(Ty::List(&Ty::Ref(Kind::Team)))],
                "Only these teams' members (and `agents`) take the campaign's calls, in every queue it uses.",
            ),
        ],
        sections: &["field", "classifier", "alert", "channel", "variable", "ivr"],
        blocks: false,
        body: true,
        doc: "An inbound campaign: its numbers, settings, record fields, classifiers, alerts, channel priorities and IVR tree.",
    },
    Decl {
        name: "ivr",
        named: false,
        settings: &[],
        sections: &[],
        blocks: true,
        body: true,
        doc: "The IVR tree of a campaign: blocks executed in order, from `answer`.",
    },
    Decl {
        name: "field",
        named: true,
        settings: &[
            set(
                "type",
                &[req(Ty::Enum(&["none", "pesel", "nip", "regon"]))],
                "none: free text; pesel, nip, regon: digit count and checksum validated.",
            ),
            set("editable", BOOL, "Whether agents may edit it."),
            set(
                "required",
                BOOL,
                "A record cannot be wrapped up without it.",
            ),
            set(
                "significant",
                BOOL,
                "The field that identifies records in lists.",
            ),
            set(
                "in_recording_name",
                BOOL,
                "Add the significant field to recording names.",
            ),
        ],
        sections: &[],
        blocks: false,
        body: false,
        doc: "A record field of the campaign (phone and e-mail are always there).",
    },
    Decl {
        name: "classifier",
        named: true,
        settings: &[
            set("label", TEXT, "The name agents see."),
            set("recall", BOOL, "The record is to be called again."),
            set("closes", BOOL, "The classifier closes the record."),
            set(
                "success",
                BOOL,
                "Counts as success (may be set without contact).",
            ),
            set(
                "offered_for",
                &[req(Ty::List(&Ty::Enum(CONTACT_RESULTS)))],
                "For which contact results agents are offered it.",
            ),
            set(
                "recall_after",
                &[req(dur(MINUTE, 31 * DAY))],
                "Automatic recall after this time.",
            ),
            set(
                "max_recall",
                &[req(dur(DAY, 366 * DAY))],
                "No recall later than this.",
            ),
            set(
                "move_to",
                &[req(Ty::Ref(Kind::Campaign))],
                "Move the record to this campaign.",
            ),
            set("blacklist", BOOL, "Never call the record again."),
            set("email", EMAIL, "Send an e-mail to this address."),
            set("sms", TEXT, "Send this SMS to the record."),
            set(
                "private_to",
                &[req(Ty::Ref(Kind::Agent))],
                "Make the record private to this agent.",
            ),
        ],
        sections: &[],
        blocks: false,
        body: false,
        doc: "A classifier (wrap-up reason) and its actions.",
    },
    Decl {
        name: "alert",
        named: true,
        settings: &[must(
            "threshold",
            &[req(Ty::Text)],
            "The threshold X of the alert.",
        )],
        sections: &[],
        blocks: false,
        body: true,
        doc: "A monitoring alert: talk_time, max_unclosed, break_over, breaks_started, avg_wait, pool_low, sla_warning, sla_exceeded.",
    },
    Decl {
        name: "channel",
        named: true,
        settings: &[
            set(
                "priority",
                &[req(int(0, 100))],
                "Added to the campaign's priority for the channel's calls.",
            ),
            set(
                "max_load",
                &[req(int(1, 100))],
                "An agent takes the campaign's calls only while holding fewer calls than this (whatever their own `max_load`).",
            ),
            set(
                "max_wait",
                &[req(dur(SECOND, DAY))],
                "A call of the campaign waiting this long in a queue goes on to `overflow_queue` (or times out without one).",
            ),
            set(
                "overflow_queue",
                &[req(Ty::Ref(Kind::Queue))],
                "Where the campaign's calls go after the channel's `max_wait`.",
            ),
            many(
                "age",
                &[req(dur(SECOND, DAY)), req(int(1, 10_000))],
                "After waiting this long, multiply the priority by this factor.",
            ),
        ],
        sections: &[],
        blocks: false,
        body: true,
        doc: "A channel's rules: `inbound` for the calls (and chats) the campaign answers, `outbound` for the recalls it places (each waits for an agent first).",
    },
    Decl {
        name: "variable",
        named: true,
        settings: &[
            set("editable", BOOL, "Agents may edit it."),
            set("secure", BOOL, "Masked on the agent desktop."),
            set(
                "default",
                TEXT,
                "Its initial value (at most 256 characters).",
            ),
        ],
        sections: &[],
        blocks: false,
        body: false,
        doc: "A call-associated data variable shown to the agent.",
    },
    Decl {
        name: "schedule",
        named: true,
        settings: &[
            must("zone", &[req(Ty::Zone)], "The IANA time zone of the hours."),
            many(
                "hours",
                &[req(Ty::Days), req(Ty::TimeRange)],
                "Weekly opening hours.",
            ),
            many(
                "closed",
                &[req(Ty::DateOrRange), opt(Ty::Text)],
                "Closed on these days (holidays), with an optional reason.",
            ),
            many(
                "open",
                &[req(Ty::Date), req(Ty::TimeRange), opt(Ty::Text)],
                "A special opening on a day, replacing its weekly hours.",
            ),
        ],
        sections: &[],
        blocks: false,
        body: true,
        doc: "Business hours: a weekly schedule in a time zone plus dated exceptions.",
    },
    Decl {
        name: "queue",
        named: true,
        settings: &[
            set(
                "max_wait",
                &[req(dur(SECOND, DAY))],
                "Longest wait before the timeout exit (default 30m).",
            ),
            set(
                "skill",
                &[req(Ty::Ref(Kind::Skill))],
                "Agents need this skill.",
            ),
            set(
                "agents",
                &[req(Ty::List(&Ty::Ref(Kind::Agent)))],
                "Agents serving the queue.",
            ),
            set(
                "teams",
                &[req(Ty::List(&Ty::Ref(Kind::Team)))],
                "Teams serving the queue.",
            ),
            set("music", PROMPT, "What the caller hears while waiting."),
            set(
                "entry_prompt",
                PROMPT,
                "Played once when the caller enters.",
            ),
            set(
                "announce_every",
                &[req(dur(10 * SECOND, HOUR))],
                "Announce position and estimated wait this often.",
            ),
            set(
                "ring_time",
                &[req(dur(5 * SECOND, 5 * MINUTE))],
                "Ring an agent this long before RONA.",
            ),
            set(
                "max_size",
                &[req(int(1, 100_000))],
                "More waiting callers take the full exit.",
            ),
            set(
                "overflow_queue",
                &[req(Ty::Ref(Kind::Queue))],
                "Where callers go after max_wait.",
            ),
            set(
                "courtesy_callback",
                BOOL,
                "Offer a callback instead of waiting.",
            ),
            set(
                "priority",
                &[req(int(-100, 100))],
                "Priority added to calls in this queue.",
            ),
            set(
                "service_level",
                &[req(Ty::Percent)],
                "Target share of calls answered within service_time.",
            ),
            set(
                "service_time",
                &[req(dur(SECOND, HOUR))],
                "The answer time of the service level.",
            ),
            set(
                "extension",
                &[req(int(1, 9_999_999_999))],
                "The internal number an `extension` block reaches the queue on (one agent or queue per number).",
            ),
        ],
        sections: &[],
        blocks: false,
        body: true,
        doc: "A queue of callers waiting for agents.",
    },
    Decl {
        name: "skill",
        named: true,
        settings: &[set("description", TEXT, "What the skill means.")],
        sections: &[],
        blocks: false,
        body: false,
        doc: "A skill that agents have and queues require.",
    },
    Decl {
        name: "team",
        named: true,
        settings: &[set(
            "members",
            &[req(Ty::List(&Ty::Ref(Kind::Agent)))],
            "The team's agents.",
        )],
        sections: &[],
        blocks: false,
        body: true,
        doc: "A team of agents.",
    },
    Decl {
        name: "agent",
        named: true,
        settings: &[
            set("name", TEXT, "The agent's display name."),
            set("uri", TEXT, "The agent's SIP URI, when not registered."),
            set(
                "skills",
                &[req(Ty::List(&Ty::Ref(Kind::Skill)))],
                "The agent's skills.",
            ),
            set("max_load", &[req(int(1, 100))], "Calls and events at once."),
            set(
                "extension",
                &[req(int(1, 9_999_999_999))],
                "The internal number an `extension` block reaches the agent on (one agent or queue per number).",
            ),
        ],
        sections: &[],
        blocks: false,
        body: false,
        doc: "A human agent: a SIP endpoint with skills.",
    },
    Decl {
        name: "survey",
        named: true,
        settings: &[
            set(
                "mode",
                &[req(Ty::Enum(&["after_call", "outbound"]))],
                "after_call: the caller stays on the line; outbound: the customer is called later.",
            ),
            set(
                "delay",
                &[req(dur(MINUTE, 7 * DAY))],
                "For outbound: how long after the call.",
            ),
            set("intro", PROMPT, "Played before the first question."),
            set("outro", PROMPT, "Played after the last answer."),
        ],
        sections: &["question"],
        blocks: false,
        body: true,
        doc: "A post-call survey with DTMF answers.",
    },
    Decl {
        name: "question",
        named: true,
        settings: &[
            must(
                "type",
                &[req(Ty::Enum(&["csat", "nps", "yes_no", "comment"]))],
                "csat: 1-5; nps: 0-10; yes_no: 1 yes, 2 no; comment: a recorded message.",
            ),
            must("prompt", PROMPT, "The question."),
            set(
                "retries",
                &[req(int(0, 5))],
                "Re-prompts on an invalid key (default 2).",
            ),
        ],
        sections: &[],
        blocks: false,
        body: true,
        doc: "One question of a survey.",
    },
    Decl {
        name: "bot",
        named: true,
        settings: &[
            set(
                "knowledge",
                &[req(Ty::DataFile)],
                "The knowledge base of the embedded customer agent.",
            ),
            set(
                "endpoint",
                URL,
                "An external bot speaking the bot protocol.",
            ),
            set(
                "threshold",
                &[req(Ty::Decimal { min: 0.0, max: 1.0 })],
                "Below this confidence: cannot answer.",
            ),
            set(
                "languages",
                &[req(Ty::List(&Ty::Text))],
                "Languages it converses in.",
            ),
            set("timeout", &[req(SERVICE_WAIT)], "Longest wait for a reply."),
            set("greeting", PROMPT, "What it says first."),
            set(
                "handoff",
                &[req(Ty::Ref(Kind::Handoff))],
                "The handoff rules it follows.",
            ),
        ],
        sections: &[],
        blocks: false,
        body: true,
        doc: "A customer agent (AI) that converses with callers.",
    },
    Decl {
        name: "handoff",
        named: true,
        settings: &[
            set(
                "default_triggers",
                BOOL,
                "Hand off when the bot cannot answer, the caller asks for a human, or the bot is paused (default true).",
            ),
            set(
                "triggers",
                &[req(Ty::List(&Ty::Text))],
                "Custom trigger words or phrases.",
            ),
            set(
                "mode",
                &[req(Ty::Enum(&["live", "async", "none"]))],
                "live: to the next free agent; async: assign for later; none: the bot keeps answering.",
            ),
            set(
                "teams",
                &[req(Ty::List(&Ty::Ref(Kind::Team)))],
                "Route every handoff to these teams.",
            ),
            set(
                "users",
                &[req(Ty::List(&Ty::Ref(Kind::Agent)))],
                "Route every handoff to these users.",
            ),
            many(
                "rule",
                &[req(Ty::Expr), req(Ty::Ref(Kind::Team))],
                "Workflow routing: when the expression holds, to this team (first match wins).",
            ),
            set(
                "rotate_by_channel",
                BOOL,
                "Rotate the ticket owner by source channel.",
            ),
            set(
                "message_available",
                PROMPT,
                "Said when a team is available.",
            ),
            set(
                "message_unavailable",
                PROMPT,
                "Said when no team is available.",
            ),
            set(
                "message_unassigned",
                PROMPT,
                "Said when the workflow assigned nobody.",
            ),
            set(
                "unassigned",
                &[req(Ty::Enum(&["keep_open", "close"]))],
                "When a live handoff stays unassigned: keep the chat open or close it.",
            ),
        ],
        sections: &[],
        blocks: false,
        body: true,
        doc: "Handoff triggers, mode, routing and messages for a customer agent.",
    },
];

/// Exits shared by several blocks.
const NO_INPUT: Exit = Exit {
    name: "no_input",
    doc: "The caller pressed nothing in time.",
};
const INVALID: Exit = Exit {
    name: "invalid",
    doc: "The input was invalid after every retry.",
};

/// Every IVR block.
pub const BLOCKS: &[Block] = &[
    Block {
        name: "answer",
        args: &[],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Answer the call. Always the first block of an inbound IVR.",
    },
    Block {
        name: "say",
        args: &[req(Ty::Text)],
        settings: &[
            set(
                "voice",
                TEXT,
                "espeak-ng's voice variant of the language (`f3`, `m2`, `klatt`): spoken as LANGUAGE+VOICE (English without `language`).",
            ),
            set("language", TEXT, "The language of the text, e.g. \"pl\"."),
        ],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: true,
        doc: "Announcement: speak a text through speech synthesis.",
    },
    Block {
        name: "play",
        args: &[req(Ty::Audio)],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: true,
        doc: "Announcement: play an audio file (wav or mp3).",
    },
    Block {
        name: "menu",
        args: &[opt(Ty::Prompt)],
        settings: &[
            set(
                "prompt",
                PROMPT,
                "The menu prompt (or give it after `menu`).",
            ),
            set(
                "timeout",
                &[req(CALLER_WAIT)],
                "How long to wait for a key (default 5s).",
            ),
            set(
                "retries",
                &[req(int(0, 10))],
                "Re-prompts after no or invalid input (default 2).",
            ),
            set("invalid_prompt", PROMPT, "Played after an invalid key."),
            set("no_input_prompt", PROMPT, "Played after no key."),
        ],
        exits: &[NO_INPUT, INVALID],
        mode: ExitMode::Keys,
        next: None,
        waits: true,
        doc: "Play a prompt and read one DTMF key: up to 12 paths `0-9 * #`.",
    },
    Block {
        name: "extension",
        args: &[],
        settings: &[
            set("prompt", PROMPT, "Asks for the extension number."),
            set(
                "digits",
                &[req(int(1, 10))],
                "Longest extension (default 4).",
            ),
            set(
                "timeout",
                &[req(CALLER_WAIT)],
                "How long to wait for digits (default 5s).",
            ),
            set("retries", &[req(int(0, 10))], "Re-prompts (default 2)."),
        ],
        exits: &[NO_INPUT, INVALID],
        mode: ExitMode::Fixed,
        next: Some("found"),
        waits: true,
        doc: "The caller types an internal extension (an `extension` of an agent or a queue) and the call is routed there, as a transfer: an agent's extension rings that agent (in the first queue they serve, reserved for them), a queue's waits in that queue; `found` once the conversation ends. An extension no agent or queue has, or one whose agent or queue cannot take the call (no queue; full; its max wait passes), takes `invalid` at once; digits that are not a number are re-prompted, then `invalid`.",
    },
    Block {
        name: "hours",
        args: &[req(Ty::Ref(Kind::Schedule))],
        settings: &[],
        exits: &[
            Exit {
                name: "open",
                doc: "Inside the schedule's hours.",
            },
            Exit {
                name: "closed",
                doc: "Outside them, or on a closed day.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Availability: branch on business hours (weekly schedule and dated exceptions).",
    },
    Block {
        name: "route_caller",
        args: &[req(Ty::List(&Ty::PhonePattern))],
        settings: &[],
        exits: &[
            Exit {
                name: "match",
                doc: "The caller number matches.",
            },
            Exit {
                name: "no_match",
                doc: "It does not.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Route by caller number (ANI): numbers or prefixes ending in `*`.",
    },
    Block {
        name: "route_dialled",
        args: &[req(Ty::List(&Ty::PhonePattern))],
        settings: &[],
        exits: &[
            Exit {
                name: "match",
                doc: "The dialled number matches.",
            },
            Exit {
                name: "no_match",
                doc: "It does not.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Route by dialled number (DNIS).",
    },
    Block {
        name: "route_identified",
        args: &[],
        settings: &[],
        exits: &[
            Exit {
                name: "one",
                doc: "The caller number belongs to one record.",
            },
            Exit {
                name: "many",
                doc: "To several records.",
            },
            Exit {
                name: "none",
                doc: "To no record.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Route by identification result.",
    },
    Block {
        name: "authorise",
        args: &[],
        settings: &[
            set(
                "source",
                &[req(Ty::Enum(&["internal", "external"]))],
                "Where records are looked up (default: the campaign's).",
            ),
            set("url", URL, "The external source."),
            set("prompt", PROMPT, "Asks for the identifier."),
            set(
                "timeout",
                &[req(SERVICE_WAIT)],
                "Longest wait for the source.",
            ),
        ],
        exits: &[
            Exit {
                name: "ok",
                doc: "The record was identified.",
            },
            Exit {
                name: "failed",
                doc: "It was not.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: true,
        doc: "Authorisation: identify the caller's record from an internal or external source.",
    },
    Block {
        name: "ticket",
        args: &[],
        settings: &[
            set("prompt", PROMPT, "Asks for the ticket id."),
            set(
                "digits",
                &[req(int(1, 20))],
                "Longest ticket id (default 8).",
            ),
            set(
                "timeout",
                &[req(CALLER_WAIT)],
                "How long to wait for digits.",
            ),
        ],
        exits: &[
            Exit {
                name: "ok",
                doc: "A ticket with that id exists.",
            },
            Exit {
                name: "failed",
                doc: "No ticket, or no input.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: true,
        doc: "Authorisation by ticket id: shown to the agent on connect.",
    },
    Block {
        name: "api_login",
        args: &[],
        settings: &[
            must("url", URL, "The login endpoint."),
            set("user", TEXT, "The user name."),
            set(
                "secret",
                TEXT,
                "The name of the secret in the runtime configuration.",
            ),
            set(
                "timeout",
                &[req(SERVICE_WAIT)],
                "Longest wait (default 5s).",
            ),
        ],
        exits: &[
            Exit {
                name: "ok",
                doc: "A token was obtained (kept as `token`).",
            },
            Exit {
                name: "error",
                doc: "The login failed.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: true,
        doc: "API login: obtain a token for later API requests.",
    },
    Block {
        name: "api_request",
        args: &[],
        settings: &[
            must("url", URL, "The endpoint."),
            set(
                "method",
                &[req(Ty::Enum(&["get", "post", "put", "patch", "delete"]))],
                "HTTP method (default get).",
            ),
            set("body", &[req(Ty::Expr)], "The request body, computed."),
            set(
                "into",
                &[req(Ty::Var)],
                "The variable that receives the result (default `api`).",
            ),
            set(
                "timeout",
                &[req(SERVICE_WAIT)],
                "Longest wait (default 5s).",
            ),
        ],
        exits: &[
            Exit {
                name: "ok",
                doc: "A 2xx answer; the result is in the variable.",
            },
            Exit {
                name: "error",
                doc: "Any other answer.",
            },
            Exit {
                name: "timeout",
                doc: "No answer in time.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: true,
        doc: "API request: call an external service; the result goes into a variable.",
    },
    Block {
        name: "condition",
        args: &[req(Ty::Expr)],
        settings: &[],
        exits: &[
            Exit {
                name: "true",
                doc: "The expression is true.",
            },
            Exit {
                name: "false",
                doc: "It is false.",
            },
        ],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Condition (also API condition): branch on a rhai expression.",
    },
    Block {
        name: "switch",
        args: &[req(Ty::Expr)],
        settings: &[],
        exits: &[],
        mode: ExitMode::Cases,
        next: None,
        waits: false,
        doc: "Branch on the value of an expression: one exit per case, and `else`.",
    },
    Block {
        name: "set",
        args: &[req(Ty::Var), req(Ty::Expr)],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Set a call variable to the value of an expression.",
    },
    Block {
        name: "queue",
        args: &[req(Ty::Ref(Kind::Queue))],
        settings: &[
            set(
                "max_wait",
                &[req(dur(SECOND, DAY))],
                "Overrides the queue's max wait.",
            ),
            set("entry_prompt", PROMPT, "Played on entry."),
            set(
                "announce_every",
                &[req(dur(10 * SECOND, HOUR))],
                "Position and wait announcements.",
            ),
        ],
        exits: &[
            Exit {
                name: "timeout",
                doc: "Nobody answered within max wait.",
            },
            Exit {
                name: "full",
                doc: "The queue was full.",
            },
        ],
        mode: ExitMode::Fixed,
        next: Some("connected"),
        waits: true,
        doc: "Wait for a free agent; `connected` continues after the conversation.",
    },
    Block {
        name: "priority",
        args: &[req(int(-100, 100))],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Change the call's priority by -100..100.",
    },
    Block {
        name: "overflow",
        args: &[req(int(1, 100_000))],
        settings: &[],
        exits: &[Exit {
            name: "overflow",
            doc: "The path already holds the limit of calls.",
        }],
        mode: ExitMode::Fixed,
        next: Some("within"),
        waits: false,
        doc: "Limit the calls inside this path at once; beyond the limit take `overflow`.",
    },
    Block {
        name: "dial",
        args: &[req(Ty::Phone)],
        settings: &[
            set(
                "timeout",
                &[req(dur(5 * SECOND, 5 * MINUTE))],
                "Ring this long (default 30s).",
            ),
            set(
                "caller_id",
                &[req(Ty::Phone)],
                "The number shown to the called party.",
            ),
        ],
        exits: &[
            Exit {
                name: "busy",
                doc: "The number was busy.",
            },
            Exit {
                name: "no_answer",
                doc: "Nobody answered in time.",
            },
            Exit {
                name: "failed",
                doc: "The call could not be placed.",
            },
        ],
        mode: ExitMode::Fixed,
        next: Some("connected"),
        waits: true,
        doc: "Forward the call to an external number.",
    },
    Block {
        name: "voicemail",
        args: &[],
        settings: &[
            set("greeting", PROMPT, "Played before the beep."),
            set(
                "without_announcement",
                BOOL,
                "Skip the system announcement played before the greeting (as the campaign's `voicemail_without_announcement` does for every block).",
            ),
            set(
                "email",
                EMAIL,
                "E-mail the message here (default: the campaign's).",
            ),
            set(
                "max_length",
                &[req(dur(5 * SECOND, 10 * MINUTE))],
                "Longest message (default 2m).",
            ),
        ],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: true,
        doc: "Record a voice message; e-mail it and store it.",
    },
    Block {
        name: "callback",
        args: &[],
        settings: &[
            set(
                "queue",
                &[req(Ty::Ref(Kind::Queue))],
                "The voice queue that places the callback.",
            ),
            set("prompt", PROMPT, "Confirms the request to the caller."),
            set(
                "delay",
                &[req(dur(30 * MINUTE, 31 * DAY))],
                "Schedule it this long after the call (SPEC 5.5: 30 minutes to 31 days).",
            ),
            set("reason", TEXT, "Why (at most 250 characters)."),
        ],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Register a callback request for a caller not connected.",
    },
    Block {
        name: "no_record_window",
        args: &[],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Inbound without record window: the agent gets the small pop-up.",
    },
    Block {
        name: "no_survey",
        args: &[],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Disable any automatic survey for this call.",
    },
    Block {
        name: "bot",
        args: &[req(Ty::Ref(Kind::Bot))],
        settings: &[
            set(
                "max_turns",
                &[req(int(1, 100))],
                "End the conversation after this many turns.",
            ),
            set(
                "timeout",
                &[req(CALLER_WAIT)],
                "How long to wait for the caller to speak.",
            ),
        ],
        exits: &[
            Exit {
                name: "handoff",
                doc: "A trigger fired: hand off to a human.",
            },
            Exit {
                name: "cannot_answer",
                doc: "The bot cannot take the call.",
            },
        ],
        mode: ExitMode::Fixed,
        next: Some("done"),
        waits: true,
        doc: "Let a customer agent (AI) converse with the caller.",
    },
    Block {
        name: "use",
        args: &[req(Ty::Ref(Kind::Flow))],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: Some("next"),
        waits: false,
        doc: "Run a sub-flow; its parameters are given as settings.",
    },
    Block {
        name: "goto",
        args: &[req(Ty::Ref(Kind::Label))],
        settings: &[],
        exits: &[],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Jump: continue at a labelled block.",
    },
    Block {
        name: "hangup",
        args: &[],
        settings: &[set("reason", TEXT, "Recorded in the call detail record.")],
        exits: &[],
        mode: ExitMode::Fixed,
        next: None,
        waits: false,
        doc: "Disconnect: end the call.",
    },
];

/// The alert kinds and the type of their threshold.
pub const ALERTS: &[(&str, Ty, &str)] = &[
    (
        "talk_time",
        dur(MINUTE, DAY),
        "An agent talks longer than X.",
    ),
    (
        "max_unclosed",
        int(1, 10_000),
        "An agent owes X or more wrap-ups (unclosed records) of the campaign's calls.",
    ),
    (
        "break_over",
        dur(MINUTE, DAY),
        "An agent has been on a break (not ready) longer than X.",
    ),
    (
        "breaks_started",
        int(1, 10_000),
        "X agents started a break within 5 minutes.",
    ),
    (
        "avg_wait",
        dur(SECOND, DAY),
        "The mean wait of the campaign's calls (those that left a queue in the last 5 minutes and those waiting) exceeds X.",
    ),
    (
        "pool_low",
        int(0, 1_000_000),
        "X or fewer of the campaign's records are still open (not closed by a classifier).",
    ),
    (
        "sla_warning",
        dur(MINUTE, 31 * DAY),
        "A ticket's SLA ends within X.",
    ),
    (
        "sla_exceeded",
        dur(0, 31 * DAY),
        "A ticket's SLA was exceeded by X.",
    ),
];

/// The channel names of channel priorities: the calls (and chats) a
/// campaign answers, and the recalls it places. There is no e-mail
/// channel: `channel mail` is refused.
pub const CHANNELS: &[&str] = &["inbound", "outbound"];

/// The types a sub-flow parameter may have.
pub const PARAM_TYPES: &[(&str, Ty)] = &[
    ("text", Ty::Text),
    ("prompt", Ty::Prompt),
    ("duration", dur(0, 31 * DAY)),
    ("number", int(i64::MIN, i64::MAX)),
    ("phone", Ty::Phone),
    ("bool", Ty::Bool),
    ("queue", Ty::Ref(Kind::Queue)),
    ("schedule", Ty::Ref(Kind::Schedule)),
    ("survey", Ty::Ref(Kind::Survey)),
    ("bot", Ty::Ref(Kind::Bot)),
    ("email", Ty::Email),
];

/// The variables every expression can read.
pub const VARIABLES: &[(&str, &str)] = &[
    ("caller", "The caller number (ANI), E.164."),
    ("dialled", "The dialled number (DNIS), E.164."),
    ("campaign", "The campaign's identifier."),
    (
        "now",
        "The current time in the campaign's zone, as `YYYY-MM-DDTHH:MM`.",
    ),
    ("date", "Today's date, `YYYY-MM-DD`."),
    ("hour", "The hour of the day, 0-23."),
    ("minute", "The minute of the hour, 0-59."),
    ("weekday", "The day of the week, 1 = Monday ... 7 = Sunday."),
    (
        "record",
        "The identified record's fields, a map, with its state: `classifier` (of its last wrap-up), `closed` and `blacklisted` (\"true\"/\"false\"): `record.blacklisted == \"true\"`.",
    ),
    ("cad", "The call-associated data, a map."),
    ("api", "The last API result, a map."),
    ("token", "The token of the last API login."),
    ("priority", "The call's current priority."),
    ("digits", "The last digits the caller typed."),
];

/// Variables that a handoff's `rule` expressions see besides the built-in
/// ones: the facts of the ticket being routed.
pub const HANDOFF_VARIABLES: &[(&str, &str)] = &[
    (
        "channel",
        "Where the conversation came from: `voice` or `chat`.",
    ),
    (
        "language",
        "The conversation's language (`pl`, `en`), or empty.",
    ),
    ("reason", "Why the customer agent handed off (the trigger)."),
    ("text", "What the customer said last."),
];

/// The block named `name`.
pub fn block(name: &str) -> Option<&'static Block> {
    // Looked up for every statement of every flow: an index, built once.
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static Block>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| BLOCKS.iter().map(|b| (b.name, b)).collect())
        .get(name)
        .copied()
}

/// The declaration or section named `name`.
pub fn decl(name: &str) -> Option<&'static Decl> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static Decl>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| DECLS.iter().map(|d| (d.name, d)).collect())
        .get(name)
        .copied()
}

impl Block {
    /// The setting named `name`.
    pub fn setting(&self, name: &str) -> Option<&'static Setting> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// Whether `name` is one of its exits (fixed or the continuation).
    pub fn has_exit(&self, name: &str) -> bool {
        self.next == Some(name) || self.exits.iter().any(|e| e.name == name)
    }
}

impl Decl {
    /// The setting named `name`.
    pub fn setting(&self, name: &str) -> Option<&'static Setting> {
        self.settings.iter().find(|s| s.name == name)
    }
}

impl Ty {
    /// The type in words, for diagnostics.
    pub fn describe(&self) -> String {
        match self {
            Ty::Text => "a string".into(),
            Ty::Int { min, max } => format!("a whole number from {min} to {max}"),
            Ty::Decimal { min, max } => format!("a number from {min} to {max}"),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Duration { .. } => "a duration like `30s`".into(),
            Ty::TimeRange => "a time range like `08:00-16:00`".into(),
            Ty::Days => "weekdays like `mon-fri`, `sat` or `[mon, wed]`".into(),
            Ty::Date => "a date like `2026-12-24`".into(),
            Ty::DateOrRange => "a date or a date range like `2026-12-21..2026-12-22`".into(),
            Ty::Percent => "a percentage like `80%`".into(),
            Ty::Phone => "a phone number like `+48221000001`".into(),
            Ty::PhonePattern => "a phone number or a prefix like `\"+4850*\"`".into(),
            Ty::CountryCode => "a country code like `+48`".into(),
            Ty::Zone => "an IANA time zone like `\"Europe/Warsaw\"`".into(),
            Ty::Prompt => "a prompt: `say \"text\"` or `play \"file.wav\"`".into(),
            Ty::Audio => "an audio file (wav or mp3) as a string".into(),
            Ty::DataFile => "a file path as a string".into(),
            Ty::Email => "an e-mail address as a string".into(),
            Ty::Url => "an http(s) URL as a string".into(),
            Ty::Expr => "an expression in parentheses".into(),
            Ty::Var => "a variable name".into(),
            Ty::Enum(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Ty::Ref(kind) => format!("the name of a {}", kind.keyword()),
            Ty::List(inner) => format!("a list of {}", plural(&inner.describe())),
        }
    }
}

fn plural(text: &str) -> String {
    text.strip_prefix("a ")
        .or_else(|| text.strip_prefix("an "))
        .unwrap_or(text)
        .to_string()
}
