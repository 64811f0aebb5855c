//! Server-side TLS for the daemons' listeners: the `[tls]` settings, a rustls configuration
//! that SIGHUP or a renewal of the files replaces without a restart, and a stream that starts
//! plain and becomes TLS on STARTTLS, or is TLS from the first byte (ports 465, 993).
//!
//! A daemon validates [`TlsSettings`] with its config (which loads the files, so
//! `--check-config` catches a bad pair), builds a [`ReloadableTls`] once, calls
//! [`ReloadableTls::reload`] on SIGHUP, runs [`ReloadableTls::watch`] as a task, and hands each
//! session [`ReloadableTls::acceptor`] for [`MaybeTls::upgrade`] or [`MaybeTls::implicit`].
//!
//! Reloads happen after the privilege drop, so the daemon's user must be able to read the key
//! (on Debian: group `ssl-cert`, or a deploy hook that copies it with the daemon's group).

mod load;
mod reload;
mod stream;
mod x509;

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ConfigErrors;

pub use load::{CertificateSummary, TlsError, TlsProblem};
pub use reload::{DEFAULT_WATCH_INTERVAL, ReloadableTls};
pub use stream::{MaybeTls, TlsInfo};
pub use tokio_rustls::TlsAcceptor;

/// The TLS keys as written, for a daemon's `[tls]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM: the server's certificate first, then its intermediates (certbot's `fullchain.pem`).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC); may be the same file as `cert_file`.
    pub key_file: PathBuf,
    /// `"TLSv1.2"` (default) or `"TLSv1.3"`.
    pub min_version: Option<String>,
}

/// The oldest protocol version offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// The name as OpenSSL, Postfix and Dovecot write it.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// Where the certificate and key are, and the protocol floor. Which files to read can change on
/// reload ([`ReloadableTls::reload_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub min_version: TlsVersion,
}

impl TlsSettings {
    /// Settings for these files with the default floor (TLS 1.2).
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        TlsSettings {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            min_version: TlsVersion::default(),
        }
    }

    /// Validates `raw` as table `section` (e.g. `"tls"`), pushing every problem under
    /// `<section>.<key>`. The files are loaded as a handshake would use them, so an unreadable
    /// file, a PEM without a certificate or key, an unsupported key or a key that does not
    /// match the certificate is reported here, naming the file.
    pub fn validate(raw: RawTls, section: &str, errors: &mut ConfigErrors) -> Self {
        let min_version = match raw.min_version.as_deref() {
            None | Some("TLSv1.2") => TlsVersion::Tls12,
            Some("TLSv1.3") => TlsVersion::Tls13,
            Some(other) => {
                errors.push(
                    format!("{section}.min_version"),
                    format!("{other:?}: expected \"TLSv1.2\" or \"TLSv1.3\""),
                );
                TlsVersion::Tls12
            }
        };
        let settings = TlsSettings {
            cert_file: raw.cert_file,
            key_file: raw.key_file,
            min_version,
        };
        if let Err(e) = load::load(&settings) {
            errors.push(format!("{section}.{}", e.config_key()), e.to_string());
        }
        settings
    }
}
