//! What a script may look at: the header fields in order with their raw values, the size,
//! the envelope, and whether a mailbox exists. The delivery agent fills it from a bounded
//! scan of the message; nothing here reads the body.

use std::fmt;

/// One header field as it arrived: the name without the colon, the value after the colon
/// with its folding line breaks still in it.
#[derive(Debug, Clone, Copy)]
pub struct HeaderField<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// The message a [`Script`](crate::Script) is evaluated against.
#[derive(Clone, Default)]
pub struct Message<'a> {
    pub(crate) headers: Vec<HeaderField<'a>>,
    pub(crate) size: u64,
    pub(crate) envelope_from: Option<&'a str>,
    pub(crate) envelope_to: Option<&'a str>,
    pub(crate) mailbox_exists: Option<&'a dyn Fn(&str) -> bool>,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("headers", &self.headers.len())
            .field("size", &self.size)
            .field("envelope_from", &self.envelope_from)
            .field("envelope_to", &self.envelope_to)
            .field("mailbox_exists", &self.mailbox_exists.is_some())
            .finish()
    }
}

impl<'a> Message<'a> {
    /// A message of `size` octets (as stored, with CRLF line ends) and no header fields yet.
    pub fn new(size: u64) -> Self {
        Message {
            size,
            ..Message::default()
        }
    }

    /// Splits a header block (the message up to and including the empty line, or any
    /// prefix of it) into fields. Continuation lines stay in the value; a line that is
    /// neither a field nor a continuation is skipped, as is a field cut off by the end of
    /// `block` only in that it ends there.
    pub fn from_header_block(block: &'a [u8], size: u64) -> Self {
        let mut message = Message::new(size);
        let mut current: Option<(&'a [u8], usize, usize)> = None;
        let mut offset = 0;
        for line in (Lines { rest: block }) {
            let start = offset;
            offset += line.len();
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.is_empty() {
                break;
            }
            if matches!(content.first(), Some(b' ' | b'\t')) {
                if let Some((_, _, end)) = &mut current {
                    *end = start + content.len();
                }
                continue;
            }
            if let Some((name, value_start, end)) = current.take() {
                message.add_header(name, block.get(value_start..end).unwrap_or(&[]));
            }
            let Some(colon) = content.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = content.get(..colon).unwrap_or(&[]);
            let name = name.trim_ascii_end();
            if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
                continue;
            }
            current = Some((name, start + colon + 1, start + content.len()));
        }
        if let Some((name, value_start, end)) = current {
            message.add_header(name, block.get(value_start..end).unwrap_or(&[]));
        }
        message
    }

    /// Appends a header field; order matters to nothing but is kept.
    pub fn add_header(&mut self, name: &'a [u8], value: &'a [u8]) {
        self.headers.push(HeaderField { name, value });
    }

    /// The reverse path of MAIL FROM without angle brackets; `""` for the null sender `<>`.
    pub fn set_envelope_from(&mut self, path: &'a str) {
        self.envelope_from = Some(path);
    }

    /// The forward path of the RCPT TO this delivery is for, without angle brackets.
    pub fn set_envelope_to(&mut self, path: &'a str) {
        self.envelope_to = Some(path);
    }

    /// Answers `mailboxexists` (RFC 5490) for names other than INBOX, which always exists.
    /// Without it only INBOX exists.
    pub fn set_mailbox_exists(&mut self, exists: &'a dyn Fn(&str) -> bool) {
        self.mailbox_exists = Some(exists);
    }

    pub fn headers(&self) -> &[HeaderField<'a>] {
        &self.headers
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Lines including their "\n" (the last may lack it).
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_fields_and_folding() {
        let block = b"From: a@b.c\r\nSubject: one\r\n two\r\n\tthree\r\nX-Empty:\r\n\
            no colon line\r\nBad Name: x\r\nTo : c@d.e\nX-Last: z\r\n\r\nFrom: body@x.y\r\n";
        let message = Message::from_header_block(block, 99);
        let fields: Vec<(&[u8], &[u8])> = message
            .headers()
            .iter()
            .map(|h| (h.name, h.value))
            .collect();
        assert_eq!(
            fields,
            vec![
                (&b"From"[..], &b" a@b.c"[..]),
                (b"Subject", b" one\r\n two\r\n\tthree"),
                (b"X-Empty", b""),
                (b"To", b" c@d.e"),
                (b"X-Last", b" z"),
            ]
        );
        assert_eq!(message.size(), 99);
    }

    #[test]
    fn header_block_cut_short() {
        let message = Message::from_header_block(b"Subject: a\r\n b", 10);
        assert_eq!(message.headers()[0].value, b" a\r\n b");
    }
}
