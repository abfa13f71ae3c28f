//! Audio files decoded to what a telephone call carries: 8 kHz, mono, 16-bit.
//!
//! [`decode_file`] recognises the format by its first bytes, not by the
//! file's name: WAV (PCM of 8, 16, 24 or 32 bits, 32-bit float, or G.711
//! µ-law/A-law; any sample rate; any channel count, averaged to mono) is read
//! with `hound` (G.711 WAV, which `hound` does not read, by a small RIFF
//! reader here), MP3 with `symphonia`. The samples stream through the
//! downmix and the [`Resampler`] as they are decoded, so memory holds the
//! 8 kHz result only, never the whole file at its own rate.
//!
//! # The resampler
//!
//! A windowed-sinc interpolator, the textbook band-limited method (J. O.
//! Smith, "Digital Audio Resampling"): each output sample is the input
//! convolved with a low-pass sinc centred on the output instant, so one pass
//! both filters (against aliasing, when going down to 8 kHz) and interpolates
//! (at any ratio: 44.1 kHz, 22.05 kHz from espeak-ng, 48 kHz, 11.025 kHz
//! ...). The cut-off is 90 % of the lower Nyquist frequency (3.6 kHz at
//! 8 kHz) and the sinc spans 24 zero crossings on each side under a Blackman
//! window: measured, the response is flat to 3 kHz, -0.7 dB at 3.4 kHz (the
//! top of the telephone band), -6 dB at 3.6 kHz, and below -74 dB from
//! 4.2 kHz, so nothing above 4 kHz folds back audibly.
//!
//! For the usual rates the output instants fall on few distinct fractions
//! of an input sample (80 for 44.1 kHz), so the kernel is precomputed per
//! fraction (polyphase) and each output sample is one vectorised dot
//! product; other rate pairs interpolate a finely sampled kernel table.
//!
//! A linear interpolator after a short FIR would be simpler, but speech
//! carries energy between 4 and 11 kHz (fricatives) that a short filter lets
//! through as audible aliasing, and conversion runs once per prompt: 10 s of
//! 44.1 kHz stereo converts in about 12 ms (see the benchmark). Input
//! already at 8 kHz is copied untouched.

use crate::SAMPLE_RATE;
use crate::g711::Law;
use std::f64::consts::PI;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The longest audio file accepted as a prompt: prompts live in memory, as
/// G.711 at 8 kB/s, for as long as a flow uses them.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 60);

/// Why an audio file cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is neither WAV nor MP3 nor any audio format we recognise.
    #[error("`{}` is not an audio file: expected WAV or MP3", path.display())]
    NotAudio {
        /// The file.
        path: PathBuf,
    },
    /// An audio format or encoding we do not decode.
    #[error("`{}`: unsupported audio format: {detail}; convert it to WAV (16-bit PCM) or MP3", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What the format is.
        detail: String,
    },
    /// The file claims to be WAV or MP3 but is damaged.
    #[error("`{}` is damaged: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The file holds no samples.
    #[error("`{}` holds no audio", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is longer than [`MAX_DURATION`].
    #[error("`{}` is longer than {} minutes, the limit for a prompt", path.display(), MAX_DURATION.as_secs() / 60)]
    TooLong {
        /// The file.
        path: PathBuf,
    },
}

/// 8 kHz mono 16-bit samples as a WAV file (the form `dialect build`
/// stores prompts in: what the runtime plays, converted once).
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    // A prompt is at most `MAX_DURATION` long, far below 4 GiB of data.
    let data = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// 8 kHz mono samples as a G.711 mu-law WAV file (format tag 7): half the
/// size of 16-bit PCM, for speech rendered ahead of time (`dialect speech`).
pub fn wav_ulaw_bytes(samples: &[i16]) -> Vec<u8> {
    let mut encoded = vec![0u8; samples.len()];
    let n = crate::Law::Ulaw.encode_into(samples, &mut encoded);
    encoded.truncate(n);
    let data = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(58 + encoded.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data.saturating_add(50).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&7u16.to_le_bytes()); // mu-law
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0u16.to_le_bytes()); // no extension
    // A non-PCM WAV has a fact chunk: the number of samples.
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&data.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    out.extend_from_slice(&encoded);
    out
}

/// Decodes an audio file (WAV or MP3) to 8 kHz mono 16-bit samples.
pub fn decode_file(path: &Path) -> Result<Vec<i16>, AudioError> {
    let io = |source| AudioError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 12];
    let read = read_up_to(&mut file, &mut magic).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    match sniff(magic.get(..read).unwrap_or_default()) {
        Kind::Empty => Err(AudioError::Empty {
            path: path.to_owned(),
        }),
        Kind::Wav => decode_wav(path, file),
        Kind::Mp3 => decode_mp3(path, file),
        Kind::Other(format) => Err(AudioError::Unsupported {
            path: path.to_owned(),
            detail: format.to_owned(),
        }),
        Kind::Unknown if has_extension(path, "mp3") => decode_mp3(path, file),
        Kind::Unknown => Err(AudioError::NotAudio {
            path: path.to_owned(),
        }),
    }
}

/// A streaming windowed-sinc sample-rate converter to 16-bit samples (see
/// the module documentation for the design). Feed it with
/// [`Resampler::push`], end with [`Resampler::finish`].
#[derive(Clone, Debug)]
pub struct Resampler {
    from: u64,
    to: u64,
    /// The cut-off as a fraction of the input rate, times two: the sinc's
    /// zero crossings are `1 / bandwidth` input samples apart.
    bandwidth: f64,
    /// How many input samples on each side of the output instant the kernel
    /// reaches (rounded up).
    reach: u64,
    /// Precomputed coefficients per output phase, when there are few phases.
    polyphase: Option<Polyphase>,
    /// Input samples from index `base` on.
    history: Vec<f32>,
    base: u64,
    received: u64,
    produced: u64,
}

/// The kernel sampled at every distinct output phase. With `g` the greatest
/// common divisor of the rates, output instants fall on `to / g` distinct
/// fractions of an input sample (80 from 44.1 kHz, 160 from 22.05 kHz, 1
/// from 48 kHz), so each output is a plain dot product with one row: no
/// table interpolation, and a loop the compiler vectorises.
#[derive(Clone, Debug)]
struct Polyphase {
    /// `to / g`: the output phase of sample `n` is `(n × from / g) mod phases`.
    phases: u64,
    /// `2 × reach` coefficients per phase, for inputs `centre + 1 - reach`
    /// to `centre + reach`.
    taps: usize,
    coefficients: Box<[f32]>,
}

/// The largest polyphase table built (in coefficients); rate pairs that
/// would need more use the interpolated kernel table instead.
const MAX_POLYPHASE: u64 = 1 << 20;

impl Resampler {
    /// A converter from `from` Hz to `to` Hz (a rate of 0 is taken as 1).
    pub fn new(from: u32, to: u32) -> Resampler {
        let (from, to) = (u64::from(from.max(1)), u64::from(to.max(1)));
        let bandwidth = CUTOFF * (to as f64 / from as f64).min(1.0);
        let reach = (ZERO_CROSSINGS as f64 / bandwidth).ceil() as u64;
        let phases = to / gcd(from, to);
        let polyphase = (from != to && phases * 2 * reach <= MAX_POLYPHASE).then(|| {
            let taps = 2 * reach as usize;
            let coefficients = (0..phases)
                .flat_map(|phase| {
                    let frac = phase as f64 / phases as f64;
                    (0..taps).map(move |j| {
                        let distance = (reach as f64 - 1.0 - j as f64 + frac).abs();
                        (bandwidth * windowed_sinc(distance * bandwidth)) as f32
                    })
                })
                .collect();
            Polyphase {
                phases,
                taps,
                coefficients,
            }
        });
        Resampler {
            from,
            to,
            bandwidth,
            reach,
            polyphase,
            history: Vec::new(),
            base: 0,
            received: 0,
            produced: 0,
        }
    }

    /// Takes input samples (full scale ±1.0) and appends the output samples
    /// they complete to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<i16>) {
        if self.from == self.to {
            out.extend(input.iter().map(|&x| to_i16(x)));
            return;
        }
        self.history.extend_from_slice(input);
        self.received += input.len() as u64;
        self.emit(out, false);
    }

    /// Ends the input (as if followed by silence) and appends the remaining
    /// output: in all, `ceil(input × to / from)` samples.
    pub fn finish(mut self, out: &mut Vec<i16>) {
        if self.from != self.to {
            self.emit(out, true);
        }
    }

    fn emit(&mut self, out: &mut Vec<i16>, flushing: bool) {
        loop {
            let position = self.produced * self.from;
            let centre = position / self.to;
            if flushing {
                if position >= self.received * self.to {
                    break;
                }
            } else if centre + self.reach >= self.received {
                break;
            }
            let remainder = position % self.to;
            let value = match &self.polyphase {
                Some(polyphase) => self.dot(polyphase, centre, remainder),
                None => self.convolve(centre, remainder as f64 / self.to as f64),
            };
            out.push(to_i16(value));
            self.produced += 1;
        }
        // Forget the input no future output reaches, in batches so that the
        // copy is amortised.
        let next_centre = self.produced * self.from / self.to;
        let needed = (next_centre + 1).saturating_sub(self.reach);
        let forget = needed.saturating_sub(self.base);
        if forget >= 4096 {
            let forget = usize::try_from(forget)
                .unwrap_or(usize::MAX)
                .min(self.history.len());
            self.history.drain(..forget);
            self.base += forget as u64;
        }
    }

    /// The input samples the kernel centred on `centre` covers, clipped to
    /// what exists (nothing before the start, nothing after the end when
    /// flushing), and the offset of the first one from the kernel's start.
    fn span(&self, centre: u64) -> Option<(&[f32], usize)> {
        let start = (centre + 1).saturating_sub(self.reach);
        let first = start.max(self.base);
        let last = (centre + self.reach).min(self.received.checked_sub(1)?);
        let from = usize::try_from(first - self.base).ok()?;
        let to = usize::try_from(last.checked_sub(self.base)?).ok()?;
        // The kernel's first tap is at `centre + 1 - reach`, which may be
        // before the first input: those taps are skipped.
        let skipped = usize::try_from((first + self.reach) - (centre + 1)).ok()?;
        Some((self.history.get(from..=to)?, skipped))
    }

    /// The output at `centre + phase / phases` with the polyphase table.
    fn dot(&self, polyphase: &Polyphase, centre: u64, remainder: u64) -> f32 {
        let phase = remainder * polyphase.phases / self.to;
        let Some((samples, skipped)) = self.span(centre) else {
            return 0.0;
        };
        let row = usize::try_from(phase)
            .unwrap_or(usize::MAX)
            .saturating_mul(polyphase.taps);
        let Some(coefficients) = polyphase
            .coefficients
            .get(row + skipped..row + polyphase.taps)
        else {
            return 0.0;
        };
        dot(samples, coefficients)
    }

    /// The output at input position `centre + frac`, interpolating the
    /// kernel table: for rate pairs with too many phases to tabulate.
    fn convolve(&self, centre: u64, frac: f64) -> f32 {
        let table = kernel();
        let Some((samples, skipped)) = self.span(centre) else {
            return 0.0;
        };
        let scale = self.bandwidth * TABLE_STEPS as f64;
        let mut sum = 0.0f32;
        for (j, &sample) in samples.iter().enumerate() {
            // Distance from the output instant, in input samples, then in
            // table steps.
            let distance = (self.reach as f64 - 1.0 - (j + skipped) as f64 + frac).abs();
            let position = distance * scale;
            let index = position as usize;
            let t = (position - index as f64) as f32;
            if let Some(&[a, b]) = table.get(index..=index + 1) {
                sum += sample * (a + t * (b - a));
            }
        }
        sum * self.bandwidth as f32
    }
}

/// A dot product in eight independent lanes, which the compiler turns into
/// SIMD (a single running sum would have to stay sequential).
fn dot(samples: &[f32], coefficients: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = samples.chunks_exact(8).zip(coefficients.chunks_exact(8));
    for (s, c) in chunks {
        for ((lane, &s), &c) in lanes.iter_mut().zip(s).zip(c) {
            *lane += s * c;
        }
    }
    let done = samples.len() / 8 * 8;
    let tail: f32 = samples
        .iter()
        .zip(coefficients)
        .skip(done)
        .map(|(s, c)| s * c)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// The sinc's cut-off as a fraction of the lower Nyquist frequency.
const CUTOFF: f64 = 0.9;
/// Zero crossings of the sinc on each side of its centre.
const ZERO_CROSSINGS: usize = 24;
/// Table entries per zero crossing.
const TABLE_STEPS: usize = 128;

/// The Blackman-windowed sinc at `x` zero crossings from its centre (zero
/// from [`ZERO_CROSSINGS`] on).
fn windowed_sinc(x: f64) -> f64 {
    let x = x.abs();
    if x >= ZERO_CROSSINGS as f64 {
        return 0.0;
    }
    let sinc = if x < 1e-9 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    };
    let t = x / ZERO_CROSSINGS as f64;
    sinc * (0.42 + 0.5 * (PI * t).cos() + 0.08 * (2.0 * PI * t).cos())
}

/// [`windowed_sinc`] from 0 to [`ZERO_CROSSINGS`], tabulated.
fn kernel() -> &'static [f32] {
    static TABLE: OnceLock<Box<[f32]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=ZERO_CROSSINGS * TABLE_STEPS + 1)
            .map(|i| windowed_sinc(i as f64 / TABLE_STEPS as f64) as f32)
            .collect()
    })
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// What the first bytes of a file say it is.
enum Kind {
    Empty,
    Wav,
    Mp3,
    Other(&'static str),
    Unknown,
}

fn sniff(magic: &[u8]) -> Kind {
    let at = |offset: usize, tag: &[u8]| magic.get(offset..offset + tag.len()) == Some(tag);
    if magic.is_empty() {
        Kind::Empty
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Kind::Wav
    } else if at(0, b"ID3") || matches!(magic, [0xFF, b, ..] if b & 0xE0 == 0xE0) {
        // An ID3 tag, or an MPEG audio frame: 11 sync bits.
        Kind::Mp3
    } else if at(0, b"RIFF") {
        Kind::Other("a RIFF file that is not WAVE")
    } else if at(0, b"RF64") {
        Kind::Other("RF64 (64-bit WAV)")
    } else if at(0, b"OggS") {
        Kind::Other("Ogg (Vorbis or Opus)")
    } else if at(0, b"fLaC") {
        Kind::Other("FLAC")
    } else if at(0, b"FORM") {
        Kind::Other("AIFF")
    } else if at(0, b".snd") {
        Kind::Other("Sun/NeXT .au")
    } else if at(4, b"ftyp") {
        Kind::Other("MP4/M4A")
    } else {
        Kind::Unknown
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Downmixes interleaved samples, resamples them to 8 kHz and enforces the
/// length limit, as the decoder produces them.
struct Sink<'p> {
    path: &'p Path,
    channels: usize,
    resampler: Resampler,
    mono: Vec<f32>,
    out: Vec<i16>,
    max: usize,
}

impl<'p> Sink<'p> {
    const CHUNK: usize = 4096;

    fn new(path: &'p Path, rate: u32, channels: usize) -> Result<Sink<'p>, AudioError> {
        if rate == 0 || channels == 0 {
            return Err(corrupt(
                path,
                format!("{rate} Hz, {channels} channels in its header"),
            ));
        }
        Ok(Sink {
            path,
            channels,
            resampler: Resampler::new(rate, SAMPLE_RATE),
            mono: Vec::with_capacity(Self::CHUNK),
            out: Vec::new(),
            max: MAX_DURATION.as_secs() as usize * SAMPLE_RATE as usize,
        })
    }

    /// A good number of interleaved samples to push at once: whole frames,
    /// at least one.
    fn chunk(&self) -> usize {
        (Self::CHUNK / self.channels).max(1) * self.channels
    }

    /// Takes interleaved samples, whole frames only (one sample per channel).
    fn push_interleaved(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let scale = 1.0 / self.channels as f32;
        for frame in samples.chunks_exact(self.channels) {
            self.mono.push(frame.iter().sum::<f32>() * scale);
            if self.mono.len() >= Self::CHUNK {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), AudioError> {
        self.resampler.push(&self.mono, &mut self.out);
        self.mono.clear();
        if self.out.len() > self.max {
            return Err(AudioError::TooLong {
                path: self.path.to_owned(),
            });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<i16>, AudioError> {
        self.flush()?;
        self.resampler.finish(&mut self.out);
        if self.out.is_empty() {
            return Err(AudioError::Empty {
                path: self.path.to_owned(),
            });
        }
        Ok(self.out)
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::Corrupt {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

fn decode_wav(path: &Path, file: File) -> Result<Vec<i16>, AudioError> {
    let reader = match hound::WavReader::new(BufReader::new(file)) {
        Ok(reader) => reader,
        Err(hound::Error::Unsupported) => return decode_g711_wav(path),
        Err(e) => return Err(wav_error(path, e)),
    };
    let spec = reader.spec();
    let seconds = u64::from(reader.duration()) / u64::from(spec.sample_rate.max(1));
    if seconds > MAX_DURATION.as_secs() {
        return Err(AudioError::TooLong {
            path: path.to_owned(),
        });
    }
    let mut sink = Sink::new(path, spec.sample_rate, usize::from(spec.channels))?;
    let mut buffer = Vec::with_capacity(Sink::CHUNK);
    match spec.sample_format {
        hound::SampleFormat::Int => {
            if !(1..=32).contains(&spec.bits_per_sample) {
                return Err(AudioError::Unsupported {
                    path: path.to_owned(),
                    detail: format!("{}-bit integer WAV", spec.bits_per_sample),
                });
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            let samples = reader.into_samples::<i32>();
            pump(
                &mut sink,
                &mut buffer,
                samples.map(|s| s.map(|s| s as f32 * scale)),
                path,
            )?;
        }
        hound::SampleFormat::Float => {
            let samples = reader.into_samples::<f32>();
            pump(&mut sink, &mut buffer, samples, path)?;
        }
    }
    sink.finish()
}

/// Moves samples from hound's iterator to the sink, a chunk at a time.
fn pump(
    sink: &mut Sink<'_>,
    buffer: &mut Vec<f32>,
    samples: impl Iterator<Item = hound::Result<f32>>,
    path: &Path,
) -> Result<(), AudioError> {
    let chunk = sink.chunk();
    for sample in samples {
        buffer.push(sample.map_err(|e| wav_error(path, e))?);
        if buffer.len() >= chunk {
            sink.push_interleaved(buffer)?;
            buffer.clear();
        }
    }
    sink.push_interleaved(buffer)?;
    buffer.clear();
    Ok(())
}

fn wav_error(path: &Path, error: hound::Error) -> AudioError {
    match error {
        // hound reports a short read as `Other` with this message.
        hound::Error::IoError(e)
            if e.kind() == io::ErrorKind::UnexpectedEof
                || e.to_string().starts_with("Failed to read enough bytes") =>
        {
            corrupt(
                path,
                "the file ends before its data chunk does (truncated?)",
            )
        }
        hound::Error::IoError(source) => AudioError::Io {
            path: path.to_owned(),
            source,
        },
        hound::Error::FormatError(detail) => {
            corrupt(path, format!("not a valid WAV file: {detail}"))
        }
        hound::Error::Unsupported | hound::Error::TooWide | hound::Error::InvalidSampleFormat => {
            AudioError::Unsupported {
                path: path.to_owned(),
                detail: format!("WAV: {error}"),
            }
        }
        hound::Error::UnfinishedSample => corrupt(path, error.to_string()),
    }
}

/// The largest G.711 WAV read into memory whole (G.711 is 8 kB/s, so this is
/// far beyond [`MAX_DURATION`] at 8 kHz mono).
const MAX_G711_WAV_BYTES: u64 = 64 << 20;

/// Reads a WAV file whose encoding `hound` does not support: G.711 µ-law
/// (format tag 7) and A-law (6) are common for telephony prompts; anything
/// else is reported by its format tag.
fn decode_g711_wav(path: &Path) -> Result<Vec<i16>, AudioError> {
    let io = |source| AudioError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_G711_WAV_BYTES {
        return Err(AudioError::TooLong {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let riff = Riff::parse(&bytes).map_err(|detail| corrupt(path, detail))?;
    let law = match riff.format_tag {
        6 => Law::Alaw,
        7 => Law::Ulaw,
        tag => {
            return Err(AudioError::Unsupported {
                path: path.to_owned(),
                detail: format!("WAV encoding {tag:#06x} ({})", format_tag_name(tag)),
            });
        }
    };
    if riff.bits_per_sample != 8 {
        return Err(corrupt(
            path,
            format!("G.711 WAV with {} bits per sample", riff.bits_per_sample),
        ));
    }
    let mut sink = Sink::new(path, riff.sample_rate, usize::from(riff.channels))?;
    let table = law.table();
    let mut buffer = Vec::with_capacity(Sink::CHUNK);
    for chunk in riff.data.chunks(sink.chunk()) {
        buffer.clear();
        buffer.extend(
            chunk
                .iter()
                .map(|&b| f32::from(table.get(usize::from(b)).copied().unwrap_or(0)) / 32768.0),
        );
        sink.push_interleaved(&buffer)?;
    }
    sink.finish()
}

fn format_tag_name(tag: u16) -> &'static str {
    match tag {
        0x0002 => "Microsoft ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0055 => "MPEG layer 3 in WAV",
        _ => "unknown",
    }
}

/// The parts of a RIFF/WAVE file that [`decode_g711_wav`] needs.
struct Riff<'a> {
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    bits_per_sample: u16,
    data: &'a [u8],
}

impl<'a> Riff<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Riff<'a>, &'static str> {
        let mut rest = bytes.get(12..).ok_or("no RIFF header")?;
        let mut format = None;
        let mut data = None;
        while let Some((&[a, b, c, d, l0, l1, l2, l3], body)) = rest.split_first_chunk::<8>() {
            let len = usize::try_from(u32::from_le_bytes([l0, l1, l2, l3])).unwrap_or(usize::MAX);
            // A chunk cut short by the end of the file: take what is there.
            let chunk = body.get(..len).unwrap_or(body);
            match &[a, b, c, d] {
                b"fmt " => format = Some(chunk),
                b"data" => data = Some(chunk),
                _ => {}
            }
            // Chunks are padded to an even length.
            rest = body.get(len.saturating_add(len & 1)..).unwrap_or_default();
        }
        let format = format.ok_or("missing fmt chunk")?;
        let &[t0, t1, c0, c1, r0, r1, r2, r3, _, _, _, _, _, _, b0, b1, ..] = format else {
            return Err("fmt chunk too short");
        };
        Ok(Riff {
            format_tag: u16::from_le_bytes([t0, t1]),
            channels: u16::from_le_bytes([c0, c1]),
            sample_rate: u32::from_le_bytes([r0, r1, r2, r3]),
            bits_per_sample: u16::from_le_bytes([b0, b1]),
            data: data.ok_or("missing data chunk")?,
        })
    }
}

fn decode_mp3(path: &Path, file: File) -> Result<Vec<i16>, AudioError> {
    let source = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let options = FormatOptions {
        // Trims the encoder's delay and padding when the file says how much
        // (LAME's header), so a prompt starts without a gap.
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, source, &options, &MetadataOptions::default())
        .map_err(|e| match e {
            SymphoniaError::IoError(source) if source.kind() != io::ErrorKind::UnexpectedEof => {
                AudioError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
            _ => AudioError::NotAudio {
                path: path.to_owned(),
            },
        })?;
    let mut format = probed.format;
    let track = format.default_track().ok_or_else(|| AudioError::NotAudio {
        path: path.to_owned(),
    })?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| AudioError::Unsupported {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    let mut sink: Option<(u32, Sink<'_>)> = None;
    let mut buffer: Option<SampleBuffer<f32>> = None;
    let mut damaged = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(corrupt(path, e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A damaged frame is skipped, as players do.
            Err(SymphoniaError::DecodeError(_)) => {
                damaged += 1;
                continue;
            }
            Err(e) => return Err(corrupt(path, e.to_string())),
        };
        let spec = *decoded.spec();
        let (rate, sink) = match &mut sink {
            Some(sink) => sink,
            None => sink.insert((
                spec.rate,
                Sink::new(path, spec.rate, spec.channels.count())?,
            )),
        };
        if *rate != spec.rate || sink.channels != spec.channels.count() {
            return Err(AudioError::Unsupported {
                path: path.to_owned(),
                detail: "an MP3 whose sample rate or channel count changes midway".to_owned(),
            });
        }
        let frames = decoded.capacity() as u64;
        let samples = match &mut buffer {
            Some(b) if b.capacity() as u64 >= frames * spec.channels.count() as u64 => b,
            _ => buffer.insert(SampleBuffer::new(frames, spec)),
        };
        samples.copy_interleaved_ref(decoded);
        sink.push_interleaved(samples.samples())?;
    }
    match sink {
        Some((_, sink)) => sink.finish(),
        None if damaged > 0 => Err(corrupt(
            path,
            format!("all {damaged} MP3 frames are damaged"),
        )),
        None => Err(AudioError::Empty {
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn run(mut resampler: Resampler, input: &[f32]) -> Vec<i16> {
        let mut out = Vec::new();
        resampler.push(input, &mut out);
        resampler.finish(&mut out);
        out
    }

    #[test]
    fn a_stored_prompt_decodes_to_the_same_samples() {
        let samples: Vec<i16> = (0..8_000)
            .map(|n| ((n * 37) % 2_000 - 1_000) as i16)
            .collect();
        let dir = std::env::temp_dir().join(format!("dialect-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stored.wav");
        std::fs::write(&path, wav_bytes(&samples)).unwrap();
        assert_eq!(decode_file(&path).unwrap(), samples);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rendered_speech_decodes_as_mu_law() {
        let samples: Vec<i16> = (0..4_000)
            .map(|n| ((n * 91) % 8_000 - 4_000) as i16)
            .collect();
        let dir = std::env::temp_dir().join(format!("dialect-ulaw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("speech.wav");
        std::fs::write(&path, wav_ulaw_bytes(&samples)).unwrap();
        let decoded = decode_file(&path).unwrap();
        assert_eq!(decoded.len(), samples.len());
        let mut expected = vec![0u8; samples.len()];
        crate::Law::Ulaw.encode_into(&samples, &mut expected);
        let expected: Vec<i16> = expected
            .iter()
            .map(|b| crate::Law::Ulaw.decode(*b))
            .collect();
        assert_eq!(decoded, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_table_path_agrees_with_the_polyphase_path() {
        let input: Vec<f32> = (0..22_050)
            .map(|n| ((n as f32) * 0.05).sin() * 0.4 + ((n as f32) * 0.7).sin() * 0.2)
            .collect();
        for from in [44_100, 22_050, 11_025, 6_000] {
            let fast = Resampler::new(from, 8_000);
            assert!(fast.polyphase.is_some(), "{from}");
            let mut slow = fast.clone();
            slow.polyphase = None;
            let (fast, slow) = (run(fast, &input), run(slow, &input));
            assert_eq!(fast.len(), slow.len());
            let worst = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .max()
                .unwrap();
            assert!(worst <= 2, "{from} Hz: differ by {worst}");
        }
        // A rate with thousands of phases takes the table path.
        assert!(Resampler::new(44_099, 8_000).polyphase.is_none());
    }
}
