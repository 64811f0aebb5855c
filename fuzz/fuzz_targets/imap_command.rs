//! Bytes from a hostile IMAP client through the command framer and parsers: never panic,
//! never loop, memory bounded by the limits, and every frame well-formed.
//!
//! The first byte picks the chunk size and which literals are streamed; small literals are
//! accepted, larger ones refused, so all three decisions are reached.
#![no_main]

use imap::framer::{CommandFramer, Frame, Limits};
use imap::{parse_append_head, parse_append_next, parse_command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_line: 64 + usize::from(control & 0x0f) * 64,
        max_literal: 256,
        max_command: 4096,
    };
    let stream_appends = control & 0x10 != 0;
    let mut framer = CommandFramer::new(limits);
    let piece = 1 + usize::from(control >> 5) * 9;
    let mut streaming = false;
    for chunk in data.chunks(piece) {
        framer.push(chunk);
        let mut steps = 0usize;
        while let Some(frame) = framer.next() {
            match frame {
                Frame::Command(bytes) => {
                    assert!(bytes.ends_with(b"\r\n") && bytes.len() <= limits.max_command);
                    if streaming {
                        let _ = parse_append_next(&bytes);
                        streaming = false;
                    } else if let Ok(command) = parse_command(&bytes) {
                        assert!(!command.tag.is_empty());
                    }
                }
                Frame::LiteralAnnounced { prefix, size, .. } => {
                    assert!(prefix.ends_with(b"\r\n") && prefix.len() <= limits.max_command);
                    let append = if streaming {
                        parse_append_next(&prefix).is_ok_and(|m| m.is_some())
                    } else {
                        parse_append_head(&prefix).is_ok_and(|h| h.is_some())
                    };
                    if append && stream_appends {
                        streaming = true;
                        framer.stream_literal();
                    } else if size <= 64 {
                        framer.accept_literal();
                    } else {
                        streaming = false;
                        framer.reject_literal();
                    }
                }
                Frame::LiteralChunk(bytes) => assert!(!bytes.is_empty() && bytes.len() <= piece),
                Frame::LiteralEnd => {}
                Frame::TooLong { .. } | Frame::BadLiteral { .. } => streaming = false,
            }
            steps += 1;
            assert!(
                steps <= 2 * chunk.len() + 4,
                "the framer does not make progress"
            );
        }
        assert!(framer.buffered() <= limits.max_command + 2);
    }
});
