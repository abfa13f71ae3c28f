//! Customer records (SPEC 3.2, seed 004): per campaign, each with its phone
//! numbers (E.164) and its fields, found by the caller's number.
//!
//! Tables: `customer_records` (id, campaign, the fields as a JSON object,
//! when it was added) and `record_numbers` (record, campaign, number),
//! indexed by campaign and number, so identification is one index lookup.
//! An import is one transaction: all its rows, or none.

use crate::{SqliteStore, StoreError};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS customer_records (
    id INTEGER PRIMARY KEY,
    campaign TEXT NOT NULL,
    fields TEXT NOT NULL,
    added_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS record_numbers (
    record INTEGER NOT NULL REFERENCES customer_records(id) ON DELETE CASCADE,
    campaign TEXT NOT NULL,
    number TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS record_numbers_by_number ON record_numbers (campaign, number);
CREATE INDEX IF NOT EXISTS customer_records_by_campaign ON customer_records (campaign, id);
CREATE TABLE IF NOT EXISTS record_states (
    record INTEGER PRIMARY KEY REFERENCES customer_records(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    classifier TEXT,
    closed INTEGER NOT NULL,
    success INTEGER NOT NULL,
    changed_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blacklist (
    number TEXT PRIMARY KEY,
    campaign TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
";

/// What a wrap-up classifier does to a record (SPEC 3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classification {
    /// The classifier's name.
    pub classifier: String,
    /// It closes the record.
    pub closes: bool,
    /// It counts as a success.
    pub success: bool,
    /// A closed record keeps its classifier (`keep_classifier_on_closed`).
    pub keep_on_closed: bool,
}

/// A record to add: its numbers (E.164) and its fields (checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Phone numbers, E.164.
    pub numbers: Vec<String>,
    /// Field values by field name (system fields such as `email` too).
    pub fields: BTreeMap<String, String>,
}

/// A stored record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerRecord {
    /// Its id.
    pub id: i64,
    /// Its campaign.
    pub campaign: String,
    /// Its phone numbers, E.164.
    pub numbers: Vec<String>,
    /// Its fields.
    pub fields: BTreeMap<String, String>,
    /// Its version: 1 when added, one more with every edit or
    /// classification (an edit names the version it read).
    pub version: u32,
    /// The classifier of its last wrap-up.
    pub classifier: Option<String>,
    /// A classifier closed it.
    pub closed: bool,
    /// A classifier counted it a success.
    pub success: bool,
}

/// Customer records of the campaigns.
pub trait CustomerStore {
    /// Adds every record of `records` to `campaign` in one transaction;
    /// returns their ids, in order.
    fn import_records(
        &self,
        campaign: &str,
        records: &[NewRecord],
        at: Timestamp,
    ) -> Result<Vec<i64>, StoreError>;

    /// The records of `campaign` that have the number `number` (E.164).
    fn records_of(&self, campaign: &str, number: &str) -> Result<Vec<CustomerRecord>, StoreError>;

    /// Every record of `campaign`, oldest first.
    fn all_records(&self, campaign: &str) -> Result<Vec<CustomerRecord>, StoreError>;

    /// The record with this id, if there is one.
    fn record(&self, id: i64) -> Result<Option<CustomerRecord>, StoreError>;

    /// At most `limit` records of `campaign` with ids above `after`, by id.
    fn records_page(
        &self,
        campaign: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, StoreError> {
        Ok(self
            .all_records(campaign)?
            .into_iter()
            .filter(|r| r.id > after)
            .take(limit)
            .collect())
    }

    /// Replaces the fields named in `changes` of record `id`, if it is
    /// still at `version` (else [`StoreError::Stale`]); returns it as it
    /// now is, one version on.
    fn edit_record(
        &self,
        id: i64,
        changes: &BTreeMap<String, String>,
        version: u32,
        at: Timestamp,
    ) -> Result<CustomerRecord, StoreError>;

    /// Applies a wrap-up classifier to record `id`: its classifier (kept
    /// on a closed record when the campaign says so), closed, success.
    fn classify_record(
        &self,
        id: i64,
        classification: &Classification,
        at: Timestamp,
    ) -> Result<CustomerRecord, StoreError>;

    /// Moves record `id`, with its numbers, to `campaign`.
    fn move_record(&self, id: i64, campaign: &str) -> Result<(), StoreError>;

    /// Never call `number` again (a classifier's `blacklist`).
    fn blacklist(&self, number: &str, campaign: &str, at: Timestamp) -> Result<(), StoreError>;

    /// Whether `number` is on the blacklist.
    fn blacklisted(&self, number: &str) -> Result<bool, StoreError>;

    /// How many of `campaign`'s records are still to be worked: not
    /// closed by a classifier (the pool of the `pool_low` alert).
    fn open_records(&self, campaign: &str) -> Result<u64, StoreError> {
        Ok(self
            .all_records(campaign)?
            .iter()
            .filter(|r| !r.closed)
            .count() as u64)
    }
}

/// A record's state columns: version, classifier, closed, success.
type State = (u32, Option<String>, bool, bool);

fn state_of(conn: &rusqlite::Connection, id: i64) -> Result<State, StoreError> {
    let state = conn
        .prepare_cached(
            "SELECT version, classifier, closed, success FROM record_states WHERE record = ?1",
        )?
        .query_row(params![id], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, bool>(3)?,
            ))
        })
        .optional()?;
    Ok(state.unwrap_or((1, None, false, false)))
}

fn write_state(
    conn: &rusqlite::Connection,
    id: i64,
    state: &State,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO record_states (record, version, classifier, closed, success, changed_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (record) DO UPDATE SET \
         version = excluded.version, classifier = excluded.classifier, \
         closed = excluded.closed, success = excluded.success, changed_ms = excluded.changed_ms",
    )?
    .execute(params![
        id,
        state.0,
        state.1,
        state.2,
        state.3,
        at.as_millisecond()
    ])?;
    Ok(())
}

/// Record `id`'s fields as stored (JSON), or [`StoreError::NoRecord`].
fn fields_row(conn: &rusqlite::Connection, id: i64) -> Result<String, StoreError> {
    conn.query_row(
        "SELECT fields FROM customer_records WHERE id = ?1",
        params![id],
        |row| row.get(0),
    )
    .optional()?
    .ok_or(StoreError::NoRecord { id })
}

fn with_state(mut record: CustomerRecord, state: State) -> CustomerRecord {
    (
        record.version,
        record.classifier,
        record.closed,
        record.success,
    ) = state;
    record
}

fn fields_of(json: &str, id: i64) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unreadable(format!("record {id}'s fields: {e}")))
}

impl SqliteStore {
    fn numbers_of(conn: &rusqlite::Connection, record: i64) -> Result<Vec<String>, StoreError> {
        let mut statement = conn
            .prepare_cached("SELECT number FROM record_numbers WHERE record = ?1 ORDER BY rowid")?;
        let numbers = statement
            .query_map(params![record], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(numbers)
    }
}

impl CustomerStore for SqliteStore {
    fn import_records(
        &self,
        campaign: &str,
        records: &[NewRecord],
        at: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(records.len());
        {
            let mut record = tx.prepare_cached(
                "INSERT INTO customer_records (campaign, fields, added_ms) VALUES (?1, ?2, ?3)",
            )?;
            let mut number = tx.prepare_cached(
                "INSERT INTO record_numbers (record, campaign, number) VALUES (?1, ?2, ?3)",
            )?;
            for new in records {
                let fields = serde_json::to_string(&new.fields)
                    .map_err(|e| StoreError::Unreadable(e.to_string()))?;
                record.execute(params![campaign, fields, at.as_millisecond()])?;
                let id = tx.last_insert_rowid();
                ids.push(id);
                for n in &new.numbers {
                    number.execute(params![id, campaign, n])?;
                }
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn records_of(&self, campaign: &str, number: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT DISTINCT r.id, r.fields FROM record_numbers n \
             JOIN customer_records r ON r.id = n.record \
             WHERE n.campaign = ?1 AND n.number = ?2 ORDER BY r.id",
        )?;
        let rows = statement
            .query_map(params![campaign, number], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, fields)| {
                let record = CustomerRecord {
                    id,
                    campaign: campaign.to_string(),
                    numbers: SqliteStore::numbers_of(&conn, id)?,
                    fields: fields_of(&fields, id)?,
                    ..CustomerRecord::default()
                };
                Ok(with_state(record, state_of(&conn, id)?))
            })
            .collect()
    }

    fn record(&self, id: i64) -> Result<Option<CustomerRecord>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT campaign, fields FROM customer_records WHERE id = ?1",
                params![id],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()?;
        let Some((campaign, fields)) = row else {
            return Ok(None);
        };
        let record = CustomerRecord {
            id,
            campaign,
            numbers: SqliteStore::numbers_of(&conn, id)?,
            fields: fields_of(&fields, id)?,
            ..CustomerRecord::default()
        };
        Ok(Some(with_state(record, state_of(&conn, id)?)))
    }

    fn records_page(
        &self,
        campaign: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, StoreError> {
        let ids: Vec<i64> = {
            let conn = self.conn();
            let mut statement = conn.prepare_cached(
                "SELECT id FROM customer_records WHERE campaign = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3",
            )?;
            statement
                .query_map(
                    params![campaign, after, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |row| row.get(0),
                )?
                .collect::<Result<_, _>>()?
        };
        let mut page = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.record(id)? {
                page.push(record);
            }
        }
        Ok(page)
    }

    fn edit_record(
        &self,
        id: i64,
        changes: &BTreeMap<String, String>,
        version: u32,
        at: Timestamp,
    ) -> Result<CustomerRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let fields = fields_row(&tx, id)?;
        let mut state = state_of(&tx, id)?;
        if state.0 != version {
            return Err(StoreError::Stale {
                id,
                version,
                current: state.0,
            });
        }
        let mut fields = fields_of(&fields, id)?;
        for (name, value) in changes {
            fields.insert(name.clone(), value.clone());
        }
        let text =
            serde_json::to_string(&fields).map_err(|e| StoreError::Unreadable(e.to_string()))?;
        tx.execute(
            "UPDATE customer_records SET fields = ?2 WHERE id = ?1",
            params![id, text],
        )?;
        state.0 += 1;
        write_state(&tx, id, &state, at)?;
        tx.commit()?;
        drop(conn);
        self.record(id)?.ok_or(StoreError::NoRecord { id })
    }

    fn classify_record(
        &self,
        id: i64,
        classification: &Classification,
        at: Timestamp,
    ) -> Result<CustomerRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        fields_row(&tx, id)?;
        let (version, classifier, closed, success) = state_of(&tx, id)?;
        let classifier = if closed && classification.keep_on_closed {
            classifier
        } else {
            Some(classification.classifier.clone())
        };
        let state = (
            version + 1,
            classifier,
            closed || classification.closes,
            success || classification.success,
        );
        write_state(&tx, id, &state, at)?;
        tx.commit()?;
        drop(conn);
        self.record(id)?.ok_or(StoreError::NoRecord { id })
    }

    fn move_record(&self, id: i64, campaign: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let moved = tx.execute(
            "UPDATE customer_records SET campaign = ?2 WHERE id = ?1",
            params![id, campaign],
        )?;
        if moved == 0 {
            return Err(StoreError::NoRecord { id });
        }
        tx.execute(
            "UPDATE record_numbers SET campaign = ?2 WHERE record = ?1",
            params![id, campaign],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn blacklist(&self, number: &str, campaign: &str, at: Timestamp) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO blacklist (number, campaign, at_ms) VALUES (?1, ?2, ?3)",
            params![number, campaign, at.as_millisecond()],
        )?;
        Ok(())
    }

    fn blacklisted(&self, number: &str) -> Result<bool, StoreError> {
        let found: Option<String> = self
            .conn()
            .query_row(
                "SELECT number FROM blacklist WHERE number = ?1",
                params![number],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn open_records(&self, campaign: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM customer_records r LEFT JOIN record_states s \
                 ON s.record = r.id WHERE r.campaign = ?1 AND COALESCE(s.closed, 0) = 0",
            )?
            .query_row(params![campaign], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn all_records(&self, campaign: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let conn = self.conn();
        // One pass over the records with their states (a record never
        // classified or edited has none: version 1, open).
        let mut statement = conn.prepare_cached(
            "SELECT r.id, r.fields, s.version, s.classifier, s.closed, s.success \
             FROM customer_records r LEFT JOIN record_states s ON s.record = r.id \
             WHERE r.campaign = ?1 ORDER BY r.id",
        )?;
        let rows = statement
            .query_map(params![campaign], |row| {
                let state: State = (
                    row.get::<_, Option<u32>>(2)?.unwrap_or(1),
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<bool>>(4)?.unwrap_or(false),
                    row.get::<_, Option<bool>>(5)?.unwrap_or(false),
                );
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, state))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut numbers: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        {
            let mut statement = conn.prepare_cached(
                "SELECT record, number FROM record_numbers WHERE campaign = ?1 ORDER BY rowid",
            )?;
            let pairs = statement.query_map(params![campaign], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            for pair in pairs {
                let (record, number) = pair?;
                numbers.entry(record).or_default().push(number);
            }
        }
        rows.into_iter()
            .map(|(id, fields, state)| {
                let record = CustomerRecord {
                    id,
                    campaign: campaign.to_string(),
                    numbers: numbers.remove(&id).unwrap_or_default(),
                    fields: fields_of(&fields, id)?,
                    ..CustomerRecord::default()
                };
                Ok(with_state(record, state))
            })
            .collect()
    }
}
