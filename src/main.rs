//! `dialect`: the command-line tool of Dialect.
//!
//! Exit codes: 0 success, 1 the command found a problem (errors in the
//! flows, a failed scenario), 2 it could not do its work (usage, I/O, a
//! server that cannot start); each command's are listed in `cli` and in
//! README.md, "Exit codes".

mod cli;
mod lsp;

fn main() {
    std::process::exit(cli::run());
}
