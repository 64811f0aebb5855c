//! What the session tells its caller: [`Event`]s, with the accepted [`Recipient`]s and the
//! reasons the session itself refuses a message.

use crate::address::{ForwardPath, PathFlags, ReversePath};
use crate::command::HelloVerb;
use crate::params::{MailParams, RcptParams};
use crate::secret::Secret;

/// Largest [`Event::DataChunk`], so that one huge `receive` still gives bounded events.
pub const MAX_CHUNK: usize = 64 * 1024;

/// Why a message was refused by the session itself; the reply has already been queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAbort {
    /// Over `max_message_size`: 552 5.3.4.
    TooLarge,
    /// A bare CR or LF under [`crate::BareLineEndsInData::Reject`]: 550 5.6.0.
    BareLineEnd,
}

/// An accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The forward path.
    pub path: ForwardPath,
    /// Legacy routing forms found in it.
    pub flags: PathFlags,
    /// ESMTP parameters.
    pub params: RcptParams,
}

/// What the client did. Events marked "reply" wait for [`crate::ServerSession::reply`] or
/// [`crate::ServerSession::accept`]; until then no further event comes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// HELO/EHLO/LHLO (reply). Any open transaction has been discarded.
    Hello {
        /// Which verb.
        verb: HelloVerb,
        /// The client's name for itself, unchecked (see [`crate::Host::parse`]).
        host: String,
    },
    /// MAIL FROM (reply): a 2xx opens the transaction.
    Mail {
        /// Sender.
        from: ReversePath,
        /// Legacy routing forms in the path.
        flags: PathFlags,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// RCPT TO (reply): a 2xx adds the recipient.
    Rcpt {
        /// Recipient.
        to: ForwardPath,
        /// Legacy routing forms in the path.
        flags: PathFlags,
        /// ESMTP parameters.
        params: RcptParams,
    },
    /// The message body starts (DATA was answered 354, or the first BDAT arrived).
    DataStart,
    /// Message bytes, dot-unstuffed, in order; at most [`MAX_CHUNK`].
    DataChunk(Vec<u8>),
    /// The message is complete (reply; in LMTP one per accepted recipient, see
    /// [`crate::ServerSession::reply_per_recipient`]). The transaction ends with the reply.
    DataEnd {
        /// Octets received.
        size: u64,
    },
    /// The session refused the message and replied itself; drop what was received. The
    /// transaction is over.
    DataAborted(DataAbort),
    /// RSET: the transaction is discarded.
    Reset,
    /// VRFY (reply; [`crate::ServerSession::accept`] sends 252).
    Vrfy(String),
    /// STARTTLS (reply). After a 2xx, write the output, then run the TLS handshake; input
    /// buffered after the command has been dropped (no plaintext injection) and the client
    /// must greet again.
    StartTls,
    /// AUTH (reply): 235 authenticates, 334 with a challenge continues, anything else fails.
    Auth {
        /// Mechanism, upper case, one of those offered.
        mechanism: String,
        /// Initial response as sent (`=` means empty).
        initial: Option<Secret>,
    },
    /// A SASL continuation line after a 334 (reply, as for `Auth`).
    AuthResponse(Secret),
    /// The client cancelled the SASL exchange (`*`), or broke it; the session replied.
    AuthCancelled,
    /// QUIT: 221 has been queued and the session is closed.
    Quit,
}

impl Event {
    /// Whether the session waits for a reply to this event.
    pub fn needs_reply(&self) -> bool {
        matches!(
            self,
            Self::Hello { .. }
                | Self::Mail { .. }
                | Self::Rcpt { .. }
                | Self::DataEnd { .. }
                | Self::Vrfy(_)
                | Self::StartTls
                | Self::Auth { .. }
                | Self::AuthResponse(_)
        )
    }
}
