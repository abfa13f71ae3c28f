//! What an editor asks of the compiler, in the compiler's own terms: byte
//! offsets into a file's text, paths as the [`World`] names them. The
//! language server (`dialect lsp`) turns these into LSP messages and is the
//! only part that knows the protocol.
//!
//! An [`Analysis`] is one compilation of some files (with everything they
//! import) through a world that may hold unsaved editor text. It answers:
//! diagnostics per file, hover documentation (from [`crate::docs`], the
//! source `dialect explain` prints), completion, definition, references and
//! rename of names (declarations, constants, sub-flows, import aliases) and
//! labels, and the outline of a file.
//!
//! How a statement is read depends on where it stands, as in `check`: a
//! top-level item is a declaration; in a declaration's body a word is one of
//! its settings or sections, or a block where the body is an IVR (`ivr`, a
//! `flow`); in a block's body it is one of the block's settings or an `on`
//! arm; an arm's body holds blocks again. [`Role`] is that reading.

use crate::Compilation;
use crate::ast::{File, Ident, Span, Stmt, Value, ValueKind};
use crate::diagnostic::Diagnostic;
use crate::resolve::Declared;
use crate::schema;
use crate::source::{DeclRef, FileId};
use crate::world::World;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A span in a file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// The file, as the world names it.
    pub path: PathBuf,
    /// The span (empty at 0 for "the file").
    pub span: Span,
}

/// A text replacement.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edit {
    /// The file.
    pub path: PathBuf,
    /// What to replace.
    pub span: Span,
    /// The new text.
    pub text: String,
}

/// Hover documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hover {
    /// The word it is about.
    pub span: Span,
    /// Markdown.
    pub markdown: String,
}

/// What a completion proposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    /// `import`, `const`, `flow`, a declaration keyword.
    Keyword,
    /// An IVR block.
    Block,
    /// A setting or section of the enclosing statement.
    Setting,
    /// `on EXIT`.
    Exit,
    /// A declared name (queue, schedule, ...), maybe `alias.name`.
    Reference,
    /// A label, after `goto`.
    Label,
    /// An import alias.
    Module,
    /// A variable in an expression.
    Variable,
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// What is inserted.
    pub label: String,
    /// What it is.
    pub kind: CompletionKind,
    /// One line: `block`, `setting of menu`, `queue in common/queues.flow`.
    pub detail: String,
    /// Documentation, Markdown.
    pub documentation: Option<String>,
}

/// What an outline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    /// `campaign`, `queue`, `schedule`, ... and their sections.
    Declaration,
    /// `flow NAME(...)`.
    Flow,
    /// `const`.
    Constant,
    /// `import`.
    Import,
    /// An IVR block that has a label or a body.
    Block,
    /// `on EXIT { ... }`.
    Arm,
}

/// One entry of a file's outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// `campaign scheme2`, `main_menu: menu`, `on 1`.
    pub name: String,
    /// What it is.
    pub kind: SymbolKind,
    /// The whole statement.
    pub span: Span,
    /// The part to select: the name, the label or the head word.
    pub selection: Span,
    /// The entries inside it.
    pub children: Vec<Symbol>,
}

/// How a statement is read where it stands.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// A top-level item: a declaration, `import`, `const` or `flow`.
    Item,
    /// A section of a declaration (`field`, `ivr`, ...).
    Section(&'static schema::Decl),
    /// A setting of a declaration or section.
    DeclSetting(&'static schema::Decl),
    /// An IVR block.
    Block,
    /// A setting of a block.
    BlockSetting(&'static schema::Block),
    /// `on EXIT { ... }` of a block.
    Arm(&'static schema::Block),
    /// Not known here.
    Unknown,
}

/// What the container of a position holds.
#[derive(Clone, Copy, Debug)]
enum Holds {
    /// Top-level items.
    Items,
    /// Settings and sections of a declaration.
    Decl(&'static schema::Decl),
    /// IVR blocks.
    Blocks,
    /// Settings and arms of a block.
    Block(&'static schema::Block),
    /// Nothing we know.
    Unknown,
}

/// The statements from the top level down to the innermost one whose span
/// holds `offset`, each with its role.
pub fn chain_at(file: &File, offset: usize) -> Vec<(&Stmt, Role)> {
    let mut out = Vec::new();
    let mut holds = Holds::Items;
    let mut stmts: &[Stmt] = &file.items;
    while let Some(stmt) = stmts.iter().find(|s| contains(s.span, offset)) {
        let role = role_in(holds, stmt);
        out.push((stmt, role));
        holds = holds_of(role, stmt);
        match &stmt.body {
            Some(body) if contains(body.span, offset) => stmts = &body.stmts,
            _ => break,
        }
    }
    out
}

/// Whether `span` holds `offset` (its end included, where the cursor
/// stands after the last character).
fn contains(span: Span, offset: usize) -> bool {
    span.start as usize <= offset && offset <= span.end as usize
}

/// How a statement is read inside a container.
fn role_in(holds: Holds, stmt: &Stmt) -> Role {
    let word = stmt.head.name.as_str();
    match holds {
        Holds::Items => Role::Item,
        Holds::Decl(decl) => {
            if decl.sections.contains(&word) {
                schema::decl(word).map_or(Role::Unknown, Role::Section)
            } else {
                Role::DeclSetting(decl)
            }
        }
        Holds::Blocks => Role::Block,
        Holds::Block(block) if word == "on" => Role::Arm(block),
        Holds::Block(block) => Role::BlockSetting(block),
        Holds::Unknown => Role::Unknown,
    }
}

/// What a statement's body holds.
fn holds_of(role: Role, stmt: &Stmt) -> Holds {
    let word = stmt.head.name.as_str();
    match role {
        Role::Item if word == "flow" => Holds::Blocks,
        Role::Item => schema::decl(word).map_or(Holds::Unknown, |d| {
            if d.blocks {
                Holds::Blocks
            } else {
                Holds::Decl(d)
            }
        }),
        Role::Section(d) if d.blocks => Holds::Blocks,
        Role::Section(d) => Holds::Decl(d),
        Role::Block => schema::block(word).map_or(Holds::Unknown, Holds::Block),
        Role::Arm(_) => Holds::Blocks,
        Role::DeclSetting(_) | Role::BlockSetting(_) | Role::Unknown => Holds::Unknown,
    }
}

/// What a name or label at a position stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A top-level statement (declaration, constant, sub-flow).
    Item(DeclRef),
    /// A campaign by its global name.
    Campaign(DeclRef),
    /// A label inside the top-level item `item` of `file`.
    Label {
        /// The file.
        file: FileId,
        /// The top-level item whose IVR holds it.
        item: usize,
        /// The label.
        name: String,
    },
    /// An imported file, by an alias of `file`.
    Module(FileId),
}

/// One compilation, for an editor.
#[derive(Debug)]
pub struct Analysis {
    /// Everything the compiler found.
    pub compilation: Compilation,
}

impl Analysis {
    /// Compiles `inputs` (files or directories) through `world`.
    pub fn new(world: &dyn World, inputs: &[PathBuf], options: &crate::Options) -> Analysis {
        Analysis {
            compilation: crate::compile_with(world, inputs, options),
        }
    }

    /// The id of the file read from `path`.
    fn file(&self, path: &Path) -> Option<FileId> {
        let sources = &self.compilation.sources;
        sources.find(path).or_else(|| {
            let wanted = crate::source::normalize(path);
            sources
                .files
                .iter()
                .position(|f| crate::source::normalize(&f.path) == wanted)
                .and_then(|i| FileId::try_from(i).ok())
        })
    }

    /// The path of a file.
    fn path(&self, file: FileId) -> PathBuf {
        self.compilation
            .sources
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    }

    /// The diagnostics in the file read from `path`.
    pub fn diagnostics_for(&self, path: &Path) -> Vec<Diagnostic> {
        let Some(id) = self.file(path) else {
            return Vec::new();
        };
        self.compilation
            .diagnostics()
            .into_iter()
            .filter(|d| d.file == id)
            .collect()
    }

    /// The files of the compilation, with the diagnostics of each (also
    /// those with none, so that an editor can clear them).
    pub fn all_diagnostics(&self) -> Vec<(PathBuf, Vec<Diagnostic>)> {
        let mut out: Vec<(PathBuf, Vec<Diagnostic>)> = self
            .compilation
            .sources
            .files
            .iter()
            .map(|f| (f.path.clone(), Vec::new()))
            .collect();
        for d in self.compilation.diagnostics() {
            if let Some(slot) = out.get_mut(d.file as usize) {
                slot.1.push(d);
            }
        }
        out
    }

    /// What the name or label at `offset` stands for, and the span of the
    /// word under the cursor.
    fn target_at(&self, file: FileId, offset: usize) -> Option<(Target, Span)> {
        let src = self.compilation.sources.get(file)?;
        let chain = chain_at(&src.ast, offset);
        let (stmt, role) = *chain.last()?;
        let item = src
            .ast
            .items
            .iter()
            .position(|s| contains(s.span, offset))?;
        // A label where it is defined.
        if let Some(label) = &stmt.label
            && contains(label.span, offset)
        {
            return Some((
                Target::Label {
                    file,
                    item,
                    name: label.name.clone(),
                },
                label.span,
            ));
        }
        // The name a top-level item declares.
        if matches!(role, Role::Item)
            && stmt.head.name != "import"
            && let Some(name) = stmt.args.first().and_then(Value::as_ident)
            && contains(name.span, offset)
        {
            let at = DeclRef { file, index: item };
            return Some((Target::Item(at), name.span));
        }
        // `import "path" as alias`: the file.
        if matches!(role, Role::Item) && stmt.head.name == "import" {
            let target = self.import_target(file, stmt)?;
            let span = stmt.args.iter().map(|a| a.span).reduce(Span::join)?;
            return contains(span, offset).then_some((Target::Module(target), span));
        }
        // `goto label`.
        if stmt.head.name == "goto"
            && matches!(role, Role::Block)
            && let Some(name) = stmt.args.first().and_then(Value::as_ident)
            && contains(name.span, offset)
        {
            return Some((
                Target::Label {
                    file,
                    item,
                    name: name.name.clone(),
                },
                name.span,
            ));
        }
        // A name among the values.
        let parts = path_at(&stmt.args, offset)?;
        let part = parts.iter().position(|p| contains(p.span, offset))?;
        let span = parts.get(part)?.span;
        if part == 0 && parts.len() == 2 {
            let scope = self.compilation.resolution.scopes.get(file as usize)?;
            if let Some(module) = parts.first().and_then(|p| scope.imports.get(&p.name)) {
                return Some((Target::Module(*module), span));
            }
        }
        self.resolve(file, parts).map(|t| (t, span))
    }

    /// The file an import statement names.
    fn import_target(&self, file: FileId, stmt: &Stmt) -> Option<FileId> {
        let path = match &stmt.args.first()?.kind {
            ValueKind::Str(path) => path.clone(),
            _ => return None,
        };
        let alias = stmt
            .args
            .get(1)
            .and_then(Value::as_ident)
            .map(|a| a.name.as_str());
        let name = crate::resolve::alias_of(&path, alias);
        let scope = self.compilation.resolution.scopes.get(file as usize)?;
        scope.imports.get(&name).copied()
    }

    /// What `parts` names in `file`: a declaration, constant or sub-flow in
    /// scope (maybe through an alias), or a campaign.
    fn resolve(&self, file: FileId, parts: &[Ident]) -> Option<Target> {
        let resolution = &self.compilation.resolution;
        let scope = resolution.scopes.get(file as usize)?;
        let (scope, last) = match parts {
            [one] => (scope, one),
            [alias, last] => (
                resolution
                    .scopes
                    .get(*scope.imports.get(&alias.name)? as usize)?,
                last,
            ),
            _ => return None,
        };
        match scope.names.get(&last.name) {
            Some((_, at)) => Some(Target::Item(*at)),
            None if parts.len() == 1 => resolution
                .campaigns
                .get(&last.name)
                .map(|at| Target::Campaign(*at)),
            None => None,
        }
    }

    /// Where the name or label at `offset` of `path` is defined.
    pub fn definition(&self, path: &Path, offset: usize) -> Option<Location> {
        let file = self.file(path)?;
        let (target, _) = self.target_at(file, offset)?;
        self.defined_at(&target)
    }

    /// Where a target is defined: the declared name, the label, the file.
    fn defined_at(&self, target: &Target) -> Option<Location> {
        let sources = &self.compilation.sources;
        match target {
            Target::Item(at) | Target::Campaign(at) => {
                let stmt = sources.stmt(*at)?;
                let span = stmt
                    .args
                    .first()
                    .and_then(Value::as_ident)
                    .map_or(stmt.head.span, |i| i.span);
                Some(Location {
                    path: self.path(at.file),
                    span,
                })
            }
            Target::Label { file, item, name } => {
                let stmt = sources.get(*file)?.ast.items.get(*item)?;
                let label = labels(stmt).into_iter().find(|l| l.name == *name)?;
                Some(Location {
                    path: self.path(*file),
                    span: label.span,
                })
            }
            Target::Module(file) => Some(Location {
                path: self.path(*file),
                span: Span::default(),
            }),
        }
    }

    /// Every place the name or label at `offset` is written, across the
    /// files of the analysis; with its definition if `declaration`.
    pub fn references(&self, path: &Path, offset: usize, declaration: bool) -> Vec<Location> {
        let Some(file) = self.file(path) else {
            return Vec::new();
        };
        let Some((target, _)) = self.target_at(file, offset) else {
            return Vec::new();
        };
        let mut out: BTreeSet<Location> = self
            .uses(&target)
            .into_iter()
            .map(|(file, span)| Location {
                path: self.path(file),
                span,
            })
            .collect();
        if declaration && let Some(at) = self.defined_at(&target) {
            out.insert(at);
        }
        out.into_iter().collect()
    }

    /// The spans (of the last part of the name, the part a rename changes)
    /// where `target` is used.
    fn uses(&self, target: &Target) -> Vec<(FileId, Span)> {
        let mut out = Vec::new();
        match target {
            Target::Label { file, item, name } => {
                let Some(stmt) = self
                    .compilation
                    .sources
                    .get(*file)
                    .and_then(|f| f.ast.items.get(*item))
                else {
                    return out;
                };
                walk(stmt, &mut |s| {
                    if s.head.name == "goto"
                        && let Some(to) = s.args.first().and_then(Value::as_ident)
                        && to.name == *name
                    {
                        out.push((*file, to.span));
                    }
                });
            }
            Target::Module(_) => {}
            Target::Item(_) | Target::Campaign(_) => {
                for file in self.compilation.sources.ids() {
                    let Some(src) = self.compilation.sources.get(file) else {
                        continue;
                    };
                    for item in &src.ast.items {
                        if item.head.name == "import" {
                            continue;
                        }
                        walk(item, &mut |s| {
                            let skip = usize::from(std::ptr::eq(s, item));
                            for value in s.args.iter().skip(skip) {
                                paths(value, &mut |parts| {
                                    if parts.len() <= 2
                                        && self.resolve(file, parts).as_ref() == Some(target)
                                        && let Some(last) = parts.last()
                                    {
                                        out.push((file, last.span));
                                    }
                                });
                            }
                        });
                    }
                }
            }
        }
        out
    }

    /// The edits that rename the name or label at `offset` to `new_name`.
    pub fn rename(&self, path: &Path, offset: usize, new_name: &str) -> Result<Vec<Edit>, String> {
        if !is_identifier(new_name) {
            return Err(format!(
                "`{new_name}` is not a name: letters, digits and `_`, not starting with a digit"
            ));
        }
        if is_reserved(new_name) {
            return Err(format!("`{new_name}` is a keyword of the language"));
        }
        let file = self
            .file(path)
            .ok_or("the file is not part of the analysis")?;
        let (target, _) = self
            .target_at(file, offset)
            .ok_or("there is no name or label here to rename")?;
        if let Target::Module(_) = target {
            return Err("an imported file is renamed by renaming the file".into());
        }
        let mut edits: BTreeSet<Edit> = self
            .uses(&target)
            .into_iter()
            .map(|(file, span)| Edit {
                path: self.path(file),
                span,
                text: new_name.to_string(),
            })
            .collect();
        if let Some(at) = self.defined_at(&target) {
            edits.insert(Edit {
                path: at.path,
                span: at.span,
                text: new_name.to_string(),
            });
        }
        Ok(edits.into_iter().collect())
    }

    /// Documentation for what is at `offset`.
    pub fn hover(&self, path: &Path, offset: usize) -> Option<Hover> {
        let file = self.file(path)?;
        let src = self.compilation.sources.get(file)?;
        let chain = chain_at(&src.ast, offset);
        let (stmt, role) = *chain.last()?;
        if contains(stmt.head.span, offset) {
            let word = stmt.head.name.as_str();
            let text = match role {
                Role::Item => match word {
                    "import" => Some("`import \"path\" [as alias]`: the names of another file, as `alias.name`.".to_string()),
                    "const" => Some("`const NAME = value`: a value written once, used by name.".to_string()),
                    "flow" => Some("`flow NAME(param: type, ...) { blocks }`: a sub-flow, used with `use NAME { param value }`.".to_string()),
                    _ => crate::docs::decl(word),
                },
                Role::Section(_) => crate::docs::decl(word),
                Role::DeclSetting(d) => crate::docs::setting(d.name, word),
                Role::Block => crate::docs::block(word),
                Role::BlockSetting(b) => crate::docs::setting(b.name, word),
                Role::Arm(b) => Some(arm_doc(b, stmt)),
                Role::Unknown => None,
            }?;
            return Some(Hover {
                span: stmt.head.span,
                markdown: text,
            });
        }
        if let Role::Arm(block) = role
            && stmt.args.iter().any(|a| contains(a.span, offset))
        {
            return Some(Hover {
                span: stmt.args.iter().map(|a| a.span).reduce(Span::join)?,
                markdown: arm_doc(block, stmt),
            });
        }
        // A variable inside an expression.
        for value in &stmt.args {
            if let ValueKind::Expr(text) = &value.kind
                && contains(value.span, offset)
            {
                let (word, span) = word_in_expr(text, value.span, offset)?;
                let doc = crate::docs::variable(&word)?;
                return Some(Hover {
                    span,
                    markdown: doc,
                });
            }
        }
        let (target, span) = self.target_at(file, offset)?;
        let markdown = self.describe(&target)?;
        Some(Hover { span, markdown })
    }

    /// What a target is, for a hover: `queue technical` in its file, with
    /// the comment lines above it.
    fn describe(&self, target: &Target) -> Option<String> {
        let at = self.defined_at(target)?;
        let file = self.file(&at.path)?;
        let src = self.compilation.sources.get(file)?;
        let (what, line_start) = match target {
            Target::Item(r) | Target::Campaign(r) => {
                let stmt = self.compilation.sources.stmt(*r)?;
                let name = stmt.args.first().and_then(Value::as_ident)?;
                (
                    format!("{} `{}`", stmt.head.name, name.name),
                    stmt.span.start,
                )
            }
            Target::Label { name, .. } => (format!("label `{name}`"), at.span.start),
            Target::Module(_) => (format!("module `{}`", src.name), 0),
        };
        let line = src
            .text
            .get(..line_start as usize)
            .map_or(1, |t| t.matches('\n').count() + 1);
        let doc = comment_above(&src.text, line_start as usize);
        let mut out = format!("{what} — {}:{line}", src.name);
        if !doc.is_empty() {
            out.push_str("\n\n");
            out.push_str(&doc);
        }
        Some(out)
    }

    /// What may be written at `offset`.
    pub fn completions(&self, path: &Path, offset: usize) -> Vec<Completion> {
        let Some(file) = self.file(path) else {
            return Vec::new();
        };
        let Some(src) = self.compilation.sources.get(file) else {
            return Vec::new();
        };
        let text = src.text.as_str();
        let line_start = text
            .get(..offset)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line = text.get(line_start..offset).unwrap_or("");
        // A statement starts after the last `{` or `;` on the line
        // (`on timeout { goto |`).
        let prefix = line
            .rfind(['{', ';'])
            .and_then(|i| line.get(i + 1..))
            .unwrap_or(line);
        // Inside an unclosed parenthesis: an expression.
        if line.matches('(').count() > line.matches(')').count() {
            return variables();
        }
        let words: Vec<&str> = prefix.split_whitespace().collect();
        let typing_word = !prefix.ends_with(char::is_whitespace) && !prefix.is_empty();
        let done: Vec<&str> = if typing_word {
            words
                .get(..words.len().saturating_sub(1))
                .unwrap_or(&[])
                .to_vec()
        } else {
            words.clone()
        };
        // A label before the head word does not count.
        let done: Vec<&str> = match done.first() {
            Some(first) if first.ends_with(':') => done.get(1..).unwrap_or(&[]).to_vec(),
            _ => done,
        };
        let chain = chain_at(&src.ast, offset);
        let item = src.ast.items.iter().position(|s| contains(s.span, offset));
        let holds = container(&chain, offset);
        match done.as_slice() {
            [] => heads(holds),
            ["goto"] => match item {
                Some(item) => src
                    .ast
                    .items
                    .get(item)
                    .map(labels)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| Completion {
                        label: l.name.clone(),
                        kind: CompletionKind::Label,
                        detail: "label".into(),
                        documentation: None,
                    })
                    .collect(),
                None => Vec::new(),
            },
            [_, ..] => {
                let partial = if typing_word {
                    words.last().copied().unwrap_or("")
                } else {
                    ""
                };
                self.names(file, partial)
            }
        }
    }

    /// The names visible in `file`: its own declarations and constants, and
    /// `alias.name` for each import (only those of one alias once `alias.`
    /// is typed).
    fn names(&self, file: FileId, partial: &str) -> Vec<Completion> {
        let resolution = &self.compilation.resolution;
        let Some(scope) = resolution.scopes.get(file as usize) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut add = |prefix: &str, scope: &crate::resolve::Scope, module: Option<FileId>| {
            let mut names: Vec<(&String, &(Declared, DeclRef))> = scope.names.iter().collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            for (name, (declared, at)) in names {
                let kind = match declared {
                    Declared::Decl(k) => k.keyword(),
                    Declared::Const => "const",
                };
                let place = module
                    .and_then(|m| self.compilation.sources.get(m))
                    .map(|f| format!(" in {}", f.name))
                    .unwrap_or_default();
                out.push(Completion {
                    label: format!("{prefix}{name}"),
                    kind: CompletionKind::Reference,
                    detail: format!("{kind}{place}"),
                    documentation: self.describe(&Target::Item(*at)),
                });
            }
        };
        if let Some((alias, _)) = partial.split_once('.') {
            if let Some(module) = scope.imports.get(alias)
                && let Some(target) = resolution.scopes.get(*module as usize)
            {
                add(&format!("{alias}."), target, Some(*module));
            }
            return out;
        }
        add("", scope, None);
        let mut aliases: Vec<(&String, &FileId)> = scope.imports.iter().collect();
        aliases.sort();
        for (alias, module) in aliases {
            if let Some(target) = resolution.scopes.get(*module as usize) {
                add(&format!("{alias}."), target, Some(*module));
            }
        }
        out
    }
}

/// What the innermost statement around `offset` holds, when the cursor is
/// inside its braces (not on its own line).
fn container(chain: &[(&Stmt, Role)], offset: usize) -> Holds {
    let mut holds = Holds::Items;
    for (stmt, role) in chain {
        match &stmt.body {
            Some(body)
                if (body.span.start as usize) < offset && offset < (body.span.end as usize) =>
            {
                holds = holds_of(*role, stmt);
            }
            _ => break,
        }
    }
    holds
}

/// The words that may start a statement in a container.
fn heads(holds: Holds) -> Vec<Completion> {
    let keyword = |label: &str, detail: &str, doc: Option<String>| Completion {
        label: label.to_string(),
        kind: CompletionKind::Keyword,
        detail: detail.to_string(),
        documentation: doc,
    };
    match holds {
        Holds::Items => {
            let mut out = vec![
                keyword("import", "import another file", None),
                keyword("const", "a named value", None),
                keyword("flow", "a sub-flow with parameters", None),
            ];
            for kind in schema::DECL_KINDS {
                let word = kind.keyword();
                if word != "flow" {
                    out.push(keyword(word, "declaration", crate::docs::decl(word)));
                }
            }
            out
        }
        Holds::Decl(decl) => {
            let mut out: Vec<Completion> = decl
                .settings
                .iter()
                .map(|s| Completion {
                    label: s.name.to_string(),
                    kind: CompletionKind::Setting,
                    detail: format!("setting of {}", decl.name),
                    documentation: crate::docs::setting(decl.name, s.name),
                })
                .collect();
            out.extend(decl.sections.iter().map(|s| Completion {
                label: (*s).to_string(),
                kind: CompletionKind::Setting,
                detail: format!("section of {}", decl.name),
                documentation: crate::docs::decl(s),
            }));
            out
        }
        Holds::Blocks => schema::BLOCKS
            .iter()
            .map(|b| Completion {
                label: b.name.to_string(),
                kind: CompletionKind::Block,
                detail: "block".into(),
                documentation: crate::docs::block(b.name),
            })
            .collect(),
        Holds::Block(block) => {
            let mut out: Vec<Completion> = block
                .settings
                .iter()
                .map(|s| Completion {
                    label: s.name.to_string(),
                    kind: CompletionKind::Setting,
                    detail: format!("setting of {}", block.name),
                    documentation: crate::docs::setting(block.name, s.name),
                })
                .collect();
            let exits = block.exits.iter().map(|e| (e.name, e.doc));
            let extra = match block.mode {
                schema::ExitMode::Fixed => None,
                _ => Some(("else", "every exit not wired otherwise")),
            };
            for (name, doc) in exits.chain(extra) {
                out.push(Completion {
                    label: format!("on {name}"),
                    kind: CompletionKind::Exit,
                    detail: format!("exit of {}", block.name),
                    documentation: Some(doc.to_string()),
                });
            }
            out
        }
        Holds::Unknown => Vec::new(),
    }
}

/// The variables of expressions.
fn variables() -> Vec<Completion> {
    schema::VARIABLES
        .iter()
        .map(|(name, doc)| Completion {
            label: (*name).to_string(),
            kind: CompletionKind::Variable,
            detail: "variable".into(),
            documentation: Some((*doc).to_string()),
        })
        .collect()
}

/// The documentation of an `on EXIT` arm.
fn arm_doc(block: &schema::Block, stmt: &Stmt) -> String {
    let exit = stmt
        .args
        .first()
        .map(crate::print::value)
        .unwrap_or_default();
    let doc = block
        .exits
        .iter()
        .find(|e| e.name == exit)
        .map(|e| e.doc.to_string())
        .unwrap_or_else(|| match block.mode {
            schema::ExitMode::Keys => "the caller pressed this key".into(),
            schema::ExitMode::Cases => "the expression has this value".into(),
            schema::ExitMode::Fixed if exit == "else" => "every exit not wired otherwise".into(),
            schema::ExitMode::Fixed => "not an exit of this block".into(),
        });
    format!("exit `{exit}` of `{}`: {doc}", block.name)
}

/// The identifier at `offset` inside an expression value, with its span.
fn word_in_expr(text: &str, span: Span, offset: usize) -> Option<(String, Span)> {
    // The value's span covers `(`..`)`; its text is what is inside.
    let start = span.start as usize + 1;
    let at = offset.checked_sub(start)?;
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let before = text.get(..at.min(text.len()))?;
    let from = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(at, |(i, _)| i);
    let rest = text.get(from..)?;
    let len = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
    let word = rest.get(..len)?;
    (!word.is_empty()).then(|| {
        (
            word.to_string(),
            Span::new(start + from, start + from + len),
        )
    })
}

/// The `//` comment lines right above the line holding `offset`.
fn comment_above(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or("");
    let mut lines: Vec<&str> = before.lines().collect();
    // The line the statement starts on.
    if !before.ends_with('\n') {
        lines.pop();
    }
    let mut out = Vec::new();
    for line in lines.iter().rev() {
        match line.trim_start().strip_prefix("//") {
            Some(comment) => out.push(comment.trim()),
            None => break,
        }
    }
    out.reverse();
    out.join("\n")
}

/// The name (as its parts) among `values` that holds `offset`.
fn path_at(values: &[Value], offset: usize) -> Option<&[Ident]> {
    for value in values {
        if !contains(value.span, offset) {
            continue;
        }
        match &value.kind {
            ValueKind::Path(parts) => return Some(parts),
            ValueKind::List(items) => return path_at(items, offset),
            _ => {}
        }
    }
    None
}

/// Calls `f` with every name in a value.
fn paths(value: &Value, f: &mut dyn FnMut(&[Ident])) {
    match &value.kind {
        ValueKind::Path(parts) => f(parts),
        ValueKind::List(items) => items.iter().for_each(|v| paths(v, f)),
        _ => {}
    }
}

/// Calls `f` with a statement and every statement inside it.
fn walk<'a>(stmt: &'a Stmt, f: &mut dyn FnMut(&'a Stmt)) {
    let mut stack = vec![stmt];
    while let Some(s) = stack.pop() {
        f(s);
        for child in s.children().iter().rev() {
            stack.push(child);
        }
    }
}

/// The labels defined inside a top-level item.
fn labels(item: &Stmt) -> Vec<&Ident> {
    let mut out = Vec::new();
    walk(item, &mut |s| {
        if let Some(label) = &s.label {
            out.push(label);
        }
    });
    out
}

/// Whether `name` can be written as a name.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a word the language reserves.
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "import" | "const" | "flow" | "on" | "as" | "env" | "true" | "false"
    ) || schema::block(name).is_some()
        || schema::DECL_KINDS.iter().any(|k| k.keyword() == name)
}

/// The outline of a file: its top-level items, and inside them the
/// sections, the blocks that have a label or a body, and the arms.
pub fn symbols(file: &File) -> Vec<Symbol> {
    fn inside(stmts: &[Stmt], holds: Holds, out: &mut Vec<Symbol>) {
        for stmt in stmts {
            let role = role_in(holds, stmt);
            let word = stmt.head.name.as_str();
            let kind = match role {
                Role::Section(_) => SymbolKind::Declaration,
                Role::Block if stmt.label.is_some() || stmt.body.is_some() => SymbolKind::Block,
                Role::Arm(_) => SymbolKind::Arm,
                _ => continue,
            };
            let name = match (&stmt.label, role) {
                (_, Role::Arm(_)) => {
                    let exits: Vec<String> = stmt.args.iter().map(crate::print::value).collect();
                    format!("on {}", exits.join(" "))
                }
                (Some(label), _) => format!("{}: {word}", label.name),
                (None, _) => match stmt.args.first().and_then(Value::as_path) {
                    Some(arg) => format!("{word} {arg}"),
                    None => word.to_string(),
                },
            };
            let selection = stmt.label.as_ref().map_or(stmt.head.span, |l| l.span);
            let mut children = Vec::new();
            inside(stmt.children(), holds_of(role, stmt), &mut children);
            out.push(Symbol {
                name,
                kind,
                span: stmt.span,
                selection,
                children,
            });
        }
    }
    let mut out = Vec::new();
    for item in &file.items {
        let word = item.head.name.as_str();
        let (kind, name, selection) = match word {
            "import" => {
                let path = item
                    .args
                    .first()
                    .map(crate::print::value)
                    .unwrap_or_default();
                (SymbolKind::Import, format!("import {path}"), item.span)
            }
            _ => {
                let name = item.args.first().and_then(Value::as_ident);
                let kind = match word {
                    "const" => SymbolKind::Constant,
                    "flow" => SymbolKind::Flow,
                    _ => SymbolKind::Declaration,
                };
                let text = name.map_or(word.to_string(), |n| format!("{word} {}", n.name));
                (kind, text, name.map_or(item.head.span, |n| n.span))
            }
        };
        let mut children = Vec::new();
        inside(item.children(), holds_of(Role::Item, item), &mut children);
        out.push(Symbol {
            name,
            kind,
            span: item.span,
            selection,
            children,
        });
    }
    out
}

/// The canonical layout of a text (what `dialect fmt` writes), or the number
/// of syntax errors that prevent it.
pub fn format(text: &str) -> Result<String, usize> {
    let (tree, errors) = crate::parse::parse(text);
    if errors.is_empty() {
        Ok(crate::print::print(&tree, text))
    } else {
        Err(errors.len())
    }
}
