//! Bytes from a hostile filter into the MTA-side session: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use milter::{ClientEvent, ClientOptions, ClientSession, Stage};

fuzz_target!(|data: &[u8]| {
    let mut client = ClientSession::new(ClientOptions { max_frame: 1 << 16, ..ClientOptions::default() });
    client.optneg();
    client.receive(data);
    for round in 0usize.. {
        match client.next_reply() {
            Ok(Some(ClientEvent::Negotiated(_) | ClientEvent::Reply(_))) => {}
            Ok(None) | Err(_) => break,
        }
        let _ = client.requested_macros(Stage::EnvFrom);
        // Keep commands in flight so replies have something to answer.
        match round % 4 {
            0 => client.end_of_message(),
            1 => client.body(b"line\r\n"),
            2 => client.header(b"Subject", b" x"),
            _ => client.mail(&[b"<a@example.org>"]),
        }
    }
    let _ = client.output();
});
