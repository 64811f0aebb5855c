//! Header sections as byte ranges: where each field, its name and its (still folded) value are
//! in the raw message, and the small helpers that read them.

use std::ops::Range;

/// One header field as positions in the raw message.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The whole field, continuation lines and the final line break included.
    pub line: Range<usize>,
    /// The field name, without the colon and trailing blanks.
    pub name: Range<usize>,
    /// What follows the colon up to the final line break (folds kept).
    pub value: Range<usize>,
}

/// Index just past the `\n` that ends the line starting at `pos` (or the end of `raw`).
pub(crate) fn line_end(raw: &[u8], pos: usize) -> usize {
    let rest = raw.get(pos..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => pos + i + 1,
        None => raw.len(),
    }
}

/// Whether `line` (its line break included) is the empty line that ends a header.
pub(crate) fn is_blank_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// Length of the line break at the end of `line` (0, 1 or 2).
pub(crate) fn eol_len(line: &[u8]) -> usize {
    if line.ends_with(b"\r\n") {
        2
    } else if line.ends_with(b"\n") {
        1
    } else {
        0
    }
}

/// Splits the header bytes in `range` into fields. A line without a colon becomes a field whose
/// name is the whole line and whose value is empty, so nothing is lost for HEADER.FIELDS.NOT.
pub(crate) fn fields(raw: &[u8], range: Range<usize>) -> Vec<Field> {
    let end = range.end.min(raw.len());
    let mut pos = range.start.min(end);
    let mut fields: Vec<Field> = Vec::new();
    while pos < end {
        let next = line_end(raw, pos).min(end);
        let line = raw.get(pos..next).unwrap_or_default();
        if is_blank_line(line) {
            break;
        }
        let content_end = next - eol_len(line);
        let continues = matches!(line.first(), Some(b' ' | b'\t'));
        match fields.last_mut() {
            Some(field) if continues => {
                field.line.end = next;
                field.value.end = content_end;
            }
            _ => {
                let colon = line
                    .get(..content_end - pos)
                    .unwrap_or_default()
                    .iter()
                    .position(|&b| b == b':');
                let (name, value) = match colon {
                    Some(c) => {
                        let name = raw.get(pos..pos + c).unwrap_or_default();
                        let trimmed = name.len()
                            - name
                                .iter()
                                .rev()
                                .take_while(|b| matches!(b, b' ' | b'\t'))
                                .count();
                        (pos..pos + trimmed, pos + c + 1..content_end)
                    }
                    None => (pos..content_end, content_end..content_end),
                };
                fields.push(Field {
                    line: pos..next,
                    name,
                    value,
                });
            }
        }
        pos = next;
    }
    fields
}

/// The bytes of `range`, or nothing when it lies outside `raw`.
pub(crate) fn slice(raw: &[u8], range: Range<usize>) -> &[u8] {
    raw.get(range).unwrap_or_default()
}

/// Whether the field is named `name` (ASCII case-insensitive, as header names are).
pub(crate) fn is_named(raw: &[u8], field: &Field, name: &str) -> bool {
    slice(raw, field.name.clone()).eq_ignore_ascii_case(name.as_bytes())
}

/// The first field named `name`.
pub(crate) fn first<'f>(raw: &[u8], fields: &'f [Field], name: &str) -> Option<&'f Field> {
    fields.iter().find(|f| is_named(raw, f, name))
}

/// The last field named `name`.
pub(crate) fn last<'f>(raw: &[u8], fields: &'f [Field], name: &str) -> Option<&'f Field> {
    fields.iter().rev().find(|f| is_named(raw, f, name))
}

/// A field value unfolded: CR and LF removed (the folding blanks stay), leading blanks removed.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(value.len());
    value
        .get(start..)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect()
}

/// The value with a line break appended, the form mail-parser's field parsers expect.
pub(crate) fn with_crlf(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 2);
    v.extend_from_slice(value);
    v.extend_from_slice(b"\r\n");
    v
}

/// RFC 2047 decoded text of an unstructured value (also folds and odd bytes handled).
pub(crate) fn decode_text(value: &[u8]) -> String {
    let bytes = with_crlf(value);
    match mail_parser::parsers::MessageStream::new(&bytes).parse_unstructured() {
        mail_parser::HeaderValue::Text(text) => text.into_owned(),
        mail_parser::HeaderValue::TextList(list) => list.join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_with_folds_and_junk() {
        let raw = b"Subject: a\r\n b\r\nX-Y : z\r\njunk line\r\n\r\nbody";
        let f = fields(raw, 0..raw.len());
        assert_eq!(f.len(), 3);
        assert_eq!(slice(raw, f[0].name.clone()), b"Subject");
        assert_eq!(slice(raw, f[0].value.clone()), b" a\r\n b");
        assert_eq!(slice(raw, f[0].line.clone()), b"Subject: a\r\n b\r\n");
        assert_eq!(slice(raw, f[1].name.clone()), b"X-Y");
        assert_eq!(slice(raw, f[2].name.clone()), b"junk line");
        assert_eq!(unfold(slice(raw, f[0].value.clone())), b"a b");
    }

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(decode_text(b" =?utf-8?q?J=C3=B6rg?= x"), "Jörg x");
    }
}
