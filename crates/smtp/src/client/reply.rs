//! Server replies as the client reads them (RFC 5321 4.2): `250-first` .. `250 last` lines
//! into one [`Reply`], enhanced status codes (RFC 2034, RFC 3463) split off the text, with hard
//! limits on line length and line count so that a hostile server can neither make us hold
//! unbounded input nor panic us.

use super::error::ProtocolError;
use crate::line::Input;
use crate::reply::{EnhancedCode, Reply};

/// Default longest reply line, line end included: eight times RFC 5321's 512 (4.5.3.1.5),
/// because real rejection texts with URLs run past 512.
pub const DEFAULT_MAX_LINE: usize = 4096;
/// Default most lines in one reply; EHLO replies of large providers have about fifteen.
pub const DEFAULT_MAX_LINES: usize = 128;

/// Incremental reply parser: push bytes in, take complete replies out.
///
/// Lines end in CRLF; a bare LF is accepted too, as Postfix's client does, since it cannot
/// change the meaning of a reply. Text that is not UTF-8 is converted lossily and control
/// characters become `?`, so reply texts are safe to log and to quote in bounces.
#[derive(Debug)]
pub struct ReplyParser {
    input: Input,
    max_line: usize,
    max_lines: usize,
    /// Lines of the reply being read: its code and texts so far.
    partial: Option<(u16, Vec<String>)>,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE, DEFAULT_MAX_LINES)
    }
}

impl ReplyParser {
    /// A parser with these limits (`max_line` counts the line end; at least 8 is used).
    pub fn new(max_line: usize, max_lines: usize) -> Self {
        Self {
            input: Input::default(),
            max_line: max_line.max(8),
            max_lines: max_lines.max(1),
            partial: None,
        }
    }

    /// Appends bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.push(bytes);
    }

    /// Bytes held and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Drops everything buffered and any partial reply: after STARTTLS, whatever came in
    /// plaintext behind the 220 must not be read as if it were protected.
    pub fn clear(&mut self) {
        self.input.clear();
        self.partial = None;
    }

    /// The next complete reply, `None` if more bytes are needed. After an error the parser's
    /// state is unspecified: the connection must be dropped.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ProtocolError> {
        loop {
            let pending = self.input.pending();
            let window = pending.get(..self.max_line).unwrap_or(pending);
            let Some(lf) = window.iter().position(|&b| b == b'\n') else {
                if pending.len() >= self.max_line {
                    return Err(ProtocolError::LineTooLong {
                        limit: self.max_line,
                    });
                }
                return Ok(None);
            };
            let line = window.get(..lf).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let (code, last, text) = parse_line(line)?;
            self.input.consume(lf + 1);
            let (first, mut lines) = self.partial.take().unwrap_or((code, Vec::new()));
            if code != first {
                return Err(ProtocolError::CodeMismatch { first, then: code });
            }
            if lines.len() >= self.max_lines {
                return Err(ProtocolError::TooManyLines {
                    limit: self.max_lines,
                });
            }
            lines.push(text);
            if last {
                return Ok(Some(finish(code, lines)));
            }
            self.partial = Some((code, lines));
        }
    }
}

/// Splits `250-text` / `250 text` / `250` into the code, whether it is the last line, and
/// the cleaned text.
fn parse_line(line: &[u8]) -> Result<(u16, bool, String), ProtocolError> {
    let (digits, rest) = line
        .split_first_chunk::<3>()
        .ok_or(ProtocolError::MalformedLine)?;
    let [hundreds, tens, units] = *digits;
    if !(b'2'..=b'5').contains(&hundreds) || !tens.is_ascii_digit() || !units.is_ascii_digit() {
        return Err(ProtocolError::MalformedLine);
    }
    let code =
        u16::from(hundreds - b'0') * 100 + u16::from(tens - b'0') * 10 + u16::from(units - b'0');
    let (last, text) = match rest.split_first() {
        None => (true, &[][..]),
        Some((b' ', text)) => (true, text),
        Some((b'-', text)) => (false, text),
        Some(_) => return Err(ProtocolError::MalformedLine),
    };
    let text = String::from_utf8_lossy(text)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Ok((code, last, text))
}

/// Builds the reply, taking the enhanced status code from the first line when its class
/// matches the code (RFC 2034 puts it on every line; it is removed wherever it appears).
fn finish(code: u16, mut lines: Vec<String>) -> Reply {
    let enhanced = lines
        .first()
        .and_then(|line| split_enhanced(line))
        .filter(|((class, _, _), _)| u16::from(*class) == code / 100)
        .map(|(enhanced, _)| enhanced);
    if let Some(enhanced) = enhanced {
        for line in &mut lines {
            if let Some((found, rest)) = split_enhanced(line)
                && found == enhanced
            {
                *line = rest.to_owned();
            }
        }
    }
    Reply::multiline(code, enhanced, lines)
}

/// `class.subject.detail` at the start of `text`, followed by a space or the end (RFC 3463:
/// class 2, 4 or 5, subject and detail of one to three digits).
fn split_enhanced(text: &str) -> Option<(EnhancedCode, &str)> {
    let (code, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = code.split('.');
    let number = |part: Option<&str>| {
        part.filter(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
    };
    let class = number(parts.next()).filter(|c| matches!(c, 2 | 4 | 5))?;
    let subject = number(parts.next())?;
    let detail = number(parts.next())?;
    if parts.next().is_some() {
        return None;
    }
    let class = u8::try_from(class).ok()?;
    Some(((class, subject, detail), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Vec<Reply>, ProtocolError> {
        let mut parser = ReplyParser::default();
        parser.push(bytes);
        let mut replies = Vec::new();
        while let Some(reply) = parser.next_reply()? {
            replies.push(reply);
        }
        assert_eq!(parser.buffered(), 0, "left over");
        Ok(replies)
    }

    /// Same result whether the bytes come whole or one at a time.
    fn parse_bytewise(bytes: &[u8]) -> Vec<Reply> {
        let mut parser = ReplyParser::default();
        let mut replies = Vec::new();
        for &b in bytes {
            parser.push(&[b]);
            while let Some(reply) = parser.next_reply().unwrap() {
                replies.push(reply);
            }
        }
        assert_eq!(replies, parse_all(bytes).unwrap());
        replies
    }

    #[test]
    fn rfc5321_d1_ehlo_reply_and_single_lines() {
        let replies = parse_bytewise(
            b"220 foo.com Simple Mail Transfer Service Ready\r\n\
              250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n\
              354 Start mail input; end with <CRLF>.<CRLF>\r\n",
        );
        assert_eq!(
            replies,
            [
                Reply::new(220, None, "foo.com Simple Mail Transfer Service Ready"),
                Reply::multiline(
                    250,
                    None,
                    ["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"]
                        .map(String::from)
                        .to_vec()
                ),
                Reply::new(354, None, "Start mail input; end with <CRLF>.<CRLF>"),
            ]
        );
    }

    #[test]
    fn enhanced_codes_are_split_off_every_line() {
        let replies = parse_bytewise(
            b"550-5.1.1 The email account that you tried to reach does not exist.\r\n\
              550 5.1.1 https://support.example/answer\r\n\
              250 2.0.0\r\n",
        );
        assert_eq!(replies[0].code, 550);
        assert_eq!(replies[0].enhanced, Some((5, 1, 1)));
        assert_eq!(
            replies[0].text,
            [
                "The email account that you tried to reach does not exist.",
                "https://support.example/answer"
            ]
        );
        assert_eq!(
            replies[1],
            Reply::multiline(250, Some((2, 0, 0)), vec![String::new()])
        );
    }

    #[test]
    fn things_that_are_not_enhanced_codes_stay_text() {
        for (line, text) in [
            (
                "250 5.1.1 class does not match",
                "5.1.1 class does not match",
            ),
            ("250 2.1 too short", "2.1 too short"),
            ("250 2.1.1.1 too long", "2.1.1.1 too long"),
            ("250 2.1000.1 four digits", "2.1000.1 four digits"),
            ("250 3.1.1 class 3", "3.1.1 class 3"),
            ("250 2.1.1x glued", "2.1.1x glued"),
            ("250 1.2.3.4 is an address", "1.2.3.4 is an address"),
        ] {
            let reply = parse_all(format!("{line}\r\n").as_bytes())
                .unwrap()
                .remove(0);
            assert_eq!(reply.enhanced, None, "{line}");
            assert_eq!(reply.text, [text], "{line}");
        }
    }

    #[test]
    fn bare_code_lf_only_and_empty_text() {
        let replies = parse_all(b"250\n221-\r\n221 \r\n").unwrap();
        assert_eq!(replies[0], Reply::new(250, None, ""));
        assert_eq!(
            replies[1],
            Reply::multiline(221, None, vec![String::new(); 2])
        );
    }

    #[test]
    fn control_characters_and_invalid_utf8_are_neutralized() {
        let reply = parse_all(b"550 a\rb\tc\x00d\xffe\x1b[31m\r\n")
            .unwrap()
            .remove(0);
        assert_eq!(reply.text, ["a?b?c?d\u{fffd}e?[31m"]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            &b"25\r\n"[..],
            b"2500 x\r\n",
            b"250x\r\n",
            b"199 x\r\n",
            b"600 x\r\n",
            b"abc def\r\n",
            b" 250 x\r\n",
            b"\r\n",
            b"2a0 x\r\n",
        ] {
            assert_eq!(parse_all(bad), Err(ProtocolError::MalformedLine), "{bad:?}");
        }
        assert_eq!(
            parse_all(b"250-a\r\n550 b\r\n"),
            Err(ProtocolError::CodeMismatch {
                first: 250,
                then: 550
            })
        );
    }

    #[test]
    fn line_limit_counts_the_line_end() {
        let mut parser = ReplyParser::new(16, 4);
        parser.push(b"250 123456789a\r\n");
        assert_eq!(parser.next_reply().unwrap().unwrap().text, ["123456789a"]);
        parser.push(b"250 123456789ab\r\n");
        assert_eq!(
            parser.next_reply(),
            Err(ProtocolError::LineTooLong { limit: 16 })
        );
        // An endless line is refused as soon as the limit is reached, not held.
        let mut parser = ReplyParser::new(16, 4);
        parser.push(&[b'2'; 15]);
        assert_eq!(parser.next_reply(), Ok(None));
        parser.push(b"5");
        assert!(parser.next_reply().is_err());
    }

    #[test]
    fn line_count_is_limited() {
        let mut parser = ReplyParser::new(64, 3);
        parser.push(b"250-a\r\n250-b\r\n250 c\r\n250-a\r\n250-b\r\n250-c\r\n");
        assert_eq!(parser.next_reply().unwrap().unwrap().text.len(), 3);
        assert_eq!(parser.next_reply(), Ok(None));
        parser.push(b"250 d\r\n");
        assert_eq!(
            parser.next_reply(),
            Err(ProtocolError::TooManyLines { limit: 3 })
        );
    }

    #[test]
    fn clear_drops_buffered_and_partial_replies() {
        let mut parser = ReplyParser::default();
        parser.push(b"250-partial\r\n250 injected");
        assert_eq!(parser.next_reply(), Ok(None));
        parser.clear();
        parser.push(b"220 fresh\r\n");
        assert_eq!(parser.next_reply().unwrap().unwrap().text, ["fresh"]);
    }
}
