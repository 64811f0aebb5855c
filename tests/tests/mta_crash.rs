//! Crash safety of postern-mta's queue: SIGKILL at random moments while 500 pipelined
//! submissions (each to two local users) come in over SMTP; after each restart the queue
//! resumes. Every message that got a 250 must reach both mailboxes, complete, and once: a
//! delivery is recorded only once ("status=sent" in the log, written once the outcome is on
//! disk), and a delivery the kill cut off before its record is resent and recognized by
//! postern-mda as already delivered. Runs postern-mta in front of postern-mda (`tests/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postern_tests::mta_stack::{MtaOptions, MtaStack};
use postern_tests::wait_until;
use postern_tests::workdir::WorkDir;

const MESSAGES: usize = 500;
const CLIENTS: usize = 8;
const KILLS: usize = 3;
const USERS: [&str; 2] = ["alice@example.org", "bob@example.org"];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn body(i: usize) -> String {
    let filler = "0123456789abcdef".repeat(40);
    format!(
        "From: sender@outside.test\r\nTo: alice@example.org, bob@example.org\r\n\
         Subject: crash {i}\r\nMessage-ID: <crash-{i}@test>\r\n\r\n{filler}\r\n.{filler}\r\nEND {i}\r\n"
    )
}

/// Reads one reply (all its lines); `None` when the connection broke.
fn reply(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        text.push_str(&line);
        if line.as_bytes().get(3) == Some(&b' ') {
            return Some(text);
        }
    }
}

/// One client: takes message numbers from `next` and submits each with MAIL, both RCPTs and
/// DATA pipelined, the message after the 354. A broken connection loses only the message in
/// flight (not acknowledged, so not counted); the client reconnects while the MTA is down.
fn client(port: u16, next: &AtomicUsize, acked: &Mutex<Vec<usize>>, deadline: Instant) {
    let mut connection: Option<(TcpStream, BufReader<TcpStream>)> = None;
    loop {
        if Instant::now() > deadline {
            return;
        }
        if connection.is_none() {
            let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let greeted = reply(&mut reader).is_some_and(|r| r.starts_with("220"))
                && writer.write_all(b"EHLO client.test\r\n").is_ok()
                && reply(&mut reader).is_some_and(|r| r.starts_with("250"));
            if !greeted {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            connection = Some((writer, reader));
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= MESSAGES {
            return;
        }
        let Some((writer, reader)) = connection.as_mut() else {
            continue;
        };
        let envelope = "MAIL FROM:<sender@outside.test>\r\nRCPT TO:<alice@example.org>\r\n\
                        RCPT TO:<bob@example.org>\r\nDATA\r\n";
        let mut ok = writer.write_all(envelope.as_bytes()).is_ok();
        for expect in ["250", "250", "250", "354"] {
            ok = ok && reply(reader).is_some_and(|r| r.starts_with(expect));
        }
        ok = ok
            && writer
                .write_all(format!("{}.\r\n", body(i)).as_bytes())
                .is_ok();
        match ok.then(|| reply(reader)).flatten() {
            Some(r) if r.starts_with("250 ") => acked.lock().unwrap().push(i),
            _ => connection = None,
        }
    }
}

/// The named logs of the stack's directory, one after the other.
fn logs_text(work: &WorkDir, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| std::fs::read_to_string(work.path().join(n)).unwrap_or_default())
        .collect()
}

/// Every delivered copy: (user, message number) → the queue ids of its copies.
fn delivered(stack: &MtaStack) -> HashMap<(String, usize), Vec<String>> {
    let mut found: HashMap<(String, usize), Vec<String>> = HashMap::new();
    for user in USERS {
        let folder = stack.maildir(user);
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                let i: usize = text
                    .split("Message-ID: <crash-")
                    .nth(1)
                    .and_then(|rest| rest.split('@').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no Message-ID in {:?}", entry.path()));
                assert!(
                    text.ends_with(&format!("\nEND {i}\n")),
                    "incomplete copy {:?}",
                    entry.path()
                );
                let queue_id = text
                    .split("(Postern) with ESMTP id ")
                    .nth(1)
                    .map(|rest| rest.chars().take(16).collect::<String>())
                    .unwrap_or_default();
                found
                    .entry((user.to_string(), i))
                    .or_default()
                    .push(queue_id);
            }
        }
    }
    found
}

#[test]
fn kill_9_during_pipelined_submissions_loses_nothing_acknowledged_and_delivers_nothing_twice() {
    let work = WorkDir::new("mta-crash");
    let mut stack = MtaStack::start(work.path(), &MtaOptions::default());
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = XorShift(seed);

    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(240);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, acked, port) = (next.clone(), acked.clone(), stack.smtp_port);
            std::thread::spawn(move || client(port, &next, &acked, deadline))
        })
        .collect();
    let mut logs = vec!["mta.log".to_string()];
    for kill in 0..KILLS {
        // Kill at a random point of each third of the stream of submissions (with the
        // deliveries of earlier ones going on behind them).
        let third = MESSAGES / KILLS;
        let at = kill * third + 20 + (rng.next() as usize) % (third - 40);
        assert!(
            wait_until(Duration::from_secs(60), || next.load(Ordering::SeqCst)
                >= at),
            "submissions stalled before {at}"
        );
        std::thread::sleep(Duration::from_micros(rng.next() % 5000));
        stack.kill_mta();
        eprintln!(
            "kill {kill}: SIGKILL at message {}",
            next.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(rng.next() % 300));
        let log = format!("mta-{}.log", kill + 1);
        stack.restart_mta(&log);
        logs.push(log);
    }
    for c in clients {
        c.join().unwrap();
    }
    let acked: HashSet<usize> = acked.lock().unwrap().iter().copied().collect();
    eprintln!("{} of {MESSAGES} submissions acknowledged", acked.len());
    assert!(
        acked.len() > MESSAGES / 2,
        "too few submissions got through"
    );
    assert!(
        wait_until(Duration::from_secs(120), || stack.queue_is_empty()),
        "the queue did not drain:\n{}",
        String::from_utf8_lossy(&stack.command(&["queue", "list"]).stdout)
    );

    let copies = delivered(&stack);
    for &i in &acked {
        for user in USERS {
            assert!(
                copies.contains_key(&(user.to_string(), i)),
                "message {i} got a 250 but never reached {user}"
            );
        }
    }
    // "sent" lines per (queue id, recipient), over every run's log.
    let mut recorded: HashMap<(String, String), usize> = HashMap::new();
    let logs: Vec<&str> = logs.iter().map(String::as_str).collect();
    {
        let text = logs_text(&work, &logs);
        for line in text.lines().filter(|l| l.contains("status=\"sent\"")) {
            let field = |name: &str| {
                line.split(&format!(" {name}="))
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or_default()
                    .to_string()
            };
            *recorded
                .entry((field("queue_id"), field("to")))
                .or_default() += 1;
        }
    }
    for ((queue_id, to), count) in &recorded {
        assert_eq!(
            *count, 1,
            "{queue_id} to {to} was recorded as delivered {count} times"
        );
    }
    // A delivery the kill cut off between the mailbox's 250 and the queue's record is sent
    // again after the restart; postern-mda recognizes the resend (same bytes, same
    // recipient) and does not file a second copy.
    let repeats: Vec<_> = copies.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(
        repeats.is_empty(),
        "delivered more than once: {:?}",
        repeats
            .iter()
            .map(|((u, i), _)| format!("{i} to {u}"))
            .collect::<Vec<_>>()
    );
    let resends: usize = logs_text(&work, &["mda.log"])
        .lines()
        .filter(|l| l.contains("already delivered"))
        .count();
    eprintln!(
        "{} copies delivered, none twice; {resends} resends of deliveries cut off by a kill were recognized by postern-mda",
        copies.values().map(Vec::len).sum::<usize>(),
    );
}
