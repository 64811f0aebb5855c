//! Dovecot's authentication protocol (v1.2), sans-I/O. The server side is what Postfix's
//! `smtpd_sasl_type = dovecot` talks to; the client side, in [`client`], is what an MTA
//! speaks to such a server to check SMTP AUTH.
//!
//! [`AuthSession`] turns the client's lines into [`Event`]s; the caller checks credentials
//! and answers with [`AuthSession::ok`] or [`AuthSession::fail`]. Nothing here touches a
//! socket or a user database. [`FailureThrottle`] is the failure delay and lockout.
//!
//! ```text
//! S: VERSION 1 2 / MECH PLAIN plaintext / MECH LOGIN plaintext / SPID / CUID / COOKIE / DONE
//! C: VERSION 1 2 / CPID 4711
//! C: AUTH 1 PLAIN service=smtp nologin lip=.. rip=.. secured resp=AGFsaWNlAHNlY3JldA==
//! S: OK 1 user=alice@example.org             (or FAIL 1 user=alice)
//! ```
//!
//! Fields are TAB-separated, lines end in LF, and values are tab-escaped ([`escape`]).
//!
//! What ends the connection ([`ProtocolError`]) and what only fails a request
//! ([`Refusal`], answered with `FAIL`): framing and syntax errors, a missing or repeated
//! handshake, unknown commands, `AUTH` without `service=` or with parameters after `resp=`,
//! a duplicate request id and too many requests end it, as in Dovecot. An unknown
//! mechanism, plaintext without `secured`, bad base64, malformed credentials and `CONT` for
//! an unknown or busy request only fail that request (Dovecot disconnects on an unknown
//! mechanism; a `FAIL` is kinder to the client and just as safe).

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod client;
mod command;
mod error;
pub mod escape;
mod line;
mod mech;
mod reply;
mod secret;
mod session;
mod throttle;

pub use error::{AnswerError, ProtocolError};
pub use mech::Mechanism;
pub use reply::Refusal;
pub use secret::Secret;
pub use session::{
    AuthSession, DEFAULT_MAX_LINE, DEFAULT_MAX_REQUESTS, Event, Greeting, SessionOptions,
};
pub use throttle::{Admission, FailureThrottle, ThrottleOptions};
