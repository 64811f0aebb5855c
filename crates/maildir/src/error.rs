//! The error types: disk failures with the path they happened on, and invalid folder names.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Something went wrong on disk or with a name the caller gave.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaildirError {
    /// A system call failed; `op` says which step, `path` on which file or directory.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The step that failed, e.g. "create", "fsync", "link".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A mailbox name that cannot be stored in the chosen layout.
    #[error("invalid mailbox name {name:?}: {reason}")]
    InvalidName {
        /// The name as the caller gave it.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A header line to prepend would contain CR or LF (header injection).
    #[error("header {name:?} contains a line break")]
    InvalidHeader {
        /// The header's name.
        name: String,
    },
    /// A delivery was given no target folder.
    #[error("delivery has no target folder")]
    NoTarget,
    /// A dotlock (`dovecot-uidlist.lock`, `dovecot-keywords.lock`) or the IMAP state lock was
    /// held by someone else for longer than the lock timeout.
    #[error("timed out after {waited:?} waiting for lock {}", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// A keyword name that is not an IMAP atom, so cannot be stored in `dovecot-keywords`.
    #[error("invalid keyword {name:?}")]
    InvalidKeyword {
        /// The name as the caller gave it.
        name: String,
    },
    /// Messages to copy were expunged (their files are gone) meanwhile; nothing was copied.
    #[error("messages no longer exist: {uids:?}")]
    Expunged {
        /// The UIDs whose files are gone.
        uids: Vec<u32>,
    },
    /// The folder's UIDVALIDITY changed under an open index (its `dovecot-uidlist` was
    /// recreated): every UID this index gave out is void; reopen the folder.
    #[error("UIDVALIDITY changed from {old} to {new}")]
    UidValidityChanged {
        /// The UIDVALIDITY the index was opened with.
        old: u32,
        /// The one on disk now.
        new: u32,
    },
    /// The folder has used up the UID space (2^32 - 1); it needs a new UIDVALIDITY.
    #[error("no UIDs left in {}", path.display())]
    UidsExhausted {
        /// The folder's directory.
        path: PathBuf,
    },
    /// A state file could not be parsed.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl MaildirError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        MaildirError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The underlying OS error, if this is one (e.g. to tell ENOSPC/EDQUOT apart for the reply).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            MaildirError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A string that is not valid IMAP modified UTF-7 (RFC 3501 §5.1.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Utf7Error {
    /// A byte outside printable US-ASCII appeared literally.
    #[error("byte 0x{byte:02x} at {at} is not printable US-ASCII")]
    NotPrintable {
        /// The offending byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// A `&` shift was never closed with `-`.
    #[error("unterminated base64 section starting at {at}")]
    Unterminated {
        /// Offset of the `&`.
        at: usize,
    },
    /// A base64 section holds an invalid character, leftover bits, or an odd byte count.
    #[error("malformed base64 section starting at {at}")]
    BadBase64 {
        /// Offset of the `&`.
        at: usize,
    },
    /// The UTF-16 inside a base64 section is not valid (lone surrogate).
    #[error("invalid UTF-16 in section starting at {at}")]
    BadUtf16 {
        /// Offset of the `&`.
        at: usize,
    },
    /// A base64 section encodes characters that must be written literally, or two sections
    /// are adjacent; both are forbidden so that every name has exactly one encoding.
    #[error("non-canonical encoding in section starting at {at}")]
    NotCanonical {
        /// Offset of the `&`.
        at: usize,
    },
}
