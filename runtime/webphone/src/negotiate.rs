//! The answer to a browser's offer: an ICE-lite [`Rtc`] with one host
//! candidate and one G.711 law.
//!
//! str0m answers with every codec of its configuration that the offer also
//! has, so to answer with exactly one law it is configured with one: first
//! PCMU alone, and if no audio m-line of the offer has it, a fresh [`Rtc`]
//! with PCMA alone.
//!
//! Our own SDP reading is a few lines of text: the `a=mid` of the answer's
//! audio m-lines (str0m reports m-lines in events only once SRTP is up), the
//! offer's `a=rtpmap` names for the error, and its `m=video` lines, refused
//! because str0m, configured without video codecs, would answer them with
//! port 0 and an empty format list, which browsers do not parse.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::error::SdpError;
use str0m::media::{Mid, Pt};
use str0m::net::Transmit;
use str0m::{Candidate, Output, Rtc, RtcConfig, RtcError};

use crate::{Error, Law};

/// An answered offer, ready to run.
pub(crate) struct Negotiated {
    /// The peer connection, answered and drained.
    pub(crate) rtc: Rtc,
    /// The SDP answer for the browser.
    pub(crate) answer: String,
    /// The audio m-line that carries the call.
    pub(crate) mid: Mid,
    /// The law of that m-line.
    pub(crate) law: Law,
    /// The payload type of the law.
    pub(crate) pt: Pt,
    /// Datagrams str0m produced while answering (none are expected: an
    /// ICE-lite, DTLS-passive answerer speaks only when spoken to).
    pub(crate) transmits: Vec<Transmit>,
}

/// Answers `offer`, advertising `local` as our only candidate.
pub(crate) fn negotiate(
    offer: &str,
    local: SocketAddr,
    now: Instant,
) -> Result<Box<Negotiated>, Error> {
    let trimmed = offer.trim_start();
    if trimmed.is_empty() {
        return Err(Error::Sdp("it is empty".to_owned()));
    }
    if trimmed.starts_with('{') {
        return Err(Error::Sdp(
            "it is JSON: pass the `sdp` text of the RTCSessionDescription".to_owned(),
        ));
    }
    if offer.lines().any(|l| l.trim_start().starts_with("m=video")) {
        return Err(Error::Offer(
            "it has video (m=video); a webphone offers audio alone".to_owned(),
        ));
    }
    let mut any_audio = false;
    for law in [Law::Ulaw, Law::Alaw] {
        match answer_with(offer, local, now, law)? {
            Attempt::Answered(n) => return Ok(n),
            Attempt::NoAudio => {}
            Attempt::NoLaw => any_audio = true,
        }
    }
    if any_audio {
        Err(Error::NoG711 {
            offered: offered_codecs(offer),
        })
    } else {
        Err(Error::NoAudio)
    }
}

enum Attempt {
    /// Boxed: an [`Rtc`] is some 10 kB.
    Answered(Box<Negotiated>),
    NoAudio,
    NoLaw,
}

fn answer_with(offer: &str, local: SocketAddr, now: Instant, law: Law) -> Result<Attempt, Error> {
    let sdp = SdpOffer::from_sdp_string(offer).map_err(|e| sdp_error(offer, &e))?;
    let config = RtcConfig::new().set_ice_lite(true).clear_codecs();
    let config = match law {
        Law::Ulaw => config.enable_pcmu(true, false),
        Law::Alaw => config.enable_pcma(true, false),
    };
    let mut rtc = config.build(now);
    let candidate = Candidate::host(local, "udp")
        .map_err(|e| Error::Offer(format!("our candidate {local}: {e}")))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc.sdp_api().accept_offer(sdp).map_err(offer_error)?;

    // Accepting is a mutation: drain it. (str0m tells its m-lines in
    // events only once SRTP is up, so they are read from the answer.)
    let mut transmits = Vec::new();
    loop {
        match rtc.poll_output().map_err(offer_error)? {
            Output::Timeout(_) => break,
            Output::Transmit(t) => transmits.push(t),
            Output::Event(_) => {}
        }
    }
    let answer = answer.to_sdp_string();
    let audio = audio_mids(&answer);
    if audio.is_empty() {
        return Ok(Attempt::NoAudio);
    }
    let pt = Pt::from(law.payload_type());
    let carrying = audio.into_iter().find(|mid| {
        rtc.media(*mid)
            .is_some_and(|m| !m.disabled() && m.remote_pts().contains(&pt))
    });
    let Some(mid) = carrying else {
        return Ok(Attempt::NoLaw);
    };
    Ok(Attempt::Answered(Box::new(Negotiated {
        rtc,
        answer,
        mid,
        law,
        pt,
        transmits,
    })))
}

/// str0m's SDP parse error, with the position (which it gives as the
/// address of the byte in memory) made a line number of the offer.
fn sdp_error(offer: &str, e: &SdpError) -> Error {
    let text = e.to_string();
    let mut parts = Vec::new();
    for part in text.lines().map(str::trim).filter(|p| !p.is_empty()) {
        let part = part.strip_prefix("SDP parse: ").unwrap_or(part);
        match part.strip_prefix("Parse error at PointerOffset(0x") {
            Some(address) => {
                let address = address.trim_end_matches(')');
                let offset = usize::from_str_radix(address, 16)
                    .ok()
                    .and_then(|a| a.checked_sub(offer.as_ptr().addr()));
                if let Some(before) = offset.and_then(|o| offer.get(..o)) {
                    parts.push(format!("line {}", before.matches('\n').count() + 1));
                }
            }
            None => parts.push(part.to_owned()),
        }
    }
    Error::Sdp(parts.join(": "))
}

/// The `a=mid` of each audio m-line of an SDP (our answer), in order.
fn audio_mids(sdp: &str) -> Vec<Mid> {
    let mut mids = Vec::new();
    let mut in_audio = false;
    for line in sdp.lines() {
        let line = line.trim();
        if let Some(media) = line.strip_prefix("m=") {
            in_audio = media.starts_with("audio ");
        } else if let Some(mid) = line.strip_prefix("a=mid:")
            && in_audio
        {
            mids.push(Mid::from(mid));
        }
    }
    mids
}

fn offer_error(e: RtcError) -> Error {
    match e {
        RtcError::RemoteSdp(s) => Error::Offer(s),
        RtcError::Sdp(e) => Error::Offer(e.to_string()),
        other => Error::Offer(other.to_string()),
    }
}

/// The encoding names of the offer's `a=rtpmap` lines, each once, in order.
fn offered_codecs(offer: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for line in offer.lines() {
        let Some(map) = line.trim().strip_prefix("a=rtpmap:") else {
            continue;
        };
        let Some((_, encoding)) = map.split_once(' ') else {
            continue;
        };
        let name = encoding.split('/').next().unwrap_or(encoding);
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }
    if names.is_empty() {
        "no codecs".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    const CHROMIUM: &str = include_str!("../tests/data/chromium-offer.sdp");

    fn local() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    #[test]
    fn chromium_offer_with_mdns_candidates_is_answered_with_pcmu() {
        let n = negotiate(CHROMIUM, local(), Instant::now()).unwrap();
        assert_eq!(n.law, Law::Ulaw);
        assert!(n.transmits.is_empty());
    }

    #[test]
    fn an_offer_with_video_is_refused() {
        // str0m would answer the video m-line with port 0 and no formats,
        // which browsers' parsers refuse; refuse it first, saying why.
        let video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
                     a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n";
        let offer = format!("{}{video}", CHROMIUM.replace("BUNDLE 0", "BUNDLE 0 1"));
        let Err(Error::Offer(why)) = negotiate(&offer, local(), Instant::now()) else {
            panic!("answered an offer with video");
        };
        assert!(why.contains("m=video"), "{why}");
    }

    proptest! {
        /// Whatever the browser (or whoever holds its session) sends, an
        /// offer is answered or refused; str0m must not panic on it.
        #[test]
        fn mangled_offers_do_not_panic(
            drop in proptest::collection::vec(proptest::bool::weighted(0.1), 40),
            cut in proptest::option::of(0usize..2000),
        ) {
            let kept: String = CHROMIUM
                .split_inclusive('\n')
                .zip(drop.iter().chain(std::iter::repeat(&false)))
                .filter(|(_, d)| !**d)
                .map(|(l, _)| l)
                .collect();
            let text = match cut {
                Some(n) => kept.get(..n.min(kept.len())).unwrap_or(&kept),
                None => &kept,
            };
            // Answered or refused, never a panic.
            if let Ok(n) = negotiate(text, local(), Instant::now()) {
                prop_assert!(n.answer.contains("PCMU") || n.answer.contains("PCMA"));
            }
        }
    }

    #[test]
    fn offered_codecs_are_named_once() {
        let sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\na=rtpmap:111 opus/48000/2\r\n\
                   a=rtpmap:63 red/48000/2\r\na=rtpmap:112 OPUS/48000/2\r\n";
        assert_eq!(offered_codecs(sdp), "opus, red");
        assert_eq!(offered_codecs("v=0\r\n"), "no codecs");
    }

    #[test]
    fn audio_mids_are_read_from_audio_m_lines_only() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:data\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:a1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                   a=mid:v\r\n";
        assert_eq!(audio_mids(sdp), vec![Mid::from("a1")]);
    }
}
