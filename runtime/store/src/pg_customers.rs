//! The customers stores on PostgreSQL (see `customers.rs` for SQLite's).

/// This module's tables (its migration in `pg.rs`).
pub(crate) const SCHEMA: &str = "";

/// Queries that fail when an existing table lacks a column this version uses.
pub(crate) const CHECKS: &[&str] = &[];
