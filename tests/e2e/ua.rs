//! A scripted SIP phone for the tests that SIPp cannot play: an agent who
//! holds two dialogs at once (the call and a consultation), for attended
//! transfer and conference. Plain text over UDP, written out by hand.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// One SIP message as text, with header lookup.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub(crate) text: String,
}

impl Msg {
    pub(crate) fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    pub(crate) fn is_request(&self, method: &str) -> bool {
        self.first_line().starts_with(&format!("{method} "))
    }

    pub(crate) fn status(&self) -> Option<u16> {
        let line = self.first_line();
        line.starts_with("SIP/2.0 ")
            .then(|| line.split(' ').nth(1)?.parse().ok())
            .flatten()
    }

    /// Every value of a header (full name, case-insensitive).
    pub(crate) fn headers(&self, name: &str) -> Vec<String> {
        self.text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    pub(crate) fn header(&self, name: &str) -> String {
        self.headers(name).into_iter().next().unwrap_or_default()
    }

    /// The `tag` parameter of a From or To header.
    pub(crate) fn tag(&self, name: &str) -> String {
        self.header(name)
            .split(";tag=")
            .nth(1)
            .map(|t| t.split(';').next().unwrap_or_default().to_string())
            .unwrap_or_default()
    }
}

/// A phone on a UDP port that talks to one server.
pub(crate) struct Phone {
    pub(crate) socket: UdpSocket,
    pub(crate) server: String,
    pub(crate) user: String,
    /// Messages received but not yet taken.
    backlog: Vec<Msg>,
    cseq: HashMap<String, u32>,
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no={port} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    )
}

impl Phone {
    pub(crate) fn new(socket: UdpSocket, server: u16, user: &str) -> Phone {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Phone {
            socket,
            server: format!("127.0.0.1:{server}"),
            user: user.to_string(),
            backlog: Vec::new(),
            cseq: HashMap::new(),
        }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().expect("addr").port()
    }

    pub(crate) fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), &self.server)
            .expect("send");
    }

    /// Waits for the first message that `want` accepts; others are kept.
    pub(crate) fn expect(&mut self, what: &str, want: impl Fn(&Msg) -> bool) -> Msg {
        match self.within(Duration::from_secs(30), want) {
            Some(msg) => msg,
            None => panic!(
                "{} waited in vain for {what}: {:#?}",
                self.user, self.backlog
            ),
        }
    }

    /// The first message that `want` accepts within `wait`, if any; others
    /// are kept.
    pub(crate) fn within(&mut self, wait: Duration, want: impl Fn(&Msg) -> bool) -> Option<Msg> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(at) = self.backlog.iter().position(&want) {
                return Some(self.backlog.remove(at));
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut buf = [0u8; 8192];
            if let Ok((len, _)) = self.socket.recv_from(&mut buf) {
                let msg = Msg {
                    text: String::from_utf8_lossy(&buf[..len]).to_string(),
                };
                // Retransmissions of what was already taken are dropped by
                // the caller's matching; keep everything else.
                self.backlog.push(msg);
            }
        }
    }

    /// Answers a request with `status` (copying Via, From, To, Call-ID and
    /// CSeq; a To tag and an SDP answer when given).
    pub(crate) fn reply(
        &self,
        request: &Msg,
        status: &str,
        to_tag: Option<&str>,
        media: Option<u16>,
    ) {
        let mut text = format!("SIP/2.0 {status}\r\n");
        for via in request.headers("Via") {
            text.push_str(&format!("Via: {via}\r\n"));
        }
        let to = request.header("To");
        let to = match to_tag {
            Some(tag) if !to.contains(";tag=") => format!("{to};tag={tag}"),
            _ => to,
        };
        text.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{}@127.0.0.1:{}>\r\n",
            request.header("From"),
            request.header("Call-ID"),
            request.header("CSeq"),
            self.user,
            self.port()
        ));
        match media {
            Some(port) => {
                let body = sdp(port);
                text.push_str(&format!(
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ));
            }
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        self.send(&text);
    }

    /// Sends a request in a dialog: `local` is our From (with tag),
    /// `remote` the To (with tag).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn request(
        &mut self,
        method: &str,
        uri: &str,
        call_id: &str,
        local: &str,
        remote: &str,
        extra: &str,
        body: Option<String>,
    ) {
        let seq = self.cseq.entry(call_id.to_string()).or_insert(0);
        if method != "ACK" {
            *seq += 1;
        }
        let seq = *seq;
        let branch = format!("z9hG4bK{}{}{}", method.to_lowercase(), seq, call_id.len());
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\nFrom: {local}\r\nTo: {remote}\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{extra}",
            port = self.port(),
            user = self.user,
        );
        match body {
            Some(body) => text.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        self.send(&text);
    }

    /// An SDP offer or answer on `port`.
    pub(crate) fn sdp(port: u16) -> String {
        sdp(port)
    }

    /// The ACK for a non-2xx final answer to an INVITE (RFC 3261 17.1.1.3:
    /// the INVITE's Via and branch, the answer's To).
    pub(crate) fn ack_failure(&self, response: &Msg, uri: &str) {
        let seq = response
            .header("CSeq")
            .split_whitespace()
            .next()
            .unwrap_or("1")
            .to_string();
        self.send(&format!(
            "ACK {uri} SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            response.header("Via"),
            response.header("From"),
            response.header("To"),
            response.header("Call-ID"),
        ));
    }
}

/// The answer to a digest challenge (`WWW-Authenticate` or
/// `Proxy-Authenticate` of `challenge`), as the header line to send with the
/// request again: `Authorization` or `Proxy-Authorization`, `qop=auth`,
/// nonce count `nc`.
pub(crate) fn digest(
    challenge: &Msg,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    nc: u32,
) -> String {
    use md5::{Digest as _, Md5};
    let hex = |data: String| {
        Md5::digest(data.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let (header, answer) = if challenge.status() == Some(407) {
        ("Proxy-Authenticate", "Proxy-Authorization")
    } else {
        ("WWW-Authenticate", "Authorization")
    };
    let value = challenge.header(header);
    let param = |name: &str| {
        value
            .split(',')
            .filter_map(|p| p.trim().trim_start_matches("Digest ").split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let (realm, nonce) = (param("realm"), param("nonce"));
    let cnonce = "0a4f113b";
    let nc = format!("{nc:08x}");
    let ha1 = hex(format!("{user}:{realm}:{password}"));
    let ha2 = hex(format!("{method}:{uri}"));
    let response = hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "{answer}: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\"\r\n"
    )
}

/// RTP towards the server: speech-like tone, silence and RFC 4733 keys,
/// paced in real time (20 ms per packet).
pub(crate) struct Rtp {
    socket: UdpSocket,
    to: std::net::SocketAddr,
    seq: u16,
    ts: u32,
}

impl Rtp {
    /// From `socket` to the server's media address.
    pub(crate) fn new(socket: UdpSocket, to: std::net::SocketAddr) -> Rtp {
        Rtp {
            socket,
            to,
            seq: 1,
            ts: 160,
        }
    }

    fn packet(&mut self, payload_type: u8, marker: bool, payload: &[u8], advance: bool) {
        let mut packet = Vec::with_capacity(12 + payload.len());
        packet.push(0x80);
        packet.push(payload_type | if marker { 0x80 } else { 0 });
        packet.extend_from_slice(&self.seq.to_be_bytes());
        packet.extend_from_slice(&self.ts.to_be_bytes());
        packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        packet.extend_from_slice(payload);
        let _ = self.socket.send_to(&packet, self.to);
        self.seq = self.seq.wrapping_add(1);
        if advance {
            self.ts = self.ts.wrapping_add(160);
        }
    }

    /// `ms` of a loud 440 Hz tone (PCMU): speech to the server's voice
    /// activity detection.
    pub(crate) fn speech(&mut self, ms: u32) {
        let mut phase = 0f64;
        for _ in 0..ms / 20 {
            let samples: Vec<i16> = (0..160)
                .map(|_| {
                    phase += 2.0 * std::f64::consts::PI * 440.0 / 8000.0;
                    (phase.sin() * 8000.0) as i16
                })
                .collect();
            let mut frame = [0u8; 160];
            dialect_media::Law::Ulaw.encode_into(&samples, &mut frame);
            self.packet(0, false, &frame, true);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ms` of silence (PCMU).
    pub(crate) fn silence(&mut self, ms: u32) {
        for _ in 0..ms / 20 {
            self.packet(0, false, &[0xFF; 160], true);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One key as RFC 4733 events (payload type 101): 100 ms of tone, then
    /// three end packets.
    pub(crate) fn key(&mut self, key: char) {
        let event = match key {
            '0'..='9' => key as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => return,
        };
        for (i, duration) in [160u16, 320, 480, 640, 800].iter().enumerate() {
            let mut payload = vec![event, 10];
            payload.extend_from_slice(&duration.to_be_bytes());
            self.packet(101, i == 0, &payload, false);
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..3 {
            let mut payload = vec![event, 0x80 | 10];
            payload.extend_from_slice(&800u16.to_be_bytes());
            self.packet(101, false, &payload, false);
        }
        self.ts = self.ts.wrapping_add(800);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scripted speech-to-text service (the documented interface): each
/// POST gets the next text of `texts` (then empty text). Returns its URL.
pub(crate) fn stt_service(texts: Vec<&'static str>) -> String {
    let answers = texts
        .into_iter()
        .map(|t| {
            (
                200,
                serde_json::json!({ "text": t, "language": "pl" }).to_string(),
            )
        })
        .collect();
    http_service(answers, (200, r#"{"text": ""}"#.to_string()), "stt")
}

/// A scripted HTTP service: each request gets the next `(status, body)`
/// of `answers` (status 0: no answer at all), then `rest`. Returns its URL
/// (`/path`).
pub(crate) fn http_service(answers: Vec<(u16, String)>, rest: (u16, String), path: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/{path}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut answers = answers.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            // Read the headers, then the body by Content-Length.
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let (status, body) = answers.next().unwrap_or_else(|| rest.clone());
            if status == 0 {
                // A service that never answers (it hangs).
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(10));
                    drop(stream);
                });
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A call the scripted phone placed and the server answered (ACKed).
pub(crate) struct Placed {
    pub(crate) phone: Phone,
    pub(crate) ok: Msg,
    local: String,
    uri: String,
    call_id: String,
}

impl Placed {
    /// Calls `number` on the server at `port` from `from`, offering RTP on
    /// `media`; waits for the 200 OK and ACKs it.
    pub(crate) fn dial(port: u16, number: &str, from: &str, call_id: &str, media: u16) -> Placed {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let local_port = socket.local_addr().expect("addr").port();
        let mut phone = Phone::new(socket, port, "caller");
        let uri = format!("sip:{number}@127.0.0.1:{port}");
        let local = format!("<sip:{from}@127.0.0.1:{local_port}>;tag={call_id}");
        phone.request(
            "INVITE",
            &uri,
            call_id,
            &local,
            &format!("<{uri}>"),
            "",
            Some(Phone::sdp(media)),
        );
        let ok = phone.expect("the answer", |m| m.status() == Some(200));
        phone.request("ACK", &uri, call_id, &local, &ok.header("To"), "", None);
        Placed {
            phone,
            ok,
            local,
            uri,
            call_id: call_id.to_string(),
        }
    }

    /// The caller hangs up (BYE) and sees it answered.
    pub(crate) fn hang_up(&mut self) {
        let to = self.ok.header("To");
        self.phone
            .request("BYE", &self.uri, &self.call_id, &self.local, &to, "", None);
        self.phone
            .expect("the BYE's answer", |m| m.status() == Some(200));
    }

    /// The server hangs up: its BYE is answered.
    pub(crate) fn hung_up(&mut self) {
        let bye = self
            .phone
            .expect("the server's BYE", |m| m.is_request("BYE"));
        self.phone.reply(&bye, "200 OK", None, None);
    }
}
