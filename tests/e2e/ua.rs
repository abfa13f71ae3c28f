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
        "v=0\r\no={port} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
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
}
