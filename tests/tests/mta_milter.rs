//! Interop: postern-mta's milter chain drives real signing milters (OpenDKIM, postern-dkim)
//! through a whole SMTP transaction; the DKIM-Signature each asks for is applied with
//! `apply_header_changes` and the signed message verified by dkimpy. Needs root, opendkim and
//! dkimpy (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use postern_mta::config::{MilterDefault, MilterSettings};
use postern_mta::milter::{
    ConnectInfo, HeaderChange, MailMacros, MilterChain, Verdict, apply_header_changes,
};
use postern_tests::dkim_daemon::{self, DkimDaemon, TestKey};
use postern_tests::milter_replay::split_message;
use postern_tests::opendkim::OpenDkim;
use postern_tests::verify;
use postern_tests::workdir::WorkDir;

const MESSAGE: &str = "From: Alice <alice@example.com>\r\n\
    To: Bob <bob@example.net>\r\n\
    Subject: milter chain interop,\r\n\
    \tfolded\r\n\
    Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n\
    Message-ID: <chain-1@example.com>\r\n\
    MIME-Version: 1.0\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    \r\n\
    Hello Bob,\r\n\
    \r\n\
    this message went through postern-mta's milter chain.\r\n\
    .leading dot, trailing space \r\n";

fn settings(name: &str, socket: &Path) -> MilterSettings {
    MilterSettings {
        name: name.to_string(),
        socket: format!("unix:{}", socket.display()).parse().unwrap(),
        default_action: MilterDefault::TempFail,
        connect_timeout: Duration::from_secs(10),
        command_timeout: Duration::from_secs(30),
        content_timeout: Duration::from_secs(60),
    }
}

/// A loopback client on the submission listener, as Postfix would describe it.
fn client() -> ConnectInfo {
    ConnectInfo {
        hostname: "mx.postern.test".into(),
        daemon_name: "submission".into(),
        daemon_addr: "127.0.0.1:587".parse().ok(),
        client_addr: "127.0.0.1:41000".parse().ok(),
        client_name: Some("localhost".into()),
        client_ptr: Some("localhost".into()),
    }
}

/// Runs `message` through the chain of `milters` as an SMTP session would, applies the header
/// changes at end of message, and returns the final message.
async fn through_chain(milters: &[MilterSettings], message: &[u8]) -> (Vec<u8>, Vec<HeaderChange>) {
    let (fields, body) = split_message(message);
    let mut headers: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect();

    let (mut chain, verdict) = MilterChain::connect(milters, &client()).await;
    assert_eq!(verdict, Verdict::Continue);
    assert!(chain.helo("client.postern.test").await.proceeds());
    let mail = MailMacros {
        queue_id: Some("4QTEST".into()),
        auth_type: Some("PLAIN".into()),
        auth_authen: Some("alice@example.com".into()),
        ..MailMacros::default()
    };
    assert!(
        chain
            .mail_from("alice@example.com", &[], &mail)
            .await
            .proceeds()
    );
    assert!(chain.rcpt("bob@example.net", &[], None).await.proceeds());
    assert!(chain.data().await.proceeds());
    for (name, value) in &headers {
        assert!(chain.header(name, value).await.proceeds());
    }
    assert!(chain.end_of_headers().await.proceeds());
    // In pieces, as DATA arrives.
    for piece in body.chunks(40) {
        assert!(chain.body(piece).await.proceeds());
    }
    let outcome = chain.end_of_message().await;
    assert!(outcome.verdict.proceeds(), "{:?}", outcome.verdict);
    assert!(outcome.body.is_none() && outcome.quarantine.is_none());
    let changes: Vec<HeaderChange> = outcome.header_changes().cloned().collect();
    apply_header_changes(&mut headers, &changes);
    chain.quit().await;

    let mut signed = Vec::new();
    for (name, value) in &headers {
        signed.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    signed.extend_from_slice(b"\r\n");
    signed.extend_from_slice(body);
    (signed, changes)
}

fn signature_count(message: &[u8]) -> usize {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("dkim-signature:"))
        .count()
}

fn verify_with_dkimpy(work: &WorkDir, keys: &[TestKey], message: &[u8], name: &str) {
    let keys_file = work.path().join("keys.txt");
    dkim_daemon::records(keys).write(&keys_file);
    let path: PathBuf = work.path().join(format!("{name}.eml"));
    std::fs::write(&path, message).unwrap();
    match verify::dkimpy(&keys_file, &[path]) {
        Ok(report) => eprint!("dkimpy:\n{report}"),
        Err(report) => panic!(
            "dkimpy rejected the signature:\n{report}\nmessage:\n{}",
            String::from_utf8_lossy(message)
        ),
    }
}

/// Simple header canonicalization checks that header values reach the message byte for byte
/// as the signer wrote them (leading space, folding).
const CANONICALIZATIONS: [&str; 2] = ["relaxed/relaxed", "simple/simple"];

fn label(canonicalization: &str) -> String {
    canonicalization.replace('/', "-")
}

fn opendkim_signer(work: &WorkDir, key: &TestKey, canonicalization: &str) -> OpenDkim {
    let dir = work.subdir(&format!("opendkim-{}", label(canonicalization)), 0o755);
    let key_file = dir.join("signing.key");
    std::fs::copy(&key.file, &key_file).unwrap();
    OpenDkim::start_signer(
        &dir,
        &key.domain,
        &key.selector,
        &key_file,
        canonicalization,
    )
}

fn postern_dkim(work: &WorkDir, keys: &[TestKey], canonicalization: &str) -> DkimDaemon {
    let dir = work.subdir(&format!("postern-dkim-{}", label(canonicalization)), 0o755);
    let socket = dir.join("milter.sock");
    DkimDaemon::start(
        &dir,
        &socket,
        &dkim_daemon::config(&socket, keys, canonicalization, ""),
    )
}

#[tokio::test]
async fn opendkim_signs_through_the_chain() {
    let work = WorkDir::new("mta-milter-opendkim");
    let key = dkim_daemon::genkey(&work.subdir("keys", 0o755), "example.com", "od", "rsa");
    for canonicalization in CANONICALIZATIONS {
        let opendkim = opendkim_signer(&work, &key, canonicalization);
        let milters = [settings("opendkim", opendkim.socket())];
        let (signed, changes) = through_chain(&milters, MESSAGE.as_bytes()).await;
        eprintln!("OpenDKIM ({canonicalization}) asked for {changes:?}");
        assert_eq!(signature_count(&signed), 1);
        let name = format!("opendkim-{}", label(canonicalization));
        verify_with_dkimpy(&work, std::slice::from_ref(&key), &signed, &name);
    }
}

#[tokio::test]
async fn postern_dkim_signs_through_the_chain() {
    let work = WorkDir::new("mta-milter-postern-dkim");
    let keys_dir = work.subdir("keys", 0o755);
    let keys = [
        dkim_daemon::genkey(&keys_dir, "example.com", "pr", "rsa"),
        dkim_daemon::genkey(&keys_dir, "example.com", "pe", "ed25519"),
    ];
    for canonicalization in CANONICALIZATIONS {
        let daemon = postern_dkim(&work, &keys, canonicalization);
        let milters = [settings("postern-dkim", &daemon.socket)];
        let (signed, _) = through_chain(&milters, MESSAGE.as_bytes()).await;
        assert_eq!(signature_count(&signed), 2);
        let name = format!("postern-dkim-{}", label(canonicalization));
        verify_with_dkimpy(&work, &keys, &signed, &name);
    }
}

/// Both sign what the client sent (the chain streams content to every milter), so neither
/// signature covers the other and both verify.
#[tokio::test]
async fn two_signers_in_one_chain() {
    let work = WorkDir::new("mta-milter-both");
    let keys_dir = work.subdir("keys", 0o755);
    let ours = dkim_daemon::genkey(&keys_dir, "example.com", "pe", "ed25519");
    let theirs = dkim_daemon::genkey(&keys_dir, "example.com", "od", "rsa");
    let daemon = postern_dkim(&work, std::slice::from_ref(&ours), "relaxed/relaxed");
    let opendkim = opendkim_signer(&work, &theirs, "simple/simple");
    let milters = [
        settings("postern-dkim", &daemon.socket),
        settings("opendkim", opendkim.socket()),
    ];
    let (signed, changes) = through_chain(&milters, MESSAGE.as_bytes()).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(signature_count(&signed), 2);
    verify_with_dkimpy(&work, &[ours, theirs], &signed, "both");
}
