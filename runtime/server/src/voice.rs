//! Voice pipes: 20 ms frames from one media task to another (a bridged
//! leg, the conference mixer, a call's recorder).
//!
//! Every call's leg has an inbound pipe, bridged or not, so its cost is per
//! call: a tokio channel allocates a block of 32 slots (over 5 kB of frames)
//! when it is made. A pipe allocates nothing until the first frame goes
//! through it, and then only its capacity. Both ends only ever try (the
//! tasks are paced by the 20 ms tick and never wait on a pipe), so a
//! mutex held for one push or pop is all the synchronisation there is.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::error::TryRecvError;

use crate::leg::Voice;

struct Pipe {
    frames: Mutex<VecDeque<Voice>>,
    capacity: usize,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
}

/// Why a frame was not queued (it is dropped: voice is not worth waiting for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The receiver is behind by the pipe's capacity.
    Full,
    /// The receiver is gone.
    Closed,
}

/// The sending end; clone it for more senders.
pub struct VoiceSender(Arc<Pipe>);

/// The receiving end.
pub struct VoiceReceiver(Arc<Pipe>);

/// A pipe holding at most `capacity` frames.
pub fn pipe(capacity: usize) -> (VoiceSender, VoiceReceiver) {
    let shared = Arc::new(Pipe {
        frames: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
    });
    (VoiceSender(shared.clone()), VoiceReceiver(shared))
}

impl VoiceSender {
    /// Queues a frame, unless the pipe is full or its receiver is gone.
    pub fn try_send(&self, frame: Voice) -> Result<(), Refused> {
        if self.0.receiver_gone.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        let mut frames = self.0.frames.lock().unwrap_or_else(PoisonError::into_inner);
        if frames.len() >= self.0.capacity {
            return Err(Refused::Full);
        }
        if frames.capacity() == 0 {
            frames.reserve_exact(self.0.capacity);
        }
        frames.push_back(frame);
        Ok(())
    }
}

impl Clone for VoiceSender {
    fn clone(&self) -> VoiceSender {
        self.0.senders.fetch_add(1, Ordering::AcqRel);
        VoiceSender(self.0.clone())
    }
}

impl Drop for VoiceSender {
    fn drop(&mut self) {
        self.0.senders.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for VoiceSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceSender").finish_non_exhaustive()
    }
}

impl VoiceReceiver {
    /// The oldest frame; `Disconnected` once it is empty and every sender
    /// is gone.
    pub fn try_recv(&mut self) -> Result<Voice, TryRecvError> {
        let mut frames = self.0.frames.lock().unwrap_or_else(PoisonError::into_inner);
        match frames.pop_front() {
            Some(frame) => Ok(frame),
            None if self.0.senders.load(Ordering::Acquire) == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.0
            .frames
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for VoiceReceiver {
    fn drop(&mut self) {
        self.0.receiver_gone.store(true, Ordering::Release);
        // Senders may outlive the receiver: the frames go now.
        let mut frames = self.0.frames.lock().unwrap_or_else(PoisonError::into_inner);
        *frames = VecDeque::new();
    }
}

impl std::fmt::Debug for VoiceReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dialect_media::{FRAME_SAMPLES, Law};

    fn frame(n: u8) -> Voice {
        (Law::Ulaw, [n; FRAME_SAMPLES])
    }

    #[test]
    fn frames_come_out_in_order_up_to_the_capacity() {
        let (tx, mut rx) = pipe(3);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        for n in 0..3 {
            tx.try_send(frame(n)).unwrap();
        }
        assert_eq!(tx.try_send(frame(9)), Err(Refused::Full));
        assert_eq!(rx.len(), 3);
        for n in 0..3 {
            assert_eq!(rx.try_recv().unwrap().1[0], n);
        }
        assert!(rx.is_empty());
    }

    #[test]
    fn a_pipe_allocates_nothing_until_a_frame_goes_through() {
        let (tx, rx) = pipe(16);
        assert_eq!(rx.0.frames.lock().unwrap().capacity(), 0);
        tx.try_send(frame(1)).unwrap();
        assert!(rx.0.frames.lock().unwrap().capacity() >= 16);
    }

    #[test]
    fn each_end_sees_the_other_go() {
        let (tx, mut rx) = pipe(2);
        let second = tx.clone();
        tx.try_send(frame(1)).unwrap();
        drop(tx);
        // One sender is left, then none: what was sent is still read.
        assert_eq!(rx.try_recv().unwrap().1[0], 1);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(second);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        let (tx, rx) = pipe(2);
        drop(rx);
        assert_eq!(tx.try_send(frame(1)), Err(Refused::Closed));
    }
}
