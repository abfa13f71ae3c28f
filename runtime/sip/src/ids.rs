//! Branches, tags and Call-IDs.
//!
//! The core reads no clock and no randomness: [`Ids`] is a seeded generator
//! (SplitMix64), so tests are reproducible and the adapter seeds it from the
//! operating system's randomness once at start. Values only need to be unique
//! and hard to guess across restarts (RFC 3261 8.1.1.4, 8.1.1.7, 19.3), which
//! a random 64-bit seed and a 64-bit state give.

/// A seeded generator of protocol identifiers.
#[derive(Debug, Clone)]
pub struct Ids {
    state: u64,
}

impl Ids {
    /// A generator; give it a random seed in production.
    pub fn new(seed: u64) -> Ids {
        Ids { state: seed }
    }

    /// A `Via` branch with the RFC 3261 magic cookie: `z9hG4bK` and 16 hex digits.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.next_u64())
    }

    /// A `From`/`To` tag: 16 hex digits.
    pub fn tag(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// A Call-ID: 32 hex digits at `host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{:016x}{:016x}@{}", self.next_u64(), self.next_u64(), host)
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
