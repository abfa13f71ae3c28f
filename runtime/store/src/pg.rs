//! The PostgreSQL implementation of the stores, for several nodes sharing
//! one contact centre (issue 21): callbacks and relationships
//! ([`CallbackStore`], [`RelationshipStore`]), the webhook outbox
//! (`pg_outbox.rs`), surveys, call records, recordings and tickets
//! (`pg_records.rs`) and customer records (`pg_customers.rs`), with the
//! same behaviour as [`crate::SqliteStore`] (the same test cases run
//! against both).
//!
//! The connection lives on a thread of its own: the stores' traits are
//! synchronous and are called from the runtime's threads (inside tokio),
//! where the blocking client cannot run. Each operation is a job sent to
//! that thread through a bounded channel; the caller waits for its answer.
//! A connection found closed is opened again before the next job.
//!
//! Callbacks are claimed with `FOR UPDATE SKIP LOCKED`: nodes claiming at
//! once each get other callbacks, and each pending callback is claimed
//! once. Creating and changing callbacks takes a lock on the table, as
//! SQLite's immediate transactions do, so the duplicate checks hold across
//! nodes.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use postgres::{Client, NoTls, Row, Transaction};

use crate::sqlite::DEFAULT_MAX_ATTEMPTS;
use crate::store::{
    Callback, CallbackStore, Created, Filter, RelationshipStore, Status, StoreError, changeable,
    duplicate, last_contact, relationship_key,
};
use crate::validate::{Kind, Valid};

/// The schema's migrations, in order: version `n` is the `n`-th. Applied in
/// one transaction, under an advisory lock (nodes starting at once).
const MIGRATIONS: &[&str] = &[
    CALLBACKS,
    crate::pg_outbox::SCHEMA,
    crate::pg_records::SCHEMA,
    crate::pg_customers::SCHEMA,
    CLAIMS,
    crate::pg_cluster::SCHEMA,
];

/// Who holds a claim and until when (migration 5): a claim of a node that
/// stopped renewing it lapses, and another node takes the row over. The
/// renewals (every handle, every few seconds) and the take-overs (every
/// claim) look at the rows being placed or sent only, through partial
/// indexes: never a scan of the delivered outbox.
const CLAIMS: &str = "
ALTER TABLE callbacks ADD COLUMN claimed_by TEXT;
ALTER TABLE callbacks ADD COLUMN lease_ms BIGINT;
ALTER TABLE scheduled_surveys ADD COLUMN claimed_by TEXT;
ALTER TABLE scheduled_surveys ADD COLUMN lease_ms BIGINT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_ms BIGINT;
CREATE INDEX callbacks_claims ON callbacks (claimed_by) WHERE status = 'placing';
CREATE INDEX scheduled_surveys_claims ON scheduled_surveys (claimed_by) WHERE status = 'placing';
CREATE INDEX outbox_claims ON outbox (claimed_by) WHERE status = 'sending';
";

/// The database server's clock in milliseconds: leases are measured by one
/// clock for every node (never the flows' clock, which may be set).
pub(crate) const DB_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// How long a claim holds without renewal, unless set with
/// [`PgStore::connect_with_lease`]. Renewed every third of it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Callbacks and relationships (migration 1).
const CALLBACKS: &str = "
CREATE TABLE callbacks (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    start_ms    BIGINT  NOT NULL,
    end_ms      BIGINT,
    zone        TEXT    NOT NULL,
    queue       TEXT    NOT NULL,
    reason      TEXT,
    assignee    TEXT,
    created_by  TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL DEFAULT 0,
    due_ms      BIGINT  NOT NULL,
    outcome     TEXT,
    changed_by  TEXT,
    campaign    TEXT
);
CREATE UNIQUE INDEX callbacks_open
    ON callbacks (number, queue) WHERE status IN ('pending', 'placing');
CREATE INDEX callbacks_due ON callbacks (status, due_ms);
CREATE INDEX callbacks_start ON callbacks (start_ms);
CREATE TABLE relationships (
    campaign    TEXT NOT NULL,
    number      TEXT NOT NULL,
    last_agent  TEXT,
    last_ms     BIGINT,
    owner       TEXT,
    PRIMARY KEY (campaign, number)
);
";

/// The advisory lock taken while the schema is brought up to date.
const SCHEMA_LOCK: i64 = 0x6469_616c_6563_7401;

const COLUMNS: &str = "id, kind, number, name, start_ms, end_ms, zone, queue, reason, assignee, \
                       created_by, created_ms, status, attempts, due_ms, outcome, changed_by, campaign";

/// Operations waiting for the connection's thread at most.
const JOBS: usize = 64;

type Job = Box<dyn FnOnce(Result<&mut Client, StoreError>) + Send>;

/// Callbacks and relationships in a PostgreSQL database shared by nodes.
///
/// Every operation is one transaction, committed before it returns (the
/// server's `synchronous_commit` decides what a crash of the database
/// machine may lose). Times are kept to the millisecond.
#[derive(Debug)]
pub struct PgStore {
    jobs: SyncSender<Job>,
    max_attempts: u32,
    /// This handle's name in the claims it holds (`claimed_by`).
    node: String,
    /// How long its claims hold, in milliseconds, unless renewed.
    lease_ms: i64,
}

impl PgStore {
    /// Connects to the database `config` (a `postgres://` URL or
    /// `key=value` pairs, as libpq takes them) and brings its schema up to
    /// date. A database that cannot be reached, or that was written by a
    /// newer version, gives an error naming it (without its password).
    pub fn connect(config: &str) -> Result<PgStore, StoreError> {
        PgStore::connect_with_lease(config, DEFAULT_LEASE)
    }

    /// [`PgStore::connect`], with claims (of callbacks, survey calls and
    /// webhook events) that hold `lease` unless renewed. The handle's
    /// thread renews them every third of it; when the process dies they
    /// lapse, and another node's next claim takes the rows over.
    pub fn connect_with_lease(config: &str, lease: Duration) -> Result<PgStore, StoreError> {
        let target = redacted(config);
        let node = node_name();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1);
        let renewal = Renewal {
            node: node.clone(),
            lease_ms,
            every: (lease / 3).max(Duration::from_millis(10)),
        };
        let parsed: postgres::Config = config.parse().map_err(|e| StoreError::Connect {
            target: target.clone(),
            reason: format!("{e}"),
        })?;
        // Connected on its own thread too: the blocking client starts a
        // runtime of its own, which cannot be done inside tokio's.
        let (jobs, waiting) = sync_channel::<Job>(JOBS);
        let (connected, connecting) = sync_channel(1);
        std::thread::Builder::new()
            .name("dialect-postgres".into())
            .spawn(move || match parsed.connect(NoTls) {
                Ok(client) => {
                    let _ = connected.send(Ok(()));
                    serve(client, parsed, target, waiting, &renewal);
                }
                Err(e) => {
                    let _ = connected.send(Err(StoreError::Connect {
                        target,
                        reason: reason(&e),
                    }));
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("no thread for PostgreSQL: {e}")))?;
        connecting.recv().map_err(|_| {
            StoreError::Unavailable("the PostgreSQL connection's thread ended".into())
        })??;
        let store = PgStore {
            jobs,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            node,
            lease_ms,
        };
        let config = redacted(config);
        store.call(move |client| migrate(client, &config))?;
        Ok(store)
    }

    /// Sets how many placements are made before a callback is marked
    /// `failed` (at least 1; [`DEFAULT_MAX_ATTEMPTS`] by default).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> PgStore {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// How many placements are made before a callback is marked `failed`.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// This handle's name in the claims it holds.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// This handle's name and lease (ms), for a claim.
    pub(crate) fn claimant(&self) -> (String, i64) {
        (self.node.clone(), self.lease_ms)
    }

    /// Runs `job` on the connection's thread and returns its answer.
    fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = answer.send(client.and_then(job));
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the PostgreSQL connection has ended".into()))?;
        answered
            .recv()
            .map_err(|_| StoreError::Unavailable("the PostgreSQL connection has ended".into()))?
    }

    /// Runs `job` in a transaction on the connection's thread, committed
    /// when it succeeds.
    pub(crate) fn transaction<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.call(move |client| {
            let mut tx = client.transaction().map_err(pg)?;
            let answer = job(&mut tx)?;
            tx.commit().map_err(pg)?;
            Ok(answer)
        })
    }
}

/// What the connection's thread renews, and how often.
struct Renewal {
    node: String,
    lease_ms: i64,
    every: Duration,
}

/// A name for a handle's claims: the host, the process and a number of its
/// own, so that no two handles, here or on another node, share one.
fn node_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    static HANDLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{host}-{}-{}-{:08x}",
        std::process::id(),
        HANDLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        hasher.finish() as u32
    )
}

/// The connection's thread: runs the jobs in order until the store is
/// dropped, opening the connection again when it was closed, and renews
/// the handle's claims every [`Renewal::every`].
fn serve(
    mut client: Client,
    config: postgres::Config,
    target: String,
    jobs: Receiver<Job>,
    renewal: &Renewal,
) {
    let mut renew_at = Instant::now() + renewal.every;
    loop {
        let wait = renew_at.saturating_duration_since(Instant::now());
        let job = match jobs.recv_timeout(wait) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if client.is_closed() {
            match config.connect(NoTls) {
                Ok(again) => client = again,
                Err(e) => {
                    if let Some(job) = job {
                        job(Err(StoreError::Connect {
                            target: target.clone(),
                            reason: reason(&e),
                        }));
                    }
                    continue;
                }
            }
        }
        if let Some(job) = job {
            job(Ok(&mut client));
        }
        if Instant::now() >= renew_at {
            // A failed renewal is tried again next time; the claims hold
            // for a lease, three renewals.
            let _ = renew(&mut client, renewal);
            renew_at = Instant::now() + renewal.every;
        }
    }
}

/// Extends the leases of the claims `renewal.node` holds.
fn renew(client: &mut Client, renewal: &Renewal) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    for (table, status) in [
        ("callbacks", "placing"),
        ("scheduled_surveys", "placing"),
        ("outbox", "sending"),
    ] {
        tx.execute(
            &format!(
                "UPDATE {table} SET lease_ms = {DB_NOW} + $2 \
                 WHERE claimed_by = $1 AND status = '{status}'"
            ),
            &[&renewal.node, &renewal.lease_ms],
        )?;
    }
    tx.commit()
}

/// `config` without its password, to name the database in errors and logs:
/// rebuilt from what it says (user, hosts, ports, database) rather than
/// cut from its text, so no spelling of a password (quoted, in a query,
/// percent-encoded) gets through. A configuration that does not parse is
/// not shown at all.
pub fn redacted(config: &str) -> String {
    let Ok(parsed) = config.parse::<postgres::Config>() else {
        return "(a PostgreSQL configuration that does not parse)".to_owned();
    };
    let user = parsed
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let ports = parsed.get_ports();
    let hosts = parsed
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(n, host)| {
            let host = match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => {
                    path.display().to_string().replace('/', "%2F")
                }
            };
            match ports.get(n).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    let db = parsed.get_dbname().unwrap_or_default();
    format!("postgres://{user}{hosts}/{db}")
}

/// What PostgreSQL said, with the server's message when there is one.
fn reason(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub(crate) fn pg(e: postgres::Error) -> StoreError {
    StoreError::Postgres(reason(&e))
}

fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
    let schema = |reason: String| StoreError::Incompatible {
        database: target.to_owned(),
        reason,
    };
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS dialect_schema (version BIGINT NOT NULL)")
        .map_err(pg)?;
    let version: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM dialect_schema", &[])
        .map_err(pg)?
        .try_get(0)
        .map_err(pg)?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Err(schema(format!(
            "it was written by a newer version (schema {version}, this version knows {known})"
        )));
    }
    for (n, migration) in MIGRATIONS.iter().enumerate() {
        let n = i64::try_from(n).unwrap_or(i64::MAX).saturating_add(1);
        if n > version {
            tx.batch_execute(migration)
                .map_err(|e| schema(format!("migration {n}: {}", reason(&e))))?;
        }
    }
    if version < known {
        tx.execute("DELETE FROM dialect_schema", &[]).map_err(pg)?;
        tx.execute(
            "INSERT INTO dialect_schema (version) VALUES ($1)",
            &[&known],
        )
        .map_err(pg)?;
    }
    // A foreign table lacks columns: say so now rather than on the first
    // operation.
    for check in [
        format!("SELECT {COLUMNS} FROM callbacks LIMIT 0"),
        "SELECT campaign, number, last_agent, last_ms, owner FROM relationships LIMIT 0".to_owned(),
        "SELECT id, campaign, call, seq, event, url, body, key, status, attempts, next_ms, \
         last_error, created_ms, head FROM outbox LIMIT 0"
            .to_owned(),
    ]
    .into_iter()
    .chain(crate::pg_records::CHECKS.iter().map(|c| (*c).to_owned()))
    .chain(crate::pg_customers::CHECKS.iter().map(|c| (*c).to_owned()))
    .chain(crate::pg_cluster::CHECKS.iter().map(|c| (*c).to_owned()))
    {
        tx.batch_execute(&check).map_err(|e| schema(reason(&e)))?;
    }
    tx.commit().map_err(pg)
}

fn callback(row: &Row) -> Result<Callback, StoreError> {
    let id: i64 = row.try_get(0).map_err(pg)?;
    let corrupt = |reason: String| StoreError::Corrupt { id, reason };
    let get_text = |n: usize| -> Result<String, StoreError> {
        row.try_get::<_, String>(n)
            .map_err(|e| corrupt(e.to_string()))
    };
    let get_opt_text = |n: usize| -> Result<Option<String>, StoreError> {
        row.try_get::<_, Option<String>>(n)
            .map_err(|e| corrupt(e.to_string()))
    };
    let get_int = |n: usize| -> Result<i64, StoreError> {
        row.try_get::<_, i64>(n).map_err(|e| corrupt(e.to_string()))
    };
    let time = |field: &str, ms: i64| {
        Timestamp::from_millisecond(ms)
            .map_err(|e| corrupt(format!("{field} {ms} is not a time: {e}")))
    };
    let kind = get_text(1)?;
    let status = get_text(12)?;
    let attempts = get_int(13)?;
    let end_ms: Option<i64> = row
        .try_get(5)
        .map_err(|e: postgres::Error| corrupt(e.to_string()))?;
    Ok(Callback {
        id,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt(format!("unknown kind '{kind}'")))?,
        number: get_text(2)?,
        name: get_text(3)?,
        start: time("start", get_int(4)?)?,
        end: end_ms.map(|ms| time("end", ms)).transpose()?,
        zone: get_text(6)?,
        queue: get_text(7)?,
        reason: get_opt_text(8)?,
        assignee: get_opt_text(9)?,
        created_by: get_text(10)?,
        created: time("creation time", get_int(11)?)?,
        status: Status::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown status '{status}'")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt(format!("attempts {attempts} out of range")))?,
        due: time("due time", get_int(14)?)?,
        outcome: get_opt_text(15)?,
        changed_by: get_opt_text(16)?,
        campaign: get_opt_text(17)?,
    })
}

fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

fn fetch(tx: &mut Transaction<'_>, id: i64) -> Result<Callback, StoreError> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM callbacks WHERE id = $1"),
            &[&id],
        )
        .map_err(pg)?
        .ok_or(StoreError::NotFound { id })?;
    callback(&row)
}

/// The callback pending or being placed for `number` on `queue`, other than `except`.
fn open_for(
    tx: &mut Transaction<'_>,
    number: &str,
    queue: &str,
    except: i64,
) -> Result<Option<Callback>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM callbacks WHERE number = $1 AND queue = $2 \
             AND status IN ('pending', 'placing') AND id <> $3 ORDER BY id LIMIT 1"
        ),
        &[&number, &queue, &except],
    )
    .map_err(pg)?
    .map(|row| callback(&row))
    .transpose()
}

/// Serialises the changes of callbacks between nodes (SQLite's immediate
/// transactions do the same within one file): a duplicate check and the
/// write after it see the same table.
fn lock(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute("LOCK TABLE callbacks IN SHARE ROW EXCLUSIVE MODE")
        .map_err(pg)
}

impl CallbackStore for PgStore {
    fn create(
        &self,
        valid: &Valid,
        created_by: &str,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let valid = valid.clone();
        let created_by = created_by.to_owned();
        self.transaction(move |tx| {
            lock(tx)?;
            if let Some(existing) = open_for(tx, valid.number(), valid.queue(), -1)? {
                return match valid.kind() {
                    Kind::Web | Kind::Courtesy => Ok(Created {
                        callback: existing,
                        duplicate: true,
                    }),
                    Kind::Scheduled | Kind::Personal | Kind::Recall => Err(duplicate(&existing)),
                };
            }
            let row = tx
                .query_one(
                    "INSERT INTO callbacks (kind, number, name, start_ms, end_ms, zone, queue, \
                     reason, assignee, created_by, created_ms, status, attempts, due_ms, campaign) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', 0, $4, $12) \
                     RETURNING id",
                    &[
                        &valid.kind().as_str(),
                        &valid.number(),
                        &valid.name(),
                        &ms(valid.start()),
                        &valid.end().map(ms),
                        &valid.zone(),
                        &valid.queue(),
                        &valid.reason(),
                        &valid.assignee(),
                        &created_by,
                        &ms(now),
                        &valid.campaign(),
                    ],
                )
                .map_err(pg)?;
            let id: i64 = row.try_get(0).map_err(pg)?;
            Ok(Created {
                callback: fetch(tx, id)?,
                duplicate: false,
            })
        })
    }

    fn get(&self, id: i64) -> Result<Callback, StoreError> {
        self.transaction(move |tx| fetch(tx, id))
    }

    fn update(
        &self,
        id: i64,
        valid: &Valid,
        agent: &str,
        now: Timestamp,
    ) -> Result<Callback, StoreError> {
        let valid = valid.clone();
        let agent = agent.to_owned();
        self.transaction(move |tx| {
            lock(tx)?;
            let current = fetch(tx, id)?;
            changeable(&current, now)?;
            if current.kind != valid.kind() {
                return Err(StoreError::KindChange {
                    id,
                    from: current.kind,
                    to: valid.kind(),
                });
            }
            if let Some(existing) = open_for(tx, valid.number(), valid.queue(), id)? {
                return Err(duplicate(&existing));
            }
            tx.execute(
                "UPDATE callbacks SET number = $2, name = $3, start_ms = $4, end_ms = $5, \
                 zone = $6, queue = $7, reason = $8, assignee = $9, due_ms = $4, \
                 changed_by = $10 WHERE id = $1",
                &[
                    &id,
                    &valid.number(),
                    &valid.name(),
                    &ms(valid.start()),
                    &valid.end().map(ms),
                    &valid.zone(),
                    &valid.queue(),
                    &valid.reason(),
                    &valid.assignee(),
                    &agent,
                ],
            )
            .map_err(pg)?;
            fetch(tx, id)
        })
    }

    fn cancel(&self, id: i64, agent: &str, now: Timestamp) -> Result<Callback, StoreError> {
        let agent = agent.to_owned();
        self.transaction(move |tx| {
            lock(tx)?;
            let current = fetch(tx, id)?;
            changeable(&current, now)?;
            tx.execute(
                "UPDATE callbacks SET status = 'cancelled', changed_by = $2 WHERE id = $1",
                &[&id, &agent],
            )
            .map_err(pg)?;
            fetch(tx, id)
        })
    }

    fn list(&self, filter: &Filter) -> Result<Vec<Callback>, StoreError> {
        let filter = filter.clone();
        self.transaction(move |tx| {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM callbacks \
                         WHERE ($1::TEXT IS NULL OR created_by = $1 OR assignee = $1) \
                         AND ($2::TEXT IS NULL OR queue = $2) \
                         AND ($3::TEXT IS NULL OR status = $3) \
                         ORDER BY start_ms, id"
                    ),
                    &[
                        &filter.agent.as_deref(),
                        &filter.queue.as_deref(),
                        &filter.status.map(Status::as_str),
                    ],
                )
                .map_err(pg)?;
            rows.iter().map(callback).collect()
        })
    }

    fn claim_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Callback>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let max_attempts = i64::from(self.max_attempts);
        let (node, lease_ms) = self.claimant();
        self.transaction(move |tx| {
            // A dead node's lapsed claims first: pending again (or failed).
            take_over(tx, max_attempts, None)?;
            // Locked rows are another node's claim in progress: skipped, so
            // each callback goes to one node.
            let rows = tx
                .query(
                    &format!(
                        "UPDATE callbacks SET status = 'placing', claimed_by = $3, \
                         lease_ms = {DB_NOW} + $4 WHERE id IN ( \
                         SELECT id FROM callbacks WHERE status = 'pending' AND due_ms <= $1 \
                         ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                         RETURNING {COLUMNS}"
                    ),
                    &[&ms(now), &limit, &node, &lease_ms],
                )
                .map_err(pg)?;
            let mut claimed = rows.iter().map(callback).collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|cb| (cb.due, cb.id));
            Ok(claimed)
        })
    }

    fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.transaction(|tx| {
            let next: Option<i64> = tx
                .query_one(
                    "SELECT MIN(due_ms) FROM callbacks WHERE status = 'pending'",
                    &[],
                )
                .map_err(pg)?
                .try_get(0)
                .map_err(pg)?;
            next.map(|ms| {
                Timestamp::from_millisecond(ms).map_err(|e| {
                    StoreError::Unreadable(format!("due time {ms} is not a time: {e}"))
                })
            })
            .transpose()
        })
    }

    fn finish(&self, id: i64, outcome: &str) -> Result<Callback, StoreError> {
        let outcome = outcome.to_owned();
        let node = self.node.clone();
        self.transaction(move |tx| {
            let current = fetch_for_update(tx, id)?;
            placing_here(tx, &current, &node)?;
            tx.execute(
                "UPDATE callbacks SET status = 'done', outcome = $2, claimed_by = NULL, \
                 lease_ms = NULL WHERE id = $1",
                &[&id, &outcome],
            )
            .map_err(pg)?;
            fetch(tx, id)
        })
    }

    fn retry(&self, id: i64, at: Timestamp) -> Result<Callback, StoreError> {
        let max_attempts = self.max_attempts;
        let node = self.node.clone();
        self.transaction(move |tx| {
            let current = fetch_for_update(tx, id)?;
            placing_here(tx, &current, &node)?;
            let attempts = current.attempts.saturating_add(1);
            if attempts >= max_attempts {
                tx.execute(
                    "UPDATE callbacks SET status = 'failed', attempts = $2, outcome = $3, \
                     claimed_by = NULL, lease_ms = NULL WHERE id = $1",
                    &[
                        &id,
                        &i64::from(attempts),
                        &format!("gave up after {attempts} attempts"),
                    ],
                )
                .map_err(pg)?;
            } else {
                tx.execute(
                    "UPDATE callbacks SET status = 'pending', attempts = $2, due_ms = $3, \
                     claimed_by = NULL, lease_ms = NULL WHERE id = $1",
                    &[&id, &i64::from(attempts), &ms(at)],
                )
                .map_err(pg)?;
            }
            fetch(tx, id)
        })
    }

    /// Takes back the claims that lapsed (a node that died) and this
    /// handle's own: a live node's claims are left alone.
    fn recover(&self, _now: Timestamp) -> Result<Vec<Callback>, StoreError> {
        let max_attempts = i64::from(self.max_attempts);
        let node = self.node.clone();
        self.transaction(move |tx| {
            let ids = take_over(tx, max_attempts, Some(&node))?;
            let mut recovered = Vec::with_capacity(ids.len());
            for id in ids {
                recovered.push(fetch(tx, id)?);
            }
            Ok(recovered)
        })
    }
}

/// Callbacks being placed whose claim lapsed (and `node`'s own, when
/// given) go back to pending, the interrupted attempt counted, or to
/// `failed` once it was the last; returns their ids by due time. Two nodes
/// at once take each over once (the second finds it no longer placing).
fn take_over(
    tx: &mut Transaction<'_>,
    max_attempts: i64,
    node: Option<&str>,
) -> Result<Vec<i64>, StoreError> {
    let rows = tx
        .query(
            &format!(
                "UPDATE callbacks SET attempts = attempts + 1, \
                 status = CASE WHEN attempts + 1 >= $1 THEN 'failed' ELSE 'pending' END, \
                 outcome = CASE WHEN attempts + 1 >= $1 \
                   THEN 'interrupted; gave up after ' || (attempts + 1) || ' attempts' \
                   ELSE outcome END, \
                 claimed_by = NULL, lease_ms = NULL \
                 WHERE status = 'placing' \
                 AND (lease_ms IS NULL OR lease_ms < {DB_NOW} OR claimed_by = $2) \
                 RETURNING id, due_ms"
            ),
            &[&max_attempts, &node],
        )
        .map_err(pg)?;
    let mut ids = rows
        .iter()
        .map(|row| Ok((row.try_get::<_, i64>(1)?, row.try_get::<_, i64>(0)?)))
        .collect::<Result<Vec<_>, postgres::Error>>()
        .map_err(pg)?;
    ids.sort_unstable();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// Refuses to settle `current` unless it is being placed under this
/// handle's claim: one that lapsed and was taken over is another node's.
fn placing_here(
    tx: &mut Transaction<'_>,
    current: &Callback,
    node: &str,
) -> Result<(), StoreError> {
    if current.status != Status::Placing {
        return Err(StoreError::NotPlacing {
            id: current.id,
            status: current.status,
        });
    }
    let holder: Option<String> = tx
        .query_one(
            "SELECT claimed_by FROM callbacks WHERE id = $1",
            &[&current.id],
        )
        .map_err(pg)?
        .try_get(0)
        .map_err(pg)?;
    match holder {
        Some(holder) if holder != node => Err(StoreError::ClaimedElsewhere {
            what: format!("callback {}", current.id),
        }),
        _ => Ok(()),
    }
}

/// The callback `id`, its row locked until the transaction ends (a finish
/// and a retry from two nodes do not both pass the status check).
fn fetch_for_update(tx: &mut Transaction<'_>, id: i64) -> Result<Callback, StoreError> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM callbacks WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .map_err(pg)?
        .ok_or(StoreError::NotFound { id })?;
    callback(&row)
}

impl RelationshipStore for PgStore {
    fn set_last_agent(
        &self,
        campaign: &str,
        number: &str,
        agent: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (campaign, key, agent) = (
            campaign.to_owned(),
            relationship_key(number),
            agent.to_owned(),
        );
        self.transaction(move |tx| {
            tx.execute(
                "INSERT INTO relationships (campaign, number, last_agent, last_ms) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (campaign, number) DO UPDATE SET last_agent = $3, last_ms = $4",
                &[&campaign, &key, &agent, &ms(now)],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn last_agent(
        &self,
        campaign: &str,
        number: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError> {
        let (campaign, key, number) = (
            campaign.to_owned(),
            relationship_key(number),
            number.to_owned(),
        );
        self.transaction(move |tx| {
            let row = tx
                .query_opt(
                    "SELECT last_agent, last_ms FROM relationships \
                     WHERE campaign = $1 AND number = $2",
                    &[&campaign, &key],
                )
                .map_err(pg)?;
            let Some(row) = row else {
                return Ok(None);
            };
            last_contact(
                row.try_get(0).map_err(pg)?,
                row.try_get(1).map_err(pg)?,
                &number,
            )
        })
    }

    fn set_owner(&self, campaign: &str, number: &str, agent: &str) -> Result<(), StoreError> {
        let (campaign, key, agent) = (
            campaign.to_owned(),
            relationship_key(number),
            agent.to_owned(),
        );
        self.transaction(move |tx| {
            tx.execute(
                "INSERT INTO relationships (campaign, number, owner) VALUES ($1, $2, $3) \
                 ON CONFLICT (campaign, number) DO UPDATE SET owner = $3",
                &[&campaign, &key, &agent],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn clear_owner(&self, campaign: &str, number: &str) -> Result<(), StoreError> {
        let (campaign, key) = (campaign.to_owned(), relationship_key(number));
        self.transaction(move |tx| {
            tx.execute(
                "UPDATE relationships SET owner = NULL WHERE campaign = $1 AND number = $2",
                &[&campaign, &key],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn owner(&self, campaign: &str, number: &str) -> Result<Option<String>, StoreError> {
        let (campaign, key) = (campaign.to_owned(), relationship_key(number));
        self.transaction(move |tx| {
            let row = tx
                .query_opt(
                    "SELECT owner FROM relationships WHERE campaign = $1 AND number = $2",
                    &[&campaign, &key],
                )
                .map_err(pg)?;
            match row {
                Some(row) => row.try_get(0).map_err(pg),
                None => Ok(None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_leaves_in_a_name() {
        assert_eq!(
            redacted("postgres://dialect:s3cret@db.example:5432/cc"),
            "postgres://dialect@db.example:5432/cc"
        );
        assert_eq!(
            redacted("host=/run/pg user=dialect password='s3 cret' dbname=cc"),
            "postgres://dialect@%2Frun%2Fpg/cc"
        );
        assert_eq!(
            redacted("postgres://db.example/cc"),
            "postgres://db.example:5432/cc"
        );
        assert_eq!(
            redacted("postgres://db.example/cc?user=d&password=s3cret"),
            "postgres://d@db.example:5432/cc"
        );
        assert_eq!(
            redacted("postgres://d:s%33cret@%2Frun%2Fpg:5433/cc"),
            "postgres://d@%2Frun%2Fpg:5433/cc"
        );
        assert!(!redacted("password='s3cret").contains("s3cret"));
    }
}
