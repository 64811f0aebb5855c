//! Durable Maildir delivery that Dovecot reads: unique names with exact `,S=`/`,W=` sizes,
//! streaming CRLF→LF storage, hard-linked multi-folder delivery, Maildir++ and `LAYOUT=fs`
//! folders with modified UTF-7 names, `tmp/` cleanup and quota usage.
//!
//! Disk only, blocking: call it from `spawn_blocking` in async daemons.
//!
//! Checked against Dovecot 2.3.19 by `tests/dovecot.rs`: INBOX is the store root in both
//! layouts (also with `LAYOUT=fs`); folders are `.A.B` (Maildir++, with a `maildirfolder` file)
//! or `A/B` (fs), each level in modified UTF-7; Dovecot fails reading a file whose `S=` is off
//! by one byte in either direction, and serves `W=` as RFC822.SIZE.
//!
//! ```no_run
//! # fn main() -> Result<(), maildir::MaildirError> {
//! use maildir::{Delivery, Layout, MailStore};
//! let store = MailStore::new("/var/vmail/example.org/bob/Maildir", Layout::MaildirPlusPlus);
//! let inbox = store.inbox();
//! inbox.ensure()?;
//! let mut d = Delivery::begin(&inbox)?;
//! d.write_header("Return-Path", "<alice@example.net>")?;
//! d.write_header("Delivered-To", "bob@example.org")?;
//! d.write(b"Subject: hi\r\n\r\nhello\r\n")?;
//! let delivered = d.commit()?; // durable now: answer 250
//! # let _ = delivered; Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod clean;
mod delivery;
mod error;
pub mod lf;
pub mod mutf7;
pub mod name;
mod quota;
mod store;

pub use clean::{DOVECOT_TMP_AGE, clean_tmp};
pub use delivery::{Delivered, Delivery, DeliveryOptions};
pub use error::{MaildirError, Utf7Error};
pub use name::{MessageName, UniqueName};
pub use quota::{QuotaLimit, Usage};
pub use store::{Folder, Layout, MAILDIRFOLDER_MARKER, MailStore, Permissions, SPECIAL_FOLDERS};
