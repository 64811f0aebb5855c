//! The lexical layer of the command grammar: a cursor over a framed command with the IMAP
//! tokens (atoms, quoted strings, literals, numbers) and the character classes behind them.

use std::borrow::Cow;

use super::ParseError;
use crate::framer::parse_u64;

pub(crate) type Result<T> = std::result::Result<T, ParseError>;

/// An error without a tag; `parse_command` adds the tag.
pub(crate) fn bad<T>(message: impl Into<String>) -> Result<T> {
    Err(ParseError {
        tag: None,
        message: message.into(),
    })
}

/// ATOM-CHAR: any CHAR except atom-specials.
pub(crate) fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// ASTRING-CHAR: ATOM-CHAR or `]`.
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// list-char: ATOM-CHAR, list-wildcards or `]`.
pub(crate) fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// A literal announcement read by [`Reader::literal_announcement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announced {
    pub(crate) size: u64,
    pub(crate) sync: bool,
    pub(crate) binary: bool,
}

/// A cursor over one framed command.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8, message: &str) -> Result<()> {
        if self.eat(b) { Ok(()) } else { bad(message) }
    }

    pub(crate) fn sp(&mut self) -> Result<()> {
        self.expect(b' ', "expected a space")
    }

    /// The command ends here: a CRLF (or nothing) and no more bytes.
    pub(crate) fn end(&mut self) -> Result<()> {
        let rest = self.rest();
        if rest.is_empty() || rest == b"\r\n" || rest == b"\n" {
            self.pos = self.input.len();
            Ok(())
        } else if rest.first() == Some(&b' ') {
            bad("unexpected space or argument")
        } else {
            bad("unexpected characters at the end of the command")
        }
    }

    /// At the end of the command (CRLF or nothing left).
    pub(crate) fn at_end(&self) -> bool {
        let rest = self.rest();
        rest.is_empty() || rest == b"\r\n" || rest == b"\n"
    }

    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len());
        self.pos += len;
        rest.get(..len).unwrap_or_default()
    }

    /// 1*ATOM-CHAR.
    pub(crate) fn atom(&mut self) -> Result<&'a [u8]> {
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() {
            bad("expected an atom")
        } else {
            Ok(atom)
        }
    }

    /// An atom as an ASCII string, uppercased: command names, keywords, capabilities.
    pub(crate) fn keyword(&mut self) -> Result<String> {
        Ok(ascii(self.atom()?).to_ascii_uppercase())
    }

    /// Consumes `word` (case-insensitive) when it is the next atom; otherwise nothing.
    pub(crate) fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|&b| !is_atom_char(b))
            .unwrap_or(rest.len());
        match rest.get(..len) {
            Some(atom) if atom.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += len;
                true
            }
            _ => false,
        }
    }

    /// number: 1*DIGIT fitting in u32.
    pub(crate) fn number(&mut self) -> Result<u32> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        match parse_u64(digits).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Ok(n),
            None => bad("expected a 32-bit number"),
        }
    }

    pub(crate) fn nz_number(&mut self) -> Result<u32> {
        match self.number()? {
            0 => bad("expected a non-zero number"),
            n => Ok(n),
        }
    }

    /// number64: 1*DIGIT fitting in u64.
    pub(crate) fn number64(&mut self) -> Result<u64> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        match parse_u64(digits) {
            Some(n) => Ok(n),
            None => bad("expected a number"),
        }
    }

    /// mod-sequence-value: 1 to 2^63-1.
    pub(crate) fn mod_seq(&mut self) -> Result<u64> {
        match self.number64()? {
            n if n <= i64::MAX as u64 => Ok(n),
            _ => bad("mod-sequence out of range"),
        }
    }

    /// A quoted string (the opening `"` not yet consumed), unescaped. 8-bit bytes are allowed
    /// (IMAP4rev2 utf8-quoted); whether they are UTF-8 is for the caller to check.
    pub(crate) fn quoted(&mut self) -> Result<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b @ (b'"' | b'\\')) => {
                            self.pos += 1;
                            value.push(b);
                        }
                        _ => return bad("invalid escape in a quoted string"),
                    }
                }
                Some(0 | b'\r' | b'\n') | None => return bad("unterminated quoted string"),
                Some(b) => {
                    self.pos += 1;
                    value.push(b);
                }
            }
        }
    }

    /// `{n}`, `{n+}` or `~{n}`/`~{n+}` and its CRLF; the bytes are not consumed.
    pub(crate) fn literal_announcement(&mut self) -> Result<Announced> {
        let binary = self.eat(b'~');
        self.expect(b'{', "expected a literal")?;
        let size = self.number64()?;
        let sync = !self.eat(b'+');
        self.expect(b'}', "malformed literal")?;
        if !self.eat(b'\r') && self.peek() != Some(b'\n') {
            return bad("a literal announcement must end the line");
        }
        self.expect(b'\n', "a literal announcement must end the line")?;
        Ok(Announced { size, sync, binary })
    }

    /// A literal (not literal8): its bytes, which may not contain NUL.
    pub(crate) fn literal(&mut self) -> Result<&'a [u8]> {
        if self.peek() == Some(b'~') {
            return bad("literal8 is not allowed here");
        }
        let announced = self.literal_announcement()?;
        let rest = self.rest();
        let Some(bytes) = usize::try_from(announced.size)
            .ok()
            .and_then(|size| rest.get(..size))
        else {
            return bad("literal is shorter than announced");
        };
        if bytes.contains(&0) {
            return bad("NUL in a literal");
        }
        self.pos += bytes.len();
        Ok(bytes)
    }

    /// string: quoted or literal.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => Ok(Cow::Owned(self.quoted()?)),
            Some(b'{' | b'~') => Ok(Cow::Borrowed(self.literal()?)),
            _ => bad("expected a string"),
        }
    }

    /// At a quoted string or a literal (`~{` included, to refuse it), not an atom.
    pub(crate) fn at_string(&self) -> bool {
        matches!(self.rest(), [b'"' | b'{', ..] | [b'~', b'{', ..])
    }

    /// astring: 1*ASTRING-CHAR or string.
    pub(crate) fn astring(&mut self) -> Result<Cow<'a, [u8]>> {
        if self.at_string() {
            return self.string();
        }
        let atom = self.take_while(is_astring_char);
        if atom.is_empty() {
            bad("expected a string")
        } else {
            Ok(Cow::Borrowed(atom))
        }
    }

    /// An astring that must be UTF-8.
    pub(crate) fn astring_utf8(&mut self) -> Result<String> {
        utf8(self.astring()?)
    }

    /// nstring: string or NIL.
    pub(crate) fn nstring(&mut self) -> Result<Option<Cow<'a, [u8]>>> {
        if self.eat_keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `(` then items separated by single spaces, then `)`; `allow_empty` permits `()`.
    pub(crate) fn list<T>(
        &mut self,
        allow_empty: bool,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.expect(b'(', "expected a parenthesized list")?;
        let mut items = Vec::new();
        if self.eat(b')') {
            return if allow_empty {
                Ok(items)
            } else {
                bad("empty list")
            };
        }
        loop {
            items.push(item(self)?);
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }
}

/// Bytes known to be ASCII (atoms) as a string.
pub(crate) fn ascii(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Bytes that must be UTF-8.
pub(crate) fn utf8(bytes: Cow<'_, [u8]>) -> Result<String> {
    match String::from_utf8(bytes.into_owned()) {
        Ok(s) => Ok(s),
        Err(_) => bad("string is not UTF-8"),
    }
}
