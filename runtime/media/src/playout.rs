//! Playing a prompt into a call: [`Playout`], a cursor over shared
//! [`Frames`] that hands out one 20 ms frame per tick.
//!
//! # Towards a mixer
//!
//! Today a call hears one source at a time (a prompt, music on hold, or the
//! bridged party), and a frame goes from the prompt to the packet untouched:
//! prompts are stored in the call's law, so the common path neither decodes
//! nor encodes. Mixing (a beep over a recording, whisper to an agent,
//! conferences of up to 8) fits without changing this type: a mixer holds
//! several sources, asks each for 160 samples per tick
//! ([`Playout::next_samples`] decodes through the 256-entry table; a bridged
//! party's payload decodes the same way), sums them into an `i32`
//! accumulator with per-source gain, saturates to `i16`, and encodes once per
//! outgoing law, subtracting each participant's own contribution for its
//! ear (N-1 mixing). All of it in fixed `[_; 160]` arrays, so mixing keeps
//! the no-allocation rule; when only one source is active the mixer passes
//! that source's frame through, keeping today's zero-transcoding path.

use crate::FRAME;
use crate::FRAME_SAMPLES;
use crate::prompt::{Frame, Frames};
use std::sync::Arc;
use std::time::Duration;

/// A cursor over a prompt: which frame plays next, whether it loops (music
/// on hold) and whether it was stopped (barge-in). Cheap to create (one
/// `Arc` clone); allocates nothing per frame.
#[derive(Clone, Debug)]
pub struct Playout {
    frames: Arc<Frames>,
    position: usize,
    looping: bool,
    stopped: bool,
    played: u64,
}

impl Playout {
    /// Plays `frames` once.
    pub fn once(frames: Arc<Frames>) -> Playout {
        Playout {
            frames,
            position: 0,
            looping: false,
            stopped: false,
            played: 0,
        }
    }

    /// Plays `frames` over and over until stopped (music on hold).
    pub fn looping(frames: Arc<Frames>) -> Playout {
        Playout {
            looping: true,
            ..Playout::once(frames)
        }
    }

    /// The frame to send on this tick, or `None` once the prompt has ended
    /// or was stopped (then the caller sends silence or nothing, and reports
    /// the end of the prompt if it ended by itself).
    pub fn next_frame(&mut self) -> Option<&Frame> {
        if self.stopped {
            return None;
        }
        if self.position >= self.frames.len() {
            if !self.looping || self.frames.is_empty() {
                return None;
            }
            self.position = 0;
        }
        let index = self.position;
        self.position += 1;
        self.played += 1;
        self.frames.get(index)
    }

    /// [`Playout::next_frame`] decoded to linear samples, for a mixer.
    /// Returns false (and leaves `out` alone) when there is no frame.
    pub fn next_samples(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        let law = self.frames.law();
        match self.next_frame() {
            Some(frame) => {
                law.decode_frame(frame, out);
                true
            }
            None => false,
        }
    }

    /// Stops the prompt now (the caller pressed a key, or the flow moved
    /// on): every later [`Playout::next_frame`] returns `None`.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether [`Playout::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Whether no frame is left: stopped, or played to its end (never, for
    /// a looping prompt that has frames).
    pub fn is_finished(&self) -> bool {
        let ended = self.position >= self.frames.len();
        self.stopped || (ended && (!self.looping || self.frames.is_empty()))
    }

    /// How long it has played so far (loops included).
    pub fn played(&self) -> Duration {
        FRAME * u32::try_from(self.played).unwrap_or(u32::MAX)
    }

    /// The prompt being played.
    pub fn frames(&self) -> &Arc<Frames> {
        &self.frames
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::Law;

    fn numbered(n: u8) -> Arc<Frames> {
        let samples: Vec<i16> = (0..n)
            .flat_map(|i| std::iter::repeat_n(i16::from(i) * 1000, FRAME_SAMPLES))
            .collect();
        Arc::new(Frames::from_samples(Law::Alaw, &samples))
    }

    fn first_bytes(playout: &mut Playout, n: usize) -> Vec<Option<u8>> {
        (0..n).map(|_| playout.next_frame().map(|f| f[0])).collect()
    }

    #[test]
    fn plays_once_then_ends() {
        let frames = numbered(3);
        let expected: Vec<_> = frames.as_slice().iter().map(|f| Some(f[0])).collect();
        let mut playout = Playout::once(frames);
        assert!(!playout.is_finished());
        let got = first_bytes(&mut playout, 5);
        assert_eq!(&got[..3], &expected[..]);
        assert_eq!(&got[3..], &[None, None]);
        assert!(playout.is_finished() && !playout.is_stopped());
        assert_eq!(playout.played(), Duration::from_millis(60));
    }

    #[test]
    fn loops_until_stopped() {
        let frames = numbered(2);
        let (a, b) = (frames.as_slice()[0][0], frames.as_slice()[1][0]);
        let mut playout = Playout::looping(frames);
        assert_eq!(
            first_bytes(&mut playout, 5),
            [Some(a), Some(b), Some(a), Some(b), Some(a)]
        );
        assert!(!playout.is_finished());
        playout.stop();
        assert_eq!(playout.next_frame(), None);
        assert!(playout.is_finished() && playout.is_stopped());
    }

    #[test]
    fn barge_in_stops_mid_prompt() {
        let mut playout = Playout::once(numbered(10));
        playout.next_frame();
        playout.stop();
        assert_eq!(playout.next_frame(), None);
        assert_eq!(playout.played(), Duration::from_millis(20));
    }

    #[test]
    fn an_empty_prompt_ends_at_once_even_looping() {
        let empty = Arc::new(Frames::from_samples(Law::Ulaw, &[]));
        assert_eq!(Playout::looping(Arc::clone(&empty)).next_frame(), None);
        assert!(Playout::looping(empty).is_finished());
    }

    #[test]
    fn samples_for_a_mixer() {
        let mut playout = Playout::once(numbered(2));
        let mut out = [7i16; FRAME_SAMPLES];
        assert!(playout.next_samples(&mut out));
        // A-law has no code for 0: its silence decodes to +8.
        assert_eq!(out, [8; FRAME_SAMPLES]);
        assert!(playout.next_samples(&mut out));
        assert!((out[0] - 1000).abs() < 40, "{}", out[0]);
        assert!(!playout.next_samples(&mut out));
    }
}
