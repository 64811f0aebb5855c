//! Generated comparisons with Dovecot Pigeonhole's `sieve-test`: for every header field of
//! the interop messages, keys derived from its value (exact, other case, prefix, suffix,
//! wildcards, near misses) under every match type and comparator, and every address part
//! of the address fields. Thirty tests go into one script, each filing into its own folder,
//! so one run of sieve-test answers thirty questions. Skipped without sieve-test.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sieve::{Action, Mailbox, Message, Script};

const MAIL_UID: u32 = 65534;
/// Dovecot's default sieve_max_actions is 32.
const TESTS_PER_SCRIPT: usize = 30;
/// Fields we decode differently on purpose: message, field, why.
const KNOWN_FIELDS: &[(&str, &str, &str)] = &[
    (
        "edge.eml",
        "x-split",
        "one character split across two encoded words: we decode the words' octets \
         together and get it back; Dovecot decodes each word alone and gets U+FFFD",
    ),
    (
        "edge.eml",
        "x-bad-word",
        "white space before a malformed word (=?utf-8?x?bad?=): Dovecot drops it as if the \
         word were encoded; RFC 2047 drops white space only between encoded words",
    ),
];

const ADDRESS_HEADERS: &[&str] = &["from", "to", "cc", "sender", "reply-to", "bcc"];

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

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Keys a value should and should not match, for every match type.
fn keys(value: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (":is", value.to_string()),
        (":is", value.to_ascii_uppercase()),
        (":is", format!("{value}x")),
        (":is", String::new()),
        (":contains", String::new()),
        (":matches", "*".to_string()),
        (":matches", "?*".to_string()),
        (":matches", value.replace('*', "\\*").replace('?', "\\?")),
    ];
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n >= 3 {
        let middle: String = chars[n / 3..2 * n / 3].iter().collect();
        let head: String = chars[..n / 2].iter().collect();
        let tail: String = chars[n / 2..].iter().collect();
        let escape = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('*', "\\*")
                .replace('?', "\\?")
        };
        out.push((":contains", middle.clone()));
        out.push((":contains", middle.to_ascii_uppercase()));
        out.push((":contains", format!("{middle}zz")));
        out.push((":matches", format!("{}*", escape(&head))));
        out.push((":matches", format!("*{}", escape(&tail))));
        out.push((":matches", format!("*{}*", escape(&middle))));
        out.push((":matches", format!("*{}x", escape(&tail))));
        // A '?' only after the first '*': Pigeonhole 0.5 mishandles it before (see
        // dovecot.rs KNOWN).
        let bytes = tail.len();
        out.push((":matches", format!("*{}", "?".repeat(bytes))));
        out.push((":matches", format!("*?{}", "?".repeat(bytes))));
        out.push((":matches", format!("{}*{}", escape(&head), escape(&tail))));
    }
    out
}

#[derive(Debug)]
struct Case {
    test: String,
}

/// Probes for every field and every address part, then cases from the values Dovecot
/// reports for them (so a field we decode or parse differently shows up as disagreements).
fn cases_for(binary: &Path, work: &Path, message_path: &Path, message: &[u8]) -> Vec<Case> {
    let parsed = Message::from_header_block(message, message.len() as u64);
    let names: BTreeSet<String> = parsed
        .headers()
        .iter()
        .map(|field| String::from_utf8_lossy(field.name).to_ascii_lowercase())
        .collect();
    let mut probes: Vec<(String, String)> = Vec::new();
    for name in &names {
        probes.push((format!("header {{}} {}", quote(name)), name.clone()));
    }
    for name in ADDRESS_HEADERS.iter().filter(|name| names.contains(**name)) {
        for part in [":all", ":localpart", ":domain"] {
            probes.push((
                format!("address {part} {{}} {}", quote(name)),
                name.to_string(),
            ));
        }
    }
    let probe_tests: Vec<String> = probes
        .iter()
        .map(|(template, _)| format!("{} \"-never-\"", template.replace("{}", ":is")))
        .collect();
    let mut cases = Vec::new();
    for (index, value) in dovecot_values(binary, work, message_path, &probe_tests) {
        let (template, _) = &probes[index];
        for comparator in ["i;ascii-casemap", "i;octet"] {
            for (match_type, key) in keys(&value) {
                let tags = format!("{match_type} :comparator {}", quote(comparator));
                cases.push(Case {
                    test: format!("{} {}", template.replace("{}", &tags), quote(&key)),
                });
            }
        }
    }
    cases
}

/// What Dovecot compares for each of `probes` (a test with "-never-" as its key), from its
/// matching trace: (index into `probes`, value).
fn dovecot_values(
    binary: &Path,
    work: &Path,
    message_path: &Path,
    probes: &[String],
) -> Vec<(usize, String)> {
    let script: String = probes
        .iter()
        .map(|probe| format!("if {probe} {{ stop; }}\n"))
        .collect();
    let script_path = work.join("trace.sieve");
    fs::write(&script_path, script).unwrap();
    let output = sieve_test(binary, work, &script_path, message_path)
        .args(["-t", "-", "-Tlevel=matching"])
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&output.stdout);
    let mut values = Vec::new();
    for line in trace.lines() {
        // "  12:   matching value `...'": the number is the script line.
        let Some((number, rest)) = line.trim_start().split_once(':') else {
            continue;
        };
        let (Ok(number), Some((_, value))) =
            (number.parse::<usize>(), rest.split_once("matching value `"))
        else {
            continue;
        };
        values.push((number - 1, value.strip_suffix('\'').unwrap().to_string()));
    }
    values
}

fn sieve_test(binary: &Path, work: &Path, script: &Path, message: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["-c", "/dev/null", "-o"])
        .arg(format!(
            "mail_location=maildir:{}",
            work.join("mail").display()
        ))
        .args(["-f", "sender@example.net", "-a", "me@example.org", "-C"])
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
    command
}

fn dovecot_folders(binary: &Path, work: &Path, script: &Path, message: &Path) -> BTreeSet<String> {
    let mut command = sieve_test(binary, work, script, message);
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sieve-test failed on {}:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("* store message in folder: "))
        .filter(|folder| folder.starts_with('t'))
        .map(String::from)
        .collect()
}

fn our_folders(script: &str, message: &[u8]) -> BTreeSet<String> {
    let script = Script::compile(script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    let parsed = Message::from_header_block(message, message.len() as u64);
    let outcome = script.evaluate(&parsed);
    assert_eq!(outcome.error, None);
    outcome
        .actions
        .iter()
        .filter_map(|action| match action {
            Action::Store(delivery) => match &delivery.mailbox {
                Mailbox::Folder(name) => Some(name.clone()),
                Mailbox::Inbox => None,
            },
            Action::Discard => None,
        })
        .collect()
}

#[test]
fn generated_header_and_address_tests_agree_with_dovecot() {
    let Some(binary) = sieve_test_binary() else {
        eprintln!(
            "SKIPPED: sieve-test not found (Debian package dovecot-sieve; tests/install-peers)"
        );
        return;
    };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/interop/messages");
    let work = tempfile::tempdir().unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mail = work.path().join("mail");
    for sub in ["", "cur", "new", "tmp"] {
        fs::create_dir_all(mail.join(sub)).unwrap();
    }
    if running_as_root() {
        for dir in [
            work.path().to_path_buf(),
            mail.clone(),
            mail.join("cur"),
            mail.join("new"),
            mail.join("tmp"),
        ] {
            std::os::unix::fs::chown(dir, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
        }
    }
    let mut messages: Vec<PathBuf> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    messages.sort();

    let (mut total, mut known, mut failures) = (0, 0, Vec::new());
    for path in messages {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = common::crlf(fs::read(&path).unwrap());
        let message_copy = work.path().join(&name);
        fs::write(&message_copy, &bytes).unwrap();
        let cases = cases_for(&binary, work.path(), &message_copy, &bytes);
        for (batch_number, batch) in cases.chunks(TESTS_PER_SCRIPT).enumerate() {
            let mut script = String::from("require \"fileinto\";\n");
            for (i, case) in batch.iter().enumerate() {
                script.push_str(&format!("if {} {{ fileinto \"t{i}\"; }}\n", case.test));
            }
            let script_path = work.path().join(format!("{name}-{batch_number}.sieve"));
            fs::write(&script_path, &script).unwrap();
            let theirs = dovecot_folders(&binary, work.path(), &script_path, &message_copy);
            let ours = our_folders(&script, &bytes);
            for (i, case) in batch.iter().enumerate() {
                total += 1;
                let folder = format!("t{i}");
                let (d, o) = (theirs.contains(&folder), ours.contains(&folder));
                let known_field = KNOWN_FIELDS.iter().find(|(m, field, _)| {
                    *m == name && case.test.contains(&format!("\"{field}\""))
                });
                match known_field {
                    _ if d == o => {}
                    Some(_) => known += 1,
                    None => failures.push(format!("{name}: {} → Dovecot {d}, we {o}", case.test)),
                }
            }
        }
    }
    for (message, field, reason) in KNOWN_FIELDS {
        eprintln!("known: {message} {field}: {reason}");
    }
    eprintln!(
        "{total} generated tests: {} agree, {known} known disagreements, {} failures",
        total - known - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
