//! The postern-mda binary under abuse: SIGKILL during concurrent deliveries, and hostile LMTP
//! input. Acknowledged mail must be on disk complete; bad input gets protocol errors only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_postern-mda");
const USERS: [&str; 3] = ["alice", "bob", "carol"];

struct Daemon {
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
    let mut passwd = String::new();
    for user in USERS {
        passwd.push_str(&format!("{user}@example.org:{}\n", hash.to_field()));
    }
    std::fs::write(dir.join("users"), passwd).unwrap();
    let d = dir.display();
    let config = format!(
        r#"[daemon]
log_level = "warn"
shutdown_timeout = "2s"

[lmtp]
listen = ["unix:{d}/lmtp.sock"]
hostname = "mx.test"

[auth]
listen = ["unix:{d}/auth.sock"]

[users]
passwd_file = "{d}/users"
home = "{d}/vmail/%d/%n"
domains = ["example.org"]

[mail]
maildir = "Maildir"
# Short, so the test sees the start-up sweep remove what the kills left.
tmp_max_age = "1s"
"#
    );
    let path = dir.join("mda.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Starts the daemon on an existing setup in `dir` (stale sockets of a killed run removed).
fn start(dir: &Path) -> Daemon {
    let _ = std::fs::remove_file(dir.join("lmtp.sock"));
    let _ = std::fs::remove_file(dir.join("auth.sock"));
    let child = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("mda.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let daemon = Daemon { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(dir.join("lmtp.sock").exists() && dir.join("auth.sock").exists()) {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon
}

fn connect(dir: &Path) -> std::io::Result<UnixStream> {
    let stream = UnixStream::connect(dir.join("lmtp.sock"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(stream)
}

fn maildir(dir: &Path, user: &str) -> PathBuf {
    dir.join("vmail/example.org").join(user).join("Maildir")
}

/// Reads until `finals` complete replies arrived; `None` if the connection ended first.
fn try_replies(stream: &mut UnixStream, finals: usize) -> Option<String> {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let s = String::from_utf8_lossy(&text);
        let done = s
            .split("\r\n")
            .filter(|l| l.as_bytes().get(3) == Some(&b' '))
            .count();
        if done >= finals && s.ends_with("\r\n") {
            return Some(s.into_owned());
        }
        // Never read past the replies we wait for: read small when close.
        let want = if done + 1 >= finals { 1 } else { buf.len() };
        match stream.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
    }
}

fn replies(stream: &mut UnixStream, finals: usize) -> String {
    try_replies(stream, finals).expect("connection closed early")
}

/// Final reply lines (code + space) only.
fn finals(text: &str) -> Vec<&str> {
    text.split("\r\n")
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .collect()
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A ~20 KiB message as sent (CRLF) and as stored after the headers we add (LF).
fn body(id: &str) -> (String, String) {
    let mut lines = vec![
        format!("Message-ID: <{id}>"),
        "Subject: robustness".to_owned(),
        String::new(),
    ];
    for i in 0..290 {
        lines.push(format!("{id} line {i:04} {}", "x".repeat(50)));
    }
    lines.push(format!("END {id}"));
    let crlf = lines.iter().map(|l| format!("{l}\r\n")).collect();
    let lf = lines.iter().map(|l| format!("{l}\n")).collect();
    (crlf, lf)
}

/// One delivery on its own connection; `true` when the final reply was 250.
fn deliver(dir: &Path, user: &str, id: &str) -> bool {
    let Ok(mut s) = connect(dir) else {
        return false;
    };
    let Some(greeting) = try_replies(&mut s, 1) else {
        return false;
    };
    assert!(greeting.starts_with("220 "), "{greeting:?}");
    let head = format!(
        "LHLO client.test\r\nMAIL FROM:<sender@example.net>\r\nRCPT TO:<{user}@example.org>\r\nDATA\r\n"
    );
    if s.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let Some(text) = try_replies(&mut s, 4) else {
        return false;
    };
    assert_eq!(
        finals(&text)[1..],
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>"
        ]
    );
    let (crlf, _) = body(id);
    if s.write_all(format!("{crlf}.\r\n").as_bytes()).is_err() {
        return false;
    }
    match try_replies(&mut s, 1) {
        Some(r) => {
            assert_eq!(r, "250 2.0.0 Ok: delivered\r\n");
            let _ = s.write_all(b"QUIT\r\n");
            true
        }
        None => false,
    }
}

fn files(folder: &Path, sub: &str) -> Vec<PathBuf> {
    match std::fs::read_dir(folder.join(sub)) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn size_field(name: &str) -> u64 {
    let s = name.split(",S=").nth(1).unwrap();
    s.split([',', ':']).next().unwrap().parse().unwrap()
}

fn message_id(content: &str) -> Option<&str> {
    let line = content.lines().find(|l| l.starts_with("Message-ID: <"))?;
    line.strip_prefix("Message-ID: <")?.strip_suffix('>')
}

#[test]
fn kill_9_during_concurrent_deliveries_loses_no_acknowledged_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    write_setup(&dir);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = XorShift(seed);

    for cycle in 0..3 {
        let mut daemon = start(&dir);

        // What the previous kill left in tmp/ (and the planted files) is older than
        // tmp_max_age: the start-up sweep removes it all, and a delivery adds nothing there.
        assert_tmp_swept(&dir, &format!("cycle {cycle}"));
        for user in USERS {
            let id = format!("probe-{cycle}-{user}@test");
            assert!(deliver(&dir, user, &id), "probe delivery to {user}");
            assert!(files(&maildir(&dir, user), "tmp").is_empty());
        }

        let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let threads: Vec<_> = (0..20)
            .map(|t| {
                let dir = dir.clone();
                let acked = Arc::clone(&acked);
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let user = USERS[(t + i) % USERS.len()];
                        let id = format!("c{cycle}-t{t}-m{i}@test");
                        if deliver(&dir, user, &id) {
                            acked.lock().unwrap().push((user.to_owned(), id));
                        }
                    }
                })
            })
            .collect();
        let delay = 50 + rng.next() % 300;
        std::thread::sleep(Duration::from_millis(delay));
        daemon.child.kill().unwrap();
        let _ = daemon.child.wait();
        let killed = Instant::now();
        for t in threads {
            t.join().unwrap();
        }
        assert!(killed.elapsed() < Duration::from_secs(25));
        let acked = acked.lock().unwrap().clone();
        eprintln!(
            "cycle {cycle}: SIGKILL at {delay} ms, {} of 200 deliveries acknowledged",
            acked.len()
        );

        // Every file in new/ and cur/ is complete; collect new/ by Message-ID.
        let mut found = std::collections::HashMap::new();
        for user in USERS {
            let folder = maildir(&dir, user);
            for sub in ["new", "cur"] {
                for path in files(&folder, sub) {
                    let content = std::fs::read_to_string(&path).unwrap();
                    let id = message_id(&content)
                        .unwrap_or_else(|| panic!("no Message-ID in {path:?}"))
                        .to_owned();
                    assert!(
                        content.ends_with(&format!("END {id}\n")),
                        "partial file {path:?}"
                    );
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    if sub == "new" {
                        assert_eq!(size_field(&name), content.len() as u64, "{name}");
                        found.insert((user.to_owned(), id), content);
                    }
                }
            }
        }
        for (user, id) in &acked {
            let content = found
                .get(&(user.clone(), id.clone()))
                .unwrap_or_else(|| panic!("acknowledged {id} for {user} lost"));
            let (_, lf) = body(id);
            let expected = format!(
                "Return-Path: <sender@example.net>\nDelivered-To: {user}@example.org\n{lf}"
            );
            assert_eq!(content, &expected, "{id} for {user}");
        }

        // Plant a leftover per folder besides what the kill left; the next start must clean
        // them once they are older than tmp_max_age.
        for user in USERS {
            let tmpdir = maildir(&dir, user).join("tmp");
            std::fs::create_dir_all(&tmpdir).unwrap();
            std::fs::write(tmpdir.join(format!("leftover-{cycle}")), b"partial").unwrap();
        }
        std::thread::sleep(Duration::from_millis(1500));
    }

    // A final restart: leftovers swept, deliveries work again.
    let _daemon = start(&dir);
    assert_tmp_swept(&dir, "final start");
    for user in USERS {
        let id = format!("final-{user}@test");
        assert!(deliver(&dir, user, &id));
        let present = files(&maildir(&dir, user), "new")
            .iter()
            .any(|p| message_id(&std::fs::read_to_string(p).unwrap()) == Some(id.as_str()));
        assert!(present, "{id} not in new/");
    }
}

/// Waits for the start-up sweep to empty every user's `tmp/`.
fn assert_tmp_swept(dir: &Path, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for user in USERS {
        while !files(&maildir(dir, user), "tmp").is_empty() {
            assert!(
                Instant::now() < deadline,
                "{when}: tmp/ of {user} not swept: {:?}",
                files(&maildir(dir, user), "tmp")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Connects and sends LHLO; returns the stream after its replies.
fn session(dir: &Path) -> UnixStream {
    let mut s = connect(dir).unwrap();
    assert!(replies(&mut s, 1).starts_with("220 "));
    s.write_all(b"LHLO client.test\r\n").unwrap();
    assert!(replies(&mut s, 1).ends_with("250 CHUNKING\r\n"));
    s
}

#[test]
fn bad_input_gets_protocol_errors_and_the_daemon_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    write_setup(&dir);
    let _daemon = start(&dir);

    // A 100 KiB command line.
    let mut s = session(&dir);
    let mut line = b"MAIL FROM:<".to_vec();
    line.extend(std::iter::repeat_n(b'a', 100 * 1024));
    line.extend_from_slice(b">\r\nNOOP\r\n");
    s.write_all(&line).unwrap();
    assert_eq!(
        replies(&mut s, 2),
        "500 5.5.6 Line too long\r\n250 2.0.0 Ok\r\n"
    );
    drop(s);

    // Binary garbage, CRLF-terminated lines: each gets a 500-class reply.
    let mut s = session(&dir);
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5 {
        let mut garbage: Vec<u8> = (0..200)
            .map(|_| (rng.next() % 256) as u8)
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        garbage.extend_from_slice(b"\r\n");
        s.write_all(&garbage).unwrap();
        let reply = replies(&mut s, 1);
        assert!(reply.starts_with("500 5.5.2 "), "{reply:?}");
    }
    s.write_all(b"NOOP\r\n").unwrap();
    assert_eq!(replies(&mut s, 1), "250 2.0.0 Ok\r\n");
    drop(s);

    // 10,000 RCPTs in one pipelined write: 1000 accepted, the rest 452 4.5.3.
    let mut s = session(&dir);
    let mut batch = b"MAIL FROM:<sender@example.net>\r\n".to_vec();
    for _ in 0..10_000 {
        batch.extend_from_slice(b"RCPT TO:<alice@example.org>\r\n");
    }
    batch.extend_from_slice(b"RSET\r\n");
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&batch).unwrap())
    };
    let text = replies(&mut s, 10_002);
    writer.join().unwrap();
    let lines = finals(&text);
    assert_eq!(lines[0], "250 2.1.0 Ok");
    assert!(lines[1..=1000].iter().all(|l| *l == "250 2.1.5 Ok"));
    assert!(
        lines[1001..=10_000]
            .iter()
            .all(|l| *l == "452 4.5.3 Too many recipients")
    );
    assert_eq!(lines[10_001], "250 2.0.0 Ok");
    drop(s);

    // DATA never terminated, with a bare-LF dot inside; the client disconnects.
    let mut s = session(&dir);
    s.write_all(b"MAIL FROM:<sender@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
        .unwrap();
    assert_eq!(
        replies(&mut s, 3),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    s.write_all(b"Subject: x\r\n\r\nbefore\n.\nafter\r\n")
        .unwrap();
    // The bare-LF dot did not end DATA: no reply arrives.
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(s.read(&mut byte).is_err(), "reply to an unterminated DATA");
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    assert!(files(&maildir(&dir, "bob"), "new").is_empty());

    // Bare-LF dot inside a terminated DATA is content, and a normal delivery still works.
    let mut s = session(&dir);
    s.write_all(b"MAIL FROM:<sender@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
        .unwrap();
    replies(&mut s, 3);
    s.write_all(b"Subject: y\r\n\r\nbefore\n.\nafter\r\n.\r\n")
        .unwrap();
    assert_eq!(replies(&mut s, 1), "250 2.0.0 Ok: delivered\r\n");
    let news = files(&maildir(&dir, "bob"), "new");
    assert_eq!(news.len(), 1);
    let content = std::fs::read_to_string(&news[0]).unwrap();
    assert!(content.contains("before\n.\nafter\n"), "{content:?}");
    assert!(deliver(&dir, "alice", "after-abuse@test"));
}
