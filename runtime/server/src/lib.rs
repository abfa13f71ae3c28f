//! The Dialect runtime: the SIP/RTP adapter that drives the engine with real
//! calls (`dialect serve`).

pub mod admin;
pub mod api;
pub mod cdr;
pub mod client;
pub mod clock;
pub(crate) mod cluster;
pub mod config;
pub mod controller;
pub mod conversation;
pub mod database;
pub mod eventlog;
pub mod guard;
pub mod leg;
pub mod mixer;
pub mod notify;
pub mod rtp_ports;
pub mod services;
pub mod tls;
pub mod voice;
pub mod webhook_delivery;
pub mod webphone;

pub use controller::harness;
pub use controller::{Loader, Options, ServeError, Server, webhook_subscriptions};
