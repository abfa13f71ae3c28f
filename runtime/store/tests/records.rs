//! The records stores (surveys, call records, conversations, tickets) on an
//! in-memory SQLite database.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

type Store = dialect_store::SqliteStore;

fn store() -> Store {
    Store::in_memory().unwrap()
}

include!("cases/records.rs");
