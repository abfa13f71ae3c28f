//! Every diagnostic code has a fixture under `tests/diagnostics/` (a `.flow`
//! file, or a directory of them, named after the code it triggers) and an
//! insta snapshot of the source with the rendered diagnostics. A directory
//! with `environments/` is compiled with that environments directory, and
//! with `--env staging` when it holds `staging.toml`.

use dialect_compiler::diagnostic::{CODES, Diagnostic};
use dialect_compiler::world::FsWorld;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every fixture: a `.flow` file or a directory of them, sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let dir = root().join("tests/diagnostics");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/diagnostics exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "flow")
                || (p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n != "assets" && n != "snapshots"))
        })
        .collect();
    out.sort();
    out
}

/// Compiles one fixture as `dialect check` would, from the repository root.
fn check(path: &Path) -> Vec<Diagnostic> {
    let rel = path
        .strip_prefix(root())
        .expect("fixture under the root")
        .to_path_buf();
    let environments = rel.join("environments");
    let has_environments = path.join("environments").is_dir();
    let world = FsWorld::new(Some(root().join("stdlib")), &root())
        .with_environments(has_environments.then(|| environments.clone()));
    let options = dialect_compiler::Options {
        env: path
            .join("environments/staging.toml")
            .is_file()
            .then(|| "staging".to_string()),
    };
    std::env::set_current_dir(root()).expect("cd to the root");
    let compilation = dialect_compiler::compile_with(&world, &[rel], &options);
    assert!(
        compilation.io_errors.is_empty(),
        "{:?}",
        compilation.io_errors
    );
    compilation.diagnostics()
}

/// The files of a fixture: itself, or every file under it, sorted.
fn files_of(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(path)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v.into_iter().flat_map(|p| files_of(&p)).collect()
}

fn render(path: &Path, diagnostics: &[Diagnostic]) -> String {
    let files = files_of(path);
    let mut out = String::new();
    for file in files {
        let name = file
            .strip_prefix(root())
            .expect("under root")
            .display()
            .to_string();
        out.push_str(&format!(
            "── {name}\n{}\n",
            std::fs::read_to_string(&file).expect("fixture text")
        ));
    }
    out.push_str("── diagnostics\n");
    for d in diagnostics {
        out.push_str(&d.to_human(false));
        out.push('\n');
    }
    out
}

/// The code a fixture is named after (`E0105` of `E0105-unknown-label.flow`).
pub fn code_of(path: &Path) -> String {
    let name = path
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.split('-').next().unwrap_or_default().to_string()
}

#[test]
fn every_fixture_reports_its_code_and_matches_its_snapshot() {
    let mut failures = Vec::new();
    for path in fixtures() {
        let diagnostics = check(&path);
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let code = code_of(&path);
        if (code.starts_with('E') || code.starts_with('W'))
            && !diagnostics.iter().any(|d| d.code == code)
        {
            let got: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
            failures.push(format!("{name}: expected {code}, got {got:?}"));
        }
        insta::with_settings!({ snapshot_path => "../diagnostics/snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, render(&path, &diagnostics));
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_has_a_fixture_and_an_explanation() {
    let fixtures: Vec<String> = fixtures().iter().map(|p| code_of(p)).collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !fixtures.iter().any(|f| f == c))
        .collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
    for code in CODES {
        assert!(
            code.explanation.len() > 40,
            "{} needs a real explanation",
            code.code
        );
    }
    for fixture in &fixtures {
        if fixture.starts_with('E') || fixture.starts_with('W') {
            assert!(
                CODES.iter().any(|c| c.code == fixture),
                "fixture for unknown code {fixture}"
            );
        }
    }
}

#[test]
fn five_independent_mistakes_are_reported_in_one_run() {
    let diagnostics = check(&root().join("tests/diagnostics/five-mistakes.flow"));
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    // A syntax error, an unknown queue, a duplicate key, a zero duration and an unknown variable.
    for code in ["E0001", "E0103", "E0302", "E0207", "E0211"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert_eq!(diagnostics.len(), 5, "{codes:?}");
}

#[test]
fn the_catalogue_in_docs_is_up_to_date() {
    let path = root().join("docs/diagnostics.md");
    let generated = dialect_compiler::diagnostic::catalogue_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/diagnostics.md");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/diagnostics.md is stale: run `UPDATE_DOCS=1 cargo test --test e2e catalogue`"
    );
}
