//! `dialect explain`: the documentation of a diagnostic code, a declaration,
//! a block, or the list of blocks, from the compiler's own tables.

use super::{FAILED, OK};
use dialect_compiler::diagnostic;
use dialect_compiler::schema::{self, Setting};
use std::fmt::Write;

/// Options of `dialect explain`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A code (`E0203`), a declaration (`campaign`), a block (`menu`), or `blocks` / `codes`.
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
                "error: nothing is called `{}`; try a code like E0203, a declaration like `campaign`, a block like `menu`, `blocks` or `codes`",
                args.topic
            );
            FAILED
        }
    }
}

/// The explanation of a topic, if it exists.
pub fn explain(topic: &str) -> Option<String> {
    let mut out = String::new();
    if let Some(code) = diagnostic::explain(topic) {
        let _ = writeln!(out, "{}: {}\n\n{}", code.code, code.title, code.explanation);
        return Some(out);
    }
    match topic {
        "codes" => {
            for code in diagnostic::CODES {
                let _ = writeln!(out, "{}  {}", code.code, code.title);
            }
            return Some(out);
        }
        "blocks" => {
            for block in schema::BLOCKS {
                let _ = writeln!(out, "{:<18} {}", block.name, block.doc);
            }
            return Some(out);
        }
        _ => {}
    }
    if let Some(block) = schema::block(topic) {
        let _ = writeln!(out, "block `{}`: {}\n", block.name, block.doc);
        let mut exits: Vec<String> = block
            .next
            .iter()
            .map(|n| format!("  {n:<14} (continues with the next statement)"))
            .collect();
        exits.extend(
            block
                .exits
                .iter()
                .map(|e| format!("  {:<14} {}", e.name, e.doc)),
        );
        if block.mode == schema::ExitMode::Keys {
            exits.push("  0-9 * #        one arm per key, at most 12".into());
        }
        if block.mode == schema::ExitMode::Cases {
            exits.push("  \"value\"        one arm per case, and `else`".into());
        }
        if !exits.is_empty() {
            let _ = writeln!(out, "exits:\n{}\n", exits.join("\n"));
        }
        settings(&mut out, block.settings);
        return Some(out);
    }
    if let Some(decl) = schema::decl(topic) {
        let _ = writeln!(out, "`{}`: {}\n", decl.name, decl.doc);
        settings(&mut out, decl.settings);
        if !decl.sections.is_empty() {
            let _ = writeln!(out, "sections: {}", decl.sections.join(", "));
        }
        return Some(out);
    }
    None
}

fn settings(out: &mut String, settings: &[Setting]) {
    if settings.is_empty() {
        return;
    }
    let _ = writeln!(out, "settings:");
    for s in settings {
        let args: Vec<String> = s.args.iter().map(|a| a.ty.describe()).collect();
        let flags = match (s.required, s.repeat) {
            (true, _) => " (required)",
            (_, true) => " (repeatable)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {:<30} {}{flags}\n  {:<30} takes {}",
            s.name,
            s.doc,
            "",
            args.join(", then ")
        );
    }
}
