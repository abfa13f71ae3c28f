//! Branches, tags, Call-IDs and other random tokens.
//!
//! RFC 3261 asks for Call-IDs, tags and branches that are unique and hard to
//! guess (8.1.1.4, 8.1.1.7, 19.3): whoever can predict the next branch can
//! answer our requests without seeing them, and whoever knows a dialog's
//! tags can end or confirm it. [`Ids`] is therefore a cryptographically
//! secure generator (ChaCha20): seeing any number of its values tells
//! nothing about the next ones. In production it takes its seed from the
//! operating system ([`Ids::from_os`]); tests use a fixed seed
//! ([`Ids::seeded`]) to be reproducible.
//!
//! The core reads no clock; [`Ids::from_os`] is the one place besides
//! [`crate::auth::Digest::new`] where it asks the operating system for
//! anything (its randomness, once).

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A generator of protocol identifiers and secret tokens (ChaCha20).
pub struct Ids {
    rng: ChaCha20Rng,
}

impl Ids {
    /// A generator seeded with 32 bytes from the operating system's CSPRNG:
    /// the one to use in production.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give (a startup
    /// failure: without it no identifier is safe).
    pub fn from_os() -> Ids {
        Ids {
            rng: ChaCha20Rng::from_seed(os_seed()),
        }
    }

    /// A reproducible generator for tests: the same seed gives the same
    /// values. A 64-bit seed can be searched, so never use this in
    /// production; use [`Ids::from_os`].
    pub fn seeded(seed: u64) -> Ids {
        Ids {
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// A generator seeded with a 32-byte secret the caller drew.
    pub(crate) fn from_key(key: [u8; 32]) -> Ids {
        Ids {
            rng: ChaCha20Rng::from_seed(key),
        }
    }

    /// A `Via` branch with the RFC 3261 magic cookie: `z9hG4bK` and 24 hex
    /// digits (96 random bits).
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token(12))
    }

    /// A `From`/`To` tag: 24 hex digits (96 random bits).
    pub fn tag(&mut self) -> String {
        self.token(12)
    }

    /// A Call-ID: 32 hex digits (128 random bits) at `host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{}@{}", self.token(16), host)
    }

    /// `bytes` random bytes as `2 * bytes` lowercase hex digits, for other
    /// secrets (16 bytes or more for anything that must not be guessed).
    pub fn token(&mut self, bytes: usize) -> String {
        let mut raw = vec![0u8; bytes];
        self.rng.fill_bytes(&mut raw);
        hex(&raw)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// Shows no state: the generator's state is its secret.
impl fmt::Debug for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ids { .. }")
    }
}

/// 32 bytes from the operating system's CSPRNG.
///
/// # Panics
///
/// When the operating system has none to give.
pub(crate) fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut seed).expect("the operating system's random number generator failed");
    seed
}

/// Lowercase hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a `String` cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}
