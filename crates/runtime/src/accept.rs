//! Accepting connections: one loop per listener under a connection limit shared by all of a
//! daemon's listeners, each session tracked by the [`Lifecycle`] so SIGTERM can drain it, and
//! a session id that every log line of the connection carries.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::lifecycle::Lifecycle;
use crate::listen::{Listener, PeerAddr, Stream};

/// A connection's id: fixed-width hex, so it greps well next to Postfix queue ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// One accepted connection, handed to the daemon's session code.
#[derive(Debug)]
pub struct Accepted {
    pub stream: Stream,
    pub peer: PeerAddr,
    pub id: SessionId,
    /// Cancelled when shutdown starts: finish the current transaction and say goodbye.
    pub shutdown: CancellationToken,
}

/// The connection limit and id counter shared by all accept loops of one daemon.
#[derive(Debug, Clone)]
pub struct Acceptor {
    limit: Arc<Semaphore>,
    next_id: Arc<AtomicU64>,
}

impl Acceptor {
    pub fn new(max_connections: usize) -> Self {
        Acceptor {
            limit: Arc::new(Semaphore::new(max_connections)),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A fresh session id, for work that is not a connection (queue runs, sweeps).
    pub fn next_id(&self) -> SessionId {
        SessionId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Accepts on `listener` until shutdown, running `session` for each connection as a
    /// tracked task. Over the limit a connection is closed at once (logged): the client
    /// retries, as it would against Postfix's `process_limit`.
    pub fn spawn<F, Fut>(&self, listener: Listener, lifecycle: &Lifecycle, session: F)
    where
        F: Fn(Accepted) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let acceptor = self.clone();
        let shutdown = lifecycle.shutdown_token();
        let sessions = lifecycle.clone_spawner();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = shutdown.cancelled() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let id = acceptor.next_id();
                let Ok(permit) = acceptor.limit.clone().try_acquire_owned() else {
                    warn!(session = %id, peer = %peer, "connection limit reached, closing");
                    continue;
                };
                let running = session(Accepted {
                    stream,
                    peer,
                    id,
                    shutdown: shutdown.clone(),
                });
                sessions.spawn(async move {
                    running.await;
                    drop(permit);
                });
            }
        });
    }
}

/// The last stage of a daemon: waits up to `deadline` for sessions after shutdown started,
/// logging the outcome.
pub async fn drain(lifecycle: &Lifecycle, deadline: Duration) {
    crate::notify::stopping();
    info!(deadline = ?deadline, "shutting down: no new connections, draining sessions");
    let left = lifecycle.drain(deadline).await;
    if left > 0 {
        warn!(
            sessions = left,
            "shutdown deadline passed, closing remaining sessions"
        );
    } else {
        info!("all sessions ended");
    }
}
