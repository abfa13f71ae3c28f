//! `dialect check`.

use super::{FAILED, Inputs, OK, USAGE};
use dialect_compiler::Compilation;
use dialect_compiler::diagnostic::{Diagnostic, Severity};
use std::io::{IsTerminal, Write};

/// How diagnostics are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// For people: source excerpts with labels.
    #[default]
    Human,
    /// One JSON document.
    Json,
}

/// Options of `dialect check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

/// Runs `dialect check`.
pub fn run(args: &Args) -> i32 {
    let compilation = args.inputs.compile();
    let code = report(&compilation, args.format, args.deny_warnings);
    // The process ends now; freeing every syntax tree first would only cost
    // time (about a tenth of a large check).
    std::mem::forget(compilation);
    code
}

/// Prints a compilation's diagnostics and returns the exit code.
pub fn report(compilation: &Compilation, format: Format, deny_warnings: bool) -> i32 {
    let diagnostics = compilation.diagnostics();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Human => {
            for d in &diagnostics {
                let _ = write!(out, "{}", human(d, std::io::stdout().is_terminal()));
            }
            for e in &compilation.io_errors {
                let _ = writeln!(out, "error: {e}");
            }
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let warnings = diagnostics.len() - errors;
            let _ = writeln!(
                out,
                "{} file(s), {} campaign(s), {} block(s): {errors} error(s), {warnings} warning(s)",
                compilation.sources.files.len(),
                compilation.programs.len(),
                compilation.blocks,
            );
        }
        Format::Json => {
            let _ = writeln!(out, "{}", json(compilation, &diagnostics));
        }
    }
    exit_code(compilation, &diagnostics, deny_warnings)
}

/// The exit code for a compilation's outcome.
pub fn exit_code(
    compilation: &Compilation,
    diagnostics: &[Diagnostic],
    deny_warnings: bool,
) -> i32 {
    if !compilation.io_errors.is_empty() {
        USAGE
    } else if diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error || deny_warnings)
    {
        FAILED
    } else {
        OK
    }
}

/// A diagnostic rendered for a person (miette's graphical report).
pub fn human(diagnostic: &Diagnostic, colour: bool) -> String {
    diagnostic.to_human(colour && std::env::var_os("NO_COLOR").is_none())
}

fn json(compilation: &Compilation, diagnostics: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let span = d.span();
            let (line, column) = d.line_col(span.start);
            let (end_line, end_column) = d.line_col(span.end);
            serde_json::json!({
                "code": d.code,
                "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": d.message,
                "help": d.help,
                "file": d.path,
                "start": span.start, "end": span.end,
                "line": line, "column": column, "end_line": end_line, "end_column": end_column,
                "labels": d.labels.iter().map(|l| serde_json::json!({
                    "start": l.span.start, "end": l.span.end, "text": l.text, "primary": l.primary,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "files": compilation.sources.files.len(),
        "campaigns": compilation.programs.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "blocks": compilation.blocks,
        "errors": diagnostics.iter().filter(|d| d.severity == Severity::Error).count(),
        "warnings": diagnostics.iter().filter(|d| d.severity == Severity::Warning).count(),
        "io_errors": compilation.io_errors,
        "diagnostics": items,
    })
}
