//! Every packet that parses as a command or a reply re-encodes to bytes that parse to the
//! same value, and framing returns exactly what was framed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use milter::Command;
use milter::Reply;
use milter::frame::{self, FrameReader};

fn reframe(code: u8, payload: &[u8]) -> frame::Packet {
    let mut bytes = Vec::new();
    frame::encode(code, payload, &mut bytes);
    let mut reader = FrameReader::new(usize::MAX);
    reader.push(&bytes);
    let Ok(Some(packet)) = reader.next_packet() else { panic!("framed packet did not decode") };
    assert_eq!(reader.buffered(), 0);
    assert_eq!((packet.code, packet.payload.as_slice()), (code, payload));
    packet
}

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new(1 << 16);
    reader.push(data);
    while let Ok(Some(packet)) = reader.next_packet() {
        reframe(packet.code, &packet.payload);
        if let Ok(command) = Command::parse(packet.code, &packet.payload) {
            let mut bytes = Vec::new();
            command.encode_payload(&mut bytes);
            let again = reframe(command.code(), &bytes);
            assert_eq!(Command::parse(again.code, &again.payload).as_ref(), Ok(&command));
        }
        if let Ok(reply) = Reply::parse(packet.code, &packet.payload) {
            let mut bytes = Vec::new();
            reply.encode_payload(&mut bytes);
            let again = reframe(reply.code(), &bytes);
            assert_eq!(Reply::parse(again.code, &again.payload).as_ref(), Ok(&reply));
        }
    }
});
