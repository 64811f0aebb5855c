//! Interop: a private stock Postfix delivers over LMTP (`virtual_transport = lmtp:unix:...`)
//! to postern-mda, which writes the Maildirs. Needs root and postfix (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use postern_tests::postfix::{Postfix, PostfixSettings};
use postern_tests::sink::Sink;
use postern_tests::smtp_client::{Submission, submit};
use postern_tests::workdir::WorkDir;
use postern_tests::{free_port, wait_until};

struct Mda {
    child: Child,
}

impl Drop for Mda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mda(dir: &Path, layout: &str) -> Mda {
    start_mda_with(dir, layout, "")
}

fn start_mda_with(dir: &Path, layout: &str, auth_extra: &str) -> Mda {
    std::fs::write(
        dir.join("users"),
        "alice@example.org:{PLAIN}secret::::::\nbob@example.net:{PLAIN}secret::::::\n\
         postmaster@example.net:{PLAIN}secret::::::\n",
    )
    .unwrap();
    let d = dir.display();
    let config = format!(
        "[daemon]\nlog_level = \"info\"\nshutdown_timeout = \"2s\"\n\n\
         [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\nhostname = \"mda.test\"\n\
         save_to_detail_mailbox = true\n\n\
         [auth]\nlisten = [\"unix:{d}/auth.sock\"]\nsocket_mode = \"0666\"\n{auth_extra}\n\
         [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\n\
         domains = [\"example.org\", \"example.net\", \"catchall.test\"]\n\n\
         [users.catch_all]\n\"catchall.test\" = \"postmaster@example.net\"\n\n\
         [mail]\nlayout = \"{layout}\"\nmaildir = \"Maildir\"\n"
    );
    std::fs::write(dir.join("mda.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("mda.log")).unwrap();
    let child = Command::new(postern_tests::binaries::path("postern-mda"))
        .arg("--config")
        .arg(dir.join("mda.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let socket = dir.join("lmtp.sock");
    assert!(
        wait_until(Duration::from_secs(20), || socket.exists()),
        "postern-mda did not start: {}",
        std::fs::read_to_string(dir.join("mda.log")).unwrap_or_default()
    );
    Mda { child }
}

/// Files in a Maildir folder's new/, sorted.
fn new_messages(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder.join("new"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn message(to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: sender@outside.test\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@outside.test>\r\n\r\n\
         Hello {to}.\r\n.leading dot\r\n"
    )
    .into_bytes()
}

fn delivers_through_postfix_lmtp(layout: &str, detail_folder: &str) {
    let work = WorkDir::new(&format!("mda-{}", layout.replace('+', "p")));
    let mda_dir = work.subdir("mda", 0o755);
    let _mda = start_mda(&mda_dir, layout);
    // The +detail folder must exist for the detail delivery.
    let detail = mda_dir
        .join("vmail/example.net/bob/Maildir")
        .join(detail_folder);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(detail.join(sub)).unwrap();
    }
    let sink = Sink::start();
    let smtp_port = free_port();
    let postfix = Postfix::start(
        &work.subdir("postfix", 0o755),
        &PostfixSettings {
            smtp_port,
            submission: None,
            relay_port: sink.port(),
            smtpd_milters: String::new(),
            non_smtpd_milters: String::new(),
            mynetworks: "127.0.0.1/32".into(),
            extra_main: vec![
                "relay_domains =".into(),
                "virtual_mailbox_domains = example.org, example.net, catchall.test".into(),
                format!(
                    "virtual_transport = lmtp:unix:{}/lmtp.sock",
                    mda_dir.display()
                ),
            ],
            submission_options: vec![],
        },
    );
    for (i, to) in [
        "alice@example.org",
        "bob@example.net",
        "bob+lists@example.net",
        "anyone@catchall.test",
        "unknown@example.org",
    ]
    .iter()
    .enumerate()
    {
        submit(
            smtp_port,
            &Submission {
                from: "sender@outside.test",
                to: &[to],
                data: &message(to, &format!("m{i}")),
                auth: None,
                source: None,
            },
        )
        .unwrap_or_else(|e| panic!("{to}: {e}\n{}", postfix.maillog()));
    }
    let vmail = mda_dir.join("vmail");
    let alice = vmail.join("example.org/alice/Maildir");
    let bob = vmail.join("example.net/bob/Maildir");
    let postmaster = vmail.join("example.net/postmaster/Maildir");
    assert!(
        wait_until(Duration::from_secs(30), || {
            new_messages(&alice).len() == 1
                && new_messages(&bob).len() == 1
                && new_messages(&detail).len() == 1
                && new_messages(&postmaster).len() == 1
        }),
        "deliveries missing\nmaillog:\n{}\nmda log:\n{}",
        postfix.maillog(),
        std::fs::read_to_string(mda_dir.join("mda.log")).unwrap_or_default()
    );
    for (folder, to) in [
        (&alice, "alice@example.org"),
        (&bob, "bob@example.net"),
        (&detail, "bob+lists@example.net"),
        (&postmaster, "anyone@catchall.test"),
    ] {
        let file = &new_messages(folder)[0];
        let stored = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&stored);
        assert!(
            text.starts_with("Return-Path: <sender@outside.test>\n"),
            "{text}"
        );
        assert!(text.contains(&format!("Delivered-To: {to}\n")), "{text}");
        assert!(
            text.contains(&format!("Hello {to}.\n.leading dot\n")),
            "{text}"
        );
        assert!(!text.contains('\r'), "stored with LF line ends");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let size: usize = name
            .split(",S=")
            .nth(1)
            .and_then(|s| s.split([',', ':']).next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no S= in {name}"));
        assert_eq!(size, stored.len(), "{name}");
    }
    // The unknown user was refused over LMTP and Postfix bounced it to the sender.
    let bounces = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(bounces.len(), 1, "{}", postfix.maillog());
    let bounce = String::from_utf8_lossy(&bounces[0].data);
    assert!(
        bounce.contains("unknown@example.org") && bounce.contains("5.1.1"),
        "{bounce}"
    );
}

#[test]
fn postfix_delivers_over_lmtp_into_maildir_plus_plus() {
    delivers_through_postfix_lmtp("maildir++", ".lists");
}

#[test]
fn postfix_delivers_over_lmtp_into_layout_fs() {
    delivers_through_postfix_lmtp("fs", "lists");
}

#[test]
fn postfix_authenticates_submission_through_the_auth_socket() {
    let work = WorkDir::new("mda-sasl");
    let mda_dir = work.subdir("mda", 0o755);
    // Without TLS Postfix does not mark the request `secured`; production keeps the default.
    let _mda = start_mda_with(
        &mda_dir,
        "maildir++",
        "require_secured = false\nfailure_delay = \"100ms\"",
    );
    let sink = Sink::start();
    let submission_port = free_port();
    let postfix = Postfix::start(
        &work.subdir("postfix", 0o755),
        &PostfixSettings {
            smtp_port: free_port(),
            submission: Some((submission_port, mda_dir.join("auth.sock"))),
            relay_port: sink.port(),
            smtpd_milters: String::new(),
            non_smtpd_milters: String::new(),
            mynetworks: "127.0.0.1/32".into(),
            extra_main: vec![],
            submission_options: vec![
                "smtpd_relay_restrictions=permit_sasl_authenticated,reject".into(),
            ],
        },
    );
    let send = |user: &str, password: &str| {
        submit(
            submission_port,
            &Submission {
                from: "alice@example.org",
                to: &["friend@elsewhere.test"],
                data: &message("friend@elsewhere.test", "auth"),
                auth: Some((user, password)),
                source: None,
            },
        )
    };
    send("alice@example.org", "secret").unwrap_or_else(|e| panic!("{e}\n{}", postfix.maillog()));
    assert_eq!(
        sink.wait_for(1, Duration::from_secs(30)).len(),
        1,
        "{}",
        postfix.maillog()
    );
    let wrong = send("alice@example.org", "wrong").unwrap_err();
    assert!(wrong.contains("535"), "{wrong}");
    let unknown = send("nobody@example.org", "secret").unwrap_err();
    assert!(unknown.contains("535"), "{unknown}");

    // AUTH LOGIN, from a second real client (swaks).
    let out = Command::new("swaks")
        .args([
            "--server",
            &format!("127.0.0.1:{submission_port}"),
            "--auth",
            "LOGIN",
        ])
        .args([
            "--auth-user",
            "bob@example.net",
            "--auth-password",
            "secret",
        ])
        .args(["--from", "bob@example.net", "--to", "friend@elsewhere.test"])
        .output()
        .expect("swaks (tests/install-peers installs it)");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && transcript.contains("235 2.7.0"),
        "{transcript}"
    );
    let out = Command::new("swaks")
        .args([
            "--server",
            &format!("127.0.0.1:{submission_port}"),
            "--auth",
            "LOGIN",
        ])
        .args(["--auth-user", "bob@example.net", "--auth-password", "nope"])
        .args(["--from", "bob@example.net", "--to", "friend@elsewhere.test"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("535"));
}
