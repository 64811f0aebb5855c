//! Header values as the `header` test sees them: unfolded, trimmed and with RFC 2047
//! encoded words decoded to UTF-8 (RFC 5228 2.4.2.2 and 5.7).
//!
//! Like Dovecot, an encoded word is recognised even when text touches it, the white space
//! between two encoded words is dropped, and an unknown charset is read as UTF-8. Unlike
//! Dovecot, adjacent words in the same charset are decoded together, so a character split
//! across two words (common from some mailers) survives, and a malformed word stays as it
//! was written (RFC 2047 section 6.3) instead of vanishing.

use mail_parser::decoders::charsets::map::charset_decoder;

/// Removes line breaks of folded lines. A tab that began a continuation line becomes a
/// space, and leading white space of the first line and trailing white space go, as Dovecot
/// does, so `:is` keys written against Dovecot keep working.
pub(crate) fn unfold(raw: &[u8]) -> Vec<u8> {
    let start = raw
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    let mut after_break = false;
    for &b in raw.get(start..).unwrap_or(&[]) {
        match b {
            b'\r' | b'\n' => after_break = true,
            b'\t' if after_break => {
                out.push(b' ');
                after_break = false;
            }
            other => {
                out.push(other);
                after_break = false;
            }
        }
    }
    while out.last().is_some_and(|&b| matches!(b, b' ' | b'\t')) {
        out.pop();
    }
    out
}

struct EncodedWord<'a> {
    charset: &'a [u8],
    bytes: Vec<u8>,
    /// Octets of the input the word spans.
    len: usize,
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn decode_q(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let high = hex_digit(*bytes.next()?)?;
                let low = hex_digit(*bytes.next()?)?;
                out.push(high << 4 | low);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

fn base64_value(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

fn decode_b(text: &[u8]) -> Option<Vec<u8>> {
    let data = text
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&[][..], |end| text.get(..=end).unwrap_or(&[]));
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 3);
    let mut accumulator = 0u32;
    let mut bits = 0;
    for &b in data {
        accumulator = accumulator << 6 | base64_value(b)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(accumulator >> bits & 0xff).ok()?);
        }
    }
    Some(out)
}

/// `=?charset?B|Q?text?=` at the start of `input`.
fn encoded_word(input: &[u8]) -> Option<EncodedWord<'_>> {
    let rest = input.strip_prefix(b"=?")?;
    let is_token = |b: &u8| b.is_ascii_graphic() && *b != b'?';
    let charset_len = rest.iter().position(|b| !is_token(b))?;
    let (charset, rest) = rest.split_at(charset_len);
    let rest = rest.strip_prefix(b"?")?;
    let (&encoding, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b"?")?;
    let text_len = rest
        .iter()
        .position(|&b| b == b'?' || b == b' ' || b == b'\t')?;
    let (text, rest) = rest.split_at(text_len);
    rest.strip_prefix(b"?=")?;
    // RFC 2231 section 5: "charset*language".
    let charset = charset.split(|&b| b == b'*').next().unwrap_or(charset);
    if charset.is_empty() {
        return None;
    }
    let bytes = match encoding {
        b'B' | b'b' => decode_b(text)?,
        b'Q' | b'q' => decode_q(text)?,
        _ => return None,
    };
    Some(EncodedWord {
        charset,
        bytes,
        len: 2 + charset_len + 3 + text_len + 2,
    })
}

fn to_utf8(charset: &[u8], bytes: &[u8]) -> String {
    let utf8_like = charset.eq_ignore_ascii_case(b"utf-8")
        || charset.eq_ignore_ascii_case(b"utf8")
        || charset.eq_ignore_ascii_case(b"us-ascii");
    if !utf8_like && let Some(decode) = charset_decoder(charset) {
        return decode(bytes);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

enum Segment<'a> {
    Text(Vec<u8>),
    Word(&'a [u8], Vec<u8>),
}

/// Decodes the encoded words in an unfolded value; other octets are read as UTF-8, with
/// invalid sequences replaced (raw 8-bit headers in another charset cannot be guessed).
pub(crate) fn decode(value: &[u8]) -> String {
    let mut segments = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while let Some(rest) = value.get(i..).filter(|rest| !rest.is_empty()) {
        if let Some(word) = encoded_word(rest) {
            if !text.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut text)));
            }
            segments.push(Segment::Word(word.charset, word.bytes));
            i += word.len;
        } else {
            text.extend_from_slice(rest.get(..1).unwrap_or(&[]));
            i += 1;
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }

    let mut out = String::with_capacity(value.len());
    // The run of words in one charset not yet converted, so bytes of one character split
    // across words come together.
    let mut run: Option<(&[u8], Vec<u8>)> = None;
    let mut segments = segments.into_iter().peekable();
    let mut previous_was_word = false;
    while let Some(segment) = segments.next() {
        match segment {
            Segment::Word(charset, bytes) => {
                match &mut run {
                    Some((run_charset, run_bytes)) if run_charset.eq_ignore_ascii_case(charset) => {
                        run_bytes.extend_from_slice(&bytes);
                    }
                    _ => {
                        if let Some((run_charset, run_bytes)) = run.take() {
                            out.push_str(&to_utf8(run_charset, &run_bytes));
                        }
                        run = Some((charset, bytes));
                    }
                }
                previous_was_word = true;
            }
            Segment::Text(text) => {
                let blanks = text.iter().all(|&b| b == b' ' || b == b'\t');
                let next_is_word = matches!(segments.peek(), Some(Segment::Word(..)));
                if blanks && previous_was_word && next_is_word {
                    continue;
                }
                if let Some((run_charset, run_bytes)) = run.take() {
                    out.push_str(&to_utf8(run_charset, &run_bytes));
                }
                out.push_str(&String::from_utf8_lossy(&text));
                previous_was_word = false;
            }
        }
    }
    if let Some((run_charset, run_bytes)) = run.take() {
        out.push_str(&to_utf8(run_charset, &run_bytes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(raw: &str) -> String {
        decode(&unfold(raw.as_bytes()))
    }

    #[test]
    fn rfc2047_section8_examples() {
        assert_eq!(value("=?ISO-8859-1?Q?a?="), "a");
        assert_eq!(value("=?ISO-8859-1?Q?a?= b"), "a b");
        assert_eq!(value("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(value("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(value("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(value("=?ISO-8859-1?Q?a_b?="), "a b");
        assert_eq!(value("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
        assert_eq!(value("=?US-ASCII?Q?Keith_Moore?="), "Keith Moore");
        assert_eq!(
            value("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?="),
            "Keld Jørn Simonsen"
        );
        assert_eq!(value("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
    }

    #[test]
    fn base64_charsets_and_split_characters() {
        assert_eq!(
            value("=?UTF-8?B?SGVsbG8gV8O2cmxk?= =?ISO-8859-1?Q?caf=E9?= and more  "),
            "Hello Wörldcafé and more"
        );
        assert_eq!(value("=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?="), "テスト");
        assert_eq!(value("=?utf-8?q?=C3?= =?utf-8?q?=B6?="), "ö");
        assert_eq!(value("=?utf-8*en?q?hi?= x"), "hi x");
    }

    #[test]
    fn lenient_like_dovecot_and_malformed_words_kept() {
        assert_eq!(value("abc=?utf-8?q?x?=def"), "abcxdef");
        assert_eq!(value("=?unknown-cs?q?a_b?= x"), "a b x");
        assert_eq!(value("=?utf-8?x?abc?= x"), "=?utf-8?x?abc?= x");
        assert_eq!(value("=?utf-8?b?!!!?= x"), "=?utf-8?b?!!!?= x");
    }

    #[test]
    fn unfolding() {
        assert_eq!(unfold(b"a\r\n  b\r\n\tc  "), b"a  b c");
        assert_eq!(unfold(b"\tx"), b"x");
        assert_eq!(unfold(b"\r\n x"), b" x");
        assert_eq!(unfold(b"   "), b"");
        assert_eq!(decode(b"a\xe9b"), "a\u{fffd}b");
    }
}
