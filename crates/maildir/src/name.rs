//! Maildir file names: generating unique ones and reading back the `,S=`/`,W=` sizes.
//!
//! A delivered file is named `<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>` (the unique
//! part follows the Maildir spec, the size fields Dovecot's convention). Files in `cur/` may
//! carry an info suffix `:2,<flags>` after the fields.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Deliveries made by this process so far; the `Q` field keeps names unique within one
/// microsecond.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The unique part of a Maildir file name, before any `,S=` field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UniqueName {
    /// Seconds since the epoch at delivery.
    pub secs: u64,
    /// Microseconds within that second (`M`).
    pub usecs: Option<u32>,
    /// Delivering process (`P`).
    pub pid: Option<u32>,
    /// Per-process delivery counter (`Q`).
    pub seq: Option<u64>,
    /// The host name, with `/` and `:` escaped as `\057` and `\072`.
    pub host: String,
}

impl UniqueName {
    /// A fresh name for a delivery happening now on this host in this process.
    pub fn generate() -> UniqueName {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UniqueName {
            secs: now.as_secs(),
            usecs: Some(now.subsec_micros()),
            pid: Some(std::process::id()),
            seq: Some(SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1),
            host: local_host().to_owned(),
        }
    }

    /// Parses the unique part (`1700000000.M1P2Q3.host`); `None` if it does not look like one.
    /// Unknown `X<n>` fields of the spec (`#`, `X`, `R`, `I`, `V`) are accepted and ignored.
    pub fn parse(s: &str) -> Option<UniqueName> {
        let (secs, rest) = s.split_once('.')?;
        let (middle, host) = rest.split_once('.')?;
        if host.is_empty() || host.contains([',', ':', '/']) {
            return None;
        }
        let mut name = UniqueName {
            secs: parse_digits(secs)?,
            usecs: None,
            pid: None,
            seq: None,
            host: host.to_owned(),
        };
        if let Some(pid) = parse_digits(middle) {
            // The spec's original form `<secs>.<pid>.<host>`.
            name.pid = Some(pid.try_into().ok()?);
            return Some(name);
        }
        let mut fields = middle;
        while let Some(tag) = fields.chars().next() {
            let body = fields.get(tag.len_utf8()..)?;
            let end = body
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(body.len());
            let (value, next) = body.split_at(end);
            match tag {
                'M' => name.usecs = Some(parse_digits(value)?.try_into().ok()?),
                'P' => name.pid = Some(parse_digits(value)?.try_into().ok()?),
                'Q' => name.seq = Some(parse_digits(value)?),
                '#' | 'X' | 'R' | 'I' | 'V' if !value.is_empty() => {}
                _ => return None,
            }
            fields = next;
        }
        Some(name)
    }
}

impl fmt::Display for UniqueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.secs)?;
        if let Some(usecs) = self.usecs {
            write!(f, "M{usecs}")?;
        }
        if let Some(pid) = self.pid {
            write!(f, "P{pid}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, "Q{seq}")?;
        }
        write!(f, ".{}", self.host)
    }
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// This host's name as it goes into file names, computed once.
pub fn local_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        escape_host(if raw.is_empty() { "localhost" } else { &raw })
    })
}

/// Escapes a host name the way Dovecot does: `/` becomes `\057` and `:` becomes `\072`, so the
/// name can neither leave its directory nor be mistaken for the `:2,` info separator.
pub fn escape_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            // A comma would be read as the start of a `,S=` field.
            ',' => out.push_str("\\054"),
            c => out.push(c),
        }
    }
    out
}

/// A whole file name as found in `new/` or `cur/`: unique part, size fields, info.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageName {
    /// Everything before the first `,` or `:` (normally a [`UniqueName`]).
    pub base: String,
    /// `S=`: the exact size of the file in bytes.
    pub size: Option<u64>,
    /// `W=`: the size with CRLF line ends (IMAP's RFC822.SIZE).
    pub vsize: Option<u64>,
    /// What follows `:`, e.g. `2,S` (flags), if present.
    pub info: Option<String>,
}

impl MessageName {
    /// Name of a freshly delivered file (no info part).
    pub fn new(base: &UniqueName, size: u64, vsize: u64) -> MessageName {
        MessageName {
            base: base.to_string(),
            size: Some(size),
            vsize: Some(vsize),
            info: None,
        }
    }

    /// Splits a file name. Never fails: fields it does not know are dropped and a malformed
    /// `S=` is treated as absent (callers fall back to `stat`).
    pub fn parse(file_name: &str) -> MessageName {
        let (head, info) = match file_name.split_once(':') {
            Some((head, info)) => (head, Some(info.to_owned())),
            None => (file_name, None),
        };
        let mut parts = head.split(',');
        let base = parts.next().unwrap_or_default().to_owned();
        let mut name = MessageName {
            base,
            size: None,
            vsize: None,
            info,
        };
        for part in parts {
            if let Some(v) = part.strip_prefix("S=") {
                name.size = parse_digits(v);
            } else if let Some(v) = part.strip_prefix("W=") {
                name.vsize = parse_digits(v);
            }
        }
        name
    }

    /// The unique part, parsed.
    pub fn unique(&self) -> Option<UniqueName> {
        UniqueName::parse(&self.base)
    }
}

impl fmt::Display for MessageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if let Some(size) = self.size {
            write!(f, ",S={size}")?;
        }
        if let Some(vsize) = self.vsize {
            write!(f, ",W={vsize}")?;
        }
        if let Some(info) = &self.info {
            write!(f, ":{info}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_name_parses_back() {
        let a = UniqueName::generate();
        let b = UniqueName::generate();
        assert_ne!(a, b);
        let full = MessageName::new(&a, 1234, 1260).to_string();
        assert!(full.ends_with(",S=1234,W=1260"), "{full}");
        let parsed = MessageName::parse(&full);
        assert_eq!(parsed.size, Some(1234));
        assert_eq!(parsed.vsize, Some(1260));
        assert_eq!(parsed.info, None);
        assert_eq!(parsed.unique(), Some(a));
    }

    #[test]
    fn format_is_dovecot_convention() {
        let n = UniqueName {
            secs: 1_700_000_000,
            usecs: Some(42),
            pid: Some(777),
            seq: Some(3),
            host: escape_host("mx1.example.org"),
        };
        let name = MessageName::new(&n, 10, 12).to_string();
        assert_eq!(name, "1700000000.M42P777Q3.mx1.example.org,S=10,W=12");
    }

    #[test]
    fn parses_dovecot_written_names_with_flags() {
        let name = MessageName::parse("1700000000.M512345P4242.vm,S=811,W=830:2,RS");
        assert_eq!(name.size, Some(811));
        assert_eq!(name.vsize, Some(830));
        assert_eq!(name.info.as_deref(), Some("2,RS"));
        let unique = name.unique();
        assert_eq!(
            unique,
            Some(UniqueName {
                secs: 1_700_000_000,
                usecs: Some(512_345),
                pid: Some(4242),
                seq: None,
                host: "vm".into()
            })
        );
    }

    #[test]
    fn names_without_sizes_or_odd_fields() {
        let n = MessageName::parse("1.2.host");
        assert_eq!((n.size, n.vsize), (None, None));
        assert_eq!(n.unique().and_then(|u| u.pid), Some(2));
        assert_eq!(MessageName::parse("x,S=abc").size, None);
        assert_eq!(UniqueName::parse("nodots"), None);
        assert_eq!(UniqueName::parse("12.Z9.host"), None);
    }

    #[test]
    fn host_escaping() {
        assert_eq!(escape_host("a/b:c"), "a\\057b\\072c");
        assert_eq!(escape_host("a,b"), "a\\054b");
        assert!(!local_host().contains(['/', ':', ',']));
    }
}
