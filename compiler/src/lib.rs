//! The Dialect compiler.

pub mod ast;
pub mod parse;
pub mod schema;
pub mod world;

use std::path::PathBuf;

/// The result of compiling a set of flow files.
#[derive(Debug, Default)]
pub struct Compilation {
    /// Every IVR block statement seen, for throughput figures.
    pub blocks: usize,
    /// Every source byte read, for throughput figures.
    pub bytes: usize,
    /// The number of errors found.
    pub error_count: usize,
    /// The number of warnings found.
    pub warning_count: usize,
    /// One compiled program per campaign; empty when there were errors.
    pub programs: Vec<dialect_bytecode::Program>,
}

impl Compilation {
    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.error_count > 0
    }
}

/// Compiles the `.flow` files at `inputs` (files, or directories searched recursively).
pub fn compile(_world: &dyn world::World, _inputs: &[PathBuf]) -> Compilation {
    Compilation::default()
}
