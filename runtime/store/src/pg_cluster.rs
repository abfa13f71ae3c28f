//! Several nodes, one contact centre (issue 21): what the nodes of a
//! cluster share besides the stores, on PostgreSQL only.
//!
//! - **Membership**: every node writes its row (`cluster_nodes`) at each
//!   heartbeat: its name, where it takes SIP and admin requests, the
//!   version it serves, when it started and when it was last seen, by
//!   the database server's clock.
//! - **Leadership**: one row (`cluster_leader`) names the node that serves
//!   calls and runs the ACD, and until when (a lease). A heartbeat renews
//!   the lease of the node that holds it, or takes it when it has lapsed,
//!   in one statement: of nodes beating at once, one gets it. The holder is
//!   named by its incarnation (one per process), so two processes given
//!   the same node name never both lead.
//! - **Agents' registrations** (`agent_bindings`): the leader keeps where
//!   each agent is rung (Contact and the `Path` through the proxy), so that
//!   the next leader rings them without waiting for them to register again.
//! - **Reloads** (`cluster_reloads`): a reload asked of one node is numbered
//!   here; every node sees the number grow at its next heartbeat and
//!   reloads too.

use postgres::Row;

use crate::pg::{DB_NOW, PgStore, pg};
use crate::store::StoreError;

/// This module's tables (migration 6 in `pg.rs`).
pub(crate) const SCHEMA: &str = "
CREATE TABLE cluster_nodes (
    name        TEXT PRIMARY KEY,
    incarnation TEXT   NOT NULL,
    sip         TEXT   NOT NULL,
    admin       TEXT   NOT NULL,
    version     TEXT   NOT NULL,
    started_ms  BIGINT NOT NULL,
    seen_ms     BIGINT NOT NULL
);
CREATE TABLE cluster_leader (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    node        TEXT   NOT NULL,
    incarnation TEXT   NOT NULL,
    since_ms    BIGINT NOT NULL,
    lease_ms    BIGINT NOT NULL
);
CREATE TABLE agent_bindings (
    agent       TEXT PRIMARY KEY,
    contact     TEXT   NOT NULL,
    path        TEXT   NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE TABLE cluster_reloads (
    id          BIGSERIAL PRIMARY KEY,
    node        TEXT   NOT NULL,
    at_ms       BIGINT NOT NULL
);
";

/// The statements that check the tables are this module's.
pub(crate) const CHECKS: &[&str] = &[
    "SELECT name, incarnation, sip, admin, version, started_ms, seen_ms FROM cluster_nodes LIMIT 0",
    "SELECT id, node, incarnation, since_ms, lease_ms FROM cluster_leader LIMIT 0",
    "SELECT agent, contact, path, expires_ms FROM agent_bindings LIMIT 0",
    "SELECT id, node, at_ms FROM cluster_reloads LIMIT 0",
];

/// What a node says of itself at each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    /// The node's name (`[cluster] node`), unique in the cluster.
    pub name: String,
    /// Its process's incarnation: a value of its own for each start.
    pub incarnation: String,
    /// Where it takes SIP.
    pub sip: String,
    /// Where its admin API listens (empty without one).
    pub admin: String,
    /// The version it serves (campaign and content hash, as JSON).
    pub version: String,
}

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// This incarnation holds the lead (for the lease given).
    pub leader: bool,
    /// The node that holds the lead, when its lease holds.
    pub leader_node: Option<String>,
    /// The number of the last cluster-wide reload (0: none yet).
    pub reload: i64,
}

/// A node as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Its name.
    pub name: String,
    /// Where it takes SIP.
    pub sip: String,
    /// Where its admin API listens (empty without one).
    pub admin: String,
    /// The version it serves (JSON).
    pub version: String,
    /// When it started (ms since the epoch, the database's clock).
    pub started_ms: i64,
    /// How long ago it was last seen, in ms (the database's clock).
    pub seen_ago_ms: i64,
    /// Whether it holds the lead.
    pub leader: bool,
}

/// Where an agent is rung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The agent's name.
    pub agent: String,
    /// Their phone's Contact URI.
    pub contact: String,
    /// The `Path` their REGISTER came through (RFC 3327), first hop first:
    /// the route to send their calls by.
    pub path: Vec<String>,
    /// How many seconds it still holds.
    pub expires_in_s: i64,
}

fn node(row: &Row) -> Result<ClusterNode, StoreError> {
    Ok(ClusterNode {
        name: row.try_get(0).map_err(pg)?,
        sip: row.try_get(1).map_err(pg)?,
        admin: row.try_get(2).map_err(pg)?,
        version: row.try_get(3).map_err(pg)?,
        started_ms: row.try_get(4).map_err(pg)?,
        seen_ago_ms: row.try_get(5).map_err(pg)?,
        leader: row.try_get(6).map_err(pg)?,
    })
}

impl PgStore {
    /// A node's heartbeat: its row written, and the lead renewed (when this
    /// incarnation holds it) or taken (when its lease has lapsed) for
    /// `lease_ms`, in one transaction. Of nodes beating at once, one takes
    /// a lapsed lead.
    pub fn beat(&self, me: &NodeBeat, lease_ms: i64) -> Result<Beat, StoreError> {
        let me = me.clone();
        self.transaction(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO cluster_nodes \
                     (name, incarnation, sip, admin, version, started_ms, seen_ms) \
                     VALUES ($1, $2, $3, $4, $5, {DB_NOW}, {DB_NOW}) \
                     ON CONFLICT (name) DO UPDATE SET \
                       started_ms = CASE WHEN cluster_nodes.incarnation = EXCLUDED.incarnation \
                         THEN cluster_nodes.started_ms ELSE EXCLUDED.started_ms END, \
                       incarnation = EXCLUDED.incarnation, sip = EXCLUDED.sip, \
                       admin = EXCLUDED.admin, version = EXCLUDED.version, \
                       seen_ms = EXCLUDED.seen_ms"
                ),
                &[&me.name, &me.incarnation, &me.sip, &me.admin, &me.version],
            )
            .map_err(pg)?;
            let led = tx
                .query_opt(
                    &format!(
                        "INSERT INTO cluster_leader (id, node, incarnation, since_ms, lease_ms) \
                         VALUES (1, $1, $2, {DB_NOW}, {DB_NOW} + $3) \
                         ON CONFLICT (id) DO UPDATE SET \
                           since_ms = CASE WHEN cluster_leader.incarnation = EXCLUDED.incarnation \
                             THEN cluster_leader.since_ms ELSE EXCLUDED.since_ms END, \
                           node = EXCLUDED.node, incarnation = EXCLUDED.incarnation, \
                           lease_ms = EXCLUDED.lease_ms \
                         WHERE cluster_leader.incarnation = EXCLUDED.incarnation \
                            OR cluster_leader.lease_ms < {DB_NOW} \
                         RETURNING node"
                    ),
                    &[&me.name, &me.incarnation, &lease_ms],
                )
                .map_err(pg)?;
            let leader_node: Option<String> = match &led {
                Some(_) => Some(me.name.clone()),
                None => tx
                    .query_opt(
                        &format!("SELECT node FROM cluster_leader WHERE lease_ms >= {DB_NOW}"),
                        &[],
                    )
                    .map_err(pg)?
                    .map(|row| row.try_get(0))
                    .transpose()
                    .map_err(pg)?,
            };
            let reload: i64 = tx
                .query_one("SELECT COALESCE(MAX(id), 0) FROM cluster_reloads", &[])
                .map_err(pg)?
                .try_get(0)
                .map_err(pg)?;
            Ok(Beat {
                leader: led.is_some(),
                leader_node,
                reload,
            })
        })
    }

    /// Gives the lead up, if this incarnation holds it (a node stopping):
    /// the next heartbeat of another node takes it at once.
    pub fn resign(&self, incarnation: &str) -> Result<(), StoreError> {
        let incarnation = incarnation.to_owned();
        self.transaction(move |tx| {
            tx.execute(
                "DELETE FROM cluster_leader WHERE incarnation = $1",
                &[&incarnation],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    /// The nodes the cluster has seen, by name, the leader marked.
    pub fn cluster_nodes(&self) -> Result<Vec<ClusterNode>, StoreError> {
        self.transaction(|tx| {
            tx.query(
                &format!(
                    "SELECT n.name, n.sip, n.admin, n.version, n.started_ms, \
                     {DB_NOW} - n.seen_ms, \
                     COALESCE(l.incarnation = n.incarnation AND l.lease_ms >= {DB_NOW}, false) \
                     FROM cluster_nodes n LEFT JOIN cluster_leader l ON l.id = 1 \
                     ORDER BY n.name"
                ),
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(node)
            .collect()
        })
    }

    /// Forgets a node (taken out of the cluster for good).
    pub fn forget_node(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.transaction(move |tx| {
            Ok(tx
                .execute("DELETE FROM cluster_nodes WHERE name = $1", &[&name])
                .map_err(pg)?
                > 0)
        })
    }

    /// Keeps where `agent` is rung, for `expires_s` seconds.
    pub fn bind_agent(
        &self,
        agent: &str,
        contact: &str,
        path: &[String],
        expires_s: i64,
    ) -> Result<(), StoreError> {
        let (agent, contact, path) = (agent.to_owned(), contact.to_owned(), path.join("\n"));
        self.transaction(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO agent_bindings (agent, contact, path, expires_ms) \
                     VALUES ($1, $2, $3, {DB_NOW} + $4::BIGINT * 1000) \
                     ON CONFLICT (agent) DO UPDATE SET contact = EXCLUDED.contact, \
                       path = EXCLUDED.path, expires_ms = EXCLUDED.expires_ms"
                ),
                &[&agent, &contact, &path, &expires_s],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    /// Forgets where `agent` is rung (unregistered, or expired).
    pub fn unbind_agent(&self, agent: &str) -> Result<(), StoreError> {
        let agent = agent.to_owned();
        self.transaction(move |tx| {
            tx.execute("DELETE FROM agent_bindings WHERE agent = $1", &[&agent])
                .map_err(pg)?;
            Ok(())
        })
    }

    /// The agents' registrations that still hold, by name.
    pub fn agent_bindings(&self) -> Result<Vec<Binding>, StoreError> {
        self.transaction(|tx| {
            tx.query(
                &format!(
                    "SELECT agent, contact, path, (expires_ms - {DB_NOW}) / 1000 \
                     FROM agent_bindings WHERE expires_ms > {DB_NOW} ORDER BY agent"
                ),
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(|row| {
                let path: String = row.try_get(2).map_err(pg)?;
                Ok(Binding {
                    agent: row.try_get(0).map_err(pg)?,
                    contact: row.try_get(1).map_err(pg)?,
                    path: path
                        .split('\n')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    expires_in_s: row.try_get(3).map_err(pg)?,
                })
            })
            .collect()
        })
    }

    /// Asks every node to reload (`node` asked): returns the reload's
    /// number, which the nodes see at their next heartbeat.
    pub fn request_reload(&self, node: &str) -> Result<i64, StoreError> {
        let node = node.to_owned();
        self.transaction(move |tx| {
            tx.query_one(
                &format!(
                    "INSERT INTO cluster_reloads (node, at_ms) VALUES ($1, {DB_NOW}) RETURNING id"
                ),
                &[&node],
            )
            .map_err(pg)?
            .try_get(0)
            .map_err(pg)
        })
    }
}
