//! The store interface: callbacks, their life cycle, and errors.
//!
//! Life cycle: `pending` → ([`CallbackStore::claim_due`]) `placing` → `done`
//! ([`CallbackStore::finish`]) or back to `pending` / on to `failed`
//! ([`CallbackStore::retry`]); `pending` → `cancelled`
//! ([`CallbackStore::cancel`]).
//!
//! Delivery guarantee: a pending callback is claimed exactly once, even across
//! restarts, because claiming is one transaction. A callback claimed but
//! neither finished nor retried when the process died is `placing` on the next
//! start; [`CallbackStore::recover`] puts it back to pending (counting the
//! interrupted attempt), so in-flight callbacks are placed at least once.

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Serialize, Serializer};

use crate::validate::{Kind, Valid, local_named, normalize_number};

/// Where a callback is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for its due time.
    Pending,
    /// Claimed by the runtime, which is ringing an agent then the customer.
    Placing,
    /// Placed; the outcome is recorded.
    Done,
    /// Given up after the maximum number of attempts.
    Failed,
    /// Cancelled by an agent before its start.
    Cancelled,
}

impl Status {
    /// The lower-case name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Placing => "placing",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses the lower-case name written by [`Status::as_str`].
    pub fn parse(name: &str) -> Option<Status> {
        match name {
            "pending" => Some(Status::Pending),
            "placing" => Some(Status::Placing),
            "done" => Some(Status::Done),
            "failed" => Some(Status::Failed),
            "cancelled" => Some(Status::Cancelled),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    /// Words for agents: "pending", "being placed", "done", "failed", "cancelled".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Placing => "being placed",
            other => other.as_str(),
        })
    }
}

fn rfc3339<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

fn rfc3339_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.collect_str(ts),
        None => s.serialize_none(),
    }
}

/// A stored callback. Serialises to JSON with timestamps as RFC 3339 strings
/// (UTC) and `kind`/`status` in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callback {
    /// The callback's number, given by the store.
    pub id: i64,
    /// The kind of callback.
    pub kind: Kind,
    /// The normalised number to call (digits, leading `+` kept).
    pub number: String,
    /// The customer's name.
    pub name: String,
    /// When the callback is due (for a courtesy callback, when the caller
    /// joined the queue: their place).
    #[serde(serialize_with = "rfc3339")]
    pub start: Timestamp,
    /// The end of the time window, if any.
    #[serde(serialize_with = "rfc3339_opt")]
    pub end: Option<Timestamp>,
    /// The customer's IANA time zone.
    pub zone: String,
    /// The queue whose agents place the callback.
    pub queue: String,
    /// Why the customer wants to be called.
    pub reason: Option<String>,
    /// For a personal callback, the agent to call back.
    pub assignee: Option<String>,
    /// For a recall, the campaign whose classifier scheduled it (its recall
    /// windows bound every attempt).
    pub campaign: Option<String>,
    /// Who created the callback (an agent, the website, the IVR).
    pub created_by: String,
    /// When the callback was created.
    #[serde(serialize_with = "rfc3339")]
    pub created: Timestamp,
    /// Where the callback is in its life cycle.
    pub status: Status,
    /// Failed or interrupted placements so far.
    pub attempts: u32,
    /// When the next placement is due: the start, or later after a retry.
    #[serde(serialize_with = "rfc3339")]
    pub due: Timestamp,
    /// The outcome recorded by [`CallbackStore::finish`] (or the reason it failed).
    pub outcome: Option<String>,
    /// The agent who last updated or cancelled the callback.
    pub changed_by: Option<String>,
}

/// The result of [`CallbackStore::create`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    /// The new callback, or the existing one for a duplicate web or courtesy request.
    pub callback: Callback,
    /// Whether `callback` already existed (a web or courtesy request for a
    /// number with a callback already pending on the same queue).
    pub duplicate: bool,
}

/// Which callbacks [`CallbackStore::list`] returns; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Callbacks created by or assigned to this agent.
    pub agent: Option<String>,
    /// Callbacks on this queue.
    pub queue: Option<String>,
    /// Callbacks with this status.
    pub status: Option<Status>,
}

/// Why a store operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or read.
    #[error("cannot open the callback database {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is an SQLite database, but not one this version can use.
    #[error("{} is not a usable callback database: {reason}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A database operation failed.
    #[error("the callback database failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database cannot be reached.
    #[error("cannot connect to the PostgreSQL database {target}: {reason}")]
    Connect {
        /// The database, without its password.
        target: String,
        /// What the client or the server said.
        reason: String,
    },
    /// The PostgreSQL database is not one this version can use.
    #[error("the PostgreSQL database {database} is not usable: {reason}")]
    Incompatible {
        /// The database, without its password.
        database: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A PostgreSQL operation failed.
    #[error("the PostgreSQL database failed: {0}")]
    Postgres(String),
    /// A claim of this node lapsed (it did not renew it in time) and
    /// another node took the row over: the outcome is that node's.
    #[error("{what} was taken over by another node: this node's claim lapsed")]
    ClaimedElsewhere {
        /// The row: `callback 12`, `survey call 3`.
        what: String,
    },
    /// A stored row cannot be read back.
    #[error("callback {id} is unreadable in the database: {reason}")]
    Corrupt {
        /// The callback.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// Other stored data cannot be read back.
    #[error("the callback database holds unreadable data: {0}")]
    Unreadable(String),
    /// There is no store to write to (a world without one).
    #[error("there is no store: {0}")]
    Unavailable(String),
    /// No callback has this number.
    #[error("there is no callback {id}")]
    NotFound {
        /// The callback asked for.
        id: i64,
    },
    /// The number already has a callback pending on the queue.
    #[error(
        "{number} already has callback {existing} pending on queue {queue}, due {}; change or \
         cancel that one instead",
        local_named(*due, zone)
    )]
    Duplicate {
        /// The existing callback.
        existing: i64,
        /// The normalised number.
        number: String,
        /// The queue.
        queue: String,
        /// When the existing callback is due.
        due: Timestamp,
        /// The existing callback's zone, to say when it is due.
        zone: String,
    },
    /// The callback's start time has passed.
    #[error("callback {id} started at {} and can no longer be changed", local_named(*start, zone))]
    Started {
        /// The callback.
        id: i64,
        /// Its start.
        start: Timestamp,
        /// Its zone.
        zone: String,
    },
    /// The callback is no longer pending.
    #[error("callback {id} is {status} and can no longer be changed")]
    NotPending {
        /// The callback.
        id: i64,
        /// Its status.
        status: Status,
    },
    /// The callback is not being placed, so it cannot be finished or retried.
    #[error("callback {id} is {status}, not being placed")]
    NotPlacing {
        /// The callback.
        id: i64,
        /// Its status.
        status: Status,
    },
    /// No customer record has this id.
    #[error("there is no record {id}")]
    NoRecord {
        /// The record asked for.
        id: i64,
    },
    /// The record changed since it was read.
    #[error(
        "record {id} has changed since version {version} was read (it is at version {current}); \
         read it again and repeat the edit"
    )]
    Stale {
        /// The record.
        id: i64,
        /// The version the edit named.
        version: u32,
        /// Its version now.
        current: u32,
    },
    /// No webhook event has this number in the outbox.
    #[error("there is no webhook event {id} in the outbox")]
    NoEvent {
        /// The event asked for.
        id: i64,
    },
    /// An update would change the kind of the callback.
    #[error("callback {id} is a {from} callback and cannot become a {to} callback")]
    KindChange {
        /// The callback.
        id: i64,
        /// Its kind.
        from: Kind,
        /// The kind of the update.
        to: Kind,
    },
}

/// Callback storage: the narrow interface the runtime and the agent API use,
/// so that another database (Postgres) can implement it later.
pub trait CallbackStore {
    /// Stores a new callback created by `created_by` at `now`.
    ///
    /// If the number already has a callback pending (or being placed) on the
    /// same queue, a scheduled or personal request is refused with
    /// [`StoreError::Duplicate`], and a web or courtesy request returns the
    /// existing callback with [`Created::duplicate`] set.
    fn create(
        &self,
        valid: &Valid,
        created_by: &str,
        now: Timestamp,
    ) -> Result<Created, StoreError>;

    /// The callback `id`.
    fn get(&self, id: i64) -> Result<Callback, StoreError>;

    /// Replaces the details of callback `id` on behalf of `agent`: refused when
    /// it is not pending, when its start is at or before `now`, when the kind
    /// differs, or when the new number and queue duplicate another callback.
    fn update(
        &self,
        id: i64,
        valid: &Valid,
        agent: &str,
        now: Timestamp,
    ) -> Result<Callback, StoreError>;

    /// Cancels callback `id` on behalf of `agent`: refused when it is not
    /// pending or when its start is at or before `now`.
    fn cancel(&self, id: i64, agent: &str, now: Timestamp) -> Result<Callback, StoreError>;

    /// The callbacks matching `filter`, by start (then id).
    fn list(&self, filter: &Filter) -> Result<Vec<Callback>, StoreError>;

    /// In one transaction, moves up to `limit` pending callbacks due at or
    /// before `now` (earliest first) to `placing` and returns them: each
    /// pending callback is claimed once.
    fn claim_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Callback>, StoreError>;

    /// When the earliest pending callback is due, to schedule the next wake-up.
    fn next_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Records the outcome of a callback being placed and marks it `done`.
    fn finish(&self, id: i64, outcome: &str) -> Result<Callback, StoreError>;

    /// A placement failed: counts the attempt and puts the callback back to
    /// pending, due at `at`, or marks it `failed` once the maximum number of
    /// attempts is reached.
    fn retry(&self, id: i64, at: Timestamp) -> Result<Callback, StoreError>;

    /// After a crash: callbacks left `placing` go back to pending (their
    /// interrupted attempt counts, so a callback that keeps crashing the
    /// runtime ends up `failed`). Returns them as they now are. Call it once
    /// at start-up, before the first [`CallbackStore::claim_due`].
    fn recover(&self, now: Timestamp) -> Result<Vec<Callback>, StoreError>;
}

/// Who a customer last spoke to and who owns them, per campaign: for the
/// ACD's "last agent" routing and private records.
pub trait RelationshipStore {
    /// Records that `agent` handled `number` in `campaign` at `now`.
    fn set_last_agent(
        &self,
        campaign: &str,
        number: &str,
        agent: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The agent who last handled `number` in `campaign`, and when.
    fn last_agent(
        &self,
        campaign: &str,
        number: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError>;

    /// Makes `agent` the owner of `number` in `campaign` (a private record).
    fn set_owner(&self, campaign: &str, number: &str, agent: &str) -> Result<(), StoreError>;

    /// Removes the owner of `number` in `campaign`.
    fn clear_owner(&self, campaign: &str, number: &str) -> Result<(), StoreError>;

    /// The owner of `number` in `campaign`, if the record is private.
    fn owner(&self, campaign: &str, number: &str) -> Result<Option<String>, StoreError>;
}

/// The refusal of a callback that duplicates `existing`.
pub(crate) fn duplicate(existing: &Callback) -> StoreError {
    StoreError::Duplicate {
        existing: existing.id,
        number: existing.number.clone(),
        queue: existing.queue.clone(),
        due: existing.due,
        zone: existing.zone.clone(),
    }
}

/// Refuses a change to `cb` unless it is pending and has not started at `now`.
pub(crate) fn changeable(cb: &Callback, now: Timestamp) -> Result<(), StoreError> {
    if cb.status != Status::Pending {
        return Err(StoreError::NotPending {
            id: cb.id,
            status: cb.status,
        });
    }
    if cb.start <= now {
        return Err(StoreError::Started {
            id: cb.id,
            start: cb.start,
            zone: cb.zone.clone(),
        });
    }
    Ok(())
}

/// The key under which relationships are kept: the normalised number when it
/// is one, else the trimmed text.
pub(crate) fn relationship_key(number: &str) -> String {
    normalize_number(number).unwrap_or_else(|| number.trim().to_owned())
}

/// The last agent of `number` as stored (agent, time in ms): both, or none.
pub(crate) fn last_contact(
    agent: Option<String>,
    ms: Option<i64>,
    number: &str,
) -> Result<Option<(String, Timestamp)>, StoreError> {
    match (agent, ms) {
        (Some(agent), Some(ms)) => {
            let at = Timestamp::from_millisecond(ms).map_err(|e| {
                StoreError::Unreadable(format!(
                    "last contact time {ms} of {number} is not a time: {e}"
                ))
            })?;
            Ok(Some((agent, at)))
        }
        _ => Ok(None),
    }
}
