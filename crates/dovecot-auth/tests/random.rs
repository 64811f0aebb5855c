//! Random input must never panic the session, and escaping must round-trip: plain noise,
//! and noise made of protocol-looking lines after a valid handshake.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dovecot_auth::{AuthSession, Event, SessionOptions, escape};

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

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

#[rustfmt::skip]
const WORDS: &[&[u8]] = &[
    b"AUTH", b"CONT", b"VERSION", b"CPID", b"1", b"2", b"0", b"4294967296", b"PLAIN", b"LOGIN",
    b"plain", b"service=smtp", b"secured", b"nologin", b"resp=", b"resp=AGEAYg==", b"resp=YQ==",
    b"rip=192.0.2.1", b"lip=::1", b"rip=bogus", b"AGFsaWNlAHNlY3JldA==", b"YWxpY2U=", b"=",
    b"*", b"\x01", b"\x01t", b"", b"\r",
];

/// A mostly well-formed AUTH or CONT line with small ids, so requests really complete.
fn structured_line(rng: &mut Rng) -> Vec<u8> {
    const PAYLOADS: &[&[u8]] = &[
        b"AGFsaWNlAHNlY3JldA==",
        b"YWxpY2U=",
        b"c2VjcmV0",
        b"",
        b"=",
        b"!!",
        b"AA==",
    ];
    let id = rng.below(4) + 1;
    let payload = String::from_utf8(rng.pick(PAYLOADS).to_vec()).unwrap();
    let line = if rng.below(2) == 0 {
        let mechanism = ["PLAIN", "LOGIN", "login", "CRAM-MD5"][rng.below(4)];
        let secured = ["", "\tsecured"][rng.below(2)];
        let resp = if rng.below(2) == 0 {
            String::new()
        } else {
            format!("\tresp={payload}")
        };
        format!("AUTH\t{id}\t{mechanism}\tservice=smtp\trip=192.0.2.{id}{secured}{resp}\n")
    } else {
        format!("CONT\t{id}\t{payload}\n")
    };
    line.into_bytes()
}

fn protocolish_line(rng: &mut Rng) -> Vec<u8> {
    if rng.below(2) == 0 {
        return structured_line(rng);
    }
    let mut line = Vec::new();
    for i in 0..rng.below(8) {
        if i > 0 {
            line.push(b'\t');
        }
        if rng.below(8) == 0 {
            let len = rng.below(12);
            line.extend(rng.bytes(len));
        } else {
            line.extend_from_slice(rng.pick(WORDS));
        }
    }
    line.push(b'\n');
    line
}

/// Feeds `input` in random pieces, answering every Verify alternately ok and fail; returns
/// the number of Verify events.
fn run(rng: &mut Rng, session: &mut AuthSession, input: &[u8]) -> usize {
    let mut verified = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let take = (rng.below(64) + 1).min(rest.len());
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        session.receive(piece);
        loop {
            match session.next_event() {
                Ok(Some(Event::Verify { id, username, .. })) => {
                    verified += 1;
                    if id % 2 == 0 {
                        session.ok(id, &username).unwrap();
                    } else {
                        session.fail(id, Some("no")).unwrap();
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return verified,
            }
        }
        let output = session.output();
        // Every line the server writes is complete.
        assert!(output.is_empty() || output.ends_with(b"\n"));
    }
    verified
}

fn options(rng: &mut Rng) -> SessionOptions {
    let mut options = SessionOptions::new(1, 2, [3; 16]);
    options.plaintext_requires_secured = rng.below(2) == 0;
    options.max_line = 16 + rng.below(300);
    options.max_requests = rng.below(4);
    options
}

#[test]
fn noise_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = rng.below(400);
        let noise = rng.bytes(len);
        let mut session = AuthSession::new(options(&mut rng));
        let _ = run(&mut rng, &mut session, &noise);
    }
}

#[test]
fn protocol_shaped_noise_never_panics() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut verified = 0;
    for _ in 0..3000 {
        let mut session = AuthSession::new(options(&mut rng));
        let mut input = b"VERSION\t1\t2\nCPID\t42\n".to_vec();
        for _ in 0..rng.below(12) {
            input.extend(protocolish_line(&mut rng));
        }
        verified += run(&mut rng, &mut session, &input);
    }
    // The noise must get deep enough to complete some logins.
    assert!(verified > 10, "only {verified} Verify events");
}

#[test]
fn escaping_round_trips() {
    let mut rng = Rng(42);
    for _ in 0..5000 {
        let len = rng.below(40);
        // Bias towards the special bytes.
        let value: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => *rng
                    .pick(&[b"\0", b"\x01", b"\t", b"\r", b"\n"])
                    .first()
                    .unwrap(),
                _ => rng.next() as u8,
            })
            .collect();
        let escaped = escape::escape(&value);
        assert!(
            !escaped
                .iter()
                .any(|b| matches!(b, b'\t' | b'\n' | b'\r' | 0))
        );
        assert_eq!(escape::unescape(&escaped), value);
    }
}
