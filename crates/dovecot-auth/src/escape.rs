//! Dovecot's "tab-escaping" of protocol values (`str_tabescape` / `str_tabunescape`).
//!
//! A value must not contain TAB (field separator) or LF (line end), so Dovecot escapes them,
//! together with NUL, CR and the escape byte itself, as `\x01` followed by one letter:
//!
//! | byte   | escaped    |
//! |--------|------------|
//! | `\0`   | `\x01 0`   |
//! | `\x01` | `\x01 1`   |
//! | `\t`   | `\x01 t`   |
//! | `\r`   | `\x01 r`   |
//! | `\n`   | `\x01 n`   |
//!
//! When unescaping, `\x01` followed by any other byte stands for that byte, and a trailing
//! lone `\x01` is dropped: both as in Dovecot.

/// The escape byte.
const ESCAPE: u8 = 0x01;

/// Escapes `value` for use as one protocol field.
pub fn escape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    escape_into(value, &mut out);
    out
}

/// Appends the escaped form of `value` to `out`.
pub fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    for &byte in value {
        let letter = match byte {
            0 => b'0',
            ESCAPE => b'1',
            b'\t' => b't',
            b'\r' => b'r',
            b'\n' => b'n',
            other => {
                out.push(other);
                continue;
            }
        };
        out.extend_from_slice(&[ESCAPE, letter]);
    }
}

/// Reverses [`escape`]. Never fails: unknown escapes yield the escaped byte itself.
pub fn unescape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.iter();
    while let Some(&byte) = bytes.next() {
        if byte != ESCAPE {
            out.push(byte);
            continue;
        }
        let Some(&letter) = bytes.next() else {
            // Truncated escape at the end: dropped, like Dovecot.
            break;
        };
        out.push(match letter {
            b'0' => 0,
            b'1' => ESCAPE,
            b't' => b'\t',
            b'r' => b'\r',
            b'n' => b'\n',
            other => other,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_special_bytes() {
        assert_eq!(
            escape(b"a\tb\nc\rd\0e\x01f"),
            b"a\x01tb\x01nc\x01rd\x010e\x011f"
        );
        assert_eq!(escape(b"plain@example.org"), b"plain@example.org");
    }

    #[test]
    fn unescape_is_lenient_like_dovecot() {
        assert_eq!(unescape(b"\x01x\x01"), b"x");
        assert_eq!(unescape(b"a\x01tb"), b"a\tb");
    }

    #[test]
    fn escaped_values_contain_no_separators() {
        let all: Vec<u8> = (0..=255).collect();
        let escaped = escape(&all);
        assert!(!escaped.contains(&b'\t') && !escaped.contains(&b'\n'));
        assert_eq!(unescape(&escaped), all);
    }
}
