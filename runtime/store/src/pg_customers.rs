//! The customers stores on PostgreSQL (see `customers.rs` for SQLite's):
//! the same records, numbers, states and blacklist, with the same errors,
//! order and versions, for nodes sharing one database.
//!
//! An edit or a classification locks its record's row (`FOR NO KEY
//! UPDATE`) before it reads the record's version, and writes the next
//! version only over the one it read: two nodes editing the same version
//! at once both wait for the lock in turn, and the second finds the
//! version moved on ([`StoreError::Stale`]). A record is read with its
//! state and its numbers in one statement (one snapshot).

use std::collections::BTreeMap;

use jiff::Timestamp;
use postgres::types::ToSql;
use postgres::{Row, Transaction};

use crate::customers::{Classification, CustomerRecord, CustomerStore, NewRecord};
use crate::pg::{PgStore, pg};
use crate::store::StoreError;

/// This module's tables (migration 4). Numbers have an id of their own:
/// a record's numbers are listed in the order they were added (SQLite's
/// `rowid`).
pub(crate) const SCHEMA: &str = "
CREATE TABLE customer_records (
    id          BIGSERIAL PRIMARY KEY,
    campaign    TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    added_ms    BIGINT  NOT NULL
);
CREATE INDEX customer_records_by_campaign ON customer_records (campaign, id);
CREATE TABLE record_numbers (
    id          BIGSERIAL PRIMARY KEY,
    record      BIGINT  NOT NULL REFERENCES customer_records (id) ON DELETE CASCADE,
    campaign    TEXT    NOT NULL,
    number      TEXT    NOT NULL
);
CREATE INDEX record_numbers_by_number ON record_numbers (campaign, number);
CREATE INDEX record_numbers_by_record ON record_numbers (record, id);
CREATE TABLE record_states (
    record      BIGINT  PRIMARY KEY REFERENCES customer_records (id) ON DELETE CASCADE,
    version     BIGINT  NOT NULL,
    classifier  TEXT,
    closed      BOOLEAN NOT NULL,
    success     BOOLEAN NOT NULL,
    changed_ms  BIGINT  NOT NULL
);
CREATE TABLE blacklist (
    number      TEXT    PRIMARY KEY,
    campaign    TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL
);
";

/// Queries that fail when an existing table lacks a column this version uses.
pub(crate) const CHECKS: &[&str] = &[
    "SELECT id, campaign, fields, added_ms FROM customer_records LIMIT 0",
    "SELECT id, record, campaign, number FROM record_numbers LIMIT 0",
    "SELECT record, version, classifier, closed, success, changed_ms FROM record_states LIMIT 0",
    "SELECT number, campaign, at_ms FROM blacklist LIMIT 0",
];

/// Records (`r`) with their states (a record never edited or classified
/// has none: version 1, open) and their numbers in the order they were
/// added; a `WHERE` follows.
const SELECT: &str = "SELECT r.id, r.campaign, r.fields, s.version, s.classifier, s.closed, \
                      s.success, ARRAY(SELECT n.number FROM record_numbers n \
                      WHERE n.record = r.id ORDER BY n.id) \
                      FROM customer_records r LEFT JOIN record_states s ON s.record = r.id";

/// A record's state columns: version, classifier, closed, success.
type State = (u32, Option<String>, bool, bool);

/// The state of a record that has no row in `record_states`.
const FIRST: State = (1, None, false, false);

fn fields_of(json: &str, id: i64) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unreadable(format!("record {id}'s fields: {e}")))
}

fn fields_text(fields: &BTreeMap<String, String>) -> Result<String, StoreError> {
    serde_json::to_string(fields).map_err(|e| StoreError::Unreadable(e.to_string()))
}

fn version_of(id: i64, version: i64) -> Result<u32, StoreError> {
    u32::try_from(version).map_err(|_| {
        StoreError::Unreadable(format!("record {id}'s version {version} is out of range"))
    })
}

/// A row of [`SELECT`].
fn customer(row: &Row) -> Result<CustomerRecord, StoreError> {
    let id: i64 = row.try_get(0).map_err(pg)?;
    let bad = |e: postgres::Error| StoreError::Unreadable(format!("record {id}: {e}"));
    let campaign: String = row.try_get(1).map_err(bad)?;
    let fields: String = row.try_get(2).map_err(bad)?;
    let version = row
        .try_get::<_, Option<i64>>(3)
        .map_err(bad)?
        .map(|v| version_of(id, v))
        .transpose()?
        .unwrap_or(FIRST.0);
    Ok(CustomerRecord {
        id,
        campaign,
        numbers: row.try_get::<_, Vec<String>>(7).map_err(bad)?,
        fields: fields_of(&fields, id)?,
        version,
        classifier: row.try_get::<_, Option<String>>(4).map_err(bad)?,
        closed: row
            .try_get::<_, Option<bool>>(5)
            .map_err(bad)?
            .unwrap_or(false),
        success: row
            .try_get::<_, Option<bool>>(6)
            .map_err(bad)?
            .unwrap_or(false),
    })
}

/// The records matching `filter` (a `WHERE` condition on `r`, with its
/// order), read in one statement.
fn select(
    tx: &mut Transaction<'_>,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<CustomerRecord>, StoreError> {
    tx.query(&format!("{SELECT} WHERE {filter}"), params)
        .map_err(pg)?
        .iter()
        .map(customer)
        .collect()
}

/// Record `id` as it is in this transaction, or [`StoreError::NoRecord`].
fn one(tx: &mut Transaction<'_>, id: i64) -> Result<CustomerRecord, StoreError> {
    select(tx, "r.id = $1", &[&id])?
        .into_iter()
        .next()
        .ok_or(StoreError::NoRecord { id })
}

/// Record `id`'s fields as stored (JSON), its row locked until the
/// transaction ends (the record's other editors wait), or
/// [`StoreError::NoRecord`].
fn lock_record(tx: &mut Transaction<'_>, id: i64) -> Result<String, StoreError> {
    tx.query_opt(
        "SELECT fields FROM customer_records WHERE id = $1 FOR NO KEY UPDATE",
        &[&id],
    )
    .map_err(pg)?
    .ok_or(StoreError::NoRecord { id })?
    .try_get(0)
    .map_err(|e| StoreError::Unreadable(format!("record {id}: {e}")))
}

fn state_of(tx: &mut Transaction<'_>, id: i64) -> Result<State, StoreError> {
    let Some(row) = tx
        .query_opt(
            "SELECT version, classifier, closed, success FROM record_states WHERE record = $1",
            &[&id],
        )
        .map_err(pg)?
    else {
        return Ok(FIRST);
    };
    let bad = |e: postgres::Error| StoreError::Unreadable(format!("record {id}'s state: {e}"));
    Ok((
        version_of(id, row.try_get(0).map_err(bad)?)?,
        row.try_get(1).map_err(bad)?,
        row.try_get(2).map_err(bad)?,
        row.try_get(3).map_err(bad)?,
    ))
}

/// The version after `version`.
fn next_version(id: i64, version: u32) -> Result<u32, StoreError> {
    version.checked_add(1).ok_or_else(|| {
        StoreError::Unreadable(format!("record {id} is at its last version {version}"))
    })
}

/// Writes record `id`'s state `state` over version `read` (the one read
/// under the record's lock); a state row found at another version is
/// [`StoreError::Stale`].
fn write_state(
    tx: &mut Transaction<'_>,
    id: i64,
    read: u32,
    state: &State,
    at: Timestamp,
) -> Result<(), StoreError> {
    let written = tx
        .execute(
            "INSERT INTO record_states (record, version, classifier, closed, success, changed_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (record) DO UPDATE SET \
             version = EXCLUDED.version, classifier = EXCLUDED.classifier, \
             closed = EXCLUDED.closed, success = EXCLUDED.success, \
             changed_ms = EXCLUDED.changed_ms WHERE record_states.version = $7",
            &[
                &id,
                &i64::from(state.0),
                &state.1,
                &state.2,
                &state.3,
                &at.as_millisecond(),
                &i64::from(read),
            ],
        )
        .map_err(pg)?;
    if written == 0 {
        return Err(StoreError::Stale {
            id,
            version: read,
            current: state_of(tx, id)?.0,
        });
    }
    Ok(())
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl CustomerStore for PgStore {
    fn import_records(
        &self,
        campaign: &str,
        records: &[NewRecord],
        at: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let records = records
            .iter()
            .map(|new| Ok((fields_text(&new.fields)?, new.numbers.clone())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let campaign = campaign.to_owned();
        self.transaction(move |tx| {
            let record = tx
                .prepare(
                    "INSERT INTO customer_records (campaign, fields, added_ms) \
                     VALUES ($1, $2, $3) RETURNING id",
                )
                .map_err(pg)?;
            let number = tx
                .prepare(
                    "INSERT INTO record_numbers (record, campaign, number) VALUES ($1, $2, $3)",
                )
                .map_err(pg)?;
            let mut ids = Vec::with_capacity(records.len());
            for (fields, numbers) in &records {
                let id: i64 = tx
                    .query_one(&record, &[&campaign, fields, &at.as_millisecond()])
                    .map_err(pg)?
                    .try_get(0)
                    .map_err(pg)?;
                ids.push(id);
                for n in numbers {
                    tx.execute(&number, &[&id, &campaign, n]).map_err(pg)?;
                }
            }
            Ok(ids)
        })
    }

    fn records_of(&self, campaign: &str, number: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let (campaign, number) = (campaign.to_owned(), number.to_owned());
        self.transaction(move |tx| {
            select(
                tx,
                "r.id IN (SELECT n.record FROM record_numbers n \
                 WHERE n.campaign = $1 AND n.number = $2) ORDER BY r.id",
                &[&campaign, &number],
            )
        })
    }

    fn all_records(&self, campaign: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let campaign = campaign.to_owned();
        self.transaction(move |tx| select(tx, "r.campaign = $1 ORDER BY r.id", &[&campaign]))
    }

    fn record(&self, id: i64) -> Result<Option<CustomerRecord>, StoreError> {
        self.transaction(move |tx| Ok(select(tx, "r.id = $1", &[&id])?.into_iter().next()))
    }

    fn records_page(
        &self,
        campaign: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, StoreError> {
        let campaign = campaign.to_owned();
        let limit = limit_param(limit);
        self.transaction(move |tx| {
            select(
                tx,
                "r.campaign = $1 AND r.id > $2 ORDER BY r.id LIMIT $3",
                &[&campaign, &after, &limit],
            )
        })
    }

    fn edit_record(
        &self,
        id: i64,
        changes: &BTreeMap<String, String>,
        version: u32,
        at: Timestamp,
    ) -> Result<CustomerRecord, StoreError> {
        let changes = changes.clone();
        self.transaction(move |tx| {
            let fields = lock_record(tx, id)?;
            let mut state = state_of(tx, id)?;
            if state.0 != version {
                return Err(StoreError::Stale {
                    id,
                    version,
                    current: state.0,
                });
            }
            let mut fields = fields_of(&fields, id)?;
            fields.extend(changes);
            tx.execute(
                "UPDATE customer_records SET fields = $2 WHERE id = $1",
                &[&id, &fields_text(&fields)?],
            )
            .map_err(pg)?;
            state.0 = next_version(id, version)?;
            write_state(tx, id, version, &state, at)?;
            one(tx, id)
        })
    }

    fn classify_record(
        &self,
        id: i64,
        classification: &Classification,
        at: Timestamp,
    ) -> Result<CustomerRecord, StoreError> {
        let classification = classification.clone();
        self.transaction(move |tx| {
            lock_record(tx, id)?;
            let (version, classifier, closed, success) = state_of(tx, id)?;
            let classifier = if closed && classification.keep_on_closed {
                classifier
            } else {
                Some(classification.classifier)
            };
            let state = (
                next_version(id, version)?,
                classifier,
                closed || classification.closes,
                success || classification.success,
            );
            write_state(tx, id, version, &state, at)?;
            one(tx, id)
        })
    }

    fn move_record(&self, id: i64, campaign: &str) -> Result<(), StoreError> {
        let campaign = campaign.to_owned();
        self.transaction(move |tx| {
            let moved = tx
                .execute(
                    "UPDATE customer_records SET campaign = $2 WHERE id = $1",
                    &[&id, &campaign],
                )
                .map_err(pg)?;
            if moved == 0 {
                return Err(StoreError::NoRecord { id });
            }
            tx.execute(
                "UPDATE record_numbers SET campaign = $2 WHERE record = $1",
                &[&id, &campaign],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn blacklist(&self, number: &str, campaign: &str, at: Timestamp) -> Result<(), StoreError> {
        let (number, campaign) = (number.to_owned(), campaign.to_owned());
        self.transaction(move |tx| {
            tx.execute(
                "INSERT INTO blacklist (number, campaign, at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (number) DO NOTHING",
                &[&number, &campaign, &at.as_millisecond()],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn blacklisted(&self, number: &str) -> Result<bool, StoreError> {
        let number = number.to_owned();
        self.transaction(move |tx| {
            Ok(tx
                .query_opt("SELECT 1 FROM blacklist WHERE number = $1", &[&number])
                .map_err(pg)?
                .is_some())
        })
    }

    fn open_records(&self, campaign: &str) -> Result<u64, StoreError> {
        let campaign = campaign.to_owned();
        self.transaction(move |tx| {
            let count: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM customer_records r LEFT JOIN record_states s \
                     ON s.record = r.id WHERE r.campaign = $1 AND NOT COALESCE(s.closed, FALSE)",
                    &[&campaign],
                )
                .map_err(pg)?
                .try_get(0)
                .map_err(pg)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
    }
}
