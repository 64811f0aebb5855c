//! Random input must never panic either side: plain noise, and noise inside valid framing
//! after a valid negotiation so it reaches the command and reply parsers.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use milter::{
    Actions, ClientEvent, ClientOptions, ClientSession, OptNeg, ProtocolFlags, Reply,
    ServerOptions, ServerSession, Stage,
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

const COMMANDS: &[u8] = b"ABCDEHKLMNOQRTU";
const REPLIES: &[u8] = b"+-24abcdefhilmpqrsty";

/// Random packets with a correct length prefix, codes mostly from `codes`, payloads often
/// built from NULs and short strings so the parsers get past their first field.
fn framed_noise(rng: &mut Rng, codes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(8) {
        let code = if rng.below(10) == 0 {
            rng.next() as u8
        } else {
            codes[rng.below(codes.len())]
        };
        let mut payload = Vec::new();
        for _ in 0..rng.below(6) {
            match rng.below(4) {
                0 => payload.push(0),
                1 => {
                    let len = rng.below(6);
                    payload.extend_from_slice(&rng.bytes(len));
                }
                2 => payload.extend_from_slice(b"ab\0"),
                _ => payload.extend_from_slice(&(rng.next() as u32 % 8).to_be_bytes()),
            }
        }
        let length = u32::try_from(payload.len() + 1).unwrap();
        out.extend_from_slice(&length.to_be_bytes());
        out.push(code);
        out.extend_from_slice(&payload);
    }
    out
}

fn drive_server(input: &[u8], rng: &mut Rng) {
    let mut server = ServerSession::new(ServerOptions {
        actions: Actions::all(),
        protocol: ProtocolFlags::from_bits_truncate(rng.next() as u32),
        macros: vec![(Stage::Connect, "j".into())],
        max_frame: 1 + rng.below(1 << 12),
    });
    let mut rest = input;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(1 + rng.below(rest.len()));
        rest = tail;
        server.receive(head);
        loop {
            match server.next_event() {
                Ok(Some(_)) => {
                    if server.expects_reply() {
                        server.reply(Reply::Continue);
                    }
                    let _ = server.macro_value("{j}");
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        server.output();
    }
}

fn drive_client(input: &[u8], rng: &mut Rng) {
    let mut client = ClientSession::new(ClientOptions {
        max_frame: 1 + rng.below(1 << 12),
        ..ClientOptions::default()
    });
    client.optneg();
    client.receive(input);
    for round in 0.. {
        match client.next_reply() {
            Ok(Some(ClientEvent::Negotiated(_) | ClientEvent::Reply(_))) => {}
            Ok(None) | Err(_) => break,
        }
        match round % 5 {
            0 => client.end_of_message(),
            1 => client.body(b"x\r\n"),
            2 => client.header(b"a", b" b"),
            3 => client.rcpt(&[b"<r>"]),
            _ => client.connect(b"h", None),
        }
    }
    client.output();
}

fn server_preamble() -> Vec<u8> {
    b"\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff".to_vec()
}

fn client_preamble(rng: &mut Rng) -> Vec<u8> {
    let mut payload = Vec::new();
    OptNeg {
        version: 6,
        actions: Actions::from_bits_truncate(rng.next() as u32),
        protocol: ProtocolFlags::from_bits_truncate(rng.next() as u32)
            & ClientOptions::default().protocol,
        macros: vec![],
    }
    .encode_payload(&mut payload);
    let mut out = u32::try_from(payload.len() + 1)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    out.push(b'O');
    out.extend_from_slice(&payload);
    out
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let noise = rng.bytes(len);
        drive_server(&noise, &mut rng);
        drive_client(&noise, &mut rng);

        let mut input = server_preamble();
        input.extend(framed_noise(&mut rng, COMMANDS));
        drive_server(&input, &mut rng);

        let mut input = client_preamble(&mut rng);
        input.extend(framed_noise(&mut rng, REPLIES));
        drive_client(&input, &mut rng);
    }
}
