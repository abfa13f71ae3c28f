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

/// A wrap-up through the agent API on a caller's call, once the caller
/// hung up: returns the agent API's answer.
fn wrap_up(served: &Served, classifier: &str) -> (u16, serde_json::Value) {
    crate::acd::http(
        &served.api,
        "POST",
        "/api/agents/ann/wrap-up",
        "ann",
        Some(&format!(r#"{{"classifier": "{classifier}"}}"#)),
    )
}

/// Calls the front desk from `from`: the identified caller waits for ann
/// (a SIPp that answers and waits), is connected, and hangs up; returns
/// the call's id in the agent API.
fn talk_to_ann(served: &Served, from: &str, n: usize) -> u64 {
    let mut placed = Placed::dial(
        served.port,
        "+48221009002",
        from,
        &format!("recall-{n}"),
        58_600 + u16::try_from(n).expect("small") * 2,
    );
    let events = wait_for(served, "ann connected", |e| {
        crate::sip::count(e, "connected") >= n
    });
    let connected = events
        .iter()
        .filter(|e| e["event"] == "connected")
        .nth(n - 1)
        .expect("connected");
    let call: u64 = connected["call"]
        .as_str()
        .and_then(|c| c.strip_prefix("call-"))
        .and_then(|c| c.split('@').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("a call id: {connected}"));
    if n == 1 {
        // On connect, ann sees the caller's record with its fields, and
        // edits it as part of the contact (no `record_edited` webhook).
        let (status, data) = crate::acd::http(
            &served.api,
            "GET",
            &format!("/api/calls/{call}/data"),
            "ann",
            None,
        );
        assert_eq!(status, 200, "{data}");
        assert_eq!(data["record"]["fields"]["name"], "Jan", "{data}");
        // The front desk has `sensitive_data`: the last four digits only.
        let tail = &from[from.len() - 4..];
        assert_eq!(
            data["record"]["numbers"][0],
            format!("•••••••{tail}"),
            "{data}"
        );
        assert_eq!(data["caller"], format!("•••••••{tail}"), "{data}");
        let id = data["record"]["id"].as_i64().expect("record id");
        let (status, edited) = crate::acd::http(
            &served.api,
            "PUT",
            &format!("/api/records/{id}"),
            "ann",
            Some(r#"{"version": 1, "fields": {"pesel": "44051401359"}}"#),
        );
        assert_eq!(status, 200, "{edited}");
        let events = wait_for(served, "the edit", |e| {
            crate::sip::count(e, "record_edited") == 1
        });
        let edit = events
            .iter()
            .find(|e| e["event"] == "record_edited")
            .expect("record_edited");
        assert_eq!(edit["interaction"], true, "{edit}");
    }
    placed.hang_up();
    wait_for(served, "ann's wrap-up", |e| {
        crate::sip::count(e, "wrap_up_started") >= n
    });
    call
}

/// Issue 17's acceptance: a wrap-up with a recall classifier places the
/// recall at the right time (agent first, then the record's number through
/// a SIPp trunk), and a blacklisting classifier stops the next one.
#[test]
fn a_recall_classifier_places_the_recall_on_time_and_the_blacklist_stops_another() {
    let dir = crate::build::scratch("records-recall");
    let data = dir.join("data");
    let csv = dir.join("front.csv");
    std::fs::write(&csv, "phone,name\n600700100,Jan\n600700200,Ewa\n").expect("csv");
    let out = dialect(&[
        "records",
        "import",
        "front_desk",
        csv.to_str().expect("utf-8"),
        "tests/identify-flows/",
        "--data",
        data.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ann = crate::sip::free_udp_port();
    let trunk = crate::sip::free_udp_port();
    // The SMS gateway do_not_call's `sms` goes to.
    // It is down until the first server has been killed: the SMS waits
    // in the outbox and survives the kill -9.
    let gateway = crate::webhooks::Receiver::start();
    gateway.set_up(false);
    let config = format!(
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:{ann}\"\npassword = \"pw-ann\"\nready = true\n\
         [trunk]\nuri = \"sip:127.0.0.1:{trunk}\"\n\
         [notify.sms]\nurl = \"http://127.0.0.1:{}/hooks\"\ntoken = \"sms-token\"\n",
        gateway.port
    );
    // Monday 10:00 UTC, inside the recall window.
    let first = Served::start_in(
        data.clone(),
        "2026-11-23T10:00:00Z",
        52_000,
        &config,
        "tests/identify-flows/",
    );
    let agent = crate::sip::uas(
        "agent_answers.xml",
        ann,
        &["-mp", "58000", "-m", "3", "-timeout", "120s", "-nostdin"],
    );
    // Jan's call and Ewa's, neither wrapped up yet: ann owes two, the
    // front desk's max_unhandled_per_agent, and may not become ready.
    let jan = talk_to_ann(&first, "+48600700100", 1);
    talk_to_ann(&first, "+48600700200", 2);
    wait_for(&first, "ann blocked", |e| {
        crate::sip::count(e, "agent_blocked") == 1
    });
    let api = |method: &str, path: &str, body: Option<&str>| {
        crate::acd::http(&first.api, method, path, "ann", body)
    };
    let (status, view) = api("GET", "/api/agents/ann", None);
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["owed_wrap_ups"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );
    // The classifiers ann may use, as agents see them; by_mail (mail
    // contacts only) is not offered for a call.
    let offered = view["classifiers"].as_array().expect("classifiers");
    assert!(
        offered
            .iter()
            .any(|c| c["name"] == "call_back" && c["label"] == "Call back"),
        "{view}"
    );
    assert!(!offered.iter().any(|c| c["name"] == "by_mail"), "{view}");
    let (status, refused) = api("POST", "/api/agents/ann/ready", None);
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("owes 2 wrap-ups")),
        "{refused}"
    );
    // A classifier offered only for mail is refused.
    let (status, refused) = wrap_up(&first, "by_mail");
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("not offered for answered calls")),
        "{refused}"
    );
    // A wrap-up's fields are checked like an edit's: a PESEL with a wrong
    // check digit is refused, nothing is stored.
    let (status, refused) = api(
        "POST",
        "/api/agents/ann/wrap-up",
        Some(&format!(
            r#"{{"classifier": "call_back", "call": {jan}, "fields": {{"pesel": "44051401358"}}}}"#
        )),
    );
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("wrong check digit")),
        "{refused}"
    );
    // Jan's call, named: call_back; one owed is unblock_at, so ann is
    // ready again. Then Ewa's (the last call): call_back too.
    let (status, reply) = api(
        "POST",
        "/api/agents/ann/wrap-up",
        Some(&format!(r#"{{"classifier": "call_back", "call": {jan}}}"#)),
    );
    assert_eq!(status, 200, "{reply}");
    wait_for(&first, "ann unblocked", |e| {
        crate::sip::count(e, "agent_unblocked") == 1
    });
    assert_eq!(wrap_up(&first, "call_back").0, 200);
    // On Ewa's next call: do_not_call.
    talk_to_ann(&first, "+48600700200", 3);
    assert_eq!(wrap_up(&first, "do_not_call").0, 200);
    crate::sip::finish(agent, "ann");
    let events = wait_for(&first, "two recalls and the blacklist", |e| {
        crate::sip::count(e, "recall_scheduled") == 2 && crate::sip::count(e, "blacklisted") == 1
    });
    let scheduled: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "recall_scheduled")
        .collect();
    let at = |e: &serde_json::Value| -> jiff::Timestamp {
        e["at"].as_str().and_then(|t| t.parse().ok()).expect("at")
    };
    let ts = |e: &serde_json::Value| -> jiff::Timestamp {
        e["ts"].as_str().and_then(|t| t.parse().ok()).expect("ts")
    };
    // Each recall is due 2 h after its wrap-up.
    for recall in &scheduled {
        let after = at(recall).duration_since(ts(recall));
        assert!(
            (after.as_secs() - 7_200).abs() <= 1,
            "2 h after the wrap-up: {recall}"
        );
    }
    assert_eq!(scheduled[0]["call"], format!("call-{jan}"), "{scheduled:?}");
    let jan_due = at(scheduled[0]);
    let classified: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "classified")
        .collect();
    assert_eq!(classified.len(), 3, "{classified:?}");
    assert_eq!(classified[2]["closes"], true, "{classified:?}");
    // do_not_call's SMS was tried while the gateway is down; the server
    // is killed (-9) before it gets through.
    wait_for(&first, "the SMS tried", |e| {
        e.iter()
            .any(|e| e["event"] == "webhook_failed" && e["webhook"] == "sms")
    });
    let mut first = first;
    first.child.kill().expect("kill -9");
    let _ = first.child.wait();
    std::mem::forget(first);
    assert!(
        !gateway
            .hits()
            .iter()
            .any(|h| h.accepted && h.body.get("text").is_some()),
        "nothing got through yet"
    );
    gateway.set_up(true);

    // The server again, 5 s before Jan's recall is due.
    let agent = crate::sip::uas(
        "agent_hangs_up.xml",
        ann,
        &["-mp", "58200", "-m", "1", "-timeout", "90s", "-nostdin"],
    );
    let customer = crate::sip::uas(
        "agent_answers.xml",
        trunk,
        &["-mp", "58400", "-m", "1", "-timeout", "90s", "-nostdin"],
    );
    let start = jan_due
        .checked_sub(jiff::SignedDuration::from_secs(5))
        .expect("time")
        .to_string();
    let second = Served::start_in(data, &start, 54_000, &config, "tests/identify-flows/");
    crate::sip::finish(agent, "ann");
    crate::sip::finish(customer, "Jan's phone");
    let events = wait_for(&second, "Jan's recall and Ewa's dropped one", |e| {
        crate::sip::count(e, "callback_ended") == 1 && crate::sip::count(e, "callback_dropped") == 1
    });
    let due = events
        .iter()
        .find(|e| e["event"] == "callback_due")
        .expect("callback_due");
    assert_eq!(due["kind"], "recall", "{due}");
    // A recall is the campaign's outbound call: its channel's priority, and
    // its own lane of the queue (the channel's max_wait).
    assert_eq!(due["priority"], 30, "{due}");
    assert_eq!(due["lane"], "front@front_desk/outbound", "{due}");
    assert!(
        ts(due) >= jan_due,
        "not before it is due: {due} vs {jan_due}"
    );
    assert!(
        ts(due).duration_since(jan_due).as_secs() < 5,
        "on time: {due} vs {jan_due}"
    );
    let dialled = events
        .iter()
        .find(|e| e["event"] == "callback_dialling")
        .expect("the customer dialled");
    assert_eq!(dialled["number"], "+48600700100", "{dialled}");
    assert!(events.iter().any(|e| e["event"] == "callback_connected"));
    let dropped = events
        .iter()
        .find(|e| e["event"] == "callback_dropped")
        .expect("callback_dropped");
    assert!(
        dropped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("blacklist")),
        "{dropped}"
    );
    assert_eq!(crate::sip::count(&events, "callback_due"), 1, "{events:#?}");
    // The SMS of the killed server reached the gateway from the outbox,
    // once, for Ewa's number.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let texts = || -> Vec<serde_json::Value> {
        gateway
            .hits()
            .into_iter()
            .filter(|h| h.accepted)
            .map(|h| h.body)
            .filter(|b| b.get("text").is_some())
            .collect()
    };
    while texts().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no SMS reached the gateway after the restart"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sms = &texts()[0];
    assert_eq!(sms["to"], "+48600700200", "{sms}");
    assert_eq!(sms["text"], "Nie będziemy już dzwonić.", "{sms}");
    drop(second);
    assert_eq!(texts().len(), 1, "delivered once");
}
