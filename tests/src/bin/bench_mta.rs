//! Benchmark: the whole receiving path, side by side in one run on one machine.
//!
//!   smtp-source → postern-mta → LMTP → postern-mda → Maildir
//!   smtp-source → stock Postfix → LMTP → Dovecot's LMTP → Maildir
//!
//! For each concurrency (10 and 100 sessions by default), alternating rounds: throughput
//! (smtp-source sends the messages; the clock stops when the last one is in its Maildir) and
//! the time from the end of DATA to its 250 (our own pipelining client, since smtp-source
//! does not time replies), p50 and p99. Both MTAs fsync the queued message before the 250
//! and both LMTP servers fsync before theirs. Every round is checked by counting files.
//!
//! Run as root with the peers installed: `tests/bench-mta` (options: --messages N
//! --rounds N --latency-messages N --sessions 10,100 --sample NAME --big-mb N). At the end,
//! peak RSS of postern-mta and postern-mda around one message with an N MB attachment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postern_tests::bench::{
    count_messages, median, number_arg, percentile, postfix_for_lmtp, rss_kib, sample_rss, split,
    start_mda, text_arg,
};
use postern_tests::dovecot::Dovecot;
use postern_tests::workdir::WorkDir;
use postern_tests::{corpus, free_port, wait_until};

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const DOMAIN: &str = "example.org";

struct Mta {
    child: Child,
}

impl Drop for Mta {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_postern_mta(dir: &Path, port: u16, lmtp: &Path) -> Mta {
    let d = dir.display();
    // The limits a Postfix benchmark lifts too (smtpd_client_connection_count_limit = 0):
    // all sessions come from 127.0.0.1.
    let config = format!(
        "[daemon]\nlog_level = \"info\"\nmax_connections = 400\nshutdown_timeout = \"2s\"\n\n\
         [mta]\nhostname = \"mx.postern.test\"\nlocal_domains = [\"{DOMAIN}\"]\n\
         mynetworks = [\"127.0.0.1/32\"]\nmax_connections_per_ip = 400\nmax_message_size = \"100M\"\n\
         submit_socket = \"unix:{d}/submit.sock\"\ncontrol_socket = \"unix:{d}/control.sock\"\n\n\
         [lmtp]\ndestination = \"unix:{}\"\n\n\
         [queue]\ndirectory = \"{d}/queue\"\n\n\
         [[listener]]\nname = \"smtp\"\nlisten = [\"127.0.0.1:{port}\"]\ntls = \"none\"\n",
        lmtp.display()
    );
    std::fs::write(dir.join("mta.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("mta.log")).unwrap();
    let child = Command::new(postern_tests::binaries::path("postern-mta"))
        .arg("--config")
        .arg(dir.join("mta.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mta = Mta { child };
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(dir.join("mta.log"))
                .unwrap_or_default()
                .contains("postern-mta ready")
        }),
        "postern-mta did not start: {}",
        std::fs::read_to_string(dir.join("mta.log")).unwrap_or_default()
    );
    mta
}

/// One system under test: where it listens and where its mail lands.
struct System {
    name: &'static str,
    port: u16,
    mail_root: PathBuf,
    /// Messages delivered so far, per user.
    expected: Vec<usize>,
}

impl System {
    fn delivered(&self) -> Vec<usize> {
        USERS
            .iter()
            .map(|u| count_messages(&self.mail_root.join(u).join("Maildir")))
            .collect()
    }

    fn wait_delivered(&self) -> bool {
        wait_until(Duration::from_secs(300), || {
            self.delivered() == self.expected
        })
    }
}

/// Sends `count` messages per user with smtp-source, `sessions` split over the users;
/// returns messages per second until the last one was delivered.
fn throughput(system: &mut System, total: usize, sessions: usize, message: &Path) -> (f64, bool) {
    let per_user = split(total, USERS.len());
    let sessions = split(sessions, USERS.len());
    let start = Instant::now();
    let senders: Vec<Child> = USERS
        .iter()
        .zip(per_user.iter().zip(&sessions))
        .filter(|(_, (n, s))| **n > 0 && **s > 0)
        .map(|(user, (n, s))| {
            Command::new("smtp-source")
                .args(["-s", &s.to_string(), "-m", &n.to_string()])
                .args(["-f", "bench@example.com", "-t", &format!("{user}@{DOMAIN}")])
                .arg("-F")
                .arg(message)
                .arg(format!("127.0.0.1:{}", system.port))
                .spawn()
                .expect("smtp-source (package postfix)")
        })
        .collect();
    for mut sender in senders {
        assert!(sender.wait().unwrap().success(), "smtp-source failed");
    }
    for (e, n) in system.expected.iter_mut().zip(&per_user) {
        *e += n;
    }
    let ok = system.wait_delivered();
    (total as f64 / start.elapsed().as_secs_f64(), ok)
}

/// Reads one SMTP reply; its first line.
fn reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut first = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        if first.is_empty() {
            first = line.clone();
        }
        if line.as_bytes().get(3) == Some(&b' ') {
            return first;
        }
    }
}

/// `sessions` clients, each sending `per_session` messages over one connection with
/// MAIL/RCPT/DATA pipelined; returns the time from the final dot to its 250, in ms.
fn latencies(system: &mut System, sessions: usize, per_session: usize, data: &[u8]) -> Vec<f64> {
    let threads: Vec<_> = (0..sessions)
        .map(|s| {
            let (port, data) = (system.port, data.to_vec());
            let user = USERS[s % USERS.len()];
            std::thread::spawn(move || {
                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                assert!(reply(&mut reader).starts_with("220"));
                writer.write_all(b"EHLO bench.test\r\n").unwrap();
                assert!(reply(&mut reader).starts_with("250"));
                let mut times = Vec::new();
                for _ in 0..per_session {
                    let envelope = format!(
                        "MAIL FROM:<bench@example.com>\r\nRCPT TO:<{user}@{DOMAIN}>\r\nDATA\r\n"
                    );
                    writer.write_all(envelope.as_bytes()).unwrap();
                    for expect in ["250", "250", "354"] {
                        let r = reply(&mut reader);
                        assert!(r.starts_with(expect), "{r}");
                    }
                    writer.write_all(&data).unwrap();
                    let start = Instant::now();
                    writer.write_all(b".\r\n").unwrap();
                    let r = reply(&mut reader);
                    assert!(r.starts_with("250"), "{r}");
                    times.push(start.elapsed().as_secs_f64() * 1000.0);
                }
                let _ = writer.write_all(b"QUIT\r\n");
                (s % USERS.len(), times)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let (user, times) = t.join().unwrap();
        system.expected[user] += times.len();
        all.extend(times);
    }
    all
}

/// The message as smtp-source reads it (LF lines) and as our client sends it (CRLF,
/// dot-stuffed).
fn message_files(work: &WorkDir, sample_name: &str) -> (PathBuf, Vec<u8>, usize) {
    let sample = corpus::corpus("bench@example.com", 0)
        .into_iter()
        .find(|s| s.name == sample_name)
        .unwrap_or_else(|| panic!("no corpus sample {sample_name}"));
    let text = String::from_utf8(sample.data).unwrap();
    let file = work.path().join("message.eml");
    std::fs::write(&file, text.replace("\r\n", "\n")).unwrap();
    let mut crlf = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with('.') {
            crlf.push('.');
        }
        crlf.push_str(line);
    }
    if !crlf.ends_with("\r\n") {
        crlf.push_str("\r\n");
    }
    let size = text.len();
    (file, crlf.into_bytes(), size)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let messages = number_arg(&args, "--messages", 1000);
    let rounds = number_arg(&args, "--rounds", 3);
    let latency_messages = number_arg(&args, "--latency-messages", 1000);
    let levels: Vec<usize> = text_arg(&args, "--sessions", "10,100")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let sample_name = text_arg(&args, "--sample", "multipart-attachments");

    let work = WorkDir::new("bench-mta");
    let addresses: Vec<String> = USERS.iter().map(|u| format!("{u}@{DOMAIN}")).collect();
    let mda_dir = work.subdir("mda", 0o755);
    let mda = start_mda(&mda_dir, &addresses, "info");
    let mta_dir = work.subdir("mta", 0o755);
    let postern_port = free_port();
    let mta = start_postern_mta(&mta_dir, postern_port, &mda_dir.join("lmtp.sock"));

    let dovecot_root = work.subdir("dovecot-mail", 0o755);
    let dovecot_users: Vec<(&str, &str)> =
        addresses.iter().map(|a| (a.as_str(), "secret")).collect();
    let dovecot = Dovecot::start_lmtp(
        &work.subdir("dovecot", 0o755),
        &dovecot_root,
        &dovecot_users,
    );
    let postfix_port = free_port();
    let postfix = postfix_for_lmtp(
        &work.subdir("postfix", 0o755),
        postfix_port,
        DOMAIN,
        &dovecot.lmtp_socket(),
    );

    let (message_file, message_data, size) = message_files(&work, sample_name);
    println!(
        "postern-mta → postern-mda vs Postfix → Dovecot LMTP: {rounds} alternating rounds per \
         concurrency; throughput {messages} messages by smtp-source (a connection per message), \
         latency {latency_messages} messages over persistent pipelining sessions; \
         {sample_name}, {size} bytes, to {} users",
        USERS.len()
    );
    let mut systems = [
        System {
            name: "postern",
            port: postern_port,
            mail_root: mda_dir.join("vmail").join(DOMAIN),
            expected: vec![0; USERS.len()],
        },
        System {
            name: "postfix",
            port: postfix_port,
            mail_root: dovecot_root.join(DOMAIN),
            expected: vec![0; USERS.len()],
        },
    ];
    let mut summary = Vec::new();
    for &sessions in &levels {
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for (i, system) in systems.iter_mut().enumerate() {
                std::thread::sleep(Duration::from_secs(1));
                let (rate, ok) = throughput(system, messages, sessions, &message_file);
                let per_session = latency_messages.div_ceil(sessions).max(1);
                let mut lat = latencies(system, sessions, per_session, &message_data);
                let drained = system.wait_delivered();
                let check = if ok && drained {
                    "all delivered".to_string()
                } else {
                    format!(
                        "MISMATCH: files {:?}, expected {:?}",
                        system.delivered(),
                        system.expected
                    )
                };
                println!(
                    "{sessions:>3} sessions, round {}: {:<8} {rate:>7.1} msg/s  \
                     end-of-data→250 p50 {:>6.1} ms p99 {:>6.1} ms ({check})",
                    round + 1,
                    system.name,
                    percentile(&mut lat, 50.0),
                    percentile(&mut lat, 99.0),
                );
                rates[i].push(rate);
                times[i].extend(lat);
            }
        }
        let [postern_rates, postfix_rates] = &mut rates;
        let (p_rate, f_rate) = (median(postern_rates), median(postfix_rates));
        let [postern_times, postfix_times] = &mut times;
        let (p99_p, p99_f) = (
            percentile(postern_times, 99.0),
            percentile(postfix_times, 99.0),
        );
        summary.push(format!(
            "{sessions:>3} sessions: postern {p_rate:.1} msg/s vs Postfix+Dovecot {f_rate:.1} msg/s \
             (×{:.2}); p99 end-of-data→250 postern {p99_p:.1} ms vs Postfix {p99_f:.1} ms",
            p_rate / f_rate
        ));
    }
    // Memory with message size: one message with a big attachment through postern.
    let big_mb = number_arg(&args, "--big-mb", 50);
    if big_mb > 0 {
        let big = corpus::corpus("bench@example.com", big_mb)
            .into_iter()
            .find(|s| s.name == "big")
            .unwrap();
        let mut stuffed = Vec::with_capacity(big.data.len() + 4096);
        for line in big.data.split_inclusive(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                stuffed.push(b'.');
            }
            stuffed.extend_from_slice(line);
        }
        // VmHWM would still hold the 100-session peak: sample VmRSS while it goes through.
        let before = (rss_kib(mta.child.id()), rss_kib(mda.pid()));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = sample_rss(vec![mta.child.id(), mda.pid()], done.clone());
        let postern = &mut systems[0];
        latencies(postern, 1, 1, &stuffed);
        let delivered = postern.wait_delivered();
        done.store(true, Ordering::SeqCst);
        let peaks = sampler.join().unwrap();
        summary.push(format!(
            "RSS while one {:.0} MB message goes through: postern-mta {:.1} MiB before, at most {:.1} MiB; \
             postern-mda {:.1} MiB before, at most {:.1} MiB{}",
            big.data.len() as f64 / 1e6,
            before.0 as f64 / 1024.0,
            peaks[0] as f64 / 1024.0,
            before.1 as f64 / 1024.0,
            peaks[1] as f64 / 1024.0,
            if delivered { "" } else { " (NOT DELIVERED)" }
        ));
    }
    println!("median throughput, pooled p99:");
    for line in summary {
        println!("  {line}");
    }
    let errors = dovecot
        .log()
        .lines()
        .filter(|l| l.contains("Error") || l.contains("Fatal"))
        .count();
    if errors > 0 {
        println!("dovecot log has {errors} error lines");
    }
    drop(postfix);
}
