//! The front end's defences that are plain bookkeeping, with no I/O and no
//! clock of their own (every input carries `now`): trusted networks, the
//! trunk's dial plan, per-source request rate limits, failed-login
//! throttling and the once-per-source log of dropped packets. Every table
//! here is bounded; docs/security.md says which attack each one answers.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// An address range: an IP address with a prefix length (`10.0.0.0/8`,
/// `127.0.0.1`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    address: IpAddr,
    prefix: u8,
}

impl Net {
    /// Reads `ADDRESS` or `ADDRESS/PREFIX`.
    pub fn parse(text: &str) -> Result<Net, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or ADDRESS/PREFIX"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix must be 0 to {max}"))?,
        };
        Ok(Net { address, prefix })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether an address may be rung or sent media: unicast, not unspecified,
/// not a broadcast or multicast address.
pub fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Why the dial plan refused a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a number in E.164 form (after the home country code was added).
    NotE164,
    /// It matches a `deny` pattern.
    Denied(String),
    /// A premium-rate number, not allowed.
    Premium,
    /// Outside the home country, not allowed.
    International,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotE164 => f.write_str("not an E.164 number"),
            Refusal::Denied(p) => write!(f, "denied by `{p}`"),
            Refusal::Premium => f.write_str("a premium-rate number (allow it in [trunk] allow)"),
            Refusal::International => {
                f.write_str("an international number (allow it in [trunk] allow)")
            }
        }
    }
}

/// Premium-rate prefixes refused unless allowed, for the home countries we
/// know (Poland: 70x, Norway: 820 and 829, Bulgaria: 90); others have none
/// by default and list theirs in `[trunk] deny`.
fn premium(home: &str) -> &'static [&'static str] {
    match home {
        "+48" => &["+4870"],
        "+47" => &["+47820", "+47829"],
        "+359" => &["+35990"],
        _ => &[],
    }
}

/// Which numbers may be dialled through the trunk: `deny` patterns first,
/// then `allow` patterns, then premium and international numbers refused,
/// everything else in the home country allowed. A pattern is an E.164
/// number, or a prefix ending in `*` (`+4822*`; `*` alone matches all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    /// The home country code with `+`.
    pub home: String,
    /// Always allowed (before the premium and international rules).
    pub allow: Vec<String>,
    /// Always refused.
    pub deny: Vec<String>,
}

impl DialPlan {
    /// The E.164 form of `number` (national numbers get the home country
    /// code, `00` becomes `+`) if it dials at all.
    pub fn normalise(&self, number: &str) -> Option<String> {
        let trimmed = number.trim();
        let plus = trimmed.starts_with('+') || trimmed.starts_with("00");
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | ' ' | '(' | ')'))
            || trimmed.chars().skip(1).any(|c| c == '+')
        {
            return None;
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let e164 = if trimmed.starts_with('+') {
            format!("+{digits}")
        } else if let Some(rest) = digits.strip_prefix("00").filter(|_| plus) {
            format!("+{rest}")
        } else {
            format!("{}{}", self.home, digits.trim_start_matches('0'))
        };
        let count = e164.len() - 1;
        ((8..=15).contains(&count) && !e164.starts_with("+0")).then_some(e164)
    }

    /// The E.164 number to dial, or why not.
    pub fn check(&self, number: &str) -> Result<String, Refusal> {
        let e164 = self.normalise(number).ok_or(Refusal::NotE164)?;
        if let Some(p) = self.deny.iter().find(|p| matches(p, &e164)) {
            return Err(Refusal::Denied(p.clone()));
        }
        if self.allow.iter().any(|p| matches(p, &e164)) {
            return Ok(e164);
        }
        if premium(&self.home).iter().any(|p| e164.starts_with(p)) {
            return Err(Refusal::Premium);
        }
        if !e164.starts_with(&self.home) {
            return Err(Refusal::International);
        }
        Ok(e164)
    }

    /// Whether a pattern is well formed (for the configuration's checks).
    pub fn valid_pattern(pattern: &str) -> bool {
        let body = pattern.strip_suffix('*').unwrap_or(pattern);
        body.is_empty() && pattern == "*"
            || body
                .strip_prefix('+')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
    }
}

fn matches(pattern: &str, e164: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => e164.starts_with(prefix),
        None => pattern == e164,
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// The last time a refusal was answered (refusals are answered at
    /// most once a second per source; the rest are dropped).
    answered: Option<Instant>,
}

/// What to do with a request from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Within its rate.
    Pass,
    /// Over its rate: answer 503 with `Retry-After`.
    Refuse,
    /// Over its rate and answered recently: drop it silently.
    Drop,
}

/// Per-source request rate limits (token buckets keyed by IP address, so a
/// flood from many ports of one host counts once). Trusted addresses are
/// not limited. The table holds at most `max_sources`; when full, idle
/// sources are forgotten, and a new source that still finds no room is
/// refused.
#[derive(Debug)]
pub struct RateLimits {
    per_second: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
    max_sources: usize,
    /// Requests refused or dropped since start.
    pub limited: u64,
}

impl RateLimits {
    /// `per_second` requests a second per source, bursts of `burst`.
    pub fn new(per_second: u32, burst: u32, max_sources: usize) -> RateLimits {
        RateLimits {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
            max_sources: max_sources.max(1),
            limited: 0,
        }
    }

    /// Counts a request from `ip`.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Rate {
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            self.forget_idle(now);
        }
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            self.limited += 1;
            return Rate::Drop;
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
            answered: None,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Rate::Pass;
        }
        self.limited += 1;
        match bucket.answered {
            Some(at) if now.saturating_duration_since(at) < Duration::from_secs(1) => Rate::Drop,
            _ => {
                bucket.answered = Some(now);
                Rate::Refuse
            }
        }
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets the sources whose buckets have refilled (they lose nothing).
    fn forget_idle(&mut self, now: Instant) {
        let (per_second, burst) = (self.per_second, self.burst);
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * per_second < burst
        });
    }
}

/// Failed logins counted per source address and per name: after `limit`
/// failures within `window`, further attempts from that source or for that
/// name are refused until the window has passed since the last failure.
/// Both tables are bounded (`max_entries` each; the oldest entries go first).
#[derive(Debug)]
pub struct LoginThrottle {
    limit: u32,
    window: Duration,
    max_entries: usize,
    by_source: HashMap<IpAddr, Failures>,
    by_name: HashMap<String, Failures>,
    /// Failed logins since start.
    pub failed: u64,
    /// Attempts refused because of earlier failures.
    pub throttled: u64,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl LoginThrottle {
    /// `limit` failures within `window` lock the source and the name.
    pub fn new(limit: u32, window: Duration, max_entries: usize) -> LoginThrottle {
        LoginThrottle {
            limit: limit.max(1),
            window,
            max_entries: max_entries.max(1),
            by_source: HashMap::new(),
            by_name: HashMap::new(),
            failed: 0,
            throttled: 0,
        }
    }

    /// Whether an attempt from `ip` for `name` may be checked at all; when
    /// not, how long until it may (for `Retry-After`). A login with a token
    /// has no name (`None`): only its source is throttled, so that nobody
    /// can lock the token's owner out from elsewhere.
    pub fn allowed(
        &mut self,
        ip: IpAddr,
        name: Option<&str>,
        now: Instant,
    ) -> Result<(), Duration> {
        let wait = |f: Option<&Failures>, limit: u32, window: Duration| {
            f.filter(|f| f.count >= limit)
                .map(|f| window.saturating_sub(now.saturating_duration_since(f.last)))
                .filter(|w| !w.is_zero())
        };
        let wait = wait(self.by_source.get(&ip), self.limit, self.window)
            .into_iter()
            .chain(wait(
                name.and_then(|n| self.by_name.get(n)),
                self.limit,
                self.window,
            ))
            .max();
        match wait {
            Some(w) => {
                self.throttled += 1;
                Err(w)
            }
            None => Ok(()),
        }
    }

    /// A failed attempt.
    pub fn failure(&mut self, ip: IpAddr, name: Option<&str>, now: Instant) {
        self.failed += 1;
        let window = self.window;
        let bump = |f: &mut Failures| {
            if now.saturating_duration_since(f.last) > window {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        };
        if !self.by_source.contains_key(&ip) {
            make_room(&mut self.by_source, self.max_entries, now, window);
        }
        bump(self.by_source.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
        }));
        let Some(name) = name else {
            return;
        };
        if !self.by_name.contains_key(name) {
            make_room(&mut self.by_name, self.max_entries, now, window);
        }
        bump(self.by_name.entry(name.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        }));
    }

    /// A successful attempt clears the name's failures (not the source's:
    /// one right password does not excuse a source guessing others).
    pub fn success(&mut self, name: &str) {
        self.by_name.remove(name);
    }
}

/// Forgets expired entries, then the oldest, until there is room for one.
fn make_room<K: Clone + Eq + std::hash::Hash>(
    table: &mut HashMap<K, Failures>,
    max: usize,
    now: Instant,
    window: Duration,
) {
    if table.len() < max {
        return;
    }
    table.retain(|_, f| now.saturating_duration_since(f.last) <= window);
    while table.len() >= max {
        let Some(oldest) = table
            .iter()
            .min_by_key(|(_, f)| f.last)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        table.remove(&oldest);
    }
}

/// Remembers which sources were already logged for a kind of dropped
/// packet, so a flood is logged once per source (bounded: past `max`
/// sources nothing more is remembered or logged, only counted).
#[derive(Debug)]
pub struct LogOnce {
    seen: HashSet<(&'static str, IpAddr)>,
    max: usize,
}

impl LogOnce {
    /// At most `max` sources remembered.
    pub fn new(max: usize) -> LogOnce {
        LogOnce {
            seen: HashSet::new(),
            max,
        }
    }

    /// Whether this is the first time `kind` is seen from `ip`.
    pub fn first(&mut self, kind: &'static str, ip: IpAddr) -> bool {
        if self.seen.len() >= self.max {
            return false;
        }
        self.seen.insert((kind, ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn nets_contain_their_addresses_only() {
        let lan = Net::parse("10.1.0.0/16").expect("net");
        assert!(lan.contains(ip("10.1.200.3")));
        assert!(!lan.contains(ip("10.2.0.1")));
        assert!(!lan.contains(ip("::1")));
        let one = Net::parse("127.0.0.1").expect("net");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(
            Net::parse("0.0.0.0/0")
                .expect("net")
                .contains(ip("8.8.8.8"))
        );
        assert!(Net::parse("::1/128").expect("net").contains(ip("::1")));
        assert!(Net::parse("10.0.0.0/33").is_err());
        assert!(Net::parse("example.com").is_err());
    }

    #[test]
    fn unicast_only() {
        assert!(is_unicast(ip("192.0.2.1")));
        assert!(!is_unicast(ip("0.0.0.0")));
        assert!(!is_unicast(ip("255.255.255.255")));
        assert!(!is_unicast(ip("224.0.0.1")));
        assert!(!is_unicast(ip("ff02::1")));
    }

    fn plan(allow: &[&str], deny: &[&str]) -> DialPlan {
        DialPlan {
            home: "+48".into(),
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_dial_plan_refuses_premium_and_international_numbers_unless_allowed() {
        let p = plan(&[], &[]);
        assert_eq!(p.check("+48221234567"), Ok("+48221234567".into()));
        assert_eq!(p.check("221234567"), Ok("+48221234567".into()));
        assert_eq!(p.check("0048221234567"), Ok("+48221234567".into()));
        assert_eq!(p.check("+48700123456"), Err(Refusal::Premium));
        assert_eq!(p.check("+441234567890"), Err(Refusal::International));
        assert_eq!(p.check("00441234567890"), Err(Refusal::International));
        assert_eq!(p.check("alice"), Err(Refusal::NotE164));
        assert_eq!(p.check("+48 1"), Err(Refusal::NotE164));
        assert_eq!(p.check("+4812345678901234"), Err(Refusal::NotE164));
        assert_eq!(p.check("12+34"), Err(Refusal::NotE164));
        let p = plan(&["+44*", "+48700123456"], &["+4822999*"]);
        assert_eq!(p.check("+441234567890"), Ok("+441234567890".into()));
        assert_eq!(p.check("+48700123456"), Ok("+48700123456".into()));
        assert_eq!(
            p.check("+48229991111"),
            Err(Refusal::Denied("+4822999*".into()))
        );
        assert!(DialPlan::valid_pattern("+48*") && DialPlan::valid_pattern("*"));
        assert!(DialPlan::valid_pattern("+48221234567"));
        assert!(!DialPlan::valid_pattern("48*") && !DialPlan::valid_pattern("+4a*"));
    }

    #[test]
    fn a_flooding_source_is_refused_once_a_second_then_dropped_and_others_pass() {
        let mut limits = RateLimits::new(10, 20, 100);
        let t0 = Instant::now();
        let flood = ip("127.0.0.2");
        let passed = (0..100)
            .filter(|_| limits.check(flood, t0) == Rate::Pass)
            .count();
        assert_eq!(passed, 20, "the burst passes");
        assert_eq!(
            limits.check(flood, t0),
            Rate::Drop,
            "refused once, then dropped"
        );
        assert_eq!(limits.check(ip("127.0.0.1"), t0), Rate::Pass);
        // A second later ten more pass, and one refusal is answered.
        let t1 = t0 + Duration::from_secs(1);
        let results: Vec<Rate> = (0..12).map(|_| limits.check(flood, t1)).collect();
        assert_eq!(results.iter().filter(|r| **r == Rate::Pass).count(), 10);
        assert_eq!(results.get(10), Some(&Rate::Refuse));
        assert_eq!(results.get(11), Some(&Rate::Drop));
    }

    #[test]
    fn the_source_table_is_bounded() {
        let mut limits = RateLimits::new(10, 2, 3);
        let t0 = Instant::now();
        for n in 1..=3u8 {
            let _ = limits.check(IpAddr::from([10, 0, 0, n]), t0);
            let _ = limits.check(IpAddr::from([10, 0, 0, n]), t0);
        }
        // Full of busy sources: a fourth is not let in.
        assert_eq!(limits.check(ip("10.0.0.4"), t0), Rate::Drop);
        assert_eq!(limits.sources(), 3);
        // Once they are idle they are forgotten.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limits.check(ip("10.0.0.4"), later), Rate::Pass);
        assert!(limits.sources() <= 3);
    }

    #[test]
    fn password_guessing_is_throttled_by_source_and_by_name() {
        let mut t = LoginThrottle::new(3, Duration::from_secs(60), 100);
        let now = Instant::now();
        let a = ip("192.0.2.7");
        for _ in 0..3 {
            assert!(t.allowed(a, Some("alice"), now).is_ok());
            t.failure(a, Some("alice"), now);
        }
        assert!(t.allowed(a, Some("alice"), now).is_err());
        assert!(
            t.allowed(a, Some("bob"), now).is_err(),
            "the source is locked"
        );
        assert!(
            t.allowed(ip("192.0.2.8"), Some("alice"), now).is_err(),
            "the name is locked"
        );
        assert!(t.allowed(ip("192.0.2.8"), Some("bob"), now).is_ok());
        let later = now + Duration::from_secs(61);
        assert!(t.allowed(a, Some("alice"), later).is_ok());
        assert_eq!(t.failed, 3);
        assert_eq!(t.throttled, 3);
        // A token has no name: only its source is locked.
        let b = ip("192.0.2.9");
        for _ in 0..3 {
            t.failure(b, None, now);
        }
        assert!(t.allowed(b, None, now).is_err());
        assert!(t.allowed(ip("192.0.2.10"), None, now).is_ok());
    }

    #[test]
    fn the_throttle_tables_are_bounded() {
        let mut t = LoginThrottle::new(3, Duration::from_secs(60), 10);
        let now = Instant::now();
        for n in 0..1000u32 {
            t.failure(
                IpAddr::from(n.to_be_bytes()),
                Some(&format!("user{n}")),
                now,
            );
        }
        assert!(t.by_source.len() <= 10 && t.by_name.len() <= 10);
    }

    #[test]
    fn dropped_packets_are_logged_once_per_source() {
        let mut once = LogOnce::new(2);
        assert!(once.first("rtp", ip("10.0.0.1")));
        assert!(!once.first("rtp", ip("10.0.0.1")));
        assert!(once.first("sip", ip("10.0.0.1")));
        assert!(!once.first("rtp", ip("10.0.0.2")), "bounded");
    }
}
