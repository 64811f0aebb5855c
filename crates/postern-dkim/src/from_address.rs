//! Extracts the author address from a From header value (RFC 5322 mailbox-list), enough to
//! pick a signing key: the first mailbox's `local@domain`, lowercased.

/// The first address in a From value, lowercased, or None if there is none.
pub fn author_address(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value);
    let without_comments = strip_comments(&text);
    let first = first_mailbox(&without_comments)?;
    let address = match (first.find('<'), first.rfind('>')) {
        (Some(open), Some(close)) if open < close => first.get(open + 1..close)?,
        _ => first,
    };
    // Drop an obsolete source route "@a,@b:" and surrounding space.
    let address = address.rsplit(':').next()?.trim();
    let (local, domain) = address.rsplit_once('@')?;
    let local = local.trim().trim_matches('"');
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if local.is_empty()
        || domain.is_empty()
        || domain.contains(|c: char| c.is_whitespace() || c == '@')
    {
        return None;
    }
    Some(format!("{}@{domain}", local.to_lowercase()))
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first mailbox of a list: split at a comma outside quotes and angle brackets; a group
/// ("name: a@b, c@d;") yields its first member.
fn first_mailbox(text: &str) -> Option<&str> {
    let mut quoted = false;
    let mut angle = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ':' if !quoted && !angle => start = i + 1,
            ',' | ';' if !quoted && !angle => {
                let candidate = text.get(start..i)?;
                if candidate.contains('@') {
                    return Some(candidate);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let rest = text.get(start..)?;
    rest.contains('@').then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::author_address;

    #[test]
    fn common_forms() {
        let a = |v: &str| author_address(v.as_bytes());
        assert_eq!(a(" alice@Example.COM"), Some("alice@example.com".into()));
        assert_eq!(
            a(" Alice <alice@example.com>"),
            Some("alice@example.com".into())
        );
        assert_eq!(
            a(" \"Doe, Jane\" <jane@example.com>"),
            Some("jane@example.com".into())
        );
        assert_eq!(
            a(" jane@example.com (Jane <x@evil.test>)"),
            Some("jane@example.com".into())
        );
        assert_eq!(
            a(" =?UTF-8?Q?J=C3=BCrgen?= <j@example.com>"),
            Some("j@example.com".into())
        );
        assert_eq!(
            a(" a@example.com, b@other.test"),
            Some("a@example.com".into())
        );
        assert_eq!(
            a(" team: a@example.com, b@example.org;"),
            Some("a@example.com".into())
        );
        assert_eq!(
            a(" <@relay.test:a@example.com>"),
            Some("a@example.com".into())
        );
        assert_eq!(
            a(" Alice\r\n\t<alice@example.com.>"),
            Some("alice@example.com".into())
        );
    }

    #[test]
    fn garbage_gives_none() {
        for v in ["", " ", "<>", "no address", "@", "a@", "@b", "(((("] {
            assert_eq!(author_address(v.as_bytes()), None, "{v:?}");
        }
    }
}
