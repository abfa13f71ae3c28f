//! The Dialect compiler.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod diff;
pub mod docs;
pub mod environment;
pub mod graph;
pub mod ide;
pub mod lower;
pub mod parse;
pub mod print;
pub mod proofs;
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
    /// Every file's names and imports (for the editor features of [`ide`]).
    pub resolution: resolve::Resolution,
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

/// What a compilation is asked beyond its inputs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The environment whose bindings the flows' `env.NAME` values take
    /// (`--env NAME`): the file `NAME.toml` in the world's environments
    /// directory. `None`: flows that use bindings do not compile.
    pub env: Option<String>,
}

/// Compiles the `.flow` files at `inputs` with no environment chosen; see
/// [`compile_with`].
pub fn compile(world: &dyn world::World, inputs: &[PathBuf]) -> Compilation {
    compile_with(world, inputs, &Options::default())
}

/// Compiles the `.flow` files at `inputs` (files, or directories searched
/// recursively): parse, resolve, check, then lower and validate every
/// campaign whose files are free of errors. With `options.env`, the
/// environment file is read (through `world`) and its bindings stand for
/// the flows' `env.NAME` values; a chosen environment without a file is an
/// I/O error, and nothing is compiled.
pub fn compile_with(
    world: &dyn world::World,
    inputs: &[PathBuf],
    options: &Options,
) -> Compilation {
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
    let dir = world.environments();
    let available = dir
        .as_ref()
        .map(|d| environment::names_in(&world.list(d).unwrap_or_default()))
        .unwrap_or_default();
    let chosen = match &options.env {
        Some(name) => match read_environment(world, dir.as_deref(), name, &available, &mut out) {
            Ok(env) => Some(env),
            Err(error) => {
                out.io_errors.push(error);
                return out;
            }
        },
        None => None,
    };
    let resolution = resolve::resolve(world, &mut out.sources, &mut out.reports);
    out.bytes = out.sources.files.iter().map(|f| f.text.len()).sum();
    let shown_dir = dir.as_ref().map(|d| d.display().to_string());
    environment::references(
        &out.sources,
        chosen.as_ref(),
        &available,
        shown_dir.as_deref(),
        &mut out.reports,
    );
    out.blocks = check::check(
        world,
        &out.sources,
        &resolution,
        chosen.as_ref(),
        &mut out.reports,
    );

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
        environment: chosen.as_ref(),
    };
    let mut reports = Vec::new();
    for campaign in resolution.campaigns.values() {
        if reaches(&resolution, campaign.file)
            .iter()
            .any(|f| broken.contains(f))
        {
            continue;
        }
        if let Some(mut lowered) = lower::lower(&read, *campaign, &mut reports) {
            validate::validate(&lowered, &mut reports);
            // The environment the bound values came from, for `dialect dump`
            // and the people reading it.
            if let Some(env) = &chosen {
                lowered.program.settings.insert(
                    "environment".into(),
                    dialect_bytecode::Value::Text(env.name.clone()),
                );
            }
            out.programs.push(lowered.program);
        }
    }
    out.reports.extend(reports);
    out.resolution = resolution;
    out
}

/// Reads the environment `name` from `dir` and adds its file to the
/// sources (so that diagnostics can show it). `Err` is a usage error: no
/// such environment.
fn read_environment(
    world: &dyn world::World,
    dir: Option<&Path>,
    name: &str,
    available: &[String],
    out: &mut Compilation,
) -> Result<environment::Environment, String> {
    if !environment::is_environment_name(name) {
        return Err(format!(
            "--env {name}: an environment's name is made of letters, digits, `-` and `_` (it names the file {}/NAME.toml)",
            environment::DIR
        ));
    }
    let Some(dir) = dir else {
        return Err(format!(
            "--env {name}: no `{}/` directory was found beside or above the flows; create `{}/{name}.toml` there, or pass --env-dir DIR",
            environment::DIR,
            environment::DIR
        ));
    };
    let path = dir.join(format!("{name}.toml"));
    if !world.is_file(&path) {
        let known = if available.is_empty() {
            format!("{} holds no environment file (NAME.toml)", dir.display())
        } else {
            format!("the environments are: {}", available.join(", "))
        };
        return Err(format!(
            "--env {name}: there is no environment file {}; {known}",
            path.display()
        ));
    }
    let text = world
        .read(&path)
        .map_err(|err| format!("{}: {err}", path.display()))?;
    let shown = path.display().to_string();
    let mut reports = Vec::new();
    let file = out.sources.push(source::SourceFile {
        path,
        name: format!("{}/{name}.toml", environment::DIR),
        text,
        ast: ast::File::default(),
        input: false,
    });
    let text = out
        .sources
        .get(file)
        .map(|f| f.text.as_str())
        .unwrap_or_default();
    let env = environment::load(name, file, &shown, text, &mut reports);
    out.reports.extend(reports);
    Ok(env)
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
    /// About environments and bindings.
    Environment(environment::Error),
}
