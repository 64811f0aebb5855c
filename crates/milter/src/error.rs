//! The one error type: everything that can be wrong with what the peer sent.

/// A violation of the milter protocol by the peer. After one, the session is unusable: every
/// later call returns the same error, and the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A packet declared length 0 (there must at least be a command byte).
    #[error("packet declares length 0")]
    ZeroLength,
    /// A packet declared a length above the configured limit.
    #[error("packet of {length} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Declared length (command byte plus payload).
        length: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A payload ended before a fixed-size field.
    #[error("{} packet is truncated", show(*.code))]
    Truncated {
        /// Command or reply byte of the packet.
        code: u8,
    },
    /// A string field was not NUL-terminated.
    #[error("{} packet has a string without NUL terminator", show(*.code))]
    MissingNul {
        /// Command or reply byte of the packet.
        code: u8,
    },
    /// Bytes were left over after the last field of a packet.
    #[error("{} packet has unexpected trailing data", show(*.code))]
    TrailingData {
        /// Command or reply byte of the packet.
        code: u8,
    },
    /// A payload is well framed but its contents make no sense.
    #[error("{} packet is malformed: {reason}", show(*.code))]
    Malformed {
        /// Command or reply byte of the packet.
        code: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// An MTA command byte this implementation does not know.
    #[error("unknown command {}", show(*.0))]
    UnknownCommand(u8),
    /// A filter reply byte this implementation does not know.
    #[error("unknown reply {}", show(*.0))]
    UnknownReply(u8),
    /// A CONNECT with an address family other than `U`, `L`, `4`, `6`.
    #[error("unknown address family {}", show(*.0))]
    UnknownFamily(u8),
    /// A command arrived before option negotiation.
    #[error("command {} before option negotiation", show(*.code))]
    NotNegotiated {
        /// The command byte.
        code: u8,
    },
    /// The peer speaks a protocol version we cannot talk to.
    #[error("unsupported milter protocol version {0}")]
    UnsupportedVersion(u32),
    /// The filter asked for actions the MTA did not offer.
    #[error("filter requests actions {requested:#x}, MTA offered {offered:#x}")]
    ActionsNotOffered {
        /// Actions in the filter's OPTNEG reply.
        requested: u32,
        /// Actions the MTA offered.
        offered: u32,
    },
    /// The filter asked for protocol flags the MTA did not offer.
    #[error("filter requests protocol flags {requested:#x}, MTA offered {offered:#x}")]
    ProtocolNotOffered {
        /// Protocol flags in the filter's OPTNEG reply.
        requested: u32,
        /// Protocol flags the MTA offered.
        offered: u32,
    },
    /// The filter sent a reply no command is waiting for, or one not allowed at this step
    /// (a modification outside end-of-message, SKIP outside a body chunk or not negotiated).
    #[error("unexpected reply {}", show(*.code))]
    UnexpectedReply {
        /// The reply byte.
        code: u8,
    },
    /// The filter sent a modification whose action was not negotiated.
    #[error("reply {} needs an action that was not negotiated", show(*.code))]
    ActionNotNegotiated {
        /// The reply byte.
        code: u8,
    },
}

/// Command bytes are letters on the wire; print them as such, anything else as hex.
fn show(code: u8) -> String {
    if code.is_ascii_graphic() {
        format!("'{}'", char::from(code))
    } else {
        format!("{code:#04x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_name_the_command() {
        assert_eq!(
            ProtocolError::UnknownCommand(b'Z').to_string(),
            "unknown command 'Z'"
        );
        assert_eq!(
            ProtocolError::UnknownReply(0).to_string(),
            "unknown reply 0x00"
        );
        assert_eq!(
            ProtocolError::MissingNul { code: b'H' }.to_string(),
            "'H' packet has a string without NUL terminator"
        );
    }
}
