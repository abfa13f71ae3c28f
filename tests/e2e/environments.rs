//! Per-environment bindings (issue 8) through the `dialect` binary: the
//! fixture `tests/env-flows/` names a number, a URL, a queue, a duration and
//! a forwarding number `env.NAME`; `environments/production.toml` binds them
//! all, `environments/staging.toml` misses the forwarding number.

use crate::build::scratch;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `dialect` in the checkout with `args` (and `DIALECT_ENV` only when given).
fn dialect(args: &[&str], env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dialect"));
    command
        .current_dir(root())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DIALECT_ENV");
    if let Some(env) = env {
        command.env("DIALECT_ENV", env);
    }
    command.output().expect("dialect runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn production_binds_every_name() {
    let out = dialect(&["check", "tests/env-flows", "--env", "production"], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 campaign(s)"), "{text}");
    assert!(text.contains("0 error(s), 0 warning(s)"), "{text}");
}

/// The one diagnostic of `dialect check --format json` with `args`.
fn one_diagnostic(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let out = dialect(&all, None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1, "{report:#}");
    (out.status.code(), diagnostics[0].clone())
}

#[test]
fn staging_misses_a_binding_named_with_its_file() {
    let out = dialect(&["check", "tests/env-flows", "--env", "staging"], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // For people: the code, the logical name, the environment file whole,
    // and an excerpt of the flow at the reference.
    for expected in [
        "E0401",
        "`env.outsourced_support`",
        "environment `staging`",
        "(tests/env-flows/environments/staging.toml)",
        "tests/env-flows/support.flow:28:14",
        "dial env.outsourced_support {",
        "1 error(s), 0 warning(s)",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    // For tools: the exact wording.
    let (code, d) = one_diagnostic(&["tests/env-flows", "--env", "staging"]);
    assert_eq!(code, Some(1));
    assert_eq!(d["code"], "E0401");
    assert_eq!(
        d["message"],
        "no binding for `env.outsourced_support` in environment `staging` (tests/env-flows/environments/staging.toml)"
    );
    assert_eq!(d["file"], "tests/env-flows/support.flow");
    assert_eq!(
        d["help"],
        "add `outsourced_support = VALUE` under `[bindings]` in tests/env-flows/environments/staging.toml"
    );
}

#[test]
fn without_an_environment_the_choice_is_missing() {
    let out = dialect(&["check", "tests/env-flows"], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("E0402"), "{text}");
    assert!(text.contains("no environment was chosen"), "{text}");
    let (code, d) = one_diagnostic(&["tests/env-flows"]);
    assert_eq!(code, Some(1));
    assert_eq!(d["code"], "E0402");
    assert_eq!(
        d["help"],
        "choose an environment of tests/env-flows/environments: `--env production` or `--env staging` (or set DIALECT_ENV)"
    );
    // `DIALECT_ENV` chooses as `--env` does.
    let out = dialect(&["check", "tests/env-flows"], Some("production"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let out = dialect(&["check", "tests/env-flows", "--env", "nope"], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "--env nope: there is no environment file tests/env-flows/environments/nope.toml; the environments are: production, staging"
        ),
        "{text}"
    );
}

#[test]
fn a_build_bakes_the_bound_values_in() {
    let out_dir = scratch("env-build");
    let out = dialect(
        &[
            "build",
            "tests/env-flows",
            "--env",
            "production",
            "-o",
            out_dir.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let artifact = out_dir.join("env_support.dialect");
    let dump = dump(&artifact);
    for expected in [
        "+48225550199",
        "+48221000080",
        "https://crm.example.com/api/calls",
        "queues.technical",
        "environment = \"production\"",
    ] {
        assert!(dump.contains(expected), "{expected} missing from\n{dump}");
    }
    assert!(!dump.contains("staging"), "{dump}");

    // A build for staging refuses to write anything.
    let staging_dir = scratch("env-build-staging");
    let out = dialect(
        &[
            "build",
            "tests/env-flows",
            "--env",
            "staging",
            "-o",
            staging_dir.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(!staging_dir.join("env_support.dialect").exists());
}

#[test]
fn env_dir_chooses_another_environments_directory() {
    let dir = scratch("env-dir");
    std::fs::write(
        dir.join("production.toml"),
        "[bindings]\nmain_number = \"+48221000082\"\ncrm_api = \"https://crm.elsewhere.example/api\"\nsupport_queue = \"queues.technical\"\nmax_wait = \"2m\"\noutsourced_support = \"+48225550177\"\n",
    )
    .expect("write environment");
    let out_dir = scratch("env-dir-build");
    let out = dialect(
        &[
            "build",
            "tests/env-flows",
            "--env",
            "production",
            "--env-dir",
            dir.to_str().expect("utf-8 path"),
            "-o",
            out_dir.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let dump = dump(&out_dir.join("env_support.dialect"));
    assert!(dump.contains("+48225550177"), "{dump}");
    assert!(!dump.contains("+48225550199"), "{dump}");
}

#[test]
fn scenarios_run_in_the_chosen_environment() {
    // `support.test.toml` dials production's number and expects
    // production's queue and forwarding number.
    let out = dialect(&["test", "tests/env-flows", "--env", "production"], None);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("1 passed, 0 failed"), "{text}");
    // In staging the flows do not compile, so no scenario runs (errors in
    // the flows: 1, as for `check`).
    let out = dialect(&["test", "tests/env-flows", "--env", "staging"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("E0401"), "{}", stdout(&out));
}

fn dump(artifact: &Path) -> String {
    let out = dialect(&["dump", artifact.to_str().expect("utf-8 path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}
