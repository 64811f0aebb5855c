//! The aliases file: `key: target, target` lines as in Postfix's aliases(5) and virtual(5).
//!
//! Keys are `local` (that local part in every local domain, like /etc/aliases' `root: you`),
//! `local@domain`, or `@domain` (the domain's catch-all, used only for addresses that match
//! nothing else and are not mailboxes). Targets are addresses; a target without a domain gets
//! the first local domain. `#` starts a comment; a line starting with blanks continues the
//! previous one. Lookups are case-insensitive and try `user+detail@domain` before
//! `user@domain`; an unmatched detail is carried over to the targets (Postfix's
//! `propagate_unmatched_extensions`).

use std::collections::HashMap;
use std::fmt;

/// Expansions nest at most this deep; deeper is a loop or a mistake.
const MAX_DEPTH: usize = 10;
/// One address never fans out to more than this many recipients.
const MAX_EXPANSION: usize = 1000;

/// A parse problem, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for AliasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The parsed file.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    map: HashMap<String, Vec<String>>,
}

/// What an address resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Not aliased: deliver to the address itself.
    Itself,
    /// Replaced by these addresses (already fully expanded, deduplicated).
    Targets(Vec<String>),
}

impl Aliases {
    /// Parses the file's text; every bad line is reported.
    pub fn parse(text: &str, local_domains: &[String]) -> Result<Aliases, Vec<AliasError>> {
        let default_domain = local_domains.first().map(|d| d.to_ascii_lowercase());
        let logical = logical_lines(text);
        let mut errors = Vec::new();
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (line, text) in logical {
            let Some((key, targets)) = text.split_once(':') else {
                errors.push(AliasError {
                    line,
                    reason: format!("{text:?}: expected \"name: address, address\""),
                });
                continue;
            };
            let key = key.trim().to_lowercase();
            if key.is_empty() || key.contains(char::is_whitespace) || key.matches('@').count() > 1 {
                errors.push(AliasError {
                    line,
                    reason: format!("{key:?} is not a name, address or @domain"),
                });
                continue;
            }
            let mut list = Vec::new();
            for target in targets.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if target.starts_with(['|', '/', ':']) {
                    errors.push(AliasError {
                        line,
                        reason: format!(
                            "{target:?}: only addresses are supported (no commands, files or :include:)"
                        ),
                    });
                    continue;
                }
                let target = target.trim_start_matches('<').trim_end_matches('>');
                let full = match (target.rsplit_once('@'), &default_domain) {
                    (Some((local, domain)), _) if !local.is_empty() && !domain.is_empty() => {
                        target.to_string()
                    }
                    (None, Some(domain)) if !target.is_empty() => format!("{target}@{domain}"),
                    _ => {
                        errors.push(AliasError {
                            line,
                            reason: format!("{target:?} is not an address"),
                        });
                        continue;
                    }
                };
                list.push(full);
            }
            if list.is_empty() {
                errors.push(AliasError {
                    line,
                    reason: format!("{key:?} has no target"),
                });
                continue;
            }
            if map.insert(key.clone(), list).is_some() {
                errors.push(AliasError {
                    line,
                    reason: format!("{key:?} is defined twice"),
                });
            }
        }
        if errors.is_empty() {
            Ok(Aliases { map })
        } else {
            Err(errors)
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no aliases.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// One level: the targets of `address` (exact, then without detail, then the bare local
    /// part for a local domain), with an unmatched detail carried over. The catch-all is not
    /// consulted here (see [`catch_all`](Self::catch_all)).
    pub fn lookup(&self, address: &str, local: bool, delimiter: &str) -> Option<Vec<String>> {
        let address = address.to_lowercase();
        let (local_part, domain) = address.rsplit_once('@').unwrap_or((&address, ""));
        let (base, detail) = split_detail(local_part, delimiter);
        let mut candidates = vec![(address.clone(), None)];
        if let Some(detail) = detail {
            candidates.push((format!("{base}@{domain}"), Some(detail)));
        }
        if local {
            candidates.push((local_part.to_string(), None));
            if let Some(detail) = detail {
                candidates.push((base.to_string(), Some(detail)));
            }
        }
        for (key, carried) in candidates {
            if let Some(targets) = self.map.get(&key) {
                return Some(
                    targets
                        .iter()
                        .map(|t| match carried {
                            Some(detail) => add_detail(t, detail, delimiter),
                            None => t.clone(),
                        })
                        .collect(),
                );
            }
        }
        None
    }

    /// The `@domain` catch-all targets, if any.
    pub fn catch_all(&self, domain: &str) -> Option<&[String]> {
        self.map
            .get(&format!("@{}", domain.to_lowercase()))
            .map(Vec::as_slice)
    }

    /// Expands `address` recursively through [`lookup`](Self::lookup) (not catch-alls).
    /// `is_local(domain)` says whether a domain is ours. A target that aliases to itself ends
    /// the recursion there (`alice: alice, archive`); loops and fan-out are bounded.
    pub fn expand(
        &self,
        address: &str,
        is_local: &dyn Fn(&str) -> bool,
        delimiter: &str,
    ) -> Result<Resolved, String> {
        let domain_of = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_string());
        let local = domain_of(address).is_some_and(|d| is_local(&d));
        let Some(first) = self.lookup(address, local, delimiter) else {
            return Ok(Resolved::Itself);
        };
        let mut out: Vec<String> = Vec::new();
        let mut stack: Vec<(String, usize)> = first.into_iter().rev().map(|t| (t, 1)).collect();
        let mut seen = vec![address.to_lowercase()];
        while let Some((target, depth)) = stack.pop() {
            let key = target.to_lowercase();
            // Already expanded (or the original): deliver to it as it is.
            if seen.contains(&key) {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(&target)) {
                    out.push(target);
                }
                continue;
            }
            seen.push(key);
            let local = domain_of(&target).is_some_and(|d| is_local(&d));
            match self.lookup(&target, local, delimiter) {
                Some(next) if depth < MAX_DEPTH => {
                    for t in next.into_iter().rev() {
                        stack.push((t, depth + 1));
                    }
                }
                Some(_) => {
                    return Err(format!("alias nesting deeper than {MAX_DEPTH} at {target}"));
                }
                None => {
                    if !out.iter().any(|o| o.eq_ignore_ascii_case(&target)) {
                        out.push(target);
                    }
                }
            }
            if out.len() + stack.len() > MAX_EXPANSION {
                return Err(format!(
                    "alias expands to more than {MAX_EXPANSION} addresses"
                ));
            }
        }
        Ok(Resolved::Targets(out))
    }
}

/// The file's lines with comments and blank lines dropped and continuation lines (starting
/// with blanks) joined to the previous one, each with its 1-based line number.
pub(crate) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default();
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some((_, previous)) = logical.last_mut()
        {
            previous.push(' ');
            previous.push_str(line.trim());
            continue;
        }
        logical.push((index + 1, line.trim().to_string()));
    }
    logical
}

/// `("alice", Some("lists"))` for `alice+lists` (the first delimiter splits).
pub fn split_detail<'a>(local_part: &'a str, delimiter: &str) -> (&'a str, Option<&'a str>) {
    if delimiter.is_empty() {
        return (local_part, None);
    }
    match local_part.split_once(delimiter) {
        Some((base, detail)) if !base.is_empty() => (base, Some(detail)),
        _ => (local_part, None),
    }
}

fn add_detail(target: &str, detail: &str, delimiter: &str) -> String {
    match target.rsplit_once('@') {
        Some((local, domain)) if split_detail(local, delimiter).1.is_none() => {
            format!("{local}{delimiter}{detail}@{domain}")
        }
        _ => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["example.org".into(), "example.net".into()]
    }

    fn is_local(d: &str) -> bool {
        d == "example.org" || d == "example.net"
    }

    fn expand(aliases: &Aliases, address: &str) -> Vec<String> {
        match aliases.expand(address, &is_local, "+").unwrap() {
            Resolved::Itself => vec![address.to_string()],
            Resolved::Targets(t) => t,
        }
    }

    #[test]
    fn forms_and_lookup_order() {
        let aliases = Aliases::parse(
            "# system\nroot: you\npostmaster: root\nsales@example.org: ann@example.org,\n  bob@example.net\n\
             @example.net: catch@example.org\nlist+x@example.org: x@elsewhere.test\n",
            &domains(),
        )
        .unwrap();
        assert_eq!(aliases.len(), 5);
        assert_eq!(
            expand(&aliases, "postmaster@example.net"),
            ["you@example.org"]
        );
        assert_eq!(
            expand(&aliases, "Sales@Example.org"),
            ["ann@example.org", "bob@example.net"]
        );
        // The detail goes along unless the key matched with it.
        assert_eq!(
            expand(&aliases, "sales+q3@example.org"),
            ["ann+q3@example.org", "bob+q3@example.net"]
        );
        assert_eq!(expand(&aliases, "list+x@example.org"), ["x@elsewhere.test"]);
        // Bare names apply only to local domains; catch-alls are not part of expand().
        assert_eq!(
            expand(&aliases, "root@elsewhere.test"),
            ["root@elsewhere.test"]
        );
        assert_eq!(
            expand(&aliases, "nobody@example.net"),
            ["nobody@example.net"]
        );
        assert_eq!(
            aliases.catch_all("EXAMPLE.net"),
            Some(&["catch@example.org".to_string()][..])
        );
    }

    #[test]
    fn self_reference_loops_and_limits() {
        let aliases = Aliases::parse(
            "alice: alice@example.org, archive@example.org\na: b\nb: a\n",
            &domains(),
        )
        .unwrap();
        assert_eq!(
            expand(&aliases, "alice@example.org"),
            ["alice@example.org", "archive@example.org"]
        );
        // a -> b -> a: delivered to a once, no endless recursion.
        assert_eq!(expand(&aliases, "a@example.org"), ["a@example.org"]);
        let chain: String = (0..20).map(|i| format!("n{i}: n{}\n", i + 1)).collect();
        let deep = Aliases::parse(&chain, &domains()).unwrap();
        assert!(deep.expand("n0@example.org", &is_local, "+").is_err());
        let wide: String = (0..40)
            .map(|i| {
                let targets: Vec<String> = (0..40).map(|j| format!("w{i}x{j}")).collect();
                format!("fan{i}: {}\n", targets.join(", "))
            })
            .collect::<String>()
            + &format!(
                "all: {}\n",
                (0..40)
                    .map(|i| format!("fan{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        let wide = Aliases::parse(&wide, &domains()).unwrap();
        assert!(wide.expand("all@example.org", &is_local, "+").is_err());
    }

    #[test]
    fn bad_lines_are_reported_with_numbers() {
        let errors = Aliases::parse(
            "ok: a@b.test\nno colon\nx: |/bin/sh\ny:\nok: twice@b.test\na b: c\n",
            &domains(),
        )
        .unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 3, 4, 5, 6]);
    }
}
