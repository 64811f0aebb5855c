//! Runs the vectors in `testdata/rfc5228.txt` (format described at its top): RFC 5228's
//! examples and the extensions', each script compiled and evaluated against its message.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use sieve::{Message, Script};

#[derive(Default, Clone)]
struct Vector {
    title: String,
    script: String,
    message: String,
    envelope: Option<(String, String)>,
    size: Option<u64>,
    expect: Vec<String>,
}

fn vectors(text: &str) -> Vec<Vector> {
    let mut out: Vec<Vector> = Vec::new();
    let mut current: Option<Vector> = None;
    let mut section = String::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("=== ") {
            let mut next = Vector {
                title: title.to_string(),
                ..Vector::default()
            };
            // Message and envelope carry over from the previous vector.
            if let Some(previous) = current.take() {
                next.message = previous.message.clone();
                next.envelope = previous.envelope.clone();
                out.push(previous);
            }
            current = Some(next);
            section.clear();
            continue;
        }
        let Some(vector) = current.as_mut() else {
            continue;
        };
        if let Some(header) = line.strip_prefix("--- ") {
            let mut words = header.split_whitespace();
            section = words.next().unwrap().to_string();
            match section.as_str() {
                "script" => vector.script.clear(),
                "message" => vector.message.clear(),
                "envelope" => {
                    let from = words.next().unwrap();
                    let from = if from == "<>" { "" } else { from };
                    vector.envelope = Some((from.to_string(), words.next().unwrap().to_string()));
                }
                "size" => vector.size = Some(words.next().unwrap().parse().unwrap()),
                "expect" => {}
                other => panic!("unknown section {other} in {}", vector.title),
            }
            continue;
        }
        match section.as_str() {
            "script" => {
                vector.script.push_str(line);
                vector.script.push('\n');
            }
            "message" => {
                vector.message.push_str(line);
                vector.message.push('\n');
            }
            "expect" if !line.is_empty() => vector.expect.push(line.to_string()),
            _ => {}
        }
    }
    out.extend(current);
    out
}

#[test]
fn rfc5228_vectors() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/rfc5228.txt"))
            .unwrap();
    let vectors = vectors(&text);
    assert!(vectors.len() > 40, "{}", vectors.len());
    let mut failures = Vec::new();
    for vector in &vectors {
        let got = match Script::compile(&vector.script) {
            Err(error) => {
                let expected = vector.expect.first().cloned().unwrap_or_default();
                let ok = expected
                    .strip_prefix("compile error ")
                    .and_then(|rest| rest.split_once(": "))
                    .is_some_and(|(line, text)| {
                        line.parse() == Ok(error.line) && error.message.contains(text)
                    });
                if !ok {
                    failures.push(format!(
                        "{}: expected {:?}, got {error}",
                        vector.title, vector.expect
                    ));
                }
                continue;
            }
            Ok(script) => {
                let bytes = common::crlf(&vector.message);
                let size = vector.size.unwrap_or(bytes.len() as u64);
                let mut message = Message::from_header_block(&bytes, size);
                if let Some((from, to)) = &vector.envelope {
                    message.set_envelope_from(from);
                    message.set_envelope_to(to);
                }
                common::describe(&script.evaluate(&message))
            }
        };
        if got != vector.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                vector.title, vector.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
