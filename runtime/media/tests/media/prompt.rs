//! Prompts: the real `flows/prompts/`, speech through espeak-ng, the cache,
//! and generated audio.

use crate::{amplitude, flows, rms, scratch};
use dialect_bytecode::Prompt;
use dialect_media::prompt::{self, espeak_path};
use dialect_media::{AudioError, FRAME_SAMPLES, Frames, Law, PromptCache, PromptError};
use std::sync::Arc;
use std::time::Duration;

fn play(path: &str) -> Prompt {
    Prompt::Play {
        path: path.to_owned(),
    }
}

fn say(text: &str, language: Option<&str>) -> Prompt {
    Prompt::Say {
        text: text.to_owned(),
        language: language.map(str::to_owned),
    }
}

/// Speech tests need espeak-ng; without it they fail, saying what to install.
fn require_espeak() {
    assert!(
        espeak_path().is_some(),
        "these tests need espeak-ng: install the Debian package `espeak-ng` (apt-get install espeak-ng)"
    );
}

#[test]
fn a_wav_prompt_is_converted_once_in_both_laws() {
    let cache = PromptCache::new();
    let welcome = play("prompts/welcome.wav");
    assert!(cache.get(&welcome, &flows(), Law::Ulaw).is_none());
    let ulaw = cache.load(&welcome, &flows(), Law::Ulaw).unwrap();
    // 19198 samples at 8 kHz: 120 frames, the last padded.
    assert_eq!((ulaw.law(), ulaw.len()), (Law::Ulaw, 120));
    assert_eq!(ulaw.duration(), Duration::from_millis(2_400));
    assert_eq!(
        ulaw.get(119).unwrap()[FRAME_SAMPLES - 1],
        Law::Ulaw.silence()
    );
    // The second load is the same frames, not a second conversion.
    assert!(Arc::ptr_eq(
        &ulaw,
        &cache.load(&welcome, &flows(), Law::Ulaw).unwrap()
    ));
    assert!(Arc::ptr_eq(
        &ulaw,
        &cache.get(&welcome, &flows(), Law::Ulaw).unwrap()
    ));
    let alaw = cache.load(&welcome, &flows(), Law::Alaw).unwrap();
    assert_eq!(alaw.law(), Law::Alaw);
    assert_eq!(cache.len(), 1);
    // Both are the file, within G.711's precision.
    let original: Vec<i16> = hound::WavReader::open(flows().join("prompts/welcome.wav"))
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect();
    for frames in [&ulaw, &alaw] {
        let decoded = frames.to_samples();
        let noise: Vec<i16> = original.iter().zip(&decoded).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(&original) / rms(&noise)).log10();
        assert!(snr > 30.0, "{:?}: {snr:.1} dB", frames.law());
    }
    cache.clear();
    assert!(cache.is_empty());
    // Calls playing it keep their copy.
    assert_eq!(ulaw.len(), 120);
}

#[test]
fn every_prompt_of_the_flows_loads() {
    let cache = PromptCache::new();
    let mut count = 0;
    for entry in std::fs::read_dir(flows().join("prompts")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let frames = cache
            .load(&play(&format!("prompts/{name}")), &flows(), Law::Alaw)
            .unwrap();
        assert!(frames.duration() > Duration::from_secs(1), "{name}");
        count += 1;
    }
    assert_eq!(cache.len(), count);
}

#[test]
fn play_errors_name_the_file_and_are_not_cached() {
    let cache = PromptCache::new();
    let error = cache
        .load(&play("prompts/nope.wav"), &flows(), Law::Ulaw)
        .unwrap_err();
    assert!(matches!(error, PromptError::Audio(AudioError::Io { .. })));
    assert!(error.to_string().contains("prompts/nope.wav"), "{error}");
    assert!(cache.is_empty());
    let error = cache
        .load(&play("/etc/passwd"), &flows(), Law::Ulaw)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`/etc/passwd` is an absolute path; audio files are named relative to the flows directory"
    );
    // The same relative path under two roots is two prompts.
    let dir = scratch("two-roots");
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    std::fs::copy(
        flows().join("prompts/busy.wav"),
        dir.join("prompts/welcome.wav"),
    )
    .unwrap();
    let here = cache
        .load(&play("prompts/welcome.wav"), &dir, Law::Ulaw)
        .unwrap();
    let there = cache
        .load(&play("prompts/welcome.wav"), &flows(), Law::Ulaw)
        .unwrap();
    assert_ne!(here.len(), there.len());
    assert_eq!(cache.len(), 2);
}

#[test]
fn say_prompts_are_synthesised_by_espeak_ng() {
    require_espeak();
    let cache = PromptCache::new();
    let prompt = say("Welcome to Dialect. Press one for sales.", Some("en-GB"));
    let frames = cache.load(&prompt, &flows(), Law::Ulaw).unwrap();
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(6)).contains(&frames.duration()),
        "{:?}",
        frames.duration()
    );
    assert!(rms(&frames.to_samples()) > 500.0, "speech is not silence");
    assert!(Arc::ptr_eq(
        &frames,
        &cache.load(&prompt, &flows(), Law::Ulaw).unwrap()
    ));
    // The default voice, another language, and a text that looks like an option.
    for prompt in [
        say("Goodbye.", None),
        say("Dzień dobry.", Some("pl")),
        say("-5 degrees", None),
    ] {
        let frames = cache.load(&prompt, &flows(), Law::Alaw).unwrap();
        assert!(frames.duration() > Duration::from_millis(300), "{prompt:?}");
    }
    assert_eq!(cache.len(), 4);
}

#[test]
fn say_errors_are_clear() {
    require_espeak();
    let cache = PromptCache::new();
    let error = cache
        .load(&say("Hello", Some("xx-zz")), &flows(), Law::Ulaw)
        .unwrap_err();
    assert!(matches!(error, PromptError::EspeakFailed { .. }), "{error}");
    assert!(error.to_string().contains("voice"), "{error}");
    let error = cache
        .load(&say("Hello", Some("en; rm -rf /")), &flows(), Law::Ulaw)
        .unwrap_err();
    assert!(matches!(error, PromptError::Language(_)), "{error}");
    for bad in ["en++f3", "+f3", "en+", "en+f3+m2"] {
        let error = cache
            .load(&say("Hello", Some(bad)), &flows(), Law::Ulaw)
            .unwrap_err();
        assert!(matches!(error, PromptError::Language(_)), "{bad}: {error}");
    }
    // A voice variant speaks differently from the language's own voice.
    let plain = cache
        .load(&say("Hello", Some("en")), &flows(), Law::Ulaw)
        .unwrap();
    let variant = cache
        .load(&say("Hello", Some("en+f3")), &flows(), Law::Ulaw)
        .unwrap();
    assert_ne!(plain.as_slice(), variant.as_slice());
    let error = cache
        .load(&say("  ", None), &flows(), Law::Ulaw)
        .unwrap_err();
    assert!(matches!(error, PromptError::EmptyText), "{error}");
    assert_eq!(cache.len(), 2, "only the two voices were cached");
    // A time limit too short for any synthesis.
    let hasty = PromptCache::with_say_timeout(Duration::ZERO);
    let error = hasty
        .load(&say("Hello", None), &flows(), Law::Ulaw)
        .unwrap_err();
    assert!(matches!(error, PromptError::EspeakTimeout(..)), "{error}");
}

#[test]
fn a_missing_espeak_ng_names_the_package() {
    let message = PromptError::EspeakMissing.to_string();
    assert!(
        message.contains("not installed") && message.contains("Debian package `espeak-ng`"),
        "{message}"
    );
}

#[test]
fn silence_tones_and_beeps() {
    for law in Law::ALL {
        let silence = prompt::silence(law, Duration::from_millis(1_010));
        assert_eq!(silence.len(), 51, "rounded up to whole frames");
        assert!(
            silence
                .as_slice()
                .iter()
                .flatten()
                .all(|&b| b == law.silence())
        );

        let beep = prompt::beep(law);
        assert_eq!(beep.duration(), Duration::from_millis(400));
        let samples = beep.to_samples();
        let level = amplitude(&samples[400..2_800], 1_000.0, 8_000.0) / 32_767.0;
        assert!((level - 0.5).abs() < 0.02, "{law:?}: {level}");
        // Faded in over 5 ms: no click at the start.
        assert!(
            samples[..8].iter().all(|x| x.abs() < 3_300),
            "{:?}",
            &samples[..8]
        );
        assert!(samples[samples.len() - 8..].iter().all(|x| x.abs() < 3_300));

        // A dual tone (DTMF 1: 697 + 1209 Hz) for the test caller.
        let one =
            prompt::tone(law, &[697.0, 1_209.0], 0.8, Duration::from_millis(100)).to_samples();
        for frequency in [697.0, 1_209.0] {
            let level = amplitude(&one[40..760], frequency, 8_000.0) / 32_767.0;
            assert!((level - 0.4).abs() < 0.03, "{frequency} Hz: {level}");
        }
        assert!(amplitude(&one[40..760], 941.0, 8_000.0) < 500.0);
    }
}

#[test]
fn frames_pad_the_last_frame_with_silence() {
    let frames = Frames::from_samples(Law::Alaw, &[1_000; 161]);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames.get(1).unwrap()[0], Law::Alaw.encode(1_000));
    assert_eq!(frames.get(1).unwrap()[1..], [Law::Alaw.silence(); 159]);
    assert!(frames.get(2).is_none());
    assert!(Frames::from_samples(Law::Ulaw, &[]).is_empty());
}
