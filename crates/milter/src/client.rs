//! The MTA side of a milter connection: encode commands for a filter (OpenDKIM and friends),
//! decode its replies, and track which command each reply answers.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::ProtocolError;
use crate::command::{Command, ConnectAddress};
use crate::frame::{DEFAULT_MAX_FRAME, FrameReader};
use crate::options::{self, Actions, OptNeg, ProtocolFlags, Stage};
use crate::reply::{self, Reply};

/// Largest body chunk sent, as Postfix and Sendmail do (`MILTER_CHUNK_SIZE`).
pub const MAX_BODY_CHUNK: usize = 65_535;

/// What the MTA offers the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Actions the filter may request.
    pub actions: Actions,
    /// Protocol flags the filter may request.
    pub protocol: ProtocolFlags,
    /// Largest reply packet accepted (declared length: reply byte plus payload).
    pub max_frame: usize,
}

impl Default for ClientOptions {
    /// Everything Postfix offers with `milter_protocol = 6`: all actions, all protocol flags
    /// except the `MDS_*` chunk-size hints.
    fn default() -> Self {
        Self {
            actions: Actions::all(),
            protocol: ProtocolFlags::all() - ProtocolFlags::MDS_256K - ProtocolFlags::MDS_1M,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// A protocol step the MTA may send, for asking whether it is skipped or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// CONNECT.
    Connect,
    /// HELO.
    Helo,
    /// MAIL.
    Mail,
    /// RCPT.
    Rcpt,
    /// DATA.
    Data,
    /// One header.
    Header,
    /// End of headers.
    EndOfHeaders,
    /// One body chunk.
    Body,
    /// End of message; always sent, always answered.
    EndOfMessage,
    /// Unknown SMTP command.
    Unknown,
}

impl Step {
    /// The flag by which the filter declines this step.
    fn no_flag(self) -> ProtocolFlags {
        match self {
            Step::Connect => ProtocolFlags::NO_CONNECT,
            Step::Helo => ProtocolFlags::NO_HELO,
            Step::Mail => ProtocolFlags::NO_MAIL,
            Step::Rcpt => ProtocolFlags::NO_RCPT,
            Step::Data => ProtocolFlags::NO_DATA,
            Step::Header => ProtocolFlags::NO_HEADERS,
            Step::EndOfHeaders => ProtocolFlags::NO_EOH,
            Step::Body => ProtocolFlags::NO_BODY,
            Step::Unknown => ProtocolFlags::NO_UNKNOWN,
            Step::EndOfMessage => ProtocolFlags::empty(),
        }
    }

    /// The flag by which the filter says it will not reply to this step.
    fn no_reply_flag(self) -> ProtocolFlags {
        match self {
            Step::Connect => ProtocolFlags::NR_CONNECT,
            Step::Helo => ProtocolFlags::NR_HELO,
            Step::Mail => ProtocolFlags::NR_MAIL,
            Step::Rcpt => ProtocolFlags::NR_RCPT,
            Step::Data => ProtocolFlags::NR_DATA,
            Step::Header => ProtocolFlags::NR_HEADER,
            Step::EndOfHeaders => ProtocolFlags::NR_EOH,
            Step::Body => ProtocolFlags::NR_BODY,
            Step::Unknown => ProtocolFlags::NR_UNKNOWN,
            Step::EndOfMessage => ProtocolFlags::empty(),
        }
    }
}

/// What the filter said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The filter answered OPTNEG; this is what is in force. Always the first event.
    Negotiated(OptNeg),
    /// A reply: modifications (before the final reply to end-of-message), `Progress`,
    /// `Quarantine`, or the final reply to the oldest command awaiting one.
    Reply(Reply),
}

/// An MTA-side milter session over one connection to a filter.
///
/// Command methods do nothing for steps the filter declined (`NO_*` flags) or, after a SKIP
/// reply, for the rest of the body; check [`expects_reply`](Self::expects_reply) to know
/// whether to wait. Replies are matched to commands in order, so several commands may be in
/// flight, but like Postfix a caller should wait for each reply before sending more.
#[derive(Debug)]
pub struct ClientSession {
    options: ClientOptions,
    frames: FrameReader,
    output: Vec<u8>,
    offer: Option<OptNeg>,
    negotiated: Option<OptNeg>,
    requested: [Vec<String>; 7],
    awaiting: VecDeque<Step>,
    skipping_body: bool,
    failed: Option<ProtocolError>,
}

impl ClientSession {
    /// A session that will offer `options`.
    pub fn new(options: ClientOptions) -> Self {
        Self {
            frames: FrameReader::new(options.max_frame),
            options,
            output: Vec::new(),
            offer: None,
            negotiated: None,
            requested: Default::default(),
            awaiting: VecDeque::new(),
            skipping_body: false,
            failed: None,
        }
    }

    /// Queues the OPTNEG offer (version 6 and the configured actions and flags). Send it first.
    pub fn optneg(&mut self) {
        let offer = OptNeg {
            version: options::VERSION,
            actions: self.options.actions,
            protocol: self.options.protocol,
            macros: Vec::new(),
        };
        Command::OptNeg(offer.clone()).encode(&mut self.output);
        self.offer = Some(offer);
        self.negotiated = None;
        self.requested = Default::default();
        self.awaiting.clear();
    }

    /// Appends bytes received from the filter.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.frames.push(bytes);
    }

    /// The next thing the filter said, `Ok(None)` when more bytes are needed. After an error
    /// the session is dead and keeps returning it.
    pub fn next_reply(&mut self) -> Result<Option<ClientEvent>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.step() {
            Ok(event) => Ok(event),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    fn step(&mut self) -> Result<Option<ClientEvent>, ProtocolError> {
        let Some(packet) = self.frames.next_packet()? else {
            return Ok(None);
        };
        if self.negotiated.is_none() {
            let Some(offer) = &self.offer else {
                return Err(ProtocolError::UnexpectedReply { code: packet.code });
            };
            if packet.code != reply::code::OPTNEG {
                return Err(ProtocolError::UnexpectedReply { code: packet.code });
            }
            let agreed =
                options::check_answer(offer, OptNeg::parse(packet.code, &packet.payload)?)?;
            for (stage, names) in &agreed.macros {
                if let Some(slot) = self.requested.get_mut(stage.number() as usize) {
                    *slot = names.split_ascii_whitespace().map(str::to_owned).collect();
                }
            }
            self.negotiated = Some(agreed.clone());
            return Ok(Some(ClientEvent::Negotiated(agreed)));
        }
        let reply = Reply::parse(packet.code, &packet.payload)?;
        let unexpected = ProtocolError::UnexpectedReply { code: packet.code };
        let Some(&step) = self.awaiting.front() else {
            return Err(unexpected);
        };
        if let Some(action) = reply.required_action() {
            // Postfix takes QUARANTINE at any step, everything else only at end-of-message.
            if reply.is_modification() && step != Step::EndOfMessage {
                return Err(unexpected);
            }
            if !self.agreed_actions().contains(action) {
                return Err(ProtocolError::ActionNotNegotiated { code: packet.code });
            }
        }
        if reply == Reply::Skip {
            if step != Step::Body || !self.agreed_protocol().contains(ProtocolFlags::SKIP) {
                return Err(unexpected);
            }
            self.skipping_body = true;
        }
        if reply.is_final() {
            self.awaiting.pop_front();
        }
        Ok(Some(ClientEvent::Reply(reply)))
    }

    fn agreed_actions(&self) -> Actions {
        self.negotiated
            .as_ref()
            .map_or(Actions::empty(), |n| n.actions)
    }

    fn agreed_protocol(&self) -> ProtocolFlags {
        self.negotiated
            .as_ref()
            .map_or(ProtocolFlags::empty(), |n| n.protocol)
    }

    /// What was agreed with the filter, once it answered OPTNEG.
    pub fn negotiated(&self) -> Option<&OptNeg> {
        self.negotiated.as_ref()
    }

    /// The macro names the filter asked for at `stage` (empty if it did not override the
    /// MTA's defaults).
    pub fn requested_macros(&self, stage: Stage) -> &[String] {
        self.requested
            .get(stage.number() as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether the filter declined `step` (a `NO_*` flag), so it is not sent at all.
    pub fn skips(&self, step: Step) -> bool {
        let flag = step.no_flag();
        !flag.is_empty() && self.agreed_protocol().contains(flag)
    }

    /// Whether the filter will answer `step`: it is sent, not `NR_*`, and (for body chunks) no
    /// SKIP is in force.
    pub fn expects_reply(&self, step: Step) -> bool {
        if self.skips(step) || (step == Step::Body && self.skipping_body) {
            return false;
        }
        let flag = step.no_reply_flag();
        flag.is_empty() || !self.agreed_protocol().contains(flag)
    }

    /// The step whose final reply is awaited next, if any.
    pub fn awaiting(&self) -> Option<Step> {
        self.awaiting.front().copied()
    }

    /// Whether header values keep their leading space (`HEADER_LEADING_SPACE` agreed).
    pub fn leading_space(&self) -> bool {
        self.agreed_protocol()
            .contains(ProtocolFlags::HEADER_LEADING_SPACE)
    }

    /// Takes the bytes to write to the filter.
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    fn send(&mut self, step: Step, command: Command) {
        if self.skips(step) {
            return;
        }
        command.encode(&mut self.output);
        if self.expects_reply(step) {
            self.awaiting.push_back(step);
        }
    }

    /// Queues macro values for the command of `stage`; call it right before that command.
    pub fn macros(&mut self, stage: Stage, macros: &[(&str, &[u8])]) {
        let macros = macros
            .iter()
            .map(|(name, value)| (name.as_bytes().to_vec(), value.to_vec()))
            .collect();
        Command::Macro {
            command: stage.command(),
            macros,
        }
        .encode(&mut self.output);
    }

    /// Queues CONNECT for an IP client, or an unknown one (`None`).
    pub fn connect(&mut self, hostname: &[u8], address: Option<SocketAddr>) {
        let address = address.map_or(ConnectAddress::Unknown, ConnectAddress::from_socket_addr);
        self.send(
            Step::Connect,
            Command::Connect {
                hostname: hostname.to_vec(),
                address,
            },
        );
    }

    /// Queues CONNECT for a client on a UNIX-domain socket.
    pub fn connect_unix(&mut self, hostname: &[u8], path: &[u8]) {
        let address = ConnectAddress::Unix(path.to_vec());
        self.send(
            Step::Connect,
            Command::Connect {
                hostname: hostname.to_vec(),
                address,
            },
        );
    }

    /// Queues HELO.
    pub fn helo(&mut self, name: &[u8]) {
        self.send(Step::Helo, Command::Helo(name.to_vec()));
    }

    /// Queues MAIL: the sender (with angle brackets, as Postfix sends it), then ESMTP args.
    pub fn mail(&mut self, args: &[&[u8]]) {
        self.send(
            Step::Mail,
            Command::Mail(args.iter().map(|a| a.to_vec()).collect()),
        );
    }

    /// Queues RCPT: the recipient, then ESMTP args.
    pub fn rcpt(&mut self, args: &[&[u8]]) {
        self.send(
            Step::Rcpt,
            Command::Rcpt(args.iter().map(|a| a.to_vec()).collect()),
        );
    }

    /// Queues DATA.
    pub fn data(&mut self) {
        self.send(Step::Data, Command::Data);
    }

    /// Queues one header. `value` is everything after the colon. As in Postfix, folded lines
    /// are joined with bare LF, and unless `HEADER_LEADING_SPACE` was agreed one leading
    /// space is dropped (Sendmail eats it).
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        let value = if self.leading_space() {
            value
        } else {
            value.strip_prefix(b" ").unwrap_or(value)
        };
        let value = crlf_to_lf(value);
        self.send(
            Step::Header,
            Command::Header {
                name: name.to_vec(),
                value,
            },
        );
    }

    /// Queues end-of-headers.
    pub fn end_of_headers(&mut self) {
        self.send(Step::EndOfHeaders, Command::EndOfHeaders);
    }

    /// Queues body content (CRLF line ends), split into chunks of at most 65,535 bytes.
    pub fn body(&mut self, content: &[u8]) {
        if self.skipping_body {
            return;
        }
        for chunk in content.chunks(MAX_BODY_CHUNK) {
            self.send(Step::Body, Command::Body(chunk.to_vec()));
        }
    }

    /// Queues end-of-message; the filter answers with modifications, then a final reply.
    pub fn end_of_message(&mut self) {
        self.skipping_body = false;
        self.send(Step::EndOfMessage, Command::EndOfMessage(Vec::new()));
    }

    /// Queues an unknown SMTP command.
    pub fn unknown(&mut self, command: &[u8]) {
        self.send(Step::Unknown, Command::Unknown(command.to_vec()));
    }

    /// Queues ABORT: the current message is abandoned. Not answered.
    pub fn abort(&mut self) {
        self.skipping_body = false;
        Command::Abort.encode(&mut self.output);
    }

    /// Queues QUIT: the connection ends. Not answered.
    pub fn quit(&mut self) {
        Command::Quit.encode(&mut self.output);
    }

    /// Queues QUIT_NC: the SMTP session ends, another follows on this connection. Not
    /// answered.
    pub fn quit_new_connection(&mut self) {
        self.skipping_body = false;
        Command::QuitNewConnection.encode(&mut self.output);
    }
}

/// Postfix hands filters folded headers with bare LF between the lines.
fn crlf_to_lf(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.iter().peekable();
    while let Some(&byte) = bytes.next() {
        if byte == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_and_lone_cr_stays() {
        assert_eq!(crlf_to_lf(b"a\r\n\tb\rc\r"), b"a\n\tb\rc\r");
    }
}
