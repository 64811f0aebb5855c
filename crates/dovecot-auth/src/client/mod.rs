//! The client side of Dovecot's authentication protocol (v1.2), sans-I/O: what an MTA speaks
//! to postern-mda's auth socket or a real Dovecot's `auth-client` socket to check SMTP AUTH,
//! as Postfix's `smtpd_sasl_type = dovecot` does.
//!
//! [`AuthClient`] is the connection: handshake, request ids, and the server's replies as
//! [`ClientEvent`]s. [`SmtpAuth`] maps one SMTP `AUTH` exchange onto it and says what to do
//! next ([`SmtpAuthStep`]): write to the auth server, send a `334` challenge, or finish.
//!
//! ```text
//! C: VERSION 1 2 / CPID 4711
//! S: VERSION 1 2 / MECH PLAIN plaintext / MECH LOGIN plaintext / SPID / CUID / COOKIE / DONE
//! C: AUTH 1 PLAIN service=smtp secured nologin lip=.. rip=.. resp=AGFsaWNlAHNlY3JldA==
//! S: OK 1 user=alice@example.org             (or FAIL 1 reason=.. [code=temp_fail])
//! ```
//!
//! An MTA's use of it, with blocking I/O for brevity (an async daemon does the same with
//! its own reads and writes, and a timeout around them):
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! use dovecot_auth::client::{
//!     AuthClient, AuthParams, ClientEvent, ClientOptions, ServerError, SmtpAuth, SmtpAuthStep,
//! };
//!
//! type Error = Box<dyn std::error::Error>;
//!
//! fn next_event(socket: &mut UnixStream, auth: &mut AuthClient) -> Result<ClientEvent, Error> {
//!     let mut buffer = [0; 4096];
//!     loop {
//!         if let Some(event) = auth.next_event()? {
//!             return Ok(event);
//!         }
//!         let n = socket.read(&mut buffer)?;
//!         if n == 0 {
//!             auth.close(ServerError::Closed);
//!         }
//!         auth.receive(&buffer[..n]);
//!     }
//! }
//!
//! fn main() -> Result<(), Error> {
//!     let mut socket = UnixStream::connect("/run/postern-mda/auth.sock")?;
//!     let mut auth = AuthClient::new(ClientOptions::new(std::process::id()));
//!     socket.write_all(&auth.output())?;
//!     assert_eq!(next_event(&mut socket, &mut auth)?, ClientEvent::Ready);
//!     // EHLO over TLS announces these ("AUTH PLAIN LOGIN").
//!     let _announce = auth.smtp_mechanisms(true);
//!
//!     // The SMTP session said: AUTH PLAIN AGFsaWNlAHNlY3JldA==
//!     let mut params = AuthParams::new("smtp");
//!     params.secured = true;
//!     params.remote_ip = Some("198.51.100.7".parse()?);
//!     let initial = Some("AGFsaWNlAHNlY3JldA==");
//!     let (mut exchange, mut step) = SmtpAuth::start(&mut auth, "PLAIN", initial, &params);
//!     loop {
//!         step = match step {
//!             SmtpAuthStep::ToServer(bytes) => {
//!                 socket.write_all(bytes.expose())?;
//!                 match next_event(&mut socket, &mut auth)? {
//!                     ClientEvent::Reply(reply) => exchange.on_reply(reply)?,
//!                     ClientEvent::Ready => return Err("handshake twice".into()),
//!                 }
//!             }
//!             SmtpAuthStep::Challenge(text) => {
//!                 // Reply "334 {text}", read the client's line, pass it on.
//!                 let line = "YWxpY2U=";
//!                 exchange.on_response(&mut auth, line)?
//!             }
//!             SmtpAuthStep::Authenticated(success) => {
//!                 println!("235 2.7.0, authenticated as {}", success.user);
//!                 return Ok(());
//!             }
//!             SmtpAuthStep::Failed(failure) => {
//!                 let code = if failure.is_temporary() { 454 } else { 535 };
//!                 println!("{code}: {:?}", failure.reason());
//!                 return Ok(());
//!             }
//!         };
//!     }
//! }
//! ```
//!
//! All server input is treated as hostile: over-long lines, a missing or foreign `VERSION`,
//! handshake lines after `DONE`, replies for ids never sent, `OK`/`CONT` out of turn, invalid
//! base64 and malformed known lines end the connection with a [`ServerError`]. Unknown
//! commands, fields and mechanism flags are skipped, as Postfix does, so newer servers work.

mod connection;
mod error;
mod reply;
mod request;
mod smtp;

pub use connection::{AuthClient, ClientEvent, ClientOptions, Outcome, ServerReply};
pub use error::{RequestError, ServerError};
pub use reply::{AuthFailure, AuthSuccess, OfferedMechanism};
pub use request::AuthParams;
pub use smtp::{SmtpAuth, SmtpAuthFailure, SmtpAuthStep};
