//! What a session sends: bytes it built, and message bodies streamed from their files with LF
//! turned back into CRLF, so a 50 MB `BODY[]` never sits in memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Bytes to send, in order.
#[derive(Debug, Default)]
pub struct Output {
    segments: Vec<Segment>,
    /// Bytes in `segments`' buffers, to flush early when a response grows large.
    buffered: usize,
    /// Never used: what `bytes` would return if the last segment were not bytes.
    spare: Vec<u8>,
}

#[derive(Debug)]
enum Segment {
    Bytes(Vec<u8>),
    /// `len` bytes of the file's CRLF form, starting at CRLF offset `skip`. The file stays open,
    /// so an expunge by another session between building and sending the response is harmless.
    File {
        file: File,
        skip: u64,
        len: u64,
    },
}

impl Output {
    /// The buffer to append to.
    pub fn bytes(&mut self) -> &mut Vec<u8> {
        if !matches!(self.segments.last(), Some(Segment::Bytes(_))) {
            self.segments.push(Segment::Bytes(Vec::new()));
        }
        let last = self.segments.len() - 1;
        match self.segments.get_mut(last) {
            Some(Segment::Bytes(bytes)) => bytes,
            // Just made sure the last segment is bytes.
            _ => &mut self.spare,
        }
    }

    pub fn extend(&mut self, data: &[u8]) {
        self.buffered += data.len();
        self.bytes().extend_from_slice(data);
    }

    /// Streams `len` bytes of the file's CRLF form from CRLF offset `skip`.
    pub fn file(&mut self, file: File, skip: u64, len: u64) {
        self.segments.push(Segment::File { file, skip, len });
    }

    /// Whether enough is queued that it should be sent before building more.
    pub fn is_large(&self) -> bool {
        self.buffered > 256 * 1024 || self.segments.len() > 64
    }

    /// Sends everything queued and empties the queue.
    pub async fn flush_to<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> io::Result<()> {
        let segments = std::mem::take(&mut self.segments);
        self.buffered = 0;
        for segment in segments {
            match segment {
                Segment::Bytes(bytes) => writer.write_all(&bytes).await?,
                Segment::File { file, skip, len } => stream_crlf(file, skip, len, writer).await?,
            }
        }
        writer.flush().await
    }
}

/// Writes `len` bytes of `file` as CRLF text from CRLF offset `skip`. If the file turns out
/// shorter (it changed under us), the rest is padded with spaces: the literal length was
/// already announced, and a short literal would desynchronize the client.
async fn stream_crlf<W: AsyncWrite + Unpin>(
    mut file: File,
    skip: u64,
    len: u64,
    writer: &mut W,
) -> io::Result<()> {
    let mut converter = CrlfReader::default();
    let mut position: u64 = 0; // CRLF offset of the next output byte
    let mut left = len;
    let mut raw = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(70 * 1024);
    // A file without CR is stored LF (ours, Dovecot's); its CRLF offset of a raw offset is
    // unknown without reading, so skipping reads through. Still flat in memory.
    file.seek(SeekFrom::Start(0))?;
    while left > 0 {
        let n = tokio::task::block_in_place(|| file.read(&mut raw))?;
        if n == 0 {
            break;
        }
        out.clear();
        converter.convert(raw.get(..n).unwrap_or_default(), &mut out);
        let chunk_start = position;
        position += out.len() as u64;
        if position <= skip {
            continue;
        }
        let from = skip.saturating_sub(chunk_start) as usize;
        let avail = out.get(from..).unwrap_or_default();
        let take = avail.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        writer
            .write_all(avail.get(..take).unwrap_or_default())
            .await?;
        left -= take as u64;
    }
    while left > 0 {
        let pad = left.min(4096) as usize;
        writer.write_all(&vec![b' '; pad]).await?;
        left -= pad as u64;
    }
    Ok(())
}

/// LF → CRLF, leaving existing CRLF alone, across chunk boundaries.
#[derive(Debug, Default)]
pub struct CrlfReader {
    last_cr: bool,
}

impl CrlfReader {
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' && !self.last_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_cr = b == b'\r';
        }
    }
}

/// The whole file as CRLF text.
pub fn read_crlf(file: &mut File) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    file.read_to_end(&mut raw)?;
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 16);
    CrlfReader::default().convert(&raw, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_becomes_crlf_across_chunks() {
        let mut c = CrlfReader::default();
        let mut out = Vec::new();
        c.convert(b"a\nb\r", &mut out);
        c.convert(b"\nc\n", &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn streams_a_partial_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        std::fs::write(&path, b"Subject: x\n\nhello\nworld\n").unwrap();
        let mut out = Output::default();
        out.extend(b"<");
        out.file(File::open(&path).unwrap(), 14, 7);
        out.extend(b">");
        let mut sent = Vec::new();
        out.flush_to(&mut sent).await.unwrap();
        assert_eq!(sent, b"<hello\r\n>");
    }
}
