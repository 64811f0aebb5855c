//! Replays the "C:"/"S:" traces in `testdata/*.txt` against a session and asserts every
//! reply line exactly, once with each client burst fed whole and once byte by byte.
//!
//! Trace syntax: `C: text` sends text + CRLF, `C- text` sends text alone (escapes `\r`, `\n`,
//! `\\`, `\xHH`); consecutive C lines form one burst (pipelining). `S: text` is the next reply
//! line. `M: text` lines are the next accepted message, one line + CRLF each (`M-` without the
//! CRLF). `! key value` changes settings before the first line is sent. `#` starts a comment.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::VecDeque;
use std::path::Path;

use common::Driver;
use smtp::{BareLfInCommands, BareLineEndsInData, ServerSession, Settings};

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: String = [bytes.next().unwrap(), bytes.next().unwrap()]
                    .iter()
                    .map(|&b| char::from(b))
                    .collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            other => panic!("bad escape {other:?}"),
        }
    }
    out
}

fn settings_for(directives: &[(String, String)]) -> Settings {
    let mut settings = Settings::smtp("mx.example.org");
    for (key, value) in directives {
        let on = value == "on";
        match key.as_str() {
            "mode" if value == "lmtp" => {
                settings = Settings {
                    hostname: "lmtp.example.org".into(),
                    ..Settings::lmtp("lmtp.example.org")
                };
            }
            "max_recipients" => settings.max_recipients = value.parse().unwrap(),
            "max_line" => settings.max_line_length = value.parse().unwrap(),
            "max_size" => settings.max_message_size = Some(value.parse().unwrap()),
            "max_errors" => settings.max_errors = value.parse().unwrap(),
            "bare_lf_data" => {
                assert_eq!(value, "reject");
                settings.bare_line_ends_in_data = BareLineEndsInData::Reject;
            }
            "bare_lf_commands" => {
                assert_eq!(value, "accept");
                settings.bare_lf_in_commands = BareLfInCommands::AcceptAsLineEnd;
            }
            "starttls" => settings.extensions.starttls = on,
            "dsn" => settings.extensions.dsn = on,
            "binarymime" => settings.extensions.binarymime = on,
            "chunking" => settings.extensions.chunking = on,
            "enhanced" => settings.extensions.enhanced_status_codes = on,
            "auth" => settings.auth_mechanisms = vec![value.clone()],
            "auth_plaintext" => settings.auth_requires_tls = !on,
            _ => panic!("unknown directive {key} {value}"),
        }
    }
    settings
}

/// Replays one trace; `bytewise` feeds each burst one byte at a time.
fn replay(path: &Path, bytewise: bool) {
    let name = path.display();
    let text = std::fs::read_to_string(path).unwrap();
    let mut directives = Vec::new();
    let mut steps = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("! ") {
            let (key, value) = rest.split_once(' ').unwrap();
            directives.push((key.to_owned(), value.to_owned()));
            continue;
        }
        let (tag, body) = line.split_at(2);
        let body = body.strip_prefix(' ').unwrap_or(body);
        steps.push((number + 1, tag.to_owned(), body.to_owned()));
    }
    let mut session = ServerSession::new(settings_for(&directives));
    session.greet();
    let mut driver = Driver::default();
    let mut replies: VecDeque<String> = VecDeque::new();
    let mut messages_seen = 0;
    let mut burst: Vec<u8> = Vec::new();
    let mut expected_message: Option<Vec<u8>> = None;
    let flush = |burst: &mut Vec<u8>,
                 session: &mut ServerSession,
                 driver: &mut Driver,
                 replies: &mut VecDeque<String>| {
        if bytewise {
            for byte in burst.iter() {
                session.receive(std::slice::from_ref(byte));
                driver.drain(session);
            }
        } else {
            session.receive(burst);
        }
        driver.drain(session);
        burst.clear();
        let output = std::mem::take(&mut driver.outcome.output);
        let output = String::from_utf8(output).unwrap();
        assert!(
            output.is_empty() || output.ends_with("\r\n"),
            "{name}: {output:?}"
        );
        replies.extend(output.split_terminator("\r\n").map(str::to_owned));
    };
    flush(&mut burst, &mut session, &mut driver, &mut replies);
    for (number, tag, body) in steps {
        if tag != "M:"
            && tag != "M-"
            && let Some(message) = expected_message.take()
        {
            let got = driver.outcome.messages.get(messages_seen);
            assert_eq!(
                got.map(|m| String::from_utf8_lossy(m).into_owned()),
                Some(String::from_utf8_lossy(&message).into_owned()),
                "{name}:{number}: message"
            );
            messages_seen += 1;
        }
        match tag.as_str() {
            "C:" | "C-" => {
                assert!(
                    replies.is_empty(),
                    "{name}:{number}: unexpected replies before sending: {replies:?}"
                );
                burst.extend(unescape(&body));
                if tag == "C:" {
                    burst.extend_from_slice(b"\r\n");
                }
            }
            "S:" => {
                if !burst.is_empty() {
                    flush(&mut burst, &mut session, &mut driver, &mut replies);
                }
                assert_eq!(
                    replies.pop_front().as_deref(),
                    Some(body.as_str()),
                    "{name}:{number}"
                );
            }
            "M:" | "M-" => {
                if !burst.is_empty() {
                    flush(&mut burst, &mut session, &mut driver, &mut replies);
                }
                let message = expected_message.get_or_insert_with(Vec::new);
                message.extend(unescape(&body));
                if tag == "M:" {
                    message.extend_from_slice(b"\r\n");
                }
            }
            _ => panic!("{name}:{number}: bad line tag {tag:?}"),
        }
    }
    if !burst.is_empty() {
        flush(&mut burst, &mut session, &mut driver, &mut replies);
    }
    if let Some(message) = expected_message {
        assert_eq!(
            driver
                .outcome
                .messages
                .get(messages_seen)
                .map(|m| String::from_utf8_lossy(m).into_owned()),
            Some(String::from_utf8_lossy(&message).into_owned()),
            "{name}: final message"
        );
        messages_seen += 1;
    }
    assert!(replies.is_empty(), "{name}: unasserted replies {replies:?}");
    assert_eq!(
        driver.outcome.messages.len(),
        messages_seen,
        "{name}: unasserted messages"
    );
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "transcripts missing");
    for path in &paths {
        replay(path, false);
        replay(path, true);
    }
}
