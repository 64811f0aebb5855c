//! The server session: the state machine from greeting to QUIT. It frames and parses
//! commands, enforces sequence and limits, streams message bodies, and hands the policy
//! decisions (HELO, MAIL, RCPT, end of data, ...) to the caller as [`Event`]s.

mod body;

use crate::address::{ForwardPath, PathFlags, ReversePath};
use crate::command::{self, Command, Context, HelloVerb};
use crate::data::DotDecoder;
use crate::error::ReplyError;
use crate::event::{Event, Recipient};
use crate::line::{Input, Line, LineFramer};
use crate::params::{MailParams, Offered, RcptParams};
use crate::reply::Reply;
use crate::secret::Secret;
use crate::settings::{Mode, Settings};

/// What the session reads next.
#[derive(Debug)]
enum Phase {
    Command,
    AuthResponse,
    Data(DotDecoder),
    Chunk {
        remaining: u64,
        size: u64,
        last: bool,
        deliver: bool,
    },
    Closed,
}

/// The event waiting for the caller's reply, with what a 2xx would commit.
#[derive(Debug)]
enum Awaiting {
    Hello(HelloVerb),
    Mail(Box<Transaction>),
    Rcpt(Recipient),
    DataEnd,
    Vrfy,
    StartTls,
    Auth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyCommand {
    Data,
    Bdat,
}

/// One MAIL transaction.
#[derive(Debug)]
struct Transaction {
    sender: ReversePath,
    params: MailParams,
    recipients: Vec<Recipient>,
    body: Option<BodyCommand>,
    size: u64,
    oversize: bool,
    bare_line_end: bool,
}

/// A server-side SMTP or LMTP session over one connection, without I/O.
///
/// Loop: [`receive`](Self::receive) bytes, call [`next_event`](Self::next_event) until it
/// returns `None`, answering each event that [`needs_reply`](Event::needs_reply), then write
/// [`output`](Self::output) to the peer. Replies come out in command order, so pipelined
/// commands work without more effort.
#[derive(Debug)]
pub struct ServerSession {
    settings: Settings,
    input: Input,
    framer: LineFramer,
    output: Vec<u8>,
    phase: Phase,
    awaiting: Option<Awaiting>,
    hello: Option<HelloVerb>,
    transaction: Option<Transaction>,
    /// Data has ended; the closing event comes next.
    finishing: bool,
    tls: bool,
    authenticated: bool,
    errors: u32,
}

impl ServerSession {
    /// A session that has sent nothing yet; call [`greet`](Self::greet) first.
    pub fn new(settings: Settings) -> Self {
        Self {
            framer: LineFramer::new(settings.line_limit(), settings.bare_lf_in_commands),
            settings,
            input: Input::default(),
            output: Vec::new(),
            phase: Phase::Command,
            awaiting: None,
            hello: None,
            transaction: None,
            finishing: false,
            tls: false,
            authenticated: false,
            errors: 0,
        }
    }

    /// Queues the 220 greeting.
    pub fn greet(&mut self) {
        let greeting = Reply::greeting(&self.settings.hostname, self.settings.mode);
        self.send(&greeting);
    }

    /// Marks the connection as encrypted from the start (implicit TLS, port 465).
    pub fn set_tls_active(&mut self) {
        self.tls = true;
    }

    /// Appends bytes received from the client (ignored once closed).
    pub fn receive(&mut self, bytes: &[u8]) {
        if !matches!(self.phase, Phase::Closed) {
            self.input.push(bytes);
        }
    }

    /// The next event, or `None` when more input is needed, a reply is awaited, or the
    /// session is closed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.awaiting.is_some() {
                return None;
            }
            if std::mem::take(&mut self.finishing) {
                return Some(self.finish_message());
            }
            let event = match self.phase {
                Phase::Closed => return None,
                Phase::Command => {
                    let line = self.framer.next_line(&mut self.input)?;
                    self.on_line(line)
                }
                Phase::AuthResponse => {
                    let line = self.framer.next_line(&mut self.input)?;
                    Some(self.on_auth_line(line))
                }
                Phase::Data(_) => {
                    if self.input.len() == 0 {
                        return None;
                    }
                    self.step_data()
                }
                Phase::Chunk { .. } => self.step_chunk()?,
            };
            if event.is_some() {
                return event;
            }
        }
    }

    /// Answers the awaited event with its default positive reply: the EHLO capabilities,
    /// 250 for MAIL/RCPT/end of data (once per recipient in LMTP), 252 for VRFY, 220 for
    /// STARTTLS, 235 for AUTH.
    pub fn accept(&mut self) -> Result<(), ReplyError> {
        let reply = match self.awaiting.as_ref().ok_or(ReplyError::NothingPending)? {
            Awaiting::Hello(HelloVerb::Helo) => Reply::helo(&self.settings.hostname),
            Awaiting::Hello(_) => Reply::ehlo(
                &self.settings.hostname,
                self.settings.capabilities(self.tls),
            ),
            Awaiting::Mail(_) => Reply::sender_ok(),
            Awaiting::Rcpt(_) => Reply::recipient_ok(),
            Awaiting::DataEnd => match self.settings.mode {
                Mode::Smtp => Reply::ok_message(),
                Mode::Lmtp => Reply::ok_delivered(),
            },
            Awaiting::Vrfy => Reply::cannot_vrfy(),
            Awaiting::StartTls => Reply::starttls_ready(),
            Awaiting::Auth => Reply::auth_ok(),
        };
        self.reply(reply)
    }

    /// Answers the awaited event. A 2xx commits it (greeting, sender, recipient, TLS, AUTH);
    /// anything else refuses it. At the LMTP end of data the reply is sent once per recipient.
    pub fn reply(&mut self, reply: Reply) -> Result<(), ReplyError> {
        let awaiting = self.awaiting.take().ok_or(ReplyError::NothingPending)?;
        let success = reply.is_success();
        match awaiting {
            Awaiting::DataEnd => {
                for _ in 0..self.end_of_data_replies() {
                    self.send(&reply);
                }
                self.transaction = None;
                return Ok(());
            }
            Awaiting::Hello(verb) if success => self.hello = Some(verb),
            Awaiting::Mail(transaction) if success => self.transaction = Some(*transaction),
            Awaiting::Rcpt(recipient) if success => {
                if let Some(transaction) = &mut self.transaction {
                    transaction.recipients.push(recipient);
                }
            }
            Awaiting::StartTls if success => {
                // Whatever followed STARTTLS was sent in plaintext: drop it (CVE-2011-0411).
                self.input.clear();
                self.framer = LineFramer::new(
                    self.settings.line_limit(),
                    self.settings.bare_lf_in_commands,
                );
                self.tls = true;
                self.hello = None;
                self.transaction = None;
                self.authenticated = false;
            }
            Awaiting::Auth if reply.code == 334 => self.phase = Phase::AuthResponse,
            Awaiting::Auth if success => self.authenticated = true,
            _ => {}
        }
        self.send(&reply);
        Ok(())
    }

    /// LMTP end of data: one reply per accepted recipient, in RCPT order (RFC 2033 4.2). In
    /// SMTP exactly one reply.
    pub fn reply_per_recipient(&mut self, replies: Vec<Reply>) -> Result<(), ReplyError> {
        match self.awaiting {
            Some(Awaiting::DataEnd) => {}
            Some(_) => return Err(ReplyError::NotAtDataEnd),
            None => return Err(ReplyError::NothingPending),
        }
        let expected = self.end_of_data_replies();
        if replies.len() != expected {
            return Err(ReplyError::WrongCount {
                expected,
                given: replies.len(),
            });
        }
        self.awaiting = None;
        for reply in &replies {
            self.send(reply);
        }
        self.transaction = None;
        Ok(())
    }

    /// Queues 421 4.3.2 and closes (server shutdown).
    pub fn shutdown(&mut self) {
        self.send(&Reply::service_closing());
        self.close();
    }

    /// Takes the bytes to write to the client.
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether there are bytes to write.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Whether the session is over (after QUIT, 421, or too many errors): write the output,
    /// then close the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether an event waits for a reply.
    pub fn awaiting_reply(&self) -> bool {
        self.awaiting.is_some()
    }

    /// Input bytes held (for back-pressure: stop reading while a reply is awaited).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Whether a DATA body (not BDAT chunks) is being received. With [`buffered`](Self::buffered)
    /// at [`Event::DataStart`] it tells a client that sent its message before the 354
    /// (RFC 2920 forbids that; Postfix's `smtpd_forbid_unauth_pipelining`).
    pub fn receiving_data(&self) -> bool {
        matches!(self.phase, Phase::Data(_))
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The accepted greeting verb, if any.
    pub fn hello(&self) -> Option<HelloVerb> {
        self.hello
    }

    /// The sender of the open transaction.
    pub fn sender(&self) -> Option<&ReversePath> {
        self.transaction.as_ref().map(|t| &t.sender)
    }

    /// The MAIL parameters of the open transaction.
    pub fn mail_params(&self) -> Option<&MailParams> {
        self.transaction.as_ref().map(|t| &t.params)
    }

    /// Recipients accepted in the open transaction, in order.
    pub fn recipients(&self) -> &[Recipient] {
        self.transaction
            .as_ref()
            .map_or(&[], |t| t.recipients.as_slice())
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Protocol errors so far.
    pub fn error_count(&self) -> u32 {
        self.errors
    }

    // --- internals ---------------------------------------------------------------------------

    fn send(&mut self, reply: &Reply) {
        let enhanced = self.settings.extensions.enhanced_status_codes;
        reply.encode_with(enhanced, &mut self.output);
    }

    /// Replies to a protocol error, closing after too many.
    fn fail(&mut self, reply: &Reply) {
        self.send(reply);
        self.errors = self.errors.saturating_add(1);
        if self.settings.max_errors > 0 && self.errors >= self.settings.max_errors {
            self.send(&Reply::too_many_errors());
            self.close();
        }
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.awaiting = None;
        self.finishing = false;
        self.input.clear();
    }

    fn end_of_data_replies(&self) -> usize {
        match self.settings.mode {
            Mode::Smtp => 1,
            Mode::Lmtp => self.recipients().len().max(1),
        }
    }

    fn on_line(&mut self, line: Line) -> Option<Event> {
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong => {
                self.fail(&Reply::line_too_long());
                return None;
            }
            Line::BareLineEnd => {
                self.fail(&Reply::bare_line_end());
                return None;
            }
        };
        let context = Context {
            // Before the greeting, parse as ESMTP so that MAIL gets 503, not 555.
            offered: Offered::new(
                &self.settings,
                self.hello.is_none_or(HelloVerb::is_extended),
                self.tls,
            ),
            utf8_recipients: self.transaction.as_ref().is_some_and(|t| t.params.smtputf8),
            allow_space_after_colon: self.settings.allow_space_after_colon,
        };
        match command::parse(&bytes, &context) {
            Ok(command) => self.dispatch(command),
            Err(error) => {
                self.fail(&error.reply());
                None
            }
        }
    }

    fn dispatch(&mut self, command: Command) -> Option<Event> {
        match command {
            Command::Hello { verb, host } => {
                let valid = match self.settings.mode {
                    Mode::Smtp => verb != HelloVerb::Lhlo,
                    Mode::Lmtp => verb == HelloVerb::Lhlo,
                };
                if !valid {
                    self.fail(&Reply::unrecognized_command());
                    return None;
                }
                self.transaction = None;
                self.awaiting = Some(Awaiting::Hello(verb));
                Some(Event::Hello { verb, host })
            }
            Command::Mail {
                from,
                flags,
                params,
            } => self.mail(from, flags, params),
            Command::Rcpt { to, flags, params } => self.rcpt(to, flags, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.transaction = None;
                self.send(&Reply::ok());
                Some(Event::Reset)
            }
            Command::Noop => {
                self.send(&Reply::ok());
                None
            }
            Command::Help => {
                self.send(&Reply::help());
                None
            }
            Command::Quit => {
                self.send(&Reply::goodbye());
                self.close();
                Some(Event::Quit)
            }
            Command::Vrfy(text) => {
                self.awaiting = Some(Awaiting::Vrfy);
                Some(Event::Vrfy(text))
            }
            Command::StartTls => {
                if !self.settings.extensions.starttls {
                    self.fail(&Reply::not_implemented());
                    None
                } else if self.tls {
                    self.fail(&Reply::bad_sequence());
                    None
                } else {
                    self.awaiting = Some(Awaiting::StartTls);
                    Some(Event::StartTls)
                }
            }
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial),
        }
    }

    fn mail(&mut self, from: ReversePath, flags: PathFlags, params: MailParams) -> Option<Event> {
        if self.hello.is_none() {
            self.fail(&Reply::need_hello(self.settings.mode));
        } else if self.transaction.is_some() {
            self.fail(&Reply::nested_mail());
        } else if params
            .size
            .zip(self.settings.max_message_size)
            .is_some_and(|(size, limit)| size > limit)
        {
            self.send(&Reply::size_exceeded());
        } else {
            self.awaiting = Some(Awaiting::Mail(Box::new(Transaction {
                sender: from.clone(),
                params: params.clone(),
                recipients: Vec::new(),
                body: None,
                size: 0,
                oversize: false,
                bare_line_end: false,
            })));
            return Some(Event::Mail {
                from,
                flags,
                params,
            });
        }
        None
    }

    fn rcpt(&mut self, to: ForwardPath, flags: PathFlags, params: RcptParams) -> Option<Event> {
        let Some(transaction) = &self.transaction else {
            self.fail(&Reply::need_mail());
            return None;
        };
        if transaction.recipients.len() >= self.settings.max_recipients {
            self.send(&Reply::too_many_recipients());
            return None;
        }
        self.awaiting = Some(Awaiting::Rcpt(Recipient {
            path: to.clone(),
            flags,
            params: params.clone(),
        }));
        Some(Event::Rcpt { to, flags, params })
    }

    fn auth(&mut self, mechanism: String, initial: Option<Secret>) -> Option<Event> {
        let settings = &self.settings;
        let refusal = if !settings.auth_offered(self.tls) {
            if settings.auth_mechanisms.is_empty() {
                Reply::not_implemented()
            } else {
                Reply::encryption_required()
            }
        } else if self.hello.is_none() {
            Reply::need_hello(settings.mode)
        } else if self.authenticated {
            Reply::already_authenticated()
        } else if self.transaction.is_some() {
            Reply::bad_sequence()
        } else if !settings.auth_mechanisms.contains(&mechanism) {
            Reply::auth_mechanism_unknown()
        } else {
            self.awaiting = Some(Awaiting::Auth);
            return Some(Event::Auth { mechanism, initial });
        };
        self.fail(&refusal);
        None
    }

    fn on_auth_line(&mut self, line: Line) -> Event {
        self.phase = Phase::Command;
        match line {
            Line::Complete(bytes) if bytes == b"*" => self.send(&Reply::auth_cancelled()),
            Line::Complete(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    self.awaiting = Some(Awaiting::Auth);
                    return Event::AuthResponse(Secret::new(text));
                }
                Err(_) => self.fail(&Reply::invalid_line()),
            },
            Line::TooLong => self.fail(&Reply::line_too_long()),
            Line::BareLineEnd => self.fail(&Reply::bare_line_end()),
        }
        Event::AuthCancelled
    }
}
