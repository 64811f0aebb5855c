//! Group commit of a directory's fsync: concurrent commits that each need "my rename in this
//! directory is durable" share one `fsync` instead of queueing one each.
//!
//! Each caller takes a ticket after its rename. A caller whose ticket is not yet covered
//! either waits for the fsync in progress to finish and checks again, or, when none is
//! running, starts one that covers every ticket handed out so far (their renames all happened
//! before it starts). An fsync that fails fails every ticket it was to cover: on Linux a later
//! fsync may report success after writeback of the earlier state was lost, so a retry must
//! not turn an error into a success for a rename the failed call should have covered.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::QueueError;

#[derive(Debug, Default)]
struct State {
    /// Tickets handed out.
    issued: u64,
    /// Every ticket up to this one has been decided by a finished fsync.
    decided: u64,
    /// Ranges `(lo, hi]` of tickets whose fsync failed; fsyncs run one at a time, so each
    /// covers the tickets after the previous one's and the ranges never overlap.
    failures: Vec<(u64, u64)>,
    /// An fsync is running.
    running: bool,
}

/// One directory, opened once, fsynced on behalf of many callers.
#[derive(Debug)]
pub(crate) struct DirSync {
    path: PathBuf,
    dir: File,
    state: Mutex<State>,
    done: Condvar,
    /// fsyncs actually made (for tests and the throughput check).
    fsyncs: AtomicU64,
}

impl DirSync {
    pub(crate) fn open(path: &Path) -> Result<DirSync, QueueError> {
        let dir = File::open(path).map_err(|e| QueueError::io("open directory", path, e))?;
        Ok(DirSync {
            path: path.to_path_buf(),
            dir,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
            fsyncs: AtomicU64::new(0),
        })
    }

    /// Returns once every change made to the directory before the call is durable.
    pub(crate) fn sync(&self) -> Result<(), QueueError> {
        let mut state = self.lock();
        state.issued += 1;
        let ticket = state.issued;
        loop {
            if ticket <= state.decided {
                let failed = state
                    .failures
                    .iter()
                    .any(|&(lo, hi)| lo < ticket && ticket <= hi);
                return if failed {
                    Err(self.error(io::Error::other(
                        "directory fsync failed (reported to a concurrent commit)",
                    )))
                } else {
                    Ok(())
                };
            }
            if state.running {
                state = self
                    .done
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.running = true;
            let from = state.decided;
            let covers = state.issued;
            drop(state);
            let result = self.dir.sync_all();
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            state = self.lock();
            state.running = false;
            state.decided = covers;
            self.done.notify_all();
            if let Err(e) = result {
                state.failures.push((from, covers));
                return Err(self.error(e));
            }
        }
    }

    /// How many fsyncs were made so far.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock, so a panic elsewhere does not poison it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, e: io::Error) -> QueueError {
        QueueError::io("fsync directory", &self.path, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_callers_share_fsyncs() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let sync = Arc::new(DirSync::open(dir.path())?);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let sync = Arc::clone(&sync);
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || -> Result<(), QueueError> {
                    for i in 0..50 {
                        let name = path.join(format!("{t}-{i}"));
                        std::fs::write(&name, b"x")
                            .map_err(|e| QueueError::io("write", name, e))?;
                        sync.sync()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| "thread panicked")??;
        }
        let fsyncs = sync.fsyncs();
        assert!((1..=400).contains(&fsyncs), "{fsyncs}");
        eprintln!("400 syncs took {fsyncs} fsyncs");
        Ok(())
    }
}
