//! One folder as an IMAP server sees it: UIDs from `dovecot-uidlist`, flags from file names,
//! keywords from `dovecot-keywords`, modseqs from our own state file, kept in step with a
//! Maildir that Dovecot, our LMTP delivery and other sessions change at the same time.
//!
//! A sync stats `new/`, `cur/` and `dovecot-uidlist` first and stops there if none changed
//! (and their mtimes are old enough to be trusted: file times come from a coarse clock). Else
//! it reads each directory once, re-reads the uidlist (only the appended lines when Dovecot
//! appended), matches files to records by base name, gives new files UIDs under the uidlist
//! dotlock in arrival order, and moves `new/` files to `cur/` unless read-only, as Dovecot
//! does. File sizes come from `,S=`/`,W=`; a file is `stat`ed only when it lacks `S=` or when
//! its internal date (mtime) is not yet in the state file.

use std::collections::hash_map::Entry;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dotlock::Dotlock;
use crate::error::MaildirError;
use crate::flags::{MessageFlags, base_name};
use crate::keywords::Keywords;
use crate::modseq::{ModseqState, Update};
use crate::name::{MessageName, UniqueName};
use crate::store::Folder;
use crate::uidlist::{Refresh, Uidlist, UidlistFile};
use crate::util::{FastMap, FastSet, FastState, FileStamp, now_ns, now_secs};

/// How an index works with the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOptions {
    /// EXAMINE: leave `new/` files where they are and claim no `\Recent`. New files still get
    /// UIDs (written to `dovecot-uidlist`), as Dovecot does for read-only sessions.
    pub read_only: bool,
    /// How long to wait for a lock someone else holds before failing with
    /// [`MaildirError::LockTimeout`]. Default 10 s.
    pub lock_timeout: Duration,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            read_only: false,
            lock_timeout: Duration::from_secs(10),
        }
    }
}

/// One message of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedMessage {
    /// Its IMAP UID.
    pub uid: u32,
    /// The file's current name (in `new/` or `cur/`).
    pub file_name: String,
    /// Whether the file is in `new/` (read-only sessions leave it there).
    pub in_new: bool,
    /// Flags from the file name.
    pub flags: MessageFlags,
    /// Bytes on disk (`S=`, else the uidlist's `S`, else `stat`).
    pub size: u64,
    /// Size with CRLF line ends (`W=` or the uidlist's `W`): IMAP RFC822.SIZE.
    pub vsize: Option<u64>,
    /// The file's mtime in unix seconds: Dovecot's received date, IMAP INTERNALDATE.
    pub internal_date: i64,
    /// CONDSTORE mod-sequence of its last change.
    pub mod_seq: u64,
    /// `\Recent`: this index's sync found it in `new/` and moved it to `cur/`.
    pub recent: bool,
}

/// What a sync found changed since the previous one, by UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// New messages, ascending.
    pub added: Vec<u32>,
    /// Messages gone (expunged by someone else), ascending.
    pub expunged: Vec<u32>,
    /// Messages whose flags or modseq changed, ascending.
    pub flags_changed: Vec<u32>,
}

impl SyncChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.expunged.is_empty() && self.flags_changed.is_empty()
    }

    /// Folds a later set of changes into this one: a message added and expunged before
    /// anyone was told disappears from both lists.
    pub(crate) fn merge(&mut self, later: SyncChanges) {
        let gone: FastSet<u32> = later.expunged.iter().copied().collect();
        let was_added: FastSet<u32> = self.added.iter().copied().collect();
        self.added.retain(|u| !gone.contains(u));
        self.flags_changed.retain(|u| !gone.contains(u));
        self.added.extend(later.added);
        self.expunged.extend(
            later
                .expunged
                .into_iter()
                .filter(|u| !was_added.contains(u)),
        );
        self.flags_changed.extend(later.flags_changed);
        let added: FastSet<u32> = self.added.iter().copied().collect();
        self.flags_changed.retain(|u| !added.contains(u));
        for list in [&mut self.added, &mut self.expunged, &mut self.flags_changed] {
            list.sort_unstable();
            list.dedup();
        }
    }
}

/// STATUS figures of a folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderStatus {
    /// MESSAGES.
    pub messages: u32,
    /// UNSEEN: messages without `\Seen`.
    pub unseen: u32,
    /// DELETED (RFC 9051): messages with `\Deleted`.
    pub deleted: u32,
    /// RECENT: messages in `new/`.
    pub recent: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// SIZE (RFC 8438): the sum of RFC822.SIZE (vsize, else size).
    pub size: u64,
    /// HIGHESTMODSEQ.
    pub highest_mod_seq: u64,
}

/// Change stamps of what a sync looks at first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamps {
    new: Option<FileStamp>,
    cur: Option<FileStamp>,
    uidlist: Option<FileStamp>,
}

/// A file found by a directory scan.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    in_new: bool,
}

/// What a directory scan found.
#[derive(Debug)]
struct Scan {
    /// Files whose base name the uidlist knows, by UID.
    known: FastMap<u32, Seen>,
    /// Files it does not know (yet), by base name.
    unknown: FastMap<String, Seen>,
}

/// Two files with one base name: a `cur/` one wins over a `new/` one (a move seen halfway),
/// a second one in `cur/` is a duplicate.
fn keep_one(old: &mut Seen, name: String, in_new: bool, duplicates: &mut Vec<String>) {
    if old.in_new && !in_new {
        *old = Seen { name, in_new };
    } else if !old.in_new && !in_new && old.name != name {
        duplicates.push(name);
    }
}

/// One folder's UIDs, flags and modseqs, as this process last synced them.
#[derive(Debug)]
pub struct FolderIndex {
    pub(crate) folder: Folder,
    pub(crate) options: IndexOptions,
    uid_validity: u32,
    pub(crate) messages: Vec<IndexedMessage>,
    uidlist: UidlistFile,
    keywords: Keywords,
    pub(crate) state: ModseqState,
    pub(crate) highest: u64,
    /// Stamps of the last full scan, when they can be trusted to show the next change.
    trusted: Option<Stamps>,
    /// Changes found by syncs the caller has not seen yet (inside set_flags, expunge).
    pub(crate) pending: SyncChanges,
}

impl FolderIndex {
    /// Opens the folder (which must exist): creates `dovecot-uidlist` if missing and syncs.
    pub fn open(folder: &Folder, options: IndexOptions) -> Result<FolderIndex, MaildirError> {
        let cur = folder.cur_dir();
        fs::metadata(&cur).map_err(|e| MaildirError::io("stat", &cur, e))?;
        let mut uidlist = UidlistFile::new(folder.path());
        let uid_validity = match uidlist.refresh()? {
            Refresh::Changed | Refresh::Unchanged => {
                uidlist.list.as_ref().map_or(0, |l| l.uid_validity)
            }
            Refresh::Missing | Refresh::Corrupt => create_uidlist(folder, &mut uidlist, options)?,
        };
        let state = ModseqState::load(folder.path(), uid_validity)?;
        let keywords = Keywords::load(folder.path())?;
        let mut index = FolderIndex {
            folder: folder.clone(),
            options,
            uid_validity,
            messages: Vec::new(),
            uidlist,
            keywords,
            highest: state.floor(),
            state,
            trusted: None,
            pending: SyncChanges::default(),
        };
        index.sync_full()?;
        index.pending = SyncChanges::default();
        Ok(index)
    }

    /// Brings the index up to date with the folder and returns what changed. Cheap when
    /// nothing did: three `stat`s.
    pub fn sync(&mut self) -> Result<SyncChanges, MaildirError> {
        let stamps = self.stamps()?;
        if self.trusted == Some(stamps) {
            self.keywords.refresh()?;
            return Ok(std::mem::take(&mut self.pending));
        }
        let changes = self.sync_full()?;
        let mut out = std::mem::take(&mut self.pending);
        out.merge(changes);
        Ok(out)
    }

    /// The folder.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    /// UIDVALIDITY.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// UIDNEXT: the UID the next new message will get.
    pub fn next_uid(&self) -> u32 {
        self.uidlist.list.as_ref().map_or(1, |l| l.next_uid)
    }

    /// HIGHESTMODSEQ of what this index has applied.
    pub fn highest_mod_seq(&self) -> u64 {
        self.highest
    }

    /// The messages, ascending by UID.
    pub fn messages(&self) -> &[IndexedMessage] {
        &self.messages
    }

    /// The message with `uid`.
    pub fn get(&self, uid: u32) -> Option<&IndexedMessage> {
        self.position(uid).and_then(|i| self.messages.get(i))
    }

    pub(crate) fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// The path of the message's file, as last synced.
    pub fn path_of(&self, uid: u32) -> Option<PathBuf> {
        self.get(uid).map(|m| self.message_path(m))
    }

    pub(crate) fn message_path(&self, m: &IndexedMessage) -> PathBuf {
        dir_of(&self.folder, m.in_new).join(&m.file_name)
    }

    /// Keyword names by index (an empty string is an unassigned index).
    pub fn keyword_names(&self) -> &[String] {
        self.keywords.names()
    }

    /// The index of keyword `name` (case-insensitive). With `create`, a new keyword is
    /// assigned the first free index and written to `dovecot-keywords`; `Ok(None)` when all
    /// 26 are taken (or, without `create`, when it does not exist).
    pub fn keyword_index(
        &mut self,
        name: &str,
        create: bool,
    ) -> Result<Option<usize>, MaildirError> {
        self.keywords.refresh()?;
        if let Some(i) = self.keywords.index_of(name) {
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        crate::session::create_keyword(&self.folder, &mut self.keywords, name, self.options)
    }

    /// QRESYNC: UIDs expunged with a modseq above `since`, as far as the state remembers;
    /// `None` when it does not reach back that far (state lost, or older than what is kept).
    pub fn expunged_since(&self, since: u64) -> Option<Vec<u32>> {
        self.state.expunged_since(since)
    }

    fn stamps(&self) -> Result<Stamps, MaildirError> {
        Ok(Stamps {
            new: FileStamp::read(&self.folder.new_dir())?,
            cur: FileStamp::read(&self.folder.cur_dir())?,
            uidlist: FileStamp::read(&self.uidlist.path)?,
        })
    }

    /// A full sync; returns its changes (not the pending ones).
    fn sync_full(&mut self) -> Result<SyncChanges, MaildirError> {
        let stamps = self.stamps()?;
        let scan_started = now_ns();
        self.keywords.refresh()?;
        self.refresh_uidlist()?;
        let mut scan = self.scan()?;
        let vanished = |scan: &Scan, messages: &[IndexedMessage]| {
            messages
                .iter()
                .filter(|m| !scan.known.contains_key(&m.uid))
                .map(|m| m.uid)
                .collect::<FastSet<u32>>()
        };
        let mut gone = vanished(&scan, &self.messages);
        if !gone.is_empty() {
            // A file renamed while readdir ran may be missed; a second look confirms.
            let again = self.scan()?;
            scan.known.extend(again.known);
            scan.unknown.extend(again.unknown);
            gone = vanished(&scan, &self.messages);
        }
        if !scan.unknown.is_empty() {
            self.assign_uids(&mut scan, &gone)?;
        }
        let moved = if self.options.read_only {
            FastSet::default()
        } else {
            self.move_new_to_cur(&mut scan.known)
        };
        let (changes, rescan) = self.rebuild(scan.known, &moved)?;
        let trustworthy = [stamps.new, stamps.cur, stamps.uidlist]
            .iter()
            .all(|s| s.is_none_or(|s| !s.is_recent(scan_started)));
        self.trusted = (trustworthy && moved.is_empty() && !rescan).then_some(stamps);
        Ok(changes)
    }

    fn refresh_uidlist(&mut self) -> Result<(), MaildirError> {
        match self.uidlist.refresh()? {
            Refresh::Changed | Refresh::Unchanged => {}
            Refresh::Missing | Refresh::Corrupt => {
                // Someone removed or broke it: UIDs start over, as Dovecot's would.
                let new = create_uidlist(&self.folder, &mut self.uidlist, self.options)?;
                if new != self.uid_validity {
                    return Err(MaildirError::UidValidityChanged {
                        old: self.uid_validity,
                        new,
                    });
                }
            }
        }
        let on_disk = self.uidlist.list.as_ref().map_or(0, |l| l.uid_validity);
        if on_disk != self.uid_validity {
            return Err(MaildirError::UidValidityChanged {
                old: self.uid_validity,
                new: on_disk,
            });
        }
        Ok(())
    }

    /// Reads `new/` then `cur/` (in that order, so a file Dovecot moves meanwhile is seen at
    /// least once), one entry per base name, preferring `cur/`; files the uidlist knows are
    /// looked up once here and kept by UID. Two files in `cur/` with one base name are real
    /// duplicates: the second gets a fresh name (as Dovecot does) unless read-only.
    fn scan(&self) -> Result<Scan, MaildirError> {
        let list = self.uidlist.list.as_ref();
        let mut scan = Scan {
            known: FastMap::with_capacity_and_hasher(
                self.messages.len() + 16,
                FastState::default(),
            ),
            unknown: FastMap::default(),
        };
        let mut duplicates = Vec::new();
        for (dir, in_new) in [
            (self.folder.new_dir(), true),
            (self.folder.cur_dir(), false),
        ] {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound && in_new => continue,
                Err(e) => return Err(MaildirError::io("read directory", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| MaildirError::io("read directory", &dir, e))?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if name.starts_with('.') || entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let uid = list.and_then(|l| l.uid_of(base_name(&name)));
                let slot = match uid {
                    Some(uid) => scan.known.entry(uid),
                    None => {
                        let base = base_name(&name).to_owned();
                        match scan.unknown.entry(base) {
                            Entry::Occupied(mut old) => {
                                keep_one(old.get_mut(), name, in_new, &mut duplicates);
                            }
                            Entry::Vacant(v) => {
                                v.insert(Seen { name, in_new });
                            }
                        }
                        continue;
                    }
                };
                match slot {
                    Entry::Occupied(mut old) => {
                        keep_one(old.get_mut(), name, in_new, &mut duplicates);
                    }
                    Entry::Vacant(v) => {
                        v.insert(Seen { name, in_new });
                    }
                }
            }
        }
        if !self.options.read_only {
            for name in duplicates {
                if let Some((base, s)) = self.rename_duplicate(&name) {
                    scan.unknown.insert(base, s);
                }
            }
        }
        Ok(scan)
    }

    fn rename_duplicate(&self, name: &str) -> Option<(String, Seen)> {
        let old = MessageName::parse(name);
        let fresh = MessageName {
            base: UniqueName::generate().to_string(),
            size: old.size,
            vsize: old.vsize,
            info: old.info,
        }
        .to_string();
        let cur = self.folder.cur_dir();
        fs::rename(cur.join(name), cur.join(&fresh)).ok()?;
        Some((
            base_name(&fresh).to_owned(),
            Seen {
                name: fresh,
                in_new: false,
            },
        ))
    }

    /// Gives UIDs to files the uidlist does not know, under its lock, after re-reading it
    /// (another process may have assigned some meanwhile); moves them to `scan.known`.
    /// Records of expunged messages are dropped on the way.
    fn assign_uids(&mut self, scan: &mut Scan, gone: &FastSet<u32>) -> Result<(), MaildirError> {
        let lock = Dotlock::acquire(
            &self.uidlist.path,
            self.options.lock_timeout,
            self.folder.permissions(),
        )?;
        let refreshed = self.uidlist.refresh()?;
        let on_disk = self.uidlist.list.as_ref().map(|l| l.uid_validity);
        let mut list = match (refreshed, self.uidlist.list.clone()) {
            (Refresh::Changed | Refresh::Unchanged, Some(list))
                if on_disk == Some(self.uid_validity) =>
            {
                list
            }
            (Refresh::Changed | Refresh::Unchanged, Some(_)) => {
                lock.release()?;
                return Err(MaildirError::UidValidityChanged {
                    old: self.uid_validity,
                    new: on_disk.unwrap_or(0),
                });
            }
            _ => {
                // Removed or broken since we last read it: UIDs start over (we hold the lock
                // that creating it needs).
                let new = new_uid_validity(&self.folder);
                write_uidlist(lock, &mut self.uidlist, Uidlist::new(new))?;
                return Err(MaildirError::UidValidityChanged {
                    old: self.uid_validity,
                    new,
                });
            }
        };
        let mut new: Vec<(String, Seen)> = Vec::new();
        for (base, seen) in scan.unknown.drain() {
            match list.uid_of(&base) {
                Some(uid) => {
                    scan.known.entry(uid).or_insert(seen);
                }
                None => new.push((base, seen)),
            }
        }
        if new.is_empty() {
            return lock.release();
        }
        new.sort_by_cached_key(|(base, _)| (arrival_key(base), base.clone()));
        for (base, seen) in new {
            let Some(uid) = list.add(&base) else {
                return Err(MaildirError::UidsExhausted {
                    path: self.folder.path().to_path_buf(),
                });
            };
            scan.known.insert(uid, seen);
        }
        let state = &self.state;
        list.retain(|r| {
            scan.known.contains_key(&r.uid)
                || !(gone.contains(&r.uid) || state.expunge_modseq(r.uid).is_some())
        });
        write_uidlist(lock, &mut self.uidlist, list)
    }

    /// Moves files with UIDs from `new/` to `cur/` (adding `:2,`); returns their UIDs.
    fn move_new_to_cur(&self, known: &mut FastMap<u32, Seen>) -> FastSet<u32> {
        let mut moved = FastSet::default();
        let (new_dir, cur_dir) = (self.folder.new_dir(), self.folder.cur_dir());
        for (&uid, s) in known.iter_mut().filter(|(_, s)| s.in_new) {
            let target = if s.name.contains(':') {
                s.name.clone()
            } else {
                format!("{}:2,", s.name)
            };
            match fs::rename(new_dir.join(&s.name), cur_dir.join(&target)) {
                Ok(()) => {
                    *s = Seen {
                        name: target,
                        in_new: false,
                    };
                    moved.insert(uid);
                }
                // Someone else (Dovecot) moved it first: it is theirs to call recent.
                Err(_) if cur_dir.join(&target).exists() => {
                    *s = Seen {
                        name: target,
                        in_new: false,
                    };
                }
                Err(_) => {}
            }
        }
        moved
    }

    /// Builds the message list from a scan and records modseqs for what changed; also says
    /// whether the scan is known to be out of date already.
    fn rebuild(
        &mut self,
        known: FastMap<u32, Seen>,
        moved: &FastSet<u32>,
    ) -> Result<(SyncChanges, bool), MaildirError> {
        let Some(list) = self.uidlist.list.as_ref() else {
            return Ok((SyncChanges::default(), true));
        };
        self.state.refresh()?;
        let mut found: Vec<(u32, Seen)> = known.into_iter().collect();
        found.sort_unstable_by_key(|(uid, _)| *uid);
        let old = std::mem::take(&mut self.messages);
        let mut old_iter = old.iter().peekable();
        let mut messages = Vec::with_capacity(found.len());
        let mut updates = Vec::new();
        let mut update_at = Vec::new();
        let mut changes = SyncChanges::default();
        let mut expunged = Vec::new();
        let mut rescan = false;
        for (uid, s) in found {
            while let Some(o) = old_iter.next_if(|o| o.uid < uid) {
                expunged.push(o.uid);
            }
            let prev = old_iter.next_if(|o| o.uid == uid);
            let (name_size, name_vsize, info) = name_fields(&s.name);
            let record = || list.get(uid);
            let flags = MessageFlags::from_info(info);
            let entry = self.state.entries.get(&uid);
            let same_file = prev.is_some_and(|p| base_name(&p.file_name) == base_name(&s.name));
            let mut size = name_size.or_else(|| record().and_then(|r| r.size()));
            let mut date = prev.map(|p| p.internal_date).or(entry.map(|e| e.date));
            if size.is_none() && same_file {
                size = prev.map(|p| p.size);
            }
            if size.is_none() || date.is_none() {
                let dir = if s.in_new {
                    self.folder.new_dir()
                } else {
                    self.folder.cur_dir()
                };
                let Some(meta) = fs::metadata(dir.join(&s.name)).ok() else {
                    // Renamed or unlinked since the scan: keep what we knew, look again next
                    // time (calling it expunged on a rename would be wrong for good).
                    if let Some(p) = prev {
                        messages.push(p.clone());
                    }
                    rescan = true;
                    continue;
                };
                size = size.or(Some(meta.size()));
                date = date.or(Some(meta.mtime()));
            }
            // Names written in canonical order (ours and Dovecot's) need no rebuilding.
            let letters = match info.and_then(|i| i.strip_prefix("2,")) {
                Some(l) if entry.is_some_and(|e| *e.letters == *l) => l.to_owned(),
                _ => flags.letters(),
            };
            let recorded = entry.filter(|e| *e.letters == *letters).map(|e| e.modseq);
            let mod_seq = match (prev, recorded) {
                (Some(p), Some(m)) => {
                    if p.flags != flags || p.mod_seq != m {
                        changes.flags_changed.push(uid);
                    }
                    m
                }
                (None, Some(m)) => {
                    changes.added.push(uid);
                    m
                }
                (p, None) => {
                    match p {
                        Some(_) => changes.flags_changed.push(uid),
                        None => changes.added.push(uid),
                    }
                    update_at.push(messages.len());
                    updates.push(Update::Message {
                        uid,
                        date: date.unwrap_or(0),
                        letters,
                    });
                    0
                }
            };
            messages.push(IndexedMessage {
                uid,
                file_name: s.name,
                in_new: s.in_new,
                flags,
                size: size.unwrap_or(0),
                vsize: name_vsize.or_else(|| record().and_then(|r| r.vsize())),
                internal_date: date.unwrap_or(0),
                mod_seq,
                recent: prev.is_some_and(|p| p.recent) || moved.contains(&uid),
            });
        }
        expunged.extend(old_iter.map(|o| o.uid));
        let expunge_at = updates.len();
        for &uid in &expunged {
            match self.state.expunge_modseq(uid) {
                Some(m) => self.highest = self.highest.max(m),
                None => updates.push(Update::Expunge { uid }),
            }
        }
        if !updates.is_empty() {
            let committed = self.state.commit(
                &updates,
                self.options.lock_timeout,
                self.folder.permissions(),
            );
            let modseqs = match committed {
                Ok(m) => m,
                Err(e) => {
                    // Nothing of this sync is applied: the next one finds it all again.
                    self.messages = old;
                    self.trusted = None;
                    return Err(e);
                }
            };
            for (&at, &m) in update_at.iter().zip(&modseqs) {
                if let Some(msg) = messages.get_mut(at) {
                    msg.mod_seq = m;
                }
            }
            for &m in modseqs.get(expunge_at..).unwrap_or_default() {
                self.highest = self.highest.max(m);
            }
        }
        for m in &messages {
            self.highest = self.highest.max(m.mod_seq);
        }
        self.messages = messages;
        changes.expunged = expunged;
        Ok((changes, rescan))
    }

    /// A full sync whose changes are kept for the caller's next [`sync`](Self::sync).
    pub(crate) fn resync_into_pending(&mut self) -> Result<(), MaildirError> {
        let changes = self.sync_full()?;
        self.pending.merge(changes);
        Ok(())
    }
}

/// `,S=` and `,W=` of a file name and its info part, without the allocations of
/// [`MessageName::parse`] (this runs for every message of every full sync).
fn name_fields(name: &str) -> (Option<u64>, Option<u64>, Option<&str>) {
    let (head, info) = match name.split_once(':') {
        Some((head, info)) => (head, Some(info)),
        None => (name, None),
    };
    let digits = |v: &str| {
        (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
    };
    let (mut size, mut vsize) = (None, None);
    for part in head.split(',').skip(1) {
        if let Some(v) = part.strip_prefix("S=") {
            size = digits(v);
        } else if let Some(v) = part.strip_prefix("W=") {
            vsize = digits(v);
        }
    }
    (size, vsize, info)
}

/// Sort key for giving UIDs in arrival order: the name's `<secs>.M<usecs>` timestamp.
fn arrival_key(base: &str) -> (u64, u32) {
    let (secs, rest) = base.split_once('.').unwrap_or((base, ""));
    let secs = secs.parse().unwrap_or(u64::MAX);
    let usecs = rest
        .strip_prefix('M')
        .map(|r| {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            r.get(..end).and_then(|d| d.parse().ok()).unwrap_or(0)
        })
        .unwrap_or(0);
    (secs, usecs)
}

/// Writes `list` through the held lock and remembers it as read.
pub(crate) fn write_uidlist(
    lock: Dotlock,
    file: &mut UidlistFile,
    mut list: Uidlist,
) -> Result<(), MaildirError> {
    // Dovecot rewrites a uidlist without a mailbox GUID; give it one now.
    if list.guid.is_none() {
        list.guid = Some(crate::util::random_hex128());
    }
    let bytes = list.to_bytes();
    let ino = lock.ino();
    lock.replace(&bytes, false)?;
    file.written(list, ino, bytes.len());
    Ok(())
}

/// Creates the folder's uidlist under its lock unless someone did meanwhile; returns the
/// UIDVALIDITY.
pub(crate) fn create_uidlist(
    folder: &Folder,
    file: &mut UidlistFile,
    options: IndexOptions,
) -> Result<u32, MaildirError> {
    let lock = Dotlock::acquire(&file.path, options.lock_timeout, folder.permissions())?;
    if matches!(file.refresh()?, Refresh::Changed | Refresh::Unchanged)
        && let Some(list) = file.list.as_ref()
    {
        let v = list.uid_validity;
        lock.release()?;
        return Ok(v);
    }
    let uid_validity = new_uid_validity(folder);
    write_uidlist(lock, file, Uidlist::new(uid_validity))?;
    Ok(uid_validity)
}

/// UIDVALIDITY for a new uidlist: the current time, as Dovecot's, but above any UIDVALIDITY
/// the folder had before (as the state file remembers), so clients see the change.
pub(crate) fn new_uid_validity(folder: &Folder) -> u32 {
    let now = u32::try_from(now_secs()).unwrap_or(u32::MAX);
    match crate::modseq::stored_uid_validity(folder.path()) {
        Some(p) if p >= now => p.saturating_add(1),
        _ => now.max(1),
    }
}

/// The directory a message file lives in.
pub(crate) fn dir_of(folder: &Folder, in_new: bool) -> PathBuf {
    if in_new {
        folder.new_dir()
    } else {
        folder.cur_dir()
    }
}

/// Whether `path` exists (not following a final symlink).
pub(crate) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

impl FolderIndex {
    pub(crate) fn keywords(&self) -> &Keywords {
        &self.keywords
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_order_keys() {
        assert_eq!(arrival_key("1700000000.M512P1.host"), (1_700_000_000, 512));
        assert_eq!(arrival_key("1700000000.1234.host"), (1_700_000_000, 0));
        assert_eq!(arrival_key("odd"), (u64::MAX, 0));
        assert!(arrival_key("1700000000.M99P1.h") < arrival_key("1700000000.M100P1.h"));
    }

    #[test]
    fn name_fields_match_message_name() {
        for name in [
            "1.M2.h,S=10,W=12:2,FS",
            "1.M2.h,S=10",
            "1.M2.h,W=x,S=+1:2,",
            "1.M2.h",
            "1.M2.h:2,S:odd",
        ] {
            let full = MessageName::parse(name);
            assert_eq!(
                name_fields(name),
                (full.size, full.vsize, full.info.as_deref()),
                "{name}"
            );
        }
    }

    #[test]
    fn merging_changes_drops_what_came_and_went() {
        let mut a = SyncChanges {
            added: vec![5, 6],
            expunged: vec![1],
            flags_changed: vec![2],
        };
        a.merge(SyncChanges {
            added: vec![7],
            expunged: vec![6, 2],
            flags_changed: vec![5, 3],
        });
        assert_eq!(a.added, [5, 7]);
        assert_eq!(a.expunged, [1, 2]);
        assert_eq!(a.flags_changed, [3]);
    }
}
