//! One milter connection: the socket, the sans-I/O [`ClientSession`], timeouts, and what is
//! left of the milter once it said ACCEPT or failed (its default action).

use std::io;
use std::time::Duration;

use milter::{ClientEvent, ClientOptions, ClientSession, ProtocolError, ProtocolFlags, Reply};
use runtime::listen::ListenAddress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::warn;

use crate::config::{MilterDefault, MilterSettings};

use super::verdict::{MilterReply, Verdict};

/// Whether the milter still takes part in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Standing {
    /// Connected and taking part.
    Active,
    /// Out for the rest of the session: it accepted at connect/HELO, or failed with default
    /// action `accept`.
    Done,
    /// Answers every later stage of the session with this verdict, without being asked: it
    /// refused at connect/HELO, asked to disconnect, or failed with default action
    /// `tempfail`/`reject` (Postfix's `def_reply`).
    Sticky(Verdict),
}

/// Where the milter is within the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MessageState {
    /// No message: before MAIL, after end of message or ABORT.
    Idle,
    /// It got MAIL and wants the rest.
    Open,
    /// It said ACCEPT or DISCARD for this message: nothing more until the next one, but it
    /// still gets ABORT when the message ends without end-of-message.
    Accepted,
}

/// Why a milter is given its default action.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    #[error("timed out")]
    Timeout,
    #[error("closed the connection")]
    Closed,
    #[error("{0}")]
    Io(io::Error),
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Misbehaved(&'static str),
}

/// What the MTA offers: every action, every protocol flag but the chunk-size hints and
/// `SMFIP_RCPT_REJ` (the SMTP session only reports recipients it accepted).
fn client_options() -> ClientOptions {
    let mut options = ClientOptions::default();
    options.protocol -= ProtocolFlags::RCPT_REJECTED;
    options
}

enum MilterStream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl MilterStream {
    async fn connect(address: &ListenAddress) -> io::Result<Self> {
        Ok(match address {
            ListenAddress::Unix(path) => MilterStream::Unix(UnixStream::connect(path).await?),
            ListenAddress::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await?;
                // Small request/reply packets: waiting to coalesce them only adds latency.
                stream.set_nodelay(true)?;
                MilterStream::Tcp(stream)
            }
        })
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            MilterStream::Unix(s) => s.write_all(bytes).await,
            MilterStream::Tcp(s) => s.write_all(bytes).await,
        }
    }

    async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            MilterStream::Unix(s) => s.read(buffer).await,
            MilterStream::Tcp(s) => s.read(buffer).await,
        }
    }
}

impl std::fmt::Debug for MilterStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MilterStream::Unix(_) => "MilterStream::Unix",
            MilterStream::Tcp(_) => "MilterStream::Tcp",
        })
    }
}

/// One configured milter within one SMTP session.
#[derive(Debug)]
pub(super) struct MilterConn {
    pub settings: MilterSettings,
    stream: Option<MilterStream>,
    pub session: ClientSession,
    buffer: Vec<u8>,
    pub standing: Standing,
    pub message: MessageState,
}

impl MilterConn {
    /// Connects and negotiates; a milter that cannot be reached or does not negotiate gets
    /// its default action straight away.
    pub async fn open(settings: &MilterSettings) -> MilterConn {
        let mut conn = MilterConn {
            settings: settings.clone(),
            stream: None,
            session: ClientSession::new(client_options()),
            buffer: vec![0; 16 * 1024],
            standing: Standing::Active,
            message: MessageState::Idle,
        };
        let connected = timeout(
            settings.connect_timeout,
            MilterStream::connect(&settings.socket),
        )
        .await;
        match connected {
            Ok(Ok(stream)) => conn.stream = Some(stream),
            Ok(Err(error)) => {
                conn.fail("connect", Failure::Connect(error));
                return conn;
            }
            Err(_) => {
                conn.fail("connect", Failure::Timeout);
                return conn;
            }
        }
        if let Err(failure) = conn.negotiate().await {
            conn.fail("negotiate", failure);
        }
        conn
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn is_active(&self) -> bool {
        self.standing == Standing::Active
    }

    /// Active and within the current message.
    pub fn in_message(&self) -> bool {
        self.is_active() && self.message == MessageState::Open
    }

    async fn negotiate(&mut self) -> Result<(), Failure> {
        self.session.optneg();
        let limit = self.settings.command_timeout;
        self.flush(limit).await?;
        let deadline = Instant::now() + limit;
        loop {
            match self.session.next_reply()? {
                Some(ClientEvent::Negotiated(_)) => return Ok(()),
                Some(ClientEvent::Reply(_)) => {
                    return Err(Failure::Misbehaved("reply before negotiation"));
                }
                None => self.read(deadline).await?,
            }
        }
    }

    /// Writes what the session queued.
    pub async fn flush(&mut self, limit: Duration) -> Result<(), Failure> {
        let bytes = self.session.output();
        if bytes.is_empty() {
            return Ok(());
        }
        let stream = self.stream.as_mut().ok_or(Failure::Closed)?;
        match timeout(limit, stream.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Failure::Io(error)),
            Err(_) => Err(Failure::Timeout),
        }
    }

    async fn read(&mut self, deadline: Instant) -> Result<(), Failure> {
        let stream = self.stream.as_mut().ok_or(Failure::Closed)?;
        match timeout_at(deadline, stream.read(&mut self.buffer)).await {
            Ok(Ok(0)) => Err(Failure::Closed),
            Ok(Ok(n)) => {
                self.session
                    .receive(self.buffer.get(..n).unwrap_or_default());
                Ok(())
            }
            Ok(Err(error)) => Err(Failure::Io(error)),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// The next reply, modifications and QUARANTINE included. PROGRESS restarts the clock,
    /// as libmilter's `smfi_progress` promises.
    pub async fn next_reply(&mut self, limit: Duration) -> Result<Reply, Failure> {
        let mut deadline = Instant::now() + limit;
        loop {
            match self.session.next_reply()? {
                Some(ClientEvent::Reply(Reply::Progress)) => deadline = Instant::now() + limit,
                Some(ClientEvent::Reply(reply)) => return Ok(reply),
                Some(ClientEvent::Negotiated(_)) => {
                    return Err(Failure::Misbehaved("second negotiation"));
                }
                None => self.read(deadline).await?,
            }
        }
    }

    /// Sends what the session queued for `step` and waits for the final reply, if the milter
    /// answers this step at all. A QUARANTINE on the way is handed to `quarantine`.
    pub async fn command(
        &mut self,
        limit: Duration,
        quarantine: &mut Option<String>,
    ) -> Result<Option<Reply>, Failure> {
        self.flush(limit).await?;
        if self.session.awaiting().is_none() {
            return Ok(None);
        }
        loop {
            match self.next_reply(limit).await? {
                Reply::Quarantine(reason) => {
                    if quarantine.is_none() {
                        *quarantine = Some(String::from_utf8_lossy(&reason).into_owned());
                    }
                }
                reply if reply.is_final() => return Ok(Some(reply)),
                _ => return Err(Failure::Misbehaved("modification outside end of message")),
            }
        }
    }

    /// Gives the milter its default action after `failure` at `stage`: logged with its name,
    /// the connection closed. Returns what this milter says for the stage.
    pub fn fail(&mut self, stage: &'static str, failure: Failure) -> Verdict {
        let action = self.settings.default_action;
        warn!(
            milter = %self.settings.name,
            stage,
            error = %failure,
            default_action = action_name(action),
            "milter failed"
        );
        self.stream = None;
        self.message = MessageState::Idle;
        match action {
            MilterDefault::Accept => {
                self.standing = Standing::Done;
                Verdict::Continue
            }
            MilterDefault::TempFail => self.stick(Verdict::TempFail(MilterReply::tempfail())),
            MilterDefault::Reject => self.stick(Verdict::Reject(MilterReply::reject())),
        }
    }

    /// Makes `verdict` this milter's answer for the rest of the session.
    pub fn stick(&mut self, verdict: Verdict) -> Verdict {
        self.standing = Standing::Sticky(verdict.clone());
        verdict
    }

    /// Sends ABORT if the milter is within a message (even one it accepted), as Postfix does
    /// at RSET and at the end of a transaction that did not reach end of message.
    pub async fn abort(&mut self) {
        let within = self.message != MessageState::Idle;
        self.message = MessageState::Idle;
        if !within || self.standing != Standing::Active {
            return;
        }
        self.session.abort();
        if let Err(failure) = self.flush(self.settings.command_timeout).await {
            self.fail("abort", failure);
        }
    }

    /// Sends QUIT and closes the connection.
    pub async fn quit(&mut self) {
        if self.stream.is_some() {
            self.session.quit();
            // Nothing is owed to a milter that does not take its QUIT.
            let _ = self.flush(self.settings.command_timeout).await;
        }
        self.stream = None;
        self.message = MessageState::Idle;
        if self.standing == Standing::Active {
            self.standing = Standing::Done;
        }
    }
}

fn action_name(action: MilterDefault) -> &'static str {
    match action {
        MilterDefault::Accept => "accept",
        MilterDefault::TempFail => "tempfail",
        MilterDefault::Reject => "reject",
    }
}
