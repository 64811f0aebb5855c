//! Message bodies on the wire, streamed: [`DotStuffer`] for DATA (RFC 5321 4.5.2) and
//! [`BdatFramer`] for BDAT (RFC 3030). Both take the message in chunks of any size, cut
//! anywhere (state is carried across: a chunk may end in a CR or right at a line start), and
//! never hold more than one BDAT chunk.
//!
//! Line ends are made canonical on the way out: a bare LF or bare CR becomes CRLF, and a
//! message not ending in CRLF gets one. The queue holds CRLF messages, so this changes nothing
//! for them; for anything else it is what keeps SMTP smuggling from passing through us: a
//! receiver that takes `LF . CRLF` as the end of data can never see that sequence from us,
//! because every line start we send is a real CRLF and its dot is stuffed.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// At the start of a line (or of the message).
    Start,
    /// Inside a line.
    Text,
    /// After a CR whose LF may come in the next chunk.
    Cr,
}

/// Line-end canonicalization, optionally with dot-stuffing.
#[derive(Debug, Clone)]
struct LineEnds {
    state: LineState,
    stuff_dots: bool,
}

impl LineEnds {
    fn new(stuff_dots: bool) -> Self {
        Self {
            state: LineState::Start,
            stuff_dots,
        }
    }

    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + 2);
        let mut rest = chunk;
        while let Some((&first, tail)) = rest.split_first() {
            match self.state {
                LineState::Cr => {
                    // Whatever follows, that CR ended a line; a bare one gets its LF here.
                    out.push(b'\n');
                    self.state = LineState::Start;
                    if first == b'\n' {
                        rest = tail;
                    }
                    continue;
                }
                LineState::Start if first == b'.' && self.stuff_dots => {
                    out.extend_from_slice(b"..");
                    self.state = LineState::Text;
                    rest = tail;
                    continue;
                }
                LineState::Start | LineState::Text => {}
            }
            // Copy up to the next line end in one go.
            let end = rest
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .unwrap_or(rest.len());
            let (text, after) = rest.split_at_checked(end).unwrap_or((rest, &[]));
            if !text.is_empty() {
                out.extend_from_slice(text);
                self.state = LineState::Text;
            }
            rest = match after.split_first() {
                Some((b'\r', tail)) => {
                    out.push(b'\r');
                    self.state = LineState::Cr;
                    tail
                }
                Some((_, tail)) => {
                    // A bare LF.
                    out.extend_from_slice(b"\r\n");
                    self.state = LineState::Start;
                    tail
                }
                None => after,
            };
        }
    }

    /// Completes the last line.
    fn finish(&mut self, out: &mut Vec<u8>) {
        match self.state {
            LineState::Start => {}
            LineState::Text => out.extend_from_slice(b"\r\n"),
            LineState::Cr => out.push(b'\n'),
        }
        self.state = LineState::Start;
    }
}

/// Streaming DATA encoder: dot-stuffing, canonical line ends, and the closing `.` line.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    lines: LineEnds,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotStuffer {
    /// An encoder at the start of a message.
    pub fn new() -> Self {
        Self {
            lines: LineEnds::new(true),
        }
    }

    /// Appends the wire form of the next piece of the message to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.lines.push(chunk, out);
    }

    /// Appends the end of the message: a CRLF if the last line lacks one, then `.` CRLF.
    /// The encoder is then ready for another message.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.lines.finish(out);
        out.extend_from_slice(b".\r\n");
    }
}

/// Streaming BDAT framer: buffers the message into chunks of at least `chunk_size` octets
/// and writes each as `BDAT n` CRLF followed by the octets; [`finish`](Self::finish) writes
/// the rest as `BDAT n LAST` (n may be 0). Text bodies get the same line-end treatment as with
/// DATA, so the receiver gets the same message either way; BINARYMIME bodies go as they are.
pub struct BdatFramer {
    /// `None` for BINARYMIME.
    lines: Option<LineEnds>,
    buffer: Vec<u8>,
    chunk_size: usize,
}

impl fmt::Debug for BdatFramer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BdatFramer")
            .field("binary", &self.lines.is_none())
            .field("buffered", &self.buffer.len())
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

impl BdatFramer {
    /// A framer for a 7bit or 8bit text message.
    pub fn new(chunk_size: usize) -> Self {
        Self {
            lines: Some(LineEnds::new(false)),
            buffer: Vec::new(),
            chunk_size: chunk_size.max(1),
        }
    }

    /// A framer for `BODY=BINARYMIME`: octets are sent unchanged.
    pub fn binary(chunk_size: usize) -> Self {
        Self {
            lines: None,
            ..Self::new(chunk_size)
        }
    }

    /// Takes the next piece of the message; appends complete BDAT chunks to `out` and
    /// returns how many (each gets one reply).
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> usize {
        match &mut self.lines {
            Some(lines) => lines.push(chunk, &mut self.buffer),
            None => self.buffer.extend_from_slice(chunk),
        }
        if self.buffer.len() < self.chunk_size {
            return 0;
        }
        self.flush(false, out);
        1
    }

    /// Appends the last chunk, `BDAT n LAST`. The framer is then ready for another message.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(lines) = &mut self.lines {
            lines.finish(&mut self.buffer);
        }
        self.flush(true, out);
    }

    fn flush(&mut self, last: bool, out: &mut Vec<u8>) {
        let last = if last { " LAST" } else { "" };
        out.extend_from_slice(format!("BDAT {}{last}\r\n", self.buffer.len()).as_bytes());
        out.append(&mut self.buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DotDecoder;

    fn stuff_pieces(pieces: &[&[u8]]) -> Vec<u8> {
        let mut stuffer = DotStuffer::new();
        let mut out = Vec::new();
        for piece in pieces {
            stuffer.push(piece, &mut out);
        }
        stuffer.finish(&mut out);
        out
    }

    /// The wire form, checked to be the same for every way of cutting the input in three.
    fn stuff(message: &[u8]) -> Vec<u8> {
        let whole = stuff_pieces(&[message]);
        for a in 0..=message.len() {
            for b in a..=message.len() {
                let pieces = [&message[..a], &message[a..b], &message[b..]];
                assert_eq!(stuff_pieces(&pieces), whole, "cut at {a}, {b}");
            }
        }
        whole
    }

    fn unstuff(wire: &[u8]) -> Vec<u8> {
        let mut decoder = DotDecoder::new();
        let mut out = Vec::new();
        let (used, ended) = decoder.decode(wire, &mut out);
        assert!(
            ended && used == wire.len(),
            "end of data must be the very end"
        );
        assert!(!decoder.saw_bare_line_end());
        out
    }

    #[test]
    fn rfc5321_4_5_2_transparency() {
        let message = b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\n.x\r\n";
        let wire = stuff(message);
        assert_eq!(
            wire,
            b"Blah blah blah...\r\n....etc. etc. etc.\r\n..\r\n..x\r\n.\r\n"
        );
        assert_eq!(unstuff(&wire), message);
    }

    #[test]
    fn first_line_dot_and_empty_message() {
        assert_eq!(stuff(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(stuff(b""), b".\r\n");
        assert_eq!(stuff(b"\r\n"), b"\r\n.\r\n");
    }

    #[test]
    fn missing_final_line_end_is_added() {
        assert_eq!(stuff(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(stuff(b"cr at end\r"), b"cr at end\r\n.\r\n");
        assert_eq!(stuff(b"."), b"..\r\n.\r\n");
    }

    #[test]
    fn bare_line_ends_become_crlf_so_no_fake_end_of_data_goes_out() {
        for (message, wire) in [
            (&b"a\n.\r\nMAIL"[..], &b"a\r\n..\r\nMAIL\r\n.\r\n"[..]),
            (b"a\r.\r\nMAIL", b"a\r\n..\r\nMAIL\r\n.\r\n"),
            (b"a\n.\nMAIL", b"a\r\n..\r\nMAIL\r\n.\r\n"),
            (b"a\r\n.\rMAIL", b"a\r\n..\r\nMAIL\r\n.\r\n"),
            (b"\r\r\n", b"\r\n\r\n.\r\n"),
            (b"\n\n", b"\r\n\r\n.\r\n"),
        ] {
            assert_eq!(stuff(message), wire, "{message:?}");
            unstuff(wire);
        }
    }

    #[test]
    fn stuffer_is_reusable_after_finish() {
        let mut stuffer = DotStuffer::new();
        let mut out = Vec::new();
        stuffer.push(b"one\r", &mut out);
        stuffer.finish(&mut out);
        stuffer.push(b".two", &mut out);
        stuffer.finish(&mut out);
        assert_eq!(out, b"one\r\n.\r\n..two\r\n.\r\n");
    }

    #[test]
    fn bdat_chunks_and_last() {
        let mut framer = BdatFramer::new(8);
        let mut out = Vec::new();
        assert_eq!(framer.push(b".abc\n", &mut out), 0);
        assert_eq!(framer.push(b"defg", &mut out), 1);
        assert_eq!(framer.push(b"h", &mut out), 0);
        framer.finish(&mut out);
        assert_eq!(out, b"BDAT 10\r\n.abc\r\ndefgBDAT 3 LAST\r\nh\r\n");

        let mut out = Vec::new();
        framer.finish(&mut out);
        assert_eq!(out, b"BDAT 0 LAST\r\n");
    }

    #[test]
    fn bdat_binary_is_unchanged() {
        let mut framer = BdatFramer::binary(4);
        let mut out = Vec::new();
        assert_eq!(framer.push(b"\r\n.\n\0\xff", &mut out), 1);
        assert_eq!(framer.push(b"\r", &mut out), 0);
        framer.finish(&mut out);
        assert_eq!(out, b"BDAT 6\r\n\r\n.\n\0\xffBDAT 1 LAST\r\n\r");
    }
}
