//! Crash recovery: removing files left in `tmp/` by deliveries that never committed.
//!
//! A delivery that dies between `begin` and `commit` leaves only a `tmp/` file (the link into
//! `new/` is the commit point), so removing old `tmp/` files is all the recovery there is.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::MaildirError;
use crate::store::{Folder, MailStore};

/// The age after which Dovecot itself deletes `tmp/` files (36 hours).
pub const DOVECOT_TMP_AGE: Duration = Duration::from_secs(36 * 60 * 60);

/// Removes regular files in `folder`'s `tmp/` whose mtime and ctime are both older than
/// `older_than`; returns how many were removed. A missing `tmp/` counts as empty.
pub fn clean_tmp(folder: &Folder, older_than: Duration) -> Result<usize, MaildirError> {
    // In nanoseconds: with a short age (tests) whole seconds would keep a file up to 1 s more.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let cutoff = i128::try_from(now.saturating_sub(older_than.as_nanos())).unwrap_or(i128::MAX);
    let nanos = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    let dir = folder.tmp_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(MaildirError::io("read directory", &dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| MaildirError::io("read directory", &dir, e))?;
        let path = entry.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(MaildirError::io("stat", &path, e)),
        };
        // A delivery still writing keeps touching mtime; ctime catches a recent link/chown.
        if !meta.is_file()
            || nanos(meta.mtime(), meta.mtime_nsec()) >= cutoff
            || nanos(meta.ctime(), meta.ctime_nsec()) >= cutoff
        {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(MaildirError::io("unlink", &path, e)),
        }
    }
    Ok(removed)
}

impl Folder {
    /// See [`clean_tmp`].
    pub fn clean_tmp(&self, older_than: Duration) -> Result<usize, MaildirError> {
        clean_tmp(self, older_than)
    }
}

impl MailStore {
    /// [`clean_tmp`] for every folder of the store (e.g. at daemon start).
    pub fn clean_all_tmp(&self, older_than: Duration) -> Result<usize, MaildirError> {
        let mut removed = 0;
        for folder in self.folders()? {
            removed += clean_tmp(&folder, older_than)?;
        }
        Ok(removed)
    }
}
