//! Documentation from the compiler's own tables: diagnostic codes,
//! declarations, blocks, their settings and the built-in variables. One
//! source of truth for `dialect explain` and the language server's hover.

use crate::schema::Setting;
use std::fmt::Write;

/// The explanation of a topic, if it exists.
pub fn explain(topic: &str) -> Option<String> {
    let mut out = String::new();
    if let Some(code) = crate::diagnostic::explain(topic) {
        let _ = writeln!(out, "{}: {}\n\n{}", code.code, code.title, code.explanation);
        return Some(out);
    }
    match topic {
        "codes" => {
            for code in crate::diagnostic::CODES {
                let _ = writeln!(out, "{}  {}", code.code, code.title);
            }
            return Some(out);
        }
        "variables" => {
            for (name, doc) in crate::schema::VARIABLES {
                let _ = writeln!(out, "{name:<10} {doc}");
            }
            return Some(out);
        }
        "blocks" => {
            for block in crate::schema::BLOCKS {
                let _ = writeln!(out, "{:<18} {}", block.name, block.doc);
            }
            return Some(out);
        }
        _ => {}
    }
    if let Some(text) = block(topic) {
        return Some(text);
    }
    if let Some((owner, name)) = topic.split_once('.')
        && let Some(text) = setting(owner, name)
    {
        return Some(text);
    }
    if let Some(text) = decl(topic) {
        return Some(text);
    }
    if let Some(text) = variable(topic) {
        return Some(text);
    }
    None
}

/// The documentation of an IVR block: what it does, its exits, its settings.
pub fn block(name: &str) -> Option<String> {
    let block = crate::schema::block(name)?;
    let mut out = String::new();
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
    if block.mode == crate::schema::ExitMode::Keys {
        exits.push("  0-9 * #        one arm per key, at most 12".into());
    }
    if block.mode == crate::schema::ExitMode::Cases {
        exits.push("  \"value\"        one arm per case, and `else`".into());
    }
    if !exits.is_empty() {
        let _ = writeln!(out, "exits:\n{}\n", exits.join("\n"));
    }
    settings(&mut out, block.name, block.settings);
    Some(out)
}

/// The documentation of a declaration or section: what it is, its settings.
pub fn decl(name: &str) -> Option<String> {
    let decl = crate::schema::decl(name)?;
    let mut out = String::new();
    let _ = writeln!(out, "`{}`: {}\n", decl.name, decl.doc);
    settings(&mut out, decl.name, decl.settings);
    if !decl.sections.is_empty() {
        let _ = writeln!(out, "sections: {}", decl.sections.join(", "));
    }
    Some(out)
}

fn settings(out: &mut String, owner: &str, settings: &[Setting]) {
    if settings.is_empty() {
        return;
    }
    let _ = writeln!(out, "settings:");
    for s in settings {
        let (flags, takes) = terms(s);
        let _ = writeln!(
            out,
            "  {:<30} {}{flags}{}\n  {:<30} takes {takes}",
            s.name,
            s.doc,
            pending(owner, s.name),
            ""
        );
    }
}

/// ` Not carried out at run time yet: WHY.` for a setting the runtime
/// does not read yet (see [`crate::proofs`]), else nothing: `dialect
/// explain` says only what happens.
fn pending(owner: &str, setting: &str) -> String {
    match crate::proofs::proof(owner, setting) {
        Some(crate::proofs::Proof::Pending(why)) => {
            format!(" Not carried out at run time yet: {why}.")
        }
        _ => String::new(),
    }
}

/// A setting's flag (` (required)`, ` (repeatable)` or nothing) and what it
/// takes (`a duration like \`30s\``).
fn terms(s: &Setting) -> (&'static str, String) {
    let args: Vec<String> = s.args.iter().map(|a| a.ty.describe()).collect();
    let flags = match (s.required, s.repeat) {
        (true, _) => " (required)",
        (_, true) => " (repeatable)",
        _ => "",
    };
    (flags, args.join(", then "))
}

/// The documentation of a built-in variable of expressions (`caller`), or
/// of a handoff rule's ticket facts (`channel`).
pub fn variable(name: &str) -> Option<String> {
    crate::schema::VARIABLES
        .iter()
        .map(|(n, d)| (n, d, "expressions"))
        .chain(
            crate::schema::HANDOFF_VARIABLES
                .iter()
                .map(|(n, d)| (n, d, "handoff rules")),
        )
        .find(|(n, _, _)| **n == name)
        .map(|(n, d, place)| format!("variable `{n}` (in {place}): {d}\n"))
}

/// The documentation of the setting `name` of a block or declaration
/// (`menu`, `timeout`).
pub fn setting(owner: &str, name: &str) -> Option<String> {
    let found = crate::schema::block(owner)
        .and_then(|b| b.setting(name))
        .map(|s| (s, "block"))
        .or_else(|| {
            crate::schema::decl(owner)
                .and_then(|d| d.settings.iter().find(|s| s.name == name))
                .map(|s| (s, "declaration"))
        })?;
    let (s, what) = found;
    let (flags, takes) = terms(s);
    Some(format!(
        "setting `{}` of the {what} `{owner}`{flags}: {}{}\n\ntakes {takes}\n",
        s.name,
        s.doc,
        pending(owner, s.name)
    ))
}
