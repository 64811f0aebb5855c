//! End-of-message changes: every modification type, order across milters, the spooled
//! replacement body, quarantine.

use std::io::Read;

use super::*;

fn at_eom(replies: Vec<Reply>) -> impl FnMut(&MilterEvent) -> Act + Send + 'static {
    move |event| match event {
        MilterEvent::EndOfMessage => Act::Replies(replies.clone()),
        _ => reply(Reply::Continue),
    }
}

fn header(name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.as_bytes().to_vec())
}

#[tokio::test]
async fn every_modification_in_milter_order() {
    let (n, v) = header("X-First", "one");
    let first = Fake::start(
        ProtocolFlags::empty(),
        vec![],
        at_eom(vec![
            Reply::AddHeader { name: n, value: v },
            Reply::InsertHeader {
                index: 0,
                name: b"DKIM-Signature".to_vec(),
                value: b"v=1; d=example.com;\n\tb=abc".to_vec(),
            },
            Reply::ChangeHeader {
                index: 1,
                name: b"Subject".to_vec(),
                value: b"[tagged] hi".to_vec(),
            },
            Reply::ChangeFrom {
                from: b"<bounces@example.com>".to_vec(),
                args: Some(b"SIZE=100".to_vec()),
            },
            Reply::AddRcpt(b"<archive@example.com>".to_vec()),
            Reply::AddRcptWithArgs {
                rcpt: b"<audit@example.com>".to_vec(),
                args: b"NOTIFY=NEVER".to_vec(),
            },
            Reply::DeleteRcpt(b"<bob@example.net>".to_vec()),
            Reply::Quarantine(b"looks odd".to_vec()),
            Reply::Continue,
        ]),
    )
    .await;
    let second = Fake::start(
        ProtocolFlags::HEADER_LEADING_SPACE,
        vec![],
        at_eom(vec![
            Reply::ChangeHeader {
                index: 1,
                name: b"X-First".to_vec(),
                value: vec![],
            },
            Reply::AddHeader {
                name: b"X-Second".to_vec(),
                value: b" two".to_vec(),
            },
            Reply::Quarantine(b"second opinion".to_vec()),
            Reply::Accept,
        ]),
    )
    .await;
    let (mut chain, _) = MilterChain::connect(
        &[
            first.settings("first", MilterDefault::TempFail),
            second.settings("second", MilterDefault::TempFail),
        ],
        &info(),
    )
    .await;
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Continue);
    let h = |change| Modification::Header(change);
    assert_eq!(
        outcome.changes,
        [
            h(HeaderChange::Add {
                name: "X-First".into(),
                value: " one".into()
            }),
            h(HeaderChange::Insert {
                index: 0,
                name: "DKIM-Signature".into(),
                value: " v=1; d=example.com;\r\n\tb=abc".into()
            }),
            h(HeaderChange::Change {
                index: 1,
                name: "Subject".into(),
                value: " [tagged] hi".into()
            }),
            Modification::ChangeSender {
                sender: "bounces@example.com".into(),
                args: Some("SIZE=100".into())
            },
            Modification::AddRecipient {
                recipient: "archive@example.com".into(),
                args: None
            },
            Modification::AddRecipient {
                recipient: "audit@example.com".into(),
                args: Some("NOTIFY=NEVER".into())
            },
            Modification::DeleteRecipient("bob@example.net".into()),
            h(HeaderChange::Delete {
                index: 1,
                name: "X-First".into()
            }),
            h(HeaderChange::Add {
                name: "X-Second".into(),
                value: " two".into()
            }),
        ]
    );
    assert_eq!(
        outcome.quarantine,
        Some(Quarantine {
            milter: "first".into(),
            reason: "looks odd".into()
        })
    );

    // Applied in order to the headers the milters saw.
    let mut headers = vec![
        ("From".to_string(), " alice@example.com".to_string()),
        ("Subject".to_string(), " hi\r\n there".to_string()),
    ];
    apply_header_changes(&mut headers, outcome.header_changes());
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["DKIM-Signature", "From", "Subject", "X-Second"]);
    assert_eq!(headers.get(2).unwrap().1, " [tagged] hi");
}

#[tokio::test]
async fn replacement_body_is_spooled_in_chunks_and_the_last_replacement_wins() {
    let chunk = "line of the new body\n".repeat(4000);
    let first = Fake::start(
        ProtocolFlags::empty(),
        vec![],
        at_eom(vec![
            Reply::ReplaceBody(b"overwritten\r\n".to_vec()),
            Reply::Continue,
        ]),
    )
    .await;
    let second = Fake::start(
        ProtocolFlags::empty(),
        vec![],
        at_eom(vec![
            Reply::ReplaceBody(chunk.as_bytes().to_vec()),
            Reply::ReplaceBody(chunk.as_bytes().to_vec()),
            Reply::ReplaceBody(b"no final newline".to_vec()),
            Reply::Continue,
        ]),
    )
    .await;
    let (mut chain, _) = MilterChain::connect(
        &[
            first.settings("first", MilterDefault::TempFail),
            second.settings("second", MilterDefault::TempFail),
        ],
        &info(),
    )
    .await;
    let spool = tempfile::tempdir().unwrap();
    chain.set_spool_dir(spool.path().to_path_buf());
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert!(outcome.changes.is_empty());
    let mut body = outcome.body.unwrap();
    let mut text = String::new();
    body.file.read_to_string(&mut text).unwrap();
    let line = "line of the new body\r\n".repeat(4000);
    assert_eq!(text, format!("{line}{line}no final newline\r\n"));
    assert_eq!(body.len, text.len() as u64);
    // Unlinked: nothing is left in the spool directory.
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn oversized_replacement_body_drops_that_milters_changes() {
    let greedy = Fake::start(
        ProtocolFlags::empty(),
        vec![],
        at_eom(vec![
            Reply::AddHeader {
                name: b"X-Greedy".to_vec(),
                value: b"1".to_vec(),
            },
            Reply::ReplaceBody(vec![b'x'; 4096]),
            Reply::Continue,
        ]),
    )
    .await;
    let polite = Fake::start(
        ProtocolFlags::empty(),
        vec![],
        at_eom(vec![
            Reply::AddHeader {
                name: b"X-Polite".to_vec(),
                value: b"1".to_vec(),
            },
            Reply::Continue,
        ]),
    )
    .await;
    let (mut chain, _) = MilterChain::connect(
        &[
            greedy.settings("greedy", MilterDefault::Accept),
            polite.settings("polite", MilterDefault::TempFail),
        ],
        &info(),
    )
    .await;
    chain.set_max_replacement_body(1000);
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert!(outcome.body.is_none());
    assert_eq!(
        outcome.changes,
        [Modification::Header(HeaderChange::Add {
            name: "X-Polite".into(),
            value: " 1".into()
        })]
    );
    // The greedy milter is out for the rest of the session.
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.changes.len(), 1);
}

#[tokio::test]
async fn changes_from_a_milter_that_then_rejects_are_not_returned() {
    let fake = Fake::start(
        ProtocolFlags::empty(),
        vec![],
        at_eom(vec![
            Reply::AddHeader {
                name: b"X-A".to_vec(),
                value: b"1".to_vec(),
            },
            Reply::Reject,
        ]),
    )
    .await;
    let later = Fake::continuing().await;
    let (mut chain, _) = MilterChain::connect(
        &[
            fake.settings("m1", MilterDefault::Accept),
            later.settings("m2", MilterDefault::Accept),
        ],
        &info(),
    )
    .await;
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Reject(MilterReply::reject()));
    assert!(outcome.changes.is_empty());
    // The later milter never got end of message, but was told the message is over.
    later.wait_for("abort").await;
    assert!(!later.events().iter().any(|e| e == "eom"));
}

#[tokio::test]
async fn bad_modifications_get_the_default() {
    for bad in [
        Reply::AddHeader {
            name: b"Not a name".to_vec(),
            value: b"1".to_vec(),
        },
        Reply::AddRcpt(b"<a@b>\r\nRCPT TO:<evil@example>".to_vec()),
        Reply::ChangeFrom {
            from: b"<a@b>".to_vec(),
            args: Some(b"X=\x01".to_vec()),
        },
    ] {
        let fake = Fake::start(
            ProtocolFlags::empty(),
            vec![],
            at_eom(vec![bad, Reply::Continue]),
        )
        .await;
        let (mut chain, _) =
            MilterChain::connect(&[fake.settings("bad", MilterDefault::TempFail)], &info()).await;
        let (_, outcome) = one_message(&mut chain).await;
        assert_eq!(outcome.verdict, Verdict::TempFail(MilterReply::tempfail()));
        assert!(outcome.changes.is_empty());
    }
}

#[tokio::test]
async fn a_flood_of_changes_gets_the_default() {
    let flood: Vec<Reply> = (0..10_001)
        .map(|_| Reply::AddHeader {
            name: b"X-Flood".to_vec(),
            value: b"1".to_vec(),
        })
        .chain([Reply::Continue])
        .collect();
    let fake = Fake::start(ProtocolFlags::empty(), vec![], at_eom(flood)).await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("flood", MilterDefault::Accept)], &info()).await;
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert!(outcome.changes.is_empty());
}

#[tokio::test]
async fn quarantine_before_end_of_message_is_kept() {
    let mut first = true;
    let fake = Fake::start(ProtocolFlags::empty(), vec![], move |event| match event {
        MilterEvent::Mail(_) if first => {
            first = false;
            Act::Replies(vec![
                Reply::Quarantine(b"sender on a watch list".to_vec()),
                Reply::Continue,
            ])
        }
        _ => reply(Reply::Continue),
    })
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("watch", MilterDefault::Accept)], &info()).await;
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert_eq!(
        outcome.quarantine.map(|q| q.reason),
        Some("sender on a watch list".to_string())
    );
    // It belonged to that message only.
    let (_, outcome) = one_message(&mut chain).await;
    assert!(outcome.quarantine.is_none());
}
