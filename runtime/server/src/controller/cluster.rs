//! The controller as a node of a cluster (`[cluster]`, docs/cluster.md).
//!
//! One node leads: it takes new calls and registrations, runs the ACD and
//! places callbacks and survey calls. The others stand by: they answer
//! Kamailio's OPTIONS probes, new INVITEs and REGISTERs with 503, so the
//! dispatcher sends everything to the leader, and they claim nothing. When
//! the leader dies its lease lapses and a standby takes the lead within
//! the lease (3 s by default): it reads the agents' registrations the
//! leader kept in the database, logs in those who start ready, claims due
//! callbacks and survey calls at once, and answers the next probe with 200.
//! So there is one ACD at a time: no agent is offered two calls by two
//! nodes, and calls are served in one priority order.
//!
//! A node that stops leading while it lives (its heartbeats fail, or it
//! was too slow to renew) stops taking calls and logs its agents out
//! (those on a call once it ends), so the new leader's offers are the only
//! ones.

use super::{Core, fields};
use crate::cluster::{Command, Update};
use crate::guard::Net;
use dialect_sip::message::{self, Message, Method};
use dialect_sip::transaction::TxKey;
use dialect_store::ClusterNode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// This node in its cluster.
pub(crate) struct ClusterState {
    /// This node's name.
    pub node: String,
    /// Until when it leads; `None`: it stands by.
    pub leading_until: Option<Instant>,
    /// The leader's name, as last seen.
    pub leader: Option<String>,
    /// The nodes, as last seen.
    pub nodes: Vec<ClusterNode>,
    /// The last cluster-wide reload seen (`None` before the first beat).
    pub reload_seen: Option<i64>,
    /// The last heartbeat's failure, if it failed.
    pub error: Option<String>,
    /// Where the requests to the heartbeat's task go.
    pub commands: mpsc::Sender<Command>,
    /// The proxies new calls and registrations must come from (empty:
    /// anywhere).
    pub proxies: Vec<Net>,
}

impl ClusterState {
    /// A node that stands by until its first heartbeat.
    pub fn new(config: &crate::config::Cluster, commands: mpsc::Sender<Command>) -> ClusterState {
        ClusterState {
            node: config.node.clone(),
            leading_until: None,
            leader: None,
            nodes: Vec::new(),
            reload_seen: None,
            error: None,
            commands,
            proxies: config
                .proxies
                .iter()
                .filter_map(|p| Net::parse(p).ok())
                .collect(),
        }
    }
}

impl ClusterState {
    /// The nodes seen within [`LIVE`].
    pub fn nodes_up(&self) -> usize {
        self.nodes.iter().filter(|n| live(n)).count()
    }
}

fn live(node: &ClusterNode) -> bool {
    node.seen_ago_ms < i64::try_from(LIVE.as_millis()).unwrap_or(i64::MAX)
}

impl Core {
    /// Whether this node takes calls: it leads its cluster, or has none.
    pub(super) fn leading(&self, now: Instant) -> bool {
        self.cluster
            .as_ref()
            .is_none_or(|c| c.leading_until.is_some_and(|until| now < until))
    }

    /// When this node's lead ends unless renewed.
    pub(super) fn lead_deadline(&self) -> Option<Instant> {
        self.cluster.as_ref().and_then(|c| c.leading_until)
    }

    /// A new request a node of a cluster does not take: one that does not
    /// come from a proxy (403), or any but a status query while it stands
    /// by (503, so the proxy sends it to the leader, and its probes take
    /// this node out). Returns whether it was answered so.
    pub(super) fn refused_by_cluster(
        &mut self,
        key: &TxKey,
        request: &Message,
        from: SocketAddr,
        now: Instant,
    ) -> bool {
        let Some(cluster) = &self.cluster else {
            return false;
        };
        let method = request.method();
        let status_query = method == Some(Method::Options)
            && request.request_uri_user().as_deref() == Some("status");
        if status_query {
            return false;
        }
        if matches!(method, Some(Method::Invite | Method::Register))
            && !cluster.proxies.is_empty()
            && !cluster.proxies.iter().any(|p| p.contains(from.ip()))
        {
            self.dropped(
                "not_from_proxy",
                from,
                "a new call or registration that did not come through [cluster] proxies",
            );
            self.forbid(key, request, now);
            return true;
        }
        if self.leading(now)
            || !matches!(
                method,
                Some(Method::Invite | Method::Register | Method::Options)
            )
        {
            return false;
        }
        let response = message::response_for(request, 503, "Standby")
            .with_to_tag(&self.ids.tag())
            .with_header("Retry-After", "1");
        let sent = self.tx.send_response(key, response, now);
        self.sip_sent(sent);
        true
    }

    /// A heartbeat's news: the lead taken, kept or lost, the nodes, a
    /// cluster-wide reload.
    pub(super) async fn on_cluster(&mut self, update: Update, now: Instant) {
        self.now = now;
        let was_leading = self.leading(now);
        let Some(cluster) = self.cluster.as_mut() else {
            return;
        };
        if update.error.is_some() {
            // The lead holds until it was due to lapse; nothing else is
            // known.
            cluster.error = update.error;
            return;
        }
        cluster.error = None;
        cluster.leading_until = update.leading_until;
        cluster.leader = update.leader;
        cluster.nodes = update.nodes;
        // This node made the reloads it asked for already.
        let seen = cluster
            .reload_seen
            .map(|seen| seen.max(update.reload_here.unwrap_or(0)));
        let reload = seen.is_some_and(|seen| update.reload > seen);
        cluster.reload_seen = Some(update.reload.max(seen.unwrap_or(0)));
        if reload {
            self.reload("cluster", None);
        }
        let leading = self.leading(now);
        if leading && !was_leading {
            self.took_the_lead(update.bindings.unwrap_or_default(), now);
            self.pump(now).await;
        } else if was_leading && !leading {
            self.lost_the_lead(now);
        }
    }

    /// Checks the lead's time: a lead not renewed in time ends.
    pub(super) fn on_lead_timeout(&mut self, now: Instant) {
        let lapsed = self
            .cluster
            .as_ref()
            .and_then(|c| c.leading_until)
            .is_some_and(|until| until <= now);
        if lapsed {
            if let Some(cluster) = self.cluster.as_mut() {
                cluster.leading_until = None;
            }
            self.lost_the_lead(now);
        }
    }

    /// This node leads from now: the agents' registrations the last leader
    /// kept are its own, those who start ready are logged in, and due
    /// callbacks and survey calls are claimed at once.
    fn took_the_lead(&mut self, bindings: Vec<dialect_store::Binding>, now: Instant) {
        let mut registered = 0usize;
        for binding in bindings {
            let expires = u32::try_from(binding.expires_in_s.max(1)).unwrap_or(u32::MAX);
            let Some(target) = super::front::rung_at(&binding.path, &binding.contact) else {
                continue;
            };
            if self.config.agents.iter().any(|a| a.name == binding.agent) {
                self.bind_agent(
                    &binding.agent,
                    (target, &binding.contact),
                    binding.path,
                    expires,
                    now,
                );
                registered += 1;
            }
        }
        // Agents rung at a configured address, on duty from the start, are
        // on duty again (a lead lost logged them out).
        let at = self.clock.at(now);
        let configured: Vec<String> = self
            .config
            .agents
            .iter()
            .filter(|a| a.ready && a.uri.is_some())
            .map(|a| a.name.clone())
            .collect();
        for agent in configured {
            if self.switch.acd().state(&agent) == Some(dialect_acd::State::LoggedOut)
                && self.switch.login(&agent, at)
            {
                self.switch.set_ready(&agent, at);
            }
        }
        self.callback_due = Some(now);
        self.survey_due = Some(now);
        self.log.record(
            self.wall(),
            "",
            "cluster_leader",
            fields([
                ("node", self.node_name().into()),
                ("agents_registered", registered.into()),
            ]),
        );
    }

    /// This node stands by from now: no new calls, and its agents are
    /// logged out (or made not ready, when on a call) so that it offers
    /// them nothing more.
    fn lost_the_lead(&mut self, now: Instant) {
        let at = self.clock.at(now);
        let agents: Vec<String> = self
            .switch
            .acd()
            .agents()
            .filter(|(_, state)| *state != dialect_acd::State::LoggedOut)
            .map(|(name, _)| name.to_string())
            .collect();
        for agent in &agents {
            if !self.switch.logout(agent, at) {
                self.switch.set_not_ready(agent, "standby", at);
            }
        }
        self.log.record(
            self.wall(),
            "",
            "cluster_standby",
            fields([
                ("node", self.node_name().into()),
                ("agents", agents.len().into()),
            ]),
        );
    }

    fn node_name(&self) -> String {
        self.cluster
            .as_ref()
            .map(|c| c.node.clone())
            .unwrap_or_default()
    }

    /// Keeps an agent's registration in the cluster's database, for the
    /// next leader.
    pub(super) fn share_binding(&self, agent: &str, contact: &str, path: &[String], expires: u32) {
        self.cluster_command(Command::Bind {
            agent: agent.to_string(),
            contact: contact.to_string(),
            path: path.to_vec(),
            expires_s: i64::from(expires),
        });
    }

    /// Forgets an agent's registration in the cluster's database.
    pub(super) fn share_unbinding(&self, agent: &str) {
        self.cluster_command(Command::Unbind(agent.to_string()));
    }

    /// Tells the heartbeat the version served now.
    pub(super) fn share_version(&self, version: &Value) {
        self.cluster_command(Command::Version(version.to_string()));
    }

    fn cluster_command(&self, command: Command) {
        if let Some(cluster) = &self.cluster
            && cluster.commands.try_send(command).is_err()
        {
            tracing::warn!("the cluster's heartbeat is behind: a request to it was dropped");
        }
    }

    /// A reload asked of this node (admin API, `dialect ctl reload`,
    /// SIGHUP): numbered in the database, so that every other node
    /// reloads at its next heartbeat.
    pub(super) fn cluster_reload(&self) {
        self.cluster_command(Command::Reload);
    }

    /// The cluster in the admin status: this node, the leader, every node
    /// with the version it serves and when it was last seen.
    pub(super) fn cluster_status(&self, now: Instant) -> Value {
        let Some(cluster) = &self.cluster else {
            return Value::Null;
        };
        let nodes: Vec<Value> = cluster
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "node": n.name,
                    "sip": n.sip,
                    "admin": n.admin,
                    "leader": n.leader,
                    "up": live(n),
                    "seen_ago_ms": n.seen_ago_ms,
                    "version": serde_json::from_str::<Value>(&n.version).unwrap_or(Value::Null),
                })
            })
            .collect();
        let versions: std::collections::BTreeSet<&str> =
            cluster.nodes.iter().map(|n| n.version.as_str()).collect();
        json!({
            "node": cluster.node,
            "leading": self.leading(now),
            "leader": cluster.leader,
            "nodes": nodes,
            "one_version": versions.len() <= 1,
            "error": cluster.error,
        })
    }
}

/// A node seen within this long is up.
const LIVE: Duration = Duration::from_secs(10);
