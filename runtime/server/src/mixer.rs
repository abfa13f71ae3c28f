//! A conference mixer (SPEC 5.3: at most 8 participants): one task, paced
//! by the shared 20 ms tick, that takes each participant's latest frame,
//! decodes it to linear PCM, and sends every participant the sum of all the
//! others (clamped), encoded in that participant's G.711 law. Nothing is
//! allocated per frame: buffers are fixed arrays per participant.

use crate::leg::BRIDGE_FRAMES;
#[cfg(test)]
use crate::leg::Voice;
use crate::voice::{self, VoiceReceiver, VoiceSender};
use dialect_media::{FRAME_SAMPLES, Law};
use tokio::sync::{mpsc, watch};

/// The most participants a conference has.
pub const MAX_PARTICIPANTS: usize = 8;

/// What the controller tells a mixer.
#[derive(Debug)]
pub enum MixCommand {
    /// A participant joins: the mixer reads what they say from `from` and
    /// sends what they hear to `to`, in `law`.
    Join {
        /// The participant's id within the conference.
        id: u32,
        /// Their law.
        law: Law,
        /// Their leg's inbound channel (what they hear).
        to: VoiceSender,
        /// What their leg hears from them.
        from: VoiceReceiver,
    },
    /// A participant leaves.
    Leave {
        /// The participant's id.
        id: u32,
    },
}

/// A channel for one participant's voice into the mixer: give the sender to
/// their leg (`MediaCommand::Bridge`), the receiver to [`MixCommand::Join`].
pub fn voice_channel() -> (VoiceSender, VoiceReceiver) {
    voice::pipe(BRIDGE_FRAMES)
}

struct Participant {
    id: u32,
    law: Law,
    to: VoiceSender,
    from: VoiceReceiver,
    /// Their latest frame, linear; silence when they sent nothing.
    heard: [i16; FRAME_SAMPLES],
}

/// Runs a conference until its command channel closes.
pub async fn run(mut tick: watch::Receiver<u64>, mut commands: mpsc::Receiver<MixCommand>) {
    let mut people: Vec<Participant> = Vec::with_capacity(MAX_PARTICIPANTS);
    let mut total = [0i32; FRAME_SAMPLES];
    let mut linear = [0i16; FRAME_SAMPLES];
    let mut out = [0u8; FRAME_SAMPLES];
    loop {
        tokio::select! {
            changed = tick.changed() => {
                if changed.is_err() {
                    break;
                }
                mix(&mut people, &mut total, &mut linear, &mut out);
            }
            command = commands.recv() => match command {
                Some(MixCommand::Join { id, law, to, from }) => {
                    if people.len() < MAX_PARTICIPANTS {
                        people.push(Participant { id, law, to, from, heard: [0; FRAME_SAMPLES] });
                    }
                }
                Some(MixCommand::Leave { id }) => people.retain(|p| p.id != id),
                None => break,
            },
        }
    }
}

/// One 20 ms step: read, sum, send each the others.
fn mix(
    people: &mut [Participant],
    total: &mut [i32; FRAME_SAMPLES],
    linear: &mut [i16; FRAME_SAMPLES],
    out: &mut [u8; FRAME_SAMPLES],
) {
    total.fill(0);
    for person in people.iter_mut() {
        // The latest frame; older ones are dropped (a small jitter allowance
        // is in the channel's capacity).
        let mut latest = None;
        while let Ok(frame) = person.from.try_recv() {
            latest = Some(frame);
        }
        match latest {
            Some((law, frame)) => law.decode_frame(&frame, &mut person.heard),
            None => person.heard.fill(0),
        }
        for (sum, sample) in total.iter_mut().zip(person.heard.iter()) {
            *sum += i32::from(*sample);
        }
    }
    for person in people.iter() {
        for ((value, sum), own) in linear.iter_mut().zip(total.iter()).zip(person.heard.iter()) {
            let others = sum - i32::from(*own);
            *value =
                i16::try_from(others.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or(0);
        }
        person.law.encode_frame(linear, out);
        let _ = person.to.try_send((person.law, *out));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn frame(law: Law, value: i16) -> Voice {
        let mut out = [0u8; FRAME_SAMPLES];
        law.encode_frame(&[value; FRAME_SAMPLES], &mut out);
        (law, out)
    }

    /// The next frame out of a pipe (the mixer runs on another task).
    async fn hear(ear: &mut VoiceReceiver) -> Voice {
        for _ in 0..5_000 {
            if let Ok(voice) = ear.try_recv() {
                return voice;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the mixer sent nothing within 5 s")
    }

    fn level(voice: &Voice) -> i16 {
        let mut linear = [0i16; FRAME_SAMPLES];
        voice.0.decode_frame(&voice.1, &mut linear);
        linear[0]
    }

    #[tokio::test]
    async fn each_hears_the_sum_of_the_others_in_their_own_law() {
        let (tick_tx, tick) = watch::channel(0u64);
        let (commands_tx, commands) = mpsc::channel(8);
        let task = tokio::spawn(run(tick, commands));
        let mut mouths = Vec::new();
        let mut ears = Vec::new();
        for (id, law) in [(0, Law::Ulaw), (1, Law::Alaw), (2, Law::Ulaw)] {
            let (mouth, from) = voice_channel();
            let (to, ear) = voice::pipe(16);
            commands_tx
                .send(MixCommand::Join { id, law, to, from })
                .await
                .unwrap();
            mouths.push(mouth);
            ears.push(ear);
        }
        tokio::task::yield_now().await;
        // 0 says 1000, 1 says 2000 (in A-law), 2 is silent.
        mouths[0].try_send(frame(Law::Ulaw, 1000)).unwrap();
        mouths[1].try_send(frame(Law::Alaw, 2000)).unwrap();
        tick_tx.send(1).unwrap();
        let heard: Vec<Voice> = {
            let mut heard = Vec::new();
            for ear in &mut ears {
                heard.push(hear(ear).await);
            }
            heard
        };
        // G.711 is lossy: compare within its step size.
        let near = |got: i16, want: i16| (i32::from(got) - i32::from(want)).abs() < 80;
        assert!(near(level(&heard[0]), 2000), "{}", level(&heard[0]));
        assert_eq!(heard[1].0, Law::Alaw);
        assert!(near(level(&heard[1]), 1000), "{}", level(&heard[1]));
        assert!(near(level(&heard[2]), 3000), "{}", level(&heard[2]));

        // One leaves: the others stop hearing them.
        commands_tx.send(MixCommand::Leave { id: 1 }).await.unwrap();
        tokio::task::yield_now().await;
        mouths[0].try_send(frame(Law::Ulaw, 1000)).unwrap();
        tick_tx.send(2).unwrap();
        let zero = hear(&mut ears[0]).await;
        let two = hear(&mut ears[2]).await;
        assert!(near(level(&zero), 0));
        assert!(near(level(&two), 1000));
        drop(commands_tx);
        task.await.unwrap();
    }

    #[test]
    fn loud_sums_are_clamped_not_wrapped() {
        let mut people: Vec<Participant> = (0..3)
            .map(|id| {
                let (mouth, from) = voice_channel();
                let (to, _ear) = voice::pipe(1);
                mouth.try_send(frame(Law::Ulaw, 30_000)).unwrap();
                drop(mouth);
                Participant {
                    id,
                    law: Law::Ulaw,
                    to,
                    from,
                    heard: [0; FRAME_SAMPLES],
                }
            })
            .collect();
        let mut total = [0i32; FRAME_SAMPLES];
        let mut linear = [0i16; FRAME_SAMPLES];
        let mut out = [0u8; FRAME_SAMPLES];
        mix(&mut people, &mut total, &mut linear, &mut out);
        // The last participant's mix is left in `linear`: 2 x 30000 clamped.
        assert_eq!(linear[0], i16::MAX);
    }
}
