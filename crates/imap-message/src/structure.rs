//! BODY and BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051 7.5.2) of a parsed MIME tree, with the
//! choices Dovecot makes where the RFC leaves room: text parts without a charset get
//! `"charset" "us-ascii"`, languages are always a list, an empty multipart shows one empty
//! text/plain part, opaque (too deep) parts show as application/octet-stream.

use crate::content::Mime;
use crate::envelope;
use crate::mime::{Kind, Tree};
use crate::quote;

const EMPTY_PART: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";

/// Appends the body structure of part `id`; `extensible` adds the BODYSTRUCTURE extension data.
pub(crate) fn write(out: &mut Vec<u8>, raw: &[u8], tree: &Tree, id: usize, extensible: bool) {
    let Some(part) = tree.get(id) else {
        out.extend_from_slice(EMPTY_PART);
        return;
    };
    let mime = &part.mime;
    out.push(b'(');
    match &part.kind {
        Kind::Multipart(children) => {
            if children.is_empty() {
                out.extend_from_slice(EMPTY_PART);
            }
            for &child in children {
                write(out, raw, tree, child, extensible);
            }
            out.push(b' ');
            quote::string(out, mime.media().1.as_bytes());
            if extensible {
                out.push(b' ');
                params(out, &mime.params, false);
                common_extension(out, mime);
            }
        }
        kind => {
            let opaque = matches!(kind, Kind::Opaque);
            let text = !opaque && mime.is_text();
            if opaque {
                out.extend_from_slice(b"\"application\" \"octet-stream\" NIL");
            } else {
                let (media, subtype) = mime.media();
                quote::string(out, media.as_bytes());
                out.push(b' ');
                quote::string(out, subtype.as_bytes());
                out.push(b' ');
                params(out, &mime.params, text);
            }
            out.push(b' ');
            quote::nstring(out, mime.id.as_deref());
            out.push(b' ');
            quote::nstring(out, mime.description.as_deref());
            out.push(b' ');
            quote::string(out, mime.encoding.as_deref().unwrap_or("7bit").as_bytes());
            let body = raw.get(part.body.clone()).unwrap_or_default();
            out.push(b' ');
            out.extend_from_slice(body.len().to_string().as_bytes());
            if let Kind::Message(child) = kind {
                out.push(b' ');
                let child_fields = tree
                    .get(*child)
                    .map(|c| c.fields.as_slice())
                    .unwrap_or_default();
                envelope::write(out, raw, child_fields);
                out.push(b' ');
                write(out, raw, tree, *child, extensible);
                out.push(b' ');
                out.extend_from_slice(lines(body).to_string().as_bytes());
            } else if text {
                out.push(b' ');
                out.extend_from_slice(lines(body).to_string().as_bytes());
            }
            if extensible {
                out.push(b' ');
                quote::nstring(out, mime.md5.as_deref());
                common_extension(out, mime);
            }
        }
    }
    out.push(b')');
}

/// Line count as Dovecot counts it: the number of line feeds.
fn lines(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

/// `("name" "value" ...)` or NIL; text parts get a default charset.
fn params(out: &mut Vec<u8>, params: &[(String, String)], default_charset: bool) {
    let has_charset = params
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("charset"));
    if params.is_empty() && !default_charset {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        quote::string(out, name.as_bytes());
        out.push(b' ');
        quote::string(out, value.as_bytes());
    }
    if default_charset && !has_charset {
        if !params.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}

/// ` disposition language location`, shared by single parts and multiparts.
fn common_extension(out: &mut Vec<u8>, mime: &Mime) {
    out.push(b' ');
    match &mime.disposition {
        Some((kind, dparams)) => {
            out.push(b'(');
            quote::string(out, kind.as_bytes());
            out.push(b' ');
            params(out, dparams, false);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    if mime.language.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, lang) in mime.language.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            quote::string(out, lang.as_bytes());
        }
        out.push(b')');
    }
    out.push(b' ');
    quote::nstring(out, mime.location.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(raw: &[u8], extensible: bool) -> String {
        let tree = Tree::parse(raw);
        let mut out = Vec::new();
        write(&mut out, raw, &tree, 0, extensible);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Dovecot's own bodystructure test message, with CRLF line ends (Dovecot counts sizes
    /// as CRLF too), and the exact strings Dovecot produces for it.
    #[test]
    fn dovecot_reference_message() {
        let lf = "From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo\n bar\"\n\nRoot MIME prologue\n\n--foo bar\nContent-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\nContent-ID: <foo@example.com>\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\nContent-Disposition: inline; foo=bar\nContent-Description: hellodescription\nContent-Language: en, fi, se\nContent-Location: http://example.com/test.txt\n\nhello\n\n--foo bar\nContent-Type: message/rfc822\n\nFrom: sub@domain.org\nTo: sub-to1@domain.org, sub-to2@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\nContent-Type: multipart/alternative; boundary=\"sub1\"\n\nSub MIME prologue\n--sub1\nContent-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n<p>Hello world</p>\n\n--sub1\nContent-Type: text/plain\nContent-Transfer-Encoding: ?invalid\n\nHello another world\n\n--sub1--\nSub MIME epilogue\n\n--foo bar--\nRoot MIME epilogue\n";
        let raw = lf.replace('\n', "\r\n");
        assert_eq!(
            structure(raw.as_bytes(), true),
            "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"foo\" \"bar\")) (\"en\" \"fi\" \"se\") \"http://example.com/test.txt\")(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)"
        );
        assert_eq!(
            structure(raw.as_bytes(), false),
            "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1) \"alternative\") 21) \"mixed\")"
        );
    }

    #[test]
    fn empty_multipart_and_plain_default() {
        assert_eq!(
            structure(
                b"Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts\r\n",
                false
            ),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")"
        );
        assert_eq!(
            structure(b"Subject: x\r\n\r\nab\r\ncd\r\n", true),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 2 NIL NIL NIL NIL)"
        );
    }
}
