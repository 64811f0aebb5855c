//! Undoing Content-Transfer-Encoding (lenient, as mail in the wild needs) and turning a text
//! part's bytes into a string by its charset.

use std::borrow::Cow;

/// A Content-Transfer-Encoding this crate can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// 7bit, 8bit, binary, or no (or an unusable) Content-Transfer-Encoding.
    Identity,
    Base64,
    QuotedPrintable,
}

impl Encoding {
    /// The encoding named by a Content-Transfer-Encoding token; `None` when it is unknown.
    pub(crate) fn from_token(token: Option<&str>) -> Option<Encoding> {
        let Some(token) = token else {
            return Some(Encoding::Identity);
        };
        ["7bit", "8bit", "binary"]
            .iter()
            .any(|t| token.eq_ignore_ascii_case(t))
            .then_some(Encoding::Identity)
            .or_else(|| {
                token
                    .eq_ignore_ascii_case("base64")
                    .then_some(Encoding::Base64)
            })
            .or_else(|| {
                token
                    .eq_ignore_ascii_case("quoted-printable")
                    .then_some(Encoding::QuotedPrintable)
            })
    }

    pub(crate) fn decode<'a>(self, body: &'a [u8]) -> Cow<'a, [u8]> {
        match self {
            Encoding::Identity => Cow::Borrowed(body),
            Encoding::Base64 => Cow::Owned(base64(body)),
            Encoding::QuotedPrintable => Cow::Owned(quoted_printable(body)),
        }
    }
}

fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Base64, skipping anything outside the alphabet; `=` ends a group, so base64 blocks that
/// were concatenated with their padding still decode.
pub(crate) fn base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 3);
    let mut acc = 0u32;
    let mut count = 0u8;
    let flush = |out: &mut Vec<u8>, acc: u32, count: u8| match count {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    };
    for &b in data {
        if let Some(v) = base64_value(b) {
            acc = (acc << 6) | u32::from(v);
            count += 1;
            if count == 4 {
                out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                acc = 0;
                count = 0;
            }
        } else if b == b'=' {
            flush(&mut out, acc, count);
            acc = 0;
            count = 0;
        }
    }
    flush(&mut out, acc, count);
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Quoted-printable: `=XX` octets, `=` line ends are soft breaks, blanks before a line end
/// are transport padding and go; a stray `=` stays as it is.
pub(crate) fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|&b| b == b'\n') {
        let eol = crate::header::eol_len(line);
        let content = line.get(..line.len() - eol).unwrap_or_default();
        let blanks = content
            .iter()
            .rev()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let content = content.get(..content.len() - blanks).unwrap_or_default();
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        let mut i = 0;
        while let Some(&b) = content.get(i) {
            if b == b'=' {
                let hi = content.get(i + 1).copied().and_then(hex_value);
                let lo = content.get(i + 2).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(line.get(line.len() - eol..).unwrap_or_default());
        }
    }
    out
}

/// Text in `charset` (UTF-8 when absent or unknown) as a string; bad bytes become U+FFFD.
pub(crate) fn text(bytes: &[u8], charset: Option<&str>) -> String {
    let utf8 = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match charset {
        Some(cs) if !cs.eq_ignore_ascii_case("utf-8") && !cs.eq_ignore_ascii_case("us-ascii") => {
            match mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes()) {
                Some(decoder) => decoder(bytes),
                None => utf8(bytes),
            }
        }
        _ => utf8(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_lenient() {
        assert_eq!(base64(b"SGVs\r\nbG8=\r\n"), b"Hello");
        assert_eq!(base64(b"QQ==QUI="), b"AAB");
        assert_eq!(base64(b"S*G!V-sbG8"), b"Hello");
        assert_eq!(base64(b""), b"");
    }

    #[test]
    fn quoted_printable_is_lenient() {
        assert_eq!(
            quoted_printable(b"J=C3=B6rg =\r\nx  \r\ny"),
            "Jörg x\r\ny".as_bytes()
        );
        assert_eq!(quoted_printable(b"a=zz=3d=\n"), b"a=zz=");
        assert_eq!(quoted_printable(b"tail="), b"tail");
    }

    #[test]
    fn charsets() {
        assert_eq!(text(b"caf\xe9", Some("ISO-8859-1")), "café");
        assert_eq!(text("café".as_bytes(), Some("UTF-8")), "café");
        assert_eq!(text(b"x\xff", None), "x\u{fffd}");
    }
}
