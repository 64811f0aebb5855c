//! The list of configuration problems found in one pass over one file.

use std::fmt;
use std::path::{Path, PathBuf};

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
