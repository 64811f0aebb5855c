//! A Sieve (RFC 5228) interpreter for filing mail at delivery, sans-I/O.
//!
//! [`Script::compile`] turns a user's filter into a checked program (or a [`CompileError`]
//! naming the line); [`Script::evaluate`] runs it against a [`Message`] the delivery agent
//! filled from a bounded header scan and returns an [`Outcome`]: the mailboxes to store
//! into, or none when the message was discarded.
//!
//! ```
//! let script = sieve::Script::compile(
//!     "require [\"fileinto\", \"mailbox\"];\n\
//!      if header :contains \"list-id\" \"dev.example.org\" { fileinto :create \"Lists/dev\"; }",
//! )?;
//! let header = b"From: a@example.org\r\nList-Id: <dev.example.org>\r\n\r\n";
//! let mut message = sieve::Message::from_header_block(header, 1234);
//! message.set_envelope_from("a@example.org");
//! message.set_envelope_to("me@example.org");
//! let outcome = script.evaluate(&message);
//! let deliveries = outcome.deliveries();
//! assert_eq!(deliveries.len(), 1);
//! assert_eq!(deliveries[0].mailbox, sieve::Mailbox::Folder("Lists/dev".into()));
//! assert!(deliveries[0].create);
//! # Ok::<(), sieve::CompileError>(())
//! ```
//!
//! Supported: `require`, `if`/`elsif`/`else`, `stop`, `keep`, `discard`, `fileinto` (with
//! `:create` from "mailbox", RFC 5490, and `:copy` from "copy", RFC 3894); the tests
//! `header`, `address`, `envelope`, `exists`, `size`, `allof`, `anyof`, `not`, `true`,
//! `false`, `mailboxexists`; `:is`, `:contains`, `:matches`; the comparators `i;octet` and
//! `i;ascii-casemap`. Actions that send mail (`redirect`, `reject`, `vacation`, ...) are
//! compile errors: a delivery agent that pretended to run them would lose mail silently.
//!
//! Inside: `lexer` (tokens), `parser` (the generic grammar), `compile` (names and
//! arguments), `matching` (match types and comparators), `rfc2047` and `address` (what the
//! tests see of header fields), `eval` (running a script, the implicit keep).

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

mod address;
mod ast;
mod compile;
mod error;
mod eval;
mod lexer;
mod matching;
mod message;
mod parser;
mod rfc2047;

pub use compile::CAPABILITIES;
pub use error::{CompileError, Position, RuntimeError};
pub use eval::{Action, Delivery, Mailbox, Outcome};
pub use message::{HeaderField, Message};

/// Bounds that keep a hostile script or message from using unbounded memory or CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Octets of script source (Dovecot's `sieve_max_script_size` is also 1 MiB).
    pub max_script_size: usize,
    /// Blocks and tests nested inside one another.
    pub max_nesting: usize,
    /// Commands and tests in the whole script.
    pub max_commands: usize,
    /// Actions one evaluation may perform (Dovecot's `sieve_max_actions` is 32); more is a
    /// runtime error, which leaves only the implicit keep.
    pub max_actions: usize,
    /// Matching steps (roughly octets compared) one evaluation may spend.
    pub max_work: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_script_size: 1 << 20,
            max_nesting: 32,
            max_commands: 10_000,
            max_actions: 32,
            max_work: 50_000_000,
        }
    }
}

/// A compiled script; compile once, evaluate for every message.
#[derive(Debug, Clone)]
pub struct Script {
    commands: Vec<ast::Command>,
    limits: Limits,
}

impl Script {
    /// Compiles with the default [`Limits`].
    pub fn compile(source: &str) -> Result<Script, CompileError> {
        Script::compile_with(source, Limits::default())
    }

    pub fn compile_with(source: &str, limits: Limits) -> Result<Script, CompileError> {
        if source.len() > limits.max_script_size {
            return Err(CompileError::at(
                Position { line: 1, column: 1 },
                format!(
                    "the script is larger than {} octets",
                    limits.max_script_size
                ),
            ));
        }
        let syntax = parser::Parser::new(source, &limits).script()?;
        let commands = compile::compile(syntax)?;
        Ok(Script { commands, limits })
    }

    /// Runs the script. Never fails: a runtime error gives the implicit keep alone, with
    /// the error in [`Outcome::error`] for the log.
    pub fn evaluate(&self, message: &Message<'_>) -> Outcome {
        eval::Evaluator::new(message, self.limits.max_work, self.limits.max_actions)
            .run(&self.commands)
    }
}
