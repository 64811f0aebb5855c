//! Dovecot passwd-file users and password schemes, on disk, no network.
//!
//! - [`PasswdFile`]: the `user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields` format,
//!   parsed with line-numbered errors and written back keeping comments and unknown lines.
//! - [`PasswordHash`]: `{ARGON2ID}`, `{ARGON2I}`, `{SHA512-CRYPT}`, `{SHA256-CRYPT}`,
//!   `{BLF-CRYPT}`, `{CRYPT}` and `{PLAIN}`; verification in constant time, new hashes with
//!   Dovecot's parameters (`doveadm pw -t` accepts them).
//! - [`UserDb`]: lookups the way Dovecot's `username_format`, a default domain, recipient
//!   delimiters and catch-alls work, and edits under a lock with an atomic replace.

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

mod address;
mod atomic;
mod crypt;
mod db;
mod passwd_file;
mod scheme;

pub use address::{UserDbOptions, UsernameFormat};
pub use db::{AuthFailure, Authenticated, EditError, LoadError, User, UserDb};
pub use passwd_file::{
    Entry, EntryError, ExtraField, Owner, ParseError, ParseErrorKind, ParseErrors, PasswdFile,
};
pub use scheme::{DEFAULT_SCHEME, PasswordHash, Scheme, SchemeError};
