//! Shared test driver: a policy that answers every event the way a small server would, and
//! collects replies, messages and events.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtp::{Event, Mode, Reply, ServerSession};

/// Everything a session produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes written to the client.
    pub output: Vec<u8>,
    /// Completed and accepted messages.
    pub messages: Vec<Vec<u8>>,
    /// Events, with chunk contents merged away (chunking is not part of the meaning).
    pub events: Vec<String>,
}

/// Answers events like a test server: rejects recipients named `unknown` and routing tricks,
/// LMTP recipients named `full` are over quota, AUTH succeeds with `dGVzdA==` (`test`).
#[derive(Debug, Default)]
pub struct Driver {
    pub outcome: Outcome,
    current: Vec<u8>,
}

impl Driver {
    pub fn drain(&mut self, session: &mut ServerSession) {
        while let Some(event) = session.next_event() {
            self.answer(session, &event);
            match event {
                Event::DataChunk(bytes) => self.current.extend_from_slice(&bytes),
                other => self.outcome.events.push(format!("{other:?}")),
            }
            assert!(session.buffered() <= 1 << 20);
        }
        self.outcome.output.extend(session.output());
    }

    fn answer(&mut self, session: &mut ServerSession, event: &Event) {
        let result = match event {
            Event::Rcpt { to, flags, .. } => {
                let local = to
                    .mailbox()
                    .map(|m| m.local_part.clone())
                    .unwrap_or_default();
                if flags.any() {
                    session.reply(Reply::relay_denied())
                } else if local == "unknown" {
                    session.reply(Reply::unknown_user())
                } else {
                    session.accept()
                }
            }
            Event::DataStart => {
                self.current.clear();
                return;
            }
            Event::DataEnd { size } => {
                let message = std::mem::take(&mut self.current);
                assert_eq!(*size, message.len() as u64);
                self.outcome.messages.push(message);
                if session.settings().mode == Mode::Lmtp {
                    let replies = session
                        .recipients()
                        .iter()
                        .map(|r| match r.path.mailbox() {
                            Some(m) if m.local_part == "full" => Reply::quota_exceeded(),
                            _ => Reply::ok_delivered(),
                        })
                        .collect();
                    session.reply_per_recipient(replies)
                } else {
                    session.reply(Reply::ok_queued("TEST"))
                }
            }
            Event::DataAborted(_) => {
                self.current.clear();
                return;
            }
            Event::Auth { initial: None, .. } => session.reply(Reply::auth_challenge("")),
            Event::Auth {
                initial: Some(secret),
                ..
            }
            | Event::AuthResponse(secret) => {
                if secret.expose() == "dGVzdA==" {
                    session.accept()
                } else {
                    session.reply(Reply::auth_failed())
                }
            }
            other if other.needs_reply() => session.accept(),
            _ => return,
        };
        result.unwrap();
        assert!(!session.awaiting_reply());
    }
}

/// Feeds `input` in pieces cut at `cuts`, draining after each piece.
pub fn run_pieces(session: &mut ServerSession, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut driver = Driver::default();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        session.receive(&input[start..cut]);
        driver.drain(session);
        start = cut;
    }
    driver.outcome
}
