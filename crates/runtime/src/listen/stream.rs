//! The tokio side: a listener over either socket kind and the accepted connection.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{BoundSocket, ListenAddress, SocketFile};

/// A listening socket registered with tokio. Dropping it closes the socket and, for a UNIX
/// socket this process created, removes the socket file.
#[derive(Debug)]
pub enum Listener {
    Unix {
        listener: tokio::net::UnixListener,
        address: ListenAddress,
        socket_file: Option<SocketFile>,
    },
    Tcp {
        listener: tokio::net::TcpListener,
        address: ListenAddress,
    },
}

impl Listener {
    /// Registers a bound socket with the current tokio runtime; call inside the runtime.
    pub fn from_bound(bound: BoundSocket) -> io::Result<Listener> {
        let address = bound.address();
        match bound {
            BoundSocket::Unix {
                listener,
                socket_file,
                ..
            } => {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::UnixListener::from_std(listener)?;
                Ok(Listener::Unix {
                    listener,
                    address,
                    socket_file,
                })
            }
            BoundSocket::Tcp { listener, .. } => {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Ok(Listener::Tcp { listener, address })
            }
        }
    }

    /// Waits for the next connection. TCP connections get `TCP_NODELAY`: the protocols are
    /// request/response and flush whole replies.
    pub async fn accept(&self) -> io::Result<(Stream, PeerAddr)> {
        match self {
            Listener::Unix { listener, .. } => {
                let (stream, _) = listener.accept().await?;
                Ok((Stream::Unix(stream), PeerAddr::Unix))
            }
            Listener::Tcp { listener, .. } => {
                let (stream, peer) = listener.accept().await?;
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                Ok((Stream::Tcp(stream), PeerAddr::Tcp(peer)))
            }
        }
    }

    pub fn address(&self) -> &ListenAddress {
        match self {
            Listener::Unix { address, .. } | Listener::Tcp { address, .. } => address,
        }
    }
}

/// Connects to a peer's socket (milter, LMTP, auth server), giving up after `timeout`.
pub async fn connect(address: &ListenAddress, timeout: std::time::Duration) -> io::Result<Stream> {
    let connecting = async {
        match address {
            ListenAddress::Unix(path) => tokio::net::UnixStream::connect(path)
                .await
                .map(Stream::Unix),
            ListenAddress::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                // Request/response protocols: don't let Nagle hold back small writes.
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
        }
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {address} timed out"),
            )
        })?
}

/// An accepted or connected stream.
#[derive(Debug)]
pub enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Who connected: a local process over a UNIX socket, or a TCP peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAddr {
    Unix,
    Tcp(SocketAddr),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Unix => f.write_str("unix"),
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Stream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Unix(stream) => stream.is_write_vectored(),
            Stream::Tcp(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::{UnixSocketOptions, bind};
    use super::*;

    async fn echo_once(listener: &Listener) {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 5];
        stream.read_exact(&mut buffer).await.unwrap();
        stream.write_all(&buffer).await.unwrap();
        stream.flush().await.unwrap();
    }

    #[tokio::test]
    async fn unix_listener_accepts_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("echo.sock");
        let bound = bind(
            &ListenAddress::Unix(path.clone()),
            &UnixSocketOptions::default(),
        )
        .unwrap();
        let listener = Listener::from_bound(bound).unwrap();
        let client = tokio::spawn({
            let path = path.clone();
            async move {
                let mut client = tokio::net::UnixStream::connect(path).await.unwrap();
                client.write_all(b"hello").await.unwrap();
                let mut reply = [0u8; 5];
                client.read_exact(&mut reply).await.unwrap();
                reply
            }
        });
        echo_once(&listener).await;
        assert_eq!(&client.await.unwrap(), b"hello");
        drop(listener);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn tcp_listener_reports_the_peer() {
        let bound = bind(
            &ListenAddress::Tcp("127.0.0.1:0".parse().unwrap()),
            &UnixSocketOptions::default(),
        )
        .unwrap();
        let listener = Listener::from_bound(bound).unwrap();
        let ListenAddress::Tcp(address) = *listener.address() else {
            panic!("not tcp")
        };
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, PeerAddr::Tcp(client.local_addr().unwrap()));
        assert!(peer.to_string().starts_with("127.0.0.1:"));
        assert_eq!(PeerAddr::Unix.to_string(), "unix");
        client.write_all(b"ping!").await.unwrap();
        let mut buffer = [0u8; 5];
        stream.read_exact(&mut buffer).await.unwrap();
        assert_eq!(&buffer, b"ping!");
    }
}
