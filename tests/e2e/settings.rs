//! Issue 18's rule: every setting of every declaration and block is proven
//! to do what `dialect explain` says (a test or a scenario), or matters
//! only at compile time (and says why). None is pending any more: a new
//! setting comes with its test, or the compiler refuses it.

use dialect_compiler::proofs::{PROOFS, Proof, proof};
use dialect_compiler::schema::{BLOCKS, DECLS};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The settings the runtime does not carry out yet, or carries out without
/// a test that proves it: none, and it may never grow.
const MAX_PENDING: usize = 0;

#[test]
fn every_setting_is_proven_or_says_it_is_pending() {
    let settings: Vec<(&str, &str)> = DECLS
        .iter()
        .flat_map(|d| d.settings.iter().map(move |s| (d.name, s.name)))
        .chain(
            BLOCKS
                .iter()
                .flat_map(|b| b.settings.iter().map(move |s| (b.name, s.name))),
        )
        .collect();
    let mut problems = Vec::new();
    for (owner, setting) in &settings {
        if proof(owner, setting).is_none() {
            problems.push(format!(
                "`{owner}`'s `{setting}` has no proof in compiler/src/proofs.rs"
            ));
        }
    }
    let known: BTreeSet<(&str, &str)> = settings.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for (owner, setting, p) in PROOFS {
        if !known.contains(&(*owner, *setting)) {
            problems.push(format!(
                "proofs.rs names `{owner}`'s `{setting}`, which schema.rs has not"
            ));
        }
        if !seen.insert((*owner, *setting)) {
            problems.push(format!("proofs.rs names `{owner}`'s `{setting}` twice"));
        }
        match p {
            Proof::Test(place) => {
                let Some((file, function)) = place.split_once("::") else {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: `{place}` is not FILE::FUNCTION"
                    ));
                    continue;
                };
                let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
                if !text.contains(&format!("fn {function}(")) {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: no test `{function}` in {file}"
                    ));
                }
            }
            Proof::Scenario(place) => {
                let Some((file, name)) = place.split_once("::") else {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: `{place}` is not FILE::NAME"
                    ));
                    continue;
                };
                let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
                if !text.contains(&format!("name = \"{name}\"")) {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: no scenario \"{name}\" in {file}"
                    ));
                }
            }
            Proof::Compile(why) | Proof::Pending(why) | Proof::Untested(why) => {
                if why.trim().is_empty() {
                    problems.push(format!("`{owner}`'s `{setting}`: say why"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let pending: Vec<String> = PROOFS
        .iter()
        .filter(|(_, _, p)| matches!(p, Proof::Pending(_) | Proof::Untested(_)))
        .map(|(o, s, _)| format!("{o}.{s}"))
        .collect();
    assert!(
        pending.len() <= MAX_PENDING,
        "{} settings are pending, more than {MAX_PENDING}: {pending:?}",
        pending.len()
    );
}
