//! Configuration files: TOML loading with every problem reported by file and key, and the
//! value parsers (modes, durations, sizes, networks, users) the daemons' validators share.
//!
//! Loading is two steps: [`load`] deserializes the daemon's raw `deny_unknown_fields` struct,
//! then the daemon validates it into its own type, collecting problems in one [`ConfigErrors`].

mod errors;
mod network;
mod users;
mod values;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use errors::{ConfigError, ConfigErrors};
pub use network::IpNetwork;
pub use users::{lookup_group, lookup_user};
pub use values::{parse_duration, parse_mode, parse_size};

/// Reads `path` and deserializes it as TOML into `R`.
///
/// A syntax or type error is reported with its dotted key path (`keys.main.selector`,
/// `signing_table[1].from`) and, when known, the line and column. An unreadable file gives one
/// error with an empty key.
pub fn load<R: DeserializeOwned>(path: &Path) -> Result<R, ConfigErrors> {
    let mut errors = ConfigErrors::new(path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            errors.push("", e.to_string());
            return Err(errors);
        }
    };
    match parse(&text) {
        Ok(value) => Ok(value),
        Err((key, reason)) => {
            errors.push(key, reason);
            Err(errors)
        }
    }
}

/// Deserializes TOML text, returning the key path and reason of the first error.
fn parse<R: DeserializeOwned>(text: &str) -> Result<R, (String, String)> {
    let deserializer = match toml::de::Deserializer::parse(text) {
        Ok(deserializer) => deserializer,
        Err(e) => return Err((String::new(), describe(text, &e))),
    };
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." { String::new() } else { path };
        (key, describe(text, e.inner()))
    })
}

/// The error's message plus where it is, as an editor counts (1-based line and column).
fn describe(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("{message} (line {line}, column {column})")
        }
        None => message.to_string(),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
