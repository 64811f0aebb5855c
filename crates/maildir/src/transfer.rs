//! Adding messages to a folder with their UIDs assigned at once, for COPYUID and APPENDUID
//! (RFC 4315): COPY by hard link (a copy where links do not work) and APPEND of a finished
//! file from `tmp/`. Both place the files and write the destination's `dovecot-uidlist`
//! while holding its dotlock, so no sync of another process can give the files other UIDs.
//!
//! Files without flags go to `new/` (the next session that syncs gets them as `\Recent`), files
//! with flags to `cur/` with the `:2,` info, as Dovecot saves them.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::delivery::needs_copy;
use crate::dotlock::Dotlock;
use crate::error::MaildirError;
use crate::flags::{MessageFlags, base_name, file_name_with};
use crate::index::{
    FolderIndex, IndexOptions, IndexedMessage, dir_of, exists, new_uid_validity, write_uidlist,
};
use crate::keywords::{Keywords, MAX_KEYWORDS};
use crate::name::{MessageName, UniqueName};
use crate::store::{Folder, sync_dir};
use crate::uidlist::{Refresh, Uidlist, UidlistFile};

/// The destination's uidlist, locked and read (or a new one if it has none).
struct LockedUidlist {
    lock: Dotlock,
    file: UidlistFile,
    list: Uidlist,
}

impl LockedUidlist {
    fn open(folder: &Folder, options: IndexOptions) -> Result<LockedUidlist, MaildirError> {
        let cur = folder.cur_dir();
        fs::metadata(&cur).map_err(|e| MaildirError::io("stat", &cur, e))?;
        let mut file = UidlistFile::new(folder.path());
        let lock = Dotlock::acquire(&file.path, options.lock_timeout, folder.permissions())?;
        let list = match file.refresh()? {
            Refresh::Changed | Refresh::Unchanged => file.list.clone(),
            Refresh::Missing | Refresh::Corrupt => None,
        }
        .unwrap_or_else(|| Uidlist::new(new_uid_validity(folder)));
        Ok(LockedUidlist { lock, file, list })
    }

    fn add(&mut self, base: &str, folder: &Folder) -> Result<u32, MaildirError> {
        self.list
            .add(base)
            .ok_or_else(|| MaildirError::UidsExhausted {
                path: folder.path().to_path_buf(),
            })
    }

    fn commit(mut self) -> Result<u32, MaildirError> {
        let v = self.list.uid_validity;
        write_uidlist(self.lock, &mut self.file, self.list)?;
        Ok(v)
    }
}

/// Files placed so far, removed again if the whole operation fails.
struct Placed(Vec<PathBuf>);

impl Drop for Placed {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

impl FolderIndex {
    /// Copies messages into `dest` (hard links, a copy with fsync where linking fails), with
    /// each message's flags (keywords mapped by name to `dest`'s, created there if needed) and
    /// internal date, assigning UIDs under `dest`'s uidlist lock. Returns `dest`'s UIDVALIDITY
    /// and the new UIDs in the order of those `uids` this index knows (unknown UIDs are
    /// skipped). If a message's file is gone, nothing is copied: [`MaildirError::Expunged`].
    pub fn copy_to(
        &self,
        uids: &[u32],
        dest: &Folder,
        options: IndexOptions,
    ) -> Result<(u32, Vec<u32>), MaildirError> {
        let mut sources: Vec<(&IndexedMessage, PathBuf)> = Vec::new();
        let mut missing = Vec::new();
        let mut located: Option<HashMap<String, PathBuf>> = None;
        for &uid in uids {
            let Some(m) = self.get(uid) else {
                continue;
            };
            let path = self.message_path(m);
            if exists(&path) {
                sources.push((m, path));
                continue;
            }
            // Renamed by someone else since our last sync: find it by its base name.
            if located.is_none() {
                located = Some(locate_all(&self.folder)?);
            }
            match located
                .as_ref()
                .and_then(|l| l.get(base_name(&m.file_name)))
            {
                Some(p) => sources.push((m, p.clone())),
                None => missing.push(uid),
            }
        }
        if !missing.is_empty() {
            return Err(MaildirError::Expunged { uids: missing });
        }
        let mut locked = LockedUidlist::open(dest, options)?;
        let mut dest_keywords = Keywords::load(dest.path())?;
        let mut keyword_map: [Option<Option<usize>>; MAX_KEYWORDS] = [None; MAX_KEYWORDS];
        let mut placed = Placed(Vec::new());
        let mut new_uids = Vec::with_capacity(sources.len());
        let (mut used_new, mut used_cur) = (false, false);
        for (m, source) in sources {
            let mut flags = m.flags.clone();
            flags.keywords = 0;
            for i in m.flags.keyword_indexes() {
                let Some(slot) = keyword_map.get_mut(i) else {
                    continue;
                };
                let mapped = match slot {
                    Some(mapped) => *mapped,
                    None => {
                        // We hold dest's uidlist lock, which Dovecot requires for this.
                        let mapped = match self.keywords().name(i) {
                            Some(name) => match dest_keywords.index_of(name) {
                                Some(j) => Some(j),
                                None => dest_keywords.create(
                                    name,
                                    options.lock_timeout,
                                    dest.permissions(),
                                )?,
                            },
                            None => None,
                        };
                        *slot = Some(mapped);
                        mapped
                    }
                };
                if let Some(j) = mapped {
                    flags.set_keyword(j, true);
                }
            }
            let base = MessageName {
                base: UniqueName::generate().to_string(),
                size: Some(m.size),
                vsize: m.vsize,
                info: None,
            }
            .to_string();
            let target = target_path(dest, &base, &flags);
            match fs::hard_link(&source, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(MaildirError::Expunged { uids: vec![m.uid] });
                }
                Err(e) if needs_copy(&e) => copy_file(&source, dest, &target)?,
                Err(e) => return Err(MaildirError::io("link", &target, e)),
            }
            placed.0.push(target);
            if flags.letters().is_empty() {
                used_new = true;
            } else {
                used_cur = true;
            }
            new_uids.push(locked.add(&base, dest)?);
        }
        if used_new {
            sync_dir(&dest.new_dir())?;
        }
        if used_cur {
            sync_dir(&dest.cur_dir())?;
        }
        let uid_validity = locked.commit()?;
        placed.0.clear();
        Ok((uid_validity, new_uids))
    }

    /// Adds a complete file (already fsynced, in `dest`'s `tmp/`) to `dest` with `flags`
    /// (keyword indexes of `dest`, see [`folder_keyword_index`](Self::folder_keyword_index))
    /// and `internal_date` (set as the mtime, where Dovecot reads it), assigning its UID now.
    /// A file named by [`Delivery::seal`](crate::Delivery::seal) keeps its name and sizes;
    /// another gets a fresh name with `,S=` and `,W=` (reading it once to count line ends).
    /// Returns `(uidvalidity, uid)`; on failure the file is back at `tmp_path`.
    pub fn append_file(
        dest: &Folder,
        tmp_path: &Path,
        flags: &MessageFlags,
        internal_date: Option<i64>,
        options: IndexOptions,
    ) -> Result<(u32, u32), MaildirError> {
        let size = fs::metadata(tmp_path)
            .map_err(|e| MaildirError::io("stat", tmp_path, e))?
            .size();
        // A name from Delivery::seal (`<unique>,S=<size>,W=<vsize>`) is kept and its W= trusted,
        // as Dovecot trusts it; anything else gets a fresh name and its sizes counted.
        let named = tmp_path
            .file_name()
            .and_then(|n| n.to_str())
            .map(MessageName::parse)
            .filter(|n| n.info.is_none() && n.unique().is_some())
            .filter(|n| n.size.is_none_or(|s| s == size));
        let vsize = match named.as_ref().and_then(|n| n.size.and(n.vsize)) {
            Some(v) => v,
            None => sizes_of(tmp_path)?.1,
        };
        let tmp_name = named.map(|n| n.base);
        if let Some(date) = internal_date {
            let when = if date >= 0 {
                UNIX_EPOCH.checked_add(Duration::from_secs(date.unsigned_abs()))
            } else {
                UNIX_EPOCH.checked_sub(Duration::from_secs(date.unsigned_abs()))
            }
            .unwrap_or(UNIX_EPOCH);
            OpenOptions::new()
                .write(true)
                .open(tmp_path)
                .and_then(|f| f.set_modified(when))
                .map_err(|e| MaildirError::io("utime", tmp_path, e))?;
        }
        let mut locked = LockedUidlist::open(dest, options)?;
        let mut unique = tmp_name.unwrap_or_else(|| UniqueName::generate().to_string());
        let (base, target) = loop {
            let base = MessageName {
                base: unique.clone(),
                size: Some(size),
                vsize: Some(vsize),
                info: None,
            }
            .to_string();
            let target = target_path(dest, &base, flags);
            if !exists(&target) && locked.list.uid_of(&base).is_none() {
                break (base, target);
            }
            unique = UniqueName::generate().to_string();
        };
        fs::rename(tmp_path, &target).map_err(|e| MaildirError::io("rename", &target, e))?;
        let done = sync_dir(dir_of(dest, flags.letters().is_empty()).as_path())
            .and_then(|()| locked.add(&base, dest))
            .and_then(|uid| Ok((locked.commit()?, uid)));
        if done.is_err() {
            let _ = fs::rename(&target, tmp_path);
        }
        done
    }
}

/// Where a new file with `flags` goes: `new/<base>` without flags, else `cur/<base>:2,<flags>`.
fn target_path(dest: &Folder, base: &str, flags: &MessageFlags) -> PathBuf {
    if flags.letters().is_empty() {
        dest.new_dir().join(base)
    } else {
        dest.cur_dir().join(file_name_with(base, flags))
    }
}

/// Every message file of `folder` by base name.
fn locate_all(folder: &Folder) -> Result<HashMap<String, PathBuf>, MaildirError> {
    let mut out = HashMap::new();
    for in_new in [true, false] {
        let dir = dir_of(folder, in_new);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(MaildirError::io("read directory", &dir, e)),
        };
        for entry in entries.flatten() {
            if let Ok(name) = entry.file_name().into_string() {
                out.insert(base_name(&name).to_owned(), entry.path());
            }
        }
    }
    Ok(out)
}

/// A separate copy of `source` at `target`, through `dest`'s `tmp/`, fsynced, with the
/// source's mtime (the internal date).
fn copy_file(source: &Path, dest: &Folder, target: &Path) -> Result<(), MaildirError> {
    let perms = dest.permissions();
    let mut input = File::open(source).map_err(|e| MaildirError::io("open", source, e))?;
    let mtime = input
        .metadata()
        .and_then(|m| m.modified())
        .map_err(|e| MaildirError::io("stat", source, e))?;
    let tmp = dest.tmp_dir().join(UniqueName::generate().to_string());
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(perms.file_mode)
        .open(&tmp)
        .map_err(|e| MaildirError::io("create", &tmp, e))?;
    let written = perms
        .chown_file(&out, &tmp)
        .and_then(|()| {
            io::copy(&mut input, &mut out)
                .and_then(|_| out.set_modified(mtime))
                .and_then(|()| out.sync_data())
                .map_err(|e| MaildirError::io("copy", &tmp, e))
        })
        .and_then(|()| fs::rename(&tmp, target).map_err(|e| MaildirError::io("rename", target, e)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The file's size and its size with CRLF line ends (each bare LF counted as two bytes).
fn sizes_of(path: &Path) -> Result<(u64, u64), MaildirError> {
    let mut file = File::open(path).map_err(|e| MaildirError::io("open", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| MaildirError::io("stat", path, e))?
        .size();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bare_lf = 0u64;
    let mut prev = 0u8;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(MaildirError::io("read", path, e)),
        };
        for &b in buf.get(..n).unwrap_or_default() {
            if b == b'\n' && prev != b'\r' {
                bare_lf += 1;
            }
            prev = b;
        }
    }
    Ok((size, size.saturating_add(bare_lf)))
}
