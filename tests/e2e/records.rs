//! Customer records under `dialect serve` (issue 17, first part): imported
//! with `dialect records import` (every row checked, all or none), exported
//! with `dialect records export`, and found by the caller's number in
//! `route_identified` of `flows/complete.flow`.

use crate::sip::{Served, wait_for};
use crate::ua::Placed;
use std::path::Path;
use std::process::Command;

const CLOCK: &str = "2026-11-23T10:00:00[Europe/Warsaw]";

fn dialect(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(crate::sip::root())
        .args(args)
        .output()
        .expect("dialect runs")
}

/// Calls the helpline from `from`; returns the call's `identified` event
/// once it is logged, then hangs up.
fn identified(served: &Served, from: &str, n: u16) -> serde_json::Value {
    let mut call = Placed::dial(
        served.port,
        "+48221000000",
        from,
        &format!("records-{n}"),
        49_700 + n * 2,
    );
    let events = wait_for(served, "the identification", |e| {
        e.iter().filter(|e| e["event"] == "identified").count() >= usize::from(n)
    });
    call.hang_up();
    events
        .iter()
        .filter(|e| e["event"] == "identified")
        .nth(usize::from(n) - 1)
        .cloned()
        .expect("identified")
}

#[test]
fn imported_records_identify_callers_and_bad_rows_refuse_the_whole_file() {
    let dir = crate::build::scratch("records");
    let data = dir.join("data");
    let data_arg = data.to_str().expect("utf-8");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("csv");
        path.to_str().expect("utf-8").to_string()
    };
    // Bad rows: each reported by its line, and nothing imported.
    let bad = write(
        "bad.csv",
        "phone,customer_number,pesel,nip\n\
         600700100,C-1,44051401359,1234563218\n\
         600700101,C-2,44051401358,\n\
         ,C-3,,\n\
         600700103,,,\n\
         600700104,C-5,,1234563217\n",
    );
    let out = dialect(&[
        "records", "import", "helpline", &bad, "flows/", "--data", data_arg,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stderr);
    for line in [
        "4 bad row(s); nothing was imported",
        "line 3: `pesel`: PESEL `44051401358` has a wrong check digit",
        "line 4: no phone number",
        "line 5: `customer_number` is required",
        "line 6: `nip`: NIP `1234563217` has a wrong check digit",
    ] {
        assert!(report.contains(line), "{line}:\n{report}");
    }
    let out = dialect(&[
        "records", "export", "helpline", "flows/", "--data", data_arg,
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "only the header: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A good file: a customer with two numbers, one shared by a family.
    let good = write(
        "good.csv",
        "phone,phone2,customer_number,pesel,email\n\
         600 700 100,+48 22 700 00 00,C-1,44051401359,jan@example.pl\n\
         600700200,+48227000000,C-2,,\n",
    );
    let out = dialect(&[
        "records", "import", "helpline", &good, "flows/", "--data", data_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dialect(&[
        "records", "export", "helpline", "flows/", "--data", data_arg,
    ]);
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        csv.starts_with("phone,phone2,email,customer_number,nip,pesel,regon\n")
            && csv.contains("+48600700100,+48227000000,jan@example.pl,C-1,,44051401359,"),
        "{csv}"
    );

    // The server on the same data: one record, two, none.
    let served = Served::start_in(data.clone(), CLOCK, 49_400, "", "flows/");
    let one = identified(&served, "+48600700100", 1);
    assert_eq!(one["records"], 1, "{one}");
    let many = identified(&served, "+48227000000", 2);
    assert_eq!(many["records"], 2, "{many}");
    let none = identified(&served, "+48600799999", 3);
    assert_eq!(none["records"], 0, "{none}");
    // One record: the flow asks for the customer number (its `one` exit).
    let events = served.events();
    let call = one["call"].as_str().expect("call");
    assert!(
        events.iter().any(|e| e["call"] == call
            && e["event"] == "prompt"
            && e["prompt"]
                .as_str()
                .is_some_and(|p| p.contains("Podaj numer klienta"))),
        "{events:#?}"
    );
    assert!(Path::new(&data).join("dialect.sqlite").exists());
}
