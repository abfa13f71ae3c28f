//! Which database `dialect serve` keeps its state in (`[runtime]
//! database`): the embedded SQLite file (the default, `dialect.sqlite` in
//! the data directory), or a PostgreSQL database shared by several nodes
//! (`postgres://…`, issue 21). Each part that writes on its own (the
//! controller, the call records' writer, the webhook worker) opens its
//! own handle: a connection of its own either way.

use std::path::PathBuf;

use dialect_store::{
    CallbackStore, CustomerStore, OutboxStore, PgStore, RecordStore, RelationshipStore,
    SqliteStore, StoreError, SurveyStore, TicketStore,
};

/// The store: callbacks, relationships, customer records, call records,
/// surveys, tickets and the webhook outbox, whichever database holds them.
pub trait Store:
    CallbackStore
    + CustomerStore
    + RecordStore
    + RelationshipStore
    + SurveyStore
    + TicketStore
    + OutboxStore
    + Send
    + Sync
{
    /// The part the switch reads and writes.
    fn as_switch(&self) -> &dyn dialect_switch::Store;
}

impl<T> Store for T
where
    T: CallbackStore
        + CustomerStore
        + RecordStore
        + RelationshipStore
        + SurveyStore
        + TicketStore
        + OutboxStore
        + Send
        + Sync,
{
    fn as_switch(&self) -> &dyn dialect_switch::Store {
        self
    }
}

/// How often a node on a shared database claims due callbacks and survey
/// calls whatever it knows of them: another node may have stored them, or
/// died holding them (their claims lapse after `dialect_store`'s lease).
pub const SHARED_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database: its `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl Database {
    /// `[runtime] database` read: a `postgres://` or `postgresql://` URL is
    /// PostgreSQL, anything else a file path; unset, `dialect.sqlite` in
    /// the data directory.
    pub fn of(config: &crate::config::Config) -> Database {
        match &config.runtime.database {
            Some(value) => {
                let text = value.to_string_lossy();
                if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                    Database::Postgres(text.into_owned())
                } else {
                    Database::File(value.clone())
                }
            }
            None => Database::File(config.runtime.data.join("dialect.sqlite")),
        }
    }

    /// Whether several nodes may share it (PostgreSQL).
    pub fn shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// Opens a handle on it (creating the file or bringing the schema up
    /// to date as needed).
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Database::File(path) => Box::new(SqliteStore::open(path)?),
            Database::Postgres(url) => Box::new(PgStore::connect(url)?),
        })
    }
}

impl std::fmt::Display for Database {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::File(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&dialect_store::redacted(url)),
        }
    }
}
