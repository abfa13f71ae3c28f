//! SDP offer/answer (RFC 4566, RFC 3264) for what the media path speaks:
//! G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, 8) at 8 kHz with
//! 20 ms packets, and RFC 4733 telephone events for DTMF.
//!
//! [`parse`] reads an offer or answer, [`answer`] answers an offer (the
//! first of PCMU and PCMA in the offerer's order; `None`, to be answered
//! 488, when neither is offered), [`offer`] writes our offer for calls we
//! place and [`negotiated`] reads the answer to it.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A parsed session description (only what the server uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// The session-level direction attribute.
    pub direction: Option<Direction>,
    /// The media sections in order.
    pub media: Vec<Media>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ...
    pub kind: String,
    /// The port (0 for a rejected or disabled stream).
    pub port: u16,
    /// The transport protocol (`RTP/AVP`).
    pub proto: String,
    /// The format list as written (payload types for RTP).
    pub formats: Vec<String>,
    /// `a=rtpmap` lines.
    pub rtpmap: Vec<RtpMap>,
    /// The media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// The media-level direction attribute.
    pub direction: Option<Direction>,
    /// `a=ptime` in milliseconds.
    pub ptime: Option<u32>,
    /// `a=crypto` lines (SDES, RFC 4568), at most 16.
    pub crypto: Vec<Crypto>,
}

/// `a=crypto:<tag> <suite> inline:<key>[|lifetime][|MKI:length]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag the answer repeats.
    pub tag: u32,
    /// The suite (`AES_CM_128_HMAC_SHA1_80`).
    pub suite: String,
    /// The key and salt, base64, as written after `inline:`.
    pub key: String,
    /// Whether the key has an MKI (we take keys without one only).
    pub mki: bool,
}

/// The SRTP suite we speak.
pub const SRTP_SUITE: &str = "AES_CM_128_HMAC_SHA1_80";

/// `a=rtpmap:<pt> <encoding>/<clock rate>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type.
    pub payload_type: u8,
    /// The encoding name as written.
    pub encoding: String,
    /// The clock rate.
    pub clock_rate: u32,
}

/// The media direction attributes (RFC 3264 section 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

/// The audio codecs we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

/// Our end of the media: where we receive RTP, and the `o=` line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address we receive RTP on.
    pub address: IpAddr,
    /// The RTP port.
    pub port: u16,
    /// The `o=` session id.
    pub session_id: u64,
    /// The `o=` version; increase it for every new offer or answer in the
    /// session.
    pub version: u64,
}

/// What offer and answer agreed on, for the media path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec.
    pub codec: Codec,
    /// Its payload type (0 or 8, or the dynamic one the peer mapped).
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides have it.
    pub telephone_event: Option<u8>,
    /// Where to send RTP; `None` when the peer gave `c=0.0.0.0` or port 0.
    pub remote: Option<SocketAddr>,
    /// The direction the peer stated for its side of the stream.
    pub remote_direction: Direction,
    /// `true` when the peer puts us on hold (`sendonly`, `inactive`, or the
    /// RFC 2543 `c=0.0.0.0`).
    pub on_hold: bool,
    /// The packet time the peer asked for (20 ms when it did not say).
    pub ptime: u32,
}

/// Why a body is not a session description we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not UTF-8.
    #[error("SDP is not UTF-8")]
    NotUtf8,
    /// A line that is not `<letter>=<value>`.
    #[error("malformed SDP line")]
    Line,
    /// A malformed `m=` line.
    #[error("malformed m= line")]
    MediaLine,
    /// No `v=0`.
    #[error("no v=0 line")]
    Version,
}

/// Parses a session description. Unknown lines and attributes are skipped;
/// LF-only line ends are accepted.
pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
    let mut sd = SessionDescription {
        connection: None,
        direction: None,
        media: Vec::new(),
    };
    let mut seen_version = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (kind, value) = line.split_once('=').ok_or(SdpError::Line)?;
        let value = value.trim();
        match kind {
            "v" => seen_version = value == "0",
            "c" => {
                let address = connection_address(value);
                match sd.media.last_mut() {
                    Some(m) => m.connection = address,
                    None => sd.connection = address,
                }
            }
            "m" => sd.media.push(media_line(value)?),
            "a" => attribute(&mut sd, value),
            k if k.len() == 1 => {}
            _ => return Err(SdpError::Line),
        }
    }
    if !seen_version {
        return Err(SdpError::Version);
    }
    Ok(sd)
}

/// Answers an offer: the first audio stream with a port, the first of PCMU
/// and PCMA in the offerer's order, telephone-event with the offerer's
/// payload type when offered, our address and port, `ptime:20`, and the
/// direction that mirrors the offer's. Other streams are refused with port 0.
/// `None` when no audio stream offers PCMU or PCMA over `RTP/AVP`: answer
/// 488. An `RTP/SAVP` (SRTP) or `RTP/AVPF` stream is refused rather than
/// answered as `RTP/AVP`, a profile other than the one offered (RFC 3264
/// §6), which for SRTP would drop the caller's confidentiality unasked.
pub fn answer(offer: &SessionDescription, local: &LocalMedia) -> Option<(Negotiated, String)> {
    answer_with(offer, local, None).map(|(negotiated, sdp, _)| (negotiated, sdp))
}

/// [`answer`], also taking an `RTP/SAVP` stream (SRTP keyed by SDES, RFC
/// 4568) when `srtp` gives our key (base64 of the master key and salt):
/// the first `AES_CM_128_HMAC_SHA1_80` key without MKI is taken, and the
/// answer says `RTP/SAVP` with our key under the offer's tag. The third
/// value is the peer's key, when the stream is SRTP. Give a key only when
/// the signalling is encrypted (TLS): SDES keys travel in the SDP.
pub fn answer_with(
    offer: &SessionDescription,
    local: &LocalMedia,
    srtp: Option<&str>,
) -> Option<(Negotiated, String, Option<String>)> {
    fn usable<'m>(m: &'m Media, srtp: Option<&str>) -> Option<Option<&'m Crypto>> {
        let crypto = m.crypto.iter().find(|c| c.suite == SRTP_SUITE && !c.mki);
        match (m.proto.as_str(), srtp) {
            ("RTP/AVP", _) => Some(None),
            ("RTP/SAVP", Some(_)) => crypto.map(Some),
            _ => None,
        }
    }
    let (index, media, crypto) = offer.media.iter().enumerate().find_map(|(i, m)| {
        (m.kind == "audio" && m.port != 0)
            .then(|| usable(m, srtp))
            .flatten()
            .map(|c| (i, m, c))
    })?;
    let (codec, payload_type) = media.formats.iter().find_map(|f| codec_of(media, f))?;
    let negotiated = negotiate(offer, media, codec, payload_type);
    let direction = match negotiated.remote_direction {
        Direction::SendRecv => Direction::SendRecv,
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
    };
    let mut sdp = session_head(local);
    for (i, m) in offer.media.iter().enumerate() {
        if i == index {
            audio_section(
                &mut sdp,
                local.port,
                codec,
                payload_type,
                negotiated.telephone_event,
                direction,
                crypto
                    .and(srtp)
                    .map(|key| (crypto.map_or(1, |c| c.tag), key)),
            );
        } else {
            let format = m.formats.first().map_or("0", String::as_str);
            let _ = write!(sdp, "m={} 0 {} {}\r\n", m.kind, m.proto, format);
        }
    }
    Some((negotiated, sdp, crypto.map(|c| c.key.clone())))
}

/// Our offer for a call we place: PCMU, PCMA and telephone-event 101,
/// `ptime:20`, `sendrecv`.
pub fn offer(local: &LocalMedia) -> String {
    let mut sdp = session_head(local);
    let _ = write!(
        sdp,
        "m=audio {} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n",
        local.port
    );
    sdp
}

/// Reads the answer to our [`offer`]: the codec the peer chose (the first
/// of its formats we speak). `None` when it chose nothing we speak.
pub fn negotiated(answer: &SessionDescription) -> Option<Negotiated> {
    let media = answer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0)?;
    let (codec, payload_type) = media.formats.iter().find_map(|f| codec_of(media, f))?;
    Some(negotiate(answer, media, codec, payload_type))
}

impl Codec {
    /// The static payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

fn negotiate(sd: &SessionDescription, media: &Media, codec: Codec, payload_type: u8) -> Negotiated {
    let telephone_event = media.formats.iter().find_map(|f| {
        let pt: u8 = f.parse().ok()?;
        media
            .rtpmap
            .iter()
            .any(|r| {
                r.payload_type == pt
                    && r.encoding.eq_ignore_ascii_case("telephone-event")
                    && r.clock_rate == 8000
            })
            .then_some(pt)
    });
    let address = media.connection.or(sd.connection);
    let zero = address.is_some_and(|a| a.is_unspecified());
    let remote_direction = media
        .direction
        .or(sd.direction)
        .unwrap_or(Direction::SendRecv);
    Negotiated {
        codec,
        payload_type,
        telephone_event,
        remote: address
            .filter(|a| !a.is_unspecified() && media.port != 0)
            .map(|a| SocketAddr::new(a, media.port)),
        remote_direction,
        on_hold: zero || matches!(remote_direction, Direction::SendOnly | Direction::Inactive),
        ptime: media.ptime.unwrap_or(20),
    }
}

/// The codec a format of an audio section stands for: a static payload type
/// without rtpmap, or an rtpmap naming PCMU/PCMA at 8 kHz.
fn codec_of(media: &Media, format: &str) -> Option<(Codec, u8)> {
    let pt: u8 = format.parse().ok()?;
    match media.rtpmap.iter().find(|r| r.payload_type == pt) {
        Some(map) if map.clock_rate == 8000 => {
            if map.encoding.eq_ignore_ascii_case("PCMU") {
                Some((Codec::Pcmu, pt))
            } else if map.encoding.eq_ignore_ascii_case("PCMA") {
                Some((Codec::Pcma, pt))
            } else {
                None
            }
        }
        Some(_) => None,
        None => match pt {
            0 => Some((Codec::Pcmu, 0)),
            8 => Some((Codec::Pcma, 8)),
            _ => None,
        },
    }
}

/// Our answer to a new offer in the same session (a re-INVITE: hold,
/// resume, a new address): `previous`, our last answer, with the direction
/// that mirrors the offer's (RFC 3264 §6.1: `sendonly` is answered
/// `recvonly`, `inactive` with `inactive`, `sendrecv` with `sendrecv`) and,
/// when that changes it, the `o=` version one higher (§8). The offer's
/// first audio stream with a port decides; without one, `previous` as it
/// was.
pub fn reanswer(previous: &str, offer: &SessionDescription) -> String {
    let Some(media) = offer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0)
    else {
        return previous.to_owned();
    };
    let ours = match media
        .direction
        .or(offer.direction)
        .unwrap_or(Direction::SendRecv)
    {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "recvonly",
        Direction::RecvOnly => "sendonly",
        Direction::Inactive => "inactive",
    };
    let mut changed = false;
    let mut in_audio = false;
    let mut lines: Vec<String> = previous
        .split("\r\n")
        .map(|line| {
            if line.starts_with("m=") {
                in_audio = line.starts_with("m=audio ") && !line.starts_with("m=audio 0 ");
            }
            let direction = matches!(
                line,
                "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
            );
            if in_audio && direction && line.get(2..) != Some(ours) {
                changed = true;
                return format!("a={ours}");
            }
            line.to_owned()
        })
        .collect();
    if changed {
        for line in &mut lines {
            let Some(origin) = line.strip_prefix("o=") else {
                continue;
            };
            let mut fields: Vec<String> = origin.split(' ').map(str::to_owned).collect();
            if let Some(version) = fields.get_mut(2)
                && let Ok(n) = version.parse::<u64>()
            {
                *version = n.saturating_add(1).to_string();
            }
            *line = format!("o={}", fields.join(" "));
            break;
        }
    }
    lines.join("\r\n")
}

fn session_head(local: &LocalMedia) -> String {
    let family = if local.address.is_ipv6() {
        "IP6"
    } else {
        "IP4"
    };
    format!(
        "v=0\r\no=dialect {} {} IN {family} {}\r\ns=dialect\r\nc=IN {family} {}\r\nt=0 0\r\n",
        local.session_id, local.version, local.address, local.address
    )
}

fn audio_section(
    sdp: &mut String,
    port: u16,
    codec: Codec,
    payload_type: u8,
    telephone_event: Option<u8>,
    direction: Direction,
    srtp: Option<(u32, &str)>,
) {
    let proto = if srtp.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let _ = write!(sdp, "m=audio {port} {proto} {payload_type}");
    if let Some(te) = telephone_event {
        let _ = write!(sdp, " {te}");
    }
    let _ = write!(sdp, "\r\na=rtpmap:{payload_type} {}/8000\r\n", codec.name());
    if let Some(te) = telephone_event {
        let _ = write!(
            sdp,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(sdp, "a=ptime:20\r\na={}\r\n", direction.as_str());
    if let Some((tag, key)) = srtp {
        let _ = write!(sdp, "a=crypto:{tag} {SRTP_SUITE} inline:{key}\r\n");
    }
}

/// `IN IP4 <address>[/ttl]` → the address; `None` for anything else.
fn connection_address(value: &str) -> Option<IpAddr> {
    let mut parts = value.split_whitespace();
    let (Some("IN"), Some(family), Some(address)) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let address = address.split('/').next()?;
    match family {
        "IP4" => address.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        "IP6" => address.parse().ok(),
        _ => None,
    }
}

fn media_line(value: &str) -> Result<Media, SdpError> {
    let mut parts = value.split_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::MediaLine);
    };
    // `<port>/<number of ports>` is allowed; we use the first.
    let port = port
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or(SdpError::MediaLine)?;
    Ok(Media {
        kind: kind.to_owned(),
        port,
        proto: proto.to_owned(),
        formats: parts.map(str::to_owned).collect(),
        rtpmap: Vec::new(),
        connection: None,
        direction: None,
        ptime: None,
        crypto: Vec::new(),
    })
}

fn attribute(sd: &mut SessionDescription, value: &str) {
    let direction = match value {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    };
    let Some(media) = sd.media.last_mut() else {
        if direction.is_some() {
            sd.direction = direction;
        }
        return;
    };
    if direction.is_some() {
        media.direction = direction;
    } else if let Some(map) = value.strip_prefix("rtpmap:") {
        if let Some(map) = rtpmap(map) {
            media.rtpmap.push(map);
        }
    } else if let Some(ptime) = value.strip_prefix("ptime:") {
        media.ptime = ptime.trim().parse().ok();
    } else if let Some(crypto) = value.strip_prefix("crypto:")
        && media.crypto.len() < 16
        && let Some(crypto) = crypto_line(crypto)
    {
        media.crypto.push(crypto);
    }
}

/// `<tag> <suite> inline:<key>[|...]`.
fn crypto_line(value: &str) -> Option<Crypto> {
    let mut parts = value.split_whitespace();
    let tag = parts.next()?.parse().ok()?;
    let suite = parts.next()?.to_owned();
    let inline = parts.next()?.strip_prefix("inline:")?;
    let mut fields = inline.split('|');
    let key = fields.next()?.to_owned();
    let mki = fields.any(|f| f.contains(':'));
    Some(Crypto {
        tag,
        suite,
        key,
        mki,
    })
}

/// `<pt> <encoding>/<rate>[/<channels>]`.
fn rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.trim().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    Some(RtpMap {
        payload_type: pt.parse().ok()?,
        encoding: parts.next()?.to_owned(),
        clock_rate: parts.next()?.trim().parse().ok()?,
    })
}
