//! Hostile scripts and messages: every limit gives a clean error, quickly, never a stack
//! overflow or a long spin.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use sieve::{Limits, Message, RuntimeError, Script};

#[test]
fn deep_blocks_are_refused_not_recursed() {
    let depth = 100_000;
    let script = format!("{}{}", "if true {".repeat(depth), "}".repeat(depth));
    let error = Script::compile(&script).unwrap_err();
    assert!(error.message.contains("nested too deeply"), "{error}");
    let ok = format!("{}keep;{}", "if true {".repeat(31), "}".repeat(31));
    Script::compile(&ok).unwrap();
}

#[test]
fn deep_tests_are_refused() {
    let script = format!("if {}true {{ keep; }}", "not ".repeat(100_000));
    let error = Script::compile(&script).unwrap_err();
    assert!(error.message.contains("nested too deeply"), "{error}");
    let script = format!(
        "if {}true{} {{ keep; }}",
        "anyof(".repeat(1000),
        ")".repeat(1000)
    );
    assert!(Script::compile(&script).is_err());
}

#[test]
fn size_and_command_count_limits() {
    let big = format!("keep;{}", " ".repeat(Limits::default().max_script_size));
    let error = Script::compile(&big).unwrap_err();
    assert!(error.message.contains("larger than"), "{error}");
    let many = "stop;\n".repeat(10_001);
    let error = Script::compile(&many).unwrap_err();
    assert_eq!(error.line, 10_001);
    assert!(error.message.contains("too many commands"), "{error}");
}

#[test]
fn too_many_actions_leave_the_implicit_keep() {
    let mut script = String::from("require \"fileinto\";\n");
    for i in 0..40 {
        script.push_str(&format!("fileinto \"f{i}\";\n"));
    }
    let outcome = Script::compile(&script)
        .unwrap()
        .evaluate(&Message::new(10));
    assert_eq!(
        outcome.error,
        Some(RuntimeError::TooManyActions { limit: 32 })
    );
    assert_eq!(common::describe(&outcome)[0], "implicit keep");
    assert!(outcome.actions.is_empty());
}

#[test]
fn hostile_matching_is_bounded() {
    let value = "a".repeat(60_000);
    let header = format!("Subject: {value}\r\n\r\n");
    let message = Message::from_header_block(header.as_bytes(), header.len() as u64);

    // Exponential for a naive backtracking matcher; a handful of passes here.
    let pattern = format!("{}b", "*a".repeat(2000));
    let script = format!("if header :matches \"subject\" \"{pattern}\" {{ discard; }}");
    let started = Instant::now();
    let outcome = Script::compile(&script).unwrap().evaluate(&message);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(common::describe(&outcome), ["implicit keep"]);
    assert_eq!(outcome.error, None);

    // Quadratic search costs more than the budget: stopped, implicit keep.
    let key = format!("{}b", "a".repeat(5000));
    let keys = vec![format!("\"{key}\""); 20].join(", ");
    let script = format!("if header :contains \"subject\" [{keys}] {{ discard; }}");
    let started = Instant::now();
    let outcome = Script::compile(&script).unwrap().evaluate(&message);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(outcome.error, Some(RuntimeError::WorkLimit { .. })),
        "{outcome:?}"
    );
    assert_eq!(outcome.deliveries().len(), 1);
}

#[test]
fn many_headers_many_tests() {
    let mut block = String::new();
    for i in 0..5000 {
        block.push_str(&format!("X-H{i}: value {i}\r\nTo: user{i}@example.org\r\n"));
    }
    block.push_str("\r\n");
    let message = Message::from_header_block(block.as_bytes(), block.len() as u64);
    let mut script = String::new();
    for i in 0..2000 {
        script.push_str(&format!(
            "if anyof(header :contains \"x-h{i}\" \"nope\", address :domain \"to\" \"x{i}\") {{ discard; }}\n"
        ));
    }
    let started = Instant::now();
    let outcome = Script::compile(&script).unwrap().evaluate(&message);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Either every test ran and none matched, or the budget stopped it: both keep.
    assert_eq!(outcome.deliveries().len(), 1, "{outcome:?}");
}
