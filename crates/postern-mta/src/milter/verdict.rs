//! What the chain tells the SMTP session after each stage. The replies a milter may dictate
//! (`SMFIR_REPLYCODE`) are checked by the milter crate's [`MilterReply`].

pub use milter::replycode::MilterReply;

/// The chain's decision after a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the next stage.
    Continue,
    /// No milter wants more of this message (or, after connect/HELO, of this session): the
    /// session may stop calling stage methods until the next message. Mail is accepted.
    Accept,
    /// Refuse what was just sent (the connection, the sender, this recipient, the message)
    /// with this 5xx reply.
    Reject(MilterReply),
    /// Refuse it with this 4xx reply.
    TempFail(MilterReply),
    /// Answer the client as if accepted, then drop the message. Sticky until the message ends.
    Discard,
    /// Reply with this 421 and close the SMTP connection (`SMFIR_SHUTDOWN`, `SMFIR_CONN_FAIL`).
    Disconnect(MilterReply),
}

impl Verdict {
    /// Whether the session may carry on (`Continue` or `Accept`).
    pub fn proceeds(&self) -> bool {
        matches!(self, Verdict::Continue | Verdict::Accept)
    }

    /// The SMTP reply to give, if this verdict refuses.
    pub fn reply(&self) -> Option<&MilterReply> {
        match self {
            Verdict::Reject(reply) | Verdict::TempFail(reply) | Verdict::Disconnect(reply) => {
                Some(reply)
            }
            Verdict::Continue | Verdict::Accept | Verdict::Discard => None,
        }
    }
}
