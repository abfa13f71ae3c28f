//! Environments: what the logical names of the flows stand for in one
//! deployment. A flow writes `env.NAME` wherever a value may stand
//! (`dial env.outsourced_support`, `queue env.support_queue { ... }`); the
//! environment chosen for a compilation (`--env staging`) binds each name in
//! its file, `environments/staging.toml`:
//!
//! ```toml
//! [bindings]
//! outsourced_support = "+48225550199"
//! support_queue = "queues.technical"
//! ```
//!
//! A bound string is read as a Dialect literal when the whole string is one
//! (a phone number, a duration, a name such as `queues.technical`),
//! otherwise as text; where a flow expects text (a URL, a prompt's words) the
//! string is taken as written whatever it looks like. `check::convert` then
//! reads the bound value exactly as if it were written at the reference, so
//! every check applies and `lower` bakes the value into the artifact.
//!
//! This module reads environment files (through text the caller got from the
//! `World`) and finds the references of the flows; it reports missing,
//! unused and malformed bindings and misuses of the reserved word `env`.

use crate::ast::{Ident, Span, Stmt, Value, ValueKind};
use crate::resolve::suggest;
use crate::schema::Ty;
use crate::source::{FileId, Sources};
use crate::{Problem, Report};
use std::collections::{BTreeMap, BTreeSet};

/// The reserved first word of a binding reference: `env.NAME`.
pub const ENV: &str = "env";

/// The directory, beside or above the flows, that holds the environment files.
pub const DIR: &str = "environments";

/// A problem with environments and bindings.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// `env.NAME` with no binding `NAME` in the chosen environment.
    Missing {
        /// The reference in the flow.
        span: Span,
        /// The logical name.
        name: String,
        /// The environment.
        env: String,
        /// The environment file, as shown.
        path: String,
        /// The closest bound name.
        suggestion: Option<String>,
    },
    /// The flows use bindings, but no environment was chosen.
    NoEnvironment {
        /// The first reference.
        span: Span,
        /// Its logical name.
        name: String,
        /// How many other logical names the flows use.
        others: usize,
        /// The environments found, by name.
        available: Vec<String>,
        /// Where they were found, when an environments directory was found.
        dir: Option<String>,
    },
    /// A binding that no compiled flow uses.
    Unused {
        /// The key in the environment file.
        span: Span,
        /// The logical name.
        name: String,
        /// The environment.
        env: String,
    },
    /// An environment file that cannot be read as one: TOML that does not
    /// parse, a layout other than one `[bindings]` table, a value that cannot
    /// be bound.
    BadFile {
        /// Where in the file.
        span: Span,
        /// What is wrong.
        reason: String,
    },
    /// `env` used as a name, or a reference that is not `env.NAME`.
    Reserved {
        /// The word or the reference.
        span: Span,
        /// What `env` was used as: `a label`, `an import alias`, ...; `None`
        /// for a value that is `env` alone or `env.a.b`.
        what: Option<&'static str>,
        /// What was written.
        written: String,
    },
}

/// The bindings of one environment, read from its file.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// Its name: `staging` for `environments/staging.toml`.
    pub name: String,
    /// The file, among the compilation's sources.
    pub file: FileId,
    /// The file's path as shown in messages.
    pub path: String,
    /// The bindings, by logical name.
    pub bindings: BTreeMap<String, Binding>,
    /// Names bound to values that could not be read (reported in the file,
    /// so not again as missing where the flows use them).
    pub invalid: BTreeSet<String>,
    /// Whether the file is not TOML at all: then no reference is reported
    /// missing, only the file.
    pub unreadable: bool,
}

/// One binding: `support_queue = "queues.technical"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The key in the file.
    pub key: Span,
    /// The value in the file.
    pub span: Span,
    /// The 1-based line of the binding.
    pub line: usize,
    /// The value as written in the file, for messages: `"+48225550199"`.
    pub written: String,
    /// The value.
    pub value: Bound,
}

/// A bound value as read from TOML.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    /// One value: its text, and the literal the text is when it is one.
    Scalar {
        /// The literal (`+48225550199` a number, `10m` a duration,
        /// `queues.technical` a name); `None` for free text.
        literal: Option<ValueKind>,
        /// The text: the string itself, or how a number or boolean is written.
        text: String,
    },
    /// A TOML array of values.
    List(Vec<Bound>),
}

impl Bound {
    /// The value that stands at a reference where a value of type `ty` is
    /// expected, every span set to the reference's. Where text is expected
    /// the text is taken as written, so `"sales"` stays text for a `name`
    /// setting although it also reads as a name.
    pub fn value_for(&self, ty: Ty, span: Span) -> Value {
        self.build(Some(ty), span)
    }

    /// The value as a literal wherever one was read (text only where the
    /// string is no literal), every span set to `span`.
    pub fn literal(&self, span: Span) -> Value {
        self.build(None, span)
    }

    /// The value for `ty` (`None`: the literal wherever there is one).
    fn build(&self, ty: Option<Ty>, span: Span) -> Value {
        let kind = match self {
            Bound::Scalar { literal, text } => match literal {
                Some(kind) if !ty.is_some_and(wants_text) => respan(kind, span),
                _ => ValueKind::Str(text.clone()),
            },
            Bound::List(items) => {
                let inner = match ty {
                    Some(Ty::List(inner)) => Some(*inner),
                    other => other,
                };
                ValueKind::List(items.iter().map(|i| i.build(inner, span)).collect())
            }
        };
        Value { kind, span }
    }
}

/// Whether values of `ty` are written as strings: there a bound string is
/// taken as written, not read as a literal.
fn wants_text(ty: Ty) -> bool {
    match ty {
        Ty::Text | Ty::Url | Ty::Email | Ty::Zone | Ty::Audio | Ty::DataFile => true,
        Ty::List(inner) => wants_text(*inner),
        _ => false,
    }
}

/// A literal with every span set to `span`.
fn respan(kind: &ValueKind, span: Span) -> ValueKind {
    match kind {
        ValueKind::Path(parts) => ValueKind::Path(
            parts
                .iter()
                .map(|p| Ident {
                    name: p.name.clone(),
                    span,
                })
                .collect(),
        ),
        ValueKind::List(items) => ValueKind::List(
            items
                .iter()
                .map(|v| Value {
                    kind: respan(&v.kind, span),
                    span,
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a literal names a binding (`env.x`, or `env` inside a list).
fn names_binding(kind: &ValueKind) -> bool {
    match kind {
        ValueKind::Path(parts) => parts.first().is_some_and(|p| p.name == ENV),
        ValueKind::List(items) => items.iter().any(|v| names_binding(&v.kind)),
        _ => false,
    }
}

/// Whether `name` can follow `env.` in a flow: a plain identifier.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` can be an environment's name (`--env NAME`): letters,
/// digits, `-` and `_`, so that it names a file in the environments
/// directory and nothing else.
pub fn is_environment_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads the environment `name` from the text of its file `file` (shown as
/// `path`). Problems are reported against `file`; what could be read is kept.
pub fn load(
    name: &str,
    file: FileId,
    path: &str,
    text: &str,
    reports: &mut Vec<Report>,
) -> Environment {
    let mut env = Environment {
        name: name.to_string(),
        file,
        path: path.to_string(),
        bindings: BTreeMap::new(),
        invalid: BTreeSet::new(),
        unreadable: false,
    };
    let mut bad = |span: Span, reason: String| {
        reports.push(Report {
            file,
            problem: Problem::Environment(Error::BadFile { span, reason }),
        });
    };
    let table = match toml::de::DeTable::parse(text) {
        Ok(table) => table,
        Err(err) => {
            let span = err
                .span()
                .map(|r| Span::new(r.start, r.end))
                .unwrap_or_default();
            bad(
                span,
                format!("the file is not valid TOML: {}", err.message().trim_end()),
            );
            env.unreadable = true;
            return env;
        }
    };
    for (key, value) in table.get_ref() {
        let key_span = to_span(key.span());
        if key.get_ref().as_ref() != "bindings" {
            bad(
                key_span,
                format!(
                    "`{}` is not part of an environment file, which holds one `[bindings]` table",
                    key.get_ref()
                ),
            );
            continue;
        }
        let toml::de::DeValue::Table(bindings) = value.get_ref() else {
            bad(
                to_span(value.span()),
                "`bindings` must be a table: `[bindings]` followed by `NAME = VALUE` lines".into(),
            );
            continue;
        };
        for (key, value) in bindings {
            let key_span = to_span(key.span());
            let logical = key.get_ref().as_ref();
            if !is_name(logical) {
                bad(
                    key_span,
                    format!(
                        "`{logical}` cannot be a logical name: flows write `env.NAME`, with a name of letters, digits and `_`"
                    ),
                );
                continue;
            }
            let span = to_span(value.span());
            match bound(value, 0) {
                Ok(bound) => {
                    let written = text.get(span.range()).unwrap_or_default().to_string();
                    let line = crate::diagnostic::line_col(text, key_span.start as usize).0;
                    env.bindings.insert(
                        logical.to_string(),
                        Binding {
                            key: key_span,
                            span,
                            line,
                            written,
                            value: bound,
                        },
                    );
                }
                Err((at, reason)) => {
                    bad(at, format!("`{logical}`: {reason}"));
                    env.invalid.insert(logical.to_string());
                }
            }
        }
    }
    env
}

/// A TOML span as ours.
fn to_span(range: std::ops::Range<usize>) -> Span {
    Span::new(range.start, range.end)
}

/// One TOML value as a bound value, or where and why it cannot be one.
fn bound(
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    depth: usize,
) -> Result<Bound, (Span, String)> {
    use toml::de::DeValue;
    let span = to_span(value.span());
    let scalar = |literal: ValueKind, text: String| Bound::Scalar {
        literal: Some(literal),
        text,
    };
    match value.get_ref() {
        DeValue::String(s) => match crate::parse::literal(s) {
            Ok(Some(v)) if names_binding(&v.kind) => Err((
                span,
                "a bound value cannot name a binding (`env.NAME`); write the value itself".into(),
            )),
            Ok(Some(v)) => Ok(scalar(v.kind, s.to_string())),
            Ok(None) => Ok(Bound::Scalar {
                literal: None,
                text: s.to_string(),
            }),
            Err(crate::parse::Error::BadLiteral { kind, reason, .. }) => {
                Err((span, format!("`{s}` is an impossible {kind}: {reason}")))
            }
            Err(_) => Ok(Bound::Scalar {
                literal: None,
                text: s.to_string(),
            }),
        },
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Ok(scalar(ValueKind::Number(n.to_string()), n.to_string())),
            Err(_) => Err((span, "the number is too large".into())),
        },
        DeValue::Float(f) => match crate::parse::literal(f.as_str()) {
            Ok(Some(Value {
                kind: kind @ (ValueKind::Decimal(_) | ValueKind::Number(_)),
                ..
            })) => Ok(scalar(kind, f.as_str().to_string())),
            _ => Err((
                span,
                format!(
                    "`{}` is not a decimal number as flows write them (like `0.35`)",
                    f.as_str()
                ),
            )),
        },
        DeValue::Boolean(b) => {
            let word = b.to_string();
            Ok(scalar(
                ValueKind::Path(vec![Ident {
                    name: word.clone(),
                    span: Span::default(),
                }]),
                word,
            ))
        }
        DeValue::Datetime(d) => {
            let text = d.to_string();
            match crate::parse::literal(&text) {
                Ok(Some(Value {
                    kind: kind @ (ValueKind::Date(_) | ValueKind::Time(_)),
                    ..
                })) => Ok(scalar(kind, text)),
                _ => Err((
                    span,
                    format!(
                        "`{text}` is a TOML date-time; write dates as `2026-12-24` and times of day as strings (`\"08:00\"`)"
                    ),
                )),
            }
        }
        DeValue::Array(items) if depth == 0 => items
            .iter()
            .map(|item| bound(item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Bound::List),
        DeValue::Array(_) => Err((span, "a list holds plain values, not lists".into())),
        DeValue::Table(_) => Err((
            span,
            "a binding is one value or a list of values, not a table".into(),
        )),
    }
}

/// What [`references`] found.
#[derive(Clone, Debug, Default)]
pub struct Uses {
    /// The logical names the flows use, with their first reference.
    pub names: BTreeMap<String, (FileId, Span)>,
}

/// Finds every `env.NAME` reference of the flows and every misuse of the
/// reserved word `env`, and reports references that `chosen` does not bind
/// (or all of them, once, when no environment was chosen; `available` then
/// lists the environments of `dir`). Bindings that no reference uses are
/// reported as unused.
pub fn references(
    sources: &Sources,
    chosen: Option<&Environment>,
    available: &[String],
    dir: Option<&str>,
    reports: &mut Vec<Report>,
) -> Uses {
    let mut uses = Uses::default();
    let mut found: Vec<(FileId, Span, String)> = Vec::new();
    for id in sources.ids() {
        let Some(src) = sources.get(id) else {
            continue;
        };
        let mut walk = Walk {
            file: id,
            refs: &mut found,
            reports: &mut *reports,
        };
        for stmt in &src.ast.items {
            walk.top(stmt);
        }
    }
    for (file, span, name) in &found {
        uses.names.entry(name.clone()).or_insert((*file, *span));
    }
    match chosen {
        Some(env) if env.unreadable => {}
        Some(env) => {
            for (file, span, name) in found {
                if !env.bindings.contains_key(&name) && !env.invalid.contains(&name) {
                    reports.push(Report {
                        file,
                        problem: Problem::Environment(Error::Missing {
                            span,
                            suggestion: suggest(&name, env.bindings.keys().map(String::as_str)),
                            name,
                            env: env.name.clone(),
                            path: env.path.clone(),
                        }),
                    });
                }
            }
            for (name, binding) in &env.bindings {
                if !uses.names.contains_key(name) {
                    reports.push(Report {
                        file: env.file,
                        problem: Problem::Environment(Error::Unused {
                            span: binding.key,
                            name: name.clone(),
                            env: env.name.clone(),
                        }),
                    });
                }
            }
        }
        None => {
            if let Some((file, span, name)) = found.into_iter().next() {
                reports.push(Report {
                    file,
                    problem: Problem::Environment(Error::NoEnvironment {
                        span,
                        others: uses.names.len().saturating_sub(1),
                        name,
                        available: available.to_vec(),
                        dir: dir.map(str::to_string),
                    }),
                });
            }
        }
    }
    uses
}

/// The walk over one file's statements.
struct Walk<'a> {
    file: FileId,
    refs: &'a mut Vec<(FileId, Span, String)>,
    reports: &'a mut Vec<Report>,
}

impl Walk<'_> {
    /// Reports a misuse of `env`.
    fn reserved(&mut self, span: Span, what: Option<&'static str>, written: String) {
        self.reports.push(Report {
            file: self.file,
            problem: Problem::Environment(Error::Reserved {
                span,
                what,
                written,
            }),
        });
    }

    /// A top-level statement: its first argument names what it declares.
    fn top(&mut self, stmt: &Stmt) {
        let what = match stmt.head.name.as_str() {
            "import" => {
                // `import "PATH" as NAME`: the alias is the second argument.
                for (i, value) in stmt.args.iter().enumerate() {
                    if i == 1 && value.as_ident().is_some_and(|a| a.name == ENV) {
                        self.reserved(value.span, Some("an import alias"), ENV.into());
                    } else {
                        self.value(value);
                    }
                }
                return;
            }
            "const" => "a constant's name",
            _ => "a declaration's name",
        };
        for (i, value) in stmt.args.iter().enumerate() {
            if i == 0 && value.as_ident().is_some_and(|a| a.name == ENV) {
                self.reserved(value.span, Some(what), ENV.into());
            } else {
                self.value(value);
            }
        }
        self.params_and_body(stmt);
    }

    /// A statement inside a declaration: its label, arguments and body.
    fn stmt(&mut self, stmt: &Stmt) {
        if let Some(label) = stmt.label.as_ref().filter(|l| l.name == ENV) {
            self.reserved(label.span, Some("a label"), ENV.into());
        }
        let var = matches!(stmt.head.name.as_str(), "set" | "into");
        for (i, value) in stmt.args.iter().enumerate() {
            if var && i == 0 && value.as_ident().is_some_and(|a| a.name == ENV) {
                self.reserved(value.span, Some("a variable"), ENV.into());
            } else {
                self.value(value);
            }
        }
        self.params_and_body(stmt);
    }

    /// A statement's parameters (of a `flow`) and body.
    fn params_and_body(&mut self, stmt: &Stmt) {
        for param in stmt.params.iter().filter(|p| p.name.name == ENV) {
            self.reserved(param.name.span, Some("a parameter"), ENV.into());
        }
        for child in stmt.children() {
            self.stmt(child);
        }
    }

    /// One value: a reference, a misuse of `env`, or a list of values.
    fn value(&mut self, value: &Value) {
        match &value.kind {
            ValueKind::Path(parts) if parts.first().is_some_and(|p| p.name == ENV) => {
                match parts.as_slice() {
                    [_, name] => self.refs.push((self.file, value.span, name.name.clone())),
                    _ => self.reserved(value.span, None, crate::ast::join_path(parts)),
                }
            }
            ValueKind::List(items) => {
                for item in items {
                    self.value(item);
                }
            }
            _ => {}
        }
    }
}

/// The names of the environments among the entries of a directory: the
/// stems of its `.toml` files, sorted.
pub fn names_in(entries: &[std::path::PathBuf]) -> Vec<String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for entry in entries {
        if entry.extension().is_some_and(|e| e == "toml")
            && let Some(stem) = entry.file_stem().and_then(|s| s.to_str())
            && is_environment_name(stem)
        {
            names.insert(stem.to_string());
        }
    }
    names.into_iter().collect()
}
