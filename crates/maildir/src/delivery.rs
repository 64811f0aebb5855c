//! One message delivered durably into one or more folders: stream into `tmp/`, fsync, link into
//! `new/` under the final name, fsync `new/`, and only then report success.
//!
//! The link into `new/` is the commit point: nothing partial is ever visible in `new/` or
//! `cur/`. `link()` is used rather than `rename()` because it refuses to replace an existing name
//! (the Maildir spec's advice); the `tmp/` name is removed afterwards. A delivered file is never
//! opened again for writing and its times are never set: Dovecot takes IMAP INTERNALDATE from
//! the mtime.
//!
//! The API is blocking; from async code call it inside `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::MaildirError;
use crate::lf::LfConverter;
use crate::name::{MessageName, UniqueName};
use crate::store::{Folder, sync_dir};

const WRITE_BUFFER: usize = 64 * 1024;

/// Options of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Deliver to further folders by hard link when they are on the same filesystem (Dovecot's
    /// `maildir_copy_with_hardlinks`). When off, or when `link()` fails with `EXDEV` or is not
    /// supported, each further folder gets its own copy. Default on.
    pub hardlinks: bool,
    /// Convert CRLF line ends to LF while storing, as Dovecot's LMTP does. Default on.
    pub store_lf: bool,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            hardlinks: true,
            store_lf: true,
        }
    }
}

/// A message delivered into one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The folder's directory.
    pub folder: PathBuf,
    /// Full path of the file in `new/`.
    pub path: PathBuf,
    /// The file name.
    pub name: MessageName,
    /// Bytes stored (`S=`).
    pub size: u64,
    /// Size with CRLF line ends (`W=`, IMAP RFC822.SIZE).
    pub vsize: u64,
    /// Whether this folder got its own copy rather than a hard link.
    pub copied: bool,
}

/// A complete, fsynced message file in a folder's `tmp/` ([`Delivery::seal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Where it is, in `tmp/`.
    pub path: PathBuf,
    /// Its name, with `S=` and `W=`.
    pub name: MessageName,
    pub size: u64,
    pub vsize: u64,
}

/// A message being written into a folder's `tmp/`. Dropping it without
/// [`commit`](Self::commit) removes the temporary file.
#[derive(Debug)]
pub struct Delivery {
    folder: Folder,
    unique: UniqueName,
    tmp_path: PathBuf,
    file: Option<BufWriter<File>>,
    conv: LfConverter,
    raw_size: u64,
    buf: Vec<u8>,
    options: DeliveryOptions,
}

impl Delivery {
    /// Creates `tmp/<unique>` in `folder` (which must exist, see [`Folder::ensure`]).
    pub fn begin(folder: &Folder) -> Result<Delivery, MaildirError> {
        Delivery::begin_with(folder, DeliveryOptions::default())
    }

    /// [`begin`](Self::begin) with options.
    pub fn begin_with(folder: &Folder, options: DeliveryOptions) -> Result<Delivery, MaildirError> {
        let (unique, tmp_path, file) = create_tmp(folder)?;
        Ok(Delivery {
            folder: folder.clone(),
            unique,
            tmp_path,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            conv: LfConverter::new(),
            raw_size: 0,
            buf: Vec::new(),
            options,
        })
    }

    /// Appends a chunk of the message (CRLF line ends; the first chunks are usually the
    /// `Return-Path:` and `Delivered-To:` lines the caller prepends). Chunks may split lines and
    /// CRLF pairs anywhere.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), MaildirError> {
        if self.options.store_lf {
            self.buf.clear();
            self.conv.convert(chunk, &mut self.buf);
            let data = std::mem::take(&mut self.buf);
            let res = self.write_raw(&data);
            self.buf = data;
            res
        } else {
            self.write_raw(chunk)
        }
    }

    /// Appends one header line `name: value` with CRLF (e.g. `Delivered-To`). Refuses CR or LF
    /// in either part, so an envelope address cannot inject header lines.
    pub fn write_header(&mut self, name: &str, value: &str) -> Result<(), MaildirError> {
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            return Err(MaildirError::InvalidHeader {
                name: name.to_owned(),
            });
        }
        self.write(format!("{name}: {value}\r\n").as_bytes())
    }

    fn write_raw(&mut self, data: &[u8]) -> Result<(), MaildirError> {
        let file = self.file.as_mut().ok_or_else(|| closed(&self.tmp_path))?;
        file.write_all(data)
            .map_err(|e| MaildirError::io("write", &self.tmp_path, e))?;
        self.raw_size += data.len() as u64;
        Ok(())
    }

    /// Bytes stored so far (what `S=` will be, up to a held-back final CR).
    pub fn size(&self) -> u64 {
        if self.options.store_lf {
            self.conv.size()
        } else {
            self.raw_size
        }
    }

    /// The temporary file's path.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp_path
    }

    /// Commits into the folder given to `begin`. Returns after the file and `new/` are fsynced.
    pub fn commit(self) -> Result<Delivered, MaildirError> {
        let folder = self.folder.clone();
        let mut results = self.commit_to(std::slice::from_ref(&folder))?;
        results.pop().unwrap_or(Err(MaildirError::NoTarget))
    }

    /// Commits into each of `folders` (the folder given to `begin` need not be among them): the
    /// first by hard link from `tmp/`, the others by hard link too or by copy across
    /// filesystems; each `new/` is fsynced. The outer error is a failure common to all (the
    /// message could not be made durable); the inner results are per folder, in order, for
    /// per-recipient replies.
    pub fn commit_to(
        mut self,
        folders: &[Folder],
    ) -> Result<Vec<Result<Delivered, MaildirError>>, MaildirError> {
        if folders.is_empty() {
            return Err(MaildirError::NoTarget);
        }
        let (size, vsize) = self.finish()?;
        let name = MessageName::new(&self.unique, size, vsize);
        let file_name = name.to_string();
        let mut results = Vec::with_capacity(folders.len());
        let mut linked_once = false;
        for folder in folders {
            let target = folder.new_dir().join(&file_name);
            let linked = if self.options.hardlinks || !linked_once {
                fs::hard_link(&self.tmp_path, &target)
            } else {
                Err(io::Error::from(io::ErrorKind::Unsupported))
            };
            let result = match linked {
                Ok(()) => {
                    linked_once = true;
                    sync_dir(&folder.new_dir()).map(|()| Delivered {
                        folder: folder.path().to_path_buf(),
                        path: target,
                        name: name.clone(),
                        size,
                        vsize,
                        copied: false,
                    })
                }
                Err(e) if needs_copy(&e) => copy_into(&self.tmp_path, folder, size, vsize),
                Err(e) => Err(MaildirError::io("link", &target, e)),
            };
            results.push(result);
        }
        // The messages are delivered: a leftover tmp/ name must not turn that into a failure
        // (the caller would answer 4xx and the sender would deliver twice); clean_tmp gets it.
        let _ = self.remove_tmp();
        Ok(results)
    }

    /// Finishes the file in `tmp/` without delivering it: flushed, fsynced, and renamed to its
    /// final name (`<unique>,S=<size>,W=<vsize>`, still in `tmp/`). For IMAP APPEND, where the
    /// index moves the file into `cur/` with flags and a UID. The caller owns the file now.
    pub fn seal(mut self) -> Result<Sealed, MaildirError> {
        let (size, vsize) = self.finish()?;
        let name = MessageName::new(&self.unique, size, vsize);
        let path = self.folder.tmp_dir().join(name.to_string());
        fs::rename(&self.tmp_path, &path).map_err(|e| MaildirError::io("rename", &path, e))?;
        self.tmp_path = PathBuf::new();
        Ok(Sealed {
            path,
            name,
            size,
            vsize,
        })
    }

    /// Flushes, stores a held-back CR, fsyncs and closes the temporary file.
    fn finish(&mut self) -> Result<(u64, u64), MaildirError> {
        if self.options.store_lf {
            self.buf.clear();
            self.conv.finish(&mut self.buf);
            let tail = std::mem::take(&mut self.buf);
            self.write_raw(&tail)?;
        }
        let writer = self.file.take().ok_or_else(|| closed(&self.tmp_path))?;
        let file = writer
            .into_inner()
            .map_err(|e| MaildirError::io("write", &self.tmp_path, e.into_error()))?;
        file.sync_data()
            .map_err(|e| MaildirError::io("fsync", &self.tmp_path, e))?;
        let size = self.raw_size;
        let vsize = if self.options.store_lf {
            self.conv.vsize()
        } else {
            size
        };
        Ok((size, vsize))
    }

    /// Removes the temporary file without delivering.
    pub fn abort(mut self) -> Result<(), MaildirError> {
        self.file = None;
        self.remove_tmp()
    }

    fn remove_tmp(&mut self) -> Result<(), MaildirError> {
        let path = std::mem::take(&mut self.tmp_path);
        if path.as_os_str().is_empty() {
            return Ok(());
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MaildirError::io("unlink", path, e)),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.file = None;
        // Best effort: clean_tmp removes what is left if this fails.
        let _ = self.remove_tmp();
    }
}

fn closed(path: &Path) -> MaildirError {
    MaildirError::io(
        "write",
        path,
        io::Error::other("delivery already finished after an earlier error"),
    )
}

/// Errors after which a folder gets its own copy instead of a hard link.
pub(crate) fn needs_copy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::CrossesDevices
        || e.kind() == io::ErrorKind::Unsupported
        || e.kind() == io::ErrorKind::PermissionDenied
        || e.kind() == io::ErrorKind::TooManyLinks
}

/// Creates a new exclusive file in `folder/tmp/`, retrying on the (unlikely) name collision.
fn create_tmp(folder: &Folder) -> Result<(UniqueName, PathBuf, File), MaildirError> {
    let perms = folder.permissions();
    let mut attempts = 0;
    loop {
        let unique = UniqueName::generate();
        let path = folder.tmp_dir().join(unique.to_string());
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(perms.file_mode)
            .open(&path)
        {
            Ok(file) => {
                if let Err(e) = perms.chown_file(&file, &path) {
                    let _ = fs::remove_file(&path);
                    return Err(e);
                }
                return Ok((unique, path, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 5 => attempts += 1,
            Err(e) => return Err(MaildirError::io("create", &path, e)),
        }
    }
}

/// Delivers a separate copy of `source` into `folder` (same `S=`/`W=`, its own unique name).
fn copy_into(
    source: &Path,
    folder: &Folder,
    size: u64,
    vsize: u64,
) -> Result<Delivered, MaildirError> {
    let (unique, tmp_path, mut file) = create_tmp(folder)?;
    let mut guard = TmpGuard {
        path: &tmp_path,
        armed: true,
    };
    let mut input = File::open(source).map_err(|e| MaildirError::io("open", source, e))?;
    io::copy(&mut input, &mut file).map_err(|e| MaildirError::io("copy", &tmp_path, e))?;
    file.sync_data()
        .map_err(|e| MaildirError::io("fsync", &tmp_path, e))?;
    drop(file);
    let name = MessageName::new(&unique, size, vsize);
    let target = folder.new_dir().join(name.to_string());
    // A fresh unique name in the same folder: rename cannot replace anything here.
    fs::rename(&tmp_path, &target).map_err(|e| MaildirError::io("rename", &target, e))?;
    guard.armed = false;
    sync_dir(&folder.new_dir())?;
    Ok(Delivered {
        folder: folder.path().to_path_buf(),
        path: target,
        name,
        size,
        vsize,
        copied: true,
    })
}

/// Removes a temporary copy on an early return.
struct TmpGuard<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for TmpGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(self.path);
        }
    }
}
