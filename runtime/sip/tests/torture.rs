//! RFC 4475 torture messages (`tests/torture/*.dat`, the RFC's own bytes)
//! and a fuzz property: nothing from the network panics the parser.
//!
//! Every fixture is listed below with what RFC 4475 says and what we do.
//! Where the two differ, the wire outcome is still the one the RFC asks
//! of a UAS:
//!
//! - `intmeth` (valid, 3.1.1.2) and `esc02` (valid, 3.1.1.5) use methods
//!   rsip cannot represent (its `Method` is a closed enum), so `parse`
//!   refuses them with `UnknownMethod`, which answers 501 Not Implemented —
//!   exactly what an endpoint answers an unknown method (the RFC says so for
//!   `esc02`).
//! - `unkscm` and `novelsc` (3.3.2, 3.3.3: valid syntax, unknown
//!   Request-URI schemes) are refused with `UriScheme`, answered 416, the
//!   response the RFC expects.
//! - `insuf`, `multi01` and `mcl01` (3.3.1, 3.3.8, 3.3.9: valid syntax, but
//!   missing or repeated single-valued headers) are refused by the parser,
//!   answered 400 as the RFC expects.
//! - `baddate` (invalid, 3.1.2.11: a non-GMT Date) is accepted: we never
//!   read Date, and the RFC allows ignoring it ("an element wishing to be
//!   liberal ... could ignore this value altogether").
//! - `unksm2`, `regescrt`, `bext01`, `invut`, `regaut01`, `sdp01`, `zeromf`,
//!   `bcast`, `badbranch` and `inv2543` are syntactically valid; the parser
//!   accepts them and the layers above answer them (registrar 400 for a
//!   non-SIP AOR, 420 for unknown Require, 415 for an unknown body, 401
//!   for an unknown auth scheme, stray responses dropped, RFC 2543
//!   transaction matching without a magic cookie).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use dialect_sip::message::{self, ParseError, TcpFramer};
use dialect_sip::{auth, header, sdp};
use proptest::prelude::*;

/// What we do with a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    /// `parse` accepts it.
    Parse,
    /// `parse` refuses it; a request is answered with this status.
    Refuse(u16),
}

/// How RFC 4475 classifies a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rfc {
    /// 3.1.1: well formed, parsers must accept.
    Valid,
    /// 3.1.2: malformed.
    Invalid,
    /// 3.2–3.4: valid syntax, handled by the transaction or application layer.
    Semantic,
}

use Ours::*;
use Rfc::*;

const CASES: &[(&str, Rfc, Ours)] = &[
    // 3.1.1 valid messages.
    ("wsinv", Valid, Parse),
    ("intmeth", Valid, Refuse(501)),
    ("esc01", Valid, Parse),
    ("escnull", Valid, Parse),
    ("esc02", Valid, Refuse(501)),
    ("lwsdisp", Valid, Parse),
    ("longreq", Valid, Parse),
    ("dblreq", Valid, Parse),
    ("semiuri", Valid, Parse),
    ("transports", Valid, Parse),
    ("mpart01", Valid, Parse),
    ("unreason", Valid, Parse),
    ("noreason", Valid, Parse),
    // 3.1.2 invalid messages.
    ("badinv01", Invalid, Refuse(400)),
    ("clerr", Invalid, Refuse(400)),
    ("ncl", Invalid, Refuse(400)),
    ("scalar02", Invalid, Refuse(400)),
    ("scalarlg", Invalid, Refuse(400)),
    ("quotbal", Invalid, Refuse(400)),
    ("ltgtruri", Invalid, Refuse(400)),
    ("lwsruri", Invalid, Refuse(400)),
    ("lwsstart", Invalid, Refuse(400)),
    ("trws", Invalid, Refuse(400)),
    ("escruri", Invalid, Refuse(400)),
    ("baddate", Invalid, Parse),
    ("regbadct", Invalid, Refuse(400)),
    ("badaspec", Invalid, Refuse(400)),
    ("baddn", Invalid, Refuse(400)),
    ("badvers", Invalid, Refuse(505)),
    ("mismatch01", Invalid, Refuse(400)),
    ("mismatch02", Invalid, Refuse(501)),
    ("bigcode", Invalid, Refuse(400)),
    // 3.2 transaction layer, 3.3 application layer, 3.4 backward compatibility.
    ("badbranch", Semantic, Parse),
    ("insuf", Semantic, Refuse(400)),
    ("unkscm", Semantic, Refuse(416)),
    ("novelsc", Semantic, Refuse(416)),
    ("unksm2", Semantic, Parse),
    ("bext01", Semantic, Parse),
    ("invut", Semantic, Parse),
    ("regaut01", Semantic, Parse),
    ("multi01", Semantic, Refuse(400)),
    ("mcl01", Semantic, Refuse(400)),
    ("bcast", Semantic, Parse),
    ("zeromf", Semantic, Parse),
    ("cparam01", Semantic, Parse),
    ("cparam02", Semantic, Parse),
    ("regescrt", Semantic, Parse),
    ("sdp01", Semantic, Parse),
    ("inv2543", Semantic, Parse),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(format!("{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_fixtures() -> Vec<Vec<u8>> {
    CASES.iter().map(|(name, _, _)| fixture(name)).collect()
}

#[test]
fn every_fixture_is_classified() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(names, listed);
}

#[test]
fn torture_messages() {
    let mut table = String::new();
    for &(name, rfc, ours) in CASES {
        let bytes = fixture(name);
        let got = match message::parse(&bytes) {
            Ok(m) => {
                round_trip(name, &m);
                Parse
            }
            Err(e) => {
                check_refusal(name, &bytes, &e);
                Refuse(e.status().0)
            }
        };
        table.push_str(&format!("{name:<12} {rfc:<8?} {got:?}\n"));
        assert_eq!(got, ours, "{name}");
    }
    println!("{table}");
}

#[test]
fn torture_details() {
    let wsinv = message::parse(&fixture("wsinv")).unwrap();
    assert_eq!(wsinv.max_forwards(), Some(68));
    assert_eq!(wsinv.cseq().unwrap().seq, 9);
    assert_eq!(wsinv.to_tag().as_deref(), Some("1918181833n"));
    assert_eq!(wsinv.from_tag().as_deref(), Some("98asjd8"));
    assert_eq!(
        wsinv.from().unwrap().display.as_deref(),
        Some("J Rosenberg \\\"")
    );
    let vias = wsinv.vias();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(wsinv.header("Subject"), Some(""));
    assert_eq!(wsinv.body().len(), 150);
    assert_eq!(
        wsinv.contact().unwrap().display.as_deref(),
        Some("Quoted string \"\"")
    );

    let semiuri = message::parse(&fixture("semiuri")).unwrap();
    assert_eq!(
        semiuri.request_uri_user().as_deref(),
        Some("user;par=u@example.net")
    );
    let esc01 = message::parse(&fixture("esc01")).unwrap();
    assert_eq!(
        esc01.request_uri_user().as_deref(),
        Some("sips:user@example.com")
    );
    let escnull = message::parse(&fixture("escnull")).unwrap();
    assert_eq!(escnull.name_addrs("Contact").len(), 2);
    // dblreq: the INVITE after the REGISTER's empty body is noise.
    let dblreq = message::parse(&fixture("dblreq")).unwrap();
    assert_eq!(dblreq.method(), Some(message::Method::Register));
    assert!(dblreq.body().is_empty());
    let mpart = message::parse(&fixture("mpart01")).unwrap();
    assert!(mpart.body().contains(&0));
    let unreason = message::parse(&fixture("unreason")).unwrap();
    assert!(unreason.reason().unwrap().starts_with("= 2**3 * 5**2 "));
    assert_eq!(
        message::parse(&fixture("noreason"))
            .unwrap()
            .reason()
            .as_deref(),
        Some("")
    );
}

/// A parsed message survives serialize → parse with what the server reads.
fn round_trip(name: &str, m: &message::Message) {
    let again = message::parse(&message::serialize(m)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(again.method(), m.method(), "{name}");
    assert_eq!(again.status(), m.status(), "{name}");
    assert_eq!(again.request_uri(), m.request_uri(), "{name}");
    assert_eq!(again.call_id(), m.call_id(), "{name}");
    assert_eq!(again.cseq(), m.cseq(), "{name}");
    assert_eq!(again.vias(), m.vias(), "{name}");
    assert_eq!(again.from(), m.from(), "{name}");
    assert_eq!(again.to(), m.to(), "{name}");
    assert_eq!(again.body(), m.body(), "{name}");
}

/// A refused request can be answered with the status its error names.
fn check_refusal(name: &str, bytes: &[u8], e: &ParseError) {
    if bytes.starts_with(b"SIP/") {
        assert!(
            message::error_response(bytes, e).is_none(),
            "{name}: responses are never answered"
        );
        return;
    }
    let answer = message::error_response(bytes, e).unwrap_or_else(|| panic!("{name}: no answer"));
    let (status, reason) = e.status();
    assert!(
        answer.starts_with(format!("SIP/2.0 {status} {reason}\r\n").as_bytes()),
        "{name}"
    );
    // The request's own lines are echoed, so the answer parses whenever
    // they do (not for badinv01, whose Via is the fault).
    if let Ok(parsed) = message::parse(&answer) {
        assert_eq!(parsed.status(), Some(status), "{name}");
    }
}

/// Runs everything that reads bytes from the network over `bytes`; the
/// property is that none of it panics.
fn exercise(bytes: &[u8]) {
    match message::parse(bytes) {
        Ok(m) => {
            let _ = (
                m.method(),
                m.status(),
                m.reason(),
                m.request_uri(),
                m.request_uri_user(),
            );
            let _ = (
                m.call_id(),
                m.from_tag(),
                m.to_tag(),
                m.cseq(),
                m.top_via(),
                m.vias(),
            );
            let _ = (
                m.contact_uri(),
                m.content_type(),
                m.max_forwards(),
                m.name_addrs("Route"),
            );
            let again = message::parse(&message::serialize(&m));
            assert!(again.is_ok(), "serialize(parse(x)) must parse: {again:?}");
            let _ = sdp::parse(m.body()).map(|s| sdp::answer(&s, &local_media()));
            let _ = m.header("Authorization").map(auth::Credentials::parse);
        }
        Err(e) => {
            let _ = message::error_response(bytes, &e);
        }
    }
    let mut framer = TcpFramer::new();
    for chunk in bytes.chunks(97) {
        if framer.push(chunk).is_err() {
            break;
        }
        while let Ok(Some(_)) = framer.poll_message() {}
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = header::Via::parse_list(&text);
    let _ = header::NameAddr::parse_list(&text);
    let _ = header::SipUri::parse(&text);
    let _ = auth::Credentials::parse(&text);
    let _ = sdp::parse(bytes).map(|s| sdp::answer(&s, &local_media()));
}

fn local_media() -> sdp::LocalMedia {
    sdp::LocalMedia {
        address: "198.51.100.1".parse().unwrap(),
        port: 40000,
        session_id: 1,
        version: 1,
    }
}

/// One edit of a message.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to SIP's grammar, so mutations reach deep paths.
    let special = prop::sample::select(b"\r\n\t :;,<>\"\\/=@?%[]0123456789zZ".to_vec());
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop::collection::vec(special, 1..6))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..200).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if let Some(x) = bytes.get_mut(i % len) {
                    *x ^= b | 1;
                }
            }
            Mutation::Insert(i, b) => {
                let at = (i % len).min(bytes.len());
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Duplicate(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 5000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_messages_never_panic(
        index in 0..CASES.len(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let fixtures = all_fixtures();
        let bytes = mutate(fixtures[index].clone(), &mutations);
        exercise(&bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        exercise(&bytes);
    }

    #[test]
    fn sip_shaped_noise_never_panics(
        start in prop::sample::select(vec!["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "ACK sip:x SIP/2.0", "BYE sips:[::1] SIP/2.0"]),
        lines in prop::collection::vec("[A-Za-z:;,<>\"\\\\ \t=@.%0-9/-]{0,40}", 0..12),
    ) {
        let mut text = format!("{start}\r\n");
        for l in &lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        exercise(text.as_bytes());
    }

    #[test]
    fn digest_credentials_never_panic(
        scheme in prop::sample::select(vec!["Digest ", "digest", "DIGEST  ", "Basic ", "Dig", ""]),
        params in prop::collection::vec(
            (
                prop::sample::select(vec!["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "algorithm", "opaque", "x", ""]),
                "[ -~\t]{0,24}|\\PC{0,8}",
                any::<bool>(),
            ),
            0..12,
        ),
        tail in "[ ,=\"\\\\]{0,4}",
    ) {
        let mut value = scheme.to_owned();
        for (name, v, quote) in &params {
            if *quote {
                value.push_str(&format!("{name}=\"{v}\", "));
            } else {
                value.push_str(&format!("{name}={v}, "));
            }
        }
        value.push_str(&tail);
        let now = std::time::Instant::now();
        let mut digest = auth::Digest::with_key("dialect", [3; 32], now);
        let _ = digest.challenge(now, false);
        if let Some(creds) = auth::Credentials::parse(&value) {
            let _ = digest.verify(&creds, "REGISTER", "s3cret", now);
            let _ = auth::expected_response(&creds, "INVITE", "s3cret");
        }
    }

    #[test]
    fn any_authorization_value_never_panics(value in "\\PC{0,300}") {
        let _ = auth::Credentials::parse(&value);
        let _ = auth::Credentials::parse(&format!("Digest {value}"));
    }
}
