//! A session's connection, plain or TLS, so one session loop serves ports 25/587/143 (where
//! STARTTLS switches in the middle) and 465/993 (TLS from the first byte).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ProtocolVersion;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::listen::Stream;

/// A connection that is plain until [`upgrade`](MaybeTls::upgrade)d, or TLS from the start.
#[derive(Debug)]
pub enum MaybeTls {
    Plain(Stream),
    /// Boxed: the TLS state is large, and most connections on port 25 never use it.
    Tls(Box<TlsStream<Stream>>),
}

/// The negotiated parameters of a TLS connection, for Received headers, logs and the milter
/// macros `{tls_version}`, `{cipher}` and `{cipher_bits}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`, as OpenSSL and Postfix write it.
    pub version: &'static str,
    /// The IANA suite name as rustls spells it: `TLS13_AES_256_GCM_SHA384`,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    pub cipher: &'static str,
    /// Symmetric key size: 128 or 256.
    pub cipher_bits: u16,
    /// The key exchange group (`X25519`, `secp256r1`, `X25519MLKEM768`); `None` on a resumed
    /// TLS 1.2 session, which does no key exchange.
    pub key_exchange: Option<&'static str>,
    /// The host name the client asked for (SNI), if any.
    pub server_name: Option<String>,
}

impl MaybeTls {
    /// Implicit TLS (ports 465, 993): the handshake before any protocol byte.
    pub async fn implicit(
        stream: Stream,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> io::Result<MaybeTls> {
        handshake(stream, acceptor, timeout).await
    }

    /// STARTTLS: runs the server handshake on a plain connection, after the session has sent
    /// its "go ahead" reply (SMTP 220, IMAP OK). The session must drop whatever plaintext it
    /// had read past the STARTTLS command (CVE-2011-0411: a man in the middle appends commands
    /// that would otherwise run as if sent over TLS), and forget what it learned before
    /// (RFC 3207 section 4.2: EHLO again, no AUTH state carried over).
    ///
    /// On an already TLS connection this fails with `InvalidInput` (answer "already using TLS"
    /// before calling). A handshake that fails or takes longer than `timeout` leaves no usable
    /// connection: log the error and end the session.
    pub async fn upgrade(self, acceptor: &TlsAcceptor, timeout: Duration) -> io::Result<MaybeTls> {
        match self {
            MaybeTls::Plain(stream) => handshake(stream, acceptor, timeout).await,
            MaybeTls::Tls(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "STARTTLS on a connection that already uses TLS",
            )),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// What was negotiated, or `None` on a plain connection.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let MaybeTls::Tls(tls) = self else {
            return None;
        };
        let (_, connection) = tls.get_ref();
        let suite = connection.negotiated_cipher_suite()?;
        let cipher = suite.suite().as_str().unwrap_or("unknown");
        Some(TlsInfo {
            version: match connection.protocol_version() {
                Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
                Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
                _ => "unknown",
            },
            cipher,
            cipher_bits: cipher_bits(cipher),
            key_exchange: connection
                .negotiated_key_exchange_group()
                .and_then(|group| group.name().as_str()),
            server_name: connection.server_name().map(str::to_string),
        })
    }

    /// The underlying socket.
    pub fn get_ref(&self) -> &Stream {
        match self {
            MaybeTls::Plain(stream) => stream,
            MaybeTls::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl From<Stream> for MaybeTls {
    fn from(stream: Stream) -> Self {
        MaybeTls::Plain(stream)
    }
}

async fn handshake(
    stream: Stream,
    acceptor: &TlsAcceptor,
    timeout: Duration,
) -> io::Result<MaybeTls> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(MaybeTls::Tls(Box::new(tls))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("TLS handshake not finished after {timeout:?}"),
        )),
    }
}

/// Every suite rustls offers uses AES-128, AES-256 or ChaCha20 (256-bit key).
fn cipher_bits(cipher: &str) -> u16 {
    if cipher.contains("AES_128") { 128 } else { 256 }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            MaybeTls::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            MaybeTls::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(stream) => stream.is_write_vectored(),
            MaybeTls::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_flush(cx),
            MaybeTls::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    /// On TLS this sends close_notify before closing the write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            MaybeTls::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
        }
    }
}
