//! [`AuthSession`]: one auth-client connection (e.g. one Postfix smtpd process), sans-I/O.
//!
//! Feed received bytes to [`receive`](AuthSession::receive), pull [`Event`]s from
//! [`next_event`](AuthSession::next_event), answer each [`Event::Verify`] with
//! [`ok`](AuthSession::ok) or [`fail`](AuthSession::fail), and write
//! [`output`](AuthSession::output) to the client.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::command::{AuthRequest, Command};
use crate::line::LineReader;
use crate::mech::{self, MechState, MechStep, Mechanism};
use crate::reply::{self, MAJOR_VERSION, Refusal};
use crate::{AnswerError, ProtocolError, Secret};

/// Dovecot expects lines to fit 16 KiB; so does this server by default.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// Requests in progress per connection by default. Postfix has one at a time.
pub const DEFAULT_MAX_REQUESTS: usize = 16;

/// Base64 as Dovecot decodes it: padding optional.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// When the server sends its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Greeting {
    /// At once, before the client says anything: Dovecot 2.3, which Postfix and Exim expect
    /// (Exim reads the server handshake before sending its own).
    #[default]
    Immediate,
    /// After the client's `VERSION`: Dovecot 2.4.
    AfterClientVersion,
}

/// How a session behaves. Build with [`SessionOptions::new`] and adjust the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Sent as `SPID`: the server's process id.
    pub server_pid: u32,
    /// Sent as `CUID`: unique per connection within the server process.
    pub connection_uid: u32,
    /// Sent as `COOKIE` (32 hex digits): random per connection. Only a master process
    /// would use it; Postfix ignores it, but it should still come from a CSPRNG.
    pub cookie: [u8; 16],
    /// Mechanisms announced and accepted, in announcement order.
    pub mechanisms: Vec<Mechanism>,
    /// Refuse plaintext mechanisms unless the client says the channel is `secured` (TLS or
    /// local). Dovecot's `disable_plaintext_auth`; on by default.
    pub plaintext_requires_secured: bool,
    /// Longest line accepted from the client, without LF.
    pub max_line: usize,
    /// Requests in progress at once.
    pub max_requests: usize,
    /// When to send the handshake.
    pub greeting: Greeting,
}

impl SessionOptions {
    /// Options with PLAIN and LOGIN, plaintext only when secured, and default limits.
    pub fn new(server_pid: u32, connection_uid: u32, cookie: [u8; 16]) -> Self {
        Self {
            server_pid,
            connection_uid,
            cookie,
            mechanisms: vec![Mechanism::Plain, Mechanism::Login],
            plaintext_requires_secured: true,
            max_line: DEFAULT_MAX_LINE,
            max_requests: DEFAULT_MAX_REQUESTS,
            greeting: Greeting::Immediate,
        }
    }
}

/// Something the caller has to know about or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client finished its handshake (`VERSION` and `CPID`).
    Handshake {
        /// The client's process id.
        client_pid: u32,
        /// The client's minor protocol version.
        minor_version: u32,
    },
    /// A mechanism collected credentials: check them, then call [`AuthSession::ok`] or
    /// [`AuthSession::fail`] with this `id` (Dovecot delays failures; see
    /// [`FailureThrottle`](crate::FailureThrottle)).
    Verify {
        /// Request id, to answer with.
        id: u32,
        /// The mechanism used.
        mechanism: Mechanism,
        /// The authentication identity as the client gave it.
        username: String,
        /// The password.
        password: Secret,
        /// `service=`: `smtp` for Postfix.
        service: String,
        /// `rip=`: the SMTP client's address, if sent and valid.
        remote_ip: Option<IpAddr>,
        /// `lip=`: the address the SMTP client connected to, if sent and valid.
        local_ip: Option<IpAddr>,
        /// Whether the client marked the channel secured (TLS).
        secured: bool,
    },
    /// The session failed a request by itself (already answered; for logging and
    /// throttling).
    Refused {
        /// Request id.
        id: u32,
        /// Why.
        reason: Refusal,
        /// `rip=` of the request, if known.
        remote_ip: Option<IpAddr>,
    },
}

/// Connection metadata from the `AUTH` line, carried to [`Event::Verify`].
#[derive(Debug)]
struct Origin {
    mechanism: Mechanism,
    service: String,
    remote_ip: Option<IpAddr>,
    local_ip: Option<IpAddr>,
    secured: bool,
}

#[derive(Debug)]
enum Stage {
    /// A `CONT` challenge was sent; the client's answer comes next.
    Continue(MechState),
    /// [`Event::Verify`] was emitted; the caller's answer comes next.
    Verdict { username: String },
}

#[derive(Debug)]
struct Request {
    origin: Origin,
    stage: Stage,
    /// Arrival order, to find the oldest abandoned request.
    seq: u64,
}

/// The server side of one auth-client connection.
#[derive(Debug)]
pub struct AuthSession {
    options: SessionOptions,
    lines: LineReader,
    output: Vec<u8>,
    greeted: bool,
    client_minor: Option<u32>,
    client_pid: Option<u32>,
    requests: BTreeMap<u32, Request>,
    next_seq: u64,
    failed: Option<ProtocolError>,
}

impl AuthSession {
    /// A new session; with [`Greeting::Immediate`] the handshake is already in
    /// [`output`](Self::output).
    pub fn new(options: SessionOptions) -> Self {
        let mut session = Self {
            lines: LineReader::new(options.max_line),
            options,
            output: Vec::new(),
            greeted: false,
            client_minor: None,
            client_pid: None,
            requests: BTreeMap::new(),
            next_seq: 0,
            failed: None,
        };
        if session.options.greeting == Greeting::Immediate {
            session.greet();
        }
        session
    }

    /// Appends bytes received from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.lines.push(bytes);
    }

    /// The next event, `Ok(None)` when more bytes are needed. Lines that need no caller
    /// action are handled here (their replies go to [`output`](Self::output)). After an
    /// error the session is dead and keeps returning it: close the connection.
    pub fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        loop {
            let step = self
                .lines
                .next_line()
                .map_err(ProtocolError::from)
                .and_then(|line| line.map(|line| self.handle(&line)).transpose());
            match step {
                Ok(Some(Some(event))) => return Ok(Some(event)),
                Ok(Some(None)) => {}
                Ok(None) => return Ok(None),
                Err(error) => {
                    self.failed = Some(error.clone());
                    return Err(error);
                }
            }
        }
    }

    /// Accepts request `id` for `user` (the canonical name, which Postfix logs and uses as
    /// `sasl_username`): sends `OK TAB id TAB user=<user>`.
    pub fn ok(&mut self, id: u32, user: &str) -> Result<(), AnswerError> {
        self.take_verdict(id)?;
        reply::ok(&mut self.output, id, user);
        Ok(())
    }

    /// Rejects request `id`: `FAIL TAB id [TAB reason=..] TAB user=<name as given>`. Keep
    /// `reason` vague (never "unknown user" vs "wrong password"); `None` lets the client
    /// say its standard text.
    pub fn fail(&mut self, id: u32, reason: Option<&str>) -> Result<(), AnswerError> {
        let username = self.take_verdict(id)?;
        reply::fail(&mut self.output, id, None, reason, Some(&username));
        Ok(())
    }

    /// Rejects request `id` because of an internal fault (user database unreadable...):
    /// `FAIL` with `code=temp_fail`, so the client may say "try again later".
    pub fn temp_fail(&mut self, id: u32, reason: Option<&str>) -> Result<(), AnswerError> {
        let username = self.take_verdict(id)?;
        reply::fail(
            &mut self.output,
            id,
            Some("temp_fail"),
            reason,
            Some(&username),
        );
        Ok(())
    }

    /// Takes the bytes to send to the client.
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The client's process id, once its handshake is complete.
    pub fn client_pid(&self) -> Option<u32> {
        self.client_pid
    }

    /// Ids of requests waiting for [`ok`](Self::ok) or [`fail`](Self::fail).
    pub fn awaiting_verdict(&self) -> impl Iterator<Item = u32> + '_ {
        self.requests
            .iter()
            .filter(|(_, request)| matches!(request.stage, Stage::Verdict { .. }))
            .map(|(&id, _)| id)
    }

    fn greet(&mut self) {
        if !self.greeted {
            self.greeted = true;
            reply::handshake(
                &mut self.output,
                &self.options.mechanisms,
                self.options.server_pid,
                self.options.connection_uid,
                &self.options.cookie,
            );
        }
    }

    fn take_verdict(&mut self, id: u32) -> Result<String, AnswerError> {
        match self.requests.remove(&id) {
            Some(Request {
                stage: Stage::Verdict { username },
                ..
            }) => Ok(username),
            Some(request) => {
                self.requests.insert(id, request);
                Err(AnswerError(id))
            }
            None => Err(AnswerError(id)),
        }
    }

    fn handle(&mut self, line: &[u8]) -> Result<Option<Event>, ProtocolError> {
        let command = Command::parse(line)?;
        let Some(minor) = self.client_minor else {
            let Command::Version { major, minor } = command else {
                return Err(ProtocolError::MissingVersion);
            };
            if major != MAJOR_VERSION {
                return Err(ProtocolError::VersionMismatch { major });
            }
            self.client_minor = Some(minor);
            self.greet();
            return Ok(None);
        };
        match command {
            Command::Version { .. } => Err(ProtocolError::RepeatedHandshake { command: "VERSION" }),
            Command::Cpid(pid) => {
                if self.client_pid.replace(pid).is_some() {
                    return Err(ProtocolError::RepeatedHandshake { command: "CPID" });
                }
                Ok(Some(Event::Handshake {
                    client_pid: pid,
                    minor_version: minor,
                }))
            }
            Command::Auth(request) => {
                self.require_cpid("AUTH")?;
                self.begin(request, minor)
            }
            Command::Cont { id, data } => {
                self.require_cpid("CONT")?;
                Ok(self.resume(id, &data))
            }
        }
    }

    fn require_cpid(&self, command: &'static str) -> Result<(), ProtocolError> {
        match self.client_pid {
            Some(_) => Ok(()),
            None => Err(ProtocolError::MissingCpid { command }),
        }
    }

    /// `AUTH`: checks, then the mechanism's first step.
    fn begin(&mut self, request: AuthRequest, minor: u32) -> Result<Option<Event>, ProtocolError> {
        let id = request.id;
        if self.requests.contains_key(&id) {
            return Err(ProtocolError::DuplicateId(id));
        }
        self.make_room()?;
        let mechanism = Mechanism::from_name(&request.mechanism)
            .filter(|mechanism| self.options.mechanisms.contains(mechanism));
        let Some(mechanism) = mechanism else {
            return Ok(Some(self.refuse(
                id,
                Refusal::UnsupportedMechanism,
                request.remote_ip,
            )));
        };
        if mechanism.is_plaintext() && self.options.plaintext_requires_secured && !request.secured {
            return Ok(Some(self.refuse(
                id,
                Refusal::PlaintextNotSecured,
                request.remote_ip,
            )));
        }
        let initial = match request.initial_response {
            // Before protocol 1.2, clients such as Exim sent an empty resp= for "none".
            Some(data) if data.is_empty() && minor < 2 => None,
            // "=" is SASL's way to say "empty", which some clients pass on unchanged.
            Some(data) if data.is_empty() || data == b"=" => Some(Vec::new()),
            Some(data) => match BASE64.decode(&data) {
                Ok(decoded) => Some(decoded),
                Err(_) => {
                    return Ok(Some(self.refuse(
                        id,
                        Refusal::InvalidBase64,
                        request.remote_ip,
                    )));
                }
            },
            None => None,
        };
        let origin = Origin {
            mechanism,
            service: request.service,
            remote_ip: request.remote_ip,
            local_ip: request.local_ip,
            secured: request.secured,
        };
        Ok(self.advance(id, origin, mech::start(mechanism, initial)))
    }

    /// `CONT` from the client.
    fn resume(&mut self, id: u32, data: &[u8]) -> Option<Event> {
        let Some(request) = self.requests.remove(&id) else {
            return Some(self.refuse(id, Refusal::UnknownRequest, None));
        };
        let Stage::Continue(state) = request.stage else {
            // The caller may still answer; that answer will then find nothing to answer.
            return Some(self.refuse(
                id,
                Refusal::UnexpectedContinuation,
                request.origin.remote_ip,
            ));
        };
        match BASE64.decode(data) {
            Ok(decoded) => self.advance(id, request.origin, mech::next(state, decoded)),
            Err(_) => Some(self.refuse(id, Refusal::InvalidBase64, request.origin.remote_ip)),
        }
    }

    fn advance(&mut self, id: u32, origin: Origin, step: MechStep) -> Option<Event> {
        let (stage, event) = match step {
            MechStep::Challenge(challenge, state) => {
                reply::cont(&mut self.output, id, challenge);
                (Stage::Continue(state), None)
            }
            MechStep::Credentials { username, password } => {
                let event = Event::Verify {
                    id,
                    mechanism: origin.mechanism,
                    username: username.clone(),
                    password,
                    service: origin.service.clone(),
                    remote_ip: origin.remote_ip,
                    local_ip: origin.local_ip,
                    secured: origin.secured,
                };
                (Stage::Verdict { username }, Some(event))
            }
            MechStep::Refuse(refusal) => return Some(self.refuse(id, refusal, origin.remote_ip)),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.requests.insert(id, Request { origin, stage, seq });
        event
    }

    fn refuse(&mut self, id: u32, reason: Refusal, remote_ip: Option<IpAddr>) -> Event {
        reply::fail(&mut self.output, id, None, Some(reason.reason()), None);
        Event::Refused {
            id,
            reason,
            remote_ip,
        }
    }

    /// Makes room for one more request. A request waiting for the client's `CONT` may have
    /// been abandoned (Postfix answers an SMTP client's `*` itself and never tells us), so
    /// the oldest such one is dropped; requests awaiting the caller's verdict are kept.
    fn make_room(&mut self) -> Result<(), ProtocolError> {
        if self.requests.len() < self.options.max_requests {
            return Ok(());
        }
        let oldest = self
            .requests
            .iter()
            .filter(|(_, request)| matches!(request.stage, Stage::Continue(_)))
            .min_by_key(|(_, request)| request.seq)
            .map(|(&id, _)| id);
        match oldest {
            Some(id) => {
                self.requests.remove(&id);
                Ok(())
            }
            None => Err(ProtocolError::TooManyRequests {
                limit: self.options.max_requests,
            }),
        }
    }
}
