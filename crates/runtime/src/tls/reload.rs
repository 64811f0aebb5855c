//! The certificate in use, replaced whole on SIGHUP or when certbot/acme.sh renews the files;
//! a pair that does not load leaves the running one serving.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::TlsSettings;
use super::load::{self, CertificateSummary, Loaded, TlsError};

/// How often [`ReloadableTls::watch`] looks at the files when the daemon has no setting for
/// it: two `stat` calls a minute, and a renewal is served within a minute.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(60);

/// The longest [`ReloadableTls::watch`] waits between noticing a change and reading the files.
const SETTLE: Duration = Duration::from_secs(1);

/// Warn this long before the certificate expires: long enough to notice a renewal job that
/// stopped working.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);

/// The TLS configuration sessions handshake with. Each handshake takes the configuration
/// current at its start; a reload changes later handshakes only, never a running session.
pub struct ReloadableTls {
    current: ArcSwap<Current>,
    /// The files as they were when last read, whether or not they loaded; `watch` reloads when
    /// they differ. The lock also keeps two reloads from interleaving.
    seen: Mutex<FilesState>,
}

struct Current {
    settings: TlsSettings,
    loaded: Loaded,
}

impl ReloadableTls {
    /// Loads the certificate and key named by `settings`, logging what is served.
    pub fn load(settings: TlsSettings) -> Result<Self, TlsError> {
        // Taken before reading, so a write racing with the read shows up as a change later.
        let files = FilesState::of(&settings);
        let loaded = load::load(&settings)?;
        log_loaded("TLS certificate loaded", &settings, &loaded.summary);
        Ok(ReloadableTls {
            current: ArcSwap::from_pointee(Current { settings, loaded }),
            seen: Mutex::new(files),
        })
    }

    /// An acceptor for one handshake (STARTTLS or implicit TLS) with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    /// The current rustls configuration.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current.load().loaded.config.clone()
    }

    /// What the current configuration serves.
    pub fn certificate(&self) -> CertificateSummary {
        self.current.load().loaded.summary.clone()
    }

    pub fn settings(&self) -> TlsSettings {
        self.current.load().settings.clone()
    }

    /// Re-reads the files (SIGHUP). On error the running certificate stays and the error is
    /// logged and returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reload_from(None)
    }

    /// Loads from `settings`, which may name other files or another `min_version` (after the
    /// daemon's config was reloaded), and swaps it in if it loads.
    pub fn reload_with(&self, settings: TlsSettings) -> Result<(), TlsError> {
        self.reload_from(Some(settings))
    }

    fn reload_from(&self, settings: Option<TlsSettings>) -> Result<(), TlsError> {
        let mut seen = lock(&self.seen);
        // The current settings are read under the lock, so a reload from `watch` cannot put
        // back the files a concurrent `reload_with` just replaced.
        let settings = settings.unwrap_or_else(|| self.settings());
        let files = FilesState::of(&settings);
        match load::load(&settings) {
            Ok(loaded) => {
                log_loaded("TLS certificate reloaded", &settings, &loaded.summary);
                self.current.store(Arc::new(Current { settings, loaded }));
                *seen = files;
                Ok(())
            }
            Err(e) => {
                error!(error = %e, "TLS reload failed, keeping the running certificate");
                // Remember a bad state of the watched files so `watch` does not retry it every
                // interval; the next change (the rest of a renewal) triggers the next attempt.
                if settings == self.current.load().settings {
                    *seen = files;
                }
                Err(e)
            }
        }
    }

    /// Polls the files every `interval` (at least 10 ms) until `shutdown`, reloading when one
    /// of them changed: new content, a replaced file, or a symlink pointed elsewhere (certbot's
    /// `live/` links). The reload follows the change by a quarter interval, at most a second.
    /// Run it as a task: `tokio::spawn(async move { tls.watch(interval, token).await })`.
    pub async fn watch(&self, interval: Duration, shutdown: CancellationToken) {
        let interval = interval.max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once; the files were just read.
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let settings = self.settings();
            if *lock(&self.seen) == FilesState::of(&settings) {
                continue;
            }
            // A renewal writes the certificate and the key one after the other; a moment's
            // wait reads the pair whole instead of logging a mismatch for the half-done state.
            tokio::select! {
                () = tokio::time::sleep((interval / 4).min(SETTLE)) => {}
                () = shutdown.cancelled() => return,
            }
            info!(
                cert_file = %settings.cert_file.display(),
                key_file = %settings.key_file.display(),
                "TLS certificate files changed, reloading"
            );
            // Logged inside; a failure keeps the running certificate.
            let _ = self.reload();
        }
    }
}

impl fmt::Debug for ReloadableTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.load();
        f.debug_struct("ReloadableTls")
            .field("settings", &current.settings)
            .field("certificate", &current.loaded.summary)
            .finish_non_exhaustive()
    }
}

fn lock(seen: &Mutex<FilesState>) -> MutexGuard<'_, FilesState> {
    // The state is replaced whole, so a panic elsewhere cannot leave it half written.
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

fn log_loaded(message: &str, settings: &TlsSettings, summary: &CertificateSummary) {
    info!(
        cert_file = %settings.cert_file.display(),
        names = %summary.names.join(","),
        not_after = %summary.not_after_text(),
        chain = summary.chain_length,
        min_version = settings.min_version.as_str(),
        "{message}"
    );
    let Some(not_after) = summary.not_after() else {
        return;
    };
    match not_after.duration_since(SystemTime::now()) {
        Err(_) => warn!(
            cert_file = %settings.cert_file.display(),
            not_after = %summary.not_after_text(),
            "TLS certificate has expired"
        ),
        Ok(left) if left < EXPIRY_WARNING => warn!(
            cert_file = %settings.cert_file.display(),
            not_after = %summary.not_after_text(),
            days = left.as_secs() / 86_400,
            "TLS certificate expires soon"
        ),
        Ok(_) => {}
    }
}

/// Identity and change times of both files, following symlinks: a rename over the file, an
/// in-place rewrite and a repointed symlink all change it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilesState {
    cert: Option<FileState>,
    key: Option<FileState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileState {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    /// Also catches a chmod/chgrp, so fixing the key's permissions triggers the retry.
    changed: (i64, i64),
}

impl FilesState {
    fn of(settings: &TlsSettings) -> Self {
        FilesState {
            cert: FileState::of(&settings.cert_file),
            key: FileState::of(&settings.key_file),
        }
    }
}

impl FileState {
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(FileState {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        })
    }
}
