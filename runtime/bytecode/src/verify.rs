//! Re-checking a graph's invariants when it is loaded.
//!
//! The compiler only writes valid graphs, but the runtime reads files: a
//! build from a mismatched compiler, or a hand-made artifact, must be refused
//! here rather than reach the engine, which indexes tables by the numbers in
//! the graph and follows exits by name. After [`verify`] succeeds every index
//! in the program is in range and every node has exactly the exits its op
//! defines.

use crate::graph::{NodeId, Op, Program, Prompt, Schedule, Settings, Value};
use std::collections::BTreeSet;
use std::fmt;

/// Checks that a program can be executed as it stands.
///
/// It stops at the first broken invariant: an invalid program is a compiler
/// bug or a damaged build, and one precise message is enough to act on.
pub fn verify(program: &Program) -> Result<(), Invalid> {
    let tables = Tables::of(program);
    let node_count = program.nodes.len();
    if !tables.has_node(program.entry) {
        return Err(Invalid::EntryOutOfRange {
            entry: program.entry,
            nodes: node_count,
        });
    }
    tables.settings(&program.settings, &Place::Campaign)?;
    for section in program.sections.iter().chain(&program.decls) {
        let place = Place::Section {
            kind: section.kind.clone(),
            name: section.name.clone(),
        };
        tables.settings(&section.settings, &place)?;
    }
    for schedule in &program.schedules {
        check_schedule(schedule)?;
    }
    for path in &program.sources {
        check_relative(path)?;
    }
    for prompt in &program.prompts {
        if let Prompt::Play { path } = prompt {
            check_relative(path)?;
        }
    }
    for (n, asset) in program.assets.iter().enumerate() {
        check_relative(&asset.path)?;
        if asset.path.is_empty()
            || asset
                .path
                .split(['/', '\\'])
                .any(|part| part == ".." || part.is_empty())
        {
            return Err(Invalid::AssetPath {
                path: asset.path.clone(),
            });
        }
        if n > 0
            && program
                .assets
                .get(n - 1)
                .is_some_and(|before| before.path >= asset.path)
        {
            return Err(Invalid::AssetOrder {
                path: asset.path.clone(),
            });
        }
    }
    for (index, node) in program.nodes.iter().enumerate() {
        // A program with more nodes than a `NodeId` counts could not be
        // loaded into memory, so the fallback is never taken in practice.
        let id = NodeId::try_from(index).unwrap_or(NodeId::MAX);
        tables.index(Table::Sources, node.origin.file, &Place::Origin(id))?;
        tables.op(&node.op, id, program)?;
        check_exits(id, &node.op, &node.exits)?;
        for (exit, target) in &node.exits {
            if !tables.has_node(*target) {
                return Err(Invalid::ExitOutOfRange {
                    node: id,
                    exit: exit.clone(),
                    target: *target,
                    nodes: node_count,
                });
            }
        }
    }
    Ok(())
}

/// A broken invariant of a program, found by [`verify`].
///
/// The variants carry the node and the names involved so that a bug report
/// can point at the block in the dump without the artifact at hand.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// [`Program::entry`] is not a node.
    #[error("the entry node {entry} does not exist: the program has {nodes} nodes")]
    EntryOutOfRange {
        /// The entry.
        entry: NodeId,
        /// How many nodes there are.
        nodes: usize,
    },
    /// An exit leads to a node that does not exist.
    #[error(
        "exit `{exit}` of node {node} leads to node {target}, but the program has {nodes} nodes"
    )]
    ExitOutOfRange {
        /// The node with the exit.
        node: NodeId,
        /// The exit's name.
        exit: String,
        /// Where it leads.
        target: NodeId,
        /// How many nodes there are.
        nodes: usize,
    },
    /// An index into one of the program's tables is out of range.
    #[error("{place} refers to {} #{index}, but the program has {len} {}", table.singular(), table.plural())]
    IndexOutOfRange {
        /// Where the index stands.
        place: Place,
        /// The table it indexes.
        table: Table,
        /// The index.
        index: u32,
        /// The table's length.
        len: usize,
    },
    /// A queue block names a queue that is not among the declarations.
    #[error("node {node} queues on `{queue}`, which is not a queue declared in the program")]
    UnknownQueue {
        /// The node.
        node: NodeId,
        /// The queue's name.
        queue: String,
    },
    /// A node lacks an exit its op always has.
    #[error("node {node} (`{keyword}`) has no `{exit}` exit")]
    MissingExit {
        /// The node.
        node: NodeId,
        /// Its block keyword.
        keyword: &'static str,
        /// The missing exit.
        exit: &'static str,
    },
    /// A node has an exit its op does not define.
    #[error("node {node} (`{keyword}`) has an exit `{exit}`, which that block does not define")]
    UnexpectedExit {
        /// The node.
        node: NodeId,
        /// Its block keyword.
        keyword: &'static str,
        /// The exit.
        exit: String,
    },
    /// A node has two exits of the same name, so where it goes is ambiguous.
    #[error("node {node} has two exits named `{exit}`")]
    DuplicateExit {
        /// The node.
        node: NodeId,
        /// The repeated name.
        exit: String,
    },
    /// A priority change outside -100..=100.
    #[error("node {node} changes priority by {delta}, outside -100..=100")]
    PriorityOutOfRange {
        /// The node.
        node: NodeId,
        /// The change.
        delta: i32,
    },
    /// A schedule without a time zone, which cannot tell the time.
    #[error("schedule `{schedule}` has no time zone")]
    EmptyZone {
        /// The schedule's name.
        schedule: String,
    },
    /// Hours that do not form a range within a day.
    #[error(
        "schedule `{schedule}` has hours from minute {start} to minute {end}; \
         a range must start before it ends and end by minute 1440 (24:00)"
    )]
    BadHours {
        /// The schedule's name.
        schedule: String,
        /// Start minute.
        start: u32,
        /// End minute.
        end: u32,
    },
    /// An absolute path, which would tie the build to one machine.
    #[error(
        "`{path}` is an absolute path; sources and audio files must be relative to the build root"
    )]
    AbsolutePath {
        /// The path.
        path: String,
    },
    /// An asset path that is empty or climbs out of the build (`..`).
    #[error("asset `{path}` is not a plain relative path inside the build")]
    AssetPath {
        /// The path.
        path: String,
    },
    /// Assets not sorted by path, or one path twice.
    #[error("asset `{path}` is out of order or listed twice")]
    AssetOrder {
        /// The path.
        path: String,
    },
}

/// Where an out-of-range index was found, for [`Invalid::IndexOutOfRange`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A campaign-level setting.
    Campaign,
    /// A setting of a section or declaration.
    Section {
        /// What it is (`queue`, `field`, ...).
        kind: String,
        /// Its name.
        name: String,
    },
    /// A parameter of a node's op.
    Node(NodeId),
    /// A node's source location.
    Origin(NodeId),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Campaign => write!(f, "a campaign setting"),
            Place::Section { kind, name } => write!(f, "a setting of {kind} `{name}`"),
            Place::Node(node) => write!(f, "node {node}"),
            Place::Origin(node) => write!(f, "the source location of node {node}"),
        }
    }
}

/// The program tables that graph values index, for
/// [`Invalid::IndexOutOfRange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// [`Program::prompts`].
    Prompts,
    /// [`Program::exprs`].
    Exprs,
    /// [`Program::schedules`].
    Schedules,
    /// [`Program::sources`].
    Sources,
}

impl Table {
    /// One entry, for messages.
    fn singular(self) -> &'static str {
        match self {
            Table::Prompts => "prompt",
            Table::Exprs => "expression",
            Table::Schedules => "schedule",
            Table::Sources => "source file",
        }
    }

    /// Several entries, for messages.
    fn plural(self) -> &'static str {
        match self {
            Table::Prompts => "prompts",
            Table::Exprs => "expressions",
            Table::Schedules => "schedules",
            Table::Sources => "source files",
        }
    }
}

/// The exits an op must have, beyond which only keys or case values may be
/// added.
struct Shape {
    /// Exits every node of the op has.
    required: &'static [&'static str],
    /// What other exits are allowed.
    extra: Extra,
}

/// Which exits an op may have besides its required ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// None.
    Nothing,
    /// One per DTMF key, named by the key (`menu`).
    Keys,
    /// One per case, named by the case's literal (`switch`).
    Cases,
}

/// The DTMF keys a menu may have exits for.
const KEYS: &[char] = &['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];

/// The exits of each op, as documented on [`Op`].
fn shape(op: &Op) -> Shape {
    let (required, extra): (&'static [&'static str], Extra) = match op {
        Op::Answer
        | Op::Play { .. }
        | Op::Set { .. }
        | Op::Priority { .. }
        | Op::Voicemail { .. }
        | Op::Callback { .. }
        | Op::NoRecordWindow
        | Op::NoSurvey
        | Op::Jump => (&["next"], Extra::Nothing),
        Op::Menu { .. } => (&["no_input", "invalid"], Extra::Keys),
        Op::Extension { .. } => (&["found", "no_input", "invalid"], Extra::Nothing),
        Op::Hours { .. } => (&["open", "closed"], Extra::Nothing),
        Op::RouteCaller { .. } | Op::RouteDialled { .. } => {
            (&["match", "no_match"], Extra::Nothing)
        }
        Op::RouteIdentified => (&["one", "many", "none"], Extra::Nothing),
        Op::Authorise { .. } | Op::Ticket { .. } => (&["ok", "failed"], Extra::Nothing),
        Op::ApiLogin { .. } => (&["ok", "error"], Extra::Nothing),
        Op::ApiRequest { .. } => (&["ok", "error", "timeout"], Extra::Nothing),
        Op::Condition { .. } => (&["true", "false"], Extra::Nothing),
        Op::Switch { .. } => (&["else"], Extra::Cases),
        Op::Queue { .. } => (&["connected", "timeout", "full"], Extra::Nothing),
        Op::Overflow { .. } => (&["within", "overflow"], Extra::Nothing),
        Op::Dial { .. } => (
            &["connected", "busy", "no_answer", "failed"],
            Extra::Nothing,
        ),
        Op::Bot { .. } => (&["done", "handoff", "cannot_answer"], Extra::Nothing),
        Op::Hangup { .. } => (&[], Extra::Nothing),
    };
    Shape { required, extra }
}

/// Checks that a node has exactly the exits its op defines, each once.
fn check_exits(node: NodeId, op: &Op, exits: &[(String, NodeId)]) -> Result<(), Invalid> {
    let shape = shape(op);
    let mut seen = BTreeSet::new();
    for (exit, _) in exits {
        if !seen.insert(exit.as_str()) {
            return Err(Invalid::DuplicateExit {
                node,
                exit: exit.clone(),
            });
        }
        let allowed = shape.required.contains(&exit.as_str())
            || match shape.extra {
                Extra::Nothing => false,
                Extra::Keys => is_key(exit),
                Extra::Cases => true,
            };
        if !allowed {
            return Err(Invalid::UnexpectedExit {
                node,
                keyword: op.keyword(),
                exit: exit.clone(),
            });
        }
    }
    match shape.required.iter().find(|exit| !seen.contains(*exit)) {
        Some(exit) => Err(Invalid::MissingExit {
            node,
            keyword: op.keyword(),
            exit,
        }),
        None => Ok(()),
    }
}

/// Whether an exit name is a single DTMF key.
fn is_key(exit: &str) -> bool {
    let mut chars = exit.chars();
    matches!((chars.next(), chars.next()), (Some(key), None) if KEYS.contains(&key))
}

/// Checks a schedule's zone and hours.
fn check_schedule(schedule: &Schedule) -> Result<(), Invalid> {
    if schedule.zone.is_empty() {
        return Err(Invalid::EmptyZone {
            schedule: schedule.name.clone(),
        });
    }
    let opened = schedule
        .exceptions
        .iter()
        .filter_map(|exception| match exception {
            crate::graph::Exception::Open { start, end, .. } => Some((*start, *end)),
            crate::graph::Exception::Closed { .. } => None,
        });
    let weekly = schedule.weekly.iter().map(|(_, start, end)| (*start, *end));
    match weekly
        .chain(opened)
        .find(|(start, end)| start >= end || *end > 1440)
    {
        Some((start, end)) => Err(Invalid::BadHours {
            schedule: schedule.name.clone(),
            start,
            end,
        }),
        None => Ok(()),
    }
}

/// Refuses absolute paths, on Unix and Windows alike, since the build may be
/// made on one and run on the other.
fn check_relative(path: &str) -> Result<(), Invalid> {
    let bytes = path.as_bytes();
    let drive = matches!(bytes, [letter, b':', ..] if letter.is_ascii_alphabetic());
    if path.starts_with('/') || path.starts_with('\\') || drive {
        return Err(Invalid::AbsolutePath {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// The lengths of a program's tables, for index checks.
struct Tables {
    /// Number of nodes.
    nodes: usize,
    /// Number of prompts.
    prompts: usize,
    /// Number of expressions.
    exprs: usize,
    /// Number of schedules.
    schedules: usize,
    /// Number of source files.
    sources: usize,
}

impl Tables {
    /// The table lengths of `program`.
    fn of(program: &Program) -> Self {
        Tables {
            nodes: program.nodes.len(),
            prompts: program.prompts.len(),
            exprs: program.exprs.len(),
            schedules: program.schedules.len(),
            sources: program.sources.len(),
        }
    }

    /// Whether `node` is a node of the program.
    fn has_node(&self, node: NodeId) -> bool {
        usize::try_from(node).is_ok_and(|node| node < self.nodes)
    }

    /// Checks one index into `table`.
    fn index(&self, table: Table, index: u32, place: &Place) -> Result<(), Invalid> {
        let len = match table {
            Table::Prompts => self.prompts,
            Table::Exprs => self.exprs,
            Table::Schedules => self.schedules,
            Table::Sources => self.sources,
        };
        if usize::try_from(index).is_ok_and(|index| index < len) {
            Ok(())
        } else {
            Err(Invalid::IndexOutOfRange {
                place: place.clone(),
                table,
                index,
                len,
            })
        }
    }

    /// Checks an optional index into `table`.
    fn optional(&self, table: Table, index: Option<u32>, place: &Place) -> Result<(), Invalid> {
        index.map_or(Ok(()), |index| self.index(table, index, place))
    }

    /// Checks the indices in a group of settings.
    fn settings(&self, settings: &Settings, place: &Place) -> Result<(), Invalid> {
        settings
            .values()
            .try_for_each(|value| self.value(value, place))
    }

    /// Checks the indices in one setting value, including inside lists.
    fn value(&self, value: &Value, place: &Place) -> Result<(), Invalid> {
        match value {
            Value::Prompt(index) => self.index(Table::Prompts, *index, place),
            Value::Expr(index) => self.index(Table::Exprs, *index, place),
            Value::List(values) => values.iter().try_for_each(|value| self.value(value, place)),
            Value::Bool(_)
            | Value::Int(_)
            | Value::Decimal(_)
            | Value::Text(_)
            | Value::Word(_)
            | Value::Duration(_)
            | Value::TimeRange(..)
            | Value::Days(_)
            | Value::Date(_)
            | Value::DateRange(..)
            | Value::Percent(_)
            | Value::Phone(_)
            | Value::Ref(..) => Ok(()),
        }
    }

    /// Checks the parameters of an op: its indices, its queue and its
    /// priority range.
    fn op(&self, op: &Op, node: NodeId, program: &Program) -> Result<(), Invalid> {
        let place = Place::Node(node);
        let prompt = |index: Option<u32>| self.optional(Table::Prompts, index, &place);
        let expr = |index: u32| self.index(Table::Exprs, index, &place);
        match op {
            Op::Play { prompt: index } => prompt(Some(*index)),
            Op::Menu {
                prompt: main,
                invalid_prompt,
                no_input_prompt,
                ..
            } => {
                prompt(*main)?;
                prompt(*invalid_prompt)?;
                prompt(*no_input_prompt)
            }
            Op::Extension { prompt: index, .. }
            | Op::Authorise { prompt: index, .. }
            | Op::Ticket { prompt: index, .. }
            | Op::Callback { prompt: index, .. } => prompt(*index),
            Op::Voicemail { greeting, .. } => prompt(*greeting),
            Op::Hours { schedule } => self.index(Table::Schedules, *schedule, &place),
            Op::ApiRequest { body, .. } => self.optional(Table::Exprs, *body, &place),
            Op::Condition { expr: index }
            | Op::Switch { expr: index }
            | Op::Set { expr: index, .. } => expr(*index),
            Op::Queue {
                queue,
                entry_prompt,
                ..
            } => {
                let declared = program
                    .decls
                    .iter()
                    .any(|decl| decl.kind == "queue" && decl.name == *queue);
                if !declared {
                    return Err(Invalid::UnknownQueue {
                        node,
                        queue: queue.clone(),
                    });
                }
                prompt(*entry_prompt)
            }
            Op::Priority { delta } if !(-100..=100).contains(delta) => {
                Err(Invalid::PriorityOutOfRange {
                    node,
                    delta: *delta,
                })
            }
            // Listed rather than matched by `_`, so that a new op with an
            // index has to be added here.
            Op::Answer
            | Op::RouteCaller { .. }
            | Op::RouteDialled { .. }
            | Op::RouteIdentified
            | Op::ApiLogin { .. }
            | Op::Priority { .. }
            | Op::Overflow { .. }
            | Op::Dial { .. }
            | Op::NoRecordWindow
            | Op::NoSurvey
            | Op::Bot { .. }
            | Op::Jump
            | Op::Hangup { .. } => Ok(()),
        }
    }
}
