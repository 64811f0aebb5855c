//! Random server input must never panic the client, and whatever the server says, nothing
//! unsafe may come out: only complete `AUTH`/`CONT` lines to the server, only base64 in
//! `334` challenges, only clean user names. Plain noise, and noise made of protocol-looking
//! lines after a valid handshake, with SMTP exchanges running.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dovecot_auth::client::{
    AuthClient, AuthParams, ClientEvent, ClientOptions, SmtpAuth, SmtpAuthStep,
};

/// xorshift64*: enough randomness for this, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "OK", "CONT", "FAIL", "MECH", "DONE", "VERSION", "SPID", "1", "2", "3", "0", "4294967296",
    "user=alice", "user=", "reason=no", "code=temp_fail", "temp", "authz", "resp=", "resp=AA==",
    "VXNlcm5hbWU6", "", "=", "!!", "\x01", "\x01n", "\r", "PLAIN", "plaintext", "LOGIN",
];

const HANDSHAKE: &[u8] = b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nDONE\n";

/// A mostly well-formed reply for a small id, so exchanges really complete.
fn structured_line(rng: &mut Rng) -> Vec<u8> {
    const FIELDS: &[&str] = &[
        "user=alice",
        "user=bob\tx",
        "reason=no",
        "temp",
        "VXNlcm5hbWU6",
        "",
    ];
    let command = ["OK", "CONT", "FAIL"][rng.below(3)];
    let id = rng.below(4) + 1;
    let field = FIELDS[rng.below(FIELDS.len())];
    format!("{command}\t{id}\t{field}\n").into_bytes()
}

fn protocolish_line(rng: &mut Rng) -> Vec<u8> {
    if rng.below(2) == 0 {
        return structured_line(rng);
    }
    let mut line = Vec::new();
    for i in 0..rng.below(6) + 1 {
        if i > 0 {
            line.push(b'\t');
        }
        if rng.below(10) == 0 {
            let len = rng.below(10);
            line.extend(rng.bytes(len));
        } else {
            line.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
        }
    }
    line.push(b'\n');
    line
}

fn is_base64(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Checks what the client wants written: whole lines, only requests.
fn check_to_server(bytes: &[u8]) {
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
    for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        assert!(
            [&b"VERSION\t"[..], b"CPID\t", b"AUTH\t", b"CONT\t"]
                .iter()
                .any(|start| line.starts_with(start)),
            "{line:?}"
        );
        assert!(!line.contains(&b'\r'));
    }
}

/// Feeds `input` in random pieces while up to three exchanges run; returns how many
/// exchanges ended authenticated.
fn run(rng: &mut Rng, input: &[u8]) -> usize {
    let mut options = ClientOptions::new(7);
    options.max_line = 16 + rng.below(120);
    options.max_requests = rng.below(5);
    let mut client = AuthClient::new(options);
    check_to_server(&client.output());
    let mut exchanges: Vec<SmtpAuth> = Vec::new();
    let mut authenticated = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let take = (rng.below(48) + 1).min(rest.len());
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        client.receive(piece);
        loop {
            let event = match client.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) => return authenticated,
            };
            let mut steps = Vec::new();
            match event {
                ClientEvent::Ready => {
                    for (mechanism, initial) in [
                        ("PLAIN", Some("AGEAYg==")),
                        ("LOGIN", None),
                        ("login", Some("=")),
                    ] {
                        let (exchange, step) = SmtpAuth::start(
                            &mut client,
                            mechanism,
                            initial,
                            &AuthParams::new("smtp"),
                        );
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
                        assert!(is_base64(&text), "{text:?}");
                        let response = ["YWxpY2U=", "", "!", "="][rng.below(4)];
                        if let Ok(step) = exchanges[index].on_response(&mut client, response) {
                            steps.push((index, step));
                        }
                    }
                    SmtpAuthStep::Authenticated(success) => {
                        assert!(!success.user.is_empty());
                        assert!(!success.user.chars().any(char::is_control));
                        authenticated += 1;
                    }
                    SmtpAuthStep::Failed(failure) => {
                        let reason = failure.reason().unwrap_or_default();
                        assert!(reason.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
                    }
                }
            }
        }
        check_to_server(&client.output());
    }
    authenticated
}

#[test]
fn noise_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = rng.below(400);
        let mut input = if rng.below(2) == 0 {
            HANDSHAKE.to_vec()
        } else {
            Vec::new()
        };
        input.extend(rng.bytes(len));
        run(&mut rng, &input);
    }
}

#[test]
fn protocol_shaped_noise_never_panics() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut authenticated = 0;
    for _ in 0..5000 {
        let mut input = HANDSHAKE.to_vec();
        for _ in 0..rng.below(12) {
            input.extend(protocolish_line(&mut rng));
        }
        authenticated += run(&mut rng, &input);
    }
    // The noise must get deep enough to complete some exchanges.
    assert!(
        authenticated > 10,
        "only {authenticated} exchanges authenticated"
    );
}
