//! Streaming body canonicalization (RFC 6376 §3.4.3, §3.4.4) feeding SHA-256: the `bh=` value.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::algorithm::Canonicalization;

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const CRLF: &[u8] = b"\r\n";
/// Canonical output is staged here so SHA-256 sees large blocks, not word-sized runs.
const STAGE: usize = 16 * 1024;
/// Held-back empty lines are released in batches of this many CRLFs.
const CRLF_BATCH: &[u8] = b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

/// Canonicalizes and hashes a body given in arbitrary chunks.
///
/// Memory stays constant in the message size: trailing empty lines are held back as a
/// counter, a CR at a chunk end as a flag, a whitespace run (relaxed) as a flag.
/// Lines end only at CRLF; a lone CR or LF is an ordinary byte.
pub struct BodyHasher {
    canonicalization: Canonicalization,
    sha: Sha256,
    stage: Vec<u8>,
    /// The previous chunk ended in CR; the line ends if this one starts with LF.
    pending_cr: bool,
    /// Relaxed: a WSP run was seen in this line and not yet written (becomes one SP
    /// if more content follows in the line, nothing if the line ends).
    pending_wsp: bool,
    /// The current line has canonical content already written.
    line_has_content: bool,
    /// Empty lines seen since the last line with content, not yet written.
    held_empty_lines: u64,
    /// Anything at all was written to the hash.
    wrote_anything: bool,
    /// Raw bytes consumed (for Debug only).
    consumed: u64,
}

impl fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyHasher")
            .field("canonicalization", &self.canonicalization)
            .field("consumed", &self.consumed)
            .field("held_empty_lines", &self.held_empty_lines)
            .field("pending_cr", &self.pending_cr)
            .finish_non_exhaustive()
    }
}

impl BodyHasher {
    /// A hasher for an empty body so far.
    pub fn new(c: Canonicalization) -> Self {
        BodyHasher {
            canonicalization: c,
            sha: Sha256::new(),
            stage: Vec::with_capacity(STAGE),
            pending_cr: false,
            pending_wsp: false,
            line_has_content: false,
            held_empty_lines: 0,
            wrote_anything: false,
            consumed: 0,
        }
    }

    /// Feeds the next chunk of raw body bytes (CRLF line ends, any split points).
    pub fn update(&mut self, chunk: &[u8]) {
        self.consumed = self.consumed.saturating_add(chunk.len() as u64);
        let relaxed = self.canonicalization == Canonicalization::Relaxed;
        let mut rest = chunk;
        while let Some((&b, tail)) = rest.split_first() {
            if self.pending_cr {
                self.pending_cr = false;
                if b == LF {
                    self.end_line();
                    rest = tail;
                    continue;
                }
                // A CR not followed by LF is content like any other byte.
                self.content(&[CR]);
            }
            match b {
                CR => {
                    self.pending_cr = true;
                    rest = tail;
                }
                b' ' | b'\t' if relaxed => {
                    self.pending_wsp = true;
                    rest = tail;
                }
                _ => {
                    let n = if relaxed {
                        relaxed_run_len(rest)
                    } else {
                        find_cr(rest).unwrap_or(rest.len())
                    };
                    let (run, after) = rest.split_at_checked(n).unwrap_or((rest, &[]));
                    self.content(run);
                    rest = after;
                }
            }
        }
    }

    /// Applies the end-of-body rules and returns SHA-256 of the canonical body.
    pub fn finish(mut self) -> [u8; 32] {
        if self.pending_cr {
            self.pending_cr = false;
            self.content(&[CR]);
        }
        if self.line_has_content {
            // Missing final CRLF: add one.
            self.write(CRLF);
        } else if !self.wrote_anything && self.canonicalization == Canonicalization::Simple {
            // An empty simple body is a single CRLF; an empty relaxed body is empty.
            self.write(CRLF);
        }
        // Held-back empty lines are trailing ones: dropped.
        self.flush_stage();
        self.sha.finalize().into()
    }

    /// A line ended (CRLF seen).
    fn end_line(&mut self) {
        if self.line_has_content {
            self.write(CRLF);
        } else {
            self.held_empty_lines = self.held_empty_lines.saturating_add(1);
        }
        self.line_has_content = false;
        self.pending_wsp = false;
    }

    /// Non-WSP content (in relaxed; any content in simple) for the current line.
    fn content(&mut self, run: &[u8]) {
        if run.is_empty() {
            return;
        }
        if !self.line_has_content {
            self.release_empty_lines();
        }
        if self.pending_wsp {
            self.pending_wsp = false;
            self.write(b" ");
        }
        self.write(run);
        self.line_has_content = true;
    }

    /// Empty lines turned out not to be trailing: write them.
    fn release_empty_lines(&mut self) {
        let batch = (CRLF_BATCH.len() / 2) as u64;
        while self.held_empty_lines > 0 {
            let n = self.held_empty_lines.min(batch);
            let bytes = CRLF_BATCH.get(..(n as usize) * 2).unwrap_or(CRLF);
            self.write(bytes);
            self.held_empty_lines -= n;
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.wrote_anything = true;
        if self.stage.len() + bytes.len() > STAGE {
            self.flush_stage();
        }
        if bytes.len() >= STAGE {
            self.sha.update(bytes);
        } else {
            self.stage.extend_from_slice(bytes);
        }
    }

    fn flush_stage(&mut self) {
        if !self.stage.is_empty() {
            self.sha.update(&self.stage);
            self.stage.clear();
        }
    }
}

/// Length of the run at the start of `s` (whose first byte is neither CR nor WSP) that is
/// already in relaxed canonical form: it ends before CR, TAB, or a SP that is not a single
/// space between two other bytes.
fn relaxed_run_len(s: &[u8]) -> usize {
    let mut space_at: Option<usize> = None;
    for (i, &b) in s.iter().enumerate() {
        match b {
            CR | b'\t' => return space_at.unwrap_or(i),
            b' ' => match space_at {
                Some(first) => return first,
                None => space_at = Some(i),
            },
            _ => space_at = None,
        }
    }
    space_at.unwrap_or(s.len())
}

/// Position of the first CR, eight bytes at a time ("has zero byte" test on `word ^ CR*8`).
fn find_cr(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut start = 0;
    for word in s.chunks_exact(8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ (ONES * u64::from(CR));
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        start += 8;
    }
    s.get(start..)?
        .iter()
        .position(|&b| b == CR)
        .map(|p| start + p)
}

/// One-shot helper: the body hash of a complete body.
#[cfg(test)]
pub(crate) fn body_hash(c: Canonicalization, body: &[u8]) -> [u8; 32] {
    let mut h = BodyHasher::new(c);
    h.update(body);
    h.finish()
}
