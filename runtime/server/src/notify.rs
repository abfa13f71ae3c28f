//! E-mail and SMS notifications (issue 18): voicemail e-mails with the
//! message attached, classifiers' `email` and `sms` actions. The controller
//! enqueues them in the webhook outbox under `mailto:ADDRESS` and
//! `sms:NUMBER` destinations ([`mail_url`], [`sms_url`]); the delivery
//! worker sends them here, so they share its durability (a row written
//! before the call goes on, retried with backoff, dead-lettered, sent again
//! after a kill -9) while each notification is its own stream, so a mail
//! server that is down holds up no call's webhooks.
//!
//! An outbox row's body is the webhook envelope; its `data` is
//! `{"subject", "text", "attachment"}` for an e-mail (the attachment a
//! path, read when sending) and `{"text"}` for an SMS.

use crate::config::{ConfigError, Notify, SmsGateway, Smtp};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use std::path::Path;

/// The largest attachment sent (a voicemail of 10 minutes at 8 kHz is
/// under 10 MB).
const MAX_ATTACHMENT: u64 = 25 * 1024 * 1024;

/// The outbox destination of an e-mail to `address`.
pub fn mail_url(address: &str) -> String {
    format!("mailto:{address}")
}

/// The outbox destination of an SMS to `number`.
pub fn sms_url(number: &str) -> String {
    format!("sms:{number}")
}

/// Sends what the outbox holds for `mailto:` and `sms:` destinations.
#[derive(Clone)]
pub struct Notifier {
    mail: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    sms: Option<SmsGateway>,
}

impl Notifier {
    /// From the configuration's `[notify]`; a bad sender address or
    /// security word is refused here, at start-up.
    pub fn new(config: &Notify) -> Result<Notifier, ConfigError> {
        let mail = match &config.smtp {
            Some(smtp) => Some(transport(smtp)?),
            None => None,
        };
        Ok(Notifier {
            mail,
            sms: config.sms.clone(),
        })
    }

    /// Whether e-mails can be sent (else they are only logged).
    pub fn mails(&self) -> bool {
        self.mail.is_some()
    }

    /// Whether SMS can be sent.
    pub fn texts(&self) -> bool {
        self.sms.is_some()
    }

    /// Sends one outbox row to `url` (`mailto:` or `sms:`): `Ok` with a
    /// status for the outbox (200 for an accepted e-mail, the gateway's
    /// for an SMS), or why it failed.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: &str,
    ) -> Result<u16, String> {
        let envelope: Value =
            serde_json::from_str(body).map_err(|e| format!("the stored event is not JSON: {e}"))?;
        let data = envelope.get("data").cloned().unwrap_or_default();
        let text = field(&data, "text");
        if let Some(address) = url.strip_prefix("mailto:") {
            let Some((transport, from)) = &self.mail else {
                return Err("no SMTP server is configured ([notify.smtp])".into());
            };
            // Reading the attachment is file I/O: off the runtime's threads.
            let (from, address) = (from.clone(), address.to_string());
            let message = tokio::task::spawn_blocking(move || message(&from, &address, &data))
                .await
                .map_err(|e| format!("the e-mail could not be built: {e}"))??;
            // lettre answers Ok only for a positive completion (250):
            // delivered, recorded as 200 like a webhook's 2xx.
            return transport
                .send(message)
                .await
                .map(|_| 200)
                .map_err(|e| format!("the SMTP server refused the e-mail: {e}"));
        }
        if let Some(number) = url.strip_prefix("sms:") {
            let Some(gateway) = &self.sms else {
                return Err("no SMS gateway is configured ([notify.sms])".into());
            };
            let mut request = client
                .post(&gateway.url)
                .json(&serde_json::json!({ "to": number, "text": text }));
            if let Some(token) = &gateway.token {
                request = request.bearer_auth(token);
            }
            return match request.send().await {
                Ok(response) => Ok(response.status().as_u16()),
                Err(error) => Err(format!("the SMS gateway cannot be reached: {error}")),
            };
        }
        Err(format!("`{url}` is not a notification destination"))
    }
}

/// A text field of a notification's data ("" when absent).
fn field<'v>(data: &'v Value, name: &str) -> &'v str {
    data.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn transport(smtp: &Smtp) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), ConfigError> {
    let invalid = |what: String| ConfigError::Invalid(format!("notify.smtp: {what}"));
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| invalid(format!("`from` ({}) is not an address: {e}", smtp.from)))?;
    let builder = match smtp.security.as_str() {
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| invalid(format!("`host`: {e}")))?,
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| invalid(format!("`host`: {e}")))?,
        "none" => {
            // Plain text only to a relay on this host: never a password
            // over the network in the clear.
            let local = smtp.host == "localhost"
                || smtp
                    .host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !local {
                return Err(invalid(format!(
                    "`security = \"none\"` sends in the clear: only to a relay on this host \
                     (localhost, 127.0.0.1, ::1), not to `{}`; use `starttls` or `tls`",
                    smtp.host
                )));
            }
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        }
        other => {
            return Err(invalid(format!(
                "`security` is `starttls`, `tls` or `none`, not `{other}`"
            )));
        }
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let Some(ca) = &smtp.ca {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let pem = std::fs::read(ca)
            .map_err(|e| invalid(format!("`ca` ({}) cannot be read: {e}", ca.display())))?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| {
            invalid(format!(
                "`ca` ({}) is not a PEM certificate: {e}",
                ca.display()
            ))
        })?;
        let parameters = TlsParameters::builder(smtp.host.clone())
            .add_root_certificate(certificate)
            .build_rustls()
            .map_err(|e| invalid(format!("`ca`: {e}")))?;
        builder = match smtp.security.as_str() {
            "starttls" => builder.tls(Tls::Required(parameters)),
            "tls" => builder.tls(Tls::Wrapper(parameters)),
            _ => {
                return Err(invalid(
                    "`ca` goes with `security = \"starttls\"` or `\"tls\"`".into(),
                ));
            }
        };
    }
    match (&smtp.username, &smtp.password) {
        (Some(user), Some(password)) => {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        (None, None) => {}
        _ => {
            return Err(invalid(
                "give both `username` and `password`, or neither".into(),
            ));
        }
    }
    Ok((builder.build(), from))
}

/// The e-mail of an outbox row's `data`: subject, text, and the file at
/// `attachment`, if any (read now: it must still be there).
fn message(from: &Mailbox, to: &str, data: &Value) -> Result<Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("`{to}` is not an e-mail address: {e}"))?;
    let subject = match field(data, "subject") {
        "" => "Dialect",
        subject => subject,
    };
    let text = field(data, "text").to_string();
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject);
    let built = match data.get("attachment").and_then(Value::as_str) {
        Some(path) => {
            let path = Path::new(path);
            let size = std::fs::metadata(path)
                .map_err(|e| format!("the attachment {} cannot be read: {e}", path.display()))?
                .len();
            if size > MAX_ATTACHMENT {
                return Err(format!(
                    "the attachment {} is {size} bytes, more than {MAX_ATTACHMENT}",
                    path.display()
                ));
            }
            let bytes = std::fs::read(path)
                .map_err(|e| format!("the attachment {} cannot be read: {e}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "message.wav".into());
            let kind = ContentType::parse("audio/wav").map_err(|e| e.to_string())?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text))
                    .singlepart(Attachment::new(name).body(bytes, kind)),
            )
        }
        None => builder.body(text),
    };
    built.map_err(|e| format!("the e-mail cannot be built: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn smtp(security: &str) -> Smtp {
        Smtp {
            host: "127.0.0.1".into(),
            port: 2525,
            from: "Dialect <dialect@example.com>".into(),
            security: security.into(),
            username: None,
            password: None,
            ca: None,
        }
    }

    #[test]
    fn the_configuration_is_checked_at_start_up() {
        let ok = Notify {
            smtp: Some(smtp("none")),
            sms: None,
        };
        assert!(Notifier::new(&ok).unwrap().mails());
        let bad = Notify {
            smtp: Some(smtp("ssl")),
            sms: None,
        };
        let error = Notifier::new(&bad).err().unwrap().to_string();
        assert!(error.contains("`starttls`, `tls` or `none`"), "{error}");
        let mut half = smtp("none");
        half.username = Some("dialect".into());
        let error = Notifier::new(&Notify {
            smtp: Some(half),
            sms: None,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("both `username` and `password`"), "{error}");
        let mut remote = smtp("none");
        remote.host = "smtp.example.com".into();
        let error = Notifier::new(&Notify {
            smtp: Some(remote),
            sms: None,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("only to a relay on this host"), "{error}");
        let mut from = smtp("none");
        from.from = "not an address".into();
        assert!(
            Notifier::new(&Notify {
                smtp: Some(from),
                sms: None
            })
            .is_err()
        );
    }

    #[test]
    fn a_message_carries_its_attachment_and_refuses_a_bad_address() {
        let from: Mailbox = "dialect@example.com".parse().unwrap();
        let dir = std::env::temp_dir().join(format!("dialect-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("message.wav");
        std::fs::write(&wav, b"RIFF....WAVE").unwrap();
        let data = serde_json::json!({
            "subject": "Voicemail",
            "text": "A message",
            "attachment": wav.display().to_string(),
        });
        let message = message(&from, "office@example.com", &data).unwrap();
        let text = String::from_utf8_lossy(&message.formatted()).into_owned();
        assert!(text.contains("Subject: Voicemail"), "{text}");
        assert!(text.contains("filename=\"message.wav\""), "{text}");
        assert!(super::message(&from, "not an address", &data).is_err());
        std::fs::remove_file(&wav).unwrap();
        let error = super::message(&from, "office@example.com", &data).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("cannot be read"), "{error}");
    }
}
