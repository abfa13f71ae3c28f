//! The agent API's HTTP layer, driven over real TCP with hand-written
//! HTTP/1.1 requests against a fake controller.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dialect_server::api::{self, ApiCall, ApiReply, ApiRequest, Auth, BODY_LIMIT};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const ALICE: (&str, &str) = ("alice", "s3cret");
const BOB: (&str, &str) = ("bob", "hunter2");
const WEB_TOKEN: &str = "web-token-123";

fn auth(web_token: Option<&str>) -> Arc<Auth> {
    Arc::new(Auth {
        agents: HashMap::from([
            (ALICE.0.to_owned(), ALICE.1.to_owned()),
            (BOB.0.to_owned(), BOB.1.to_owned()),
        ]),
        web_token: web_token.map(str::to_owned),
        throttle: None,
        ..Auth::default()
    })
}

/// Starts the API on a free port; the caller plays the controller.
async fn start_with(auth: Arc<Auth>, capacity: usize) -> (SocketAddr, mpsc::Receiver<ApiCall>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (calls, receiver) = mpsc::channel(capacity);
    tokio::spawn(api::serve(listener, auth, calls));
    (addr, receiver)
}

/// Starts the API with a fake controller that echoes each request's Debug
/// text, except that it refuses to cancel callback 7.
async fn start() -> SocketAddr {
    let (addr, mut receiver) = start_with(auth(Some(WEB_TOKEN)), 16).await;
    tokio::spawn(async move {
        while let Some(call) = receiver.recv().await {
            let reply = match &call.request {
                ApiRequest::CancelCallback { id: 7, .. } => ApiReply::refused(
                    409,
                    "callback 7 has already been made",
                    json!({ "state": "done" }),
                ),
                request => ApiReply::ok(json!({ "request": format!("{request:?}") })),
            };
            let _ = call.reply.send(reply);
        }
    });
    addr
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {self:?}"))
    }

    /// The echoed request's Debug text.
    fn echoed(&self) -> &str {
        assert_eq!(self.status, 200, "{self:?}");
        self.body["request"]
            .as_str()
            .unwrap_or_else(|| panic!("no request in {self:?}"))
    }
}

/// Sends raw bytes on a fresh connection and parses the response, checking
/// that it is JSON.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut bytes))
        .await
        .expect("the server answers")
        .unwrap();
    let split = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&bytes)));
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let mut body = &bytes[split + 4..];
    let response_headers = Response {
        status,
        headers,
        body: Value::Null,
    };
    if let Some(length) = response_headers.header("content-length") {
        body = &body[..length.parse::<usize>().unwrap()];
    }
    assert_eq!(
        response_headers.header("content-type"),
        Some("application/json"),
        "{response_headers:?}"
    );
    let body = serde_json::from_slice(body)
        .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(body)));
    Response {
        body,
        ..response_headers
    }
}

/// Builds a request with `Connection: close`, the given headers and, if
/// `body` is not empty, a `Content-Length`.
fn build(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn basic((name, password): (&str, &str)) -> String {
    format!(
        "Basic {}",
        encode_base64(format!("{name}:{password}").as_bytes())
    )
}

fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &byte)| n | u32::from(byte) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sends a request as `agent`, with a JSON body if there is one.
async fn send(
    addr: SocketAddr,
    agent: (&str, &str),
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Response {
    let authorization = basic(agent);
    let mut headers = vec![("Authorization", authorization.as_str())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let raw = build(method, path, &headers, body.unwrap_or_default().as_bytes());
    exchange(addr, &raw).await
}

fn debug(request: ApiRequest) -> String {
    format!("{request:?}")
}

/// Every route with a valid body, for the checks that apply to all of them.
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/api/agents/alice", None),
    ("POST", "/api/agents/alice/login", None),
    ("POST", "/api/agents/alice/logout", None),
    ("POST", "/api/agents/alice/ready", None),
    (
        "POST",
        "/api/agents/alice/not-ready",
        Some(r#"{"reason": "break"}"#),
    ),
    (
        "POST",
        "/api/agents/alice/wrap-up",
        Some(r#"{"classifier": "sale"}"#),
    ),
    ("GET", "/api/calls/12/data", None),
    (
        "PUT",
        "/api/calls/12/data/account",
        Some(r#"{"value": "1", "version": 1}"#),
    ),
    ("GET", "/api/callbacks", None),
    ("POST", "/api/callbacks", Some("{}")),
    ("PUT", "/api/callbacks/3", Some("{}")),
    ("DELETE", "/api/callbacks/3", None),
    ("GET", "/api/status", None),
];

#[tokio::test]
async fn no_credentials_is_401_with_a_challenge() {
    let addr = start().await;
    for &(method, path, body) in ROUTES {
        let body = body.unwrap_or_default().as_bytes();
        let response = exchange(addr, &build(method, path, &[], body)).await;
        assert_eq!(response.status, 401, "{method} {path}: {response:?}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Basic realm=\"dialect\"")
        );
        assert!(
            response.error().contains("missing credentials"),
            "{response:?}"
        );
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_agent_are_401_alike() {
    let addr = start().await;
    let wrong_password = send(addr, ("alice", "hunter2"), "GET", "/api/status", None).await;
    let unknown_agent = send(addr, ("mallory", "s3cret"), "GET", "/api/status", None).await;
    let empty_password = send(addr, ("alice", ""), "GET", "/api/status", None).await;
    let longer_password = send(addr, ("alice", "s3cret!"), "GET", "/api/status", None).await;
    for response in [
        &wrong_password,
        &unknown_agent,
        &empty_password,
        &longer_password,
    ] {
        assert_eq!(response.status, 401, "{response:?}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Basic realm=\"dialect\"")
        );
        assert_eq!(response.error(), "unknown agent or wrong password");
    }
}

#[tokio::test]
async fn malformed_credentials_are_401() {
    let addr = start().await;
    let no_colon = format!("Basic {}", encode_base64(b"alice"));
    for authorization in [
        "Basic !!!",
        "Basic",
        "Bearer s3cret",
        "Digest abc",
        no_colon.as_str(),
    ] {
        let raw = build(
            "GET",
            "/api/status",
            &[("Authorization", authorization)],
            b"",
        );
        let response = exchange(addr, &raw).await;
        assert_eq!(response.status, 401, "{authorization}: {response:?}");
        assert!(response.error().contains("malformed"), "{response:?}");
    }
    // The scheme is case-insensitive.
    let lower = basic(ALICE).replace("Basic", "basic");
    let raw = build("GET", "/api/status", &[("Authorization", &lower)], b"");
    assert_eq!(
        exchange(addr, &raw).await.echoed(),
        debug(ApiRequest::Status)
    );
}

#[tokio::test]
async fn an_agent_cannot_act_for_another() {
    let addr = start().await;
    for &(method, path, body) in ROUTES
        .iter()
        .filter(|(_, path, _)| path.starts_with("/api/agents/"))
    {
        let response = send(addr, BOB, method, path, body).await;
        assert_eq!(response.status, 403, "{method} {path}: {response:?}");
        assert_eq!(response.error(), "agent bob cannot act for alice");
    }
    // Authentication comes first.
    let response = send(
        addr,
        ("bob", "wrong"),
        "POST",
        "/api/agents/alice/login",
        None,
    )
    .await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn agent_routes_parse_into_requests() {
    let addr = start().await;
    let alice = || "alice".to_owned();
    let cases = [
        (
            "GET",
            "/api/agents/alice",
            None,
            ApiRequest::Agent { agent: alice() },
        ),
        (
            "POST",
            "/api/agents/alice/login",
            None,
            ApiRequest::Login { agent: alice() },
        ),
        (
            "POST",
            "/api/agents/alice/logout",
            None,
            ApiRequest::Logout { agent: alice() },
        ),
        (
            "POST",
            "/api/agents/alice/ready",
            None,
            ApiRequest::Ready { agent: alice() },
        ),
        (
            "POST",
            "/api/agents/alice/not-ready",
            Some(r#"{"reason": "lunch break"}"#),
            ApiRequest::NotReady {
                agent: alice(),
                reason: "lunch break".to_owned(),
            },
        ),
        (
            "POST",
            "/api/agents/alice/wrap-up",
            Some(r#"{"classifier": "sale", "fields": {"amount": "12.50", "product": "gold"}}"#),
            ApiRequest::WrapUp {
                agent: alice(),
                classifier: "sale".to_owned(),
                fields: BTreeMap::from([
                    ("amount".to_owned(), "12.50".to_owned()),
                    ("product".to_owned(), "gold".to_owned()),
                ]),
                call: None,
            },
        ),
        (
            "POST",
            "/api/agents/alice/wrap-up",
            Some(r#"{"classifier": "no sale"}"#),
            ApiRequest::WrapUp {
                agent: alice(),
                classifier: "no sale".to_owned(),
                fields: BTreeMap::new(),
                call: None,
            },
        ),
        (
            "POST",
            "/api/agents/alice/wrap-up",
            Some(r#"{"classifier": "no sale", "call": 7}"#),
            ApiRequest::WrapUp {
                agent: alice(),
                classifier: "no sale".to_owned(),
                fields: BTreeMap::new(),
                call: Some(7),
            },
        ),
    ];
    for (method, path, body, expected) in cases {
        let response = send(addr, ALICE, method, path, body).await;
        assert_eq!(response.echoed(), debug(expected), "{method} {path}");
    }
}

#[tokio::test]
async fn call_and_callback_routes_parse_into_requests() {
    let addr = start().await;
    let bob = || "bob".to_owned();
    let cases = [
        (
            "GET",
            "/api/calls/18446744073709551615/data",
            None,
            ApiRequest::CallData {
                agent: bob(),
                call: u64::MAX,
            },
        ),
        (
            "PUT",
            "/api/calls/42/data/customer%20id",
            Some(r#"{"value": "C-1001", "version": 3}"#),
            ApiRequest::EditCallData {
                agent: bob(),
                call: 42,
                name: "customer id".to_owned(),
                value: "C-1001".to_owned(),
                version: 3,
            },
        ),
        (
            "GET",
            "/api/callbacks",
            None,
            ApiRequest::ListCallbacks { agent: bob() },
        ),
        (
            "POST",
            "/api/callbacks",
            Some(r#"{"number": "+441234567890", "at": "2026-05-01T10:00:00Z", "extra": [1, 2]}"#),
            ApiRequest::CreateCallback {
                agent: bob(),
                body: json!({"number": "+441234567890", "at": "2026-05-01T10:00:00Z", "extra": [1, 2]}),
            },
        ),
        (
            "PUT",
            "/api/callbacks/-5",
            Some(r#"{"at": "2026-05-02T09:00:00Z"}"#),
            ApiRequest::UpdateCallback {
                agent: bob(),
                id: -5,
                body: json!({"at": "2026-05-02T09:00:00Z"}),
            },
        ),
        (
            "DELETE",
            "/api/callbacks/9",
            None,
            ApiRequest::CancelCallback {
                agent: bob(),
                id: 9,
            },
        ),
        ("GET", "/api/status", None, ApiRequest::Status),
    ];
    for (method, path, body, expected) in cases {
        let response = send(addr, BOB, method, path, body).await;
        assert_eq!(response.echoed(), debug(expected), "{method} {path}");
    }
}

#[tokio::test]
async fn controller_refusals_pass_through() {
    let addr = start().await;
    let response = send(addr, ALICE, "DELETE", "/api/callbacks/7", None).await;
    assert_eq!(response.status, 409);
    assert_eq!(
        response.body,
        json!({"error": "callback 7 has already been made", "details": {"state": "done"}})
    );
}

#[tokio::test]
async fn web_callbacks_take_the_bearer_token() {
    let addr = start().await;
    let body = br#"{"number": "+441234567890", "name": "Sam"}"#;
    let json = ("Content-Type", "application/json");

    let bearer = format!("Bearer {WEB_TOKEN}");
    let raw = build(
        "POST",
        "/api/web-callbacks",
        &[("Authorization", &bearer), json],
        body,
    );
    let expected = ApiRequest::WebCallback {
        body: json!({"number": "+441234567890", "name": "Sam"}),
    };
    assert_eq!(exchange(addr, &raw).await.echoed(), debug(expected));

    let raw = build("POST", "/api/web-callbacks", &[json], body);
    let response = exchange(addr, &raw).await;
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"dialect\"")
    );
    assert!(response.error().contains("missing credentials"));

    for authorization in ["Bearer web-token-12", "Bearer web-token-1234", "Bearer "] {
        let raw = build(
            "POST",
            "/api/web-callbacks",
            &[("Authorization", authorization), json],
            body,
        );
        let response = exchange(addr, &raw).await;
        assert_eq!(response.status, 401, "{authorization}: {response:?}");
    }

    // Agents' credentials do not work there.
    let agent = basic(ALICE);
    let raw = build(
        "POST",
        "/api/web-callbacks",
        &[("Authorization", &agent), json],
        body,
    );
    assert_eq!(exchange(addr, &raw).await.status, 401);
}

#[tokio::test]
async fn web_callbacks_are_forbidden_without_a_web_token() {
    let (addr, _receiver) = start_with(auth(None), 4).await;
    let bearer = format!("Bearer {WEB_TOKEN}");
    let raw = build(
        "POST",
        "/api/web-callbacks",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    let response = exchange(addr, &raw).await;
    assert_eq!(response.status, 403, "{response:?}");
    assert!(response.error().contains("no web token"), "{response:?}");
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let addr = start().await;
    let not_ready = "/api/agents/alice/not-ready";
    let wrap_up = "/api/agents/alice/wrap-up";
    let edit = "/api/calls/4/data/account";
    let cases = [
        (not_ready, r#"{"reason": "#, "not valid JSON"),
        (not_ready, "{}", "missing field `reason`"),
        (
            not_ready,
            r#"{"reason": 5}"#,
            "field `reason`: invalid type: integer `5`, expected a string",
        ),
        (
            not_ready,
            r#"{"reason": "break", "color": "red"}"#,
            "unknown field `color`",
        ),
        (
            not_ready,
            r#"{"reason": ""}"#,
            "field `reason` must be 1 to 64 characters long",
        ),
        (
            not_ready,
            &format!(r#"{{"reason": "{}"}}"#, "é".repeat(65)),
            "field `reason` must be 1 to 64",
        ),
        (not_ready, "[]", "expected a JSON object"),
        (not_ready, "  ", "the request body is empty"),
        (wrap_up, r#"{"fields": {}}"#, "missing field `classifier`"),
        (
            wrap_up,
            r#"{"classifier": "sale", "fields": {"amount": 12}}"#,
            "field `fields`: invalid type: integer `12`",
        ),
        (
            wrap_up,
            r#"{"classifier": "sale", "fields": []}"#,
            "field `fields`: invalid type: sequence",
        ),
        (edit, r#"{"value": "x"}"#, "missing field `version`"),
        (
            edit,
            r#"{"value": "x", "version": "3"}"#,
            "field `version`: invalid type: string",
        ),
        (edit, r#"{"value": "x", "version": -1}"#, "field `version`"),
        (
            edit,
            r#"{"value": null, "version": 1}"#,
            "field `value`: invalid type: null",
        ),
    ];
    for (path, body, expected) in cases {
        let method = if path == edit { "PUT" } else { "POST" };
        let response = send(addr, ALICE, method, path, Some(body)).await;
        assert_eq!(response.status, 400, "{body}: {response:?}");
        assert!(response.error().contains(expected), "{body}: {response:?}");
    }
    // A body that must be there is required.
    let response = send(addr, ALICE, "POST", not_ready, None).await;
    assert_eq!(response.status, 400, "{response:?}");
    // Callback bodies must be objects.
    for body in ["[1]", "\"text\"", "3"] {
        let response = send(addr, ALICE, "POST", "/api/callbacks", Some(body)).await;
        assert_eq!(response.status, 400, "{body}: {response:?}");
        assert!(
            response.error().contains("expected a JSON object"),
            "{response:?}"
        );
    }
}

#[tokio::test]
async fn non_json_bodies_are_415() {
    let addr = start().await;
    let authorization = basic(ALICE);
    let raw = build(
        "POST",
        "/api/callbacks",
        &[
            ("Authorization", &authorization),
            ("Content-Type", "text/plain"),
        ],
        b"{}",
    );
    let response = exchange(addr, &raw).await;
    assert_eq!(response.status, 415, "{response:?}");
    // No Content-Type at all is taken as JSON.
    let raw = build(
        "POST",
        "/api/callbacks",
        &[("Authorization", &authorization)],
        b"{}",
    );
    let expected = ApiRequest::CreateCallback {
        agent: "alice".to_owned(),
        body: json!({}),
    };
    assert_eq!(exchange(addr, &raw).await.echoed(), debug(expected));
}

#[tokio::test]
async fn path_ids_that_are_not_numbers_are_400_naming_the_parameter() {
    let addr = start().await;
    let cases = [
        ("GET", "/api/calls/abc/data", None),
        ("GET", "/api/calls/-1/data", None),
        ("GET", "/api/calls/18446744073709551616/data", None),
        (
            "PUT",
            "/api/calls/1.5/data/account",
            Some(r#"{"value": "1", "version": 1}"#),
        ),
        ("PUT", "/api/callbacks/x", Some("{}")),
        ("DELETE", "/api/callbacks/9223372036854775808", None),
    ];
    for (method, path, body) in cases {
        let response = send(addr, ALICE, method, path, body).await;
        assert_eq!(response.status, 400, "{method} {path}: {response:?}");
        assert!(
            response
                .error()
                .starts_with("path parameter `id` must be a number"),
            "{response:?}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let addr = start().await;
    for (method, path) in [
        ("GET", "/api/whatever"),
        ("POST", "/api/agents/alice/dance"),
        ("GET", "/api/status/"),
        // `/` and `/desk/` are the desktop's pages.
        ("GET", "/nothing-here"),
    ] {
        let response = send(addr, ALICE, method, path, None).await;
        assert_eq!(response.status, 404, "{method} {path}: {response:?}");
        assert_eq!(
            response.error(),
            format!("no such endpoint: {method} {path}")
        );
    }
    // Unauthenticated too.
    let response = exchange(addr, &build("GET", "/api/whatever?x=1", &[], b"")).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.error(), "no such endpoint: GET /api/whatever");
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let addr = start().await;
    for (method, path, allowed) in [
        ("DELETE", "/api/status", "GET,HEAD"),
        ("GET", "/api/agents/alice/login", "POST"),
        ("PATCH", "/api/callbacks/3", "PUT,DELETE"),
        ("DELETE", "/api/callbacks", "GET,HEAD,POST"),
        ("GET", "/api/web-callbacks", "POST"),
    ] {
        let response = send(addr, ALICE, method, path, None).await;
        assert_eq!(response.status, 405, "{method} {path}: {response:?}");
        assert_eq!(
            response.error(),
            format!("method {method} is not allowed on {path}")
        );
        let mut got: Vec<&str> = response
            .header("allow")
            .unwrap()
            .split(',')
            .map(str::trim)
            .collect();
        let mut want: Vec<&str> = allowed.split(',').collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{method} {path}");
    }
}

/// A `{"padding": "xxx…"}` body of exactly `size` bytes.
fn body_of(size: usize) -> String {
    let overhead = r#"{"padding": ""}"#.len();
    format!(r#"{{"padding": "{}"}}"#, "x".repeat(size - overhead))
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let addr = start().await;

    let at_limit = body_of(BODY_LIMIT);
    assert_eq!(at_limit.len(), 64 * 1024);
    let response = send(addr, ALICE, "POST", "/api/callbacks", Some(&at_limit)).await;
    assert!(
        response.echoed().starts_with("CreateCallback"),
        "{response:?}"
    );

    let over = body_of(BODY_LIMIT + 1);
    let response = send(addr, ALICE, "POST", "/api/callbacks", Some(&over)).await;
    assert_eq!(response.status, 413, "{response:?}");
    assert!(response.error().contains("65536 bytes"), "{response:?}");

    // Without a Content-Length the body is counted as it arrives.
    let authorization = basic(ALICE);
    let mut raw = build(
        "POST",
        "/api/callbacks",
        &[
            ("Authorization", &authorization),
            ("Transfer-Encoding", "chunked"),
        ],
        b"",
    );
    for chunk in over.as_bytes().chunks(10_000) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let response = exchange(addr, &raw).await;
    assert_eq!(response.status, 413, "{response:?}");
}

#[tokio::test]
async fn a_closed_controller_is_503() {
    let (addr, receiver) = start_with(auth(None), 4).await;
    drop(receiver);
    let response = send(addr, ALICE, "GET", "/api/status", None).await;
    assert_eq!(response.status, 503, "{response:?}");
    assert_eq!(
        response.body,
        json!({"error": "the runtime is shutting down"})
    );
}

#[tokio::test]
async fn a_call_dropped_unanswered_is_503() {
    let (addr, mut receiver) = start_with(auth(None), 4).await;
    tokio::spawn(async move {
        while let Some(call) = receiver.recv().await {
            drop(call);
        }
    });
    let response = send(addr, ALICE, "GET", "/api/status", None).await;
    assert_eq!(response.status, 503, "{response:?}");
    assert_eq!(response.error(), "the runtime is shutting down");
}

#[tokio::test]
async fn a_full_queue_is_503() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (calls, _receiver) = mpsc::channel(1);
    // Fill the queue; the controller never reads it.
    let (reply, _answer) = tokio::sync::oneshot::channel();
    calls
        .try_send(ApiCall {
            request: ApiRequest::Status,
            reply,
        })
        .unwrap();
    tokio::spawn(api::serve(listener, auth(None), calls));
    let response = send(addr, ALICE, "GET", "/api/status", None).await;
    assert_eq!(response.status, 503, "{response:?}");
    assert_eq!(
        response.body,
        json!({"error": "the runtime is busy, try again"})
    );
}

#[tokio::test]
async fn a_silent_controller_is_504_after_5_seconds() {
    let (addr, mut receiver) = start_with(auth(None), 4).await;
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(call) = receiver.recv().await {
            held.push(call);
        }
        held
    });
    let started = std::time::Instant::now();
    let response = send(addr, ALICE, "GET", "/api/status", None).await;
    assert_eq!(response.status, 504, "{response:?}");
    assert!(response.error().contains("did not answer"), "{response:?}");
    assert!(started.elapsed() >= Duration::from_secs(5));
    held.abort();
}

#[tokio::test]
async fn router_can_be_served_directly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (calls, mut receiver) = mpsc::channel(1);
    tokio::spawn(async move { axum::serve(listener, api::router(auth(None), calls)).await });
    tokio::spawn(async move {
        while let Some(call) = receiver.recv().await {
            let _ = call.reply.send(ApiReply::error(418, "teapot"));
        }
    });
    let response = send(addr, BOB, "GET", "/api/status", None).await;
    assert_eq!(response.status, 418);
    assert_eq!(response.body, json!({"error": "teapot"}));
}

#[test]
fn auth_debug_hides_secrets() {
    let text = format!("{:?}", auth(Some(WEB_TOKEN)));
    assert!(text.contains("alice") && text.contains("bob"), "{text}");
    assert!(
        !text.contains(ALICE.1) && !text.contains(BOB.1) && !text.contains(WEB_TOKEN),
        "{text}"
    );
}
