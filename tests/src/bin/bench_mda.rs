//! Benchmark: deliveries per second from one private Postfix over LMTP (`virtual_transport`)
//! into Maildirs, by postern-mda vs by Dovecot's LMTP (same passwd-file users, separate mail
//! roots), alternating rounds in one run. Every round is checked by counting the delivered files.
//!
//! Run as root with the peers installed (tests/install-peers): `tests/bench-mda`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use postern_tests::bench::{
    count_messages, median, postfix_for_lmtp, split, start_mda, wait_for_empty_queue,
};
use postern_tests::dovecot::Dovecot;
use postern_tests::workdir::WorkDir;
use postern_tests::{corpus, free_port};

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const DOMAIN: &str = "example.org";

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
    let _mda = start_mda(
        &mda_dir,
        &USERS
            .iter()
            .map(|u| format!("{u}@{DOMAIN}"))
            .collect::<Vec<_>>(),
        "warn",
    );
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
    let postfix = postfix_for_lmtp(
        &work.subdir("postfix", 0o755),
        smtp_port,
        DOMAIN,
        &mda_dir.join("lmtp.sock"),
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
