//! `dovecot-keywords`: the names of a folder's IMAP keywords, by the index whose letter
//! (`'a' + index`) file names carry.
//!
//! ```text
//! 0 $Forwarded
//! 1 Junk
//! 3 $label1
//! ```
//!
//! One `<index> <name>` line per keyword, at most 26 (`a`..`z`); gaps are allowed. Dovecot
//! assigns a keyword only while holding the uidlist lock, and replaces the file through its
//! dotlock `dovecot-keywords.lock`; it re-reads the file when its mtime (in whole seconds)
//! changed, so a rewrite always moves the mtime forward by at least a second.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dotlock::Dotlock;
use crate::error::MaildirError;
use crate::store::Permissions;
use crate::util::{FileStamp, read_optional};

/// The file name in a folder's directory.
pub const KEYWORDS_NAME: &str = "dovecot-keywords";

/// Letters `a`..`z`.
pub const MAX_KEYWORDS: usize = 26;

/// Longest keyword name accepted (Dovecot has no limit; IMAP clients use short ones).
const MAX_NAME: usize = 255;

/// A folder's keyword names by index, as last read from `dovecot-keywords`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    path: PathBuf,
    /// Valid names by index; `""` for free slots and for names we will not show.
    names: Vec<String>,
    /// Bit `i`: index `i` is used in the file (perhaps by a name we do not show).
    taken: u32,
    stamp: Option<FileStamp>,
}

impl Keywords {
    /// Reads the keywords of the folder in `folder_dir` (none if the file is missing).
    pub fn load(folder_dir: &Path) -> Result<Keywords, MaildirError> {
        let mut k = Keywords {
            path: folder_dir.join(KEYWORDS_NAME),
            names: Vec::new(),
            taken: 0,
            stamp: None,
        };
        k.reload()?;
        Ok(k)
    }

    /// Names by index from the file's content: lines that are not `<index 0..25> <name>` are
    /// skipped, as Dovecot does. Unassigned indexes are empty strings.
    pub fn parse(data: &[u8]) -> Vec<String> {
        Keywords::parse_raw(data)
    }

    fn parse_raw(data: &[u8]) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for line in data.split(|&b| b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let Some((index, name)) = line.split_once(' ') else {
                continue;
            };
            let Ok(index) = index.parse::<usize>() else {
                continue;
            };
            if index >= MAX_KEYWORDS || name.is_empty() {
                continue;
            }
            if names.len() <= index {
                names.resize(index + 1, String::new());
            }
            if let Some(slot) = names.get_mut(index) {
                *slot = name.to_owned();
            }
        }
        names
    }

    /// The file's content for `names`.
    pub fn to_bytes(names: &[String]) -> Vec<u8> {
        let mut out = String::new();
        for (i, name) in names.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
            out.push_str(&format!("{i} {name}\n"));
        }
        out.into_bytes()
    }

    /// Whether `name` is a keyword we store and show: an IMAP atom (printable ASCII without
    /// space and `(){%*"\]`) of at most 255 bytes, not starting with `\` (system flags).
    pub fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
    }

    /// Re-reads the file if it changed on disk; returns whether it did.
    pub fn refresh(&mut self) -> Result<bool, MaildirError> {
        let now = FileStamp::read(&self.path)?;
        if now == self.stamp {
            return Ok(false);
        }
        let before = self.names.clone();
        self.reload()?;
        Ok(self.names != before)
    }

    fn reload(&mut self) -> Result<(), MaildirError> {
        let stamp = FileStamp::read(&self.path)?;
        let raw = read_optional(&self.path, 1 << 20)?
            .map(|data| Keywords::parse_raw(&data))
            .unwrap_or_default();
        self.taken = 0;
        for (i, name) in raw.iter().enumerate() {
            if !name.is_empty() {
                self.taken |= 1 << i;
            }
        }
        // A name with a line break or space would break an IMAP response: hide it, but keep
        // its index taken.
        self.names = raw
            .into_iter()
            .map(|n| {
                if Keywords::is_valid_name(&n) {
                    n
                } else {
                    String::new()
                }
            })
            .collect();
        self.stamp = stamp;
        Ok(())
    }

    /// Names by index; an empty string is an unassigned index (or one whose stored name is
    /// not a valid keyword: empty, spaces or control characters).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of keyword `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names
            .get(index)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }

    /// The index of `name`, compared case-insensitively (as IMAP keywords are).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|n| !n.is_empty() && n.eq_ignore_ascii_case(name))
    }

    /// Returns the index of `name`, assigning the first free one and rewriting the file if it
    /// is new; `Ok(None)` when all 26 are taken. The caller must hold the folder's uidlist
    /// lock, as Dovecot does, so that two processes cannot assign one index twice.
    pub fn create(
        &mut self,
        name: &str,
        timeout: Duration,
        perms: &Permissions,
    ) -> Result<Option<usize>, MaildirError> {
        if !Keywords::is_valid_name(name) {
            return Err(MaildirError::InvalidKeyword {
                name: name.to_owned(),
            });
        }
        let lock = Dotlock::acquire(&self.path, timeout, perms)?;
        self.reload()?;
        if let Some(index) = self.index_of(name) {
            lock.release()?;
            return Ok(Some(index));
        }
        let Some(index) = (0..MAX_KEYWORDS).find(|i| self.taken & (1 << i) == 0) else {
            lock.release()?;
            return Ok(None);
        };
        // Rewrite from the file itself, so names we do not show survive.
        let mut names = read_optional(&self.path, 1 << 20)?
            .map(|data| Keywords::parse_raw(&data))
            .unwrap_or_default();
        if names.len() <= index {
            names.resize(index + 1, String::new());
        }
        if let Some(slot) = names.get_mut(index) {
            *slot = name.to_owned();
        }
        let old_secs = self
            .stamp
            .map(|s| i64::try_from(s.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0));
        let now = SystemTime::now();
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        let mtime = match old_secs {
            Some(old) if old >= now_secs => u64::try_from(old + 1)
                .ok()
                .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            _ => None,
        };
        lock.replace_with_mtime(&Keywords::to_bytes(&names), true, mtime)?;
        self.reload()?;
        Ok(self.index_of(name).or(Some(index)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dovecot_file_with_gaps_and_junk() {
        let names = Keywords::parse(b"0 $Forwarded\n1 Junk\n3 $label1\nbogus\n30 x\n2 \n");
        assert_eq!(names, ["$Forwarded", "Junk", "", "$label1"]);
        assert_eq!(
            Keywords::to_bytes(&names),
            b"0 $Forwarded\n1 Junk\n3 $label1\n"
        );
    }

    #[test]
    fn names_are_validated() {
        assert!(Keywords::is_valid_name("$Junk"));
        assert!(!Keywords::is_valid_name(""));
        assert!(!Keywords::is_valid_name("a b"));
        assert!(!Keywords::is_valid_name("a\nb"));
        assert!(!Keywords::is_valid_name("\\Seen"));
        assert!(!Keywords::is_valid_name("a(b"));
        assert!(!Keywords::is_valid_name("Gr\u{fc}n"));
    }

    #[test]
    fn create_fills_gaps_then_stops_at_26() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(KEYWORDS_NAME), "1 Junk\n")?;
        let mut k = Keywords::load(dir.path())?;
        let perms = Permissions::default();
        let t = Duration::from_secs(1);
        assert_eq!(k.create("junk", t, &perms)?, Some(1));
        assert_eq!(k.create("$Forwarded", t, &perms)?, Some(0));
        for i in 2..26 {
            assert_eq!(k.create(&format!("k{i}"), t, &perms)?, Some(i));
        }
        assert_eq!(k.create("one-too-many", t, &perms)?, None);
        let again = Keywords::load(dir.path())?;
        assert_eq!(again.names().len(), 26);
        assert_eq!(again.index_of("K25"), Some(25));
        assert!(k.create("bad name", t, &perms).is_err());
        Ok(())
    }

    #[test]
    fn invalid_stored_names_are_hidden_but_keep_their_index()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(KEYWORDS_NAME), "0 Evil\r\n1 ok\n")?;
        let mut k = Keywords::load(dir.path())?;
        assert_eq!(k.names(), ["", "ok"]);
        let perms = Permissions::default();
        assert_eq!(k.create("new", Duration::from_secs(1), &perms)?, Some(2));
        let text = std::fs::read(dir.path().join(KEYWORDS_NAME))?;
        assert_eq!(text, b"0 Evil\r\n1 ok\n2 new\n");
        Ok(())
    }
}
