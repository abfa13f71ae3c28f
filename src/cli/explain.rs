//! `dialect explain`: the documentation of a diagnostic code, a declaration,
//! a block, or the list of blocks, from the compiler's own tables.

use super::{FAILED, OK};
use dialect_compiler::docs::explain;

/// Options of `dialect explain`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A code (`E0203`), a declaration (`campaign`), a block (`menu`), a setting
    /// (`menu.timeout`), a variable (`caller`), or `blocks` / `variables` / `codes`.
    topic: String,
}

/// Runs `dialect explain`.
pub fn run(args: &Args) -> i32 {
    match explain(&args.topic) {
        Some(text) => {
            print!("{text}");
            OK
        }
        None => {
            eprintln!(
                "error: nothing is called `{}`; try a code like E0203, a declaration like `campaign`, a block like `menu`, a setting like `menu.timeout`, a variable like `caller`, `blocks`, `variables` or `codes`",
                args.topic
            );
            FAILED
        }
    }
}
