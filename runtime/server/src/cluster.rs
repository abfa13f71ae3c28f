//! A node of a cluster (`[cluster]`, docs/cluster.md): its heartbeat on the
//! shared PostgreSQL database, off the controller's thread.
//!
//! Every sixth of the lease the heartbeat writes the node's row and renews
//! or takes the lead (`dialect_store`'s `pg_cluster.rs`), and tells the
//! controller what it found ([`Update`]): whether this node leads and until
//! when by its own clock, the nodes, the last cluster-wide reload, and the
//! agents' registrations when it has just become the leader. The lead is
//! counted from before the statement that renewed it, less a sixth of the
//! lease, so this node stops leading before the database would let another
//! node take it.
//!
//! The controller's requests ([`Command`]) go the other way: agents'
//! registrations to keep, the version it serves, a reload for every node,
//! and the resignation when it stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialect_store::{Binding, ClusterNode, NodeBeat, PgStore, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the heartbeat's task, at most (more are dropped,
/// and logged: the registrations are written again at the next REGISTER).
pub(crate) const COMMANDS: usize = 256;

/// What the controller asks of the cluster.
#[derive(Debug)]
pub(crate) enum Command {
    /// Keep where an agent is rung.
    Bind {
        agent: String,
        contact: String,
        path: Vec<String>,
        expires_s: i64,
    },
    /// Forget where an agent is rung.
    Unbind(String),
    /// The version this node serves now (JSON).
    Version(String),
    /// Number a reload for every node (this node has reloaded already).
    Reload,
    /// Give the lead up (the node is stopping); answered when done.
    Resign(oneshot::Sender<()>),
}

/// What a heartbeat found.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    /// Until when this node leads (its own clock); `None`: it does not.
    pub leading_until: Option<Instant>,
    /// The leader's name, when one holds the lead.
    pub leader: Option<String>,
    /// The nodes the cluster knows.
    pub nodes: Vec<ClusterNode>,
    /// The last cluster-wide reload's number.
    pub reload: i64,
    /// The agents' registrations, read when this node has just become the
    /// leader.
    pub bindings: Option<Vec<Binding>>,
    /// The number of a reload this node asked for (and made already).
    pub reload_here: Option<i64>,
    /// Why the heartbeat failed (the lead then ends when it was due to).
    pub error: Option<String>,
}

/// The heartbeat's task: beats every sixth of `lease` until the controller
/// is gone, and carries out its commands in between.
pub(crate) async fn run(
    store: PgStore,
    mut me: NodeBeat,
    lease: Duration,
    mut commands: mpsc::Receiver<Command>,
    updates: mpsc::Sender<Update>,
) {
    let store = Arc::new(store);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let every = lease / 6;
    let mut leading_until: Option<Instant> = None;
    let mut reload_here = None;
    let mut next = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {
                next = Instant::now() + every;
                let started = Instant::now();
                let (beat, nodes) = {
                    let (store, me) = (store.clone(), me.clone());
                    blocking(move || {
                        let beat = store.beat(&me, lease_ms)?;
                        Ok((beat, store.cluster_nodes()?))
                    })
                    .await
                    .map_or_else(|e| (Err(e), Vec::new()), |(b, n)| (Ok(b), n))
                };
                let update = match beat {
                    Ok(beat) => {
                        let was_leading = leading_until.is_some_and(|u| Instant::now() < u);
                        leading_until = beat.leader.then(|| started + lease - every);
                        let bindings = if beat.leader && !was_leading {
                            let store = store.clone();
                            blocking(move || store.agent_bindings()).await.ok()
                        } else {
                            None
                        };
                        Update {
                            leading_until,
                            leader: beat.leader_node,
                            nodes,
                            reload: beat.reload,
                            bindings,
                            reload_here: reload_here.take(),
                            error: None,
                        }
                    }
                    Err(error) => Update {
                        // The lead holds until it was due to lapse.
                        leading_until,
                        leader: None,
                        nodes,
                        reload: 0,
                        bindings: None,
                        reload_here: None,
                        error: Some(error.to_string()),
                    },
                };
                if updates.send(update).await.is_err() {
                    return;
                }
            }
            command = commands.recv() => {
                let Some(command) = command else { return };
                match command {
                    Command::Version(version) => me.version = version,
                    Command::Bind { agent, contact, path, expires_s } => {
                        let store = store.clone();
                        let done = blocking(move || {
                            store.bind_agent(&agent, &contact, &path, expires_s)
                        })
                        .await;
                        if let Err(error) = done {
                            tracing::warn!(%error, "cannot keep an agent's registration");
                        }
                    }
                    Command::Unbind(agent) => {
                        let store = store.clone();
                        if let Err(error) = blocking(move || store.unbind_agent(&agent)).await {
                            tracing::warn!(%error, "cannot forget an agent's registration");
                        }
                    }
                    Command::Reload => {
                        let (store, name) = (store.clone(), me.name.clone());
                        match blocking(move || store.request_reload(&name)).await {
                            Ok(number) => reload_here = Some(number),
                            Err(error) => {
                                tracing::warn!(%error, "cannot ask the other nodes to reload");
                            }
                        }
                    }
                    Command::Resign(done) => {
                        let (store, incarnation) = (store.clone(), me.incarnation.clone());
                        if let Err(error) = blocking(move || store.resign(&incarnation)).await {
                            tracing::warn!(%error, "cannot give the lead up");
                        }
                        let _ = done.send(());
                        return;
                    }
                }
            }
        }
    }
}

/// Runs a store operation on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(job)
        .await
        .unwrap_or_else(|e| Err(StoreError::Unavailable(format!("the job failed: {e}"))))
}

/// An incarnation: this process's start, distinct from every other's (the
/// OS's random source).
pub(crate) fn incarnation(node: &str) -> String {
    let mut bytes = [0u8; 8];
    let random = getrandom::fill(&mut bytes).map_or(0, |()| u64::from_le_bytes(bytes));
    format!("{node}-{}-{random:016x}", std::process::id())
}
