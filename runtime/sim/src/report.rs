//! What people and CI read: a line per scenario, the details of a failure
//! (expected and actual values, the call's trace, and a diagnostic pointing
//! at the flow's block where the call went another way), JUnit XML, and the
//! coverage of every exit of every block.

use crate::run::{Failure, Place, Run, Suite};
use dialect_bytecode::Op;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write};

/// One scenario's outcome with where the scenario came from.
#[derive(Clone, Debug)]
pub struct Tested {
    /// The scenario file, as found.
    pub file: String,
    /// The scenario's name.
    pub name: String,
    /// The scenario's line in its file.
    pub line: usize,
    /// What happened.
    pub run: Run,
}

/// The line printed for every scenario: `ok` or `FAILED`, its name, its file.
pub fn line(tested: &Tested) -> String {
    let status = if tested.run.passed() { "ok" } else { "FAILED" };
    format!(
        "{status:<6} {} ({}:{})",
        tested.name, tested.file, tested.line
    )
}

/// The summary line CI reads: `N passed, M failed`.
pub fn summary(results: &[Tested]) -> String {
    let failed = results.iter().filter(|t| !t.run.passed()).count();
    format!("{} passed, {failed} failed", results.len() - failed)
}

/// Everything about a failed scenario: each expectation that did not hold
/// with the expected and the actual value, the whole trace of the call, and
/// one diagnostic per failure pointing at the block where the call departed
/// from what was expected. Empty for a scenario that passed.
pub fn details(tested: &Tested, suite: &Suite, colour: bool) -> String {
    if tested.run.passed() {
        return String::new();
    }
    let mut out = format!(
        "--- scenario \"{}\" ({}:{})\n",
        tested.name, tested.file, tested.line
    );
    out.push_str(&expectations(&tested.run.failures));
    out.push_str(&trace(&tested.run));
    for failure in &tested.run.failures {
        out.push('\n');
        out.push_str(&diagnostic(tested, failure, suite, colour));
    }
    out
}

/// The expectations that did not hold, with expected and actual values.
pub fn expectations(failures: &[Failure]) -> String {
    let mut out = String::new();
    for f in failures {
        let _ = writeln!(out, "  {}:", f.expectation);
        let _ = writeln!(out, "    expected: {}", f.expected);
        let _ = writeln!(out, "    actual:   {}", f.actual);
    }
    out
}

/// The call's trace, one line per command or input.
pub fn trace(run: &Run) -> String {
    let mut out = match &run.campaign {
        Some(c) => format!("  actual trace (campaign {c}):\n"),
        None => "  actual trace:\n".to_string(),
    };
    for line in &run.trace {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// A failure drawn as a miette diagnostic on the flow's source, or a plain
/// line when the failure has no place in a flow.
fn diagnostic(tested: &Tested, failure: &Failure, suite: &Suite, colour: bool) -> String {
    let message = format!(
        "scenario \"{}\": `{}` is not as expected",
        tested.name, failure.expectation
    );
    let Some((place, file)) = failure
        .at
        .as_ref()
        .and_then(|p| suite.file(&p.file).map(|f| (p, f)))
    else {
        return format!("  error: {message}\n");
    };
    let report = Departure {
        message,
        label: failure.label.clone(),
        help: format!(
            "the scenario is at {}:{}; the trace above shows every command of the call",
            tested.file, tested.line
        ),
        source: miette::NamedSource::new(file.path.clone(), file.text.clone()),
        span: span(place),
    };
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("  error: {} at {place}\n", report.message);
    }
    out
}

fn span(place: &Place) -> miette::SourceSpan {
    let start = place.start as usize;
    let len = place.end.saturating_sub(place.start) as usize;
    (start, len).into()
}

/// A scenario's departure from its expectations, on the flow's source.
#[derive(Debug)]
struct Departure {
    message: String,
    label: String,
    help: String,
    source: miette::NamedSource<String>,
    span: miette::SourceSpan,
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Departure {}

impl miette::Diagnostic for Departure {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let text = (!self.label.is_empty()).then(|| self.label.clone());
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_primary_with_span(text, self.span),
        )))
    }
}

/// JUnit XML: a `testsuite` per scenario file, a `testcase` per scenario;
/// a failed one carries a `failure` with the expectations, and every one
/// its trace in `system-out`.
pub fn junit(results: &[Tested]) -> String {
    let mut files: BTreeMap<&str, Vec<&Tested>> = BTreeMap::new();
    for t in results {
        files.entry(t.file.as_str()).or_default().push(t);
    }
    let failed = |ts: &[&Tested]| ts.iter().filter(|t| !t.run.passed()).count();
    let all: Vec<&Tested> = results.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"dialect test\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
        all.len(),
        failed(&all)
    );
    for (file, tests) in &files {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
            escape(file),
            tests.len(),
            failed(tests)
        );
        for t in tests {
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\">",
                escape(&t.name),
                escape(file),
                escape(file),
                t.line
            );
            if let Some(first) = t.run.failures.first() {
                let message = format!(
                    "{}: expected {}, got {}",
                    first.expectation, first.expected, first.actual
                );
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                    escape(&message),
                    escape(&expectations(&t.run.failures))
                );
            }
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                escape(&trace(&t.run))
            );
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot
/// hold at all become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Which exits of which blocks the scenarios took, per campaign.
#[derive(Clone, Debug)]
pub struct Coverage {
    campaigns: BTreeMap<String, Campaign>,
}

#[derive(Clone, Debug)]
struct Campaign {
    /// Every exit: (node, exit index) and how to name it.
    exits: BTreeMap<(u32, u32), String>,
    taken: BTreeSet<(u32, u32)>,
    scenarios: usize,
}

impl Coverage {
    /// Every exit of every block of every campaign of the suite, none taken.
    /// A `hangup` block (including the one that ends every IVR) has no exits;
    /// it counts as one, `end`, taken when a call ends there.
    pub fn new(suite: &Suite) -> Coverage {
        let mut campaigns = BTreeMap::new();
        for flow in suite.flows() {
            let program = &flow.program;
            let mut exits = BTreeMap::new();
            for (i, node) in program.nodes.iter().enumerate() {
                let id = u32::try_from(i).unwrap_or(u32::MAX);
                let at = suite.place(program, id).map_or_else(
                    || format!("node {id}"),
                    |p| format!("{}:{}", p.path, p.line),
                );
                let block = node.op.keyword();
                if let Op::Hangup { reason } = &node.op {
                    let implicit = match reason.as_deref() {
                        Some("end of IVR") => " (the end of the IVR)",
                        _ => "",
                    };
                    exits.insert((id, 0), format!("{at} {block} end{implicit}"));
                }
                for (e, (name, _)) in node.exits.iter().enumerate() {
                    let e = u32::try_from(e).unwrap_or(u32::MAX);
                    exits.insert((id, e), format!("{at} {block} {name}"));
                }
            }
            campaigns.insert(
                program.name.clone(),
                Campaign {
                    exits,
                    taken: BTreeSet::new(),
                    scenarios: 0,
                },
            );
        }
        Coverage { campaigns }
    }

    /// Marks the exits a scenario's call took.
    pub fn add(&mut self, run: &Run) {
        let Some(campaign) = run
            .campaign
            .as_ref()
            .and_then(|c| self.campaigns.get_mut(c))
        else {
            return;
        };
        campaign.scenarios += 1;
        for exit in &run.taken {
            if campaign.exits.contains_key(exit) {
                campaign.taken.insert(*exit);
            }
        }
    }

    /// Exits taken and exits in all, over every campaign.
    pub fn total(&self) -> (usize, usize) {
        self.campaigns
            .values()
            .fold((0, 0), |(t, a), c| (t + c.taken.len(), a + c.exits.len()))
    }

    /// The share of exits taken, in percent (100 when there are none).
    pub fn percent(&self) -> f64 {
        percent(self.total())
    }

    /// Whether at least `min` percent of all exits were taken.
    pub fn reaches(&self, min: f64) -> bool {
        let (taken, all) = self.total();
        all == 0 || (taken as f64) * 100.0 >= min * (all as f64)
    }

    /// The coverage table: per campaign the exits taken, all exits, the
    /// percentage, and every exit never taken as `file:line block exit`.
    pub fn render(&self) -> String {
        let width = self
            .campaigns
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = String::from("coverage (exits taken / all exits of every block):\n");
        for (name, c) in &self.campaigns {
            let counts = (c.taken.len(), c.exits.len());
            let _ = write!(
                out,
                "  {name:<width$}  {:>4}/{:<4} {:>6.1}%",
                counts.0,
                counts.1,
                percent(counts)
            );
            if c.scenarios == 0 {
                out.push_str("  no scenario calls it\n");
                continue;
            }
            out.push('\n');
            for (exit, label) in &c.exits {
                if !c.taken.contains(exit) {
                    let _ = writeln!(out, "      not taken: {label}");
                }
            }
        }
        let total = self.total();
        let _ = writeln!(
            out,
            "  {:<width$}  {:>4}/{:<4} {:>6.1}%",
            "total",
            total.0,
            total.1,
            percent(total)
        );
        out
    }
}

fn percent((taken, all): (usize, usize)) -> f64 {
    if all == 0 {
        100.0
    } else {
        (taken as f64) * 100.0 / (all as f64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn xml_escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}\n"
        );
        assert_eq!(escape("Dzień dobry"), "Dzień dobry");
    }
}
