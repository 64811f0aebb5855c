//! Inputs meant to break things: deep nesting, huge part counts, broken syntax, random bytes.
//! Every entry point must return (no panic, no stack overflow) and stay well-formed.
#![allow(clippy::unwrap_used, clippy::panic)]

use imap_message::{MessageView, SectionKind};

fn exercise(raw: &[u8]) {
    let m = MessageView::parse(raw);
    let env = m.envelope();
    assert!(env.starts_with(b"(") && env.ends_with(b")"));
    for ext in [true, false] {
        let bs = m.body_structure(ext);
        assert!(bs.starts_with(b"(") && bs.ends_with(b")"));
    }
    let names = ["Subject".to_owned(), "Content-Type".to_owned()];
    for path in [&[][..], &[1], &[1, 1], &[2], &[1, 2, 3], &[u32::MAX], &[0]] {
        for kind in [
            SectionKind::Full,
            SectionKind::Header,
            SectionKind::HeaderFields(&names),
            SectionKind::HeaderFieldsNot(&names),
            SectionKind::Text,
            SectionKind::Mime,
        ] {
            let _ = m.section(path, kind);
        }
        let _ = m.binary(path);
    }
    let _ = m.body_contains("x");
    let _ = m.text_contains("ü");
    let _ = m.header_contains("From", "a");
    let _ = m.sort_fields();
    let _ = m.thread_ids();
    let _ = m.sent_date();
}

#[test]
fn ten_thousand_nested_multiparts() {
    let mut raw = Vec::new();
    for i in 0..10_000 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"<{i}>\"\r\n\r\n--<{i}>\r\n")
                .as_bytes(),
        );
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nleaf\r\n");
    exercise(&raw);
    let m = MessageView::parse(&raw);
    let bs = m.body_structure(true);
    assert!(
        bs.windows(28)
            .any(|w| w == b"\"application\" \"octet-stream\"")
    );
    let deep: Vec<u32> = vec![1; 200];
    assert_eq!(m.section(&deep, SectionKind::Full), None);
}

#[test]
fn ten_thousand_nested_messages() {
    let mut raw = Vec::new();
    for i in 0..10_000 {
        raw.extend_from_slice(
            format!("Subject: level {i}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"Subject: bottom\r\n\r\nbody\r\n");
    exercise(&raw);
    let m = MessageView::parse(&raw);
    let path: Vec<u32> = vec![1; 50];
    assert!(m.section(&path, SectionKind::Header).is_some());
}

#[test]
fn many_parts_and_boundary_lines() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for _ in 0..30_000 {
        raw.extend_from_slice(b"--b\r\n");
    }
    exercise(&raw);
}

#[test]
fn broken_syntax() {
    let cases: &[&[u8]] = &[
        b"",
        b"\r\n",
        b"\n\n\n",
        b"no colon at all",
        b"From: ((((((((((((((((((((((\r\n\r\n",
        b"From: \"unterminated\r\nTo: <<<@@@>>>,,,;;;:::\r\n\r\n",
        b"To: a:b:c:d;e;f, g: <h@i> ;\r\nCc: @\r\nBcc: <@a,@b:>\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x--\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n--x\r\n--x--",
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n",
        b"Content-Type: text/plain; charset=x-unknown-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!====\r\n",
        b"Content-Type: text/plain; charset*0*=utf-8''%ZZ; charset*1=\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=\r\n==\r\n=Z\r\n",
        b"Subject: \x00\xff\xfe =?utf-8?b?////?= =?x?q?=?=\r\nDate: 99 Foo 99999 99:99:99 +9999\r\n\r\n\x00",
        b"Content-Disposition: ;;;\r\nContent-Language: ,,,\r\nContent-Location:\r\n\r\n",
        b"References: <<<<>>>> <a@b\r\nIn-Reply-To: \"<x@y>\" (<z@w>)\r\nMessage-ID:\r\n\r\n",
    ];
    for raw in cases {
        exercise(raw);
    }
}

/// A small deterministic fuzz loop over mail-shaped tokens, so plain `cargo test` catches the
/// obvious panics before the fuzz target does.
#[test]
fn pseudo_random_messages() {
    let tokens: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=a\r\n",
        b"Content-Type: multipart/digest; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/html; charset=iso-8859-1\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"From: \"a\" <b@c>, d:e@f;\r\n",
        b"Subject: =?utf-8?q?=C3=A9?= Re: [x]\r\n",
        b" folded\r\n",
        b"\r\n",
        b"--a\r\n",
        b"--a--\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"body =3D text\r\n",
        b"SGVsbG8=\r\n",
        b"(",
        b"\"",
        b"<",
        b"\xc3",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2_000 {
        let mut raw = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 40) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let token = tokens[(state % tokens.len() as u64) as usize];
            raw.extend_from_slice(token);
        }
        exercise(&raw);
    }
}
