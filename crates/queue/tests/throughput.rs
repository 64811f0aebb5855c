//! Throughput micro-check, printed rather than asserted (disks differ): 1,000 commits from one
//! thread, 1,000 from eight (group commit shares directory fsyncs), reopening the full queue,
//! and a load → update pass over it. Alone in its binary so the figures are its own.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use queue::{Queue, RetryPolicy, Timestamp};

mod common;
use common::{TestResult, message, new_envelope};

const N: usize = 1000;

#[test]
fn commits_per_second() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (queue, _) = Queue::open(dir.path())?;
    let msg = message("throughput", 40); // about 800 bytes
    let env = new_envelope("a@example.net", &["b@example.org", "c@example.org"]);

    let fsyncs = queue.directory_fsyncs();
    let started = Instant::now();
    for _ in 0..N {
        let mut incoming = queue.receive(&env)?;
        incoming.write_all(&msg)?;
        incoming.commit()?;
    }
    let one = started.elapsed();
    let one_fsyncs = queue.directory_fsyncs() - fsyncs;

    let threads = 8;
    let queue = Arc::new(queue);
    let fsyncs = queue.directory_fsyncs();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let env = env.clone();
            let msg = msg.clone();
            std::thread::spawn(move || -> Result<(), queue::QueueError> {
                for _ in 0..N / threads {
                    let mut incoming = queue.receive(&env)?;
                    incoming
                        .write_all(&msg)
                        .map_err(|e| queue::QueueError::Io {
                            op: "write",
                            path: Default::default(),
                            source: e,
                        })?;
                    incoming.commit()?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "thread panicked")??;
    }
    let many = started.elapsed();
    let many_fsyncs = queue.directory_fsyncs() - fsyncs;
    drop(queue);

    let started = Instant::now();
    let (queue, recovery) = Queue::open(dir.path())?;
    let open = started.elapsed();
    assert_eq!(recovery.queued, 2 * N);

    let started = Instant::now();
    let policy = RetryPolicy::default();
    for id in queue.list()? {
        let mut env = queue.load(id)?;
        for r in &mut env.recipients {
            r.mark_deferred(Timestamp::now(), "451 4.3.0 later", &policy);
        }
        queue.update(&env)?;
    }
    let update = started.elapsed();

    let rate = |d: std::time::Duration| N as f64 / d.as_secs_f64();
    eprintln!(
        "queue throughput: {N} commits, 1 thread: {:.0}/s ({one_fsyncs} directory fsyncs); \
         {threads} threads: {:.0}/s ({many_fsyncs} directory fsyncs); open with {} queued: \
         {:.0} ms; load+update: {:.0}/s",
        rate(one),
        rate(many),
        2 * N,
        open.as_secs_f64() * 1000.0,
        2.0 * rate(update),
    );
    Ok(())
}
