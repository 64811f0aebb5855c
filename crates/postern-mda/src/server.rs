//! The running daemon: the state SIGHUP swaps (configuration plus passwd-file), accept loops
//! for the LMTP and auth sockets under one connection limit, and the staged SIGTERM drain.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use runtime::accept::Acceptor;
use runtime::config::ConfigErrors;
use runtime::lifecycle::{Lifecycle, Signal};
use runtime::listen::Listener;
use runtime::reload::Reloadable;
use runtime::tls::ReloadableTls;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use users::UserDb;

use crate::config::Config;
use crate::{auth, lmtp};

/// What one SIGHUP replaces as a whole: a session sees the config and the users file that
/// belong together.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub users: UserDb,
}

impl State {
    /// Loads and validates the configuration, then the passwd-file it names.
    pub fn load(path: &Path) -> Result<State, ConfigErrors> {
        let config = Config::load(path)?;
        match UserDb::open(&config.passwd_file, config.users.clone()) {
            Ok(users) => Ok(State { config, users }),
            Err(e) => {
                let mut errors = ConfigErrors::new(path);
                errors.push("users.passwd_file", e.to_string());
                Err(errors)
            }
        }
    }
}

/// What lives as long as the process, across reloads.
#[derive(Debug)]
pub struct Shared {
    pub state: Reloadable<State>,
    pub throttle: Mutex<dovecot_auth::FailureThrottle>,
    pub sieve: crate::mailbox::SieveCache,
    pub recent: Mutex<crate::recent::RecentDeliveries>,
    /// Folders open in IMAP sessions; LMTP deliveries wake their IDLE sessions.
    pub imap_hub: crate::imap::hub::Hub,
    pub imap_limits: crate::imap::limits::ConnectionLimits,
    pub imap_tls: Option<Arc<ReloadableTls>>,
}

/// The sockets, by service.
#[derive(Debug)]
pub struct Listeners {
    pub lmtp: Vec<Listener>,
    pub auth: Vec<Listener>,
    /// IMAP with STARTTLS (143).
    pub imap: Vec<Listener>,
    /// IMAP over TLS (993).
    pub imaps: Vec<Listener>,
}

/// Serves until SIGTERM/SIGINT, then drains. Returns when every session ended or the
/// shutdown deadline passed.
pub async fn run(listeners: Listeners, state: State, config_path: PathBuf) -> anyhow::Result<()> {
    let mut lifecycle = Lifecycle::new()?;
    let acceptor = Acceptor::new(state.config.daemon.max_connections);
    let imap_tls = match &state.config.tls {
        Some(settings) => Some(Arc::new(ReloadableTls::load(settings.clone())?)),
        None => None,
    };
    let shared = Arc::new(Shared {
        imap_hub: crate::imap::hub::Hub::default(),
        imap_limits: crate::imap::limits::ConnectionLimits::default(),
        imap_tls,
        throttle: Mutex::new(dovecot_auth::FailureThrottle::new(
            state.config.auth.throttle.clone(),
        )),
        state: Reloadable::new(state),
        sieve: crate::mailbox::SieveCache::default(),
        recent: Mutex::new(crate::recent::RecentDeliveries::default()),
    });
    for listener in listeners.lmtp {
        let shared = shared.clone();
        acceptor.spawn(listener, &lifecycle, move |c| {
            lmtp::serve(c.stream, c.id, shared.clone(), c.shutdown)
        });
    }
    for listener in listeners.auth {
        let shared = shared.clone();
        acceptor.spawn(listener, &lifecycle, move |c| {
            auth::serve(c.stream, c.id, shared.clone(), c.shutdown)
        });
    }

    for (listeners, implicit_tls) in [(listeners.imap, false), (listeners.imaps, true)] {
        for listener in listeners {
            let shared = shared.clone();
            acceptor.spawn(listener, &lifecycle, move |c| {
                crate::imap::serve(
                    c.stream,
                    c.peer,
                    c.id,
                    shared.clone(),
                    implicit_tls,
                    c.shutdown,
                )
            });
        }
    }
    if let Some(tls) = &shared.imap_tls {
        let (tls, token) = (tls.clone(), lifecycle.shutdown_token());
        tokio::spawn(async move {
            tls.watch(runtime::tls::DEFAULT_WATCH_INTERVAL, token).await;
        });
    }

    runtime::notify::ready();
    info!(version = env!("CARGO_PKG_VERSION"), "postern-mda ready");
    tokio::spawn(sweep_tmp_daily(shared.clone(), lifecycle.shutdown_token()));
    tokio::spawn(watch_passwd_file(
        shared.clone(),
        lifecycle.shutdown_token(),
    ));
    while let Signal::Reload = lifecycle.next_signal().await {
        runtime::notify::reloading();
        let running = shared.state.load();
        let reloaded = shared.state.reload_with(|| State::load(&config_path));
        if reloaded.is_ok() {
            let new = shared.state.load();
            if let (Some(tls), Some(settings)) = (&shared.imap_tls, &new.config.tls)
                && let Err(e) = tls.reload_with(settings.clone())
            {
                warn!(error = %e, "TLS certificate not reloaded, keeping the old one");
            }
            if new.config.daemon != running.config.daemon
                || new.config.lmtp.sockets != running.config.lmtp.sockets
                || new.config.auth.sockets != running.config.auth.sockets
                || new.config.auth.throttle != running.config.auth.throttle
                || new.config.imap.listen != running.config.imap.listen
                || new.config.imap.listen_tls != running.config.imap.listen_tls
                || new.config.tls.is_some() != running.config.tls.is_some()
            {
                warn!(
                    "changes to [daemon], sockets and auth throttling take effect after a restart"
                );
            }
        }
        runtime::notify::ready();
    }
    let deadline = shared.state.load().config.daemon.shutdown_timeout;
    runtime::accept::drain(&lifecycle, deadline).await;
    Ok(())
}

/// Cleans `tmp/` after start (in the background: a large users file must not delay
/// readiness) and then daily, as Dovecot cleans a folder's `tmp/` every few hours it is used.
async fn sweep_tmp_daily(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let state = shared.state.load();
        let swept = tokio::task::spawn_blocking(move || {
            crate::mailbox::sweep_tmp(&state.users, &state.config.mail)
        });
        match swept.await {
            Ok(removed) => info!(removed, "tmp/ sweep done"),
            Err(e) => warn!(error = %e, "tmp/ sweep failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(24 * 60 * 60)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Re-reads the passwd-file when it changes, as Dovecot does, so `postern-mda user add` and
/// edits take effect without SIGHUP. Polling once a second is cheap (one stat) and, unlike
/// inotify, survives the file being replaced by rename.
async fn watch_passwd_file(shared: Arc<Shared>, shutdown: CancellationToken) {
    let stamp = |path: &Path| {
        std::fs::metadata(path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.ino(), m.len(), m.mtime(), m.mtime_nsec())
        })
    };
    let mut seen = stamp(&shared.state.load().config.passwd_file);
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return,
        }
        let running = shared.state.load();
        let now = stamp(&running.config.passwd_file);
        if now == seen || now.is_none() {
            continue;
        }
        seen = now;
        match UserDb::open(&running.config.passwd_file, running.config.users.clone()) {
            Ok(users) => {
                info!(users = users.file().len(), "passwd-file changed, re-read");
                shared.state.replace(State {
                    config: running.config.clone(),
                    users,
                });
            }
            Err(e) => {
                warn!(error = %e, "passwd-file changed but cannot be read, keeping the old users")
            }
        }
    }
}
