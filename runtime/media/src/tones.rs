//! DTMF tones in the audio (in-band), for callers whose phones send keys
//! as tones rather than RFC 4733 events or SIP INFO: the last resort, used
//! when the call negotiated no telephone-event. Eight Goertzel filters, one
//! per DTMF frequency, run over each 20 ms frame of decoded samples; a key
//! is one low and one high tone that hold nearly all the frame's energy,
//! each well above the others of its group, at a level of a keypad, in two
//! frames running (40 ms, the shortest key ITU-T Q.24 asks to be
//! recognised), and it is reported once per press. Nothing is allocated:
//! the detector is a few numbers.

use crate::FRAME_SAMPLES;

/// The low (row) frequencies, Hz.
const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// The high (column) frequencies, Hz.
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keys by row and column.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The share of a frame's energy the two tones must hold (a pure pair
/// holds all of it; speech and music spread theirs).
const PURITY: f32 = 0.7;
/// How much stronger than any other tone of its group a tone must be
/// (power, 8 dB).
const DOMINANCE: f32 = 6.3;
/// The weakest tone power relative to the stronger (twist): 8 dB either
/// way, wider than Q.24's 8 dB normal and 4 dB reverse twist, for phones'
/// and codecs' tilt.
const TWIST: f32 = 6.3;
/// The quietest frame taken: mean square of the samples, about -40 dBm0
/// per tone.
const LEVEL: f32 = 10_000.0;
/// Frames a key must hold before it is reported.
const HOLD: u8 = 2;

/// Finds DTMF keys in 20 ms frames of linear samples at 8 kHz.
#[derive(Debug, Clone)]
pub struct ToneDetector {
    /// The Goertzel coefficient of each frequency, low then high.
    coefficients: [f32; 8],
    /// The key heard in the last frames, and for how many.
    heard: Option<(char, u8)>,
    /// The key reported and not yet released.
    reported: Option<char>,
}

impl Default for ToneDetector {
    fn default() -> Self {
        ToneDetector::new()
    }
}

impl ToneDetector {
    /// A detector with nothing heard.
    pub fn new() -> ToneDetector {
        let mut coefficients = [0.0; 8];
        for (c, f) in coefficients.iter_mut().zip(LOW.iter().chain(HIGH.iter())) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / crate::SAMPLE_RATE as f32).cos();
        }
        ToneDetector {
            coefficients,
            heard: None,
            reported: None,
        }
    }

    /// One frame: the key pressed, once per press, when this frame makes
    /// it held long enough.
    pub fn frame(&mut self, samples: &[i16; FRAME_SAMPLES]) -> Option<char> {
        let key = self.key_in(samples);
        match key {
            Some(k) => {
                let count = match self.heard {
                    Some((h, n)) if h == k => n.saturating_add(1),
                    _ => 1,
                };
                self.heard = Some((k, count));
                if count >= HOLD && self.reported != Some(k) {
                    self.reported = Some(k);
                    return Some(k);
                }
                None
            }
            None => {
                self.heard = None;
                self.reported = None;
                None
            }
        }
    }

    /// [`ToneDetector::frame`] for a frame of G.711 (decoded on the stack).
    pub fn coded_frame(&mut self, law: crate::Law, frame: &[u8; FRAME_SAMPLES]) -> Option<char> {
        let mut samples = [0i16; FRAME_SAMPLES];
        law.decode_into(frame, &mut samples);
        self.frame(&samples)
    }

    /// The key whose tones fill this frame, if one does.
    fn key_in(&self, samples: &[i16; FRAME_SAMPLES]) -> Option<char> {
        let energy: f32 = samples.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
        if energy / (FRAME_SAMPLES as f32) < LEVEL {
            return None;
        }
        let mut power = [0.0f32; 8];
        for (p, &c) in power.iter_mut().zip(self.coefficients.iter()) {
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &x in samples {
                let s0 = f32::from(x) + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            *p = s1 * s1 + s2 * s2 - c * s1 * s2;
        }
        let (low, high) = power.split_at(4);
        let (row, low_peak) = strongest(low)?;
        let (column, high_peak) = strongest(high)?;
        // A pure tone of amplitude A gives (A·N/2)², a frame's energy
        // A²·N/2: the pair holds `PURITY` of it when P / (E·N/2) says so.
        let share = (low_peak + high_peak) / (energy * FRAME_SAMPLES as f32 / 2.0);
        let twist_ok = low_peak <= high_peak * TWIST && high_peak <= low_peak * TWIST;
        (share >= PURITY && twist_ok).then(|| KEYS.get(row)?.get(column).copied())?
    }
}

/// The strongest of a group and its power, when it stands out of the others.
fn strongest(group: &[f32]) -> Option<(usize, f32)> {
    let (index, &peak) = group.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let dominant = group
        .iter()
        .enumerate()
        .all(|(i, &p)| i == index || p * DOMINANCE <= peak);
    dominant.then_some((index, peak))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// `frames` frames of the tones of `key` at `amplitude` each (from
    /// sample `start`), plus `noise` of white-ish noise.
    fn tone(key: char, amplitude: f32, start: usize) -> [i16; FRAME_SAMPLES] {
        let (row, column) = (0..4)
            .flat_map(|r| (0..4).map(move |c| (r, c)))
            .find(|&(r, c)| KEYS[r][c] == key)
            .unwrap();
        let mut out = [0i16; FRAME_SAMPLES];
        for (i, s) in out.iter_mut().enumerate() {
            let t = (start + i) as f32 / 8000.0;
            let v = amplitude
                * ((2.0 * std::f32::consts::PI * LOW[row] * t).sin()
                    + (2.0 * std::f32::consts::PI * HIGH[column] * t).sin());
            *s = v as i16;
        }
        out
    }

    #[test]
    fn every_key_is_heard_once_per_press() {
        for key in "0123456789*#ABCD".chars() {
            let mut detector = ToneDetector::new();
            let heard: Vec<char> = (0..5)
                .filter_map(|n| detector.frame(&tone(key, 4000.0, n * FRAME_SAMPLES)))
                .collect();
            assert_eq!(heard, [key], "{key}");
            // Released, then pressed again.
            assert_eq!(detector.frame(&[0; FRAME_SAMPLES]), None);
            assert_eq!(detector.frame(&tone(key, 4000.0, 0)), None);
            assert_eq!(detector.frame(&tone(key, 4000.0, FRAME_SAMPLES)), Some(key));
        }
    }

    #[test]
    fn a_tone_through_g711_is_heard() {
        for law in [crate::Law::Ulaw, crate::Law::Alaw] {
            let mut detector = ToneDetector::new();
            let mut heard = Vec::new();
            for n in 0..4 {
                let mut coded = [0u8; FRAME_SAMPLES];
                law.encode_frame(&tone('5', 3000.0, n * FRAME_SAMPLES), &mut coded);
                heard.extend(detector.coded_frame(law, &coded));
            }
            assert_eq!(heard, ['5'], "{law:?}");
        }
    }

    /// The prompts and the music on hold (speech, music) hold no key.
    #[test]
    fn speech_and_music_are_not_keys() {
        let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows/prompts");
        let mut frames = 0;
        for entry in std::fs::read_dir(&prompts).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "wav") {
                continue;
            }
            let samples = crate::audio::decode_file(&path).unwrap();
            let mut detector = ToneDetector::new();
            for chunk in samples.chunks_exact(FRAME_SAMPLES) {
                let frame: &[i16; FRAME_SAMPLES] = chunk.try_into().unwrap();
                assert_eq!(detector.frame(frame), None, "{}", path.display());
                frames += 1;
            }
        }
        assert!(frames > 1_000, "{frames} frames of prompts");
    }

    #[test]
    fn one_frame_quiet_tones_single_tones_and_noise_are_not_keys() {
        let mut detector = ToneDetector::new();
        // One frame (20 ms) is too short.
        assert_eq!(detector.frame(&tone('1', 4000.0, 0)), None);
        assert_eq!(detector.frame(&[0; FRAME_SAMPLES]), None);
        // Too quiet.
        for n in 0..4 {
            assert_eq!(detector.frame(&tone('1', 50.0, n * FRAME_SAMPLES)), None);
        }
        // One tone alone (a dial tone's 440 Hz would be; here 697 Hz).
        let mut single = [0i16; FRAME_SAMPLES];
        for (i, s) in single.iter_mut().enumerate() {
            *s = (6000.0 * (2.0 * std::f32::consts::PI * 697.0 * i as f32 / 8000.0).sin()) as i16;
        }
        for _ in 0..4 {
            assert_eq!(detector.frame(&single), None);
        }
        // Noise (a linear congruential sequence).
        let mut seed = 12345u32;
        let mut noise = [0i16; FRAME_SAMPLES];
        for _ in 0..10 {
            for s in noise.iter_mut() {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *s = ((seed >> 16) as i16) / 4;
            }
            assert_eq!(detector.frame(&noise), None);
        }
        // A key under loud noise of the same energy is not taken either:
        // the tones do not fill the frame.
        let mut noisy = tone('9', 2000.0, 0);
        for (s, n) in noisy.iter_mut().zip(noise.iter()) {
            *s = s.saturating_add(n.saturating_mul(2));
        }
        assert_eq!(detector.key_in(&noisy), None);
    }
}
