//! ENVELOPE (RFC 3501 7.4.2) of a message header, written the way Dovecot writes it: values
//! raw as in the header (encoded words not decoded), the last occurrence of a field counting,
//! Sender and Reply-To falling back to From.

use crate::address::{self, Item};
use crate::header::{self, Field};
use crate::quote;

/// Appends `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
pub(crate) fn write(out: &mut Vec<u8>, raw: &[u8], fields: &[Field]) {
    let value =
        |name: &str| header::last(raw, fields, name).map(|f| header::slice(raw, f.value.clone()));
    let addresses = |name: &str| {
        value(name)
            .map(address::parse_list)
            .filter(|l| !l.is_empty())
    };

    out.push(b'(');
    raw_nstring(out, value("Date"));
    out.push(b' ');
    match value("Subject") {
        Some(v) => quote::human_string(out, skip_leading_blanks(v)),
        None => out.extend_from_slice(b"NIL"),
    }
    let from = addresses("From");
    let sender = addresses("Sender");
    let reply_to = addresses("Reply-To");
    for list in [
        from.as_deref(),
        sender.as_deref().or(from.as_deref()),
        reply_to.as_deref().or(from.as_deref()),
        addresses("To").as_deref(),
        addresses("Cc").as_deref(),
        addresses("Bcc").as_deref(),
    ] {
        out.push(b' ');
        write_addresses(out, list);
    }
    out.push(b' ');
    raw_nstring(out, value("In-Reply-To"));
    out.push(b' ');
    raw_nstring(out, value("Message-ID"));
    out.push(b')');
}

fn skip_leading_blanks(v: &[u8]) -> &[u8] {
    let n = v
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    v.get(n..).unwrap_or_default()
}

/// A field value unfolded (line breaks dropped) as an nstring.
fn raw_nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) => quote::string(out, &header::unfold(v)),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// An address list as `((name adl mailbox host)...)`, or NIL when there is none.
fn write_addresses(out: &mut Vec<u8>, list: Option<&[Item]>) {
    let Some(list) = list else {
        out.extend_from_slice(b"NIL");
        return;
    };
    out.push(b'(');
    for item in list {
        match item {
            Item::Mailbox(m) => {
                out.push(b'(');
                match &m.name {
                    Some(name) => quote::human_string(out, name),
                    None => out.extend_from_slice(b"NIL"),
                }
                out.push(b' ');
                quote::nstring(out, m.route.as_deref());
                out.push(b' ');
                quote::string(out, &m.local);
                out.push(b' ');
                quote::string(out, &m.domain);
                out.push(b')');
            }
            Item::GroupStart(name) => {
                out.extend_from_slice(b"(NIL NIL ");
                quote::string(out, name);
                out.extend_from_slice(b" NIL)");
            }
            Item::GroupEnd => out.extend_from_slice(b"(NIL NIL NIL NIL)"),
        }
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(raw: &[u8]) -> String {
        let fields = header::fields(raw, 0..raw.len());
        let mut out = Vec::new();
        write(&mut out, raw, &fields);
        String::from_utf8_lossy(&out).into_owned()
    }

    // The cases Dovecot's own envelope tests use, with the results Dovecot gives.
    #[test]
    fn dovecot_cases() {
        assert_eq!(
            envelope(
                b"Message-ID: <msg@id>\nIn-Reply-To: <reply@to.id>\nDate: Thu, 15 Feb 2007 01:02:03 +0200\nSubject: subject header\nFrom: From Real <fromuser@fromdomain.org>\nTo: To Real <touser@todomain.org>\nCc: Cc Real <ccuser@ccdomain.org>\nBcc: Bcc Real <bccuser@bccdomain.org>\nSender: Sender Real <senderuser@senderdomain.org>\nReply-To: ReplyTo Real <replytouser@replytodomain.org>\n\nbody\n"
            ),
            "(\"Thu, 15 Feb 2007 01:02:03 +0200\" \"subject header\" ((\"From Real\" NIL \"fromuser\" \"fromdomain.org\")) ((\"Sender Real\" NIL \"senderuser\" \"senderdomain.org\")) ((\"ReplyTo Real\" NIL \"replytouser\" \"replytodomain.org\")) ((\"To Real\" NIL \"touser\" \"todomain.org\")) ((\"Cc Real\" NIL \"ccuser\" \"ccdomain.org\")) ((\"Bcc Real\" NIL \"bccuser\" \"bccdomain.org\")) \"<reply@to.id>\" \"<msg@id>\")"
        );
        assert_eq!(
            envelope(
                b"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\nTo: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\nCc: group:;, group2: (foo) ;\n\nbody\n"
            ),
            "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)) ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)"
        );
        assert_eq!(
            envelope(b"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\nSender: \nReply-To: \n\nbody\n"),
            "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) NIL NIL NIL NIL NIL)"
        );
        assert_eq!(
            envelope(
                b"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: <@route:user@domain>\n\nbody\n"
            ),
            "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) NIL NIL NIL NIL NIL)"
        );
    }

    #[test]
    fn empty_header() {
        assert_eq!(
            envelope(b"\r\nbody"),
            "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
        );
    }
}
