//! Audio files to 8 kHz mono: every WAV flavour written here with hound,
//! G.711 WAV by hand, the committed MP3, the resampler's response, and the
//! errors, which name the file.

use crate::{amplitude, rms, scratch};
use dialect_media::AudioError;
use dialect_media::audio::{Resampler, decode_file};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

/// Writes a WAV whose sample `n` on channel `c` is `signal(n, c)` (full
/// scale ±1.0).
fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    bits: u16,
    float: bool,
    frames: usize,
    signal: impl Fn(usize, u16) -> f64,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let full = (1i64 << (bits - 1)) as f64;
    for n in 0..frames {
        for c in 0..channels {
            let x = signal(n, c);
            if float {
                writer.write_sample(x as f32).unwrap();
            } else {
                let value = (x * full).round().clamp(-full, full - 1.0) as i32;
                writer.write_sample(value).unwrap();
            }
        }
    }
    writer.finalize().unwrap();
}

fn sine(frequency: f64, rate: u32, level: f64) -> impl Fn(usize, u16) -> f64 {
    move |n, _| level * (2.0 * PI * frequency * n as f64 / f64::from(rate)).sin()
}

/// The middle of a signal, away from the filter's edges.
fn middle(samples: &[i16]) -> &[i16] {
    &samples[samples.len() / 8..samples.len() * 7 / 8]
}

#[test]
fn every_wav_flavour_decodes_to_8_khz_mono() {
    let dir = scratch("wav-flavours");
    let formats = [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ];
    let rates = [8_000, 11_025, 16_000, 22_050, 44_100, 48_000];
    for (bits, float) in formats {
        for channels in [1, 2] {
            for rate in rates {
                let name = format!(
                    "{bits}{}-{channels}ch-{rate}.wav",
                    if float { "f" } else { "" }
                );
                let path = dir.join(&name);
                let frames = rate as usize / 4;
                write_wav(
                    &path,
                    rate,
                    channels,
                    bits,
                    float,
                    frames,
                    sine(1_000.0, rate, 0.5),
                );
                let samples = decode_file(&path).unwrap();
                assert_eq!(samples.len(), 2_000, "{name}: a quarter of a second");
                let level = amplitude(middle(&samples), 1_000.0, 8_000.0) / 16_384.0;
                // 8-bit input is coarse (-48 dB noise) but the tone is there.
                assert!(
                    (level - 1.0).abs() < 0.02,
                    "{name}: 1 kHz at {level} of its level"
                );
                let noise = rms(middle(&samples)) / (16_384.0 / 2f64.sqrt());
                assert!((noise - 1.0).abs() < 0.02, "{name}: rms {noise}");
            }
        }
    }
}

#[test]
fn eight_khz_mono_16_bit_is_copied_untouched() {
    let dir = scratch("passthrough");
    let path = dir.join("prompt.wav");
    let signal = |n: usize, _| ((n * 7919) % 2001) as f64 / 1000.0 - 1.0;
    write_wav(&path, 8_000, 1, 16, false, 1_234, signal);
    let expected: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decode_file(&path).unwrap(), expected);
}

#[test]
fn stereo_is_averaged_to_mono() {
    let dir = scratch("downmix");
    // Opposite channels cancel.
    let path = dir.join("opposite.wav");
    write_wav(&path, 16_000, 2, 16, false, 8_000, |n, c| {
        let x = 0.5 * (2.0 * PI * 440.0 * n as f64 / 16_000.0).sin();
        if c == 0 { x } else { -x }
    });
    assert!(rms(&decode_file(&path).unwrap()) < 2.0);
    // One silent channel halves the level.
    let path = dir.join("left-only.wav");
    write_wav(&path, 44_100, 2, 16, false, 22_050, |n, c| {
        if c == 0 {
            0.8 * (2.0 * PI * 440.0 * n as f64 / 44_100.0).sin()
        } else {
            0.0
        }
    });
    let level = amplitude(middle(&decode_file(&path).unwrap()), 440.0, 8_000.0) / 32_768.0;
    assert!((level - 0.4).abs() < 0.01, "{level}");
    // Any number of channels: 5.1 with the tone on the front pair only.
    let path = dir.join("surround.wav");
    write_wav(&path, 48_000, 6, 16, false, 24_000, |n, c| {
        if c < 2 {
            0.6 * (2.0 * PI * 440.0 * n as f64 / 48_000.0).sin()
        } else {
            0.0
        }
    });
    let level = amplitude(middle(&decode_file(&path).unwrap()), 440.0, 8_000.0) / 32_768.0;
    assert!((level - 0.2).abs() < 0.01, "{level}");
}

#[test]
fn the_resampler_keeps_the_telephone_band_and_stops_aliases() {
    // One second of a tone at each rate; above 4 kHz the tone would fold
    // back (alias) into the band, so it is measured where it would land.
    // 44,099 Hz has 8,000 output phases: the interpolated-table path.
    for rate in [11_025u32, 16_000, 22_050, 44_100, 44_099, 48_000] {
        for (frequency, low, high) in [
            (300.0, -0.1, 0.1),
            (1_000.0, -0.1, 0.1),
            (3_000.0, -0.2, 0.1),
            (3_400.0, -1.5, 0.1),
            (4_300.0, -300.0, -60.0),
            (5_000.0, -300.0, -60.0),
            (7_000.0, -300.0, -60.0),
        ] {
            if frequency >= f64::from(rate) / 2.0 {
                continue;
            }
            let input: Vec<f32> = (0..rate)
                .map(|n| {
                    (0.5 * (2.0 * PI * frequency * f64::from(n) / f64::from(rate)).sin()) as f32
                })
                .collect();
            let mut resampler = Resampler::new(rate, 8_000);
            let mut out = Vec::new();
            resampler.push(&input, &mut out);
            resampler.finish(&mut out);
            assert_eq!(out.len(), 8_000);
            let folded = if frequency > 4_000.0 {
                8_000.0 - frequency
            } else {
                frequency
            };
            let level = amplitude(middle(&out), folded, 8_000.0) / 16_384.0;
            let db = 20.0 * level.max(1e-15).log10();
            assert!(
                (low..=high).contains(&db),
                "{rate} Hz, {frequency} Hz tone: {db:.1} dB, expected {low}..{high}"
            );
        }
    }
}

#[test]
fn the_resampler_streams() {
    // Pushed in uneven pieces, the output is the same as in one piece, and
    // its length is the input's at the new rate, rounded up.
    let input: Vec<f32> = (0..44_100)
        .map(|n| ((n as f32) * 0.01).sin() * 0.3)
        .collect();
    let mut whole = Vec::new();
    let mut resampler = Resampler::new(44_100, 8_000);
    resampler.push(&input, &mut whole);
    resampler.finish(&mut whole);
    let mut pieces = Vec::new();
    let mut resampler = Resampler::new(44_100, 8_000);
    for chunk in input.chunks(997) {
        resampler.push(chunk, &mut pieces);
    }
    resampler.finish(&mut pieces);
    assert_eq!(whole, pieces);
    let mut up = Vec::new();
    let mut resampler = Resampler::new(6_000, 8_000);
    resampler.push(&input[..6_001], &mut up);
    resampler.finish(&mut up);
    assert_eq!(up.len(), 8_002);
    // A constant stays constant (unity gain at 0 Hz).
    let mut dc = Vec::new();
    let mut resampler = Resampler::new(22_050, 8_000);
    resampler.push(&[0.25; 22_050], &mut dc);
    resampler.finish(&mut dc);
    assert!(
        middle(&dc).iter().all(|&x| (x - 8_192).abs() <= 2),
        "{:?}",
        &dc[4_000..4_010]
    );
}

/// A G.711 WAV (format tag 6 or 7), which hound does not read.
fn g711_wav(path: &Path, tag: u16, rate: u32, data: &[u8]) {
    let mut bytes = Vec::new();
    bytes.extend(b"RIFF");
    bytes.extend((4 + 26 + 12 + 8 + data.len() as u32).to_le_bytes());
    bytes.extend(b"WAVE");
    bytes.extend(b"fmt ");
    bytes.extend(18u32.to_le_bytes());
    bytes.extend(tag.to_le_bytes());
    bytes.extend(1u16.to_le_bytes());
    bytes.extend(rate.to_le_bytes());
    bytes.extend(rate.to_le_bytes());
    bytes.extend(1u16.to_le_bytes());
    bytes.extend(8u16.to_le_bytes());
    bytes.extend(0u16.to_le_bytes());
    bytes.extend(b"fact");
    bytes.extend(4u32.to_le_bytes());
    bytes.extend((data.len() as u32).to_le_bytes());
    bytes.extend(b"data");
    bytes.extend((data.len() as u32).to_le_bytes());
    bytes.extend(data);
    if data.len() % 2 == 1 {
        bytes.push(0);
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn g711_wav_files_decode() {
    use dialect_media::Law;
    let dir = scratch("g711-wav");
    let samples: Vec<i16> = (0..801)
        .map(|n| ((n as f64 * 0.3).sin() * 10_000.0) as i16)
        .collect();
    for (law, tag) in [(Law::Alaw, 6), (Law::Ulaw, 7)] {
        let path = dir.join(format!("{law:?}.wav"));
        let data: Vec<u8> = samples.iter().map(|&x| law.encode(x)).collect();
        g711_wav(&path, tag, 8_000, &data);
        let decoded = decode_file(&path).unwrap();
        let expected: Vec<i16> = data.iter().map(|&b| law.decode(b)).collect();
        assert_eq!(decoded, expected, "{law:?}");
    }
    // Other encodings hound refuses are named.
    let path = dir.join("adpcm.wav");
    g711_wav(&path, 2, 8_000, &[0; 100]);
    let error = decode_file(&path).unwrap_err().to_string();
    assert!(
        error.contains("adpcm.wav") && error.contains("0x0002 (Microsoft ADPCM)"),
        "{error}"
    );
}

#[test]
fn mp3_decodes() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tone-440hz-stereo-44k1.mp3");
    let samples = decode_file(&path).unwrap();
    // One second (the encoder's delay and padding trimmed, within a frame).
    assert!(
        (7_800..=8_400).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    let level = amplitude(middle(&samples), 440.0, 8_000.0) / 32_768.0;
    assert!(
        (level - 0.5).abs() < 0.03,
        "440 Hz at {level} of full scale"
    );
    let other = amplitude(middle(&samples), 1_000.0, 8_000.0) / 32_768.0;
    assert!(other < 0.01, "{other}");
}

/// Asserts that decoding `path` fails, that the message names the file, and
/// returns the message.
fn failure(path: &Path) -> (AudioError, String) {
    let error = decode_file(path).unwrap_err();
    let message = error.to_string();
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(message.contains(name), "{message} does not name {name}");
    (error, message)
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let dir = scratch("errors");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    let (error, message) = failure(&write(
        "notes.wav",
        b"these are not the samples you are looking for",
    ));
    assert!(matches!(error, AudioError::NotAudio { .. }), "{message}");
    assert!(
        message.ends_with("is not an audio file: expected WAV or MP3"),
        "{message}"
    );

    let (error, _) = failure(&write("empty.wav", b""));
    assert!(matches!(error, AudioError::Empty { .. }));

    let (error, message) = failure(&write("music.ogg", b"OggS\0\x02\0\0\0\0\0\0\0\0"));
    assert!(matches!(error, AudioError::Unsupported { .. }));
    assert!(
        message.contains("Ogg") && message.contains("convert it to WAV"),
        "{message}"
    );

    let (error, message) = failure(&write("song.flac", b"fLaC\0\0\0\x22"));
    assert!(matches!(error, AudioError::Unsupported { .. }) && message.contains("FLAC"));

    let (error, _) = failure(&dir.join("missing.wav"));
    assert!(matches!(error, AudioError::Io { .. }));

    // A WAV with a header and no samples.
    let silent = dir.join("no-samples.wav");
    write_wav(&silent, 8_000, 1, 16, false, 0, |_, _| 0.0);
    let (error, message) = failure(&silent);
    assert!(matches!(error, AudioError::Empty { .. }), "{message}");
    assert!(message.ends_with("holds no audio"));

    // A WAV cut short in its data.
    let whole = dir.join("whole.wav");
    write_wav(&whole, 8_000, 1, 16, false, 1_000, sine(500.0, 8_000, 0.5));
    let bytes = std::fs::read(&whole).unwrap();
    let (error, message) = failure(&write("cut.wav", &bytes[..bytes.len() / 2]));
    assert!(matches!(error, AudioError::Corrupt { .. }), "{message}");
    assert!(message.contains("truncated"), "{message}");

    // A WAV header that is nonsense.
    let mut broken = bytes.clone();
    broken[22] = 0; // zero channels
    let (error, message) = failure(&write("zero-channels.wav", &broken));
    assert!(matches!(error, AudioError::Corrupt { .. }), "{message}");

    // An "MP3" that is not.
    let mut garbage = vec![0xFF, 0xFB];
    garbage.extend((0..5_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let (_, message) = failure(&write("garbage.mp3", &garbage));
    assert!(!message.is_empty());
    let (error, _) = failure(&write("text.mp3", b"hello"));
    assert!(matches!(error, AudioError::NotAudio { .. }));
}

#[test]
fn truncations_of_real_files_never_panic() {
    // Every prefix of a WAV and of the MP3 is an error or some audio.
    let dir = scratch("prefixes");
    let wav = dir.join("source.wav");
    write_wav(&wav, 22_050, 2, 16, false, 500, sine(300.0, 22_050, 0.5));
    let mp3 =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tone-440hz-stereo-44k1.mp3");
    for source in [wav, mp3] {
        let bytes = std::fs::read(&source).unwrap();
        let name = source.file_name().unwrap().to_str().unwrap();
        for cut in (0..bytes.len()).step_by(97) {
            let path = dir.join(format!("cut-{cut}-{name}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let _ = decode_file(&path);
        }
    }
}
