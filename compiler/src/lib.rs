//! The Dialect compiler.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod diff;
pub mod docs;
pub mod graph;
pub mod lower;
pub mod parse;
pub mod print;
pub mod resolve;
pub mod schema;
pub mod source;
pub mod validate;
pub mod world;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The result of compiling a set of flow files.
#[derive(Debug, Default)]
pub struct Compilation {
    /// Every file read: the inputs, then their imports.
    pub sources: source::Sources,
    /// Every problem found, as data.
    pub reports: Vec<Report>,
    /// Inputs that could not be read at all (a usage or I/O error, not a flow error).
    pub io_errors: Vec<String>,
    /// Every IVR block statement seen, for throughput figures.
    pub blocks: usize,
    /// Every source byte read, for throughput figures.
    pub bytes: usize,
    /// One compiled program per campaign whose files have no error, by campaign name.
    pub programs: Vec<dialect_bytecode::Program>,
}

impl Compilation {
    /// The rendered diagnostics, in file and position order.
    pub fn diagnostics(&self) -> Vec<diagnostic::Diagnostic> {
        diagnostic::render(&self.sources, &self.reports)
    }

    /// The number of errors.
    pub fn error_count(&self) -> usize {
        self.reports
            .iter()
            .filter(|r| diagnostic::describe(&r.problem).severity == diagnostic::Severity::Error)
            .count()
    }

    /// The number of warnings.
    pub fn warning_count(&self) -> usize {
        self.reports.len() - self.error_count()
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }
}

/// Compiles the `.flow` files at `inputs` (files, or directories searched
/// recursively): parse, resolve, check, then lower and validate every
/// campaign whose files are free of errors.
pub fn compile(world: &dyn world::World, inputs: &[PathBuf]) -> Compilation {
    let mut out = Compilation::default();
    let stdlib = world.stdlib().map(|s| world.canonical(&s));
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    for input in inputs {
        if !world.is_file(input) && !world.is_dir(input) {
            out.io_errors
                .push(format!("{}: no such file or directory", input.display()));
            continue;
        }
        let root = if world.is_dir(input) {
            input.clone()
        } else {
            input.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let in_std = stdlib
            .as_ref()
            .is_some_and(|s| *s == world.canonical(&root));
        for path in resolve::discover(world, input) {
            if !seen.insert(world.canonical(&path)) {
                continue;
            }
            let text = match world.read(&path) {
                Ok(text) => text,
                Err(err) => {
                    out.io_errors.push(format!("{}: {err}", path.display()));
                    continue;
                }
            };
            let rel = path
                .strip_prefix(&root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| path.clone());
            let name = source::slash_name(&rel);
            let name = if in_std { format!("std/{name}") } else { name };
            let (ast, errors) = parse::parse(&text);
            let id = out.sources.push(source::SourceFile {
                path,
                name,
                text,
                ast,
                input: true,
            });
            out.reports.extend(errors.into_iter().map(|e| Report {
                file: id,
                problem: Problem::Parse(e),
            }));
        }
    }
    let resolution = resolve::resolve(world, &mut out.sources, &mut out.reports);
    out.bytes = out.sources.files.iter().map(|f| f.text.len()).sum();
    out.blocks = check::check(world, &out.sources, &resolution, &mut out.reports);

    let mut broken: BTreeSet<source::FileId> = BTreeSet::new();
    for report in &out.reports {
        if diagnostic::describe(&report.problem).severity == diagnostic::Severity::Error {
            broken.insert(report.file);
        }
    }
    let read = check::Reader {
        sources: &out.sources,
        resolution: &resolution,
        world,
    };
    let mut reports = Vec::new();
    for campaign in resolution.campaigns.values() {
        if reaches(&resolution, campaign.file)
            .iter()
            .any(|f| broken.contains(f))
        {
            continue;
        }
        if let Some(lowered) = lower::lower(&read, *campaign, &mut reports) {
            validate::validate(&lowered, &mut reports);
            out.programs.push(lowered.program);
        }
    }
    out.reports.extend(reports);
    out
}

/// A file and every file it imports, transitively.
fn reaches(resolution: &resolve::Resolution, file: source::FileId) -> BTreeSet<source::FileId> {
    let mut out = BTreeSet::new();
    let mut stack = vec![file];
    while let Some(f) = stack.pop() {
        if out.insert(f)
            && let Some(scope) = resolution.scopes.get(f as usize)
        {
            stack.extend(scope.imports.values().copied());
        }
    }
    out
}

/// A problem found by one of the phases, in one file.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The file.
    pub file: source::FileId,
    /// What is wrong.
    pub problem: Problem,
}

/// The problems of every phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// From `parse`.
    Parse(parse::Error),
    /// From `resolve`.
    Resolve(resolve::Error),
    /// From `check`.
    Check(check::Error),
    /// From `validate`.
    Validate(validate::Error),
}
