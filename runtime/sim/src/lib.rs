//! The Dialect simulator: runs the scenarios of `*.test.toml` files against
//! the call layer of `dialect serve` (`dialect-switch`: the engine, the ACD,
//! queue waiting, customer agents) with a virtual clock (`dialect test`).
//!
//! - [`scenario`]: the file format, parsed with serde and converted field
//!   by field (`scenario/convert.rs`); [`scenario::load`] and
//!   [`scenario::read_knowledge_base`] are the crate's only file-system
//!   access.
//! - [`suite`]: the campaigns compiled, encoded into artifacts, loaded back
//!   and prepared by `dialect_switch::Version::prepare`, as `dialect serve`
//!   prepares them.
//! - [`run`]: the scripted world around one `Switch` per scenario: inputs
//!   in virtual time, the switch's actions answered from the scenario and
//!   traced.
//! - `expect`: the scenario's expectations, checked against what was seen.
//! - [`report`]: what people and CI read: one line per scenario, failure
//!   details with a diagnostic pointing into the flow, JUnit XML, coverage of
//!   the graphs' exits.

mod expect;
pub mod report;
pub mod run;
pub mod scenario;
pub mod suite;

pub use run::{Run, Suite, run};
pub use scenario::{Scenario, ScenarioFile};
