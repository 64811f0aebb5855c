//! The client side of SMTP (RFC 5321) and LMTP (RFC 2033), sans-I/O: what postern-mta speaks
//! to deliver over LMTP to postern-mda or Dovecot, and to relay over SMTP.
//!
//! [`ClientSession`] is one connection: it reads the greeting, sends EHLO/LHLO (HELO if EHLO
//! is refused), STARTTLS on request, and runs transactions: [`start`](ClientSession::start)
//! with an [`Envelope`] sends MAIL, RCPT and DATA (one write with PIPELINING, RFC 2920), the
//! caller streams the message after [`ClientEvent::SendBody`], and
//! [`ClientEvent::Delivered`] gives one [`RecipientResult`] per recipient: the LMTP final
//! replies in order of accepted RCPTs, or SMTP's one reply for all. A transaction where no
//! recipient was accepted sends no message and ends with RSET, so the connection can be used
//! again (an MTA's LMTP pool). The pieces are public on their own: [`ReplyParser`],
//! [`Capabilities`], [`DotStuffer`] and [`BdatFramer`].
//!
//! ```text
//! S: 220 mda.example.org LMTP Postern        C: LHLO mta.example.org
//! S: 250-mda.example.org / 250-PIPELINING / 250 ENHANCEDSTATUSCODES
//! C: MAIL FROM:<a@example.com> / RCPT TO:<b@example.org> / RCPT TO:<c@example.org> / DATA
//! S: 250 2.1.0 Ok / 250 2.1.5 Ok / 550 5.1.1 User unknown / 354 End data with <CR><LF>.<CR><LF>
//! C: (message, dot-stuffed) / .
//! S: 250 2.0.0 Ok: delivered                  (b: the only accepted recipient)
//! ```
//!
//! An MTA delivering one message, with blocking I/O for brevity (postern-mta does the same
//! with tokio's `UnixStream`, its reads and writes under a timeout):
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! use smtp::client::{ClientError, ClientEvent, ClientSession, ClientSettings, Envelope};
//! use smtp::{ForwardPath, ReversePath};
//!
//! type Error = Box<dyn std::error::Error>;
//!
//! /// Writes what the session has to say, then reads until it has an event.
//! fn next_event(socket: &mut UnixStream, client: &mut ClientSession) -> Result<ClientEvent, Error> {
//!     let mut buffer = [0; 4096];
//!     loop {
//!         // Handling replies may queue commands: send them before waiting for more.
//!         let event = client.next_event()?;
//!         socket.write_all(&client.output())?;
//!         if let Some(event) = event {
//!             return Ok(event);
//!         }
//!         let n = socket.read(&mut buffer)?;
//!         if n == 0 {
//!             client.connection_lost(ClientError::Closed);
//!         }
//!         client.receive(&buffer[..n]);
//!     }
//! }
//!
//! fn main() -> Result<(), Error> {
//!     let mut socket = UnixStream::connect("/run/postern-mda/lmtp.sock")?;
//!     let mut client = ClientSession::new(ClientSettings::lmtp("mta.example.org"));
//!     assert_eq!(next_event(&mut socket, &mut client)?, ClientEvent::Ready);
//!
//!     let sender = ReversePath::parse("<a@example.com>", false)?.0;
//!     let to = ["<b@example.org>", "<c@example.org>"]
//!         .map(|r| ForwardPath::parse(r, false).map(|(path, _)| path));
//!     let mut envelope = Envelope::new(sender, to.into_iter().collect::<Result<Vec<_>, _>>()?);
//!     let message = b"Subject: hi\r\n\r\n.hello\r\n";
//!     envelope.params.size = Some(message.len() as u64);
//!     client.start(envelope)?;
//!     loop {
//!         match next_event(&mut socket, &mut client)? {
//!             ClientEvent::SendBody => {
//!                 // From the queue file, a chunk at a time; any cut is fine.
//!                 for chunk in message.chunks(7) {
//!                     client.send_body(chunk)?;
//!                     socket.write_all(&client.output())?;
//!                 }
//!                 client.finish_body()?;
//!             }
//!             ClientEvent::Delivered(results) => {
//!                 for result in results {
//!                     println!("{}: {}", result.recipient, result.status);
//!                 }
//!                 break;
//!             }
//!             other => return Err(format!("unexpected {other:?}").into()),
//!         }
//!     }
//!     // The connection can go back to the pool here; or:
//!     client.quit()?;
//!     assert_eq!(next_event(&mut socket, &mut client)?, ClientEvent::Closed);
//!     Ok(())
//! }
//! ```
//!
//! All server input is hostile: reply lines and reply line counts are bounded, malformed or
//! unsolicited replies and positive replies of the wrong kind end the connection with a
//! [`ClientError`]; a 421 at any point ends it too. Either way, recipients not yet decided
//! come out temporarily failed, never lost and never reported delivered.

mod body;
mod capabilities;
mod envelope;
mod error;
mod outcome;
mod reply;
mod session;
mod transaction;

pub use body::{BdatFramer, DotStuffer};
pub use capabilities::Capabilities;
pub use envelope::{Envelope, EnvelopeRecipient};
pub use error::{ClientError, ProtocolError, Stage, StartError, UsageError};
pub use outcome::{Failure, RecipientResult, RecipientStatus};
pub use reply::{DEFAULT_MAX_LINE, DEFAULT_MAX_LINES, ReplyParser};
pub use session::{ClientEvent, ClientSession, ClientSettings};
