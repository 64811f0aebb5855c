//! Interop: a private stock Postfix delivers over LMTP (`virtual_transport = lmtp:unix:...`)
//! to postern-mda, which writes the Maildirs a private stock Dovecot then serves over IMAP; and
//! Postfix authenticates submission (`smtpd_sasl_type = dovecot`) through postern-mda's auth
//! socket and, with the same test, through a real Dovecot's. Needs root, Postfix, Dovecot and
//! swaks (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use maildir::{Layout, MailStore, Permissions};
use postern_tests::dovecot::{DovecotBuilder, VMAIL_UID, as_crlf, doveadm_pw, passwd_line};
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

/// The delivery tests' users; Dovecot reads the same lines. Mail is owned by the vmail uid so
/// Dovecot's mail processes (never root) can use it.
fn delivery_users() -> Vec<String> {
    [
        "alice@example.org",
        "bob@example.net",
        "postmaster@example.net",
    ]
    .iter()
    .map(|address| passwd_line(address, "{PLAIN}secret", "", ""))
    .collect()
}

fn start_mda(dir: &Path, layout: &str) -> Mda {
    start_mda_with(dir, layout, &delivery_users(), "")
}

fn start_mda_with(dir: &Path, layout: &str, users: &[String], auth_extra: &str) -> Mda {
    std::fs::write(dir.join("users"), users.join("\n") + "\n").unwrap();
    let d = dir.display();
    let config = format!(
        "[daemon]\nlog_level = \"info\"\nshutdown_timeout = \"2s\"\n\n\
         [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\nhostname = \"mda.test\"\n\
         save_to_detail_mailbox = true\n\n\
         [auth]\nlisten = [\"unix:{d}/auth.sock\"]\nsocket_mode = \"0666\"\n{auth_extra}\n\
         [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\n\
         domains = [\"example.org\", \"example.net\", \"catchall.test\"]\n\
         vmail_uid = {VMAIL_UID}\nvmail_gid = {VMAIL_UID}\n\n\
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

/// The number after `tag` (`,S=` or `,W=`) in a Maildir file name.
fn size_field(name: &str, tag: &str) -> u64 {
    name.split(tag)
        .nth(1)
        .and_then(|s| s.split([',', ':']).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {tag} in {name}"))
}

/// Postfix delivers to two domains, a +detail address, a catch-all domain and an unknown user
/// through postern-mda; then a private Dovecot, configured for `layout` as `mail_location`,
/// serves every message over IMAP with the size and bytes postern-mda stored.
fn delivers_through_postfix_lmtp(layout: Layout, dovecot_location: &str) {
    let name = match layout {
        Layout::MaildirPlusPlus => "maildir++",
        Layout::Fs => "fs",
    };
    let work = WorkDir::new(&format!("mda-{}", name.replace('+', "p")));
    let mda_dir = work.subdir("mda", 0o755);
    let _mda = start_mda(&mda_dir, name);
    let vmail = mda_dir.join("vmail");
    // The +detail folder must exist for the detail delivery; made as a user's IMAP client
    // would have, owned by the vmail uid.
    let detail_folder = MailStore::new(vmail.join("example.net/bob/Maildir"), layout)
        .with_permissions(Permissions {
            owner: Some((VMAIL_UID, VMAIL_UID)),
            ..Permissions::default()
        })
        .folder("lists")
        .unwrap();
    detail_folder.ensure().unwrap();
    let detail = detail_folder.path().to_path_buf();
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
    // (user, mailbox, stored bytes, W=), read before Dovecot moves the files to cur/.
    let mut expected = Vec::new();
    for (folder, to, user, mailbox) in [
        (&alice, "alice@example.org", "alice@example.org", "INBOX"),
        (&bob, "bob@example.net", "bob@example.net", "INBOX"),
        (&detail, "bob+lists@example.net", "bob@example.net", "lists"),
        (
            &postmaster,
            "anyone@catchall.test",
            "postmaster@example.net",
            "INBOX",
        ),
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
        assert_eq!(size_field(&name, ",S="), stored.len() as u64, "{name}");
        let vsize = size_field(&name, ",W=");
        expected.push((user, mailbox, stored, vsize));
    }
    // The unknown user was refused over LMTP and Postfix bounced it to the sender.
    let bounces = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(bounces.len(), 1, "{}", postfix.maillog());
    let bounce = String::from_utf8_lossy(&bounces[0].data);
    assert!(
        bounce.contains("unknown@example.org") && bounce.contains("5.1.1"),
        "{bounce}"
    );

    // A stock Dovecot over the same store and passwd-file.
    let dovecot = DovecotBuilder::new(&work.subdir("dovecot", 0o755))
        .passwd(delivery_users())
        .default_home(&format!("{}/%d/%n", vmail.display()))
        .mail_location(dovecot_location)
        .imap()
        .start();
    let view = dovecot.read_mail(
        "secret",
        &[
            "alice@example.org",
            "bob@example.net",
            "postmaster@example.net",
        ],
    );
    let bob_folders = view
        .folders
        .get("bob@example.net")
        .cloned()
        .unwrap_or_default();
    for folder in ["INBOX", "lists"] {
        assert!(
            bob_folders.iter().any(|f| f == folder),
            "{folder} not listed: {bob_folders:?}"
        );
    }
    let count: usize = view.messages.values().map(Vec::len).sum();
    assert_eq!(count, expected.len(), "{:?}", view.messages.keys());
    for (user, mailbox, stored, vsize) in &expected {
        let seen = view
            .messages
            .get(&(user.to_string(), mailbox.to_string()))
            .and_then(|list| list.first())
            .unwrap_or_else(|| panic!("Dovecot did not show {user}/{mailbox}: {view:?}"));
        assert_eq!(seen.rfc822_size, *vsize, "{user}/{mailbox} RFC822.SIZE");
        assert!(
            seen.body == as_crlf(stored),
            "{user}/{mailbox} body:\n{}",
            String::from_utf8_lossy(&seen.body)
        );
        // doveadm reads the file itself and checks it against S=.
        assert_eq!(seen.physical, Some(stored.len() as u64), "{user}/{mailbox}");
        assert_eq!(seen.text.as_ref(), Some(stored), "{user}/{mailbox}");
    }
    let log = dovecot.log();
    assert!(!log.contains("Error"), "dovecot log has errors:\n{log}");
}

#[test]
fn postfix_delivers_over_lmtp_into_maildir_plus_plus_and_dovecot_serves_it() {
    delivers_through_postfix_lmtp(Layout::MaildirPlusPlus, "maildir:~/Maildir");
}

#[test]
fn postfix_delivers_over_lmtp_into_layout_fs_and_dovecot_serves_it() {
    delivers_through_postfix_lmtp(Layout::Fs, "maildir:~/Maildir:LAYOUT=fs");
}

/// One user per password scheme postern-mda verifies, `(passwd-file line, address, password)`,
/// hashed by the real `doveadm pw`.
fn scheme_users() -> Vec<(String, String, String)> {
    [
        ("ARGON2ID", "argon2id@example.org", "correct horse battery"),
        ("SHA512-CRYPT", "sha512@example.org", "Grüße-aus-Köln"),
        ("SHA256-CRYPT", "sha256@example.org", "sha256:secret"),
        ("BLF-CRYPT", "blf@example.net", "blowfish 2y"),
        ("PLAIN", "plain@example.net", "plain-secret"),
    ]
    .iter()
    .map(|(scheme, address, password)| {
        let line = passwd_line(address, &doveadm_pw(scheme, password), "", "");
        (line, address.to_string(), password.to_string())
    })
    .collect()
}

/// AUTH LOGIN from a second real client, swaks, connecting from `source`; its transcript and
/// whether it succeeded.
fn swaks_login(port: u16, source: Ipv4Addr, user: &str, password: &str) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args(["--local-interface", &source.to_string()])
        .args([
            "--auth",
            "LOGIN",
            "--auth-user",
            user,
            "--auth-password",
            password,
        ])
        .args(["--quit-after", "AUTH"])
        .output()
        .expect("swaks (tests/install-peers installs it)");
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), transcript)
}

/// The SASL acceptance test, against whichever Dovecot-protocol server listens on
/// `auth_socket`: a private Postfix's submission service authenticates through it, AUTH PLAIN
/// from our client and AUTH LOGIN from swaks.
fn postfix_authenticates_each_scheme(
    work: &WorkDir,
    auth_socket: &Path,
    users: &[(String, String, String)],
    server_log: &dyn Fn() -> String,
) {
    let sink = Sink::start();
    let submission_port = free_port();
    let postfix = Postfix::start(
        &work.subdir("postfix", 0o755),
        &PostfixSettings {
            smtp_port: free_port(),
            submission: Some((submission_port, auth_socket.to_path_buf())),
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
    let logs = || {
        format!(
            "maillog:\n{}\nauth server log:\n{}",
            postfix.maillog(),
            server_log()
        )
    };
    let plain = |source: Ipv4Addr, user: &str, password: &str| {
        submit(
            submission_port,
            &Submission {
                from: user,
                to: &["friend@elsewhere.test"],
                data: &message("friend@elsewhere.test", "auth"),
                auth: Some((user, password)),
                source: Some(IpAddr::V4(source)),
            },
        )
    };
    // Each user, and each failing attempt below, comes from its own loopback address: Postfix
    // passes it on (rip=) and Dovecot delays every request from an address after a failure
    // from it (its auth penalty, 2 s doubling up to 15 s), successful ones too.
    let mut sources = (10u8..).map(|n| Ipv4Addr::new(127, 0, 0, n));
    let mut source = || sources.next().unwrap();
    for (_, user, password) in users {
        let from = source();
        plain(from, user, password)
            .unwrap_or_else(|e| panic!("AUTH PLAIN {user}: {e}\n{}", logs()));
        let (ok, transcript) = swaks_login(submission_port, from, user, password);
        assert!(
            ok && transcript.contains("235 2.7.0"),
            "AUTH LOGIN {user}: {transcript}\n{}",
            logs()
        );
        let wrong = plain(from, user, &format!("{password}!")).unwrap_err();
        assert!(wrong.contains("535"), "{user} wrong password: {wrong}");
    }
    assert_eq!(
        sink.wait_for(users.len(), Duration::from_secs(30)).len(),
        users.len(),
        "{}",
        logs()
    );
    let unknown = plain(source(), "nobody@example.org", "secret").unwrap_err();
    assert!(unknown.contains("535"), "{unknown}");
    let (ok, transcript) = swaks_login(submission_port, source(), "nobody@example.org", "secret");
    assert!(!ok && transcript.contains("535"), "{transcript}");
    let (_, user, _) = &users[0];
    let (ok, transcript) = swaks_login(submission_port, source(), user, "wrong");
    assert!(!ok && transcript.contains("535"), "{transcript}");
}

#[test]
fn postfix_authenticates_every_scheme_through_postern_mda() {
    let work = WorkDir::new("mda-sasl");
    let mda_dir = work.subdir("mda", 0o755);
    let users = scheme_users();
    let lines: Vec<String> = users.iter().map(|(line, _, _)| line.clone()).collect();
    // Without TLS Postfix does not mark the request `secured`; production keeps the default.
    let _mda = start_mda_with(
        &mda_dir,
        "maildir++",
        &lines,
        "require_secured = false\nfailure_delay = \"100ms\"",
    );
    let log = || std::fs::read_to_string(mda_dir.join("mda.log")).unwrap_or_default();
    postfix_authenticates_each_scheme(&work, &mda_dir.join("auth.sock"), &users, &log);
}

/// The same test against a real Dovecot's auth socket and the same passwd-file: the client
/// side (Postfix, swaks, our smtp_client) and the expectations hold for the original too.
#[test]
fn postfix_authenticates_every_scheme_through_dovecot() {
    let work = WorkDir::new("dovecot-sasl");
    let users = scheme_users();
    let dovecot = DovecotBuilder::new(&work.subdir("dovecot", 0o755))
        .passwd(users.iter().map(|(line, _, _)| line.clone()))
        .auth_client()
        .start();
    let log = || dovecot.log();
    postfix_authenticates_each_scheme(&work, &dovecot.auth_socket(), &users, &log);
}
