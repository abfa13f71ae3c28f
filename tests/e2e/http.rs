//! The flows' own HTTP under `dialect serve` (issue 17): `api_login` and
//! `api_request` against a real HTTP server started by the test, one route
//! per behaviour (answers, slow past the timeout, garbage, needs the login
//! token), each call ending with a hang-up reason that names the exit its
//! block took. URLs the configuration does not allow are never called.

use crate::sip::{Served, assert_clean, wait_for};
use crate::ua::Placed;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLOCK: &str = "2026-11-23T10:00:00[Europe/Warsaw]";
const TOKEN: &str = "tok-7f3a";

/// What the CRM saw: each request's path, Authorization header and body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A CRM on a free port: `/login` (checks the user and password, gives a
/// token for an hour), `/answer` (the customer's tier), `/slow` (3 s),
/// `/garbage` (200 with text that is not JSON), `/private` (401 without
/// the token).
fn crm() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, body) = loop {
                    let Ok(n) = stream.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = header(&text[..end], "content-length")
                            .parse::<usize>()
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break (text[..end].to_string(), text[end + 4..].to_string());
                        }
                    }
                };
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                let method = head.split(' ').next().unwrap_or_default().to_string();
                let auth = header(&head, "authorization");
                log.lock().expect("log").push((
                    format!("{method} {path}"),
                    auth.clone(),
                    body.clone(),
                ));
                let (status, answer) = match path.as_str() {
                    "/login" => {
                        let ok = body.contains("\"user\":\"dialect-ivr\"")
                            && body.contains("\"password\":\"s3cret-crm\"");
                        if ok {
                            (
                                200,
                                format!(r#"{{"token": "{TOKEN}", "expires_in": 3600}}"#),
                            )
                        } else {
                            (403, r#"{"error": "bad credentials"}"#.to_string())
                        }
                    }
                    "/answer" => (200, r#"{"tier": "gold", "name": "Jan"}"#.to_string()),
                    "/slow" => {
                        std::thread::sleep(Duration::from_secs(3));
                        (200, r#"{"tier": "late"}"#.to_string())
                    }
                    "/garbage" => (200, "<html>not json".to_string()),
                    "/huge" => (
                        200,
                        format!(r#"{{"tier": "gold", "pad": "{}"}}"#, "x".repeat(10_000)),
                    ),
                    "/private" if auth == format!("Bearer {TOKEN}") => {
                        (200, r#"{"orders": 3}"#.to_string())
                    }
                    "/private" => (401, r#"{"error": "no token"}"#.to_string()),
                    "/authorise" if body.contains("+48600700009") => (200, "{}".to_string()),
                    "/authorise" => (403, "{}".to_string()),
                    _ => (404, "{}".to_string()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    (base, seen)
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// The test's campaigns: one number per behaviour; each hangs up with a
/// reason naming the exit taken (and, on `ok`, what the answer held).
fn flows_text(base: &str) -> String {
    let request = |name: &str, number: &str, path: &str| {
        format!(
            r#"
campaign {name} {{
  name "{name}"
  id "{name}"
  numbers [{number}]
  ivr {{
    answer
    api_request {{
      url "{base}{path}"
      method post
      body (#{{ phone: caller }})
      into customer
      timeout 1s
      on ok {{
        switch (customer.tier) {{
          on "gold" {{ hangup {{ reason "ok gold" }} }}
          on else {{ hangup {{ reason "ok other" }} }}
        }}
      }}
      on error {{ hangup {{ reason "error" }} }}
      on timeout {{ hangup {{ reason "timeout" }} }}
    }}
  }}
}}
"#
        )
    };
    let mut text = String::new();
    text.push_str(&request("answers", "+48221007001", "/answer"));
    text.push_str(&request("slow", "+48221007002", "/slow"));
    text.push_str(&request("garbage", "+48221007003", "/garbage"));
    text.push_str(&request("nologin", "+48221007004", "/private"));
    text.push_str(&request("huge", "+48221007008", "/huge"));
    text.push_str(&format!(
        r#"
campaign refused_url {{
  name "refused_url"
  id "refused_url"
  numbers [+48221007006]
  ivr {{
    answer
    api_request {{
      url "http://169.254.169.254/latest/meta-data"
      timeout 1s
      on ok {{ hangup {{ reason "ok" }} }}
      on error {{ hangup {{ reason "error" }} }}
      on timeout {{ hangup {{ reason "timeout" }} }}
    }}
  }}
}}

campaign external_auth {{
  name "external_auth"
  id "external_auth"
  numbers [+48221007009]
  ivr {{
    answer
    authorise {{
      source external
      url "{base}/authorise"
      timeout 2s
      on ok {{ hangup {{ reason "authorised" }} }}
      on failed {{ hangup {{ reason "not authorised" }} }}
    }}
  }}
}}

campaign private {{
  name "private"
  id "private"
  numbers [+48221007007]
  ivr {{
    answer
    api_login {{
      url "{base}/login"
      user "dialect-ivr"
      secret "crm"
      timeout 1s
      on ok {{
        api_request {{
          url "{base}/private"
          into orders
          timeout 1s
          on ok {{
            switch (if orders.orders == 3 {{ "three" }} else {{ "other" }}) {{
              on "three" {{ hangup {{ reason "private 3" }} }}
              on else {{ hangup {{ reason "private other" }} }}
            }}
          }}
          on error {{ hangup {{ reason "private error" }} }}
          on timeout {{ hangup {{ reason "private timeout" }} }}
        }}
      }}
      on error {{ hangup {{ reason "login error" }} }}
    }}
  }}
}}
"#
    ));
    text
}

/// Calls `number` and waits for the server to hang up; the hang-up's
/// reason.
fn call(served: &Served, number: &str, n: u32) -> String {
    let media = 44_900 + u16::try_from(n).unwrap_or(0) * 2;
    let from = format!("+48600700{n:03}");
    Placed::dial(served.port, number, &from, &format!("http-{n}"), media).hung_up();
    let events = wait_for(served, "the hang-up", |e| {
        e.iter().filter(|e| e["event"] == "hangup").count() >= n as usize
    });
    events
        .iter()
        .filter(|e| e["event"] == "hangup")
        .nth(n as usize - 1)
        .and_then(|e| e["reason"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn api_login_and_api_request_take_each_documented_exit_against_a_real_server() {
    let (base, seen) = crm();
    let dir = crate::build::scratch("http-flows");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::write(flows.join("http.flow"), flows_text(&base)).expect("flow");
    let served = Served::start_in(
        dir.clone(),
        CLOCK,
        44_600,
        &format!(
            "[http]\nallow = [\"{base}/\"]\nmax_body = 4096\n[http.secrets]\ncrm = \"s3cret-crm\"\n"
        ),
        flows.to_str().expect("utf-8"),
    );
    assert_eq!(call(&served, "+48221007001", 1), "ok gold");
    assert_eq!(call(&served, "+48221007002", 2), "timeout");
    assert_eq!(call(&served, "+48221007003", 3), "error");
    // Without a login, the private route refuses: the block's `error`.
    assert_eq!(call(&served, "+48221007004", 4), "error");
    // An address the configuration does not allow is never called.
    assert_eq!(call(&served, "+48221007006", 5), "error");
    // An answer longer than `max_body` is not read to its end.
    assert_eq!(call(&served, "+48221007008", 6), "error");
    // A login, then the token on the private route; the second call's
    // login is answered from the cache.
    assert_eq!(call(&served, "+48221007007", 7), "private 3");
    assert_eq!(call(&served, "+48221007007", 8), "private 3");
    // `authorise` with an external source: the CRM knows the 9th caller
    // (+48600700009), not the 10th.
    assert_eq!(call(&served, "+48221007009", 9), "authorised");
    assert_eq!(call(&served, "+48221007009", 10), "not authorised");
    let seen = seen.lock().expect("seen").clone();
    let paths: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        // `method post` where the block says so; `get` by default; the
        // login and an external authorisation POST.
        [
            "POST /answer",
            "POST /slow",
            "POST /garbage",
            "POST /private",
            "POST /huge",
            "POST /login",
            "GET /private",
            "GET /private",
            "POST /authorise",
            "POST /authorise"
        ],
        "{seen:#?}"
    );
    let (_, _, body) = &seen[0];
    assert!(body.contains("+48600700001"), "the body expression: {body}");
    assert_eq!(seen[6].1, format!("Bearer {TOKEN}"));
    let events = served.events();
    let refused = events
        .iter()
        .find(|e| e["event"] == "http_refused")
        .expect("the refusal is logged");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("[http] allow")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "http" && e["cached"] == true),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e["event"] == "http_failed"
            && e["error"]
                .as_str()
                .is_some_and(|m| m.contains("longer than 4096 bytes"))),
        "{events:#?}"
    );
    // Neither the secret nor the token is in the event log.
    let log = std::fs::read_to_string(dir.join("events.jsonl")).expect("log");
    assert!(!log.contains("s3cret-crm") && !log.contains(TOKEN));
    assert_clean(&served);
}
