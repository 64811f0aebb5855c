//! Listening sockets: addresses as configured, binding UNIX and TCP sockets as root before the
//! privilege drop, adopting systemd-activated sockets, and the tokio listener the daemons accept on.

mod address;
mod bind;
mod stream;
mod systemd;

pub use address::ListenAddress;
pub use bind::{BoundSocket, SocketFile, UnixSocketOptions, bind};
pub use stream::{Listener, PeerAddr, Stream, connect};
pub use systemd::systemd_listeners;

use std::path::PathBuf;

/// Why a socket could not be bound or adopted.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {address}: in use by another process")]
    InUse { address: ListenAddress },
    #[error(
        "cannot listen on {address}: the path exists and is not a socket; refusing to replace it"
    )]
    NotASocket { address: ListenAddress },
    #[error("cannot listen on {address}: directory {} does not exist", directory.display())]
    MissingDirectory {
        address: ListenAddress,
        directory: PathBuf,
    },
    #[error("cannot listen on {address}: {reason}")]
    Socket {
        address: ListenAddress,
        reason: String,
    },
    #[error("cannot listen on {address}: {source}")]
    Io {
        address: ListenAddress,
        source: std::io::Error,
    },
    #[error("systemd socket activation: {0}")]
    Activation(String),
}
