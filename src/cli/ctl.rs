//! `dialect ctl`: operate a running server through its admin API.

use super::{FAILED, OK, USAGE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Options of `dialect ctl`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    action: Action,
    /// The admin API's address.
    #[arg(long, default_value = "127.0.0.1:9090", global = true)]
    admin: String,
    /// The admin token (or the environment's DIALECT_ADMIN_TOKEN).
    #[arg(
        long,
        env = "DIALECT_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
}

#[derive(clap::Subcommand, Debug, Clone, Copy)]
enum Action {
    /// Load the flows again and swap them in (calls in progress keep theirs).
    Reload,
    /// Restore the previous version.
    Rollback,
    /// Versions, calls per version, queues, agents, refusals.
    Status,
}

/// Runs `dialect ctl`.
pub fn run(args: &Args) -> i32 {
    let Some(token) = args.token.as_deref() else {
        eprintln!("error: no admin token: pass --token or set DIALECT_ADMIN_TOKEN");
        return USAGE;
    };
    let (method, path) = match args.action {
        Action::Reload => ("POST", "/admin/reload"),
        Action::Rollback => ("POST", "/admin/rollback"),
        Action::Status => ("GET", "/admin/status"),
    };
    match request(&args.admin, method, path, token) {
        Ok((status, body)) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(body);
            println!("{pretty}");
            if (200..300).contains(&status) {
                OK
            } else {
                eprintln!("error: the server answered {status}");
                FAILED
            }
        }
        Err(err) => {
            eprintln!("error: cannot reach the admin API at {}: {err}", args.admin);
            USAGE
        }
    }
}

/// One HTTP/1.1 request; the status and the body.
fn request(address: &str, method: &str, path: &str, token: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(70)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
