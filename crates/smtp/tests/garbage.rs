//! Random input never panics, never loops, keeps memory bounded, and every reply is a
//! well-formed reply line. A xorshift generator keeps runs reproducible.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtp::{BareLfInCommands, BareLineEndsInData, Event, Reply, ServerSession, Settings};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments that reach deep states, mixed with raw noise.
const TOKENS: &[&[u8]] = &[
    b"EHLO x\r\n",
    b"LHLO x\r\n",
    b"HELO x\r\n",
    b"MAIL FROM:<a@b.c>\r\n",
    b"MAIL FROM:<> SMTPUTF8 BODY=8BITMIME SIZE=10\r\n",
    b"RCPT TO:<d@e.f>\r\n",
    b"RCPT TO:<@x,@y:\"q@r\"@[IPv6:::1]>\r\n",
    b"DATA\r\n",
    b"BDAT 7\r\n",
    b"BDAT 3 LAST\r\n",
    b"RSET\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH PLAIN dGVzdA==\r\n",
    b"*\r\n",
    b"\r\n.\r\n",
    b"\n.\n",
    b"\r.\r\n",
    b".\r\n",
    b"..\r\n",
    b"\r",
    b"\n",
    b".",
    b"NOOP\r\n",
    b"VRFY x\r\n",
    b"QUIT\r\n",
];

fn settings(rng: &mut XorShift) -> Settings {
    let mut settings = if rng.below(2) == 0 {
        Settings::smtp("mx.example.org")
    } else {
        Settings::lmtp("lmtp.example.org")
    };
    settings.max_line_length = [16, 64, 512][rng.below(3)];
    settings.max_recipients = 1 + rng.below(4);
    settings.max_message_size = [None, Some(0), Some(50)][rng.below(3)];
    settings.max_errors = [0, 5, 100][rng.below(3)] as u32;
    settings.extensions.starttls = rng.below(2) == 0;
    settings.extensions.dsn = rng.below(2) == 0;
    settings.extensions.binarymime = rng.below(2) == 0;
    settings.auth_mechanisms = vec!["PLAIN".into()];
    settings.auth_requires_tls = rng.below(2) == 0;
    if rng.below(2) == 0 {
        settings.bare_lf_in_commands = BareLfInCommands::AcceptAsLineEnd;
    }
    if rng.below(2) == 0 {
        settings.bare_line_ends_in_data = BareLineEndsInData::Reject;
    }
    settings
}

fn answer(rng: &mut XorShift, session: &mut ServerSession, event: &Event) {
    if !event.needs_reply() {
        return;
    }
    let result = match rng.below(4) {
        0 => session.reply(Reply::unknown_user()),
        1 => session.reply(Reply::auth_challenge("")),
        2 if matches!(event, Event::DataEnd { .. }) => {
            let count = session.recipients().len();
            session.reply_per_recipient(vec![Reply::quota_exceeded(); count])
        }
        _ => session.accept(),
    };
    // LMTP counts differ in SMTP: a WrongCount is an acceptable refusal, then accept.
    if result.is_err() {
        session.accept().unwrap();
    }
}

fn check_output(output: &[u8]) {
    if output.is_empty() {
        return;
    }
    assert!(output.ends_with(b"\r\n"));
    for line in output.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        assert!(line.ends_with(b"\r"), "{line:?}");
        assert!(line.len() >= 5, "{line:?}");
        assert!(line[..3].iter().all(u8::is_ascii_digit), "{line:?}");
        assert!(line[3] == b' ' || line[3] == b'-', "{line:?}");
        assert!(!line[..line.len() - 1].contains(&b'\r'));
    }
}

#[test]
fn xorshift_garbage_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let settings = settings(&mut rng);
        let max_recipients = settings.max_recipients;
        let limit = settings.max_line_length;
        let mut session = ServerSession::new(settings);
        session.greet();
        let mut input = Vec::new();
        for _ in 0..rng.below(60) {
            if rng.below(3) == 0 {
                for _ in 0..rng.below(20) {
                    input.push(rng.next() as u8);
                }
            } else {
                input.extend_from_slice(TOKENS[rng.below(TOKENS.len())]);
            }
        }
        let mut at = 0;
        while at < input.len() {
            let piece = 1 + rng.below(64);
            let end = (at + piece).min(input.len());
            session.receive(&input[at..end]);
            at = end;
            let mut steps = 0;
            while let Some(event) = session.next_event() {
                answer(&mut rng, &mut session, &event);
                steps += 1;
                assert!(steps < 10_000, "event loop does not terminate");
            }
            assert!(session.recipients().len() <= max_recipients);
            assert!(session.buffered() <= limit.max(64) + 64);
            check_output(&session.output());
        }
    }
}
