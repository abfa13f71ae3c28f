//! The canonical printer: a syntax tree back to text, with its comments.
//!
//! `dialect fmt` is `print(&parse(text).0, text)`. The layout is fixed: two
//! spaces of indentation, one statement per line, values in their canonical
//! literal form. The source text is only consulted for what the tree does not
//! hold: where the comments stood and where blank lines separated statements.
//! Printing is idempotent, and parsing the output gives back the same tree
//! apart from spans (`tests/syntax.rs` checks both).
//!
//! A short body stays on its header's line, its statements separated by `; `:
//!
//! ```text
//! skill sales { description "Sales" }
//! on timeout { goto main_menu }
//! on busy { play "prompts/busy.wav"; hangup }
//! field pesel { type pesel; editable true; required false }
//! ```
//!
//! when all of these hold, and otherwise it goes one statement a line:
//!
//! - it holds at least one statement and at most [`TOP_LINE`] (1) for a
//!   top-level item, [`ARM_LINE`] (2) for an exit arm (a statement headed
//!   `on`: named exits, a `menu`'s keys, a `switch`'s values and `else` are
//!   all written so; the schema has no other arm form), or [`BODY_LINE`] (3)
//!   for any other body;
//! - none of its statements has a body of its own, not even `{}`;
//! - no comment stands anywhere between its braces (a comment after the
//!   closing brace trails the line as usual and does not count);
//! - no value in the statement or its body is a rhai expression with a line
//!   break in it;
//! - the whole line, indentation and closing brace included, is at most
//!   [`WIDTH`] characters (so no list in it is broken over lines either).
//!
//! The numbers are those of the repository's flows: an arm is an action and
//! where to go next (`play` then `hangup` or `goto`), and a third step on the
//! line hides the control flow; settings read like a record, and the flows
//! write fields and variables with three on one line; a top-level declaration
//! stands apart as a block unless it holds a single setting. The decision
//! reads only the tree and the comments, never how the source was laid out,
//! so printing stays idempotent. An empty body prints as ` {}`.

use crate::ast::{Body, Comment, File, Param, Span, Stmt, Value, ValueKind, WEEKDAYS, join_path};
use std::fmt::Write as _;

/// The width past which a statement's lists are written one item a line and
/// a body is not kept on its header's line (the `max_width` of the
/// repository's `rustfmt.toml`).
pub const WIDTH: usize = 100;

/// The most statements a top-level item's body holds on one line:
/// `skill sales { description "Sales" }`.
pub const TOP_LINE: usize = 1;

/// The most statements an exit arm (`on ...`) holds on one line:
/// `on busy { play "prompts/busy.wav"; hangup }`.
pub const ARM_LINE: usize = 2;

/// The most statements any other body holds on one line:
/// `field pesel { type pesel; editable true; required false }`.
pub const BODY_LINE: usize = 3;

/// The head word of an exit arm.
const ARM: &str = "on";

/// Prints `file` in the canonical layout.
///
/// `source` is the text the tree was parsed from; comments are put back where
/// their spans say, and one blank line is kept wherever the source had one or
/// more between two statements. A tree built by hand prints with `""`.
pub fn print(file: &File, source: &str) -> String {
    let mut exprs = Vec::new();
    for stmt in &file.items {
        expr_spans(stmt, &mut exprs);
    }
    // A `//` inside a rhai expression belongs to the expression's text (`parse`
    // reports no such comment; a tree built otherwise might).
    let mut comments: Vec<&Comment> = file
        .comments
        .iter()
        .filter(|c| {
            !exprs
                .iter()
                .any(|&(s, e)| s <= c.span.start && c.span.start < e)
        })
        .collect();
    comments.sort_by_key(|c| c.span.start);
    let mut printer = Printer {
        source,
        comments,
        next: 0,
        out: String::new(),
    };
    printer.stmts(&file.items, 0, u32::MAX, true);
    printer.out
}

/// The canonical text of one value: `"a\"b"`, `1h30m`, `08:00-16:00`, `[a, b]`, ...
pub fn value(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, &value.kind);
    out
}

struct Printer<'a> {
    source: &'a str,
    /// The comments still to place, in source order.
    comments: Vec<&'a Comment>,
    /// The first comment not yet printed.
    next: usize,
    out: String,
}

impl<'a> Printer<'a> {
    /// Prints a sequence of statements: a body at `depth`, or the file when `top`.
    /// `limit` is where the enclosing body ends; comments after it are not ours.
    fn stmts(&mut self, stmts: &[Stmt], depth: usize, limit: u32, top: bool) {
        // Where the previous line printed ended in the source; `None` at the
        // start of the body, where no blank line is ever printed.
        let mut prev_end: Option<u32> = None;
        // Whether the previous statement's body went over several lines.
        let mut prev_spread = false;
        for (i, stmt) in stmts.iter().enumerate() {
            let line = self.one_line(stmt, depth, top);
            let spread = stmt.body.is_some() && line.is_none();
            // Top-level declarations whose body takes several lines stand apart
            // from their neighbours.
            let force = top && i > 0 && (spread || prev_spread);
            prev_spread = spread;
            let header_end = stmt.body.as_ref().map_or(stmt.span.end, |b| b.span.start);
            let broken = breaks(stmt, depth, top);
            // Comments before the statement, and those inside a list or parameters
            // that print on one line, stand before it. A list printed one item a
            // line keeps its own.
            let bound = broken.map_or(header_end, |(list, _)| list.min(header_end));
            let mut first = true;
            while let Some(comment) = self.take(bound.min(limit)) {
                // Line breaks inside the statement are not blank lines between statements.
                let start = (comment.span.start <= stmt.span.start).then_some(comment.span.start);
                self.gap(prev_end, start, first && force);
                self.own_line(comment, depth);
                prev_end = Some(comment.span.end);
                first = false;
            }
            self.gap(prev_end, Some(stmt.span.start), first && force);
            self.indent(depth);
            self.header(stmt, top, broken.map(|(_, depth)| depth));
            match (&stmt.body, line) {
                (Some(_), Some(line)) => self.out.push_str(&line),
                (Some(body), None) => self.body(body, depth),
                (None, _) => {}
            }
            prev_end = Some(stmt.span.end);
            let next = stmts.get(i + 1).map_or(limit, |s| s.span.start.min(limit));
            if let Some(comment) = self.trailing(stmt.span.end, next) {
                self.out.push(' ');
                self.comment(comment);
                prev_end = Some(comment.span.end);
            }
            self.out.push('\n');
        }
        // Comments after the last statement, before the closing brace.
        while let Some(comment) = self.take(limit) {
            self.gap(prev_end, Some(comment.span.start), false);
            self.own_line(comment, depth);
            prev_end = Some(comment.span.end);
        }
    }

    /// The body of `stmt`, printed at `depth`, as it goes on the header's line
    /// (` { a; b }`) if the rule of the module documentation allows it.
    fn one_line(&self, stmt: &Stmt, depth: usize, top: bool) -> Option<String> {
        let body = stmt.body.as_ref()?;
        let most = if top {
            TOP_LINE
        } else if stmt.head.name == ARM {
            ARM_LINE
        } else {
            BODY_LINE
        };
        let mut values = stmt
            .args
            .iter()
            .chain(body.stmts.iter().flat_map(|s| &s.args));
        if body.stmts.is_empty()
            || body.stmts.len() > most
            || body.stmts.iter().any(|s| s.body.is_some())
            || values.any(multi_line)
            || self.comment_within(body.span)
        {
            return None;
        }
        let mut line = Printer::scratch();
        line.header(stmt, top, None);
        let header = line.out.chars().count();
        line.out.clear();
        line.out.push_str(" {");
        for (i, child) in body.stmts.iter().enumerate() {
            line.out.push_str(if i == 0 { " " } else { "; " });
            line.header(child, false, None);
        }
        line.out.push_str(" }");
        (2 * depth + header + line.out.chars().count() <= WIDTH).then_some(line.out)
    }

    /// Whether a comment starts strictly between the ends of `span`, among all
    /// the comments, printed or not.
    fn comment_within(&self, span: Span) -> bool {
        let after = self
            .comments
            .partition_point(|c| c.span.start <= span.start);
        self.comments
            .get(after)
            .is_some_and(|c| c.span.start < span.end)
    }

    /// Prints ` {`, the statements and the closing `}` (or ` {}` when there is nothing inside).
    fn body(&mut self, body: &Body, depth: usize) {
        let first = body.stmts.first().map_or(body.span.end, |s| s.span.start);
        let open = self.trailing(body.span.start, first);
        if body.stmts.is_empty() && open.is_none() && self.peek(body.span.end).is_none() {
            self.out.push_str(" {}");
            return;
        }
        self.out.push_str(" {");
        if let Some(comment) = open {
            self.out.push(' ');
            self.comment(comment);
        }
        self.out.push('\n');
        self.stmts(&body.stmts, depth + 1, body.span.end, false);
        self.indent(depth);
        self.out.push('}');
    }

    /// Prints what precedes the body: `label: head arg arg`, or a special form of
    /// the top level. With `broken`, the statement's depth, lists among the
    /// arguments go one item a line, with the comments inside them.
    fn header(&mut self, stmt: &Stmt, top: bool, broken: Option<usize>) {
        if top && stmt.label.is_none() && self.top_level_form(stmt, broken) {
            return;
        }
        if let Some(label) = &stmt.label {
            self.out.push_str(&label.name);
            self.out.push_str(": ");
        }
        self.out.push_str(&stmt.head.name);
        for arg in &stmt.args {
            self.out.push(' ');
            self.arg(arg, broken);
        }
        if !stmt.params.is_empty() {
            write_params(&mut self.out, &stmt.params);
        }
    }

    /// Prints `import "x" as y`, `const x = v` or `flow f(a: t)` if the statement
    /// is one of these; a statement with the same tree parses from that text.
    fn top_level_form(&mut self, stmt: &Stmt, broken: Option<usize>) -> bool {
        let name = |value: &Value| value.as_ident().map(|ident| ident.name.clone());
        let path = stmt
            .args
            .first()
            .filter(|v| matches!(v.kind, ValueKind::Str(_)));
        let plain = stmt.params.is_empty();
        match (
            stmt.head.name.as_str(),
            stmt.args.as_slice(),
            &stmt.body,
            path,
        ) {
            ("import", [_], None, Some(path)) if plain => {
                self.out.push_str("import ");
                write_value(&mut self.out, &path.kind);
            }
            ("import", [_, alias], None, Some(path)) if plain => {
                let Some(alias) = name(alias) else {
                    return false;
                };
                self.out.push_str("import ");
                write_value(&mut self.out, &path.kind);
                self.out.push_str(" as ");
                self.out.push_str(&alias);
            }
            ("const", [constant, value], None, _) if plain => {
                let Some(constant) = name(constant) else {
                    return false;
                };
                self.out.push_str("const ");
                self.out.push_str(&constant);
                self.out.push_str(" = ");
                self.arg(value, broken);
            }
            ("flow", [flow], Some(_), _) => {
                let Some(flow) = name(flow) else { return false };
                self.out.push_str("flow ");
                self.out.push_str(&flow);
                write_params(&mut self.out, &stmt.params);
            }
            _ => return false,
        }
        true
    }

    /// Prints an argument; a list one item a line if `broken` gives the depth.
    fn arg(&mut self, arg: &Value, broken: Option<usize>) {
        match (&arg.kind, broken) {
            (ValueKind::List(items), Some(depth)) if !items.is_empty() => {
                self.list(items, arg.span, depth);
            }
            (kind, _) => write_value(&mut self.out, kind),
        }
    }

    /// Prints a list one item a line, each followed by a comma. A comment after
    /// `[` or after an item on its line stays there; the others (those inside
    /// an item too) go on lines of their own before the next item.
    fn list(&mut self, items: &[Value], span: Span, depth: usize) {
        self.out.push('[');
        let first = items.first().map_or(span.end, |item| item.span.start);
        if let Some(comment) = self.trailing(span.start, first) {
            self.out.push(' ');
            self.comment(comment);
        }
        self.out.push('\n');
        for (i, item) in items.iter().enumerate() {
            while let Some(comment) = self.take(item.span.end) {
                self.own_line(comment, depth + 1);
            }
            self.indent(depth + 1);
            write_value(&mut self.out, &item.kind);
            self.out.push(',');
            let next = items.get(i + 1).map_or(span.end, |next| next.span.start);
            if let Some(comment) = self.trailing(item.span.end, next) {
                self.out.push(' ');
                self.comment(comment);
            }
            self.out.push('\n');
        }
        while let Some(comment) = self.take(span.end) {
            self.own_line(comment, depth + 1);
        }
        self.indent(depth);
        self.out.push(']');
    }

    /// The next comment, if it starts before `bound`.
    fn peek(&self, bound: u32) -> Option<&'a Comment> {
        self.comments
            .get(self.next)
            .copied()
            .filter(|c| c.span.start < bound)
    }

    /// Takes the next comment if it starts before `bound`.
    fn take(&mut self, bound: u32) -> Option<&'a Comment> {
        let comment = self.peek(bound)?;
        self.next += 1;
        Some(comment)
    }

    /// Takes the next comment if it stands on the line that ends at `end`, before `bound`.
    fn trailing(&mut self, end: u32, bound: u32) -> Option<&'a Comment> {
        let comment = self.peek(bound)?;
        let between = self.source.get(end as usize..comment.span.start as usize)?;
        if line_breaks(between) > 0 {
            return None;
        }
        self.next += 1;
        Some(comment)
    }

    /// Prints a blank line between the previous line (which ended at `prev` in the
    /// source) and the next, if asked to or if the source had one before `start`.
    /// Nothing at the start of a body (`prev` is `None`).
    fn gap(&mut self, prev: Option<u32>, start: Option<u32>, force: bool) {
        let Some(prev) = prev else { return };
        let blank = start
            .and_then(|start| self.source.get(prev as usize..start as usize))
            .is_some_and(|between| line_breaks(between) > 1);
        if force || blank {
            self.out.push('\n');
        }
    }

    /// A printer without source or comments, to measure or build one line.
    fn scratch() -> Printer<'static> {
        Printer {
            source: "",
            comments: Vec::new(),
            next: 0,
            out: String::new(),
        }
    }

    fn own_line(&mut self, comment: &Comment, depth: usize) {
        self.indent(depth);
        self.comment(comment);
        self.out.push('\n');
    }

    fn comment(&mut self, comment: &Comment) {
        self.out.push_str("//");
        self.out.push_str(comment.text.trim_end());
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }
}

/// Line breaks as the grammar counts them: `\n`, `\r\n` or a lone `\r`.
fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// Whether a value prints on more than one line: a rhai expression with a
/// line break in it, or a list holding one. (Strings print their line breaks
/// as `\n`.)
fn multi_line(value: &Value) -> bool {
    match &value.kind {
        ValueKind::Expr(text) => text.contains(['\n', '\r']),
        ValueKind::List(items) => items.iter().any(multi_line),
        _ => false,
    }
}

/// The spans of every expression in a statement and below it.
fn expr_spans(stmt: &Stmt, out: &mut Vec<(u32, u32)>) {
    fn walk(value: &Value, out: &mut Vec<(u32, u32)>) {
        match &value.kind {
            ValueKind::Expr(_) => out.push((value.span.start, value.span.end)),
            ValueKind::List(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    stmt.args.iter().for_each(|v| walk(v, out));
    for child in stmt.children() {
        expr_spans(child, out);
    }
}

/// Whether the statement's lists go one item a line: only when its header
/// would be wider than [`WIDTH`] on one line. Returns where the first such
/// list starts, and the depth to break them at.
fn breaks(stmt: &Stmt, depth: usize, top: bool) -> Option<(u32, usize)> {
    let list = stmt
        .args
        .iter()
        .find(|arg| matches!(&arg.kind, ValueKind::List(items) if !items.is_empty()))?;
    let mut line = Printer::scratch();
    line.header(stmt, top, None);
    (2 * depth + line.out.chars().count() > WIDTH).then_some((list.span.start, depth))
}

fn write_params(out: &mut String, params: &[Param]) {
    out.push('(');
    for (i, param) in params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&param.name.name);
        out.push_str(": ");
        out.push_str(&param.ty.name);
    }
    out.push(')');
}

fn write_value(out: &mut String, kind: &ValueKind) {
    match kind {
        ValueKind::Str(text) => write_string(out, text),
        ValueKind::Number(text) | ValueKind::Decimal(text) => out.push_str(text),
        ValueKind::Percent(text) => {
            out.push_str(text);
            out.push('%');
        }
        ValueKind::Duration(ms) => write_duration(out, *ms),
        ValueKind::Time(minutes) => write_time(out, *minutes),
        ValueKind::TimeRange(start, end) => {
            write_time(out, *start);
            out.push('-');
            write_time(out, *end);
        }
        ValueKind::Date(date) => {
            let _ = write!(out, "{date}");
        }
        ValueKind::DateRange(first, last) => {
            let _ = write!(out, "{first}..{last}");
        }
        ValueKind::DayRange(first, last) => {
            out.push_str(weekday(*first));
            out.push('-');
            out.push_str(weekday(*last));
        }
        ValueKind::Key(key) => out.push(*key),
        ValueKind::Path(parts) => out.push_str(&join_path(parts)),
        ValueKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, &item.kind);
            }
            out.push(']');
        }
        ValueKind::Expr(text) => {
            out.push('(');
            out.push_str(text);
            out.push(')');
        }
    }
}

fn weekday(day: u8) -> &'static str {
    WEEKDAYS.get(usize::from(day)).copied().unwrap_or("mon")
}

/// `"text"` with the escapes the grammar knows; other control characters as `\u{..}`.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `1h30m`, `500ms`, `2d`: the largest units first, `0s` for nothing.
fn write_duration(out: &mut String, ms: u64) {
    const UNITS: [(&str, u64); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if ms == 0 {
        out.push_str("0s");
        return;
    }
    let mut rest = ms;
    for (unit, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
            rest -= n * size;
        }
    }
}

/// `08:00`: minutes after midnight as hours and minutes.
fn write_time(out: &mut String, minutes: u32) {
    let _ = write!(out, "{:02}:{:02}", minutes / 60, minutes % 60);
}
