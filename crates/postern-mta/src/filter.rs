//! A message on its way through the milters: its header section kept (bounded) and passed
//! field by field, its body spooled to an unnamed file beside the queue and streamed to the
//! milters, and at the end the message written into the queue as the milters left it
//! (header changes, replacement body).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use smtp::Reply;

use crate::milter::{MilterChain, MilterReply, Verdict};

/// Largest header section passed to milters; a longer one is refused (Postfix's
/// `header_size_limit` is 100 KiB, and truncates instead).
pub const MAX_HEADER_SECTION: usize = 1 << 20;

/// The message while milters look at it.
#[derive(Debug)]
pub struct Filtered {
    header: Vec<u8>,
    headers_done: bool,
    /// Fields as (name, value after the colon with its folds, without the final CRLF).
    pub headers: Vec<(String, String)>,
    /// Whether an empty line separated header and body.
    pub separator: bool,
    body: File,
    /// The first refusal during DATA and the content: it answers the end of data.
    pub refusal: Option<Verdict>,
}

impl Filtered {
    pub fn new(spool_dir: &std::path::Path) -> std::io::Result<Filtered> {
        Ok(Filtered {
            header: Vec::new(),
            headers_done: false,
            headers: Vec::new(),
            separator: false,
            body: tempfile::tempfile_in(spool_dir)?,
            refusal: None,
        })
    }

    fn note(&mut self, verdict: Verdict) {
        if self.refusal.is_none() && !verdict.proceeds() {
            self.refusal = Some(verdict);
        }
    }

    /// Message bytes (CRLF line ends, not dot-stuffed) as they arrive.
    pub async fn push(&mut self, chunk: &[u8], milters: &mut MilterChain) -> Result<(), String> {
        if self.headers_done {
            return self.body_chunk(chunk, milters).await;
        }
        self.header.extend_from_slice(chunk);
        let Some((end, body_start, separator)) = header_end(&self.header) else {
            if self.header.len() > MAX_HEADER_SECTION {
                return Err("header section too large".into());
            }
            return Ok(());
        };
        self.headers_done = true;
        self.separator = separator;
        let section = std::mem::take(&mut self.header);
        let (fields, rest_from) = parse_fields(section.get(..end).unwrap_or_default());
        self.headers = fields;
        // A malformed line ends the header section: it and what follows are body.
        let mut body = section.get(rest_from..end).unwrap_or_default().to_vec();
        if rest_from < end {
            self.separator = false;
            body.extend_from_slice(section.get(end..).unwrap_or_default());
        } else {
            body = section.get(body_start..).unwrap_or_default().to_vec();
        }
        if self.refusal.is_none() {
            for (name, value) in self.headers.clone() {
                let verdict = milters.header(&name, &value).await;
                self.note(verdict);
                if self.refusal.is_some() {
                    break;
                }
            }
        }
        if self.refusal.is_none() {
            let verdict = milters.end_of_headers().await;
            self.note(verdict);
        }
        self.body_chunk(&body, milters).await
    }

    async fn body_chunk(&mut self, chunk: &[u8], milters: &mut MilterChain) -> Result<(), String> {
        if chunk.is_empty() {
            return Ok(());
        }
        tokio::task::block_in_place(|| self.body.write_all(chunk))
            .map_err(|e| format!("spool body: {e}"))?;
        if self.refusal.is_none() {
            let verdict = milters.body(chunk).await;
            self.note(verdict);
        }
        Ok(())
    }

    /// The end of data came before the end of the header section: all of it was header.
    pub async fn finish_headers(&mut self, milters: &mut MilterChain) -> Result<(), String> {
        if self.headers_done {
            return Ok(());
        }
        let mut section = std::mem::take(&mut self.header);
        if !section.ends_with(b"\r\n") && !section.is_empty() {
            section.extend_from_slice(b"\r\n");
        }
        self.header = section;
        // Pretend an empty line followed, then drop it from what is written back.
        self.header.extend_from_slice(b"\r\n");
        self.push(&[], milters).await?;
        self.separator = false;
        Ok(())
    }

    /// Writes header fields and body (or `replacement`) to `out`.
    pub fn write_to(
        mut self,
        headers: &[(String, String)],
        replacement: Option<File>,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        for (name, value) in headers {
            out(name.as_bytes())?;
            out(b":")?;
            out(value.as_bytes())?;
            out(b"\r\n")?;
        }
        if self.separator || replacement.is_some() {
            out(b"\r\n")?;
        }
        let mut body = match replacement {
            Some(file) => file,
            None => self.body,
        };
        body.seek(SeekFrom::Start(0))?;
        self.header = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = body.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            out(chunk.get(..n).unwrap_or_default())?;
        }
    }
}

/// Where the header section ends: (end of the last field's CRLF, start of the body, whether
/// an empty line separated them).
fn header_end(bytes: &[u8]) -> Option<(usize, usize, bool)> {
    if bytes.starts_with(b"\r\n") {
        return Some((0, 2, true));
    }
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i + 2, i + 4, true))
}

/// Splits a header section (each line CRLF-terminated) into fields; returns them and the
/// offset of the first line that is not part of a field (== len when all are).
fn parse_fields(section: &[u8]) -> (Vec<(String, String)>, usize) {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut offset = 0;
    while offset < section.len() {
        let rest = section.get(offset..).unwrap_or_default();
        let line_len = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |i| i + 2);
        let line = rest.get(..line_len).unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let content = text.strip_suffix("\r\n").unwrap_or(&text);
        if content.starts_with([' ', '\t']) {
            match fields.last_mut() {
                Some((_, value)) => {
                    value.push_str("\r\n");
                    value.push_str(content);
                }
                None => return (fields, offset),
            }
        } else {
            match content.split_once(':') {
                Some((name, value))
                    if !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
                {
                    fields.push((name.to_string(), value.to_string()));
                }
                _ => return (fields, offset),
            }
        }
        offset += line_len;
    }
    (fields, offset)
}

/// A milter's reply as an SMTP reply (it was checked by the chain: code, enhanced code,
/// printable text).
pub fn smtp_reply(reply: &MilterReply) -> Reply {
    let code = reply.code();
    let mut enhanced = None;
    let mut lines = Vec::new();
    for line in reply.lines() {
        let text = line.get(4..).unwrap_or_default();
        let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
        let parts: Vec<Option<u16>> = first.split('.').map(|p| p.parse().ok()).collect();
        match parts.as_slice() {
            [Some(class), Some(subject), Some(detail)]
                if enhanced.is_none() || lines.is_empty() =>
            {
                enhanced = u8::try_from(*class).ok().map(|c| (c, *subject, *detail));
                lines.push(rest.to_string());
            }
            [Some(_), Some(_), Some(_)] => lines.push(rest.to_string()),
            _ => lines.push(text.to_string()),
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    Reply::multiline(code, enhanced, lines)
}

/// The SMTP reply for a refusing verdict.
pub fn verdict_reply(verdict: &Verdict) -> Option<Reply> {
    verdict.reply().map(smtp_reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_folds_and_malformed_lines() {
        let (fields, rest) = parse_fields(b"Subject: a\r\n b\r\nX-A:1\r\nnot a header\r\nY: 2\r\n");
        assert_eq!(
            fields,
            [
                ("Subject".to_string(), " a\r\n b".to_string()),
                ("X-A".to_string(), "1".to_string())
            ]
        );
        assert_eq!(rest, 23);
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), Some((6, 8, true)));
        assert_eq!(header_end(b"\r\nbody"), Some((0, 2, true)));
        assert_eq!(header_end(b"A: b\r\n"), None);
    }

    #[test]
    fn milter_replies_become_smtp_replies() {
        let reply = MilterReply::parse(b"554 5.7.1 Go away").unwrap();
        let smtp = smtp_reply(&reply);
        assert_eq!(smtp.to_bytes(), b"554 5.7.1 Go away\r\n");
        let plain = MilterReply::tempfail();
        assert_eq!(
            smtp_reply(&plain).to_bytes(),
            b"451 4.7.1 Service unavailable - try again later\r\n"
        );
    }
}
