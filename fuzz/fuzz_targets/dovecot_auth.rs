//! Bytes from a hostile auth client into the Dovecot auth session: never panic, never loop;
//! every Verify is answered with fail, every output line is complete.
//!
//! The first byte picks options; its top bit switches the rest of the input from raw bytes
//! to token mode (each byte picks a protocol word), so the fuzzer reaches the mechanisms
//! without having to guess `service=smtp` and valid base64 first.
#![no_main]

use dovecot_auth::{AuthSession, Event, SessionOptions};
use libfuzzer_sys::fuzz_target;

/// Postfix's handshake, so most inputs get past it.
const POSTFIX_HANDSHAKE: &[u8] = b"VERSION\t1\t2\nCPID\t4242\n";

#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"\t", b"\t", b"\t", b"\n", b"\n", b"AUTH\t", b"CONT\t", b"VERSION\t1\t", b"CPID\t",
    b"1", b"2", b"3", b"0", b"4294967296", b"PLAIN", b"LOGIN", b"login", b"XOAUTH2",
    b"service=smtp", b"secured", b"nologin", b"transport=TLS", b"resp=", b"resp==",
    b"lip=192.0.2.1", b"rip=2001:db8::1", b"rport=25", b"rip=x", b"AGFsaWNlAHNlY3JldA==",
    b"YWxpY2UAYWxpY2UAcGFzcw==", b"Ym9iAGFsaWNlAHg=", b"YWxpY2U=", b"c2VjcmV0", b"AA",
    b"=", b"*", b"\x01", b"\x01t", b"\r", b"\0",
];

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let mut options = SessionOptions::new(1, 2, [0x5a; 16]);
    options.plaintext_requires_secured = control & 2 != 0;
    options.max_line = 64 << (control >> 5 & 3);
    options.max_requests = usize::from(control >> 2 & 7);
    let mut session = AuthSession::new(options);
    if control & 1 == 0 {
        session.receive(POSTFIX_HANDSHAKE);
    }
    let input: Vec<u8> = if control & 0x80 != 0 {
        data.iter()
            .flat_map(|&b| TOKENS[usize::from(b) % TOKENS.len()].iter().copied())
            .collect()
    } else {
        data.to_vec()
    };
    // Feed in two pieces to exercise line reassembly.
    let split = usize::from(control).min(input.len());
    let (head, tail) = input.split_at(split);
    for piece in [head, tail] {
        session.receive(piece);
        loop {
            match session.next_event() {
                Ok(Some(Event::Verify { id, .. })) => {
                    assert!(session.fail(id, Some("fuzz")).is_ok());
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        let output = session.output();
        assert!(output.is_empty() || output.ends_with(b"\n"));
    }
});
