//! One LMTP connection from Postfix: drive the sans-I/O SMTP session in LMTP mode, resolve
//! recipients against the passwd-file, stream the message into one Maildir delivery, and
//! answer once per recipient only after the message is durable in that recipient's folder.
//!
//! Disk work (quota scans, writes, fsync) runs in `block_in_place`, which needs the
//! multi-threaded runtime `main` builds.

use std::sync::Arc;
use std::time::Instant;

use maildir::Usage;
use runtime::accept::SessionId;
use runtime::listen::Stream;
use sha2::{Digest as _, Sha256};
use smtp::{Event, ForwardPath, Reply, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::block_in_place;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::mailbox;
use crate::message::{Envelope, IncomingMessage, Target};
use crate::recent::Digest;
use crate::server::{Shared, State};

/// Serves one connection until QUIT, an error, or shutdown (421 between transactions).
pub async fn serve(
    mut stream: Stream,
    id: SessionId,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let state = shared.state.load();
    let lmtp = &state.config.lmtp;
    let idle_timeout = state.config.daemon.idle_timeout;
    let mut settings = smtp::Settings::lmtp(lmtp.hostname.clone());
    settings.max_message_size = lmtp.max_message_size;
    settings.max_recipients = lmtp.max_recipients;
    let mut session = ServerSession::new(settings);
    session.greet();
    let mut connection = Connection {
        id,
        shared,
        state,
        sender: String::new(),
        targets: Vec::new(),
        message: None,
        digest: Sha256::new(),
    };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = flush(&mut stream, &mut session).await {
            warn!(session = %id, error = %e, "closing: write failed");
            return;
        }
        if session.is_closed() {
            return;
        }
        let read = tokio::select! {
            read = tokio::time::timeout(idle_timeout, stream.read(&mut buffer)) => read,
            () = shutdown.cancelled(), if connection.message.is_none() => {
                session.shutdown();
                let _ = flush(&mut stream, &mut session).await;
                info!(session = %id, "closed for shutdown");
                return;
            }
        };
        let n = match read {
            Err(_) => {
                warn!(session = %id, timeout = ?idle_timeout, "closing: client idle too long");
                return;
            }
            Ok(Err(e)) => {
                warn!(session = %id, error = %e, "closing: read failed");
                return;
            }
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => n,
        };
        session.receive(buffer.get(..n).unwrap_or_default());
        while let Some(event) = session.next_event() {
            connection.handle(event, &mut session);
        }
    }
}

async fn flush(stream: &mut Stream, session: &mut ServerSession) -> std::io::Result<()> {
    let output = session.output();
    if !output.is_empty() {
        stream.write_all(&output).await?;
        stream.flush().await?;
    }
    Ok(())
}

struct Connection {
    id: SessionId,
    shared: Arc<Shared>,
    /// The snapshot for the current transaction, taken at MAIL.
    state: Arc<State>,
    sender: String,
    targets: Vec<Target>,
    message: Option<IncomingMessage>,
    /// SHA-256 of the DATA bytes, to recognize a client's resend (`recent.rs`).
    digest: Sha256,
}

impl Connection {
    fn handle(&mut self, event: Event, session: &mut ServerSession) {
        match event {
            Event::Hello { .. } => {
                self.reset();
                self.accept(session);
            }
            Event::Mail { from, .. } => {
                self.reset();
                self.state = self.shared.state.load();
                self.sender = from.to_string();
                self.accept(session);
            }
            Event::Rcpt { to, .. } => {
                let reply = self.recipient(&to, session);
                self.answer(session, reply);
            }
            Event::DataStart => {
                let delivered_to = match self.targets.as_slice() {
                    [only] => Some(only.address.clone()),
                    _ => None,
                };
                let message = block_in_place(|| {
                    IncomingMessage::begin(&self.targets, &self.sender, delivered_to.as_deref())
                });
                self.message = Some(message);
                self.digest = Sha256::new();
            }
            Event::DataChunk(chunk) => {
                self.digest.update(&chunk);
                // Into the page cache: no fsync here, nothing that blocks for long, so the
                // worker thread is not handed off for every chunk (that is the commit's job).
                if let Some(message) = &mut self.message {
                    message.write(&chunk);
                }
            }
            Event::DataEnd { size } => self.end_of_data(size, session),
            Event::DataAborted(why) => {
                info!(session = %self.id, from = %self.sender, reason = ?why, "message refused");
                self.reset();
            }
            Event::Reset => self.reset(),
            Event::Vrfy(_) => self.accept(session),
            Event::StartTls => self.answer(session, Reply::tls_not_available()),
            Event::Auth { .. } | Event::AuthResponse(_) => {
                self.answer(session, Reply::auth_mechanism_unknown());
            }
            Event::AuthCancelled | Event::Quit => {}
        }
    }

    fn reset(&mut self) {
        self.targets.clear();
        if let Some(message) = self.message.take() {
            block_in_place(|| drop(message)); // removes the tmp/ file
        }
    }

    fn accept(&self, session: &mut ServerSession) {
        if let Err(e) = session.accept() {
            warn!(session = %self.id, error = %e, "no reply pending");
        }
    }

    fn answer(&self, session: &mut ServerSession, reply: Reply) {
        if let Err(e) = session.reply(reply) {
            warn!(session = %self.id, error = %e, "no reply pending");
        }
    }

    /// RCPT: the reply for `to`; on 2xx the target is recorded.
    fn recipient(&mut self, to: &ForwardPath, session: &ServerSession) -> Reply {
        let state = self.state.clone();
        let users = &state.users;
        let (given, user) = match to.mailbox() {
            Some(mailbox) => {
                let address = format!("{}@{}", mailbox.local_part_unquoted(), mailbox.host);
                (mailbox.to_string(), users.resolve_recipient(&address))
            }
            None => (
                "postmaster".to_string(),
                users.resolve_recipient("postmaster"),
            ),
        };
        let Some(user) = user else {
            info!(session = %self.id, from = %self.sender, to = %given, result = "550 5.1.1", "unknown recipient");
            return Reply::unknown_user();
        };
        let mail = &state.config.mail;
        let (store, quota) = match mailbox::store_for(&user, mail)
            .and_then(|store| Ok((store, mailbox::quota_for(&user, mail.quota)?)))
        {
            Ok(found) => found,
            Err(reason) => {
                warn!(session = %self.id, to = %given, user = %user.name, result = "451 4.3.0", "cannot deliver: {reason}");
                return Reply::local_error();
            }
        };
        if quota.bytes.is_some() || quota.messages.is_some() {
            let usage = block_in_place(|| store.usage()).unwrap_or_else(|e| {
                debug!(session = %self.id, error = %e, "no usage (new mailbox?)");
                Usage::default()
            });
            let incoming = session.mail_params().and_then(|p| p.size).unwrap_or(0);
            if !quota.allows(usage, incoming) {
                info!(session = %self.id, from = %self.sender, to = %given, user = %user.name, result = "552 5.2.2", "over quota");
                return Reply::quota_exceeded();
            }
        }
        let detail = if state.config.lmtp.save_to_detail_mailbox {
            user.detail.clone()
        } else {
            None
        };
        let sieve = block_in_place(|| self.shared.sieve.script_for(&user, mail));
        self.targets.push(Target {
            address: given,
            user: user.name.clone(),
            store,
            detail,
            sieve,
        });
        Reply::recipient_ok()
    }

    fn end_of_data(&mut self, size: u64, session: &mut ServerSession) {
        let all = std::mem::take(&mut self.targets);
        let digest: Digest = std::mem::take(&mut self.digest).finalize().into();
        let window = self.state.config.lmtp.duplicate_window;
        // A recipient that already has these very bytes (the client's retry after it lost
        // our 250) gets its 250 again, not a second copy.
        let now = Instant::now();
        let repeat: Vec<bool> = match self.shared.recent.lock() {
            Ok(mut recent) if !window.is_zero() => all
                .iter()
                .map(|t| recent.contains(&digest, &t.address, window, now))
                .collect(),
            _ => vec![false; all.len()],
        };
        let mut targets = Vec::with_capacity(all.len());
        for (target, repeated) in all.into_iter().zip(&repeat) {
            if *repeated {
                info!(
                    session = %self.id, from = %self.sender, to = %target.address,
                    user = %target.user, size, result = "250 2.0.0",
                    "already delivered: a resend of the same message within the duplicate window"
                );
            } else {
                targets.push(target);
            }
        }
        let Some(message) = self.message.take() else {
            warn!(session = %self.id, "end of data without a message");
            let replies = targets.iter().map(|_| Reply::local_error()).collect();
            self.per_recipient(session, replies);
            return;
        };
        let spam = message
            .headers
            .matches(&self.state.config.mail.spam_headers);
        let envelope = Envelope {
            // Sieve compares the address without brackets ("" for <>).
            from: self
                .sender
                .strip_prefix('<')
                .and_then(|s| s.strip_suffix('>'))
                .unwrap_or(&self.sender),
            size,
        };
        let results = block_in_place(|| message.commit(&targets, spam, &envelope));
        let mut replies = Vec::with_capacity(targets.len());
        for (target, filed) in targets.iter().zip(results) {
            let folder = filed.folders.join(",");
            match filed.result {
                Ok(delivered) if delivered.is_empty() => {
                    info!(
                        session = %self.id, from = %self.sender, to = %target.address,
                        user = %target.user, size, result = "250 2.0.0", "discarded by sieve"
                    );
                    replies.push(Reply::ok_delivered());
                }
                Ok(delivered) => {
                    for d in &delivered {
                        self.shared.imap_hub.notify(&d.folder);
                    }
                    let files: Vec<String> = delivered.iter().map(|d| d.name.to_string()).collect();
                    info!(
                        session = %self.id, from = %self.sender, to = %target.address,
                        user = %target.user, folder = %folder, file = %files.join(","),
                        size, spam, result = "250 2.0.0", "delivered"
                    );
                    replies.push(Reply::ok_delivered());
                }
                Err(reason) => {
                    warn!(
                        session = %self.id, from = %self.sender, to = %target.address,
                        user = %target.user, folder = %folder, result = "451 4.3.0",
                        "delivery failed: {reason}"
                    );
                    replies.push(Reply::local_error());
                }
            }
        }
        if !window.is_zero()
            && let Ok(mut recent) = self.shared.recent.lock()
        {
            for (target, reply) in targets.iter().zip(&replies) {
                if reply.code == 250 {
                    recent.insert(digest, &target.address, window, now);
                }
            }
        }
        // Back in RCPT order: a repeat's 250 where it stood.
        let mut fresh = replies.into_iter();
        let replies = repeat
            .iter()
            .map(|repeated| {
                if *repeated {
                    Reply::ok_delivered()
                } else {
                    fresh.next().unwrap_or_else(Reply::local_error)
                }
            })
            .collect();
        self.per_recipient(session, replies);
    }

    fn per_recipient(&self, session: &mut ServerSession, replies: Vec<Reply>) {
        if let Err(e) = session.reply_per_recipient(replies) {
            // Our recipient list and the session's disagree: never a silent accept.
            warn!(session = %self.id, error = %e, "per-recipient replies refused");
            self.answer(session, Reply::local_error());
        }
    }
}
