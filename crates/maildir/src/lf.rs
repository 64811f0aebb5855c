//! Streaming CRLF → LF conversion that also counts the stored size (`S=`) and the size with
//! CRLF line ends (`W=`), across arbitrary chunk boundaries.
//!
//! Dovecot stores LF-only files and computes a message's virtual size by counting every LF not
//! preceded by CR as two bytes; `W=` is computed the same way from the bytes actually stored, so
//! it matches what Dovecot would compute for the file even for odd input (bare CR, bare LF).

/// The converter state: a CR held back in case the next chunk starts with LF.
#[derive(Debug, Default, Clone)]
pub struct LfConverter {
    pending_cr: bool,
    last_stored: Option<u8>,
    size: u64,
    vsize: u64,
}

impl LfConverter {
    /// A converter at the start of a message.
    pub fn new() -> LfConverter {
        LfConverter::default()
    }

    /// Converts one chunk, appending the bytes to store to `out`.
    pub fn convert(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + 1);
        let mut rest = chunk;
        if self.pending_cr {
            self.pending_cr = false;
            match rest.first() {
                Some(b'\n') => {}
                Some(_) => self.push(b'\r', out),
                None => {
                    self.pending_cr = true;
                    return;
                }
            }
        }
        // Runs between CRs are copied whole; only CRs need a decision.
        while !rest.is_empty() {
            let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
                self.push_run(rest, out);
                break;
            };
            let (run, from_cr) = rest.split_at(cr);
            self.push_run(run, out);
            rest = from_cr.get(1..).unwrap_or_default();
            match rest.first() {
                Some(b'\n') => {} // drop the CR of a CRLF; the LF follows
                Some(_) => self.push(b'\r', out),
                None => self.pending_cr = true,
            }
        }
    }

    /// Stores bytes that contain no CR: every LF in them counts double in `W=`, except a first
    /// LF that follows a stored bare CR (the file then holds a CRLF).
    fn push_run(&mut self, run: &[u8], out: &mut Vec<u8>) {
        let Some(&last) = run.last() else {
            return;
        };
        out.extend_from_slice(run);
        let mut lfs = run.iter().filter(|&&b| b == b'\n').count() as u64;
        if run.first() == Some(&b'\n') && self.last_stored == Some(b'\r') {
            lfs -= 1;
        }
        self.size += run.len() as u64;
        self.vsize += run.len() as u64 + lfs;
        self.last_stored = Some(last);
    }

    /// Ends the message: a CR held back at the very end is stored as is.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            self.push(b'\r', out);
        }
    }

    fn push(&mut self, b: u8, out: &mut Vec<u8>) {
        out.push(b);
        self.size += 1;
        self.vsize += 1;
        if b == b'\n' && self.last_stored != Some(b'\r') {
            self.vsize += 1;
        }
        self.last_stored = Some(b);
    }

    /// Bytes stored so far (`S=`); final after [`finish`](Self::finish).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Size with CRLF line ends so far (`W=`); final after [`finish`](Self::finish).
    pub fn vsize(&self) -> u64 {
        self.vsize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_in_chunks(input: &[u8], chunk: usize) -> (Vec<u8>, u64, u64) {
        let mut c = LfConverter::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            c.convert(piece, &mut out);
        }
        c.finish(&mut out);
        (out, c.size(), c.vsize())
    }

    #[test]
    fn crlf_becomes_lf_with_exact_sizes() {
        let input = b"Subject: hi\r\n\r\nbody\r\n";
        for chunk in 1..=input.len() {
            let (out, s, w) = convert_in_chunks(input, chunk);
            assert_eq!(out, b"Subject: hi\n\nbody\n");
            assert_eq!(s, out.len() as u64);
            assert_eq!(w, input.len() as u64, "chunk {chunk}");
        }
    }

    #[test]
    fn bare_cr_and_lf_are_kept_and_counted_like_dovecot() {
        // bare LF counts 2 in W, bare CR counts 1, "\r\r\n" stores "\r\n" which counts 2.
        let input = b"a\nb\rc\r\r\nd\r";
        for chunk in 1..=input.len() {
            let (out, s, w) = convert_in_chunks(input, chunk);
            assert_eq!(out, b"a\nb\rc\r\nd\r", "chunk {chunk}");
            assert_eq!(s, 9);
            assert_eq!(w, 10);
        }
    }

    /// Whole-message reference: drop each CR that precedes an LF; W counts LFs the stored
    /// file has without a CR before them twice.
    fn reference(input: &[u8]) -> (Vec<u8>, u64) {
        let mut stored = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            if !(b == b'\r' && input.get(i + 1) == Some(&b'\n')) {
                stored.push(b);
            }
        }
        let lone_lfs = stored
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && (i == 0 || stored.get(i - 1) != Some(&b'\r')))
            .count();
        let w = (stored.len() + lone_lfs) as u64;
        (stored, w)
    }

    #[test]
    fn random_inputs_and_chunkings_match_the_reference() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for _ in 0..2000 {
            let len = next() % 40;
            let input: Vec<u8> = (0..len).map(|_| [b'a', b'\r', b'\n'][next() % 3]).collect();
            let (want, want_w) = reference(&input);
            let mut c = LfConverter::new();
            let mut out = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at((next() % 5).min(rest.len()));
                c.convert(piece, &mut out);
                rest = tail;
            }
            c.finish(&mut out);
            assert_eq!(out, want, "{input:?}");
            assert_eq!(
                (c.size(), c.vsize()),
                (want.len() as u64, want_w),
                "{input:?}"
            );
        }
    }

    #[test]
    fn empty_chunks_do_not_lose_a_pending_cr() {
        let mut c = LfConverter::new();
        let mut out = Vec::new();
        c.convert(b"x\r", &mut out);
        c.convert(b"", &mut out);
        c.convert(b"\ny", &mut out);
        c.finish(&mut out);
        assert_eq!(out, b"x\ny");
        assert_eq!((c.size(), c.vsize()), (3, 4));
    }
}
