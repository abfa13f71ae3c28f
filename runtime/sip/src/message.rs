//! SIP messages: a thin wrapper over rsip that parses what real peers send
//! and builds what the server sends.
//!
//! [`parse`] reads a datagram itself: leading CRLF keep-alives are skipped,
//! LF-only line ends are accepted, folded header lines are unfolded, white
//! space around the header colon is dropped and compact header names (`i:`,
//! `m:`, `v:`, ...) are expanded. It then checks what RFC 3261 requires of
//! every message (start line, the mandatory headers, single-valued headers
//! appearing once, `CSeq`, `Max-Forwards`, `Content-Length` against the
//! body) and the syntax of the headers the server reads (see
//! [`crate::header`]). The checked parts become rsip's data model directly
//! (rsip's own parser would read the text a second time). Nothing here
//! panics on any input: there is no `unwrap` and no slice indexing, and the
//! parser is fed random and mutated messages by `tests/fuzz.rs`.
//!
//! [`serialize`] writes the start line and headers itself and always writes
//! the `Content-Length` of the body it writes: rsip's `Display` turns known
//! status codes into CamelCase reason phrases (`486 BusyHere`) and writes the
//! body through a lossy UTF-8 conversion.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use rsip::headers::UntypedHeader;
use rsip::message::HasHeaders;
use rsip::{Header, SipMessage, StatusCode};

use crate::header::{self, CSeq, NameAddr, SipUri, Via};

pub use rsip::Method;

/// The largest header block [`TcpFramer`] accepts.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The largest body [`TcpFramer`] accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The transport a message travels over; it decides the `Via` transport
/// token and, in [`crate::transaction`], which timers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so requests and responses are retransmitted.
    Udp,
    /// TCP: reliable, so nothing is retransmitted and wait timers are zero.
    Tcp,
}

impl Transport {
    /// `true` for transports that deliver reliably (TCP).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The `Via` transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Why a datagram or frame is not a SIP message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but white space.
    #[error("empty message")]
    Empty,
    /// The header block is not UTF-8.
    #[error("the header block is not UTF-8")]
    NotUtf8,
    /// The start line is neither a Request-Line nor a Status-Line.
    #[error("malformed start line")]
    StartLine,
    /// A SIP version other than 2.0.
    #[error("unsupported SIP version {0}")]
    Version(String),
    /// A well-formed method token that rsip (and we) do not implement.
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// A Request-URI whose scheme is not `sip` or `sips`.
    #[error("unsupported Request-URI scheme")]
    UriScheme,
    /// A malformed Request-URI, or one with headers (`?`), or one rsip
    /// cannot represent faithfully (IPv6 hosts).
    #[error("malformed or unsupported Request-URI")]
    RequestUri,
    /// A header line without a colon or with a name that is not a token,
    /// or a continuation line before the first header.
    #[error("malformed header line")]
    HeaderLine,
    /// A header the server reads does not follow its grammar.
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    /// A header every message must carry is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A single-valued header appears more than once.
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    /// The CSeq method differs from the request method.
    #[error("the CSeq method differs from the request method")]
    CSeqMismatch,
    /// Content-Length is not a non-negative integer.
    #[error("malformed Content-Length")]
    ContentLength,
    /// The body is shorter than Content-Length says.
    #[error("body of {actual} bytes is shorter than Content-Length {declared}")]
    BodyTooShort {
        /// The Content-Length value.
        declared: usize,
        /// The bytes actually present.
        actual: usize,
    },
}

impl ParseError {
    /// The status a UAS answers a request with when it fails this way
    /// (RFC 3261 8.2 and RFC 4475): 501 for an unknown method, 416 for an
    /// unsupported Request-URI scheme, 505 for another SIP version, 400
    /// otherwise.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            ParseError::UnknownMethod(_) => (501, "Not Implemented"),
            ParseError::UriScheme => (416, "Unsupported URI Scheme"),
            ParseError::Version(_) => (505, "Version Not Supported"),
            _ => (400, "Bad Request"),
        }
    }
}

/// Why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A URI rsip cannot parse or would not write back unchanged.
    #[error("unsupported URI {0}")]
    Uri(String),
}

/// A parsed or built SIP request or response.
///
/// The Request-URI is kept as text beside rsip's message: rsip's URI parser
/// fails on user parts holding `;` (RFC 4475 `semiuri`) and IPv6 references,
/// and silently rewrites others (`tel:+1` becomes `tel:1`), so rsip's `Uri`
/// field holds a stand-in (`sip:invalid`) and nothing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    inner: SipMessage,
    uri: Option<String>,
}

/// Everything a request outside a dialog needs (INVITE to an agent or the
/// trunk, OPTIONS, REGISTER, or a BYE built by hand); in-dialog requests come
/// from [`crate::dialog::Dialog::request`].
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: Method,
    /// The Request-URI, a `sip:` or `sips:` URI.
    pub uri: &'a str,
    /// The transport named in our `Via`.
    pub transport: Transport,
    /// Our `Via` sent-by (`host:port`).
    pub sent_by: &'a str,
    /// The branch, starting with `z9hG4bK` (see [`crate::ids::Ids::branch`]).
    pub branch: &'a str,
    /// `From`: a URI or a name-addr, without tag.
    pub from: &'a str,
    /// Our tag.
    pub from_tag: &'a str,
    /// `To`: a URI or a name-addr, without tag.
    pub to: &'a str,
    /// The remote tag, inside a dialog.
    pub to_tag: Option<&'a str>,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// Our `Contact` URI (INVITE and REGISTER need one).
    pub contact: Option<&'a str>,
    /// `Route` values in order (each a name-addr or URI).
    pub route: &'a [String],
    /// `Max-Forwards`; 70 is the RFC's recommendation.
    pub max_forwards: u8,
}

/// Parses one SIP message from a datagram or a frame. Extra bytes after the
/// body that Content-Length declares are ignored (RFC 3261 18.3); a body
/// shorter than declared is an error.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let raw = split(bytes)?;
    let body = body_of(&raw)?;
    // The checked parts become rsip's data model directly: rsip's own
    // parser would read the same text a second time.
    let headers: Vec<Header> = raw
        .headers
        .iter()
        .map(|(name, value)| header_of(name, value))
        .collect();
    let (inner, uri) = match raw.start {
        Start::Request { method, uri } => (
            SipMessage::Request(rsip::Request {
                method,
                uri: stand_in_uri(),
                version: rsip::Version::V2,
                headers: headers.into(),
                body: body.to_vec(),
            }),
            Some(uri.to_owned()),
        ),
        // Keep the reason phrase: rsip drops it for codes it knows.
        Start::Response { code, reason } => (
            SipMessage::Response(rsip::Response {
                status_code: StatusCode::Other(code, reason.to_owned()),
                version: rsip::Version::V2,
                headers: headers.into(),
                body: body.to_vec(),
            }),
            None,
        ),
    };
    Ok(Message { inner, uri })
}

/// Writes a message for the wire. `Content-Length` always states the length
/// of the body written, whatever the headers said.
pub fn serialize(message: &Message) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    match &message.inner {
        SipMessage::Request(r) => {
            out.push_str(method_name(r.method));
            out.push(' ');
            out.push_str(message.uri.as_deref().unwrap_or_default());
            out.push_str(" SIP/2.0\r\n");
        }
        SipMessage::Response(r) => out.push_str(&format!(
            "SIP/2.0 {} {}\r\n",
            r.status_code.code(),
            reason_of(&r.status_code)
        )),
    }
    for h in message.inner.headers().iter() {
        let (name, value) = name_value(h);
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    let body = message.body();
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The response a UAS sends to `request` (RFC 3261 8.2.6): the same `Via`
/// headers in order, `From`, `To`, `Call-ID` and `CSeq` (and `Record-Route`
/// in a response that may set up a dialog), no body. Add our
/// tag with [`Message::with_to_tag`].
pub fn response_for(request: &Message, status: u16, reason: &str) -> Message {
    // A response that may set up a dialog (101-299) carries the request's
    // Record-Route too (RFC 3261 12.1.1), so that the caller's requests in
    // the dialog pass the proxies that asked to stay on its path.
    let dialog = (101..300).contains(&status);
    let mut headers = rsip::Headers::default();
    for h in request.inner.headers().iter() {
        let (name, _) = name_value(h);
        if ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
            || (dialog && name.eq_ignore_ascii_case("Record-Route"))
        {
            headers.push(h.clone());
        }
    }
    Message {
        inner: SipMessage::Response(rsip::Response {
            status_code: StatusCode::Other(status, reason.to_owned()),
            version: rsip::Version::V2,
            headers,
            body: Vec::new(),
        }),
        uri: None,
    }
}

/// Builds a request from its parts (outside a dialog, or inside one through
/// [`crate::dialog::Dialog::request`]).
pub fn request(parts: &RequestParts<'_>) -> Result<Message, BuildError> {
    let mut m = Message::new_request(parts.method, parts.uri)?;
    m.push_header(
        "Via",
        &format!(
            "SIP/2.0/{} {};branch={};rport",
            parts.transport.as_str(),
            parts.sent_by,
            parts.branch
        ),
    );
    m.push_header("Max-Forwards", &parts.max_forwards.to_string());
    for route in parts.route {
        m.push_header("Route", &angle(route));
    }
    m.push_header(
        "From",
        &format!("{};tag={}", angle(parts.from), parts.from_tag),
    );
    match parts.to_tag {
        Some(tag) => m.push_header("To", &format!("{};tag={}", angle(parts.to), tag)),
        None => m.push_header("To", &angle(parts.to)),
    }
    m.push_header("Call-ID", parts.call_id);
    m.push_header(
        "CSeq",
        &format!("{} {}", parts.cseq, method_name(parts.method)),
    );
    if let Some(contact) = parts.contact {
        m.push_header("Contact", &angle(contact));
    }
    Ok(m)
}

/// A new INVITE over UDP from `from_user@local` to `uri`, with an SDP offer:
/// the one shape both the runtime (ringing agents, dialling out) and the
/// test caller need.
pub fn invite(
    uri: &str,
    local: SocketAddr,
    from_user: &str,
    ids: (&str, &str, &str),
    sdp: String,
) -> Result<Message, BuildError> {
    invite_as(uri, local, (None, from_user), ids, sdp)
}

/// [`invite`] with a display name in `From` when `display` is given
/// (quoted and escaped; control characters dropped): `"Helpline"
/// <sip:+48600100200@host:port>`.
pub fn invite_as(
    uri: &str,
    local: SocketAddr,
    (display, from_user): (Option<&str>, &str),
    ids: (&str, &str, &str),
    sdp: String,
) -> Result<Message, BuildError> {
    let (branch, tag, call_id) = ids;
    let contact = format!("sip:{from_user}@{local}");
    let from = match display {
        Some(name) => format!("{} <{contact}>", quoted(name)),
        None => contact.clone(),
    };
    let sent_by = local.to_string();
    let parts = RequestParts {
        method: Method::Invite,
        uri,
        transport: Transport::Udp,
        sent_by: &sent_by,
        branch,
        from: &from,
        from_tag: tag,
        to: uri,
        to_tag: None,
        call_id,
        cseq: 1,
        contact: Some(&contact),
        route: &[],
        max_forwards: 70,
    };
    Ok(request(&parts)?.with_body("application/sdp", sdp.into_bytes()))
}

/// A display name as a quoted string (RFC 3261 25.1): `"` and `\` escaped,
/// control characters dropped.
pub fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The CANCEL for an INVITE we sent (RFC 3261 9.1): same Request-URI,
/// Call-ID, From, To, CSeq number, the INVITE's top `Via` (so the same
/// branch) and its `Route` headers. `None` when `invite` is not a request.
pub fn cancel_for(invite: &Message) -> Option<Message> {
    let cseq = invite.cseq()?;
    let mut m = Message::new_request(Method::Cancel, invite.uri.as_deref()?).ok()?;
    m.push_header(
        "Via",
        invite.header_values("Via").next()?.split_first_via()?,
    );
    m.push_header("Max-Forwards", "70");
    for route in invite.header_values("Route") {
        m.push_header("Route", route);
    }
    m.push_header("From", invite.header("From")?);
    m.push_header("To", invite.header("To")?);
    m.push_header("Call-ID", invite.call_id()?);
    m.push_header("CSeq", &format!("{} CANCEL", cseq.seq));
    Some(m)
}

/// The ACK a client INVITE transaction sends for a 3xx–6xx response
/// (RFC 3261 17.1.1.3): the INVITE's Request-URI, Call-ID, From, top `Via`
/// and `Route`, the response's `To` (with the UAS's tag), and the INVITE's
/// CSeq number with method ACK.
pub fn ack_for_failure(invite: &Message, response: &Message) -> Option<Message> {
    let cseq = invite.cseq()?;
    let mut m = Message::new_request(Method::Ack, invite.uri.as_deref()?).ok()?;
    m.push_header(
        "Via",
        invite.header_values("Via").next()?.split_first_via()?,
    );
    m.push_header("Max-Forwards", "70");
    for route in invite.header_values("Route") {
        m.push_header("Route", route);
    }
    m.push_header("From", invite.header("From")?);
    m.push_header("To", response.header("To")?);
    m.push_header("Call-ID", invite.call_id()?);
    m.push_header("CSeq", &format!("{} ACK", cseq.seq));
    Some(m)
}

/// The first value of the header `name` in a message's text, found
/// without parsing the rest: the same header lines as [`parse`] reads
/// (leading blank lines skipped, compact names expanded, any case, folded
/// lines joined, the body left alone). `None` without it, or when the
/// head is not text.
pub fn header_in<'a>(bytes: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    let lines = head_lines(bytes)?;
    let lines = lines
        .into_iter()
        .skip(1)
        .filter(|l| l.starts_with([' ', '\t']) || l.contains(':'));
    unfold(lines)
        .ok()?
        .into_iter()
        .find(|(n, _)| expand_compact(n.trim_matches([' ', '\t'])).eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// A best-effort response to a request that [`parse`] refused, built from
/// its raw header lines so the peer learns why (RFC 3261 8.2 and 18.3):
/// `error.status()` with the request's `Via`, `From`, `To`, `Call-ID` and
/// `CSeq` lines copied as they are. `None` for responses, for ACK (never
/// answered), and when there is no `Via` to send the answer along.
pub fn error_response(bytes: &[u8], error: &ParseError) -> Option<Vec<u8>> {
    let head = head_lines(bytes)?;
    let mut lines = head.into_iter();
    let start = lines.next()?;
    let method = start.split(' ').next()?;
    if start.starts_with("SIP/") || method == "ACK" {
        return None;
    }
    let (status, reason) = error.status();
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    let mut has_via = false;
    // Best effort: lines that are no header are left out.
    let lines = lines.filter(|l| l.starts_with([' ', '\t']) || l.contains(':'));
    for (name, value) in unfold(lines).ok()? {
        let name = expand_compact(name.trim_matches([' ', '\t']));
        if ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            has_via |= name.eq_ignore_ascii_case("Via");
            out.push_str(&format!(
                "{}: {}\r\n",
                name,
                value.trim_matches([' ', '\t'])
            ));
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    has_via.then(|| out.into_bytes())
}

impl Message {
    /// A request with the given method and Request-URI and no headers.
    pub fn new_request(method: Method, uri: &str) -> Result<Message, BuildError> {
        match SipUri::parse(uri) {
            Some(u) if u.headers.is_none() => {}
            _ => return Err(BuildError::Uri(uri.to_owned())),
        }
        Ok(Message {
            inner: SipMessage::Request(rsip::Request {
                method,
                uri: stand_in_uri(),
                version: rsip::Version::V2,
                headers: rsip::Headers::default(),
                body: Vec::new(),
            }),
            uri: Some(uri.to_owned()),
        })
    }

    /// `true` for a request.
    pub fn is_request(&self) -> bool {
        self.inner.is_request()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<Method> {
        match &self.inner {
            SipMessage::Request(r) => Some(r.method),
            SipMessage::Response(_) => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.inner {
            SipMessage::Request(_) => None,
            SipMessage::Response(r) => Some(r.status_code.code()),
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<String> {
        match &self.inner {
            SipMessage::Request(_) => None,
            SipMessage::Response(r) => Some(reason_of(&r.status_code).to_owned()),
        }
    }

    /// The Request-URI as written.
    pub fn request_uri(&self) -> Option<String> {
        match &self.inner {
            SipMessage::Request(_) => self.uri.clone(),
            SipMessage::Response(_) => None,
        }
    }

    /// The user part of the Request-URI with %-escapes decoded (the dialled
    /// number or extension).
    pub fn request_uri_user(&self) -> Option<String> {
        let uri = self.request_uri()?;
        SipUri::parse(&uri)?.user.map(|u| header::unescape(&u))
    }

    /// The first value of a header (long or compact name, any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of a header in order, one per header line (comma lists
    /// are not split).
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = expand_compact(name).to_owned();
        self.inner.headers().iter().filter_map(move |h| {
            let (n, v) = name_value(h);
            n.eq_ignore_ascii_case(&name).then_some(v)
        })
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The `From` header.
    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.header("From")?)
    }

    /// The `To` header.
    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.header("To")?)
    }

    /// The `From` tag.
    pub fn from_tag(&self) -> Option<String> {
        self.from()?.tag().map(str::to_owned)
    }

    /// The `To` tag.
    pub fn to_tag(&self) -> Option<String> {
        self.to()?.tag().map(str::to_owned)
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.header("CSeq")?)
    }

    /// The topmost `Via` value.
    pub fn top_via(&self) -> Option<Via> {
        Via::parse_list(self.header("Via")?)?.into_iter().next()
    }

    /// Every `Via` value, top first.
    pub fn vias(&self) -> Vec<Via> {
        self.header_values("Via")
            .filter_map(Via::parse_list)
            .flatten()
            .collect()
    }

    /// The first `Contact` value (`None` for `*`).
    pub fn contact(&self) -> Option<NameAddr> {
        NameAddr::parse_list(self.header("Contact")?)?
            .into_iter()
            .next()
    }

    /// The URI of the first `Contact`.
    pub fn contact_uri(&self) -> Option<String> {
        self.contact().map(|c| c.uri)
    }

    /// Every value of a name-addr list header (`Route`, `Record-Route`,
    /// `Contact`) in order.
    pub fn name_addrs(&self, name: &str) -> Vec<NameAddr> {
        self.header_values(name)
            .filter_map(NameAddr::parse_list)
            .flatten()
            .collect()
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.inner.body()
    }

    /// `Max-Forwards`.
    pub fn max_forwards(&self) -> Option<u32> {
        self.header("Max-Forwards")?.parse().ok()
    }

    /// Appends a header line.
    pub fn push_header(&mut self, name: &str, value: &str) {
        self.inner.headers_mut().push(make_header(name, value));
    }

    /// Replaces every header of that name by one line with `value`, at the
    /// place of the first (or at the end).
    pub fn set_header(&mut self, name: &str, value: &str) {
        let name = expand_compact(name);
        let headers = std::mem::take(self.inner.headers_mut());
        let mut out = rsip::Headers::default();
        let mut placed = false;
        for h in headers {
            if name_value(&h).0.eq_ignore_ascii_case(name) {
                if !placed {
                    out.push(make_header(name, value));
                    placed = true;
                }
            } else {
                out.push(h);
            }
        }
        if !placed {
            out.push(make_header(name, value));
        }
        *self.inner.headers_mut() = out;
    }

    /// Removes every header of that name.
    pub fn remove_header(&mut self, name: &str) {
        let name = expand_compact(name).to_owned();
        self.inner
            .headers_mut()
            .retain(|h| !name_value(h).0.eq_ignore_ascii_case(&name));
    }

    /// This message with one more header line.
    pub fn with_header(mut self, name: &str, value: &str) -> Message {
        self.push_header(name, value);
        self
    }

    /// This message with a body and its `Content-Type`.
    pub fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Message {
        self.set_header("Content-Type", content_type);
        *self.inner.body_mut() = body;
        self
    }

    /// This message with `tag` added to `To`, unless `To` has a tag already
    /// (a response inside a dialog keeps the tag of the request).
    pub fn with_to_tag(mut self, tag: &str) -> Message {
        let untagged = self
            .header("To")
            .filter(|to| NameAddr::parse(to).is_some_and(|t| t.tag().is_none()));
        if let Some(to) = untagged {
            let value = format!("{to};tag={tag}");
            self.set_header("To", &value);
        }
        self
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&serialize(self)))
    }
}

/// Splits complete messages out of a byte stream (TCP): CRLF keep-alives
/// between messages are skipped, each message ends `Content-Length` bytes
/// after its header block, and the buffer is bounded: a header block over
/// [`MAX_HEADER_BYTES`] or a body over [`MAX_BODY_BYTES`] is an error after
/// which the connection should be closed.
#[derive(Debug, Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
    /// How far the search for the end of the header block has got, so a
    /// header block dripping in byte by byte is scanned once, not once per
    /// byte.
    scanned: usize,
}

/// Why [`TcpFramer`] could not deliver a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// No end of headers within [`MAX_HEADER_BYTES`]. Fatal.
    #[error("header block over {MAX_HEADER_BYTES} bytes")]
    HeaderTooLarge,
    /// A Content-Length over [`MAX_BODY_BYTES`]. Fatal.
    #[error("body over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// Content-Length missing (it is mandatory on streams) or not a number:
    /// the stream cannot be framed any more. Fatal.
    #[error("missing or malformed Content-Length on a stream")]
    ContentLength,
    /// A well-framed message that [`parse`] refused; the stream goes on.
    #[error("{error}")]
    Message {
        /// What [`parse`] said.
        error: ParseError,
        /// The frame, for [`error_response`].
        bytes: Vec<u8>,
    },
}

impl FrameError {
    /// `true` when the stream cannot be framed any more and the connection
    /// should be closed.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FrameError::Message { .. })
    }
}

impl TcpFramer {
    /// An empty framer.
    pub fn new() -> TcpFramer {
        TcpFramer::default()
    }

    /// Appends bytes read from the stream. Refuses to hold more than one
    /// maximal message; call [`TcpFramer::poll_message`] until it returns
    /// `Ok(None)` after every push.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if self.buf.len().saturating_add(bytes.len()) > MAX_HEADER_BYTES + MAX_BODY_BYTES {
            return Err(FrameError::BodyTooLarge);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The bytes held and not yet delivered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn poll_message(&mut self) -> Result<Option<Message>, FrameError> {
        let skip = self
            .buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(self.buf.len());
        self.buf.drain(..skip);
        self.scanned = self.scanned.saturating_sub(skip);
        if self.buf.is_empty() {
            return Ok(None);
        }
        // The terminator is at most three bytes long, so it may start up to
        // two bytes before where the last search stopped.
        let from = self.scanned.saturating_sub(2);
        let found = self
            .buf
            .get(from..)
            .and_then(head_end)
            .map(|(h, b)| (h + from, b + from));
        let Some((head_len, body_start)) = found else {
            self.scanned = self.buf.len();
            return if self.buf.len() > MAX_HEADER_BYTES {
                Err(FrameError::HeaderTooLarge)
            } else {
                Ok(None)
            };
        };
        if head_len > MAX_HEADER_BYTES {
            return Err(FrameError::HeaderTooLarge);
        }
        let length = self
            .buf
            .get(..head_len)
            .and_then(framing_length)
            .ok_or(FrameError::ContentLength)?;
        if length > MAX_BODY_BYTES {
            return Err(FrameError::BodyTooLarge);
        }
        let end = body_start + length;
        if self.buf.len() < end {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..end).collect();
        self.scanned = 0;
        match parse(&frame) {
            Ok(m) => Ok(Some(m)),
            Err(error) => Err(FrameError::Message {
                error,
                bytes: frame,
            }),
        }
    }
}

/// The start line, checked.
#[derive(Debug)]
enum Start<'a> {
    Request { method: Method, uri: &'a str },
    Response { code: u16, reason: &'a str },
}

/// A message split into its checked start line, unfolded headers (compact
/// names expanded) and the bytes after the header block.
#[derive(Debug)]
struct Raw<'a> {
    start: Start<'a>,
    /// In the order received; the names the server reads are canonical.
    /// Borrowed from the datagram unless folded lines had to be joined.
    headers: Vec<(&'a str, Cow<'a, str>)>,
    rest: &'a [u8],
}

/// Header names whose values the server reads, in their canonical form; a
/// header with another name keeps the name it was sent with.
const KNOWN: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Route",
    "Record-Route",
];

fn split(bytes: &[u8]) -> Result<Raw<'_>, ParseError> {
    let start_at = bytes
        .iter()
        .position(|&b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .ok_or(ParseError::Empty)?;
    let bytes = bytes.get(start_at..).ok_or(ParseError::Empty)?;
    let (head, rest) = match head_end(bytes) {
        Some((head_len, body_start)) => (
            bytes.get(..head_len).unwrap_or_default(),
            bytes.get(body_start..).unwrap_or_default(),
        ),
        // A datagram without the empty line: all of it is headers.
        None => (bytes, &[][..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = start_line(lines.next().ok_or(ParseError::Empty)?)?;
    let mut headers = Vec::new();
    let lines: Vec<&str> = lines.collect();
    if lines.first().is_some_and(|l| l.starts_with([' ', '\t'])) {
        return Err(ParseError::HeaderLine);
    }
    for (name, value) in unfold(lines.into_iter())? {
        let name = expand_compact(name.trim_matches([' ', '\t']));
        if !header::is_token(name) {
            return Err(ParseError::HeaderLine);
        }
        if value.contains(['\r', '\n']) {
            return Err(ParseError::HeaderLine);
        }
        let name = KNOWN
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map_or(name, |k| k);
        headers.push((name, value));
    }
    let raw = Raw {
        start,
        headers,
        rest,
    };
    check(&raw)?;
    Ok(raw)
}

/// Splits header lines into name and value (trimmed), joining folded
/// lines (a line starting with SP or HTAB continues the one before, RFC
/// 3261 7.3.1) with a single space. Values stay borrowed from the datagram
/// unless a fold joined them.
fn unfold<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<Vec<(&'a str, Cow<'a, str>)>, ParseError> {
    let mut out: Vec<(&'a str, Cow<'a, str>)> = Vec::with_capacity(16);
    for line in lines {
        if line.starts_with([' ', '\t'])
            && let Some((_, last)) = out.last_mut()
        {
            let joined = last.to_mut();
            let trimmed = joined.trim_end_matches([' ', '\t']).len();
            joined.truncate(trimmed);
            joined.push(' ');
            joined.push_str(line.trim_matches([' ', '\t']));
            continue;
        }
        if !line.is_empty() {
            let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine)?;
            out.push((name, Cow::Borrowed(value.trim_matches([' ', '\t']))));
        }
    }
    Ok(out)
}

fn start_line(line: &str) -> Result<Start<'_>, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, status) = rest.split_once(' ').ok_or(ParseError::StartLine)?;
        if version != "2.0" {
            return Err(ParseError::Version(format!("SIP/{version}")));
        }
        let (code, reason) = status.split_once(' ').unwrap_or((status, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StartLine);
        }
        let code: u16 = code.parse().map_err(|_| ParseError::StartLine)?;
        if !(100..=699).contains(&code) || reason.contains(['\r', '\n']) {
            return Err(ParseError::StartLine);
        }
        return Ok(Start::Response { code, reason });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    if !header::is_token(method) || uri.is_empty() {
        return Err(ParseError::StartLine);
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        let v = version.get(..4).unwrap_or_default();
        return if v.eq_ignore_ascii_case("SIP/") {
            Err(ParseError::Version(version.to_owned()))
        } else {
            Err(ParseError::StartLine)
        };
    }
    let (scheme, _) = uri.split_once(':').ok_or(ParseError::RequestUri)?;
    if !header::valid_scheme(scheme) || !header::valid_uri(uri) {
        return Err(ParseError::RequestUri);
    }
    let Some(method) = method_of(method) else {
        return Err(ParseError::UnknownMethod(method.to_owned()));
    };
    let sip = SipUri::parse(uri);
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return Err(ParseError::UriScheme);
    }
    match sip {
        Some(u) if u.headers.is_none() => Ok(Start::Request { method, uri }),
        _ => Err(ParseError::RequestUri),
    }
}

/// What RFC 3261 requires of every message, and the syntax of the headers
/// the server reads.
fn check(raw: &Raw<'_>) -> Result<(), ParseError> {
    for name in [
        "Call-ID",
        "CSeq",
        "From",
        "To",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
    ] {
        if raw.headers.iter().filter(|(n, _)| *n == name).count() > 1 {
            return Err(ParseError::DuplicateHeader(name));
        }
    }
    let one = |name: &'static str| {
        raw.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
            .ok_or(ParseError::MissingHeader(name))
    };
    let call_id = one("Call-ID")?;
    if call_id.is_empty() || call_id.contains([' ', '\t']) {
        return Err(ParseError::BadHeader("Call-ID"));
    }
    let cseq = CSeq::parse(one("CSeq")?).ok_or(ParseError::BadHeader("CSeq"))?;
    if cseq.seq > i32::MAX as u32 {
        return Err(ParseError::BadHeader("CSeq"));
    }
    match &raw.start {
        Start::Request { method, .. } if cseq.method != method_name(*method) => {
            return Err(ParseError::CSeqMismatch);
        }
        _ => {}
    }
    NameAddr::parse(one("From")?).ok_or(ParseError::BadHeader("From"))?;
    NameAddr::parse(one("To")?).ok_or(ParseError::BadHeader("To"))?;
    one("Via")?;
    for (name, value) in &raw.headers {
        let ok = match *name {
            "Via" => {
                Via::parse_list(value).is_some_and(|v| v.iter().all(|v| v.protocol == "SIP/2.0"))
            }
            "Contact" => value == "*" || NameAddr::parse_list(value).is_some(),
            "Route" | "Record-Route" => NameAddr::parse_list(value).is_some(),
            "Max-Forwards" => {
                !value.is_empty()
                    && value.bytes().all(|b| b.is_ascii_digit())
                    && value.parse::<u32>().is_ok_and(|n| n <= 255)
            }
            _ => true,
        };
        if !ok {
            let name = KNOWN.iter().find(|k| *k == name).map_or("header", |k| k);
            return Err(ParseError::BadHeader(name));
        }
    }
    Ok(())
}

/// The body: Content-Length bytes of what follows the header block (extra
/// bytes are discarded, RFC 3261 18.3), or all of it without Content-Length.
fn body_of<'a>(raw: &Raw<'a>) -> Result<&'a [u8], ParseError> {
    let Some((_, value)) = raw.headers.iter().find(|(n, _)| *n == "Content-Length") else {
        return Ok(raw.rest);
    };
    let declared = content_length(value).ok_or(ParseError::ContentLength)?;
    raw.rest.get(..declared).ok_or(ParseError::BodyTooShort {
        declared,
        actual: raw.rest.len(),
    })
}

fn content_length(value: &str) -> Option<usize> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// `(head length, body start)`: the header block ends at the first empty
/// line, written CRLF CRLF, LF LF or LF CRLF.
fn head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    bytes.iter().enumerate().find_map(|(i, &b)| {
        if b != b'\n' {
            return None;
        }
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'\n'), _) => Some((i, i + 2)),
            (Some(b'\r'), Some(b'\n')) => Some((i, i + 3)),
            _ => None,
        }
    })
}

/// The header lines of a message (start line first), for [`error_response`].
fn head_lines(bytes: &[u8]) -> Option<Vec<&str>> {
    let start_at = bytes.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let bytes = bytes.get(start_at..)?;
    let head = match head_end(bytes) {
        Some((len, _)) => bytes.get(..len)?,
        None => bytes,
    };
    let head = std::str::from_utf8(head).ok()?;
    Some(
        head.split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect(),
    )
}

/// The Content-Length of a header block, for framing a stream.
fn framing_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    let lines = head
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .skip(1);
    let mut found = None;
    let lines = lines.filter(|l| l.starts_with([' ', '\t']) || l.contains(':'));
    for (name, value) in unfold(lines).ok()? {
        if expand_compact(name.trim_matches([' ', '\t'])).eq_ignore_ascii_case("Content-Length") {
            let n = content_length(&value)?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
    }
    found
}

/// Expands a compact header name (RFC 3261 7.3.3 and the extensions that
/// registered one) to its long form; other names come back unchanged.
fn expand_compact(name: &str) -> &str {
    const COMPACT: &[(&str, &str)] = &[
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("f", "From"),
        ("t", "To"),
        ("v", "Via"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("e", "Content-Encoding"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
        ("u", "Allow-Events"),
    ];
    COMPACT
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
        .map_or(name, |(_, long)| long)
}

fn angle(uri_or_name_addr: &str) -> String {
    if uri_or_name_addr.contains('<') {
        uri_or_name_addr.to_owned()
    } else {
        format!("<{uri_or_name_addr}>")
    }
}

/// rsip's Request-URI field: the real one is kept as text in [`Message`]
/// (rsip's reading of URIs is not faithful), so rsip's holds a stand-in.
fn stand_in_uri() -> rsip::Uri {
    rsip::Uri {
        scheme: Some(rsip::Scheme::Sip),
        host_with_port: rsip::Domain::from("invalid").into(),
        ..Default::default()
    }
}

/// The method a Request-Line token names; methods are case-sensitive
/// (RFC 3261 7.1), so `invite` is not `INVITE`.
fn method_of(token: &str) -> Option<Method> {
    Some(match token {
        "ACK" => Method::Ack,
        "BYE" => Method::Bye,
        "CANCEL" => Method::Cancel,
        "INFO" => Method::Info,
        "INVITE" => Method::Invite,
        "MESSAGE" => Method::Message,
        "NOTIFY" => Method::Notify,
        "OPTIONS" => Method::Options,
        "PRACK" => Method::PRack,
        "PUBLISH" => Method::Publish,
        "REFER" => Method::Refer,
        "REGISTER" => Method::Register,
        "SUBSCRIBE" => Method::Subscribe,
        "UPDATE" => Method::Update,
        _ => return None,
    })
}

/// The token of a method, as written on the wire (rsip's `Display`
/// allocates twice for it).
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Ack => "ACK",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        Method::Info => "INFO",
        Method::Invite => "INVITE",
        Method::Message => "MESSAGE",
        Method::Notify => "NOTIFY",
        Method::Options => "OPTIONS",
        Method::PRack => "PRACK",
        Method::Publish => "PUBLISH",
        Method::Refer => "REFER",
        Method::Register => "REGISTER",
        Method::Subscribe => "SUBSCRIBE",
        Method::Update => "UPDATE",
    }
}

fn reason_of(status: &StatusCode) -> &str {
    match status {
        StatusCode::Other(_, reason) => reason,
        // Codes rsip knows and we did not build: the RFC's phrase for the
        // class is better than rsip's CamelCase variant name.
        other => match other.code() {
            100..=199 => "Provisional",
            200..=299 => "OK",
            300..=399 => "Redirection",
            400..=499 => "Request Failure",
            500..=599 => "Server Failure",
            _ => "Global Failure",
        },
    }
}

trait FirstVia {
    fn split_first_via(&self) -> Option<&str>;
}

impl FirstVia for str {
    /// The first element of a comma-separated `Via` value.
    fn split_first_via(&self) -> Option<&str> {
        header::split_list(self)?.into_iter().next().map(str::trim)
    }
}

macro_rules! header_names {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The canonical name and the value of an rsip header.
        fn name_value(h: &Header) -> (&str, &str) {
            match h {
                $(Header::$variant(x) => ($name, x.value()),)*
                Header::Other(n, v) => (n.as_str(), v.as_str()),
            }
        }

        /// The rsip header for a name and value.
        fn make_header(name: &str, value: &str) -> Header {
            header_of(expand_compact(name), value)
        }

        /// The rsip header for a full (not compact) name and a value.
        fn header_of(name: &str, value: &str) -> Header {
            $(if name.eq_ignore_ascii_case($name) {
                return Header::$variant(rsip::headers::$variant::new(value));
            })*
            Header::Other(name.to_owned(), value.to_owned())
        }
    };
}

header_names! {
    Accept => "Accept",
    AcceptEncoding => "Accept-Encoding",
    AcceptLanguage => "Accept-Language",
    AlertInfo => "Alert-Info",
    Allow => "Allow",
    AuthenticationInfo => "Authentication-Info",
    Authorization => "Authorization",
    CSeq => "CSeq",
    CallId => "Call-ID",
    CallInfo => "Call-Info",
    Contact => "Contact",
    ContentDisposition => "Content-Disposition",
    ContentEncoding => "Content-Encoding",
    ContentLanguage => "Content-Language",
    ContentLength => "Content-Length",
    ContentType => "Content-Type",
    Date => "Date",
    ErrorInfo => "Error-Info",
    Event => "Event",
    Expires => "Expires",
    From => "From",
    InReplyTo => "In-Reply-To",
    MaxForwards => "Max-Forwards",
    MimeVersion => "MIME-Version",
    MinExpires => "Min-Expires",
    Organization => "Organization",
    Priority => "Priority",
    ProxyAuthenticate => "Proxy-Authenticate",
    ProxyAuthorization => "Proxy-Authorization",
    ProxyRequire => "Proxy-Require",
    RecordRoute => "Record-Route",
    ReplyTo => "Reply-To",
    Require => "Require",
    RetryAfter => "Retry-After",
    Route => "Route",
    Server => "Server",
    Subject => "Subject",
    SubscriptionState => "Subscription-State",
    Supported => "Supported",
    Timestamp => "Timestamp",
    To => "To",
    Unsupported => "Unsupported",
    UserAgent => "User-Agent",
    Via => "Via",
    Warning => "Warning",
    WwwAuthenticate => "WWW-Authenticate",
}
