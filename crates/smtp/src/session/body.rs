//! The message body: DATA through the dot decoder, BDAT chunks by exact count, the size
//! limit, and the end-of-data verdict.

use super::{Awaiting, BodyCommand, Phase, ServerSession};
use crate::command::HelloVerb;
use crate::data::DotDecoder;
use crate::event::{DataAbort, Event, MAX_CHUNK};
use crate::params::Body;
use crate::reply::Reply;
use crate::settings::{BareLineEndsInData, Mode};

impl ServerSession {
    /// Why a DATA or BDAT cannot start a body now.
    pub(super) fn body_refusal(&self, command: BodyCommand) -> Option<Reply> {
        let Some(transaction) = &self.transaction else {
            return Some(if self.hello.is_none() {
                Reply::need_hello(self.settings.mode)
            } else {
                Reply::need_mail()
            });
        };
        if transaction.recipients.is_empty() {
            return Some(match self.settings.mode {
                Mode::Smtp => Reply::no_valid_recipients(),
                Mode::Lmtp => Reply::need_rcpt(),
            });
        }
        match (command, transaction.body) {
            (BodyCommand::Data, Some(BodyCommand::Bdat)) => Some(Reply::bad_sequence()),
            (BodyCommand::Data, _) if transaction.params.body == Some(Body::BinaryMime) => {
                Some(Reply::binarymime_needs_bdat())
            }
            _ => None,
        }
    }

    pub(super) fn data(&mut self) -> Option<Event> {
        if let Some(reply) = self.body_refusal(BodyCommand::Data) {
            self.fail(&reply);
            return None;
        }
        if let Some(transaction) = &mut self.transaction {
            transaction.body = Some(BodyCommand::Data);
        }
        self.send(&Reply::start_data());
        self.phase = Phase::Data(DotDecoder::new());
        Some(Event::DataStart)
    }

    pub(super) fn bdat(&mut self, size: u64, last: bool) -> Option<Event> {
        // Whatever the verdict, the next `size` octets are chunk data, never commands.
        let refusal = if !self.settings.extensions.chunking {
            Some(Reply::not_implemented())
        } else if !self.hello.is_some_and(HelloVerb::is_extended) {
            Some(Reply::bad_sequence())
        } else {
            self.body_refusal(BodyCommand::Bdat)
        };
        let deliver = refusal.is_none();
        if let Some(reply) = refusal {
            self.fail(&reply);
        }
        if matches!(self.phase, Phase::Closed) {
            return None;
        }
        self.phase = Phase::Chunk {
            remaining: size,
            size,
            last,
            deliver,
        };
        let transaction = self.transaction.as_mut().filter(|_| deliver)?;
        let first = transaction.body.is_none();
        transaction.body = Some(BodyCommand::Bdat);
        first.then_some(Event::DataStart)
    }

    /// Decodes buffered DATA bytes.
    pub(super) fn step_data(&mut self) -> Option<Event> {
        let Phase::Data(decoder) = &mut self.phase else {
            return None;
        };
        let pending = self.input.pending();
        let pending = pending.get(..MAX_CHUNK).unwrap_or(pending);
        let mut chunk = Vec::with_capacity(pending.len());
        let (used, ended) = decoder.decode(pending, &mut chunk);
        let bare_line_end = decoder.saw_bare_line_end();
        self.input.consume(used);
        if ended {
            self.phase = Phase::Command;
            self.finishing = true;
            if let Some(transaction) = &mut self.transaction {
                transaction.bare_line_end = bare_line_end;
            }
        }
        self.account(chunk)
    }

    /// Reads BDAT chunk bytes; `None` when more input is needed.
    pub(super) fn step_chunk(&mut self) -> Option<Option<Event>> {
        let Phase::Chunk {
            remaining,
            size,
            last,
            deliver,
        } = &mut self.phase
        else {
            return Some(None);
        };
        if *remaining > 0 {
            let pending = self.input.pending();
            let take = usize::try_from(*remaining)
                .unwrap_or(usize::MAX)
                .min(pending.len())
                .min(MAX_CHUNK);
            if take == 0 {
                return None;
            }
            let chunk = pending.get(..take).unwrap_or_default().to_vec();
            *remaining -= u64::try_from(take).unwrap_or(u64::MAX).min(*remaining);
            let deliver = *deliver;
            self.input.consume(take);
            return Some(if deliver { self.account(chunk) } else { None });
        }
        let (size, last, deliver) = (*size, *last, *deliver);
        self.phase = Phase::Command;
        if !deliver {
            return Some(None);
        }
        if last {
            return Some(Some(self.finish_message()));
        }
        if self.transaction.as_ref().is_some_and(|t| t.oversize) {
            self.send(&Reply::size_exceeded());
            self.transaction = None;
            return Some(Some(Event::DataAborted(DataAbort::TooLarge)));
        }
        self.send(&Reply::chunk_received(size));
        Some(None)
    }

    /// Counts message bytes against the size limit; nothing is passed on past it.
    pub(super) fn account(&mut self, chunk: Vec<u8>) -> Option<Event> {
        let transaction = self.transaction.as_mut()?;
        if transaction.oversize || chunk.is_empty() {
            return None;
        }
        let size = transaction
            .size
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        transaction.size = size;
        if self
            .settings
            .max_message_size
            .is_some_and(|limit| size > limit)
        {
            transaction.oversize = true;
            return None;
        }
        Some(Event::DataChunk(chunk))
    }

    /// End of DATA or BDAT LAST: refuse, or ask the caller.
    pub(super) fn finish_message(&mut self) -> Event {
        let (size, oversize, bare_line_end) = self
            .transaction
            .as_ref()
            .map_or((0, false, false), |t| (t.size, t.oversize, t.bare_line_end));
        let reject_bare =
            bare_line_end && self.settings.bare_line_ends_in_data == BareLineEndsInData::Reject;
        let abort = if oversize {
            (Reply::size_exceeded(), DataAbort::TooLarge)
        } else if reject_bare {
            (Reply::bare_line_end_in_data(), DataAbort::BareLineEnd)
        } else {
            self.awaiting = Some(Awaiting::DataEnd);
            return Event::DataEnd { size };
        };
        for _ in 0..self.end_of_data_replies() {
            self.send(&abort.0);
        }
        self.transaction = None;
        Event::DataAborted(abort.1)
    }
}
