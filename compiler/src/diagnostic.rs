//! Wording. Turns the problems of every phase (plain data) into diagnostics:
//! a stable code, a message, labelled spans and help. The catalogue of codes
//! with their explanations (`dialect explain`) lives here too, so that every
//! word a flow engineer reads comes from one module.

use crate::ast::Span;
use crate::check::Error as C;
use crate::environment::Error as N;
use crate::parse::Error as P;
use crate::resolve::Error as R;
use crate::source::{FileId, Sources};
use crate::validate::Error as V;
use crate::{Problem, Report};
use std::fmt;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The flow cannot be built.
    Error,
    /// The flow builds, but something is likely wrong.
    Warning,
}

/// One labelled span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub text: String,
    /// Whether this is the main place.
    pub primary: bool,
}

/// A rendered diagnostic: everything a person or a CI tool needs.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// The stable code, `E0203`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence.
    pub message: String,
    /// Labelled spans, the primary first.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
    /// The file.
    pub file: FileId,
    /// The file's path as given to the compiler.
    pub path: String,
    /// The file's text, for rendering (shared by every diagnostic of the
    /// file: a file with many problems is not copied for each).
    pub text: std::sync::Arc<str>,
}

impl Diagnostic {
    /// The primary span.
    pub fn span(&self) -> Span {
        self.labels.first().map(|l| l.span).unwrap_or_default()
    }

    /// The diagnostic as miette draws it for a terminal: the source excerpt
    /// with labels, code and help. Without colour for files and tests.
    pub fn to_human(&self, colour: bool) -> String {
        let theme = if colour {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        // Lines wrap at spaces only (not after `/` or `-`), so that a path
        // in a message stays whole.
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_word_separator(textwrap::WordSeparator::AsciiSpace)
            .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
        let mut out = String::new();
        if handler.render_report(&mut out, self).is_err() {
            out = format!("{}: {} [{}]\n", self.path, self.message, self.code);
        }
        out
    }

    /// 1-based line and column of a byte offset in the file.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        line_col(&self.text, offset as usize)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().map(|l| {
            let span: miette::SourceSpan = (l.span.start as usize, l.span.len()).into();
            let text = (!l.text.is_empty()).then(|| l.text.clone());
            if l.primary {
                miette::LabeledSpan::new_primary_with_span(text, span)
            } else {
                miette::LabeledSpan::new_with_span(text, span)
            }
        })))
    }
}

impl miette::SourceCode for Diagnostic {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = (*self.text).read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.path.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// The wording of a problem, before it is tied to a file.
#[derive(Clone, Debug)]
pub struct Described {
    /// Stable code.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence.
    pub message: String,
    /// Labelled spans, the primary first.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

/// Renders every report of a compilation, in file and position order.
pub fn render(sources: &Sources, reports: &[Report]) -> Vec<Diagnostic> {
    let mut files: std::collections::HashMap<FileId, (String, std::sync::Arc<str>)> =
        std::collections::HashMap::new();
    let mut out: Vec<Diagnostic> = reports
        .iter()
        .map(|r| {
            let d = describe(&r.problem);
            let (path, text) = files
                .entry(r.file)
                .or_insert_with(|| {
                    sources.get(r.file).map_or_else(
                        || (String::new(), std::sync::Arc::from("")),
                        |f| {
                            (
                                f.path.display().to_string(),
                                std::sync::Arc::from(f.text.as_str()),
                            )
                        },
                    )
                })
                .clone();
            Diagnostic {
                code: d.code,
                severity: d.severity,
                message: d.message,
                labels: d.labels,
                help: d.help,
                file: r.file,
                path,
                text,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.path, a.span().start, a.code).cmp(&(&b.path, b.span().start, b.code)));
    out.dedup_by(|a, b| {
        a.path == b.path && a.span() == b.span() && a.code == b.code && a.message == b.message
    });
    out
}

fn primary(span: Span, text: impl Into<String>) -> Label {
    Label {
        span,
        text: text.into(),
        primary: true,
    }
}

fn secondary(span: Span, text: impl Into<String>) -> Label {
    Label {
        span,
        text: text.into(),
        primary: false,
    }
}

fn error(
    code: &'static str,
    message: String,
    labels: Vec<Label>,
    help: Option<String>,
) -> Described {
    Described {
        code,
        severity: Severity::Error,
        message,
        labels,
        help,
    }
}

fn did_you_mean(suggestion: &Option<String>) -> Option<String> {
    suggestion.as_ref().map(|s| format!("did you mean `{s}`?"))
}

/// The wording of one problem.
pub fn describe(problem: &Problem) -> Described {
    match problem {
        Problem::Parse(e) => parse(e),
        Problem::Resolve(e) => resolve(e),
        Problem::Check(e) => check(e),
        Problem::Validate(e) => validate(e),
        Problem::Environment(e) => environment(e),
    }
}

fn parse(e: &P) -> Described {
    match e {
        P::Syntax { at, line, expected } => {
            let mut labels = vec![primary(*at, format!("expected {expected}"))];
            if line != at {
                labels.push(secondary(*line, "this line is skipped"));
            }
            error(
                "E0001",
                "syntax error: this line is not a statement".into(),
                labels,
                Some("a statement is `[label:] head value* [{ ... }]` on one line; see docs/language.md".into()),
            )
        }
        P::Unclosed { open } => error(
            "E0002",
            "this `{` is never closed".into(),
            vec![primary(*open, "opened here")],
            Some("add the matching `}`".into()),
        ),
        P::Unmatched { close } => error(
            "E0003",
            "this `}` closes nothing".into(),
            vec![primary(*close, "no `{` before it")],
            Some("remove it, or add the `{` it belongs to".into()),
        ),
        P::TooDeep { at } => error(
            "E0005",
            format!("brackets are nested more than {} levels deep", crate::parse::MAX_NESTING),
            vec![primary(*at, "one level too deep")],
            Some("flatten the flow: move deep branches into sub-flows or labelled blocks reached with `goto`".into()),
        ),
        P::BadLiteral { span, kind, reason } => error(
            "E0004",
            format!("impossible {kind}: {reason}"),
            vec![primary(*span, format!("not a valid {kind}"))],
            Some(match *kind {
                "time of day" => "times run from 00:00 to 24:00, minutes from 00 to 59".into(),
                "date" => "write a day that exists, as YYYY-MM-DD".into(),
                _ => "write a shorter duration".into(),
            }),
        ),
    }
}

fn resolve(e: &R) -> Described {
    match e {
        R::ImportNotFound { span, path, tried, no_stdlib } => error(
            "E0101",
            format!("cannot find the imported file `{path}`"),
            vec![primary(*span, format!("looked for {tried}"))],
            Some(if *no_stdlib {
                "no `stdlib/` directory was found above the flows; pass `--stdlib DIR`".into()
            } else {
                "import paths are relative to the importing file; `std/...` is the standard library".into()
            }),
        ),
        R::ImportCycle { span, cycle } => error(
            "E0102",
            format!("files import each other in a cycle: {}", cycle.join(" → ")),
            vec![primary(*span, "this import closes the cycle")],
            Some("move the shared declarations into a file that both import".into()),
        ),
        R::UnknownName { span, name, kind, suggestion } => error(
            "E0103",
            format!("no {} named `{name}` is declared", kind.keyword()),
            vec![primary(*span, format!("unknown {}", kind.keyword()))],
            did_you_mean(suggestion).or_else(|| {
                Some(format!("declare it (`{} {name} {{ ... }}`) or import the file that does", kind.keyword()))
            }),
        ),
        R::Duplicate { span, name, first, first_file } => {
            let mut labels = vec![primary(*span, "declared again here")];
            if let Some(first) = first {
                labels.push(secondary(*first, "first declared here"));
            }
            error(
                "E0104",
                match first_file {
                    Some(file) => format!("`{name}` is already declared in {file}"),
                    None => format!("`{name}` is declared twice"),
                },
                labels,
                Some("names are unique in a file (campaign names in the whole project); rename one".into()),
            )
        }
        R::DuplicateAlias { span, alias, first } => error(
            "E0111",
            format!("two imports are both called `{alias}`"),
            vec![primary(*span, "second import"), secondary(*first, "first import")],
            Some("give one of them another name with `as NAME`".into()),
        ),
        R::UnknownDecl { span, word, suggestion } => error(
            "E0112",
            format!("`{word}` is not a declaration"),
            vec![primary(*span, "unknown declaration")],
            did_you_mean(suggestion).or_else(|| {
                Some("a file holds imports, constants and declarations: campaign, schedule, queue, skill, team, agent, survey, bot, handoff, flow".into())
            }),
        ),
        R::UnknownAlias { span, alias, suggestion } => error(
            "E0113",
            format!("no import is called `{alias}`"),
            vec![primary(*span, "unknown import")],
            did_you_mean(suggestion).or_else(|| Some(format!("add `import \"PATH\" as {alias}`"))),
        ),
        R::WrongKind { span, name, expected, found } => error(
            "E0114",
            format!("`{name}` is a {found}, not a {}", expected.keyword()),
            vec![primary(*span, format!("expected a {}", expected.keyword()))],
            Some(format!("name a {} here", expected.keyword())),
        ),
    }
}

fn check(e: &C) -> Described {
    match e {
        C::Resolve(r) => resolve(r),
        C::Arity { span, head, expected } => error(
            "E0216",
            format!("`{head}` has the wrong arguments"),
            vec![primary(*span, "here")],
            Some(format!("write it as `{expected}`")),
        ),
        C::UnknownSetting { span, word, context, suggestion } => error(
            "E0108",
            format!("`{word}` is not allowed in {context}"),
            vec![primary(*span, "unknown here")],
            did_you_mean(suggestion).or_else(|| Some(format!("`dialect explain {}` lists what is allowed", context.trim_matches('`').split(' ').next().unwrap_or("campaign")))),
        ),
        C::UnknownBlock { span, word, suggestion } => error(
            "E0107",
            format!("`{word}` is not an IVR block"),
            vec![primary(*span, "unknown block")],
            did_you_mean(suggestion).or_else(|| Some("`dialect explain blocks` lists the blocks".into())),
        ),
        C::UnknownExit { span, exit, block, exits, suggestion } => error(
            "E0109",
            format!("the `{block}` block has no exit `{exit}`"),
            vec![primary(*span, "unknown exit")],
            did_you_mean(suggestion).or_else(|| Some(format!("its exits are: {}", exits.join(", ")))),
        ),
        C::DuplicateArm { span, exit, first } => error(
            "E0110",
            format!("the exit `{exit}` is wired twice"),
            vec![primary(*span, "second arm"), secondary(*first, "first arm")],
            Some("merge the two arms into one".into()),
        ),
        C::DuplicateLabel { span, label, first } => error(
            "E0106",
            format!("the label `{label}` is defined twice"),
            vec![primary(*span, "second definition"), secondary(*first, "first definition")],
            Some("labels are unique within a campaign or sub-flow; rename one".into()),
        ),
        C::UnknownLabel { span, label, suggestion } => error(
            "E0105",
            format!("`goto {label}`: no block has the label `{label}`"),
            vec![primary(*span, "unknown label")],
            did_you_mean(suggestion).or_else(|| Some(format!("label the target block: `{label}: menu ...`"))),
        ),
        C::Type { span, expected, found } => error(
            "E0201",
            format!("expected {expected}, found {found}"),
            vec![primary(*span, format!("expected {expected}"))],
            None,
        ),
        C::MissingSetting { span, name, context } => error(
            "E0202",
            format!("`{name}` is required in {context}"),
            vec![primary(*span, format!("`{name}` is missing"))],
            Some(format!("add the line `{name} ...`")),
        ),
        C::DuplicateSetting { span, name, first } => error(
            "E0203",
            format!("`{name}` is set twice"),
            vec![primary(*span, "set again here"), secondary(*first, "first set here")],
            Some("keep one of them".into()),
        ),
        C::BadZone { span, zone, suggestion } => error(
            "E0204",
            format!("`{zone}` is not an IANA time zone"),
            vec![primary(*span, "unknown time zone")],
            did_you_mean(suggestion).or_else(|| Some("use a name like \"Europe/Warsaw\" from the IANA database".into())),
        ),
        C::BadPhone { span, text, reason } => error(
            "E0205",
            format!("`{text}` is not a valid phone number: {reason}"),
            vec![primary(*span, "invalid number")],
            Some("write E.164 (`+48221000001`) or a national number with the campaign's `country_code`".into()),
        ),
        C::OutOfRange { span, value, min, max } => error(
            "E0206",
            format!("{value} is out of range: allowed {min} to {max}"),
            vec![primary(*span, format!("must be from {min} to {max}"))],
            None,
        ),
        C::BadDuration { span, ms, min, max } => error(
            "E0207",
            format!("the duration {} is out of bounds: allowed {} to {}", human_ms(*ms), human_ms((*min).max(1)), human_ms(*max)),
            vec![primary(*span, if *ms == 0 { "must be positive".to_string() } else { "out of bounds".to_string() })],
            Some(format!("use a duration from {} to {}", human_ms((*min).max(1)), human_ms(*max))),
        ),
        C::FileMissing { span, path, tried } => error(
            "E0208",
            format!("the file `{path}` does not exist"),
            vec![primary(*span, format!("looked for {tried}"))],
            Some("paths are relative to the flow file; commit the file or fix the path".into()),
        ),
        C::AudioFormat { span, path, reason } => error(
            "E0209",
            format!("`{path}` is not usable audio: {reason}"),
            vec![primary(*span, "not wav or mp3")],
            Some("convert it, e.g. `sox in.ogg -r 8000 -c 1 out.wav`".into()),
        ),
        C::ExprSyntax { span, message } => error(
            "E0210",
            format!("the expression does not compile: {message}"),
            vec![primary(*span, "here")],
            Some("expressions are rhai: https://rhai.rs/book/".into()),
        ),
        C::UnknownVariable { span, name, suggestion } => error(
            "E0211",
            format!("the expression reads `{name}`, which is not a known variable"),
            vec![primary(*span, "unknown variable")],
            did_you_mean(suggestion).or_else(|| Some("known variables: caller, dialled, campaign, now, date, hour, minute, weekday, record, cad, api, token, priority, digits, and those of `set`/`into`".into())),
        ),
        C::BadPercent { span } => error(
            "E0212",
            "a percentage must be from 0% to 100%".into(),
            vec![primary(*span, "out of range")],
            None,
        ),
        C::BadText { span, what, reason } => error(
            "E0213",
            format!("not {what}: {reason}"),
            vec![primary(*span, format!("expected {what}"))],
            None,
        ),
        C::Survey { span, reason } => error(
            "E0214",
            format!("invalid survey: {reason}"),
            vec![primary(*span, "here")],
            Some("surveys have 1 to 10 questions; outbound surveys a delay of 1 minute to 7 days".into()),
        ),
        C::Callback { span, reason } => error(
            "E0215",
            format!("invalid callback: {reason}"),
            vec![primary(*span, "here")],
            Some("SPEC 5.5: reasons up to 250 characters, start 30 minutes to 31 days after the request".into()),
        ),
        C::FlowRecursion { span, flow } => error(
            "E0217",
            format!("the sub-flow `{flow}` uses itself"),
            vec![primary(*span, "recursive use")],
            Some("sub-flows are inlined; loop with `goto` inside the sub-flow instead".into()),
        ),
        C::UnknownType { span, word, suggestion } => error(
            "E0115",
            format!("`{word}` is not a parameter type"),
            vec![primary(*span, "unknown type")],
            did_you_mean(suggestion).or_else(|| Some("types: text, prompt, duration, number, phone, bool, queue, schedule, survey, bot, email".into())),
        ),
        C::UnwiredExit { span, exit, block } => error(
            "E0301",
            format!("the exit `{exit}` of this `{block}` is not wired"),
            vec![primary(*span, format!("`{exit}` leads nowhere"))],
            Some(format!("add `on {} {{ ... }}` (an empty arm continues after the block), or `on else {{ ... }}`", exit.trim_start_matches("a key (`on 1 { ... }`)"))),
        ),
        C::DuplicateKey { span, key, first } => error(
            "E0302",
            format!("the key `{key}` is used twice in this menu"),
            vec![primary(*span, "second use"), secondary(*first, "first use")],
            Some("each key leads one way; pick another key".into()),
        ),
        C::BadKey { span, text } => error(
            "E0303",
            format!("`{text}` is not a DTMF key"),
            vec![primary(*span, "not a key")],
            Some("menu keys are one of 0-9, `*` and `#`".into()),
        ),
        C::TooManyKeys { span, count } => error(
            "E0304",
            format!("this menu has {count} paths; a menu has at most 12"),
            vec![primary(*span, "too many keys")],
            Some("split it into two menus".into()),
        ),
        C::BadSchedule { span, reason } => error(
            "E0307",
            format!("impossible schedule: {reason}"),
            vec![primary(*span, "here")],
            Some("ranges run forward: `08:00-16:00`, `2026-12-24..2026-12-26`".into()),
        ),
        C::OutsideLife { span, campaign, starts, ends } => error(
            "E0308",
            format!("this exception lies outside the life of campaign `{campaign}` ({starts} to {ends})"),
            vec![primary(*span, "outside the campaign's life")],
            Some("move the exception into the campaign's life, or change `starts`/`ends`".into()),
        ),
        C::AnswerFirst { span } => error(
            "E0310",
            "an inbound IVR must start with `answer`".into(),
            vec![primary(*span, "first block")],
            Some("put `answer` first".into()),
        ),
        C::NoIvr { span } => error(
            "E0311",
            "this campaign has no `ivr`".into(),
            vec![primary(*span, "no IVR")],
            Some("add `ivr { answer ... }`".into()),
        ),
        C::DuplicateNumber { span, number, other } => error(
            "E0312",
            format!("{number} already reaches campaign `{other}`"),
            vec![primary(*span, "claimed twice")],
            Some("a number reaches one campaign; route inside one IVR with `route_dialled` instead".into()),
        ),
        C::DuplicateExtension {
            span,
            extension,
            other,
        } => error(
            "E0313",
            format!("extension {extension} already belongs to {other}"),
            vec![primary(*span, "claimed twice")],
            Some("an extension reaches one agent or queue; give this one another number".into()),
        ),
        C::ConstCycle { span, name } => error(
            "E0218",
            format!("`{name}` stands for itself: constants (or bindings) refer to each other in a cycle"),
            vec![primary(*span, "never reaches a value")],
            Some("give one of the constants a value written out".into()),
        ),
        C::Bound { span, name, env, path, line, written, error } => {
            // The problem of the value, as if written at the reference, and
            // where the value comes from.
            let mut d = check(error);
            let what = d
                .labels
                .iter()
                .find(|l| l.primary)
                .map(|l| l.text.clone())
                .unwrap_or_default();
            d.labels = vec![primary(*span, format!("{what}: `env.{name}` is {written} in `{env}`"))];
            let origin = format!("the value comes from {path}:{line}: `{name} = {written}`");
            d.help = Some(match d.help {
                Some(help) => format!("{help}\n{origin}"),
                None => origin,
            });
            d
        }
    }
}

fn environment(e: &N) -> Described {
    match e {
        N::Missing { span, name, env, path, suggestion } => error(
            "E0401",
            format!("no binding for `env.{name}` in environment `{env}` ({path})"),
            vec![primary(*span, format!("not bound in `{env}`"))],
            Some(match suggestion {
                Some(s) => format!("did you mean `env.{s}`? Otherwise add `{name} = VALUE` under `[bindings]` in {path}"),
                None => format!("add `{name} = VALUE` under `[bindings]` in {path}"),
            }),
        ),
        N::NoEnvironment { span, name, others, available, dir } => {
            let more = match others {
                0 => String::new(),
                1 => " (and 1 other binding)".to_string(),
                n => format!(" (and {n} other bindings)"),
            };
            let help = match (available.as_slice(), dir) {
                ([], Some(dir)) => format!("{dir} holds no environment file: add NAME.toml with a `[bindings]` table, then pass `--env NAME`"),
                ([], None) => "create `environments/NAME.toml` beside the flows with a `[bindings]` table, then pass `--env NAME`".to_string(),
                (names, dir) => format!(
                    "choose an environment{}: {} (or set DIALECT_ENV)",
                    dir.as_ref().map(|d| format!(" of {d}")).unwrap_or_default(),
                    names.iter().map(|n| format!("`--env {n}`")).collect::<Vec<_>>().join(" or ")
                ),
            };
            error(
                "E0402",
                format!("the flows use `env.{name}`{more}, but no environment was chosen"),
                vec![primary(*span, "bound per environment")],
                Some(help),
            )
        }
        N::Unused { span, name, env } => Described {
            code: "W0403",
            severity: Severity::Warning,
            message: format!("the binding `{name}` of environment `{env}` is not used by any flow"),
            labels: vec![primary(*span, "unused")],
            help: Some(format!("remove it, or use it in a flow as `env.{name}`")),
        },
        N::BadFile { span, reason } => error(
            "E0404",
            format!("invalid environment file: {reason}"),
            vec![primary(*span, "here")],
            Some("an environment file holds one `[bindings]` table of `NAME = VALUE` lines (strings, numbers, booleans or lists of them); see docs/language.md".into()),
        ),
        N::Reserved { span, what, written } => match what {
            Some(what) if written != crate::environment::ENV => error(
                "E0405",
                format!("the import of `{written}` is called `env`, which is reserved for environment bindings"),
                vec![primary(*span, format!("`env` cannot be {what}"))],
                Some(format!("give the import another name: `import \"{written}\" as NAME`")),
            ),
            Some(what) => error(
                "E0405",
                format!("`env` cannot be {what}: the word is reserved for environment bindings"),
                vec![primary(*span, "reserved")],
                Some("rename it; `env.NAME` always means the binding NAME of the chosen environment".into()),
            ),
            None => error(
                "E0405",
                format!("`{written}` is not a binding: bindings are written `env.NAME`, with one name after `env.`"),
                vec![primary(*span, "not `env.NAME`")],
                Some("`env` is reserved for environment bindings: write `env.NAME`, with NAME bound in `environments/ENV.toml`".into()),
            ),
        },
    }
}

fn validate(e: &V) -> Described {
    match e {
        V::Spin { span, path } => error(
            "E0305",
            format!("this loop can spin without waiting: {}", path.join(" → ")),
            vec![primary(*span, "the loop returns here")],
            Some("put a block that waits (menu, say/play, queue, ...) in the loop".into()),
        ),
        V::Unreachable { span } => Described {
            code: "W0306",
            severity: Severity::Warning,
            message: "this block can never run".into(),
            labels: vec![primary(*span, "unreachable")],
            help: Some("remove it, or wire an exit or `goto` to it".into()),
        },
        V::Recursion { span, flow } => check(&C::FlowRecursion {
            span: *span,
            flow: flow.clone(),
        }),
    }
}

/// `90000` → `1m30s`.
pub fn human_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

/// One entry of the catalogue of diagnostic codes.
#[derive(Clone, Copy, Debug)]
pub struct Code {
    /// The code.
    pub code: &'static str,
    /// Its title.
    pub title: &'static str,
    /// What it means and how to fix it (Markdown).
    pub explanation: &'static str,
}

/// Every diagnostic code, with its explanation.
pub const CODES: &[Code] = &[
    Code {
        code: "E0001",
        title: "syntax error",
        explanation: "A line is not a statement: `[label:] head value* [{ ... }]`. The line is skipped and parsing goes on, so every syntax error of a file is reported at once. The label says what was expected where parsing stopped.",
    },
    Code {
        code: "E0002",
        title: "unclosed brace",
        explanation: "A `{` has no matching `}`. The file cannot be read further; add the `}`.",
    },
    Code {
        code: "E0003",
        title: "unmatched closing brace",
        explanation: "A `}` closes nothing. Remove it, or add the `{` it belongs to.",
    },
    Code {
        code: "E0004",
        title: "impossible literal",
        explanation: "A literal has the right shape but an impossible value: `25:00`, `2026-02-30`, or a duration too long to represent.",
    },
    Code {
        code: "E0005",
        title: "nesting too deep",
        explanation: "`{`, `[` and `(` are nested more than 64 levels deep. No real flow needs that; the limit keeps parsing safe for any input. Move deep branches into sub-flows, or into labelled blocks reached with `goto`.",
    },
    Code {
        code: "E0101",
        title: "import not found",
        explanation: "An `import` names a file that does not exist. Paths are relative to the importing file; `std/NAME.flow` is the standard library (`stdlib/`).",
    },
    Code {
        code: "E0102",
        title: "import cycle",
        explanation: "Files import each other in a cycle. Move the shared declarations into a third file that both import.",
    },
    Code {
        code: "E0103",
        title: "unknown name",
        explanation: "A reference names a queue, schedule, skill, team, agent, survey, bot, handoff, sub-flow or campaign that is not declared in the file or in the imported file. The help suggests the closest name.",
    },
    Code {
        code: "E0104",
        title: "duplicate declaration",
        explanation: "A name is declared twice in one file, or a campaign name is used by two files. Names identify things in references, artifacts and logs, so they are unique.",
    },
    Code {
        code: "E0105",
        title: "unknown jump target",
        explanation: "`goto LABEL` names a label that no block of the same campaign (or sub-flow) has. Label the target: `main: menu ...`.",
    },
    Code {
        code: "E0106",
        title: "duplicate label",
        explanation: "Two blocks of one campaign (or sub-flow) have the same label, so a `goto` would be ambiguous.",
    },
    Code {
        code: "E0107",
        title: "unknown block",
        explanation: "A statement inside `ivr { }`, a sub-flow or an exit arm is not an IVR block. `dialect explain blocks` lists them.",
    },
    Code {
        code: "E0108",
        title: "unknown setting",
        explanation: "A setting or section is not allowed where it stands (a typo, or a setting of another declaration or block). `dialect explain NAME` lists what a declaration or block takes.",
    },
    Code {
        code: "E0109",
        title: "unknown exit",
        explanation: "An arm `on EXIT { }` names an exit the block does not have. Menus take keys `0-9 * #`, `no_input` and `invalid`; other blocks their listed exits.",
    },
    Code {
        code: "E0110",
        title: "exit wired twice",
        explanation: "Two arms wire the same exit of one block. Merge them.",
    },
    Code {
        code: "E0111",
        title: "duplicate import alias",
        explanation: "Two imports of one file have the same alias; give one another name with `as NAME`.",
    },
    Code {
        code: "E0112",
        title: "unknown declaration",
        explanation: "A top-level statement is not `import`, `const` or a declaration (campaign, schedule, queue, skill, team, agent, survey, bot, handoff, flow).",
    },
    Code {
        code: "E0113",
        title: "unknown import alias",
        explanation: "`alias.name` uses an alias that no import of this file has. The default alias is the imported file's name without `.flow`.",
    },
    Code {
        code: "E0114",
        title: "reference of the wrong kind",
        explanation: "A reference names a declaration of another kind: a skill where a queue is expected, say.",
    },
    Code {
        code: "E0115",
        title: "unknown parameter type",
        explanation: "A sub-flow parameter has a type that does not exist. Types: text, prompt, duration, number, phone, bool, queue, schedule, survey, bot, email.",
    },
    Code {
        code: "E0201",
        title: "wrong type",
        explanation: "A value has the wrong form for where it stands: a number where a duration is expected, a word outside a setting's allowed words, and so on.",
    },
    Code {
        code: "E0202",
        title: "missing required setting",
        explanation: "A declaration, block or sub-flow use lacks a setting (or parameter) it needs, such as a campaign's `numbers` or a schedule's `zone`.",
    },
    Code {
        code: "E0203",
        title: "duplicate setting",
        explanation: "A setting that takes one value is given twice. Keep one.",
    },
    Code {
        code: "E0204",
        title: "invalid time zone",
        explanation: "A time zone is not an IANA name. Write names like \"Europe/Warsaw\", \"Europe/Oslo\", \"Europe/Sofia\"; abbreviations like CET are ambiguous and not accepted.",
    },
    Code {
        code: "E0205",
        title: "invalid phone number",
        explanation: "A phone number is not valid E.164 after the campaign's default country code is applied: 8 to 15 digits after `+`, no leading zero. Spaces, `-`, `.` and parentheses are allowed inside strings.",
    },
    Code {
        code: "E0206",
        title: "number out of range",
        explanation: "A whole number lies outside its allowed range, for example a `priority` outside -100..100 or more than 12 in a 1..12 setting.",
    },
    Code {
        code: "E0207",
        title: "duration out of bounds",
        explanation: "A duration is zero or beyond the sane bound of its setting (a menu timeout of 3 hours, a callback delay under 30 minutes). The message gives the allowed range.",
    },
    Code {
        code: "E0208",
        title: "file not found",
        explanation: "A referenced audio or data file does not exist. Paths are relative to the flow file; commit the file.",
    },
    Code {
        code: "E0209",
        title: "unusable audio",
        explanation: "An audio reference is not a `.wav` or `.mp3` file, or its content is not what its name says.",
    },
    Code {
        code: "E0210",
        title: "expression does not compile",
        explanation: "A rhai expression has a syntax error. The label points at the place rhai stopped.",
    },
    Code {
        code: "E0211",
        title: "unknown variable",
        explanation: "An expression reads a variable that does not exist. Expressions see the built-in variables (caller, dialled, campaign, now, date, hour, minute, weekday, record, cad, api, token, priority, digits) and the variables set by `set` and `api_request { into ... }` blocks of the same campaign.",
    },
    Code {
        code: "E0212",
        title: "percentage out of range",
        explanation: "A percentage is above 100%, such as a service level of `120%`. Percentages run from `0%` to `100%`, with at most two decimals.",
    },
    Code {
        code: "E0213",
        title: "malformed text value",
        explanation: "A string that must be an e-mail address, a URL or a variable name is not one.",
    },
    Code {
        code: "E0214",
        title: "invalid survey",
        explanation: "A survey has no question or more than 10, or an outbound survey has no delay (or an after-call survey has one).",
    },
    Code {
        code: "E0215",
        title: "invalid callback",
        explanation: "Callback parameters break SPEC 5.5: a reason longer than 250 characters (delays outside 30 minutes to 31 days are E0207).",
    },
    Code {
        code: "E0216",
        title: "wrong arguments",
        explanation: "A statement has too many or too few arguments, or a body where none is allowed. The help shows the expected form.",
    },
    Code {
        code: "E0217",
        title: "recursive sub-flow",
        explanation: "A sub-flow uses itself, directly or through others. Sub-flows are inlined, so recursion would never end; loop with `goto` instead.",
    },
    Code {
        code: "E0218",
        title: "constants in a cycle",
        explanation: "A constant stands for another constant (or a binding for a constant) that leads back to it, so no value is ever reached: `const a = b` with `const b = a`. Give one of them a value written out.",
    },
    Code {
        code: "E0301",
        title: "exit not wired",
        explanation: "Every exit a block defines must be wired with `on EXIT { ... }` or covered by `on else { ... }`. An empty arm continues after the block; that is an explicit choice, which is the point.",
    },
    Code {
        code: "E0302",
        title: "duplicate menu key",
        explanation: "A menu wires one key twice, so the second path could never be taken. Each key leads one way; pick another key or merge the arms.",
    },
    Code {
        code: "E0303",
        title: "invalid menu key",
        explanation: "A menu arm is not a DTMF key: keys are `0`-`9`, `*` and `#`.",
    },
    Code {
        code: "E0304",
        title: "too many menu paths",
        explanation: "A menu has more than 12 paths (`0-9 * #`).",
    },
    Code {
        code: "E0305",
        title: "loop without a wait",
        explanation: "A cycle of the IVR passes only through blocks that do not wait for the caller, a timer, an agent or a service (conditions, jumps, priority, ...). It would spin forever inside one event. Put a waiting block (menu, say/play, queue, ...) on the loop.",
    },
    Code {
        code: "W0306",
        title: "unreachable block",
        explanation: "No path from `answer` reaches this block: it follows a `goto` or `hangup`, or every exit before it jumps away. A warning; `--deny-warnings` makes it fail.",
    },
    Code {
        code: "E0307",
        title: "impossible schedule",
        explanation: "A time range ends before it starts, a date range runs backwards, or a campaign ends before it starts.",
    },
    Code {
        code: "E0308",
        title: "exception outside the campaign's life",
        explanation: "A business-hours exception used by a campaign lies outside the campaign's `starts`..`ends`.",
    },
    Code {
        code: "E0310",
        title: "IVR must start with answer",
        explanation: "Inbound calls must be answered first: the first block of a campaign's `ivr` is `answer`.",
    },
    Code {
        code: "E0311",
        title: "campaign without IVR",
        explanation: "A campaign has no `ivr { }` section, so it could not take a call.",
    },
    Code {
        code: "E0312",
        title: "number in two campaigns",
        explanation: "A phone number is listed by two campaigns; an incoming call must reach exactly one.",
    },
    Code {
        code: "E0313",
        title: "extension of two agents or queues",
        explanation: "Two agents or queues (or one of each) have the same `extension`; the `extension` block must route a typed number to exactly one.",
    },
    Code {
        code: "E0401",
        title: "missing binding",
        explanation: "A flow uses `env.NAME`, and the environment chosen with `--env` (or `DIALECT_ENV`) does not bind NAME. Add `NAME = VALUE` under `[bindings]` in the environment's file (`environments/ENV.toml`, named in the message), or fix the name. Every environment the flows are built for must bind every name they use.",
    },
    Code {
        code: "E0402",
        title: "no environment chosen",
        explanation: "The flows use bindings (`env.NAME`), whose values differ per environment, and no environment was chosen. Pass `--env NAME` (or set `DIALECT_ENV`) to compile with `environments/NAME.toml`; the help lists the environments found.",
    },
    Code {
        code: "W0403",
        title: "unused binding",
        explanation: "The chosen environment binds a name that no compiled flow uses as `env.NAME`: a leftover, or a typo on one side. A warning; `--deny-warnings` makes it fail.",
    },
    Code {
        code: "E0404",
        title: "invalid environment file",
        explanation: "The chosen environment's file is not valid TOML, holds something other than one `[bindings]` table, binds a name that flows cannot write after `env.`, or binds a value that cannot stand in a flow: a table, a list of lists, a date-time, an impossible literal (`\"25:00\"`), or a reference to another binding. A binding is a string, a number, a boolean or a list of them.",
    },
    Code {
        code: "E0405",
        title: "reserved word `env`",
        explanation: "`env` is reserved for environment bindings: `env.NAME` is the value bound to NAME in the chosen environment. It cannot name an import, a constant, a declaration, a label, a parameter or a variable, and it cannot stand alone or with more than one name after it (`env.a.b`).",
    },
];

/// The catalogue entry of a code.
pub fn explain(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The catalogue of codes as Markdown (`docs/diagnostics.md` is this text;
/// a test keeps it in sync).
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\nGenerated from `compiler/src/diagnostic.rs`; `dialect explain CODE` prints the same text.\nEach code has a fixture in `tests/diagnostics/` and a snapshot of its rendering.\n\n",
    );
    out.push_str("| code | title |\n|---|---|\n");
    for code in CODES {
        out.push_str(&format!(
            "| [{0}](#{1}) | {2} |\n",
            code.code,
            code.code.to_ascii_lowercase(),
            code.title
        ));
    }
    for code in CODES {
        out.push_str(&format!(
            "\n## {}\n\n**{}**\n\n{}\n",
            code.code, code.title, code.explanation
        ));
    }
    out
}
