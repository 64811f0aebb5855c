//! How a login name or recipient address becomes a passwd-file key: Dovecot's
//! `username_format` (`%u` or `%n`), a default domain, accepted domains, recipient
//! delimiters, and the home directory template.

use std::collections::BTreeMap;

/// Which part of the address the passwd-file is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsernameFormat {
    /// `%u`: the full `user@domain` (one file for many domains).
    #[default]
    Full,
    /// `%n`: the local part only (users shared by all accepted domains).
    LocalPart,
}

/// Lookup settings for a [`UserDb`](crate::UserDb).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDbOptions {
    /// How keys in the file look.
    pub username_format: UsernameFormat,
    /// Domain for names without `@` (Dovecot's `auth_default_realm`).
    pub default_domain: Option<String>,
    /// Domains served; names in other domains are not found. Empty: any domain.
    pub domains: Vec<String>,
    /// Home for entries with an empty home field: `%u` full user, `%n` local part, `%d`
    /// domain, `%%` a percent sign (also `%{user}`, `%{username}`, `%{domain}`).
    pub home_template: Option<String>,
    /// Characters that separate an address extension (`user+detail@dom`), like Postfix's
    /// `recipient_delimiter`: any one of them splits. Empty: no extensions.
    pub recipient_delimiters: String,
    /// Per domain, the passwd-file key that receives mail for unknown local parts.
    pub catch_all: BTreeMap<String, String>,
    /// Lowercase names before lookup (Dovecot's `%Lu`). On by default.
    pub lowercase: bool,
}

impl Default for UserDbOptions {
    fn default() -> Self {
        Self {
            username_format: UsernameFormat::Full,
            default_domain: None,
            domains: Vec::new(),
            home_template: None,
            recipient_delimiters: String::new(),
            catch_all: BTreeMap::new(),
            lowercase: true,
        }
    }
}

/// A name taken apart: local part and domain (after the default domain applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) local: String,
    pub(crate) domain: Option<String>,
}

impl Address {
    /// `local@domain`, or `local` without a domain.
    pub(crate) fn full(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{}@{domain}", self.local),
            None => self.local.clone(),
        }
    }
}

impl UserDbOptions {
    /// Splits and checks `name`. `None` for names that cannot be users: empty parts,
    /// characters that would be dangerous in a path, or a domain not served.
    pub(crate) fn address(&self, name: &str) -> Option<Address> {
        let name = if self.lowercase {
            name.to_lowercase()
        } else {
            name.to_owned()
        };
        let (local, domain) = match name.rsplit_once('@') {
            Some((local, domain)) => (local.to_owned(), Some(domain.to_owned())),
            None => (name, self.default_domain.clone()),
        };
        if !valid_local(&local) {
            return None;
        }
        if let Some(domain) = &domain {
            if !valid_domain(domain) {
                return None;
            }
            if !self.domains.is_empty()
                && !self
                    .domains
                    .iter()
                    .any(|served| served.eq_ignore_ascii_case(domain))
            {
                return None;
            }
        }
        Some(Address { local, domain })
    }

    /// The passwd-file key for `address`.
    pub(crate) fn key(&self, address: &Address) -> String {
        match self.username_format {
            UsernameFormat::Full => address.full(),
            UsernameFormat::LocalPart => address.local.clone(),
        }
    }

    /// `local` without its extension, and the extension, if a delimiter occurs in it.
    pub(crate) fn split_detail<'a>(&self, local: &'a str) -> Option<(&'a str, &'a str)> {
        if self.recipient_delimiters.is_empty() {
            return None;
        }
        let at = local.find(|c| self.recipient_delimiters.contains(c))?;
        let base = local.get(..at)?;
        let delimiter_len = local.get(at..)?.chars().next()?.len_utf8();
        let detail = local.get(at + delimiter_len..)?;
        (!base.is_empty()).then_some((base, detail))
    }

    /// The home template expanded for `address`, if there is a template.
    pub(crate) fn home(&self, address: &Address) -> Option<String> {
        let template = self.home_template.as_ref()?;
        let full = address.full();
        let domain = address.domain.as_deref().unwrap_or_default();
        let mut out = String::new();
        let mut rest = template.as_str();
        while let Some(at) = rest.find('%') {
            out.push_str(rest.get(..at).unwrap_or_default());
            let after = rest.get(at + 1..).unwrap_or_default();
            let (value, used) = match after.chars().next() {
                Some('u') => (full.as_str(), 1),
                Some('n') => (address.local.as_str(), 1),
                Some('d') => (domain, 1),
                Some('%') => ("%", 1),
                Some('{') => match after.find('}') {
                    Some(close) => match after.get(1..close) {
                        Some("user") => (full.as_str(), close + 1),
                        Some("username") => (address.local.as_str(), close + 1),
                        Some("domain") => (domain, close + 1),
                        _ => ("%", 0),
                    },
                    None => ("%", 0),
                },
                _ => ("%", 0),
            };
            out.push_str(value);
            rest = after.get(used..).unwrap_or_default();
        }
        out.push_str(rest);
        Some(out)
    }
}

/// A local part that is safe to put into a path: no `/`, NUL or control characters,
/// no whitespace, not `.` or `..`.
fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local != "."
        && local != ".."
        && !local
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

/// Letters, digits, `-`, `_` and dots between non-empty labels (IDNs in A-label form).
fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_defaulted() {
        let options = UserDbOptions {
            default_domain: Some("example.org".into()),
            domains: vec!["example.org".into(), "example.net".into()],
            ..UserDbOptions::default()
        };
        let address = options.address("Alice").unwrap();
        assert_eq!(address.full(), "alice@example.org");
        assert_eq!(
            options.address("bob@EXAMPLE.net").unwrap().full(),
            "bob@example.net"
        );
        assert!(options.address("bob@example.com").is_none());
        assert!(options.address("../x@example.org").is_none());
        assert!(options.address("x@../example.org").is_none());
        assert!(options.address("@example.org").is_none());
        assert!(options.address("a b@example.org").is_none());
    }

    #[test]
    fn details_split_at_the_first_delimiter() {
        let options = UserDbOptions {
            recipient_delimiters: "+-".into(),
            ..UserDbOptions::default()
        };
        assert_eq!(
            options.split_detail("alice+lists"),
            Some(("alice", "lists"))
        );
        assert_eq!(options.split_detail("alice-a+b"), Some(("alice", "a+b")));
        assert_eq!(options.split_detail("+x"), None);
        assert_eq!(options.split_detail("alice"), None);
    }

    #[test]
    fn home_template_expands_dovecot_variables() {
        let options = UserDbOptions {
            home_template: Some("/var/vmail/%d/%n/%%/%{user}/%x/%{bogus}".into()),
            ..UserDbOptions::default()
        };
        let address = Address {
            local: "alice".into(),
            domain: Some("example.org".into()),
        };
        assert_eq!(
            options.home(&address).unwrap(),
            "/var/vmail/example.org/alice/%/alice@example.org/%x/%{bogus}"
        );
    }
}
