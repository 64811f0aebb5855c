//! The whole suite on loopback: postern-mda (LMTP into Maildir, auth socket) behind
//! postern-mta (SMTP on 25-like, submission with STARTTLS, implicit TLS), with a self-signed
//! certificate. Each process is killed on drop.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_until};

/// A running daemon, killed on drop.
#[derive(Debug)]
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Users of the stack: (address, password), all in `example.org`.
pub const USERS: [(&str, &str); 3] = [
    ("alice@example.org", "alice-secret"),
    ("bob@example.org", "bob-secret"),
    ("postmaster@example.org", "pm-secret"),
];

/// The running stack.
#[derive(Debug)]
pub struct MtaStack {
    pub dir: PathBuf,
    pub smtp_port: u16,
    pub submission_port: u16,
    pub submissions_port: u16,
    pub cert: PathBuf,
    // Field order: the MTA stops before the MDA it delivers to.
    pub mta: Daemon,
    pub mda: Daemon,
}

/// Extra settings for the MTA config.
#[derive(Debug, Default, Clone)]
pub struct MtaOptions {
    /// Lines added to `[mta]`.
    pub mta: Vec<String>,
    /// Whole extra tables (e.g. `[milter.dkim]`).
    pub tables: String,
    /// `milters = [...]` for every listener.
    pub milters: Option<String>,
    /// Address of an LMTP server other than our postern-mda.
    pub lmtp: Option<String>,
    /// Address of an auth server other than our postern-mda.
    pub auth: Option<String>,
    /// Lines added to `[queue]` (e.g. `lifetime = "3s"`).
    pub queue: Vec<String>,
    /// Lines added to the port-25-like `smtp` listener.
    pub smtp_listener: Vec<String>,
    /// The queue's retry backoff (default 1 s, at most 2 s); a long one means only a flush
    /// retries.
    pub backoff: Option<String>,
}

/// Makes a self-signed certificate for `name` with the openssl CLI.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// Starts a workspace daemon on `config`, stderr to `log`, and waits until `ready` holds for
/// its log.
pub fn start_daemon(
    binary: &str,
    config: &Path,
    log: PathBuf,
    ready: impl Fn(&str) -> bool,
) -> Daemon {
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(crate::binaries::path(binary))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let daemon = Daemon { child, log };
    assert!(
        wait_until(Duration::from_secs(30), || ready(&daemon.log_text())),
        "{binary} did not start:\n{}",
        daemon.log_text()
    );
    daemon
}

impl MtaStack {
    pub fn start(dir: &Path, options: &MtaOptions) -> MtaStack {
        let d = dir.display();
        let mut users = String::new();
        for (address, password) in USERS {
            let hash =
                users::PasswordHash::generate(users::Scheme::Sha512Crypt, password.as_bytes())
                    .unwrap();
            writeln!(users, "{address}:{}", hash.to_field()).unwrap();
        }
        std::fs::write(dir.join("users"), users).unwrap();
        std::fs::write(
            dir.join("mda.toml"),
            format!(
                "[daemon]\nlog_level = \"info\"\nshutdown_timeout = \"2s\"\n\n\
                 [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\nhostname = \"mda.example.org\"\n\n\
                 [auth]\nlisten = [\"unix:{d}/auth.sock\"]\nsocket_mode = \"0666\"\nfailure_delay = \"200ms\"\n\n\
                 [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\ndomains = [\"example.org\"]\n\n\
                 [mail]\nmaildir = \"Maildir\"\n"
            ),
        )
        .unwrap();
        let mda = start_daemon(
            "postern-mda",
            &dir.join("mda.toml"),
            dir.join("mda.log"),
            |log| log.contains("postern-mda ready"),
        );

        let (cert, key) = self_signed(dir, "mx.example.org");
        let (smtp_port, submission_port, submissions_port) =
            (free_port(), free_port(), free_port());
        let lmtp = options
            .lmtp
            .clone()
            .unwrap_or_else(|| format!("unix:{d}/lmtp.sock"));
        let auth = options
            .auth
            .clone()
            .unwrap_or_else(|| format!("unix:{d}/auth.sock"));
        let milters = options
            .milters
            .as_ref()
            .map(|m| format!("milters = {m}\n"))
            .unwrap_or_default();
        let extra_mta = options.mta.join("\n");
        let queue_extra: String = options.queue.iter().map(|l| format!("{l}\n")).collect();
        let smtp_extra: String = options
            .smtp_listener
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        let backoff = options.backoff.clone().unwrap_or_else(|| "1s".into());
        let max_backoff = options.backoff.clone().unwrap_or_else(|| "2s".into());
        let config = format!(
            "[daemon]\nlog_level = \"info\"\nshutdown_timeout = \"2s\"\n\n\
             [mta]\nhostname = \"mx.example.org\"\nlocal_domains = [\"example.org\"]\n\
             mynetworks = [\"127.0.0.1/32\"]\nsubmit_socket = \"unix:{d}/submit.sock\"\n\
             control_socket = \"unix:{d}/control.sock\"\n{extra_mta}\n\n\
             [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n\
             [auth]\nsocket = \"{auth}\"\n\n\
             [lmtp]\ndestination = \"{lmtp}\"\n\n\
             [queue]\ndirectory = \"{d}/queue\"\nmin_backoff = \"{backoff}\"\nmax_backoff = \"{max_backoff}\"\n{queue_extra}\n\
             [[listener]]\nname = \"smtp\"\nlisten = [\"127.0.0.1:{smtp_port}\"]\ntls = \"starttls\"\n{milters}{smtp_extra}\n\
             [[listener]]\nname = \"submission\"\nlisten = [\"127.0.0.1:{submission_port}\"]\ntls = \"starttls\"\n\
             require_tls = true\nauth = true\nrequire_auth = true\n{milters}\n\
             [[listener]]\nname = \"submissions\"\nlisten = [\"127.0.0.1:{submissions_port}\"]\ntls = \"implicit\"\n\
             auth = true\nrequire_auth = true\n{milters}\n{}",
            cert.display(),
            key.display(),
            options.tables
        );
        std::fs::write(dir.join("mta.toml"), config).unwrap();
        let mta = start_daemon(
            "postern-mta",
            &dir.join("mta.toml"),
            dir.join("mta.log"),
            |log| log.contains("postern-mta ready"),
        );
        MtaStack {
            dir: dir.to_path_buf(),
            smtp_port,
            submission_port,
            submissions_port,
            cert,
            mta,
            mda,
        }
    }

    /// The user's INBOX (Maildir++ root).
    pub fn maildir(&self, address: &str) -> PathBuf {
        let (local, domain) = address.split_once('@').unwrap_or((address, ""));
        self.dir
            .join("vmail")
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    /// Messages in a folder's `new/`, sorted by name, as text.
    pub fn messages(&self, folder: &Path) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(folder.join("new"))
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned())
            .collect()
    }

    /// Waits until `address` has `count` messages in INBOX; returns them.
    pub fn wait_for(&self, address: &str, count: usize) -> Vec<String> {
        let folder = self.maildir(address);
        let arrived = wait_until(Duration::from_secs(30), || {
            self.messages(&folder).len() >= count
        });
        assert!(
            arrived,
            "{address}: {} of {count} messages\nmta log:\n{}\nmda log:\n{}",
            self.messages(&folder).len(),
            self.mta.log_text(),
            self.mda.log_text()
        );
        self.messages(&folder)
    }
}

impl MtaStack {
    /// Runs `postern-mta --config <this stack's> <args>` (e.g. `queue list`).
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new(crate::binaries::path("postern-mta"))
            .arg("--config")
            .arg(self.dir.join("mta.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs the binary under the name `sendmail` (a symlink, as packages install it), with
    /// this stack's config, `args` and `stdin`; `user` runs it as that uid/gid (via setpriv).
    pub fn sendmail(&self, args: &[&str], stdin: &[u8], user: Option<u32>) -> std::process::Output {
        use std::io::Write as _;
        let link = self.dir.join("bin").join("sendmail");
        if !link.exists() {
            std::fs::create_dir_all(self.dir.join("bin")).unwrap();
            std::os::unix::fs::symlink(crate::binaries::path("postern-mta"), &link).unwrap();
        }
        let mut command = match user {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg(&link);
                c
            }
            None => Command::new(&link),
        };
        let mut child = command
            .arg("-C")
            .arg(self.dir.join("mta.toml"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A sendmail that exits early (refused input) closes the pipe: not an error here.
        let _ = child.stdin.take().unwrap().write_all(stdin);
        child.wait_with_output().unwrap()
    }
}

impl MtaStack {
    /// Kills postern-mta with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill_mta(&mut self) {
        let _ = self.mta.child.kill();
        let _ = self.mta.child.wait();
    }

    /// Starts postern-mta again with the same configuration, logging to `log_name` in the
    /// stack's directory (earlier logs are kept).
    pub fn restart_mta(&mut self, log_name: &str) {
        self.kill_mta();
        self.mta = start_daemon(
            "postern-mta",
            &self.dir.join("mta.toml"),
            self.dir.join(log_name),
            |log| log.contains("postern-mta ready"),
        );
    }

    /// Whether the queue is empty, asked through the control socket.
    pub fn queue_is_empty(&self) -> bool {
        String::from_utf8_lossy(&self.command(&["queue", "list"]).stdout) == "Mail queue is empty\n"
    }
}
