//! The media path allocates nothing per packet: counted, not assumed.
//!
//! This test binary's global allocator counts the allocations of each
//! thread (a thread-local counter, so tests running in parallel do not
//! disturb one another). Implementing `GlobalAlloc` needs `unsafe`, which
//! the workspace denies; it is allowed here, in a test, and only forwards
//! to the system allocator.
#![allow(unsafe_code)]

use dialect_media::dtmf::DtmfSender;
use dialect_media::{
    DtmfReceiver, FRAME_SAMPLES, Law, Packet, Playout, Recorder, RtpSender, prompt,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the counter may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_media_path_allocates_nothing_per_packet() {
    let law = Law::Ulaw;
    let frames = Arc::new(prompt::tone(law, &[440.0], 0.5, Duration::from_millis(200)));
    let mut playout = Playout::looping(Arc::clone(&frames));
    let mut sender = RtpSender::new(1, 2, 3, law.payload_type());
    let mut receiver = DtmfReceiver::new();
    let presses: Vec<_> = DtmfSender::new('5', 0, Duration::from_millis(100))
        .unwrap()
        .collect();
    let path = crate::scratch("per-packet").join("call.wav");
    let mut recorder = Recorder::create(&path, law, Duration::from_secs(60)).unwrap();
    // The recorder sizes its sample buffer on the first frame: warm it up.
    recorder.push(&[law.silence(); FRAME_SAMPLES]).unwrap();
    let samples = [1_000i16; FRAME_SAMPLES];
    let mut payload = [0u8; FRAME_SAMPLES];
    let mut decoded = [0i16; FRAME_SAMPLES];
    let mut event = [0u8; 16];
    let mut keys = 0;
    let master = [7u8; dialect_media::srtp::INLINE];
    let (mut protect, mut unprotect) = (
        dialect_media::srtp::Context::new(&master),
        dialect_media::srtp::Context::new(&master),
    );
    let mut secure = [0u8; dialect_media::rtp::PACKET_LEN + dialect_media::srtp::TAG];

    let counted = allocations(|| {
        for tick in 0..500 {
            // Out: a prompt frame, or encoded audio, packetised.
            let frame = *playout.next_frame().unwrap();
            let packet = *sender.frame(&frame);
            law.encode_frame(&samples, &mut payload);
            sender.frame(&payload);
            // SRTP, both ways.
            secure[..packet.len()].copy_from_slice(&packet);
            let len = protect.protect(&mut secure, packet.len()).unwrap();
            assert_eq!(unprotect.unprotect(&mut secure, len), Ok(packet.len()));
            // In: parse, decode, record.
            let incoming = Packet::parse(&packet).unwrap();
            let bytes: &[u8; FRAME_SAMPLES] = incoming.payload.try_into().unwrap();
            law.decode_frame(bytes, &mut decoded);
            recorder.push(incoming.payload).unwrap();
            // A telephone-event, sent and received.
            let press = presses[tick % presses.len()];
            let len = sender
                .write(
                    101,
                    press.marker,
                    press.timestamp,
                    &press.payload,
                    &mut event,
                )
                .unwrap();
            let incoming = Packet::parse(&event[..len]).unwrap();
            keys += usize::from(receiver.receive(&incoming).unwrap().is_some());
        }
        playout.stop();
    });
    assert_eq!(counted, 0, "allocations in 500 ticks of the media path");
    assert_eq!(keys, 1);
    recorder.finish().unwrap();
    // The counter does count.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}
