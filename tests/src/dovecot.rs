//! A private stock Dovecot delivering over LMTP on a UNIX socket: passwd-file users, Maildir
//! mail under per-user homes, its own `instance_name`, `base_dir` and `state_dir`, run in the
//! foreground with `dovecot -c CONF -F` and stopped (SIGTERM, so its children exit too) on drop.
//! Needs root (its mail processes run as the vmail uid).

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The uid and gid that own the mail (any uid ≥ `first_valid_uid` works without an
/// `/etc/passwd` entry).
pub const VMAIL_UID: u32 = 5000;

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A running private Dovecot.
#[derive(Debug)]
pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    conf: PathBuf,
    lmtp_socket: PathBuf,
}

impl Dovecot {
    /// Writes `dovecot.conf` and a passwd-file (`{PLAIN}` passwords, uid/gid [`VMAIL_UID`], home
    /// `mail_root/<domain>/<local part>`) for `users` (`(address, password)`) into `dir`, and
    /// starts Dovecot with LMTP listening on `dir/run/lmtp` (mode 0666). `dir` and its parents
    /// must be searchable by user `postfix`; `mail_root` is created and given to the vmail uid.
    pub fn start_lmtp(dir: &Path, mail_root: &Path, users: &[(&str, &str)]) -> Dovecot {
        fs::create_dir_all(dir).unwrap();
        fs::create_dir_all(mail_root).unwrap();
        chown(mail_root, &format!("{VMAIL_UID}:{VMAIL_UID}"));
        let mut passwd = String::new();
        for (address, password) in users {
            let (local, domain) = address.split_once('@').unwrap_or((address, ""));
            writeln!(
                passwd,
                "{address}:{{PLAIN}}{password}:{VMAIL_UID}:{VMAIL_UID}::{}/{domain}/{local}::",
                mail_root.display()
            )
            .unwrap();
        }
        let users_file = dir.join("users");
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
        let conf = dir.join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "instance_name = {instance}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1000
mail_location = maildir:~/Maildir
lmtp_save_to_detail_mailbox = no
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
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"
            ),
        )
        .unwrap();
        let child = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run dovecot (package dovecot-lmtpd; tests/install-peers installs it)");
        let dovecot = Dovecot {
            child,
            dir: dir.to_path_buf(),
            conf,
            lmtp_socket: dir.join("run/lmtp"),
        };
        assert!(
            crate::wait_until(Duration::from_secs(15), || dovecot.lmtp_socket.exists()),
            "dovecot did not create {}: {}",
            dovecot.lmtp_socket.display(),
            dovecot.log()
        );
        // base_dir is created by Dovecot; postfix must be able to reach the socket inside it.
        fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
        dovecot
    }

    /// The LMTP socket, for `virtual_transport = lmtp:unix:PATH`.
    pub fn lmtp_socket(&self) -> &Path {
        &self.lmtp_socket
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

fn chown(path: &Path, owner: &str) {
    let status = Command::new("chown").arg(owner).arg(path).status().unwrap();
    assert!(status.success(), "chown {owner} {}", path.display());
}
