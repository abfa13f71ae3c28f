//! The SIP/RTP front end on arbitrary datagrams: parsing, answering a bad
//! request, stream framing, SDP, RTP and RFC 4733 parsing must never panic,
//! and whatever parses must serialise and parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match dialect_sip::parse(data) {
        Ok(message) => {
            let bytes = dialect_sip::serialize(&message);
            assert!(dialect_sip::parse(&bytes).is_ok(), "a serialised message parses again");
            let _ = dialect_sip::sdp::parse(message.body());
        }
        Err(error) => {
            let _ = dialect_sip::message::error_response(data, &error);
        }
    }
    let mut framer = dialect_sip::message::TcpFramer::new();
    for chunk in data.chunks(7) {
        if framer.push(chunk).is_err() {
            break;
        }
        while let Ok(Some(_)) = framer.poll_message() {}
    }
    if let Ok(packet) = dialect_media::rtp::Packet::parse(data) {
        let mut receiver = dialect_media::DtmfReceiver::new();
        let _ = receiver.receive(&packet);
    }
});
