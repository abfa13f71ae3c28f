//! Prompts as the media path plays them: [`Frames`], a whole prompt as
//! 20 ms G.711 frames of one law, converted once and shared (`Arc`) by every
//! call that plays it; [`PromptCache`], which does that conversion once per
//! distinct prompt; and generated audio: [`silence`], [`tone`], [`beep`].
//!
//! `say` prompts are synthesised by espeak-ng (the Debian package
//! `espeak-ng`), run as a process with a time limit; `play` prompts are
//! audio files decoded by [`crate::audio`].

use crate::audio::{self, AudioError};
use crate::g711::Law;
use crate::{FRAME, FRAME_SAMPLES, FRAMES_PER_SECOND, SAMPLE_RATE};
use dialect_bytecode::Prompt;
use std::collections::HashMap;
use std::f64::consts::PI;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// One G.711 frame: 20 ms, 160 bytes.
pub type Frame = [u8; FRAME_SAMPLES];

/// A prompt ready to send: 20 ms G.711 frames of one law, the last one
/// padded with silence. Immutable once built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frames {
    law: Law,
    frames: Box<[Frame]>,
}

impl Frames {
    /// Encodes 8 kHz samples; the last frame is padded with silence.
    pub fn from_samples(law: Law, samples: &[i16]) -> Frames {
        let frames = samples
            .chunks(FRAME_SAMPLES)
            .map(|chunk| {
                let mut frame = [law.silence(); FRAME_SAMPLES];
                law.encode_into(chunk, &mut frame);
                frame
            })
            .collect();
        Frames { law, frames }
    }

    /// Prompts one after another, as one prompt (announcements made of
    /// phrases). Parts in another law than the first are skipped.
    pub fn concat(parts: &[&Frames]) -> Frames {
        let law = parts.first().map_or(Law::Ulaw, |p| p.law);
        let frames = parts
            .iter()
            .filter(|p| p.law == law)
            .flat_map(|p| p.frames.iter().copied())
            .collect();
        Frames { law, frames }
    }

    /// The law the frames are encoded in.
    pub fn law(&self) -> Law {
        self.law
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there is no frame at all.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frame at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Frame> {
        self.frames.get(index)
    }

    /// All frames, in order.
    pub fn as_slice(&self) -> &[Frame] {
        &self.frames
    }

    /// How long the prompt plays.
    pub fn duration(&self) -> Duration {
        FRAME * u32::try_from(self.frames.len()).unwrap_or(u32::MAX)
    }

    /// The samples back, decoded (for tests and mixing).
    pub fn to_samples(&self) -> Vec<i16> {
        let table = self.law.table();
        self.frames
            .iter()
            .flatten()
            .map(|&b| table.get(usize::from(b)).copied().unwrap_or(0))
            .collect()
    }
}

/// Why a prompt cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The audio file of a `play` prompt cannot be used (the message names
    /// the file and what is wrong).
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// A `play` prompt with an absolute path: paths are relative to the
    /// flows directory.
    #[error("`{0}` is an absolute path; audio files are named relative to the flows directory")]
    AbsolutePath(String),
    /// espeak-ng is not on `PATH`.
    #[error(
        "`say` prompts need espeak-ng, which is not installed (no `espeak-ng` on PATH): \
         install the Debian package `espeak-ng` (apt-get install espeak-ng)"
    )]
    EspeakMissing,
    /// The text of a `say` prompt is empty.
    #[error("a `say` prompt has no text")]
    EmptyText,
    /// A language tag that is not a plain tag such as `en`, `en-GB`, `pl`.
    #[error(
        "`{0}` is not a language tag espeak-ng can take (letters, digits, `-` and `_`, and one `+` before a voice: `pl+f3`)"
    )]
    Language(String),
    /// espeak-ng could not be started, or its output read.
    #[error("cannot run espeak-ng: {0}")]
    EspeakIo(#[source] io::Error),
    /// espeak-ng failed (an unknown voice, for instance).
    #[error("espeak-ng failed ({status}) on {text:?}: {stderr}")]
    EspeakFailed {
        /// Its exit status.
        status: ExitStatus,
        /// The beginning of the text.
        text: String,
        /// What it wrote on standard error.
        stderr: String,
    },
    /// espeak-ng ran longer than the time limit and was killed.
    #[error("espeak-ng took longer than {0:?} on {1:?} and was stopped")]
    EspeakTimeout(Duration, String),
    /// espeak-ng's output is not usable audio.
    #[error("espeak-ng's output for {text:?} is not usable: {source}")]
    EspeakOutput {
        /// The beginning of the text.
        text: String,
        /// What is wrong with the file.
        source: AudioError,
    },
}

/// Converts each distinct prompt once and keeps the result.
///
/// Keyed by the prompt's source: the text and language of a `say`, the
/// resolved file of a `play` (the prompt's path joined to the media root,
/// so two flows directories never share an entry by accident). A prompt is
/// decoded (or synthesised) once and encoded in both laws at that time,
/// since which law a call uses is only known from its SDP; the extra law
/// costs 8 kB per second of prompt and nothing per call.
///
/// [`PromptCache::load`] blocks (file reading, espeak-ng) and is meant for
/// flow loading, off the media path; [`PromptCache::get`] is the cheap
/// lookup. Errors are not cached, so a fixed file is picked up on the next
/// load; a changed file is not, until [`PromptCache::clear`] (hot reload
/// decides when).
#[derive(Debug)]
pub struct PromptCache {
    entries: Mutex<HashMap<Source, Converted>>,
    say_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Source {
    Say {
        text: String,
        language: Option<String>,
    },
    File(PathBuf),
}

#[derive(Clone, Debug)]
struct Converted {
    ulaw: Arc<Frames>,
    alaw: Arc<Frames>,
}

impl Converted {
    fn law(&self, law: Law) -> Arc<Frames> {
        match law {
            Law::Ulaw => Arc::clone(&self.ulaw),
            Law::Alaw => Arc::clone(&self.alaw),
        }
    }
}

/// How long espeak-ng may take for one prompt unless told otherwise.
pub const DEFAULT_SAY_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for PromptCache {
    fn default() -> PromptCache {
        PromptCache::new()
    }
}

impl PromptCache {
    /// An empty cache, with [`DEFAULT_SAY_TIMEOUT`] for speech synthesis.
    pub fn new() -> PromptCache {
        PromptCache::with_say_timeout(DEFAULT_SAY_TIMEOUT)
    }

    /// An empty cache whose espeak-ng runs are stopped after `timeout`.
    pub fn with_say_timeout(timeout: Duration) -> PromptCache {
        PromptCache {
            entries: Mutex::new(HashMap::new()),
            say_timeout: timeout,
        }
    }

    /// The prompt's frames in `law`, converted now if this is the first time
    /// it is asked for. `media_root` is the flows directory that `play`
    /// paths are relative to.
    pub fn load(
        &self,
        prompt: &Prompt,
        media_root: &Path,
        law: Law,
    ) -> Result<Arc<Frames>, PromptError> {
        let source = source(prompt, media_root)?;
        if let Some(converted) = self.lock().get(&source) {
            return Ok(converted.law(law));
        }
        // Converted without the lock, so other lookups are not held up by
        // a slow file or espeak-ng; if two threads convert the same prompt
        // at once, the first to finish wins and both get its frames.
        let samples = match &source {
            // Rendered ahead of time beside the flows (`dialect speech`),
            // or synthesised now.
            Source::Say { text, language } => {
                let rendered = media_root.join(dialect_bytecode::assets::speech_path(
                    text,
                    language.as_deref(),
                ));
                if rendered.is_file() {
                    audio::decode_file(&rendered)?
                } else {
                    synthesise(text, language.as_deref(), self.say_timeout)?
                }
            }
            Source::File(path) => audio::decode_file(path)?,
        };
        let converted = Converted {
            ulaw: Arc::new(Frames::from_samples(Law::Ulaw, &samples)),
            alaw: Arc::new(Frames::from_samples(Law::Alaw, &samples)),
        };
        Ok(self.lock().entry(source).or_insert(converted).law(law))
    }

    /// The prompt's frames if they are already converted; never converts.
    pub fn get(&self, prompt: &Prompt, media_root: &Path, law: Law) -> Option<Arc<Frames>> {
        let source = source(prompt, media_root).ok()?;
        self.lock().get(&source).map(|c| c.law(law))
    }

    /// How many distinct prompts are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no prompt is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every prompt (calls playing one keep their `Arc`).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Source, Converted>> {
        // The map is consistent even if a thread panicked holding the lock:
        // every change is a single insert or clear.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn source(prompt: &Prompt, media_root: &Path) -> Result<Source, PromptError> {
    match prompt {
        Prompt::Say { text, language } => Ok(Source::Say {
            text: text.clone(),
            language: language.clone(),
        }),
        Prompt::Play { path } => {
            let relative = Path::new(path);
            if relative.has_root() || relative.is_absolute() {
                return Err(PromptError::AbsolutePath(path.clone()));
            }
            Ok(Source::File(media_root.join(relative)))
        }
    }
}

/// `duration` of silence (rounded up to whole frames).
pub fn silence(law: Law, duration: Duration) -> Frames {
    Frames {
        law,
        frames: vec![[law.silence(); FRAME_SAMPLES]; frame_count(duration)].into_boxed_slice(),
    }
}

/// A tone: the sum of sines at `frequencies` (one for a beep, two for a
/// dual tone such as DTMF or a ring-back), peaking at `level` of full scale
/// (0.0 to 1.0), for `duration` rounded up to whole frames, with 5 ms fades
/// at both ends so it starts and stops without a click.
pub fn tone(law: Law, frequencies: &[f64], level: f64, duration: Duration) -> Frames {
    Frames::from_samples(law, &tone_samples(frequencies, level, duration))
}

/// The samples of [`tone`], at 8 kHz.
pub fn tone_samples(frequencies: &[f64], level: f64, duration: Duration) -> Vec<i16> {
    let len = frame_count(duration) * FRAME_SAMPLES;
    let amplitude = level.clamp(0.0, 1.0) * 32767.0 / frequencies.len().max(1) as f64;
    let fade = (SAMPLE_RATE / 200) as usize;
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(SAMPLE_RATE);
            let value: f64 = frequencies.iter().map(|f| (2.0 * PI * f * t).sin()).sum();
            let edge = n.min(len - 1 - n);
            let envelope = if edge < fade {
                edge as f64 / fade as f64
            } else {
                1.0
            };
            (value * amplitude * envelope).round() as i16
        })
        .collect()
}

/// The beep before a voicemail recording: 1 kHz at half scale for 400 ms.
pub fn beep(law: Law) -> Frames {
    tone(law, &[1_000.0], 0.5, Duration::from_millis(400))
}

fn frame_count(duration: Duration) -> usize {
    let frames = duration
        .as_micros()
        .div_ceil(FRAME.as_micros())
        .min(u128::from(FRAMES_PER_SECOND) * audio::MAX_DURATION.as_micros() / 1_000_000);
    usize::try_from(frames).unwrap_or(0)
}

/// Where espeak-ng is, looked up on `PATH` once per process.
pub fn espeak_path() -> Option<&'static Path> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| find_program("espeak-ng", std::env::var_os("PATH").as_deref()))
        .as_deref()
}

/// Synthesises `text` with espeak-ng (in `language`, or its default voice)
/// and returns 8 kHz samples. Runs `espeak-ng [-v LANGUAGE] -w TEMP.wav --
/// TEXT` (the `--` so that a text beginning with `-` is not an option) and
/// kills it after `timeout`.
pub fn synthesise(
    text: &str,
    language: Option<&str>,
    timeout: Duration,
) -> Result<Vec<i16>, PromptError> {
    if text.trim().is_empty() {
        return Err(PromptError::EmptyText);
    }
    if let Some(language) = language {
        // A language tag, optionally with a voice variant: `pl`, `pl+f3`.
        let plain = language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '+');
        let variants = language.matches('+').count();
        if !plain
            || variants > 1
            || language.is_empty()
            || language.len() > 35
            || language.starts_with(['-', '+'])
            || language.ends_with('+')
        {
            return Err(PromptError::Language(language.to_owned()));
        }
    }
    let program = espeak_path().ok_or(PromptError::EspeakMissing)?;
    let excerpt = excerpt(text);
    let output = TempWav::create().map_err(PromptError::EspeakIo)?;
    let mut command = Command::new(program);
    if let Some(language) = language {
        command.arg("-v").arg(language.to_ascii_lowercase());
    }
    command
        .arg("-w")
        .arg(&output.path)
        .arg("--")
        .arg(text)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => PromptError::EspeakMissing,
        _ => PromptError::EspeakIo(e),
    })?;
    let status = wait(&mut child, timeout)
        .map_err(PromptError::EspeakIo)?
        .ok_or_else(|| PromptError::EspeakTimeout(timeout, excerpt.clone()))?;
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        // Bounded: espeak-ng says little, and a runaway message must not
        // fill memory.
        let _ = pipe.take(4096).read_to_string(&mut stderr);
    }
    if !status.success() {
        return Err(PromptError::EspeakFailed {
            status,
            text: excerpt,
            stderr: stderr.trim().to_owned(),
        });
    }
    audio::decode_file(&output.path).map_err(|source| PromptError::EspeakOutput {
        text: excerpt,
        source,
    })
}

/// Waits for the child until `timeout`; `None` (after killing it) if it
/// did not finish in time.
fn wait(child: &mut std::process::Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The first 40 characters of a text, for messages.
fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let mut excerpt: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        excerpt.push('…');
    }
    excerpt
}

/// A program on a `PATH`-style list of directories: the first regular file
/// of that name that is executable.
fn find_program(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// A temporary file for espeak-ng's output, created exclusively (so it is
/// ours, not a file or link someone placed there) and removed when dropped.
struct TempWav {
    path: PathBuf,
}

impl TempWav {
    fn create() -> io::Result<TempWav> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        let mut attempts = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("dialect-say-{}-{n}.wav", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    drop::<File>(file);
                    return Ok(TempWav { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempWav {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn concatenated_prompts_play_one_after_another() {
        let a = Frames::from_samples(Law::Ulaw, &[1000; FRAME_SAMPLES * 2]);
        let b = Frames::from_samples(Law::Ulaw, &[-1000; FRAME_SAMPLES]);
        let other = Frames::from_samples(Law::Alaw, &[0; FRAME_SAMPLES]);
        let joined = Frames::concat(&[&a, &b, &other]);
        assert_eq!(joined.len(), 3);
        assert_eq!(joined.get(0), a.get(0));
        assert_eq!(joined.get(2), b.get(0));
        assert!(Frames::concat(&[]).is_empty());
    }

    #[test]
    fn programs_are_found_on_the_given_path_only() {
        let dir = std::env::temp_dir().join(format!("dialect-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(find_program("espeak-ng", Some(dir.as_os_str())), None);
        assert_eq!(find_program("espeak-ng", None), None);
        let fake = dir.join("espeak-ng");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Not executable: not a program.
            assert_eq!(find_program("espeak-ng", Some(dir.as_os_str())), None);
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let list = std::env::join_paths([Path::new("/nonexistent"), &dir]).unwrap();
        assert_eq!(find_program("espeak-ng", Some(&list)), Some(fake));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_files_are_removed() {
        let path = {
            let temp = TempWav::create().unwrap();
            assert!(temp.path.exists());
            temp.path.clone()
        };
        assert!(!path.exists());
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"x".repeat(50)).chars().count(), 41);
    }
}
