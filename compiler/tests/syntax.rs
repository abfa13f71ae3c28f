//! Properties of the syntax: `parse` and `print` round-trip, `print` is
//! idempotent and keeps comments, and no input makes `parse` panic.
//!
//! Random syntax trees are generated with spans zeroed, printed, parsed back and
//! compared with their spans stripped. The `.flow` files of `flows/`,
//! `stdlib/` and `tests/` (the fixtures) are found by walking the directories
//! at test time.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_compiler::ast::{
    Body, Comment, Date, File, Ident, Param, Span, Stmt, Value, ValueKind,
};
use dialect_compiler::parse::parse;
use dialect_compiler::print::{WIDTH, print};
use dialect_compiler::schema;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A printed tree parses without errors back into the same tree.
    #[test]
    fn print_then_parse_gives_the_tree(file in file(true)) {
        let text = print(&file, "");
        let (parsed, errors) = parse(&text);
        prop_assert!(errors.is_empty(), "errors {errors:?} in\n{text}");
        prop_assert_eq!(strip(&parsed.items), file.items.clone(), "text:\n{}", text);
        let again = print(&parsed, &text);
        prop_assert_eq!(&again, &text, "print is not idempotent");
    }

    /// Comments added to a printed tree, trailing or on lines of their own, change
    /// nothing in the tree, all come out in order, and printing is idempotent.
    #[test]
    fn comments_survive(file in file(false), edits in prop::collection::vec((0u8..6, 0usize..8), 0..40)) {
        let printed = print(&file, "");
        let (text, inserted) = with_comments(&printed, &edits);
        let (parsed, errors) = parse(&text);
        prop_assert!(errors.is_empty(), "errors {errors:?} in\n{text}");
        prop_assert_eq!(strip(&parsed.items), file.items.clone(), "text:\n{}", text);
        let once = print(&parsed, &text);
        let (reparsed, errors) = parse(&once);
        prop_assert!(errors.is_empty(), "errors {errors:?} in\n{once}");
        let texts: Vec<&str> = reparsed.comments.iter().map(|c| c.text.trim()).collect();
        prop_assert_eq!(texts, inserted.iter().map(String::as_str).collect::<Vec<_>>(), "from\n{}\nto\n{}", text, once);
        prop_assert_eq!(print(&reparsed, &once), once.clone(), "from\n{}", text);
        // Trailing comments (`tN`) still trail a statement; the others (`cN`) stand alone.
        for comment in &reparsed.comments {
            let start = comment.span.start as usize;
            let line = once[..start].rsplit('\n').next().unwrap_or("");
            let trailing = comment.text.trim().starts_with('t');
            prop_assert_eq!(!line.trim().is_empty(), trailing, "{:?} moved in\n{}\nfrom\n{}", comment.text, once, text);
        }
    }

    /// Arbitrary text never makes `parse` (or `print`) panic.
    #[test]
    fn arbitrary_text_does_not_panic(text in any::<String>()) {
        check_text(&text)?;
    }

    /// Text made of the grammar's own characters, more likely to get deep.
    #[test]
    fn flow_like_text_does_not_panic(text in FLOW_LIKE) {
        check_text(&text)?;
    }

    /// Printed trees with characters deleted, inserted or duplicated.
    #[test]
    fn mutated_text_does_not_panic(
        file in file(true),
        edits in prop::collection::vec((0u8..3, any::<Index>(), select(MUTATION_CHARS)), 1..8),
    ) {
        let mut chars: Vec<char> = print(&file, "").chars().collect();
        for (kind, at, c) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 if i < chars.len() => {
                    chars.remove(i);
                }
                1 => chars.insert(i, c),
                _ if i < chars.len() => {
                    let d = chars[i];
                    chars.insert(i, d);
                }
                _ => chars.push(c),
            }
        }
        check_text(&chars.into_iter().collect::<String>())?;
    }
}

/// The real flows of the repository, and the test fixtures, print
/// idempotently and keep their trees and comments.
#[test]
fn repository_flows_print_idempotently() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["flows", "stdlib", "tests"] {
        let before = files.len();
        flow_files(&root.join(dir), &mut files);
        // A directory moved away would otherwise pass silently.
        assert!(files.len() > before, "no .flow files under {dir}/");
    }
    let mut checked = 0;
    let mut skipped = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let (file, errors) = parse(&text);
        if !errors.is_empty() {
            // Someone's flow in progress, or a fixture of a syntax error;
            // `check` reports it, not this test.
            eprintln!("skipped {}: {} syntax errors", path.display(), errors.len());
            skipped += 1;
            continue;
        }
        let once = print(&file, &text);
        let (reparsed, errors) = parse(&once);
        assert!(
            errors.is_empty(),
            "{}: printed text has errors {errors:?}:\n{once}",
            path.display()
        );
        assert_eq!(
            strip(&reparsed.items),
            strip(&file.items),
            "{}: tree changed",
            path.display()
        );
        assert_eq!(
            reparsed.comments.len(),
            file.comments.len(),
            "{}: comments lost:\n{once}",
            path.display()
        );
        assert_eq!(
            print(&reparsed, &once),
            once,
            "{}: not idempotent",
            path.display()
        );
        checked += 1;
    }
    eprintln!(
        "{checked} of {} flow files printed idempotently ({skipped} skipped for syntax errors)",
        files.len()
    );
}

// ---------------------------------------------------------------------------
// Examples

/// The canonical layout, shown on a file written every wrong way.
#[test]
fn canonical_layout() {
    let messy = r#"// Header comment


import "std/hours.flow"   // the standard library
import   "common/queues.flow"   as q
const support_line=+48221000999
skill sales
schedule office { zone "Europe/Warsaw"; hours mon-fri 8:00-16:00
  closed 2026-12-24..2026-12-26 "Christmas" }
campaign scheme1 { // the first
  name "Scheme 1"
  numbers [+48221000001,
     // second number soon
     +48221000002,]


  alert avg_wait { threshold 90s }
  ivr {
    answer; say "Hi	there \"you\""
    main: menu say "Press 1" {
      on 1 { queue q.sales { on timeout { hangup }
      on full {} } }   // arms
      on * { goto main }

      on no_input {
        // nothing
      }
      on invalid { priority +10 }
    }
    condition (caller.starts_with("+4850") // a rhai comment
    ) { on true { hangup }; on false {} }
  }
} // end
flow after(greeting: prompt,
           q: queue,) { say "x"; play "a.wav" }
// trailing
"#;
    let expected = r#"// Header comment

import "std/hours.flow" // the standard library
import "common/queues.flow" as q
const support_line = +48221000999
skill sales

schedule office {
  zone "Europe/Warsaw"
  hours mon-fri 08:00-16:00
  closed 2026-12-24..2026-12-26 "Christmas"
}

campaign scheme1 { // the first
  name "Scheme 1"
  // second number soon
  numbers [+48221000001, +48221000002]

  alert avg_wait { threshold 1m30s }
  ivr {
    answer
    say "Hi\tthere \"you\""
    main: menu say "Press 1" {
      on 1 {
        queue q.sales {
          on timeout { hangup }
          on full {}
        }
      } // arms
      on * { goto main }

      on no_input {
        // nothing
      }
      on invalid { priority +10 }
    }
    condition (caller.starts_with("+4850") // a rhai comment
    ) {
      on true { hangup }
      on false {}
    }
  }
} // end

flow after(greeting: prompt, q: queue) {
  say "x"
  play "a.wav"
}
// trailing
"#;
    let (file, errors) = parse(messy);
    assert_eq!(errors, []);
    let printed = print(&file, messy);
    assert_eq!(printed, expected);
    let (again, errors) = parse(&printed);
    assert_eq!(errors, []);
    assert_eq!(strip(&again.items), strip(&file.items));
    assert_eq!(print(&again, &printed), printed);
}

/// An exit arm keeps a short body on its own line, and each condition of the
/// rule, when broken, puts the body back one statement a line. The source's
/// own layout plays no part: both layouts of a case print the same.
#[test]
fn short_arms_stay_on_one_line() {
    // Wide enough for the limit exactly, and one character too wide.
    let fits = format!("  on timeout {{ play \"{}\"; hangup }}", "f".repeat(68));
    let wide = format!("  on timeout {{ play \"{}\"; hangup }}", "w".repeat(69));
    assert_eq!(fits.chars().count(), WIDTH);
    let cases = [
        // One `goto`.
        (
            "x {\n  on timeout {\n    goto main_menu\n  }\n}\n",
            "x {\n  on timeout { goto main_menu }\n}\n",
        ),
        // Two statements that fit.
        (
            "x {\n  on busy {\n    play \"prompts/busy.wav\"\n\n    hangup\n  }\n}\n",
            "x {\n  on busy { play \"prompts/busy.wav\"; hangup }\n}\n",
        ),
        // Three statements.
        (
            "x {\n  on busy { play \"a.wav\"; set n (1); hangup }\n}\n",
            "x {\n  on busy {\n    play \"a.wav\"\n    set n (1)\n    hangup\n  }\n}\n",
        ),
        // A comment inside the braces, wherever it stands.
        (
            "x {\n  on busy { // why\n    hangup\n  }\n}\n",
            "x {\n  on busy { // why\n    hangup\n  }\n}\n",
        ),
        (
            "x {\n  on busy {\n    hangup // why\n  }\n}\n",
            "x {\n  on busy {\n    hangup // why\n  }\n}\n",
        ),
        (
            "x {\n  on busy {\n    hangup\n    // why\n  }\n}\n",
            "x {\n  on busy {\n    hangup\n    // why\n  }\n}\n",
        ),
        // A comment after the closing brace is not inside: it trails the line.
        (
            "x {\n  on busy {\n    hangup\n  } // why\n}\n",
            "x {\n  on busy { hangup } // why\n}\n",
        ),
        // A nested body, even an empty one, however short.
        (
            "x {\n  on busy { hangup { reason \"busy\" } }\n}\n",
            "x {\n  on busy {\n    hangup { reason \"busy\" }\n  }\n}\n",
        ),
        (
            "x {\n  on busy { play \"a.wav\"; y {} }\n}\n",
            "x {\n  on busy {\n    play \"a.wav\"\n    y {}\n  }\n}\n",
        ),
        // A rhai expression over two lines.
        (
            "x {\n  on busy { set n (1 +\n 2) }\n}\n",
            "x {\n  on busy {\n    set n (1 +\n 2)\n  }\n}\n",
        ),
        // The width: 100 columns fit, 101 do not.
        (
            &format!("x {{\n{fits}\n}}\n"),
            &format!("x {{\n{fits}\n}}\n"),
        ),
        (
            &format!("x {{\n{wide}\n}}\n"),
            &format!(
                "x {{\n  on timeout {{\n    play \"{}\"\n    hangup\n  }}\n}}\n",
                "w".repeat(69)
            ),
        ),
        // An empty arm stays `{}`.
        ("x {\n  on full {\n  }\n}\n", "x {\n  on full {}\n}\n"),
        // Keys, values and `else` are arms too; the arm's own label and
        // arguments count towards the width.
        (
            "x {\n  on 1 {\n    goto a\n  }\n  on \"gold\" {\n    priority 30\n  }\n  on else {\n    goto b\n  }\n}\n",
            "x {\n  on 1 { goto a }\n  on \"gold\" { priority 30 }\n  on else { goto b }\n}\n",
        ),
    ];
    for (input, expected) in cases {
        check_layout(input, expected);
    }
}

/// Bodies other than arms: a top-level item keeps one statement on its line
/// and then needs no blank line around it; any other body keeps three.
#[test]
fn short_bodies_stay_on_one_line() {
    let cases = [
        (
            "skill a {\n  description \"A\"\n}\nskill b { description \"B\" }\nschedule s { zone \"Europe/Warsaw\"; hours mon-fri 08:00-16:00 }\nskill c { description \"C\" }\n",
            "skill a { description \"A\" }\nskill b { description \"B\" }\n\nschedule s {\n  zone \"Europe/Warsaw\"\n  hours mon-fri 08:00-16:00\n}\n\nskill c { description \"C\" }\n",
        ),
        (
            "campaign c {\n  field pesel {\n    type pesel\n    editable true\n    required false\n  }\n  field nip { type nip; editable true; required false; label \"NIP\" }\n  ivr {\n    hangup { reason \"done\" }\n  }\n}\n",
            "campaign c {\n  field pesel { type pesel; editable true; required false }\n  field nip {\n    type nip\n    editable true\n    required false\n    label \"NIP\"\n  }\n  ivr {\n    hangup { reason \"done\" }\n  }\n}\n",
        ),
        (
            "flow f(a: prompt) { say \"x\" }\nflow g() { say \"x\"; hangup }\n",
            "flow f(a: prompt) { say \"x\" }\n\nflow g() {\n  say \"x\"\n  hangup\n}\n",
        ),
    ];
    for (input, expected) in cases {
        check_layout(input, expected);
    }
}

/// A statement wider than the limit has its lists one item a line, and the
/// comments inside them stay with their items.
#[test]
fn long_lists_break_with_their_comments() {
    let text = "const all = [alice, // lead
  // the rest
  bob, [x, // inner
 y], carol_with_a_really_long_name_to_push_the_width_over_the_limit_of_one_hundred,
  // end
] // after
x [ // open
 a] { // body
}
";
    let expected = "const all = [
  alice, // lead
  // the rest
  bob,
  // inner
  [x, y],
  carol_with_a_really_long_name_to_push_the_width_over_the_limit_of_one_hundred,
  // end
] // after

// open
x [a] { // body
}
";
    let (file, errors) = parse(text);
    assert_eq!(errors, []);
    assert_eq!(print(&file, text), expected);
    check_text(text).unwrap();
}

/// Every literal form in its canonical spelling.
#[test]
fn canonical_values() {
    let cases = [
        ("x 500ms", "x 500ms"),
        ("x 90m", "x 1h30m"),
        ("x 1m60s", "x 2m"),
        ("x 0ms", "x 0s"),
        ("x 2d1ms", "x 2d1ms"),
        ("x 8:05-24:00", "x 08:05-24:00"),
        ("x 9:30", "x 09:30"),
        ("x 2026-01-02..2026-02-03", "x 2026-01-02..2026-02-03"),
        ("x sat-sun sat", "x sat-sun sat"),
        ("x [ a ,b.c,[ ] ,]", "x [a, b.c, []]"),
        (
            "x 80% 12.5% 0.35 -0.5 -10 +48",
            "x 80% 12.5% 0.35 -0.5 -10 +48",
        ),
        ("x * #", "x * #"),
        (r#"x "a\u{1F600}\u{7}b\\""#, "x \"a\u{1F600}\\u{7}b\\\\\""),
        ("x ( a == \"(\" )", "x ( a == \"(\" )"),
        ("x{}", "x {}"),
        ("l:x", "l: x"),
        ("flow f ( ) { }", "flow f() {}"),
    ];
    for (input, expected) in cases {
        let (file, errors) = parse(input);
        assert_eq!(errors, [], "{input}");
        assert_eq!(print(&file, input), format!("{expected}\n"), "{input}");
    }
}

/// Keywords are whole words: `constant = 5` was read as `const ant = 5`,
/// `flowchart(a: b) {}` as a flow named `chart`, `as y` glued as `asy`.
#[test]
fn keywords_are_whole_words() {
    let (_, errors) = parse("constant = 5\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (_, errors) = parse("import \"x\" asy\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (file, errors) = parse("flowchart(a: b) {}\n");
    assert_eq!(errors, []);
    assert_eq!(file.items[0].head.name, "flowchart");
    assert!(file.items[0].params.is_empty());
    // Still fine without white space where none is needed.
    let (file, errors) = parse("import\"x\"as y\nconst a=1\nflow f(){}\n");
    assert_eq!(errors, []);
    assert_eq!(
        print(&file, ""),
        "import \"x\" as y\nconst a = 1\n\nflow f() {}\n"
    );
}

/// A lone `\r` ends a line, and so a comment: the comment used to run on over
/// the next statement and be printed with it, doubling it on the next parse.
#[test]
fn lone_carriage_return_ends_a_comment() {
    let text = "a // x\rb\r\nc\n";
    let (file, errors) = parse(text);
    assert_eq!(errors, []);
    assert_eq!(file.items.len(), 3);
    assert_eq!(file.comments.len(), 1);
    assert_eq!(file.comments[0].text, " x");
    assert_eq!(print(&file, text), "a // x\nb\nc\n");
}

/// A statement's span ends with its last token: pest used to leave the white
/// space and comment skipped before a failed trailing `body?` in it.
#[test]
fn statement_spans_end_at_their_last_token() {
    let text = "skill sales   // c\nimport \"a\"  // c\nx [a, b]  \ny { z  // c\n}  // c\n";
    let (file, errors) = parse(text);
    assert_eq!(errors, []);
    let spans: Vec<&str> = file.items.iter().map(|s| &text[s.span.range()]).collect();
    assert_eq!(
        spans,
        ["skill sales", "import \"a\"", "x [a, b]", "y { z  // c\n}"]
    );
    assert_eq!(&text[file.items[3].children()[0].span.range()], "z");
}

/// `//` inside a rhai expression is the expression's text, and the expression
/// may go on after it. The comment finder used to take it for a comment running
/// to the end of the line, over the code after `)` and over a real comment there,
/// so that printing lost that comment or doubled the false one (found by
/// `cargo fuzz`; the first text is the fuzzer's, shortened).
#[test]
fn no_comments_inside_expressions() {
    let text = "x (a // b) // real\n";
    let (file, errors) = parse(text);
    assert_eq!(errors, []);
    let comments: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(comments, [" real"]);
    assert_eq!(print(&file, text), text);

    let text = "day 2027-03-29 is (a\n// public holiday) and Tuesday // c\n";
    let (file, errors) = parse(text);
    assert_eq!(errors, []);
    assert_eq!(file.items[0].args.len(), 5);
    assert_eq!(file.comments.len(), 1);
    check_text(text).unwrap();
    assert_eq!(print(&file, text), text);
}

/// Deep nesting is an error or a tree, never a crash. Past pest's recursion
/// limit the file is one "stack limit reached" error. (Unclosed nested bodies
/// cost time quadratic in the depth, hence the smaller depths there.)
#[test]
fn deep_nesting_does_not_crash() {
    let cases = [
        ("[", "]", 10_000),
        ("(", ")", 10_000),
        ("{", "}", 10_000),
        ("a {\n", "}\n", 300),
    ];
    for (open, close, deepest) in cases {
        for n in [10, deepest] {
            check_text(&format!("x {}{}", open.repeat(n), close.repeat(n))).unwrap();
            check_text(&format!("x {}", open.repeat(n))).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// Checks

/// Parses `text`; if it has no errors, the printed text must parse to the same
/// tree and print to itself.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    let (file, errors) = parse(text);
    let printed = print(&file, text);
    if !errors.is_empty() {
        return Ok(());
    }
    let (again, errors) = parse(&printed);
    prop_assert!(
        errors.is_empty(),
        "{errors:?} in\n{printed:?}\nfrom\n{text:?}"
    );
    prop_assert_eq!(
        strip(&again.items),
        strip(&file.items),
        "{:?}\nfrom\n{:?}",
        printed,
        text
    );
    prop_assert_eq!(print(&again, &printed), printed.clone(), "from\n{:?}", text);
    Ok(())
}

/// `input` prints as `expected`, which prints as itself and parses to the same tree.
fn check_layout(input: &str, expected: &str) {
    let (file, errors) = parse(input);
    assert_eq!(errors, [], "{input}");
    assert_eq!(print(&file, input), expected, "from\n{input}");
    let (again, errors) = parse(expected);
    assert_eq!(errors, [], "{expected}");
    assert_eq!(strip(&again.items), strip(&file.items), "{expected}");
    assert_eq!(print(&again, expected), expected);
}

/// Adds comments and blank lines to printed text: `edits` are (what, line) pairs.
/// Returns the text and the comments in the order they stand.
fn with_comments(text: &str, edits: &[(u8, usize)]) -> (String, Vec<String>) {
    // Each line with the comment added to it, if any.
    let mut lines: Vec<(String, Option<String>)> =
        text.lines().map(|line| (line.to_string(), None)).collect();
    lines.push((String::new(), None));
    for (n, &(what, at)) in edits.iter().enumerate() {
        let i = at % lines.len();
        let (line, comment) = &mut lines[i];
        match what {
            // A trailing comment, if the line has a statement and no comment yet.
            0 | 1 if comment.is_none() && !line.is_empty() => *comment = Some(format!("t{n}")),
            // A comment on a line of its own, indented anyhow.
            0..=3 => lines.insert(i, (" ".repeat(at), Some(format!("c{n}")))),
            _ => lines.insert(i, (String::new(), None)),
        }
    }
    let text = lines
        .iter()
        .map(|(line, comment)| match comment {
            Some(c) if line.trim().is_empty() => format!("{line}// {c}"),
            Some(c) => format!("{line} // {c}"),
            None => line.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text, lines.into_iter().filter_map(|(_, c)| c).collect())
}

/// The tree without its places, for comparing trees of different texts.
fn strip(items: &[Stmt]) -> Vec<Stmt> {
    items.iter().map(strip_stmt).collect()
}

fn strip_stmt(stmt: &Stmt) -> Stmt {
    Stmt {
        label: stmt.label.as_ref().map(strip_ident),
        head: strip_ident(&stmt.head),
        args: stmt.args.iter().map(strip_value).collect(),
        params: stmt
            .params
            .iter()
            .map(|p| Param {
                name: strip_ident(&p.name),
                ty: strip_ident(&p.ty),
            })
            .collect(),
        body: stmt.body.as_ref().map(|b| Body {
            stmts: strip(&b.stmts),
            span: Span::default(),
        }),
        span: Span::default(),
    }
}

fn strip_ident(ident: &Ident) -> Ident {
    Ident {
        name: ident.name.clone(),
        span: Span::default(),
    }
}

fn strip_value(value: &Value) -> Value {
    let kind = match &value.kind {
        ValueKind::Path(parts) => ValueKind::Path(parts.iter().map(strip_ident).collect()),
        ValueKind::List(items) => ValueKind::List(items.iter().map(strip_value).collect()),
        other => other.clone(),
    };
    Value {
        kind,
        span: Span::default(),
    }
}

fn flow_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            flow_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "flow") {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies

/// Text from the characters the grammar cares about.
const FLOW_LIKE: &str = r#"([a-z_0-9 \t\n\r{}\[\]()":;,.*#%+/\\=-]|mon|fri|on |import |const |flow |//|\.\.|08:00|2026-12-24|30s|\+48){0,120}"#;

const MUTATION_CHARS: &[char] = &[
    '{', '}', '[', ']', '(', ')', '"', '\\', '\n', '\r', ';', ':', ',', '.', '-', '/', ' ', 'a',
    '1', '%', '*',
];

/// Keywords of the top level, which a plain statement there may not start with.
const KEYWORDS: &[&str] = &["import", "const", "flow"];

fn span() -> Span {
    Span::default()
}

fn ident_of(name: String) -> Ident {
    Ident { name, span: span() }
}

fn value_of(kind: ValueKind) -> Value {
    Value { kind, span: span() }
}

/// The words of the language, and random names.
fn word() -> impl Strategy<Value = String> {
    let mut words: Vec<&'static str> = vec!["on", "else", "true", "false", "mon", "sat"];
    for decl in schema::DECLS {
        words.push(decl.name);
        words.extend(decl.settings.iter().map(|s| s.name));
    }
    for block in schema::BLOCKS {
        words.push(block.name);
        words.extend(block.settings.iter().map(|s| s.name));
        words.extend(block.exits.iter().map(|e| e.name));
    }
    words.extend(schema::PARAM_TYPES.iter().map(|(name, _)| *name));
    words.extend(KEYWORDS);
    prop_oneof![
        2 => select(words).prop_map(str::to_string),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,7}",
    ]
}

fn ident() -> impl Strategy<Value = Ident> {
    word().prop_map(ident_of)
}

fn date() -> impl Strategy<Value = Date> {
    (1i16..=9999, 1u8..=12, 1u8..=28).prop_map(|(year, month, day)| Date { year, month, day })
}

fn duration() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..1_000,
        (0u64..100).prop_map(|n| n * 1_000),
        (0u64..100).prop_map(|n| n * 60_000),
        (0u64..50).prop_map(|n| n * 3_600_000 + 30 * 60_000),
    ]
}

/// Escapes a string for a literal inside an expression (the printer's own
/// escaping is not used, so that a bug there cannot hide itself).
fn string_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:X}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The text of a rhai expression: balanced parentheses, strings as the grammar
/// reads them, and `//` now and then (rhai's comment, not Dialect's).
fn expr_text(multiline: bool) -> impl Strategy<Value = String> {
    let plain = if multiline {
        "[a-z0-9_ .+*/<>=!&|,:;#\\[\\]{}\n-]{0,12}"
    } else {
        "[a-z0-9_ .+*/<>=!&|,:;#\\[\\]{}-]{0,12}"
    };
    let atom = prop_oneof![
        3 => plain.prop_map(|s| s.to_string()),
        1 => any::<String>().prop_map(|s| string_literal(&s)),
    ];
    atom.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|parts| parts.concat()),
            inner.prop_map(|text| format!("({text})")),
        ]
    })
}

fn value(multiline: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(ValueKind::Str),
        "[+-]?[0-9]{1,12}".prop_map(ValueKind::Number),
        "-?[0-9]{1,4}\\.[0-9]{1,4}".prop_map(ValueKind::Decimal),
        "[0-9]{1,3}(\\.[0-9]{1,2})?".prop_map(ValueKind::Percent),
        duration().prop_map(ValueKind::Duration),
        (0u32..=1440).prop_map(ValueKind::Time),
        (0u32..=1440, 0u32..=1440).prop_map(|(a, b)| ValueKind::TimeRange(a, b)),
        date().prop_map(ValueKind::Date),
        (date(), date()).prop_map(|(a, b)| ValueKind::DateRange(a, b)),
        (0u8..7, 0u8..7).prop_map(|(a, b)| ValueKind::DayRange(a, b)),
        select(&['*', '#'][..]).prop_map(ValueKind::Key),
        prop::collection::vec(ident(), 1..4).prop_map(ValueKind::Path),
        expr_text(multiline).prop_map(ValueKind::Expr),
    ];
    leaf.prop_map(value_of).prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|items| value_of(ValueKind::List(items)))
    })
}

/// A statement with bodies nested to depth 4.
fn stmt(multiline: bool) -> impl Strategy<Value = Stmt> {
    let leaf = (
        prop::option::weighted(0.2, ident()),
        ident(),
        prop::collection::vec(value(multiline), 0..4),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(label, head, args, empty)| Stmt {
            label,
            head,
            args,
            params: Vec::new(),
            body: empty.then(|| Body {
                stmts: Vec::new(),
                span: span(),
            }),
            span: span(),
        });
    // A third of the bodies are exit arms, so that short arms printed on one
    // line come up often.
    leaf.prop_recursive(4, 64, 5, |inner| {
        (
            inner.clone(),
            prop::collection::vec(inner, 0..5),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(mut stmt, stmts, arm)| {
                if arm {
                    stmt.head = ident_of("on".to_string());
                }
                stmt.body = Some(Body {
                    stmts,
                    span: span(),
                });
                stmt
            })
    })
}

/// A top-level item: a declaration (any statement not starting with a
/// keyword), an import, a constant or a sub-flow.
fn item(multiline: bool) -> impl Strategy<Value = Stmt> {
    let keyword = |name: &str| ident_of(name.to_string());
    prop_oneof![
        5 => stmt(multiline).prop_filter("a keyword head", |s| !KEYWORDS.contains(&s.head.name.as_str())),
        1 => (any::<String>(), prop::option::of(ident())).prop_map(move |(path, alias)| {
            let mut args = vec![value_of(ValueKind::Str(path))];
            args.extend(alias.map(|a| value_of(ValueKind::Path(vec![a]))));
            Stmt { label: None, head: keyword("import"), args, params: Vec::new(), body: None, span: span() }
        }),
        1 => (ident(), value(multiline)).prop_map(move |(name, value)| Stmt {
            label: None,
            head: keyword("const"),
            args: vec![value_of(ValueKind::Path(vec![name])), value],
            params: Vec::new(),
            body: None,
            span: span(),
        }),
        1 => (
            ident(),
            prop::collection::vec((ident(), ident()), 0..4),
            prop::collection::vec(stmt(multiline), 0..5),
        )
            .prop_map(move |(name, params, stmts)| Stmt {
                label: None,
                head: keyword("flow"),
                args: vec![value_of(ValueKind::Path(vec![name]))],
                params: params.into_iter().map(|(name, ty)| Param { name, ty }).collect(),
                body: Some(Body { stmts, span: span() }),
                span: span(),
            }),
    ]
}

/// A file of top-level items, without comments.
fn file(multiline: bool) -> impl Strategy<Value = File> {
    prop::collection::vec(item(multiline), 0..8).prop_map(|items| File {
        items,
        comments: Vec::<Comment>::new(),
    })
}
