//! CommandFramer: literals and the caller's decisions, limits, and independence from how the
//! input is split.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use imap::framer::{CommandFramer, Frame, Limits, tag_of};
use imap::{parse_append_head, parse_append_next, parse_command};

/// What the test caller does with each announced literal.
#[derive(Clone, Copy)]
enum Policy {
    Accept,
    Reject,
    /// Stream APPEND messages, accept the rest.
    Append,
}

/// Frames `input` pushed in `chunks`, deciding with `policy`; adjacent LiteralChunks are
/// merged so that the result does not depend on the split.
fn frames_with(limits: Limits, chunks: &[&[u8]], policy: Policy) -> Vec<Frame> {
    let mut framer = CommandFramer::new(limits);
    let mut frames: Vec<Frame> = Vec::new();
    let mut in_append = false;
    for chunk in chunks {
        framer.push(chunk);
        while let Some(frame) = framer.next() {
            if let Frame::LiteralAnnounced { prefix, .. } = &frame {
                let stream = in_append || parse_append_head(prefix).unwrap_or(None).is_some();
                match policy {
                    Policy::Accept => framer.accept_literal(),
                    Policy::Reject => framer.reject_literal(),
                    Policy::Append if stream => {
                        in_append = true;
                        framer.stream_literal()
                    }
                    Policy::Append => framer.accept_literal(),
                }
            }
            if let Frame::Command(_) = &frame {
                in_append = false;
            }
            match (frames.last_mut(), frame) {
                (Some(Frame::LiteralChunk(last)), Frame::LiteralChunk(more)) => {
                    last.extend_from_slice(&more)
                }
                (_, frame) => frames.push(frame),
            }
        }
    }
    frames
}

fn frames(input: &[u8], policy: Policy) -> Vec<Frame> {
    frames_with(Limits::default(), &[input], policy)
}

fn announced(prefix: &[u8], size: u64, sync: bool) -> Frame {
    Frame::LiteralAnnounced {
        prefix: prefix.to_vec(),
        size,
        sync,
        binary: false,
    }
}

fn command(bytes: &[u8]) -> Frame {
    Frame::Command(bytes.to_vec())
}

/// Every split of `input` in two, and byte by byte, gives the frames of the whole.
fn assert_split_invariant(limits: Limits, input: &[u8], policy: Policy) {
    let whole = frames_with(limits, &[input], policy);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(frames_with(limits, &[a, b], policy), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(frames_with(limits, &bytes, policy), whole, "byte by byte");
}

const MIXED: &[u8] = b"a1 NOOP\r\n\
a2 LOGIN {4}\r\nfred {6+}\r\nsecret\r\n\
a3 APPEND INBOX (\\Seen) {5}\r\nhello (\\Draft) \"17-Jul-1996 02:44:25 -0700\" {3+}\r\nabc\r\n\
a4 SELECT ~{5}\r\nINBOX\r\n\
a5 NOOP\n\
a6 SEARCH TEXT {0}\r\n\r\n\
a7 LOGIN {99999999999999999999999}\r\n\
a8 LOGIN {12a}\r\n\
a9 CHECK\r\n";

#[test]
fn frames_do_not_depend_on_how_the_input_is_split() {
    for policy in [Policy::Accept, Policy::Reject, Policy::Append] {
        assert_split_invariant(Limits::default(), MIXED, policy);
    }
    let tight = Limits {
        max_line: 12,
        max_literal: 5,
        max_command: 30,
    };
    for policy in [Policy::Accept, Policy::Reject, Policy::Append] {
        assert_split_invariant(tight, MIXED, policy);
    }
}

#[test]
fn accepted_literals_are_buffered_into_the_command() {
    let got = frames(MIXED, Policy::Accept);
    assert_eq!(got[0], command(b"a1 NOOP\r\n"));
    assert_eq!(got[1], announced(b"a2 LOGIN {4}\r\n", 4, true));
    assert_eq!(
        got[2],
        announced(b"a2 LOGIN {4}\r\nfred {6+}\r\n", 6, false)
    );
    assert_eq!(got[3], command(b"a2 LOGIN {4}\r\nfred {6+}\r\nsecret\r\n"));
    let Frame::Command(login) = &got[3] else {
        panic!()
    };
    assert!(parse_command(login).is_ok());
    assert_eq!(
        got[7],
        Frame::LiteralAnnounced {
            prefix: b"a4 SELECT ~{5}\r\n".to_vec(),
            size: 5,
            sync: true,
            binary: true
        }
    );
    assert_eq!(
        got[9],
        command(b"a5 NOOP\r\n"),
        "a bare LF ends a line, written as CRLF"
    );
    assert_eq!(got[10], announced(b"a6 SEARCH TEXT {0}\r\n", 0, true));
    assert_eq!(got[11], command(b"a6 SEARCH TEXT {0}\r\n\r\n"));
    assert_eq!(
        got[12],
        Frame::BadLiteral {
            tag: Some("a7".into())
        }
    );
    assert_eq!(
        got[13],
        Frame::BadLiteral {
            tag: Some("a8".into())
        }
    );
    assert_eq!(got[14], command(b"a9 CHECK\r\n"));
    assert_eq!(got.len(), 15);
}

#[test]
fn streamed_append_with_multiappend_tail() {
    let got = frames(MIXED, Policy::Append);
    let expected_prefix = b"a3 APPEND INBOX (\\Seen) {5}\r\n";
    assert_eq!(got[4], announced(expected_prefix, 5, true));
    assert_eq!(got[5], Frame::LiteralChunk(b"hello".to_vec()));
    assert_eq!(got[6], Frame::LiteralEnd);
    let tail = b" (\\Draft) \"17-Jul-1996 02:44:25 -0700\" {3+}\r\n";
    assert_eq!(got[7], announced(tail, 3, false));
    let next = parse_append_next(tail).unwrap().unwrap();
    assert_eq!((next.size, next.sync), (3, false));
    assert_eq!(got[8], Frame::LiteralChunk(b"abc".to_vec()));
    assert_eq!(got[9], Frame::LiteralEnd);
    assert_eq!(got[10], command(b"\r\n"));
    assert_eq!(parse_append_next(b"\r\n").unwrap(), None);
    assert_eq!(got[12], command(b"a4 SELECT ~{5}\r\nINBOX\r\n"));
}

#[test]
fn rejected_literals_drop_their_command() {
    let got = frames(MIXED, Policy::Reject);
    assert_eq!(got[0], command(b"a1 NOOP\r\n"));
    // a2's literal is synchronizing: the client sends nothing after the refusal, so its
    // bytes (sent here anyway) are framed as the next lines.
    assert_eq!(got[1], announced(b"a2 LOGIN {4}\r\n", 4, true));
    assert_eq!(got[2], announced(b"fred {6+}\r\n", 6, false));
    // The refused non-synchronizing literal is skipped with the rest of its command.
    assert_eq!(
        got[3],
        announced(b"a3 APPEND INBOX (\\Seen) {5}\r\n", 5, true)
    );
    assert_eq!(
        got[4],
        announced(
            b"hello (\\Draft) \"17-Jul-1996 02:44:25 -0700\" {3+}\r\n",
            3,
            false
        )
    );
    assert_eq!(
        got[5],
        Frame::LiteralAnnounced {
            prefix: b"a4 SELECT ~{5}\r\n".to_vec(),
            size: 5,
            sync: true,
            binary: true
        }
    );
    assert_eq!(got[6], command(b"INBOX\r\n"));
}

#[test]
fn a_refused_non_synchronizing_literal_takes_later_literals_with_it() {
    let input = b"a1 LOGIN {5+}\r\nhello {3+}\r\nabc {2+}\r\nxy\r\na2 NOOP\r\n";
    assert_eq!(
        frames(input, Policy::Reject),
        vec![
            announced(b"a1 LOGIN {5+}\r\n", 5, false),
            command(b"a2 NOOP\r\n")
        ]
    );
}

#[test]
fn deciding_nothing_counts_as_rejecting() {
    let mut framer = CommandFramer::new(Limits::default());
    framer.push(b"a1 LOGIN {5+}\r\nhello\r\na2 NOOP\r\n");
    assert!(matches!(
        framer.next(),
        Some(Frame::LiteralAnnounced { .. })
    ));
    assert_eq!(framer.next(), Some(command(b"a2 NOOP\r\n")));
    assert_eq!(framer.next(), None);
}

#[test]
fn overlong_lines_are_skipped_with_their_tag() {
    let limits = Limits {
        max_line: 20,
        ..Limits::default()
    };
    let input = b"a1 SEARCH TEXT xxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\na2 NOOP\r\n";
    let got = frames_with(limits, &[input], Policy::Accept);
    assert_eq!(
        got,
        vec![
            Frame::TooLong {
                tag: Some("a1".into())
            },
            command(b"a2 NOOP\r\n")
        ]
    );
    assert_split_invariant(limits, input, Policy::Accept);
    // Exactly the limit is fine, with either line end.
    let exact = b"a1 SEARCH TEXT 12345\r\na2 SEARCH TEXT 12345\n";
    assert_eq!(frames_with(limits, &[exact], Policy::Accept).len(), 2);
    // An overlong line announcing a non-synchronizing literal loses the literal too.
    let input = b"a1 LOGIN xxxxxxxxxxxxxxxxxxxxxxxx {5+}\r\nhello {2+}\r\nab\r\na2 NOOP\r\n";
    assert_eq!(
        frames_with(limits, &[input], Policy::Accept),
        vec![
            Frame::TooLong {
                tag: Some("a1".into())
            },
            command(b"a2 NOOP\r\n")
        ]
    );
    assert_split_invariant(limits, input, Policy::Accept);
    // An overlong line after a buffered literal still reports the command's tag.
    let input = b"a1 LOGIN {3}\r\nabc xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\na2 NOOP\r\n";
    assert_eq!(
        frames_with(limits, &[input], Policy::Accept)[1],
        Frame::TooLong {
            tag: Some("a1".into())
        }
    );
}

#[test]
fn search_with_100000_keys_is_too_long() {
    let mut input = b"A1 SEARCH".to_vec();
    for _ in 0..100_000 {
        input.extend_from_slice(b" SEEN");
    }
    input.extend_from_slice(b"\r\nA2 NOOP\r\n");
    let mut framer = CommandFramer::new(Limits::default());
    let mut got = Vec::new();
    for chunk in input.chunks(4096) {
        framer.push(chunk);
        assert!(framer.buffered() <= 64 * 1024 + 2 * 4096);
        got.extend(std::iter::from_fn(|| framer.next()));
    }
    assert_eq!(
        got,
        vec![
            Frame::TooLong {
                tag: Some("A1".into())
            },
            command(b"A2 NOOP\r\n")
        ]
    );
}

#[test]
fn nested_parentheses_reach_the_parser_and_fail_there() {
    let mut input = b"A1 SEARCH ".to_vec();
    input.extend(std::iter::repeat_n(b'(', 10_000));
    input.extend_from_slice(b"ALL");
    input.extend(std::iter::repeat_n(b')', 10_000));
    input.extend_from_slice(b"\r\n");
    let got = frames(&input, Policy::Accept);
    let [Frame::Command(bytes)] = got.as_slice() else {
        panic!("{got:?}")
    };
    let e = parse_command(bytes).unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("A1"));
}

#[test]
fn literals_are_limited_when_buffered_but_not_when_streamed() {
    let limits = Limits {
        max_line: 100,
        max_literal: 10,
        max_command: 55,
    };
    let mut framer = CommandFramer::new(limits);
    framer.push(b"a1 LOGIN {11}\r\n");
    assert_eq!(
        framer.next(),
        Some(announced(b"a1 LOGIN {11}\r\n", 11, true))
    );
    assert!(!framer.fits(11));
    framer.accept_literal();
    assert_eq!(
        framer.next(),
        Some(Frame::TooLong {
            tag: Some("a1".into())
        })
    );
    // The client was sent "+": the literal and the rest of its command are dropped.
    framer.push(b"hello world pass\r\na2 NOOP\r\n");
    assert_eq!(framer.next(), Some(command(b"a2 NOOP\r\n")));

    // Several literals under max_literal that add up to more than max_command.
    framer.push(b"a3 LOGIN {10}\r\n");
    assert!(matches!(
        framer.next(),
        Some(Frame::LiteralAnnounced { .. })
    ));
    framer.accept_literal();
    framer.push(b"0123456789 {10}\r\n");
    assert!(matches!(
        framer.next(),
        Some(Frame::LiteralAnnounced { .. })
    ));
    framer.accept_literal();
    framer.push(b"0123456789 {10}\r\n");
    assert!(matches!(
        framer.next(),
        Some(Frame::LiteralAnnounced { .. })
    ));
    framer.accept_literal();
    assert_eq!(
        framer.next(),
        Some(Frame::TooLong {
            tag: Some("a3".into())
        })
    );
    framer.push(b"0123456789\r\n");
    assert_eq!(framer.next(), None);

    // Streaming ignores both limits.
    framer.push(b"a4 APPEND INBOX {1000}\r\n");
    assert!(matches!(
        framer.next(),
        Some(Frame::LiteralAnnounced { size: 1000, .. })
    ));
    framer.stream_literal();
    let mut streamed = 0;
    let mut ended = false;
    for _ in 0..10 {
        framer.push(&[b'x'; 100]);
        while let Some(frame) = framer.next() {
            match frame {
                Frame::LiteralChunk(chunk) => streamed += chunk.len(),
                Frame::LiteralEnd => ended = true,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!((streamed, ended), (1000, true));
    framer.push(b"\r\n");
    assert_eq!(framer.next(), Some(command(b"\r\n")));
}

#[test]
fn an_endless_line_holds_bounded_memory() {
    let limits = Limits::default();
    let mut framer = CommandFramer::new(limits);
    framer.push(b"a1 ");
    for _ in 0..1000 {
        framer.push(&[b'x'; 10_000]);
        assert_eq!(framer.next(), None);
        assert!(framer.buffered() <= limits.max_line + 10_000);
    }
    framer.push(b"\r\na2 NOOP\r\n");
    assert_eq!(
        framer.next(),
        Some(Frame::TooLong {
            tag: Some("a1".into())
        })
    );
    assert_eq!(framer.next(), Some(command(b"a2 NOOP\r\n")));
}

#[test]
fn a_bare_cr_does_not_end_a_line() {
    let got = frames(b"a1 NOOP\ra2 NOOP\r\n", Policy::Accept);
    assert_eq!(got, vec![command(b"a1 NOOP\ra2 NOOP\r\n")]);
    assert!(parse_command(b"a1 NOOP\ra2 NOOP\r\n").is_err());
}

#[test]
fn starttls_leaves_pipelined_bytes_to_take() {
    let mut framer = CommandFramer::new(Limits::default());
    framer.push(b"a1 STARTTLS\r\n");
    assert_eq!(framer.next(), Some(command(b"a1 STARTTLS\r\n")));
    assert!(framer.take_remaining().is_empty());
    framer.push(b"a1 STARTTLS\r\na2 NOOP\r\na3 NO");
    assert_eq!(framer.next(), Some(command(b"a1 STARTTLS\r\n")));
    assert_eq!(framer.take_remaining(), b"a2 NOOP\r\na3 NO");
    framer.push(b"a4 NO");
    assert_eq!(framer.next(), None);
    assert_eq!(framer.take_remaining(), b"a4 NO");
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn tags() {
    assert_eq!(tag_of(b"a1 NOOP"), Some("a1".into()));
    assert_eq!(tag_of(b"x]y\r\n"), Some("x]y".into()));
    assert_eq!(tag_of(b"a+b NOOP"), None);
    assert_eq!(tag_of(b" NOOP"), None);
    assert_eq!(tag_of(b"a(b NOOP"), None);
    assert_eq!(tag_of(b"abc"), None, "maybe cut short");
    assert_eq!(tag_of(b""), None);
}

#[test]
fn the_command_corpus_frames_and_parses() {
    let path = format!("{}/testdata/commands.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut input = Vec::new();
    let mut count = 0;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        input.extend_from_slice(line.replace("{CRLF}", "\r\n").as_bytes());
        input.extend_from_slice(b"\r\n");
        count += 1;
    }
    let got = frames(&input, Policy::Accept);
    let commands: Vec<&Vec<u8>> = got
        .iter()
        .filter_map(|f| match f {
            Frame::Command(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    assert_eq!(commands.len(), count);
    for bytes in commands {
        parse_command(bytes)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(bytes)));
    }
}

/// A small deterministic generator (xorshift), so the test needs no dependency.
struct Rng(u64);

impl Rng {
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

#[test]
fn random_token_soup_frames_the_same_however_split_and_stays_bounded() {
    const TOKENS: &[&[u8]] = &[
        b"a1 ",
        b"APPEND INBOX ",
        b"LOGIN ",
        b"{3}",
        b"{2+}",
        b"~{4}",
        b"{0}",
        b"{x}",
        b"{",
        b"}",
        b"\r\n",
        b"\n",
        b"\r",
        b"xyz",
        b"(",
        b")",
        b" ",
        b"+",
        b"\"",
        b"SEARCH ALL",
        b"{99999999999999999999}",
        b"\r\n\r\n",
        b"0123456789",
    ];
    let limits = Limits {
        max_line: 24,
        max_literal: 3,
        max_command: 48,
    };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..300 {
        let mut input = Vec::new();
        for _ in 0..rng.below(60) {
            input.extend_from_slice(TOKENS[rng.below(TOKENS.len())]);
        }
        for policy in [Policy::Accept, Policy::Reject, Policy::Append] {
            let whole = frames_with(limits, &[&input], policy);
            let mut chunks = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let (chunk, more) = rest.split_at(1 + rng.below(rest.len().min(9)));
                chunks.push(chunk);
                rest = more;
            }
            assert_eq!(
                frames_with(limits, &chunks, policy),
                whole,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
            for frame in &whole {
                match frame {
                    Frame::Command(bytes) => {
                        assert!(bytes.len() <= limits.max_command && bytes.ends_with(b"\r\n"));
                        let _ = parse_command(bytes);
                    }
                    Frame::LiteralAnnounced { prefix, .. } => {
                        assert!(prefix.len() <= limits.max_command);
                        let _ = parse_append_head(prefix);
                        let _ = parse_append_next(prefix);
                    }
                    _ => {}
                }
            }
        }
        let mut framer = CommandFramer::new(limits);
        for chunk in input.chunks(5) {
            framer.push(chunk);
            while let Some(frame) = framer.next() {
                if let Frame::LiteralAnnounced { .. } = frame {
                    framer.accept_literal();
                }
            }
            assert!(
                framer.buffered() <= limits.max_command + 2,
                "{}",
                framer.buffered()
            );
        }
    }
}
