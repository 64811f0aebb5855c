//! [`ServerError`]: what the auth server did that ends the connection, and [`RequestError`]
//! for requests this client would not send.

/// Why an auth connection is no longer usable: mostly a violation of the protocol by the
/// server, or what the caller reported with [`AuthClient::close`](super::AuthClient::close).
/// After one the connection is dead: every later call returns the same error; close it,
/// fail the exchanges in progress with a temporary error, and reconnect (Dovecot's own
/// client library disconnects in the same cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The server closed the connection (reported by the caller).
    #[error("auth server closed the connection")]
    Closed,
    /// The server did not answer in time (reported by the caller).
    #[error("auth server did not answer in time")]
    TimedOut,
    /// A line exceeded the configured maximum (without its LF).
    #[error("auth server sent a line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The first line was not `VERSION`.
    #[error("auth server did not start with VERSION")]
    MissingVersion,
    /// The server speaks another major version.
    #[error("auth server speaks protocol major version {major}, we speak 1")]
    VersionMismatch {
        /// The server's major version.
        major: u32,
    },
    /// A handshake line (`VERSION`, `MECH`, `SPID`, `CUID`, `COOKIE`, `DONE`) where none
    /// belongs: a second `VERSION`, or anything of the handshake after `DONE`.
    #[error("auth server sent {command} again or after DONE")]
    RepeatedHandshake {
        /// The command.
        command: &'static str,
    },
    /// The server offered more mechanisms than anyone has.
    #[error("auth server offered more than {limit} mechanisms")]
    TooManyMechanisms {
        /// The limit.
        limit: usize,
    },
    /// A line with missing or unparsable fields.
    #[error("malformed {command} line from auth server: {reason}")]
    Malformed {
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A reply for a request id this client never sent, or that was already answered.
    #[error("auth server replied to unknown request {0}")]
    UnknownRequest(u32),
    /// `OK` or `CONT` for a request that waits for the client's `CONT`.
    #[error("auth server replied to request {0}, which awaits our continuation")]
    UnexpectedReply(u32),
    /// `CONT` or `resp=` data that is not base64.
    #[error("auth server sent invalid base64 for request {id}")]
    InvalidBase64 {
        /// The request.
        id: u32,
    },
}

/// Why [`AuthClient`](super::AuthClient) did not send a request, or an exchange refused a
/// call. Nothing was sent, and the connection is still usable unless it had failed before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The server's handshake is not complete yet.
    #[error("auth server handshake not complete")]
    NotReady,
    /// The connection failed earlier (see [`ServerError`]).
    #[error("auth connection failed: {0}")]
    ConnectionFailed(ServerError),
    /// The server did not offer this mechanism (Dovecot would drop the connection).
    #[error("auth server does not offer mechanism {0:?}")]
    UnsupportedMechanism(String),
    /// As many requests are waiting for the server as allowed.
    #[error("more than {limit} requests in progress")]
    TooManyRequests {
        /// The configured limit.
        limit: usize,
    },
    /// The line would exceed the configured maximum (the server would drop the connection).
    #[error("request line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// No request with this id waits for the client's continuation.
    #[error("request {0} does not await a continuation")]
    NotAwaitingResponse(u32),
    /// A reply for another request was given to an exchange.
    #[error("reply for request {got} given to the exchange of request {expected}")]
    WrongRequest {
        /// The exchange's request.
        expected: u32,
        /// The reply's request.
        got: u32,
    },
    /// The exchange is not waiting for this: a reply while it waits for the SMTP client, a
    /// response while it waits for the server, or anything after it ended.
    #[error("SMTP AUTH exchange does not expect this now")]
    OutOfTurn,
}
