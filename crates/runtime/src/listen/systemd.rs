//! systemd socket activation (sd_listen_fds(3)): adopting the listening sockets a `.socket`
//! unit passed as fds 3, 4, … when `LISTEN_PID` is our pid.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{
    AddressFamily, SockType, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt,
};

use super::{BoundSocket, ListenError};

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// The sockets systemd passed to this process, or an empty list when not socket-activated
/// (no `LISTEN_FDS`, or `LISTEN_PID` names another process). Each fd gets `FD_CLOEXEC` and
/// non-blocking mode. The socket files belong to systemd and are never removed by us.
///
/// Call once, early, before any thread is started: the `LISTEN_*` variables are then removed
/// from the environment so children do not inherit them.
pub fn systemd_listeners() -> Result<Vec<BoundSocket>, ListenError> {
    let listen_pid = std::env::var("LISTEN_PID").ok();
    let listen_fds = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let count = activated_count(
        listen_pid.as_deref(),
        listen_fds.as_deref(),
        std::process::id(),
    )?;
    if listen_pid.is_some() {
        unset_activation_env();
    }
    let names: Vec<&str> = names
        .as_deref()
        .map(|n| n.split(':').collect())
        .unwrap_or_default();
    let mut sockets = Vec::with_capacity(count);
    for index in 0..count {
        let fd = RawFd::try_from(index)
            .ok()
            .and_then(|index| FIRST_FD.checked_add(index))
            .ok_or_else(|| ListenError::Activation(format!("LISTEN_FDS={count} is too large")))?;
        let name = names.get(index).copied().unwrap_or("unknown");
        let socket = adopt(take_fd(fd)?, fd, name)?;
        tracing::debug!(fd, name, address = %socket.address(), "adopted socket from systemd");
        sockets.push(socket);
    }
    Ok(sockets)
}

/// How many fds were passed to the process with id `own_pid`.
fn activated_count(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    own_pid: u32,
) -> Result<usize, ListenError> {
    let (Some(listen_pid), Some(listen_fds)) = (listen_pid, listen_fds) else {
        return Ok(0);
    };
    let pid: u32 = listen_pid.trim().parse().map_err(|_| {
        ListenError::Activation(format!("LISTEN_PID={listen_pid:?} is not a process id"))
    })?;
    if pid != own_pid {
        return Ok(0);
    }
    let count: usize = listen_fds.trim().parse().map_err(|_| {
        ListenError::Activation(format!("LISTEN_FDS={listen_fds:?} is not a number"))
    })?;
    if count > 1024 {
        return Err(ListenError::Activation(format!(
            "LISTEN_FDS={count} is implausibly large"
        )));
    }
    Ok(count)
}

/// Takes ownership of an inherited fd after checking that it is open, and sets `FD_CLOEXEC`.
#[allow(unsafe_code)]
fn take_fd(fd: RawFd) -> Result<OwnedFd, ListenError> {
    // SAFETY: `fd` ≥ 3 (not stdio) and only borrowed for this one fcntl call; an fd that is not
    // open makes fcntl fail with EBADF, nothing else happens.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if let Err(e) = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
        return Err(ListenError::Activation(format!(
            "LISTEN_FDS includes fd {fd}, which is not usable: {e}"
        )));
    }
    // SAFETY: LISTEN_PID named this process, so systemd passed fds 3..3+LISTEN_FDS to us and
    // nothing else in the process owns them; the fd was just checked to be open (≥ 3); each fd
    // is taken once, since the loop visits it once and the LISTEN_* variables are removed so a
    // second call finds nothing.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Wraps a passed fd in the std listener matching its address family.
fn adopt(owned: OwnedFd, fd: RawFd, name: &str) -> Result<BoundSocket, ListenError> {
    let unusable = |reason: String| ListenError::Activation(format!("fd {fd} ({name}): {reason}"));
    let is_stream = getsockopt(&owned, sockopt::SockType)
        .map_err(|e| unusable(format!("not a socket: {e}")))?;
    if is_stream != SockType::Stream {
        return Err(unusable("not a stream socket (use ListenStream=)".into()));
    }
    if !getsockopt(&owned, sockopt::AcceptConn).map_err(|e| unusable(e.to_string()))? {
        return Err(unusable(
            "not a listening socket (Accept=yes is not supported)".into(),
        ));
    }
    let local: SockaddrStorage =
        getsockname(owned.as_raw_fd()).map_err(|e| unusable(e.to_string()))?;
    match local.family() {
        Some(AddressFamily::Unix) => {
            let listener = UnixListener::from(owned);
            listener
                .set_nonblocking(true)
                .map_err(|e| unusable(e.to_string()))?;
            let path = listener
                .local_addr()
                .ok()
                .and_then(|address| address.as_pathname().map(PathBuf::from))
                .unwrap_or_default();
            Ok(BoundSocket::Unix {
                listener,
                path,
                socket_file: None,
            })
        }
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            let listener = TcpListener::from(owned);
            listener
                .set_nonblocking(true)
                .map_err(|e| unusable(e.to_string()))?;
            let address = listener.local_addr().map_err(|e| unusable(e.to_string()))?;
            Ok(BoundSocket::Tcp { listener, address })
        }
        other => Err(unusable(format!("unsupported address family {other:?}"))),
    }
}

/// Removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`, but only while this is the sole
/// thread: changing the environment races with any other thread reading it.
#[allow(unsafe_code)]
fn unset_activation_env() {
    let threads = std::fs::read_dir("/proc/self/task").map(Iterator::count);
    if threads.ok() != Some(1) {
        tracing::debug!("other threads running, leaving LISTEN_* in the environment");
        return;
    }
    for variable in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: /proc/self/task shows this is the only thread, so no other thread can read
        // or write the environment concurrently.
        unsafe { std::env::remove_var(variable) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_pid_means_not_activated() {
        assert_eq!(activated_count(Some("1"), Some("2"), 4242).unwrap(), 0);
    }

    #[test]
    fn own_pid_counts_fds() {
        assert_eq!(activated_count(Some("4242"), Some("2"), 4242).unwrap(), 2);
        assert_eq!(activated_count(Some("4242"), Some("0"), 4242).unwrap(), 0);
    }

    #[test]
    fn absent_variables_mean_not_activated() {
        assert_eq!(activated_count(None, None, 4242).unwrap(), 0);
        assert_eq!(activated_count(Some("4242"), None, 4242).unwrap(), 0);
        assert_eq!(activated_count(None, Some("1"), 4242).unwrap(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(activated_count(Some("me"), Some("1"), 4242).is_err());
        assert!(activated_count(Some("4242"), Some("-1"), 4242).is_err());
        assert!(activated_count(Some("4242"), Some("100000"), 4242).is_err());
    }

    #[test]
    fn not_activated_in_tests() {
        // cargo test is not started by systemd with our pid in LISTEN_PID.
        assert!(systemd_listeners().unwrap().is_empty());
    }

    #[test]
    fn adopts_a_listening_unix_socket_without_owning_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("activated.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let fd = listener.as_raw_fd();
        let bound = adopt(OwnedFd::from(listener), fd, "milter").unwrap();
        assert_eq!(
            bound.address(),
            super::super::ListenAddress::Unix(path.clone())
        );
        assert!(matches!(
            bound,
            BoundSocket::Unix {
                socket_file: None,
                ..
            }
        ));
        drop(bound);
        assert!(path.exists(), "systemd owns the file");
    }

    #[test]
    fn refuses_a_socket_that_is_not_listening() {
        let (left, _right) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = left.as_raw_fd();
        let e = adopt(OwnedFd::from(left), fd, "x").unwrap_err();
        assert!(e.to_string().contains("not a listening socket"), "{e}");
    }
}
