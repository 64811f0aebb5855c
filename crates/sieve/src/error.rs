//! Errors: a compile error names the place in the script, a runtime error says why the
//! script's actions were dropped in favour of the implicit keep.

use std::fmt;

/// Where in the script something is: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a script did not compile. Per RFC 5228 a script with an error runs no action at all;
/// the caller delivers with the implicit keep (as Dovecot does with a broken script).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct CompileError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl CompileError {
    pub(crate) fn at(position: Position, message: impl Into<String>) -> Self {
        CompileError {
            line: position.line,
            column: position.column,
            message: message.into(),
        }
    }
}

/// Why evaluation stopped. The outcome is then the implicit keep alone (RFC 5228 2.10.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error("the script performed more than {limit} actions")]
    TooManyActions { limit: usize },
    #[error("the script exceeded its matching budget of {limit} steps")]
    WorkLimit { limit: u64 },
}
