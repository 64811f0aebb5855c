//! Quota usage of a Maildir from the `,S=` sizes in file names, without opening the files.
//!
//! Only files without a usable `S=` are `stat`ed. The scan is not atomic: a file Dovecot moves
//! from `new/` to `cur/` during it may be counted twice or missed, which is fine for a check
//! made before delivery.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::MaildirError;
use crate::name::MessageName;
use crate::store::{Folder, MailStore};

/// Space and messages used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sum of stored sizes (`S=`), in bytes.
    pub bytes: u64,
    /// Number of messages.
    pub messages: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, other: Usage) -> Usage {
        Usage {
            bytes: self.bytes.saturating_add(other.bytes),
            messages: self.messages.saturating_add(other.messages),
        }
    }
}

/// A per-user limit; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimit {
    /// Maximum bytes.
    pub bytes: Option<u64>,
    /// Maximum messages.
    pub messages: Option<u64>,
}

impl QuotaLimit {
    /// Whether one more message of `incoming_bytes` fits on top of `usage`.
    pub fn allows(&self, usage: Usage, incoming_bytes: u64) -> bool {
        let bytes_ok = self
            .bytes
            .is_none_or(|max| usage.bytes.saturating_add(incoming_bytes) <= max);
        let messages_ok = self
            .messages
            .is_none_or(|max| usage.messages.saturating_add(1) <= max);
        bytes_ok && messages_ok
    }
}

impl Folder {
    /// Usage of this folder (`new/` and `cur/`).
    pub fn usage(&self) -> Result<Usage, MaildirError> {
        Ok(scan(&self.new_dir())? + scan(&self.cur_dir())?)
    }
}

impl MailStore {
    /// Usage of every folder of the store.
    pub fn usage(&self) -> Result<Usage, MaildirError> {
        let mut total = Usage::default();
        for folder in self.folders()? {
            total = total + folder.usage()?;
        }
        Ok(total)
    }
}

fn scan(dir: &Path) -> Result<Usage, MaildirError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Usage::default()),
        Err(e) => return Err(MaildirError::io("read directory", dir, e)),
    };
    let mut usage = Usage::default();
    for entry in entries {
        let entry = entry.map_err(|e| MaildirError::io("read directory", dir, e))?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with('.') {
            continue;
        }
        let size = match MessageName::parse(&file_name).size {
            Some(size) => size,
            None => match entry.metadata() {
                Ok(meta) if meta.is_file() => meta.len(),
                Ok(_) => continue,
                // Moved to cur/ (or expunged) since readdir.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(MaildirError::io("stat", entry.path(), e)),
            },
        };
        usage.bytes = usage.bytes.saturating_add(size);
        usage.messages += 1;
    }
    Ok(usage)
}
