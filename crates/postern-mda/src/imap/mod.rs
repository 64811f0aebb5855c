//! The IMAP server: ports 143 (STARTTLS) and 993 (implicit TLS) over the Maildirs LMTP
//! delivers into. This module drives one connection: bytes through the `imap` crate's framer
//! into the session, replies out, STARTTLS, IDLE. The session's handlers live in the
//! submodules.

mod append;
mod connection;
mod dates;
mod fetch;
pub mod hub;
pub mod limits;
mod mailboxes;
mod output;
mod search;
mod selected;
mod session;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use imap::framer::{CommandFramer, Frame, Limits};
use runtime::accept::SessionId;
use runtime::listen::{PeerAddr, Stream};
use runtime::tls::MaybeTls;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::server::Shared;
use append::LiteralDecision;
use connection::Connection;
use session::{Next, Session};

/// How often an idling session looks for changes made outside this process (Dovecot, a
/// sync tool). Changes made here wake it at once.
const IDLE_POLL: Duration = Duration::from_secs(2);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one IMAP connection.
pub async fn serve(
    stream: Stream,
    peer: PeerAddr,
    id: SessionId,
    shared: Arc<Shared>,
    implicit_tls: bool,
    shutdown: CancellationToken,
) {
    let ip: Option<IpAddr> = match peer {
        PeerAddr::Tcp(addr) => Some(addr.ip()),
        PeerAddr::Unix => None,
    };
    let local = ip.is_none_or(|ip| ip.is_loopback());
    let settings = shared.state.load().config.imap.clone();
    let _ip_slot = match ip {
        Some(ip) => match shared
            .imap_limits
            .take_ip(ip, settings.max_connections_per_ip)
        {
            Some(slot) => Some(slot),
            None => {
                info!(session = %id, client = %peer, "imap: too many connections from this address");
                if !implicit_tls {
                    let mut stream = stream;
                    let _ = tokio::io::AsyncWriteExt::write_all(
                        &mut stream,
                        b"* BYE Too many connections from your address.\r\n",
                    )
                    .await;
                }
                return;
            }
        },
        None => None,
    };
    let stream = if implicit_tls {
        let Some(tls) = &shared.imap_tls else { return };
        match MaybeTls::implicit(stream, &tls.acceptor(), TLS_HANDSHAKE_TIMEOUT).await {
            Ok(stream) => stream,
            Err(e) => {
                info!(session = %id, client = %peer, error = %e, "imap: TLS handshake failed");
                return;
            }
        }
    } else {
        MaybeTls::from(stream)
    };
    let mut stream = Connection::Plain(stream);
    info!(session = %id, client = %peer, tls = implicit_tls, "imap connect");
    let mut session = Session::new(id, shared, ip, implicit_tls, local);
    session.greet();
    let mut framer = new_framer(&settings);
    if session.out.flush_to(&mut stream).await.is_err() {
        return;
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let reason = loop {
        let timeout = if session.account.is_some() {
            settings.idle_timeout
        } else {
            settings.login_timeout
        };
        let read = tokio::select! {
            read = tokio::time::timeout(timeout, stream.read(&mut buffer)) => read,
            () = shutdown.cancelled() => {
                let _ = bye(&mut stream, "Server shutting down.").await;
                break "shutdown";
            }
        };
        let n = match read {
            Err(_) => {
                let _ = bye(&mut stream, "Disconnected for inactivity.").await;
                break "idle timeout";
            }
            Ok(Ok(0)) => break "client closed",
            Ok(Err(_)) => break "read error",
            Ok(Ok(n)) => n,
        };
        framer.push(buffer.get(..n).unwrap_or_default());
        match drive(&mut session, &mut framer, &mut stream, &shutdown).await {
            Ok(true) => {}
            Ok(false) => break "logout",
            Err(_) => break "write error",
        }
    };
    session.drop_append();
    info!(session = %session.id, user = session.account.as_ref().map_or("", |a| a.name.as_str()), reason, "imap disconnect");
}

fn new_framer(settings: &crate::config::ImapSettings) -> CommandFramer {
    CommandFramer::new(Limits {
        max_line: settings.max_line_length,
        max_literal: 64 * 1024,
        max_command: settings.max_line_length.saturating_mul(4).max(1 << 20),
    })
}

async fn bye(stream: &mut Connection, text: &str) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    stream
        .write_all(format!("* BYE {text}\r\n").as_bytes())
        .await?;
    stream.flush().await
}

/// Runs every frame the framer has; `Ok(false)` when the connection should close.
async fn drive(
    session: &mut Session,
    framer: &mut CommandFramer,
    stream: &mut Connection,
    shutdown: &CancellationToken,
) -> std::io::Result<bool> {
    while let Some(frame) = framer.next() {
        let next = match frame {
            Frame::Command(bytes) => tokio::task::block_in_place(|| session.handle_line(&bytes)),
            Frame::LiteralAnnounced {
                prefix, size, sync, ..
            } => {
                match tokio::task::block_in_place(|| session.literal_announced(&prefix, size, sync))
                {
                    LiteralDecision::Accept => framer.accept_literal(),
                    LiteralDecision::Stream => framer.stream_literal(),
                    LiteralDecision::Reject => framer.reject_literal(),
                }
                Next::Continue
            }
            Frame::LiteralChunk(chunk) => {
                session.append_chunk(&chunk);
                Next::Continue
            }
            Frame::LiteralEnd => {
                tokio::task::block_in_place(|| session.append_literal_end());
                Next::Continue
            }
            Frame::TooLong { tag } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                session.drop_append();
                imap::response::tagged(
                    session.out.bytes(),
                    &tag,
                    imap::response::Status::Bad,
                    Some(&imap::response::Code::TooBig),
                    "Command line too long.",
                );
                Next::Continue
            }
            Frame::BadLiteral { tag } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                imap::response::tagged(
                    session.out.bytes(),
                    &tag,
                    imap::response::Status::Bad,
                    None,
                    "Invalid literal.",
                );
                Next::Continue
            }
        };
        if let Some(delay) = session.delay.take() {
            tokio::time::sleep(delay).await;
        }
        if session.out.is_large() || next != Next::Continue {
            session.out.flush_to(stream).await?;
        }
        let mut next = next;
        while next == Next::More {
            session.out.flush_to(stream).await?;
            next = tokio::task::block_in_place(|| session.resume());
        }
        match next {
            Next::Continue | Next::More => {}
            Next::Close => return Ok(false),
            Next::StartTls => {
                // Whatever the client pipelined after STARTTLS was sent in plaintext: drop it
                // (CVE-2011-0411).
                let _ = framer.take_remaining();
                let Some(tls) = session.shared.imap_tls.clone() else {
                    return Ok(false);
                };
                let placeholder = Connection::Plain(MaybeTls::Plain(dummy_stream()?));
                let Connection::Plain(plain) = std::mem::replace(stream, placeholder) else {
                    return Ok(false);
                };
                *stream = Connection::Plain(
                    plain
                        .upgrade(&tls.acceptor(), TLS_HANDSHAKE_TIMEOUT)
                        .await?,
                );
                session.tls = true;
                session.secure = true;
                debug!(session = %session.id, "imap: TLS started");
            }
            Next::Compress => {
                let _ = framer.take_remaining();
                let placeholder = Connection::Plain(MaybeTls::Plain(dummy_stream()?));
                let plain = std::mem::replace(stream, placeholder);
                *stream = plain.compress();
                debug!(session = %session.id, "imap: COMPRESS=DEFLATE on");
            }
            Next::Idle => {
                if !idle(session, framer, stream, shutdown).await? {
                    return Ok(false);
                }
            }
        }
    }
    session.out.flush_to(stream).await?;
    Ok(true)
}

/// A placeholder while the real stream is moved into the TLS handshake.
fn dummy_stream() -> std::io::Result<Stream> {
    let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    a.set_nonblocking(true)?;
    Ok(Stream::Unix(tokio::net::UnixStream::from_std(a)?))
}

/// IDLE: report changes as they happen until the client sends DONE. `Ok(false)`: close.
async fn idle(
    session: &mut Session,
    framer: &mut CommandFramer,
    stream: &mut Connection,
    shutdown: &CancellationToken,
) -> std::io::Result<bool> {
    let tag = session.idle_tag.take().unwrap_or_else(|| "*".into());
    let mut watch = session.selected.as_ref().map(|s| s.watch.clone());
    let timeout = session.config.config.imap.idle_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buffer = vec![0u8; 4096];
    loop {
        // DONE may already be buffered (pipelined).
        if let Some(frame) = framer.next() {
            let done = matches!(&frame, Frame::Command(line)
                if line.strip_suffix(b"\n").map(|l| l.strip_suffix(b"\r").unwrap_or(l)).is_some_and(|l| l.eq_ignore_ascii_case(b"DONE")));
            if done {
                tokio::task::block_in_place(|| session.refresh(true));
                session.ok(&tag, "IDLE terminated.");
            } else {
                imap::response::tagged(
                    session.out.bytes(),
                    &tag,
                    imap::response::Status::Bad,
                    None,
                    "Expected DONE.",
                );
                if let Frame::LiteralAnnounced { .. } = frame {
                    framer.reject_literal();
                }
            }
            session.out.flush_to(stream).await?;
            return Ok(true);
        }
        let changed = async {
            match watch.as_mut() {
                Some(w) => w.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = stream.read(&mut buffer) => {
                match read {
                    Ok(0) | Err(_) => return Ok(false),
                    Ok(n) => framer.push(buffer.get(..n).unwrap_or_default()),
                }
            }
            ok = changed => {
                if !ok {
                    watch = None;
                }
                tokio::task::block_in_place(|| session.refresh(true));
                session.out.flush_to(stream).await?;
            }
            () = tokio::time::sleep(IDLE_POLL) => {
                tokio::task::block_in_place(|| session.refresh(true));
                session.out.flush_to(stream).await?;
            }
            () = tokio::time::sleep_until(deadline) => {
                bye(stream, "Disconnected for inactivity.").await?;
                return Ok(false);
            }
            () = shutdown.cancelled() => {
                bye(stream, "Server shutting down.").await?;
                return Ok(false);
            }
        }
    }
}
