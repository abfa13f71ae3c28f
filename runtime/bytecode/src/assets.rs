//! A build's assets: the files its campaigns play or read (prompts,
//! knowledge bases), stored by content next to the artifacts, so that a
//! build directory is the whole deployable unit.
//!
//! Layout: `BUILD/assets/HEX/PATH`, where `HEX` is the SHA-256 of the
//! content (64 lower-case hex digits) and `PATH` the path the flows name the
//! file by. The directory name makes the store content-addressed (two
//! versions of `prompts/welcome.wav` live side by side, so calls on an old
//! version keep hearing the old recording after a reload); the path keeps it
//! readable (`assets/3a7b…/prompts/welcome.wav` in logs).
//!
//! The artifact lists its assets with their hashes ([`Program::assets`]),
//! and its own hash covers that list: a changed recording is a changed
//! artifact. [`resolve`] checks every asset against its hash before a
//! version is served; a missing or altered file refuses the version.

use crate::graph::{Asset, Program, Prompt};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The directory of a build that holds its assets.
pub const DIR: &str = "assets";

/// A missing or altered asset.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The stored file cannot be read.
    #[error("campaign `{campaign}`: asset `{path}` is missing ({file}: {source})")]
    Missing {
        /// The campaign.
        campaign: String,
        /// The path the flows name it by.
        path: String,
        /// Where it should be.
        file: String,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The stored file's content is not what the artifact says.
    #[error(
        "campaign `{campaign}`: asset `{path}` was altered ({file} does not have the SHA-256 the artifact names)"
    )]
    Altered {
        /// The campaign.
        campaign: String,
        /// The path the flows name it by.
        path: String,
        /// The file.
        file: String,
    },
}

/// The SHA-256 of an asset's content.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// 64 lower-case hex digits.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where an asset is stored, relative to the build directory (always with
/// `/`).
pub fn stored_path(asset: &Asset) -> String {
    format!("{DIR}/{}/{}", hex(&asset.sha256), asset.path)
}

/// Stores `bytes` as the asset `path` of the build in `dir`; returns the
/// asset to list in the program. Storing the same content again rewrites
/// the same file.
pub fn store(dir: &Path, path: &str, bytes: &[u8]) -> std::io::Result<Asset> {
    let asset = Asset {
        path: path.to_string(),
        sha256: sha256(bytes),
    };
    let file = dir.join(stored_path(&asset));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file, bytes)?;
    Ok(asset)
}

/// The directory, beside the flows, of `say` prompts rendered ahead of time
/// (`dialect speech`), so that flows with speech are served, built and
/// deployed where espeak-ng is not installed.
pub const SPEECH: &str = "speech";

/// Where the rendering of a `say` prompt is kept, relative to the flows
/// (and, in a build, the path of its asset): `speech/KEY.wav`, the key
/// naming the text and the language.
pub fn speech_path(text: &str, language: Option<&str>) -> String {
    let mut named = Vec::with_capacity(text.len() + 8);
    named.extend_from_slice(language.unwrap_or("").as_bytes());
    named.push(0);
    named.extend_from_slice(text.as_bytes());
    let key = hex(&sha256(&named));
    format!("{SPEECH}/{}.wav", key.get(..32).unwrap_or(&key))
}

/// The stored file of the asset the program names `path`, relative to the
/// build directory, if it carries one.
pub fn stored(program: &Program, path: &str) -> Option<String> {
    program
        .assets
        .binary_search_by(|a| a.path.as_str().cmp(path))
        .ok()
        .and_then(|i| program.assets.get(i))
        .map(stored_path)
}

/// Checks every asset of `program` in the build directory `dir` against its
/// hash, then makes the program play its stored files: each `play` prompt
/// that names an asset names its stored file instead (relative to `dir`,
/// which is then the media root), and so does each `say` prompt the build
/// rendered ([`speech_path`]). Knowledge bases are found with [`stored`].
pub fn resolve(program: &mut Program, dir: &Path) -> Result<(), AssetError> {
    for asset in &program.assets {
        let relative = stored_path(asset);
        let file: PathBuf = dir.join(&relative);
        let bytes = std::fs::read(&file).map_err(|source| AssetError::Missing {
            campaign: program.name.clone(),
            path: asset.path.clone(),
            file: file.display().to_string(),
            source,
        })?;
        if sha256(&bytes) != asset.sha256 {
            return Err(AssetError::Altered {
                campaign: program.name.clone(),
                path: asset.path.clone(),
                file: file.display().to_string(),
            });
        }
    }
    let renamed: Vec<Option<String>> = program
        .prompts
        .iter()
        .map(|prompt| match prompt {
            Prompt::Play { path } => stored(program, path),
            // Rendered by the build: played like a recording.
            Prompt::Say { text, language } => {
                stored(program, &speech_path(text, language.as_deref()))
            }
        })
        .collect();
    for (prompt, stored) in program.prompts.iter_mut().zip(renamed) {
        if let Some(stored) = stored {
            *prompt = Prompt::Play { path: stored };
        }
    }
    Ok(())
}
