//! A stable text form of an artifact, for golden tests and code review.
//!
//! The dump lists every table of the program and then the graph, one node per
//! line with its exits indented below it. Values are written the way the
//! language writes them (`5s`, `mon-fri`, `08:00-16:00`, `say "..."`) so that
//! a reviewer can match the dump against the flow source. It contains only
//! what is in the artifact, which holds no absolute path, no timestamp and no
//! map in hash order, so the same artifact always dumps to the same text.
//!
//! ```text
//! dialect artifact format 1, compiler 0.1.0
//! payload 980 bytes, sha256:36bd12d3…
//! campaign scheme2
//! ...
//! nodes (entry 0)
//!   0  answer   @ scheme2.flow:14
//!     next -> 1
//!   1  hours schedule=#0   @ scheme2.flow:15
//!     open -> 2
//!     closed -> 6
//! ```

use crate::encode::Header;
use crate::graph::{Exception, Node, Op, Program, Prompt, Schedule, Section, Settings, Value};
use std::fmt::{self, Display, Formatter, Write as _};

/// Renders an artifact's header and program as text.
///
/// The program need not be verified: an out-of-range index is shown as it is
/// (a source file as `source#9`) rather than failing, so that a broken
/// artifact can be inspected too.
pub fn dump(header: &Header, program: &Program) -> String {
    Dump { header, program }.to_string()
}

/// The artifact being rendered.
struct Dump<'a> {
    /// Its header.
    header: &'a Header,
    /// Its program.
    program: &'a Program,
}

impl Display for Dump<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (header, program) = (self.header, self.program);
        writeln!(
            f,
            "dialect artifact format {}, compiler {}",
            header.format_version,
            Bare(&header.compiler_version)
        )?;
        writeln!(f, "payload {} bytes, {}", header.payload_len, header.hash)?;
        writeln!(f, "campaign {}", Bare(&program.name))?;
        writeln!(f, "numbers")?;
        for number in &program.numbers {
            writeln!(f, "  {}", Bare(number))?;
        }
        writeln!(f, "settings")?;
        settings(f, 1, &program.settings)?;
        writeln!(f, "sections")?;
        sections(f, &program.sections)?;
        writeln!(f, "decls")?;
        sections(f, &program.decls)?;
        writeln!(f, "schedules")?;
        for (index, schedule_) in program.schedules.iter().enumerate() {
            schedule(f, index, schedule_)?;
        }
        writeln!(f, "prompts")?;
        for (index, prompt) in program.prompts.iter().enumerate() {
            writeln!(f, "  #{index} {}", PromptText(prompt))?;
        }
        // Only built artifacts carry assets; the section is left out
        // otherwise.
        if !program.assets.is_empty() {
            writeln!(f, "assets")?;
            for asset in &program.assets {
                writeln!(
                    f,
                    "  {} sha256:{}",
                    Bare(&asset.path),
                    crate::assets::hex(&asset.sha256)
                )?;
            }
        }
        writeln!(f, "exprs")?;
        for (index, expr) in program.exprs.iter().enumerate() {
            writeln!(f, "  #{index} ({})", Escaped(expr))?;
        }
        writeln!(f, "sources")?;
        for (index, source) in program.sources.iter().enumerate() {
            writeln!(f, "  #{index} {}", Bare(source))?;
        }
        writeln!(f, "nodes (entry {})", program.entry)?;
        let width = program
            .nodes
            .len()
            .saturating_sub(1)
            .to_string()
            .len()
            .max(3);
        for (index, node_) in program.nodes.iter().enumerate() {
            node(f, program, width, index, node_)?;
        }
        Ok(())
    }
}

/// Writes settings one per line as `name = value`, in name order.
fn settings(f: &mut Formatter<'_>, depth: usize, settings: &Settings) -> fmt::Result {
    let indent = "  ".repeat(depth);
    for (name, value) in settings {
        writeln!(f, "{indent}{} = {}", Bare(name), ValueText(value))?;
    }
    Ok(())
}

/// Writes sections or declarations, each as `kind name` with its settings
/// below it.
fn sections(f: &mut Formatter<'_>, sections: &[Section]) -> fmt::Result {
    for section in sections {
        writeln!(f, "  {} {}", Bare(&section.kind), Bare(&section.name))?;
        settings(f, 2, &section.settings)?;
    }
    Ok(())
}

/// Writes a schedule with its weekly hours and exceptions, as in the source.
fn schedule(f: &mut Formatter<'_>, index: usize, schedule: &Schedule) -> fmt::Result {
    writeln!(
        f,
        "  #{index} {} zone {}",
        Bare(&schedule.name),
        Quoted(&schedule.zone)
    )?;
    for (days, start, end) in &schedule.weekly {
        writeln!(
            f,
            "    hours {} {}-{}",
            Days(*days),
            Minutes(*start),
            Minutes(*end)
        )?;
    }
    for exception in &schedule.exceptions {
        match exception {
            Exception::Closed { from, to, reason } => {
                write!(f, "    closed {}", Bare(from))?;
                if from != to {
                    write!(f, "..{}", Bare(to))?;
                }
                reason_suffix(f, reason.as_deref())?;
            }
            Exception::Open {
                date,
                start,
                end,
                reason,
            } => {
                write!(
                    f,
                    "    open {} {}-{}",
                    Bare(date),
                    Minutes(*start),
                    Minutes(*end)
                )?;
                reason_suffix(f, reason.as_deref())?;
            }
        }
    }
    Ok(())
}

/// Ends an exception's line with its reason, if it has one.
fn reason_suffix(f: &mut Formatter<'_>, reason: Option<&str>) -> fmt::Result {
    match reason {
        Some(reason) => writeln!(f, " {}", Quoted(reason)),
        None => writeln!(f),
    }
}

/// Writes a node line and its exits.
fn node(
    f: &mut Formatter<'_>,
    program: &Program,
    width: usize,
    index: usize,
    node: &Node,
) -> fmt::Result {
    write!(f, "{index:>width$}  {}", node.op.keyword())?;
    for (name, value) in params(&node.op, None) {
        write!(f, " {name}={value}")?;
    }
    let origin = &node.origin;
    match usize::try_from(origin.file)
        .ok()
        .and_then(|file| program.sources.get(file))
    {
        Some(source) => write!(f, "   @ {}:{}", Bare(source), origin.line)?,
        None => write!(f, "   @ source#{}:{}", origin.file, origin.line)?,
    }
    if let Some(label) = &origin.label {
        write!(f, " [{}]", Bare(label))?;
    }
    writeln!(f)?;
    let indent = " ".repeat(width + 1);
    for (exit, target) in &node.exits {
        writeln!(f, "{indent}{} -> {target}", Bare(exit))?;
    }
    Ok(())
}

/// The parameters of an op as `name=value` pairs, in declaration order, with
/// the prompts, expressions and schedules it refers to written out in full
/// (`prompt=play "prompts/menu.wav"`, not `prompt=#3`) and flags that are off
/// left out: what a reviewer compares between two versions, where table
/// indices mean nothing.
pub fn describe(program: &Program, op: &Op) -> Vec<(&'static str, String)> {
    // A flag that is off says nothing a reader needs (`voicemail`, not
    // `voicemail without_announcement=false`).
    params(op, Some(program))
        .into_iter()
        .filter(|(_, value)| value != "false")
        .collect()
}

/// A setting value written as in the source (`5m`, `mon-fri`, `"text"`).
pub fn value_text(value: &Value) -> String {
    ValueText(value).to_string()
}

/// A prompt written as in the source: `say "..."` or `play "..."`.
pub fn prompt_text(prompt: &Prompt) -> String {
    PromptText(prompt).to_string()
}

/// Milliseconds written as a duration of the language: `1h30m`, `5s`.
pub fn duration_text(ms: u64) -> String {
    Duration(ms).to_string()
}

/// The parameters of an op as `name=value` pairs, in declaration order,
/// leaving out options that are not set. Table indices are shown as `#n`, or
/// resolved through `program` when it is given.
fn params(op: &Op, program: Option<&Program>) -> Vec<(&'static str, String)> {
    let mut params = Params {
        pairs: Vec::new(),
        program,
    };
    match op {
        Op::Answer | Op::RouteIdentified | Op::NoRecordWindow | Op::NoSurvey | Op::Jump => {}
        Op::Play { prompt } => params.index("prompt", Some(*prompt)),
        Op::Menu {
            prompt,
            timeout_ms,
            retries,
            invalid_prompt,
            no_input_prompt,
        } => {
            params.index("prompt", *prompt);
            params.duration("timeout", Some(*timeout_ms));
            params.plain("retries", retries);
            params.index("invalid_prompt", *invalid_prompt);
            params.index("no_input_prompt", *no_input_prompt);
        }
        Op::Extension {
            prompt,
            digits,
            timeout_ms,
            retries,
        } => {
            params.index("prompt", *prompt);
            params.plain("digits", digits);
            params.duration("timeout", Some(*timeout_ms));
            params.plain("retries", retries);
        }
        Op::Hours { schedule } => params.index("schedule", Some(*schedule)),
        Op::RouteCaller { patterns } | Op::RouteDialled { patterns } => {
            params.plain("patterns", List(patterns));
        }
        Op::Authorise {
            source,
            url,
            prompt,
            timeout_ms,
        } => {
            params.plain("source", Bare(source));
            params.text("url", url.as_deref());
            params.index("prompt", *prompt);
            params.duration("timeout", Some(*timeout_ms));
        }
        Op::Ticket {
            prompt,
            digits,
            timeout_ms,
        } => {
            params.index("prompt", *prompt);
            params.plain("digits", digits);
            params.duration("timeout", Some(*timeout_ms));
        }
        Op::ApiLogin {
            url,
            user,
            secret,
            timeout_ms,
        } => {
            params.text("url", Some(url));
            params.text("user", user.as_deref());
            params.text("secret", secret.as_deref());
            params.duration("timeout", Some(*timeout_ms));
        }
        Op::ApiRequest {
            url,
            method,
            body,
            into,
            timeout_ms,
        } => {
            params.plain("method", Bare(method));
            params.text("url", Some(url));
            params.index("body", *body);
            params.plain("into", Bare(into));
            params.duration("timeout", Some(*timeout_ms));
        }
        Op::Condition { expr } | Op::Switch { expr } => params.index("expr", Some(*expr)),
        Op::Set { var, expr } => {
            params.plain("var", Bare(var));
            params.index("expr", Some(*expr));
        }
        Op::Queue {
            queue,
            max_wait_ms,
            entry_prompt,
            announce_every_ms,
        } => {
            params.plain("queue", Bare(queue));
            params.duration("max_wait", Some(*max_wait_ms));
            params.index("entry_prompt", *entry_prompt);
            params.duration("announce_every", *announce_every_ms);
        }
        Op::Priority { delta } => params.plain("delta", format_args!("{delta:+}")),
        Op::Overflow { limit } => params.plain("limit", limit),
        Op::Dial {
            number,
            timeout_ms,
            caller_id,
        } => {
            params.plain("number", Bare(number));
            params.duration("timeout", Some(*timeout_ms));
            if let Some(caller_id) = caller_id {
                params.plain("caller_id", Bare(caller_id));
            }
        }
        Op::Voicemail {
            greeting,
            without_announcement,
            email,
            max_length_ms,
        } => {
            params.index("greeting", *greeting);
            params.plain("without_announcement", without_announcement);
            params.text("email", email.as_deref());
            params.duration("max_length", Some(*max_length_ms));
        }
        Op::Callback {
            queue,
            prompt,
            delay_ms,
            reason,
        } => {
            if let Some(queue) = queue {
                params.plain("queue", Bare(queue));
            }
            params.index("prompt", *prompt);
            params.duration("delay", Some(*delay_ms));
            params.text("reason", reason.as_deref());
        }
        Op::Bot {
            bot,
            max_turns,
            timeout_ms,
        } => {
            params.plain("bot", Bare(bot));
            params.plain("max_turns", max_turns);
            params.duration("timeout", Some(*timeout_ms));
        }
        Op::Hangup { reason } => params.text("reason", reason.as_deref()),
    }
    params.pairs
}

/// The `name=value` pairs of an op, collected in order.
struct Params<'a> {
    /// The pairs so far.
    pairs: Vec<(&'static str, String)>,
    /// The program whose tables indices are resolved in, if any.
    program: Option<&'a Program>,
}

impl Params<'_> {
    /// A value shown as it displays.
    fn plain(&mut self, name: &'static str, value: impl Display) {
        self.pairs.push((name, value.to_string()));
    }

    /// An index into a program table: `#n`, or the entry it names when the
    /// program is known (an index out of range stays `#n`).
    fn index(&mut self, name: &'static str, index: Option<u32>) {
        let Some(index) = index else { return };
        let at = usize::try_from(index).ok();
        let resolved = self.program.and_then(|program| {
            let at = at?;
            match name {
                "expr" | "body" => program
                    .exprs
                    .get(at)
                    .map(|expr| format!("({})", Escaped(expr))),
                "schedule" => program
                    .schedules
                    .get(at)
                    .map(|schedule| Bare(&schedule.name).to_string()),
                _ => program.prompts.get(at).map(prompt_text),
            }
        });
        match resolved {
            Some(text) => self.plain(name, text),
            None => self.plain(name, format_args!("#{index}")),
        }
    }

    /// A duration in milliseconds, as the language writes it.
    fn duration(&mut self, name: &'static str, ms: Option<u64>) {
        if let Some(ms) = ms {
            self.plain(name, Duration(ms));
        }
    }

    /// Free text, quoted.
    fn text(&mut self, name: &'static str, text: Option<&str>) {
        if let Some(text) = text {
            self.plain(name, Quoted(text));
        }
    }
}

/// A setting value, written as in the source where the language has a form
/// for it.
struct ValueText<'a>(&'a Value);

impl Display for ValueText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Decimal(value)
            | Value::Word(value)
            | Value::Date(value)
            | Value::Phone(value) => {
                write!(f, "{}", Bare(value))
            }
            Value::Text(value) => write!(f, "{}", Quoted(value)),
            Value::Duration(ms) => write!(f, "{}", Duration(*ms)),
            Value::TimeRange(start, end) => write!(f, "{}-{}", Minutes(*start), Minutes(*end)),
            Value::Days(days) => write!(f, "{}", Days(*days)),
            Value::DateRange(from, to) => write!(f, "{}..{}", Bare(from), Bare(to)),
            Value::Percent(hundredths) => write!(f, "{}", Percent(*hundredths)),
            Value::Prompt(index) => write!(f, "prompt #{index}"),
            Value::Expr(index) => write!(f, "expr #{index}"),
            Value::Ref(kind, name) => write!(f, "{} {}", Bare(kind), Bare(name)),
            Value::List(values) => {
                f.write_char('[')?;
                for (position, value) in values.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", ValueText(value))?;
                }
                f.write_char(']')
            }
        }
    }
}

/// A prompt as the language writes it: `say "..."` or `play "..."`.
struct PromptText<'a>(&'a Prompt);

impl Display for PromptText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Prompt::Say {
                text,
                language: None,
            } => write!(f, "say {}", Quoted(text)),
            Prompt::Say {
                text,
                language: Some(language),
            } => {
                write!(f, "say {} language={}", Quoted(text), Bare(language))
            }
            Prompt::Play { path } => write!(f, "play {}", Quoted(path)),
        }
    }
}

/// A list of words, as `[a, b]`.
struct List<'a>(&'a [String]);

impl Display for List<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (position, item) in self.0.iter().enumerate() {
            if position > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Bare(item))?;
        }
        f.write_char(']')
    }
}

/// Milliseconds as the language writes a duration: `1h30m`, `5s`, `250ms`.
struct Duration(u64);

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 5] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
            (1, "ms"),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (size, unit) in UNITS {
            let count = rest / size;
            if count > 0 {
                write!(f, "{count}{unit}")?;
            }
            rest %= size;
        }
        Ok(())
    }
}

/// Minutes after midnight as `HH:MM`; 1440 is `24:00`.
struct Minutes(u32);

impl Display for Minutes {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Hundredths of a percent as `80%` or `12.5%`.
struct Percent(u32);

impl Display for Percent {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            _ if hundredths % 10 == 0 => write!(f, "{whole}.{}%", hundredths / 10),
            _ => write!(f, "{whole}.{hundredths:02}%"),
        }
    }
}

/// A weekday bit set as the language writes it: `sat`, `mon-fri`,
/// `[mon, wed, fri]`.
struct Days(u8);

impl Display for Days {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days = self.0;
        if days & 0x80 != 0 {
            // Bit 7 is no weekday; show the raw set rather than hide the bit.
            return write!(f, "days({days:#04x})");
        }
        if days == 0 {
            return f.write_str("[]");
        }
        let first = days.trailing_zeros();
        let run = (days >> first).trailing_ones();
        let named = |bit: u32| {
            usize::try_from(bit)
                .ok()
                .and_then(|bit| NAMES.get(bit))
                .copied()
        };
        let contiguous = days >> first >> run == 0;
        match (contiguous, named(first), named(first + run - 1)) {
            (true, Some(from), Some(to)) if run == 1 || from == to => f.write_str(from),
            (true, Some(from), Some(to)) => write!(f, "{from}-{to}"),
            _ => {
                let names: Vec<&str> = (0..7)
                    .filter(|bit| days & (1 << bit) != 0)
                    .filter_map(named)
                    .collect();
                write!(f, "[{}]", names.join(", "))
            }
        }
    }
}

/// A name or word, written bare unless it would break the line or be
/// mistaken for something else, in which case it is quoted.
struct Bare<'a>(&'a str);

impl Display for Bare<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && !self
                .0
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "\"[],".contains(c));
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "{}", Quoted(self.0))
        }
    }
}

/// Text in double quotes, with the language's escapes.
struct Quoted<'a>(&'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                _ => write!(f, "{}", EscapedChar(c))?,
            }
        }
        f.write_char('"')
    }
}

/// Text written as is, except that control characters are escaped so that
/// it stays on one line.
struct Escaped<'a>(&'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.0
            .chars()
            .try_for_each(|c| write!(f, "{}", EscapedChar(c)))
    }
}

/// One character, escaped if it is a control character.
struct EscapedChar(char);

impl Display for EscapedChar {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            '\n' => f.write_str("\\n"),
            '\t' => f.write_str("\\t"),
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c)),
            c => f.write_char(c),
        }
    }
}
