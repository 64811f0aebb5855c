//! One milter connection from the MTA: read packets, drive the milter server session and the
//! message signer, write replies. A malformed or oversize packet ends this connection only.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use milter::{Event, Reply, ServerOptions, ServerSession};
use runtime::accept::SessionId;
use runtime::reload::Reloadable;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::message::{MessageSigner, Note, Outcome, from_mta_header_value};
use crate::policy::{Origin, parse_client_addr};

/// Milter options we negotiate: we only insert headers, and we never look at HELO, RCPT,
/// DATA or unknown commands, nor answer per header or per body chunk.
pub fn server_options(max_frame: usize) -> ServerOptions {
    use milter::{Actions, ProtocolFlags, Stage};
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
            (
                Stage::Connect,
                "j {daemon_name} {client_addr} {client_name}".into(),
            ),
            (Stage::EnvFrom, "i {auth_type} {auth_authen}".into()),
            (Stage::EndOfMessage, "i".into()),
        ],
        max_frame,
    }
}

/// Serves one connection until the MTA quits, the peer misbehaves, or shutdown.
pub async fn serve<S>(
    mut stream: S,
    session_id: SessionId,
    config: Arc<Reloadable<Config>>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let snapshot = config.load();
    let idle_timeout = snapshot.daemon.idle_timeout;
    let mut session = ServerSession::new(server_options(snapshot.max_packet));
    drop(snapshot);
    let mut connection = Connection {
        id: session_id,
        config,
        origin: Origin::default(),
        message: None,
    };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = tokio::time::timeout(idle_timeout, stream.read(&mut buffer)) => read,
            () = shutdown.cancelled(), if connection.message.is_none() => {
                info!(session = %session_id, "closing idle connection for shutdown");
                return;
            }
        };
        let n = match read {
            Err(_) => {
                warn!(session = %session_id, timeout = ?idle_timeout, "closing: MTA idle too long");
                return;
            }
            Ok(Err(e)) => {
                warn!(session = %session_id, error = %e, "closing: read failed");
                return;
            }
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => n,
        };
        session.receive(buffer.get(..n).unwrap_or_default());
        loop {
            match session.next_event() {
                Ok(None) => break,
                Ok(Some(event)) => {
                    let quit = matches!(event, Event::Quit);
                    connection.handle(event, &mut session);
                    if quit {
                        let _ = flush(&mut stream, &mut session).await;
                        return;
                    }
                }
                Err(e) => {
                    warn!(session = %session_id, error = %e, "closing: malformed milter packet");
                    return;
                }
            }
        }
        if let Err(e) = flush(&mut stream, &mut session).await {
            warn!(session = %session_id, error = %e, "closing: write failed");
            return;
        }
    }
}

async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    session: &mut ServerSession,
) -> std::io::Result<()> {
    let output = session.output();
    if !output.is_empty() {
        stream.write_all(&output).await?;
        stream.flush().await?;
    }
    Ok(())
}

struct Connection {
    id: SessionId,
    config: Arc<Reloadable<Config>>,
    origin: Origin,
    message: Option<MessageSigner>,
}

impl Connection {
    fn handle(&mut self, event: Event, session: &mut ServerSession) {
        let outcome = match event {
            Event::Connect { address, .. } => {
                self.origin.client_addr = address.map(|a| a.ip()).or_else(|| {
                    macro_text(session, "{client_addr}").and_then(|t| parse_client_addr(&t))
                });
                self.origin.daemon_name = macro_text(session, "{daemon_name}");
                Outcome::Continue
            }
            Event::Mail(_) => {
                if self.origin.client_addr.is_none() {
                    self.origin.client_addr =
                        macro_text(session, "{client_addr}").and_then(|t| parse_client_addr(&t));
                }
                if self.origin.daemon_name.is_none() {
                    self.origin.daemon_name = macro_text(session, "{daemon_name}");
                }
                self.origin.auth_authen = macro_text(session, "{auth_authen}");
                let (signer, outcome) = MessageSigner::start(self.config.load(), &self.origin);
                self.message = Some(signer);
                outcome
            }
            Event::Header { name, value } => {
                if let Some(message) = &mut self.message {
                    message.header(name, from_mta_header_value(&value, session.leading_space()));
                }
                Outcome::Continue
            }
            Event::EndOfHeaders => self
                .message
                .as_mut()
                .map_or(Outcome::Continue, MessageSigner::end_of_headers),
            Event::Body(chunk) => {
                if let Some(message) = &mut self.message {
                    message.body(&chunk);
                }
                Outcome::Continue
            }
            Event::EndOfMessage => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs();
                let leading_space = session.leading_space();
                self.message
                    .as_mut()
                    .map_or(Outcome::Continue, |m| m.end_of_message(now, leading_space))
            }
            Event::Abort => {
                self.message = None;
                Outcome::Continue
            }
            Event::QuitNewConnection => {
                // The MTA reuses this connection for a new SMTP session.
                self.origin = Origin::default();
                self.message = None;
                Outcome::Continue
            }
            _ => Outcome::Continue,
        };
        self.log_notes(session);
        let expects_reply = session.expects_reply();
        match outcome {
            Outcome::Continue if expects_reply => session.reply(Reply::Continue),
            Outcome::Accept if expects_reply => session.reply(Reply::Accept),
            Outcome::Finish {
                modifications,
                verdict,
            } => {
                for modification in modifications {
                    session.reply(modification);
                }
                session.reply(verdict);
                self.message = None;
            }
            Outcome::Continue | Outcome::Accept => {}
        }
    }

    fn log_notes(&mut self, session: &ServerSession) {
        let Some(message) = &mut self.message else {
            return;
        };
        let notes = message.take_notes();
        if notes.is_empty() {
            return;
        }
        let queue_id = macro_text(session, "i").unwrap_or_else(|| "NOQUEUE".into());
        let reason = message
            .reason()
            .map(ToString::to_string)
            .unwrap_or_default();
        let client = self
            .origin
            .client_addr
            .map(|a: IpAddr| a.to_string())
            .unwrap_or_default();
        for note in notes {
            match note {
                Note::Signed {
                    domain,
                    selector,
                    algorithm,
                } => info!(
                    session = %self.id, queue_id = %queue_id, d = %domain, s = %selector,
                    a = %algorithm, reason = %reason, "signed"
                ),
                Note::Unsigned(why) => info!(
                    session = %self.id, queue_id = %queue_id, client = %client,
                    "passed unsigned: {why}"
                ),
                Note::Failed(why) => warn!(
                    session = %self.id, queue_id = %queue_id, reason = %reason,
                    "not signed: {why}"
                ),
            }
        }
    }
}

fn macro_text(session: &ServerSession, name: &str) -> Option<String> {
    session
        .macro_value(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| !v.is_empty())
}
