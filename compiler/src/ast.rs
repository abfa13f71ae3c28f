//! The syntax tree of one flow file.
//!
//! The tree is uniform: every line is a [`Stmt`] with a head word, arguments
//! and an optional body. What a statement means depends on where it stands,
//! which `schema` describes and `check` enforces.

use std::fmt;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: clamp(start),
            end: clamp(end),
        }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The span as a `usize` range.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The length in bytes.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// Whether the span covers no byte.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A parsed file: its statements and its comments, in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// Top-level statements: imports, constants, declarations.
    pub items: Vec<Stmt>,
    /// Every `//` comment, kept for the formatter.
    pub comments: Vec<Comment>,
}

/// A `//` comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    /// The comment text, without the leading `//`.
    pub text: String,
    /// Where it stands.
    pub span: Span,
}

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// One statement: `[label:] head value* [{ body }]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// The label that `goto` can jump to.
    pub label: Option<Ident>,
    /// The head word: `campaign`, `menu`, `timeout`, `on`, ...
    pub head: Ident,
    /// The arguments after the head.
    pub args: Vec<Value>,
    /// The parameters of a `flow` declaration.
    pub params: Vec<Param>,
    /// The statements between braces, if any.
    pub body: Option<Body>,
    /// The whole statement.
    pub span: Span,
}

impl Stmt {
    /// The span of the head, with the label if there is one.
    pub fn head_span(&self) -> Span {
        match &self.label {
            Some(label) => label.span.join(self.head.span),
            None => self.head.span,
        }
    }

    /// The statements of the body (none without a body).
    pub fn children(&self) -> &[Stmt] {
        self.body
            .as_ref()
            .map(|b| b.stmts.as_slice())
            .unwrap_or(&[])
    }
}

/// A parameter of a sub-flow: `name: type`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter's name.
    pub name: Ident,
    /// The name of its type.
    pub ty: Ident,
}

/// The statements between a pair of braces.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// The statements, in order.
    pub stmts: Vec<Stmt>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A literal or a reference, with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What it is.
    pub kind: ValueKind,
    /// Where it stands.
    pub span: Span,
}

/// The lexical forms of values. Numbers keep their text: whether `+48221000001`
/// is a phone number or `+10` a priority depends on where it stands.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// `"text"`, unescaped.
    Str(String),
    /// `42`, `-10`, `+48221000001`, as written.
    Number(String),
    /// `0.35`, as written.
    Decimal(String),
    /// `80%`, as written without the `%`.
    Percent(String),
    /// `30s`, `1h30m`: milliseconds.
    Duration(u64),
    /// `08:00`: minutes after midnight (validity is checked later).
    Time(u32),
    /// `08:00-16:00`.
    TimeRange(u32, u32),
    /// `2026-12-24`.
    Date(Date),
    /// `2026-12-21..2026-12-22`.
    DateRange(Date, Date),
    /// `mon-fri`: 0 = Monday.
    DayRange(u8, u8),
    /// `*` or `#`.
    Key(char),
    /// `sales`, `hours.office`: a name, possibly qualified by an import.
    Path(Vec<Ident>),
    /// `[a, b]`.
    List(Vec<Value>),
    /// `(caller == "+48500000000")`: rhai source text.
    Expr(String),
}

/// A calendar date as written (validity is checked later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i16,
    /// Month, 1-12 when valid.
    pub month: u8,
    /// Day, 1-31 when valid.
    pub day: u8,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The weekday names as written, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Value {
    /// The name, if this is an unqualified name.
    pub fn as_ident(&self) -> Option<&Ident> {
        match &self.kind {
            ValueKind::Path(parts) if parts.len() == 1 => parts.first(),
            _ => None,
        }
    }

    /// The dotted name, if this is a name.
    pub fn as_path(&self) -> Option<String> {
        match &self.kind {
            ValueKind::Path(parts) => Some(join_path(parts)),
            _ => None,
        }
    }

    /// A short description of the value's form, for diagnostics.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            ValueKind::Str(_) => "a string",
            ValueKind::Number(_) => "a number",
            ValueKind::Decimal(_) => "a decimal number",
            ValueKind::Percent(_) => "a percentage",
            ValueKind::Duration(_) => "a duration",
            ValueKind::Time(_) => "a time of day",
            ValueKind::TimeRange(..) => "a time range",
            ValueKind::Date(_) => "a date",
            ValueKind::DateRange(..) => "a date range",
            ValueKind::DayRange(..) => "a weekday range",
            ValueKind::Key(_) => "a key",
            ValueKind::Path(_) => "a name",
            ValueKind::List(_) => "a list",
            ValueKind::Expr(_) => "an expression",
        }
    }
}

/// `a.b.c`
pub fn join_path(parts: &[Ident]) -> String {
    parts
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}
