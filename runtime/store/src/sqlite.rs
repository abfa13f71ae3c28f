//! The embedded SQLite implementation of the stores.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::store::{
    Callback, CallbackStore, Created, Filter, RelationshipStore, Status, StoreError, changeable,
    duplicate, last_contact, relationship_key,
};
use crate::validate::{Kind, Valid};

/// Placements made before a callback is marked `failed`, unless set with
/// [`SqliteStore::with_max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The schema version written in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 6;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS callbacks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER,
    zone        TEXT    NOT NULL,
    queue       TEXT    NOT NULL,
    reason      TEXT,
    assignee    TEXT,
    created_by  TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_ms      INTEGER NOT NULL,
    outcome     TEXT,
    changed_by  TEXT,
    campaign    TEXT
);
CREATE TABLE IF NOT EXISTS relationships (
    campaign    TEXT NOT NULL,
    number      TEXT NOT NULL,
    last_agent  TEXT,
    last_ms     INTEGER,
    owner       TEXT,
    PRIMARY KEY (campaign, number)
);
";

/// Indexes, created once the tables are known to have the right columns.
const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS callbacks_open
    ON callbacks (number, queue) WHERE status IN ('pending', 'placing');
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (status, due_ms);
CREATE INDEX IF NOT EXISTS callbacks_start ON callbacks (start_ms);
";

const COLUMNS: &str = "id, kind, number, name, start_ms, end_ms, zone, queue, reason, assignee, \
                       created_by, created_ms, status, attempts, due_ms, outcome, changed_by, campaign";

/// Callbacks and relationships in one SQLite file (or in memory).
///
/// Files use `journal_mode=WAL` and `synchronous=FULL`: once an operation has
/// returned, its change survives a kill or a power cut. The connection is
/// behind a mutex, so the store can be shared between threads. Times are
/// kept to the millisecond.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    max_attempts: u32,
}

impl SqliteStore {
    /// Opens (creating it and its schema if missing) the database at `path`.
    /// A file that cannot be opened, is not an SQLite database, or has an
    /// incompatible schema gives an error naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        // Reading the journal mode is the first access to the file: it fails
        // here for a file that is not a database.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        SqliteStore::init(conn, Some(path))
    }

    /// A fresh store in memory, for tests.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        SqliteStore::init(conn, None)
    }

    /// Sets how many placements are made before a callback is marked
    /// `failed` (at least 1; [`DEFAULT_MAX_ATTEMPTS`] by default).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> SqliteStore {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// How many placements are made before a callback is marked `failed`.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    fn init(mut conn: Connection, path: Option<&Path>) -> Result<SqliteStore, StoreError> {
        let path_buf = path.map_or_else(|| PathBuf::from(":memory:"), Path::to_path_buf);
        let open_err = |source| StoreError::Open {
            path: path_buf.clone(),
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Schema {
                path: path_buf.clone(),
                reason: format!(
                    "it was written by a newer version (schema {version}, this version knows \
                     {SCHEMA_VERSION})"
                ),
            });
        }
        tx.execute_batch(SCHEMA).map_err(open_err)?;
        // Schema 5 added the campaign of a recall to callbacks.
        if (1..5).contains(&version)
            && tx
                .prepare("SELECT campaign FROM callbacks LIMIT 0")
                .is_err()
        {
            tx.execute_batch("ALTER TABLE callbacks ADD COLUMN campaign TEXT")
                .map_err(open_err)?;
        }
        tx.execute_batch(crate::records::SCHEMA).map_err(open_err)?;
        tx.execute_batch(crate::outbox::SCHEMA).map_err(open_err)?;
        tx.execute_batch(crate::customers::SCHEMA)
            .map_err(open_err)?;
        // A foreign table lacks columns: say so now rather than on the
        // first operation.
        for check in [
            format!("SELECT {COLUMNS} FROM callbacks LIMIT 0"),
            "SELECT campaign, number, last_agent, last_ms, owner FROM relationships LIMIT 0"
                .to_owned(),
            crate::outbox::CHECK.to_owned(),
        ] {
            if let Err(e) = tx.prepare(&check) {
                return Err(StoreError::Schema {
                    path: path_buf.clone(),
                    reason: e.to_string(),
                });
            }
        }
        tx.execute_batch(INDEXES).map_err(open_err)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction (rusqlite
        // rolls back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A row as stored, before its values are checked.
struct Raw {
    id: i64,
    kind: String,
    number: String,
    name: String,
    start_ms: i64,
    end_ms: Option<i64>,
    zone: String,
    queue: String,
    reason: Option<String>,
    assignee: Option<String>,
    created_by: String,
    created_ms: i64,
    status: String,
    attempts: i64,
    due_ms: i64,
    outcome: Option<String>,
    changed_by: Option<String>,
    campaign: Option<String>,
}

impl Raw {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Raw> {
        Ok(Raw {
            id: row.get(0)?,
            kind: row.get(1)?,
            number: row.get(2)?,
            name: row.get(3)?,
            start_ms: row.get(4)?,
            end_ms: row.get(5)?,
            zone: row.get(6)?,
            queue: row.get(7)?,
            reason: row.get(8)?,
            assignee: row.get(9)?,
            created_by: row.get(10)?,
            created_ms: row.get(11)?,
            status: row.get(12)?,
            attempts: row.get(13)?,
            due_ms: row.get(14)?,
            outcome: row.get(15)?,
            changed_by: row.get(16)?,
            campaign: row.get(17)?,
        })
    }

    fn into_callback(self) -> Result<Callback, StoreError> {
        let id = self.id;
        let corrupt = |reason: String| StoreError::Corrupt { id, reason };
        let time = |field: &str, ms: i64| {
            Timestamp::from_millisecond(ms)
                .map_err(|e| corrupt(format!("{field} {ms} is not a time: {e}")))
        };
        Ok(Callback {
            id,
            kind: Kind::parse(&self.kind)
                .ok_or_else(|| corrupt(format!("unknown kind '{}'", self.kind)))?,
            number: self.number,
            name: self.name,
            start: time("start", self.start_ms)?,
            end: self.end_ms.map(|ms| time("end", ms)).transpose()?,
            zone: self.zone,
            queue: self.queue,
            reason: self.reason,
            assignee: self.assignee,
            campaign: self.campaign,
            created_by: self.created_by,
            created: time("creation time", self.created_ms)?,
            status: Status::parse(&self.status)
                .ok_or_else(|| corrupt(format!("unknown status '{}'", self.status)))?,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt(format!("attempts {} out of range", self.attempts)))?,
            due: time("due time", self.due_ms)?,
            outcome: self.outcome,
            changed_by: self.changed_by,
        })
    }
}

fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

fn fetch(conn: &Connection, id: i64) -> Result<Callback, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM callbacks WHERE id = ?1"),
        [id],
        Raw::from_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound { id })?
    .into_callback()
}

/// The callback pending or being placed for `number` on `queue`, other than `except`.
fn open_for(
    conn: &Connection,
    number: &str,
    queue: &str,
    except: i64,
) -> Result<Option<Callback>, StoreError> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM callbacks WHERE number = ?1 AND queue = ?2 \
             AND status IN ('pending', 'placing') AND id <> ?3 ORDER BY id LIMIT 1"
        ),
        params![number, queue, except],
        Raw::from_row,
    )
    .optional()?
    .map(Raw::into_callback)
    .transpose()
}

impl CallbackStore for SqliteStore {
    fn create(
        &self,
        valid: &Valid,
        created_by: &str,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(existing) = open_for(&tx, valid.number(), valid.queue(), -1)? {
            return match valid.kind() {
                Kind::Web | Kind::Courtesy => Ok(Created {
                    callback: existing,
                    duplicate: true,
                }),
                Kind::Scheduled | Kind::Personal | Kind::Recall => Err(duplicate(&existing)),
            };
        }
        tx.execute(
            "INSERT INTO callbacks (kind, number, name, start_ms, end_ms, zone, queue, reason, \
             assignee, created_by, created_ms, status, attempts, due_ms, campaign) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending', 0, ?4, ?12)",
            params![
                valid.kind().as_str(),
                valid.number(),
                valid.name(),
                ms(valid.start()),
                valid.end().map(ms),
                valid.zone(),
                valid.queue(),
                valid.reason(),
                valid.assignee(),
                created_by,
                ms(now),
                valid.campaign(),
            ],
        )?;
        let callback = fetch(&tx, tx.last_insert_rowid())?;
        tx.commit()?;
        Ok(Created {
            callback,
            duplicate: false,
        })
    }

    fn get(&self, id: i64) -> Result<Callback, StoreError> {
        fetch(&self.conn(), id)
    }

    fn update(
        &self,
        id: i64,
        valid: &Valid,
        agent: &str,
        now: Timestamp,
    ) -> Result<Callback, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = fetch(&tx, id)?;
        changeable(&current, now)?;
        if current.kind != valid.kind() {
            return Err(StoreError::KindChange {
                id,
                from: current.kind,
                to: valid.kind(),
            });
        }
        if let Some(existing) = open_for(&tx, valid.number(), valid.queue(), id)? {
            return Err(duplicate(&existing));
        }
        tx.execute(
            "UPDATE callbacks SET number = ?2, name = ?3, start_ms = ?4, end_ms = ?5, zone = ?6, \
             queue = ?7, reason = ?8, assignee = ?9, due_ms = ?4, changed_by = ?10 WHERE id = ?1",
            params![
                id,
                valid.number(),
                valid.name(),
                ms(valid.start()),
                valid.end().map(ms),
                valid.zone(),
                valid.queue(),
                valid.reason(),
                valid.assignee(),
                agent,
            ],
        )?;
        let callback = fetch(&tx, id)?;
        tx.commit()?;
        Ok(callback)
    }

    fn cancel(&self, id: i64, agent: &str, now: Timestamp) -> Result<Callback, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = fetch(&tx, id)?;
        changeable(&current, now)?;
        tx.execute(
            "UPDATE callbacks SET status = 'cancelled', changed_by = ?2 WHERE id = ?1",
            params![id, agent],
        )?;
        let callback = fetch(&tx, id)?;
        tx.commit()?;
        Ok(callback)
    }

    fn list(&self, filter: &Filter) -> Result<Vec<Callback>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM callbacks \
             WHERE (?1 IS NULL OR created_by = ?1 OR assignee = ?1) \
             AND (?2 IS NULL OR queue = ?2) AND (?3 IS NULL OR status = ?3) \
             ORDER BY start_ms, id"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.agent.as_deref(),
                filter.queue.as_deref(),
                filter.status.map(Status::as_str),
            ],
            Raw::from_row,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.into_callback()?);
        }
        Ok(out)
    }

    fn claim_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Callback>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT id FROM callbacks WHERE status = 'pending' AND due_ms <= ?1 \
                 ORDER BY due_ms, id LIMIT ?2",
            )?;
            let rows = stmt.query_map(
                params![ms(now), i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| row.get(0),
            )?;
            rows.collect::<Result<_, _>>()?
        };
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            tx.execute(
                "UPDATE callbacks SET status = 'placing' WHERE id = ?1 AND status = 'pending'",
                [id],
            )?;
            claimed.push(fetch(&tx, id)?);
        }
        tx.commit()?;
        Ok(claimed)
    }

    fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let conn = self.conn();
        let next: Option<i64> = conn.query_row(
            "SELECT MIN(due_ms) FROM callbacks WHERE status = 'pending'",
            [],
            |row| row.get(0),
        )?;
        next.map(|ms| {
            Timestamp::from_millisecond(ms)
                .map_err(|e| StoreError::Unreadable(format!("due time {ms} is not a time: {e}")))
        })
        .transpose()
    }

    fn finish(&self, id: i64, outcome: &str) -> Result<Callback, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = fetch(&tx, id)?;
        if current.status != Status::Placing {
            return Err(StoreError::NotPlacing {
                id,
                status: current.status,
            });
        }
        tx.execute(
            "UPDATE callbacks SET status = 'done', outcome = ?2 WHERE id = ?1",
            params![id, outcome],
        )?;
        let callback = fetch(&tx, id)?;
        tx.commit()?;
        Ok(callback)
    }

    fn retry(&self, id: i64, at: Timestamp) -> Result<Callback, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = fetch(&tx, id)?;
        if current.status != Status::Placing {
            return Err(StoreError::NotPlacing {
                id,
                status: current.status,
            });
        }
        let attempts = current.attempts.saturating_add(1);
        if attempts >= self.max_attempts {
            tx.execute(
                "UPDATE callbacks SET status = 'failed', attempts = ?2, \
                 outcome = 'gave up after ' || ?2 || ' attempts' WHERE id = ?1",
                params![id, attempts],
            )?;
        } else {
            tx.execute(
                "UPDATE callbacks SET status = 'pending', attempts = ?2, due_ms = ?3 WHERE id = ?1",
                params![id, attempts, ms(at)],
            )?;
        }
        let callback = fetch(&tx, id)?;
        tx.commit()?;
        Ok(callback)
    }

    fn recover(&self, _now: Timestamp) -> Result<Vec<Callback>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE callbacks SET attempts = attempts + 1 WHERE status = 'placing'",
            [],
        )?;
        let ids: Vec<i64> = {
            let mut stmt = tx
                .prepare("SELECT id FROM callbacks WHERE status = 'placing' ORDER BY due_ms, id")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "UPDATE callbacks SET status = 'failed', \
             outcome = 'interrupted; gave up after ' || attempts || ' attempts' \
             WHERE status = 'placing' AND attempts >= ?1",
            [self.max_attempts],
        )?;
        tx.execute(
            "UPDATE callbacks SET status = 'pending' WHERE status = 'placing'",
            [],
        )?;
        let mut recovered = Vec::with_capacity(ids.len());
        for id in ids {
            recovered.push(fetch(&tx, id)?);
        }
        tx.commit()?;
        Ok(recovered)
    }
}

impl RelationshipStore for SqliteStore {
    fn set_last_agent(
        &self,
        campaign: &str,
        number: &str,
        agent: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO relationships (campaign, number, last_agent, last_ms) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (campaign, number) DO UPDATE SET last_agent = ?3, last_ms = ?4",
            params![campaign, relationship_key(number), agent, ms(now)],
        )?;
        Ok(())
    }

    fn last_agent(
        &self,
        campaign: &str,
        number: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> = self
            .conn()
            .query_row(
                "SELECT last_agent, last_ms FROM relationships WHERE campaign = ?1 AND number = ?2",
                params![campaign, relationship_key(number)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        match row {
            Some((agent, ms)) => last_contact(agent, ms, number),
            None => Ok(None),
        }
    }

    fn set_owner(&self, campaign: &str, number: &str, agent: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO relationships (campaign, number, owner) VALUES (?1, ?2, ?3) \
             ON CONFLICT (campaign, number) DO UPDATE SET owner = ?3",
            params![campaign, relationship_key(number), agent],
        )?;
        Ok(())
    }

    fn clear_owner(&self, campaign: &str, number: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE relationships SET owner = NULL WHERE campaign = ?1 AND number = ?2",
            params![campaign, relationship_key(number)],
        )?;
        Ok(())
    }

    fn owner(&self, campaign: &str, number: &str) -> Result<Option<String>, StoreError> {
        let owner: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT owner FROM relationships WHERE campaign = ?1 AND number = ?2",
                params![campaign, relationship_key(number)],
                |row| row.get(0),
            )
            .optional()?;
        Ok(owner.flatten())
    }
}
