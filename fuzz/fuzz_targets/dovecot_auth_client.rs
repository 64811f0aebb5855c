//! Bytes from a hostile auth server into the Dovecot auth client, with SMTP AUTH exchanges
//! running over it: never panic, never loop; only complete AUTH/CONT lines go to the server,
//! only base64 reaches a 334, only clean user names and printable reasons come out.
//!
//! The first byte picks limits and how the server bytes are split; its top bit switches the
//! rest of the input from raw bytes to token mode (each byte picks a protocol word), so the
//! fuzzer reaches the replies without having to guess a whole handshake first. The second
//! byte drives the SMTP client's answers.
#![no_main]

use dovecot_auth::client::{
    AuthClient, AuthParams, ClientEvent, ClientOptions, SmtpAuth, SmtpAuthStep,
};
use libfuzzer_sys::fuzz_target;

/// Dovecot 2.3's handshake, so most token-mode inputs get past it.
const DOVECOT_HANDSHAKE: &[u8] =
    b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t1\nCUID\t2\n\
      COOKIE\t00112233445566778899aabbccddeeff\nDONE\n";

#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"\t", b"\t", b"\t", b"\n", b"\n", b"\n", b"OK\t", b"CONT\t", b"FAIL\t", b"MECH\t",
    b"DONE", b"VERSION\t1\t2", b"SPID\t", b"CUID\t", b"COOKIE\t", b"1", b"2", b"3", b"4", b"0",
    b"4294967296", b"user=alice", b"user=", b"user=a\x01nb", b"reason=no", b"reason=\x01r",
    b"code=temp_fail", b"code=authz_fail", b"temp", b"authz", b"resp=", b"resp=AA==",
    b"resp=!", b"pass=x", b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6", b"", b"=", b"!!", b"\x01",
    b"\x01n", b"\r", b"PLAIN", b"LOGIN", b"plaintext", b"private", b"anonymous",
];

fn is_base64(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

fn check_to_server(bytes: &[u8]) {
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
    for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        assert!(
            [&b"VERSION\t"[..], b"CPID\t", b"AUTH\t", b"CONT\t"]
                .iter()
                .any(|start| line.starts_with(start))
        );
        assert!(!line.contains(&b'\r'));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let Some((&answers, data)) = data.split_first() else {
        return;
    };
    let mut options = ClientOptions::new(4242);
    options.max_line = 48 << (control >> 5 & 3);
    options.max_requests = usize::from(control >> 2 & 7);
    let mut client = AuthClient::new(options);
    check_to_server(&client.output());
    let mut input = Vec::new();
    if control & 1 == 0 {
        input.extend_from_slice(DOVECOT_HANDSHAKE);
    }
    if control & 0x80 != 0 {
        input.extend(
            data.iter()
                .flat_map(|&b| TOKENS[usize::from(b) % TOKENS.len()].iter().copied()),
        );
    } else {
        input.extend_from_slice(data);
    }
    let mut exchanges: Vec<SmtpAuth> = Vec::new();
    let mut answer = usize::from(answers);
    let mut params = AuthParams::new("smtp");
    params.secured = control & 2 != 0;
    // Feed in two pieces to exercise line reassembly.
    let split = (usize::from(control) * 3).min(input.len());
    let (head, tail) = input.split_at(split);
    for piece in [head, tail] {
        client.receive(piece);
        loop {
            let event = match client.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) => {
                    assert!(!client.is_ready());
                    return;
                }
            };
            let mut steps = Vec::new();
            match event {
                ClientEvent::Ready => {
                    for (mechanism, initial) in [
                        ("PLAIN", Some("AGFsaWNlAHNlY3JldA==")),
                        ("LOGIN", None),
                        ("login", Some("=")),
                        ("CRAM-MD5", None),
                    ] {
                        let (exchange, step) =
                            SmtpAuth::start(&mut client, mechanism, initial, &params);
                        exchanges.push(exchange);
                        steps.push((exchanges.len() - 1, step));
                    }
                }
                ClientEvent::Reply(reply) => {
                    let index = exchanges.iter().position(|e| e.id() == Some(reply.id));
                    if let Some(index) = index
                        && let Ok(step) = exchanges[index].on_reply(reply)
                    {
                        steps.push((index, step));
                    }
                }
            }
            while let Some((index, step)) = steps.pop() {
                match step {
                    SmtpAuthStep::ToServer(bytes) => check_to_server(bytes.expose()),
                    SmtpAuthStep::Challenge(text) => {
                        assert!(is_base64(&text));
                        answer = answer.wrapping_mul(31).wrapping_add(7);
                        let response = ["YWxpY2U=", "", "!", "=", "*"][answer % 5];
                        if answer % 11 == 0 {
                            exchanges[index].cancel(&mut client);
                        } else if let Ok(step) =
                            exchanges[index].on_response(&mut client, response)
                        {
                            steps.push((index, step));
                        }
                    }
                    SmtpAuthStep::Authenticated(success) => {
                        assert!(!success.user.is_empty());
                        assert!(!success.user.chars().any(char::is_control));
                        assert!(exchanges[index].is_finished());
                    }
                    SmtpAuthStep::Failed(failure) => {
                        let reason = failure.reason().unwrap_or_default();
                        assert!(reason.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
                        assert!(exchanges[index].is_finished());
                    }
                }
            }
            assert!(client.in_progress() <= 7);
        }
        check_to_server(&client.output());
    }
});
