//! Subcommands. Each module owns one subcommand's options and output.
//!
//! Exit codes (README.md, "Exit codes", has the same table): [`OK`] (0)
//! success; [`FAILED`] (1) the command did its work and found a problem;
//! [`USAGE`] (2) it could not do its work. A command line clap cannot parse
//! is 2 for every command; `--help` and `--version` are 0.
//!
//! | command | 1 | 2 |
//! |---|---|---|
//! | `check` | an error, or a warning with `--deny-warnings` (every `--format`) | a missing path, an unreadable file |
//! | `build` | an error (nothing written); an artifact that does not load back | an unreadable input, an unwritable output |
//! | `dump` | never | an unreadable, corrupt or incompatible artifact |
//! | `test` | a failed scenario, coverage below `--min-coverage`, flows that do not compile | flows that cannot be read, no or a broken scenario file, a bot's knowledge base that does not load, a filter that matches nothing, an unwritable `--junit` file |
//! | `serve` | flows that do not compile, a compiled campaign that does not load back | a corrupt or incompatible artifact, a bad configuration or option, unreadable flows, an unusable data directory or event log, a server that cannot start |
//! | `call` | a refused or failed call | `--key-gap`/`--max` out of range, no async runtime |
//! | `ctl` | a non-2xx answer | no token, the admin API unreachable |
//! | `fmt` | `--check` and a file not formatted; a file with a syntax error | a missing path, a directory that cannot be listed, a file that cannot be read or written |
//! | `graph` | a flow with errors | no campaign, an unreadable path or corrupt artifact, SVG without Graphviz, an unwritable output |
//! | `lsp` | never | a failed handshake or a broken transport |
//! | `diff` | a side with errors; a difference with `--exit-code` | not two paths, an unreadable path or corrupt artifact, an unknown revision |
//! | `explain` | an unknown topic | — |

mod build;
mod call;
mod check;
mod ctl;
mod diff;
mod explain;
mod fmt;
mod github;
mod graph;
mod records;
mod sarif;
mod serve;
mod sign;
mod speech;
mod test;

pub use graph::svg;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit code: success (warnings allowed unless `--deny-warnings`).
pub const OK: i32 = 0;
/// Exit code: the command did its work and found a problem: errors in the
/// flows (or warnings with `--deny-warnings`), a failed scenario, a file
/// not formatted, a call or request that was refused.
pub const FAILED: i32 = 1;
/// Exit code: the command could not do its work: wrong usage, a file that
/// cannot be read or written, a server that cannot start.
pub const USAGE: i32 = 2;

/// `dialect --version`: the release, and the artifact format it reads and
/// writes (`dialect_bytecode::FORMAT_VERSION`; a test keeps them equal).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (artifact format 2)");

#[derive(Parser)]
#[command(
    name = "dialect",
    version = VERSION,
    about = "Flow-as-code for contact centres",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve, type-check and validate flows; report every problem.
    Check(check::Args),
    /// Compile flows into one bytecode artifact per campaign.
    Build(build::Args),
    /// Print the stable text dump of an artifact.
    Dump(build::DumpArgs),
    /// A campaign's customer records: import them from CSV (every row
    /// checked, all or none) or export them.
    Records(records::Args),
    /// Render the flows' `say` prompts ahead of time into `speech/`, so
    /// they are served and built where espeak-ng is not installed.
    Speech(speech::Args),
    /// Make an Ed25519 key pair for signing builds (`build --sign`) and
    /// trusting them (`serve --trust`).
    Keygen(sign::KeygenArgs),
    /// Explain a diagnostic code, a declaration or a block.
    Explain(explain::Args),
    /// Answer calls over SIP/RTP with the flows.
    Serve(serve::Args),
    /// Place a test call: send keys, save what it hears, print its progress.
    Call(call::Args),
    /// Run the flows' scenarios (`*.test.toml`) in the simulator.
    Test(test::Args),
    /// Operate a running server: reload, rollback, status.
    Ctl(ctl::Args),
    /// Format flow files in the one canonical layout (`--check`: report only).
    Fmt(fmt::Args),
    /// Draw a flow: Mermaid, Graphviz DOT, or SVG (through Graphviz `dot`).
    Graph(graph::Args),
    /// What changed between two versions of the flows, compiled (blocks,
    /// exits, prompts, settings), for a terminal or a pull request.
    Diff(diff::Args),
    /// The language server, over stdio (started by editors, not by hand).
    Lsp,
}

/// Options shared by the subcommands that compile.
#[derive(clap::Args, Clone, Debug)]
pub struct Inputs {
    /// Flow files or directories (searched for `.flow` files). Default: `flows/`.
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub context: Context,
}

/// Where the standard library and the environment's bindings come from:
/// part of [`Inputs`], and on its own for `graph` and `diff`, which name
/// their flows otherwise.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Context {
    /// The standard library directory (default: the nearest `stdlib/` above the flows).
    #[arg(long)]
    pub stdlib: Option<PathBuf>,
    /// The environment whose bindings the flows' `env.NAME` values take:
    /// `NAME.toml` in the environments directory.
    #[arg(long = "env", env = "DIALECT_ENV", value_name = "NAME")]
    pub env: Option<String>,
    /// The environments directory (default: the nearest `environments/` above the flows).
    #[arg(long, value_name = "DIR")]
    pub env_dir: Option<PathBuf>,
}

impl Inputs {
    /// The paths to compile.
    pub fn paths(&self) -> Vec<PathBuf> {
        if self.paths.is_empty() {
            vec![PathBuf::from("flows")]
        } else {
            self.paths.clone()
        }
    }

    /// The file access of the compiler.
    pub fn world(&self) -> dialect_compiler::world::FsWorld {
        let start = self
            .paths()
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        dialect_compiler::world::FsWorld::new(self.context.stdlib.clone(), &start)
            .with_environments(self.context.env_dir.clone())
    }

    /// The same inputs with other paths (the environment kept).
    pub fn with_paths(&self, paths: Vec<PathBuf>) -> Inputs {
        Inputs {
            paths,
            ..self.clone()
        }
    }

    /// Compiles the paths in the chosen environment.
    pub fn compile(&self) -> dialect_compiler::Compilation {
        let options = dialect_compiler::Options {
            env: self.context.env.clone().filter(|e| !e.is_empty()),
        };
        dialect_compiler::compile_with(&self.world(), &self.paths(), &options)
    }
}

/// Runs the command line; returns the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { USAGE } else { OK };
            let _ = err.print();
            return code;
        }
    };
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Dump(args) => build::dump(&args),
        Command::Keygen(args) => sign::keygen(&args),
        Command::Speech(args) => speech::run(&args),
        Command::Records(args) => records::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Call(args) => call::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Ctl(args) => ctl::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Lsp => crate::lsp::run(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_names_the_artifact_format_this_build_reads() {
        assert!(
            super::VERSION.ends_with(&format!(
                "(artifact format {})",
                dialect_bytecode::FORMAT_VERSION
            )),
            "{}",
            super::VERSION
        );
    }
}
