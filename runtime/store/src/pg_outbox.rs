//! The webhook outbox on PostgreSQL: the same life cycle, order and keys
//! as the SQLite outbox (`outbox.rs`), for nodes sharing one database.
//! Claims take the calls' heads with `FOR UPDATE SKIP LOCKED`, so nodes
//! claiming at once each get other events, and a call's events are
//! numbered under a lock on the call.

use jiff::Timestamp;
use postgres::{Row, Transaction};

use crate::outbox::{
    NewEvent, OutboxEvent, OutboxStatus, OutboxStore, Settled, body, idempotency_key,
};
use crate::pg::{DB_NOW, PgStore, pg};
use crate::store::StoreError;

/// The outbox's table (migration 2).
pub(crate) const SCHEMA: &str = "
CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    campaign    TEXT    NOT NULL,
    call        TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    event       TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    key         TEXT    NOT NULL UNIQUE,
    status      TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL DEFAULT 0,
    next_ms     BIGINT  NOT NULL,
    last_error  TEXT,
    created_ms  BIGINT  NOT NULL,
    head        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_call ON outbox (call, seq);
CREATE INDEX outbox_ready ON outbox (next_ms) WHERE status = 'pending' AND head = 1;
";

const COLUMNS: &str = "id, campaign, call, seq, event, url, body, key, status, attempts, next_ms, \
                       last_error, created_ms";

/// For each call, its oldest event that is neither delivered nor dead (`o`
/// is the candidate row); see `outbox.rs`.
const HEAD: &str = "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.call = o.call \
                    AND p.status IN ('pending', 'sending') AND p.seq < o.seq)";

fn event(row: &Row) -> Result<OutboxEvent, StoreError> {
    let id: i64 = row.try_get(0).map_err(pg)?;
    let bad = |what: String| StoreError::Unreadable(format!("webhook event {id}: {what}"));
    let text = |n: usize| row.try_get::<_, String>(n).map_err(|e| bad(e.to_string()));
    let int = |n: usize| row.try_get::<_, i64>(n).map_err(|e| bad(e.to_string()));
    let time = |field: &str, ms: i64| {
        Timestamp::from_millisecond(ms).map_err(|e| bad(format!("{field} {ms} is not a time: {e}")))
    };
    let seq = int(3)?;
    let status = text(8)?;
    let attempts = int(9)?;
    Ok(OutboxEvent {
        id,
        campaign: text(1)?,
        call: text(2)?,
        seq: u32::try_from(seq).map_err(|_| bad(format!("seq {seq} out of range")))?,
        event: text(4)?,
        url: text(5)?,
        body: text(6)?,
        key: text(7)?,
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| bad(format!("unknown status '{status}'")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| bad(format!("attempts {attempts} out of range")))?,
        next: time("next time", int(10)?)?,
        last_error: row
            .try_get::<_, Option<String>>(11)
            .map_err(|e| bad(e.to_string()))?,
        created: time("creation time", int(12)?)?,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Events being sent whose claim lapsed (and `node`'s own, when given) are
/// pending again, ready at once, the interrupted attempt not counted (the
/// receiver may or may not have it: the idempotency key tells); returns
/// how many.
fn take_over(tx: &mut Transaction<'_>, node: Option<&str>) -> Result<usize, StoreError> {
    let n = tx
        .execute(
            &format!(
                "UPDATE outbox SET status = 'pending', claimed_by = NULL, lease_ms = NULL \
                 WHERE status = 'sending' \
                 AND (lease_ms IS NULL OR lease_ms < {DB_NOW} OR claimed_by = $1)"
            ),
            &[&node],
        )
        .map_err(pg)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Records one outcome; an id that matches no row is an error.
/// Settles event `id` as `node`: an event another node has claimed since
/// (this node's claim lapsed and it was taken over) is that node's to
/// settle, and is left alone (`StoreError::ClaimedElsewhere`).
fn settle_one(
    tx: &mut Transaction<'_>,
    node: &str,
    id: i64,
    outcome: &Settled,
) -> Result<(), StoreError> {
    const MINE: &str = "(claimed_by IS NULL OR claimed_by = $2)";
    let changed = match outcome {
        Settled::Delivered => tx.execute(
            &format!(
                "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, \
                 claimed_by = NULL, lease_ms = NULL WHERE id = $1 AND {MINE}"
            ),
            &[&id, &node],
        ),
        Settled::Failed { error, next_at } => tx.execute(
            &format!(
                "UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = $3, \
                 next_ms = $4, claimed_by = NULL, lease_ms = NULL WHERE id = $1 AND {MINE}"
            ),
            &[&id, &node, error, &next_at.as_millisecond()],
        ),
        Settled::Dead { error } => tx.execute(
            &format!(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = $3, \
                 claimed_by = NULL, lease_ms = NULL WHERE id = $1 AND {MINE}"
            ),
            &[&id, &node, error],
        ),
    }
    .map_err(pg)?;
    if changed == 0 {
        let exists = tx
            .query_opt("SELECT 1 FROM outbox WHERE id = $1", &[&id])
            .map_err(pg)?
            .is_some();
        return Err(if exists {
            StoreError::ClaimedElsewhere {
                what: format!("webhook event {id}"),
            }
        } else {
            StoreError::NoEvent { id }
        });
    }
    if !matches!(outcome, Settled::Failed { .. }) {
        // The call's next open event becomes its head.
        tx.execute(
            "UPDATE outbox SET head = 1 WHERE id = (SELECT p.id FROM outbox p \
             WHERE p.call = (SELECT call FROM outbox WHERE id = $1) \
             AND p.status IN ('pending', 'sending') ORDER BY p.seq LIMIT 1)",
            &[&id],
        )
        .map_err(pg)?;
    }
    Ok(())
}

impl OutboxStore for PgStore {
    fn enqueue(&self, events: &[NewEvent], now: Timestamp) -> Result<Vec<i64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let events = events.to_vec();
        self.transaction(move |tx| {
            let lock = tx
                .prepare("SELECT pg_advisory_xact_lock(hashtext($1))")
                .map_err(pg)?;
            let last = tx
                .prepare(
                    "SELECT COALESCE(MAX(seq), 0)::BIGINT, \
                     COUNT(*) FILTER (WHERE status IN ('pending', 'sending')) \
                     FROM outbox WHERE call = $1",
                )
                .map_err(pg)?;
            let insert = tx
                .prepare(
                    "INSERT INTO outbox (campaign, call, seq, event, url, body, key, status, \
                     attempts, next_ms, created_ms, head) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $9) \
                     RETURNING id",
                )
                .map_err(pg)?;
            // Each call's last number and open events, read once per call
            // under a lock on it (one numbering, whichever node enqueues).
            let mut calls: std::collections::HashMap<&str, (i64, i64)> =
                std::collections::HashMap::new();
            let mut ids = Vec::with_capacity(events.len());
            for event in &events {
                let (previous, open) = match calls.get_mut(event.call.as_str()) {
                    Some(known) => known,
                    None => {
                        tx.execute(&lock, &[&event.call]).map_err(pg)?;
                        let row = tx.query_one(&last, &[&event.call]).map_err(pg)?;
                        let known = (
                            row.try_get::<_, i64>(0).map_err(pg)?,
                            row.try_get::<_, i64>(1).map_err(pg)?,
                        );
                        calls.entry(event.call.as_str()).or_insert(known)
                    }
                };
                let seq = u32::try_from(previous.saturating_add(1)).map_err(|_| {
                    StoreError::Unreadable(format!(
                        "call {} has too many webhook events",
                        event.call
                    ))
                })?;
                let id: i64 = tx
                    .query_one(
                        &insert,
                        &[
                            &event.campaign,
                            &event.call,
                            &i64::from(seq),
                            &event.event,
                            &event.url,
                            &body(event, seq),
                            &idempotency_key(&event.call, seq, &event.event),
                            &now.as_millisecond(),
                            &i32::from(*open == 0),
                        ],
                    )
                    .map_err(pg)?
                    .try_get(0)
                    .map_err(pg)?;
                *previous = i64::from(seq);
                *open += 1;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    fn claim_ready(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (node, lease_ms) = self.claimant();
        self.transaction(move |tx| {
            // A dead node's lapsed claims first: pending again.
            take_over(tx, None)?;
            // Heads another node is claiming are locked: skipped.
            let rows = tx
                .query(
                    &format!(
                        "UPDATE outbox SET status = 'sending', claimed_by = $3, \
                         lease_ms = {DB_NOW} + $4 WHERE id IN ( \
                         SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.head = 1 \
                         AND o.next_ms <= $1 AND {HEAD} ORDER BY o.next_ms, o.id LIMIT $2 \
                         FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
                    ),
                    &[&now.as_millisecond(), &limit_param(limit), &node, &lease_ms],
                )
                .map_err(pg)?;
            let mut claimed = rows.iter().map(event).collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|e| (e.next, e.id));
            Ok(claimed)
        })
    }

    fn delivered(&self, id: i64) -> Result<(), StoreError> {
        let node = self.node().to_owned();
        self.transaction(move |tx| settle_one(tx, &node, id, &Settled::Delivered))
    }

    fn failed(&self, id: i64, error: &str, next_at: Timestamp) -> Result<(), StoreError> {
        let outcome = Settled::Failed {
            error: error.to_string(),
            next_at,
        };
        let node = self.node().to_owned();
        self.transaction(move |tx| settle_one(tx, &node, id, &outcome))
    }

    fn dead(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let outcome = Settled::Dead {
            error: error.to_string(),
        };
        let node = self.node().to_owned();
        self.transaction(move |tx| settle_one(tx, &node, id, &outcome))
    }

    fn settle(&self, outcomes: &[(i64, Settled)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let outcomes = outcomes.to_vec();
        let node = self.node().to_owned();
        self.transaction(move |tx| {
            for (id, outcome) in &outcomes {
                // One taken over by another node is its to settle; the
                // rest of the batch is this node's.
                match settle_one(tx, &node, *id, outcome) {
                    Ok(()) | Err(StoreError::ClaimedElsewhere { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn backlog(&self) -> Result<usize, StoreError> {
        self.transaction(|tx| {
            let n: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
                    &[],
                )
                .map_err(pg)?
                .try_get(0)
                .map_err(pg)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn next_ready(&self) -> Result<Option<Timestamp>, StoreError> {
        self.transaction(|tx| {
            let next: Option<i64> = tx
                .query_one(
                    &format!(
                        "SELECT MIN(o.next_ms) FROM outbox o WHERE o.status = 'pending' \
                         AND o.head = 1 AND {HEAD}"
                    ),
                    &[],
                )
                .map_err(pg)?
                .try_get(0)
                .map_err(pg)?;
            next.map(|ms| {
                Timestamp::from_millisecond(ms).map_err(|e| {
                    StoreError::Unreadable(format!("webhook time {ms} is not a time: {e}"))
                })
            })
            .transpose()
        })
    }

    fn list_events(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxEvent>, StoreError> {
        self.transaction(move |tx| {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM outbox WHERE $1::TEXT IS NULL OR status = $1 \
                         ORDER BY id"
                    ),
                    &[&status.map(OutboxStatus::as_str)],
                )
                .map_err(pg)?;
            rows.iter().map(event).collect()
        })
    }

    /// Takes back the claims that lapsed (a node that died) and this
    /// handle's own: a live node's sends are left alone.
    fn recover_outbox(&self) -> Result<usize, StoreError> {
        let node = self.node().to_owned();
        self.transaction(move |tx| {
            let n = take_over(tx, Some(&node))?;
            // Every call's oldest open event is its head.
            tx.execute(
                &format!(
                    "UPDATE outbox AS o SET head = ({HEAD})::INTEGER WHERE o.status = 'pending' \
                     AND o.head <> ({HEAD})::INTEGER"
                ),
                &[],
            )
            .map_err(pg)?;
            Ok(n)
        })
    }

    fn prune_delivered(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.transaction(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM outbox WHERE status = 'delivered' AND created_ms < $1 \
                     AND seq < (SELECT MAX(p.seq) FROM outbox p WHERE p.call = outbox.call)",
                    &[&before.as_millisecond()],
                )
                .map_err(pg)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}
