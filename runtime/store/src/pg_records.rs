//! The records stores on PostgreSQL (see `records.rs` for SQLite's).

/// This module's tables (its migration in `pg.rs`).
pub(crate) const SCHEMA: &str = "";

/// Queries that fail when an existing table lacks a column this version uses.
pub(crate) const CHECKS: &[&str] = &[];
