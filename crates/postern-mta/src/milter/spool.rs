//! Replacement bodies from milters (`SMFIR_REPLBODY`), written to disk as they arrive so a
//! milter cannot make the MTA hold a whole body in memory.

use super::modify::ReplacementBody;

/// Writes a replacement body to an unlinked temporary file, CRLF line ends, within a size
/// limit.
#[derive(Debug)]
pub(crate) struct BodySpool {
    file: tokio::fs::File,
    len: u64,
    limit: u64,
    last: Option<u8>,
    buffer: Vec<u8>,
}

impl BodySpool {
    pub async fn create(dir: &std::path::Path, limit: u64) -> std::io::Result<Self> {
        let dir = dir.to_path_buf();
        let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(dir))
            .await
            .map_err(std::io::Error::other)??;
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            len: 0,
            limit,
            last: None,
            buffer: Vec::new(),
        })
    }

    /// Appends a chunk; bare LF becomes CRLF (Postfix takes either line end from milters).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        use tokio::io::AsyncWriteExt;
        self.buffer.clear();
        for &byte in chunk {
            if byte == b'\n' && self.last != Some(b'\r') {
                self.buffer.push(b'\r');
            }
            self.buffer.push(byte);
            self.last = Some(byte);
        }
        self.len += self.buffer.len() as u64;
        if self.len > self.limit {
            return Err(SpoolError::TooLarge);
        }
        self.file
            .write_all(&self.buffer)
            .await
            .map_err(SpoolError::Io)
    }

    /// Ends the body with CRLF if it does not, and rewinds it for reading.
    pub async fn finish(mut self) -> Result<ReplacementBody, SpoolError> {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        if self.len > 0 && self.last != Some(b'\n') {
            self.write(b"\r\n").await?;
        }
        self.file.flush().await.map_err(SpoolError::Io)?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(SpoolError::Io)?;
        Ok(ReplacementBody {
            file: self.file.into_std().await,
            len: self.len,
        })
    }
}

/// Why a replacement body could not be spooled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpoolError {
    #[error("replacement body exceeds the size limit")]
    TooLarge,
    #[error("spooling the replacement body: {0}")]
    Io(std::io::Error),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn body_spool_normalizes_line_ends_and_enforces_its_limit() {
        use std::io::Read;
        let dir = std::env::temp_dir();
        let mut spool = BodySpool::create(&dir, 100).await.unwrap();
        spool.write(b"one\ntwo\r").await.unwrap();
        spool.write(b"\nthree").await.unwrap();
        let mut body = spool.finish().await.unwrap();
        let mut text = String::new();
        body.file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "one\r\ntwo\r\nthree\r\n");
        assert_eq!(body.len, text.len() as u64);

        let mut spool = BodySpool::create(&dir, 10).await.unwrap();
        assert!(matches!(
            spool.write(&[b'x'; 11]).await,
            Err(SpoolError::TooLarge)
        ));
    }
}
