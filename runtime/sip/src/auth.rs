//! HTTP digest authentication (RFC 2617, RFC 8760 with MD5, `qop=auth`)
//! for agents' REGISTER requests.
//!
//! [`Digest`] makes challenges and checks answers without keeping state per
//! client: a nonce is the time it was made and an MD5 over that time, the
//! realm and a server secret, so the server recognises its own nonces and
//! knows their age. An answer computed with a correct password but an
//! expired nonce is [`Verdict::Stale`]: challenge again with `stale=true` and
//! the client retries without asking its user. Nonce counts are not tracked,
//! so a captured answer can be replayed until its nonce expires (five
//! minutes by default); REGISTER carries no secret, and TLS is the answer to
//! eavesdroppers.

use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};

/// Challenges and verifies digest credentials for one realm.
#[derive(Debug, Clone)]
pub struct Digest {
    realm: String,
    secret: Vec<u8>,
    epoch: Instant,
    lifetime: Duration,
}

/// The parameters of an `Authorization` header with the Digest scheme.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (the digest-uri).
    pub uri: String,
    /// `response`, 32 hex digits.
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `nc`.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
}

/// The outcome of [`Digest::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The answer proves the password.
    Ok,
    /// The password is right but the nonce expired: challenge with `stale=true`.
    Stale,
    /// Wrong password, foreign nonce or realm, or unsupported parameters:
    /// answer 403 or challenge again.
    Invalid,
}

impl Digest {
    /// A digest authenticator for `realm`; nonces are valid for five minutes.
    /// `now` is the epoch nonce times count from (nonces do not survive a
    /// restart: clients get `stale=true` and retry).
    pub fn new(realm: &str, secret: &[u8], now: Instant) -> Digest {
        Digest {
            realm: realm.to_owned(),
            secret: secret.to_vec(),
            epoch: now,
            lifetime: Duration::from_secs(300),
        }
    }

    /// The same authenticator with another nonce lifetime.
    pub fn with_nonce_lifetime(mut self, lifetime: Duration) -> Digest {
        self.lifetime = lifetime;
        self
    }

    /// The value of a `WWW-Authenticate` header for a 401.
    pub fn challenge(&self, now: Instant, stale: bool) -> String {
        let nonce = self.nonce(now.saturating_duration_since(self.epoch).as_secs());
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{}",
            self.realm,
            nonce,
            if stale { ", stale=true" } else { "" }
        )
    }

    /// Checks credentials for a request with `method` against `password`.
    pub fn verify(
        &self,
        credentials: &Credentials,
        method: &str,
        password: &str,
        now: Instant,
    ) -> Verdict {
        if credentials.realm != self.realm
            || credentials
                .algorithm
                .as_deref()
                .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return Verdict::Invalid;
        }
        let Some(issued) = self.issued(&credentials.nonce) else {
            return Verdict::Invalid;
        };
        if !response_matches(credentials, method, password) {
            return Verdict::Invalid;
        }
        let age = now
            .saturating_duration_since(self.epoch)
            .as_secs()
            .saturating_sub(issued);
        if age > self.lifetime.as_secs() {
            Verdict::Stale
        } else {
            Verdict::Ok
        }
    }

    /// `<16 hex digits of seconds since the epoch><32 hex digits of MD5>`.
    fn nonce(&self, seconds: u64) -> String {
        let time = format!("{seconds:016x}");
        format!("{time}{}", self.seal(&time))
    }

    fn seal(&self, time: &str) -> String {
        let mut h = Md5::new();
        h.update(time.as_bytes());
        h.update(b":");
        h.update(self.realm.as_bytes());
        h.update(b":");
        h.update(&self.secret);
        hex(&h.finalize())
    }

    /// The time a nonce of ours was made; `None` for a forged or foreign one.
    fn issued(&self, nonce: &str) -> Option<u64> {
        let time = nonce.get(..16)?;
        let seal = nonce.get(16..)?;
        if seal != self.seal(time) {
            return None;
        }
        u64::from_str_radix(time, 16).ok()
    }
}

impl Credentials {
    /// Parses an `Authorization` (or `Proxy-Authorization`) value with the
    /// Digest scheme; `None` for another scheme or a malformed value.
    pub fn parse(value: &str) -> Option<Credentials> {
        let value = value.trim_start();
        let scheme = value.get(..6)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut c = Credentials::default();
        for (name, v) in auth_params(value.get(6..)?)? {
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => &mut c.username,
                "realm" => &mut c.realm,
                "nonce" => &mut c.nonce,
                "uri" => &mut c.uri,
                "response" => &mut c.response,
                "algorithm" => {
                    c.algorithm = Some(v);
                    continue;
                }
                "qop" => {
                    c.qop = Some(v);
                    continue;
                }
                "nc" => {
                    c.nc = Some(v);
                    continue;
                }
                "cnonce" => {
                    c.cnonce = Some(v);
                    continue;
                }
                "opaque" => {
                    c.opaque = Some(v);
                    continue;
                }
                _ => continue,
            };
            *slot = v;
        }
        (!c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty()).then_some(c)
    }
}

/// The expected `response` for these credentials, `method` and `password`
/// (RFC 2617 3.2.2.1: with `qop=auth`, MD5(HA1:nonce:nc:cnonce:qop:HA2),
/// without qop, MD5(HA1:nonce:HA2)). `None` for a qop other than `auth`, or
/// `qop=auth` without `nc` and `cnonce`.
pub fn expected_response(
    credentials: &Credentials,
    method: &str,
    password: &str,
) -> Option<String> {
    let ha1 = md5_hex(&format!(
        "{}:{}:{}",
        credentials.username, credentials.realm, password
    ));
    let ha2 = md5_hex(&format!("{}:{}", method, credentials.uri));
    match credentials.qop.as_deref() {
        None => Some(md5_hex(&format!("{ha1}:{}:{ha2}", credentials.nonce))),
        Some(q) if q.eq_ignore_ascii_case("auth") => Some(md5_hex(&format!(
            "{ha1}:{}:{}:{}:auth:{ha2}",
            credentials.nonce,
            credentials.nc.as_deref()?,
            credentials.cnonce.as_deref()?
        ))),
        Some(_) => None,
    }
}

/// Compares the client's response with the expected one.
pub fn response_matches(credentials: &Credentials, method: &str, password: &str) -> bool {
    expected_response(credentials, method, password)
        .is_some_and(|expected| expected.eq_ignore_ascii_case(&credentials.response))
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

/// `name=value` or `name="quoted value"` pairs separated by commas.
fn auth_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim();
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, quoted.get(end?..)?)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after.get(..end)?.trim().to_owned(), after.get(end..)?)
        };
        out.push((name.to_owned(), value));
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}
