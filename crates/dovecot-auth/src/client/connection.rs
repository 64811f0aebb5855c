//! [`AuthClient`]: one connection to an auth server's `auth-client` socket, sans-I/O.
//!
//! Write [`output`](AuthClient::output) to the server, feed what it sends to
//! [`receive`](AuthClient::receive), pull [`ClientEvent`]s from
//! [`next_event`](AuthClient::next_event). Requests are multiplexed by id, so one connection
//! can serve many SMTP sessions; replies may come in any order.

use std::collections::BTreeMap;
use std::fmt;

use super::reply::{AuthFailure, AuthSuccess, OfferedMechanism, ServerLine};
use super::request::{self, AuthParams};
use super::{RequestError, ServerError};
use crate::line::LineReader;
use crate::reply::MAJOR_VERSION;
use crate::session::{DEFAULT_MAX_LINE, DEFAULT_MAX_REQUESTS};

/// More `MECH` lines than this is a broken server, not a generous one.
const MAX_MECHANISMS: usize = 64;

/// How a connection behaves. Build with [`ClientOptions::new`] and adjust the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Sent as `CPID`: our process id. Dovecot logs it, and uses it with `CUID` to tie
    /// requests to a login process; it need not be unique per connection.
    pub client_pid: u32,
    /// Longest line accepted from the server and sent to it, without LF. Dovecot's limit is
    /// 16 KiB both ways.
    pub max_line: usize,
    /// Requests in progress at once. Our own server allows 16 per connection by default.
    pub max_requests: usize,
}

impl ClientOptions {
    /// Options with the default limits.
    pub fn new(client_pid: u32) -> Self {
        Self {
            client_pid,
            max_line: DEFAULT_MAX_LINE,
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// Something the server said that the caller has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake is complete (`DONE`): [`AuthClient::mechanisms`] is known and requests
    /// may be sent.
    Ready,
    /// The answer to a request.
    Reply(ServerReply),
}

/// The server's answer to request `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    /// The request, as returned by [`AuthClient::begin`].
    pub id: u32,
    /// What the server said.
    pub outcome: Outcome,
}

/// `CONT`, `OK` or `FAIL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `CONT`: the mechanism's challenge, decoded (empty for "send your response"); answer
    /// with [`AuthClient::respond`].
    Continue(Vec<u8>),
    /// `OK`: authenticated. The request is over.
    Success(AuthSuccess),
    /// `FAIL`. The request is over.
    Failure(AuthFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing received yet: the first line must be `VERSION`.
    Version,
    /// `VERSION` came; mechanisms and ids until `DONE`.
    Handshake,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Await {
    /// The server has the next word.
    Server,
    /// The server sent `CONT`; the client's `CONT` comes next.
    Client,
    /// Given up by the caller while the server had the word: its reply is dropped quietly.
    Nobody,
}

#[derive(Debug)]
struct Request {
    awaiting: Await,
    /// Sending order, to find the oldest request to give up.
    seq: u64,
}

/// The client side of one auth-server connection.
pub struct AuthClient {
    options: ClientOptions,
    lines: LineReader,
    output: Vec<u8>,
    phase: Phase,
    server_minor: u32,
    server_pid: Option<u32>,
    connection_uid: Option<u32>,
    cookie: Option<String>,
    mechanisms: Vec<OfferedMechanism>,
    requests: BTreeMap<u32, Request>,
    last_id: u32,
    next_seq: u64,
    failed: Option<ServerError>,
}

impl AuthClient {
    /// A new connection; our handshake (`VERSION`, `CPID`) is already in
    /// [`output`](Self::output).
    pub fn new(options: ClientOptions) -> Self {
        let mut output = Vec::new();
        request::handshake(&mut output, options.client_pid);
        Self {
            lines: LineReader::new(options.max_line),
            options,
            output,
            phase: Phase::Version,
            server_minor: 0,
            server_pid: None,
            connection_uid: None,
            cookie: None,
            mechanisms: Vec::new(),
            requests: BTreeMap::new(),
            last_id: 0,
            next_seq: 0,
            failed: None,
        }
    }

    /// Appends bytes received from the server.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.lines.push(bytes);
    }

    /// The next event, `Ok(None)` when more bytes are needed. After an error the connection
    /// is dead and keeps returning it: close it.
    pub fn next_event(&mut self) -> Result<Option<ClientEvent>, ServerError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        loop {
            let step = match self.lines.next_line() {
                Ok(Some(line)) => ServerLine::parse(&line).and_then(|line| self.handle(line)),
                Ok(None) => return Ok(None),
                Err(too_long) => Err(ServerError::LineTooLong { limit: too_long.0 }),
            };
            match step {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(error) => {
                    self.failed = Some(error.clone());
                    return Err(error);
                }
            }
        }
    }

    /// Marks the connection dead for a reason found outside: end of file
    /// ([`ServerError::Closed`]), a timeout, a write error. Later calls fail with `why`;
    /// requests in progress will get no reply.
    pub fn close(&mut self, why: ServerError) {
        self.failed.get_or_insert(why);
    }

    /// Takes the bytes to send to the server.
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether the handshake is complete and requests may be sent.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready && self.failed.is_none()
    }

    /// The mechanisms the server offered, in its order (including `private` ones).
    pub fn mechanisms(&self) -> &[OfferedMechanism] {
        &self.mechanisms
    }

    /// The offered mechanism called `name` (case-insensitive), unless it is `private`.
    pub fn mechanism(&self, name: &str) -> Option<&OfferedMechanism> {
        self.mechanisms
            .iter()
            .find(|mechanism| !mechanism.private && mechanism.name.eq_ignore_ascii_case(name))
    }

    /// The names to announce in EHLO's `AUTH`: offered, not `private`, not `anonymous`
    /// (Postfix's default `noanonymous`), and plaintext ones only if `allow_plaintext` (the
    /// session is TLS, or the admin allows it).
    pub fn smtp_mechanisms(&self, allow_plaintext: bool) -> Vec<String> {
        self.mechanisms
            .iter()
            .filter(|m| !m.private && !m.anonymous && (allow_plaintext || !m.plaintext))
            .map(|m| m.name.clone())
            .collect()
    }

    /// `SPID`: the auth server's process id.
    pub fn server_pid(&self) -> Option<u32> {
        self.server_pid
    }

    /// `CUID`: this connection's id at the server.
    pub fn connection_uid(&self) -> Option<u32> {
        self.connection_uid
    }

    /// `COOKIE` (for a master process; an MTA has no use for it).
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// The server's minor protocol version.
    pub fn server_minor_version(&self) -> u32 {
        self.server_minor
    }

    /// Requests sent and not yet finished (including given-up ones the server still owes an
    /// answer).
    pub fn in_progress(&self) -> usize {
        self.requests.len()
    }

    /// Sends `AUTH` for `mechanism` with the raw (not yet base64) initial response, if the
    /// client gave one (`Some(b"")` is an empty one). Returns the request id that the
    /// server's [`ServerReply`] will carry.
    ///
    /// When all request slots are taken, the oldest request waiting for its client is given
    /// up first (an SMTP client that went away mid-exchange leaves one behind).
    pub fn begin(
        &mut self,
        mechanism: &str,
        params: &AuthParams,
        initial: Option<&[u8]>,
    ) -> Result<u32, RequestError> {
        self.check_usable()?;
        let name = self
            .mechanism(mechanism)
            .map(|offered| offered.name.clone())
            .ok_or_else(|| RequestError::UnsupportedMechanism(truncate(mechanism)))?;
        let id = self.next_id();
        let mut line = Vec::new();
        request::auth(&mut line, id, &name, params, initial);
        self.check_length(&line)?;
        self.make_room()?;
        self.last_id = id;
        self.output.extend_from_slice(&line);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.requests.insert(
            id,
            Request {
                awaiting: Await::Server,
                seq,
            },
        );
        Ok(id)
    }

    /// Answers the server's `CONT` for request `id` with raw (not yet base64) `data`.
    pub fn respond(&mut self, id: u32, data: &[u8]) -> Result<(), RequestError> {
        self.check_usable()?;
        let mut line = Vec::new();
        request::cont(&mut line, id, data);
        self.check_length(&line)?;
        match self.requests.get_mut(&id) {
            Some(request) if request.awaiting == Await::Client => {
                request.awaiting = Await::Server;
                self.output.extend_from_slice(&line);
                Ok(())
            }
            _ => Err(RequestError::NotAwaitingResponse(id)),
        }
    }

    /// Gives up request `id` (the SMTP client cancelled, or went away). Nothing is sent:
    /// Postfix does the same, Dovecot times such requests out quietly, and our own server
    /// drops them when it needs the room. A reply the server still owes is dropped.
    pub fn abandon(&mut self, id: u32) {
        match self.requests.get_mut(&id) {
            Some(request) if request.awaiting == Await::Server => request.awaiting = Await::Nobody,
            Some(_) => {
                self.requests.remove(&id);
            }
            None => {}
        }
    }

    fn check_usable(&self) -> Result<(), RequestError> {
        if let Some(error) = &self.failed {
            return Err(RequestError::ConnectionFailed(error.clone()));
        }
        if self.phase != Phase::Ready {
            return Err(RequestError::NotReady);
        }
        Ok(())
    }

    fn check_length(&self, line: &[u8]) -> Result<(), RequestError> {
        // Without the LF, as the server counts.
        if line.len().saturating_sub(1) > self.options.max_line {
            return Err(RequestError::LineTooLong {
                limit: self.options.max_line,
            });
        }
        Ok(())
    }

    /// The id after the last one, skipping 0 and ids still in use after a wrap-around.
    fn next_id(&self) -> u32 {
        let mut id = self.last_id;
        loop {
            id = id.wrapping_add(1);
            if id != 0 && !self.requests.contains_key(&id) {
                return id;
            }
        }
    }

    fn make_room(&mut self) -> Result<(), RequestError> {
        if self.requests.len() < self.options.max_requests {
            return Ok(());
        }
        let oldest = self
            .requests
            .iter()
            .filter(|(_, request)| request.awaiting == Await::Client)
            .min_by_key(|(_, request)| request.seq)
            .map(|(&id, _)| id);
        match oldest {
            Some(id) => {
                self.requests.remove(&id);
                Ok(())
            }
            None => Err(RequestError::TooManyRequests {
                limit: self.options.max_requests,
            }),
        }
    }

    fn handle(&mut self, line: ServerLine) -> Result<Option<ClientEvent>, ServerError> {
        if self.phase == Phase::Version {
            let ServerLine::Version { major, minor } = line else {
                return Err(ServerError::MissingVersion);
            };
            if major != MAJOR_VERSION {
                return Err(ServerError::VersionMismatch { major });
            }
            self.server_minor = minor;
            self.phase = Phase::Handshake;
            return Ok(None);
        }
        let handshake = self.phase == Phase::Handshake;
        match line {
            ServerLine::Version { .. } => Err(repeated("VERSION")),
            ServerLine::Mech(_) if !handshake => Err(repeated("MECH")),
            ServerLine::Mech(mechanism) => {
                if self.mechanisms.len() >= MAX_MECHANISMS {
                    return Err(ServerError::TooManyMechanisms {
                        limit: MAX_MECHANISMS,
                    });
                }
                let known = self
                    .mechanisms
                    .iter()
                    .any(|m| m.name.eq_ignore_ascii_case(&mechanism.name));
                if !known {
                    self.mechanisms.push(mechanism);
                }
                Ok(None)
            }
            ServerLine::Spid(_) if !handshake => Err(repeated("SPID")),
            ServerLine::Spid(pid) => {
                self.server_pid = Some(pid);
                Ok(None)
            }
            ServerLine::Cuid(_) if !handshake => Err(repeated("CUID")),
            ServerLine::Cuid(uid) => {
                self.connection_uid = Some(uid);
                Ok(None)
            }
            ServerLine::Cookie(_) if !handshake => Err(repeated("COOKIE")),
            ServerLine::Cookie(cookie) => {
                self.cookie = Some(cookie);
                Ok(None)
            }
            ServerLine::Done if !handshake => Err(repeated("DONE")),
            ServerLine::Done => {
                self.phase = Phase::Ready;
                Ok(Some(ClientEvent::Ready))
            }
            ServerLine::Cont { id, challenge } => self.reply(id, Outcome::Continue(challenge)),
            ServerLine::Ok { id, success } => self.reply(id, Outcome::Success(success)),
            ServerLine::Fail { id, failure } => self.reply(id, Outcome::Failure(failure)),
            ServerLine::Unknown => Ok(None),
        }
    }

    /// Books a reply to request `id`; a `CONT` keeps the request open.
    fn reply(&mut self, id: u32, outcome: Outcome) -> Result<Option<ClientEvent>, ServerError> {
        let Some(request) = self.requests.get_mut(&id) else {
            return Err(ServerError::UnknownRequest(id));
        };
        let cont = matches!(outcome, Outcome::Continue(_));
        match request.awaiting {
            // A given-up request: a CONT leaves it waiting for a CONT that never comes, which
            // the server times out; either way we are done with it.
            Await::Nobody => {
                self.requests.remove(&id);
                return Ok(None);
            }
            // A FAIL may end a request at any time (a server timing it out, say); OK or CONT
            // for a request that owes us nothing is a broken server.
            Await::Client if !matches!(outcome, Outcome::Failure(_)) => {
                return Err(ServerError::UnexpectedReply(id));
            }
            Await::Server if cont => request.awaiting = Await::Client,
            Await::Client | Await::Server => {
                self.requests.remove(&id);
            }
        }
        Ok(Some(ClientEvent::Reply(ServerReply { id, outcome })))
    }
}

impl fmt::Debug for AuthClient {
    /// Without the pending output: it may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthClient")
            .field("phase", &self.phase)
            .field("mechanisms", &self.mechanisms)
            .field("requests", &self.requests)
            .field("last_id", &self.last_id)
            .field("output_len", &self.output.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

fn repeated(command: &'static str) -> ServerError {
    ServerError::RepeatedHandshake { command }
}

/// A mechanism name for an error message: the caller's input, so bounded.
fn truncate(name: &str) -> String {
    name.chars().take(32).collect()
}
