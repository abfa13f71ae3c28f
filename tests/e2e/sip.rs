//! `dialect serve` end to end on loopback, against SIPp (Debian package
//! `sip-tester`) as the caller: real UDP sockets, real RTP, RFC 4733 keys
//! from SIPp's own pcaps. Each test starts its own server on free ports and
//! reads its event log and its counters (`OPTIONS sip:status@…`).

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn sipp() -> &'static str {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("sipp").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "SIPp is missing: install the Debian package `sip-tester` (apt-get install sip-tester)"
    );
    "sipp"
}

/// SIPp as a user agent server (an agent's phone, a trunk's callee) on
/// `port`, with `extra` options; its standard output is kept for messages.
pub(crate) fn uas(scenario: &str, port: u16, extra: &[&str]) -> Child {
    Command::new(sipp())
        .current_dir(root().join("tests/sipp"))
        .args(["-sf", scenario, "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("SIPp starts as a server")
}

pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// How a test starts `dialect serve`: where, with what limits and PATH.
#[derive(Default)]
pub(crate) struct Launch {
    /// The working directory (default: the repository).
    pub(crate) cwd: Option<PathBuf>,
    /// At most this many open files (`prlimit`).
    pub(crate) files: Option<u32>,
    /// The PATH it runs with (default: the test's).
    pub(crate) path: Option<std::ffi::OsString>,
}

/// A running `dialect serve`, stopped (SIGTERM) when dropped.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
    /// The agent API's address.
    pub(crate) api: String,
    /// The admin API's address (token `test-admin-token`).
    pub(crate) admin: String,
    /// SIP over TLS, when the configuration turns it on.
    pub(crate) tls: Option<std::net::SocketAddr>,
}

impl Served {
    pub(crate) fn start(name: &str, clock: &str, media_base: u16) -> Served {
        Served::start_with(name, clock, media_base, "")
    }

    /// Starts a server whose configuration file ends with `extra`.
    pub(crate) fn start_with(name: &str, clock: &str, media_base: u16, extra: &str) -> Served {
        Served::start_flows(name, clock, media_base, extra, "flows/")
    }

    /// Starts a server on the flows in `flows` (a directory under the root).
    pub(crate) fn start_flows(
        name: &str,
        clock: &str,
        media_base: u16,
        extra: &str,
        flows: &str,
    ) -> Served {
        let dir = crate::build::scratch(&format!("sip-{name}"));
        Served::start_in(dir, clock, media_base, extra, flows)
    }

    /// Starts a server whose data (event log, database) is in `dir`; a
    /// second start in the same directory finds what the first left.
    pub(crate) fn start_in(
        dir: PathBuf,
        clock: &str,
        media_base: u16,
        extra: &str,
        flows: &str,
    ) -> Served {
        Served::start_limited(dir, clock, media_base, extra, flows, None)
    }

    /// [`Served::start_in`], with at most `files` open file descriptors
    /// when given (through `prlimit`, from util-linux).
    pub(crate) fn start_limited(
        dir: PathBuf,
        clock: &str,
        media_base: u16,
        extra: &str,
        flows: &str,
        files: Option<u32>,
    ) -> Served {
        let launch = Launch {
            files,
            ..Launch::default()
        };
        Served::start_launched(dir, clock, media_base, extra, flows, &launch)
    }

    /// [`Served::start_limited`], run from the working directory `cwd`.
    pub(crate) fn start_at(
        cwd: &Path,
        dir: PathBuf,
        clock: &str,
        media_base: u16,
        extra: &str,
        flows: &str,
    ) -> Served {
        let launch = Launch {
            cwd: Some(cwd.to_path_buf()),
            ..Launch::default()
        };
        Served::start_launched(dir, clock, media_base, extra, flows, &launch)
    }

    /// A start as `launch` says (working directory, limits, PATH).
    pub(crate) fn start_launched(
        dir: PathBuf,
        clock: &str,
        media_base: u16,
        extra: &str,
        flows: &str,
        launch: &Launch,
    ) -> Served {
        // The SIP port is chosen free, then bound by the server: another
        // test may take it in between (its TCP side especially). Such a
        // start is tried again on another port; any other failure is one.
        for attempt in 1..=3 {
            if let Some(served) =
                Served::try_start(dir.clone(), clock, media_base, extra, flows, launch)
            {
                return served;
            }
            eprintln!("the SIP port was taken meanwhile (attempt {attempt}); another port");
        }
        panic!("dialect serve found no free SIP port in three attempts");
    }

    /// One start; `None` when the SIP port was taken before the server
    /// bound it.
    fn try_start(
        dir: PathBuf,
        clock: &str,
        media_base: u16,
        extra: &str,
        flows: &str,
        launch: &Launch,
    ) -> Option<Served> {
        let port = free_udp_port();
        let config = dir.join("dialect.toml");
        std::fs::write(
            &config,
            format!(
                "[media]\nport_min = {media_base}\nport_max = {}\n{extra}",
                media_base + 199
            ),
        )
        .expect("config");
        let mut command = match launch.files {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_dialect"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_dialect")),
        };
        if let Some(path) = &launch.path {
            command.env("PATH", path);
        }
        let mut child = command
            .current_dir(launch.cwd.clone().unwrap_or_else(root))
            .args(["serve", flows, "--config"])
            .arg(&config)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--clock",
                clock,
                "--api",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--admin-token",
                "test-admin-token",
                "--data",
            ])
            .arg(&dir)
            .arg("--event-log")
            .arg(dir.join("events.jsonl"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dialect serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut api = String::new();
        let mut admin = String::new();
        let mut tls = None;
        loop {
            assert!(Instant::now() < deadline, "dialect serve did not start");
            match lines.next() {
                Some(Ok(line)) if line.contains("listening for SIP over TLS on ") => {
                    tls = line.rsplit(' ').next().and_then(|a| a.parse().ok());
                }
                Some(Ok(line)) if line.contains("listening for SIP") => break,
                Some(Ok(line)) if line.contains("admin API on http") => {
                    admin = line
                        .split("://")
                        .nth(1)
                        .and_then(|rest| rest.split('/').next())
                        .unwrap_or_default()
                        .to_string();
                }
                Some(Ok(line)) if line.contains("agent API on http") => {
                    api = line
                        .split("://")
                        .nth(1)
                        .and_then(|rest| rest.split('/').next())
                        .unwrap_or_default()
                        .to_string();
                }
                Some(Ok(line)) if line.contains("Address already in use") => {
                    let _ = child.wait();
                    return None;
                }
                Some(Ok(line)) => eprintln!("{line}"),
                _ => panic!("dialect serve exited before listening"),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Some(Served {
            child,
            port,
            dir,
            api,
            admin,
            tls,
        })
    }

    pub(crate) fn sipp(
        &self,
        scenario: &str,
        service: &str,
        local_port: u16,
        media_port: u16,
    ) -> std::process::Output {
        self.sipp_with(scenario, service, local_port, media_port, &[])
    }

    /// SIPp with extra options (e.g. `-t t1` for TCP).
    pub(crate) fn sipp_with(
        &self,
        scenario: &str,
        service: &str,
        local_port: u16,
        media_port: u16,
        extra: &[&str],
    ) -> std::process::Output {
        let mut command = Command::new(sipp());
        command.args(extra);
        self.caller_args(&mut command, scenario, service, local_port, media_port);
        command
            .args(["-m", "1", "-timeout", "60s", "-nostdin", "-trace_err"])
            .output()
            .expect("sipp runs")
    }

    /// One SIPp call of `scenario` to `service` that stays `ms` on the
    /// line (`-d`), started in the background (see [`finish`]).
    pub(crate) fn one_call(
        &self,
        scenario: &str,
        service: &str,
        media_port: u16,
        ms: u32,
    ) -> Child {
        self.caller(scenario, service, media_port)
            .args(["-d", &ms.to_string(), "-m", "1"])
            .args(["-timeout", "60s", "-nostdin", "-trace_err"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("SIPp starts")
    }

    /// SIPp calling this server: `scenario` dialling `service` from a free
    /// local port, RTP on `media_port`, run in tests/sipp. The caller adds
    /// the run's own options (`-m`, `-d`, `-timeout`, ...) and runs or
    /// spawns it.
    pub(crate) fn caller(&self, scenario: &str, service: &str, media_port: u16) -> Command {
        let mut command = Command::new(sipp());
        self.caller_args(&mut command, scenario, service, free_udp_port(), media_port);
        command
    }

    /// The options every SIPp caller of this server takes.
    fn caller_args(
        &self,
        command: &mut Command,
        scenario: &str,
        service: &str,
        local_port: u16,
        media_port: u16,
    ) {
        command
            .current_dir(root().join("tests/sipp"))
            .args(["-sf", scenario, "-s", service])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-i", "127.0.0.1", "-p", &local_port.to_string()])
            .args(["-mp", &media_port.to_string()]);
    }

    /// The event log's lines about calls and agents: the campaigns'
    /// monitoring alerts (`alert`, `alert_cleared`; the helpline's
    /// `pool_low` holds from the start, with no records) are left out, so
    /// that tests compare what their calls did ([`Served::all_events`]
    /// has them).
    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        self.all_events()
            .into_iter()
            .filter(|e| e["event"] != "alert" && e["event"] != "alert_cleared")
            .collect()
    }

    /// Every line of the event log.
    pub(crate) fn all_events(&self) -> Vec<serde_json::Value> {
        // The log is written by its own thread: give it a moment.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(self.dir.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    /// The server's counters, read over SIP.
    pub(crate) fn status(&self) -> serde_json::Value {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let local = socket.local_addr().expect("addr");
        let request = format!(
            "OPTIONS sip:status@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{n}\r\nFrom: <sip:test@{local}>;tag=t{n}\r\nTo: <sip:status@127.0.0.1>\r\nCall-ID: status-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            port = self.port,
            n = local.port()
        );
        socket
            .send_to(request.as_bytes(), ("127.0.0.1", self.port))
            .expect("send");
        let mut buf = [0u8; 4096];
        let (len, _) = socket
            .recv_from(&mut buf)
            .expect("the server answers OPTIONS");
        let text = String::from_utf8_lossy(&buf[..len]).to_string();
        let body = text.split("\r\n\r\n").nth(1).expect("a body");
        serde_json::from_str(body).expect("JSON counters")
    }

    /// Sends raw bytes and returns the final answer's status line, if any
    /// (provisional responses are skipped).
    pub(crate) fn raw(&self, bytes: &[u8]) -> Option<String> {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        socket
            .send_to(bytes, ("127.0.0.1", self.port))
            .expect("send");
        let mut buf = [0u8; 4096];
        loop {
            let (len, _) = socket.recv_from(&mut buf).ok()?;
            let text = String::from_utf8_lossy(&buf[..len]).to_string();
            let line = text.lines().next().map(str::to_string)?;
            if !line.contains(" 100 ") && !line.contains(" 180 ") && !line.contains(" 183 ") {
                return Some(line);
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

pub(crate) fn names(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The events the switch logs for a call (`dialect_switch`), the same under
/// `dialect serve` and `dialect test`.
pub(crate) const SWITCH_EVENTS: &[&str] = &[
    "queued",
    "reserved",
    "queue_full",
    "dequeued",
    "rona",
    "overflowed",
    "queue_timeout",
    "announced",
    "courtesy_callback",
    "bot_started",
    "bot_said",
    "bot_unavailable",
    "handoff",
    "ticket_opened",
    "ticket_failed",
    "store_failed",
];

/// Runs one scenario (the body of a `[[scenario]]` table) under the
/// simulator on the flows of `dir`.
pub(crate) fn simulate(dir: &str, body: &str) -> dialect_sim::Run {
    let root = root();
    let flows = root.join(dir);
    let world = dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &flows);
    let compilation = dialect_compiler::compile(&world, std::slice::from_ref(&flows));
    assert!(!compilation.has_errors());
    let suite =
        dialect_sim::Suite::new(&compilation.programs, &compilation.sources).expect("the suite");
    let text = format!("[[scenario]]\nname = \"cross\"\n{body}\n");
    let file = dialect_sim::scenario::parse("cross.test.toml", &text).expect("the scenario");
    dialect_sim::run(&suite, &file.scenarios[0])
}

pub(crate) fn assert_clean(served: &Served) {
    // Calls (the controller's, the switch's, the engine's), dialogs,
    // legs, RTP ports and timers are all released.
    let mut status = served.status();
    for _ in 0..20 {
        if status["legs"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        status = served.status();
    }
    for counter in [
        "calls",
        "engine_calls",
        "switch_calls",
        "dialogs",
        "legs",
        "ports_in_use",
        "timers",
    ] {
        assert_eq!(status[counter], 0, "{counter} leaked: {status}");
    }
}

#[test]
fn scheme2_on_a_saturday_plays_the_closed_prompt_then_the_runtime_hangs_up() {
    let served = Served::start("closed", "2026-11-21T10:00:00[Europe/Warsaw]", 31_000);
    let out = served.sipp(
        "caller_bye_from_server.xml",
        "+48221000002",
        free_udp_port(),
        32_000,
    );
    assert!(
        out.status.success(),
        "SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        ["call_started", "answered", "prompt", "hangup"],
        "{events:?}"
    );
    assert_eq!(events[2]["prompt"], "prompts/closed.wav");
    assert_eq!(events[0]["campaign"], "scheme2");
    assert!(
        events[3]["artifact"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:")
    );
    assert_clean(&served);
}

#[test]
fn scheme1_outside_hours_is_hung_up_by_the_runtime() {
    let served = Served::start("scheme1", "2026-12-24T20:00:00+01:00", 33_000);
    // The national number works as well as E.164.
    let out = served.sipp(
        "caller_bye_from_server.xml",
        "221000001",
        free_udp_port(),
        34_000,
    );
    assert!(
        out.status.success(),
        "SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        ["call_started", "answered", "hangup"],
        "{events:?}"
    );
    assert_eq!(events[0]["dialled"], "+48221000001");
    assert_clean(&served);
}

#[test]
fn scheme2_in_hours_rfc4733_key_2_queues_the_call_and_the_callers_bye_cleans_up() {
    let served = Served::start("menu", "2026-11-23T09:00:00[Europe/Warsaw]", 35_000);
    let out = served.sipp("caller_menu_2.xml", "48221000002", free_udp_port(), 36_000);
    assert!(
        out.status.success(),
        "SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        [
            "call_started",
            "answered",
            "prompt",
            "digit",
            "queued",
            // The queue's music, logged once.
            "prompt",
            "dequeued",
            "hangup"
        ],
        "{events:?}"
    );
    assert_eq!(events[3]["key"], "2");
    assert_eq!(events[4]["queue"], "common/queues.administration");
    assert_eq!(events[7]["reason"], "caller hung up");
    let status = served.status();
    assert!(
        status["rtp_sent"].as_u64().unwrap_or(0) > 100,
        "the menu prompt was sent as RTP: {status}"
    );
    assert!(
        status["rtp_received"].as_u64().unwrap_or(0) > 0,
        "the key arrived as RTP: {status}"
    );
    assert_clean(&served);
}

#[test]
fn scheme2_key_2_rings_an_agent_who_answers_media_flows_both_ways_and_bye_ends_both_legs() {
    let agent_port = free_udp_port();
    let served = Served::start_with(
        "agent",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        41_000,
        &format!("[[agent]]\nname = \"erin\"\nuri = \"sip:erin@127.0.0.1:{agent_port}\"\n"),
    );
    // The agent's phone: SIPp as a UAS that answers and sends audio.
    let agent = uas(
        "agent_answers.xml",
        agent_port,
        &[
            "-mp",
            "42000",
            "-m",
            "1",
            "-timeout",
            "60s",
            "-nostdin",
            "-trace_err",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = served.sipp("caller_menu_2.xml", "+48221000002", free_udp_port(), 43_000);
    assert!(
        out.status.success(),
        "caller SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let agent = agent.wait_with_output().expect("the agent's SIPp ends");
    assert!(
        agent.status.success(),
        "the agent did not get its BYE:\n{}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        [
            "call_started",
            "answered",
            "prompt",
            "digit",
            "queued",
            // The queue's music, logged once.
            "prompt",
            "agent_rung",
            "connected",
            "hangup",
            "wrap_up_started"
        ],
        "{events:?}"
    );
    assert_eq!(events[6]["agent"], "erin");
    assert_eq!(events[8]["reason"], "caller hung up");
    // The agent's audio (SIPp's g711a.pcap) reached the server and was relayed.
    let status = served.status();
    assert!(
        status["rtp_received"].as_u64().unwrap_or(0) > 100,
        "{status}"
    );
    assert!(status["rtp_sent"].as_u64().unwrap_or(0) > 100, "{status}");
    assert_clean(&served);
}

#[test]
fn the_callers_bye_during_a_prompt_cleans_up() {
    let served = Served::start("bye-prompt", "2026-11-23T09:00:00[Europe/Warsaw]", 45_000);
    let out = served.sipp(
        "caller_hangs_up.xml",
        "+48221000002",
        free_udp_port(),
        46_000,
    );
    assert!(
        out.status.success(),
        "SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        ["call_started", "answered", "prompt", "hangup"],
        "{events:?}"
    );
    assert_eq!(events[3]["reason"], "caller hung up");
    assert_clean(&served);
}

#[test]
fn ten_calls_with_ten_percent_packet_loss_all_complete() {
    let served = Served::start("loss", "2026-11-21T10:00:00[Europe/Warsaw]", 47_000);
    // SIPp drops 10% of the messages it sends and receives; both sides'
    // retransmission timers must recover every call.
    let out = served
        .caller("caller_bye_from_server.xml", "+48221000002", 48_000)
        .args([
            "-m", "10", "-r", "5", "-l", "5", "-lost", "10", "-timeout", "120s", "-nostdin",
        ])
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "a call failed under loss:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    let started = names(&events)
        .iter()
        .filter(|e| *e == "call_started")
        .count();
    let ended = names(&events).iter().filter(|e| *e == "hangup").count();
    assert_eq!((started, ended), (10, 10), "{events:?}");
    assert_clean(&served);
}

#[test]
fn dialect_call_presses_keys_saves_what_it_hears_and_reports_progress() {
    let served = Served::start("call", "2026-11-23T09:00:00[Europe/Warsaw]", 49_000);
    let wav = served.dir.join("heard.wav");
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .args([
            "call",
            "221000002",
            "--digits",
            "9",
            "--key-gap",
            "1",
            "--max",
            "30",
        ])
        .arg("--server")
        .arg(format!("127.0.0.1:{}", served.port))
        .arg("--record")
        .arg(&wav)
        .output()
        .expect("dialect call runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "answered (PCMU)",
        "sent key 9",
        "hung up by the server",
        "saved what the call heard",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    // Key 9 is not on the menu: the runtime heard it and played the menu again.
    let events = served.events();
    let keys: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "digit").collect();
    assert_eq!(keys.len(), 1, "{events:?}");
    assert_eq!(keys[0]["key"], "9");
    let prompts = names(&events).iter().filter(|e| *e == "prompt").count();
    assert!(prompts >= 2, "the menu was played again: {events:?}");
    // The WAV holds seconds of the menu prompt.
    let bytes = std::fs::read(&wav).expect("the recording exists");
    assert!(bytes.len() > 44 + 8_000 * 2 * 2, "{} bytes", bytes.len());
    assert_clean(&served);
}

#[test]
fn a_caller_that_never_acknowledges_the_answer_is_released() {
    // Scheme 1 in hours queues the call for up to 10 minutes; without an ACK
    // the runtime gives up after 64 x T1 = 32 s (RFC 6026 timer L) and frees it.
    let served = Served::start("no-ack", "2026-11-23T09:00:00[Europe/Warsaw]", 51_000);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = socket.local_addr().expect("addr");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        local.port() + 1
    );
    let invite = format!(
        "INVITE sip:48221000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKnoack\r\nFrom: <sip:48600000001@{local}>;tag=n\r\nTo: <sip:48221000001@127.0.0.1>\r\nCall-ID: noack-1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{local}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    socket
        .send_to(invite.as_bytes(), ("127.0.0.1", served.port))
        .expect("send");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(served.status()["calls"], 1);
    std::thread::sleep(Duration::from_secs(33));
    let events = served.events();
    assert_eq!(
        events.last().map(|e| e["reason"].clone()),
        Some("the caller never acknowledged the answer".into()),
        "{events:?}"
    );
    assert_clean(&served);
}

/// A baresip profile in the server's directory: no sound card (it talks by
/// playing a prompt file), RTP on `rtp_ports`, one account line; `extra`
/// is added to the configuration. Fails naming the package when baresip
/// is missing.
pub(crate) fn baresip_profile(
    served: &Served,
    rtp_ports: &str,
    account: &str,
    extra: &str,
) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("baresip").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "baresip is missing: install the Debian package `baresip` (apt-get install baresip)"
    );
    let profile = served.dir.join("baresip");
    std::fs::create_dir_all(&profile).expect("profile dir");
    std::fs::write(
        profile.join("config"),
        format!(
            // Port 0: the OS picks a free port as baresip binds it (a port
            // probed free beforehand may be taken by another test meanwhile).
            "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\nmodule stdio.so\nmodule g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\naudio_source aufile,{}\nrtp_ports {rtp_ports}\n{extra}",
            root().join("flows/prompts/moh.wav").display()
        ),
    )
    .expect("config");
    std::fs::write(profile.join("accounts"), format!("{account}\n")).expect("accounts");
    std::fs::write(profile.join("contacts"), "").expect("contacts");
    profile
}

#[test]
fn baresip_navigates_the_menu_with_rfc4733_keys() {
    let served = Served::start("baresip", "2026-11-23T09:00:00[Europe/Warsaw]", 53_000);
    let profile = baresip_profile(
        &served,
        "54000-54099",
        "<sip:48600300400@127.0.0.1>;regint=0;audio_codecs=PCMU",
        "dtmf_mode rtpevent\n",
    );
    let mut baresip = Command::new("baresip")
        .arg("-f")
        .arg(&profile)
        .args(["-t", "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip starts");
    {
        use std::io::Write;
        let stdin = baresip.stdin.as_mut().expect("stdin");
        std::thread::sleep(Duration::from_secs(1));
        writeln!(stdin, "/dial sip:48221000002@127.0.0.1:{}", served.port).expect("dial");
        std::thread::sleep(Duration::from_secs(3));
        // A key press during the call: baresip sends it as RFC 4733 events.
        write!(stdin, "2").expect("key");
        stdin.flush().expect("flush");
        std::thread::sleep(Duration::from_secs(3));
        write!(stdin, "q").expect("quit");
    }
    let out = baresip.wait_with_output().expect("baresip ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("send DTMF digit: '2'"), "{stdout}");
    let events = served.events();
    let seen = names(&events);
    let wanted = ["call_started", "answered", "prompt", "digit", "queued"];
    assert_eq!(
        seen.get(..5),
        Some(&wanted.map(String::from)[..]),
        "{events:?}"
    );
    assert_eq!(events[3]["key"], "2");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("hangup"),
        "{events:?}"
    );
    assert_clean(&served);
}

#[test]
fn sip_over_tcp_works_the_same() {
    let served = Served::start("tcp", "2026-11-21T10:00:00[Europe/Warsaw]", 55_000);
    let out = served.sipp_with(
        "caller_bye_from_server.xml",
        "+48221000002",
        free_udp_port(),
        56_000,
        &["-t", "t1"],
    );
    assert!(
        out.status.success(),
        "SIPp over TCP failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        ["call_started", "answered", "prompt", "hangup"],
        "{events:?}"
    );
    assert_clean(&served);
}

#[test]
fn an_agent_registers_with_digest_and_is_rung_where_it_registered() {
    let served = Served::start_with(
        "register",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        57_000,
        "[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n",
    );
    let contact_port = free_udp_port();
    // A wrong password is refused.
    let bad = served.raw(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbadpw\r\nFrom: <sip:erin@127.0.0.1>;tag=b\r\nTo: <sip:erin@127.0.0.1>\r\nCall-ID: badpw-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:erin@127.0.0.1:5999>\r\nAuthorization: Digest username=\"erin\", realm=\"dialect\", nonce=\"bogus\", uri=\"sip:127.0.0.1\", response=\"00000000000000000000000000000000\"\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            .as_bytes(),
    );
    assert!(
        bad.as_deref().is_some_and(|l| l.contains(" 403 ")),
        "{bad:?}"
    );
    // SIPp registers with the right one (401 challenge, then digest).
    let out = Command::new(sipp())
        .current_dir(root().join("tests/sipp"))
        .args(["-sf", "agent_registers.xml", "-s", "erin"])
        .arg(format!("127.0.0.1:{}", served.port))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &free_udp_port().to_string(),
            "-au",
            "erin",
            "-ap",
            "s3cret",
        ])
        .args([
            "-set",
            "contact_port",
            &contact_port.to_string(),
            "-m",
            "1",
            "-nostdin",
        ])
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "REGISTER failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let agent = uas(
        "agent_answers.xml",
        contact_port,
        &["-mp", "58000", "-m", "1", "-timeout", "60s", "-nostdin"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = served.sipp("caller_menu_2.xml", "+48221000002", free_udp_port(), 59_000);
    assert!(
        out.status.success(),
        "caller SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let agent = agent.wait_with_output().expect("the agent's SIPp ends");
    assert!(
        agent.status.success(),
        "{}",
        String::from_utf8_lossy(&agent.stdout)
    );
    let events = served.events();
    let seen = names(&events);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("login_failed"),
        "the wrong password is logged: {events:?}"
    );
    assert_eq!(
        seen.get(1).map(String::as_str),
        Some("agent_registered"),
        "{events:?}"
    );
    assert!(seen.contains(&"connected".to_string()), "{events:?}");
    assert_clean(&served);
}

fn trunk(media_base: u16) -> (Served, u16) {
    let trunk_port = free_udp_port();
    let served = Served::start_flows(
        &format!("trunk-{media_base}"),
        "2026-11-23T09:00:00[Europe/Warsaw]",
        media_base,
        &format!("[trunk]\nuri = \"sip:127.0.0.1:{trunk_port}\"\n"),
        "tests/sip-flows/",
    );
    (served, trunk_port)
}

#[test]
fn the_dial_block_forwards_through_the_trunk_and_bridges() {
    let (served, trunk_port) = trunk(60_000);
    let callee = uas(
        "agent_answers.xml",
        trunk_port,
        &["-mp", "61000", "-m", "1", "-timeout", "60s", "-nostdin"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = served.sipp_with(
        "caller_listens.xml",
        "+48221009999",
        free_udp_port(),
        62_000,
        &["-d", "3000"],
    );
    assert!(
        out.status.success(),
        "caller failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let callee = callee.wait_with_output().expect("callee ends");
    assert!(
        callee.status.success(),
        "the callee did not get its BYE:\n{}",
        String::from_utf8_lossy(&callee.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events),
        ["call_started", "answered", "dial", "connected", "hangup"],
        "{events:?}"
    );
    assert_eq!(events[2]["number"], "+48225550123");
    assert_clean(&served);
}

#[test]
fn a_busy_callee_takes_the_dial_blocks_busy_exit() {
    let (served, trunk_port) = trunk(63_000);
    let callee = uas(
        "trunk_busy.xml",
        trunk_port,
        &["-m", "1", "-timeout", "60s", "-nostdin"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = served.sipp(
        "caller_bye_from_server.xml",
        "+48221009999",
        free_udp_port(),
        64_000,
    );
    assert!(
        out.status.success(),
        "caller failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = callee.wait_with_output();
    let events = served.events();
    assert_eq!(
        names(&events),
        [
            "call_started",
            "answered",
            "dial",
            "dial_failed",
            "prompt",
            "hangup"
        ],
        "{events:?}"
    );
    assert_eq!(events[3]["status"], 486);
    assert_eq!(events[4]["prompt"], "say:The line is busy.");
    assert_clean(&served);
}

#[test]
fn cancel_before_the_answer_is_answered_487_and_leaves_nothing_behind() {
    // The runtime rings for 3 s before its flow answers, so the caller can
    // give up first.
    let served = Served::start_with(
        "cancel",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        65_000 - 300,
        "[sip]\nanswer_after_ms = 3000\n",
    );
    let out = served.sipp(
        "caller_cancels.xml",
        "+48221000002",
        free_udp_port(),
        62_500,
    );
    assert!(
        out.status.success(),
        "SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::thread::sleep(Duration::from_secs(3));
    let events = served.events();
    assert_eq!(names(&events), ["call_started", "hangup"], "{events:?}");
    assert_eq!(events[1]["reason"], "cancelled");
    assert_clean(&served);
}

#[test]
fn shutdown_hangs_up_active_calls_with_bye() {
    // Scheme 1 in hours: the call waits in the helpdesk queue (10 minutes).
    let served = Served::start("shutdown", "2026-11-23T09:00:00[Europe/Warsaw]", 44_000);
    let mut command = served.caller("caller_bye_from_server.xml", "+48221000001", 65_400);
    command.args(["-m", "1", "-timeout", "60s", "-nostdin"]);
    let caller = std::thread::spawn(move || command.output().expect("sipp runs"));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(served.status()["calls"], 1);
    // SIGTERM: the runtime says BYE to the caller before it exits.
    let status = Command::new("kill")
        .arg(served.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let out = caller.join().expect("the caller thread");
    assert!(
        out.status.success(),
        "the caller got no BYE:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        events.last().map(|e| e["reason"].clone()),
        Some("server shut down".into()),
        "{events:?}"
    );
}

/// SIPp callers of scheme 1 that hang up after a second (`args`: how many
/// and how fast), logging every message; the server is killed with
/// SIGKILL after `kill_after`, then SIPp is stopped (SIGTERM: its log is
/// complete). Returns SIPp's message log.
fn hang_ups_killed<T>(
    served: &mut Served,
    media_port: u16,
    args: &[&str],
    kill_after: Duration,
    meanwhile: impl FnOnce(&Served) -> T,
) -> (String, T) {
    let messages = served.dir.join("sipp-messages.log");
    let mut command = Command::new(sipp());
    served.caller_args(
        &mut command,
        "caller_hangs_up.xml",
        "48221000001",
        free_udp_port(),
        media_port,
    );
    let mut caller = command
        .args(args)
        .args(["-nostdin", "-trace_msg", "-message_file"])
        .arg(&messages)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    let started = Instant::now();
    let kept = meanwhile(served);
    std::thread::sleep(kill_after.saturating_sub(started.elapsed()));
    served.child.kill().expect("SIGKILL");
    let _ = served.child.wait();
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").arg(caller.id().to_string()).status();
    let _ = caller.wait();
    let log = std::fs::read_to_string(&messages).expect("SIPp's message log");
    (log, kept)
}

/// The messages SIPp received, from its log ("... message received [n]
/// bytes :" then the message, up to what it sent next).
fn received(log: &str) -> Vec<&str> {
    log.split("message received")
        .skip(1)
        .filter_map(|block| block.split("message sent").next())
        .collect()
}

/// Call records are written behind the controller, in batches (one sync
/// for many calls); what may not change is durability. A caller whose
/// hang-up was answered has a record on disk whenever the process dies:
/// the 200 for its BYE waits for the record. SIPp calls scheme 1 in hours
/// at 100 a second, hangs up after a second and logs every message it
/// gets; the server is killed with SIGKILL mid-run; every answered BYE has
/// a record, and the database opens cleanly.
#[test]
fn every_call_whose_end_the_caller_saw_has_its_record_after_kill_9() {
    let mut served = Served::start("cdr-kill", "2026-11-23T10:00:00+01:00", 20_000);
    let (log, ()) = hang_ups_killed(
        &mut served,
        20_400,
        &["-r", "100", "-m", "100000", "-l", "1000"],
        Duration::from_millis(3_500),
        |_| (),
    );
    let answered = received(&log)
        .into_iter()
        .filter(|block| {
            let status = block
                .lines()
                .find(|l| !l.trim().is_empty() && !l.contains("bytes"))
                .is_some_and(|l| l.trim_start().starts_with("SIP/2.0 200"));
            status && block.contains("CSeq: 2 BYE")
        })
        .count();
    assert!(
        answered > 50,
        "SIPp got {answered} answers to its BYEs before the kill"
    );
    let store = dialect_store::SqliteStore::open(served.dir.join("dialect.sqlite"))
        .expect("the database opens after SIGKILL");
    use dialect_store::RecordStore;
    let records = store.calls().expect("call records").len();
    eprintln!("{answered} hang-ups answered, {records} call records");
    assert!(
        records >= answered,
        "{answered} callers' hang-ups were answered but only {records} calls have a record"
    );
}

/// The answer to a caller's BYE waits for the call's record: while the
/// database is locked by someone else (here the test, holding its write
/// lock), the record cannot be committed, so the hang-up is not answered;
/// killed then, the server has told the caller nothing it has not kept.
#[test]
fn a_hang_up_is_not_answered_before_the_calls_record_is_durable() {
    let mut served = Served::start("cdr-lock", "2026-11-23T10:00:00+01:00", 20_200);
    // The caller hangs up a second after the answer and retransmits its
    // BYE. The lock is taken once the call is answered (the controller's
    // own store writes would wait on it too); the writer gives up on it
    // only after 5 s (then the 200 would go).
    let (log, lock) = hang_ups_killed(
        &mut served,
        20_600,
        &["-m", "1"],
        Duration::from_millis(4_000),
        |served| {
            wait_for(served, "the call answered", |e| {
                names(e).contains(&"answered".to_string())
            });
            let lock = rusqlite::Connection::open(served.dir.join("dialect.sqlite")).expect("open");
            lock.execute_batch("BEGIN IMMEDIATE")
                .expect("the write lock");
            lock
        },
    );
    lock.execute_batch("ROLLBACK").expect("unlock");
    let received = received(&log);
    assert!(
        received
            .iter()
            .any(|m| m.contains("SIP/2.0 200") && m.contains("CSeq: 1 INVITE")),
        "the call was answered:\n{log}"
    );
    assert!(log.contains("CSeq: 2 BYE"), "the caller hung up:\n{log}");
    assert!(
        !received.iter().any(|m| m.contains("CSeq: 2 BYE")),
        "the hang-up was answered before its record was durable:\n{log}"
    );
    use dialect_store::RecordStore;
    let store = dialect_store::SqliteStore::open(served.dir.join("dialect.sqlite")).expect("db");
    assert_eq!(store.calls().expect("records").len(), 0);
}

#[test]
fn calls_over_the_limit_get_503() {
    let served = Served::start_with(
        "limit",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        65_000 - 600,
        "[runtime]\nmax_calls = 1\n",
    );
    let invite = |n: u32| {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5998 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        format!(
            "INVITE sip:48221000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKlimit{n}\r\nFrom: <sip:a@127.0.0.1>;tag=l{n}\r\nTo: <sip:48221000001@127.0.0.1>\r\nCall-ID: limit-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    let first = served.raw(invite(1).as_bytes());
    assert!(
        first.as_deref().is_some_and(|l| l.contains(" 200 ")),
        "{first:?}"
    );
    let second = served.raw(invite(2).as_bytes());
    assert!(
        second.as_deref().is_some_and(|l| l.contains(" 503 ")),
        "{second:?}"
    );
}

/// Load shedding. The server is stopped (SIGSTOP) for 300 ms while a
/// burst of new calls piles up in its SIP socket behind the hang-up of a
/// call already up; resumed, it reads datagrams that waited far longer than
/// an overload's threshold (the kernel's receive stamps tell), so the new
/// calls are refused at once with a stateless 503 and `Retry-After: 1`,
/// every INVITE gets a final answer (no timeouts, no retransmission storm),
/// the call already up is hung up normally, and new calls that did not
/// wait are taken.
#[test]
fn a_backlog_of_new_calls_is_shed_with_503_and_calls_already_up_are_unharmed() {
    let served = Served::start_with(
        "overload",
        "2026-11-23T10:00:00+01:00",
        22_000,
        "[sip]\ntrusted = [\"127.0.0.0/8\"]\n[runtime]\nmax_calls = 1000\n",
    );
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 22998 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = |port: u16, n: u32| {
        format!(
            "INVITE sip:48221000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKshed{n}\r\nFrom: <sip:48600100200@127.0.0.1>;tag=s{n}\r\nTo: <sip:48221000001@127.0.0.1>\r\nCall-ID: shed-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    let header = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .map(|l| {
                l.split_once(':')
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            })
    };
    let receive = |socket: &UdpSocket| -> Option<String> {
        let mut buf = [0u8; 8192];
        let (len, _) = socket.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..len]).to_string())
    };
    // A call up: answered and acknowledged.
    let up = UdpSocket::bind("127.0.0.1:0").expect("bind");
    up.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let up_port = up.local_addr().expect("addr").port();
    up.send_to(invite(up_port, 0).as_bytes(), ("127.0.0.1", served.port))
        .expect("send");
    let ok = loop {
        let text = receive(&up).expect("the first call is answered");
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let to = header(&ok, "To").expect("To");
    let dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} sip:48221000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{up_port};branch=z9hG4bK{branch}\r\nFrom: <sip:48600100200@127.0.0.1>;tag=s0\r\nTo: {to}\r\nCall-ID: shed-0\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    up.send_to(
        dialog("ACK", 1, "ack0").as_bytes(),
        ("127.0.0.1", served.port),
    )
    .expect("ACK");
    std::thread::sleep(Duration::from_millis(200));
    // Stopped, the server's socket fills: 400 new calls, then the hang-up.
    let pid = served.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    // The signal takes effect asynchronously: the burst waits until every
    // thread of the server is stopped, so none of it is read at once.
    let stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks.flatten().all(|task| {
                    std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                        stat.rsplit_once(')')
                            .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
                    })
                })
            })
            .unwrap_or(false)
    };
    for _ in 0..200 {
        if stopped() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(stopped(), "the server stopped");
    let burst = UdpSocket::bind("127.0.0.1:0").expect("bind");
    burst
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let burst_port = burst.local_addr().expect("addr").port();
    let calls = 400;
    for n in 1..=calls {
        burst
            .send_to(invite(burst_port, n).as_bytes(), ("127.0.0.1", served.port))
            .expect("send");
    }
    up.send_to(
        dialog("BYE", 2, "bye0").as_bytes(),
        ("127.0.0.1", served.port),
    )
    .expect("BYE");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    // Every new call gets a final answer: taken (200), shed (503 with
    // Retry-After: 1), or, once the 200 RTP ports of this test are taken,
    // refused for that (503 without it).
    let mut finals = std::collections::HashMap::new();
    while let Some(text) = receive(&burst) {
        let status = text.split(' ').nth(1).unwrap_or_default().to_string();
        if status.starts_with('1') {
            continue;
        }
        let status = match (status.as_str(), header(&text, "Retry-After")) {
            ("503", Some(retry)) if retry == "1" => "shed".to_string(),
            _ => status,
        };
        let call = header(&text, "Call-ID").expect("Call-ID");
        finals.entry(call).or_insert(status);
        if finals.len() == calls as usize {
            break;
        }
    }
    let refused = finals.values().filter(|s| *s == "shed").count();
    let answered = finals.values().filter(|s| *s == "200").count();
    eprintln!("{answered} answered, {refused} shed, of {}", finals.len());
    assert_eq!(
        finals.len(),
        calls as usize,
        "every new call got a final answer: {finals:?}"
    );
    assert_eq!(
        refused, calls as usize,
        "every call of the backlog waited 300 ms, and was shed: {finals:?}"
    );
    // The call already up was hung up as ever.
    let bye_ok = loop {
        let text = receive(&up).expect("the hang-up is answered");
        if text.contains("CSeq: 2 BYE") {
            break text;
        }
    };
    assert!(bye_ok.starts_with("SIP/2.0 200"), "{bye_ok}");
    let status = served.status();
    assert_eq!(status["overload_refused"], refused as u64, "{status}");
    assert!(status["overload_episodes"].as_u64() >= Some(1), "{status}");
    assert!(
        status["sip_waited_max_ms"].as_f64() >= Some(300.0),
        "{status}"
    );
    // New calls that did not wait are taken, right after the backlog.
    // Every RTP port of this test is held by the calls answered: the
    // hung-up call's port is free once its leg has ended (its socket is
    // back), moments after the 200 for the BYE.
    for _ in 0..100 {
        let status = served.status();
        if status["legs"] == status["calls"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let again: Vec<Option<String>> = (999..1002)
        .map(|n| served.raw(invite(free_udp_port(), n).as_bytes()))
        .collect();
    assert!(
        again
            .iter()
            .any(|a| a.as_deref().is_some_and(|l| l.contains(" 200 "))),
        "{again:?} {}",
        served.status()
    );
}

#[test]
fn unknown_numbers_malformed_packets_and_media_garbage_get_clean_answers() {
    let served = Served::start("errors", "2026-11-23T09:00:00[Europe/Warsaw]", 37_000);
    let invite = |user: &str, n: u32| {
        format!(
            "INVITE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKerr{n}\r\nFrom: <sip:a@127.0.0.1>;tag=e{n}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: err-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            len = SDP_PCMA_ONLY.len(),
            sdp = SDP_PCMA_ONLY,
        )
    };
    // A number we do not serve, from a stranger: challenged like any call
    // placed through us (a trusted source would get 404).
    let answer = served.raw(invite("48999999999", 1).as_bytes());
    assert!(
        answer.as_deref().is_some_and(|l| l.contains(" 407 ")),
        "{answer:?}"
    );
    let bad = served.raw(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbad\r\nCSeq: nonsense\r\n\r\n");
    assert!(
        bad.as_deref().is_some_and(|l| l.contains(" 400 ")),
        "{bad:?}"
    );
    // Garbage to a media port and random bytes to SIP change nothing.
    let noise = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for port in [37_000u16, 37_002, served.port] {
        let _ = noise.send_to(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2], ("127.0.0.1", port));
    }
    let status = served.status();
    assert_eq!(status["calls"], 0, "{status}");
    let options = served.raw(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKopt\r\nFrom: <sip:a@127.0.0.1>;tag=o\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    assert!(
        options.as_deref().is_some_and(|l| l.contains(" 200 ")),
        "{options:?}"
    );
    let register = served.raw(b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKreg\r\nFrom: <sip:a@127.0.0.1>;tag=r\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    assert!(
        register.as_deref().is_some_and(|l| l.contains(" 401 ")),
        "an unknown agent is challenged like a known one: {register:?}"
    );
}

/// A valid PCMA-only offer, for requests refused before any media.
pub(crate) const SDP_PCMA_ONLY: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5998 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

#[test]
fn an_offer_without_g711_is_refused_with_488() {
    let served = Served::start("codec", "2026-11-23T09:00:00[Europe/Warsaw]", 39_000);
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5998 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n";
    let invite = format!(
        "INVITE sip:48221000002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKg722\r\nFrom: <sip:a@127.0.0.1>;tag=g\r\nTo: <sip:48221000002@127.0.0.1>\r\nCall-ID: g722-1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    // 100 Trying comes first; the final answer follows.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket
        .send_to(invite.as_bytes(), ("127.0.0.1", served.port))
        .expect("send");
    let mut finals = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok((len, _)) = socket.recv_from(&mut buf) {
        let line = String::from_utf8_lossy(&buf[..len])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        if !line.contains(" 100 ") {
            finals.push(line);
            break;
        }
    }
    assert!(
        finals.first().is_some_and(|l| l.contains(" 488 ")),
        "{finals:?}"
    );
    assert_clean(&served);
}

#[test]
fn the_runtime_sends_no_bye_before_the_ack_of_its_answer() {
    use crate::ua::Phone;
    // Scheme 1 after hours answers and hangs up at once; the caller's ACK
    // is late. RFC 3261 section 15: the BYE waits for the ACK.
    let served = Served::start("no-bye-before-ack", "2026-12-24T20:00:00+01:00", 61_200);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let mut phone = Phone::new(socket, served.port, "caller");
    let uri = format!("sip:221000001@127.0.0.1:{}", served.port);
    let local = format!("<sip:48600100200@127.0.0.1:{port}>;tag=late1");
    phone.request(
        "INVITE",
        &uri,
        "late-ack-1",
        &local,
        &format!("<{uri}>"),
        "",
        Some(Phone::sdp(61_390)),
    );
    let ok = phone.expect("the answer", |m| m.status() == Some(200));
    let early = phone.within(Duration::from_millis(2_500), |m| m.is_request("BYE"));
    assert!(early.is_none(), "a BYE came before the ACK: {early:?}");
    phone.request(
        "ACK",
        &uri,
        "late-ack-1",
        &local,
        &ok.header("To"),
        "",
        None,
    );
    let bye = phone.expect("the BYE after the ACK", |m| m.is_request("BYE"));
    phone.reply(&bye, "200 OK", None, None);
    assert_clean(&served);
}

/// Waits (up to 90 s) until the event log satisfies `done`; returns it.
pub(crate) fn wait_for(
    served: &Served,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    wait_for_explained(served, what, String::new, done)
}

/// [`wait_for`] on every line of the log, the alerts included.
pub(crate) fn wait_for_all(
    served: &Served,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    wait_on(|| served.all_events(), what, String::new, done)
}

/// [`wait_for`], and on timeout also what `explain` says (a peer's output).
pub(crate) fn wait_for_explained(
    served: &Served,
    what: &str,
    explain: impl Fn() -> String,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    wait_on(|| served.events(), what, explain, done)
}

/// Polls `events` (up to 90 s) until `done` holds; on timeout fails with
/// them and what `explain` says.
fn wait_on(
    events: impl Fn() -> Vec<serde_json::Value>,
    what: &str,
    explain: impl Fn() -> String,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = events();
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {events:#?}\n{}",
            explain()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How many events of this name the log holds.
pub(crate) fn count(events: &[serde_json::Value], name: &str) -> usize {
    events.iter().filter(|e| e["event"] == name).count()
}

/// Waits for a SIPp run and asserts it succeeded.
pub(crate) fn finish(child: Child, who: &str) {
    let out = child.wait_with_output().expect("SIPp ends");
    assert!(
        out.status.success(),
        "{who}'s SIPp failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
