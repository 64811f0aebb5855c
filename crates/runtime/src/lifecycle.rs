//! Signals and staged shutdown: SIGHUP asks for a reload, SIGTERM/SIGINT for shutdown, which
//! stops accepting, tells sessions through a token, and waits for them up to a deadline.

use std::future::Future;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP.
    Reload,
    /// SIGTERM or SIGINT.
    Shutdown,
}

/// Signal handlers plus the set of running sessions. Create inside the tokio runtime.
#[derive(Debug)]
pub struct Lifecycle {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    shutdown: CancellationToken,
    sessions: TaskTracker,
}

/// A cloneable handle that starts tracked sessions, for accept loops running in their own task.
#[derive(Debug, Clone)]
pub struct Spawner {
    sessions: TaskTracker,
}

impl Spawner {
    /// Starts a session that [`Lifecycle::drain`] waits for.
    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        drop(self.sessions.spawn(fut));
    }
}

impl Lifecycle {
    /// Installs the signal handlers; from now on SIGHUP/SIGTERM/SIGINT no longer kill the process.
    pub fn new() -> std::io::Result<Self> {
        Ok(Lifecycle {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        })
    }

    /// Waits for the next reload or shutdown request.
    pub async fn next_signal(&mut self) -> Signal {
        tokio::select! {
            received = self.hangup.recv() => match received {
                Some(()) => Signal::Reload,
                None => Signal::Shutdown,
            },
            _ = self.terminate.recv() => Signal::Shutdown,
            _ = self.interrupt.recv() => Signal::Shutdown,
        }
    }

    /// Cancelled when [`drain`](Self::drain) starts: accept loops stop, sessions finish the
    /// current transaction and say goodbye (SMTP 421, milter tempfail).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts a session that [`drain`](Self::drain) waits for.
    pub fn spawn_session<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        drop(self.sessions.spawn(fut));
    }

    /// A handle for spawning sessions from another task.
    pub fn clone_spawner(&self) -> Spawner {
        Spawner {
            sessions: self.sessions.clone(),
        }
    }

    /// Cancels the shutdown token and waits up to `deadline` for the sessions. Returns how many
    /// were still running (0 = clean); they end when the runtime is dropped.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.shutdown.cancel();
        self.sessions.close();
        match tokio::time::timeout(deadline, self.sessions.wait()).await {
            Ok(()) => 0,
            Err(_) => self.sessions.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_finishes_when_sessions_end() {
        let lifecycle = Lifecycle::new().unwrap();
        for _ in 0..3 {
            let token = lifecycle.shutdown_token();
            lifecycle.spawn_session(async move { token.cancelled().await });
        }
        let spawner = lifecycle.clone_spawner();
        spawner.spawn(async { tokio::time::sleep(Duration::from_millis(20)).await });
        assert_eq!(lifecycle.drain(Duration::from_secs(5)).await, 0);
    }

    #[tokio::test]
    async fn drain_reports_stragglers_after_the_deadline() {
        let lifecycle = Lifecycle::new().unwrap();
        let token = lifecycle.shutdown_token();
        lifecycle.spawn_session(async move { token.cancelled().await });
        lifecycle.spawn_session(async { std::future::pending::<()>().await });
        lifecycle.spawn_session(async { tokio::time::sleep(Duration::from_secs(3600)).await });
        assert_eq!(lifecycle.drain(Duration::from_millis(50)).await, 2);
        assert!(lifecycle.shutdown_token().is_cancelled());
    }
}
