//! The same scripts and messages through Dovecot Pigeonhole's `sieve-test` and through this
//! crate, comparing what each would do: the folders stored into, discard, implicit keep,
//! or a compile error on the same line. Skipped, with a message, when `sieve-test`
//! (Debian package dovecot-sieve, installed by tests/install-peers) is missing.
//!
//! Corpus: `testdata/interop/scripts/*.sieve` × `testdata/interop/messages/*.eml` (LF in the
//! repository, CRLF as delivered). Where we disagree with Dovecot on purpose, [`KNOWN`] says
//! why and pins our answer.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sieve::{Message, Script};

/// Envelope per message: MAIL FROM, RCPT TO.
const ENVELOPES: &[(&str, &str, &str)] = &[
    ("plain.eml", "alice@example.net", "me@example.org"),
    ("list.eml", "owner-dev@lists.example.com", "me@example.org"),
    ("spam.eml", "bounce-123@bulk.example", "me@example.org"),
    ("weird.eml", "someone@strange.example", "me+tag@example.org"),
    ("edge.eml", "pete@silly.test", "me@example.org"),
];

/// Deliberate disagreements: script, message ("*" for all), reason, our answer.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "31-vacation.sieve",
        "*",
        "vacation sends mail; we refuse it at compile time instead of pretending",
        "compile error 1",
    ),
    (
        "32-redirect.sieve",
        "*",
        "redirect forwards mail; we refuse it at compile time instead of pretending",
        "compile error 2",
    ),
    (
        "33-matches-question-before-star.sieve",
        "plain.eml",
        "Pigeonhole 0.5 lets a '?' before the first '*' match nothing (\"F?riday*\" matches \
         \"Friday\"); RFC 5228 2.7.1 says '?' matches exactly one character",
        "implicit keep",
    ),
    (
        "34-copy-then-plain-same-folder.sieve",
        "*",
        "Pigeonhole drops the second fileinto \"A\" as a duplicate before it can cancel the \
         implicit keep; RFC 3894 says only :copy leaves the implicit keep, so a fileinto \
         without it cancels it even when the folder is already stored into",
        "store \"A\"",
    ),
];

/// As root, sieve-test insists on dropping to a mail uid; any unprivileged one will do.
const MAIL_UID: u32 = 65534;

fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn sieve_test_binary() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("sieve-test"))
        .find(|path| path.is_file())
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    out.sort();
    out
}

/// What Dovecot would do, in the lines of `common::describe`, or `compile error N`.
fn dovecot(
    binary: &Path,
    work: &Path,
    script: &Path,
    message: &Path,
    envelope: (&str, &str),
) -> Vec<String> {
    let mut command = Command::new(binary);
    command
        .arg("-c")
        .arg("/dev/null")
        .arg("-o")
        .arg(format!(
            "mail_location=maildir:{}",
            work.join("mail").display()
        ))
        .args(["-f", envelope.0, "-a", envelope.1, "-r", envelope.1, "-C"])
        .arg(script)
        .arg(message)
        .env("HOME", work);
    if running_as_root() {
        command
            .arg("-o")
            .arg(format!("mail_uid={MAIL_UID}"))
            .arg("-o")
            .arg(format!("mail_gid={MAIL_UID}"));
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // "NAME: line N: error: ..." is the first error.
        let line = stderr
            .lines()
            .find_map(|l| {
                l.split_once(": line ")?
                    .1
                    .split_once(':')
                    .map(|(n, _)| n.to_string())
            })
            .unwrap_or_else(|| panic!("sieve-test failed without a line:\n{stderr}"));
        return vec![format!("compile error {line}")];
    }
    parse_sieve_test(&stdout)
}

fn parse_sieve_test(stdout: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut section = "";
    for line in stdout.lines() {
        match line.trim() {
            "Performed actions:" => section = "performed",
            "Implicit keep:" => section = "implicit",
            "" | "(none)" => {}
            "+ create mailbox if it does not exist" => {
                if let Some(last) = out.last_mut() {
                    last.push_str(" create");
                }
            }
            "+ preserve implicit keep" => {}
            text => {
                let text = text.strip_prefix("* ").unwrap_or(text);
                let action = match text.strip_prefix("store message in folder: ") {
                    Some(folder) if folder.eq_ignore_ascii_case("INBOX") => {
                        "store INBOX".to_string()
                    }
                    Some(folder) => format!("store {folder:?}"),
                    None if text == "discard" => "discard".to_string(),
                    None => format!("other: {text}"),
                };
                if section == "implicit" {
                    if action == "store INBOX" {
                        out.push("implicit keep".to_string());
                    } else {
                        out.push(format!("implicit: {action}"));
                    }
                } else {
                    out.push(action);
                }
            }
        }
    }
    out
}

fn ours(script: &str, message: &[u8], envelope: (&str, &str)) -> Vec<String> {
    match Script::compile(script) {
        Err(error) => vec![format!("compile error {}", error.line)],
        Ok(script) => {
            let mut parsed = Message::from_header_block(message, message.len() as u64);
            parsed.set_envelope_from(envelope.0);
            parsed.set_envelope_to(envelope.1);
            let exists = |name: &str| name == "Existing";
            parsed.set_mailbox_exists(&exists);
            common::describe(&script.evaluate(&parsed))
        }
    }
}

#[test]
fn same_decisions_as_dovecot_sieve_test() {
    let Some(binary) = sieve_test_binary() else {
        eprintln!(
            "SKIPPED: sieve-test not found (Debian package dovecot-sieve; tests/install-peers)"
        );
        return;
    };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/interop");
    let work = tempfile::tempdir().unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // A Maildir++ store with INBOX and one folder, for mailboxexists; Dovecot writes its
    // index files there.
    let mut dirs = vec![work.path().to_path_buf()];
    for dir in ["mail", "mail/.Existing"] {
        for sub in ["", "cur", "new", "tmp"] {
            let path = work.path().join(dir).join(sub);
            fs::create_dir_all(&path).unwrap();
            dirs.push(path);
        }
    }
    if running_as_root() {
        for dir in &dirs {
            std::os::unix::fs::chown(dir, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
        }
    }

    let mut messages = Vec::new();
    for path in files(&data.join("messages"), "eml") {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = common::crlf(fs::read(&path).unwrap());
        let copy = work.path().join(&name);
        fs::write(&copy, &bytes).unwrap();
        let &(_, from, to) = ENVELOPES
            .iter()
            .find(|(n, ..)| *n == name)
            .unwrap_or_else(|| panic!("no envelope for {name}"));
        messages.push((name, copy, bytes, (from, to)));
    }
    let scripts = files(&data.join("scripts"), "sieve");
    assert!(scripts.len() >= 30 && messages.len() >= 4);

    let (mut agreed, mut known, mut failures) = (0, 0, Vec::new());
    for script_path in &scripts {
        let script_name = script_path.file_name().unwrap().to_str().unwrap();
        let source = fs::read_to_string(script_path).unwrap();
        let copy = work.path().join(script_name);
        fs::write(&copy, &source).unwrap();
        for (message_name, message_path, bytes, envelope) in &messages {
            let theirs = dovecot(&binary, work.path(), &copy, message_path, *envelope);
            let mine = ours(&source, bytes, *envelope);
            let case = format!("{script_name} × {message_name}");
            let known_case = KNOWN
                .iter()
                .find(|(s, m, ..)| *s == script_name && (*m == "*" || m == message_name));
            match known_case {
                Some((_, _, reason, expected)) => {
                    let expected: Vec<String> = expected.split("; ").map(String::from).collect();
                    if mine != expected {
                        failures.push(format!("{case}: expected our {expected:?}, got {mine:?}"));
                    } else if theirs == mine {
                        eprintln!("NOTE {case}: Dovecot now agrees ({reason})");
                        agreed += 1;
                    } else {
                        eprintln!("known {case}: Dovecot {theirs:?}, we {mine:?}: {reason}");
                        known += 1;
                    }
                }
                None if theirs == mine => agreed += 1,
                None => failures.push(format!("{case}: Dovecot {theirs:?}, we {mine:?}")),
            }
        }
    }
    eprintln!(
        "{} scripts × {} messages: {agreed} agree, {known} known disagreements, {} failures",
        scripts.len(),
        messages.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sieve_test_output_is_read() {
    let sample = "\nPerformed actions:\n\n * store message in folder: Foo\n        + create \
        mailbox if it does not exist\n * discard\n\nImplicit keep:\n\n * store message in \
        folder: INBOX\n\n";
    assert_eq!(
        parse_sieve_test(sample),
        ["store \"Foo\" create", "discard", "implicit keep"]
    );
}
