//! Mailbox commands' arguments: mailbox names and patterns, SELECT/EXAMINE parameters
//! (CONDSTORE, QRESYNC), CREATE's USE (RFC 6154), LIST-EXTENDED and LIST-STATUS, STATUS items.

use super::CommandBody;
use super::reader::{Reader, Result, ascii, bad, is_list_char, utf8};
use super::sequence::{SequenceSet, number_set};

/// SELECT/EXAMINE parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectParams {
    /// `(CONDSTORE)`
    pub condstore: bool,
    /// `(QRESYNC (...))`
    pub qresync: Option<QresyncParams>,
}

/// The QRESYNC select parameter (RFC 7162 section 3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    /// The UIDVALIDITY the client knows.
    pub uid_validity: u32,
    /// The last HIGHESTMODSEQ the client saw.
    pub mod_seq: u64,
    /// The UIDs the client knows.
    pub known_uids: Option<SequenceSet>,
    /// Message sequence numbers and the UIDs the client has for them.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST, in its basic or extended (RFC 5258) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    /// The reference name, as sent.
    pub reference: String,
    /// The mailbox patterns, as sent; one unless the extended form `(...)` was used.
    pub patterns: Vec<String>,
    /// Selection options.
    pub select: Vec<ListSelect>,
    /// Return options.
    pub ret: Vec<ListReturn>,
    /// Any LIST-EXTENDED syntax was used (selection options, several patterns, RETURN).
    pub extended: bool,
}

/// A LIST selection option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
}

/// A LIST return option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    /// `SUBSCRIBED`
    Subscribed,
    /// `CHILDREN`
    Children,
    /// `SPECIAL-USE`
    SpecialUse,
    /// `STATUS (...)` (RFC 5819)
    Status(Vec<StatusItem>),
}

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
    AppendLimit,
}

impl StatusItem {
    /// The item's name, as in a STATUS response.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
        }
    }
}

/// mailbox: an astring, `INBOX` in any case becoming `INBOX`; otherwise as sent (modified
/// UTF-7 or, for UTF8=ACCEPT clients, UTF-8).
pub(crate) fn mailbox(r: &mut Reader<'_>) -> Result<String> {
    let name = r.astring_utf8()?;
    if name.eq_ignore_ascii_case("INBOX") {
        Ok("INBOX".into())
    } else {
        Ok(name)
    }
}

/// list-mailbox: list-chars (with `%`, `*`) or a string.
fn list_mailbox(r: &mut Reader<'_>) -> Result<String> {
    if r.at_string() {
        return utf8(r.string()?);
    }
    let pattern = r.take_while(is_list_char);
    if pattern.is_empty() {
        bad("expected a mailbox pattern")
    } else {
        Ok(ascii(pattern))
    }
}

fn status_item(r: &mut Reader<'_>) -> Result<StatusItem> {
    Ok(match r.keyword()?.as_str() {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "DELETED" => StatusItem::Deleted,
        "SIZE" => StatusItem::Size,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "APPENDLIMIT" => StatusItem::AppendLimit,
        _ => return bad("unknown status item"),
    })
}

/// STATUS's arguments, after `STATUS`.
pub(crate) fn status(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    let mailbox = mailbox(r)?;
    r.sp()?;
    let items = r.list(false, status_item)?;
    Ok(CommandBody::Status { mailbox, items })
}

/// SELECT's or EXAMINE's arguments, after the command name.
pub(crate) fn select(r: &mut Reader<'_>) -> Result<(String, SelectParams)> {
    r.sp()?;
    let mailbox = mailbox(r)?;
    let mut params = SelectParams::default();
    if r.eat(b' ') {
        r.list(true, |r| {
            match r.keyword()?.as_str() {
                "CONDSTORE" => params.condstore = true,
                "QRESYNC" if params.qresync.is_none() => {
                    r.sp()?;
                    params.qresync = Some(qresync(r)?);
                }
                _ => return bad("unknown or repeated select parameter"),
            }
            Ok(())
        })?;
    }
    Ok((mailbox, params))
}

/// `(` uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] `)`.
fn qresync(r: &mut Reader<'_>) -> Result<QresyncParams> {
    r.expect(b'(', "expected QRESYNC parameters")?;
    let uid_validity = r.nz_number()?;
    r.sp()?;
    let mod_seq = r.mod_seq()?;
    if mod_seq == 0 {
        return bad("QRESYNC mod-sequence must not be 0");
    }
    let mut params = QresyncParams {
        uid_validity,
        mod_seq,
        known_uids: None,
        seq_match: None,
    };
    if r.eat(b' ') && r.peek() != Some(b'(') {
        params.known_uids = Some(number_set(r)?);
        if !r.eat(b' ') {
            r.expect(b')', "invalid QRESYNC parameters")?;
            return Ok(params);
        }
    }
    if r.eat(b'(') {
        let sequences = number_set(r)?;
        r.sp()?;
        let uids = number_set(r)?;
        r.expect(b')', "invalid QRESYNC sequence match data")?;
        params.seq_match = Some((sequences, uids));
    }
    r.expect(b')', "invalid QRESYNC parameters")?;
    Ok(params)
}

/// CREATE's arguments, after `CREATE`.
pub(crate) fn create(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    let mailbox = mailbox(r)?;
    let mut special_use = Vec::new();
    if r.eat(b' ') {
        r.list(false, |r| {
            if !r.eat_keyword("USE") {
                return bad("unknown CREATE parameter");
            }
            r.sp()?;
            let attrs = r.list(true, use_attr)?;
            special_use.extend(attrs);
            Ok(())
        })?;
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

/// use-attr: `\All`, `\Sent`, ... The RFC 6154 attributes get their canonical case; others
/// are kept as sent for the session to refuse with USEATTR.
fn use_attr(r: &mut Reader<'_>) -> Result<String> {
    r.expect(b'\\', "expected a special-use attribute")?;
    let name = ascii(r.atom()?);
    let known = [
        "All",
        "Archive",
        "Drafts",
        "Flagged",
        "Junk",
        "Sent",
        "Trash",
        "Important",
    ];
    let name = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(&name))
        .map_or(name, |k| (*k).to_owned());
    Ok(format!("\\{name}"))
}

/// LIST's arguments, after `LIST`.
pub(crate) fn list(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    let mut extended = false;
    let mut select = Vec::new();
    if r.peek() == Some(b'(') {
        extended = true;
        select = r.list(true, |r| {
            Ok(match r.keyword()?.as_str() {
                "SUBSCRIBED" => ListSelect::Subscribed,
                "REMOTE" => ListSelect::Remote,
                "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                "SPECIAL-USE" => ListSelect::SpecialUse,
                _ => return bad("unknown LIST selection option"),
            })
        })?;
        r.sp()?;
    }
    // RFC 5258: RECURSIVEMATCH needs another option that it modifies (REMOTE does not count).
    let modified = select
        .iter()
        .any(|s| matches!(s, ListSelect::Subscribed | ListSelect::SpecialUse));
    if select.contains(&ListSelect::RecursiveMatch) && !modified {
        return bad("RECURSIVEMATCH needs another selection option");
    }
    let reference = r.astring_utf8()?;
    r.sp()?;
    let patterns = if r.peek() == Some(b'(') {
        extended = true;
        r.list(false, list_mailbox)?
    } else {
        vec![list_mailbox(r)?]
    };
    let mut ret = Vec::new();
    if r.eat(b' ') {
        if !r.eat_keyword("RETURN") {
            return bad("expected RETURN");
        }
        extended = true;
        r.sp()?;
        ret = r.list(true, |r| {
            Ok(match r.keyword()?.as_str() {
                "SUBSCRIBED" => ListReturn::Subscribed,
                "CHILDREN" => ListReturn::Children,
                "SPECIAL-USE" => ListReturn::SpecialUse,
                "STATUS" => {
                    r.sp()?;
                    ListReturn::Status(r.list(false, status_item)?)
                }
                _ => return bad("unknown LIST return option"),
            })
        })?;
    }
    Ok(CommandBody::List(ListCommand {
        reference,
        patterns,
        select,
        ret,
        extended,
    }))
}

/// LSUB's arguments, after `LSUB`.
pub(crate) fn lsub(r: &mut Reader<'_>) -> Result<CommandBody> {
    r.sp()?;
    let reference = r.astring_utf8()?;
    r.sp()?;
    let pattern = list_mailbox(r)?;
    Ok(CommandBody::Lsub { reference, pattern })
}
