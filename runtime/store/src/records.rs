//! Survey results, scheduled survey calls and handoff tickets (SPEC 5.6,
//! 5.7) in the same embedded database as the callbacks, behind their own
//! narrow traits.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;

use crate::sqlite::SqliteStore;
use crate::store::StoreError;

/// The tables of this module, created with the others.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS survey_answers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign    TEXT    NOT NULL,
    survey      TEXT    NOT NULL,
    call        TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    answer      TEXT,
    at_ms       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scheduled_surveys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign    TEXT    NOT NULL,
    survey      TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    due_ms      INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT
);
CREATE INDEX IF NOT EXISTS scheduled_surveys_due ON scheduled_surveys (status, due_ms);
CREATE TABLE IF NOT EXISTS calls (
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    caller      TEXT    NOT NULL,
    dialled     TEXT    NOT NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    agent       TEXT,
    queue       TEXT,
    wait_ms     INTEGER
);
CREATE TABLE IF NOT EXISTS wrap_ups (
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    classifier  TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS voicemails (
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    caller      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS call_recordings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call        TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    caller      TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    channels    INTEGER NOT NULL,
    started_ms  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS call_recordings_started ON call_recordings (started_ms);
CREATE TABLE IF NOT EXISTS tickets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT    NOT NULL,
    campaign    TEXT    NOT NULL,
    customer    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    transcript  TEXT    NOT NULL,
    team        TEXT,
    owner       TEXT,
    status      TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL
);
";

/// One answer to one survey question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyAnswer {
    /// The campaign.
    pub campaign: String,
    /// The survey's qualified name.
    pub survey: String,
    /// The call, as in the event log (`call-7`).
    pub call: String,
    /// The customer's number.
    pub number: String,
    /// The question's name.
    pub question: String,
    /// The answer (`"5"`, `"10"`, `"yes"`, `"recorded"`), `None` when the
    /// caller gave none.
    pub answer: Option<String>,
    /// When it was given.
    #[serde(serialize_with = "rfc3339")]
    pub at: Timestamp,
}

/// A survey call to place later (a survey in `outbound` mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledSurvey {
    /// Its number in the store.
    pub id: i64,
    /// The campaign whose flow runs it.
    pub campaign: String,
    /// The survey's qualified name.
    pub survey: String,
    /// The customer to call.
    pub number: String,
    /// When to call.
    #[serde(serialize_with = "rfc3339")]
    pub due: Timestamp,
    /// `pending`, `placing`, `done` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// A handoff ticket (an asynchronous handoff, or a live one left
/// unassigned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    /// Its number in the store.
    pub id: i64,
    /// `voice` or `chat`.
    pub channel: String,
    /// The campaign (or chat channel) it came from.
    pub campaign: String,
    /// Who the customer is (number or chat name).
    pub customer: String,
    /// Why the customer agent handed off.
    pub reason: String,
    /// The conversation so far, one line per turn (`customer: ...`).
    pub transcript: Vec<String>,
    /// The team it is routed to.
    pub team: Option<String>,
    /// The agent who owns it.
    pub owner: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    /// When it was opened.
    #[serde(serialize_with = "rfc3339")]
    pub created: Timestamp,
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTicket {
    /// `voice` or `chat`.
    pub channel: String,
    /// The campaign or chat channel.
    pub campaign: String,
    /// The customer.
    pub customer: String,
    /// Why.
    pub reason: String,
    /// The conversation so far.
    pub transcript: Vec<String>,
    /// The team.
    pub team: Option<String>,
    /// The owner.
    pub owner: Option<String>,
}

fn rfc3339<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_string())
}

fn time(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Unreadable(format!("{ms} is not a time: {e}")))
}

/// Survey results and scheduled survey calls.
pub trait SurveyStore {
    /// Stores one answer.
    fn record_answer(&self, answer: &SurveyAnswer) -> Result<(), StoreError>;

    /// The answers of one call (`Some`) or all of them, oldest first.
    fn answers(&self, call: Option<&str>) -> Result<Vec<SurveyAnswer>, StoreError>;

    /// Schedules a survey call; returns its id.
    fn schedule_survey(
        &self,
        campaign: &str,
        survey: &str,
        number: &str,
        due: Timestamp,
    ) -> Result<i64, StoreError>;

    /// In one transaction, moves the pending survey calls due at `now` to
    /// `placing` and returns them: each is claimed once.
    fn claim_due_surveys(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ScheduledSurvey>, StoreError>;

    /// When the next pending survey call is due.
    fn next_survey_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// A survey call ended: `done` with its outcome, or `failed`.
    fn finish_survey(&self, id: i64, done: bool, outcome: &str) -> Result<(), StoreError>;

    /// Every scheduled survey call, by due time.
    fn scheduled_surveys(&self) -> Result<Vec<ScheduledSurvey>, StoreError>;

    /// After a crash: survey calls left `placing` go back to pending.
    fn recover_surveys(&self) -> Result<usize, StoreError>;
}

/// A call detail record: one per call, written when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The call (`call-7`).
    pub call: String,
    /// Its campaign.
    pub campaign: String,
    /// The artifact version it ran on (content hash).
    pub version: String,
    /// Who called.
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// When it started.
    #[serde(serialize_with = "rfc3339")]
    pub started: Timestamp,
    /// When it ended.
    #[serde(serialize_with = "rfc3339")]
    pub ended: Timestamp,
    /// How it ended (the hang-up reason).
    pub outcome: String,
    /// The agent who talked with the caller last, if any.
    pub agent: Option<String>,
    /// The queue it waited in last, if any.
    pub queue: Option<String>,
    /// How long it waited for an agent, in milliseconds.
    pub wait_ms: Option<u64>,
}

/// Call detail records, wrap-ups (classifiers and record fields applied)
/// and the voicemail index.
pub trait RecordStore {
    /// Stores a call's detail record.
    fn record_call(&self, record: &CallRecord) -> Result<(), StoreError> {
        self.record_calls(std::slice::from_ref(record))
    }

    /// Stores call detail records in one transaction (one commit, so one
    /// sync of the file for the lot): all of them or, on an error, none.
    fn record_calls(&self, records: &[CallRecord]) -> Result<(), StoreError>;

    /// Every call detail record, oldest first.
    fn calls(&self) -> Result<Vec<CallRecord>, StoreError>;

    /// Stores an agent's wrap-up of a call: the classifier and the record
    /// fields (JSON object).
    #[allow(clippy::too_many_arguments)]
    fn record_wrap_up(
        &self,
        call: &str,
        campaign: &str,
        agent: &str,
        number: &str,
        classifier: &str,
        fields: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Indexes a voicemail message.
    fn record_voicemail(
        &self,
        call: &str,
        campaign: &str,
        caller: &str,
        path: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Voicemail messages: (call, campaign, caller, path), oldest first.
    fn voicemails(&self) -> Result<Vec<(String, String, String, String)>, StoreError>;

    /// Indexes a recorded conversation (its file is durable); its id.
    fn record_conversation(&self, recording: &CallRecording) -> Result<i64, StoreError>;

    /// Recorded conversations, newest first: of `campaigns` (all when
    /// `None`), at most `limit`.
    fn conversations(
        &self,
        campaigns: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<CallRecording>, StoreError>;

    /// One recorded conversation.
    fn conversation(&self, id: i64) -> Result<Option<CallRecording>, StoreError>;

    /// Removes from the index the conversations started before `before`
    /// (the retention policy) and returns them, so that their files go too.
    fn expire_conversations(&self, before: Timestamp) -> Result<Vec<CallRecording>, StoreError>;
}

/// A recorded conversation (the campaign's `recording`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CallRecording {
    /// Its id in the index (0 before it is indexed).
    pub id: i64,
    /// The call.
    pub call: String,
    /// The campaign.
    pub campaign: String,
    /// The caller's number.
    pub caller: String,
    /// The (first) agent.
    pub agent: String,
    /// The WAV file.
    pub path: String,
    /// 1 (`low`: both parties mixed) or 2 (`high`: caller left, agent right).
    pub channels: u16,
    /// When recording started (Unix milliseconds).
    pub started_ms: i64,
    /// Its length.
    pub duration_ms: i64,
}

fn conversation_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CallRecording> {
    Ok(CallRecording {
        id: row.get(0)?,
        call: row.get(1)?,
        campaign: row.get(2)?,
        caller: row.get(3)?,
        agent: row.get(4)?,
        path: row.get(5)?,
        channels: row.get(6)?,
        started_ms: row.get(7)?,
        duration_ms: row.get(8)?,
    })
}

const CONVERSATION_COLUMNS: &str =
    "id, call, campaign, caller, agent, path, channels, started_ms, duration_ms";

impl RecordStore for SqliteStore {
    fn record_calls(&self, records: &[CallRecord]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO calls (call, campaign, version, caller, dialled, started_ms, \
                 ended_ms, outcome, agent, queue, wait_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for r in records {
                insert.execute(params![
                    r.call,
                    r.campaign,
                    r.version,
                    r.caller,
                    r.dialled,
                    r.started.as_millisecond(),
                    r.ended.as_millisecond(),
                    r.outcome,
                    r.agent,
                    r.queue,
                    r.wait_ms.and_then(|w| i64::try_from(w).ok())
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn calls(&self) -> Result<Vec<CallRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT call, campaign, version, caller, dialled, started_ms, ended_ms, outcome, \
             agent, queue, wait_ms FROM calls ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, Option<String>>(9)?,
                row.get::<_, Option<i64>>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                call,
                campaign,
                version,
                caller,
                dialled,
                started,
                ended,
                outcome,
                agent,
                queue,
                wait,
            ) = row?;
            out.push(CallRecord {
                call,
                campaign,
                version,
                caller,
                dialled,
                started: time(started)?,
                ended: time(ended)?,
                outcome,
                agent,
                queue,
                wait_ms: wait.and_then(|w| u64::try_from(w).ok()),
            });
        }
        Ok(out)
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
        self.conn().execute(
            "INSERT INTO wrap_ups (call, campaign, agent, number, classifier, fields, at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                call,
                campaign,
                agent,
                number,
                classifier,
                fields,
                at.as_millisecond()
            ],
        )?;
        Ok(())
    }

    fn record_voicemail(
        &self,
        call: &str,
        campaign: &str,
        caller: &str,
        path: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO voicemails (call, campaign, caller, path, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![call, campaign, caller, path, at.as_millisecond()],
        )?;
        Ok(())
    }

    fn voicemails(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT call, campaign, caller, path FROM voicemails ORDER BY rowid")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_conversation(&self, r: &CallRecording) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO call_recordings (call, campaign, caller, agent, path, channels, \
             started_ms, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.call,
                r.campaign,
                r.caller,
                r.agent,
                r.path,
                r.channels,
                r.started_ms,
                r.duration_ms
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn conversations(
        &self,
        campaigns: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<CallRecording>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM call_recordings ORDER BY id DESC"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(row) = rows.next()? else { break };
            let r = conversation_row(row)?;
            if campaigns.is_none_or(|c| c.contains(&r.campaign)) {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn conversation(&self, id: i64) -> Result<Option<CallRecording>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM call_recordings WHERE id = ?1"
        ))?;
        let mut rows = stmt.query([id])?;
        Ok(match rows.next()? {
            Some(row) => Some(conversation_row(row)?),
            None => None,
        })
    }

    fn expire_conversations(&self, before: Timestamp) -> Result<Vec<CallRecording>, StoreError> {
        let mut conn = self.conn();
        // A write transaction from the start: a read one upgraded to a
        // write fails at once (not after the busy timeout) when another
        // connection writes meanwhile.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let expired = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM call_recordings WHERE started_ms < ?1"
            ))?;
            let rows = stmt.query_map([before.as_millisecond()], conversation_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        tx.execute(
            "DELETE FROM call_recordings WHERE started_ms < ?1",
            [before.as_millisecond()],
        )?;
        tx.commit()?;
        Ok(expired)
    }
}

/// Handoff tickets.
pub trait TicketStore {
    /// Opens a ticket.
    fn open_ticket(&self, ticket: &NewTicket, now: Timestamp) -> Result<Ticket, StoreError>;

    /// Every ticket, newest last.
    fn tickets(&self) -> Result<Vec<Ticket>, StoreError>;

    /// The ticket with this id, if there is one.
    fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        Ok(self.tickets()?.into_iter().find(|t| t.id == id))
    }

    /// Closes a ticket.
    fn close_ticket(&self, id: i64) -> Result<Ticket, StoreError>;

    /// The open tickets of `campaign`, oldest first.
    fn open_tickets(&self, campaign: &str) -> Result<Vec<Ticket>, StoreError> {
        Ok(self
            .tickets()?
            .into_iter()
            .filter(|t| t.campaign == campaign && t.status == "open")
            .collect())
    }
}

fn scheduled(row: &Row<'_>) -> rusqlite::Result<(i64, String, String, String, i64, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn into_scheduled(
    raw: (i64, String, String, String, i64, String, i64),
) -> Result<ScheduledSurvey, StoreError> {
    let (id, campaign, survey, number, due_ms, status, attempts) = raw;
    Ok(ScheduledSurvey {
        id,
        campaign,
        survey,
        number,
        due: time(due_ms)?,
        status,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    })
}

const SCHEDULED: &str = "id, campaign, survey, number, due_ms, status, attempts";
const TICKET: &str =
    "id, channel, campaign, customer, reason, transcript, team, owner, status, created_ms";

type RawTicket = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

fn ticket_row(row: &Row<'_>) -> rusqlite::Result<RawTicket> {
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
    ))
}

fn into_ticket(raw: RawTicket) -> Result<Ticket, StoreError> {
    let (id, channel, campaign, customer, reason, transcript, team, owner, status, created) = raw;
    Ok(Ticket {
        id,
        channel,
        campaign,
        customer,
        reason,
        transcript: transcript.lines().map(str::to_string).collect(),
        team,
        owner,
        status,
        created: time(created)?,
    })
}

impl SurveyStore for SqliteStore {
    fn record_answer(&self, a: &SurveyAnswer) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO survey_answers (campaign, survey, call, number, question, answer, at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                a.campaign,
                a.survey,
                a.call,
                a.number,
                a.question,
                a.answer,
                a.at.as_millisecond()
            ],
        )?;
        Ok(())
    }

    fn answers(&self, call: Option<&str>) -> Result<Vec<SurveyAnswer>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT campaign, survey, call, number, question, answer, at_ms FROM survey_answers \
             WHERE ?1 IS NULL OR call = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([call], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (campaign, survey, call, number, question, answer, at) = row?;
            out.push(SurveyAnswer {
                campaign,
                survey,
                call,
                number,
                question,
                answer,
                at: time(at)?,
            });
        }
        Ok(out)
    }

    fn schedule_survey(
        &self,
        campaign: &str,
        survey: &str,
        number: &str,
        due: Timestamp,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO scheduled_surveys (campaign, survey, number, due_ms, status) \
             VALUES (?1, ?2, ?3, ?4, 'pending')",
            params![campaign, survey, number, due.as_millisecond()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn claim_due_surveys(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ScheduledSurvey>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let raws = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {SCHEDULED} FROM scheduled_surveys WHERE status = 'pending' \
                 AND due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(
                params![
                    now.as_millisecond(),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                scheduled,
            )?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut claimed = Vec::with_capacity(raws.len());
        for raw in raws {
            tx.execute(
                "UPDATE scheduled_surveys SET status = 'placing', attempts = attempts + 1 \
                 WHERE id = ?1",
                [raw.0],
            )?;
            let mut survey = into_scheduled(raw)?;
            survey.status = "placing".into();
            survey.attempts += 1;
            claimed.push(survey);
        }
        tx.commit()?;
        Ok(claimed)
    }

    fn next_survey_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = self.conn().query_row(
            "SELECT MIN(due_ms) FROM scheduled_surveys WHERE status = 'pending'",
            [],
            |row| row.get(0),
        )?;
        next.map(time).transpose()
    }

    fn finish_survey(&self, id: i64, done: bool, outcome: &str) -> Result<(), StoreError> {
        let changed = self.conn().execute(
            "UPDATE scheduled_surveys SET status = ?2, outcome = ?3 WHERE id = ?1",
            params![id, if done { "done" } else { "failed" }, outcome],
        )?;
        if changed == 0 {
            return Err(StoreError::Unreadable(format!(
                "there is no survey call {id}"
            )));
        }
        Ok(())
    }

    fn scheduled_surveys(&self) -> Result<Vec<ScheduledSurvey>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SCHEDULED} FROM scheduled_surveys ORDER BY due_ms, id"
        ))?;
        let rows = stmt.query_map([], scheduled)?;
        rows.map(|r| into_scheduled(r?)).collect()
    }

    fn recover_surveys(&self) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "UPDATE scheduled_surveys SET status = 'pending' WHERE status = 'placing'",
            [],
        )?)
    }
}

impl SqliteStore {
    /// Stores a ticket with the id `id` (one kept elsewhere: a helpdesk's
    /// ticket brought in), or the next free id.
    pub fn insert_ticket(
        &self,
        id: Option<i64>,
        t: &NewTicket,
        now: Timestamp,
    ) -> Result<Ticket, StoreError> {
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO tickets ({}) VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8)",
                TICKET
            ),
            params![
                t.channel,
                t.campaign,
                t.customer,
                t.reason,
                t.transcript.join("\n"),
                t.team,
                t.owner,
                now.as_millisecond(),
                id
            ],
        )?;
        let id = conn.last_insert_rowid();
        let raw = conn.query_row(
            &format!("SELECT {TICKET} FROM tickets WHERE id = ?1"),
            [id],
            ticket_row,
        )?;
        into_ticket(raw)
    }
}

impl TicketStore for SqliteStore {
    fn open_ticket(&self, t: &NewTicket, now: Timestamp) -> Result<Ticket, StoreError> {
        self.insert_ticket(None, t, now)
    }

    fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {TICKET} FROM tickets ORDER BY id"))?;
        let rows = stmt.query_map([], ticket_row)?;
        rows.map(|r| into_ticket(r?)).collect()
    }

    fn open_tickets(&self, campaign: &str) -> Result<Vec<Ticket>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {TICKET} FROM tickets WHERE campaign = ?1 AND status = 'open' ORDER BY id"
        ))?;
        let rows = stmt.query_map([campaign], ticket_row)?;
        rows.map(|r| into_ticket(r?)).collect()
    }

    fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {TICKET} FROM tickets WHERE id = ?1"),
            [id],
            ticket_row,
        )
        .optional()?
        .map(into_ticket)
        .transpose()
    }

    fn close_ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        let conn = self.conn();
        conn.execute("UPDATE tickets SET status = 'closed' WHERE id = ?1", [id])?;
        let raw = conn
            .query_row(
                &format!("SELECT {TICKET} FROM tickets WHERE id = ?1"),
                [id],
                ticket_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound { id })?;
        into_ticket(raw)
    }
}
