//! The webhook outbox (SPEC 5.9): events waiting to be POSTed to the URLs
//! campaigns subscribe them to, in the same embedded database as the
//! callbacks, so that a restart or a crash loses none.
//!
//! Life cycle of one row (one event for one URL): `pending` →
//! ([`OutboxStore::claim_ready`]) `sending` → `delivered`
//! ([`OutboxStore::delivered`]), back to `pending` for a retry later
//! ([`OutboxStore::failed`]), or `dead` ([`OutboxStore::dead`]: given up,
//! kept for operators). A row left `sending` by a process that died is
//! `pending` again after [`OutboxStore::recover`].
//!
//! Order: each call's events are numbered from 1 (`seq`) in the order they
//! were enqueued, and only the oldest event of a call that is neither
//! delivered nor dead can be claimed: a later event of a call is never sent
//! before an earlier one is delivered or dead. Events of different calls
//! are independent.
//!
//! Idempotency: every row has a unique key, `<call>-<seq>-<event>`, sent
//! with each attempt; a receiver that sees a key twice has seen the same
//! event twice (delivery is at least once).

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;

use crate::sqlite::SqliteStore;
use crate::store::StoreError;

/// The table of this module, created with the others.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign    TEXT    NOT NULL,
    call        TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    key         TEXT    NOT NULL UNIQUE,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_ms     INTEGER NOT NULL,
    last_error  TEXT,
    created_ms  INTEGER NOT NULL,
    head        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_call ON outbox (call, seq);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (next_ms)
    WHERE status = 'pending' AND head = 1;
";

/// Checks that an existing `outbox` table has the columns this version uses.
pub(crate) const CHECK: &str = "SELECT id, campaign, call, seq, event, url, body, key, status, \
                                attempts, next_ms, last_error, created_ms, head FROM outbox LIMIT 0";

const COLUMNS: &str = "id, campaign, call, seq, event, url, body, key, status, attempts, next_ms, \
                       last_error, created_ms";

/// `head` marks the oldest open event of each call (the only one that may
/// be claimed), so that a claim looks at the calls' heads only, however
/// long the backlog behind them: set at enqueue for a call with no open
/// event, passed on to the next open event when the head is delivered or
/// dead, repaired by `recover_outbox`.
///
/// The heads of the calls' queues: for each call, its oldest event that is
/// neither delivered nor dead (`o` is the candidate row).
const HEAD: &str = "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.call = o.call \
                    AND p.status IN ('pending', 'sending') AND p.seq < o.seq)";

/// Where an outbox row is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    /// Waiting to be sent (again) at its `next` time.
    Pending,
    /// Claimed by a worker, being POSTed.
    Sending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the last allowed attempt.
    Dead,
}

impl OutboxStatus {
    /// The lower-case name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Dead => "dead",
        }
    }

    /// Parses the lower-case name written by [`OutboxStatus::as_str`].
    pub fn parse(name: &str) -> Option<OutboxStatus> {
        match name {
            "pending" => Some(OutboxStatus::Pending),
            "sending" => Some(OutboxStatus::Sending),
            "delivered" => Some(OutboxStatus::Delivered),
            "dead" => Some(OutboxStatus::Dead),
            _ => None,
        }
    }
}

/// How an attempt at one event ended, for [`OutboxStore::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The receiver took it ([`OutboxStore::delivered`]).
    Delivered,
    /// It failed; try again at `next_at` ([`OutboxStore::failed`]).
    Failed {
        /// Why.
        error: String,
        /// When to try again.
        next_at: Timestamp,
    },
    /// It failed for the last time ([`OutboxStore::dead`]).
    Dead {
        /// Why.
        error: String,
    },
}

/// An event to enqueue for one URL.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The campaign whose `webhook` setting subscribes the URL.
    pub campaign: String,
    /// The call (or chat) the event is about: unique across restarts, as
    /// events are ordered and numbered per call.
    pub call: String,
    /// The event's name (`call_answered`, `call_ended`, ...).
    pub event: String,
    /// Where to POST it.
    pub url: String,
    /// When it happened, as the flows' clock reads.
    pub at: Timestamp,
    /// What the event says (the body's `data`).
    pub data: serde_json::Value,
}

/// One stored outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEvent {
    /// Its number in the store.
    pub id: i64,
    /// The campaign.
    pub campaign: String,
    /// The call.
    pub call: String,
    /// Its number among the call's events, from 1.
    pub seq: u32,
    /// The event's name.
    pub event: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body POSTed, exactly as sent ([`body`]).
    pub body: String,
    /// The idempotency key, unique: `<call>-<seq>-<event>`.
    pub key: String,
    /// Where it is in its life cycle.
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it may be sent (again), by the store's clock.
    #[serde(serialize_with = "rfc3339")]
    pub next: Timestamp,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was enqueued, by the store's clock.
    #[serde(serialize_with = "rfc3339")]
    pub created: Timestamp,
}

fn rfc3339<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(ts)
}

/// The JSON body of an event numbered `seq` in its call:
/// `{"event", "campaign", "call", "seq", "at", "data"}` (`at` in RFC 3339).
pub fn body(event: &NewEvent, seq: u32) -> String {
    serde_json::json!({
        "event": event.event,
        "campaign": event.campaign,
        "call": event.call,
        "seq": seq,
        "at": event.at.to_string(),
        "data": event.data,
    })
    .to_string()
}

/// The idempotency key of an event numbered `seq` in `call`.
pub fn idempotency_key(call: &str, seq: u32, event: &str) -> String {
    format!("{call}-{seq}-{event}")
}

/// The webhook outbox: the narrow interface the runtime's emitter and its
/// delivery worker use, so that another database can implement it later.
/// Times (`now`, `next_at`) are the store's scheduling clock, the real time
/// under `dialect serve`.
pub trait OutboxStore {
    /// Stores events in one transaction, numbering each within its call
    /// (after the call's events already stored, in slice order); returns
    /// their ids. They are ready to send at `now`.
    fn enqueue(&self, events: &[NewEvent], now: Timestamp) -> Result<Vec<i64>, StoreError>;

    /// In one transaction, moves to `sending` and returns up to `limit`
    /// events ready at `now`: only the oldest open event of each call, and
    /// only if it is pending (not already being sent) with its time
    /// reached. Oldest first.
    fn claim_ready(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEvent>, StoreError>;

    /// The receiver took event `id`: it is `delivered` (the attempt counts).
    fn delivered(&self, id: i64) -> Result<(), StoreError>;

    /// An attempt at event `id` failed with `error`: it counts, and the
    /// event is pending again, to be tried at `next_at`.
    fn failed(&self, id: i64, error: &str, next_at: Timestamp) -> Result<(), StoreError>;

    /// The last attempt at event `id` failed with `error`: it counts, and
    /// the event is `dead` (kept, never sent again). The call's next event
    /// becomes claimable.
    fn dead(&self, id: i64, error: &str) -> Result<(), StoreError>;

    /// Records several attempts' outcomes in one transaction (what
    /// [`OutboxStore::delivered`], [`OutboxStore::failed`] and
    /// [`OutboxStore::dead`] do one at a time). An unknown id fails the
    /// whole batch. On a database shared by nodes, an event another node
    /// took over (this node's claim lapsed) is left to that node: skipped
    /// here, and refused with [`StoreError::ClaimedElsewhere`] by the
    /// others.
    fn settle(&self, outcomes: &[(i64, Settled)]) -> Result<(), StoreError>;

    /// Events neither delivered nor dead.
    fn backlog(&self) -> Result<usize, StoreError>;

    /// The earliest time at which a call's oldest open event is pending and
    /// ready, to schedule the next wake-up; `None` when none is waiting.
    fn next_ready(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Every event with this status (all with `None`), by id.
    fn list_events(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxEvent>, StoreError>;

    /// After a crash: events left `sending` go back to pending, ready at
    /// once (their interrupted attempt is not counted: the receiver may or
    /// may not have it, and the idempotency key tells). Returns how many.
    /// Call it once at start-up, before the first claim.
    fn recover_outbox(&self) -> Result<usize, StoreError>;

    /// Deletes delivered events enqueued before `before`, except each
    /// call's last event (so that its numbering, and its keys, go on where
    /// they stopped); returns how many. Dead ones are kept for operators.
    fn prune_delivered(&self, before: Timestamp) -> Result<usize, StoreError>;
}

type RawEvent = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
);

fn event_row(row: &Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
    ))
}

fn into_event(raw: RawEvent) -> Result<OutboxEvent, StoreError> {
    let (
        id,
        campaign,
        call,
        seq,
        event,
        url,
        body,
        key,
        status,
        attempts,
        next_ms,
        last_error,
        created_ms,
    ) = raw;
    let bad = |what: String| StoreError::Unreadable(format!("webhook event {id}: {what}"));
    let time = |field: &str, ms: i64| {
        Timestamp::from_millisecond(ms).map_err(|e| bad(format!("{field} {ms} is not a time: {e}")))
    };
    Ok(OutboxEvent {
        id,
        campaign,
        call,
        seq: u32::try_from(seq).map_err(|_| bad(format!("seq {seq} out of range")))?,
        event,
        url,
        body,
        key,
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| bad(format!("unknown status '{status}'")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| bad(format!("attempts {attempts} out of range")))?,
        next: time("next time", next_ms)?,
        last_error,
        created: time("creation time", created_ms)?,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

const DELIVERED: &str =
    "UPDATE outbox SET status = 'delivered', attempts = attempts + 1 WHERE id = ?1";
const FAILED: &str = "UPDATE outbox SET status = 'pending', attempts = attempts + 1, \
                      last_error = ?2, next_ms = ?3 WHERE id = ?1";
const DEAD: &str =
    "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?2 WHERE id = ?1";

const PROMOTE: &str = "UPDATE outbox SET head = 1 WHERE id = (SELECT p.id FROM outbox p \
                       WHERE p.call = (SELECT call FROM outbox WHERE id = ?1) \
                       AND p.status IN ('pending', 'sending') ORDER BY p.seq LIMIT 1)";

/// Records one outcome; an id that matches no row is an error.
fn settle_one(conn: &Connection, id: i64, outcome: &Settled) -> Result<(), StoreError> {
    let changed = match outcome {
        Settled::Delivered => conn.prepare_cached(DELIVERED)?.execute([id])?,
        Settled::Failed { error, next_at } => {
            conn.prepare_cached(FAILED)?
                .execute(params![id, error, next_at.as_millisecond()])?
        }
        Settled::Dead { error } => conn.prepare_cached(DEAD)?.execute(params![id, error])?,
    };
    if changed == 0 {
        return Err(StoreError::NoEvent { id });
    }
    if !matches!(outcome, Settled::Failed { .. }) {
        // The call's next open event becomes its head.
        conn.prepare_cached(PROMOTE)?.execute([id])?;
    }
    Ok(())
}

impl OutboxStore for SqliteStore {
    fn enqueue(&self, events: &[NewEvent], now: Timestamp) -> Result<Vec<i64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(events.len());
        {
            let mut last = tx.prepare_cached(
                "SELECT COALESCE(MAX(seq), 0), COALESCE(SUM(status IN ('pending', 'sending')), 0) \
                 FROM outbox WHERE call = ?1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO outbox (campaign, call, seq, event, url, body, key, status, \
                 attempts, next_ms, created_ms, head) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?9)",
            )?;
            for event in events {
                let (previous, open): (i64, i64) =
                    last.query_row([&event.call], |row| Ok((row.get(0)?, row.get(1)?)))?;
                let seq = u32::try_from(previous.saturating_add(1)).map_err(|_| {
                    StoreError::Unreadable(format!(
                        "call {} has too many webhook events",
                        event.call
                    ))
                })?;
                insert.execute(params![
                    event.campaign,
                    event.call,
                    seq,
                    event.event,
                    event.url,
                    body(event, seq),
                    idempotency_key(&event.call, seq, &event.event),
                    now.as_millisecond(),
                    open == 0,
                ])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn claim_ready(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let raws = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox o WHERE o.status = 'pending' AND o.head = 1 \
                 AND o.next_ms <= ?1 AND {HEAD} ORDER BY o.next_ms, o.id LIMIT ?2"
            ))?;
            let rows =
                stmt.query_map(params![now.as_millisecond(), limit_param(limit)], event_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut claimed = Vec::with_capacity(raws.len());
        {
            let mut mark =
                tx.prepare_cached("UPDATE outbox SET status = 'sending' WHERE id = ?1")?;
            for raw in raws {
                mark.execute([raw.0])?;
                let mut event = into_event(raw)?;
                event.status = OutboxStatus::Sending;
                claimed.push(event);
            }
        }
        tx.commit()?;
        Ok(claimed)
    }

    fn delivered(&self, id: i64) -> Result<(), StoreError> {
        settle_one(&self.conn(), id, &Settled::Delivered)
    }

    fn failed(&self, id: i64, error: &str, next_at: Timestamp) -> Result<(), StoreError> {
        let outcome = Settled::Failed {
            error: error.to_string(),
            next_at,
        };
        settle_one(&self.conn(), id, &outcome)
    }

    fn dead(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let outcome = Settled::Dead {
            error: error.to_string(),
        };
        settle_one(&self.conn(), id, &outcome)
    }

    fn settle(&self, outcomes: &[(i64, Settled)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, outcome) in outcomes {
            settle_one(&tx, *id, outcome)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn backlog(&self) -> Result<usize, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
            [],
            |row| row.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn next_ready(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = self
            .conn()
            .query_row(
                &format!(
                    "SELECT MIN(o.next_ms) FROM outbox o WHERE o.status = 'pending' AND o.head = 1 \
                     AND {HEAD}"
                ),
                [],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        next.map(|ms| {
            Timestamp::from_millisecond(ms).map_err(|e| {
                StoreError::Unreadable(format!("webhook time {ms} is not a time: {e}"))
            })
        })
        .transpose()
    }

    fn list_events(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE ?1 IS NULL OR status = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([status.map(OutboxStatus::as_str)], event_row)?;
        rows.map(|r| into_event(r?)).collect()
    }

    fn recover_outbox(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE outbox SET status = 'pending' WHERE status = 'sending'",
            [],
        )?;
        // Every call's oldest open event is its head (whatever happened to
        // the file meanwhile).
        tx.execute(
            &format!(
                "UPDATE outbox AS o SET head = ({HEAD}) WHERE o.status = 'pending' \
                 AND o.head <> ({HEAD})"
            ),
            [],
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn prune_delivered(&self, before: Timestamp) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM outbox WHERE status = 'delivered' AND created_ms < ?1 \
             AND seq < (SELECT MAX(p.seq) FROM outbox p WHERE p.call = outbox.call)",
            [before.as_millisecond()],
        )?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_body_carries_the_envelope_and_the_data() {
        let event = NewEvent {
            campaign: "helpline".into(),
            call: "call-7@run1".into(),
            event: "call_ended".into(),
            url: "https://hooks.example.com/x".into(),
            at: "2026-11-23T09:00:00Z".parse().unwrap(),
            data: serde_json::json!({"reason": "caller hung up", "duration_ms": 1200}),
        };
        let body: serde_json::Value = serde_json::from_str(&body(&event, 3)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "event": "call_ended",
                "campaign": "helpline",
                "call": "call-7@run1",
                "seq": 3,
                "at": "2026-11-23T09:00:00Z",
                "data": {"reason": "caller hung up", "duration_ms": 1200},
            })
        );
        assert_eq!(
            idempotency_key(&event.call, 3, &event.event),
            "call-7@run1-3-call_ended"
        );
    }
}
