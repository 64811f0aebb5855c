//! The signing table, as OpenDKIM users know it: From-header address or domain patterns
//! mapped to the keys to sign with, first match in file order wins.

use std::str::FromStr;

/// What a signing-table line matches against the From address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromPattern {
    /// `alice@example.com`: that address only.
    Address(String),
    /// `example.com`: that domain only.
    Domain(String),
    /// `*.example.com`: any subdomain of it (not the domain itself: list it too if wanted).
    Subdomains(String),
    /// `*`: any From domain.
    Any,
}

impl FromStr for FromPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        if text.ends_with("*.") {
            return Err(format!("{text:?}: expected *.domain"));
        }
        let text = text.strip_suffix('.').unwrap_or(&text).to_string();
        let valid_domain = |d: &str| {
            !d.is_empty()
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        };
        if text == "*" {
            return Ok(FromPattern::Any);
        }
        if let Some(domain) = text.strip_prefix("*.") {
            return valid_domain(domain)
                .then(|| FromPattern::Subdomains(domain.to_string()))
                .ok_or_else(|| format!("{text:?}: expected *.domain"));
        }
        if let Some((local, domain)) = text.rsplit_once('@') {
            if local.is_empty() || !valid_domain(domain) {
                return Err(format!("{text:?}: expected local@domain"));
            }
            if local == "*" {
                return Ok(FromPattern::Domain(domain.to_string()));
            }
            return Ok(FromPattern::Address(text.clone()));
        }
        if valid_domain(&text) {
            Ok(FromPattern::Domain(text))
        } else {
            Err(format!(
                "{text:?}: expected a domain, *.domain, an address or *"
            ))
        }
    }
}

impl FromPattern {
    /// Whether the pattern covers `address` (lowercased `local@domain`).
    pub fn matches(&self, address: &str) -> bool {
        let domain = address.rsplit_once('@').map_or(address, |(_, d)| d);
        match self {
            FromPattern::Address(a) => a == address,
            FromPattern::Domain(d) => d == domain,
            FromPattern::Subdomains(d) => domain
                .strip_suffix(d.as_str())
                .is_some_and(|head| head.ends_with('.') && head.len() > 1),
            FromPattern::Any => true,
        }
    }
}

/// One line of the table.
#[derive(Debug)]
pub struct SigningTableEntry<K> {
    pub pattern: FromPattern,
    pub keys: Vec<K>,
}

/// The table, in file order.
#[derive(Debug)]
pub struct SigningTable<K> {
    entries: Vec<SigningTableEntry<K>>,
}

impl<K> SigningTable<K> {
    pub fn new(entries: Vec<SigningTableEntry<K>>) -> Self {
        SigningTable { entries }
    }

    pub fn entries(&self) -> &[SigningTableEntry<K>] {
        &self.entries
    }

    /// The keys for the first line matching `address`, if any.
    pub fn lookup(&self, address: &str) -> Option<&[K]> {
        self.entries
            .iter()
            .find(|entry| entry.pattern.matches(address))
            .map(|entry| entry.keys.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SigningTable<&'static str> {
        let line = |p: &str, k| SigningTableEntry {
            pattern: p.parse().unwrap(),
            keys: vec![k],
        };
        SigningTable::new(vec![
            line("ceo@example.com", "ceo"),
            line("example.com", "main"),
            line("*.example.com", "sub"),
            line("*@example.org", "org"),
        ])
    }

    #[test]
    fn first_match_in_file_order() {
        let t = table();
        assert_eq!(t.lookup("ceo@example.com"), Some(&["ceo"][..]));
        assert_eq!(t.lookup("bob@example.com"), Some(&["main"][..]));
        assert_eq!(t.lookup("bob@lists.example.com"), Some(&["sub"][..]));
        assert_eq!(t.lookup("bob@a.b.example.com"), Some(&["sub"][..]));
        assert_eq!(t.lookup("bob@example.org"), Some(&["org"][..]));
    }

    #[test]
    fn wildcard_does_not_match_lookalikes() {
        let t = table();
        assert_eq!(t.lookup("bob@badexample.com"), None);
        assert_eq!(t.lookup("bob@example.com.evil"), None);
        assert_eq!(t.lookup("bob@.example.com"), None);
    }

    #[test]
    fn patterns_are_validated() {
        assert!("".parse::<FromPattern>().is_err());
        assert!("*.".parse::<FromPattern>().is_err());
        assert!("a@".parse::<FromPattern>().is_err());
        assert!("exa mple.com".parse::<FromPattern>().is_err());
        assert_eq!("*".parse::<FromPattern>(), Ok(FromPattern::Any));
        assert_eq!(
            "Example.COM.".parse::<FromPattern>(),
            Ok(FromPattern::Domain("example.com".into()))
        );
    }
}
