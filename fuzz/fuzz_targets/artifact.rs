//! The artifact loader on arbitrary bytes: `load` must refuse what it cannot
//! trust with an error, never panic or allocate without bound, and what it
//! accepts must verify, dump, and survive a re-encoding: `encode` of the
//! loaded program loads again to the same program, and encoding that once
//! more gives the same bytes (so the same content hash).
//!
//! The header carries a SHA-256 of the payload, which a random mutation
//! never keeps right, so on its own the fuzzer would never get past the hash
//! check to the decoder and `verify`. Hence two kinds of input:
//!
//! - an input that starts with [`PAYLOAD`] (`P`) is a bare payload: the
//!   target writes a valid header in front of the rest (the layout of
//!   `runtime/bytecode/src/encode.rs`: magic, format version, compiler
//!   version, payload length, SHA-256 of the payload), so every mutation
//!   reaches postcard decoding and `verify`;
//! - any other input goes to `load` as it is: the magic, version, length,
//!   label and hash checks.
#![no_main]

use std::borrow::Cow;

use dialect_bytecode::{FORMAT_VERSION, Loaded, MAGIC, content_hash, dump, encode, load, verify};
use libfuzzer_sys::fuzz_target;

/// The first byte of an input that is a payload without its header. A real
/// artifact starts with `D` (the magic), so the two kinds never overlap.
const PAYLOAD: u8 = b'P';

/// The compiler version label written into the headers made here.
const LABEL: &[u8] = b"fuzz";

fuzz_target!(|data: &[u8]| {
    let artifact = match data.split_first() {
        Some((&PAYLOAD, payload)) => Cow::Owned(with_header(payload)),
        _ => Cow::Borrowed(data),
    };
    if let Ok(loaded) = load(&artifact) {
        check(&loaded);
    }
});

/// A whole artifact around `payload`, with its length and hash right.
fn with_header(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + 2 + 2 + LABEL.len() + 8 + 32 + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(LABEL.len() as u16).to_le_bytes());
    bytes.extend_from_slice(LABEL);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&content_hash(payload).0);
    bytes.extend_from_slice(payload);
    bytes
}

/// What must hold for every artifact that loads.
fn check(loaded: &Loaded) {
    assert!(verify(&loaded.program).is_ok(), "a loaded program verifies");
    let _ = dump(&loaded.header, &loaded.program);

    let bytes = encode(&loaded.program);
    let again = load(&bytes).expect("a loaded program, encoded again, loads");
    assert_eq!(again.program, loaded.program, "re-encoding changed the program");
    assert_eq!(
        encode(&again.program),
        bytes,
        "encoding is not deterministic"
    );

    // The header written by `with_header` is the one `encode` writes, label
    // aside: without this check a mistake there would silently send every
    // payload input to the hash check instead of the decoder.
    let payload_len = usize::try_from(again.header.payload_len).expect("a payload in memory");
    let payload = &bytes[bytes.len() - payload_len..];
    let rebuilt = load(&with_header(payload)).expect("a payload input loads like `encode`'s");
    assert_eq!(rebuilt.header.hash, again.header.hash, "same payload, same hash");
    assert_eq!(rebuilt.program, loaded.program);
}
