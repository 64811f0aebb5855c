//! The session API: events, replies, LMTP per-recipient answers, STARTTLS, shutdown.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtp::{DataAbort, Event, HelloVerb, Reply, ReplyError, ReversePath, ServerSession, Settings};

fn events(session: &mut ServerSession) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = session.next_event() {
        if event.needs_reply() {
            session.accept().unwrap();
        }
        events.push(event);
    }
    events
}

fn text(session: &mut ServerSession) -> String {
    String::from_utf8(session.output()).unwrap()
}

#[test]
fn events_of_a_transaction() {
    let mut session = ServerSession::new(Settings::smtp("mx.example.org"));
    session.greet();
    assert_eq!(text(&mut session), "220 mx.example.org ESMTP Postern\r\n");
    session.receive(
        b"HELO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
    );
    let events = events(&mut session);
    assert_eq!(events.len(), 7);
    assert_eq!(
        events[0],
        Event::Hello {
            verb: HelloVerb::Helo,
            host: "c.example".into()
        }
    );
    assert!(matches!(
        &events[1],
        Event::Mail {
            from: ReversePath::Null,
            ..
        }
    ));
    assert_eq!(events[3], Event::DataStart);
    assert_eq!(events[4], Event::DataChunk(b"hi\r\n".to_vec()));
    assert_eq!(events[5], Event::DataEnd { size: 4 });
    assert_eq!(events[6], Event::Quit);
    assert!(session.is_closed());
    assert_eq!(
        text(&mut session),
        "250 mx.example.org\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
         354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: message accepted\r\n221 2.0.0 Bye\r\n"
    );
    session.receive(b"NOOP\r\n");
    assert_eq!(session.next_event(), None);
    assert_eq!(session.buffered(), 0);
}

#[test]
fn nothing_happens_until_the_reply() {
    let mut session = ServerSession::new(Settings::smtp("mx.example.org"));
    session.receive(b"EHLO c\r\nNOOP\r\n");
    assert!(matches!(session.next_event(), Some(Event::Hello { .. })));
    assert!(session.awaiting_reply());
    assert_eq!(session.next_event(), None);
    assert!(!session.has_output());
    session.reply(Reply::helo("mx.example.org")).unwrap();
    assert_eq!(session.next_event(), None);
    assert_eq!(text(&mut session), "250 mx.example.org\r\n250 2.0.0 Ok\r\n");
    assert_eq!(session.accept(), Err(ReplyError::NothingPending));
}

#[test]
fn refused_mail_opens_no_transaction_and_ehlo_resets() {
    let mut session = ServerSession::new(Settings::smtp("mx.example.org"));
    session.receive(b"EHLO c\r\nMAIL FROM:<a@b.c>\r\n");
    events(&mut session);
    assert_eq!(
        session.sender().map(ToString::to_string).as_deref(),
        Some("<a@b.c>")
    );
    session.receive(b"EHLO c\r\n");
    events(&mut session);
    assert_eq!(session.sender(), None);
    session.receive(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n");
    assert!(matches!(session.next_event(), Some(Event::Mail { .. })));
    session.reply(Reply::relay_denied()).unwrap();
    assert_eq!(session.next_event(), None);
    assert!(
        text(&mut session)
            .ends_with("554 5.7.1 Relay access denied\r\n503 5.5.1 Need MAIL command\r\n")
    );
}

#[test]
fn lmtp_needs_one_reply_per_recipient() {
    let mut session = ServerSession::new(Settings::lmtp("lmtp.example.org"));
    session.receive(
        b"LHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@b.c>\r\nRCPT TO:<y@b.c>\r\nDATA\r\n.\r\n",
    );
    loop {
        let event = session.next_event().unwrap();
        if event == (Event::DataEnd { size: 0 }) {
            break;
        }
        if event.needs_reply() {
            assert_eq!(
                session.reply_per_recipient(vec![]),
                Err(ReplyError::NotAtDataEnd)
            );
            session.accept().unwrap();
        }
    }
    assert_eq!(session.recipients().len(), 2);
    assert_eq!(
        session.reply_per_recipient(vec![Reply::ok_delivered()]),
        Err(ReplyError::WrongCount {
            expected: 2,
            given: 1
        })
    );
    assert!(session.awaiting_reply());
    session.output();
    session
        .reply_per_recipient(vec![Reply::ok_delivered(), Reply::quota_exceeded()])
        .unwrap();
    assert_eq!(
        text(&mut session),
        "250 2.0.0 Ok: delivered\r\n552 5.2.2 Mailbox full\r\n"
    );
    assert!(session.recipients().is_empty());
    // A single reply() is repeated for every recipient.
    session.receive(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<x@b.c>\r\nRCPT TO:<y@b.c>\r\nDATA\r\n.\r\n");
    while let Some(event) = session.next_event() {
        match event {
            Event::DataEnd { .. } => session.reply(Reply::local_error()).unwrap(),
            e if e.needs_reply() => session.accept().unwrap(),
            _ => {}
        }
    }
    assert!(text(&mut session).ends_with(
        "451 4.3.0 Local error in processing\r\n451 4.3.0 Local error in processing\r\n"
    ));
}

#[test]
fn starttls_drops_pipelined_plaintext() {
    let mut settings = Settings::smtp("mx.example.org");
    settings.extensions.starttls = true;
    let mut session = ServerSession::new(settings);
    session.receive(b"EHLO c\r\n");
    events(&mut session);
    session.output();
    // CVE-2011-0411: commands sent with STARTTLS must not run after the handshake.
    session.receive(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n");
    assert_eq!(session.next_event(), Some(Event::StartTls));
    session.accept().unwrap();
    assert_eq!(session.buffered(), 0);
    assert_eq!(session.next_event(), None);
    assert_eq!(text(&mut session), "220 2.0.0 Ready to start TLS\r\n");
    assert!(session.is_tls());
    assert_eq!(session.hello(), None);
    session.receive(b"EHLO c\r\n");
    events(&mut session);
    assert!(!text(&mut session).contains("STARTTLS"));
}

#[test]
fn auth_secret_is_hidden_and_state_tracked() {
    let mut settings = Settings::smtp("mx.example.org");
    settings.auth_mechanisms = vec!["PLAIN".into()];
    let mut session = ServerSession::new(settings);
    session.set_tls_active();
    session.receive(b"EHLO c\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
    session.next_event();
    session.accept().unwrap();
    let event = session.next_event().unwrap();
    assert!(!format!("{event:?}").contains("AHVzZXIAc2VjcmV0"));
    session.accept().unwrap();
    assert!(session.is_authenticated());
}

#[test]
fn shutdown_sends_421_and_closes() {
    let mut session = ServerSession::new(Settings::smtp("mx.example.org"));
    session.receive(b"EHLO c\r\n");
    assert!(session.next_event().is_some());
    session.shutdown();
    assert!(session.is_closed());
    assert!(!session.awaiting_reply());
    assert_eq!(
        text(&mut session),
        "421 4.3.2 Service shutting down, closing transmission channel\r\n"
    );
    assert_eq!(session.next_event(), None);
}

#[test]
fn message_with_bare_lf_under_reject_policy_is_aborted_per_recipient() {
    let mut settings = Settings::lmtp("lmtp.example.org");
    settings.bare_line_ends_in_data = smtp::BareLineEndsInData::Reject;
    let mut session = ServerSession::new(settings);
    session.receive(
        b"LHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@b.c>\r\nRCPT TO:<y@b.c>\r\nDATA\r\na\nb\r\n.\r\n",
    );
    let events = events(&mut session);
    assert_eq!(
        events.last(),
        Some(&Event::DataAborted(DataAbort::BareLineEnd))
    );
    assert!(text(&mut session).ends_with(
        "550 5.6.0 Message contains bare CR or LF\r\n550 5.6.0 Message contains bare CR or LF\r\n"
    ));
}
