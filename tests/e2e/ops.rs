//! Operations (issue 7): hot reload of built artifacts under calls, refusal
//! of a corrupt artifact, rollback, `dialect ctl`, and the admin API's
//! token.

use crate::sip::{Served, finish, root};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLOCK: &str = "2026-11-23T10:00:00[Europe/Warsaw]";
pub(crate) const TOKEN: &str = "test-admin-token";

/// One request to the admin API; the status and the body (JSON, or text).
pub(crate) fn admin(
    served: &Served,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let auth = token
        .map(|t| format!("\r\nAuthorization: Bearer {t}"))
        .unwrap_or_default();
    let (status, _, body) = crate::acd::exchange(
        &served.admin,
        &format!("{method} {path} HTTP/1.1{auth}"),
        "",
        Duration::from_secs(70),
    );
    (status, body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Builds a version of the reload test flow; returns its artifact.
fn build(version: &str, out: &Path) -> PathBuf {
    let status = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(root())
        .args(["build", &format!("tests/reload-flows/{version}"), "-o"])
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .expect("dialect build runs");
    assert!(status.success());
    out.join("reload.dialect")
}

/// Puts a built artifact into the served directory: its assets first (the
/// build's `assets/`), then the artifact, as an operator deploys.
fn deploy(artifact: &Path, serving: &Path) {
    if let Some(assets) = artifact.parent().map(|d| d.join("assets"))
        && assets.is_dir()
    {
        crate::build::copy_tree(&assets, &serving.join("assets"));
    }
    std::fs::copy(artifact, serving.join("reload.dialect")).expect("copy");
}

fn hash_of(status: &Value) -> String {
    status["serving"]["reload"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A caller who stays `ms` on the line, then hangs up.
fn caller(served: &Served, ms: u32, calls: u32, rate: u32, media: u16) -> Child {
    served
        .caller("caller_talks.xml", "+48221005000", media)
        .args([
            "-d",
            &ms.to_string(),
            "-m",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
        ])
        .args(["-l", "1000", "-timeout", "120s", "-nostdin", "-trace_err"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("SIPp starts")
}

/// Every call's events carry one version: the call ends on the version it
/// started on. Returns each call's version.
fn versions_per_call(served: &Served) -> std::collections::BTreeMap<String, String> {
    let mut seen = std::collections::BTreeMap::new();
    for event in served.events() {
        let call = event["call"].as_str().unwrap_or_default().to_string();
        let Some(version) = event["artifact"].as_str() else {
            continue;
        };
        if call.is_empty() {
            continue;
        }
        let first = seen
            .entry(call.clone())
            .or_insert_with(|| version.to_string());
        assert_eq!(first, version, "call {call} changed version: {event}");
    }
    seen
}

#[test]
fn the_admin_api_refuses_a_missing_or_wrong_token() {
    // Nine wrong tokens in a row from one address: throttling is tested
    // elsewhere (security.rs), so it is set out of the way here.
    let served = Served::start_with("ops-token", CLOCK, 36_000, "[api]\nlogin_failures = 100\n");
    assert!(served.admin.starts_with("127.0.0.1:"), "{}", served.admin);
    for token in [None, Some("wrong"), Some("")] {
        let (status, body) = admin(&served, "GET", "/admin/status", token);
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(json(&body)["error"].is_string(), "{body}");
        let (status, _) = admin(&served, "POST", "/admin/reload", token);
        assert_eq!(status, 401);
        let (status, _) = admin(&served, "GET", "/metrics", token);
        assert_eq!(status, 401);
    }
    let (status, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["serving"]["scheme2"].is_string(), "{body}");
    let (status, metrics) = admin(&served, "GET", "/metrics", Some(TOKEN));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE dialect_calls_total counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dialect_reloads_total{result=\"loaded\"} 0"),
        "{metrics}"
    );
}

#[test]
fn a_reload_swaps_versions_without_dropping_calls_and_a_corrupt_artifact_is_refused() {
    let dir = crate::build::scratch("ops-reload");
    let v1 = build("v1", &dir.join("v1"));
    let v2 = build("v2", &dir.join("v2"));
    let serving = dir.join("serving");
    std::fs::create_dir_all(&serving).expect("mkdir");
    deploy(&v1, &serving);
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    let served = Served::start_in(
        dir.join("data"),
        CLOCK,
        36_200,
        "",
        serving.to_str().expect("utf-8"),
    );
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    let first = hash_of(&json(&body));
    assert!(!first.is_empty(), "{body}");

    // A long call on version 1; then version 2 is dropped in (the watch).
    let early = caller(&served, 4_000, 1, 1, 36_500);
    std::thread::sleep(Duration::from_millis(1_500));
    deploy(&v2, &serving);
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
        let hash = hash_of(&json(&body));
        if hash != first && !hash.is_empty() {
            break hash;
        }
        assert!(
            Instant::now() < deadline,
            "the watch did not reload: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A new call gets version 2; the early one ends on version 1.
    finish(caller(&served, 500, 1, 1, 36_600), "the callers");
    finish(early, "the callers");
    let versions = versions_per_call(&served);
    assert_eq!(
        versions.values().filter(|v| **v == first).count(),
        1,
        "{versions:?}"
    );
    assert_eq!(
        versions.values().filter(|v| **v == second).count(),
        1,
        "{versions:?}"
    );
    assert!(
        served
            .events()
            .iter()
            .any(|e| e["event"] == "reload" && e["trigger"] == "watch")
    );

    // A corrupt artifact is refused; version 2 keeps serving.
    std::fs::write(serving.join("broken.dialect"), b"DIALECT? not an artifact").expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
        let status = json(&body);
        if status["refused"].as_u64().unwrap_or(0) > 0 {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the corrupt artifact was not refused: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(hash_of(&status), second);
    let reason = status["refusals"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("broken.dialect"), "{reason}");
    finish(caller(&served, 500, 1, 1, 36_700), "the callers");
    assert_eq!(
        versions_per_call(&served)
            .values()
            .filter(|v| **v == second)
            .count(),
        2
    );

    // The admin API refuses the reload with its reason; rollback by
    // `dialect ctl` restores version 1.
    let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("broken.dialect"), "{body}");
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .args([
            "ctl",
            "rollback",
            "--admin",
            &served.admin,
            "--token",
            TOKEN,
        ])
        .output()
        .expect("dialect ctl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .args(["ctl", "status", "--admin", &served.admin])
        .env("DIALECT_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("dialect ctl runs");
    assert!(out.status.success());
    let status = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(hash_of(&status), first, "{status}");
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .args([
            "ctl",
            "status",
            "--admin",
            &served.admin,
            "--token",
            "wrong",
        ])
        .output()
        .expect("dialect ctl runs");
    assert!(!out.status.success());
}

#[test]
fn reloads_under_calls_never_drop_one_and_new_calls_take_the_new_version() {
    let dir = crate::build::scratch("ops-reload-load");
    let v1 = build("v1", &dir.join("v1"));
    let v2 = build("v2", &dir.join("v2"));
    let serving = dir.join("serving");
    std::fs::create_dir_all(&serving).expect("mkdir");
    deploy(&v1, &serving);
    // The watch is off here: only the admin API reloads.
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    let served = Served::start_in(
        dir.join("data"),
        CLOCK,
        37_000,
        "[admin]\nwatch = false\n",
        serving.to_str().expect("utf-8"),
    );
    // 10 calls per second, 3 s each, for 10 s; 20 reloads alternating the
    // two versions meanwhile.
    let calls = caller(&served, 3_000, 100, 10, 37_600);
    let mut hashes = std::collections::BTreeSet::new();
    for i in 0..20 {
        let artifact = if i % 2 == 0 { &v2 } else { &v1 };
        deploy(artifact, &serving);
        let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
        assert_eq!(code, 200, "{body}");
        let reply = json(&body);
        hashes.insert(
            reply["versions"]["reload"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        std::thread::sleep(Duration::from_millis(450));
    }
    finish(calls, "the callers");
    let versions = versions_per_call(&served);
    assert_eq!(versions.len(), 100, "every call logged");
    assert_eq!(hashes.len(), 2, "{hashes:?}");
    let used: std::collections::BTreeSet<&String> = versions.values().collect();
    assert_eq!(used.len(), 2, "calls ran on both versions: {used:?}");
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    assert_eq!(json(&body)["reloads"], 20, "{body}");

    // A call placed right after a reload returns runs on the new version.
    deploy(&v2, &serving);
    let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let returned = Instant::now();
    let new = json(&body)["versions"]["reload"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let mut phone = crate::ua::Phone::new(socket, served.port, "caller");
    let uri = format!("sip:+48221005000@127.0.0.1:{}", served.port);
    let local = format!("<sip:+48600100999@127.0.0.1:{port}>;tag=late");
    phone.request(
        "INVITE",
        &uri,
        "after-reload",
        &local,
        &format!("<{uri}>"),
        "",
        Some(crate::ua::Phone::sdp(37_990)),
    );
    let sent = returned.elapsed();
    assert!(sent < Duration::from_millis(50), "{sent:?}");
    let ok = phone.expect("the answer", |m| m.status() == Some(200));
    phone.request(
        "ACK",
        &uri,
        "after-reload",
        &local,
        &ok.header("To"),
        "",
        None,
    );
    std::thread::sleep(Duration::from_millis(300));
    let started = served
        .events()
        .into_iter()
        .rfind(|e| e["event"] == "call_started" && e["caller"] == "+48600100999")
        .expect("the call started");
    assert_eq!(started["artifact"], new.as_str());
    phone.request(
        "BYE",
        &uri,
        "after-reload",
        &local,
        &ok.header("To"),
        "",
        None,
    );
}

/// A version whose customer agent's knowledge base does not load cannot be
/// served, by one policy: `dialect serve` does not start on it and `dialect
/// test` does not run it, both naming the file (a reload to it is refused:
/// the test below).
#[test]
fn flows_whose_knowledge_base_does_not_load_are_served_nowhere() {
    let dir = crate::build::scratch("ops-unservable");
    let serve = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(root())
        .args([
            "serve",
            "tests/unservable-flows",
            "--listen",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(&dir)
        .arg("--event-log")
        .arg(dir.join("events.jsonl"))
        .output()
        .expect("dialect serve runs");
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{stderr}");
    assert!(
        stderr.contains("broken-kb.toml")
            && stderr.contains("does not load")
            && stderr.contains("muddled"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening for SIP"), "{stderr}");
    let test = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(root())
        .args(["test", "tests/unservable-flows"])
        .output()
        .expect("dialect test runs");
    let stderr = String::from_utf8_lossy(&test.stderr);
    assert_eq!(test.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("broken-kb.toml") && stderr.contains("muddled"),
        "{stderr}"
    );
}

/// A reload whose customer agent's knowledge base does not load is refused
/// with the file named; the running version keeps serving; once the file is
/// fixed the reload goes through.
#[test]
fn a_reload_with_a_knowledge_base_that_does_not_load_is_refused() {
    let dir = crate::build::scratch("ops-kb");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir");
    for file in ["chat.flow", "kb.toml"] {
        std::fs::copy(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/customer-flows")
                .join(file),
            flows.join(file),
        )
        .expect("copy");
    }
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    let served = Served::start_in(
        dir.join("data"),
        CLOCK,
        37_200,
        "",
        flows.to_str().expect("utf-8"),
    );
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    let serving = json(&body)["serving"]["web"].to_string();
    assert!(!serving.is_empty(), "{body}");

    let good = std::fs::read_to_string(flows.join("kb.toml")).expect("read");
    std::fs::write(flows.join("kb.toml"), "this is [not a knowledge base").expect("write");
    // A change to the flow too, so that the new version is a new version.
    let flow = std::fs::read_to_string(flows.join("chat.flow")).expect("read");
    assert!(flow.contains("agent ann { name \"Ann\" }"), "{flow}");
    let flow = flow.replace("agent ann { name \"Ann\" }", "agent ann { name \"Anna\" }");
    std::fs::write(flows.join("chat.flow"), flow).expect("write");
    let (status, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("kb.toml") && body.contains("does not load"),
        "{body}"
    );
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    assert_eq!(
        json(&body)["serving"]["web"].to_string(),
        serving,
        "the running version keeps serving"
    );

    std::fs::write(flows.join("kb.toml"), good).expect("write");
    let (status, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    assert_ne!(
        json(&body)["serving"]["web"].to_string(),
        serving,
        "the fixed version serves: {body}"
    );
}

/// Issue 16: a reload replaces the whole set. The campaign the new version
/// drops answers 404 to new calls while its call in progress completes on
/// the old version; the queue's new ring time (5 s, then 8 s) and the
/// agents' new skills (billing moves from ann to bob) count from the next
/// call.
#[test]
fn a_reload_drops_a_campaign_and_new_ring_times_and_skills_take_the_next_call() {
    use crate::sip::{free_udp_port, uas, wait_for};
    const MAIN: &str = "+48221006000";
    const EXTRA: &str = "+48221006001";
    let dir = crate::build::scratch("ops-exact");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    let flow = flows.join("exact.flow");
    std::fs::copy(root().join("tests/reload-exact/v1/exact.flow"), &flow).expect("copy");
    let (ann, bob) = (free_udp_port(), free_udp_port());
    let config: String = [("ann", ann), ("bob", bob)]
        .iter()
        .map(|(name, port)| {
            format!(
                "[[agent]]\nname = \"{name}\"\nuri = \"sip:{name}@127.0.0.1:{port}\"\nready = true\n"
            )
        })
        .collect();
    // The test's address is trusted: an unknown number gets 404 (a stranger
    // is challenged instead, so that answers do not tell agent names).
    let config = format!("[sip]\ntrusted = [\"127.0.0.1\"]\n{config}");
    let served = Served::start_in(
        dir.join("data"),
        CLOCK,
        42_000,
        &config,
        flows.to_str().expect("utf-8"),
    );
    let phone = |who: u16| {
        uas(
            "agent_never_answers.xml",
            who,
            &["-m", "1", "-timeout", "60s", "-nostdin", "-trace_err"],
        )
    };
    let talking =
        |number: &str, ms: u32, media: u16| served.one_call("caller_talks.xml", number, media, ms);
    // Version 1: a long call on the extra line; a call to the desk rings
    // ann, who lets it ring out after 5 s.
    let extra = talking(EXTRA, 14_000, 42_400);
    let ann_phone = phone(ann);
    let first = talking(MAIN, 7_000, 42_500);
    wait_for(&served, "ann's RONA", |e| {
        e.iter().any(|e| e["event"] == "rona")
    });
    finish(first, "the first caller");
    finish(ann_phone, "ann's phone");

    // Version 2 replaces it while the extra call goes on.
    std::fs::copy(root().join("tests/reload-exact/v2/exact.flow"), &flow).expect("copy");
    let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["reloaded"], true, "{body}");
    let serving = &json(&body)["versions"];
    assert!(serving["extra"].is_null(), "{body}");

    // The dropped campaign's number is not found for a new call.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let mut caller = crate::ua::Phone::new(socket, served.port, "caller");
    let uri = format!("sip:{EXTRA}@127.0.0.1:{}", served.port);
    caller.request(
        "INVITE",
        &uri,
        "dropped-1",
        &format!("<sip:+48600100009@127.0.0.1:{port}>;tag=d1"),
        &format!("<{uri}>"),
        "",
        Some(crate::ua::Phone::sdp(42_600)),
    );
    let refused = caller.expect("the refusal", |m| m.status().is_some_and(|s| s >= 300));
    assert_eq!(refused.status(), Some(404), "{}", refused.first_line());
    caller.ack_failure(&refused, &uri);

    // The next desk call rings bob (billing is his now) for 8 s.
    let bob_phone = phone(bob);
    let second = talking(MAIN, 10_000, 42_700);
    finish(second, "the second caller");
    finish(bob_phone, "bob's phone");
    // The extra call completed on version 1.
    finish(extra, "the extra line's caller");

    let events = served.events();
    let rung: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "agent_rung")
        .filter_map(|e| e["agent"].as_str())
        .collect();
    assert_eq!(rung, ["ann", "bob"], "{events:#?}");
    let ring_ms = |agent: &str| {
        let at = |name: &str| {
            events
                .iter()
                .find(|e| e["event"] == name && e["agent"] == agent)
                .and_then(|e| e["ts"].as_str())
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .unwrap_or_else(|| panic!("{name} of {agent}: {events:#?}"))
        };
        at("rona").duration_since(at("agent_rung")).as_millis()
    };
    let (five, eight) = (ring_ms("ann"), ring_ms("bob"));
    assert!((4_900..5_600).contains(&five), "ann rang {five} ms");
    assert!((7_900..8_600).contains(&eight), "bob rang {eight} ms");
    let versions = versions_per_call(&served);
    let extra_call = events
        .iter()
        .find(|e| e["event"] == "call_started" && e["dialled"] == EXTRA)
        .and_then(|e| e["call"].as_str())
        .expect("the extra call");
    let hangup = events
        .iter()
        .find(|e| e["event"] == "hangup" && e["call"] == extra_call)
        .expect("the extra call ended");
    assert_eq!(
        Some(&versions[extra_call]),
        hangup["artifact"].as_str().map(str::to_string).as_ref()
    );
    crate::sip::assert_clean(&served);
}

/// `dialect` run in `cwd`; its output, asserted successful.
fn run_ok(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("dialect runs");
    assert!(
        out.status.success(),
        "dialect {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The asset a call's prompts came from (`assets/HASH/prompts/...`).
fn prompts_heard(served: &Served, call: &str) -> Vec<String> {
    served
        .events()
        .iter()
        .filter(|e| e["call"] == call && e["event"] == "prompt")
        .filter_map(|e| e["prompt"].as_str().map(str::to_string))
        .collect()
}

/// Issue 16: a build is the whole deployable unit. `flows/` is built into
/// one directory, only that directory is copied elsewhere and served from
/// a third working directory; a call hears the main menu from the build's
/// assets. Then the menu's recording is replaced in the sources and
/// rebuilt: the artifact's hash and `dialect diff` show it; after the
/// reload a new call hears the new recording while a call in progress
/// keeps hearing the old one.
#[test]
fn a_build_copied_elsewhere_is_served_and_a_new_recording_reaches_only_new_calls() {
    use crate::build::copy_tree;
    let dir = crate::build::scratch("ops-assets");
    let (built, deployed, cwd, data) = (
        dir.join("built"),
        dir.join("deployed"),
        dir.join("elsewhere"),
        dir.join("data"),
    );
    for d in [&cwd, &data] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    run_ok(
        &root(),
        &["build", "flows/", "-o", built.to_str().expect("utf-8")],
    );
    copy_tree(&built, &deployed);
    let served = Served::start_at(
        &cwd,
        data,
        CLOCK,
        42_800,
        "",
        deployed.to_str().expect("utf-8"),
    );
    // Another recording of the menu, rebuilt from a copy of the sources.
    let sources = dir.join("sources");
    copy_tree(&root().join("flows"), &sources.join("flows"));
    copy_tree(&root().join("stdlib"), &sources.join("stdlib"));
    std::fs::copy(
        root().join("flows/prompts/busy.wav"),
        sources.join("flows/prompts/main_menu.wav"),
    )
    .expect("copy");
    let rebuilt = dir.join("rebuilt");
    run_ok(
        &sources,
        &["build", "flows", "-o", rebuilt.to_str().expect("utf-8")],
    );
    let hash = |dir: &Path| {
        let bytes = std::fs::read(dir.join("scheme2.dialect")).expect("artifact");
        dialect_bytecode::load(&bytes).expect("loads").header.hash
    };
    assert_ne!(
        hash(&built),
        hash(&rebuilt),
        "the artifact covers its audio"
    );
    let diff = run_ok(
        &root(),
        &[
            "diff",
            built.to_str().expect("utf-8"),
            rebuilt.to_str().expect("utf-8"),
        ],
    );
    assert!(
        diff.contains("~ campaign scheme2")
            && diff.contains("prompt prompts/main_menu.wav: audio changed"),
        "{diff}"
    );

    // Scheme 2 in office hours: the main menu, repeated after 5 s of
    // silence; this caller listens for 11 s.
    let early = served.one_call("caller_listens.xml", "+48221000002", 43_060, 11_000);
    let deadline = Instant::now() + Duration::from_secs(30);
    let first_call = loop {
        assert!(
            Instant::now() < deadline,
            "no prompt: {:#?}",
            served.events()
        );
        let events = served.events();
        if let Some(call) = events
            .iter()
            .find(|e| e["event"] == "prompt")
            .and_then(|e| e["call"].as_str())
        {
            break call.to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let old = prompts_heard(&served, &first_call);
    assert_eq!(old.len(), 1, "{old:?}");
    assert!(
        old[0].starts_with("assets/") && old[0].ends_with("/prompts/main_menu.wav"),
        "{old:?}"
    );

    // Deployed (assets first, then the artifacts) and reloaded.
    copy_tree(&rebuilt.join("assets"), &deployed.join("assets"));
    for entry in std::fs::read_dir(&rebuilt).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::copy(&path, deployed.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    assert_eq!(
        json(&body)["serving"]["scheme2"].as_str(),
        Some(hash(&rebuilt).to_string().as_str()),
        "{body}"
    );
    // A new call hears the new recording...
    let late = served.one_call("caller_listens.xml", "+48221000002", 43_120, 2_000);
    finish(late, "the late caller");
    finish(early, "the early caller");
    let events = served.events();
    let second_call = events
        .iter()
        .filter(|e| e["event"] == "call_started")
        .filter_map(|e| e["call"].as_str())
        .find(|c| *c != first_call)
        .expect("the second call")
        .to_string();
    let new = prompts_heard(&served, &second_call);
    assert!(
        new.first()
            .is_some_and(|p| p.ends_with("/prompts/main_menu.wav") && *p != old[0]),
        "new: {new:?}, old: {old:?}"
    );
    // ...while the early call's menu, repeated after the reload, kept the
    // old one.
    let repeated = prompts_heard(&served, &first_call);
    assert!(repeated.iter().all(|p| *p == old[0]), "{repeated:?}");
    let ts = |e: &Value| {
        e["ts"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let reloaded = events
        .iter()
        .find(|e| e["event"] == "reload")
        .and_then(ts)
        .expect("the reload");
    assert!(
        events
            .iter()
            .filter(|e| e["call"] == first_call.as_str() && e["event"] == "prompt")
            .filter_map(ts)
            .any(|at| at > reloaded),
        "the early call's menu was repeated after the reload: {repeated:?}"
    );
}

/// `dialect serve DIR` with `args`, expected to refuse to start: its
/// standard error.
fn refused_start(dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(dir)
        .args(["serve"])
        .args(args)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "off",
            "--api",
            "off",
            "--data",
        ])
        .arg(dir.join("refused-data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dialect serve runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert_eq!(status.code(), Some(2), "{args:?}");
            let mut err = String::new();
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err);
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dialect serve {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 16: a host that trusts one key serves only builds that key
/// signed. Unsigned, wrongly signed and altered builds are refused at start
/// and on reload, with the running version kept.
#[test]
fn only_builds_signed_by_a_trusted_key_are_served() {
    use sha2::{Digest, Sha256};
    let dir = crate::build::scratch("ops-signed");
    run_ok(&dir, &["keygen", "-o", "ci"]);
    run_ok(&dir, &["keygen", "-o", "intruder"]);
    let flows = root().join("tests/reload-flows/v1");
    let flows = flows.to_str().expect("utf-8");
    let build = |name: &str, key: Option<&str>| {
        let out = dir.join(name);
        let mut args = vec!["build", flows, "-o", out.to_str().expect("utf-8")];
        if let Some(key) = key {
            args.extend(["--sign", key]);
        }
        run_ok(&root(), &args);
        out
    };
    let (ci_key, intruder_key) = (dir.join("ci.key"), dir.join("intruder.key"));
    let signed = build("signed", Some(ci_key.to_str().expect("utf-8")));
    let unsigned = build("unsigned", None);
    let wrong = build("wrong", Some(intruder_key.to_str().expect("utf-8")));
    // Altered after signing: the campaign's name changed in the payload
    // and the header's hash made to match it.
    let altered = dir.join("altered");
    crate::build::copy_tree(&signed, &altered);
    let artifact = altered.join("reload.dialect");
    let mut bytes = std::fs::read(&artifact).expect("artifact");
    let at = bytes
        .windows(9)
        .position(|w| w == b"version 1")
        .expect("the campaign's name");
    bytes[at + 8] = b'9';
    let version_len = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
    let hash_at = 12 + version_len + 8;
    let payload = bytes[hash_at + 32..].to_vec();
    bytes[hash_at..hash_at + 32].copy_from_slice(&Sha256::digest(&payload));
    std::fs::write(&artifact, &bytes).expect("write");
    let trust = dir.join("ci.pub");
    let trust = trust.to_str().expect("utf-8");

    for (build, why) in [
        (&unsigned, "is not signed"),
        (&wrong, "a key this server does not trust"),
        (&altered, "the signature does not match"),
    ] {
        let err = refused_start(&dir, &[build.to_str().expect("utf-8"), "--trust", trust]);
        assert!(err.contains(why), "{why}: {err}");
    }

    // The signed build is served (trust from the configuration file).
    let serving = dir.join("serving");
    crate::build::copy_tree(&signed, &serving);
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    let served = Served::start_in(
        dir.join("data"),
        CLOCK,
        43_200,
        &format!("[runtime]\ntrust = [\"{trust}\"]\n[admin]\nwatch = false\n"),
        serving.to_str().expect("utf-8"),
    );
    let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
    let first = hash_of(&json(&body));
    assert!(!first.is_empty(), "{body}");
    // The status says who signed what is deployed, and with what it was built.
    let public = std::fs::read_to_string(dir.join("ci.pub")).expect("ci.pub");
    let public = public.split_whitespace().nth(1).expect("the key");
    let deployed = &json(&body)["deployed"]["campaigns"]["reload"];
    assert_eq!(deployed["signer"], public, "{body}");
    assert_eq!(deployed["version"], first.as_str(), "{body}");
    assert!(deployed["compiler"].is_string(), "{body}");
    for (build, why) in [
        (&unsigned, "is not signed"),
        (&wrong, "a key this server does not trust"),
        (&altered, "the signature does not match"),
    ] {
        let _ = std::fs::remove_file(serving.join("reload.dialect.sig"));
        crate::build::copy_tree(build, &serving);
        let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
        assert_eq!(code, 422, "{why}: {body}");
        assert!(body.contains(why), "{why}: {body}");
        let (_, body) = admin(&served, "GET", "/admin/status", Some(TOKEN));
        assert_eq!(hash_of(&json(&body)), first, "{body}");
    }
    // Signed again: accepted (the same version, so nothing changes).
    crate::build::copy_tree(&signed, &serving);
    let (code, body) = admin(&served, "POST", "/admin/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
}

/// Issue 16: the example flows are served where espeak-ng is not
/// installed: their `say` prompts are rendered ahead of time in
/// `flows/speech/` (`dialect speech`), complete and current, and a call
/// hears one.
#[test]
fn the_example_flows_are_served_without_espeak_ng() {
    let check = run_ok(&root(), &["speech", "--check", "flows/"]);
    assert!(check.contains("every one rendered"), "{check}");
    let dir = crate::build::scratch("ops-no-espeak");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    let launch = crate::sip::Launch {
        path: Some(bin.into_os_string()),
        ..crate::sip::Launch::default()
    };
    let served = Served::start_launched(dir.join("data"), CLOCK, 43_400, "", "flows/", &launch);
    // Scheme 3 in office hours, from a registered number: a spoken menu.
    let mut call = crate::ua::Placed::dial(
        served.port,
        "+48221000003",
        "+48601234567",
        "no-espeak-1",
        43_600,
    );
    // A recording of the regular customers' greeting, then the spoken menu.
    let spoken = |e: &Value| {
        e["event"] == "prompt" && e["prompt"].as_str().is_some_and(|p| p.starts_with("say:"))
    };
    let events = crate::sip::wait_for(&served, "the spoken menu", |e| e.iter().any(spoken));
    assert!(
        !events.iter().any(|e| e["event"] == "prompt_failed"),
        "{events:#?}"
    );
    call.hang_up();
    crate::sip::wait_for(&served, "the hang-up", |e| {
        e.iter().any(|e| e["event"] == "hangup")
    });
    crate::sip::assert_clean(&served);
}
