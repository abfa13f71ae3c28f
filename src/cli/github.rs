//! `dialect check --format github`: GitHub Actions workflow commands, one
//! `::error` or `::warning` line per diagnostic, which the runner turns
//! into annotations on the pull request's files.
//!
//! Escaping follows GitHub's actions toolkit (`@actions/core`, `command.ts`):
//! in the message `%`, `\r` and `\n` become `%25`, `%0D` and `%0A`; in
//! property values `:` and `,` also become `%3A` and `%2C`.

use super::check::{Place, place};
use dialect_compiler::diagnostic::{Diagnostic, Severity};
use std::fmt::Write;
use std::path::Path;

/// Escapes a command's message (its data, after `::`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=...`, `title=...`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command per diagnostic and per file that could not be read.
/// Lines and columns are 1-based; columns count characters, the end column
/// one past the last character, as in `--format json`.
pub fn annotations(diagnostics: &[Diagnostic], io_errors: &[String], cwd: Option<&Path>) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let file = match place(&d.path, cwd) {
            Place::Relative(rel) => rel,
            Place::Absolute(abs) => abs.display().to_string(),
        };
        let span = d.span();
        let (line, col) = d.line_col(span.start);
        let (end_line, end_column) = d.line_col(span.end.max(span.start));
        let message = match &d.help {
            Some(help) => format!("{}\nhelp: {help}", d.message),
            None => d.message.clone(),
        };
        let _ = writeln!(
            out,
            "::{command} file={},line={line},col={col},endLine={end_line},endColumn={end_column},title={}::{}",
            escape_property(&file),
            escape_property(d.code),
            escape_data(&message),
        );
    }
    for e in io_errors {
        let _ = writeln!(out, "::error::{}", escape_data(e));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn data_and_properties_are_escaped_as_the_toolkit_does() {
        let text = "100% sure: a,b\r\nnext line\n";
        assert_eq!(escape_data(text), "100%25 sure: a,b%0D%0Anext line%0A");
        assert_eq!(
            escape_property(text),
            "100%25 sure%3A a%2Cb%0D%0Anext line%0A"
        );
        // Escaping happens once: an escape sequence in the text is itself escaped.
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_property("C:%2C"), "C%3A%252C");
    }
}
