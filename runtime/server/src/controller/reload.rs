//! Hot reload (SPEC 5.8) and the admin API's answers. A reload (admin API,
//! SIGHUP, or a change in the watched directory) runs the loader off the
//! call path (a blocking task: compile or load and verify every artifact,
//! convert its prompts, prepare its flows); the controller then swaps the
//! new versions in at once. Calls in progress keep the `Flow` they started
//! with (each holds its `Arc`); new calls get the new version. A load that
//! fails (an artifact that does not verify, a prompt that cannot be played,
//! a knowledge base that does not load) is refused with its reason and the
//! running version keeps serving.
//! Every reload and refusal is in the event log with the content hashes;
//! rollback restores the previous version.

use super::{Core, fields};
use crate::api::ApiReply;
use dialect_media::{Law, PromptCache};
use dialect_switch::Version;
use jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Refusals kept for the status.
const REFUSALS: usize = 20;

/// What a reload's loading produced.
pub(crate) struct Loaded {
    /// The prepared version, or why the load was refused.
    pub result: Result<Version, String>,
    /// What asked for it.
    pub trigger: &'static str,
}

/// The versions the controller serves and has served.
pub(crate) struct Versions {
    /// The version serving new calls.
    pub current: Version,
    /// Since when it serves.
    pub since: Timestamp,
    /// The version before it, for rollback, and since when it had served.
    pub previous: Option<(Version, Timestamp)>,
    /// Recent refusals: when, and why.
    pub refusals: VecDeque<(Timestamp, String)>,
    /// Reloads done.
    pub reloads: u64,
    /// Reloads refused.
    pub refused: u64,
    /// A load is running.
    pub loading: bool,
    /// Admin callers waiting for the running load.
    pub waiting: Vec<oneshot::Sender<ApiReply>>,
}

pub(super) fn hashes(version: &Version) -> BTreeMap<String, String> {
    version
        .flows
        .iter()
        .map(|f| (f.program.name.clone(), f.hash.clone()))
        .collect()
}

/// What a version is, for the status: since when it served, and each
/// campaign's hash, compiler and signer (the trusted key that signed it,
/// when the server requires signatures).
fn deployed(version: &Version, since: Timestamp) -> Value {
    let campaigns: BTreeMap<&str, Value> = version
        .flows
        .iter()
        .map(|f| {
            let provenance = version.provenance.get(&f.program.name);
            (
                f.program.name.as_str(),
                json!({
                    "version": f.hash,
                    "compiler": provenance.map(|p| p.compiler.as_str()),
                    "signer": provenance.and_then(|p| p.signer.as_deref()),
                }),
            )
        })
        .collect();
    json!({ "since": since.to_string(), "campaigns": campaigns })
}

/// Loads and prepares every flow (in a blocking task): the loader, every
/// prompt converted, then one [`Version::prepare`] (every flow's
/// expressions compiled, every bot's knowledge base read), the same as at
/// startup.
fn load(
    loader: &crate::Loader,
    prompts: &PromptCache,
    media_root: &std::path::Path,
    endpoints: &BTreeMap<String, String>,
) -> Result<Version, String> {
    let artifacts = loader()?;
    for loaded in &artifacts {
        let program = &loaded.program;
        for prompt in &program.prompts {
            for law in [Law::Ulaw, Law::Alaw] {
                prompts.load(prompt, media_root, law).map_err(|e| {
                    format!(
                        "campaign `{}`: prompt {prompt:?} cannot be played: {e}",
                        program.name
                    )
                })?;
            }
        }
    }
    if artifacts.is_empty() {
        return Err("no campaign to serve".into());
    }
    Version::prepare(
        artifacts,
        &super::bots::read_knowledge(media_root),
        endpoints,
    )
    .map_err(|e| e.to_string())
}

impl Versions {
    /// Serving `current`, nothing reloaded yet.
    pub fn new(current: Version, since: Timestamp) -> Versions {
        Versions {
            current,
            since,
            previous: None,
            refusals: VecDeque::new(),
            reloads: 0,
            refused: 0,
            loading: false,
            waiting: Vec::new(),
        }
    }
}

impl Core {
    /// Starts a reload; `reply` (an admin caller) is answered when it is
    /// done.
    pub(super) fn reload(
        &mut self,
        trigger: &'static str,
        reply: Option<oneshot::Sender<ApiReply>>,
    ) {
        let Some(loader) = self.loader.clone() else {
            if let Some(reply) = reply {
                let _ = reply.send(ApiReply::error(
                    409,
                    "this server has no way to load flows again",
                ));
            }
            return;
        };
        if let Some(reply) = reply {
            self.versions.waiting.push(reply);
        }
        if self.versions.loading {
            return;
        }
        self.versions.loading = true;
        let (prompts, media_root, done) = (
            self.prompts.clone(),
            self.media_root.clone(),
            self.reload_tx.clone(),
        );
        let endpoints = self.config.services.bots.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || {
                load(&loader, &prompts, &media_root, &endpoints)
            })
            .await
            .unwrap_or_else(|e| Err(format!("the load failed: {e}")));
            let _ = done.send(Loaded { result, trigger }).await;
        });
    }

    /// A load finished: swap it in, or refuse it.
    pub(super) fn reloaded(&mut self, loaded: Loaded, now: Instant) {
        self.now = now;
        self.versions.loading = false;
        let reply = match loaded.result {
            Ok(flows) => {
                let unchanged = hashes(&flows) == hashes(&self.versions.current);
                if unchanged {
                    ApiReply::ok(json!({ "unchanged": true, "versions": hashes(&flows) }))
                } else {
                    let old = std::mem::replace(&mut self.versions.current, flows.clone());
                    let since = std::mem::replace(&mut self.versions.since, self.clock.at(now));
                    self.versions.previous = Some((old, since));
                    self.install(flows.clone());
                    self.versions.reloads += 1;
                    tracing::info!(trigger = loaded.trigger, versions = ?hashes(&flows), "reloaded");
                    self.log.record(
                        self.clock.at(now),
                        "",
                        "reload",
                        fields([
                            ("trigger", loaded.trigger.into()),
                            ("versions", json!(hashes(&flows))),
                        ]),
                    );
                    ApiReply::ok(json!({ "reloaded": true, "versions": hashes(&flows) }))
                }
            }
            Err(reason) => {
                self.versions.refused += 1;
                tracing::warn!(trigger = loaded.trigger, %reason, "reload refused; the running version keeps serving");
                self.versions
                    .refusals
                    .push_back((self.clock.at(now), reason.clone()));
                while self.versions.refusals.len() > REFUSALS {
                    self.versions.refusals.pop_front();
                }
                self.log.record(
                    self.clock.at(now),
                    "",
                    "reload_refused",
                    fields([
                        ("trigger", loaded.trigger.into()),
                        ("reason", reason.clone().into()),
                        ("serving", json!(hashes(&self.versions.current))),
                    ]),
                );
                ApiReply::refused(
                    422,
                    format!(
                        "the new flows were refused, the running version keeps serving: {reason}"
                    ),
                    json!({ "serving": hashes(&self.versions.current) }),
                )
            }
        };
        for waiting in self.versions.waiting.drain(..) {
            let _ = waiting.send(reply.clone());
        }
    }

    /// Restores the previous version.
    pub(super) fn rollback(&mut self, now: Instant) -> ApiReply {
        self.now = now;
        let Some((previous, _)) = self.versions.previous.take() else {
            return ApiReply::error(409, "there is no previous version to roll back to");
        };
        let current = std::mem::replace(&mut self.versions.current, previous.clone());
        let since = std::mem::replace(&mut self.versions.since, self.clock.at(now));
        self.versions.previous = Some((current, since));
        self.install(previous.clone());
        tracing::info!(versions = ?hashes(&previous), "rolled back");
        self.log.record(
            self.clock.at(now),
            "",
            "rollback",
            fields([("versions", json!(hashes(&previous)))]),
        );
        ApiReply::ok(json!({ "rolled_back": true, "versions": hashes(&previous) }))
    }

    /// Makes `flows` the version new calls get: the engine's routes, the
    /// directory of queues and agents, the customer agents.
    fn install(&mut self, version: Version) {
        self.hooks
            .set_programs(version.flows.iter().map(|f| &f.program));
        self.share_version(&json!(hashes(&version)));
        self.switch.install(version);
        let at = self.wall();
        let named: Vec<String> = self.ready_later.iter().cloned().collect();
        for agent in named {
            if self.switch.login(&agent, at) {
                self.switch.set_ready(&agent, at);
                self.ready_later.remove(&agent);
            }
        }
    }

    /// The admin status: versions (and calls on each, old ones included),
    /// queues, agents, reloads and refusals.
    pub(super) fn admin_status(&self) -> Value {
        let mut calls: BTreeMap<(String, String), usize> = BTreeMap::new();
        for call in self.calls.values() {
            *calls
                .entry((call.campaign.clone(), call.hash.clone()))
                .or_default() += 1;
        }
        let versions: Vec<Value> = calls
            .iter()
            .map(|((campaign, hash), n)| json!({ "campaign": campaign, "version": hash, "calls": n }))
            .collect();
        let ms = self.acd_ms(self.now);
        let queues: BTreeMap<&String, usize> = self
            .switch
            .directory()
            .queues
            .keys()
            .map(|q| (q, self.switch.acd().queue(q, ms).len()))
            .collect();
        let agents: BTreeMap<&str, String> = self
            .switch
            .acd()
            .agents()
            .map(|(name, state)| (name, format!("{state:?}")))
            .collect();
        let refusals: Vec<Value> = self
            .versions
            .refusals
            .iter()
            .map(|(at, reason)| json!({ "at": at.to_string(), "reason": reason }))
            .collect();
        json!({
            "cluster": self.cluster_status(self.now),
            "serving": hashes(&self.versions.current),
            "previous": self.versions.previous.as_ref().map(|(v, _)| hashes(v)),
            "deployed": deployed(&self.versions.current, self.versions.since),
            "previously_deployed": self.versions.previous.as_ref().map(|(v, since)| deployed(v, *since)),
            "calls_by_version": versions,
            "calls": self.calls.len(),
            "queues": queues,
            "agents": agents,
            "reloads": self.versions.reloads,
            "refused": self.versions.refused,
            "refusals": refusals,
            "loading": self.versions.loading,
            "alerts": self
                .switch
                .alerts()
                .iter()
                .map(|a| json!({
                    "campaign": a.campaign,
                    "alert": a.alert,
                    "subject": a.subject,
                    "value": a.value,
                }))
                .collect::<Vec<_>>(),
            "service_levels": self
                .switch
                .service_levels()
                .iter()
                .map(|(queue, (level, target))| (queue.clone(), json!({
                    "level_percent": f64::from(*level) / 100.0,
                    "target_percent": f64::from(*target) / 100.0,
                })))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    /// The metrics in Prometheus text format.
    pub(super) fn metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let mut active: BTreeMap<(String, String), usize> = BTreeMap::new();
        for call in self.calls.values() {
            *active
                .entry((call.campaign.clone(), call.hash.clone()))
                .or_default() += 1;
        }
        counter(
            "dialect_calls_active",
            "Calls in progress, by campaign and version.",
            "gauge",
            active
                .iter()
                .map(|((c, v), n)| (format!("{{campaign=\"{c}\",version=\"{v}\"}}"), *n as f64))
                .collect(),
        );
        counter(
            "dialect_dropped_total",
            "Packets and requests dropped or refused by the front end, by reason \
             (rate_limited, foreign_response, transactions_full, digest_replay, login_locked, \
             bad_contact, untrusted_agent, rtp_foreign, overload).",
            "counter",
            self.front
                .dropped
                .iter()
                .map(|(k, n)| (format!("{{reason=\"{k}\"}}"), *n as f64))
                .chain(std::iter::once((
                    "{reason=\"rtp_foreign\"}".to_string(),
                    self.media_stats
                        .foreign
                        .load(std::sync::atomic::Ordering::Relaxed) as f64,
                )))
                .chain(std::iter::once((
                    "{reason=\"overload\"}".to_string(),
                    self.load.refused_total() as f64,
                )))
                .collect(),
        );
        counter(
            "dialect_sip_wait_seconds",
            "How long SIP datagrams over UDP waited before the controller took them, from their \
             arrival in the socket (the kernel's receive stamps); a wait of 0.1 s starts load \
             shedding.",
            "histogram",
            self.load.wait_histogram(),
        );
        let (failed, throttled) = self.front.login_counts();
        counter(
            "dialect_logins_failed_total",
            "Failed logins (SIP digest, agent API Basic, admin bearer), and attempts refused \
             while locked out.",
            "counter",
            vec![
                ("{result=\"failed\"}".to_string(), failed as f64),
                ("{result=\"throttled\"}".to_string(), throttled as f64),
            ],
        );
        counter(
            "dialect_calls_total",
            "Calls received since the start.",
            "counter",
            vec![(String::new(), self.total_calls as f64)],
        );
        counter(
            "dialect_calls_ended_total",
            "Calls ended, by campaign and outcome.",
            "counter",
            self.ended
                .iter()
                .map(|((c, o), n)| (format!("{{campaign=\"{c}\",outcome=\"{o}\"}}"), *n as f64))
                .collect(),
        );
        let mut raised: BTreeMap<(String, String), usize> = BTreeMap::new();
        for alert in self.switch.alerts() {
            *raised.entry((alert.campaign, alert.alert)).or_default() += 1;
        }
        counter(
            "dialect_alerts_raised",
            "Monitoring alerts raised now, by campaign and kind.",
            "gauge",
            raised
                .iter()
                .map(|((c, a), n)| (format!("{{campaign=\"{c}\",alert=\"{a}\"}}"), *n as f64))
                .collect(),
        );
        let levels = self.switch.service_levels();
        counter(
            "dialect_queue_service_level",
            "Share of the calls that left each queue in the last 15 minutes answered within its service_time.",
            "gauge",
            levels
                .iter()
                .map(|(q, (level, _))| (format!("{{queue=\"{q}\"}}"), f64::from(*level) / 10_000.0))
                .collect(),
        );
        counter(
            "dialect_queue_service_level_target",
            "Each queue's service_level target.",
            "gauge",
            levels
                .iter()
                .map(|(q, (_, target))| {
                    (format!("{{queue=\"{q}\"}}"), f64::from(*target) / 10_000.0)
                })
                .collect(),
        );
        let ms = self.acd_ms(self.now);
        counter(
            "dialect_queue_waiting",
            "Calls waiting in each queue.",
            "gauge",
            self.switch
                .directory()
                .queues
                .keys()
                .map(|q| {
                    (
                        format!("{{queue=\"{q}\"}}"),
                        self.switch.acd().queue(q, ms).len() as f64,
                    )
                })
                .collect(),
        );
        counter(
            "dialect_queue_oldest_wait_seconds",
            "How long the oldest call of each queue has waited.",
            "gauge",
            self.switch
                .directory()
                .queues
                .keys()
                .map(|q| {
                    let wait = self.switch.acd().oldest_wait(q, ms).unwrap_or(0);
                    (format!("{{queue=\"{q}\"}}"), wait as f64 / 1000.0)
                })
                .collect(),
        );
        let mut states: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (_, state) in self.switch.acd().agents() {
            let name = match state {
                dialect_acd::State::Available { .. } => "available",
                dialect_acd::State::Idle { .. } => "idle",
                dialect_acd::State::Ringing { .. } => "ringing",
                dialect_acd::State::Busy { .. } => "busy",
                dialect_acd::State::WrapUp { .. } => "wrap_up",
                dialect_acd::State::LoggedOut => "logged_out",
            };
            *states.entry(name).or_default() += 1;
        }
        counter(
            "dialect_agents",
            "Agents by state.",
            "gauge",
            states
                .iter()
                .map(|(s, n)| (format!("{{state=\"{s}\"}}"), *n as f64))
                .collect(),
        );
        counter(
            "dialect_reloads_total",
            "Reloads swapped in, and refused.",
            "counter",
            vec![
                ("{result=\"loaded\"}".into(), self.versions.reloads as f64),
                ("{result=\"refused\"}".into(), self.versions.refused as f64),
            ],
        );
        counter(
            "dialect_rtp_packets_total",
            "RTP packets sent, received and lost (gaps in sequence numbers), ours the peers reported \
             lost (lost_by_peer, from their RTCP reception reports), and datagrams that were not RTP.",
            "counter",
            vec![
                (
                    "{direction=\"lost_by_peer\"}".into(),
                    self.media_stats.lost_by_peers.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{direction=\"sent\"}".into(),
                    self.media_stats.sent.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{direction=\"received\"}".into(),
                    self.media_stats.received.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{direction=\"garbage\"}".into(),
                    self.media_stats.garbage.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{direction=\"lost\"}".into(),
                    self.media_stats.lost.load(Ordering::Relaxed) as f64,
                ),
            ],
        );
        counter(
            "dialect_rtcp_reports_total",
            "RTCP reports sent to the peers (every 5 s of a call, on the RTP port + 1) and received \
             from them.",
            "counter",
            vec![
                (
                    "{direction=\"sent\"}".into(),
                    self.media_stats.rtcp_sent.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{direction=\"received\"}".into(),
                    self.media_stats.rtcp_received.load(Ordering::Relaxed) as f64,
                ),
            ],
        );
        let hooks = self.hooks.stats();
        counter(
            "dialect_webhooks_total",
            "Webhook attempts: events delivered, attempts to retry, events given up.",
            "counter",
            vec![
                (
                    "{result=\"delivered\"}".into(),
                    hooks.delivered.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{result=\"retried\"}".into(),
                    hooks.retried.load(Ordering::Relaxed) as f64,
                ),
                (
                    "{result=\"dead\"}".into(),
                    hooks.dead.load(Ordering::Relaxed) as f64,
                ),
            ],
        );
        let backlog = self
            .store
            .as_ref()
            .and_then(|s| dialect_store::OutboxStore::backlog(s.as_ref()).ok())
            .unwrap_or(0);
        counter(
            "dialect_webhooks_backlog",
            "Webhook events waiting to be delivered.",
            "gauge",
            vec![(String::new(), backlog as f64)],
        );
        counter(
            "dialect_event_log_dropped_total",
            "Event log lines dropped because the writer fell behind.",
            "counter",
            vec![(String::new(), self.log.dropped() as f64)],
        );
        if let Some(cluster) = &self.cluster {
            let node = cluster.node.replace(['"', '\\', '\n'], "_");
            counter(
                "dialect_cluster_leading",
                "1 while this node leads its cluster (takes calls, runs the ACD), 0 while it \
                 stands by; labelled with the node's name.",
                "gauge",
                vec![(
                    format!("{{node=\"{node}\"}}"),
                    if self.leading(self.now) { 1.0 } else { 0.0 },
                )],
            );
            counter(
                "dialect_cluster_nodes_up",
                "The nodes of this node's cluster seen in the last 10 s, this one included.",
                "gauge",
                vec![(format!("{{node=\"{node}\"}}"), cluster.nodes_up() as f64)],
            );
        }
        out
    }
}

/// Watches a directory: a fingerprint of its files (names, sizes, times)
/// checked twice a second; a change asks the controller for a reload.
pub(crate) async fn watch(dir: PathBuf, changed: mpsc::Sender<()>) {
    let fingerprint = |dir: &PathBuf| -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                } else {
                    files.push((path, meta.len(), meta.modified().ok()));
                }
            }
        }
        files.sort();
        files
    };
    let mut last = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or_default()
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let now = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || fingerprint(&dir))
                .await
                .unwrap_or_default()
        };
        if now != last {
            last = now;
            if changed.send(()).await.is_err() {
                break;
            }
        }
    }
}
