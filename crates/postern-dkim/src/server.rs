//! The running daemon: accept loops over the configured sockets, a connection limit, SIGHUP
//! reload of configuration and keys, and a staged SIGTERM drain.

use std::path::PathBuf;
use std::sync::Arc;

use runtime::accept::Acceptor;
use runtime::lifecycle::{Lifecycle, Signal};
use runtime::listen::Listener;
use runtime::reload::Reloadable;
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
    let acceptor = Acceptor::new(config.daemon.max_connections);
    let config = Arc::new(Reloadable::new(config));
    for listener in listeners {
        let config = config.clone();
        acceptor.spawn(listener, &lifecycle, move |c| {
            connection::serve(c.stream, c.id, config.clone(), c.shutdown)
        });
    }

    runtime::notify::ready();
    info!(version = env!("CARGO_PKG_VERSION"), "postern-dkim ready");
    while let Signal::Reload = lifecycle.next_signal().await {
        runtime::notify::reloading();
        let running = config.load();
        let reloaded = config.reload_with(|| Config::load(&config_path));
        let new = config.load();
        if reloaded.is_ok()
            && (new.daemon != running.daemon
                || new.sockets != running.sockets
                || new.max_packet != running.max_packet)
        {
            warn!("changes under [daemon] (sockets, user, limits) take effect after a restart");
        }
        runtime::notify::ready();
    }
    let deadline = config.load().daemon.shutdown_timeout;
    runtime::accept::drain(&lifecycle, deadline).await;
    Ok(())
}
