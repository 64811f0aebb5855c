//! A private stock Dovecot: passwd-file users, Maildir mail, its own `instance_name`,
//! `base_dir` and `state_dir`, run in the foreground with `dovecot -c CONF -F` and stopped
//! (SIGTERM, so its children exit too) on drop. A [`DovecotBuilder`] picks the services: LMTP
//! on a UNIX socket, IMAP on a loopback port, the auth-client socket Postfix's
//! `smtpd_sasl_type = dovecot` talks to. Needs root (mail processes run as the vmail uid).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The uid and gid that own the mail (any uid ≥ `first_valid_uid` works without an
/// `/etc/passwd` entry).
pub const VMAIL_UID: u32 = 5000;

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A passwd-file line for `address` with `password` as stored (`{SCHEME}...`), owned by
/// [`VMAIL_UID`], home `home` (empty: none, e.g. when `default_home` supplies it) and extra
/// fields such as `userdb_mail=maildir:~/Maildir:LAYOUT=fs`.
pub fn passwd_line(address: &str, password: &str, home: &str, extra: &str) -> String {
    format!("{address}:{password}:{VMAIL_UID}:{VMAIL_UID}::{home}::{extra}")
}

/// `password` hashed with `scheme` by the real `doveadm pw` (e.g. `{ARGON2ID}$argon2id$...`),
/// so the tests' hashes come from Dovecot rather than from our own reading of the schemes.
pub fn doveadm_pw(scheme: &str, password: &str) -> String {
    // `-c /dev/null`: the machine-wide dovecot.conf plays no part.
    let out = Command::new("doveadm")
        .args(["-c", "/dev/null", "pw", "-s", scheme, "-p", password])
        .output()
        .expect("run doveadm (package dovecot-core; tests/install-peers installs it)");
    assert!(
        out.status.success(),
        "doveadm pw -s {scheme}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with(&format!("{{{scheme}}}")), "{hash}");
    hash
}

/// What to run; [`start`](DovecotBuilder::start) writes the config and starts Dovecot.
#[derive(Debug, Clone)]
pub struct DovecotBuilder {
    dir: PathBuf,
    passwd: Vec<String>,
    mail_location: String,
    default_home: Option<String>,
    lmtp: bool,
    imap: bool,
    auth_client: bool,
    settings: Vec<String>,
}

impl DovecotBuilder {
    /// Config, passwd-file, log and sockets go into `dir` (created; it and its parents must be
    /// searchable by user `postfix` when Postfix uses a socket).
    pub fn new(dir: &Path) -> DovecotBuilder {
        DovecotBuilder {
            dir: dir.to_path_buf(),
            passwd: Vec::new(),
            mail_location: "maildir:~/Maildir".into(),
            default_home: None,
            lmtp: false,
            imap: false,
            auth_client: false,
            settings: Vec::new(),
        }
    }

    /// Passwd-file lines, written as given (see [`passwd_line`]).
    pub fn passwd(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.passwd.extend(lines);
        self
    }

    /// `mail_location` (default `maildir:~/Maildir`); a user's `userdb_mail` overrides it.
    pub fn mail_location(mut self, location: &str) -> Self {
        self.mail_location = location.into();
        self
    }

    /// The home of users whose passwd-file home is empty, with Dovecot's variables
    /// (`/x/%d/%n`), as postern-mda's `users.home` does.
    pub fn default_home(mut self, template: &str) -> Self {
        self.default_home = Some(template.into());
        self
    }

    /// LMTP on `run/lmtp`, mode 0666.
    pub fn lmtp(mut self) -> Self {
        self.lmtp = true;
        self
    }

    /// IMAP (no TLS) on a free loopback port.
    pub fn imap(mut self) -> Self {
        self.imap = true;
        self
    }

    /// The auth-client socket `run/auth-client`, mode 0666.
    pub fn auth_client(mut self) -> Self {
        self.auth_client = true;
        self
    }

    /// An extra top-level `dovecot.conf` line.
    pub fn setting(mut self, line: &str) -> Self {
        self.settings.push(line.into());
        self
    }

    pub fn start(self) -> Dovecot {
        let dir = &self.dir;
        fs::create_dir_all(dir).unwrap();
        let users_file = dir.join("users");
        let mut passwd = self.passwd.join("\n");
        passwd.push('\n');
        fs::write(&users_file, passwd).unwrap();
        // auth runs as user dovecot and must read it.
        chown(&users_file, "root:dovecot");
        fs::set_permissions(&users_file, fs::Permissions::from_mode(0o640)).unwrap();

        let d = dir.display();
        let instance = format!(
            "postern-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::Relaxed)
        );
        let mut protocols: Vec<&str> = Vec::new();
        if self.lmtp {
            protocols.push("lmtp");
        }
        if self.imap {
            protocols.push("imap");
        }
        let protocols = if protocols.is_empty() {
            "none".to_string()
        } else {
            protocols.join(" ")
        };
        let imap_port = if self.imap { crate::free_port() } else { 0 };
        let mut conf = format!(
            "instance_name = {instance}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = {protocols}
listen = 127.0.0.1
ssl = no
# Postfix without TLS does not mark AUTH requests secured; IMAP here is plain too.
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1000
mail_location = {mail_location}
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
",
            mail_location = self.mail_location
        );
        if let Some(home) = &self.default_home {
            writeln!(conf, "  default_fields = home={home}").unwrap();
        }
        conf.push_str("}\nnamespace inbox {\n  inbox = yes\n}\n");
        if self.lmtp {
            conf.push_str("service lmtp {\n  unix_listener lmtp {\n    mode = 0666\n  }\n}\n");
        }
        if self.imap {
            write!(
                conf,
                "service imap-login {{\n  inet_listener imap {{\n    port = {imap_port}\n  }}\n  \
                 inet_listener imaps {{\n    port = 0\n  }}\n}}\n"
            )
            .unwrap();
        }
        if self.auth_client {
            conf.push_str(
                "service auth {\n  unix_listener auth-client {\n    mode = 0666\n  }\n}\n",
            );
        }
        for line in &self.settings {
            writeln!(conf, "{line}").unwrap();
        }
        let conf_path = dir.join("dovecot.conf");
        fs::write(&conf_path, conf).unwrap();

        let child = Command::new("dovecot")
            .arg("-c")
            .arg(&conf_path)
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run dovecot (packages dovecot-imapd, dovecot-lmtpd; tests/install-peers)");
        let dovecot = Dovecot {
            child,
            dir: dir.clone(),
            conf: conf_path,
            imap_port,
        };
        let mut sockets = Vec::new();
        if self.lmtp {
            sockets.push(dovecot.lmtp_socket());
        }
        if self.auth_client {
            sockets.push(dovecot.auth_socket());
        }
        assert!(
            crate::wait_until(Duration::from_secs(15), || {
                sockets.iter().all(|s| s.exists())
                    && (!self.imap || TcpStream::connect(("127.0.0.1", imap_port)).is_ok())
            }),
            "dovecot did not start its listeners: {}",
            dovecot.log()
        );
        // base_dir is created by Dovecot; postfix must be able to reach the sockets inside it.
        fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
        dovecot
    }
}

/// A running private Dovecot.
#[derive(Debug)]
pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    conf: PathBuf,
    imap_port: u16,
}

impl Dovecot {
    /// Starts Dovecot with LMTP only for `users` (`(address, password)`, stored `{PLAIN}`,
    /// home `mail_root/<domain>/<local part>`); `mail_root` is created for the vmail uid.
    pub fn start_lmtp(dir: &Path, mail_root: &Path, users: &[(&str, &str)]) -> Dovecot {
        fs::create_dir_all(mail_root).unwrap();
        chown(mail_root, &format!("{VMAIL_UID}:{VMAIL_UID}"));
        let lines = users.iter().map(|(address, password)| {
            let (local, domain) = address.split_once('@').unwrap_or((address, ""));
            let home = format!("{}/{domain}/{local}", mail_root.display());
            passwd_line(address, &format!("{{PLAIN}}{password}"), &home, "")
        });
        DovecotBuilder::new(dir).passwd(lines).lmtp().start()
    }

    /// The LMTP socket, for `virtual_transport = lmtp:unix:PATH`.
    pub fn lmtp_socket(&self) -> PathBuf {
        self.dir.join("run/lmtp")
    }

    /// The auth-client socket, for `smtpd_sasl_path`.
    pub fn auth_socket(&self) -> PathBuf {
        self.dir.join("run/auth-client")
    }

    /// The IMAP port on 127.0.0.1 (0 without IMAP).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The configuration file (for `doveadm -c`).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Dovecot's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// Every selectable mailbox and message of `users` (all with `password`) as Dovecot serves
    /// them over IMAP (LIST, FETCH RFC822.SIZE BODY.PEEK[]) and as `doveadm fetch` reads them
    /// (size.physical, size.virtual, text), by `interop/dovecot_check.py`. Needs [`imap`].
    /// Reading marks nothing, but Dovecot may move `new/` files to `cur/`.
    ///
    /// [`imap`]: DovecotBuilder::imap
    pub fn read_mail(&self, password: &str, users: &[&str]) -> MailView {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/dovecot_check.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(self.imap_port.to_string())
            .arg(&self.conf)
            .arg(password)
            .args(users)
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "{} failed: {}\ndovecot log:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        let mut view = MailView::default();
        // doveadm lines come after the IMAP lines of the same user, in the same (UID) order.
        let mut doveadm_seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["list", user, name] => view
                    .folders
                    .entry(user.to_string())
                    .or_default()
                    .push(name.to_string()),
                ["imap", user, name, size, hex] => view
                    .messages
                    .entry((user.to_string(), name.to_string()))
                    .or_default()
                    .push(Seen {
                        rfc822_size: size.parse().unwrap(),
                        body: unhex(hex),
                        ..Seen::default()
                    }),
                ["doveadm", user, name, physical, virtual_size, hex] => {
                    let key = (user.to_string(), name.to_string());
                    let index = doveadm_seen.entry(key.clone()).or_default();
                    let seen = view
                        .messages
                        .get_mut(&key)
                        .and_then(|list| list.get_mut(*index))
                        .unwrap_or_else(|| panic!("doveadm shows a message IMAP did not: {line}"));
                    *index += 1;
                    seen.physical = Some(physical.parse().unwrap());
                    seen.virtual_size = Some(virtual_size.parse().unwrap());
                    seen.text = Some(unhex(hex));
                }
                _ => panic!("unexpected line from {}: {line:?}", script.display()),
            }
        }
        view
    }

    /// Runs `doveadm -c CONF ARGS`; its stdout, or the error with stderr.
    pub fn doveadm(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .map_err(|e| format!("doveadm: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // doveadm exits 0 after some per-mailbox errors that it only logs.
        if !out.status.success() || stderr.contains("Error") {
            return Err(format!("doveadm {args:?}: {stderr}"));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
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

/// What [`Dovecot::read_mail`] saw.
#[derive(Debug, Default, Clone)]
pub struct MailView {
    /// user → selectable mailbox names (UTF-8), as LISTed.
    pub folders: BTreeMap<String, Vec<String>>,
    /// (user, mailbox) → its messages in UID order.
    pub messages: BTreeMap<(String, String), Vec<Seen>>,
}

/// One message as Dovecot served it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// IMAP RFC822.SIZE.
    pub rfc822_size: u64,
    /// IMAP BODY[]: the message with CRLF line ends.
    pub body: Vec<u8>,
    /// doveadm size.physical, size.virtual and text (the file as stored).
    pub physical: Option<u64>,
    pub virtual_size: Option<u64>,
    pub text: Option<Vec<u8>>,
}

/// The bytes IMAP serves for a stored file: every LF not preceded by CR gets one.
pub fn as_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 32);
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

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn chown(path: &Path, owner: &str) {
    let status = Command::new("chown").arg(owner).arg(path).status().unwrap();
    assert!(status.success(), "chown {owner} {}", path.display());
}
