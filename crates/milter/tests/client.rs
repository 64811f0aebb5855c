//! MTA-side transcripts: what the client sends, and how it judges a filter's replies.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use milter::{
    Actions, ClientEvent, ClientOptions, ClientSession, OptNeg, ProtocolError, ProtocolFlags,
    Reply, Stage, Step,
};

fn packet(code: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (u32::try_from(payload.len()).unwrap() + 1)
        .to_be_bytes()
        .to_vec();
    out.push(code);
    out.extend_from_slice(payload);
    out
}

fn answer(actions: Actions, protocol: ProtocolFlags, macros: Vec<(Stage, String)>) -> Vec<u8> {
    let mut payload = Vec::new();
    OptNeg {
        version: 6,
        actions,
        protocol,
        macros,
    }
    .encode_payload(&mut payload);
    packet(b'O', &payload)
}

/// A client that offered the Postfix defaults and got `actions`/`protocol` accepted.
fn negotiated(actions: Actions, protocol: ProtocolFlags) -> ClientSession {
    let mut client = ClientSession::new(ClientOptions::default());
    client.optneg();
    client.output();
    client.receive(&answer(actions, protocol, vec![]));
    assert!(matches!(
        client.next_reply(),
        Ok(Some(ClientEvent::Negotiated(_)))
    ));
    client
}

fn replies(client: &mut ClientSession) -> Result<Vec<Reply>, ProtocolError> {
    let mut replies = Vec::new();
    while let Some(event) = client.next_reply()? {
        match event {
            ClientEvent::Reply(reply) => replies.push(reply),
            ClientEvent::Negotiated(n) => panic!("second negotiation {n:?}"),
        }
    }
    Ok(replies)
}

#[test]
fn offers_what_postfix_offers() {
    let mut client = ClientSession::new(ClientOptions::default());
    client.optneg();
    assert_eq!(
        client.output(),
        b"\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff"
    );
}

#[test]
fn negotiation_reports_requested_macros() {
    let mut client = ClientSession::new(ClientOptions::default());
    client.optneg();
    client.receive(&answer(
        Actions::ADD_HEADERS | Actions::SET_SYMBOL_LIST,
        ProtocolFlags::NR_HEADER,
        vec![
            (Stage::EnvFrom, "i {auth_authen}".into()),
            (Stage::EndOfMessage, "i".into()),
        ],
    ));
    let Ok(Some(ClientEvent::Negotiated(agreed))) = client.next_reply() else {
        panic!("no negotiation")
    };
    assert_eq!(
        agreed.actions,
        Actions::ADD_HEADERS | Actions::SET_SYMBOL_LIST
    );
    assert_eq!(
        client.requested_macros(Stage::EnvFrom),
        ["i", "{auth_authen}"]
    );
    assert_eq!(client.requested_macros(Stage::EndOfMessage), ["i"]);
    assert!(client.requested_macros(Stage::Connect).is_empty());
    assert!(!client.expects_reply(Step::Header));
    assert!(client.expects_reply(Step::Body));
    assert!(client.expects_reply(Step::EndOfMessage));
}

#[test]
fn refuses_answers_outside_the_offer() {
    let options = ClientOptions {
        actions: Actions::ADD_HEADERS,
        protocol: ProtocolFlags::NR_HEADER,
        ..ClientOptions::default()
    };
    let cases = [
        (
            answer(Actions::CHANGE_BODY, ProtocolFlags::empty(), vec![]),
            "actions",
        ),
        (
            answer(Actions::ADD_HEADERS, ProtocolFlags::NR_BODY, vec![]),
            "protocol",
        ),
        (packet(b'c', b""), "not OPTNEG"),
    ];
    for (bytes, what) in cases {
        let mut client = ClientSession::new(options.clone());
        client.optneg();
        client.receive(&bytes);
        assert!(client.next_reply().is_err(), "{what}");
    }
    let mut client = ClientSession::new(options);
    client.receive(&answer(
        Actions::ADD_HEADERS,
        ProtocolFlags::empty(),
        vec![],
    ));
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::UnexpectedReply { code: b'O' }),
        "before optneg()"
    );
}

#[test]
fn commands_encode_as_postfix_sends_them() {
    let mut client = negotiated(Actions::empty(), ProtocolFlags::empty());
    client.macros(Stage::Connect, &[("j", b"mx"), ("{daemon_name}", b"smtpd")]);
    client.connect(b"client.example", Some("192.0.2.7:1024".parse().unwrap()));
    client.connect(b"[2001:db8::1]", Some("[2001:db8::1]:25".parse().unwrap()));
    client.connect_unix(b"localhost", b"/run/s");
    client.connect(b"localhost", None);
    client.helo(b"client.example");
    client.mail(&[b"<a@example.org>", b"SIZE=10"]);
    client.rcpt(&[b"<b@example.net>"]);
    client.data();
    client.header(b"Subject", b" hi\r\n\tthere");
    client.end_of_headers();
    client.body(b"line\r\n");
    client.end_of_message();
    client.unknown(b"XYZZY");
    client.abort();
    client.quit_new_connection();
    client.quit();
    let expected = [
        packet(b'D', b"Cj\0mx\0{daemon_name}\0smtpd\0"),
        packet(b'C', b"client.example\x004\x04\x00192.0.2.7\0"),
        packet(b'C', b"[2001:db8::1]\x006\0\x192001:db8::1\0"),
        packet(b'C', b"localhost\0L\0\0/run/s\0"),
        packet(b'C', b"localhost\0U"),
        packet(b'H', b"client.example\0"),
        packet(b'M', b"<a@example.org>\0SIZE=10\0"),
        packet(b'R', b"<b@example.net>\0"),
        packet(b'T', b""),
        packet(b'L', b"Subject\0hi\n\tthere\0"),
        packet(b'N', b""),
        packet(b'B', b"line\r\n"),
        packet(b'E', b""),
        packet(b'U', b"XYZZY\0"),
        packet(b'A', b""),
        packet(b'K', b""),
        packet(b'Q', b""),
    ]
    .concat();
    assert_eq!(client.output(), expected);
}

#[test]
fn header_leading_space_kept_when_negotiated() {
    let mut client = negotiated(Actions::empty(), ProtocolFlags::HEADER_LEADING_SPACE);
    assert!(client.leading_space());
    client.header(b"Subject", b" hi");
    client.header(b"X-Tab", b"\tx");
    assert_eq!(
        client.output(),
        [
            packet(b'L', b"Subject\0 hi\0"),
            packet(b'L', b"X-Tab\0\tx\0")
        ]
        .concat()
    );
}

#[test]
fn only_one_space_is_stripped_and_never_a_tab() {
    let mut client = negotiated(Actions::empty(), ProtocolFlags::empty());
    client.header(b"A", b"  two");
    client.header(b"B", b"\ttab");
    assert_eq!(
        client.output(),
        [packet(b'L', b"A\0 two\0"), packet(b'L', b"B\0\ttab\0")].concat()
    );
}

#[test]
fn large_bodies_are_split_into_65535_byte_chunks() {
    let mut client = negotiated(Actions::empty(), ProtocolFlags::empty());
    let body = vec![b'x'; 140_000];
    client.body(&body);
    client.body(b"");
    let out = client.output();
    let expected = [
        packet(b'B', &body[..65_535]),
        packet(b'B', &body[65_535..131_070]),
        packet(b'B', &body[131_070..]),
    ]
    .concat();
    assert_eq!(out, expected);
    for _ in 0..3 {
        client.receive(&packet(b'c', b""));
    }
    assert_eq!(replies(&mut client).unwrap(), vec![Reply::Continue; 3]);
    assert_eq!(client.awaiting(), None);
}

#[test]
fn declined_steps_are_not_sent() {
    let declined = ProtocolFlags::NO_CONNECT
        | ProtocolFlags::NO_HELO
        | ProtocolFlags::NO_MAIL
        | ProtocolFlags::NO_RCPT
        | ProtocolFlags::NO_DATA
        | ProtocolFlags::NO_HEADERS
        | ProtocolFlags::NO_EOH
        | ProtocolFlags::NO_BODY
        | ProtocolFlags::NO_UNKNOWN;
    let mut client = negotiated(Actions::empty(), declined);
    client.connect(b"h", None);
    client.helo(b"h");
    client.mail(&[b"<a>"]);
    client.rcpt(&[b"<b>"]);
    client.data();
    client.header(b"a", b"b");
    client.end_of_headers();
    client.body(b"x");
    client.unknown(b"x");
    for step in [
        Step::Connect,
        Step::Helo,
        Step::Mail,
        Step::Body,
        Step::Unknown,
    ] {
        assert!(client.skips(step));
        assert!(!client.expects_reply(step));
    }
    assert!(!client.skips(Step::EndOfMessage));
    client.end_of_message();
    assert_eq!(client.output(), packet(b'E', b""));
    assert_eq!(client.awaiting(), Some(Step::EndOfMessage));
}

#[test]
fn modifications_come_before_the_final_reply_to_end_of_message() {
    let mut client = negotiated(
        Actions::ADD_HEADERS | Actions::CHANGE_HEADERS,
        ProtocolFlags::empty(),
    );
    client.end_of_message();
    let insert = Reply::InsertHeader {
        index: 0,
        name: b"DKIM-Signature".to_vec(),
        value: b"v=1".to_vec(),
    };
    let delete = Reply::ChangeHeader {
        index: 1,
        name: b"X-Spam".to_vec(),
        value: vec![],
    };
    for reply in [&insert, &delete, &Reply::Progress, &Reply::Accept] {
        let mut bytes = Vec::new();
        reply.encode(&mut bytes);
        client.receive(&bytes);
    }
    assert_eq!(
        replies(&mut client).unwrap(),
        vec![insert, delete, Reply::Progress, Reply::Accept]
    );
    assert_eq!(client.awaiting(), None);
}

#[test]
fn modification_outside_end_of_message_is_an_error() {
    let mut client = negotiated(Actions::ADD_HEADERS, ProtocolFlags::empty());
    client.mail(&[b"<a>"]);
    client.receive(&packet(b'h', b"X-A\0b\0"));
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::UnexpectedReply { code: b'h' })
    );
}

#[test]
fn modification_without_its_action_is_an_error() {
    let mut client = negotiated(Actions::ADD_HEADERS, ProtocolFlags::empty());
    client.end_of_message();
    client.receive(&packet(b'b', b"new body\r\n"));
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::ActionNotNegotiated { code: b'b' })
    );
}

#[test]
fn quarantine_is_accepted_at_any_step_when_negotiated() {
    let mut client = negotiated(Actions::QUARANTINE, ProtocolFlags::empty());
    client.rcpt(&[b"<b>"]);
    client.receive(&packet(b'q', b"why\0"));
    client.receive(&packet(b'c', b""));
    assert_eq!(
        replies(&mut client).unwrap(),
        vec![Reply::Quarantine(b"why".to_vec()), Reply::Continue]
    );
}

#[test]
fn skip_needs_smfip_skip_and_a_body_chunk() {
    let mut client = negotiated(Actions::empty(), ProtocolFlags::empty());
    client.body(b"x");
    client.receive(&packet(b's', b""));
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::UnexpectedReply { code: b's' })
    );

    let mut client = negotiated(Actions::empty(), ProtocolFlags::SKIP);
    client.helo(b"x");
    client.receive(&packet(b's', b""));
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::UnexpectedReply { code: b's' })
    );

    let mut client = negotiated(Actions::empty(), ProtocolFlags::SKIP);
    client.body(b"first");
    client.output();
    client.receive(&packet(b's', b""));
    assert_eq!(replies(&mut client).unwrap(), vec![Reply::Skip]);
    assert!(!client.expects_reply(Step::Body));
    client.body(b"second");
    assert!(client.output().is_empty(), "body after SKIP is not sent");
    client.end_of_message();
    assert_eq!(client.output(), packet(b'E', b""));
    assert!(
        client.expects_reply(Step::Body),
        "the next message sends its body again"
    );
}

#[test]
fn unsolicited_reply_is_an_error() {
    let mut client = negotiated(Actions::empty(), ProtocolFlags::empty());
    client.receive(&packet(b'c', b""));
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::UnexpectedReply { code: b'c' })
    );
    assert_eq!(
        client.next_reply(),
        Err(ProtocolError::UnexpectedReply { code: b'c' }),
        "errors stick"
    );
}

#[test]
fn no_reply_steps_are_not_awaited() {
    let mut client = negotiated(
        Actions::empty(),
        ProtocolFlags::NR_HEADER | ProtocolFlags::NR_CONNECT,
    );
    client.connect(b"h", None);
    client.header(b"a", b"b");
    assert_eq!(client.awaiting(), None);
    client.end_of_headers();
    assert_eq!(client.awaiting(), Some(Step::EndOfHeaders));
}

#[test]
fn malformed_replies_are_errors() {
    for (bytes, error) in [
        (
            packet(b'c', b"junk"),
            ProtocolError::TrailingData { code: b'c' },
        ),
        (
            packet(b'y', b"550 5.7.1 no nul"),
            ProtocolError::MissingNul { code: b'y' },
        ),
        (packet(b'?', b""), ProtocolError::UnknownReply(b'?')),
        (b"\0\0\0\0".to_vec(), ProtocolError::ZeroLength),
    ] {
        let mut client = negotiated(Actions::all(), ProtocolFlags::empty());
        client.end_of_message();
        client.receive(&bytes);
        assert_eq!(client.next_reply(), Err(error));
    }
}
