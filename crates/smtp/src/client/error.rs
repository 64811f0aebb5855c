//! What can go wrong on the client side: the server broke the protocol ([`ProtocolError`]),
//! the connection is unusable ([`ClientError`]), or the caller asked for something the
//! session or the server cannot do now ([`StartError`], [`UsageError`]).

use std::fmt;

use crate::reply::Reply;

/// The command (or step) a reply answered, for logs and bounce texts
/// ("... in reply to RCPT TO").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The server's greeting.
    Greeting,
    /// EHLO, HELO or LHLO.
    Hello,
    /// STARTTLS.
    StartTls,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// The DATA command (before the message).
    Data,
    /// The message itself: sending it, or a BDAT chunk before the last.
    Body,
    /// The end of the message (`.` or BDAT LAST): the final reply.
    EndOfData,
    /// RSET.
    Reset,
    /// QUIT.
    Quit,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Greeting => "greeting",
            Self::Hello => "EHLO/LHLO",
            Self::StartTls => "STARTTLS",
            Self::Mail => "MAIL FROM",
            Self::Rcpt => "RCPT TO",
            Self::Data => "DATA",
            Self::Body => "message data",
            Self::EndOfData => "end of data",
            Self::Reset => "RSET",
            Self::Quit => "QUIT",
        })
    }
}

/// The server sent something that is not a valid reply, or not at a valid time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply line longer than the limit (line end included).
    #[error("reply line longer than {limit} octets")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A multi-line reply with more lines than the limit.
    #[error("reply of more than {limit} lines")]
    TooManyLines {
        /// The limit in force.
        limit: usize,
    },
    /// A line that does not start with a reply code 200..=599 and a space, a dash or its end.
    #[error("malformed reply line")]
    MalformedLine,
    /// The lines of one multi-line reply carry different codes.
    #[error("reply code {then} inside a multi-line {first} reply")]
    CodeMismatch {
        /// The first line's code.
        first: u16,
        /// The disagreeing line's code.
        then: u16,
    },
    /// A reply when no command was waiting for one.
    #[error("unsolicited {code} reply")]
    Unsolicited {
        /// Its code.
        code: u16,
    },
    /// A positive reply of the wrong kind, e.g. 354 to MAIL or 250 to DATA.
    #[error("{code} is not a valid reply to {stage}")]
    Unexpected {
        /// The command it answered.
        stage: Stage,
        /// Its code.
        code: u16,
    },
}

/// Why the connection cannot be used any more. Recipients still undecided when it happens are
/// reported as temporarily failed first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server refused a step the connection depends on (greeting, EHLO/LHLO, RSET).
    #[error("{stage} refused: {reply}")]
    Rejected {
        /// The step.
        stage: Stage,
        /// The server's reply.
        reply: Reply,
    },
    /// The server is closing the connection (421).
    #[error("server closing the connection: {0}")]
    Closing(Reply),
    /// The server closed the connection (end of file), as reported by the caller.
    #[error("connection closed by the server")]
    Closed,
    /// The caller gave up waiting.
    #[error("timed out")]
    TimedOut,
    /// Reading or writing failed, as reported by the caller.
    #[error("I/O error: {0}")]
    Io(std::io::ErrorKind),
}

/// Why [`ClientSession::start`](super::ClientSession::start) refused an envelope. Nothing
/// was sent; the connection is still usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The session is not idle: still greeting, in a transaction, or closed.
    #[error("the session is not ready for a transaction")]
    NotReady,
    /// An envelope without recipients.
    #[error("no recipients")]
    NoRecipients,
    /// `SIZE=` over the limit the server announced (RFC 1870): a permanent failure.
    #[error("message size {size} exceeds the server's limit of {limit}")]
    TooLarge {
        /// The envelope's `SIZE=`.
        size: u64,
        /// The server's `SIZE` limit.
        limit: u64,
    },
    /// `SMTPUTF8` or a non-ASCII address, and the server does not offer SMTPUTF8 (RFC 6531 3.4:
    /// bounce or downgrade).
    #[error("the server does not offer SMTPUTF8")]
    NeedsSmtputf8,
    /// `BODY=8BITMIME` and the server does not offer 8BITMIME (RFC 6152: convert, or clear
    /// `body` to send as is).
    #[error("the server does not offer 8BITMIME")]
    NeedsEightBitMime,
    /// `BODY=BINARYMIME` without BINARYMIME, CHUNKING and PIPELINING on both sides.
    #[error("the server does not offer BINARYMIME with CHUNKING and PIPELINING")]
    NeedsBinaryMime,
    /// A path or parameter that would put a control character on the command line.
    #[error("the envelope contains control characters")]
    InvalidEnvelope,
}

/// A call that does not fit the session's state (a bug in the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The session cannot do this now (busy, in TLS handshake, or closed).
    #[error("not possible in the session's current state")]
    NotReady,
    /// Message data outside [`ClientEvent::SendBody`](super::ClientEvent::SendBody) ..
    /// `finish_body`.
    #[error("no message body is expected now")]
    NotSendingBody,
}
