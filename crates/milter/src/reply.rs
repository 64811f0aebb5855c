//! Filter-to-MTA replies (`SMFIR_*`), including message modifications: the typed [`Reply`],
//! parsed from and encoded to packets. The OPTNEG answer is [`crate::OptNeg`], not a `Reply`.

use crate::options::Actions;
use crate::wire::{Reader, put_cstr, put_u32};
use crate::{ProtocolError, frame};

/// `SMFIR_*` reply bytes.
pub mod code {
    /// `SMFIR_ADDRCPT`
    pub const ADDRCPT: u8 = b'+';
    /// `SMFIR_DELRCPT`
    pub const DELRCPT: u8 = b'-';
    /// `SMFIR_ADDRCPT_PAR`
    pub const ADDRCPT_PAR: u8 = b'2';
    /// `SMFIR_SHUTDOWN`
    pub const SHUTDOWN: u8 = b'4';
    /// `SMFIR_ACCEPT`
    pub const ACCEPT: u8 = b'a';
    /// `SMFIR_REPLBODY`
    pub const REPLBODY: u8 = b'b';
    /// `SMFIR_CONTINUE`
    pub const CONTINUE: u8 = b'c';
    /// `SMFIR_DISCARD`
    pub const DISCARD: u8 = b'd';
    /// `SMFIR_CHGFROM`
    pub const CHGFROM: u8 = b'e';
    /// `SMFIR_CONN_FAIL`
    pub const CONN_FAIL: u8 = b'f';
    /// `SMFIR_ADDHEADER`
    pub const ADDHEADER: u8 = b'h';
    /// `SMFIR_INSHEADER`
    pub const INSHEADER: u8 = b'i';
    /// `SMFIR_SETSYMLIST` (only ever inside OPTNEG; not a reply on its own)
    pub const SETSYMLIST: u8 = b'l';
    /// `SMFIR_CHGHEADER`
    pub const CHGHEADER: u8 = b'm';
    /// `SMFIR_PROGRESS`
    pub const PROGRESS: u8 = b'p';
    /// `SMFIR_QUARANTINE`
    pub const QUARANTINE: u8 = b'q';
    /// `SMFIR_REJECT`
    pub const REJECT: u8 = b'r';
    /// `SMFIR_SKIP`
    pub const SKIP: u8 = b's';
    /// `SMFIR_TEMPFAIL`
    pub const TEMPFAIL: u8 = b't';
    /// `SMFIR_REPLYCODE`
    pub const REPLYCODE: u8 = b'y';
    /// The OPTNEG answer shares the command byte `O`.
    pub const OPTNEG: u8 = b'O';
}

/// One filter-to-MTA reply or modification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `c`: go on.
    Continue,
    /// `a`: accept; no more events for this message (or connection, at CONNECT/HELO).
    Accept,
    /// `r`: reject.
    Reject,
    /// `t`: temporary failure.
    TempFail,
    /// `d`: accept and silently discard the message.
    Discard,
    /// `y`: reject or tempfail with this SMTP reply, e.g. `550 5.7.1 text`.
    ReplyCode(Vec<u8>),
    /// `s`: skip the rest of the body (only if `SMFIP_SKIP` was negotiated).
    Skip,
    /// `p`: still working, restart the MTA's timeout; not a final reply.
    Progress,
    /// `q`: quarantine the message with this reason; not a final reply.
    Quarantine(Vec<u8>),
    /// `f`: make the SMTP connection fail.
    ConnFail,
    /// `4`: 421 shutdown.
    Shutdown,
    /// `h`: append a header.
    AddHeader {
        /// Header name.
        name: Vec<u8>,
        /// Header value.
        value: Vec<u8>,
    },
    /// `i`: insert a header at `index` (0 = top).
    InsertHeader {
        /// Position among the headers, 0 = first.
        index: u32,
        /// Header name.
        name: Vec<u8>,
        /// Header value.
        value: Vec<u8>,
    },
    /// `m`: change the `index`-th (1-based) header called `name`; an empty value deletes it.
    ChangeHeader {
        /// Occurrence of `name`, 1 = first (Postfix also takes 0 as 1).
        index: u32,
        /// Header name.
        name: Vec<u8>,
        /// New value; empty deletes the header.
        value: Vec<u8>,
    },
    /// `+`: add a recipient.
    AddRcpt(Vec<u8>),
    /// `2`: add a recipient with ESMTP arguments.
    AddRcptWithArgs {
        /// The recipient.
        rcpt: Vec<u8>,
        /// ESMTP arguments, possibly empty.
        args: Vec<u8>,
    },
    /// `-`: delete a recipient.
    DeleteRcpt(Vec<u8>),
    /// `e`: replace the envelope sender.
    ChangeFrom {
        /// The new sender.
        from: Vec<u8>,
        /// ESMTP arguments.
        args: Option<Vec<u8>>,
    },
    /// `b`: one chunk of the replacement body.
    ReplaceBody(Vec<u8>),
}

impl Reply {
    /// The `SMFIR_*` byte.
    pub fn code(&self) -> u8 {
        match self {
            Reply::Continue => code::CONTINUE,
            Reply::Accept => code::ACCEPT,
            Reply::Reject => code::REJECT,
            Reply::TempFail => code::TEMPFAIL,
            Reply::Discard => code::DISCARD,
            Reply::ReplyCode(_) => code::REPLYCODE,
            Reply::Skip => code::SKIP,
            Reply::Progress => code::PROGRESS,
            Reply::Quarantine(_) => code::QUARANTINE,
            Reply::ConnFail => code::CONN_FAIL,
            Reply::Shutdown => code::SHUTDOWN,
            Reply::AddHeader { .. } => code::ADDHEADER,
            Reply::InsertHeader { .. } => code::INSHEADER,
            Reply::ChangeHeader { .. } => code::CHGHEADER,
            Reply::AddRcpt(_) => code::ADDRCPT,
            Reply::AddRcptWithArgs { .. } => code::ADDRCPT_PAR,
            Reply::DeleteRcpt(_) => code::DELRCPT,
            Reply::ChangeFrom { .. } => code::CHGFROM,
            Reply::ReplaceBody(_) => code::REPLBODY,
        }
    }

    /// Whether this reply ends the MTA's wait for the current command. `Progress` and
    /// `Quarantine` do not, nor do the modifications.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Reply::Continue
                | Reply::Accept
                | Reply::Reject
                | Reply::TempFail
                | Reply::Discard
                | Reply::ReplyCode(_)
                | Reply::Skip
                | Reply::ConnFail
                | Reply::Shutdown
        )
    }

    /// The action that must have been negotiated for this reply, if it is a modification.
    pub fn required_action(&self) -> Option<Actions> {
        Some(match self {
            Reply::AddHeader { .. } | Reply::InsertHeader { .. } => Actions::ADD_HEADERS,
            Reply::ChangeHeader { .. } => Actions::CHANGE_HEADERS,
            Reply::AddRcpt(_) => Actions::ADD_RCPT,
            Reply::AddRcptWithArgs { .. } => Actions::ADD_RCPT_WITH_ARGS,
            Reply::DeleteRcpt(_) => Actions::DELETE_RCPT,
            Reply::ChangeFrom { .. } => Actions::CHANGE_FROM,
            Reply::ReplaceBody(_) => Actions::CHANGE_BODY,
            Reply::Quarantine(_) => Actions::QUARANTINE,
            _ => return None,
        })
    }

    /// Whether this is a message modification, valid only in reply to end-of-message.
    pub fn is_modification(&self) -> bool {
        self.required_action().is_some() && !matches!(self, Reply::Quarantine(_))
    }

    /// Parses one packet's reply byte and payload.
    pub fn parse(code: u8, payload: &[u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(code, payload);
        let reply = match code {
            code::CONTINUE => Reply::Continue,
            code::ACCEPT => Reply::Accept,
            code::REJECT => Reply::Reject,
            code::TEMPFAIL => Reply::TempFail,
            code::DISCARD => Reply::Discard,
            code::SKIP => Reply::Skip,
            code::PROGRESS => Reply::Progress,
            code::CONN_FAIL => Reply::ConnFail,
            code::SHUTDOWN => Reply::Shutdown,
            code::REPLYCODE => Reply::ReplyCode(reader.cstr()?.to_vec()),
            code::QUARANTINE => Reply::Quarantine(reader.cstr()?.to_vec()),
            code::ADDHEADER => {
                let name = reader.cstr()?.to_vec();
                Reply::AddHeader {
                    name,
                    value: reader.cstr()?.to_vec(),
                }
            }
            code::INSHEADER | code::CHGHEADER => {
                let index = reader.u32()?;
                let name = reader.cstr()?.to_vec();
                let value = reader.cstr()?.to_vec();
                if code == code::INSHEADER {
                    Reply::InsertHeader { index, name, value }
                } else {
                    Reply::ChangeHeader { index, name, value }
                }
            }
            code::ADDRCPT => Reply::AddRcpt(reader.cstr()?.to_vec()),
            code::DELRCPT => Reply::DeleteRcpt(reader.cstr()?.to_vec()),
            code::ADDRCPT_PAR => {
                let rcpt = reader.cstr()?.to_vec();
                let args = if reader.is_empty() {
                    Vec::new()
                } else {
                    reader.cstr()?.to_vec()
                };
                Reply::AddRcptWithArgs { rcpt, args }
            }
            code::CHGFROM => {
                let from = reader.cstr()?.to_vec();
                let args = if reader.is_empty() {
                    None
                } else {
                    Some(reader.cstr()?.to_vec())
                };
                Reply::ChangeFrom { from, args }
            }
            code::REPLBODY => Reply::ReplaceBody(reader.rest().to_vec()),
            other => return Err(ProtocolError::UnknownReply(other)),
        };
        reader.finish()?;
        Ok(reply)
    }

    /// Appends the framed packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        frame::encode_with(self.code(), out, |out| self.encode_payload(out));
    }

    /// Appends the payload (without framing) to `out`.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Continue
            | Reply::Accept
            | Reply::Reject
            | Reply::TempFail
            | Reply::Discard
            | Reply::Skip
            | Reply::Progress
            | Reply::ConnFail
            | Reply::Shutdown => {}
            Reply::ReplyCode(text)
            | Reply::Quarantine(text)
            | Reply::AddRcpt(text)
            | Reply::DeleteRcpt(text) => {
                put_cstr(out, text);
            }
            Reply::AddHeader { name, value } => {
                put_cstr(out, name);
                put_cstr(out, value);
            }
            Reply::InsertHeader { index, name, value }
            | Reply::ChangeHeader { index, name, value } => {
                put_u32(out, *index);
                put_cstr(out, name);
                put_cstr(out, value);
            }
            Reply::AddRcptWithArgs { rcpt, args } => {
                put_cstr(out, rcpt);
                put_cstr(out, args);
            }
            Reply::ChangeFrom { from, args } => {
                put_cstr(out, from);
                if let Some(args) = args {
                    put_cstr(out, args);
                }
            }
            Reply::ReplaceBody(chunk) => out.extend_from_slice(chunk),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_round_trips_through_literal_bytes() {
        let cases: Vec<(Reply, &[u8])> = vec![
            (Reply::Continue, b"c"),
            (Reply::Accept, b"a"),
            (Reply::Reject, b"r"),
            (Reply::TempFail, b"t"),
            (Reply::Discard, b"d"),
            (
                Reply::ReplyCode(b"550 5.7.1 go away".to_vec()),
                b"y550 5.7.1 go away\0",
            ),
            (Reply::Skip, b"s"),
            (Reply::Progress, b"p"),
            (Reply::Quarantine(b"suspicious".to_vec()), b"qsuspicious\0"),
            (Reply::ConnFail, b"f"),
            (Reply::Shutdown, b"4"),
            (
                Reply::AddHeader {
                    name: b"X-A".to_vec(),
                    value: b"1".to_vec(),
                },
                b"hX-A\x001\0",
            ),
            (
                Reply::InsertHeader {
                    index: 0,
                    name: b"DKIM-Signature".to_vec(),
                    value: b"v=1".to_vec(),
                },
                b"i\0\0\0\0DKIM-Signature\0v=1\0",
            ),
            (
                Reply::ChangeHeader {
                    index: 2,
                    name: b"Subject".to_vec(),
                    value: vec![],
                },
                b"m\0\0\0\x02Subject\0\0",
            ),
            (Reply::AddRcpt(b"<c@example>".to_vec()), b"+<c@example>\0"),
            (
                Reply::AddRcptWithArgs {
                    rcpt: b"<c@example>".to_vec(),
                    args: b"NOTIFY=NEVER".to_vec(),
                },
                b"2<c@example>\0NOTIFY=NEVER\0",
            ),
            (
                Reply::DeleteRcpt(b"<d@example>".to_vec()),
                b"-<d@example>\0",
            ),
            (
                Reply::ChangeFrom {
                    from: b"<e@example>".to_vec(),
                    args: None,
                },
                b"e<e@example>\0",
            ),
            (
                Reply::ChangeFrom {
                    from: b"<e@example>".to_vec(),
                    args: Some(b"SIZE=1".to_vec()),
                },
                b"e<e@example>\0SIZE=1\0",
            ),
            (Reply::ReplaceBody(b"new\r\n".to_vec()), b"bnew\r\n"),
        ];
        for (reply, bytes) in cases {
            let (&code, payload) = bytes.split_first().unwrap();
            assert_eq!(reply.code(), code, "{reply:?}");
            assert_eq!(Reply::parse(code, payload).unwrap(), reply, "{reply:?}");
            let mut out = Vec::new();
            reply.encode(&mut out);
            let mut expected = Vec::new();
            frame::encode(code, payload, &mut expected);
            assert_eq!(out, expected, "{reply:?}");
        }
    }

    #[test]
    fn add_rcpt_with_args_may_omit_args() {
        assert_eq!(
            Reply::parse(b'2', b"<c>\0").unwrap(),
            Reply::AddRcptWithArgs {
                rcpt: b"<c>".to_vec(),
                args: vec![]
            }
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        let cases: Vec<(u8, &[u8], ProtocolError)> = vec![
            (b'c', b"x", ProtocolError::TrailingData { code: b'c' }),
            (
                b'y',
                b"550 no nul",
                ProtocolError::MissingNul { code: b'y' },
            ),
            (b'h', b"X-A\0", ProtocolError::MissingNul { code: b'h' }),
            (b'i', b"\0\0", ProtocolError::Truncated { code: b'i' }),
            (
                b'm',
                b"\0\0\0\x01Subject\0",
                ProtocolError::MissingNul { code: b'm' },
            ),
            (
                b'e',
                b"<a>\0b\0c\0",
                ProtocolError::TrailingData { code: b'e' },
            ),
            (b'l', b"", ProtocolError::UnknownReply(b'l')),
            (b'O', b"", ProtocolError::UnknownReply(b'O')),
            (b'C', b"", ProtocolError::UnknownReply(b'C')),
        ];
        for (code, payload, error) in cases {
            assert_eq!(Reply::parse(code, payload), Err(error));
        }
    }

    #[test]
    fn classification() {
        assert!(Reply::Continue.is_final());
        assert!(!Reply::Progress.is_final());
        assert!(!Reply::Quarantine(vec![]).is_final());
        assert!(!Reply::Quarantine(vec![]).is_modification());
        assert!(Reply::ReplaceBody(vec![]).is_modification());
        assert_eq!(
            Reply::DeleteRcpt(vec![]).required_action(),
            Some(Actions::DELETE_RCPT)
        );
        assert_eq!(Reply::Accept.required_action(), None);
    }
}
