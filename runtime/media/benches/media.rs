//! The media path's cost, on one thread.
//!
//! `cargo bench -p dialect-media --bench media` measures:
//! (a) sending one 20 ms frame: G.711 encoding of 160 samples and the RTP
//!     packet around it (the path of generated or mixed audio);
//! (b) sending one 20 ms frame of a prompt: the playout cursor and the RTP
//!     packet (prompts are stored as G.711, so nothing is encoded);
//! (c) receiving one frame: parsing the RTP packet and decoding its payload;
//! and from (a) + (c), and (b) + (c), the CPU that 1,000 concurrent calls
//! take, each sending and receiving 50 frames a second;
//! (d) converting a prompt: a 10 s 44.1 kHz stereo 16-bit WAV through the
//!     prompt cache (decoded, downmixed, resampled, encoded in both laws).
//!
//! Sockets are not included: the syscalls belong to the server crate. Without
//! `--bench` (as `cargo test --benches` runs it) every figure is taken on a
//! few frames only.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_bytecode::Prompt;
use dialect_media::rtp::PACKET_LEN;
use dialect_media::{
    FRAME_SAMPLES, FRAMES_PER_SECOND, Law, Packet, Playout, PromptCache, RtpSender,
};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLS: f64 = 1_000.0;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let frames = if full { 5_000_000 } else { 5_000 };
    let conversions = if full { 5 } else { 1 };

    let audio = speech_like(50 * FRAME_SAMPLES, 8_000.0);
    let audio: Vec<[i16; FRAME_SAMPLES]> = audio
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| c.try_into().unwrap())
        .collect();

    println!("media path, one thread, {frames} frames per figure");
    for law in Law::ALL {
        let send = send_encoded(law, &audio, frames);
        let prompt = send_prompt(law, &audio, frames);
        let receive = receive(law, &audio, frames);
        println!("{} ({}):", law.encoding_name(), law.payload_type());
        println!("  (a) encode + packetise      {send:7.1} ns/frame");
        println!("  (b) prompt + packetise      {prompt:7.1} ns/frame");
        println!("  (c) parse + decode          {receive:7.1} ns/frame");
        for (label, out) in [("a+c", send), ("b+c", prompt)] {
            let per_call_second = (out + receive) * f64::from(FRAMES_PER_SECOND);
            let busy = per_call_second * CALLS / 1e9;
            println!(
                "  {label}, 50 frames each way: {:.2} µs per call-second; 1,000 calls: {:.2} ms of CPU per second = {:.2} % of one core",
                per_call_second / 1e3,
                busy * 1e3,
                busy * 100.0
            );
        }
    }

    let (conversion, audio_length) = convert(conversions);
    println!(
        "(d) prompt conversion, 10 s WAV 44.1 kHz stereo 16-bit -> G.711 both laws: {:.1} ms (best of {conversions}), {:.0}x real time",
        conversion.as_secs_f64() * 1e3,
        audio_length.as_secs_f64() / conversion.as_secs_f64()
    );
    if !full {
        println!("(a smoke run: the figures mean little; use cargo bench)");
    }
}

/// A speech-like test signal: a few harmonics with a wobbling envelope.
fn speech_like(len: usize, rate: f64) -> Vec<i16> {
    (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            let envelope = 0.5 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            let voice: f64 = [(140.0, 0.5), (280.0, 0.3), (700.0, 0.15), (2_400.0, 0.05)]
                .iter()
                .map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (voice * envelope * 20_000.0) as i16
        })
        .collect()
}

/// Nanoseconds per iteration of `step`, run `n` times after a warm-up.
fn time(n: usize, mut step: impl FnMut(usize)) -> f64 {
    for i in 0..n.min(10_000) {
        step(i);
    }
    let start = Instant::now();
    for i in 0..n {
        step(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn send_encoded(law: Law, audio: &[[i16; FRAME_SAMPLES]], n: usize) -> f64 {
    let mut sender = RtpSender::new(0x1234_5678, 0, 0, law.payload_type());
    let mut payload = [0u8; FRAME_SAMPLES];
    time(n, |i| {
        law.encode_frame(black_box(&audio[i % audio.len()]), &mut payload);
        black_box(sender.frame(&payload));
    })
}

fn send_prompt(law: Law, audio: &[[i16; FRAME_SAMPLES]], n: usize) -> f64 {
    let samples: Vec<i16> = audio.iter().flatten().copied().collect();
    let frames = Arc::new(dialect_media::Frames::from_samples(law, &samples));
    let mut playout = Playout::looping(frames);
    let mut sender = RtpSender::new(0x1234_5678, 0, 0, law.payload_type());
    time(n, |_| {
        let frame = playout.next_frame().unwrap();
        black_box(sender.frame(frame));
    })
}

fn receive(law: Law, audio: &[[i16; FRAME_SAMPLES]], n: usize) -> f64 {
    let mut sender = RtpSender::new(0x8765_4321, 0, 0, law.payload_type());
    let packets: Vec<[u8; PACKET_LEN]> = audio
        .iter()
        .map(|samples| {
            let mut payload = [0u8; FRAME_SAMPLES];
            law.encode_frame(samples, &mut payload);
            *sender.frame(&payload)
        })
        .collect();
    let mut out = [0i16; FRAME_SAMPLES];
    time(n, |i| {
        let packet = Packet::parse(black_box(&packets[i % packets.len()])).unwrap();
        let payload: &[u8; FRAME_SAMPLES] = packet.payload.try_into().unwrap();
        Law::from_payload_type(packet.payload_type)
            .unwrap()
            .decode_frame(payload, &mut out);
        black_box(&out);
    })
}

/// The best time to load a 10 s 44.1 kHz stereo WAV through a fresh cache.
fn convert(runs: usize) -> (Duration, Duration) {
    let dir = std::env::temp_dir().join(format!("dialect-media-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("prompt.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for sample in speech_like(441_000, 44_100.0) {
        writer.write_sample(sample).unwrap();
        writer.write_sample(sample / 2).unwrap();
    }
    writer.finalize().unwrap();
    let prompt = Prompt::Play {
        path: "prompt.wav".to_owned(),
    };
    let mut best = Duration::MAX;
    let mut length = Duration::ZERO;
    for _ in 0..runs {
        let cache = PromptCache::new();
        let start = Instant::now();
        let frames = cache.load(&prompt, &dir, Law::Alaw).unwrap();
        best = best.min(start.elapsed());
        length = frames.duration();
    }
    std::fs::remove_dir_all(&dir).unwrap();
    (best, length)
}
