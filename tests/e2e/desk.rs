//! The agent desktop and the supervisor's wallboard (issue 19) in real
//! headless Chromium (Debian's `chromium`, driven by puppeteer-core from
//! tests/browser), against `dialect serve` and a SIPp caller: ann logs in,
//! her browser phone connects over WebRTC, a caller queues, the pop-over
//! shows, she answers in the browser and the caller hears her microphone
//! (Chromium's fake device), she holds and resumes, transfers to a queue,
//! wraps up (a required field missing first), creates a callback (an
//! invalid number first); sue watches it all on the wallboard. The test
//! regenerates the README's screenshots (docs/screenshots/).

use crate::sip::{Served, root, wait_for};
use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The system's Chromium, or a failure naming the package.
fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "Chromium is missing: install the Debian package `chromium` (apt-get install chromium); \
         scripts/test deps does"
    );
}

/// The browser driver (puppeteer-core), or a failure saying how to get it.
fn driver() -> PathBuf {
    let dir = root().join("tests/browser");
    assert!(
        dir.join("node_modules/puppeteer-core").is_dir(),
        "puppeteer-core is missing: run `npm ci --prefix tests/browser` (scripts/test deps does; \
         it needs Node.js, the Debian package `nodejs`)"
    );
    dir
}

/// ann's phone is the browser; bob never answers (support's call waits);
/// cal, dan and eve are SIPp phones that answer ann's consultations.
fn config(cal: u16, dan: u16, eve: u16) -> String {
    format!(
        "[[agent]]\nname = \"ann\"\npassword = \"pw-ann\"\nphone = \"browser\"\nready = false\n\
         [[agent]]\nname = \"bob\"\npassword = \"pw-bob\"\nuri = \"sip:bob@127.0.0.1:9\"\nready = false\n\
         [[agent]]\nname = \"sue\"\npassword = \"pw-sue\"\nuri = \"sip:sue@127.0.0.1:9\"\nready = false\n\
         [[agent]]\nname = \"cal\"\npassword = \"pw-cal\"\nuri = \"sip:cal@127.0.0.1:{cal}\"\n\
         [[agent]]\nname = \"dan\"\npassword = \"pw-dan\"\nuri = \"sip:dan@127.0.0.1:{dan}\"\n\
         [[agent]]\nname = \"eve\"\npassword = \"pw-eve\"\nuri = \"sip:eve@127.0.0.1:{eve}\"\n"
    )
}

/// One raw HTTP/1.1 request to the agent API: status, headers, body.
fn request(api: &str, head: &str, body: &str) -> (u16, String, String) {
    crate::acd::exchange(api, head, body, Duration::from_secs(10))
}

/// The attacks on the desktop's front door: nothing succeeds without a
/// session or credentials, a session without its CSRF token is refused,
/// and a socket from another origin too.
fn front_door(api: &str) {
    let (status, headers, _) = request(api, "GET /api/agents/ann HTTP/1.1", "");
    assert_eq!(status, 401, "no credentials");
    assert!(
        headers.contains("www-authenticate"),
        "machines get a challenge"
    );
    // Every route the desktop added refuses a request without credentials.
    for head in [
        "GET /desk/session",
        "POST /desk/logout",
        "POST /api/agents/ann/call/hold",
        "POST /api/agents/ann/call/hang-up",
        "POST /api/agents/ann/call/transfer",
        "POST /api/agents/ann/phone",
        "DELETE /api/agents/ann/phone",
        "POST /api/agents/ann/phone/answer",
        "POST /api/agents/ann/phone/consult",
        "GET /api/wallboard",
        "POST /api/wallboard/agents/ann/logout",
    ] {
        let (status, _, body) = request(api, &format!("{head} HTTP/1.1"), "{}");
        assert_eq!(status, 401, "{head} without credentials: {body}");
    }
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    for path in ["/api/agents/ann/events", "/api/wallboard/events"] {
        let (status, _, body) = request(api, &format!("GET {path} HTTP/1.1\r\n{upgrade}"), "");
        assert_eq!(status, 401, "a socket {path} without credentials: {body}");
    }
    let (status, headers, _) = request(
        api,
        "GET /api/agents/ann HTTP/1.1\r\nCookie: dialect_session=00112233445566778899aabbccddeeff",
        "",
    );
    assert_eq!(status, 401, "a made-up session");
    assert!(
        !headers.contains("www-authenticate"),
        "no Basic dialog for the browser"
    );
    let (status, _, _) = request(
        api,
        "POST /desk/login HTTP/1.1",
        r#"{"name": "ann", "password": "nope"}"#,
    );
    assert_eq!(status, 401, "a wrong password");
    let (status, headers, body) = request(
        api,
        "POST /desk/login HTTP/1.1",
        r#"{"name": "ann", "password": "pw-ann"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let cookie_line = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie_line.contains(attribute), "{cookie_line}");
    }
    let session = cookie_line
        .split_once("dialect_session=")
        .and_then(|(_, rest)| rest.split(';').next())
        .expect("the session id")
        .to_string();
    let csrf = serde_json::from_str::<serde_json::Value>(&body).expect("json")["csrf"]
        .as_str()
        .expect("csrf")
        .to_string();
    let cookie = format!("Cookie: dialect_session={session}");
    let (status, _, _) = request(
        api,
        &format!("POST /api/agents/ann/login HTTP/1.1\r\n{cookie}"),
        "",
    );
    assert_eq!(status, 403, "a session without its CSRF token");
    let (status, _, _) = request(
        api,
        &format!("POST /api/agents/ann/login HTTP/1.1\r\n{cookie}\r\nX-CSRF-Token: {session}"),
        "",
    );
    assert_eq!(status, 403, "the wrong CSRF token");
    let (status, _, body) = request(
        api,
        &format!("GET /api/agents/sue HTTP/1.1\r\n{cookie}\r\nX-CSRF-Token: {csrf}"),
        "",
    );
    assert_eq!(status, 403, "another agent's view: {body}");
    let (status, _, _) = request(
        api,
        &format!(
            "GET /api/agents/ann/events HTTP/1.1\r\n{cookie}\r\nOrigin: https://evil.example\r\n{upgrade}"
        ),
        "",
    );
    assert_eq!(status, 403, "a socket from another origin");
    let (status, _, _) = request(
        api,
        &format!("GET /api/wallboard HTTP/1.1\r\n{cookie}\r\nX-CSRF-Token: {csrf}"),
        "",
    );
    assert_eq!(status, 403, "the wallboard is for supervisors");
    let (status, _, _) = request(
        api,
        &format!("POST /desk/logout HTTP/1.1\r\n{cookie}\r\nX-CSRF-Token: {csrf}"),
        "",
    );
    assert_eq!(status, 200);
    let (status, _, _) = request(
        api,
        &format!("GET /api/agents/ann HTTP/1.1\r\n{cookie}\r\nX-CSRF-Token: {csrf}"),
        "",
    );
    assert_eq!(status, 401, "a session after logout");
}

/// Decodes one µ-law byte.
fn ulaw(byte: u8) -> i32 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0F);
    let magnitude = ((mantissa << 3) + 0x84) << exponent;
    let value = magnitude - 0x84;
    if sign != 0 { -value } else { value }
}

/// Reads RTP on `socket` for `for_`: the packets, and the 20 ms frames
/// whose mean absolute amplitude is well above silence.
fn listen(socket: &UdpSocket, for_: Duration) -> (usize, usize) {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let until = Instant::now() + for_;
    let (mut packets, mut loud) = (0, 0);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        if len <= 12 || buf[1] & 0x7f != 0 {
            continue;
        }
        packets += 1;
        let payload = &buf[12..len];
        let mean = payload.iter().map(|b| ulaw(*b).abs()).sum::<i32>() / payload.len() as i32;
        if mean > 500 {
            loud += 1;
        }
    }
    (packets, loud)
}

#[test]
fn an_agent_works_a_call_in_the_browser_and_a_supervisor_watches_the_wallboard() {
    let chromium = chromium();
    let driver = driver();
    // The server's clock is the browser's: the callback is made for two
    // hours from the browser's now.
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).expect("now");
    let (cal_port, dan_port, eve_port) = (
        crate::sip::free_udp_port(),
        crate::sip::free_udp_port(),
        crate::sip::free_udp_port(),
    );
    let served = Served::start_flows(
        "desk",
        &now.to_string(),
        13_000,
        &config(cal_port, dan_port, eve_port),
        "tests/desk-flows/",
    );
    // The colleagues' phones, each answering one consultation.
    let mut colleagues: Vec<Child> = [
        (cal_port, "13340"),
        (dan_port, "13360"),
        (eve_port, "13380"),
    ]
    .into_iter()
    .map(|(port, media)| {
        crate::sip::uas(
            "agent_answers.xml",
            port,
            &["-mp", media, "-m", "1", "-timeout", "120s", "-nostdin"],
        )
    })
    .collect();
    let api = served.api.clone();
    front_door(&api);

    // What the caller hears arrives here (its SDP names this port).
    let ear = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ear_port = ear.local_addr().expect("addr").port();
    let scratch = served.dir.clone();
    // Each caller's number (and where it hears), one injection file each.
    let infs: Vec<PathBuf> = (0..4)
        .map(|n| {
            let inf = scratch.join(format!("caller-{n}.csv"));
            std::fs::write(&inf, format!("SEQUENTIAL\n+4860010020{n};{ear_port}\n")).expect("csv");
            inf
        })
        .collect();
    let shots = root().join("docs/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");

    let mut node = Command::new("node")
        .current_dir(&driver)
        .arg("desk.mjs")
        .env("DESK_URL", format!("http://{api}"))
        .env("CHROMIUM", &chromium)
        .env("SHOTS", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (the Debian package `nodejs`)");
    let mut stdin = node.stdin.take().expect("stdin");
    let stdout = node.stdout.take().expect("stdout");
    let mut callers: Vec<Child> = Vec::new();
    let mut steps = Vec::new();
    let mut heard = (0, 0);
    let mut done = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line from the browser script");
        eprintln!("browser: {line}");
        if let Some(step) = line.strip_prefix("STEP ") {
            steps.push(step.to_string());
        } else if let Some(n) = [
            "NEED caller",
            "NEED caller2",
            "NEED caller3",
            "NEED caller4",
        ]
        .iter()
        .position(|need| line == *need)
        {
            let child = served
                .caller(
                    "caller_waits_audio_elsewhere.xml",
                    // The fourth calls the campaign that answers by itself.
                    if n == 3 {
                        "+48221007004"
                    } else {
                        "+48221007001"
                    },
                    // SIPp binds its media port and the next ones: 10 apart.
                    13_300 + 10 * u16::try_from(n).expect("small"),
                )
                .arg("-inf")
                .arg(&infs[n])
                .args(["-m", "1", "-timeout", "120s", "-nostdin"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("SIPp starts");
            callers.push(child);
            writeln!(stdin, "ok").expect("tell the browser");
        } else if line == "NEED conference-goes-on" {
            // ann left; the caller and cal talk on.
            let events = wait_for(&served, "ann leaving the conference", |e| {
                crate::sip::count(e, "conference_left") == 1
            });
            let left = events
                .iter()
                .find(|e| e["event"] == "conference_left")
                .expect("conference_left");
            assert_eq!(left["who"], "ann", "{left}");
            let second = left["call"].clone();
            assert!(
                !events
                    .iter()
                    .any(|e| e["call"] == second && e["event"] == "hangup"),
                "the conference went on without ann"
            );
            writeln!(stdin, "ok").expect("tell the browser");
        } else if line == "NEED audio" {
            heard = listen(&ear, Duration::from_secs(3));
            writeln!(stdin, "ok").expect("tell the browser");
        } else if line == "DONE" {
            done = true;
        } else if let Some(reason) = line.strip_prefix("FAIL ") {
            for c in callers.iter_mut().chain(colleagues.iter_mut()) {
                let _ = c.kill();
            }
            panic!("the browser test failed: {reason}\nsteps: {steps:#?}");
        }
    }
    let status = node.wait().expect("node ends");
    for c in callers.iter_mut().chain(colleagues.iter_mut()) {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(
        done && status.success(),
        "the browser test did not finish: {steps:#?}"
    );

    // The caller heard the agent's browser microphone: RTP, some of it loud
    // (Chromium's fake device beeps).
    let (packets, loud) = heard;
    assert!(
        packets >= 100,
        "the caller got {packets} RTP packets in 3 s"
    );
    assert!(loud >= 5, "{loud} of {packets} frames had audio energy");

    // What the server did, from its event log.
    let events = wait_for(&served, "the transfer", |e| {
        crate::sip::count(e, "transferred") == 2
    });
    for event in ["hold", "resume"] {
        assert!(
            events
                .iter()
                .any(|e| e["event"] == event && e["agent"] == "ann"),
            "{event} by ann"
        );
    }
    let transfer = events
        .iter()
        .find(|e| e["event"] == "transferred")
        .expect("transferred");
    assert_eq!(transfer["target"], "support");
    assert_eq!(transfer["kind"], "queue");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "not_ready" && e["by"] == "sue"),
        "sue set ann not ready"
    );
    // The browser phone's consultations went through the SIP phones' code:
    // three consultations (answering the digest challenge), one of them a
    // conference, one an attended transfer (REFER with Replaces).
    assert_eq!(crate::sip::count(&events, "consult"), 3, "consultations");
    assert_eq!(crate::sip::count(&events, "conference"), 1, "a conference");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "transferred" && e["kind"] == "attended"),
        "an attended transfer"
    );
    for shot in ["desk.png", "wallboard.png"] {
        let size = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{shot} is {size} bytes");
    }
}
