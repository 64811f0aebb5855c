//! postern-dkim's configuration: the TOML file as written (`RawConfig`), and the validated
//! `Config` with keys loaded, built in one pass that reports every problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dkim::{Algorithm, CanonicalizationPair, SigningKey};
use runtime::config::{ConfigErrors, IpNetwork};
use runtime::daemon::{DaemonSettings, RawSockets, SocketSettings};
use serde::Deserialize;

use crate::signing_table::{SigningTable, SigningTableEntry};

/// The file as written. Every table rejects unknown keys so a typo is an error, not a no-op.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub signing: RawSigning,
    #[serde(default)]
    pub keys: BTreeMap<String, RawKey>,
    #[serde(default)]
    pub signing_table: Vec<RawSigningTableEntry>,
}

/// `[daemon]`: the shared keys (see `runtime::daemon::RawDaemon`) plus the milter socket.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub listen: Option<Vec<String>>,
    pub socket_mode: Option<String>,
    pub socket_owner: Option<String>,
    pub socket_group: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub log_level: Option<String>,
    pub max_connections: Option<usize>,
    pub idle_timeout: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub max_packet: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSigning {
    pub canonicalization: Option<String>,
    pub headers: Option<Vec<String>>,
    pub oversign: Option<Vec<String>>,
    pub expire_after: Option<String>,
    pub sign_authenticated: Option<bool>,
    pub originating_daemons: Option<Vec<String>>,
    pub internal_networks: Option<Vec<String>>,
    pub on_error: Option<String>,
    pub max_header_bytes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub domain: String,
    pub selector: String,
    pub file: PathBuf,
    pub algorithm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigningTableEntry {
    pub from: String,
    pub keys: Vec<String>,
}

/// What to answer when a message that should be signed cannot be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    TempFail,
    Accept,
    Reject,
}

/// A loaded key with where it is published.
#[derive(Debug)]
pub struct DomainKey {
    pub name: String,
    pub domain: String,
    pub selector: String,
    pub file: PathBuf,
    pub key: SigningKey,
}

/// Settings that SIGHUP swaps in.
#[derive(Debug)]
pub struct SigningSettings {
    pub canonicalization: CanonicalizationPair,
    pub headers: Vec<String>,
    pub oversign: Vec<String>,
    pub expire_after: Option<u64>,
    pub sign_authenticated: bool,
    pub originating_daemons: Vec<String>,
    pub internal_networks: Vec<IpNetwork>,
    pub on_error: OnError,
    pub max_header_bytes: usize,
    pub table: SigningTable<Arc<DomainKey>>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Process-wide settings (`[daemon]`), fixed until restart.
    pub daemon: DaemonSettings,
    /// The milter sockets (`[daemon] listen`, `socket_*`), fixed until restart.
    pub sockets: SocketSettings,
    /// Largest milter packet accepted from the MTA.
    pub max_packet: usize,
    pub signing: SigningSettings,
}

pub const DEFAULT_PATH: &str = "/etc/postern/dkim.toml";
pub const DEFAULT_SOCKET: &str = "unix:/run/postern-dkim/milter.sock";

impl Config {
    /// Reads, parses and validates `path`, loading every key file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = runtime::config::load(path)?;
        let mut errors = ConfigErrors::new(path);
        let max_packet = usize::try_from(errors.size_or(
            "daemon.max_packet",
            raw.daemon.max_packet.as_deref(),
            1 << 20,
        ))
        .unwrap_or(usize::MAX);
        let sockets = SocketSettings::validate(
            RawSockets {
                listen: raw.daemon.listen,
                socket_mode: raw.daemon.socket_mode,
                socket_owner: raw.daemon.socket_owner,
                socket_group: raw.daemon.socket_group,
            },
            "daemon",
            &[DEFAULT_SOCKET],
            &mut errors,
        );
        let daemon = DaemonSettings::validate(
            runtime::daemon::RawDaemon {
                user: raw.daemon.user,
                group: raw.daemon.group,
                log_level: raw.daemon.log_level,
                max_connections: raw.daemon.max_connections,
                idle_timeout: raw.daemon.idle_timeout,
                shutdown_timeout: raw.daemon.shutdown_timeout,
            },
            512,
            &mut errors,
        );
        let signing = validate_signing(raw.signing, &raw.keys, raw.signing_table, &mut errors);
        errors.into_result(Config {
            daemon,
            sockets,
            max_packet,
            signing,
        })
    }

    /// The loaded keys, for `testkey`.
    pub fn keys(&self) -> Vec<Arc<DomainKey>> {
        let mut keys: Vec<Arc<DomainKey>> = Vec::new();
        for entry in self.signing.table.entries() {
            for key in &entry.keys {
                if !keys.iter().any(|k| Arc::ptr_eq(k, key)) {
                    keys.push(key.clone());
                }
            }
        }
        keys
    }
}

fn validate_signing(
    raw: RawSigning,
    raw_keys: &BTreeMap<String, RawKey>,
    raw_table: Vec<RawSigningTableEntry>,
    errors: &mut ConfigErrors,
) -> SigningSettings {
    let canonicalization = match raw.canonicalization.as_deref() {
        None => CanonicalizationPair::default(),
        Some(text) => text.parse().unwrap_or_else(|_| {
            errors.push(
                "signing.canonicalization",
                format!("{text:?}: expected header/body with simple or relaxed, e.g. \"relaxed/relaxed\""),
            );
            CanonicalizationPair::default()
        }),
    };
    let headers = raw.headers.unwrap_or_else(|| {
        dkim::DEFAULT_SIGNED_HEADERS
            .iter()
            .map(|h| h.to_string())
            .collect()
    });
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("from")) {
        errors.push(
            "signing.headers",
            "must include From (RFC 6376 section 5.4)",
        );
    }
    for (i, header) in headers.iter().enumerate() {
        if !is_field_name(header) {
            errors.push(
                format!("signing.headers[{i}]"),
                format!("{header:?} is not a header field name"),
            );
        }
    }
    let oversign = raw.oversign.unwrap_or_else(|| {
        dkim::DEFAULT_OVERSIGNED_HEADERS
            .iter()
            .map(|h| h.to_string())
            .collect()
    });
    for (i, header) in oversign.iter().enumerate() {
        if !is_field_name(header) {
            errors.push(
                format!("signing.oversign[{i}]"),
                format!("{header:?} is not a header field name"),
            );
        }
    }
    let expire_after =
        raw.expire_after
            .and_then(|text| match runtime::config::parse_duration(&text) {
                Ok(d) if d.as_secs() > 0 => Some(d.as_secs()),
                Ok(_) => {
                    errors.push("signing.expire_after", "must be longer than 0s");
                    None
                }
                Err(reason) => {
                    errors.push("signing.expire_after", reason);
                    None
                }
            });
    let internal_networks = raw
        .internal_networks
        .unwrap_or_else(|| vec!["127.0.0.0/8".to_string(), "::1/128".to_string()])
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match text.parse::<IpNetwork>() {
            Ok(net) => Some(net),
            Err(reason) => {
                errors.push(
                    format!("signing.internal_networks[{i}]"),
                    reason.to_string(),
                );
                None
            }
        })
        .collect();
    let on_error = match raw.on_error.as_deref() {
        None | Some("tempfail") => OnError::TempFail,
        Some("accept") => OnError::Accept,
        Some("reject") => OnError::Reject,
        Some(other) => {
            errors.push(
                "signing.on_error",
                format!("{other:?}: expected tempfail, accept or reject"),
            );
            OnError::TempFail
        }
    };

    let mut keys: BTreeMap<&str, Arc<DomainKey>> = BTreeMap::new();
    for (name, raw_key) in raw_keys {
        if let Some(key) = load_key(name, raw_key, errors) {
            keys.insert(name, Arc::new(key));
        }
    }
    let mut entries = Vec::new();
    for (i, raw_entry) in raw_table.into_iter().enumerate() {
        let pattern = match raw_entry.from.parse() {
            Ok(pattern) => pattern,
            Err(reason) => {
                errors.push(format!("signing_table[{i}].from"), reason);
                continue;
            }
        };
        if raw_entry.keys.is_empty() {
            errors.push(format!("signing_table[{i}].keys"), "names no key");
        }
        let mut entry_keys = Vec::new();
        for (j, name) in raw_entry.keys.iter().enumerate() {
            match keys.get(name.as_str()) {
                Some(key) => entry_keys.push(key.clone()),
                None if raw_keys.contains_key(name) => {} // its own error is already reported
                None => errors.push(
                    format!("signing_table[{i}].keys[{j}]"),
                    format!("no key named {name:?} in [keys]"),
                ),
            }
        }
        entries.push(SigningTableEntry {
            pattern,
            keys: entry_keys,
        });
    }
    if raw_keys.is_empty() {
        errors.push("keys", "no signing key configured");
    }
    if entries.is_empty() && errors.is_empty() {
        errors.push("signing_table", "empty: nothing would ever be signed");
    }

    SigningSettings {
        canonicalization,
        headers,
        oversign,
        expire_after,
        sign_authenticated: raw.sign_authenticated.unwrap_or(true),
        originating_daemons: raw
            .originating_daemons
            .unwrap_or_else(|| vec!["ORIGINATING".to_string()]),
        internal_networks,
        on_error,
        max_header_bytes: usize::try_from(errors.size_or(
            "signing.max_header_bytes",
            raw.max_header_bytes.as_deref(),
            1 << 20,
        ))
        .unwrap_or(usize::MAX),
        table: SigningTable::new(entries),
    }
}

fn load_key(name: &str, raw: &RawKey, errors: &mut ConfigErrors) -> Option<DomainKey> {
    let prefix = format!("keys.{name}");
    let domain = raw.domain.trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || !domain.split('.').all(is_dns_label) {
        errors.push(
            format!("{prefix}.domain"),
            format!("{:?} is not a domain name", raw.domain),
        );
    }
    if !raw.selector.split('.').all(is_dns_label) {
        errors.push(
            format!("{prefix}.selector"),
            format!("{:?} is not a DNS label", raw.selector),
        );
    }
    let pem = match std::fs::read(&raw.file) {
        Ok(pem) => pem,
        Err(e) => {
            errors.push(
                format!("{prefix}.file"),
                format!("cannot read {}: {e}", raw.file.display()),
            );
            return None;
        }
    };
    let key = match SigningKey::from_pem(&pem) {
        Ok(key) => key,
        Err(e) => {
            errors.push(
                format!("{prefix}.file"),
                format!("{}: {e}", raw.file.display()),
            );
            return None;
        }
    };
    if let Some(text) = &raw.algorithm {
        match text.parse::<Algorithm>() {
            Ok(algorithm) if algorithm == key.algorithm() => {}
            Ok(_) => errors.push(
                format!("{prefix}.algorithm"),
                format!(
                    "{text} does not match the key in {} ({})",
                    raw.file.display(),
                    key.algorithm()
                ),
            ),
            Err(_) => errors.push(
                format!("{prefix}.algorithm"),
                format!("{text:?}: expected rsa-sha256 or ed25519-sha256"),
            ),
        }
    }
    Some(DomainKey {
        name: name.to_string(),
        domain,
        selector: raw.selector.clone(),
        file: raw.file.clone(),
        key,
    })
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}
