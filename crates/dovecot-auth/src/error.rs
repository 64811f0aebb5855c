//! [`ProtocolError`]: what the client did that ends the connection, and [`AnswerError`] for
//! misuse of the answering API.

/// A violation of the auth protocol by the client. After one the session is dead: every later
/// call returns the same error, and the connection should be closed (Dovecot's auth server
/// disconnects in the same cases, logging "BUG: Authentication client ...").
///
/// Problems confined to one request whose id is known are not protocol errors: they are
/// answered with `FAIL` and the connection stays usable (see [`Refusal`](crate::Refusal)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A line exceeded the configured maximum (without its LF).
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The first line was not `VERSION`.
    #[error("client did not start with VERSION")]
    MissingVersion,
    /// The client speaks another major version.
    #[error("client speaks protocol major version {major}, we speak 1")]
    VersionMismatch {
        /// The client's major version.
        major: u32,
    },
    /// `AUTH` or `CONT` before the client sent `CPID`.
    #[error("client sent {command} before CPID")]
    MissingCpid {
        /// The command.
        command: &'static str,
    },
    /// `VERSION` or `CPID` sent a second time.
    #[error("client sent {command} twice")]
    RepeatedHandshake {
        /// The command.
        command: &'static str,
    },
    /// A command with missing or unparsable required fields.
    #[error("malformed {command} line: {reason}")]
    Malformed {
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A command this server does not know (sanitized, truncated to 32 bytes).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// `AUTH` reused the id of a request still in progress.
    #[error("AUTH reuses id {0} of a request in progress")]
    DuplicateId(u32),
    /// More requests in progress than allowed, none of them abandoned.
    #[error("more than {limit} requests in progress")]
    TooManyRequests {
        /// The configured limit.
        limit: usize,
    },
}

/// The caller answered a request that does not await an answer (unknown id, already
/// answered, or failed meanwhile by the session). Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request {0} does not await an answer")]
pub struct AnswerError(pub u32);
