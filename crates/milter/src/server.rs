//! The filter side of a milter connection: decode the MTA's commands into [`Event`]s, answer
//! option negotiation, keep the macros, and encode the filter's replies.

use std::net::SocketAddr;

use crate::command::Command;
use crate::frame::{DEFAULT_MAX_FRAME, FrameReader};
use crate::macros::MacroStore;
use crate::options::{self, Actions, OptNeg, ProtocolFlags, Stage};
use crate::reply::Reply;
use crate::{ProtocolError, frame};

/// What the filter wants from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Actions to request; only those the MTA offers are kept.
    pub actions: Actions,
    /// Protocol flags to request; only those the MTA offers are kept.
    pub protocol: ProtocolFlags,
    /// Macro names to ask for, per stage, space-separated (e.g. `(Stage::EnvFrom, "i
    /// {auth_authen}")`). Sent only if the MTA offers `SET_SYMBOL_LIST`, which is then
    /// requested implicitly.
    pub macros: Vec<(Stage, String)>,
    /// Largest packet accepted (declared length: command byte plus payload).
    pub max_frame: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            actions: Actions::empty(),
            protocol: ProtocolFlags::empty(),
            macros: Vec::new(),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// One MTA command, as the filter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client connected.
    Connect {
        /// Client host name as the MTA knows it (Postfix: `[addr]` if unverified).
        hostname: Vec<u8>,
        /// Client IP address and port; `None` for UNIX sockets, unknown or unparsable ones.
        address: Option<SocketAddr>,
    },
    /// HELO/EHLO argument.
    Helo(Vec<u8>),
    /// MAIL FROM: the sender, then ESMTP arguments.
    Mail(Vec<Vec<u8>>),
    /// RCPT TO: the recipient, then ESMTP arguments.
    Rcpt(Vec<Vec<u8>>),
    /// The DATA command.
    Data,
    /// One header. The value keeps its leading space only if `HEADER_LEADING_SPACE` was
    /// negotiated; folded lines are joined with bare LF.
    Header {
        /// Header name.
        name: Vec<u8>,
        /// Header value.
        value: Vec<u8>,
    },
    /// End of headers.
    EndOfHeaders,
    /// A body chunk, CRLF line ends.
    Body(Vec<u8>),
    /// End of message: the place for modifications and the final verdict.
    EndOfMessage,
    /// The current message is abandoned (no reply).
    Abort,
    /// The MTA closes the connection (no reply).
    Quit,
    /// The SMTP session ended; the MTA reuses this connection for another (no reply).
    QuitNewConnection,
    /// An SMTP command the MTA did not recognise.
    Unknown(Vec<u8>),
}

/// A filter-side milter session over one connection.
#[derive(Debug)]
pub struct ServerSession {
    options: ServerOptions,
    frames: FrameReader,
    output: Vec<u8>,
    negotiated: Option<OptNeg>,
    macros: MacroStore,
    /// The last packet was a MACRO for MAIL, so MAIL must not clear it.
    fresh_mail_macros: bool,
    /// An end-of-message carried a final chunk, surfaced as `Body`; `EndOfMessage` is next.
    pending_end_of_message: bool,
    expects_reply: bool,
    failed: Option<ProtocolError>,
}

impl ServerSession {
    /// A session that will negotiate `options`.
    pub fn new(options: ServerOptions) -> Self {
        Self {
            frames: FrameReader::new(options.max_frame),
            options,
            output: Vec::new(),
            negotiated: None,
            macros: MacroStore::new(),
            fresh_mail_macros: false,
            pending_end_of_message: false,
            expects_reply: false,
            failed: None,
        }
    }

    /// Appends bytes received from the MTA.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.frames.push(bytes);
    }

    /// The next event, `Ok(None)` when more bytes are needed. OPTNEG is answered here (the
    /// answer goes to [`output`](Self::output)) and MACRO packets go to the macro store;
    /// neither is surfaced. After an error the session is dead and keeps returning it.
    pub fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.expects_reply = false;
        if self.pending_end_of_message {
            self.pending_end_of_message = false;
            self.expects_reply = true;
            return Ok(Some(Event::EndOfMessage));
        }
        match self.step() {
            Ok(event) => Ok(event),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    fn step(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            let Some(packet) = self.frames.next_packet()? else {
                return Ok(None);
            };
            let command = Command::parse(packet.code, &packet.payload)?;
            let Some(negotiated) = &self.negotiated else {
                let Command::OptNeg(offer) = command else {
                    return Err(ProtocolError::NotNegotiated { code: packet.code });
                };
                self.negotiate(&offer)?;
                continue;
            };
            let protocol = negotiated.protocol;
            let fresh_mail_macros = std::mem::take(&mut self.fresh_mail_macros);
            let (event, no_reply) = match command {
                Command::OptNeg(offer) => {
                    // A second negotiation starts over (libmilter allows it too).
                    self.macros.clear();
                    self.negotiate(&offer)?;
                    continue;
                }
                Command::Macro { command, macros } => {
                    if let Some(stage) = Stage::from_command(command) {
                        self.macros.set(stage, macros);
                        self.fresh_mail_macros = stage == Stage::EnvFrom;
                    }
                    continue;
                }
                Command::Connect { hostname, address } => {
                    let address = address.socket_addr();
                    (
                        Event::Connect { hostname, address },
                        ProtocolFlags::NR_CONNECT,
                    )
                }
                Command::Helo(name) => (Event::Helo(name), ProtocolFlags::NR_HELO),
                Command::Mail(args) => {
                    if !fresh_mail_macros {
                        self.macros.clear_message();
                    }
                    (Event::Mail(args), ProtocolFlags::NR_MAIL)
                }
                Command::Rcpt(args) => (Event::Rcpt(args), ProtocolFlags::NR_RCPT),
                Command::Data => (Event::Data, ProtocolFlags::NR_DATA),
                Command::Header { name, value } => {
                    (Event::Header { name, value }, ProtocolFlags::NR_HEADER)
                }
                Command::EndOfHeaders => (Event::EndOfHeaders, ProtocolFlags::NR_EOH),
                Command::Body(chunk) => (Event::Body(chunk), ProtocolFlags::NR_BODY),
                Command::EndOfMessage(chunk) if chunk.is_empty() => {
                    (Event::EndOfMessage, ProtocolFlags::empty())
                }
                Command::EndOfMessage(chunk) => {
                    // libmilter delivers the chunk as a body event the MTA expects no reply
                    // to, then end-of-message.
                    self.pending_end_of_message = true;
                    return Ok(Some(Event::Body(chunk)));
                }
                Command::Abort => {
                    self.macros.clear_message();
                    return Ok(Some(Event::Abort));
                }
                Command::Quit => return Ok(Some(Event::Quit)),
                Command::QuitNewConnection => {
                    self.macros.clear();
                    return Ok(Some(Event::QuitNewConnection));
                }
                Command::Unknown(text) => (Event::Unknown(text), ProtocolFlags::NR_UNKNOWN),
            };
            self.expects_reply = no_reply.is_empty() || !protocol.contains(no_reply);
            return Ok(Some(event));
        }
    }

    fn negotiate(&mut self, offer: &OptNeg) -> Result<(), ProtocolError> {
        let answer = options::answer_offer(
            offer,
            self.options.actions,
            self.options.protocol,
            &self.options.macros,
        )?;
        frame::encode_with(crate::command::code::OPTNEG, &mut self.output, |out| {
            answer.encode_payload(out)
        });
        self.negotiated = Some(answer);
        Ok(())
    }

    /// Queues a reply or modification for the MTA.
    pub fn reply(&mut self, reply: Reply) {
        reply.encode(&mut self.output);
    }

    /// Whether the MTA waits for a reply to the event last returned by
    /// [`next_event`](Self::next_event): not for ABORT, QUIT, QUIT_NC, the final chunk of
    /// end-of-message, nor steps negotiated as `NR_*`.
    pub fn expects_reply(&self) -> bool {
        self.expects_reply
    }

    /// Takes the bytes to write to the MTA.
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The value of macro `name`; `i` and `{i}` both work.
    pub fn macro_value(&self, name: &str) -> Option<&[u8]> {
        self.macros.get(name)
    }

    /// All macros received so far.
    pub fn macros(&self) -> &MacroStore {
        &self.macros
    }

    /// What was agreed with the MTA, once OPTNEG has been answered.
    pub fn negotiated(&self) -> Option<&OptNeg> {
        self.negotiated.as_ref()
    }

    /// Whether header values carry their leading space (`HEADER_LEADING_SPACE` agreed), both
    /// in [`Event::Header`] and in header modifications.
    pub fn leading_space(&self) -> bool {
        self.negotiated
            .as_ref()
            .is_some_and(|n| n.protocol.contains(ProtocolFlags::HEADER_LEADING_SPACE))
    }
}
