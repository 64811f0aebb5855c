//! Durable Maildir delivery that Dovecot reads: unique names with exact `,S=`/`,W=` sizes,
//! streaming CRLF→LF storage, hard-linked multi-folder delivery, Maildir++ and `LAYOUT=fs`
//! folders with modified UTF-7 names, `tmp/` cleanup and quota usage.
//!
//! And the IMAP view of a folder that stock Dovecot can share: [`FolderIndex`] keeps UIDs in
//! `dovecot-uidlist` (under Dovecot's dotlock), flags in file names, keyword names in
//! `dovecot-keywords`, and CONDSTORE modseqs in a state file of our own; [`FolderCache`]
//! keeps derived per-message data.
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

//! Serving a folder over IMAP while Dovecot may use it too:
//!
//! ```no_run
//! # fn main() -> Result<(), maildir::MaildirError> {
//! use maildir::{FolderIndex, IndexOptions, Layout, MailStore, MessageFlags};
//! let store = MailStore::new("/var/vmail/example.org/bob/Maildir", Layout::MaildirPlusPlus);
//! let mut index = FolderIndex::open(&store.inbox(), IndexOptions::default())?; // SELECT
//! let changes = index.sync()?; // NOOP, IDLE wake-up: EXISTS, EXPUNGE, FETCH FLAGS
//! let junk = index.keyword_index("$Junk", true)?;
//! let mut flags = MessageFlags { seen: true, ..MessageFlags::default() };
//! if let Some(i) = junk {
//!     flags.set_keyword(i, true);
//! }
//! index.set_flags(1, flags)?; // STORE: new modseq
//! let (uid_validity, uids) = index.copy_to(&[1], &store.folder("Archive")?, IndexOptions::default())?;
//! # let _ = (changes, uid_validity, uids); Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod cache;
mod clean;
mod delivery;
pub mod dotlock;
mod error;
pub mod flags;
mod index;
pub mod keywords;
pub mod lf;
mod modseq;
pub mod mutf7;
pub mod name;
mod quota;
mod session;
mod store;
mod transfer;
pub mod uidlist;
mod util;

pub use cache::FolderCache;
pub use clean::{DOVECOT_TMP_AGE, clean_tmp};
pub use delivery::{Delivered, Delivery, DeliveryOptions, Sealed};
pub use dotlock::Dotlock;
pub use error::{MaildirError, Utf7Error};
pub use flags::MessageFlags;
pub use index::{FolderIndex, FolderStatus, IndexOptions, IndexedMessage, SyncChanges};
pub use keywords::Keywords;
pub use modseq::STATE_NAME;
pub use name::{MessageName, UniqueName};
pub use quota::{QuotaLimit, Usage};
pub use store::{Folder, Layout, MAILDIRFOLDER_MARKER, MailStore, Permissions, SPECIAL_FOLDERS};
pub use uidlist::{UidRecord, Uidlist};
