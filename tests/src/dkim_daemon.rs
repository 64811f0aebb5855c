//! Runs the real postern-dkim binary with a generated configuration and keys.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::verify::KeyRecords;

/// A key made with `postern-dkim genkey`.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub name: String,
    pub domain: String,
    pub selector: String,
    pub file: PathBuf,
    /// The DNS record value `genkey` printed.
    pub record: String,
}

/// Generates a key with the real `genkey` subcommand (so its output is exercised too).
pub fn genkey(dir: &Path, domain: &str, selector: &str, algorithm: &str) -> TestKey {
    genkey_with(
        &crate::binaries::path("postern-dkim"),
        dir,
        domain,
        selector,
        algorithm,
    )
}

/// [`genkey`] with a given postern-dkim binary.
pub fn genkey_with(
    binary: &Path,
    dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: &str,
) -> TestKey {
    let file = dir.join(format!("{domain}.{selector}.key"));
    let out = Command::new(binary)
        .args([
            "genkey",
            "--domain",
            domain,
            "--selector",
            selector,
            "--algorithm",
            algorithm,
        ])
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "genkey: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let record = stdout
        .lines()
        .find(|l| l.starts_with("v=DKIM1"))
        .unwrap_or_else(|| panic!("no one-line record in genkey output:\n{stdout}"))
        .to_string();
    TestKey {
        name: format!("{selector}-{}", algorithm),
        domain: domain.to_string(),
        selector: selector.to_string(),
        file,
        record,
    }
}

/// The records verifiers should see for `keys`.
pub fn records(keys: &[TestKey]) -> KeyRecords {
    let mut records = KeyRecords::default();
    for key in keys {
        records.add(&key.domain, &key.selector, &key.record);
    }
    records
}

/// A configuration for a test daemon: socket in `dir`, all `keys` signing `example.com`.
pub fn config(
    socket: &Path,
    keys: &[TestKey],
    canonicalization: &str,
    extra_signing: &str,
) -> String {
    let mut text = format!(
        "[daemon]\nlisten = [\"unix:{}\"]\nsocket_mode = \"0666\"\nlog_level = \"info\"\n\
         shutdown_timeout = \"5s\"\n\n[signing]\ncanonicalization = \"{canonicalization}\"\n\
         internal_networks = [\"127.0.0.1/32\"]\n{extra_signing}\n",
        socket.display()
    );
    for key in keys {
        text.push_str(&format!(
            "[keys.{}]\ndomain = \"{}\"\nselector = \"{}\"\nfile = \"{}\"\n\n",
            key.name,
            key.domain,
            key.selector,
            key.file.display()
        ));
    }
    let names: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.name)).collect();
    text.push_str(&format!(
        "[[signing_table]]\nfrom = \"example.com\"\nkeys = [{}]\n",
        names.join(", ")
    ));
    text
}

/// A running postern-dkim; killed on drop.
#[derive(Debug)]
pub struct DkimDaemon {
    child: Child,
    pub socket: PathBuf,
    pub config_file: PathBuf,
    pub log_file: PathBuf,
}

impl DkimDaemon {
    /// Writes `config_text` to `dir/dkim.toml` and starts the daemon on it.
    pub fn start(dir: &Path, socket: &Path, config_text: &str) -> DkimDaemon {
        Self::start_with(
            &crate::binaries::path("postern-dkim"),
            dir,
            socket,
            config_text,
        )
    }

    /// [`DkimDaemon::start`] with a given postern-dkim binary.
    pub fn start_with(binary: &Path, dir: &Path, socket: &Path, config_text: &str) -> DkimDaemon {
        let config_file = dir.join("dkim.toml");
        fs::write(&config_file, config_text).unwrap();
        let log_file = dir.join("postern-dkim.log");
        // A fresh log per start: readiness is read from it.
        let log = fs::File::create(&log_file).unwrap();
        let _ = fs::remove_file(socket);
        let child = Command::new(binary)
            .arg("--config")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = DkimDaemon {
            child,
            socket: socket.to_path_buf(),
            config_file,
            log_file,
        };
        // The socket accepts as soon as it is bound, before privileges are dropped and
        // signal handlers exist: wait for the daemon to say it is ready.
        assert!(
            crate::wait_until(Duration::from_secs(20), || {
                daemon.log().contains("postern-dkim ready")
            }),
            "postern-dkim did not start; log:\n{}",
            daemon.log()
        );
        daemon
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (HUP, TERM, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Peak resident set size in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        peak_rss_kib(self.pid())
    }

    /// Waits for the process to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<bool> {
        let mut result = None;
        crate::wait_until(timeout, || match self.child.try_wait() {
            Ok(Some(status)) => {
                result = Some(status.success());
                true
            }
            _ => false,
        });
        result
    }
}

/// Peak resident set size of a process in KiB, from /proc.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Drop for DkimDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("POSTERN_KEEP").is_some() {
            eprintln!("postern-dkim log: {}", self.log_file.display());
        }
    }
}
