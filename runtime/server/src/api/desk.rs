//! The agent desktop and the supervisor's wallboard in the browser: the
//! pages (embedded in the binary, so they work offline and cannot drift
//! from the server), the browser's sessions, and the live event sockets.
//!
//! A browser logs in with the agent's name and password
//! (`POST /desk/login`) and gets a session cookie (`HttpOnly`,
//! `SameSite=Strict`, `Secure` over HTTPS) plus a CSRF token. Every API
//! request made with the cookie must carry that token in `X-CSRF-Token`;
//! a WebSocket (which cannot carry headers) must come from the page's own
//! origin. Machines keep using HTTP Basic. Session ids and CSRF tokens are
//! 128 random bits from the OS CSPRNG; the table of sessions is bounded.
//!
//! | Method | Path | What |
//! |---|---|---|
//! | `GET` | `/`, `/desk/`, `/desk/{file}` | the pages |
//! | `POST` | `/desk/login` | `{"name", "password"}` → session cookie, `{"agent", "csrf"}` |
//! | `GET` | `/desk/session` | the session's `{"agent", "csrf"}` (after a reload) |
//! | `POST` | `/desk/logout` | ends the session |
//! | `GET` | `/api/agents/{name}/events` | WebSocket: the agent's events, live |
//! | `GET` | `/api/wallboard` | a supervisor's view of queues, agents and alerts |
//! | `GET` | `/api/wallboard/events` | WebSocket: every event, for supervisors |
//! | `POST` | `/api/wallboard/agents/{name}/{not-ready,logout}` | a supervisor acts on an agent |
//! | `POST` | `/api/agents/{name}/call/{hold,resume,hang-up,transfer}` | call control from the desktop |
//! | `POST`/`DELETE` | `/api/agents/{name}/phone` | the browser phone: SDP offer in, answer out |
//! | `POST` | `/api/agents/{name}/phone/{answer,decline,consult,transfer,end-consult}` | the browser phone's call and consultation |

use super::{Api, ApiReply, ApiRequest, Params, Refusal, constant_time_eq, parse_body};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "dialect_session";

/// The header a cookie-authenticated request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sessions open at once, at most; a new login past it gets 503.
pub const MAX_SESSIONS: usize = 4_096;

/// Sessions one agent may have at once; a new login ends their oldest.
pub const SESSIONS_PER_AGENT: usize = 8;

/// A session unused this long is over.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);

/// Calls an agent's event socket follows at once (the oldest is dropped).
const FOLLOWED_CALLS: usize = 32;

/// The desktop's pages, embedded at build time.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../desk/index.html"),
    ),
    (
        "desk.js",
        "text/javascript; charset=utf-8",
        include_str!("../../desk/desk.js"),
    ),
    (
        "desk.css",
        "text/css; charset=utf-8",
        include_str!("../../desk/desk.css"),
    ),
    (
        "phone.js",
        "text/javascript; charset=utf-8",
        include_str!("../../desk/phone.js"),
    ),
];

/// The browsers' sessions.
#[derive(Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

struct Session {
    agent: String,
    csrf: String,
    used: Instant,
}

/// `bytes` random bytes from the OS CSPRNG, in hex; `None` if it failed.
fn random_hex(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).ok()?;
    Some(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// Opens a session for `agent`: its id and CSRF token. Expired
    /// sessions go first; past [`SESSIONS_PER_AGENT`] the agent's oldest
    /// ends; past [`MAX_SESSIONS`] there is no room (`None`).
    pub fn open(&self, agent: &str, now: Instant) -> Option<(String, String)> {
        let mut table = self.table.lock().ok()?;
        table.retain(|_, s| now.saturating_duration_since(s.used) < SESSION_IDLE);
        let mut mine: Vec<(Instant, String)> = table
            .iter()
            .filter(|(_, s)| s.agent == agent)
            .map(|(id, s)| (s.used, id.clone()))
            .collect();
        mine.sort();
        while mine.len() >= SESSIONS_PER_AGENT {
            let (_, oldest) = mine.remove(0);
            table.remove(&oldest);
        }
        if table.len() >= MAX_SESSIONS {
            return None;
        }
        let (id, csrf) = (random_hex(16)?, random_hex(16)?);
        table.insert(
            id.clone(),
            Session {
                agent: agent.to_string(),
                csrf: csrf.clone(),
                used: now,
            },
        );
        Some((id, csrf))
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        if let Ok(mut table) = self.table.lock() {
            table.remove(id);
        }
    }

    /// The agent and CSRF token of a live session (its use noted).
    fn check(&self, id: &str, now: Instant) -> Option<(String, String)> {
        let mut table = self.table.lock().ok()?;
        let session = table.get_mut(id)?;
        if now.saturating_duration_since(session.used) >= SESSION_IDLE {
            table.remove(id);
            return None;
        }
        session.used = now;
        Some((session.agent.clone(), session.csrf.clone()))
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The session id in the request's cookies.
pub(super) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the request asks for a WebSocket.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether the request's `Origin` is the server's own (`Host`): a page
/// elsewhere cannot open a socket with the agent's cookie.
fn same_origin(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

impl Api {
    /// The agent of the request's session cookie: the session must be live
    /// and the request must carry its CSRF token (or, for a WebSocket, come
    /// from our own origin). Refusals carry no Basic challenge, so the
    /// browser shows no password dialog.
    pub(super) fn session_agent(&self, headers: &HeaderMap, id: &str) -> Result<String, Refusal> {
        let Some((agent, csrf)) = self.auth.sessions.check(id, Instant::now()) else {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "the session is over: log in again",
            ));
        };
        let allowed = if is_upgrade(headers) {
            same_origin(headers)
        } else {
            headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|token| constant_time_eq(token.as_bytes(), csrf.as_bytes()))
        };
        if allowed {
            Ok(agent)
        } else {
            Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token (X-CSRF-Token), or a socket from another origin",
            ))
        }
    }
}

/// Adds the headers every page carries: no framing (clickjacking), no
/// sniffing, no referrer, scripts and connections to ourselves only.
fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' ws: wss:; media-src 'self' blob:; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /`: to the desktop.
pub(super) async fn home() -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/desk/"));
    response
}

/// `GET /desk/`: the desktop's page.
pub(super) async fn index() -> Response {
    asset_named("index.html")
}

/// `GET /desk/{file}`: one of the desktop's files.
pub(super) async fn asset(params: Params) -> Result<Response, Refusal> {
    let name = params.text("file")?;
    Ok(asset_named(name))
}

fn asset_named(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => page(content_type, body),
        None => Refusal::new(StatusCode::NOT_FOUND, format!("no file {name}")).into_response(),
    }
}

/// The body of `POST /desk/login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct LoginBody {
    name: String,
    password: String,
}

/// `POST /desk/login`: checks the agent's password (throttled like every
/// other login), opens a session and sets its cookie.
pub(super) async fn login(
    State(api): State<Api>,
    request: axum::extract::Request,
) -> Result<Response, Refusal> {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let (parts, body) = request.into_parts();
    let LoginBody { name, password } = parse_body(&parts.headers, body).await?;
    let now = Instant::now();
    let throttle = api.auth.throttle.as_ref().zip(peer);
    if let Some((throttle, peer)) = throttle
        && let Ok(mut t) = throttle.lock()
        && let Err(wait) = t.allowed(peer, Some(&name), now)
    {
        tracing::warn!(source = %peer, name, "desk login refused: too many failed logins");
        return Ok(super::locked_out(wait));
    }
    let matches = match api.auth.agents.get(&name) {
        Some(expected) => constant_time_eq(password.as_bytes(), expected.as_bytes()),
        None => {
            constant_time_eq(password.as_bytes(), password.as_bytes());
            false
        }
    };
    if !matches {
        if let Some((throttle, peer)) = throttle {
            tracing::warn!(source = %peer, name, "failed login");
            if let Ok(mut t) = throttle.lock() {
                t.failure(peer, Some(&name), now);
            }
        }
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unknown agent or wrong password",
        ));
    }
    if let Some((throttle, _)) = throttle
        && let Ok(mut t) = throttle.lock()
    {
        t.success(&name);
    }
    let Some((id, csrf)) = api.auth.sessions.open(&name, now) else {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sessions open: try again later",
        ));
    };
    let secure = if api.auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let mut response = who(&name, &csrf);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `{"agent", "csrf"}`, never cached.
fn who(agent: &str, csrf: &str) -> Response {
    let mut response = Json(json!({ "agent": agent, "csrf": csrf })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

use axum::Json;

/// `GET /desk/session`: who the session is, with its CSRF token (a
/// reloaded page reads it again). Only the cookie is needed: the answer
/// is readable by our own pages alone (no CORS).
pub(super) async fn session(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let Some(id) = session_id(&headers) else {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "not logged in"));
    };
    let Some((agent, csrf)) = api.auth.sessions.check(id, Instant::now()) else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "the session is over: log in again",
        ));
    };
    Ok(who(&agent, &csrf))
}

/// `POST /desk/logout`: ends the session (with its CSRF token) and clears
/// the cookie.
pub(super) async fn logout(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let Some(id) = session_id(&headers) else {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "not logged in"));
    };
    api.session_agent(&headers, id)?;
    api.auth.sessions.close(id);
    let mut response = Json(json!({ "logged_out": true })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("dialect_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The fields of an event a desktop or wallboard sees: enough to know what
/// changed (it then reads the view it needs), nothing of the caller.
const SHOWN: &[&str] = &[
    "ts", "event", "call", "agent", "queue", "campaign", "alert", "subject", "value", "state",
    "reason", "kind", "target",
];

fn shown(event: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(map) = event.as_object() {
        for key in SHOWN {
            if let Some(v) = map.get(*key) {
                out.insert((*key).to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// `GET /api/agents/{name}/events`: a WebSocket of the agent's own events
/// (those naming the agent, and those of the calls they were offered),
/// live from the event log. Another agent's stream is refused (403).
pub(super) async fn agent_events(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let mut calls: VecDeque<String> = VecDeque::new();
    feed_socket(&api, upgrade, move |event| {
        let call = event.get("call").and_then(Value::as_str).unwrap_or("");
        let mine = event.get("agent").and_then(Value::as_str) == Some(agent.as_str());
        if mine && !call.is_empty() && !calls.iter().any(|c| c == call) {
            if calls.len() >= FOLLOWED_CALLS {
                calls.pop_front();
            }
            calls.push_back(call.to_string());
        }
        mine || (!call.is_empty() && calls.iter().any(|c| c == call))
    })
}

/// A WebSocket of the live events `wanted` picks out; 404 on a server
/// without a live feed.
fn feed_socket(
    api: &Api,
    upgrade: axum::extract::ws::WebSocketUpgrade,
    wanted: impl FnMut(&Value) -> bool + Send + 'static,
) -> Result<Response, Refusal> {
    let Some(feed) = api
        .auth
        .feed
        .as_ref()
        .map(crate::eventlog::EventLog::subscribe)
    else {
        return Err(Refusal::new(StatusCode::NOT_FOUND, "no live events here"));
    };
    let upgrade = upgrade.max_message_size(1024).max_frame_size(1024);
    Ok(upgrade.on_upgrade(move |socket| pump_events(socket, feed, wanted)))
}

/// `GET /api/wallboard/events`: every event, live, for supervisors.
pub(super) async fn wallboard_events(
    State(api): State<Api>,
    headers: HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let agent = api.agent(&headers)?;
    // The controller decides who is a supervisor.
    let reply = api.call(ApiRequest::Wallboard { agent }).await?;
    if reply.status != 200 {
        return Ok(reply.into_response());
    }
    feed_socket(&api, upgrade, |_| true)
}

/// Sends the events `wanted` picks out until the socket closes. A watcher
/// that falls behind the feed is told (`{"event": "lagged"}`) and reads
/// its views again.
async fn pump_events(
    mut socket: axum::extract::ws::WebSocket,
    mut feed: tokio::sync::broadcast::Receiver<std::sync::Arc<Value>>,
    mut wanted: impl FnMut(&Value) -> bool + Send,
) {
    use axum::extract::ws::Message as Ws;
    use tokio::sync::broadcast::error::RecvError;
    if socket
        .send(Ws::Text(json!({"event": "hello"}).to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            event = feed.recv() => {
                let text = match event {
                    Ok(event) if wanted(&event) => shown(&event).to_string(),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => json!({"event": "lagged", "missed": n}).to_string(),
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Ws::Text(text.into())).await.is_err() {
                    break;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `GET /api/wallboard`: queues, agents and alerts, for supervisors.
pub(super) async fn wallboard(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    api.call(ApiRequest::Wallboard { agent }).await
}

/// `POST /api/wallboard/agents/{name}/{action}`: a supervisor sets an
/// agent not ready (`not-ready`) or logs them out (`logout`).
pub(super) async fn supervise(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let supervisor = api.agent(&headers)?;
    let agent = params.text("name")?.to_string();
    let logout = match params.text("action")? {
        "not-ready" => false,
        "logout" => true,
        other => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no action {other}: not-ready or logout"),
            ));
        }
    };
    api.call(ApiRequest::Supervise {
        supervisor,
        agent,
        logout,
    })
    .await
}

/// The body of `POST /api/agents/{name}/call/transfer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct TransferBody {
    target: String,
}

/// What an agent does to their call from the desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// The caller waits with music; the agent hears nothing.
    Hold,
    /// Back to the conversation.
    Resume,
    /// The agent leaves the call (the flow goes on after its bridge).
    HangUp,
    /// Blind transfer to a queue, an agent, an entry point or a number.
    Transfer(String),
}

/// `POST /api/agents/{name}/call/{action}`.
pub(super) async fn call_control(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let action = match params.text("action")? {
        "hold" => CallAction::Hold,
        "resume" => CallAction::Resume,
        "hang-up" => CallAction::HangUp,
        "transfer" => {
            let TransferBody { target } = parse_body(&headers, body).await?;
            if target.trim().is_empty() || target.len() > 128 {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "field `target` must name a queue, an agent, an entry point or a number (1 to 128 characters)",
                ));
            }
            CallAction::Transfer(target.trim().to_string())
        }
        other => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no call action {other}: hold, resume, hang-up or transfer"),
            ));
        }
    };
    api.call(ApiRequest::CallControl { agent, action }).await
}

/// The body of `POST /api/agents/{name}/phone`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct PhoneBody {
    sdp: String,
}

/// The longest SDP offer a browser may send.
const MAX_SDP: usize = 16 * 1024;

fn gateway(api: &Api) -> Result<&crate::webphone::Handle, Refusal> {
    api.auth.phones.as_ref().ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "no agent has the browser phone: set phone = \"browser\" in the agent's configuration",
        )
    })
}

/// Waits for the gateway's answer to a command.
async fn gateway_answer<T>(
    handle: &crate::webphone::Handle,
    command: crate::webphone::Command,
    answer: tokio::sync::oneshot::Receiver<Result<T, String>>,
) -> Result<T, Refusal> {
    if !handle.send(command) {
        return Err(Refusal::busy());
    }
    match tokio::time::timeout(super::REPLY_TIMEOUT, answer).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(message))) => Err(Refusal::new(StatusCode::CONFLICT, message)),
        Ok(Err(_)) => Err(Refusal::shutting_down()),
        Err(_) => Err(Refusal::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the browser phone did not answer in time",
        )),
    }
}

/// `POST /api/agents/{name}/phone`: the browser's SDP offer in, the
/// server's answer out: the agent's browser phone connects.
pub(super) async fn phone_attach(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<Json<Value>, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let handle = gateway(&api)?;
    let PhoneBody { sdp } = parse_body(&headers, body).await?;
    if sdp.len() > MAX_SDP {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the SDP offer is longer than {MAX_SDP} bytes"),
        ));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let command = crate::webphone::Command::Attach {
        agent,
        offer: sdp,
        reply,
    };
    let sdp = gateway_answer(handle, command, answer).await?;
    Ok(Json(json!({ "sdp": sdp })))
}

/// `DELETE /api/agents/{name}/phone`: the desktop closes its phone.
pub(super) async fn phone_detach(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<Json<Value>, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let handle = gateway(&api)?;
    if !handle.send(crate::webphone::Command::Detach { agent }) {
        return Err(Refusal::busy());
    }
    Ok(Json(json!({ "phone": "closed" })))
}

/// `POST /api/agents/{name}/phone/{action}`: the call ringing in the
/// browser phone (`answer`, `decline`); a consultation from it (`consult`
/// with `{"target"}`, then `transfer`, attended, or `end-consult`).
pub(super) async fn phone_pick(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<Json<Value>, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let handle = gateway(&api)?;
    let action = params.text("action")?;
    let (reply, done) = tokio::sync::oneshot::channel();
    let command = match action {
        "answer" | "decline" => crate::webphone::Command::Pick {
            agent,
            answer: action == "answer",
            reply,
        },
        "transfer" | "end-consult" => crate::webphone::Command::EndConsult {
            agent,
            transfer: action == "transfer",
            reply,
        },
        "consult" => {
            let TransferBody { target } = parse_body(&headers, body).await?;
            crate::webphone::Command::Consult {
                agent,
                target,
                reply,
            }
        }
        other => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no phone action {other}: answer, decline, consult, transfer or end-consult"
                ),
            ));
        }
    };
    gateway_answer(handle, command, done).await?;
    Ok(Json(json!({ "done": action })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn sessions_are_random_bounded_per_agent_and_expire() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (a, csrf) = sessions.open("ann", t0).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, csrf);
        let (b, _) = sessions.open("ann", t0).unwrap();
        assert_ne!(a, b, "fresh randomness for each session");
        assert_eq!(sessions.check(&a, t0).unwrap().0, "ann");
        for _ in 0..SESSIONS_PER_AGENT {
            sessions.open("ann", t0 + Duration::from_secs(1)).unwrap();
        }
        assert_eq!(sessions.len(), SESSIONS_PER_AGENT);
        assert!(sessions.check(&b, t0).is_none(), "the oldest went");
        let (c, _) = sessions.open("bob", t0).unwrap();
        assert!(
            sessions.check(&c, t0 + SESSION_IDLE).is_none(),
            "idle too long"
        );
        sessions.close(&a);
        assert!(sessions.check(&a, t0).is_none());
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; dialect_session=abc123 ; x=y"),
        );
        assert_eq!(session_id(&headers), Some("abc123"));
        headers.insert(header::COOKIE, HeaderValue::from_static("dialect_session="));
        assert_eq!(session_id(&headers), None);
    }

    #[test]
    fn sockets_only_from_our_own_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("10.0.0.1:8080"));
        assert!(!same_origin(&headers), "no Origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://10.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers));
    }
}
