//! Misuse of the session API by its caller (the peer's mistakes are replies, not errors).

/// A reply given when the session was not waiting for one, or with the wrong count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// No event is waiting for a reply.
    #[error("no event is waiting for a reply")]
    NothingPending,
    /// `reply_per_recipient` outside the end of data.
    #[error("per-recipient replies are only for the end of data")]
    NotAtDataEnd,
    /// LMTP end of data needs one reply per accepted recipient.
    #[error("{expected} replies expected, {given} given")]
    WrongCount {
        /// Accepted recipients (1 in SMTP).
        expected: usize,
        /// Replies given.
        given: usize,
    },
}
