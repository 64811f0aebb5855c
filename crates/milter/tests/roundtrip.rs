//! A client and a server in memory: what one encodes the other decodes.

// Test helpers outside #[test] functions may panic too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use milter::{
    Actions, ClientEvent, ClientOptions, ClientSession, Event, ProtocolFlags, Reply, ServerOptions,
    ServerSession, Stage, Step,
};

/// Delivers the client's output to the server, collecting events and answering each one that
/// expects a reply with whatever `answer` returns.
fn pump(
    client: &mut ClientSession,
    server: &mut ServerSession,
    answer: &mut dyn FnMut(&Event, &ServerSession) -> Vec<Reply>,
) -> (Vec<Event>, Vec<ClientEvent>) {
    server.receive(&client.output());
    let mut events = Vec::new();
    while let Some(event) = server.next_event().unwrap() {
        if server.expects_reply() {
            for reply in answer(&event, server) {
                server.reply(reply);
            }
        }
        events.push(event);
    }
    client.receive(&server.output());
    let mut replies = Vec::new();
    while let Some(reply) = client.next_reply().unwrap() {
        replies.push(reply);
    }
    (events, replies)
}

#[test]
fn whole_session_between_client_and_server() {
    let mut client = ClientSession::new(ClientOptions::default());
    let mut server = ServerSession::new(ServerOptions {
        actions: Actions::ADD_HEADERS,
        protocol: ProtocolFlags::NO_HELO
            | ProtocolFlags::NR_HEADER
            | ProtocolFlags::HEADER_LEADING_SPACE,
        macros: vec![(Stage::EnvFrom, "i {auth_authen}".into())],
        ..ServerOptions::default()
    });
    let mut answer = |event: &Event, _: &ServerSession| match event {
        Event::EndOfMessage => vec![
            Reply::InsertHeader {
                index: 0,
                name: b"DKIM-Signature".to_vec(),
                value: b" v=1; d=example.org".to_vec(),
            },
            Reply::Continue,
        ],
        _ => vec![Reply::Continue],
    };

    client.optneg();
    let (events, replies) = pump(&mut client, &mut server, &mut answer);
    assert!(events.is_empty());
    let [ClientEvent::Negotiated(agreed)] = replies.as_slice() else {
        panic!("{replies:?}")
    };
    assert_eq!(agreed, server.negotiated().unwrap());
    assert_eq!(
        client.requested_macros(Stage::EnvFrom),
        ["i", "{auth_authen}"]
    );
    assert!(client.skips(Step::Helo));
    assert!(client.leading_space() && server.leading_space());

    client.connect(
        b"client.example",
        Some("198.51.100.4:40000".parse().unwrap()),
    );
    client.helo(b"skipped.example");
    client.macros(Stage::EnvFrom, &[("i", b"4XYZ"), ("{auth_authen}", b"bob")]);
    client.mail(&[b"<bob@example.org>"]);
    client.rcpt(&[b"<carol@example.net>", b"NOTIFY=NEVER"]);
    client.data();
    client.header(b"From", b" bob@example.org");
    client.header(b"Subject", b" folded\r\n line");
    client.end_of_headers();
    client.body(&vec![b'.'; 70_000]);
    client.end_of_message();
    let (events, replies) = pump(&mut client, &mut server, &mut answer);
    assert_eq!(server.macro_value("{i}"), Some(&b"4XYZ"[..]));
    assert_eq!(server.macro_value("auth_authen"), Some(&b"bob"[..]));
    assert_eq!(
        events,
        vec![
            Event::Connect {
                hostname: b"client.example".to_vec(),
                address: Some("198.51.100.4:40000".parse().unwrap())
            },
            Event::Mail(vec![b"<bob@example.org>".to_vec()]),
            Event::Rcpt(vec![
                b"<carol@example.net>".to_vec(),
                b"NOTIFY=NEVER".to_vec()
            ]),
            Event::Data,
            Event::Header {
                name: b"From".to_vec(),
                value: b" bob@example.org".to_vec()
            },
            Event::Header {
                name: b"Subject".to_vec(),
                value: b" folded\n line".to_vec()
            },
            Event::EndOfHeaders,
            Event::Body(vec![b'.'; 65_535]),
            Event::Body(vec![b'.'; 70_000 - 65_535]),
            Event::EndOfMessage,
        ]
    );
    let continues = 7; // connect, mail, rcpt, data, eoh, two body chunks
    let mut expected = vec![ClientEvent::Reply(Reply::Continue); continues];
    expected.push(ClientEvent::Reply(Reply::InsertHeader {
        index: 0,
        name: b"DKIM-Signature".to_vec(),
        value: b" v=1; d=example.org".to_vec(),
    }));
    expected.push(ClientEvent::Reply(Reply::Continue));
    assert_eq!(replies, expected);
    assert_eq!(client.awaiting(), None);

    client.abort();
    client.quit();
    let (events, replies) = pump(&mut client, &mut server, &mut answer);
    assert_eq!(events, vec![Event::Abort, Event::Quit]);
    assert!(replies.is_empty());
}
