//! Folders open in this process: one shared index per folder (fifty sessions on one INBOX
//! sync it once), and a change counter that wakes IDLE sessions when another session or an
//! LMTP delivery changed the folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use maildir::{Folder, FolderCache, FolderIndex, IndexOptions, MaildirError};
use tokio::sync::watch;

/// An open folder: its index and cache, and who to wake on change.
#[derive(Debug)]
pub struct OpenFolder {
    pub index: Mutex<FolderIndex>,
    pub cache: Mutex<FolderCache>,
    changed: watch::Sender<u64>,
}

impl OpenFolder {
    /// Wakes the sessions watching this folder.
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

    /// Tells sessions on the folder at `path` that it changed (a delivery, an append).
    pub fn notify(&self, path: &Path) {
        if let Some(open) = self.get(path) {
            open.notify();
        }
    }
}
