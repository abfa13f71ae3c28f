//! The files of one compilation.

use crate::ast;
use std::path::{Component, Path, PathBuf};

/// Index of a file in [`Sources`].
pub type FileId = u32;

/// One source file, parsed. An environment file (`environments/NAME.toml`)
/// is a source too, with an empty tree, so that diagnostics can show
/// excerpts of it.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path it was read from, for messages and for resolving relative paths.
    pub path: PathBuf,
    /// Its stable name: relative to the build root (`scheme1.flow`,
    /// `common/agents.flow`) or to the standard library (`std/hours.flow`).
    /// Never absolute, so artifacts do not depend on the checkout's place.
    pub name: String,
    /// The text.
    pub text: String,
    /// The syntax tree.
    pub ast: ast::File,
    /// Whether it was named on the command line (not only imported).
    pub input: bool,
}

/// A top-level statement of some file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeclRef {
    /// The file.
    pub file: FileId,
    /// The index in the file's items.
    pub index: usize,
}

/// Every file of a compilation, inputs first, imports as they are found.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The files; a [`FileId`] indexes this.
    pub files: Vec<SourceFile>,
}

impl Sources {
    /// The file with this id.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// The top-level statement at `at`.
    pub fn stmt(&self, at: DeclRef) -> Option<&ast::Stmt> {
        self.get(at.file)?.ast.items.get(at.index)
    }

    /// The id of the file read from `path`, if it is loaded.
    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .and_then(|i| FileId::try_from(i).ok())
    }

    /// Adds a file and returns its id.
    pub fn push(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId::try_from(self.files.len() - 1).unwrap_or(FileId::MAX)
    }

    /// The ids of all files.
    pub fn ids(&self) -> impl Iterator<Item = FileId> + use<> {
        let n = FileId::try_from(self.files.len()).unwrap_or(FileId::MAX);
        0..n
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                let popped =
                    matches!(out.components().next_back(), Some(Component::Normal(_))) && out.pop();
                if !popped {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A path as a `/`-separated stable name.
pub fn slash_name(path: &Path) -> String {
    let parts: Vec<String> = normalize(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}
