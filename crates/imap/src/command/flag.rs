//! Message flags: the system flags, keywords, and the flag lists of STORE and APPEND.

use std::fmt;

use super::reader::{Reader, Result, ascii, bad, is_atom_char};

/// A message flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// `\Recent` (IMAP4rev1 only; never stored by a client).
    Recent,
    /// A keyword such as `$Forwarded`, with its case as sent.
    Keyword(String),
}

/// How STORE changes the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

impl Flag {
    /// The flag as written in responses: `\Seen`, or the keyword.
    pub fn as_str(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Recent => "\\Recent",
            Flag::Keyword(keyword) => keyword,
        }
    }

    /// A flag from its text (`\seen`, `$Junk`); `None` for unknown system flags (`\Foo`) and
    /// for text that is not an atom.
    pub fn parse(text: &str) -> Option<Flag> {
        let mut r = Reader::new(text.as_bytes());
        let flag = flag(&mut r).ok()?;
        r.rest().is_empty().then_some(flag)
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// flag: a system flag (case-insensitive) or a keyword atom. `\Recent` is accepted here and left
/// to the session to refuse; other `\`-flags are not accepted.
pub(crate) fn flag(r: &mut Reader<'_>) -> Result<Flag> {
    if r.eat(b'\\') {
        let name = r.atom()?;
        let known = [
            ("SEEN", Flag::Seen),
            ("ANSWERED", Flag::Answered),
            ("FLAGGED", Flag::Flagged),
            ("DELETED", Flag::Deleted),
            ("DRAFT", Flag::Draft),
            ("RECENT", Flag::Recent),
        ];
        return match known
            .into_iter()
            .find(|(text, _)| name.eq_ignore_ascii_case(text.as_bytes()))
        {
            Some((_, flag)) => Ok(flag),
            None => bad(format!("unknown system flag \\{}", ascii(name))),
        };
    }
    let keyword = r.take_while(is_atom_char);
    if keyword.is_empty() {
        return bad("expected a flag");
    }
    Ok(Flag::Keyword(ascii(keyword)))
}

/// flag-list: `(` [flag *(SP flag)] `)`.
pub(crate) fn flag_list(r: &mut Reader<'_>) -> Result<Vec<Flag>> {
    r.list(true, flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print() {
        assert_eq!(Flag::parse("\\seen"), Some(Flag::Seen));
        assert_eq!(Flag::parse("\\DRAFT"), Some(Flag::Draft));
        assert_eq!(
            Flag::parse("$Forwarded"),
            Some(Flag::Keyword("$Forwarded".into()))
        );
        assert_eq!(Flag::parse("\\Foo"), None);
        assert_eq!(Flag::parse("a b"), None);
        assert_eq!(Flag::parse(""), None);
        assert_eq!(Flag::Answered.as_str(), "\\Answered");
        assert_eq!(Flag::Keyword("NonJunk".into()).to_string(), "NonJunk");
    }
}
