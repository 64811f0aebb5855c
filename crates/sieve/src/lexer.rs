//! Tokens of RFC 5228 section 8.1: identifiers, tags, numbers with K/M/G, quoted and
//! `text:` strings, punctuation; comments and white space are skipped here.

use crate::error::{CompileError, Position};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Lower-cased: identifiers are case-insensitive (RFC 5228 2.9).
    Identifier(String),
    /// Lower-cased, without the colon.
    Tag(String),
    Number(u64),
    String(String),
    LeftBracket,
    RightBracket,
    Comma,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Semicolon,
    End,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Identifier(name) => format!("identifier '{name}'"),
            TokenKind::Tag(name) => format!("tag ':{name}'"),
            TokenKind::Number(n) => format!("number {n}"),
            TokenKind::String(_) => "a string".to_string(),
            TokenKind::LeftBracket => "'['".to_string(),
            TokenKind::RightBracket => "']'".to_string(),
            TokenKind::Comma => "','".to_string(),
            TokenKind::LeftParen => "'('".to_string(),
            TokenKind::RightParen => "')'".to_string(),
            TokenKind::LeftBrace => "'{'".to_string(),
            TokenKind::RightBrace => "'}'".to_string(),
            TokenKind::Semicolon => "';'".to_string(),
            TokenKind::End => "the end of the script".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub position: Position,
}

/// Produces one token at a time so that memory stays proportional to the script, not to a
/// token array several times its size.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    rest: &'a str,
    position: Position,
}

fn is_identifier_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Lexer {
            rest: source,
            position: Position { line: 1, column: 1 },
        }
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest.chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.rest.chars().next()?;
        self.rest = self.rest.get(c.len_utf8()..).unwrap_or("");
        if c == '\n' {
            self.position.line = self.position.line.saturating_add(1);
            self.position.column = 1;
        } else {
            self.position.column = self.position.column.saturating_add(1);
        }
        Some(c)
    }

    /// Consumes characters while `keep` holds and returns them as one slice.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.rest;
        let mut len = 0;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            len += c.len_utf8();
            self.bump();
        }
        start.get(..len).unwrap_or("")
    }

    fn skip_blanks_and_comments(&mut self) -> Result<(), CompileError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => {
                    self.take_while(|c| c != '\n');
                }
                Some('/') if self.peek_second() == Some('*') => {
                    let start = self.position;
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                            None => {
                                return Err(CompileError::at(
                                    self.position,
                                    format!(
                                        "end of script inside the /* comment started at line {}",
                                        start.line
                                    ),
                                ));
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, CompileError> {
        self.skip_blanks_and_comments()?;
        let position = self.position;
        let token = |kind| Ok(Token { kind, position });
        let Some(c) = self.peek() else {
            return token(TokenKind::End);
        };
        let single = match c {
            '[' => Some(TokenKind::LeftBracket),
            ']' => Some(TokenKind::RightBracket),
            ',' => Some(TokenKind::Comma),
            '(' => Some(TokenKind::LeftParen),
            ')' => Some(TokenKind::RightParen),
            '{' => Some(TokenKind::LeftBrace),
            '}' => Some(TokenKind::RightBrace),
            ';' => Some(TokenKind::Semicolon),
            _ => None,
        };
        if let Some(kind) = single {
            self.bump();
            return token(kind);
        }
        if c == '"' {
            self.bump();
            return token(TokenKind::String(self.quoted_string(position)?));
        }
        if c == ':' {
            self.bump();
            if !self.peek().is_some_and(is_identifier_start) {
                return Err(CompileError::at(position, "expected a tag name after ':'"));
            }
            let name = self.take_while(is_identifier_char);
            return token(TokenKind::Tag(name.to_ascii_lowercase()));
        }
        if c.is_ascii_digit() {
            return token(TokenKind::Number(self.number(position)?));
        }
        if is_identifier_start(c) {
            let name = self.take_while(is_identifier_char).to_ascii_lowercase();
            if name == "text" && self.peek() == Some(':') {
                self.bump();
                return token(TokenKind::String(self.multi_line(position)?));
            }
            return token(TokenKind::Identifier(name));
        }
        Err(CompileError::at(
            position,
            format!("unexpected character {c:?}"),
        ))
    }

    fn number(&mut self, position: Position) -> Result<u64, CompileError> {
        let digits = self.take_while(|c| c.is_ascii_digit());
        let too_large = || {
            CompileError::at(
                position,
                format!("number exceeds the limit of {}", u64::MAX),
            )
        };
        let value: u64 = digits.parse().map_err(|_| too_large())?;
        let shift = match self.peek() {
            Some('k' | 'K') => 10,
            Some('m' | 'M') => 20,
            Some('g' | 'G') => 30,
            _ => return Ok(value),
        };
        self.bump();
        value.checked_mul(1u64 << shift).ok_or_else(too_large)
    }

    fn quoted_string(&mut self, start: Position) -> Result<String, CompileError> {
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(value),
                // RFC 5228 2.4.2: "\\" and "\"" are the escapes; before any other character
                // the backslash is simply dropped.
                Some('\\') => match self.bump() {
                    Some(c) => value.push(c),
                    None => break,
                },
                Some('\0') => {
                    return Err(CompileError::at(self.position, "NUL character in a string"));
                }
                Some(c) => value.push(c),
                None => break,
            }
        }
        Err(CompileError::at(
            start,
            "string not terminated before the end of the script",
        ))
    }

    /// `text:` up to a line holding only "." (RFC 5228 2.4.2). Lines end with CRLF in the
    /// value whatever the file used, and a leading ".." loses one dot.
    fn multi_line(&mut self, start: Position) -> Result<String, CompileError> {
        self.take_while(|c| c == ' ' || c == '\t');
        match self.peek() {
            Some('#') => {
                self.take_while(|c| c != '\n');
            }
            Some('\r' | '\n') => {}
            _ => {
                return Err(CompileError::at(
                    self.position,
                    "text: must be followed by the end of the line",
                ));
            }
        }
        self.take_while(|c| c == '\r');
        if self.bump() != Some('\n') {
            return Err(CompileError::at(
                start,
                "text: string not terminated by a line holding only \".\"",
            ));
        }
        let mut value = String::new();
        loop {
            let line = self.take_while(|c| c != '\n');
            let ended = self.bump().is_some();
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line == "." {
                return Ok(value);
            }
            if line.contains('\0') {
                return Err(CompileError::at(self.position, "NUL character in a string"));
            }
            if !ended {
                return Err(CompileError::at(
                    start,
                    "text: string not terminated by a line holding only \".\"",
                ));
            }
            let line = if line.starts_with("..") {
                line.get(1..).unwrap_or("")
            } else {
                line
            };
            value.push_str(line);
            value.push_str("\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Result<Vec<TokenKind>, CompileError> {
        let mut lexer = Lexer::new(source);
        let mut out = Vec::new();
        loop {
            let token = lexer.next_token()?;
            if token.kind == TokenKind::End {
                return Ok(out);
            }
            out.push(token.kind);
        }
    }

    #[test]
    fn numbers_with_quantifiers() {
        assert_eq!(
            kinds("1 1K 2m 3G").unwrap(),
            vec![
                TokenKind::Number(1),
                TokenKind::Number(1024),
                TokenKind::Number(2 << 20),
                TokenKind::Number(3 << 30)
            ]
        );
        assert!(kinds("99999999999999999999").is_err());
        assert!(kinds("17179869184G").is_err());
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(
            kinds(r#""a\"b\\c\d""#).unwrap(),
            vec![TokenKind::String("a\"b\\cd".into())]
        );
    }

    #[test]
    fn multi_line_dot_stuffing() {
        let source = "text: # comment\n..one\r\ntwo\n.\n;";
        assert_eq!(
            kinds(source).unwrap(),
            vec![
                TokenKind::String(".one\r\ntwo\r\n".into()),
                TokenKind::Semicolon
            ]
        );
        assert!(kinds("text:\nno end\n").is_err());
        assert!(kinds("text: x\n.\n").is_err());
    }

    #[test]
    fn comments_and_positions() {
        let mut lexer = Lexer::new("# c\n /* a\n b */ KEEP");
        let token = lexer.next_token().unwrap();
        assert_eq!(token.kind, TokenKind::Identifier("keep".into()));
        assert_eq!(token.position, Position { line: 3, column: 7 });
        let err = kinds("keep; /* open").unwrap_err();
        assert!(err.message.contains("comment started at line 1"), "{err}");
    }
}
