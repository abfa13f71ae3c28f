//! Validation of callback requests (SPEC 5.5), without any database.
//!
//! [`validate`] checks a [`CallbackRequest`] against the rules of its
//! [`Kind`] and collects every violation as a [`Refusal`] naming the field and
//! the rule, so that an agent (or a website) can fix all of them at once.

use std::collections::HashSet;
use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Fewest digits a phone number may have.
pub const MIN_DIGITS: usize = 7;
/// Most digits a phone number may have (the E.164 maximum).
pub const MAX_DIGITS: usize = 15;
/// Fewest characters of a name (after trimming).
pub const MIN_NAME: usize = 3;
/// Most characters of a name (after trimming).
pub const MAX_NAME: usize = 250;
/// Most characters of a reason (after trimming).
pub const MAX_REASON: usize = 250;
/// Earliest start of a scheduled or personal callback, counted from its creation.
pub const MIN_LEAD: SignedDuration = SignedDuration::from_mins(30);
/// Latest start of a scheduled or personal callback, counted from its creation
/// (31 days of 24 hours, whatever clock changes happen in between).
pub const MAX_LEAD: SignedDuration = SignedDuration::from_hours(31 * 24);
/// Zone given to web and courtesy callbacks that name none.
pub const DEFAULT_ZONE: &str = "UTC";

/// The four kinds of callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A caller waiting in a queue asked to be called back instead of waiting;
    /// the callback keeps their place (its start is when they joined the queue).
    Courtesy,
    /// A request from a website with a name and a number, placed as soon as possible.
    Web,
    /// A callback at a date and time (with an optional window), created by an agent.
    Scheduled,
    /// A scheduled callback assigned to the creating agent or a member of their teams.
    Personal,
    /// A recall a wrap-up classifier scheduled (SPEC 3.2): made by the
    /// runtime only ([`Valid::recall`]), never through a request.
    Recall,
}

impl Kind {
    /// The lower-case name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Courtesy => "courtesy",
            Kind::Web => "web",
            Kind::Scheduled => "scheduled",
            Kind::Personal => "personal",
            Kind::Recall => "recall",
        }
    }

    /// Parses the lower-case name written by [`Kind::as_str`].
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "courtesy" => Some(Kind::Courtesy),
            "web" => Some(Kind::Web),
            "scheduled" => Some(Kind::Scheduled),
            "personal" => Some(Kind::Personal),
            "recall" => Some(Kind::Recall),
            _ => None,
        }
    }

    /// Whether the kind is made by an agent at a chosen date and time.
    pub fn is_scheduled(self) -> bool {
        matches!(self, Kind::Scheduled | Kind::Personal)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A callback as requested, before validation (the JSON body of the agent API
/// or of the website form).
///
/// Only `kind`, `number`, `name` and `queue` are required in JSON; the other
/// fields default to empty, and empty strings count as absent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallbackRequest {
    /// The kind of callback.
    pub kind: Kind,
    /// The number to call, as typed: digits, an optional leading `+`, and the
    /// separators space, `-`, `,` and `.`.
    pub number: String,
    /// The customer's name.
    #[serde(default)]
    pub name: String,
    /// When to call: a civil date and time (`YYYY-MM-DDTHH:MM`) in `zone`, or
    /// an RFC 3339 timestamp. For a courtesy callback, optionally the time the
    /// caller joined the queue; must be empty for a web callback.
    #[serde(default)]
    pub start: String,
    /// The optional end of the time window, in the same forms as `start`.
    #[serde(default)]
    pub end: Option<String>,
    /// The IANA time zone of the customer (for example `Europe/Paris`).
    #[serde(default)]
    pub zone: String,
    /// The queue whose agents place the callback.
    pub queue: String,
    /// Why the customer wants to be called (at most 250 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// For a personal callback, the agent to call back (defaults to the
    /// creating agent).
    #[serde(default)]
    pub assignee: Option<String>,
}

/// One violated rule: the field (as named in [`CallbackRequest`]) and a
/// message for the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The field at fault: `kind`, `number`, `name`, `start`, `end`, `zone`,
    /// `queue`, `reason` or `assignee`.
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Refusal {
    fn new(field: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What an agent may do with a queue, as answered by the ACD configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueAccess {
    /// An active voice queue of which the agent is an agent.
    Allowed,
    /// An active voice queue of which the agent is not an agent.
    NotMember,
    /// A voice queue that is not active.
    Inactive,
    /// A queue that does not take voice calls.
    NotVoice,
    /// No queue has this name.
    Unknown,
}

/// What validation needs to know about the agent and the configuration.
pub struct Context<'a> {
    agent: String,
    queues: Box<dyn Fn(&str) -> QueueAccess + 'a>,
    assignees: HashSet<String>,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("agent", &self.agent)
            .field("assignees", &self.assignees)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// A context for `agent` (the creating agent, or the website/IVR for web
    /// and courtesy callbacks) whose queue access is answered by `queues`.
    pub fn new(agent: impl Into<String>, queues: impl Fn(&str) -> QueueAccess + 'a) -> Context<'a> {
        Context {
            agent: agent.into(),
            queues: Box::new(queues),
            assignees: HashSet::new(),
        }
    }

    /// A context from lists: `existing` are the active voice queues, and
    /// `accessible` those of which `agent` is an agent.
    pub fn with_queues(
        agent: impl Into<String>,
        existing: &[&str],
        accessible: &[&str],
    ) -> Context<'static> {
        let existing: HashSet<String> = existing.iter().map(|q| (*q).to_owned()).collect();
        let accessible: HashSet<String> = accessible.iter().map(|q| (*q).to_owned()).collect();
        Context::new(agent, move |queue: &str| {
            if accessible.contains(queue) {
                QueueAccess::Allowed
            } else if existing.contains(queue) {
                QueueAccess::NotMember
            } else {
                QueueAccess::Unknown
            }
        })
    }

    /// Adds the agents a personal callback may be assigned to besides the
    /// agent themselves: the members of their teams.
    pub fn with_assignees<I, S>(mut self, assignees: I) -> Context<'a>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.assignees.extend(assignees.into_iter().map(Into::into));
        self
    }

    /// The creating agent.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// What the agent may do with `queue`.
    pub fn queue_access(&self, queue: &str) -> QueueAccess {
        (self.queues)(queue)
    }

    /// Whether a personal callback may be assigned to `assignee`.
    pub fn may_assign(&self, assignee: &str) -> bool {
        assignee == self.agent || self.assignees.contains(assignee)
    }
}

/// A request that passed [`validate`], normalised: the only way to create or
/// update a callback in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    kind: Kind,
    number: String,
    name: String,
    start: Timestamp,
    end: Option<Timestamp>,
    zone: String,
    queue: String,
    reason: Option<String>,
    assignee: Option<String>,
    campaign: Option<String>,
}

impl Valid {
    /// The kind of callback.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The number: its digits, with the leading `+` kept when given.
    pub fn number(&self) -> &str {
        &self.number
    }
    /// The trimmed name (may be empty for a courtesy callback).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// When the callback is due (for a courtesy callback, when the caller
    /// joined the queue; for a web callback, when it was requested).
    pub fn start(&self) -> Timestamp {
        self.start
    }
    /// The end of the time window, after the start.
    pub fn end(&self) -> Option<Timestamp> {
        self.end
    }
    /// The IANA time zone of the customer.
    pub fn zone(&self) -> &str {
        &self.zone
    }
    /// The queue.
    pub fn queue(&self) -> &str {
        &self.queue
    }
    /// The trimmed reason, if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
    /// For a personal callback, the agent to call back.
    pub fn assignee(&self) -> Option<&str> {
        self.assignee.as_deref()
    }

    /// A courtesy callback registered by a `callback` block with a `delay`:
    /// due at `start` (later than the request) instead of at once.
    pub fn delayed_until(mut self, start: Timestamp) -> Valid {
        if self.kind == Kind::Courtesy && start > self.start {
            self.start = start;
        }
        self
    }

    /// For a recall, the campaign that scheduled it.
    pub fn campaign(&self) -> Option<&str> {
        self.campaign.as_deref()
    }

    /// A recall a wrap-up classifier of `campaign` scheduled: `number`
    /// (checked like any callback's) is called back through `queue` at
    /// `start`, never after `end`; `assignee` is the agent of a private
    /// record.
    pub fn recall(
        campaign: &str,
        number: &str,
        queue: &str,
        start: Timestamp,
        end: Option<Timestamp>,
        reason: &str,
        assignee: Option<String>,
    ) -> Result<Valid, Refusal> {
        let number = check_number(number).map_err(|m| Refusal::new("number", m))?;
        Ok(Valid {
            kind: Kind::Recall,
            number,
            name: String::new(),
            start,
            end,
            zone: "UTC".to_owned(),
            queue: queue.to_owned(),
            reason: Some(reason.to_owned()),
            assignee,
            campaign: Some(campaign.to_owned()),
        })
    }
}

/// Normalises a phone number: the digits, with a leading `+` kept. `None`
/// when the number breaks the phone rule of [`validate`].
pub fn normalize_number(raw: &str) -> Option<String> {
    check_number(raw).ok()
}

/// Checks `req` against the rules of its kind at `now` and returns it
/// normalised, or every violated rule.
///
/// Scheduled and personal callbacks: number, name (3–250 characters), zone
/// (IANA), start (30 minutes to 31 days from `now`), end (after start), queue
/// (an active voice queue of the agent), reason (at most 250 characters), and
/// for personal ones the assignee (the agent or a team member; defaults to the
/// agent). Web callbacks: number, name, an existing voice queue; they start at
/// `now`. Courtesy callbacks: number, an existing voice queue, a name of at
/// most 250 characters (may be empty); they start when the caller joined the
/// queue (`start`, not in the future) or at `now`.
pub fn validate(
    req: &CallbackRequest,
    now: Timestamp,
    ctx: &Context<'_>,
) -> Result<Valid, Vec<Refusal>> {
    let mut refusals = Vec::new();
    if req.kind == Kind::Recall {
        refusals.push(Refusal::new(
            "kind",
            "recalls are scheduled by wrap-up classifiers, not requested",
        ));
    }

    let number = check_number(&req.number)
        .map_err(|message| refusals.push(Refusal::new("number", message)))
        .ok();

    let name = req.name.trim();
    check_name(name, req.kind, &mut refusals);

    let zone_name = req.zone.trim();
    let zone = check_zone(zone_name, req.kind, &mut refusals);

    let (start, end) = check_times(req, now, zone.as_ref(), &mut refusals);

    let queue = req.queue.trim();
    check_queue(queue, req.kind, ctx, &mut refusals);

    let reason = non_empty(req.reason.as_deref());
    if let Some(reason) = reason {
        let count = reason.chars().count();
        if count > MAX_REASON {
            refusals.push(Refusal::new(
                "reason",
                format!("the reason must be at most {MAX_REASON} characters long; it has {count}"),
            ));
        }
    }

    let assignee = check_assignee(req, ctx, &mut refusals);

    match (number, zone, start) {
        (Some(number), Some((_, zone)), Some(start)) if refusals.is_empty() => Ok(Valid {
            kind: req.kind,
            number,
            name: name.to_owned(),
            start,
            end,
            zone,
            queue: queue.to_owned(),
            reason: reason.map(str::to_owned),
            assignee,
            campaign: None,
        }),
        _ => {
            if refusals.is_empty() {
                // Unreachable in practice: every missing value pushed a refusal.
                refusals.push(Refusal::new("kind", "the request could not be checked"));
            }
            Err(refusals)
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn check_number(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("the phone number is required".to_owned());
    }
    let (plus, rest) = match raw.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let mut digits = String::new();
    let mut bad: Vec<char> = Vec::new();
    let mut inner_plus = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | ',' | '.' => {}
            '+' => inner_plus = true,
            other => {
                if !bad.contains(&other) {
                    bad.push(other);
                }
            }
        }
    }
    if !bad.is_empty() {
        let found: Vec<String> = bad.iter().map(|c| format!("'{c}'")).collect();
        return Err(format!(
            "a phone number may only contain digits, a leading + for the country code and the \
             separators space, '-', ',' and '.'; found {}",
            found.join(", ")
        ));
    }
    if inner_plus {
        return Err(
            "'+' is only allowed at the start of a phone number, before the country code"
                .to_owned(),
        );
    }
    let count = digits.len();
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&count) {
        return Err(format!(
            "a phone number has {MIN_DIGITS} to {MAX_DIGITS} digits; this one has {count}"
        ));
    }
    Ok(if plus { format!("+{digits}") } else { digits })
}

fn check_name(name: &str, kind: Kind, refusals: &mut Vec<Refusal>) {
    let count = name.chars().count();
    if kind == Kind::Courtesy {
        // The caller may not have given a name; the caller ID name is enough.
        if count > MAX_NAME {
            refusals.push(Refusal::new(
                "name",
                format!("the name must be at most {MAX_NAME} characters long; it has {count}"),
            ));
        }
        return;
    }
    if count == 0 {
        refusals.push(Refusal::new(
            "name",
            format!("the name is required ({MIN_NAME} to {MAX_NAME} characters)"),
        ));
    } else if count < MIN_NAME {
        refusals.push(Refusal::new(
            "name",
            format!("the name must be at least {MIN_NAME} characters long; it has {count}"),
        ));
    } else if count > MAX_NAME {
        refusals.push(Refusal::new(
            "name",
            format!("the name must be at most {MAX_NAME} characters long; it has {count}"),
        ));
    }
}

/// The zone and its canonical name; `None` (with a refusal) when invalid.
fn check_zone(name: &str, kind: Kind, refusals: &mut Vec<Refusal>) -> Option<(TimeZone, String)> {
    if name.is_empty() {
        if kind.is_scheduled() {
            refusals.push(Refusal::new(
                "zone",
                "the time zone is required: an IANA name such as Europe/Paris",
            ));
            return None;
        }
        return Some((TimeZone::UTC, DEFAULT_ZONE.to_owned()));
    }
    match TimeZone::get(name) {
        Ok(tz) => {
            let canonical = tz.iana_name().unwrap_or(name).to_owned();
            Some((tz, canonical))
        }
        Err(_) => {
            refusals.push(Refusal::new(
                "zone",
                format!("'{name}' is not a known time zone; use an IANA name such as Europe/Paris"),
            ));
            None
        }
    }
}

/// Formats `ts` as a local date and time in `zone`, for messages.
pub(crate) fn local(ts: Timestamp, tz: &TimeZone, zone: &str) -> String {
    let z = ts.to_zoned(tz.clone());
    if z.second() == 0 {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} ({zone})",
            z.year(),
            z.month(),
            z.day(),
            z.hour(),
            z.minute()
        )
    } else {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} ({zone})",
            z.year(),
            z.month(),
            z.day(),
            z.hour(),
            z.minute(),
            z.second()
        )
    }
}

/// Formats `ts` in the zone named `zone` (UTC when the name is unknown).
pub(crate) fn local_named(ts: Timestamp, zone: &str) -> String {
    match TimeZone::get(zone) {
        Ok(tz) => local(ts, &tz, zone),
        Err(_) => local(ts, &TimeZone::UTC, "UTC"),
    }
}

enum Parsed {
    At(Timestamp),
    /// A civil date and time that needs a zone, which is invalid.
    NeedsZone,
    Bad(String),
}

fn parse_time(field: &str, raw: &str, zone: Option<&(TimeZone, String)>) -> Parsed {
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Parsed::At(ts);
    }
    let Ok(dt) = raw.parse::<DateTime>() else {
        return Parsed::Bad(format!(
            "'{raw}' is not a date and time; write the {field} as YYYY-MM-DDTHH:MM in the \
             callback's time zone, or as an RFC 3339 timestamp such as 2025-03-01T09:30:00+01:00"
        ));
    };
    let Some((tz, name)) = zone else {
        return Parsed::NeedsZone;
    };
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    if let AmbiguousOffset::Gap { .. } = ambiguous.offset() {
        return Parsed::Bad(format!(
            "{raw} does not exist in {name}: the clocks go forward at that time"
        ));
    }
    // In a fold (clocks going back), the earlier of the two instants.
    match ambiguous.earlier() {
        Ok(ts) => Parsed::At(ts),
        Err(_) => Parsed::Bad(format!("{raw} is out of range in {name}")),
    }
}

fn check_times(
    req: &CallbackRequest,
    now: Timestamp,
    zone: Option<&(TimeZone, String)>,
    refusals: &mut Vec<Refusal>,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let start_raw = req.start.trim();
    let end_raw = non_empty(req.end.as_deref());
    let (tz, zone_name) = match zone {
        Some((tz, name)) => (tz.clone(), name.as_str()),
        None => (TimeZone::UTC, "UTC"),
    };
    match req.kind {
        // Refused by `validate` already.
        Kind::Recall => (None, None),
        Kind::Web | Kind::Courtesy => {
            if end_raw.is_some() {
                refusals.push(Refusal::new(
                    "end",
                    format!(
                        "a {} callback has no time window; leave the end empty",
                        req.kind
                    ),
                ));
            }
            if req.kind == Kind::Web {
                if !start_raw.is_empty() {
                    refusals.push(Refusal::new(
                        "start",
                        "a web callback is placed as soon as possible; leave the start empty",
                    ));
                    return (None, None);
                }
                return (Some(now), None);
            }
            if start_raw.is_empty() {
                return (Some(now), None);
            }
            match parse_time("start", start_raw, zone) {
                Parsed::At(ts) if ts > now => {
                    refusals.push(Refusal::new(
                        "start",
                        format!(
                            "the time the caller joined the queue cannot be in the future ({} is \
                             after now, {})",
                            local(ts, &tz, zone_name),
                            local(now, &tz, zone_name)
                        ),
                    ));
                    (None, None)
                }
                Parsed::At(ts) => (Some(ts), None),
                Parsed::NeedsZone => (None, None),
                Parsed::Bad(message) => {
                    refusals.push(Refusal::new("start", message));
                    (None, None)
                }
            }
        }
        Kind::Scheduled | Kind::Personal => {
            let start = if start_raw.is_empty() {
                refusals.push(Refusal::new("start", "the start date and time is required"));
                None
            } else {
                match parse_time("start", start_raw, zone) {
                    Parsed::At(ts) => {
                        let earliest = now.saturating_add(MIN_LEAD).unwrap_or(now);
                        let latest = now.saturating_add(MAX_LEAD).unwrap_or(now);
                        if ts < earliest {
                            refusals.push(Refusal::new(
                                "start",
                                format!(
                                    "a callback must start at least 30 minutes from now, at {} or \
                                     later; {} is too soon",
                                    local(earliest, &tz, zone_name),
                                    local(ts, &tz, zone_name)
                                ),
                            ));
                        } else if ts > latest {
                            refusals.push(Refusal::new(
                                "start",
                                format!(
                                    "a callback must start at most 31 days from now, at {} or \
                                     earlier; {} is too late",
                                    local(latest, &tz, zone_name),
                                    local(ts, &tz, zone_name)
                                ),
                            ));
                        }
                        Some(ts)
                    }
                    Parsed::NeedsZone => None,
                    Parsed::Bad(message) => {
                        refusals.push(Refusal::new("start", message));
                        None
                    }
                }
            };
            let end = match end_raw {
                None => None,
                Some(raw) => match parse_time("end", raw, zone) {
                    Parsed::At(end) => {
                        match start {
                            Some(start) if end <= start => refusals.push(Refusal::new(
                                "end",
                                format!(
                                    "the end of the time window must be after its start; it ends \
                                     at {} but starts at {}",
                                    local(end, &tz, zone_name),
                                    local(start, &tz, zone_name)
                                ),
                            )),
                            _ => {}
                        }
                        Some(end)
                    }
                    Parsed::NeedsZone => None,
                    Parsed::Bad(message) => {
                        refusals.push(Refusal::new("end", message));
                        None
                    }
                },
            };
            (start, end)
        }
    }
}

fn check_queue(queue: &str, kind: Kind, ctx: &Context<'_>, refusals: &mut Vec<Refusal>) {
    if queue.is_empty() {
        refusals.push(Refusal::new("queue", "the queue is required"));
        return;
    }
    let message = match (ctx.queue_access(queue), kind.is_scheduled()) {
        (QueueAccess::Allowed, _) => return,
        (QueueAccess::Unknown, _) => format!("unknown queue '{queue}'"),
        (QueueAccess::NotVoice, _) => {
            format!("queue '{queue}' is not a voice queue; a callback is a phone call")
        }
        // A web or courtesy callback only needs the queue to exist.
        (QueueAccess::Inactive | QueueAccess::NotMember, false) => return,
        (QueueAccess::Inactive, true) => format!("queue '{queue}' is not active"),
        (QueueAccess::NotMember, true) => format!("you are not an agent of queue '{queue}'"),
    };
    refusals.push(Refusal::new("queue", message));
}

fn check_assignee(
    req: &CallbackRequest,
    ctx: &Context<'_>,
    refusals: &mut Vec<Refusal>,
) -> Option<String> {
    let assignee = non_empty(req.assignee.as_deref());
    if req.kind != Kind::Personal {
        if assignee.is_some() {
            refusals.push(Refusal::new(
                "assignee",
                "only personal callbacks are assigned to an agent; remove the assignee or make \
                 the callback personal",
            ));
        }
        return None;
    }
    let assignee = assignee.unwrap_or(ctx.agent());
    if !ctx.may_assign(assignee) {
        refusals.push(Refusal::new(
            "assignee",
            format!(
                "a personal callback is assigned to you or to a member of one of your teams; \
                 '{assignee}' is neither"
            ),
        ));
    }
    Some(assignee.to_owned())
}
