//! Arbitrary text as a Sieve script: compiling never panics or recurses without bound, and a
//! script that compiles evaluates, within its limits, against a fixed message and against
//! a header block taken from the input, to an outcome that keeps its own rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sieve::{Action, Mailbox, Message, Outcome, Script};

const FIXED: &[u8] = b"Return-Path: <alice@example.net>\r\n\
From: \"Alice, A.\" <Alice@Example.NET>, bad entry, Group: b@x.org, c@y.org;\r\n\
To: undisclosed-recipients:;\r\n\
Cc: (only a comment)\r\n\
Subject: =?UTF-8?Q?Caf=C3=A9?= =?ISO-8859-1?B?4Q==?= *?\\ plain\r\n\
 folded\r\n\
X-Spam-Level: *****\r\n\
X-Empty:\r\n\
List-Id: <dev.example.org>\r\n\
\r\n";

fn check(outcome: &Outcome) {
    if outcome.error.is_some() {
        assert!(outcome.actions.is_empty() && outcome.implicit_keep);
    }
    let deliveries = outcome.deliveries();
    // Each mailbox once.
    for (i, a) in deliveries.iter().enumerate() {
        assert!(deliveries[i + 1..].iter().all(|b| b.mailbox != a.mailbox));
    }
    // The message goes somewhere unless the script discarded it.
    if deliveries.is_empty() {
        assert!(outcome.actions.contains(&Action::Discard));
        assert!(!outcome.implicit_keep);
    }
    if outcome.implicit_keep {
        assert!(deliveries.iter().any(|d| d.mailbox == Mailbox::Inbox));
    }
}

fuzz_target!(|data: &[u8]| {
    // Script first; after a NUL (never valid in a script) an optional header block.
    let (script, block) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(source) = std::str::from_utf8(script) else {
        return;
    };
    let Ok(script) = Script::compile(source) else {
        return;
    };
    let exists = |name: &str| name.len() % 2 == 0;
    let mut fixed = Message::from_header_block(FIXED, 4321);
    fixed.set_envelope_from("alice@example.net");
    fixed.set_envelope_to("me+tag@example.org");
    fixed.set_mailbox_exists(&exists);
    check(&script.evaluate(&fixed));
    if let Some(block) = block {
        let mut message = Message::from_header_block(block, block.len() as u64);
        message.set_envelope_from("");
        message.set_envelope_to("me@example.org");
        check(&script.evaluate(&message));
    }
});
