//! SMFIR_REPLYCODE texts from a hostile filter become SMTP replies: never panic, and what is
//! accepted is a well-formed 4xx/5xx reply without control characters that parses again to
//! itself (so nothing a milter writes can smuggle a line or a second reply to the client).
#![no_main]

use libfuzzer_sys::fuzz_target;
use milter::replycode::MilterReply;

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = MilterReply::parse(data) else {
        return;
    };
    assert!((400..600).contains(&reply.code()));
    let lines: Vec<&str> = reply.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let separator = if i + 1 == lines.len() { ' ' } else { '-' };
        assert_eq!(line.chars().nth(3), Some(separator), "{line:?}");
    }
    // Undoubling % is not idempotent, so re-parse only replies that hold none.
    if !reply.as_str().contains('%') {
        assert_eq!(MilterReply::parse(reply.as_str().as_bytes()), Ok(reply));
    }
});
