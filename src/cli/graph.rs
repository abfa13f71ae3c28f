//! `dialect graph`: a picture of a flow, and the loading of flows or
//! artifacts that `graph` and `diff` share.

use super::check::human;
use super::{Context, FAILED, OK, USAGE};
use dialect_bytecode::Program;
use dialect_compiler::graph::{dot, mermaid, picture};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The picture's format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Mermaid flowchart text (GitHub draws it in Markdown).
    #[default]
    Mermaid,
    /// Graphviz DOT text.
    Dot,
    /// SVG, drawn by Graphviz `dot` (which must be installed).
    Svg,
}

/// Options of `dialect graph`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A flow file (or directory of flows), or an artifact from `dialect build`.
    flow: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
    /// Draw only this campaign (default: every campaign of the file).
    #[arg(long)]
    campaign: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    #[command(flatten)]
    env: Context,
}

/// Runs `dialect graph`.
pub fn run(args: &Args) -> i32 {
    let programs = match load(&args.flow, &args.env) {
        Ok(programs) => programs,
        Err(code) => return code,
    };
    let chosen: Vec<&Program> = programs
        .iter()
        .filter(|p| args.campaign.as_ref().is_none_or(|c| *c == p.name))
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
        match &args.campaign {
            Some(c) if !names.is_empty() => eprintln!(
                "error: no campaign `{c}` in {}; it has: {}",
                args.flow.display(),
                names.join(", ")
            ),
            _ => eprintln!(
                "error: no campaign in {}: `dialect graph` draws campaigns (a sub-flow is drawn \
                 inside the campaigns that use it)",
                args.flow.display()
            ),
        }
        return USAGE;
    }
    let pictures: Vec<_> = chosen.iter().map(|p| picture(p)).collect();
    let bytes = match args.format {
        Format::Mermaid => mermaid(&pictures).into_bytes(),
        Format::Dot => dot(&pictures).into_bytes(),
        Format::Svg => match svg(&dot(&pictures)) {
            Ok(svg) => svg,
            Err(message) => {
                eprintln!("error: {message}");
                return USAGE;
            }
        },
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|err| format!("cannot write {}: {err}", path.display())),
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .map_err(|err| format!("cannot write the picture: {err}")),
    };
    match written {
        Ok(()) => OK,
        Err(message) => {
            eprintln!("error: {message}");
            USAGE
        }
    }
}

/// DOT text drawn as SVG by Graphviz `dot`.
pub fn svg(dot_text: &str) -> Result<Vec<u8>, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                "SVG needs Graphviz `dot`, which is not installed (Debian/Ubuntu: \
                 `apt-get install graphviz`); `--format dot` or `--format mermaid` need nothing"
                    .to_string()
            } else {
                format!("cannot run Graphviz `dot`: {err}")
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_text.as_bytes())
            .map_err(|err| format!("cannot feed Graphviz `dot`: {err}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|err| format!("Graphviz `dot` failed: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "Graphviz `dot` refused the graph ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// The campaigns at `path`: compiled from a flow file or directory, or loaded
/// (and verified) from an artifact or a directory of artifacts. Problems are
/// printed; the error is the exit code.
pub fn load(path: &Path, context: &Context) -> Result<Vec<Program>, i32> {
    if let Some(artifacts) = artifacts(path) {
        let mut programs = Vec::with_capacity(artifacts.len());
        for file in artifacts {
            let bytes = std::fs::read(&file).map_err(|err| {
                eprintln!("error: cannot read {}: {err}", file.display());
                USAGE
            })?;
            let loaded = dialect_bytecode::load(&bytes).map_err(|err| {
                eprintln!("error: {}: {err}", file.display());
                USAGE
            })?;
            programs.push(loaded.program);
        }
        return Ok(programs);
    }
    let inputs = super::Inputs {
        paths: vec![path.to_path_buf()],
        context: context.clone(),
    };
    let compilation = inputs.compile();
    for err in &compilation.io_errors {
        eprintln!("error: {err}");
    }
    if !compilation.io_errors.is_empty() {
        return Err(USAGE);
    }
    if compilation.has_errors() {
        for d in compilation.diagnostics() {
            eprint!("{}", human(&d, false));
        }
        eprintln!(
            "error: {} has {} error(s); fix them first (`dialect check`)",
            path.display(),
            compilation.error_count()
        );
        return Err(FAILED);
    }
    Ok(compilation.programs)
}

/// The artifacts at `path`: the file itself if it starts with the artifact
/// magic, or the `*.dialect` files of a directory that has some.
fn artifacts(path: &Path) -> Option<Vec<PathBuf>> {
    if path.is_file() {
        use std::io::Read as _;
        let mut magic = [0u8; 8];
        let mut file = std::fs::File::open(path).ok()?;
        file.read_exact(&mut magic).ok()?;
        return (magic == dialect_bytecode::MAGIC).then(|| vec![path.to_path_buf()]);
    }
    artifacts_of(path)
}

/// The `*.dialect` files of a directory, sorted, if it has some.
pub fn artifacts_of(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dialect"))
        .collect();
    found.sort();
    (!found.is_empty()).then_some(found)
}
