//! `dialect diff`: what changed between two versions of the flows, compiled.

use super::Context;
use super::graph::load;
use super::{FAILED, OK, USAGE};
use dialect_compiler::diff::{diff, markdown, text};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the differences are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One line per change, for a terminal.
    #[default]
    Text,
    /// Tables, for a pull request comment.
    Markdown,
}

/// Options of `dialect diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// OLD and NEW: two flow files, two directories of flows, or two artifacts
    /// (or directories of artifacts). With `--git`: the flow paths to compare
    /// in both revisions (default: `flows/`).
    paths: Vec<PathBuf>,
    /// Compare two git revisions, `REV1..REV2` (`REV1..` or `REV1`: against
    /// the working tree).
    #[arg(long, value_name = "REV1..REV2")]
    git: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when there are differences (as `git diff --exit-code`).
    #[arg(long)]
    exit_code: bool,
    #[command(flatten)]
    env: Context,
}

/// Runs `dialect diff`.
pub fn run(args: &Args) -> i32 {
    let sides = match &args.git {
        Some(range) => git_sides(range, &args.paths, &args.env),
        None => match args.paths.as_slice() {
            [old, new] => {
                let old = load(old, &args.env);
                let new = load(new, &args.env);
                match (old, new) {
                    (Ok(old), Ok(new)) => Ok((old, new)),
                    (Err(code), _) | (_, Err(code)) => Err(code),
                }
            }
            _ => {
                eprintln!(
                    "error: `dialect diff` takes two paths, OLD and NEW (flow files, directories \
                     or artifacts), or `--git REV1..REV2 [PATH...]`"
                );
                Err(USAGE)
            }
        },
    };
    let (old, new) = match sides {
        Ok(sides) => sides,
        Err(code) => return code,
    };
    let diffs = diff(&old, &new);
    match args.format {
        Format::Text => print!("{}", text(&diffs)),
        Format::Markdown => print!("{}", markdown(&diffs)),
    }
    if args.exit_code && !diffs.is_empty() {
        FAILED
    } else {
        OK
    }
}

/// Both sides of `--git`: each revision's files written out to a temporary
/// directory (the paths asked for, the standard library and the environment
/// files) and compiled there; the working tree is used as it is.
fn git_sides(
    range: &str,
    paths: &[PathBuf],
    env: &Context,
) -> Result<
    (
        Vec<dialect_bytecode::Program>,
        Vec<dialect_bytecode::Program>,
    ),
    i32,
> {
    let (from, to) = match range.split_once("..") {
        Some((from, to)) => (from, (!to.is_empty()).then_some(to)),
        None => (range, None),
    };
    if from.is_empty() {
        eprintln!("error: --git needs a revision before `..` (e.g. `--git main..HEAD`)");
        return Err(USAGE);
    }
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from("flows")]
    } else {
        paths.to_vec()
    };
    let top = git(&["rev-parse", "--show-toplevel"]).map_err(fail)?;
    let prefix = git(&["rev-parse", "--show-prefix"]).map_err(fail)?;
    let root = PathBuf::from(top.trim());
    // Repository-relative paths of what to compare, and of the standard
    // library (found as the CLI finds it, from the first path).
    let mut wanted: Vec<String> = paths
        .iter()
        .map(|p| slash(&Path::new(prefix.trim()).join(p)))
        .collect();
    let world = dialect_compiler::world::FsWorld::new(
        env.stdlib.clone(),
        paths.first().map_or(Path::new("."), PathBuf::as_path),
    )
    .with_environments(env.env_dir.clone());
    // The standard library and the environments directory, as paths in the
    // repository (outside it, they are used from where they are).
    let in_repo = |dir: &Option<PathBuf>| -> Option<String> {
        let dir = std::fs::canonicalize(dir.as_ref()?).ok()?;
        let root = std::fs::canonicalize(&root).ok()?;
        dir.strip_prefix(root).ok().map(slash)
    };
    let std_rel = in_repo(&world.stdlib);
    let env_rel = in_repo(&world.environments);
    wanted.extend(std_rel.iter().chain(env_rel.iter()).cloned());
    let scratch = Scratch::new().map_err(fail)?;
    let mut sides = Vec::new();
    for (n, rev) in [Some(from), to].into_iter().enumerate() {
        let base = match rev {
            Some(rev) => {
                let dir = scratch.0.join(format!("side{n}"));
                checkout(rev, &wanted, &dir).map_err(fail)?;
                dir
            }
            None => root.clone(),
        };
        let side_env = Context {
            stdlib: std_rel
                .as_ref()
                .map(|s| base.join(s))
                .or_else(|| world.stdlib.clone()),
            env: env.env.clone(),
            env_dir: env_rel
                .as_ref()
                .map(|s| base.join(s))
                .or_else(|| world.environments.clone()),
        };
        let mut programs = Vec::new();
        for path in wanted.iter().take(paths.len()) {
            let full = base.join(path);
            if !full.exists() {
                // Flows that do not exist in this revision: none.
                continue;
            }
            programs.extend(load(&full, &side_env)?);
        }
        sides.push(programs);
    }
    let new = sides.pop().unwrap_or_default();
    let old = sides.pop().unwrap_or_default();
    Ok((old, new))
}

/// Prints a git problem; a usage error.
fn fail(message: String) -> i32 {
    eprintln!("error: {message}");
    USAGE
}

/// A path with forward slashes and no `./`.
fn slash(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.trim_start_matches("./").trim_end_matches('/');
    if text.is_empty() {
        ".".to_string()
    } else {
        text.to_string()
    }
}

/// Runs git; its standard output.
fn git(args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .output()
        .map_err(|err| format!("cannot run git: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("git {}: not UTF-8", args.join(" ")))
}

/// Writes the files under `paths` as they are at `rev` into `dir`.
fn checkout(rev: &str, paths: &[String], dir: &Path) -> Result<(), String> {
    let commit = format!("{rev}^{{commit}}");
    git(&["rev-parse", "--verify", "--quiet", &commit])
        .map_err(|_| format!("`{rev}` is not a revision of this repository"))?;
    let mut args = vec![
        "ls-tree",
        "-r",
        "-z",
        "--name-only",
        "--full-tree",
        rev,
        "--",
    ];
    args.extend(paths.iter().map(String::as_str));
    let listing = git(&args)?;
    for file in listing.split('\0').filter(|f| !f.is_empty()) {
        let output = Command::new("git")
            .args(["show", &format!("{rev}:{file}")])
            .output()
            .map_err(|err| format!("cannot run git: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "git show {rev}:{file}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let target = dir.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
        }
        std::fs::write(&target, &output.stdout)
            .map_err(|err| format!("cannot write {}: {err}", target.display()))?;
    }
    Ok(())
}

/// A temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    /// A new empty directory under the system's temporary directory.
    fn new() -> Result<Scratch, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("dialect-diff-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
