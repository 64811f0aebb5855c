//! kill -9 while several threads receive, update and remove messages, again and again on the
//! same queue: after each kill, `open` finds every message either fully queued (envelope and
//! complete data) or absent, every acknowledged commit present, every acknowledged removal
//! gone, and nothing left in `tmp/` or `data/` without an envelope.
//!
//! The child is this test binary itself, running the ignored `child_works_until_killed` test
//! with the queue directory in `QUEUE_KILL_CHILD`.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use queue::{Queue, QueueId, RetryPolicy, Timestamp};

mod common;
use common::{TestResult, names, new_envelope};

const CHILD_ENV: &str = "QUEUE_KILL_CHILD";
const THREADS: usize = 4;

/// xorshift64*: enough randomness for sizes and choices, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded(extra: u64) -> Rng {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Rng((t ^ extra.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A message that says how long its body is and what it hashes to.
fn checked_message(rng: &mut Rng) -> Vec<u8> {
    let len = (rng.next() % 300_000) as usize;
    let seed = rng.next();
    let body: Vec<u8> = (0..len)
        .map(|i| {
            let c = b'a' + ((seed >> (i % 50)) as u8 ^ i as u8) % 26;
            if i % 70 == 69 { b'\n' } else { c }
        })
        .collect();
    let mut m = format!("X-Check: {} {:016x}\r\n\r\n", body.len(), fnv(&body)).into_bytes();
    m.extend_from_slice(&body);
    m
}

fn verify(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data.get(..60).unwrap_or(data));
    let line = text.lines().next().unwrap_or_default();
    let mut words = line
        .strip_prefix("X-Check: ")
        .ok_or("no check line")?
        .split(' ');
    let len: usize = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or("no length")?;
    let sum = words.next().ok_or("no sum")?;
    let header_len = line.len() + 4;
    let body = data.get(header_len..).ok_or("truncated")?;
    if body.len() != len || format!("{:016x}", fnv(body)) != sum {
        return Err(format!("body {} bytes, wanted {len}", body.len()));
    }
    Ok(())
}

/// Appends one line to the log; a kill -9 does not lose what write(2) returned for.
fn log(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

#[test]
#[ignore = "run by kill_9_never_leaves_a_partial_message as its child"]
fn child_works_until_killed() -> TestResult {
    let Some(root) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return Ok(());
    };
    let (queue, _) = Queue::open(&root)?;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let queue = queue.clone();
            let log_path = root.with_extension(format!("log{t}"));
            std::thread::spawn(move || -> Result<(), String> {
                let mut rng = Rng::seeded(t as u64 + 1);
                let policy = RetryPolicy::default();
                let mut mine: Vec<QueueId> = Vec::new();
                loop {
                    let msg = checked_message(&mut rng);
                    let env = new_envelope("a@example.net", &["b@example.org", "c@example.org"]);
                    let mut incoming = queue.receive(&env).map_err(|e| e.to_string())?;
                    for chunk in msg.chunks(1 + (rng.next() % 70_000) as usize) {
                        incoming.write_all(chunk).map_err(|e| e.to_string())?;
                    }
                    let id = incoming.commit().map_err(|e| e.to_string())?;
                    log(&log_path, &format!("C {id}")).map_err(|e| e.to_string())?;
                    mine.push(id);
                    match rng.next() % 4 {
                        0 if !mine.is_empty() => {
                            let id = mine.swap_remove((rng.next() as usize) % mine.len());
                            // Logged first: a kill during remove may or may not remove it.
                            log(&log_path, &format!("X {id}")).map_err(|e| e.to_string())?;
                            queue.remove(id).map_err(|e| e.to_string())?;
                            log(&log_path, &format!("R {id}")).map_err(|e| e.to_string())?;
                        }
                        1 => {
                            let mut env = queue.load(id).map_err(|e| e.to_string())?;
                            for r in &mut env.recipients {
                                r.mark_deferred(Timestamp::now(), "451 4.3.0 later", &policy);
                            }
                            queue.update(&env).map_err(|e| e.to_string())?;
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")??;
    }
    Ok(())
}

#[test]
fn kill_9_never_leaves_a_partial_message() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("queue");
    let exe = std::env::current_exe()?;
    let mut rng = Rng::seeded(99);
    let mut acked: HashSet<String> = HashSet::new();
    let mut removing: HashSet<String> = HashSet::new();
    let mut removed: HashSet<String> = HashSet::new();
    for cycle in 0..8 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_works_until_killed",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Let it get going (the log appears with its first commit), then kill at a random
        // moment.
        let started = Instant::now();
        while !(0..THREADS).any(|t| root.with_extension(format!("log{t}")).exists())
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = 20 + rng.next() % 300;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill()?;
        child.wait()?;

        for t in 0..THREADS {
            let path = root.with_extension(format!("log{t}"));
            let mut text = String::new();
            if let Ok(mut f) = fs::File::open(&path) {
                f.read_to_string(&mut text)?;
            }
            for line in text.lines() {
                match line.split_once(' ') {
                    Some(("C", id)) => {
                        acked.insert(id.to_string());
                    }
                    Some(("X", id)) => {
                        removing.insert(id.to_string());
                    }
                    Some(("R", id)) => {
                        removed.insert(id.to_string());
                    }
                    _ => {}
                }
            }
        }

        let (queue, recovery) = Queue::open(&root)?;
        assert!(
            recovery.corrupt.is_empty(),
            "cycle {cycle}: {:?}",
            recovery.corrupt
        );
        assert!(names(&root.join("tmp")).is_empty());
        let queued: Vec<String> = queue.list()?.iter().map(ToString::to_string).collect();
        assert_eq!(names(&root.join("data")), names(&root.join("env")));
        for id in &queued {
            let mut data = Vec::new();
            queue.open_data(id.parse()?)?.read_to_end(&mut data)?;
            verify(&data).map_err(|e| format!("cycle {cycle}, {id}: {e}"))?;
            queue.load(id.parse()?)?;
            assert!(!removed.contains(id), "cycle {cycle}: {id} was removed");
        }
        let queued: HashSet<String> = queued.into_iter().collect();
        for id in acked.difference(&removing) {
            assert!(queued.contains(id), "cycle {cycle}: acknowledged {id} lost");
        }
        eprintln!(
            "cycle {cycle}: SIGKILL after {delay} ms; {} queued, {} commits and {} removals \
             acknowledged so far; open removed {} tmp and {} orphan data files",
            queued.len(),
            acked.len(),
            removed.len(),
            recovery.tmp_removed,
            recovery.orphan_data_removed,
        );
    }
    assert!(acked.len() > 8, "the children committed something");
    Ok(())
}
