//! Recordings read back with hound.

use crate::scratch;
use dialect_media::prompt;
use dialect_media::record::{Pushed, Recording};
use dialect_media::{Law, Recorder};
use std::time::Duration;

fn read(path: &std::path::Path) -> (hound::WavSpec, Vec<i16>) {
    let reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    (
        spec,
        reader.into_samples::<i16>().map(Result::unwrap).collect(),
    )
}

#[test]
fn records_frames_as_8_khz_16_bit_mono() {
    let dir = scratch("record");
    for law in Law::ALL {
        let path = dir.join(format!("{law:?}.wav"));
        let tone = prompt::tone(law, &[440.0], 0.5, Duration::from_secs(1));
        let mut recorder = Recorder::create(&path, law, Duration::from_secs(60)).unwrap();
        for frame in tone.as_slice() {
            assert_eq!(recorder.push(frame).unwrap(), Pushed::Recorded);
        }
        let recording = recorder.finish().unwrap();
        assert_eq!(
            recording,
            Recording {
                path: path.clone(),
                duration: Duration::from_secs(1),
                truncated: false
            }
        );
        let (spec, samples) = read(&path);
        assert_eq!(
            (
                spec.sample_rate,
                spec.channels,
                spec.bits_per_sample,
                spec.sample_format
            ),
            (8_000, 1, 16, hound::SampleFormat::Int)
        );
        assert_eq!(samples, tone.to_samples());
    }
}

#[test]
fn stops_at_the_maximum_length() {
    let dir = scratch("record-max");
    let path = dir.join("max.wav");
    let mut recorder = Recorder::create(&path, Law::Ulaw, Duration::from_millis(110)).unwrap();
    let pushed: Vec<Pushed> = (0..8)
        .map(|_| recorder.push(&[0x80; 160]).unwrap())
        .collect();
    assert_eq!(pushed[..5], [Pushed::Recorded; 5]);
    // The sixth frame is cut at 110 ms; later ones are dropped.
    assert_eq!(pushed[5..], [Pushed::Full; 3]);
    assert!(recorder.is_full());
    let recording = recorder.finish().unwrap();
    assert_eq!(
        (recording.duration, recording.truncated),
        (Duration::from_millis(110), true)
    );
    let (_, samples) = read(&path);
    assert_eq!(samples.len(), 880);
    assert!(samples.iter().all(|&x| x == 32_124));
}

#[test]
fn silence_keeps_time_and_payloads_may_be_any_length() {
    let dir = scratch("record-gaps");
    let path = dir.join("gaps.wav");
    let mut recorder = Recorder::create(&path, Law::Alaw, Duration::from_secs(10)).unwrap();
    recorder.push(&[0xAA; 80]).unwrap();
    recorder.push_silence(400).unwrap();
    recorder.push(&[0x2A; 240]).unwrap();
    assert_eq!(recorder.duration(), Duration::from_millis(90));
    recorder.finish().unwrap();
    let (_, samples) = read(&path);
    assert_eq!(samples.len(), 720);
    assert!(samples[..80].iter().all(|&x| x == 32_256));
    assert!(samples[80..480].iter().all(|&x| x == 0));
    assert!(samples[480..].iter().all(|&x| x == -32_256));
}

#[test]
fn streams_to_disk_as_it_goes() {
    // Five seconds are 80 kB: more than the 64 kB buffer, so most of it is
    // on disk before the recording is finished.
    let dir = scratch("record-stream");
    let path = dir.join("long.wav");
    let mut recorder = Recorder::create(&path, Law::Ulaw, Duration::from_secs(60)).unwrap();
    for _ in 0..250 {
        recorder.push(&[0xFF; 160]).unwrap();
    }
    let on_disk = std::fs::metadata(&path).unwrap().len();
    assert!(on_disk > 60_000, "{on_disk} bytes on disk");
    recorder.finish().unwrap();
    assert_eq!(read(&path).1.len(), 40_000);
}

#[test]
fn errors_name_the_file() {
    let path = scratch("record-error").join("no/such/dir/message.wav");
    let error = Recorder::create(&path, Law::Ulaw, Duration::from_secs(1)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("no/such/dir/message.wav"), "{message}");
}

#[test]
fn a_recording_never_replaces_an_existing_file() {
    let path = scratch("record-no-replace").join("message.wav");
    std::fs::write(&path, b"an earlier caller's message").unwrap();
    let error = Recorder::create(&path, Law::Ulaw, Duration::from_secs(1)).unwrap_err();
    assert!(error.to_string().contains("message.wav"), "{error}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"an earlier caller's message",
        "the earlier file is untouched"
    );
}

#[test]
fn a_conversation_keeps_the_parties_apart_in_stereo_and_mixes_them_in_mono() {
    let dir = scratch("conversation");
    let left = [1_000i16; dialect_media::FRAME_SAMPLES];
    let right = [-300i16; dialect_media::FRAME_SAMPLES];
    let loud = [30_000i16; dialect_media::FRAME_SAMPLES];
    for stereo in [true, false] {
        let path = dir.join(format!("stereo-{stereo}.wav"));
        let mut recorder =
            Recorder::conversation(&path, stereo, Duration::from_millis(50)).unwrap();
        assert_eq!(recorder.push_pair(&left, &right).unwrap(), Pushed::Recorded);
        assert_eq!(recorder.push_pair(&loud, &loud).unwrap(), Pushed::Recorded);
        // The third frame is cut at 50 ms: 80 samples of it.
        assert_eq!(recorder.push_pair(&left, &right).unwrap(), Pushed::Full);
        let recording = recorder.finish().unwrap();
        assert_eq!(recording.duration, Duration::from_millis(50));
        let (spec, samples) = read(&path);
        assert_eq!(spec.channels, if stereo { 2 } else { 1 });
        if stereo {
            assert_eq!(samples.len(), 400 * 2);
            assert_eq!(&samples[..4], [1_000, -300, 1_000, -300]);
        } else {
            assert_eq!(samples.len(), 400);
            assert_eq!(samples[0], 700);
            // Two loud parties clamp rather than wrap.
            assert_eq!(samples[160], i16::MAX);
        }
    }
}
