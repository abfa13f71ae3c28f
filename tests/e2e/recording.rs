//! Call recording end to end (issue 18): a SIPp caller sending a 400 Hz
//! tone talks to a SIPp agent sending a 1 kHz tone through `dialect
//! serve`; the campaign records `high` (two channels). The agent pauses
//! and resumes through the agent API, then pauses again and the recording
//! resumes by itself after `recording_resume_after`. The WAV fetched by the
//! campaign's supervisor carries the caller in the left channel and the
//! agent in the right (told apart by their frequencies), with both paused
//! spans silent.

use crate::acd::http;
use crate::sip::{Served, count, free_udp_port, root, uas, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const CLOCK: &str = "2026-03-02T10:00:00+01:00[Europe/Warsaw]";
const SERVICE: &str = "48221007777";

/// `seconds` of a `hz` sine tone as raw mu-law (SIPp's `rtp_stream` plays
/// a raw file as is, payload type 0).
fn tone(path: &Path, hz: f64, seconds: u32) {
    let samples = 8_000 * seconds;
    let bytes: Vec<u8> = (0..samples)
        .map(|i| {
            let t = f64::from(i) / 8_000.0;
            let sample = (8_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
            let mut out = [0u8; 1];
            dialect_media::Law::Ulaw.encode_into(&[sample], &mut out);
            out[0]
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

/// A copy of a SIPp scenario in tests/sipp with PCMU offered and the
/// tone in `audio` streamed once the call is up.
fn streaming(scenario: &str, audio: &Path, to: &Path) {
    let text = std::fs::read_to_string(root().join("tests/sipp").join(scenario)).unwrap();
    let stream = format!(
        "<nop><action><exec rtp_stream=\"{},-1,0\"/></action></nop>",
        audio.display()
    );
    let text = text
        .replace(
            "m=audio [media_port] RTP/AVP 8\n      a=rtpmap:8 PCMA/8000",
            "m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
        )
        .replace(
            "<nop>\n    <action>\n      <exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/>\n    </action>\n  </nop>",
            &stream,
        )
        .replace("  <pause/>", &format!("  {stream}\n  <pause/>"));
    assert!(text.contains("rtp_stream"), "{scenario} streams the tone");
    std::fs::write(to, text).unwrap();
}

/// A GET over HTTP/1.0 (no chunked encoding): status and body bytes.
fn get_bytes(api: &str, path: &str, agent: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(api).expect("the agent API accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = crate::acd::base64(format!("{agent}:pw-{agent}").as_bytes());
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {api}\r\nAuthorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response[split + 4..].to_vec())
}

/// Zero crossings in a frame: 16 for 400 Hz, 40 for 1 kHz (160 samples).
fn crossings(samples: &[i16]) -> usize {
    samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count()
}

#[test]
fn a_conversation_is_recorded_in_two_channels_with_its_pauses_silent() {
    let dir = crate::build::scratch("recording");
    let (low, high) = (dir.join("caller.ulaw"), dir.join("agent.ulaw"));
    tone(&low, 400.0, 60);
    tone(&high, 1_000.0, 60);
    let (agent_xml, caller_xml) = (dir.join("agent.xml"), dir.join("caller.xml"));
    streaming("agent_answers.xml", &high, &agent_xml);
    streaming("caller_talks.xml", &low, &caller_xml);

    let ann = free_udp_port();
    let config = format!(
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:{ann}\"\npassword = \"pw-ann\"\n\
         [[agent]]\nname = \"sue\"\npassword = \"pw-sue\"\nready = false\n"
    );
    let served = Served::start_flows(
        "recording",
        CLOCK,
        19_000,
        &config,
        "tests/recording-flows/",
    );
    let agent = uas(
        agent_xml.to_str().unwrap(),
        ann,
        &["-mp", "19400", "-m", "1", "-timeout", "60s", "-nostdin"],
    );
    let caller = served
        .caller(caller_xml.to_str().unwrap(), SERVICE, 19_600)
        .args(["-m", "1", "-d", "14000", "-timeout", "60s", "-nostdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the caller's SIPp starts");
    let events = wait_for(&served, "the recording started", |e| {
        count(e, "recording_started") == 1
    });
    let started = events
        .iter()
        .find(|e| e["event"] == "recording_started")
        .unwrap();
    assert_eq!(started["channels"], 2, "{started}");
    let file = started["file"].as_str().unwrap_or_default();
    assert!(
        file.contains("REC_48600100200_ann_call-"),
        "named by the template: {file}"
    );
    let api = |method: &str, path: &str, who: &str| http(&served.api, method, path, who, None);

    // Nobody else pauses ann's recording; she pauses and resumes it.
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = api("POST", "/api/agents/ann/recording/pause", "sue");
    assert_eq!(status, 403, "{body}");
    let (status, body) = api("POST", "/api/agents/ann/recording/pause", "ann");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recording"], "paused");
    assert_eq!(body["resumes_in_ms"], 3_000);
    let (status, body) = api("POST", "/api/agents/ann/recording/pause", "ann");
    assert_eq!(status, 409, "paused twice: {body}");
    std::thread::sleep(Duration::from_millis(1_500));
    let (status, body) = api("POST", "/api/agents/ann/recording/resume", "ann");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recording"], "recording");

    // Paused again, it resumes by itself after 3 s.
    std::thread::sleep(Duration::from_millis(1_500));
    let (status, body) = api("POST", "/api/agents/ann/recording/pause", "ann");
    assert_eq!(status, 200, "{body}");
    let events = wait_for(&served, "the recording resumed by itself", |e| {
        e.iter()
            .any(|e| e["event"] == "recording_resumed" && e["by"] == "recording_resume_after")
    });
    assert_eq!(count(&events, "recording_paused"), 2);

    crate::sip::finish(caller, "the caller");
    crate::sip::finish(agent, "the agent");
    let events = wait_for(&served, "the recording indexed", |e| {
        count(e, "call_recorded") == 1
    });
    let recorded = events
        .iter()
        .find(|e| e["event"] == "call_recorded")
        .unwrap();
    let id = recorded["recording"].as_i64().expect("an index id");

    // The supervisor lists and fetches it; the agent may not.
    let (status, body) = api("GET", "/api/recordings", "ann");
    assert_eq!(status, 403, "{body}");
    let (status, body) = api("GET", "/api/recordings", "sue");
    assert_eq!(status, 200, "{body}");
    let listed = &body["recordings"][0];
    assert_eq!(listed["id"], id, "{body}");
    assert_eq!(listed["agent"], "ann");
    assert_eq!(listed["caller"], "+48600100200");
    assert!(
        listed.get("path").is_none(),
        "no server path shown: {listed}"
    );
    let (status, body) = api("GET", &format!("/api/recordings/{}", id + 1), "sue");
    assert_eq!(status, 404, "{body}");
    let (status, wav) = get_bytes(&served.api, &format!("/api/recordings/{id}/audio"), "sue");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&wav));
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "two channels");
    assert_eq!(
        u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
        8_000
    );
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk")
        + 8;
    let samples: Vec<i16> = wav[data..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let frames: Vec<(Vec<i16>, Vec<i16>)> = samples
        .chunks_exact(320)
        .map(|f| {
            (
                f.iter().step_by(2).copied().collect(),
                f.iter().skip(1).step_by(2).copied().collect(),
            )
        })
        .collect();
    let seconds = frames.len() as f64 / 50.0;
    assert!((8.0..16.0).contains(&seconds), "{seconds} s recorded");

    // Each side carries its own party: the caller's 400 Hz on the left,
    // the agent's 1 kHz on the right.
    let loud = |s: &[i16]| s.iter().map(|x| i64::from(x.unsigned_abs())).sum::<i64>() / 160 > 1_000;
    let (mut left, mut right) = ((0, 0), (0, 0));
    for (l, r) in &frames {
        if loud(l) {
            left.0 += 1;
            if (13..=19).contains(&crossings(l)) {
                left.1 += 1;
            }
        }
        if loud(r) {
            right.0 += 1;
            if (36..=44).contains(&crossings(r)) {
                right.1 += 1;
            }
        }
    }
    let n = frames.len();
    assert!(
        left.0 * 2 > n && right.0 * 2 > n,
        "{left:?} {right:?} of {n}"
    );
    assert!(
        left.1 * 10 >= left.0 * 9 && right.1 * 10 >= right.0 * 9,
        "the caller's tone left, the agent's right: {left:?} {right:?}"
    );

    // Both pauses are silent in both channels: 1.5 s and 3 s.
    let mut runs = Vec::new();
    let mut run = 0;
    for (l, r) in &frames {
        if l.iter().chain(r).all(|s| *s == 0) {
            run += 1;
        } else {
            if run > 10 {
                runs.push(run);
            }
            run = 0;
        }
    }
    assert_eq!(runs.len(), 2, "two silent spans: {runs:?} frames");
    assert!((60..=90).contains(&runs[0]), "a 1.5 s pause: {runs:?}");
    assert!((135..=170).contains(&runs[1]), "a 3 s pause: {runs:?}");
}
