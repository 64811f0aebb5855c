//! Dotlocks the way Dovecot takes them on `dovecot-uidlist` and `dovecot-keywords`: the lock
//! is the file `<name>.lock`, created with `O_EXCL`; whoever holds it may write the new content
//! into the lock file and rename it over `<name>`, which replaces the file and releases the lock
//! in one step.
//!
//! A lock whose mtime is older than [`DOTLOCK_STALE_AGE`] is stale and removed, as Dovecot does
//! (`MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT`). The lock file starts with `<pid>:<host>`, which
//! Dovecot reads to break a lock of a dead local process at once; we do the same.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::MaildirError;
use crate::store::Permissions;

/// Age after which a lock file is considered left behind by a crashed process (2 minutes).
pub const DOTLOCK_STALE_AGE: Duration = Duration::from_secs(120);

/// A lock file younger than this is not checked for a dead owner (it was most likely just
/// created and its pid not written yet).
const PID_CHECK_AFTER: Duration = Duration::from_secs(2);

/// Longest sleep between two attempts while waiting.
const MAX_SLEEP: Duration = Duration::from_millis(50);

/// A held dotlock on a file. Dropping it without [`replace`](Self::replace) or
/// [`release`](Self::release) removes the lock file (if it is still ours).
#[derive(Debug)]
pub struct Dotlock {
    target: PathBuf,
    lock_path: PathBuf,
    file: Option<File>,
    dev: u64,
    ino: u64,
}

impl Dotlock {
    /// Takes the lock on `target` (creating `<target>.lock`), waiting up to `timeout` while
    /// someone else holds it, removing it if it is stale.
    pub fn acquire(
        target: &Path,
        timeout: Duration,
        perms: &Permissions,
    ) -> Result<Dotlock, MaildirError> {
        let lock_path = lock_path_of(target);
        let start = Instant::now();
        let mut sleep = Duration::from_millis(1);
        loop {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(perms.file_mode)
                .open(&lock_path)
            {
                Ok(mut file) => {
                    let held = perms.chown_file(&file, &lock_path).and_then(|()| {
                        let owner = format!("{}:{}", std::process::id(), raw_hostname());
                        file.write_all(owner.as_bytes())
                            .and_then(|()| file.metadata())
                            .map_err(|e| MaildirError::io("write", &lock_path, e))
                    });
                    return match held {
                        Ok(meta) => Ok(Dotlock {
                            target: target.to_path_buf(),
                            lock_path,
                            dev: meta.dev(),
                            ino: meta.ino(),
                            file: Some(file),
                        }),
                        Err(e) => {
                            let _ = fs::remove_file(&lock_path);
                            Err(e)
                        }
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if remove_if_stale(&lock_path)? {
                        continue;
                    }
                }
                Err(e) => return Err(MaildirError::io("create", &lock_path, e)),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(MaildirError::LockTimeout {
                    path: lock_path,
                    waited,
                });
            }
            std::thread::sleep(sleep.min(timeout.saturating_sub(waited)));
            sleep = (sleep * 2).min(MAX_SLEEP);
        }
    }

    /// The lock file's path.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// The lock file's inode: the target's after [`replace`](Self::replace).
    pub(crate) fn ino(&self) -> u64 {
        self.ino
    }

    /// The locked file's path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes `contents` into the lock file and renames it over the target, which releases
    /// the lock. With `fsync` the data is on disk before the rename.
    pub fn replace(self, contents: &[u8], fsync: bool) -> Result<(), MaildirError> {
        self.replace_with_mtime(contents, fsync, None)
    }

    /// [`replace`](Self::replace), setting the new file's mtime first (readers that compare
    /// whole seconds need it to move forward).
    pub(crate) fn replace_with_mtime(
        mut self,
        contents: &[u8],
        fsync: bool,
        mtime: Option<SystemTime>,
    ) -> Result<(), MaildirError> {
        let path = self.lock_path.clone();
        let mut file = self
            .file
            .take()
            .ok_or_else(|| MaildirError::io("write", &path, io::Error::other("lock released")))?;
        let written = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.set_len(0))
            .and_then(|()| file.write_all(contents))
            .and_then(|()| mtime.map_or(Ok(()), |t| file.set_modified(t)))
            .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            self.file = Some(file);
            return Err(MaildirError::io("write", &path, e));
        }
        drop(file);
        if !self.still_ours() {
            // Someone judged our lock stale and took over: renaming now would overwrite
            // their work.
            self.ino = 0;
            return Err(MaildirError::io(
                "rename",
                &path,
                io::Error::other("lock was overridden as stale"),
            ));
        }
        fs::rename(&path, &self.target).map_err(|e| MaildirError::io("rename", &self.target, e))?;
        self.ino = 0;
        Ok(())
    }

    /// Removes the lock file without changing the target.
    pub fn release(mut self) -> Result<(), MaildirError> {
        self.file = None;
        self.unlink_if_ours()
    }

    /// Sets the lock file's mtime to now, so a long operation is not judged stale.
    pub fn touch(&self) -> Result<(), MaildirError> {
        if let Some(file) = &self.file {
            file.set_modified(SystemTime::now())
                .map_err(|e| MaildirError::io("utime", &self.lock_path, e))?;
        }
        Ok(())
    }

    fn still_ours(&self) -> bool {
        fs::symlink_metadata(&self.lock_path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    fn unlink_if_ours(&mut self) -> Result<(), MaildirError> {
        if self.ino == 0 || !self.still_ours() {
            return Ok(());
        }
        self.ino = 0;
        match fs::remove_file(&self.lock_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MaildirError::io("unlink", &self.lock_path, e)),
        }
    }
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        self.file = None;
        let _ = self.unlink_if_ours();
    }
}

/// `<target>.lock`.
pub fn lock_path_of(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Removes `lock_path` if it is stale; returns whether the caller should retry at once
/// (removed, or already gone).
fn remove_if_stale(lock_path: &Path) -> Result<bool, MaildirError> {
    let meta = match fs::symlink_metadata(lock_path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(MaildirError::io("stat", lock_path, e)),
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    let stale = age >= DOTLOCK_STALE_AGE || (age >= PID_CHECK_AFTER && owner_is_dead(lock_path));
    if !stale {
        return Ok(false);
    }
    // Only remove the very file we judged: another process may have replaced it meanwhile.
    let same = fs::symlink_metadata(lock_path).is_ok_and(|now| {
        now.ino() == meta.ino() && now.dev() == meta.dev() && now.mtime() == meta.mtime()
    });
    if !same {
        return Ok(true);
    }
    match fs::remove_file(lock_path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(MaildirError::io("unlink", lock_path, e)),
    }
}

/// Whether the lock file names a process on this host that no longer exists.
fn owner_is_dead(lock_path: &Path) -> bool {
    let mut buf = Vec::new();
    let read = File::open(lock_path).and_then(|f| f.take(512).read_to_end(&mut buf));
    if read.is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&buf);
    let Some((pid, host)) = text.trim_end().split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    if pid <= 0 || host != raw_hostname() {
        return false;
    }
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn raw_hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_times_out_until_released() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("dovecot-uidlist");
        let perms = Permissions::default();
        let lock = Dotlock::acquire(&target, Duration::from_secs(1), &perms)?;
        assert!(dir.path().join("dovecot-uidlist.lock").exists());
        let err = Dotlock::acquire(&target, Duration::from_millis(50), &perms);
        assert!(matches!(err, Err(MaildirError::LockTimeout { .. })));
        lock.replace(b"content\n", false)?;
        assert!(!dir.path().join("dovecot-uidlist.lock").exists());
        assert_eq!(fs::read(&target).ok().as_deref(), Some(&b"content\n"[..]));
        let again = Dotlock::acquire(&target, Duration::from_millis(50), &perms)?;
        drop(again);
        assert!(!dir.path().join("dovecot-uidlist.lock").exists());
        Ok(())
    }
}
