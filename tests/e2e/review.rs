//! `dialect graph` and `dialect diff`: pictures accepted by the real parsers
//! (Graphviz `dot`, the `mermaid` npm package), and semantic diffs that show a
//! change and nothing else.

use super::build::scratch;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dialect(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("dialect runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every flow file with a campaign: the repository's flows and the fixture
/// with text that means something to DOT and Mermaid.
fn pictured_flows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("flows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
        .collect();
    files.sort();
    files.push(root().join("tests/graph-flows/tricky.flow"));
    assert!(files.len() >= 9, "flows/ has its schemes: {files:?}");
    files
}

fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs `{tool}`: install the Debian package `{package}` (.ci/run does)"
    );
}

#[test]
fn dot_of_every_flow_is_accepted_by_graphviz() {
    require("dot", "graphviz");
    for flow in pictured_flows() {
        let out = dialect(
            &root(),
            &["graph", flow.to_str().unwrap(), "--format", "dot"],
        );
        assert!(out.status.success(), "{}: {}", flow.display(), stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with("digraph "), "{text}");
        let mut dot = Command::new("dot")
            .args(["-Tsvg"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        dot.stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let drawn = dot.wait_with_output().unwrap();
        assert!(
            drawn.status.success() && drawn.stderr.is_empty(),
            "{}: dot refused or warned: {}\n{text}",
            flow.display(),
            String::from_utf8_lossy(&drawn.stderr)
        );
    }
}

#[test]
fn svg_is_drawn_by_graphviz_with_the_blocks_and_exits() {
    require("dot", "graphviz");
    let out = dialect(&root(), &["graph", "flows/scheme2.flow", "--format", "svg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = stdout(&out);
    assert!(svg.contains("<svg"), "{svg}");
    // Blocks with their labels and parameters, exits named on the edges, the
    // loop back to the menu.
    for text in [
        "main_menu: menu",
        "play &quot;prompts/main_menu.wav&quot;",
        "common/queues.technical",
        "+48225550123",
        "timeout, full → goto main_menu",
        ">closed<",
        ">3<",
    ] {
        assert!(svg.contains(text), "the picture lacks {text:?}");
    }
    // The tricky fixture's text comes through intact.
    let out = dialect(
        &root(),
        &["graph", "tests/graph-flows/tricky.flow", "--format", "svg"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = stdout(&out);
    assert!(svg.contains(r#"say &quot;a#b \\ c\&quot;d&quot;"#), "{svg}");
}

#[test]
fn svg_without_graphviz_says_what_to_install() {
    let empty = scratch("no-graphviz");
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(root())
        .env("PATH", &empty)
        .args(["graph", "flows/scheme2.flow", "--format", "svg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("apt-get install graphviz"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

/// What the Mermaid check needs: Node.js and the npm packages of
/// tests/mermaid (mermaid, jsdom), installed by `.ci/run`.
fn mermaid_checker() -> PathBuf {
    require("node", "nodejs");
    let dir = root().join("tests/mermaid");
    assert!(
        dir.join("node_modules/mermaid").is_dir() && dir.join("node_modules/jsdom").is_dir(),
        "this test needs the npm packages `mermaid` and `jsdom`: run `npm ci --prefix tests/mermaid` \
         (.ci/run does)"
    );
    dir.join("check.mjs")
}

#[test]
fn mermaid_of_every_flow_is_accepted_by_the_mermaid_parser() {
    let checker = mermaid_checker();
    let dir = scratch("mermaid");
    let mut files = Vec::new();
    for flow in pictured_flows() {
        let out = dialect(&root(), &["graph", flow.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", flow.display(), stderr(&out));
        let name = flow.file_stem().unwrap().to_string_lossy().into_owned();
        let file = dir.join(format!("{name}.mmd"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file);
    }
    // A file that is not Mermaid is refused, so the check can fail.
    let broken = dir.join("broken.mmd");
    std::fs::write(&broken, "flowchart TD\n  n0([\"answer\"] --> n1\n").unwrap();
    let out = Command::new("node")
        .arg(&checker)
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the checker accepted broken Mermaid");

    let out = Command::new("node")
        .arg(&checker)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Mermaid refused a picture:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("ok "))
            .count(),
        files.len(),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_readme_shows_the_current_picture_of_scheme_2() {
    let out = dialect(&root(), &["graph", "flows/scheme2.flow"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = format!("```mermaid\n{}```", stdout(&out));
    assert!(
        readme.contains(&block),
        "README.md should show `dialect graph flows/scheme2.flow` as a ```mermaid block:\n{block}"
    );
}

/// flows/ and stdlib/ copied twice into a scratch directory: `a` as they are,
/// `b` to be edited.
fn two_copies(name: &str) -> PathBuf {
    let dir = scratch(name);
    for side in ["a", "b"] {
        for part in ["flows", "stdlib"] {
            copy_tree(&root().join(part), &dir.join(side).join(part));
        }
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Replaces exactly one occurrence of `from` in a file.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        file.display()
    );
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// Scheme 2 with key 3 sent to voicemail instead of the technical queue.
fn key_3_to_voicemail(file: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    let start = text.find("on 3 {").expect("key 3");
    let end = text.find("on no_input").expect("no_input");
    let indent = "\n          ";
    let text = format!(
        "{}on 3 {{ voicemail }}{indent}{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(file, text).unwrap();
}

/// Where `on 3` stands in the edited scheme 2.
fn line_of_key_3(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().position(|l| l.contains("on 3 {")).unwrap() + 1
}

#[test]
fn diff_of_scheme_2_with_key_3_to_voicemail_shows_that_change_and_nothing_else() {
    let dir = two_copies("diff-key3");
    let new = dir.join("b/flows/scheme2.flow");
    key_3_to_voicemail(&new);
    let line = line_of_key_3(&new);
    let out = dialect(
        &dir,
        &["diff", "a/flows/scheme2.flow", "b/flows/scheme2.flow"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "~ campaign scheme2\n  \
             ~ block main_menu › 3 (scheme2.flow:{line})\n      \
             - queue queue=common/queues.technical max_wait=15m (and the 7 blocks after it)\n      \
             + voicemail max_length=2m\n\
             1 campaign changed: 1 change\n"
        )
    );
    // The same for a pull request, and between the built artifacts.
    let out = dialect(
        &dir,
        &[
            "diff",
            "a/flows/scheme2.flow",
            "b/flows/scheme2.flow",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(
        stdout(&out),
        format!(
            "**dialect diff:** 1 campaign changed: 1 change\n\n\
             #### Campaign `scheme2`\n\n\
             | | What | Where | Before | After |\n|---|---|---|---|---|\n\
             | changed | block main_menu › 3 | scheme2.flow:{line} | \
             `queue queue=common/queues.technical max_wait=15m (and the 7 blocks after it)` | \
             `voicemail max_length=2m` |\n"
        )
    );
    for side in ["a", "b"] {
        let out = dialect(&dir.join(side), &["build", "flows/", "-o", "out"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let from_sources = dialect(&dir, &["diff", "a/flows", "b/flows"]);
    let from_artifacts = dialect(&dir, &["diff", "a/out", "b/out", "--exit-code"]);
    assert_eq!(
        from_artifacts.status.code(),
        Some(1),
        "--exit-code with changes"
    );
    assert_eq!(stdout(&from_artifacts), stdout(&from_sources));
    assert!(stdout(&from_artifacts).contains("1 campaign changed: 1 change"));
}

#[test]
fn diff_ignores_layout_and_reports_parameters_jumps_settings_and_hours() {
    let dir = two_copies("diff-kinds");
    // Same meaning, other text: a comment, blank lines, the constant inlined.
    let same = dir.join("b/flows/scheme2.flow");
    edit(&same, "  ivr {\n", "  // reviewed\n\n  ivr {\n");
    edit(&same, "dial outsourced_support {", "dial +48225550123 {");
    let out = dialect(&dir, &["diff", "a/flows", "b/flows", "--exit-code"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "no changes\n");

    // Four edits of different kinds in scheme 2, and office hours moved.
    edit(&same, "timeout 30s", "timeout 45s");
    edit(
        &same,
        "on timeout { goto main_menu }",
        "on timeout { hangup }",
    );
    edit(&same, "id \"S2\"", "id \"S2b\"");
    edit(
        &same,
        "numbers [+48221000002]",
        "numbers [+48221000002, +48221000022]",
    );
    let hours = dir.join("b/stdlib/hours.flow");
    let text = std::fs::read_to_string(&hours).unwrap();
    // The first weekly line is office_pl's.
    assert!(
        text.contains("schedule office_pl {\n"),
        "stdlib office hours"
    );
    let text = text.replacen(
        "  hours mon-fri 08:00-16:00",
        "  hours mon-fri 08:00-17:00",
        1,
    );
    std::fs::write(&hours, text).unwrap();

    let out = dialect(
        &dir,
        &["diff", "a/flows/scheme2.flow", "b/flows/scheme2.flow"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = [
        "  ~ setting id\n      - \"S2\"\n      + \"S2b\"\n",
        "  + number +48221000022\n",
        "  ~ hours std/hours.office_pl\n",
        "-17:00",
        "  ~ block main_menu › 1 › timeout",
        "      - goto main_menu\n      + hangup",
        "  ~ block main_menu › 3 › timeout",
        "      - dial timeout=30s\n      + dial timeout=45s\n",
    ];
    for part in expected {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    assert!(text.ends_with("1 campaign changed: 5 changes\n"), "{text}");
}

#[test]
fn diff_between_git_revisions() {
    let dir = scratch("diff-git");
    for part in ["flows", "stdlib"] {
        copy_tree(&root().join(part), &dir.join(part));
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(&dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "one"]);
    key_3_to_voicemail(&dir.join("flows/scheme2.flow"));
    // The working tree against the last commit, then two commits.
    let out = dialect(&dir, &["diff", "--git", "HEAD"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("~ block main_menu › 3"),
        "{}",
        stdout(&out)
    );
    git(&["commit", "-q", "-am", "two"]);
    let out = dialect(&dir, &["diff", "--git", "HEAD~1..HEAD", "flows"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("1 campaign changed: 1 change\n"),
        "{}",
        stdout(&out)
    );
    let out = dialect(&dir, &["diff", "--git", "HEAD..HEAD"]);
    assert_eq!(stdout(&out), "no changes\n");
    let out = dialect(&dir, &["diff", "--git", "nosuchrev..HEAD"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`nosuchrev` is not a revision"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diff_reports_campaigns_added_and_removed_and_refuses_broken_flows() {
    let dir = two_copies("diff-campaigns");
    std::fs::remove_file(dir.join("b/flows/scheme7.flow")).unwrap();
    std::fs::remove_file(dir.join("b/flows/scheme7.test.toml")).unwrap();
    let out = dialect(&dir, &["diff", "a/flows", "b/flows"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("- campaign scheme7 ("),
        "{}",
        stdout(&out)
    );
    let out = dialect(&dir, &["diff", "b/flows", "a/flows"]);
    assert!(
        stdout(&out).starts_with("+ campaign scheme7 ("),
        "{}",
        stdout(&out)
    );

    edit(
        &dir.join("b/flows/scheme2.flow"),
        "on full { goto main_menu }",
        "on full { goto nowhere }",
    );
    let out = dialect(&dir, &["diff", "a/flows", "b/flows"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
    let out = dialect(&dir, &["diff", "a/flows"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn graph_and_diff_take_the_environment_like_check() {
    let flow = "tests/env-flows/support.flow";
    let out = dialect(&root(), &["graph", flow, "--env", "production"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("+48225550199"), "{}", stdout(&out));
    // Without an environment the flow does not compile, as for `check`.
    let out = dialect(&root(), &["graph", flow]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E0402"), "{}", stderr(&out));
    let out = dialect(&root(), &["diff", flow, flow, "--env", "production"]);
    assert_eq!(stdout(&out), "no changes\n", "{}", stderr(&out));
}

/// The editor plugin's snippets, expanded with their default values
/// (editor-plugin/test/snippets, regenerated and compared by its own tests),
/// are valid Dialect.
#[test]
fn the_editor_snippets_are_valid_dialect() {
    let out = dialect(
        &root(),
        &["check", "editor-plugin/test/snippets", "--deny-warnings"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let count = std::fs::read_dir(root().join("editor-plugin/test/snippets"))
        .unwrap()
        .count();
    assert!(count >= 15, "{count} snippet samples");
}
