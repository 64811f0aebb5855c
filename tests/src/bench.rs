//! What the benchmark binaries share: a postern-mda for them to deliver to, the load split,
//! counting delivered files, waiting for a Postfix queue to drain, medians and percentiles.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::postfix::{Postfix, PostfixSettings};
use crate::{free_port, wait_until};

/// A running postern-mda, killed on drop.
#[derive(Debug)]
pub struct Mda {
    child: Child,
}

impl Mda {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Mda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts postern-mda in `dir` (LMTP at `dir/lmtp.sock`, Maildir++ under `dir/vmail`) for
/// `addresses`, each with the password `secret`.
pub fn start_mda(dir: &Path, addresses: &[String], log_level: &str) -> Mda {
    start_mda_with(dir, addresses, log_level, "")
}

/// [`start_mda`] with more configuration appended (e.g. `[imap]` and `[tls]` tables).
pub fn start_mda_with(dir: &Path, addresses: &[String], log_level: &str, extra: &str) -> Mda {
    let users: String = addresses
        .iter()
        .map(|a| format!("{a}:{{PLAIN}}secret::::::\n"))
        .collect();
    std::fs::write(dir.join("users"), users).unwrap();
    let domains: Vec<String> = addresses
        .iter()
        .filter_map(|a| a.split_once('@').map(|(_, d)| format!("\"{d}\"")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let d = dir.display();
    let config = format!(
        "[daemon]\nlog_level = \"{log_level}\"\nshutdown_timeout = \"2s\"\n\n\
         [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\nhostname = \"mda.test\"\n\
         max_message_size = \"100M\"\n\n\
         [auth]\nlisten = [\"unix:{d}/auth.sock\"]\nsocket_mode = \"0666\"\n\n\
         [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\n\
         domains = [{}]\n\n\
         [mail]\nlayout = \"maildir++\"\nmaildir = \"Maildir\"\n{extra}",
        domains.join(", ")
    );
    std::fs::write(dir.join("mda.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("mda.log")).unwrap();
    let child = Command::new(crate::binaries::path("postern-mda"))
        .arg("--config")
        .arg(dir.join("mda.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mda = Mda { child };
    let socket = dir.join("lmtp.sock");
    assert!(
        wait_until(Duration::from_secs(20), || socket.exists()),
        "postern-mda did not start: {}",
        std::fs::read_to_string(dir.join("mda.log")).unwrap_or_default()
    );
    mda
}

/// A private Postfix on `smtp_port` delivering `domain` over LMTP to `lmtp_socket`, with the
/// per-client connection limit lifted (every load session comes from 127.0.0.1).
pub fn postfix_for_lmtp(dir: &Path, smtp_port: u16, domain: &str, lmtp_socket: &Path) -> Postfix {
    Postfix::start(
        dir,
        &PostfixSettings {
            smtp_port,
            submission: None,
            // Nothing should be relayed; a closed port makes any stray bounce stay queued.
            relay_port: free_port(),
            smtpd_milters: String::new(),
            non_smtpd_milters: String::new(),
            mynetworks: "127.0.0.1/32".into(),
            extra_main: vec![
                "relay_domains =".into(),
                "smtpd_client_connection_count_limit = 0".into(),
                format!("virtual_mailbox_domains = {domain}"),
                format!("virtual_transport = lmtp:unix:{}", lmtp_socket.display()),
            ],
            submission_options: vec![],
        },
    )
}

/// `total` split into `parts` as evenly as possible.
pub fn split(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

/// Messages in a Maildir's INBOX (`new/` and `cur/`).
pub fn count_messages(maildir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|sub| {
            std::fs::read_dir(maildir.join(sub))
                .map(|entries| entries.flatten().count())
                .unwrap_or(0)
        })
        .sum()
}

/// Polls `postqueue -p` until the queue is empty; false after five minutes.
pub fn wait_for_empty_queue(postfix: &Postfix) -> bool {
    wait_until(Duration::from_secs(300), || {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(postfix.dir())
            .arg("-p")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty")
    })
}

pub fn median(values: &mut [f64]) -> f64 {
    percentile(values, 50.0)
}

/// The `p`-th percentile (nearest rank) of `values`, sorting them.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values
        .get(rank.saturating_sub(1).min(values.len() - 1))
        .copied()
        .unwrap_or(0.0)
}

/// Current resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples the RSS of `pids` every 10 ms until `done` is set; the largest seen for each.
pub fn sample_rss(
    pids: Vec<u32>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut max = vec![0; pids.len()];
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            for (m, pid) in max.iter_mut().zip(&pids) {
                *m = (*m).max(rss_kib(*pid));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        max
    })
}

/// Reads an option `--flag N` from the command line.
pub fn number_arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reads an option `--flag TEXT` from the command line.
pub fn text_arg<'a>(args: &'a [String], flag: &str, default: &'a str) -> &'a str {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map_or(default, String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 99.0), 99.0);
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut [3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&mut [], 99.0), 0.0);
        assert_eq!(split(10, 3), [4, 3, 3]);
    }
}
