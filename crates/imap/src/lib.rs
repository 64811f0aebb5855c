//! The server side of IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051), sans-I/O.
//!
//! Bytes read from the client go into a [`CommandFramer`], which cuts them into [`Frame`]s
//! under hard [`Limits`] and lets the caller decide, literal by literal, whether to buffer,
//! stream or refuse it. A complete command is turned into a typed [`Command`] by
//! [`parse_command`]; APPEND, whose message is always streamed, is parsed piecewise by
//! [`parse_append_head`] and [`parse_append_next`]. What the server writes back is built with
//! the helpers in [`response`].
//!
//! Extensions understood by the parser: LITERAL+/-, SASL-IR, ID, ENABLE, SPECIAL-USE,
//! CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, CONDSTORE, QRESYNC, ESEARCH, SORT, THREAD,
//! APPENDLIMIT, COMPRESS, BINARY, SEARCHRES, MOVE, UIDPLUS, UNSELECT, NAMESPACE, IDLE,
//! MULTIAPPEND.

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod command;
pub mod framer;
pub mod response;
mod secret;

pub use command::{
    Command, CommandBody, ParseError, parse_append_head, parse_append_next, parse_command,
};
pub use framer::{CommandFramer, Frame, Limits, tag_of};
pub use secret::Secret;
