//! `dialect test`: the scenarios of the real flows pass; a scenario that
//! fails on purpose (`tests/scenarios/`) shows the expected and the actual
//! values, the call's trace and a diagnostic at the right line; JUnit XML is
//! well formed; coverage thresholds and usage errors set the exit code.

use super::build::scratch;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `dialect` in `cwd`; returns the exit code, stdout and stderr.
fn dialect(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("dialect runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `N passed, M failed` line, alone on its line.
fn summary(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words.len(), 4, "summary line `{line}`");
    assert_eq!((words[1], words[3]), ("passed,", "failed"), "`{line}`");
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

#[test]
fn the_scenarios_of_the_flows_pass() {
    let (code, stdout, stderr) = dialect(&root(), &["test", "flows/"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (passed, failed) = summary(&stdout);
    assert_eq!(failed, 0, "{stdout}");
    assert!(passed >= 40, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("{passed} passed, 0 failed")),
        "the summary is a line of its own:\n{stdout}"
    );
    assert!(
        stdout.contains(
            "ok     Monday 09:00, key 1, nobody free: back at the menu (flows/scheme2.test.toml:"
        ),
        "{stdout}"
    );
}

#[test]
fn the_acd_rules_hold_under_dialect_test() {
    // tests/acd-scenarios/: longest idle, priority and ageing, RONA,
    // wrap-up, maximum load, overflow and sticky agents, each a scenario of
    // the real ACD core behind `dialect test`.
    let (code, stdout, stderr) = dialect(&root(), &["test", "tests/acd-scenarios/"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (passed, failed) = summary(&stdout);
    assert_eq!(failed, 0, "{stdout}");
    let scenarios = std::fs::read_to_string(root().join("tests/acd-scenarios/acd.test.toml"))
        .expect("the ACD scenarios")
        .matches("[[scenario]]")
        .count();
    assert_eq!(passed, scenarios, "{stdout}");
    for rule in [
        "ok     longest idle:",
        "ok     priority:",
        "ok     ageing:",
        "ok     RONA: ann never answers",
        "ok     wrap-up:",
        "ok     max load 2:",
        "ok     overflow: nobody in front for 30 s",
        "ok     sticky:",
    ] {
        assert!(stdout.contains(rule), "no `{rule}` in:\n{stdout}");
    }
}

#[test]
fn surveys_run_under_dialect_test() {
    // tests/survey-scenarios/: the after-call survey when the agent hangs up
    // first, none after `no_survey` or when the caller leaves first, the
    // outbound survey scheduled an hour after a call an agent took, and the
    // survey call itself (NPS keys, a recorded comment), every exit taken.
    let (code, stdout, stderr) = dialect(
        &root(),
        &["test", "tests/survey-scenarios/", "--min-coverage", "100"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (passed, failed) = summary(&stdout);
    assert_eq!(failed, 0, "{stdout}");
    let scenarios =
        std::fs::read_to_string(root().join("tests/survey-scenarios/surveys.test.toml"))
            .expect("the survey scenarios")
            .matches("[[scenario]]")
            .count();
    assert_eq!(passed, scenarios, "{stdout}");
    for case in [
        "ok     after call: ann hangs up first; both questions, in the order written: yes, 5",
        "ok     after call: key 2 during the question is no; no key for the csat question twice",
        "ok     after call: the caller hangs up before ann: no survey",
        "ok     after call: a PBX caller passed no_survey: ann hangs up first, no survey",
        "ok     outbound: ann took the call: the NPS survey is scheduled for an hour later",
        "ok     outbound: a PBX caller passed no_survey: nothing scheduled",
        "ok     outbound: nobody took the call: nothing scheduled",
        "ok     survey call: NPS 1 then 0 is 10; a spoken comment",
    ] {
        assert!(stdout.contains(case), "no `{case}` in:\n{stdout}");
    }
}

#[test]
fn the_customer_agent_runs_under_dialect_test() {
    // tests/bot-scenarios/: the real customer agent (dialect-bot) answers
    // the bot blocks: every handoff trigger (custom phrases in Polish and
    // English, `*`, a word that must not match, asking for a human,
    // paused, cannot answer, the bot's own request), every mode (live,
    // async, none), every routing option (teams, users, rules on caller,
    // channel and language, rotation by channel), knowledge-base answers
    // in both languages and the external bot's fallbacks; every exit taken.
    let (code, stdout, stderr) = dialect(
        &root(),
        &["test", "tests/bot-scenarios/", "--min-coverage", "100"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (passed, failed) = summary(&stdout);
    assert_eq!(failed, 0, "{stdout}");
    let scenarios = std::fs::read_to_string(root().join("tests/bot-scenarios/bots.test.toml"))
        .expect("the customer agent's scenarios")
        .matches("[[scenario]]")
        .count();
    assert_eq!(passed, scenarios, "{stdout}");
    for case in [
        "ok     knowledge base: a Polish question gets the Polish answer, then silence: done",
        "ok     knowledge base: two English questions get English answers",
        "ok     custom trigger in Polish, written without diacritics and in upper case: ann answers",
        "ok     custom trigger in English: complaint",
        "ok     custom trigger with a star: refund* matches refunded",
        "ok     mode async: refunded does not match the trigger refund (no star)",
        "ok     default trigger: the caller asks for a human in Polish",
        "ok     default trigger: the caller asks for a human in English",
        "ok     default trigger: the bot is paused",
        "ok     default trigger: the bot cannot answer (low confidence)",
        "ok     external bot: it asks for the handoff itself, with its reason",
        "ok     mode async, users: the English word refund opens a ticket for cleo and dan",
        "ok     mode none: a trigger phrase, a request for a human and a question it cannot answer get the fallback",
        "ok     rule on the caller:",
        "ok     rule on the channel:",
        "ok     rule on the language:",
        "ok     rotation: one other +44 caller handed off first, so this ticket's owner is hugo",
        "ok     rotation by channel:",
        "ok     external bot down: HTTP 500",
        "ok     external bot talks garbage: a body that is not JSON",
        "ok     external bot talks garbage: an unknown reply type",
        "ok     external bot too slow: no reply within its 2 s timeout",
    ] {
        assert!(stdout.contains(case), "no `{case}` in:\n{stdout}");
    }
}

#[test]
fn a_failing_scenario_shows_expected_actual_trace_and_the_flow_line() {
    let (code, stdout, stderr) = dialect(&root(), &["test", "tests/scenarios/"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), (1, 1));
    assert!(
        stdout.contains("ok     key 1: sales (tests/scenarios/failing.test.toml:7)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAILED key 2 but expecting sales (tests/scenarios/failing.test.toml:17)"),
        "{stdout}"
    );
    // The expectation, expected and actual.
    assert!(
        stdout.contains(
            "  prompts:\n    expected: [\"say:Sales: one. Support: two.\", \"say:Sales\"]\n    actual:   [\"say:Sales: one. Support: two.\", \"say:Support\"]"
        ),
        "{stdout}"
    );
    // The whole trace, with virtual times and the lines that issued each command.
    for line in [
        "+0.000s  answer",
        "+1.000s  (key 2)",
        "+1.000s  play say:\"Support\"",
        "tests/scenarios/failing.flow:15 node 4",
        "+4.000s  ended: the flow hung up",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    // The diagnostic points at the block that played the wrong prompt.
    assert!(
        stdout.contains("╭─[tests/scenarios/failing.flow:15:9]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("#2 is `say:Support` here; expected `say:Sales`"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "no colour when not a terminal");
}

/// A minimal XML well-formedness check: tags balance, attributes are
/// quoted, and text holds no raw `<` or stray `&`.
fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        check_text(text)?;
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        if tag.starts_with('?') {
            // The declaration.
        } else if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().ok_or(format!("stray </{name}>"))?;
            if top != name {
                return Err(format!("</{name}> closes <{top}>"));
            }
        } else {
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("");
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            if !tag.ends_with('/') {
                stack.push(name.to_string());
            }
        }
        rest = &rest[close + 1..];
    }
    check_text(rest)?;
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed elements: {stack:?}"))
    }
}

fn check_text(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp..];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| after.starts_with(e))
        {
            return Err(format!("stray & in {text:?}"));
        }
        rest = &rest[amp + 1..];
    }
    Ok(())
}

#[test]
fn junit_is_well_formed_with_the_right_counts() {
    let dir = scratch("junit");
    let path = dir.join("results.xml");
    let (code, stdout, _) = dialect(
        &root(),
        &[
            "test",
            "tests/scenarios/",
            "--junit",
            path.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(code, 1, "{stdout}");
    let xml = std::fs::read_to_string(&path).expect("the JUnit file is written");
    well_formed(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(
        xml.contains("<testsuites name=\"dialect test\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"tests/scenarios/failing.test.toml\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    // Quotes in the message and the trace are escaped.
    assert!(xml.contains("play say:&quot;Support&quot;"), "{xml}");
    // The shape: testsuites > testsuite > testcase, and the failure sits in
    // the failing scenario's testcase, not in the passing one's.
    let suites = xml.find("<testsuites ").expect("<testsuites>");
    let suite = xml.find("<testsuite ").expect("<testsuite>");
    let first_case = xml.find("<testcase ").expect("<testcase>");
    let suite_end = xml.find("</testsuite>").expect("</testsuite>");
    assert!(suites < suite && suite < first_case && first_case < suite_end);
    assert!(suite_end < xml.find("</testsuites>").expect("</testsuites>"));
    let testcase = |name: &str| -> &str {
        let start = xml
            .find(&format!("<testcase name=\"{name}\""))
            .unwrap_or_else(|| panic!("no testcase {name}:\n{xml}"));
        let end = start + xml[start..].find("</testcase>").expect("closed");
        &xml[start..end]
    };
    let failing = testcase("key 2 but expecting sales");
    assert!(
        failing.contains("<failure message=\"") && failing.contains("type=\"expectation\">"),
        "{failing}"
    );
    assert!(!testcase("key 1: sales").contains("<failure"), "{xml}");

    let all = dir.join("all.xml");
    let (code, stdout, _) = dialect(
        &root(),
        &[
            "test",
            "flows/",
            "--junit",
            all.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let xml = std::fs::read_to_string(&all).expect("the JUnit file is written");
    well_formed(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let (passed, _) = summary(&stdout);
    assert_eq!(xml.matches("<testcase ").count(), passed);
    let files = std::fs::read_dir(root().join("flows"))
        .expect("flows/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".test.toml"))
        })
        .count();
    assert!(files >= 8, "a scenario file per flow");
    assert_eq!(
        xml.matches("<testsuite ").count(),
        files,
        "one per scenario file"
    );
    assert_eq!(xml.matches("<failure ").count(), 0);
}

#[test]
fn coverage_reports_every_exit_and_a_minimum_can_fail_the_run() {
    let (code, stdout, _) = dialect(&root(), &["test", "flows/", "--coverage"]);
    assert_eq!(code, 0, "{stdout}");
    for campaign in ["scheme1", "scheme2", "scheme3"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("  {campaign} ")) && l.ends_with("100.0%")),
            "{campaign} is fully covered:\n{stdout}"
        );
    }
    let (code, stdout, _) = dialect(&root(), &["test", "flows/", "--min-coverage", "101"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("is below --min-coverage 101"), "{stdout}");
    summary(&stdout);

    // The failing fixture leaves exits untaken, and names them by line.
    let (_, stdout, _) = dialect(&root(), &["test", "tests/scenarios/", "--coverage"]);
    assert!(
        stdout.contains("not taken: tests/scenarios/failing.flow:12 menu no_input"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not taken: tests/scenarios/failing.flow:18 hangup end"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("sim-usage");
    std::fs::write(
        dir.join("line.flow"),
        "campaign line {\n  name \"L\"\n  id \"L\"\n  numbers [+48221000077]\n  ivr {\n    answer\n    hangup\n  }\n}\n",
    )
    .expect("write flow");
    let run = |args: &[&str]| dialect(&dir, args);

    let (code, _, stderr) = run(&["test", "."]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no scenario file"), "{stderr}");

    std::fs::write(
        dir.join("line.test.toml"),
        "[[scenario]]\nname = \"bad\"\ndialled = \"+48221000077\"\nstart = \"2026-11-23T09:00:00[Europe/Warsaw]\"\nhangup = \"soon\"\n[scenario.expect]\nended = \"hangup\"\n",
    )
    .expect("write scenario");
    let (code, _, stderr) = run(&["test", "."]);
    assert_eq!(code, 2);
    assert!(
        stderr
            .contains("line.test.toml:5:10: scenario \"bad\": `hangup`: `soon` is not a duration"),
        "{stderr}"
    );

    std::fs::write(
        dir.join("line.test.toml"),
        "[[scenario]]\nname = \"ok\"\ndialled = \"+48221000077\"\nstart = \"2026-11-23T09:00:00[Europe/Warsaw]\"\n[scenario.expect]\nended = \"hangup\"\nended_at = \"0s\"\n",
    )
    .expect("write scenario");
    let (code, stdout, _) = run(&["test", "."]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = run(&["test", ".", "--filter", "nothing like it"]);
    assert_eq!(code, 2, "{stderr}");

    // Errors in the flows are a problem found (1), as for `dialect check`.
    std::fs::write(dir.join("broken.flow"), "campaign broken {\n  ivr {\n").expect("write");
    let (code, stdout, stderr) = run(&["test", "."]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("broken.flow"),
        "the diagnostics are printed:\n{stdout}"
    );
}
