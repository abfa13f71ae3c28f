//! Issue 18's rule: every setting of every declaration and block is proven
//! to do what `dialect explain` says (a test or a scenario), or matters
//! only at compile time (and says why). None is pending any more: a new
//! setting comes with its test, or the compiler refuses it.

use dialect_compiler::proofs::{PROOFS, Proof, proof};
use dialect_compiler::schema::{BLOCKS, DECLS};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_setting_is_proven_or_says_it_is_pending() {
    let settings: Vec<(&str, &str)> = DECLS
        .iter()
        .flat_map(|d| d.settings.iter().map(move |s| (d.name, s.name)))
        .chain(
            BLOCKS
                .iter()
                .flat_map(|b| b.settings.iter().map(move |s| (b.name, s.name))),
        )
        .collect();
    let mut problems = Vec::new();
    for (owner, setting) in &settings {
        if proof(owner, setting).is_none() {
            problems.push(format!(
                "`{owner}`'s `{setting}` has no proof in compiler/src/proofs.rs"
            ));
        }
    }
    let known: BTreeSet<(&str, &str)> = settings.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for (owner, setting, p) in PROOFS {
        if !known.contains(&(*owner, *setting)) {
            problems.push(format!(
                "proofs.rs names `{owner}`'s `{setting}`, which schema.rs has not"
            ));
        }
        if !seen.insert((*owner, *setting)) {
            problems.push(format!("proofs.rs names `{owner}`'s `{setting}` twice"));
        }
        match p {
            Proof::Test(place) => {
                let Some((file, function)) = place.split_once("::") else {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: `{place}` is not FILE::FUNCTION"
                    ));
                    continue;
                };
                let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
                if !text.contains(&format!("fn {function}(")) {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: no test `{function}` in {file}"
                    ));
                }
            }
            Proof::Scenario(place) => {
                let Some((file, name)) = place.split_once("::") else {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: `{place}` is not FILE::NAME"
                    ));
                    continue;
                };
                let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
                if !text.contains(&format!("name = \"{name}\"")) {
                    problems.push(format!(
                        "`{owner}`'s `{setting}`: no scenario \"{name}\" in {file}"
                    ));
                }
            }
            Proof::Compile(why) | Proof::Pending(why) | Proof::Untested(why) => {
                if why.trim().is_empty() {
                    problems.push(format!("`{owner}`'s `{setting}`: say why"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let pending: Vec<String> = PROOFS
        .iter()
        .filter(|(_, _, p)| matches!(p, Proof::Pending(_) | Proof::Untested(_)))
        .map(|(o, s, _)| format!("{o}.{s}"))
        .collect();
    // None is left pending or untested, and none may be again.
    assert!(
        pending.is_empty(),
        "settings the runtime does not carry out, or carries out without a test: {pending:?}"
    );
}

/// Issue 18, over SIP: a disabled campaign (`enabled false`) and one
/// outside its life (`starts`) refuse calls with 480 and log why; nothing
/// else is left behind.
#[test]
fn a_disabled_campaign_and_one_before_its_first_day_refuse_calls_over_sip() {
    use crate::sip::{SDP_PCMA_ONLY, Served};
    let invite = |user: &str, n: u32| {
        format!(
            "INVITE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5998;branch=z9hG4bKlife{n}\r\nFrom: <sip:+48600100200@127.0.0.1>;tag=l{n}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: life-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5998>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            len = SDP_PCMA_ONLY.len(),
            sdp = SDP_PCMA_ONLY,
        )
    };
    let cases = [
        (
            "disabled",
            "2026-11-23T10:00:00[Europe/Warsaw]",
            "tests/identify-flows/",
            "48221009007",
            "is disabled",
        ),
        (
            "before-life",
            "2025-12-31T23:59:00[Europe/Warsaw]",
            "flows/",
            "48221000000",
            "2026-01-01",
        ),
    ];
    for (i, (name, clock, flows, number, why)) in cases.into_iter().enumerate() {
        let served = Served::start_flows(name, clock, 15_000 + 200 * i as u16, "", flows);
        let answer = served.raw(invite(number, i as u32).as_bytes());
        assert!(
            answer
                .as_deref()
                .is_some_and(|l| l.starts_with("SIP/2.0 480 ")),
            "{name}: {answer:?}"
        );
        let events = served.events();
        let refused = events
            .iter()
            .find(|e| e["event"] == "campaign_refused")
            .unwrap_or_else(|| panic!("{name}: {events:#?}"));
        assert!(
            refused["reason"].as_str().unwrap_or_default().contains(why),
            "{name}: {refused}"
        );
        assert!(
            !events.iter().any(|e| e["event"] == "call_started"),
            "{name}: no call starts: {events:#?}"
        );
        crate::sip::assert_clean(&served);
    }
}

/// Issue 18, over SIP: each call's wrap-up is its campaign's (sales 4 s,
/// service none), and a reload that shortens sales' to 1 s counts from the
/// next sales call. ann's state is read through the agent API.
#[test]
fn wrap_up_is_the_calls_campaigns_and_a_reload_changes_it_for_the_next_call() {
    use crate::sip::{Served, finish, free_udp_port, uas};
    use std::time::{Duration, Instant};
    let dir = crate::build::scratch("wrap-up-reload");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    let v1 = std::fs::read_to_string(root().join("tests/wrapup-flows/v1/wrapup.flow")).unwrap();
    std::fs::write(
        flows.join("wrapup.flow"),
        v1.replace("wrap_up 30s", "wrap_up 4s"),
    )
    .unwrap();
    let ann = free_udp_port();
    let config = format!(
        "[[agent]]\nname = \"ann\"\nuri = \"sip:ann@127.0.0.1:{ann}\"\npassword = \"pw-ann\"\n"
    );
    let served = Served::start_flows(
        "wrap-up-reload",
        "2026-11-23T10:00:00[Europe/Warsaw]",
        15_400,
        &config,
        flows.to_str().unwrap(),
    );
    let agent = uas(
        "agent_answers.xml",
        ann,
        &["-mp", "15800", "-m", "3", "-timeout", "120s", "-nostdin"],
    );
    let state = || {
        let (status, body) = crate::acd::http(&served.api, "GET", "/api/agents/ann", "ann", None);
        assert_eq!(status, 200, "{body}");
        body["state"].as_str().unwrap_or_default().to_string()
    };
    // How long ann is in wrap-up after a call to `number` (that talks 2 s).
    let wrap_up_after = |number: &str, port: u16| {
        let caller = served.one_call("caller_talks.xml", number, port, 3_000);
        finish(caller, "a caller");
        let ended = Instant::now();
        while state() == "busy" {
            std::thread::sleep(Duration::from_millis(50));
        }
        while state() == "wrap_up" {
            assert!(
                ended.elapsed() < Duration::from_secs(20),
                "wrap-up never ends"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(state(), "available");
        ended.elapsed()
    };
    let sales = wrap_up_after("48221007000", 15_900);
    assert!(
        (Duration::from_millis(3_500)..Duration::from_millis(6_000)).contains(&sales),
        "sales: {sales:?}"
    );
    let service = wrap_up_after("48221007001", 15_920);
    assert!(
        service < Duration::from_millis(1_000),
        "service: {service:?}"
    );
    // Version 2: sales gives 1 s.
    std::fs::write(
        flows.join("wrapup.flow"),
        v1.replace("wrap_up 30s", "wrap_up 1s"),
    )
    .unwrap();
    let (code, body) = crate::ops::admin(&served, "POST", "/admin/reload", Some(crate::ops::TOKEN));
    assert_eq!(code, 200, "{body}");
    let sales = wrap_up_after("48221007000", 15_940);
    assert!(
        (Duration::from_millis(500)..Duration::from_millis(2_500)).contains(&sales),
        "sales after the reload: {sales:?}"
    );
    finish(agent, "ann's phone");
}

/// Issue 18: Dialect has no e-mail channel, so `channel mail` is refused
/// with the reason, rather than accepted and ignored.
#[test]
fn a_mail_channel_is_refused() {
    let dir = crate::build::scratch("mail-channel");
    std::fs::write(
        dir.join("m.flow"),
        "campaign m {\n  name \"M\"\n  id \"M\"\n  numbers [+48221009901]\n  channel mail { priority 20 }\n  ivr { answer; hangup }\n}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dialect"))
        .args(["check"])
        .arg(&dir)
        .output()
        .expect("dialect runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("it has no e-mail"), "{text}");
    assert!(text.contains("`mail`"), "{text}");
}
