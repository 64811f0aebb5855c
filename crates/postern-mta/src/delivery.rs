//! Local delivery over LMTP (to postern-mda or Dovecot): the sans-I/O `smtp` client driven
//! over a UNIX or TCP socket, the queued message streamed from its file, one outcome per
//! recipient from LMTP's per-recipient replies, and a small pool of idle connections.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use queue::Envelope;
use runtime::listen::{ListenAddress, Stream};
use smtp::client::{
    ClientError, ClientEvent, ClientSession, ClientSettings, EnvelopeRecipient, Failure,
    RecipientStatus, Stage,
};
use smtp::{ForwardPath, ReversePath};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::block_in_place;

use crate::config::{Config, LmtpSettings};
use crate::server::Shared;

/// What became of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(String),
    Deferred(String),
    Failed(String),
}

/// One LMTP connection, past LHLO.
#[derive(Debug)]
pub struct LmtpConnection {
    stream: Stream,
    client: ClientSession,
}

/// Idle LMTP connections for reuse (RSET between transactions).
#[derive(Debug)]
pub struct LmtpPool {
    idle: Mutex<Vec<LmtpConnection>>,
    size: usize,
}

impl LmtpPool {
    pub fn new(settings: &LmtpSettings) -> Self {
        LmtpPool {
            idle: Mutex::new(Vec::new()),
            size: settings.connections,
        }
    }

    fn take(&self) -> Option<LmtpConnection> {
        self.idle.lock().ok()?.pop()
    }

    fn give_back(&self, connection: LmtpConnection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.size
        {
            idle.push(connection);
        }
    }
}

impl LmtpConnection {
    pub async fn connect(
        address: &ListenAddress,
        hostname: &str,
        timeout: Duration,
    ) -> Result<LmtpConnection, String> {
        let stream = runtime::listen::connect(address, timeout)
            .await
            .map_err(|e| format!("connect to {address}: {e}"))?;
        let mut connection = LmtpConnection {
            stream,
            client: ClientSession::new(ClientSettings::lmtp(hostname)),
        };
        match connection.next_event(timeout).await {
            Ok(ClientEvent::Ready) => Ok(connection),
            Ok(other) => Err(format!("{address}: unexpected {other:?}")),
            Err(e) => Err(format!("{address}: {e}")),
        }
    }

    /// Writes pending output, then reads until the session has an event.
    async fn next_event(&mut self, timeout: Duration) -> Result<ClientEvent, ClientError> {
        let mut buffer = [0u8; 8192];
        loop {
            // Processing input may queue commands (LHLO after the greeting): write them
            // before waiting for more.
            let event = self.client.next_event()?;
            self.write_output().await?;
            if let Some(event) = event {
                return Ok(event);
            }
            match tokio::time::timeout(timeout, self.stream.read(&mut buffer)).await {
                Err(_) => self.client.connection_lost(ClientError::TimedOut),
                Ok(Ok(0)) => self.client.connection_lost(ClientError::Closed),
                Ok(Err(e)) => self.client.connection_lost(ClientError::Io(e.kind())),
                Ok(Ok(n)) => self.client.receive(buffer.get(..n).unwrap_or_default()),
            }
        }
    }

    async fn write_output(&mut self) -> Result<(), ClientError> {
        if self.client.has_output() {
            let bytes = self.client.output();
            self.stream
                .write_all(&bytes)
                .await
                .map_err(|e| ClientError::Io(e.kind()))?;
        }
        Ok(())
    }

    /// One transaction: the queued message `data` to `recipients`. Results in order, and
    /// whether the connection broke before the server could have taken the message (then
    /// nothing was delivered and a fresh connection may try again at once).
    async fn transaction(
        &mut self,
        envelope: &Envelope,
        recipients: &[String],
        mut data: std::fs::File,
        timeout: Duration,
    ) -> Result<(Vec<Outcome>, bool), String> {
        let sender = if envelope.sender.is_empty() {
            ReversePath::Null
        } else {
            ReversePath::parse(&format!("<{}>", envelope.sender), true)
                .map(|(p, _)| p)
                .map_err(|e| format!("queued sender {:?}: {e}", envelope.sender))?
        };
        let mut paths = Vec::new();
        for r in recipients {
            let (path, _) = ForwardPath::parse(&format!("<{r}>"), true)
                .map_err(|e| format!("queued recipient {r:?}: {e}"))?;
            paths.push(EnvelopeRecipient {
                path,
                params: smtp::RcptParams::default(),
            });
        }
        let mut client_envelope = smtp::client::Envelope {
            sender,
            params: smtp::MailParams::default(),
            recipients: paths,
        };
        client_envelope.params.smtputf8 = envelope.params.smtputf8;
        client_envelope.params.body = envelope.params.body.map(|b| match b {
            queue::Body::SevenBit => smtp::Body::SevenBit,
            queue::Body::EightBitMime => smtp::Body::EightBitMime,
            queue::Body::BinaryMime => smtp::Body::BinaryMime,
        });
        self.client
            .start(client_envelope)
            .map_err(|e| format!("LMTP transaction refused: {e}"))?;
        loop {
            match self.next_event(timeout).await {
                Ok(ClientEvent::SendBody) => {
                    let mut chunk = vec![0u8; 64 * 1024];
                    loop {
                        // A queued file just written: it is in the page cache.
                        let n = data
                            .read(&mut chunk)
                            .map_err(|e| format!("read queue file: {e}"))?;
                        if n == 0 {
                            break;
                        }
                        self.client
                            .send_body(chunk.get(..n).unwrap_or_default())
                            .map_err(|e| e.to_string())?;
                        self.write_output().await.map_err(|e| e.to_string())?;
                    }
                    self.client.finish_body().map_err(|e| e.to_string())?;
                }
                Ok(ClientEvent::Delivered(results)) => {
                    let broke_early = results.iter().all(|r| match &r.status {
                        RecipientStatus::TempFailed(Failure::Connection { stage, .. }) => {
                            !matches!(stage, Stage::Body | Stage::EndOfData)
                        }
                        _ => false,
                    });
                    let outcomes = results
                        .into_iter()
                        .map(|r| match &r.status {
                            RecipientStatus::Accepted(reply) => {
                                Outcome::Delivered(reply_text(reply))
                            }
                            RecipientStatus::TempFailed(f) => Outcome::Deferred(f.to_string()),
                            RecipientStatus::PermFailed(f) => Outcome::Failed(f.to_string()),
                        })
                        .collect();
                    return Ok((outcomes, broke_early));
                }
                Ok(other) => return Err(format!("unexpected LMTP event {other:?}")),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

fn reply_text(reply: &smtp::Reply) -> String {
    String::from_utf8_lossy(&reply.to_bytes())
        .trim_end()
        .replace("\r\n", " ")
}

/// Delivers the queued message to `recipients` over LMTP; one outcome per recipient. A
/// connection problem defers them all (nothing is reported delivered without a 250).
pub async fn deliver_lmtp(
    shared: &Shared,
    config: &Config,
    envelope: &Envelope,
    recipients: &[String],
) -> Vec<Outcome> {
    let deferred = |why: String| {
        recipients
            .iter()
            .map(|_| Outcome::Deferred(format!("451 4.4.1 {why}")))
            .collect::<Vec<_>>()
    };
    let data = match block_in_place(|| shared.spool.open_data(&envelope.id)) {
        Ok(file) => file,
        Err(e) => return deferred(format!("cannot read the queued message: {e}")),
    };
    let lmtp = &config.lmtp;
    // A pooled connection the server has closed meanwhile (idle timeout, restart) fails
    // before the message is sent: then one fresh connection tries again.
    let mut pooled = shared.lmtp_pool.take();
    loop {
        let from_pool = pooled.is_some();
        let mut connection = match pooled.take() {
            Some(connection) => connection,
            None => {
                match LmtpConnection::connect(&lmtp.destination, &config.hostname, lmtp.timeout)
                    .await
                {
                    Ok(connection) => connection,
                    Err(e) => return deferred(e),
                }
            }
        };
        let data = match data.try_clone() {
            Ok(file) => file,
            Err(e) => return deferred(format!("cannot read the queued message: {e}")),
        };
        if let Err(e) = block_in_place(|| {
            let mut file = &data;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
        }) {
            return deferred(format!("cannot read the queued message: {e}"));
        }
        return match connection
            .transaction(envelope, recipients, data, lmtp.timeout)
            .await
        {
            Ok((_, true)) if from_pool => {
                tracing::debug!(queue_id = %envelope.id, "pooled LMTP connection was closed; reconnecting");
                continue;
            }
            Ok((outcomes, _)) if outcomes.len() == recipients.len() => {
                if !connection.client.is_closed() && connection.client.is_ready() {
                    shared.lmtp_pool.give_back(connection);
                }
                outcomes
            }
            Ok(_) => deferred("LMTP server gave a wrong number of replies".into()),
            Err(_) if from_pool => continue,
            Err(e) => deferred(e),
        };
    }
}
