//! Interop: a private Dovecot (IMAP and doveadm) reads what we deliver, in both layouts.
//!
//! Skipped, with a message, when `dovecot`/`doveadm`/`python3` are missing or we are not root
//! (Dovecot's mail processes must run as the mail owner, uid 5000 here).

use std::collections::BTreeMap;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use maildir::{Delivered, Delivery, Folder, Layout, MailStore, Permissions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const UID: u32 = 5000;

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn skip_reason() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root");
    }
    for cmd in ["dovecot", "doveadm", "python3"] {
        if !have(cmd) {
            return Some("dovecot, doveadm or python3 not installed");
        }
    }
    None
}

/// The private Dovecot; stopped with SIGTERM (so its children exit too) when dropped.
struct Dovecot {
    child: Child,
    conf: PathBuf,
    log: PathBuf,
    port: u16,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = self.child.wait();
    }
}

impl Dovecot {
    fn start(
        dir: &Path,
        users: &[(&str, &Path, &str)],
    ) -> Result<Dovecot, Box<dyn std::error::Error>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let d = dir.display();
        let mut passwd = String::new();
        for (user, home, mail) in users {
            passwd.push_str(&format!(
                "{user}:{{PLAIN}}secret:{UID}:{UID}::{}::userdb_mail={mail}\n",
                home.display()
            ));
        }
        let users_file = dir.join("users");
        fs::write(&users_file, passwd)?;
        // auth runs as user dovecot and must read it.
        let _ = Command::new("chown")
            .arg("root:dovecot")
            .arg(&users_file)
            .status();
        fs::set_permissions(&users_file, fs::Permissions::from_mode(0o640))?;
        let conf = dir.join("dovecot.conf");
        let log = dir.join("dovecot.log");
        fs::write(
            &conf,
            format!(
                "instance_name = postern-maildir-{pid}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1000
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
",
                pid = std::process::id()
            ),
        )?;
        let child = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let dovecot = Dovecot {
            child,
            conf,
            log,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("dovecot did not listen: {}", dovecot.log_text()).into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(dovecot)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn doveadm(&self, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || stderr.contains("Error") {
            return Err(format!("doveadm {args:?}: {stderr}").into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// What Dovecot reported for one message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Seen {
    rfc822_size: Option<u64>,
    body: Option<Vec<u8>>,
    physical: Option<u64>,
    virtual_size: Option<u64>,
    text: Option<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| s.get(2 * i..2 * i + 2))
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect()
}

/// The bytes IMAP serves for a stored file: every LF not preceded by CR gets one.
fn as_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0u8;
    for &b in stored {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn deliver(
    folders: &[Folder],
    message: &[u8],
    chunk: usize,
) -> Result<Vec<Delivered>, Box<dyn std::error::Error>> {
    let first = folders.first().ok_or("no folder")?;
    let mut d = Delivery::begin(first)?;
    d.write_header("Return-Path", "<alice@example.net>")?;
    for piece in message.chunks(chunk) {
        d.write(piece)?;
    }
    let mut out = Vec::new();
    for r in d.commit_to(folders)? {
        out.push(r?);
    }
    Ok(out)
}

#[test]
fn dovecot_reads_our_deliveries_in_both_layouts() -> TestResult {
    if let Some(reason) = skip_reason() {
        eprintln!("skipping Dovecot interop test: {reason}");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    let perms = Permissions {
        owner: Some((UID, UID)),
        ..Permissions::default()
    };
    let (bob_home, carol_home) = (dir.join("bob"), dir.join("carol"));
    for home in [&bob_home, &carol_home] {
        fs::create_dir(home)?;
        std::os::unix::fs::chown(home, Some(UID), Some(UID))?;
    }
    let bob =
        MailStore::new(bob_home.join("Maildir"), Layout::MaildirPlusPlus).with_permissions(perms);
    let carol = MailStore::new(carol_home.join("Maildir"), Layout::Fs).with_permissions(perms);
    bob.ensure_special_folders()?;
    carol.ensure_special_folders()?;
    let [b_inbox, b_lists, b_cafe] = [bob.inbox(), bob.folder("Lists.rust")?, bob.folder("Café")?];
    let [c_inbox, c_lists, c_draft, c_sent] = [
        carol.inbox(),
        carol.folder("Lists/rust")?,
        carol.folder("Entwürfe")?,
        carol.folder("Sent")?,
    ];
    for f in [&b_lists, &b_cafe, &c_lists, &c_draft] {
        f.ensure()?;
    }

    let plain =
        "From: alice@example.net\r\nSubject: Grüße\r\n\r\nHallo Bob,\r\n\r\n.dot\r\nbye\r\n";
    let odd = b"Subject: odd\r\n\r\nbare lf\nbare cr\rcrlf\r\ndouble cr\r\r\nlf first\n\r\nno final newline";
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..20_000 {
        big.extend_from_slice(format!("{i:08} {}\r\n", "y".repeat(i % 50)).as_bytes());
    }
    let mut expected: Vec<(&str, &str, Delivered)> = Vec::new();
    for d in deliver(std::slice::from_ref(&b_inbox), plain.as_bytes(), 5)? {
        expected.push(("bob", "INBOX", d));
    }
    let shared = deliver(
        &[b_lists.clone(), c_inbox.clone(), c_lists.clone()],
        plain.as_bytes(),
        3,
    )?;
    for (d, (user, mailbox)) in shared.into_iter().zip([
        ("bob", "Lists.rust"),
        ("carol", "INBOX"),
        ("carol", "Lists/rust"),
    ]) {
        expected.push((user, mailbox, d));
    }
    for d in deliver(&[b_cafe.clone(), c_draft.clone()], odd, 7)? {
        let who = if d.folder == b_cafe.path() {
            ("bob", "Café")
        } else {
            ("carol", "Entwürfe")
        };
        expected.push((who.0, who.1, d));
    }
    for d in deliver(std::slice::from_ref(&c_sent), &big, 4093)? {
        expected.push(("carol", "Sent", d));
    }
    // Expected IMAP bytes, from the stored files, before Dovecot moves them to cur/.
    let mut stored = Vec::new();
    for (_, _, d) in &expected {
        stored.push(fs::read(&d.path)?);
    }

    let dovecot = Dovecot::start(
        dir,
        &[
            ("bob", &bob_home, "maildir:~/Maildir"),
            ("carol", &carol_home, "maildir:~/Maildir:LAYOUT=fs"),
        ],
    )?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dovecot_check.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dovecot.port.to_string())
        .arg(&dovecot.conf)
        .args(["bob", "carol"])
        .output()?;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail = |s: &str| {
            s.chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
        };
        return Err(format!(
            "check script failed: {}\nlog:\n{}",
            tail(&stderr),
            tail(&dovecot.log_text())
        )
        .into());
    }

    let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String), Seen> = BTreeMap::new();
    for line in report.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["list", user, name] => lists
                .entry(if *user == "bob" { "bob" } else { "carol" })
                .or_default()
                .push(maildir::mutf7::decode(name).map_err(|e| format!("{name}: {e}"))?),
            ["imap", user, name, size, hex] => {
                let name = maildir::mutf7::decode(name)?;
                let s = seen.entry((user.to_string(), name)).or_default();
                assert!(s.body.is_none(), "one message per mailbox expected");
                s.rfc822_size = Some(size.parse()?);
                s.body = Some(unhex(hex));
            }
            ["doveadm", user, name, physical, virt, hex] => {
                let s = seen
                    .entry((user.to_string(), name.to_string()))
                    .or_default();
                s.physical = Some(physical.parse()?);
                s.text = Some(unhex(hex));
                s.virtual_size = Some(virt.parse()?);
            }
            _ => return Err(format!("unexpected line {line:?}").into()),
        }
    }

    // Every folder we created is listed, with the layout's separator.
    let bob_list = lists.get("bob").cloned().unwrap_or_default();
    let carol_list = lists.get("carol").cloned().unwrap_or_default();
    for name in [
        "INBOX",
        "Sent",
        "Drafts",
        "Junk",
        "Trash",
        "Archive",
        "Lists.rust",
        "Café",
    ] {
        assert!(
            bob_list.iter().any(|n| n == name),
            "bob lacks {name}: {bob_list:?}"
        );
    }
    for name in [
        "INBOX",
        "Sent",
        "Drafts",
        "Junk",
        "Trash",
        "Archive",
        "Lists/rust",
        "Entwürfe",
    ] {
        assert!(
            carol_list.iter().any(|n| n == name),
            "carol lacks {name}: {carol_list:?}"
        );
    }

    // Every message has the sizes in its name and the content we stored.
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    for ((user, mailbox, d), file) in expected.iter().zip(&stored) {
        let s = seen
            .get(&(user.to_string(), mailbox.to_string()))
            .ok_or_else(|| format!("Dovecot did not show {user}/{mailbox}"))?;
        let served = as_crlf(file);
        assert_eq!(s.physical, Some(d.size), "{user}/{mailbox} S");
        assert_eq!(s.virtual_size, Some(d.vsize), "{user}/{mailbox} W");
        assert_eq!(s.rfc822_size, Some(d.vsize), "{user}/{mailbox} RFC822.SIZE");
        assert_eq!(served.len() as u64, d.vsize, "{user}/{mailbox}");
        assert_eq!(
            s.body.as_deref(),
            Some(served.as_slice()),
            "{user}/{mailbox} body"
        );
        // doveadm reads the file itself, checking it against S=.
        assert_eq!(
            s.text.as_deref(),
            Some(file.as_slice()),
            "{user}/{mailbox} text"
        );
    }
    let plain_served = format!("Return-Path: <alice@example.net>\r\n{plain}");
    let bob_inbox = seen
        .get(&("bob".into(), "INBOX".into()))
        .and_then(|s| s.body.clone());
    assert_eq!(bob_inbox.as_deref(), Some(plain_served.as_bytes()));

    // Folders Dovecot creates land where we would put them (mUTF-7, layout).
    dovecot.doveadm(&["mailbox", "create", "-u", "bob", "Ünïcødé.Sub"])?;
    dovecot.doveadm(&["mailbox", "create", "-u", "carol", "Žluť/kůň"])?;
    assert!(
        bob.folder_exists("Ünïcødé.Sub")?,
        "{}",
        bob.folder("Ünïcødé.Sub")?.path().display()
    );
    assert!(
        carol.folder_exists("Žluť/kůň")?,
        "{}",
        carol.folder("Žluť/kůň")?.path().display()
    );
    assert!(
        bob.folder("Ünïcødé.Sub")?
            .path()
            .join("maildirfolder")
            .is_file()
    );

    let log = dovecot.log_text();
    assert!(!log.contains("Error"), "dovecot log has errors:\n{log}");
    Ok(())
}
