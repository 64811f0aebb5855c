//! What became of each recipient of a transaction: accepted, temporarily failed (retry later)
//! or permanently failed (bounce), with the reply and the command it answered.

use std::fmt;

use super::error::{ClientError, Stage};
use crate::address::ForwardPath;
use crate::reply::Reply;

/// Why a recipient was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server's 4xx/5xx reply to `stage` (in LMTP the end-of-data reply may be this
    /// recipient's own).
    Reply {
        /// The command the reply answered.
        stage: Stage,
        /// The reply.
        reply: Reply,
    },
    /// The connection failed during `stage`, before the server's final word on this
    /// recipient. After the end of data was sent the message may have been delivered anyway
    /// (RFC 1047); retrying is still the only safe choice.
    Connection {
        /// What was going on.
        stage: Stage,
        /// Why the connection failed.
        error: ClientError,
    },
}

impl Failure {
    /// The step at which the recipient failed.
    pub fn stage(&self) -> Stage {
        match self {
            Self::Reply { stage, .. } | Self::Connection { stage, .. } => *stage,
        }
    }

    /// The server's reply, if it gave one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Reply { reply, .. } => Some(reply),
            Self::Connection { .. } => None,
        }
    }
}

impl fmt::Display for Failure {
    /// Postfix-style, for logs and bounce texts: `550 5.1.1 User unknown (in reply to RCPT TO)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reply { stage, reply } => write!(f, "{reply} (in reply to {stage})"),
            Self::Connection { stage, error } => write!(f, "{error} (during {stage})"),
        }
    }
}

/// The outcome for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientStatus {
    /// A 2xx final reply: the server took responsibility for the message.
    Accepted(Reply),
    /// A 4xx reply or a broken connection: deliver again later.
    TempFailed(Failure),
    /// A 5xx reply: do not retry; bounce.
    PermFailed(Failure),
}

impl RecipientStatus {
    /// Classifies a reply to `stage` by its code. Only called with 2xx, 4xx or 5xx.
    pub(super) fn from_reply(stage: Stage, reply: &Reply) -> Self {
        let failure = || Failure::Reply {
            stage,
            reply: reply.clone(),
        };
        if reply.is_success() {
            Self::Accepted(reply.clone())
        } else if reply.is_permanent() {
            Self::PermFailed(failure())
        } else {
            Self::TempFailed(failure())
        }
    }

    /// Whether the server took the message for this recipient.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted(_))
    }

    /// Whether to retry later.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::TempFailed(_))
    }

    /// Whether to bounce.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::PermFailed(_))
    }

    /// The reply behind the outcome, if the server gave one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Accepted(reply) => Some(reply),
            Self::TempFailed(failure) | Self::PermFailed(failure) => failure.reply(),
        }
    }
}

impl fmt::Display for RecipientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted(reply) => write!(f, "accepted: {reply}"),
            Self::TempFailed(failure) => write!(f, "deferred: {failure}"),
            Self::PermFailed(failure) => write!(f, "bounced: {failure}"),
        }
    }
}

/// One recipient of a finished transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The recipient, as in the envelope.
    pub recipient: ForwardPath,
    /// What became of it.
    pub status: RecipientStatus,
}
