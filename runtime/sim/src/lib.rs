//! The Dialect simulator: runs the scenarios of `*.test.toml` files against
//! the real engine and the real ACD with a virtual clock (`dialect test`).
//!
//! - [`scenario`]: the file format, parsed with serde and checked field by
//!   field; [`scenario::load`] and [`scenario::read_knowledge_base`] are the
//!   crate's only file-system access.
//! - [`run`]: the runner. It takes compiled programs (loaded through the
//!   artifact path, as the runtime loads them) and parsed scenarios, plays
//!   the world around the engine in virtual time and checks expectations.
//!   Queued calls go into the ACD core (`dialect-acd`), the same one that
//!   `dialect serve` drives (SPEC 5.1), so agents follow its rules: the
//!   longest-idle agent first, queue order by priority with ageing, RONA
//!   after the queue's ring time, wrap-up, maximum load, overflow queues,
//!   sticky agents and private records.
//!   What the declarations say about queues, agents and campaigns comes
//!   from `dialect_acd::directory`, read once per suite exactly as `dialect
//!   serve` reads it; each scenario's ACD takes the rules of the campaign
//!   that answers it. Bot turns go to the real customer agent
//!   (`dialect-bot`) as under `dialect serve`: a `Conversation` per call,
//!   the knowledge bases read once per suite, an external bot's HTTP
//!   answers scripted by the scenario, handoffs routed by a `Router` per
//!   scenario; a scenario may instead script the bot's replies.
//! - [`report`]: what people and CI read: one line per scenario, failure
//!   details with a diagnostic pointing into the flow, JUnit XML, coverage of
//!   the graphs' exits.

pub mod report;
pub mod run;
pub mod scenario;

pub use run::{Run, Suite, run};
pub use scenario::{Scenario, ScenarioFile};
