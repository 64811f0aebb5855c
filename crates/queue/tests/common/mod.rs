//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use queue::{MailParams, NewEnvelope, NewRecipient, Origin, Timestamp};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const ARRIVAL: u64 = 1_774_432_800; // 2026-03-25T10:00:00Z

pub fn new_envelope(sender: &str, recipients: &[&str]) -> NewEnvelope {
    NewEnvelope {
        arrival: Timestamp::from_unix(ARRIVAL),
        sender: sender.into(),
        params: MailParams::default(),
        origin: Origin {
            client_address: Some("192.0.2.7".into()),
            client_name: Some("mail.example.net".into()),
            helo: Some("mail.example.net".into()),
            auth_user: None,
            listener: "smtp".into(),
            protocol: "ESMTPS".into(),
            tls: true,
        },
        held: false,
        recipients: recipients.iter().map(|r| NewRecipient::new(*r)).collect(),
    }
}

pub fn message(subject: &str, body_lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.net>\r\n\r\n"
    )
    .into_bytes();
    for i in 0..body_lines {
        m.extend_from_slice(format!("body line {i}\r\n").as_bytes());
    }
    m
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
