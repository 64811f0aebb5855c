//! SEARCH criteria (RFC 3501/9051 with CONDSTORE's MODSEQ, WITHIN's OLDER/YOUNGER and
//! SEARCHRES's `$`), ESEARCH return options, and the SORT and THREAD commands (RFC 5256).

use std::borrow::Cow;

use super::CommandBody;
use super::datetime::{Date, date};
use super::reader::{Reader, Result, ascii, bad, is_atom_char};
use super::sequence::{SequenceSet, sequence_set};

/// How deeply parentheses, NOT and OR may nest.
pub const MAX_DEPTH: usize = 100;

/// A search criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SearchKey {
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    New,
    Old,
    Recent,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    Bcc(String),
    Body(String),
    Cc(String),
    From(String),
    Subject(String),
    Text(String),
    To(String),
    /// Field name and the string searched in it.
    Header(String, String),
    Keyword(String),
    Unkeyword(String),
    Before(Date),
    On(Date),
    Since(Date),
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Larger(u64),
    Smaller(u64),
    /// OLDER n (RFC 5032): internal date more than n seconds ago.
    Older(u64),
    /// YOUNGER n (RFC 5032): internal date at most n seconds ago.
    Younger(u64),
    Uid(SequenceSet),
    Sequence(SequenceSet),
    /// MODSEQ (RFC 7162); the optional entry name and type are ignored.
    ModSeq(u64),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    /// A parenthesized list, or the top level when it has more than one key.
    And(Vec<SearchKey>),
}

/// An ESEARCH return option (RFC 4731, RFC 5182 SAVE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
}

/// One SORT criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// `REVERSE` was given.
    pub reverse: bool,
    /// What is compared.
    pub criterion: SortCriterion,
}

/// What SORT compares (RFC 5256, DISPLAYFROM/DISPLAYTO from RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SortCriterion {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// A THREAD algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

/// How search strings are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    Latin1,
    /// The session answers BADCHARSET; strings are decoded lossily so that parsing succeeds.
    Other,
}

impl Charset {
    fn of(name: &str) -> Charset {
        match name.to_ascii_uppercase().as_str() {
            "UTF-8" | "UTF8" | "US-ASCII" | "ASCII" => Charset::Utf8,
            "ISO-8859-1" | "LATIN1" | "ISO_8859-1" => Charset::Latin1,
            _ => Charset::Other,
        }
    }

    fn decode(self, bytes: Cow<'_, [u8]>) -> Result<String> {
        match self {
            Charset::Utf8 => match String::from_utf8(bytes.into_owned()) {
                Ok(text) => Ok(text),
                Err(_) => bad("search string is not in the given charset"),
            },
            Charset::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
            Charset::Other => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}

/// charset: atom or quoted.
fn charset(r: &mut Reader<'_>) -> Result<String> {
    if r.peek() == Some(b'"') {
        match String::from_utf8(r.quoted()?) {
            Ok(name) => Ok(name),
            Err(_) => bad("invalid charset name"),
        }
    } else {
        Ok(ascii(r.atom()?))
    }
}

/// `RETURN (...)`, the RETURN already consumed.
fn search_return(r: &mut Reader<'_>) -> Result<Vec<SearchReturn>> {
    r.sp()?;
    r.list(true, |r| match r.keyword()?.as_str() {
        "MIN" => Ok(SearchReturn::Min),
        "MAX" => Ok(SearchReturn::Max),
        "ALL" => Ok(SearchReturn::All),
        "COUNT" => Ok(SearchReturn::Count),
        "SAVE" => Ok(SearchReturn::Save),
        _ => bad("unknown search return option"),
    })
}

/// SEARCH's arguments, after `SEARCH`.
pub(crate) fn search(r: &mut Reader<'_>, uid: bool) -> Result<CommandBody> {
    r.sp()?;
    let ret = if r.eat_keyword("RETURN") {
        let ret = search_return(r)?;
        r.sp()?;
        Some(ret)
    } else {
        None
    };
    let charset_name = if r.eat_keyword("CHARSET") {
        r.sp()?;
        let name = charset(r)?;
        r.sp()?;
        Some(name)
    } else {
        None
    };
    let decoder = charset_name.as_deref().map_or(Charset::Utf8, Charset::of);
    let criteria = criteria(r, decoder)?;
    Ok(CommandBody::Search {
        uid,
        charset: charset_name,
        criteria,
        ret,
    })
}

/// SORT's arguments, after `SORT`.
pub(crate) fn sort(r: &mut Reader<'_>, uid: bool) -> Result<CommandBody> {
    r.sp()?;
    let ret = if r.eat_keyword("RETURN") {
        let ret = search_return(r)?;
        r.sp()?;
        Some(ret)
    } else {
        None
    };
    let keys = r.list(false, |r| {
        let reverse = r.eat_keyword("REVERSE");
        if reverse {
            r.sp()?;
        }
        let criterion = match r.keyword()?.as_str() {
            "ARRIVAL" => SortCriterion::Arrival,
            "CC" => SortCriterion::Cc,
            "DATE" => SortCriterion::Date,
            "FROM" => SortCriterion::From,
            "SIZE" => SortCriterion::Size,
            "SUBJECT" => SortCriterion::Subject,
            "TO" => SortCriterion::To,
            "DISPLAYFROM" => SortCriterion::DisplayFrom,
            "DISPLAYTO" => SortCriterion::DisplayTo,
            _ => return bad("unknown sort criterion"),
        };
        Ok(SortKey { reverse, criterion })
    })?;
    r.sp()?;
    let charset_name = charset(r)?;
    r.sp()?;
    let criteria = criteria(r, Charset::of(&charset_name))?;
    Ok(CommandBody::Sort {
        uid,
        keys,
        charset: charset_name,
        criteria,
        ret,
    })
}

/// THREAD's arguments, after `THREAD`.
pub(crate) fn thread(r: &mut Reader<'_>, uid: bool) -> Result<CommandBody> {
    r.sp()?;
    let algorithm = match r.keyword()?.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return bad("unknown thread algorithm"),
    };
    r.sp()?;
    let charset_name = charset(r)?;
    r.sp()?;
    let criteria = criteria(r, Charset::of(&charset_name))?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        charset: charset_name,
        criteria,
    })
}

/// `search-key *(SP search-key)` to the end of the command.
fn criteria(r: &mut Reader<'_>, charset: Charset) -> Result<SearchKey> {
    let mut keys = vec![key(r, charset, 0)?];
    while r.eat(b' ') {
        keys.push(key(r, charset, 0)?);
    }
    Ok(match keys.len() {
        1 => keys.pop().unwrap_or(SearchKey::All),
        _ => SearchKey::And(keys),
    })
}

fn key(r: &mut Reader<'_>, charset: Charset, depth: usize) -> Result<SearchKey> {
    if depth > MAX_DEPTH {
        return bad("search criteria nested too deeply");
    }
    match r.peek() {
        Some(b'(') => {
            return Ok(SearchKey::And(
                r.list(false, |r| key(r, charset, depth + 1))?,
            ));
        }
        Some(b'0'..=b'9' | b'*' | b'$') => return Ok(SearchKey::Sequence(sequence_set(r)?)),
        _ => {}
    }
    let name = r.keyword()?;
    let simple = match name.as_str() {
        "ALL" => Some(SearchKey::All),
        "ANSWERED" => Some(SearchKey::Answered),
        "DELETED" => Some(SearchKey::Deleted),
        "DRAFT" => Some(SearchKey::Draft),
        "FLAGGED" => Some(SearchKey::Flagged),
        "NEW" => Some(SearchKey::New),
        "OLD" => Some(SearchKey::Old),
        "RECENT" => Some(SearchKey::Recent),
        "SEEN" => Some(SearchKey::Seen),
        "UNANSWERED" => Some(SearchKey::Unanswered),
        "UNDELETED" => Some(SearchKey::Undeleted),
        "UNDRAFT" => Some(SearchKey::Undraft),
        "UNFLAGGED" => Some(SearchKey::Unflagged),
        "UNSEEN" => Some(SearchKey::Unseen),
        _ => None,
    };
    if let Some(simple) = simple {
        return Ok(simple);
    }
    const WITH_ARGUMENTS: [&str; 24] = [
        "BCC",
        "BODY",
        "CC",
        "FROM",
        "SUBJECT",
        "TEXT",
        "TO",
        "HEADER",
        "KEYWORD",
        "UNKEYWORD",
        "BEFORE",
        "ON",
        "SINCE",
        "SENTBEFORE",
        "SENTON",
        "SENTSINCE",
        "LARGER",
        "SMALLER",
        "OLDER",
        "YOUNGER",
        "UID",
        "MODSEQ",
        "NOT",
        "OR",
    ];
    if !WITH_ARGUMENTS.contains(&name.as_str()) {
        return bad("unknown search key");
    }
    r.sp()?;
    let text = |r: &mut Reader<'_>| -> Result<String> { charset.decode(r.astring()?) };
    Ok(match name.as_str() {
        "BCC" => SearchKey::Bcc(text(r)?),
        "BODY" => SearchKey::Body(text(r)?),
        "CC" => SearchKey::Cc(text(r)?),
        "FROM" => SearchKey::From(text(r)?),
        "SUBJECT" => SearchKey::Subject(text(r)?),
        "TEXT" => SearchKey::Text(text(r)?),
        "TO" => SearchKey::To(text(r)?),
        "HEADER" => {
            let field = r.astring_utf8()?;
            r.sp()?;
            SearchKey::Header(field, text(r)?)
        }
        "KEYWORD" => SearchKey::Keyword(ascii(r.atom()?)),
        "UNKEYWORD" => SearchKey::Unkeyword(ascii(r.atom()?)),
        "BEFORE" => SearchKey::Before(date(r)?),
        "ON" => SearchKey::On(date(r)?),
        "SINCE" => SearchKey::Since(date(r)?),
        "SENTBEFORE" => SearchKey::SentBefore(date(r)?),
        "SENTON" => SearchKey::SentOn(date(r)?),
        "SENTSINCE" => SearchKey::SentSince(date(r)?),
        "LARGER" => SearchKey::Larger(r.number64()?),
        "SMALLER" => SearchKey::Smaller(r.number64()?),
        "OLDER" => SearchKey::Older(u64::from(r.nz_number()?)),
        "YOUNGER" => SearchKey::Younger(u64::from(r.nz_number()?)),
        "UID" => SearchKey::Uid(sequence_set(r)?),
        "MODSEQ" => {
            if r.peek() == Some(b'"') {
                // entry-name SP entry-type-req: per-flag mod-sequences are not kept apart.
                r.quoted()?;
                r.sp()?;
                let kind = r.take_while(is_atom_char);
                let known = [b"priv".as_slice(), b"shared", b"all"];
                if !known.iter().any(|k| kind.eq_ignore_ascii_case(k)) {
                    return bad("invalid MODSEQ entry type");
                }
                r.sp()?;
            }
            SearchKey::ModSeq(r.mod_seq()?)
        }
        "NOT" => SearchKey::Not(Box::new(key(r, charset, depth + 1)?)),
        "OR" => {
            let left = key(r, charset, depth + 1)?;
            r.sp()?;
            let right = key(r, charset, depth + 1)?;
            SearchKey::Or(Box::new(left), Box::new(right))
        }
        _ => return bad("unknown search key"),
    })
}
