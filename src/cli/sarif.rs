//! `dialect check --format sarif`: one SARIF 2.1.0 log (OASIS Static
//! Analysis Results Interchange Format) for code-scanning services.
//!
//! One run; the tool's rules are the catalogue entries of the codes that
//! occur; each diagnostic is a result with its primary span as the location
//! and its other labels as related locations. Columns are UTF-16 code units
//! (`columnKind`), SARIF's default and what most consumers assume. Paths are
//! relative to the current directory (`uriBaseId` `%SRCROOT%`), so the log is
//! the same for the same sources wherever the checkout lies.

use super::check::{Place, place};
use dialect_compiler::diagnostic::{self, Diagnostic, Label, Severity};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The schema a log names in `$schema`: the OASIS standard's, with its errata.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The URI base of every relative artifact location: the directory
/// `dialect check` ran in.
pub const SRCROOT: &str = "%SRCROOT%";

/// The key of the fingerprint in `partialFingerprints` (versioned, as SARIF
/// asks: a new way of computing it gets a new key).
pub const FINGERPRINT: &str = "dialect/v1";

/// The whole log for one `dialect check`.
///
/// `exit_code` is what the command returns; `cwd` is the directory paths are
/// made relative to; `repository` (the package's repository URL, may be
/// empty) gives the tool's `informationUri` and each rule's `helpUri` when it
/// is set.
pub fn log(
    diagnostics: &[Diagnostic],
    io_errors: &[String],
    exit_code: i32,
    cwd: Option<&Path>,
    repository: &str,
) -> Value {
    // Rules: one per code that occurs, in code order.
    let codes: Vec<&str> = {
        let mut codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    };
    let index: BTreeMap<&str, usize> = codes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let repository = repository.trim_end_matches('/');
    let rules: Vec<Value> = codes.iter().map(|code| rule(code, repository)).collect();

    // How many earlier results had the same code, file and message: keeps
    // fingerprints distinct without depending on line numbers.
    let mut seen: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let occurrence = seen.entry((d.code, &d.path, &d.message)).or_insert(0);
            let n = *occurrence;
            *occurrence += 1;
            result(d, index.get(d.code).copied().unwrap_or(0), n, cwd)
        })
        .collect();

    let notifications: Vec<Value> = io_errors
        .iter()
        .map(|e| json!({ "level": "error", "message": { "text": e } }))
        .collect();

    let mut driver = json!({
        "name": "dialect",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    if !repository.is_empty() {
        insert(&mut driver, "informationUri", json!(repository));
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "columnKind": "utf16CodeUnits",
            "invocations": [{
                "executionSuccessful": io_errors.is_empty(),
                "exitCode": exit_code,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// Adds a member to a JSON object (nothing if it is not one).
fn insert(object: &mut Value, key: &str, value: Value) {
    if let Some(members) = object.as_object_mut() {
        members.insert(key.to_string(), value);
    }
}

/// The reporting descriptor of a code, from the catalogue.
fn rule(code: &str, repository: &str) -> Value {
    let level = if code.starts_with('W') {
        "warning"
    } else {
        "error"
    };
    let Some(entry) = diagnostic::explain(code) else {
        return json!({
            "id": code,
            "shortDescription": { "text": code },
            "defaultConfiguration": { "level": level },
        });
    };
    let mut rule = json!({
        "id": code,
        "name": pascal_case(entry.title),
        "shortDescription": { "text": entry.title },
        "fullDescription": { "text": entry.explanation, "markdown": entry.explanation },
        "help": {
            "text": format!("{}\n\n`dialect explain {code}` prints this text.", entry.explanation),
            "markdown": format!("**{code}: {}**\n\n{}\n\n`dialect explain {code}` prints this text.", entry.title, entry.explanation),
        },
        "defaultConfiguration": { "level": level },
    });
    if !repository.is_empty() {
        let uri = format!(
            "{repository}/blob/HEAD/docs/diagnostics.md#{}",
            code.to_ascii_lowercase()
        );
        insert(&mut rule, "helpUri", json!(uri));
    }
    rule
}

/// `unknown jump target` → `UnknownJumpTarget` (SARIF wants rule names
/// that read like identifiers).
fn pascal_case(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w: String = w.chars().filter(|c| c.is_alphanumeric()).collect();
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// One diagnostic as a result; `n` counts earlier identical ones.
fn result(d: &Diagnostic, rule_index: usize, n: usize, cwd: Option<&Path>) -> Value {
    let artifact = artifact_location(&d.path, cwd);
    let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
    let span = d.span();
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": region(&d.text, span.start, span.end),
        },
    });
    if let Some(label) = primary.filter(|l| !l.text.is_empty()) {
        insert(&mut location, "message", json!({ "text": label.text }));
    }
    let related: Vec<Value> = d
        .labels
        .iter()
        .filter(|l| !l.primary)
        .enumerate()
        .map(|(id, l)| related_location(d, l, id, &artifact))
        .collect();
    let text = match &d.help {
        Some(help) => format!("{}\nhelp: {help}", d.message),
        None => d.message.clone(),
    };
    let uri = artifact.get("uri").and_then(Value::as_str).unwrap_or("");
    let mut result = json!({
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": { "text": text },
        "locations": [location],
        "partialFingerprints": { FINGERPRINT: fingerprint(d.code, uri, &d.message, n) },
    });
    if !related.is_empty() {
        insert(&mut result, "relatedLocations", json!(related));
    }
    result
}

/// A secondary label as a related location, its text as the message.
fn related_location(d: &Diagnostic, label: &Label, id: usize, artifact: &Value) -> Value {
    json!({
        "id": id,
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": region(&d.text, label.span.start, label.span.end),
        },
        "message": { "text": label.text },
    })
}

/// The stable identity of a result across commits: code, file, message and
/// occurrence, not the line (code above it may move).
fn fingerprint(code: &str, uri: &str, message: &str, n: usize) -> String {
    let mut hash = Sha256::new();
    for part in [code, uri, message, &n.to_string()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file as a SARIF artifact location: a relative URI reference under
/// `%SRCROOT%`, or a `file:` URI for a file outside the current directory.
pub fn artifact_location(path: &str, cwd: Option<&Path>) -> Value {
    match place(path, cwd) {
        Place::Relative(rel) => json!({ "uri": percent_encode(&rel), "uriBaseId": SRCROOT }),
        Place::Absolute(abs) => {
            let slashed = abs.to_string_lossy().replace('\\', "/");
            let slashed = if slashed.starts_with('/') {
                slashed
            } else {
                format!("/{slashed}")
            };
            json!({ "uri": format!("file://{}", percent_encode(&slashed)) })
        }
    }
}

/// Percent-encodes a `/`-separated path as a URI path: everything but the
/// unreserved characters and `/` (so a `:` cannot be read as a scheme, and
/// spaces, `%`, `#` and `?` stay in the path).
pub fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A SARIF region (1-based lines; columns in UTF-16 code units, the end
/// column one past the last character) of byte offsets in a file.
fn region(text: &str, start: u32, end: u32) -> Value {
    let (start_line, start_column) = utf16_line_col(text, start as usize);
    let (end_line, end_column) = utf16_line_col(text, end.max(start) as usize);
    json!({
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    })
}

/// 1-based line and column, in UTF-16 code units, of a byte offset (an
/// offset inside a character counts from that character's start).
pub fn utf16_line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.encode_utf16().count())
        + 1;
    (line, column)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use dialect_compiler::ast::Span;

    fn diagnostic(text: &str, labels: Vec<Label>) -> Diagnostic {
        Diagnostic {
            code: "E0105",
            severity: Severity::Error,
            message: "`goto mian`: no block has the label `mian`".into(),
            labels,
            help: Some("did you mean `main`?".into()),
            file: 0,
            path: "flows/a b,c:d.flow".into(),
            text: text.into(),
        }
    }

    fn label(start: u32, end: u32, text: &str, primary: bool) -> Label {
        Label {
            span: Span { start, end },
            text: text.into(),
            primary,
        }
    }

    #[test]
    fn columns_count_utf16_code_units() {
        // `ż` is one UTF-16 unit (two bytes), `🐢` two units (four bytes).
        let text = "ab\nżó🐢x";
        assert_eq!(utf16_line_col(text, 0), (1, 1));
        assert_eq!(utf16_line_col(text, 3), (2, 1));
        let x = text.find('x').unwrap();
        assert_eq!(utf16_line_col(text, x), (2, 5));
        // Inside the turtle: its start.
        assert_eq!(utf16_line_col(text, x - 1), (2, 3));
        assert_eq!(utf16_line_col(text, 1000), (2, 6));
    }

    #[test]
    fn paths_become_percent_encoded_uri_references() {
        assert_eq!(
            percent_encode("flows/a b,c:d.flow"),
            "flows/a%20b%2Cc%3Ad.flow"
        );
        assert_eq!(
            percent_encode("zażółć/100%.flow"),
            "za%C5%BC%C3%B3%C5%82%C4%87/100%25.flow"
        );
        assert_eq!(
            artifact_location("./flows/../flows/x.flow", None),
            json!({ "uri": "flows/x.flow", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            artifact_location("/srv/dialect/flows/x.flow", Some(Path::new("/srv/dialect"))),
            json!({ "uri": "flows/x.flow", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            artifact_location("/opt/std lib/hours.flow", Some(Path::new("/srv/dialect"))),
            json!({ "uri": "file:///opt/std%20lib/hours.flow" })
        );
    }

    #[test]
    fn rule_names_read_like_identifiers() {
        assert_eq!(pascal_case("unknown jump target"), "UnknownJumpTarget");
        assert_eq!(
            pascal_case("exception outside the campaign's life"),
            "ExceptionOutsideTheCampaignsLife"
        );
        assert_eq!(pascal_case("recursive sub-flow"), "RecursiveSubFlow");
        assert_eq!(
            pascal_case("IVR must start with answer"),
            "IVRMustStartWithAnswer"
        );
    }

    #[test]
    fn a_result_has_its_rule_region_related_locations_and_fingerprint() {
        let text = "say \"🐢\" goto mian\nmain: hangup\n";
        let goto = text.find("mian").unwrap() as u32;
        let main = text.find("main").unwrap() as u32;
        let d = diagnostic(
            text,
            vec![
                label(goto, goto + 4, "unknown label", true),
                label(main, main + 4, "a label like it", false),
            ],
        );
        let log = log(&[d.clone(), d], &[], 1, None, "");
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "E0105");
        assert!(run["tool"]["driver"].get("informationUri").is_none());
        let result = &run["results"][0];
        assert_eq!(result["ruleIndex"], 0);
        assert_eq!(
            result["message"]["text"],
            "`goto mian`: no block has the label `mian`\nhelp: did you mean `main`?"
        );
        // `say "🐢" goto ` is 14 UTF-16 units (the turtle is two).
        assert_eq!(
            result["locations"][0]["physicalLocation"]["region"],
            json!({ "startLine": 1, "startColumn": 15, "endLine": 1, "endColumn": 19 })
        );
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "flows/a%20b%2Cc%3Ad.flow"
        );
        assert_eq!(
            result["relatedLocations"][0]["physicalLocation"]["region"],
            json!({ "startLine": 2, "startColumn": 1, "endLine": 2, "endColumn": 5 })
        );
        assert_eq!(
            result["relatedLocations"][0]["message"]["text"],
            "a label like it"
        );
        // Two identical diagnostics keep distinct fingerprints.
        let first = &run["results"][0]["partialFingerprints"][FINGERPRINT];
        let second = &run["results"][1]["partialFingerprints"][FINGERPRINT];
        assert_eq!(first.as_str().map(str::len), Some(32));
        assert_ne!(first, second);
    }

    #[test]
    fn with_a_repository_the_rules_link_to_the_catalogue_and_the_log_is_valid() {
        let text = "goto mian\n";
        let d = diagnostic(text, vec![label(5, 9, "unknown label", true)]);
        let log = log(
            &[d],
            &["flows/gone.flow: no such file or directory".into()],
            2,
            Some(Path::new("/srv")),
            "https://example.org/dialect/",
        );
        let run = &log["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["informationUri"],
            "https://example.org/dialect"
        );
        assert_eq!(
            run["tool"]["driver"]["rules"][0]["helpUri"],
            "https://example.org/dialect/blob/HEAD/docs/diagnostics.md#e0105"
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
        assert_eq!(run["invocations"][0]["exitCode"], 2);
        assert_eq!(
            run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"],
            "flows/gone.flow: no such file or directory"
        );
        let schema_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        // The schema does check: a relative informationUri is refused.
        let mut bad = log.clone();
        bad["runs"][0]["tool"]["driver"]["informationUri"] = json!("docs/diagnostics.md");
        assert!(!validator.is_valid(&bad));
    }
}
