//! The editor features of `dialect_compiler::ide` on the repository's flows:
//! definition, references, rename, hover, completion, outline, formatting.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_compiler::ide::{Analysis, CompletionKind, SymbolKind, format, symbols};
use dialect_compiler::world::FsWorld;
use dialect_compiler::{Options, ast::Span};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn flows() -> PathBuf {
    dialect_compiler::source::normalize(&root().join("flows"))
}

fn analysis() -> Analysis {
    let world = FsWorld::new(Some(root().join("stdlib")), &flows());
    Analysis::new(&world, &[flows()], &Options::default())
}

fn file(name: &str) -> (PathBuf, String) {
    let path = flows().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The offset of the `nth` (0-based) occurrence of `needle`, plus `into`.
fn at(text: &str, needle: &str, nth: usize, into: usize) -> usize {
    text.match_indices(needle).nth(nth).unwrap().0 + into
}

fn slice(text: &str, span: Span) -> &str {
    &text[span.range()]
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

#[test]
fn goto_leads_to_its_label_and_a_name_to_its_declaration() {
    let a = analysis();
    let (path, text) = file("scheme2.flow");
    let goto = at(&text, "goto main_menu", 0, 6);
    let def = a.definition(&path, goto).unwrap();
    assert_eq!(def.path, path);
    assert_eq!(slice(&text, def.span), "main_menu");
    assert!(text[def.span.end as usize..].starts_with(": menu"));

    // `queues.sales`, on `sales`: the queue in common/queues.flow.
    let sales = at(&text, "queues.sales", 0, 8);
    let def = a.definition(&path, sales).unwrap();
    let (queues, qtext) = file("common/queues.flow");
    assert_eq!(def.path, queues);
    assert_eq!(slice(&qtext, def.span), "sales");
    assert_eq!(line_of(&qtext, def.span.start as usize), 30);
    // On `queues`: the imported file.
    let alias = at(&text, "queues.sales", 0, 2);
    assert_eq!(a.definition(&path, alias).unwrap().path, queues);
    // On the import itself, too.
    let import = at(&text, "\"common/queues.flow\"", 0, 3);
    assert_eq!(a.definition(&path, import).unwrap().path, queues);
    // A constant.
    let dial = at(&text, "dial outsourced_support", 0, 6);
    let def = a.definition(&path, dial).unwrap();
    assert!(text[..def.span.start as usize].ends_with("const "));
}

#[test]
fn references_of_a_queue_span_the_files_that_use_it() {
    let a = analysis();
    let (queues, qtext) = file("common/queues.flow");
    let decl = at(&qtext, "queue sales", 0, 7);
    let refs = a.references(&queues, decl, true);
    let files: Vec<String> = refs
        .iter()
        .map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(files.contains(&"queues.flow".to_string()), "{files:?}");
    assert!(files.contains(&"scheme2.flow".to_string()), "{files:?}");
    for r in &refs {
        let text = std::fs::read_to_string(&r.path).unwrap();
        assert_eq!(slice(&text, r.span), "sales", "{r:?}");
    }
    // Without the declaration: one fewer.
    assert_eq!(a.references(&queues, decl, false).len(), refs.len() - 1);
    // From a use, the same set.
    let (scheme2, text) = file("scheme2.flow");
    let from_use = a.references(&scheme2, at(&text, "queues.sales", 0, 9), true);
    assert_eq!(from_use, refs);
}

#[test]
fn rename_a_label_changes_the_label_and_every_goto() {
    let a = analysis();
    let (path, text) = file("scheme2.flow");
    let label = at(&text, "main_menu: menu", 0, 1);
    let edits = a.rename(&path, label, "start").unwrap();
    assert_eq!(edits.len(), 3, "{edits:?}");
    for e in &edits {
        assert_eq!(e.path, path);
        assert_eq!(slice(&text, e.span), "main_menu");
        assert_eq!(e.text, "start");
    }
    assert!(a.rename(&path, label, "2start").is_err());
    assert!(a.rename(&path, label, "menu").is_err());
    assert!(a.rename(&path, at(&text, "answer", 0, 1), "x").is_err());
}

#[test]
fn rename_a_queue_changes_it_in_every_file() {
    let a = analysis();
    let (queues, qtext) = file("common/queues.flow");
    let edits = a
        .rename(&queues, at(&qtext, "queue sales", 0, 7), "retail")
        .unwrap();
    assert!(edits.iter().any(|e| e.path == queues));
    assert!(edits.iter().any(|e| e.path.ends_with("scheme2.flow")));
    for e in &edits {
        let text = std::fs::read_to_string(&e.path).unwrap();
        assert_eq!(slice(&text, e.span), "sales");
    }
}

#[test]
fn hover_documents_blocks_settings_variables_exits_and_names() {
    let a = analysis();
    let (path, text) = file("scheme2.flow");
    let menu = a.hover(&path, at(&text, "menu play", 0, 1)).unwrap();
    assert!(
        menu.markdown.starts_with("block `menu`"),
        "{}",
        menu.markdown
    );
    assert_eq!(
        menu.markdown,
        dialect_compiler::docs::explain("menu").unwrap()
    );
    let timeout = a.hover(&path, at(&text, "timeout 30s", 0, 2)).unwrap();
    assert!(
        timeout
            .markdown
            .starts_with("setting `timeout` of the block `dial`"),
        "{}",
        timeout.markdown
    );
    let exit = a.hover(&path, at(&text, "on busy", 0, 4)).unwrap();
    assert!(
        exit.markdown.starts_with("exit `busy` of `dial`"),
        "{}",
        exit.markdown
    );
    let name = a.hover(&path, at(&text, "queues.sales", 0, 9)).unwrap();
    assert!(
        name.markdown
            .starts_with("queue `sales` — common/queues.flow:30"),
        "{}",
        name.markdown
    );
    let campaign = a.hover(&path, at(&text, "campaign scheme2", 0, 1)).unwrap();
    assert!(
        campaign.markdown.starts_with("`campaign`"),
        "{}",
        campaign.markdown
    );

    let (complete, ctext) = file("complete.flow");
    let caller = a
        .hover(&complete, at(&ctext, "condition (caller", 0, 13))
        .unwrap();
    assert!(
        caller.markdown.starts_with("variable `caller`"),
        "{}",
        caller.markdown
    );
    assert_eq!(slice(&ctext, caller.span), "caller");
}

/// A copy of scheme 2 with `insert` put at the first `anchor`, analysed
/// through a world that reads it from a scratch directory beside a copy of
/// `flows/common`.
fn edited(anchor: &str, insert: &str) -> (Analysis, PathBuf, String, usize) {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ide-{}", insert.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("common")).unwrap();
    for entry in std::fs::read_dir(flows().join("common")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.join("common").join(p.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    for entry in std::fs::read_dir(flows().join("prompts")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.join("prompts").join(p.file_name().unwrap())).unwrap();
    }
    let (_, text) = file("scheme2.flow");
    let cut = at(&text, anchor, 0, 0);
    let text = format!("{}{insert}{}", &text[..cut], &text[cut..]);
    let path = dir.join("scheme2.flow");
    std::fs::write(&path, &text).unwrap();
    let world = FsWorld::new(Some(root().join("stdlib")), &dir);
    let a = Analysis::new(&world, std::slice::from_ref(&path), &Options::default());
    (a, path, text, cut + insert.len())
}

fn labels(list: &[dialect_compiler::ide::Completion]) -> Vec<&str> {
    list.iter().map(|c| c.label.as_str()).collect()
}

#[test]
fn completion_offers_what_may_stand_there() {
    // A new statement in the IVR: blocks.
    let (a, path, _, offset) = edited("    hours hours.office_pl", "    \n");
    let list = a.completions(&path, offset - 1);
    assert!(labels(&list).contains(&"menu"), "{:?}", labels(&list));
    assert!(list.iter().all(|c| c.kind == CompletionKind::Block));
    assert!(
        list.iter()
            .find(|c| c.label == "menu")
            .unwrap()
            .documentation
            .is_some()
    );

    // Inside `dial { ... }`: its settings and exits.
    let (a, path, _, offset) = edited("                  timeout 30s", "                  ti\n");
    let list = a.completions(&path, offset - 1);
    let names = labels(&list);
    assert!(
        names.contains(&"timeout") && names.contains(&"on busy"),
        "{names:?}"
    );

    // After `goto `: the labels.
    let (a, path, _, offset) = edited(
        "              on full { goto main_menu }",
        "              on no_agent { goto  }\n",
    );
    let list = a.completions(&path, offset - 3);
    assert_eq!(labels(&list), vec!["main_menu"]);

    // After a block word: the names in scope, `alias.name` for imports.
    let (a, path, _, offset) = edited(
        "            queue queues.sales",
        "            queue queues.\n",
    );
    let list = a.completions(&path, offset - 1);
    let names = labels(&list);
    assert!(
        names.contains(&"queues.sales") && names.contains(&"queues.technical"),
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.starts_with("queues.")), "{names:?}");

    // At the top level: declarations and keywords.
    let (a, path, _, offset) = edited("campaign scheme2", "\n");
    let list = a.completions(&path, offset - 1);
    let names = labels(&list);
    assert!(
        names.contains(&"campaign") && names.contains(&"import"),
        "{names:?}"
    );

    // In an expression: the variables.
    let (a, path, _, offset) = edited("    answer", "    condition (ca\n");
    let list = a.completions(&path, offset - 1);
    assert!(labels(&list).contains(&"caller"));
}

#[test]
fn the_outline_shows_items_labelled_blocks_and_arms() {
    let (_, text) = file("scheme2.flow");
    let (tree, errors) = dialect_compiler::parse::parse(&text);
    assert!(errors.is_empty());
    let outline = symbols(&tree);
    let names: Vec<&str> = outline.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "import \"std/hours.flow\"",
            "import \"common/queues.flow\"",
            "const outsourced_support",
            "campaign scheme2"
        ]
    );
    let campaign = &outline[3];
    assert_eq!(campaign.kind, SymbolKind::Declaration);
    assert_eq!(slice(&text, campaign.selection), "scheme2");
    let ivr = &campaign.children[0];
    assert_eq!(ivr.name, "ivr");
    let hours = &ivr.children[0];
    assert_eq!(hours.name, "hours hours.office_pl");
    let open = &hours.children[0];
    assert_eq!(open.name, "on open");
    let menu = &open.children[0];
    assert_eq!(menu.name, "main_menu: menu");
    assert_eq!(slice(&text, menu.selection), "main_menu");
    let arms: Vec<&str> = menu.children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        arms,
        vec!["on 1", "on 2", "on 3", "on no_input", "on invalid"]
    );
}

#[test]
fn formatting_is_dialect_fmt() {
    let (_, text) = file("scheme2.flow");
    assert_eq!(format(&text).unwrap(), text, "flows/ is formatted");
    let messy = text
        .replace("    answer\n", "    answer   \n")
        .replace("  id \"S2\"", "      id    \"S2\"");
    assert_ne!(messy, text);
    assert_eq!(format(&messy).unwrap(), text);
    assert_eq!(format("campaign x {\n"), Err(1));
}

#[test]
fn diagnostics_are_per_file() {
    let (a, path, _, _) = edited("    answer", "    goto nowhere\n");
    let diagnostics = a.diagnostics_for(&path);
    assert!(
        diagnostics.iter().any(|d| d.code == "E0105"),
        "{diagnostics:?}"
    );
    let all = a.all_diagnostics();
    assert!(all.len() > 1, "the imports are listed too");
    assert!(
        all.iter()
            .filter(|(p, _)| *p != path)
            .all(|(_, d)| d.is_empty())
    );
}

#[test]
fn a_sub_flow_leads_to_its_definition_in_the_standard_library() {
    let a = analysis();
    let (path, text) = file("complete.flow");
    let use_at = at(&text, "use voicemail.after_hours", 0, 16);
    let def = a.definition(&path, use_at).unwrap();
    assert!(def.path.ends_with("stdlib/voicemail.flow"), "{def:?}");
    let std = std::fs::read_to_string(&def.path).unwrap();
    assert_eq!(slice(&std, def.span), "after_hours");
    assert!(std[..def.span.start as usize].ends_with("flow "));
    // And back: the uses of the sub-flow, in complete.flow.
    let uses = a.references(&def.path, def.span.start as usize, false);
    assert!(
        uses.iter().filter(|l| l.path == path).count() >= 2,
        "{uses:?}"
    );
}
