//! The running daemon: the state every session shares, accept loops per listener (with
//! implicit TLS and the per-client-address limit), SIGHUP reload of configuration and
//! certificate, the queue manager, and the staged SIGTERM drain.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runtime::accept::{Accepted, Acceptor};
use runtime::lifecycle::{Lifecycle, Signal};
use runtime::listen::{Listener, PeerAddr};
use runtime::reload::Reloadable;
use runtime::tls::{MaybeTls, ReloadableTls};
use smtp::Reply;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::config::{Config, ListenerSettings, TlsMode};
use crate::recipients::RecipientCheck;
use crate::scheduler::Scheduler;
use crate::session;
use crate::spool::Spool;

/// What lives as long as the process.
#[derive(Debug)]
pub struct Shared {
    pub config: Reloadable<Config>,
    pub tls: Option<Arc<ReloadableTls>>,
    pub spool: Spool,
    pub scheduler: Scheduler,
    pub recipients: RecipientCheck,
    pub lmtp_pool: crate::delivery::LmtpPool,
    /// Client name lookups; `None` when off (or no resolver could be set up).
    pub dns: Option<crate::client_dns::ClientDns>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Counts a client's connection while alive, for `max_connections_per_ip`.
struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.shared.per_ip.lock()
            && let Some(count) = map.get_mut(&self.ip)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    fn take_ip_slot(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<IpSlot> {
        let mut map = self.per_ip.lock().ok()?;
        let count = map.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            shared: self.clone(),
            ip,
        })
    }
}

/// The listening sockets: SMTP by listener (index into `config.listeners`), the local
/// submission socket (sendmail) and the queue control socket.
#[derive(Debug)]
pub struct Listeners {
    pub smtp: Vec<(usize, Listener)>,
    pub submit: Vec<Listener>,
    pub control: Vec<Listener>,
}

/// Serves until SIGTERM/SIGINT, then drains.
pub async fn run(
    listeners: Listeners,
    config: Config,
    tls: Option<ReloadableTls>,
    spool: Spool,
    config_path: PathBuf,
) -> anyhow::Result<()> {
    let mut lifecycle = Lifecycle::new()?;
    let acceptor = Acceptor::new(config.daemon.max_connections);
    let recipients = RecipientCheck::new(&config.lmtp);
    let lmtp_pool = crate::delivery::LmtpPool::new(&config.lmtp);
    let scheduler = Scheduler::new(&config);
    let dns = if config.dns.reverse_lookup {
        match crate::client_dns::ClientDns::new(
            &config.dns.nameservers,
            config.dns.reverse_lookup_skip.clone(),
            config.dns.timeout,
        ) {
            Ok(dns) => Some(dns),
            Err(e) => {
                warn!(error = %e, "no DNS resolver: client names are not looked up");
                None
            }
        }
    } else {
        None
    };
    let listener_settings: Vec<Arc<ListenerSettings>> =
        config.listeners.iter().cloned().map(Arc::new).collect();
    let shared = Arc::new(Shared {
        config: Reloadable::new(config),
        tls: tls.map(Arc::new),
        spool,
        scheduler,
        recipients,
        lmtp_pool,
        dns,
        per_ip: Mutex::new(HashMap::new()),
    });
    if let Some(tls) = &shared.tls {
        let (tls, token) = (tls.clone(), lifecycle.shutdown_token());
        tokio::spawn(async move {
            tls.watch(runtime::tls::DEFAULT_WATCH_INTERVAL, token).await;
        });
    }
    for (index, listener) in listeners.smtp {
        let Some(settings) = listener_settings.get(index).cloned() else {
            continue;
        };
        let shared = shared.clone();
        acceptor.spawn(listener, &lifecycle, move |accepted| {
            accept(accepted, settings.clone(), shared.clone())
        });
    }
    let submit_settings = Arc::new(shared.config.load().submit_listener());
    for listener in listeners.submit {
        let (shared, settings) = (shared.clone(), submit_settings.clone());
        acceptor.spawn(listener, &lifecycle, move |accepted| {
            accept(accepted, settings.clone(), shared.clone())
        });
    }
    for listener in listeners.control {
        let shared = shared.clone();
        acceptor.spawn(listener, &lifecycle, move |accepted| {
            let shared = shared.clone();
            async move {
                crate::control::serve(accepted.stream, &shared.spool, &shared.scheduler).await;
            }
        });
    }
    let delivery = tokio::spawn(crate::scheduler::run(
        shared.clone(),
        lifecycle.shutdown_token(),
    ));

    runtime::notify::ready();
    info!(version = env!("CARGO_PKG_VERSION"), "postern-mta ready");
    while let Signal::Reload = lifecycle.next_signal().await {
        runtime::notify::reloading();
        let running = shared.config.load();
        if shared
            .config
            .reload_with(|| Config::load(&config_path))
            .is_ok()
        {
            let new = shared.config.load();
            if new.daemon != running.daemon || new.listeners != running.listeners {
                warn!("changes to [daemon] and listeners take effect after a restart");
            }
            if let (Some(tls), Some(settings)) = (&shared.tls, &new.tls) {
                let _ = tls.reload_with(settings.clone());
            }
        }
        runtime::notify::ready();
    }
    let deadline = shared.config.load().daemon.shutdown_timeout;
    runtime::accept::drain(&lifecycle, deadline).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), delivery).await;
    Ok(())
}

async fn accept(accepted: Accepted, listener: Arc<ListenerSettings>, shared: Arc<Shared>) {
    let Accepted {
        stream,
        peer,
        id,
        shutdown,
    } = accepted;
    let peer_addr = match peer {
        PeerAddr::Tcp(addr) => Some(addr),
        PeerAddr::Unix => None,
    };
    let local_ip = match &stream {
        runtime::listen::Stream::Tcp(tcp) => tcp.local_addr().ok().map(|a| a.ip()),
        runtime::listen::Stream::Unix(_) => None,
    };
    let local_user = match &stream {
        runtime::listen::Stream::Unix(unix) if listener.local_submission => {
            match unix.peer_cred() {
                Ok(cred) => Some(local_user(cred.uid())),
                Err(e) => {
                    warn!(session = %id, error = %e, "local submission: cannot tell who connected");
                    return;
                }
            }
        }
        _ => None,
    };
    let limit = shared.config.load().limits.max_connections_per_ip;
    let _slot = match peer_addr {
        Some(addr) => match shared.take_ip_slot(addr.ip(), limit) {
            Some(slot) => Some(slot),
            None => {
                warn!(session = %id, client = %addr, "too many connections from this address");
                let mut stream = MaybeTls::from(stream);
                let reply = Reply::new(
                    421,
                    Some((4, 7, 0)),
                    "Error: too many connections from your address",
                );
                if listener.tls != TlsMode::Implicit {
                    let _ = stream.write_all(&reply.to_bytes()).await;
                }
                return;
            }
        },
        None => None,
    };
    let stream = match (listener.tls, &shared.tls) {
        (TlsMode::Implicit, Some(tls)) => {
            match MaybeTls::implicit(stream, &tls.acceptor(), Duration::from_secs(30)).await {
                Ok(stream) => stream,
                Err(e) => {
                    info!(session = %id, client = ?peer_addr, error = %e, "TLS handshake failed");
                    return;
                }
            }
        }
        _ => MaybeTls::from(stream),
    };
    session::serve(
        stream, peer_addr, local_ip, local_user, id, listener, shared, shutdown,
    )
    .await;
}

fn local_user(uid: u32) -> session::LocalUser {
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name);
    session::LocalUser { uid, name }
}
