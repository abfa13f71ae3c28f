//! The real customer agent behind `dialect test`: conversations with the
//! embedded and the external bot, handoffs routed and traced, and the
//! knowledge bases read when the suite is set up.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_sim::{Run, Suite, run, scenario};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compile(dir: &Path) -> dialect_compiler::Compilation {
    let world = dialect_compiler::world::FsWorld::new(Some(root().join("stdlib")), dir);
    let compilation = dialect_compiler::compile(&world, &[dir.to_path_buf()]);
    assert!(!compilation.has_errors());
    compilation
}

/// The flows of tests/bot-scenarios/.
fn suite() -> Suite {
    let compilation = compile(&root().join("tests/bot-scenarios"));
    Suite::new(&compilation.programs, &compilation.sources).unwrap()
}

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
fn a_handoff_is_traced_with_its_trigger_its_routing_and_its_message() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221009101"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
say = [{ at = "4s", text = "Zwrot pieniedzy, prosze" }]
agents = [{ name = "ben", answer_after = "1s", talk = "10s" }]
[scenario.expect]
handoff = "phrase:zwrot pieniędzy"
handoff_team = "front"
agent = "ben"
ended = "hangup""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    let lines = lines(&run);
    for line in [
        "+4.000s (handoff (phrase): trigger phrase \"zwrot pieniędzy\"; mode live; team front; an agent is available)",
        "+4.000s (handoff message say:\"Łączę z konsultantem.\")",
        "+4.000s (bot hands off)",
        "+4.000s enqueue front_desk",
    ] {
        assert!(lines.iter().any(|l| l == line), "no `{line}` in {lines:#?}");
    }
}

#[test]
fn the_external_bot_gets_the_scripted_answers_in_order_and_none_left_is_unreachable() {
    let suite = suite();
    let run = simulate(
        &suite,
        r#"dialled = "+48221009104"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
bot_http = [{ body = '{"type": "say", "text": "Dzień dobry."}', after = "1s" }]
say = [{ at = "5s", text = "jak zapłacić fakturę" }]
[scenario.expect]
prompts = ["say:Dzień dobry.", "say:Asystent jest niedostępny.", "say:Do widzenia."]
handoff = "none"
ended = "hangup"
ended_at = "11s""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    let lines = lines(&run);
    for line in [
        "+0.000s (request to the bot at https://bot.example.com/turn: turn 0 (opening))",
        "+1.000s (the bot answers: HTTP 200 {\"type\": \"say\", \"text\": \"Dzień dobry.\"})",
        "+5.000s (request to the bot at https://bot.example.com/turn: turn 1 \"jak zapłacić fakturę\")",
        "+5.000s (the customer agent cannot take the call: the bot could not be reached: the scenario's `bot_http` has no answer for request 2)",
        "+5.000s (bot cannot answer)",
    ] {
        assert!(lines.iter().any(|l| l == line), "no `{line}` in {lines:#?}");
    }
}

#[test]
fn each_call_of_a_scenario_reads_bot_http_from_its_start_and_shares_the_rotation() {
    let suite = suite();
    // Three others and this call, all from +44: the owners rotate gil,
    // hugo, gil, and this call, the fourth, gets hugo.
    let run = simulate(
        &suite,
        r#"dialled = "+48221009104"
caller = "+447700900123"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
others = 3
others_say = [{ at = "4s", text = "a human please" }]
bot_http = [{ body = '{"type": "say", "text": "Hello."}' }]
say = [{ at = "6s", text = "a human please" }]
[scenario.expect]
handoff = "asks_for_human:human"
handoff_team = "intl"
handoff_owner = "hugo"
bot_said = ["Hello."]
ended = "hangup""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
}

#[test]
fn scripted_replies_bypass_the_customer_agent() {
    let suite = suite();
    // `helper` would answer this from its knowledge base; the script says
    // otherwise, and no handoff is routed.
    let run = simulate(
        &suite,
        r#"dialled = "+48221009101"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
bot = ["say:Skrypt.", "handoff"]
say = [{ at = "4s", text = "jak mogę zapłacić fakturę" }]
queue_full = ["front_desk"]
[scenario.expect]
prompts = ["say:Skrypt.", "say:Kolejka jest pełna.", "say:Do widzenia."]
bot_said = ["Skrypt."]
handoff_team = "none"
ticket = false
ended = "hangup""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
}

/// A scratch copy of a flow with a bot whose knowledge base is `kb.toml`.
fn scratch(name: &str, kb: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("kb")).unwrap();
    std::fs::write(
        dir.join("x.flow"),
        r#"bot helper { knowledge "kb/faq.toml" }
campaign x {
  name "x"
  id "X"
  numbers [+48221009999]
  ivr {
    answer
    bot helper { on else {} }
  }
}
"#,
    )
    .unwrap();
    std::fs::write(dir.join("kb/faq.toml"), kb).unwrap();
    dir
}

#[test]
fn a_broken_or_missing_knowledge_base_stops_the_suite_naming_the_file_and_the_bot() {
    let dir = scratch(
        "broken-kb",
        "[[entry]]\nquestion = \"Q?\"\nanswer = \"A.\"\n",
    );
    let compilation = compile(&dir);
    let error = Suite::new(&compilation.programs, &compilation.sources).unwrap_err();
    let file = dir.join("kb/faq.toml");
    assert_eq!(error.campaign, "x");
    // dialect-bot words the problem; the suite names the file and the bot.
    assert!(
        error.to_string().starts_with(&format!(
            "campaign `x` cannot run: the knowledge base of bot `helper` (`{}`) is not a valid knowledge base: entry 1, `lang`: ",
            file.display()
        )),
        "{error}"
    );
    // Gone after compiling (the compiler checks that it exists).
    std::fs::remove_file(&file).unwrap();
    let error = Suite::new(&compilation.programs, &compilation.sources).unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "campaign `x` cannot run: the knowledge base of bot `helper` (`{}`) cannot be read: ",
            file.display()
        )),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_good_knowledge_base_beside_the_flows_is_used() {
    let dir = scratch(
        "good-kb",
        "[[entry]]\nquestion = \"Jak zapłacić?\"\nanswer = \"Przelewem.\"\nlang = \"pl\"\n",
    );
    let compilation = compile(&dir);
    let suite = Suite::new(&compilation.programs, &compilation.sources).unwrap();
    let run = simulate(
        &suite,
        r#"dialled = "+48221009999"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
say = [{ at = "1s", text = "jak zapłacić" }]
[scenario.expect]
prompts = ["say:Przelewem."]
bot_said = ["Przelewem."]
ended = "hangup"
ended_at = "14s""#,
    );
    assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_flow_directories_each_answer_from_their_own_knowledge_base() {
    // flows/ and tests/bot-scenarios/ both name `kb/faq.toml`: two files.
    let dirs = [root().join("flows"), root().join("tests/bot-scenarios")];
    let world = dialect_compiler::world::FsWorld::new(Some(root().join("stdlib")), &dirs[0]);
    let compilation = dialect_compiler::compile(&world, &dirs);
    assert!(!compilation.has_errors());
    let suite = Suite::new(&compilation.programs, &compilation.sources).unwrap();
    for (dialled, answer) in [
        (
            "+48221000007",
            "Fakturę zapłacisz przelewem na numer rachunku",
        ),
        (
            "+48221009101",
            "Fakturę zapłacisz przelewem albo w aplikacji mobilnej.",
        ),
    ] {
        let run = simulate(
            &suite,
            &format!(
                r#"dialled = "{dialled}"
start = "2026-11-23T09:00:00[Europe/Warsaw]"
say = [{{ at = "4s", text = "jak zapłacić fakturę" }}]
[scenario.expect]
bot_said = ["{answer}"]
ended = "hangup""#
            ),
        );
        assert!(run.passed(), "{:?}\n{:#?}", run.failures, lines(&run));
    }
}
