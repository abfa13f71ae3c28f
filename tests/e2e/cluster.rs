//! Several nodes, one contact centre (issue 21, first part): `dialect
//! serve` keeps its state in PostgreSQL when `[runtime] database` is a
//! `postgres://` URL. The server is started by the tests from Debian's
//! `postgresql` (the store's fixture, shared).

use crate::sip::{Served, free_udp_port};
use dialect_store::{CustomerStore, PgStore, RecordStore};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../runtime/store/tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

/// Calls answered by a server on PostgreSQL leave their records there, not
/// in an SQLite file; `dialect records import --config` puts customer
/// records in the same database, and `export --config` reads them back.
#[test]
fn a_server_on_postgres_keeps_its_call_and_customer_records_there() {
    let url = pg::database_url();
    let config = format!("[runtime]\ndatabase = \"{url}\"\n");
    let served = Served::start_with("postgres", "2026-12-24T20:00:00+01:00", 57_000, &config);
    for n in 0..3 {
        let out = served.sipp(
            "caller_bye_from_server.xml",
            "+48221000001",
            free_udp_port(),
            57_400 + n * 2,
        );
        assert!(
            out.status.success(),
            "SIPp failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let store = PgStore::connect(&url).expect("the database");
    // Records are written behind the controller: they land within moments.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.calls().expect("call records").len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let calls = store.calls().expect("call records");
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls.iter().all(|c| c.campaign == "scheme1"), "{calls:?}");
    assert!(
        !served.dir.join("dialect.sqlite").exists(),
        "nothing went to the embedded file"
    );
    // Customer records through the same configuration.
    let csv = served.dir.join("customers.csv");
    std::fs::write(
        &csv,
        "phone,customer_number\n600 700 100,C-1\n600700200,C-2\n",
    )
    .expect("csv");
    let config_file = served.dir.join("dialect.toml");
    let dialect = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dialect"))
            .current_dir(crate::sip::root())
            .args(args)
            .arg("--config")
            .arg(&config_file)
            .output()
            .expect("dialect runs")
    };
    let csv_arg = csv.to_string_lossy().to_string();
    let out = dialect(&["records", "import", "helpline", &csv_arg, "flows/"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(store.all_records("helpline").expect("records").len(), 2);
    let out = dialect(&["records", "export", "helpline", "flows/"]);
    let exported = String::from_utf8_lossy(&out.stdout);
    assert!(
        exported.contains("+48600700100") && exported.contains("C-2"),
        "{exported}"
    );
    // A database that cannot be reached stops the start with its name,
    // without the password.
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(crate::sip::root())
        .args(["records", "export", "helpline", "flows/", "--config"])
        .arg({
            let bad = served.dir.join("bad.toml");
            std::fs::write(
                &bad,
                "[runtime]\ndatabase = \"postgres://dialect:s3cret@%2Fnonexistent-dialect:5/cc\"\n",
            )
            .expect("config");
            bad
        })
        .output()
        .expect("dialect runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot connect to the PostgreSQL database postgres://dialect@%2Fnonexistent-dialect:5/cc"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// Kamailio from Debian's `kamailio` package, or a message naming it.
fn kamailio() -> PathBuf {
    [
        "/usr/sbin/kamailio",
        "/usr/bin/kamailio",
        "/usr/local/sbin/kamailio",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("Kamailio is missing: install the Debian package `kamailio` (apt-get install kamailio)")
}

/// Kamailio on `deploy/kamailio/kamailio.cfg`, stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    fn start(dir: &Path, nodes: &[u16]) -> Proxy {
        let list = dir.join("dispatcher.list");
        let lines: String = nodes
            .iter()
            .map(|port| format!("1 sip:127.0.0.1:{port} 0 0\n"))
            .collect();
        std::fs::write(&list, lines).expect("dispatcher.list");
        let port = free_udp_port();
        let child = Command::new(kamailio())
            .arg("-f")
            .arg(crate::sip::root().join("deploy/kamailio/kamailio.cfg"))
            .args(["-m", "256", "-DD", "-E", "-n", "2", "-l"])
            .arg(format!("udp:127.0.0.1:{port}"))
            .arg("-l")
            .arg(format!("tcp:127.0.0.1:{port}"))
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list.display()))
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("kamailio.log")).expect("log"))
            .spawn()
            .expect("Kamailio starts");
        Proxy { child, port }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// One call through the proxy: the runtime answers and hangs up (scheme 1
/// after hours). Whether it completed.
fn call_through(proxy: u16, media: u16) -> bool {
    Command::new(crate::sip::sipp())
        .current_dir(crate::sip::root().join("tests/sipp"))
        .args(["-sf", "caller_via_proxy.xml", "-s", "+48221000001"])
        .arg(format!("127.0.0.1:{proxy}"))
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-mp", &media.to_string()])
        .args(["-m", "1", "-timeout", "8s", "-nostdin"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Kamailio in front of two nodes sharing one PostgreSQL database (the
/// shipped `deploy/kamailio/kamailio.cfg`): new calls go to both nodes in
/// turn; after `kill -9` of one, every new call completes through the
/// other (Kamailio's failover, then its OPTIONS probes), each within 5 s.
#[test]
fn kamailio_spreads_calls_over_two_nodes_and_routes_around_a_killed_one() {
    let url = pg::database_url();
    let config = format!("[runtime]\ndatabase = \"{url}\"\n");
    let clock = "2026-12-24T20:00:00+01:00";
    let mut a = Served::start_with("cluster-a", clock, 58_000, &config);
    let b = Served::start_with("cluster-b", clock, 58_200, &config);
    let proxy = Proxy::start(&b.dir, &[a.port, b.port]);
    // Both nodes probed and up.
    std::thread::sleep(Duration::from_millis(1500));
    for n in 0..6 {
        assert!(
            call_through(proxy.port, 58_400 + n * 2),
            "call {n} through Kamailio failed; its log:\n{}",
            std::fs::read_to_string(b.dir.join("kamailio.log")).unwrap_or_default()
        );
    }
    let started = |served: &Served| {
        served
            .events()
            .iter()
            .filter(|e| e["event"] == "call_started")
            .count()
    };
    let (on_a, on_b) = (started(&a), started(&b));
    assert_eq!(on_a + on_b, 6);
    assert!(
        on_a >= 2 && on_b >= 2,
        "calls spread: {on_a} on a, {on_b} on b"
    );
    // A dies.
    a.child.kill().expect("kill -9");
    let _ = a.child.wait();
    let killed = Instant::now();
    // (when it started after the kill, whether it completed, how long it took)
    let mut outcomes = Vec::new();
    let mut n = 0;
    while killed.elapsed() < Duration::from_secs(8) {
        let at = killed.elapsed();
        let ok = call_through(proxy.port, 58_420 + (n % 20) * 2);
        outcomes.push((at, ok, killed.elapsed() - at));
        n += 1;
    }
    let failed = outcomes.iter().filter(|(_, ok, _)| !ok).count();
    let slowest = outcomes
        .iter()
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    let log = std::fs::read_to_string(b.dir.join("kamailio.log")).unwrap_or_default();
    let failed_over = log.matches("the node did not take it").count();
    eprintln!(
        "after kill -9 of a node: {} new calls in 8 s, {failed} failed, {failed_over} sent to the \
         dead node first and on to the other; the slowest took {slowest:?} (the fastest {:?})",
        outcomes.len(),
        outcomes
            .iter()
            .map(|(_, _, took)| *took)
            .min()
            .unwrap_or_default()
    );
    assert_eq!(failed, 0, "{outcomes:?}");
    assert!(
        slowest <= Duration::from_secs(5),
        "every new call completed within 5 s: {outcomes:?}"
    );
    assert!(started(&b) > on_b, "the calls after the kill went to b");
}

/// Callbacks an agent stored through one node fire once on another after
/// the first dies (`kill -9`), whether it died before they were due or
/// while holding one: the surviving node, which never heard of them,
/// claims due callbacks every 10 s from the shared database, and takes
/// over a claim once its lease lapses.
#[test]
fn callbacks_stored_on_a_node_that_dies_fire_once_on_the_other() {
    let url = pg::database_url();
    let ann = free_udp_port();
    let trunk = free_udp_port();
    let config = format!(
        "[runtime]\ndatabase = \"{url}\"\n{}[trunk]\nuri = \"sip:127.0.0.1:{trunk}\"\n",
        crate::acd::agent_config("ann", ann, true)
    );
    // The node that will place them: its clock 3 s before they are due.
    let a = Served::start_flows(
        "cluster-callbacks-a",
        "2026-11-23T10:30:57[Europe/Warsaw]",
        58_600,
        &config,
        "tests/acd-flows/",
    );
    // The node the agent stores them on, half an hour earlier.
    let mut b = Served::start_flows(
        "cluster-callbacks-b",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        58_800,
        &config,
        "tests/acd-flows/",
    );
    let mut ids = Vec::new();
    for number in ["+48600100401", "+48600100402", "+48600100403"] {
        let body = format!(
            r#"{{"kind": "scheduled", "number": "{number}", "name": "Jan Kowalski", "start": "2026-11-23T10:31", "zone": "Europe/Warsaw", "queue": "support", "reason": "invoice"}}"#
        );
        let (status, reply) =
            crate::acd::http(&b.api, "POST", "/api/callbacks", "ann", Some(&body));
        assert_eq!(status, 201, "{reply}");
        ids.push(reply["callback"]["id"].as_i64().expect("id"));
    }
    // A node holding the first when it died: its claim lapses after 1 s.
    let dying = PgStore::connect_with_lease(&url, Duration::from_secs(1)).expect("store");
    let held = dialect_store::CallbackStore::claim_due(
        &dying,
        "2026-11-23T09:31:00Z".parse().expect("time"),
        1,
    )
    .expect("claim");
    assert_eq!(held.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[0]]);
    drop(dying);
    b.child.kill().expect("kill -9");
    let _ = b.child.wait();
    let agent = crate::sip::uas(
        "agent_hangs_up.xml",
        ann,
        &[
            "-mp",
            "59000",
            "-m",
            "3",
            "-timeout",
            "90s",
            "-nostdin",
            "-trace_err",
        ],
    );
    let customer = crate::sip::uas(
        "agent_answers.xml",
        trunk,
        &[
            "-mp",
            "59200",
            "-m",
            "3",
            "-timeout",
            "90s",
            "-nostdin",
            "-trace_err",
        ],
    );
    crate::sip::finish(agent, "ann");
    crate::sip::finish(customer, "the customers");
    let events = crate::sip::wait_for(&a, "three callbacks", |e| {
        crate::sip::count(e, "callback_ended") == 3
    });
    crate::acd::fired_once(&events, &ids);
    let store = PgStore::connect(&url).expect("store");
    let taken_over = dialect_store::CallbackStore::get(&store, ids[0]).expect("callback");
    assert_eq!(
        (taken_over.status, taken_over.attempts),
        (dialect_store::Status::Done, 1),
        "the dead node's attempt counts"
    );
}
