//! `Session` against a browser stand-in over real loopback UDP (ICE,
//! DTLS-SRTP, RTP), and against offers as Chromium writes them.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod browser;
mod g711;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use dialect_webphone::{Error, Frame, Law, PhoneState, Session};
use tokio::sync::watch;
use tokio::time::timeout;

use browser::{Browser, Heard, Running, Script, Via};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// How long anything here may take before the test fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(10);

const CHROMIUM: &str = include_str!("../data/chromium-offer.sdp");
const CHROMIUM_OPUS_ONLY: &str = include_str!("../data/chromium-offer-opus-only.sdp");
const CHROMIUM_PCMA_ONLY: &str = include_str!("../data/chromium-offer-pcma-only.sdp");

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn reach(state: &mut watch::Receiver<PhoneState>, wanted: PhoneState) {
    within(
        &format!("state {wanted:?}"),
        state.wait_for(|s| *s == wanted),
    )
    .await
    .unwrap();
}

/// A session and a stand-in connected to it (both sides say so).
async fn connect(with_candidates: bool, script: Script) -> (Session, Running) {
    let (mut browser, offer) = Browser::offer(with_candidates).await;
    let (session, answer) = Session::accept(&offer, LOOPBACK).await.unwrap();
    assert_eq!(session.law(), Law::Ulaw);
    browser.accept_answer(&answer);
    let mut running = browser.spawn(script);
    reach(&mut session.state(), PhoneState::Connected).await;
    within("the stand-in connected", running.connected.wait_for(|c| *c))
        .await
        .unwrap();
    (session, running)
}

fn tone() -> Script {
    Box::new(|n| Some((g711::tone(n), Via::Validated)))
}

/// Frame `i` of a pattern the speaker test recognises byte for byte.
fn pattern(i: u32) -> Frame {
    let mut frame = [0u8; 160];
    for (j, b) in frame.iter_mut().enumerate() {
        *b = (i as usize * 31 + j) as u8;
    }
    frame
}

/// Checks the stand-in hears the frames from the microphone side: the tone
/// arrives as frames with energy.
async fn microphone_hears_the_tone(session: &mut Session, frames: usize) {
    let mut microphone = session.take_microphone().unwrap();
    assert!(session.take_microphone().is_none());
    for i in 0..frames {
        let frame = within("a microphone frame", microphone.recv())
            .await
            .unwrap();
        let level = g711::level(&frame);
        assert!(level > 3000.0, "frame {i} is too quiet: {level}");
    }
}

/// Sends `count` pattern frames paced at 20 ms; returns what the stand-in
/// heard (waiting a little for the last ones).
async fn speak(session: &Session, running: &mut Running, count: u32) -> Vec<Heard> {
    let speaker = session.speaker();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..count {
        tick.tick().await;
        speaker.try_send(pattern(i)).unwrap();
    }
    let mut heard = Vec::new();
    while let Ok(Some(h)) = timeout(Duration::from_millis(500), running.heard.recv()).await {
        heard.push(h);
    }
    heard
}

/// Every heard payload is one of the frames sent, byte for byte, in order,
/// with its RTP time 160 per frame after the previous one's.
fn check_heard(heard: &[Heard], sent: u32, at_least: usize) {
    assert!(
        heard.len() >= at_least,
        "heard {} of {sent} frames",
        heard.len()
    );
    let mut previous: Option<(u32, u64)> = None;
    for h in heard {
        let i = (0..sent)
            .find(|i| pattern(*i)[..] == h.payload[..])
            .unwrap_or_else(|| panic!("heard a frame never sent: {:?}", &h.payload[..8]));
        if let Some((pi, pt)) = previous {
            assert!(i > pi, "frame {i} after {pi}");
            assert_eq!(
                h.rtp_time - pt,
                u64::from(i - pi) * 160,
                "RTP time of frame {i}"
            );
        }
        previous = Some((i, h.rtp_time));
    }
}

#[tokio::test]
async fn audio_flows_both_ways_with_a_browser_on_loopback() {
    let (mut session, mut running) = connect(true, tone()).await;

    microphone_hears_the_tone(&mut session, 25).await;
    let heard = speak(&session, &mut running, 50).await;
    check_heard(&heard, 50, 48);

    // The browser hangs up (DTLS close_notify): the session ends.
    let mut state = session.state();
    running.stop.send(true).unwrap();
    reach(&mut state, PhoneState::Closed).await;
}

#[tokio::test]
async fn a_browser_known_only_by_its_checks_is_learnt_peer_reflexive() {
    // No a=candidate in the offer (Chromium's are mDNS names we cannot
    // resolve): the session learns the browser's address from its checks.
    let (mut session, mut running) = connect(false, tone()).await;

    microphone_hears_the_tone(&mut session, 10).await;
    let heard = speak(&session, &mut running, 20).await;
    check_heard(&heard, 20, 18);

    // We hang up: the browser hears of it at once (DTLS close_notify).
    let mut state = session.state();
    session.close();
    reach(&mut state, PhoneState::Closed).await;
    within(
        "the stand-in hears the close",
        running.closed.wait_for(|c| *c),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn media_from_an_unvalidated_address_is_not_heard() {
    // Frames 20 to 44 are a hijacker's: valid SRTP (the stand-in's own keys
    // and sequence numbers) but sent from a socket ICE never validated.
    const HIJACKED: Frame = [0x2a; 160];
    let script: Script = Box::new(|n| {
        if (20..45).contains(&n) {
            Some((HIJACKED, Via::Other))
        } else {
            Some((g711::tone(n), Via::Validated))
        }
    });
    let (mut session, running) = connect(true, script).await;
    let mut microphone = session.take_microphone().unwrap();

    let mut tone_frames = 0;
    while tone_frames < 50 {
        let frame = within("a microphone frame", microphone.recv())
            .await
            .unwrap();
        assert_ne!(
            frame, HIJACKED,
            "a frame from an unvalidated address was heard"
        );
        tone_frames += 1;
    }
    let hijacked = running.other_sent.load(Ordering::Relaxed);
    assert!(
        hijacked >= 20,
        "the hijacker sent only {hijacked} datagrams"
    );
}

#[tokio::test]
async fn close_ends_the_session() {
    let (mut session, _answer) = Session::accept(CHROMIUM, LOOPBACK).await.unwrap();
    let mut microphone = session.take_microphone().unwrap();
    let mut state = session.state();
    assert_eq!(*state.borrow(), PhoneState::Connecting);

    session.close();
    session.close();
    reach(&mut state, PhoneState::Closed).await;
    assert!(
        within("the microphone closes", microphone.recv())
            .await
            .is_none()
    );
    assert!(session.speaker().is_closed());
}

#[tokio::test]
async fn dropping_the_session_ends_it() {
    let (session, _answer) = Session::accept(CHROMIUM, LOOPBACK).await.unwrap();
    let mut state = session.state();
    let speaker = session.speaker();
    drop(session);
    reach(&mut state, PhoneState::Closed).await;
    assert!(speaker.is_closed());
}

#[tokio::test]
async fn chromium_offer_is_answered_with_pcmu_and_a_host_candidate() {
    let (session, answer) = Session::accept(CHROMIUM, LOOPBACK).await.unwrap();
    assert_eq!(session.law(), Law::Ulaw);
    let port = session.local_address().port();
    let lines: Vec<&str> = answer.lines().collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));

    assert!(has("m=audio 9 UDP/TLS/RTP/SAVPF 0"), "{answer}");
    assert!(has("a=rtpmap:0 PCMU/8000"), "{answer}");
    assert!(
        !answer.contains("opus") && !answer.contains("PCMA"),
        "{answer}"
    );
    assert!(has("a=ice-lite"), "{answer}");
    assert!(has("a=setup:passive"), "{answer}");
    assert!(has("a=fingerprint:sha-256 "), "{answer}");
    assert!(has("a=rtcp-mux"), "{answer}");
    assert!(has("a=group:BUNDLE 0"), "{answer}");
    assert!(has("a=mid:0"), "{answer}");
    assert!(has("a=sendrecv"), "{answer}");
    let candidates: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert_eq!(candidates.len(), 1, "{answer}");
    assert!(
        candidates[0].contains(" udp ")
            && candidates[0].contains(&format!(" 127.0.0.1 {port} typ host")),
        "{answer}"
    );
}

#[tokio::test]
async fn pcma_only_offer_is_answered_with_pcma() {
    let (session, answer) = Session::accept(CHROMIUM_PCMA_ONLY, LOOPBACK).await.unwrap();
    assert_eq!(session.law(), Law::Alaw);
    assert!(
        answer.lines().any(|l| l == "m=audio 9 UDP/TLS/RTP/SAVPF 8"),
        "{answer}"
    );
    assert!(
        answer.lines().any(|l| l == "a=rtpmap:8 PCMA/8000"),
        "{answer}"
    );
}

#[tokio::test]
async fn opus_only_offer_is_refused_naming_pcmu_and_pcma() {
    let err = Session::accept(CHROMIUM_OPUS_ONLY, LOOPBACK)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoG711 { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("PCMU") && message.contains("PCMA"),
        "{message}"
    );
    assert!(message.contains("opus, red, telephone-event"), "{message}");
}

#[tokio::test]
async fn garbage_is_refused() {
    let cases = [
        ("", "the offer is not valid SDP: it is empty"),
        (
            "hello",
            "the offer is not valid SDP: line 1: Unexpected `h`",
        ),
        (
            "v=0\r\n",
            "the offer is not valid SDP: line 2: Unexpected end of input",
        ),
        (
            "{\"type\":\"offer\",\"sdp\":\"v=0\"}",
            "the offer is not valid SDP: it is JSON",
        ),
    ];
    for (garbage, message) in cases {
        let err = Session::accept(garbage, LOOPBACK).await.unwrap_err();
        assert!(matches!(err, Error::Sdp(_)), "{garbage:?}: {err:?}");
        assert!(err.to_string().starts_with(message), "{garbage:?}: {err}");
    }
}

#[tokio::test]
async fn an_offer_without_audio_is_refused() {
    // A data channel alone, as a page that forgot getUserMedia would offer.
    let offer = CHROMIUM_OPUS_ONLY
        .replace(
            "m=audio 54400 UDP/TLS/RTP/SAVPF 111 63 110",
            "m=application 54400 UDP/DTLS/SCTP webrtc-datachannel",
        )
        .lines()
        .filter(|l| {
            !l.starts_with("a=rtpmap") && !l.starts_with("a=fmtp") && !l.starts_with("a=rtcp-fb")
        })
        .map(|l| format!("{l}\r\n"))
        .collect::<String>();
    let err = Session::accept(&offer, LOOPBACK).await.unwrap_err();
    assert!(matches!(err, Error::NoAudio), "{err:?}");
}

#[tokio::test]
async fn the_unspecified_address_is_refused() {
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let err = Session::accept(CHROMIUM, unspecified).await.unwrap_err();
    assert!(matches!(err, Error::UnspecifiedAddress(_)), "{err:?}");
    assert!(err.to_string().contains("0.0.0.0"));
}

#[tokio::test]
async fn a_browser_gone_silent_is_let_go() {
    // A crashed tab says nothing: str0m's ICE-lite agent drops the pair 15 s
    // after the last consent check, and the session ends with it.
    let (session, running) = connect(true, tone()).await;
    let mut state = session.state();
    running.stop.send(false).unwrap();
    let closed = state.wait_for(|s| *s == PhoneState::Closed);
    timeout(Duration::from_secs(20), closed)
        .await
        .expect("the session outlived a silent browser by 20 s")
        .unwrap();
}
