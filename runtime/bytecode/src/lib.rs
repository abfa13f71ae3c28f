//! The Dialect bytecode artifact: the compiled flow graph ([`graph`]), its
//! deterministic encoding, verified loading and a stable text dump.

pub mod graph;

pub use graph::*;
