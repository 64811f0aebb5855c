//! Benchmark: deliveries per second from one private Postfix over LMTP (`virtual_transport`)
//! into Maildirs, by postern-mda vs by Dovecot's LMTP (same passwd-file users, separate mail
//! roots), alternating rounds in one run. Every round is checked by counting the delivered files.
//!
//! Run as root with the peers installed (tests/install-peers): `tests/bench-mda`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postern_tests::dovecot::Dovecot;
use postern_tests::postfix::{Postfix, PostfixSettings};
use postern_tests::workdir::WorkDir;
use postern_tests::{corpus, free_port, wait_until};

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const DOMAIN: &str = "example.org";

struct Mda {
    child: Child,
}

impl Drop for Mda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mda(dir: &Path) -> Mda {
    let users: String = USERS
        .iter()
        .map(|u| format!("{u}@{DOMAIN}:{{PLAIN}}secret::::::\n"))
        .collect();
    std::fs::write(dir.join("users"), users).unwrap();
    let d = dir.display();
    let config = format!(
        "[daemon]\nlog_level = \"warn\"\nshutdown_timeout = \"2s\"\n\n\
         [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\nhostname = \"mda.test\"\n\n\
         [auth]\nlisten = [\"unix:{d}/auth.sock\"]\nsocket_mode = \"0666\"\n\n\
         [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\n\
         domains = [\"{DOMAIN}\"]\n\n\
         [mail]\nlayout = \"maildir++\"\nmaildir = \"Maildir\"\n"
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
    let mda = Mda { child };
    let socket = dir.join("lmtp.sock");
    assert!(
        wait_until(Duration::from_secs(20), || socket.exists()),
        "postern-mda did not start: {}",
        std::fs::read_to_string(dir.join("mda.log")).unwrap_or_default()
    );
    mda
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let messages = number("--messages", 1000);
    let rounds = number("--rounds", 3);
    let sessions = number("--sessions", 20);
    let sample_name = args
        .iter()
        .position(|a| a == "--sample")
        .and_then(|i| args.get(i + 1))
        .map_or("multipart-attachments", String::as_str);

    let work = WorkDir::new("bench-mda");
    let mda_dir = work.subdir("mda", 0o755);
    let _mda = start_mda(&mda_dir);
    let dovecot_root = work.subdir("dovecot-mail", 0o755);
    let addresses: Vec<String> = USERS.iter().map(|u| format!("{u}@{DOMAIN}")).collect();
    let dovecot_users: Vec<(&str, &str)> =
        addresses.iter().map(|a| (a.as_str(), "secret")).collect();
    let dovecot = Dovecot::start_lmtp(
        &work.subdir("dovecot", 0o755),
        &dovecot_root,
        &dovecot_users,
    );

    let smtp_port = free_port();
    let postfix = Postfix::start(
        &work.subdir("postfix", 0o755),
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
                format!("virtual_mailbox_domains = {DOMAIN}"),
                format!(
                    "virtual_transport = lmtp:unix:{}/lmtp.sock",
                    mda_dir.display()
                ),
            ],
            submission_options: vec![],
        },
    );

    let message_file = work.path().join("message.eml");
    let sample = corpus::corpus("bench@example.com", 0)
        .into_iter()
        .find(|s| s.name == sample_name)
        .unwrap_or_else(|| panic!("no corpus sample {sample_name}"));
    // smtp-source appends CRLF to each line itself.
    std::fs::write(
        &message_file,
        String::from_utf8(sample.data)
            .unwrap()
            .replace("\r\n", "\n"),
    )
    .unwrap();

    let per_user = split(messages, USERS.len());
    let user_sessions = sessions.div_ceil(USERS.len()).max(1);
    println!(
        "postern-mda vs Dovecot LMTP behind one Postfix: {rounds} alternating rounds of {messages} messages \
         ({sample_name}, {} bytes) to {} users, {} smtp-source processes × {user_sessions} sessions, maildir++",
        std::fs::metadata(&message_file).unwrap().len(),
        USERS.len(),
        USERS.len(),
    );
    let targets = [
        (
            "postern-mda",
            mda_dir.join("lmtp.sock"),
            mda_dir.join("vmail").join(DOMAIN),
        ),
        ("dovecot", dovecot.lmtp_socket(), dovecot_root.join(DOMAIN)),
    ];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, (name, socket, root)) in targets.iter().enumerate() {
            postfix.reconfigure(&[&format!("virtual_transport=lmtp:unix:{}", socket.display())]);
            std::thread::sleep(Duration::from_secs(1));
            let start = Instant::now();
            let senders: Vec<Child> = USERS
                .iter()
                .zip(&per_user)
                .filter(|(_, n)| **n > 0)
                .map(|(user, n)| {
                    Command::new("smtp-source")
                        .args(["-s", &user_sessions.to_string(), "-m", &n.to_string()])
                        .args(["-f", "bench@example.com", "-t", &format!("{user}@{DOMAIN}")])
                        .arg("-F")
                        .arg(&message_file)
                        .arg(format!("127.0.0.1:{smtp_port}"))
                        .spawn()
                        .expect("smtp-source (package postfix)")
                })
                .collect();
            for mut sender in senders {
                assert!(sender.wait().unwrap().success(), "smtp-source failed");
            }
            let drained = wait_for_empty_queue(&postfix);
            let elapsed = start.elapsed();
            let rate = messages as f64 / elapsed.as_secs_f64();
            let delivered: Vec<usize> = USERS
                .iter()
                .map(|u| count_messages(&root.join(u).join("Maildir")))
                .collect();
            let expected: Vec<usize> = per_user.iter().map(|n| n * (round + 1)).collect();
            let check = if delivered == expected && drained {
                "all delivered".to_string()
            } else {
                format!(
                    "MISMATCH: files {delivered:?}, expected {expected:?}, queue drained: {drained}"
                )
            };
            println!(
                "round {}: {name:<12} {rate:>8.1} deliveries/s ({:.2} s; {check})",
                round + 1,
                elapsed.as_secs_f64()
            );
            rates[i].push(rate);
        }
    }
    let mda_median = median(&mut rates[0]);
    let dovecot_median = median(&mut rates[1]);
    println!(
        "median: postern-mda {mda_median:.1} deliveries/s, Dovecot {dovecot_median:.1} deliveries/s, \
         ratio postern-mda/Dovecot {:.2}",
        mda_median / dovecot_median
    );
    let errors = dovecot
        .log()
        .lines()
        .filter(|l| l.contains("Error") || l.contains("Fatal"))
        .count();
    if errors > 0 {
        println!("dovecot log has {errors} error lines: {}", dovecot.log());
    }
    drop(postfix);
}

/// `total` split into `parts` as evenly as possible.
fn split(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

/// Messages in a Maildir's INBOX (`new/` and `cur/`).
fn count_messages(maildir: &Path) -> usize {
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
fn wait_for_empty_queue(postfix: &Postfix) -> bool {
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

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
