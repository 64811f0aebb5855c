//! Binding sockets ourselves (as root, before the privilege drop): stale UNIX socket files are
//! replaced, live ones and non-sockets are not; the file is removed again when we stop.

use std::fs::Permissions;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::{ListenAddress, ListenError};
use crate::config::{lookup_group, lookup_user};

/// The default mode of a UNIX socket we create: the owner and its group may connect.
const DEFAULT_MODE: u32 = 0o660;

/// Who may connect to a UNIX socket we bind: mode (default 0660), owner and group.
#[derive(Debug, Clone, Default)]
pub struct UnixSocketOptions {
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// A bound, listening socket not yet handed to tokio (see [`super::Listener::from_bound`]).
#[derive(Debug)]
pub enum BoundSocket {
    /// `socket_file` is set for sockets we created, never for ones systemd passed us.
    Unix {
        listener: UnixListener,
        path: PathBuf,
        socket_file: Option<SocketFile>,
    },
    Tcp {
        listener: TcpListener,
        address: std::net::SocketAddr,
    },
}

impl BoundSocket {
    pub fn address(&self) -> ListenAddress {
        match self {
            BoundSocket::Unix { path, .. } => ListenAddress::Unix(path.clone()),
            BoundSocket::Tcp { address, .. } => ListenAddress::Tcp(*address),
        }
    }
}

/// A socket file this process created; removed on drop if it is still the same file (another
/// instance may have replaced it meanwhile).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl SocketFile {
    fn created(path: &Path) -> Self {
        let identity = std::fs::symlink_metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        SocketFile {
            path: path.to_path_buf(),
            identity,
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let current = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        if current.is_none() || current != self.identity {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot remove socket file");
        }
    }
}

/// Binds `address` with blocking std sockets. Call as root before dropping privileges and
/// before the tokio runtime starts. `options` apply to UNIX sockets only.
pub fn bind(
    address: &ListenAddress,
    options: &UnixSocketOptions,
) -> Result<BoundSocket, ListenError> {
    match address {
        ListenAddress::Unix(path) => bind_unix(address, path, options),
        ListenAddress::Tcp(socket_address) => {
            // std sets SO_REUSEADDR on Unix, so a restart does not wait for TIME_WAIT.
            let io = |source| ListenError::Io {
                address: address.clone(),
                source,
            };
            let listener = TcpListener::bind(socket_address).map_err(io)?;
            let address = listener.local_addr().map_err(io)?;
            Ok(BoundSocket::Tcp { listener, address })
        }
    }
}

fn bind_unix(
    address: &ListenAddress,
    path: &Path,
    options: &UnixSocketOptions,
) -> Result<BoundSocket, ListenError> {
    let io = |source| ListenError::Io {
        address: address.clone(),
        source,
    };
    if let Some(directory) = path.parent()
        && !directory.as_os_str().is_empty()
        && !directory.is_dir()
    {
        return Err(ListenError::MissingDirectory {
            address: address.clone(),
            directory: directory.to_path_buf(),
        });
    }
    remove_stale(address, path)?;
    let listener = UnixListener::bind(path).map_err(io)?;
    // From here on the guard removes the file again if anything below fails.
    let socket_file = SocketFile::created(path);
    let owner = match &options.owner {
        Some(name) => Some(
            lookup_user(name)
                .map_err(|reason| socket_error(address, reason))?
                .0
                .as_raw(),
        ),
        None => None,
    };
    let group = match &options.group {
        Some(name) => Some(
            lookup_group(name)
                .map_err(|reason| socket_error(address, reason))?
                .as_raw(),
        ),
        None => None,
    };
    if owner.is_some() || group.is_some() {
        std::os::unix::fs::chown(path, owner, group).map_err(io)?;
    }
    let mode = options.mode.unwrap_or(DEFAULT_MODE);
    std::fs::set_permissions(path, Permissions::from_mode(mode)).map_err(io)?;
    Ok(BoundSocket::Unix {
        listener,
        path: path.to_path_buf(),
        socket_file: Some(socket_file),
    })
}

fn socket_error(address: &ListenAddress, reason: impl Into<String>) -> ListenError {
    ListenError::Socket {
        address: address.clone(),
        reason: reason.into(),
    }
}

/// Removes a socket file left by a crashed instance; a socket someone still accepts on, or a
/// path that is not a socket, is an error.
fn remove_stale(address: &ListenAddress, path: &Path) -> Result<(), ListenError> {
    use std::os::unix::fs::FileTypeExt;
    let io = |source| ListenError::Io {
        address: address.clone(),
        source,
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if !metadata.file_type().is_socket() {
        return Err(ListenError::NotASocket {
            address: address.clone(),
        });
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ListenError::InUse {
            address: address.clone(),
        }),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale socket file");
            std::fs::remove_file(path).map_err(io)
        }
        Err(e) => Err(socket_error(
            address,
            format!("cannot check whether the existing socket is in use: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(path: &Path) -> ListenAddress {
        ListenAddress::Unix(path.to_path_buf())
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn binds_with_default_mode_and_removes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("milter.sock");
        let bound = bind(&unix(&path), &UnixSocketOptions::default()).unwrap();
        assert_eq!(bound.address(), unix(&path));
        assert_eq!(mode_of(&path), 0o660);
        UnixStream::connect(&path).unwrap();
        drop(bound);
        assert!(!path.exists());
    }

    #[test]
    fn applies_mode_and_own_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let gid = nix::unistd::getegid();
        let group = nix::unistd::Group::from_gid(gid).unwrap().map(|g| g.name);
        let options = UnixSocketOptions {
            mode: Some(0o600),
            owner: None,
            group,
        };
        let _bound = bind(&unix(&path), &options).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(std::fs::metadata(&path).unwrap().gid(), gid.as_raw());
    }

    #[test]
    fn stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale.sock");
        drop(UnixListener::bind(&path).unwrap()); // std leaves the file behind
        assert!(path.exists());
        let _bound = bind(&unix(&path), &UnixSocketOptions::default()).unwrap();
        UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn live_socket_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.sock");
        let _other = UnixListener::bind(&path).unwrap();
        let e = bind(&unix(&path), &UnixSocketOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot listen on unix:{}: in use by another process",
                path.display()
            )
        );
        UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn regular_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.sock");
        std::fs::write(&path, "keep me").unwrap();
        let e = bind(&unix(&path), &UnixSocketOptions::default()).unwrap_err();
        assert!(matches!(e, ListenError::NotASocket { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }

    #[test]
    fn missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("postern-dkim");
        let path = missing.join("milter.sock");
        let e = bind(&unix(&path), &UnixSocketOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot listen on unix:{}: directory {} does not exist",
                path.display(),
                missing.display()
            )
        );
    }

    #[test]
    fn unknown_owner_fails_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let options = UnixSocketOptions {
            owner: Some("no-such-user-postern".into()),
            ..Default::default()
        };
        let e = bind(&unix(&path), &options).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("unknown user \"no-such-user-postern\""),
            "{e}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn tcp_reports_the_assigned_port() {
        let address = ListenAddress::Tcp("127.0.0.1:0".parse().unwrap());
        let bound = bind(&address, &UnixSocketOptions::default()).unwrap();
        let ListenAddress::Tcp(actual) = bound.address() else {
            panic!("not tcp")
        };
        assert_ne!(actual.port(), 0);
        std::net::TcpStream::connect(actual).unwrap();
    }
}
