//! Who may send as whom (Postfix's `reject_sender_login_mismatch` with a send-as map).
//!
//! An authenticated user may always use their login as the envelope sender when the login is
//! an address. The map file adds more: `login: address, @domain, /regex/` — `@domain` is any
//! address in the domain, `/regex/` must match the whole address (case-insensitive). `#`
//! comments, blank-started continuation lines, as in the aliases file.

use regex_lite::{Regex, RegexBuilder};

use crate::aliases::{AliasError, logical_lines};

#[derive(Debug, Clone)]
enum Allowed {
    Address(String),
    Domain(String),
    Pattern(Regex),
}

impl Allowed {
    fn matches(&self, sender: &str) -> bool {
        match self {
            Self::Address(a) => a.eq_ignore_ascii_case(sender),
            Self::Domain(d) => sender
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(d)),
            Self::Pattern(re) => re.is_match(sender),
        }
    }
}

/// The parsed map.
#[derive(Debug, Clone, Default)]
pub struct SenderLogins {
    entries: Vec<(String, Vec<Allowed>)>,
}

impl SenderLogins {
    /// Parses the map; every bad line is reported.
    pub fn parse(text: &str) -> Result<SenderLogins, Vec<AliasError>> {
        let entries = logical_lines(text);
        let mut errors = Vec::new();
        let mut map = Vec::new();
        for (line, text) in entries {
            let Some((login, list)) = text.split_once(':') else {
                errors.push(AliasError {
                    line,
                    reason: format!("{text:?}: expected \"login: address, @domain, /regex/\""),
                });
                continue;
            };
            let mut allowed = Vec::new();
            // Regexes may contain commas: split on ", " outside slashes by scanning.
            for item in split_items(list) {
                if let Some(pattern) = item.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
                    match RegexBuilder::new(&format!("^(?:{pattern})$"))
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                    {
                        Ok(re) => allowed.push(Allowed::Pattern(re)),
                        Err(e) => errors.push(AliasError {
                            line,
                            reason: format!("{item}: {e}"),
                        }),
                    }
                } else if let Some(domain) = item.strip_prefix('@') {
                    allowed.push(Allowed::Domain(domain.to_string()));
                } else if item.contains('@') {
                    allowed.push(Allowed::Address(item.to_string()));
                } else {
                    errors.push(AliasError {
                        line,
                        reason: format!("{item:?} is not an address, @domain or /regex/"),
                    });
                }
            }
            map.push((login.trim().to_lowercase(), allowed));
        }
        if errors.is_empty() {
            Ok(SenderLogins { entries: map })
        } else {
            Err(errors)
        }
    }

    /// Whether `login` may use `sender` (an address, not `<>`) as the envelope sender.
    pub fn allows(&self, login: &str, sender: &str) -> bool {
        if login.contains('@') && login.eq_ignore_ascii_case(sender) {
            return true;
        }
        let login = login.to_lowercase();
        self.entries
            .iter()
            .filter(|(l, _)| *l == login)
            .any(|(_, allowed)| allowed.iter().any(|a| a.matches(sender)))
    }
}

fn split_items(list: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut in_regex = false;
    for (i, c) in list.char_indices() {
        match c {
            '/' if list.get(start..i).is_some_and(|s| s.trim().is_empty()) => in_regex = true,
            '/' if in_regex => in_regex = false,
            ',' if !in_regex => {
                items.push(list.get(start..i).unwrap_or_default().trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(list.get(start..).unwrap_or_default().trim());
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_itself_listed_addresses_domains_and_patterns() {
        let map = SenderLogins::parse(
            "alice@example.org: info@example.org, @alice.test, /alice[.+][a-z0-9,]+@example\\.org/\n\
             shared: team@example.org\n",
        )
        .unwrap();
        assert!(map.allows("alice@example.org", "Alice@Example.org"));
        assert!(map.allows("ALICE@example.org", "info@example.org"));
        assert!(map.allows("alice@example.org", "anything@alice.test"));
        assert!(map.allows("alice@example.org", "alice.news@example.org"));
        assert!(map.allows("alice@example.org", "alice+a,b@example.org"));
        assert!(!map.allows("alice@example.org", "xalice.news@example.org"));
        assert!(!map.allows("alice@example.org", "bob@example.org"));
        assert!(!map.allows("bob@example.org", "alice@example.org"));
        assert!(map.allows("shared", "team@example.org"));
        assert!(!map.allows("shared", "shared"));
    }

    #[test]
    fn bad_entries() {
        let errors = SenderLogins::parse("a: b\nc\nd: /(/\n").unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
