//! The MIME tree of a message as byte ranges: where each part's header and body are, which
//! parts are multiparts or encapsulated messages, with limits on depth and part count.
//!
//! Boundaries are found the way Dovecot finds them: a line that starts with `--` and the
//! boundary (the rest of the line is not looked at), the innermost open multipart first, so a
//! boundary of an enclosing multipart also ends the parts inside it. The line break before a
//! boundary line belongs to the boundary, not to the part before it.

use std::ops::Range;

use crate::content::Mime;
use crate::header::{self, Field};

/// Multiparts and message/rfc822 parts nested deeper than this are not opened: they are shown
/// as one opaque application/octet-stream part. Keeps recursion (here and in every walk of the
/// tree) small whatever the input.
pub(crate) const MAX_DEPTH: usize = 100;

/// Parts past this many in one message are not listed: the rest of their multipart is treated
/// like an epilogue. Bounds memory for messages made of millions of boundary lines.
pub(crate) const MAX_PARTS: usize = 10_000;

/// What a part contains.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A body that is not looked into.
    Leaf,
    /// A multipart or message/rfc822 part below [`MAX_DEPTH`], shown as opaque data.
    Opaque,
    /// A multipart and its parts (indexes into [`Tree::parts`]), in order.
    Multipart(Vec<usize>),
    /// A message/rfc822 part and the encapsulated message's root part.
    Message(usize),
}

/// One MIME part: positions in the raw message, header fields, Content-* information.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The header, the empty line that ends it included.
    pub header: Range<usize>,
    /// The body, without the line break that precedes a following boundary line.
    pub body: Range<usize>,
    pub fields: Vec<Field>,
    pub mime: Mime,
    pub kind: Kind,
}

/// All parts of a message; index 0 is the message itself.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub parts: Vec<Part>,
}

/// The boundary of an open multipart.
struct Bound {
    delimiter: Vec<u8>,
}

/// A boundary line found while scanning.
#[derive(Clone, Copy)]
struct Hit {
    /// Where the content before the boundary line ends (its line break excluded).
    content_end: usize,
    /// Just past the boundary line.
    next: usize,
    /// Which open boundary it is (index into `Builder::bounds`).
    index: usize,
    /// `--boundary--`: the multipart ends here.
    close: bool,
}

struct Builder<'a> {
    raw: &'a [u8],
    parts: Vec<Part>,
    bounds: Vec<Bound>,
}

impl Tree {
    pub(crate) fn parse(raw: &[u8]) -> Tree {
        let mut builder = Builder {
            raw,
            parts: Vec::new(),
            bounds: Vec::new(),
        };
        builder.part(0, 0, false);
        Tree {
            parts: builder.parts,
        }
    }
}

impl Builder<'_> {
    /// Parses the part whose header starts at `start`; returns its index and the boundary line
    /// (of an enclosing multipart) that ended it, if any.
    fn part(&mut self, start: usize, depth: usize, in_digest: bool) -> (usize, Option<Hit>) {
        let (header_end, body_start, header_hit) = self.header_end(start);
        let fields = header::fields(self.raw, start..header_end);
        let mime = Mime::parse(self.raw, &fields, in_digest);
        let id = self.parts.len();
        self.parts.push(Part {
            header: start..body_start,
            body: body_start..body_start,
            fields,
            mime,
            kind: Kind::Leaf,
        });
        if header_hit.is_some() {
            return (id, header_hit);
        }

        let part = self.parts.get(id);
        let boundary = part
            .filter(|p| p.mime.is_multipart())
            .and_then(|p| p.mime.boundary())
            .map(<[u8]>::to_vec);
        let is_message = part.is_some_and(|p| p.mime.is_message_rfc822());
        let is_digest = part.is_some_and(|p| p.mime.is_digest());

        let (kind, hit) = match boundary {
            Some(delimiter) if depth < MAX_DEPTH => {
                self.multipart(delimiter, body_start, depth, is_digest)
            }
            None if is_message && depth < MAX_DEPTH => {
                let (child, hit) = self.part(body_start, depth + 1, false);
                (Kind::Message(child), hit)
            }
            Some(_) => (Kind::Opaque, self.scan(body_start)),
            None if is_message => (Kind::Opaque, self.scan(body_start)),
            None => (Kind::Leaf, self.scan(body_start)),
        };
        let body_end = hit.map_or(self.raw.len(), |h| h.content_end);
        if let Some(part) = self.parts.get_mut(id) {
            part.body = body_start..body_end.max(body_start);
            part.kind = kind;
        }
        (id, hit)
    }

    /// Reads a multipart body from `body_start`: preamble, parts, epilogue.
    fn multipart(
        &mut self,
        delimiter: Vec<u8>,
        body_start: usize,
        depth: usize,
        is_digest: bool,
    ) -> (Kind, Option<Hit>) {
        let own = self.bounds.len();
        self.bounds.push(Bound { delimiter });
        let mut children = Vec::new();
        let mut hit = self.scan(body_start);
        let end_hit = loop {
            match hit {
                None => {
                    self.bounds.truncate(own);
                    break None;
                }
                Some(h) if h.index >= own => {
                    self.bounds.truncate(own + 1);
                    if h.close {
                        self.bounds.truncate(own);
                        // the epilogue runs to an enclosing boundary or the end
                        break self.scan(h.next);
                    }
                    if self.parts.len() >= MAX_PARTS {
                        hit = self.scan(h.next);
                        continue;
                    }
                    let (child, child_hit) = self.part(h.next, depth + 1, is_digest);
                    children.push(child);
                    hit = child_hit;
                }
                Some(h) => {
                    // an enclosing multipart's boundary: this one ends unclosed
                    self.bounds.truncate(h.index + 1);
                    break Some(h);
                }
            }
        };
        (Kind::Multipart(children), end_hit)
    }

    /// Finds where the header starting at `start` ends: after the empty line, at a boundary
    /// line (then the body is empty), or at the end of the data.
    fn header_end(&self, start: usize) -> (usize, usize, Option<Hit>) {
        let raw = self.raw;
        let mut pos = start;
        while pos < raw.len() {
            let next = header::line_end(raw, pos);
            let line = raw.get(pos..next).unwrap_or_default();
            if header::is_blank_line(line) {
                return (next, next, None);
            }
            if let Some(hit) = self.boundary_at(start, pos, next) {
                return (hit.content_end, hit.content_end, Some(hit));
            }
            pos = next;
        }
        (raw.len(), raw.len(), None)
    }

    /// The first boundary line at or after `from` (a line start).
    fn scan(&self, from: usize) -> Option<Hit> {
        if self.bounds.is_empty() {
            return None;
        }
        let raw = self.raw;
        let mut pos = from;
        while pos < raw.len() {
            let next = header::line_end(raw, pos);
            if let Some(hit) = self.boundary_at(from, pos, next) {
                return Some(hit);
            }
            pos = next;
        }
        None
    }

    /// Whether the line `pos..next` is a boundary line of an open multipart (innermost first).
    fn boundary_at(&self, from: usize, pos: usize, next: usize) -> Option<Hit> {
        let line = self.raw.get(pos..next)?;
        let rest = line.strip_prefix(b"--")?;
        let (index, bound) = self
            .bounds
            .iter()
            .enumerate()
            .rev()
            .find(|(_, b)| rest.starts_with(&b.delimiter))?;
        let close = rest
            .get(bound.delimiter.len()..)
            .is_some_and(|r| r.starts_with(b"--"));
        // the line break before the boundary line is part of the boundary
        let content_end = if pos > from {
            let before = self.raw.get(from..pos).unwrap_or_default();
            pos - header::eol_len(before)
        } else {
            pos
        };
        Some(Hit {
            content_end,
            next,
            index,
            close,
        })
    }
}

impl Tree {
    pub(crate) fn get(&self, id: usize) -> Option<&Part> {
        self.parts.get(id)
    }

    /// The part that an IMAP section part number (`[1, 2]` for `1.2`) names, the way Dovecot
    /// resolves it: in a non-multipart only `1` exists (and is the part itself); a number after
    /// a message/rfc822 part goes into the encapsulated message.
    pub(crate) fn find(&self, path: &[u32]) -> Option<usize> {
        let mut cur = 0usize;
        for (i, &num) in path.iter().enumerate() {
            let more = i + 1 < path.len();
            let part = self.get(cur)?;
            match &part.kind {
                Kind::Multipart(children) => {
                    let index = usize::try_from(num).ok()?.checked_sub(1)?;
                    cur = *children.get(index)?;
                }
                kind => {
                    if num != 1 || (more && !matches!(kind, Kind::Message(_))) {
                        return None;
                    }
                }
            }
            if more && let Some(Kind::Message(child)) = self.get(cur).map(|p| &p.kind) {
                cur = *child;
            }
        }
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(raw: &[u8]) -> Tree {
        Tree::parse(raw)
    }

    #[test]
    fn single_part_message() {
        let raw = b"Subject: x\r\n\r\nhello\r\n";
        let t = tree(raw);
        assert_eq!(t.parts.len(), 1);
        assert_eq!(t.parts[0].header, 0..14);
        assert_eq!(t.parts[0].body, 14..21);
    }

    #[test]
    fn header_only_message() {
        let raw = b"Subject: x\r\nFrom: a@b";
        let t = tree(raw);
        assert_eq!(t.parts[0].header, 0..raw.len());
        assert_eq!(t.parts[0].body, raw.len()..raw.len());
        assert_eq!(t.parts[0].fields.len(), 2);
    }

    #[test]
    fn multipart_ranges_exclude_the_crlf_before_boundaries() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\nepi\r\n";
        let t = tree(raw);
        let Kind::Multipart(children) = &t.parts[0].kind else {
            panic!("not multipart")
        };
        assert_eq!(children.len(), 2);
        let one = &t.parts[children[0]];
        assert_eq!(&raw[one.body.clone()], b"one");
        assert_eq!(&raw[one.header.clone()], b"\r\n");
        let two = &t.parts[children[1]];
        assert_eq!(&raw[two.body.clone()], b"<p>two</p>");
        assert_eq!(t.parts[0].body.end, raw.len());
    }

    #[test]
    fn outer_boundary_closes_inner_parts() {
        let raw = b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\r\na\r\n--outer\r\n\r\nb\r\n--outer--\r\n";
        let t = tree(raw);
        let Kind::Multipart(children) = &t.parts[0].kind else {
            panic!("not multipart")
        };
        assert_eq!(children.len(), 2);
        let Kind::Multipart(inner) = &t.parts[children[0]].kind else {
            panic!("inner not multipart")
        };
        assert_eq!(&raw[t.parts[inner[0]].body.clone()], b"a");
        assert_eq!(&raw[t.parts[children[1]].body.clone()], b"b");
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        let mut raw = Vec::new();
        for i in 0..10_000 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"={i}=\"\r\n\r\n--={i}=\r\n")
                    .as_bytes(),
            );
        }
        raw.extend_from_slice(b"\r\nleaf\r\n");
        let t = tree(&raw);
        assert!(t.parts.len() <= MAX_DEPTH + 2);
        assert!(t.parts.iter().any(|p| matches!(p.kind, Kind::Opaque)));
        let mut raw = Vec::new();
        for _ in 0..10_000 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        let t = tree(&raw);
        assert!(t.parts.len() <= MAX_DEPTH + 2);
    }

    #[test]
    fn part_count_is_bounded() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for _ in 0..(MAX_PARTS + 50) {
            raw.extend_from_slice(b"--b\r\n\r\nx\r\n");
        }
        let t = tree(&raw);
        assert_eq!(t.parts.len(), MAX_PARTS);
    }

    #[test]
    fn find_follows_dovecot_numbering() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n";
        let t = tree(raw);
        let text = t.find(&[1]).unwrap();
        assert_eq!(&raw[t.parts[text].body.clone()], b"one");
        assert_eq!(t.find(&[1, 1]), Some(text));
        assert_eq!(t.find(&[1, 2]), None);
        assert_eq!(t.find(&[1, 1, 1]), None);
        let inner = t.find(&[2, 1]).unwrap();
        assert_eq!(&raw[t.parts[inner].body.clone()], b"inner body");
        assert_eq!(t.find(&[3]), None);
        assert_eq!(t.find(&[0]), None);
        assert_eq!(t.find(&[]), Some(0));
    }
}
