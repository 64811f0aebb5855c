//! Shared by the test files: an outcome as text lines, so vectors and Dovecot's answers can
//! be compared as plain lists.

#![allow(dead_code)]

use sieve::{Action, Mailbox, Outcome};

/// One line per action in order (`store INBOX`, `store "Folder"`, `store "Folder" create`,
/// `discard`), then `implicit keep` when it stands.
pub fn describe(outcome: &Outcome) -> Vec<String> {
    let mut lines: Vec<String> = outcome
        .actions
        .iter()
        .map(|action| match action {
            Action::Store(delivery) => {
                let mut line = match &delivery.mailbox {
                    Mailbox::Inbox => "store INBOX".to_string(),
                    Mailbox::Folder(name) => format!("store {name:?}"),
                };
                if delivery.create {
                    line.push_str(" create");
                }
                line
            }
            Action::Discard => "discard".to_string(),
        })
        .collect();
    if outcome.implicit_keep {
        lines.push("implicit keep".to_string());
    }
    if let Some(error) = &outcome.error {
        lines.push(format!("runtime error: {error}"));
    }
    lines
}

/// LF line ends made CRLF, as a message arrives over LMTP.
pub fn crlf(text: impl AsRef<[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in text.as_ref() {
        if b == b'\n' && out.last() != Some(&b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
