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

impl QuotaLimit {
    /// Applies one Dovecot `quota_rule` value on top of this limit, as a passwd-file's
    /// `userdb_quota_rule=*:storage=1G` overrides the configured default; `default` is what
    /// `%` and `+`/`-` values are relative to.
    ///
    /// Forms: `*:storage=<n>[b|k|M|G|T|%]` (no unit: kilobytes, as in Dovecot),
    /// `*:bytes=<n>[unit]`, `*:messages=<n>[%]`, several joined by `:`, `*:ignore` (no limit).
    /// A value of 0 means unlimited. Rules for single mailboxes (`Trash:ignore`,
    /// `Trash:storage=+100M`) are accepted and left out: usage is counted over all folders.
    pub fn with_dovecot_rule(self, rule: &str, default: QuotaLimit) -> Result<Self, String> {
        let (mailbox, limits) = rule
            .split_once(':')
            .ok_or_else(|| format!("{rule:?}: expected <mailbox>:<limit>=<value>"))?;
        let mut limit = self;
        for part in limits.split(':') {
            if part.eq_ignore_ascii_case("ignore") || part.eq_ignore_ascii_case("noenforcing") {
                if mailbox == "*" && part.eq_ignore_ascii_case("ignore") {
                    limit = QuotaLimit::default();
                }
                continue;
            }
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{rule:?}: expected <limit>=<value>, got {part:?}"))?;
            let (which, base, default_unit) = match key.trim().to_ascii_lowercase().as_str() {
                "storage" => (Which::Bytes, default.bytes, 1024),
                "bytes" => (Which::Bytes, default.bytes, 1),
                "messages" => (Which::Messages, default.messages, 1),
                other => return Err(format!("{rule:?}: unknown limit {other:?}")),
            };
            let unit_allowed = matches!(which, Which::Bytes);
            let parsed = parse_rule_value(value.trim(), base, default_unit, unit_allowed)
                .map_err(|reason| format!("{rule:?}: {reason}"))?;
            if mailbox == "*" {
                match which {
                    Which::Bytes => limit.bytes = parsed,
                    Which::Messages => limit.messages = parsed,
                }
            }
        }
        Ok(limit)
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Bytes,
    Messages,
}

/// One rule value: `None` is unlimited (0, or relative to an unlimited default).
fn parse_rule_value(
    text: &str,
    base: Option<u64>,
    default_unit: u64,
    unit_allowed: bool,
) -> Result<Option<u64>, String> {
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1i8, text.get(1..).unwrap_or_default()),
        Some(b'-') => (-1i8, text.get(1..).unwrap_or_default()),
        _ => (0i8, text),
    };
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, suffix) = rest.split_at(digits_end);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if suffix == "%" {
        let Some(base) = base else { return Ok(None) };
        let amount = u64::try_from(u128::from(base) * u128::from(number) / 100).unwrap_or(u64::MAX);
        return Ok(apply_sign(sign, Some(base), amount));
    }
    let multiplier = match suffix {
        "" => default_unit,
        "b" | "B" if unit_allowed => 1,
        "k" | "K" if unit_allowed => 1 << 10,
        "m" | "M" if unit_allowed => 1 << 20,
        "g" | "G" if unit_allowed => 1 << 30,
        "t" | "T" if unit_allowed => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit {suffix:?}")),
    };
    let amount = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if sign == 0 {
        return Ok((amount > 0).then_some(amount));
    }
    Ok(apply_sign(sign, base, amount))
}

/// `+n`/`-n` move the default; relative to an unlimited default stays unlimited.
fn apply_sign(sign: i8, base: Option<u64>, amount: u64) -> Option<u64> {
    let base = base?;
    let value = match sign {
        1 => base.saturating_add(amount),
        -1 => base.saturating_sub(amount),
        _ => amount,
    };
    (value > 0).then_some(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: QuotaLimit = QuotaLimit {
        bytes: None,
        messages: None,
    };

    fn rule(text: &str, default: QuotaLimit) -> Result<QuotaLimit, String> {
        default.with_dovecot_rule(text, default)
    }

    #[test]
    fn dovecot_rule_forms() {
        let gib = 1u64 << 30;
        assert_eq!(rule("*:storage=1G", NONE).unwrap().bytes, Some(gib));
        // Dovecot's unit-less storage is kilobytes; bytes= is bytes.
        assert_eq!(rule("*:storage=100", NONE).unwrap().bytes, Some(102_400));
        assert_eq!(rule("*:bytes=100", NONE).unwrap().bytes, Some(100));
        assert_eq!(
            rule("*:storage=1M:messages=500", NONE).unwrap(),
            QuotaLimit {
                bytes: Some(1 << 20),
                messages: Some(500)
            }
        );
        let default = QuotaLimit {
            bytes: Some(gib),
            messages: Some(1000),
        };
        assert_eq!(rule("*:storage=0", default).unwrap().bytes, None);
        assert_eq!(rule("*:ignore", default).unwrap(), NONE);
        assert_eq!(rule("*:storage=+1G", default).unwrap().bytes, Some(2 * gib));
        assert_eq!(rule("*:storage=50%", default).unwrap().bytes, Some(gib / 2));
        assert_eq!(
            rule("*:messages=-100", default).unwrap().messages,
            Some(900)
        );
        assert_eq!(rule("*:storage=+1G", NONE).unwrap().bytes, None);
        assert_eq!(rule("Trash:storage=+100M", default).unwrap(), default);
        assert_eq!(rule("Trash:ignore", default).unwrap(), default);
    }

    #[test]
    fn bad_dovecot_rules_are_errors() {
        for bad in [
            "storage=1G",
            "*:storage",
            "*:storage=1X",
            "*:messages=1G",
            "*:size=1G",
            "*:storage=",
            "*:storage=99999999999999999999",
            "*:storage=18446744073709551615T",
        ] {
            assert!(rule(bad, NONE).is_err(), "{bad}");
        }
    }
}
