//! The DATA body decoder: removes dot-stuffing and finds the end of data. Only CRLF `.` CRLF
//! ends a message; `LF.CRLF`, `CR.CRLF`, `CRLF.CR`, `LF.LF` and the like are message bytes,
//! which is what makes SMTP smuggling impossible. State is kept between calls, so the
//! terminator may be split across reads at any byte.

/// Where the decoder is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After CRLF (or at the start of data).
    LineStart,
    /// After CRLF `.`; the dot is dropped whatever follows.
    Dot,
    /// After CRLF `.` CR; an LF now ends the data.
    DotCr,
    /// Inside a line.
    Text,
    /// After a CR inside a line.
    Cr,
}

/// Incremental DATA decoder (RFC 5321 4.5.2 dot-unstuffing, 4.1.1.4 end of data).
#[derive(Debug, Clone)]
pub struct DotDecoder {
    state: State,
    bare_cr: bool,
    bare_lf: bool,
}

impl Default for DotDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DotDecoder {
    /// A decoder at the start of data (right after the CRLF of `DATA`).
    pub fn new() -> Self {
        Self {
            state: State::LineStart,
            bare_cr: false,
            bare_lf: false,
        }
    }

    /// Decodes from `input`, appending message bytes to `out`. Returns how many input bytes
    /// were used and whether the end of data was reached (the bytes after it are not used).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        for (index, &byte) in input.iter().enumerate() {
            match self.state {
                State::LineStart if byte == b'.' => self.state = State::Dot,
                State::Dot if byte == b'\r' => self.state = State::DotCr,
                State::DotCr if byte == b'\n' => {
                    self.state = State::LineStart;
                    return (index + 1, true);
                }
                State::DotCr => {
                    // ".\r" then something else: the dot was stuffing, the CR is bare.
                    self.bare_cr = true;
                    out.push(b'\r');
                    self.text(byte, out);
                }
                State::Cr if byte == b'\n' => {
                    out.push(b'\n');
                    self.state = State::LineStart;
                }
                State::Cr => {
                    self.bare_cr = true;
                    self.text(byte, out);
                }
                State::LineStart | State::Dot | State::Text => self.text(byte, out),
            }
        }
        (input.len(), false)
    }

    /// A byte inside a line. A bare LF does not start a new line: no dot-unstuffing and no end
    /// of data after it.
    fn text(&mut self, byte: u8, out: &mut Vec<u8>) {
        out.push(byte);
        self.state = match byte {
            b'\r' => State::Cr,
            b'\n' => {
                self.bare_lf = true;
                State::Text
            }
            _ => State::Text,
        };
    }

    /// Whether a bare CR or bare LF was seen. A CR still waiting for its LF does not count.
    pub fn saw_bare_line_end(&self) -> bool {
        self.bare_cr || self.bare_lf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes in pieces split at `split`, returning (message, rest after end) if it ended.
    fn decode_split(input: &[u8], split: usize) -> Option<(Vec<u8>, Vec<u8>, bool)> {
        let mut decoder = DotDecoder::new();
        let mut out = Vec::new();
        let (head, tail) = input.split_at(split);
        let (used, ended) = decoder.decode(head, &mut out);
        if ended {
            let rest = input[used..].to_vec();
            return Some((out, rest, decoder.saw_bare_line_end()));
        }
        let (used, ended) = decoder.decode(tail, &mut out);
        ended.then(|| (out, tail[used..].to_vec(), decoder.saw_bare_line_end()))
    }

    fn decode(input: &[u8]) -> Option<(Vec<u8>, Vec<u8>, bool)> {
        let results: Vec<_> = (0..=input.len()).map(|s| decode_split(input, s)).collect();
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "split changed result"
        );
        results.into_iter().next().unwrap()
    }

    #[test]
    fn plain_message_and_unstuffing() {
        let (message, rest, bare) =
            decode(b"Subject: x\r\n\r\n..dot\r\n.x\r\n.\r\nQUIT\r\n").unwrap();
        assert_eq!(message, b"Subject: x\r\n\r\n.dot\r\nx\r\n");
        assert_eq!(rest, b"QUIT\r\n");
        assert!(!bare);
    }

    #[test]
    fn empty_message() {
        assert_eq!(decode(b".\r\n"), Some((vec![], vec![], false)));
        assert_eq!(
            decode(b"\r\n.\r\n"),
            Some((b"\r\n".to_vec(), vec![], false))
        );
    }

    #[test]
    fn smuggling_sequences_do_not_end_data() {
        for fake in [
            &b"x\n.\r\nMAIL"[..],
            b"x\r.\r\nMAIL",
            b"x\r\n.\rMAIL",
            b"x\n.\nMAIL",
            b"x\r\n.\nMAIL",
            b"x\n.\rMAIL",
            b"x\r\r\n.\r\r\nMAIL",
        ] {
            let mut input = fake.to_vec();
            input.extend_from_slice(b"\r\n.\r\n");
            let (message, rest, bare) = decode(&input).unwrap();
            assert!(rest.is_empty(), "{fake:?}");
            assert!(bare, "{fake:?}");
            assert!(message.ends_with(b"MAIL\r\n"), "{fake:?}");
        }
    }

    #[test]
    fn dot_cr_without_lf_keeps_the_cr() {
        let (message, _, bare) = decode(b"a\r\n.\rb\r\n.\r\n").unwrap();
        assert_eq!(message, b"a\r\n\rb\r\n");
        assert!(bare);
    }

    #[test]
    fn incomplete_data_does_not_end() {
        assert_eq!(decode(b"a\r\n.\r"), None);
        assert_eq!(decode(b"a\r\n."), None);
    }
}
