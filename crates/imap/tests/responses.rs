//! The response writers: exact bytes.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use imap::command::{Date, DateTime, Flag, SequenceSet};
use imap::response::*;

fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn status_lines() {
    assert_eq!(
        written(|o| tagged(
            o,
            "A142",
            Status::Ok,
            Some(&Code::ReadWrite),
            "SELECT completed"
        )),
        "A142 OK [READ-WRITE] SELECT completed\r\n"
    );
    assert_eq!(
        written(|o| untagged(
            o,
            Status::Ok,
            Some(&Code::UidValidity(3857529045)),
            "UIDs valid"
        )),
        "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
    );
    assert_eq!(
        written(|o| untagged(o, Status::Bye, None, "server\r\nshutting down")),
        "* BYE servershutting down\r\n"
    );
    assert_eq!(
        written(|o| tagged(o, "a", Status::No, None, "")),
        "a NO failed\r\n"
    );
    assert_eq!(
        written(|o| tagged(o, "bad tag", Status::Bad, None, "x")),
        "* BAD x\r\n"
    );
    assert_eq!(
        written(|o| untagged(o, Status::PreAuth, None, "hi")),
        "* PREAUTH hi\r\n"
    );
    assert_eq!(written(|o| continuation(o, "Ready\r\n")), "+ Ready\r\n");
    assert_eq!(written(|o| continuation_base64(o, b"")), "+ \r\n");
    assert_eq!(written(|o| continuation_base64(o, b"\0a")), "+ AGE=\r\n");
}

#[test]
fn response_codes() {
    let cases = [
        (
            Code::Capability(vec!["IMAP4rev1".into(), "IDLE".into()]),
            "CAPABILITY IMAP4rev1 IDLE",
        ),
        (
            Code::PermanentFlags(vec!["\\Deleted".into(), "\\*".into()]),
            "PERMANENTFLAGS (\\Deleted \\*)",
        ),
        (Code::BadCharset(vec![]), "BADCHARSET"),
        (
            Code::BadCharset(vec!["UTF-8".into(), "X Y".into()]),
            "BADCHARSET (UTF-8 \"X Y\")",
        ),
        (
            Code::AppendUid {
                uid_validity: 38505,
                uids: "3955".into(),
            },
            "APPENDUID 38505 3955",
        ),
        (
            Code::CopyUid {
                uid_validity: 38505,
                source: SequenceSet::from_values(&[304, 319, 320]),
                dest: SequenceSet::from_values(&[3956, 3957, 3958]),
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (
            Code::HighestModSeq(715194045007),
            "HIGHESTMODSEQ 715194045007",
        ),
        (Code::Modified("7,9".into()), "MODIFIED 7,9"),
        (Code::UidNext(4392), "UIDNEXT 4392"),
        (Code::Unseen(12), "UNSEEN 12"),
        (Code::ReadOnly, "READ-ONLY"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::CompressionActive, "COMPRESSIONACTIVE"),
        (Code::Other("X-FOO] bar\r\n".into()), "X-FOO bar"),
    ];
    for (code, text) in cases {
        assert_eq!(written(|o| code.write(o)), text);
    }
}

#[test]
fn strings_quoted_or_literal() {
    assert_eq!(
        written(|o| write_string(o, "a \"b\" \\c")),
        "\"a \\\"b\\\" \\\\c\""
    );
    assert_eq!(written(|o| write_string(o, "")), "\"\"");
    assert_eq!(written(|o| write_string(o, "a\r\nb")), "{4}\r\na\r\nb");
    assert_eq!(written(|o| write_string(o, "für")), "{4}\r\nfür");
    let long = "x".repeat(1025);
    assert_eq!(
        written(|o| write_string(o, &long)),
        format!("{{1025}}\r\n{long}")
    );
    assert_eq!(written(|o| write_string(o, "x".repeat(1024))).len(), 1026);
    assert_eq!(written(|o| write_astring(o, "Drafts")), "Drafts");
    assert_eq!(written(|o| write_astring(o, "a]b")), "a]b");
    assert_eq!(written(|o| write_astring(o, "My Drafts")), "\"My Drafts\"");
    assert_eq!(written(|o| write_astring(o, "")), "\"\"");
    assert_eq!(written(|o| write_nstring(o, None)), "NIL");
    assert_eq!(written(|o| write_nstring(o, Some(b"NIL"))), "\"NIL\"");
}

#[test]
fn mailboxes_and_flags() {
    assert_eq!(written(|o| write_mailbox(o, "inbox")), "INBOX");
    assert_eq!(written(|o| write_mailbox(o, "INBOX.Sent")), "INBOX.Sent");
    assert_eq!(written(|o| write_mailbox(o, "a*b")), "\"a*b\"");
    assert_eq!(written(|o| write_mailbox(o, "a%")), "\"a%\"");
    assert_eq!(
        written(|o| write_mailbox(o, "Entw&APw-rfe")),
        "Entw&APw-rfe"
    );
    assert_eq!(
        written(|o| write_flags(
            o,
            &[Flag::Seen, Flag::Recent, Flag::Keyword("$Forwarded".into())]
        )),
        "(\\Seen \\Recent $Forwarded)"
    );
    assert_eq!(written(|o| write_flags(o, &[])), "()");
}

#[test]
fn fetch_writer() {
    let date = DateTime {
        date: Date::new(1996, 7, 17).unwrap(),
        hour: 2,
        minute: 44,
        second: 25,
        zone_minutes: -420,
    };
    let out = written(|o| {
        let mut fetch = FetchWriter::new(o, 12);
        fetch
            .uid(4827313)
            .flags(&[Flag::Seen])
            .internal_date(&date)
            .rfc822_size(44827)
            .mod_seq(12121231000)
            .nstring("BODY[HEADER.FIELDS (DATE)]", Some(b"Date: x\r\n\r\n"))
            .nstring("BODY[1]", None);
        fetch.finish();
    });
    assert_eq!(
        out,
        "* 12 FETCH (UID 4827313 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
         RFC822.SIZE 44827 MODSEQ (12121231000) BODY[HEADER.FIELDS (DATE)] {11}\r\nDate: x\r\n\r\n \
         BODY[1] NIL)\r\n"
    );
    let out = written(|o| {
        let mut fetch = FetchWriter::new(o, 1);
        fetch.literal8("BINARY[1]", b"a\0b");
        fetch.finish();
    });
    assert_eq!(out, "* 1 FETCH (BINARY[1] ~{3}\r\na\0b)\r\n");
}
