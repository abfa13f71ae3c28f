//! Call recording (the campaign's `recording`): one task per recorded call,
//! paced by the shared 20 ms tick like the conference mixer. Every leg of
//! the conversation is tapped (`MediaCommand::Tap`): the caller's voice goes
//! to the left channel, the agents' (the first, a transferred-to or a
//! conferenced one) to the right, mixed when several talk at once. Each tick
//! writes one frame per side (silence where nobody spoke), so the file keeps
//! time with the call; while paused both sides are written as silence.
//!
//! Nothing is allocated per frame: each tapped leg has a bounded channel
//! and the mixing buffers are fixed arrays. The file is written through a
//! 64 kB buffer; finishing it (header, close, fsync of the file and its
//! directory) happens off the runtime's threads, and only then is it
//! reported, so the index never names a file a crash could lose.

use crate::leg::{BRIDGE_FRAMES, MediaEvent};
use crate::mixer::MAX_PARTICIPANTS;
use crate::voice::{VoiceReceiver, VoiceSender};
use dialect_media::FRAME_SAMPLES;
use dialect_media::record::{Pushed, Recorder};
use tokio::sync::{mpsc, watch};

/// What the controller tells a call's recorder.
#[derive(Debug)]
pub enum RecorderCommand {
    /// A party joins: what their leg hears from them (its tap) is written
    /// to the left channel (`caller`) or the right one.
    Join {
        /// Whether this is the caller's side.
        caller: bool,
        /// The receiving end of the leg's tap.
        from: VoiceReceiver,
    },
    /// Write silence until [`RecorderCommand::Resume`].
    Pause,
    /// Record again.
    Resume,
}

/// A channel for one leg's voice into the recorder: the sender goes to
/// the leg (`MediaCommand::Tap`), the receiver to [`RecorderCommand::Join`].
pub fn tap_channel() -> (VoiceSender, VoiceReceiver) {
    crate::voice::pipe(BRIDGE_FRAMES)
}

struct Party {
    caller: bool,
    from: VoiceReceiver,
}

/// Records until the command channel closes (the call ended) or the file
/// is full, then finishes the file off the runtime's threads and reports
/// [`MediaEvent::ConversationRecorded`] for `call`.
pub async fn run(
    call: u64,
    mut recorder: Recorder,
    mut tick: watch::Receiver<u64>,
    mut commands: mpsc::Receiver<RecorderCommand>,
    events: mpsc::Sender<(u64, MediaEvent)>,
) {
    let mut parties: Vec<Party> = Vec::with_capacity(MAX_PARTICIPANTS + 1);
    let mut paused = false;
    let mut left = [0i16; FRAME_SAMPLES];
    let mut right = [0i16; FRAME_SAMPLES];
    let mut failure = None;
    loop {
        tokio::select! {
            changed = tick.changed() => {
                if changed.is_err() {
                    break;
                }
                left.fill(0);
                right.fill(0);
                parties.retain_mut(|party| {
                    let side = if party.caller { &mut left } else { &mut right };
                    take_frame(party, side, paused)
                });
                match recorder.push_pair(&left, &right) {
                    Ok(Pushed::Recorded) => {}
                    Ok(Pushed::Full) => break,
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            command = commands.recv() => match command {
                Some(RecorderCommand::Join { caller, from }) => {
                    if parties.len() <= MAX_PARTICIPANTS {
                        parties.push(Party { caller, from });
                    }
                }
                Some(RecorderCommand::Pause) => paused = true,
                Some(RecorderCommand::Resume) => paused = false,
                None => break,
            },
        }
    }
    tokio::task::spawn_blocking(move || {
        let result = match failure {
            Some(error) => Err(error),
            None => recorder
                .finish()
                .map(|r| (r.path, r.duration))
                .map_err(|e| e.to_string()),
        };
        let _ = events.blocking_send((call, MediaEvent::ConversationRecorded(result)));
    });
}

/// Adds the party's next frame (linear) to `side`: one frame per tick,
/// older ones dropped when the party got ahead (as a bridged leg does).
/// False once the party's leg is gone.
fn take_frame(party: &mut Party, side: &mut [i16; FRAME_SAMPLES], paused: bool) -> bool {
    let mut voice = None;
    loop {
        match party.from.try_recv() {
            Ok(frame) => {
                voice = Some(frame);
                if party.from.len() < BRIDGE_FRAMES {
                    break;
                }
            }
            Err(mpsc::error::TryRecvError::Empty) => break,
            Err(mpsc::error::TryRecvError::Disconnected) => return voice.is_some(),
        }
    }
    if let (Some((law, frame)), false) = (voice, paused) {
        let table = law.table();
        for (out, byte) in side.iter_mut().zip(frame) {
            let sample = table.get(usize::from(byte)).copied().unwrap_or(0);
            *out = out.saturating_add(sample);
        }
    }
    true
}
