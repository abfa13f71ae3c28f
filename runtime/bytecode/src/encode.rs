//! The artifact's byte layout and its writer.
//!
//! An artifact is a small fixed header followed by the [`Program`] encoded
//! with postcard:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic [`MAGIC`] (`DIALECT\0`) |
//! | 2 | format version, u16 little-endian ([`FORMAT_VERSION`]) |
//! | 2 + n | compiler version: u16 little-endian length, then n bytes of ASCII |
//! | 8 | payload length, u64 little-endian |
//! | 32 | SHA-256 of the payload |
//! | len | payload: `postcard::to_stdvec(program)` |
//!
//! The hash covers the payload only, so it names the program itself: two
//! compiler releases that produce the same graph produce the same hash, which
//! is what a deployment wants to compare. The compiler version is a label for
//! operators and is not covered by the hash.

use crate::graph::Program;
use sha2::{Digest, Sha256};
use std::fmt;

/// The first eight bytes of every artifact, so that a wrong file (a flow
/// source, an audio prompt, a truncated upload) is recognised before anything
/// else is read.
pub const MAGIC: [u8; 8] = *b"DIALECT\0";

/// The version of the byte layout and of the graph encoding. It changes
/// whenever an older runtime could no longer read what a newer compiler writes,
/// so that a runtime refuses such an artifact instead of misreading it.
/// Version 2: programs carry their assets ([`crate::Asset`]).
pub const FORMAT_VERSION: u16 = 2;

/// The version of the compiler that writes artifacts, recorded in each header
/// so that an operator can tell which build produced a deployed file.
pub fn compiler_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Encodes a program as an artifact.
///
/// The result depends only on `program` and the compiler version: every
/// collection in the graph is ordered and no field is a float, so encoding the
/// same program twice gives the same bytes, and builds can be compared by hash.
///
/// # Panics
///
/// Never in practice: postcard fails only for sequences of unknown length or
/// for a custom `Serialize` that reports an error, and the graph types have
/// neither.
pub fn encode(program: &Program) -> Vec<u8> {
    let payload = postcard::to_stdvec(program)
        .expect("the graph types derive Serialize and contain only sized collections");
    let header = Header {
        format_version: FORMAT_VERSION,
        compiler_version: compiler_version().to_owned(),
        payload_len: payload.len() as u64,
        hash: content_hash(&payload),
    };
    let mut bytes = header.to_bytes();
    bytes.extend_from_slice(&payload);
    bytes
}

/// Hashes an encoded program (the payload of an artifact, not the whole
/// file), giving the identity that artifacts declare in their header.
pub fn content_hash(payload: &[u8]) -> ContentHash {
    ContentHash(Sha256::digest(payload).into())
}

/// The SHA-256 of an artifact's payload: the identity of a compiled program,
/// shown to operators and compared between deployments.
///
/// It displays as `sha256:` followed by 64 lower-case hex digits, the form
/// used in logs, dumps and error messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash as 64 lower-case hex digits, without the `sha256:` prefix,
    /// for file names and APIs that want the bare digest.
    pub fn hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The fixed part of an artifact in front of the payload, as read by
/// [`load`](crate::load()), so that callers can log and compare artifacts
/// without re-hashing them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The layout version the artifact was written with.
    pub format_version: u16,
    /// The version of the compiler that wrote it, for operators.
    pub compiler_version: String,
    /// The length of the payload in bytes.
    pub payload_len: u64,
    /// The SHA-256 of the payload, as declared in the file.
    pub hash: ContentHash,
}

impl Header {
    /// The program's identity, the same value [`content_hash`] computes from
    /// the payload.
    pub fn content_hash(&self) -> ContentHash {
        self.hash
    }

    /// The program's identity as 64 lower-case hex digits, for file names and
    /// deployment records.
    pub fn hash_hex(&self) -> String {
        self.hash.hex()
    }

    /// Writes the header bytes, in the layout described in this module.
    fn to_bytes(&self) -> Vec<u8> {
        let version = self.compiler_version.as_bytes();
        // A version string longer than a u16 can count is cut rather than
        // refused: it is a label, and Cargo versions are a few bytes long.
        let version_len = u16::try_from(version.len()).unwrap_or(u16::MAX);
        let version = version.get(..usize::from(version_len)).unwrap_or_default();
        let mut bytes = Vec::with_capacity(HEADER_FIXED_LEN + version.len());
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&self.format_version.to_le_bytes());
        bytes.extend_from_slice(&version_len.to_le_bytes());
        bytes.extend_from_slice(version);
        bytes.extend_from_slice(&self.payload_len.to_le_bytes());
        bytes.extend_from_slice(&self.hash.0);
        bytes
    }
}

/// The header's length without the compiler version text: magic, format
/// version, version length, payload length and hash.
const HEADER_FIXED_LEN: usize = 8 + 2 + 2 + 8 + 32;
