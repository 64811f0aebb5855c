//! Interop: a private stock Postfix with postern-dkim as its milter signs mail, and dkimpy and
//! OpenDKIM verify every signature. Needs root, postfix, opendkim and dkimpy (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use postern_tests::dkim_daemon::{self, DkimDaemon, TestKey};
use postern_tests::postfix::{Postfix, PostfixSettings};
use postern_tests::sink::{Received, Sink};
use postern_tests::smtp_client::{Submission, submit};
use postern_tests::workdir::WorkDir;
use postern_tests::{auth_stub, corpus, free_port, verify};

const OUTSIDE: &str = "127.0.0.2";
const DELIVERY: Duration = Duration::from_secs(60);

/// Postfix + sink + Dovecot-protocol auth, with postern-dkim's socket path fixed so daemons
/// can be restarted under it with other settings.
struct Stack {
    // Fields drop in this order: Postfix must stop while its config dir still exists.
    postfix: Postfix,
    work: WorkDir,
    sink: Sink,
    smtp_port: u16,
    submission_port: u16,
    socket: PathBuf,
}

impl Stack {
    fn start(label: &str) -> Stack {
        let work = WorkDir::new(label);
        let socket = work.subdir("milter", 0o755).join("milter.sock");
        let auth_socket = work.path().join("auth.sock");
        auth_stub::start(&auth_socket, "alice@example.com", "secret");
        let sink = Sink::start();
        let smtp_port = free_port();
        let submission_port = free_port();
        let milter = format!("unix:{}", socket.display());
        let postfix = Postfix::start(
            &work.subdir("postfix", 0o755),
            &PostfixSettings {
                smtp_port,
                submission: Some((submission_port, auth_socket)),
                relay_port: sink.port(),
                smtpd_milters: milter.clone(),
                non_smtpd_milters: milter,
                mynetworks: "127.0.0.1/32".into(),
                extra_main: vec![],
                submission_options: vec![],
            },
        );
        Stack {
            work,
            sink,
            postfix,
            smtp_port,
            submission_port,
            socket,
        }
    }

    fn keys(&self, algorithms: &[&str]) -> Vec<TestKey> {
        let dir = self.work.subdir("keys", 0o755);
        algorithms
            .iter()
            .map(|algorithm| {
                dkim_daemon::genkey(&dir, "example.com", &format!("sel-{algorithm}"), algorithm)
            })
            .collect()
    }

    fn daemon(&self, keys: &[TestKey], canonicalization: &str, extra: &str) -> DkimDaemon {
        let dir = self.work.subdir("daemon", 0o755);
        DkimDaemon::start(
            &dir,
            &self.socket,
            &dkim_daemon::config(&self.socket, keys, canonicalization, extra),
        )
    }

    /// Submits with AUTH from "outside" on the submission port.
    fn submit_authenticated(&self, data: &[u8]) {
        submit(
            self.submission_port,
            &Submission {
                from: "alice@example.com",
                to: &["bob@example.net"],
                data,
                auth: Some(("alice@example.com", "secret")),
                source: Some(OUTSIDE.parse().unwrap()),
            },
        )
        .unwrap_or_else(|e| panic!("submission failed: {e}\n{}", self.postfix.maillog()));
    }

    fn submit_plain(&self, data: &[u8], source: &str) -> Result<String, String> {
        submit(
            self.smtp_port,
            &Submission {
                from: "alice@example.com",
                to: &["bob@example.net"],
                data,
                auth: None,
                source: Some(source.parse::<IpAddr>().unwrap()),
            },
        )
    }

    fn wait(&self, count: usize) -> Vec<Received> {
        let got = self.sink.wait_for(count, DELIVERY);
        assert!(
            got.len() >= count,
            "only {} of {count} messages arrived\nmaillog:\n{}",
            got.len(),
            self.postfix.maillog()
        );
        self.sink.take()
    }

    /// Saves messages to files for the verifiers; returns the paths.
    fn save(&self, dir: &str, messages: &[Received]) -> Vec<PathBuf> {
        let dir = self.work.subdir(dir, 0o755);
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let path = dir.join(format!("{i:03}.eml"));
                std::fs::write(&path, &m.data).unwrap();
                path
            })
            .collect()
    }
}

fn signature_count(message: &[u8]) -> usize {
    header_block(message)
        .split("\r\n")
        .filter(|l| l.to_ascii_lowercase().starts_with("dkim-signature:"))
        .count()
}

fn header_block(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n").next().unwrap_or("").to_string()
}

fn verify_all(stack: &Stack, keys: &[TestKey], files: &[PathBuf], signatures: usize) {
    let keys_file = stack.work.path().join("keys.txt");
    dkim_daemon::records(keys).write(&keys_file);
    match verify::dkimpy(&keys_file, files) {
        Ok(report) => eprint!("dkimpy:\n{report}"),
        Err(report) => panic!("dkimpy rejected a signature:\n{report}"),
    }
    match verify::opendkim(stack.work.path(), &keys_file, files, signatures) {
        Ok(report) => eprint!("opendkim:\n{report}"),
        Err(report) => panic!("OpenDKIM rejected a signature:\n{report}"),
    }
}

#[test]
fn signs_corpus_with_both_algorithms_in_every_canonicalization_and_verifiers_agree() {
    let stack = Stack::start("corpus");
    let keys = stack.keys(&["rsa", "ed25519"]);
    for canonicalization in [
        "relaxed/relaxed",
        "relaxed/simple",
        "simple/relaxed",
        "simple/simple",
    ] {
        let daemon = stack.daemon(&keys, canonicalization, "");
        let samples = corpus::corpus("alice@example.com", 20);
        for sample in &samples {
            stack.submit_authenticated(&sample.data);
        }
        let received = stack.wait(samples.len());
        for message in &received {
            assert_eq!(
                signature_count(&message.data),
                2,
                "{}",
                header_block(&message.data)
            );
            assert!(header_block(&message.data).contains(&format!("c={canonicalization}")));
        }
        let files = stack.save(
            &format!("out-{}", canonicalization.replace('/', "-")),
            &received,
        );
        verify_all(&stack, &keys, &files, 2);
        let log = daemon.log();
        assert!(log.contains("reason=auth=alice@example.com"), "{log}");
        eprintln!("{canonicalization}: {} messages verified", files.len());
    }
}

#[test]
fn internal_network_mail_is_signed_and_outside_mail_passes_unsigned() {
    let stack = Stack::start("origin");
    let keys = stack.keys(&["rsa"]);
    let daemon = stack.daemon(&keys, "relaxed/relaxed", "");
    let message = corpus::corpus("alice@example.com", 0).remove(0).data;

    stack.submit_plain(&message, "127.0.0.1").unwrap();
    let inside = stack.wait(1);
    assert_eq!(signature_count(&inside[0].data), 1);
    let files = stack.save("inside", &inside);
    verify_all(&stack, &keys, &files, 1);

    // Same From domain, but from outside without AUTH: relayed to example.net untouched.
    stack.submit_plain(&message, OUTSIDE).unwrap();
    let outside = stack.wait(1);
    assert_eq!(
        signature_count(&outside[0].data),
        0,
        "{}",
        header_block(&outside[0].data)
    );
    assert!(daemon.log().contains("passed unsigned"), "{}", daemon.log());
}

#[test]
fn mail_injected_with_postfix_sendmail_is_signed_through_non_smtpd_milters() {
    let stack = Stack::start("sendmail");
    let keys = stack.keys(&["rsa", "ed25519"]);
    for canonicalization in [
        "relaxed/relaxed",
        "relaxed/simple",
        "simple/relaxed",
        "simple/simple",
    ] {
        let _daemon = stack.daemon(&keys, canonicalization, "");
        let samples = corpus::corpus("alice@example.com", 0);
        for sample in &samples {
            // sendmail(1) takes LF line ends, as scripts write them.
            let lf = String::from_utf8(sample.data.clone())
                .unwrap()
                .replace("\r\n", "\n");
            stack.postfix.sendmail(lf.as_bytes());
        }
        let received = stack.wait(samples.len());
        for message in &received {
            assert_eq!(
                signature_count(&message.data),
                2,
                "{}",
                header_block(&message.data)
            );
        }
        let files = stack.save(
            &format!("sendmail-{}", canonicalization.replace('/', "-")),
            &received,
        );
        verify_all(&stack, &keys, &files, 2);
    }
}

#[test]
fn garbage_packets_close_one_connection_and_the_daemon_keeps_signing() {
    let stack = Stack::start("garbage");
    let keys = stack.keys(&["rsa"]);
    let mut daemon = stack.daemon(&keys, "relaxed/relaxed", "");
    let optneg: &[u8] = &[
        0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff,
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..1000 {
        let mut stream = UnixStream::connect(&stack.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut packet = Vec::new();
        if round % 3 == 0 {
            packet.extend_from_slice(optneg);
        }
        let len = (next() % 64) as usize;
        match round % 4 {
            // random bytes
            0 => packet.extend((0..len).map(|_| next() as u8)),
            // a frame header promising more than ever comes (truncated packet)
            1 => packet.extend_from_slice(&[0, 0, 0, 200, b'L', b'F', b'r']),
            // absurd length
            2 => packet.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, b'B']),
            // valid frame, unknown command, random payload
            _ => {
                packet.extend_from_slice(&(len as u32 + 1).to_be_bytes());
                packet.push(b'Z');
                packet.extend((0..len).map(|_| next() as u8));
            }
        }
        let _ = stream.write_all(&packet);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    assert!(
        daemon.is_running(),
        "postern-dkim died; log:\n{}",
        daemon.log()
    );

    let message = corpus::corpus("alice@example.com", 0).remove(0).data;
    stack.submit_authenticated(&message);
    let received = stack.wait(1);
    let files = stack.save("after-garbage", &received);
    verify_all(&stack, &keys, &files, 1);
    assert!(
        daemon.log().contains("malformed milter packet"),
        "{}",
        daemon.log()
    );
}

#[test]
fn reload_with_a_bad_key_keeps_the_old_keys_and_a_good_reload_switches_selector() {
    let stack = Stack::start("reload");
    let keys = stack.keys(&["rsa"]);
    let mut daemon = stack.daemon(&keys, "relaxed/relaxed", "");
    let message = corpus::corpus("alice@example.com", 0).remove(0).data;

    // Break the key file, reload: the old key stays in use.
    std::fs::write(
        &keys[0].file,
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    daemon.signal("HUP");
    assert!(postern_tests::wait_until(Duration::from_secs(10), || {
        daemon.log().contains("reload failed")
    }));
    stack.submit_authenticated(&message);
    let received = stack.wait(1);
    verify_all(&stack, &keys, &stack.save("old-key", &received), 1);

    // Rotate to a new selector and reload: the new one signs.
    let dir = stack.work.subdir("keys2", 0o755);
    let rotated = vec![dkim_daemon::genkey(&dir, "example.com", "sel-2027", "rsa")];
    std::fs::write(
        &daemon.config_file,
        dkim_daemon::config(&stack.socket, &rotated, "relaxed/relaxed", ""),
    )
    .unwrap();
    daemon.signal("HUP");
    assert!(postern_tests::wait_until(Duration::from_secs(10), || {
        daemon.log().contains("configuration reloaded")
    }));
    stack.submit_authenticated(&message);
    let received = stack.wait(1);
    assert!(header_block(&received[0].data).contains("s=sel-2027"));
    verify_all(&stack, &rotated, &stack.save("new-key", &received), 1);

    // SIGTERM drains and exits cleanly.
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)),
        Some(true),
        "{}",
        daemon.log()
    );
}
