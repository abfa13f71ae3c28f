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
";

/// A record to add: its numbers (E.164) and its fields (checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Phone numbers, E.164.
    pub numbers: Vec<String>,
    /// Field values by field name (system fields such as `email` too).
    pub fields: BTreeMap<String, String>,
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRecord {
    /// Its id.
    pub id: i64,
    /// Its campaign.
    pub campaign: String,
    /// Its phone numbers, E.164.
    pub numbers: Vec<String>,
    /// Its fields.
    pub fields: BTreeMap<String, String>,
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
        let tx = conn.transaction()?;
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
                Ok(CustomerRecord {
                    id,
                    campaign: campaign.to_string(),
                    numbers: SqliteStore::numbers_of(&conn, id)?,
                    fields: fields_of(&fields, id)?,
                })
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
        Ok(Some(CustomerRecord {
            id,
            campaign,
            numbers: SqliteStore::numbers_of(&conn, id)?,
            fields: fields_of(&fields, id)?,
        }))
    }

    fn all_records(&self, campaign: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT id, fields FROM customer_records WHERE campaign = ?1 ORDER BY id",
        )?;
        let rows = statement
            .query_map(params![campaign], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
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
            .map(|(id, fields)| {
                Ok(CustomerRecord {
                    id,
                    campaign: campaign.to_string(),
                    numbers: numbers.remove(&id).unwrap_or_default(),
                    fields: fields_of(&fields, id)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn record(numbers: &[&str], name: &str) -> NewRecord {
        NewRecord {
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            fields: BTreeMap::from([("name".to_string(), name.to_string())]),
        }
    }

    #[test]
    fn records_are_found_by_any_of_their_numbers_within_their_campaign() {
        let store = SqliteStore::in_memory().unwrap();
        let at = Timestamp::UNIX_EPOCH;
        store
            .import_records(
                "complete",
                &[
                    record(&["+48600100200", "+48221000000"], "Jan"),
                    record(&["+48600100300"], "Anna"),
                    record(&["+48221000000"], "Firma"),
                ],
                at,
            )
            .unwrap();
        store
            .import_records("other", &[record(&["+48600100200"], "Elsewhere")], at)
            .unwrap();
        let one = store.records_of("complete", "+48600100200").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].fields["name"], "Jan");
        assert_eq!(one[0].numbers, ["+48600100200", "+48221000000"]);
        assert_eq!(
            store.records_of("complete", "+48221000000").unwrap().len(),
            2
        );
        assert!(store.records_of("complete", "+48999").unwrap().is_empty());
        let all = store.all_records("complete").unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(store.record(all[1].id).unwrap().unwrap(), all[1]);
        assert_eq!(store.record(999).unwrap(), None);
        assert_eq!(all[2].fields["name"], "Firma");
    }
}
