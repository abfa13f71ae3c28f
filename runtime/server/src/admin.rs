//! The admin API (HTTP with JSON) and the Prometheus metrics endpoint.
//! It listens on loopback by default, and every request needs the admin
//! token (`Authorization: Bearer ...`): no token configured, no access.
//! Like the agent API, it holds no state: each request goes to the
//! controller over a bounded channel and the reply comes back.
//!
//! | Method | Path              | Does                                       |
//! |--------|-------------------|--------------------------------------------|
//! | `GET`  | `/admin/status`   | versions, calls per version, queues, agents, refusals |
//! | `POST` | `/admin/reload`   | loads the flows again and swaps them in    |
//! | `POST` | `/admin/rollback` | restores the previous version              |
//! | `GET`  | `/metrics`        | Prometheus text format                     |

use crate::api::ApiReply;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a request waits for the controller (a reload loads and checks
/// every flow first).
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What the admin API asks of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRequest {
    /// The runtime's status.
    Status,
    /// Load the flows again and swap them in.
    Reload,
    /// Restore the previous version.
    Rollback,
    /// The metrics, in Prometheus text format (the reply's body is a JSON
    /// string).
    Metrics,
}

/// One admin request with its reply channel.
#[derive(Debug)]
pub struct AdminCall {
    /// The request.
    pub request: AdminRequest,
    /// Where the controller answers.
    pub reply: oneshot::Sender<ApiReply>,
}

#[derive(Clone)]
struct Admin {
    token: Option<Arc<str>>,
    calls: mpsc::Sender<AdminCall>,
}

/// Serves the admin API on `listener` until it fails.
/// Wrong tokens count against `throttle` (shared with every login).
pub async fn serve(
    listener: crate::tls::HttpListener,
    token: Option<String>,
    calls: mpsc::Sender<AdminCall>,
    throttle: crate::api::Throttle,
    limits: crate::tls::HttpLimits,
) -> std::io::Result<()> {
    let router = router(token, calls).layer(axum::middleware::from_fn_with_state(
        throttle,
        crate::api::throttle_logins,
    ));
    listener.serve(router, limits).await
}

/// The admin routes.
pub fn router(token: Option<String>, calls: mpsc::Sender<AdminCall>) -> Router {
    let admin = Admin {
        token: token.filter(|t| !t.is_empty()).map(Arc::from),
        calls,
    };
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/reload", post(reload))
        .route("/admin/rollback", post(rollback))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiReply::error(
                404,
                "no such admin endpoint: /admin/status, /admin/reload, /admin/rollback, /metrics",
            )
        })
        .with_state(admin)
}

fn check(admin: &Admin, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let refuse = |message: &str| {
        let mut response = ApiReply::error(401, message).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"dialect-admin\""),
        );
        Box::new(response)
    };
    let Some(expected) = &admin.token else {
        return Err(refuse(
            "the admin API has no token configured ([admin] token): no access",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => Err(refuse("missing token: send Authorization: Bearer <token>")),
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(refuse("wrong token")),
    }
}

/// Compares in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

async fn ask(admin: &Admin, request: AdminRequest) -> ApiReply {
    let (reply, answer) = oneshot::channel();
    if admin.calls.try_send(AdminCall { request, reply }).is_err() {
        return ApiReply::error(503, "the runtime is busy or shutting down");
    }
    match tokio::time::timeout(ADMIN_TIMEOUT, answer).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => ApiReply::error(503, "the runtime is shutting down"),
        Err(_) => ApiReply::error(504, "the runtime did not answer in time"),
    }
}

async fn status(
    axum::extract::State(admin): axum::extract::State<Admin>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = check(&admin, &headers) {
        return *refused;
    }
    ask(&admin, AdminRequest::Status).await.into_response()
}

async fn reload(
    axum::extract::State(admin): axum::extract::State<Admin>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = check(&admin, &headers) {
        return *refused;
    }
    ask(&admin, AdminRequest::Reload).await.into_response()
}

async fn rollback(
    axum::extract::State(admin): axum::extract::State<Admin>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = check(&admin, &headers) {
        return *refused;
    }
    ask(&admin, AdminRequest::Rollback).await.into_response()
}

async fn metrics(
    axum::extract::State(admin): axum::extract::State<Admin>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = check(&admin, &headers) {
        return *refused;
    }
    let reply = ask(&admin, AdminRequest::Metrics).await;
    match reply.body.as_str() {
        Some(text) if reply.status == 200 => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            text.to_string(),
        )
            .into_response(),
        _ => reply.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
