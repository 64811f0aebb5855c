//! The postern-dkim binary over a real UNIX socket, driven by our milter client the way
//! Postfix drives it, its signatures checked by an independent verifier (mail-auth).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mail_auth::DkimResult;
use milter::Reply;
use postern_tests::dkim_daemon::{self, DkimDaemon, TestKey};
use postern_tests::milter_replay::replay_from;
use postern_tests::oracle::{self, TxtCache};

const BIN: &str = env!("CARGO_BIN_EXE_postern-dkim");
const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\n\
Subject: test\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t1@example.com>\r\n\
\r\nHello Bob.\r\n";

struct Setup {
    dir: tempfile::TempDir,
    socket: PathBuf,
    keys: Vec<TestKey>,
}

fn setup(algorithms: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let keys = algorithms
        .iter()
        .map(|a| {
            dkim_daemon::genkey_with(
                Path::new(BIN),
                dir.path(),
                "example.com",
                &format!("s-{a}"),
                a,
            )
        })
        .collect();
    let socket = dir.path().join("milter.sock");
    Setup { dir, socket, keys }
}

impl Setup {
    fn start(&self, extra_signing: &str) -> DkimDaemon {
        let config =
            dkim_daemon::config(&self.socket, &self.keys, "relaxed/relaxed", extra_signing);
        DkimDaemon::start_with(Path::new(BIN), self.dir.path(), &self.socket, &config)
    }

    fn cache(&self) -> TxtCache {
        let cache = TxtCache::default();
        for key in &self.keys {
            cache.add_key(&key.domain, &key.selector, &key.record);
        }
        cache
    }
}

/// Applies INSHEADER index 0 modifications to the message, as Postfix would (LF → CRLF).
fn apply(message: &[u8], replies: &[Reply]) -> Vec<u8> {
    let mut out = Vec::new();
    for reply in replies.iter().rev() {
        if let Reply::InsertHeader {
            index: 0,
            name,
            value,
        } = reply
        {
            out.extend_from_slice(name);
            out.push(b':');
            out.extend_from_slice(
                &String::from_utf8_lossy(value)
                    .replace('\n', "\r\n")
                    .into_bytes(),
            );
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(message);
    out
}

fn outside() -> Option<std::net::SocketAddr> {
    "192.0.2.1:40000".parse().ok()
}

#[test]
fn authenticated_mail_gets_one_signature_per_key_and_mail_auth_verifies_them() {
    let setup = setup(&["rsa", "ed25519"]);
    let daemon = setup.start("");
    let replies = replay_from(&setup.socket, MESSAGE, outside(), Some("alice")).unwrap();
    assert_eq!(replies.last(), Some(&Reply::Continue), "{replies:?}");
    let signed = apply(MESSAGE, &replies);
    let results = oracle::verify(&signed, &setup.cache());
    assert_eq!(
        results,
        vec![DkimResult::Pass, DkimResult::Pass],
        "{}",
        String::from_utf8_lossy(&signed)
    );
    let log = daemon.log();
    assert!(
        log.contains("queue_id=4ABCDEF") && log.contains("reason=auth=alice"),
        "{log}"
    );
}

#[test]
fn unauthenticated_mail_from_outside_is_accepted_untouched_at_mail_from() {
    let setup = setup(&["rsa"]);
    let daemon = setup.start("");
    let replies = replay_from(&setup.socket, MESSAGE, outside(), None).unwrap();
    assert_eq!(replies, vec![Reply::Accept]);
    assert!(daemon.log().contains("passed unsigned"), "{}", daemon.log());
}

#[test]
fn internal_network_mail_is_signed() {
    let setup = setup(&["ed25519"]);
    let _daemon = setup.start("");
    let replies = replay_from(&setup.socket, MESSAGE, "127.0.0.1:25".parse().ok(), None).unwrap();
    let results = oracle::verify(&apply(MESSAGE, &replies), &setup.cache());
    assert_eq!(results, vec![DkimResult::Pass]);
}

#[test]
fn foreign_from_domain_is_not_signed() {
    let setup = setup(&["rsa"]);
    let _daemon = setup.start("");
    let message = String::from_utf8_lossy(MESSAGE).replace("alice@example.com", "alice@other.test");
    let replies = replay_from(&setup.socket, message.as_bytes(), outside(), Some("alice")).unwrap();
    assert_eq!(replies, vec![Reply::Accept]);
}

#[test]
fn a_message_already_signed_for_a_selector_is_not_signed_twice_for_it() {
    let setup = setup(&["rsa", "ed25519"]);
    let _daemon = setup.start("");
    let first = replay_from(&setup.socket, MESSAGE, outside(), Some("alice")).unwrap();
    let once = apply(MESSAGE, &first);
    let again = replay_from(&setup.socket, &once, outside(), Some("alice")).unwrap();
    assert_eq!(again, vec![Reply::Accept], "{again:?}");
}

#[test]
fn a_garbage_packet_closes_only_its_connection() {
    let setup = setup(&["rsa"]);
    let mut daemon = setup.start("");
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(&setup.socket).unwrap();
    stream.write_all(&[0xff, 0xff, 0xff, 0xff, b'O']).unwrap();
    let mut rest = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        stream.read_to_end(&mut rest).unwrap(),
        0,
        "connection closed without reply"
    );
    assert!(daemon.is_running());
    let replies = replay_from(&setup.socket, MESSAGE, outside(), Some("alice")).unwrap();
    assert_eq!(
        oracle::verify(&apply(MESSAGE, &replies), &setup.cache()),
        vec![DkimResult::Pass]
    );
    assert!(daemon.log().contains("malformed milter packet"));
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let setup = setup(&["rsa"]);
    let mut daemon = setup.start("");
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)),
        Some(true),
        "{}",
        daemon.log()
    );
    assert!(!setup.socket.exists(), "socket file removed on exit");
}

#[test]
fn check_config_lists_every_problem_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dkim.toml");
    std::fs::write(
        &config,
        "[signing]\ncanonicalization = \"loose\"\ninternal_networks = [\"10.0.0.1/8\"]\n\
         [keys.main]\ndomain = \"example.com\"\nselector = \"s1\"\nfile = \"/nonexistent/s1.key\"\n\
         [[signing_table]]\nfrom = \"example.com\"\nkeys = [\"main\", \"missing\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let file = config.display().to_string();
    for key in [
        "signing.canonicalization",
        "signing.internal_networks[0]",
        "keys.main.file: cannot read /nonexistent/s1.key",
        "signing_table[0].keys[1]",
    ] {
        assert!(
            stderr.contains(&format!("{file}: {key}")),
            "missing {key} in:\n{stderr}"
        );
    }
}

#[test]
fn check_config_names_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dkim.toml");
    std::fs::write(&config, "[signing]\ncanonicalisation = \"relaxed\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("signing.canonicalisation: unknown field"),
        "{stderr}"
    );
}

#[test]
fn the_example_config_is_valid_once_its_keys_exist() {
    let setup = setup(&["rsa", "ed25519"]);
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../etc/postern/dkim.toml"
    ))
    .unwrap();
    let config = example
        .replace(
            "/etc/postern/dkim/example.com.2026a.key",
            &setup.keys[0].file.display().to_string(),
        )
        .replace(
            "/etc/postern/dkim/example.com.2026e.key",
            &setup.keys[1].file.display().to_string(),
        );
    let path = setup.dir.path().join("dkim.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .arg("--check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

#[test]
fn genkey_writes_a_private_key_0600_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.key");
    let run = || {
        Command::new(BIN)
            .args([
                "genkey",
                "--domain",
                "example.com",
                "--selector",
                "s1",
                "--out",
            ])
            .arg(&file)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success());
    let stdout = String::from_utf8(first.stdout).unwrap();
    assert!(
        stdout.contains("s1._domainkey.example.com. IN TXT ("),
        "{stdout}"
    );
    for quoted in stdout.split('"').skip(1).step_by(2) {
        assert!(quoted.len() <= 255, "TXT string over 255 bytes");
    }
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&file).unwrap();
    let second = run();
    assert!(!second.status.success());
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn testkey_tells_matching_mismatched_and_missing_records_apart() {
    let setup = setup(&["rsa", "ed25519"]);
    let other = dkim_daemon::genkey_with(
        Path::new(BIN),
        setup.dir.path(),
        "example.com",
        "other",
        "ed25519",
    );
    let mut records = std::collections::HashMap::new();
    records.insert(
        "s-rsa._domainkey.example.com".to_string(),
        setup.keys[0].record.clone(),
    );
    // The ed25519 selector publishes some other key.
    records.insert(
        "s-ed25519._domainkey.example.com".to_string(),
        other.record.clone(),
    );
    let port = postern_tests::dns_stub::start(records);
    let config = setup.dir.path().join("dkim.toml");
    std::fs::write(
        &config,
        dkim_daemon::config(&setup.socket, &setup.keys, "relaxed/relaxed", ""),
    )
    .unwrap();
    let run = |config: &Path| {
        Command::new(BIN)
            .args([
                "testkey",
                "--nameserver",
                &format!("127.0.0.1:{port}"),
                "--config",
            ])
            .arg(config)
            .output()
            .unwrap()
    };
    let out = run(&config);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("key s-rsa-rsa (s-rsa._domainkey.example.com., rsa-sha256): OK"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(s-ed25519._domainkey.example.com., ed25519-sha256): MISMATCH"),
        "{stdout}"
    );

    // A selector with no record at all.
    let missing = dkim_daemon::genkey_with(
        Path::new(BIN),
        setup.dir.path(),
        "example.com",
        "gone",
        "rsa",
    );
    std::fs::write(
        &config,
        dkim_daemon::config(&setup.socket, &[missing], "relaxed/relaxed", ""),
    )
    .unwrap();
    let stdout = String::from_utf8(run(&config).stdout).unwrap();
    assert!(stdout.contains("NOT FOUND"), "{stdout}");

    // Only the good one: success.
    std::fs::write(
        &config,
        dkim_daemon::config(&setup.socket, &setup.keys[..1], "relaxed/relaxed", ""),
    )
    .unwrap();
    assert!(run(&config).status.success());
}

#[test]
fn notifies_systemd_ready_reloading_and_stopping() {
    let setup = setup(&["rsa"]);
    let notify_path = setup.dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let config = setup.dir.path().join("dkim.toml");
    std::fs::write(
        &config,
        dkim_daemon::config(&setup.socket, &setup.keys, "relaxed/relaxed", ""),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let next = || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(next().contains("READY=1"));
    let kill = |signal: &str| {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap()
    };
    kill("HUP");
    let reloading = next();
    assert!(
        reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(next().contains("READY=1"));
    kill("TERM");
    assert!(next().contains("STOPPING=1"));
    assert!(child.wait().unwrap().success());
}

#[test]
fn serves_a_socket_passed_by_systemd_socket_activation() {
    let setup = setup(&["rsa"]);
    let activated = setup.dir.path().join("activated.sock");
    let config = setup.dir.path().join("dkim.toml");
    // The configured socket is ignored when systemd passes one.
    std::fs::write(
        &config,
        dkim_daemon::config(&setup.socket, &setup.keys, "relaxed/relaxed", ""),
    )
    .unwrap();
    let Ok(mut child) = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&activated)
        .arg(BIN)
        .arg("--config")
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("systemd-socket-activate not installed: skipped");
        return;
    };
    assert!(postern_tests::wait_until(Duration::from_secs(10), || {
        activated.exists()
    }));
    let replies = replay_from(&activated, MESSAGE, outside(), Some("alice")).unwrap();
    assert_eq!(
        oracle::verify(&apply(MESSAGE, &replies), &setup.cache()),
        vec![DkimResult::Pass]
    );
    assert!(
        !setup.socket.exists(),
        "configured socket must not be bound under activation"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn drops_root_privileges_to_the_configured_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: skipped");
        return;
    }
    let setup = setup(&["rsa"]);
    // Keys are read before the drop; the socket directory is root's.
    let config = dkim_daemon::config(&setup.socket, &setup.keys, "relaxed/relaxed", "").replacen(
        "[daemon]\n",
        "[daemon]\nuser = \"nobody\"\n",
        1,
    );
    let daemon = DkimDaemon::start_with(Path::new(BIN), setup.dir.path(), &setup.socket, &config);
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|uid| uid == "65534"),
        "{uid_line}"
    );
    let replies = replay_from(&setup.socket, MESSAGE, outside(), Some("alice")).unwrap();
    assert_eq!(
        oracle::verify(&apply(MESSAGE, &replies), &setup.cache()),
        vec![DkimResult::Pass]
    );
}

#[test]
fn unsignable_mail_that_should_be_signed_is_tempfailed_by_default_or_passed_when_configured() {
    let big_header = format!(
        "From: alice@example.com\r\nX-Big: {}\r\nSubject: big header\r\n\r\nbody\r\n",
        "x".repeat(4096)
    );
    let setup = setup(&["rsa"]);
    let daemon = setup.start("max_header_bytes = \"1k\"\n");
    let replies = replay_from(
        &setup.socket,
        big_header.as_bytes(),
        outside(),
        Some("alice"),
    )
    .unwrap();
    assert_eq!(replies, vec![Reply::TempFail]);
    assert!(
        daemon
            .log()
            .contains("not signed: headers larger than 1024 bytes"),
        "{}",
        daemon.log()
    );
    drop(daemon);

    let daemon = setup.start("max_header_bytes = \"1k\"\non_error = \"accept\"\n");
    let replies = replay_from(
        &setup.socket,
        big_header.as_bytes(),
        outside(),
        Some("alice"),
    )
    .unwrap();
    assert_eq!(replies, vec![Reply::Continue]);
    // Mail that never qualified is not affected by the error policy at all.
    let replies = replay_from(&setup.socket, big_header.as_bytes(), outside(), None).unwrap();
    assert_eq!(replies, vec![Reply::Accept]);
    drop(daemon);
}
