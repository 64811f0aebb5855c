//! IMAP string output for FETCH data: quoted strings, literals and NIL, chosen the way Dovecot
//! chooses them so that byte-for-byte comparisons with it hold.

/// Past this many `"`/`\` a literal is shorter than escaping them (Dovecot switches at the same
/// count, so our output matches its).
const MAX_QUOTED_ESCAPES: usize = 4;

/// Appends `value` as an IMAP string: a quoted string when it is 7-bit text without CR/LF,
/// a literal otherwise (8-bit data, line breaks, NUL, or many quoted-specials).
pub(crate) fn string(out: &mut Vec<u8>, value: &[u8]) {
    let mut escapes = 0usize;
    for &b in value {
        let needs_literal = match b {
            b'"' | b'\\' => {
                escapes += 1;
                escapes > MAX_QUOTED_ESCAPES
            }
            b'\r' | b'\n' | 0 => true,
            _ => b >= 0x80,
        };
        if needs_literal {
            literal(out, value);
            return;
        }
    }
    out.push(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends `value` as an IMAP nstring: `NIL` for `None`, else [`string`].
pub(crate) fn nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => string(out, value),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Appends a literal `{n}\r\n...`. NUL is not allowed in IMAP literals, so it becomes 0x80
/// (Dovecot does the same).
pub(crate) fn literal(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend(value.iter().map(|&b| if b == 0 { 0x80 } else { b }));
}

/// Appends text meant for people (ENVELOPE subject and display names): CR/LF dropped, runs of
/// spaces/tabs become one space, leading and trailing space removed, NUL becomes 0x80. Like
/// Dovecot, anything that needed such a change, or has `"`, `\` or 8-bit bytes, is sent as a
/// literal; clean text as a quoted string.
pub(crate) fn human_string(out: &mut Vec<u8>, value: &[u8]) {
    let mut cleaned = Vec::with_capacity(value.len());
    let mut modified = false;
    let mut pending_space = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => modified = true,
            b' ' | b'\t' => {
                if b == b'\t' || pending_space || cleaned.is_empty() {
                    modified = true;
                }
                pending_space = true;
            }
            _ => {
                if pending_space && !cleaned.is_empty() {
                    cleaned.push(b' ');
                }
                pending_space = false;
                if b == 0 {
                    modified = true;
                    cleaned.push(0x80);
                } else {
                    if b == b'"' || b == b'\\' || b >= 0x80 {
                        modified = true;
                    }
                    cleaned.push(b);
                }
            }
        }
    }
    if pending_space {
        // trailing whitespace was dropped
        modified = true;
    }
    if !modified {
        out.push(b'"');
        out.extend_from_slice(&cleaned);
        out.push(b'"');
    } else if cleaned.is_empty() {
        out.extend_from_slice(b"\"\"");
    } else {
        literal(out, &cleaned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn quoted_or_literal() {
        assert_eq!(s(|o| string(o, b"")), "\"\"");
        assert_eq!(s(|o| string(o, b"plain")), "\"plain\"");
        assert_eq!(s(|o| string(o, br#"a"b\c"#)), r#""a\"b\\c""#);
        assert_eq!(s(|o| string(o, br#""""""#)), r#""\"\"\"\"""#);
        assert_eq!(s(|o| string(o, br#"""""""#)), "{5}\r\n\"\"\"\"\"");
        assert_eq!(s(|o| string(o, "café".as_bytes())), "{5}\r\ncafé");
        assert_eq!(s(|o| string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(s(|o| nstring(o, None)), "NIL");
    }

    #[test]
    fn for_humans() {
        assert_eq!(
            s(|o| human_string(o, b"subject header")),
            "\"subject header\""
        );
        assert_eq!(s(|o| human_string(o, b"  a \t b\r\n c  ")), "{5}\r\na b c");
        assert_eq!(s(|o| human_string(o, b"   ")), "\"\"");
        assert_eq!(s(|o| human_string(o, b"")), "\"\"");
        assert_eq!(s(|o| human_string(o, b"say \"hi\"")), "{8}\r\nsay \"hi\"");
    }
}
