//! The SIP front end's defences (docs/security.md): per-source rate limits
//! before anything is parsed, the registrar (digest, Expires within bounds,
//! bindings that expire, Contacts that cannot point at the trunk or at us,
//! unknown names answered like wrong passwords), digest challenges (407) on
//! the requests with which an agent places calls through us (consultation
//! INVITEs, REFERs), failed logins throttled, and drops counted and logged
//! once per source.

use super::{Core, fields, uri_address};
use crate::guard::{self, LogOnce, LoginThrottle, Net, Rate, RateLimits};
use dialect_sip::auth::{Credentials, Verdict};
use dialect_sip::message::{self, Message, Transport};
use dialect_sip::transaction::TxKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sources remembered for rate limits, at most.
pub(super) const RATE_SOURCES: usize = 65_536;

/// Names and sources remembered for failed logins, at most (each table).
const LOGIN_ENTRIES: usize = 16_384;

/// Sources remembered for the once-per-source log of drops.
const LOGGED_SOURCES: usize = 4_096;

/// The front end's state.
pub(crate) struct Front {
    trusted: Vec<Net>,
    rate: RateLimits,
    /// Shared with the agent and admin APIs' Basic and bearer logins.
    pub(crate) logins: Arc<Mutex<LoginThrottle>>,
    once: LogOnce,
    /// When each registered agent's binding ends.
    expiry: HashMap<String, Instant>,
    deadlines: BTreeSet<(Instant, String)>,
    /// Checked against for names that do not exist, so that an unknown
    /// name is answered exactly like a wrong password.
    decoy: String,
    /// Packets and requests dropped or refused, by reason.
    pub(crate) dropped: BTreeMap<&'static str, u64>,
}

impl Front {
    pub(crate) fn new(config: &crate::config::Config, decoy: String) -> Front {
        Front {
            trusted: config.trusted(),
            rate: RateLimits::new(config.sip.rate_limit, config.sip.rate_burst, RATE_SOURCES),
            logins: Arc::new(Mutex::new(LoginThrottle::new(
                config.api.login_failures,
                Duration::from_secs(config.api.login_lockout_s),
                LOGIN_ENTRIES,
            ))),
            once: LogOnce::new(LOGGED_SOURCES),
            expiry: HashMap::new(),
            deadlines: BTreeSet::new(),
            decoy,
            dropped: BTreeMap::new(),
        }
    }

    /// Whether `ip` is in `[sip] trusted`.
    pub(crate) fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// The next registration to expire.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The failed-login counters: (failed, throttled).
    pub(crate) fn login_counts(&self) -> (u64, u64) {
        self.logins
            .lock()
            .map(|t| (t.failed, t.throttled))
            .unwrap_or_default()
    }
}

/// Whether a request or packet may go on.
pub(crate) enum Admit {
    /// Handle it.
    Pass,
    /// Answer it with 503 and `Retry-After`, then forget it.
    Refuse,
    /// Drop it.
    Drop,
}

/// The stateless 503 for `request`, with the To tag `tag` and
/// `Retry-After: retry` seconds (the controller's refusals and the SIP
/// reader's, see `load.rs`).
pub(super) fn service_unavailable(request: &Message, tag: &str, retry: &str) -> Message {
    message::response_for(request, 503, "Service Unavailable")
        .with_to_tag(tag)
        .with_header("Retry-After", retry)
}

impl Core {
    /// A packet from `from`, before it is parsed: within its source's rate?
    pub(super) fn admit(&mut self, from: SocketAddr, now: Instant) -> Admit {
        if self.front.trusted(from.ip()) {
            return Admit::Pass;
        }
        match self.front.rate.check(from.ip(), now) {
            Rate::Pass => Admit::Pass,
            Rate::Refuse => {
                self.dropped("rate_limited", from, "over its request rate");
                Admit::Refuse
            }
            Rate::Drop => {
                *self.front.dropped.entry("rate_limited").or_default() += 1;
                Admit::Drop
            }
        }
    }

    /// Counts a drop and logs it the first time it comes from `from`.
    pub(super) fn dropped(&mut self, kind: &'static str, from: SocketAddr, why: &str) {
        *self.front.dropped.entry(kind).or_default() += 1;
        if self.front.once.first(kind, from.ip()) {
            tracing::warn!(source = %from, kind, "dropped: {why} (logged once per source)");
            self.log.record(
                self.wall(),
                "",
                "dropped",
                fields([
                    ("kind", kind.into()),
                    ("source", from.to_string().into()),
                    ("reason", why.into()),
                ]),
            );
        }
    }

    /// A 503 with `Retry-After` for a request refused before a transaction
    /// exists (rate limits, the transaction table full).
    pub(super) fn refuse_busy(
        &mut self,
        request: &Message,
        from: SocketAddr,
        transport: Transport,
    ) {
        self.refuse_503(request, from, transport, "5");
    }

    /// A stateless 503 with `Retry-After: retry` seconds (nothing for an
    /// ACK or a response).
    pub(super) fn refuse_503(
        &mut self,
        request: &Message,
        from: SocketAddr,
        transport: Transport,
        retry: &str,
    ) {
        if request.method() == Some(message::Method::Ack) || !request.is_request() {
            return;
        }
        let response = service_unavailable(request, &self.ids.tag(), retry);
        self.tx.send_stateless(&response, from, transport);
    }

    /// Load shedding, for a datagram that waited `waited` during an
    /// overload (`Load::arrived` judged it, see `load.rs`): a new call (an
    /// INVITE outside any dialog that no transaction knows) is refused at
    /// once with a stateless 503 and `Retry-After: 1`, before any work is
    /// spent on it; what belongs to calls already up (ACKs, BYEs,
    /// re-INVITEs, retransmissions) is handled as ever. Returns whether the
    /// request was refused.
    pub(super) fn shed(&mut self, request: &Message, from: SocketAddr, waited: Duration) -> bool {
        if request.method() != Some(message::Method::Invite)
            || request.to_tag().is_some()
            || !self.tx.is_new(request)
        {
            return false;
        }
        self.load.refused(waited);
        self.refuse_503(request, from, Transport::Udp, "1");
        true
    }

    /// Checks a digest answer for `name` in the header `header`
    /// (`Authorization` or `Proxy-Authorization`), throttling guesses.
    /// `Ok` when it proves the password; otherwise the response has been
    /// sent (401/407 challenge, 403, or 503 while locked out).
    pub(super) fn authenticate(
        &mut self,
        key: &TxKey,
        request: &Message,
        name: &str,
        from: SocketAddr,
        proxy: bool,
        now: Instant,
    ) -> Result<(), ()> {
        let (status, reason, ask, answer) = if proxy {
            (
                407,
                "Proxy Authentication Required",
                "Proxy-Authenticate",
                "Proxy-Authorization",
            )
        } else {
            (401, "Unauthorized", "WWW-Authenticate", "Authorization")
        };
        let locked = self
            .front
            .logins
            .lock()
            .map(|mut t| t.allowed(from.ip(), Some(name), now))
            .unwrap_or(Ok(()));
        if let Err(wait) = locked {
            let response = message::response_for(request, 503, "Service Unavailable")
                .with_to_tag(&self.ids.tag())
                .with_header("Retry-After", &wait.as_secs().max(1).to_string());
            let sent = self.tx.send_response(key, response, now);
            self.sip_sent(sent);
            self.dropped("login_locked", from, "too many failed logins");
            return Err(());
        }
        let password = self
            .passwords
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.front.decoy.clone());
        let method = request.method().map(|m| m.to_string()).unwrap_or_default();
        let credentials = request.header(answer).and_then(Credentials::parse);
        // A 401 or 407 with a fresh challenge (`stale`: the password was
        // right, or a used answer came again: the client retries at once).
        let challenge = |core: &mut Core, stale: bool| {
            let challenge = core.digest.challenge(now, stale);
            let response = message::response_for(request, status, reason)
                .with_to_tag(&core.ids.tag())
                .with_header(ask, &challenge);
            let _ = core.tx.send_response(key, response, now);
            Err(())
        };
        let verdict = match &credentials {
            Some(c) if c.username == name => self.digest.verify(c, &method, &password, now),
            Some(_) => Verdict::Invalid,
            None => return challenge(self, false),
        };
        match verdict {
            Verdict::Ok if self.passwords.contains_key(name) => {
                if let Ok(mut t) = self.front.logins.lock() {
                    t.success(name);
                }
                Ok(())
            }
            Verdict::Stale => challenge(self, true),
            Verdict::Replay => {
                self.dropped("digest_replay", from, "a digest answer used again");
                challenge(self, true)
            }
            Verdict::Ok | Verdict::Invalid => {
                if let Ok(mut t) = self.front.logins.lock() {
                    t.failure(from.ip(), Some(name), now);
                }
                tracing::warn!(source = %from, name, "failed digest login");
                self.log.record(
                    self.clock.at(now),
                    "",
                    "login_failed",
                    fields([
                        ("name", name.into()),
                        ("source", from.to_string().into()),
                        ("method", method.into()),
                    ]),
                );
                self.forbid(key, request, now);
                Err(())
            }
        }
    }

    /// Answers 403 Forbidden.
    pub(super) fn forbid(&mut self, key: &TxKey, request: &Message, now: Instant) {
        let response =
            message::response_for(request, 403, "Forbidden").with_to_tag(&self.ids.tag());
        let sent = self.tx.send_response(key, response, now);
        self.sip_sent(sent);
    }

    /// Whether an agent may place calls through us with this request (a
    /// consultation INVITE, a REFER): an agent with a password proves it
    /// (407 digest); an agent configured by `uri` alone must send from a
    /// trusted address. `Ok` to go on; otherwise the answer has been sent.
    pub(super) fn authorise_agent(
        &mut self,
        key: &TxKey,
        request: &Message,
        agent: &str,
        from: SocketAddr,
        now: Instant,
    ) -> Result<(), ()> {
        if self.passwords.contains_key(agent) {
            return self.authenticate(key, request, agent, from, true, now);
        }
        if self.front.trusted(from.ip()) {
            return Ok(());
        }
        self.dropped(
            "untrusted_agent",
            from,
            "an agent without a password from an address not in [sip] trusted",
        );
        self.forbid(key, request, now);
        Err(())
    }

    /// An agent registers (digest-authenticated): its Contact becomes where
    /// it is rung, for the Expires it asked for within `[sip] min_expires`
    /// and `max_expires`. `Expires: 0` unregisters it. Returns whether the
    /// agent became ready.
    pub(super) fn register(
        &mut self,
        key: TxKey,
        request: Message,
        from: SocketAddr,
        now: Instant,
    ) -> bool {
        let user = request
            .to()
            .and_then(|to| to.uri.split_once(':').map(|(_, rest)| rest.to_string()))
            .and_then(|rest| rest.split('@').next().map(str::to_string))
            .unwrap_or_default();
        if self
            .authenticate(&key, &request, &user, from, false, now)
            .is_err()
        {
            return false;
        }
        let contact = request.contact_uri();
        let asked = request
            .header("Contact")
            .and_then(contact_expires)
            .or_else(|| {
                request
                    .header("Expires")
                    .and_then(|e| e.trim().parse::<u32>().ok())
            })
            .unwrap_or(3600);
        let (min, max) = (self.config.sip.min_expires, self.config.sip.max_expires);
        if asked != 0 && asked < min {
            let response = message::response_for(&request, 423, "Interval Too Brief")
                .with_to_tag(&self.ids.tag())
                .with_header("Min-Expires", &min.to_string());
            let sent = self.tx.send_response(&key, response, now);
            self.sip_sent(sent);
            return false;
        }
        let expires = asked.min(max);
        let mut registered_ready = false;
        let mut response = message::response_for(&request, 200, "OK").with_to_tag(&self.ids.tag());
        if expires == 0 || request.header("Contact").is_some_and(|c| c.trim() == "*") {
            self.unbind(&user, now, "agent_unregistered");
        } else if let Some(contact) = contact {
            // Through a proxy (RFC 3327 `Path`): the agent is rung by way of
            // it; else at the Contact, or where the REGISTER came from.
            let path: Vec<String> = request
                .name_addrs("Path")
                .iter()
                .map(ToString::to_string)
                .collect();
            let target = match path.first() {
                Some(_) => rung_at(&path, &contact),
                None => Some(uri_address(&contact).unwrap_or(from)),
            };
            let allowed = target
                .ok_or("a Path whose first hop is not an address")
                .and_then(|t| self.contact_allowed(t).map(|()| t));
            let address = match allowed {
                Ok(address) => address,
                Err(why) => {
                    self.dropped("bad_contact", from, why);
                    self.forbid(&key, &request, now);
                    return false;
                }
            };
            registered_ready =
                self.bind_agent(&user, (address, &contact), path.clone(), expires, now);
            self.share_binding(&user, &contact, &path, expires);
            self.log.record(
                self.clock.at(now),
                "",
                "agent_registered",
                fields([
                    ("agent", user.clone().into()),
                    ("contact", contact.clone().into()),
                    ("expires", expires.into()),
                ]),
            );
            response = response
                .with_header("Contact", &format!("<{contact}>;expires={expires}"))
                .with_header("Expires", &expires.to_string());
        }
        let sent = self.tx.send_response(&key, response, now);
        self.sip_sent(sent);
        registered_ready
    }

    /// Rings `user` at `address` (the contact, or the first hop of `path`)
    /// with `contact` as the Request-URI, for `expires` seconds; an agent
    /// that starts ready is logged in and ready. Returns whether they
    /// became ready.
    pub(super) fn bind_agent(
        &mut self,
        user: &str,
        (address, contact): (SocketAddr, &str),
        path: Vec<String>,
        expires: u32,
        now: Instant,
    ) -> bool {
        self.agents
            .insert(user.to_string(), (address, contact.to_string()));
        if path.is_empty() {
            self.agent_routes.remove(user);
        } else {
            self.agent_routes.insert(user.to_string(), path);
        }
        let until = now + Duration::from_secs(u64::from(expires));
        if let Some(old) = self.front.expiry.insert(user.to_string(), until) {
            self.front.deadlines.remove(&(old, user.to_string()));
        }
        self.front.deadlines.insert((until, user.to_string()));
        let ready = self.config.agents.iter().any(|a| a.name == user && a.ready);
        if ready && self.switch.acd().state(user) == Some(dialect_acd::State::LoggedOut) {
            self.switch.login(user, self.clock.at(now));
            self.switch.set_ready(user, self.clock.at(now));
            return true;
        }
        false
    }

    /// Whether an agent may be rung at `address`: a unicast address that is
    /// neither the trunk nor this server.
    fn contact_allowed(&self, address: SocketAddr) -> Result<(), &'static str> {
        if !guard::is_unicast(address.ip()) || address.port() == 0 {
            return Err("a Contact that is not a unicast address");
        }
        let trunk = self.config.trunk.as_ref().and_then(|t| uri_address(&t.uri));
        if trunk.is_some_and(|t| t.ip() == address.ip() && t.port() == address.port()) {
            return Err("a Contact pointing at the trunk");
        }
        let own = self.local.port() == address.port()
            && (self.local.ip() == address.ip()
                || (self.local.ip().is_unspecified() && address.ip().is_loopback()));
        if own {
            return Err("a Contact pointing at this server");
        }
        Ok(())
    }

    /// Removes an agent's registration (unregistered or expired); an agent
    /// that also has a configured `uri` is rung there again.
    fn unbind(&mut self, user: &str, now: Instant, event: &str) {
        if let Some(old) = self.front.expiry.remove(user) {
            self.front.deadlines.remove(&(old, user.to_string()));
        }
        self.agent_routes.remove(user);
        if event == "agent_unregistered" {
            self.share_unbinding(user);
        }
        let configured = self
            .config
            .agents
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.uri.clone())
            .and_then(|uri| Some((uri_address(&uri)?, uri)));
        match configured {
            Some(binding) => {
                self.agents.insert(user.to_string(), binding);
            }
            None => {
                self.agents.remove(user);
                // Nobody can ring them now: an idle agent is logged out.
                if matches!(
                    self.switch.acd().state(user),
                    Some(dialect_acd::State::Available { .. } | dialect_acd::State::Idle { .. })
                ) {
                    self.switch.logout(user, self.clock.at(now));
                }
            }
        }
        self.log.record(
            self.clock.at(now),
            "",
            event,
            fields([("agent", user.to_string().into())]),
        );
    }

    /// Ends the registrations whose time is up.
    pub(super) fn on_registration_timeout(&mut self, now: Instant) {
        while let Some((at, user)) = self.front.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.front.deadlines.remove(&(at, user.clone()));
            self.front.expiry.remove(&user);
            self.unbind(&user, now, "agent_registration_expired");
        }
    }
}

/// Where an agent registered with `contact` through `path` is rung: the
/// first hop of its `Path` (RFC 3327), else the Contact's address.
pub(super) fn rung_at(path: &[String], contact: &str) -> Option<SocketAddr> {
    match path.first() {
        Some(hop) => {
            dialect_sip::header::NameAddr::parse(hop).and_then(|hop| uri_address(&hop.uri))
        }
        None => uri_address(contact),
    }
}

/// The `expires` parameter of a Contact header's first value.
fn contact_expires(contact: &str) -> Option<u32> {
    let params = contact.rsplit_once('>').map_or(contact, |(_, p)| p);
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("expires"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::contact_expires;

    #[test]
    fn contact_expires_reads_the_parameter_after_the_uri() {
        assert_eq!(
            contact_expires("<sip:a@h;expires=9>;expires=120"),
            Some(120)
        );
        assert_eq!(contact_expires("<sip:a@h>"), None);
        assert_eq!(contact_expires("<sip:a@h>;q=0.5;Expires=0"), Some(0));
    }
}
