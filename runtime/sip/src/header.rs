//! The header values the server reads, parsed by us rather than by rsip's
//! typed headers: `Via`, name-addr/addr-spec (`From`, `To`, `Contact`,
//! `Route`, `Record-Route`), `CSeq`, and SIP URIs.
//!
//! rsip keeps every header as an untyped string, and its typed parsers accept
//! neither LWS around `/` in `Via`, comma-separated values, quoted display
//! names with escapes, nor user parts with a dot, so the few values that
//! decide routing, transactions and dialogs are parsed here, strictly after
//! RFC 3261 section 25, and a value that does not follow the grammar is
//! refused (the message is answered 400) instead of being guessed at.

use std::fmt;

/// A `name[=value]` parameter of a header value or a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name as written.
    pub name: String,
    /// Its value, without quotes for a quoted string; `None` for a bare flag.
    pub value: Option<String>,
}

/// One `Via` value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0`, upper-cased.
    pub protocol: String,
    /// The transport token, upper-cased (`UDP`, `TCP`, `TLS`, ...).
    pub transport: String,
    /// The host of sent-by, as written (IPv6 references keep their brackets).
    pub host: String,
    /// The port of sent-by, when given.
    pub port: Option<u16>,
    /// The parameters (`branch`, `received`, `rport`, ...).
    pub params: Vec<Param>,
}

/// A name-addr or addr-spec with its header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The URI exactly as written.
    pub uri: String,
    /// The header parameters after the URI (`tag`, `expires`, ...).
    pub params: Vec<Param>,
}

/// A `CSeq` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (below 2**31 per RFC 3261 8.1.1.5, but any u32 is read).
    pub seq: u32,
    /// The method token, case preserved.
    pub method: String,
}

/// The parts of a `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `true` for `sips:`.
    pub secure: bool,
    /// The user part as written (still %-escaped).
    pub user: Option<String>,
    /// The host as written (IPv6 references keep their brackets).
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters (`transport`, `lr`, `maddr`, ...).
    pub params: Vec<Param>,
    /// The headers part after `?`, as written.
    pub headers: Option<String>,
}

impl Via {
    /// Parses a `Via` header value, which may hold several comma-separated vias.
    pub fn parse_list(value: &str) -> Option<Vec<Via>> {
        split_list(value)?.into_iter().map(Via::parse).collect()
    }

    /// Parses one via-parm.
    pub fn parse(value: &str) -> Option<Via> {
        let mut s = Scanner::new(value);
        s.skip_ws();
        let name = s.token()?;
        s.skip_ws();
        s.expect('/')?;
        s.skip_ws();
        let version = s.token()?;
        s.skip_ws();
        s.expect('/')?;
        s.skip_ws();
        let transport = s.token()?;
        if !s.skip_ws() {
            return None;
        }
        let host = s.host()?;
        s.skip_ws();
        let mut port = None;
        if s.eat(':') {
            s.skip_ws();
            port = Some(s.port()?);
        }
        let params = s.params()?;
        s.skip_ws();
        if !s.at_end() {
            return None;
        }
        Some(Via {
            protocol: format!("{}/{}", name, version).to_ascii_uppercase(),
            transport: transport.to_ascii_uppercase(),
            host: host.to_owned(),
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        param(&self.params, "branch").flatten()
    }

    /// sent-by as `host` or `host:port`, the form used to match transactions.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{}", self.host, port),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.sent_by())?;
        write_params(f, &self.params)
    }
}

impl NameAddr {
    /// Parses a list of name-addr/addr-spec values (`Contact`, `Route`,
    /// `Record-Route`); `*` is not a name-addr and is refused here.
    pub fn parse_list(value: &str) -> Option<Vec<NameAddr>> {
        split_list(value)?
            .into_iter()
            .map(NameAddr::parse)
            .collect()
    }

    /// Parses one name-addr (`"Display" <uri>;params`) or addr-spec
    /// (`uri;params`, where the URI may hold no `;`, `,` or `?`).
    pub fn parse(value: &str) -> Option<NameAddr> {
        let mut s = Scanner::new(value);
        s.skip_ws();
        let (display, uri) = if s.peek() == Some('"') {
            let display = s.quoted()?;
            s.skip_ws();
            s.expect('<')?;
            (Some(display), s.bracketed_uri()?)
        } else if value.contains('<') {
            let display = s.display_tokens()?;
            s.expect('<')?;
            (display, s.bracketed_uri()?)
        } else {
            let uri = s.take_while(|c| !matches!(c, ';' | ',' | '?' | ' ' | '\t'));
            if s.peek() == Some('?') {
                return None;
            }
            (None, uri.to_owned())
        };
        if !valid_uri(&uri) {
            return None;
        }
        let params = s.params()?;
        s.skip_ws();
        if !s.at_end() {
            return None;
        }
        Some(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        param(&self.params, "tag").flatten()
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(display) = &self.display {
            f.write_str("\"")?;
            for c in display.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`; refuses numbers beyond u32.
    pub fn parse(value: &str) -> Option<CSeq> {
        let mut s = Scanner::new(value);
        s.skip_ws();
        let digits = s.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() || !s.skip_ws() {
            return None;
        }
        let seq = digits.parse().ok()?;
        let method = s.token()?;
        s.skip_ws();
        s.at_end().then(|| CSeq {
            seq,
            method: method.to_owned(),
        })
    }
}

impl SipUri {
    /// Parses a `sip:` or `sips:` URI; `None` for any other scheme or a
    /// malformed one.
    pub fn parse(uri: &str) -> Option<SipUri> {
        let (scheme, rest) = uri.split_once(':')?;
        let secure = if scheme.eq_ignore_ascii_case("sip") {
            false
        } else if scheme.eq_ignore_ascii_case("sips") {
            true
        } else {
            return None;
        };
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        // The user part ends at the first '@' (it may hold ';' and '?' but
        // not an unescaped '@'); a host never holds one.
        let (user, rest) = match rest.split_once('@') {
            Some((user, rest)) => {
                let user = user.split_once(':').map_or(user, |(user, _password)| user);
                (Some(user.to_owned()), rest)
            }
            None => (None, rest),
        };
        let (rest, headers) = match rest.split_once('?') {
            Some((rest, headers)) => (rest, Some(headers.to_owned())),
            None => (rest, None),
        };
        let mut s = Scanner::new(rest);
        let host = s.host()?;
        let port = if s.eat(':') { Some(s.port()?) } else { None };
        let mut params = Vec::new();
        while s.eat(';') {
            let name = s.take_while(|c| c != ';' && c != '=');
            if name.is_empty() {
                return None;
            }
            let value = s.eat('=').then(|| s.take_while(|c| c != ';').to_owned());
            params.push(Param {
                name: name.to_owned(),
                value,
            });
        }
        if !s.at_end() {
            return None;
        }
        Some(SipUri {
            secure,
            user,
            host: host.to_owned(),
            port,
            params,
            headers,
        })
    }

    /// A URI parameter by name (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        param(&self.params, name)
    }
}

/// The value of a parameter by name (case-insensitive): `Some(None)` for a
/// flag, `Some(Some(v))` for a value, `None` when absent.
pub fn param<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_deref())
}

/// Decodes `%HH` escapes; other `%` signs stay as they are.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(decoded) = hex {
                out.push(decoded);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `true` for a token character (RFC 3261 section 25.1).
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// `true` when `s` is a non-empty token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// A URI: a scheme (`ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`), a colon,
/// and at least one character, none of them white space or a control.
pub fn valid_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    valid_scheme(scheme)
        && !rest.is_empty()
        && !uri
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`.
pub fn valid_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        match &p.value {
            Some(v)
                if v.chars().all(|c| is_token_char(c) || ":[]".contains(c)) && !v.is_empty() =>
            {
                write!(f, ";{}={}", p.name, v)?
            }
            Some(v) => {
                write!(f, ";{}=\"", p.name)?;
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")?
            }
            None => write!(f, ";{}", p.name)?,
        }
    }
    Ok(())
}

/// Splits a header value at commas outside quoted strings and angle
/// brackets; `None` when a quote or bracket is left open or an element is
/// empty.
pub fn split_list(value: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' if !in_angle => in_angle = true,
            '>' if in_angle => in_angle = false,
            ',' if !in_angle => {
                parts.push(value.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quotes || in_angle {
        return None;
    }
    parts.push(value.get(start..)?);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return None;
    }
    Some(parts)
}

/// A cursor over a header value.
struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner { rest: s }
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// Skips spaces and tabs; `true` when there was at least one.
    fn skip_ws(&mut self) -> bool {
        let trimmed = self.rest.trim_start_matches([' ', '\t']);
        let skipped = trimmed.len() != self.rest.len();
        self.rest = trimmed;
        skipped
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self
            .rest
            .char_indices()
            .find(|&(_, c)| !keep(c))
            .map_or(self.rest.len(), |(i, _)| i);
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token_char);
        (!t.is_empty()).then_some(t)
    }

    /// A host: an IPv6 reference in brackets, or a hostname / IPv4 address.
    fn host(&mut self) -> Option<&'a str> {
        if self.rest.starts_with('[') {
            let end = self.rest.find(']')?;
            let (host, rest) = self.rest.split_at(end + 1);
            let inner = host.get(1..host.len() - 1)?;
            if inner.is_empty()
                || !inner
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return None;
            }
            self.rest = rest;
            return Some(host);
        }
        let host =
            self.take_while(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        (!host.is_empty()).then_some(host)
    }

    fn port(&mut self) -> Option<u16> {
        let digits = self.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() || digits.len() > 5 {
            return None;
        }
        digits.parse().ok()
    }

    /// A quoted string, unescaped; the scanner stands on the opening quote.
    fn quoted(&mut self) -> Option<String> {
        self.expect('"')?;
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?.1),
                '"' => {
                    self.rest = self.rest.get(i + 1..)?;
                    return Some(out);
                }
                '\r' | '\n' => return None,
                c => out.push(c),
            }
        }
        None
    }

    /// Display-name tokens before `<`, separated by white space.
    fn display_tokens(&mut self) -> Option<Option<String>> {
        let mut words = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('<') {
                break;
            }
            words.push(self.token()?);
        }
        Some((!words.is_empty()).then(|| words.join(" ")))
    }

    /// `uri>` after the `<`; no white space is allowed inside.
    fn bracketed_uri(&mut self) -> Option<String> {
        let end = self.rest.find('>')?;
        let (uri, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..)?;
        Some(uri.to_owned())
    }

    /// `*( SEMI generic-param )` with LWS around `;` and `=`.
    fn params(&mut self) -> Option<Vec<Param>> {
        let mut params = Vec::new();
        loop {
            let before = self.rest;
            self.skip_ws();
            if !self.eat(';') {
                self.rest = before;
                return Some(params);
            }
            self.skip_ws();
            let name = self.token()?;
            let after_name = self.rest;
            self.skip_ws();
            let value = if self.eat('=') {
                self.skip_ws();
                if self.peek() == Some('"') {
                    Some(self.quoted()?)
                } else {
                    let v = self.take_while(|c| is_token_char(c) || ":[]".contains(c));
                    if v.is_empty() {
                        return None;
                    }
                    Some(v.to_owned())
                }
            } else {
                self.rest = after_name;
                None
            };
            params.push(Param {
                name: name.to_owned(),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn via_with_lws_everywhere() {
        let vias =
            Via::parse_list("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239").unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].transport, "TCP");
        assert_eq!(vias[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(vias[1].sent_by(), "192.168.255.111");
        assert!(Via::parse_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_none());
        let v = Via::parse("SIP/2.0/UDP [2001:db8::1]:5070;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.sent_by(), "[2001:db8::1]:5070");
        assert_eq!(param(&v.params, "rport"), Some(None));
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>  ;   tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.tag(), Some("98asjd8"));
        let b =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(b.uri, "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(b.tag(), Some("1918181833n"));
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_none());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_none());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_none());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_none());
        assert_eq!(
            NameAddr::parse("caller<sip:caller@example.com>;tag=323")
                .unwrap()
                .display
                .as_deref(),
            Some("caller")
        );
    }

    #[test]
    fn sip_uri_parts() {
        let u = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(
            unescape(u.user.as_deref().unwrap()),
            "user;par=u@example.net"
        );
        let u = SipUri::parse("sip:+4930123@10.0.0.1:5062;transport=udp;lr").unwrap();
        assert_eq!(u.port, Some(5062));
        assert_eq!(u.param("transport"), Some(Some("udp")));
        assert!(SipUri::parse("tel:+123").is_none());
        assert_eq!(CSeq::parse("0009   INVITE").unwrap().seq, 9);
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_none());
    }
}
