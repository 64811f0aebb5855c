//! Stages, macros and verdicts.

use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn every_stage_reaches_the_milter_with_postfix_macros() {
    let fake = Fake::continuing().await;
    let (mut chain, verdict) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::TempFail)], &info()).await;
    assert_eq!(verdict, Verdict::Continue);
    chain.set_tls(&TlsInfo {
        version: "TLSv1.3".into(),
        cipher: "TLS_AES_256_GCM_SHA384".into(),
        cipher_bits: 256,
        cert_subject: None,
        cert_issuer: None,
    });
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Continue),
        "{verdicts:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert!(outcome.changes.is_empty() && outcome.body.is_none());
    chain.quit().await;
    fake.wait_for("quit").await;

    assert_eq!(
        fake.events(),
        [
            "connect client.example.net Some(198.51.100.7:40000)",
            "helo client.example.net",
            "mail <alice@example.com> BODY=8BITMIME",
            "rcpt <bob@example.net>",
            "data",
            // No HEADER_LEADING_SPACE agreed: the space after the colon is not sent, and
            // folded lines are joined with bare LF, as Postfix does.
            "header From:alice@example.com",
            "header Subject:hi\n there",
            "eoh",
            "body 7",
            "eom",
            "quit",
        ]
    );
    assert_eq!(
        fake.macros_at("connect"),
        pairs(&[
            ("j", "mx.example.org"),
            ("daemon_name", "smtpd"),
            ("daemon_addr", "192.0.2.1"),
            ("v", concat!("Postern ", env!("CARGO_PKG_VERSION"))),
            ("_", "client.example.net [198.51.100.7]"),
            ("client_addr", "198.51.100.7"),
            ("client_name", "client.example.net"),
            ("client_port", "40000"),
        ])
    );
    assert_eq!(
        fake.macros_at("helo"),
        pairs(&[
            ("tls_version", "TLSv1.3"),
            ("cipher", "TLS_AES_256_GCM_SHA384"),
            ("cipher_bits", "256"),
        ])
    );
    assert_eq!(
        fake.macros_at("mail"),
        pairs(&[
            ("i", "4QID"),
            ("auth_type", "PLAIN"),
            ("auth_authen", "alice"),
            ("mail_addr", "alice@example.com"),
        ])
    );
    assert_eq!(
        fake.macros_at("rcpt"),
        pairs(&[("i", "4QID"), ("rcpt_addr", "bob@example.net")])
    );
    for stage in ["data", "eoh", "eom"] {
        assert_eq!(fake.macros_at(stage), pairs(&[("i", "4QID")]), "{stage}");
    }
}

#[tokio::test]
async fn a_milter_asking_for_its_own_macros_gets_those() {
    let fake = Fake::start(
        ProtocolFlags::HEADER_LEADING_SPACE,
        vec![
            (
                Stage::Connect,
                "{client_port} {daemon_port} {no_such_macro}".into(),
            ),
            (Stage::EnvRcpt, "{rcpt_mailer} {rcpt_host}".into()),
            (Stage::EndOfMessage, "i {auth_authen}".into()),
        ],
        |_| reply(Reply::Continue),
    )
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::TempFail)], &info()).await;
    chain.mail_from("", &[], &MailMacros::default()).await;
    let route = Route {
        mailer: "lmtp".into(),
        host: "mda.example.org".into(),
    };
    chain
        .rcpt("bob@example.org", &["NOTIFY=NEVER"], Some(&route))
        .await;
    chain.set_queue_id("LATE");
    chain.data().await;
    chain.header("From", " a@example.org").await;
    chain.end_of_headers().await;
    let outcome = chain.end_of_message().await;
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert_eq!(
        fake.macros_at("connect"),
        pairs(&[("client_port", "40000"), ("daemon_port", "25")])
    );
    assert_eq!(
        fake.macros_at("rcpt"),
        pairs(&[("rcpt_mailer", "lmtp"), ("rcpt_host", "mda.example.org")])
    );
    // Null sender; the queue id assigned after MAIL reaches the later stages.
    assert!(fake.events().contains(&"mail <>".to_string()));
    assert!(
        fake.events()
            .contains(&"rcpt <bob@example.org> NOTIFY=NEVER".to_string())
    );
    assert_eq!(fake.macros_at("data"), pairs(&[("i", "LATE")]));
    assert_eq!(fake.macros_at("eom"), pairs(&[("i", "LATE")]));
    // HEADER_LEADING_SPACE agreed: the value goes as it came.
    assert!(
        fake.events()
            .contains(&"header From: a@example.org".to_string())
    );
}

#[tokio::test]
async fn local_submission_is_reported_as_localhost() {
    let fake = Fake::continuing().await;
    let local = ConnectInfo {
        client_addr: None,
        client_name: None,
        client_ptr: None,
        daemon_name: "pickup".into(),
        ..info()
    };
    let (_chain, verdict) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::TempFail)], &local).await;
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(fake.events(), ["connect localhost Some(127.0.0.1:0)"]);
    let macros = fake.macros_at("connect");
    assert!(macros.contains(&("_".into(), "localhost [127.0.0.1]".into())));
    assert!(macros.contains(&("daemon_name".into(), "pickup".into())));
}

#[tokio::test]
async fn steps_the_milter_declines_are_not_sent_and_unanswered_steps_not_awaited() {
    let fake = Fake::start(
        ProtocolFlags::NO_HELO
            | ProtocolFlags::NO_RCPT
            | ProtocolFlags::NR_HEADER
            | ProtocolFlags::NO_BODY
            | ProtocolFlags::NR_CONNECT,
        vec![],
        |event| match event {
            // Answering a step it said it would not answer would desynchronize the chain.
            MilterEvent::Header { .. } => Act::Silence,
            _ => reply(Reply::Continue),
        },
    )
    .await;
    let (mut chain, verdict) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Reject)], &info()).await;
    assert_eq!(verdict, Verdict::Continue);
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Continue),
        "{verdicts:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Continue);
    assert_eq!(
        fake.events(),
        [
            "connect client.example.net Some(198.51.100.7:40000)",
            "mail <alice@example.com> BODY=8BITMIME",
            "data",
            "header From:alice@example.com",
            "header Subject:hi\n there",
            "eoh",
            "eom",
        ]
    );
    // The RCPT macros still went, as Postfix sends them for skipped steps too.
    let seen = fake.seen();
    let data = seen.iter().find(|s| s.what == "data").unwrap();
    assert!(
        data.all_macros
            .contains(&("rcpt_addr".into(), "bob@example.net".into())),
        "{:?}",
        data.all_macros
    );
}

/// A fake that answers `answer` at the step `at` and CONTINUE elsewhere.
async fn refusing(at: &'static str, answer: Reply) -> Fake {
    Fake::start(ProtocolFlags::empty(), vec![], move |event| {
        if summary(event).starts_with(at) {
            reply(answer.clone())
        } else {
            reply(Reply::Continue)
        }
    })
    .await
}

#[tokio::test]
async fn reject_at_connect_holds_for_the_session() {
    let fake = refusing("connect", Reply::Reject).await;
    let (mut chain, verdict) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Accept)], &info()).await;
    let rejected = Verdict::Reject(MilterReply::reject());
    assert_eq!(verdict, rejected);
    assert_eq!(chain.helo("x").await, rejected);
    assert_eq!(
        chain.mail_from("a@b", &[], &MailMacros::default()).await,
        rejected
    );
    assert_eq!(fake.events().len(), 1, "{:?}", fake.events());
}

#[tokio::test]
async fn reject_at_mail_aborts_and_the_next_message_starts_clean() {
    let mut first = true;
    let fake = Fake::start(ProtocolFlags::empty(), vec![], move |event| match event {
        MilterEvent::Mail(_) if first => {
            first = false;
            reply(Reply::TempFail)
        }
        _ => reply(Reply::Continue),
    })
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Reject)], &info()).await;
    let verdict = chain.mail_from("a@b", &[], &mail_macros()).await;
    assert_eq!(verdict, Verdict::TempFail(MilterReply::tempfail()));
    assert_eq!(
        verdict.reply().unwrap().as_str(),
        "451 4.7.1 Service unavailable - try again later"
    );
    // No message is open: stages of a message are not sent.
    assert_eq!(chain.rcpt("c@d", &[], None).await, Verdict::Accept);
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Continue),
        "{verdicts:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Continue);
    let events = fake.events();
    assert_eq!(
        events.get(1..4).unwrap(),
        ["mail <a@b>", "abort", "helo client.example.net"]
    );
}

#[tokio::test]
async fn reject_at_rcpt_refuses_that_recipient_only() {
    let fake = refusing("rcpt <spam", Reply::Reject).await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Accept)], &info()).await;
    chain.mail_from("a@b", &[], &mail_macros()).await;
    assert_eq!(
        chain.rcpt("spam@example", &[], None).await,
        Verdict::Reject(MilterReply::reject())
    );
    assert_eq!(
        chain.rcpt("ham@example", &[], None).await,
        Verdict::Continue
    );
    assert_eq!(chain.data().await, Verdict::Continue);
    assert_eq!(chain.end_of_message().await.verdict, Verdict::Continue);
}

#[tokio::test]
async fn refusal_during_content_holds_until_end_of_message() {
    let fake = refusing("header Subject", Reply::Reject).await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Accept)], &info()).await;
    let (verdicts, outcome) = one_message(&mut chain).await;
    let rejected = Verdict::Reject(MilterReply::reject());
    assert_eq!(
        verdicts.get(5..).unwrap(),
        [rejected.clone(), rejected.clone(), rejected.clone()]
    );
    assert_eq!(outcome.verdict, rejected);
    // Nothing after the refusal reached the milter, which got ABORT instead of EOM.
    fake.wait_for("abort").await;
    let events = fake.events();
    assert!(
        !events.iter().any(|e| e == "eoh" || e == "eom"),
        "{events:?}"
    );
}

#[tokio::test]
async fn replycode_is_relayed_verbatim() {
    let multi = b"550-5.7.1 first line\r\n550 5.7.1 see https://example.org/why".to_vec();
    let fake = refusing("rcpt", Reply::ReplyCode(multi)).await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Accept)], &info()).await;
    chain.mail_from("a@b", &[], &mail_macros()).await;
    let verdict = chain.rcpt("c@d", &[], None).await;
    let Verdict::Reject(reply) = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(
        reply.lines().collect::<Vec<_>>(),
        [
            "550-5.7.1 first line",
            "550 5.7.1 see https://example.org/why"
        ]
    );

    let fake = refusing("eom", Reply::ReplyCode(b"452 4.3.1 full".to_vec())).await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Reject)], &info()).await;
    let (_, outcome) = one_message(&mut chain).await;
    assert_eq!(
        outcome.verdict,
        Verdict::TempFail(MilterReply::parse(b"452 4.3.1 full").unwrap())
    );

    let fake = refusing("mail", Reply::ReplyCode(b"421 4.7.0 go away".to_vec())).await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Reject)], &info()).await;
    let verdict = chain.mail_from("a@b", &[], &mail_macros()).await;
    assert!(matches!(verdict, Verdict::Disconnect(ref r) if r.as_str() == "421 4.7.0 go away"));
}

#[tokio::test]
async fn shutdown_and_conn_fail_disconnect() {
    for answer in [Reply::Shutdown, Reply::ConnFail] {
        let fake = refusing("helo", answer).await;
        let (mut chain, _) =
            MilterChain::connect(&[fake.settings("m1", MilterDefault::Accept)], &info()).await;
        let verdict = chain.helo("x").await;
        assert_eq!(verdict, Verdict::Disconnect(MilterReply::shutdown()));
        assert_eq!(chain.mail_from("a@b", &[], &mail_macros()).await, verdict);
    }
}

#[tokio::test]
async fn discard_holds_for_the_message_and_ends_at_the_next() {
    let mut first = true;
    let fake = Fake::start(ProtocolFlags::empty(), vec![], move |event| match event {
        MilterEvent::Rcpt(_) if first => {
            first = false;
            reply(Reply::Discard)
        }
        _ => reply(Reply::Continue),
    })
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Reject)], &info()).await;
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert_eq!(verdicts.get(2..).unwrap(), vec![Verdict::Discard; 6]);
    assert_eq!(outcome.verdict, Verdict::Discard);
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Continue),
        "{verdicts:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Continue);
    let events = fake.events();
    let rcpt = events.iter().position(|e| e.starts_with("rcpt")).unwrap();
    assert_eq!(events.get(rcpt + 1).unwrap(), "abort");
}

#[tokio::test]
async fn accept_drops_a_milter_for_the_message_or_the_session() {
    let mut first = true;
    let per_message = Fake::start(ProtocolFlags::empty(), vec![], move |event| match event {
        MilterEvent::Mail(_) if first => {
            first = false;
            reply(Reply::Accept)
        }
        _ => reply(Reply::Continue),
    })
    .await;
    let per_session = refusing("helo", Reply::Accept).await;
    let (mut chain, _) = MilterChain::connect(
        &[
            per_message.settings("m1", MilterDefault::Reject),
            per_session.settings("m2", MilterDefault::Reject),
        ],
        &info(),
    )
    .await;
    let (verdicts, outcome) = one_message(&mut chain).await;
    // Once both are out, the chain says no milter wants the rest of the message.
    assert_eq!(verdicts.first().unwrap(), &Verdict::Continue);
    assert!(
        verdicts
            .get(1..)
            .unwrap()
            .iter()
            .all(|v| *v == Verdict::Accept),
        "{verdicts:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Accept);
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(
        verdicts
            .get(1..)
            .unwrap()
            .iter()
            .all(|v| *v == Verdict::Continue)
    );
    assert_eq!(outcome.verdict, Verdict::Continue);
    let events = per_message.events();
    let mails: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.starts_with("mail"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(mails.len(), 2);
    // The accepted message got ABORT before the next MAIL, nothing in between.
    assert_eq!(
        events.get(mails[0] + 1..mails[1]).unwrap(),
        ["abort", "helo client.example.net"]
    );
    assert_eq!(
        per_session.events(),
        [
            "connect client.example.net Some(198.51.100.7:40000)",
            "helo client.example.net"
        ]
    );
}

#[tokio::test]
async fn first_refusal_wins_and_later_milters_do_not_see_the_stage() {
    let first = refusing("rcpt", Reply::Reject).await;
    let second = Fake::continuing().await;
    let (mut chain, _) = MilterChain::connect(
        &[
            first.settings("m1", MilterDefault::Accept),
            second.settings("m2", MilterDefault::Accept),
        ],
        &info(),
    )
    .await;
    let (verdicts, _) = one_message(&mut chain).await;
    assert_eq!(
        verdicts.get(2).unwrap(),
        &Verdict::Reject(MilterReply::reject())
    );
    assert!(!second.events().iter().any(|e| e.starts_with("rcpt")));
    assert!(second.events().iter().any(|e| e == "eom"));
}

#[tokio::test]
async fn skip_ends_the_body_for_that_milter() {
    let fake = Fake::start(ProtocolFlags::SKIP, vec![], |event| match event {
        MilterEvent::Body(_) => reply(Reply::Skip),
        _ => reply(Reply::Continue),
    })
    .await;
    let (mut chain, _) =
        MilterChain::connect(&[fake.settings("m1", MilterDefault::Reject)], &info()).await;
    chain.mail_from("a@b", &[], &mail_macros()).await;
    chain.rcpt("c@d", &[], None).await;
    chain.data().await;
    chain.end_of_headers().await;
    let big = vec![b'x'; 150_000];
    assert_eq!(chain.body(&big).await, Verdict::Continue);
    assert_eq!(chain.body(b"more\r\n").await, Verdict::Continue);
    assert_eq!(chain.end_of_message().await.verdict, Verdict::Continue);
    let bodies: Vec<String> = fake
        .events()
        .into_iter()
        .filter(|e| e.starts_with("body"))
        .collect();
    assert_eq!(bodies, ["body 65535"]);
}

#[tokio::test]
async fn no_milters_means_accept() {
    let (mut chain, verdict) = MilterChain::connect(&[], &info()).await;
    assert_eq!(verdict, Verdict::Accept);
    assert!(!chain.is_active());
    let (verdicts, outcome) = one_message(&mut chain).await;
    assert!(verdicts.iter().all(|v| *v == Verdict::Accept));
    assert_eq!(outcome.verdict, Verdict::Accept);
}
