//! The Sendmail/Postfix milter protocol (version 6), sans-I/O, for both sides.
//!
//! [`ServerSession`] is the filter side (what libmilter does for a milter such as
//! postern-dkim); [`ClientSession`] is the MTA side (what Postfix's `milter8.c` does). Neither
//! touches a socket: feed received bytes in, take typed events out, and write the bytes from
//! `output()` to the peer.
//!
//! Every packet is a 4-byte big-endian length (command byte plus payload), one command byte,
//! then the payload; strings are NUL-terminated. See [`frame`], [`command`] and [`reply`].

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod client;
pub mod command;
mod error;
pub mod frame;
pub mod macros;
pub mod options;
pub mod reply;
pub mod replycode;
pub mod server;
mod wire;

pub use client::{ClientEvent, ClientOptions, ClientSession, Step};
pub use command::{Command, ConnectAddress};
pub use error::ProtocolError;
pub use frame::DEFAULT_MAX_FRAME;
pub use options::{Actions, OptNeg, ProtocolFlags, Stage};
pub use reply::Reply;
pub use server::{Event, ServerOptions, ServerSession};
