//! The Content-* header fields of one MIME part, parsed for BODYSTRUCTURE and for decoding:
//! media type (case kept as written), parameters (RFC 2231 continuations and charsets decoded
//! by mail-parser), transfer encoding, id, description, MD5, disposition, language, location.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use crate::header::{self, Field};

/// Content-* information of a part. Where a field occurs twice the first one counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mime {
    /// Media type and subtype as written; `None` when Content-Type is absent or unusable.
    pub media: Option<(String, String)>,
    /// Content-Type parameters: lowercase names, decoded values, in header order.
    pub params: Vec<(String, String)>,
    /// No Content-Type inside multipart/digest: the default is message/rfc822 (RFC 2046 5.1.5).
    pub digest_default: bool,
    /// Content-Transfer-Encoding token as written, when it is a valid token.
    pub encoding: Option<String>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    pub md5: Option<Vec<u8>>,
    pub location: Option<Vec<u8>>,
    /// Disposition type as written, and its parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
}

impl Mime {
    pub(crate) fn parse(raw: &[u8], fields: &[Field], in_digest: bool) -> Mime {
        let value = |name: &str| {
            header::first(raw, fields, name).map(|f| header::slice(raw, f.value.clone()))
        };
        let mut mime = Mime::default();
        if let Some(v) = value("Content-Type")
            && let Some(media) = media_type(v)
        {
            mime.params = params(v);
            mime.media = Some(media);
        }
        mime.digest_default = in_digest && mime.media.is_none();
        mime.encoding = value("Content-Transfer-Encoding").and_then(encoding_token);
        let unfolded = |name: &str| value(name).map(header::unfold);
        mime.id = unfolded("Content-ID");
        mime.description = unfolded("Content-Description");
        mime.md5 = unfolded("Content-MD5");
        mime.location = unfolded("Content-Location");
        if let Some(v) = value("Content-Disposition") {
            let mut p = Parser::new(v);
            p.skip_cfws();
            let kind = p.token();
            if !kind.is_empty() {
                mime.disposition = Some((kind, params(v)));
            }
        }
        if let Some(v) = value("Content-Language") {
            mime.language = languages(v);
        }
        mime
    }

    /// Media type with the defaults applied: text/plain, or message/rfc822 in a digest.
    pub(crate) fn media(&self) -> (&str, &str) {
        match &self.media {
            Some((t, s)) => (t, s),
            None if self.digest_default => ("message", "rfc822"),
            None => ("text", "plain"),
        }
    }

    pub(crate) fn is_text(&self) -> bool {
        self.media().0.eq_ignore_ascii_case("text")
    }

    pub(crate) fn is_multipart(&self) -> bool {
        self.media().0.eq_ignore_ascii_case("multipart")
    }

    pub(crate) fn is_digest(&self) -> bool {
        let (t, s) = self.media();
        t.eq_ignore_ascii_case("multipart") && s.eq_ignore_ascii_case("digest")
    }

    pub(crate) fn is_message_rfc822(&self) -> bool {
        let (t, s) = self.media();
        t.eq_ignore_ascii_case("message") && s.eq_ignore_ascii_case("rfc822")
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The multipart boundary, when it is usable (an empty one would match every `--` line).
    pub(crate) fn boundary(&self) -> Option<&[u8]> {
        self.param("boundary")
            .map(str::as_bytes)
            .filter(|b| !b.is_empty())
    }

    pub(crate) fn charset(&self) -> Option<&str> {
        self.param("charset")
    }
}

/// `type/subtype` at the start of a Content-Type value, as written.
fn media_type(value: &[u8]) -> Option<(String, String)> {
    let mut p = Parser::new(value);
    p.skip_cfws();
    let kind = p.token();
    p.skip_cfws();
    if !p.eat(b'/') {
        return None;
    }
    p.skip_cfws();
    let subtype = p.token();
    (!kind.is_empty() && !subtype.is_empty()).then_some((kind, subtype))
}

/// Parameters of a Content-Type or Content-Disposition value, decoded by mail-parser.
fn params(value: &[u8]) -> Vec<(String, String)> {
    let bytes = header::with_crlf(value);
    match MessageStream::new(&bytes).parse_content_type() {
        HeaderValue::ContentType(ct) => ct
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.name.into_owned(), a.value.into_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The encoding token, if the value is exactly one token (Dovecot ignores anything else and
/// reports "7bit").
fn encoding_token(value: &[u8]) -> Option<String> {
    let mut p = Parser::new(value);
    p.skip_cfws();
    let token = p.token();
    p.skip_cfws();
    (p.at_end() && !token.is_empty()).then_some(token)
}

/// Content-Language: a comma-separated list of tags (RFC 3282).
fn languages(value: &[u8]) -> Vec<String> {
    let mut p = Parser::new(value);
    let mut tags = Vec::new();
    loop {
        p.skip_cfws();
        let tag = p.token();
        if tag.is_empty() {
            break;
        }
        tags.push(tag);
        p.skip_cfws();
        if !p.eat(b',') {
            break;
        }
    }
    tags
}

/// A cursor over a structured MIME header value.
struct Parser<'v> {
    data: &'v [u8],
    pos: usize,
}

impl<'v> Parser<'v> {
    fn new(data: &'v [u8]) -> Self {
        Parser { data, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips blanks, line breaks and (nested) comments.
    fn skip_cfws(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                b'\\' if depth > 0 => self.pos += 1,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ if depth > 0 => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// A MIME token (RFC 2045): printable ASCII except blanks and tspecials.
    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || b"()<>@,;:\\\"/[]?=".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(self.data.get(start..self.pos).unwrap_or_default()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mime(header: &[u8]) -> Mime {
        let fields = header::fields(header, 0..header.len());
        Mime::parse(header, &fields, false)
    }

    #[test]
    fn content_type_keeps_case_and_decodes_params() {
        let m = mime(b"Content-Type: TEXT/Plain; Charset=\"UTF-8\"; format=flowed\r\n\r\n");
        assert_eq!(m.media(), ("TEXT", "Plain"));
        assert_eq!(
            m.params,
            vec![
                ("charset".to_owned(), "UTF-8".to_owned()),
                ("format".to_owned(), "flowed".to_owned())
            ]
        );
        let m = mime(
            b"Content-Type: application/pdf;\r\n name*0*=utf-8''%E2%82%AC%20ra;\r\n name*1*=tes.pdf\r\n\r\n",
        );
        assert_eq!(m.param("name"), Some("€ rates.pdf"));
    }

    #[test]
    fn broken_fields_fall_back() {
        let m = mime(b"Content-Type: garbage\r\nContent-Transfer-Encoding: ?invalid\r\n\r\n");
        assert_eq!(m.media(), ("text", "plain"));
        assert_eq!(m.encoding, None);
        let m = mime(b"Content-Transfer-Encoding: Base64 (comment)\r\n\r\n");
        assert_eq!(m.encoding.as_deref(), Some("Base64"));
    }

    #[test]
    fn disposition_and_language() {
        let m = mime(
            b"Content-Disposition: attachment; filename=\"a b.txt\"\r\nContent-Language: en, (x) fi\r\n\r\n",
        );
        let (kind, params) = m.disposition.unwrap();
        assert_eq!(kind, "attachment");
        assert_eq!(params, vec![("filename".to_owned(), "a b.txt".to_owned())]);
        assert_eq!(m.language, vec!["en".to_owned(), "fi".to_owned()]);
    }
}
