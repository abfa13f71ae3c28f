//! `dialect build` and `dialect dump`.

use super::check::{Format, report};
use super::{FAILED, Inputs, OK, USAGE};
use std::path::PathBuf;

/// Options of `dialect build`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// Where to write the artifacts (`CAMPAIGN.dialect`).
    #[arg(short = 'o', long = "out", default_value = "out")]
    out: PathBuf,
}

/// Options of `dialect dump`.
#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// An artifact written by `dialect build`.
    artifact: PathBuf,
}

/// Runs `dialect build`.
pub fn run(args: &Args) -> i32 {
    let compilation = args.inputs.compile();
    let code = report(&compilation, Format::Human, false);
    if code != OK {
        eprintln!("error: nothing was built");
        return code;
    }
    if let Err(err) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {err}", args.out.display());
        return USAGE;
    }
    for program in &compilation.programs {
        let bytes = dialect_bytecode::encode(program);
        let path = args.out.join(format!("{}.dialect", program.name));
        if let Err(err) = std::fs::write(&path, &bytes) {
            eprintln!("error: cannot write {}: {err}", path.display());
            return USAGE;
        }
        match dialect_bytecode::load(&bytes) {
            Ok(loaded) => println!(
                "wrote {} ({} bytes, {})",
                path.display(),
                bytes.len(),
                loaded.header.hash_hex()
            ),
            Err(err) => {
                eprintln!(
                    "error: the artifact just built for `{}` does not load: {err}",
                    program.name
                );
                return FAILED;
            }
        }
    }
    OK
}

/// Runs `dialect dump`.
pub fn dump(args: &DumpArgs) -> i32 {
    let bytes = match std::fs::read(&args.artifact) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", args.artifact.display());
            return USAGE;
        }
    };
    match dialect_bytecode::load(&bytes) {
        Ok(loaded) => {
            print!(
                "{}",
                dialect_bytecode::dump(&loaded.header, &loaded.program)
            );
            OK
        }
        Err(err) => {
            eprintln!("error: {}: {err}", args.artifact.display());
            USAGE
        }
    }
}
