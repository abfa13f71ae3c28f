//! The HTTP layer of the agent API.
//!
//! This module does no business logic. It authenticates each request, parses
//! its path and body into an [`ApiRequest`], sends that to the server's
//! controller (the one task that owns all state) as an [`ApiCall`] over a
//! bounded channel, waits for the controller's [`ApiReply`] and writes it out
//! as JSON.
//!
//! | Method   | Path                              | Request                         |
//! |----------|-----------------------------------|---------------------------------|
//! | `GET`    | `/api/agents/{name}`              | [`ApiRequest::Agent`]           |
//! | `POST`   | `/api/agents/{name}/login`        | [`ApiRequest::Login`]           |
//! | `POST`   | `/api/agents/{name}/logout`       | [`ApiRequest::Logout`]          |
//! | `POST`   | `/api/agents/{name}/ready`        | [`ApiRequest::Ready`]           |
//! | `POST`   | `/api/agents/{name}/not-ready`    | [`ApiRequest::NotReady`]        |
//! | `POST`   | `/api/agents/{name}/wrap-up`      | [`ApiRequest::WrapUp`]          |
//! | `POST`   | `/api/agents/{name}/extra-wrap-up`| [`ApiRequest::ExtraWrapUp`]     |
//! | `GET`    | `/api/calls/{id}/data`            | [`ApiRequest::CallData`]        |
//! | `PUT`    | `/api/calls/{id}/data/{name}`     | [`ApiRequest::EditCallData`]    |
//! | `POST`   | `/api/calls/{id}/conference`      | [`ApiRequest::Conference`]      |
//! | `POST`   | `/api/bots/{name}/pause`          | [`ApiRequest::PauseBot`]        |
//! | `POST`   | `/api/bots/{name}/resume`         | [`ApiRequest::PauseBot`]        |
//! | `GET`    | `/api/callbacks`                  | [`ApiRequest::ListCallbacks`]   |
//! | `POST`   | `/api/callbacks`                  | [`ApiRequest::CreateCallback`]  |
//! | `PUT`    | `/api/callbacks/{id}`             | [`ApiRequest::UpdateCallback`]  |
//! | `DELETE` | `/api/callbacks/{id}`             | [`ApiRequest::CancelCallback`]  |
//! | `POST`   | `/api/web-callbacks`              | [`ApiRequest::WebCallback`]     |
//! | `GET`    | `/api/campaigns/{name}/records`   | [`ApiRequest::ListRecords`]     |
//! | `GET`    | `/api/records/{id}`               | [`ApiRequest::Record`]          |
//! | `PUT`    | `/api/records/{id}`               | [`ApiRequest::EditRecord`]      |
//! | `GET`    | `/api/status`                     | [`ApiRequest::Status`]          |
//!
//! Agents authenticate with HTTP Basic credentials checked against
//! [`Auth::agents`] and may only act on their own `/api/agents/{name}`.
//! `/api/web-callbacks` instead takes `Authorization: Bearer <token>` checked
//! against [`Auth::web_token`].
//!
//! Every response, success or error, is `application/json`; errors have the
//! shape `{"error": "..."}`. The layer itself answers:
//!
//! * 400 for malformed JSON, missing, unknown or ill-typed body fields and
//!   path ids that are not numbers (the message names the field or parameter);
//! * 401 (with `WWW-Authenticate`) for missing or wrong credentials;
//! * 403 for an agent acting for another agent, or for web callbacks when no
//!   web token is configured;
//! * 404 for an unknown endpoint and 405 for a wrong method on a known one;
//! * 413 for bodies over [`BODY_LIMIT`] bytes, 415 for non-JSON bodies;
//! * 503 when the controller's queue is full or closed, 504 when it does not
//!   answer within [`REPLY_TIMEOUT`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

mod desk;
pub use desk::{CallAction, Sessions};

/// The largest request body accepted, in bytes (64 KiB); larger bodies get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a request waits for the controller's reply before it gets 504.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "dialect";

/// The longest not-ready reason accepted, in characters.
const REASON_MAX_CHARS: usize = 64;

/// How much of an oversized body is read and thrown away before answering
/// 413, so that the client is not reset while it is still sending and gets to
/// read the answer.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// One request for the controller, with the channel to answer it on.
#[derive(Debug)]
pub struct ApiCall {
    /// What the client asked for, already authenticated and parsed.
    pub request: ApiRequest,
    /// Where the controller sends its answer. If it is dropped unanswered the
    /// client gets 503.
    pub reply: oneshot::Sender<ApiReply>,
}

/// The controller's answer to an [`ApiCall`]: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiReply {
    /// The HTTP status code. One outside 100..=999 is answered as 500.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl ApiReply {
    /// A 200 answer with `body`.
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    /// An error answer with body `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
        }
    }

    /// An error answer with body `{"error": message, "details": details}`,
    /// for refusals the client can act on (for example a version conflict
    /// carrying the current value).
    pub fn refused(status: u16, message: impl Into<String>, details: Value) -> Self {
        Self {
            status,
            body: json!({ "error": message.into(), "details": details }),
        }
    }
}

impl IntoResponse for ApiReply {
    fn into_response(self) -> Response {
        match StatusCode::from_u16(self.status) {
            Ok(status) => (status, Json(self.body)).into_response(),
            Err(_) => Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the runtime answered with an invalid status {}",
                    self.status
                ),
            )
            .into_response(),
        }
    }
}

/// A parsed, authenticated API request. The `agent` fields hold the
/// authenticated agent's name.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiRequest {
    /// `GET /api/agents/{name}`: the agent's own state.
    Agent {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
    },
    /// `POST /api/agents/{name}/login`.
    Login {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
    },
    /// `POST /api/agents/{name}/logout`.
    Logout {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
    },
    /// `POST /api/agents/{name}/ready`.
    Ready {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
    },
    /// `POST /api/agents/{name}/extra-wrap-up`: the campaign's extra
    /// wrap-up time, once per wrap-up.
    ExtraWrapUp {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
    },
    /// `POST /api/agents/{name}/not-ready` with body `{"reason": "break"}`.
    NotReady {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
        /// Why the agent is not ready: 1 to 64 characters.
        reason: String,
    },
    /// `POST /api/agents/{name}/wrap-up` with body
    /// `{"classifier": "...", "fields": {"name": "value", ...}}` (`fields` is
    /// optional).
    WrapUp {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
        /// The wrap-up classifier chosen.
        classifier: String,
        /// The wrap-up form's fields.
        fields: BTreeMap<String, String>,
        /// Which call (one the agent still owes a wrap-up for); `None`:
        /// their last.
        call: Option<u64>,
    },
    /// `GET /api/calls/{id}/data`: a call's data.
    CallData {
        /// The authenticated agent.
        agent: String,
        /// The call id from the path.
        call: u64,
    },
    /// `PUT /api/calls/{id}/data/{name}` with body
    /// `{"value": "...", "version": 3}`.
    EditCallData {
        /// The authenticated agent.
        agent: String,
        /// The call id from the path.
        call: u64,
        /// The call data item's name from the path.
        name: String,
        /// The new value.
        value: String,
        /// The version of the item the agent edited, for conflict detection.
        version: u64,
    },
    /// `POST /api/calls/{id}/conference` with body `{"consult": 7}`: the
    /// party of the agent's consultation call joins the call as a
    /// conference.
    Conference {
        /// The authenticated agent.
        agent: String,
        /// The call id from the path.
        call: u64,
        /// The agent's consultation call.
        consult: u64,
    },
    /// `POST /api/bots/{name}/pause` or `/resume`: while paused, a
    /// customer agent hands every conversation off (a default trigger).
    PauseBot {
        /// The authenticated agent.
        agent: String,
        /// The bot's name.
        bot: String,
        /// Pause (true) or resume (false).
        paused: bool,
    },
    /// `GET /api/campaigns/{name}/records?after=ID&limit=N`: a page of the
    /// campaign's customer records, by id (at most 1,000; 100 by default).
    ListRecords {
        /// The authenticated agent.
        agent: String,
        /// The campaign.
        campaign: String,
        /// Records with ids above this.
        after: i64,
        /// At most this many.
        limit: usize,
    },
    /// `GET /api/records/{id}`: one customer record.
    Record {
        /// The authenticated agent.
        agent: String,
        /// The record.
        id: i64,
    },
    /// `PUT /api/records/{id}` with `{"version": 3, "fields": {...}}`:
    /// the fields change if the record is still at that version.
    EditRecord {
        /// The authenticated agent.
        agent: String,
        /// The record.
        id: i64,
        /// The version the agent read.
        version: u64,
        /// The fields to change.
        fields: BTreeMap<String, String>,
    },
    /// `POST /api/agents/{name}/accept` or `/decline`: the call offered to
    /// the agent in the panel (a campaign with `handling web_panel`).
    AnswerOffer {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
        /// Accept (true) or decline.
        accept: bool,
    },
    /// `POST /api/agents/{name}/recording/pause` or `/resume`: the
    /// recording of the agent's current call.
    PauseRecording {
        /// The authenticated agent (equal to `{name}`).
        agent: String,
        /// Pause (true) or resume (false).
        paused: bool,
    },
    /// `GET /api/recordings?limit=N`: recorded conversations, newest first
    /// (supervisors).
    ListRecordings {
        /// The authenticated agent.
        agent: String,
        /// At most this many (100 by default, at most 1,000).
        limit: usize,
    },
    /// `GET /api/recordings/{id}` (its index row) or
    /// `GET /api/recordings/{id}/audio` (the WAV file): supervisors. The
    /// controller's answer carries the file's `path`, which the API reads
    /// and never shows.
    Recording {
        /// The authenticated agent.
        agent: String,
        /// The recording.
        id: i64,
    },
    /// `POST /api/tickets/{id}/close`: the ticket's owner or a supervisor
    /// closes it (its SLA alerts clear).
    CloseTicket {
        /// The authenticated agent.
        agent: String,
        /// The ticket.
        id: i64,
    },
    /// `GET /api/callbacks`.
    ListCallbacks {
        /// The authenticated agent.
        agent: String,
    },
    /// `POST /api/callbacks` with a JSON object body, validated by the
    /// controller.
    CreateCallback {
        /// The authenticated agent.
        agent: String,
        /// The request body, a JSON object.
        body: Value,
    },
    /// `PUT /api/callbacks/{id}` with a JSON object body, validated by the
    /// controller.
    UpdateCallback {
        /// The authenticated agent.
        agent: String,
        /// The callback id from the path.
        id: i64,
        /// The request body, a JSON object.
        body: Value,
    },
    /// `DELETE /api/callbacks/{id}`.
    CancelCallback {
        /// The authenticated agent.
        agent: String,
        /// The callback id from the path.
        id: i64,
    },
    /// `POST /api/web-callbacks` with a JSON object body, authenticated with
    /// the web token rather than an agent's credentials.
    WebCallback {
        /// The request body, a JSON object.
        body: Value,
    },
    /// `GET /api/status`: the runtime's status, for any authenticated agent.
    Status,
    /// `GET /api/wallboard`: queues, agents and alerts, for supervisors.
    Wallboard {
        /// The authenticated agent (a supervisor).
        agent: String,
    },
    /// `POST /api/wallboard/agents/{name}/{not-ready,logout}`.
    Supervise {
        /// The authenticated supervisor.
        supervisor: String,
        /// The agent acted on.
        agent: String,
        /// Log out (else not ready).
        logout: bool,
    },
    /// `POST /api/agents/{name}/call/{action}`: call control from the desktop.
    CallControl {
        /// The authenticated agent.
        agent: String,
        /// What to do.
        action: CallAction,
    },
}

impl ApiRequest {
    /// The authenticated agent making the request, if an agent made it.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Self::Agent { agent }
            | Self::Login { agent }
            | Self::Logout { agent }
            | Self::Ready { agent }
            | Self::NotReady { agent, .. }
            | Self::ExtraWrapUp { agent }
            | Self::WrapUp { agent, .. }
            | Self::CallData { agent, .. }
            | Self::EditCallData { agent, .. }
            | Self::Conference { agent, .. }
            | Self::PauseBot { agent, .. }
            | Self::ListCallbacks { agent }
            | Self::PauseRecording { agent, .. }
            | Self::AnswerOffer { agent, .. }
            | Self::ListRecordings { agent, .. }
            | Self::Recording { agent, .. }
            | Self::CloseTicket { agent, .. }
            | Self::ListRecords { agent, .. }
            | Self::Record { agent, .. }
            | Self::EditRecord { agent, .. }
            | Self::CreateCallback { agent, .. }
            | Self::UpdateCallback { agent, .. }
            | Self::CancelCallback { agent, .. }
            | Self::Wallboard { agent }
            | Self::CallControl { agent, .. } => Some(agent),
            Self::Supervise { supervisor, .. } => Some(supervisor),
            Self::WebCallback { .. } | Self::Status => None,
        }
    }
}

/// The credentials the API accepts.
#[derive(Clone, Default)]
pub struct Auth {
    /// Agent name to password, checked with HTTP Basic authentication.
    pub agents: HashMap<String, String>,
    /// The bearer token for `POST /api/web-callbacks`; `None` disables that
    /// endpoint (403).
    pub web_token: Option<String>,
    /// Failed logins throttled per source and per name (shared with SIP
    /// digest and the admin API); `None` does not throttle.
    pub throttle: Option<Throttle>,
    /// The desktop's browser sessions.
    pub sessions: Arc<Sessions>,
    /// The live events the desktop and wallboard sockets show; `None`
    /// refuses those sockets.
    pub feed: Option<crate::eventlog::EventLog>,
    /// Session cookies are `Secure` (the API is served over HTTPS).
    pub secure_cookies: bool,
    /// The browser phone's gateway, when some agent's phone is the browser.
    pub phones: Option<crate::webphone::Handle>,
}

/// Failed logins, shared by every front door.
pub type Throttle = Arc<std::sync::Mutex<crate::guard::LoginThrottle>>;

/// Throttles password guessing on an HTTP front door: an attempt with
/// credentials from a source, or for a name, that failed too often lately
/// gets 429 with `Retry-After` before anything is checked; each 401 to an
/// attempt with credentials counts as a failure, logged with its source.
/// Requests without credentials are not counted (they guess nothing).
/// Needs the connection's address (`into_make_service_with_connect_info`);
/// without it nothing is throttled.
pub async fn throttle_logins(
    State(throttle): State<Throttle>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let name = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(login_name);
    let (Some(peer), Some(name)) = (peer, name) else {
        return next.run(request).await;
    };
    let now = std::time::Instant::now();
    // A token names nobody: only its source is throttled.
    let user = Some(name.as_str()).filter(|n| !n.starts_with('<'));
    let locked = throttle
        .lock()
        .map(|mut t| t.allowed(peer, user, now))
        .unwrap_or(Ok(()));
    if let Err(wait) = locked {
        tracing::warn!(source = %peer, name, "login refused: too many failed logins");
        return locked_out(wait);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        tracing::warn!(source = %peer, name, "failed login");
        if let Ok(mut t) = throttle.lock() {
            t.failure(peer, user, now);
        }
    } else if response.status().is_success()
        && let Some(user) = user
        && let Ok(mut t) = throttle.lock()
    {
        t.success(user);
    }
    response
}

/// 429 to a login from a source or for a name that failed too often, with
/// `Retry-After`.
fn locked_out(wait: Duration) -> Response {
    let mut response = Refusal::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed logins: try again later",
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The name an `Authorization` value logs in as: a Basic user name, or the
/// scheme for a token.
fn login_name(value: &str) -> String {
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic")
        && let Some(name) = decode_base64(token.trim())
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|t| t.split_once(':').map(|(n, _)| n.to_owned()))
    {
        return name;
    }
    format!("<{}>", scheme.to_ascii_lowercase())
}

impl fmt::Debug for Auth {
    /// Names the agents but never shows passwords or the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut agents: Vec<&str> = self.agents.keys().map(String::as_str).collect();
        agents.sort_unstable();
        f.debug_struct("Auth")
            .field("agents", &agents)
            .field("web_token", &self.web_token.as_ref().map(|_| "<redacted>"))
            .field("throttle", &self.throttle.is_some())
            .finish()
    }
}

/// Serves the API on `listener` until it fails, sending each request to the
/// controller over `calls`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    auth: Arc<Auth>,
    calls: mpsc::Sender<ApiCall>,
) -> std::io::Result<()> {
    axum::serve(listener, router(auth, calls)).await
}

/// Serves the API and the chat channel (WebSockets): customers at
/// `/chat/{bot}?name=...`, agents at `/api/agents/{name}/chat`; over HTTP
/// or HTTPS, as the listener is.
pub async fn serve_with_chat(
    listener: crate::tls::HttpListener,
    auth: Arc<Auth>,
    calls: mpsc::Sender<ApiCall>,
    chats: mpsc::Sender<ChatEvent>,
    limits: crate::tls::HttpLimits,
) -> std::io::Result<()> {
    listener
        .serve(routes(auth, calls, Some(chats)), limits)
        .await
}

/// The API's routes, for [`serve`] and for tests.
pub fn router(auth: Arc<Auth>, calls: mpsc::Sender<ApiCall>) -> Router {
    routes(auth, calls, None)
}

fn routes(
    auth: Arc<Auth>,
    calls: mpsc::Sender<ApiCall>,
    chats: Option<mpsc::Sender<ChatEvent>>,
) -> Router {
    let throttle = auth.throttle.clone();
    let router = Router::new()
        .route("/chat/{bot}", get(customer_chat))
        .route("/api/agents/{name}/chat", get(agent_chat))
        .route("/api/agents/{name}", get(agent))
        .route("/api/agents/{name}/login", post(login))
        .route("/api/agents/{name}/logout", post(logout))
        .route("/api/agents/{name}/ready", post(ready))
        .route("/api/agents/{name}/not-ready", post(not_ready))
        .route("/api/agents/{name}/extra-wrap-up", post(extra_wrap_up))
        .route("/api/agents/{name}/wrap-up", post(wrap_up))
        .route("/api/calls/{id}/data", get(call_data))
        .route("/api/calls/{id}/data/{name}", put(edit_call_data))
        .route("/api/calls/{id}/conference", post(conference))
        .route("/api/bots/{name}/pause", post(pause_bot))
        .route("/api/bots/{name}/resume", post(resume_bot))
        .route("/api/callbacks", get(list_callbacks).post(create_callback))
        .route("/api/campaigns/{name}/records", get(list_records))
        .route("/api/records/{id}", get(record).put(edit_record))
        .route("/api/agents/{name}/accept", post(accept_offer))
        .route("/api/agents/{name}/decline", post(decline_offer))
        .route("/api/agents/{name}/recording/pause", post(pause_recording))
        .route(
            "/api/agents/{name}/recording/resume",
            post(resume_recording),
        )
        .route("/api/recordings", get(list_recordings))
        .route("/api/tickets/{id}/close", post(close_ticket))
        .route("/api/recordings/{id}", get(recording))
        .route("/api/recordings/{id}/audio", get(recording_audio))
        .route(
            "/api/callbacks/{id}",
            put(update_callback).delete(cancel_callback),
        )
        .route("/api/web-callbacks", post(web_callback))
        .route("/api/status", get(status))
        .route("/", get(desk::home))
        .route("/desk/", get(desk::index))
        .route("/desk/{file}", get(desk::asset))
        .route("/desk/login", post(desk::login))
        .route("/desk/logout", post(desk::logout))
        .route("/desk/session", get(desk::session))
        .route("/api/agents/{name}/events", get(desk::agent_events))
        .route("/api/agents/{name}/call/{action}", post(desk::call_control))
        .route(
            "/api/agents/{name}/phone",
            post(desk::phone_attach).delete(desk::phone_detach),
        )
        .route("/api/agents/{name}/phone/{action}", post(desk::phone_pick))
        .route("/api/wallboard", get(desk::wallboard))
        .route("/api/wallboard/events", get(desk::wallboard_events))
        .route(
            "/api/wallboard/agents/{name}/{action}",
            post(desk::supervise),
        )
        // Must come after the routes: it applies to the routes added so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(Api {
            auth,
            calls,
            chats,
            open_chats: Arc::new(ChatSlots::default()),
        });
    match throttle {
        Some(throttle) => router.layer(axum::middleware::from_fn_with_state(
            throttle,
            throttle_logins,
        )),
        None => router,
    }
}

/// The state every handler shares.
#[derive(Clone)]
struct Api {
    auth: Arc<Auth>,
    calls: mpsc::Sender<ApiCall>,
    chats: Option<mpsc::Sender<ChatEvent>>,
    /// Customer chats open, per source address and in all.
    open_chats: Arc<ChatSlots>,
}

/// Customer chats open at once from one address, at most.
pub const CHATS_PER_SOURCE: usize = 16;

/// Customer chats open at once in all, at most.
pub const CHATS: usize = 4_096;

/// Counts customer chats by source, so that one host cannot open them
/// without bound (the chat's bot conversation and queues live while it is
/// open).
#[derive(Default)]
struct ChatSlots {
    open: std::sync::Mutex<HashMap<std::net::IpAddr, usize>>,
}

/// A customer chat's place, given back when the chat ends.
struct ChatSlot {
    slots: Arc<ChatSlots>,
    source: std::net::IpAddr,
}

impl ChatSlots {
    fn take(self: &Arc<Self>, source: std::net::IpAddr) -> Option<ChatSlot> {
        let mut open = self.open.lock().ok()?;
        let total: usize = open.values().sum();
        let mine = open.entry(source).or_insert(0);
        if *mine >= CHATS_PER_SOURCE || total >= CHATS {
            if *mine == 0 {
                open.remove(&source);
            }
            return None;
        }
        *mine += 1;
        Some(ChatSlot {
            slots: self.clone(),
            source,
        })
    }
}

impl Drop for ChatSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock()
            && let Some(n) = open.get_mut(&self.source)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.source);
            }
        }
    }
}

/// What chat connections tell the controller. Messages to a connection go
/// back as JSON text through the `out` channel it registered.
#[derive(Debug)]
pub enum ChatEvent {
    /// A customer opened a chat with a customer agent.
    CustomerOpened {
        /// The chat's id.
        chat: u64,
        /// The customer agent (bot) asked for.
        bot: String,
        /// The customer's name.
        name: String,
        /// Messages to the customer.
        out: mpsc::Sender<String>,
    },
    /// The customer wrote.
    CustomerSaid {
        /// The chat.
        chat: u64,
        /// The text.
        text: String,
    },
    /// The customer left (the socket closed).
    CustomerLeft {
        /// The chat.
        chat: u64,
    },
    /// An agent opened their chat desk.
    AgentOpened {
        /// The agent.
        agent: String,
        /// Messages to the agent.
        out: mpsc::Sender<String>,
    },
    /// An agent wrote in a chat.
    AgentSaid {
        /// The agent.
        agent: String,
        /// The chat.
        chat: u64,
        /// The text.
        text: String,
    },
    /// An agent closed a chat.
    AgentClosed {
        /// The agent.
        agent: String,
        /// The chat.
        chat: u64,
    },
    /// An agent's desk closed.
    AgentLeft {
        /// The agent.
        agent: String,
    },
}

/// Messages a chat connection may have queued, at most.
const CHAT_QUEUE: usize = 64;

/// The longest chat message, in bytes.
const CHAT_MESSAGE: usize = 4_096;

/// The largest WebSocket message or frame a chat connection may send
/// (64 KiB): a larger one closes the connection before it is buffered.
pub const CHAT_MESSAGE_BYTES: usize = 64 * 1024;

/// The query of `/chat/{bot}`.
#[derive(Deserialize)]
struct ChatQuery {
    #[serde(default)]
    name: Option<String>,
}

async fn customer_chat(
    State(api): State<Api>,
    params: Params,
    axum::extract::Query(query): axum::extract::Query<ChatQuery>,
    request: axum::http::request::Parts,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let Some(chats) = api.chats.clone() else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "the chat channel is off",
        ));
    };
    // Without the connection's address (a router served without it, as in
    // unit tests), chats count against one shared source.
    let source = request
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let Some(slot) = api.open_chats.take(source) else {
        return Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many chats open: at most {CHATS_PER_SOURCE} from one address, {CHATS} in all"
            ),
        ));
    };
    let bot = params.text("bot")?.to_owned();
    let name = query.name.unwrap_or_else(|| "customer".into());
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let chat = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let upgrade = upgrade
        .max_message_size(CHAT_MESSAGE_BYTES)
        .max_frame_size(CHAT_MESSAGE_BYTES);
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot = slot;
        let (out, mut outgoing) = mpsc::channel(CHAT_QUEUE);
        if chats
            .send(ChatEvent::CustomerOpened {
                chat,
                bot,
                name,
                out,
            })
            .await
            .is_err()
        {
            return;
        }
        pump_socket(
            socket,
            &mut outgoing,
            |text| {
                let text = chat_text(&text)?;
                Some(ChatEvent::CustomerSaid { chat, text })
            },
            &chats,
        )
        .await;
        let _ = chats.send(ChatEvent::CustomerLeft { chat }).await;
    }))
}

async fn agent_chat(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let Some(chats) = api.chats.clone() else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "the chat channel is off",
        ));
    };
    let upgrade = upgrade
        .max_message_size(CHAT_MESSAGE_BYTES)
        .max_frame_size(CHAT_MESSAGE_BYTES);
    Ok(upgrade.on_upgrade(move |socket| async move {
        let (out, mut outgoing) = mpsc::channel(CHAT_QUEUE);
        if chats
            .send(ChatEvent::AgentOpened {
                agent: agent.clone(),
                out,
            })
            .await
            .is_err()
        {
            return;
        }
        let me = agent.clone();
        pump_socket(
            socket,
            &mut outgoing,
            move |text| {
                let value: Value = serde_json::from_str(&text).ok()?;
                let chat = value.get("chat")?.as_u64()?;
                match value.get("type")?.as_str()? {
                    "message" => Some(ChatEvent::AgentSaid {
                        agent: me.clone(),
                        chat,
                        text: chat_text(&text)?,
                    }),
                    "close" => Some(ChatEvent::AgentClosed {
                        agent: me.clone(),
                        chat,
                    }),
                    _ => None,
                }
            },
            &chats,
        )
        .await;
        let _ = chats.send(ChatEvent::AgentLeft { agent }).await;
    }))
}

/// The text of a chat message: `{"type": "message", "text": "..."}`, or
/// plain text; at most [`CHAT_MESSAGE`] bytes.
fn chat_text(raw: &str) -> Option<String> {
    if raw.len() > CHAT_MESSAGE {
        return None;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value) => value.get("text")?.as_str().map(str::to_owned),
        Err(_) => Some(raw.trim().to_owned()).filter(|t| !t.is_empty()),
    }
}

/// Relays one WebSocket: what the controller sends goes out as text; what
/// comes in is turned into events by `incoming`. Ends when either side
/// closes.
async fn pump_socket(
    mut socket: axum::extract::ws::WebSocket,
    outgoing: &mut mpsc::Receiver<String>,
    mut incoming: impl FnMut(String) -> Option<ChatEvent>,
    chats: &mpsc::Sender<ChatEvent>,
) {
    use axum::extract::ws::Message as Ws;
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(text) => {
                    if socket.send(Ws::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = socket.send(Ws::Close(None)).await;
                    break;
                }
            },
            message = socket.recv() => match message {
                Some(Ok(Ws::Text(text))) => {
                    if let Some(event) = incoming(text.to_string())
                        && chats.send(event).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

impl Api {
    /// Hands `request` to the controller and waits for its reply.
    async fn call(&self, request: ApiRequest) -> Result<ApiReply, Refusal> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .try_send(ApiCall { request, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => Refusal::busy(),
                mpsc::error::TrySendError::Closed(_) => Refusal::shutting_down(),
            })?;
        match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
            Ok(Ok(reply)) => Ok(reply),
            // The controller dropped the call unanswered: it is going away.
            Ok(Err(_)) => Err(Refusal::shutting_down()),
            Err(_) => Err(Refusal::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the runtime did not answer within {} s",
                    REPLY_TIMEOUT.as_secs()
                ),
            )),
        }
    }

    /// The agent named by the request's Basic credentials.
    fn agent(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        if !headers.contains_key(header::AUTHORIZATION)
            && let Some(id) = desk::session_id(headers)
        {
            return self.session_agent(headers, id);
        }
        let unauthorized = |message: &str| Refusal::unauthorized("Basic", message);
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing credentials: use HTTP Basic authentication"))?;
        let malformed =
            || unauthorized("malformed Authorization header: expected Basic credentials");
        let (scheme, token) = value
            .to_str()
            .ok()
            .and_then(|value| value.trim().split_once(' '))
            .ok_or_else(malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(malformed());
        }
        let decoded = decode_base64(token.trim()).ok_or_else(malformed)?;
        let text = String::from_utf8(decoded).map_err(|_| malformed())?;
        let (name, password) = text.split_once(':').ok_or_else(malformed)?;
        let matches = match self.auth.agents.get(name) {
            Some(expected) => constant_time_eq(password.as_bytes(), expected.as_bytes()),
            None => {
                // Do the same work for an unknown agent as for a known one,
                // so that timing does not tell which names exist.
                constant_time_eq(password.as_bytes(), password.as_bytes());
                false
            }
        };
        if matches {
            Ok(name.to_owned())
        } else {
            Err(unauthorized("unknown agent or wrong password"))
        }
    }

    /// The authenticated agent, who must be the agent named in the path.
    fn own_agent(&self, headers: &HeaderMap, params: &Params) -> Result<String, Refusal> {
        let agent = self.agent(headers)?;
        let name = params.text("name")?;
        if agent == name {
            Ok(agent)
        } else {
            Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!("agent {agent} cannot act for {name}"),
            ))
        }
    }

    /// Checks the request's bearer token against the web token.
    fn web_client(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(expected) = &self.auth.web_token else {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "web callbacks are disabled: no web token is configured",
            ));
        };
        let unauthorized = |message: &str| Refusal::unauthorized("Bearer", message);
        let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized("missing credentials: use Authorization: Bearer <web token>")
        })?;
        let malformed = || unauthorized("malformed Authorization header: expected a Bearer token");
        let (scheme, token) = value
            .to_str()
            .ok()
            .and_then(|value| value.trim().split_once(' '))
            .ok_or_else(malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(malformed());
        }
        if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(unauthorized("wrong web token"))
        }
    }
}

/// An error the HTTP layer answers itself: `{"error": message}`, with a
/// `WWW-Authenticate` challenge for 401.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
    /// The authentication scheme to challenge with, for 401.
    challenge: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            challenge: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(scheme: &'static str, message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.to_owned(),
            challenge: Some(scheme),
        }
    }

    fn busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the runtime is busy, try again",
        )
    }

    fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the runtime is shutting down",
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(scheme) = self.challenge {
            let challenge = format!("{scheme} realm=\"{REALM}\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// The route's path parameters, percent-decoded. Extraction never fails, so
/// that authentication is checked before the path.
struct Params(Result<RawPathParams, RawPathParamsRejection>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(RawPathParams::from_request_parts(parts, state).await))
    }
}

impl Params {
    /// The parameter `name` as text.
    fn text(&self, name: &str) -> Result<&str, Refusal> {
        let params = self
            .0
            .as_ref()
            .map_err(|rejection| Refusal::bad_request(rejection.body_text()))?;
        params
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value))
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the route has no path parameter `{name}`"),
                )
            })
    }

    /// The parameter `name` as a number.
    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, Refusal> {
        let text = self.text(name)?;
        text.parse().map_err(|_| {
            Refusal::bad_request(format!(
                "path parameter `{name}` must be a number, not {text:?}"
            ))
        })
    }
}

async fn agent(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::Agent { agent }).await
}

async fn login(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::Login { agent }).await
}

async fn logout(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::Logout { agent }).await
}

async fn ready(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::Ready { agent }).await
}

/// The body of `POST /api/agents/{name}/not-ready`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct NotReadyBody {
    #[serde(deserialize_with = "reason_field")]
    reason: String,
}

async fn extra_wrap_up(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::ExtraWrapUp { agent }).await
}

async fn not_ready(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let NotReadyBody { reason } = parse_body(&headers, body).await?;
    let length = reason.chars().count();
    if !(1..=REASON_MAX_CHARS).contains(&length) {
        return Err(Refusal::bad_request(format!(
            "field `reason` must be 1 to {REASON_MAX_CHARS} characters long, not {length}"
        )));
    }
    api.call(ApiRequest::NotReady { agent, reason }).await
}

/// The body of `POST /api/agents/{name}/wrap-up`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct WrapUpBody {
    #[serde(deserialize_with = "classifier_field")]
    classifier: String,
    #[serde(default, deserialize_with = "fields_field")]
    fields: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "call_field")]
    call: Option<u64>,
}

fn call_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    named(deserializer, "call")
}

async fn wrap_up(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    let WrapUpBody {
        classifier,
        fields,
        call,
    } = parse_body(&headers, body).await?;
    api.call(ApiRequest::WrapUp {
        agent,
        classifier,
        fields,
        call,
    })
    .await
}

async fn call_data(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let call = params.number("id")?;
    api.call(ApiRequest::CallData { agent, call }).await
}

/// The body of `PUT /api/calls/{id}/data/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct EditCallDataBody {
    #[serde(deserialize_with = "value_field")]
    value: String,
    #[serde(deserialize_with = "version_field")]
    version: u64,
}

async fn edit_call_data(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let call = params.number("id")?;
    let name = params.text("name")?.to_owned();
    let EditCallDataBody { value, version } = parse_body(&headers, body).await?;
    api.call(ApiRequest::EditCallData {
        agent,
        call,
        name,
        value,
        version,
    })
    .await
}

/// The body of `POST /api/calls/{id}/conference`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ConferenceBody {
    #[serde(deserialize_with = "consult_field")]
    consult: u64,
}

async fn conference(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let call = params.number("id")?;
    let ConferenceBody { consult } = parse_body(&headers, body).await?;
    api.call(ApiRequest::Conference {
        agent,
        call,
        consult,
    })
    .await
}

async fn pause_bot(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let bot = params.text("name")?.to_owned();
    api.call(ApiRequest::PauseBot {
        agent,
        bot,
        paused: true,
    })
    .await
}

async fn resume_bot(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let bot = params.text("name")?.to_owned();
    api.call(ApiRequest::PauseBot {
        agent,
        bot,
        paused: false,
    })
    .await
}

/// Most records one page lists.
const MAX_PAGE: usize = 1_000;

async fn list_records(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    RawQuery(query): RawQuery,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let campaign = params.text("name")?.to_owned();
    let (mut after, mut limit) = (0_i64, 100_usize);
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |name: &str| {
            Refusal::bad_request(format!(
                "query parameter `{name}` must be a whole number, not {value:?}"
            ))
        };
        match key {
            "after" => after = value.parse().map_err(|_| number("after"))?,
            "limit" => {
                limit = value.parse().map_err(|_| number("limit"))?;
                if !(1..=MAX_PAGE).contains(&limit) {
                    return Err(Refusal::bad_request(format!(
                        "query parameter `limit` must be 1 to {MAX_PAGE}, not {limit}"
                    )));
                }
            }
            other => {
                return Err(Refusal::bad_request(format!(
                    "unknown query parameter `{other}`: use `after` and `limit`"
                )));
            }
        }
    }
    api.call(ApiRequest::ListRecords {
        agent,
        campaign,
        after,
        limit,
    })
    .await
}

async fn accept_offer(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::AnswerOffer {
        agent,
        accept: true,
    })
    .await
}

async fn decline_offer(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::AnswerOffer {
        agent,
        accept: false,
    })
    .await
}

async fn close_ticket(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    api.call(ApiRequest::CloseTicket { agent, id }).await
}

async fn pause_recording(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::PauseRecording {
        agent,
        paused: true,
    })
    .await
}

async fn resume_recording(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.own_agent(&headers, &params)?;
    api.call(ApiRequest::PauseRecording {
        agent,
        paused: false,
    })
    .await
}

async fn list_recordings(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let mut limit = 100_usize;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("limit", value) => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        Refusal::bad_request(format!(
                            "query parameter `limit` must be 1 to {MAX_PAGE}, not {value:?}"
                        ))
                    })?;
            }
            (other, _) => {
                return Err(Refusal::bad_request(format!(
                    "unknown query parameter `{other}`: use `limit`"
                )));
            }
        }
    }
    api.call(ApiRequest::ListRecordings { agent, limit }).await
}

async fn recording(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    let mut reply = api.call(ApiRequest::Recording { agent, id }).await?;
    if let Some(body) = reply.body.as_object_mut() {
        body.remove("path");
    }
    Ok(reply)
}

/// The WAV file of a recording, streamed in 64 kB chunks (a long call's
/// file is never held in memory).
async fn recording_audio(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    let reply = api.call(ApiRequest::Recording { agent, id }).await?;
    let path = match reply.body.get("path").and_then(Value::as_str) {
        Some(path) if reply.status == 200 => std::path::PathBuf::from(path),
        _ => return Ok(reply.into_response()),
    };
    let file = tokio::fs::File::open(&path).await.map_err(|error| {
        tracing::error!(file = %path.display(), "a recording cannot be read: {error}");
        Refusal::new(
            StatusCode::GONE,
            format!("recording {id} is indexed but its file cannot be read"),
        )
    })?;
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0u8; 1 << 16];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(chunk), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "audio/wav")],
        Body::from_stream(chunks),
    )
        .into_response())
}

async fn record(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    api.call(ApiRequest::Record { agent, id }).await
}

/// The body of `PUT /api/records/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct EditRecordBody {
    #[serde(deserialize_with = "version_field")]
    version: u64,
    #[serde(deserialize_with = "fields_field")]
    fields: BTreeMap<String, String>,
}

async fn edit_record(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    let EditRecordBody { version, fields } = parse_body(&headers, body).await?;
    api.call(ApiRequest::EditRecord {
        agent,
        id,
        version,
        fields,
    })
    .await
}

async fn list_callbacks(State(api): State<Api>, headers: HeaderMap) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    api.call(ApiRequest::ListCallbacks { agent }).await
}

async fn create_callback(
    State(api): State<Api>,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let body = object_body(&headers, body).await?;
    api.call(ApiRequest::CreateCallback { agent, body }).await
}

async fn update_callback(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    let body = object_body(&headers, body).await?;
    api.call(ApiRequest::UpdateCallback { agent, id, body })
        .await
}

async fn cancel_callback(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Params,
) -> Result<ApiReply, Refusal> {
    let agent = api.agent(&headers)?;
    let id = params.number("id")?;
    api.call(ApiRequest::CancelCallback { agent, id }).await
}

async fn web_callback(
    State(api): State<Api>,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiReply, Refusal> {
    api.web_client(&headers)?;
    let body = object_body(&headers, body).await?;
    api.call(ApiRequest::WebCallback { body }).await
}

async fn status(State(api): State<Api>, headers: HeaderMap) -> Result<ApiReply, Refusal> {
    api.agent(&headers)?;
    api.call(ApiRequest::Status).await
}

async fn not_found(method: Method, uri: Uri) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Refusal {
    // axum adds the `Allow` header listing the methods the path takes.
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

/// Reads a JSON body that must be an object, for the controller to validate.
async fn object_body(headers: &HeaderMap, body: Body) -> Result<Value, Refusal> {
    let value = json_body(headers, body).await?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(Refusal::bad_request(
            "invalid request body: expected a JSON object",
        ))
    }
}

/// Reads a JSON body into `T`, naming the offending field in errors.
async fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, Refusal> {
    let value = json_body(headers, body).await?;
    serde_json::from_value(value)
        .map_err(|error| Refusal::bad_request(format!("invalid request body: {error}")))
}

/// Reads a body of at most [`BODY_LIMIT`] bytes and parses it as JSON.
async fn json_body(headers: &HeaderMap, body: Body) -> Result<Value, Refusal> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE)
        && !is_json(content_type)
    {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the request body must be JSON (Content-Type: application/json), not {}",
                String::from_utf8_lossy(content_type.as_bytes())
            ),
        ));
    }
    let bytes = read_body(headers, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::bad_request(
            "the request body is empty: expected a JSON object",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        Refusal::bad_request(format!("the request body is not valid JSON: {error}"))
    })
}

/// Whether a `Content-Type` is JSON: `application/json` or `*/*+json`, with
/// any parameters.
fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(text) = content_type.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

/// Reads the whole body, refusing with 413 one over [`BODY_LIMIT`] bytes.
async fn read_body(headers: &HeaderMap, mut body: Body) -> Result<Vec<u8>, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {BODY_LIMIT} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        drain(body).await;
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(data) = next_data(&mut body).await {
        let data = data.map_err(|error| {
            Refusal::bad_request(format!("could not read the request body: {error}"))
        })?;
        if let Some(data) = data {
            if bytes.len().saturating_add(data.len()) > BODY_LIMIT {
                drain(body).await;
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// The data of the body's next frame (`None` for trailers), or `None` at the
/// end of the body.
async fn next_data(body: &mut Body) -> Option<Result<Option<Bytes>, axum::Error>> {
    let frame = std::future::poll_fn(|context| Pin::new(&mut *body).poll_frame(context)).await?;
    Some(frame.map(|frame| frame.into_data().ok()))
}

/// Reads and discards up to [`DRAIN_LIMIT`] bytes of a refused body, for at
/// most a second, so that the client can read the refusal instead of being
/// reset mid-upload.
async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0usize;
        while let Some(Ok(data)) = next_data(&mut body).await {
            seen = seen.saturating_add(data.map_or(0, |data| data.len()));
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), discard).await;
}

/// Deserializes one field, naming it in the error: serde's own type errors
/// ("invalid type: integer `5`, expected a string") do not say which field.
fn named<'de, D, T>(deserializer: D, field: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer)
        .map_err(|error| D::Error::custom(format!("field `{field}`: {error}")))
}

fn reason_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    named(deserializer, "reason")
}

fn classifier_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    named(deserializer, "classifier")
}

fn fields_field<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    named(deserializer, "fields")
}

fn value_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    named(deserializer, "value")
}

fn consult_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    named(deserializer, "consult")
}

fn version_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    named(deserializer, "version")
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    std::hint::black_box(difference) == 0
}

/// Decodes standard base64 (RFC 4648 §4), with or without `=` padding.
/// Returns `None` for anything else, including non-zero trailing bits.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let data = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    if data.len() != bytes.len() && !bytes.len().is_multiple_of(4) {
        return None;
    }
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in data {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // The bits left over are padding and must be zero.
    (buffer == 0).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_padded_and_unpadded() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zg").unwrap(), b"f");
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm8").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(decode_base64("YWxpY2U6czNjcjN0").unwrap(), b"alice:s3cr3t");
        assert_eq!(decode_base64("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn base64_rejects_malformed_input() {
        for bad in [
            "Z", "Zm9vY", "Zg=", "Zh==", "Zm9=", "Zm9v!", "Zm 9v", "=", "Zg===", "Z=g=",
        ] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn constant_time_eq_compares_bytes_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret\0"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn json_content_types() {
        for good in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json(&HeaderValue::from_static(good)), "{good}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
        ] {
            assert!(!is_json(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
