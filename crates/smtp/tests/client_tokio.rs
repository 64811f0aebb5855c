//! The client driven the way postern-mta's LMTP delivery drives it: a tokio `UnixStream`, a
//! read timeout, the message streamed from an `AsyncRead`, the connection kept for the next
//! message. Against our server session on the other end of a socket pair, and against a server
//! that hangs up between two final replies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::Driver;
use smtp::client::{
    ClientError, ClientEvent, ClientSession, ClientSettings, Envelope, RecipientResult,
};
use smtp::{ForwardPath, ReversePath, ServerSession, Settings};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Writes what the client has to say, then reads until it has an event. Every way the
/// connection can end is reported to the session, which then finishes the transaction.
async fn next_event(
    stream: &mut UnixStream,
    client: &mut ClientSession,
) -> Result<ClientEvent, ClientError> {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        // Replies just read may have queued commands (EHLO after the greeting, RSET, ...):
        // they go out before the event is handed over or the next read waits for an answer.
        let event = client.next_event();
        let output = client.output();
        if let Err(error) = stream.write_all(&output).await {
            client.connection_lost(ClientError::Io(error.kind()));
        }
        if let Some(event) = event? {
            return Ok(event);
        }
        let read = tokio::time::timeout(Duration::from_secs(300), stream.read(&mut buffer));
        match read.await {
            Err(_) => client.connection_lost(ClientError::TimedOut),
            Ok(Err(error)) => client.connection_lost(ClientError::Io(error.kind())),
            Ok(Ok(0)) => client.connection_lost(ClientError::Closed),
            Ok(Ok(n)) => client.receive(&buffer[..n]),
        }
    }
}

/// One message over an open connection; the results are per recipient even when the
/// connection breaks half way (the error comes with the next call).
async fn deliver(
    stream: &mut UnixStream,
    client: &mut ClientSession,
    envelope: Envelope,
    mut message: impl AsyncRead + Unpin,
) -> Result<Vec<RecipientResult>, Error> {
    client.start(envelope)?;
    loop {
        match next_event(stream, client).await? {
            ClientEvent::SendBody => {
                let mut chunk = vec![0; 64 * 1024];
                loop {
                    let n = message.read(&mut chunk).await?;
                    if n == 0 {
                        break;
                    }
                    client.send_body(&chunk[..n])?;
                    stream.write_all(&client.output()).await?;
                }
                client.finish_body()?;
            }
            ClientEvent::Delivered(results) => return Ok(results),
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
}

/// Our server session on a socket, answering like the test policy.
async fn serve(mut stream: UnixStream, settings: Settings) -> Driver {
    let mut session = ServerSession::new(settings);
    session.greet();
    let mut driver = Driver::default();
    let mut written = 0;
    let mut buffer = vec![0; 4096];
    loop {
        driver.drain(&mut session);
        stream
            .write_all(&driver.outcome.output[written..])
            .await
            .unwrap();
        written = driver.outcome.output.len();
        if session.is_closed() {
            return driver;
        }
        let n = stream.read(&mut buffer).await.unwrap();
        if n == 0 {
            return driver;
        }
        session.receive(&buffer[..n]);
    }
}

fn envelope(recipients: &[&str]) -> Envelope {
    let sender = ReversePath::parse("<sender@example.com>", false).unwrap().0;
    let recipients = recipients
        .iter()
        .map(|r| ForwardPath::parse(r, false).unwrap().0);
    Envelope::new(sender, recipients)
}

#[tokio::test]
async fn lmtp_delivery_over_a_unix_socket_with_the_connection_kept() {
    let (mut stream, server_end) = UnixStream::pair().unwrap();
    let server = tokio::spawn(serve(server_end, Settings::lmtp("mda.example.org")));
    let mut client = ClientSession::new(ClientSettings::lmtp("mta.example.org"));
    assert_eq!(
        next_event(&mut stream, &mut client).await.unwrap(),
        ClientEvent::Ready
    );

    // A message larger than the socket buffers and the read chunk, with dots to stuff.
    let big: Vec<u8> = (0..20_000)
        .flat_map(|i| format!(".line {i}\r\n").into_bytes())
        .collect();
    let results = deliver(
        &mut stream,
        &mut client,
        envelope(&[
            "<a@example.org>",
            "<unknown@example.org>",
            "<full@example.org>",
        ]),
        &big[..],
    )
    .await
    .unwrap();
    let statuses: Vec<String> = results.iter().map(|r| r.status.to_string()).collect();
    assert_eq!(
        statuses,
        [
            "accepted: 250 2.0.0 Ok: delivered",
            "bounced: 550 5.1.1 User unknown (in reply to RCPT TO)",
            "bounced: 552 5.2.2 Mailbox full (in reply to end of data)",
        ]
    );

    // Back in the pool, and out again for the next message.
    assert!(client.is_ready());
    let results = deliver(
        &mut stream,
        &mut client,
        envelope(&["<b@example.org>"]),
        &b"Subject: second\r\n\r\nhi\r\n"[..],
    )
    .await
    .unwrap();
    assert!(results[0].status.is_accepted());

    client.quit().unwrap();
    assert_eq!(
        next_event(&mut stream, &mut client).await.unwrap(),
        ClientEvent::Closed
    );
    let driver = server.await.unwrap();
    assert_eq!(driver.outcome.messages.len(), 2);
    assert_eq!(driver.outcome.messages[0], big);
}

#[tokio::test]
async fn hang_up_between_final_replies_keeps_the_first_result() {
    let (mut stream, mut server_end) = UnixStream::pair().unwrap();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buffer = vec![0; 4096];
        for (until, answer) in [
            (&b""[..], &b"220 mda LMTP\r\n"[..]),
            (
                b"LHLO mta.example.org\r\n",
                b"250-mda\r\n250 PIPELINING\r\n",
            ),
            (b"DATA\r\n", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            (b"\r\n.\r\n", b"250 2.0.0 delivered to a\r\n"),
        ] {
            while !seen.ends_with(until) {
                let n = server_end.read(&mut buffer).await.unwrap();
                seen.extend_from_slice(&buffer[..n]);
            }
            server_end.write_all(answer).await.unwrap();
        }
        // Gone before answering for the second recipient.
    });
    let mut client = ClientSession::new(ClientSettings::lmtp("mta.example.org"));
    assert_eq!(
        next_event(&mut stream, &mut client).await.unwrap(),
        ClientEvent::Ready
    );
    let results = deliver(
        &mut stream,
        &mut client,
        envelope(&["<a@example.org>", "<b@example.org>"]),
        &b"hello\r\n"[..],
    )
    .await
    .unwrap();
    server.await.unwrap();
    assert!(results[0].status.is_accepted());
    assert_eq!(
        results[1].status.to_string(),
        "deferred: connection closed by the server (during end of data)"
    );
    assert!(client.is_closed() && !client.is_ready());
    assert_eq!(
        next_event(&mut stream, &mut client).await,
        Err(ClientError::Closed)
    );
}
