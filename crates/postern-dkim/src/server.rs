//! The running daemon: accept loops over the configured sockets, a connection limit, SIGHUP
//! reload of configuration and keys, and a staged SIGTERM drain.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use runtime::lifecycle::{Lifecycle, Signal};
use runtime::listen::Listener;
use runtime::reload::Reloadable;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::config::Config;
use crate::connection;

/// Serves `listeners` until SIGTERM/SIGINT, then drains. Returns when every session ended or
/// the shutdown deadline passed.
pub async fn run(
    listeners: Vec<Listener>,
    config: Config,
    config_path: PathBuf,
) -> anyhow::Result<()> {
    let mut lifecycle = Lifecycle::new()?;
    let limit = Arc::new(Semaphore::new(config.daemon.max_connections));
    let config = Arc::new(Reloadable::new(config));
    let next_session = Arc::new(AtomicU64::new(1));

    for listener in listeners {
        let accept = AcceptLoop {
            listener,
            config: config.clone(),
            limit: limit.clone(),
            next_session: next_session.clone(),
        };
        let token = lifecycle.shutdown_token();
        let sessions = lifecycle.clone_spawner();
        tokio::spawn(accept.run(token, sessions));
    }

    runtime::notify::ready();
    info!(version = env!("CARGO_PKG_VERSION"), "postern-dkim ready");
    while let Signal::Reload = lifecycle.next_signal().await {
        runtime::notify::reloading();
        let running = config.load();
        let reloaded = config.reload_with(|| Config::load(&config_path));
        if reloaded.is_ok() && config.load().daemon != running.daemon {
            warn!("changes under [daemon] (sockets, user, limits) take effect after a restart");
        }
        runtime::notify::ready();
    }
    runtime::notify::stopping();
    let deadline = config.load().daemon.shutdown_timeout;
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
    Ok(())
}

struct AcceptLoop {
    listener: Listener,
    config: Arc<Reloadable<Config>>,
    limit: Arc<Semaphore>,
    next_session: Arc<AtomicU64>,
}

impl AcceptLoop {
    async fn run(
        self,
        shutdown: tokio_util::sync::CancellationToken,
        sessions: runtime::lifecycle::Spawner,
    ) {
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = shutdown.cancelled() => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let id = self.next_session.fetch_add(1, Ordering::Relaxed);
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                warn!(session = format_args!("{id:08x}"), peer = %peer, "connection limit reached, closing");
                continue;
            };
            let config = self.config.clone();
            let token = shutdown.clone();
            sessions.spawn(async move {
                connection::serve(stream, id, config, token).await;
                drop(permit);
            });
        }
    }
}
