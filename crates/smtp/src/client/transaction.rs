//! One mail transaction on a [`ClientSession`]: MAIL, RCPT and DATA (pipelined in one group
//! when the server offers PIPELINING, RFC 2920 3.1), the message, the final replies (one per
//! accepted recipient in LMTP, RFC 2033 4.2), and RSET when the server's transaction is left
//! open, so the connection can carry the next one.

use super::body::{BdatFramer, DotStuffer};
use super::envelope::{self, Envelope};
use super::error::{ClientError, ProtocolError, Stage, StartError, UsageError};
use super::outcome::{Failure, RecipientResult, RecipientStatus};
use super::session::{ClientEvent, ClientSession, Expect, Phase};
use crate::address::ForwardPath;
use crate::params::Body;
use crate::reply::Reply;
use crate::settings::Mode;

#[derive(Debug)]
enum BodyState {
    /// The envelope is being answered.
    Pending,
    /// The caller is streaming the message.
    Data(DotStuffer),
    Bdat(BdatFramer),
    /// The message has been sent; final replies are due.
    Sent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MailState {
    Pending,
    Accepted,
    Refused,
}

/// The state of one transaction.
#[derive(Debug)]
pub(super) struct Transaction {
    recipients: Vec<ForwardPath>,
    /// RCPT lines not yet sent (without pipelining they go one reply at a time).
    rcpt_commands: Vec<Vec<u8>>,
    statuses: Vec<Option<RecipientStatus>>,
    /// Recipients accepted at RCPT, in RCPT order: the order of LMTP's final replies.
    accepted: Vec<usize>,
    /// LMTP final replies received.
    final_replies: usize,
    mail: MailState,
    pub(super) pipelined: bool,
    bdat: bool,
    binary: bool,
    body: BodyState,
    /// A BDAT chunk before the last was refused: the server dropped the transaction.
    body_refused: bool,
    /// The end of data was answered: the server's transaction is closed.
    ended: bool,
    /// RSET sent to close the server's transaction.
    resetting: bool,
}

impl Transaction {
    pub(super) fn body_sent(&self) -> bool {
        matches!(self.body, BodyState::Sent)
    }

    fn body_open(&self) -> bool {
        matches!(self.body, BodyState::Data(_) | BodyState::Bdat(_))
    }

    /// What the transaction is doing when no reply is in flight.
    pub(super) fn idle_stage(&self) -> Stage {
        match self.body {
            BodyState::Pending => Stage::Mail,
            BodyState::Data(_) | BodyState::Bdat(_) => Stage::Body,
            BodyState::Sent => Stage::EndOfData,
        }
    }

    fn mail_accepted(&self) -> bool {
        self.mail == MailState::Accepted
    }

    /// Fails every undecided recipient accepted at RCPT with `reply`.
    fn fail_accepted(&mut self, stage: Stage, reply: &Reply) {
        for &index in &self.accepted {
            if let Some(status @ None) = self.statuses.get_mut(index) {
                *status = Some(RecipientStatus::from_reply(stage, reply));
            }
        }
    }

    /// The results in envelope order; `undecided` for recipients without a final word.
    pub(super) fn into_results(self, undecided: &RecipientStatus) -> Vec<RecipientResult> {
        self.recipients
            .into_iter()
            .zip(self.statuses)
            .map(|(recipient, status)| RecipientResult {
                recipient,
                status: status.unwrap_or_else(|| undecided.clone()),
            })
            .collect()
    }
}

impl ClientSession {
    /// Starts a transaction: MAIL, then RCPT for each recipient, then DATA; all in one write
    /// with PIPELINING, else one reply at a time. [`ClientEvent::SendBody`] follows if any
    /// recipient was accepted, and [`ClientEvent::Delivered`] in any case. Nothing is sent
    /// if the envelope is refused.
    pub fn start(&mut self, envelope: Envelope) -> Result<(), StartError> {
        if !self.is_ready() {
            return Err(StartError::NotReady);
        }
        let caps = self.capabilities.as_ref().ok_or(StartError::NotReady)?;
        let pipelined = self.settings.pipelining && caps.pipelining;
        // BDAT only with PIPELINING: otherwise each chunk would wait for its reply, and the
        // caller streams the body without reading.
        let bdat_possible = pipelined && caps.chunking;
        let commands = envelope::commands(&envelope, caps, bdat_possible)?;
        let binary = envelope.params.body == Some(Body::BinaryMime);
        let bdat = binary || (bdat_possible && self.settings.chunking);

        let count = envelope.recipients.len();
        let mut transaction = Transaction {
            recipients: envelope.recipients.into_iter().map(|r| r.path).collect(),
            rcpt_commands: commands.rcpts,
            statuses: vec![None; count],
            accepted: Vec::new(),
            final_replies: 0,
            mail: MailState::Pending,
            pipelined,
            bdat,
            binary,
            body: BodyState::Pending,
            body_refused: false,
            ended: false,
            resetting: false,
        };
        self.send(&commands.mail, Expect::Mail);
        if pipelined {
            for (index, rcpt) in std::mem::take(&mut transaction.rcpt_commands)
                .into_iter()
                .enumerate()
            {
                self.send(&rcpt, Expect::Rcpt(index));
            }
            if !bdat {
                self.send(b"DATA\r\n", Expect::Data);
            }
        }
        self.phase = Phase::Transaction(Box::new(transaction));
        Ok(())
    }

    /// Sends the next piece of the message, after [`ClientEvent::SendBody`]. Pieces may be
    /// cut anywhere; write [`output`](Self::output) after each to keep memory flat.
    pub fn send_body(&mut self, chunk: &[u8]) -> Result<(), UsageError> {
        let Phase::Transaction(transaction) = &mut self.phase else {
            return Err(UsageError::NotSendingBody);
        };
        match &mut transaction.body {
            BodyState::Data(stuffer) => stuffer.push(chunk, &mut self.output),
            BodyState::Bdat(framer) => {
                for _ in 0..framer.push(chunk, &mut self.output) {
                    self.in_flight.push_back(Expect::BdatChunk);
                }
            }
            BodyState::Pending | BodyState::Sent => return Err(UsageError::NotSendingBody),
        }
        Ok(())
    }

    /// Ends the message (`.` or `BDAT n LAST`); the final replies lead to
    /// [`ClientEvent::Delivered`].
    pub fn finish_body(&mut self) -> Result<(), UsageError> {
        let Phase::Transaction(transaction) = &mut self.phase else {
            return Err(UsageError::NotSendingBody);
        };
        match &mut transaction.body {
            BodyState::Data(stuffer) => stuffer.finish(&mut self.output),
            BodyState::Bdat(framer) => framer.finish(&mut self.output),
            BodyState::Pending | BodyState::Sent => return Err(UsageError::NotSendingBody),
        }
        transaction.body = BodyState::Sent;
        let finals = match self.settings.mode {
            Mode::Smtp => 1,
            Mode::Lmtp => transaction.accepted.len(),
        };
        for _ in 0..finals {
            self.in_flight.push_back(Expect::EndOfData);
        }
        Ok(())
    }

    /// A reply to MAIL, RCPT, DATA, a BDAT chunk or the end of data.
    pub(super) fn on_transaction_reply(&mut self, expect: Expect, reply: Reply) {
        let Phase::Transaction(mut transaction) = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            // Transaction replies are only expected while a transaction is open.
            self.fail(ProtocolError::Unsolicited { code: reply.code }.into());
            return;
        };
        match expect {
            Expect::Mail if reply.is_success() => {
                transaction.mail = MailState::Accepted;
                if !transaction.pipelined {
                    self.send_next_rcpt(&mut transaction, 0);
                }
            }
            Expect::Mail => {
                // The RCPT replies that follow (when pipelined) only say "no transaction".
                transaction.mail = MailState::Refused;
                for status in &mut transaction.statuses {
                    *status = Some(RecipientStatus::from_reply(Stage::Mail, &reply));
                }
            }
            Expect::Rcpt(index) => {
                if transaction.mail_accepted() {
                    if reply.is_success() {
                        transaction.accepted.push(index);
                    } else if let Some(status) = transaction.statuses.get_mut(index) {
                        *status = Some(RecipientStatus::from_reply(Stage::Rcpt, &reply));
                    }
                }
                let last = index + 1 >= transaction.recipients.len();
                if !transaction.pipelined && !last && transaction.mail_accepted() {
                    self.send_next_rcpt(&mut transaction, index + 1);
                } else if last && (!transaction.pipelined || transaction.bdat) {
                    self.after_recipients(&mut transaction);
                }
            }
            Expect::Data if reply.is_intermediate() => {
                if transaction.mail_accepted() && !transaction.accepted.is_empty() {
                    transaction.body = BodyState::Data(DotStuffer::new());
                    self.events.push_back(ClientEvent::SendBody);
                } else {
                    // RFC 2920 3.1: a 354 although nothing was accepted gets an empty message.
                    self.send(b".\r\n", Expect::LoneDot);
                }
            }
            Expect::Data => transaction.fail_accepted(Stage::Data, &reply),
            Expect::LoneDot => transaction.ended = true,
            Expect::BdatChunk => {
                if !reply.is_success() && !transaction.body_refused {
                    transaction.body_refused = true;
                    transaction.fail_accepted(Stage::Body, &reply);
                }
            }
            Expect::EndOfData => self.on_final_reply(&mut transaction, &reply),
            Expect::Greeting
            | Expect::Hello(_)
            | Expect::StartTls
            | Expect::Rset
            | Expect::Quit => {}
        }
        self.phase = Phase::Transaction(transaction);
        self.settle();
    }

    fn send_next_rcpt(&mut self, transaction: &mut Transaction, index: usize) {
        if let Some(rcpt) = transaction.rcpt_commands.get_mut(index) {
            let rcpt = std::mem::take(rcpt);
            self.send(&rcpt, Expect::Rcpt(index));
        }
    }

    /// Every RCPT is answered and DATA was not pipelined: send the body or give up.
    fn after_recipients(&mut self, transaction: &mut Transaction) {
        if !transaction.mail_accepted() || transaction.accepted.is_empty() {
            return;
        }
        if transaction.bdat {
            let size = self.settings.bdat_chunk_size;
            transaction.body = BodyState::Bdat(if transaction.binary {
                BdatFramer::binary(size)
            } else {
                BdatFramer::new(size)
            });
            self.events.push_back(ClientEvent::SendBody);
        } else {
            self.send(b"DATA\r\n", Expect::Data);
        }
    }

    fn on_final_reply(&mut self, transaction: &mut Transaction, reply: &Reply) {
        if transaction.body_refused {
            // The server dropped the transaction at the refused chunk, so BDAT LAST gets a
            // single "no transaction" reply even in LMTP.
            while self.in_flight.front() == Some(&Expect::EndOfData) {
                self.in_flight.pop_front();
            }
            return;
        }
        match self.settings.mode {
            Mode::Smtp => {
                for &index in &transaction.accepted {
                    if let Some(status) = transaction.statuses.get_mut(index) {
                        *status = Some(RecipientStatus::from_reply(Stage::EndOfData, reply));
                    }
                }
                transaction.ended = true;
            }
            Mode::Lmtp => {
                let index = transaction.accepted.get(transaction.final_replies).copied();
                if let Some(status) = index.and_then(|i| transaction.statuses.get_mut(i)) {
                    *status = Some(RecipientStatus::from_reply(Stage::EndOfData, reply));
                }
                transaction.final_replies += 1;
                transaction.ended = transaction.final_replies >= transaction.accepted.len();
            }
        }
    }

    /// Once nothing more can come for the transaction: RSET if the server's transaction is
    /// still open (MAIL accepted, no end of data), then the results.
    fn settle(&mut self) {
        let Phase::Transaction(transaction) = &mut self.phase else {
            return;
        };
        let waiting = self.in_flight.iter().any(|e| e.in_transaction());
        if waiting || transaction.body_open() || transaction.resetting {
            return;
        }
        if transaction.mail_accepted() && !transaction.ended && !self.quit_requested {
            transaction.resetting = true;
            self.send(b"RSET\r\n", Expect::Rset);
            return;
        }
        self.complete_transaction();
    }

    /// Reports the results; the session is idle again, or quits if asked to.
    pub(super) fn complete_transaction(&mut self) {
        let Phase::Transaction(transaction) = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return;
        };
        // Every path through the replies decides every recipient; should one be missed, it is
        // retried rather than lost.
        let undecided = RecipientStatus::TempFailed(Failure::Connection {
            stage: Stage::EndOfData,
            error: ClientError::Protocol(ProtocolError::Unsolicited { code: 0 }),
        });
        self.events
            .push_back(ClientEvent::Delivered(transaction.into_results(&undecided)));
        if self.quit_requested {
            if !self.in_flight.contains(&Expect::Quit) {
                self.send(b"QUIT\r\n", Expect::Quit);
            }
            self.phase = Phase::Quitting;
        }
    }
}
