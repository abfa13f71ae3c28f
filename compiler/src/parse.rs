//! Phase 1: text to syntax tree, with error recovery.
//!
//! A line that does not parse is skipped (see `bad_stmt` in the grammar) and
//! reported; parsing goes on with the next line, so one run reports every
//! syntax error of a file.

use crate::ast::{Body, Comment, Date, File, Ident, Param, Span, Stmt, Value, ValueKind};
use pest::Parser as _;
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "dialect.pest"]
struct Grammar;

/// A syntax error.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// A line that is not a statement; `expected` names what would have fitted.
    Syntax {
        /// Where parsing failed (a point or the offending token).
        at: Span,
        /// The whole skipped line.
        line: Span,
        /// What the grammar expected at `at`, in words.
        expected: String,
    },
    /// A `{` never closed.
    Unclosed {
        /// The opening brace.
        open: Span,
    },
    /// A `}` with no `{` before it.
    Unmatched {
        /// The closing brace.
        close: Span,
    },
    /// A literal of the right shape but impossible value (`25:00`, `2026-02-30`).
    BadLiteral {
        /// The literal.
        span: Span,
        /// What kind of literal it was meant to be.
        kind: &'static str,
        /// Why it is impossible.
        reason: String,
    },
    /// Brackets nested deeper than [`MAX_NESTING`].
    TooDeep {
        /// The bracket that goes one level too deep.
        at: Span,
    },
}

/// The deepest nesting of `{`, `[` and `(` a file may have. Real flows stay
/// far below it; the limit keeps the recursive-descent parser's stack bounded
/// whatever the input.
pub const MAX_NESTING: usize = 64;

/// Parses one file. Always returns a tree (possibly partial) and every error found.
pub fn parse(text: &str) -> (File, Vec<Error>) {
    let mut errors = Vec::new();
    if let Some(at) = too_deep(text) {
        return (
            File {
                items: Vec::new(),
                comments: comments(text, &[]),
            },
            vec![Error::TooDeep { at }],
        );
    }
    match Grammar::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut items = Vec::new();
            if let Some(file) = pairs.next() {
                for pair in file.into_inner() {
                    match pair.as_rule() {
                        Rule::bad_stmt => errors.push(explain_bad(text, &pair)),
                        Rule::EOI => {}
                        _ => items.push(stmt(pair, &mut errors)),
                    }
                }
            }
            // `//` inside a rhai expression is the expression's text, and the
            // expression may go on after it on the same line.
            let comments = comments(text, &expr_spans(&items));
            (File { items, comments }, errors)
        }
        Err(err) => {
            let comments = comments(text, &[]);
            match braces(text) {
                Some(brace_error) => errors.push(brace_error),
                None => errors.push(from_pest(&err, Span::new(0, text.len()))),
            }
            (
                File {
                    items: Vec::new(),
                    comments,
                },
                errors,
            )
        }
    }
}

/// Reads `text` as one value, the way it would be read in a flow: `Ok(None)`
/// when the whole text is not one literal (free text, then), `Err` when it
/// is one of an impossible value (`25:00`). Spans are offsets in `text`.
pub fn literal(text: &str) -> Result<Option<Value>, Error> {
    if too_deep(text).is_some() {
        return Ok(None);
    }
    let Ok(mut pairs) = Grammar::parse(Rule::value_alone, text) else {
        return Ok(None);
    };
    let Some(pair) = pairs.next().filter(|p| p.as_rule() != Rule::EOI) else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    let value = value(pair, &mut errors);
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(Some(value)),
    }
}

fn explain_bad(text: &str, pair: &Pair<'_, Rule>) -> Error {
    let line = span_of(pair);
    let fragment = pair.as_str();
    let offset = line.start as usize;
    match Grammar::parse(Rule::stmt_alone, fragment) {
        Err(err) => {
            let mut error = from_pest(&err, line);
            if let Error::Syntax { at, .. } = &mut error {
                let start = at.start as usize + offset;
                let end = (at.end as usize + offset).min(text.len());
                *at = Span::new(start, end);
            }
            error
        }
        // The line parses alone but not in place: it lacks a separator.
        Ok(_) => Error::Syntax {
            at: line,
            line,
            expected: "a new line or `;` before the next statement".into(),
        },
    }
}

fn from_pest(err: &pest::error::Error<Rule>, line: Span) -> Error {
    use pest::error::{ErrorVariant, InputLocation};
    let at = match err.location {
        InputLocation::Pos(p) => {
            // Point at the token that is there, not at nothing.
            let rest = err.line().len();
            let _ = rest;
            Span::new(p, p)
        }
        InputLocation::Span((s, e)) => Span::new(s, e),
    };
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            // Where any value would do, say so rather than list every literal form.
            let values = positives.iter().filter(|r| is_value(**r)).count();
            if values > 2 {
                names.retain(|n| {
                    !positives
                        .iter()
                        .any(|r| is_value(*r) && rule_name(*r) == Some(*n))
                });
                names.push("a value");
            }
            names.sort_unstable();
            names.dedup();
            match names.as_slice() {
                [] => "a statement".to_string(),
                [one] => (*one).to_string(),
                more => {
                    let (last, rest) = more.split_last().map(|(l, r)| (*l, r)).unwrap_or(("", &[]));
                    format!("{} or {}", rest.join(", "), last)
                }
            }
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    Error::Syntax { at, line, expected }
}

fn is_value(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::string
            | Rule::number
            | Rule::decimal
            | Rule::duration
            | Rule::time
            | Rule::time_range
            | Rule::date
            | Rule::date_range
            | Rule::percent
            | Rule::day_range
            | Rule::key
            | Rule::list
            | Rule::expr
            | Rule::path
            | Rule::ident
            | Rule::weekday
            | Rule::label
    )
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::path | Rule::label => "a name",
        Rule::string | Rule::str_inner => "a string",
        Rule::number => "a number",
        Rule::decimal => "a decimal number",
        Rule::duration => "a duration like `30s`",
        Rule::time | Rule::time_range => "a time like `08:00`",
        Rule::date | Rule::date_range => "a date like `2026-12-24`",
        Rule::percent => "a percentage",
        Rule::day_range | Rule::weekday => "a weekday range like `mon-fri`",
        Rule::key => "a key",
        Rule::list => "a list `[...]`",
        Rule::expr | Rule::expr_text => "an expression `(...)`",
        Rule::body => "`{`",
        Rule::params | Rule::param => "parameters `(name: type)`",
        Rule::escape => "an escape like `\\n`",
        Rule::EOI => "the end of the line",
        _ => return None,
    })
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(&pair),
    }
}

fn stmt(pair: Pair<'_, Rule>, errors: &mut Vec<Error>) -> Stmt {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    let mut inner = pair.into_inner().peekable();
    let mut out = Stmt {
        label: None,
        head: Ident {
            name: String::new(),
            span,
        },
        args: Vec::new(),
        params: Vec::new(),
        body: None,
        span,
    };
    match rule {
        Rule::import | Rule::const_def | Rule::flow_def => {
            let keyword = match rule {
                Rule::import => "import",
                Rule::const_def => "const",
                _ => "flow",
            };
            let start = span.start as usize;
            out.head = Ident {
                name: keyword.into(),
                span: Span::new(start, start + keyword.len()),
            };
        }
        _ => {
            if inner.peek().map(|p| p.as_rule()) == Some(Rule::label) {
                out.label = inner.next().map(ident);
            }
            if let Some(head) = inner.next() {
                out.head = ident(head);
            }
        }
    }
    for part in inner {
        match part.as_rule() {
            Rule::body => out.body = Some(body(part, errors)),
            Rule::params => {
                out.params = part
                    .into_inner()
                    .filter_map(|p| {
                        let mut it = p.into_inner();
                        Some(Param {
                            name: ident(it.next()?),
                            ty: ident(it.next()?),
                        })
                    })
                    .collect()
            }
            Rule::ident => {
                // The name of an import alias, a constant or a flow.
                let name = ident(part);
                let span = name.span;
                out.args.push(Value {
                    kind: ValueKind::Path(vec![name]),
                    span,
                });
            }
            _ => out.args.push(value(part, errors)),
        }
    }
    // pest leaves the white space and comment skipped before a trailing optional
    // that did not match (`body?`, `("as" ~ ident)?`) inside the pair: the
    // statement ends with its last token, not with the comment after it.
    let end = match (&out.body, out.args.last()) {
        (Some(body), _) => body.span.end,
        (None, Some(arg)) => arg.span.end,
        (None, None) => out.head.span.end,
    };
    out.span.end = end.min(out.span.end);
    out
}

fn body(pair: Pair<'_, Rule>, errors: &mut Vec<Error>) -> Body {
    let span = span_of(&pair);
    let text_start = pair.as_span().start();
    let _ = text_start;
    let mut stmts = Vec::new();
    let input = pair.as_span().get_input();
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::bad_stmt => errors.push(explain_bad(input, &part)),
            _ => stmts.push(stmt(part, errors)),
        }
    }
    Body { stmts, span }
}

fn value(pair: Pair<'_, Rule>, errors: &mut Vec<Error>) -> Value {
    let span = span_of(&pair);
    let text = pair.as_str();
    let kind = match pair.as_rule() {
        Rule::string => ValueKind::Str(unescape(text)),
        Rule::number => ValueKind::Number(text.to_string()),
        Rule::decimal => ValueKind::Decimal(text.to_string()),
        Rule::percent => ValueKind::Percent(text.trim_end_matches('%').to_string()),
        Rule::duration => match duration(text) {
            Some(ms) => ValueKind::Duration(ms),
            None => {
                errors.push(bad(span, "duration", "it is too long to represent".into()));
                ValueKind::Duration(0)
            }
        },
        Rule::time => ValueKind::Time(time(text, span, errors)),
        Rule::time_range => {
            let mut it = pair.into_inner();
            let before = errors.len();
            let a = it
                .next()
                .map(|p| time(p.as_str(), span_of(&p), errors))
                .unwrap_or(0);
            let b = it
                .next()
                .map(|p| time(p.as_str(), span_of(&p), errors))
                .unwrap_or(0);
            // An impossible end is reported once; a whole day keeps later
            // checks from reporting it again as a reversed range.
            if errors.len() > before {
                ValueKind::TimeRange(0, 24 * 60)
            } else {
                ValueKind::TimeRange(a, b)
            }
        }
        Rule::date => ValueKind::Date(date(text, span, errors)),
        Rule::date_range => {
            let mut it = pair.into_inner();
            let mut next = || {
                it.next()
                    .map(|p| date(p.as_str(), span_of(&p), errors))
                    .unwrap_or_default()
            };
            let a = next();
            let b = next();
            ValueKind::DateRange(a, b)
        }
        Rule::day_range => {
            let mut it = pair.into_inner().map(|p| weekday(p.as_str()));
            ValueKind::DayRange(it.next().unwrap_or(0), it.next().unwrap_or(0))
        }
        Rule::key => ValueKind::Key(text.chars().next().unwrap_or('#')),
        Rule::path => ValueKind::Path(pair.into_inner().map(ident).collect()),
        Rule::list => ValueKind::List(pair.into_inner().map(|p| value(p, errors)).collect()),
        Rule::expr => ValueKind::Expr(
            text.get(1..text.len().saturating_sub(1))
                .unwrap_or("")
                .to_string(),
        ),
        _ => ValueKind::Str(text.to_string()),
    };
    Value { kind, span }
}

impl Default for Date {
    fn default() -> Date {
        Date {
            year: 1970,
            month: 1,
            day: 1,
        }
    }
}

fn bad(span: Span, kind: &'static str, reason: String) -> Error {
    Error::BadLiteral { span, kind, reason }
}

fn weekday(text: &str) -> u8 {
    crate::ast::WEEKDAYS
        .iter()
        .position(|d| *d == text)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

/// Milliseconds of `1h30m`, `500ms`, `2d`; `None` on overflow.
pub fn duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('d') {
            (86_400_000, 1)
        } else {
            return None;
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = rest.get(len..)?;
    }
    Some(total)
}

fn time(text: &str, span: Span, errors: &mut Vec<Error>) -> u32 {
    let (h, m) = text.split_once(':').unwrap_or((text, "0"));
    let h: u32 = h.parse().unwrap_or(99);
    let m: u32 = m.parse().unwrap_or(99);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        errors.push(bad(
            span,
            "time of day",
            format!("`{text}` is not a time between 00:00 and 24:00"),
        ));
        return 0;
    }
    h * 60 + m
}

fn date(text: &str, span: Span, errors: &mut Vec<Error>) -> Date {
    let mut parts = text.split('-');
    let year: i16 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let month: u8 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let day: u8 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let as_i8 = |n: u8| i8::try_from(n).unwrap_or(0);
    if jiff::civil::Date::new(year, as_i8(month), as_i8(day)).is_err() {
        errors.push(bad(
            span,
            "date",
            format!("`{text}` is not a day of the calendar"),
        ));
    }
    Date { year, month, day }
}

fn unescape(text: &str) -> String {
    let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let code: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                if let Some(ch) = u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The spans of every expression in `stmts` and their bodies, in source order.
fn expr_spans(stmts: &[Stmt]) -> Vec<Span> {
    fn value(v: &Value, out: &mut Vec<Span>) {
        match &v.kind {
            ValueKind::Expr(_) => out.push(v.span),
            ValueKind::List(items) => items.iter().for_each(|item| value(item, out)),
            _ => {}
        }
    }
    fn walk(stmts: &[Stmt], out: &mut Vec<Span>) {
        for stmt in stmts {
            stmt.args.iter().for_each(|v| value(v, out));
            walk(stmt.children(), out);
        }
    }
    let mut out = Vec::new();
    walk(stmts, &mut out);
    out
}

/// Every `//` comment outside strings and the expressions at `exprs`, in order.
fn comments(text: &str, exprs: &[Span]) -> Vec<Comment> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    let mut exprs = exprs.iter().peekable();
    while let Some(&b) = bytes.get(i) {
        // Skip the expressions (in source order), which hold no comments.
        while exprs.next_if(|e| (e.end as usize) <= i).is_some() {}
        if let Some(expr) = exprs.peek().filter(|e| e.start as usize <= i) {
            i = expr.end as usize;
            continue;
        }
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            // The grammar's `COMMENT` stops at any `NEWLINE`, a lone `\r` included.
            let len = text.get(i..).and_then(|r| r.find(['\n', '\r']));
            let end = len.map_or(text.len(), |n| i + n);
            out.push(Comment {
                text: text.get(i + 2..end).unwrap_or("").to_string(),
                span: Span::new(i, end),
            });
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// The bytes of `text` that are code, with their offsets: strings and
/// comments are skipped, so brackets inside them do not count.
fn code_bytes(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    let mut in_comment = false;
    std::iter::from_fn(move || {
        while let Some(&b) = bytes.get(i) {
            let at = i;
            i += 1;
            if in_comment {
                in_comment = b != b'\n' && b != b'\r';
            } else if in_string {
                match b {
                    b'\\' => i += 1,
                    b'"' | b'\n' => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == b'/' && bytes.get(at + 1) == Some(&b'/') {
                in_comment = true;
            } else {
                return Some((at, b));
            }
        }
        None
    })
}

/// The first bracket nested deeper than [`MAX_NESTING`], outside strings and comments.
fn too_deep(text: &str) -> Option<Span> {
    let mut depth = 0usize;
    for (at, b) in code_bytes(text) {
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Span::new(at, at + 1));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Finds an unbalanced brace, the usual cause of a file that does not parse at all.
fn braces(text: &str) -> Option<Error> {
    let mut open: Vec<usize> = Vec::new();
    for (at, b) in code_bytes(text) {
        match b {
            b'{' => open.push(at),
            b'}' if open.pop().is_none() => {
                return Some(Error::Unmatched {
                    close: Span::new(at, at + 1),
                });
            }
            _ => {}
        }
    }
    open.pop().map(|at| Error::Unclosed {
        open: Span::new(at, at + 1),
    })
}
