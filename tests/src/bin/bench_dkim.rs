//! Benchmark: messages per second through one private Postfix signing with postern-dkim vs the
//! same Postfix signing with OpenDKIM (same RSA-2048 key, message and canonicalization),
//! alternating rounds in one run; then the milters' peak RSS while signing a 50 MB message.
//!
//! Run as root with the peers installed (tests/install-peers): `tests/bench-dkim`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use postern_tests::bench::median;
use postern_tests::dkim_daemon::{self, DkimDaemon, peak_rss_kib};
use postern_tests::opendkim::OpenDkim;
use postern_tests::postfix::{Postfix, PostfixSettings};
use postern_tests::smtp_client::{Submission, submit};
use postern_tests::workdir::WorkDir;
use postern_tests::{corpus, free_port};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let messages = number("--messages", 2000);
    let rounds = number("--rounds", 3);
    let sessions = number("--sessions", 20);
    let big_mb = number("--big-mb", 50);
    let sample_name = args
        .iter()
        .position(|a| a == "--sample")
        .and_then(|i| args.get(i + 1))
        .map_or("multipart-attachments", String::as_str);

    let work = WorkDir::new("bench");
    let key = dkim_daemon::genkey(&work.subdir("keys", 0o755), "example.com", "bench", "rsa");
    let postern_socket = work.subdir("postern", 0o755).join("milter.sock");
    let postern = DkimDaemon::start(
        &work.subdir("postern-run", 0o755),
        &postern_socket,
        &dkim_daemon::config(
            &postern_socket,
            std::slice::from_ref(&key),
            "relaxed/relaxed",
            "",
        ),
    );
    let opendkim_dir = work.subdir("opendkim", 0o755);
    let opendkim_key = opendkim_dir.join("bench.key");
    std::fs::copy(&key.file, &opendkim_key).unwrap();
    let opendkim = OpenDkim::start_signer(
        &opendkim_dir,
        "example.com",
        "bench",
        &opendkim_key,
        "relaxed/relaxed",
    );

    // smtp-sink: Postfix's own fast sink, so delivery costs the same for both milters.
    let sink_port = free_port();
    let mut sink = Command::new("smtp-sink")
        .args(["-u", "postfix", "-c"])
        .arg(format!("127.0.0.1:{sink_port}"))
        .arg("256")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("smtp-sink (package postfix)");
    let smtp_port = free_port();
    let postfix_dir = work.subdir("postfix", 0o755);
    let postfix = Postfix::start(
        &postfix_dir,
        &PostfixSettings {
            smtp_port,
            submission: None,
            relay_port: sink_port,
            smtpd_milters: format!("unix:{}", postern_socket.display()),
            non_smtpd_milters: String::new(),
            mynetworks: "127.0.0.1/32".into(),
            extra_main: vec!["smtpd_client_connection_count_limit = 0".into()],
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

    println!(
        "postern-dkim vs OpenDKIM through one Postfix: {rounds} alternating rounds of {messages} messages \
         ({sample_name}, {} bytes), {sessions} SMTP sessions, RSA-2048, relaxed/relaxed",
        std::fs::metadata(&message_file).unwrap().len()
    );
    let milters = [
        ("postern-dkim", format!("unix:{}", postern_socket.display())),
        ("opendkim", format!("unix:{}", opendkim.socket().display())),
    ];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, (name, milter)) in milters.iter().enumerate() {
            postfix.reconfigure(&[&format!("smtpd_milters={milter}")]);
            std::thread::sleep(Duration::from_secs(1));
            let rate = run_round(&postfix, smtp_port, &message_file, messages, sessions);
            println!("round {}: {name:<12} {rate:>8.1} msg/s", round + 1);
            rates[i].push(rate);
        }
    }
    let postern_median = median(&mut rates[0]);
    let opendkim_median = median(&mut rates[1]);
    println!(
        "median: postern-dkim {postern_median:.1} msg/s, OpenDKIM {opendkim_median:.1} msg/s, ratio {:.2}",
        postern_median / opendkim_median
    );

    // Peak RSS while signing a big message, measured on each milter process.
    let big = corpus::corpus("bench@example.com", big_mb)
        .pop()
        .unwrap()
        .data;
    for (name, milter, pid) in [
        ("postern-dkim", &milters[0].1, postern.pid()),
        ("opendkim", &milters[1].1, opendkim.pid()),
    ] {
        postfix.reconfigure(&[&format!("smtpd_milters={milter}")]);
        std::thread::sleep(Duration::from_secs(1));
        let before = peak_rss_kib(pid);
        submit(
            smtp_port,
            &Submission {
                from: "bench@example.com",
                to: &["bob@example.net"],
                data: &big,
                auth: None,
                source: None,
            },
        )
        .unwrap();
        let after = peak_rss_kib(pid);
        println!(
            "{name}: peak RSS {:.1} MiB after a {} MB message (peak before it {:.1} MiB)",
            after as f64 / 1024.0,
            big.len() / 1_000_000,
            before as f64 / 1024.0
        );
    }
    let _ = sink.kill();
    let _ = sink.wait();
    drop(postfix);
}

/// Sends `messages` with smtp-source and returns messages per second, after the queue drained.
fn run_round(postfix: &Postfix, port: u16, file: &Path, messages: usize, sessions: usize) -> f64 {
    let start = Instant::now();
    let status = Command::new("smtp-source")
        .args(["-s", &sessions.to_string(), "-m", &messages.to_string()])
        .args(["-f", "bench@example.com", "-t", "bob@example.net"])
        .arg("-F")
        .arg(file)
        .arg(format!("127.0.0.1:{port}"))
        .status()
        .unwrap();
    assert!(status.success(), "smtp-source failed");
    let elapsed = start.elapsed();
    postern_tests::bench::wait_for_empty_queue(postfix);
    messages as f64 / elapsed.as_secs_f64()
}
