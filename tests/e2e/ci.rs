//! Machine-readable output for CI, through the `dialect` binary: SARIF 2.1.0
//! logs that validate against the OASIS schema (`tests/data/`) with the
//! right rules, regions and related locations; GitHub Actions annotations
//! with escaped paths; and the exit codes of every format, with and without
//! `--deny-warnings`.

use super::build::scratch;
use super::diagnostics::{code_of, fixtures};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `dialect` in `cwd`; the exit code and stdout.
fn dialect(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("dialect runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The SARIF 2.1.0 schema kept as test data, compiled once, with `format`
/// checked (URIs must be URIs).
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json"))
            .expect("the schema is kept in tests/data");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        // The OASIS standard's schema, not a draft or a copy of a copy.
        assert_eq!(
            schema["id"],
            "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
        );
        assert_eq!(
            schema["title"],
            "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
        );
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the schema compiles offline")
    })
}

/// Parses a SARIF log and validates it against the schema.
fn valid_sarif(stdout: &str, what: &str) -> Value {
    let log: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{stdout}"));
    let errors: Vec<String> = validator()
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: invalid SARIF:\n{errors:#?}");
    log
}

/// The diagnostics of `dialect check --format json` for the same inputs.
fn json_diagnostics(cwd: &Path, paths: &[&str]) -> Vec<Value> {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(paths);
    let (_, stdout) = dialect(cwd, &args);
    let doc: Value = serde_json::from_str(&stdout).expect("json output");
    doc["diagnostics"].as_array().cloned().unwrap_or_default()
}

/// Checks one SARIF log against the JSON diagnostics of the same run: the
/// rules are exactly the codes reported, each result points at its rule, and
/// every secondary label is a related location with its text.
fn agrees_with_json(log: &Value, diagnostics: &[Value], what: &str) {
    let run = &log["runs"][0];
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(run["tool"]["driver"]["name"], "dialect");
    assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["columnKind"], "utf16CodeUnits");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let rule_ids: BTreeSet<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    let codes: BTreeSet<&str> = diagnostics
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(rule_ids, codes, "{what}: one rule per code reported");
    assert_eq!(rule_ids.len(), rules.len(), "{what}: no rule twice");
    for rule in rules {
        let id = rule["id"].as_str().unwrap_or_default();
        let entry = dialect_compiler::diagnostic::explain(id).expect("a catalogued code");
        assert_eq!(rule["shortDescription"]["text"], entry.title);
        assert_eq!(rule["fullDescription"]["text"], entry.explanation);
        let level = if id.starts_with('W') {
            "warning"
        } else {
            "error"
        };
        assert_eq!(rule["defaultConfiguration"]["level"], level, "{id}");
    }
    let results = run["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        diagnostics.len(),
        "{what}: one result per diagnostic"
    );
    for (result, d) in results.iter().zip(diagnostics) {
        assert_eq!(result["ruleId"], d["code"], "{what}");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            rules[index]["id"], d["code"],
            "{what}: ruleIndex points at its rule"
        );
        assert_eq!(result["level"], d["severity"], "{what}");
        let text = result["message"]["text"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(d["message"].as_str().unwrap_or_default()),
            "{what}: {text}"
        );
        if let Some(help) = d["help"].as_str() {
            assert!(text.ends_with(&format!("\nhelp: {help}")), "{what}: {text}");
        }
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region["startLine"], d["line"], "{what}");
        assert_eq!(region["endLine"], d["end_line"], "{what}");
        let secondary: Vec<&Value> = d["labels"]
            .as_array()
            .map(|ls| ls.iter().filter(|l| l["primary"] == false).collect())
            .unwrap_or_default();
        let related = result["relatedLocations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(related.len(), secondary.len(), "{what}: {result}");
        for (r, l) in related.iter().zip(&secondary) {
            assert_eq!(r["message"]["text"], l["text"], "{what}");
        }
        assert!(
            result["partialFingerprints"]["dialect/v1"].is_string(),
            "{what}: a fingerprint"
        );
    }
}

#[test]
fn sarif_of_every_fixture_validates_and_names_its_code() {
    let mut related = 0;
    for fixture in fixtures() {
        let rel = fixture
            .strip_prefix(root())
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        // A fixture with environments is checked in staging (as
        // diagnostics.rs does).
        let mut args = vec![rel.as_str()];
        if fixture.join("environments/staging.toml").is_file() {
            args.extend(["--env", "staging"]);
        }
        let mut sarif = vec!["check", "--format", "sarif"];
        sarif.extend(&args);
        let (code, stdout) = dialect(&root(), &sarif);
        let log = valid_sarif(&stdout, &rel);
        let diagnostics = json_diagnostics(&root(), &args);
        agrees_with_json(&log, &diagnostics, &rel);
        let expected = code_of(&fixture);
        let run = &log["runs"][0];
        if expected.starts_with('E') || expected.starts_with('W') {
            assert!(
                run["results"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|r| r["ruleId"] == expected.as_str())),
                "{rel}: a result for {expected}"
            );
        }
        let errors = diagnostics.iter().any(|d| d["severity"] == "error");
        assert_eq!(code, if errors { 1 } else { 0 }, "{rel}");
        assert_eq!(run["invocations"][0]["exitCode"], code);
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        related += run["results"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter(|r| r.get("relatedLocations").is_some())
                    .count()
            })
            .unwrap_or(0);
    }
    assert!(related >= 5, "fixtures with secondary labels: {related}");
}

#[test]
fn sarif_of_all_fixtures_at_once_and_of_the_clean_flows_validates() {
    let (code, stdout) = dialect(
        &root(),
        &["check", "tests/diagnostics/", "--format", "sarif"],
    );
    assert_eq!(code, 1);
    let log = valid_sarif(&stdout, "tests/diagnostics/");
    agrees_with_json(
        &log,
        &json_diagnostics(&root(), &["tests/diagnostics/"]),
        "all fixtures",
    );

    let (code, stdout) = dialect(
        &root(),
        &[
            "check",
            "flows/",
            "stdlib/",
            "--format",
            "sarif",
            "--deny-warnings",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let log = valid_sarif(&stdout, "flows/ stdlib/");
    let run = &log["runs"][0];
    assert_eq!(run["results"], serde_json::json!([]));
    assert_eq!(run["tool"]["driver"]["rules"], serde_json::json!([]));
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    assert_eq!(run["invocations"][0]["exitCode"], 0);

    // Deterministic: the same run gives the same bytes.
    let (_, first) = dialect(
        &root(),
        &["check", "tests/diagnostics/", "--format", "sarif"],
    );
    let (_, second) = dialect(
        &root(),
        &["check", "tests/diagnostics/", "--format", "sarif"],
    );
    assert_eq!(first, second);
}

#[test]
fn a_sarif_result_has_the_exact_region_and_related_locations() {
    let (_, stdout) = dialect(
        &root(),
        &[
            "check",
            "tests/diagnostics/E0105-unknown-label.flow",
            "--format",
            "sarif",
        ],
    );
    let log = valid_sarif(&stdout, "E0105");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "E0105");
    assert_eq!(
        result["message"]["text"],
        "`goto mian`: no block has the label `mian`\nhelp: did you mean `main`?"
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"],
        serde_json::json!({ "uri": "tests/diagnostics/E0105-unknown-label.flow", "uriBaseId": "%SRCROOT%" })
    );
    // `on 1 { goto mian }` on line 8: `mian` is columns 19 to 22.
    assert_eq!(
        location["region"],
        serde_json::json!({ "startLine": 8, "startColumn": 19, "endLine": 8, "endColumn": 23 })
    );

    // E0110: the second arm is the result, the first its related location.
    let (_, stdout) = dialect(
        &root(),
        &[
            "check",
            "tests/diagnostics/E0110-arm-twice.flow",
            "--format",
            "sarif",
        ],
    );
    let log = valid_sarif(&stdout, "E0110");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["locations"][0]["message"]["text"], "second arm");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        15
    );
    let related = &result["relatedLocations"][0];
    assert_eq!(related["message"]["text"], "first arm");
    assert_eq!(
        related["physicalLocation"]["region"],
        serde_json::json!({ "startLine": 14, "startColumn": 10, "endLine": 14, "endColumn": 16 })
    );
}

#[test]
fn sarif_columns_are_utf16_units_on_a_non_ascii_line() {
    let dir = scratch("sarif-utf16");
    let text = std::fs::read_to_string(root().join("tests/diagnostics/E0105-unknown-label.flow"))
        .expect("fixture")
        .replace("on 1 { goto mian }", "on 1 { say \"Żółw 🐢\"; goto mian }");
    std::fs::write(dir.join("turtle.flow"), &text).expect("write");
    let (code, stdout) = dialect(&dir, &["check", "turtle.flow", "--format", "sarif"]);
    assert_eq!(code, 1, "{stdout}");
    let log = valid_sarif(&stdout, "turtle.flow");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "E0105");
    // `      on 1 { say "Żółw 🐢"; goto ` is 32 characters but 33 UTF-16
    // units (the turtle is a surrogate pair): `mian` starts at unit 34.
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"],
        serde_json::json!({ "startLine": 8, "startColumn": 34, "endLine": 8, "endColumn": 38 })
    );
    // The JSON and GitHub formats count characters.
    let d = &json_diagnostics(&dir, &["turtle.flow"])[0];
    assert_eq!(
        (&d["column"], &d["end_column"]),
        (&serde_json::json!(33), &serde_json::json!(37))
    );
    let (_, github) = dialect(&dir, &["check", "turtle.flow", "--format", "github"]);
    assert!(
        github.contains(",line=8,col=33,endLine=8,endColumn=37,"),
        "{github}"
    );
}

#[test]
fn unreadable_inputs_are_tool_notifications_and_exit_2() {
    let (code, stdout) = dialect(
        &root(),
        &[
            "check",
            "tests/diagnostics/E0105-unknown-label.flow",
            "no/such/dir",
            "--format",
            "sarif",
        ],
    );
    assert_eq!(code, 2, "{stdout}");
    let log = valid_sarif(&stdout, "with a missing path");
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(invocation["exitCode"], 2);
    assert_eq!(
        invocation["toolExecutionNotifications"][0]["message"]["text"],
        "no/such/dir: no such file or directory"
    );
    assert_eq!(
        invocation["toolExecutionNotifications"][0]["level"],
        "error"
    );
    // The diagnostics of the files that were read are still there.
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "E0105");

    let (code, stdout) = dialect(&root(), &["check", "no/such/dir", "--format", "github"]);
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(
        stdout.lines().next(),
        Some("::error::no/such/dir: no such file or directory")
    );
}

#[test]
fn github_annotations_escape_a_path_with_a_comma_and_a_colon() {
    let dir = scratch("github-annotations");
    let flows = dir.join("team a,b:c");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::copy(
        root().join("tests/diagnostics/E0105-unknown-label.flow"),
        flows.join("menu.flow"),
    )
    .expect("copy the fixture");
    let expected = "::error file=team a%2Cb%3Ac/menu.flow,line=8,col=19,endLine=8,endColumn=23,title=E0105::`goto mian`: no block has the label `mian`%0Ahelp: did you mean `main`?";

    let (code, stdout) = dialect(&dir, &["check", "team a,b:c/", "--format", "github"]);
    assert_eq!(code, 1, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&expected), "{stdout}");
    assert_eq!(
        lines.last(),
        Some(&"1 file(s), 0 campaign(s), 4 block(s): 1 error(s), 0 warning(s)"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 2, "{stdout}");

    // An absolute path under the current directory is made relative.
    let absolute = flows.join("menu.flow");
    let (_, stdout) = dialect(
        &dir,
        &[
            "check",
            absolute.to_str().expect("utf-8"),
            "--format",
            "github",
        ],
    );
    assert_eq!(stdout.lines().next(), Some(expected), "{stdout}");

    // SARIF: the same file as a percent-encoded URI reference.
    let (_, stdout) = dialect(&dir, &["check", "team a,b:c/", "--format", "sarif"]);
    let log = valid_sarif(&stdout, "comma and colon");
    assert_eq!(
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "team%20a%2Cb%3Ac/menu.flow"
    );
}

#[test]
fn deny_warnings_fails_a_warnings_only_run_in_every_format() {
    let fixture = "tests/diagnostics/W0306-unreachable.flow";
    for format in ["human", "json", "sarif", "github"] {
        let (code, stdout) = dialect(&root(), &["check", fixture, "--format", format]);
        assert_eq!(code, 0, "{format}: warnings alone pass\n{stdout}");
        let (denied, denied_out) = dialect(
            &root(),
            &["check", fixture, "--format", format, "--deny-warnings"],
        );
        assert_eq!(denied, 1, "{format} --deny-warnings\n{denied_out}");
        match format {
            "sarif" => {
                let log = valid_sarif(&denied_out, "W0306");
                assert_eq!(log["runs"][0]["results"][0]["level"], "warning");
                assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], 1);
            }
            "github" => assert!(
                denied_out.starts_with(
                    "::warning file=tests/diagnostics/W0306-unreachable.flow,line=9,col=5,"
                ),
                "{denied_out}"
            ),
            _ => {}
        }
    }
    let (code, _) = dialect(&root(), &["check", fixture, "--format", "xml"]);
    assert_eq!(code, 2, "an unknown format is a usage error");
}

/// The exit codes of `dialect test` and `dialect fmt` that separate a problem
/// found in the flows (1) from a problem of use (2), as README.md tables them.
#[test]
fn errors_in_flows_exit_1_and_unusable_files_exit_2() {
    let dir = super::build::scratch("exit-codes");
    std::fs::write(
        dir.join("broken.flow"),
        "campaign broken {\n  ivr {\n    answer\n    goto nowhere\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.test.toml"), "").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dialect"))
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["test", "broken.flow"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario was run"));
    let out = run(&["test", "missing.flow"]);
    assert_eq!(out.status.code(), Some(2));

    // fmt: a syntax error is 1, a file that is not text is 2.
    std::fs::write(dir.join("syntax.flow"), "campaign x {\n").unwrap();
    let out = run(&["fmt", "syntax.flow"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("binary.flow"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let out = run(&["fmt", "binary.flow"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
