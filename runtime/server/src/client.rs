//! `dialect call`: a small SIP user agent that places one call, sends keys as
//! RFC 4733 telephone-events, saves what it hears to a WAV file and reports
//! the call's progress, so a newcomer can try a flow without a phone (and
//! the end-to-end tests have a caller of their own).

use dialect_media::{DtmfSender, Law, Packet, Recorder, RtpSender, prompt};
use dialect_sip::dialog::{Dialog, Dialogs, Local, Match};
use dialect_sip::ids::Ids;
use dialect_sip::message::{self, Method, Transport};
use dialect_sip::sdp::{self, Codec, LocalMedia};
use dialect_sip::transaction::{Incoming, Transactions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// What to call and what to do on the call.
#[derive(Clone, Debug)]
pub struct CallOptions {
    /// The runtime's SIP address.
    pub server: SocketAddr,
    /// The number to dial (the Request-URI's user part).
    pub number: String,
    /// The caller number to present.
    pub from: String,
    /// Keys to press, one after another.
    pub digits: String,
    /// Wait this long after the answer before the first key, and between keys.
    pub key_gap: Duration,
    /// Hang up after this long if the runtime has not.
    pub max: Duration,
    /// Where to save what the call heard.
    pub record: Option<PathBuf>,
}

/// How the call went.
#[derive(Clone, Debug, Default)]
pub struct CallReport {
    /// The final status of the INVITE.
    pub status: u16,
    /// Whether the runtime hung up (rather than us).
    pub hung_up_by_server: bool,
    /// RTP packets received.
    pub packets: u64,
    /// Seconds of audio saved.
    pub recorded: f64,
}

/// Why the call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// A socket failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The runtime did not answer in time.
    #[error("no answer from {0} (is `dialect serve` running there?)")]
    NoAnswer(SocketAddr),
    /// The call could not be built.
    #[error("{0}")]
    Build(String),
}

/// Places the call; `progress` gets one line per step.
pub async fn call(
    options: &CallOptions,
    mut progress: impl FnMut(String),
) -> Result<CallReport, CallError> {
    let sip = UdpSocket::bind("127.0.0.1:0").await?;
    let rtp = UdpSocket::bind("127.0.0.1:0").await?;
    let local = sip.local_addr()?;
    let media_port = rtp.local_addr()?.port();
    let mut ids = Ids::from_os();
    let mut tx = Transactions::new(Default::default());
    let mut dialogs = Dialogs::new();
    let uri = format!("sip:{}@{}", options.number, options.server);
    let (branch, tag, call_id) = (ids.branch(), ids.tag(), ids.call_id("127.0.0.1"));
    let contact = format!("sip:{}@{local}", options.from);
    let sent_by = local.to_string();
    let offer = sdp::offer(&LocalMedia {
        address: local.ip(),
        port: media_port,
        session_id: 1,
        version: 1,
    });
    let invite = message::invite(&uri, local, &options.from, (&branch, &tag, &call_id), offer)
        .map_err(|e| CallError::Build(e.to_string()))?;
    progress(format!("calling {} at {}", options.number, options.server));
    let started = Instant::now();
    tx.send_request(invite.clone(), options.server, Transport::Udp, started)
        .map_err(|e| CallError::Build(e.to_string()))?;

    let mut report = CallReport::default();
    let mut buf = vec![0u8; 65_536];
    let mut media_buf = vec![0u8; 2_048];
    let mut media: Option<(SocketAddr, Law, Option<u8>)> = None;
    let mut dialog_id = None;
    let mut answered_at = None;
    let mut sender: Option<RtpSender> = None;
    let mut recorder: Option<Recorder> = None;
    let mut keys: Vec<char> = options.digits.chars().collect();
    keys.reverse();
    let mut next_key_at: Option<Instant> = None;
    let mut pending_dtmf: Vec<(Instant, dialect_media::dtmf::EventPacket)> = Vec::new();
    let mut tick = tokio::time::interval(dialect_media::FRAME);
    let silence = prompt::silence(Law::Ulaw, dialect_media::FRAME);
    let mut bye_sent = false;
    loop {
        let now = Instant::now();
        if answered_at.is_none() && now.duration_since(started) > Duration::from_secs(32) {
            return Err(CallError::NoAnswer(options.server));
        }
        if answered_at.is_some_and(|t: Instant| now.duration_since(t) > options.max)
            && !bye_sent
            && let Some(id) = &dialog_id
        {
            let branch = ids.branch();
            if let Some(bye) = dialogs
                .get_mut(id)
                .and_then(|d: &mut Dialog| d.request(Method::Bye, &branch).ok())
            {
                let _ = tx.send_request(bye, options.server, Transport::Udp, now);
                progress("hanging up".into());
                bye_sent = true;
            }
        }
        while let Some(t) = tx.poll_transmit() {
            let _ = sip.send_to(&t.bytes, t.to).await;
        }
        let wake = tx
            .poll_timeout()
            .unwrap_or(now + Duration::from_millis(100));
        tokio::select! {
            received = sip.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                let Some(bytes) = buf.get(..len) else { continue };
                let Ok(msg) = message::parse(bytes) else { continue };
                match tx.handle_incoming(msg, from, Instant::now()) {
                    Incoming::Response { response, .. } => {
                        let status = response.status().unwrap_or(0);
                        let is_invite = response.cseq().is_some_and(|c| c.method.eq_ignore_ascii_case("INVITE"));
                        if !is_invite {
                            if bye_sent && (200..300).contains(&status) {
                                break;
                            }
                            continue;
                        }
                        if status < 200 {
                            progress(format!("{status} {}", response.reason().unwrap_or_default()));
                            continue;
                        }
                        report.status = status;
                        if status >= 300 {
                            progress(format!("refused: {status} {}", response.reason().unwrap_or_default()));
                            return Ok(report);
                        }
                        if dialog_id.is_none() {
                            let local_part = Local { contact: contact.clone(), sent_by: sent_by.clone(), transport: Transport::Udp };
                            if let Some(dialog) = Dialog::uac(&invite, &response, local_part) {
                                dialog_id = Some(dialog.id().clone());
                                dialogs.insert(dialog);
                            }
                            let negotiated = sdp::parse(response.body()).ok().and_then(|a| sdp::negotiated(&a));
                            if let Some(n) = negotiated {
                                let law = match n.codec { Codec::Pcmu => Law::Ulaw, Codec::Pcma => Law::Alaw };
                                if let Some(remote) = n.remote {
                                    media = Some((remote, law, n.telephone_event));
                                    sender = Some(RtpSender::from_random(ids.next_u64(), law.payload_type()));
                                    progress(format!("answered ({})", law.encoding_name()));
                                }
                                if let Some(path) = &options.record {
                                    // `dialect call --record FILE` writes FILE afresh each run.
                                    let _ = std::fs::remove_file(path);
                                    recorder = Recorder::create(path, law, options.max + Duration::from_secs(5)).ok();
                                }
                            }
                            answered_at = Some(Instant::now());
                            next_key_at = Some(Instant::now() + options.key_gap);
                        }
                        let branch = ids.branch();
                        if let Some(ack) = dialog_id.as_ref().and_then(|id| dialogs.get(id)).and_then(|d| d.ack(1, &branch).ok()) {
                            let _ = sip.send_to(&message::serialize(&ack), options.server).await;
                        }
                    }
                    Incoming::NewRequest { key, request } => {
                        let is_bye = request.method() == Some(Method::Bye);
                        let known = matches!(dialogs.match_request(&request), Match::Dialog(_));
                        let status = if known { 200 } else { 481 };
                        let _ = tx.send_response(&key, message::response_for(&request, status, if known { "OK" } else { "Call/Transaction Does Not Exist" }), Instant::now());
                        while let Some(t) = tx.poll_transmit() {
                            let _ = sip.send_to(&t.bytes, t.to).await;
                        }
                        if is_bye && known {
                            report.hung_up_by_server = true;
                            progress("hung up by the server".into());
                            break;
                        }
                    }
                    _ => {}
                }
            }
            received = rtp.recv_from(&mut media_buf) => {
                let Ok((len, _)) = received else { continue };
                let Some(bytes) = media_buf.get(..len) else { continue };
                if let Ok(packet) = Packet::parse(bytes) {
                    report.packets += 1;
                    if let Some(r) = recorder.as_mut() {
                        let _ = r.push(packet.payload);
                    }
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let (Some((remote, _law, te)), Some(rtp_sender)) = (media, sender.as_mut()) else { continue };
                if next_key_at.is_some_and(|t| now >= t) && pending_dtmf.is_empty() {
                    match (keys.pop(), te) {
                        (Some(key), Some(_)) => {
                            if let Ok(dtmf) = DtmfSender::new(key, rtp_sender.timestamp(), Duration::from_millis(120)) {
                                pending_dtmf = dtmf.map(|p| (now + p.at, p)).collect();
                                pending_dtmf.reverse();
                                progress(format!("sent key {key}"));
                            }
                            next_key_at = Some(now + options.key_gap);
                        }
                        (Some(key), None) => {
                            progress(format!("cannot send key {key}: the runtime offered no telephone-event"));
                            next_key_at = None;
                        }
                        (None, _) => next_key_at = None,
                    }
                }
                let mut out = [0u8; 64];
                let mut sent_event = false;
                while pending_dtmf.last().is_some_and(|(at, _)| *at <= now) {
                    if let (Some((_, p)), Some(pt)) = (pending_dtmf.pop(), te) {
                        if let Ok(len) = rtp_sender.write(pt, p.marker, p.timestamp, &p.payload, &mut out) {
                            let _ = rtp.send_to(out.get(..len).unwrap_or(&[]), remote).await;
                        }
                        sent_event = true;
                    }
                }
                if sent_event || !pending_dtmf.is_empty() {
                    rtp_sender.skip();
                } else if let Some(frame) = silence.get(0) {
                    let _ = rtp.send_to(rtp_sender.frame(frame), remote).await;
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {
                tx.handle_timeout(Instant::now());
            }
        }
    }
    if let Some(r) = recorder.take()
        && let Ok(recording) = r.finish()
    {
        report.recorded = recording.duration.as_secs_f64();
        progress(format!(
            "saved what the call heard to {} ({:.1} s)",
            recording.path.display(),
            report.recorded
        ));
    }
    progress(format!("{} RTP packets received", report.packets));
    Ok(report)
}
