//! FETCH: attributes with their sections and partial ranges, macros, and the CONDSTORE and
//! QRESYNC modifiers; also the names under which the attributes are answered.

use std::fmt;

use super::CommandBody;
use super::reader::{Reader, Result, bad};
use super::sequence::sequence_set;

/// A FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `ENVELOPE`
    Envelope,
    /// `BODY`: the non-extensible body structure.
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `MODSEQ` (RFC 7162)
    ModSeq,
    /// `RFC822`: the whole message, sets `\Seen`.
    Rfc822,
    /// `RFC822.HEADER`
    Rfc822Header,
    /// `RFC822.TEXT`: sets `\Seen`.
    Rfc822Text,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// `.PEEK`: `\Seen` is not set.
        peek: bool,
        /// What part of the message.
        section: Section,
        /// `<origin.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        /// `.PEEK`: `\Seen` is not set.
        peek: bool,
        /// Part numbers; empty for the whole message.
        part: Vec<u32>,
        /// `<origin.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516).
    BinarySize {
        /// Part numbers; empty for the whole message.
        part: Vec<u32>,
    },
}

/// A body section: a part number path and what of that part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// `1.2` is `[1, 2]`; empty for the message itself.
    pub part: Vec<u32>,
    /// None: the whole part (`BODY[]`, `BODY[1.2]`).
    pub text: Option<SectionText>,
}

/// What of a part a section names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (...)`, field names as sent.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (...)`, field names as sent.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`
    Text,
    /// `MIME`: only after a part number.
    Mime,
}

impl FetchAttr {
    /// The item's name in a FETCH response: `BODY[HEADER.FIELDS (DATE)]<0>` for
    /// `BODY.PEEK[HEADER.FIELDS (DATE)]<0.100>`.
    pub fn response_name(&self) -> String {
        match self {
            FetchAttr::Flags => "FLAGS".into(),
            FetchAttr::InternalDate => "INTERNALDATE".into(),
            FetchAttr::Rfc822Size => "RFC822.SIZE".into(),
            FetchAttr::Envelope => "ENVELOPE".into(),
            FetchAttr::Body => "BODY".into(),
            FetchAttr::BodyStructure => "BODYSTRUCTURE".into(),
            FetchAttr::Uid => "UID".into(),
            FetchAttr::ModSeq => "MODSEQ".into(),
            FetchAttr::Rfc822 => "RFC822".into(),
            FetchAttr::Rfc822Header => "RFC822.HEADER".into(),
            FetchAttr::Rfc822Text => "RFC822.TEXT".into(),
            FetchAttr::BodySection {
                section, partial, ..
            } => with_origin(format!("BODY[{section}]"), *partial),
            FetchAttr::Binary { part, partial, .. } => {
                with_origin(format!("BINARY[{}]", PartPath(part)), *partial)
            }
            FetchAttr::BinarySize { part } => format!("BINARY.SIZE[{}]", PartPath(part)),
        }
    }

    /// Whether fetching this item sets `\Seen` (in a read-write mailbox).
    pub fn sets_seen(&self) -> bool {
        match self {
            FetchAttr::Rfc822 | FetchAttr::Rfc822Text => true,
            FetchAttr::BodySection { peek, .. } | FetchAttr::Binary { peek, .. } => !peek,
            _ => false,
        }
    }
}

fn with_origin(mut name: String, partial: Option<(u32, u32)>) -> String {
    if let Some((origin, _)) = partial {
        name.push_str(&format!("<{origin}>"));
    }
    name
}

struct PartPath<'a>(&'a [u32]);

impl fmt::Display for PartPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Section {
    /// The section-spec between the brackets: `1.2.HEADER.FIELDS (DATE FROM)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", PartPath(&self.part))?;
        let Some(text) = &self.text else {
            return Ok(());
        };
        if !self.part.is_empty() {
            f.write_str(".")?;
        }
        let (name, fields) = match text {
            SectionText::Header => ("HEADER", None),
            SectionText::HeaderFields(fields) => ("HEADER.FIELDS", Some(fields)),
            SectionText::HeaderFieldsNot(fields) => ("HEADER.FIELDS.NOT", Some(fields)),
            SectionText::Text => ("TEXT", None),
            SectionText::Mime => ("MIME", None),
        };
        f.write_str(name)?;
        if let Some(fields) = fields {
            let mut out = Vec::new();
            out.extend_from_slice(b" (");
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                crate::response::write_astring(&mut out, field);
            }
            out.push(b')');
            f.write_str(&String::from_utf8_lossy(&out))?;
        }
        Ok(())
    }
}

/// FETCH's arguments, after `FETCH`.
pub(crate) fn fetch(r: &mut Reader<'_>, uid: bool) -> Result<CommandBody> {
    r.sp()?;
    let set = sequence_set(r)?;
    r.sp()?;
    let items = if r.peek() == Some(b'(') {
        r.list(false, attr)?
    } else if r.eat_keyword("ALL") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ]
    } else if r.eat_keyword("FAST") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ]
    } else if r.eat_keyword("FULL") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ]
    } else {
        vec![attr(r)?]
    };
    let mut changed_since = None;
    let mut vanished = false;
    if r.eat(b' ') {
        r.list(false, |r| {
            match r.keyword()?.as_str() {
                "CHANGEDSINCE" if changed_since.is_none() => {
                    r.sp()?;
                    changed_since = Some(r.mod_seq()?);
                }
                "VANISHED" if !vanished => vanished = true,
                _ => return bad("unknown or repeated FETCH modifier"),
            }
            Ok(())
        })?;
    }
    // RFC 7162 section 3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
    if vanished && (!uid || changed_since.is_none()) {
        return bad("VANISHED needs UID FETCH and CHANGEDSINCE");
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    })
}

fn attr(r: &mut Reader<'_>) -> Result<FetchAttr> {
    let name = r.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let bracket = r.peek() == Some(b'[');
    Ok(match (name.as_str(), bracket) {
        ("FLAGS", false) => FetchAttr::Flags,
        ("INTERNALDATE", false) => FetchAttr::InternalDate,
        ("RFC822.SIZE", false) => FetchAttr::Rfc822Size,
        ("ENVELOPE", false) => FetchAttr::Envelope,
        ("BODY", false) => FetchAttr::Body,
        ("BODYSTRUCTURE", false) => FetchAttr::BodyStructure,
        ("UID", false) => FetchAttr::Uid,
        ("MODSEQ", false) => FetchAttr::ModSeq,
        ("RFC822", false) => FetchAttr::Rfc822,
        ("RFC822.HEADER", false) => FetchAttr::Rfc822Header,
        ("RFC822.TEXT", false) => FetchAttr::Rfc822Text,
        ("BODY" | "BODY.PEEK", true) => FetchAttr::BodySection {
            peek: name == "BODY.PEEK",
            section: section(r)?,
            partial: partial(r)?,
        },
        ("BINARY" | "BINARY.PEEK", true) => FetchAttr::Binary {
            peek: name == "BINARY.PEEK",
            part: binary_section(r)?,
            partial: partial(r)?,
        },
        ("BINARY.SIZE", true) => FetchAttr::BinarySize {
            part: binary_section(r)?,
        },
        _ => return bad("unknown FETCH attribute"),
    })
}

/// section-part: nz-number *("." nz-number), stopping before a `.` not followed by a digit.
fn part_path(r: &mut Reader<'_>) -> Result<Vec<u32>> {
    let mut part = Vec::new();
    while r.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(r.nz_number()?);
        let rest = r.rest();
        if rest.first() == Some(&b'.') && rest.get(1).is_some_and(|b| b.is_ascii_digit()) {
            r.eat(b'.');
        } else {
            break;
        }
    }
    Ok(part)
}

/// `[` section-spec `]`.
fn section(r: &mut Reader<'_>) -> Result<Section> {
    r.expect(b'[', "expected a section")?;
    let part = part_path(r)?;
    if r.eat(b']') {
        return Ok(Section { part, text: None });
    }
    if !part.is_empty() {
        r.expect(b'.', "invalid section")?;
    }
    let name = r.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
    let text = match name.to_ascii_uppercase().as_slice() {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if !part.is_empty() => SectionText::Mime,
        b"HEADER.FIELDS" => {
            r.sp()?;
            SectionText::HeaderFields(r.list(false, |r| r.astring_utf8())?)
        }
        b"HEADER.FIELDS.NOT" => {
            r.sp()?;
            SectionText::HeaderFieldsNot(r.list(false, |r| r.astring_utf8())?)
        }
        _ => return bad("invalid section"),
    };
    r.expect(b']', "invalid section")?;
    Ok(Section {
        part,
        text: Some(text),
    })
}

/// `[` [section-part] `]` of BINARY.
fn binary_section(r: &mut Reader<'_>) -> Result<Vec<u32>> {
    r.expect(b'[', "expected a section")?;
    let part = part_path(r)?;
    r.expect(b']', "invalid binary section")?;
    Ok(part)
}

/// `<` number `.` nz-number `>`, if present.
fn partial(r: &mut Reader<'_>) -> Result<Option<(u32, u32)>> {
    if !r.eat(b'<') {
        return Ok(None);
    }
    let origin = r.number()?;
    r.expect(b'.', "invalid partial range")?;
    let length = r.nz_number()?;
    r.expect(b'>', "invalid partial range")?;
    Ok(Some((origin, length)))
}
