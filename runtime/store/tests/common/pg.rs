//! A PostgreSQL server for the tests: started once per test binary from
//! Debian's `postgresql` package, in a temporary directory, listening on a
//! Unix socket only; each test gets a database of its own. The server
//! stops, and its directory goes, when the test binary exits (a shell
//! waits on a pipe the binary holds open).

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Server {
    dir: PathBuf,
    /// Held open until the binary exits: its end stops the server.
    _alive: Mutex<(Child, ChildStdin)>,
}

const PORT: u16 = 5432;

fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

/// The newest PostgreSQL's programs.
fn bindir() -> Result<PathBuf, String> {
    let missing = "PostgreSQL is missing: apt-get install postgresql (the store's tests \
                   run against a PostgreSQL server they start)";
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing.to_owned())?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| missing.to_owned())
}

fn root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

fn start() -> Result<Server, String> {
    let bin = bindir()?;
    let dir = std::env::temp_dir().join(format!("dialect-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // PostgreSQL refuses to run as root: as root, it runs as the package's
    // `postgres` user.
    let as_user: Vec<String> = if root() {
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !chown.success() {
            return Err("the `postgres` user is missing: apt-get install postgresql".into());
        }
        [
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
        ]
        .map(String::from)
        .to_vec()
    } else {
        Vec::new()
    };
    let data = dir.join("data");
    let mut initdb: Vec<String> = as_user.clone();
    initdb.extend([
        bin.join("initdb").display().to_string(),
        "-D".into(),
        data.display().to_string(),
        "-A".into(),
        "trust".into(),
        "-U".into(),
        "postgres".into(),
        "-E".into(),
        "UTF8".into(),
        "--no-sync".into(),
    ]);
    let (program, args) = initdb.split_first().ok_or("no initdb")?;
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut postgres = as_user;
    postgres.extend([
        bin.join("postgres").display().to_string(),
        "-D".into(),
        data.display().to_string(),
        "-k".into(),
        dir.display().to_string(),
        "-p".into(),
        PORT.to_string(),
        "-c".into(),
        "listen_addresses=".into(),
        "-c".into(),
        "fsync=off".into(),
        "-c".into(),
        "max_connections=300".into(),
    ]);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"dir=$1; shift; "$@" >"$dir/log" 2>&1 & pid=$!; read _; kill "$pid"; wait "$pid"; rm -rf "$dir""#)
        .arg("sh")
        .arg(&dir)
        .args(&postgres)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sh: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let server = Server {
        dir: dir.clone(),
        _alive: Mutex::new((child, stdin)),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match postgres::Client::connect(&admin(&dir), postgres::NoTls) {
            Ok(_) => return Ok(server),
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                return Err(format!("PostgreSQL did not start: {e}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn admin(dir: &std::path::Path) -> String {
    format!(
        "host={} port={PORT} user=postgres dbname=postgres",
        dir.display()
    )
}

/// A fresh, empty database: its `postgres://` URL, as `[runtime] database`
/// takes it (the socket's directory percent-encoded as the host).
pub fn database_url() -> String {
    let settings = database();
    let name = settings.rsplit("dbname=").next().unwrap_or_default();
    let dir = server().dir.display().to_string().replace('/', "%2F");
    format!("postgres://postgres@{dir}:{PORT}/{name}")
}

/// A fresh, empty database: its connection settings.
pub fn database() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let server = server();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut admin = postgres::Client::connect(&admin(&server.dir), postgres::NoTls)
        .expect("the tests' PostgreSQL");
    admin
        .batch_execute(&format!("CREATE DATABASE t{n}"))
        .expect("a test database");
    format!(
        "host={} port={PORT} user=postgres dbname=t{n}",
        server.dir.display()
    )
}
