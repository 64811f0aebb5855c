//! Splitting the byte stream into LF-terminated lines, with a length limit. Both sides of
//! the protocol frame their input with it.

/// A line exceeded the limit (the limit is in the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineTooLong(pub(crate) usize);

impl From<LineTooLong> for crate::ProtocolError {
    fn from(LineTooLong(limit): LineTooLong) -> Self {
        Self::LineTooLong { limit }
    }
}

/// Buffers received bytes and hands out complete lines.
#[derive(Debug)]
pub(crate) struct LineReader {
    buffer: Vec<u8>,
    /// Start of the unconsumed part of `buffer`.
    start: usize,
    /// Where to continue looking for LF (everything before it was searched already).
    scanned: usize,
    max_line: usize,
}

impl LineReader {
    pub(crate) fn new(max_line: usize) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            scanned: 0,
            max_line,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
            self.scanned = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next line without its LF (and without a CR before it), `Ok(None)` if incomplete.
    pub(crate) fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineTooLong> {
        let pending = self.buffer.get(self.scanned..).unwrap_or_default();
        let Some(offset) = pending.iter().position(|&b| b == b'\n') else {
            self.scanned = self.buffer.len();
            if self.buffer.len() - self.start > self.max_line {
                return Err(LineTooLong(self.max_line));
            }
            return Ok(None);
        };
        let end = self.scanned + offset;
        let mut line = self.buffer.get(self.start..end).unwrap_or_default();
        if line.len() > self.max_line {
            return Err(LineTooLong(self.max_line));
        }
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        let line = line.to_vec();
        self.start = end + 1;
        self.scanned = self.start;
        // Compact once the consumed prefix dominates, so the buffer does not grow forever.
        if self.start > 4096 && self.start * 2 > self.buffer.len() {
            self.buffer.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_pushes() {
        let mut reader = LineReader::new(16);
        reader.push(b"VERS");
        assert_eq!(reader.next_line(), Ok(None));
        reader.push(b"ION\t1\t2\nCPID\t1\r\nDO");
        assert_eq!(reader.next_line(), Ok(Some(b"VERSION\t1\t2".to_vec())));
        assert_eq!(reader.next_line(), Ok(Some(b"CPID\t1".to_vec())));
        assert_eq!(reader.next_line(), Ok(None));
    }

    #[test]
    fn enforces_the_limit_with_and_without_lf() {
        let mut reader = LineReader::new(4);
        reader.push(b"1234\n12345");
        assert_eq!(reader.next_line(), Ok(Some(b"1234".to_vec())));
        assert_eq!(reader.next_line(), Err(LineTooLong(4)));
        let mut reader = LineReader::new(4);
        reader.push(b"12345\n");
        assert!(reader.next_line().is_err());
    }
}
