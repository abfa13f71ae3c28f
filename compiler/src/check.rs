//! Phase 3: meaning. Walks every declaration against the schema: settings and
//! their types, domain literals, references, IVR blocks and their exits,
//! labels and jumps, rhai expressions (compiled with only the known variables
//! in scope). The value conversion here is also what `lower` uses, so a value
//! is read one way only.

use crate::ast::{Date, Ident, Span, Stmt, Value, ValueKind, WEEKDAYS};
use crate::environment::{ENV, Environment};
use crate::resolve::{self, DeclRef, Resolution, suggest};
use crate::schema::{self, Arg, Block, Decl, ExitMode, Kind, Setting, Ty};
use crate::source::{FileId, Sources};
use crate::world::World;
use crate::{Problem, Report};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// A problem with what a statement means.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// A name resolution problem found while checking a reference.
    Resolve(resolve::Error),
    /// Wrong number of arguments.
    Arity {
        /// The statement's arguments (or head when there are none).
        span: Span,
        /// The statement's head.
        head: String,
        /// The expected form.
        expected: String,
    },
    /// A setting or section not allowed here.
    UnknownSetting {
        /// The head word.
        span: Span,
        /// What was written.
        word: String,
        /// Where (`campaign`, `queue block`, ...).
        context: String,
        /// The closest allowed word.
        suggestion: Option<String>,
    },
    /// A block head that is no block.
    UnknownBlock {
        /// The head word.
        span: Span,
        /// What was written.
        word: String,
        /// The closest block.
        suggestion: Option<String>,
    },
    /// An arm for an exit the block does not have.
    UnknownExit {
        /// The exit.
        span: Span,
        /// What was written.
        exit: String,
        /// The block.
        block: &'static str,
        /// Its exits.
        exits: Vec<String>,
        /// The closest exit.
        suggestion: Option<String>,
    },
    /// A setting given twice.
    DuplicateSetting {
        /// The second.
        span: Span,
        /// The setting.
        name: String,
        /// The first.
        first: Span,
    },
    /// An exit wired twice.
    DuplicateArm {
        /// The second arm.
        span: Span,
        /// The exit.
        exit: String,
        /// The first arm.
        first: Span,
    },
    /// A required setting is missing.
    MissingSetting {
        /// The statement's head.
        span: Span,
        /// The missing setting.
        name: &'static str,
        /// Where.
        context: String,
    },
    /// A value of the wrong form.
    Type {
        /// The value.
        span: Span,
        /// What was expected, in words.
        expected: String,
        /// What was found, in words.
        found: String,
    },
    /// Not an IANA time zone.
    BadZone {
        /// The string.
        span: Span,
        /// What was written.
        zone: String,
        /// The closest zone name.
        suggestion: Option<String>,
    },
    /// Not a valid phone number.
    BadPhone {
        /// The number.
        span: Span,
        /// What was written.
        text: String,
        /// Why.
        reason: String,
    },
    /// A whole number out of its range (priorities -100..100 among them).
    OutOfRange {
        /// The number.
        span: Span,
        /// The value.
        value: String,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A duration that is zero, negative or beyond its sane bound.
    BadDuration {
        /// The duration.
        span: Span,
        /// The value in ms.
        ms: u64,
        /// Shortest allowed, ms.
        min: u64,
        /// Longest allowed, ms.
        max: u64,
    },
    /// A referenced file does not exist.
    FileMissing {
        /// The path string.
        span: Span,
        /// What was written.
        path: String,
        /// Where it was looked for.
        tried: String,
    },
    /// An audio file that is not wav or mp3.
    AudioFormat {
        /// The path string.
        span: Span,
        /// What was written.
        path: String,
        /// Why.
        reason: String,
    },
    /// An expression that does not compile.
    ExprSyntax {
        /// Where in the expression.
        span: Span,
        /// rhai's message.
        message: String,
    },
    /// An expression reads a variable that does not exist.
    UnknownVariable {
        /// The variable.
        span: Span,
        /// Its name.
        name: String,
        /// The closest variable.
        suggestion: Option<String>,
    },
    /// A percentage over 100% or malformed.
    BadPercent {
        /// The percentage.
        span: Span,
    },
    /// A text value of the wrong shape (e-mail, URL, identifier, length).
    BadText {
        /// The value.
        span: Span,
        /// What it should be.
        what: &'static str,
        /// Why it is not.
        reason: String,
    },
    /// Survey parameters outside SPEC 5.7.
    Survey {
        /// The survey or question.
        span: Span,
        /// Why.
        reason: String,
    },
    /// Callback parameters outside SPEC 5.5.
    Callback {
        /// The setting.
        span: Span,
        /// Why.
        reason: String,
    },
    /// A label defined twice in one campaign or sub-flow.
    DuplicateLabel {
        /// The second.
        span: Span,
        /// The label.
        label: String,
        /// The first.
        first: Span,
    },
    /// A jump to a label that does not exist.
    UnknownLabel {
        /// The target.
        span: Span,
        /// The label.
        label: String,
        /// The closest label.
        suggestion: Option<String>,
    },
    /// A block's exit is not wired.
    UnwiredExit {
        /// The block head.
        span: Span,
        /// The exit.
        exit: String,
        /// The block.
        block: &'static str,
    },
    /// A menu key wired twice.
    DuplicateKey {
        /// The second.
        span: Span,
        /// The key.
        key: String,
        /// The first.
        first: Span,
    },
    /// Not a DTMF key.
    BadKey {
        /// The key.
        span: Span,
        /// What was written.
        text: String,
    },
    /// More than 12 menu paths.
    TooManyKeys {
        /// The menu.
        span: Span,
        /// How many.
        count: usize,
    },
    /// A schedule that cannot be (end before start, reversed range).
    BadSchedule {
        /// The setting.
        span: Span,
        /// Why.
        reason: String,
    },
    /// A schedule exception outside the campaign's life.
    OutsideLife {
        /// The exception's date.
        span: Span,
        /// The campaign.
        campaign: String,
        /// The campaign's first day.
        starts: String,
        /// Its last day.
        ends: String,
    },
    /// An inbound IVR that does not start with `answer`.
    AnswerFirst {
        /// The first block, or the `ivr` head.
        span: Span,
    },
    /// A campaign without an IVR.
    NoIvr {
        /// The campaign's name.
        span: Span,
    },
    /// An extension number of two agents or queues.
    DuplicateExtension {
        /// The number.
        span: Span,
        /// The extension.
        extension: String,
        /// The other owner: `agent ann`, `queue sales`.
        other: String,
    },
    /// A number that reaches two campaigns.
    DuplicateNumber {
        /// The number.
        span: Span,
        /// The number, E.164.
        number: String,
        /// The other campaign.
        other: String,
    },
    /// A sub-flow that uses itself.
    FlowRecursion {
        /// The `use`.
        span: Span,
        /// The sub-flow.
        flow: String,
    },
    /// A parameter type that does not exist.
    UnknownType {
        /// The type name.
        span: Span,
        /// What was written.
        word: String,
        /// The closest type.
        suggestion: Option<String>,
    },
    /// A problem with a bound value, found where the flow uses it.
    Bound {
        /// The reference, `env.NAME`.
        span: Span,
        /// The logical name.
        name: String,
        /// The environment.
        env: String,
        /// The environment file, as shown.
        path: String,
        /// The binding's line in the file.
        line: usize,
        /// The value as written in the file.
        written: String,
        /// The problem, as if the value were written at the reference.
        error: Box<Error>,
    },
    /// Constants (or bindings naming constants) that stand for each other
    /// in a cycle.
    ConstCycle {
        /// The reference where the cycle was noticed.
        span: Span,
        /// The name.
        name: String,
    },
}

/// A checked, typed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// `true`/`false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A decimal, as written.
    Decimal(String),
    /// A string.
    Text(String),
    /// An enumeration word.
    Word(String),
    /// Milliseconds.
    Duration(u64),
    /// Minutes after midnight.
    TimeRange(u32, u32),
    /// Weekday bit set, bit 0 = Monday.
    Days(u8),
    /// A date.
    Date(Date),
    /// An inclusive date range.
    DateRange(Date, Date),
    /// Hundredths of a percent.
    Percent(u32),
    /// E.164 number or prefix pattern.
    Phone(String),
    /// IANA zone.
    Zone(String),
    /// A prompt, with audio paths made stable (relative to the build root).
    Prompt(dialect_bytecode::Prompt),
    /// An audio or data file's stable path.
    File(String),
    /// rhai source.
    Expr(String),
    /// A variable name.
    Var(String),
    /// A resolved reference.
    Ref(Kind, DeclRef),
    /// A jump target.
    Label(String, Span),
    /// A list.
    List(Vec<Lit>),
    /// A sub-flow parameter, unknown until the sub-flow is used.
    Param,
}

/// A sub-flow parameter in an [`Env`].
#[derive(Clone, Debug)]
pub enum Param<'a> {
    /// While checking the sub-flow: only its type is known.
    Typed(Ty),
    /// While lowering a use: the argument's values, read where they were written.
    Bound(&'a [Value], Box<Env<'a>>),
}

/// Where values are read: the file (for names and relative paths), the
/// default country code, and any sub-flow parameters.
#[derive(Clone, Debug)]
pub struct Env<'a> {
    /// The file the values are written in.
    pub file: FileId,
    /// The default country code, `+48`.
    pub country_code: String,
    /// Sub-flow parameters by name.
    pub params: HashMap<String, Param<'a>>,
    /// How many constants and bindings led here, to stop at a cycle.
    pub depth: u32,
}

impl<'a> Env<'a> {
    /// An environment for plain values of `file`.
    pub fn new(file: FileId, country_code: &str) -> Env<'a> {
        Env {
            file,
            country_code: country_code.to_string(),
            params: HashMap::new(),
            depth: 0,
        }
    }
}

/// The most constants and bindings one value may pass through: more is a
/// cycle (`const a = b`, `const b = a`).
const MAX_INDIRECTION: u32 = 64;

/// The default country code when a campaign sets none.
pub const DEFAULT_COUNTRY_CODE: &str = "+48";

/// What conversion reads: the files, names and file system.
pub struct Reader<'a> {
    /// The files.
    pub sources: &'a Sources,
    /// The names.
    pub resolution: &'a Resolution,
    /// File access, for audio files.
    pub world: &'a dyn World,
    /// The chosen environment, whose bindings `env.NAME` values take.
    pub environment: Option<&'a Environment>,
}

/// Checks every file, `env.NAME` values read from `environment`. Returns
/// the number of IVR blocks seen.
pub fn check(
    world: &dyn World,
    sources: &Sources,
    resolution: &Resolution,
    environment: Option<&Environment>,
    reports: &mut Vec<Report>,
) -> usize {
    let mut engine = rhai::Engine::new_raw();
    engine.set_strict_variables(true);
    let mut checker = Checker {
        read: Reader {
            sources,
            resolution,
            world,
            environment,
        },
        reports,
        engine,
        file: 0,
        vars: HashSet::new(),
        unit: Unit::default(),
        blocks: 0,
        numbers: BTreeMap::new(),
        extensions: BTreeMap::new(),
    };
    for id in sources.ids() {
        checker.file(id);
    }
    checker.blocks
}

struct Checker<'a, 'r> {
    read: Reader<'a>,
    reports: &'r mut Vec<Report>,
    engine: rhai::Engine,
    file: FileId,
    vars: HashSet<String>,
    unit: Unit,
    blocks: usize,
    numbers: BTreeMap<String, String>,
    /// Extension numbers and their owners (`agent ann`), across all files.
    extensions: BTreeMap<String, String>,
}

/// Labels and jumps of one campaign IVR or sub-flow.
#[derive(Default)]
struct Unit {
    labels: HashMap<String, Span>,
    gotos: Vec<(String, Span)>,
    schedules: Vec<(DeclRef, Span)>,
}

impl<'a> Checker<'a, '_> {
    fn error(&mut self, error: Error) {
        self.reports.push(Report {
            file: self.file,
            problem: Problem::Check(error),
        });
    }

    fn file(&mut self, id: FileId) {
        self.file = id;
        let Some(src) = self.read.sources.get(id) else {
            return;
        };
        for stmt in &src.ast.items {
            // Expressions outside an IVR (handoff rules) see the built-in
            // variables, and a handoff's rules the facts of its ticket.
            self.vars = schema::VARIABLES
                .iter()
                .map(|(n, _)| (*n).to_string())
                .collect();
            if stmt.head.name == "handoff" {
                self.vars.extend(
                    schema::HANDOFF_VARIABLES
                        .iter()
                        .map(|(n, _)| (*n).to_string()),
                );
            }
            match stmt.head.name.as_str() {
                "import" => self.import(stmt),
                "const" => {
                    if stmt.args.len() != 2 || stmt.args.first().and_then(Value::as_ident).is_none()
                    {
                        self.arity(stmt, "const NAME = VALUE".into());
                    }
                }
                "flow" => self.flow(stmt),
                word => {
                    if let Some(decl) =
                        schema::decl(word).filter(|d| Kind::from_keyword(d.name).is_some())
                    {
                        self.decl(decl, stmt, &Env::new(id, DEFAULT_COUNTRY_CODE));
                    }
                    // Unknown top-level words are reported by `resolve`.
                }
            }
        }
    }

    fn import(&mut self, stmt: &Stmt) {
        let ok = match stmt.args.as_slice() {
            [path] => matches!(path.kind, ValueKind::Str(_)),
            [path, alias] => matches!(path.kind, ValueKind::Str(_)) && alias.as_ident().is_some(),
            _ => false,
        };
        if !ok {
            self.arity(stmt, "import \"PATH\" [as NAME]".into());
        }
    }

    fn arity(&mut self, stmt: &Stmt, expected: String) {
        let span = stmt
            .args
            .iter()
            .map(|a| a.span)
            .reduce(Span::join)
            .unwrap_or(stmt.head.span);
        self.error(Error::Arity {
            span,
            head: stmt.head.name.clone(),
            expected,
        });
    }

    fn flow(&mut self, stmt: &Stmt) {
        let mut env = Env::new(self.file, DEFAULT_COUNTRY_CODE);
        if stmt.args.len() != 1 {
            self.arity(stmt, "flow NAME(PARAM: TYPE, ...) { ... }".into());
        }
        for param in &stmt.params {
            match schema::PARAM_TYPES
                .iter()
                .find(|(n, _)| *n == param.ty.name)
            {
                Some((_, ty)) => {
                    env.params
                        .insert(param.name.name.clone(), Param::Typed(*ty));
                }
                None => self.error(Error::UnknownType {
                    span: param.ty.span,
                    word: param.ty.name.clone(),
                    suggestion: suggest(
                        &param.ty.name,
                        schema::PARAM_TYPES.iter().map(|(n, _)| *n),
                    ),
                }),
            }
        }
        self.begin_unit(stmt.children());
        self.blocks(stmt.children(), &env);
        self.end_unit();
    }

    fn begin_unit(&mut self, stmts: &[Stmt]) {
        self.unit = Unit::default();
        self.vars = schema::VARIABLES
            .iter()
            .map(|(n, _)| (*n).to_string())
            .collect();
        collect_vars(stmts, &mut self.vars);
    }

    fn end_unit(&mut self) {
        let unit = std::mem::take(&mut self.unit);
        for (label, span) in unit.gotos {
            if !unit.labels.contains_key(&label) {
                let suggestion = suggest(&label, unit.labels.keys().map(String::as_str));
                self.error(Error::UnknownLabel {
                    span,
                    label,
                    suggestion,
                });
            }
        }
    }

    /// A declaration or section: its name, settings, sections and blocks.
    fn decl(&mut self, decl: &'static Decl, stmt: &Stmt, env: &Env<'_>) {
        let name = stmt.args.first().and_then(Value::as_ident);
        let expected_args = usize::from(decl.named);
        if stmt.args.len() != expected_args || (decl.named && name.is_none()) {
            let form = if decl.named {
                format!("{} NAME {{ ... }}", decl.name)
            } else {
                format!("{} {{ ... }}", decl.name)
            };
            self.arity(stmt, form);
        }
        if decl.name == "campaign" {
            return self.campaign(stmt);
        }
        if decl.name == "alert" {
            return self.alert(stmt, env);
        }
        if decl.name == "channel"
            && let Some(name) = name.filter(|n| !schema::CHANNELS.contains(&n.name.as_str()))
        {
            self.error(Error::Type {
                span: name.span,
                expected: "a channel Dialect serves: `inbound` (the calls and chats the campaign \
                           answers) or `outbound` (the recalls it places); it has no e-mail \
                           channel"
                    .into(),
                found: format!("`{}`", name.name),
            });
        }
        let seen = self.settings(decl.settings, decl.sections, decl.name, stmt, env);
        if matches!(decl.name, "agent" | "queue")
            && let Some(name) = name
        {
            self.extension(decl.name, &name.name, stmt);
        }
        if decl.name == "schedule" {
            self.schedule(stmt, env);
        }
        if decl.name == "survey" {
            self.survey(stmt, &seen);
        }
        for child in stmt.children() {
            if let Some(section) = schema::decl(&child.head.name)
                .filter(|_| decl.sections.contains(&child.head.name.as_str()))
            {
                if section.blocks {
                    self.error(Error::UnknownSetting {
                        span: child.head.span,
                        word: child.head.name.clone(),
                        context: decl.name.to_string(),
                        suggestion: None,
                    });
                } else {
                    self.decl(section, child, env);
                }
            }
        }
    }

    /// Checks the settings of a body; sections are left to the caller.
    /// Returns the settings found, by name.
    fn settings(
        &mut self,
        settings: &'static [Setting],
        sections: &[&str],
        context: &str,
        stmt: &Stmt,
        env: &Env<'_>,
    ) -> HashMap<&'static str, Span> {
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for child in stmt.children() {
            let word = child.head.name.as_str();
            if sections.contains(&word) {
                continue;
            }
            let Some(setting) = settings.iter().find(|s| s.name == word) else {
                let known = settings
                    .iter()
                    .map(|s| s.name)
                    .chain(sections.iter().copied());
                self.error(Error::UnknownSetting {
                    span: child.head.span,
                    word: word.to_string(),
                    context: context.to_string(),
                    suggestion: suggest(word, known),
                });
                continue;
            };
            if let Some(first) = seen.get(setting.name) {
                if !setting.repeat {
                    let first = *first;
                    self.error(Error::DuplicateSetting {
                        span: child.head.span,
                        name: word.into(),
                        first,
                    });
                    continue;
                }
            } else {
                seen.insert(setting.name, child.head.span);
            }
            self.setting(setting, child, env);
        }
        for setting in settings.iter().filter(|s| s.required) {
            if !seen.contains_key(setting.name) {
                self.error(Error::MissingSetting {
                    span: stmt.head_span(),
                    name: setting.name,
                    context: context.to_string(),
                });
            }
        }
        seen
    }

    fn setting(&mut self, setting: &Setting, stmt: &Stmt, env: &Env<'_>) -> Option<Vec<Lit>> {
        if let Some(body) = &stmt.body {
            self.error(Error::Arity {
                span: body.span,
                head: stmt.head.name.clone(),
                expected: format!("{} without a body", setting.name),
            });
        }
        self.args(&stmt.head.name, setting.args, stmt, env)
    }

    /// Converts a statement's arguments, reporting every problem.
    fn args(&mut self, head: &str, args: &[Arg], stmt: &Stmt, env: &Env<'_>) -> Option<Vec<Lit>> {
        let groups = match group_args(args, &stmt.args, env) {
            Some(groups) => groups,
            None => {
                self.arity(stmt, form(head, args));
                return None;
            }
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (arg, values) in args.iter().zip(groups) {
            match convert(
                &self.read,
                env,
                arg.ty,
                values,
                Some((&self.engine, &self.vars)),
            ) {
                Ok(lit) => out.push(lit),
                Err(errors) => {
                    ok = false;
                    for e in errors {
                        self.error(e);
                    }
                }
            }
        }
        ok.then_some(out)
    }

    /// An agent's or queue's `extension`: one owner per number.
    fn extension(&mut self, kind: &str, name: &str, stmt: &Stmt) {
        let Some(value) = stmt
            .children()
            .iter()
            .find(|c| c.head.name == "extension")
            .and_then(|c| c.args.first())
        else {
            return;
        };
        let number = match &literal(&self.read, value).kind {
            ValueKind::Number(n) => n.clone(),
            _ => return,
        };
        let owner = format!("{kind} {name}");
        match self.extensions.get(&number) {
            Some(other) if *other != owner => {
                let other = other.clone();
                self.error(Error::DuplicateExtension {
                    span: value.span,
                    extension: number,
                    other,
                });
            }
            _ => {
                self.extensions.insert(number, owner);
            }
        }
    }

    fn campaign(&mut self, stmt: &Stmt) {
        let decl = schema::decl("campaign");
        let Some(decl) = decl else { return };
        let country_code = campaign_country_code(&self.read, stmt);
        let env = Env::new(self.file, &country_code);
        self.settings(decl.settings, decl.sections, "campaign", stmt, &env);
        let name = stmt
            .args
            .first()
            .and_then(Value::as_ident)
            .map(|i| i.name.clone())
            .unwrap_or_default();
        // A ticket SLA alert measures against the campaign's `ticket_sla`.
        let has_sla = stmt.children().iter().any(|c| c.head.name == "ticket_sla");
        for alert in stmt.children().iter().filter(|c| c.head.name == "alert") {
            let kind = alert.args.first().and_then(Value::as_ident);
            if let Some(kind) = kind.filter(|k| k.name.starts_with("sla_"))
                && !has_sla
            {
                self.error(Error::MissingSetting {
                    span: kind.span,
                    name: "ticket_sla",
                    context: format!(
                        "campaign {name}, whose alert `{}` measures its tickets against it",
                        kind.name
                    ),
                });
            }
        }
        // Numbers must reach one campaign only.
        if let Some(first) = stmt
            .children()
            .iter()
            .find(|c| c.head.name == "numbers")
            .and_then(|n| n.args.first())
        {
            let first = literal(&self.read, first);
            let values: Vec<&Value> = match &first.kind {
                ValueKind::List(items) => items.iter().collect(),
                _ => vec![&*first],
            };
            for value in values {
                if let Ok(Lit::Phone(number)) = convert(
                    &self.read,
                    &env,
                    Ty::Phone,
                    std::slice::from_ref(value),
                    None,
                ) {
                    match self.numbers.get(&number) {
                        Some(other) if *other != name => {
                            let other = other.clone();
                            self.error(Error::DuplicateNumber {
                                span: value.span,
                                number,
                                other,
                            });
                        }
                        _ => {
                            self.numbers.insert(number, name.clone());
                        }
                    }
                }
            }
        }
        let ivrs: Vec<&Stmt> = stmt
            .children()
            .iter()
            .filter(|c| c.head.name == "ivr")
            .collect();
        match ivrs.as_slice() {
            [] => self.error(Error::NoIvr {
                span: stmt.args.first().map(|a| a.span).unwrap_or(stmt.head.span),
            }),
            [ivr, rest @ ..] => {
                for extra in rest {
                    self.error(Error::DuplicateSetting {
                        span: extra.head.span,
                        name: "ivr".into(),
                        first: ivr.head.span,
                    });
                }
                if !ivr.args.is_empty() {
                    self.arity(ivr, "ivr { ... }".into());
                }
                match ivr.children().first() {
                    Some(first) if first.head.name == "answer" => {}
                    Some(first) => self.error(Error::AnswerFirst {
                        span: first.head_span(),
                    }),
                    None => self.error(Error::AnswerFirst {
                        span: ivr.head.span,
                    }),
                }
                self.begin_unit(ivr.children());
                self.blocks(ivr.children(), &env);
                let schedules = std::mem::take(&mut self.unit.schedules);
                self.end_unit();
                self.life(stmt, &name, &schedules);
            }
        }
        for child in stmt.children() {
            let word = child.head.name.as_str();
            if word != "ivr"
                && decl.sections.contains(&word)
                && let Some(section) = schema::decl(word)
            {
                self.decl(section, child, &env);
            }
        }
    }

    /// Every schedule exception used by the campaign lies inside its life.
    fn life(&mut self, campaign: &Stmt, name: &str, schedules: &[(DeclRef, Span)]) {
        let read = &self.read;
        let date_of = |word: &str| {
            campaign
                .children()
                .iter()
                .find(|c| c.head.name == word)
                .and_then(|c| c.args.first())
                .and_then(|a| match literal(read, a).kind {
                    ValueKind::Date(d) => Some(d),
                    _ => None,
                })
        };
        let (starts, ends) = (date_of("starts"), date_of("ends"));
        if starts.is_none() && ends.is_none() {
            return;
        }
        let lo = starts.unwrap_or(Date {
            year: i16::MIN,
            month: 1,
            day: 1,
        });
        let hi = ends.unwrap_or(Date {
            year: i16::MAX,
            month: 12,
            day: 31,
        });
        if let (Some(s), Some(e)) = (starts, ends)
            && e < s
        {
            if let Some(span) = campaign
                .children()
                .iter()
                .find(|c| c.head.name == "ends")
                .map(|c| c.span)
            {
                self.error(Error::BadSchedule {
                    span,
                    reason: format!("the campaign ends ({e}) before it starts ({s})"),
                });
            }
            return;
        }
        let mut seen = HashSet::new();
        for (decl, _) in schedules {
            if !seen.insert(*decl) {
                continue;
            }
            let Some(stmt) = self.read.sources.stmt(*decl) else {
                continue;
            };
            for child in stmt
                .children()
                .iter()
                .filter(|c| c.head.name == "closed" || c.head.name == "open")
            {
                let Some(first) = child.args.first() else {
                    continue;
                };
                let first = literal(&self.read, first);
                let (a, b) = match first.kind {
                    ValueKind::Date(d) => (d, d),
                    ValueKind::DateRange(a, b) => (a, b),
                    _ => continue,
                };
                if a < lo || b > hi {
                    let fmt =
                        |d: Option<Date>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
                    self.reports.push(Report {
                        file: decl.file,
                        problem: Problem::Check(Error::OutsideLife {
                            span: first.span,
                            campaign: name.to_string(),
                            starts: fmt(starts),
                            ends: fmt(ends),
                        }),
                    });
                }
            }
        }
    }

    fn alert(&mut self, stmt: &Stmt, env: &Env<'_>) {
        let Some(name) = stmt.args.first().and_then(Value::as_ident) else {
            return;
        };
        let Some((_, ty, _)) = schema::ALERTS.iter().find(|(n, _, _)| *n == name.name) else {
            self.error(Error::Type {
                span: name.span,
                expected: format!(
                    "an alert: {}",
                    schema::ALERTS
                        .iter()
                        .map(|(n, _, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                found: format!("`{}`", name.name),
            });
            return;
        };
        // The threshold's type and bounds depend on the alert's kind.
        let args = [Arg {
            ty: *ty,
            optional: false,
        }];
        let mut first: Option<Span> = None;
        for child in stmt.children() {
            if child.head.name != "threshold" {
                self.error(Error::UnknownSetting {
                    span: child.head.span,
                    word: child.head.name.clone(),
                    context: format!("alert {}", name.name),
                    suggestion: suggest(&child.head.name, ["threshold"].into_iter()),
                });
                continue;
            }
            if let Some(first) = first {
                self.error(Error::DuplicateSetting {
                    span: child.head.span,
                    name: "threshold".into(),
                    first,
                });
                continue;
            }
            first = Some(child.head.span);
            self.args("threshold", &args, child, env);
        }
        if first.is_none() {
            self.error(Error::MissingSetting {
                span: stmt.head_span(),
                name: "threshold",
                context: format!("alert {}", name.name),
            });
        }
    }

    fn schedule(&mut self, stmt: &Stmt, _env: &Env<'_>) {
        for child in stmt.children() {
            for value in &child.args {
                let value = literal(&self.read, value);
                match value.kind {
                    ValueKind::TimeRange(a, b) if b <= a => self.error(Error::BadSchedule {
                        span: value.span,
                        reason: format!("the end {} is not after the start {}", hhmm(b), hhmm(a)),
                    }),
                    ValueKind::DateRange(a, b) if b < a => self.error(Error::BadSchedule {
                        span: value.span,
                        reason: format!("the last day {b} is before the first day {a}"),
                    }),
                    _ => {}
                }
            }
        }
    }

    fn survey(&mut self, stmt: &Stmt, seen: &HashMap<&'static str, Span>) {
        let questions = stmt
            .children()
            .iter()
            .filter(|c| c.head.name == "question")
            .count();
        let span = stmt.args.first().map(|a| a.span).unwrap_or(stmt.head.span);
        if questions == 0 {
            self.error(Error::Survey {
                span,
                reason: "a survey needs at least one question".into(),
            });
        } else if questions > MAX_QUESTIONS {
            self.error(Error::Survey {
                span,
                reason: format!(
                    "a survey has at most {MAX_QUESTIONS} questions; this one has {questions}"
                ),
            });
        }
        let mode = stmt
            .children()
            .iter()
            .find(|c| c.head.name == "mode")
            .and_then(|c| c.args.first())
            .map(|v| literal(&self.read, v));
        let outbound = mode
            .as_deref()
            .and_then(Value::as_ident)
            .is_some_and(|m| m.name == "outbound");
        if outbound && !seen.contains_key("delay") {
            self.error(Error::Survey {
                span,
                reason: "an outbound survey needs a `delay` after the call".into(),
            });
        }
        if !outbound && let Some(delay) = seen.get("delay") {
            self.error(Error::Survey {
                span: *delay,
                reason: "`delay` only applies to `mode outbound` surveys".into(),
            });
        }
    }

    /// A sequence of IVR blocks.
    fn blocks(&mut self, stmts: &[Stmt], env: &Env<'_>) {
        for stmt in stmts {
            self.block(stmt, env);
        }
    }

    fn block(&mut self, stmt: &Stmt, env: &Env<'_>) {
        self.blocks += 1;
        let Some(block) = schema::block(&stmt.head.name) else {
            self.error(Error::UnknownBlock {
                span: stmt.head.span,
                word: stmt.head.name.clone(),
                suggestion: suggest(&stmt.head.name, schema::BLOCKS.iter().map(|b| b.name)),
            });
            return;
        };
        if let Some(label) = &stmt.label {
            if let Some(first) = self.unit.labels.get(&label.name) {
                let first = *first;
                self.error(Error::DuplicateLabel {
                    span: label.span,
                    label: label.name.clone(),
                    first,
                });
            } else {
                self.unit.labels.insert(label.name.clone(), label.span);
            }
        }
        let lits = self.args(block.name, block.args, stmt, env);
        match (block.name, lits.as_deref()) {
            ("goto", _) => {
                if let Some(target) = stmt.args.first().and_then(Value::as_ident) {
                    self.unit.gotos.push((target.name.clone(), target.span));
                }
            }
            ("hours", Some([Lit::Ref(_, decl)])) => {
                let span = stmt.head.span;
                self.unit.schedules.push((*decl, span));
            }
            _ => {}
        }
        if block.name == "use" {
            return self.use_flow(stmt, env, lits.as_deref());
        }
        let mut arms: Vec<(String, Span)> = Vec::new();
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for child in stmt.children() {
            if child.head.name == "on" {
                self.arm(block, child, &mut arms, env);
                continue;
            }
            let Some(setting) = block.setting(&child.head.name) else {
                let known = block.settings.iter().map(|s| s.name).chain(["on"]);
                self.error(Error::UnknownSetting {
                    span: child.head.span,
                    word: child.head.name.clone(),
                    context: format!("`{}` block", block.name),
                    suggestion: suggest(&child.head.name, known),
                });
                continue;
            };
            if let Some(first) = seen.get(setting.name) {
                let first = *first;
                self.error(Error::DuplicateSetting {
                    span: child.head.span,
                    name: setting.name.into(),
                    first,
                });
                continue;
            }
            seen.insert(setting.name, child.head.span);
            let lits = self.setting(setting, child, env);
            if block.name == "callback"
                && setting.name == "reason"
                && let Some([Lit::Text(text)]) = lits.as_deref()
            {
                let n = text.chars().count();
                if n > 250 {
                    self.error(Error::Callback {
                        span: child.span,
                        reason: format!(
                            "a callback reason has at most 250 characters; this one has {n}"
                        ),
                    });
                }
            }
        }
        self.exits(block, stmt, &arms);
    }

    fn arm(
        &mut self,
        block: &'static Block,
        arm: &Stmt,
        arms: &mut Vec<(String, Span)>,
        env: &Env<'_>,
    ) {
        let Some(value) = arm.args.first().filter(|_| arm.args.len() == 1) else {
            self.arity(arm, "on EXIT { ... }".into());
            return;
        };
        let exit = match (block.mode, &value.kind) {
            (_, ValueKind::Path(p)) if p.len() == 1 && crate::ast::join_path(p) == "else" => {
                Some("else".to_string())
            }
            (ExitMode::Keys, ValueKind::Number(text)) => {
                if text.len() == 1 && text.chars().all(|c| c.is_ascii_digit()) {
                    Some(text.clone())
                } else {
                    self.error(Error::BadKey {
                        span: value.span,
                        text: text.clone(),
                    });
                    None
                }
            }
            (ExitMode::Keys, ValueKind::Key(k)) => Some(k.to_string()),
            (ExitMode::Cases, ValueKind::Str(s)) => Some(s.clone()),
            (ExitMode::Cases, ValueKind::Number(n)) => Some(n.clone()),
            (_, ValueKind::Path(p)) if p.len() == 1 => {
                let name = crate::ast::join_path(p);
                if block.has_exit(&name) {
                    Some(name)
                } else {
                    let exits: Vec<String> = block
                        .exits
                        .iter()
                        .map(|e| e.name.to_string())
                        .chain(block.next.map(str::to_string))
                        .collect();
                    self.error(Error::UnknownExit {
                        span: value.span,
                        suggestion: suggest(&name, exits.iter().map(String::as_str)),
                        exit: name,
                        block: block.name,
                        exits,
                    });
                    None
                }
            }
            _ => {
                self.error(Error::UnknownExit {
                    span: value.span,
                    exit: value.describe().to_string(),
                    block: block.name,
                    exits: block.exits.iter().map(|e| e.name.to_string()).collect(),
                    suggestion: None,
                });
                None
            }
        };
        if let Some(exit) = exit {
            if let Some((_, first)) = arms.iter().find(|(e, _)| *e == exit) {
                let first = *first;
                if block.mode == ExitMode::Keys
                    && exit.len() == 1
                    && !exit.chars().all(char::is_alphabetic)
                {
                    self.error(Error::DuplicateKey {
                        span: value.span,
                        key: exit,
                        first,
                    });
                } else {
                    self.error(Error::DuplicateArm {
                        span: value.span,
                        exit,
                        first,
                    });
                }
            } else {
                arms.push((exit, value.span));
            }
        }
        self.blocks(arm.children(), env);
    }

    fn exits(&mut self, block: &'static Block, stmt: &Stmt, arms: &[(String, Span)]) {
        let has_else = arms.iter().any(|(e, _)| e == "else");
        if !has_else {
            for exit in block.exits {
                if !arms.iter().any(|(e, _)| e == exit.name) {
                    self.error(Error::UnwiredExit {
                        span: stmt.head_span(),
                        exit: exit.name.into(),
                        block: block.name,
                    });
                }
            }
        }
        match block.mode {
            ExitMode::Keys => {
                // Every key arm counts, duplicates included: a menu offers at most 12 paths.
                let keys = stmt
                    .children()
                    .iter()
                    .filter(|c| c.head.name == "on")
                    .filter(|c| {
                        matches!(
                            c.args.first().map(|v| &v.kind),
                            Some(ValueKind::Number(_) | ValueKind::Key(_))
                        )
                    })
                    .count();
                if keys > 12 {
                    self.error(Error::TooManyKeys {
                        span: stmt.head_span(),
                        count: keys,
                    });
                } else if keys == 0 {
                    self.error(Error::UnwiredExit {
                        span: stmt.head_span(),
                        exit: "a key (`on 1 { ... }`)".into(),
                        block: block.name,
                    });
                }
            }
            ExitMode::Cases if !has_else => {
                self.error(Error::UnwiredExit {
                    span: stmt.head_span(),
                    exit: "else".into(),
                    block: block.name,
                });
            }
            _ => {}
        }
    }

    fn use_flow(&mut self, stmt: &Stmt, env: &Env<'_>, lits: Option<&[Lit]>) {
        let Some([Lit::Ref(Kind::Flow, decl)]) = lits else {
            return;
        };
        let Some(flow) = self.read.sources.stmt(*decl) else {
            return;
        };
        let mut given: HashMap<&str, Span> = HashMap::new();
        for child in stmt.children() {
            let Some(param) = flow.params.iter().find(|p| p.name.name == child.head.name) else {
                self.error(Error::UnknownSetting {
                    span: child.head.span,
                    word: child.head.name.clone(),
                    context: format!(
                        "parameters of sub-flow `{}`",
                        flow.args
                            .first()
                            .and_then(Value::as_path)
                            .unwrap_or_default()
                    ),
                    suggestion: suggest(
                        &child.head.name,
                        flow.params.iter().map(|p| p.name.name.as_str()),
                    ),
                });
                continue;
            };
            if let Some(first) = given.get(param.name.name.as_str()) {
                let first = *first;
                self.error(Error::DuplicateSetting {
                    span: child.head.span,
                    name: child.head.name.clone(),
                    first,
                });
                continue;
            }
            given.insert(param.name.name.as_str(), child.head.span);
            if let Some((_, ty)) = schema::PARAM_TYPES
                .iter()
                .find(|(n, _)| *n == param.ty.name)
            {
                let args: &'static [Arg] = arg_of(*ty);
                self.args(&child.head.name, args, child, env);
            }
        }
        for param in &flow.params {
            if !given.contains_key(param.name.name.as_str()) {
                self.error(Error::MissingSetting {
                    span: stmt.head_span(),
                    name: leak_name(&param.name.name),
                    context: "the sub-flow's parameters".into(),
                });
            }
        }
    }
}

const MAX_QUESTIONS: usize = 10;
/// The one-argument form of a parameter type.
fn arg_of(ty: Ty) -> &'static [Arg] {
    for (_, t) in schema::PARAM_TYPES {
        if *t == ty {
            return match ty {
                Ty::Text => &[Arg {
                    ty: Ty::Text,
                    optional: false,
                }],
                Ty::Prompt => &[Arg {
                    ty: Ty::Prompt,
                    optional: false,
                }],
                Ty::Phone => &[Arg {
                    ty: Ty::Phone,
                    optional: false,
                }],
                Ty::Bool => &[Arg {
                    ty: Ty::Bool,
                    optional: false,
                }],
                Ty::Email => &[Arg {
                    ty: Ty::Email,
                    optional: false,
                }],
                Ty::Ref(Kind::Queue) => &[Arg {
                    ty: Ty::Ref(Kind::Queue),
                    optional: false,
                }],
                Ty::Ref(Kind::Schedule) => &[Arg {
                    ty: Ty::Ref(Kind::Schedule),
                    optional: false,
                }],
                Ty::Ref(Kind::Survey) => &[Arg {
                    ty: Ty::Ref(Kind::Survey),
                    optional: false,
                }],
                Ty::Ref(Kind::Bot) => &[Arg {
                    ty: Ty::Ref(Kind::Bot),
                    optional: false,
                }],
                Ty::Duration { .. } => &[Arg {
                    ty: Ty::Duration {
                        min_ms: 0,
                        max_ms: 31 * 86_400_000,
                    },
                    optional: false,
                }],
                _ => &[Arg {
                    ty: Ty::Int {
                        min: i64::MIN,
                        max: i64::MAX,
                    },
                    optional: false,
                }],
            };
        }
    }
    &[Arg {
        ty: Ty::Text,
        optional: false,
    }]
}

/// Parameter names come from source text; diagnostics hold `&'static str`
/// setting names, so a missing parameter's name is interned once.
fn leak_name(name: &str) -> &'static str {
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| Mutex::new(HashSet::new()));
    let Ok(mut names) = names.lock() else {
        return "parameter";
    };
    if let Some(found) = names.get(name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The campaign's `country_code` (bound or written), or the default.
pub fn campaign_country_code(read: &Reader<'_>, stmt: &Stmt) -> String {
    stmt.children()
        .iter()
        .find(|c| c.head.name == "country_code")
        .and_then(|c| c.args.first())
        .and_then(|v| match &literal(read, v).kind {
            ValueKind::Number(n) if n.starts_with('+') => Some(n.clone()),
            ValueKind::Str(s) if s.starts_with('+') => Some(s.trim().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| DEFAULT_COUNTRY_CODE.to_string())
}

/// The variables that `set` and `api_request { into X }` blocks create.
fn collect_vars(stmts: &[Stmt], vars: &mut HashSet<String>) {
    for stmt in stmts {
        match stmt.head.name.as_str() {
            "set" => {
                if let Some(v) = stmt.args.first().and_then(Value::as_ident) {
                    vars.insert(v.name.clone());
                }
            }
            "into" => {
                if let Some(v) = stmt.args.first().and_then(Value::as_ident) {
                    vars.insert(v.name.clone());
                }
            }
            _ => {}
        }
        collect_vars(stmt.children(), vars);
    }
}

/// The expected form of a statement, for arity errors.
fn form(head: &str, args: &[Arg]) -> String {
    let mut out = head.to_string();
    for arg in args {
        let word = match arg.ty {
            Ty::Prompt => "say \"TEXT\" | play \"FILE\"".to_string(),
            ty => ty.describe(),
        };
        if arg.optional {
            out.push_str(&format!(" [{word}]"));
        } else {
            out.push_str(&format!(" <{word}>"));
        }
    }
    out
}

/// Splits values into one group per argument (a prompt takes two values:
/// `say "text"`). `None` when the count does not fit.
pub fn group_args<'v>(
    args: &[Arg],
    values: &'v [Value],
    env: &Env<'_>,
) -> Option<Vec<&'v [Value]>> {
    let mut groups = Vec::new();
    let mut rest = values;
    for arg in args {
        if rest.is_empty() {
            if arg.optional {
                break;
            }
            return None;
        }
        let take = match (arg.ty, rest.first().and_then(Value::as_ident)) {
            (Ty::Prompt, Some(word))
                if (word.name == "say" || word.name == "play")
                    && !env.params.contains_key(&word.name) =>
            {
                2
            }
            _ => 1,
        };
        let (group, tail) = rest.split_at_checked(take)?;
        groups.push(group);
        rest = tail;
    }
    rest.is_empty().then_some(groups)
}

type ExprCheck<'e> = Option<(&'e rhai::Engine, &'e HashSet<String>)>;

/// Converts the values of one argument to its type. With `exprs`, rhai
/// expressions are compiled against those variables.
pub fn convert(
    read: &Reader<'_>,
    env: &Env<'_>,
    ty: Ty,
    values: &[Value],
    exprs: ExprCheck<'_>,
) -> Result<Lit, Vec<Error>> {
    let one = |e: Error| vec![e];
    let span = values
        .iter()
        .map(|v| v.span)
        .reduce(Span::join)
        .unwrap_or_default();
    let found = || match values.first() {
        Some(Value {
            kind: ValueKind::Path(parts),
            ..
        }) => format!("`{}`", crate::ast::join_path(parts)),
        Some(v) => v.describe().to_string(),
        None => "nothing".into(),
    };
    let type_error = || {
        vec![Error::Type {
            span,
            expected: ty.describe(),
            found: found(),
        }]
    };
    if ty == Ty::Prompt {
        return prompt(read, env, values, exprs);
    }
    let [value] = values else {
        return Err(type_error());
    };
    // A binding stands for its value, read as if written here.
    if let ValueKind::Path(parts) = &value.kind
        && parts.first().is_some_and(|p| p.name == ENV)
    {
        return binding(read, env, ty, value, parts, exprs);
    }
    // A sub-flow parameter or a constant stands for its value.
    if let ValueKind::Path(parts) = &value.kind {
        if let [only] = parts.as_slice() {
            match env.params.get(&only.name) {
                Some(Param::Typed(pty)) => {
                    return if compatible(*pty, ty) {
                        Ok(Lit::Param)
                    } else {
                        Err(vec![Error::Type {
                            span,
                            expected: ty.describe(),
                            found: format!("a parameter of type {}", pty.describe()),
                        }])
                    };
                }
                Some(Param::Bound(vals, penv)) => return convert(read, penv, ty, vals, exprs),
                None => {}
            }
        }
        if !matches!(ty, Ty::Enum(_) | Ty::Bool | Ty::Var | Ty::Ref(Kind::Label))
            && let Some(at) = read.resolution.constant(env.file, parts)
        {
            let stmt = read.sources.stmt(at);
            if let Some(v) = stmt.and_then(|s| s.args.get(1)) {
                if env.depth >= MAX_INDIRECTION {
                    return Err(one(Error::ConstCycle {
                        span,
                        name: crate::ast::join_path(parts),
                    }));
                }
                let mut cenv = Env::new(at.file, &env.country_code);
                cenv.depth = env.depth + 1;
                return convert(read, &cenv, ty, std::slice::from_ref(v), exprs);
            }
        }
    }
    match (ty, &value.kind) {
        (Ty::Text, ValueKind::Str(s)) => Ok(Lit::Text(s.clone())),
        (Ty::Int { min, max }, ValueKind::Number(n)) => {
            let parsed = n.trim_start_matches('+').parse::<i64>();
            match parsed {
                Ok(v) if v >= min && v <= max => Ok(Lit::Int(v)),
                _ => Err(one(Error::OutOfRange {
                    span,
                    value: n.clone(),
                    min,
                    max,
                })),
            }
        }
        (Ty::Decimal { min, max }, ValueKind::Decimal(d) | ValueKind::Number(d)) => {
            match d.parse::<f64>() {
                Ok(v) if v >= min && v <= max => Ok(Lit::Decimal(d.clone())),
                _ => Err(type_error()),
            }
        }
        (Ty::Bool, ValueKind::Path(p)) if p.len() == 1 => match crate::ast::join_path(p).as_str() {
            "true" => Ok(Lit::Bool(true)),
            "false" => Ok(Lit::Bool(false)),
            _ => Err(type_error()),
        },
        (Ty::Duration { min_ms, max_ms }, ValueKind::Duration(ms)) => {
            if *ms < min_ms.max(1) && !(*ms == 0 && min_ms == 0) || *ms > max_ms {
                Err(one(Error::BadDuration {
                    span,
                    ms: *ms,
                    min: min_ms,
                    max: max_ms,
                }))
            } else {
                Ok(Lit::Duration(*ms))
            }
        }
        (Ty::TimeRange, ValueKind::TimeRange(a, b)) => {
            if b <= a {
                Err(one(Error::BadSchedule {
                    span,
                    reason: format!("the end {} is not after the start {}", hhmm(*b), hhmm(*a)),
                }))
            } else {
                Ok(Lit::TimeRange(*a, *b))
            }
        }
        (Ty::Days, _) => days(value).map(Lit::Days).ok_or_else(type_error),
        (Ty::Date | Ty::DateOrRange, ValueKind::Date(d)) => Ok(Lit::Date(*d)),
        (Ty::DateOrRange, ValueKind::DateRange(a, b)) => Ok(Lit::DateRange(*a, *b)),
        (Ty::Percent, ValueKind::Percent(p)) => match percent(p) {
            Some(v) if v <= 10_000 => Ok(Lit::Percent(v)),
            _ => Err(one(Error::BadPercent { span })),
        },
        (Ty::Phone | Ty::PhonePattern, ValueKind::Number(_) | ValueKind::Str(_)) => {
            phone(value, &env.country_code, ty == Ty::PhonePattern)
                .map(Lit::Phone)
                .map_err(one)
        }
        (Ty::CountryCode, ValueKind::Number(n)) => {
            let digits = n.strip_prefix('+').unwrap_or("");
            if (1..=3).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Ok(Lit::Phone(n.clone()))
            } else {
                Err(one(Error::BadPhone {
                    span,
                    text: n.clone(),
                    reason: "a country code is `+` and one to three digits, like `+48`".into(),
                }))
            }
        }
        (Ty::Zone, ValueKind::Str(z)) => {
            if known_zone(z) {
                Ok(Lit::Zone(z.clone()))
            } else {
                let names: Vec<String> =
                    jiff::tz::db().available().map(|n| n.to_string()).collect();
                Err(one(Error::BadZone {
                    span,
                    zone: z.clone(),
                    suggestion: suggest(z, names.iter().map(String::as_str)),
                }))
            }
        }
        (Ty::Audio, ValueKind::Str(p)) => {
            audio(read, env, value.span, p).map(Lit::File).map_err(one)
        }
        (Ty::DataFile, ValueKind::Str(p)) => data_file(read, env, value.span, p)
            .map(Lit::File)
            .map_err(one),
        (Ty::Email, ValueKind::Str(s)) => {
            let ok = s.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && host.contains('.') && !s.contains(char::is_whitespace)
            });
            if ok {
                Ok(Lit::Text(s.clone()))
            } else {
                Err(one(Error::BadText {
                    span,
                    what: "an e-mail address",
                    reason: format!("`{s}` has no `user@host.domain` form"),
                }))
            }
        }
        (Ty::Url, ValueKind::Str(s)) => {
            let rest = s
                .strip_prefix("https://")
                .or_else(|| s.strip_prefix("http://"));
            if rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace)) {
                Ok(Lit::Text(s.clone()))
            } else {
                Err(one(Error::BadText {
                    span,
                    what: "a URL",
                    reason: format!("`{s}` does not start with `http://` or `https://`"),
                }))
            }
        }
        (Ty::Expr, ValueKind::Expr(src)) => {
            if let Some((engine, vars)) = exprs {
                expr(engine, vars, src, value.span)?;
            }
            Ok(Lit::Expr(src.clone()))
        }
        (Ty::Var, ValueKind::Path(p)) if p.len() == 1 => {
            let name = crate::ast::join_path(p);
            if schema::VARIABLES.iter().any(|(n, _)| *n == name) {
                Err(one(Error::BadText {
                    span,
                    what: "a variable name",
                    reason: format!("`{name}` is a built-in variable and cannot be set"),
                }))
            } else {
                Ok(Lit::Var(name))
            }
        }
        (Ty::Enum(words), ValueKind::Path(p)) if p.len() == 1 => {
            let word = crate::ast::join_path(p);
            if words.contains(&word.as_str()) {
                Ok(Lit::Word(word))
            } else {
                Err(one(Error::Type {
                    span,
                    expected: ty.describe(),
                    found: format!("`{word}`"),
                }))
            }
        }
        (Ty::Ref(Kind::Label), ValueKind::Path(p)) if p.len() == 1 => {
            Ok(Lit::Label(crate::ast::join_path(p), span))
        }
        (Ty::Ref(kind), ValueKind::Path(p)) => read
            .resolution
            .lookup(env.file, p, kind)
            .map(|at| Lit::Ref(kind, at))
            .map_err(|e| one(Error::Resolve(e))),
        (Ty::List(inner), ValueKind::List(items)) => {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            for item in items {
                match convert(read, env, *inner, std::slice::from_ref(item), exprs) {
                    Ok(lit) => out.push(lit),
                    Err(mut e) => errors.append(&mut e),
                }
            }
            if errors.is_empty() {
                Ok(Lit::List(out))
            } else {
                Err(errors)
            }
        }
        // A single value where a list is expected is a list of one.
        (Ty::List(inner), _) => {
            convert(read, env, *inner, values, exprs).map(|l| Lit::List(vec![l]))
        }
        _ => Err(type_error()),
    }
}

/// Reads the value bound to `env.NAME` (`parts`) as if it were written at
/// the reference `value`; its problems are wrapped in [`Error::Bound`] so
/// that they name the binding. A missing binding or environment, and a
/// reference that is not `env.NAME`, were reported by
/// `environment::references`: no error here.
fn binding(
    read: &Reader<'_>,
    env: &Env<'_>,
    ty: Ty,
    value: &Value,
    parts: &[Ident],
    exprs: ExprCheck<'_>,
) -> Result<Lit, Vec<Error>> {
    let (Some(environment), [_, name]) = (read.environment, parts) else {
        return Err(Vec::new());
    };
    let Some(bound) = environment.bindings.get(&name.name) else {
        return Err(Vec::new());
    };
    let wrap = |error: Error| Error::Bound {
        span: value.span,
        name: name.name.clone(),
        env: environment.name.clone(),
        path: environment.path.clone(),
        line: bound.line,
        written: bound.written.clone(),
        error: Box::new(error),
    };
    // Labels and variables are part of the flow's shape, not deployment data.
    if matches!(ty, Ty::Var | Ty::Ref(Kind::Label)) {
        return Err(vec![Error::Type {
            span: value.span,
            expected: format!("{} written in the flow", ty.describe()),
            found: format!("the binding `env.{}`", name.name),
        }]);
    }
    if env.depth >= MAX_INDIRECTION {
        return Err(vec![wrap(Error::ConstCycle {
            span: value.span,
            name: format!("{ENV}.{}", name.name),
        })]);
    }
    let mut benv = env.clone();
    benv.depth = env.depth + 1;
    let v = bound.value.value_for(ty, value.span);
    convert(read, &benv, ty, std::slice::from_ref(&v), exprs)
        .map_err(|errors| errors.into_iter().map(wrap).collect())
}

/// `value`, or what it stands for when it is a binding (`env.NAME`), read
/// as a literal: for the few checks that look at the form of a value
/// (a campaign's dates, a schedule's ranges) rather than convert it.
pub fn literal<'v>(read: &Reader<'_>, value: &'v Value) -> Cow<'v, Value> {
    if let ValueKind::Path(parts) = &value.kind
        && let ([first, name], Some(environment)) = (parts.as_slice(), read.environment)
        && first.name == ENV
        && let Some(bound) = environment.bindings.get(&name.name)
    {
        return Cow::Owned(bound.value.literal(value.span));
    }
    Cow::Borrowed(value)
}

/// Whether `name` is an IANA zone. Looking a zone up parses its rules, so
/// the answers are remembered: a project names a handful of zones many times.
fn known_zone(name: &str) -> bool {
    use std::sync::{Mutex, OnceLock};
    static KNOWN: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let cache = KNOWN.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(known) = cache.lock().ok().and_then(|c| c.get(name).copied()) {
        return known;
    }
    let known = jiff::tz::TimeZone::get(name).is_ok();
    if let Ok(mut cache) = cache.lock() {
        cache.insert(name.to_string(), known);
    }
    known
}

fn compatible(param: Ty, wanted: Ty) -> bool {
    match (param, wanted) {
        (Ty::Duration { .. }, Ty::Duration { .. }) | (Ty::Int { .. }, Ty::Int { .. }) => true,
        (Ty::Phone, Ty::Phone | Ty::PhonePattern) => true,
        (a, Ty::List(inner)) => compatible(a, *inner),
        (a, b) => a == b,
    }
}

fn prompt(
    read: &Reader<'_>,
    env: &Env<'_>,
    values: &[Value],
    exprs: ExprCheck<'_>,
) -> Result<Lit, Vec<Error>> {
    let span = values
        .iter()
        .map(|v| v.span)
        .reduce(Span::join)
        .unwrap_or_default();
    match values {
        [mode, text] => {
            let Some(mode) = mode.as_ident() else {
                return Err(vec![Error::Type {
                    span,
                    expected: Ty::Prompt.describe(),
                    found: values
                        .first()
                        .map(|v| v.describe().to_string())
                        .unwrap_or_default(),
                }]);
            };
            let content = match convert(read, env, Ty::Text, std::slice::from_ref(text), exprs) {
                Ok(Lit::Text(s)) => s,
                Ok(Lit::Param) => return Ok(Lit::Param),
                Ok(_) => String::new(),
                Err(e) => return Err(e),
            };
            match mode.name.as_str() {
                "say" => Ok(Lit::Prompt(dialect_bytecode::Prompt::Say {
                    text: content,
                    language: None,
                })),
                "play" => audio(read, env, text.span, &content)
                    .map(|path| Lit::Prompt(dialect_bytecode::Prompt::Play { path }))
                    .map_err(|e| vec![e]),
                _ => Err(vec![Error::Type {
                    span,
                    expected: Ty::Prompt.describe(),
                    found: format!("`{}`", mode.name),
                }]),
            }
        }
        [one] => match &one.kind {
            ValueKind::Path(parts) if parts.len() == 1 => {
                match parts.first().and_then(|p| env.params.get(&p.name)) {
                    Some(Param::Typed(Ty::Prompt)) => Ok(Lit::Param),
                    Some(Param::Bound(vals, penv)) => prompt(read, penv, vals, exprs),
                    _ => Err(vec![Error::Type {
                        span,
                        expected: Ty::Prompt.describe(),
                        found: one.describe().into(),
                    }]),
                }
            }
            _ => Err(vec![Error::Type {
                span,
                expected: Ty::Prompt.describe(),
                found: one.describe().into(),
            }]),
        },
        _ => Err(vec![Error::Type {
            span,
            expected: Ty::Prompt.describe(),
            found: "nothing".into(),
        }]),
    }
}

/// The weekdays of `mon-fri`, `sat`, `[mon, wed]` as a bit set.
fn days(value: &Value) -> Option<u8> {
    match &value.kind {
        ValueKind::DayRange(a, b) if a <= b => Some((*a..=*b).fold(0u8, |acc, d| acc | (1 << d))),
        ValueKind::DayRange(a, b) => Some((*a..7).chain(0..=*b).fold(0u8, |acc, d| acc | (1 << d))),
        ValueKind::Path(p) if p.len() == 1 => {
            let word = crate::ast::join_path(p);
            WEEKDAYS.iter().position(|d| *d == word).map(|i| 1u8 << i)
        }
        ValueKind::List(items) => items
            .iter()
            .try_fold(0u8, |acc, item| days(item).map(|d| acc | d)),
        _ => None,
    }
}

fn percent(text: &str) -> Option<u32> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole: u32 = whole.parse().ok()?;
    let frac = format!("{frac:0<2}");
    let frac: u32 = frac.get(..2)?.parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

/// Normalises a phone number to E.164 with the default country code.
pub fn phone(value: &Value, country_code: &str, pattern: bool) -> Result<String, Error> {
    let text = match &value.kind {
        ValueKind::Number(n) | ValueKind::Str(n) => n.clone(),
        _ => String::new(),
    };
    let bad = |reason: &str| Error::BadPhone {
        span: value.span,
        text: text.clone(),
        reason: reason.into(),
    };
    let mut body: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
        .collect();
    let wildcard = pattern && body.ends_with('*');
    if wildcard {
        body.pop();
    }
    let e164 = if let Some(rest) = body.strip_prefix('+') {
        format!("+{rest}")
    } else if let Some(rest) = body.strip_prefix("00") {
        format!("+{rest}")
    } else {
        let national = body.strip_prefix('0').unwrap_or(&body);
        format!("{country_code}{national}")
    };
    let digits = e164.get(1..).unwrap_or("");
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad(
            "only digits, spaces and `-` `.` `(` `)` may follow the `+`",
        ));
    }
    if digits.starts_with('0') {
        return Err(bad("a country code never starts with 0"));
    }
    if wildcard {
        if digits.is_empty() || digits.len() > 15 {
            return Err(bad("a prefix pattern has 1 to 15 digits before the `*`"));
        }
        return Ok(format!("{e164}*"));
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(bad(&format!(
            "an E.164 number has 8 to 15 digits; this one has {} after the default country code",
            digits.len()
        )));
    }
    Ok(e164)
}

fn relative(read: &Reader<'_>, env: &Env<'_>, path: &str) -> (std::path::PathBuf, String) {
    let src = read.sources.get(env.file);
    let dir = src
        .and_then(|f| f.path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let name_dir = src
        .and_then(|f| f.name.rsplit_once('/'))
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    let stable = crate::source::slash_name(&Path::new(&name_dir).join(path));
    (crate::source::normalize(&dir.join(path)), stable)
}

fn data_file(read: &Reader<'_>, env: &Env<'_>, span: Span, path: &str) -> Result<String, Error> {
    let (full, stable) = relative(read, env, path);
    if read.world.is_file(&full) {
        Ok(stable)
    } else {
        Err(Error::FileMissing {
            span,
            path: path.to_string(),
            tried: full.display().to_string(),
        })
    }
}

fn audio(read: &Reader<'_>, env: &Env<'_>, span: Span, path: &str) -> Result<String, Error> {
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext != "wav" && ext != "mp3" {
        return Err(Error::AudioFormat {
            span,
            path: path.into(),
            reason: "prompts are `.wav` or `.mp3` files".into(),
        });
    }
    let (full, stable) = relative(read, env, path);
    let head = match read.world.head(&full, 12) {
        Ok(head) => head,
        Err(_) => {
            return Err(Error::FileMissing {
                span,
                path: path.into(),
                tried: full.display().to_string(),
            });
        }
    };
    let is_wav = head.get(..4) == Some(b"RIFF") && head.get(8..12) == Some(b"WAVE");
    let is_mp3 = head.get(..3) == Some(b"ID3")
        || matches!(head.as_slice(), [0xFF, b, ..] if b & 0xE0 == 0xE0);
    match (ext.as_str(), is_wav, is_mp3) {
        ("wav", true, _) | ("mp3", _, true) => Ok(stable),
        _ => Err(Error::AudioFormat {
            span,
            path: path.into(),
            reason: format!("the file's content is not {ext} audio"),
        }),
    }
}

fn expr(
    engine: &rhai::Engine,
    vars: &HashSet<String>,
    src: &str,
    span: Span,
) -> Result<(), Vec<Error>> {
    let mut scope = rhai::Scope::new();
    for var in vars {
        scope.push_dynamic(var.as_str(), rhai::Dynamic::UNIT);
    }
    match engine.compile_expression_with_scope(&scope, src) {
        Ok(_) => Ok(()),
        Err(err) => {
            let at = position(src, err.position(), span);
            match err.err_type() {
                rhai::ParseErrorType::VariableUndefined(name) => {
                    let end = at.start as usize + name.len();
                    Err(vec![Error::UnknownVariable {
                        span: Span::new(at.start as usize, end),
                        suggestion: suggest(name, vars.iter().map(String::as_str)),
                        name: name.clone(),
                    }])
                }
                other => Err(vec![Error::ExprSyntax {
                    span: at,
                    message: other.to_string(),
                }]),
            }
        }
    }
}

/// Maps a rhai position inside `src` to a span in the file (`span` covers `(src)`).
fn position(src: &str, pos: rhai::Position, span: Span) -> Span {
    let (Some(line), Some(col)) = (pos.line(), pos.position()) else {
        return span;
    };
    let mut offset = 0usize;
    for (i, l) in src.split('\n').enumerate() {
        if i + 1 == line {
            offset += l
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(l.len(), |(b, _)| b);
            break;
        }
        offset += l.len() + 1;
    }
    let start = span.start as usize + 1 + offset.min(src.len());
    Span::new(start, start + 1)
}

/// An identifier's span as a value span, for helpers that take either.
pub fn ident_span(ident: &Ident) -> Span {
    ident.span
}
