//! The Dialect compiler.

pub mod ast;
pub mod parse;
pub mod schema;
