//! Phase 2: files and names. Loads every import (relative or `std/`), parses
//! it, and builds each file's scope: its declarations, constants and import
//! aliases. References inside statements are looked up through [`Resolution`]
//! by `check`, which knows from the schema which values are references.

use crate::ast::{Span, Stmt, ValueKind};
use crate::parse;
use crate::schema::{self, Kind};
use crate::source::{FileId, SourceFile, Sources, normalize, slash_name};
use crate::world::World;
use crate::{Problem, Report};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A problem with files or names.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// An imported file does not exist.
    ImportNotFound {
        /// The path string.
        span: Span,
        /// What was written.
        path: String,
        /// Where it was looked for.
        tried: String,
        /// Whether it was a `std/` import with no standard library found.
        no_stdlib: bool,
    },
    /// Files import each other in a cycle.
    ImportCycle {
        /// The import that closes the cycle.
        span: Span,
        /// The files of the cycle, in order.
        cycle: Vec<String>,
    },
    /// Two imports with the same alias.
    DuplicateAlias {
        /// The second alias.
        span: Span,
        /// The alias.
        alias: String,
        /// The first.
        first: Span,
    },
    /// A name declared twice.
    Duplicate {
        /// The second name.
        span: Span,
        /// The name.
        name: String,
        /// The first declaration, when in the same file.
        first: Option<Span>,
        /// The first declaration's file, when elsewhere.
        first_file: Option<String>,
    },
    /// A top-level statement that is not a declaration.
    UnknownDecl {
        /// The head word.
        span: Span,
        /// What was written.
        word: String,
        /// The closest known keyword.
        suggestion: Option<String>,
    },
    /// A reference to something not declared.
    UnknownName {
        /// The reference.
        span: Span,
        /// What was written.
        name: String,
        /// What kind of thing was expected.
        kind: Kind,
        /// The closest name of that kind in scope.
        suggestion: Option<String>,
    },
    /// A reference to something of another kind.
    WrongKind {
        /// The reference.
        span: Span,
        /// What was written.
        name: String,
        /// What was expected.
        expected: Kind,
        /// What it is.
        found: &'static str,
    },
    /// `alias.name` with an alias that is not imported.
    UnknownAlias {
        /// The alias part.
        span: Span,
        /// The alias.
        alias: String,
        /// The closest alias.
        suggestion: Option<String>,
    },
}

/// What a name in a file's scope stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    /// A declaration of this kind.
    Decl(Kind),
    /// A `const`.
    Const,
}

pub use crate::source::DeclRef;

/// The names of one file.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Declarations and constants by name.
    pub names: HashMap<String, (Declared, DeclRef)>,
    /// Import aliases.
    pub imports: HashMap<String, FileId>,
}

/// Every file's scope, and the campaigns of the whole compilation.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    /// Indexed by [`FileId`].
    pub scopes: Vec<Scope>,
    /// Campaign names are global: records move between campaigns by name.
    pub campaigns: BTreeMap<String, DeclRef>,
}

impl Resolution {
    /// Looks up a reference of `kind` written in `file`.
    pub fn lookup(
        &self,
        file: FileId,
        parts: &[crate::ast::Ident],
        kind: Kind,
    ) -> Result<DeclRef, Error> {
        let name = crate::ast::join_path(parts);
        let span = parts
            .iter()
            .map(|p| p.span)
            .reduce(Span::join)
            .unwrap_or_default();
        if kind == Kind::Campaign && parts.len() == 1 {
            return self
                .campaigns
                .get(&name)
                .copied()
                .ok_or_else(|| Error::UnknownName {
                    span,
                    suggestion: suggest(&name, self.campaigns.keys().map(String::as_str)),
                    name: name.clone(),
                    kind,
                });
        }
        let scope = self.scopes.get(file as usize).ok_or(Error::UnknownName {
            span,
            name: name.clone(),
            kind,
            suggestion: None,
        })?;
        let (scope, last) = match parts {
            [one] => (scope, one),
            [alias, last] => {
                let Some(target) = scope.imports.get(&alias.name) else {
                    return Err(Error::UnknownAlias {
                        span: alias.span,
                        alias: alias.name.clone(),
                        suggestion: suggest(&alias.name, scope.imports.keys().map(String::as_str)),
                    });
                };
                match self.scopes.get(*target as usize) {
                    Some(s) => (s, last),
                    None => {
                        return Err(Error::UnknownName {
                            span,
                            name,
                            kind,
                            suggestion: None,
                        });
                    }
                }
            }
            _ => {
                return Err(Error::UnknownName {
                    span,
                    name,
                    kind,
                    suggestion: None,
                });
            }
        };
        match scope.names.get(&last.name) {
            Some((Declared::Decl(found), at)) if *found == kind => Ok(*at),
            Some((found, _)) => Err(Error::WrongKind {
                span,
                name,
                expected: kind,
                found: match found {
                    Declared::Decl(k) => k.keyword(),
                    Declared::Const => "const",
                },
            }),
            None => {
                let same_kind = scope
                    .names
                    .iter()
                    .filter_map(|(n, (d, _))| (*d == Declared::Decl(kind)).then_some(n.as_str()));
                let prefix = match parts {
                    [alias, _] => format!("{}.", alias.name),
                    _ => String::new(),
                };
                Err(Error::UnknownName {
                    span,
                    suggestion: suggest(&last.name, same_kind).map(|s| format!("{prefix}{s}")),
                    name,
                    kind,
                })
            }
        }
    }

    /// The constant named by a one- or two-part path in `file`, if it is one.
    pub fn constant(&self, file: FileId, parts: &[crate::ast::Ident]) -> Option<DeclRef> {
        let scope = self.scopes.get(file as usize)?;
        let (scope, last) = match parts {
            [one] => (scope, one),
            [alias, last] => (
                self.scopes.get(*scope.imports.get(&alias.name)? as usize)?,
                last,
            ),
            _ => return None,
        };
        match scope.names.get(&last.name) {
            Some((Declared::Const, at)) => Some(*at),
            _ => None,
        }
    }
}

/// Loads the imports of every file in `sources` (transitively) and builds the scopes.
pub fn resolve(world: &dyn World, sources: &mut Sources, reports: &mut Vec<Report>) -> Resolution {
    let mut imports: Vec<Vec<(FileId, Span)>> = Vec::new();
    let mut next = 0usize;
    // Files are appended while we walk, so iterate by index.
    while next < sources.files.len() {
        let file = FileId::try_from(next).unwrap_or(FileId::MAX);
        let edges = load_imports(world, sources, file, reports);
        imports.push(edges);
        next += 1;
    }
    cycles(sources, &imports, reports);

    let mut resolution = Resolution::default();
    for id in sources.ids() {
        let scope = scope(sources, id, &imports, reports, &mut resolution.campaigns);
        resolution.scopes.push(scope);
    }
    resolution
}

fn report(reports: &mut Vec<Report>, file: FileId, error: Error) {
    reports.push(Report {
        file,
        problem: Problem::Resolve(error),
    });
}

/// An import's path with its span, and its alias with its span.
type ImportArgs = (String, Span, Option<(String, Span)>);

fn import_args(stmt: &Stmt) -> Option<ImportArgs> {
    let mut args = stmt.args.iter();
    let path = args.next()?;
    let ValueKind::Str(text) = &path.kind else {
        return None;
    };
    let alias = args
        .next()
        .and_then(|a| a.as_ident())
        .map(|i| (i.name.clone(), i.span));
    Some((text.clone(), path.span, alias))
}

/// The alias of an import: as written, or the file name without `.flow`.
pub fn alias_of(path: &str, alias: Option<&str>) -> String {
    alias.map(str::to_string).unwrap_or_else(|| {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.strip_suffix(".flow").unwrap_or(file).to_string()
    })
}

fn load_imports(
    world: &dyn World,
    sources: &mut Sources,
    file: FileId,
    reports: &mut Vec<Report>,
) -> Vec<(FileId, Span)> {
    let Some(src) = sources.get(file) else {
        return Vec::new();
    };
    let dir = src.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name_dir = src
        .name
        .rsplit_once('/')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    let wanted: Vec<(String, Span)> = src
        .ast
        .items
        .iter()
        .filter(|s| s.head.name == "import")
        .filter_map(import_args)
        .map(|(p, span, _)| (p, span))
        .collect();
    let mut edges = Vec::new();
    for (text, span) in wanted {
        let with_ext = if text.ends_with(".flow") {
            text.clone()
        } else {
            format!("{text}.flow")
        };
        let (path, name) = match with_ext.strip_prefix("std/") {
            Some(rest) => match world.stdlib() {
                Some(std) => (
                    std.join(rest),
                    format!("std/{}", slash_name(Path::new(rest))),
                ),
                None => {
                    report(
                        reports,
                        file,
                        Error::ImportNotFound {
                            span,
                            path: text,
                            tried: "the standard library".into(),
                            no_stdlib: true,
                        },
                    );
                    continue;
                }
            },
            None => {
                let name = if name_dir.is_empty() {
                    slash_name(Path::new(&with_ext))
                } else {
                    slash_name(&Path::new(&name_dir).join(&with_ext))
                };
                (normalize(&dir.join(&with_ext)), name)
            }
        };
        if !world.is_file(&path) {
            report(
                reports,
                file,
                Error::ImportNotFound {
                    span,
                    path: text,
                    tried: path.display().to_string(),
                    no_stdlib: false,
                },
            );
            continue;
        }
        let canonical = world.canonical(&path);
        let target = match sources
            .files
            .iter()
            .position(|f| world.canonical(&f.path) == canonical)
        {
            Some(i) => FileId::try_from(i).unwrap_or(FileId::MAX),
            None => match world.read(&path) {
                Ok(text) => {
                    let (ast, errors) = parse::parse(&text);
                    let id = sources.push(SourceFile {
                        path,
                        name,
                        text,
                        ast,
                        input: false,
                    });
                    for e in errors {
                        reports.push(Report {
                            file: id,
                            problem: Problem::Parse(e),
                        });
                    }
                    id
                }
                Err(err) => {
                    report(
                        reports,
                        file,
                        Error::ImportNotFound {
                            span,
                            path: text,
                            tried: format!("{} ({err})", path.display()),
                            no_stdlib: false,
                        },
                    );
                    continue;
                }
            },
        };
        edges.push((target, span));
    }
    edges
}

fn cycles(sources: &Sources, imports: &[Vec<(FileId, Span)>], reports: &mut Vec<Report>) {
    // Depth-first search with colours; each back edge is one cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let n = imports.len();
    let mut colour = vec![Colour::White; n];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        v: usize,
        imports: &[Vec<(FileId, Span)>],
        colour: &mut [Colour],
        stack: &mut Vec<usize>,
        found: &mut Vec<(usize, Span, Vec<usize>)>,
    ) {
        if let Some(c) = colour.get_mut(v) {
            *c = Colour::Grey;
        }
        stack.push(v);
        for &(w, span) in imports.get(v).map(Vec::as_slice).unwrap_or(&[]) {
            let w = w as usize;
            match colour.get(w) {
                Some(Colour::White) => visit(w, imports, colour, stack, found),
                Some(Colour::Grey) => {
                    let from = stack.iter().position(|x| *x == w).unwrap_or(0);
                    found.push((v, span, stack.get(from..).unwrap_or(&[]).to_vec()));
                }
                _ => {}
            }
        }
        stack.pop();
        if let Some(c) = colour.get_mut(v) {
            *c = Colour::Black;
        }
    }
    let mut found = Vec::new();
    for v in 0..n {
        if colour.get(v) == Some(&Colour::White) {
            visit(v, imports, &mut colour, &mut stack, &mut found);
        }
    }
    for (v, span, cycle) in found {
        let mut names: Vec<String> = cycle
            .iter()
            .filter_map(|i| sources.files.get(*i).map(|f| f.name.clone()))
            .collect();
        if let Some(first) = names.first().cloned() {
            names.push(first);
        }
        report(
            reports,
            FileId::try_from(v).unwrap_or(0),
            Error::ImportCycle { span, cycle: names },
        );
    }
}

fn scope(
    sources: &Sources,
    id: FileId,
    imports: &[Vec<(FileId, Span)>],
    reports: &mut Vec<Report>,
    campaigns: &mut BTreeMap<String, DeclRef>,
) -> Scope {
    let mut scope = Scope::default();
    let Some(src) = sources.get(id) else {
        return scope;
    };
    let targets = imports.get(id as usize).cloned().unwrap_or_default();
    let mut alias_spans: HashMap<String, Span> = HashMap::new();
    for stmt in src.ast.items.iter().filter(|s| s.head.name == "import") {
        let Some((path, span, alias)) = import_args(stmt) else {
            continue;
        };
        let Some((target, _)) = targets.iter().find(|(_, s)| *s == span) else {
            continue;
        };
        let name = alias_of(&path, alias.as_ref().map(|(a, _)| a.as_str()));
        if name == crate::environment::ENV {
            // `as env` is reported with the other uses of the word; an
            // alias taken from the file's name is reported here.
            if alias.is_none() {
                reports.push(Report {
                    file: id,
                    problem: Problem::Environment(crate::environment::Error::Reserved {
                        span,
                        what: Some("an import alias"),
                        written: path,
                    }),
                });
            }
            continue;
        }
        let at = alias.map(|(_, s)| s).unwrap_or(span);
        if let Some(first) = alias_spans.get(&name) {
            report(
                reports,
                id,
                Error::DuplicateAlias {
                    span: at,
                    alias: name,
                    first: *first,
                },
            );
            continue;
        }
        alias_spans.insert(name.clone(), at);
        scope.imports.insert(name, *target);
    }
    for (index, stmt) in src.ast.items.iter().enumerate() {
        let word = stmt.head.name.as_str();
        let declared = match word {
            "import" => continue,
            "const" => Declared::Const,
            _ => match Kind::from_keyword(word) {
                Some(kind) => Declared::Decl(kind),
                None => {
                    let known = schema::DECL_KINDS
                        .iter()
                        .map(|k| k.keyword())
                        .chain(["import", "const"]);
                    report(
                        reports,
                        id,
                        Error::UnknownDecl {
                            span: stmt.head.span,
                            word: word.to_string(),
                            suggestion: suggest(word, known),
                        },
                    );
                    continue;
                }
            },
        };
        // A declaration without a name is reported by `check`.
        let Some(name) = stmt.args.first().and_then(|a| a.as_ident()) else {
            continue;
        };
        let at = DeclRef { file: id, index };
        if let Some((_, first)) = scope.names.get(&name.name) {
            let first_span = src
                .ast
                .items
                .get(first.index)
                .and_then(|s| s.args.first())
                .map(|a| a.span);
            report(
                reports,
                id,
                Error::Duplicate {
                    span: name.span,
                    name: name.name.clone(),
                    first: first_span,
                    first_file: None,
                },
            );
            continue;
        }
        scope.names.insert(name.name.clone(), (declared, at));
        if declared == Declared::Decl(Kind::Campaign) && src.input {
            if let Some(first) = campaigns.get(&name.name) {
                let first_file = sources.get(first.file).map(|f| f.name.clone());
                report(
                    reports,
                    id,
                    Error::Duplicate {
                        span: name.span,
                        name: name.name.clone(),
                        first: None,
                        first_file,
                    },
                );
            } else {
                campaigns.insert(name.name.clone(), at);
            }
        }
    }
    scope
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = distance(word, candidate);
        let limit = (word.chars().count().max(candidate.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(b, c)| d < b || (d == b && candidate < c)) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// Edit distance with adjacent transpositions (optimal string alignment),
/// so that `mian` is one edit from `main`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let ca = a.get(i - 1);
            let cb = b.get(j - 1);
            let cost = usize::from(ca != cb);
            let get = |i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
            let mut best = (get(i - 1, j) + 1)
                .min(get(i, j - 1) + 1)
                .min(get(i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                best = best.min(get(i - 2, j - 2) + 1);
            }
            if let Some(x) = d.get_mut(at(i, j)) {
                *x = best;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

/// The `.flow` files under `path` (itself if it is a file), sorted. Build
/// output, npm packages and hidden directories (`target/`, `node_modules/`,
/// `.git/`) are not searched: `dialect check .` or an editor's workspace
/// folder would otherwise compile generated copies.
pub fn discover(world: &dyn World, path: &Path) -> Vec<PathBuf> {
    if !world.is_dir(path) {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in world.list(&dir).unwrap_or_default() {
            if world.is_dir(&entry) {
                let name = entry.file_name().map(|n| n.to_string_lossy());
                let skipped = name
                    .is_some_and(|n| n.starts_with('.') || n == "target" || n == "node_modules");
                if !skipped {
                    stack.push(entry);
                }
            } else if entry.extension().is_some_and(|e| e == "flow") {
                out.push(entry);
            }
        }
    }
    out.sort();
    out
}
