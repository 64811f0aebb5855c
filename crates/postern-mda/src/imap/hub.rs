//! Folders open in this process: one shared index per folder (fifty sessions on one INBOX
//! sync it once), and a change counter that wakes IDLE sessions when another session or an
//! LMTP delivery changed the folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use maildir::{Folder, FolderCache, FolderIndex, IndexOptions, MaildirError, SyncChanges};

/// How stale an open folder's view of the disk may get before a command rescans it. What
/// this process changes is in the index at once; this bounds how late a change made by
/// another process (Dovecot, a sync tool) is seen. Without it, fifty busy sessions on one
/// folder would rescan its directories for every command: each STORE renames a file, and a
/// directory mtime that recent is never trusted.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
use tokio::sync::watch;

/// An open folder: its index and cache, and who to wake on change.
#[derive(Debug)]
pub struct OpenFolder {
    pub index: Mutex<FolderIndex>,
    pub cache: Mutex<FolderCache>,
    changed: watch::Sender<u64>,
    /// Something was written into the folder behind the index (an LMTP delivery, an APPEND,
    /// a COPY into it): the next sync must look.
    written: AtomicBool,
    last_sync: Mutex<Option<Instant>>,
}

impl OpenFolder {
    /// Syncs the index with the disk when something was written behind it or the last
    /// sync is older than [`SYNC_INTERVAL`]; `None` when it was not due. Call with the
    /// index locked.
    pub fn sync(&self, index: &mut FolderIndex) -> Result<Option<SyncChanges>, MaildirError> {
        let written = self.written.swap(false, Ordering::AcqRel);
        let due = self.last_sync.lock().map_or(true, |last| {
            last.is_none_or(|t| t.elapsed() >= SYNC_INTERVAL)
        });
        if !written && !due {
            return Ok(None);
        }
        let changes = index.sync()?;
        if let Ok(mut last) = self.last_sync.lock() {
            *last = Some(Instant::now());
        }
        Ok(Some(changes))
    }

    /// Wakes the sessions watching this folder (the change is in the index already).
    pub fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// The registry of open folders, by directory.
#[derive(Debug, Default)]
pub struct Hub {
    open: Mutex<HashMap<PathBuf, Weak<OpenFolder>>>,
}

impl Hub {
    /// The folder's shared index, opening (and fully syncing) it if no session has it open.
    /// Blocking.
    pub fn open(
        &self,
        folder: &Folder,
        options: IndexOptions,
    ) -> Result<Arc<OpenFolder>, MaildirError> {
        let key = folder.path().to_path_buf();
        if let Some(open) = self.get(&key) {
            return Ok(open);
        }
        let index = FolderIndex::open(folder, options)?;
        let cache = FolderCache::open(folder, index.uid_validity());
        let (changed, _) = watch::channel(0);
        let open = Arc::new(OpenFolder {
            index: Mutex::new(index),
            cache: Mutex::new(cache),
            changed,
            written: AtomicBool::new(false),
            last_sync: Mutex::new(Some(Instant::now())),
        });
        if let Ok(mut map) = self.open.lock() {
            // Another session may have opened it meanwhile: keep the first, drop ours.
            if let Some(existing) = map.get(&key).and_then(Weak::upgrade) {
                return Ok(existing);
            }
            map.retain(|_, weak| weak.strong_count() > 0);
            map.insert(key, Arc::downgrade(&open));
        }
        Ok(open)
    }

    /// The folder if some session has it open.
    pub fn get(&self, path: &Path) -> Option<Arc<OpenFolder>> {
        self.open.lock().ok()?.get(path).and_then(Weak::upgrade)
    }

    /// Tells sessions on the folder at `path` that something was written into it behind its
    /// index (a delivery, an append, a copy): the next sync rescans, IDLE sessions wake.
    pub fn notify(&self, path: &Path) {
        if let Some(open) = self.get(path) {
            open.written.store(true, Ordering::Release);
            open.notify();
        }
    }
}
