//! Received bytes and command-line framing: lines end in CRLF (or, as a named quirk, LF), are
//! at most the configured length, and an overlong or malformed line is skipped up to the next
//! line end without buffering what is skipped.

use crate::settings::BareLfInCommands;

/// Bytes received and not yet consumed.
#[derive(Debug, Default)]
pub(crate) struct Input {
    buffer: Vec<u8>,
    start: usize,
}

impl Input {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    pub(crate) fn pending(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or_default()
    }

    pub(crate) fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.buffer.len());
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buffer.clear();
        self.start = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.buffer.len() - self.start
    }
}

/// One framing result.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its line end.
    Complete(Vec<u8>),
    /// The line exceeds the limit; it is being skipped up to the next line end.
    TooLong,
    /// The line has a bare CR or LF; it is being skipped up to the next CRLF.
    BareLineEnd,
}

/// Splits command lines off an [`Input`], enforcing the length limit and the line-end policy.
#[derive(Debug)]
pub(crate) struct LineFramer {
    limit: usize,
    policy: BareLfInCommands,
    /// Skipping the rest of a bad line.
    skipping: bool,
    /// While skipping: the last byte dropped was CR, so an LF next ends the line.
    skipped_cr: bool,
}

impl LineFramer {
    /// `limit` counts the line end too.
    pub(crate) fn new(limit: usize, policy: BareLfInCommands) -> Self {
        Self {
            limit,
            policy,
            skipping: false,
            skipped_cr: false,
        }
    }

    /// The next line, or `None` when more bytes are needed.
    pub(crate) fn next_line(&mut self, input: &mut Input) -> Option<Line> {
        if self.skipping && !self.skip(input) {
            return None;
        }
        let data = input.pending();
        let window = data.get(..self.limit).unwrap_or(data);
        let Some(lf) = window.iter().position(|&b| b == b'\n') else {
            if data.len() < self.limit {
                return None;
            }
            self.skipping = true;
            self.skipped_cr = false;
            // Drop what we have now so the excess is never held.
            self.skip(input);
            return Some(Line::TooLong);
        };
        let body = window.get(..lf).unwrap_or_default();
        let (body, crlf) = match body.strip_suffix(b"\r") {
            Some(body) => (body, true),
            None => (body, false),
        };
        if !crlf && self.policy == BareLfInCommands::Reject {
            input.consume(lf + 1);
            self.skipping = true;
            self.skipped_cr = false;
            self.skip(input);
            return Some(Line::BareLineEnd);
        }
        let line = if body.contains(&b'\r') {
            Line::BareLineEnd
        } else {
            Line::Complete(body.to_vec())
        };
        input.consume(lf + 1);
        Some(line)
    }

    /// Drops bytes up to and including the next line end. Returns whether it was found.
    fn skip(&mut self, input: &mut Input) -> bool {
        let data = input.pending();
        let end = if self.skipped_cr && data.first() == Some(&b'\n') {
            Some(1)
        } else {
            let ends_line = |pair: &[u8]| match self.policy {
                BareLfInCommands::Reject => pair == b"\r\n",
                BareLfInCommands::AcceptAsLineEnd => pair.get(1) == Some(&b'\n'),
            };
            let lone_lf =
                self.policy == BareLfInCommands::AcceptAsLineEnd && data.first() == Some(&b'\n');
            if lone_lf {
                Some(1)
            } else {
                data.windows(2).position(ends_line).map(|at| at + 2)
            }
        };
        match end {
            Some(end) => {
                input.consume(end);
                self.skipping = false;
                self.skipped_cr = false;
                true
            }
            None => {
                if let Some(&last) = data.last() {
                    self.skipped_cr = last == b'\r';
                }
                let all = data.len();
                input.consume(all);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer, input: &mut Input, bytes: &[u8]) -> Vec<Line> {
        input.push(bytes);
        std::iter::from_fn(|| framer.next_line(input)).collect()
    }

    fn complete(text: &str) -> Line {
        Line::Complete(text.as_bytes().to_vec())
    }

    #[test]
    fn splits_crlf_lines_across_pushes() {
        let mut framer = LineFramer::new(512, BareLfInCommands::Reject);
        let mut input = Input::default();
        assert_eq!(
            lines(&mut framer, &mut input, b"NOOP\r\nQU"),
            [complete("NOOP")]
        );
        assert_eq!(lines(&mut framer, &mut input, b"IT\r"), []);
        assert_eq!(lines(&mut framer, &mut input, b"\n"), [complete("QUIT")]);
        assert_eq!(input.len(), 0);
    }

    #[test]
    fn limit_counts_the_crlf() {
        let mut framer = LineFramer::new(8, BareLfInCommands::Reject);
        let mut input = Input::default();
        assert_eq!(
            lines(&mut framer, &mut input, b"123456\r\n"),
            [complete("123456")]
        );
        assert_eq!(
            lines(&mut framer, &mut input, b"1234567\r\nNOOP\r\n"),
            [Line::TooLong, complete("NOOP")]
        );
    }

    #[test]
    fn overlong_line_is_dropped_as_it_arrives() {
        let mut framer = LineFramer::new(16, BareLfInCommands::Reject);
        let mut input = Input::default();
        assert_eq!(
            lines(&mut framer, &mut input, &[b'x'; 100]),
            [Line::TooLong]
        );
        for _ in 0..100 {
            assert_eq!(lines(&mut framer, &mut input, &[b'x'; 1000]), []);
            assert_eq!(input.len(), 0);
        }
        assert_eq!(lines(&mut framer, &mut input, b"\r"), []);
        assert_eq!(
            lines(&mut framer, &mut input, b"\nNOOP\r\n"),
            [complete("NOOP")]
        );
    }

    #[test]
    fn skipped_cr_survives_an_empty_read() {
        let mut framer = LineFramer::new(8, BareLfInCommands::Reject);
        let mut input = Input::default();
        assert_eq!(
            lines(&mut framer, &mut input, b"NOOP xx\r"),
            [Line::TooLong]
        );
        assert_eq!(lines(&mut framer, &mut input, b""), []);
        assert_eq!(
            lines(&mut framer, &mut input, b"\nRSET\r\n"),
            [complete("RSET")]
        );
    }

    #[test]
    fn bare_lf_is_rejected_up_to_the_next_crlf() {
        let mut framer = LineFramer::new(512, BareLfInCommands::Reject);
        let mut input = Input::default();
        assert_eq!(
            lines(&mut framer, &mut input, b"NOOP\nQUIT\r\nRSET\r\n"),
            [Line::BareLineEnd, complete("RSET")]
        );
        assert_eq!(
            lines(&mut framer, &mut input, b"NO\rOP\r\nRSET\r\n"),
            [Line::BareLineEnd, complete("RSET")]
        );
    }

    #[test]
    fn bare_lf_quirk_ends_lines() {
        let mut framer = LineFramer::new(8, BareLfInCommands::AcceptAsLineEnd);
        let mut input = Input::default();
        assert_eq!(
            lines(&mut framer, &mut input, b"NOOP\nRSET\r\n123456789\nQUIT\n"),
            [
                complete("NOOP"),
                complete("RSET"),
                Line::TooLong,
                complete("QUIT")
            ]
        );
    }
}
