//! What IMAP shows of a message: ENVELOPE, BODY/BODYSTRUCTURE, `BODY[section]` and `BINARY[]`
//! extraction, and what SEARCH, SORT and THREAD need (decoded text, sort keys, message ids,
//! base subjects, the thread algorithms). Pure functions on bytes: no I/O.
//!
//! The message is expected with CRLF line ends (bare LF works too; sizes are then of the
//! bytes as given). Where RFC 3501/9051 leave room the output follows Dovecot, so a client sees
//! the same thing from Postern as from the server it replaces; each module says which choices
//! those are.
//!
//! ```
//! use imap_message::{MessageView, SectionKind};
//! let raw = b"Subject: hi\r\nFrom: Ann <ann@example.org>\r\n\r\nHello\r\n";
//! let msg = MessageView::parse(raw);
//! assert!(msg.envelope().starts_with(b"(NIL \"hi\" ((\"Ann\" NIL \"ann\" \"example.org\"))"));
//! assert_eq!(msg.section(&[1], SectionKind::Full).as_deref(), Some(&b"Hello\r\n"[..]));
//! ```
#![forbid(unsafe_code)]

mod address;
mod content;
mod decode;
mod envelope;
mod header;
mod mime;
mod quote;
mod search;
mod sort;
mod structure;
mod subject;
mod thread;

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

pub use sort::{SortFields, ThreadIds};
pub use subject::{base_subject, base_subject_and_reply};
pub use thread::{
    ThreadInput, thread_ordered_subject, thread_references, thread_references_replies,
};

use decode::Encoding;
use mime::{Kind, Tree};

/// One message, parsed once; `raw` is the whole message with CRLF line ends.
///
/// Nesting deeper than 100 multipart or message/rfc822 levels is shown as an opaque
/// application/octet-stream part, and parts past 10,000 are not listed, so any input parses in
/// bounded stack and memory.
pub struct MessageView<'a> {
    raw: &'a [u8],
    tree: Tree,
    /// Lowercased decoded text of the text parts, built by the first body search.
    body_text: OnceLock<String>,
    /// Lowercased decoded header fields of every part, built by the first TEXT search.
    header_text: OnceLock<String>,
}

impl fmt::Debug for MessageView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageView")
            .field("size", &self.raw.len())
            .field("parts", &self.tree.parts.len())
            .finish_non_exhaustive()
    }
}

/// Which piece of a part `BODY[...]` asks for (RFC 3501 6.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind<'n> {
    /// `BODY[]` (the whole message) or `BODY[1.2]` (the part's body).
    Full,
    /// `HEADER`: the header, with the empty line that ends it.
    Header,
    /// `HEADER.FIELDS (...)`: the named fields (names case-insensitive) in message order, and
    /// the final empty line.
    HeaderFields(&'n [String]),
    /// `HEADER.FIELDS.NOT (...)`: all other fields, and the final empty line.
    HeaderFieldsNot(&'n [String]),
    /// `TEXT`: the body after the header.
    Text,
    /// `MIME`: a part's own MIME header (not allowed on the whole message).
    Mime,
}

/// `BINARY[...]` on a part whose Content-Transfer-Encoding this crate cannot undo
/// (RFC 3516: the server answers `NO [UNKNOWN-CTE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown content transfer encoding")]
pub struct UnknownEncoding;

impl<'a> MessageView<'a> {
    /// Parses the MIME structure. Never fails: any bytes give a message (at worst one
    /// text/plain part, or a header with an empty body when there is no empty line).
    pub fn parse(raw: &'a [u8]) -> MessageView<'a> {
        MessageView {
            raw,
            tree: Tree::parse(raw),
            body_text: OnceLock::new(),
            header_text: OnceLock::new(),
        }
    }

    /// The message as given.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// IMAP ENVELOPE: `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
    /// Sender and Reply-To default to From; groups as RFC 3501 says; the subject and names are
    /// sent as they appear raw in the header (encoded words not decoded), like Dovecot; the
    /// last occurrence of a repeated field counts (Dovecot again).
    pub fn envelope(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let fields = self
            .tree
            .get(0)
            .map(|p| p.fields.as_slice())
            .unwrap_or_default();
        envelope::write(&mut out, self.raw, fields);
        out
    }

    /// BODYSTRUCTURE (`extensible = true`) or BODY (`false`), the whole parenthesized `body`
    /// of RFC 3501. Sizes are octets of each body as it is in `raw`, line counts (text and
    /// message/rfc822) the number of LFs in it; parameters are RFC 2231/2047 decoded and sent as
    /// plain values; `("charset" "us-ascii")` is added to text parts without a charset.
    pub fn body_structure(&self, extensible: bool) -> Vec<u8> {
        let mut out = Vec::new();
        structure::write(&mut out, self.raw, &self.tree, 0, extensible);
        out
    }

    /// `BODY[section]`: `part` is `[]` for the whole message, `[1, 2]` for `1.2`. `None` when
    /// the part does not exist or the kind does not apply to it (HEADER/TEXT on a part that is
    /// not message/rfc822, MIME on the whole message); the server then sends an empty string,
    /// as Dovecot does. The bytes are raw: NUL is not replaced.
    pub fn section(&self, part: &[u32], kind: SectionKind<'_>) -> Option<Cow<'a, [u8]>> {
        let raw = self.raw;
        let borrowed =
            |range: std::ops::Range<usize>| Some(Cow::Borrowed(header::slice(raw, range)));
        if part.is_empty() {
            return match kind {
                SectionKind::Full => Some(Cow::Borrowed(raw)),
                SectionKind::Mime => None,
                _ => self.message_section(0, kind),
            };
        }
        let id = self.tree.find(part)?;
        let p = self.tree.get(id)?;
        match kind {
            SectionKind::Full => borrowed(p.body.clone()),
            SectionKind::Mime => borrowed(p.header.clone()),
            _ => match p.kind {
                Kind::Message(child) => self.message_section(child, kind),
                _ => None,
            },
        }
    }

    /// HEADER, HEADER.FIELDS(.NOT) or TEXT of the message whose root part is `id`.
    fn message_section(&self, id: usize, kind: SectionKind<'_>) -> Option<Cow<'a, [u8]>> {
        let raw = self.raw;
        let p = self.tree.get(id)?;
        match kind {
            SectionKind::Header => Some(Cow::Borrowed(header::slice(raw, p.header.clone()))),
            SectionKind::Text => Some(Cow::Borrowed(header::slice(raw, p.body.clone()))),
            SectionKind::HeaderFields(names) => {
                Some(Cow::Owned(filter_fields(raw, &p.fields, names, true)))
            }
            SectionKind::HeaderFieldsNot(names) => {
                Some(Cow::Owned(filter_fields(raw, &p.fields, names, false)))
            }
            SectionKind::Full | SectionKind::Mime => None,
        }
    }

    /// `BINARY[part]` (RFC 3516): the part's body with its Content-Transfer-Encoding undone
    /// (base64 and quoted-printable decoded leniently). `[]` is the whole message as it is.
    /// `Ok(None)` when the part does not exist.
    pub fn binary(&self, part: &[u32]) -> Result<Option<Cow<'a, [u8]>>, UnknownEncoding> {
        if part.is_empty() {
            return Ok(Some(Cow::Borrowed(self.raw)));
        }
        let Some(p) = self.tree.find(part).and_then(|id| self.tree.get(id)) else {
            return Ok(None);
        };
        let encoding = Encoding::from_token(p.mime.encoding.as_deref()).ok_or(UnknownEncoding)?;
        Ok(Some(
            encoding.decode(header::slice(self.raw, p.body.clone())),
        ))
    }
}

/// The header lines whose names are (or, with `include == false`, are not) in `names`, each
/// ending in CRLF, then the empty line.
fn filter_fields(raw: &[u8], fields: &[header::Field], names: &[String], include: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        let named = names.iter().any(|n| header::is_named(raw, field, n));
        if named == include {
            let line = header::slice(raw, field.line.clone());
            out.extend_from_slice(line);
            if header::eol_len(line) == 0 {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}
