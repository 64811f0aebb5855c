//! parse_command and the APPEND parsers against RFC examples and hostile input.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use imap::command::*;
use imap::{Secret, parse_append_head, parse_append_next, parse_command};

fn parse(text: &str) -> Command {
    let mut bytes = text.as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    match parse_command(&bytes) {
        Ok(command) => command,
        Err(e) => panic!("{text:?}: {e:?}"),
    }
}

fn body(text: &str) -> CommandBody {
    parse(text).body
}

fn error(text: &str) -> ParseError {
    let mut bytes = text.as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    match parse_command(&bytes) {
        Ok(command) => panic!("{text:?} parsed: {command:?}"),
        Err(e) => e,
    }
}

fn set(text: &str) -> SequenceSet {
    match body(&format!("a UID EXPUNGE {text}")) {
        CommandBody::UidExpunge(set) => set,
        other => panic!("{other:?}"),
    }
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date::new(year, month, day).unwrap()
}

fn corpus(name: &str) -> Vec<String> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.replace("{CRLF}", "\r\n"))
        .collect()
}

#[test]
fn every_rfc_example_parses() {
    for line in corpus("commands.txt") {
        parse(&line);
    }
}

#[test]
fn every_bad_command_is_refused_with_its_tag() {
    for line in corpus("bad-commands.txt") {
        match line.strip_prefix("notag") {
            Some(rest) => {
                let rest = rest.strip_prefix(' ').unwrap_or(rest);
                assert_eq!(error(rest).tag, None, "{line:?}");
            }
            None => assert_eq!(error(&line).tag.as_deref(), Some("a"), "{line:?}"),
        }
    }
}

#[test]
fn select_inbox_in_any_case() {
    let expected = CommandBody::Select {
        mailbox: "INBOX".into(),
        params: SelectParams::default(),
    };
    assert_eq!(parse("A142 SELECT INBOX").tag, "A142");
    assert_eq!(body("A142 SELECT INBOX"), expected);
    assert_eq!(body("A142 select \"inbox\""), expected);
    assert_eq!(body("A142 SELECT {5}\r\nInBoX"), expected);
    assert_eq!(
        body("a examine Inbox/Sub"),
        CommandBody::Examine {
            mailbox: "Inbox/Sub".into(),
            params: SelectParams::default()
        }
    );
}

#[test]
fn mailbox_names_must_be_utf8_unless_they_are() {
    assert_eq!(
        body("a DELETE \"Entw&APw-rfe\""),
        CommandBody::Delete("Entw&APw-rfe".into())
    );
    assert_eq!(
        body("a DELETE \"Entwürfe\""),
        CommandBody::Delete("Entwürfe".into())
    );
    assert_eq!(
        body("a DELETE {9}\r\nEntwürfe"),
        CommandBody::Delete("Entwürfe".into())
    );
    let e = parse_command(b"a DELETE \"Entw\xfcrfe\"\r\n").unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert!(parse_command(b"a DELETE {8}\r\nEntw\xfcrfe\r\n").is_err());
    assert!(parse_command(b"a DELETE {3}\r\na\0b\r\n").is_err());
}

#[test]
fn qresync_and_condstore_select() {
    assert_eq!(
        body("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            params: SelectParams {
                condstore: false,
                qresync: Some(QresyncParams {
                    uid_validity: 67_890_007,
                    mod_seq: 20_050_715_194_045_000,
                    known_uids: Some(set("41,43:211,214:541")),
                    seq_match: None,
                }),
            },
        }
    );
    let CommandBody::Select { params, .. } =
        body("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:10 41:50)))")
    else {
        panic!()
    };
    let qresync = params.qresync.unwrap();
    assert_eq!(qresync.known_uids, Some(set("41:211,214:541")));
    assert_eq!(qresync.seq_match, Some((set("1:10"), set("41:50"))));
    let CommandBody::Select { params, .. } = body("a SELECT x (CONDSTORE)") else {
        panic!()
    };
    assert!(params.condstore);
}

#[test]
fn fetch_with_sections_and_partials() {
    assert_eq!(
        body("a003 fetch 12 (flags body[header.fields (date from)] body.peek[1.2.mime]<0.100>)"),
        CommandBody::Fetch {
            uid: false,
            set: SequenceSet::single(12),
            items: vec![
                FetchAttr::Flags,
                FetchAttr::BodySection {
                    peek: false,
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::HeaderFields(vec![
                            "date".into(),
                            "from".into()
                        ])),
                    },
                    partial: None,
                },
                FetchAttr::BodySection {
                    peek: true,
                    section: Section {
                        part: vec![1, 2],
                        text: Some(SectionText::Mime),
                    },
                    partial: Some((0, 100)),
                },
            ],
            changed_since: None,
            vanished: false,
        }
    );
}

#[test]
fn fetch_macros_are_expanded() {
    let CommandBody::Fetch { items, .. } = body("a FETCH 12 FULL") else {
        panic!()
    };
    assert_eq!(
        items,
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body
        ]
    );
    let CommandBody::Fetch { items, .. } = body("a FETCH 12 fast") else {
        panic!()
    };
    assert_eq!(items.len(), 3);
}

#[test]
fn fetch_response_names() {
    let CommandBody::Fetch { items, .. } = body(
        "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Date \"X Y\")]<10.20> BODY[1.2.TEXT] BINARY.PEEK[1.2]<0.5> BINARY.SIZE[] RFC822.SIZE)",
    ) else {
        panic!()
    };
    let names: Vec<String> = items.iter().map(FetchAttr::response_name).collect();
    assert_eq!(
        names,
        [
            "BODY[HEADER.FIELDS (Date \"X Y\")]<10>",
            "BODY[1.2.TEXT]",
            "BINARY[1.2]<0>",
            "BINARY.SIZE[]",
            "RFC822.SIZE"
        ]
    );
    assert!(!items[0].sets_seen());
    assert!(items[1].sets_seen());
}

#[test]
fn uid_fetch_with_qresync_modifiers() {
    assert_eq!(
        body("s101 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)"),
        CommandBody::Fetch {
            uid: true,
            set: SequenceSet(vec![SeqRange {
                start: SeqNum::Value(1),
                end: SeqNum::Star
            }]),
            items: vec![FetchAttr::Flags],
            changed_since: Some(12345),
            vanished: true,
        }
    );
}

#[test]
fn search_with_charset_and_literal() {
    assert_eq!(
        body("A283 SEARCH CHARSET UTF-8 TEXT {4}\r\nXXXX"),
        CommandBody::Search {
            uid: false,
            charset: Some("UTF-8".into()),
            criteria: SearchKey::Text("XXXX".into()),
            ret: None,
        }
    );
    // Latin-1 strings are transcoded; an unknown charset still parses (for BADCHARSET).
    let CommandBody::Search { criteria, .. } =
        parse_command(b"a SEARCH CHARSET ISO-8859-1 SUBJECT {3}\r\nf\xfcr\r\n")
            .unwrap()
            .body
    else {
        panic!()
    };
    assert_eq!(criteria, SearchKey::Subject("für".into()));
    let CommandBody::Search { charset, .. } =
        parse_command(b"a SEARCH CHARSET X-FOO SUBJECT {3}\r\nf\xfcr\r\n")
            .unwrap()
            .body
    else {
        panic!()
    };
    assert_eq!(charset.as_deref(), Some("X-FOO"));
    assert!(parse_command(b"a SEARCH CHARSET UTF-8 SUBJECT {3}\r\nf\xfcr\r\n").is_err());
}

#[test]
fn search_keys_and_structure() {
    assert_eq!(
        body("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
        CommandBody::Search {
            uid: false,
            charset: None,
            criteria: SearchKey::And(vec![
                SearchKey::Flagged,
                SearchKey::Since(date(1994, 2, 1)),
                SearchKey::Not(Box::new(SearchKey::From("Smith".into()))),
            ]),
            ret: None,
        }
    );
    let CommandBody::Search { criteria, .. } =
        body("a SEARCH OR (SMALLER 1000 LARGER 100) NOT MODSEQ \"/flags/\\\\draft\" all 620162338")
    else {
        panic!()
    };
    assert_eq!(
        criteria,
        SearchKey::Or(
            Box::new(SearchKey::And(vec![
                SearchKey::Smaller(1000),
                SearchKey::Larger(100)
            ])),
            Box::new(SearchKey::Not(Box::new(SearchKey::ModSeq(620_162_338))))
        )
    );
    let CommandBody::Search { criteria, .. } =
        body("a SEARCH HEADER Message-ID \"<x@y>\" 2:4 YOUNGER 60 UID 1:*")
    else {
        panic!()
    };
    let SearchKey::And(keys) = criteria else {
        panic!()
    };
    assert_eq!(
        keys[0],
        SearchKey::Header("Message-ID".into(), "<x@y>".into())
    );
    assert_eq!(keys[1], SearchKey::Sequence(set("2:4")));
    assert_eq!(keys[2], SearchKey::Younger(60));
}

#[test]
fn esearch_return_options_and_searchres() {
    let CommandBody::Search { ret, uid, .. } = body("A301 UID SEARCH RETURN (SAVE MIN) FLAGGED")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(ret, Some(vec![SearchReturn::Save, SearchReturn::Min]));
    let CommandBody::Search { ret, .. } = body("a SEARCH RETURN () ALL") else {
        panic!()
    };
    assert_eq!(ret, Some(vec![]));
    let CommandBody::Fetch { set, .. } = body("A302 UID FETCH $ (FLAGS)") else {
        panic!()
    };
    assert!(set.is_saved());
    let CommandBody::Search { criteria, .. } = body("a SEARCH UID $ SMALLER 4096") else {
        panic!()
    };
    assert_eq!(
        criteria,
        SearchKey::And(vec![
            SearchKey::Uid(SequenceSet::saved()),
            SearchKey::Smaller(4096)
        ])
    );
}

#[test]
fn nesting_is_limited_without_overflowing_the_stack() {
    let deep = format!("a SEARCH {}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = error(&deep);
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert!(e.message.contains("nested"), "{e:?}");
    assert!(
        error(&format!("a SEARCH {}ALL", "NOT ".repeat(10_000)))
            .message
            .contains("nested")
    );
    assert!(
        error(&format!("a SEARCH {}ALL", "OR ALL ".repeat(10_000)))
            .message
            .contains("nested")
    );
    let ok = format!(
        "a SEARCH {}ALL{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    parse(&ok);
    let too_deep = format!(
        "a SEARCH {}ALL{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    error(&too_deep);
}

#[test]
fn sort_and_thread_from_rfc_5256() {
    assert_eq!(
        body("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL"),
        CommandBody::Sort {
            uid: false,
            keys: vec![
                SortKey {
                    reverse: false,
                    criterion: SortCriterion::Subject
                },
                SortKey {
                    reverse: true,
                    criterion: SortCriterion::Date
                },
            ],
            charset: "UTF-8".into(),
            criteria: SearchKey::All,
            ret: None,
        }
    );
    let CommandBody::Sort { ret, .. } = body("a SORT RETURN (COUNT) (DATE) UTF-8 ALL") else {
        panic!()
    };
    assert_eq!(ret, Some(vec![SearchReturn::Count]));
    assert_eq!(
        body("A285 UID THREAD REFERENCES UTF-8 SINCE 5-MAR-2000"),
        CommandBody::Thread {
            uid: true,
            algorithm: ThreadAlgorithm::References,
            charset: "UTF-8".into(),
            criteria: SearchKey::Since(date(2000, 3, 5)),
        }
    );
    assert_eq!(
        body("A284 THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\""),
        CommandBody::Thread {
            uid: false,
            algorithm: ThreadAlgorithm::OrderedSubject,
            charset: "US-ASCII".into(),
            criteria: SearchKey::Text("gewp".into()),
        }
    );
}

#[test]
fn list_extended_and_list_status() {
    assert_eq!(
        body(
            "A01 LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Drafts\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))"
        ),
        CommandBody::List(ListCommand {
            reference: String::new(),
            patterns: vec!["INBOX".into(), "Drafts".into()],
            select: vec![ListSelect::Subscribed],
            ret: vec![
                ListReturn::Children,
                ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen])
            ],
            extended: true,
        })
    );
    assert_eq!(
        body("A202 LIST ~/Mail/ %"),
        CommandBody::List(ListCommand {
            reference: "~/Mail/".into(),
            patterns: vec!["%".into()],
            select: vec![],
            ret: vec![],
            extended: false,
        })
    );
    let CommandBody::List(list) = body("a LIST (SPECIAL-USE RECURSIVEMATCH) \"\" *") else {
        panic!()
    };
    assert_eq!(
        list.select,
        [ListSelect::SpecialUse, ListSelect::RecursiveMatch]
    );
    assert_eq!(
        body("A002 LSUB \"#news.\" \"comp.mail.*\""),
        CommandBody::Lsub {
            reference: "#news.".into(),
            pattern: "comp.mail.*".into()
        }
    );
}

#[test]
fn authenticate_with_initial_response() {
    let CommandBody::Authenticate { mechanism, initial } =
        body("a authenticate plain AGFsaWNlAHBhc3M=")
    else {
        panic!()
    };
    assert_eq!(mechanism, "PLAIN");
    assert_eq!(initial, Some(Secret(b"\0alice\0pass".to_vec())));
    assert!(!format!("{:?}", body("a AUTHENTICATE PLAIN AGFsaWNlAHBhc3M=")).contains("alice"));
    assert_eq!(
        body("a AUTHENTICATE EXTERNAL ="),
        CommandBody::Authenticate {
            mechanism: "EXTERNAL".into(),
            initial: Some(Secret(vec![]))
        }
    );
    assert_eq!(
        body("a AUTHENTICATE GSSAPI"),
        CommandBody::Authenticate {
            mechanism: "GSSAPI".into(),
            initial: None
        }
    );
}

#[test]
fn login_with_literals_and_escapes() {
    assert_eq!(
        body("A001 LOGIN {11}\r\nFRED FOOBAR {7+}\r\nfat man"),
        CommandBody::Login {
            user: "FRED FOOBAR".into(),
            password: Secret("fat man".into())
        }
    );
    assert_eq!(
        body("a LOGIN \"fred\" \"p\\\"ss\\\\word\""),
        CommandBody::Login {
            user: "fred".into(),
            password: Secret("p\"ss\\word".into())
        }
    );
    assert!(!format!("{:?}", body("a LOGIN fred sesame")).contains("sesame"));
}

#[test]
fn id_enable_create_compress() {
    assert_eq!(
        body("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"os\" NIL)"),
        CommandBody::Id(Some(vec![
            ("name".into(), Some("sodr".into())),
            ("version".into(), Some("19.34".into())),
            ("os".into(), None),
        ]))
    );
    assert_eq!(body("a ID NIL"), CommandBody::Id(None));
    assert_eq!(
        body("t2 ENABLE condstore X-GOOD-IDEA"),
        CommandBody::Enable(vec!["CONDSTORE".into(), "X-GOOD-IDEA".into()])
    );
    assert_eq!(
        body("t1 CREATE MySpecial (USE (\\drafts \\Sent \\X-Custom))"),
        CommandBody::Create {
            mailbox: "MySpecial".into(),
            special_use: vec!["\\Drafts".into(), "\\Sent".into(), "\\X-Custom".into()],
        }
    );
    assert_eq!(
        body("t1 compress deflate"),
        CommandBody::Compress("DEFLATE".into())
    );
}

#[test]
fn store_forms() {
    assert_eq!(
        body("A006 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)"),
        CommandBody::Store {
            uid: false,
            set: set("7,5,9"),
            mode: StoreMode::Add,
            silent: true,
            flags: vec![Flag::Deleted],
            unchanged_since: Some(320_162_338),
        }
    );
    assert_eq!(
        body("a UID STORE 1:2 -flags \\seen $Forwarded"),
        CommandBody::Store {
            uid: true,
            set: set("1:2"),
            mode: StoreMode::Remove,
            silent: false,
            flags: vec![Flag::Seen, Flag::Keyword("$Forwarded".into())],
            unchanged_since: None,
        }
    );
    let CommandBody::Store { mode, flags, .. } = body("a STORE 1 FLAGS ()") else {
        panic!()
    };
    assert_eq!((mode, flags), (StoreMode::Replace, vec![]));
}

#[test]
fn copy_move_status_rename() {
    assert_eq!(
        body("A003 COPY 2:4 MEETING"),
        CommandBody::Copy {
            uid: false,
            set: set("2:4"),
            mailbox: "MEETING".into()
        }
    );
    assert_eq!(
        body("a UID MOVE 42:69 inbox"),
        CommandBody::Move {
            uid: true,
            set: set("42:69"),
            mailbox: "INBOX".into()
        }
    );
    assert_eq!(
        body("A042 STATUS blurdybloop (UIDNEXT MESSAGES)"),
        CommandBody::Status {
            mailbox: "blurdybloop".into(),
            items: vec![StatusItem::UidNext, StatusItem::Messages]
        }
    );
    assert_eq!(
        body("A683 RENAME \"Foo/Bar\" Zowie"),
        CommandBody::Rename {
            from: "Foo/Bar".into(),
            to: "Zowie".into()
        }
    );
}

#[test]
fn commands_are_case_insensitive_and_tags_are_kept() {
    assert_eq!(parse("x.y]z noop").body, CommandBody::Noop);
    assert_eq!(parse("x.y]z noop").tag, "x.y]z");
    assert_eq!(
        body("a uid expunge 1"),
        CommandBody::UidExpunge(SequenceSet::single(1))
    );
    assert!(parse_command(b"a NOOP").is_ok());
    assert!(parse_command(b"a NOOP\n").is_ok());
    assert!(parse_command(b"a NOOP\r\n\r\n").is_err());
}

#[test]
fn append_head_from_rfc_3501() {
    let head = parse_append_head(b"A003 APPEND saved-messages (\\Seen) {310}\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        head,
        AppendHead {
            tag: "A003".into(),
            mailbox: "saved-messages".into(),
            message: AppendMessage {
                flags: vec![Flag::Seen],
                date: None,
                size: 310,
                binary: false,
                sync: true,
            },
        }
    );
    let head = parse_append_head(
        b"a append INBOX (\\Seen $Sent) \"17-Jul-1996 02:44:25 -0700\" ~{5000+}\r\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(head.message.date.unwrap().timestamp(), 837_596_665);
    assert!(head.message.binary && !head.message.sync);
    let head = parse_append_head(b"a APPEND {5}\r\nDraft {12}\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((head.mailbox.as_str(), head.message.size), ("Draft", 12));
}

#[test]
fn append_head_is_none_for_other_literals() {
    assert_eq!(parse_append_head(b"a LOGIN {5}\r\n").unwrap(), None);
    assert_eq!(parse_append_head(b"a APPEND {5}\r\n").unwrap(), None);
    assert_eq!(parse_append_head(b"a SEARCH TEXT {5+}\r\n").unwrap(), None);
    let e = parse_append_head(b"a APPEND INBOX (\\Bogus) {5}\r\n").unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert!(parse_append_head(b"a APPEND INBOX {5} x\r\n").is_err());
    assert!(parse_append_head(b"a APPEND INBOX \"1-Jan-2000\" {5}\r\n").is_err());
}

#[test]
fn multiappend_tail() {
    assert_eq!(parse_append_next(b"\r\n").unwrap(), None);
    assert_eq!(
        parse_append_next(b" (\\Draft) {3+}\r\n").unwrap(),
        Some(AppendMessage {
            flags: vec![Flag::Draft],
            date: None,
            size: 3,
            binary: false,
            sync: false
        })
    );
    assert!(parse_append_next(b" garbage\r\n").is_err());
    assert!(parse_append_next(b"x\r\n").is_err());
}
