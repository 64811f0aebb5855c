//! The `[daemon]` settings every daemon shares, and how a daemon's `main` ends: exit codes
//! systemd understands.

use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigErrors;
use crate::listen::{ListenAddress, UnixSocketOptions};

/// The shared `[daemon]` keys as written. A daemon whose `[daemon]` table has more keys keeps
/// its own raw struct and converts it into this one for validation.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub user: Option<String>,
    pub group: Option<String>,
    pub log_level: Option<String>,
    pub max_connections: Option<usize>,
    pub idle_timeout: Option<String>,
    pub shutdown_timeout: Option<String>,
}

/// Process-wide settings, read once at start; changing them needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    /// User (and group) to switch to after binding sockets.
    pub user: Option<String>,
    pub group: Option<String>,
    pub log_level: String,
    /// Concurrent connections over all listeners.
    pub max_connections: usize,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// How long SIGTERM waits for sessions to finish.
    pub shutdown_timeout: Duration,
}

impl DaemonSettings {
    /// Validates `raw`, pushing every problem under `daemon.<key>`; `max_connections` is the
    /// daemon's default for that key.
    pub fn validate(raw: RawDaemon, max_connections: usize, errors: &mut ConfigErrors) -> Self {
        let log_level = raw.log_level.unwrap_or_else(|| "info".to_string());
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            errors.push(
                "daemon.log_level",
                "expected error, warn, info, debug or trace",
            );
        }
        let max_connections = raw.max_connections.unwrap_or(max_connections);
        if max_connections == 0 {
            errors.push("daemon.max_connections", "must be at least 1");
        }
        DaemonSettings {
            user: raw.user,
            group: raw.group,
            log_level,
            max_connections,
            idle_timeout: errors.duration_or(
                "daemon.idle_timeout",
                raw.idle_timeout.as_deref(),
                Duration::from_secs(300),
            ),
            shutdown_timeout: errors.duration_or(
                "daemon.shutdown_timeout",
                raw.shutdown_timeout.as_deref(),
                Duration::from_secs(30),
            ),
        }
    }
}

/// The socket keys of one service as written (`listen`, `socket_mode`, `socket_owner`,
/// `socket_group`), taken from whichever table the daemon keeps them in.
#[derive(Debug, Default)]
pub struct RawSockets {
    pub listen: Option<Vec<String>>,
    pub socket_mode: Option<String>,
    pub socket_owner: Option<String>,
    pub socket_group: Option<String>,
}

/// The sockets of one service; changing them needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSettings {
    pub listen: Vec<ListenAddress>,
    /// Mode of UNIX sockets (default 0660: the peer's group, e.g. postfix, connects).
    pub mode: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl SocketSettings {
    /// Validates `raw` as table `section`; `default` is the address when `listen` is unset.
    pub fn validate(
        raw: RawSockets,
        section: &str,
        default: &[&str],
        errors: &mut ConfigErrors,
    ) -> Self {
        let listen = raw
            .listen
            .unwrap_or_else(|| default.iter().map(|s| (*s).to_string()).collect())
            .iter()
            .enumerate()
            .filter_map(|(i, text)| match text.parse::<ListenAddress>() {
                Ok(address) => Some(address),
                Err(reason) => {
                    errors.push(format!("{section}.listen[{i}]"), reason.to_string());
                    None
                }
            })
            .collect();
        let mode = match raw.socket_mode.as_deref() {
            None => 0o660,
            Some(text) => crate::config::parse_mode(text).unwrap_or_else(|reason| {
                errors.push(format!("{section}.socket_mode"), reason);
                0o660
            }),
        };
        SocketSettings {
            listen,
            mode,
            owner: raw.socket_owner,
            group: raw.socket_group,
        }
    }

    /// What [`crate::listen::bind`] needs for the UNIX sockets among them.
    pub fn unix_options(&self) -> UnixSocketOptions {
        UnixSocketOptions {
            mode: Some(self.mode),
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }
}

/// Prints every configuration problem and exits with EX_CONFIG (78), which systemd reports as
/// a configuration error and does not restart in a loop with `RestartPreventExitStatus=78`.
pub fn config_failed(errors: &ConfigErrors) -> ExitCode {
    eprintln!("{errors}");
    ExitCode::from(78)
}

/// The exit code for a daemon's or subcommand's result, printing an error with its causes.
pub fn exit_code(program: &str, result: Result<(), impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let mut errors = ConfigErrors::new(std::path::Path::new("x.toml"));
        let settings = DaemonSettings::validate(RawDaemon::default(), 64, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(settings.max_connections, 64);
        assert_eq!(settings.idle_timeout, Duration::from_secs(300));
        let raw = RawDaemon {
            log_level: Some("loud".into()),
            max_connections: Some(0),
            idle_timeout: Some("soon".into()),
            ..RawDaemon::default()
        };
        DaemonSettings::validate(raw, 64, &mut errors);
        let text = errors.to_string();
        for key in [
            "daemon.log_level",
            "daemon.max_connections",
            "daemon.idle_timeout",
        ] {
            assert!(text.contains(key), "{text}");
        }
    }
}
