//! APPEND, whose message literal is always streamed: its head (up to the first message's
//! announcement) and, for MULTIAPPEND (RFC 3502), what follows each message.

use super::ParseError;
use super::datetime::{DateTime, date_time};
use super::flag::{Flag, flag_list};
use super::mailbox::mailbox;
use super::reader::{Reader, Result, bad};

/// APPEND up to its first message literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendHead {
    /// The command's tag.
    pub tag: String,
    /// The target mailbox, as in [`CommandBody::Select`](super::CommandBody::Select).
    pub mailbox: String,
    /// The first message.
    pub message: AppendMessage,
}

/// One message of an APPEND: its options and its literal's announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// The internal date to set.
    pub date: Option<DateTime>,
    /// The announced size of the message.
    pub size: u64,
    /// `~{n}` (RFC 3516): the message may contain NUL.
    pub binary: bool,
    /// `{n}`: the client waits for `+`.
    pub sync: bool,
}

/// Parses [`Frame::LiteralAnnounced`](crate::framer::Frame::LiteralAnnounced)'s prefix as the
/// head of an APPEND. `Ok(None)` when the command is not APPEND, and also when the announced
/// literal is not the message but an earlier argument (a mailbox name sent as a literal):
/// then the literal is handled like any other, and the next announcement is tried again.
pub fn parse_append_head(prefix: &[u8]) -> std::result::Result<Option<AppendHead>, ParseError> {
    let mut r = Reader::new(prefix);
    let tag = super::tag(&mut r)?;
    let with_tag = |mut e: ParseError| {
        e.tag = Some(tag.clone());
        e
    };
    let head = (|| -> Result<Option<(String, AppendMessage)>> {
        r.sp()?;
        if !r.eat_keyword("APPEND") {
            return Ok(None);
        }
        r.sp()?;
        if is_last_announcement(r.rest()) {
            return Ok(None);
        }
        let mailbox = mailbox(&mut r)?;
        r.sp()?;
        Ok(Some((mailbox, message(&mut r)?)))
    })()
    .map_err(with_tag)?;
    Ok(head.map(|(mailbox, message)| AppendHead {
        tag: tag.clone(),
        mailbox,
        message,
    }))
}

/// Parses what follows a streamed APPEND message: the bytes of the next unit
/// ([`Frame::Command`](crate::framer::Frame::Command) or
/// [`Frame::LiteralAnnounced`](crate::framer::Frame::LiteralAnnounced)'s prefix). `Ok(None)`
/// when it is just the line end (the APPEND is complete), the next message otherwise. The
/// error has no tag: it is the APPEND's.
pub fn parse_append_next(rest: &[u8]) -> std::result::Result<Option<AppendMessage>, ParseError> {
    let mut r = Reader::new(rest);
    if r.at_end() {
        return Ok(None);
    }
    r.sp()?;
    message(&mut r).map(Some)
}

/// Whether `rest` is exactly one literal announcement and its line end.
fn is_last_announcement(rest: &[u8]) -> bool {
    let mut r = Reader::new(rest);
    r.literal_announcement().is_ok() && r.rest().is_empty()
}

/// `[flag-list SP] [date-time SP] literal-announcement CRLF`, ending the input.
fn message(r: &mut Reader<'_>) -> Result<AppendMessage> {
    let flags = if r.peek() == Some(b'(') {
        let flags = flag_list(r)?;
        r.sp()?;
        flags
    } else {
        Vec::new()
    };
    let date = if r.peek() == Some(b'"') {
        let date = date_time(r)?;
        r.sp()?;
        Some(date)
    } else {
        None
    };
    if !matches!(r.peek(), Some(b'{' | b'~')) {
        return bad("expected the message literal");
    }
    let announced = r.literal_announcement()?;
    if !r.rest().is_empty() {
        return bad("the message literal must end the line");
    }
    Ok(AppendMessage {
        flags,
        date,
        size: announced.size,
        binary: announced.binary,
        sync: announced.sync,
    })
}
