//! A message being received: its data streams into `data/<id>` while DATA arrives, and
//! [`Incoming::commit`] makes it durable before the MTA may answer 250.
//!
//! Commit order, each step finished before the next starts:
//! 1. flush and fsync `data/<id>`;
//! 2. write the envelope to `tmp/<id>.<n>` and fsync it;
//! 3. fsync `data/` so the data file's name is durable;
//! 4. rename the envelope to `env/<id>`: the commit point;
//! 5. fsync `env/`, and only then return the id.
//!
//! A crash before step 4 leaves at most a data file without an envelope and a `tmp/` file,
//! which `Queue::open` removes; after step 4 the message is complete. Steps 3 and 5 go through
//! group commit: concurrent commits share one directory fsync.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::envelope::Envelope;
use crate::error::QueueError;
use crate::format;
use crate::id::QueueId;
use crate::queue::Inner;

/// Enough to make each write(2) worth it without holding much per session.
pub(crate) const WRITE_BUFFER: usize = 64 * 1024;

/// A message being received into the queue. Write the message (CRLF line ends, already
/// un-dot-stuffed) with [`std::io::Write`], then [`commit`](Self::commit). Dropping it without
/// committing removes its files.
///
/// Blocking file I/O: writes mostly land in the buffer and the page cache; call `commit`
/// (which fsyncs) from a blocking context such as `spawn_blocking`.
#[derive(Debug)]
pub struct Incoming {
    queue: Arc<Inner>,
    id: QueueId,
    envelope: Envelope,
    data_path: PathBuf,
    file: Option<BufWriter<File>>,
    size: u64,
    write_failed: bool,
    env_tmp: Option<PathBuf>,
    /// Whether dropping removes the files: until committed.
    cleanup: bool,
}

/// Where a test stops a commit, as if the process died there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitStep {
    EnvelopeWritten,
    DataSynced,
    DataDirSynced,
    Renamed,
    Done,
}

impl Incoming {
    pub(crate) fn new(
        queue: Arc<Inner>,
        envelope: Envelope,
        data_path: PathBuf,
        file: File,
    ) -> Incoming {
        Incoming {
            queue,
            id: envelope.id,
            envelope,
            data_path,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            size: 0,
            write_failed: false,
            env_tmp: None,
            cleanup: true,
        }
    }

    /// The queue id the message will have (for the Received header and the log).
    pub fn id(&self) -> QueueId {
        self.id
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The envelope that will be stored.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Changes the envelope before commit (milters change senders and recipients at the end
    /// of the message). Its `id` is restored at commit.
    pub fn envelope_mut(&mut self) -> &mut Envelope {
        &mut self.envelope
    }

    /// Makes the message durable and queues it: returns once data and envelope are fsynced
    /// and the envelope is in `env/`. On error nothing is queued (answer 4xx).
    pub fn commit(self) -> Result<QueueId, QueueError> {
        self.commit_until(CommitStep::Done)
    }

    pub(crate) fn commit_until(mut self, stop: CommitStep) -> Result<QueueId, QueueError> {
        let id = self.id;
        if self.write_failed {
            return Err(QueueError::WriteFailed(id));
        }
        self.envelope.id = id;
        let text = format::to_text(&self.envelope).map_err(QueueError::Invalid)?;
        let writer = self.file.take().ok_or(QueueError::WriteFailed(id))?;
        let file = writer
            .into_inner()
            .map_err(|e| QueueError::io("write", &self.data_path, e.into_error()))?;
        // Both files are written before either is synced: on a journaling file system the
        // first fsync's commit then carries the other's data too, and the second is cheap.
        let (env_tmp, env_file) = self.queue.create_tmp_envelope(id, &text)?;
        self.env_tmp = Some(env_tmp.clone());
        if stop == CommitStep::EnvelopeWritten {
            drop(file);
            return Ok(self.abandon());
        }
        file.sync_data()
            .map_err(|e| QueueError::io("fsync", &self.data_path, e))?;
        drop(file);
        if stop == CommitStep::DataSynced {
            return Ok(self.abandon());
        }
        env_file
            .sync_data()
            .map_err(|e| QueueError::io("fsync", &env_tmp, e))?;
        drop(env_file);
        self.queue.data_sync.sync()?;
        if stop == CommitStep::DataDirSynced {
            return Ok(self.abandon());
        }

        let env_path = self.queue.env_path(id);
        if let Some(tmp) = &self.env_tmp {
            fs::rename(tmp, &env_path).map_err(|e| QueueError::io("rename", &env_path, e))?;
        }
        self.env_tmp = None;
        if stop == CommitStep::Renamed {
            return Ok(self.abandon());
        }
        if let Err(e) = self.queue.env_sync.sync() {
            // Not known to be durable, so not queued: take it back (the caller answers 4xx)
            // before Drop removes the data.
            let _ = fs::remove_file(&env_path);
            return Err(e);
        }
        self.cleanup = false;
        Ok(id)
    }

    /// Leaves the files as they are, as a crash at this point would (losing what is still
    /// buffered).
    fn abandon(mut self) -> QueueId {
        self.cleanup = false;
        self.discard_buffer();
        self.id
    }

    /// Closes the data file without writing out what is still buffered.
    fn discard_buffer(&mut self) {
        if let Some(writer) = self.file.take() {
            drop(writer.into_parts());
        }
    }

    /// Removes the message's files without queueing it (the same as dropping it, with the
    /// error reported).
    pub fn abort(mut self) -> Result<(), QueueError> {
        self.cleanup = false;
        self.discard_buffer();
        remove_if_exists(self.env_tmp.take())?;
        remove_if_exists(Some(std::mem::take(&mut self.data_path)))
    }
}

/// Lets a test "crash" while the message is still being written.
#[cfg(test)]
pub(crate) fn tests_abandon(incoming: Incoming) {
    incoming.abandon();
}

fn remove_if_exists(path: Option<PathBuf>) -> Result<(), QueueError> {
    let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(QueueError::io("unlink", path, e)),
        _ => Ok(()),
    }
}

impl Write for Incoming {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("message already finished"));
        };
        match file.write(buf) {
            Ok(n) => {
                self.size += n as u64;
                Ok(n)
            }
            Err(e) => {
                // Whatever part of the buffer reached the file is unknown now; committing
                // would risk queueing a message with a hole in it.
                if e.kind() != io::ErrorKind::Interrupted {
                    self.write_failed = true;
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.flush().inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.write_failed = true;
            }
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.cleanup {
            self.discard_buffer();
            // Best effort: Queue::open removes whatever is left.
            let _ = remove_if_exists(self.env_tmp.take());
            let _ = remove_if_exists(Some(std::mem::take(&mut self.data_path)));
        }
    }
}
