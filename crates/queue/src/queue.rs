//! The queue directory: opening it (with crash recovery), receiving into it, and loading,
//! updating and removing queued messages.
//!
//! ```text
//! <root>/lock        held (flock) by the one process that has the queue open
//! <root>/tmp/        envelopes being written; emptied at open
//! <root>/data/<id>   message bytes, CRLF, un-dot-stuffed; created O_EXCL at receive
//! <root>/env/<id>    the envelope; its existence means the message is queued
//! <root>/corrupt/    unreadable envelopes (and their data), moved aside at open, never deleted
//! ```
//!
//! The data file is created in `data/` itself, not in `tmp/` and renamed: creating it with
//! `O_EXCL` under its final name is what makes the id unique (against messages being received
//! and messages queued before a restart alike), whereas a rename would silently replace the
//! data of a queued message if an id ever repeated (clock stepped back, a second process).
//! A data file without an envelope is therefore either being received or a leftover, and
//! `open` — which holds the lock, so nothing is being received — removes the leftovers.

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::dirsync::DirSync;
use crate::envelope::{Envelope, NewEnvelope};
use crate::error::QueueError;
use crate::format::{self, FormatError};
use crate::id::{IdGenerator, QueueId};
use crate::incoming::Incoming;

/// Larger envelope files are refused as corrupt (about 50,000 recipients fit).
pub const MAX_ENVELOPE_BYTES: u64 = 16 * 1024 * 1024;
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
/// Ids tried before receive gives up; each collision means an existing `data/<id>`.
const ID_ATTEMPTS: usize = 1000;

/// The durable mail queue under one directory. Cheap to clone (shared); all methods are
/// blocking file I/O and may be called from several threads.
///
/// Only one process may have a queue open: [`open`](Self::open) takes a lock on
/// `<root>/lock`. One delivery worker at a time should own a given message (load, deliver,
/// update or remove); the queue does not lock single messages.
#[derive(Debug, Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    data: PathBuf,
    env: PathBuf,
    pub(crate) data_sync: DirSync,
    pub(crate) env_sync: DirSync,
    ids: IdGenerator,
    tmp_seq: AtomicU64,
    /// Held for the queue's lifetime; the lock goes with the descriptor.
    _lock: File,
}

/// What [`Queue::open`] found and repaired, for the daemon to log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Messages queued (envelope and data present, envelope readable).
    pub queued: usize,
    /// Files removed from `tmp/` (envelopes of commits or updates that did not finish).
    pub tmp_removed: usize,
    /// Data files without an envelope removed (receives that died before their commit).
    pub orphan_data_removed: usize,
    /// Envelopes moved to `corrupt/`.
    pub corrupt: Vec<CorruptEnvelope>,
}

impl Recovery {
    /// How many envelopes were moved aside because their data file was missing.
    pub fn missing_data(&self) -> usize {
        self.corrupt
            .iter()
            .filter(|c| c.reason == CorruptReason::DataMissing)
            .count()
    }
}

/// An envelope moved to `corrupt/` at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptEnvelope {
    /// Its name in `env/`.
    pub name: String,
    /// Why it was moved.
    pub reason: CorruptReason,
    /// Where it is now; its data file, if any, is beside it with `.data` instead of `.env`.
    pub moved_to: PathBuf,
}

/// Why an envelope was moved to `corrupt/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorruptReason {
    /// The file name is not a queue id.
    BadName,
    /// The file cannot be read or parsed (the message says why).
    Unreadable(String),
    /// Its data file is missing.
    DataMissing,
}

impl Queue {
    /// Opens (creating if needed) the queue at `root` and recovers from a crash: empties
    /// `tmp/`, removes data files without an envelope, and moves unreadable envelopes and
    /// envelopes without data to `corrupt/`.
    pub fn open(root: impl AsRef<Path>) -> Result<(Queue, Recovery), QueueError> {
        let root = root.as_ref().to_path_buf();
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&root)
            .map_err(|e| QueueError::io("create directory", &root, e))?;
        let [tmp, data, env, corrupt] = ["tmp", "data", "env", "corrupt"].map(|d| root.join(d));
        for dir in [&tmp, &data, &env, &corrupt] {
            match DirBuilder::new().mode(DIR_MODE).create(dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(QueueError::io("create directory", dir, e));
                }
                _ => {}
            }
        }
        let lock_path = root.join("lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&lock_path)
            .map_err(|e| QueueError::io("open", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(QueueError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => return Err(QueueError::io("lock", lock_path, e)),
        }

        let mut recovery = Recovery {
            tmp_removed: clear_dir(&tmp)?,
            ..Recovery::default()
        };
        let live = check_envelopes(&env, &data, &corrupt, &mut recovery)?;
        recovery.queued = live.len();
        recovery.orphan_data_removed = remove_orphans(&data, &live)?;
        for dir in [&env, &data, &corrupt] {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| QueueError::io("fsync directory", dir, e))?;
        }

        let inner = Inner {
            data_sync: DirSync::open(&data)?,
            env_sync: DirSync::open(&env)?,
            root,
            tmp,
            data,
            env,
            ids: IdGenerator::default(),
            tmp_seq: AtomicU64::new(0),
            _lock: lock,
        };
        Ok((
            Queue {
                inner: Arc::new(inner),
            },
            recovery,
        ))
    }

    /// The queue's directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Starts receiving a message: assigns its id and creates its data file. Refuses an
    /// envelope that could not be stored (no recipients, an empty address, invalid NOTIFY).
    pub fn receive(&self, new: &NewEnvelope) -> Result<Incoming, QueueError> {
        let inner = &self.inner;
        let mut envelope = new.clone().into_envelope(inner.ids.next(SystemTime::now()));
        envelope
            .validate()
            .map_err(|e| QueueError::Invalid(FormatError(e)))?;
        for _ in 0..ID_ATTEMPTS {
            let path = inner.data_path(envelope.id);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&path)
            {
                Ok(file) => return Ok(Incoming::new(Arc::clone(inner), envelope, path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    envelope.id = inner.ids.next(SystemTime::now());
                }
                Err(e) => return Err(QueueError::io("create", path, e)),
            }
        }
        Err(QueueError::io(
            "create",
            inner.data_path(envelope.id),
            io::Error::other("no free queue id"),
        ))
    }

    /// The ids of all queued messages, oldest first.
    pub fn list(&self) -> Result<Vec<QueueId>, QueueError> {
        let dir = &self.inner.env;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| QueueError::io("read directory", dir, e))? {
            let entry = entry.map_err(|e| QueueError::io("read directory", dir, e))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Reads a queued message's envelope.
    pub fn load(&self, id: QueueId) -> Result<Envelope, QueueError> {
        let path = self.inner.env_path(id);
        let text = match read_bounded(&path) {
            Ok(text) => text,
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QueueError::NotFound(id));
            }
            Err(ReadError::Io(e)) => return Err(QueueError::io("read", path, e)),
            Err(ReadError::Format(source)) => return Err(QueueError::Corrupt { path, source }),
        };
        let env = format::parse(&text).map_err(|source| QueueError::Corrupt {
            path: path.clone(),
            source,
        })?;
        if env.id != id {
            return Err(QueueError::Corrupt {
                path,
                source: FormatError(format!("the file holds id {}", env.id)),
            });
        }
        Ok(env)
    }

    /// Opens a queued message's data for reading (to stream it out).
    pub fn open_data(&self, id: QueueId) -> Result<File, QueueError> {
        let path = self.inner.data_path(id);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => QueueError::NotFound(id),
            _ => QueueError::io("open", path, e),
        })
    }

    /// Replaces a queued message's envelope atomically and durably (temporary file, fsync,
    /// rename, directory fsync): after a crash either the old or the new one is there.
    pub fn update(&self, envelope: &Envelope) -> Result<(), QueueError> {
        let inner = &self.inner;
        let text = format::to_text(envelope).map_err(QueueError::Invalid)?;
        let path = inner.env_path(envelope.id);
        // A removed message must not come back as an envelope without data.
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QueueError::NotFound(envelope.id));
            }
            Err(e) => return Err(QueueError::io("stat", path, e)),
            Ok(_) => {}
        }
        let tmp = inner.write_tmp_envelope(envelope.id, &text)?;
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(QueueError::io("rename", path, e));
        }
        inner.env_sync.sync()
    }

    /// Removes a delivered (or given up) message: the envelope first, durably, then the
    /// data, so that a crash in between leaves only a data file that the next open removes.
    pub fn remove(&self, id: QueueId) -> Result<(), QueueError> {
        let inner = &self.inner;
        let env = inner.env_path(id);
        match fs::remove_file(&env) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(QueueError::NotFound(id)),
            Err(e) => return Err(QueueError::io("unlink", env, e)),
            Ok(()) => {}
        }
        inner.env_sync.sync()?;
        let data = inner.data_path(id);
        match fs::remove_file(&data) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(QueueError::io("unlink", data, e)),
            _ => Ok(()),
        }
    }

    /// Directory fsyncs made so far (`data/` and `env/`), to see group commit at work: under
    /// concurrent commits this grows slower than two per commit.
    pub fn directory_fsyncs(&self) -> u64 {
        self.inner.data_sync.fsyncs() + self.inner.env_sync.fsyncs()
    }
}

#[cfg(test)]
impl Queue {
    pub(crate) fn inner_for_tests(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    pub(crate) fn data_path(&self, id: QueueId) -> PathBuf {
        self.data.join(id.to_string())
    }

    pub(crate) fn env_path(&self, id: QueueId) -> PathBuf {
        self.env.join(id.to_string())
    }

    /// Writes and fsyncs `tmp/<id>.<n>`, a name no other writer uses.
    pub(crate) fn write_tmp_envelope(
        &self,
        id: QueueId,
        text: &str,
    ) -> Result<PathBuf, QueueError> {
        let (path, file) = self.create_tmp_envelope(id, text)?;
        if let Err(e) = file.sync_data() {
            let _ = fs::remove_file(&path);
            return Err(QueueError::io("fsync", path, e));
        }
        Ok(path)
    }

    /// Writes an envelope into `tmp/` without syncing it: the caller syncs the file it gets.
    pub(crate) fn create_tmp_envelope(
        &self,
        id: QueueId,
        text: &str,
    ) -> Result<(PathBuf, File), QueueError> {
        let n = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp.join(format!("{id}.{n}"));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()).map(|()| f));
        match written {
            Ok(file) => Ok((path, file)),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(QueueError::io("write", path, e))
            }
        }
    }
}

enum ReadError {
    Io(io::Error),
    Format(FormatError),
}

/// Reads an envelope file, refusing one over [`MAX_ENVELOPE_BYTES`] or not UTF-8.
fn read_bounded(path: &Path) -> Result<String, ReadError> {
    let file = File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_ENVELOPE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_ENVELOPE_BYTES {
        return Err(ReadError::Format(FormatError(format!(
            "larger than {MAX_ENVELOPE_BYTES} bytes"
        ))));
    }
    String::from_utf8(bytes).map_err(|e| ReadError::Format(FormatError(format!("not UTF-8: {e}"))))
}

/// Removes the files in `dir`; returns how many.
fn clear_dir(dir: &Path) -> Result<usize, QueueError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|e| QueueError::io("read directory", dir, e))? {
        let path = entry
            .map_err(|e| QueueError::io("read directory", dir, e))?
            .path();
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            // A directory someone put there is not ours to delete.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
                ) => {}
            Err(e) => return Err(QueueError::io("unlink", path, e)),
        }
    }
    Ok(removed)
}

/// Checks every envelope; moves the bad ones aside. Returns the ids that are queued.
fn check_envelopes(
    env: &Path,
    data: &Path,
    corrupt: &Path,
    recovery: &mut Recovery,
) -> Result<HashSet<QueueId>, QueueError> {
    let mut live = HashSet::new();
    for entry in fs::read_dir(env).map_err(|e| QueueError::io("read directory", env, e))? {
        let entry = entry.map_err(|e| QueueError::io("read directory", env, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name.parse::<QueueId>().ok();
        let reason = match id {
            None => CorruptReason::BadName,
            Some(id) => match read_bounded(&entry.path()) {
                Err(ReadError::Io(e)) => CorruptReason::Unreadable(e.to_string()),
                Err(ReadError::Format(e)) => CorruptReason::Unreadable(e.0),
                Ok(text) => match format::parse(&text) {
                    Err(e) => CorruptReason::Unreadable(e.0),
                    Ok(parsed) if parsed.id != id => {
                        CorruptReason::Unreadable(format!("the file holds id {}", parsed.id))
                    }
                    Ok(_) if !data.join(&name).is_file() => CorruptReason::DataMissing,
                    Ok(_) => {
                        live.insert(id);
                        continue;
                    }
                },
            },
        };
        let moved_to = move_aside(&entry.path(), corrupt, &name, "env")?;
        let data_file = data.join(&name);
        if id.is_some() && data_file.is_file() {
            move_aside(&data_file, corrupt, &name, "data")?;
        }
        recovery.corrupt.push(CorruptEnvelope {
            name,
            reason,
            moved_to,
        });
    }
    Ok(live)
}

/// Moves `from` to `corrupt/<name>.<ext>`, or `.<ext>.<n>` if that is taken: nothing in
/// `corrupt/` is ever replaced.
fn move_aside(from: &Path, corrupt: &Path, name: &str, ext: &str) -> Result<PathBuf, QueueError> {
    let mut n = 0u32;
    loop {
        let to = match n {
            0 => corrupt.join(format!("{name}.{ext}")),
            _ => corrupt.join(format!("{name}.{ext}.{n}")),
        };
        // Only this process has the queue open, so nothing appears between check and rename.
        if fs::symlink_metadata(&to).is_err() {
            fs::rename(from, &to).map_err(|e| QueueError::io("rename", &to, e))?;
            return Ok(to);
        }
        n = n
            .checked_add(1)
            .ok_or_else(|| QueueError::io("rename", from, io::Error::other("corrupt/ is full")))?;
    }
}

/// Removes data files that no queued envelope names; returns how many.
fn remove_orphans(data: &Path, live: &HashSet<QueueId>) -> Result<usize, QueueError> {
    let mut removed = 0;
    for entry in fs::read_dir(data).map_err(|e| QueueError::io("read directory", data, e))? {
        let entry = entry.map_err(|e| QueueError::io("read directory", data, e))?;
        let queued = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<QueueId>().ok())
            .is_some_and(|id| live.contains(&id));
        if queued {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
                ) => {}
            Err(e) => return Err(QueueError::io("unlink", entry.path(), e)),
        }
    }
    Ok(removed)
}
