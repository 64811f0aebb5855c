//! Header canonicalization (RFC 6376 §3.4.1, §3.4.2) and h= selection (§5.4.2).

use crate::algorithm::Canonicalization;

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A header field name without the whitespace that may sit before the colon.
pub(crate) fn trim_name(name: &[u8]) -> &[u8] {
    let end = name.iter().rposition(|&b| !is_wsp(b)).map_or(0, |i| i + 1);
    name.get(..end).unwrap_or(name)
}

/// Appends the canonical form of one header field, including its final CRLF.
///
/// `value` is everything after the colon, folding lines joined by CRLF.
pub(crate) fn canonicalize_header(
    c: Canonicalization,
    name: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) {
    match c {
        Canonicalization::Simple => {
            out.extend_from_slice(name);
            out.push(b':');
            out.extend_from_slice(value);
        }
        Canonicalization::Relaxed => {
            out.extend(trim_name(name).iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            relaxed_value(value, out);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Unfold (drop CR and LF), squeeze WSP runs to one SP, trim WSP at both ends.
fn relaxed_value(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => pending_space = started,
            _ => {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                out.push(b);
                started = true;
            }
        }
    }
}

/// Which header instances the names of `h=` select, in hashing order.
///
/// Each name takes the next instance of that field counting from the bottom;
/// a name with no instance left selects nothing (a "null" entry, used for oversigning).
pub(crate) fn select<'a>(
    headers: &[(&'a [u8], &'a [u8])],
    h_names: &[&str],
) -> Vec<(&'a [u8], &'a [u8])> {
    let mut used = vec![false; headers.len()];
    let mut picked = Vec::with_capacity(h_names.len());
    for name in h_names {
        let wanted = trim_name(name.trim().as_bytes());
        let found = headers
            .iter()
            .zip(used.iter_mut())
            .rev()
            .find(|((n, _), used)| !**used && trim_name(n).eq_ignore_ascii_case(wanted));
        if let Some(((n, v), used)) = found {
            *used = true;
            picked.push((*n, *v));
        }
    }
    picked
}

/// How many instances of `name` the message has.
pub(crate) fn count(headers: &[(&[u8], &[u8])], name: &str) -> usize {
    let wanted = name.as_bytes();
    headers
        .iter()
        .filter(|(n, _)| trim_name(n).eq_ignore_ascii_case(wanted))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(c: Canonicalization, name: &str, value: &str) -> String {
        let mut out = Vec::new();
        canonicalize_header(c, name.as_bytes(), value.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn relaxed_unfolds_and_squeezes() {
        let r = Canonicalization::Relaxed;
        assert_eq!(
            canon(r, "SubJect ", " \t a \r\n\t b  c\t \r\n "),
            "subject:a b c\r\n"
        );
        assert_eq!(canon(r, "X", ""), "x:\r\n");
        assert_eq!(canon(r, "X", "   "), "x:\r\n");
        assert_eq!(
            canon(r, "X", " caf\u{e9} \u{1F600}"),
            "x:caf\u{e9} \u{1F600}\r\n"
        );
    }

    #[test]
    fn simple_is_verbatim() {
        let s = Canonicalization::Simple;
        assert_eq!(canon(s, "B ", " Y\t\r\n\tZ  "), "B : Y\t\r\n\tZ  \r\n");
    }

    #[test]
    fn selection_is_bottom_up_with_nulls() {
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b"Received", b" one"),
            (b"From", b" a"),
            (b"received", b" two"),
            (b"To", b" b"),
        ];
        let picked = select(
            &headers,
            &["Received", "From", "RECEIVED", "Received", "From"],
        );
        let values: Vec<&[u8]> = picked.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![&b" two"[..], b" a", b" one"]);
        assert_eq!(count(&headers, "received"), 2);
        assert_eq!(count(&headers, "Cc"), 0);
    }
}
