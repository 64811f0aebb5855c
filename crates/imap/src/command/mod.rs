//! Client commands: the typed AST and [`parse_command`], which turns a framed command
//! ([`Frame::Command`](crate::framer::Frame::Command)) into it. The grammar is RFC 3501 and
//! RFC 9051 with the extensions listed in the crate documentation; anything else is a
//! [`ParseError`], answered with BAD.
//!
//! Strings are returned as sent (unescaped): mailbox names are not decoded from modified
//! UTF-7, but must be UTF-8. Nesting (parentheses, NOT, OR) is limited to [`MAX_DEPTH`].

mod append;
mod datetime;
mod fetch;
mod flag;
mod mailbox;
mod reader;
mod search;
mod sequence;

use base64::Engine as _;

pub use append::{AppendHead, AppendMessage, parse_append_head, parse_append_next};
pub use datetime::{Date, DateTime};
pub use fetch::{FetchAttr, Section, SectionText};
pub use flag::{Flag, StoreMode};
pub use mailbox::{ListCommand, ListReturn, ListSelect, QresyncParams, SelectParams, StatusItem};
pub(crate) use reader::is_astring_char;
use reader::{Reader, Result, ascii, bad};
pub use search::{MAX_DEPTH, SearchKey, SearchReturn, SortCriterion, SortKey, ThreadAlgorithm};
pub use sequence::{SeqNum, SeqRange, SequenceSet};

pub use crate::Secret;

/// A command that could not be parsed: the server answers `tag BAD message` (or `* BAD` when
/// the tag could not be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The command's tag, if it could be read.
    pub tag: Option<String>,
    /// A short text for the BAD response.
    pub message: String,
}

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag.
    pub tag: String,
    /// What the command asks.
    pub body: CommandBody,
}

/// The commands a server understands, except APPEND (see [`parse_append_head`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    Check,
    Idle,
    Close,
    Unselect,
    Expunge,
    Namespace,
    /// AUTHENTICATE with the mechanism uppercased and the SASL-IR initial response decoded
    /// (`=` gives an empty one).
    Authenticate {
        mechanism: String,
        initial: Option<Secret<Vec<u8>>>,
    },
    Login {
        user: String,
        password: Secret<String>,
    },
    /// Capability names, uppercased.
    Enable(Vec<String>),
    Select {
        mailbox: String,
        params: SelectParams,
    },
    Examine {
        mailbox: String,
        params: SelectParams,
    },
    /// `special_use`: the USE attributes, with their backslash.
    Create {
        mailbox: String,
        special_use: Vec<String>,
    },
    Delete(String),
    Rename {
        from: String,
        to: String,
    },
    Subscribe(String),
    Unsubscribe(String),
    List(ListCommand),
    Lsub {
        reference: String,
        pattern: String,
    },
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    UidExpunge(SequenceSet),
    /// `criteria`: one key, or `And` of the top-level keys. `ret`: Some for the ESEARCH form
    /// `RETURN (...)`, Some(empty) for `RETURN ()`.
    Search {
        uid: bool,
        charset: Option<String>,
        criteria: SearchKey,
        ret: Option<Vec<SearchReturn>>,
    },
    /// `items`: the macros ALL, FAST and FULL expanded.
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchAttr>,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    Sort {
        uid: bool,
        keys: Vec<SortKey>,
        charset: String,
        criteria: SearchKey,
        ret: Option<Vec<SearchReturn>>,
    },
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        criteria: SearchKey,
    },
    /// Field/value pairs; `ID NIL` is None.
    Id(Option<Vec<(String, Option<String>)>>),
    /// The mechanism, uppercased.
    Compress(String),
    GetQuotaRoot(String),
}

/// The tag: 1*(ASTRING-CHAR except `+`).
pub(crate) fn tag(r: &mut Reader<'_>) -> Result<String> {
    let tag = r.take_while(crate::framer::is_tag_char);
    if tag.is_empty() {
        return bad("missing or invalid tag");
    }
    Ok(ascii(tag))
}

/// Parses one framed command. The bytes are a [`Frame::Command`](crate::framer::Frame::Command):
/// lines and buffered literals, ending in CRLF (a missing final CRLF is tolerated).
pub fn parse_command(bytes: &[u8]) -> std::result::Result<Command, ParseError> {
    let mut r = Reader::new(bytes);
    if r.at_end() {
        return bad("empty command line");
    }
    let tag = tag(&mut r)?;
    match body(&mut r) {
        Ok(body) => Ok(Command { tag, body }),
        Err(mut e) => {
            e.tag = Some(tag);
            Err(e)
        }
    }
}

fn body(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    let name = r.keyword()?;
    let body = match name.as_str() {
        "CAPABILITY" => CommandBody::Capability,
        "NOOP" => CommandBody::Noop,
        "LOGOUT" => CommandBody::Logout,
        "STARTTLS" => CommandBody::StartTls,
        "CHECK" => CommandBody::Check,
        "IDLE" => CommandBody::Idle,
        "CLOSE" => CommandBody::Close,
        "UNSELECT" => CommandBody::Unselect,
        "EXPUNGE" => CommandBody::Expunge,
        "NAMESPACE" => CommandBody::Namespace,
        "AUTHENTICATE" => authenticate(r)?,
        "LOGIN" => {
            r.sp()?;
            let user = r.astring_utf8()?;
            r.sp()?;
            let password = Secret(r.astring_utf8()?);
            CommandBody::Login { user, password }
        }
        "ENABLE" => {
            let mut names = Vec::new();
            while r.eat(b' ') {
                names.push(r.keyword()?);
            }
            if names.is_empty() {
                return bad("ENABLE needs a capability");
            }
            CommandBody::Enable(names)
        }
        "SELECT" => {
            let (mailbox, params) = mailbox::select(r)?;
            CommandBody::Select { mailbox, params }
        }
        "EXAMINE" => {
            let (mailbox, params) = mailbox::select(r)?;
            CommandBody::Examine { mailbox, params }
        }
        "CREATE" => mailbox::create(r)?,
        "DELETE" => CommandBody::Delete(one_mailbox(r)?),
        "RENAME" => {
            let from = one_mailbox(r)?;
            let to = one_mailbox(r)?;
            CommandBody::Rename { from, to }
        }
        "SUBSCRIBE" => CommandBody::Subscribe(one_mailbox(r)?),
        "UNSUBSCRIBE" => CommandBody::Unsubscribe(one_mailbox(r)?),
        "GETQUOTAROOT" => CommandBody::GetQuotaRoot(one_mailbox(r)?),
        "LIST" => mailbox::list(r)?,
        "LSUB" => mailbox::lsub(r)?,
        "STATUS" => mailbox::status(r)?,
        "SEARCH" => search::search(r, false)?,
        "FETCH" => fetch::fetch(r, false)?,
        "STORE" => store(r, false)?,
        "COPY" => copy_or_move(r, false, false)?,
        "MOVE" => copy_or_move(r, false, true)?,
        "SORT" => search::sort(r, false)?,
        "THREAD" => search::thread(r, false)?,
        "UID" => uid(r)?,
        "ID" => id(r)?,
        "COMPRESS" => {
            r.sp()?;
            CommandBody::Compress(r.keyword()?)
        }
        "APPEND" => return bad("APPEND needs a message literal"),
        _ => return bad("unknown command"),
    };
    r.end()?;
    Ok(body)
}

/// `SP mailbox`.
fn one_mailbox(r: &mut Reader<'_>) -> Result<String> {
    r.sp()?;
    mailbox::mailbox(r)
}

fn uid(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    match r.keyword()?.as_str() {
        "FETCH" => fetch::fetch(r, true),
        "SEARCH" => search::search(r, true),
        "STORE" => store(r, true),
        "COPY" => copy_or_move(r, true, false),
        "MOVE" => copy_or_move(r, true, true),
        "SORT" => search::sort(r, true),
        "THREAD" => search::thread(r, true),
        "EXPUNGE" => {
            r.sp()?;
            Ok(CommandBody::UidExpunge(sequence::sequence_set(r)?))
        }
        _ => bad("unknown UID command"),
    }
}

fn authenticate(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    let mechanism = r.keyword()?;
    let initial = if r.eat(b' ') {
        if r.eat(b'=') {
            Some(Secret(Vec::new()))
        } else {
            let text =
                r.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(decoded) if !text.is_empty() => Some(Secret(decoded)),
                _ => return bad("invalid base64 initial response"),
            }
        }
    } else {
        None
    };
    Ok(CommandBody::Authenticate { mechanism, initial })
}

fn store(r: &mut Reader<'_>, uid: bool) -> Result<CommandBody> {
    r.sp()?;
    let set = sequence::sequence_set(r)?;
    r.sp()?;
    let mut unchanged_since = None;
    if r.peek() == Some(b'(') {
        r.list(false, |r| {
            if !r.eat_keyword("UNCHANGEDSINCE") || unchanged_since.is_some() {
                return bad("unknown or repeated STORE modifier");
            }
            r.sp()?;
            unchanged_since = Some(r.number64()?);
            Ok(())
        })?;
        r.sp()?;
    }
    let item = r.take_while(|b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'+' | b'-'));
    let item = ascii(item).to_ascii_uppercase();
    let (mode, rest) = match item.as_bytes().first() {
        Some(b'+') => (StoreMode::Add, item.get(1..).unwrap_or_default()),
        Some(b'-') => (StoreMode::Remove, item.get(1..).unwrap_or_default()),
        _ => (StoreMode::Replace, item.as_str()),
    };
    let silent = match rest {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return bad("expected FLAGS, +FLAGS or -FLAGS"),
    };
    r.sp()?;
    let flags = if r.peek() == Some(b'(') {
        flag::flag_list(r)?
    } else {
        let mut flags = vec![flag::flag(r)?];
        while r.eat(b' ') {
            flags.push(flag::flag(r)?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        mode,
        silent,
        flags,
        unchanged_since,
    })
}

fn copy_or_move(r: &mut Reader<'_>, uid: bool, is_move: bool) -> Result<CommandBody> {
    r.sp()?;
    let set = sequence::sequence_set(r)?;
    let mailbox = one_mailbox(r)?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}

/// ID (RFC 2971): `NIL` or `(` string SP nstring ... `)`. Non-UTF-8 is replaced: the values
/// are only logged.
fn id(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    if r.eat_keyword("NIL") {
        return Ok(CommandBody::Id(None));
    }
    let pairs = r.list(true, |r| {
        let name = String::from_utf8_lossy(&r.string()?).into_owned();
        r.sp()?;
        let value = r
            .nstring()?
            .map(|value| String::from_utf8_lossy(&value).into_owned());
        Ok((name, value))
    })?;
    Ok(CommandBody::Id(Some(pairs)))
}

#[cfg(test)]
mod tests {
    use super::reader::is_atom_char;
    use super::*;

    #[test]
    fn atom_chars_exclude_the_specials() {
        for b in b"(){%*\"\\] \x7f\x00\r\n" {
            assert!(!is_atom_char(*b), "{b}");
        }
        assert!(is_astring_char(b']'));
        assert!(is_atom_char(b'['));
    }
}
