//! Phase 6: rules of the whole graph. A cycle through blocks that never wait
//! would spin inside one event (error); a block no path reaches is dead
//! (warning).

use crate::ast::Span;
use crate::lower::Lowered;
use crate::schema;
use crate::{Problem, Report};
use dialect_bytecode::{NodeId, Op};

/// A problem with the graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// A cycle through blocks that never wait.
    Spin {
        /// The block where the cycle closes (a `goto` where there is one).
        span: Span,
        /// The blocks of the cycle, in words.
        path: Vec<String>,
    },
    /// A block no path from `answer` reaches.
    Unreachable {
        /// The block's head.
        span: Span,
    },
    /// A sub-flow used inside itself.
    Recursion {
        /// The `use`.
        span: Span,
        /// The sub-flow.
        flow: String,
    },
}

/// Whether executing `op` waits for the caller, a timer, an agent or a service.
pub fn waits(op: &Op) -> bool {
    match op {
        Op::Jump => false,
        other => schema::block(other.keyword()).is_some_and(|b| b.waits),
    }
}

/// Checks the graph of one lowered campaign.
pub fn validate(lowered: &Lowered, reports: &mut Vec<Report>) {
    let program = &lowered.program;
    let n = program.nodes.len();
    let targets = |i: usize| -> Vec<usize> {
        program
            .nodes
            .get(i)
            .map(|node| {
                node.exits
                    .iter()
                    .map(|(_, t)| *t as usize)
                    .filter(|t| *t < n)
                    .collect()
            })
            .unwrap_or_default()
    };
    let report = |reports: &mut Vec<Report>, node: usize, error: Error| {
        if let Some(origin) = program.nodes.get(node).map(|n| &n.origin)
            && let Some(file) = lowered.files.get(origin.file as usize)
        {
            reports.push(Report {
                file: *file,
                problem: Problem::Validate(error),
            });
        }
    };
    let span = |node: usize| {
        program
            .nodes
            .get(node)
            .map(|n| Span {
                start: n.origin.start,
                end: n.origin.end,
            })
            .unwrap_or_default()
    };

    // Reachability from the entry.
    let mut reached = vec![false; n];
    let mut stack = vec![program.entry as usize];
    while let Some(v) = stack.pop() {
        match reached.get_mut(v) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        stack.extend(targets(v));
    }
    let mut dead_preds = vec![false; n];
    for v in 0..n {
        if reached.get(v) == Some(&false) {
            for t in targets(v) {
                if t > v
                    && let Some(p) = dead_preds.get_mut(t)
                {
                    *p = true;
                }
            }
        }
    }
    for v in 0..n {
        if reached.get(v) == Some(&false) && dead_preds.get(v) == Some(&false) {
            report(reports, v, Error::Unreachable { span: span(v) });
        }
    }

    // Cycles among nodes that do not wait: strongly connected components.
    let instant: Vec<bool> = program.nodes.iter().map(|node| !waits(&node.op)).collect();
    for component in components(n, |v| {
        if instant.get(v) != Some(&true) {
            return Vec::new();
        }
        targets(v)
            .into_iter()
            .filter(|t| instant.get(*t) == Some(&true))
            .collect()
    }) {
        let cyclic = component.len() > 1
            || component
                .first()
                .is_some_and(|v| targets(*v).contains(v) && instant.get(*v) == Some(&true));
        if !cyclic {
            continue;
        }
        let at = component
            .iter()
            .copied()
            .find(|v| matches!(program.nodes.get(*v).map(|n| &n.op), Some(Op::Jump)))
            .or_else(|| component.iter().copied().min())
            .unwrap_or(0);
        let mut members = component.clone();
        members.sort_unstable();
        let path = members
            .iter()
            .filter_map(|v| program.nodes.get(*v))
            .map(|node| match &node.origin.label {
                Some(label) => format!("{label}: {}", node.op.keyword()),
                None => format!("{} (line {})", node.op.keyword(), node.origin.line),
            })
            .collect();
        report(
            reports,
            at,
            Error::Spin {
                span: span(at),
                path,
            },
        );
    }
}

/// Tarjan's strongly connected components, iterative so that long chains do
/// not exhaust the stack.
fn components(n: usize, edges: impl Fn(usize) -> Vec<usize>) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut counter = 0usize;
    for root in 0..n {
        if index.get(root) != Some(&NONE) {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, edges(root), 0)];
        set(&mut index, root, counter);
        set(&mut low, root, counter);
        counter += 1;
        stack.push(root);
        set(&mut on_stack, root, true);
        while let Some((v, succ, next)) = work.last_mut() {
            let v = *v;
            if let Some(&w) = succ.get(*next) {
                *next += 1;
                if index.get(w) == Some(&NONE) {
                    set(&mut index, w, counter);
                    set(&mut low, w, counter);
                    counter += 1;
                    stack.push(w);
                    set(&mut on_stack, w, true);
                    let e = edges(w);
                    work.push((w, e, 0));
                } else if on_stack.get(w) == Some(&true) {
                    let lw = index.get(w).copied().unwrap_or(NONE);
                    if let Some(lv) = low.get_mut(v) {
                        *lv = (*lv).min(lw);
                    }
                }
                continue;
            }
            work.pop();
            let lv = low.get(v).copied().unwrap_or(0);
            if let Some((parent, _, _)) = work.last()
                && let Some(lp) = low.get_mut(*parent)
            {
                *lp = (*lp).min(lv);
            }
            if Some(&lv) == index.get(v) {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    set(&mut on_stack, w, false);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

fn set<T>(v: &mut [T], i: usize, value: T) {
    if let Some(slot) = v.get_mut(i) {
        *slot = value;
    }
}

/// A graph node's id as an index.
pub fn node_index(id: NodeId) -> usize {
    id as usize
}
