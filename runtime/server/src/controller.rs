//! The controller (mini-redis style): `Server::serve` owns the SIP socket
//! and one controller loop (on a thread of its own under `dialect serve`)
//! that holds the switch (`dialect_switch`: the
//! engine, its timers, the ACD, queue waiting, customer agents), the SIP
//! transactions and dialogs, and the table of calls. The switch decides
//! each call's course; the controller turns SIP, media and HTTP into its
//! inputs and carries out its actions (`pump`, `act`). Media runs in one
//! task per leg, all paced by a shared 20 ms tick. Everything that can grow
//! is bounded: calls (503 past `max_calls`), channels, RTP ports,
//! transactions, registrations.
//!
//! Not connected yet: HTTP API blocks, records (identify, authorise,
//! tickets) and transfers to an extension; their commands are answered
//! with the engine's failure events and logged as `unavailable`, so a flow
//! takes its error exits instead of hanging.

mod agent_api;
mod bots;
mod callbacks;
mod chat;
mod cluster;
mod consult;
mod desk;
mod front;
pub mod harness;
mod http;
mod load;
mod phone;
mod queueing;
mod recording;
mod records_api;
mod reload;
mod surveys;
mod waiting;
mod webhook_events;

use crate::api::{ApiCall, Auth};
use crate::clock::Clock;
use crate::config::Config;
use crate::eventlog::{EventLog, fields};
use crate::leg::{self, LegSetup, MediaCommand, MediaEvent, MediaStats};
use crate::rtp_ports::{MediaSocket, Ports};
use crate::tls::{HttpListener, TlsListener};
use crate::voice::VoiceSender;
use dialect_acd::directory;
use dialect_engine::{Command, DialOutcome, Event, Outcome};
use dialect_media::{Law, PromptCache};
use dialect_sip::dialog::{Dialog, DialogId, Dialogs, Local, Match};
use dialect_sip::ids::Ids;
use dialect_sip::message::{self, Message, Method, Transport};
use dialect_sip::sdp::{self, Codec, LocalMedia};
use dialect_sip::transaction::{Incoming, Transactions, TuEvent, TxKey};
use dialect_switch::{Action, Switch, Version};
use load::{Load, ReadBy, bind_sip};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// The methods we take (`Allow`): REGISTER from agents, REFER and INFO
/// (keys) within calls, NOTIFY answered.
pub(crate) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, REFER, INFO, NOTIFY";

/// Who a second leg says is calling (`From`, and `P-Asserted-Identity`
/// when the called party is ours).
pub(crate) struct Identity {
    /// The user part: a number, or `dialect`.
    pub user: String,
    /// The display name.
    pub display: Option<String>,
    /// `P-Asserted-Identity` goes too (RFC 3325: to a party of our trust
    /// domain only, an agent's phone, never the trunk).
    pub asserted: bool,
}

/// What the server runs.
pub struct Options {
    /// The configuration.
    pub config: Config,
    /// The flows: loaded and verified artifacts.
    pub flows: Vec<dialect_bytecode::Loaded>,
    /// Where `play` prompt paths are relative to.
    pub media_root: PathBuf,
    /// The clock the flows see.
    pub clock: Clock,
    /// The event log.
    pub log: EventLog,
    /// Loads the flows again for a reload (verified artifacts, or why
    /// they cannot be served); without one, reloads are refused.
    pub loader: Option<Loader>,
    /// The directory to watch for new flows or artifacts.
    pub watch: Option<PathBuf>,
}

/// Loads every flow: verified artifacts, or the reason they cannot be
/// served. Runs off the call path (a blocking task).
pub type Loader = Arc<dyn Fn() -> Result<Vec<dialect_bytecode::Loaded>, String> + Send + Sync>;

/// The webhook subscriptions of a campaign: (event, URL) pairs, as its
/// `webhook` setting lists them (for tools that emit events offline, such
/// as `dialect records import`).
pub fn webhook_subscriptions(program: &dialect_bytecode::Program) -> Vec<(String, String)> {
    webhook_events::subscriptions(program)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The SIP address cannot be bound.
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The flows cannot be served (a flow that cannot be prepared, a
    /// knowledge base that does not load): the same policy as a reload's.
    #[error("{0}")]
    Unservable(#[from] dialect_switch::Unservable),
    /// The agent API's address cannot be bound.
    #[error("cannot listen for the agent API on {addr}: {source}")]
    Api {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The embedded database cannot be opened.
    #[error("{0}")]
    Database(String),
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
    /// A part of the configuration cannot be used (`[notify]`).
    #[error("{0}")]
    Config(String),
    /// A prompt cannot be converted.
    #[error("prompt {prompt} of `{name}` cannot be played: {error}")]
    Prompt {
        /// The campaign.
        name: String,
        /// The prompt.
        prompt: String,
        /// Why.
        error: String,
    },
}

/// How long a hung-up call's BYE waits for the ACK of our 2xx (64*T1, the
/// lifetime of the INVITE server transaction).
const ACK_WAIT: Duration = Duration::from_secs(32);

/// Agent API requests waiting for the controller, at most.
const API_CALLS: usize = 256;

/// Media events waiting for the controller, at most.
const MEDIA_EVENTS: usize = 4_096;

/// Binds the SIP socket and prepares every flow; then call [`Server::serve`].
pub struct Server {
    socket: UdpSocket,
    listener: tokio::net::TcpListener,
    /// SIP over TLS, when configured.
    sips: Option<TlsListener>,
    api: Option<(HttpListener, Arc<Auth>)>,
    api_rx: mpsc::Receiver<ApiCall>,
    services_rx: mpsc::Receiver<crate::services::ServiceResult>,
    chat_tx: mpsc::Sender<crate::api::ChatEvent>,
    chat_rx: mpsc::Receiver<crate::api::ChatEvent>,
    admin: Option<HttpListener>,
    admin_tx: mpsc::Sender<crate::admin::AdminCall>,
    admin_rx: mpsc::Receiver<crate::admin::AdminCall>,
    reload_rx: mpsc::Receiver<reload::Loaded>,
    watch: Option<PathBuf>,
    /// Delivers webhook events from the outbox (started by `serve`).
    webhooks: Option<crate::webhook_delivery::Worker>,
    core: Core,
    media_rx: mpsc::Receiver<(u64, MediaEvent)>,
    tick_tx: watch::Sender<u64>,
    /// A node of a cluster: its heartbeat (started by `serve`), and what
    /// the heartbeat reports.
    heartbeat: Option<Heartbeat>,
    cluster_rx: mpsc::Receiver<crate::cluster::Update>,
}

/// The heartbeat of a node of a cluster, before `serve` starts it.
struct Heartbeat {
    store: dialect_store::PgStore,
    me: dialect_store::NodeBeat,
    lease: Duration,
    commands: mpsc::Receiver<crate::cluster::Command>,
    updates: mpsc::Sender<crate::cluster::Update>,
}

impl Server {
    /// Loads the flows (compiling their expressions, converting every prompt
    /// once) and binds the SIP socket.
    pub async fn bind(options: Options) -> Result<Server, ServeError> {
        let addr = options.config.sip.listen;
        let socket = bind_sip(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let listener = tokio::net::TcpListener::bind(local)
            .await
            .map_err(|source| ServeError::Bind {
                addr: local,
                source,
            })?;
        let prompts = Arc::new(PromptCache::new());
        let notifier = crate::notify::Notifier::new(&options.config.notify)
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let database = crate::database::Database::of(&options.config);
        let webhooks = crate::webhook_delivery::Worker::new(
            database
                .open()
                .map_err(|e| ServeError::Database(e.to_string()))?,
            crate::webhook_delivery::Settings::from_config(&options.config.webhooks),
            options.log.clone(),
        )
        .with_clock(options.clock)
        .with_notifier(notifier.clone());
        let hooks = webhook_events::Hooks::new(
            options.flows.iter().map(|l| &l.program),
            options.config.webhooks.url.clone(),
            &webhooks,
        );
        for loaded in &options.flows {
            let program = &loaded.program;
            let name = program.name.clone();
            for prompt in &program.prompts {
                for law in [Law::Ulaw, Law::Alaw] {
                    prompts
                        .load(prompt, &options.media_root, law)
                        .map_err(|e| ServeError::Prompt {
                            name: name.clone(),
                            prompt: format!("{prompt:?}"),
                            error: e.to_string(),
                        })?;
                }
            }
        }
        let version = Version::prepare(
            options.flows,
            &bots::read_knowledge(&options.media_root),
            &options.config.services.bots,
        )?;
        let directory = version.directory.clone();
        let serving = version.clone();
        let (media_tx, media_rx) = mpsc::channel(MEDIA_EVENTS);
        let (tick_tx, tick_rx) = watch::channel(0u64);
        // Branches, tags, Call-IDs, SSRCs and the digest key come from the
        // operating system's CSPRNG, never from the clock or the pid.
        let mut ids = Ids::from_os();
        let digest = dialect_sip::auth::Digest::new(&options.config.sip.realm, Instant::now());
        let front = front::Front::new(&options.config, ids.token(16));
        let passwords: HashMap<String, String> = options
            .config
            .agents
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.password.clone()?)))
            .collect();
        let tls = match &options.config.tls {
            Some(tls) => Some(crate::tls::acceptor(tls).map_err(ServeError::Tls)?),
            None => None,
        };
        let https = tls
            .clone()
            .filter(|_| options.config.tls.as_ref().is_some_and(|t| t.https));
        let http = |listener: tokio::net::TcpListener| -> std::io::Result<HttpListener> {
            Ok(match &https {
                Some(acceptor) => HttpListener::Tls(TlsListener::new(listener, acceptor.clone())?),
                None => HttpListener::Plain(listener),
            })
        };
        let sips = match (&tls, options.config.tls.as_ref().and_then(|t| t.sip_listen)) {
            (Some(acceptor), Some(addr)) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind { addr, source })?;
                Some(
                    TlsListener::new(listener, acceptor.clone())
                        .map_err(|source| ServeError::Bind { addr, source })?,
                )
            }
            _ => None,
        };
        // The browser phone's gateway, when an agent's phone is the browser.
        let browser_agents: HashMap<String, String> = options
            .config
            .agents
            .iter()
            .filter(|a| a.browser_phone())
            .map(|a| (a.name.clone(), a.password.clone().unwrap_or_default()))
            .collect();
        let phones = if browser_agents.is_empty() {
            None
        } else {
            let controller = if local.ip().is_unspecified() {
                options.config.media.address
            } else {
                local.ip()
            };
            let (gateway, handle) = crate::webphone::Gateway::bind(
                options.config.media.address,
                controller,
                browser_agents,
                (options.log.clone(), options.clock),
            )
            .await
            .map_err(|source| ServeError::Bind {
                addr: SocketAddr::new(options.config.media.address, 0),
                source,
            })?;
            tokio::spawn(gateway.run());
            Some(handle)
        };
        let api = match options.config.api.listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .and_then(&http)
                    .map_err(|source| ServeError::Api { addr, source })?;
                let auth = Auth {
                    agents: options
                        .config
                        .agents
                        .iter()
                        .filter_map(|a| Some((a.name.clone(), a.password.clone()?)))
                        .collect(),
                    web_token: options.config.api.web_token.clone(),
                    throttle: Some(front.logins.clone()),
                    sessions: Arc::default(),
                    feed: Some(options.log.clone()),
                    secure_cookies: https.is_some(),
                    phones: phones.clone(),
                };
                Some((listener, Arc::new(auth)))
            }
            None => None,
        };
        let (api_tx, api_rx) = mpsc::channel(API_CALLS);
        let (chat_tx, chat_rx) = mpsc::channel(API_CALLS);
        let (admin_tx, admin_rx) = mpsc::channel(API_CALLS);
        let watch = options.watch.clone().filter(|_| options.config.admin.watch);
        let (reload_tx, reload_rx) = mpsc::channel(4);
        let admin = match options.config.admin.listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .and_then(&http)
                    .map_err(|source| ServeError::Api { addr, source })?,
            ),
            None => None,
        };
        let (services_tx, services_rx) = mpsc::channel(crate::services::SERVICE_RESULTS);
        let services = crate::services::Services::new(
            &options.config.services,
            services_tx,
            prompts.clone(),
            options.config.runtime.data.join("tts"),
        );
        let database = crate::database::Database::of(&options.config);
        let store = database
            .open()
            .map_err(|e| ServeError::Database(e.to_string()))?;
        let cdrs = crate::cdr::Cdrs::start(
            database
                .open()
                .map_err(|e| ServeError::Database(e.to_string()))?,
            options.log.clone(),
        );
        let recovered = store
            .recover(options.clock.now())
            .map_err(|e| ServeError::Database(e.to_string()))?
            .len();
        if directory
            .queues
            .values()
            .any(|q| q.announce_every_ms.is_some() || q.courtesy)
        {
            waiting::prepare(prompts.clone());
        }
        // A node of a cluster: its own handle for the heartbeat.
        let (cluster_tx, cluster_rx) = mpsc::channel(4);
        let (mut heartbeat, mut cluster) = (None, None);
        if let (Some(settings), crate::database::Database::Postgres(url)) =
            (&options.config.cluster, &database)
        {
            let (commands_tx, commands) = mpsc::channel(crate::cluster::COMMANDS);
            let store = dialect_store::PgStore::connect(url)
                .map_err(|e| ServeError::Database(e.to_string()))?;
            let admin_addr = admin
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.to_string())
                .unwrap_or_default();
            heartbeat = Some(Heartbeat {
                store,
                me: dialect_store::NodeBeat {
                    name: settings.node.clone(),
                    incarnation: crate::cluster::incarnation(&settings.node),
                    sip: local.to_string(),
                    admin: admin_addr,
                    version: serde_json::to_string(&reload::hashes(&serving)).unwrap_or_default(),
                },
                lease: Duration::from_millis(settings.lease_ms),
                commands,
                updates: cluster_tx,
            });
            cluster = Some(cluster::ClusterState::new(settings, commands_tx));
        }
        let origin = options.clock.now();
        let mut switch = Switch::new(version, origin, None);
        switch.set_max_calls(options.config.runtime.max_calls);
        // Open records and tickets change without calls: alerts are
        // evaluated every second whatever happens.
        switch.monitor_always(true);
        // Agents on duty from the start; one the flows do not name yet is
        // logged in when a version that names them is installed.
        let mut ready_later = std::collections::BTreeSet::new();
        for agent in options.config.agents.iter().filter(|a| a.ready) {
            if switch.login(&agent.name, origin) {
                switch.set_ready(&agent.name, origin);
            } else {
                ready_later.insert(agent.name.clone());
            }
        }
        let core = Core {
            local,
            switch,
            tx: Transactions::new(dialect_sip::transaction::Config {
                max_transactions: options.config.sip.max_transactions,
                ..Default::default()
            }),
            dialogs: Dialogs::new(),
            ids,
            notifier_mails: notifier.mails(),
            notifier_texts: notifier.texts(),
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_invite: HashMap::new(),
            timer_seq: 0,
            next_key: 1,
            pending: VecDeque::new(),
            pumping: false,
            store_errors: AtomicU64::new(0),
            sip_send_failed: AtomicU64::new(0),
            prompts,
            media_root: options.media_root,
            clock: options.clock,
            log: options.log,
            media_tx,
            tick: tick_rx,
            media_stats: Arc::new(MediaStats::default()),
            ports: Ports::new(
                options.config.media.address,
                options.config.media.port_min,
                options.config.media.port_max,
            ),
            agents: options
                .config
                .agents
                .iter()
                .filter_map(|a| {
                    // The browser phone rings at the gateway; a number
                    // through the trunk; else the configured URI.
                    let uri = match (&phones, a.phone_number(), &options.config.trunk) {
                        (Some(phones), _, _) if a.browser_phone() => phones.uri(&a.name),
                        (_, Some(number), Some(trunk)) => {
                            let host = trunk.uri.split_once(':').map_or("", |(_, h)| h);
                            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                            format!("sip:{number}@{host}")
                        }
                        _ => a.uri.clone()?,
                    };
                    Some((a.name.clone(), (uri_address(&uri)?, uri)))
                })
                .collect(),
            phones,
            config: options.config,
            total_calls: 0,
            chart: desk::Chart::default(),
            store: Some(store),
            cdrs,
            held: VecDeque::new(),
            load: Load::default(),
            hooks,
            recovered,
            api_tx,
            desks: HashMap::new(),
            owed: HashMap::new(),
            callback_calls: HashMap::new(),
            cb_legs: HashMap::new(),
            cb_dialogs: HashMap::new(),
            callback_due: None,
            awaiting_ack: Dialogs::new(),
            services,
            survey_due: None,
            store_poll: database
                .shared()
                .then(|| Instant::now() + crate::database::SHARED_POLL),
            survey_legs: HashMap::new(),
            pending_surveys: HashMap::new(),
            chats: HashMap::new(),
            chat_desks: HashMap::new(),
            loader: options.loader.clone(),
            versions: reload::Versions::new(serving, origin),
            reload_tx,
            ended: BTreeMap::new(),
            bye_deadlines: BTreeMap::new(),
            bye_slots: HashMap::new(),
            by_agent_tx: HashMap::new(),
            agent_dialogs: HashMap::new(),
            tcp: HashMap::new(),
            tls_peers: std::collections::HashSet::new(),
            sips_local: sips.as_ref().map(TlsListener::local_addr),
            received: [0, 0],
            digest,
            passwords,
            front,
            recordings: HashMap::new(),
            conversations: HashMap::new(),
            panel_offers: HashMap::new(),
            next_sweep: Instant::now(),
            ring_deadlines: BTreeMap::new(),
            starts: BTreeMap::new(),
            now: Instant::now(),
            scripted_media: None,
            switch_trace: None,
            tokens: http::Tokens::default(),
            ready_later,
            cluster,
            agent_routes: HashMap::new(),
        };
        Ok(Server {
            socket,
            listener,
            sips,
            api,
            api_rx,
            services_rx,
            chat_tx,
            chat_rx,
            admin,
            admin_tx,
            admin_rx,
            reload_rx,
            watch,
            webhooks: Some(webhooks),
            core,
            media_rx,
            tick_tx,
            heartbeat,
            cluster_rx,
        })
    }

    /// The address SIP listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local
    }

    /// The address the admin API listens on, if it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address the agent API listens on, if it is on.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// `https` when the APIs are served over TLS, else `http`.
    pub fn api_scheme(&self) -> &'static str {
        self.api
            .as_ref()
            .map(|(l, _)| l.scheme())
            .or_else(|| self.admin.as_ref().map(HttpListener::scheme))
            .unwrap_or("http")
    }

    /// The address SIP over TLS listens on, if it is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.sips.as_ref().map(TlsListener::local_addr)
    }

    /// Serves until `shutdown` completes; then hangs up every call (BYE) and
    /// returns once the BYEs are sent.
    pub async fn serve(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let tick_tx = self.tick_tx;
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(dialect_media::FRAME);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0u64;
            loop {
                interval.tick().await;
                n = n.wrapping_add(1);
                if tick_tx.send(n).is_err() {
                    break;
                }
            }
        });
        let (tcp_tx, mut tcp_rx) = mpsc::channel::<TcpEvent>(MEDIA_EVENTS);
        let listener = self.listener;
        let limits = TcpLimits {
            max: self.core.config.sip.max_connections,
            idle: Duration::from_secs(self.core.config.sip.idle_timeout_s),
        };
        let tls_acceptor = self
            .sips
            .take()
            .map(|sips| tokio::spawn(accept_tls(sips, tcp_tx.clone(), limits)));
        let acceptor = tokio::spawn(accept(listener, tcp_tx, limits));
        let http_limits = self.core.config.api.limits();
        let api = self.api.take().map(|(listener, auth)| {
            let calls = self.core.api_tx.clone();
            let chats = self.chat_tx.clone();
            tokio::spawn(async move {
                let _ =
                    crate::api::serve_with_chat(listener, auth, calls, chats, http_limits).await;
            })
        });
        let admin = self.admin.take().map(|listener| {
            let calls = self.admin_tx.clone();
            let token = self.core.config.admin.token.clone();
            let throttle = self.core.front.logins.clone();
            tokio::spawn(async move {
                let _ = crate::admin::serve(listener, token, calls, throttle, http_limits).await;
            })
        });
        let (changed_tx, mut changed_rx) = mpsc::channel::<()>(1);
        let watcher = self
            .watch
            .take()
            .map(|dir| tokio::spawn(reload::watch(dir, changed_tx)));
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let webhooks = self
            .webhooks
            .take()
            .map(|worker| tokio::spawn(worker.run()));
        let heartbeat = self.heartbeat.take().map(|h| {
            tokio::spawn(crate::cluster::run(
                h.store, h.me, h.lease, h.commands, h.updates,
            ))
        });
        self.core.startup(Instant::now());
        self.core.refresh_callback_due(Instant::now());
        self.core.refresh_survey_due(Instant::now());
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_536];
        let mut control = load::control_room();
        let refusing = self.core.load.refusing.clone();
        let mut datagrams =
            match load::Reader::start(&self.socket, &self.core.config, refusing.clone()) {
                Ok(datagrams) => datagrams,
                Err(error) => {
                    // No thread to read SIP with: nothing can be served.
                    tracing::error!(%error, "cannot start the SIP socket's reader");
                    return;
                }
            };
        loop {
            let deadline = self
                .core
                .next_deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                Ok(()) = self.socket.readable(), if !refusing.reading() => {
                    // What has arrived goes in one turn (up to a batch, so
                    // the other inputs still get their turn): one wake-up
                    // and one flush for many datagrams under load.
                    for _ in 0..DATAGRAM_BATCH {
                        let Ok(received) = load::try_receive(&self.socket, &mut buf, &mut control) else {
                            break;
                        };
                        if let Some(bytes) = buf.get(..received.len) {
                            let now = Instant::now();
                            if bytes.starts_with(b"INVITE ") {
                                refusing.passed(bytes, now);
                            }
                            self.core
                                .on_datagram(bytes, received.from, received.waited, now, ReadBy::Controller)
                                .await;
                        }
                        if refusing.reading() {
                            // The load is heavy: the reader reads from now.
                            break;
                        }
                    }
                }
                passed = datagrams.recv(), if !refusing.reader_ended() => {
                    let Some(first) = passed else {
                        // The reader is gone (it cannot be, short of a
                        // bug): the controller reads the socket from now on.
                        tracing::error!("the SIP socket's reader ended: the controller reads it");
                        refusing.end_reader();
                        continue;
                    };
                    // What the reader has passed on goes in one turn (up to
                    // a batch, so the other inputs still get their turn):
                    // one flush for many datagrams under load.
                    let mut next = Some(first);
                    let mut taken = 0;
                    while let Some(datagram) = next {
                        refusing.took();
                        let now = Instant::now();
                        let waited = now.saturating_duration_since(datagram.arrived);
                        self.core
                            .on_datagram(&datagram.bytes, datagram.from, waited, now, ReadBy::Reader)
                            .await;
                        taken += 1;
                        next = if taken < DATAGRAM_BATCH { datagrams.try_recv().ok() } else { None };
                    }
                }
                Some((call, event)) = self.media_rx.recv() => {
                    self.core.on_media(call, event, Instant::now()).await;
                }
                Some(event) = tcp_rx.recv() => {
                    self.core.on_tcp(event, Instant::now()).await;
                }
                Some(call) = self.admin_rx.recv() => {
                    let now = Instant::now();
                    self.core.now = now;
                    match call.request {
                        crate::admin::AdminRequest::Reload => {
                            self.core.cluster_reload();
                            self.core.reload("admin", Some(call.reply));
                        }
                        crate::admin::AdminRequest::Rollback => {
                            let _ = call.reply.send(self.core.rollback(now));
                        }
                        crate::admin::AdminRequest::Status => {
                            let _ = call.reply.send(crate::api::ApiReply::ok(self.core.admin_status()));
                        }
                        crate::admin::AdminRequest::Metrics => {
                            let _ = call.reply.send(crate::api::ApiReply::ok(Value::String(self.core.metrics())));
                        }
                    }
                }
                Some(update) = self.cluster_rx.recv() => {
                    self.core.on_cluster(update, Instant::now()).await;
                }
                Some(loaded) = self.reload_rx.recv() => {
                    let now = Instant::now();
                    self.core.reloaded(loaded, now);
                    // Agents the new version names may take waiting calls.
                    self.core.pump(now).await;
                }
                Some(()) = changed_rx.recv() => {
                    self.core.reload("watch", None);
                }
                Some(()) = hangup_signal(&mut hangup) => {
                    self.core.cluster_reload();
                    self.core.reload("SIGHUP", None);
                }
                Some(event) = self.chat_rx.recv() => {
                    let now = Instant::now();
                    self.core.on_chat(event, now);
                    self.core.pump(now).await;
                }
                Some(result) = self.services_rx.recv() => {
                    self.core.on_service(result, Instant::now()).await;
                }
                Some(call) = self.api_rx.recv() => {
                    let now = Instant::now();
                    let reply = self.core.on_api(call.request, now).await;
                    let _ = call.reply.send(reply);
                    self.core.pump(now).await;
                }
                () = self.core.cdrs.committed_more() => {
                    // Held messages whose records are durable go out below.
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    self.core.on_timeout(Instant::now()).await;
                }
                () = &mut shutdown => break,
            }
            self.core.flush(&mut Wire::Socket(&self.socket)).await;
        }
        tracing::info!(
            waits = %self.core.load.waits_json(),
            refused = self.core.load.refused_total(),
            refused_within_10ms = self.core.load.refused_promptly(),
            refused_by_reader = self.core.load.refused_by_reader(),
            overloads = self.core.load.episodes,
            waited_max_ms = self.core.load.waited_max.as_millis() as u64,
            "how long SIP datagrams waited in the socket"
        );
        // The lead goes to another node at once, not after its lease.
        if let Some(cluster) = &self.core.cluster {
            let (done, resigned) = tokio::sync::oneshot::channel();
            if cluster
                .commands
                .try_send(crate::cluster::Command::Resign(done))
                .is_ok()
            {
                let _ = tokio::time::timeout(Duration::from_secs(2), resigned).await;
            }
        }
        if let Some(heartbeat) = heartbeat {
            heartbeat.abort();
        }
        self.core.hang_up_all(Instant::now()).await;
        self.core.flush(&mut Wire::Socket(&self.socket)).await;
        // The last records, then what waited for them.
        let last = self.core.cdrs.must_wait();
        self.core.cdrs.wait(last, Duration::from_secs(10));
        self.core.flush(&mut Wire::Socket(&self.socket)).await;
        ticker.abort();
        acceptor.abort();
        if let Some(tls) = tls_acceptor {
            tls.abort();
        }
        if let Some(api) = api {
            api.abort();
        }
        if let Some(webhooks) = webhooks {
            webhooks.abort();
        }
        if let Some(admin) = admin {
            admin.abort();
        }
        if let Some(watcher) = watcher {
            watcher.abort();
        }
    }
}

/// The next SIGHUP, when the signal could be installed; never otherwise.
#[cfg(unix)]
async fn hangup_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn hangup_signal(_: &mut Option<()>) -> Option<()> {
    std::future::pending().await
}

/// Messages held for call records at most; past it the controller waits
/// for the record writer.
const HELD_MAX: usize = 65_536;

/// Datagrams handled in one turn of the controller's loop at most.
const DATAGRAM_BATCH: usize = 32;

/// What TCP connections tell the controller.
enum TcpEvent {
    /// A peer connected (over TLS when the flag says so); its writer takes
    /// bytes to send.
    Open(SocketAddr, mpsc::Sender<Vec<u8>>, bool),
    /// A framed message arrived.
    Message(SocketAddr, Box<Message>),
    /// A well-framed message did not parse: this answer (400 ...) goes back.
    Bad(SocketAddr, Vec<u8>),
    /// The connection is gone.
    Closed(SocketAddr),
    /// A connection was closed at once: too many are open.
    Refused(SocketAddr),
}

/// Bytes a connection may have queued for writing, in messages.
const TCP_QUEUE: usize = 256;

/// Limits on SIP over TCP.
#[derive(Debug, Clone, Copy)]
struct TcpLimits {
    /// Connections open at once; more are closed at once.
    max: usize,
    /// A connection that sends nothing this long is closed.
    idle: Duration,
}

/// The longest pause of the accept loop after an error (`EMFILE`: out of
/// file descriptors); it doubles from 10 ms up to this and resets on
/// success.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts SIP over TCP: one reader and one writer task per connection,
/// framing messages by Content-Length. At most `limits.max` connections
/// are open at once (others are closed as they come, and reported); a
/// connection idle for `limits.idle` is closed; an accept error (out of
/// file descriptors) pauses the loop with back-off instead of ending it.
async fn accept(
    listener: tokio::net::TcpListener,
    events: mpsc::Sender<TcpEvent>,
    limits: TcpLimits,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max));
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(error) => {
                tracing::warn!("SIP over TCP: accept failed ({error}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF);
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            let _ = events.try_send(TcpEvent::Refused(peer));
            continue;
        };
        if !connection(stream, false, peer, events.clone(), permit, limits.idle).await {
            return;
        }
    }
}

/// Accepts SIP over TLS: connections whose handshakes finished, then the
/// same as [`accept`] (the cap, the idle timeout, the framing).
async fn accept_tls(mut listener: TlsListener, events: mpsc::Sender<TcpEvent>, limits: TcpLimits) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max));
    while let Some((stream, peer)) = listener.next().await {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            let _ = events.try_send(TcpEvent::Refused(peer));
            continue;
        };
        if !connection(stream, true, peer, events.clone(), permit, limits.idle).await {
            return;
        }
    }
}

/// Runs one stream connection (TCP or TLS): a writer task for what the
/// controller sends, a reader task framing messages by Content-Length and
/// closing the connection when it is idle for `idle`. Returns false when
/// the controller is gone.
async fn connection<S>(
    stream: S,
    secure: bool,
    peer: SocketAddr,
    events: mpsc::Sender<TcpEvent>,
    permit: tokio::sync::OwnedSemaphorePermit,
    idle: Duration,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    if events
        .send(TcpEvent::Open(peer, out_tx, secure))
        .await
        .is_err()
    {
        return false;
    }
    tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let _permit = permit;
        let mut framer = message::TcpFramer::new();
        let mut buf = vec![0u8; 16 * 1024];
        'read: loop {
            let len = match tokio::time::timeout(idle, reader.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(len)) => len,
            };
            if framer.push(buf.get(..len).unwrap_or(&[])).is_err() {
                break;
            }
            loop {
                match framer.poll_message() {
                    Ok(Some(message)) => {
                        if events
                            .send(TcpEvent::Message(peer, Box::new(message)))
                            .await
                            .is_err()
                        {
                            break 'read;
                        }
                    }
                    Ok(None) => break,
                    Err(message::FrameError::Message { error, bytes }) => {
                        if let Some(answer) = message::error_response(&bytes, &error) {
                            let _ = events.send(TcpEvent::Bad(peer, answer)).await;
                        }
                    }
                    Err(_) => break 'read,
                }
            }
        }
        let _ = events.send(TcpEvent::Closed(peer)).await;
    });
    true
}

/// The server's counters, as `OPTIONS sip:status@…` returns them.
fn status(core: &Core) -> Value {
    let counts = core.tx.counts();
    serde_json::json!({
        "calls": core.calls.len(),
        "engine_calls": core.switch.engine().active_calls(),
        "calls_total": core.total_calls,
        "dialogs": core.dialogs.len(),
        "transactions": counts.total(),
        "timers": core.switch.timers(),
        "switch_calls": core.switch.calls(),
        "ports_in_use": core.ports.in_use(),
        "ports_resting": core.ports.spare(),
        "legs": core.media_stats.legs.load(Ordering::Relaxed),
        "rtp_sent": core.media_stats.sent.load(Ordering::Relaxed),
        "rtp_received": core.media_stats.received.load(Ordering::Relaxed),
        "rtp_garbage": core.media_stats.garbage.load(Ordering::Relaxed),
        "rtp_lost_by_peers": core.media_stats.lost_by_peers.load(Ordering::Relaxed),
        "rtcp_sent": core.media_stats.rtcp_sent.load(Ordering::Relaxed),
        "rtcp_received": core.media_stats.rtcp_received.load(Ordering::Relaxed),
        "rtcp_echoed": core.media_stats.rtcp_echoed.load(Ordering::Relaxed),
        "log_dropped": core.log.dropped(),
        "waiting": core.switch.acd().waiting(),
        "callbacks_placing": core.callback_calls.len(),
        "rtp_foreign": core.media_stats.foreign.load(Ordering::Relaxed),
        "store_errors": core.store_errors.load(Relaxed) + core.cdrs.failed(),
        "overload_refused": core.load.refused_total(),
        "overload_refused_within_10ms": core.load.refused_promptly(),
        "overload_refused_by_reader": core.load.refused_by_reader(),
        "overload_episodes": core.load.episodes,
        "overloaded": core.load.overloaded(Instant::now()),
        "sip_waited_max_ms": core.load.waited_max.as_secs_f64() * 1000.0,
        "sip_waits": core.load.waits_json(),
        "sip_send_failed": core.sip_send_failed.load(Relaxed),
        "media_commands_dropped": core.media_stats.commands_dropped.load(Ordering::Relaxed),
        "srtp_refused": core.media_stats.srtp_refused.load(Ordering::Relaxed),
        "dropped": core.front.dropped,
        "logins_failed": core.front.login_counts().0,
        "logins_throttled": core.front.login_counts().1,
        "tcp_connections": core.tcp.len(),
        "sip_received_udp": core.received[0],
        "sip_received_tcp": core.received[1],
    })
}

/// Digits of every number a campaign answers, with and without its country
/// code, to its E.164 form.
/// One call: its SIP side, its media leg and its engine call.
struct Call {
    /// A flow has run on the call (for its detail record).
    flowed: bool,
    invite: Message,
    invite_tx: TxKey,
    from: SocketAddr,
    local_tag: String,
    answer_sdp: String,
    law: Law,
    dialog: Option<DialogId>,
    media: mpsc::Sender<MediaCommand>,
    inbound: VoiceSender,
    agent: Option<PlacedLeg>,
    /// Why the caller's side ended, for the log (BYE, CANCEL, no ACK).
    leaving: Option<String>,
    /// How the caller reached us (UDP or TCP), for our requests to them.
    transport: Transport,
    campaign: String,
    hash: String,
    answered: bool,
    /// The caller's number.
    number: String,
    /// The queue the call waits in and since when.
    queued: Option<(String, Instant)>,
    /// Call-associated data shown to the agent.
    data: BTreeMap<String, agent_api::Datum>,
    /// The agent put the caller on hold.
    held: bool,
    /// An agent transferred the call; it has not reached its target yet.
    transferring: bool,
    /// A prompt (or music) is playing to the caller.
    playing: bool,
    /// For an agent's consultation call: the call it consults about.
    consult_of: Option<u64>,
    /// The call's conference, once there is one.
    conference: Option<consult::Conference>,
    /// Start this campaign's flow when the current one ends (a transfer to
    /// an entry point).
    restart: Option<String>,
    /// For a survey call we placed: its id in the store.
    survey_call: Option<i64>,
    /// The customer record `route_identified` found (exactly one), shown
    /// to the agent with the call's data.
    record: Option<i64>,
    /// When the call came in (for its detail record).
    started: jiff::Timestamp,
    /// The number dialled (E.164), once routed.
    dialled: String,
    /// The last agent who talked with the caller, and the last queue and
    /// how long the call waited in it (for the detail record).
    last_agent: Option<String>,
    /// The last queue and the wait there, in milliseconds.
    last_wait: Option<(String, u64)>,
    /// What `play_prompt` last played and logged (music repeats).
    heard: Option<String>,
}

/// The SIP and media side a call starts with: an INVITE we answer, or a
/// call we placed that the customer answered.
struct Leg {
    invite: Message,
    invite_tx: TxKey,
    from: SocketAddr,
    local_tag: String,
    answer_sdp: String,
    law: Law,
    dialog: Option<DialogId>,
    media: mpsc::Sender<MediaCommand>,
    inbound: VoiceSender,
    transport: Transport,
}

impl Call {
    /// A call of `campaign` (version `hash`) from `number`, nothing
    /// happened to it yet.
    fn new(
        leg: Leg,
        campaign: String,
        hash: String,
        number: String,
        answered: bool,
        started: jiff::Timestamp,
    ) -> Call {
        Call {
            flowed: false,
            invite: leg.invite,
            invite_tx: leg.invite_tx,
            from: leg.from,
            local_tag: leg.local_tag,
            answer_sdp: leg.answer_sdp,
            law: leg.law,
            dialog: leg.dialog,
            media: leg.media,
            inbound: leg.inbound,
            agent: None,
            leaving: None,
            transport: leg.transport,
            campaign,
            hash,
            answered,
            number,
            queued: None,
            data: BTreeMap::new(),
            held: false,
            transferring: false,
            playing: false,
            consult_of: None,
            conference: None,
            restart: None,
            survey_call: None,
            record: None,
            started,
            dialled: String::new(),
            last_agent: None,
            last_wait: None,
            heard: None,
        }
    }
}

struct Core {
    local: SocketAddr,
    /// The call layer: engine, engine timers, ACD, customer agents. Every
    /// call-control decision is its; the controller carries out its
    /// actions over SIP and media.
    switch: Switch,
    tx: Transactions,
    dialogs: Dialogs,
    ids: Ids,
    /// Whether e-mails and SMS can be sent (`[notify]`).
    notifier_mails: bool,
    notifier_texts: bool,
    calls: HashMap<u64, Call>,
    by_dialog: HashMap<DialogId, u64>,
    by_invite: HashMap<TxKey, u64>,
    timer_seq: u64,
    next_key: u64,
    pending: VecDeque<(u64, Event)>,
    /// The controller is carrying out the switch's actions ([`Core::pump`]).
    pumping: bool,
    /// Store writes that failed (each logged as `store_failed`).
    store_errors: AtomicU64,
    /// SIP messages not sent: refused by the transactions, or not taken by
    /// the socket or a TCP connection's writer.
    sip_send_failed: AtomicU64,
    prompts: Arc<PromptCache>,
    media_root: PathBuf,
    clock: Clock,
    log: EventLog,
    media_tx: mpsc::Sender<(u64, MediaEvent)>,
    tick: watch::Receiver<u64>,
    media_stats: Arc<MediaStats>,
    ports: Ports,
    config: Config,
    total_calls: u64,
    /// The day's calls per quarter hour, for the wallboard.
    chart: desk::Chart,
    /// The browser phone's gateway, when some agent's phone is the browser.
    phones: Option<crate::webphone::Handle>,
    /// Agents that can be rung: name to address and URI.
    agents: HashMap<String, (SocketAddr, String)>,
    /// Callbacks and relationships (sticky agent, private records).
    store: Option<Box<dyn Store>>,
    /// Whether the loop keeps up with the SIP socket (load shedding).
    load: Load,
    /// Call detail records, written behind (`cdr.rs`).
    cdrs: crate::cdr::Cdrs,
    /// Messages waiting for the records queued before them to be durable:
    /// (the last such record, the message), in the order they were made.
    held: VecDeque<(u64, dialect_sip::transaction::Transmit)>,
    /// The campaigns' webhook subscriptions, and what events need of calls.
    hooks: webhook_events::Hooks,
    /// Callbacks that were being placed when the server last stopped.
    recovered: usize,
    /// For the agent API task (cloned when it starts).
    api_tx: mpsc::Sender<ApiCall>,
    /// Each agent's desk: their current or last call, for wrap-up.
    desks: HashMap<String, agent_api::Desk>,
    /// The calls each agent still owes a wrap-up for, oldest first (at
    /// most 1,000 each).
    owed: HashMap<String, std::collections::VecDeque<agent_api::Desk>>,
    /// Callbacks being placed, by their ACD call id.
    callback_calls: HashMap<u64, callbacks::CallbackCall>,
    /// INVITE transactions of callback legs.
    cb_legs: HashMap<TxKey, (u64, callbacks::Side)>,
    /// Dialogs of callback legs.
    cb_dialogs: HashMap<DialogId, (u64, callbacks::Side)>,
    /// When the next stored callback is due.
    callback_due: Option<Instant>,
    /// Dialogs we hung up before their ACK came: the BYE goes when it does.
    awaiting_ack: Dialogs,
    /// Speech-to-text, text-to-speech, external bots.
    services: crate::services::Services,
    /// When the next survey call is due.
    survey_due: Option<Instant>,
    /// With a database shared by several nodes: when to try claiming due
    /// callbacks and survey calls next, whatever this node knows of them
    /// (another node may have stored them, or died holding them).
    store_poll: Option<Instant>,
    /// INVITE transactions of survey calls being placed.
    survey_legs: HashMap<TxKey, u64>,
    /// Survey calls ringing.
    pending_surveys: HashMap<u64, surveys::PendingSurvey>,
    /// Chats in progress.
    chats: HashMap<u64, chat::Chat>,
    /// Agents' open chat desks.
    chat_desks: HashMap<String, mpsc::Sender<String>>,
    /// Loads the flows again for a reload.
    loader: Option<crate::Loader>,
    /// The versions served, for reloads, rollback and status.
    versions: reload::Versions,
    /// Where a reload's load reports.
    reload_tx: mpsc::Sender<reload::Loaded>,
    /// Calls ended, by campaign and outcome, for the metrics.
    ended: BTreeMap<(String, String), u64>,
    /// When those BYEs go anyway.
    bye_deadlines: BTreeMap<(Instant, u64), (DialogId, SocketAddr, Transport)>,
    /// Each waiting dialog's entry in `bye_deadlines`.
    bye_slots: HashMap<DialogId, (Instant, u64)>,
    /// Agent INVITE transactions to their calls.
    by_agent_tx: HashMap<TxKey, u64>,
    /// Agent dialogs to their calls.
    agent_dialogs: HashMap<DialogId, u64>,
    /// Open TCP connections by peer address, with their writers.
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Which of them are TLS (where SDES keys may travel).
    tls_peers: std::collections::HashSet<SocketAddr>,
    /// Where SIP over TLS listens, when it does.
    sips_local: Option<SocketAddr>,
    /// SIP messages taken in over UDP, and over TCP or TLS.
    received: [u64; 2],
    /// Digest challenges for agents that REGISTER.
    digest: dialect_sip::auth::Digest,
    /// Passwords of agents allowed to register.
    passwords: HashMap<String, String>,
    /// Rate limits, lockouts, registrations' expiry, drop counters.
    front: front::Front,
    /// Recordings in progress, indexed when they end (after the call may
    /// have gone).
    recordings: HashMap<u64, PendingRecording>,
    /// Calls offered in the agent API (`handling web_panel`), by agent.
    panel_offers: HashMap<String, u64>,
    /// Conversations being recorded (the campaign's `recording`), until
    /// their files are indexed.
    conversations: HashMap<u64, recording::Conversation>,
    /// When recordings past `keep_recordings_days` are next looked for.
    next_sweep: Instant,
    /// When dialled numbers that have not answered are given up.
    ring_deadlines: BTreeMap<(Instant, u64), u64>,
    /// Calls ringing before their flow starts (`answer_after_ms`).
    starts: BTreeMap<(Instant, u64), (u64, String, String)>,
    /// The time of the input being handled: set by each entry point
    /// (`on_datagram`, `on_media`, `on_timeout`, ...), so that call control
    /// reads no clock of its own (the in-memory harness runs it on
    /// simulated time).
    now: Instant,
    /// The media legs' commands, when a harness plays the media world
    /// instead of RTP tasks ([`crate::harness`]).
    scripted_media: Option<Vec<(u64, mpsc::Receiver<MediaCommand>)>>,
    /// Every event the switch logged, with its call and time, when a
    /// harness compares traces ([`crate::harness`]).
    switch_trace: Option<Vec<(Instant, u64, &'static str)>>,
    /// Login tokens of the flows' `api_login` blocks.
    tokens: http::Tokens,
    /// Agents configured `ready` whom no version served so far named: on
    /// duty as soon as one does.
    ready_later: std::collections::BTreeSet<String>,
    /// A node of a cluster: whether it leads, the nodes, its heartbeat.
    cluster: Option<cluster::ClusterState>,
    /// The route (`Path`, RFC 3327) to agents who registered through a
    /// proxy.
    agent_routes: HashMap<String, Vec<String>>,
}

/// Where the controller's SIP messages go: the socket (and TCP
/// connections), or a list the in-memory harness reads.
pub(crate) enum Wire<'a> {
    /// The SIP socket.
    Socket(&'a UdpSocket),
    /// Captured: (destination, transport, bytes).
    Memory(&'a mut Vec<(SocketAddr, Transport, Vec<u8>)>),
}

/// A recording in progress: what its index row says.
struct PendingRecording {
    call: String,
    campaign: String,
    hash: String,
    number: String,
    /// Where the message is e-mailed (the block's or campaign's address).
    email: Option<String>,
}

/// A second leg we place for a call: towards an agent while the call is
/// offered to or bridged with them, or a number dialled through the trunk
/// (`trunk`).
struct PlacedLeg {
    name: String,
    to: SocketAddr,
    invite: Message,
    tx: TxKey,
    /// Our RTP port (its socket moves to the leg's task once answered).
    port: u16,
    socket: Option<MediaSocket>,
    dialog: Option<DialogId>,
    media: Option<mpsc::Sender<MediaCommand>>,
    inbound: Option<VoiceSender>,
    /// A number dialled through the trunk, not an agent.
    trunk: bool,
    /// The agent's conversation as the ACD knows it (the call key it was
    /// offered for; it stays with the agent when a transfer moves the leg).
    acd_call: u64,
    /// The leg's law, once answered.
    law: Law,
}

use crate::database::Store;

impl Core {
    /// The wall time of the input being handled (see [`Core::now`]).
    fn wall(&self) -> jiff::Timestamp {
        self.clock.at(self.now)
    }

    /// With a shared database, every [`crate::database::SHARED_POLL`]: the
    /// next turn claims due callbacks and survey calls, those other nodes
    /// stored and those a dead node's lapsed claims left.
    fn on_store_poll(&mut self, now: Instant) {
        if self.store_poll.is_some_and(|at| at <= now) {
            self.store_poll = Some(now + crate::database::SHARED_POLL);
            self.callback_due = Some(now);
            self.survey_due = Some(now);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        // A standby claims no callbacks nor survey calls.
        // (the clock is read only on a node of a cluster)
        let leading = self.cluster.is_none() || self.leading(Instant::now());
        let own = [
            self.switch_deadline(),
            self.callback_deadline().filter(|_| leading),
            self.survey_due.filter(|_| leading),
            self.store_poll,
            self.lead_deadline(),
            self.bye_deadlines.keys().next().map(|(at, _)| *at),
            self.front.deadline(),
            self.recording_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        match (self.sip_deadline(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn sip_deadline(&self) -> Option<Instant> {
        let ring = self
            .ring_deadlines
            .keys()
            .chain(self.starts.keys())
            .map(|(at, _)| *at)
            .min();
        match (ring, self.tx.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The outcome of handing a message to the SIP transactions: a refusal
    /// (the transaction ended meanwhile, or a message it cannot send in its
    /// state) is counted (`sip_send_failed` in the status) and logged.
    fn sip_sent<T>(&self, result: Result<T, dialect_sip::transaction::SendError>) {
        if let Err(error) = result {
            self.sip_send_failed.fetch_add(1, Relaxed);
            match error {
                // The transaction ended meanwhile (timed out, cancelled).
                dialect_sip::transaction::SendError::NoTransaction => {
                    tracing::debug!(%error, "a SIP message was not sent");
                }
                _ => tracing::warn!(%error, "a SIP message was not sent"),
            }
        }
    }

    /// The outcome of a store write: a failure is logged (`store_failed`,
    /// naming what was being written for whom) and counted, never dropped.
    fn stored<T, E: std::fmt::Display>(&self, subject: &str, what: &str, result: Result<T, E>) {
        if let Err(error) = result {
            self.store_errors.fetch_add(1, Relaxed);
            tracing::error!(subject, what, %error, "a store write failed");
            self.log.record(
                self.wall(),
                subject,
                "store_failed",
                fields([
                    ("writing", what.into()),
                    ("error", error.to_string().into()),
                ]),
            );
        }
    }

    fn record(&self, key: u64, event: &str, extra: serde_json::Map<String, Value>) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let mut fields = fields([
            ("campaign", call.campaign.clone().into()),
            ("artifact", call.hash.clone().into()),
        ]);
        fields.extend(extra);
        self.log
            .record(self.wall(), &format!("call-{key}"), event, fields);
    }

    async fn flush(&mut self, wire: &mut Wire<'_>) {
        self.send_or_hold(wire).await;
        // Timeouts and transport errors of transactions: a caller that never
        // ACKs our 2xx (timer L) is gone; an agent INVITE nobody answers
        // (timer B) frees the agent. An unanswered BYE needs nothing more.
        let mut gone = Vec::new();
        let mut declined = false;
        let mut failed_legs = Vec::new();
        while let Some(event) = self.tx.poll_event() {
            let key = match &event {
                TuEvent::Timeout { key, .. } | TuEvent::TransportError { key } => key.clone(),
            };
            if let Some(call_key) = self.by_invite.get(&key).copied() {
                gone.push((call_key, "the caller never acknowledged the answer"));
            } else if let Some(call_key) = self.by_agent_tx.get(&key).copied() {
                let name = self.agent_name(call_key);
                self.record(
                    call_key,
                    "agent_failed",
                    fields([("agent", name.into()), ("status", "timeout".into())]),
                );
                if let Some(agent) = self.calls.get_mut(&call_key).and_then(|c| c.agent.as_mut()) {
                    agent.socket = None;
                }
                if self.is_trunk(call_key) {
                    self.drop_agent(call_key, self.now);
                } else {
                    let at = self.wall();
                    self.switch.agent_declined(call_key, at);
                    declined = true;
                }
            } else if let Some((cb, side)) = self.cb_legs.get(&key).copied() {
                failed_legs.push((cb, side));
            }
        }
        if declined {
            self.pump(self.now).await;
        }
        for (cb, side) in failed_legs {
            self.callback_leg_failed(cb, side, "timeout", self.now);
        }
        for (call_key, reason) in gone {
            let now = self.now;
            self.hang_up(call_key, now);
            self.caller_gone(call_key, reason, now).await;
            self.send_or_hold(wire).await;
        }
    }

    /// Sends what the transactions have to send, unless call records
    /// queued before it are not durable yet: then it is held, in order,
    /// until they are (`cdr.rs`). Held messages whose records are now
    /// committed go first. The in-memory harness waits for the writer
    /// instead, so what it captures is in a deterministic order.
    async fn send_or_hold(&mut self, wire: &mut Wire<'_>) {
        self.cdrs.hand_over();
        if matches!(wire, Wire::Memory(_)) {
            let seq = self.cdrs.must_wait();
            self.cdrs.wait(seq, Duration::from_secs(10));
        }
        if self.held.len() >= HELD_MAX
            && let Some(&(seq, _)) = self.held.front()
        {
            // A writer that stopped keeping up (a disk that hangs): the
            // controller waits for it rather than hold without bound.
            tracing::warn!("SIP messages wait for call records: the controller waits for the disk");
            self.cdrs.wait(seq, Duration::from_secs(10));
        }
        let committed = self.cdrs.committed();
        while self.held.front().is_some_and(|(seq, _)| *seq <= committed) {
            if let Some((_, t)) = self.held.pop_front() {
                self.transmit(wire, t).await;
            }
        }
        let wait = self.cdrs.must_wait();
        while let Some(t) = self.tx.poll_transmit() {
            // Only what tells a peer that a call ended (a BYE, the answer
            // to one, a CANCEL, a failure answer to an INVITE) waits for
            // the records queued before it, in order; the rest (a new
            // call's 200, a refusal, an ACK) tells nothing of any call's
            // end and never waits.
            if t.ends && (wait > committed || !self.held.is_empty()) {
                self.held.push_back((wait, t));
            } else {
                self.transmit(wire, t).await;
            }
        }
    }

    /// Sends over the transport the transaction chose: UDP, or the TCP
    /// connection the peer opened (a peer without one gets UDP).
    async fn transmit(&self, wire: &mut Wire<'_>, t: dialect_sip::transaction::Transmit) {
        let socket = match wire {
            Wire::Socket(socket) => *socket,
            Wire::Memory(sent) => {
                sent.push((t.to, t.transport, t.bytes));
                return;
            }
        };
        let sent = if t.transport == Transport::Tcp
            && let Some(writer) = self.tcp.get(&t.to)
        {
            // A connection whose writer is full is a peer that does not
            // read: what it does not take is counted, and the transaction
            // retransmits or times out.
            writer.try_send(t.bytes).is_ok()
        } else {
            // Straight to the socket; the readiness wait only when the
            // kernel's send buffer is full.
            match socket.try_send_to(&t.bytes, t.to) {
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    socket.send_to(&t.bytes, t.to).await.is_ok()
                }
                Err(_) => false,
            }
        };
        if !sent {
            self.sip_send_failed.fetch_add(1, Relaxed);
        }
    }

    fn local_contact(&self) -> String {
        format!("sip:dialect@{}", self.local)
    }

    /// Our Contact for a dialog with `peer` over `transport`: it names the
    /// transport (`;transport=tcp`, or our SIP over TLS address with
    /// `;transport=tls`), so that the peer's ACK, BYE and re-INVITEs come
    /// back the way the dialog began, not over UDP.
    fn contact_for(&self, transport: Transport, peer: SocketAddr) -> String {
        match transport {
            Transport::Udp => self.local_contact(),
            Transport::Tcp => match self.sips_local.filter(|_| self.tls_peers.contains(&peer)) {
                Some(tls) => format!("sip:dialect@{tls};transport=tls"),
                None => format!("sip:dialect@{};transport=tcp", self.local),
            },
        }
    }

    fn local_part(&self) -> Local {
        Local {
            contact: self.local_contact(),
            sent_by: self.local.to_string(),
            transport: Transport::Udp,
        }
    }

    /// A datagram over UDP, that waited `waited` in the SIP socket (see
    /// `load.rs`), read `by` the controller or the reader.
    async fn on_datagram(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        waited: Duration,
        now: Instant,
        by: ReadBy,
    ) {
        self.now = now;
        let overloaded = self.load.arrived(waited, now, by);
        match self.admit(from, now) {
            front::Admit::Pass => {}
            front::Admit::Drop => return,
            front::Admit::Refuse => {
                if let Ok(request) = message::parse(bytes) {
                    self.refuse_busy(&request, from, Transport::Udp);
                }
                return;
            }
        }
        let message = match message::parse(bytes) {
            Ok(m) => m,
            Err(error) => {
                if let Some(answer) = message::error_response(bytes, &error) {
                    self.tx.send_bytes(answer, from, Transport::Udp);
                }
                return;
            }
        };
        if overloaded && self.shed(&message, from, waited) {
            return;
        }
        self.received[0] += 1;
        self.on_message(message, from, now).await;
    }

    /// A connection's event: opened, a framed message, or closed.
    async fn on_tcp(&mut self, event: TcpEvent, now: Instant) {
        self.now = now;
        match event {
            TcpEvent::Open(peer, writer, secure) => {
                self.tcp.insert(peer, writer);
                if secure {
                    self.tls_peers.insert(peer);
                } else {
                    self.tls_peers.remove(&peer);
                }
            }
            TcpEvent::Message(peer, message) => match self.admit(peer, now) {
                front::Admit::Pass => {
                    self.received[1] += 1;
                    self.on_message(*message, peer, now).await;
                }
                front::Admit::Drop => {}
                front::Admit::Refuse => self.refuse_busy(&message, peer, Transport::Tcp),
            },
            TcpEvent::Bad(peer, bytes) => {
                if let Some(writer) = self.tcp.get(&peer) {
                    let _ = writer.try_send(bytes);
                }
            }
            TcpEvent::Closed(peer) => {
                self.tcp.remove(&peer);
                self.tls_peers.remove(&peer);
            }
            TcpEvent::Refused(peer) => {
                self.dropped("tcp_full", peer, "too many SIP over TCP connections");
            }
        }
    }

    async fn on_message(&mut self, message: Message, from: SocketAddr, now: Instant) {
        match self.tx.handle_incoming(message, from, now) {
            Incoming::NewRequest { key, request } => self.on_request(key, request, from, now).await,
            Incoming::Ack(ack) => {
                if let Match::Dialog(id) = self.awaiting_ack.match_request(&ack) {
                    return self.deferred_bye(&id, now);
                }
                if let Match::Dialog(id) = self.dialogs.match_request(&ack)
                    && let Some(dialog) = self.dialogs.get_mut(&id)
                {
                    dialog.confirm();
                }
            }
            Incoming::Response { key, response } => {
                self.on_agent_response(key, response, now).await
            }
            Incoming::Foreign { from, .. } => {
                self.dropped(
                    "foreign_response",
                    from,
                    "a response from an address our request did not go to",
                );
            }
            Incoming::Overloaded(request)
                if request.method() == Some(Method::Options)
                    && request.request_uri_user().as_deref() == Some("status") =>
            {
                // The operator's view of an overloaded server: answered
                // without a transaction (nothing to retransmit).
                let response = message::response_for(&request, 200, "OK")
                    .with_to_tag(&self.ids.tag())
                    .with_body("application/json", status(self).to_string().into_bytes());
                self.tx.send_stateless(&response, from, Transport::Udp);
            }
            Incoming::Overloaded(request) => {
                self.dropped("transactions_full", from, "the transaction table is full");
                let transport = if self.tcp.contains_key(&from) {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                self.refuse_busy(&request, from, transport);
            }
            Incoming::Retransmission | Incoming::Stray(_) => {}
        }
    }

    /// Answers `request` (a final answer to a request outside a dialog gets
    /// a To tag, RFC 3261 8.2.6.2; one inside keeps the dialog's).
    fn respond(&mut self, key: &TxKey, request: &Message, status: u16, reason: &str, now: Instant) {
        let mut response = message::response_for(request, status, reason);
        if status > 100 {
            response = response.with_to_tag(&self.ids.tag());
        }
        let sent = self.tx.send_response(key, response, now);
        self.sip_sent(sent);
    }

    async fn on_request(&mut self, key: TxKey, request: Message, from: SocketAddr, now: Instant) {
        let Some(method) = request.method() else {
            return;
        };
        match self.dialogs.match_request(&request) {
            Match::Unknown if method != Method::Ack => {
                return self.respond(&key, &request, 481, "Call/Transaction Does Not Exist", now);
            }
            Match::Dialog(id) => return self.in_dialog(key, request, id, from, now).await,
            _ => {}
        }
        if self.refused_by_cluster(&key, &request, from, now) {
            return;
        }
        match method {
            Method::Invite => self.invite(key, request, from, now).await,
            Method::Cancel => self.cancel(key, request, now).await,
            Method::Options => {
                let mut response = message::response_for(&request, 200, "OK")
                    .with_to_tag(&self.ids.tag())
                    .with_header("Allow", ALLOW);
                if request.request_uri_user().as_deref() == Some("status") {
                    response = response
                        .with_body("application/json", status(self).to_string().into_bytes());
                }
                let sent = self.tx.send_response(&key, response, now);
                self.sip_sent(sent);
            }
            Method::Bye => {
                self.respond(&key, &request, 481, "Call/Transaction Does Not Exist", now)
            }
            Method::Register => {
                if self.register(key, request, from, now) {
                    self.pump(now).await;
                }
            }
            _ => {
                let response = message::response_for(&request, 405, "Method Not Allowed")
                    .with_header("Allow", ALLOW);
                let sent = self.tx.send_response(&key, response, now);
                self.sip_sent(sent);
            }
        }
    }

    async fn invite(&mut self, key: TxKey, request: Message, from: SocketAddr, now: Instant) {
        // Refused before any work when the switch is full (it admits the
        // call itself once its leg is ready).
        if !self.switch.can_admit() {
            return self.respond(&key, &request, 503, "Service Unavailable", now);
        }
        let user = request.request_uri_user().unwrap_or_default();
        let Some(dialled) = self.switch.route(&user).map(str::to_string) else {
            // Not a campaign's number: an agent consulting a colleague, a
            // queue or a number, who proves who they are (407 digest, or
            // a trusted address for an agent without a password). Anyone
            // else is challenged the same way, so that the answers do not
            // tell which agent names exist; a trusted source gets 404.
            let agent = self.calling_agent(&request);
            let name = match &agent {
                Some(agent) => agent.clone(),
                None if self.front.trusted(from.ip()) => {
                    return self.respond(&key, &request, 404, "Not Found", now);
                }
                None => caller_user(&request),
            };
            let proved = match &agent {
                Some(agent) => self.authorise_agent(&key, &request, agent, from, now),
                None => self.authenticate(&key, &request, &name, from, true, now),
            };
            if proved.is_err() {
                return;
            }
            let Some(agent) = agent else {
                return self.respond(&key, &request, 404, "Not Found", now);
            };
            return self.consult(key, request, from, agent, user, now).await;
        };
        // A campaign switched off (`enabled false`) or outside its life
        // (`starts`, `ends`) answers 480, with why in the event log.
        if let Err(refused) = self.switch.engine().admission(&dialled, self.clock.at(now)) {
            return self.refuse_campaign(&key, &request, &dialled, &refused, now);
        }
        let flow = self.switch.engine().route(&dialled).cloned();
        let (campaign, hash) = flow
            .map(|f| (f.name().to_string(), f.hash.clone()))
            .unwrap_or_default();
        let Some(call_key) = self
            .accept_inbound(&key, &request, from, campaign, hash, now)
            .await
        else {
            return;
        };
        let caller = caller_number(&request);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.dialled = dialled.clone();
        }
        self.record(
            call_key,
            "call_started",
            fields([
                ("caller", caller.clone().into()),
                ("dialled", dialled.clone().into()),
            ]),
        );
        let delay = Duration::from_millis(self.config.sip.answer_after_ms);
        if delay.is_zero() {
            return self.start_call(call_key, caller, dialled, now).await;
        }
        // Let it ring first: 180 now, the flow (and its answer) after the delay.
        let ringing = message::response_for(&request, 180, "Ringing").with_to_tag(
            &self
                .calls
                .get(&call_key)
                .map(|c| c.local_tag.clone())
                .unwrap_or_default(),
        );
        let sent = self.tx.send_response(&key, ringing, now);
        self.sip_sent(sent);
        self.timer_seq += 1;
        self.starts
            .insert((now + delay, self.timer_seq), (call_key, caller, dialled));
    }

    /// Takes an INVITE in: SDP answered, an RTP port and media leg, a
    /// [`Call`] in the table. Returns its key; answers the INVITE with an
    /// error and returns `None` when it cannot be taken.
    async fn accept_inbound(
        &mut self,
        key: &TxKey,
        request: &Message,
        from: SocketAddr,
        campaign: String,
        hash: String,
        now: Instant,
    ) -> Option<u64> {
        let offer = match sdp::parse(request.body()) {
            Ok(offer) => offer,
            Err(_) => {
                self.respond(key, request, 415, "Unsupported Media Type", now);
                return None;
            }
        };
        let Some(socket) = self.bind_media() else {
            self.respond(key, request, 503, "Service Unavailable", now);
            return None;
        };
        let local_media = LocalMedia {
            address: self.config.media.address,
            port: socket.port(),
            session_id: self.ids.next_u64() >> 1,
            version: 1,
        };
        // SRTP keys (SDES) only over TLS: elsewhere they would travel in
        // the clear, and an SRTP offer is refused.
        let ours = self.tls_peers.contains(&from).then(|| {
            let mut master = [0u8; dialect_media::srtp::INLINE];
            for chunk in master.chunks_mut(8) {
                let random = self.ids.next_u64().to_le_bytes();
                chunk.copy_from_slice(random.get(..chunk.len()).unwrap_or_default());
            }
            master
        });
        let inline = ours.as_ref().map(dialect_media::srtp::inline);
        let Some((negotiated, answer_sdp, theirs)) =
            sdp::answer_with(&offer, &local_media, inline.as_deref())
        else {
            self.respond(key, request, 488, "Not Acceptable Here", now);
            return None;
        };
        let srtp = match (ours, theirs) {
            (Some(ours), Some(theirs)) => match dialect_media::srtp::master_from_inline(&theirs) {
                Some(theirs) => Some(Box::new(leg::Srtp {
                    send: dialect_media::srtp::Context::new(&ours),
                    receive: dialect_media::srtp::Context::new(&theirs),
                })),
                None => {
                    self.respond(key, request, 488, "Not Acceptable Here", now);
                    return None;
                }
            },
            _ => None,
        };
        let Some(remote) = negotiated.remote else {
            self.respond(key, request, 488, "Not Acceptable Here", now);
            return None;
        };
        let law = match negotiated.codec {
            Codec::Pcmu => Law::Ulaw,
            Codec::Pcma => Law::Alaw,
        };
        let call_key = self.next_key;
        self.next_key += 1;
        // The switch keeps the call table's limit (`max_calls`).
        if self
            .switch
            .admit(call_key, &campaign, &caller_number(request))
            .is_err()
        {
            self.respond(key, request, 503, "Service Unavailable", now);
            return None;
        }
        let (media, inbound) = self.start_leg(
            call_key,
            socket,
            (remote, from),
            law,
            negotiated.telephone_event,
            srtp,
        );
        let caller = caller_number(request);
        let local_tag = self.ids.tag();
        let leg = Leg {
            invite: request.clone(),
            invite_tx: key.clone(),
            from,
            local_tag,
            answer_sdp,
            law,
            dialog: None,
            media,
            inbound,
            transport: if request
                .top_via()
                .is_some_and(|v| v.transport.eq_ignore_ascii_case("TCP"))
            {
                Transport::Tcp
            } else {
                Transport::Udp
            },
        };
        let started = self.clock.at(now);
        self.calls.insert(
            call_key,
            Call::new(leg, campaign, hash, caller, false, started),
        );
        self.by_invite.insert(key.clone(), call_key);
        self.total_calls += 1;
        self.chart.count(started);
        self.hooks.track(call_key, now);
        Some(call_key)
    }

    /// A call we placed and the customer answered (a survey call): its leg
    /// becomes the call's caller side, in the call table.
    fn outbound_call(
        &mut self,
        call_key: u64,
        leg: PlacedLeg,
        campaign: String,
        hash: String,
        number: String,
    ) {
        let (Some(media), Some(inbound), Some(dialog)) = (leg.media, leg.inbound, leg.dialog)
        else {
            return;
        };
        self.by_dialog.insert(dialog.clone(), call_key);
        let local_tag = leg.invite.from_tag().unwrap_or_default();
        self.total_calls += 1;
        let started = self.wall();
        let leg = Leg {
            invite: leg.invite,
            invite_tx: leg.tx,
            from: leg.to,
            local_tag,
            answer_sdp: String::new(),
            law: leg.law,
            dialog: Some(dialog),
            media,
            inbound,
            transport: Transport::Udp,
        };
        self.calls.insert(
            call_key,
            Call::new(leg, campaign, hash, number, true, started),
        );
    }

    /// Starts the flow of a call that is ringing.
    async fn start_call(&mut self, call_key: u64, caller: String, dialled: String, now: Instant) {
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.flowed = true;
        }
        let at = self.clock.at(now);
        let channel = dialect_bot::Channel::Voice;
        let store = store_of(&self.store);
        match self
            .switch
            .arrive(call_key, &caller, &dialled, channel, at, store)
        {
            Ok(()) => self.pump(now).await,
            Err(refused) => {
                if let Some(call) = self.calls.get(&call_key) {
                    let (key, invite) = (call.invite_tx.clone(), call.invite.clone());
                    match refused {
                        dialect_engine::Refused::NoCampaign(_) => {
                            self.respond(&key, &invite, 404, "Not Found", now);
                        }
                        _ => self.refuse_campaign(&key, &invite, &dialled, &refused, now),
                    }
                }
                self.release(call_key, "not found").await;
            }
        }
    }

    /// A call to a campaign that takes none now: 480, and the event log
    /// says why.
    fn refuse_campaign(
        &mut self,
        key: &TxKey,
        request: &Message,
        dialled: &str,
        refused: &dialect_engine::Refused,
        now: Instant,
    ) {
        let reason = match refused {
            dialect_engine::Refused::Disabled(_) => "Campaign Disabled",
            _ => "Campaign Not Running",
        };
        self.respond(key, request, 480, reason, now);
        self.log.record(
            self.clock.at(now),
            "",
            "campaign_refused",
            fields([
                ("dialled", dialled.into()),
                ("caller", caller_number(request).into()),
                ("reason", refused.to_string().into()),
            ]),
        );
    }

    async fn cancel(&mut self, key: TxKey, request: Message, now: Instant) {
        self.respond(&key, &request, 200, "OK", now);
        let invite_key = key.cancelled_invite();
        let Some(call_key) = self.by_invite.get(&invite_key).copied() else {
            return;
        };
        let answered = self.calls.get(&call_key).is_some_and(|c| c.answered);
        if answered {
            return;
        }
        if let Some(call) = self.calls.get(&call_key) {
            // The tag of the call's 180, if it rang.
            let response = message::response_for(&call.invite, 487, "Request Terminated")
                .with_to_tag(&call.local_tag);
            let sent = self.tx.send_response(&invite_key, response, now);
            self.sip_sent(sent);
        }
        self.caller_gone(call_key, "cancelled", now).await;
    }

    async fn in_dialog(
        &mut self,
        key: TxKey,
        request: Message,
        id: DialogId,
        from: SocketAddr,
        now: Instant,
    ) {
        let Some(method) = request.method() else {
            return;
        };
        if let Some(dialog) = self.dialogs.get_mut(&id)
            && dialog.handle_request(&request).is_err()
        {
            return self.respond(&key, &request, 500, "Server Internal Error", now);
        }
        if let Some(call_key) = self.agent_dialogs.get(&id).copied() {
            return self.agent_request(key, request, call_key, from, now).await;
        }
        if let Some((cb, side)) = self.cb_dialogs.get(&id).copied() {
            self.respond(&key, &request, 200, "OK", now);
            if method == Method::Bye {
                self.callback_hung_up(cb, side, now);
            }
            return;
        }
        let call_key = self.by_dialog.get(&id).copied();
        match method {
            Method::Bye => {
                self.respond(&key, &request, 200, "OK", now);
                if let Some(call_key) = call_key {
                    self.caller_gone(call_key, "caller hung up", now).await;
                }
            }
            Method::Invite => {
                // A re-INVITE (hold, resume, new address): our answer, its
                // direction mirroring the offer's (RFC 3264 §6.1: a hold,
                // `sendonly`, is answered `recvonly`).
                let offer = sdp::parse(request.body()).ok();
                let mut sdp = String::new();
                let transport = call_key
                    .and_then(|k| self.calls.get(&k))
                    .map_or(Transport::Udp, |c| c.transport);
                let contact = self.contact_for(transport, from);
                if let Some(call) = call_key.and_then(|k| self.calls.get_mut(&k)) {
                    if let Some(offer) = &offer {
                        call.answer_sdp = sdp::reanswer(&call.answer_sdp, offer);
                    }
                    sdp.clone_from(&call.answer_sdp);
                }
                let mut response = message::response_for(&request, 200, "OK")
                    .with_header("Contact", &format!("<{contact}>"));
                if !sdp.is_empty() {
                    response = response.with_body("application/sdp", sdp.into_bytes());
                }
                let sent = self.tx.send_response(&key, response, now);
                self.sip_sent(sent);
                if let (Some(call_key), Ok(offer)) = (call_key, sdp::parse(request.body())) {
                    let remote = offer
                        .media
                        .first()
                        .map(|m| (m.connection.or(offer.connection), m.port));
                    if let (Some(call), Some((Some(ip), port))) =
                        (self.calls.get(&call_key), remote)
                        && port != 0
                        && !ip.is_unspecified()
                    {
                        let _ = call
                            .media
                            .try_send(MediaCommand::Remote(SocketAddr::new(ip, port)));
                    }
                }
            }
            Method::Options => self.respond(&key, &request, 200, "OK", now),
            // Keys in INFO (trunks and desk phones that send DTMF so): as
            // if they had come as RFC 4733 events.
            Method::Info => match dialect_sip::info::read(request.content_type(), request.body()) {
                dialect_sip::info::Info::Key(key_pressed) => {
                    self.respond(&key, &request, 200, "OK", now);
                    if let Some(call_key) = call_key {
                        self.on_media(call_key, MediaEvent::Digit(key_pressed), now)
                            .await;
                    }
                }
                dialect_sip::info::Info::Empty => self.respond(&key, &request, 200, "OK", now),
                dialect_sip::info::Info::Unsupported => {
                    let response = message::response_for(&request, 415, "Unsupported Media Type")
                        .with_header("Accept", dialect_sip::info::ACCEPT);
                    let sent = self.tx.send_response(&key, response, now);
                    self.sip_sent(sent);
                }
                dialect_sip::info::Info::Malformed => {
                    self.respond(&key, &request, 400, "Bad DTMF", now)
                }
            },
            _ => {
                let response = message::response_for(&request, 405, "Method Not Allowed")
                    .with_header("Allow", ALLOW);
                let sent = self.tx.send_response(&key, response, now);
                self.sip_sent(sent);
            }
        }
    }

    /// The caller left (BYE or CANCEL): tell the engine, then release.
    async fn caller_gone(&mut self, call_key: u64, reason: &str, now: Instant) {
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.leaving = Some(reason.to_string());
        }
        if self.switch.engine_call(call_key).is_some() {
            self.deliver(call_key, Event::HangUp, now).await;
        }
        if self.calls.contains_key(&call_key) {
            self.release(call_key, reason).await;
        }
    }

    async fn on_media(&mut self, call_key: u64, event: MediaEvent, now: Instant) {
        self.now = now;
        if let MediaEvent::ConversationRecorded(result) = event {
            // The call may be long gone: the file is durable by now.
            return self.conversation_recorded(call_key, result);
        }
        if let MediaEvent::RecordingFinished(result) = &event {
            // Indexed even when the caller hung up first: the file is
            // durable by now (the leg fsyncs it before it reports).
            self.recording_finished(call_key, result, now);
        }
        if self.switch.engine_call(call_key).is_none() {
            return;
        }
        let event = match event {
            MediaEvent::Digit(key) => {
                self.record(call_key, "digit", fields([("key", key.to_string().into())]));
                Event::Digit(key)
            }
            MediaEvent::Speech(samples) => return self.heard_speech(call_key, samples),
            MediaEvent::PromptFinished => {
                if let Some(call) = self.calls.get_mut(&call_key) {
                    call.playing = false;
                }
                Event::PromptFinished
            }
            MediaEvent::RecordingFinished(_) => Event::RecordingFinished,
            MediaEvent::ConversationRecorded(_) => return,
        };
        self.deliver(call_key, event, now).await;
    }

    /// A recording ended: its index row (after the file is durable) and
    /// the log line, whether or not the call is still there.
    fn recording_finished(
        &mut self,
        call_key: u64,
        result: &Result<PathBuf, String>,
        now: Instant,
    ) {
        let Some(recording) = self.recordings.remove(&call_key) else {
            return;
        };
        let mut extra = match result {
            Ok(path) => fields([("file", path.display().to_string().into())]),
            Err(error) => fields([("error", error.clone().into())]),
        };
        if let (Ok(path), Some(store)) = (result, &self.store)
            && let Err(error) = store.record_voicemail(
                &recording.call,
                &recording.campaign,
                &recording.number,
                &path.display().to_string(),
                self.clock.at(now),
            )
        {
            tracing::error!(file = %path.display(), "the voicemail index cannot be written: {error}");
            extra.insert("index_error".into(), error.to_string().into());
        }
        if let (Ok(path), Some(address)) = (result, &recording.email) {
            let subject = format!(
                "Voicemail from {} ({})",
                recording.number, recording.campaign
            );
            let text = format!(
                "A voicemail from {} for campaign {} arrived at {}; the message is attached.",
                recording.number,
                recording.campaign,
                self.clock.at(now)
            );
            self.notify_mail(
                &recording.campaign,
                &recording.call,
                address,
                &subject,
                &text,
                Some(path),
            );
            extra.insert("emailed_to".into(), address.clone().into());
        }
        extra.insert("campaign".into(), recording.campaign.into());
        extra.insert("artifact".into(), recording.hash.into());
        self.log
            .record(self.clock.at(now), &recording.call, "voicemail", extra);
    }

    async fn on_timeout(&mut self, now: Instant) {
        self.now = now;
        self.tx.handle_timeout(now);
        self.on_switch_timeout(now).await;
        self.on_store_poll(now);
        self.on_lead_timeout(now);
        if self.leading(now) {
            self.on_callback_timeout(now).await;
            self.on_survey_timeout(now).await;
        }
        self.on_recording_timeout(now);
        self.on_registration_timeout(now);
        while let Some((&(at, _), (id, _, _))) = self.bye_deadlines.iter().next() {
            if at > now {
                break;
            }
            let id = id.clone();
            self.deferred_bye(&id, now);
        }
        while let Some((&(at, seq), _)) = self.starts.iter().next() {
            if at > now {
                break;
            }
            if let Some((call_key, caller, dialled)) = self.starts.remove(&(at, seq))
                && self.calls.contains_key(&call_key)
            {
                self.start_call(call_key, caller, dialled, now).await;
            }
        }
        while let Some((&(at, seq), &call_key)) = self.ring_deadlines.iter().next() {
            if at > now {
                break;
            }
            self.ring_deadlines.remove(&(at, seq));
            let ringing = self
                .calls
                .get(&call_key)
                .and_then(|c| c.agent.as_ref())
                .is_some_and(|a| a.trunk && a.dialog.is_none() && a.socket.is_some());
            if self.callback_calls.contains_key(&call_key) {
                self.callback_ring_deadline(call_key, now);
                continue;
            }
            if self.pending_surveys.contains_key(&call_key) {
                self.survey_ring_deadline(call_key, now);
                continue;
            }
            if ringing && self.calls.get(&call_key).is_some_and(|c| c.transferring) {
                self.record(call_key, "dial_no_answer", serde_json::Map::new());
                self.drop_agent(call_key, now);
                self.transfer_failed(call_key, now).await;
            } else if ringing {
                self.record(call_key, "dial_no_answer", serde_json::Map::new());
                self.drop_agent(call_key, now);
                self.pending
                    .push_back((call_key, Event::DialResult(DialOutcome::NoAnswer)));
            }
        }
        self.pump(now).await;
    }

    /// Carries out every action the switch has decided, feeding back the
    /// events the controller decided meanwhile (a prompt that cannot play,
    /// a dial's result, a service that is not connected).
    ///
    /// Carrying out an action may decide more (a call released frees an
    /// agent for the next one): those are carried out by the same loop, in
    /// order, so a pump inside an action returns at once.
    async fn pump(&mut self, now: Instant) {
        if self.pumping {
            return;
        }
        self.pumping = true;
        loop {
            while let Some(action) = self.switch.poll_action() {
                Box::pin(self.act(action, now)).await;
            }
            let Some((call_key, event)) = self.pending.pop_front() else {
                break;
            };
            let at = self.clock.at(now);
            self.switch
                .event(call_key, event, at, store_of(&self.store));
        }
        self.pumping = false;
    }

    /// Gives an event to the switch for a call, and carries out what
    /// follows.
    async fn deliver(&mut self, call_key: u64, event: Event, now: Instant) {
        let at = self.clock.at(now);
        self.switch
            .event(call_key, event, at, store_of(&self.store));
        self.pump(now).await;
    }

    /// One action of the switch.
    async fn act(&mut self, action: Action, now: Instant) {
        match action {
            Action::Command { call, command, .. } => {
                if let Command::Dequeue { .. } = &command {
                    // The switch took the call out of the ACD; a leg
                    // ringing for it is cancelled.
                    self.drop_agent(call, now);
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.queued = None;
                    }
                }
                if !self.switch.carries_out(&command) {
                    self.carry_out(call, command, now).await;
                }
            }
            Action::Ring { call, agent } => self.offer(call, agent, now).await,
            Action::StopRinging { call, .. } => {
                self.panel_offers.retain(|_, c| *c != call);
                if self.callback_calls.contains_key(&call) {
                    self.end_callback_leg(call, callbacks::Side::Agent, now);
                } else {
                    self.end_agent_leg(call, now);
                }
            }
            Action::Waiting { call, queue } => self.waiting(call, queue, now),
            Action::Music { call, prompt } => self.play_prompt(call, &prompt),
            Action::Announcement {
                call,
                position,
                minutes,
                courtesy,
            } => self.announce(call, position, minutes, courtesy),
            Action::CourtesyCallback {
                call,
                number,
                queue,
                ..
            } => self.courtesy_callback(
                call,
                number,
                Some(queue),
                0,
                Some("courtesy callback while waiting".into()),
                now,
            ),
            Action::Farewell { call } => self.farewell(call),
            Action::LetGo { call, reason } => {
                // A BYE to the caller; the switch hears the hang-up after
                // the actions before it, and the call is released when its
                // flow has ended.
                self.hang_up(call, now);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.leaving = Some(reason);
                }
                self.pending.push_back((call, Event::HangUp));
            }
            Action::QueueTimedOut { call, .. } => {
                // The flow's own timer takes its timeout exit; a callback
                // goes back to the store for a later attempt.
                if self.callback_calls.contains_key(&call) {
                    self.callback_failed(call, "no agent within the queue's max wait", now);
                }
            }
            Action::Listen { call } => {
                if self.services.can_hear()
                    && let Some(c) = self.calls.get(&call)
                {
                    to_leg(&c.media, MediaCommand::Listen, &self.media_stats);
                }
            }
            Action::StopListening { call } => {
                if let Some(c) = self.calls.get(&call) {
                    to_leg(&c.media, MediaCommand::StopListening, &self.media_stats);
                }
            }
            Action::AskBot {
                call,
                endpoint,
                request,
                timeout_ms,
            } => {
                let body = serde_json::to_string(&request).unwrap_or_default();
                let tag = (self.switch.bot_requests(call), request.turn);
                self.services.ask_bot(
                    call,
                    tag,
                    endpoint,
                    body,
                    Some(Duration::from_millis(timeout_ms)),
                );
            }
            Action::Announce { call, prompt } => self.play_prompt(call, &prompt),
            Action::TicketOpened { call, ticket } => self.webhook(
                call,
                "ticket_changed",
                serde_json::json!({
                    "ticket": ticket.id,
                    "status": ticket.status,
                    "team": ticket.team,
                    "owner": ticket.owner,
                }),
            ),
            Action::ChatMessage { chat, text } => self.chat_message(chat & !chat::CHAT_KEY, &text),
            Action::ChatHandoff { chat, code, reason } => {
                self.chat_handoff(chat & !chat::CHAT_KEY, &code, &reason, now);
            }
            Action::ChatDone { chat } => self.chat_done(chat & !chat::CHAT_KEY, now),
            Action::Alert {
                campaign,
                alert,
                subject,
                value,
                raised,
            } => self.on_alert(&campaign, &alert, &subject, value, raised),
            Action::Log {
                call,
                event,
                fields,
            } => {
                if let Some(trace) = self.switch_trace.as_mut() {
                    trace.push((now, call, event));
                }
                if event == "notification" {
                    self.on_notification(call, &fields);
                }
                if call & chat::CHAT_KEY != 0 {
                    self.chat_log(call & !chat::CHAT_KEY, event, fields);
                } else if self.calls.contains_key(&call) {
                    if event == "identified"
                        && let Some(id) = fields.get("record").and_then(Value::as_i64)
                        && let Some(c) = self.calls.get_mut(&call)
                    {
                        c.record = Some(id);
                    }
                    self.record(call, event, fields);
                } else if !self.callback_calls.contains_key(&call) {
                    // Decided before the call was released: still its line.
                    self.log
                        .record(self.clock.at(now), &format!("call-{call}"), event, fields);
                }
            }
            Action::Step { .. }
            | Action::Decided { .. }
            | Action::TimerFired { .. }
            | Action::Handoff { .. } => {}
        }
    }

    fn unavailable(&mut self, call_key: u64, what: &str, event: Event) {
        self.record(call_key, "unavailable", fields([("service", what.into())]));
        self.pending.push_back((call_key, event));
    }

    /// Carries out an engine command that is the world's (see
    /// [`Switch::carries_out`]).
    async fn carry_out(&mut self, call_key: u64, command: Command, now: Instant) {
        match command {
            Command::Answer => self.answer(call_key, now),
            Command::Play { index, prompt, .. } => {
                let Some(call) = self.calls.get(&call_key) else {
                    return;
                };
                let law = call.law;
                // What a customer agent says is new text: synthesised off
                // the controller (speech service or espeak-ng), played when
                // ready.
                if index == dialect_engine::DYNAMIC_PROMPT
                    && self.prompts.get(&prompt, &self.media_root, law).is_none()
                    && let dialect_bytecode::Prompt::Say { text, language } = &prompt
                {
                    let language = language
                        .clone()
                        .or_else(|| self.switch.bot_language(call_key).map(str::to_string));
                    self.record(
                        call_key,
                        "prompt",
                        fields([("prompt", format!("say:{text}").into())]),
                    );
                    self.services.speak(call_key, text.clone(), language, law);
                    if let Some(call) = self.calls.get_mut(&call_key) {
                        call.playing = true;
                    }
                    return;
                }
                let frames = match self.prompts.get(&prompt, &self.media_root, law) {
                    Some(frames) => Ok(frames),
                    None => self.prompts.load(&prompt, &self.media_root, law),
                };
                let name = match &prompt {
                    dialect_bytecode::Prompt::Say { text, .. } => format!("say:{text}"),
                    dialect_bytecode::Prompt::Play { path } => path.clone(),
                };
                match frames {
                    Ok(frames) => {
                        self.record(call_key, "prompt", fields([("prompt", name.into())]));
                        if let Some(call) = self.calls.get_mut(&call_key) {
                            if to_leg(
                                &call.media,
                                MediaCommand::Play { frames },
                                &self.media_stats,
                            ) {
                                call.playing = true;
                            } else {
                                // The leg cannot take it: the prompt is over
                                // before it began, and the flow goes on.
                                self.pending.push_back((call_key, Event::PromptFinished));
                            }
                        }
                    }
                    Err(error) => {
                        self.record(
                            call_key,
                            "prompt_failed",
                            fields([("prompt", name.into()), ("error", error.to_string().into())]),
                        );
                        self.pending.push_back((call_key, Event::PromptFinished));
                    }
                }
            }
            Command::StopPlayback => {
                if let Some(call) = self.calls.get_mut(&call_key) {
                    to_leg(&call.media, MediaCommand::Stop, &self.media_stats);
                    call.playing = false;
                }
            }
            Command::Dial {
                number,
                timeout_ms,
                caller_id,
            } => {
                self.dial(call_key, number, timeout_ms, caller_id, now)
                    .await
            }
            Command::Record {
                max_length_ms,
                email,
            } => {
                let dir = self.config.runtime.data.join("voicemail");
                if let Err(error) = std::fs::create_dir_all(&dir) {
                    tracing::error!(dir = %dir.display(), "cannot create the voicemail directory: {error}");
                }
                let path = dir.join(self.recording_name(call_key));
                if let Some(call) = self.calls.get(&call_key) {
                    let sent = call.media.try_send(MediaCommand::Record {
                        path,
                        max: Duration::from_millis(max_length_ms),
                    });
                    if sent.is_ok() {
                        let recording = PendingRecording {
                            call: format!("call-{call_key}@{}", self.hooks.run),
                            campaign: call.campaign.clone(),
                            hash: call.hash.clone(),
                            number: call.number.clone(),
                            email,
                        };
                        self.recordings.insert(call_key, recording);
                    }
                }
            }
            Command::RegisterCallback {
                number,
                queue,
                delay_ms,
                reason,
            } => self.courtesy_callback(call_key, number, queue, delay_ms, reason, now),
            // An external source (the switch checks the internal one).
            Command::Authorise { url, digits, .. } => {
                self.authorise_externally(call_key, url, digits);
            }
            Command::Http {
                request,
                method,
                url,
                body,
                auth,
                timeout_ms,
            } => self.flow_http(call_key, request, method, url, body, auth, timeout_ms),
            Command::SurveyAnswer {
                survey,
                question,
                answer,
            } => self.survey_answer(call_key, survey, question, answer),
            Command::SurveyDone { survey } => {
                self.record(call_key, "survey_done", fields([("survey", survey.into())]));
            }
            Command::ScheduleSurvey {
                campaign,
                survey,
                number,
                delay_ms,
            } => self.schedule_survey(call_key, campaign, survey, number, delay_ms, now),
            Command::Hangup => self.hang_up(call_key, now),
            // Carried out by the switch.
            Command::StartTimer { .. }
            | Command::CancelTimer { .. }
            | Command::Enqueue { .. }
            | Command::Dequeue { .. }
            | Command::Identify { .. }
            | Command::LookupTicket { .. }
            | Command::Transfer { .. }
            | Command::BotTurn { .. } => {}
            Command::Ended(outcome) => {
                let restart = self.calls.get_mut(&call_key).and_then(|c| c.restart.take());
                if let Some(dialled) = restart {
                    // A transfer to an entry point: the old flow is over,
                    // the new one starts on the same call.
                    let caller = self.calls.get(&call_key).map(|c| c.number.clone());
                    self.timer_seq += 1;
                    self.starts.insert(
                        (now, self.timer_seq),
                        (call_key, caller.unwrap_or_default(), dialled),
                    );
                    return;
                }
                let reason = match outcome {
                    Outcome::HungUp { reason } => reason.unwrap_or_else(|| "hangup".into()),
                    Outcome::CallerHungUp => self
                        .calls
                        .get_mut(&call_key)
                        .and_then(|c| c.leaving.take())
                        .unwrap_or_else(|| "caller hung up".into()),
                    Outcome::Failed { error } => format!("failed: {error}"),
                };
                self.release(call_key, &reason).await;
            }
        }
    }

    fn answer(&mut self, call_key: u64, now: Instant) {
        let (transport, peer) = self
            .calls
            .get(&call_key)
            .map_or((Transport::Udp, self.local), |c| (c.transport, c.from));
        let contact = self.contact_for(transport, peer);
        let mut local = self.local_part();
        local.transport = transport;
        local.contact.clone_from(&contact);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        if call.answered {
            return;
        }
        call.answered = true;
        let response = message::response_for(&call.invite, 200, "OK")
            .with_to_tag(&call.local_tag)
            .with_header("Contact", &format!("<{contact}>"))
            .with_body("application/sdp", call.answer_sdp.clone().into_bytes());
        let key = call.invite_tx.clone();
        if let Some(dialog) = Dialog::uas(&call.invite, &call.local_tag, local) {
            let id = dialog.id().clone();
            call.dialog = Some(id.clone());
            self.dialogs.insert(dialog);
            self.by_dialog.insert(id, call_key);
        }
        let sent = self.tx.send_response(&key, response, now);
        self.sip_sent(sent);
        self.record(call_key, "answered", serde_json::Map::new());
        self.webhook(
            call_key,
            "call_answered",
            serde_json::json!({ "by": "customer" }),
        );
    }

    /// The flow hangs up: BYE if answered, else a final error response.
    fn hang_up(&mut self, call_key: u64, now: Instant) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if !call.answered {
            let (key, invite) = (call.invite_tx.clone(), call.invite.clone());
            return self.respond(&key, &invite, 480, "Temporarily Unavailable", now);
        }
        let Some(id) = call.dialog.clone() else {
            return;
        };
        let (from, transport) = (call.from, call.transport);
        // RFC 3261 15: no BYE before the ACK of our 2xx (or the end of its
        // transaction): the dialog waits for its ACK, then gets its BYE.
        if self.dialogs.get(&id).is_some_and(|d| !d.is_confirmed()) {
            if let Some(dialog) = self.dialogs.get(&id).cloned() {
                self.awaiting_ack.insert(dialog);
                self.timer_seq += 1;
                let slot = (now + ACK_WAIT, self.timer_seq);
                self.bye_slots.insert(id.clone(), slot);
                self.bye_deadlines.insert(slot, (id, from, transport));
            }
            return;
        }
        let branch = self.ids.branch();
        let bye = self
            .dialogs
            .get_mut(&id)
            .and_then(|d| d.request(Method::Bye, &branch).ok());
        if let Some(bye) = bye {
            let sent = self.tx.send_request(bye, from, transport, now);
            self.sip_sent(sent);
        }
    }

    /// Sends the BYE a dialog was waiting to send for its ACK (or for the
    /// end of the wait).
    fn deferred_bye(&mut self, id: &DialogId, now: Instant) {
        let target = self
            .bye_slots
            .remove(id)
            .and_then(|slot| self.bye_deadlines.remove(&slot).map(|v| (v.1, v.2)));
        let Some((to, transport)) = target else {
            self.awaiting_ack.remove(id);
            return;
        };
        let Some(mut dialog) = self.awaiting_ack.remove(id) else {
            return;
        };
        let branch = self.ids.branch();
        if let Ok(bye) = dialog.request(Method::Bye, &branch) {
            let sent = self.tx.send_request(bye, to, transport, now);
            self.sip_sent(sent);
        }
    }

    /// Frees everything a call holds. Idempotent.
    async fn release(&mut self, call_key: u64, reason: &str) {
        if !self.calls.contains_key(&call_key) {
            return;
        }
        self.record(call_key, "hangup", fields([("reason", reason.into())]));
        self.hook_call_ended(call_key, reason);
        if let Some(call) = self.calls.get(&call_key) {
            let outcome = if reason.starts_with("failed") {
                "failed"
            } else if reason.contains("caller") || reason == "cancelled" {
                "caller_hung_up"
            } else {
                "completed"
            };
            *self
                .ended
                .entry((call.campaign.clone(), outcome.to_string()))
                .or_default() += 1;
        }
        if let Some(id) = self.calls.get(&call_key).and_then(|c| c.survey_call) {
            self.survey_call_ended(id, reason);
        }
        let now = self.now;
        self.stop_recording(call_key);
        self.panel_offers.retain(|_, c| *c != call_key);
        self.end_conference(call_key, now);
        self.drop_agent(call_key, now);
        let at = self.clock.at(now);
        self.switch.release(call_key, at);
        self.pump(now).await;
        let Some(call) = self.calls.remove(&call_key) else {
            return;
        };
        if call.flowed | call.answered {
            let record = dialect_store::CallRecord {
                call: format!("call-{call_key}"),
                campaign: call.campaign.clone(),
                version: call.hash.clone(),
                caller: call.number.clone(),
                dialled: call.dialled.clone(),
                started: call.started,
                ended: self.clock.at(now),
                outcome: reason.to_string(),
                agent: call.last_agent.clone(),
                queue: call.last_wait.as_ref().map(|(q, _)| q.clone()),
                wait_ms: call.last_wait.as_ref().map(|(_, w)| *w),
            };
            self.cdrs.push(record);
        }
        let _ = call.media.send(MediaCommand::Close).await;
        self.by_invite.remove(&call.invite_tx);
        if let Some(id) = call.dialog {
            self.dialogs.remove(&id);
            self.by_dialog.remove(&id);
        }
        self.pending.retain(|(k, _)| *k != call_key);
    }

    /// Starts a media leg; returns its command sender and its inbound voice sender.
    /// Media is taken from `remote` only, or latched from `signalling`'s
    /// address (see [`leg::Source`]).
    fn start_leg(
        &mut self,
        call_key: u64,
        socket: MediaSocket,
        (remote, signalling): (SocketAddr, SocketAddr),
        law: Law,
        telephone_event: Option<u8>,
        srtp: Option<Box<leg::Srtp>>,
    ) -> (mpsc::Sender<MediaCommand>, VoiceSender) {
        let (media, commands) = mpsc::channel(64);
        let (inbound_tx, inbound) = crate::voice::pipe(16);
        if let Some(legs) = self.scripted_media.as_mut() {
            legs.push((call_key, commands));
            return (media, inbound_tx);
        }
        tokio::spawn(leg::run(LegSetup {
            call: call_key,
            socket,
            remote,
            signalling: Some(signalling.ip()),
            random: self.ids.next_u64(),
            srtp,
            law,
            telephone_event,
            tick: self.tick.clone(),
            commands,
            events: self.media_tx.clone(),
            stats: self.media_stats.clone(),
            inbound,
        }));
        (media, inbound_tx)
    }

    /// Sends an INVITE with our offer for a second leg of a call (an agent,
    /// or a number through the trunk). Returns whether it was sent.
    #[allow(clippy::too_many_arguments)]
    async fn offer_leg(
        &mut self,
        call_key: u64,
        name: String,
        to: SocketAddr,
        uri: String,
        trunk: bool,
        from: Option<&Identity>,
        auto_answer: bool,
        now: Instant,
    ) -> bool {
        if self.calls.get(&call_key).is_none_or(|c| c.agent.is_some()) {
            return false;
        }
        let Some(mut leg) = self
            .new_leg(name, to, uri, (trunk, auto_answer), from, now)
            .await
        else {
            return false;
        };
        leg.acd_call = call_key;
        self.by_agent_tx.insert(leg.tx.clone(), call_key);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.agent = Some(leg);
        }
        true
    }

    /// An RTP socket (see [`crate::rtp_ports`]): its port is free again
    /// when the socket is dropped, wherever it is.
    fn bind_media(&mut self) -> Option<MediaSocket> {
        self.ports.take(Instant::now())
    }

    /// A second leg: an INVITE with our offer, sent (an agent, or a number
    /// through the trunk: `trunk`). `auto_answer`: the agent's phone is
    /// asked to answer by itself (`Call-Info: …;answer-after=0` and the
    /// `Alert-Info` auto-answer hint desk phones know; the campaign's
    /// `handling`). `from`: the identity shown to the called party (a
    /// `dial` block's `caller_id`); `dialect` without one.
    async fn new_leg(
        &mut self,
        name: String,
        to: SocketAddr,
        uri: String,
        (trunk, auto_answer): (bool, bool),
        from: Option<&Identity>,
        now: Instant,
    ) -> Option<PlacedLeg> {
        let socket = self.bind_media()?;
        let offer = sdp::offer(&LocalMedia {
            address: self.config.media.address,
            port: socket.port(),
            session_id: self.ids.next_u64() >> 1,
            version: 1,
        });
        let (branch, tag) = (self.ids.branch(), self.ids.tag());
        let call_id = self.ids.call_id(&self.local.ip().to_string());
        let (display, user) = from.map_or((None, "dialect"), |id| {
            (id.display.as_deref(), id.user.as_str())
        });
        let Ok(invite) = message::invite_as(
            &uri,
            self.local,
            (display, user),
            (&branch, &tag, &call_id),
            offer,
        ) else {
            return None;
        };
        let invite = match from.filter(|id| id.asserted && !trunk) {
            Some(_) => {
                let uri = format!("sip:{user}@{}", self.local);
                let asserted = match display {
                    Some(name) => format!("{} <{uri}>", message::quoted(name)),
                    None => format!("<{uri}>"),
                };
                invite.with_header("P-Asserted-Identity", &asserted)
            }
            None => invite,
        };
        // An agent who registered through a proxy is rung by way of it.
        let invite = match self.agent_routes.get(&name).filter(|_| !trunk) {
            Some(path) => path
                .iter()
                .fold(invite, |invite, hop| invite.with_header("Route", hop)),
            None => invite,
        };
        let invite = if auto_answer {
            invite
                .with_header("Call-Info", &format!("<sip:{}>;answer-after=0", self.local))
                .with_header(
                    "Alert-Info",
                    "<http://127.0.0.1/>;info=alert-autoanswer;delay=0",
                )
        } else {
            invite
        };
        let Ok(tx) = self
            .tx
            .send_request(invite.clone(), to, Transport::Udp, now)
        else {
            return None;
        };
        Some(PlacedLeg {
            name,
            to,
            invite,
            tx,
            port: socket.port(),
            socket: Some(socket),
            dialog: None,
            media: None,
            inbound: None,
            trunk,
            acd_call: 0,
            law: Law::Ulaw,
        })
    }

    /// A `dial` block: the number through the configured trunk, with the
    /// block's ring time; without a trunk the dial fails at once.
    async fn dial(
        &mut self,
        call_key: u64,
        number: String,
        timeout_ms: u64,
        caller_id: Option<String>,
        now: Instant,
    ) {
        let mut extra = fields([("number", number.clone().into())]);
        if let Some(id) = &caller_id {
            extra.insert("caller_id".into(), id.clone().into());
        }
        self.record(call_key, "dial", extra);
        let Some((to, uri)) = self.trunk_target(&number, &format!("call-{call_key}")) else {
            if self.config.trunk.is_none() {
                return self.unavailable(call_key, "trunk", Event::DialResult(DialOutcome::Failed));
            }
            // The dial plan refused the number (logged as `dial_refused`):
            // the block's failed exit, as for a call the trunk refuses.
            self.pending
                .push_back((call_key, Event::DialResult(DialOutcome::Failed)));
            return;
        };
        if self
            .offer_leg(
                call_key,
                number,
                to,
                uri,
                true,
                caller_id
                    .map(|user| Identity {
                        user,
                        display: None,
                        asserted: false,
                    })
                    .as_ref(),
                false,
                now,
            )
            .await
        {
            self.timer_seq += 1;
            self.ring_deadlines.insert(
                (now + Duration::from_millis(timeout_ms), self.timer_seq),
                call_key,
            );
        } else {
            self.pending
                .push_back((call_key, Event::DialResult(DialOutcome::Failed)));
        }
    }

    /// A recording's file name from the campaign's `recording_name`
    /// template (`{campaign}`, `{date}`, `{time}`, `{caller}`, `{agent}`,
    /// `{field}`), made safe for a file system, then `call-N-RANDOM.wav`
    /// (that alone without a template).
    fn recording_name(&mut self, call_key: u64) -> String {
        // Call keys restart with each run: a random part keeps names unique
        // across restarts (and the file is created new, never replaced).
        let unique = format!("call-{call_key}-{}", self.ids.token(4));
        let Some(call) = self.calls.get(&call_key) else {
            return format!("{unique}.wav");
        };
        let Some(template) = self
            .switch
            .directory()
            .campaigns
            .get(&call.campaign)
            .and_then(|c| c.recording_name.clone())
        else {
            return format!("{unique}.wav");
        };
        let local = self.wall().to_zoned(jiff::tz::TimeZone::UTC);
        let id = self
            .switch
            .directory()
            .campaigns
            .get(&call.campaign)
            .and_then(|c| c.id.clone())
            .unwrap_or_else(|| call.campaign.clone());
        let name = template
            .replace("{campaign}", &id)
            .replace("{date}", &local.strftime("%Y%m%d").to_string())
            .replace("{time}", &local.strftime("%H%M%S").to_string())
            .replace("{caller}", call.number.trim_start_matches('+'))
            .replace("{agent}", call.last_agent.as_deref().unwrap_or("none"))
            .replace("{field}", &self.recording_field(call));
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}_{unique}.wav")
    }

    /// `{field}` of a recording's name: the identified record's value of
    /// the campaign's significant field marked `in_recording_name` (empty
    /// without a record, such a field, or a value).
    fn recording_field(&self, call: &Call) -> String {
        let field = self
            .switch
            .directory()
            .campaigns
            .get(&call.campaign)
            .and_then(|c| c.recording_field.clone());
        match (field, call.record, &self.store) {
            (Some(field), Some(id), Some(store)) => store
                .record(id)
                .ok()
                .flatten()
                .and_then(|r| r.fields.get(&field).cloned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Where a number goes through the trunk: its address and the request
    /// URI (the number, without `+`, as the user part of the trunk's URI).
    /// Every call we place through the trunk passes the dial plan (`[trunk]
    /// allow`/`deny`, premium-rate and international numbers refused unless
    /// allowed, E.164 only); a refused number is logged and gets `None`.
    /// `call` names the call in the event log (empty for none).
    fn trunk_target(&self, number: &str, call: &str) -> Option<(SocketAddr, String)> {
        let trunk = self.config.trunk.as_ref()?;
        let to = uri_address(&trunk.uri)?;
        let number = match trunk.dial_plan().check(number) {
            Ok(e164) => e164,
            Err(refusal) => {
                tracing::warn!(number, "not dialled: {refusal}");
                self.log.record(
                    self.wall(),
                    call,
                    "dial_refused",
                    fields([
                        ("number", number.into()),
                        ("reason", refusal.to_string().into()),
                    ]),
                );
                return None;
            }
        };
        let number = number.as_str();
        let host = trunk
            .uri
            .rsplit('@')
            .next()
            .unwrap_or(&trunk.uri)
            .trim_start_matches("sip:");
        Some((to, format!("sip:{}@{host}", number.trim_start_matches('+'))))
    }

    /// A response to one of our INVITEs: an agent or trunk leg of a call,
    /// or a leg of a callback.
    async fn on_agent_response(&mut self, key: TxKey, response: Message, now: Instant) {
        if let Some((cb, side)) = self.cb_legs.get(&key).copied() {
            return self.on_callback_response(cb, side, response, now).await;
        }
        if let Some(survey) = self.survey_legs.get(&key).copied() {
            return self.on_survey_response(survey, response, now).await;
        }
        let Some(call_key) = self.by_agent_tx.get(&key).copied() else {
            return;
        };
        let status = response.status().unwrap_or(0);
        if status < 200 {
            return;
        }
        if status >= 300 {
            // The INVITE is over: nothing to CANCEL.
            if let Some(agent) = self.calls.get_mut(&call_key).and_then(|c| c.agent.as_mut()) {
                agent.socket = None;
            }
            let name = self.agent_name(call_key);
            let trunk = self.is_trunk(call_key);
            if trunk {
                // Busy, no answer (the callee's own timeout or a decline),
                // or a failure: the dial block's exits.
                let outcome = match status {
                    486 | 600 => DialOutcome::Busy,
                    408 | 480 | 487 | 603 => DialOutcome::NoAnswer,
                    _ => DialOutcome::Failed,
                };
                self.record(
                    call_key,
                    "dial_failed",
                    fields([("number", name.into()), ("status", status.into())]),
                );
                self.drop_agent(call_key, now);
                if self.calls.get(&call_key).is_some_and(|c| c.transferring) {
                    return self.transfer_failed(call_key, now).await;
                }
                self.deliver(call_key, Event::DialResult(outcome), now)
                    .await;
                return;
            }
            if status == 487 {
                // Our own CANCEL (RONA, caller gone): already handled.
                return;
            }
            self.record(
                call_key,
                "agent_failed",
                fields([("agent", name.into()), ("status", status.into())]),
            );
            // The agent refused or failed: RONA now; the call keeps its place.
            self.switch.agent_declined(call_key, self.clock.at(now));
            self.pump(now).await;
            return;
        }
        let Some(mut leg) = self.calls.get_mut(&call_key).and_then(|c| c.agent.take()) else {
            return;
        };
        let fresh = leg.dialog.is_none();
        let started = self.answer_leg(call_key, &mut leg, &response, now);
        if let Some(id) = &leg.dialog {
            self.agent_dialogs.insert(id.clone(), call_key);
        }
        let name = leg.name.clone();
        let trunk = leg.trunk;
        let agent_inbound = leg.inbound.clone();
        let agent_media = leg.media.clone();
        let Some(call) = self.calls.get_mut(&call_key) else {
            self.end_leg(leg, now);
            return;
        };
        call.agent = Some(leg);
        if !(fresh && started) {
            return;
        }
        let (caller_media, caller_inbound) = (call.media.clone(), call.inbound.clone());
        if let (Some(peer), Some(media)) = (agent_inbound, agent_media) {
            to_leg(
                &caller_media,
                MediaCommand::Bridge { peer },
                &self.media_stats,
            );
            to_leg(
                &media,
                MediaCommand::Bridge {
                    peer: caller_inbound,
                },
                &self.media_stats,
            );
            if !trunk {
                self.record_party(call_key, &media, &name);
            }
        }
        self.record(
            call_key,
            "connected",
            fields([("agent", name.clone().into())]),
        );
        if !trunk {
            self.switch.agent_answered(call_key, self.clock.at(now));
            self.agent_connected(call_key, &name, now);
        }
        let transferring = self.calls.get(&call_key).is_some_and(|c| c.transferring);
        if trunk && transferring {
            if let Some(call) = self.calls.get_mut(&call_key) {
                call.transferring = false;
            }
            return;
        }
        let event = if trunk {
            Event::DialResult(DialOutcome::Connected)
        } else {
            Event::AgentConnected { agent: name }
        };
        self.deliver(call_key, event, now).await;
    }

    /// A 2xx to a leg's INVITE: the dialog, the ACK (again for a
    /// retransmitted 2xx), and on the first 2xx the leg's media task.
    /// Returns whether media started now.
    fn answer_leg(
        &mut self,
        key: u64,
        leg: &mut PlacedLeg,
        response: &Message,
        now: Instant,
    ) -> bool {
        let _ = now;
        let local = self.local_part();
        let branch = self.ids.branch();
        if leg.dialog.is_none() {
            let Some(dialog) = Dialog::uac(&leg.invite, response, local) else {
                return false;
            };
            leg.dialog = Some(dialog.id().clone());
            self.dialogs.insert(dialog);
        }
        let ack = leg
            .dialog
            .as_ref()
            .and_then(|id| self.dialogs.get(id))
            .and_then(|d| d.ack(1, &branch).ok());
        if let Some(ack) = ack {
            self.tx
                .send_bytes(message::serialize(&ack), leg.to, Transport::Udp);
        }
        let Some(socket) = leg.socket.take() else {
            return false;
        };
        let negotiated = sdp::parse(response.body())
            .ok()
            .and_then(|answer| sdp::negotiated(&answer));
        let Some((negotiated, remote)) = negotiated.and_then(|n| n.remote.map(|r| (n, r))) else {
            return false;
        };
        let law = match negotiated.codec {
            Codec::Pcmu => Law::Ulaw,
            Codec::Pcma => Law::Alaw,
        };
        let (media, inbound) = self.start_leg(
            key,
            socket,
            (remote, leg.to),
            law,
            negotiated.telephone_event,
            None,
        );
        leg.media = Some(media);
        leg.inbound = Some(inbound);
        leg.law = law;
        true
    }

    fn is_trunk(&self, call_key: u64) -> bool {
        self.calls
            .get(&call_key)
            .and_then(|c| c.agent.as_ref())
            .is_some_and(|a| a.trunk)
    }

    fn agent_name(&self, call_key: u64) -> String {
        self.calls
            .get(&call_key)
            .and_then(|c| c.agent.as_ref())
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }

    /// The agent hung up a bridged call: the caller goes on with the flow.
    pub(super) async fn agent_hung_up(&mut self, call_key: u64, now: Instant) {
        if let Some(agent) = self.calls.get_mut(&call_key).and_then(|c| c.agent.as_mut()) {
            // Their BYE ended their dialog: nothing more to send them.
            // (Its media is closed with the leg, which still counts as
            // connected: the agent wraps up.)
            if let Some(id) = agent.dialog.take() {
                self.agent_dialogs.remove(&id);
                self.dialogs.remove(&id);
            }
        }
        self.agent_leaves(call_key, now).await;
    }

    /// The agent leaves a bridged call (their phone's BYE, or the desktop's
    /// hang-up, which sends the phone a BYE): the caller goes on with the
    /// flow.
    pub(super) async fn agent_leaves(&mut self, call_key: u64, now: Instant) {
        let name = self.agent_name(call_key);
        self.record(call_key, "agent_hung_up", fields([("agent", name.into())]));
        self.drop_agent(call_key, now);
        let consult = self
            .calls
            .get(&call_key)
            .is_some_and(|c| c.consult_of.is_some());
        if self.switch.engine_call(call_key).is_some() {
            self.deliver(call_key, Event::BridgeEnded, now).await;
        } else if consult {
            // The consulted party hung up: the consultation is over.
            self.hang_up(call_key, now);
            self.release(call_key, "the consulted party hung up").await;
        }
    }

    /// Ends the agent leg of a call, if any, and tells the ACD: after a
    /// conversation the agent wraps up; an offer still ringing is taken
    /// back with the call (it leaves the queue).
    fn drop_agent(&mut self, call_key: u64, now: Instant) {
        let Some((name, trunk, connected, acd_call)) = self.end_agent_leg(call_key, now) else {
            return;
        };
        if trunk {
            return;
        }
        let at = self.clock.at(now);
        if connected {
            self.switch.agent_ended(acd_call, at);
            self.wrap_up_started(&name, acd_call, now);
        } else {
            self.switch.remove(acd_call, at);
        }
    }

    /// Ends the agent leg of a call (BYE when answered, CANCEL when still
    /// ringing, unless already over) without telling the ACD. Returns the
    /// leg's name, whether it was a trunk leg, whether it was connected and
    /// its ACD call.
    fn end_agent_leg(&mut self, call_key: u64, now: Instant) -> Option<(String, bool, bool, u64)> {
        let call = self.calls.get_mut(&call_key)?;
        let leg = call.agent.take()?;
        to_leg(&call.media, MediaCommand::Unbridge, &self.media_stats);
        self.by_agent_tx.remove(&leg.tx);
        let info = (
            leg.name.clone(),
            leg.trunk,
            leg.media.is_some(),
            leg.acd_call,
        );
        self.end_leg(leg, now);
        Some(info)
    }

    /// Ends one second leg: closes its media, sends BYE or CANCEL, forgets
    /// its dialog, frees its port.
    fn end_leg(&mut self, leg: PlacedLeg, now: Instant) {
        if let Some(media) = &leg.media {
            to_leg(media, MediaCommand::Close, &self.media_stats);
        }
        match &leg.dialog {
            Some(id) => {
                let branch = self.ids.branch();
                let bye = self
                    .dialogs
                    .get_mut(id)
                    .and_then(|d| d.request(Method::Bye, &branch).ok());
                if let Some(bye) = bye {
                    let sent = self.tx.send_request(bye, leg.to, Transport::Udp, now);
                    self.sip_sent(sent);
                }
                self.agent_dialogs.remove(id);
                self.cb_dialogs.remove(id);
                self.dialogs.remove(id);
            }
            None if leg.media.is_none() && leg.socket.is_some() => {
                if let Some(cancel) = message::cancel_for(&leg.invite) {
                    let sent = self.tx.send_request(cancel, leg.to, Transport::Udp, now);
                    self.sip_sent(sent);
                }
            }
            None => {}
        }
        self.cb_legs.remove(&leg.tx);
    }

    /// Graceful shutdown: every answered call gets a BYE.
    async fn hang_up_all(&mut self, now: Instant) {
        self.now = now;
        let keys: Vec<u64> = self.calls.keys().copied().collect();
        for key in keys {
            self.hang_up(key, now);
            self.release(key, "server shut down").await;
        }
    }
}

/// The caller's number from `From`, as E.164 where it looks like one.
/// The user part of the From URI, as a name to authenticate.
fn caller_user(request: &Message) -> String {
    request
        .from()
        .and_then(|f| f.uri.split_once(':').map(|(_, rest)| rest.to_string()))
        .and_then(|rest| rest.split('@').next().map(str::to_string))
        .unwrap_or_default()
}

fn caller_number(request: &Message) -> String {
    let user = request
        .from()
        .map(|f| f.uri)
        .and_then(|uri| uri.split_once(':').map(|(_, rest)| rest.to_string()))
        .and_then(|rest| rest.split('@').next().map(str::to_string))
        .unwrap_or_default();
    let digits: String = user.chars().filter(char::is_ascii_digit).collect();
    if user.starts_with('+') || digits.len() >= 10 {
        format!("+{}", digits.trim_start_matches("00"))
    } else {
        user
    }
}

/// The socket address of a `sip:user@host:port` URI (IP addresses only; the
/// port defaults to 5060).
fn uri_address(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let host = rest.rsplit('@').next()?;
    let host = host.split(';').next()?;
    host.parse::<SocketAddr>().ok().or_else(|| {
        host.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 5060))
    })
}

/// The store as the switch sees it (the server always has one; without
/// it, reads find nothing and writes fail, logged).
fn store_of(store: &Option<Box<dyn Store>>) -> &dyn dialect_switch::Store {
    match store {
        Some(store) => store.as_switch(),
        None => &dialect_switch::NoStore,
    }
}

/// Hands a command to a call leg's task. One that cannot be handed over
/// (the leg's queue is full, or the leg has ended) is counted
/// (`media_commands_dropped` in the status), never silently lost; the
/// caller decides what the loss means (a prompt that cannot start ends at
/// once).
fn to_leg(media: &mpsc::Sender<MediaCommand>, command: MediaCommand, stats: &MediaStats) -> bool {
    let handed = media.try_send(command).is_ok();
    if !handed {
        stats.commands_dropped.fetch_add(1, Ordering::Relaxed);
    }
    handed
}
