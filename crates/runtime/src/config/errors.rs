//! The list of configuration problems found in one pass over one file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One problem: the dotted key it concerns (empty for the whole file) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

/// Every problem found in a configuration file; displayed one line per problem as
/// `file: key: reason`, so `--check-config` can print it as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    file: PathBuf,
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// An optional duration setting: absent gives `default`; a bad value is recorded here
    /// (so every problem is reported in one pass) and `default` stands in.
    pub fn duration_or(&mut self, key: &str, text: Option<&str>, default: Duration) -> Duration {
        match text.map(super::parse_duration) {
            None => default,
            Some(Ok(duration)) => duration,
            Some(Err(reason)) => {
                self.push(key, reason);
                default
            }
        }
    }

    /// An optional size setting in bytes, like [`duration_or`](Self::duration_or).
    pub fn size_or(&mut self, key: &str, text: Option<&str>, default: u64) -> u64 {
        match text.map(super::parse_size) {
            None => default,
            Some(Ok(bytes)) => bytes,
            Some(Err(reason)) => {
                self.push(key, reason);
                default
            }
        }
    }

    pub fn new(file: &Path) -> Self {
        ConfigErrors {
            file: file.to_path_buf(),
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.into(),
            reason: reason.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when nothing was pushed, otherwise `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if error.key.is_empty() {
                write!(f, "{}: {}", self.file.display(), error.reason)?;
            } else {
                write!(
                    f,
                    "{}: {}: {}",
                    self.file.display(),
                    error.key,
                    error.reason
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
