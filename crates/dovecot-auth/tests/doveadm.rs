//! Interop: Dovecot's own auth client (`doveadm auth test -a SOCKET`, the library imap-login
//! uses) against an [`AuthSession`] on a UNIX socket. Skipped with a message when doveadm is
//! not installed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output};
use std::thread;

use dovecot_auth::{AuthSession, Event, Greeting, SessionOptions};

const DOVEADM: &str = "/usr/bin/doveadm";

/// Serves one connection: alice/secret is accepted as alice@example.org.
fn serve(listener: UnixListener, options: SessionOptions) -> Vec<Event> {
    let (mut stream, _) = listener.accept().unwrap();
    let mut session = AuthSession::new(options);
    let mut events = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        stream.write_all(&session.output()).unwrap();
        let n = stream.read(&mut buffer).unwrap_or(0);
        if n == 0 {
            return events;
        }
        session.receive(&buffer[..n]);
        while let Ok(Some(event)) = session.next_event() {
            if let Event::Verify {
                id,
                username,
                password,
                ..
            } = &event
            {
                if username == "alice" && password.expose() == b"secret" {
                    session.ok(*id, "alice@example.org").unwrap();
                } else {
                    session.fail(*id, None).unwrap();
                }
            }
            events.push(event);
        }
    }
}

fn doveadm_auth_test(options: SessionOptions, password: &str) -> Option<(Output, Vec<Event>)> {
    if !Path::new(DOVEADM).exists() {
        eprintln!("SKIPPED: {DOVEADM} not installed; no interop test against Dovecot's client");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("auth-client");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = thread::spawn(move || serve(listener, options));
    let output = Command::new(DOVEADM)
        .args(["auth", "test", "-a"])
        .arg(&socket)
        .args(["alice", password])
        .output()
        .unwrap();
    let events = server.join().unwrap();
    Some((output, events))
}

fn options() -> SessionOptions {
    let mut options = SessionOptions::new(std::process::id(), 1, [0x42; 16]);
    // doveadm does not claim a secured channel.
    options.plaintext_requires_secured = false;
    options
}

#[test]
fn doveadm_logs_in() {
    for greeting in [Greeting::Immediate, Greeting::AfterClientVersion] {
        let mut options = options();
        options.greeting = greeting;
        let Some((output, events)) = doveadm_auth_test(options, "secret") else {
            return;
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{greeting:?}: {stdout}");
        assert!(stdout.contains("auth succeeded"), "{stdout}");
        assert!(stdout.contains("user=alice@example.org"), "{stdout}");
        assert!(matches!(events[0], Event::Handshake { .. }));
        match &events[1] {
            Event::Verify {
                service, secured, ..
            } => assert_eq!((service.as_str(), *secured), ("doveadm", false)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn doveadm_wrong_password_fails() {
    let Some((output, _)) = doveadm_auth_test(options(), "wrong") else {
        return;
    };
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("auth failed"));
}

#[test]
fn doveadm_unsecured_plaintext_is_refused() {
    let mut options = options();
    options.plaintext_requires_secured = true;
    let Some((output, events)) = doveadm_auth_test(options, "secret") else {
        return;
    };
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Plaintext authentication disallowed"),
        "{text}"
    );
    assert!(matches!(events.last(), Some(Event::Refused { .. })));
}
