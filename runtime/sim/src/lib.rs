//! The Dialect simulator: runs the scenarios of `*.test.toml` files against
//! the real engine with a virtual clock (`dialect test`).
//!
//! - [`scenario`]: the file format, parsed with serde and checked field by
//!   field; [`scenario::load`] is the crate's only file-system access.
//! - [`run`]: the runner. It takes compiled programs (loaded through the
//!   artifact path, as the runtime loads them) and parsed scenarios, plays
//!   the world around the engine in virtual time and checks expectations.
//! - [`report`]: what people and CI read: one line per scenario, failure
//!   details with a diagnostic pointing into the flow, JUnit XML, coverage of
//!   the graphs' exits.

pub mod report;
pub mod run;
pub mod scenario;

pub use run::{Run, Suite, run};
pub use scenario::{Scenario, ScenarioFile};
