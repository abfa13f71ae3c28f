//! `dialect serve`: answer calls over SIP/RTP with the flows.

use super::{FAILED, Inputs, OK, USAGE};
use dialect_server::clock::{self, Clock};
use dialect_server::config::Config;
use dialect_server::eventlog::EventLog;
use dialect_server::{Options, Server};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Options of `dialect serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// A TOML configuration file (every setting has a default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to listen for SIP (UDP), overriding the configuration.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Start the flows' clock at this instant (rehearse hours and holidays):
    /// `2026-12-24T10:00:00+01:00` or `2026-12-24T10:00:00[Europe/Warsaw]`.
    #[arg(long)]
    clock: Option<String>,
    /// The data directory (recordings, voicemail, logs).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The event log: a file, or `-` for standard output.
    #[arg(long)]
    event_log: Option<String>,
    /// Calls at once; more get 503.
    #[arg(long)]
    max_calls: Option<usize>,
    /// Operational logs on standard error: `text` (default) or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Where the admin API listens (loopback by default), or `off`.
    #[arg(long)]
    admin: Option<String>,
    /// The admin API's token (or the environment's DIALECT_ADMIN_TOKEN).
    #[arg(long, env = "DIALECT_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Where the agent API (HTTP) listens, overriding the configuration;
    /// `off` turns it off.
    #[arg(long)]
    api: Option<String>,
    /// Serve only artifacts signed by this public key (`dialect keygen`'s
    /// `.pub` file, or its text); may be given more than once. Unsigned,
    /// wrongly signed or altered artifacts are refused at start and on
    /// reload.
    #[arg(long, value_name = "PUBKEY")]
    trust: Vec<String>,
}

/// Runs `dialect serve`.
pub fn run(args: &Args) -> i32 {
    // Operational logs (reloads, refusals, failing services) through
    // tracing, on standard error; per-call events go to the event log.
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if args.log_format == "json" {
        logs.json().try_init()
    } else {
        logs.with_ansi(false).try_init()
    };
    let mut config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(err) => {
                eprintln!("error: {err}");
                return USAGE;
            }
        },
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.sip.listen = listen;
    }
    if let Some(data) = &args.data {
        config.runtime.data = data.clone();
    }
    if let Some(log) = &args.event_log {
        config.runtime.event_log = log.clone();
    }
    if let Some(max) = args.max_calls {
        config.runtime.max_calls = max;
    }
    match args.admin.as_deref() {
        None => {}
        Some("off") => config.admin.listen = None,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => config.admin.listen = Some(addr),
            Err(_) => {
                eprintln!(
                    "error: --admin: `{text}` is not an address like 127.0.0.1:9090 (or `off`)"
                );
                return USAGE;
            }
        },
    }
    if let Some(token) = &args.admin_token {
        config.admin.token = Some(token.clone());
    }
    match args.api.as_deref() {
        None => {}
        Some("off") => config.api.listen = None,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => config.api.listen = Some(addr),
            Err(_) => {
                eprintln!(
                    "error: --api: `{text}` is not an address like 127.0.0.1:8080 (or `off`)"
                );
                return USAGE;
            }
        },
    }
    if let Err(err) = config.validate() {
        eprintln!("error: {err}");
        return USAGE;
    }
    let clock = match &args.clock {
        Some(text) => match clock::parse(text) {
            Ok(start) => Clock::starting_at(start),
            Err(err) => {
                eprintln!("error: --clock: {err}");
                return USAGE;
            }
        },
        None => Clock::system(),
    };

    // The flows: a directory of built artifacts (`dialect build -o`), loaded
    // and verified; or sources, compiled here, then encoded and loaded back,
    // so the server runs exactly what `dialect build` would ship. The same
    // loader serves reloads.
    let paths = args.inputs.paths();
    let media_root = paths
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("flows"));
    let trust: Vec<String> = args
        .trust
        .iter()
        .chain(&config.runtime.trust)
        .cloned()
        .collect();
    let trusted = match super::sign::Trusted::read(&trust) {
        Ok(trusted) => trusted,
        Err(err) => {
            eprintln!("error: {err}");
            return USAGE;
        }
    };
    if !trusted.is_empty() && artifacts_in(&paths).is_none() {
        eprintln!(
            "error: --trust serves signed builds only: give the directory `dialect build --sign` wrote, not flow sources"
        );
        return USAGE;
    }
    let flows = if artifacts_in(&paths).is_some() {
        match load_artifacts(&paths, &trusted) {
            Ok(flows) => flows,
            Err(err) => {
                // A corrupt or incompatible artifact, as for `dialect dump`.
                eprintln!("error: {err}");
                return USAGE;
            }
        }
    } else {
        let compilation = args.inputs.with_paths(paths.clone()).compile();
        let code = super::check::report(&compilation, super::check::Format::Human, false);
        if code != OK {
            eprintln!("error: the flows do not compile; nothing is served");
            return code;
        }
        match programs(&compilation) {
            Ok(flows) => flows,
            Err(err) => {
                eprintln!("error: {err}");
                return FAILED;
            }
        }
    };
    let loader: dialect_server::Loader = {
        let paths = paths.clone();
        let inputs = args.inputs.with_paths(paths.clone());
        std::sync::Arc::new(move || {
            if artifacts_in(&paths).is_some() {
                return load_artifacts(&paths, &trusted);
            }
            if !trusted.is_empty() {
                return Err(
                    "this server serves signed builds only, and the directory holds no artifact"
                        .into(),
                );
            }
            let compilation = inputs.compile();
            let first = compilation
                .diagnostics()
                .into_iter()
                .find(|d| d.severity == dialect_compiler::diagnostic::Severity::Error);
            if let Some(error) = first {
                return Err(format!(
                    "the flows do not compile: {}: {} ({})",
                    error.path, error.message, error.code
                ));
            }
            if let Some(error) = compilation.io_errors.first() {
                return Err(format!("the flows cannot be read: {error}"));
            }
            programs(&compilation)
        })
    };

    if let Err(err) = std::fs::create_dir_all(&config.runtime.data) {
        eprintln!(
            "error: cannot create the data directory {}: {err}",
            config.runtime.data.display()
        );
        return USAGE;
    }
    let log = if config.runtime.event_log == "-" {
        EventLog::new(Box::new(std::io::stdout()))
    } else {
        let path = PathBuf::from(&config.runtime.event_log);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => EventLog::new(Box::new(file)),
            Err(err) => {
                eprintln!("error: cannot open the event log {}: {err}", path.display());
                return USAGE;
            }
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return USAGE;
        }
    };
    let log_at_exit = log.clone();
    let code = runtime.block_on(async move {
        let watch = Some(media_root.clone());
        let options = Options {
            config,
            flows,
            media_root,
            clock,
            log,
            loader: Some(loader),
            watch,
        };
        let server = match Server::bind(options).await {
            Ok(server) => server,
            Err(err) => {
                eprintln!("error: {err}");
                return USAGE;
            }
        };
        let scheme = server.api_scheme();
        if let Some(api) = server.api_addr() {
            eprintln!("dialect serve: agent API on {scheme}://{api}/api/");
        }
        if let Some(admin) = server.admin_addr() {
            eprintln!("dialect serve: admin API on {scheme}://{admin}/admin/");
        }
        if let Some(tls) = server.tls_addr() {
            eprintln!("dialect serve: listening for SIP over TLS on {tls}");
        }
        eprintln!(
            "dialect serve: listening for SIP on udp and tcp {}",
            server.local_addr()
        );
        // The controller is polled on a thread of its own; the calls' legs
        // (media) are tasks on the runtime's two workers. As one task among
        // thousands of legs it was polled too seldom under load: at 6,000
        // new calls a second it took fewer of them (about 18,000 of 30,000
        // against 21,000-23,000 on its own thread, in one run) and refused
        // the rest later, for the same CPU per call (issue 20).
        let handle = tokio::runtime::Handle::current();
        let result =
            tokio::task::spawn_blocking(move || handle.block_on(server.serve(shutdown()))).await;
        if let Err(error) = result {
            eprintln!("error: the controller stopped: {error}");
            return USAGE;
        }
        eprintln!("dialect serve: stopped");
        OK
    });
    // The event log's last lines (the hang-ups of the shutdown) go out.
    log_at_exit.drain(std::time::Duration::from_secs(5));
    code
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The artifacts (`*.dialect`) of the one directory given, if that is what
/// was given.
fn artifacts_in(paths: &[PathBuf]) -> Option<Vec<PathBuf>> {
    let [dir] = paths else {
        return None;
    };
    super::graph::artifacts_of(dir)
}

/// Loads and verifies every artifact of the directory; the first that does
/// not load refuses them all, naming the file and the reason.
fn load_artifacts(
    paths: &[PathBuf],
    trusted: &super::sign::Trusted,
) -> Result<Vec<dialect_bytecode::Loaded>, String> {
    let files = artifacts_in(paths).ok_or("the directory holds no artifact (*.dialect)")?;
    let mut flows = Vec::with_capacity(files.len());
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut loaded =
            dialect_bytecode::load(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
        if !trusted.is_empty() {
            loaded.signer = Some(trusted.check(&file, &loaded.header.hash.0)?);
        }
        // The prompts and knowledge bases it names, checked against their
        // hashes in the build's `assets/` and played from there.
        let dir = file.parent().unwrap_or(Path::new("."));
        dialect_bytecode::assets::resolve(&mut loaded.program, dir)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        flows.push(loaded);
    }
    Ok(flows)
}

/// The compiled programs, encoded and loaded back (verified artifacts).
fn programs(
    compilation: &dialect_compiler::Compilation,
) -> Result<Vec<dialect_bytecode::Loaded>, String> {
    let mut flows = Vec::new();
    for program in &compilation.programs {
        let loaded = dialect_bytecode::load(&dialect_bytecode::encode(program))
            .map_err(|err| format!("campaign `{}` does not load: {err}", program.name))?;
        flows.push(loaded);
    }
    Ok(flows)
}
