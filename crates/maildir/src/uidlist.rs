//! `dovecot-uidlist`: the file that maps IMAP UIDs to Maildir file names, in Dovecot's
//! version 3 format (version 1, Courier's, is read too).
//!
//! ```text
//! 3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1
//! 25006 :1275660187.M27052P13352.host,S=2042,W=2090
//! 25007 W3021 G6b1e... :1275660190.M1P2.host,S=2954
//! ```
//!
//! The header is the version and `<key><value>` fields in any order (`V` UIDVALIDITY, `N` next
//! UID, `G` mailbox GUID; others are kept). A record is the UID, `<key><value>` extensions (`W`
//! vsize, `S` size, `G` message GUID, `P`/`O` POP3; kept as found) and `:` then the file name,
//! which may or may not carry the `:2,<flags>` info part: records match files by the base name
//! before the `:`. Dovecot appends records without rewriting the file, so a record may repeat a
//! file name (the later wins) and the last line may be incomplete (ignored until complete).
//! Dovecot deletes a uidlist it cannot parse, so what we write is strictly ordered by UID and
//! never holds a `/`, a line break or an invalid extension key.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::MaildirError;
use crate::flags::base_name;
use crate::util::{FastMap, FileStamp, random_hex128};

/// The file name of the uidlist in a folder's directory.
pub const UIDLIST_NAME: &str = "dovecot-uidlist";

/// Larger uidlists are not read (about 20 million records).
const MAX_UIDLIST_BYTES: u64 = 1 << 30;

/// One message's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidRecord {
    /// The UID.
    pub uid: u32,
    /// `<key><value>` extension fields as found (`W1234`, `S1200`, `G<hex>`, ...).
    pub extensions: Vec<String>,
    /// The file name as stored (normally without the info part).
    pub file_name: String,
}

impl UidRecord {
    /// The base name (before `:`) that matches the file whatever its flags.
    pub fn base(&self) -> &str {
        base_name(&self.file_name)
    }

    /// The value of extension `key` (e.g. `b'W'`).
    pub fn extension(&self, key: u8) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.as_bytes().first() == Some(&key))
            .and_then(|e| e.get(1..))
    }

    /// `W`: the size with CRLF line ends, when the file name does not carry `,W=`.
    pub fn vsize(&self) -> Option<u64> {
        self.extension(b'W').and_then(|v| v.parse().ok())
    }

    /// `S`: the file's size, when the file name does not carry `,S=`.
    pub fn size(&self) -> Option<u64> {
        self.extension(b'S').and_then(|v| v.parse().ok())
    }
}

/// A parsed `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uidlist {
    /// `V`: IMAP UIDVALIDITY.
    pub uid_validity: u32,
    /// `N`: the UID the next new message gets (always above every record's UID).
    pub next_uid: u32,
    /// `G`: the mailbox GUID, 32 hex digits.
    pub guid: Option<String>,
    /// Header fields other than `V`, `N`, `G`, as found.
    pub header_extensions: Vec<String>,
    records: Vec<UidRecord>,
    by_base: FastMap<String, u32>,
}

impl Uidlist {
    /// An empty uidlist with a fresh mailbox GUID; the first message gets UID 1.
    pub fn new(uid_validity: u32) -> Uidlist {
        Uidlist {
            uid_validity,
            next_uid: 1,
            guid: Some(random_hex128()),
            header_extensions: Vec::new(),
            records: Vec::new(),
            by_base: FastMap::default(),
        }
    }

    /// Parses a whole file. Returns the uidlist and how many bytes were used: everything up to
    /// the last line break (an incomplete last line is being appended and is left for later).
    /// Fails only on a missing or broken header; bad records are skipped.
    pub fn parse(data: &[u8]) -> Result<(Uidlist, usize), &'static str> {
        let header_end = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("no complete header line")?;
        let header = std::str::from_utf8(data.get(..header_end).unwrap_or_default())
            .map_err(|_| "header is not UTF-8")?;
        let mut list = Uidlist {
            uid_validity: 0,
            next_uid: 0,
            guid: None,
            header_extensions: Vec::new(),
            records: Vec::new(),
            by_base: FastMap::default(),
        };
        let version = match header.split_once(' ') {
            Some(("3", fields)) => {
                for field in fields.split(' ').filter(|f| !f.is_empty()) {
                    let value = field.get(1..).unwrap_or_default();
                    match field.as_bytes().first() {
                        Some(b'V') => list.uid_validity = value.parse().map_err(|_| "bad V")?,
                        Some(b'N') => list.next_uid = value.parse().map_err(|_| "bad N")?,
                        Some(b'G') => {
                            if value.len() != 32 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err("bad G");
                            }
                            list.guid = Some(value.to_ascii_lowercase());
                        }
                        _ => list.header_extensions.push(field.to_owned()),
                    }
                }
                3
            }
            Some(("1", fields)) => {
                let mut it = fields.split(' ').filter(|f| !f.is_empty());
                list.uid_validity = it.next().and_then(|v| v.parse().ok()).ok_or("bad v1")?;
                list.next_uid = it.next().and_then(|v| v.parse().ok()).ok_or("bad v1")?;
                1
            }
            _ => return Err("unsupported version"),
        };
        if list.uid_validity == 0 || list.next_uid == 0 {
            return Err("zero UIDVALIDITY or next UID");
        }
        let body = data.get(header_end + 1..).unwrap_or_default();
        let used = list.apply_lines(body, version);
        Ok((list, header_end + 1 + used))
    }

    /// Applies records appended to the file since it was parsed; returns the bytes used (up
    /// to the last line break).
    pub fn parse_appended(&mut self, data: &[u8]) -> usize {
        self.apply_lines(data, 3)
    }

    fn apply_lines(&mut self, data: &[u8], version: u8) -> usize {
        let mut used = 0;
        while let Some(len) = data
            .get(used..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            if let Some(record) = data
                .get(used..used + len)
                .and_then(|line| std::str::from_utf8(line).ok())
                .and_then(|line| parse_record(line, version))
            {
                self.insert(record);
            }
            used += len + 1;
        }
        used
    }

    /// Adds or replaces a record: a later record for the same file or the same UID wins.
    fn insert(&mut self, record: UidRecord) {
        let base = record.base().to_owned();
        let uid = record.uid;
        if let Some(old_uid) = self.by_base.get(&base).copied()
            && old_uid != uid
            && let Ok(pos) = self.records.binary_search_by_key(&old_uid, |r| r.uid)
        {
            self.records.remove(pos);
        }
        self.next_uid = self.next_uid.max(uid.saturating_add(1));
        if self.records.last().is_none_or(|last| last.uid < uid) {
            self.records.push(record);
            self.by_base.insert(base, uid);
            return;
        }
        match self.records.binary_search_by_key(&uid, |r| r.uid) {
            Ok(pos) => {
                if let Some(slot) = self.records.get_mut(pos) {
                    if slot.base() != base {
                        self.by_base.remove(slot.base());
                    }
                    *slot = record;
                }
            }
            Err(pos) => self.records.insert(pos, record),
        }
        self.by_base.insert(base, uid);
    }

    /// The records, ascending by UID.
    pub fn records(&self) -> &[UidRecord] {
        &self.records
    }

    /// The record with `uid`.
    pub fn get(&self, uid: u32) -> Option<&UidRecord> {
        self.records
            .binary_search_by_key(&uid, |r| r.uid)
            .ok()
            .and_then(|pos| self.records.get(pos))
    }

    /// The UID of the file whose base name (before `:`) is `base`.
    pub fn uid_of(&self, base: &str) -> Option<u32> {
        self.by_base.get(base).copied()
    }

    /// Gives the file the next UID; `None` when the UID space is used up.
    pub fn add(&mut self, file_name: &str) -> Option<u32> {
        let uid = self.next_uid;
        if uid == 0 || uid == u32::MAX {
            return None;
        }
        self.insert(UidRecord {
            uid,
            extensions: Vec::new(),
            file_name: base_name(file_name).to_owned(),
        });
        Some(uid)
    }

    /// Keeps only the records for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&UidRecord) -> bool) {
        let by_base = &mut self.by_base;
        self.records.retain(|r| {
            let k = keep(r);
            if !k {
                by_base.remove(r.base());
            }
            k
        });
    }

    /// The file in version 3 format, as Dovecot writes it: file names without the info part.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(64 + self.records.len() * 64);
        out.push_str(&format!("3 V{} N{}", self.uid_validity, self.next_uid));
        if let Some(guid) = &self.guid {
            out.push_str(" G");
            out.push_str(guid);
        }
        for ext in &self.header_extensions {
            out.push(' ');
            out.push_str(ext);
        }
        out.push('\n');
        for r in &self.records {
            out.push_str(&r.uid.to_string());
            for ext in &r.extensions {
                out.push(' ');
                out.push_str(ext);
            }
            out.push_str(" :");
            out.push_str(r.base());
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// One record line; `None` if it is malformed (Dovecot would call the file broken; we skip
/// the line, it cannot be matched to a file anyway).
fn parse_record(line: &str, version: u8) -> Option<UidRecord> {
    let (uid, rest) = line.split_once(' ')?;
    // `parse` would also take a leading `+`.
    if !uid.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let uid: u32 = uid.parse().ok()?;
    if uid == 0 || uid == u32::MAX {
        return None;
    }
    let mut extensions = Vec::new();
    let file_name = if let Some(name) = rest.strip_prefix(':').filter(|_| version != 1) {
        // The usual record, without extensions.
        name
    } else if version == 1 {
        rest.trim_start_matches(' ')
    } else {
        let mut rest = rest;
        loop {
            rest = rest.trim_start_matches(' ');
            if let Some(name) = rest.strip_prefix(':') {
                break name;
            }
            let (field, next) = rest.split_once(' ').unwrap_or((rest, ""));
            if field.is_empty() {
                return None;
            }
            // Dovecot drops extension fields whose key is not A-Z; so do we.
            if field.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
                extensions.push(field.to_owned());
            }
            rest = next;
        }
    };
    if file_name.is_empty() || file_name.contains(['/', '\r', '\n', '\0']) {
        return None;
    }
    Some(UidRecord {
        uid,
        extensions,
        file_name: file_name.to_owned(),
    })
}

/// What a [`UidlistFile::refresh`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// Nothing changed.
    Unchanged,
    /// Records were appended or the file was replaced.
    Changed,
    /// There is no uidlist.
    Missing,
    /// The file exists but its header cannot be parsed.
    Corrupt,
}

/// A uidlist as last read from disk, re-read only when it changed (appended lines only, when
/// the file was appended to).
#[derive(Debug)]
pub(crate) struct UidlistFile {
    pub path: PathBuf,
    pub list: Option<Uidlist>,
    /// Stamp of the file when last read; `None` forces a look at the file.
    stamp: Option<FileStamp>,
    ino: u64,
    offset: u64,
}

impl UidlistFile {
    pub fn new(dir: &Path) -> UidlistFile {
        UidlistFile {
            path: dir.join(UIDLIST_NAME),
            list: None,
            stamp: None,
            ino: 0,
            offset: 0,
        }
    }

    /// Brings `list` up to date with the file.
    pub fn refresh(&mut self) -> Result<Refresh, MaildirError> {
        let now = FileStamp::read(&self.path)?;
        if now.is_some() && now == self.stamp && self.list.is_some() {
            return Ok(Refresh::Unchanged);
        }
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.list = None;
                self.stamp = None;
                return Ok(Refresh::Missing);
            }
            Err(e) => return Err(MaildirError::io("open", &self.path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| MaildirError::io("stat", &self.path, e))?;
        let stamp = FileStamp::of(&meta);
        let io_err = |e| MaildirError::io("read", &self.path, e);
        if let Some(list) = self.list.as_mut()
            && stamp.ino == self.ino
            && stamp.size >= self.offset
        {
            if stamp.size == self.offset {
                self.stamp = Some(stamp);
                return Ok(Refresh::Unchanged);
            }
            file.seek(SeekFrom::Start(self.offset)).map_err(io_err)?;
            let mut tail = Vec::new();
            file.take(MAX_UIDLIST_BYTES)
                .read_to_end(&mut tail)
                .map_err(io_err)?;
            let used = list.parse_appended(&tail);
            self.offset += used as u64;
            self.stamp = (used == tail.len()).then_some(stamp);
            return Ok(Refresh::Changed);
        }
        let mut data = Vec::new();
        file.take(MAX_UIDLIST_BYTES)
            .read_to_end(&mut data)
            .map_err(io_err)?;
        match Uidlist::parse(&data) {
            Ok((list, used)) => {
                self.list = Some(list);
                self.ino = stamp.ino;
                self.offset = used as u64;
                self.stamp = (used == data.len()).then_some(stamp);
                Ok(Refresh::Changed)
            }
            Err(_) => {
                self.list = None;
                self.stamp = None;
                Ok(Refresh::Corrupt)
            }
        }
    }

    /// Records that `list` was just written (by rename of a lock file with inode `ino`): the
    /// next refresh reads only what others append after it.
    pub fn written(&mut self, list: Uidlist, ino: u64, len: usize) {
        self.list = Some(list);
        self.ino = ino;
        self.offset = len as u64;
        self.stamp = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Dovecot 2.3 writes it: `V N G` header, records without the info part, `W`/`S`
    /// only where the name lacks them, POP3 `P`/`O` and message `G` extensions.
    const DOVECOT: &str = "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n\
        25006 :1275660187.M27052P13352.mail.example.org,S=2042,W=2090\n\
        25007 W3021 :1275660190.M130117P13353.mail.example.org,S=2954\n\
        25012 P1a2b3c4d O3 :1275661001.M913211P14420.mail.example.org,S=811,W=830\n\
        25021 G6b1e3c6f0d0c5b4f6e0700008c4a11c1 S1 W1 :1275671111.M1P2.mx.example.org\n";

    #[test]
    fn dovecot_sample_round_trips_byte_exact() -> Result<(), &'static str> {
        let (list, used) = Uidlist::parse(DOVECOT.as_bytes())?;
        assert_eq!(used, DOVECOT.len());
        assert_eq!(list.uid_validity, 1_275_660_208);
        assert_eq!(list.next_uid, 25_022);
        assert_eq!(
            list.guid.as_deref(),
            Some("3085f01b7f11094c501100008c4a11c1")
        );
        assert_eq!(list.records().len(), 4);
        let r = list.get(25_007).ok_or("25007")?;
        assert_eq!(r.vsize(), Some(3021));
        assert_eq!(list.get(25_021).and_then(UidRecord::size), Some(1));
        assert_eq!(
            list.get(25_012).and_then(|r| r.extension(b'P')),
            Some("1a2b3c4d")
        );
        assert_eq!(
            list.uid_of("1275660187.M27052P13352.mail.example.org,S=2042,W=2090"),
            Some(25_006)
        );
        assert_eq!(String::from_utf8_lossy(&list.to_bytes()), DOVECOT);
        Ok(())
    }

    #[test]
    fn header_keys_in_any_order_and_unknown_ones_kept() -> Result<(), &'static str> {
        let text = "3 N7 X1 G3085F01B7F11094C501100008C4A11C1 V42 Zabc\n3 :1.M1.h,S=1\n";
        let (list, _) = Uidlist::parse(text.as_bytes())?;
        assert_eq!((list.uid_validity, list.next_uid), (42, 7));
        assert_eq!(list.header_extensions, ["X1", "Zabc"]);
        let written = list.to_bytes();
        assert!(written.starts_with(b"3 V42 N7 G3085f01b7f11094c501100008c4a11c1 X1 Zabc\n"));
        let (again, _) = Uidlist::parse(&written)?;
        assert_eq!(again, list);
        Ok(())
    }

    #[test]
    fn appended_records_later_wins_and_partial_line_waits() -> Result<(), &'static str> {
        let mut text = String::from(DOVECOT);
        // Dovecot appends without rewriting; a repeated file name moves to the later UID.
        text.push_str("25022 :1275680000.M5P6.mail.example.org,S=10,W=11\n");
        text.push_str("25023 :1275660187.M27052P13352.mail.example.org,S=2042,W=2090\n");
        text.push_str("25024 :1275680001.M7P8.mail.exa");
        let (mut list, used) = Uidlist::parse(text.as_bytes())?;
        assert_eq!(used, text.len() - "25024 :1275680001.M7P8.mail.exa".len());
        assert_eq!(list.next_uid, 25_024);
        assert!(list.get(25_006).is_none());
        assert_eq!(
            list.uid_of("1275660187.M27052P13352.mail.example.org,S=2042,W=2090"),
            Some(25_023)
        );
        let tail = b"25024 :1275680001.M7P8.mail.example.org,S=1\n";
        assert_eq!(list.parse_appended(tail), tail.len());
        assert_eq!(list.next_uid, 25_025);
        assert_eq!(
            list.records().iter().map(|r| r.uid).collect::<Vec<_>>(),
            [25_007, 25_012, 25_021, 25_022, 25_023, 25_024]
        );
        Ok(())
    }

    #[test]
    fn names_with_info_match_by_base_and_are_written_without() -> Result<(), &'static str> {
        let (list, _) =
            Uidlist::parse(b"3 V1 N3 G3085f01b7f11094c501100008c4a11c1\n2 :1.M2.h,S=3:2,RS\n")?;
        assert_eq!(list.uid_of("1.M2.h,S=3"), Some(2));
        assert!(list.to_bytes().ends_with(b"\n2 :1.M2.h,S=3\n"));
        Ok(())
    }

    #[test]
    fn version_1_is_read() -> Result<(), &'static str> {
        let (list, _) = Uidlist::parse(b"1 1275660208 25\n3 1.M1.h:2,S\n7 2.M1.h\n")?;
        assert_eq!((list.uid_validity, list.next_uid), (1_275_660_208, 25));
        assert_eq!(list.uid_of("1.M1.h"), Some(3));
        assert!(list.to_bytes().starts_with(b"3 V1275660208 N25\n"));
        Ok(())
    }

    #[test]
    fn broken_headers_fail_bad_records_are_skipped() -> Result<(), &'static str> {
        for bad in [
            &b""[..],
            b"3 V1 N1",
            b"3 V0 N1\n",
            b"2 V1 N1\n",
            b"3 V1 N1 Gzz\n",
        ] {
            assert!(
                Uidlist::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let text = "3 V1 N2\nx :a\n0 :b\n5 lower :c\n6 :d/e\n7\n8 :ok\n9 W1 :\n";
        let (mut list, _) = Uidlist::parse(text.as_bytes())?;
        assert_eq!(list.records().len(), 2, "{:?}", list.records());
        assert!(
            list.uid_of("c").is_some(),
            "an extension key that is not A-Z is dropped"
        );
        assert_eq!(list.get(5).map(|r| r.extensions.len()), Some(0));
        assert_eq!(list.next_uid, 9);
        assert_eq!(list.add("new:2,S"), Some(9));
        assert_eq!(list.uid_of("new"), Some(9));
        Ok(())
    }
}
