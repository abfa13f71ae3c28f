//! Pictures of compiled flows: `dialect graph` as Mermaid or Graphviz DOT.
//!
//! The picture is drawn from the compiled [`Program`], not from the syntax
//! tree, so it shows what the runtime will do: sub-flows inlined, every exit
//! wired, the implicit `hangup` at the end. A block is a box with its label
//! (`main_menu: menu`) and its main parameters; an exit is an edge named after
//! it (`1`, `timeout`, `open`). A `goto` is no box of its own: it is drawn as
//! a dashed edge to its target, named `exit → goto label`. An edge back to a
//! block already on the path from the start (a loop) is drawn bold, so loops
//! stand out. Blocks with more than one exit are hexagons, the start a
//! stadium, a hang-up a circle.
//!
//! The output is deterministic (same program → same text), escapes every
//! character the target syntax gives a meaning to, and is checked by the real
//! parsers in the tests (Graphviz `dot`, the `mermaid` npm package).

use dialect_bytecode::{NodeId, Op, Program};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// How one block is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The node's index in the program.
    pub id: NodeId,
    /// First line: `label: keyword`, or the keyword.
    pub title: String,
    /// Further lines: the block's main parameters, short.
    pub detail: Vec<String>,
    /// Its outline.
    pub shape: Shape,
    /// Where it was written: `scheme2.flow:20`.
    pub origin: String,
}

/// The outline of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The first block of the campaign.
    Start,
    /// A block with one exit.
    Step,
    /// A block with several exits.
    Decision,
    /// A block with none (`hangup`).
    End,
}

/// How one exit is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The block the exit leaves.
    pub from: NodeId,
    /// The block it leads to (after any `goto`).
    pub to: NodeId,
    /// The exit's name, with `→ goto label` for a jump.
    pub label: String,
    /// Plain, jump or loop.
    pub kind: EdgeKind,
}

/// What an edge stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The flow goes on.
    Plain,
    /// Through a `goto`.
    Jump,
    /// Back to a block already on the path from the start.
    Loop,
}

/// A campaign's graph, ready to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// The campaign's name.
    pub campaign: String,
    /// The blocks, in program order (every `goto` left out).
    pub blocks: Vec<Block>,
    /// The exits, in program order.
    pub edges: Vec<Edge>,
}

/// The longest parameter text shown in a box; longer text is cut with `…`.
const DETAIL_WIDTH: usize = 40;

/// The picture of a program.
pub fn picture(program: &Program) -> Picture {
    let jumps: Vec<bool> = program
        .nodes
        .iter()
        .map(|n| matches!(n.op, Op::Jump))
        .collect();
    let is_jump = |id: NodeId| {
        usize::try_from(id)
            .ok()
            .and_then(|i| jumps.get(i))
            .copied()
            .unwrap_or(false)
    };
    // Where a chain of `goto`s ends, and the label it ends at.
    let land = |mut id: NodeId| -> (NodeId, bool) {
        let mut jumped = false;
        for _ in 0..=program.nodes.len() {
            if !is_jump(id) {
                break;
            }
            let next = node(program, id).and_then(|n| n.exits.first()).map(|e| e.1);
            match next {
                Some(next) => {
                    id = next;
                    jumped = true;
                }
                None => break,
            }
        }
        (id, jumped)
    };
    let loops = back_edges(program, &land);
    let mut blocks = Vec::new();
    let mut edges = Vec::new();
    for (index, n) in program.nodes.iter().enumerate() {
        let Ok(id) = NodeId::try_from(index) else {
            break;
        };
        if is_jump(id) {
            continue;
        }
        let shape = if id == program.entry {
            Shape::Start
        } else {
            match n.exits.len() {
                0 => Shape::End,
                1 => Shape::Step,
                _ => Shape::Decision,
            }
        };
        let mut detail = detail(program, &n.op);
        // `play` says it all with its prompt: `play "prompts/busy.wav"`.
        let keyword = match (&n.op, detail.as_slice()) {
            (Op::Play { .. }, [prompt]) => {
                let prompt = prompt.clone();
                detail.clear();
                prompt
            }
            _ => n.op.keyword().to_string(),
        };
        let title = match &n.origin.label {
            Some(label) => format!("{label}: {keyword}"),
            None => keyword,
        };
        let source = usize::try_from(n.origin.file)
            .ok()
            .and_then(|f| program.sources.get(f))
            .map_or("?", String::as_str);
        blocks.push(Block {
            id,
            title,
            detail,
            shape,
            origin: format!("{source}:{}", n.origin.line),
        });
        // Exits that lead to the same block are one edge: `timeout, full`.
        let mut merged: Vec<(NodeId, bool, EdgeKind, Vec<&str>)> = Vec::new();
        for (exit, target) in &n.exits {
            let (to, jumped) = land(*target);
            let kind = if loops.contains(&(id, exit.clone())) {
                EdgeKind::Loop
            } else if jumped {
                EdgeKind::Jump
            } else {
                EdgeKind::Plain
            };
            match merged
                .iter_mut()
                .find(|(t, j, k, _)| *t == to && *j == jumped && *k == kind)
            {
                Some((_, _, _, names)) => names.push(exit),
                None => merged.push((to, jumped, kind, vec![exit])),
            }
        }
        for (to, jumped, kind, names) in merged {
            let mut label = names.join(", ");
            if jumped {
                let name = node(program, to)
                    .and_then(|t| t.origin.label.clone())
                    .unwrap_or_else(|| format!("block {to}"));
                label = format!("{label} → goto {name}");
            }
            edges.push(Edge {
                from: id,
                to,
                label,
                kind,
            });
        }
    }
    Picture {
        campaign: program.name.clone(),
        blocks,
        edges,
    }
}

/// The node at `id`, if there is one.
fn node(program: &Program, id: NodeId) -> Option<&dialect_bytecode::Node> {
    usize::try_from(id).ok().and_then(|i| program.nodes.get(i))
}

/// The exits `(block, exit name)` that lead back to a block on the path from
/// the start: a depth-first walk over the blocks with `goto`s followed.
fn back_edges(
    program: &Program,
    land: &dyn Fn(NodeId) -> (NodeId, bool),
) -> BTreeSet<(NodeId, String)> {
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; program.nodes.len()];
    let mut out = BTreeSet::new();
    let (entry, _) = land(program.entry);
    // (block, index of the next exit to follow)
    let mut stack: Vec<(NodeId, usize)> = vec![(entry, 0)];
    if let Some(s) = usize::try_from(entry).ok().and_then(|i| state.get_mut(i)) {
        *s = ON_PATH;
    }
    while let Some(top) = stack.last_mut() {
        let (id, next) = *top;
        let exit = node(program, id).and_then(|n| n.exits.get(next));
        let Some((name, target)) = exit else {
            if let Some(s) = usize::try_from(id).ok().and_then(|i| state.get_mut(i)) {
                *s = DONE;
            }
            stack.pop();
            continue;
        };
        top.1 += 1;
        let (to, _) = land(*target);
        match usize::try_from(to).ok().and_then(|i| state.get_mut(i)) {
            Some(s) if *s == NEW => {
                *s = ON_PATH;
                stack.push((to, 0));
            }
            Some(s) if *s == ON_PATH => {
                out.insert((id, name.clone()));
            }
            _ => {}
        }
    }
    out
}

/// The lines under a block's title: what it plays, queues for, dials, tests.
fn detail(program: &Program, op: &Op) -> Vec<String> {
    let shown: &[&str] = match op {
        Op::Play { .. } | Op::Menu { .. } | Op::Extension { .. } | Op::Ticket { .. } => &["prompt"],
        Op::Hours { .. } => &["schedule"],
        Op::RouteCaller { .. } | Op::RouteDialled { .. } => &["patterns"],
        Op::Authorise { .. } => &["source", "url"],
        Op::ApiLogin { .. } => &["url"],
        Op::ApiRequest { .. } => &["method", "url"],
        Op::Condition { .. } | Op::Switch { .. } => &["expr"],
        Op::Set { .. } => &["var", "expr"],
        Op::Queue { .. } => &["queue", "max_wait"],
        Op::Priority { .. } => &["delta"],
        Op::Overflow { .. } => &["limit"],
        Op::Dial { .. } => &["number", "timeout"],
        Op::Voicemail { .. } => &["greeting", "email"],
        Op::Callback { .. } => &["queue", "delay"],
        Op::Bot { .. } => &["bot"],
        Op::Hangup { .. } => &["reason"],
        Op::Answer | Op::RouteIdentified | Op::NoRecordWindow | Op::NoSurvey | Op::Jump => &[],
    };
    dialect_bytecode::dump::describe(program, op)
        .into_iter()
        .filter(|(name, _)| shown.contains(name))
        .map(|(name, value)| {
            let text = match name {
                // The value speaks for itself.
                "prompt" | "schedule" | "queue" | "number" | "expr" | "bot" | "patterns" => value,
                _ => format!("{} {value}", name.replace('_', " ")),
            };
            shorten(&text)
        })
        .collect()
}

/// Text cut to [`DETAIL_WIDTH`] characters.
fn shorten(text: &str) -> String {
    if text.chars().count() <= DETAIL_WIDTH {
        return text.to_string();
    }
    let mut out: String = text.chars().take(DETAIL_WIDTH - 1).collect();
    out.push('…');
    out
}

/// The pictures as one Mermaid flowchart; several campaigns each get a
/// subgraph.
pub fn mermaid(pictures: &[Picture]) -> String {
    let mut out = String::from("flowchart TD\n");
    let several = pictures.len() > 1;
    for (c, picture) in pictures.iter().enumerate() {
        let indent = if several { "    " } else { "  " };
        if several {
            let _ = writeln!(
                out,
                "  subgraph c{c}[\"campaign {}\"]",
                mermaid_text(&picture.campaign)
            );
        }
        for block in &picture.blocks {
            let mut text = mermaid_text(&block.title);
            for line in &block.detail {
                text.push_str("<br/>");
                text.push_str(&mermaid_text(line));
            }
            let (open, close) = match block.shape {
                Shape::Start => ("([", "])"),
                Shape::Step => ("[", "]"),
                Shape::Decision => ("{{", "}}"),
                Shape::End => ("((", "))"),
            };
            let _ = writeln!(out, "{indent}c{c}n{}{open}\"{text}\"{close}", block.id);
        }
        for edge in &picture.edges {
            let arrow = match edge.kind {
                EdgeKind::Plain => "-->",
                EdgeKind::Jump => "-.->",
                EdgeKind::Loop => "==>",
            };
            let _ = writeln!(
                out,
                "{indent}c{c}n{} {arrow}|\"{}\"| c{c}n{}",
                edge.from,
                mermaid_text(&edge.label),
                edge.to
            );
        }
        if several {
            out.push_str("  end\n");
        }
    }
    out
}

/// Text for inside a quoted Mermaid label: the characters Mermaid reads as
/// markup or as the end of the label become entity codes (`#quot;`), which
/// Mermaid turns back into the characters when it draws.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The pictures as one Graphviz `digraph`; several campaigns each get a
/// cluster.
pub fn dot(pictures: &[Picture]) -> String {
    let mut out = String::new();
    let name = match pictures {
        [one] => one.campaign.as_str(),
        _ => "flows",
    };
    let _ = writeln!(out, "digraph {} {{", dot_string(name));
    out.push_str("  rankdir=TB;\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    let several = pictures.len() > 1;
    for (c, picture) in pictures.iter().enumerate() {
        let indent = if several { "    " } else { "  " };
        if several {
            let _ = writeln!(out, "  subgraph cluster_{c} {{");
            let _ = writeln!(
                out,
                "    label={};",
                dot_string(&format!("campaign {}", picture.campaign))
            );
        }
        for block in &picture.blocks {
            let mut label = block.title.clone();
            for line in &block.detail {
                label.push('\n');
                label.push_str(line);
            }
            let shape = match block.shape {
                Shape::Start => "shape=box, style=\"rounded,bold\"",
                Shape::Step => "shape=box",
                Shape::Decision => "shape=hexagon, style=solid",
                Shape::End => "shape=oval, style=solid",
            };
            let _ = writeln!(
                out,
                "{indent}c{c}n{} [label={}, {shape}, tooltip={}];",
                block.id,
                dot_string(&label),
                dot_string(&block.origin)
            );
        }
        for edge in &picture.edges {
            let style = match edge.kind {
                EdgeKind::Plain => "",
                EdgeKind::Jump => ", style=dashed",
                // A loop does not pull its target down the page.
                EdgeKind::Loop => ", style=bold, color=\"#b03030\", constraint=false",
            };
            let _ = writeln!(
                out,
                "{indent}c{c}n{} -> c{c}n{} [label={}{style}];",
                edge.from,
                edge.to,
                dot_string(&edge.label)
            );
        }
        if several {
            out.push_str("  }\n");
        }
    }
    out.push_str("}\n");
    out
}

/// A DOT quoted string: `"` and `\` escaped, line breaks as `\n`.
fn dot_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn mermaid_text_escapes_what_mermaid_reads() {
        assert_eq!(
            mermaid_text(r#"play "a#b" <x> & y|z `q`"#),
            "play #quot;a#35;b#quot; #lt;x#gt; #amp; y#124;z #96;q#96;"
        );
    }

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_lines() {
        assert_eq!(dot_string("a \"b\" \\ c\nd"), r#""a \"b\" \\ c\nd""#);
    }

    #[test]
    fn long_details_are_cut() {
        let long = "x".repeat(100);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), DETAIL_WIDTH);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("short"), "short");
    }
}
