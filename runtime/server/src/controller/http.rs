//! The flows' own HTTP (`api_login`, `api_request`): the engine asks
//! (`Command::Http`), the request goes out through the services (off the
//! controller, with the block's time limit, no redirects, a bounded body)
//! and the answer comes back as `Event::HttpResult`; the engine's timer
//! takes the `timeout` exit if it is late (a late answer is ignored).
//!
//! Only URLs the configuration allows are called (`[http] allow`); any
//! other is refused at once (`http_refused`, status 0: the block's
//! `error` exit), so a flow cannot be turned against the internal network.
//! A login posts `{"user": ..., "password": ...}` with the secret named by
//! the block from the configuration; its token is cached (by URL and
//! user) until the `expires_in` seconds its answer gives, and later
//! requests of the call carry it as `Authorization: Bearer`. Secrets and
//! tokens are never logged.

use super::{Core, fields};
use crate::services::{HttpFailure, HttpPurpose};
use dialect_engine::{Event, HttpAuth};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long after its block's time limit a request is abandoned.
const TIMEOUT_MARGIN_MS: u64 = 500;

/// Tokens cached at most; the one expiring first makes room.
const TOKENS: usize = 1_024;

/// Login tokens by (URL, user), with when they expire.
#[derive(Default)]
pub(super) struct Tokens(HashMap<(String, String), (String, Instant)>);

impl Tokens {
    fn get(&self, key: &(String, String), now: Instant) -> Option<&str> {
        self.0
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(token, _)| token.as_str())
    }

    fn put(&mut self, key: (String, String), token: String, until: Instant) {
        if self.0.len() >= TOKENS && !self.0.contains_key(&key) {
            let first = self
                .0
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| k.clone());
            if let Some(first) = first {
                self.0.remove(&first);
            }
        }
        self.0.insert(key, (token, until));
    }
}

/// Why a URL is not called.
const NOT_ALLOWED: &str = "not an allowed URL: add its prefix to [http] allow in the configuration";

impl Core {
    /// Logs a request the flows may not make (`http_refused`).
    fn http_refused(&self, call_key: u64, url: &str, reason: String) {
        self.record(
            call_key,
            "http_refused",
            fields([("url", url.into()), ("reason", reason.into())]),
        );
    }

    /// A flow's HTTP request: refused, answered from the token cache, or
    /// sent.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn flow_http(
        &mut self,
        call_key: u64,
        request: u32,
        method: String,
        url: String,
        body: Option<String>,
        auth: HttpAuth,
        timeout_ms: u64,
    ) {
        let refuse = |core: &mut Core, reason: String| {
            core.http_refused(call_key, &url, reason);
            core.pending.push_back((
                call_key,
                Event::HttpResult {
                    request,
                    status: 0,
                    body: String::new(),
                },
            ));
        };
        if !self.config.http.allows(&url) {
            return refuse(self, NOT_ALLOWED.into());
        }
        let (body, bearer, purpose) = match auth {
            HttpAuth::None => (
                body.map(|b| (b, "application/json")),
                None,
                HttpPurpose::Request(request),
            ),
            HttpAuth::Bearer(token) => (
                body.map(|b| (b, "application/json")),
                Some(token),
                HttpPurpose::Request(request),
            ),
            HttpAuth::Login { user, secret } => {
                let user = user.unwrap_or_default();
                let key = (url.clone(), user.clone());
                if let Some(token) = self.tokens.get(&key, self.now) {
                    self.record(
                        call_key,
                        "http",
                        fields([
                            ("url", url.clone().into()),
                            ("status", 200.into()),
                            ("cached", true.into()),
                        ]),
                    );
                    let body = json!({ "token": token }).to_string();
                    self.pending.push_back((
                        call_key,
                        Event::HttpResult {
                            request,
                            status: 200,
                            body,
                        },
                    ));
                    return;
                }
                let password = match secret.as_deref() {
                    Some(name) => match self.config.http.secret(name) {
                        Some(value) => value,
                        None => {
                            return refuse(
                                self,
                                format!(
                                    "the secret `{name}` is not configured ([http.secrets] or DIALECT_SECRET_{})",
                                    name.to_ascii_uppercase()
                                ),
                            );
                        }
                    },
                    None => String::new(),
                };
                let body = json!({ "user": user, "password": password }).to_string();
                (
                    Some((body, "application/json")),
                    None,
                    HttpPurpose::Login(request, key),
                )
            }
        };
        self.services.flow_http(
            (call_key, purpose),
            &method,
            url,
            body,
            bearer,
            // The block's own timer takes the `timeout` exit; the request
            // is abandoned a little later (its answer would be ignored).
            Duration::from_millis(timeout_ms.saturating_add(TIMEOUT_MARGIN_MS)),
            self.config.http.max_body,
        );
    }

    /// A flow's HTTP request answered (or failed): to the engine, and a
    /// login's token to the cache.
    pub(super) fn http_answered(
        &mut self,
        call_key: u64,
        purpose: HttpPurpose,
        result: Result<(u16, String), HttpFailure>,
    ) {
        let (status, body) = match result {
            Ok((status, body)) => {
                self.record(call_key, "http", fields([("status", status.into())]));
                (status, body)
            }
            Err(HttpFailure::Late) => {
                // The block's timer has taken (or will take) `timeout`.
                self.record(
                    call_key,
                    "http_failed",
                    fields([("error", "no answer in time".into())]),
                );
                return;
            }
            Err(HttpFailure::Failed(error)) => {
                self.record(call_key, "http_failed", fields([("error", error.into())]));
                (0, String::new())
            }
        };
        let (request, login) = match purpose {
            HttpPurpose::Request(request) => (request, None),
            HttpPurpose::Login(request, key) => (request, Some(key)),
            HttpPurpose::Authorise => {
                let ok = (200..300).contains(&status);
                self.record(call_key, "authorised", fields([("ok", ok.into())]));
                self.pending.push_back((call_key, Event::Verified { ok }));
                return;
            }
        };
        if let Some(key) = login
            && (200..300).contains(&status)
            && let Ok(answer) = serde_json::from_str::<Value>(&body)
            && let Some(token) = answer.get("token").and_then(Value::as_str)
            && let Some(seconds) = answer.get("expires_in").and_then(Value::as_u64)
        {
            let until = self.now + Duration::from_secs(seconds.min(86_400));
            self.tokens.put(key, token.to_string(), until);
        }
        self.pending.push_back((
            call_key,
            Event::HttpResult {
                request,
                status,
                body,
            },
        ));
    }

    /// `authorise` with an external source: POSTs the caller's number and
    /// what they keyed (`{"number": ..., "digits": ...}`) to the block's
    /// URL, if the configuration allows it; a 2xx answer is `ok`. The
    /// block's timer takes `failed` if it is late.
    pub(super) fn authorise_externally(
        &mut self,
        call_key: u64,
        url: Option<String>,
        digits: Option<String>,
    ) {
        let url = url.unwrap_or_default();
        if !self.config.http.allows(&url) {
            self.http_refused(call_key, &url, NOT_ALLOWED.into());
            self.pending
                .push_back((call_key, Event::Verified { ok: false }));
            return;
        }
        let number = self
            .calls
            .get(&call_key)
            .map(|c| c.number.clone())
            .unwrap_or_default();
        let body = json!({ "number": number, "digits": digits }).to_string();
        self.services.flow_http(
            (call_key, HttpPurpose::Authorise),
            "post",
            url,
            Some((body, "application/json")),
            None,
            Duration::from_secs(30),
            self.config.http.max_body,
        );
    }
}
