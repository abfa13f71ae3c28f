//! Recordings (voicemail, call recording): G.711 payloads decoded and
//! streamed to an 8 kHz 16-bit mono WAV file.
//!
//! Memory is bounded whatever the length: samples go through `hound`'s
//! writer into a buffered file as they arrive (a 64 kB buffer), never into a
//! growing vector, and a maximum length stops the file from growing past
//! what the flow allows.

use crate::g711::Law;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most samples one WAV file can hold: its data length is a 32-bit
/// byte count (about 74 hours at 8 kHz, 16 bits).
pub const MAX_SAMPLES: u64 = (u32::MAX as u64 - 1024) / 2;

/// Why a recording cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file cannot be created or written.
    #[error("cannot write the recording `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: hound::Error,
    },
}

/// Whether a payload was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Recorded (all of it).
    Recorded,
    /// The maximum length is reached: the payload was cut (or dropped) and
    /// the recording should be finished.
    Full,
}

/// A recording being written.
pub struct Recorder {
    path: PathBuf,
    law: Law,
    channels: u16,
    writer: hound::WavWriter<BufWriter<File>>,
    written: u64,
    max: u64,
}

/// A finished recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    /// The WAV file.
    pub path: PathBuf,
    /// Its length.
    pub duration: Duration,
    /// Whether it was cut at the maximum length.
    pub truncated: bool,
}

impl Recorder {
    /// Creates the WAV file at `path` for a recording of payloads in `law`,
    /// at most `max` long. An existing file is never replaced: a name in
    /// use is an error, so no message is ever overwritten.
    pub fn create(path: &Path, law: Law, max: Duration) -> Result<Recorder, RecordError> {
        Recorder::with_channels(path, law, 1, max)
    }

    /// Creates the WAV file at `path` for a conversation between two
    /// parties ([`Recorder::push_pair`]): two channels (the caller left,
    /// the agent right) when `stereo`, else one channel with both mixed.
    /// Never replaces an existing file.
    pub fn conversation(path: &Path, stereo: bool, max: Duration) -> Result<Recorder, RecordError> {
        Recorder::with_channels(path, Law::Ulaw, if stereo { 2 } else { 1 }, max)
    }

    fn with_channels(
        path: &Path,
        law: Law,
        channels: u16,
        max: Duration,
    ) -> Result<Recorder, RecordError> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| RecordError::Write {
                path: path.to_owned(),
                source: hound::Error::IoError(e),
            })?;
        let writer = hound::WavWriter::new(BufWriter::with_capacity(1 << 16, file), spec).map_err(
            |source| RecordError::Write {
                path: path.to_owned(),
                source,
            },
        )?;
        let max = max.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000;
        Ok(Recorder {
            path: path.to_owned(),
            law,
            channels,
            writer,
            written: 0,
            max: u64::try_from(max).unwrap_or(u64::MAX).min(MAX_SAMPLES),
        })
    }

    /// Appends a G.711 payload of any length (usually one 160-byte frame).
    /// Allocates nothing once the writer's buffer is sized.
    pub fn push(&mut self, payload: &[u8]) -> Result<Pushed, RecordError> {
        let table = self.law.table();
        self.write(payload, |b| table.get(usize::from(b)).copied().unwrap_or(0))
    }

    /// Appends `samples` of silence: for lost packets or a muted stretch, so
    /// that the recording keeps time with the call.
    pub fn push_silence(&mut self, samples: usize) -> Result<Pushed, RecordError> {
        let mut left = samples;
        while left > 0 {
            let n = left.min(FRAME_SAMPLES);
            let chunk = [0u8; FRAME_SAMPLES];
            if self.write(chunk.get(..n).unwrap_or_default(), |_| 0)? == Pushed::Full {
                return Ok(Pushed::Full);
            }
            left -= n;
        }
        Ok(Pushed::Recorded)
    }

    /// Appends one 20 ms frame of each party, linear: two channels (left,
    /// right) or, in a mono recording, their sum (clamped). Allocates
    /// nothing.
    pub fn push_pair(
        &mut self,
        left: &[i16; FRAME_SAMPLES],
        right: &[i16; FRAME_SAMPLES],
    ) -> Result<Pushed, RecordError> {
        let take = self.room(FRAME_SAMPLES);
        if take > 0 {
            let stereo = self.channels == 2;
            let count = if stereo { take * 2 } else { take };
            let mut samples = self
                .writer
                .get_i16_writer(u32::try_from(count).unwrap_or(u32::MAX));
            for (l, r) in left.iter().zip(right).take(take) {
                if stereo {
                    samples.write_sample(*l);
                    samples.write_sample(*r);
                } else {
                    samples.write_sample(l.saturating_add(*r));
                }
            }
            samples.flush().map_err(|source| RecordError::Write {
                path: self.path.clone(),
                source,
            })?;
            self.written += take as u64;
        }
        Ok(self.pushed())
    }

    /// Whether there is room for more.
    fn pushed(&self) -> Pushed {
        if self.written >= self.max {
            Pushed::Full
        } else {
            Pushed::Recorded
        }
    }

    /// How many of `wanted` samples (per channel) still fit.
    fn room(&self, wanted: usize) -> usize {
        let room = usize::try_from(self.max.saturating_sub(self.written)).unwrap_or(usize::MAX);
        wanted.min(room)
    }

    /// How long the recording is so far.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.written * 1_000_000 / u64::from(SAMPLE_RATE))
    }

    /// Whether the maximum length is reached.
    pub fn is_full(&self) -> bool {
        self.written >= self.max
    }

    /// Completes the WAV header, closes the file and makes it durable
    /// (the file and its directory entry are fsynced), so that an index row
    /// written after this never names a file a crash could lose.
    pub fn finish(self) -> Result<Recording, RecordError> {
        let duration = self.duration();
        let truncated = self.is_full();
        let path = self.path;
        self.writer
            .finalize()
            .map_err(|source| RecordError::Write {
                path: path.clone(),
                source,
            })?;
        let durable = File::open(&path).and_then(|f| f.sync_all()).and_then(|()| {
            match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) => File::open(dir).and_then(|d| d.sync_all()),
                None => Ok(()),
            }
        });
        durable.map_err(|e| RecordError::Write {
            path: path.clone(),
            source: hound::Error::IoError(e),
        })?;
        Ok(Recording {
            path,
            duration,
            truncated,
        })
    }

    fn write(&mut self, bytes: &[u8], decode: impl Fn(u8) -> i16) -> Result<Pushed, RecordError> {
        let take = self.room(bytes.len());
        let bytes = bytes.get(..take).unwrap_or_default();
        if !bytes.is_empty() {
            let mut samples = self
                .writer
                .get_i16_writer(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
            for &b in bytes {
                samples.write_sample(decode(b));
            }
            samples.flush().map_err(|source| RecordError::Write {
                path: self.path.clone(),
                source,
            })?;
            self.written += take as u64;
        }
        Ok(self.pushed())
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("law", &self.law)
            .field("duration", &self.duration())
            .finish()
    }
}
