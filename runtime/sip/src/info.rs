//! Keys sent in SIP INFO (the way many trunks and desk phones send DTMF
//! instead of RFC 4733 events): `application/dtmf-relay` (`Signal=5`,
//! `Duration=160`, one per line, the Cisco form) and `application/dtmf`
//! (the key alone).

/// What an INFO within a call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    /// A key: `0`-`9`, `*`, `#`, `A`-`D`.
    Key(char),
    /// Nothing (a keep-alive, or an INFO package we do not read but that
    /// is harmless to accept: an empty body).
    Empty,
    /// A body of a type we do not read (answer 415).
    Unsupported,
    /// A DTMF body without a key we know (answer 400).
    Malformed,
}

/// The content types [`read`] understands, for `Accept`.
pub const ACCEPT: &str = "application/dtmf-relay, application/dtmf";

/// Reads an INFO's body by its `Content-Type`.
pub fn read(content_type: Option<&str>, body: &[u8]) -> Info {
    let kind = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let Ok(text) = std::str::from_utf8(body) else {
        return Info::Malformed;
    };
    if text.trim().is_empty() {
        return Info::Empty;
    }
    match kind.as_deref() {
        Some("application/dtmf-relay") => text
            .lines()
            .filter_map(|line| line.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("signal"))
            .and_then(|(_, value)| key(value.trim()))
            .map_or(Info::Malformed, Info::Key),
        Some("application/dtmf") => key(text.trim()).map_or(Info::Malformed, Info::Key),
        _ => Info::Unsupported,
    }
}

/// A key as senders write it: the character, or the event number (RFC
/// 4733: 10 is `*`, 11 `#`, 12-15 `A`-`D`).
fn key(value: &str) -> Option<char> {
    match value {
        "10" => return Some('*'),
        "11" => return Some('#'),
        "12" => return Some('A'),
        "13" => return Some('B'),
        "14" => return Some('C'),
        "15" => return Some('D'),
        _ => {}
    }
    let mut chars = value.chars();
    let c = chars.next()?.to_ascii_uppercase();
    (chars.next().is_none() && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')))
        .then_some(c)
}

#[cfg(test)]
mod tests {
    use super::{Info, read};

    #[test]
    fn keys_are_read_from_dtmf_relay_and_dtmf_bodies() {
        let relay = Some("application/dtmf-relay");
        assert_eq!(read(relay, b"Signal=5\r\nDuration=160\r\n"), Info::Key('5'));
        assert_eq!(read(relay, b"Duration=160\nsignal= #\n"), Info::Key('#'));
        assert_eq!(read(relay, b"Signal=10\r\n"), Info::Key('*'));
        assert_eq!(read(relay, b"Signal=d\r\n"), Info::Key('D'));
        assert_eq!(read(Some("application/dtmf"), b"7"), Info::Key('7'));
        assert_eq!(
            read(Some("Application/DTMF; x=y"), b" 11 \r\n"),
            Info::Key('#')
        );
    }

    #[test]
    fn anything_else_is_told_apart() {
        let relay = Some("application/dtmf-relay");
        assert_eq!(read(relay, b""), Info::Empty);
        assert_eq!(read(None, b"\r\n"), Info::Empty);
        assert_eq!(read(relay, b"Signal=E\r\n"), Info::Malformed);
        assert_eq!(read(relay, b"Signal=55\r\n"), Info::Malformed);
        assert_eq!(read(relay, b"Duration=160\r\n"), Info::Malformed);
        assert_eq!(read(relay, &[0xff, 0xfe]), Info::Malformed);
        assert_eq!(read(Some("application/dtmf"), b"x"), Info::Malformed);
        assert_eq!(
            read(Some("application/media_control+xml"), b"<x/>"),
            Info::Unsupported
        );
        assert_eq!(read(None, b"Signal=5"), Info::Unsupported);
    }
}
