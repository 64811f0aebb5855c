//! Tag=value list parsing (RFC 6376 §3.2), shared by DKIM-Signature and DNS key records.

/// Whitespace allowed around tags and values (FWS plus the bare forms MTAs hand over).
fn is_fws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_fws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_fws(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or(&[])
}

/// Splits `tag=value; tag=value` into trimmed pairs.
///
/// Returns `None` when a non-empty element has no `=` or an empty or non-alphanumeric
/// tag name, or when a tag appears twice (both make the whole list invalid per §3.2).
pub(crate) fn parse(list: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut tags: Vec<(&[u8], &[u8])> = Vec::new();
    for element in list.split(|&b| b == b';') {
        let element = trim(element);
        if element.is_empty() {
            continue;
        }
        let eq = element.iter().position(|&b| b == b'=')?;
        let (name, value) = element.split_at_checked(eq)?;
        let name = trim(name);
        let value = trim(value.get(1..)?);
        let valid_name = name.first().is_some_and(u8::is_ascii_alphabetic)
            && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name || tags.iter().any(|(n, _)| *n == name) {
            return None;
        }
        tags.push((name, value));
    }
    Some(tags)
}

/// The value of `name` in a parsed list.
pub(crate) fn get<'a>(tags: &[(&'a [u8], &'a [u8])], name: &str) -> Option<&'a [u8]> {
    tags.iter()
        .find(|(n, _)| *n == name.as_bytes())
        .map(|(_, v)| *v)
}

/// A value with all folding whitespace removed (base64 and similar values may be folded).
pub(crate) fn without_fws(value: &[u8]) -> Vec<u8> {
    value.iter().copied().filter(|&b| !is_fws(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_lists() {
        let tags =
            parse(b" v=1; a=rsa-sha256;\r\n\td=Example.COM ; s = sel;\r\n\tb=ab\r\n\t cd").unwrap();
        assert_eq!(get(&tags, "d"), Some(&b"Example.COM"[..]));
        assert_eq!(get(&tags, "s"), Some(&b"sel"[..]));
        assert_eq!(without_fws(get(&tags, "b").unwrap()), b"abcd");
        assert_eq!(get(&tags, "x"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"v=1; nonsense").is_none());
        assert!(parse(b"d=a; d=b").is_none());
        assert!(parse(b"=x").is_none());
        assert!(parse(b"9a=x").is_none());
        assert_eq!(parse(b"").unwrap().len(), 0);
        assert_eq!(parse(b";;").unwrap().len(), 0);
    }
}
