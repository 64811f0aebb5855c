//! SMTP smuggling: only CRLF.CRLF ends DATA. Every fake terminator, fed whole, byte by byte
//! and split at every boundary, with and without pipelining, yields exactly one message that
//! contains the would-be smuggled commands as text.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Outcome, run_pieces};
use smtp::{BareLineEndsInData, ServerSession, Settings};

/// Fake end-of-data sequences seen in smuggling research (SEC Consult 2023 and follow-ups).
const FAKE_ENDS: &[&[u8]] = &[
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\n.\n",
    b"\r\n.\n",
    b"\n.\r",
    b"\r.\n",
    b"\r.\r",
    b"\r\n\x00.\r\n",
    b"\n..\r\n",
];

const SMUGGLED: &[u8] = b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<victim@example.org>\r\n\
DATA\r\nFrom: admin@example.org\r\n\r\nsmuggled\r\n";

fn session(settings: Settings) -> ServerSession {
    let mut session = ServerSession::new(settings);
    session.greet();
    session
}

fn envelope(pipelined: bool) -> Vec<Vec<u8>> {
    let commands: [&[u8]; 4] = [
        b"EHLO client.example.net\r\n",
        b"MAIL FROM:<a@example.org>\r\n",
        b"RCPT TO:<b@example.org>\r\n",
        b"DATA\r\n",
    ];
    if pipelined {
        vec![commands.concat()]
    } else {
        commands.iter().map(|c| c.to_vec()).collect()
    }
}

fn message_with(fake: &[u8]) -> Vec<u8> {
    [
        &b"Subject: test\r\n\r\nhello"[..],
        fake,
        SMUGGLED,
        b"\r\n.\r\nQUIT\r\n",
    ]
    .concat()
}

/// Runs the envelope, then the message cut at `cuts` (relative to the message).
fn run(settings: &Settings, pipelined: bool, message: &[u8], cuts: &[usize]) -> Outcome {
    let mut session = session(settings.clone());
    let mut bytes = Vec::new();
    let mut all_cuts = Vec::new();
    for command in envelope(pipelined) {
        bytes.extend_from_slice(&command);
        all_cuts.push(bytes.len());
    }
    all_cuts.extend(cuts.iter().map(|c| c + bytes.len()));
    bytes.extend_from_slice(message);
    let outcome = run_pieces(&mut session, &bytes, &all_cuts);
    assert!(session.is_closed());
    outcome
}

fn check_one_message(outcome: &Outcome, fake: &[u8]) {
    assert_eq!(
        outcome.messages.len(),
        1,
        "fake {fake:?}: {:?}",
        outcome.events
    );
    let message = &outcome.messages[0];
    assert!(
        message.windows(SMUGGLED.len()).any(|w| w == SMUGGLED),
        "fake {fake:?}: smuggled commands not kept as text"
    );
    let mail_events = outcome
        .events
        .iter()
        .filter(|e| e.starts_with("Mail"))
        .count();
    assert_eq!(mail_events, 1, "fake {fake:?}: {:?}", outcome.events);
    let output = String::from_utf8_lossy(&outcome.output);
    assert_eq!(output.matches("queued as").count(), 1, "{output}");
    assert!(output.ends_with("221 2.0.0 Bye\r\n"), "{output}");
}

#[test]
fn fake_terminators_never_end_data() {
    let settings = Settings::smtp("mx.example.org");
    for fake in FAKE_ENDS {
        let message = message_with(fake);
        for pipelined in [false, true] {
            let whole = run(&settings, pipelined, &message, &[]);
            check_one_message(&whole, fake);
            let bytewise: Vec<usize> = (1..message.len()).collect();
            assert_eq!(run(&settings, pipelined, &message, &bytewise), whole);
        }
    }
}

#[test]
fn every_split_gives_the_same_result() {
    let settings = Settings::smtp("mx.example.org");
    for fake in FAKE_ENDS {
        let message = message_with(fake);
        let whole = run(&settings, true, &message, &[]);
        for cut in 0..=message.len() {
            assert_eq!(
                run(&settings, true, &message, &[cut]),
                whole,
                "fake {fake:?} cut at {cut}"
            );
        }
        // Two cuts around the fake terminator itself.
        let at = message
            .windows(fake.len())
            .position(|w| w == *fake)
            .unwrap();
        for a in at..at + fake.len() {
            for b in a..=at + fake.len() {
                assert_eq!(run(&settings, true, &message, &[a, b]), whole);
            }
        }
    }
}

#[test]
fn real_terminator_split_at_every_byte() {
    let settings = Settings::smtp("mx.example.org");
    let message = b"a\r\n..b\r\n.\r\nQUIT\r\n";
    let whole = run(&settings, true, message, &[]);
    assert_eq!(whole.messages, [b"a\r\n.b\r\n".to_vec()]);
    for cut in 0..=message.len() {
        assert_eq!(run(&settings, true, message, &[cut]), whole);
    }
}

#[test]
fn reject_policy_refuses_fake_terminators_once() {
    let mut settings = Settings::smtp("mx.example.org");
    settings.bare_line_ends_in_data = BareLineEndsInData::Reject;
    for fake in FAKE_ENDS {
        let message = message_with(fake);
        let outcome = run(&settings, true, &message, &[]);
        let output = String::from_utf8_lossy(&outcome.output);
        let expect_bare = fake
            .windows(2)
            .any(|w| w != b"\r\n" && (w[0] == b'\r' || w[1] == b'\n'))
            || fake.starts_with(b"\n")
            || fake.ends_with(b"\r");
        if expect_bare {
            assert!(outcome.messages.is_empty(), "fake {fake:?}");
            assert_eq!(output.matches("550 5.6.0").count(), 1, "{output}");
        }
        assert_eq!(output.matches("354 ").count(), 1, "{output}");
        assert!(output.ends_with("221 2.0.0 Bye\r\n"), "{output}");
    }
}

#[test]
fn lmtp_fake_terminators_never_end_data() {
    let mut settings = Settings::lmtp("lmtp.example.org");
    settings.bare_lf_in_commands = smtp::BareLfInCommands::AcceptAsLineEnd;
    for fake in FAKE_ENDS {
        let message = message_with(fake);
        let mut session = session(settings.clone());
        let input = [
            &b"LHLO mta.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"[..],
            &message,
        ]
        .concat();
        let whole = run_pieces(&mut session, &input, &[]);
        assert_eq!(whole.messages.len(), 1, "fake {fake:?}");
        for cut in 0..=input.len() {
            let mut session = self::session(settings.clone());
            assert_eq!(run_pieces(&mut session, &input, &[cut]), whole);
        }
    }
}
