//! The suite: every campaign compiled, encoded into its artifact and
//! loaded back (hash and verification included), then prepared by
//! `dialect_switch::Version::prepare` exactly as `dialect serve` prepares
//! it at startup and on reload, with the text of the source files for
//! diagnostics.

use dialect_acd::directory::Directory;
use dialect_bot::KnowledgeBase;
use dialect_bytecode::{NodeId, Program};
use dialect_compiler::source::Sources;
use dialect_engine::Flow;
use dialect_switch::{Bots, Unservable, Version};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The compiled campaigns every scenario runs against, loaded the way the
/// runtime loads them, with the text of their source files for diagnostics.
#[derive(Debug)]
pub struct Suite {
    pub(crate) flows: Vec<Arc<Flow>>,
    files: BTreeMap<String, FlowFile>,
    pub(crate) directory: Directory,
    /// The customer agents, with their knowledge bases.
    pub(crate) bots: Bots,
}

/// A flow source file: where it is and what it says.
#[derive(Clone, Debug)]
pub struct FlowFile {
    /// Its path, as given to the compiler.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// A compiled program that cannot be run: its artifact does not load, or
/// the engine refuses it. Either is a bug of the compiler, not of the flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteError {
    /// The campaign.
    pub campaign: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign `{}` cannot run: {}",
            self.campaign, self.message
        )
    }
}

impl std::error::Error for SuiteError {}

impl Suite {
    /// Encodes every program into an artifact, loads it back (hash and
    /// verification included) and prepares it for the engine, so scenarios
    /// exercise exactly what the runtime would execute. `sources` are the
    /// compilation's files, looked up by their stable names. Every bot's
    /// knowledge base is read here, relative to the flows' directory (the
    /// build root its stable name is relative to), through
    /// [`scenario::read_knowledge_base`](crate::scenario::read_knowledge_base);
    /// one that cannot be read or is broken is an error naming the file and
    /// the bot.
    pub fn new(programs: &[Program], sources: &Sources) -> Result<Suite, SuiteError> {
        let mut artifacts = Vec::new();
        for program in programs {
            let bytes = dialect_bytecode::encode(program);
            let loaded = dialect_bytecode::load(&bytes).map_err(|e| SuiteError {
                campaign: program.name.clone(),
                message: format!("its artifact does not load: {e}"),
            })?;
            artifacts.push(loaded);
        }
        let files = sources
            .files
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    FlowFile {
                        path: f.path.display().to_string(),
                        text: f.text.clone(),
                    },
                )
            })
            .collect();
        // The same preparation, and the same policy, as `dialect serve`'s
        // at startup and on reload: a knowledge base that does not load
        // stops the suite.
        let read = |program: &Program, file: &str| -> Result<KnowledgeBase, String> {
            let path = knowledge_path(sources, program, file).ok_or_else(|| {
                format!(
                    "(`{file}`) cannot be found: no source file of the campaign tells where the flows' directory is"
                )
            })?;
            crate::scenario::read_knowledge_base(&path)
                .map_err(|why| format!("(`{}`) {why}", path.display()))
        };
        let version =
            Version::prepare(artifacts, &read, &BTreeMap::new()).map_err(|e| match e {
                Unservable::Flow { campaign, error } => SuiteError {
                    campaign,
                    message: error,
                },
                Unservable::Knowledge(broken) => SuiteError {
                    campaign: broken.campaign,
                    message: format!("the knowledge base of bot `{}` {}", broken.bot, broken.why),
                },
            })?;
        let Version {
            flows,
            directory,
            bots,
            ..
        } = version;
        Ok(Suite {
            flows,
            files,
            directory,
            bots,
        })
    }

    /// The campaigns, in compilation order.
    pub fn flows(&self) -> &[Arc<Flow>] {
        &self.flows
    }

    /// A source file by its stable name (`scheme1.flow`, `std/hours.flow`).
    pub fn file(&self, name: &str) -> Option<&FlowFile> {
        self.files.get(name)
    }

    /// The place of a node of a program, for traces and diagnostics.
    pub fn place(&self, program: &Program, node: NodeId) -> Option<Place> {
        let n = program.nodes.get(node as usize)?;
        let file = program.sources.get(n.origin.file as usize)?.clone();
        let path = self
            .files
            .get(&file)
            .map_or_else(|| file.clone(), |f| f.path.clone());
        Some(Place {
            campaign: program.name.clone(),
            node,
            block: n.op.keyword(),
            file,
            path,
            line: n.origin.line,
            start: n.origin.start,
            end: n.origin.end,
        })
    }
}

/// Where in a flow something happened: a node and its block's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The campaign.
    pub campaign: String,
    /// The node.
    pub node: NodeId,
    /// The block's keyword.
    pub block: &'static str,
    /// The file's stable name (`scheme2.flow`).
    pub file: String,
    /// The file's path as given to the compiler (`flows/scheme2.flow`).
    pub path: String,
    /// 1-based line of the block's head.
    pub line: u32,
    /// Byte offset of the block's head.
    pub start: u32,
    /// End of the head.
    pub end: u32,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} node {}", self.path, self.line, self.node)
    }
}

/// Where a data file named by a program (a stable name such as
/// `kb/faq.toml`, relative to the build root, or `std/...`, relative to the
/// standard library) is on disk: the path of one of the compilation's
/// source files without the parts of its stable name, joined with the
/// file's name. The campaign's own files are tried first.
fn knowledge_path(sources: &Sources, program: &Program, file: &str) -> Option<PathBuf> {
    let in_std = file.starts_with("std/");
    let own = program
        .sources
        .iter()
        .filter_map(|name| sources.files.iter().find(|f| &f.name == name));
    for source in own.chain(sources.files.iter()) {
        let name = &source.name;
        if name.starts_with("std/") != in_std || name.split('/').any(|p| p == "..") {
            continue;
        }
        // `flows/common/agents.flow` named `common/agents.flow`: `flows`;
        // `stdlib/hours.flow` named `std/hours.flow`: `stdlib`.
        let parts = name.split('/').count() - usize::from(in_std);
        let mut root = source.path.clone();
        if (0..parts).all(|_| root.pop()) {
            let relative = if in_std {
                file.strip_prefix("std/").unwrap_or(file)
            } else {
                file
            };
            return Some(root.join(relative));
        }
    }
    None
}
