//! A 50 MB message streamed in through `Incoming`, out through `open_data`, and bounced:
//! the process's peak memory stays flat, because nothing holds the message. Alone in its
//! test binary so no other test's allocations blur the peak.

use std::io::{Read, Write};
use std::time::Instant;

use queue::{Queue, Timestamp, dsn};

mod common;
use common::{TestResult, new_envelope};

/// Peak resident set size (VmHWM) in KiB.
fn peak_rss_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM".into())
}

const SIZE: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

fn chunk(i: usize) -> Vec<u8> {
    let line = format!("{:0>76}\r\n", i);
    line.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(CHUNK)
        .collect()
}

#[test]
fn a_50_mb_message_streams_through_in_flat_memory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, _) = Queue::open(dir.path())?;
    let before = peak_rss_kib()?;

    let started = Instant::now();
    let mut incoming = queue.receive(&new_envelope("a@example.net", &["b@example.org"]))?;
    incoming.write_all(b"From: a@example.net\r\nSubject: big\r\n\r\n")?;
    let mut sum = 0u64;
    let mut i = 0;
    while (incoming.size() as usize) < SIZE {
        let c = chunk(i);
        sum = c
            .iter()
            .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
        incoming.write_all(&c)?;
        i += 1;
    }
    let size = incoming.size();
    let id = incoming.commit()?;
    let received = started.elapsed();

    let mut data = queue.open_data(id)?;
    let mut buf = vec![0u8; CHUNK];
    let mut header = [0u8; 37];
    data.read_exact(&mut header)?;
    let (mut read, mut check) = (header.len() as u64, 0u64);
    loop {
        let n = data.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        check = buf
            .get(..n)
            .unwrap_or_default()
            .iter()
            .fold(check, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    }
    assert_eq!((read, check), (size, sum));

    let mut env = queue.load(id)?;
    env.expire(Timestamp::now());
    let notice = dsn::failure_notice(
        &env,
        queue.open_data(id)?,
        "mx.example.org",
        Timestamp::now(),
    )?
    .ok_or("a bounce")?;
    assert!(notice.message.len() < 4096);

    let grown = peak_rss_kib()?.saturating_sub(before);
    eprintln!(
        "50 MB message: received and committed in {:.2} s, peak RSS grew by {grown} KiB",
        received.as_secs_f64()
    );
    assert!(grown < 8 * 1024, "peak RSS grew by {grown} KiB");
    Ok(())
}
