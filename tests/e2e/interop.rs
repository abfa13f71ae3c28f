//! Interoperability with peers nobody here scripted the runtime for (issue
//! 22): what linphone and baresip expect of a SIP peer.

use crate::sip::{Served, free_udp_port, names};

/// A caller's hold (re-INVITE `a=sendonly`) is answered `a=recvonly`, an
/// `inactive` offer `inactive`, and the resume `sendrecv` (RFC 3264 §6.1);
/// each re-INVITE's 200 carries our answer with its version raised.
#[test]
fn a_callers_hold_is_answered_recvonly_and_the_resume_sendrecv() {
    let served = Served::start("hold", "2026-11-23T09:00:00[Europe/Warsaw]", 62_000);
    let out = served.sipp("caller_holds.xml", "48221000002", free_udp_port(), 62_400);
    assert!(
        out.status.success(),
        "SIPp's checks of the answers failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events)[..2],
        ["call_started", "answered"],
        "{events:?}"
    );
    crate::sip::assert_clean(&served);
}

/// The agent's phone shows who calls: the agent leg's From carries the
/// caller's number with the campaign's name as the display name, and
/// P-Asserted-Identity the same (the agent is ours); SIPp's checks of
/// those headers fail the call otherwise.
#[test]
fn an_agents_phone_is_told_the_callers_number_and_the_campaign() {
    let ann = free_udp_port();
    let served = Served::start_flows(
        "agent-from",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        62_600,
        &crate::acd::agent_config("ann", ann, true),
        "tests/acd-flows/",
    );
    let agent = crate::sip::uas(
        "agent_sees_the_caller.xml",
        ann,
        &["-mp", "62800", "-m", "1", "-timeout", "30s", "-nostdin"],
    );
    let caller = served.one_call("caller_via_proxy.xml", "+48221008888", 62_900, 0);
    crate::sip::finish(agent, "ann's phone");
    crate::sip::finish(caller, "the caller");
    let events = served.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "agent_rung" && e["agent"] == "ann"),
        "{events:#?}"
    );
}

/// A key sent in SIP INFO (`application/dtmf-relay`, `Signal=2`) answers
/// scheme 2's menu as an RFC 4733 key does: the call is queued.
#[test]
fn a_key_sent_in_sip_info_answers_the_menu() {
    let served = Served::start("info-dtmf", "2026-11-23T09:00:00[Europe/Warsaw]", 63_000);
    let out = served.sipp("caller_info_2.xml", "48221000002", free_udp_port(), 63_400);
    menu_took_key_2(&served, &out);
}

/// A softphone calling over TCP (baresip) sends its ACK and BYE over TCP
/// too: our 200's Contact says `;transport=tcp`. Before, it named no
/// transport and baresip sent them over UDP, which worked only because we
/// listen on UDP on the same port. Here every SIP message the server takes
/// from baresip came over TCP (the one over UDP is the status query).
#[test]
fn a_softphone_over_tcp_acks_and_hangs_up_over_tcp() {
    let served = Served::start("baresip-tcp", "2026-11-23T09:00:00[Europe/Warsaw]", 63_600);
    let profile = crate::sip::baresip_profile(
        &served,
        "63800-63899",
        "<sip:48600300400@127.0.0.1;transport=tcp>;regint=0;audio_codecs=PCMU",
        "",
    );
    let uri = format!("sip:48221000002@127.0.0.1:{};transport=tcp", served.port);
    let out = softphone_call(&profile, &uri, 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events = served.events();
    assert_eq!(
        names(&events)[..2],
        ["call_started", "answered"],
        "{events:?}\n{stdout}"
    );
    let hangup = events
        .iter()
        .find(|e| e["event"] == "hangup")
        .expect("the call ended");
    assert_eq!(hangup["reason"], "caller hung up", "{events:?}\n{stdout}");
    let status = served.status();
    assert_eq!(
        status["sip_received_udp"], 1,
        "only the status query came over UDP: {status}\n{stdout}"
    );
    assert!(
        status["sip_received_tcp"].as_u64().unwrap_or(0) >= 3,
        "INVITE, ACK and BYE over TCP: {status}"
    );
    crate::sip::assert_clean(&served);
}

/// A pcap of one key pressed as tones in PCMU audio: 200 ms of silence,
/// `key`'s two tones for 120 ms, 200 ms of silence, one RTP packet every
/// 20 ms (Ethernet, IPv4, UDP, RTP; SIPp's `play_pcap_audio` sends the
/// RTP of it).
fn tone_pcap(path: &std::path::Path, low: f32, high: f32) {
    let frames = 10 + 6 + 10;
    let mut out = Vec::new();
    // The file's header: pcap 2.4, microseconds, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for n in 0..frames {
        let mut samples = [0i16; dialect_media::FRAME_SAMPLES];
        if (10..16).contains(&n) {
            for (i, s) in samples.iter_mut().enumerate() {
                let t = (n * dialect_media::FRAME_SAMPLES + i) as f32 / 8000.0;
                let v = 4000.0
                    * ((2.0 * std::f32::consts::PI * low * t).sin()
                        + (2.0 * std::f32::consts::PI * high * t).sin());
                *s = v as i16;
            }
        }
        let mut payload = [0u8; dialect_media::FRAME_SAMPLES];
        dialect_media::Law::Ulaw.encode_frame(&samples, &mut payload);
        let mut rtp = vec![0x80, 0];
        rtp.extend_from_slice(&(n as u16).to_be_bytes());
        rtp.extend_from_slice(&((n * dialect_media::FRAME_SAMPLES) as u32).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = (8 + rtp.len()) as u16;
        let mut packet = vec![0u8; 12];
        packet.extend_from_slice(&[0x08, 0x00]);
        packet.extend_from_slice(&[0x45, 0]);
        packet.extend_from_slice(&(20 + udp_len).to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        packet.extend_from_slice(&6000u16.to_be_bytes());
        packet.extend_from_slice(&6002u16.to_be_bytes());
        packet.extend_from_slice(&udp_len.to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(&rtp);
        let micros = n as u32 * 20_000;
        out.extend_from_slice(&(micros / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(micros % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&packet);
    }
    std::fs::write(path, out).expect("pcap");
}

/// A caller whose phone sends keys as tones in the audio (no
/// telephone-event offered): key 2's tones answer scheme 2's menu, as an
/// RFC 4733 key does; the tones are found in the decoded G.711 (Goertzel).
#[test]
fn a_key_sent_as_tones_in_the_audio_answers_the_menu() {
    let served = Served::start("inband-dtmf", "2026-11-23T09:00:00[Europe/Warsaw]", 63_200);
    let pcap = served.dir.join("key-2.pcap");
    tone_pcap(&pcap, 697.0, 1336.0);
    let template = std::fs::read_to_string(crate::sip::root().join("tests/sipp/caller_tone_2.xml"))
        .expect("scenario");
    let scenario = served.dir.join("caller_tone_2.xml");
    std::fs::write(
        &scenario,
        template.replace("PCAP_FILE", &pcap.to_string_lossy()),
    )
    .expect("scenario copy");
    let out = served.sipp(
        &scenario.to_string_lossy(),
        "48221000002",
        free_udp_port(),
        63_500,
    );
    menu_took_key_2(&served, &out);
}

/// RTCP both ways with a softphone (baresip): we send a sender report
/// every 5 s on the RTP port + 1 and read the peer's; the peer's reports
/// name our last one (it got ours), and what it says it lost of ours is
/// counted (`rtp_lost_by_peers`, `dialect_rtp_packets_total{direction=
/// "lost_by_peer"}`).
#[test]
fn rtcp_reports_go_both_ways_with_a_softphone() {
    // A caller waiting in a queue nobody answers: the call stays up.
    let served = Served::start_flows(
        "rtcp",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        64_000,
        "",
        "tests/acd-flows/",
    );
    let profile = crate::sip::baresip_profile(
        &served,
        "64200-64299",
        "<sip:48600300400@127.0.0.1>;regint=0;audio_codecs=PCMU",
        "",
    );
    // A tone for as long as the call lasts (the file's end would hang up).
    let tone: Vec<i16> = (0..8_000 * 30)
        .map(|i| (3000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16)
        .collect();
    let wav = served.dir.join("tone.wav");
    std::fs::write(&wav, dialect_media::audio::wav_bytes(&tone)).expect("wav");
    let config = std::fs::read_to_string(profile.join("config")).expect("config");
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("audio_source") {
                format!("audio_source aufile,{}", wav.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(profile.join("config"), config).expect("config");
    // Two of our reports (at 5 and 10 s) and baresip's answers.
    let uri = format!("sip:+48221008888@127.0.0.1:{}", served.port);
    let out = softphone_call(&profile, &uri, 12);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let status = served.status();
    assert!(
        status["rtcp_sent"].as_u64().unwrap_or(0) >= 2,
        "our reports: {status}\n{stdout}"
    );
    assert!(
        status["rtcp_received"].as_u64().unwrap_or(0) >= 1,
        "baresip's reports: {status}\n{stdout}"
    );
    assert!(
        status["rtcp_echoed"].as_u64().unwrap_or(0) >= 1,
        "baresip's reports name ours: {status}\n{stdout}"
    );
    assert_eq!(status["rtp_lost_by_peers"], 0, "nothing lost on loopback");
    let (_, metrics) = crate::ops::admin(&served, "GET", "/metrics", Some("test-admin-token"));
    assert!(
        metrics.contains("dialect_rtcp_reports_total{direction=\"received\"}"),
        "{metrics}"
    );
    crate::sip::assert_clean(&served);
}

/// baresip on `profile` calls `uri`, stays `seconds` and hangs up; its
/// output.
fn softphone_call(profile: &std::path::Path, uri: &str, seconds: u64) -> std::process::Output {
    use std::io::Write;
    let mut baresip = std::process::Command::new("baresip")
        .arg("-f")
        .arg(profile)
        .args(["-t", &(seconds + 10).to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("baresip starts");
    let stdin = baresip.stdin.as_mut().expect("stdin");
    std::thread::sleep(std::time::Duration::from_secs(1));
    writeln!(stdin, "/dial {uri}").expect("dial");
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    writeln!(stdin, "/hangup").expect("hang up");
    std::thread::sleep(std::time::Duration::from_secs(1));
    write!(stdin, "q").expect("quit");
    baresip.wait_with_output().expect("baresip ends")
}

/// Scheme 2's menu took key 2 from the caller: the call is queued.
fn menu_took_key_2(served: &Served, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events)[..5],
        ["call_started", "answered", "prompt", "digit", "queued"],
        "{events:?}"
    );
    assert_eq!(events[3]["key"], "2");
    assert_eq!(crate::sip::count(&events, "digit"), 1, "one press, one key");
    crate::sip::assert_clean(served);
}

/// One request over UDP; the first final response, whole.
fn exchange(served: &Served, request: &str) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    let request = request.replace("LOCAL", &socket.local_addr().expect("addr").to_string());
    socket
        .send_to(request.as_bytes(), ("127.0.0.1", served.port))
        .expect("send");
    let mut buf = [0u8; 4096];
    loop {
        let (len, _) = socket.recv_from(&mut buf).expect("an answer");
        let text = String::from_utf8_lossy(&buf[..len]).to_string();
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}

/// The To header of a response.
fn to_header(response: &str) -> &str {
    response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap_or_default()
}

/// Final responses to requests outside a dialog carry a To tag (RFC 3261
/// 8.2.6.2): OPTIONS, REGISTER's challenge, the 488 for an offer without a
/// codec we speak; and `Allow` names every method we take.
#[test]
fn answers_outside_a_dialog_carry_a_to_tag_and_allow_names_what_we_take() {
    let served = Served::start_with(
        "to-tags",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        64_400,
        "[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n",
    );
    let options = exchange(
        &served,
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-opt1\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: to-tag-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(options.starts_with("SIP/2.0 200"), "{options}");
    assert!(to_header(&options).contains(";tag="), "{options}");
    let allow = options
        .lines()
        .find(|l| l.starts_with("Allow:"))
        .unwrap_or_default();
    for method in [
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "REFER", "INFO",
    ] {
        assert!(allow.contains(method), "{method} in {allow}");
    }
    let register = exchange(
        &served,
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-reg1\r\nFrom: <sip:erin@127.0.0.1>;tag=r\r\nTo: <sip:erin@127.0.0.1>\r\nCall-ID: to-tag-2\r\nCSeq: 1 REGISTER\r\nContact: <sip:erin@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(register.starts_with("SIP/2.0 401"), "{register}");
    assert!(to_header(&register).contains(";tag="), "{register}");
    let sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let invite = exchange(
        &served,
        &format!(
            "INVITE sip:+48221000002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-inv1\r\nFrom: <sip:+48600100200@127.0.0.1>;tag=i\r\nTo: <sip:+48221000002@127.0.0.1>\r\nCall-ID: to-tag-3\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@LOCAL>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    assert!(invite.starts_with("SIP/2.0 488"), "{invite}");
    assert!(to_header(&invite).contains(";tag="), "{invite}");
}
