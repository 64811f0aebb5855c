//! The queue's error type: disk failures with the step and path, and envelopes that cannot be
//! read or written.

use std::io;
use std::path::PathBuf;

use crate::format::FormatError;
use crate::id::QueueId;

/// Something went wrong with the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A system call failed; `op` says which step, `path` on which file or directory.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The step, e.g. "create", "fsync", "rename".
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process (another postern-mta) has this queue open.
    #[error("queue {} is in use by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// No envelope with this id is queued.
    #[error("{0}: no such message in the queue")]
    NotFound(QueueId),
    /// An envelope file that cannot be read.
    #[error("envelope {}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
    /// An envelope the caller built that cannot be stored (no recipients, invalid NOTIFY…).
    #[error("invalid envelope: {0}")]
    Invalid(FormatError),
    /// A message whose data could not be written completely: an earlier write failed.
    #[error("message {0}: an earlier write failed, the message cannot be committed")]
    WriteFailed(QueueId),
}

impl QueueError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        QueueError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The underlying OS error, if this is one (to tell a full disk, `ENOSPC`, apart for the
    /// SMTP reply).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            QueueError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
