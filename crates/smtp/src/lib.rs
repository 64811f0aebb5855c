//! The server side of SMTP (RFC 5321) and LMTP (RFC 2033), sans-I/O.
//!
//! [`ServerSession`] never touches a socket: push received bytes in with
//! [`receive`](ServerSession::receive), take typed [`Event`]s out with
//! [`next_event`](ServerSession::next_event), answer the policy events (HELO, MAIL, RCPT, end of
//! data, ...) with a [`Reply`], and write what [`output`](ServerSession::output) returns to the
//! peer. Commands are framed by `line` with a hard length limit, parsed by [`command`] (paths
//! in [`address`], ESMTP parameters in [`params`]), and message bodies are decoded by [`data`]
//! so that only `CRLF.CRLF` ever ends a message. Every reply text is in [`replies`].
//!
//! The client side, for delivering over LMTP and relaying over SMTP, is in [`client`].

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod address;
pub mod client;
pub mod command;
pub mod data;
mod error;
pub mod event;
mod line;
pub mod params;
pub mod replies;
pub mod reply;
mod secret;
pub mod session;
pub mod settings;

pub use address::{AddressError, ForwardPath, Host, Mailbox, PathFlags, ReversePath};
pub use client::{
    Capabilities, ClientError, ClientEvent, ClientSession, ClientSettings, Envelope,
    RecipientResult, RecipientStatus,
};
pub use command::{Command, CommandError, HelloVerb};
pub use error::ReplyError;
pub use event::{DataAbort, Event, MAX_CHUNK, Recipient};
pub use params::{Body, MailParams, Notify, OriginalRecipient, ParamError, RcptParams, Ret};
pub use reply::{EnhancedCode, Reply};
pub use secret::Secret;
pub use session::ServerSession;
pub use settings::{BareLfInCommands, BareLineEndsInData, Extensions, Mode, Settings};
