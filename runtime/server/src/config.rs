//! The runtime's configuration: a TOML file (optional) plus command-line
//! overrides. Every setting has an embedded default, so `dialect serve` runs
//! with no file at all.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// SIP transport.
    pub sip: Sip,
    /// RTP media.
    pub media: Media,
    /// Files and limits.
    pub runtime: Runtime,
    /// Agents configured by URI, or allowed to REGISTER with a password.
    #[serde(rename = "agent")]
    pub agents: Vec<Agent>,
    /// Where `dial` blocks send calls.
    pub trunk: Option<Trunk>,
    /// The agent API (HTTP with JSON).
    pub api: Api,
    /// Speech services for the customer agent.
    pub services: Services,
    /// Delivery of the campaigns' webhook events.
    pub webhooks: Webhooks,
    /// The flows' own HTTP requests (`api_login`, `api_request`).
    pub http: Http,
    /// The admin API (reloads, status, metrics).
    pub admin: Admin,
    /// TLS: SIP over TLS and HTTPS for the APIs (off without it).
    pub tls: Option<Tls>,
    /// E-mail and SMS notifications (off without them).
    pub notify: Notify,
    /// Several nodes, one contact centre (docs/cluster.md): off without it.
    pub cluster: Option<Cluster>,
}

/// A node of a cluster (docs/cluster.md): nodes sharing one PostgreSQL
/// database elect one leader, which takes the calls and runs the ACD; the
/// others stand by and take over within seconds when it dies.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// This node's name, unique in the cluster (letters, digits, `-`, `_`,
    /// `.`).
    pub node: String,
    /// The proxies (Kamailio) that relay calls and registrations to the
    /// nodes (`IP` or `IP/PREFIX`): a new INVITE or REGISTER from
    /// anywhere else gets 403. Empty: from anywhere (a firewall's job).
    #[serde(default)]
    pub proxies: Vec<String>,
    /// How long the lead holds without renewal, in ms (default 3000): a
    /// leader that dies is replaced within it. It is renewed six times in
    /// it.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
}

fn default_lease_ms() -> u64 {
    3000
}

/// E-mail and SMS notifications (docs/operations.md, "Notifications"):
/// voicemail e-mails, classifiers' `email` and `sms` actions. They go
/// through the webhook outbox (retried, kept across a restart).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    /// The SMTP server e-mails go through; none: e-mails are only logged.
    pub smtp: Option<Smtp>,
    /// The HTTP gateway SMS go through; none: SMS are only logged.
    pub sms: Option<SmsGateway>,
}

/// An SMTP server.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// Its host name or address.
    pub host: String,
    /// Its port (default 587).
    #[serde(default = "submission")]
    pub port: u16,
    /// The sender, `Dialect <dialect@example.com>`.
    pub from: String,
    /// `starttls` (the default), `tls` (implicit, port 465) or `none`
    /// (plain text: a relay on the same host only).
    #[serde(default = "starttls")]
    pub security: String,
    /// The login, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
    /// A PEM certificate (the relay's own, or its private CA's) trusted
    /// for `starttls` and `tls` besides the public roots: an on-premises
    /// relay with a certificate of its own.
    #[serde(default)]
    pub ca: Option<std::path::PathBuf>,
}

fn submission() -> u16 {
    587
}

fn starttls() -> String {
    "starttls".into()
}

/// An SMS gateway: each SMS is POSTed as `{"to": "+48...", "text": "..."}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmsGateway {
    /// Where to POST.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`, if given.
    #[serde(default)]
    pub token: Option<String>,
}

/// TLS for the front doors (docs/security.md).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain, PEM.
    pub certificate: PathBuf,
    /// Its private key, PEM (PKCS #8, PKCS #1 or SEC1).
    pub key: PathBuf,
    /// Where SIP over TLS listens (`sips:`, e.g. `0.0.0.0:5061`); none: no
    /// SIP over TLS.
    #[serde(default)]
    pub sip_listen: Option<SocketAddr>,
    /// Serve the agent and admin APIs over HTTPS (default true).
    #[serde(default = "yes")]
    pub https: bool,
}

/// The admin API.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// Where it listens (loopback by default); `None` turns it off.
    pub listen: Option<SocketAddr>,
    /// The bearer token every request needs; without one, every request is
    /// refused.
    pub token: Option<String>,
    /// Watch the flows directory and reload when it changes (default true).
    pub watch: bool,
}

impl Default for Admin {
    fn default() -> Admin {
        Admin {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
            token: None,
            watch: true,
        }
    }
}

/// Delivery of webhook events (SPEC 5.9; docs/operations.md, "Webhooks").
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Webhooks {
    /// Attempts at one event before it is dead-lettered (default 10).
    pub max_attempts: u32,
    /// The longest wait for a receiver's answer, in milliseconds (default 5000).
    pub timeout_ms: u64,
    /// Events POSTed at once, each of a different call (default 8).
    pub concurrency: usize,
    /// The wait after the first failed attempt, in milliseconds, doubled
    /// after each further failure (default 1000).
    pub backoff_ms: u64,
    /// The longest wait between two attempts, in milliseconds (default
    /// 300000, five minutes).
    pub max_backoff_ms: u64,
    /// Delivered events are deleted from the outbox after this many hours
    /// (default 168, a week); dead ones are kept.
    pub keep_delivered_hours: u64,
    /// A staging aid: when set, every campaign's webhook events go to this
    /// URL instead of the URLs in the flows (staging and production run
    /// the same flows).
    pub url: Option<String>,
}

impl Default for Webhooks {
    fn default() -> Webhooks {
        Webhooks {
            max_attempts: 10,
            timeout_ms: 5_000,
            concurrency: 8,
            backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            keep_delivered_hours: 168,
            url: None,
        }
    }
}

/// Pluggable speech services (runtime/bot/PROTOCOL.md).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Services {
    /// Speech-to-text: receives each caller utterance as WAV, answers with
    /// its text. Without one, callers cannot talk to customer agents.
    pub stt: Option<String>,
    /// Text-to-speech: answers text with WAV; without one, espeak-ng speaks.
    pub tts: Option<String>,
    /// The longest wait for a speech service, in milliseconds (default 5000).
    pub timeout_ms: Option<u64>,
    /// External customer agents' endpoints by bot name, overriding the
    /// flows' `endpoint` (staging and production run the same flows).
    pub bots: std::collections::BTreeMap<String, String>,
}

/// What the flows' `api_login` and `api_request` blocks may reach.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// URL prefixes the flows may call (`https://crm.example.com/api/`). A
    /// request to any other URL is refused (logged as `http_refused`) and
    /// takes the block's `error` exit; redirects are not followed. Empty
    /// (the default): the flows call nothing.
    pub allow: Vec<String>,
    /// The secrets `api_login` blocks name (`secret "crm"`), by name; an
    /// environment variable `DIALECT_SECRET_CRM` counts too (upper case).
    pub secrets: std::collections::BTreeMap<String, String>,
    /// The largest answer read, in bytes (default 1 MiB); a longer one is
    /// an error.
    pub max_body: usize,
}

impl Default for Http {
    fn default() -> Http {
        Http {
            allow: Vec::new(),
            secrets: std::collections::BTreeMap::new(),
            max_body: 1 << 20,
        }
    }
}

impl Http {
    /// Whether the flows may call `url`: it is `http(s)` and starts with
    /// an allowed prefix at a boundary (`https://a.example` does not allow
    /// `https://a.example.evil.net/`).
    pub fn allows(&self, url: &str) -> bool {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return false;
        };
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
            return false;
        }
        self.allow.iter().any(|prefix| {
            url.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#'])
            })
        })
    }

    /// The value of the secret `name`: the configuration's, else the
    /// environment's `DIALECT_SECRET_NAME`.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned().or_else(|| {
            let variable = format!(
                "DIALECT_SECRET_{}",
                name.to_ascii_uppercase().replace(['-', '.'], "_")
            );
            std::env::var(variable).ok()
        })
    }
}

/// The agent API.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    /// Where it listens; `None` turns it off.
    pub listen: Option<SocketAddr>,
    /// The bearer token websites send web callback requests with; without
    /// one, web callbacks are refused.
    pub web_token: Option<String>,
    /// Failed logins (digest, Basic, bearer) from one address or for one
    /// name before further attempts are refused (default 5).
    pub login_failures: u32,
    /// How long such a lockout lasts after the last failure, in seconds
    /// (default 300).
    pub login_lockout_s: u64,
    /// Connections to each of the agent and admin APIs at once (default
    /// 1024); more are closed as they come.
    pub max_connections: usize,
    /// The longest a request's headers may take to arrive, in seconds
    /// (default 10): a client trickling them is cut off.
    pub header_timeout_s: u64,
    /// The reasons the desktop offers an agent going not ready (default
    /// break, lunch, training, meeting).
    pub not_ready_reasons: Vec<String>,
}

impl Api {
    /// The limits of the agent and admin APIs' connections.
    pub fn limits(&self) -> crate::tls::HttpLimits {
        crate::tls::HttpLimits {
            max_connections: self.max_connections,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_s),
        }
    }
}

impl Default for Api {
    fn default() -> Api {
        Api {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            web_token: None,
            login_failures: 5,
            login_lockout_s: 300,
            max_connections: 1024,
            header_timeout_s: 10,
            not_ready_reasons: ["break", "lunch", "training", "meeting"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// SIP transport settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Sip {
    /// Address for SIP over UDP and TCP.
    pub listen: SocketAddr,
    /// The realm of digest challenges to registering agents.
    pub realm: String,
    /// Ring this long (180 Ringing) before the flow answers; 0 answers at once.
    pub answer_after_ms: u64,
    /// Addresses (`IP` or `IP/PREFIX`) trusted without a password: agents
    /// configured by `uri` alone may place consultation calls and transfers
    /// only from here, and these sources are not rate-limited (a trunk or
    /// an SBC that sends every call). Empty by default.
    pub trusted: Vec<String>,
    /// The shortest registration accepted, in seconds (shorter gets 423
    /// Interval Too Brief; default 60).
    pub min_expires: u32,
    /// The longest registration granted, in seconds (longer is cut to it;
    /// default 3600).
    pub max_expires: u32,
    /// Requests per second from one IP address (not trusted) before 503
    /// with `Retry-After` (default 200).
    pub rate_limit: u32,
    /// Requests one address may send at once above its rate (default 400).
    pub rate_burst: u32,
    /// SIP over TCP: connections open at once (default 1024); more are
    /// closed at once.
    pub max_connections: usize,
    /// SIP over TCP: a connection that sends nothing this long is closed,
    /// in seconds (default 120).
    pub idle_timeout_s: u64,
    /// SIP transactions alive at once (default 150000: a caller's BYE
    /// leaves its transaction for 32 s, so 3,000 calls a second keep
    /// about 110,000; each costs about 1.5 kB); a new request past it gets
    /// 503.
    pub max_transactions: usize,
    /// The display name an agent's phone shows with the caller's number:
    /// `campaign` (the campaign's `name`, the default), `queue` (the queue
    /// the call waited in) or `none`.
    pub agent_display: String,
}

/// RTP settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Media {
    /// The address put into SDP and bound for RTP.
    pub address: std::net::IpAddr,
    /// First RTP port (even). The range belongs to the server: sockets are
    /// kept bound between calls (at most 4,096 of them resting), so no
    /// other program should bind ports in it.
    pub port_min: u16,
    /// Last RTP port.
    pub port_max: u16,
}

/// Files and limits.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Runtime {
    /// The flows to compile (or a directory of built artifacts).
    pub flows: PathBuf,
    /// Recordings, voicemail and logs go here.
    pub data: PathBuf,
    /// Calls at once; more get 503.
    pub max_calls: usize,
    /// The event log: a file path, or `-` for standard output.
    pub event_log: String,
    /// The database (callbacks, relationships, records, the webhook
    /// outbox): an SQLite file, by default `dialect.sqlite` in `data`, or
    /// a PostgreSQL database given as a `postgres://` URL (see
    /// `crate::database`).
    pub database: Option<PathBuf>,
    /// Public keys (`dialect keygen`'s `.pub` files, or their text) whose
    /// signatures the server requires on every artifact it serves, in
    /// addition to `--trust`; empty: artifacts need no signature.
    pub trust: Vec<String>,
    /// Recorded conversations are deleted (file and index row) this many
    /// days after they were made; 0 keeps them for ever.
    pub keep_recordings_days: u32,
}

/// An agent.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The agent's name, as in the flows (`agent alice { ... }`).
    pub name: String,
    /// Where to ring the agent, when it does not register.
    pub uri: Option<String>,
    /// The password: for digest REGISTER and for the agent API.
    pub password: Option<String>,
    /// Whether the agent is logged in and ready when the server starts
    /// (default true); otherwise it logs in through the agent API.
    #[serde(default = "yes")]
    pub ready: bool,
    /// `"supervisor"` may pause bots and change other agents' callbacks;
    /// `"agent"` (the default) only their own and their queues'.
    #[serde(default)]
    pub role: Option<String>,
    /// Where the agent's e-mail goes: a supervisor's monitoring alerts.
    #[serde(default)]
    pub email: Option<String>,
    /// The agent's phone: `"sip"` (the default: a SIP phone that
    /// registers, or `uri`), `"browser"` (the desktop carries the audio
    /// over WebRTC) or a number (`+48…`) rung through the trunk.
    #[serde(default)]
    pub phone: Option<String>,
}

impl Agent {
    /// Whether the agent is a supervisor.
    pub fn supervisor(&self) -> bool {
        self.role.as_deref() == Some("supervisor")
    }

    /// Whether the agent's phone is the browser.
    pub fn browser_phone(&self) -> bool {
        self.phone.as_deref() == Some("browser")
    }

    /// The number the agent is rung at through the trunk, when their
    /// phone is one.
    pub fn phone_number(&self) -> Option<&str> {
        self.phone.as_deref().filter(|p| p.starts_with('+'))
    }
}

fn yes() -> bool {
    true
}

/// The trunk for external numbers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// The trunk's SIP URI: numbers are sent as its user part.
    pub uri: String,
    /// The home country code (`+48` by default): other countries are
    /// international, and national numbers get it.
    #[serde(default = "home")]
    pub country_code: String,
    /// Numbers always allowed (`+44*`, `+48700123456`), before the
    /// premium-rate and international rules.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Numbers never dialled, whatever else says.
    #[serde(default)]
    pub deny: Vec<String>,
}

fn home() -> String {
    "+48".into()
}

impl Trunk {
    /// The dial plan every outbound call passes.
    pub fn dial_plan(&self) -> crate::guard::DialPlan {
        crate::guard::DialPlan {
            home: self.country_code.clone(),
            allow: self.allow.clone(),
            deny: self.deny.clone(),
        }
    }
}

impl Default for Sip {
    fn default() -> Sip {
        Sip {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            realm: "dialect".into(),
            answer_after_ms: 0,
            trusted: Vec::new(),
            min_expires: 60,
            max_expires: 3600,
            rate_limit: 200,
            rate_burst: 400,
            max_connections: 1024,
            idle_timeout_s: 120,
            max_transactions: 150_000,
            agent_display: "campaign".into(),
        }
    }
}

impl Default for Media {
    fn default() -> Media {
        Media {
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            port_min: 20_000,
            port_max: 29_999,
        }
    }
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime {
            flows: PathBuf::from("flows"),
            data: PathBuf::from("data"),
            max_calls: 1_000,
            event_log: "data/events.jsonl".into(),
            database: None,
            trust: Vec::new(),
            keep_recordings_days: 90,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("the configuration {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("the configuration is invalid: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses a configuration's text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The trusted networks (checked by `validate`).
    pub fn trusted(&self) -> Vec<crate::guard::Net> {
        self.sip
            .trusted
            .iter()
            .filter_map(|n| crate::guard::Net::parse(n).ok())
            .collect()
    }

    /// Checks the values that types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.media.port_min > self.media.port_max
            || self.media.port_max - self.media.port_min < 1
        {
            return Err(ConfigError::Invalid(format!(
                "media ports {}-{} leave no room for a call: give at least two ports",
                self.media.port_min, self.media.port_max
            )));
        }
        if self.runtime.max_calls == 0 {
            return Err(ConfigError::Invalid(
                "runtime.max_calls is 0: no call could be answered".into(),
            ));
        }
        let hooks = &self.webhooks;
        if hooks.max_attempts == 0 || hooks.concurrency == 0 || hooks.timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "webhooks.max_attempts, webhooks.concurrency and webhooks.timeout_ms must be at \
                 least 1"
                    .into(),
            ));
        }
        if hooks.backoff_ms == 0 || hooks.max_backoff_ms < hooks.backoff_ms {
            return Err(ConfigError::Invalid(format!(
                "webhooks.backoff_ms ({}) must be at least 1 and at most webhooks.max_backoff_ms ({})",
                hooks.backoff_ms, hooks.max_backoff_ms
            )));
        }
        if let Some(url) = &hooks.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "webhooks.url `{url}` is not an http:// or https:// URL"
            )));
        }
        for agent in &self.agents {
            match agent.phone.as_deref() {
                None | Some("sip") => {}
                Some("browser") => {
                    if agent.password.is_none() || self.api.listen.is_none() {
                        return Err(ConfigError::Invalid(format!(
                            "agent {}: phone = \"browser\" needs a password and api.listen: \
                             the desktop logs in through the agent API",
                            agent.name
                        )));
                    }
                }
                Some(number)
                    if number.len() > 4
                        && number.starts_with('+')
                        && number.chars().skip(1).all(|c| c.is_ascii_digit()) =>
                {
                    if self.trunk.is_none() {
                        return Err(ConfigError::Invalid(format!(
                            "agent {}: phone = \"{number}\" is rung through the trunk, but there is no [trunk]",
                            agent.name
                        )));
                    }
                }
                Some(other) => {
                    return Err(ConfigError::Invalid(format!(
                        "agent {}: phone = \"{other}\" is not \"sip\", \"browser\" or a number in E.164 (+48…)",
                        agent.name
                    )));
                }
            }
        }
        for net in &self.sip.trusted {
            crate::guard::Net::parse(net)
                .map_err(|e| ConfigError::Invalid(format!("sip.trusted: {e}")))?;
        }
        if !matches!(
            self.sip.agent_display.as_str(),
            "campaign" | "queue" | "none"
        ) {
            return Err(ConfigError::Invalid(format!(
                "sip.agent_display `{}` is not \"campaign\", \"queue\" or \"none\"",
                self.sip.agent_display
            )));
        }
        if let Some(cluster) = &self.cluster {
            let name_ok = !cluster.node.is_empty()
                && cluster.node.len() <= 64
                && cluster
                    .node
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !name_ok {
                return Err(ConfigError::Invalid(format!(
                    "cluster.node `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
                    cluster.node
                )));
            }
            for net in &cluster.proxies {
                crate::guard::Net::parse(net)
                    .map_err(|e| ConfigError::Invalid(format!("cluster.proxies: {e}")))?;
            }
            if !(300..=600_000).contains(&cluster.lease_ms) {
                return Err(ConfigError::Invalid(format!(
                    "cluster.lease_ms ({}) must be 300 to 600000",
                    cluster.lease_ms
                )));
            }
            let shared = self.runtime.database.as_ref().is_some_and(|d| {
                let d = d.to_string_lossy();
                d.starts_with("postgres://") || d.starts_with("postgresql://")
            });
            if !shared {
                return Err(ConfigError::Invalid(
                    "[cluster] needs a database the nodes share: set runtime.database to a \
                     postgres:// URL"
                        .into(),
                ));
            }
        }
        if self.sip.min_expires == 0 || self.sip.max_expires < self.sip.min_expires {
            return Err(ConfigError::Invalid(format!(
                "sip.min_expires ({}) must be at least 1 and at most sip.max_expires ({})",
                self.sip.min_expires, self.sip.max_expires
            )));
        }
        if self.sip.rate_limit == 0
            || self.sip.max_connections == 0
            || self.sip.max_transactions == 0
            || self.sip.idle_timeout_s == 0
            || self.api.login_failures == 0
            || self.api.max_connections == 0
            || self.api.header_timeout_s == 0
        {
            return Err(ConfigError::Invalid(
                "sip.rate_limit, sip.max_connections, sip.max_transactions, \
                 sip.idle_timeout_s, api.login_failures, api.max_connections and \
                 api.header_timeout_s must be at least 1"
                    .into(),
            ));
        }
        if let Some(trunk) = &self.trunk {
            let cc = trunk.country_code.strip_prefix('+').unwrap_or_default();
            if cc.is_empty() || cc.len() > 3 || !cc.chars().all(|c| c.is_ascii_digit()) {
                return Err(ConfigError::Invalid(format!(
                    "trunk.country_code `{}` is not a country code like `+48`",
                    trunk.country_code
                )));
            }
            if let Some(bad) = trunk
                .allow
                .iter()
                .chain(&trunk.deny)
                .find(|p| !crate::guard::DialPlan::valid_pattern(p))
            {
                return Err(ConfigError::Invalid(format!(
                    "trunk pattern `{bad}` is not an E.164 number or prefix: write `+4822*`, \
                     `+48221234567` or `*`"
                )));
            }
        }
        for agent in &self.agents {
            if agent
                .role
                .as_deref()
                .is_some_and(|r| r != "supervisor" && r != "agent")
            {
                return Err(ConfigError::Invalid(format!(
                    "agent `{}`: role must be \"agent\" or \"supervisor\"",
                    agent.name
                )));
            }
            if agent.uri.is_none() && agent.password.is_none() && agent.phone_number().is_none() {
                return Err(ConfigError::Invalid(format!(
                    "agent `{}` has neither a `uri` to ring, a `password` to register with, nor a `phone` number",
                    agent.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_admin_and_agent_apis_listen_on_loopback_by_default() {
        let config = Config::default();
        let admin = config.admin.listen.unwrap();
        assert!(admin.ip().is_loopback(), "{admin}");
        assert!(config.admin.token.is_none(), "no token, no access");
        assert!(config.api.listen.unwrap().ip().is_loopback());
        let moved = Config::parse(
            "[admin]\nlisten = \"0.0.0.0:9090\"\ntoken = \"t\"\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert!(!moved.admin.listen.unwrap().ip().is_loopback());
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.sip.listen.to_string(), "127.0.0.1:5060");
    }

    #[test]
    fn flows_reach_only_allowed_urls_at_a_boundary() {
        let http = Config::parse(
            "[http]\nallow = [\"https://crm.example.com\", \"http://10.0.0.5:8080/api/\"]\n",
            Path::new("x.toml"),
        )
        .unwrap()
        .http;
        assert_eq!(http.max_body, 1 << 20);
        for allowed in [
            "https://crm.example.com",
            "https://crm.example.com/customers?id=1",
            "http://10.0.0.5:8080/api/orders",
        ] {
            assert!(http.allows(allowed), "{allowed}");
        }
        for refused in [
            "https://crm.example.com.evil.net/",
            "https://crm.example.comx/",
            "http://crm.example.com/",
            "https://crm.example.com@169.254.169.254/",
            "http://10.0.0.5:8080/admin",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(!http.allows(refused), "{refused}");
        }
        assert!(!Http::default().allows("https://crm.example.com/"));
    }

    #[test]
    fn webhook_settings_parse_with_defaults() {
        let text = "[webhooks]\nmax_attempts = 5\nconcurrency = 4\nurl = \"http://127.0.0.1:9000/hooks\"\n";
        let config = Config::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(config.webhooks.max_attempts, 5);
        assert_eq!(config.webhooks.concurrency, 4);
        assert_eq!(config.webhooks.timeout_ms, 5_000);
        assert_eq!(config.webhooks.backoff_ms, 1_000);
        assert_eq!(config.webhooks.max_backoff_ms, 300_000);
        assert_eq!(
            config.webhooks.url.as_deref(),
            Some("http://127.0.0.1:9000/hooks")
        );
    }

    #[test]
    fn a_full_file_parses() {
        let text = r#"
            [sip]
            listen = "127.0.0.1:5070"
            [media]
            port_min = 30000
            port_max = 30100
            [runtime]
            max_calls = 20
            event_log = "-"
            [[agent]]
            name = "alice"
            uri = "sip:alice@127.0.0.1:5080"
            [[agent]]
            name = "bob"
            password = "secret"
            [trunk]
            uri = "sip:127.0.0.1:5090"
        "#;
        let config = Config::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(config.agents.len(), 2);
        assert_eq!(config.runtime.max_calls, 20);
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = Config::parse("[sip]\nlisten_on = \"x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("c.toml") && unknown.contains("listen_on"),
            "{unknown}"
        );
        let ports = Config::parse(
            "[media]\nport_min = 10\nport_max = 5\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(ports.contains("ports"), "{ports}");
        let agent = Config::parse("[[agent]]\nname = \"x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(agent.contains("neither"), "{agent}");
        let hooks = Config::parse("[webhooks]\nmax_attempts = 0\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(hooks.contains("max_attempts"), "{hooks}");
        let url = Config::parse("[webhooks]\nurl = \"ftp://x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(url.contains("ftp://x"), "{url}");
    }

    #[test]
    fn a_cluster_needs_a_shared_database_a_name_and_proxies_that_parse() {
        let db = "[runtime]\ndatabase = \"postgres://dialect@db/cc\"\n";
        let ok = Config::parse(
            &format!("{db}[cluster]\nnode = \"cc-1\"\nproxies = [\"10.0.0.10/32\"]\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        let cluster = ok.cluster.unwrap();
        assert_eq!((cluster.node.as_str(), cluster.lease_ms), ("cc-1", 3000));
        let mistake = |text: &str| {
            Config::parse(text, Path::new("c.toml"))
                .unwrap_err()
                .to_string()
        };
        let no_db = mistake("[cluster]\nnode = \"a\"\n");
        assert!(no_db.contains("postgres://"), "{no_db}");
        let name = mistake(&format!("{db}[cluster]\nnode = \"a b\"\n"));
        assert!(name.contains("cluster.node"), "{name}");
        let proxies = mistake(&format!(
            "{db}[cluster]\nnode = \"a\"\nproxies = [\"kamailio\"]\n"
        ));
        assert!(proxies.contains("cluster.proxies"), "{proxies}");
        let lease = mistake(&format!("{db}[cluster]\nnode = \"a\"\nlease_ms = 10\n"));
        assert!(lease.contains("lease_ms"), "{lease}");
        let display = mistake("[sip]\nagent_display = \"team\"\n");
        assert!(display.contains("agent_display"), "{display}");
    }

    #[test]
    fn an_agents_phone_is_sip_the_browser_or_a_number_through_the_trunk() {
        let parse = |agent: &str| {
            Config::parse(
                &format!("[[agent]]\nname = \"ann\"\n{agent}"),
                Path::new("x.toml"),
            )
        };
        assert!(parse("password = \"pw\"\nphone = \"browser\"\n").is_ok());
        assert!(parse("password = \"pw\"\nphone = \"sip\"\n").is_ok());
        let error = parse("phone = \"browser\"\n").unwrap_err().to_string();
        assert!(error.contains("needs a password"), "{error}");
        let error = parse("phone = \"+48600900900\"\n").unwrap_err().to_string();
        assert!(error.contains("there is no [trunk]"), "{error}");
        assert!(parse("phone = \"+48600900900\"\n[trunk]\nuri = \"sip:10.0.0.1\"\n").is_ok());
        let error = parse("phone = \"desk\"\n").unwrap_err().to_string();
        assert!(
            error.contains("is not \"sip\", \"browser\" or a number"),
            "{error}"
        );
    }
}
