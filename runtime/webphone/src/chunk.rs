//! [`Frame`]s cut from the payloads the browser sends.
//!
//! Chromium sends G.711 in 20 ms packets (160 bytes), but the packet time is
//! the sender's choice (`a=ptime`, 10 to 60 ms are common), so payloads are
//! concatenated and cut at every 160 bytes. A partial frame waits for the
//! next payload.

use crate::{FRAME_BYTES, Frame};

/// Cuts a stream of payloads into [`Frame`]s.
#[derive(Debug)]
pub(crate) struct Chunker {
    frame: Frame,
    filled: usize,
}

impl Chunker {
    pub(crate) fn new() -> Self {
        Chunker {
            frame: [0; FRAME_BYTES],
            filled: 0,
        }
    }

    /// Appends `payload`, calling `emit` with each frame it completes.
    pub(crate) fn push(&mut self, mut payload: &[u8], mut emit: impl FnMut(Frame)) {
        while !payload.is_empty() {
            let Some(free) = self.frame.get_mut(self.filled..) else {
                // Unreachable: `filled` never exceeds the frame; start over.
                self.filled = 0;
                continue;
            };
            let n = free.len().min(payload.len());
            let (head, rest) = payload.split_at(n);
            if let Some(dst) = free.get_mut(..n) {
                dst.copy_from_slice(head);
            }
            payload = rest;
            self.filled += n;
            if self.filled == FRAME_BYTES {
                emit(self.frame);
                self.filled = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    fn frames(payloads: &[Vec<u8>]) -> Vec<Frame> {
        let mut chunker = Chunker::new();
        let mut out = Vec::new();
        for p in payloads {
            chunker.push(p, |f| out.push(f));
        }
        out
    }

    fn bytes(n: usize, from: usize) -> Vec<u8> {
        (from..from + n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn twenty_ms_packets_are_frames_as_they_are() {
        let out = frames(&[bytes(160, 0), bytes(160, 160)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].to_vec(), bytes(160, 0));
        assert_eq!(out[1].to_vec(), bytes(160, 160));
    }

    #[test]
    fn ten_ms_packets_make_a_frame_of_two() {
        let out = frames(&[bytes(80, 0), bytes(80, 80), bytes(80, 160)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_vec(), bytes(160, 0));
    }

    #[test]
    fn thirty_ms_packets_are_cut_across_frames() {
        let out = frames(&[bytes(240, 0), bytes(240, 240)]);
        assert_eq!(out.len(), 3);
        for (i, f) in out.iter().enumerate() {
            assert_eq!(f.to_vec(), bytes(160, i * 160));
        }
    }

    #[test]
    fn empty_payloads_change_nothing() {
        assert!(frames(&[vec![], bytes(100, 0), vec![]]).is_empty());
    }
}
