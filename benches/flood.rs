//! A request flood against `dialect serve`, as one attacking host sends it:
//! 10,000 SIP requests a second for 10 seconds from 127.0.0.2 (INVITEs to a
//! campaign's number, REGISTERs with wrong passwords, OPTIONS, each with a
//! branch of its own), while 127.0.0.1 places a real call (INVITE, 200,
//! ACK, a second of the menu, BYE) and asks `OPTIONS sip:status` every
//! 250 ms. Prints what the flood got back, the status answers' latency, the
//! call's setup time and the server's memory (VmRSS) during the flood.
//!
//! `cargo bench --bench flood`. `DIALECT_BIN=path/to/dialect` measures
//! another build (the previous commit's, to compare); `FLOOD_RATE` and
//! `FLOOD_SECONDS` change the flood. Everything stays on loopback.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn flood_request(n: u64, port: u16) -> String {
    match n % 3 {
        0 => format!(
            "INVITE sip:48221000002@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKf{n}\r\nFrom: <sip:48600{n}@127.0.0.2>;tag=f{n}\r\nTo: <sip:48221000002@127.0.0.1>\r\nCall-ID: flood-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.2:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        ),
        1 => format!(
            "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKf{n}\r\nFrom: <sip:erin@127.0.0.1>;tag=f{n}\r\nTo: <sip:erin@127.0.0.1>\r\nCall-ID: flood-{n}\r\nCSeq: 1 REGISTER\r\nContact: <sip:erin@127.0.0.2:5999>\r\nAuthorization: Digest username=\"erin\", realm=\"dialect\", nonce=\"{n:048x}\", uri=\"sip:127.0.0.1\", response=\"00000000000000000000000000000000\", qop=auth, nc=00000001, cnonce=\"x\"\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ),
        _ => format!(
            "OPTIONS sip:x@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKf{n}\r\nFrom: <sip:a@127.0.0.2>;tag=f{n}\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: flood-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ),
    }
}

/// `OPTIONS sip:status`: the answer's latency, or `None` after 1 s.
fn status(socket: &UdpSocket, port: u16, n: u64) -> Option<Duration> {
    let local = socket.local_addr().unwrap();
    let request = format!(
        "OPTIONS sip:status@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKst{n}\r\nFrom: <sip:probe@{local}>;tag=s{n}\r\nTo: <sip:status@127.0.0.1>\r\nCall-ID: status-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let started = Instant::now();
    socket
        .send_to(request.as_bytes(), ("127.0.0.1", port))
        .ok()?;
    let mut buf = [0u8; 8192];
    while started.elapsed() < Duration::from_secs(1) {
        if let Ok((len, _)) = socket.recv_from(&mut buf)
            && String::from_utf8_lossy(&buf[..len]).contains(&format!("status-{n}"))
        {
            return Some(started.elapsed());
        }
    }
    None
}

/// A real call from 127.0.0.1: setup time (INVITE to 200), or why not.
fn call(port: u16) -> Result<Duration, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let uri = format!("sip:48221000002@127.0.0.1:{port}");
    let head = |method: &str, seq: u32, branch: &str, to: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch}\r\nFrom: <sip:48600100200@{local}>;tag=real\r\nTo: {to}\r\nCall-ID: real-call@{local}\r\nCSeq: {seq} {method}\r\nContact: <sip:caller@{local}>\r\nMax-Forwards: 70\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        head("INVITE", 1, "realinv", &format!("<{uri}>")),
        SDP.len()
    );
    let started = Instant::now();
    socket
        .send_to(invite.as_bytes(), ("127.0.0.1", port))
        .unwrap();
    let mut buf = [0u8; 8192];
    let mut to = String::new();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..len]).to_string();
            if text.starts_with("SIP/2.0 200") {
                to = text
                    .lines()
                    .find_map(|l| l.strip_prefix("To: "))
                    .unwrap_or_default()
                    .to_string();
                break;
            }
            if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
                return Err(text.lines().next().unwrap_or_default().to_string());
            }
        }
    }
    if to.is_empty() {
        return Err("no answer within 10 s".into());
    }
    let setup = started.elapsed();
    let ack = format!(
        "{}Content-Length: 0\r\n\r\n",
        head("ACK", 1, "realack", &to)
    );
    socket.send_to(ack.as_bytes(), ("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let bye = format!(
        "{}Content-Length: 0\r\n\r\n",
        head("BYE", 2, "realbye", &to)
    );
    socket.send_to(bye.as_bytes(), ("127.0.0.1", port)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..len]);
            if text.starts_with("SIP/2.0 200") && text.contains("BYE") {
                return Ok(setup);
            }
        }
    }
    Err("the BYE was not answered".into())
}

fn main() {
    let rate = env_u64("FLOOD_RATE", 10_000);
    let seconds = env_u64("FLOOD_SECONDS", 10);
    let bin = std::env::var("DIALECT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_dialect").into());
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("dialect-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dialect.toml");
    std::fs::write(
        &config,
        "[media]\nport_min = 40000\nport_max = 49999\n[runtime]\nmax_calls = 5000\n[[agent]]\nname = \"erin\"\npassword = \"s3cret\"\n",
    )
    .unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&bin)
        .current_dir(root)
        .args(["serve", "flows/", "--config"])
        .arg(&config)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--clock",
            "2026-11-23T09:00:00[Europe/Warsaw]",
            "--api",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--admin-token",
            "bench",
            "--data",
        ])
        .arg(&dir)
        .arg("--event-log")
        .arg(dir.join("events.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dialect serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap_or_default().contains("listening for SIP") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();
    let rss_before = rss_kb(pid);
    println!("flood: {bin}, {rate} requests/s for {seconds} s from 127.0.0.2");

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flood = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is a loopback address");
    flood
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let receiver = {
        let (socket, stop) = (flood.try_clone().unwrap(), stop.clone());
        let (answered, refused) = (answered.clone(), refused.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((len, _)) = socket.recv_from(&mut buf) {
                    if buf[..len].starts_with(b"SIP/2.0 503") {
                        refused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut sent = 0u64;
            let total = rate * seconds;
            while sent < total && !stop.load(Ordering::Relaxed) {
                // Keep to the rate: as many as are due by now.
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                while sent < due.min(total) {
                    let _ =
                        flood.send_to(flood_request(sent, port).as_bytes(), ("127.0.0.1", port));
                    sent += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (sent, started.elapsed())
        })
    };
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut latencies = Vec::new();
    let mut missed = 0;
    let mut rss_max = rss_before;
    let started = Instant::now();
    let mut n = 0;
    let mut call_result = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        n += 1;
        match status(&probe, port, n) {
            Some(latency) => latencies.push(latency),
            None => missed += 1,
        }
        rss_max = rss_max.max(rss_kb(pid));
        if call_result.is_none() && started.elapsed() > Duration::from_secs(2) {
            call_result = Some(call(port));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let (sent, took) = sender.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    let rss_after = rss_kb(pid);
    latencies.sort();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let max = latencies.last().copied().unwrap_or_default();
    println!(
        "sent {sent} in {:.1} s ({:.0}/s); answered {} (503: {})",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64(),
        answered.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    println!(
        "status from 127.0.0.1: {} answered, {missed} not within 1 s; median {:.1} ms, max {:.1} ms",
        latencies.len(),
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    match call_result {
        Some(Ok(setup)) => println!(
            "a real call from 127.0.0.1: completed, answered in {:.1} ms",
            setup.as_secs_f64() * 1e3
        ),
        Some(Err(why)) => println!("a real call from 127.0.0.1: FAILED ({why})"),
        None => println!("a real call from 127.0.0.1: not placed"),
    }
    println!(
        "server memory (VmRSS): {rss_before} kB before, {rss_max} kB at most, {rss_after} kB after"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
