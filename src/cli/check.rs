//! `dialect check`.

use super::{FAILED, Inputs, OK, USAGE};
use dialect_compiler::Compilation;
use dialect_compiler::diagnostic::{Diagnostic, Severity};
use dialect_compiler::source::{normalize, slash_name};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// How diagnostics are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// For people: source excerpts with labels.
    #[default]
    Human,
    /// One JSON document.
    Json,
    /// One SARIF 2.1.0 log, for code-scanning services.
    Sarif,
    /// GitHub Actions workflow commands: one annotation per diagnostic.
    Github,
}

/// Options of `dialect check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// Output format; every format exits with the same code.
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
    let code = exit_code(compilation, &diagnostics, deny_warnings);
    let cwd = std::env::current_dir().ok();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Human => {
            for d in &diagnostics {
                let _ = write!(out, "{}", human(d, std::io::stdout().is_terminal()));
            }
            for e in &compilation.io_errors {
                let _ = writeln!(out, "error: {e}");
            }
            let _ = writeln!(out, "{}", summary(compilation, &diagnostics));
        }
        Format::Json => {
            let _ = writeln!(out, "{}", json(compilation, &diagnostics));
        }
        Format::Sarif => {
            let log = super::sarif::log(
                &diagnostics,
                &compilation.io_errors,
                code,
                cwd.as_deref(),
                env!("CARGO_PKG_REPOSITORY"),
            );
            let text = serde_json::to_string_pretty(&log).unwrap_or_default();
            let _ = writeln!(out, "{text}");
        }
        Format::Github => {
            let annotations =
                super::github::annotations(&diagnostics, &compilation.io_errors, cwd.as_deref());
            let _ = write!(out, "{annotations}");
            let _ = writeln!(out, "{}", summary(compilation, &diagnostics));
        }
    }
    code
}

/// The closing line: files, campaigns, blocks, errors and warnings.
pub fn summary(compilation: &Compilation, diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    format!(
        "{} file(s), {} campaign(s), {} block(s): {errors} error(s), {warnings} warning(s)",
        compilation.sources.files.len(),
        compilation.programs.len(),
        compilation.blocks,
    )
}

/// Where a diagnostic's file is, as CI tools want it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Under the current directory (or a relative path as given): the path
    /// relative to it, `/`-separated, without `.` or needless `..`.
    Relative(String),
    /// Outside the current directory: the absolute path.
    Absolute(PathBuf),
}

/// Places a diagnostic's path (as given to the compiler) relative to `cwd`.
pub fn place(path: &str, cwd: Option<&Path>) -> Place {
    let path = Path::new(path);
    if !path.is_absolute() {
        return Place::Relative(slash_name(path));
    }
    let normal = normalize(path);
    if let Some(cwd) = cwd {
        if let Ok(rest) = normal.strip_prefix(cwd) {
            return Place::Relative(slash_name(rest));
        }
        // The same directories reached through a symbolic link.
        if let (Ok(real), Ok(root)) = (std::fs::canonicalize(path), std::fs::canonicalize(cwd))
            && let Ok(rest) = real.strip_prefix(&root)
        {
            return Place::Relative(slash_name(rest));
        }
    }
    Place::Absolute(normal)
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

/// The `--format json` document.
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
