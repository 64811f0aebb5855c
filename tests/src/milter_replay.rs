//! Replays a stored message into a milter the way Postfix does (our milter client crate over
//! a UNIX socket), returning the milter's modifications: used to run a real OpenDKIM as a
//! verifier with header leading space negotiated, as in production.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use milter::{ClientEvent, ClientOptions, ClientSession, Reply, Stage, Step};

/// Sends `message` (CRLF line ends) through the milter at `socket` from a loopback client;
/// returns every reply it gave at end of message (modifications and the final verdict).
pub fn replay(socket: &Path, message: &[u8]) -> Result<Vec<Reply>, String> {
    replay_from(socket, message, "127.0.0.1:25".parse().ok(), None)
}

/// Like [`replay`], with the client address and the `{auth_authen}` macro Postfix would send.
/// If the milter ends the message early (ACCEPT, REJECT...), that reply is returned alone.
pub fn replay_from(
    socket: &Path,
    message: &[u8],
    client: Option<std::net::SocketAddr>,
    auth_authen: Option<&str>,
) -> Result<Vec<Reply>, String> {
    let mut stream =
        UnixStream::connect(socket).map_err(|e| format!("connect {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut session = ClientSession::new(ClientOptions::default());
    session.optneg();
    exchange(&mut stream, &mut session, None)?;

    let (headers, body) = split_message(message);
    session.macros(
        Stage::Connect,
        &[("j", b"mx.postern.test"), ("{daemon_name}", b"smtpd")],
    );
    session.connect(b"client.postern.test", client);
    exchange(&mut stream, &mut session, Some(Step::Connect))?;
    session.helo(b"client.postern.test");
    exchange(&mut stream, &mut session, Some(Step::Helo))?;
    if let Some(user) = auth_authen {
        session.macros(
            Stage::EnvFrom,
            &[
                ("{auth_authen}", user.as_bytes()),
                ("{auth_type}", b"PLAIN"),
            ],
        );
    }
    session.mail(&[b"<alice@example.com>"]);
    let early = exchange(&mut stream, &mut session, Some(Step::Mail))?;
    if early.iter().any(|r| !matches!(r, Reply::Continue)) {
        return Ok(early);
    }
    session.rcpt(&[b"<bob@example.net>"]);
    exchange(&mut stream, &mut session, Some(Step::Rcpt))?;
    for (name, value) in headers {
        session.header(name, value);
        exchange(&mut stream, &mut session, Some(Step::Header))?;
    }
    session.end_of_headers();
    let early = exchange(&mut stream, &mut session, Some(Step::EndOfHeaders))?;
    if early.iter().any(|r| !matches!(r, Reply::Continue)) {
        return Ok(early);
    }
    // Chunk by chunk, reading each reply: queuing all of a big body first would deadlock
    // against a milter that answers every chunk.
    for chunk in body.chunks(65_535) {
        session.body(chunk);
        exchange(&mut stream, &mut session, Some(Step::Body))?;
    }
    session.macros(Stage::EndOfMessage, &[("i", b"4ABCDEF")]);
    session.end_of_message();
    let replies = exchange(&mut stream, &mut session, Some(Step::EndOfMessage))?;
    session.quit();
    let _ = stream.write_all(&session.output());
    Ok(replies)
}

/// Writes what the session queued, then reads until the step's final reply (or just the
/// negotiation when `step` is None). Returns all replies read.
fn exchange(
    stream: &mut UnixStream,
    session: &mut ClientSession,
    step: Option<Step>,
) -> Result<Vec<Reply>, String> {
    stream
        .write_all(&session.output())
        .map_err(|e| e.to_string())?;
    if let Some(step) = step
        && !session.expects_reply(step)
    {
        return Ok(Vec::new());
    }
    let mut replies = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        while let Some(event) = session.next_reply().map_err(|e| e.to_string())? {
            match event {
                ClientEvent::Negotiated(_) if step.is_none() => return Ok(replies),
                ClientEvent::Negotiated(_) => {}
                ClientEvent::Reply(Reply::Progress) => {}
                ClientEvent::Reply(reply) => {
                    let last = reply.is_final();
                    replies.push(reply);
                    if last {
                        return Ok(replies);
                    }
                }
            }
        }
        let n = stream.read(&mut buffer).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("milter closed the connection".into());
        }
        session.receive(buffer.get(..n).unwrap_or_default());
    }
}

/// A header field: name, and the value after the colon.
pub type HeaderField<'a> = (&'a [u8], &'a [u8]);

/// Splits a CRLF message into header fields (name, value after the colon with CRLF folding)
/// and the body.
pub fn split_message(message: &[u8]) -> (Vec<HeaderField<'_>>, &[u8]) {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2);
    let (head, rest) = message.split_at(end);
    let body = rest.strip_prefix(b"\r\n").unwrap_or(rest);
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < head.len() {
        if head[i] == b'\n' {
            let next = head.get(i + 1).copied();
            if next != Some(b' ') && next != Some(b'\t') {
                fields.push((start, i - 1));
                start = i + 1;
            }
        }
        i += 1;
    }
    let headers = fields
        .into_iter()
        .filter_map(|(s, e)| {
            let field = &head[s..e];
            let colon = field.iter().position(|&b| b == b':')?;
            Some((&field[..colon], &field[colon + 1..]))
        })
        .collect();
    (headers, body)
}
