//! The media crate's behaviour, one test binary: codecs and packets from
//! literal bytes, audio files written at test time (and one small MP3 in
//! `tests/data/`), prompts from the real `flows/prompts/` and from
//! espeak-ng, recordings read back with hound.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod audio;
mod dtmf;
mod g711;
mod per_packet;
mod prompt;
mod record;
mod rtp;

use std::path::{Path, PathBuf};

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("media-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The amplitude of the `frequency` component of `samples` (Goertzel / a
/// single DFT bin), in the samples' units.
pub fn amplitude(samples: &[i16], frequency: f64, rate: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &x) in samples.iter().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * frequency * n as f64 / rate;
        re += f64::from(x) * phase.cos();
        im += f64::from(x) * phase.sin();
    }
    2.0 * (re * re + im * im).sqrt() / samples.len() as f64
}

/// The root-mean-square level of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// The repository's `flows/` directory: prompts are relative to it.
pub fn flows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
}

/// Parses a hex string with optional spaces.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}
