//! A per-folder cache of data derived from messages (the server's ENVELOPE and BODYSTRUCTURE
//! strings and the like), keyed by UID, in `postern-imap-cache` in the folder's directory.
//!
//! The file is a header (magic, UIDVALIDITY) and records `uid, length, blob, crc32`, all
//! integers little-endian u32. New entries are appended; a later record for a UID replaces an
//! earlier one. Reading stops at the first record that is torn or fails its checksum, so a
//! crash mid-append loses only that record; the file is then rewritten rather than appended
//! to. When most of the file is superseded or dropped records it is compacted into a
//! temporary file renamed over it. Nothing here is authoritative: a lost, truncated, corrupt
//! or foreign-UIDVALIDITY file is an empty cache, rebuilt by use.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::MaildirError;
use crate::store::{Folder, Permissions};
use crate::util::{FastMap, crc32};

/// The cache file's name in a folder's directory.
pub const CACHE_NAME: &str = "postern-imap-cache";

const MAGIC: &[u8; 8] = b"PIMCACH1";
const HEADER_LEN: u64 = 12;
/// uid + length before the blob, crc after it.
const RECORD_OVERHEAD: u64 = 12;
/// Larger blobs are not cached.
pub const MAX_BLOB: usize = 16 << 20;
/// Larger files are not read (treated as an empty cache, and rewritten).
const MAX_FILE: u64 = 1 << 30;
/// Compaction is not worth it below this much garbage.
const MIN_GARBAGE: u64 = 64 * 1024;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
struct Entry {
    blob: Vec<u8>,
    /// Bytes its record takes in the file; 0 while not saved.
    stored: u64,
}

/// Blobs keyed by UID for one folder, tied to its UIDVALIDITY.
#[derive(Debug)]
pub struct FolderCache {
    path: PathBuf,
    perms: Permissions,
    uid_validity: u32,
    entries: FastMap<u32, Entry>,
    unsaved: Vec<u32>,
    /// Length of the valid part of the file as we read or wrote it.
    file_len: u64,
    file_ino: u64,
    /// Bytes of records in the file that no entry uses any more.
    garbage: u64,
    /// The file is missing, foreign or has an invalid tail: the next save rewrites it.
    rewrite: bool,
}

impl FolderCache {
    /// Loads the folder's cache for `uid_validity`; anything unreadable is an empty cache.
    pub fn open(folder: &Folder, uid_validity: u32) -> FolderCache {
        let mut cache = FolderCache {
            path: folder.path().join(CACHE_NAME),
            perms: *folder.permissions(),
            uid_validity,
            entries: FastMap::default(),
            unsaved: Vec::new(),
            file_len: 0,
            file_ino: 0,
            garbage: 0,
            rewrite: true,
        };
        let mut data = Vec::new();
        let Ok(file) = File::open(&cache.path) else {
            return cache;
        };
        let Ok(meta) = file.metadata() else {
            return cache;
        };
        if meta.size() > MAX_FILE || file.take(MAX_FILE).read_to_end(&mut data).is_err() {
            return cache;
        }
        cache.file_ino = meta.ino();
        cache.load(&data);
        cache
    }

    fn load(&mut self, data: &[u8]) {
        let header_ok =
            data.get(..8) == Some(&MAGIC[..]) && read_u32(data, 8) == Some(self.uid_validity);
        if !header_ok {
            return;
        }
        let mut at = HEADER_LEN as usize;
        while let Some((uid, blob, len)) = parse_record(data, at) {
            let entry = Entry {
                blob: blob.to_vec(),
                stored: len as u64,
            };
            if let Some(old) = self.entries.insert(uid, entry) {
                self.garbage += old.stored;
            }
            at += len;
        }
        self.file_len = at as u64;
        self.rewrite = at != data.len();
    }

    /// The blob cached for `uid`.
    pub fn get(&self, uid: u32) -> Option<&[u8]> {
        self.entries.get(&uid).map(|e| e.blob.as_slice())
    }

    /// Caches `blob` for `uid` (replacing what was there); blobs over [`MAX_BLOB`] are not
    /// kept.
    pub fn insert(&mut self, uid: u32, blob: Vec<u8>) {
        if blob.len() > MAX_BLOB {
            return;
        }
        if let Some(old) = self.entries.insert(uid, Entry { blob, stored: 0 }) {
            self.garbage += old.stored;
        }
        self.unsaved.push(uid);
    }

    /// Drops the entries whose UID `keep` rejects (expunged messages).
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        let garbage = &mut self.garbage;
        self.entries.retain(|&uid, e| {
            let k = keep(uid);
            if !k {
                *garbage += e.stored;
            }
            k
        });
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes what changed: appends new entries, or rewrites the file (temporary file and
    /// rename) when it is mostly garbage or its tail is not valid.
    pub fn save(&mut self) -> Result<(), MaildirError> {
        let appendable = !self.rewrite && self.catch_up();
        let live: u64 = self.entries.values().map(|e| e.stored).sum();
        if !appendable || (self.garbage > MIN_GARBAGE && self.garbage > live) {
            return self.compact();
        }
        let mut out = Vec::new();
        let mut unsaved = std::mem::take(&mut self.unsaved);
        unsaved.sort_unstable();
        unsaved.dedup();
        for uid in &unsaved {
            if let Some(e) = self.entries.get_mut(uid)
                && e.stored == 0
            {
                e.stored = push_record(&mut out, *uid, &e.blob);
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| MaildirError::io("open", &self.path, e))?;
        file.write_all(&out)
            .map_err(|e| MaildirError::io("write", &self.path, e))?;
        self.file_len += out.len() as u64;
        Ok(())
    }

    /// Takes in what other processes wrote since we read the file (records they appended, or
    /// the file they compacted). Returns whether the file ends in a valid record, so that our
    /// appends after it will be readable.
    fn catch_up(&mut self) -> bool {
        let Ok(meta) = fs::metadata(&self.path) else {
            return false;
        };
        if meta.ino() == self.file_ino && meta.size() == self.file_len {
            return true;
        }
        if meta.size() > MAX_FILE {
            return false;
        }
        let appended = meta.ino() == self.file_ino && meta.size() > self.file_len;
        let mut data = Vec::new();
        let read = File::open(&self.path).and_then(|mut f| {
            if appended {
                f.seek(SeekFrom::Start(self.file_len))?;
            }
            f.take(MAX_FILE).read_to_end(&mut data)
        });
        if read.is_err() {
            return false;
        }
        let mut at = 0;
        if !appended {
            if data.get(..8) != Some(&MAGIC[..]) || read_u32(&data, 8) != Some(self.uid_validity) {
                return false;
            }
            at = HEADER_LEN as usize;
            // Our saved records are not in their file: save them again.
            for (uid, e) in &mut self.entries {
                if e.stored > 0 {
                    e.stored = 0;
                    self.unsaved.push(*uid);
                }
            }
            self.garbage = 0;
        }
        while let Some((uid, blob, len)) = parse_record(&data, at) {
            match self.entries.get_mut(&uid) {
                // Ours is newer (not saved yet) and will be appended after theirs.
                Some(e) if e.stored == 0 => self.garbage += len as u64,
                Some(e) => {
                    self.garbage += e.stored;
                    *e = Entry {
                        blob: blob.to_vec(),
                        stored: len as u64,
                    };
                }
                None => {
                    self.entries.insert(
                        uid,
                        Entry {
                            blob: blob.to_vec(),
                            stored: len as u64,
                        },
                    );
                }
            }
            at += len;
        }
        if at != data.len() {
            return false;
        }
        self.file_ino = meta.ino();
        self.file_len = if appended {
            self.file_len + at as u64
        } else {
            at as u64
        };
        true
    }

    fn compact(&mut self) -> Result<(), MaildirError> {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.uid_validity.to_le_bytes());
        let mut uids: Vec<u32> = self.entries.keys().copied().collect();
        uids.sort_unstable();
        for uid in uids {
            if let Some(e) = self.entries.get_mut(&uid) {
                e.stored = push_record(&mut out, uid, &e.blob);
            }
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(
            ".tmp.{}.{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(tmp);
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(self.perms.file_mode)
            .open(&tmp)
            .map_err(|e| MaildirError::io("create", &tmp, e))
            .and_then(|mut f| {
                self.perms.chown_file(&f, &tmp)?;
                f.write_all(&out)
                    .and_then(|()| f.metadata())
                    .map_err(|e| MaildirError::io("write", &tmp, e))
            })
            .and_then(|meta| {
                fs::rename(&tmp, &self.path)
                    .map_err(|e| MaildirError::io("rename", &self.path, e))?;
                Ok(meta)
            });
        match written {
            Ok(meta) => {
                self.file_ino = meta.ino();
                self.file_len = out.len() as u64;
                self.garbage = 0;
                self.rewrite = false;
                self.unsaved.clear();
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                for e in self.entries.values_mut() {
                    e.stored = 0;
                }
                Err(e)
            }
        }
    }
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// The record at `at`: `(uid, blob, record length)`, or `None` if torn or corrupt.
fn parse_record(data: &[u8], at: usize) -> Option<(u32, &[u8], usize)> {
    let uid = read_u32(data, at)?;
    let len = usize::try_from(read_u32(data, at + 4)?).ok()?;
    if len > MAX_BLOB {
        return None;
    }
    let blob_start = at.checked_add(8)?;
    let blob_end = blob_start.checked_add(len)?;
    let blob = data.get(blob_start..blob_end)?;
    let crc = read_u32(data, blob_end)?;
    if crc != crc32(data.get(at..blob_end)?) {
        return None;
    }
    Some((uid, blob, len + RECORD_OVERHEAD as usize))
}

/// Appends a record; returns its length.
fn push_record(out: &mut Vec<u8>, uid: u32, blob: &[u8]) -> u64 {
    let start = out.len();
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&u32::try_from(blob.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(blob);
    let crc = crc32(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    (out.len() - start) as u64
}
