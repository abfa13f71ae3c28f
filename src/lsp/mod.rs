//! `dialect lsp`: the language server, over stdio.
//!
//! This module is the only part of Dialect that knows the Language Server
//! Protocol (through `lsp-server` for the transport and `lsp-types` for the
//! messages, the pair rust-analyzer and Ruff use). Everything it answers
//! comes from the compiler's editor features (`dialect_compiler::ide`),
//! which work in byte offsets; [`text`] converts positions.
//!
//! The compiler reads files through the same `World` trait as the CLI: here
//! an [`Overlay`] that serves the editor's unsaved text of open documents
//! and the file system for everything else. Each change of a document
//! recompiles that document with its imports and publishes its
//! diagnostics; references and rename compile the whole workspace folder
//! (every `.flow` file in it), so that uses in files that are not open are
//! found too.
//!
//! The server is single-threaded and synchronous: a compilation of a
//! 10,000-line file takes milliseconds (see the README's performance
//! section), so there is nothing to cancel. The analysis made for the last
//! change serves the requests that follow it (hover, completion, ...) until
//! another document changes or closes.

pub mod text;

use dialect_compiler::diagnostic::{Diagnostic, Severity};
use dialect_compiler::ide::{self, Analysis, CompletionKind, SymbolKind};
use dialect_compiler::world::{FsWorld, World};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionOptions, DiagnosticRelatedInformation,
    DiagnosticSeverity, DocumentSymbol, ExecuteCommandOptions, GotoDefinitionResponse, Hover,
    HoverContents, HoverProviderCapability, InitializeParams, Location, MarkupContent, MarkupKind,
    NumberOrString, OneOf, PositionEncodingKind, PrepareRenameResponse, PublishDiagnosticsParams,
    RenameOptions, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit,
    Url, WorkspaceEdit,
};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use text::{Encoding, Lines};

/// The command that returns a flow's picture.
pub const GRAPH_COMMAND: &str = "dialect.graph";

/// Runs the server on stdin/stdout until the client says `exit`; the exit code.
pub fn run() -> i32 {
    let (connection, threads) = Connection::stdio();
    let result = serve(&connection);
    drop(connection);
    let joined = threads.join();
    match (result, joined) {
        (Ok(()), Ok(())) => super::cli::OK,
        (Err(err), _) => {
            eprintln!("error: dialect lsp: {err}");
            super::cli::USAGE
        }
        (_, Err(err)) => {
            eprintln!("error: dialect lsp: {err}");
            super::cli::USAGE
        }
    }
}

/// Settings the client may pass as `initializationOptions`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Settings {
    /// The environment for `env.NAME` bindings (`--env`).
    env: Option<String>,
    /// The standard library directory (`--stdlib`).
    stdlib: Option<PathBuf>,
}

/// Handles one connection: the handshake, then messages until `exit`.
pub fn serve(connection: &Connection) -> Result<(), String> {
    let (id, params) = connection
        .initialize_start()
        .map_err(|e| format!("initialisation: {e}"))?;
    let params: InitializeParams =
        serde_json::from_value(params).map_err(|e| format!("initialize parameters: {e}"))?;
    let utf8 = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
        .is_some_and(|e| e.contains(&PositionEncodingKind::UTF8));
    let encoding = if utf8 {
        Encoding::Utf8
    } else {
        Encoding::Utf16
    };
    let settings: Settings = params
        .initialization_options
        .clone()
        .and_then(|o| serde_json::from_value(o).ok())
        .unwrap_or_default();
    #[allow(deprecated)] // `root_uri` is what older clients send.
    let root = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| f.uri.clone())
        .or(params.root_uri.clone())
        .and_then(|u| u.to_file_path().ok());
    let capabilities = ServerCapabilities {
        position_encoding: Some(if utf8 {
            PositionEncodingKind::UTF8
        } else {
            PositionEncodingKind::UTF16
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), " ".into(), "(".into()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![GRAPH_COMMAND.into()],
            work_done_progress_options: Default::default(),
        }),
        ..ServerCapabilities::default()
    };
    let result = serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": { "name": "dialect", "version": env!("CARGO_PKG_VERSION") },
    });
    connection
        .initialize_finish(id, result)
        .map_err(|e| format!("initialisation: {e}"))?;
    let mut server = Server {
        connection,
        encoding,
        settings,
        root,
        documents: HashMap::new(),
        last: None,
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection
                    .handle_shutdown(&request)
                    .map_err(|e| format!("shutdown: {e}"))?
                {
                    return Ok(());
                }
                let response = server.request(request);
                server.send(Message::Response(response));
            }
            Message::Notification(notification) => server.notify(notification),
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// An open document.
struct Document {
    /// Its URI, as the client wrote it.
    uri: Url,
    /// The editor's text.
    text: String,
    /// Where its lines start.
    lines: Lines,
}

/// The server's state.
struct Server<'c> {
    /// To the client.
    connection: &'c Connection,
    /// How positions count characters.
    encoding: Encoding,
    /// From `initializationOptions`.
    settings: Settings,
    /// The workspace folder, if the client named one.
    root: Option<PathBuf>,
    /// Open documents by path.
    documents: HashMap<PathBuf, Document>,
    /// The analysis made for the last change, and the document it was for
    /// (any other change replaces it, a close drops it).
    last: Option<(PathBuf, Rc<Analysis>)>,
}

/// A request's failure: the LSP error code and a message.
type Failure = (ErrorCode, String);

impl Server<'_> {
    /// Sends a message; a closed connection ends the loop on its own.
    fn send(&self, message: Message) {
        let _ = self.connection.sender.send(message);
    }

    /// Handles a notification.
    fn notify(&mut self, notification: Notification) {
        use lsp_types::notification as n;
        match notification.method.as_str() {
            n::DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(
                    notification.params,
                ) {
                    self.open(p.text_document.uri, p.text_document.text);
                }
            }
            n::DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(
                    notification.params,
                ) {
                    self.change(p.text_document.uri, p.content_changes);
                }
            }
            n::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(
                    notification.params,
                ) && let Ok(path) = p.text_document.uri.to_file_path()
                {
                    self.documents.remove(&path);
                    // The file now reads as on disk, for every analysis.
                    self.last = None;
                    self.publish(p.text_document.uri, Vec::new());
                }
            }
            // A file changed on disk (an import edited elsewhere): what was
            // analysed may be stale.
            n::DidChangeWatchedFiles::METHOD | n::DidSaveTextDocument::METHOD => self.last = None,
            _ => {}
        }
    }

    /// Applies an editor's changes, in order: a change with a range replaces
    /// that range, one without replaces the whole text. Then publishes the
    /// diagnostics.
    fn change(&mut self, uri: Url, changes: Vec<lsp_types::TextDocumentContentChangeEvent>) {
        let Ok(path) = uri.to_file_path() else {
            return;
        };
        let Some(doc) = self.documents.get_mut(&path) else {
            // A change to a document never opened: take a whole text if there is one.
            if let Some(last) = changes.into_iter().rfind(|c| c.range.is_none()) {
                self.open(uri, last.text);
            }
            return;
        };
        let mut text = std::mem::take(&mut doc.text);
        for change in changes {
            match change.range {
                None => text = change.text,
                Some(range) => {
                    let lines = Lines::new(&text);
                    let start = lines.offset(&text, range.start, self.encoding);
                    let end = lines.offset(&text, range.end, self.encoding).max(start);
                    text.replace_range(start..end, &change.text);
                }
            }
        }
        self.open(uri, text);
    }

    /// Takes a document's new text and publishes its diagnostics.
    fn open(&mut self, uri: Url, text: String) {
        let Ok(path) = uri.to_file_path() else {
            return;
        };
        let lines = Lines::new(&text);
        self.documents.insert(
            path.clone(),
            Document {
                uri: uri.clone(),
                text,
                lines,
            },
        );
        let analysis = self.analyse(std::slice::from_ref(&path));
        let diagnostics = analysis
            .diagnostics_for(&path)
            .iter()
            .filter_map(|d| self.diagnostic(&path, d))
            .collect();
        self.publish(uri, diagnostics);
        // Hover, completion and the rest on this text reuse it. (Freeing
        // the one it replaces on another thread was tried: the two threads
        // then contend for the allocator and every edit got slower.)
        self.last = Some((path, Rc::new(analysis)));
    }

    /// The analysis of a document as the editor holds it now: the one made
    /// for its last change if no document changed since, else a new one.
    fn analysis(&self, path: &Path) -> Rc<Analysis> {
        match &self.last {
            Some((last, analysis)) if last == path => analysis.clone(),
            _ => Rc::new(self.analyse(&[path.to_path_buf()])),
        }
    }

    /// Sends a document's diagnostics.
    fn publish(&self, uri: Url, diagnostics: Vec<lsp_types::Diagnostic>) {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        };
        self.send(Message::Notification(Notification::new(
            lsp_types::notification::PublishDiagnostics::METHOD.into(),
            params,
        )));
    }

    /// Compiles `inputs` through the overlay of open documents.
    fn analyse(&self, inputs: &[PathBuf]) -> Analysis {
        let start = inputs.first().cloned().unwrap_or_default();
        let world = Overlay {
            fs: FsWorld::new(self.settings.stdlib.clone(), &start),
            documents: &self.documents,
        };
        let options = dialect_compiler::Options {
            env: self.settings.env.clone(),
        };
        Analysis::new(&world, inputs, &options)
    }

    /// The whole workspace folder (or the document's directory), for
    /// references and rename.
    fn analyse_workspace(&self, path: &Path) -> Analysis {
        let folder = self
            .root
            .clone()
            .filter(|r| path.starts_with(r))
            .or_else(|| path.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| path.to_path_buf());
        self.analyse(&[folder])
    }

    /// A compiler diagnostic as LSP has it; `None` for one outside the text.
    fn diagnostic(&self, path: &Path, d: &Diagnostic) -> Option<lsp_types::Diagnostic> {
        let doc = self.documents.get(path)?;
        let span = d.span();
        let range = doc.lines.range(
            &doc.text,
            span.start as usize,
            span.end as usize,
            self.encoding,
        );
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter(|l| !l.primary)
            .map(|l| DiagnosticRelatedInformation {
                location: Location {
                    uri: doc.uri.clone(),
                    range: doc.lines.range(
                        &doc.text,
                        l.span.start as usize,
                        l.span.end as usize,
                        self.encoding,
                    ),
                },
                message: l.text.clone(),
            })
            .collect();
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        Some(lsp_types::Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            source: Some("dialect".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..lsp_types::Diagnostic::default()
        })
    }

    /// Answers a request.
    fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        match self.dispatch(request) {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    /// Runs a request's handler.
    fn dispatch(&mut self, request: Request) -> Result<serde_json::Value, Failure> {
        use lsp_types::request as r;
        let method = request.method.clone();
        match method.as_str() {
            r::HoverRequest::METHOD => json(self.hover(params(request)?)),
            r::Completion::METHOD => json(self.completion(params(request)?)),
            r::GotoDefinition::METHOD => json(self.definition(params(request)?)),
            r::References::METHOD => json(self.references(params(request)?)),
            r::PrepareRenameRequest::METHOD => json(self.prepare_rename(params(request)?)),
            r::Rename::METHOD => json(self.rename(params(request)?)),
            r::DocumentSymbolRequest::METHOD => json(self.symbols(params(request)?)),
            r::Formatting::METHOD => json(self.format(params(request)?)),
            r::ExecuteCommand::METHOD => json(self.execute(params(request)?)),
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("dialect lsp does not answer {method}"),
            )),
        }
    }

    /// The open document at a URI, with its path.
    fn document(&self, uri: &Url) -> Result<(PathBuf, &Document), Failure> {
        let path = uri
            .to_file_path()
            .map_err(|()| (ErrorCode::InvalidParams, format!("{uri} is not a file")))?;
        let doc = self.documents.get(&path).ok_or((
            ErrorCode::InvalidParams,
            format!("{uri} is not open (send textDocument/didOpen first)"),
        ))?;
        Ok((path, doc))
    }

    /// The document and byte offset of a position.
    fn at(
        &self,
        params: &lsp_types::TextDocumentPositionParams,
    ) -> Result<(PathBuf, usize), Failure> {
        let (path, doc) = self.document(&params.text_document.uri)?;
        let offset = doc.lines.offset(&doc.text, params.position, self.encoding);
        Ok((path, offset))
    }

    /// A compiler location as an LSP one (files that are not open are read
    /// from disk to place the position).
    fn location(&self, location: &ide::Location) -> Option<Location> {
        let uri = Url::from_file_path(absolute(&location.path)).ok()?;
        let range = match self.documents.get(&location.path) {
            Some(doc) => doc.lines.range(
                &doc.text,
                location.span.start as usize,
                location.span.end as usize,
                self.encoding,
            ),
            None => {
                let text = std::fs::read_to_string(&location.path).unwrap_or_default();
                Lines::new(&text).range(
                    &text,
                    location.span.start as usize,
                    location.span.end as usize,
                    self.encoding,
                )
            }
        };
        Some(Location { uri, range })
    }

    fn hover(&self, p: lsp_types::HoverParams) -> Result<Option<Hover>, Failure> {
        let (path, offset) = self.at(&p.text_document_position_params)?;
        let analysis = self.analysis(&path);
        let Some(hover) = analysis.hover(&path, offset) else {
            return Ok(None);
        };
        let range = self.documents.get(&path).map(|d| {
            d.lines.range(
                &d.text,
                hover.span.start as usize,
                hover.span.end as usize,
                self.encoding,
            )
        });
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: hover.markdown,
            }),
            range,
        }))
    }

    fn completion(
        &self,
        p: lsp_types::CompletionParams,
    ) -> Result<Option<Vec<CompletionItem>>, Failure> {
        let (path, offset) = self.at(&p.text_document_position)?;
        let analysis = self.analysis(&path);
        let items = analysis
            .completions(&path, offset)
            .into_iter()
            .map(|c| CompletionItem {
                kind: Some(match c.kind {
                    CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                    CompletionKind::Block => CompletionItemKind::FUNCTION,
                    CompletionKind::Setting => CompletionItemKind::PROPERTY,
                    CompletionKind::Exit => CompletionItemKind::ENUM_MEMBER,
                    CompletionKind::Reference => CompletionItemKind::REFERENCE,
                    CompletionKind::Label => CompletionItemKind::REFERENCE,
                    CompletionKind::Module => CompletionItemKind::MODULE,
                    CompletionKind::Variable => CompletionItemKind::VARIABLE,
                }),
                detail: Some(c.detail),
                documentation: c.documentation.map(|d| {
                    lsp_types::Documentation::MarkupContent(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: d,
                    })
                }),
                label: c.label,
                ..CompletionItem::default()
            })
            .collect();
        Ok(Some(items))
    }

    fn definition(
        &self,
        p: lsp_types::GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>, Failure> {
        let (path, offset) = self.at(&p.text_document_position_params)?;
        let analysis = self.analysis(&path);
        Ok(analysis
            .definition(&path, offset)
            .and_then(|l| self.location(&l))
            .map(GotoDefinitionResponse::Scalar))
    }

    fn references(&self, p: lsp_types::ReferenceParams) -> Result<Option<Vec<Location>>, Failure> {
        let (path, offset) = self.at(&p.text_document_position)?;
        let analysis = self.analyse_workspace(&path);
        let found = analysis.references(&path, offset, p.context.include_declaration);
        Ok(Some(
            found.iter().filter_map(|l| self.location(l)).collect(),
        ))
    }

    fn prepare_rename(
        &self,
        p: lsp_types::TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>, Failure> {
        let (path, offset) = self.at(&p)?;
        let analysis = self.analysis(&path);
        // Renamable: what has a definition that is not a file.
        let Some(def) = analysis.definition(&path, offset) else {
            return Ok(None);
        };
        if def.span.is_empty() {
            return Ok(None);
        }
        let doc = self.document(&p.text_document.uri)?.1;
        let word = word_at(&doc.text, offset);
        Ok(Some(PrepareRenameResponse::Range(doc.lines.range(
            &doc.text,
            word.0,
            word.1,
            self.encoding,
        ))))
    }

    fn rename(&self, p: lsp_types::RenameParams) -> Result<Option<WorkspaceEdit>, Failure> {
        let (path, offset) = self.at(&p.text_document_position)?;
        let analysis = self.analyse_workspace(&path);
        let edits = analysis
            .rename(&path, offset, &p.new_name)
            .map_err(|message| (ErrorCode::InvalidParams, message))?;
        let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
        for edit in edits {
            let at = ide::Location {
                path: edit.path.clone(),
                span: edit.span,
            };
            if let Some(location) = self.location(&at) {
                changes.entry(location.uri).or_default().push(TextEdit {
                    range: location.range,
                    new_text: edit.text,
                });
            }
        }
        Ok(Some(WorkspaceEdit {
            changes: Some(changes),
            ..WorkspaceEdit::default()
        }))
    }

    fn symbols(
        &self,
        p: lsp_types::DocumentSymbolParams,
    ) -> Result<Option<lsp_types::DocumentSymbolResponse>, Failure> {
        let (_, doc) = self.document(&p.text_document.uri)?;
        let (tree, _) = dialect_compiler::parse::parse(&doc.text);
        let symbols = ide::symbols(&tree)
            .iter()
            .map(|s| self.symbol(doc, s))
            .collect();
        Ok(Some(lsp_types::DocumentSymbolResponse::Nested(symbols)))
    }

    /// An outline entry as LSP has it.
    #[allow(deprecated)] // `deprecated` is a required field of the struct.
    fn symbol(&self, doc: &Document, s: &ide::Symbol) -> DocumentSymbol {
        let range = |span: dialect_compiler::ast::Span| {
            doc.lines.range(
                &doc.text,
                span.start as usize,
                span.end as usize,
                self.encoding,
            )
        };
        DocumentSymbol {
            name: s.name.clone(),
            detail: None,
            kind: match s.kind {
                SymbolKind::Declaration => lsp_types::SymbolKind::STRUCT,
                SymbolKind::Flow => lsp_types::SymbolKind::FUNCTION,
                SymbolKind::Constant => lsp_types::SymbolKind::CONSTANT,
                SymbolKind::Import => lsp_types::SymbolKind::MODULE,
                SymbolKind::Block => lsp_types::SymbolKind::METHOD,
                SymbolKind::Arm => lsp_types::SymbolKind::ENUM_MEMBER,
            },
            tags: None,
            deprecated: None,
            range: range(s.span),
            selection_range: range(s.selection),
            children: Some(s.children.iter().map(|c| self.symbol(doc, c)).collect()),
        }
    }

    fn format(
        &self,
        p: lsp_types::DocumentFormattingParams,
    ) -> Result<Option<Vec<TextEdit>>, Failure> {
        let (_, doc) = self.document(&p.text_document.uri)?;
        match ide::format(&doc.text) {
            Ok(formatted) if formatted == doc.text => Ok(Some(Vec::new())),
            Ok(formatted) => Ok(Some(vec![TextEdit {
                range: doc.lines.range(&doc.text, 0, doc.text.len(), self.encoding),
                new_text: formatted,
            }])),
            Err(errors) => Err((
                ErrorCode::RequestFailed,
                format!("the file has {errors} syntax error(s); fix them to format it"),
            )),
        }
    }

    /// `dialect.graph [uri]`: the document's campaigns as SVG (through
    /// Graphviz `dot`) or, without Graphviz, as Mermaid.
    fn execute(&self, p: lsp_types::ExecuteCommandParams) -> Result<serde_json::Value, Failure> {
        if p.command != GRAPH_COMMAND {
            return Err((
                ErrorCode::InvalidParams,
                format!("unknown command {}", p.command),
            ));
        }
        let uri: Url = p
            .arguments
            .first()
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .ok_or((ErrorCode::InvalidParams, "dialect.graph takes [uri]".into()))?;
        let (path, _) = self.document(&uri)?;
        let analysis = self.analysis(&path);
        if analysis.compilation.has_errors() {
            return Err((
                ErrorCode::RequestFailed,
                format!(
                    "the flow has {} error(s); fix them to draw it",
                    analysis.compilation.error_count()
                ),
            ));
        }
        let pictures: Vec<_> = analysis
            .compilation
            .programs
            .iter()
            .map(dialect_compiler::graph::picture)
            .collect();
        if pictures.is_empty() {
            return Err((
                ErrorCode::RequestFailed,
                "no campaign in this file (a sub-flow is drawn inside the campaigns that use it)"
                    .into(),
            ));
        }
        let dot = dialect_compiler::graph::dot(&pictures);
        Ok(match super::cli::svg(&dot) {
            Ok(svg) => serde_json::json!({
                "format": "svg",
                "text": String::from_utf8_lossy(&svg),
            }),
            Err(_) => serde_json::json!({
                "format": "mermaid",
                "text": dialect_compiler::graph::mermaid(&pictures),
            }),
        })
    }
}

/// A handler's answer as JSON.
fn json<T: serde::Serialize>(answer: Result<T, Failure>) -> Result<serde_json::Value, Failure> {
    answer.and_then(|v| {
        serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
    })
}

/// A request's parameters.
fn params<P: serde::de::DeserializeOwned>(request: Request) -> Result<P, Failure> {
    serde_json::from_value(request.params)
        .map_err(|e| (ErrorCode::InvalidParams, format!("{}: {e}", request.method)))
}

/// The word (letters, digits, `_`) around `offset`.
fn word_at(text: &str, offset: usize) -> (usize, usize) {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let before = text.get(..offset).unwrap_or("");
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let after = text.get(offset..).unwrap_or("");
    let end = offset + after.find(|c: char| !is_word(c)).unwrap_or(after.len());
    (start, end)
}

/// A path made absolute against the current directory (URIs need one).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// The file system, with the editor's text of open documents in front.
struct Overlay<'d> {
    /// Everything not open.
    fs: FsWorld,
    /// Open documents by path.
    documents: &'d HashMap<PathBuf, Document>,
}

impl Overlay<'_> {
    /// The open document at `path`, under either spelling of the path.
    fn open(&self, path: &Path) -> Option<&Document> {
        self.documents
            .get(path)
            .or_else(|| self.documents.get(&self.fs.canonical(path)))
    }
}

impl World for Overlay<'_> {
    fn read(&self, path: &Path) -> io::Result<String> {
        match self.open(path) {
            Some(doc) => Ok(doc.text.clone()),
            None => self.fs.read(path),
        }
    }

    fn head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        self.fs.head(path, n)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.open(path).is_some() || self.fs.is_file(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.fs.is_dir(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.fs.list(dir)
    }

    fn stdlib(&self) -> Option<PathBuf> {
        self.fs.stdlib()
    }

    fn environments(&self) -> Option<PathBuf> {
        self.fs.environments()
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        self.fs.canonical(path)
    }
}

#[cfg(test)]
mod tests;
