//! The connection under an IMAP session: plain or TLS, and after COMPRESS=DEFLATE (RFC 4978)
//! raw DEFLATE both ways, each response flushed with a sync flush so the client can decode
//! it at once.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use runtime::tls::MaybeTls;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a session reads from and writes to.
#[derive(Debug)]
pub enum Connection {
    Plain(MaybeTls),
    Deflate(Box<Deflate>),
}

impl Connection {
    /// Turns compression on; what the client sends from now on is compressed.
    pub fn compress(self) -> Connection {
        match self {
            Connection::Plain(inner) => Connection::Deflate(Box::new(Deflate::new(inner))),
            other => other,
        }
    }
}

/// DEFLATE over a stream. Buffers are bounded: input is inflated into the caller's buffer as
/// it is read; output is compressed chunk by chunk.
pub struct Deflate {
    inner: MaybeTls,
    inflate: Decompress,
    deflate: Compress,
    /// Compressed bytes read but not yet inflated.
    input: Vec<u8>,
    input_pos: usize,
    /// Compressed bytes not yet written.
    output: Vec<u8>,
    output_pos: usize,
    /// A sync flush is due before the next flush completes.
    needs_sync: bool,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate").finish_non_exhaustive()
    }
}

const CHUNK: usize = 16 * 1024;

impl Deflate {
    fn new(inner: MaybeTls) -> Deflate {
        Deflate {
            inner,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::fast(), false),
            input: Vec::with_capacity(CHUNK),
            input_pos: 0,
            output: Vec::with_capacity(CHUNK),
            output_pos: 0,
            needs_sync: false,
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.output_pos < self.output.len() {
            let pending = self.output.get(self.output_pos..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.output_pos += n;
        }
        self.output.clear();
        self.output_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Compresses `data` (or flushes, with an empty slice and `Sync`) into `output`.
    fn compress(&mut self, data: &[u8], flush: FlushCompress) -> io::Result<usize> {
        let mut consumed = 0;
        loop {
            self.output.reserve(CHUNK);
            let before_in = self.deflate.total_in();
            let before_out = self.deflate.total_out();
            let rest = data.get(consumed..).unwrap_or_default();
            self.deflate
                .compress_vec(rest, &mut self.output, flush)
                .map_err(io::Error::other)?;
            consumed += (self.deflate.total_in() - before_in) as usize;
            let produced = self.deflate.total_out() - before_out;
            let spare = self.output.capacity() - self.output.len();
            if consumed >= data.len() && (spare > 0 || produced == 0) {
                return Ok(consumed);
            }
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(inner) => Pin::new(inner).poll_read(cx, buf),
            Connection::Deflate(d) => d.poll_read_inflated(cx, buf),
        }
    }
}

impl Deflate {
    fn poll_read_inflated(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.input_pos < self.input.len() {
                let before_in = self.inflate.total_in();
                let before_out = self.inflate.total_out();
                let pending = self.input.get(self.input_pos..).unwrap_or_default();
                let status = self
                    .inflate
                    .decompress(pending, buf.initialize_unfilled(), FlushDecompress::Sync)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                self.input_pos += (self.inflate.total_in() - before_in) as usize;
                let produced = (self.inflate.total_out() - before_out) as usize;
                buf.advance(produced);
                if produced > 0 {
                    return Poll::Ready(Ok(()));
                }
                if status == Status::StreamEnd {
                    return Poll::Ready(Ok(()));
                }
                if self.input_pos < self.input.len() && buf.remaining() > 0 {
                    // No progress with input left: corrupt stream.
                    return Poll::Ready(Err(io::ErrorKind::InvalidData.into()));
                }
            }
            self.input.clear();
            self.input_pos = 0;
            self.input.resize(CHUNK, 0);
            let mut raw = ReadBuf::new(&mut self.input);
            let polled = Pin::new(&mut self.inner).poll_read(cx, &mut raw);
            let filled = raw.filled().len();
            self.input.truncate(filled);
            ready!(polled)?;
            if filled == 0 {
                return Poll::Ready(Ok(())); // EOF
            }
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(inner) => Pin::new(inner).poll_write(cx, data),
            Connection::Deflate(d) => {
                if d.output.len() - d.output_pos >= CHUNK {
                    ready!(d.poll_drain(cx))?;
                }
                let n = d.compress(data, FlushCompress::None)?;
                d.needs_sync = true;
                Poll::Ready(Ok(n))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(inner) => Pin::new(inner).poll_flush(cx),
            Connection::Deflate(d) => {
                if d.needs_sync {
                    d.compress(&[], FlushCompress::Sync)?;
                    d.needs_sync = false;
                }
                ready!(d.poll_drain(cx))?;
                Pin::new(&mut d.inner).poll_flush(cx)
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(inner) => Pin::new(inner).poll_shutdown(cx),
            Connection::Deflate(d) => {
                ready!(d.poll_drain(cx))?;
                Pin::new(&mut d.inner).poll_shutdown(cx)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn round_trips_with_sync_flushes() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let a = Connection::Plain(MaybeTls::Plain(runtime::listen::Stream::Unix(a)));
        let b = Connection::Plain(MaybeTls::Plain(runtime::listen::Stream::Unix(b)));
        let (mut a, mut b) = (a.compress(), b.compress());
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let expected = big.clone();
        let writer = tokio::spawn(async move {
            a.write_all(b"* OK hello\r\n").await.unwrap();
            a.flush().await.unwrap();
            a.write_all(&big).await.unwrap();
            a.flush().await.unwrap();
            a
        });
        let mut got = vec![0u8; 12];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"* OK hello\r\n");
        let mut rest = vec![0u8; expected.len()];
        b.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, expected);
        drop(writer.await.unwrap());
    }
}
