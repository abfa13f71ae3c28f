//! The end-to-end test binary (one binary for every end-to-end test, so the
//! workspace links once). Each module tests one user-facing feature through
//! the same entry points users have: the compiler's `compile`, the
//! `dialect` binary, and the files in `flows/`, `stdlib/` and `tests/`.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod acd;
mod build;
mod ci;
mod cluster;
mod customer;
mod desk;
mod diagnostics;
mod environments;
mod http;
mod interop;
mod notify;
mod ops;
mod recording;
mod records;
mod review;
mod security;
mod settings;
mod simulate;
mod sip;
mod ua;
mod webhooks;
