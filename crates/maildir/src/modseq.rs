//! CONDSTORE/QRESYNC state (RFC 7162) that Dovecot does not keep in a form we can read: per-UID
//! mod-sequences with the flags they belong to, and recent expunges, in `postern-imap-state`.
//!
//! Every process serving the folder shares the file, so that one modseq means one change for
//! all of them. It is a snapshot followed by appended records, one text line each, ending in
//! `*<crc32>` so a torn or garbled line is ignored:
//!
//! ```text
//! postern-imap-state 1 V1700000000
//! h 1700000000123456 *1c291ca3
//! m 17 1700000000123457 1699999000 FS *0a1b2c3d
//! x 12 1700000000123458 *...
//! ```
//!
//! `h` raises the highest modseq, `f` the floor below which expunges are forgotten, `m` gives
//! a UID its modseq, internal date and flag letters (`-` for none), `x` records an expunge.
//! Appends and rewrites happen under an `flock` on `postern-imap-state.lock` (released by the
//! kernel if the holder dies); rewrites go to a temporary file renamed over the state. When
//! the file is lost or belongs to another UIDVALIDITY, modseqs restart from the current time in
//! microseconds, which no earlier modseq can exceed unless a million changes a second were made.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::MaildirError;
use crate::store::Permissions;
use crate::util::{FastMap, FileStamp, crc32, now_micros};

/// The state file's name in a folder's directory.
pub const STATE_NAME: &str = "postern-imap-state";

const MAGIC: &str = "postern-imap-state 1";

/// Expunges remembered for QRESYNC; older ones raise the floor.
const MAX_EXPUNGES: usize = 10_000;

const MAX_STATE_BYTES: u64 = 1 << 30;

/// What the state knows of one UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub modseq: u64,
    pub date: i64,
    pub letters: Box<str>,
}

/// A change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Update {
    /// The message has these flag letters (and this internal date).
    Message {
        uid: u32,
        date: i64,
        letters: String,
    },
    /// The message is gone.
    Expunge { uid: u32 },
}

#[derive(Debug)]
pub(crate) struct ModseqState {
    path: PathBuf,
    lock_path: PathBuf,
    uid_validity: u32,
    pub entries: FastMap<u32, Entry>,
    expunged: FastMap<u32, u64>,
    highest: u64,
    floor: u64,
    stamp: Option<FileStamp>,
    ino: u64,
    offset: u64,
    /// Records in the file, to decide when to rewrite it.
    lines: usize,
    /// The file does not hold this state (missing, foreign): the next commit rewrites it.
    fresh: bool,
}

impl ModseqState {
    /// Loads the state of `dir` for `uid_validity`, or starts afresh.
    pub fn load(dir: &Path, uid_validity: u32) -> Result<ModseqState, MaildirError> {
        let path = dir.join(STATE_NAME);
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        let mut state = ModseqState {
            path,
            lock_path: PathBuf::from(lock_path),
            uid_validity,
            entries: FastMap::default(),
            expunged: FastMap::default(),
            highest: 0,
            floor: 0,
            stamp: None,
            ino: 0,
            offset: 0,
            lines: 0,
            fresh: true,
        };
        state.refresh()?;
        Ok(state)
    }

    /// The highest modseq given out, as far as this process has read.
    #[cfg(test)]
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Expunges with a modseq at or below this may have been forgotten.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// UIDs expunged with a modseq above `since`, ascending; `None` if that is before what
    /// the state remembers.
    pub fn expunged_since(&self, since: u64) -> Option<Vec<u32>> {
        if since < self.floor {
            return None;
        }
        let mut uids: Vec<u32> = self
            .expunged
            .iter()
            .filter(|&(_, &m)| m > since)
            .map(|(&uid, _)| uid)
            .collect();
        uids.sort_unstable();
        Some(uids)
    }

    /// The modseq of an expunge, if recorded.
    pub fn expunge_modseq(&self, uid: u32) -> Option<u64> {
        self.expunged.get(&uid).copied()
    }

    /// Reads what others appended (or the whole file if it was replaced).
    pub fn refresh(&mut self) -> Result<(), MaildirError> {
        let now = FileStamp::read(&self.path)?;
        if now.is_some() && now == self.stamp {
            return Ok(());
        }
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.start_fresh(0);
                return Ok(());
            }
            Err(e) => return Err(MaildirError::io("open", &self.path, e)),
        };
        let stamp = FileStamp::of(
            &file
                .metadata()
                .map_err(|e| MaildirError::io("stat", &self.path, e))?,
        );
        let read_err = |e| MaildirError::io("read", &self.path, e);
        let mut data = Vec::new();
        if !self.fresh && stamp.ino == self.ino && stamp.size >= self.offset {
            file.seek(SeekFrom::Start(self.offset)).map_err(read_err)?;
            file.take(MAX_STATE_BYTES)
                .read_to_end(&mut data)
                .map_err(read_err)?;
            let used = self.apply_lines(&data);
            self.offset += used as u64;
        } else {
            file.take(MAX_STATE_BYTES)
                .read_to_end(&mut data)
                .map_err(read_err)?;
            self.load_whole(&data, stamp.ino);
        }
        self.stamp = Some(stamp);
        Ok(())
    }

    fn load_whole(&mut self, data: &[u8], ino: u64) {
        let header_end = data.iter().position(|&b| b == b'\n');
        let header = header_end
            .and_then(|end| data.get(..end))
            .and_then(|h| std::str::from_utf8(h).ok())
            .unwrap_or_default();
        let uid_validity = header
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.trim().strip_prefix('V'))
            .and_then(|v| v.parse::<u32>().ok());
        let body = header_end
            .and_then(|end| data.get(end + 1..))
            .unwrap_or_default();
        if uid_validity == Some(self.uid_validity) {
            self.entries.clear();
            self.expunged.clear();
            self.lines = 0;
            self.floor = 0;
            let used = self.apply_lines(body);
            self.ino = ino;
            self.offset = (header.len() + 1 + used) as u64;
            self.fresh = false;
        } else {
            // Another UIDVALIDITY's state (or garbage): its modseqs still bound ours from below.
            let mut foreign = ModseqState {
                path: PathBuf::new(),
                lock_path: PathBuf::new(),
                uid_validity: 0,
                entries: FastMap::default(),
                expunged: FastMap::default(),
                highest: 0,
                floor: 0,
                stamp: None,
                ino: 0,
                offset: 0,
                lines: 0,
                fresh: true,
            };
            foreign.apply_lines(body);
            self.start_fresh(foreign.highest);
        }
    }

    /// The file is missing or not ours: modseqs go on above `seen_highest`, our own highest
    /// and the clock, and the next commit writes the file anew. What this process knows is
    /// kept (it belongs to our UIDVALIDITY); a process that knows nothing cannot answer for
    /// expunges before the new start.
    fn start_fresh(&mut self, seen_highest: u64) {
        let start = now_micros()
            .max(seen_highest.saturating_add(1))
            .max(self.highest.saturating_add(1));
        self.highest = start;
        if self.entries.is_empty() && self.expunged.is_empty() {
            self.floor = start;
        }
        self.fresh = true;
        self.stamp = None;
        self.ino = 0;
        self.offset = 0;
        self.lines = 0;
    }

    /// Applies complete lines; returns the bytes used (up to the last line break).
    fn apply_lines(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while let Some(len) = data
            .get(used..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            if let Some(line) = data
                .get(used..used + len)
                .and_then(|l| std::str::from_utf8(l).ok())
            {
                self.apply_line(line);
            }
            used += len + 1;
        }
        used
    }

    fn apply_line(&mut self, line: &str) {
        let Some((body, crc)) = line.rsplit_once(" *") else {
            return;
        };
        if u32::from_str_radix(crc, 16).ok() != Some(crc32(body.as_bytes())) {
            return;
        }
        let mut f = body.split(' ');
        let kind = f.next();
        let mut num = || f.next().and_then(|v| v.parse::<u64>().ok());
        match kind {
            Some("h") => {
                if let Some(m) = num() {
                    self.highest = self.highest.max(m);
                }
            }
            Some("f") => {
                if let Some(m) = num() {
                    self.floor = self.floor.max(m);
                    self.highest = self.highest.max(m);
                }
            }
            Some("m") => {
                let (Some(uid), Some(modseq)) = (num(), num()) else {
                    return;
                };
                let date = f.next().and_then(|v| v.parse::<i64>().ok());
                let letters = f.next();
                let (Ok(uid), Some(date), Some(letters)) = (u32::try_from(uid), date, letters)
                else {
                    return;
                };
                let letters = if letters == "-" { "" } else { letters };
                self.entries.insert(
                    uid,
                    Entry {
                        modseq,
                        date,
                        letters: letters.into(),
                    },
                );
                self.highest = self.highest.max(modseq);
                self.lines += 1;
            }
            Some("x") => {
                let (Some(uid), Some(modseq)) = (num(), num()) else {
                    return;
                };
                let Ok(uid) = u32::try_from(uid) else {
                    return;
                };
                self.entries.remove(&uid);
                self.expunged.insert(uid, modseq);
                self.highest = self.highest.max(modseq);
                self.lines += 1;
            }
            _ => {}
        }
    }

    /// Records `updates` under the state lock and returns each one's modseq: the one already
    /// recorded if another process recorded the same thing, else one new modseq for the batch.
    pub fn commit(
        &mut self,
        updates: &[Update],
        timeout: Duration,
        perms: &Permissions,
    ) -> Result<Vec<u64>, MaildirError> {
        let _lock = self.lock(timeout, perms)?;
        self.refresh()?;
        let mut out = Vec::with_capacity(updates.len());
        let mut lines = String::new();
        let mut batch: Option<u64> = None;
        for update in updates {
            match update {
                Update::Message { uid, date, letters } => {
                    if let Some(e) = self.entries.get(uid)
                        && *e.letters == **letters
                    {
                        out.push(e.modseq);
                        continue;
                    }
                    let modseq = *batch.get_or_insert(self.highest.saturating_add(1));
                    let entry = Entry {
                        modseq,
                        date: *date,
                        letters: letters.as_str().into(),
                    };
                    push_line(&mut lines, &message_line(*uid, &entry));
                    self.entries.insert(*uid, entry);
                    out.push(modseq);
                }
                Update::Expunge { uid } => {
                    if let Some(&m) = self.expunged.get(uid) {
                        out.push(m);
                        continue;
                    }
                    let modseq = *batch.get_or_insert(self.highest.saturating_add(1));
                    push_line(&mut lines, &format!("x {uid} {modseq}"));
                    self.entries.remove(uid);
                    self.expunged.insert(*uid, modseq);
                    out.push(modseq);
                }
            }
        }
        if let Some(m) = batch {
            self.highest = self.highest.max(m);
        }
        let live = self.entries.len() + self.expunged.len();
        if self.fresh || self.lines > 2 * live + 1000 || self.expunged.len() > 2 * MAX_EXPUNGES {
            self.rewrite(perms)?;
        } else if !lines.is_empty() {
            self.append(&lines, perms)?;
        }
        Ok(out)
    }

    fn lock(&self, timeout: Duration, perms: &Permissions) -> Result<File, MaildirError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(perms.file_mode)
            .open(&self.lock_path)
            .map_err(|e| MaildirError::io("open", &self.lock_path, e))?;
        let start = Instant::now();
        let mut sleep = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    return Err(MaildirError::io("flock", &self.lock_path, e));
                }
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(MaildirError::LockTimeout {
                    path: self.lock_path.clone(),
                    waited,
                });
            }
            std::thread::sleep(sleep.min(timeout.saturating_sub(waited)));
            sleep = (sleep * 2).min(Duration::from_millis(20));
        }
    }

    fn append(&mut self, lines: &str, perms: &Permissions) -> Result<(), MaildirError> {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| MaildirError::io("open", &self.path, e))?;
        let size = file
            .metadata()
            .map_err(|e| MaildirError::io("stat", &self.path, e))?
            .size();
        // A torn line left by a crash must not swallow the start of ours.
        let mut data = String::with_capacity(lines.len() + 1);
        if size > self.offset {
            data.push('\n');
        }
        data.push_str(lines);
        file.write_all(data.as_bytes())
            .map_err(|e| MaildirError::io("write", &self.path, e))?;
        let _ = perms;
        let meta = file
            .metadata()
            .map_err(|e| MaildirError::io("stat", &self.path, e))?;
        self.lines += lines.matches('\n').count();
        self.offset = meta.size();
        self.stamp = Some(FileStamp::of(&meta));
        Ok(())
    }

    fn rewrite(&mut self, perms: &Permissions) -> Result<(), MaildirError> {
        if self.expunged.len() > MAX_EXPUNGES {
            let mut by_age: Vec<(u64, u32)> = self.expunged.iter().map(|(&u, &m)| (m, u)).collect();
            by_age.sort_unstable();
            let drop = by_age.len() - MAX_EXPUNGES;
            for &(m, uid) in by_age.iter().take(drop) {
                self.floor = self.floor.max(m);
                self.expunged.remove(&uid);
            }
        }
        let mut out = format!("{MAGIC} V{}\n", self.uid_validity);
        push_line(&mut out, &format!("h {}", self.highest));
        push_line(&mut out, &format!("f {}", self.floor));
        let mut uids: Vec<&u32> = self.entries.keys().collect();
        uids.sort_unstable();
        for uid in uids {
            if let Some(e) = self.entries.get(uid) {
                push_line(&mut out, &message_line(*uid, e));
            }
        }
        let mut expunged: Vec<(&u32, &u64)> = self.expunged.iter().collect();
        expunged.sort_unstable();
        for (uid, m) in expunged {
            push_line(&mut out, &format!("x {uid} {m}"));
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(perms.file_mode)
            .open(&tmp)
            .map_err(|e| MaildirError::io("create", &tmp, e))?;
        perms.chown_file(&file, &tmp)?;
        file.write_all(out.as_bytes())
            .map_err(|e| MaildirError::io("write", &tmp, e))?;
        let meta = file
            .metadata()
            .map_err(|e| MaildirError::io("stat", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| MaildirError::io("rename", &self.path, e))?;
        self.lines = self.entries.len() + self.expunged.len();
        self.ino = meta.ino();
        self.offset = meta.size();
        self.stamp = Some(FileStamp::of(&meta));
        self.fresh = false;
        Ok(())
    }
}

/// The UIDVALIDITY the state file in `dir` belongs to, if it is readable.
pub(crate) fn stored_uid_validity(dir: &Path) -> Option<u32> {
    let mut head = Vec::new();
    File::open(dir.join(STATE_NAME))
        .and_then(|f| f.take(128).read_to_end(&mut head))
        .ok()?;
    let line = head.split(|&b| b == b'\n').next()?;
    std::str::from_utf8(line)
        .ok()?
        .strip_prefix(MAGIC)?
        .trim()
        .strip_prefix('V')?
        .parse()
        .ok()
}

fn message_line(uid: u32, e: &Entry) -> String {
    let letters = if e.letters.is_empty() {
        "-"
    } else {
        &e.letters
    };
    format!("m {uid} {} {} {letters}", e.modseq, e.date)
}

fn push_line(out: &mut String, body: &str) {
    out.push_str(body);
    out.push_str(&format!(" *{:08x}\n", crc32(body.as_bytes())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(uid: u32, letters: &str) -> Update {
        Update::Message {
            uid,
            date: 1_700_000_000,
            letters: letters.into(),
        }
    }

    #[test]
    fn two_processes_share_modseqs() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let perms = Permissions::default();
        let t = Duration::from_secs(1);
        let mut a = ModseqState::load(dir.path(), 7)?;
        let start = a.highest();
        assert!(start >= now_micros() - 10_000_000);
        let m = a.commit(&[msg(1, ""), msg(2, "S")], t, &perms)?;
        let first = m[0];
        assert!(first > start);
        assert_eq!(m, [first, first], "one modseq for the batch");
        let mut b = ModseqState::load(dir.path(), 7)?;
        assert_eq!(b.entries.get(&2).map(|e| e.modseq), Some(first));
        // b records the same observation a already made: it adopts a's modseq.
        let m = b.commit(&[msg(2, "S"), msg(1, "F")], t, &perms)?;
        assert_eq!(m, [first, first + 1]);
        let m = a.commit(&[Update::Expunge { uid: 2 }], t, &perms)?;
        assert_eq!(m, [first + 2]);
        b.refresh()?;
        assert_eq!(b.expunged_since(first + 1), Some(vec![2]));
        assert_eq!(b.expunged_since(first + 2), Some(vec![]));
        assert_eq!(b.expunged_since(start - 1), None);
        assert_eq!(b.entries.get(&1).map(|e| &*e.letters), Some("F"));
        Ok(())
    }

    #[test]
    fn torn_and_garbled_lines_are_ignored() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let perms = Permissions::default();
        let t = Duration::from_secs(1);
        let mut a = ModseqState::load(dir.path(), 7)?;
        a.commit(&[msg(1, "S")], t, &perms)?;
        let path = dir.path().join(STATE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path)?;
        f.write_all(b"m 1 99999999999999999 0 F *00000000\nm 2 5 0 S")?;
        drop(f);
        let mut b = ModseqState::load(dir.path(), 7)?;
        assert_eq!(b.entries.get(&1).map(|e| &*e.letters), Some("S"));
        assert!(!b.entries.contains_key(&2));
        b.commit(&[msg(3, "")], t, &perms)?;
        let c = ModseqState::load(dir.path(), 7)?;
        assert!(
            c.entries.contains_key(&3),
            "a record after a torn line is kept"
        );
        Ok(())
    }

    #[test]
    fn lost_or_foreign_state_never_goes_backwards() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let perms = Permissions::default();
        let t = Duration::from_secs(1);
        let mut a = ModseqState::load(dir.path(), 7)?;
        // A burst of changes far ahead of the clock.
        for i in 0..50 {
            a.commit(&[msg(1, if i % 2 == 0 { "S" } else { "" })], t, &perms)?;
        }
        let high = a.highest();
        let b = ModseqState::load(dir.path(), 8)?;
        assert!(b.highest() > high, "foreign state bounds the new start");
        fs::remove_file(dir.path().join(STATE_NAME))?;
        let c = ModseqState::load(dir.path(), 7)?;
        assert!(c.highest() >= now_micros() - 10_000_000);
        assert_eq!(c.expunged_since(0), None);
        Ok(())
    }
}
