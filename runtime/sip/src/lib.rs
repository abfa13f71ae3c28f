//! The SIP protocol core of Dialect: no sockets, no tokio, no clock.
//!
//! Like `quinn-proto`, everything here is a state machine fed with what
//! arrived and the current time, and drained for what to send:
//!
//! - [`message`]: parse and build SIP messages (a thin wrapper over rsip),
//!   and frame them on streams ([`message::TcpFramer`]);
//! - [`header`]: the header values the server reads (`Via`, name-addr,
//!   `CSeq`, SIP URIs);
//! - [`transaction`]: RFC 3261 section 17 client and server transactions
//!   with their retransmission and timeout timers;
//! - [`dialog`]: dialog state for calls we answer (UAS) and place (UAC);
//! - [`sdp`]: SDP offer/answer for G.711 audio and RFC 4733 telephone events;
//! - [`auth`]: HTTP digest authentication of agents' requests (REGISTER,
//!   and any request challenged with 407), with replay protection;
//! - [`ids`]: unpredictable branches, tags and Call-IDs (ChaCha20).
//!
//! Time is always `std::time::Instant`, passed in by the caller: the adapter
//! passes `Instant::now()`, tests pass an `Instant` they advance by hand.
//! Nothing reads a clock, so a test can play 32 seconds of retransmission
//! timers in microseconds. The one thing taken from the operating system
//! is randomness, once, when an [`ids::Ids`] or an [`auth::Digest`] is
//! made for production; tests give seeds instead.

#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
pub mod header;
pub mod ids;
pub mod info;
pub mod message;
pub mod sdp;
pub mod transaction;

pub use message::{Message, Method, ParseError, Transport, parse, serialize};
