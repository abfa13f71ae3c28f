//! In-process tests of the language server: a client on one end of an
//! in-memory connection, the server on the other, files from `flows/`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::serve;
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use lsp_types::notification::Notification as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The client's end of a running server.
struct Client {
    /// To and from the server.
    conn: Connection,
    /// The server's thread.
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    /// The next request id.
    next: i32,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn uri(path: &Path) -> lsp_types::Url {
    lsp_types::Url::from_file_path(path).unwrap()
}

impl Client {
    /// Starts a server and initialises it (UTF-16 positions unless `utf8`).
    fn start(utf8: bool) -> Client {
        Client::start_with(utf8, json!({ "stdlib": root().join("stdlib") }))
    }

    /// Starts a server with these `initializationOptions`.
    fn start_with(utf8: bool, options: Value) -> Client {
        let (server, conn) = Connection::memory();
        let thread = std::thread::spawn(move || serve(&server));
        let mut client = Client {
            conn,
            thread: Some(thread),
            next: 1,
        };
        let mut capabilities = json!({});
        if utf8 {
            capabilities = json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } });
        }
        let result = client.request(
            "initialize",
            json!({
                "capabilities": capabilities,
                "rootUri": uri(&root().join("flows")),
                "initializationOptions": options,
            }),
        );
        let expected = if utf8 { "utf-8" } else { "utf-16" };
        assert_eq!(result["capabilities"]["positionEncoding"], expected);
        client.notify("initialized", json!({}));
        client
    }

    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                method.into(),
                params,
            )))
            .unwrap();
    }

    /// Sends a request and waits for its response (notifications that
    /// arrive meanwhile are dropped); the result, or the error as `{"error": ...}`.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = RequestId::from(self.next);
        self.next += 1;
        self.conn
            .sender
            .send(Message::Request(Request::new(
                id.clone(),
                method.into(),
                params,
            )))
            .unwrap();
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(30))
                .unwrap()
            {
                Message::Response(r) if r.id == id => {
                    return match r.error {
                        Some(e) => json!({ "error": e.message, "code": e.code }),
                        None => r.result.unwrap_or(Value::Null),
                    };
                }
                _ => {}
            }
        }
    }

    /// Waits for the next diagnostics of `path`.
    fn diagnostics(&self, path: &Path) -> Vec<Value> {
        loop {
            let message = self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(30))
                .unwrap();
            if let Message::Notification(n) = message
                && n.method == lsp_types::notification::PublishDiagnostics::METHOD
                && n.params["uri"] == json!(uri(path))
            {
                return n.params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    fn open(&self, path: &Path, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": {
                "uri": uri(path), "languageId": "dialect", "version": 1, "text": text,
            }}),
        );
        self.diagnostics(path)
    }

    fn change(&self, path: &Path, version: i32, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri(path), "version": version },
                "contentChanges": [{ "text": text }],
            }),
        );
        self.diagnostics(path)
    }

    /// A request at a position: `{textDocument, position}` plus `extra`.
    fn at(&mut self, method: &str, path: &Path, pos: (u32, u32), extra: Value) -> Value {
        let mut params = json!({
            "textDocument": { "uri": uri(path) },
            "position": { "line": pos.0, "character": pos.1 },
        });
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.request(method, params)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        if let Some(thread) = self.thread.take() {
            assert_eq!(thread.join().unwrap(), Ok(()));
        }
    }
}

/// A flow of the repository: its path and text.
fn flow(name: &str) -> (PathBuf, String) {
    let path = root().join("flows").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The (line, UTF-16 column) of the `nth` occurrence of `needle`, plus `into`.
fn pos(text: &str, needle: &str, nth: usize, into: usize) -> (u32, u32) {
    let offset = text.match_indices(needle).nth(nth).unwrap().0 + into;
    let line = text[..offset].matches('\n').count();
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (
        u32::try_from(line).unwrap(),
        u32::try_from(text[start..offset].encode_utf16().count()).unwrap(),
    )
}

#[test]
fn a_mistake_is_reported_with_its_code_and_span_and_clears_when_fixed() {
    let client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    assert_eq!(
        client.open(&path, &text),
        Vec::<Value>::new(),
        "scheme 2 is clean"
    );

    let broken = text.replace(
        "goto main_menu }\n              on full",
        "goto main_mnu }\n              on full",
    );
    assert_ne!(broken, text);
    let diagnostics = client.change(&path, 2, &broken);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d["code"], "E0105");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "dialect");
    assert!(d["message"].as_str().unwrap().contains("main_mnu"), "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("help: did you mean `main_menu`?"),
        "{d}"
    );
    let (line, col) = pos(&broken, "main_mnu", 0, 0);
    assert_eq!(
        d["range"]["start"],
        json!({ "line": line, "character": col })
    );
    assert_eq!(
        d["range"]["end"],
        json!({ "line": line, "character": col + 8 })
    );

    assert_eq!(
        client.change(&path, 3, &text),
        Vec::<Value>::new(),
        "fixed: cleared"
    );
}

#[test]
fn related_spans_come_with_a_diagnostic() {
    let client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    // The same arm twice: E0110 with the first arm as related information.
    let twice = text.replace(
        "          on no_input { hangup }\n",
        "          on no_input { hangup }\n          on no_input { hangup }\n",
    );
    let diagnostics = client.open(&path, &twice);
    let d = diagnostics.iter().find(|d| d["code"] == "E0110").unwrap();
    let related = d["relatedInformation"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{d}");
    let (line, _) = pos(&twice, "on no_input", 0, 0);
    assert_eq!(related[0]["location"]["range"]["start"]["line"], line);
    assert_eq!(related[0]["location"]["uri"], json!(uri(&path)));
}

#[test]
fn hover_shows_the_documentation_of_dialect_explain() {
    let mut client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    client.open(&path, &text);
    let hover = client.at(
        "textDocument/hover",
        &path,
        pos(&text, "menu play", 0, 2),
        json!({}),
    );
    assert_eq!(hover["contents"]["kind"], "markdown");
    assert_eq!(
        hover["contents"]["value"],
        dialect_compiler::docs::explain("menu").unwrap()
    );
    let (line, col) = pos(&text, "menu play", 0, 0);
    assert_eq!(
        hover["range"]["start"],
        json!({ "line": line, "character": col })
    );
    let setting = client.at(
        "textDocument/hover",
        &path,
        pos(&text, "timeout 30s", 0, 1),
        json!({}),
    );
    assert!(
        setting["contents"]["value"]
            .as_str()
            .unwrap()
            .starts_with("setting `timeout` of the block `dial`"),
        "{setting}"
    );
    let nothing = client.at(
        "textDocument/hover",
        &path,
        pos(&text, "// Technical", 0, 5),
        json!({}),
    );
    assert_eq!(nothing, Value::Null);
}

#[test]
fn completion_offers_blocks_settings_labels_and_names() {
    let mut client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    let edited = text.replace("    answer\n", "    answer\n    \n");
    client.open(&path, &edited);
    let items = client.at(
        "textDocument/completion",
        &path,
        pos(&edited, "    \n", 0, 4),
        json!({}),
    );
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"menu") && labels.contains(&"queue"),
        "{labels:?}"
    );
    let menu = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "menu")
        .unwrap();
    assert_eq!(menu["kind"], 3, "a function-like block");
    assert!(
        menu["documentation"]["value"]
            .as_str()
            .unwrap()
            .starts_with("block `menu`")
    );

    let edited = text.replace("on full { goto main_menu }", "on full { goto  }");
    client.change(&path, 2, &edited);
    let items = client.at(
        "textDocument/completion",
        &path,
        pos(&edited, "goto  }", 0, 5),
        json!({}),
    );
    assert_eq!(items[0]["label"], "main_menu", "{items}");
}

#[test]
fn definition_and_references_cross_files() {
    let mut client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    client.open(&path, &text);
    let def = client.at(
        "textDocument/definition",
        &path,
        pos(&text, "queues.sales", 0, 8),
        json!({}),
    );
    let (queues, qtext) = flow("common/queues.flow");
    assert_eq!(def["uri"], json!(uri(&queues)));
    let (line, col) = pos(&qtext, "queue sales", 0, 6);
    assert_eq!(
        def["range"]["start"],
        json!({ "line": line, "character": col })
    );

    let goto = client.at(
        "textDocument/definition",
        &path,
        pos(&text, "goto main_menu", 0, 6),
        json!({}),
    );
    let (line, _) = pos(&text, "main_menu: menu", 0, 0);
    assert_eq!(goto["uri"], json!(uri(&path)));
    assert_eq!(goto["range"]["start"]["line"], line);

    let refs = client.at(
        "textDocument/references",
        &path,
        pos(&text, "queues.technical", 0, 9),
        json!({ "context": { "includeDeclaration": true } }),
    );
    let uris: Vec<&str> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(
        uris.iter()
            .any(|u| u.ends_with("/flows/common/queues.flow")),
        "{uris:?}"
    );
    assert!(
        uris.iter().any(|u| u.ends_with("/flows/scheme2.flow")),
        "{uris:?}"
    );
    assert!(
        uris.iter().any(|u| u.ends_with("/flows/complete.flow")),
        "{uris:?}"
    );
}

#[test]
fn rename_a_label_across_its_uses_and_refuse_a_keyword() {
    let mut client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    client.open(&path, &text);
    let at = pos(&text, "goto main_menu", 1, 7);
    let prepared = client.at("textDocument/prepareRename", &path, at, json!({}));
    let (line, col) = pos(&text, "goto main_menu", 1, 5);
    assert_eq!(prepared["start"], json!({ "line": line, "character": col }));
    let edit = client.at(
        "textDocument/rename",
        &path,
        at,
        json!({ "newName": "start" }),
    );
    let edits = edit["changes"][uri(&path).as_str()].as_array().unwrap();
    assert_eq!(edits.len(), 3, "the label and two gotos: {edit}");
    assert!(edits.iter().all(|e| e["newText"] == "start"));
    let refused = client.at(
        "textDocument/rename",
        &path,
        at,
        json!({ "newName": "menu" }),
    );
    assert!(
        refused["error"].as_str().unwrap().contains("keyword"),
        "{refused}"
    );

    // A queue renamed from its use renames its declaration in another file.
    let edit = client.at(
        "textDocument/rename",
        &path,
        pos(&text, "queues.sales", 0, 9),
        json!({ "newName": "retail" }),
    );
    let (queues, _) = flow("common/queues.flow");
    assert!(edit["changes"][uri(&queues).as_str()].is_array(), "{edit}");
}

#[test]
fn symbols_and_formatting() {
    let mut client = Client::start(true);
    let (path, text) = flow("scheme2.flow");
    client.open(&path, &text);
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&path) } }),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.last(), Some(&"campaign scheme2"));
    let campaign = symbols.as_array().unwrap().last().unwrap();
    let menu = &campaign["children"][0]["children"][0]["children"][0]["children"][0];
    assert_eq!(menu["name"], "main_menu: menu", "{campaign}");

    let format = |client: &mut Client| {
        client.request(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": uri(&path) }, "options": { "tabSize": 2, "insertSpaces": true } }),
        )
    };
    assert_eq!(format(&mut client), json!([]), "flows/ is formatted");
    let messy = text.replace("  id \"S2\"", "        id     \"S2\"");
    client.change(&path, 2, &messy);
    let edits = format(&mut client);
    assert_eq!(edits[0]["newText"], json!(text));
    client.change(&path, 3, "campaign x {\n");
    assert!(
        format(&mut client)["error"]
            .as_str()
            .unwrap()
            .contains("syntax error")
    );
}

#[test]
fn the_graph_command_draws_the_flow() {
    let mut client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    client.open(&path, &text);
    let result = client.request(
        "workspace/executeCommand",
        json!({ "command": "dialect.graph", "arguments": [uri(&path)] }),
    );
    let format = result["format"].as_str().unwrap();
    let drawn = result["text"].as_str().unwrap();
    match format {
        "svg" => assert!(drawn.contains("<svg") && drawn.contains("main_menu: menu")),
        "mermaid" => {
            assert!(drawn.starts_with("flowchart TD") && drawn.contains("main_menu: menu"))
        }
        other => panic!("format {other}"),
    }
    let unknown = client.request("workspace/executeCommand", json!({ "command": "nope" }));
    assert!(unknown["error"].is_string());
}

#[test]
fn a_request_for_a_document_not_open_is_an_error_not_a_crash() {
    let mut client = Client::start(false);
    let path = root().join("flows/scheme1.flow");
    let answer = client.at("textDocument/hover", &path, (0, 0), json!({}));
    assert!(
        answer["error"].as_str().unwrap().contains("not open"),
        "{answer}"
    );
    let answer = client.request("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(answer["code"], -32602, "invalid params: {answer}");
    let answer = client.request("textDocument/codeLens", json!({}));
    assert_eq!(answer["code"], -32601, "method not found: {answer}");
}

#[test]
fn ranged_changes_are_applied_in_order() {
    let client = Client::start(false);
    let (path, text) = flow("scheme2.flow");
    client.open(&path, &text);
    // Type `x` after `goto main_menu` (the first), then delete it again,
    // as two ranged changes in one notification, and then a third alone.
    let (line, col) = pos(&text, "goto main_menu", 0, 14);
    let at = json!({ "line": line, "character": col });
    let after = json!({ "line": line, "character": col + 1 });
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 2 },
            "contentChanges": [
                { "range": { "start": at, "end": at }, "text": "xy" },
                { "range": { "start": after, "end": { "line": line, "character": col + 2 } }, "text": "" },
            ],
        }),
    );
    let diagnostics = client.diagnostics(&path);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .contains("`main_menux`"),
        "{diagnostics:?}"
    );
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 3 },
            "contentChanges": [{ "range": { "start": at, "end": after }, "text": "" }],
        }),
    );
    assert_eq!(client.diagnostics(&path), Vec::<Value>::new());
}

#[test]
fn the_environment_comes_from_the_initialization_options() {
    let path = root().join("tests/env-flows/support.flow");
    let text = std::fs::read_to_string(&path).unwrap();
    let client = Client::start_with(false, json!({ "env": "production" }));
    assert_eq!(client.open(&path, &text), Vec::<Value>::new());
    drop(client);
    let client = Client::start_with(false, json!({ "env": null }));
    let diagnostics = client.open(&path, &text);
    assert!(
        diagnostics.iter().any(|d| d["code"] == "E0402"),
        "{diagnostics:?}"
    );
    drop(client);
    let client = Client::start_with(false, json!({ "env": "staging" }));
    let diagnostics = client.open(&path, &text);
    assert!(
        diagnostics.iter().any(|d| d["code"] == "E0401"),
        "{diagnostics:?}"
    );
}
