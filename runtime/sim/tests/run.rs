//! The runner against the real flows: how it plays the world around the
//! engine (prompts, timers, agents, other callers) and its limits.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_sim::report::Coverage;
use dialect_sim::{Run, Suite, run, scenario};
use std::path::PathBuf;

fn suite() -> Suite {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let world =
        dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &root.join("flows"));
    let compilation = dialect_compiler::compile(&world, &[root.join("flows")]);
    assert!(!compilation.has_errors());
    Suite::new(&compilation.programs, &compilation.sources).unwrap()
}

/// Runs one scenario given as the body of a `[[scenario]]` table.
fn simulate(suite: &Suite, body: &str) -> Run {
    let text = format!("[[scenario]]\nname = \"s\"\n{body}\n");
    let file = scenario::parse("inline.test.toml", &text).unwrap();
    run(suite, &file.scenarios[0])
}

fn lines(run: &Run) -> Vec<String> {
    run.trace
        .iter()
        .map(|l| format!("{} {}", dialect_sim::run::offset(l.at), l.text))
        .collect()
}

#[test]
fn a_key_during_a_prompt_stops_it_and_a_cancelled_timer_never_fires() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000002"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
keys = [{ at = "1s", key = "1" }]
hangup = "20s"
[scenario.expect]
ended = "caller""#,
    );
    assert!(run.passed(), "{:?}", run.failures);
    let lines = lines(&run);
    let key = lines.iter().position(|l| l == "+1.000s (key 1)").unwrap();
    assert_eq!(lines[key + 1], "+1.000s stop playback");
    assert!(
        !lines.iter().any(|l| l.contains("prompt finished")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("timer fired")),
        "{lines:#?}"
    );
}

#[test]
fn the_longest_waiting_call_gets_the_longest_idle_agent() {
    let suite = suite();
    // Two callers ahead: alice (idle since the start) takes the first, bob
    // (on duty from 2 s) the second, and this call waits until alice is free.
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
others = 2
agents = [
  { name = "alice", queue = "common/queues.helpdesk", talk = "30s" },
  { name = "bob", queue = "common/queues.helpdesk", from = "2s", talk = "5m" },
]
[scenario.expect]
agent = "alice"
ended = "hangup"
ended_at = "1m2s999ms""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
}

#[test]
fn a_call_that_never_ends_fails_after_24_hours() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
agents = [{ name = "alice", queue = "common/queues.helpdesk", talk = "25h" }]
[scenario.expect]
ended = "hangup""#,
    );
    assert_eq!(run.failures.len(), 1);
    let failure = &run.failures[0];
    assert_eq!(failure.expectation, "ended");
    assert_eq!(
        failure.actual,
        "the call did not end within 24 hours of virtual time"
    );
    assert_eq!(failure.at.as_ref().unwrap().block, "queue");
}

#[test]
fn a_number_nobody_answers_and_an_unknown_queue_fail_the_scenario() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000555"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
agents = [{ name = "alice", queue = "queues.helpdesk" }]
[scenario.expect]
ended = "hangup""#,
    );
    let what: Vec<&str> = run.failures.iter().map(|f| f.actual.as_str()).collect();
    assert_eq!(
        what,
        ["`queues.helpdesk`", "no campaign answers +48221000555"]
    );
    assert!(
        run.failures[0]
            .expected
            .contains("`common/queues.helpdesk`")
    );
}

#[test]
fn expectations_are_checked_and_placed() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000002"
start = "2026-11-21T10:00:00[Europe/Warsaw]"
[scenario.expect]
prompts = ["prompts/main_menu.wav"]
queues = ["common/queues.sales"]
route = "connected"
agent = "carol"
voicemail = true
no_survey = true
vars = { digits = "1" }
ended = "caller"
ended_at = "1s""#,
    );
    let failed: Vec<&str> = run
        .failures
        .iter()
        .map(|f| f.expectation.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "prompts",
            "queues",
            "route",
            "agent",
            "voicemail",
            "no_survey",
            "vars.digits",
            "ended",
            "ended_at"
        ]
    );
    let prompts = &run.failures[0];
    assert_eq!(prompts.actual, "[\"prompts/closed.wav\"]");
    let at = prompts.at.as_ref().unwrap();
    assert_eq!(
        (at.file.as_str(), at.line, at.block),
        ("scheme2.flow", 55, "play")
    );
    // A queue that never came: the call's last block, the hang-up.
    let queues = run.failures[1].at.as_ref().unwrap();
    assert_eq!((queues.line, queues.block), (55, "hangup"));
}

#[test]
fn coverage_counts_every_exit_and_the_hangups() {
    let suite = suite();
    let mut coverage = Coverage::new(&suite);
    let closed = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-21T10:00:00[Europe/Warsaw]"
[scenario.expect]
ended = "hangup""#,
    );
    // answer next, hours closed, and the `hangup` it leads to.
    assert_eq!(closed.taken, vec![(0, 0), (1, 1), (6, 0)]);
    coverage.add(&closed);
    let table = coverage.render();
    assert!(table.contains("  scheme1        3/11     27.3%"), "{table}");
    assert!(
        table.contains("not taken: flows/scheme1.flow:13 hangup end (the end of the IVR)")
            || table.contains("scheme1.flow:13 hangup end (the end of the IVR)"),
        "{table}"
    );
    assert!(!coverage.reaches(100.0));
}

#[test]
fn the_example_of_the_documentation_parses_and_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/testing.md")).unwrap();
    let section = doc.split("## A complete example").nth(1).unwrap();
    let example = section
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let file = scenario::parse("docs/testing.md", example).unwrap();
    let run = run(&suite(), &file.scenarios[0]);
    assert!(run.passed(), "{:?}", run.failures);
}

#[test]
fn an_offer_that_rings_out_goes_to_the_next_agent() {
    let suite = suite();
    // The helpdesk rings 20 s. alice (first by name among agents ready
    // since 0 s) never answers: RONA at 23 s, then bob.
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
agents = [
  { name = "alice", queue = "common/queues.helpdesk", answers = false },
  { name = "bob", queue = "common/queues.helpdesk", answer_after = "5s", talk = "1m" },
]
[scenario.expect]
agent = "bob"
connected_at = "28s"
ended = "hangup"
ended_at = "1m28s""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    let lines = lines(&run);
    let rona = lines
        .iter()
        .position(|l| {
            l == "+23.000s (RONA: agent alice did not answer within the ring time; the call keeps its place)"
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(lines[rona + 1], "+23.000s (agent bob is ringing)");
}

#[test]
fn declared_agents_serve_their_queues_without_a_queue_field() {
    let suite = suite();
    // alice is in the first line team, which serves the helpdesk.
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
agents = [{ name = "alice", answer_after = "2s" }]
[scenario.expect]
agent = "alice"
connected_at = "5s"
ended = "hangup""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
}

#[test]
fn a_queue_at_its_maximum_size_answers_full() {
    let suite = suite();
    // The helpdesk holds at most 50 waiting calls.
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
others = 50
[scenario.expect]
queues = ["common/queues.helpdesk"]
ended = "hangup"
ended_at = "3s""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    assert!(
        lines(&run).contains(&"+3.000s (the ACD refuses the call: the queue is full)".to_string()),
        "{:#?}",
        lines(&run)
    );
}

#[test]
fn a_private_record_goes_to_its_owner_before_the_last_agent() {
    let suite = suite();
    // The outage hotline queues at 3 s in technical (grace, heidi); the
    // helpline reserves a private record's call for its owner (15 min) and
    // otherwise a returning caller's call for the last agent (30 min).
    let body = |owner: &str| {
        format!(
            r#"dialled = "+48221000099"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
last_agent = "grace"
{owner}
agents = [
  {{ name = "grace", from = "1s", answer_after = "1s" }},
  {{ name = "heidi", from = "2s", answer_after = "1s" }},
  {{ name = "dave", queue = "common/queues.technical", answer_after = "1s" }},
]
[scenario.expect]
ended = "hangup""#
        )
    };
    let agent = |run: &Run| {
        run.trace
            .iter()
            .find_map(|l| l.text.strip_prefix("(agent ")?.strip_suffix(" answers)"))
            .map(str::to_string)
    };
    let sticky = simulate(&suite, &body(""));
    assert!(sticky.passed(), "{:?}", sticky.failures);
    assert_eq!(agent(&sticky).as_deref(), Some("grace"));
    let private = simulate(&suite, &body("record_owner = \"heidi\""));
    assert!(private.passed(), "{:?}", private.failures);
    assert_eq!(agent(&private).as_deref(), Some("heidi"));
}

#[test]
fn agents_and_preferred_agents_must_be_known() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
last_agent = "yves"
agents = [{ name = "zed" }]
[scenario.expect]
ended = "hangup""#,
    );
    let what: Vec<(&str, &str)> = run
        .failures
        .iter()
        .map(|f| (f.expectation.as_str(), f.actual.as_str()))
        .collect();
    assert_eq!(
        what,
        [
            ("agent names", "`zed` with no `queue`"),
            ("last_agent", "`yves`"),
        ]
    );
    assert!(
        run.failures[0].expected.contains("`alice`"),
        "{:?}",
        run.failures
    );
}

#[test]
fn connected_at_is_checked_and_placed_at_the_queue() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
agents = [{ name = "alice", answer_after = "2s" }]
[scenario.expect]
connected_at = "4s"
ended = "hangup""#,
    );
    assert_eq!(run.failures.len(), 1, "{:?}", run.failures);
    let failure = &run.failures[0];
    assert_eq!(
        (failure.expected.as_str(), failure.actual.as_str()),
        ("+4.000s", "+5.000s")
    );
    assert_eq!(failure.at.as_ref().unwrap().block, "queue");
    let never = simulate(
        &suite,
        r#"dialled = "+48221000001"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
hangup = "10s"
[scenario.expect]
connected_at = "4s"
ended = "caller""#,
    );
    assert_eq!(never.failures[0].actual, "never connected");
}

#[test]
fn the_after_call_survey_is_traced_and_checked() {
    // The helpline's CSAT survey: erin hangs up at 1m15s (queued at 13 s,
    // answers at 15 s); the intro until 1m18s, the question until 1m21s,
    // key 5 at 1m22s.
    let suite = suite();
    let body = r#"dialled = "+48221000000"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
http = [{ url = "https://crm.example.com/api/login", status = 500 }]
keys = [{ at = "13s", key = "2" }, { at = "1m22s", key = "5" }]
agents = [{ name = "erin", queue = "common/queues.administration", answer_after = "2s", talk = "1m" }]
[scenario.expect]
survey = { score = "5" }
survey_scheduled = false
ended = "hangup"
ended_at = "1m25s""#;
    let run = simulate(&suite, body);
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    let lines = lines(&run);
    for line in [
        "+75.000s (the other party hangs up)",
        "+82.000s survey std/survey.csat score: 5",
        "+85.000s survey std/survey.csat done",
    ] {
        assert!(lines.iter().any(|l| l == line), "no `{line}` in {lines:#?}");
    }

    // The same call against wrong expectations: each placed.
    let wrong = body
        .replace("score = \"5\"", "score = \"4\"")
        .replace("survey_scheduled = false", "survey_scheduled = \"1h\"");
    let run = simulate(&suite, &wrong);
    let failed: Vec<&str> = run
        .failures
        .iter()
        .map(|f| f.expectation.as_str())
        .collect();
    assert_eq!(failed, ["survey", "survey_scheduled"]);
    let survey = &run.failures[0];
    assert_eq!(survey.expected, "{ score = \"4\" }");
    assert_eq!(survey.actual, "{ score = \"5\" }");
    assert_eq!(survey.label, "`score` was answered `5` here");
    let at = survey.at.as_ref().unwrap();
    assert_eq!((at.file.as_str(), at.block), ("complete.flow", "queue"));
    assert_eq!(run.failures[1].actual, "false");
}

#[test]
fn a_survey_call_runs_the_survey_alone() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221000000"
survey_call = "std/survey.csat"
start = "2026-11-23T18:00:00[Europe/Warsaw]"
keys = [{ at = "4s", key = "3" }]
[scenario.expect]
prompts = [
  "say:Prosimy o ocenę rozmowy. To zajmie tylko chwilę.",
  "say:Jak oceniasz obsługę? Wciśnij od jednego do pięciu, gdzie pięć to ocena najwyższa.",
  "say:Dziękujemy za ocenę. Do usłyszenia.",
]
survey = { score = "3" }
ended = "hangup"
ended_at = "7s""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    assert!(!lines(&run).iter().any(|l| l.ends_with(" answer")));
    // A survey call takes no exit of the flow.
    assert_eq!(run.taken, vec![]);

    let refused = simulate(
        &suite,
        r#"dialled = "+48221000000"
survey_call = "std/survey.nps"
start = "2026-11-23T18:00:00[Europe/Warsaw]"
[scenario.expect]
ended = "hangup""#,
    );
    assert_eq!(
        refused.failures[0].actual,
        "the survey call was refused: campaign `helpline` has no survey `std/survey.nps`"
    );
}

#[test]
fn the_examples_of_the_survey_documentation_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("tests/survey-scenarios");
    let world = dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &dir);
    let compilation = dialect_compiler::compile(&world, &[dir]);
    assert!(!compilation.has_errors());
    let suite = Suite::new(&compilation.programs, &compilation.sources).unwrap();
    let doc = std::fs::read_to_string(root.join("docs/surveys.md")).unwrap();
    let example = doc
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let file = scenario::parse("docs/surveys.md", example).unwrap();
    assert_eq!(file.scenarios.len(), 2);
    for scenario in &file.scenarios {
        let run = run(&suite, scenario);
        assert!(run.passed(), "{}: {:?}", scenario.name, run.failures);
    }
}
