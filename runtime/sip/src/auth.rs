//! HTTP digest authentication (RFC 2617, RFC 8760 with MD5, `qop=auth`)
//! for agents' REGISTER requests and any other request the server
//! challenges: the value of [`Digest::challenge`] goes in `WWW-Authenticate`
//! of a 401 or, unchanged, in `Proxy-Authenticate` of a 407, and
//! [`Credentials::parse`] reads `Authorization` and `Proxy-Authorization`
//! alike. [`Digest::verify`] takes the method of the request that carried
//! the credentials (REGISTER, INVITE, REFER, ...) and their digest-uri as
//! the client gave it.
//!
//! A nonce is `<time><salt><mac>`, 64 hex digits: the second it was issued
//! (counted from when the [`Digest`] was made), 8 random bytes, and
//! HMAC-SHA256 over both and the realm under a 32-byte key drawn from the
//! operating system at start, truncated to 128 bits. The server so
//! recognises its own nonces and knows their age without storing them; a
//! forged one fails the MAC, which is compared in constant time. An answer
//! computed with the right password over a nonce that is not (or no longer)
//! usable is [`Verdict::Stale`]: the nonce expired (five minutes by
//! default), was made before a restart (the key is new at every start), or
//! was forgotten to bound memory. The server challenges again with
//! `stale=true` and the client retries without asking its user.
//!
//! Replays are refused: `qop=auth` is required, so every answer carries a
//! nonce count (`nc`), and for each nonce that has been answered the
//! [`Digest`] remembers the highest count it accepted. An answer whose count
//! is not higher is [`Verdict::Replay`], however right its password. That
//! table holds only nonces answered with the right password, entries leave
//! it when their nonce expires, and it never holds more than
//! [`Digest::with_max_nonces`] entries (10,000 by default): when full, the
//! oldest nonce is forgotten, and answers over it become stale.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::ids::{self, Ids};

/// Challenges and verifies digest credentials for one realm, and remembers
/// the nonce counts it accepted.
pub struct Digest {
    realm: String,
    /// HMAC-SHA256 keyed with the nonce key, cloned for each MAC.
    mac: Hmac<Sha256>,
    /// Where nonce salts come from.
    salts: Ids,
    epoch: Instant,
    lifetime: Duration,
    max_nonces: usize,
    /// The highest `nc` accepted for each answered nonce, by the nonce's
    /// issue second and salt (so the oldest comes first).
    counts: BTreeMap<(u64, u64), u32>,
    /// The newest nonce forgotten to make room: an answered nonce at or
    /// below it is no longer in `counts`, so any nonce there that is not
    /// in `counts` may have been answered before.
    forgotten: Option<(u64, u64)>,
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
    /// The password is right but the nonce is not usable (expired, made
    /// before a restart, or forgotten): challenge with `stale=true`.
    Stale,
    /// The password is right but the nonce count is not higher than one
    /// accepted before for this nonce: a replayed (or re-sent) answer.
    /// Refuse the request, answering a fresh challenge; a genuine client
    /// answers it with a new nonce.
    Replay,
    /// Wrong password, foreign realm, no `qop=auth`, or unsupported
    /// parameters: answer 403 or challenge again.
    Invalid,
}

impl Digest {
    /// A digest authenticator for `realm` with a nonce key from the
    /// operating system's CSPRNG; nonces are valid for five minutes. `now`
    /// is the epoch nonce times count from.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give.
    pub fn new(realm: &str, now: Instant) -> Digest {
        Digest::with_key(realm, ids::os_seed(), now)
    }

    /// A digest authenticator with a given nonce key, for tests: the same
    /// key gives the same nonces. Use [`Digest::new`] in production.
    pub fn with_key(realm: &str, key: [u8; 32], now: Instant) -> Digest {
        #[allow(clippy::expect_used)]
        let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
        // The salts' seed is derived from the key rather than the key itself.
        let seed = mac
            .clone()
            .chain_update(b"nonce salts")
            .finalize()
            .into_bytes();
        Digest {
            realm: realm.to_owned(),
            mac,
            salts: Ids::from_key(seed.into()),
            epoch: now,
            lifetime: Duration::from_secs(300),
            max_nonces: 10_000,
            counts: BTreeMap::new(),
            forgotten: None,
        }
    }

    /// The same authenticator with another nonce lifetime.
    pub fn with_nonce_lifetime(mut self, lifetime: Duration) -> Digest {
        self.lifetime = lifetime;
        self
    }

    /// The same authenticator remembering the nonce counts of at most
    /// `max` nonces (at least one).
    pub fn with_max_nonces(mut self, max: usize) -> Digest {
        self.max_nonces = max.max(1);
        self
    }

    /// How many nonces' counts are remembered now.
    pub fn remembered(&self) -> usize {
        self.counts.len()
    }

    /// The value of a `WWW-Authenticate` header for a 401, or of a
    /// `Proxy-Authenticate` header for a 407, with a new nonce.
    pub fn challenge(&mut self, now: Instant, stale: bool) -> String {
        let seconds = self.seconds(now);
        self.forget_expired(seconds);
        let salt = self.salts.next_u64();
        let nonce = self.nonce(seconds, salt);
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{}",
            quoted(&self.realm),
            nonce,
            if stale { ", stale=true" } else { "" }
        )
    }

    /// Checks credentials for a request with `method` (the request's own:
    /// REGISTER, INVITE, REFER, ...) against `password`, and on success
    /// remembers their nonce count.
    pub fn verify(
        &mut self,
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
            // Without qop there is no nonce count, so no replay could be
            // told from a retry.
            || !credentials
                .qop
                .as_deref()
                .is_some_and(|q| q.eq_ignore_ascii_case("auth"))
        {
            return Verdict::Invalid;
        }
        let Some(nc) = credentials.nc.as_deref().and_then(nonce_count) else {
            return Verdict::Invalid;
        };
        if !response_matches(credentials, method, password) {
            return Verdict::Invalid;
        }
        let seconds = self.seconds(now);
        self.forget_expired(seconds);
        let Some(id) = self.issued(&credentials.nonce) else {
            // Not a nonce of ours (one from before a restart, most likely),
            // answered with the right password.
            return Verdict::Stale;
        };
        if self.expired(id.0, seconds) {
            return Verdict::Stale;
        }
        match self.counts.get_mut(&id) {
            Some(last) if nc <= *last => Verdict::Replay,
            Some(last) => {
                *last = nc;
                Verdict::Ok
            }
            None if self.forgotten.is_some_and(|f| id <= f) => Verdict::Stale,
            None => {
                self.counts.insert(id, nc);
                if self.counts.len() > self.max_nonces
                    && let Some((oldest, _)) = self.counts.pop_first()
                {
                    self.forgotten = self.forgotten.max(Some(oldest));
                    if oldest == id {
                        return Verdict::Stale;
                    }
                }
                Verdict::Ok
            }
        }
    }

    fn seconds(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    fn expired(&self, issued: u64, seconds: u64) -> bool {
        expired(issued, seconds, self.lifetime)
    }

    /// Drops the counts of expired nonces, oldest first (each costs one
    /// removal, so this is amortised into the insertions).
    fn forget_expired(&mut self, seconds: u64) {
        while let Some(entry) = self.counts.first_entry() {
            if !expired(entry.key().0, seconds, self.lifetime) {
                break;
            }
            entry.remove();
        }
    }

    /// `<16 hex digits of the issue second><16 of salt><32 of MAC>`.
    fn nonce(&self, seconds: u64, salt: u64) -> String {
        let tag = self.mac(seconds, salt).finalize().into_bytes();
        format!(
            "{seconds:016x}{salt:016x}{}",
            ids::hex(tag.get(..MAC_BYTES).unwrap_or_default())
        )
    }

    fn mac(&self, seconds: u64, salt: u64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(&seconds.to_be_bytes());
        mac.update(&salt.to_be_bytes());
        mac.update(self.realm.as_bytes());
        mac
    }

    /// The issue second and salt of a nonce of ours; `None` for a forged or
    /// foreign one.
    fn issued(&self, nonce: &str) -> Option<(u64, u64)> {
        if nonce.len() != 64 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let seconds = u64::from_str_radix(nonce.get(..16)?, 16).ok()?;
        let salt = u64::from_str_radix(nonce.get(16..32)?, 16).ok()?;
        let tag = unhex(nonce.get(32..)?)?;
        self.mac(seconds, salt)
            .verify_truncated_left(&tag)
            .ok()
            .map(|()| (seconds, salt))
    }
}

/// Shows neither the key nor the remembered nonces.
impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digest")
            .field("realm", &self.realm)
            .field("lifetime", &self.lifetime)
            .field("max_nonces", &self.max_nonces)
            .field("remembered", &self.counts.len())
            .finish_non_exhaustive()
    }
}

/// Whether a nonce issued at second `issued` is too old at second `seconds`.
fn expired(issued: u64, seconds: u64, lifetime: Duration) -> bool {
    seconds.saturating_sub(issued) > lifetime.as_secs()
}

/// The bytes of the HMAC a nonce carries (128 bits).
const MAC_BYTES: usize = 16;

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

/// Compares the client's response with the expected one, ignoring the case
/// of hex digits, in time that does not depend on where they differ.
pub fn response_matches(credentials: &Credentials, method: &str, password: &str) -> bool {
    expected_response(credentials, method, password).is_some_and(|expected| {
        expected.len() == credentials.response.len()
            && expected
                .bytes()
                .zip(credentials.response.bytes())
                .fold(0u8, |differ, (a, b)| {
                    differ | (a.to_ascii_lowercase() ^ b.to_ascii_lowercase())
                })
                == 0
    })
}

fn md5_hex(s: &str) -> String {
    ids::hex(&Md5::digest(s.as_bytes()))
}

/// A nonce count: one to eight hex digits (RFC 2617 3.2.2 writes eight).
fn nonce_count(nc: &str) -> Option<u32> {
    if nc.is_empty() || nc.len() > 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(nc, 16).ok()
}

/// The bytes of an even number of hex digits.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let pairs = s.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// `s` as the inside of a quoted-string: `"` and `\` escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
