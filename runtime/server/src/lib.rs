//! The Dialect runtime: the SIP/RTP adapter that drives the engine with real
//! calls (`dialect serve`).

pub mod admin;
pub mod api;
pub mod caller;
pub mod clock;
pub mod config;
pub mod eventlog;
pub mod guard;
pub mod leg;
pub mod mixer;
pub mod server;
pub mod services;
pub mod tls;
pub mod webhooks;

pub use server::{Loader, Options, ServeError, Server};
