//! Bytes from a hostile MTA into the filter-side session: never panic, never loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use milter::{Actions, ProtocolFlags, Reply, ServerOptions, ServerSession, Stage};

/// Postfix's OPTNEG, so most inputs get past negotiation.
const POSTFIX_OPTNEG: &[u8] = b"\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff";

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else { return };
    let mut session = ServerSession::new(ServerOptions {
        actions: Actions::ADD_HEADERS | Actions::CHANGE_HEADERS,
        protocol: ProtocolFlags::from_bits_truncate(u32::from(control) << 4 | u32::from(control) << 12),
        macros: vec![(Stage::Connect, "j {daemon_name}".into()), (Stage::EnvFrom, "i".into())],
        max_frame: 1 << 16,
    });
    if control & 1 == 0 {
        session.receive(POSTFIX_OPTNEG);
    }
    // Feed in two pieces to exercise reassembly.
    let split = usize::from(control >> 1).min(data.len());
    let (head, tail) = data.split_at(split);
    for piece in [head, tail] {
        session.receive(piece);
        loop {
            match session.next_event() {
                Ok(Some(_)) => {
                    if session.expects_reply() {
                        session.reply(Reply::Continue);
                    }
                    let _ = session.macro_value("{i}");
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        let _ = session.output();
    }
});
