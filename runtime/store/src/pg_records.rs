//! The records stores on PostgreSQL (see `records.rs` for SQLite's): survey
//! answers and scheduled survey calls ([`SurveyStore`]), call detail
//! records, wrap-ups, the voicemail index and recorded conversations
//! ([`RecordStore`]), and handoff tickets ([`TicketStore`]), with the same
//! behaviour as [`crate::SqliteStore`] (the same test cases run against
//! both).
//!
//! Survey calls are claimed with `FOR UPDATE SKIP LOCKED`: nodes claiming at
//! once each get other calls, and each pending call is claimed once.
//! Expired conversations are deleted and returned by one statement, so each
//! is returned to one node only. The tables SQLite orders by `rowid`
//! (`calls`, `wrap_ups`, `voicemails`) have a `seq` column for that order.

use jiff::Timestamp;
use postgres::{Row, Transaction};

use crate::pg::{DB_NOW, PgStore, pg};
use crate::records::{
    CallRecord, CallRecording, NewTicket, RecordStore, ScheduledSurvey, SurveyAnswer, SurveyStore,
    Ticket, TicketStore,
};
use crate::store::StoreError;

/// This module's tables (its migration in `pg.rs`).
pub(crate) const SCHEMA: &str = "
CREATE TABLE survey_answers (
    id          BIGSERIAL PRIMARY KEY,
    campaign    TEXT    NOT NULL,
    survey      TEXT    NOT NULL,
    call        TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    answer      TEXT,
    at_ms       BIGINT  NOT NULL
);
CREATE INDEX survey_answers_call ON survey_answers (call, id);
CREATE TABLE scheduled_surveys (
    id          BIGSERIAL PRIMARY KEY,
    campaign    TEXT    NOT NULL,
    survey      TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    due_ms      BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL DEFAULT 0,
    outcome     TEXT
);
CREATE INDEX scheduled_surveys_due ON scheduled_surveys (status, due_ms);
CREATE TABLE calls (
    seq         BIGSERIAL PRIMARY KEY,
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    caller      TEXT    NOT NULL,
    dialled     TEXT    NOT NULL,
    started_ms  BIGINT  NOT NULL,
    ended_ms    BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL,
    agent       TEXT,
    queue       TEXT,
    wait_ms     BIGINT
);
CREATE TABLE wrap_ups (
    seq         BIGSERIAL PRIMARY KEY,
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    classifier  TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL
);
CREATE TABLE voicemails (
    seq         BIGSERIAL PRIMARY KEY,
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    caller      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL
);
CREATE TABLE call_recordings (
    id          BIGSERIAL PRIMARY KEY,
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    caller      TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    channels    BIGINT  NOT NULL,
    started_ms  BIGINT  NOT NULL,
    duration_ms BIGINT  NOT NULL
);
CREATE INDEX call_recordings_started ON call_recordings (started_ms);
CREATE TABLE tickets (
    id          BIGSERIAL PRIMARY KEY,
    channel     TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    customer    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    transcript  TEXT    NOT NULL,
    team        TEXT,
    owner       TEXT,
    status      TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);
CREATE INDEX tickets_open ON tickets (campaign, id) WHERE status = 'open';
";

/// Queries that fail when an existing table lacks a column this version uses.
pub(crate) const CHECKS: &[&str] = &[
    "SELECT id, campaign, survey, call, number, question, answer, at_ms \
     FROM survey_answers LIMIT 0",
    "SELECT id, campaign, survey, number, due_ms, status, attempts, outcome \
     FROM scheduled_surveys LIMIT 0",
    "SELECT seq, call, campaign, version, caller, dialled, started_ms, ended_ms, outcome, \
     agent, queue, wait_ms FROM calls LIMIT 0",
    "SELECT seq, call, campaign, agent, number, classifier, fields, at_ms FROM wrap_ups LIMIT 0",
    "SELECT seq, call, campaign, caller, path, at_ms FROM voicemails LIMIT 0",
    "SELECT id, call, campaign, caller, agent, path, channels, started_ms, duration_ms \
     FROM call_recordings LIMIT 0",
    "SELECT id, channel, campaign, customer, reason, transcript, team, owner, status, \
     created_ms FROM tickets LIMIT 0",
];

const ANSWER: &str = "campaign, survey, call, number, question, answer, at_ms";
const SCHEDULED: &str = "id, campaign, survey, number, due_ms, status, attempts";
const CALL: &str = "call, campaign, version, caller, dialled, started_ms, ended_ms, outcome, \
                    agent, queue, wait_ms";
const CONVERSATION: &str =
    "id, call, campaign, caller, agent, path, channels, started_ms, duration_ms";
const TICKET: &str =
    "id, channel, campaign, customer, reason, transcript, team, owner, status, created_ms";

/// A time kept in milliseconds, as `records.rs` reads it.
fn time(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Unreadable(format!("{ms} is not a time: {e}")))
}

/// Reads column `n` of a row of `what`; a value of another type is
/// unreadable data (never a panic).
fn column<'a, T: postgres::types::FromSql<'a>>(
    row: &'a Row,
    n: usize,
    what: &str,
) -> Result<T, StoreError> {
    row.try_get(n)
        .map_err(|e| StoreError::Unreadable(format!("{what}: {e}")))
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn answer(row: &Row) -> Result<SurveyAnswer, StoreError> {
    let what = "a survey answer";
    Ok(SurveyAnswer {
        campaign: column(row, 0, what)?,
        survey: column(row, 1, what)?,
        call: column(row, 2, what)?,
        number: column(row, 3, what)?,
        question: column(row, 4, what)?,
        answer: column(row, 5, what)?,
        at: time(column(row, 6, what)?)?,
    })
}

fn scheduled(row: &Row) -> Result<ScheduledSurvey, StoreError> {
    let what = "a scheduled survey call";
    let attempts: i64 = column(row, 6, what)?;
    Ok(ScheduledSurvey {
        id: column(row, 0, what)?,
        campaign: column(row, 1, what)?,
        survey: column(row, 2, what)?,
        number: column(row, 3, what)?,
        due: time(column(row, 4, what)?)?,
        status: column(row, 5, what)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    })
}

fn call_record(row: &Row) -> Result<CallRecord, StoreError> {
    let what = "a call detail record";
    let wait: Option<i64> = column(row, 10, what)?;
    Ok(CallRecord {
        call: column(row, 0, what)?,
        campaign: column(row, 1, what)?,
        version: column(row, 2, what)?,
        caller: column(row, 3, what)?,
        dialled: column(row, 4, what)?,
        started: time(column(row, 5, what)?)?,
        ended: time(column(row, 6, what)?)?,
        outcome: column(row, 7, what)?,
        agent: column(row, 8, what)?,
        queue: column(row, 9, what)?,
        wait_ms: wait.and_then(|w| u64::try_from(w).ok()),
    })
}

fn conversation(row: &Row) -> Result<CallRecording, StoreError> {
    let what = "a recorded conversation";
    let id: i64 = column(row, 0, what)?;
    let channels: i64 = column(row, 6, what)?;
    Ok(CallRecording {
        id,
        call: column(row, 1, what)?,
        campaign: column(row, 2, what)?,
        caller: column(row, 3, what)?,
        agent: column(row, 4, what)?,
        path: column(row, 5, what)?,
        channels: u16::try_from(channels).map_err(|_| {
            StoreError::Unreadable(format!(
                "recorded conversation {id}: {channels} channels is out of range"
            ))
        })?,
        started_ms: column(row, 7, what)?,
        duration_ms: column(row, 8, what)?,
    })
}

fn ticket(row: &Row) -> Result<Ticket, StoreError> {
    let what = "a ticket";
    let transcript: String = column(row, 5, what)?;
    Ok(Ticket {
        id: column(row, 0, what)?,
        channel: column(row, 1, what)?,
        campaign: column(row, 2, what)?,
        customer: column(row, 3, what)?,
        reason: column(row, 4, what)?,
        transcript: transcript.lines().map(str::to_string).collect(),
        team: column(row, 6, what)?,
        owner: column(row, 7, what)?,
        status: column(row, 8, what)?,
        created: time(column(row, 9, what)?)?,
    })
}

impl SurveyStore for PgStore {
    fn record_answer(&self, a: &SurveyAnswer) -> Result<(), StoreError> {
        let a = a.clone();
        self.transaction(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO survey_answers ({ANSWER}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ),
                &[
                    &a.campaign,
                    &a.survey,
                    &a.call,
                    &a.number,
                    &a.question,
                    &a.answer,
                    &a.at.as_millisecond(),
                ],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn answers(&self, call: Option<&str>) -> Result<Vec<SurveyAnswer>, StoreError> {
        let call = call.map(str::to_owned);
        self.transaction(move |tx| {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {ANSWER} FROM survey_answers WHERE $1::TEXT IS NULL OR call = $1 \
                         ORDER BY id"
                    ),
                    &[&call],
                )
                .map_err(pg)?;
            rows.iter().map(answer).collect()
        })
    }

    fn schedule_survey(
        &self,
        campaign: &str,
        survey: &str,
        number: &str,
        due: Timestamp,
    ) -> Result<i64, StoreError> {
        let (campaign, survey, number) =
            (campaign.to_owned(), survey.to_owned(), number.to_owned());
        self.transaction(move |tx| {
            let row = tx
                .query_one(
                    "INSERT INTO scheduled_surveys (campaign, survey, number, due_ms, status) \
                     VALUES ($1, $2, $3, $4, 'pending') RETURNING id",
                    &[&campaign, &survey, &number, &due.as_millisecond()],
                )
                .map_err(pg)?;
            column(&row, 0, "a scheduled survey call")
        })
    }

    fn claim_due_surveys(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ScheduledSurvey>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (node, lease_ms) = self.claimant();
        self.transaction(move |tx| {
            // A dead node's lapsed claims first: pending again.
            take_over_surveys(tx, None)?;
            // Calls another node is claiming are locked: skipped.
            let rows = tx
                .query(
                    &format!(
                        "UPDATE scheduled_surveys SET status = 'placing', attempts = attempts + 1, \
                         claimed_by = $3, lease_ms = {DB_NOW} + $4 \
                         WHERE id IN (SELECT id FROM scheduled_surveys WHERE status = 'pending' \
                         AND due_ms <= $1 ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                         RETURNING {SCHEDULED}"
                    ),
                    &[&now.as_millisecond(), &limit_param(limit), &node, &lease_ms],
                )
                .map_err(pg)?;
            let mut claimed = rows.iter().map(scheduled).collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|s| (s.due, s.id));
            Ok(claimed)
        })
    }

    fn next_survey_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.transaction(|tx| {
            let row = tx
                .query_one(
                    "SELECT MIN(due_ms) FROM scheduled_surveys WHERE status = 'pending'",
                    &[],
                )
                .map_err(pg)?;
            let next: Option<i64> = column(&row, 0, "the next survey call")?;
            next.map(time).transpose()
        })
    }

    fn finish_survey(&self, id: i64, done: bool, outcome: &str) -> Result<(), StoreError> {
        let outcome = outcome.to_owned();
        let status = if done { "done" } else { "failed" };
        let node = self.node().to_owned();
        self.transaction(move |tx| {
            let holder = tx
                .query_opt(
                    "SELECT claimed_by FROM scheduled_surveys WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .map_err(pg)?;
            let Some(holder) = holder else {
                return Err(StoreError::Unreadable(format!(
                    "there is no survey call {id}"
                )));
            };
            let holder: Option<String> = holder.try_get(0).map_err(pg)?;
            if holder.is_some_and(|holder| holder != node) {
                return Err(StoreError::ClaimedElsewhere {
                    what: format!("survey call {id}"),
                });
            }
            tx.execute(
                "UPDATE scheduled_surveys SET status = $2, outcome = $3, claimed_by = NULL, \
                 lease_ms = NULL WHERE id = $1",
                &[&id, &status, &outcome],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn scheduled_surveys(&self) -> Result<Vec<ScheduledSurvey>, StoreError> {
        self.transaction(|tx| {
            let rows = tx
                .query(
                    &format!("SELECT {SCHEDULED} FROM scheduled_surveys ORDER BY due_ms, id"),
                    &[],
                )
                .map_err(pg)?;
            rows.iter().map(scheduled).collect()
        })
    }

    /// Takes back the claims that lapsed (a node that died) and this
    /// handle's own: a live node's claims are left alone.
    fn recover_surveys(&self) -> Result<usize, StoreError> {
        let node = self.node().to_owned();
        self.transaction(move |tx| take_over_surveys(tx, Some(&node)))
    }
}

/// Survey calls being placed whose claim lapsed (and `node`'s own, when
/// given) are pending again; returns how many.
fn take_over_surveys(tx: &mut Transaction<'_>, node: Option<&str>) -> Result<usize, StoreError> {
    let n = tx
        .execute(
            &format!(
                "UPDATE scheduled_surveys SET status = 'pending', claimed_by = NULL, \
                 lease_ms = NULL WHERE status = 'placing' \
                 AND (lease_ms IS NULL OR lease_ms < {DB_NOW} OR claimed_by = $1)"
            ),
            &[&node],
        )
        .map_err(pg)?;
    Ok(count(n))
}

impl RecordStore for PgStore {
    fn record_calls(&self, records: &[CallRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let records = records.to_vec();
        self.transaction(move |tx| {
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO calls ({CALL}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .map_err(pg)?;
            for r in &records {
                tx.execute(
                    &insert,
                    &[
                        &r.call,
                        &r.campaign,
                        &r.version,
                        &r.caller,
                        &r.dialled,
                        &r.started.as_millisecond(),
                        &r.ended.as_millisecond(),
                        &r.outcome,
                        &r.agent,
                        &r.queue,
                        &r.wait_ms.and_then(|w| i64::try_from(w).ok()),
                    ],
                )
                .map_err(pg)?;
            }
            Ok(())
        })
    }

    fn calls(&self) -> Result<Vec<CallRecord>, StoreError> {
        self.transaction(|tx| {
            let rows = tx
                .query(&format!("SELECT {CALL} FROM calls ORDER BY seq"), &[])
                .map_err(pg)?;
            rows.iter().map(call_record).collect()
        })
    }

    fn record_wrap_up(
        &self,
        call: &str,
        campaign: &str,
        agent: &str,
        number: &str,
        classifier: &str,
        fields: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let values = [call, campaign, agent, number, classifier, fields].map(str::to_owned);
        self.transaction(move |tx| {
            let [call, campaign, agent, number, classifier, fields] = &values;
            tx.execute(
                "INSERT INTO wrap_ups (call, campaign, agent, number, classifier, fields, at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    call,
                    campaign,
                    agent,
                    number,
                    classifier,
                    fields,
                    &at.as_millisecond(),
                ],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn record_voicemail(
        &self,
        call: &str,
        campaign: &str,
        caller: &str,
        path: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let values = [call, campaign, caller, path].map(str::to_owned);
        self.transaction(move |tx| {
            let [call, campaign, caller, path] = &values;
            tx.execute(
                "INSERT INTO voicemails (call, campaign, caller, path, at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[call, campaign, caller, path, &at.as_millisecond()],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn voicemails(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        self.transaction(|tx| {
            let rows = tx
                .query(
                    "SELECT call, campaign, caller, path FROM voicemails ORDER BY seq",
                    &[],
                )
                .map_err(pg)?;
            let what = "a voicemail";
            rows.iter()
                .map(|row| {
                    Ok((
                        column(row, 0, what)?,
                        column(row, 1, what)?,
                        column(row, 2, what)?,
                        column(row, 3, what)?,
                    ))
                })
                .collect()
        })
    }

    fn record_conversation(&self, r: &CallRecording) -> Result<i64, StoreError> {
        let r = r.clone();
        self.transaction(move |tx| {
            let row = tx
                .query_one(
                    "INSERT INTO call_recordings (call, campaign, caller, agent, path, channels, \
                     started_ms, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     RETURNING id",
                    &[
                        &r.call,
                        &r.campaign,
                        &r.caller,
                        &r.agent,
                        &r.path,
                        &i64::from(r.channels),
                        &r.started_ms,
                        &r.duration_ms,
                    ],
                )
                .map_err(pg)?;
            column(&row, 0, "a recorded conversation")
        })
    }

    fn conversations(
        &self,
        campaigns: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<CallRecording>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let campaigns = campaigns.map(<[String]>::to_vec);
        self.transaction(move |tx| {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {CONVERSATION} FROM call_recordings \
                         WHERE $1::TEXT[] IS NULL OR campaign = ANY($1) ORDER BY id DESC LIMIT $2"
                    ),
                    &[&campaigns, &limit_param(limit)],
                )
                .map_err(pg)?;
            rows.iter().map(conversation).collect()
        })
    }

    fn conversation(&self, id: i64) -> Result<Option<CallRecording>, StoreError> {
        self.transaction(move |tx| {
            tx.query_opt(
                &format!("SELECT {CONVERSATION} FROM call_recordings WHERE id = $1"),
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(conversation)
            .transpose()
        })
    }

    fn expire_conversations(&self, before: Timestamp) -> Result<Vec<CallRecording>, StoreError> {
        self.transaction(move |tx| {
            // One statement: nodes expiring at once each return other
            // conversations (a row deleted by one is skipped by the other).
            let rows = tx
                .query(
                    &format!(
                        "DELETE FROM call_recordings WHERE started_ms < $1 RETURNING {CONVERSATION}"
                    ),
                    &[&before.as_millisecond()],
                )
                .map_err(pg)?;
            let mut expired = rows
                .iter()
                .map(conversation)
                .collect::<Result<Vec<_>, _>>()?;
            // SQLite returns them as its index on the start time has them.
            expired.sort_by_key(|r| (r.started_ms, r.id));
            Ok(expired)
        })
    }
}

impl PgStore {
    /// Stores a ticket with the id `id` (one kept elsewhere: a helpdesk's
    /// ticket brought in), or the next free id, as
    /// [`crate::SqliteStore::insert_ticket`] does: ids given by the store
    /// afterwards follow the largest one stored.
    pub fn insert_ticket(
        &self,
        id: Option<i64>,
        t: &NewTicket,
        now: Timestamp,
    ) -> Result<Ticket, StoreError> {
        let t = t.clone();
        self.transaction(move |tx| insert_ticket(tx, id, &t, now))
    }
}

fn insert_ticket(
    tx: &mut Transaction<'_>,
    id: Option<i64>,
    t: &NewTicket,
    now: Timestamp,
) -> Result<Ticket, StoreError> {
    let transcript = t.transcript.join("\n");
    let created = now.as_millisecond();
    let row = match id {
        None => tx.query_one(
            &format!(
                "INSERT INTO tickets (channel, campaign, customer, reason, transcript, team, \
                 owner, status, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) \
                 RETURNING {TICKET}"
            ),
            &[
                &t.channel,
                &t.campaign,
                &t.customer,
                &t.reason,
                &transcript,
                &t.team,
                &t.owner,
                &created,
            ],
        ),
        Some(id) => {
            // No other ticket is inserted meanwhile (each takes its id
            // from the sequence after its lock on the table), so the
            // sequence is moved past `id` without racing them.
            tx.batch_execute("LOCK TABLE tickets IN SHARE ROW EXCLUSIVE MODE")
                .map_err(pg)?;
            let row = tx.query_one(
                &format!(
                    "INSERT INTO tickets ({TICKET}) \
                     VALUES ($9, $1, $2, $3, $4, $5, $6, $7, 'open', $8) RETURNING {TICKET}"
                ),
                &[
                    &t.channel,
                    &t.campaign,
                    &t.customer,
                    &t.reason,
                    &transcript,
                    &t.team,
                    &t.owner,
                    &created,
                    &id,
                ],
            );
            let row = row.map_err(pg)?;
            // The next id the sequence gives is `last_value` (not yet
            // called) or the one after: it must come after `id`.
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('tickets', 'id'), $1) \
                 FROM tickets_id_seq \
                 WHERE $1 > last_value OR ($1 = last_value AND NOT is_called)",
                &[&id],
            )
            .map_err(pg)?;
            Ok(row)
        }
    }
    .map_err(pg)?;
    ticket(&row)
}

impl TicketStore for PgStore {
    fn open_ticket(&self, t: &NewTicket, now: Timestamp) -> Result<Ticket, StoreError> {
        self.insert_ticket(None, t, now)
    }

    fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        self.transaction(|tx| {
            let rows = tx
                .query(&format!("SELECT {TICKET} FROM tickets ORDER BY id"), &[])
                .map_err(pg)?;
            rows.iter().map(ticket).collect()
        })
    }

    fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        self.transaction(move |tx| {
            tx.query_opt(
                &format!("SELECT {TICKET} FROM tickets WHERE id = $1"),
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(ticket)
            .transpose()
        })
    }

    fn close_ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        self.transaction(move |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE tickets SET status = 'closed' WHERE id = $1 RETURNING {TICKET}"
                    ),
                    &[&id],
                )
                .map_err(pg)?
                .ok_or(StoreError::NotFound { id })?;
            ticket(&row)
        })
    }

    fn open_tickets(&self, campaign: &str) -> Result<Vec<Ticket>, StoreError> {
        let campaign = campaign.to_owned();
        self.transaction(move |tx| {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {TICKET} FROM tickets WHERE campaign = $1 AND status = 'open' \
                         ORDER BY id"
                    ),
                    &[&campaign],
                )
                .map_err(pg)?;
            rows.iter().map(ticket).collect()
        })
    }
}
