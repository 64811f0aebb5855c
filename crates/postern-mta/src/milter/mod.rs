//! The milter client of the MTA: one [`MilterChain`] per SMTP session passes each stage to
//! the configured milters in order, like Postfix's `smtpd_milters`/`non_smtpd_milters`.
//!
//! The protocol is `milter::ClientSession` (sans-I/O); this module owns the sockets,
//! timeouts, the macros Postfix sends at each stage, default actions, and turning milter
//! replies into [`Verdict`]s and end-of-message [`Modification`]s.
//!
//! Content is streamed: each header and body chunk goes to every milter as it arrives, so
//! every milter sees the message as the client sent it, and a milter's header indexes refer to
//! that. Changes are collected at end of message in milter order and applied by the MTA in
//! that order. (Postfix instead feeds each milter the message as modified by the earlier ones,
//! which it can do because its cleanup server re-reads the queue file.) So a DKIM signer
//! signs what the client sent: a milter that rewrites signed headers or the body, anywhere in
//! the chain, breaks that signature. Header additions are fine: two signers in one chain each
//! produce a valid signature.

mod conn;
mod eom;
mod macros;
mod modify;
mod spool;
mod verdict;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

use milter::client::MAX_BODY_CHUNK;
use milter::{ClientSession, Reply, Stage, Step};
use tracing::{info, warn};

use crate::config::MilterSettings;
use conn::{Failure, MessageState, MilterConn, Standing};
use macros::MacroValues;

pub use macros::{
    CONNECT_MACROS, ConnectInfo, DATA_MACROS, EOH_MACROS, EOM_MACROS, HELO_MACROS, MAIL_MACROS,
    MailMacros, RCPT_MACROS, Route, TlsInfo, default_names,
};
pub use modify::{
    EomOutcome, HeaderChange, Modification, Quarantine, ReplacementBody, apply_header_changes,
    apply_header_changes_with_hidden,
};
pub use verdict::{MilterReply, Verdict};

/// Default cap on a replacement body; [`MilterChain::set_max_replacement_body`] sets the MTA's
/// message size limit instead.
pub const DEFAULT_MAX_REPLACEMENT_BODY: u64 = 256 * 1024 * 1024;

/// The milters of one SMTP session.
#[derive(Debug)]
pub struct MilterChain {
    milters: Vec<MilterConn>,
    values: MacroValues,
    transaction: Option<Transaction>,
    spool_dir: PathBuf,
    max_replacement_body: u64,
}

/// The current message, from MAIL to end of message or abort.
#[derive(Debug, Default)]
struct Transaction {
    /// A refusal or discard that holds for the rest of the message.
    verdict: Option<Verdict>,
    quarantine: Option<Quarantine>,
}

/// One stage's command, queued into each milter's session.
#[derive(Debug, Clone, Copy)]
enum Event<'a> {
    Connect {
        hostname: &'a str,
        address: SocketAddr,
    },
    Helo(&'a str),
    Mail(&'a [&'a [u8]]),
    Rcpt(&'a [&'a [u8]]),
    Data,
    Header(&'a str, &'a str),
    EndOfHeaders,
    Body(&'a [u8]),
}

impl Event<'_> {
    fn step(&self) -> Step {
        match self {
            Event::Connect { .. } => Step::Connect,
            Event::Helo(_) => Step::Helo,
            Event::Mail(_) => Step::Mail,
            Event::Rcpt(_) => Step::Rcpt,
            Event::Data => Step::Data,
            Event::Header(..) => Step::Header,
            Event::EndOfHeaders => Step::EndOfHeaders,
            Event::Body(_) => Step::Body,
        }
    }

    fn macro_stage(&self) -> Option<Stage> {
        match self {
            Event::Connect { .. } => Some(Stage::Connect),
            Event::Helo(_) => Some(Stage::Helo),
            Event::Mail(_) => Some(Stage::EnvFrom),
            Event::Rcpt(_) => Some(Stage::EnvRcpt),
            Event::Data => Some(Stage::Data),
            Event::EndOfHeaders => Some(Stage::EndOfHeaders),
            Event::Header(..) | Event::Body(_) => None,
        }
    }

    fn queue(&self, session: &mut ClientSession) {
        match *self {
            Event::Connect { hostname, address } => {
                session.connect(hostname.as_bytes(), Some(address));
            }
            Event::Helo(name) => session.helo(name.as_bytes()),
            Event::Mail(args) => session.mail(args),
            Event::Rcpt(args) => session.rcpt(args),
            Event::Data => session.data(),
            Event::Header(name, value) => session.header(name.as_bytes(), value.as_bytes()),
            Event::EndOfHeaders => session.end_of_headers(),
            Event::Body(chunk) => session.body(chunk),
        }
    }

    fn is_content(&self) -> bool {
        matches!(
            self,
            Event::Header(..) | Event::EndOfHeaders | Event::Body(_)
        )
    }
}

fn stage_name(step: Step) -> &'static str {
    match step {
        Step::Connect => "connect",
        Step::Helo => "helo",
        Step::Mail => "mail",
        Step::Rcpt => "rcpt",
        Step::Data => "data",
        Step::Header => "header",
        Step::EndOfHeaders => "end-of-headers",
        Step::Body => "body",
        Step::EndOfMessage => "end-of-message",
        Step::Unknown => "unknown",
    }
}

impl MilterChain {
    /// Connects to each milter (UNIX or TCP, within its `connect_timeout`), negotiates
    /// protocol 6 offering every action, and reports the connection. The verdict answers the
    /// connection: `Reject`/`TempFail` mean Postfix's behaviour of refusing every later
    /// command with that reply (the chain keeps returning it); `Disconnect` means 421 now.
    pub async fn connect(
        settings: &[MilterSettings],
        info: &ConnectInfo,
    ) -> (MilterChain, Verdict) {
        let mut milters = Vec::with_capacity(settings.len());
        for milter in settings {
            milters.push(MilterConn::open(milter).await);
        }
        let mut chain = MilterChain {
            milters,
            values: MacroValues::from_connect(info),
            transaction: None,
            spool_dir: std::env::temp_dir(),
            max_replacement_body: DEFAULT_MAX_REPLACEMENT_BODY,
        };
        let hostname = info.connect_hostname();
        // A local submission has no client address; Postfix reports it as localhost.
        let address = info
            .client_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let verdict = chain
            .stage(Event::Connect {
                hostname: &hostname,
                address,
            })
            .await;
        (chain, verdict)
    }

    /// Where replacement bodies are spooled (default: the system temp directory). Use a
    /// directory on the queue's file system.
    pub fn set_spool_dir(&mut self, dir: PathBuf) {
        self.spool_dir = dir;
    }

    /// The largest replacement body accepted; a milter sending more gets its default action.
    pub fn set_max_replacement_body(&mut self, bytes: u64) {
        self.max_replacement_body = bytes;
    }

    /// TLS details for the HELO macros; call after the handshake, before the client's
    /// post-TLS EHLO.
    pub fn set_tls(&mut self, tls: &TlsInfo) {
        self.values.set_tls(tls);
    }

    /// The queue id (`i`) once assigned, if it was not known at MAIL FROM.
    pub fn set_queue_id(&mut self, id: &str) {
        self.values.set_queue_id(id);
    }

    /// Whether any milter still takes part in the session.
    pub fn is_active(&self) -> bool {
        self.milters.iter().any(|m| m.standing != Standing::Done)
    }

    /// HELO/EHLO with the client's argument. It ends a message left open (RFC 5321: HELO
    /// resets the transaction).
    pub async fn helo(&mut self, name: &str) -> Verdict {
        if self.transaction.is_some() {
            self.abort().await;
        }
        self.stage(Event::Helo(name)).await
    }

    /// MAIL FROM: `sender` without angle brackets (empty for `<>`), `args` the ESMTP
    /// parameters as given (`SIZE=123`, `BODY=8BITMIME`). Starts a message; a message left
    /// open is aborted first. After `Reject`/`TempFail` the milters were told ABORT already:
    /// no message is open.
    pub async fn mail_from(&mut self, sender: &str, args: &[&str], macros: &MailMacros) -> Verdict {
        self.abort().await;
        self.values.set_mail(sender, macros);
        self.transaction = Some(Transaction::default());
        let from = format!("<{sender}>");
        let mut command: Vec<&[u8]> = vec![from.as_bytes()];
        command.extend(args.iter().map(|a| a.as_bytes()));
        let verdict = self.stage(Event::Mail(&command)).await;
        if matches!(
            verdict,
            Verdict::Reject(_) | Verdict::TempFail(_) | Verdict::Disconnect(_)
        ) {
            self.abort().await;
        }
        verdict
    }

    /// RCPT TO: `recipient` without angle brackets, its ESMTP parameters, and where it routes
    /// (`{rcpt_mailer}`, `{rcpt_host}`). `Reject`/`TempFail` refuse this recipient only.
    pub async fn rcpt(&mut self, recipient: &str, args: &[&str], route: Option<&Route>) -> Verdict {
        self.values.set_rcpt(recipient, route);
        let to = format!("<{recipient}>");
        let mut command: Vec<&[u8]> = vec![to.as_bytes()];
        command.extend(args.iter().map(|a| a.as_bytes()));
        self.stage(Event::Rcpt(&command)).await
    }

    /// The DATA command (or the first BDAT).
    pub async fn data(&mut self) -> Verdict {
        self.stage(Event::Data).await
    }

    /// One header as the client sent it: `value` is everything after the colon, leading
    /// space and CRLF folding included. Refusals from here on hold for the whole message, so
    /// the session may keep feeding the content and answer at the end.
    pub async fn header(&mut self, name: &str, value: &str) -> Verdict {
        self.stage(Event::Header(name, value)).await
    }

    /// The end of the header section.
    pub async fn end_of_headers(&mut self) -> Verdict {
        self.stage(Event::EndOfHeaders).await
    }

    /// Body content, CRLF line ends, dot-unstuffed; any size (sent in chunks of at most
    /// 64 KiB, as Postfix does).
    pub async fn body(&mut self, content: &[u8]) -> Verdict {
        let mut verdict = self.stage_verdict_without_io();
        for chunk in content.chunks(MAX_BODY_CHUNK) {
            verdict = self.stage(Event::Body(chunk)).await;
            if !verdict.proceeds() {
                break;
            }
        }
        verdict
    }

    /// What a stage would say without asking anyone: used for an empty body call.
    fn stage_verdict_without_io(&self) -> Verdict {
        match &self.transaction {
            Some(Transaction {
                verdict: Some(verdict),
                ..
            }) => verdict.clone(),
            _ if self.milters.iter().any(MilterConn::in_message) => Verdict::Continue,
            _ => Verdict::Accept,
        }
    }

    /// RSET, or a transaction ending without end of message: milters within the message get
    /// ABORT; the connections stay for the next message. Does nothing without a message.
    pub async fn abort(&mut self) {
        for conn in &mut self.milters {
            conn.abort().await;
        }
        self.transaction = None;
        self.values.clear_message();
    }

    /// The session ends: QUIT to every milter, connections closed.
    pub async fn quit(&mut self) {
        self.abort().await;
        for conn in &mut self.milters {
            conn.quit().await;
        }
    }

    /// Passes one stage to the milters in order. The first refusal wins and later milters do
    /// not see the stage (as in Postfix); a milter that accepted is skipped.
    async fn stage(&mut self, event: Event<'_>) -> Verdict {
        let step = event.step();
        let session_stage = matches!(step, Step::Connect | Step::Helo);
        if !session_stage {
            match &self.transaction {
                None => return Verdict::Accept,
                Some(Transaction {
                    verdict: Some(verdict),
                    ..
                }) => return verdict.clone(),
                Some(_) => {}
            }
        }
        let mut refusal = None;
        for conn in &mut self.milters {
            match &conn.standing {
                Standing::Sticky(verdict) => {
                    refusal = Some(verdict.clone());
                    break;
                }
                Standing::Done => continue,
                Standing::Active => {}
            }
            if step == Step::Mail {
                conn.message = MessageState::Open;
            }
            if !session_stage && conn.message != MessageState::Open {
                continue;
            }
            if let Some(stage) = event.macro_stage() {
                send_macros(conn, &self.values, stage);
            }
            event.queue(&mut conn.session);
            let limit = if event.is_content() {
                conn.settings.content_timeout
            } else {
                conn.settings.command_timeout
            };
            let mut quarantine = None;
            let result = conn.command(limit, &mut quarantine).await;
            if let Some(reason) = quarantine {
                match &mut self.transaction {
                    Some(transaction) if !session_stage => {
                        note_quarantine(&mut transaction.quarantine, conn.name(), reason);
                    }
                    _ => warn!(
                        milter = %conn.name(),
                        stage = stage_name(step),
                        "quarantine outside a message ignored"
                    ),
                }
            }
            let verdict = match result {
                Err(failure) => conn.fail(stage_name(step), failure),
                Ok(None) => Verdict::Continue,
                Ok(Some(reply)) => interpret(conn, reply, step),
            };
            if verdict != Verdict::Continue {
                refusal = Some(verdict);
                break;
            }
        }
        if let Some(verdict) = refusal {
            let sticky_for_message = match step {
                Step::Connect | Step::Helo | Step::Mail => verdict == Verdict::Discard,
                Step::Rcpt => matches!(verdict, Verdict::Discard | Verdict::Disconnect(_)),
                _ => true,
            };
            if sticky_for_message && let Some(transaction) = &mut self.transaction {
                transaction.verdict = Some(verdict.clone());
            }
            return verdict;
        }
        let interested = if session_stage {
            self.milters.iter().any(|m| m.standing == Standing::Active)
        } else {
            self.milters.iter().any(MilterConn::in_message)
        };
        if interested {
            Verdict::Continue
        } else {
            Verdict::Accept
        }
    }

    /// End of message: each milter still within the message gets end-of-message and answers
    /// with its changes and a final reply. Afterwards no message is open (milters that did not
    /// get end-of-message because an earlier one refused get ABORT).
    pub async fn end_of_message(&mut self) -> EomOutcome {
        let Some(transaction) = self.transaction.take() else {
            return EomOutcome::refused(Verdict::Accept);
        };
        if let Some(verdict) = transaction.verdict {
            self.abort().await;
            return EomOutcome::refused(verdict);
        }
        let mut outcome = EomOutcome::refused(Verdict::Continue);
        outcome.quarantine = transaction.quarantine;
        let mut asked = false;
        for conn in &mut self.milters {
            if let Standing::Sticky(verdict) = &conn.standing {
                outcome.verdict = verdict.clone();
                break;
            }
            if !conn.in_message() {
                continue;
            }
            asked = true;
            send_macros(conn, &self.values, Stage::EndOfMessage);
            conn.session.end_of_message();
            let result =
                eom::collect_changes(conn, &self.spool_dir, self.max_replacement_body).await;
            let verdict = match result {
                Err(failure) => conn.fail("end-of-message", failure),
                Ok(changes) => {
                    let verdict = interpret(conn, changes.reply, Step::EndOfMessage);
                    if let Some(reason) = changes.quarantine {
                        note_quarantine(&mut outcome.quarantine, conn.name(), reason);
                    }
                    if verdict.proceeds() {
                        outcome.changes.extend(changes.modifications);
                        if changes.body.is_some() {
                            outcome.body = changes.body;
                        }
                    }
                    verdict
                }
            };
            // End of message closes the message for this milter whatever it answered.
            conn.message = MessageState::Idle;
            if !verdict.proceeds() {
                outcome.verdict = verdict;
                break;
            }
        }
        self.abort().await;
        if outcome.verdict == Verdict::Continue && !asked {
            outcome.verdict = Verdict::Accept;
        }
        outcome
    }
}

/// Sends the macros of `stage`: the milter's own list if it asked for one, else Postfix's
/// default; only names with a value. Sent even when the milter skips the command itself, as
/// Postfix does, since a filter may read them at a later stage.
fn send_macros(conn: &mut MilterConn, values: &MacroValues, stage: Stage) {
    let requested = conn.session.requested_macros(stage);
    let pairs = if requested.is_empty() {
        values.lookup(default_names(stage))
    } else {
        values.lookup(&requested.join(" "))
    };
    if pairs.is_empty() {
        return;
    }
    let refs: Vec<(&str, &[u8])> = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    conn.session.macros(stage, &refs);
}

fn note_quarantine(slot: &mut Option<Quarantine>, milter: &str, reason: String) {
    info!(milter, reason = %reason, "milter asks to quarantine the message");
    if slot.is_none() {
        *slot = Some(Quarantine {
            milter: milter.to_string(),
            reason,
        });
    }
}

/// What a milter's final reply means for the stage, updating its standing.
fn interpret(conn: &mut MilterConn, reply: Reply, step: Step) -> Verdict {
    let session_stage = matches!(step, Step::Connect | Step::Helo);
    let stage = stage_name(step);
    let verdict = match reply {
        Reply::Continue | Reply::Skip => return Verdict::Continue,
        Reply::Accept => {
            if session_stage {
                conn.standing = Standing::Done;
            } else {
                conn.message = MessageState::Accepted;
            }
            return Verdict::Continue;
        }
        Reply::Discard if session_stage => {
            warn!(milter = %conn.name(), stage, "DISCARD at connect or HELO ignored");
            return Verdict::Continue;
        }
        Reply::Discard => {
            conn.message = MessageState::Accepted;
            info!(milter = %conn.name(), stage, "milter discards the message");
            return Verdict::Discard;
        }
        Reply::Reject => Verdict::Reject(MilterReply::reject()),
        Reply::TempFail => Verdict::TempFail(MilterReply::tempfail()),
        Reply::ReplyCode(text) => match MilterReply::parse(&text) {
            Err(reason) => return conn.fail(stage, Failure::Misbehaved(reason)),
            Ok(reply) if reply.code() == 421 => Verdict::Disconnect(reply),
            Ok(reply) if reply.is_permanent() => Verdict::Reject(reply),
            Ok(reply) => Verdict::TempFail(reply),
        },
        Reply::Shutdown | Reply::ConnFail => Verdict::Disconnect(MilterReply::shutdown()),
        _ => return conn.fail(stage, Failure::Misbehaved("unexpected final reply")),
    };
    if let Some(reply) = verdict.reply() {
        info!(milter = %conn.name(), stage, reply = %reply, "milter refuses");
    }
    if session_stage || matches!(verdict, Verdict::Disconnect(_)) {
        conn.stick(verdict)
    } else {
        verdict
    }
}
