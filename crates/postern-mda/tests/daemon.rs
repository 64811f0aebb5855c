//! The postern-mda binary over real UNIX sockets: raw LMTP and Dovecot-auth bytes in, exact
//! replies and Maildir files asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

const BIN: &str = env!("CARGO_BIN_EXE_postern-mda");

struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_setup(dir: &Path) -> PathBuf {
    let hash = users::PasswordHash::generate(users::Scheme::Sha512Crypt, b"secret").unwrap();
    std::fs::write(
        dir.join("users"),
        format!(
            "alice@example.org:{}\nbob@example.org:{}\n",
            hash.to_field(),
            hash.to_field()
        ),
    )
    .unwrap();
    let d = dir.display();
    let config = format!(
        r#"[daemon]
log_level = "debug"
shutdown_timeout = "2s"

[lmtp]
listen = ["unix:{d}/lmtp.sock"]
hostname = "mx.test"
save_to_detail_mailbox = true

[auth]
listen = ["unix:{d}/auth.sock"]
failure_delay = "100ms"

[users]
passwd_file = "{d}/users"
home = "{d}/vmail/%d/%n"
domains = ["example.org"]

[mail]
maildir = "Maildir"
"#
    );
    let path = dir.join("mda.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn start() -> Daemon {
    start_with(|text| text)
}

/// Starts the daemon with the test configuration as changed by `edit`.
fn start_with(edit: impl FnOnce(String) -> String) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = write_setup(dir.path());
    let text = edit(std::fs::read_to_string(&config).unwrap());
    std::fs::write(&config, text).unwrap();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let daemon = Daemon { dir, child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(daemon.path("lmtp.sock").exists() && daemon.path("auth.sock").exists()) {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon
}

impl Daemon {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn connect(&self, name: &str) -> UnixStream {
        let stream = UnixStream::connect(self.path(name)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.path("vmail/example.org").join(user).join("Maildir")
    }
}

/// Reads until `finals` complete replies (a line with a space after the code) arrived.
fn replies(stream: &mut UnixStream, finals: usize) -> String {
    let mut text = String::new();
    let mut byte = [0u8; 1];
    while text
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .count()
        < finals
        || !text.ends_with("\r\n")
    {
        let n = stream.read(&mut byte).unwrap();
        assert!(n > 0, "connection closed after {text:?}");
        text.push(char::from(byte[0]));
    }
    text
}

/// Reads until `text` ends with `end`.
fn read_until(stream: &mut UnixStream, end: &str) -> String {
    let mut text = String::new();
    let mut byte = [0u8; 1];
    while !text.ends_with(end) {
        let n = stream.read(&mut byte).unwrap();
        assert!(n > 0, "connection closed after {text:?}");
        text.push(char::from(byte[0]));
    }
    text
}

/// The messages in `folder/new`, as (file name, content).
fn messages(folder: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(folder.join("new")) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

fn size_field(name: &str) -> u64 {
    let s = name.split(",S=").nth(1).unwrap();
    s.split([',', ':']).next().unwrap().parse().unwrap()
}

const LHLO_REPLY: &str = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

#[test]
fn lmtp_pipelined_transaction_gets_one_reply_per_recipient() {
    let daemon = start();
    let mut s = daemon.connect("lmtp.sock");
    assert_eq!(replies(&mut s, 1), "220 mx.test LMTP Postern\r\n");
    // Everything up to DATA in one write (PIPELINING).
    s.write_all(
        b"LHLO postfix.test\r\nMAIL FROM:<sender@example.net>\r\n\
RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n\
RCPT TO:<bob+lists@example.org>\r\nDATA\r\n",
    )
    .unwrap();
    assert_eq!(
        replies(&mut s, 6),
        format!(
            "{LHLO_REPLY}250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n\
250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        )
    );
    s.write_all(b"Subject: hello\r\n\r\nHi there.\r\n..dot line\r\n.\r\n")
        .unwrap();
    assert_eq!(
        replies(&mut s, 2),
        "250 2.0.0 Ok: delivered\r\n250 2.0.0 Ok: delivered\r\n"
    );
    s.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(replies(&mut s, 1), "221 2.0.0 Bye\r\n");

    let expected = "Return-Path: <sender@example.net>\nSubject: hello\n\nHi there.\n.dot line\n";
    for user in ["alice", "bob"] {
        let found = messages(&daemon.maildir(user));
        assert_eq!(found.len(), 1, "{user}: {found:?}");
        let (name, content) = &found[0];
        assert_eq!(content, expected, "{user}");
        assert_eq!(size_field(name), content.len() as u64, "{name}");
    }
    // bob has no "lists" folder, so the +detail copy went to INBOX.
    assert!(!daemon.maildir("bob").join(".lists").exists());
}

#[test]
fn lmtp_detail_folder_single_recipient_and_spam_to_junk() {
    let daemon = start();
    let lists = daemon.maildir("bob").join(".lists");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(lists.join(sub)).unwrap();
    }
    let mut s = daemon.connect("lmtp.sock");
    replies(&mut s, 1);
    s.write_all(b"LHLO postfix.test\r\n").unwrap();
    assert_eq!(replies(&mut s, 1), LHLO_REPLY);
    s.write_all(b"MAIL FROM:<>\r\nRCPT TO:<bob+lists@example.org>\r\nDATA\r\n")
        .unwrap();
    assert_eq!(
        replies(&mut s, 3),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    s.write_all(b"Subject: list\r\n\r\nbody\r\n.\r\n").unwrap();
    assert_eq!(replies(&mut s, 1), "250 2.0.0 Ok: delivered\r\n");
    let found = messages(&lists);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].1,
        "Return-Path: <>\nDelivered-To: bob+lists@example.org\nSubject: list\n\nbody\n"
    );

    s.write_all(b"MAIL FROM:<spammer@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        .unwrap();
    replies(&mut s, 3);
    s.write_all(b"Subject: buy\r\nX-Spam-Flag: YES\r\n\r\nnow\r\n.\r\n")
        .unwrap();
    assert_eq!(replies(&mut s, 1), "250 2.0.0 Ok: delivered\r\n");
    let junk = messages(&daemon.maildir("alice").join(".Junk"));
    assert_eq!(junk.len(), 1);
    assert!(junk[0].1.contains("X-Spam-Flag: YES\n"));
    assert!(messages(&daemon.maildir("alice")).is_empty());
}

/// A client that lost our 250 (it crashed after the final dot) sends the same bytes again:
/// the recipient that has them gets 250 and no second copy; a recipient added in the resend,
/// and a different message, are delivered as usual.
#[test]
fn lmtp_resend_of_a_delivered_message_is_not_delivered_twice() {
    let daemon = start();
    let send = |rcpts: &[&str], data: &str| {
        let mut s = daemon.connect("lmtp.sock");
        replies(&mut s, 1);
        s.write_all(b"LHLO postfix.test\r\n").unwrap();
        replies(&mut s, 1);
        let mut envelope = "MAIL FROM:<sender@example.net>\r\n".to_string();
        for r in rcpts {
            envelope.push_str(&format!("RCPT TO:<{r}>\r\n"));
        }
        envelope.push_str("DATA\r\n");
        s.write_all(envelope.as_bytes()).unwrap();
        replies(&mut s, rcpts.len() + 2);
        s.write_all(data.as_bytes()).unwrap();
        replies(&mut s, rcpts.len())
    };
    let message =
        "Received: from x by mx.test id 4F1C2A3B; now\r\nSubject: once\r\n\r\nbody\r\n.\r\n";
    let first = send(&["alice@example.org"], message);
    assert_eq!(first, "250 2.0.0 Ok: delivered\r\n");
    let again = send(&["bob@example.org", "alice@example.org"], message);
    assert_eq!(
        again,
        "250 2.0.0 Ok: delivered\r\n250 2.0.0 Ok: delivered\r\n"
    );
    assert_eq!(messages(&daemon.maildir("alice")).len(), 1);
    assert_eq!(messages(&daemon.maildir("bob")).len(), 1);
    let other = message.replace("4F1C2A3B", "4F1C2A3C");
    send(&["alice@example.org"], &other);
    assert_eq!(messages(&daemon.maildir("alice")).len(), 2);
}

fn plain(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[test]
fn auth_socket_plain_ok_and_fail() {
    let daemon = start();
    let mut s = daemon.connect("auth.sock");
    let handshake = read_until(&mut s, "DONE\n");
    let lines: Vec<&str> = handshake.lines().collect();
    assert_eq!(lines[0], "VERSION\t1\t2");
    assert_eq!(lines[1], "MECH\tPLAIN\tplaintext");
    assert_eq!(lines[2], "MECH\tLOGIN\tplaintext");
    assert!(lines[3].starts_with("SPID\t"));
    assert!(lines[4].starts_with("CUID\t"));
    assert!(lines[5].starts_with("COOKIE\t") && lines[5].len() == 7 + 32);
    assert_eq!(lines[6], "DONE");
    s.write_all(
        format!(
            "VERSION\t1\t2\nCPID\t4242\nAUTH\t1\tPLAIN\tservice=smtp\tnologin\trip=192.0.2.9\tsecured\tresp={}\n",
            plain("alice@example.org", "secret")
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_until(&mut s, "\n"), "OK\t1\tuser=alice@example.org\n");
    let started = Instant::now();
    s.write_all(
        format!(
            "AUTH\t2\tPLAIN\tservice=smtp\trip=192.0.2.9\tsecured\tresp={}\n",
            plain("alice@example.org", "wrong")
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        read_until(&mut s, "\n"),
        "FAIL\t2\tuser=alice@example.org\n"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "failure not delayed"
    );
    // Plaintext over a channel the client does not call secured is refused by default.
    s.write_all(
        format!(
            "AUTH\t3\tPLAIN\tservice=smtp\tresp={}\n",
            plain("alice@example.org", "secret")
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(read_until(&mut s, "\n").starts_with("FAIL\t3\t"));
}

#[test]
fn check_config_accepts_a_good_file_and_names_file_and_key_of_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_setup(dir.path());
    let ok = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        format!("{}: configuration OK\n", config.display())
    );

    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "hostname = \"mx.test\"",
            "hostname = \"mx.test\"\nmax_recipients = 0",
        )
        .replace(
            "maildir = \"Maildir\"",
            "maildir = \"Maildir\"\nlayout = \"mbox\"",
        );
    std::fs::write(&config, text).unwrap();
    let bad = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    let c = config.display();
    assert_eq!(
        stderr,
        format!(
            "{c}: lmtp.max_recipients: must be at least 1\n\
{c}: mail.layout: \"mbox\": expected \"maildir++\" or \"fs\"\n"
        )
    );

    std::fs::write(&config, "[users]\npasswd_file = \"/x\"\ntypo = 1\n").unwrap();
    let unknown = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.starts_with(&format!("{c}: users")), "{stderr}");
    assert!(stderr.contains("typo"), "{stderr}");
}

#[test]
fn lmtp_broken_mailbox_gets_451_and_the_others_are_delivered() {
    let daemon = start();
    // alice's Maildir is a plain file: nothing can be created in it.
    std::fs::create_dir_all(daemon.path("vmail/example.org/alice")).unwrap();
    std::fs::write(daemon.maildir("alice"), "not a directory").unwrap();
    let mut s = daemon.connect("lmtp.sock");
    replies(&mut s, 1);
    s.write_all(
        b"LHLO postfix.test\r\nMAIL FROM:<sender@example.net>\r\n\
RCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n",
    )
    .unwrap();
    replies(&mut s, 5);
    s.write_all(b"Subject: x\r\n\r\ny\r\n.\r\n").unwrap();
    assert_eq!(
        replies(&mut s, 2),
        "451 4.3.0 Local error in processing\r\n250 2.0.0 Ok: delivered\r\n"
    );
    assert_eq!(messages(&daemon.maildir("bob")).len(), 1);
}

#[test]
fn lmtp_over_quota_is_552_at_rcpt() {
    let daemon = start_with(|text| {
        text.replace(
            "maildir = \"Maildir\"",
            "maildir = \"Maildir\"\nquota = \"50\"",
        )
    });
    let mut s = daemon.connect("lmtp.sock");
    replies(&mut s, 1);
    s.write_all(
        b"LHLO postfix.test\r\nMAIL FROM:<sender@example.net> SIZE=100\r\n\
RCPT TO:<alice@example.org>\r\nRSET\r\nMAIL FROM:<sender@example.net> SIZE=10\r\n\
RCPT TO:<alice@example.org>\r\n",
    )
    .unwrap();
    assert_eq!(
        replies(&mut s, 6),
        format!(
            "{LHLO_REPLY}250 2.1.0 Ok\r\n552 5.2.2 Mailbox full\r\n250 2.0.0 Ok\r\n\
250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
        )
    );
}

#[test]
fn userdb_quota_rule_overrides_the_default_and_edits_apply_without_sighup() {
    let daemon = start_with(|text| {
        text.replace(
            "maildir = \"Maildir\"",
            "maildir = \"Maildir\"\nquota = \"50\"",
        )
    });
    let rcpt = |size: u32| {
        let mut s = daemon.connect("lmtp.sock");
        replies(&mut s, 1);
        s.write_all(
            format!("LHLO t\r\nMAIL FROM:<> SIZE={size}\r\nRCPT TO:<alice@example.org>\r\n")
                .as_bytes(),
        )
        .unwrap();
        replies(&mut s, 3).lines().last().unwrap().to_string()
    };
    assert_eq!(rcpt(100), "552 5.2.2 Mailbox full");
    // Like Dovecot's userdb: the user's quota_rule replaces the configured default.
    let users = daemon.path("users");
    let text = std::fs::read_to_string(&users)
        .unwrap()
        .replace("\nbob@", "::::::userdb_quota_rule=*:storage=1M\nbob@");
    std::fs::write(&users, text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rcpt(100) != "250 2.1.5 Ok" {
        assert!(
            Instant::now() < deadline,
            "passwd-file change not picked up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rcpt(2 << 20), "552 5.2.2 Mailbox full");
}

#[test]
fn sieve_filters_file_discard_and_fall_back_to_inbox() {
    let daemon = start();
    let home = |user: &str| daemon.path("vmail/example.org").join(user);
    std::fs::create_dir_all(home("alice")).unwrap();
    std::fs::create_dir_all(home("bob")).unwrap();
    std::fs::write(
        home("alice").join(".dovecot.sieve"),
        "require [\"fileinto\", \"mailbox\", \"envelope\"];\n\
         if header :contains \"subject\" \"report\" { fileinto :create \"Reports\"; }\n\
         elsif envelope :is \"from\" \"spammer@example.net\" { discard; }\n\
         elsif header :is \"x-copy\" \"yes\" { fileinto :create \"Copies\"; keep; }\n",
    )
    .unwrap();
    // A script that does not compile: Dovecot keeps the mail, and so do we.
    std::fs::write(
        home("bob").join(".dovecot.sieve"),
        "if true { redirect \"x@y\"; }",
    )
    .unwrap();
    let send = |from: &str, to: &str, header: &str| {
        let mut s = daemon.connect("lmtp.sock");
        replies(&mut s, 1);
        s.write_all(
            format!(
                "LHLO t\r\nMAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n\
                 {header}\r\nFrom: x@example.net\r\n\r\nbody\r\n.\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let text = replies(&mut s, 5);
        assert!(text.ends_with("250 2.0.0 Ok: delivered\r\n"), "{text}");
    };
    send(
        "a@example.net",
        "alice@example.org",
        "Subject: Monthly Report",
    );
    send("spammer@example.net", "alice@example.org", "Subject: hi");
    send("a@example.net", "alice@example.org", "X-Copy: yes");
    send(
        "a@example.net",
        "bob@example.org",
        "Subject: Monthly Report",
    );
    let alice = daemon.maildir("alice");
    assert_eq!(messages(&alice.join(".Reports")).len(), 1);
    assert_eq!(messages(&alice.join(".Copies")).len(), 1);
    // The X-Copy message was also kept; the spammer's was discarded.
    assert_eq!(messages(&alice).len(), 1);
    assert_eq!(messages(&daemon.maildir("bob")).len(), 1);
}

fn signal(daemon: &Daemon, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(daemon.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sighup_reloads_the_users_file() {
    let daemon = start();
    let rcpt = |daemon: &Daemon| {
        let mut s = daemon.connect("lmtp.sock");
        replies(&mut s, 1);
        s.write_all(b"LHLO t\r\nMAIL FROM:<>\r\nRCPT TO:<carol@example.org>\r\n")
            .unwrap();
        let text = replies(&mut s, 3);
        text.lines().last().unwrap().to_string()
    };
    assert_eq!(rcpt(&daemon), "550 5.1.1 User unknown");
    let users = daemon.path("users");
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push_str("carol@example.org:{PLAIN}x\n");
    std::fs::write(&users, text).unwrap();
    signal(&daemon, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rcpt(&daemon) != "250 2.1.5 Ok" {
        assert!(Instant::now() < deadline, "reload did not take effect");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_closes_idle_lmtp_sessions_with_421() {
    let mut daemon = start();
    let mut s = daemon.connect("lmtp.sock");
    replies(&mut s, 1);
    s.write_all(b"LHLO t\r\n").unwrap();
    replies(&mut s, 1);
    signal(&daemon, "TERM");
    assert_eq!(
        replies(&mut s, 1),
        "421 4.3.2 Service shutting down, closing transmission channel\r\n"
    );
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn example_config_passes_check_config_once_its_files_exist() {
    let dir = tempfile::tempdir().unwrap();
    write_setup(dir.path());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/postern/mda.toml");
    let text = std::fs::read_to_string(example).unwrap().replace(
        "/etc/postern/users",
        &dir.path().join("users").display().to_string(),
    );
    let config = dir.path().join("example.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_with_stdin(args: &[&str], config: &Path, stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pw_and_user_subcommands_edit_the_passwd_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_setup(dir.path());
    let out = run_with_stdin(&["pw", "-s", "SHA512-CRYPT"], &config, "hunter2\n");
    assert!(out.status.success(), "{out:?}");
    let field = String::from_utf8(out.stdout).unwrap();
    let hash = users::PasswordHash::parse(field.trim_end()).unwrap();
    assert!(hash.verify(b"hunter2").unwrap());

    let out = run_with_stdin(&["user", "add", "Carol@example.org"], &config, "pass1\n");
    assert!(out.status.success(), "{out:?}");
    let out = run_with_stdin(
        &["user", "passwd", "carol@example.org", "-s", "SHA256-CRYPT"],
        &config,
        "pass2\n",
    );
    assert!(out.status.success(), "{out:?}");
    let passwd = std::fs::read_to_string(dir.path().join("users")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("carol@example.org:"))
        .unwrap();
    let hash = users::PasswordHash::parse(line.split(':').nth(1).unwrap()).unwrap();
    assert!(hash.verify(b"pass2").unwrap());

    let out = run_with_stdin(&["user", "list"], &config, "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alice@example.org\nbob@example.org\ncarol@example.org\n"
    );
    let out = run_with_stdin(&["user", "del", "carol@example.org"], &config, "");
    assert!(out.status.success(), "{out:?}");
    let out = run_with_stdin(&["user", "del", "carol@example.org"], &config, "");
    assert!(!out.status.success());
    let passwd = std::fs::read_to_string(dir.path().join("users")).unwrap();
    assert!(!passwd.contains("carol"));
}

#[test]
fn check_config_names_imap_and_tls_problems() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_setup(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[imap]\nlisten = [\"127.0.0.1:143\", \"nonsense\"]\nlisten_tls = [\"127.0.0.1:993\"]\n\
         idle_timeout = \"5m\"\nappend_limit = \"huge\"\n",
    );
    std::fs::write(&config, &text).unwrap();
    let bad = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    for key in [
        "imap.listen[1]",
        "imap.listen_tls: needs a [tls] table",
        "imap.idle_timeout: RFC 3501",
        "imap.append_limit",
    ] {
        assert!(stderr.contains(key), "{key} not in {stderr}");
    }
    text.push_str(
        "\n[tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n",
    );
    std::fs::write(&config, &text).unwrap();
    let bad = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("tls.cert_file") && stderr.contains("/nonexistent/cert.pem"),
        "{stderr}"
    );
    assert!(!stderr.contains("needs a [tls] table"), "{stderr}");
}
