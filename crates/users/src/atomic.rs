//! Replacing a file safely: an exclusive lock on a side file, then write a temporary file
//! in the same directory, fsync it, rename it over the original, and fsync the directory.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Held while editing; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct EditLock {
    _file: File,
}

/// `<path>.lock`, next to the file.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// `path` with symlinks resolved, so that every editor locks and replaces the same file
/// whichever link it came through; `path` itself if it does not exist yet.
pub(crate) fn resolve(path: &Path) -> io::Result<PathBuf> {
    match fs::canonicalize(path) {
        Ok(target) => Ok(target),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(error) => Err(error),
    }
}

/// Takes the exclusive lock for `path` (resolved), waiting for other editors.
pub(crate) fn lock(path: &Path) -> io::Result<EditLock> {
    let path = resolve(path)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(lock_path(&path))?;
    file.lock()?;
    Ok(EditLock { _file: file })
}

/// Replaces `path` with `contents` atomically, keeping the old file's mode, owner and group
/// (new files get mode 0600). Symlinks are followed: their target is replaced.
pub(crate) fn replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let path = resolve(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);

    let result = write_temp(&temp, &path, contents).and_then(|()| fs::rename(&temp, &path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    File::open(&dir)?.sync_all()
}

fn write_temp(temp: &Path, original: &Path, contents: &[u8]) -> io::Result<()> {
    let old = match fs::metadata(original) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(error),
    };
    let mode = old
        .as_ref()
        .map_or(0o600, |metadata| metadata.mode() & 0o7777);
    // The lock is held, so a leftover temporary file is from a crash: overwrite it.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(temp)?;
    if let Some(old) = &old {
        let new = file.metadata()?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            // Fails unless root (or a group change to one of ours): better an error than a
            // file Dovecot can no longer read.
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))?;
        }
    }
    file.set_permissions(Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()
}
