//! `dialect call`: try a flow without a phone.

use super::{FAILED, OK, USAGE};
use dialect_server::client::{CallOptions, call};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `dialect call`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The number to dial, e.g. `+48221000002` or `221000002`.
    number: String,
    /// Keys to press after the answer, e.g. `2` or `1#`.
    #[arg(long, default_value = "")]
    digits: String,
    /// The runtime's SIP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: SocketAddr,
    /// The caller number to present.
    #[arg(long, default_value = "+48600000000")]
    from: String,
    /// Seconds to wait after the answer before each key.
    #[arg(long, default_value_t = 3.0)]
    key_gap: f64,
    /// Hang up after this many seconds if the runtime has not.
    #[arg(long, default_value_t = 30.0)]
    max: f64,
    /// Save what the call heard to this WAV file.
    #[arg(long, default_value = "call.wav")]
    record: PathBuf,
}

/// Runs `dialect call`.
pub fn run(args: &Args) -> i32 {
    if !(0.0..=3600.0).contains(&args.key_gap) || !(0.0..=86_400.0).contains(&args.max) {
        eprintln!("error: --key-gap and --max are seconds (up to an hour and a day)");
        return USAGE;
    }
    let options = CallOptions {
        server: args.server,
        number: args.number.clone(),
        from: args.from.clone(),
        digits: args.digits.clone(),
        key_gap: Duration::from_secs_f64(args.key_gap),
        max: Duration::from_secs_f64(args.max),
        record: Some(args.record.clone()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err}");
            return USAGE;
        }
    };
    match runtime.block_on(call(&options, |line| println!("{line}"))) {
        Ok(report) if (200..300).contains(&report.status) => OK,
        Ok(_) => FAILED,
        Err(err) => {
            eprintln!("error: {err}");
            FAILED
        }
    }
}
