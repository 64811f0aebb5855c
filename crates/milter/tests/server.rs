//! Filter-side transcripts: literal MTA bytes in, exact filter bytes out.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use milter::{
    Actions, Event, ProtocolError, ProtocolFlags, Reply, ServerOptions, ServerSession, Stage,
};

/// Postfix 3.7 with `milter_protocol = 6`: version 6, actions 0x1ff, protocol 0x1fffff.
const POSTFIX_OPTNEG: &[u8] = b"\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff";

/// The options postern-dkim negotiates.
fn dkim_options() -> ServerOptions {
    ServerOptions {
        actions: Actions::ADD_HEADERS,
        protocol: ProtocolFlags::NO_HELO
            | ProtocolFlags::NO_RCPT
            | ProtocolFlags::NO_DATA
            | ProtocolFlags::NO_UNKNOWN
            | ProtocolFlags::NR_HEADER
            | ProtocolFlags::NR_BODY
            | ProtocolFlags::HEADER_LEADING_SPACE,
        macros: vec![
            (Stage::Connect, "j {daemon_name}".into()),
            (Stage::EnvFrom, "i {auth_authen}".into()),
        ],
        max_frame: milter::DEFAULT_MAX_FRAME,
    }
}

fn packet(code: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (u32::try_from(payload.len()).unwrap() + 1)
        .to_be_bytes()
        .to_vec();
    out.push(code);
    out.extend_from_slice(payload);
    out
}

fn events(session: &mut ServerSession) -> Vec<(Event, bool)> {
    let mut events = Vec::new();
    while let Some(event) = session.next_event().unwrap() {
        events.push((event, session.expects_reply()));
    }
    events
}

fn negotiated(options: ServerOptions) -> ServerSession {
    let mut session = ServerSession::new(options);
    session.receive(POSTFIX_OPTNEG);
    assert_eq!(session.next_event(), Ok(None));
    session.output();
    session
}

#[test]
fn postfix_transcript_with_dkim_options() {
    let mut session = ServerSession::new(dkim_options());

    // S: OPTNEG answer, with the macro lists.
    session.receive(POSTFIX_OPTNEG);
    assert_eq!(session.next_event(), Ok(None));
    let expected: &[u8] = b"\0\0\0\x35O\
        \0\0\0\x06\
        \0\0\x01\x01\
        \0\x18\x03\x8a\
        \0\0\0\0j {daemon_name}\0\
        \0\0\0\x02i {auth_authen}\0";
    assert_eq!(session.output(), expected);
    let agreed = session.negotiated().unwrap();
    assert_eq!(
        agreed.actions,
        Actions::ADD_HEADERS | Actions::SET_SYMBOL_LIST
    );
    assert!(session.leading_space());

    // C: macros + CONNECT. S: continue.
    session.receive(b"\0\0\0\x29DCj\0mx.example\0{daemon_name}\0ORIGINATING\0");
    session.receive(b"\0\0\0\x1dCclient.example\x004\x04\x00192.0.2.7\0");
    let connect = Event::Connect {
        hostname: b"client.example".to_vec(),
        address: Some("192.0.2.7:1024".parse().unwrap()),
    };
    assert_eq!(events(&mut session), vec![(connect, true)]);
    assert_eq!(
        session.macro_value("{daemon_name}"),
        Some(&b"ORIGINATING"[..])
    );
    assert_eq!(session.macro_value("j"), Some(&b"mx.example"[..]));
    session.reply(Reply::Continue);
    assert_eq!(session.output(), b"\0\0\0\x01c");

    // C: macros + MAIL. S: continue.
    session.receive(b"\0\0\0\x1dDMi\x004ABC\0{auth_authen}\0alice\0");
    session.receive(b"\0\0\0\x1dM<alice@example.org>\0SIZE=99\0");
    let mail = Event::Mail(vec![b"<alice@example.org>".to_vec(), b"SIZE=99".to_vec()]);
    assert_eq!(events(&mut session), vec![(mail, true)]);
    assert_eq!(session.macro_value("i"), Some(&b"4ABC"[..]));
    assert_eq!(session.macro_value("{i}"), Some(&b"4ABC"[..]));
    assert_eq!(session.macro_value("auth_authen"), Some(&b"alice"[..]));
    session.reply(Reply::Continue);

    // C: headers (no replies: NR_HEADER), end of headers, two body chunks (NR_BODY), EOM.
    session.receive(b"\0\0\0\x19LFrom\0 alice@example.org\0");
    session.receive(b"\0\0\0\x12LSubject\0 hi\n\tyou\0");
    session.receive(b"\0\0\0\x01N");
    session.receive(b"\0\0\0\x09Bline 1\r\n");
    session.receive(b"\0\0\0\x09Bline 2\r\n");
    session.receive(b"\0\0\0\x01E");
    assert_eq!(
        events(&mut session),
        vec![
            (
                Event::Header {
                    name: b"From".to_vec(),
                    value: b" alice@example.org".to_vec()
                },
                false
            ),
            (
                Event::Header {
                    name: b"Subject".to_vec(),
                    value: b" hi\n\tyou".to_vec()
                },
                false
            ),
            (Event::EndOfHeaders, true),
            (Event::Body(b"line 1\r\n".to_vec()), false),
            (Event::Body(b"line 2\r\n".to_vec()), false),
            (Event::EndOfMessage, true),
        ]
    );

    // S: continue to EOH, then the signature and continue to EOM.
    session.reply(Reply::Continue);
    session.reply(Reply::InsertHeader {
        index: 0,
        name: b"DKIM-Signature".to_vec(),
        value: b" v=1".to_vec(),
    });
    session.reply(Reply::Continue);
    let expected: &[u8] = b"\0\0\0\x01c\
        \0\0\0\x01c\
        \0\0\0\x19i\0\0\0\0DKIM-Signature\0 v=1\0\
        \0\0\0\x01c";
    assert_eq!(session.output(), expected);

    // C: QUIT. No reply.
    session.receive(b"\0\0\0\x01Q");
    assert_eq!(events(&mut session), vec![(Event::Quit, false)]);
    assert!(session.output().is_empty());
}

#[test]
fn nr_header_means_no_reply_to_headers() {
    let options = ServerOptions {
        protocol: ProtocolFlags::NR_HEADER,
        ..ServerOptions::default()
    };
    let mut session = negotiated(options);
    session.receive(&packet(b'L', b"Subject\0x\0"));
    session.receive(&packet(b'N', b""));
    assert_eq!(
        events(&mut session),
        vec![
            (
                Event::Header {
                    name: b"Subject".to_vec(),
                    value: b"x".to_vec()
                },
                false
            ),
            (Event::EndOfHeaders, true)
        ]
    );
}

#[test]
fn without_nr_flags_every_step_expects_a_reply() {
    let mut session = negotiated(ServerOptions::default());
    for (code, payload) in [
        (b'C', &b"h\0U"[..]),
        (b'H', b"helo\0"),
        (b'M', b"<a>\0"),
        (b'R', b"<b>\0"),
        (b'T', b""),
        (b'L', b"a\0b\0"),
        (b'N', b""),
        (b'B', b"x"),
        (b'E', b""),
        (b'U', b"XYZZY\0"),
    ] {
        session.receive(&packet(code, payload));
        let event = session.next_event().unwrap().unwrap();
        assert!(session.expects_reply(), "{event:?}");
    }
    for code in [b'A', b'K', b'Q'] {
        session.receive(&packet(code, b""));
        let event = session.next_event().unwrap().unwrap();
        assert!(!session.expects_reply(), "{event:?}");
    }
}

#[test]
fn offered_version_2_is_answered_with_version_2() {
    let mut session = ServerSession::new(dkim_options());
    // Sendmail 8.12-style offer: version 2, actions 0x0f, protocol 0x3f. No SETSYMLIST, no NR_*.
    session.receive(&packet(b'O', b"\0\0\0\x02\0\0\0\x0f\0\0\0\x3f"));
    assert_eq!(session.next_event(), Ok(None));
    assert_eq!(
        session.output(),
        packet(b'O', b"\0\0\0\x02\0\0\0\x01\0\0\0\x0a")
    );
    session.receive(&packet(b'L', b"a\0b\0"));
    assert!(session.next_event().unwrap().is_some());
    assert!(
        session.expects_reply(),
        "NR_HEADER was not agreed, so headers need replies"
    );
    assert!(!session.leading_space());
}

#[test]
fn offered_version_1_is_refused() {
    let mut session = ServerSession::new(dkim_options());
    session.receive(&packet(b'O', b"\0\0\0\x01\0\0\0\x0f\0\0\0\x3f"));
    assert_eq!(
        session.next_event(),
        Err(ProtocolError::UnsupportedVersion(1))
    );
}

#[test]
fn end_of_message_with_final_chunk_surfaces_body_first() {
    let mut session = negotiated(ServerOptions::default());
    session.receive(&packet(b'E', b"last\r\n"));
    assert_eq!(
        events(&mut session),
        vec![
            (Event::Body(b"last\r\n".to_vec()), false),
            (Event::EndOfMessage, true)
        ]
    );
}

#[test]
fn unix_and_unknown_clients_have_no_address() {
    let mut session = negotiated(ServerOptions::default());
    session.receive(&packet(b'C', b"localhost\0L\0\0/run/x\0"));
    session.receive(&packet(b'C', b"localhost\0U"));
    let none = Event::Connect {
        hostname: b"localhost".to_vec(),
        address: None,
    };
    assert_eq!(
        events(&mut session),
        vec![(none.clone(), true), (none, true)]
    );
}

#[test]
fn message_macros_are_forgotten_on_abort_and_new_mail() {
    let mut session = negotiated(ServerOptions::default());
    session.receive(&packet(b'D', b"Cj\0mx\0"));
    session.receive(&packet(b'D', b"Mi\0Q1\0"));
    session.receive(&packet(b'M', b"<a>\0"));
    session.receive(&packet(b'D', b"R{rcpt_addr}\0b@x\0"));
    session.receive(&packet(b'R', b"<b>\0"));
    events(&mut session);
    assert_eq!(session.macro_value("i"), Some(&b"Q1"[..]));
    assert_eq!(session.macro_value("rcpt_addr"), Some(&b"b@x"[..]));

    session.receive(&packet(b'A', b""));
    assert_eq!(events(&mut session), vec![(Event::Abort, false)]);
    assert_eq!(session.macro_value("i"), None);
    assert_eq!(session.macro_value("rcpt_addr"), None);
    assert_eq!(session.macro_value("j"), Some(&b"mx"[..]));

    // A MAIL whose MTA sent no macros must not see the previous message's.
    session.receive(&packet(b'D', b"Mi\0Q2\0"));
    session.receive(&packet(b'M', b"<a>\0"));
    events(&mut session);
    assert_eq!(session.macro_value("i"), Some(&b"Q2"[..]));
    session.receive(&packet(b'M', b"<c>\0"));
    events(&mut session);
    assert_eq!(session.macro_value("i"), None);

    session.receive(&packet(b'K', b""));
    assert_eq!(
        events(&mut session),
        vec![(Event::QuitNewConnection, false)]
    );
    assert_eq!(session.macro_value("j"), None);
}

#[test]
fn macros_before_headers_and_body_are_ignored_like_libmilter() {
    let mut session = negotiated(ServerOptions::default());
    session.receive(&packet(b'D', b"Lx\x001\0"));
    session.receive(&packet(b'D', b"Bx\0 2\0"));
    assert_eq!(session.next_event(), Ok(None));
    assert_eq!(session.macro_value("x"), None);
}

#[test]
fn renegotiation_is_answered_again() {
    let mut session = negotiated(dkim_options());
    session.receive(POSTFIX_OPTNEG);
    assert_eq!(session.next_event(), Ok(None));
    assert_eq!(session.output().get(4), Some(&b'O'));
}

#[test]
fn command_before_optneg_is_an_error_and_stays_one() {
    let mut session = ServerSession::new(dkim_options());
    session.receive(&packet(b'H', b"x\0"));
    assert_eq!(
        session.next_event(),
        Err(ProtocolError::NotNegotiated { code: b'H' })
    );
    session.receive(POSTFIX_OPTNEG);
    assert_eq!(
        session.next_event(),
        Err(ProtocolError::NotNegotiated { code: b'H' })
    );
    assert!(!session.expects_reply());
}

#[test]
fn malformed_input_is_an_error() {
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (b"\0\0\0\0".to_vec(), ProtocolError::ZeroLength),
        (
            b"\x00\x10\x00\x01".to_vec(),
            ProtocolError::TooLarge {
                length: 0x10_0001,
                limit: 1 << 20,
            },
        ),
        (
            packet(b'H', b"no terminator"),
            ProtocolError::MissingNul { code: b'H' },
        ),
        (
            packet(b'L', b"Subject\0no terminator"),
            ProtocolError::MissingNul { code: b'L' },
        ),
        (packet(b'Z', b""), ProtocolError::UnknownCommand(b'Z')),
        (
            packet(b'C', b"host\x004\0"),
            ProtocolError::Truncated { code: b'C' },
        ),
        (
            packet(b'O', b"\0\0\0\x06"),
            ProtocolError::Truncated { code: b'O' },
        ),
    ];
    for (bytes, error) in cases {
        let mut session = negotiated(ServerOptions::default());
        session.receive(&bytes);
        assert_eq!(session.next_event(), Err(error));
    }
}

#[test]
fn truncated_input_waits_for_more() {
    let mut session = negotiated(ServerOptions::default());
    let bytes = packet(b'H', b"client.example\0");
    for split in 0..bytes.len() {
        let (head, tail) = bytes.split_at(split);
        session.receive(head);
        assert_eq!(session.next_event(), Ok(None));
        session.receive(tail);
        assert_eq!(
            session.next_event(),
            Ok(Some(Event::Helo(b"client.example".to_vec())))
        );
    }
}

#[test]
fn configured_limit_applies() {
    let mut session = negotiated(ServerOptions {
        max_frame: 64,
        ..ServerOptions::default()
    });
    session.receive(&packet(b'B', &[b'x'; 63]));
    assert!(session.next_event().unwrap().is_some());
    session.receive(&packet(b'B', &[b'x'; 64]));
    assert_eq!(
        session.next_event(),
        Err(ProtocolError::TooLarge {
            length: 65,
            limit: 64
        })
    );
}
