//! `dialect build` and `dialect dump`.

use super::check::{Format, report};
use super::{FAILED, Inputs, OK, USAGE};
use std::path::{Path, PathBuf};

/// Options of `dialect build`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// Where to write the artifacts (`CAMPAIGN.dialect`).
    #[arg(short = 'o', long = "out", default_value = "out")]
    out: PathBuf,
    /// Sign every artifact with this key (`dialect keygen`): an Ed25519
    /// signature over its hash, in `CAMPAIGN.dialect.sig`.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
}

/// Options of `dialect dump`.
#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// An artifact written by `dialect build`.
    artifact: PathBuf,
}

/// Runs `dialect build`.
pub fn run(args: &Args) -> i32 {
    let signer = match &args.sign {
        Some(key) => match super::sign::Signer::read(key) {
            Ok(signer) => Some(signer),
            Err(err) => {
                eprintln!("error: {err}");
                return USAGE;
            }
        },
        None => None,
    };
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
    // The files the flows name are relative to the first input, as under
    // `dialect serve`.
    let root = super::speech::flows_root(&args.inputs);
    for program in &compilation.programs {
        let mut program = program.clone();
        if let Err(err) = collect_assets(&mut program, &root, &args.out) {
            eprintln!("error: campaign `{}`: {err}", program.name);
            eprintln!("error: nothing more was built");
            return FAILED;
        }
        let program = &program;
        let bytes = dialect_bytecode::encode(program);
        let path = args.out.join(format!("{}.dialect", program.name));
        if let Err(err) = std::fs::write(&path, &bytes) {
            eprintln!("error: cannot write {}: {err}", path.display());
            return USAGE;
        }
        match dialect_bytecode::load(&bytes) {
            Ok(loaded) => {
                println!(
                    "wrote {} ({} bytes, {})",
                    path.display(),
                    bytes.len(),
                    loaded.header.hash_hex()
                );
                if let Some(signer) = &signer {
                    match signer.sign(&path, &loaded.header.hash.0) {
                        Ok(sig) => println!("signed {}", sig.display()),
                        Err(err) => {
                            eprintln!("error: {err}");
                            return FAILED;
                        }
                    }
                }
            }
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

/// Stores every file the campaign plays or reads in the build's assets
/// (`OUT/assets/SHA256/PATH`, see `dialect_bytecode::assets`) and lists
/// them in the program, so that its artifact names them by content: each
/// `play` prompt converted once to what the runtime plays (8 kHz mono
/// 16-bit WAV), each `say` prompt rendered (see below), each customer
/// agent's knowledge base as it is.
fn collect_assets(
    program: &mut dialect_bytecode::Program,
    root: &Path,
    out: &Path,
) -> Result<(), String> {
    let mut assets: std::collections::BTreeMap<String, dialect_bytecode::Asset> =
        std::collections::BTreeMap::new();
    for prompt in &program.prompts {
        let dialect_bytecode::Prompt::Play { path } = prompt else {
            continue;
        };
        if assets.contains_key(path) {
            continue;
        }
        let samples = dialect_media::audio::decode_file(&root.join(path))
            .map_err(|e| format!("prompt `{path}` cannot be built: {e}"))?;
        let bytes = dialect_media::audio::wav_bytes(&samples);
        let asset = dialect_bytecode::assets::store(out, path, &bytes)
            .map_err(|e| format!("cannot store prompt `{path}` in {}: {e}", out.display()))?;
        assets.insert(path.clone(), asset);
    }
    // `say` prompts: the rendering beside the flows (`dialect speech`), or
    // espeak-ng's now; where there is neither they stay text, synthesised
    // where the build is served.
    for prompt in &program.prompts {
        let dialect_bytecode::Prompt::Say { text, language } = prompt else {
            continue;
        };
        let path = dialect_bytecode::assets::speech_path(text, language.as_deref());
        if assets.contains_key(&path) {
            continue;
        }
        let bytes = match std::fs::read(root.join(&path)) {
            Ok(bytes) => bytes,
            Err(_) => match dialect_media::prompt::synthesise(
                text,
                language.as_deref(),
                dialect_media::prompt::DEFAULT_SAY_TIMEOUT,
            ) {
                Ok(samples) => dialect_media::audio::wav_ulaw_bytes(&samples),
                Err(dialect_media::PromptError::EspeakMissing) => {
                    eprintln!(
                        "note: say {text:?} is not rendered (no {path} and no espeak-ng): it will be synthesised where the build is served"
                    );
                    continue;
                }
                Err(e) => return Err(format!("say {text:?} cannot be rendered: {e}")),
            },
        };
        let asset = dialect_bytecode::assets::store(out, &path, &bytes)
            .map_err(|e| format!("cannot store `{path}` in {}: {e}", out.display()))?;
        assets.insert(path, asset);
    }
    for decl in program.decls.iter().filter(|d| d.kind == "bot") {
        let Some(file) = dialect_bot::BotConfig::from_program(program, &decl.name)
            .and_then(|config| config.knowledge)
        else {
            continue;
        };
        if assets.contains_key(&file) {
            continue;
        }
        let bytes = std::fs::read(root.join(&file)).map_err(|e| {
            format!(
                "the knowledge base `{file}` of bot `{}` cannot be read: {e}",
                decl.name
            )
        })?;
        let asset = dialect_bytecode::assets::store(out, &file, &bytes)
            .map_err(|e| format!("cannot store `{file}` in {}: {e}", out.display()))?;
        assets.insert(file, asset);
    }
    program.assets = assets.into_values().collect();
    Ok(())
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
