//! Several nodes, one contact centre (issue 21, first part): `dialect
//! serve` keeps its state in PostgreSQL when `[runtime] database` is a
//! `postgres://` URL. The server is started by the tests from Debian's
//! `postgresql` (the store's fixture, shared).

use crate::sip::{Served, free_udp_port};
use dialect_store::{CustomerStore, PgStore, RecordStore};
use std::process::Command;

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
