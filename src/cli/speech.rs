//! `dialect speech`: renders the flows' `say` prompts ahead of time into
//! `speech/` beside them (8 kHz mu-law WAV, one file per text and language,
//! named by `dialect_bytecode::assets::speech_path`). `dialect serve` and
//! `dialect build` use a rendering found there instead of running
//! espeak-ng, so flows with speech are served and built on a machine
//! without it. Commit the directory with the flows; `--check` (in CI)
//! fails when a `say` prompt has no rendering or a rendering no prompt.

use super::check::{Format, report};
use super::{FAILED, Inputs, OK, USAGE};
use dialect_bytecode::Prompt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of `dialect speech`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// Change nothing: fail if a `say` prompt is not rendered or a
    /// rendering belongs to no prompt.
    #[arg(long)]
    check: bool,
}

/// The directory the flows' files are relative to: the first input (its
/// directory, for a file), as for `dialect serve` and `dialect build`.
pub fn flows_root(inputs: &Inputs) -> PathBuf {
    inputs
        .paths()
        .first()
        .map(|p| {
            if p.is_file() {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                p.clone()
            }
        })
        .unwrap_or_else(|| PathBuf::from("flows"))
}

/// Runs `dialect speech`.
pub fn run(args: &Args) -> i32 {
    let compilation = args.inputs.compile();
    let code = report(&compilation, Format::Human, false);
    if code != OK {
        eprintln!("error: the flows do not compile; nothing was rendered");
        return code;
    }
    let root = flows_root(&args.inputs);
    // Every `say` prompt: its file, text and language.
    let mut wanted: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for program in &compilation.programs {
        for prompt in &program.prompts {
            if let Prompt::Say { text, language } = prompt {
                wanted.insert(
                    dialect_bytecode::assets::speech_path(text, language.as_deref()),
                    (text.clone(), language.clone()),
                );
            }
        }
    }
    let dir = root.join(dialect_bytecode::assets::SPEECH);
    let existing: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                .filter_map(|p| {
                    let name = p.file_name()?.to_str()?.to_string();
                    Some(format!("{}/{name}", dialect_bytecode::assets::SPEECH))
                })
                .collect()
        })
        .unwrap_or_default();
    let stale: Vec<&String> = existing
        .iter()
        .filter(|f| !wanted.contains_key(*f))
        .collect();
    let missing: Vec<(&String, &(String, Option<String>))> = wanted
        .iter()
        .filter(|(f, _)| !existing.contains(f))
        .collect();
    if args.check {
        for (file, (text, _)) in &missing {
            println!("not rendered: say {text:?} ({file})");
        }
        for file in &stale {
            println!("no prompt says this any more: {file}");
        }
        if missing.is_empty() && stale.is_empty() {
            println!(
                "{} say prompt(s), every one rendered in {}",
                wanted.len(),
                dir.display()
            );
            return OK;
        }
        eprintln!(
            "error: run `dialect speech` on these flows and commit {}",
            dir.display()
        );
        return FAILED;
    }
    if let Err(err) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {err}", dir.display());
        return USAGE;
    }
    for (file, (text, language)) in &missing {
        let samples = match dialect_media::prompt::synthesise(
            text,
            language.as_deref(),
            dialect_media::prompt::DEFAULT_SAY_TIMEOUT,
        ) {
            Ok(samples) => samples,
            Err(err) => {
                eprintln!("error: say {text:?}: {err}");
                return FAILED;
            }
        };
        let path = root.join(file);
        if let Err(err) = std::fs::write(&path, dialect_media::audio::wav_ulaw_bytes(&samples)) {
            eprintln!("error: cannot write {}: {err}", path.display());
            return USAGE;
        }
        println!("rendered {} (say {text:?})", path.display());
    }
    for file in &stale {
        let path = root.join(file);
        if let Err(err) = std::fs::remove_file(&path) {
            eprintln!("error: cannot remove {}: {err}", path.display());
            return USAGE;
        }
        println!("removed {} (no prompt says it any more)", path.display());
    }
    println!(
        "{} say prompt(s): {} rendered now, {} removed",
        wanted.len(),
        missing.len(),
        stale.len()
    );
    OK
}
