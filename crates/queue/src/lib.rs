//! postern-mta's durable mail queue on disk: a message is queued only once its data and
//! envelope are fsynced (the MTA answers 250 after [`Incoming::commit`]); after a crash or
//! `kill -9`, [`Queue::open`] resumes where it was and cleans up what never committed; each
//! recipient keeps its own state so a partly delivered message never repeats a delivered
//! recipient; temporary failures are retried by [`RetryPolicy`]; permanent failures and expiry
//! produce an RFC 3464 bounce ([`dsn`]) to the sender, never to the null sender.
//!
//! Disk only, blocking, no async runtime: call it from `spawn_blocking` in the daemon.
//!
//! Receiving, as the SMTP session does at DATA:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::Write;
//! use queue::{MailParams, NewEnvelope, NewRecipient, Origin, Queue, Timestamp};
//!
//! let (queue, recovery) = Queue::open("/var/spool/postern")?;
//! eprintln!("queue: {} queued, {} moved to corrupt/", recovery.queued, recovery.corrupt.len());
//! let mut incoming = queue.receive(&NewEnvelope {
//!     arrival: Timestamp::now(),
//!     sender: "alice@example.net".into(),
//!     params: MailParams::default(),
//!     origin: Origin { listener: "smtp".into(), protocol: "ESMTPS".into(), tls: true, ..Origin::default() },
//!     held: false,
//!     recipients: vec![NewRecipient::new("bob@example.org")],
//! })?;
//! incoming.write_all(b"Subject: hi\r\n\r\nhello\r\n")?; // chunk by chunk as DATA arrives
//! let id = incoming.commit()?; // durable now: answer "250 2.0.0 Ok: queued as {id}"
//! # let _ = id; Ok(()) }
//! ```
//!
//! One delivery pass, as the queue manager does:
//!
//! ```no_run
//! # fn deliver(_: &queue::Envelope, _: usize, _: std::fs::File) -> Result<String, (bool, String)> { todo!() }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (queue, _) = queue::Queue::open("/var/spool/postern")?;
//! use queue::{RetryPolicy, Timestamp, dsn};
//! let policy = RetryPolicy::default();
//! let now = Timestamp::now();
//! for id in queue.list()? {
//!     let mut env = queue.load(id)?;
//!     if env.held { continue; }
//!     for i in env.due(now).collect::<Vec<_>>() {
//!         let result = deliver(&env, i, queue.open_data(id)?); // SMTP or LMTP
//!         let Some(r) = env.recipients.get_mut(i) else { continue };
//!         match result {
//!             Ok(reply) => r.mark_delivered(now, reply),
//!             Err((false, reply)) => r.mark_deferred(now, reply, &policy),
//!             Err((true, reply)) => r.mark_failed(now, reply),
//!         };
//!     }
//!     if policy.envelope_expired(&env, now) {
//!         env.expire(now);
//!     }
//!     if let Some(notice) = dsn::failure_notice(&env, queue.open_data(id)?, "mx.example.org", now)? {
//!         let mut bounce = queue.receive(&notice.new_envelope(now))?;
//!         std::io::Write::write_all(&mut bounce, &notice.message)?;
//!         bounce.commit()?;
//!         notice.mark_sent(&mut env);
//!     }
//!     if env.is_finished() {
//!         queue.remove(id)?;
//!     } else {
//!         queue.update(&env)?;
//!     }
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

#[cfg(test)]
mod crash_tests;
mod dirsync;
pub mod dsn;
mod envelope;
mod error;
pub mod format;
mod id;
mod incoming;
mod queue;
mod retry;
mod time;

pub use envelope::{
    Body, Envelope, MailParams, NewEnvelope, NewRecipient, Notify, Origin, OriginalRecipient,
    Recipient, RecipientState, Ret,
};
pub use error::QueueError;
pub use format::FormatError;
pub use id::{BadQueueId, QUEUE_ID_LEN, QueueId};
pub use incoming::Incoming;
pub use queue::{CorruptEnvelope, CorruptReason, MAX_ENVELOPE_BYTES, Queue, Recovery};
pub use retry::RetryPolicy;
pub use time::Timestamp;
