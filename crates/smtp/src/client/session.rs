//! [`ClientSession`]: one client connection from greeting to QUIT, sans-I/O. It sends the
//! greeting commands, STARTTLS, RSET and QUIT, matches every reply to the command it answers
//! (replies come in command order, which is what makes pipelining work), and hands the
//! transaction replies to `transaction.rs`.

use std::collections::VecDeque;

use super::capabilities::Capabilities;
use super::error::{ClientError, ProtocolError, Stage, UsageError};
use super::outcome::{Failure, RecipientResult, RecipientStatus};
use super::reply::{DEFAULT_MAX_LINE, DEFAULT_MAX_LINES, ReplyParser};
use super::transaction::Transaction;
use crate::command::HelloVerb;
use crate::reply::Reply;
use crate::settings::Mode;

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// SMTP (EHLO, one final reply) or LMTP (LHLO, one final reply per accepted recipient).
    pub mode: Mode,
    /// Our name in EHLO/LHLO/HELO. Control characters and spaces are sent as `?`.
    pub hostname: String,
    /// Longest reply line accepted, line end included.
    pub max_line_length: usize,
    /// Most lines in one reply.
    pub max_reply_lines: usize,
    /// Pipeline MAIL, RCPT and DATA (RFC 2920) when the server offers PIPELINING.
    pub pipelining: bool,
    /// Send the message with BDAT (RFC 3030) when the server offers CHUNKING and PIPELINING.
    /// `BODY=BINARYMIME` always uses BDAT.
    pub chunking: bool,
    /// Smallest BDAT chunk (each chunk costs a reply).
    pub bdat_chunk_size: usize,
}

impl ClientSettings {
    /// SMTP with pipelining, DATA rather than BDAT.
    pub fn smtp(hostname: impl Into<String>) -> Self {
        Self {
            mode: Mode::Smtp,
            hostname: hostname.into(),
            max_line_length: DEFAULT_MAX_LINE,
            max_reply_lines: DEFAULT_MAX_LINES,
            pipelining: true,
            chunking: false,
            bdat_chunk_size: 64 * 1024,
        }
    }

    /// LMTP, otherwise as [`smtp`](Self::smtp).
    pub fn lmtp(hostname: impl Into<String>) -> Self {
        Self {
            mode: Mode::Lmtp,
            ..Self::smtp(hostname)
        }
    }
}

/// What the caller has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Greeting and EHLO/LHLO (again after STARTTLS) are done, or a [`reset`] was answered:
    /// [`capabilities`] are known; [`start`] a transaction, [`start_tls`] or [`quit`].
    ///
    /// [`reset`]: ClientSession::reset
    /// [`capabilities`]: ClientSession::capabilities
    /// [`start`]: ClientSession::start
    /// [`start_tls`]: ClientSession::start_tls
    /// [`quit`]: ClientSession::quit
    Ready,
    /// STARTTLS was answered 220: write any output, run the TLS handshake on the connection,
    /// then call [`ClientSession::tls_established`].
    TlsReady,
    /// STARTTLS was refused; the session is idle in plaintext. Going on is the caller's
    /// policy decision.
    TlsRefused(Reply),
    /// The server will take the message: stream it with [`ClientSession::send_body`], then
    /// [`ClientSession::finish_body`].
    SendBody,
    /// The transaction is over, one result per recipient in envelope order. The session is
    /// ready for the next transaction (the server's transaction state has been reset).
    Delivered(Vec<RecipientResult>),
    /// QUIT was answered: close the connection.
    Closed,
}

/// What a reply in flight answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Greeting,
    Hello(HelloVerb),
    StartTls,
    Mail,
    Rcpt(usize),
    Data,
    /// The `.` sent after a 354 that came although no recipient was accepted (RFC 2920 3.1).
    LoneDot,
    /// A BDAT chunk before the last.
    BdatChunk,
    /// One final reply: the `.` or BDAT LAST (one per accepted recipient in LMTP).
    EndOfData,
    Rset,
    Quit,
}

impl Expect {
    pub(super) fn stage(self) -> Stage {
        match self {
            Self::Greeting => Stage::Greeting,
            Self::Hello(_) => Stage::Hello,
            Self::StartTls => Stage::StartTls,
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data => Stage::Data,
            Self::BdatChunk => Stage::Body,
            Self::LoneDot | Self::EndOfData => Stage::EndOfData,
            Self::Rset => Stage::Reset,
            Self::Quit => Stage::Quit,
        }
    }

    pub(super) fn in_transaction(self) -> bool {
        matches!(
            self,
            Self::Mail
                | Self::Rcpt(_)
                | Self::Data
                | Self::LoneDot
                | Self::BdatChunk
                | Self::EndOfData
        )
    }

    /// The class of a positive reply (2 or 3); `None` when any reply will do.
    fn positive_class(self) -> Option<u16> {
        match self {
            Self::Data => Some(3),
            Self::LoneDot | Self::Quit => None,
            _ => Some(2),
        }
    }
}

#[derive(Debug)]
pub(super) enum Phase {
    Greeting,
    Hello,
    Idle,
    StartTls,
    /// Between the 220 to STARTTLS and [`ClientSession::tls_established`].
    TlsHandshake,
    /// The caller's RSET.
    Resetting,
    Transaction(Box<Transaction>),
    Quitting,
    Closed,
}

/// The client side of one SMTP or LMTP connection, without I/O.
///
/// Loop: take [`ClientEvent`]s from [`next_event`](Self::next_event) and act on them; write
/// [`output`](Self::output) to the server (handling a reply may have queued the next command,
/// so write before waiting); when it returns `Ok(None)`, read and [`receive`](Self::receive)
/// what the server sent. An `Err` means the connection is finished;
/// the results of a transaction it interrupted come out first as
/// [`ClientEvent::Delivered`], with the undecided recipients temporarily failed.
#[derive(Debug)]
pub struct ClientSession {
    pub(super) settings: ClientSettings,
    replies: ReplyParser,
    pub(super) output: Vec<u8>,
    pub(super) phase: Phase,
    /// Commands sent and not yet answered, oldest first.
    pub(super) in_flight: VecDeque<Expect>,
    pub(super) events: VecDeque<ClientEvent>,
    failed: Option<ClientError>,
    pub(super) capabilities: Option<Capabilities>,
    greeting: Option<Reply>,
    tls: bool,
    /// QUIT goes out as soon as the transaction in progress allows.
    pub(super) quit_requested: bool,
}

impl ClientSession {
    /// A session waiting for the server's greeting.
    pub fn new(settings: ClientSettings) -> Self {
        Self {
            replies: ReplyParser::new(settings.max_line_length, settings.max_reply_lines),
            settings,
            output: Vec::new(),
            phase: Phase::Greeting,
            in_flight: VecDeque::from([Expect::Greeting]),
            events: VecDeque::new(),
            failed: None,
            capabilities: None,
            greeting: None,
            tls: false,
            quit_requested: false,
        }
    }

    /// Marks the connection as encrypted from the start (implicit TLS): no STARTTLS.
    pub fn set_tls_active(&mut self) {
        self.tls = true;
    }

    /// Appends bytes received from the server. Ignored during the TLS handshake (they would
    /// be plaintext) and once the session is over.
    pub fn receive(&mut self, bytes: &[u8]) {
        let listening = !matches!(self.phase, Phase::TlsHandshake | Phase::Closed);
        if listening && self.failed.is_none() {
            self.replies.push(bytes);
        }
    }

    /// The next event; `Ok(None)` when more input is needed (or nothing is expected). After
    /// an `Err`, every call returns the same error.
    pub fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            if let Some(error) = &self.failed {
                return Err(error.clone());
            }
            if matches!(self.phase, Phase::TlsHandshake | Phase::Closed) {
                return Ok(None);
            }
            match self.replies.next_reply() {
                Ok(Some(reply)) => self.on_reply(reply),
                Ok(None) => return Ok(None),
                Err(error) => self.fail(error.into()),
            }
        }
    }

    /// Takes the bytes to write to the server.
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether there are bytes to write.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Asks for TLS (RFC 3207). Only when idle and not yet encrypted.
    pub fn start_tls(&mut self) -> Result<(), UsageError> {
        if !self.is_ready() || self.tls {
            return Err(UsageError::NotReady);
        }
        self.send(b"STARTTLS\r\n", Expect::StartTls);
        self.phase = Phase::StartTls;
        Ok(())
    }

    /// The TLS handshake after [`ClientEvent::TlsReady`] succeeded: everything learnt before
    /// is forgotten and EHLO/LHLO is sent again; [`ClientEvent::Ready`] follows.
    pub fn tls_established(&mut self) -> Result<(), UsageError> {
        if !matches!(self.phase, Phase::TlsHandshake) {
            return Err(UsageError::NotReady);
        }
        self.tls = true;
        self.capabilities = None;
        self.replies.clear();
        self.send_hello(self.first_hello_verb());
        Ok(())
    }

    /// Sends RSET, e.g. to check that a pooled connection still works before using it
    /// again; [`ClientEvent::Ready`] follows. Only when idle.
    pub fn reset(&mut self) -> Result<(), UsageError> {
        if !self.is_ready() {
            return Err(UsageError::NotReady);
        }
        self.send(b"RSET\r\n", Expect::Rset);
        self.phase = Phase::Resetting;
        Ok(())
    }

    /// Sends QUIT; [`ClientEvent::Closed`] follows. Possible when idle, and after
    /// [`finish_body`](Self::finish_body): with PIPELINING the QUIT then goes out right
    /// behind the message (RFC 2920's example), otherwise after its final replies.
    pub fn quit(&mut self) -> Result<(), UsageError> {
        if self.is_ready() {
            self.send(b"QUIT\r\n", Expect::Quit);
            self.phase = Phase::Quitting;
            return Ok(());
        }
        let Phase::Transaction(transaction) = &self.phase else {
            return Err(UsageError::NotReady);
        };
        if !transaction.body_sent() || self.quit_requested {
            return Err(UsageError::NotReady);
        }
        self.quit_requested = true;
        if transaction.pipelined {
            self.send(b"QUIT\r\n", Expect::Quit);
        }
        Ok(())
    }

    /// The caller saw the connection end (EOF, I/O error, timeout). A transaction in progress
    /// ends with its undecided recipients temporarily failed; then `next_event` returns
    /// `error`. After QUIT was answered this does nothing.
    pub fn connection_lost(&mut self, error: ClientError) {
        if !matches!(self.phase, Phase::Closed) {
            self.fail(error);
        }
    }

    /// What the server offers; `None` until EHLO/LHLO is answered.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// The server's greeting.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// Whether a transaction (or STARTTLS, RSET, QUIT) may start now.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Idle) && self.in_flight.is_empty() && self.failed.is_none()
    }

    /// Whether the session is over (QUIT answered, or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Received bytes not yet parsed.
    pub fn buffered(&self) -> usize {
        self.replies.buffered()
    }

    /// The settings in force.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    // --- internals ---------------------------------------------------------------------------

    pub(super) fn send(&mut self, line: &[u8], expect: Expect) {
        self.output.extend_from_slice(line);
        self.in_flight.push_back(expect);
    }

    fn first_hello_verb(&self) -> HelloVerb {
        match self.settings.mode {
            Mode::Smtp => HelloVerb::Ehlo,
            Mode::Lmtp => HelloVerb::Lhlo,
        }
    }

    fn send_hello(&mut self, verb: HelloVerb) {
        let command = match verb {
            HelloVerb::Helo => "HELO",
            HelloVerb::Ehlo => "EHLO",
            HelloVerb::Lhlo => "LHLO",
        };
        let name: String = self
            .settings
            .hostname
            .chars()
            .map(|c| if c.is_control() || c == ' ' { '?' } else { c })
            .collect();
        self.send(
            format!("{command} {name}\r\n").as_bytes(),
            Expect::Hello(verb),
        );
        self.phase = Phase::Hello;
    }

    fn on_reply(&mut self, reply: Reply) {
        let Some(expect) = self.in_flight.pop_front() else {
            let error = if reply.code == 421 {
                ClientError::Closing(reply)
            } else {
                ProtocolError::Unsolicited { code: reply.code }.into()
            };
            self.fail(error);
            return;
        };
        let class = reply.code / 100;
        if let Some(positive) = expect.positive_class()
            && (class == 2 || class == 3)
            && class != positive
        {
            self.in_flight.push_front(expect);
            let stage = expect.stage();
            self.fail(
                ProtocolError::Unexpected {
                    stage,
                    code: reply.code,
                }
                .into(),
            );
            return;
        }
        // 421 may answer any command (RFC 5321 3.8): the server is going away.
        if reply.code == 421 && expect != Expect::Quit {
            let failure = Failure::Reply {
                stage: expect.stage(),
                reply: reply.clone(),
            };
            self.abandon(
                RecipientStatus::TempFailed(failure),
                ClientError::Closing(reply),
            );
            return;
        }
        match expect {
            Expect::Greeting if reply.is_success() => {
                self.greeting = Some(reply);
                self.send_hello(self.first_hello_verb());
            }
            Expect::Greeting => self.reject(Stage::Greeting, reply),
            Expect::Hello(verb) if reply.is_success() => {
                self.capabilities = Some(if verb == HelloVerb::Helo {
                    // No extensions after HELO; the name is all there is.
                    let name = Reply::new(reply.code, None, reply.text.join(" "));
                    Capabilities {
                        hostname: Capabilities::from_ehlo(&name).hostname,
                        ..Capabilities::default()
                    }
                } else {
                    Capabilities::from_ehlo(&reply)
                });
                self.phase = Phase::Idle;
                self.events.push_back(ClientEvent::Ready);
            }
            // RFC 5321 3.2: a server that does not know EHLO still knows HELO.
            Expect::Hello(HelloVerb::Ehlo) if reply.is_permanent() => {
                self.send_hello(HelloVerb::Helo);
            }
            Expect::Hello(_) => self.reject(Stage::Hello, reply),
            Expect::StartTls if reply.is_success() => {
                // Anything behind the 220 came in plaintext and must not be read as if it
                // were protected (the client side of CVE-2011-0411).
                self.replies.clear();
                self.phase = Phase::TlsHandshake;
                self.events.push_back(ClientEvent::TlsReady);
            }
            Expect::StartTls => {
                self.phase = Phase::Idle;
                self.events.push_back(ClientEvent::TlsRefused(reply));
            }
            Expect::Rset if matches!(self.phase, Phase::Transaction(_)) => {
                self.complete_transaction();
                if !reply.is_success() {
                    self.reject(Stage::Reset, reply);
                }
            }
            Expect::Rset if reply.is_success() => {
                self.phase = Phase::Idle;
                self.events.push_back(ClientEvent::Ready);
            }
            Expect::Rset => self.reject(Stage::Reset, reply),
            Expect::Quit => {
                self.phase = Phase::Closed;
                self.in_flight.clear();
                self.replies.clear();
                self.events.push_back(ClientEvent::Closed);
            }
            Expect::Mail
            | Expect::Rcpt(_)
            | Expect::Data
            | Expect::LoneDot
            | Expect::BdatChunk
            | Expect::EndOfData => self.on_transaction_reply(expect, reply),
        }
    }

    fn reject(&mut self, stage: Stage, reply: Reply) {
        self.fail(ClientError::Rejected { stage, reply });
    }

    /// Ends the connection; recipients still undecided are temporarily failed.
    pub(super) fn fail(&mut self, error: ClientError) {
        let stage = self.current_stage();
        let failure = Failure::Connection {
            stage,
            error: error.clone(),
        };
        self.abandon(RecipientStatus::TempFailed(failure), error);
    }

    /// Ends the connection with `error`, giving `undecided` to recipients still open.
    fn abandon(&mut self, undecided: RecipientStatus, error: ClientError) {
        if self.failed.is_some() {
            return;
        }
        if let Phase::Transaction(transaction) = std::mem::replace(&mut self.phase, Phase::Closed) {
            let results = transaction.into_results(&undecided);
            self.events.push_back(ClientEvent::Delivered(results));
        }
        self.in_flight.clear();
        self.replies.clear();
        self.failed = Some(error);
    }

    fn current_stage(&self) -> Stage {
        if let Some(expect) = self.in_flight.front() {
            return expect.stage();
        }
        match &self.phase {
            Phase::Greeting => Stage::Greeting,
            Phase::Hello => Stage::Hello,
            Phase::StartTls | Phase::TlsHandshake => Stage::StartTls,
            Phase::Transaction(transaction) => transaction.idle_stage(),
            Phase::Quitting => Stage::Quit,
            // Nothing in progress: no recipient will carry this stage.
            Phase::Idle | Phase::Resetting | Phase::Closed => Stage::Reset,
        }
    }
}
