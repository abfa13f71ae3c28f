//! `dialect`: the command-line tool of Dialect.
//!
//! Exit codes: 0 success, 1 errors in the flows (or failed tests), 2 usage
//! or I/O errors (a missing file, an unwritable output directory, a corrupt
//! artifact).

mod cli;

fn main() {
    std::process::exit(cli::run());
}
