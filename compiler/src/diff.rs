//! Semantic diffs of compiled flows: `dialect diff`.
//!
//! Two versions are compared as compiled programs, campaign by campaign (by
//! name), so that a change of layout, comments, constants or imports that
//! compiles to the same thing is no change, and a one-word edit that sends a
//! menu key elsewhere is shown as exactly that.
//!
//! Blocks have no identity of their own in a program (node indices shift with
//! every edit), so each block gets a *place*: its label if it has one, else
//! the place of the block it is first reached from, then the exit taken
//! (`main_menu › 3`, `main_menu › 3 › timeout`), found by a depth-first walk
//! from the start in exit order. Blocks at the same place in both versions
//! are compared by kind and parameters, with prompts, expressions and
//! schedules written out in full (a table index means nothing across
//! versions), and by where their exits lead. A block that became another
//! kind of block, or was added or removed, carries the blocks below its place
//! along with it: they are summed up in that one change instead of being
//! listed one by one. A declaration (queue, bot, ...) that appears or
//! disappears only because such a block does is not listed either.
//!
//! Settings, numbers, sections (fields, classifiers, ...), declarations and
//! business hours are compared by name.

use dialect_bytecode::dump::{describe, prompt_text, value_text};
use dialect_bytecode::{Exception, NodeId, Program, Schedule, Section, Settings, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What happened to a thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// In both, different.
    Changed,
}

impl Kind {
    /// `+`, `-` or `~`.
    fn sign(self) -> char {
        match self {
            Kind::Added => '+',
            Kind::Removed => '-',
            Kind::Changed => '~',
        }
    }

    /// `added`, `removed` or `changed`.
    fn word(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Changed => "changed",
        }
    }
}

/// One difference within a campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Added, removed or changed.
    pub kind: Kind,
    /// What it is and where: `setting priority`, `block main_menu › 3`.
    pub place: String,
    /// Where it is written (`scheme2.flow:33`), in the new version if it is
    /// there, else in the old.
    pub at: Option<String>,
    /// The old version, if there was one.
    pub before: Option<String>,
    /// The new version, if there is one.
    pub after: Option<String>,
}

/// The differences of one campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignDiff {
    /// The campaign's name.
    pub name: String,
    /// A campaign added or removed as a whole, or changed.
    pub kind: Kind,
    /// For a changed campaign, every difference; for an added or removed one,
    /// nothing (it is summed up by its size).
    pub changes: Vec<Change>,
    /// How many blocks the campaign has (in the version that has it).
    pub blocks: usize,
}

/// The differences between two sets of campaigns, in campaign name order.
/// Campaigns without a difference are left out.
pub fn diff(old: &[Program], new: &[Program]) -> Vec<CampaignDiff> {
    let old: BTreeMap<&str, &Program> = old.iter().map(|p| (p.name.as_str(), p)).collect();
    let new: BTreeMap<&str, &Program> = new.iter().map(|p| (p.name.as_str(), p)).collect();
    let names: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    let mut out = Vec::new();
    for name in names {
        match (old.get(name), new.get(name)) {
            (Some(a), Some(b)) => {
                let changes = campaign(a, b);
                if !changes.is_empty() {
                    out.push(CampaignDiff {
                        name: name.to_string(),
                        kind: Kind::Changed,
                        changes,
                        blocks: b.nodes.len(),
                    });
                }
            }
            (Some(a), None) => out.push(CampaignDiff {
                name: name.to_string(),
                kind: Kind::Removed,
                changes: Vec::new(),
                blocks: a.nodes.len(),
            }),
            (None, Some(b)) => out.push(CampaignDiff {
                name: name.to_string(),
                kind: Kind::Added,
                changes: Vec::new(),
                blocks: b.nodes.len(),
            }),
            (None, None) => {}
        }
    }
    out
}

/// The differences between two versions of one campaign.
fn campaign(old: &Program, new: &Program) -> Vec<Change> {
    let mut out = Vec::new();
    settings(
        &mut out,
        "setting",
        (old, &old.settings),
        (new, &new.settings),
    );
    let (a, b): (BTreeSet<&String>, BTreeSet<&String>) =
        (old.numbers.iter().collect(), new.numbers.iter().collect());
    for number in a.difference(&b) {
        out.push(change(
            Kind::Removed,
            format!("number {number}"),
            None,
            None,
            None,
        ));
    }
    for number in b.difference(&a) {
        out.push(change(
            Kind::Added,
            format!("number {number}"),
            None,
            None,
            None,
        ));
    }
    sections(
        &mut out,
        (old, &old.sections),
        (new, &new.sections),
        &BTreeSet::new(),
    );
    let blocks = Blocks::compare(old, new);
    let explained = follow(&blocks.mentioned, old, new);
    sections(&mut out, (old, &old.decls), (new, &new.decls), &explained);
    schedules(&mut out, old, new, &explained);
    assets(&mut out, old, new);
    out.extend(blocks.changes);
    out
}

/// The files of built campaigns (`dialect build`) by path: a prompt whose
/// audio changed, a knowledge base whose answers changed. Flows compiled
/// from sources carry none, so only builds are compared this way.
fn assets(out: &mut Vec<Change>, old: &Program, new: &Program) {
    // Added and removed files show where they are named (a block's prompt,
    // a bot's knowledge base); what only a build shows is new content
    // under the same name.
    let short = |hash: &[u8; 32]| {
        let hex = dialect_bytecode::assets::hex(hash);
        format!("sha256:{}", hex.get(..12).unwrap_or(&hex))
    };
    let before: BTreeMap<&str, &[u8; 32]> = old
        .assets
        .iter()
        .map(|x| (x.path.as_str(), &x.sha256))
        .collect();
    for asset in &new.assets {
        let Some(hash) = before.get(asset.path.as_str()) else {
            continue;
        };
        if **hash == asset.sha256 {
            continue;
        }
        let prompt = new
            .prompts
            .iter()
            .any(|p| matches!(p, dialect_bytecode::Prompt::Play { path } if *path == asset.path));
        let place = if prompt {
            format!("prompt {}: audio changed", asset.path)
        } else {
            format!("file {}: content changed", asset.path)
        };
        out.push(change(
            Kind::Changed,
            place,
            None,
            Some(short(hash)),
            Some(short(&asset.sha256)),
        ));
    }
}

/// A change record.
fn change(
    kind: Kind,
    place: String,
    at: Option<String>,
    before: Option<String>,
    after: Option<String>,
) -> Change {
    Change {
        kind,
        place,
        at,
        before,
        after,
    }
}

/// Settings by name: added, removed, changed. Values are compared as
/// written out in full (prompts and expressions by their text, not by their
/// index in the program's tables).
fn settings(
    out: &mut Vec<Change>,
    what: &str,
    (old_program, old): (&Program, &Settings),
    (new_program, new): (&Program, &Settings),
) {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        // The numbers are compared one by one, as `number` changes.
        if what == "setting" && name == "numbers" {
            continue;
        }
        let a = old.get(name).map(|v| setting_text(old_program, v));
        let b = new.get(name).map(|v| setting_text(new_program, v));
        if a == b {
            continue;
        }
        let kind = match (&a, &b) {
            (None, _) => Kind::Added,
            (_, None) => Kind::Removed,
            _ => Kind::Changed,
        };
        out.push(change(kind, format!("{what} {name}"), None, a, b));
    }
}

/// A setting value as written, with prompts and expressions written out.
fn setting_text(program: &Program, value: &Value) -> String {
    let at = |i: &u32| usize::try_from(*i).ok();
    match value {
        Value::Prompt(i) => at(i)
            .and_then(|i| program.prompts.get(i))
            .map_or_else(|| value_text(value), prompt_text),
        Value::Expr(i) => at(i)
            .and_then(|i| program.exprs.get(i))
            .map_or_else(|| value_text(value), |e| format!("({e})")),
        Value::List(values) => {
            let items: Vec<String> = values.iter().map(|v| setting_text(program, v)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => value_text(value),
    }
}

/// Sections or declarations by kind and name. One that appears or disappears
/// while a name in `explained` mentions it is left out (the block that uses
/// it says it).
fn sections(
    out: &mut Vec<Change>,
    (old_program, old): (&Program, &[Section]),
    (new_program, new): (&Program, &[Section]),
    explained: &BTreeSet<String>,
) {
    // Business hours are compared as schedules, in their own words.
    let key = |s: &Section| (s.kind.clone(), s.name.clone());
    let listed = |s: &&Section| s.kind != "schedule";
    let old: BTreeMap<(String, String), &Section> =
        old.iter().filter(listed).map(|s| (key(s), s)).collect();
    let new: BTreeMap<(String, String), &Section> =
        new.iter().filter(listed).map(|s| (key(s), s)).collect();
    let keys: BTreeSet<&(String, String)> = old.keys().chain(new.keys()).collect();
    for k in keys {
        let (kind, name) = k;
        match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) => settings(
                out,
                &format!("{kind} {name}:"),
                (old_program, &a.settings),
                (new_program, &b.settings),
            ),
            (Some(a), None) if !explained.contains(name) => out.push(change(
                Kind::Removed,
                format!("{kind} {name}"),
                None,
                Some(settings_line(old_program, &a.settings)),
                None,
            )),
            (None, Some(b)) if !explained.contains(name) => out.push(change(
                Kind::Added,
                format!("{kind} {name}"),
                None,
                None,
                Some(settings_line(new_program, &b.settings)),
            )),
            _ => {}
        }
    }
}

/// The names in `mentioned`, and every declaration that the declarations
/// named there refer to, transitively (a queue's agents, their skills): what
/// comes and goes with the blocks that changed.
fn follow(mentioned: &BTreeSet<String>, old: &Program, new: &Program) -> BTreeSet<String> {
    let mut out = mentioned.clone();
    let decls: Vec<&Section> = old.decls.iter().chain(&new.decls).collect();
    let mut grew = true;
    while grew {
        grew = false;
        for decl in &decls {
            if out.contains(&decl.name) {
                let mut refs = Vec::new();
                for value in decl.settings.values() {
                    refs_in(value, &mut refs);
                }
                for name in refs {
                    grew |= out.insert(name);
                }
            }
        }
    }
    out
}

/// The declaration names a setting value refers to.
fn refs_in(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Ref(_, name) => into.push(name.clone()),
        Value::List(values) => values.iter().for_each(|v| refs_in(v, into)),
        _ => {}
    }
}

/// Settings on one line: `max_wait = 5m, priority = 10`.
fn settings_line(program: &Program, settings: &Settings) -> String {
    let parts: Vec<String> = settings
        .iter()
        .map(|(name, value)| format!("{name} = {}", setting_text(program, value)))
        .collect();
    parts.join(", ")
}

/// Business hours by name.
fn schedules(out: &mut Vec<Change>, old: &Program, new: &Program, explained: &BTreeSet<String>) {
    let by_name = |p: &'_ Program| -> BTreeMap<String, String> {
        p.schedules
            .iter()
            .map(|s| (s.name.clone(), schedule_text(s)))
            .collect()
    };
    let (a, b) = (by_name(old), by_name(new));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        let (x, y) = (a.get(name), b.get(name));
        let kind = match (x, y) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(_), Some(_)) => Kind::Changed,
            _ if explained.contains(name) => continue,
            (None, _) => Kind::Added,
            (_, None) => Kind::Removed,
        };
        out.push(change(
            kind,
            format!("hours {name}"),
            None,
            x.cloned(),
            y.cloned(),
        ));
    }
}

/// Business hours on one line, as the language writes them.
fn schedule_text(schedule: &Schedule) -> String {
    let mut parts = vec![format!("zone {}", schedule.zone)];
    for (days, start, end) in &schedule.weekly {
        parts.push(format!(
            "{} {}",
            value_text(&Value::Days(*days)),
            value_text(&Value::TimeRange(*start, *end))
        ));
    }
    for exception in &schedule.exceptions {
        parts.push(match exception {
            Exception::Closed { from, to, reason } if from == to => {
                format!("closed {from}{}", reason_text(reason.as_deref()))
            }
            Exception::Closed { from, to, reason } => {
                format!("closed {from}..{to}{}", reason_text(reason.as_deref()))
            }
            Exception::Open {
                date,
                start,
                end,
                reason,
            } => format!(
                "open {date} {}{}",
                value_text(&Value::TimeRange(*start, *end)),
                reason_text(reason.as_deref())
            ),
        });
    }
    parts.join("; ")
}

/// ` "reason"`, or nothing.
fn reason_text(reason: Option<&str>) -> String {
    reason.map_or(String::new(), |r| format!(" {:?}", r))
}

/// The separator between the steps of a place.
const STEP: &str = " › ";

/// Every block of a program by its place.
struct Places {
    /// Place of each node (`None`: not reached from the start).
    of: Vec<Option<String>>,
    /// Node of each place.
    at: BTreeMap<String, NodeId>,
}

impl Places {
    /// Walks the program depth-first from the start, exits in order.
    fn new(program: &Program) -> Places {
        let mut of: Vec<Option<String>> = vec![None; program.nodes.len()];
        let mut at = BTreeMap::new();
        let mut stack: Vec<(NodeId, String)> = vec![(program.entry, String::new())];
        while let Some((id, natural)) = stack.pop() {
            let Some(index) = usize::try_from(id).ok() else {
                continue;
            };
            let Some(node) = program.nodes.get(index) else {
                continue;
            };
            if of.get(index).is_some_and(Option::is_some) {
                continue;
            }
            let place = match &node.origin.label {
                Some(label) if !at.contains_key(label) => label.clone(),
                _ if natural.is_empty() => node.op.keyword().to_string(),
                _ => natural,
            };
            if let Some(slot) = of.get_mut(index) {
                *slot = Some(place.clone());
            }
            at.insert(place.clone(), id);
            for (exit, target) in node.exits.iter().rev() {
                stack.push((*target, format!("{place}{STEP}{exit}")));
            }
        }
        Places { of, at }
    }

    /// The place of a node.
    fn of(&self, id: NodeId) -> Option<&str> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.of.get(i))
            .and_then(|p| p.as_deref())
    }
}

/// The comparison of two programs' blocks.
struct Blocks {
    /// The changes found, in place order.
    changes: Vec<Change>,
    /// Every parameter value of the blocks added, removed or changed: the
    /// names of the declarations and schedules they use.
    mentioned: BTreeSet<String>,
}

/// One side of the comparison.
struct Side<'a> {
    /// The program.
    program: &'a Program,
    /// Its places.
    places: Places,
}

impl Side<'_> {
    /// The node at a place.
    fn node(&self, place: &str) -> Option<&dialect_bytecode::Node> {
        let id = self.places.at.get(place)?;
        self.program.nodes.get(usize::try_from(*id).ok()?)
    }

    /// `keyword name=value ...` with everything written out.
    fn text(&self, place: &str) -> String {
        let Some(node) = self.node(place) else {
            return String::new();
        };
        let mut text = node.op.keyword().to_string();
        if matches!(node.op, dialect_bytecode::Op::Jump) {
            let to = node.exits.first().and_then(|e| self.places.of(e.1));
            return format!("goto {}", to.unwrap_or("?"));
        }
        for (name, value) in describe(self.program, &node.op) {
            let _ = write!(text, " {name}={value}");
        }
        text
    }

    /// Where a block is written: `scheme2.flow:33`.
    fn origin(&self, place: &str) -> Option<String> {
        let node = self.node(place)?;
        let file = self
            .program
            .sources
            .get(usize::try_from(node.origin.file).ok()?)?;
        Some(format!("{file}:{}", node.origin.line))
    }

    /// Where each exit of the block at `place` leads, by place.
    fn exits(&self, place: &str) -> Vec<(String, String)> {
        let Some(node) = self.node(place) else {
            return Vec::new();
        };
        node.exits
            .iter()
            .map(|(exit, target)| {
                let to = self.places.of(*target).unwrap_or("?").to_string();
                (exit.clone(), to)
            })
            .collect()
    }

    /// The parameter values of the block at `place`, and the names it refers to.
    fn mentions(&self, place: &str, into: &mut BTreeSet<String>) {
        if let Some(node) = self.node(place) {
            for (_, value) in describe(self.program, &node.op) {
                into.insert(value);
            }
        }
    }
}

impl Blocks {
    /// Compares the blocks of two programs place by place.
    fn compare(old: &Program, new: &Program) -> Blocks {
        let a = Side {
            program: old,
            places: Places::new(old),
        };
        let b = Side {
            program: new,
            places: Places::new(new),
        };
        let places: BTreeSet<&String> = a.places.at.keys().chain(b.places.at.keys()).collect();
        // Places whose changes carry the places below them.
        let mut carriers: Vec<String> = Vec::new();
        let mut found: Vec<(String, Kind)> = Vec::new();
        for place in &places {
            let (x, y) = (a.node(place), b.node(place));
            let kind = match (x, y) {
                (Some(x), Some(y)) if x.op.keyword() != y.op.keyword() => {
                    carriers.push((*place).clone());
                    Kind::Changed
                }
                (Some(_), Some(_)) => {
                    if a.text(place) == b.text(place) && !exits_differ(&a, &b, place) {
                        continue;
                    }
                    Kind::Changed
                }
                (Some(_), None) => {
                    carriers.push((*place).clone());
                    Kind::Removed
                }
                (None, Some(_)) => {
                    carriers.push((*place).clone());
                    Kind::Added
                }
                (None, None) => continue,
            };
            found.push(((*place).clone(), kind));
        }
        let carried_by = |place: &str| -> Option<&String> {
            carriers
                .iter()
                .filter(|c| c.as_str() != place && place.starts_with(&format!("{c}{STEP}")))
                .min_by_key(|c| c.len())
        };
        let mut mentioned = BTreeSet::new();
        // Per carrier: how many blocks below it went and came.
        let mut carried: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut kept: Vec<(String, Kind)> = Vec::new();
        for (place, kind) in found {
            a.mentions(&place, &mut mentioned);
            b.mentions(&place, &mut mentioned);
            match carried_by(&place) {
                Some(carrier) => {
                    let entry = carried.entry(carrier.clone()).or_default();
                    if a.node(&place).is_some() && kind != Kind::Added {
                        entry.0 += 1;
                    }
                    if b.node(&place).is_some() && kind != Kind::Removed {
                        entry.1 += 1;
                    }
                }
                None => kept.push((place, kind)),
            }
        }
        let mut changes = Vec::new();
        for (place, kind) in kept {
            let (went, came) = carried.get(&place).copied().unwrap_or_default();
            let at = b.origin(&place).or_else(|| a.origin(&place));
            let before = a
                .node(&place)
                .map(|_| format!("{}{}", a.text(&place), after_it(went)));
            let after = b
                .node(&place)
                .map(|_| format!("{}{}", b.text(&place), after_it(came)));
            let (before, after) = match (kind, before, after) {
                // Same kind of block: show only what differs.
                (Kind::Changed, Some(x), Some(y)) if carriers.iter().all(|c| *c != place) => {
                    let (x, y) = narrow(&a, &b, &place, x, y);
                    (Some(x), Some(y))
                }
                (_, x, y) => (x, y),
            };
            changes.push(change(kind, format!("block {place}"), at, before, after));
        }
        Blocks { changes, mentioned }
    }
}

/// `, and the 3 blocks after it`, or nothing.
fn after_it(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => " (and the block after it)".to_string(),
        n => format!(" (and the {n} blocks after it)"),
    }
}

/// Whether any exit of the block at `place` leads elsewhere: to another
/// place that is not the exit's own (a `goto` or a join).
fn exits_differ(a: &Side<'_>, b: &Side<'_>, place: &str) -> bool {
    exit_changes(a, b, place).next().is_some()
}

/// The exits of the block at `place` whose destinations differ, skipping
/// those whose destination is the exit's own place on either side (the
/// block there is compared on its own).
fn exit_changes<'s>(
    a: &'s Side<'_>,
    b: &'s Side<'_>,
    place: &'s str,
) -> impl Iterator<Item = (String, Option<String>, Option<String>)> + 's {
    let (x, y) = (a.exits(place), b.exits(place));
    let mut names: Vec<String> = x.iter().map(|e| e.0.clone()).collect();
    for (name, _) in &y {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names.into_iter().filter_map(move |name| {
        let own = format!("{place}{STEP}{name}");
        let from = x.iter().find(|e| e.0 == name).map(|e| e.1.clone());
        let to = y.iter().find(|e| e.0 == name).map(|e| e.1.clone());
        let natural = from.as_deref() == Some(own.as_str()) || to.as_deref() == Some(own.as_str());
        (from != to && !natural).then_some((name, from, to))
    })
}

/// For a block of the same kind in both versions: only the parameters and
/// exits that differ, `max_wait=5m` → `max_wait=10m`.
fn narrow(a: &Side<'_>, b: &Side<'_>, place: &str, x: String, y: String) -> (String, String) {
    let params = |side: &Side<'_>| -> Vec<(&'static str, String)> {
        side.node(place)
            .map(|n| describe(side.program, &n.op))
            .unwrap_or_default()
    };
    let (p, q) = (params(a), params(b));
    let mut before = Vec::new();
    let mut after = Vec::new();
    let names: Vec<&str> = p
        .iter()
        .map(|e| e.0)
        .chain(q.iter().map(|e| e.0))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for name in names {
        let (u, v) = (
            p.iter().find(|e| e.0 == name).map(|e| &e.1),
            q.iter().find(|e| e.0 == name).map(|e| &e.1),
        );
        if u != v {
            before.push(u.map_or(format!("no {name}"), |u| format!("{name}={u}")));
            after.push(v.map_or(format!("no {name}"), |v| format!("{name}={v}")));
        }
    }
    for (exit, from, to) in exit_changes(a, b, place) {
        before.push(from.map_or(format!("no exit {exit}"), |f| format!("{exit} → {f}")));
        after.push(to.map_or(format!("no exit {exit}"), |t| format!("{exit} → {t}")));
    }
    if before.is_empty() {
        return (x, y);
    }
    let keyword = a
        .node(place)
        .map_or(String::new(), |n| n.op.keyword().to_string());
    (
        format!("{keyword} {}", before.join(", ")),
        format!("{keyword} {}", after.join(", ")),
    )
}

/// The diff for a terminal: one line per change, `+`/`-`/`~` first.
pub fn text(diffs: &[CampaignDiff]) -> String {
    if diffs.is_empty() {
        return "no changes\n".to_string();
    }
    let mut out = String::new();
    for d in diffs {
        match d.kind {
            Kind::Added | Kind::Removed => {
                let _ = writeln!(
                    out,
                    "{} campaign {} ({} blocks)",
                    d.kind.sign(),
                    d.name,
                    d.blocks
                );
            }
            Kind::Changed => {
                let _ = writeln!(out, "~ campaign {}", d.name);
                for c in &d.changes {
                    let at = c.at.as_ref().map_or(String::new(), |a| format!(" ({a})"));
                    let _ = writeln!(out, "  {} {}{at}", c.kind.sign(), c.place);
                    if let Some(before) = &c.before {
                        let _ = writeln!(out, "      - {before}");
                    }
                    if let Some(after) = &c.after {
                        let _ = writeln!(out, "      + {after}");
                    }
                }
            }
        }
    }
    let _ = writeln!(out, "{}", summary(diffs));
    out
}

/// The diff as Markdown, for a pull request comment: a table per campaign.
pub fn markdown(diffs: &[CampaignDiff]) -> String {
    if diffs.is_empty() {
        return "**dialect diff:** no changes to the compiled flows.\n".to_string();
    }
    let mut out = format!("**dialect diff:** {}\n", summary(diffs));
    for d in diffs {
        match d.kind {
            Kind::Added | Kind::Removed => {
                let _ = writeln!(
                    out,
                    "\n#### Campaign `{}` {} ({} blocks)",
                    md_code(&d.name),
                    d.kind.word(),
                    d.blocks
                );
            }
            Kind::Changed => {
                let _ = writeln!(out, "\n#### Campaign `{}`\n", md_code(&d.name));
                out.push_str("| | What | Where | Before | After |\n|---|---|---|---|---|\n");
                for c in &d.changes {
                    let cell = |s: &Option<String>| {
                        s.as_ref()
                            .map_or(String::new(), |s| format!("`{}`", md_code(s)))
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} |",
                        c.kind.word(),
                        md_text(&c.place),
                        c.at.as_deref().map(md_text).unwrap_or_default(),
                        cell(&c.before),
                        cell(&c.after)
                    );
                }
            }
        }
    }
    out
}

/// `2 campaigns changed, 1 added: 5 changes`.
fn summary(diffs: &[CampaignDiff]) -> String {
    let count = |k: Kind| diffs.iter().filter(|d| d.kind == k).count();
    let changes: usize = diffs.iter().map(|d| d.changes.len()).sum();
    let mut parts = Vec::new();
    for (kind, n) in [
        (Kind::Changed, count(Kind::Changed)),
        (Kind::Added, count(Kind::Added)),
        (Kind::Removed, count(Kind::Removed)),
    ] {
        if n > 0 {
            let s = if n == 1 { "" } else { "s" };
            parts.push(format!("{n} campaign{s} {}", kind.word()));
        }
    }
    let s = if changes == 1 { "" } else { "s" };
    format!("{}: {changes} change{s}", parts.join(", "))
}

/// Text for a Markdown table cell: `|` escaped, line breaks as spaces.
fn md_text(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Text for inline code inside a table cell (backticks cannot be escaped in
/// code spans, so they become `'`).
fn md_code(text: &str) -> String {
    md_text(text).replace('`', "'")
}
