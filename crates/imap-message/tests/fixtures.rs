//! The public API on real-world shaped messages from `testdata/` (stored with LF line ends and
//! read with CRLF, as the server hands them over). Expected strings were checked by hand
//! against the RFC 3501 grammar; sizes and line counts independently of this crate.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::borrow::Cow;

use imap_message::{MessageView, SectionKind, UnknownEncoding};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let lf = std::fs::read(&path).unwrap();
    let mut raw = Vec::with_capacity(lf.len() + lf.len() / 20);
    for b in lf {
        if b == b'\n' {
            raw.push(b'\r');
        }
        raw.push(b);
    }
    raw
}

fn s(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

fn section<'a>(m: &MessageView<'a>, part: &[u32], kind: SectionKind<'_>) -> Option<Cow<'a, [u8]>> {
    m.section(part, kind)
}

#[test]
fn plain_text_message() {
    let raw = fixture("plain.eml");
    let m = MessageView::parse(&raw);
    assert_eq!(
        s(&m.envelope()),
        "(\"Mon, 6 Jan 2025 11:15:00 +0100\" \"Lunch on Friday?\" ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Bob\" NIL \"bob\" \"example.net\")(NIL NIL \"carol\" \"example.net\")) ((\"Doe, John\" NIL \"john.doe\" \"example.com\")) NIL NIL \"<20250106101500.GA1234@example.org>\")"
    );
    assert_eq!(
        s(&m.body_structure(true)),
        "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NIL \"8bit\" 80 6 NIL NIL NIL NIL)"
    );
    assert_eq!(
        s(&m.body_structure(false)),
        "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NIL \"8bit\" 80 6)"
    );
    let body = "Hi Bob,\r\n\r\nshall we try the new café on Friday? \r\nThey have crêpes.\r\n\r\nAlice\r\n";
    assert_eq!(
        section(&m, &[1], SectionKind::Full).as_deref(),
        Some(body.as_bytes())
    );
    assert_eq!(
        section(&m, &[], SectionKind::Text).as_deref(),
        Some(body.as_bytes())
    );
    assert_eq!(
        section(&m, &[], SectionKind::Full).as_deref(),
        Some(&raw[..])
    );
    let header = section(&m, &[], SectionKind::Header).unwrap();
    assert!(header.starts_with(b"Return-Path: <alice@example.org>\r\n"));
    assert!(header.ends_with(b"User-Agent: Mutt/2.2.12\r\n\r\n"));
    assert_eq!(header.len() + body.len(), raw.len());
    // part 1 of a non-multipart message is its body; there is no part 2 or 1.1
    assert_eq!(section(&m, &[2], SectionKind::Full), None);
    assert_eq!(section(&m, &[1, 1], SectionKind::Full), None);
    assert_eq!(section(&m, &[1], SectionKind::Header), None);
    assert_eq!(section(&m, &[], SectionKind::Mime), None);
    assert_eq!(m.binary(&[1]).unwrap().as_deref(), Some(body.as_bytes()));

    let sort = m.sort_fields();
    assert_eq!(
        (sort.from.as_str(), sort.to.as_str(), sort.cc.as_str()),
        ("alice", "bob", "john.doe")
    );
    assert_eq!(sort.display_from, "alice example");
    assert_eq!(sort.base_subject, "lunch on friday?");
    assert!(!sort.subject_is_reply);
    assert_eq!(m.sent_date(), Some((1_736_158_500, (2025, 1, 6))));
}

#[test]
fn header_fields_and_not() {
    let raw = fixture("plain.eml");
    let m = MessageView::parse(&raw);
    let wanted = [
        "SUBJECT".to_owned(),
        "from".to_owned(),
        "X-Absent".to_owned(),
    ];
    assert_eq!(
        s(&section(&m, &[], SectionKind::HeaderFields(&wanted)).unwrap()),
        "From: \"Alice Example\" <alice@example.org>\r\nSubject: Lunch on Friday?\r\n\r\n"
    );
    let unwanted = [
        "received".to_owned(),
        "Return-Path".to_owned(),
        "Delivered-To".to_owned(),
        "Message-ID".to_owned(),
        "Date".to_owned(),
        "To".to_owned(),
        "Cc".to_owned(),
        "User-Agent".to_owned(),
    ];
    assert_eq!(
        s(&section(&m, &[], SectionKind::HeaderFieldsNot(&unwanted)).unwrap()),
        "From: \"Alice Example\" <alice@example.org>\r\nSubject: Lunch on Friday?\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    let none = ["X-Nothing".to_owned()];
    assert_eq!(
        section(&m, &[], SectionKind::HeaderFields(&none)).as_deref(),
        Some(&b"\r\n"[..])
    );
    // folded fields come whole
    let received = ["Received".to_owned()];
    assert_eq!(
        s(&section(&m, &[], SectionKind::HeaderFields(&received)).unwrap()),
        "Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n\tby mx.example.net (Postern) with ESMTPS id 4F1A2B3C\r\n\tfor <bob@example.net>; Mon, 6 Jan 2025 10:15:02 +0000\r\n\r\n"
    );
}

#[test]
fn mixed_with_alternative_and_rfc2231_attachment() {
    let raw = fixture("mixed-alternative.eml");
    let m = MessageView::parse(&raw);
    // the subject and the display name stay encoded, as in the header
    assert_eq!(
        s(&m.envelope()),
        "(\"Tue, 7 Jan 2025 09:30:00 -0500\" \"=?UTF-8?B?UXVhcnRhbHNiZXJpY2h0IOKAkyBHcsO2w59l?=\" ((\"=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=\" NIL \"joerg\" \"example.com\")) ((\"=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=\" NIL \"joerg\" \"example.com\")) ((\"=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=\" NIL \"joerg\" \"example.com\")) ((NIL NIL \"team\" \"example.com\")) NIL NIL NIL \"<c0ffee.1@mail.example.com>\")"
    );
    // filename* (RFC 2231, two continuations, UTF-8) arrives decoded, 8-bit, so as a literal
    assert_eq!(
        s(&m.body_structure(true)),
        "(((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 123 5 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"base64\" 146 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"----=_Part_1_8765.4321\") NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"Quartalsbericht Q4.pdf\") \"<part2.abc@example.com>\" \"Quarterly report\" \"base64\" 114 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" {34}\r\nQuartalsbericht Q4 – Größe.pdf \"size\" \"1024\")) (\"de-DE\") \"http://example.com/reports/q4.pdf\") \"mixed\" (\"boundary\" \"----=_Part_0_1234.5678\") NIL NIL NIL)"
    );
    assert_eq!(
        s(&m.body_structure(false)),
        "(((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 123 5)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"base64\" 146 1) \"alternative\")(\"application\" \"pdf\" (\"name\" \"Quartalsbericht Q4.pdf\") \"<part2.abc@example.com>\" \"Quarterly report\" \"base64\" 114) \"mixed\")"
    );

    let qp = section(&m, &[1, 1], SectionKind::Full).unwrap();
    assert!(qp.starts_with(b"Hallo Team,\r\n"));
    assert!(qp.ends_with(b"J=C3=B6rg"));
    assert_eq!(
        s(&section(&m, &[1, 1], SectionKind::Mime).unwrap()),
        "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    let alternative = section(&m, &[1], SectionKind::Full).unwrap();
    assert!(alternative.starts_with(b"------=_Part_1_8765.4321\r\n"));
    assert!(alternative.ends_with(b"------=_Part_1_8765.4321--\r\n"));
    assert_eq!(
        s(&section(&m, &[1], SectionKind::Mime).unwrap()),
        "Content-Type: multipart/alternative;\r\n boundary=\"----=_Part_1_8765.4321\"\r\n\r\n"
    );
    let pdf_mime = section(&m, &[2], SectionKind::Mime).unwrap();
    assert!(pdf_mime.starts_with(b"Content-Type: application/pdf;"));
    assert!(pdf_mime.ends_with(b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\n"));
    assert_eq!(section(&m, &[3], SectionKind::Full), None);
    assert_eq!(section(&m, &[1, 3], SectionKind::Full), None);
    assert_eq!(section(&m, &[2], SectionKind::Text), None);
    // Dovecot resolves a trailing .1 on a single part to the part itself
    assert_eq!(
        section(&m, &[2, 1], SectionKind::Full),
        section(&m, &[2], SectionKind::Full)
    );
    let text = section(&m, &[], SectionKind::Text).unwrap();
    assert!(text.starts_with(b"This is a multi-part message in MIME format.\r\n"));
}

#[test]
fn binary_undoes_transfer_encodings() {
    let raw = fixture("mixed-alternative.eml");
    let m = MessageView::parse(&raw);
    assert_eq!(
        s(&m.binary(&[1, 1]).unwrap().unwrap()),
        "Hallo Team,\r\n\r\nanbei der Quartalsbericht. Die Größe der Datei ist 2 MB, bitte nicht weiterleiten.\r\n\r\nJörg"
    );
    assert_eq!(
        s(&m.binary(&[1, 2]).unwrap().unwrap()),
        "<html><body><p>Hallo Team,</p><p>anbei der <b>Quartalsbericht</b> &ndash; naïve Größe.</p></body></html>\n"
    );
    let pdf = std::fs::read(format!(
        "{}/testdata/report.pdf.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(m.binary(&[2]).unwrap().as_deref(), Some(&pdf[..]));
    assert_eq!(m.binary(&[]).unwrap().as_deref(), Some(&raw[..]));
    assert_eq!(m.binary(&[7]), Ok(None));

    let uu = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n";
    let m = MessageView::parse(uu);
    assert_eq!(m.binary(&[1]), Err(UnknownEncoding));
}

#[test]
fn forwarded_message_rfc822() {
    let raw = fixture("forwarded.eml");
    let m = MessageView::parse(&raw);
    assert_eq!(
        s(&m.envelope()),
        "(\"Wed, 8 Jan 2025 14:00:00 +0000\" \"Fwd: Lunch on Friday?\" ((\"Bob\" NIL \"bob\" \"example.net\")) ((\"Bob\" NIL \"bob\" \"example.net\")) ((\"Bob\" NIL \"bob\" \"example.net\")) ((\"Dave\" NIL \"dave\" \"example.org\")) NIL NIL \"<20250106101500.GA1234@example.org>\" \"<fwd.42@example.net>\")"
    );
    // message/rfc822: envelope (Sender and a Reply-To group of its own), body, 21 lines
    assert_eq!(
        s(&m.body_structure(true)),
        "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 640 (\"Mon, 6 Jan 2025 11:20:00 +0100\" \"Re: [lunch] =?ISO-8859-1?Q?Caf=E9?= on Friday\" ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"List Robot\" NIL \"robot\" \"lists.example.org\")) ((NIL NIL \"lunch-list\" NIL)(NIL NIL \"alice\" \"example.org\")(NIL NIL \"bob\" \"example.net\")(NIL NIL NIL NIL)) ((\"Bob\" NIL \"bob\" \"example.net\")) NIL NIL NIL \"<inner.7@example.org>\") ((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 15 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 29 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 21 NIL (\"inline\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"fwd-boundary\") NIL NIL NIL)"
    );
    let inner = section(&m, &[2], SectionKind::Full).unwrap();
    assert_eq!(inner.len(), 640);
    assert!(inner.starts_with(b"Message-ID: <inner.7@example.org>\r\n"));
    let inner_header = section(&m, &[2], SectionKind::Header).unwrap();
    assert!(inner_header.starts_with(b"Message-ID: <inner.7@example.org>\r\n"));
    assert!(inner_header.ends_with(b"boundary=\"inner\"\r\n\r\n"));
    let inner_text = section(&m, &[2], SectionKind::Text).unwrap();
    assert_eq!(inner_header.len() + inner_text.len(), inner.len());
    assert!(inner_text.starts_with(b"--inner\r\n"));
    assert_eq!(
        s(&section(&m, &[2], SectionKind::Mime).unwrap()),
        "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    );
    let subject = ["subject".to_owned()];
    assert_eq!(
        s(&section(&m, &[2], SectionKind::HeaderFields(&subject)).unwrap()),
        "Subject: Re: [lunch] =?ISO-8859-1?Q?Caf=E9?= on Friday\r\n\r\n"
    );
    assert_eq!(
        s(&section(&m, &[2, 1], SectionKind::Full).unwrap()),
        "Caf=E9 at noon?"
    );
    assert_eq!(
        s(&section(&m, &[2, 2], SectionKind::Mime).unwrap()),
        "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    assert_eq!(
        s(&section(&m, &[2, 2], SectionKind::Full).unwrap()),
        "<p>Caf=E9 at <i>noon</i>?</p>"
    );
    assert_eq!(section(&m, &[2, 3], SectionKind::Full), None);
    assert_eq!(section(&m, &[1], SectionKind::Header), None);
    assert_eq!(
        m.binary(&[2, 1]).unwrap().as_deref(),
        Some(&b"Caf\xe9 at noon?"[..])
    );

    let ids = m.thread_ids();
    assert_eq!(ids.message_id.as_deref(), Some("fwd.42@example.net"));
    assert_eq!(
        ids.in_reply_to.as_deref(),
        Some("20250106101500.GA1234@example.org")
    );
    assert_eq!(
        ids.references,
        vec!["20250106101500.GA1234@example.org".to_owned()]
    );
    let sort = m.sort_fields();
    assert_eq!(sort.base_subject, "lunch on friday?");
    assert!(sort.subject_is_reply);
}

#[test]
fn message_without_mime_headers_and_with_groups() {
    let raw = fixture("no-content-type.eml");
    let m = MessageView::parse(&raw);
    assert_eq!(
        s(&m.envelope()),
        "(\"9 Jan 2025 08:00 -0800\" \"=?utf-8?q?Re=3A_caf=C3=A9?= plans\" ((\"Carol Q. Public\" NIL \"carol\" \"example.net\")) ((\"Carol Q. Public\" NIL \"carol\" \"example.net\")) ((\"Carol Q. Public\" NIL \"carol\" \"example.net\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL \"<plain-old@example.net>\")"
    );
    assert_eq!(
        s(&m.body_structure(true)),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 48 2 NIL NIL NIL NIL)"
    );
    assert_eq!(
        s(&section(&m, &[1], SectionKind::Full).unwrap()),
        "Just plain text, no MIME at all.\r\nSecond line.\r\n"
    );
    assert_eq!(
        section(&m, &[1], SectionKind::Mime),
        section(&m, &[], SectionKind::Header)
    );
    assert_eq!(m.sent_date(), Some((1_736_438_400, (2025, 1, 9))));
    let sort = m.sort_fields();
    assert_eq!(sort.base_subject, "café plans");
    assert!(sort.subject_is_reply);
    assert_eq!(sort.display_from, "carol q. public");
    assert_eq!(sort.to, "");
}

#[test]
fn search_predicates_decode_what_they_search() {
    let raw = fixture("mixed-alternative.eml");
    let m = MessageView::parse(&raw);
    // quoted-printable UTF-8 text part
    assert!(m.body_contains("GRÖßE der Datei"));
    // a soft line break joins the words
    assert!(m.body_contains("bitte nicht weiterleiten"));
    // base64 UTF-8 HTML part, as source and as text
    assert!(m.body_contains("NAÏVE"));
    assert!(m.body_contains("<b>quartalsbericht</b>"));
    assert!(m.body_contains("quartalsbericht – naïve"));
    // attachments are not text
    assert!(!m.body_contains("%PDF"));
    assert!(m.body_contains(""));
    // encoded-word subject and display name, addresses
    assert!(m.header_contains("Subject", "größe"));
    assert!(m.header_contains("SUBJECT", "QUARTALSBERICHT –"));
    assert!(m.header_contains("from", "Jörg Müller"));
    assert!(m.header_contains("From", "joerg@example.com"));
    assert!(!m.header_contains("To", "joerg"));
    assert!(m.header_contains("Subject", ""));
    assert!(!m.header_contains("Cc", ""));
    // TEXT: any header, MIME headers of parts too, or the body
    assert!(m.text_contains("quarterly REPORT"));
    assert!(m.text_contains("größe der datei"));
    assert!(m.text_contains("mail.example.com"));
    assert!(!m.text_contains("no such words"));

    let raw = fixture("forwarded.eml");
    let m = MessageView::parse(&raw);
    // ISO-8859-1 quoted-printable inside the encapsulated message
    assert!(m.body_contains("CAFÉ at noon"));
    assert!(!m.header_contains("Subject", "café"));
    assert!(m.text_contains("[lunch] café on friday"));
    assert!(!m.body_contains("list robot"));

    let raw = fixture("no-content-type.eml");
    let m = MessageView::parse(&raw);
    assert!(m.header_contains("subject", "RE: CAFÉ"));
    assert!(m.body_contains("second LINE"));
}

#[test]
fn sent_date_keeps_the_senders_calendar_day() {
    let m = MessageView::parse(b"Date: Thu, 9 Jan 2025 23:30:00 -0800\r\n\r\n");
    // 2025-01-10 07:30 UTC, but the 9th where it was sent
    assert_eq!(m.sent_date(), Some((1_736_494_200, (2025, 1, 9))));
    assert_eq!(
        MessageView::parse(b"Date: someday\r\n\r\n").sent_date(),
        None
    );
    assert_eq!(MessageView::parse(b"\r\n").sent_date(), None);
}

#[test]
fn dovecot_differences_that_are_deliberate() {
    // a Content-Type without a subtype is treated as absent (RFC 2045 default)
    let m = MessageView::parse(b"Content-Type: text\r\n\r\nx");
    assert_eq!(
        s(&m.body_structure(false)),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)"
    );
    // an invalid transfer encoding shows as 7bit, as in Dovecot
    let m = MessageView::parse(b"Content-Transfer-Encoding: ?invalid\r\n\r\nx");
    assert!(s(&m.body_structure(false)).contains("\"7bit\""));
    // multipart/digest parts default to message/rfc822
    let digest = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n--d--\r\n";
    let m = MessageView::parse(digest);
    assert!(
        s(&m.body_structure(false))
            .starts_with("((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" ")
    );
}
