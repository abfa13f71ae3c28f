//! Per-environment bindings (`env.NAME` in flows, `environments/NAME.toml`
//! beside them), compiled from an in-memory world: every diagnostic of the
//! feature, and the bound values baked into the lowered programs.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_bytecode::{Op, Program, Value as BValue};
use dialect_compiler::diagnostic::{Diagnostic, Severity};
use dialect_compiler::world::World;
use dialect_compiler::{Compilation, Options, compile, compile_with};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Files in memory under `/p`; the environments directory is `/p/environments`.
struct Memory {
    files: BTreeMap<PathBuf, String>,
}

impl Memory {
    fn new(files: &[(&str, &str)]) -> Memory {
        Memory {
            files: files
                .iter()
                .map(|(p, t)| (Path::new("/p").join(p), (*t).to_string()))
                .collect(),
        }
    }
}

impl World for Memory {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not in memory"))
    }
    fn head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        Ok(self.read(path)?.into_bytes().into_iter().take(n).collect())
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.files.keys().any(|f| f.starts_with(path) && f != path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = self
            .files
            .keys()
            .filter_map(|f| {
                let rest = f.strip_prefix(dir).ok()?;
                let first = rest.components().next()?;
                Some(dir.join(first))
            })
            .collect();
        out.dedup();
        Ok(out)
    }
    fn stdlib(&self) -> Option<PathBuf> {
        None
    }
    fn environments(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/p/environments"))
    }
}

/// A flow with a queue, a phone number, a URL and a duration from bindings.
const FLOW: &str = r#"
queue technical {
  max_wait 5m
}

campaign support {
  name env.campaign_name
  id "SUP"
  numbers [env.main_number]

  ivr {
    answer
    say env.greeting
    api_request {
      url env.crm_api
      method post
      on ok {}
      on error {}
      on timeout {}
    }
    queue env.support_queue {
      max_wait env.max_wait
      on else {
        dial env.outsourced_support {
          on busy { hangup }
          on no_answer { hangup }
          on failed { hangup }
        }
      }
    }
  }
}
"#;

const PRODUCTION: &str = r#"# Bindings of the production environment.
[bindings]
campaign_name = "support"             # reads as a name: still the campaign's text
main_number = "+48221000001"
greeting = "10m"                      # reads as a duration: still the prompt's text
crm_api = "https://crm.example.com/api"
support_queue = "technical"
max_wait = "10m"
outsourced_support = "+48 22 555 01 99"
"#;

fn compile_env(files: &[(&str, &str)], env: Option<&str>) -> Compilation {
    let world = Memory::new(files);
    compile_with(
        &world,
        &[PathBuf::from("/p/flows")],
        &Options {
            env: env.map(str::to_string),
        },
    )
}

fn codes(c: &Compilation) -> Vec<&'static str> {
    c.diagnostics().iter().map(|d| d.code).collect()
}

fn only(c: &Compilation, code: &str) -> Diagnostic {
    let found: Vec<Diagnostic> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.code == code)
        .collect();
    assert_eq!(found.len(), 1, "one {code} expected in {:?}", codes(c));
    found.into_iter().next().unwrap()
}

fn excerpt(d: &Diagnostic) -> &str {
    &d.text[d.span().range()]
}

fn ops(program: &Program) -> Vec<&Op> {
    program.nodes.iter().map(|n| &n.op).collect()
}

#[test]
fn bound_values_are_checked_and_baked_into_the_program() {
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/production.toml", PRODUCTION),
        ],
        Some("production"),
    );
    assert!(c.diagnostics().is_empty(), "{:?}", codes(&c));
    assert!(c.io_errors.is_empty(), "{:?}", c.io_errors);
    let program = &c.programs[0];
    assert_eq!(program.numbers, vec!["+48221000001".to_string()]);
    assert_eq!(
        program.settings.get("name"),
        Some(&BValue::Text("support".into()))
    );
    assert_eq!(
        program.settings.get("environment"),
        Some(&BValue::Text("production".into()))
    );
    let ops = ops(program);
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::Dial { number, .. } if number == "+48225550199")),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::Queue { queue, max_wait_ms, .. }
            if queue == "technical" && *max_wait_ms == 600_000)),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::ApiRequest { url, method, .. }
            if url == "https://crm.example.com/api" && method == "post")),
        "{ops:?}"
    );
    // The greeting reads as a duration, but a prompt's words are text.
    assert!(
        program
            .prompts
            .iter()
            .any(|p| matches!(p, dialect_bytecode::Prompt::Say { text, .. } if text == "10m")),
        "{:?}",
        program.prompts
    );
    // The environment file is among the sources, so diagnostics can show it.
    assert!(
        c.sources
            .files
            .iter()
            .any(|f| f.name == "environments/production.toml")
    );
}

#[test]
fn a_missing_binding_names_the_logical_name_the_environment_and_its_file() {
    let staging = PRODUCTION.replace("outsourced_support = \"+48 22 555 01 99\"\n", "");
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/staging.toml", &staging),
        ],
        Some("staging"),
    );
    let d = only(&c, "E0401");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(
        d.message,
        "no binding for `env.outsourced_support` in environment `staging` (/p/environments/staging.toml)"
    );
    assert_eq!(d.path, "/p/flows/support.flow");
    assert_eq!(excerpt(&d), "env.outsourced_support");
    let help = d.help.clone().unwrap();
    assert!(
        help.contains("outsourced_support = VALUE") && help.contains("staging.toml"),
        "{help}"
    );
    assert!(c.programs.is_empty(), "nothing is lowered with an error");
    assert_eq!(codes(&c), vec!["E0401"]);
}

#[test]
fn a_near_miss_is_suggested() {
    let staging = PRODUCTION.replace("outsourced_support =", "outsourced_suport =");
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/staging.toml", &staging),
        ],
        Some("staging"),
    );
    let d = only(&c, "E0401");
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `env.outsourced_suport`?"),
        "{:?}",
        d.help
    );
    // The misspelt binding is unused as well.
    let w = only(&c, "W0403");
    assert_eq!(excerpt(&w), "outsourced_suport");
}

#[test]
fn flows_with_bindings_need_a_chosen_environment() {
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/production.toml", PRODUCTION),
            ("environments/staging.toml", PRODUCTION),
        ],
        None,
    );
    let d = only(&c, "E0402");
    assert_eq!(
        d.message,
        "the flows use `env.campaign_name` (and 6 other bindings), but no environment was chosen"
    );
    assert_eq!(excerpt(&d), "env.campaign_name");
    let help = d.help.unwrap();
    assert!(
        help.contains("`--env production` or `--env staging`"),
        "{help}"
    );
    // Reported once, not at every reference.
    assert_eq!(codes(&c), vec!["E0402"]);
    // `compile` is `compile_with` and no environment.
    let world = Memory::new(&[("flows/support.flow", FLOW)]);
    let plain = compile(&world, &[PathBuf::from("/p/flows")]);
    assert_eq!(codes(&plain), vec!["E0402"]);
}

#[test]
fn flows_without_bindings_need_no_environment() {
    let flow = FLOW
        .replace("name env.campaign_name", "name \"Support\"")
        .replace("[env.main_number]", "[+48221000001]")
        .replace("say env.greeting", "say \"Hello\"")
        .replace("url env.crm_api", "url \"https://crm.example.com\"")
        .replace("env.support_queue", "technical")
        .replace("max_wait env.max_wait", "max_wait 1m")
        .replace("dial env.outsourced_support", "dial +48225550199");
    let c = compile_env(&[("flows/support.flow", &flow)], None);
    assert!(c.diagnostics().is_empty(), "{:?}", codes(&c));
    assert_eq!(c.programs.len(), 1);
    assert_eq!(c.programs[0].settings.get("environment"), None);
}

#[test]
fn an_unused_binding_is_a_warning_on_its_key() {
    let production = format!("{PRODUCTION}legacy_trunk = \"+48225550100\"\n");
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/production.toml", &production),
        ],
        Some("production"),
    );
    let d = only(&c, "W0403");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.path, "/p/environments/production.toml");
    assert_eq!(excerpt(&d), "legacy_trunk");
    assert!(d.message.contains("`legacy_trunk`") && d.message.contains("`production`"));
    // A warning: the campaign is still built.
    assert_eq!(c.programs.len(), 1);
}

#[test]
fn an_environment_file_that_is_not_toml_is_an_error_in_that_file() {
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            (
                "environments/production.toml",
                "[bindings]\nmain_number = +48 22\n",
            ),
        ],
        Some("production"),
    );
    let d = only(&c, "E0404");
    assert_eq!(d.path, "/p/environments/production.toml");
    assert!(
        d.message
            .starts_with("invalid environment file: the file is not valid TOML")
    );
    // The span lies in the bad line.
    let (line, _) = d.line_col(d.span().start);
    assert_eq!(line, 2, "{}", d.message);
    // Only the file is reported, not every reference as missing.
    assert_eq!(codes(&c), vec!["E0404"]);
}

#[test]
fn values_that_cannot_be_bound_are_errors_at_the_value() {
    let file = r#"[bindings]
campaign_name = "support"
main_number = { number = "+48221000001" }
greeting = [["a"], ["b"]]
crm_api = "25:00"
support_queue = "env.other"
max_wait = 1979-05-27T07:32:00Z
"bad-name" = "x"

[other]
x = 1
"#;
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/production.toml", file),
        ],
        Some("production"),
    );
    let bad: Vec<Diagnostic> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.code == "E0404")
        .collect();
    let at: Vec<&str> = bad.iter().map(excerpt).collect();
    assert_eq!(
        at,
        vec![
            "{ number = \"+48221000001\" }",
            "[\"a\"]",
            "\"25:00\"",
            "\"env.other\"",
            "1979-05-27T07:32:00Z",
            "\"bad-name\"",
            "other",
        ],
        "{:?}",
        bad.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    assert!(bad[0].message.contains("not a table"), "{}", bad[0].message);
    assert!(
        bad[2].message.contains("impossible time of day"),
        "{}",
        bad[2].message
    );
    assert!(
        bad[3].message.contains("cannot name a binding"),
        "{}",
        bad[3].message
    );
    // The bindings that could not be read are not reported again, as
    // missing, where the flow uses them; the one not in the file is.
    let missing: Vec<String> = c
        .diagnostics()
        .iter()
        .filter(|d| d.code == "E0401")
        .map(|d| excerpt(d).to_string())
        .collect();
    assert_eq!(missing, vec!["env.outsourced_support"]);
}

#[test]
fn an_environment_without_a_file_is_a_usage_error() {
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/production.toml", PRODUCTION),
            ("environments/staging.toml", PRODUCTION),
        ],
        Some("nope"),
    );
    assert_eq!(
        c.io_errors,
        vec![
            "--env nope: there is no environment file /p/environments/nope.toml; the environments are: production, staging"
                .to_string()
        ]
    );
    assert!(c.programs.is_empty());
    let c = compile_env(&[("flows/support.flow", FLOW)], Some("../secrets"));
    assert_eq!(c.io_errors.len(), 1);
    assert!(
        c.io_errors[0].contains("letters, digits"),
        "{:?}",
        c.io_errors
    );
}

#[test]
fn a_bound_value_is_checked_where_the_flow_uses_it() {
    let file = PRODUCTION
        .replace("\"+48 22 555 01 99\"", "\"+48 0\"")
        .replace(
            "support_queue = \"technical\"",
            "support_queue = \"tehcnical\"",
        )
        .replace("max_wait = \"10m\"", "max_wait = \"3d\"")
        .replace("\"https://crm.example.com/api\"", "\"crm.example.com\"");
    let c = compile_env(
        &[
            ("flows/support.flow", FLOW),
            ("environments/production.toml", &file),
        ],
        Some("production"),
    );
    let mut found = codes(&c);
    found.sort_unstable();
    assert_eq!(found, vec!["E0103", "E0205", "E0207", "E0213"]);
    let phone = only(&c, "E0205");
    assert_eq!(phone.path, "/p/flows/support.flow");
    assert_eq!(excerpt(&phone), "env.outsourced_support");
    assert!(
        phone.labels[0]
            .text
            .contains("`env.outsourced_support` is \"+48 0\" in `production`"),
        "{:?}",
        phone.labels
    );
    assert!(
        phone
            .help
            .as_deref()
            .unwrap()
            .contains("the value comes from /p/environments/production.toml:9"),
        "{:?}",
        phone.help
    );
    let queue = only(&c, "E0103");
    assert_eq!(excerpt(&queue), "env.support_queue");
    assert!(queue.message.contains("`tehcnical`"), "{}", queue.message);
    assert!(queue.help.unwrap().starts_with("did you mean `technical`?"));
}

#[test]
fn toml_numbers_booleans_and_lists_are_literals() {
    let flow = r#"
const vip = +48600100200

campaign support {
  name "Support"
  id "SUP"
  numbers env.numbers
  priority env.priority
  ivr {
    answer
    route_caller env.vips {
      on match {}
      on no_match {}
    }
    voicemail {
      without_announcement env.quiet
    }
  }
}
"#;
    let file = r#"[bindings]
numbers = ["+48221000001", "0221000002"]
priority = 7
vips = ["vip", "+48600*"]
quiet = true
"#;
    let c = compile_env(
        &[
            ("flows/support.flow", flow),
            ("environments/production.toml", file),
        ],
        Some("production"),
    );
    assert!(c.diagnostics().is_empty(), "{:?}", c.diagnostics());
    let program = &c.programs[0];
    assert_eq!(program.numbers, vec!["+48221000001", "+48221000002"]);
    assert_eq!(program.settings.get("priority"), Some(&BValue::Int(7)));
    let ops = ops(program);
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::RouteCaller { patterns }
            if patterns == &vec!["+48600100200".to_string(), "+48600*".to_string()])),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(|op| matches!(
            op,
            Op::Voicemail {
                without_announcement: true,
                ..
            }
        )),
        "{ops:?}"
    );
}

#[test]
fn env_is_a_reserved_word() {
    let flow = r#"
import "common/env.flow"
import "common/other.flow" as env
const env = 5

queue env {
  max_wait 1m
}

flow helper(env: text) {
  hangup
}

campaign support {
  name "Support"
  id "SUP"
  numbers [+48221000001]
  ivr {
    answer
    env: say "Hello"
    set env (1)
    queue env.a.b {
      on else {}
    }
    priority env
  }
}
"#;
    let c = compile_env(
        &[
            ("flows/support.flow", flow),
            ("flows/common/env.flow", "const x = 1\n"),
            ("flows/common/other.flow", "const y = 1\n"),
        ],
        None,
    );
    let reserved: Vec<(String, String)> = c
        .diagnostics()
        .into_iter()
        .filter(|d| d.code == "E0405")
        .map(|d| (excerpt(&d).to_string(), d.message.clone()))
        .collect();
    let at: Vec<&str> = reserved.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        at,
        vec![
            "\"common/env.flow\"",
            "env",
            "env",
            "env",
            "env",
            "env",
            "env",
            "env.a.b",
            "env"
        ],
        "{reserved:#?}"
    );
    let messages: Vec<&str> = reserved.iter().map(|(_, m)| m.as_str()).collect();
    assert!(messages[0].contains("is called `env`"), "{}", messages[0]);
    for (i, what) in [
        (1, "an import alias"),
        (2, "a constant's name"),
        (3, "a declaration's name"),
        (4, "a parameter"),
        (5, "a label"),
        (6, "a variable"),
    ] {
        assert!(
            messages[i].contains(what),
            "{i}: {} lacks {what}",
            messages[i]
        );
    }
    assert!(messages[7].contains("is not a binding"), "{}", messages[7]);
}

#[test]
fn labels_and_variables_cannot_come_from_bindings() {
    let flow = r#"
campaign support {
  name "Support"
  id "SUP"
  numbers [+48221000001]
  ivr {
    answer
    start: say "Hello"
    goto env.target
  }
}
"#;
    let c = compile_env(
        &[
            ("flows/support.flow", flow),
            (
                "environments/production.toml",
                "[bindings]\ntarget = \"start\"\n",
            ),
        ],
        Some("production"),
    );
    let d = only(&c, "E0201");
    assert_eq!(excerpt(&d), "env.target");
    assert!(d.message.contains("written in the flow"), "{}", d.message);
}

#[test]
fn constants_in_a_cycle_are_an_error_not_a_crash() {
    let flow = r#"
const a = b
const b = env.c

campaign support {
  name "Support"
  id "SUP"
  numbers [+48221000001]
  ivr {
    answer
    dial a {
      on else {}
    }
  }
}
"#;
    let c = compile_env(
        &[
            ("flows/support.flow", flow),
            ("environments/production.toml", "[bindings]\nc = \"a\"\n"),
        ],
        Some("production"),
    );
    assert!(codes(&c).contains(&"E0218"), "{:?}", codes(&c));
    let plain = "const a = b\nconst b = a\ncampaign s {\n  name \"S\"\n  id \"S\"\n  numbers [a]\n  ivr { answer }\n}\n";
    let c = compile_env(&[("flows/s.flow", plain)], None);
    assert!(codes(&c).contains(&"E0218"), "{:?}", codes(&c));
}

#[test]
fn checks_that_look_at_a_value_see_the_bound_one() {
    // The country code that national numbers are read with, and the dates
    // of the campaign's life, come from bindings.
    let flow = r#"
campaign support {
  name "Support"
  id "SUP"
  country_code env.country
  numbers ["22 100 00 01"]
  starts env.launch
  ends 2026-01-31
  ivr { answer }
}
"#;
    let file = "[bindings]\ncountry = \"+47\"\nlaunch = 2026-03-01\n";
    let c = compile_env(
        &[
            ("flows/support.flow", flow),
            ("environments/production.toml", file),
        ],
        Some("production"),
    );
    let d = only(&c, "E0307");
    assert!(
        d.message
            .contains("ends (2026-01-31) before it starts (2026-03-01)"),
        "{}",
        d.message
    );
    let fixed = file.replace("2026-03-01", "2026-01-01");
    let c = compile_env(
        &[
            ("flows/support.flow", flow),
            ("environments/production.toml", &fixed),
        ],
        Some("production"),
    );
    assert!(c.diagnostics().is_empty(), "{:?}", codes(&c));
    assert_eq!(c.programs[0].numbers, vec!["+47221000001"]);
}
