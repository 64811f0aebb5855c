//! The IMAP server of the postern-mda binary over a real TCP socket: exact replies for a short
//! session, and hostile input (oversize literals, unterminated commands, 10,000 nested
//! parentheses, a SEARCH with 100,000 keys) answered with BAD/NO in bounded memory while
//! another session keeps being served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern-mda");

struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path) -> Daemon {
    start_with_users(dir, "bob@example.org:{PLAIN}secret::::::\n")
}

fn start_with_users(dir: &Path, users: &str) -> Daemon {
    std::fs::write(dir.join("users"), users).unwrap();
    let port = free_port();
    let d = dir.display();
    let config = format!(
        r#"[daemon]
log_level = "warn"
shutdown_timeout = "2s"

[lmtp]
listen = ["unix:{d}/lmtp.sock"]

[auth]
listen = ["unix:{d}/auth.sock"]

[users]
passwd_file = "{d}/users"
home = "{d}/vmail/%d/%n"
domains = ["example.org"]

[imap]
listen = ["127.0.0.1:{port}"]
max_line_length = "64k"
append_limit = "20M"
"#
    );
    std::fs::write(dir.join("mda.toml"), config).unwrap();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("mda.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut client = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let greeting = client.line();
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
            "{greeting}"
        );
        client
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends a command and returns every line up to and including the tagged one.
    fn command(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.send(format!("{tag} {text}\r\n").as_bytes());
        self.until(tag)
    }

    fn until(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            assert!(!line.is_empty(), "connection closed; got {lines:?}");
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    fn login(&mut self) {
        let reply = self.command("l", "LOGIN bob@example.org secret");
        assert!(reply.last().unwrap().starts_with("l OK"), "{reply:?}");
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_short_session_has_exact_replies() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let mut c = Client::connect(daemon.port);
    c.login();
    let reply = c.command("a1", "SELECT INBOX");
    assert!(reply.contains(&"* 0 EXISTS\r\n".to_string()), "{reply:?}");
    assert!(
        reply.last().unwrap().starts_with("a1 OK [READ-WRITE]"),
        "{reply:?}"
    );
    c.send(b"a2 APPEND INBOX (\\Seen) {31}\r\n");
    assert!(c.line().starts_with("+ "));
    c.send(b"Subject: hi\r\n\r\nhello, world\r\n\r\n\r\n");
    let reply = c.until("a2");
    assert!(reply.iter().any(|l| l == "* 1 EXISTS\r\n"), "{reply:?}");
    assert!(
        reply.last().unwrap().starts_with("a2 OK [APPENDUID "),
        "{reply:?}"
    );
    let reply = c.command(
        "a3",
        "FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    assert_eq!(
        reply[0],
        "* 1 FETCH (FLAGS (\\Seen) RFC822.SIZE 31 BODY[HEADER.FIELDS (SUBJECT)] {15}\r\n"
    );
    assert_eq!(reply[1], "Subject: hi\r\n");
    assert_eq!(reply[2], "\r\n");
    assert_eq!(reply[3], ")\r\n");
    let reply = c.command("a4", "UID SEARCH BODY world");
    assert!(reply[0].starts_with("* SEARCH "), "{reply:?}");
    let reply = c.command("a5", "STORE 1 +FLAGS (\\Flagged)");
    assert_eq!(reply[0], "* 1 FETCH (FLAGS (\\Seen \\Flagged))\r\n");
    // MULTIAPPEND with non-synchronizing literals (LITERAL+): two messages, one command.
    c.send(b"a6 APPEND INBOX (\\Seen) {7+}\r\nhello\r\n (\\Flagged) {7+}\r\nworld\r\n\r\n");
    let reply = c.until("a6");
    let done = reply.last().unwrap();
    assert!(done.starts_with("a6 OK [APPENDUID "), "{reply:?}");
    assert!(
        done.contains(":") || done.contains(","),
        "two UIDs expected: {done}"
    );
    assert!(reply.iter().any(|l| l == "* 3 EXISTS\r\n"), "{reply:?}");
    let reply = c.command("a7", "FETCH 2:3 (FLAGS BODY.PEEK[])");
    assert!(
        reply[0].starts_with("* 2 FETCH (FLAGS (\\Seen) BODY[] {7}"),
        "{reply:?}"
    );
    let reply = c.command("a8", "LOGOUT");
    assert!(reply[0].starts_with("* BYE"), "{reply:?}");
}

#[test]
fn hostile_input_gets_protocol_errors_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let pid = daemon.child.id();
    let mut bystander = Client::connect(daemon.port);
    bystander.login();
    let before = rss_kib(pid);

    let mut c = Client::connect(daemon.port);
    // A synchronizing literal larger than any command may be: refused, no "+".
    c.send(b"x1 LOGIN {999999999}\r\n");
    let line = c.line();
    assert!(
        line.starts_with("x1 NO") || line.starts_with("x1 BAD"),
        "{line}"
    );
    c.login();

    // A non-synchronizing literal of 50 MB the client sends anyway: discarded as it comes.
    c.send(b"x2 SEARCH TEXT {52428800+}\r\n");
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..50 {
        c.send(&chunk);
    }
    c.send(b"\r\n");
    let reply = c.until("x2");
    assert!(
        reply.last().unwrap().starts_with("x2 NO") || reply.last().unwrap().starts_with("x2 BAD"),
        "{reply:?}"
    );

    // A line that never ends, far past the line limit.
    let mut long = b"x3 SEARCH ".to_vec();
    long.extend(std::iter::repeat_n(b'A', 10 << 20));
    c.send(&long);
    c.send(b"\r\n");
    let reply = c.until("x3");
    assert!(reply.last().unwrap().starts_with("x3 BAD"), "{reply:?}");

    // 10,000 nested parentheses.
    let nested = format!("{}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
    let reply = c.command("x4", &format!("SEARCH {nested}"));
    assert!(reply.last().unwrap().starts_with("x4 BAD"), "{reply:?}");

    // A SEARCH with 100,000 keys.
    let keys = vec!["SEEN"; 100_000].join(" ");
    let reply = c.command("x5", &format!("SEARCH {keys}"));
    assert!(
        reply.last().unwrap().starts_with("x5 BAD") || reply.last().unwrap().starts_with("x5 NO"),
        "{reply:?}"
    );

    // An APPEND over APPENDLIMIT.
    c.send(b"x6 APPEND INBOX {99999999}\r\n");
    let line = c.line();
    assert!(line.starts_with("x6 NO [TOOBIG]"), "{line}");

    // Garbage, a bad tag, an unknown command, commands in the wrong state.
    for (tag, text) in [
        ("x7", "FROBNICATE"),
        ("x8", "FETCH 1 (FLAGS)"),
        ("x9", "SELECT"),
    ] {
        let reply = c.command(tag, text);
        assert!(
            reply.last().unwrap().starts_with(&format!("{tag} BAD")),
            "{reply:?}"
        );
    }
    c.send(b"\x00\xff\r\n");
    let line = c.line();
    assert!(line.contains("BAD"), "{line}");

    // The session is still usable, and so is the other one.
    let reply = c.command("y1", "SELECT INBOX");
    assert!(reply.last().unwrap().starts_with("y1 OK"), "{reply:?}");
    let reply = bystander.command("y2", "NOOP");
    assert!(reply.last().unwrap().starts_with("y2 OK"), "{reply:?}");
    let after = rss_kib(pid);
    println!("RSS before {before} KiB, after {after} KiB");
    assert!(
        after < before + 40 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}

#[test]
fn idle_reports_an_lmtp_delivery_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let mut c = Client::connect(daemon.port);
    c.login();
    c.command("s", "SELECT INBOX");
    c.send(b"i IDLE\r\n");
    assert!(c.line().starts_with("+ "));
    let mut lmtp = std::os::unix::net::UnixStream::connect(dir.path().join("lmtp.sock")).unwrap();
    let mut lmtp_reader = BufReader::new(lmtp.try_clone().unwrap());
    let read_reply = |r: &mut BufReader<std::os::unix::net::UnixStream>| loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.as_bytes().get(3) == Some(&b' ') {
            return line;
        }
    };
    read_reply(&mut lmtp_reader);
    for command in [
        "LHLO test\r\n",
        "MAIL FROM:<alice@example.org>\r\n",
        "RCPT TO:<bob@example.org>\r\n",
        "DATA\r\n",
    ] {
        lmtp.write_all(command.as_bytes()).unwrap();
        read_reply(&mut lmtp_reader);
    }
    let start = Instant::now();
    lmtp.write_all(b"Subject: ping\r\n\r\nping\r\n.\r\n")
        .unwrap();
    let reply = read_reply(&mut lmtp_reader);
    assert!(reply.starts_with("250"), "{reply}");
    let line = c.line();
    let elapsed = start.elapsed();
    assert_eq!(line, "* 1 EXISTS\r\n");
    println!("EXISTS {elapsed:?} after the end of DATA");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    c.send(b"DONE\r\n");
    let reply = c.until("i");
    assert!(reply.last().unwrap().starts_with("i OK"), "{reply:?}");
    let mut rest = Vec::new();
    c.writer.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = c.reader.read_to_end(&mut rest);
}

#[test]
fn compress_deflate_carries_the_session() {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let mut c = Client::connect(daemon.port);
    c.login();
    let reply = c.command("z1", "COMPRESS DEFLATE");
    assert!(reply.last().unwrap().starts_with("z1 OK"), "{reply:?}");
    let mut deflate = Compress::new(Compression::default(), false);
    let mut inflate = Decompress::new(false);
    let mut send = |stream: &mut TcpStream, text: &[u8]| {
        let mut out = Vec::with_capacity(text.len() + 64);
        deflate
            .compress_vec(text, &mut out, FlushCompress::Sync)
            .unwrap();
        stream.write_all(&out).unwrap();
    };
    let mut stream = c.writer.try_clone().unwrap();
    let mut plain = Vec::new();
    let mut read_until = |stream: &mut TcpStream, tag: &[u8], plain: &mut Vec<u8>| {
        let mut raw = [0u8; 4096];
        while !plain.windows(tag.len()).any(|w| w == tag) {
            let n = stream.read(&mut raw).unwrap();
            assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(plain));
            let mut out = Vec::with_capacity(64 * 1024);
            inflate
                .decompress_vec(&raw[..n], &mut out, FlushDecompress::Sync)
                .unwrap();
            plain.extend_from_slice(&out);
        }
    };
    send(&mut stream, b"z2 SELECT INBOX\r\n");
    read_until(&mut stream, b"z2 OK", &mut plain);
    send(&mut stream, b"z3 CAPABILITY\r\n");
    read_until(&mut stream, b"z3 OK", &mut plain);
    let text = String::from_utf8_lossy(&plain);
    assert!(text.contains("* 0 EXISTS"), "{text}");
    assert!(!text.contains("COMPRESS=DEFLATE"), "offered again: {text}");
    send(&mut stream, b"z4 COMPRESS DEFLATE\r\n");
    read_until(&mut stream, b"z4 NO [COMPRESSIONACTIVE]", &mut plain);
}

#[test]
fn append_over_the_users_quota_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_with_users(
        dir.path(),
        "bob@example.org:{PLAIN}secret::::::userdb_quota_rule=*:storage=1K\n",
    );
    let mut c = Client::connect(daemon.port);
    c.login();
    c.send(b"q1 APPEND INBOX {2000}\r\n");
    let line = c.line();
    assert!(line.starts_with("q1 NO [OVERQUOTA]"), "{line}");
    c.send(b"q2 APPEND INBOX {21}\r\n");
    assert!(c.line().starts_with("+ "));
    c.send(b"Subject: s\r\n\r\nsmall\r\n\r\n");
    let reply = c.until("q2");
    assert!(
        reply.last().unwrap().starts_with("q2 OK [APPENDUID"),
        "{reply:?}"
    );
}
